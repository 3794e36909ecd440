//! `jobs`: HPC jobs as the schedulers key them (HEAppE's SubmittedJobInfo). Slurm
//! reuses job ids, so the natural key is (cluster, scheduler job id, submit
//! time). A job belongs to a project and, optionally, one of its sub-projects; its
//! tasks carry the computed usage.

use sea_orm::entity::prelude::*;

/// An HPC job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The cluster the job ran on (natural key, 1/3).
    pub cluster_id: i64,
    /// The scheduler's job id (natural key, 2/3; non-empty).
    pub scheduler_job_id: String,
    /// When the job was submitted to the scheduler (natural key, 3/3).
    pub submit_time: DateTimeUtc,
    /// The job's name.
    pub name: String,
    /// HEAppE's JobState flag value: one of 1, 2, 4, …, 256.
    pub state: i16,
    /// The project the job is accounted to.
    pub project_id: i64,
    /// The sub-project, which must belong to `project_id`; `None` if none.
    pub sub_project_id: Option<i64>,
    /// The user who submitted the job, if known.
    pub submitter_id: Option<i64>,
    /// The user group the job was submitted as, if known.
    pub group_id: Option<i64>,
    /// The scheduler's account string, as the collector saw it.
    pub account: Option<String>,
    /// When HEAppE created the job.
    pub creation_time: DateTimeUtc,
    /// When the job started running.
    pub start_time: Option<DateTimeUtc>,
    /// When the job ended (never before `start_time`).
    pub end_time: Option<DateTimeUtc>,
    /// A final job changes only by an explicit correction.
    pub is_final: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of a job.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The cluster (`cluster_id`, restricts deletion of the cluster).
    #[sea_orm(
        belongs_to = "super::clusters::Entity",
        from = "Column::ClusterId",
        to = "super::clusters::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Cluster,
    /// The project (`project_id`, restricts deletion of the project).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Project,
    /// The sub-project (`sub_project_id`; in the database the foreign key is
    /// `(sub_project_id, project_id)`, restricting deletion).
    #[sea_orm(
        belongs_to = "super::sub_projects::Entity",
        from = "Column::SubProjectId",
        to = "super::sub_projects::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    SubProject,
    /// The submitter (`submitter_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::SubmitterId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Submitter,
    /// The user group (`group_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::user_groups::Entity",
        from = "Column::GroupId",
        to = "super::user_groups::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Group,
    /// The job's tasks.
    #[sea_orm(has_many = "super::tasks::Entity")]
    Tasks,
}

impl Related<super::clusters::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Cluster.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::sub_projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SubProject.def()
    }
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Submitter.def()
    }
}

impl Related<super::user_groups::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Group.def()
    }
}

impl Related<super::tasks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tasks.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The jobs of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }

    /// The job with natural key (`cluster_id`, `scheduler_job_id`, `submit_time`)
    /// (unique).
    pub fn find_by_natural_key(
        cluster_id: i64,
        scheduler_job_id: &str,
        submit_time: DateTimeUtc,
    ) -> Select<Entity> {
        Self::find()
            .filter(Column::ClusterId.eq(cluster_id))
            .filter(Column::SchedulerJobId.eq(scheduler_job_id))
            .filter(Column::SubmitTime.eq(submit_time))
    }
}
