//! `bucket_usage_monthly`: HCP bucket usage per calendar month, rolled up from
//! `bucket_usage_hourly` in the transaction that writes the hourly rows.
//! Amounts are exact integers.

use sea_orm::entity::prelude::*;

/// A bucket's usage over one month.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bucket_usage_monthly")]
pub struct Model {
    /// The bucket (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket_id: i64,
    /// The month, as its first day (second half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: Date,
    /// The bucket's project, copied so usage can be distributed by project.
    pub project_id: Option<i64>,
    /// Storage used, in byte-hours (bytes stored times hours; >= 0).
    pub byte_hours: i64,
    /// Change in the number of objects over the period (may be negative).
    pub object_delta: i64,
    /// Number of write operations (>= 0).
    pub writes: i64,
    /// Number of delete operations (>= 0).
    pub deletes: i64,
    /// Bytes written (>= 0).
    pub bytes_written: i64,
    /// Bytes deleted (>= 0).
    pub bytes_deleted: i64,
    /// How many hourly samples the row sums (>= 0).
    pub samples: i32,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of a bucket usage row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The bucket (`bucket_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::buckets::Entity",
        from = "Column::BucketId",
        to = "super::buckets::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Bucket,
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

impl Related<super::buckets::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Bucket.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The usage rows charged to any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
