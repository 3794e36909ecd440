//! HEAppE's Job Reporting routes (`/heappe/JobReporting/…`, heappe.md §1).
//!
//! Each route parses upstream's query parameters, checks upstream's role,
//! reads through [`crate::service::hpc`] (the jobs and tasks a report lists,
//! the catalogue its tree hangs on) and asks [`crate::service::report`] for
//! every total (whole jobs inside the period, summed from the whole-jobs rollups);
//! this module only shapes the trees. The DTOs declare their fields in
//! upstream's order (pinned by the `wire::heappe_*` snapshots).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use super::{HeappeQuery, HeappeTime as Time, Problem, caller, parse_time, require};
use crate::app::AppState;
use crate::auth::{HeappeRole, Principal, ProjectScope};
use crate::entity::{clusters, node_types, projects};
use crate::error::Error;
use crate::service::hpc::{self, Catalogue, JobPeriod, JobSelection, ReportJob, ReportTask};
use crate::service::report::{self, Attribution, Dimension, Filter, Span, TimeBucket, UsageQuery};

/// The Job Reporting routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/heappe/JobReporting/ListAdaptorUserGroups",
            get(list_adaptor_user_groups),
        )
        .route(
            "/heappe/JobReporting/UserResourceUsageReport",
            get(user_resource_usage_report),
        )
        .route(
            "/heappe/JobReporting/UserGroupResourceUsageReport",
            get(user_group_resource_usage_report),
        )
        .route(
            "/heappe/JobReporting/AggregatedUserGroupResourceUsageReport",
            get(aggregated_user_group_resource_usage_report),
        )
        .route(
            "/heappe/JobReporting/ResourceUsageReportForJob",
            get(resource_usage_report_for_job),
        )
        .route(
            "/heappe/JobReporting/JobsStateAgregationReport",
            get(jobs_state_aggregation_report),
        )
        .route(
            "/heappe/JobReporting/JobsDetailedReport",
            get(jobs_detailed_report),
        )
}

// ---------------------------------------------------------------------------
// Wire values
// ---------------------------------------------------------------------------

/// A usage in thousandths, written as upstream's `double`: `0`, `12`,
/// `159.88` (a whole number without a fraction, as .NET writes it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Usage(i64);

impl Serialize for Usage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            serializer.serialize_i64(self.0 / 1000)
        } else {
            #[expect(
                clippy::cast_precision_loss,
                reason = "a usage in thousandths is far below 2^53; the nearest double is upstream's value"
            )]
            let value = self.0 as f64 / 1000.0;
            serializer.serialize_f64(value)
        }
    }
}

fn time(at: Option<DateTime<Utc>>) -> Option<Time> {
    at.map(Time)
}

/// HEAppE's `UsageType` of a project: 1 NodeHours, 2 CoreHours.
fn usage_type(project: &projects::Model) -> i32 {
    if project.usage_type == "core_hour" {
        2
    } else {
        1
    }
}

/// `DateTime.MinValue`: upstream's default start of a period.
fn min_value() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

// ---------------------------------------------------------------------------
// Query parameters
// ---------------------------------------------------------------------------

/// A query's parameters, parsed as ASP.NET binds them.
struct Params(HeappeQuery);

impl Params {
    /// A `long` parameter; 400 when it does not parse.
    fn long(&self, name: &str) -> Result<Option<i64>, Problem> {
        self.0.long(name)
    }

    /// A `DateTime` parameter: ISO 8601 with or without a zone (without one
    /// it is UTC, as upstream's `datetime2` values are), or a date; 400 when
    /// it does not parse.
    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Problem> {
        let Some(value) = self.0.get(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        parse_time(value)
            .map(Some)
            .ok_or_else(|| Problem::invalid_value(name, value))
    }

    /// The repeated `subProjects` keys; `None` when there are none.
    fn sub_projects(&self) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .0
            .all("subProjects")
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// The newer revision's `Limit` and `Offset` (heappe.md §7): a page of
    /// each report's jobs, in id order.
    fn page(&self) -> Result<(Option<u64>, u64), Problem> {
        let limit = match self.long("Limit")? {
            Some(limit) if limit < 0 => {
                return Err(Problem::invalid_value("Limit", &limit.to_string()));
            }
            limit => limit.and_then(|l| u64::try_from(l).ok()),
        };
        let offset = match self.long("Offset")? {
            Some(offset) if offset < 0 => {
                return Err(Problem::invalid_value("Offset", &offset.to_string()));
            }
            offset => offset.and_then(|o| u64::try_from(o).ok()).unwrap_or(0),
        };
        Ok((limit, offset))
    }

    /// A period from `start`/`end` with upstream's defaults (`MinValue`,
    /// `UtcNow`).
    fn period(&self, start: &str, end: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), Problem> {
        let from = self.time(start)?.unwrap_or_else(min_value);
        let to = self.time(end)?.unwrap_or_else(Utc::now);
        Ok((from, to))
    }
}

/// Upstream's validation answer: 404 `Validation Problem`, the message and a
/// newline (heappe.md §5).
fn validation(message: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Validation Problem",
        format!("{message}\n"),
    )
}

/// An id parameter that must be positive (`UserId must be greater than 0`).
fn positive_id(params: &Params, name: &str, label: &str) -> Result<i64, Problem> {
    match params.long(name)? {
        Some(id) if id > 0 => Ok(id),
        _ => Err(validation(&format!("{label} must be greater than 0"))),
    }
}

/// Upstream's `ResourceUsageException` answer: 502 `External Service Error`.
fn external(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_GATEWAY, "External Service Error", detail)
}

/// 403 `Not Allowed`.
fn not_allowed() -> Problem {
    Problem::from(Error::Forbidden(String::new()))
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// What one report asks of the jobs of its projects.
#[derive(Debug, Clone)]
struct Ask {
    /// Jobs inside this period (inclusive); `None` for every ended job.
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Sub-project identifiers.
    sub_projects: Option<Vec<String>>,
    /// One cluster.
    cluster: Option<i64>,
    /// One submitter.
    submitter: Option<i64>,
    /// A page of the jobs listed.
    limit: Option<u64>,
    /// Jobs skipped before the page.
    offset: u64,
}

impl Ask {
    fn all_time() -> Self {
        Self {
            period: None,
            sub_projects: None,
            cluster: None,
            submitter: None,
            limit: None,
            offset: 0,
        }
    }

    fn selection(&self) -> JobSelection {
        JobSelection {
            period: self
                .period
                .map_or(JobPeriod::Ended, |(from, to)| JobPeriod::Inside(from, to)),
            sub_projects: self.sub_projects.clone(),
            cluster: self.cluster,
            submitter: self.submitter,
            job: None,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// Totals in thousandths of each project's usage type, by project, cluster,
/// node type and sub-project (each `0` unless grouped by).
type Totals = HashMap<(i64, i64, i64, i64), i64>;

/// Asks the report engine for the whole-job usage of `projects` under `ask`,
/// grouped by `group_by` (a subset of project, cluster, node type,
/// sub-project), keeping each project's usage in its own usage type's unit.
async fn totals(
    state: &AppState,
    scope: &ProjectScope,
    projects: &[&projects::Model],
    catalogue: &Catalogue,
    ask: &Ask,
    filter_jobs: Option<Vec<i64>>,
    group_by: Vec<Dimension>,
) -> Result<Totals, Problem> {
    let units: HashMap<i64, &str> = projects
        .iter()
        .map(|p| (p.id, p.usage_type.as_str()))
        .collect();
    let span = match ask.period {
        Some((from, to)) if to < from => return Ok(Totals::new()),
        // A period of one instant holds the jobs that start and end at it.
        Some((from, to)) => Some(Span::new(
            from,
            to.max(from + chrono::TimeDelta::microseconds(1)),
        )?),
        None => None,
    };
    let sub_projects = ask.sub_projects.as_ref().map(|identifiers| {
        catalogue
            .sub_projects
            .iter()
            .filter(|s| identifiers.contains(&s.identifier))
            .map(|s| s.id)
            .collect()
    });
    let filter = Filter {
        projects: Some(projects.iter().map(|p| p.id).collect()),
        sources: None,
        resources: None,
        users: ask.submitter.map(|u| vec![u]),
        groups: None,
        units: Some(vec!["node_hour".to_owned(), "core_hour".to_owned()]),
        clusters: ask.cluster.map(|c| vec![c]),
        sub_projects,
        jobs: filter_jobs,
    };
    let mut group_by = group_by;
    group_by.push(Dimension::Project);
    // One job's usage is all of it, whether or not the job has ended.
    let attribution = if filter.jobs.is_some() {
        Attribution::WhenUsed
    } else {
        Attribution::WholeJobsInside
    };
    let query = UsageQuery {
        span,
        attribution,
        bucket: TimeBucket::Total,
        time_zone: Tz::UTC,
        filter,
        group_by,
    };
    let rows = report::usage(&state.db, scope, &query).await?;
    let mut totals = Totals::new();
    for row in rows {
        let group = row.group;
        let Some(project) = group.project else {
            continue;
        };
        if units.get(&project) != Some(&group.unit.as_str()) {
            continue;
        }
        let mut amount = row.amount;
        amount.rescale(3);
        let milli = i64::try_from(amount.mantissa())
            .map_err(|e| Error::internal(&format!("a HEAppE total does not fit: {e}")))?;
        let key = (
            project,
            group.cluster.unwrap_or(0),
            group.resource.map_or(0, |(_, id)| id),
            group.sub_project.unwrap_or(0),
        );
        *totals.entry(key).or_default() += milli;
    }
    Ok(totals)
}

/// The listed jobs of a project with their tasks.
struct Listing {
    jobs: Vec<ReportJob>,
    tasks: Vec<ReportTask>,
}

async fn listing(
    state: &AppState,
    scope: &ProjectScope,
    project_id: i64,
    selection: &JobSelection,
) -> Result<Listing, Problem> {
    let jobs = match selection.period {
        JobPeriod::Inside(from, to) if to < from => Vec::new(),
        _ => hpc::report_jobs(&state.db, scope, project_id, selection).await?,
    };
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let tasks = hpc::report_tasks(&state.db, scope, project_id, &ids).await?;
    Ok(Listing { jobs, tasks })
}

/// The projects of the caller's groups (on which they hold a role containing
/// `group_role`, any role with `None`) that lie in the projects where they
/// hold `project_role`: upstream's selection, one project once.
async fn caller_projects(
    state: &AppState,
    principal: &Principal,
    project_role: HeappeRole,
    only_groups: Option<&BTreeSet<i64>>,
) -> Result<(ProjectScope, Vec<projects::Model>), Problem> {
    let scope = principal.heappe_projects(project_role);
    let mine = principal.heappe_groups(None);
    let wanted: Option<BTreeSet<i64>> = match (mine, only_groups) {
        (Some(mine), Some(only)) => Some(mine.intersection(only).copied().collect()),
        (Some(mine), None) => Some(mine),
        (None, Some(only)) => Some(only.clone()),
        (None, None) => None,
    };
    let groups = hpc::groups(&state.db, &scope, wanted.as_ref()).await?;
    let ids: BTreeSet<i64> = groups.iter().filter_map(|g| g.project_id).collect();
    let projects = hpc::projects(&state.db, &scope, ids).await?;
    Ok((scope, projects))
}

// ---------------------------------------------------------------------------
// The report tree
// ---------------------------------------------------------------------------

/// A project's report tree, before it is shaped into one of upstream's DTOs.
struct Tree<'a> {
    total: i64,
    clusters: Vec<ClusterBranch<'a>>,
}

struct ClusterBranch<'a> {
    cluster: &'a clusters::Model,
    total: i64,
    node_types: Vec<NodeTypeBranch<'a>>,
}

struct NodeTypeBranch<'a> {
    node_type: &'a node_types::Model,
    total: i64,
    /// The jobs with a task on the node type, each with those tasks.
    jobs: Vec<(&'a ReportJob, Vec<&'a ReportTask>)>,
}

/// Upstream's `BuildProjectReport`: the project's clusters, ALL their node
/// types (`Jobs: []` where none ran), under each the listed jobs with a task
/// on it and only those tasks. With `used_only`, only the clusters and node
/// types the listed tasks ran on (`ResourceUsageReportForJob`).
fn tree<'a>(
    project: &projects::Model,
    catalogue: &'a Catalogue,
    totals: &Totals,
    listing: &'a Listing,
    cluster_filter: Option<i64>,
    used_only: bool,
) -> Tree<'a> {
    let mut tasks_by_job: BTreeMap<i64, Vec<&ReportTask>> = BTreeMap::new();
    for task in &listing.tasks {
        tasks_by_job.entry(task.job_id).or_default().push(task);
    }
    let used: BTreeSet<i64> = listing
        .tasks
        .iter()
        .filter_map(|t| t.node_type_id)
        .collect();
    let mut seen = BTreeSet::new();
    let mut clusters = Vec::new();
    for (_, cluster) in catalogue
        .clusters
        .iter()
        .filter(|(p, c)| *p == project.id && cluster_filter.is_none_or(|id| id == c.id))
    {
        if !seen.insert(cluster.id) {
            continue;
        }
        let mut node_types = Vec::new();
        for node_type in catalogue
            .node_types
            .iter()
            .filter(|n| n.cluster_id == cluster.id)
            .filter(|n| !used_only || used.contains(&n.id))
        {
            let jobs = listing
                .jobs
                .iter()
                .filter(|j| j.cluster_id == cluster.id)
                .filter_map(|job| {
                    let on: Vec<&ReportTask> = tasks_by_job
                        .get(&job.id)
                        .into_iter()
                        .flatten()
                        .filter(|t| t.node_type_id == Some(node_type.id))
                        .copied()
                        .collect();
                    (!on.is_empty()).then_some((job, on))
                })
                .collect();
            node_types.push(NodeTypeBranch {
                node_type,
                total: totals
                    .get(&(project.id, cluster.id, node_type.id, 0))
                    .copied()
                    .unwrap_or(0),
                jobs,
            });
        }
        if used_only && node_types.is_empty() {
            continue;
        }
        clusters.push(ClusterBranch {
            cluster,
            total: node_types.iter().map(|n| n.total).sum(),
            node_types,
        });
    }
    Tree {
        total: clusters.iter().map(|c| c.total).sum(),
        clusters,
    }
}

/// A task's usage as the report shows it: its computed usage in the
/// project's usage type, else 0 (upstream: `ResourceConsumed?.Value ?? 0`).
fn task_usage(project: &projects::Model, task: &ReportTask) -> Usage {
    match (task.usage_milli, &task.usage_unit) {
        (Some(milli), Some(unit)) if *unit == project.usage_type => Usage(milli),
        _ => Usage(0),
    }
}

// ---------------------------------------------------------------------------
// DTOs (heappe.md §1.1), fields in upstream's order
// ---------------------------------------------------------------------------

/// `UserGroupListReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UserGroupListReportExt {
    id: i64,
    name: String,
    description: Option<String>,
    total_usage: Usage,
    usage_type: i32,
    project: ProjectListReportExt,
}

/// `ProjectListReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ProjectListReportExt {
    id: i64,
    name: String,
    description: Option<String>,
    accounting_string: String,
    total_usage: Usage,
}

/// `ProjectReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ProjectReportExt {
    id: i64,
    name: String,
    accounting_string: String,
    total_usage: Usage,
    usage_type: i32,
    clusters: Vec<ClusterReportExt>,
}

/// `ClusterReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterReportExt {
    id: i64,
    name: String,
    total_usage: Usage,
    cluster_node_types: Vec<ClusterNodeTypeReportExt>,
}

/// `ClusterNodeTypeReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterNodeTypeReportExt {
    id: i64,
    name: String,
    total_usage: Usage,
    jobs: Vec<JobReportExt>,
}

/// `JobReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct JobReportExt {
    id: i64,
    name: String,
    sub_project: Option<String>,
    tasks: Vec<TaskReportExt>,
}

/// `TaskReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TaskReportExt {
    id: i64,
    name: String,
    usage: Usage,
}

/// `ProjectExtendedReportExt` (no `UsageType`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ProjectExtendedReportExt {
    id: i64,
    name: String,
    description: Option<String>,
    accounting_string: String,
    total_usage: Usage,
    clusters: Vec<ClusterExtendedReportExt>,
}

/// `ClusterExtendedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterExtendedReportExt {
    id: i64,
    name: String,
    description: Option<String>,
    total_usage: Usage,
    cluster_node_types: Vec<ClusterNodeExtendedTypeReportExt>,
}

/// `ClusterNodeExtendedTypeReportExt` (upstream's order: `Id, TotalUsage,
/// Name, Description, Jobs`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterNodeExtendedTypeReportExt {
    id: i64,
    total_usage: Usage,
    name: String,
    description: Option<String>,
    jobs: Vec<JobExtendedReportExt>,
}

/// `JobExtendedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct JobExtendedReportExt {
    id: i64,
    name: String,
    state: i16,
    tasks: Vec<TaskExtendedReportExt>,
}

/// `TaskExtendedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TaskExtendedReportExt {
    id: i64,
    name: String,
    state: i16,
    start_time: Option<Time>,
    end_time: Option<Time>,
    command_template_id: i64,
    usage: Usage,
}

/// `ProjectAggregatedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ProjectAggregatedReportExt {
    id: i64,
    name: String,
    accounting_string: String,
    total_usage: Usage,
    usage_type: i32,
    sub_projects: Vec<SubProjectAggregatedReportExt>,
    clusters: Vec<ClusterAggregatedReportExt>,
}

/// `SubProjectAggregatedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SubProjectAggregatedReportExt {
    id: i64,
    name: Option<String>,
    total_usage: Usage,
    clusters: Vec<ClusterAggregatedReportExt>,
}

/// `ClusterAggregatedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterAggregatedReportExt {
    id: i64,
    name: String,
    total_usage: Usage,
    cluster_node_types_aggregations: Vec<ClusterNodeTypeAggregatedReportExt>,
}

/// `ClusterNodeTypeAggregatedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterNodeTypeAggregatedReportExt {
    id: i64,
    name: String,
    total_usage: Usage,
    cluster_node_types: Vec<ClusterNodeTypeReportExt>,
}

/// `ProjectDetailedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ProjectDetailedReportExt {
    id: i64,
    name: String,
    description: Option<String>,
    accounting_string: String,
    total_usage: Usage,
    usage_type: i32,
    start_date: Time,
    end_date: Time,
    clusters: Vec<ClusterDetailedReportExt>,
}

/// `ClusterDetailedReportExt` (upstream's order: `Id, TotalUsage, Name, …`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterDetailedReportExt {
    id: i64,
    total_usage: Usage,
    name: String,
    description: Option<String>,
    cluster_node_types: Vec<ClusterNodeTypeDetailedReportExt>,
}

/// `ClusterNodeTypeDetailedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ClusterNodeTypeDetailedReportExt {
    id: i64,
    total_usage: Usage,
    name: String,
    description: Option<String>,
    queue_name: String,
    jobs: Vec<JobDetailedReportExt>,
}

/// `JobDetailedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct JobDetailedReportExt {
    id: i64,
    name: String,
    state: i16,
    creation_time: Time,
    submit_time: Option<Time>,
    start_time: Option<Time>,
    end_time: Option<Time>,
    submitter: Option<String>,
    tasks: Vec<TaskDetailedReportExt>,
}

/// `TaskDetailedReportExt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TaskDetailedReportExt {
    id: i64,
    scheduled_job_id: Option<String>,
    name: String,
    state: i16,
    start_time: Option<Time>,
    end_time: Option<Time>,
    command_template_id: i64,
    command_template_name: String,
    usage: Usage,
}

fn project_report(project: &projects::Model, tree: &Tree<'_>) -> ProjectReportExt {
    ProjectReportExt {
        id: project.id,
        name: project.name.clone(),
        accounting_string: project.accounting_string.clone(),
        total_usage: Usage(tree.total),
        usage_type: usage_type(project),
        clusters: tree
            .clusters
            .iter()
            .map(|c| ClusterReportExt {
                id: c.cluster.id,
                name: c.cluster.name.clone(),
                total_usage: Usage(c.total),
                cluster_node_types: c
                    .node_types
                    .iter()
                    .map(|n| ClusterNodeTypeReportExt {
                        id: n.node_type.id,
                        name: n.node_type.name.clone(),
                        total_usage: Usage(n.total),
                        jobs: n
                            .jobs
                            .iter()
                            .map(|(job, tasks)| JobReportExt {
                                id: job.id,
                                name: job.name.clone(),
                                sub_project: job.sub_project.clone(),
                                tasks: tasks
                                    .iter()
                                    .map(|t| TaskReportExt {
                                        id: t.id,
                                        name: t.name.clone(),
                                        usage: task_usage(project, t),
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn detailed_report(project: &projects::Model, tree: &Tree<'_>) -> ProjectDetailedReportExt {
    let date = |d: Option<NaiveDate>| {
        Time(
            d.and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or_else(min_value, |t| t.and_utc()),
        )
    };
    ProjectDetailedReportExt {
        id: project.id,
        name: project.name.clone(),
        description: project.description.clone(),
        accounting_string: project.accounting_string.clone(),
        total_usage: Usage(tree.total),
        usage_type: usage_type(project),
        start_date: date(project.start_date),
        end_date: date(project.end_date),
        clusters: tree
            .clusters
            .iter()
            .map(|c| ClusterDetailedReportExt {
                id: c.cluster.id,
                total_usage: Usage(c.total),
                name: c.cluster.name.clone(),
                description: c.cluster.description.clone(),
                cluster_node_types: c
                    .node_types
                    .iter()
                    .map(|n| ClusterNodeTypeDetailedReportExt {
                        id: n.node_type.id,
                        total_usage: Usage(n.total),
                        name: n.node_type.name.clone(),
                        description: n.node_type.description.clone(),
                        queue_name: n.node_type.queue.clone(),
                        jobs: n
                            .jobs
                            .iter()
                            .map(|(job, tasks)| JobDetailedReportExt {
                                id: job.id,
                                name: job.name.clone(),
                                state: job.state,
                                creation_time: Time(job.creation_time),
                                submit_time: Some(Time(job.submit_time)),
                                start_time: time(job.start_time),
                                end_time: time(job.end_time),
                                submitter: job.submitter.clone(),
                                tasks: tasks
                                    .iter()
                                    .map(|t| TaskDetailedReportExt {
                                        id: t.id,
                                        scheduled_job_id: t.scheduler_job_id.clone(),
                                        name: t.name.clone(),
                                        state: t.state,
                                        start_time: time(t.start_time),
                                        end_time: time(t.end_time),
                                        command_template_id: t.command_template_id.unwrap_or(0),
                                        command_template_name: t
                                            .command_template_name
                                            .clone()
                                            .unwrap_or_else(|| "N/A".to_owned()),
                                        usage: task_usage(project, t),
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The report of each project (tree with jobs), in project id order.
async fn project_trees<T>(
    state: &AppState,
    scope: &ProjectScope,
    projects: &[projects::Model],
    ask: &Ask,
    shape: impl Fn(&projects::Model, &Tree<'_>) -> T,
) -> Result<Vec<T>, Problem> {
    let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
    let catalogue = hpc::catalogue(&state.db, scope, &ids).await?;
    let refs: Vec<&projects::Model> = projects.iter().collect();
    let totals = totals(
        state,
        scope,
        &refs,
        &catalogue,
        ask,
        None,
        vec![Dimension::Cluster, Dimension::Resource],
    )
    .await?;
    let selection = ask.selection();
    let mut reports = Vec::with_capacity(projects.len());
    for project in projects {
        let listing = listing(state, scope, project.id, &selection).await?;
        let tree = tree(project, &catalogue, &totals, &listing, ask.cluster, false);
        reports.push(shape(project, &tree));
    }
    Ok(reports)
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

/// `GET ListAdaptorUserGroups` (GroupReporter): one of the caller's
/// GroupReporter groups per project, with the project's all-time usage.
async fn list_adaptor_user_groups(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<UserGroupListReportExt>>, Problem> {
    let query = HeappeQuery(query);
    let principal = caller(&state, &query, &headers).await?;
    require(&principal, HeappeRole::GroupReporter)?;
    let scope = principal.heappe_projects(HeappeRole::GroupReporter);
    let groups = hpc::groups(
        &state.db,
        &scope,
        principal
            .heappe_groups(Some(HeappeRole::GroupReporter))
            .as_ref(),
    )
    .await?;
    let mut one_per_project = BTreeMap::new();
    for group in groups {
        if let Some(project) = group.project_id {
            one_per_project.entry(project).or_insert(group);
        }
    }
    let projects = hpc::projects(&state.db, &scope, one_per_project.keys().copied()).await?;
    let refs: Vec<&projects::Model> = projects.iter().collect();
    let totals = totals(
        &state,
        &scope,
        &refs,
        &Catalogue::default(),
        &Ask::all_time(),
        None,
        Vec::new(),
    )
    .await?;
    let mut list = Vec::new();
    for project in &projects {
        let Some(group) = one_per_project.get(&project.id) else {
            continue;
        };
        let total = Usage(totals.get(&(project.id, 0, 0, 0)).copied().unwrap_or(0));
        list.push(UserGroupListReportExt {
            id: group.id,
            name: group.name.clone(),
            description: group.description.clone(),
            total_usage: total,
            usage_type: usage_type(project),
            project: ProjectListReportExt {
                id: project.id,
                name: project.name.clone(),
                description: project.description.clone(),
                accounting_string: project.accounting_string.clone(),
                total_usage: total,
            },
        });
    }
    Ok(Json(list))
}

/// The period, sub-project, cluster, submitter and page parameters of a
/// report; 404 when the period ends before it starts and `check_order`.
fn ask(
    params: &Params,
    start: &str,
    end: &str,
    check_order: bool,
    submitter: Option<i64>,
) -> Result<Ask, Problem> {
    let (from, to) = params.period(start, end)?;
    if check_order && from > to {
        return Err(validation("StartTime must be before EndTime"));
    }
    let (limit, offset) = params.page()?;
    Ok(Ask {
        period: Some((from, to)),
        sub_projects: params.sub_projects(),
        cluster: params.long("ClusterId")?,
        submitter,
        limit,
        offset,
    })
}

/// `GET UserResourceUsageReport` (GroupReporter): the jobs user `userId`
/// submitted in the projects of the groups they share with the caller.
async fn user_resource_usage_report(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ProjectReportExt>>, Problem> {
    let params = Params(HeappeQuery(query));
    let principal = caller(&state, &params.0, &headers).await?;
    require(&principal, HeappeRole::GroupReporter)?;
    let user_id = positive_id(&params, "userId", "UserId")?;
    let ask = ask(&params, "startTime", "endTime", true, Some(user_id))?;
    let not_specified = || {
        external(format!(
            "SpecifiedUserId: '{user_id}' is not specified in the HEAppE."
        ))
    };
    let user_groups = hpc::groups_of_user(&state.db, user_id)
        .await?
        .filter(|groups| !groups.is_empty())
        .ok_or_else(not_specified)?;
    let (scope, projects) = caller_projects(
        &state,
        &principal,
        HeappeRole::GroupReporter,
        Some(&user_groups),
    )
    .await?;
    Ok(Json(
        project_trees(&state, &scope, &projects, &ask, project_report).await?,
    ))
}

/// `GET UserGroupResourceUsageReport` (Reporter): the report of the project
/// of group `groupId`, one of the caller's.
async fn user_group_resource_usage_report(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let params = Params(HeappeQuery(query));
    let principal = caller(&state, &params.0, &headers).await?;
    require(&principal, HeappeRole::Reporter)?;
    let group_id = positive_id(&params, "groupId", "GroupId")?;
    let submitter = params.long("UserId")?;
    let ask = ask(&params, "startTime", "endTime", true, submitter)?;
    let mine = principal
        .heappe_groups(None)
        .is_none_or(|groups| groups.contains(&group_id));
    let group = hpc::group(&state.db, group_id).await?;
    let Some(group) = group.filter(|_| mine) else {
        return Err(not_allowed());
    };
    let Some(project_id) = group.project_id else {
        // Upstream's null report: MVC answers 204.
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let scope = principal.heappe_projects(HeappeRole::Reporter);
    if !scope.contains(project_id) {
        return Err(not_allowed());
    }
    let projects = hpc::projects(&state.db, &scope, [project_id]).await?;
    let mut reports = project_trees(&state, &scope, &projects, &ask, project_report).await?;
    match reports.pop() {
        Some(report) => Ok(Json(report).into_response()),
        None => Err(not_allowed()),
    }
}

/// `GET AggregatedUserGroupResourceUsageReport` (Reporter): per project of
/// the caller, usage per sub-project and per cluster → aggregation → node
/// type, from the rollups (no jobs are listed).
async fn aggregated_user_group_resource_usage_report(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ProjectAggregatedReportExt>>, Problem> {
    let params = Params(HeappeQuery(query));
    let principal = caller(&state, &params.0, &headers).await?;
    require(&principal, HeappeRole::Reporter)?;
    let submitter = params.long("UserId")?;
    let mut ask = ask(&params, "startTime", "endTime", false, submitter)?;
    ask.sub_projects = None;
    let (scope, projects) = caller_projects(&state, &principal, HeappeRole::Reporter, None).await?;
    let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
    let catalogue = hpc::catalogue(&state.db, &scope, &ids).await?;
    let refs: Vec<&projects::Model> = projects.iter().collect();
    let totals = totals(
        &state,
        &scope,
        &refs,
        &catalogue,
        &ask,
        None,
        vec![
            Dimension::Cluster,
            Dimension::Resource,
            Dimension::SubProject,
        ],
    )
    .await?;
    let mut reports = Vec::new();
    for project in &projects {
        let clusters = aggregated_clusters(project, &catalogue, &totals, None, ask.cluster);
        let mut sub_projects: Vec<SubProjectAggregatedReportExt> = catalogue
            .sub_projects
            .iter()
            .filter(|s| s.project_id == project.id)
            .map(|s| {
                let clusters =
                    aggregated_clusters(project, &catalogue, &totals, Some(s.id), ask.cluster);
                SubProjectAggregatedReportExt {
                    id: s.id,
                    name: Some(s.identifier.clone()),
                    total_usage: Usage(clusters.iter().map(|c| c.total_usage.0).sum()),
                    clusters,
                }
            })
            .collect();
        let without = aggregated_clusters(project, &catalogue, &totals, Some(0), ask.cluster);
        let without_total: i64 = without.iter().map(|c| c.total_usage.0).sum();
        if without_total > 0 {
            sub_projects.push(SubProjectAggregatedReportExt {
                id: 0,
                name: None,
                total_usage: Usage(without_total),
                clusters: without,
            });
        }
        reports.push(ProjectAggregatedReportExt {
            id: project.id,
            name: project.name.clone(),
            accounting_string: project.accounting_string.clone(),
            total_usage: Usage(clusters.iter().map(|c| c.total_usage.0).sum()),
            usage_type: usage_type(project),
            sub_projects,
            clusters,
        });
    }
    Ok(Json(reports))
}

/// Upstream's `BuildClusterAggregatedReports` for a project (or one of its
/// sub-projects, `0` for jobs without one): node types grouped by their
/// aggregation; node types without one are left out, with their usage.
fn aggregated_clusters(
    project: &projects::Model,
    catalogue: &Catalogue,
    totals: &Totals,
    sub_project: Option<i64>,
    cluster_filter: Option<i64>,
) -> Vec<ClusterAggregatedReportExt> {
    let total_of = |cluster: i64, node_type: i64| -> i64 {
        totals
            .iter()
            .filter(|((p, c, n, s), _)| {
                *p == project.id
                    && *c == cluster
                    && *n == node_type
                    && sub_project.is_none_or(|wanted| wanted == *s)
            })
            .map(|(_, milli)| *milli)
            .sum()
    };
    let mut seen = BTreeSet::new();
    let mut clusters = Vec::new();
    for (_, cluster) in catalogue
        .clusters
        .iter()
        .filter(|(p, c)| *p == project.id && cluster_filter.is_none_or(|id| id == c.id))
    {
        if !seen.insert(cluster.id) {
            continue;
        }
        let mut aggregations = Vec::new();
        for aggregation in &catalogue.aggregations {
            let node_types: Vec<ClusterNodeTypeReportExt> = catalogue
                .node_types
                .iter()
                .filter(|n| n.cluster_id == cluster.id && n.aggregation_id == Some(aggregation.id))
                .map(|n| ClusterNodeTypeReportExt {
                    id: n.id,
                    name: n.name.clone(),
                    total_usage: Usage(total_of(cluster.id, n.id)),
                    jobs: Vec::new(),
                })
                .collect();
            if node_types.is_empty() {
                continue;
            }
            aggregations.push(ClusterNodeTypeAggregatedReportExt {
                id: aggregation.id,
                name: aggregation.name.clone(),
                total_usage: Usage(node_types.iter().map(|n| n.total_usage.0).sum()),
                cluster_node_types: node_types,
            });
        }
        clusters.push(ClusterAggregatedReportExt {
            id: cluster.id,
            name: cluster.name.clone(),
            total_usage: Usage(aggregations.iter().map(|a| a.total_usage.0).sum()),
            cluster_node_types_aggregations: aggregations,
        });
    }
    clusters
}

/// `GET ResourceUsageReportForJob` (Reporter): one job's tasks, under the
/// clusters and node types they ran on, if the caller reports on its project.
async fn resource_usage_report_for_job(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<ProjectExtendedReportExt>, Problem> {
    let params = Params(HeappeQuery(query));
    let principal = caller(&state, &params.0, &headers).await?;
    require(&principal, HeappeRole::Reporter)?;
    let job_id = positive_id(&params, "jobId", "JobId")?;
    let scope = principal.heappe_projects(HeappeRole::Reporter);
    let Some(project_id) = hpc::job_project(&state.db, &scope, job_id).await? else {
        return Err(external(if hpc::job_exists(&state.db, job_id).await? {
            format!("This reporter does not have access to report for Job: '{job_id}'.")
        } else {
            format!("SpecifiedJobId: '{job_id}' is not specified in the HEAppE.")
        }));
    };
    let projects = hpc::projects(&state.db, &scope, [project_id]).await?;
    let Some(project) = projects.first() else {
        return Err(external(format!(
            "This reporter does not have access to report for Job: '{job_id}'."
        )));
    };
    let catalogue = hpc::catalogue(&state.db, &scope, &[project_id]).await?;
    let ask = Ask::all_time();
    let totals = totals(
        &state,
        &scope,
        &[project],
        &catalogue,
        &ask,
        Some(vec![job_id]),
        vec![Dimension::Cluster, Dimension::Resource],
    )
    .await?;
    // The job whatever its state: no period applies here.
    let selection = JobSelection {
        period: JobPeriod::Any,
        job: Some(job_id),
        ..JobSelection::default()
    };
    let listing = listing(&state, &scope, project_id, &selection).await?;
    let tree = tree(project, &catalogue, &totals, &listing, None, true);
    Ok(Json(ProjectExtendedReportExt {
        id: project.id,
        name: project.name.clone(),
        description: project.description.clone(),
        accounting_string: project.accounting_string.clone(),
        total_usage: Usage(tree.total),
        clusters: tree
            .clusters
            .iter()
            .map(|c| ClusterExtendedReportExt {
                id: c.cluster.id,
                name: c.cluster.name.clone(),
                description: c.cluster.description.clone(),
                total_usage: Usage(c.total),
                cluster_node_types: c
                    .node_types
                    .iter()
                    .map(|n| ClusterNodeExtendedTypeReportExt {
                        id: n.node_type.id,
                        total_usage: Usage(n.total),
                        name: n.node_type.name.clone(),
                        description: n.node_type.description.clone(),
                        jobs: n
                            .jobs
                            .iter()
                            .map(|(job, tasks)| JobExtendedReportExt {
                                id: job.id,
                                name: job.name.clone(),
                                state: job.state,
                                tasks: tasks
                                    .iter()
                                    .map(|t| TaskExtendedReportExt {
                                        id: t.id,
                                        name: t.name.clone(),
                                        state: t.state,
                                        start_time: time(t.start_time),
                                        end_time: time(t.end_time),
                                        command_template_id: t.command_template_id.unwrap_or(0),
                                        usage: task_usage(project, t),
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// `GET JobsDetailedReport` (GroupReporter): every job of the caller's
/// GroupReporter projects inside `timeFrom`..`timeTo`, in detail.
async fn jobs_detailed_report(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ProjectDetailedReportExt>>, Problem> {
    let params = Params(HeappeQuery(query));
    let principal = caller(&state, &params.0, &headers).await?;
    require(&principal, HeappeRole::GroupReporter)?;
    let submitter = params.long("UserId")?;
    let ask = ask(&params, "timeFrom", "timeTo", false, submitter)?;
    let (scope, projects) =
        caller_projects(&state, &principal, HeappeRole::GroupReporter, None).await?;
    Ok(Json(
        project_trees(&state, &scope, &projects, &ask, detailed_report).await?,
    ))
}

/// HEAppE's JobState names, by value.
fn job_state_name(state: i16) -> &'static str {
    match state {
        1 => "Configuring",
        2 => "Submitted",
        4 => "Queued",
        8 => "Running",
        16 => "Finished",
        32 => "Failed",
        64 => "Canceled",
        128 => "WaitingForServiceAccount",
        256 => "Deleted",
        _ => "Unknown",
    }
}

/// One row of `JobsStateAgregationReport`: upstream's
/// `JobStateAggregationReportExt`, whose fields come in this order
/// (heappe.md; pinned by the `wire::heappe_jobs_state_aggregation_report`
/// snapshot).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct JobStateAggregationReportExt {
    /// HEAppE's JobState value.
    job_state_id: i16,
    /// Its name (`Finished`, …).
    job_state_name: &'static str,
    /// How many jobs are in that state.
    count: i64,
}

/// `GET /heappe/JobReporting/JobsStateAgregationReport` (upstream's spelling):
/// the number of jobs per state over every job of the caller's GroupReporter
/// projects.
async fn jobs_state_aggregation_report(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<JobStateAggregationReportExt>>, Problem> {
    let query = HeappeQuery(query);
    let principal = caller(&state, &query, &headers).await?;
    require(&principal, HeappeRole::GroupReporter)?;
    let scope = principal.heappe_projects(HeappeRole::GroupReporter);
    let counts = hpc::job_state_counts(&state.db, &scope).await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|c| JobStateAggregationReportExt {
                job_state_id: c.state,
                job_state_name: job_state_name(c.state),
                count: c.count,
            })
            .collect(),
    ))
}
