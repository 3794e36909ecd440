//! EOSC metrics: the values installations report (eosc.md §1.1 Metric), their
//! daily totals (`eosc_metric_daily`) and their share of the cross-source usage
//! (`usage_daily`, `usage_hourly`), written together in the caller's
//! transaction.
//!
//! [`add_metrics`] takes a batch for one installation; [`add_metric`] is the
//! one-metric form the EOSC REST adapter uses (upstream has no bulk upload).
//! Both validate every metric first and write nothing when one is rejected;
//! the caller runs them in a transaction and rolls back when the report is not
//! accepted (a key conflict can also be found while writing, after the first
//! rows went in).
//!
//! # Ids on the wire
//!
//! EOSC ids are 24-hex Mongo ObjectIds. Tally derives them from row ids
//! ([`external_id`], [`parse_external_id`]) for metric definitions,
//! installations and metrics alike; any text that is not 24 hex digits naming a
//! positive 64-bit id names nothing.
//!
//! # Validation (eosc.md §4)
//!
//! Fail-fast per metric, with upstream's messages, in upstream's order: the
//! installation (path parameter, checked first upstream): unknown → "There is
//! no Installation with the following id: X", out of the caller's scope →
//! [`FORBIDDEN`]; then the value's JSON type (Jackson fails while reading the
//! body, before any validation); then the definition id (empty, then unknown or
//! malformed: "There is no Metric Definition with the following id: X" as
//! upstream, which answers both with 404); then the period exactly as
//! `ValidateStartEndTimestampValidator` (start missing, end missing, start
//! unparsable, end unparsable, either in the future, equal, start after end;
//! upstream tests for null only, so an empty string is "not a valid zulu
//! timestamp. found: ", while an empty definition id "may not be empty").
//! Upstream's order between the field constraints (definition id) and the class
//! constraint (period) is Hibernate Validator's and unspecified; Tally checks
//! the definition first. Tally's own rules (missing value, range, idempotency
//! key) come last, so any body upstream refuses gets upstream's message.
//!
//! Upstream answers an unknown definition or installation with 404;
//! [`RejectionKind`] has no not-found kind yet, so those rejections are
//! `Invalid` with the message intact (the adapter can recognise them by the
//! message's "There is no " prefix until a kind exists).
//!
//! Timestamps follow Java's `Instant.parse` (`ISO_INSTANT`): `YYYY-MM-DDTHH:MM:SS`,
//! an optional fraction of up to nine digits, then `Z` or an offset `±HH:MM[:SS]`
//! (accepted since Java 12), `T` and `Z` in either case, `24:00:00` as the next
//! midnight and a leap second `23:59:60` as `23:59:59`. Only four-digit years are
//! accepted (Java also takes `+10000-…`, which is in the future anyway, and
//! negative years). Times are kept to the microsecond (PostgreSQL's precision;
//! upstream keeps milliseconds) and compared after that truncation, so two
//! bounds that differ by less than a microsecond are "equal".
//!
//! # Decisions (for `docs/compatibility.md`)
//!
//! - **Missing or null `value`**: upstream's `double` field silently becomes
//!   0.0, a bug that hides client errors and adds phantom metrics to counts.
//!   Tally rejects it: "value may not be empty." (400). A client relying on the
//!   0.0 must send `0`.
//! - **Non-numeric `value`**: upstream fails in Jackson (400, message is
//!   Jackson's text). Tally answers "value must be a number. found: <JSON>".
//!   Numeric strings (`"12.5"`) are accepted as Jackson coerces them by default;
//!   `NaN` and infinities are refused.
//! - **Range**: values are summed exactly into the usage tables as integers of
//!   10⁻⁶ units, so a value whose magnitude exceeds 9223372036854.775807 is
//!   refused, and so is a metric that would push a usage total past the 64-bit
//!   range. Upstream accepts any double.
//! - **Negative values** are accepted (upstream does; `summarised` and
//!   `averaged` metrics may be negative) and summed as they are.
//! - **Duplicates**: upstream accepts identical metrics (its unique index was
//!   dropped in July 2024), and so does Tally. A client may give a metric an
//!   idempotency key (unique per installation, 1 to 255 characters): the same
//!   key with the same content (definition, period, value, user, group) is
//!   `unchanged` and answers the stored metric; with other content it is a
//!   `Conflict`, whether the first use is stored or earlier in the same batch.
//! - **Day attribution**: a metric counts, whole, on the UTC day (and in the
//!   hour) of its `time_period_start`; a metric spanning days is not split.
//!   Upstream's reports sum metrics whose start and end both lie in the period,
//!   so a report built on these rows differs from upstream's for metrics that
//!   end after the period.
//! - **Float sums**: `eosc_metric_daily.value_sum` is a double, summed in
//!   arrival order; it equals the sum of the raw values up to floating-point
//!   rounding (relative to the sum of their magnitudes). The usage tables carry
//!   the exact sum of the values (as written in decimal, i.e. the shortest
//!   text that reads back as the stored double) rounded half-even to 10⁻⁶
//!   (scale 6, unit = the
//!   definition's unit type name, user and group key 0: EOSC user and group ids
//!   are not Tally's). Both sum values regardless of metric type, as upstream's
//!   reports do.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr as _;

use chrono::{DateTime, Duration, NaiveDate, SubsecRound as _, TimeZone as _, Timelike as _, Utc};
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    TryInsertResult,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::batch::{RejectionKind, Report};
use super::rollup::{Deltas, Key};
use super::usage::{USAGE_DAILY, USAGE_HOURLY};
use crate::auth::ProjectScope;
use crate::entity::{
    eosc_metric_daily, installations, metric_definitions, metrics, unit_types, usage_daily,
    usage_hourly,
};
use crate::error::Error;

/// Upstream's answer when the caller may not post for the installation (403).
pub const FORBIDDEN: &str =
    "The authenticated client is not permitted to perform the requested operation.";

/// The decimal scale of EOSC quantities in the usage tables.
pub const USAGE_SCALE: i16 = 6;

/// The longest idempotency key accepted (as the REST `Idempotency-Key`).
pub const MAX_KEY_LEN: usize = 255;

/// Rows per statement and values per `IN` list.
const CHUNK: usize = 500;

/// The EOSC id of row `id`: 24 lowercase hex digits, as a Mongo ObjectId
/// (`1` → `000000000000000000000001`). Row ids are positive.
#[must_use]
pub fn external_id(id: i64) -> String {
    format!("{id:024x}")
}

/// The row id an EOSC id names, if it is 24 hex digits (either case) naming a
/// positive 64-bit id.
#[must_use]
pub fn parse_external_id(text: &str) -> Option<i64> {
    if text.len() != 24 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (high, low) = text.split_at(8);
    if high.bytes().any(|b| b != b'0') {
        return None;
    }
    u64::from_str_radix(low, 16)
        .ok()
        .and_then(|id| i64::try_from(id).ok())
        .filter(|id| *id > 0)
}

/// Upstream's answer for an installation id that names nothing (404); for the
/// REST adapter, which meets ids that do not even parse.
#[must_use]
pub fn installation_not_found(id: &str) -> String {
    format!("There is no Installation with the following id: {id}")
}

/// Upstream's answer for a metric definition id that names nothing (404).
#[must_use]
pub fn definition_not_found(id: &str) -> String {
    format!("There is no Metric Definition with the following id: {id}")
}

/// A metric as an EOSC client posts it (upstream's `MetricRequestDto` plus the
/// `user_id` and `group_id` of 1.3.0). Fields are kept raw, so that validation
/// can answer with upstream's messages; unknown fields are ignored, as
/// upstream's Jackson does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct MetricInput {
    /// The metric definition's EOSC id (24 hex digits).
    #[serde(default)]
    pub metric_definition_id: String,
    /// Start of the measured period, an ISO-8601 instant ("Zulu").
    #[serde(default)]
    pub time_period_start: Option<String>,
    /// End of the measured period, after its start.
    #[serde(default)]
    pub time_period_end: Option<String>,
    /// The value, a JSON number (numeric strings are accepted).
    #[serde(default)]
    pub value: Option<Value>,
    /// The EOSC user the value is for.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The EOSC group the value is for.
    #[serde(default)]
    pub group_id: Option<String>,
}

/// A metric to add, with the client's optional idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct NewMetric<'a> {
    /// The metric as posted.
    pub input: &'a MetricInput,
    /// Makes a retried post not count twice (unique per installation).
    pub idempotency_key: Option<&'a str>,
}

/// What [`add_metrics`] answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Added {
    /// The counts (`inserted`, `unchanged`; never `updated`) and rejections.
    pub report: Report,
    /// When accepted, the stored metric of every input, in input order (the
    /// earlier metric for a replayed idempotency key); empty otherwise.
    pub metrics: Vec<metrics::Model>,
}

/// What a metric stores, comparable between a post and a stored row.
#[derive(Debug, Clone, PartialEq)]
struct Content {
    definition_id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    value: f64,
    user_id: Option<String>,
    group_id: Option<String>,
}

impl Content {
    fn of(row: &metrics::Model) -> Self {
        Self {
            definition_id: row.metric_definition_id,
            start: row.period_start,
            end: row.period_end,
            value: row.value,
            user_id: row.user_id.clone(),
            group_id: row.group_id.clone(),
        }
    }
}

/// Java's `Instant.parse`, to the microsecond (see the module doc).
#[must_use]
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let literal = |at: usize, expected: &[u8]| b.get(at).is_some_and(|c| expected.contains(c));
    let shape: [(usize, &[u8]); 5] = [(4, b"-"), (7, b"-"), (10, b"Tt"), (13, b":"), (16, b":")];
    if !shape.iter().all(|(at, expected)| literal(*at, expected)) {
        return None;
    }
    let year = i32::try_from(number(0, 4)?).ok()?;
    let (month, day) = (number(5, 2)?, number(8, 2)?);
    let (mut hour, minute, mut second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let mut pos = 19;
    let mut nanos = 0_u32;
    if literal(pos, b".") {
        pos += 1;
        let mut digits = 0;
        while digits < 9 && b.get(pos).is_some_and(u8::is_ascii_digit) {
            nanos = nanos * 10 + u32::from(b[pos] - b'0');
            pos += 1;
            digits += 1;
        }
        nanos *= 10_u32.pow(9 - digits);
    }
    let offset = match b.get(pos..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if matches!(rest.len(), 5 | 8) => {
            if rest[2] != b':' || (rest.len() == 8 && rest[5] != b':') {
                return None;
            }
            let at = pos + 1;
            let (h, m) = (number(at, 2)?, number(at + 3, 2)?);
            let s = if rest.len() == 8 {
                number(at + 6, 2)?
            } else {
                0
            };
            let total = h * 3600 + m * 60 + s;
            if h > 18 || m > 59 || s > 59 || total > 18 * 3600 {
                return None;
            }
            let total = i64::from(total);
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let mut days = 0;
    if hour == 24 && minute == 0 && second == 0 && nanos == 0 {
        hour = 0;
        days = 1;
    } else if hour == 23 && minute == 59 && second == 60 {
        second = 59;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos - nanos % 1000)?
        .checked_add_signed(Duration::days(days))?
        .checked_sub_signed(Duration::seconds(offset))?;
    Some(Utc.from_utc_datetime(&local))
}

/// The value as a double, or why not (upstream's and Tally's messages).
///
/// # Errors
/// The message for a missing or non-numeric value.
pub fn parse_value(value: Option<&Value>) -> Result<f64, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Err("value may not be empty.".to_owned());
    };
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite())
    .ok_or_else(|| format!("value must be a number. found: {value}"))
}

/// `value` × 10⁶ as written in decimal (the shortest text that reads back as
/// the same double), rounded half-even; `None` when it does not fit an `i64`.
#[must_use]
pub fn micro_units(value: f64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    // Below 10⁻⁷ the result is 0, and the decimal text would be too long for
    // `Decimal`; above 10¹³ it cannot fit.
    if value.abs() < 1e-7 {
        return Some(0);
    }
    if value.abs() >= 1e13 {
        return None;
    }
    Decimal::from_str(&value.to_string())
        .ok()?
        .checked_mul(Decimal::from(1_000_000))?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        .to_i64()
}

/// A metric that passed the checks that need no stored metric.
struct Checked {
    content: Content,
    micro: i64,
    unit: String,
}

/// The key a rejection names: the idempotency key, else definition@start/end.
fn key_text(metric: &NewMetric<'_>) -> String {
    metric.idempotency_key.map_or_else(
        || {
            let input = metric.input;
            format!(
                "{}@{}/{}",
                input.metric_definition_id,
                input.time_period_start.as_deref().unwrap_or(""),
                input.time_period_end.as_deref().unwrap_or("")
            )
        },
        str::to_owned,
    )
}

/// Upstream's checks, in upstream's order, then Tally's own.
fn check(
    metric: &NewMetric<'_>,
    definitions: &HashMap<i64, String>,
    now: DateTime<Utc>,
) -> Result<Checked, String> {
    let input = metric.input;
    // Jackson reads the value before any validation runs; a missing one is
    // Tally's own rule and comes last.
    let value = match parse_value(input.value.as_ref()) {
        Ok(value) => Some(value),
        Err(reason) if input.value.as_ref().is_some_and(|v| !v.is_null()) => return Err(reason),
        Err(_) => None,
    };
    if input.metric_definition_id.is_empty() {
        return Err("metric_definition_id may not be empty.".to_owned());
    }
    let (definition_id, unit) = parse_external_id(&input.metric_definition_id)
        .and_then(|id| definitions.get(&id).map(|unit| (id, unit.clone())))
        .ok_or_else(|| definition_not_found(&input.metric_definition_id))?;
    let Some(start) = &input.time_period_start else {
        return Err("time_period_start may not be empty.".to_owned());
    };
    let Some(end) = &input.time_period_end else {
        return Err("time_period_end may not be empty.".to_owned());
    };
    let start_at = parse_instant(start).ok_or_else(|| {
        format!("time_period_start must be a valid zulu timestamp. found: {start}")
    })?;
    let end_at = parse_instant(end)
        .ok_or_else(|| format!("time_period_end must be a valid zulu timestamp. found: {end}"))?;
    if start_at > now || end_at > now {
        return Err("Timestamp cannot be after the current date-time.".to_owned());
    }
    if start_at == end_at {
        return Err(
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date time."
                .to_owned(),
        );
    }
    if start_at > end_at {
        return Err(
            "Timestamp of the starting date time cannot be after of Timestamp of the end date time."
                .to_owned(),
        );
    }
    let Some(value) = value else {
        return Err("value may not be empty.".to_owned());
    };
    let micro = micro_units(value).ok_or_else(|| {
        "value is out of range: Tally accounts values between -9223372036854.775808 and \
         9223372036854.775807."
            .to_owned()
    })?;
    if let Some(key) = metric.idempotency_key
        && (key.trim().is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control))
    {
        return Err(format!(
            "idempotency key must be 1 to {MAX_KEY_LEN} visible characters."
        ));
    }
    Ok(Checked {
        content: Content {
            definition_id,
            start: start_at,
            end: end_at,
            value,
            user_id: input.user_id.clone(),
            group_id: input.group_id.clone(),
        },
        micro,
        unit,
    })
}

fn key_conflict(key: &str) -> String {
    format!("idempotency key {key} was already used for another metric of this installation.")
}

/// What to do with one input.
enum Plan {
    /// Store it (as checked; the index is its position in the batch).
    Insert(Checked, usize),
    /// Its key is stored with the same content: answer the stored metric.
    Stored(metrics::Model),
    /// Its key was used earlier in the batch with the same content.
    SameAs(usize),
    /// It was rejected.
    Rejected,
}

/// Adds one metric to installation `installation_id`; see [`add_metrics`].
///
/// # Errors
/// A database error.
pub async fn add_metric(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    installation_id: i64,
    creator_id: Option<&str>,
    input: &MetricInput,
    idempotency_key: Option<&str>,
) -> Result<Added, Error> {
    let metric = NewMetric {
        input,
        idempotency_key,
    };
    add_metrics(db, scope, installation_id, creator_id, &[metric]).await
}

/// Adds metrics to installation `installation_id` for a caller who may post for
/// the projects in `scope`, recorded as reported by the EOSC client
/// `creator_id`, and updates `eosc_metric_daily`, `usage_daily` and
/// `usage_hourly` in `db` (a transaction). With any rejection the caller must
/// roll back. An unknown or out-of-scope installation rejects every metric.
///
/// # Errors
/// A database error.
pub async fn add_metrics(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    installation_id: i64,
    creator_id: Option<&str>,
    batch: &[NewMetric<'_>],
) -> Result<Added, Error> {
    let mut report = Report::default();
    let installation = installations::Entity::find_by_id(installation_id)
        .one(db)
        .await?;
    let refusal = match &installation {
        None => Some((
            RejectionKind::Invalid,
            installation_not_found(&external_id(installation_id)),
        )),
        Some(found) if !scope.contains(found.project_id) => {
            Some((RejectionKind::Forbidden, FORBIDDEN.to_owned()))
        }
        Some(_) => None,
    };
    let Some(installation) = installation.filter(|_| refusal.is_none()) else {
        if let Some((kind, reason)) = refusal {
            for (index, metric) in batch.iter().enumerate() {
                report.reject(index, kind, key_text(metric), reason.clone());
            }
        }
        return Ok(Added {
            report,
            metrics: Vec::new(),
        });
    };

    let definitions = load_definitions(db, batch).await?;
    // To the microsecond, as stored, so that the rows answered equal the rows
    // read back.
    let now = Utc::now().trunc_subsecs(6);
    let mut checked = Vec::with_capacity(batch.len());
    for (index, metric) in batch.iter().enumerate() {
        match check(metric, &definitions, now) {
            Ok(c) => checked.push(Some(c)),
            Err(reason) => {
                report.reject(index, RejectionKind::Invalid, key_text(metric), reason);
                checked.push(None);
            }
        }
    }
    if !report.accepted() {
        return Ok(Added {
            report,
            metrics: Vec::new(),
        });
    }

    let keys: Vec<&str> = batch.iter().filter_map(|m| m.idempotency_key).collect();
    let stored = load_keyed(db, installation.id, &keys).await?;
    let plans = plan(batch, checked, &stored, &mut report);
    if !report.accepted() {
        return Ok(Added {
            report,
            metrics: Vec::new(),
        });
    }
    let planned: Vec<(&Checked, usize)> = plans
        .iter()
        .filter_map(|plan| match plan {
            Plan::Insert(c, index) => Some((c, *index)),
            _ => None,
        })
        .collect();
    Rollups::of(&planned)
        .check_range(db, &installation, &mut report)
        .await?;
    if !report.accepted() {
        return Ok(Added {
            report,
            metrics: Vec::new(),
        });
    }

    // One slot per input, so that a replay in the batch finds its first use.
    let mut out: Vec<Option<metrics::Model>> = Vec::with_capacity(batch.len());
    let mut written: Vec<(&Checked, usize)> = Vec::new();
    for (index, (metric, plan)) in batch.iter().zip(&plans).enumerate() {
        let row = match plan {
            Plan::Stored(row) => {
                report.unchanged += 1;
                Some(row.clone())
            }
            Plan::SameAs(first) => {
                report.unchanged += 1;
                out.get(*first).cloned().flatten()
            }
            Plan::Insert(checked, _) => {
                if let Some(row) =
                    insert(db, &installation, creator_id, metric, checked, now).await?
                {
                    report.inserted += 1;
                    written.push((checked, index));
                    Some(row)
                } else {
                    // Another transaction stored the key since it was looked up.
                    let key = metric.idempotency_key.unwrap_or_default();
                    match load_keyed(db, installation.id, &[key]).await?.remove(key) {
                        Some(row) if Content::of(&row) == checked.content => {
                            report.unchanged += 1;
                            Some(row)
                        }
                        _ => {
                            report.reject(index, RejectionKind::Conflict, key, key_conflict(key));
                            None
                        }
                    }
                }
            }
            Plan::Rejected => None,
        };
        out.push(row);
    }
    if !report.accepted() {
        return Ok(Added {
            report,
            metrics: Vec::new(),
        });
    }
    Rollups::of(&written).apply(db, &installation, now).await?;
    Ok(Added {
        report,
        metrics: out.into_iter().flatten().collect(),
    })
}

/// Decides, per checked metric, whether to insert it or answer with the metric
/// its idempotency key already names; rejects reuses of a key with other
/// content. One plan per input, in input order.
fn plan(
    batch: &[NewMetric<'_>],
    checked: Vec<Option<Checked>>,
    stored: &HashMap<String, metrics::Model>,
    report: &mut Report,
) -> Vec<Plan> {
    let mut first_use: HashMap<&str, usize> = HashMap::new();
    let mut plans: Vec<Plan> = Vec::with_capacity(batch.len());
    for (index, (metric, checked)) in batch.iter().zip(checked).enumerate() {
        let Some(checked) = checked else {
            plans.push(Plan::Rejected);
            continue;
        };
        let Some(key) = metric.idempotency_key else {
            plans.push(Plan::Insert(checked, index));
            continue;
        };
        let decided = if let Some(row) = stored.get(key) {
            (Content::of(row) == checked.content).then(|| Plan::Stored(row.clone()))
        } else if let Some(&first) = first_use.get(key) {
            match plans.get(first) {
                Some(Plan::Insert(earlier, _)) if earlier.content == checked.content => {
                    Some(Plan::SameAs(first))
                }
                _ => None,
            }
        } else {
            first_use.insert(key, index);
            Some(Plan::Insert(checked, index))
        };
        plans.push(decided.unwrap_or_else(|| {
            report.reject(index, RejectionKind::Conflict, key, key_conflict(key));
            Plan::Rejected
        }));
    }
    plans
}

/// The unit type name of every definition the batch names.
async fn load_definitions(
    db: &impl ConnectionTrait,
    batch: &[NewMetric<'_>],
) -> Result<HashMap<i64, String>, Error> {
    let mut ids: Vec<i64> = batch
        .iter()
        .filter_map(|m| parse_external_id(&m.input.metric_definition_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows = metric_definitions::Entity::find()
            .filter(metric_definitions::Column::Id.is_in(chunk.iter().copied()))
            .find_also_related(unit_types::Entity)
            .all(db)
            .await?;
        for (definition, unit) in rows {
            let unit = unit.ok_or_else(|| {
                Error::internal(&format!("metric definition {} has no unit", definition.id))
            })?;
            found.insert(definition.id, unit.name);
        }
    }
    Ok(found)
}

/// The stored metrics of `installation_id` carrying one of `keys`, by key.
async fn load_keyed(
    db: &impl ConnectionTrait,
    installation_id: i64,
    keys: &[&str],
) -> Result<HashMap<String, metrics::Model>, Error> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let rows = metrics::Entity::find()
            .filter(metrics::Column::InstallationId.eq(installation_id))
            .filter(metrics::Column::IdempotencyKey.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            if let Some(key) = row.idempotency_key.clone() {
                found.insert(key, row);
            }
        }
    }
    Ok(found)
}

/// Inserts one metric; `None` when its idempotency key was stored by another
/// transaction since it was looked up.
async fn insert(
    db: &impl ConnectionTrait,
    installation: &installations::Model,
    creator_id: Option<&str>,
    metric: &NewMetric<'_>,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<Option<metrics::Model>, Error> {
    let content = &checked.content;
    let mut model = metrics::Model {
        id: 0,
        installation_id: installation.id,
        project_id: installation.project_id,
        metric_definition_id: content.definition_id,
        period_start: content.start,
        period_end: content.end,
        value: content.value,
        user_id: content.user_id.clone(),
        group_id: content.group_id.clone(),
        creator_id: creator_id.map(str::to_owned),
        idempotency_key: metric.idempotency_key.map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    let mut row: metrics::ActiveModel = model.clone().into();
    row.id = NotSet;
    // `exec_with_returning` reports a row skipped by `DO NOTHING` as an
    // error, not as a conflict (sea-orm 2.0.4): take the id and build the row,
    // which holds exactly what was written.
    let result = metrics::Entity::insert(row)
        .on_conflict_do_nothing_on([
            metrics::Column::InstallationId,
            metrics::Column::IdempotencyKey,
            // The installation's project: the key includes the distribution
            // column on Citus (the installation alone decides it).
            metrics::Column::ProjectId,
        ])
        .exec(db)
        .await?;
    Ok(match result {
        TryInsertResult::Inserted(inserted) => {
            model.id = inserted.last_insert_id;
            Some(model)
        }
        TryInsertResult::Empty | TryInsertResult::Conflicted => None,
    })
}

/// A change to one `eosc_metric_daily` row.
#[derive(Debug, Default)]
struct DailySum {
    value: f64,
    count: i64,
}

/// A change to one usage row, exact.
#[derive(Debug, Default)]
struct UsageSum {
    micro: i128,
    count: i64,
    /// The batch positions of the metrics it sums.
    inputs: Vec<usize>,
}

impl UsageSum {
    fn add(&mut self, checked: &Checked, index: usize) {
        self.micro += i128::from(checked.micro);
        self.count += 1;
        self.inputs.push(index);
    }
}

/// The rollup changes of a batch's new metrics, summed per row.
struct Rollups {
    /// By (definition, day).
    daily: BTreeMap<(i64, NaiveDate), DailySum>,
    /// By (unit, day).
    usage_daily: BTreeMap<(String, NaiveDate), UsageSum>,
    /// By (unit, hour).
    usage_hourly: BTreeMap<(String, DateTime<Utc>), UsageSum>,
}

/// The start of `at`'s hour.
fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = i64::from(at.minute() * 60 + at.second());
    at - Duration::seconds(seconds) - Duration::nanoseconds(i64::from(at.nanosecond()))
}

/// The usage rollup key of an installation's EOSC usage in `unit` at `bucket`.
fn usage_key(installation: &installations::Model, unit: &str, bucket: sea_orm::Value) -> Key {
    Key(vec![
        installation.project_id.into(),
        "eosc".into(),
        "installation".into(),
        installation.id.into(),
        0_i64.into(),
        0_i64.into(),
        unit.to_owned().into(),
        USAGE_SCALE.into(),
        bucket,
    ])
}

impl Rollups {
    fn of(metrics: &[(&Checked, usize)]) -> Self {
        let mut rollups = Self {
            daily: BTreeMap::new(),
            usage_daily: BTreeMap::new(),
            usage_hourly: BTreeMap::new(),
        };
        for (checked, index) in metrics {
            let start = checked.content.start;
            let day = start.date_naive();
            let daily = rollups
                .daily
                .entry((checked.content.definition_id, day))
                .or_default();
            daily.value += checked.content.value;
            daily.count += 1;
            rollups
                .usage_daily
                .entry((checked.unit.clone(), day))
                .or_default()
                .add(checked, *index);
            rollups
                .usage_hourly
                .entry((checked.unit.clone(), hour_of(start)))
                .or_default()
                .add(checked, *index);
        }
        rollups
    }

    /// Rejects the metrics that would carry a usage total (or the batch's own
    /// change to it) out of the 64-bit range; the database would otherwise
    /// fail (PostgreSQL) or silently turn the total into a float (SQLite).
    async fn check_range(
        &self,
        db: &impl ConnectionTrait,
        installation: &installations::Model,
        report: &mut Report,
    ) -> Result<(), Error> {
        let fits = |stored: i64, delta: i128| {
            i64::try_from(delta).is_ok() && i64::try_from(i128::from(stored) + delta).is_ok()
        };
        // Each input is rejected once, for the first total it would break.
        let mut broken: BTreeMap<usize, (String, String)> = BTreeMap::new();
        let mut mark = |unit: &str, bucket: String, indexes: &[usize]| {
            for index in indexes {
                broken
                    .entry(*index)
                    .or_insert_with(|| (unit.to_owned(), bucket.clone()));
            }
        };
        let days: Vec<NaiveDate> = self.usage_daily.keys().map(|(_, d)| *d).collect();
        let mut stored: HashMap<(String, NaiveDate), i64> = HashMap::new();
        for chunk in days.chunks(CHUNK) {
            let rows = usage_daily::Entity::find()
                .filter(usage_daily::Column::ProjectId.eq(installation.project_id))
                .filter(usage_daily::Column::Source.eq("eosc"))
                .filter(usage_daily::Column::ResourceKind.eq("installation"))
                .filter(usage_daily::Column::ResourceId.eq(installation.id))
                .filter(usage_daily::Column::Scale.eq(USAGE_SCALE))
                .filter(usage_daily::Column::Day.is_in(chunk.iter().copied()))
                .all(db)
                .await?;
            for row in rows {
                if row.user_key == 0 && row.group_key == 0 {
                    stored.insert((row.unit, row.day), row.quantity);
                }
            }
        }
        for ((unit, day), sum) in &self.usage_daily {
            let old = stored.get(&(unit.clone(), *day)).copied().unwrap_or(0);
            if !fits(old, sum.micro) {
                mark(unit, day.to_string(), &sum.inputs);
            }
        }
        let hours: Vec<DateTime<Utc>> = self.usage_hourly.keys().map(|(_, h)| *h).collect();
        let mut stored: HashMap<(String, DateTime<Utc>), i64> = HashMap::new();
        for chunk in hours.chunks(CHUNK) {
            let rows = usage_hourly::Entity::find()
                .filter(usage_hourly::Column::ProjectId.eq(installation.project_id))
                .filter(usage_hourly::Column::Source.eq("eosc"))
                .filter(usage_hourly::Column::ResourceKind.eq("installation"))
                .filter(usage_hourly::Column::ResourceId.eq(installation.id))
                .filter(usage_hourly::Column::Scale.eq(USAGE_SCALE))
                .filter(usage_hourly::Column::Hour.is_in(chunk.iter().copied()))
                .all(db)
                .await?;
            for row in rows {
                if row.user_key == 0 && row.group_key == 0 {
                    stored.insert((row.unit, row.hour), row.quantity);
                }
            }
        }
        for ((unit, hour), sum) in &self.usage_hourly {
            let old = stored.get(&(unit.clone(), *hour)).copied().unwrap_or(0);
            if !fits(old, sum.micro) {
                mark(unit, hour.to_rfc3339(), &sum.inputs);
            }
        }
        for (index, (unit, bucket)) in broken {
            report.reject(
                index,
                RejectionKind::Invalid,
                format!("{unit}@{bucket}"),
                format!(
                    "the installation's total in {unit} for {bucket} would exceed the range \
                     Tally accounts."
                ),
            );
        }
        Ok(())
    }

    /// Writes the changes (after [`Self::check_range`] passed).
    async fn apply(
        &self,
        db: &impl ConnectionTrait,
        installation: &installations::Model,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let daily: Vec<_> = self.daily.iter().collect();
        for chunk in daily.chunks(CHUNK) {
            upsert_daily(db, installation, chunk, now).await?;
        }
        self.apply_usage(db, installation, now).await
    }

    /// Writes the usage tables' changes (negative ones lower existing rows).
    async fn apply_usage(
        &self,
        db: &impl ConnectionTrait,
        installation: &installations::Model,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (mut by_day, mut by_hour) = (Deltas::default(), Deltas::default());
        for ((unit, day), sum) in &self.usage_daily {
            let micro = i64::try_from(sum.micro).map_err(|e| Error::internal(&e))?;
            by_day.add(
                usage_key(installation, unit, (*day).into()),
                &[micro, sum.count],
            );
        }
        for ((unit, hour), sum) in &self.usage_hourly {
            let micro = i64::try_from(sum.micro).map_err(|e| Error::internal(&e))?;
            by_hour.add(
                usage_key(installation, unit, (*hour).into()),
                &[micro, sum.count],
            );
        }
        by_day.apply(db, &USAGE_DAILY, now).await?;
        by_hour.apply(db, &USAGE_HOURLY, now).await
    }
}

/// Adds (`remove` false) or removes (`remove` true) the contributions of
/// stored metrics `rows`, all of `installation`, to `eosc_metric_daily`,
/// `usage_daily` and `usage_hourly`, in the caller's transaction: what a
/// metric's update (remove the old row, add the new) or deletion (remove) must
/// do. Rows a removal leaves counting nothing are deleted, so the rollups hold
/// exactly the keys of the stored metrics, as after [`add_metrics`] alone.
///
/// # Errors
/// [`Error::BadRequest`] when adding would carry a usage total out of the range
/// Tally accounts; a database error.
pub async fn shift_rollups(
    db: &impl ConnectionTrait,
    installation: &installations::Model,
    rows: &[metrics::Model],
    remove: bool,
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = rows.iter().map(|r| r.metric_definition_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let units: HashMap<i64, String> = metric_definitions::Entity::find()
        .filter(metric_definitions::Column::Id.is_in(ids))
        .find_also_related(unit_types::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(d, u)| u.map(|u| (d.id, u.name)))
        .collect();
    let checked = rows
        .iter()
        .map(|row| {
            Ok(Checked {
                content: Content::of(row),
                micro: micro_units(row.value)
                    .ok_or_else(|| Error::internal(&format!("metric {} out of range", row.id)))?,
                unit: units
                    .get(&row.metric_definition_id)
                    .cloned()
                    .ok_or_else(|| Error::internal(&format!("metric {} has no unit", row.id)))?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let refs: Vec<(&Checked, usize)> = checked.iter().enumerate().map(|(i, c)| (c, i)).collect();
    let mut rollups = Rollups::of(&refs);
    let now = Utc::now().trunc_subsecs(6);
    if !remove {
        let mut report = Report::default();
        rollups.check_range(db, installation, &mut report).await?;
        if let Some(rejection) = report.rejected.into_iter().next() {
            return Err(Error::BadRequest(rejection.reason));
        }
        return rollups.apply(db, installation, now).await;
    }
    for sum in rollups
        .usage_daily
        .values_mut()
        .chain(rollups.usage_hourly.values_mut())
    {
        sum.micro = -sum.micro;
        sum.count = -sum.count;
    }
    // `eosc_metric_daily` keeps `metric_count` non-negative: the upsert's
    // proposed row would fail that check, so lower the rows in place.
    use eosc_metric_daily::Column as C;
    for ((definition, day), sum) in &rollups.daily {
        let mut update = Query::update();
        update
            .table(eosc_metric_daily::Entity)
            .value(C::ValueSum, Expr::col(C::ValueSum).sub(sum.value))
            .value(C::MetricCount, Expr::col(C::MetricCount).sub(sum.count))
            .value(C::UpdatedAt, Expr::val(now))
            .and_where(Expr::col(C::InstallationId).eq(installation.id))
            .and_where(Expr::col(C::ProjectId).eq(installation.project_id))
            .and_where(Expr::col(C::MetricDefinitionId).eq(*definition))
            .and_where(Expr::col(C::Day).eq(*day));
        db.execute(&update).await?;
    }
    let days: Vec<NaiveDate> = rollups.daily.keys().map(|(_, d)| *d).collect();
    let hours: Vec<DateTime<Utc>> = rollups.usage_hourly.keys().map(|(_, h)| *h).collect();
    rollups.apply_usage(db, installation, now).await?;
    eosc_metric_daily::Entity::delete_many()
        .filter(C::InstallationId.eq(installation.id))
        .filter(C::ProjectId.eq(installation.project_id))
        .filter(C::MetricCount.eq(0))
        .filter(C::Day.is_in(days.iter().copied()))
        .exec(db)
        .await?;
    usage_daily::Entity::delete_many()
        .filter(usage_daily::Column::ProjectId.eq(installation.project_id))
        .filter(usage_daily::Column::Source.eq("eosc"))
        .filter(usage_daily::Column::ResourceKind.eq("installation"))
        .filter(usage_daily::Column::ResourceId.eq(installation.id))
        .filter(usage_daily::Column::RecordCount.eq(0))
        .filter(usage_daily::Column::Day.is_in(days))
        .exec(db)
        .await?;
    usage_hourly::Entity::delete_many()
        .filter(usage_hourly::Column::ProjectId.eq(installation.project_id))
        .filter(usage_hourly::Column::Source.eq("eosc"))
        .filter(usage_hourly::Column::ResourceKind.eq("installation"))
        .filter(usage_hourly::Column::ResourceId.eq(installation.id))
        .filter(usage_hourly::Column::RecordCount.eq(0))
        .filter(usage_hourly::Column::Hour.is_in(hours))
        .exec(db)
        .await?;
    Ok(())
}

/// Adds daily sums to `eosc_metric_daily`: `rollup::Deltas` sums integers
/// only, and `value_sum` is a double. The same SQL on both backends.
async fn upsert_daily(
    db: &impl ConnectionTrait,
    installation: &installations::Model,
    rows: &[(&(i64, NaiveDate), &DailySum)],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    use eosc_metric_daily::Column as C;
    let mut insert = Query::insert();
    insert.into_table(eosc_metric_daily::Entity).columns([
        C::InstallationId,
        C::MetricDefinitionId,
        C::Day,
        C::ProjectId,
        C::ValueSum,
        C::MetricCount,
        C::UpdatedAt,
    ]);
    for ((definition, day), sum) in rows {
        insert
            .values([
                Expr::val(installation.id),
                Expr::val(*definition),
                Expr::val(*day),
                Expr::val(installation.project_id),
                Expr::val(sum.value),
                Expr::val(sum.count),
                Expr::val(now),
            ])
            .map_err(|e| Error::internal(&e))?;
    }
    insert.on_conflict(
        OnConflict::columns([
            C::InstallationId,
            C::MetricDefinitionId,
            C::Day,
            C::ProjectId,
        ])
        .value(
            C::ValueSum,
            Expr::cust("\"eosc_metric_daily\".\"value_sum\" + excluded.\"value_sum\""),
        )
        .value(
            C::MetricCount,
            Expr::cust("\"eosc_metric_daily\".\"metric_count\" + excluded.\"metric_count\""),
        )
        .value(C::UpdatedAt, Expr::cust("excluded.\"updated_at\""))
        .to_owned(),
    );
    db.execute(&insert).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<String> {
        parse_instant(text).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }

    #[test]
    fn instants_parse_as_java_does() {
        assert_eq!(
            at("2023-01-05T09:13:07Z").as_deref(),
            Some("2023-01-05T09:13:07Z")
        );
        assert_eq!(
            at("2023-01-05t09:13:07.5z").as_deref(),
            Some("2023-01-05T09:13:07.500Z")
        );
        assert_eq!(
            at("2023-01-05T09:13:07.123456789Z").as_deref(),
            Some("2023-01-05T09:13:07.123456Z"),
            "kept to the microsecond"
        );
        assert_eq!(
            at("2023-01-05T09:13:07.Z").as_deref(),
            Some("2023-01-05T09:13:07Z")
        );
        assert_eq!(
            at("2023-01-05T11:13:07+02:00").as_deref(),
            Some("2023-01-05T09:13:07Z")
        );
        assert_eq!(
            at("2023-01-05T09:13:07-00:30:15").as_deref(),
            Some("2023-01-05T09:43:22Z")
        );
        assert_eq!(
            at("2023-01-05T24:00:00Z").as_deref(),
            Some("2023-01-06T00:00:00Z")
        );
        assert_eq!(
            at("2016-12-31T23:59:60Z").as_deref(),
            Some("2016-12-31T23:59:59Z")
        );
        for bad in [
            "",
            "2023-01-05",
            "2023-01-05 09:13:07Z",
            "2023-01-05T09:13Z",
            "2023-01-05T09:13:07",
            "2023-01-05T09:13:07.1234567890Z",
            "2023-02-30T00:00:00Z",
            "2023-01-05T24:00:01Z",
            "2023-01-05T09:60:00Z",
            "2023-01-05T09:13:07+19:00",
            "2023-01-05T09:13:07+0200",
            "+2023-01-05T09:13:07Z",
            " 2023-01-05T09:13:07Z",
            "2023-01-05T09:13:07Z ",
            "２023-01-05T09:13:07Z",
            "2023-01-05T09:13:07ZZ",
        ] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn values_scale_half_even() {
        assert_eq!(micro_units(1.5), Some(1_500_000));
        assert_eq!(micro_units(0.000_002_5), Some(2));
        assert_eq!(micro_units(0.000_003_5), Some(4));
        assert_eq!(micro_units(-0.000_002_5), Some(-2));
        assert_eq!(micro_units(0.123_456_5), Some(123_456));
        assert_eq!(micro_units(1e-300), Some(0));
        assert_eq!(micro_units(-0.0), Some(0));
        assert_eq!(
            micro_units(9_223_372_036_854.775),
            Some(9_223_372_036_854_775_000)
        );
        assert_eq!(micro_units(9_223_372_036_855.0), None);
        assert_eq!(micro_units(-1e13), None);
        assert_eq!(micro_units(f64::NAN), None);
    }

    #[test]
    fn external_ids_round_trip() {
        assert_eq!(external_id(1), "000000000000000000000001");
        assert_eq!(parse_external_id("000000000000000000000001"), Some(1));
        assert_eq!(parse_external_id("00000000000000000000000A"), Some(10));
        assert_eq!(parse_external_id(&external_id(i64::MAX)), Some(i64::MAX));
        for bad in [
            "",
            "1",
            "000000000000000000000000",
            "00000000000000000000001",
            "0000000000000000000000001",
            "000000008000000000000000",
            "100000000000000000000001",
            "+00000000000000000000001",
            "00000000000000000000000g",
            "507f1f77bcf86cd799439011",
        ] {
            assert_eq!(parse_external_id(bad), None, "{bad:?}");
        }
    }
}
