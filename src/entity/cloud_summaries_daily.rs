//! `cloud_summaries_daily`: APEL cloud summaries per UTC day, with APEL's
//! SummariseVMs semantics: the per-day deltas of the kept VM snapshots, grouped by
//! every dimension of APEL's GROUP BY (so two groups never overwrite each other).
//! Served to APEL summary readers and rolled into the cross-source usage tables.

use sea_orm::entity::prelude::*;

/// One group of a day's cloud usage summary.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_summaries_daily")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The site (group key).
    pub site_id: i64,
    /// The cloud compute service (group key).
    pub cloud_service_id: i64,
    /// The UTC calendar day summarised (group key).
    pub day: Date,
    /// The VM owner's global user name (group key).
    pub global_user_id: i64,
    /// The VO (group key).
    pub vo_id: i64,
    /// The VO group (group key).
    pub vo_group_id: i64,
    /// The VO role (group key).
    pub vo_role_id: i64,
    /// The project, resolved from the VO; `None` if the VO is unmapped.
    pub project_id: Option<i64>,
    /// The VMs' status (group key).
    pub status: String,
    /// The cloud middleware (group key; the string `None` when unknown).
    pub cloud_type: String,
    /// The VM image (group key; the string `None` when unknown).
    pub image_id: String,
    /// Number of CPUs of the VMs (group key).
    pub cpu_count: f64,
    /// The benchmark `benchmark` is expressed in (group key).
    pub benchmark_type: String,
    /// The per-CPU benchmark value (group key; 0 when unknown).
    pub benchmark: f64,
    /// The earliest start time among the group's VMs.
    pub earliest_start_time: DateTimeUtc,
    /// The latest start time among the group's VMs.
    pub latest_start_time: DateTimeUtc,
    /// Wall-clock time on the day, in seconds.
    pub wall_duration: i64,
    /// CPU time on the day, in seconds.
    pub cpu_duration: i64,
    /// Inbound network traffic on the day, as published (GB in APEL's format).
    pub network_inbound: i64,
    /// Outbound network traffic on the day, as published (GB in APEL's format).
    pub network_outbound: i64,
    /// Sum of the VMs' public IP address counts.
    pub public_ip_count: i64,
    /// Sum of the VMs' allocated memory, as published (MB in APEL's format).
    pub memory: i64,
    /// Sum of the VMs' allocated disk, as published (GB in APEL's format).
    pub disk: i64,
    /// Number of VMs in the group.
    pub number_of_vms: i64,
    /// When the row was last recomputed.
    pub updated_at: DateTimeUtc,
}

/// Relations of a daily summary.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The site (`site_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::sites::Entity",
        from = "Column::SiteId",
        to = "super::sites::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Site,
    /// The cloud compute service (`cloud_service_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::cloud_services::Entity",
        from = "Column::CloudServiceId",
        to = "super::cloud_services::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    CloudService,
    /// The global user (`global_user_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::global_users::Entity",
        from = "Column::GlobalUserId",
        to = "super::global_users::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    GlobalUser,
    /// The VO (`vo_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::vos::Entity",
        from = "Column::VoId",
        to = "super::vos::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Vo,
    /// The VO group (`vo_group_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::vo_groups::Entity",
        from = "Column::VoGroupId",
        to = "super::vo_groups::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    VoGroup,
    /// The VO role (`vo_role_id`, restricts deletion).
    #[sea_orm(
        belongs_to = "super::vo_roles::Entity",
        from = "Column::VoRoleId",
        to = "super::vo_roles::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    VoRole,
    /// The project (`project_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Project,
}

impl Related<super::sites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Site.def()
    }
}

impl Related<super::cloud_services::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudService.def()
    }
}

impl Related<super::global_users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GlobalUser.def()
    }
}

impl Related<super::vos::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Vo.def()
    }
}

impl Related<super::vo_groups::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::VoGroup.def()
    }
}

impl Related<super::vo_roles::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::VoRole.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The summaries attributed to any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
