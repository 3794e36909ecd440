//! `tasks`: the tasks of an HPC job (HEAppE's SubmittedTaskInfo), the unit usage
//! is computed for: a formula of the node type's aggregation, evaluated over the
//! task's scheduler parameters, gives `usage_milli` in `usage_unit`. The task
//! repeats its job's project so that scoped queries need no join.

use sea_orm::entity::prelude::*;

/// A task of a job, with its computed usage.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The job the task belongs to.
    pub job_id: i64,
    /// The job's project, copied (the database checks it matches the job's).
    pub project_id: i64,
    /// Position of the task in its job, from 0 (unique within the job).
    pub ordinal: i32,
    /// The scheduler's own id for the task, if it has one.
    pub scheduler_job_id: Option<String>,
    /// The task's name.
    pub name: String,
    /// HEAppE's TaskState flag value: one of 1, 2, 4, …, 256.
    pub state: i16,
    /// The node type the task ran on, if known.
    pub node_type_id: Option<i64>,
    /// The command template the task ran, if any.
    pub command_template_id: Option<i64>,
    /// When the task started running.
    pub start_time: Option<DateTimeUtc>,
    /// When the task ended (never before `start_time`).
    pub end_time: Option<DateTimeUtc>,
    /// Cores allocated to the task.
    pub allocated_cores: Option<i32>,
    /// Nodes allocated to the task.
    pub allocated_nodes: Option<i32>,
    /// GPUs allocated to the task.
    pub allocated_gpus: Option<i32>,
    /// Allocated walltime, in seconds.
    pub allocated_seconds: Option<i64>,
    /// Usage in thousandths of `usage_unit` (HEAppE rounds to 3 decimals).
    pub usage_milli: Option<i64>,
    /// The unit of `usage_milli`, from the formula (e.g. `core_hour`).
    pub usage_unit: Option<String>,
    /// The formula that computed the usage.
    pub formula_id: Option<i64>,
    /// `pending`, `computed` (usage, unit and formula set), `no_formula` or `error`.
    pub usage_status: String,
    /// Why the usage could not be computed, when `usage_status` is `error`.
    pub usage_error: Option<String>,
    /// When the usage was last computed.
    pub usage_computed_at: Option<DateTimeUtc>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of a task.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The job (`job_id`; in the database the foreign key is
    /// `(job_id, project_id)`, cascading on delete).
    #[sea_orm(
        belongs_to = "super::jobs::Entity",
        from = "Column::JobId",
        to = "super::jobs::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Job,
    /// The node type (`node_type_id`, restricts deletion of the node type).
    #[sea_orm(
        belongs_to = "super::node_types::Entity",
        from = "Column::NodeTypeId",
        to = "super::node_types::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    NodeType,
    /// The command template (`command_template_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::command_templates::Entity",
        from = "Column::CommandTemplateId",
        to = "super::command_templates::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    CommandTemplate,
    /// The formula (`formula_id`, restricts deletion of the formula).
    #[sea_orm(
        belongs_to = "super::formulas::Entity",
        from = "Column::FormulaId",
        to = "super::formulas::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Formula,
    /// The task's scheduler parameters.
    #[sea_orm(has_many = "super::task_parameters::Entity")]
    TaskParameters,
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Job.def()
    }
}

impl Related<super::node_types::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::NodeType.def()
    }
}

impl Related<super::command_templates::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CommandTemplate.def()
    }
}

impl Related<super::formulas::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Formula.def()
    }
}

impl Related<super::task_parameters::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TaskParameters.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The tasks of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }

    /// The tasks of job `job_id`.
    pub fn find_by_job(job_id: i64) -> Select<Entity> {
        Self::find().filter(Column::JobId.eq(job_id))
    }
}
