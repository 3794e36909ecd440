//! `user_groups`: HEAppE's AdaptorUserGroups, the groups users submit jobs as.
//! A group usually belongs to a project; cross-source rollups key on it
//! (`group_key`), and `user_group` grants are scoped to it.

use sea_orm::entity::prelude::*;

/// A group of users, optionally scoped to a project.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_groups")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project the group belongs to; `None` for a group outside any project.
    pub project_id: Option<i64>,
    /// The group's name, unique within its project (non-empty).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a user group.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project the group belongs to (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Project,
    /// The jobs submitted as the group.
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
    /// The groups of any of the projects `project_ids` (never the project-less ones).
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
