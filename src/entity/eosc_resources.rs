//! `eosc_resources`: the EOSC catalogue resources (services, data sources) an
//! installation may deploy, by their EOSC id.

use sea_orm::entity::prelude::*;

/// An EOSC catalogue resource.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "eosc_resources")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The resource's id in the EOSC catalogue (unique, non-empty).
    pub external_id: String,
    /// The resource's name.
    pub name: String,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a resource.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The installations of the resource.
    #[sea_orm(has_many = "super::installations::Entity")]
    Installations,
}

impl Related<super::installations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Installations.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The resource whose EOSC id is `external_id` (unique).
    pub fn find_by_external_id(external_id: &str) -> Select<Entity> {
        Self::find().filter(Column::ExternalId.eq(external_id))
    }
}
