//! HPC objects: clusters, node types, jobs, tasks, formulas, and the
//! sub-projects and groups of a project.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait as _, SelectStatement};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, JoinType, QueryFilter as _, QuerySelect as _,
    QueryTrait as _, RelationTrait as _,
};

use super::context::ContextExt as _;
use super::filter::{Direction, IdFilter, ScalarFilter, column, combine};
use super::id::GlobalId;
use super::loader::{BaseFn, ById, Conn, ListSpec, connection, gql};
use super::page::{Kind, PageArgs, SortKey};
use super::usage::{Level, Period, UsageAmount, total_usage};
use crate::auth::ProjectScope;
use crate::domain::usage::JobState as DomainState;
use crate::entity::{
    cluster_projects, clusters, formulas, jobs, node_types, sub_projects, task_parameters, tasks,
    user_groups, users,
};
use crate::error::Error;

/// The projects the caller may see.
pub(crate) fn scope(ctx: &Context<'_>) -> async_graphql::Result<ProjectScope> {
    Ok(ctx.principal()?.visible_projects())
}

/// `select` restricted to `scope` on `column`, as a base select.
fn scoped<E: sea_orm::EntityTrait>(
    scope: &ProjectScope,
    select: sea_orm::Select<E>,
    column: impl sea_orm::ColumnTrait,
) -> SelectStatement {
    scope.apply(select, column).into_query()
}

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

fn state_of(value: i16) -> Option<JobState> {
    DomainState::from_value(i64::from(value)).map(JobState::from)
}

fn state_value(state: JobState) -> i16 {
    DomainState::from(state).value()
}

/// Conditions on a job state.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct JobStateFilter {
    /// Is this state.
    pub(crate) eq: Option<JobState>,
    /// Is not this state.
    pub(crate) ne: Option<JobState>,
    /// Is one of these states.
    #[graphql(name = "in")]
    pub(crate) one_of: Option<Vec<JobState>>,
}

impl JobStateFilter {
    fn condition(&self) -> Condition {
        ScalarFilter::<i64> {
            eq: self.eq.map(|s| state_value(s).into()),
            ne: self.ne.map(|s| state_value(s).into()),
            one_of: self
                .one_of
                .as_ref()
                .map(|v| v.iter().map(|s| state_value(*s).into()).collect()),
            gt: None,
            gte: None,
            lt: None,
            lte: None,
        }
        .condition("state")
        .unwrap_or_else(|_| Condition::all().add(Expr::val(1).eq(0)))
    }
}

/// Which jobs a list keeps; all given conditions must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct JobFilter {
    /// The scheduler's job id.
    pub(crate) scheduler_job_id: Option<ScalarFilter<String>>,
    /// The job's name.
    pub(crate) name: Option<ScalarFilter<String>>,
    /// The job's state.
    pub(crate) state: Option<JobStateFilter>,
    /// When it was submitted.
    pub(crate) submit_time: Option<ScalarFilter<DateTime<Utc>>>,
    /// When it started.
    pub(crate) start_time: Option<ScalarFilter<DateTime<Utc>>>,
    /// When it ended.
    pub(crate) end_time: Option<ScalarFilter<DateTime<Utc>>>,
    /// Its sub-project.
    pub(crate) sub_project: Option<IdFilter>,
    /// Whether it has reached a final state.
    pub(crate) is_final: Option<bool>,
    /// All of these hold.
    pub(crate) and: Option<Vec<JobFilter>>,
    /// Any of these holds.
    pub(crate) or: Option<Vec<JobFilter>>,
    /// This does not hold.
    pub(crate) not: Option<Box<JobFilter>>,
}

impl JobFilter {
    fn condition(&self) -> async_graphql::Result<Condition> {
        let mut own = Condition::all();
        if let Some(f) = &self.scheduler_job_id {
            own = own.add(f.condition("scheduler_job_id")?);
        }
        if let Some(f) = &self.name {
            own = own.add(f.condition("name")?);
        }
        if let Some(f) = &self.state {
            own = own.add(f.condition());
        }
        if let Some(f) = &self.submit_time {
            own = own.add(f.condition("submit_time")?);
        }
        if let Some(f) = &self.start_time {
            own = own.add(f.condition("start_time")?);
        }
        if let Some(f) = &self.end_time {
            own = own.add(f.condition("end_time")?);
        }
        if let Some(f) = &self.sub_project {
            own = own.add(f.condition("sub_project_id", "SubProject")?);
        }
        if let Some(is_final) = self.is_final {
            own = own.add(column("is_final").eq(is_final));
        }
        combine(
            own,
            self.and.as_ref(),
            self.or.as_ref(),
            self.not.as_deref(),
            Self::condition,
        )
    }
}

/// What jobs can be sorted by.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobOrderField {
    /// When it was submitted.
    SubmitTime,
    /// When it was created.
    CreationTime,
    /// Its name.
    Name,
    /// Its state's number.
    State,
    /// The scheduler's job id (as text).
    SchedulerJobId,
}

/// One sort key of a job list; ties are broken by id.
#[derive(InputObject, Clone, Copy, Debug)]
pub(crate) struct JobOrder {
    /// The field.
    pub(crate) field: JobOrderField,
    /// The direction (ascending unless given).
    #[graphql(default)]
    pub(crate) direction: Direction,
}

fn job_sort(order: Option<&Vec<JobOrder>>) -> async_graphql::Result<Vec<SortKey>> {
    let order = order.cloned().unwrap_or_else(|| {
        vec![JobOrder {
            field: JobOrderField::SubmitTime,
            direction: Direction::Desc,
        }]
    });
    if order.len() > 5 {
        return Err(gql(Error::BadRequest(
            "orderBy takes at most 5 fields".to_owned(),
        )));
    }
    Ok(order
        .iter()
        .map(|o| {
            let (column, kind) = match o.field {
                JobOrderField::SubmitTime => ("submit_time", Kind::Time),
                JobOrderField::CreationTime => ("creation_time", Kind::Time),
                JobOrderField::Name => ("name", Kind::Text),
                JobOrderField::State => ("state", Kind::Int),
                JobOrderField::SchedulerJobId => ("scheduler_job_id", Kind::Text),
            };
            SortKey {
                column,
                kind,
                descending: o.direction == Direction::Desc,
            }
        })
        .collect())
}

/// The arguments of every job list.
#[derive(Clone, Debug, Default)]
pub(crate) struct JobArgs {
    pub(crate) page: PageArgs,
    pub(crate) period: Option<Period>,
    pub(crate) sub_projects: Option<Vec<ID>>,
    pub(crate) states: Option<Vec<JobState>>,
    pub(crate) filter: Option<JobFilter>,
    pub(crate) order_by: Option<Vec<JobOrder>>,
}

impl JobArgs {
    fn condition(&self) -> async_graphql::Result<Condition> {
        let mut all = Condition::all();
        if let Some(period) = &self.period {
            let (from, to) = period.instants()?;
            all = all
                .add(column("start_time").gte(from))
                .add(column("start_time").lt(to));
        }
        if let Some(ids) = &self.sub_projects {
            all = all.add(
                IdFilter {
                    eq: None,
                    ne: None,
                    one_of: Some(ids.clone()),
                    is_set: None,
                }
                .condition("sub_project_id", "SubProject")?,
            );
        }
        if let Some(states) = &self.states {
            all = all.add(
                JobStateFilter {
                    eq: None,
                    ne: None,
                    one_of: Some(states.clone()),
                }
                .condition(),
            );
        }
        if let Some(filter) = &self.filter {
            all = all.add(filter.condition()?);
        }
        Ok(all)
    }

    /// The list spec of jobs under `relation`, built by `base`.
    pub(crate) fn spec(
        &self,
        relation: &str,
        base: BaseFn,
    ) -> async_graphql::Result<Arc<ListSpec>> {
        ListSpec::new(
            relation,
            &format!(
                "{:?}/{:?}/{:?}/{:?}/{:?}",
                self.period, self.sub_projects, self.states, self.filter, self.order_by
            ),
            "Job",
            base,
            self.condition()?,
            job_sort(self.order_by.as_ref())?,
            &self.page,
        )
    }
}

/// Adds `parent_ctx` to a select of jobs: the job's project when the parents
/// were reached through projects (`contexts`, then kept to those), else 0.
fn job_context(
    select: sea_orm::Select<jobs::Entity>,
    contexts: &[i64],
) -> sea_orm::Select<jobs::Entity> {
    if contexts.is_empty() {
        select.column_as(Expr::val(0_i64), "parent_ctx")
    } else {
        select
            .filter(jobs::Column::ProjectId.is_in(contexts.iter().copied()))
            .column_as(jobs::Column::ProjectId, "parent_ctx")
    }
}

/// Jobs of the projects in `scope`, their parent key being `parent`'s column.
fn jobs_base(scope: ProjectScope, parent: jobs::Column) -> BaseFn {
    Arc::new(move |parents: &[i64], contexts: &[i64]| {
        let select = jobs::Entity::find()
            .filter(parent.is_in(parents.iter().copied()))
            .column_as(parent, "parent_key");
        scoped(
            &scope,
            job_context(select, contexts),
            jobs::Column::ProjectId,
        )
    })
}

/// Jobs with a task on one of the parent node types.
fn node_type_jobs_base(scope: ProjectScope) -> BaseFn {
    Arc::new(move |parents: &[i64], contexts: &[i64]| {
        let select = jobs::Entity::find()
            .join(JoinType::InnerJoin, jobs::Relation::Tasks.def())
            .filter(tasks::Column::NodeTypeId.is_in(parents.iter().copied()))
            .column_as(tasks::Column::NodeTypeId, "parent_key")
            .distinct();
        scoped(
            &scope,
            job_context(select, contexts),
            jobs::Column::ProjectId,
        )
    })
}

/// The parent of a list under an object reached through `project` (if any),
/// and the relation name for the list spec (the two kinds never share a
/// statement).
fn parent(id: i64, project: Option<i64>, relation: &str) -> ((i64, i64), String) {
    match project {
        Some(project) => ((id, project), format!("{relation}@project")),
        None => ((id, 0), relation.to_owned()),
    }
}

/// A cluster: a machine that runs jobs for projects.
pub(crate) struct Cluster {
    pub(crate) row: clusters::Model,
    /// The project it was reached through: its lists show only that project.
    pub(crate) project: Option<i64>,
}

/// A cluster: a machine that runs jobs for projects.
#[Object]
impl Cluster {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Cluster", self.row.id)
    }

    /// Its unique name.
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// The scheduler, e.g. `slurm` or `pbs`.
    async fn scheduler(&self) -> Option<&str> {
        self.row.scheduler.as_deref()
    }

    /// Its node types (queues), by name.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn node_types(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<NodeType>> {
        let base: BaseFn = Arc::new(|parents: &[i64], _: &[i64]| {
            node_types::Entity::find()
                .filter(node_types::Column::ClusterId.is_in(parents.iter().copied()))
                .column_as(node_types::Column::ClusterId, "parent_key")
                .column_as(Expr::val(0_i64), "parent_ctx")
                .into_query()
        });
        let spec = ListSpec::new(
            "Cluster.nodeTypes",
            "",
            "NodeType",
            base,
            Condition::all(),
            vec![SortKey {
                column: "name",
                kind: Kind::Text,
                descending: false,
            }],
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        let project = self.project;
        connection(ctx, spec, (self.row.id, 0), |row| NodeType { row, project }).await
    }

    /// Jobs run on this cluster (only the projects the caller may see).
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Jobs that started in this period.")] period: Option<Period>,
        #[graphql(desc = "Jobs of these sub-projects.")] sub_projects: Option<Vec<ID>>,
        #[graphql(desc = "Jobs in these states.")] states: Option<Vec<JobState>>,
        #[graphql(desc = "Conditions the jobs meet (all must hold).")] filter: Option<JobFilter>,
        #[graphql(desc = "Sort keys (default: newest submitted first); ties by id.")]
        order_by: Option<Vec<JobOrder>>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Job>> {
        let args = JobArgs {
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
            period,
            sub_projects,
            states,
            filter,
            order_by,
        };
        let base = jobs_base(scope(ctx)?, jobs::Column::ClusterId);
        let (parent, relation) = parent(self.row.id, self.project, "Cluster.jobs");
        let spec = args.spec(&relation, base)?;
        connection(ctx, spec, parent, Job).await
    }

    /// Usage on this cluster over `period`, one amount per unit (only the
    /// projects the caller may see; only the project it was reached through).
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::Cluster(self.project), self.row.id, period).await
    }
}

/// A node type: one queue of a cluster, priced by its aggregation's formula.
pub(crate) struct NodeType {
    pub(crate) row: node_types::Model,
    pub(crate) project: Option<i64>,
}

/// A node type: one queue of a cluster, priced by its aggregation's formula.
#[Object]
impl NodeType {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("NodeType", self.row.id)
    }

    /// Its name, unique on its cluster.
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// The scheduler queue (partition).
    async fn queue(&self) -> &str {
        &self.row.queue
    }

    /// The quality of service, if the scheduler has one.
    async fn quality_of_service(&self) -> Option<&str> {
        self.row.quality_of_service.as_deref()
    }

    /// Cores per node.
    async fn cores_per_node(&self) -> i32 {
        self.row.cores_per_node
    }

    /// Number of nodes, if known.
    async fn node_count(&self) -> Option<i32> {
        self.row.node_count
    }

    /// The longest wall time a job may ask for, in seconds.
    async fn max_walltime_seconds(&self) -> Option<i64> {
        self.row.max_walltime_seconds
    }

    /// The cluster it belongs to.
    async fn cluster(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Cluster>> {
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<clusters::Entity>::new(self.row.cluster_id))
            .await?;
        Ok(row.map(|row| Cluster {
            row,
            project: self.project,
        }))
    }

    /// Jobs with a task on this node type (only the projects the caller may see).
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Jobs that started in this period.")] period: Option<Period>,
        #[graphql(desc = "Jobs of these sub-projects.")] sub_projects: Option<Vec<ID>>,
        #[graphql(desc = "Jobs in these states.")] states: Option<Vec<JobState>>,
        #[graphql(desc = "Conditions the jobs meet (all must hold).")] filter: Option<JobFilter>,
        #[graphql(desc = "Sort keys (default: newest submitted first); ties by id.")]
        order_by: Option<Vec<JobOrder>>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Job>> {
        let args = JobArgs {
            page: PageArgs {
                first,
                after,
                last,
                before,
            },
            period,
            sub_projects,
            states,
            filter,
            order_by,
        };
        let base = node_type_jobs_base(scope(ctx)?);
        let (parent, relation) = parent(self.row.id, self.project, "NodeType.jobs");
        let spec = args.spec(&relation, base)?;
        connection(ctx, spec, parent, Job).await
    }

    /// Usage on this node type over `period`, one amount per unit.
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::NodeType(self.project), self.row.id, period).await
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
    ) -> async_graphql::Result<Option<super::object::Project>> {
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<crate::entity::projects::Entity>::new(
                self.0.project_id,
            ))
            .await?;
        Ok(row.map(super::object::Project))
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

    /// Its tasks, by ordinal.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Task>> {
        let base: BaseFn = Arc::new(|parents: &[i64], _: &[i64]| {
            tasks::Entity::find()
                .filter(tasks::Column::JobId.is_in(parents.iter().copied()))
                .column_as(tasks::Column::JobId, "parent_key")
                .column_as(Expr::val(0_i64), "parent_ctx")
                .into_query()
        });
        let spec = ListSpec::new(
            "Job.tasks",
            "",
            "Task",
            base,
            Condition::all(),
            vec![SortKey {
                column: "ordinal",
                kind: Kind::Int,
                descending: false,
            }],
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (self.0.id, 0), Task).await
    }

    /// The job's usage: the sum of its tasks' usage, one amount per unit.
    async fn total_usage(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<UsageAmount>> {
        let period = Period::everything();
        total_usage(ctx, Level::Job, self.0.id, period).await
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
            (Some(milli), Some(unit)) => Some(UsageAmount::from_scaled(
                "hpc",
                unit,
                i128::from(milli),
                3,
                1,
            )),
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

impl async_graphql::dataloader::Loader<ParametersOf> for super::loader::Db {
    type Value = Vec<task_parameters::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ParametersOf],
    ) -> Result<std::collections::HashMap<ParametersOf, Self::Value>, Self::Error> {
        let mut answer: std::collections::HashMap<ParametersOf, Self::Value> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        let rows = task_parameters::Entity::find()
            .filter(task_parameters::Column::TaskId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc_name()
            .all(&self.db)
            .await
            .map_err(|e| gql(e.into()))?;
        for row in rows {
            answer
                .entry(ParametersOf(row.task_id))
                .or_default()
                .push(row);
        }
        Ok(answer)
    }
}

trait OrderByName {
    fn order_by_asc_name(self) -> Self;
}

impl OrderByName for sea_orm::Select<task_parameters::Entity> {
    fn order_by_asc_name(self) -> Self {
        use sea_orm::QueryOrder as _;
        self.order_by_asc(task_parameters::Column::TaskId)
            .order_by_asc(task_parameters::Column::Name)
    }
}

/// An accounting formula version: how a node type aggregation's tasks are
/// priced over a validity window. Never edited; a change is a new version.
pub(crate) struct Formula(pub(crate) formulas::Model);

/// An accounting formula version: how a node type aggregation's tasks are
/// priced over a validity window. Never edited; a change is a new version.
#[Object]
impl Formula {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Formula", self.0.id)
    }

    /// The expression, e.g. `NumNodes * RunTime`.
    async fn expression(&self) -> &str {
        &self.0.expression
    }

    /// The unit it yields.
    async fn unit(&self) -> &str {
        &self.0.unit
    }

    /// Start of validity (inclusive).
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.validity_from
    }

    /// End of validity (inclusive), or null when open.
    async fn valid_to(&self) -> Option<DateTime<Utc>> {
        self.0.validity_to
    }

    /// When this version was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The version this one replaced.
    async fn supersedes(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Formula>> {
        let Some(id) = self.0.supersedes_id else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<formulas::Entity>::new(id))
            .await?;
        Ok(row.map(Formula))
    }

    /// The tasks this version priced (only the projects the caller may see).
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Task>> {
        let scope = scope(ctx)?;
        let base: BaseFn = Arc::new(move |parents: &[i64], _: &[i64]| {
            let select = tasks::Entity::find()
                .filter(tasks::Column::FormulaId.is_in(parents.iter().copied()))
                .column_as(tasks::Column::FormulaId, "parent_key")
                .column_as(Expr::val(0_i64), "parent_ctx");
            scoped(&scope, select, tasks::Column::ProjectId)
        });
        let spec = ListSpec::new(
            "Formula.tasks",
            "",
            "Task",
            base,
            Condition::all(),
            Vec::new(),
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (self.0.id, 0), Task).await
    }
}

/// A sub-project: a part of a project that jobs are accounted to (HEAppE).
pub(crate) struct SubProject(pub(crate) sub_projects::Model);

/// A sub-project: a part of a project that jobs are accounted to (HEAppE).
#[Object]
impl SubProject {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("SubProject", self.0.id)
    }

    /// Its identifier, unique within the project.
    async fn identifier(&self) -> &str {
        &self.0.identifier
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
}

/// A user group of a project (HEAppE's AdaptorUserGroup).
pub(crate) struct Group(pub(crate) user_groups::Model);

/// A user group of a project (HEAppE's AdaptorUserGroup).
#[Object]
impl Group {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Group", self.0.id)
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
}

/// The clusters used by the parent projects.
pub(crate) fn project_clusters_base() -> BaseFn {
    Arc::new(|parents: &[i64], _: &[i64]| {
        clusters::Entity::find()
            .join(JoinType::InnerJoin, clusters_to_projects())
            .filter(cluster_projects::Column::ProjectId.is_in(parents.iter().copied()))
            .column_as(cluster_projects::Column::ProjectId, "parent_key")
            .column_as(Expr::val(0_i64), "parent_ctx")
            .into_query()
    })
}

fn clusters_to_projects() -> sea_orm::RelationDef {
    cluster_projects::Relation::Cluster.def().rev()
}

/// Jobs of the parent projects.
pub(crate) fn project_jobs_base(scope: ProjectScope) -> BaseFn {
    jobs_base(scope, jobs::Column::ProjectId)
}

/// A sort by one column, then id.
pub(crate) fn by(column: &'static str, kind: Kind) -> Vec<SortKey> {
    vec![SortKey {
        column,
        kind,
        descending: false,
    }]
}
