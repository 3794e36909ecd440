//! `global_users`: APEL global user names (the VM owner's certificate DN or
//! global identity), a dimension of cloud records and summaries.
//! APEL name table: a missing name is stored as the string `None`, so cloud
//! summaries have no nullable dimension.

use sea_orm::entity::prelude::*;

/// An APEL global user name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "global_users")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The global user name, e.g. a DN (unique, non-empty; the string `None` when the
    /// record named none).
    pub name: String,
}

/// Tables that reference the global user directly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The cloud records of the global user.
    #[sea_orm(has_many = "super::cloud_records::Entity")]
    CloudRecords,
    /// The daily cloud summaries of the global user.
    #[sea_orm(has_many = "super::cloud_summaries_daily::Entity")]
    CloudSummariesDaily,
}

impl Related<super::cloud_records::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudRecords.def()
    }
}

impl Related<super::cloud_summaries_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudSummariesDaily.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The row named `name` (unique; APEL's missing name is the string `None`).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }
}
