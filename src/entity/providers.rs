//! `providers`: EOSC providers, the organisations that operate installations
//! of EOSC resources. A provider is associated with projects (`project_providers`)
//! before it can have installations there; some are pulled from the EOSC portal.

use sea_orm::entity::prelude::*;

/// An EOSC provider.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "providers")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The id EOSC shows, e.g. `grnet` (unique, non-empty, never contains a dot).
    pub external_id: String,
    /// The provider's name (unique, non-empty).
    pub name: String,
    /// The provider's website.
    pub website: Option<String>,
    /// The provider's abbreviation.
    pub abbreviation: Option<String>,
    /// URL of the provider's logo.
    pub logo: Option<String>,
    /// The EOSC id of the client that registered the provider.
    pub creator_id: Option<String>,
    /// Pulled from the EOSC portal: upstream refuses to edit such providers.
    pub from_portal: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a provider.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The provider's associations with projects.
    #[sea_orm(has_many = "super::project_providers::Entity")]
    ProjectProviders,
}

impl Related<super::project_providers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectProviders.def()
    }
}

/// The projects a provider is associated with, through `project_providers`.
impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        super::project_providers::Relation::Project.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::project_providers::Relation::Provider.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The provider whose EOSC id is `external_id` (unique).
    pub fn find_by_external_id(external_id: &str) -> Select<Entity> {
        Self::find().filter(Column::ExternalId.eq(external_id))
    }
}
