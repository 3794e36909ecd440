//! `installations`: EOSC installations, a provider's deployment of a resource
//! within a project, the thing EOSC metrics are reported against. The provider
//! must be associated with the project first; `installation` grants are scoped to
//! an installation.

use sea_orm::entity::prelude::*;

/// An EOSC installation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "installations")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project (natural key with `provider_id` and `installation`).
    pub project_id: i64,
    /// The provider, associated with `project_id` in `project_providers`.
    pub provider_id: i64,
    /// The installation's name, unique within its project and provider
    /// (non-empty).
    pub installation: String,
    /// The infrastructure the installation runs on.
    pub infrastructure: Option<String>,
    /// The EOSC resource installed, if catalogued.
    pub resource_id: Option<i64>,
    /// The metric definition that is the installation's unit of access.
    pub unit_of_access_id: Option<i64>,
    /// The installation's id in the EOSC Accounting System (unique when set).
    pub external_id: Option<String>,
    /// The EOSC id of the client that registered the installation.
    pub creator_id: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of an installation.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project/provider association (`(project_id, provider_id)`, a composite
    /// key of `project_providers`; restricts deletion).
    #[sea_orm(
        belongs_to = "super::project_providers::Entity",
        from = "(Column::ProjectId, Column::ProviderId)",
        to = "(super::project_providers::Column::ProjectId, super::project_providers::Column::ProviderId)",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    ProjectProvider,
    /// The resource (`resource_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::eosc_resources::Entity",
        from = "Column::ResourceId",
        to = "super::eosc_resources::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Resource,
    /// The unit of access (`unit_of_access_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::metric_definitions::Entity",
        from = "Column::UnitOfAccessId",
        to = "super::metric_definitions::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    UnitOfAccess,
    /// The metrics reported against the installation.
    #[sea_orm(has_many = "super::metrics::Entity")]
    Metrics,
    /// The installation's daily EOSC metric rollup.
    #[sea_orm(has_many = "super::eosc_metric_daily::Entity")]
    EoscMetricDaily,
}

impl Related<super::project_providers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectProvider.def()
    }
}

impl Related<super::eosc_resources::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Resource.def()
    }
}

impl Related<super::metric_definitions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UnitOfAccess.def()
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

impl Entity {
    /// The installations of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }

    /// The installation whose EOSC Accounting System id is `external_id` (unique).
    pub fn find_by_external_id(external_id: &str) -> Select<Entity> {
        Self::find().filter(Column::ExternalId.eq(external_id))
    }
}
