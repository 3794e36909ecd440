//! `task_parameters`: the scheduler parameters of a task (`NumNodes`, `RunTime`,
//! `AllocTRES_cpu`, …) as the collector reported them: the variables its
//! accounting formula is evaluated with.

use sea_orm::entity::prelude::*;

/// One named scheduler parameter of a task.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_parameters")]
pub struct Model {
    /// The task (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_id: i64,
    /// The parameter's name, e.g. `NumNodes` (second half of the primary key;
    /// non-empty).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The parameter's value, as text.
    pub value: String,
    /// The task's project: a task's parameters live on its shard on Citus
    /// (`docs/scaling.md`).
    pub project_id: i64,
}

/// Relations of a task parameter.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The task (`task_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::tasks::Entity",
        from = "Column::TaskId",
        to = "super::tasks::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Task,
}

impl Related<super::tasks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Task.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The parameters of task `task_id`.
    pub fn find_by_task(task_id: i64) -> Select<Entity> {
        Self::find().filter(Column::TaskId.eq(task_id))
    }
}
