//! `command_templates`: HEAppE's CommandTemplate, the commands a task may run,
//! optionally bound to a node type and private to a project.

use sea_orm::entity::prelude::*;

/// A command template.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "command_templates")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The template's name (non-empty).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// The executable the template runs.
    pub executable: Option<String>,
    /// A disabled template can no longer be used by new tasks.
    pub enabled: bool,
    /// The node type the template is bound to; `None` for any.
    pub node_type_id: Option<i64>,
    /// The project the template is private to; `None` for a shared template.
    pub project_id: Option<i64>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a command template.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The node type (`node_type_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::node_types::Entity",
        from = "Column::NodeTypeId",
        to = "super::node_types::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    NodeType,
    /// The project (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Project,
    /// The tasks that ran the template.
    #[sea_orm(has_many = "super::tasks::Entity")]
    Tasks,
}

impl Related<super::node_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NodeType.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::tasks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tasks.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The templates private to any of the projects `project_ids` (not the shared
    /// ones).
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
