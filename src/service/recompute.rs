//! Recomputation of HPC task usage when formulas change (HEAppE's
//! `ComputeAccounting`, with its `AccountingState`).
//!
//! A run is a row of `accounting_runs`: a project and a period, `queued` when
//! asked for, `running` while an instance works on it, then `finished` or
//! `failed`. It selects the project's tasks with `start_time >= period_start
//! AND end_time <= period_end` (HEAppE's selection) and walks them in chunks
//! ordered by task id. Each chunk is one transaction: every task's usage is
//! computed again with the formula now valid at its start, the task row is
//! updated, the rollups receive the new contribution minus the old one (as
//! ingestion does), and the run's cursor, progress and heartbeat advance. A
//! crash therefore loses at most the chunk in flight, and the run resumes after
//! `cursor_task_id`.
//!
//! Claiming is one code path on both backends: in a transaction, pick the
//! oldest claimable run (queued, or running with a heartbeat older than
//! [`Limits::stale_after`]), then claim it with an `UPDATE` that repeats the
//! condition, so `rows_affected` tells who won. On PostgreSQL the pick adds
//! `FOR UPDATE SKIP LOCKED`, so concurrent instances pick different runs
//! instead of queueing on the same row; SQLite has one writer, and its
//! transactions here begin `IMMEDIATE` (the write lock is taken at `BEGIN`), so
//! a claim cannot interleave with another. See `docs/recompute.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Select, SqliteTransactionMode,
    TransactionOptions, TransactionTrait as _,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::events::{self, Decision, Event, EventBus, RecomputationProgress};
use super::formulas::FormulaBook;
use super::jobs::{JobDims, RollupDeltas, compute};
use crate::entity::{accounting_runs, jobs, node_types, projects, task_parameters, tasks};
use crate::error::Error;

/// A run waiting for an instance.
pub const QUEUED: &str = "queued";
/// A run an instance is working on.
pub const RUNNING: &str = "running";
/// A run whose every task was recomputed.
pub const FINISHED: &str = "finished";
/// A run that stopped on an error (see its `error`).
pub const FAILED: &str = "failed";

/// How a worker walks a run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tasks per chunk (one transaction each).
    pub chunk_size: u64,
    /// A running run whose heartbeat is older than this is taken over: its
    /// instance is presumed dead. Must be well above the time one chunk takes.
    pub stale_after: Duration,
    /// Stop after this many chunks, leaving the run `running` (for tests that
    /// simulate an interruption); `None`: work until the run is done.
    pub max_chunks: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            chunk_size: 200,
            stale_after: Duration::from_secs(300),
            max_chunks: None,
        }
    }
}

/// Queues a recomputation of the usage of `project_id`'s tasks that lie within
/// `[period_start, period_end]`, requested by `triggered_by` (a user id, or
/// `None` for the system).
///
/// # Errors
/// [`Error::BadRequest`] when the period is empty or reversed,
/// [`Error::NotFound`] when the project does not exist, or a database error.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    project_id: i64,
    period_start: chrono::DateTime<Utc>,
    period_end: chrono::DateTime<Utc>,
    triggered_by: Option<i64>,
) -> Result<accounting_runs::Model, Error> {
    if period_end <= period_start {
        return Err(Error::BadRequest(
            "the period must end after it starts".to_owned(),
        ));
    }
    if projects::Entity::find_by_id(project_id)
        .one(db)
        .await?
        .is_none()
    {
        return Err(Error::NotFound(format!("no project {project_id}")));
    }
    let now = Utc::now();
    Ok(accounting_runs::ActiveModel {
        project_id: Set(project_id),
        period_start: Set(period_start),
        period_end: Set(period_end),
        state: Set(QUEUED.to_owned()),
        tasks_total: Set(0),
        tasks_done: Set(0),
        triggered_by: Set(triggered_by),
        triggered_at: Set(now),
        last_updated_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The runs of project `project_id`, oldest first (HEAppE's
/// `AccountingState`).
///
/// # Errors
/// A database error.
pub async fn runs_of(
    db: &impl ConnectionTrait,
    project_id: i64,
) -> Result<Vec<accounting_runs::Model>, Error> {
    Ok(accounting_runs::Entity::find_in_projects([project_id])
        .order_by_asc(accounting_runs::Column::TriggeredAt)
        .order_by_asc(accounting_runs::Column::Id)
        .all(db)
        .await?)
}

/// Claims one run and works on it until it is finished or failed, with the
/// default [`Limits`], publishing its progress and the usage it changes on
/// `bus`. Returns whether there was a run to work on.
///
/// # Errors
/// A database error while claiming, or while recording a failure.
pub async fn run_once(
    db: &DatabaseConnection,
    bus: &EventBus,
    instance_id: &str,
) -> Result<bool, Error> {
    run_once_with(db, bus, instance_id, &Limits::default()).await
}

/// [`run_once`] with explicit [`Limits`].
///
/// An error while recomputing marks the run `failed` with the error's text
/// (for an internal error, the id under which its cause was logged); the
/// chunk in flight is rolled back, so rollups stay consistent.
///
/// # Errors
/// A database error while claiming, or while recording a failure.
pub async fn run_once_with(
    db: &DatabaseConnection,
    bus: &EventBus,
    instance_id: &str,
    limits: &Limits,
) -> Result<bool, Error> {
    let Some(run) = claim(db, instance_id, limits).await? else {
        return Ok(false);
    };
    let claimed = progress(&run, RUNNING, run.tasks_done, run.tasks_total);
    bus.publish(db, vec![claimed]).await?;
    tracing::info!(
        run = run.id,
        project = run.project_id,
        resume_after = run.cursor_task_id,
        "recomputing usage"
    );
    if let Err(error) = process(db, bus, instance_id, limits, &run).await {
        tracing::warn!(run = run.id, %error, "recomputation failed");
        let now = Utc::now();
        let failed = owned(
            accounting_runs::Entity::update_many()
                .col_expr(accounting_runs::Column::State, Expr::value(FAILED))
                .col_expr(
                    accounting_runs::Column::Error,
                    Expr::value(error.to_string()),
                )
                .col_expr(accounting_runs::Column::FinishedAt, Expr::value(now))
                .col_expr(accounting_runs::Column::LastUpdatedAt, Expr::value(now)),
            run.id,
            instance_id,
        )
        .exec(db)
        .await?;
        if failed.rows_affected == 1 {
            let done = accounting_runs::Entity::find_by_id(run.id)
                .one(db)
                .await?
                .map_or(run.tasks_done, |r| r.tasks_done);
            bus.publish(db, vec![progress(&run, FAILED, done, run.tasks_total)])
                .await?;
        }
    }
    Ok(true)
}

/// A progress event of `run`.
fn progress(run: &accounting_runs::Model, state: &str, done: i64, total: i64) -> Event {
    Event::Recomputation(RecomputationProgress {
        run_id: run.id,
        project_id: run.project_id,
        state: state.to_owned(),
        tasks_done: done,
        tasks_total: total,
    })
}

/// Begins a transaction. On SQLite it is `IMMEDIATE`: it takes the write lock
/// at `BEGIN` (waiting up to the busy timeout), so its reads and writes cannot
/// interleave with another writer's. PostgreSQL ignores the mode.
async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, Error> {
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}

/// Restricts an update of runs to run `id` while `instance_id` holds it.
fn owned(
    update: sea_orm::UpdateMany<accounting_runs::Entity>,
    id: i64,
    instance_id: &str,
) -> sea_orm::UpdateMany<accounting_runs::Entity> {
    update
        .filter(accounting_runs::Column::Id.eq(id))
        .filter(accounting_runs::Column::State.eq(RUNNING))
        .filter(accounting_runs::Column::ClaimedBy.eq(instance_id))
}

/// The tasks a run recomputes (HEAppE's `ComputeAccounting` selection).
fn selection(run: &accounting_runs::Model) -> Select<tasks::Entity> {
    tasks::Entity::find()
        .filter(tasks::Column::ProjectId.eq(run.project_id))
        .filter(tasks::Column::StartTime.gte(run.period_start))
        .filter(tasks::Column::EndTime.lte(run.period_end))
}

/// The oldest run that satisfies `claimable`. On PostgreSQL it is locked
/// `FOR UPDATE SKIP LOCKED`: concurrent instances skip a run another is
/// claiming and take the next one. SQLite (one writer) needs no lock clause.
fn pick(backend: DbBackend, claimable: Condition) -> Select<accounting_runs::Entity> {
    let pick = accounting_runs::Entity::find()
        .filter(claimable)
        .order_by_asc(accounting_runs::Column::TriggeredAt)
        .order_by_asc(accounting_runs::Column::Id)
        .limit(1);
    if backend == DbBackend::Postgres {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        pick
    }
}

/// Claims the oldest claimable run for `instance_id`, if any.
async fn claim(
    db: &DatabaseConnection,
    instance_id: &str,
    limits: &Limits,
) -> Result<Option<accounting_runs::Model>, Error> {
    let now = Utc::now();
    let stale =
        now - chrono::Duration::from_std(limits.stale_after).map_err(|e| Error::internal(&e))?;
    let claimable = Condition::any()
        .add(accounting_runs::Column::State.eq(QUEUED))
        .add(
            Condition::all()
                .add(accounting_runs::Column::State.eq(RUNNING))
                .add(accounting_runs::Column::HeartbeatAt.lt(stale)),
        );
    let txn = begin(db).await?;
    let Some(candidate) = pick(txn.get_database_backend(), claimable.clone())
        .one(&txn)
        .await?
    else {
        txn.commit().await?;
        return Ok(None);
    };
    // A fresh run counts its tasks once; a resumed one keeps its count.
    let total = if candidate.state == QUEUED {
        i64::try_from(selection(&candidate).count(&txn).await?).map_err(|e| Error::internal(&e))?
    } else {
        candidate.tasks_total
    };
    let claimed = accounting_runs::Entity::update_many()
        .col_expr(accounting_runs::Column::State, Expr::value(RUNNING))
        .col_expr(
            accounting_runs::Column::ClaimedBy,
            Expr::value(instance_id.to_owned()),
        )
        .col_expr(accounting_runs::Column::HeartbeatAt, Expr::value(now))
        .col_expr(accounting_runs::Column::LastUpdatedAt, Expr::value(now))
        .col_expr(
            accounting_runs::Column::StartedAt,
            Expr::value(candidate.started_at.unwrap_or(now)),
        )
        .col_expr(accounting_runs::Column::TasksTotal, Expr::value(total))
        .filter(accounting_runs::Column::Id.eq(candidate.id))
        .filter(claimable)
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        // Another instance won the race; the next poll tries again.
        txn.rollback().await?;
        return Ok(None);
    }
    let run = accounting_runs::Entity::find_by_id(candidate.id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::internal(&"claimed run vanished"))?;
    txn.commit().await?;
    Ok(Some(run))
}

/// Works on a claimed run chunk by chunk until it is done, the claim is lost,
/// or [`Limits::max_chunks`] is reached.
async fn process(
    db: &DatabaseConnection,
    bus: &EventBus,
    instance_id: &str,
    limits: &Limits,
    run: &accounting_runs::Model,
) -> Result<(), Error> {
    let mut position = Position {
        cursor: run.cursor_task_id,
        done: run.tasks_done,
        total: run.tasks_total,
    };
    let mut chunks = 0_u32;
    loop {
        if limits.max_chunks.is_some_and(|max| chunks >= max) {
            return Ok(());
        }
        let step = bus
            .write(begin(db).await?, async |txn| {
                chunk(txn, instance_id, limits, run, position).await
            })
            .await?;
        match step {
            Step::Advanced(next) => position = next,
            Step::Finished(ours) => {
                if ours {
                    tracing::info!(
                        run = run.id,
                        tasks = position.done,
                        "recomputation finished"
                    );
                }
                return Ok(());
            }
            Step::Lost => {
                tracing::warn!(run = run.id, "lost the claim on a recomputation");
                return Ok(());
            }
        }
        chunks += 1;
    }
}

/// Where a run stands between chunks.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// The last task recomputed.
    cursor: Option<i64>,
    /// Tasks recomputed.
    done: i64,
    /// Tasks the run covers.
    total: i64,
}

/// What one chunk's transaction did.
enum Step {
    /// Recomputed a chunk; the run goes on from here.
    Advanced(Position),
    /// No task was left: the run is finished (`true`), unless another
    /// instance took it over meanwhile (`false`).
    Finished(bool),
    /// Another instance took the run over: the chunk is its to do.
    Lost,
}

/// Recomputes the chunk after `at` in `txn`, advancing the run's cursor and
/// recording its progress; or marks the run finished when no task is left.
async fn chunk(
    txn: &DatabaseTransaction,
    instance_id: &str,
    limits: &Limits,
    run: &accounting_runs::Model,
    at: Position,
) -> Result<Decision<Step>, Error> {
    let mut select = selection(run)
        .order_by_asc(tasks::Column::Id)
        .limit(limits.chunk_size);
    if let Some(cursor) = at.cursor {
        select = select.filter(tasks::Column::Id.gt(cursor));
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        // Ingestion waits for these rows rather than overwrite them mid-chunk.
        select = select.lock(LockType::Update);
    }
    let rows = select.all(txn).await?;
    let now = Utc::now();
    let update = accounting_runs::Entity::update_many()
        .col_expr(accounting_runs::Column::HeartbeatAt, Expr::value(now))
        .col_expr(accounting_runs::Column::LastUpdatedAt, Expr::value(now));
    let Some(last) = rows.last().map(|t| t.id) else {
        // Done: tasks removed since the count no longer count.
        let finished = owned(
            update
                .col_expr(accounting_runs::Column::State, Expr::value(FINISHED))
                .col_expr(accounting_runs::Column::FinishedAt, Expr::value(now))
                .col_expr(accounting_runs::Column::TasksTotal, Expr::value(at.done)),
            run.id,
            instance_id,
        )
        .exec(txn)
        .await?;
        let ours = finished.rows_affected == 1;
        if ours {
            events::record(progress(run, FINISHED, at.done, at.done))?;
        }
        return Ok(Decision::Commit(Step::Finished(ours)));
    };
    let count = i64::try_from(rows.len()).map_err(|e| Error::internal(&e))?;
    recompute_chunk(txn, rows, now).await?;
    let done = at.done + count;
    // Tasks ingested since the count may raise the total.
    let total = at.total.max(done);
    let advanced = owned(
        update
            .col_expr(accounting_runs::Column::CursorTaskId, Expr::value(last))
            .col_expr(accounting_runs::Column::TasksDone, Expr::value(done))
            .col_expr(accounting_runs::Column::TasksTotal, Expr::value(total)),
        run.id,
        instance_id,
    )
    .exec(txn)
    .await?;
    if advanced.rows_affected != 1 {
        // Another instance took the run over (our heartbeat went stale).
        return Ok(Decision::RollBack(Step::Lost));
    }
    events::record(progress(run, RUNNING, done, total))?;
    Ok(Decision::Commit(Step::Advanced(Position {
        cursor: Some(last),
        done,
        total,
    })))
}

/// Recomputes the usage of `rows` with the current formulas, updates them and
/// moves their rollup contributions, in `txn`.
async fn recompute_chunk(
    txn: &DatabaseTransaction,
    rows: Vec<tasks::Model>,
    now: chrono::DateTime<Utc>,
) -> Result<(), Error> {
    let task_ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
    let job_ids: HashSet<i64> = rows.iter().map(|t| t.job_id).collect();
    let node_type_ids: HashSet<i64> = rows.iter().filter_map(|t| t.node_type_id).collect();
    let mut parameters: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
    for p in task_parameters::Entity::find()
        .filter(task_parameters::Column::TaskId.is_in(task_ids))
        .all(txn)
        .await?
    {
        parameters
            .entry(p.task_id)
            .or_default()
            .insert(p.name, p.value);
    }
    let jobs: HashMap<i64, jobs::Model> = jobs::Entity::find()
        .filter(jobs::Column::Id.is_in(job_ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let aggregation_of: HashMap<i64, Option<i64>> = node_types::Entity::find()
        .filter(node_types::Column::Id.is_in(node_type_ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|n| (n.id, n.aggregation_id))
        .collect();
    let book = FormulaBook::load(txn, aggregation_of.values().flatten().copied()).await?;
    let no_parameters = BTreeMap::new();
    let mut rollups = RollupDeltas::default();
    for row in rows {
        let job = jobs
            .get(&row.job_id)
            .ok_or_else(|| Error::internal(&format!("task {} has no job", row.id)))?;
        let dims = JobDims::of(job);
        let aggregation = row
            .node_type_id
            .and_then(|id| aggregation_of.get(&id).copied().flatten());
        let usage = compute(
            &book,
            aggregation,
            row.start_time,
            parameters.get(&row.id).unwrap_or(&no_parameters),
        );
        rollups.add(job.cluster_id, &dims, &row, -1);
        let mut active: tasks::ActiveModel = row.into();
        usage.set_on(&mut active, now);
        active.updated_at = Set(now);
        let saved = active.update(txn).await?;
        rollups.add(job.cluster_id, &dims, &saved, 1);
    }
    rollups.apply(txn, now).await
}

/// The background loop that works on runs, started with the server.
pub struct Worker {
    stop: watch::Sender<()>,
    handle: JoinHandle<()>,
}

impl Worker {
    /// Starts polling for runs every `poll` while idle, as `instance_id`,
    /// publishing progress and usage changes on `events`.
    #[must_use]
    pub fn start(
        db: DatabaseConnection,
        events: EventBus,
        instance_id: String,
        poll: Duration,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(());
        let handle = tokio::spawn(async move {
            tracing::info!(instance = %instance_id, "recompute worker started");
            // The first poll waits one interval: start-up belongs to the server.
            let mut idle = true;
            let limits = Limits::default();
            loop {
                if idle {
                    tokio::select! {
                        _ = stopped.changed() => return,
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                let outcome = tokio::select! {
                    // Dropping a run mid-chunk rolls the chunk back; the run
                    // resumes from its cursor once its heartbeat is stale.
                    _ = stopped.changed() => return,
                    outcome = run_once_with(&db, &events, &instance_id, &limits) => outcome,
                };
                idle = match outcome {
                    Ok(worked) => !worked,
                    Err(error) => {
                        tracing::warn!(%error, "recompute worker could not claim a run");
                        true
                    }
                };
            }
        });
        Self { stop, handle }
    }

    /// Stops the loop and waits for it.
    pub async fn stop(self) {
        let _ignored = self.stop.send(());
        if let Err(error) = self.handle.await {
            tracing::warn!(%error, "recompute worker ended abnormally");
        }
    }
}

/// An id for this process's claims: host, process id and start time.
#[must_use]
pub fn instance_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "tally".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}

#[cfg(test)]
mod tests {
    use sea_orm::QueryTrait as _;

    use super::*;

    #[test]
    fn only_postgres_skips_locked_runs() {
        let claimable = || Condition::all().add(accounting_runs::Column::State.eq(QUEUED));
        let postgres = pick(DbBackend::Postgres, claimable())
            .build(DbBackend::Postgres)
            .to_string();
        assert!(postgres.ends_with("FOR UPDATE SKIP LOCKED"), "{postgres}");
        let sqlite = pick(DbBackend::Sqlite, claimable())
            .build(DbBackend::Sqlite)
            .to_string();
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
    }
}
