//! Usage amounts, `totalUsage` at every level, and the analytics roots
//! `usageSeries` and `usageTotals`: GraphQL's side of the report engine
//! ([`crate::service::report`]). This module parses arguments into a
//! [`report::UsageQuery`], batches `totalUsage` keys into one question per
//! level, and shapes the engine's rows; it sums nothing itself.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::context::ContextExt as _;
use super::hpc::scope;
use super::id::GlobalId;
use super::limits::{rows_cost, split_rows};
use super::loader::{Db, gql};
use super::object::Project;
use crate::error::Error;
use crate::service::report::{self, Dimension, ResourceKind, Source, Span};

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
    /// `milli` thousandths of `unit` (an HPC task's usage).
    pub(crate) fn milli(source: &str, unit: &str, milli: i64, records: i64) -> Self {
        // Scale 3 is within rust_decimal's 28: this cannot fail.
        Self::of(source, unit, Decimal::new(milli, 3), records)
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

    /// The engine's question for the objects `ids` of this level (reached
    /// through the projects `contexts`, when any) over `span`.
    fn query(self, ids: &[i64], contexts: &[i64], span: Option<Span>) -> report::UsageQuery {
        let resources = |kind: ResourceKind| Some(ids.iter().map(|id| (kind, *id)).collect());
        let mut filter = report::Filter::default();
        let dimension = match self {
            Self::Project => {
                filter.projects = Some(ids.to_vec());
                Dimension::Project
            }
            Self::Cluster(_) => {
                filter.clusters = Some(ids.to_vec());
                Dimension::Cluster
            }
            Self::Job => {
                filter.jobs = Some(ids.to_vec());
                Dimension::Job
            }
            Self::NodeType(_) => {
                filter.resources = resources(ResourceKind::NodeType);
                Dimension::Resource
            }
            Self::Bucket => {
                filter.resources = resources(ResourceKind::Bucket);
                Dimension::Resource
            }
            Self::Installation => {
                filter.resources = resources(ResourceKind::Installation);
                Dimension::Resource
            }
            Self::Site(_) => {
                filter.resources = resources(ResourceKind::Site);
                Dimension::Resource
            }
        };
        let mut group_by = vec![dimension, Dimension::Source];
        if !contexts.is_empty() {
            filter.projects = Some(contexts.to_vec());
            group_by.push(Dimension::Project);
        }
        report::UsageQuery::totals(span, filter, group_by)
    }

    /// The object a row of [`Self::query`] is about.
    fn object(self, group: &report::Group) -> Option<i64> {
        match self {
            Self::Project => group.project,
            Self::Cluster(_) => group.cluster,
            Self::Job => group.job,
            Self::NodeType(_) | Self::Bucket | Self::Installation | Self::Site(_) => {
                group.resource.map(|(_, id)| id)
            }
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
            let span = if period == Period::everything() {
                None
            } else {
                Some(Span::days(period.from, period.to).map_err(gql)?)
            };
            let query = level.query(&ids, &contexts, span);
            // Rows come ordered by object, source and unit.
            let mut per: HashMap<(i64, i64), Vec<UsageAmount>> = HashMap::new();
            for row in report::usage(&self.db, &self.scope, &query)
                .await
                .map_err(gql)?
            {
                let Some(object) = level.object(&row.group) else {
                    continue;
                };
                let source = row.group.source.map_or("", Source::as_str);
                let context = if contexts.is_empty() {
                    0
                } else {
                    row.group.project.unwrap_or(0)
                };
                per.entry((object, context))
                    .or_default()
                    .push(UsageAmount::of(
                        source,
                        &row.group.unit,
                        row.amount,
                        row.records,
                    ));
            }
            for key in wanted {
                let amounts = per
                    .get(&(key.id, key.level.context()))
                    .cloned()
                    .unwrap_or_default();
                answer.insert(key.clone(), amounts);
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

impl From<UsageSource> for Source {
    fn from(source: UsageSource) -> Self {
        match source {
            UsageSource::Hpc => Self::Hpc,
            UsageSource::Cloud => Self::Cloud,
            UsageSource::Eosc => Self::Eosc,
            UsageSource::Storage => Self::Storage,
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

impl From<UsageDimension> for Dimension {
    fn from(dimension: UsageDimension) -> Self {
        match dimension {
            UsageDimension::Project => Self::Project,
            UsageDimension::Source => Self::Source,
            UsageDimension::Resource => Self::Resource,
            UsageDimension::User => Self::User,
            UsageDimension::Group => Self::Group,
        }
    }
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

impl From<TimeBucket> for report::TimeBucket {
    fn from(bucket: TimeBucket) -> Self {
        match bucket {
            TimeBucket::Hour => Self::Hour,
            TimeBucket::Day => Self::Day,
            TimeBucket::Week => Self::Week,
            TimeBucket::Month => Self::Month,
            TimeBucket::Year => Self::Year,
        }
    }
}

impl TimeBucket {
    /// About how long one bucket is, in hours (for cost estimates).
    fn hours(self) -> i64 {
        report::TimeBucket::from(self).hours().unwrap_or(1)
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

/// The GraphQL type name of each resource kind.
const RESOURCE_KINDS: &[(&str, ResourceKind)] = &[
    ("NodeType", ResourceKind::NodeType),
    ("Site", ResourceKind::Site),
    ("Installation", ResourceKind::Installation),
    ("Bucket", ResourceKind::Bucket),
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
    /// The period `[from, to)`.
    fn span(&self) -> async_graphql::Result<Span> {
        if self.to <= self.from {
            return Err(gql(Error::BadRequest(
                "filter.to must be after filter.from".to_owned(),
            )));
        }
        Span::new(self.from, self.to).map_err(gql)
    }

    /// The engine's filter.
    fn filter(&self) -> async_graphql::Result<report::Filter> {
        let resources = match &self.resources {
            None => None,
            Some(ids) => {
                if ids.len() > super::filter::MAX_IN {
                    return Err(gql(Error::LimitExceeded(format!(
                        "filter.resources holds more than {} ids",
                        super::filter::MAX_IN
                    ))));
                }
                let decoded: async_graphql::Result<Vec<(ResourceKind, i64)>> = ids
                    .iter()
                    .map(|id| {
                        GlobalId::decode(id)
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
                            })
                    })
                    .collect();
                Some(decoded?)
            }
        };
        Ok(report::Filter {
            projects: self
                .projects
                .as_deref()
                .map(|ids| ids_of(ids, "Project", "projects"))
                .transpose()?,
            sources: self
                .sources
                .as_ref()
                .map(|sources| sources.iter().copied().map(Source::from).collect()),
            resources,
            users: self
                .users
                .as_deref()
                .map(|ids| ids_of(ids, "User", "users"))
                .transpose()?,
            groups: self
                .groups
                .as_deref()
                .map(|ids| ids_of(ids, "Group", "groups"))
                .transpose()?,
            units: self.units.clone(),
            ..report::Filter::default()
        })
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

/// What a series or total is about.
#[derive(Clone, Debug)]
pub(crate) struct UsageGroup(report::Group);

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
        self.0.source.map(Source::as_str)
    }

    /// The resource, when grouped by resource.
    async fn resource(&self) -> Option<UsageResource> {
        self.0.resource.map(|(kind, id)| {
            let name = RESOURCE_KINDS
                .iter()
                .find(|(_, k)| *k == kind)
                .map_or("Resource", |(name, _)| name);
            UsageResource {
                kind: name.to_owned(),
                id: GlobalId::encode(name, id),
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

fn group_by_unique(group_by: Option<Vec<UsageDimension>>) -> Vec<Dimension> {
    let mut dims = group_by.unwrap_or_default();
    dims.sort_by_key(|d| *d as u8);
    dims.dedup();
    dims.into_iter().map(Dimension::from).collect()
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
        let span = filter.span()?;
        let bucket = report::TimeBucket::from(bucket);
        let starts = report::buckets(span, bucket, tz, MAX_POINTS).map_err(gql)?;
        let query = report::UsageQuery {
            span: Some(span),
            attribution: report::Attribution::WhenUsed,
            bucket,
            time_zone: tz,
            filter: filter.filter()?,
            group_by: group_by_unique(group_by),
        };
        let rows = report::usage(&ctx.request()?.db, &scope(ctx)?, &query)
            .await
            .map_err(gql)?;
        let mut series: BTreeMap<report::Group, BTreeMap<DateTime<Utc>, Decimal>> = BTreeMap::new();
        for row in rows {
            if let Some(start) = row.bucket {
                series
                    .entry(row.group)
                    .or_default()
                    .insert(start, row.amount);
            }
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
            .map(|(group, values)| {
                let points = starts
                    .iter()
                    .map(|start| {
                        let amount = values.get(start).copied().unwrap_or_default();
                        let exact = amount.normalize().to_string();
                        UsagePoint {
                            bucket_start: *start,
                            bucket_end: bucket.next(*start, tz).unwrap_or(span.to()),
                            unit: group.unit.clone(),
                            value: exact.parse().unwrap_or(f64::NAN),
                            exact,
                        }
                    })
                    .collect();
                UsageSeries {
                    group: UsageGroup(group),
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
        let query = report::UsageQuery::totals(
            Some(filter.span()?),
            filter.filter()?,
            group_by_unique(group_by),
        );
        let rows = report::usage(&ctx.request()?.db, &scope(ctx)?, &query)
            .await
            .map_err(gql)?;
        Ok(rows
            .into_iter()
            .map(|row| UsageTotal {
                amount: UsageAmount::of(
                    row.group.source.map_or("all", Source::as_str),
                    &row.group.unit,
                    row.amount,
                    row.records,
                ),
                group: UsageGroup(row.group),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        let amount = UsageAmount::milli("hpc", "core_hour", 1500, 2);
        assert_eq!(amount.exact, "1.5");
        assert!((amount.value - 1.5).abs() < f64::EPSILON);
    }
}
