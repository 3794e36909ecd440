//! `accounting_runs`: recomputations of HPC task usage for a project and period
//! (HEAppE's AccountingState). A run is claimed by one Tally instance at a time,
//! reports progress, and resumes after a restart from `cursor_task_id`.

use sea_orm::entity::prelude::*;

/// A usage recomputation run.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounting_runs")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project whose usage is recomputed.
    pub project_id: i64,
    /// Start of the period recomputed.
    pub period_start: DateTimeUtc,
    /// End of the period recomputed (after `period_start`).
    pub period_end: DateTimeUtc,
    /// `queued`, `running`, `finished` or `failed`.
    pub state: String,
    /// Number of tasks the run has to recompute.
    pub tasks_total: i64,
    /// Number of tasks recomputed so far (never above `tasks_total`).
    pub tasks_done: i64,
    /// The task id a run resumes from after a restart; not a foreign key.
    pub cursor_task_id: Option<i64>,
    /// The user who triggered the run; `None` for system runs.
    pub triggered_by: Option<i64>,
    /// When the run was requested.
    pub triggered_at: DateTimeUtc,
    /// When an instance started working on the run.
    pub started_at: Option<DateTimeUtc>,
    /// When the run finished or failed.
    pub finished_at: Option<DateTimeUtc>,
    /// When the run last made progress.
    pub last_updated_at: Option<DateTimeUtc>,
    /// The instance that holds the claim on the run.
    pub claimed_by: Option<String>,
    /// The claimant's last heartbeat, to tell a live claim from an abandoned one.
    pub heartbeat_at: Option<DateTimeUtc>,
    /// Why the run failed.
    pub error: Option<String>,
}

/// Relations of an accounting run.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Project,
    /// The user who triggered the run (`triggered_by`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::TriggeredBy",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    TriggeredBy,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TriggeredBy.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The runs of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
