//! `unit_types`: EOSC unit types, the units a metric definition measures in
//! (`TB`, `API reqs`, `CPU Time`, …), seeded with the upstream built-ins.
//! Names are unique regardless of case, as in upstream's collation.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ExprTrait, Func};

/// An EOSC unit type.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unit_types")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The unit's name, e.g. `TB/year` (unique ignoring case, non-empty).
    pub name: String,
    /// What the unit type means.
    pub description: String,
    /// The EOSC id of the client that registered it; empty for built-ins.
    pub creator_id: Option<String>,
    /// Registered by the system itself: cannot be deleted.
    pub built_in: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a unit type.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The metric definitions of this unit type.
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
    /// The unit type named `name`, ignoring case as the unique index does
    /// (`lower(name)`, evaluated by the database on both sides).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(
            Expr::expr(Func::lower(Expr::col((Entity, Column::Name)))).eq(Func::lower(name)),
        )
    }
}
