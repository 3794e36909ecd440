//! `project_providers`: the association of an EOSC provider with a project. A
//! provider must be associated with a project before it can have installations
//! there; `project_provider` grants (EOSC's provider_admin) are scoped to it.

use sea_orm::entity::prelude::*;

/// A provider's association with a project.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project_providers")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project (the pair with `provider_id` is unique).
    pub project_id: i64,
    /// The provider.
    pub provider_id: i64,
    /// When the association was made.
    pub created_at: DateTimeUtc,
}

/// Relations of a project/provider association.
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
    /// The provider (`provider_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::providers::Entity",
        from = "Column::ProviderId",
        to = "super::providers::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Provider,
    /// The installations of the provider in the project (matched on
    /// `(project_id, provider_id)`).
    #[sea_orm(has_many = "super::installations::Entity")]
    Installations,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::providers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl Related<super::installations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Installations.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The provider associations of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
