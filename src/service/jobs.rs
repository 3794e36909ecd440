//! HPC jobs and tasks: ingestion, usage and rollups, in one transaction.
//!
//! A job is keyed as schedulers key it: cluster, scheduler job id and submit
//! time (Slurm reuses ids). A job is sent whole, as it stands: re-sending it as
//! it progresses updates its state, times and tasks; once it is final it
//! changes only by an explicit correction. Each task's usage is computed with
//! the formula valid at its start (HEAppE's rule) and stored with the formula
//! that produced it; a task without a valid formula is flagged, never counted
//! as zero. The rollups receive, for every changed task, its new contribution
//! minus its old one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike as _, NaiveDate, SubsecRound as _, Utc};
use sea_orm::sea_query::{LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait as _,
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait, DbBackend, EntityTrait as _, QueryFilter as _,
    QuerySelect as _, Statement, TryIntoModel as _,
};
use serde::{Deserialize, Serialize};

use super::batch::{RejectionKind, Report};
use super::bulk;
use super::formulas::{Choice, FormulaBook};
use super::rollup::{Deltas, Key, Rollup};
use super::usage::{USAGE_DAILY, USAGE_HOURLY};
use crate::auth::ProjectScope;
use crate::domain::formula::to_milli;
use crate::domain::usage::{JobState, spread_over_hours};
use crate::entity::{
    cluster_projects, clusters, jobs, node_types, projects, sub_projects, task_parameters, tasks,
    users,
};
use crate::error::Error;

/// `hpc_usage_daily`.
pub const HPC_DAILY: Rollup = Rollup {
    table: "hpc_usage_daily",
    keys: &[
        "project_id",
        "cluster_id",
        "node_type_id",
        "sub_project_key",
        "submitter_key",
        "day",
        "unit",
    ],
    extra: &[],
    sums: &["usage_milli", "task_count"],
    nonnegative: &["usage_milli", "task_count"],
};

/// `hpc_job_usage`: usage by the UTC days its job started and ended, for
/// HEAppE's reports, which count the jobs lying entirely inside a period.
pub const HPC_JOBS: Rollup = Rollup {
    table: "hpc_job_usage",
    keys: &[
        "project_id",
        "cluster_id",
        "node_type_id",
        "sub_project_key",
        "submitter_key",
        "start_day",
        "end_day",
        "unit",
    ],
    extra: &[],
    sums: &["usage_milli", "task_count"],
    nonnegative: &["usage_milli", "task_count"],
};

/// `hpc_job_usage_monthly`: [`HPC_JOBS`] by the UTC months the job started
/// and ended (the first day of each), for reports over whole months.
pub const HPC_JOBS_MONTHLY: Rollup = Rollup {
    table: "hpc_job_usage_monthly",
    keys: &[
        "project_id",
        "cluster_id",
        "node_type_id",
        "sub_project_key",
        "submitter_key",
        "start_month",
        "end_month",
        "unit",
    ],
    extra: &[],
    sums: &["usage_milli", "task_count"],
    nonnegative: &["usage_milli", "task_count"],
};

/// The first day of `day`'s month.
pub(crate) fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// A state as sent: HEAppE's number (`16`) or name (`"Finished"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum StateInput {
    /// HEAppE's JobState value.
    Value(i64),
    /// HEAppE's JobState name.
    Name(String),
}

impl StateInput {
    fn parse(&self) -> Result<JobState, String> {
        match self {
            Self::Value(value) => {
                JobState::from_value(*value).ok_or_else(|| format!("no job state {value}"))
            }
            Self::Name(name) => {
                JobState::from_name(name).ok_or_else(|| format!("no job state {name:?}"))
            }
        }
    }
}

/// A batch of jobs of one cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobBatch {
    /// The cluster's name.
    pub cluster: String,
    /// The jobs, each whole.
    pub jobs: Vec<JobInput>,
    /// Replace final jobs whose content differs instead of rejecting them.
    #[serde(default)]
    pub correction: bool,
}

/// A job as a collector sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobInput {
    /// The scheduler's job id.
    pub scheduler_job_id: String,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: StateInput,
    /// The accounting string of its project.
    pub project: String,
    /// Its sub-project's identifier (created if new).
    #[serde(default)]
    pub sub_project: Option<String>,
    /// The submitter's Tally username, if they have one.
    #[serde(default)]
    pub submitter: Option<String>,
    /// The scheduler's account string.
    #[serde(default)]
    pub account: Option<String>,
    /// When the job was created (default: the submit time).
    #[serde(default)]
    pub creation_time: Option<DateTime<Utc>>,
    /// When it started.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// Its tasks.
    #[serde(default)]
    pub tasks: Vec<TaskInput>,
}

/// A task as a collector sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInput {
    /// Its position in the job, from 0.
    pub ordinal: i32,
    /// Its name (default: the job's).
    #[serde(default)]
    pub name: Option<String>,
    /// Its state.
    pub state: StateInput,
    /// The node type it ran on: its name or its queue on the job's cluster.
    pub node_type: String,
    /// The scheduler's id of the task.
    #[serde(default)]
    pub scheduler_job_id: Option<String>,
    /// When it started.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// Allocated cores.
    #[serde(default)]
    pub allocated_cores: Option<i32>,
    /// Allocated nodes.
    #[serde(default)]
    pub allocated_nodes: Option<i32>,
    /// Allocated GPUs.
    #[serde(default)]
    pub allocated_gpus: Option<i32>,
    /// Allocated wall time, seconds.
    #[serde(default)]
    pub allocated_seconds: Option<i64>,
    /// Scheduler parameters (`NumNodes`, `RunTime`, `cpu`, …): the formula's variables.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// `time` cut to the microsecond: what PostgreSQL keeps of it. Every time a
/// batch brings is cut on arrival, so a replayed job finds its stored row
/// and compares equal to it on both backends.
fn stored(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

impl JobBatch {
    /// The batch with every time cut to the microsecond ([`stored`]).
    fn at_stored_precision(&self) -> Self {
        let mut batch = self.clone();
        for job in &mut batch.jobs {
            job.submit_time = stored(job.submit_time);
            for time in [
                &mut job.creation_time,
                &mut job.start_time,
                &mut job.end_time,
            ] {
                *time = time.map(stored);
            }
            for task in &mut job.tasks {
                for time in [&mut task.start_time, &mut task.end_time] {
                    *time = time.map(stored);
                }
            }
        }
        batch
    }
}

/// A job's content, comparable between what is sent and what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobContent {
    name: String,
    state: i16,
    project_id: i64,
    sub_project_id: Option<i64>,
    submitter_id: Option<i64>,
    account: Option<String>,
    creation_time: DateTime<Utc>,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    tasks: BTreeMap<i32, TaskContent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskContent {
    name: String,
    state: i16,
    node_type_id: i64,
    scheduler_job_id: Option<String>,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    allocated_cores: Option<i32>,
    allocated_nodes: Option<i32>,
    allocated_gpus: Option<i32>,
    allocated_seconds: Option<i64>,
    parameters: BTreeMap<String, String>,
}

/// A task's computed usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usage {
    /// `pending`, `no_formula`, `error` or `computed`.
    pub(crate) status: &'static str,
    /// The usage in thousandths of `unit`, when computed.
    pub(crate) milli: Option<i64>,
    /// The formula's unit, when computed.
    pub(crate) unit: Option<String>,
    /// The formula version chosen, if any.
    pub(crate) formula_id: Option<i64>,
    /// Why no usage could be computed.
    pub(crate) error: Option<String>,
}

impl Usage {
    /// Writes this usage, computed at `now`, into a task row.
    pub(crate) fn set_on(&self, row: &mut tasks::ActiveModel, now: DateTime<Utc>) {
        row.usage_milli = Set(self.milli);
        row.usage_unit = Set(self.unit.clone());
        row.formula_id = Set(self.formula_id);
        row.usage_status = Set(self.status.to_owned());
        row.usage_error = Set(self.error.clone());
        row.usage_computed_at = Set(Some(now));
    }
}

fn check_times(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    what: &str,
) -> Result<(), String> {
    match (start, end) {
        (Some(start), Some(end)) if end < start => Err(format!("{what} ends before it starts")),
        _ => Ok(()),
    }
}

/// Checks what can be checked without the database.
fn validate(job: &JobInput) -> Result<(), String> {
    if job.scheduler_job_id.trim().is_empty() {
        return Err("schedulerJobId is empty".to_owned());
    }
    job.state.parse()?;
    check_times(job.start_time, job.end_time, "the job")?;
    let mut ordinals = HashSet::new();
    for task in &job.tasks {
        task.state.parse()?;
        if task.ordinal < 0 || !ordinals.insert(task.ordinal) {
            return Err(format!(
                "task ordinal {} is negative or repeated",
                task.ordinal
            ));
        }
        check_times(
            task.start_time,
            task.end_time,
            &format!("task {}", task.ordinal),
        )?;
        let negative = [
            task.allocated_cores,
            task.allocated_nodes,
            task.allocated_gpus,
        ]
        .iter()
        .flatten()
        .any(|v| *v < 0)
            || task.allocated_seconds.is_some_and(|s| s < 0);
        if negative {
            return Err(format!("task {} has a negative allocation", task.ordinal));
        }
        if task.parameters.keys().any(|k| k.trim().is_empty()) {
            return Err(format!(
                "task {} has a parameter without a name",
                task.ordinal
            ));
        }
    }
    Ok(())
}

fn key_text(cluster: &str, job: &JobInput) -> String {
    format!(
        "{cluster}/{}@{}",
        job.scheduler_job_id,
        job.submit_time.to_rfc3339()
    )
}

/// What a batch needs from the database, resolved once.
struct Resolved {
    cluster: clusters::Model,
    node_types: Vec<node_types::Model>,
    projects: HashMap<String, i64>,
    users: HashMap<String, i64>,
}

impl Resolved {
    fn node_type(&self, name: &str) -> Option<&node_types::Model> {
        self.node_types
            .iter()
            .find(|n| n.name == name)
            .or_else(|| self.node_types.iter().find(|n| n.queue == name))
    }
}

/// Ingests a batch of jobs in `db` (a transaction). With any rejection the
/// caller must roll back.
///
/// # Errors
/// A database error.
pub async fn ingest(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    batch: &JobBatch,
) -> Result<Report, Error> {
    let batch = &batch.at_stored_precision();
    let mut report = Report::default();
    let mut seen: HashMap<(String, DateTime<Utc>), usize> = HashMap::new();
    for (index, job) in batch.jobs.iter().enumerate() {
        let key = key_text(&batch.cluster, job);
        if let Err(reason) = validate(job) {
            report.reject(index, RejectionKind::Invalid, key, reason);
        } else if seen
            .insert((job.scheduler_job_id.clone(), job.submit_time), index)
            .is_some()
        {
            report.reject(
                index,
                RejectionKind::Invalid,
                key,
                "the batch holds this job twice",
            );
        }
    }
    if !report.accepted() {
        return Ok(report);
    }
    let Some(cluster) = clusters::Entity::find_by_name(&batch.cluster)
        .one(db)
        .await?
    else {
        for (index, job) in batch.jobs.iter().enumerate() {
            report.reject(
                index,
                RejectionKind::Invalid,
                key_text(&batch.cluster, job),
                format!("no cluster {:?}", batch.cluster),
            );
        }
        return Ok(report);
    };
    let resolved = Resolved {
        node_types: node_types::Entity::find_by_cluster(cluster.id)
            .all(db)
            .await?,
        projects: projects::Entity::find()
            .filter(
                projects::Column::AccountingString.is_in(
                    batch
                        .jobs
                        .iter()
                        .map(|j| j.project.as_str())
                        .collect::<BTreeSet<_>>(),
                ),
            )
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.accounting_string, p.id))
            .collect(),
        users: users::Entity::find()
            .filter(
                users::Column::Username.is_in(
                    batch
                        .jobs
                        .iter()
                        .filter_map(|j| j.submitter.as_deref())
                        .collect::<BTreeSet<_>>(),
                ),
            )
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.username, u.id))
            .collect(),
        cluster,
    };

    // Content of each job as sent, with names resolved.
    let mut sent: Vec<Option<JobContent>> = Vec::with_capacity(batch.jobs.len());
    let mut wanted_sub_projects: BTreeSet<(i64, String)> = BTreeSet::new();
    for (index, job) in batch.jobs.iter().enumerate() {
        let key = key_text(&batch.cluster, job);
        let Some(&project_id) = resolved.projects.get(&job.project) else {
            report.reject(
                index,
                RejectionKind::Invalid,
                key,
                format!("no project {:?}", job.project),
            );
            sent.push(None);
            continue;
        };
        if !scope.contains(project_id) {
            report.reject(
                index,
                RejectionKind::Forbidden,
                key,
                "not allowed to post usage for this project",
            );
            sent.push(None);
            continue;
        }
        let mut tasks = BTreeMap::new();
        let mut unknown = None;
        for task in &job.tasks {
            let Some(node_type) = resolved.node_type(&task.node_type) else {
                unknown = Some(task.node_type.clone());
                break;
            };
            tasks.insert(
                task.ordinal,
                TaskContent {
                    name: task.name.clone().unwrap_or_else(|| job.name.clone()),
                    state: task.state.parse().map(JobState::value).unwrap_or_default(),
                    node_type_id: node_type.id,
                    scheduler_job_id: task.scheduler_job_id.clone(),
                    start_time: task.start_time,
                    end_time: task.end_time,
                    allocated_cores: task.allocated_cores,
                    allocated_nodes: task.allocated_nodes,
                    allocated_gpus: task.allocated_gpus,
                    allocated_seconds: task.allocated_seconds,
                    parameters: task.parameters.clone(),
                },
            );
        }
        if let Some(name) = unknown {
            report.reject(
                index,
                RejectionKind::Invalid,
                key,
                format!(
                    "no node type or queue {name:?} on cluster {:?}",
                    batch.cluster
                ),
            );
            sent.push(None);
            continue;
        }
        if let Some(identifier) = &job.sub_project {
            wanted_sub_projects.insert((project_id, identifier.clone()));
        }
        sent.push(Some(JobContent {
            name: job.name.clone(),
            state: job.state.parse().map(JobState::value).unwrap_or_default(),
            project_id,
            // Resolved below, once for the whole batch.
            sub_project_id: None,
            submitter_id: job
                .submitter
                .as_ref()
                .and_then(|u| resolved.users.get(u))
                .copied(),
            account: job.account.clone(),
            creation_time: job.creation_time.unwrap_or(job.submit_time),
            start_time: job.start_time,
            end_time: job.end_time,
            tasks,
        }));
    }
    if !report.accepted() {
        return Ok(report);
    }
    let sub_project_ids = sub_projects(db, &wanted_sub_projects).await?;
    for (job, content) in batch.jobs.iter().zip(sent.iter_mut()) {
        if let (Some(content), Some(identifier)) = (content.as_mut(), &job.sub_project) {
            let id = sub_project_ids
                .get(&(content.project_id, identifier.clone()))
                .copied()
                .ok_or_else(|| Error::internal(&"a sub-project was not created"))?;
            content.sub_project_id = Some(id);
        }
    }

    lock_cluster(db, resolved.cluster.id).await?;
    let existing = load_existing(db, resolved.cluster.id, &batch.jobs).await?;
    let aggregations = resolved.node_types.iter().filter_map(|n| n.aggregation_id);
    let book = FormulaBook::load(db, aggregations).await?;
    let node_aggregation: HashMap<i64, Option<i64>> = resolved
        .node_types
        .iter()
        .map(|n| (n.id, n.aggregation_id))
        .collect();
    let now = Utc::now();
    let mut rollups = RollupDeltas::default();
    let mut associate: HashSet<i64> = HashSet::new();

    // New jobs are written together after the loop, a few statements per
    // batch; stored jobs that change (rare: progress and corrections) are
    // updated one by one.
    let mut fresh: Vec<(&JobInput, JobContent)> = Vec::new();
    for (index, (job, content)) in batch.jobs.iter().zip(sent).enumerate() {
        let Some(content) = content else { continue };
        let key = (job.scheduler_job_id.clone(), job.submit_time);
        associate.insert(content.project_id);
        let Some(stored) = existing.get(&key) else {
            report.inserted += 1;
            fresh.push((job, content));
            continue;
        };
        if stored.content == content {
            report.unchanged += 1;
            continue;
        }
        if stored.job.is_final && !batch.correction {
            report.reject(
                index,
                RejectionKind::Conflict,
                key_text(&batch.cluster, job),
                "the job is final and differs from what is stored; send it as a correction to replace it",
            );
            continue;
        }
        let is_final =
            JobState::from_value(i64::from(content.state)).is_some_and(JobState::is_final);
        let job_id = stored.job.id;
        // A job that changes project moves by delete and insert under the
        // same id: Citus cannot change a row's distribution column, and the
        // job's tasks must move to the new project's shard with it.
        let moved = stored.job.project_id != content.project_id;
        let mut row: jobs::ActiveModel = stored.job.clone().into();
        if moved {
            jobs::Entity::delete_many()
                .filter(jobs::Column::Id.eq(job_id))
                .filter(jobs::Column::ProjectId.eq(stored.job.project_id))
                .exec(db)
                .await?;
            row = row.reset_all();
            row.project_id = Set(content.project_id);
        }
        row.name = Set(content.name.clone());
        row.state = Set(content.state);
        row.sub_project_id = Set(content.sub_project_id);
        row.submitter_id = Set(content.submitter_id);
        row.account = Set(content.account.clone());
        row.creation_time = Set(content.creation_time);
        row.start_time = Set(content.start_time);
        row.end_time = Set(content.end_time);
        row.is_final = Set(is_final);
        row.updated_at = Set(now);
        if moved {
            row.insert(db).await?;
        } else {
            // By id and project, so that Citus routes it to one shard.
            jobs::Entity::update_many()
                .set(row)
                .filter(jobs::Column::Id.eq(job_id))
                .filter(jobs::Column::ProjectId.eq(content.project_id))
                .exec(db)
                .await?;
        }
        report.updated += 1;
        // Tasks: remove the old contribution of every stored task, write the
        // new state, add the new contribution.
        for task in &stored.tasks {
            rollups.add(resolved.cluster.id, &stored.job_dims(), task, -1);
        }
        let keep: HashSet<i32> = content.tasks.keys().copied().collect();
        let gone: Vec<i64> = stored
            .tasks
            .iter()
            .filter(|t| !moved && !keep.contains(&t.ordinal))
            .map(|t| t.id)
            .collect();
        if !gone.is_empty() {
            tasks::Entity::delete_many()
                .filter(tasks::Column::ProjectId.eq(content.project_id))
                .filter(tasks::Column::Id.is_in(gone))
                .exec(db)
                .await?;
        }
        let dims = JobDims {
            project_id: content.project_id,
            sub_project_id: content.sub_project_id,
            submitter_id: content.submitter_id,
            group_id: stored.job.group_id,
            start_time: content.start_time,
            end_time: content.end_time,
        };
        for (ordinal, task) in &content.tasks {
            let usage = compute(
                &book,
                node_aggregation.get(&task.node_type_id).copied().flatten(),
                task.start_time,
                &task.parameters,
            );
            let previous = stored
                .tasks
                .iter()
                .find(|t| !moved && t.ordinal == *ordinal);
            let row = write_task(
                db,
                job_id,
                content.project_id,
                *ordinal,
                task,
                &usage,
                previous,
                now,
            )
            .await?;
            rollups.add(resolved.cluster.id, &dims, &row, 1);
        }
    }
    if !report.accepted() {
        return Ok(report);
    }
    let new_jobs = NewJobs {
        cluster_id: resolved.cluster.id,
        book: &book,
        node_aggregation: &node_aggregation,
        now,
    };
    new_jobs.insert(db, &fresh, &mut rollups).await?;
    if !report.accepted() {
        return Ok(report);
    }
    // Collectors' projects may use the cluster they post for.
    let pairs: Vec<cluster_projects::ActiveModel> = associate
        .into_iter()
        .map(|project_id| cluster_projects::ActiveModel {
            cluster_id: Set(resolved.cluster.id),
            project_id: Set(project_id),
            ..Default::default()
        })
        .collect();
    if !pairs.is_empty() {
        cluster_projects::Entity::insert_many(pairs)
            .on_conflict(
                OnConflict::columns([
                    cluster_projects::Column::ClusterId,
                    cluster_projects::Column::ProjectId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    rollups.apply(db, now).await?;
    Ok(report)
}

/// The ids of the sub-projects `wanted` (project, identifier), created when
/// new (HEAppE get-or-creates sub-projects at job creation): a few statements
/// per batch, however many jobs name them.
async fn sub_projects(
    db: &impl ConnectionTrait,
    wanted: &BTreeSet<(i64, String)>,
) -> Result<HashMap<(i64, String), i64>, Error> {
    let mut found = HashMap::new();
    let list: Vec<&(i64, String)> = wanted.iter().collect();
    for chunk in list.chunks(500) {
        let mut rows = find_sub_projects(db, chunk).await?;
        let missing: Vec<sub_projects::ActiveModel> = chunk
            .iter()
            .filter(|(project_id, identifier)| {
                !rows
                    .iter()
                    .any(|r| r.project_id == *project_id && r.identifier == *identifier)
            })
            .map(|(project_id, identifier)| sub_projects::ActiveModel {
                project_id: Set(*project_id),
                identifier: Set(identifier.clone()),
                ..Default::default()
            })
            .collect();
        if !missing.is_empty() {
            // A concurrent batch may create the same one: keep either.
            sub_projects::Entity::insert_many(missing)
                .on_conflict(
                    OnConflict::columns([
                        sub_projects::Column::ProjectId,
                        sub_projects::Column::Identifier,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            rows = find_sub_projects(db, chunk).await?;
        }
        for row in rows {
            let key = (row.project_id, row.identifier);
            if wanted.contains(&key) {
                found.insert(key, row.id);
            }
        }
    }
    Ok(found)
}

/// The stored sub-projects among `pairs` (and perhaps a few others of the
/// same projects, which the caller ignores).
async fn find_sub_projects(
    db: &impl ConnectionTrait,
    pairs: &[&(i64, String)],
) -> Result<Vec<sub_projects::Model>, Error> {
    Ok(sub_projects::Entity::find()
        .filter(sub_projects::Column::ProjectId.is_in(pairs.iter().map(|(p, _)| *p)))
        .filter(sub_projects::Column::Identifier.is_in(pairs.iter().map(|(_, i)| i.as_str())))
        .all(db)
        .await?)
}

/// Computes the usage of a task that started at `start` on a node type of
/// `aggregation`, with the formula valid at its start and the scheduler's
/// `parameters` as variables.
pub(crate) fn compute(
    book: &FormulaBook,
    aggregation: Option<i64>,
    start: Option<DateTime<Utc>>,
    parameters: &BTreeMap<String, String>,
) -> Usage {
    let none = |status, error: Option<String>| Usage {
        status,
        milli: None,
        unit: None,
        formula_id: None,
        error,
    };
    if start.is_none() {
        return none("pending", None);
    }
    match book.choose(aggregation, start) {
        Choice::None => none(
            "no_formula",
            Some("no formula is valid at the task's start".to_owned()),
        ),
        Choice::Broken(row, reason) => Usage {
            status: "error",
            milli: None,
            unit: None,
            formula_id: Some(row.id),
            error: Some(format!("formula {} does not parse: {reason}", row.id)),
        },
        Choice::Formula(row, formula) => match formula.evaluate(parameters).map(to_milli) {
            Ok(Some(milli)) => Usage {
                status: "computed",
                milli: Some(milli),
                unit: Some(row.unit.clone()),
                formula_id: Some(row.id),
                error: None,
            },
            Ok(None) => Usage {
                status: "error",
                milli: None,
                unit: None,
                formula_id: Some(row.id),
                error: Some("usage out of range".to_owned()),
            },
            Err(error) => Usage {
                status: "error",
                milli: None,
                unit: None,
                formula_id: Some(row.id),
                error: Some(error.to_string()),
            },
        },
    }
}

/// What writing new jobs needs to know.
struct NewJobs<'a> {
    cluster_id: i64,
    book: &'a FormulaBook,
    node_aggregation: &'a HashMap<i64, Option<i64>>,
    now: DateTime<Utc>,
}

impl NewJobs<'_> {
    /// Inserts jobs that were not stored, with their tasks and parameters, a
    /// chunk of rows per statement, and adds their tasks' contributions.
    async fn insert(
        &self,
        db: &impl ConnectionTrait,
        fresh: &[(&JobInput, JobContent)],
        rollups: &mut RollupDeltas,
    ) -> Result<(), Error> {
        if fresh.is_empty() {
            return Ok(());
        }
        let now = self.now;
        // Returned rows are matched by natural key; PostgreSQL keeps times to
        // the microsecond, so the key does too.
        let key = |scheduler_job_id: String, submit_time: DateTime<Utc>| {
            (scheduler_job_id, submit_time.timestamp_micros())
        };
        let rows: Vec<_> = fresh
            .iter()
            .map(|(job, content)| {
                let row = jobs::ActiveModel {
                    cluster_id: Set(self.cluster_id),
                    scheduler_job_id: Set(job.scheduler_job_id.clone()),
                    submit_time: Set(job.submit_time),
                    name: Set(content.name.clone()),
                    state: Set(content.state),
                    project_id: Set(content.project_id),
                    sub_project_id: Set(content.sub_project_id),
                    submitter_id: Set(content.submitter_id),
                    account: Set(content.account.clone()),
                    creation_time: Set(content.creation_time),
                    start_time: Set(content.start_time),
                    end_time: Set(content.end_time),
                    is_final: Set(JobState::from_value(i64::from(content.state))
                        .is_some_and(JobState::is_final)),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                };
                (key(job.scheduler_job_id.clone(), job.submit_time), row)
            })
            .collect();
        let job_ids = bulk::insert_returning(
            db,
            rows,
            &[
                jobs::Column::Id,
                jobs::Column::SchedulerJobId,
                jobs::Column::SubmitTime,
            ],
            |row| {
                Ok(key(
                    row.try_get("", "scheduler_job_id")?,
                    row.try_get("", "submit_time")?,
                ))
            },
        )
        .await?;
        let mut task_rows = Vec::new();
        for ((_, content), returned) in fresh.iter().zip(job_ids) {
            let job_id: i64 = returned.try_get("", "id")?;
            let dims = JobDims {
                project_id: content.project_id,
                sub_project_id: content.sub_project_id,
                submitter_id: content.submitter_id,
                group_id: None,
                start_time: content.start_time,
                end_time: content.end_time,
            };
            for (ordinal, task) in &content.tasks {
                let usage = compute(
                    self.book,
                    self.node_aggregation
                        .get(&task.node_type_id)
                        .copied()
                        .flatten(),
                    task.start_time,
                    &task.parameters,
                );
                let row = tasks::Model {
                    id: 0,
                    job_id,
                    project_id: content.project_id,
                    ordinal: *ordinal,
                    scheduler_job_id: task.scheduler_job_id.clone(),
                    name: task.name.clone(),
                    state: task.state,
                    node_type_id: Some(task.node_type_id),
                    command_template_id: None,
                    start_time: task.start_time,
                    end_time: task.end_time,
                    allocated_cores: task.allocated_cores,
                    allocated_nodes: task.allocated_nodes,
                    allocated_gpus: task.allocated_gpus,
                    allocated_seconds: task.allocated_seconds,
                    usage_milli: usage.milli,
                    usage_unit: usage.unit,
                    formula_id: usage.formula_id,
                    usage_status: usage.status.to_owned(),
                    usage_error: usage.error,
                    usage_computed_at: Some(now),
                    created_at: now,
                    updated_at: now,
                };
                rollups.add(self.cluster_id, &dims, &row, 1);
                let mut row: tasks::ActiveModel = row.into();
                row.id = NotSet;
                task_rows.push(((job_id, *ordinal), row));
            }
        }
        let task_ids = bulk::insert_returning(
            db,
            task_rows,
            &[
                tasks::Column::Id,
                tasks::Column::JobId,
                tasks::Column::Ordinal,
            ],
            |row| Ok((row.try_get("", "job_id")?, row.try_get("", "ordinal")?)),
        )
        .await?;
        let mut task_ids = task_ids.into_iter();
        let mut parameters = Vec::new();
        for (_, content) in fresh {
            for task in content.tasks.values() {
                let task_id: i64 = task_ids
                    .next()
                    .ok_or_else(|| Error::internal(&"an inserted task did not come back"))?
                    .try_get("", "id")?;
                parameters.extend(task.parameters.iter().map(|(name, value)| {
                    task_parameters::ActiveModel {
                        task_id: Set(task_id),
                        name: Set(name.clone()),
                        value: Set(value.clone()),
                        project_id: Set(content.project_id),
                    }
                }));
            }
        }
        bulk::insert(db, parameters).await
    }
}

/// Inserts or updates one task and its parameters; returns the stored row.
#[expect(
    clippy::too_many_arguments,
    reason = "one task's full state, written in one place"
)]
async fn write_task(
    db: &impl ConnectionTrait,
    job_id: i64,
    project_id: i64,
    ordinal: i32,
    task: &TaskContent,
    usage: &Usage,
    previous: Option<&tasks::Model>,
    now: DateTime<Utc>,
) -> Result<tasks::Model, Error> {
    // The project is set once, on insert: a task never changes shard (a job
    // that changes project is deleted and inserted again).
    let mut row = match previous {
        Some(previous) => previous.clone().into(),
        None => tasks::ActiveModel {
            job_id: Set(job_id),
            project_id: Set(project_id),
            ordinal: Set(ordinal),
            created_at: Set(now),
            ..Default::default()
        },
    };
    row.name = Set(task.name.clone());
    row.state = Set(task.state);
    row.node_type_id = Set(Some(task.node_type_id));
    row.scheduler_job_id = Set(task.scheduler_job_id.clone());
    row.start_time = Set(task.start_time);
    row.end_time = Set(task.end_time);
    row.allocated_cores = Set(task.allocated_cores);
    row.allocated_nodes = Set(task.allocated_nodes);
    row.allocated_gpus = Set(task.allocated_gpus);
    row.allocated_seconds = Set(task.allocated_seconds);
    usage.set_on(&mut row, now);
    row.updated_at = Set(now);
    let saved = match previous {
        Some(previous) => {
            task_parameters::Entity::delete_many()
                .filter(task_parameters::Column::ProjectId.eq(project_id))
                .filter(task_parameters::Column::TaskId.eq(previous.id))
                .exec(db)
                .await?;
            // By id and project, so that Citus routes it to one shard.
            tasks::Entity::update_many()
                .set(row.clone())
                .filter(tasks::Column::Id.eq(previous.id))
                .filter(tasks::Column::ProjectId.eq(project_id))
                .exec(db)
                .await?;
            row.try_into_model()?
        }
        None => row.insert(db).await?,
    };
    let parameters: Vec<task_parameters::ActiveModel> = task
        .parameters
        .iter()
        .map(|(name, value)| task_parameters::ActiveModel {
            task_id: Set(saved.id),
            name: Set(name.clone()),
            value: Set(value.clone()),
            project_id: Set(saved.project_id),
        })
        .collect();
    for chunk in parameters.chunks(300) {
        task_parameters::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(saved)
}

/// A stored job with its tasks.
struct Stored {
    job: jobs::Model,
    tasks: Vec<tasks::Model>,
    content: JobContent,
}

/// The job-level dimensions of a task's usage.
pub(crate) struct JobDims {
    project_id: i64,
    sub_project_id: Option<i64>,
    submitter_id: Option<i64>,
    group_id: Option<i64>,
    /// When the job started and ended: its tasks' usage is in
    /// [`HPC_JOBS`] under these days once both are known.
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
}

impl JobDims {
    /// The dimensions of a stored job.
    pub(crate) fn of(job: &jobs::Model) -> Self {
        Self {
            project_id: job.project_id,
            sub_project_id: job.sub_project_id,
            submitter_id: job.submitter_id,
            group_id: job.group_id,
            start_time: job.start_time,
            end_time: job.end_time,
        }
    }
}

impl Stored {
    fn job_dims(&self) -> JobDims {
        JobDims::of(&self.job)
    }
}

/// On PostgreSQL, waits until no other transaction ingests jobs of the
/// cluster, and keeps it so until this one ends.
///
/// A job's natural key (cluster, scheduler id, submit time) is unique across
/// projects, but on Citus a unique constraint must include the distribution
/// column (`project_id`): one cluster's batches at a time keep it unique
/// instead (the lookup of stored jobs and the inserts happen under this lock).
/// Tally instances all connect to the coordinator, which holds the lock.
/// (SQLite has one writer at a time.)
async fn lock_cluster(db: &impl ConnectionTrait, cluster_id: i64) -> Result<(), Error> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2)",
            [CLUSTER_LOCK.into(), cluster_lock_key(cluster_id).into()],
        ))
        .await?;
    }
    Ok(())
}

/// The first half of the advisory lock key of [`lock_cluster`] ("TaLy").
const CLUSTER_LOCK: i32 = 0x5461_4c79;

/// The second half: the cluster id (ids beyond `i32` wrap, which only makes
/// two clusters share a lock).
fn cluster_lock_key(cluster_id: i64) -> i32 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a lock key: wrapping only shares the lock"
    )]
    let key = cluster_id as i32;
    key
}

/// The stored jobs of a batch, by natural key, with tasks and parameters.
async fn load_existing(
    db: &impl ConnectionTrait,
    cluster_id: i64,
    inputs: &[JobInput],
) -> Result<HashMap<(String, DateTime<Utc>), Stored>, Error> {
    let wanted: HashSet<(String, DateTime<Utc>)> = inputs
        .iter()
        .map(|j| (j.scheduler_job_id.clone(), j.submit_time))
        .collect();
    let mut found: HashMap<(String, DateTime<Utc>), Stored> = HashMap::new();
    // On PostgreSQL the stored jobs and tasks are locked until the batch
    // commits: a recomputation chunk waits and then reads what this one
    // wrote, so no contribution is removed twice (concurrent batches of the
    // cluster already wait in `lock_cluster`). Rows are locked project by
    // project, by id: Citus locks rows only in statements that name one
    // shard. (SQLite has one writer at a time.)
    let lock = db.get_database_backend() == DbBackend::Postgres;
    for chunk in inputs.chunks(500) {
        let rows = jobs::Entity::find()
            .filter(jobs::Column::ClusterId.eq(cluster_id))
            .filter(
                jobs::Column::SchedulerJobId
                    .is_in(chunk.iter().map(|j| j.scheduler_job_id.as_str())),
            )
            .all(db)
            .await?;
        let mut by_project: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for job in rows
            .iter()
            .filter(|j| wanted.contains(&(j.scheduler_job_id.clone(), j.submit_time)))
        {
            by_project.entry(job.project_id).or_default().push(job.id);
        }
        let mut rows: Vec<jobs::Model> = Vec::new();
        let mut task_rows: Vec<tasks::Model> = Vec::new();
        let mut parameters: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
        for (project_id, ids) in by_project {
            let mut select = jobs::Entity::find()
                .filter(jobs::Column::ProjectId.eq(project_id))
                .filter(jobs::Column::Id.is_in(ids.iter().copied()));
            let mut task_select = tasks::Entity::find()
                .filter(tasks::Column::ProjectId.eq(project_id))
                .filter(tasks::Column::JobId.is_in(ids));
            if lock {
                select = select.lock(LockType::Update);
                task_select = task_select.lock(LockType::Update);
            }
            rows.extend(select.all(db).await?);
            let project_tasks = task_select.all(db).await?;
            let task_ids: Vec<i64> = project_tasks.iter().map(|t| t.id).collect();
            for ids in task_ids.chunks(500) {
                for p in task_parameters::Entity::find()
                    .filter(task_parameters::Column::ProjectId.eq(project_id))
                    .filter(task_parameters::Column::TaskId.is_in(ids.iter().copied()))
                    .all(db)
                    .await?
                {
                    parameters
                        .entry(p.task_id)
                        .or_default()
                        .insert(p.name, p.value);
                }
            }
            task_rows.extend(project_tasks);
        }
        for job in rows {
            let tasks: Vec<tasks::Model> = task_rows
                .iter()
                .filter(|t| t.job_id == job.id)
                .cloned()
                .collect();
            let content = JobContent {
                name: job.name.clone(),
                state: job.state,
                project_id: job.project_id,
                sub_project_id: job.sub_project_id,
                submitter_id: job.submitter_id,
                account: job.account.clone(),
                creation_time: job.creation_time,
                start_time: job.start_time,
                end_time: job.end_time,
                tasks: tasks
                    .iter()
                    .map(|t| {
                        (
                            t.ordinal,
                            TaskContent {
                                name: t.name.clone(),
                                state: t.state,
                                node_type_id: t.node_type_id.unwrap_or_default(),
                                scheduler_job_id: t.scheduler_job_id.clone(),
                                start_time: t.start_time,
                                end_time: t.end_time,
                                allocated_cores: t.allocated_cores,
                                allocated_nodes: t.allocated_nodes,
                                allocated_gpus: t.allocated_gpus,
                                allocated_seconds: t.allocated_seconds,
                                parameters: parameters.get(&t.id).cloned().unwrap_or_default(),
                            },
                        )
                    })
                    .collect(),
            };
            found.insert(
                (job.scheduler_job_id.clone(), job.submit_time),
                Stored {
                    job,
                    tasks,
                    content,
                },
            );
        }
    }
    Ok(found)
}

/// Rollup deltas of HPC usage.
#[derive(Default)]
pub(crate) struct RollupDeltas {
    daily: Deltas,
    jobs: Deltas,
    jobs_monthly: Deltas,
    usage_daily: Deltas,
    usage_hourly: Deltas,
}

impl RollupDeltas {
    /// Adds (`sign` = 1) or removes (`sign` = -1) a task's contribution.
    pub(crate) fn add(&mut self, cluster_id: i64, job: &JobDims, task: &tasks::Model, sign: i64) {
        let (Some(milli), Some(unit), Some(node_type)) =
            (task.usage_milli, &task.usage_unit, task.node_type_id)
        else {
            return;
        };
        if task.usage_status != "computed" {
            return;
        }
        if let (Some(job_start), Some(job_end)) = (job.start_time, job.end_time) {
            let (start_day, end_day) = (job_start.date_naive(), job_end.date_naive());
            for (deltas, start, end) in [
                (&mut self.jobs, start_day, end_day),
                (
                    &mut self.jobs_monthly,
                    month_of(start_day),
                    month_of(end_day),
                ),
            ] {
                deltas.add(
                    Key(vec![
                        job.project_id.into(),
                        cluster_id.into(),
                        node_type.into(),
                        job.sub_project_id.unwrap_or(0).into(),
                        job.submitter_id.unwrap_or(0).into(),
                        start.into(),
                        end.into(),
                        unit.clone().into(),
                    ]),
                    &[sign * milli, sign],
                );
            }
        }
        let Some(start) = task.start_time else { return };
        let end = task.end_time.unwrap_or(start);
        let parts = spread_over_hours(milli, start, end);
        let last = parts.len().saturating_sub(1);
        let mut per_day: BTreeMap<chrono::NaiveDate, (i64, i64)> = BTreeMap::new();
        for (i, (hour, share)) in parts.iter().enumerate() {
            let count = i64::from(i == last);
            let entry = per_day.entry(hour.date_naive()).or_default();
            entry.0 += share;
            entry.1 += count;
            self.usage_hourly.add(
                usage_key(job, node_type, unit, (*hour).into()),
                &[sign * share, sign * count],
            );
        }
        for (day, (share, count)) in per_day {
            self.usage_daily.add(
                usage_key(job, node_type, unit, day.into()),
                &[sign * share, sign * count],
            );
            self.daily.add(
                Key(vec![
                    job.project_id.into(),
                    cluster_id.into(),
                    node_type.into(),
                    job.sub_project_id.unwrap_or(0).into(),
                    job.submitter_id.unwrap_or(0).into(),
                    day.into(),
                    unit.clone().into(),
                ]),
                &[sign * share, sign * count],
            );
        }
    }

    /// Writes the deltas into the five rollups, then forgets them.
    pub(crate) async fn apply(
        &mut self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.daily.apply(db, &HPC_DAILY, now).await?;
        self.jobs.apply(db, &HPC_JOBS, now).await?;
        self.jobs_monthly.apply(db, &HPC_JOBS_MONTHLY, now).await?;
        self.usage_daily.apply(db, &USAGE_DAILY, now).await?;
        self.usage_hourly.apply(db, &USAGE_HOURLY, now).await
    }
}

fn usage_key(job: &JobDims, node_type: i64, unit: &str, bucket: sea_orm::Value) -> Key {
    Key(vec![
        job.project_id.into(),
        "hpc".into(),
        "node_type".into(),
        node_type.into(),
        job.submitter_id.unwrap_or(0).into(),
        job.group_id.unwrap_or(0).into(),
        unit.to_owned().into(),
        3_i16.into(),
        bucket,
    ])
}
