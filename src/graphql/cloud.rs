//! Cloud (APEL) objects: sites, and a project's cloud usage from the daily
//! cloud summaries, grouped by the dimensions a dashboard asks for.
//!
//! `Project.cloudUsage(period, groupBy)` reads `cloud_summaries_daily`, the
//! table APEL summary readers are served from, so the numbers match theirs:
//! one row per combination of the requested dimensions (day, site, VO, VO
//! group, VO role, cloud service) with wall and CPU seconds, network traffic
//! and VM counts summed. `Site.totalUsage` reads the cross-source rollups
//! (`usage_daily`, resource kind `site`) like every other `totalUsage`. See
//! `docs/graphql.md` (Graph).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object};
use chrono::NaiveDate;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait as _, JoinType, Order, Query};

use super::context::ContextExt as _;
use super::filter::ScalarFilter;
use super::id::GlobalId;
use super::limits::{rows_cost, split_rows};
use super::list::list_inputs;
use super::loader::{ById, Db, gql};
use super::page::{Kind, SortKey};
use super::usage::{Level, MAX_POINTS, Period, UsageAmount, total_usage};
use crate::auth::ProjectScope;
use crate::entity::sites;
use crate::error::Error;

list_inputs! {
    /// Which sites a list keeps; all given conditions must hold.
    filter SiteFilter {
        /// Its name.
        name: ScalarFilter<String> => "name",
    }
    /// What sites can be sorted by.
    order SiteOrderField {
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
    }
    /// One sort key of a site list; ties are broken by id.
    key SiteOrder
}

/// An APEL site (e.g. a GOCDB site name): a place cloud usage is published from.
pub(crate) struct Site {
    pub(crate) row: sites::Model,
    /// The project it was reached through: its totals show only that project.
    pub(crate) project: Option<i64>,
}

/// An APEL site (e.g. a GOCDB site name): a place cloud usage is published from.
#[Object]
impl Site {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Site", self.row.id)
    }

    /// Its name (the string `None` when a record named none).
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Cloud usage at this site over `period`, one amount per unit
    /// (`vm_second`, `cpu_second`): only the projects the caller may see, and
    /// only the project it was reached through.
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::Site(self.project), self.row.id, period).await
    }
}

/// A dimension a project's cloud usage can be split by.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CloudDimension {
    /// The UTC day.
    Day,
    /// The site.
    Site,
    /// The VO.
    Vo,
    /// The VO group.
    VoGroup,
    /// The VO role.
    VoRole,
    /// The cloud compute service.
    CloudService,
}

impl CloudDimension {
    /// The name table of a named dimension: (table, foreign key, alias).
    fn names(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Self::Day => None,
            Self::Site => Some(("sites", "site_id", "site_name")),
            Self::Vo => Some(("vos", "vo_id", "vo")),
            Self::VoGroup => Some(("vo_groups", "vo_group_id", "vo_group")),
            Self::VoRole => Some(("vo_roles", "vo_role_id", "vo_role")),
            Self::CloudService => Some(("cloud_services", "cloud_service_id", "cloud_service")),
        }
    }
}

/// One project's cloud usage over a period, split by some dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CloudUsageKey {
    pub(crate) project: i64,
    pub(crate) period: Period,
    /// Sorted, without repeats.
    pub(crate) group_by: Vec<CloudDimension>,
}

/// One row of a project's cloud usage: a combination of the requested
/// dimensions (a dimension not asked for is null) and the usage summed over it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CloudUsageRow {
    project: i64,
    day: Option<NaiveDate>,
    site: Option<i64>,
    vo: Option<String>,
    vo_group: Option<String>,
    vo_role: Option<String>,
    cloud_service: Option<String>,
    wall_seconds: i64,
    cpu_seconds: i64,
    network_inbound: i64,
    network_outbound: i64,
    vms: i64,
    summaries: i64,
}

/// One row of a project's cloud usage: a combination of the requested
/// dimensions (a dimension not asked for is null) and the usage summed over
/// it, from the daily cloud summaries (APEL semantics: per-day deltas of the
/// VMs' counters).
#[Object]
impl CloudUsageRow {
    /// The UTC day, when split by day.
    async fn day(&self) -> Option<NaiveDate> {
        self.day
    }

    /// The site, when split by site (its totals show only this project).
    async fn site(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Site>> {
        let Some(id) = self.site else {
            return Ok(None);
        };
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<sites::Entity>::new(id))
            .await?;
        Ok(row.map(|row| Site {
            row,
            project: Some(self.project),
        }))
    }

    /// The VO's name, when split by VO.
    async fn vo(&self) -> Option<&str> {
        self.vo.as_deref()
    }

    /// The VO group's name, when split by VO group.
    async fn vo_group(&self) -> Option<&str> {
        self.vo_group.as_deref()
    }

    /// The VO role's name, when split by VO role.
    async fn vo_role(&self) -> Option<&str> {
        self.vo_role.as_deref()
    }

    /// The cloud compute service's name, when split by service.
    async fn cloud_service(&self) -> Option<&str> {
        self.cloud_service.as_deref()
    }

    /// Wall-clock time of the VMs, in seconds.
    async fn wall_seconds(&self) -> i64 {
        self.wall_seconds
    }

    /// CPU time of the VMs, in seconds.
    async fn cpu_seconds(&self) -> i64 {
        self.cpu_seconds
    }

    /// Inbound network traffic, as published (GB in APEL's format).
    async fn network_inbound(&self) -> i64 {
        self.network_inbound
    }

    /// Outbound network traffic, as published (GB in APEL's format).
    async fn network_outbound(&self) -> i64 {
        self.network_outbound
    }

    /// VMs summed over the daily summaries: a VM counts once for each day
    /// it ran, so over several days this is VM-days.
    async fn vm_days(&self) -> i64 {
        self.vms
    }

    /// How many daily summary rows were summed.
    async fn summaries(&self) -> i64 {
        self.summaries
    }
}

fn sum(column: &str) -> Expr {
    // CAST keeps the sum an integer on PostgreSQL (SUM(bigint) is numeric).
    Expr::cust(format!("CAST(SUM(\"s\".\"{column}\") AS BIGINT)"))
}

fn s(column: &str) -> Expr {
    Expr::col((Alias::new("s"), Alias::new(column)))
}

impl Db {
    /// The rows of every project of `projects` over `period`, split by `group_by`.
    async fn cloud_rows(
        &self,
        projects: &[i64],
        period: Period,
        group_by: &[CloudDimension],
    ) -> Result<Vec<CloudUsageRow>, Error> {
        let mut select = Query::select();
        select
            .from_as(Alias::new("cloud_summaries_daily"), Alias::new("s"))
            .expr_as(s("project_id"), "project")
            .and_where(s("project_id").is_in(projects.iter().copied()))
            .and_where(s("day").gte(period.from))
            .and_where(s("day").lte(period.to))
            .group_by_col((Alias::new("s"), Alias::new("project_id")))
            .order_by((Alias::new("s"), Alias::new("project_id")), Order::Asc);
        match &self.scope {
            ProjectScope::All => {}
            ProjectScope::Only(ids) => {
                select.cond_where(if ids.is_empty() {
                    Condition::all().add(Expr::val(1).eq(0))
                } else {
                    Condition::all().add(s("project_id").is_in(ids.iter().copied()))
                });
            }
        }
        for dimension in group_by {
            match dimension.names() {
                None => {
                    select
                        .expr_as(s("day"), "day")
                        .group_by_col((Alias::new("s"), Alias::new("day")))
                        .order_by((Alias::new("s"), Alias::new("day")), Order::Asc);
                }
                Some((table, key, alias)) => {
                    let named = Alias::new(format!("n_{alias}"));
                    select
                        .join_as(
                            JoinType::InnerJoin,
                            Alias::new(table),
                            named.clone(),
                            Expr::col((named.clone(), Alias::new("id")))
                                .equals((Alias::new("s"), Alias::new(key))),
                        )
                        .expr_as(Expr::col((named.clone(), Alias::new("name"))), alias)
                        .group_by_col((named.clone(), Alias::new("name")))
                        .order_by((named.clone(), Alias::new("name")), Order::Asc);
                    if *dimension == CloudDimension::Site {
                        select
                            .expr_as(s("site_id"), "site")
                            .group_by_col((Alias::new("s"), Alias::new("site_id")));
                    }
                }
            }
        }
        select
            .expr_as(sum("wall_duration"), "wall_seconds")
            .expr_as(sum("cpu_duration"), "cpu_seconds")
            .expr_as(sum("network_inbound"), "network_inbound")
            .expr_as(sum("network_outbound"), "network_outbound")
            .expr_as(sum("number_of_vms"), "vms")
            .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "summaries");
        let has = |d: CloudDimension| group_by.contains(&d);
        let mut out = Vec::new();
        for row in self.db.query_all(&select).await? {
            let text = |d: CloudDimension, alias: &str| -> Result<Option<String>, sea_orm::DbErr> {
                if has(d) {
                    row.try_get("", alias).map(Some)
                } else {
                    Ok(None)
                }
            };
            out.push(CloudUsageRow {
                project: row.try_get("", "project")?,
                day: if has(CloudDimension::Day) {
                    Some(row.try_get("", "day")?)
                } else {
                    None
                },
                site: if has(CloudDimension::Site) {
                    Some(row.try_get("", "site")?)
                } else {
                    None
                },
                vo: text(CloudDimension::Vo, "vo")?,
                vo_group: text(CloudDimension::VoGroup, "vo_group")?,
                vo_role: text(CloudDimension::VoRole, "vo_role")?,
                cloud_service: text(CloudDimension::CloudService, "cloud_service")?,
                wall_seconds: row.try_get("", "wall_seconds")?,
                cpu_seconds: row.try_get("", "cpu_seconds")?,
                network_inbound: row.try_get("", "network_inbound")?,
                network_outbound: row.try_get("", "network_outbound")?,
                vms: row.try_get("", "vms")?,
                summaries: row.try_get("", "summaries")?,
            });
        }
        Ok(out)
    }
}

impl Loader<CloudUsageKey> for Db {
    type Value = Vec<CloudUsageRow>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CloudUsageKey],
    ) -> Result<HashMap<CloudUsageKey, Vec<CloudUsageRow>>, async_graphql::Error> {
        let mut groups: HashMap<(Period, Vec<CloudDimension>), Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.period, key.group_by.clone()))
                .or_default()
                .push(key.project);
        }
        let mut answer: HashMap<CloudUsageKey, Vec<CloudUsageRow>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for ((period, group_by), projects) in groups {
            for row in self
                .cloud_rows(&projects, period, &group_by)
                .await
                .map_err(gql)?
            {
                answer
                    .entry(CloudUsageKey {
                        project: row.project,
                        period,
                        group_by: group_by.clone(),
                    })
                    .or_default()
                    .push(row);
            }
        }
        Ok(answer)
    }
}

/// The cost of a `cloudUsage` field: a row per day when split by day, times
/// the values of the other dimensions (the default splits by site), times
/// `child`.
pub(crate) fn cloud_cost(
    period: &Period,
    group_by: Option<&Vec<CloudDimension>>,
    child_complexity: usize,
) -> usize {
    let (days, others) = group_by.map_or((1, 1), |dims| {
        let by_day = dims.contains(&CloudDimension::Day);
        (
            if by_day { period.days() } else { 1 },
            dims.len() - usize::from(by_day),
        )
    });
    rows_cost(days.saturating_mul(split_rows(others)), child_complexity)
}

/// The cloud usage of `project` over `period`, split by `group_by`, through
/// the request's loader.
pub(crate) async fn cloud_usage(
    ctx: &Context<'_>,
    project: i64,
    period: Period,
    group_by: Option<Vec<CloudDimension>>,
) -> async_graphql::Result<Vec<CloudUsageRow>> {
    period.instants()?;
    let mut group_by = group_by.unwrap_or_else(|| vec![CloudDimension::Site]);
    group_by.sort_unstable();
    group_by.dedup();
    let rows = ctx
        .request()?
        .loaders
        .load_one(CloudUsageKey {
            project,
            period,
            group_by,
        })
        .await?
        .unwrap_or_default();
    if rows.len() > MAX_POINTS {
        return Err(gql(Error::LimitExceeded(format!(
            "the cloud usage splits into {} rows, more than {MAX_POINTS}; split by fewer \
             dimensions or ask for a shorter period",
            rows.len()
        ))));
    }
    Ok(rows)
}
