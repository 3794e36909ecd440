//! `buckets`: HCP object-storage buckets, the unit of storage chargeback. A
//! bucket is charged to a project and may be owned by a Tally user; its usage is
//! recorded hourly and rolled up per day and month. `bucket` grants are scoped to
//! a bucket.

use sea_orm::entity::prelude::*;

/// An HCP bucket.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "buckets")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The bucket's name (unique, non-empty).
    pub name: String,
    /// The owner as HCP names it, e.g. `Jimmy@example.org` (non-empty).
    pub owner_name: String,
    /// The Tally user who owns the bucket, when known.
    pub owner_id: Option<i64>,
    /// The storage class, `STANDARD` by default.
    pub storage_class: String,
    /// The project the bucket is charged to; `None` if unassigned.
    pub project_id: Option<i64>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a bucket.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owning user (`owner_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::OwnerId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Owner,
    /// The project (`project_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Project,
    /// The bucket's hourly usage.
    #[sea_orm(has_many = "super::bucket_usage_hourly::Entity")]
    BucketUsageHourly,
    /// The bucket's daily usage.
    #[sea_orm(has_many = "super::bucket_usage_daily::Entity")]
    BucketUsageDaily,
    /// The bucket's monthly usage.
    #[sea_orm(has_many = "super::bucket_usage_monthly::Entity")]
    BucketUsageMonthly,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::bucket_usage_hourly::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BucketUsageHourly.def()
    }
}

impl Related<super::bucket_usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BucketUsageDaily.def()
    }
}

impl Related<super::bucket_usage_monthly::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BucketUsageMonthly.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The buckets charged to any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }

    /// The bucket named `name` (unique).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }

    /// The buckets owned by Tally user `owner_id`.
    pub fn find_owned_by(owner_id: i64) -> Select<Entity> {
        Self::find().filter(Column::OwnerId.eq(owner_id))
    }
}
