//! `metric_definitions`: EOSC metric definitions, what a metric measures: a name
//! with a unit type and a metric type. Installations name one as their unit of
//! access; every metric refers to one.

use sea_orm::entity::prelude::*;

/// An EOSC metric definition.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "metric_definitions")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The metric's name (non-empty; unique ignoring case within its unit type).
    pub name: String,
    /// What the metric measures.
    pub description: Option<String>,
    /// The unit the metric's values are in.
    pub unit_type_id: i64,
    /// How the metric's values combine over an interval.
    pub metric_type_id: i64,
    /// The EOSC id of the client that registered the definition.
    pub creator_id: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a metric definition.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The unit type (`unit_type_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::unit_types::Entity",
        from = "Column::UnitTypeId",
        to = "super::unit_types::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    UnitType,
    /// The metric type (`metric_type_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::metric_types::Entity",
        from = "Column::MetricTypeId",
        to = "super::metric_types::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    MetricType,
    /// The installations whose unit of access this is.
    #[sea_orm(has_many = "super::installations::Entity")]
    Installations,
    /// The metrics reported against the definition.
    #[sea_orm(has_many = "super::metrics::Entity")]
    Metrics,
    /// The daily EOSC metric rollup of the definition.
    #[sea_orm(has_many = "super::eosc_metric_daily::Entity")]
    EoscMetricDaily,
}

impl Related<super::unit_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UnitType.def()
    }
}

impl Related<super::metric_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricType.def()
    }
}

impl Related<super::installations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Installations.def()
    }
}

impl Related<super::metrics::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Metrics.def()
    }
}

impl Related<super::eosc_metric_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EoscMetricDaily.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
