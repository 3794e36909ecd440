//! `metric_types`: EOSC metric types, how a metric's values combine over an
//! interval (`aggregated`, `count`, `summarised`, `averaged`), seeded with the
//! upstream built-ins.
//! Names are unique regardless of case, as in upstream's collation.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ExprTrait, Func};

/// An EOSC metric type.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "metric_types")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The type's name, e.g. `aggregated` (unique ignoring case, non-empty).
    pub name: String,
    /// What the metric type means.
    pub description: String,
    /// The EOSC id of the client that registered it; empty for built-ins.
    pub creator_id: Option<String>,
    /// Registered by the system itself: cannot be deleted.
    pub built_in: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a metric type.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The metric definitions of this metric type.
    #[sea_orm(has_many = "super::metric_definitions::Entity")]
    MetricDefinitions,
}

impl Related<super::metric_definitions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricDefinitions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The metric type named `name`, ignoring case as the unique index does
    /// (`lower(name)`, evaluated by the database on both sides).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(
            Expr::expr(Func::lower(Expr::col((Entity, Column::Name)))).eq(Func::lower(name)),
        )
    }
}
