//! `eosc_metric_daily`: the EOSC metric rollup, metric values summed per
//! installation, metric definition and UTC day. Maintained in the transaction
//! that writes metrics; derived data that can be rebuilt from `metrics`.

use sea_orm::entity::prelude::*;

/// An installation's total of one metric for one day.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "eosc_metric_daily")]
pub struct Model {
    /// The installation (primary key, 1/3).
    #[sea_orm(primary_key, auto_increment = false)]
    pub installation_id: i64,
    /// The metric definition (primary key, 2/3).
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric_definition_id: i64,
    /// The UTC day (primary key, 3/3).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// The installation's project.
    pub project_id: i64,
    /// Sum of the day's metric values, in the definition's unit type.
    pub value_sum: f64,
    /// Number of metrics summed (>= 0).
    pub metric_count: i64,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of an EOSC metric rollup row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The installation (`installation_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::installations::Entity",
        from = "Column::InstallationId",
        to = "super::installations::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Installation,
    /// The metric definition (`metric_definition_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::metric_definitions::Entity",
        from = "Column::MetricDefinitionId",
        to = "super::metric_definitions::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    MetricDefinition,
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

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The rollup rows of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
