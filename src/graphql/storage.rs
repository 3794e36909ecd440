//! Storage objects: buckets and their usage per hour, day or month.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt as _;
use super::filter::{IdFilter, ScalarFilter};
use super::id::GlobalId;
use super::limits::rows_cost;
use super::list::list_inputs;
use super::loader::{Db, gql};
use super::page::{Kind, SortKey};
use super::usage::{Level, MAX_POINTS, Period, UsageAmount, total_usage};
use crate::entity::buckets;
use crate::error::Error;
use crate::service::read::details;
use crate::service::report::Span;

/// The grain of a bucket's usage report.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Granularity {
    /// One row per hour (the raw samples).
    Hour,
    /// One row per UTC day.
    Day,
    /// One row per calendar month (UTC).
    Month,
}

impl Granularity {
    /// The rows a report over `period` holds at most.
    fn rows(self, period: &Period) -> usize {
        match self {
            Self::Hour => period.days().saturating_mul(24),
            Self::Day => period.days(),
            Self::Month => period.days() / 28 + 1,
        }
    }
}

/// The cost of a bucket's `usage`: its rows times `child`.
pub(crate) fn usage_cost(granularity: Granularity, period: &Period, child: usize) -> usize {
    rows_cost(granularity.rows(period), child)
}

list_inputs! {
    /// Which buckets a list keeps; all given conditions must hold.
    filter BucketFilter {
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// The owner's name, as the storage system reports it.
        owner_name: ScalarFilter<String> => "owner_name",
        /// The storage class.
        storage_class: ScalarFilter<String> => "storage_class",
        /// The project it is accounted to (`isSet: false`: none).
        project: IdFilter => ("project_id", "Project"),
    }
    /// What buckets can be sorted by.
    order BucketOrderField {
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// The owner's name.
        OwnerName => SortKey::asc("owner_name", Kind::Text),
        /// The storage class.
        StorageClass => SortKey::asc("storage_class", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a bucket list; ties are broken by id.
    key BucketOrder
}

/// A bucket's usage over one hour, day or month.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct BucketUsage {
    /// The first instant of the interval.
    start: DateTime<Utc>,
    /// The end of the interval (excluded).
    end: DateTime<Utc>,
    /// Storage held, in byte-hours.
    byte_hours: i64,
    /// Objects added minus objects removed.
    object_delta: i64,
    /// Write operations.
    writes: i64,
    /// Delete operations.
    deletes: i64,
    /// Bytes written.
    bytes_written: i64,
    /// Bytes deleted.
    bytes_deleted: i64,
}

impl From<details::BucketUsage> for BucketUsage {
    fn from(row: details::BucketUsage) -> Self {
        Self {
            start: row.start,
            end: row.end,
            byte_hours: row.byte_hours,
            object_delta: row.object_delta,
            writes: row.writes,
            deletes: row.deletes,
            bytes_written: row.bytes_written,
            bytes_deleted: row.bytes_deleted,
        }
    }
}

impl From<Granularity> for details::Grain {
    fn from(granularity: Granularity) -> Self {
        match granularity {
            Granularity::Hour => Self::Hour,
            Granularity::Day => Self::Day,
            Granularity::Month => Self::Month,
        }
    }
}

/// The usage of one bucket at one grain over a period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BucketUsageKey {
    bucket: i64,
    granularity: Granularity,
    period: Period,
}

impl Loader<BucketUsageKey> for Db {
    type Value = Vec<BucketUsage>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[BucketUsageKey],
    ) -> Result<HashMap<BucketUsageKey, Vec<BucketUsage>>, async_graphql::Error> {
        let mut groups: HashMap<(Granularity, Period), Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.granularity, key.period))
                .or_default()
                .push(key.bucket);
        }
        let mut answer: HashMap<BucketUsageKey, Vec<BucketUsage>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for ((granularity, period), ids) in groups {
            let span = Span::days(period.from, period.to).map_err(gql)?;
            let rows = details::bucket_usage(&self.db, &self.scope, granularity.into(), ids, span)
                .await
                .map_err(gql)?;
            for row in rows {
                answer
                    .entry(BucketUsageKey {
                        bucket: row.bucket,
                        granularity,
                        period,
                    })
                    .or_default()
                    .push(row.into());
            }
        }
        Ok(answer)
    }
}

/// A storage bucket and the project it is accounted to.
pub(crate) struct Bucket(pub(crate) buckets::Model);

/// A storage bucket and the project it is accounted to.
#[Object]
impl Bucket {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Bucket", self.0.id)
    }

    /// Its unique name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The owner's name, as the storage system reports it.
    async fn owner_name(&self) -> &str {
        &self.0.owner_name
    }

    /// The storage class.
    async fn storage_class(&self) -> &str {
        &self.0.storage_class
    }

    /// Its usage over `period` (whole UTC days), one row per hour, day or
    /// month that has samples. Hourly reports hold at most 10,000 rows.
    #[graphql(
        complexity = "crate::graphql::storage::usage_cost(granularity, &period, child_complexity)"
    )]
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One row per hour, day or month.")] granularity: Granularity,
        #[graphql(desc = "The days to report (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<BucketUsage>> {
        let (from, to) = period.instants()?;
        if granularity == Granularity::Hour
            && (to - from).num_hours() > i64::try_from(MAX_POINTS).unwrap_or(i64::MAX)
        {
            return Err(gql(Error::LimitExceeded(format!(
                "an hourly report covers at most {MAX_POINTS} hours"
            ))));
        }
        Ok(ctx
            .request()?
            .loaders
            .load_one(BucketUsageKey {
                bucket: self.0.id,
                granularity,
                period,
            })
            .await?
            .unwrap_or_default())
    }

    /// Usage over `period`, one amount per unit (byte-hours).
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::Bucket, self.0.id, period).await
    }
}
