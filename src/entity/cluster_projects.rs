//! `cluster_projects`: which projects may use which HPC cluster (HEAppE's
//! ClusterProject). A job is accepted only on a cluster its project may use.

use sea_orm::entity::prelude::*;

/// A project's access to a cluster.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cluster_projects")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The cluster (the pair with `project_id` is unique).
    pub cluster_id: i64,
    /// The project allowed on the cluster.
    pub project_id: i64,
    /// When the access was granted.
    pub created_at: DateTimeUtc,
}

/// Relations of a cluster/project pair.
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
    /// The project (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Project,
}

impl Related<super::clusters::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Cluster.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The cluster accesses of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
