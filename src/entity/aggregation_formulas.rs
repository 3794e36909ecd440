//! `aggregation_formulas`: which formulas account the node types of an
//! aggregation (HEAppE's ClusterNodeTypeAggregationAccounting). The formula used
//! for a task is the one of its node type's aggregation valid at the task's time.

use sea_orm::entity::prelude::*;

/// The link between an aggregation and one of its formulas.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "aggregation_formulas")]
pub struct Model {
    /// The aggregation (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub aggregation_id: i64,
    /// The formula (second half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub formula_id: i64,
}

/// Relations of an aggregation/formula link.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The aggregation (`aggregation_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::node_type_aggregations::Entity",
        from = "Column::AggregationId",
        to = "super::node_type_aggregations::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Aggregation,
    /// The formula (`formula_id`, restricts deletion of the formula).
    #[sea_orm(
        belongs_to = "super::formulas::Entity",
        from = "Column::FormulaId",
        to = "super::formulas::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Formula,
}

impl Related<super::node_type_aggregations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Aggregation.def()
    }
}

impl Related<super::formulas::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Formula.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
