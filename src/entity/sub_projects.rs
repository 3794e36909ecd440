//! `sub_projects`: HEAppE's sub-projects, finer-grained accounting labels inside a
//! project. A job may name one; HPC rollups key on it (`sub_project_key`).

use sea_orm::entity::prelude::*;

/// A sub-project of a project.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sub_projects")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project the sub-project belongs to.
    pub project_id: i64,
    /// The sub-project's identifier, unique within its project (non-empty).
    pub identifier: String,
    /// Free-text description.
    pub description: Option<String>,
    /// First day of the sub-project, if bounded.
    pub start_date: Option<Date>,
    /// Last day of the sub-project, if bounded (never before `start_date`).
    pub end_date: Option<Date>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a sub-project.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The parent project (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Project,
    /// The jobs accounted to the sub-project.
    #[sea_orm(has_many = "super::jobs::Entity")]
    Jobs,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The sub-projects of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
