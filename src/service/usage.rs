//! The cross-source view: usage per project, source, resource and unit, over a
//! period, read from the rollups.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, FromQueryResult, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use super::rollup::Rollup;
use crate::auth::ProjectScope;
use crate::entity::usage_daily;
use crate::error::Error;

/// The cross-source rollups (`usage_daily`, `usage_hourly`).
pub const USAGE_DAILY: Rollup = Rollup {
    table: "usage_daily",
    keys: &[
        "project_id",
        "source",
        "resource_kind",
        "resource_id",
        "user_key",
        "group_key",
        "unit",
        "scale",
        "day",
    ],
    extra: &[],
    sums: &["quantity", "record_count"],
    nonnegative: &["record_count"],
};

/// See [`USAGE_DAILY`].
pub const USAGE_HOURLY: Rollup = Rollup {
    table: "usage_hourly",
    keys: &[
        "project_id",
        "source",
        "resource_kind",
        "resource_id",
        "user_key",
        "group_key",
        "unit",
        "scale",
        "hour",
    ],
    extra: &[],
    sums: &["quantity", "record_count"],
    nonnegative: &["record_count"],
};

/// Usage of one project from one source in one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
    /// The project.
    pub project_id: i64,
    /// `hpc`, `cloud`, `eosc` or `storage`.
    pub source: String,
    /// The unit, e.g. `core_hour`, `byte_hour`.
    pub unit: String,
    /// The amount, exact.
    pub quantity: Decimal,
    /// How many facts it sums.
    pub records: i64,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    project_id: i64,
    source: String,
    unit: String,
    scale: i16,
    quantity: i64,
    records: i64,
}

/// Usage per project, source and unit over the UTC days `from ..= to`, for the
/// projects in `scope` (and only `project`, when given).
///
/// # Errors
/// A database error, or a sum too large for the stored integer width.
pub async fn totals(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    project: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageTotal>, Error> {
    let mut select = scope
        .apply(usage_daily::Entity::find(), usage_daily::Column::ProjectId)
        .filter(usage_daily::Column::Day.gte(from))
        .filter(usage_daily::Column::Day.lte(to));
    if let Some(project) = project {
        select = select.filter(usage_daily::Column::ProjectId.eq(project));
    }
    let rows = select
        .select_only()
        .column(usage_daily::Column::ProjectId)
        .column(usage_daily::Column::Source)
        .column(usage_daily::Column::Unit)
        .column(usage_daily::Column::Scale)
        // CAST keeps the sum an integer on PostgreSQL (SUM(bigint) is numeric).
        .column_as(Expr::cust("CAST(SUM(quantity) AS BIGINT)"), "quantity")
        .column_as(Expr::cust("CAST(SUM(record_count) AS BIGINT)"), "records")
        .group_by(usage_daily::Column::ProjectId)
        .group_by(usage_daily::Column::Source)
        .group_by(usage_daily::Column::Unit)
        .group_by(usage_daily::Column::Scale)
        .order_by_asc(usage_daily::Column::ProjectId)
        .order_by_asc(usage_daily::Column::Source)
        .order_by_asc(usage_daily::Column::Unit)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| UsageTotal {
            project_id: row.project_id,
            source: row.source,
            unit: row.unit,
            quantity: Decimal::new(row.quantity, u32::try_from(row.scale).unwrap_or(0)),
            records: row.records,
        })
        .collect())
}
