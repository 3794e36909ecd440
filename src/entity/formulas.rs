//! `formulas`: HEAppE's accounting formulas, expressions over a task's scheduler
//! parameters that yield its usage in `unit`, valid over a time window. A formula
//! is never edited: a change is a new row that supersedes the old one, so every
//! computed task usage keeps pointing at the formula that produced it.

use sea_orm::entity::prelude::*;

/// An accounting formula.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "formulas")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The expression, over task parameters such as `NumNodes` or `RunTime`
    /// (non-empty).
    pub expression: String,
    /// The unit the expression yields, e.g. `core_hour`, `node_hour` (non-empty).
    pub unit: String,
    /// Start of the formula's validity.
    pub validity_from: DateTimeUtc,
    /// End of the formula's validity; `None` while open-ended.
    pub validity_to: Option<DateTimeUtc>,
    /// The formula this one replaces, if it is a revision.
    pub supersedes_id: Option<i64>,
    /// The user who created the formula; `None` if seeded or the user was deleted.
    pub created_by: Option<i64>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When it was retired (HEAppE's `DELETE Accounting`): no longer chosen
    /// for new usage; the tasks it priced keep naming it.
    pub deleted_at: Option<DateTimeUtc>,
}

/// Relations of a formula.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The formula this one supersedes (`supersedes_id`, self-reference, restricts
    /// deletion of the superseded formula).
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::SupersedesId",
        to = "Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    SupersededFormula,
    /// The user who created the formula (`created_by`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::CreatedBy",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    CreatedBy,
    /// The formula's links to the aggregations using it.
    #[sea_orm(has_many = "super::aggregation_formulas::Entity")]
    AggregationFormulas,
    /// The tasks whose usage the formula computed.
    #[sea_orm(has_many = "super::tasks::Entity")]
    Tasks,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CreatedBy.def()
    }
}

impl Related<super::aggregation_formulas::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AggregationFormulas.def()
    }
}

impl Related<super::tasks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tasks.def()
    }
}

/// The aggregations using a formula, through `aggregation_formulas`.
impl Related<super::node_type_aggregations::Entity> for Entity {
    fn to() -> RelationDef {
        super::aggregation_formulas::Relation::Aggregation.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::aggregation_formulas::Relation::Formula.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The formulas attached to aggregation `aggregation_id` (all validity
    /// windows; the caller picks the one valid at a task's time).
    pub fn find_for_aggregation(aggregation_id: i64) -> Select<Entity> {
        Self::find()
            .inner_join(super::aggregation_formulas::Entity)
            .filter(super::aggregation_formulas::Column::AggregationId.eq(aggregation_id))
    }
}
