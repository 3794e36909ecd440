//! `hpc_usage_daily`: the HPC usage rollup, task usage summed per project,
//! cluster, node type, sub-project, submitter, UTC day and unit. Maintained in the
//! transaction that writes task usage; derived data that can be rebuilt from
//! `tasks`. Absent dimensions are stored as the key 0 (no foreign key) so that the
//! upsert's unique key behaves the same on PostgreSQL and SQLite.

use sea_orm::entity::prelude::*;

/// A project's HPC usage on a node type, for one day and unit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hpc_usage_daily")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project (rollup key).
    pub project_id: i64,
    /// The cluster (rollup key).
    pub cluster_id: i64,
    /// The node type (rollup key).
    pub node_type_id: i64,
    /// `sub_projects.id`, or 0 for jobs without a sub-project (rollup key).
    pub sub_project_key: i64,
    /// `users.id` of the submitter, or 0 when unknown (rollup key).
    pub submitter_key: i64,
    /// The UTC day (rollup key).
    pub day: Date,
    /// The unit of `usage_milli`, e.g. `core_hour` (rollup key).
    pub unit: String,
    /// Usage in thousandths of `unit` (>= 0).
    pub usage_milli: i64,
    /// Number of tasks summed (>= 0).
    pub task_count: i64,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of an HPC usage row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Project,
    /// The cluster (`cluster_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::clusters::Entity",
        from = "Column::ClusterId",
        to = "super::clusters::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Cluster,
    /// The node type (`node_type_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::node_types::Entity",
        from = "Column::NodeTypeId",
        to = "super::node_types::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    NodeType,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::clusters::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Cluster.def()
    }
}

impl Related<super::node_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NodeType.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The rollup rows of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
