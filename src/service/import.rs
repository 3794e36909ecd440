//! `tally import slurm FILE`: Slurm `sacct` output into the HPC ingestion
//! service ([`jobs::ingest`]), the same path the collectors' REST route takes.
//!
//! The file is parsed by [`slurm::parse`] (one [`LineError`] per bad line,
//! never a failure of the whole file); each job becomes one Tally job with
//! one task (ordinal 0). `docs/import.md` is the operator's guide; the
//! decisions, in short:
//!
//! * **Skipped, with a reason and the line** (the import goes on): a job whose
//!   state is not a sacct state (xdmod warns and skips too), that has no
//!   `Submit` time (Tally keys a job by cluster, JobID and Submit, as Slurm's
//!   database does), whose `Account` is not a project's accounting string when
//!   no default project is set, whose `Partition` is not a node type (name or
//!   queue) of the cluster, or that is empty when no default partition is set,
//!   or whose counts do not fit a task. These are checked here, before the
//!   service sees the job, because the service rejects a whole batch for one
//!   such job.
//! * **Repeated jobs**: when the same job (JobID and Submit) appears on several
//!   lines (overlapping exports concatenated), the last line wins; the earlier
//!   ones are reported as superseded, which is not a problem. A requeued job
//!   has a new Submit time, so each run is a job of its own.
//! * **Batches**: jobs go to the service [`ImportOptions::batch_size`] at a
//!   time, each batch in its own transaction, committed only when the service
//!   accepts it. When it does not (a final job that differs from what is
//!   stored, without `correction`), the transaction is rolled back, the jobs
//!   the service named are reported as rejected, and the rest of the batch is
//!   sent again in a new transaction. So a bad job never blocks the others, and
//!   what is committed is always a batch the service accepted whole.
//! * **Dry run**: every batch runs and is rolled back, so the counts are what
//!   a real run would report.
//! * **Subscribers** hear of each committed batch's usage, as they do of a
//!   batch posted to the REST route ([`EventBus::write`]); on SQLite only
//!   when the bus is a serving process's.
//! * A database error stops the import. Batches already committed stay
//!   committed; running the same import again is harmless (replays are
//!   `unchanged`).
//!
//! The command runs as the operator: the scope is every project
//! ([`ProjectScope::All`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, TransactionTrait as _,
};
use serde::Serialize;

use super::events::{Decision, EventBus};
use super::jobs::{self, JobBatch, JobInput, StateInput, TaskInput};
use crate::auth::ProjectScope;
use crate::domain::slurm::{self, LineError, SacctJob, SacctOptions};
use crate::entity::{clusters, node_types, projects};
use crate::error::Error;

/// Jobs per transaction unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// How to import a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The Tally cluster the jobs ran on (by name); it must exist.
    pub cluster: String,
    /// The accounting string of the project for jobs whose Slurm `Account` is
    /// not a project's accounting string (or is empty). Without it such jobs
    /// are skipped.
    pub default_project: Option<String>,
    /// The node type (name or queue) for jobs whose `Partition` is empty or
    /// not in the layout. Without it such jobs are skipped.
    pub default_partition: Option<String>,
    /// The `--format` list the file was produced with, for files without a
    /// header line.
    pub format: Option<String>,
    /// The delimiter; detected when absent.
    pub delimiter: Option<String>,
    /// Replace final jobs whose content differs instead of rejecting them.
    pub correction: bool,
    /// Run everything, then roll back: report without storing.
    pub dry_run: bool,
    /// Jobs per transaction (at least 1).
    pub batch_size: usize,
}

impl ImportOptions {
    /// Options for `cluster` with every default: no default project or
    /// partition, layout from a header line, delimiter detected, no
    /// correction, not a dry run, [`DEFAULT_BATCH_SIZE`].
    #[must_use]
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            default_project: None,
            default_partition: None,
            format: None,
            delimiter: None,
            correction: false,
            dry_run: false,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// A job that was not imported (or was superseded), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobIssue {
    /// The 1-based line of the job in the input.
    pub line: usize,
    /// Its JobID as printed (`4103947_100`).
    pub job_id: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for JobIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: job {}: {}",
            self.line, self.job_id, self.reason
        )
    }
}

/// What an import did.
///
/// Every parsed job is counted exactly once: `jobs_parsed = inserted +
/// updated + unchanged + skipped + rejected + superseded`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// The cluster the jobs were imported into.
    pub cluster: String,
    /// Whether this was a dry run (the counts say what would have happened).
    pub dry_run: bool,
    /// Lines in the input, blank and comment lines included.
    pub lines: usize,
    /// Jobs the parser accepted (steps folded in).
    pub jobs_parsed: usize,
    /// Jobs that were new.
    pub inserted: usize,
    /// Jobs that were stored with other content and were updated (a job in
    /// progress, or a final job with `correction`).
    pub updated: usize,
    /// Jobs stored with the same content (replays).
    pub unchanged: usize,
    /// Batches committed (rolled back on a dry run).
    pub batches: usize,
    /// Jobs not sent to the service, with the reason.
    pub skipped: Vec<JobIssue>,
    /// Jobs the service refused (e.g. a final job that differs, without
    /// `correction`); the rest of their batch was imported.
    pub rejected: Vec<JobIssue>,
    /// Earlier lines of a job that appears again later; the last line is
    /// imported. Not a problem.
    pub superseded: Vec<JobIssue>,
    /// Lines the parser rejected, each naming its line.
    pub errors: Vec<LineError>,
}

impl ImportSummary {
    /// Whether every job of the input was imported: nothing skipped or
    /// rejected and no line refused.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.skipped.is_empty() && self.rejected.is_empty() && self.errors.is_empty()
    }
}

impl fmt::Display for ImportSummary {
    /// The summary an operator reads: counts, then one `line N: …` per
    /// problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(
                f,
                "dry run: sacct output for cluster {:?} (nothing was stored)",
                self.cluster
            )?;
        } else {
            writeln!(f, "imported sacct output into cluster {:?}", self.cluster)?;
        }
        for (label, count) in [
            ("lines read", self.lines),
            ("jobs parsed", self.jobs_parsed),
            ("inserted", self.inserted),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("superseded", self.superseded.len()),
            ("skipped", self.skipped.len()),
            ("rejected", self.rejected.len()),
            ("parse errors", self.errors.len()),
        ] {
            writeln!(f, "  {label:<13} {count}")?;
        }
        let sections: [(&str, Vec<String>); 4] = [
            (
                "skipped jobs:",
                self.skipped.iter().map(ToString::to_string).collect(),
            ),
            (
                "rejected jobs (the rest of their batch was imported):",
                self.rejected.iter().map(ToString::to_string).collect(),
            ),
            (
                "parse errors:",
                self.errors.iter().map(ToString::to_string).collect(),
            ),
            (
                "superseded (a later line of the same job was imported):",
                self.superseded.iter().map(ToString::to_string).collect(),
            ),
        ];
        for (title, lines) in sections {
            if !lines.is_empty() {
                writeln!(f, "{title}")?;
                for line in lines {
                    writeln!(f, "  {line}")?;
                }
            }
        }
        Ok(())
    }
}

/// A job ready for the service, with where it came from.
struct Prepared {
    line: usize,
    input: JobInput,
}

/// Imports `text` (sacct output) into the cluster named in `options`,
/// publishing each committed batch's usage on `bus`.
///
/// # Errors
/// [`Error::NotFound`] when the cluster, the default project or the default
/// partition does not exist; [`Error::BadRequest`] for a batch size of 0; a
/// database error (batches committed before it stay committed).
pub async fn import_slurm(
    db: &DatabaseConnection,
    bus: &EventBus,
    text: &str,
    options: &ImportOptions,
) -> Result<ImportSummary, Error> {
    if options.batch_size == 0 {
        return Err(Error::BadRequest(
            "the batch size must be at least 1".to_owned(),
        ));
    }
    let cluster = clusters::Entity::find_by_name(&options.cluster)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no cluster {:?}", options.cluster)))?;
    let node_types = NodeTypes(
        node_types::Entity::find_by_cluster(cluster.id)
            .all(db)
            .await?,
    );
    if let Some(partition) = &options.default_partition
        && !node_types.contains(partition)
    {
        return Err(Error::NotFound(format!(
            "no node type or queue {partition:?} on cluster {:?}",
            options.cluster
        )));
    }
    if let Some(accounting) = &options.default_project
        && projects::Entity::find_by_accounting_string(accounting)
            .one(db)
            .await?
            .is_none()
    {
        return Err(Error::NotFound(format!("no project {accounting:?}")));
    }

    let parsed = slurm::parse(
        text,
        &SacctOptions {
            format: options.format.clone(),
            delimiter: options.delimiter.clone(),
        },
    );
    let mut summary = ImportSummary {
        cluster: cluster.name.clone(),
        dry_run: options.dry_run,
        lines: text.lines().count(),
        jobs_parsed: parsed.jobs.len(),
        errors: parsed.errors,
        ..ImportSummary::default()
    };
    let projects = resolve_projects(db, &parsed.jobs).await?;

    // Map every job, then keep the last line of each (JobID, Submit).
    let mut prepared: Vec<Option<Prepared>> = Vec::with_capacity(parsed.jobs.len());
    let mut latest: HashMap<(String, DateTime<Utc>), usize> = HashMap::new();
    for job in &parsed.jobs {
        let input = match to_input(job, options, &projects, &node_types) {
            Ok(input) => input,
            Err(reason) => {
                summary.skipped.push(issue(job.line, &job.job_id, reason));
                continue;
            }
        };
        let key = (input.scheduler_job_id.clone(), input.submit_time);
        if let Some(earlier) = latest.insert(key, prepared.len())
            && let Some(earlier) = prepared.get_mut(earlier).and_then(Option::take)
        {
            summary.superseded.push(issue(
                earlier.line,
                &earlier.input.scheduler_job_id,
                format!(
                    "line {} repeats this job (JobID and Submit) and replaces it",
                    job.line
                ),
            ));
        }
        prepared.push(Some(Prepared {
            line: job.line,
            input,
        }));
    }
    summary.superseded.sort_by_key(|i| i.line);

    let prepared: Vec<Prepared> = prepared.into_iter().flatten().collect();
    let mut rest = prepared.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Prepared> = rest.by_ref().take(options.batch_size).collect();
        run_batch(db, bus, &cluster.name, batch, options, &mut summary).await?;
    }
    summary.rejected.sort_by_key(|i| i.line);
    Ok(summary)
}

/// Sends one batch in its own transaction; on rejection, rolls back, reports
/// the rejected jobs and sends the rest again. A committed batch's usage is
/// published on `bus`.
async fn run_batch(
    db: &DatabaseConnection,
    bus: &EventBus,
    cluster: &str,
    batch: Vec<Prepared>,
    options: &ImportOptions,
    summary: &mut ImportSummary,
) -> Result<(), Error> {
    let (mut lines, jobs): (Vec<usize>, Vec<JobInput>) =
        batch.into_iter().map(|p| (p.line, p.input)).unzip();
    let mut batch = JobBatch {
        cluster: cluster.to_owned(),
        jobs,
        correction: options.correction,
    };
    while !batch.jobs.is_empty() {
        let report = bus
            .write(db.begin().await?, async |txn| {
                let report = jobs::ingest(txn, &ProjectScope::All, &batch).await?;
                Ok::<_, Error>(if report.accepted() && !options.dry_run {
                    Decision::Commit(report)
                } else {
                    Decision::RollBack(report)
                })
            })
            .await?;
        if report.accepted() {
            summary.inserted += report.inserted;
            summary.updated += report.updated;
            summary.unchanged += report.unchanged;
            summary.batches += 1;
            return Ok(());
        }
        let mut refused = BTreeSet::new();
        for rejection in &report.rejected {
            if let (Some(line), Some(job)) =
                (lines.get(rejection.index), batch.jobs.get(rejection.index))
                && refused.insert(rejection.index)
            {
                summary.rejected.push(issue(
                    *line,
                    &job.scheduler_job_id,
                    rejection.reason.clone(),
                ));
            }
        }
        if refused.is_empty() {
            // Cannot happen with the service's reports; never loop forever.
            return Err(Error::internal(&format!(
                "the ingestion service rejected a batch without naming a job of it: {:?}",
                report.rejected
            )));
        }
        let kept: Vec<(usize, JobInput)> = lines
            .into_iter()
            .zip(std::mem::take(&mut batch.jobs))
            .enumerate()
            .filter(|(index, _)| !refused.contains(index))
            .map(|(_, kept)| kept)
            .collect();
        (lines, batch.jobs) = kept.into_iter().unzip();
    }
    Ok(())
}

fn issue(line: usize, job_id: &str, reason: impl Into<String>) -> JobIssue {
    JobIssue {
        line,
        job_id: job_id.to_owned(),
        reason: reason.into(),
    }
}

/// The cluster's node types, matched as the ingestion service matches them:
/// by name, else by queue.
struct NodeTypes(Vec<node_types::Model>);

impl NodeTypes {
    fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n.name == name || n.queue == name)
    }
}

/// Slurm account → accounting string of a project: the exact string, else the
/// one project whose accounting string equals it ignoring case (Slurm stores
/// account names in lower case, so `-A OPEN-12-34` becomes `open-12-34`).
async fn resolve_projects(
    db: &DatabaseConnection,
    jobs: &[SacctJob],
) -> Result<HashMap<String, String>, Error> {
    let accounts: BTreeSet<&str> = jobs
        .iter()
        .filter_map(|j| j.account.as_deref())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let accounts: Vec<&str> = accounts.into_iter().collect();
    let mut found: HashMap<String, String> = HashMap::new();
    for chunk in accounts.chunks(500) {
        for project in projects::Entity::find()
            .filter(projects::Column::AccountingString.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            found.insert(project.accounting_string.clone(), project.accounting_string);
        }
    }
    let missing: Vec<String> = accounts
        .iter()
        .filter(|a| !found.contains_key(**a))
        .map(|a| a.to_lowercase())
        .collect();
    let mut by_lower: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in missing.chunks(500) {
        for project in projects::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col((
                    projects::Entity,
                    projects::Column::AccountingString,
                ))))
                .is_in(chunk.iter().cloned()),
            )
            .all(db)
            .await?
        {
            by_lower
                .entry(project.accounting_string.to_lowercase())
                .or_default()
                .push(project.accounting_string);
        }
    }
    for account in accounts {
        if found.contains_key(account) {
            continue;
        }
        if let Some([only]) = by_lower.get(&account.to_lowercase()).map(Vec::as_slice) {
            found.insert(account.to_owned(), only.clone());
        }
    }
    Ok(found)
}

/// One Slurm job as one Tally job with one task, or why it is skipped.
fn to_input(
    job: &SacctJob,
    options: &ImportOptions,
    projects: &HashMap<String, String>,
    node_types: &NodeTypes,
) -> Result<JobInput, String> {
    if !job.fields.contains_key("State") {
        return Err("the layout has no State column".to_owned());
    }
    if !job.is_known_state() {
        return Err(format!(
            "unknown state {:?} (not a sacct job state)",
            job.state.name()
        ));
    }
    let Some(submit) = job.submit else {
        return Err(if job.fields.contains_key("Submit") {
            "no Submit time (Tally keys a job by JobID and Submit)".to_owned()
        } else {
            "the layout has no Submit column (Tally keys a job by JobID and Submit)".to_owned()
        });
    };
    let account = job
        .account
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let project = match (
        account.and_then(|a| projects.get(a)),
        &options.default_project,
    ) {
        (Some(project), _) => project.clone(),
        (None, Some(default)) => default.clone(),
        (None, None) => {
            return Err(match account {
                Some(account) => format!(
                    "account {account:?} is not the accounting string of a project, \
                     and no default project is set (--project)"
                ),
                None => "no Account, and no default project is set (--project)".to_owned(),
            });
        }
    };
    let node_type = node_type(job, options, node_types)?;
    let count = |value: Option<u64>, column: &str| -> Result<Option<i32>, String> {
        value
            .map(|v| i32::try_from(v).map_err(|_| format!("{column} {v} is out of range")))
            .transpose()
    };
    let state = StateInput::Value(i64::from(job.heappe_state()));
    Ok(JobInput {
        scheduler_job_id: job.job_id.clone(),
        submit_time: submit,
        name: job.name.clone(),
        state: state.clone(),
        project,
        sub_project: None,
        submitter: job.user.clone(),
        account: account.map(str::to_owned),
        creation_time: None,
        start_time: job.start,
        end_time: job.end,
        tasks: vec![TaskInput {
            ordinal: 0,
            name: None,
            state,
            node_type,
            scheduler_job_id: Some(job.job_id_raw.clone().unwrap_or_else(|| job.job_id.clone())),
            start_time: job.start,
            end_time: job.end,
            allocated_cores: count(job.ncpus.map(u64::from), "NCPUS")?,
            allocated_nodes: count(job.nnodes.map(u64::from), "NNodes")?,
            allocated_gpus: count(job.alloc_gpus(), "AllocTRES gres/gpu")?,
            allocated_seconds: job.elapsed_seconds,
            parameters: job.parameters(),
        }],
    })
}

/// The node type a job's task ran on: its partition (the first of a pending
/// job's `a,b` list that is a node type), else the default partition when the
/// job has none.
fn node_type(
    job: &SacctJob,
    options: &ImportOptions,
    node_types: &NodeTypes,
) -> Result<String, String> {
    let partitions: Vec<&str> = job
        .partition
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if partitions.is_empty() {
        return options.default_partition.clone().ok_or_else(|| {
            "no Partition, and no default partition is set (--partition)".to_owned()
        });
    }
    partitions
        .iter()
        .find(|p| node_types.contains(p))
        .map(|p| (*p).to_owned())
        .ok_or_else(|| {
            format!(
                "partition {:?} is not a node type or queue of cluster {:?}",
                partitions.join(","),
                options.cluster
            )
        })
}
