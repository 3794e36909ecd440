//! Clusters and their node types.

use async_graphql::{Context, ID, Object};

use super::job::{Job, JobArgs, JobFilter, JobOrder, JobState};
use super::{by, parent, scope};
use crate::entity::{clusters, jobs, node_types};
use crate::graphql::context::ContextExt as _;
use crate::graphql::filter::{IdFilter, ScalarFilter};
use crate::graphql::id::GlobalId;
use crate::graphql::list::{ListArgs, list_inputs};
use crate::graphql::loader::{ById, Conn, connection};
use crate::graphql::page::{Kind, SortKey};
use crate::graphql::usage::{Level, Period, UsageAmount, total_usage};
use crate::service::read::lists;

list_inputs! {
    /// Which clusters a list keeps; all given conditions must hold.
    filter ClusterFilter {
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// Its scheduler (`slurm`, `pbs`, …).
        scheduler: ScalarFilter<String> => "scheduler",
    }
    /// What clusters can be sorted by.
    order ClusterOrderField {
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// Its scheduler (clusters without one first).
        Scheduler => SortKey::nullable("scheduler", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a cluster list; ties are broken by id.
    key ClusterOrder
}

list_inputs! {
    /// Which node types a list keeps; all given conditions must hold.
    filter NodeTypeFilter {
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// The scheduler queue (partition).
        queue: ScalarFilter<String> => "queue",
        /// The quality of service.
        quality_of_service: ScalarFilter<String> => "quality_of_service",
        /// Cores per node.
        cores_per_node: ScalarFilter<i64> => "cores_per_node",
        /// Number of nodes.
        node_count: ScalarFilter<i64> => "node_count",
        /// The cluster it belongs to.
        cluster: IdFilter => ("cluster_id", "Cluster"),
    }
    /// What node types can be sorted by.
    order NodeTypeOrderField {
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// The scheduler queue.
        Queue => SortKey::asc("queue", Kind::Text),
        /// Cores per node.
        CoresPerNode => SortKey::asc("cores_per_node", Kind::Int),
        /// Number of nodes (unknown first).
        NodeCount => SortKey::nullable("node_count", Kind::Int),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a node type list; ties are broken by id.
    key NodeTypeOrder
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

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.row.id
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

    /// Its node types (queues); by name unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn node_types(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the node types meet (all must hold).")] filter: Option<
            NodeTypeFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<NodeTypeOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<NodeType>> {
        let base = lists::cluster_node_types();
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "Cluster.nodeTypes",
            "NodeType",
            base,
            by("name", Kind::Text),
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
            list: ListArgs::new(filter, order_by, first, after, last, before),
            period,
            sub_projects,
            states,
        };
        let base = lists::jobs(scope(ctx)?, jobs::Column::ClusterId);
        let (parent, relation) = parent(self.row.id, self.project, "Cluster.jobs");
        let spec = args.spec(&relation, base)?;
        connection(ctx, spec, parent, Job).await
    }

    /// Usage on this cluster over `period`, one amount per unit (only the
    /// projects the caller may see; only the project it was reached through).
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
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

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.row.id
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
            list: ListArgs::new(filter, order_by, first, after, last, before),
            period,
            sub_projects,
            states,
        };
        let base = lists::node_type_jobs(scope(ctx)?);
        let (parent, relation) = parent(self.row.id, self.project, "NodeType.jobs");
        let spec = args.spec(&relation, base)?;
        connection(ctx, spec, parent, Job).await
    }

    /// Usage on this node type over `period`, one amount per unit.
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::NodeType(self.project), self.row.id, period).await
    }
}
