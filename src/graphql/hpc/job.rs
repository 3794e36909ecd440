//! Jobs, their states and the arguments every job list takes.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, ExprTrait as _};

use super::by;
use super::cluster::Cluster;
use super::task::{Task, TaskFilter, TaskOrder};
use super::tenancy::SubProject;
use crate::domain::usage::JobState as DomainState;
use crate::entity::{clusters, jobs, sub_projects, users};
use crate::graphql::context::ContextExt as _;
use crate::graphql::filter::{EnumFilter, IdFilter, Instant, ScalarFilter, Stored, column};
use crate::graphql::id::GlobalId;
use crate::graphql::list::{ListArgs, list_inputs};
use crate::graphql::loader::{BaseFn, ById, Conn, ListSpec, connection};
use crate::graphql::page::{Kind, SortKey};
use crate::graphql::usage::{Level, Period, UsageAmount, total_usage};
use crate::service::read::lists;

/// A job's state, as HEAppE names it.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::usage::JobState")]
pub(crate) enum JobState {
    /// Being configured.
    Configuring,
    /// Submitted to HEAppE.
    Submitted,
    /// Waiting in the scheduler's queue.
    Queued,
    /// Running.
    Running,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Cancelled.
    Canceled,
    /// Waiting for a service account.
    WaitingForServiceAccount,
    /// Deleted.
    Deleted,
}

pub(crate) fn state_of(value: i16) -> Option<JobState> {
    DomainState::from_value(i64::from(value)).map(JobState::from)
}

fn state_value(state: JobState) -> i16 {
    DomainState::from(state).value()
}

/// Conditions on a job (or task) state.
pub(crate) type JobStateFilter = EnumFilter<JobState>;

impl Stored for JobState {
    fn stored(self) -> sea_orm::Value {
        state_value(self).into()
    }
}

list_inputs! {
    /// Which jobs a list keeps; all given conditions must hold.
    filter JobFilter {
        /// The scheduler's job id.
        scheduler_job_id: ScalarFilter<String> => "scheduler_job_id",
        /// The job's name.
        name: ScalarFilter<String> => "name",
        /// The job's state.
        state: JobStateFilter => "state",
        /// When it was submitted.
        submit_time: ScalarFilter<Instant> => "submit_time",
        /// When it started.
        start_time: ScalarFilter<Instant> => "start_time",
        /// When it ended.
        end_time: ScalarFilter<Instant> => "end_time",
        /// Its sub-project.
        sub_project: IdFilter => ("sub_project_id", "SubProject"),
        /// The scheduler's account string.
        account: ScalarFilter<String> => "account",
        /// Whether it has reached a final state.
        is_final: bool => "is_final",
    }
    /// What jobs can be sorted by.
    order JobOrderField {
        /// When it was submitted.
        SubmitTime => SortKey::asc("submit_time", Kind::Time),
        /// When it was created.
        CreationTime => SortKey::asc("creation_time", Kind::Time),
        /// When it started (jobs that have not started first).
        StartTime => SortKey::nullable("start_time", Kind::Time),
        /// When it ended (jobs that have not ended first).
        EndTime => SortKey::nullable("end_time", Kind::Time),
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// Its state's number.
        State => SortKey::asc("state", Kind::Int),
        /// The scheduler's job id (as text).
        SchedulerJobId => SortKey::asc("scheduler_job_id", Kind::Text),
    }
    /// One sort key of a job list; ties are broken by id.
    key JobOrder
}

/// The arguments of every job list: the shorthands and the typed ones.
#[derive(Clone, Debug)]
pub(crate) struct JobArgs {
    pub(crate) list: ListArgs<JobFilter, JobOrder>,
    pub(crate) period: Option<Period>,
    pub(crate) sub_projects: Option<Vec<ID>>,
    pub(crate) states: Option<Vec<JobState>>,
}

impl JobArgs {
    /// The condition of the shorthand arguments.
    fn condition(&self) -> async_graphql::Result<Condition> {
        let mut all = Condition::all();
        if let Some(period) = &self.period {
            let (from, to) = period.instants()?;
            all = all
                .add(column("start_time").gte(from))
                .add(column("start_time").lt(to));
        }
        if let Some(ids) = &self.sub_projects {
            let filter = IdFilter::one_of(ids.clone());
            all = all.add(filter.condition("sub_project_id", "SubProject")?);
        }
        if let Some(states) = &self.states {
            all = all.add(JobStateFilter::one_of(states.clone()).condition("state")?);
        }
        Ok(all)
    }

    /// The list spec of jobs under `relation`, built by `base` (newest
    /// submitted first unless `orderBy` says otherwise).
    pub(crate) fn spec(
        &self,
        relation: &str,
        base: BaseFn,
    ) -> async_graphql::Result<Arc<ListSpec>> {
        self.list.spec_with(
            relation,
            "Job",
            base,
            vec![SortKey::asc("submit_time", Kind::Time).desc()],
            self.condition()?,
            &format!(
                "{:?}/{:?}/{:?}",
                self.period, self.sub_projects, self.states
            ),
        )
    }
}

/// A job: one submission to a cluster's scheduler, made of tasks.
pub(crate) struct Job(pub(crate) jobs::Model);

/// A job: one submission to a cluster's scheduler, made of tasks.
#[Object]
impl Job {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Job", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// The scheduler's job id (unique per cluster together with the submit time).
    async fn scheduler_job_id(&self) -> &str {
        &self.0.scheduler_job_id
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its state.
    async fn state(&self) -> Option<JobState> {
        state_of(self.0.state)
    }

    /// Whether it has reached a final state (then only a correction changes it).
    async fn is_final(&self) -> bool {
        self.0.is_final
    }

    /// The scheduler's account string.
    async fn account(&self) -> Option<&str> {
        self.0.account.as_deref()
    }

    /// When it was submitted.
    async fn submit_time(&self) -> DateTime<Utc> {
        self.0.submit_time
    }

    /// When it was created.
    async fn creation_time(&self) -> DateTime<Utc> {
        self.0.creation_time
    }

    /// When it started.
    async fn start_time(&self) -> Option<DateTime<Utc>> {
        self.0.start_time
    }

    /// When it ended.
    async fn end_time(&self) -> Option<DateTime<Utc>> {
        self.0.end_time
    }

    /// The cluster it ran on.
    async fn cluster(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Cluster>> {
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<clusters::Entity>::new(self.0.cluster_id))
            .await?;
        Ok(row.map(|row| Cluster {
            row,
            project: Some(self.0.project_id),
        }))
    }

    /// The project it is accounted to.
    async fn project(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::graphql::object::Project>> {
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<crate::entity::projects::Entity>::new(
                self.0.project_id,
            ))
            .await?;
        Ok(row.map(crate::graphql::object::Project))
    }

    /// Its sub-project, if any.
    async fn sub_project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SubProject>> {
        let Some(id) = self.0.sub_project_id else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<sub_projects::Entity>::new(id))
            .await?;
        Ok(row.map(SubProject))
    }

    /// The submitter's username, when they are a Tally user.
    async fn submitter(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let Some(id) = self.0.submitter_id else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<users::Entity>::new(id))
            .await?;
        Ok(row.map(|u| u.username))
    }

    /// Its tasks; by ordinal unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the tasks meet (all must hold).")] filter: Option<TaskFilter>,
        #[graphql(desc = "Sort keys (default: by ordinal); ties by id.")] order_by: Option<
            Vec<TaskOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Task>> {
        let base = lists::job_tasks();
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec("Job.tasks", "Task", base, by("ordinal", Kind::Int))?;
        // The job's project as context: the tasks' select names it.
        connection(ctx, spec, (self.0.id, self.0.project_id), Task).await
    }

    /// The job's usage: the sum of its tasks' usage, one amount per unit.
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
    async fn total_usage(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UsageAmount>> {
        let period = Period::everything();
        total_usage(ctx, Level::Job, self.0.id, period).await
    }
}
