//! `metrics`: EOSC metrics, a value of a metric definition measured by an
//! installation over a period, optionally per (EOSC) user and group. The metric
//! repeats its installation's project so that scoped queries need no join; it is
//! rolled up into `eosc_metric_daily`.

use sea_orm::entity::prelude::*;

/// An EOSC metric value.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metrics")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The installation that reported the metric.
    pub installation_id: i64,
    /// The installation's project, copied (the database checks it matches).
    pub project_id: i64,
    /// What the value measures (its unit and metric type).
    pub metric_definition_id: i64,
    /// Start of the measured period.
    pub period_start: DateTimeUtc,
    /// End of the measured period (after `period_start`).
    pub period_end: DateTimeUtc,
    /// The value, in the definition's unit type (a double, as upstream defines it).
    pub value: f64,
    /// The EOSC user the value is for (an upstream id, not a Tally user).
    pub user_id: Option<String>,
    /// The EOSC group the value is for (an upstream id, not a Tally group).
    pub group_id: Option<String>,
    /// The EOSC id of the client that reported the metric.
    pub creator_id: Option<String>,
    /// A client-supplied key, unique per installation, so that a retried request
    /// does not count twice.
    pub idempotency_key: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of a metric.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The installation (`installation_id`; in the database the foreign key is
    /// `(installation_id, project_id)`, restricting deletion).
    #[sea_orm(
        belongs_to = "super::installations::Entity",
        from = "Column::InstallationId",
        to = "super::installations::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Installation,
    /// The metric definition (`metric_definition_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::metric_definitions::Entity",
        from = "Column::MetricDefinitionId",
        to = "super::metric_definitions::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    MetricDefinition,
}

impl Related<super::installations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Installation.def()
    }
}

impl Related<super::metric_definitions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricDefinition.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The metrics of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
