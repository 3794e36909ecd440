//! `cloud_records`: APEL cloud accounting records, cumulative snapshots of a VM's
//! usage under APEL's natural key (VM UUID, start time, suspend duration, wall
//! duration): several snapshots of a VM coexist and a replayed snapshot is the
//! same row. Each is attributed to the project of its VO when ingested.

use sea_orm::entity::prelude::*;

/// A cloud usage snapshot of a VM.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_records")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The VM's UUID (natural key, 1/4; non-empty).
    pub vm_uuid: String,
    /// The site that published the record.
    pub site_id: i64,
    /// The cloud compute service the VM ran on.
    pub cloud_service_id: i64,
    /// The VM owner's global user name.
    pub global_user_id: i64,
    /// The VO the VM ran for.
    pub vo_id: i64,
    /// The VO group of the owner's FQAN.
    pub vo_group_id: i64,
    /// The VO role of the owner's FQAN.
    pub vo_role_id: i64,
    /// The project, resolved from the VO at ingestion; `None` if the VO is unmapped.
    pub project_id: Option<i64>,
    /// The VM's name.
    pub machine_name: Option<String>,
    /// The owner's local user id on the cloud.
    pub local_user_id: Option<String>,
    /// The owner's local group id on the cloud.
    pub local_group_id: Option<String>,
    /// The owner's full VOMS FQAN.
    pub fqan: Option<String>,
    /// The VM's status at measurement time (e.g. `started`, `completed`).
    pub status: String,
    /// When the VM started (natural key, 2/4).
    pub start_time: DateTimeUtc,
    /// When the VM ended, if it has (never before `start_time`).
    pub end_time: Option<DateTimeUtc>,
    /// Cumulative time suspended, in seconds (natural key, 3/4; >= 0).
    pub suspend_duration: i64,
    /// Cumulative wall-clock time, in seconds (natural key, 4/4; >= 0).
    pub wall_duration: i64,
    /// Cumulative CPU time, in seconds (>= 0).
    pub cpu_duration: Option<i64>,
    /// Number of CPUs: an integer in APEL 1.6, a 3-decimal number since 2025.
    pub cpu_count: Option<f64>,
    /// The kind of network the traffic counts refer to.
    pub network_type: Option<String>,
    /// Inbound network traffic, as published (GB in APEL's format).
    pub network_inbound: Option<i64>,
    /// Outbound network traffic, as published (GB in APEL's format).
    pub network_outbound: Option<i64>,
    /// Number of public IP addresses.
    pub public_ip_count: Option<i64>,
    /// Memory allocated, as published (MB in APEL's format).
    pub memory: Option<i64>,
    /// Disk allocated, as published (GB in APEL's format).
    pub disk: Option<i64>,
    /// The id of the matching storage record, if any.
    pub storage_record_id: Option<String>,
    /// The VM image (the string `None` when unknown).
    pub image_id: String,
    /// The cloud middleware, e.g. `OpenStack` (the string `None` when unknown).
    pub cloud_type: String,
    /// The benchmark `benchmark` is expressed in, e.g. `HEPSPEC06` (the string
    /// `None` when unknown).
    pub benchmark_type: String,
    /// The per-CPU benchmark value (0 when unknown).
    pub benchmark: f64,
    /// When the publisher created the record.
    pub record_create_time: Option<DateTimeUtc>,
    /// The instant the snapshot measures: start + suspend + wall.
    pub measurement_time: DateTimeUtc,
    /// The UTC calendar day of `measurement_time`.
    pub measurement_day: Date,
    /// The DN of the publisher that sent the record.
    pub publisher_dn: Option<String>,
    /// The message that last brought the record.
    pub message_id: Option<i64>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last updated (by a replay or newer snapshot data).
    pub updated_at: DateTimeUtc,
}

/// Relations of a cloud record.
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
    /// The message that brought the record (`message_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::apel_messages::Entity",
        from = "Column::MessageId",
        to = "super::apel_messages::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Message,
    /// The VM days this record is the kept snapshot of.
    #[sea_orm(has_many = "super::cloud_vm_days::Entity")]
    CloudVmDays,
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

impl Related<super::apel_messages::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl Related<super::cloud_vm_days::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudVmDays.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The records attributed to any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }

    /// The snapshot with APEL's natural key (`vm_uuid`, `start_time`,
    /// `suspend_duration`, `wall_duration`; durations in seconds) (unique).
    pub fn find_by_natural_key(
        vm_uuid: &str,
        start_time: DateTimeUtc,
        suspend_duration: i64,
        wall_duration: i64,
    ) -> Select<Entity> {
        Self::find()
            .filter(Column::VmUuid.eq(vm_uuid))
            .filter(Column::StartTime.eq(start_time))
            .filter(Column::SuspendDuration.eq(suspend_duration))
            .filter(Column::WallDuration.eq(wall_duration))
    }
}
