//! Usage amounts, `totalUsage` at every level, and the analytics roots
//! `usageSeries` and `usageTotals`, all read from the rollups.
//!
//! Daily rollups answer whole UTC days; hourly rollups answer everything else
//! (hour buckets, other time zones, periods that do not start at midnight UTC).
//! Buckets are computed in Rust from the rows' hours or days, in the requested
//! time zone, so the SQL is the same on PostgreSQL and SQLite.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{
    DateTime, Datelike as _, Duration, NaiveDate, NaiveDateTime, TimeZone as _, Timelike as _, Utc,
};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait as _, Query, SelectStatement};

use super::context::ContextExt as _;
use super::hpc::scope;
use super::id::GlobalId;
use super::limits::{rows_cost, split_rows};
use super::loader::{Db, gql};
use super::object::Project;
use crate::auth::ProjectScope;
use crate::error::Error;

/// The most points one `usageSeries` call returns.
pub(crate) const MAX_POINTS: usize = 10_000;

/// A period of whole UTC days, both ends included.
#[derive(InputObject, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Period {
    /// The first day.
    pub(crate) from: NaiveDate,
    /// The last day (included).
    pub(crate) to: NaiveDate,
}

impl Period {
    /// Every day there is.
    pub(crate) fn everything() -> Self {
        Self {
            from: NaiveDate::MIN,
            to: NaiveDate::MAX,
        }
    }

    /// The period's instants: `[from 00:00, to + 1 00:00)` UTC.
    pub(crate) fn instants(&self) -> async_graphql::Result<(DateTime<Utc>, DateTime<Utc>)> {
        self.check()?;
        let start = self.from.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let end = self
            .to
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc());
        match (start, end) {
            (Some(start), Some(end)) => Ok((start, end)),
            _ => Err(gql(Error::BadRequest(
                "the period is out of range".to_owned(),
            ))),
        }
    }

    /// How many days it holds (0 when it ends before it starts).
    pub(crate) fn days(&self) -> usize {
        usize::try_from((self.to - self.from).num_days().saturating_add(1)).unwrap_or(0)
    }

    fn check(&self) -> async_graphql::Result<()> {
        if self.to < self.from {
            return Err(gql(Error::BadRequest(
                "the period ends before it starts".to_owned(),
            )));
        }
        Ok(())
    }
}

/// An amount of usage in one unit.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub(crate) struct UsageAmount {
    /// Where it comes from: `hpc`, `cloud`, `eosc` or `storage`.
    source: String,
    /// The unit, e.g. `core_hour`, `node_hour`, `byte_hour`, `second` or an
    /// EOSC metric definition's unit. Amounts of different units are never added.
    unit: String,
    /// The amount, as a float (for charts).
    value: f64,
    /// The amount, exact, as decimal text.
    exact: String,
    /// How many source records it sums.
    records: i64,
}

impl UsageAmount {
    /// The amount `quantity / 10^scale` of `unit`.
    pub(crate) fn from_scaled(
        source: &str,
        unit: &str,
        quantity: i128,
        scale: u32,
        records: i64,
    ) -> Self {
        Self::of(
            source,
            unit,
            Decimal::try_from_i128_with_scale(quantity, scale).unwrap_or(Decimal::MAX),
            records,
        )
    }

    fn of(source: &str, unit: &str, amount: Decimal, records: i64) -> Self {
        let exact = amount.normalize().to_string();
        Self {
            source: source.to_owned(),
            unit: unit.to_owned(),
            value: exact.parse().unwrap_or(f64::NAN),
            exact,
            records,
        }
    }
}

/// The level a `totalUsage` is asked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Level {
    /// A project.
    Project,
    /// A cluster, within one project when reached through it.
    Cluster(Option<i64>),
    /// A node type, within one project when reached through it.
    NodeType(Option<i64>),
    /// A bucket.
    Bucket,
    /// A job (the sum of its tasks).
    Job,
    /// An EOSC installation.
    Installation,
    /// An APEL site, within one project when reached through it.
    Site(Option<i64>),
}

impl Level {
    /// The level without its project: keys of one shape share a statement.
    fn shape(self) -> Self {
        match self {
            Self::Cluster(Some(_)) => Self::Cluster(Some(0)),
            Self::NodeType(Some(_)) => Self::NodeType(Some(0)),
            Self::Site(Some(_)) => Self::Site(Some(0)),
            other => other,
        }
    }

    /// The project the object was reached through, or 0.
    fn context(self) -> i64 {
        match self {
            Self::Cluster(Some(p)) | Self::NodeType(Some(p)) | Self::Site(Some(p)) => p,
            _ => 0,
        }
    }
}

/// The usage of one object over a period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct UsageKey {
    level: Level,
    id: i64,
    period: Period,
}

/// One summed row: the object, its project context, source, unit, scale,
/// quantity, records.
type SumRow = (i64, i64, String, String, u32, i128, i64);

fn scope_condition(scope: &ProjectScope, column: Expr) -> Condition {
    match scope {
        ProjectScope::All => Condition::all(),
        ProjectScope::Only(ids) if ids.is_empty() => Condition::all().add(Expr::val(1).eq(0)),
        ProjectScope::Only(ids) => Condition::all().add(column.is_in(ids.iter().copied())),
    }
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

fn sum(name: &str) -> Expr {
    // CAST keeps the sum an integer on PostgreSQL (SUM(bigint) is numeric).
    Expr::cust(format!("CAST(SUM(\"{name}\") AS BIGINT)"))
}

impl Db {
    async fn sums(&self, select: &SelectStatement) -> Result<Vec<SumRow>, Error> {
        let mut out = Vec::new();
        for row in self.db.query_all(select).await? {
            let scale: i32 = row.try_get("", "scale")?;
            let quantity: i64 = row.try_get("", "quantity")?;
            out.push((
                row.try_get("", "k")?,
                row.try_get("", "c")?,
                row.try_get("", "source")?,
                row.try_get("", "unit")?,
                u32::try_from(scale).unwrap_or(0),
                i128::from(quantity),
                row.try_get("", "records")?,
            ));
        }
        Ok(out)
    }

    fn usage_select(
        &self,
        level: Level,
        ids: &[i64],
        contexts: &[i64],
        period: Period,
    ) -> SelectStatement {
        // The project the object was reached through, when it was.
        let context = |select: &mut SelectStatement| {
            if contexts.is_empty() {
                select.expr_as(Expr::val(0_i64), "c");
            } else {
                select
                    .expr_as(col("project_id"), "c")
                    .and_where(col("project_id").is_in(contexts.iter().copied()))
                    .group_by_col(Alias::new("project_id"));
            }
        };
        let days = |select: &mut SelectStatement, column: &str| {
            if period != Period::everything() {
                select
                    .and_where(col(column).gte(period.from))
                    .and_where(col(column).lte(period.to));
            }
        };
        let mut select = Query::select();
        match level {
            Level::Project
            | Level::NodeType(_)
            | Level::Bucket
            | Level::Installation
            | Level::Site(_) => {
                let (key, kind) = match level {
                    Level::Project => ("project_id", None),
                    Level::NodeType(_) => ("resource_id", Some("node_type")),
                    Level::Installation => ("resource_id", Some("installation")),
                    Level::Site(_) => ("resource_id", Some("site")),
                    _ => ("resource_id", Some("bucket")),
                };
                select
                    .from(Alias::new("usage_daily"))
                    .expr_as(col(key), "k")
                    .column(Alias::new("source"))
                    .column(Alias::new("unit"))
                    .expr_as(Expr::cust("CAST(scale AS INTEGER)"), "scale")
                    .expr_as(sum("quantity"), "quantity")
                    .expr_as(sum("record_count"), "records")
                    .and_where(col(key).is_in(ids.iter().copied()))
                    .cond_where(scope_condition(&self.scope, col("project_id")))
                    .group_by_col(Alias::new(key))
                    .group_by_col(Alias::new("source"))
                    .group_by_col(Alias::new("unit"))
                    .group_by_col(Alias::new("scale"));
                if let Some(kind) = kind {
                    select.and_where(col("resource_kind").eq(kind));
                }
                context(&mut select);
                days(&mut select, "day");
            }
            Level::Cluster(_) => {
                select
                    .from(Alias::new("hpc_usage_daily"))
                    .expr_as(col("cluster_id"), "k")
                    .expr_as(Expr::val("hpc"), "source")
                    .column(Alias::new("unit"))
                    .expr_as(Expr::val(3), "scale")
                    .expr_as(sum("usage_milli"), "quantity")
                    .expr_as(sum("task_count"), "records")
                    .and_where(col("cluster_id").is_in(ids.iter().copied()))
                    .cond_where(scope_condition(&self.scope, col("project_id")))
                    .group_by_col(Alias::new("cluster_id"))
                    .group_by_col(Alias::new("unit"));
                context(&mut select);
                days(&mut select, "day");
            }
            Level::Job => {
                select
                    .from(Alias::new("tasks"))
                    .expr_as(col("job_id"), "k")
                    .expr_as(Expr::val("hpc"), "source")
                    .expr_as(col("usage_unit"), "unit")
                    .expr_as(Expr::val(3), "scale")
                    .expr_as(sum("usage_milli"), "quantity")
                    .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "records")
                    .and_where(col("job_id").is_in(ids.iter().copied()))
                    .and_where(col("usage_status").eq("computed"))
                    .cond_where(scope_condition(&self.scope, col("project_id")))
                    .group_by_col(Alias::new("job_id"))
                    .group_by_col(Alias::new("usage_unit"));
                context(&mut select);
            }
        }
        select
    }
}

impl Loader<UsageKey> for Db {
    type Value = Vec<UsageAmount>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[UsageKey],
    ) -> Result<HashMap<UsageKey, Vec<UsageAmount>>, async_graphql::Error> {
        let mut groups: HashMap<(Level, Period), Vec<&UsageKey>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.level.shape(), key.period))
                .or_default()
                .push(key);
        }
        let mut answer: HashMap<UsageKey, Vec<UsageAmount>> = HashMap::new();
        for ((level, period), wanted) in groups {
            let ids: Vec<i64> = wanted.iter().map(|k| k.id).collect();
            let contexts: Vec<i64> = wanted
                .iter()
                .map(|k| k.level.context())
                .filter(|c| *c != 0)
                .collect();
            let select = self.usage_select(level, &ids, &contexts, period);
            type Group = (i64, i64, String, String);
            let mut per: BTreeMap<Group, (Decimal, i64)> = BTreeMap::new();
            for (k, c, source, unit, scale, quantity, records) in
                self.sums(&select).await.map_err(gql)?
            {
                let amount = Decimal::try_from_i128_with_scale(quantity, scale)
                    .map_err(|_| gql(Error::internal(&"usage sum out of range")))?;
                let entry = per.entry((k, c, source, unit)).or_default();
                entry.0 += amount;
                entry.1 += records;
            }
            for key in wanted {
                let (id, c) = (key.id, key.level.context());
                answer.insert(
                    key.clone(),
                    per.range((id, c, String::new(), String::new())..)
                        .take_while(|((k, kc, _, _), _)| *k == id && *kc == c)
                        .map(|((_, _, source, unit), (amount, records))| {
                            UsageAmount::of(source, unit, *amount, *records)
                        })
                        .collect(),
                );
            }
        }
        Ok(answer)
    }
}

/// The usage of object `id` at `level` over `period`, one amount per source
/// and unit, through the request's loader.
pub(crate) async fn total_usage(
    ctx: &Context<'_>,
    level: Level,
    id: i64,
    period: Period,
) -> async_graphql::Result<Vec<UsageAmount>> {
    period.check()?;
    Ok(ctx
        .request()?
        .loaders
        .load_one(UsageKey { level, id, period })
        .await?
        .unwrap_or_default())
}

/// A source of usage.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum UsageSource {
    /// HPC jobs and tasks.
    Hpc,
    /// Cloud VMs (APEL).
    Cloud,
    /// EOSC service metrics.
    Eosc,
    /// Storage buckets.
    Storage,
}

impl UsageSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hpc => "hpc",
            Self::Cloud => "cloud",
            Self::Eosc => "eosc",
            Self::Storage => "storage",
        }
    }
}

/// A dimension usage can be grouped by (the unit always is).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum UsageDimension {
    /// The project.
    Project,
    /// The source.
    Source,
    /// The resource: node type, site, installation or bucket.
    Resource,
    /// The user, when known.
    User,
    /// The user group, when known.
    Group,
}

/// A time bucket of a series.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimeBucket {
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// One week, from Monday.
    Week,
    /// One calendar month.
    Month,
    /// One calendar year.
    Year,
}

impl TimeBucket {
    /// About how long one bucket is, in hours (for cost estimates).
    const fn hours(self) -> i64 {
        match self {
            Self::Hour => 1,
            Self::Day => 24,
            Self::Week => 24 * 7,
            Self::Month => 24 * 28,
            Self::Year => 24 * 365,
        }
    }
}

/// The cost of a `usageSeries` or `usageTotals` call: its expected points
/// (the buckets of the period, or one, times the groups) times `child`.
pub(crate) fn series_cost(
    filter: &UsageFilter,
    bucket: Option<TimeBucket>,
    group_by: Option<&Vec<UsageDimension>>,
    child_complexity: usize,
) -> usize {
    let buckets: usize = bucket.map_or(1, |bucket| {
        let hours = Ord::max((filter.to - filter.from).num_hours(), 0) / bucket.hours() + 1;
        usize::try_from(hours).unwrap_or(usize::MAX)
    });
    let groups = split_rows(group_by.map_or(0, Vec::len));
    rows_cost(buckets.saturating_mul(groups), child_complexity)
}

/// Which usage to sum: every given condition must hold.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct UsageFilter {
    /// Only these projects (global ids).
    projects: Option<Vec<ID>>,
    /// Only these sources.
    sources: Option<Vec<UsageSource>>,
    /// Only these resources (global ids of node types, sites, installations
    /// or buckets).
    resources: Option<Vec<ID>>,
    /// Only these users (global ids).
    users: Option<Vec<ID>>,
    /// Only these groups (global ids).
    groups: Option<Vec<ID>>,
    /// Only these units.
    units: Option<Vec<String>>,
    /// From this instant (included).
    from: DateTime<Utc>,
    /// To this instant (excluded).
    to: DateTime<Utc>,
}

const RESOURCE_KINDS: &[(&str, &str)] = &[
    ("NodeType", "node_type"),
    ("Site", "site"),
    ("Installation", "installation"),
    ("Bucket", "bucket"),
];

fn ids_of(ids: &[ID], kind: &str, field: &str) -> async_graphql::Result<Vec<i64>> {
    if ids.len() > super::filter::MAX_IN {
        return Err(gql(Error::LimitExceeded(format!(
            "filter.{field} holds more than {} ids",
            super::filter::MAX_IN
        ))));
    }
    ids.iter()
        .map(|id| {
            GlobalId::id_of(id, kind).ok_or_else(|| {
                gql(Error::BadRequest(format!(
                    "filter.{field}: {:?} is not the id of a {kind}",
                    id.as_str()
                )))
            })
        })
        .collect()
}

impl UsageFilter {
    fn condition(&self, scope: &ProjectScope) -> async_graphql::Result<Condition> {
        if self.to <= self.from {
            return Err(gql(Error::BadRequest(
                "filter.to must be after filter.from".to_owned(),
            )));
        }
        let mut all = scope_condition(scope, col("project_id"));
        if let Some(ids) = &self.projects {
            all = all.add(col("project_id").is_in(ids_of(ids, "Project", "projects")?));
        }
        if let Some(sources) = &self.sources {
            all = all.add(col("source").is_in(sources.iter().map(|s| s.as_str())));
        }
        if let Some(ids) = &self.resources {
            let mut any = Condition::any();
            for id in ids {
                let decoded = GlobalId::decode(id)
                    .and_then(|g| {
                        RESOURCE_KINDS
                            .iter()
                            .find(|(name, _)| *name == g.kind)
                            .map(|(_, kind)| (*kind, g.id))
                    })
                    .ok_or_else(|| {
                        gql(Error::BadRequest(format!(
                            "filter.resources: {:?} is not the id of a node type, site, installation or bucket",
                            id.as_str()
                        )))
                    })?;
                any = any.add(
                    Condition::all()
                        .add(col("resource_kind").eq(decoded.0))
                        .add(col("resource_id").eq(decoded.1)),
                );
            }
            if ids.is_empty() {
                any = any.add(Expr::val(1).eq(0));
            }
            all = all.add(any);
        }
        if let Some(ids) = &self.users {
            all = all.add(col("user_key").is_in(ids_of(ids, "User", "users")?));
        }
        if let Some(ids) = &self.groups {
            all = all.add(col("group_key").is_in(ids_of(ids, "Group", "groups")?));
        }
        if let Some(units) = &self.units {
            all = all.add(col("unit").is_in(units.iter().cloned()));
        }
        Ok(all)
    }
}

/// The resource a series or total is about.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct UsageResource {
    /// `NodeType`, `Site`, `Installation` or `Bucket`.
    kind: String,
    /// The resource's global id.
    id: ID,
}

/// The dimensions of one series or total; a dimension not grouped by is null.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
struct Dims {
    project: Option<i64>,
    source: Option<String>,
    resource: Option<(String, i64)>,
    user: Option<i64>,
    group: Option<i64>,
    unit: String,
}

/// What a series or total is about.
#[derive(Clone, Debug)]
pub(crate) struct UsageGroup(Dims);

/// What a series or total is about; a dimension not grouped by is null.
#[Object]
impl UsageGroup {
    /// The project, when grouped by project.
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        let Some(id) = self.0.project else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(super::loader::ById::<crate::entity::projects::Entity>::new(
                id,
            ))
            .await?;
        Ok(row.map(Project))
    }

    /// The source, when grouped by source.
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }

    /// The resource, when grouped by resource.
    async fn resource(&self) -> Option<UsageResource> {
        self.0.resource.as_ref().map(|(kind, id)| {
            let name = RESOURCE_KINDS
                .iter()
                .find(|(_, k)| k == kind)
                .map_or("Resource", |(name, _)| name);
            UsageResource {
                kind: name.to_owned(),
                id: GlobalId::encode(name, *id),
            }
        })
    }

    /// The user's global id, when grouped by user and the user is known.
    async fn user(&self) -> Option<ID> {
        self.0
            .user
            .filter(|u| *u != 0)
            .map(|u| GlobalId::encode("User", u))
    }

    /// The group's global id, when grouped by group and the group is known.
    async fn group(&self) -> Option<ID> {
        self.0
            .group
            .filter(|g| *g != 0)
            .map(|g| GlobalId::encode("Group", g))
    }

    /// The unit.
    async fn unit(&self) -> &str {
        &self.0.unit
    }
}

/// One point of a series.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct UsagePoint {
    /// The bucket's first instant.
    bucket_start: DateTime<Utc>,
    /// The bucket's end (excluded): the next bucket's start.
    bucket_end: DateTime<Utc>,
    /// The unit.
    unit: String,
    /// The amount, as a float (for charts).
    value: f64,
    /// The amount, exact, as decimal text.
    exact: String,
}

/// The usage of one group over time.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct UsageSeries {
    /// What the series is about.
    group: UsageGroup,
    /// One point per bucket of the period, zero where nothing was used.
    points: Vec<UsagePoint>,
}

/// The usage of one group over the whole period.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct UsageTotal {
    /// What the total is about.
    group: UsageGroup,
    /// The amount.
    amount: UsageAmount,
}

/// A bucket's start in `tz` for the local time of `instant`.
fn bucket_start(instant: DateTime<Utc>, bucket: TimeBucket, tz: Tz) -> DateTime<Utc> {
    let local = instant.with_timezone(&tz).naive_local();
    let date = local.date();
    let truncated: NaiveDateTime = match bucket {
        TimeBucket::Hour => {
            return instant
                - Duration::seconds(i64::from(instant.minute() * 60 + instant.second()))
                - Duration::nanoseconds(i64::from(instant.nanosecond()));
        }
        TimeBucket::Day => date.into(),
        TimeBucket::Week => {
            (date - Duration::days(i64::from(date.weekday().num_days_from_monday()))).into()
        }
        TimeBucket::Month => date.with_day(1).unwrap_or(date).into(),
        TimeBucket::Year => date.with_ordinal(1).unwrap_or(date).into(),
    };
    local_to_utc(truncated, tz)
}

fn local_to_utc(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    // A local midnight skipped by a DST change starts at the first instant after it.
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::hours(1);
    }
    local.and_utc()
}

fn next_bucket(start: DateTime<Utc>, bucket: TimeBucket, tz: Tz) -> DateTime<Utc> {
    let local = start.with_timezone(&tz).naive_local();
    let date = local.date();
    let next: NaiveDateTime = match bucket {
        TimeBucket::Hour => return start + Duration::hours(1),
        TimeBucket::Day => (date + Duration::days(1)).into(),
        TimeBucket::Week => (date + Duration::days(7)).into(),
        TimeBucket::Month => date
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
            .into(),
        TimeBucket::Year => date
            .checked_add_months(chrono::Months::new(12))
            .unwrap_or(NaiveDate::MAX)
            .into(),
    };
    local_to_utc(next, tz)
}

/// The grouped, summed rows of the rollups over the filter.
async fn grouped_rows(
    ctx: &Context<'_>,
    filter: &UsageFilter,
    group_by: &[UsageDimension],
    hourly: bool,
) -> async_graphql::Result<Vec<(Dims, DateTime<Utc>, Decimal, i64)>> {
    let scope = scope(ctx)?;
    let db = &ctx.request()?.db;
    let (table, time) = if hourly {
        ("usage_hourly", "hour")
    } else {
        ("usage_daily", "day")
    };
    let mut select = Query::select();
    select
        .from(Alias::new(table))
        .cond_where(filter.condition(&scope)?);
    if hourly {
        select
            .and_where(col("hour").gte(filter.from))
            .and_where(col("hour").lt(filter.to));
    } else {
        select
            .and_where(col("day").gte(filter.from.date_naive()))
            .and_where(col("day").lt(filter.to.date_naive()));
    }
    let dims: Vec<&str> = group_by
        .iter()
        .flat_map(|d| match d {
            UsageDimension::Project => vec!["project_id"],
            UsageDimension::Source => vec!["source"],
            UsageDimension::Resource => vec!["resource_kind", "resource_id"],
            UsageDimension::User => vec!["user_key"],
            UsageDimension::Group => vec!["group_key"],
        })
        .chain(["unit", "scale", time])
        .collect();
    for dim in &dims {
        select
            .column(Alias::new(*dim))
            .group_by_col(Alias::new(*dim));
    }
    select
        .expr_as(sum("quantity"), "quantity")
        .expr_as(sum("record_count"), "records");
    let rows = db.query_all(&select).await.map_err(|e| gql(e.into()))?;
    let mut out = Vec::with_capacity(rows.len());
    let read = |row: &sea_orm::QueryResult| -> Result<_, sea_orm::DbErr> {
        let has = |d: UsageDimension| group_by.contains(&d);
        let dims = Dims {
            project: if has(UsageDimension::Project) {
                Some(row.try_get("", "project_id")?)
            } else {
                None
            },
            source: if has(UsageDimension::Source) {
                Some(row.try_get("", "source")?)
            } else {
                None
            },
            resource: if has(UsageDimension::Resource) {
                Some((
                    row.try_get("", "resource_kind")?,
                    row.try_get("", "resource_id")?,
                ))
            } else {
                None
            },
            user: if has(UsageDimension::User) {
                Some(row.try_get("", "user_key")?)
            } else {
                None
            },
            group: if has(UsageDimension::Group) {
                Some(row.try_get("", "group_key")?)
            } else {
                None
            },
            unit: row.try_get("", "unit")?,
        };
        let at: DateTime<Utc> = if hourly {
            row.try_get("", "hour")?
        } else {
            let day: NaiveDate = row.try_get("", "day")?;
            day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
        };
        let scale: i16 = row.try_get("", "scale")?;
        let quantity: i64 = row.try_get("", "quantity")?;
        let records: i64 = row.try_get("", "records")?;
        Ok((dims, at, scale, quantity, records))
    };
    for row in &rows {
        let (dims, at, scale, quantity, records) = read(row).map_err(|e| gql(e.into()))?;
        let amount = Decimal::try_from_i128_with_scale(
            i128::from(quantity),
            u32::try_from(scale).unwrap_or(0),
        )
        .map_err(|_| gql(Error::internal(&"usage sum out of range")))?;
        out.push((dims, at, amount, records));
    }
    Ok(out)
}

fn is_midnight(t: DateTime<Utc>) -> bool {
    t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0
}

fn group_by_unique(group_by: Option<Vec<UsageDimension>>) -> Vec<UsageDimension> {
    let mut dims = group_by.unwrap_or_default();
    dims.sort_by_key(|d| *d as u8);
    dims.dedup();
    dims
}

/// The analytics roots.
#[derive(Default)]
pub(crate) struct UsageQuery;

/// The analytics roots.
#[Object]
impl UsageQuery {
    /// Usage over time for charts: one series per group, one point per bucket
    /// of `[filter.from, filter.to)` in `timeZone`, zero where nothing was used.
    /// Only the projects the caller may see are summed. At most 10,000 points
    /// (series × buckets) per call. Requires authentication.
    #[graphql(
        complexity = "series_cost(&filter, Some(bucket), group_by.as_ref(), child_complexity)"
    )]
    async fn usage_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which usage: projects, sources, resources, users, groups and the time range."
        )]
        filter: UsageFilter,
        #[graphql(desc = "The length of each point: an hour, day, week, month or year.")]
        bucket: TimeBucket,
        #[graphql(desc = "An IANA time zone, e.g. `Europe/Prague` (default UTC).")]
        time_zone: Option<String>,
        #[graphql(desc = "Dimensions to split by; the unit always splits.")] group_by: Option<
            Vec<UsageDimension>,
        >,
    ) -> async_graphql::Result<Vec<UsageSeries>> {
        let tz: Tz = match time_zone.as_deref() {
            None => Tz::UTC,
            Some(name) => name.parse().map_err(|_| {
                gql(Error::BadRequest(format!(
                    "{name:?} is not an IANA time zone"
                )))
            })?,
        };
        let group_by = group_by_unique(group_by);
        if filter.to <= filter.from {
            return Err(gql(Error::BadRequest(
                "filter.to must be after filter.from".to_owned(),
            )));
        }
        // The buckets of the period.
        let mut starts = Vec::new();
        let mut at = bucket_start(filter.from, bucket, tz);
        while at < filter.to {
            if starts.len() == MAX_POINTS {
                return Err(gql(Error::LimitExceeded(format!(
                    "the period holds more than {MAX_POINTS} {bucket:?} buckets; use a larger bucket or a shorter period"
                ))));
            }
            starts.push(at);
            at = next_bucket(at, bucket, tz);
        }
        let hourly = bucket == TimeBucket::Hour
            || tz != Tz::UTC
            || !is_midnight(filter.from)
            || !is_midnight(filter.to);
        let rows = grouped_rows(ctx, &filter, &group_by, hourly).await?;
        let mut series: BTreeMap<Dims, BTreeMap<DateTime<Utc>, Decimal>> = BTreeMap::new();
        for (dims, at, amount, _) in rows {
            *series
                .entry(dims)
                .or_default()
                .entry(bucket_start(at, bucket, tz))
                .or_default() += amount;
        }
        if series.len().saturating_mul(starts.len()) > MAX_POINTS {
            return Err(gql(Error::LimitExceeded(format!(
                "{} series of {} buckets exceed {MAX_POINTS} points; filter more, group by less or use a larger bucket",
                series.len(),
                starts.len()
            ))));
        }
        Ok(series
            .into_iter()
            .map(|(dims, values)| {
                let points = starts
                    .iter()
                    .map(|start| {
                        let amount = values.get(start).copied().unwrap_or_default();
                        let exact = amount.normalize().to_string();
                        UsagePoint {
                            bucket_start: *start,
                            bucket_end: next_bucket(*start, bucket, tz),
                            unit: dims.unit.clone(),
                            value: exact.parse().unwrap_or(f64::NAN),
                            exact,
                        }
                    })
                    .collect();
                UsageSeries {
                    group: UsageGroup(dims),
                    points,
                }
            })
            .collect())
    }

    /// Usage summed over `[filter.from, filter.to)`, one total per group.
    /// Only the projects the caller may see are summed. Requires
    /// authentication.
    #[graphql(complexity = "series_cost(&filter, None, group_by.as_ref(), child_complexity)")]
    async fn usage_totals(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which usage: projects, sources, resources, users, groups and the time range."
        )]
        filter: UsageFilter,
        #[graphql(desc = "Dimensions to split by; the unit always splits.")] group_by: Option<
            Vec<UsageDimension>,
        >,
    ) -> async_graphql::Result<Vec<UsageTotal>> {
        let group_by = group_by_unique(group_by);
        let hourly = !is_midnight(filter.from) || !is_midnight(filter.to);
        let rows = grouped_rows(ctx, &filter, &group_by, hourly).await?;
        let mut totals: BTreeMap<Dims, (Decimal, i64)> = BTreeMap::new();
        for (dims, _, amount, records) in rows {
            let entry = totals.entry(dims).or_default();
            entry.0 += amount;
            entry.1 += records;
        }
        Ok(totals
            .into_iter()
            .map(|(dims, (amount, records))| UsageTotal {
                amount: UsageAmount::of(
                    dims.source.as_deref().unwrap_or("all"),
                    &dims.unit,
                    amount,
                    records,
                ),
                group: UsageGroup(dims),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn buckets_follow_the_time_zone_and_the_calendar() {
        let prague: Tz = "Europe/Prague".parse().unwrap();
        assert_eq!(
            bucket_start(t("2026-03-01T23:30:00Z"), TimeBucket::Day, prague),
            t("2026-03-01T23:00:00Z")
        );
        assert_eq!(
            bucket_start(t("2026-03-04T10:00:00Z"), TimeBucket::Week, Tz::UTC),
            t("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            bucket_start(t("2026-03-04T10:15:00Z"), TimeBucket::Hour, prague),
            t("2026-03-04T10:00:00Z")
        );
        assert_eq!(
            next_bucket(t("2026-01-01T00:00:00Z"), TimeBucket::Month, Tz::UTC),
            t("2026-02-01T00:00:00Z")
        );
        // A DST day in Prague has 23 hours.
        let day = bucket_start(t("2026-03-29T12:00:00Z"), TimeBucket::Day, prague);
        assert_eq!(
            next_bucket(day, TimeBucket::Day, prague) - day,
            Duration::hours(23)
        );
        assert_eq!(
            next_bucket(t("2026-01-01T00:00:00Z"), TimeBucket::Year, Tz::UTC),
            t("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn amounts_are_exact() {
        let amount = UsageAmount::from_scaled("hpc", "core_hour", 1500, 3, 2);
        assert_eq!(amount.exact, "1.5");
        assert!((amount.value - 1.5).abs() < f64::EPSILON);
    }
}
