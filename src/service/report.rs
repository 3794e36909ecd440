//! The report engine: every usage report Tally serves asks it, and nothing else
//! sums usage.
//!
//! A [`UsageQuery`] names a period (or all time), a [`TimeBucket`] in a time
//! zone, a [`Filter`] and the [`Dimension`]s to group by (the unit always
//! splits: amounts of different units are never added). [`usage`] answers it
//! from the rollups with one statement, the caller's [`ProjectScope`] applied
//! inside the SQL, and returns typed [`UsageRow`]s, summed exactly.
//!
//! Which rows it reads follows from the question:
//!
//! | asked for | read from | grain |
//! |---|---|---|
//! | project, source, resource (node type, site, installation, bucket), user, group | `usage_daily`, or `usage_hourly` when a bucket is an hour, the time zone is not UTC or the period does not start and end at midnight UTC | day / hour |
//! | cluster or sub-project (HPC) | `hpc_usage_daily` | UTC day |
//! | whole HPC jobs inside a period (HEAppE), by anything but job or group | `hpc_job_usage_monthly` for the jobs inside the period's whole UTC months, `hpc_job_usage` for those inside its other whole UTC days, the raw rows for the jobs at its edges (one statement per part) | the months, or the days, the job started and ended |
//! | job (HPC) | the jobs' computed tasks (raw facts: a drill-down, not a total) | the job's whole life |
//!
//! Time buckets are computed in Rust ([`crate::domain::time_bucket`]) from each
//! row's hour or day, so the SQL is the same on both backends.
//!
//! Callers are thin: `GET /api/v1/usage` (one row per project, source and unit),
//! GraphQL's `totalUsage` at every level (grouped by the level's object),
//! `usageTotals` and `usageSeries`. The compatibility reports are meant to be
//! the same kind of adapter: HEAppE's per-node-type and per-job trees group by
//! [`Dimension::Resource`] / [`Dimension::Job`] within a project and
//! sub-project filter, EOSC's totals group by installation ([`ResourceKind::Installation`])
//! and project, APEL's daily summaries and HCP's per-bucket intervals group by
//! site or bucket with a [`TimeBucket`].

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Datelike as _, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait as _, JoinType, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, FromQueryResult};

use super::jobs::month_of;
use crate::auth::ProjectScope;
pub use crate::domain::time_bucket::TimeBucket;
use crate::domain::time_bucket::is_midnight;
use crate::error::Error;

/// A source of usage. Declared in the order of their names, so that rows sort
/// as they did by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Cloud VMs (APEL).
    Cloud,
    /// EOSC service metrics.
    Eosc,
    /// HPC jobs and tasks.
    Hpc,
    /// Storage buckets.
    Storage,
}

impl Source {
    /// The name stored in the rollups.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hpc => "hpc",
            Self::Cloud => "cloud",
            Self::Eosc => "eosc",
            Self::Storage => "storage",
        }
    }
}

impl FromStr for Source {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "hpc" => Ok(Self::Hpc),
            "cloud" => Ok(Self::Cloud),
            "eosc" => Ok(Self::Eosc),
            "storage" => Ok(Self::Storage),
            other => Err(Error::internal(&format!(
                "a usage rollup holds the unknown source {other:?}"
            ))),
        }
    }
}

/// The kind of resource a usage row is about (in the order of their names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// A storage bucket.
    Bucket,
    /// An EOSC installation.
    Installation,
    /// An HPC node type.
    NodeType,
    /// An APEL cloud site.
    Site,
}

impl ResourceKind {
    /// The name stored in the rollups.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NodeType => "node_type",
            Self::Site => "site",
            Self::Installation => "installation",
            Self::Bucket => "bucket",
        }
    }
}

impl FromStr for ResourceKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "node_type" => Ok(Self::NodeType),
            "site" => Ok(Self::Site),
            "installation" => Ok(Self::Installation),
            "bucket" => Ok(Self::Bucket),
            other => Err(Error::internal(&format!(
                "a usage rollup holds the unknown resource kind {other:?}"
            ))),
        }
    }
}

/// What usage can be grouped by (the unit always is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// The project.
    Project,
    /// The source.
    Source,
    /// The resource: node type, site, installation or bucket.
    Resource,
    /// The user (an HPC job's submitter, a bucket's owner), 0 when unknown.
    User,
    /// The user group, 0 when unknown.
    Group,
    /// The HPC cluster.
    Cluster,
    /// The HPC sub-project, 0 for jobs without one.
    SubProject,
    /// The HPC job.
    Job,
}

/// A period `[from, to)`, `from` before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Span {
    /// The instants `[from, to)`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] when `to` is not after `from`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, Error> {
        if to <= from {
            return Err(Error::BadRequest(format!(
                "the period ends ({to}) before it starts ({from})"
            )));
        }
        Ok(Self { from, to })
    }

    /// The UTC days `from ..= to`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] when `to` is before `from` or the days are out of
    /// range.
    pub fn days(from: NaiveDate, to: NaiveDate) -> Result<Self, Error> {
        if to < from {
            return Err(Error::BadRequest(format!(
                "the period ends ({to}) before it starts ({from})"
            )));
        }
        let start = from.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let end = to
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc());
        match (start, end) {
            (Some(from), Some(to)) => Ok(Self { from, to }),
            _ => Err(Error::BadRequest(format!(
                "the period {from} to {to} is out of range"
            ))),
        }
    }

    /// The first instant.
    #[must_use]
    pub const fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// The end (excluded).
    #[must_use]
    pub const fn to(&self) -> DateTime<Utc> {
        self.to
    }

    fn whole_utc_days(&self) -> bool {
        is_midnight(self.from) && is_midnight(self.to)
    }
}

/// Which usage to sum: every condition given must hold; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Only these projects.
    pub projects: Option<Vec<i64>>,
    /// Only these sources.
    pub sources: Option<Vec<Source>>,
    /// Only these resources.
    pub resources: Option<Vec<(ResourceKind, i64)>>,
    /// Only these users.
    pub users: Option<Vec<i64>>,
    /// Only these user groups.
    pub groups: Option<Vec<i64>>,
    /// Only these units.
    pub units: Option<Vec<String>>,
    /// Only these HPC clusters.
    pub clusters: Option<Vec<i64>>,
    /// Only these HPC sub-projects (0: jobs without one).
    pub sub_projects: Option<Vec<i64>>,
    /// Only these HPC jobs.
    pub jobs: Option<Vec<i64>>,
}

/// Which usage a period holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Attribution {
    /// Usage as it happened in the period (rollups: a task's usage is spread
    /// over the hours it ran).
    #[default]
    WhenUsed,
    /// The whole usage of the HPC jobs that lie entirely inside the period
    /// (started at or after its start, ended at or before its end), read from
    /// their tasks: HEAppE's reports (heappe.md §1.2).
    WholeJobsInside,
}

/// A question for the report engine.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    /// The period; `None` for all time.
    pub span: Option<Span>,
    /// What of the period's usage counts.
    pub attribution: Attribution,
    /// The length of each bucket; [`TimeBucket::Total`] for one per group.
    pub bucket: TimeBucket,
    /// The time zone buckets follow.
    pub time_zone: Tz,
    /// Which usage.
    pub filter: Filter,
    /// What to group by besides the unit.
    pub group_by: Vec<Dimension>,
}

impl UsageQuery {
    /// Totals over `span` (or all time) grouped by `group_by`, in UTC.
    #[must_use]
    pub fn totals(span: Option<Span>, filter: Filter, group_by: Vec<Dimension>) -> Self {
        Self {
            span,
            attribution: Attribution::WhenUsed,
            bucket: TimeBucket::Total,
            time_zone: Tz::UTC,
            filter,
            group_by,
        }
    }

    fn wants(&self, dimension: Dimension) -> bool {
        self.group_by.contains(&dimension)
    }
}

/// The dimensions of one row; a dimension not grouped by is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    /// The project.
    pub project: Option<i64>,
    /// The source.
    pub source: Option<Source>,
    /// The resource.
    pub resource: Option<(ResourceKind, i64)>,
    /// The user, 0 when unknown.
    pub user: Option<i64>,
    /// The user group, 0 when unknown.
    pub group: Option<i64>,
    /// The HPC cluster.
    pub cluster: Option<i64>,
    /// The HPC sub-project, 0 when none.
    pub sub_project: Option<i64>,
    /// The HPC job.
    pub job: Option<i64>,
    /// The unit.
    pub unit: String,
}

/// One answer of the engine: a group's usage in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// What it is about.
    pub group: Group,
    /// The bucket's start; `None` for [`TimeBucket::Total`].
    pub bucket: Option<DateTime<Utc>>,
    /// The amount, exact.
    pub amount: Decimal,
    /// How many facts it sums.
    pub records: i64,
}

/// The rows a question is answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// `usage_daily` or `usage_hourly`.
    Cross { hourly: bool },
    /// `hpc_usage_daily`.
    Hpc,
    /// `hpc_job_usage` (or `hpc_job_usage_monthly`): whole jobs, by the days
    /// (months) they started and ended.
    HpcJobs(JobDays),
    /// Computed `tasks` with their `jobs`; with `edges`, only the jobs of a
    /// period that [`Table::HpcJobs`] cannot place.
    Tasks { edges: Option<Edge> },
}

/// Which rows of the whole-jobs rollups a statement reads: the jobs that
/// started in `starts` and ended in `ends`, by day or by month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JobDays {
    /// `hpc_job_usage_monthly` (the days are the first of their months)
    /// rather than `hpc_job_usage`.
    monthly: bool,
    starts: Days,
    ends: Days,
}

/// Days `from` (inclusive) `before` (exclusive); unbounded where `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Days {
    from: Option<NaiveDate>,
    before: Option<NaiveDate>,
}

impl Days {
    const ALL: Self = Self {
        from: None,
        before: None,
    };

    const fn new(from: Option<NaiveDate>, before: Option<NaiveDate>) -> Self {
        Self { from, before }
    }
}

impl JobDays {
    /// Every job that started and ended (all time: the monthly rows).
    const ALL: Self = Self {
        monthly: true,
        starts: Days::ALL,
        ends: Days::ALL,
    };
}

/// The jobs at a period's edges, which whole UTC days cannot place: asked
/// one edge per statement, so that each reads one index range of `jobs` and
/// joins the tasks of the few jobs it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// The jobs that ended at or after this midnight (of the day the period
    /// ends in).
    Ends(DateTime<Utc>),
    /// The jobs that started before the first midnight (on the period's
    /// first, partial day) and ended before the second.
    Starts(DateTime<Utc>, DateTime<Utc>),
}

impl Table {
    fn choose(query: &UsageQuery) -> Result<Self, Error> {
        let filter = &query.filter;
        let hourly = query.bucket == TimeBucket::Hour
            || (query.bucket != TimeBucket::Total && query.time_zone != Tz::UTC)
            || query.span.is_some_and(|span| !span.whole_utc_days());
        let per_job = query.wants(Dimension::Job) || filter.jobs.is_some();
        let whole_jobs = query.attribution == Attribution::WholeJobsInside;
        if per_job || whole_jobs {
            if query.bucket != TimeBucket::Total {
                return Err(Error::BadRequest(
                    "usage per job is its tasks' whole usage: ask for totals, not time buckets"
                        .to_owned(),
                ));
            }
            if query.span.is_some() && query.attribution != Attribution::WholeJobsInside {
                return Err(Error::BadRequest(
                    "usage per job over a period counts the jobs that lie entirely inside it: ask for whole jobs"
                        .to_owned(),
                ));
            }
            // Whole jobs are summed by the days they started and ended, except
            // per job and per user group (which that rollup does not keep).
            let raw = per_job || query.wants(Dimension::Group) || filter.groups.is_some();
            return Ok(if raw {
                Self::Tasks { edges: None }
            } else {
                Self::HpcJobs(JobDays::ALL)
            });
        }
        let hpc_only = query.wants(Dimension::Cluster)
            || query.wants(Dimension::SubProject)
            || filter.clusters.is_some()
            || filter.sub_projects.is_some();
        if hpc_only {
            if hourly {
                return Err(Error::BadRequest(
                    "usage per cluster or sub-project is kept per UTC day: ask for whole UTC days, in UTC, in buckets of a day or longer"
                        .to_owned(),
                ));
            }
            if query.wants(Dimension::Group) || filter.groups.is_some() {
                return Err(Error::BadRequest(
                    "usage per cluster or sub-project is not kept per user group".to_owned(),
                ));
            }
            return Ok(Self::Hpc);
        }
        Ok(Self::Cross { hourly })
    }
}

/// How each output column reads from a table: an SQL expression to group by
/// (identifiers quoted, valid on both backends), or a constant when the table
/// has one value for it.
#[derive(Clone, Copy)]
enum Col {
    /// An expression over the table's columns.
    Sql(&'static str),
    /// The same text on every row.
    Text(&'static str),
    /// The same number on every row.
    Int(i32),
    /// The table does not have it.
    Missing,
}

/// Where a table keeps each dimension and amount.
struct Layout {
    /// The table's name (in messages).
    name: &'static str,
    project: &'static str,
    source: Col,
    resource_kind: Col,
    resource_id: Col,
    user: Col,
    group: Col,
    cluster: Col,
    sub_project: Col,
    job: Col,
    unit: &'static str,
    /// The decimal scale of `quantity`.
    scale: Col,
    /// The `day` or `hour` column; `None` for raw tasks.
    time: Option<(&'static str, &'static str)>,
    /// The expression summed.
    quantity: &'static str,
    /// The expression summed as the number of facts, or `None` to count rows.
    records: Option<&'static str>,
}

impl Table {
    const fn layout(self) -> Layout {
        match self {
            Self::Cross { hourly } => Layout {
                name: if hourly {
                    "usage_hourly"
                } else {
                    "usage_daily"
                },
                project: r#""project_id""#,
                source: Col::Sql(r#""source""#),
                resource_kind: Col::Sql(r#""resource_kind""#),
                resource_id: Col::Sql(r#""resource_id""#),
                user: Col::Sql(r#""user_key""#),
                group: Col::Sql(r#""group_key""#),
                cluster: Col::Missing,
                sub_project: Col::Missing,
                job: Col::Missing,
                unit: r#""unit""#,
                scale: Col::Sql(r#""scale""#),
                time: Some(if hourly {
                    ("hour", r#""hour""#)
                } else {
                    ("day", r#""day""#)
                }),
                quantity: r#""quantity""#,
                records: Some(r#""record_count""#),
            },
            Self::Hpc => Layout {
                name: "hpc_usage_daily",
                project: r#""project_id""#,
                source: Col::Text("hpc"),
                resource_kind: Col::Text("node_type"),
                resource_id: Col::Sql(r#""node_type_id""#),
                user: Col::Sql(r#""submitter_key""#),
                group: Col::Missing,
                cluster: Col::Sql(r#""cluster_id""#),
                sub_project: Col::Sql(r#""sub_project_key""#),
                job: Col::Missing,
                unit: r#""unit""#,
                // HEAppE rounds usage to three decimals: usage_milli.
                scale: Col::Int(3),
                time: Some(("day", r#""day""#)),
                quantity: r#""usage_milli""#,
                records: Some(r#""task_count""#),
            },
            Self::HpcJobs(days) => Layout {
                name: if days.monthly {
                    "hpc_job_usage_monthly"
                } else {
                    "hpc_job_usage"
                },
                project: r#""project_id""#,
                source: Col::Text("hpc"),
                resource_kind: Col::Text("node_type"),
                resource_id: Col::Sql(r#""node_type_id""#),
                user: Col::Sql(r#""submitter_key""#),
                group: Col::Missing,
                cluster: Col::Sql(r#""cluster_id""#),
                sub_project: Col::Sql(r#""sub_project_key""#),
                job: Col::Missing,
                unit: r#""unit""#,
                scale: Col::Int(3),
                time: None,
                quantity: r#""usage_milli""#,
                records: Some(r#""task_count""#),
            },
            Self::Tasks { .. } => Layout {
                name: "tasks",
                project: r#""t"."project_id""#,
                source: Col::Text("hpc"),
                resource_kind: Col::Text("node_type"),
                resource_id: Col::Sql(r#"COALESCE("t"."node_type_id", 0)"#),
                user: Col::Sql(r#"COALESCE("j"."submitter_id", 0)"#),
                group: Col::Sql(r#"COALESCE("j"."group_id", 0)"#),
                cluster: Col::Sql(r#""j"."cluster_id""#),
                sub_project: Col::Sql(r#"COALESCE("j"."sub_project_id", 0)"#),
                job: Col::Sql(r#""t"."job_id""#),
                unit: r#""t"."usage_unit""#,
                scale: Col::Int(3),
                time: None,
                quantity: r#""t"."usage_milli""#,
                records: None,
            },
        }
    }
}

/// One grouped, summed row as the statement returns it. Columns not grouped
/// by hold a placeholder (0 or ''), read back as `None` from the query.
#[derive(Debug, FromQueryResult)]
struct SumRow {
    project_id: i64,
    source: String,
    resource_kind: String,
    resource_id: i64,
    user_key: i64,
    group_key: i64,
    cluster_id: i64,
    sub_project_key: i64,
    job_id: i64,
    unit: String,
    scale: i32,
    day: Option<NaiveDate>,
    hour: Option<DateTime<Utc>>,
    quantity: i64,
    records: i64,
}

fn sql(expression: &str) -> Expr {
    Expr::cust(expression.to_owned())
}

/// `SUM(expression)` as a 64-bit integer on both backends (PostgreSQL's
/// `SUM(bigint)` is `numeric`; a sum past 2^63 is an error, never wrapped).
fn sum(expression: &str) -> Expr {
    Expr::cust(format!("CAST(SUM({expression}) AS BIGINT)"))
}

/// The condition "`column` is one of `values`": always true for a constant
/// that `matches_constant`, false for a column the table does not have
/// (nothing it holds matches).
fn one_of<V: Into<sea_orm::Value> + Clone>(
    column: Col,
    values: &[V],
    matches_constant: impl Fn(&Col) -> bool,
) -> Condition {
    match column {
        Col::Sql(expression) => Condition::all().add(sql(expression).is_in(values.iter().cloned())),
        constant if matches_constant(&constant) => Condition::all(),
        _ => Condition::all().add(Expr::val(1).eq(0)),
    }
}

/// The midnights that split `span` for [`Table::HpcJobs`]: the first UTC day
/// that starts inside it, and the day its end falls in. A job that started on
/// or after the first and ended before the second lies inside the span.
fn whole_days(span: Span) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |at: DateTime<Utc>| {
        at.date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(at, |t| t.and_utc())
    };
    let first = if is_midnight(span.from) {
        span.from
    } else {
        midnight(span.from) + chrono::TimeDelta::days(1)
    };
    (first, midnight(span.to))
}

/// The first day of the first whole month from `first` and of the month
/// `last` falls in, when at least one whole month lies between.
fn whole_months(first: NaiveDate, last: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let start = if first.day() == 1 {
        first
    } else {
        month_of(first).checked_add_months(Months::new(1))?
    };
    let end = month_of(last);
    (start < end).then_some((start, end))
}

/// The statements that answer `query` from `table`: one, except for whole
/// jobs over a period. Those inside its whole UTC months come from the
/// monthly rollup, those inside its other whole UTC days from the daily one
/// (the days before the first whole month, by the day they started; after the
/// last, by the day they ended: each an index range), and those at its
/// ragged edges from the raw rows. The parts are disjoint.
fn parts(table: Table, query: &UsageQuery) -> Vec<Table> {
    match (table, query.span) {
        (Table::HpcJobs(_), Some(span)) => {
            let (first, last) = whole_days(span);
            let (first_day, last_day) = (first.date_naive(), last.date_naive());
            let daily = |starts, ends| {
                Table::HpcJobs(JobDays {
                    monthly: false,
                    starts,
                    ends,
                })
            };
            let mut parts = Vec::new();
            if let Some((first_month, last_month)) = whole_months(first_day, last_day) {
                parts.push(Table::HpcJobs(JobDays {
                    monthly: true,
                    starts: Days::new(Some(first_month), None),
                    ends: Days::new(None, Some(last_month)),
                }));
                if first_day < first_month {
                    parts.push(daily(
                        Days::new(Some(first_day), Some(first_month)),
                        Days::new(None, Some(last_day)),
                    ));
                }
                if last_month < last_day {
                    parts.push(daily(
                        Days::new(Some(first_month), None),
                        Days::new(Some(last_month), Some(last_day)),
                    ));
                }
            } else if first_day < last_day {
                parts.push(daily(
                    Days::new(Some(first_day), None),
                    Days::new(None, Some(last_day)),
                ));
            }
            parts.push(Table::Tasks {
                edges: Some(Edge::Ends(last)),
            });
            if first > span.from {
                parts.push(Table::Tasks {
                    edges: Some(Edge::Starts(first, last)),
                });
            }
            parts
        }
        _ => vec![table],
    }
}

fn from(select: &mut SelectStatement, query: &UsageQuery, table: Table) {
    let layout = table.layout();
    match table {
        Table::Cross { .. } | Table::Hpc => {
            select.from(Alias::new(layout.name));
        }
        Table::HpcJobs(days) => {
            select.from(Alias::new(layout.name));
            let (start, end) = if days.monthly {
                (r#""start_month""#, r#""end_month""#)
            } else {
                (r#""start_day""#, r#""end_day""#)
            };
            for (column, range) in [(start, days.starts), (end, days.ends)] {
                if let Some(from) = range.from {
                    select.and_where(sql(column).gte(from));
                }
                if let Some(before) = range.before {
                    select.and_where(sql(column).lt(before));
                }
            }
        }
        Table::Tasks { edges } => {
            // The job carries the cluster, sub-project, submitter, group and
            // times; `project_id` in the join keeps it on the task's shard.
            select
                .from_as(Alias::new("tasks"), Alias::new("t"))
                .join_as(
                    JoinType::InnerJoin,
                    Alias::new("jobs"),
                    Alias::new("j"),
                    Condition::all()
                        .add(sql(r#""j"."id""#).eq(sql(r#""t"."job_id""#)))
                        .add(sql(r#""j"."project_id""#).eq(sql(r#""t"."project_id""#))),
                )
                .and_where(sql(r#""t"."usage_status""#).eq("computed"));
            if let Some(span) = query.span {
                // `end_time >= from` follows from the others; said, it bounds
                // the index range to the jobs that ended in the period.
                select
                    .and_where(sql(r#""j"."start_time""#).gte(span.from))
                    .and_where(sql(r#""j"."end_time""#).gte(span.from))
                    .and_where(sql(r#""j"."end_time""#).lte(span.to));
            } else if query.attribution == Attribution::WholeJobsInside {
                // All time: the jobs that started and ended.
                select
                    .and_where(sql(r#""j"."start_time""#).is_not_null())
                    .and_where(sql(r#""j"."end_time""#).is_not_null());
            }
            match edges {
                Some(Edge::Ends(last)) => {
                    select.and_where(sql(r#""j"."end_time""#).gte(last));
                }
                Some(Edge::Starts(first, last)) => {
                    select
                        .and_where(sql(r#""j"."start_time""#).lt(first))
                        .and_where(sql(r#""j"."end_time""#).lt(last));
                }
                None => {}
            }
        }
    }
    if let (Some(span), Some((name, column))) = (query.span, layout.time) {
        if name == "hour" {
            select
                .and_where(sql(column).gte(span.from))
                .and_where(sql(column).lt(span.to));
        } else {
            select
                .and_where(sql(column).gte(span.from.date_naive()))
                .and_where(sql(column).lt(span.to.date_naive()));
        }
    }
}

fn statement(query: &UsageQuery, scope: &ProjectScope, table: Table) -> SelectStatement {
    let layout = table.layout();
    let filter = &query.filter;
    let mut select = Query::select();
    from(&mut select, query, table);
    select.cond_where(scope.condition(sql(layout.project)));
    if matches!(table, Table::Tasks { .. }) {
        // Said of the job too, so that its indexes can drive the join.
        select.cond_where(scope.condition(sql(r#""j"."project_id""#)));
    }

    // Output columns: grouped ones read the table, the others a placeholder.
    let wants = |d| query.wants(d);
    let outputs = [
        (
            "project_id",
            Col::Sql(layout.project),
            wants(Dimension::Project),
            false,
        ),
        ("source", layout.source, wants(Dimension::Source), true),
        (
            "resource_kind",
            layout.resource_kind,
            wants(Dimension::Resource),
            true,
        ),
        (
            "resource_id",
            layout.resource_id,
            wants(Dimension::Resource),
            false,
        ),
        ("user_key", layout.user, wants(Dimension::User), false),
        ("group_key", layout.group, wants(Dimension::Group), false),
        (
            "cluster_id",
            layout.cluster,
            wants(Dimension::Cluster),
            false,
        ),
        (
            "sub_project_key",
            layout.sub_project,
            wants(Dimension::SubProject),
            false,
        ),
        ("job_id", layout.job, wants(Dimension::Job), false),
        ("unit", Col::Sql(layout.unit), true, true),
        ("scale", layout.scale, true, false),
    ];
    for (alias, column, grouped, text) in outputs {
        let value = match (column, grouped) {
            (Col::Sql(expression), true) => {
                select.add_group_by([sql(expression)]);
                if alias == "scale" {
                    Expr::cust(format!("CAST({expression} AS INTEGER)"))
                } else {
                    sql(expression)
                }
            }
            (Col::Text(value), true) => Expr::val(value),
            (Col::Int(value), true) if alias == "scale" => Expr::val(value),
            (Col::Int(value), true) => Expr::val(i64::from(value)),
            _ if text => Expr::val(""),
            _ => Expr::val(0_i64),
        };
        select.expr_as(value, Alias::new(alias));
    }
    let bucketed = query.bucket != TimeBucket::Total;
    for (name, null) in [
        ("day", "CAST(NULL AS DATE)"),
        ("hour", "CAST(NULL AS TIMESTAMPTZ)"),
    ] {
        match layout.time {
            Some((time, column)) if bucketed && time == name => {
                select
                    .expr_as(sql(column), Alias::new(name))
                    .add_group_by([sql(column)]);
            }
            _ => {
                select.expr_as(Expr::cust(null), Alias::new(name));
            }
        }
    }
    select.expr_as(sum(layout.quantity), Alias::new("quantity"));
    match layout.records {
        Some(records) => select.expr_as(sum(records), Alias::new("records")),
        None => select.expr_as(
            Expr::cust("CAST(COUNT(*) AS BIGINT)"),
            Alias::new("records"),
        ),
    };

    // The filter.
    let mut all = Condition::all();
    if let Some(ids) = &filter.projects {
        all = all.add(sql(layout.project).is_in(ids.iter().copied()));
        if matches!(table, Table::Tasks { .. }) {
            // Said of the job too (as the scope is): its `(project_id, …)`
            // indexes then bound the edge's range to these projects.
            all = all.add(sql(r#""j"."project_id""#).is_in(ids.iter().copied()));
        }
    }
    if let Some(sources) = &filter.sources {
        let names: Vec<&str> = sources.iter().map(|s| s.as_str()).collect();
        all = all.add(one_of(
            layout.source,
            &names,
            |c| matches!(c, Col::Text(v) if names.contains(v)),
        ));
    }
    if let Some(resources) = &filter.resources {
        let mut any = Condition::any();
        for (kind, id) in resources {
            let kind_matches = match layout.resource_kind {
                Col::Sql(expression) => Some(sql(expression).eq(kind.as_str())),
                Col::Text(value) if value == kind.as_str() => None,
                _ => continue,
            };
            let Col::Sql(id_column) = layout.resource_id else {
                continue;
            };
            let mut both = Condition::all().add(sql(id_column).eq(*id));
            if let Some(kind_matches) = kind_matches {
                both = both.add(kind_matches);
            }
            any = any.add(both);
        }
        if any.is_empty() {
            any = any.add(Expr::val(1).eq(0));
        }
        all = all.add(any);
    }
    let never = |_: &Col| false;
    for (ids, column) in [
        (&filter.users, layout.user),
        (&filter.groups, layout.group),
        (&filter.clusters, layout.cluster),
        (&filter.sub_projects, layout.sub_project),
        (&filter.jobs, layout.job),
    ] {
        if let Some(ids) = ids {
            all = all.add(one_of(column, ids, never));
        }
    }
    if let Some(units) = &filter.units {
        all = all.add(sql(layout.unit).is_in(units.iter().cloned()));
    }
    select.cond_where(all);
    select
}

/// An amount and the number of facts it sums.
type Sum = (Decimal, i64);

/// The amount `quantity / 10^scale`, or an error that names what did not fit.
fn amount(quantity: i64, scale: i32, table: &str) -> Result<Decimal, Error> {
    u32::try_from(scale)
        .ok()
        .and_then(|scale| Decimal::try_from_i128_with_scale(i128::from(quantity), scale).ok())
        .ok_or_else(|| {
            Error::internal(&format!(
                "{table}: the amount {quantity} at decimal scale {scale} cannot be represented"
            ))
        })
}

/// Answers `query` for the projects in `scope`: one row per group and bucket
/// that holds usage, ordered by group, then bucket. Buckets without usage are
/// absent (see [`buckets`] to fill a series).
///
/// # Errors
/// [`Error::BadRequest`] for a question the rollups cannot answer (e.g. hourly
/// usage per cluster), a database error, or an amount that cannot be
/// represented (never a wrong one).
pub async fn usage(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    query: &UsageQuery,
) -> Result<Vec<UsageRow>, Error> {
    let backend = db.get_database_backend();
    let mut rows = Vec::new();
    for table in parts(Table::choose(query)?, query) {
        let select = statement(query, scope, table);
        let part = SumRow::find_by_statement(backend.build(&select))
            .all(db)
            .await?;
        rows.extend(part.into_iter().map(|row| (table.layout().name, row)));
    }
    let mut summed: BTreeMap<(Group, Option<DateTime<Utc>>), Sum> = BTreeMap::new();
    let wants = |d| query.wants(d);
    for (table, row) in rows {
        let resource = if wants(Dimension::Resource) {
            Some((row.resource_kind.parse()?, row.resource_id))
        } else {
            None
        };
        let group = Group {
            project: wants(Dimension::Project).then_some(row.project_id),
            source: if wants(Dimension::Source) {
                Some(row.source.parse()?)
            } else {
                None
            },
            resource,
            user: wants(Dimension::User).then_some(row.user_key),
            group: wants(Dimension::Group).then_some(row.group_key),
            cluster: wants(Dimension::Cluster).then_some(row.cluster_id),
            sub_project: wants(Dimension::SubProject).then_some(row.sub_project_key),
            job: wants(Dimension::Job).then_some(row.job_id),
            unit: row.unit,
        };
        let at = match (row.hour, row.day) {
            (Some(hour), _) => Some(hour),
            (None, Some(day)) => day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
            (None, None) => None,
        };
        let bucket = at.and_then(|at| query.bucket.start(at, query.time_zone));
        let value = amount(row.quantity, row.scale, table)?;
        let entry = summed.entry((group, bucket)).or_default();
        entry.0 = entry.0.checked_add(value).ok_or_else(|| {
            Error::internal(&format!(
                "{table}: a sum of {} and {value} cannot be represented",
                entry.0
            ))
        })?;
        entry.1 = entry.1.saturating_add(row.records);
    }
    Ok(summed
        .into_iter()
        .map(|((group, bucket), (amount, records))| UsageRow {
            group,
            bucket,
            amount,
            records,
        })
        .collect())
}

/// The starts of the buckets of `span` in `tz`, at most `max` of them.
///
/// # Errors
/// [`Error::LimitExceeded`] when the span holds more than `max` buckets.
pub fn buckets(
    span: Span,
    bucket: TimeBucket,
    tz: Tz,
    max: usize,
) -> Result<Vec<DateTime<Utc>>, Error> {
    let mut starts = Vec::new();
    let mut at = bucket.start(span.from, tz);
    while let Some(start) = at.filter(|start| *start < span.to) {
        if starts.len() == max {
            return Err(Error::LimitExceeded(format!(
                "the period holds more than {max} {bucket:?} buckets; use a larger bucket or a shorter period"
            )));
        }
        starts.push(start);
        at = bucket.next(start, tz);
    }
    Ok(starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(from: &str, to: &str) -> Span {
        Span::new(from.parse().unwrap(), to.parse().unwrap()).unwrap()
    }

    #[test]
    fn the_question_picks_the_rollup() {
        let mut query = UsageQuery::totals(
            Some(Span::days("2026-01-01".parse().unwrap(), "2026-01-31".parse().unwrap()).unwrap()),
            Filter::default(),
            vec![Dimension::Project],
        );
        assert_eq!(
            Table::choose(&query).unwrap(),
            Table::Cross { hourly: false }
        );
        query.span = Some(span("2026-01-01T06:00:00Z", "2026-01-02T00:00:00Z"));
        assert_eq!(
            Table::choose(&query).unwrap(),
            Table::Cross { hourly: true }
        );
        query.group_by.push(Dimension::Cluster);
        assert!(matches!(Table::choose(&query), Err(Error::BadRequest(_))));
        query.span = None;
        assert_eq!(Table::choose(&query).unwrap(), Table::Hpc);
        query.group_by = vec![Dimension::Job];
        assert_eq!(Table::choose(&query).unwrap(), Table::Tasks { edges: None });
        query.span = Some(span("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"));
        assert!(
            Table::choose(&query).is_err(),
            "a job's usage is not spread"
        );
        query.attribution = Attribution::WholeJobsInside;
        assert_eq!(Table::choose(&query).unwrap(), Table::Tasks { edges: None });
        query.group_by = vec![Dimension::Resource];
        assert_eq!(Table::choose(&query).unwrap(), Table::HpcJobs(JobDays::ALL));
        query.group_by = vec![Dimension::Group];
        assert_eq!(Table::choose(&query).unwrap(), Table::Tasks { edges: None });
        query.group_by = vec![Dimension::Resource];
        query.bucket = TimeBucket::Day;
        assert!(Table::choose(&query).is_err());
        let local = UsageQuery {
            bucket: TimeBucket::Day,
            time_zone: "Europe/Prague".parse().unwrap(),
            ..UsageQuery::totals(None, Filter::default(), Vec::new())
        };
        assert_eq!(
            Table::choose(&local).unwrap(),
            Table::Cross { hourly: true }
        );
    }

    #[test]
    fn whole_jobs_split_at_whole_days() {
        let midnight = span("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        assert_eq!(
            whole_days(midnight),
            (midnight.from(), midnight.to()),
            "a year of whole days: the rollup, and jobs that end at its last instant"
        );
        let ragged = span("2026-01-01T06:00:00Z", "2026-03-04T12:30:00Z");
        assert_eq!(
            whole_days(ragged),
            (
                "2026-01-02T00:00:00Z".parse().unwrap(),
                "2026-03-04T00:00:00Z".parse().unwrap()
            )
        );
        let day = |d: &str| Some(d.parse::<NaiveDate>().unwrap());
        let daily = |starts, ends| {
            Table::HpcJobs(JobDays {
                monthly: false,
                starts,
                ends,
            })
        };
        let monthly = |starts, ends| {
            Table::HpcJobs(JobDays {
                monthly: true,
                starts,
                ends,
            })
        };
        let query = UsageQuery {
            attribution: Attribution::WholeJobsInside,
            ..UsageQuery::totals(Some(ragged), Filter::default(), vec![Dimension::Resource])
        };
        let (first, last) = whole_days(ragged);
        assert_eq!(
            parts(Table::choose(&query).unwrap(), &query),
            vec![
                monthly(
                    Days::new(day("2026-02-01"), None),
                    Days::new(None, day("2026-03-01"))
                ),
                daily(
                    Days::new(day("2026-01-02"), day("2026-02-01")),
                    Days::new(None, day("2026-03-04"))
                ),
                daily(
                    Days::new(day("2026-02-01"), None),
                    Days::new(day("2026-03-01"), day("2026-03-04"))
                ),
                Table::Tasks {
                    edges: Some(Edge::Ends(last))
                },
                Table::Tasks {
                    edges: Some(Edge::Starts(first, last))
                }
            ],
            "February from the months; January from the 2nd and March to the 3rd by day; the edges raw"
        );
        let midnight_query = UsageQuery {
            span: Some(midnight),
            ..query.clone()
        };
        assert_eq!(
            parts(Table::HpcJobs(JobDays::ALL), &midnight_query),
            vec![
                monthly(
                    Days::new(day("2026-01-01"), None),
                    Days::new(None, day("2027-01-01"))
                ),
                Table::Tasks {
                    edges: Some(Edge::Ends(midnight.to()))
                }
            ],
            "a year of whole months: no days, no first partial day"
        );
        let within_a_month = UsageQuery {
            span: Some(span("2026-01-05T00:00:00Z", "2026-01-20T00:00:00Z")),
            ..query.clone()
        };
        assert_eq!(
            parts(Table::HpcJobs(JobDays::ALL), &within_a_month),
            vec![
                daily(
                    Days::new(day("2026-01-05"), None),
                    Days::new(None, day("2026-01-20"))
                ),
                Table::Tasks {
                    edges: Some(Edge::Ends("2026-01-20T00:00:00Z".parse().unwrap()))
                }
            ],
            "no whole month: the days"
        );
        let within_a_day = UsageQuery {
            span: Some(span("2026-01-05T06:00:00Z", "2026-01-05T18:00:00Z")),
            ..query
        };
        assert_eq!(
            parts(Table::HpcJobs(JobDays::ALL), &within_a_day).len(),
            2,
            "no whole day: the two edges only"
        );
        assert_eq!(
            whole_months(day("2026-01-31").unwrap(), day("2026-03-01").unwrap()),
            Some((day("2026-02-01").unwrap(), day("2026-03-01").unwrap()))
        );
        assert_eq!(
            whole_months(day("2026-01-02").unwrap(), day("2026-02-28").unwrap()),
            None
        );
    }

    #[test]
    fn amounts_that_do_not_fit_are_errors() {
        assert_eq!(amount(1500, 3, "t").unwrap().to_string(), "1.500");
        assert!(matches!(amount(1, -1, "t"), Err(Error::Internal { .. })));
        assert!(matches!(amount(1, 29, "t"), Err(Error::Internal { .. })));
    }

    #[test]
    fn buckets_are_capped() {
        let s = span("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z");
        assert_eq!(buckets(s, TimeBucket::Day, Tz::UTC, 10).unwrap().len(), 2);
        assert_eq!(buckets(s, TimeBucket::Total, Tz::UTC, 10).unwrap().len(), 0);
        assert!(matches!(
            buckets(s, TimeBucket::Hour, Tz::UTC, 10),
            Err(Error::LimitExceeded(_))
        ));
    }
}
