//! `apel_messages`: the APEL messages received (APEL's `incoming/` queue
//! entries): what arrived, when and from whom. Cloud records point back at the
//! message that last brought them.

use sea_orm::entity::prelude::*;

/// A received APEL message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apel_messages")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The message's id in the EMPA/SSM envelope, if it had one.
    pub empa_id: Option<String>,
    /// The DN of the publisher that sent the message.
    pub publisher_dn: String,
    /// When the message was received.
    pub received_at: DateTimeUtc,
    /// Number of records in the message (>= 0).
    pub record_count: i32,
    /// SHA-256 of the message body, hex (indexed, to spot replays).
    pub body_hash: String,
}

/// Relations of a message.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The cloud records the message brought.
    #[sea_orm(has_many = "super::cloud_records::Entity")]
    CloudRecords,
}

impl Related<super::cloud_records::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudRecords.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
