//! `clusters`: the HPC clusters (HEAppE's Cluster) whose jobs Tally accounts.

use sea_orm::entity::prelude::*;

/// An HPC cluster.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clusters")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The cluster's name (unique, non-empty).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// The batch scheduler (`slurm`, `pbs`, …), a label only.
    pub scheduler: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Tables that reference a cluster directly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The projects allowed on the cluster.
    #[sea_orm(has_many = "super::cluster_projects::Entity")]
    ClusterProjects,
    /// The cluster's node types (queues).
    #[sea_orm(has_many = "super::node_types::Entity")]
    NodeTypes,
    /// The jobs run on the cluster.
    #[sea_orm(has_many = "super::jobs::Entity")]
    Jobs,
    /// The cluster's daily HPC usage rollup.
    #[sea_orm(has_many = "super::hpc_usage_daily::Entity")]
    HpcUsageDaily,
}

impl Related<super::cluster_projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ClusterProjects.def()
    }
}

impl Related<super::node_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NodeTypes.def()
    }
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl Related<super::hpc_usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HpcUsageDaily.def()
    }
}

/// The projects allowed on a cluster, through `cluster_projects`.
impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        super::cluster_projects::Relation::Project.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::cluster_projects::Relation::Cluster.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The cluster named `name` (unique).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }
}
