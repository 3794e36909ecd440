//! `cloud_services`: APEL cloud compute services (`CloudComputeService`), the
//! cloud endpoints within a site whose VMs are accounted.
//! APEL name table: a missing name is stored as the string `None`, so cloud
//! summaries have no nullable dimension.

use sea_orm::entity::prelude::*;

/// An APEL cloud compute service.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_services")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The service's name (unique, non-empty; the string `None` when the record named
    /// none).
    pub name: String,
}

/// Tables that reference the service directly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The cloud records of the service.
    #[sea_orm(has_many = "super::cloud_records::Entity")]
    CloudRecords,
    /// The daily cloud summaries of the service.
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
