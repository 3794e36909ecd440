//! `hpc_job_usage_monthly`: [`super::hpc_job_usage`] summed to the UTC
//! months its *job* started and ended, so that a whole-jobs report over whole
//! months reads a number of rows that does not grow with the jobs. Maintained
//! in the transaction that writes task usage; derived data that can be
//! rebuilt from `tasks` and `jobs`.

use sea_orm::entity::prelude::*;

/// The usage of a project's jobs that ran from one month to another, on a
/// node type, in one unit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hpc_job_usage_monthly")]
pub struct Model {
    /// The project (rollup key, distribution column).
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: i64,
    /// The cluster (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub cluster_id: i64,
    /// The node type (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub node_type_id: i64,
    /// `sub_projects.id`, or 0 for jobs without a sub-project (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub sub_project_key: i64,
    /// `users.id` of the submitter, or 0 when unknown (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub submitter_key: i64,
    /// The first day of the UTC month the job started (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub start_month: Date,
    /// The first day of the UTC month the job ended (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub end_month: Date,
    /// The unit of `usage_milli` (rollup key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit: String,
    /// Usage in thousandths of `unit` (>= 0).
    pub usage_milli: i64,
    /// Number of tasks summed (>= 0).
    pub task_count: i64,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of a job usage row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project (`project_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
