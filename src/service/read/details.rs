//! Rows that hang off an object and are read for many parents at once (a data
//! loader's batch): a task's scheduler parameters and a bucket's usage per
//! hour, day or month. Each statement keeps to the caller's
//! [`ProjectScope`], so a parent id out of scope reads nothing.

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QueryOrder as _,
};

use crate::auth::ProjectScope;
use crate::entity::{
    bucket_usage_daily, bucket_usage_hourly, bucket_usage_monthly, task_parameters,
};
use crate::error::Error;
use crate::service::report::Span;
use crate::service::storage::month_of;

/// The scheduler parameters of these tasks, by task then name, for a caller
/// who sees `scope` (the parameters' project is in the statement).
///
/// # Errors
/// A database error.
pub(crate) async fn task_parameters(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    task_ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<task_parameters::Model>, Error> {
    // A parameter carries its task's project (on the task's shard on Citus).
    Ok(task_parameters::Entity::find()
        .filter(task_parameters::Column::TaskId.is_in(task_ids))
        .filter(scope.condition(Expr::col((
            task_parameters::Entity,
            task_parameters::Column::ProjectId,
        ))))
        .order_by_asc(task_parameters::Column::TaskId)
        .order_by_asc(task_parameters::Column::Name)
        .all(db)
        .await?)
}

/// The grain of a bucket's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Grain {
    /// The hourly samples.
    Hour,
    /// UTC days.
    Day,
    /// Calendar months (UTC).
    Month,
}

/// A bucket's usage over `[start, end)`: one hourly, daily or monthly row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketUsage {
    /// The bucket.
    pub(crate) bucket: i64,
    /// The first instant of the interval.
    pub(crate) start: DateTime<Utc>,
    /// The end of the interval (excluded).
    pub(crate) end: DateTime<Utc>,
    /// Storage held, in byte-hours.
    pub(crate) byte_hours: i64,
    /// Objects added minus objects removed.
    pub(crate) object_delta: i64,
    /// Write operations.
    pub(crate) writes: i64,
    /// Delete operations.
    pub(crate) deletes: i64,
    /// Bytes written.
    pub(crate) bytes_written: i64,
    /// Bytes deleted.
    pub(crate) bytes_deleted: i64,
}

/// A [`BucketUsage`] from a row of any of the three bucket usage tables
/// (they share their summed columns) over `[start, end)`.
macro_rules! bucket_usage {
    ($row:expr, $start:expr, $end:expr) => {
        BucketUsage {
            bucket: $row.bucket_id,
            start: $start,
            end: $end,
            byte_hours: $row.byte_hours,
            object_delta: $row.object_delta,
            writes: $row.writes,
            deletes: $row.deletes,
            bytes_written: $row.bytes_written,
            bytes_deleted: $row.bytes_deleted,
        }
    };
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The usage of these buckets at `grain` within `span` (whole UTC days: an
/// hour, day or month is in when it starts in the span's days), by bucket
/// then time, for a caller who sees `scope`: each usage row carries its
/// bucket's project, and the statement keeps to `scope` on it (a bucket
/// without a project only for those who see every project, as the bucket).
///
/// # Errors
/// A database error.
pub(crate) async fn bucket_usage(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    grain: Grain,
    buckets: Vec<i64>,
    span: Span,
) -> Result<Vec<BucketUsage>, Error> {
    let first_day = span.from().date_naive();
    // The day after the last: days and months are kept when they start before it.
    let end_day = span.to().date_naive();
    Ok(match grain {
        Grain::Hour => scope
            .apply(
                bucket_usage_hourly::Entity::find(),
                bucket_usage_hourly::Column::ProjectId,
            )
            .filter(bucket_usage_hourly::Column::BucketId.is_in(buckets))
            .filter(bucket_usage_hourly::Column::Hour.gte(span.from()))
            .filter(bucket_usage_hourly::Column::Hour.lt(span.to()))
            .order_by_asc(bucket_usage_hourly::Column::BucketId)
            .order_by_asc(bucket_usage_hourly::Column::Hour)
            .all(db)
            .await?
            .into_iter()
            .map(|r| bucket_usage!(r, r.hour, r.hour + Duration::hours(1)))
            .collect(),
        Grain::Day => scope
            .apply(
                bucket_usage_daily::Entity::find(),
                bucket_usage_daily::Column::ProjectId,
            )
            .filter(bucket_usage_daily::Column::BucketId.is_in(buckets))
            .filter(bucket_usage_daily::Column::Day.gte(first_day))
            .filter(bucket_usage_daily::Column::Day.lt(end_day))
            .order_by_asc(bucket_usage_daily::Column::BucketId)
            .order_by_asc(bucket_usage_daily::Column::Day)
            .all(db)
            .await?
            .into_iter()
            .map(|r| {
                let next = r.day.succ_opt().unwrap_or(r.day);
                bucket_usage!(r, midnight(r.day), midnight(next))
            })
            .collect(),
        Grain::Month => scope
            .apply(
                bucket_usage_monthly::Entity::find(),
                bucket_usage_monthly::Column::ProjectId,
            )
            .filter(bucket_usage_monthly::Column::BucketId.is_in(buckets))
            .filter(bucket_usage_monthly::Column::Month.gte(month_of(first_day)))
            .filter(bucket_usage_monthly::Column::Month.lt(end_day))
            .order_by_asc(bucket_usage_monthly::Column::BucketId)
            .order_by_asc(bucket_usage_monthly::Column::Month)
            .all(db)
            .await?
            .into_iter()
            .map(|r| {
                let next = r
                    .month
                    .checked_add_months(Months::new(1))
                    .unwrap_or(r.month);
                bucket_usage!(r, midnight(r.month), midnight(next))
            })
            .collect(),
    })
}
