//! `vos`: APEL virtual organisations. A VO may be accounted to a Tally project:
//! its cloud records and summaries are then attributed to that project when they
//! are ingested.

use sea_orm::entity::prelude::*;

/// An APEL VO.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vos")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The VO's name (unique, non-empty; the string `None` when the record named
    /// none).
    pub name: String,
    /// The project the VO's usage counts for; `None` if not mapped.
    pub project_id: Option<i64>,
}

/// Relations of a VO.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project (`project_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Project,
    /// The cloud records of the VO.
    #[sea_orm(has_many = "super::cloud_records::Entity")]
    CloudRecords,
    /// The daily cloud summaries of the VO.
    #[sea_orm(has_many = "super::cloud_summaries_daily::Entity")]
    CloudSummariesDaily,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
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
    /// The VO named `name` (unique).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }

    /// The VOs mapped to any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
