//! `node_types`: HEAppE's ClusterNodeType, a queue (and QoS) of a cluster with
//! its node shape. Tasks run on a node type; the node type's aggregation decides
//! which formula accounts them.

use sea_orm::entity::prelude::*;

/// A queue of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "node_types")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The cluster the node type belongs to.
    pub cluster_id: i64,
    /// The aggregation accounting the node type; `None` when unaccounted.
    pub aggregation_id: Option<i64>,
    /// The node type's name, unique within its cluster (non-empty).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// The scheduler queue (partition) jobs are submitted to.
    pub queue: String,
    /// The scheduler quality of service, if any.
    pub quality_of_service: Option<String>,
    /// Cores per node (> 0).
    pub cores_per_node: i32,
    /// Number of nodes in the queue, if known.
    pub node_count: Option<i32>,
    /// Maximum walltime of a job, in seconds (> 0), if limited.
    pub max_walltime_seconds: Option<i64>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a node type.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The cluster (`cluster_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::clusters::Entity",
        from = "Column::ClusterId",
        to = "super::clusters::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Cluster,
    /// The aggregation (`aggregation_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::node_type_aggregations::Entity",
        from = "Column::AggregationId",
        to = "super::node_type_aggregations::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Aggregation,
    /// The command templates bound to the node type.
    #[sea_orm(has_many = "super::command_templates::Entity")]
    CommandTemplates,
    /// The tasks run on the node type.
    #[sea_orm(has_many = "super::tasks::Entity")]
    Tasks,
    /// The node type's daily HPC usage rollup.
    #[sea_orm(has_many = "super::hpc_usage_daily::Entity")]
    HpcUsageDaily,
}

impl Related<super::clusters::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Cluster.def()
    }
}

impl Related<super::node_type_aggregations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Aggregation.def()
    }
}

impl Related<super::command_templates::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CommandTemplates.def()
    }
}

impl Related<super::tasks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tasks.def()
    }
}

impl Related<super::hpc_usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HpcUsageDaily.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The node types of cluster `cluster_id`.
    pub fn find_by_cluster(cluster_id: i64) -> Select<Entity> {
        Self::find().filter(Column::ClusterId.eq(cluster_id))
    }
}
