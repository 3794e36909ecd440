//! `usage_hourly`: the cross-source usage view per hour: one row per project,
//! source (HPC, cloud, EOSC, storage), resource, user, group, unit and hour.
//! Hourly rows serve time series in any time zone.
//!
//! Maintained in the transaction that writes the facts; derived data that can be
//! rebuilt. Quantities are exact integers (`quantity / 10^scale` units of `unit`)
//! and rows of different units are never added together. An unknown user or
//! group is the key 0 (no foreign key), so the upsert's unique key behaves the
//! same on PostgreSQL and SQLite.

use sea_orm::entity::prelude::*;

/// A project's usage of one resource in one unit, for one hour.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_hourly")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project (rollup key).
    pub project_id: i64,
    /// Where the usage comes from: `hpc`, `cloud`, `eosc` or `storage` (rollup key).
    pub source: String,
    /// The kind of `resource_id`: `node_type`, `site`, `installation` or `bucket`
    /// (rollup key).
    pub resource_kind: String,
    /// The id of the row of the table `resource_kind` names; not a foreign key
    /// (rollup key).
    pub resource_id: i64,
    /// `users.id`, or 0 when the usage has no known Tally user (rollup key).
    pub user_key: i64,
    /// `user_groups.id`, or 0 (rollup key).
    pub group_key: i64,
    /// The unit of the quantity, e.g. `core_hour` (rollup key).
    pub unit: String,
    /// Decimal scale of `quantity`, 0 to 9.
    pub scale: i16,
    /// The hour, as its start instant (rollup key).
    pub hour: DateTimeUtc,
    /// The usage, in `10^-scale` units of `unit`.
    pub quantity: i64,
    /// Number of source records summed (>= 0).
    pub record_count: i64,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Relations of a usage row.
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
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The usage rows of any of the projects `project_ids`.
    pub fn find_in_projects(project_ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::ProjectId.is_in(project_ids))
    }
}
