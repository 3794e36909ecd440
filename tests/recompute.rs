//! Usage recomputation runs: new formula versions reprice a period's tasks,
//! runs resume after a crash without double counting, one instance at a time
//! works on a run, and a run that cannot complete is marked failed.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, EntityTrait as _,
    TransactionTrait as _,
};
use serde_json::{Value, json};
use tally::auth::ProjectScope;
use tally::entity::{accounting_runs, hpc_usage_daily, tasks};
use tally::error::Error;
use tally::service::events::Decision;
use tally::service::formulas::{self, NewFormula};
use tally::service::jobs::{self, JobBatch};
use tally::service::recompute::{self, FAILED, FINISHED, Limits, QUEUED, RUNNING};

use crate::helpers::{TestDb, world};
use crate::hpc::assert_hpc_rollups_consistent;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

struct World {
    db: TestDb,
    project_id: i64,
    aggregation_id: i64,
    old_formula: i64,
}

/// A project with one job of six 2-hour, 1-node tasks on the 2nd to 6th and
/// on the 25th of March, priced by `NumNodes * RunTime` (2000 milli each).
async fn setup() -> World {
    let db = TestDb::new().await;
    let conn = &db.conn;
    let project = world::project(conn, "OPEN-1").await;
    let (aggregation_id, old_formula) =
        world::priced_cpu_cluster(conn, "NumNodes * RunTime", at(1, 0)).await;
    let tasks: Vec<Value> = [2, 3, 4, 5, 6, 25]
        .iter()
        .enumerate()
        .map(|(ordinal, day)| {
            json!({
                "ordinal": ordinal, "state": "Finished", "nodeType": "cpu",
                "startTime": at(*day, 1), "endTime": at(*day, 3),
                "parameters": { "NumNodes": "1", "RunTime": "02:00:00" },
            })
        })
        .collect();
    let batch: JobBatch = serde_json::from_value(json!({
        "cluster": "karolina",
        "jobs": [{ "schedulerJobId": "100", "submitTime": at(1, 0), "name": "job", "state": "Finished",
                   "project": "OPEN-1", "subProject": "sub-a", "tasks": tasks }],
    }))
    .unwrap();
    let txn = conn.begin().await.unwrap();
    let report = db
        .bus()
        .write(txn, async |txn| {
            jobs::ingest(txn, &ProjectScope::All, &batch)
                .await
                .map(Decision::Commit)
        })
        .await
        .unwrap();
    assert!(report.accepted());
    assert_hpc_rollups_consistent(conn).await;
    World {
        db,
        project_id: project.id,
        aggregation_id,
        old_formula,
    }
}

fn formula(expression: &str) -> NewFormula {
    NewFormula {
        expression: expression.to_owned(),
        unit: "node_hour".to_owned(),
        validity_from: at(1, 0),
        validity_to: None,
        supersedes: None,
    }
}

/// A new version valid from the same day: it wins (higher id).
async fn new_formula(w: &World, expression: &str) -> i64 {
    formulas::create(&w.db.conn, w.aggregation_id, formula(expression), None)
        .await
        .unwrap()
        .id
}

async fn all_tasks(db: &DatabaseConnection) -> Vec<tasks::Model> {
    let mut rows = tasks::Entity::find().all(db).await.unwrap();
    rows.sort_by_key(|t| t.ordinal);
    rows
}

async fn run(db: &DatabaseConnection, id: i64) -> accounting_runs::Model {
    accounting_runs::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

fn chunks_of(size: u64) -> Limits {
    Limits {
        chunk_size: size,
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_run_reprices_the_period_with_the_current_formulas() {
    let w = setup().await;
    let db = &w.db.conn;
    let bus = w.db.bus();
    let new = new_formula(&w, "NumNodes * RunTime * 3").await;

    // Validation first.
    let empty = recompute::enqueue(db, w.project_id, at(20, 0), at(20, 0), None).await;
    assert!(matches!(empty, Err(Error::BadRequest(_))), "{empty:?}");
    let unknown = recompute::enqueue(db, w.project_id + 100, at(1, 0), at(20, 0), None).await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");

    let queued = recompute::enqueue(db, w.project_id, at(1, 0), at(20, 0), None)
        .await
        .unwrap();
    assert_eq!(queued.state, QUEUED);
    assert!(
        recompute::run_once_with(db, &bus, "a", &chunks_of(2))
            .await
            .unwrap()
    );
    assert!(
        !recompute::run_once(db, &bus, "a").await.unwrap(),
        "nothing left"
    );

    let done = run(db, queued.id).await;
    assert_eq!(done.state, FINISHED);
    assert_eq!((done.tasks_done, done.tasks_total), (5, 5));
    assert_eq!(done.claimed_by.as_deref(), Some("a"));
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    assert_eq!(done.error, None);
    let rows = all_tasks(db).await;
    assert_eq!(done.cursor_task_id, Some(rows[4].id));
    let priced: Vec<_> = rows.iter().map(|t| (t.formula_id, t.usage_milli)).collect();
    let mut expected = vec![(Some(new), Some(6000)); 5];
    // The task of the 25th lies outside the period: untouched.
    expected.push((Some(w.old_formula), Some(2000)));
    assert_eq!(priced, expected);
    assert!(rows.iter().all(|t| t.usage_status == "computed"));
    assert_hpc_rollups_consistent(db).await;
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_double_counting() {
    let w = setup().await;
    let db = &w.db.conn;
    let bus = w.db.bus();
    let new = new_formula(&w, "NumNodes * RunTime * 3").await;
    let queued = recompute::enqueue(db, w.project_id, at(1, 0), at(31, 0), None)
        .await
        .unwrap();
    // Instance "a" does one chunk of two tasks, then "crashes".
    let one_chunk = Limits {
        chunk_size: 2,
        max_chunks: Some(1),
        ..Limits::default()
    };
    assert!(
        recompute::run_once_with(db, &bus, "a", &one_chunk)
            .await
            .unwrap()
    );
    let halfway = run(db, queued.id).await;
    assert_eq!(halfway.state, RUNNING);
    assert_eq!((halfway.tasks_done, halfway.tasks_total), (2, 6));
    let rows = all_tasks(db).await;
    assert_eq!(halfway.cursor_task_id, Some(rows[1].id));
    assert_eq!(rows.iter().filter(|t| t.formula_id == Some(new)).count(), 2);
    // Each chunk commits with its rollups.
    assert_hpc_rollups_consistent(db).await;

    // While "a"'s heartbeat is fresh, nobody else takes the run.
    assert!(!recompute::run_once(db, &bus, "b").await.unwrap());
    // "a" went silent long ago: "b" takes over from the cursor.
    let mut stale: accounting_runs::ActiveModel = halfway.into();
    stale.heartbeat_at = Set(Some(Utc::now() - Duration::hours(1)));
    stale.update(db).await.unwrap();
    assert!(
        recompute::run_once_with(db, &bus, "b", &chunks_of(2))
            .await
            .unwrap()
    );

    let done = run(db, queued.id).await;
    assert_eq!(done.state, FINISHED);
    assert_eq!((done.tasks_done, done.tasks_total), (6, 6));
    assert_eq!(done.claimed_by.as_deref(), Some("b"));
    assert!(
        all_tasks(db)
            .await
            .iter()
            .all(|t| t.formula_id == Some(new) && t.usage_milli == Some(6000))
    );
    assert_hpc_rollups_consistent(db).await;
    let total: i64 = hpc_usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.usage_milli)
        .sum();
    assert_eq!(total, 6 * 6000, "each task counted once");
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_run() {
    let w = setup().await;
    let db = &w.db.conn;
    let bus = w.db.bus();
    let new = new_formula(&w, "NumNodes * RunTime * 3").await;
    let one = recompute::enqueue(db, w.project_id, at(1, 0), at(31, 0), None)
        .await
        .unwrap();
    // Four instances at once, one run: exactly one works on it.
    let limits = chunks_of(1);
    let outcomes = tokio::join!(
        recompute::run_once_with(db, &bus, "a", &limits),
        recompute::run_once_with(db, &bus, "b", &limits),
        recompute::run_once_with(db, &bus, "c", &limits),
        recompute::run_once_with(db, &bus, "d", &limits),
    );
    let worked = [outcomes.0, outcomes.1, outcomes.2, outcomes.3]
        .into_iter()
        .map(Result::unwrap)
        .filter(|w| *w)
        .count();
    assert_eq!(worked, 1);
    let done = run(db, one.id).await;
    assert_eq!(done.state, FINISHED);
    assert_eq!((done.tasks_done, done.tasks_total), (6, 6));
    assert_hpc_rollups_consistent(db).await;

    // Two runs over disjoint periods, two instances at once: one run each.
    let newer = new_formula(&w, "NumNodes * RunTime * 5").await;
    let first = recompute::enqueue(db, w.project_id, at(1, 0), at(4, 0), None)
        .await
        .unwrap();
    let second = recompute::enqueue(db, w.project_id, at(4, 0), at(31, 0), None)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        recompute::run_once_with(db, &bus, "a", &limits),
        recompute::run_once_with(db, &bus, "b", &limits),
    );
    assert!(a.unwrap() && b.unwrap());
    let (first, second) = (run(db, first.id).await, run(db, second.id).await);
    assert_eq!(
        (first.state.as_str(), second.state.as_str()),
        (FINISHED, FINISHED)
    );
    assert_ne!(first.claimed_by, second.claimed_by);
    assert_eq!((first.tasks_done, second.tasks_done), (2, 4));
    let rows = all_tasks(db).await;
    assert!(
        rows.iter()
            .all(|t| t.formula_id == Some(newer) && t.usage_milli == Some(10_000))
    );
    assert_ne!(new, newer);
    assert_hpc_rollups_consistent(db).await;
}

#[tokio::test]
async fn a_run_that_cannot_complete_is_marked_failed() {
    let w = setup().await;
    let db = &w.db.conn;
    let bus = w.db.bus();
    // Lowering usage needs the rollup rows it lowers; someone deleted them.
    new_formula(&w, "NumNodes * RunTime / 2").await;
    hpc_usage_daily::Entity::delete_many()
        .exec(db)
        .await
        .unwrap();
    let queued = recompute::enqueue(db, w.project_id, at(1, 0), at(31, 0), None)
        .await
        .unwrap();
    assert!(recompute::run_once(db, &bus, "a").await.unwrap());
    let failed = run(db, queued.id).await;
    assert_eq!(failed.state, FAILED);
    assert!(failed.finished_at.is_some());
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("internal error"),
        "{:?}",
        failed.error
    );
    assert_eq!(failed.tasks_done, 0);
    // The chunk rolled back: every task keeps its old price.
    assert!(
        all_tasks(db)
            .await
            .iter()
            .all(|t| t.formula_id == Some(w.old_formula) && t.usage_milli == Some(2000))
    );
    // A failed run is not picked up again.
    assert!(!recompute::run_once(db, &bus, "b").await.unwrap());
}
