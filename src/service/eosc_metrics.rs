//! EOSC metrics as the Accounting System's REST API serves them (eosc.md
//! §1.1 Metric, §1.2): one metric under its installation (create, read,
//! update, delete), the pages of metrics under an installation, a project, a
//! provider within a project, and a project's EOSC group or user.
//!
//! Ingestion itself is [`super::eosc::add_metrics`]; this module adds the
//! access checks of the REST routes (a caller's [`InstallationScope`], applied
//! inside the SQL), the update and deletion of a stored metric (which keep the
//! rollups exact in the same transaction, [`eosc::shift_rollups`]), and the
//! listings (one statement for the page, in metric id order through the
//! `(installation_id, id)` / `(project_id, …, id)` indexes, and one `COUNT`).
//!
//! Unlike upstream, a metric is found under its own installation only: the
//! metric of another installation is "There is no Metric with the following
//! id: X" (404), even when the caller may act on both.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound as _, Utc};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait as _, JoinType, Query, SelectStatement,
};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue, ColumnTrait as _, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait as _, IntoActiveModel as _, QueryFilter as _, QuerySelect as _,
    TransactionTrait as _,
};
use serde_json::Value;

use super::batch::{RejectionKind, Report};
use super::eosc::{
    self, FORBIDDEN, MetricInput, NewMetric, definition_not_found, installation_not_found,
    parse_external_id,
};
use super::eosc_catalogue::{self, Definition, Window};
use super::events::{Decision, EventBus};
use crate::auth::{Access, InstallationScope, ProjectScope};
use crate::entity::{
    eosc_metric_daily, installations, metric_definitions, metrics, project_providers, projects,
    providers,
};
use crate::error::Error;

/// Upstream's answer for a metric id that names nothing (404).
#[must_use]
pub fn metric_not_found(id: &str) -> String {
    format!("There is no Metric with the following id: {id}")
}

/// Upstream's answer for a project grant id that names nothing (404).
#[must_use]
pub fn project_not_found(id: &str) -> String {
    format!("There is no Project with the following id: {id}")
}

/// Upstream's answer for a provider id that names nothing (404).
#[must_use]
pub fn provider_not_found(id: &str) -> String {
    format!("There is no Provider with the following id: {id}")
}

/// The installation `id` (its EOSC id, as in the path) if the caller may act
/// on it: 404 when it names nothing, 403 when it is out of `scope` (checked
/// in SQL).
///
/// # Errors
/// [`Error::NotFound`], [`Error::Forbidden`] or a database error.
pub async fn installation(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    id: &str,
) -> Result<installations::Model, Error> {
    let Some(row_id) = parse_external_id(id) else {
        return Err(Error::NotFound(installation_not_found(id)));
    };
    let Some(found) = installations::Entity::find_by_id(row_id).one(db).await? else {
        return Err(Error::NotFound(installation_not_found(id)));
    };
    let allowed = installations::Entity::find()
        .filter(installations::Column::Id.eq(row_id))
        .filter(scope.condition(
            Expr::col((installations::Entity, installations::Column::ProjectId)),
            Expr::col((installations::Entity, installations::Column::ProviderId)),
            Expr::col((installations::Entity, installations::Column::Id)),
        ))
        .one(db)
        .await?
        .is_some();
    if allowed {
        Ok(found)
    } else {
        Err(Error::Forbidden(FORBIDDEN.to_owned()))
    }
}

/// Why one metric of a post was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// A referenced id names nothing (404 upstream).
    NotFound,
    /// The caller may not post for the installation (403).
    Forbidden,
    /// An idempotency key reused with other content (409).
    Conflict,
    /// Anything else (400).
    Invalid,
}

/// One refused metric of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its position in the post, from 0.
    pub index: usize,
    /// Why, broadly.
    pub kind: RefusalKind,
    /// Upstream's (or Tally's) message.
    pub message: String,
}

/// What a post of metrics did.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// Every metric stored (or, for a replayed idempotency key, found), in
    /// input order.
    Stored(Vec<metrics::Model>),
    /// Nothing was stored; the refused metrics, in input order.
    Refused(Vec<Refusal>),
}

fn refusals(report: &Report) -> Vec<Refusal> {
    report
        .rejected
        .iter()
        .map(|r| Refusal {
            index: r.index,
            kind: match r.kind {
                RejectionKind::Forbidden => RefusalKind::Forbidden,
                RejectionKind::Conflict => RefusalKind::Conflict,
                // `add_metrics` has no not-found kind: its 404s are the
                // messages "There is no …" (see its module doc).
                RejectionKind::Invalid if r.reason.starts_with("There is no ") => {
                    RefusalKind::NotFound
                }
                RejectionKind::Invalid => RefusalKind::Invalid,
            },
            message: r.reason.clone(),
        })
        .collect()
}

/// Posts `batch` (metrics with their optional idempotency keys) to the
/// installation `installation_id` (its EOSC id) for a caller who may write
/// metrics in `scope`, recorded as reported by `creator_id`; all or nothing,
/// in one transaction whose usage events `bus` publishes on commit.
///
/// # Errors
/// [`Error::NotFound`] / [`Error::Forbidden`] for the installation; a
/// database error.
pub async fn post(
    db: &DatabaseConnection,
    bus: &EventBus,
    scope: &InstallationScope,
    installation_id: &str,
    creator_id: Option<&str>,
    batch: &[(MetricInput, Option<String>)],
) -> Result<Posted, Error> {
    let target = installation(db, scope, installation_id).await?;
    let metrics: Vec<NewMetric<'_>> = batch
        .iter()
        .map(|(input, key)| NewMetric {
            input,
            idempotency_key: key.as_deref(),
        })
        .collect();
    let txn = db.begin().await?;
    bus.write(txn, async |txn| {
        // The installation scope was checked above; `add_metrics` checks a
        // project scope, which would refuse provider and installation admins.
        let added =
            eosc::add_metrics(txn, &ProjectScope::All, target.id, creator_id, &metrics).await?;
        Ok::<_, Error>(if added.report.accepted() {
            Decision::Commit(Posted::Stored(added.metrics))
        } else {
            Decision::RollBack(Posted::Refused(refusals(&added.report)))
        })
    })
    .await
}

/// The metric `metric_id` (EOSC id) of installation `installation_id` (EOSC
/// id), for a caller who may read metrics in `scope`.
///
/// # Errors
/// [`Error::NotFound`] / [`Error::Forbidden`]; a database error.
pub async fn get(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    installation_id: &str,
    metric_id: &str,
) -> Result<metrics::Model, Error> {
    let target = installation(db, scope, installation_id).await?;
    stored(db, &target, metric_id, false).await
}

/// The metric `metric_id` of `target`, locked for update on PostgreSQL.
async fn stored(
    db: &impl ConnectionTrait,
    target: &installations::Model,
    metric_id: &str,
    lock: bool,
) -> Result<metrics::Model, Error> {
    let Some(id) = parse_external_id(metric_id) else {
        return Err(Error::NotFound(metric_not_found(metric_id)));
    };
    let mut select = metrics::Entity::find()
        .filter(metrics::Column::Id.eq(id))
        .filter(metrics::Column::ProjectId.eq(target.project_id))
        .filter(metrics::Column::InstallationId.eq(target.id));
    if lock && db.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    select
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(metric_not_found(metric_id)))
}

/// A PATCH body (eosc.md §1.1): absent, null and empty fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct MetricPatch {
    /// A new metric definition (EOSC id).
    #[serde(default)]
    pub metric_definition_id: Option<String>,
    /// A new start.
    #[serde(default)]
    pub time_period_start: Option<String>,
    /// A new end.
    #[serde(default)]
    pub time_period_end: Option<String>,
    /// A new value.
    #[serde(default)]
    pub value: Option<Value>,
    /// A new EOSC group.
    #[serde(default)]
    pub group_id: Option<String>,
    /// A new EOSC user.
    #[serde(default)]
    pub user_id: Option<String>,
}

fn given(field: Option<&String>) -> Option<&str> {
    field.map(String::as_str).filter(|s| !s.is_empty())
}

const EQUAL: &str =
    "Timestamp of the starting date time cannot be equal to Timestamp of the end date time.";
const START_AFTER: &str =
    "Timestamp of the starting date time cannot be after of Timestamp of the end date time.";
const END_BEFORE: &str =
    "Timestamp of the end date time cannot be before of Timestamp of the starting date time.";

/// `row` with `patch` applied, or why not (upstream's messages, §4).
async fn patched(
    db: &impl ConnectionTrait,
    row: &metrics::Model,
    patch: &MetricPatch,
) -> Result<metrics::Model, Error> {
    let mut next = row.clone();
    if let Some(definition) = given(patch.metric_definition_id.as_ref()) {
        let found = match parse_external_id(definition) {
            Some(id) => metric_definitions::Entity::find_by_id(id).one(db).await?,
            None => None,
        };
        next.metric_definition_id = found
            .ok_or_else(|| Error::NotFound(definition_not_found(definition)))?
            .id;
    }
    let now = Utc::now();
    let instant = |text: &str, name: &str| {
        eosc::parse_instant(text).ok_or_else(|| {
            Error::BadRequest(format!(
                "{name} must be a valid zulu timestamp. found: {text}"
            ))
        })
    };
    let start = given(patch.time_period_start.as_ref())
        .map(|t| instant(t, "time_period_start"))
        .transpose()?;
    let end = given(patch.time_period_end.as_ref())
        .map(|t| instant(t, "time_period_end"))
        .transpose()?;
    if start.iter().chain(&end).any(|t| *t > now) {
        return Err(Error::BadRequest(
            "Timestamp cannot be after the current date-time.".to_owned(),
        ));
    }
    let ordered = |start: DateTime<Utc>, end: DateTime<Utc>, end_moved: bool| {
        if start == end {
            Err(Error::BadRequest(EQUAL.to_owned()))
        } else if start > end {
            Err(Error::BadRequest(
                if end_moved { END_BEFORE } else { START_AFTER }.to_owned(),
            ))
        } else {
            Ok(())
        }
    };
    match (start, end) {
        (Some(s), Some(e)) => ordered(s, e, false)?,
        (Some(s), None) => ordered(s, row.period_end, false)?,
        (None, Some(e)) => ordered(row.period_start, e, true)?,
        (None, None) => {}
    }
    next.period_start = start.unwrap_or(row.period_start);
    next.period_end = end.unwrap_or(row.period_end);
    if let Some(value) = patch.value.as_ref().filter(|v| !v.is_null() && *v != "") {
        let value = eosc::parse_value(Some(value)).map_err(Error::BadRequest)?;
        if eosc::micro_units(value).is_none() {
            return Err(Error::BadRequest(
                "value is out of range: Tally accounts values between -9223372036854.775808 \
                 and 9223372036854.775807."
                    .to_owned(),
            ));
        }
        next.value = value;
    }
    if let Some(group) = given(patch.group_id.as_ref()) {
        next.group_id = Some(group.to_owned());
    }
    if let Some(user) = given(patch.user_id.as_ref()) {
        next.user_id = Some(user.to_owned());
    }
    Ok(next)
}

/// Applies `patch` to the metric `metric_id` of installation
/// `installation_id` for a caller who may write metrics in `scope`, and moves
/// its contributions to the rollups in the same transaction.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Forbidden`], [`Error::BadRequest`] with
/// upstream's messages; a database error.
pub async fn update(
    db: &DatabaseConnection,
    bus: &EventBus,
    scope: &InstallationScope,
    installation_id: &str,
    metric_id: &str,
    patch: &MetricPatch,
) -> Result<metrics::Model, Error> {
    let target = installation(db, scope, installation_id).await?;
    let txn = db.begin().await?;
    bus.write(txn, async |txn| {
        let row = stored(txn, &target, metric_id, true).await?;
        let mut next = patched(txn, &row, patch).await?;
        if next == row {
            return Ok(Decision::Commit(row));
        }
        next.updated_at = Utc::now().trunc_subsecs(6);
        eosc::shift_rollups(txn, &target, std::slice::from_ref(&row), true).await?;
        let next = next.into_active_model().reset_all();
        let mut next = next;
        // The key (and Citus's distribution column) is not written: Citus
        // refuses an UPDATE that sets `project_id`, even to its value.
        next.id = ActiveValue::Unchanged(row.id);
        next.project_id = ActiveValue::Unchanged(row.project_id);
        let saved = next.update(txn).await?;
        eosc::shift_rollups(txn, &target, std::slice::from_ref(&saved), false).await?;
        Ok::<_, Error>(Decision::Commit(saved))
    })
    .await
}

/// Deletes the metric `metric_id` of installation `installation_id` for a
/// caller who may write metrics in `scope`, and removes its contributions to
/// the rollups in the same transaction.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Forbidden`]; a database error.
pub async fn delete(
    db: &DatabaseConnection,
    bus: &EventBus,
    scope: &InstallationScope,
    installation_id: &str,
    metric_id: &str,
) -> Result<(), Error> {
    let target = installation(db, scope, installation_id).await?;
    let txn = db.begin().await?;
    bus.write(txn, async |txn| {
        let row = stored(txn, &target, metric_id, true).await?;
        eosc::shift_rollups(txn, &target, std::slice::from_ref(&row), true).await?;
        metrics::Entity::delete_many()
            .filter(metrics::Column::Id.eq(row.id))
            .filter(metrics::Column::ProjectId.eq(row.project_id))
            .exec(txn)
            .await?;
        Ok::<_, Error>(Decision::Commit(()))
    })
    .await
}

/// Whose metrics a listing pages through (ids as in the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// An installation's (EOSC id).
    Installation(String),
    /// A project's (grant id).
    Project(String),
    /// A provider's within a project (grant id, provider id).
    Provider(String, String),
    /// A project's metrics of an EOSC group (grant id, group id).
    Group(String, String),
    /// A project's metrics of an EOSC user (grant id, user id).
    User(String, String),
}

/// The `start` / `end` filter of a listing (eosc.md §4 "Date-range query
/// params").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// Midnight of the `start` day.
    pub start: Option<DateTime<Utc>>,
    /// The `end` day.
    pub end: Option<NaiveDate>,
}

/// A metric as listed (upstream's `MetricProjection`).
#[derive(Debug, Clone, PartialEq)]
pub struct ListedMetric {
    /// The metric.
    pub id: i64,
    /// Start of its period.
    pub start: DateTime<Utc>,
    /// End of its period.
    pub end: DateTime<Utc>,
    /// Its value.
    pub value: f64,
    /// The project's acronym.
    pub project_acronym: Option<String>,
    /// The provider's text id.
    pub provider: String,
    /// The installation (row id).
    pub installation_id: i64,
    /// The project's grant id.
    pub project_grant: Option<String>,
    /// The installation's EOSC resource id.
    pub resource: Option<String>,
    /// Its EOSC group.
    pub group_id: Option<String>,
    /// Its EOSC user.
    pub user_id: Option<String>,
    /// Its definition (row id).
    pub definition_id: i64,
    /// The definition's name.
    pub definition_name: String,
    /// The definition's description.
    pub definition_description: Option<String>,
    /// The definition's unit type.
    pub unit_type: String,
    /// The definition's metric type.
    pub metric_type: String,
    /// The client that registered the definition.
    pub definition_creator: Option<String>,
}

/// What a filter of a listing or search restricts, beyond the caller's scope.
pub type Filter = Condition;

fn col(table: &str, column: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column)))
}

/// The listing's tables: metrics `m` with installation `i`, project `p`,
/// provider `pr`, definition `d`, unit type `u`, metric type `t`, resource `r`.
fn joined(select: &mut SelectStatement, full: bool) {
    select.from_as(metrics::Entity, Alias::new("m")).join_as(
        JoinType::InnerJoin,
        installations::Entity,
        Alias::new("i"),
        col("i", "id").equals((Alias::new("m"), Alias::new("installation_id"))),
    );
    if full {
        let on = |t: &str, c: &str, (ot, oc): (&str, &str)| {
            col(t, c).equals((Alias::new(ot), Alias::new(oc)))
        };
        select
            .join_as(
                JoinType::InnerJoin,
                projects::Entity,
                Alias::new("p"),
                on("p", "id", ("m", "project_id")),
            )
            .join_as(
                JoinType::InnerJoin,
                providers::Entity,
                Alias::new("pr"),
                on("pr", "id", ("i", "provider_id")),
            )
            .join_as(
                JoinType::InnerJoin,
                metric_definitions::Entity,
                Alias::new("d"),
                on("d", "id", ("m", "metric_definition_id")),
            )
            .join_as(
                JoinType::InnerJoin,
                Alias::new("unit_types"),
                Alias::new("u"),
                on("u", "id", ("d", "unit_type_id")),
            )
            .join_as(
                JoinType::InnerJoin,
                Alias::new("metric_types"),
                Alias::new("t"),
                on("t", "id", ("d", "metric_type_id")),
            )
            .join_as(
                JoinType::LeftJoin,
                Alias::new("eosc_resources"),
                Alias::new("r"),
                on("r", "id", ("i", "resource_id")),
            );
    }
}

/// The caller's scope over the listing's metrics (`m`, `i`).
#[must_use]
pub fn scope_condition(scope: &InstallationScope) -> Condition {
    scope.condition(
        col("m", "project_id"),
        col("i", "provider_id"),
        col("m", "installation_id"),
    )
}

/// Columns of the listing's tables a search may filter on, by upstream's
/// field name: the SQL expression (`m`, `i`, `p`, `pr` are joined).
#[must_use]
pub fn field(name: &str) -> Option<Expr> {
    Some(match name {
        "_id" | "id" | "metric_id" => col("m", "id"),
        "metric_definition_id" => col("m", "metric_definition_id"),
        "time_period_start" => col("m", "period_start"),
        "time_period_end" => col("m", "period_end"),
        "value" => col("m", "value"),
        "user_id" => col("m", "user_id"),
        "group_id" => col("m", "group_id"),
        "installation_id" => col("m", "installation_id"),
        "project_id" => col("p", "eosc_id"),
        "project" => col("p", "acronym"),
        "provider" => col("pr", "external_id"),
        "installation" => col("i", "installation"),
        "infrastructure" => col("i", "infrastructure"),
        "resource" => col("r", "external_id"),
        _ => return None,
    })
}

/// A page of the metrics matching `filter` in `scope`, by metric id, with the
/// total: one statement for the page, one `COUNT`.
///
/// # Errors
/// A database error.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    filter: Filter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ListedMetric>, u64), Error> {
    let condition = Condition::all().add(scope_condition(scope)).add(filter);
    let mut count = Query::select();
    joined(&mut count, true);
    count
        .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "total")
        .cond_where(condition.clone());
    let total: i64 = match db.query_one(&count).await? {
        Some(row) => row.try_get("", "total")?,
        None => 0,
    };
    let total = u64::try_from(total).unwrap_or(0);
    if offset >= total {
        return Ok((Vec::new(), total));
    }
    let mut select = Query::select();
    joined(&mut select, true);
    for (alias, table, column) in [
        ("id", "m", "id"),
        ("period_start", "m", "period_start"),
        ("period_end", "m", "period_end"),
        ("value", "m", "value"),
        ("acronym", "p", "acronym"),
        ("provider", "pr", "external_id"),
        ("installation_id", "m", "installation_id"),
        ("grant", "p", "eosc_id"),
        ("resource", "r", "external_id"),
        ("group_id", "m", "group_id"),
        ("user_id", "m", "user_id"),
        ("definition_id", "d", "id"),
        ("definition_name", "d", "name"),
        ("definition_description", "d", "description"),
        ("unit_type", "u", "name"),
        ("metric_type", "t", "name"),
        ("definition_creator", "d", "creator_id"),
    ] {
        select.expr_as(col(table, column), alias);
    }
    select
        .cond_where(condition)
        .order_by((Alias::new("m"), Alias::new("id")), sea_orm::Order::Asc)
        .limit(limit)
        .offset(offset);
    let mut out = Vec::new();
    for row in db.query_all(&select).await? {
        out.push(ListedMetric {
            id: row.try_get("", "id")?,
            start: row.try_get("", "period_start")?,
            end: row.try_get("", "period_end")?,
            value: row.try_get("", "value")?,
            project_acronym: row.try_get("", "acronym")?,
            provider: row.try_get("", "provider")?,
            installation_id: row.try_get("", "installation_id")?,
            project_grant: row.try_get("", "grant")?,
            resource: row.try_get("", "resource")?,
            group_id: row.try_get("", "group_id")?,
            user_id: row.try_get("", "user_id")?,
            definition_id: row.try_get("", "definition_id")?,
            definition_name: row.try_get("", "definition_name")?,
            definition_description: row.try_get("", "definition_description")?,
            unit_type: row.try_get("", "unit_type")?,
            metric_type: row.try_get("", "metric_type")?,
            definition_creator: row.try_get("", "definition_creator")?,
        });
    }
    Ok((out, total))
}

/// The project of grant id `grant` (and provider `provider` in it), if the
/// caller may read their metrics (upstream checks the project's ACL on
/// project routes, then the provider's on provider routes).
async fn project(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    grant: &str,
    provider: Option<&str>,
) -> Result<(projects::Model, Option<providers::Model>), Error> {
    let found = projects::Entity::find()
        .filter(projects::Column::EoscId.eq(grant))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(project_not_found(grant)))?;
    let (provider, pair) = match provider {
        Some(text) => {
            let provider = providers::Entity::find()
                .filter(providers::Column::ExternalId.eq(text))
                .one(db)
                .await?
                .ok_or_else(|| Error::NotFound(provider_not_found(text)))?;
            let pair = project_providers::Entity::find()
                .filter(project_providers::Column::ProjectId.eq(found.id))
                .filter(project_providers::Column::ProviderId.eq(provider.id))
                .one(db)
                .await?
                .map(|pp| pp.id);
            (Some(provider), pair)
        }
        None => (None, None),
    };
    if scope.contains(found.id, pair, None) {
        Ok((found, provider))
    } else {
        Err(Error::Forbidden(FORBIDDEN.to_owned()))
    }
}

/// A page of a listing's metrics for a caller who may read metrics in
/// `scope`: the path's ids are checked first (404 unknown, 403 out of scope),
/// then `period` and `definition` (an EOSC id; one that names nothing matches
/// nothing) filter the metrics, ordered by id.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Forbidden`]; a database error.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    listing: &Listing,
    period: Period,
    definition: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ListedMetric>, u64), Error> {
    let mut filter = under(db, scope, listing).await?;
    if let Some(definition) = definition {
        filter = filter
            .add(col("m", "metric_definition_id").eq(parse_external_id(definition).unwrap_or(0)));
    }
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    match (period.start, period.end.and_then(midnight)) {
        (Some(start), Some(end)) => {
            for column in ["period_start", "period_end"] {
                filter = filter
                    .add(col("m", column).gte(start))
                    .add(col("m", column).lte(end));
            }
        }
        (Some(start), None) => filter = filter.add(col("m", "period_start").gte(start)),
        (None, Some(end)) => {
            filter = filter.add(col("m", "period_end").lt(end + Duration::days(1)));
        }
        (None, None) => {}
    }
    page(db, scope, filter, offset, limit).await
}

/// The metric definitions used under a listing's project, provider or
/// installation (`GET …/metric-definitions`, eosc.md §1.2), a page by
/// definition id with the total. Read from the daily rollup, which has a row
/// per installation, definition and day with metrics (its primary key leads
/// with the installation), rather than from the metrics; a group's or user's
/// listing reads the metrics (the rollup has no such dimension).
///
/// # Errors
/// [`Error::NotFound`], [`Error::Forbidden`] as [`list`]; a database error.
pub async fn used_definitions(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    listing: &Listing,
    window: Window,
) -> Result<(Vec<Definition>, u64), Error> {
    let filter = under(db, scope, listing).await?;
    let mut used = Query::select();
    used.column((Alias::new("m"), Alias::new("metric_definition_id")));
    if matches!(listing, Listing::Group(..) | Listing::User(..)) {
        used.from_as(metrics::Entity, Alias::new("m"));
    } else {
        used.from_as(eosc_metric_daily::Entity, Alias::new("m"))
            .and_where(col("m", "metric_count").gt(0));
    }
    used.join_as(
        JoinType::InnerJoin,
        installations::Entity,
        Alias::new("i"),
        col("i", "id").equals((Alias::new("m"), Alias::new("installation_id"))),
    )
    .cond_where(Condition::all().add(scope_condition(scope)).add(filter));
    let condition = Condition::all().add(
        Expr::col((metric_definitions::Entity, metric_definitions::Column::Id)).in_subquery(used),
    );
    eosc_catalogue::list_definitions(db, Access::Always, "", condition, window).await
}

/// What a listing's path selects, over the metrics `m` and installations `i`
/// (or any table with their `project_id` / `installation_id` columns): the
/// path's ids are checked first (404 unknown, 403 out of `scope`).
async fn under(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    listing: &Listing,
) -> Result<Condition, Error> {
    let mut filter = Condition::all();
    match listing {
        Listing::Installation(id) => {
            let target = installation(db, scope, id).await?;
            filter = filter
                .add(col("m", "installation_id").eq(target.id))
                .add(col("m", "project_id").eq(target.project_id));
        }
        Listing::Project(grant) => {
            let (found, _) = project(db, scope, grant, None).await?;
            filter = filter.add(col("m", "project_id").eq(found.id));
        }
        Listing::Provider(grant, provider) => {
            let (found, provider) = project(db, scope, grant, Some(provider)).await?;
            filter = filter.add(col("m", "project_id").eq(found.id));
            if let Some(provider) = provider {
                filter = filter.add(col("i", "provider_id").eq(provider.id));
            }
        }
        Listing::Group(grant, group) => {
            let (found, _) = project(db, scope, grant, None).await?;
            filter = filter
                .add(col("m", "project_id").eq(found.id))
                .add(col("m", "group_id").eq(group.as_str()));
        }
        Listing::User(grant, user) => {
            let (found, _) = project(db, scope, grant, None).await?;
            filter = filter
                .add(col("m", "project_id").eq(found.id))
                .add(col("m", "user_id").eq(user.as_str()));
        }
    }
    Ok(filter)
}
