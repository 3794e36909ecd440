//! `node_type_aggregations`: HEAppE's ClusterNodeTypeAggregation, a set of node
//! types accounted alike. An aggregation carries the formulas that turn a task's
//! scheduler parameters into usage, and projects hold allocations on it.

use sea_orm::entity::prelude::*;

/// A group of node types sharing accounting formulas and allocations.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "node_type_aggregations")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The aggregation's name (unique, non-empty).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// HEAppE's allocation type, a free-text label.
    pub allocation_type: Option<String>,
    /// Start of the aggregation's validity.
    pub validity_from: DateTimeUtc,
    /// End of the aggregation's validity; `None` while open-ended.
    pub validity_to: Option<DateTimeUtc>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Tables that reference an aggregation directly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The node types in the aggregation.
    #[sea_orm(has_many = "super::node_types::Entity")]
    NodeTypes,
    /// The projects' allocations on the aggregation.
    #[sea_orm(has_many = "super::project_allocations::Entity")]
    ProjectAllocations,
    /// The aggregation's links to its formulas.
    #[sea_orm(has_many = "super::aggregation_formulas::Entity")]
    AggregationFormulas,
}

impl Related<super::node_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NodeTypes.def()
    }
}

impl Related<super::project_allocations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectAllocations.def()
    }
}

impl Related<super::aggregation_formulas::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AggregationFormulas.def()
    }
}

/// The formulas of an aggregation, through `aggregation_formulas`.
impl Related<super::formulas::Entity> for Entity {
    fn to() -> RelationDef {
        super::aggregation_formulas::Relation::Formula.def()
    }

    fn via() -> Option<RelationDef> {
        Some(
            super::aggregation_formulas::Relation::Aggregation
                .def()
                .rev(),
        )
    }
}

/// The projects with an allocation on an aggregation, through
/// `project_allocations`.
impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        super::project_allocations::Relation::Project.def()
    }

    fn via() -> Option<RelationDef> {
        Some(
            super::project_allocations::Relation::Aggregation
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The aggregation named `name` (unique).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }
}
