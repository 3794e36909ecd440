//! Object storage (HCP): hourly bucket samples, their daily and monthly
//! rollups and their share of the cross-source usage, written together.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike as _, NaiveDate, Timelike as _, Utc};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    QueryFilter as _,
};
use serde::{Deserialize, Serialize};

use super::batch::{RejectionKind, Report};
use super::rollup::{Deltas, Key, Rollup};
use super::usage::{USAGE_DAILY, USAGE_HOURLY};
use crate::auth::ProjectScope;
use crate::entity::{bucket_usage_hourly, buckets, projects};
use crate::error::Error;

/// A batch of hourly samples, as collectors post it
/// (`POST /api/v1/storage/usage`, `ingestStorageUsage`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The samples.
    pub samples: Vec<Sample>,
    /// Replace stored samples that differ instead of rejecting them.
    #[serde(default)]
    pub correction: bool,
}

/// One hourly sample of a bucket, as collectors post it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sample {
    /// The bucket's name.
    pub bucket: String,
    /// The bucket's owner as HCP names it; needed when the bucket is new.
    #[serde(default)]
    pub owner: Option<String>,
    /// The bucket's storage class (default `STANDARD`) when the bucket is new.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// The accounting string of the project the bucket belongs to.
    #[serde(default)]
    pub project: Option<String>,
    /// The start of the hour the sample covers (a whole UTC hour).
    pub hour: DateTime<Utc>,
    /// Bytes stored × hours during that hour. Give this or `bytesStored`.
    #[serde(default)]
    pub byte_hours: Option<i64>,
    /// Bytes stored during the hour (one hour's worth of byte-hours).
    #[serde(default)]
    pub bytes_stored: Option<i64>,
    /// Net change of the object count (negative when more were removed).
    #[serde(default)]
    pub object_delta: i64,
    /// Writes during the hour.
    #[serde(default)]
    pub writes: i64,
    /// Deletes during the hour.
    #[serde(default)]
    pub deletes: i64,
    /// Bytes written during the hour.
    #[serde(default)]
    pub bytes_written: i64,
    /// Bytes deleted during the hour.
    #[serde(default)]
    pub bytes_deleted: i64,
}

/// The amounts of one hourly row, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Amounts([i64; 6]);

impl Amounts {
    fn of(row: &bucket_usage_hourly::Model) -> Self {
        Self([
            row.byte_hours,
            row.object_delta,
            row.writes,
            row.deletes,
            row.bytes_written,
            row.bytes_deleted,
        ])
    }

    fn minus(self, other: Self) -> [i64; 6] {
        let mut out = [0; 6];
        for (i, value) in out.iter_mut().enumerate() {
            *value = self.0[i].saturating_sub(other.0[i]);
        }
        out
    }
}

/// Checks a sample and returns its amounts.
fn validate(sample: &Sample) -> Result<Amounts, String> {
    if sample.bucket.trim().is_empty() {
        return Err("bucket is empty".to_owned());
    }
    if sample.hour.minute() != 0 || sample.hour.second() != 0 || sample.hour.nanosecond() != 0 {
        return Err(format!(
            "hour {} is not the start of an hour",
            sample.hour.to_rfc3339()
        ));
    }
    if sample.hour > Utc::now() {
        return Err(format!(
            "hour {} is in the future",
            sample.hour.to_rfc3339()
        ));
    }
    let byte_hours = match (sample.byte_hours, sample.bytes_stored) {
        (Some(byte_hours), None) => byte_hours,
        (None, Some(bytes)) => bytes,
        _ => return Err("give exactly one of byteHours and bytesStored".to_owned()),
    };
    for (name, value) in [
        ("byteHours", byte_hours),
        ("writes", sample.writes),
        ("deletes", sample.deletes),
        ("bytesWritten", sample.bytes_written),
        ("bytesDeleted", sample.bytes_deleted),
    ] {
        if value < 0 {
            return Err(format!("{name} is negative"));
        }
    }
    Ok(Amounts([
        byte_hours,
        sample.object_delta,
        sample.writes,
        sample.deletes,
        sample.bytes_written,
        sample.bytes_deleted,
    ]))
}

/// `bucket_usage_daily`.
pub const DAILY: Rollup = Rollup {
    table: "bucket_usage_daily",
    keys: &["bucket_id", "day"],
    extra: &["project_id"],
    sums: &[
        "byte_hours",
        "object_delta",
        "writes",
        "deletes",
        "bytes_written",
        "bytes_deleted",
        "samples",
    ],
    nonnegative: &[
        "byte_hours",
        "writes",
        "deletes",
        "bytes_written",
        "bytes_deleted",
        "samples",
    ],
};

/// `bucket_usage_monthly` (a month is its first day).
pub const MONTHLY: Rollup = Rollup {
    table: "bucket_usage_monthly",
    keys: &["bucket_id", "month"],
    extra: &["project_id"],
    sums: DAILY.sums,
    nonnegative: DAILY.nonnegative,
};

/// The first day of `day`'s month.
#[must_use]
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// Resolves (or creates) the buckets the samples name; rejects samples whose
/// bucket is out of `scope` or contradicts the stored bucket.
async fn resolve_buckets(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    samples: &[Sample],
    report: &mut Report,
) -> Result<HashMap<String, buckets::Model>, Error> {
    let names: BTreeSet<&str> = samples.iter().map(|s| s.bucket.as_str()).collect();
    let mut known: HashMap<String, buckets::Model> = buckets::Entity::find()
        .filter(buckets::Column::Name.is_in(names))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let accounting: BTreeSet<&str> = samples
        .iter()
        .filter_map(|s| s.project.as_deref())
        .collect();
    let projects: HashMap<String, i64> = projects::Entity::find()
        .filter(projects::Column::AccountingString.is_in(accounting))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.accounting_string, p.id))
        .collect();
    for (index, sample) in samples.iter().enumerate() {
        let key = format!("{}@{}", sample.bucket, sample.hour.to_rfc3339());
        let project = match &sample.project {
            Some(accounting) => match projects.get(accounting) {
                Some(id) => Some(*id),
                None => {
                    report.reject(
                        index,
                        RejectionKind::Invalid,
                        key,
                        format!("no project {accounting:?}"),
                    );
                    continue;
                }
            },
            None => None,
        };
        let bucket = match known.get(&sample.bucket) {
            Some(bucket) => bucket.clone(),
            None => {
                let Some(owner) = sample.owner.clone().filter(|o| !o.trim().is_empty()) else {
                    report.reject(
                        index,
                        RejectionKind::Invalid,
                        key,
                        "a new bucket needs an owner",
                    );
                    continue;
                };
                let bucket = buckets::ActiveModel {
                    name: Set(sample.bucket.clone()),
                    owner_name: Set(owner),
                    storage_class: Set(sample
                        .storage_class
                        .clone()
                        .unwrap_or_else(|| "STANDARD".to_owned())),
                    project_id: Set(project),
                    ..Default::default()
                }
                .insert(db)
                .await?;
                known.insert(bucket.name.clone(), bucket.clone());
                bucket
            }
        };
        if project.is_some() && project != bucket.project_id {
            report.reject(
                index,
                RejectionKind::Conflict,
                key,
                "the bucket belongs to another project",
            );
            continue;
        }
        let in_scope = match bucket.project_id {
            Some(id) => scope.contains(id),
            None => *scope == ProjectScope::All,
        };
        if !in_scope {
            report.reject(
                index,
                RejectionKind::Forbidden,
                key,
                "not allowed to post usage for this bucket",
            );
        }
    }
    Ok(known)
}

/// Stores hourly samples and updates every rollup, in `db` (a transaction).
/// Replays of stored samples are `unchanged`; a sample that differs from the
/// stored one is rejected unless `correction` is set, when it replaces it. With
/// any rejection the caller must roll back.
///
/// # Errors
/// A database error.
pub async fn ingest(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    samples: &[Sample],
    correction: bool,
) -> Result<Report, Error> {
    let mut report = Report::default();
    let mut amounts = Vec::with_capacity(samples.len());
    for (index, sample) in samples.iter().enumerate() {
        match validate(sample) {
            Ok(a) => amounts.push(a),
            Err(reason) => {
                report.reject(
                    index,
                    RejectionKind::Invalid,
                    format!("{}@{}", sample.bucket, sample.hour.to_rfc3339()),
                    reason,
                );
                amounts.push(Amounts([0; 6]));
            }
        }
    }
    // The same hour twice in one batch must agree.
    let mut seen: HashMap<(&str, DateTime<Utc>), Amounts> = HashMap::new();
    for (index, (sample, new)) in samples.iter().zip(&amounts).enumerate() {
        match seen.insert((sample.bucket.as_str(), sample.hour), *new) {
            Some(previous) if previous != *new => report.reject(
                index,
                RejectionKind::Invalid,
                format!("{}@{}", sample.bucket, sample.hour.to_rfc3339()),
                "the batch holds this hour twice with different values",
            ),
            _ => {}
        }
    }
    if !report.accepted() {
        return Ok(report);
    }
    let buckets = resolve_buckets(db, scope, samples, &mut report).await?;
    if !report.accepted() {
        return Ok(report);
    }
    let ids: Vec<i64> = buckets.values().map(|b| b.id).collect();
    let hours: BTreeSet<DateTime<Utc>> = samples.iter().map(|s| s.hour).collect();
    let mut stored: HashMap<(i64, DateTime<Utc>), Amounts> = bucket_usage_hourly::Entity::find()
        .filter(bucket_usage_hourly::Column::BucketId.is_in(ids))
        .filter(bucket_usage_hourly::Column::Hour.is_in(hours))
        .all(db)
        .await?
        .iter()
        .map(|row| ((row.bucket_id, row.hour), Amounts::of(row)))
        .collect();

    let now = Utc::now();
    let (mut daily, mut monthly, mut usage_daily, mut usage_hourly) = (
        Deltas::default(),
        Deltas::default(),
        Deltas::default(),
        Deltas::default(),
    );
    let mut inserts = Vec::new();
    for (index, (sample, new)) in samples.iter().zip(amounts).enumerate() {
        let Some(bucket) = buckets.get(&sample.bucket) else {
            continue;
        };
        let key = (bucket.id, sample.hour);
        let (delta, samples_delta) = match stored.get(&key) {
            Some(old) if *old == new => {
                report.unchanged += 1;
                continue;
            }
            Some(_) if !correction => {
                report.reject(
                    index,
                    RejectionKind::Conflict,
                    format!("{}@{}", sample.bucket, sample.hour.to_rfc3339()),
                    "already recorded with other values; send it as a correction to replace it",
                );
                continue;
            }
            Some(old) => {
                let old = *old;
                bucket_usage_hourly::Entity::update_many()
                    .col_expr(bucket_usage_hourly::Column::ByteHours, new.0[0].into())
                    .col_expr(bucket_usage_hourly::Column::ObjectDelta, new.0[1].into())
                    .col_expr(bucket_usage_hourly::Column::Writes, new.0[2].into())
                    .col_expr(bucket_usage_hourly::Column::Deletes, new.0[3].into())
                    .col_expr(bucket_usage_hourly::Column::BytesWritten, new.0[4].into())
                    .col_expr(bucket_usage_hourly::Column::BytesDeleted, new.0[5].into())
                    .col_expr(bucket_usage_hourly::Column::UpdatedAt, now.into())
                    .filter(bucket_usage_hourly::Column::BucketId.eq(bucket.id))
                    .filter(bucket_usage_hourly::Column::Hour.eq(sample.hour))
                    .exec(db)
                    .await?;
                report.updated += 1;
                (new.minus(old), 0)
            }
            None => {
                inserts.push(bucket_usage_hourly::ActiveModel {
                    bucket_id: Set(bucket.id),
                    hour: Set(sample.hour),
                    project_id: Set(bucket.project_id),
                    byte_hours: Set(new.0[0]),
                    object_delta: Set(new.0[1]),
                    writes: Set(new.0[2]),
                    deletes: Set(new.0[3]),
                    bytes_written: Set(new.0[4]),
                    bytes_deleted: Set(new.0[5]),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
                report.inserted += 1;
                (new.0, 1)
            }
        };
        stored.insert(key, new);
        let day = sample.hour.date_naive();
        let mut sums = delta.to_vec();
        sums.push(samples_delta);
        daily.add(
            Key(vec![bucket.id.into(), day.into(), bucket.project_id.into()]),
            &sums,
        );
        monthly.add(
            Key(vec![
                bucket.id.into(),
                month_of(day).into(),
                bucket.project_id.into(),
            ]),
            &sums,
        );
        if let Some(project) = bucket.project_id {
            let usage = [delta[0], samples_delta];
            let dims = |bucket_key: sea_orm::Value| {
                Key(vec![
                    project.into(),
                    "storage".into(),
                    "bucket".into(),
                    bucket.id.into(),
                    bucket.owner_id.unwrap_or(0).into(),
                    0_i64.into(),
                    "byte_hour".into(),
                    0_i16.into(),
                    bucket_key,
                ])
            };
            usage_daily.add(dims(day.into()), &usage);
            usage_hourly.add(dims(sample.hour.into()), &usage);
        }
    }
    if !report.accepted() {
        return Ok(report);
    }
    super::bulk::insert(db, inserts).await?;
    daily.apply(db, &DAILY, now).await?;
    monthly.apply(db, &MONTHLY, now).await?;
    usage_daily.apply(db, &USAGE_DAILY, now).await?;
    usage_hourly.apply(db, &USAGE_HOURLY, now).await?;
    Ok(report)
}
