//! `project_allocations`: HEAppE's ProjectClusterNodeTypeAggregation, a project's
//! allocation on a node-type aggregation, in the unit the aggregation's formulas
//! yield. Usage reports compare consumption against it.

use sea_orm::entity::prelude::*;

/// A project's allocation on an aggregation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project_allocations")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project (the pair with `aggregation_id` is unique).
    pub project_id: i64,
    /// The aggregation allocated on.
    pub aggregation_id: i64,
    /// The allocation, in whole units of the aggregation's formulas (>= 0).
    pub allocation_amount: i64,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of an allocation.
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
    /// The aggregation (`aggregation_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::node_type_aggregations::Entity",
        from = "Column::AggregationId",
        to = "super::node_type_aggregations::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Aggregation,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::node_type_aggregations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Aggregation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The allocations of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
