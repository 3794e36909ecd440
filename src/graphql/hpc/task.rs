//! Tasks: the steps of a job, each priced by a formula version.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::cluster::NodeType;
use super::formula::Formula;
use super::job::{JobState, JobStateFilter, state_of};
use crate::entity::{formulas, node_types, task_parameters, tasks};
use crate::graphql::context::ContextExt as _;
use crate::graphql::filter::{EnumFilter, IdFilter, Instant, ScalarFilter, Stored};
use crate::graphql::id::GlobalId;
use crate::graphql::list::list_inputs;
use crate::graphql::loader::{ById, gql};
use crate::graphql::page::{Kind, SortKey};
use crate::graphql::usage::UsageAmount;
use crate::service::read::details;

list_inputs! {
    /// Which tasks a list keeps; all given conditions must hold.
    filter TaskFilter {
        /// Its position in the job, from 0.
        ordinal: ScalarFilter<i64> => "ordinal",
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// Its state.
        state: JobStateFilter => "state",
        /// How its usage stands.
        usage_status: EnumFilter<UsageStatus> => "usage_status",
        /// The node type it ran on.
        node_type: IdFilter => ("node_type_id", "NodeType"),
        /// The formula version that priced it.
        formula: IdFilter => ("formula_id", "Formula"),
        /// When it started.
        start_time: ScalarFilter<Instant> => "start_time",
        /// When it ended.
        end_time: ScalarFilter<Instant> => "end_time",
        /// Allocated cores.
        allocated_cores: ScalarFilter<i64> => "allocated_cores",
        /// Allocated nodes.
        allocated_nodes: ScalarFilter<i64> => "allocated_nodes",
        /// Allocated GPUs.
        allocated_gpus: ScalarFilter<i64> => "allocated_gpus",
        /// Allocated wall time, seconds.
        allocated_seconds: ScalarFilter<i64> => "allocated_seconds",
    }
    /// What tasks can be sorted by (empty values sort first).
    order TaskOrderField {
        /// Its position in the job.
        Ordinal => SortKey::asc("ordinal", Kind::Int),
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// Its state's number.
        State => SortKey::asc("state", Kind::Int),
        /// When it started.
        StartTime => SortKey::nullable("start_time", Kind::Time),
        /// When it ended.
        EndTime => SortKey::nullable("end_time", Kind::Time),
        /// Allocated cores.
        AllocatedCores => SortKey::nullable("allocated_cores", Kind::Int),
        /// Allocated wall time.
        AllocatedSeconds => SortKey::nullable("allocated_seconds", Kind::Int),
        /// Its usage (in its formula's unit: compare tasks of one unit).
        Usage => SortKey::nullable("usage_milli", Kind::Int),
    }
    /// One sort key of a task list; ties are broken by id.
    key TaskOrder
}

impl Stored for UsageStatus {
    fn stored(self) -> sea_orm::Value {
        self.as_stored().into()
    }
}

/// How a task's usage stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UsageStatus {
    /// The task has not started: nothing to compute yet.
    Pending,
    /// No formula was valid at the task's start.
    NoFormula,
    /// The formula failed (see `usageError`).
    Error,
    /// Computed.
    Computed,
}

impl UsageStatus {
    /// The text stored in `tasks.usage_status`.
    const fn as_stored(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::NoFormula => "no_formula",
            Self::Error => "error",
            Self::Computed => "computed",
        }
    }
}

/// A scheduler parameter of a task.
#[derive(SimpleObject)]
pub(crate) struct TaskParameter {
    /// Its name, e.g. `NumNodes`, `cpu`.
    name: String,
    /// Its value as the scheduler gave it.
    value: String,
}

/// A task: one step of a job, on one node type; its usage is priced by the
/// formula valid at its start.
pub(crate) struct Task(pub(crate) tasks::Model);

/// A task: one step of a job, on one node type; its usage is priced by the
/// formula valid at its start.
#[Object]
impl Task {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Task", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// Its position in the job, from 0.
    async fn ordinal(&self) -> i32 {
        self.0.ordinal
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its state.
    async fn state(&self) -> Option<JobState> {
        state_of(self.0.state)
    }

    /// The scheduler's id of the task.
    async fn scheduler_job_id(&self) -> Option<&str> {
        self.0.scheduler_job_id.as_deref()
    }

    /// When it started.
    async fn start_time(&self) -> Option<DateTime<Utc>> {
        self.0.start_time
    }

    /// When it ended.
    async fn end_time(&self) -> Option<DateTime<Utc>> {
        self.0.end_time
    }

    /// Allocated cores.
    async fn allocated_cores(&self) -> Option<i32> {
        self.0.allocated_cores
    }

    /// Allocated nodes.
    async fn allocated_nodes(&self) -> Option<i32> {
        self.0.allocated_nodes
    }

    /// Allocated GPUs.
    async fn allocated_gpus(&self) -> Option<i32> {
        self.0.allocated_gpus
    }

    /// Allocated wall time, seconds.
    async fn allocated_seconds(&self) -> Option<i64> {
        self.0.allocated_seconds
    }

    /// Its usage in its formula's unit, when computed.
    async fn usage(&self) -> Option<UsageAmount> {
        match (self.0.usage_milli, &self.0.usage_unit) {
            (Some(milli), Some(unit)) => Some(UsageAmount::milli("hpc", unit, milli, 1)),
            _ => None,
        }
    }

    /// How its usage stands.
    async fn usage_status(&self) -> UsageStatus {
        match self.0.usage_status.as_str() {
            "computed" => UsageStatus::Computed,
            "no_formula" => UsageStatus::NoFormula,
            "error" => UsageStatus::Error,
            _ => UsageStatus::Pending,
        }
    }

    /// Why its usage could not be computed.
    async fn usage_error(&self) -> Option<&str> {
        self.0.usage_error.as_deref()
    }

    /// When its usage was last computed.
    async fn usage_computed_at(&self) -> Option<DateTime<Utc>> {
        self.0.usage_computed_at
    }

    /// The node type it ran on.
    async fn node_type(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<NodeType>> {
        let Some(id) = self.0.node_type_id else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<node_types::Entity>::new(id))
            .await?;
        Ok(row.map(|row| NodeType {
            row,
            project: Some(self.0.project_id),
        }))
    }

    /// The formula version that priced it.
    async fn formula(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Formula>> {
        let Some(id) = self.0.formula_id else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<formulas::Entity>::new(id))
            .await?;
        Ok(row.map(Formula))
    }

    /// The scheduler parameters (the formula's variables), by name.
    async fn parameters(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TaskParameter>> {
        let rows = ctx
            .request()?
            .loaders
            .load_one(ParametersOf(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|p| TaskParameter {
                name: p.name,
                value: p.value,
            })
            .collect())
    }
}

/// The parameters of a task.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ParametersOf(pub(crate) i64);

impl async_graphql::dataloader::Loader<ParametersOf> for crate::graphql::loader::Db {
    type Value = Vec<task_parameters::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ParametersOf],
    ) -> Result<std::collections::HashMap<ParametersOf, Self::Value>, Self::Error> {
        let mut answer: std::collections::HashMap<ParametersOf, Self::Value> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        let rows = details::task_parameters(&self.db, &self.scope, keys.iter().map(|k| k.0))
            .await
            .map_err(gql)?;
        for row in rows {
            answer
                .entry(ParametersOf(row.task_id))
                .or_default()
                .push(row);
        }
        Ok(answer)
    }
}
