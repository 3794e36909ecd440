//! `cloud_vm_days`: for each VM and UTC day, the cloud record snapshot that counts
//! (the one with the latest measurement time, APEL's LastCloudRecordPerDay). A
//! VM's usage on a day is that snapshot minus the previous kept one.

use sea_orm::entity::prelude::*;

/// The snapshot kept for a VM on a day.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cloud_vm_days")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The VM (the pair with `day` is unique).
    pub vm_uuid: String,
    /// The UTC calendar day.
    pub day: Date,
    /// The cloud record kept for the VM on the day.
    pub record_id: i64,
    /// This day's wall time, seconds: the kept snapshot's minus the VM's
    /// previous kept snapshot's.
    pub wall_delta: i64,
    /// This day's CPU time, seconds (same rule).
    pub cpu_delta: i64,
    /// This day's inbound network traffic (same rule; the producer's unit).
    pub network_inbound_delta: i64,
    /// This day's outbound network traffic (same rule).
    pub network_outbound_delta: i64,
}

/// Relations of a VM day.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The kept cloud record (`record_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::cloud_records::Entity",
        from = "Column::RecordId",
        to = "super::cloud_records::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Record,
}

impl Related<super::cloud_records::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Record.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
