//! HPC ingestion over HTTP: jobs and tasks, usage from versioned formulas,
//! progress, finality and corrections, and rollups equal to their raw rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, EntityTrait as _};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::domain::usage::spread_over_hours;
use tally::entity::{
    clusters, hpc_job_usage, hpc_job_usage_monthly, hpc_usage_daily, jobs, node_type_aggregations,
    node_types, task_parameters, tasks, usage_daily, usage_hourly,
};
use tally::service::formulas::{self, NewFormula};

use crate::helpers::{TestApp, world};

const ROUTE: &str = "/api/v1/hpc/jobs";

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

struct Hpc {
    app: TestApp,
    token: String,
    old_formula: i64,
    new_formula: i64,
}

/// A cluster with a CPU node type in an aggregation whose formula is replaced
/// on March 10th, a GPU node type without any formula, and a collector.
async fn setup() -> Hpc {
    let app = TestApp::spawn().await;
    let db = &app.db.conn;
    world::project(db, "OPEN-1").await;
    let cluster = clusters::ActiveModel {
        name: Set("karolina".into()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let aggregation = node_type_aggregations::ActiveModel {
        name: Set("cpu".into()),
        validity_from: Set(at(1, 0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for (name, queue, aggregation_id) in
        [("cpu", "qcpu", Some(aggregation.id)), ("gpu", "qgpu", None)]
    {
        node_types::ActiveModel {
            cluster_id: Set(cluster.id),
            aggregation_id: Set(aggregation_id),
            name: Set(name.into()),
            queue: Set(queue.into()),
            cores_per_node: Set(128),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    let formula = |expression: &str, from, to| NewFormula {
        expression: expression.to_owned(),
        unit: "node_hour".to_owned(),
        validity_from: from,
        validity_to: to,
        supersedes: None,
    };
    let old = formulas::create(
        db,
        aggregation.id,
        formula("NumNodes * RunTime", at(1, 0), Some(at(10, 0))),
        None,
    )
    .await
    .unwrap();
    let new = formulas::create(
        db,
        aggregation.id,
        formula("NumNodes * RunTime * 2", at(10, 0), None),
        None,
    )
    .await
    .unwrap();
    let token = app.token_for(world::user(db, "collector", "collector", Scope::System).await);
    Hpc {
        app,
        token,
        old_formula: old.id,
        new_formula: new.id,
    }
}

fn task(
    ordinal: i32,
    node_type: &str,
    start: DateTime<Utc>,
    hours: i64,
    nodes: u32,
    state: &str,
) -> Value {
    let end = start + Duration::hours(hours);
    json!({
        "ordinal": ordinal, "state": state, "nodeType": node_type,
        "startTime": start, "endTime": if state == "Running" { Value::Null } else { json!(end) },
        "allocatedNodes": nodes,
        "parameters": { "NumNodes": nodes.to_string(), "RunTime": format!("{hours:02}:00:00") },
    })
}

fn job(id: &str, state: &str, tasks: Vec<Value>) -> Value {
    json!({ "schedulerJobId": id, "submitTime": at(1, 0), "name": format!("job {id}"), "state": state, "project": "OPEN-1", "subProject": "sub-a", "tasks": tasks })
}

async fn post(app: &TestApp, token: &str, jobs: Vec<Value>, correction: bool) -> (u16, Value) {
    let body = json!({ "cluster": "karolina", "jobs": jobs, "correction": correction });
    let response = app
        .client
        .post(app.url(ROUTE))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn all_tasks(db: &DatabaseConnection) -> Vec<tasks::Model> {
    let mut rows = tasks::Entity::find().all(db).await.unwrap();
    rows.sort_by_key(|t| (t.job_id, t.ordinal));
    rows
}

/// Adds a rollup row to the map of its coarser key (rows that differ only by
/// submitter, user or group are summed); drops keys that sum to zero.
fn sum_rows<K: Ord>(
    mut map: BTreeMap<K, [i64; 2]>,
    (key, value): (K, [i64; 2]),
) -> BTreeMap<K, [i64; 2]> {
    let entry = map.entry(key).or_default();
    entry[0] += value[0];
    entry[1] += value[1];
    map.retain(|_, v| v.iter().any(|x| *x != 0));
    map
}

/// Every HPC rollup equals what the computed tasks add up to.
pub async fn assert_hpc_rollups_consistent(db: &DatabaseConnection) {
    let jobs: BTreeMap<i64, jobs::Model> = jobs::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let mut daily: BTreeMap<(i64, i64, i64, NaiveDate), [i64; 2]> = BTreeMap::new();
    let mut by_day: BTreeMap<(i64, i64, NaiveDate), [i64; 2]> = BTreeMap::new();
    let mut by_hour: BTreeMap<(i64, i64, DateTime<Utc>), [i64; 2]> = BTreeMap::new();
    for task in all_tasks(db)
        .await
        .iter()
        .filter(|t| t.usage_status == "computed")
    {
        let job = &jobs[&task.job_id];
        let start = task.start_time.unwrap();
        let parts = spread_over_hours(
            task.usage_milli.unwrap(),
            start,
            task.end_time.unwrap_or(start),
        );
        let last = parts.len() - 1;
        for (i, (hour, share)) in parts.into_iter().enumerate() {
            let count = i64::from(i == last);
            let node_type = task.node_type_id.unwrap();
            for (entry, value) in [
                (
                    daily
                        .entry((
                            job.project_id,
                            node_type,
                            job.sub_project_id.unwrap_or(0),
                            hour.date_naive(),
                        ))
                        .or_default(),
                    [share, count],
                ),
                (
                    by_day
                        .entry((job.project_id, node_type, hour.date_naive()))
                        .or_default(),
                    [share, count],
                ),
                (
                    by_hour
                        .entry((job.project_id, node_type, hour))
                        .or_default(),
                    [share, count],
                ),
            ] {
                entry[0] += value[0];
                entry[1] += value[1];
            }
        }
    }
    let stored: BTreeMap<_, _> = hpc_usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (r.project_id, r.node_type_id, r.sub_project_key, r.day),
                [r.usage_milli, r.task_count],
            )
        })
        .fold(BTreeMap::new(), sum_rows);
    assert_eq!(stored, daily, "hpc_usage_daily = Σ tasks");
    let stored: BTreeMap<_, _> = usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.source == "hpc")
        .map(|r| {
            (
                (r.project_id, r.resource_id, r.day),
                [r.quantity, r.record_count],
            )
        })
        .fold(BTreeMap::new(), sum_rows);
    assert_eq!(stored, by_day, "usage_daily = Σ tasks");
    let stored: BTreeMap<_, _> = usage_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.source == "hpc")
        .map(|r| {
            (
                (r.project_id, r.resource_id, r.hour),
                [r.quantity, r.record_count],
            )
        })
        .fold(BTreeMap::new(), sum_rows);
    assert_eq!(stored, by_hour, "usage_hourly = Σ tasks");

    // By the days the job started and ended, for jobs that did both.
    let mut by_job_days: BTreeMap<(i64, i64, i64, NaiveDate, NaiveDate), [i64; 2]> =
        BTreeMap::new();
    for task in all_tasks(db)
        .await
        .iter()
        .filter(|t| t.usage_status == "computed")
    {
        let job = &jobs[&task.job_id];
        if let (Some(start), Some(end)) = (job.start_time, job.end_time) {
            let entry = by_job_days
                .entry((
                    job.project_id,
                    task.node_type_id.unwrap(),
                    job.sub_project_id.unwrap_or(0),
                    start.date_naive(),
                    end.date_naive(),
                ))
                .or_default();
            entry[0] += task.usage_milli.unwrap();
            entry[1] += 1;
        }
    }
    let stored: BTreeMap<_, _> = hpc_job_usage::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (
                    r.project_id,
                    r.node_type_id,
                    r.sub_project_key,
                    r.start_day,
                    r.end_day,
                ),
                [r.usage_milli, r.task_count],
            )
        })
        .fold(BTreeMap::new(), sum_rows);
    assert_eq!(stored, by_job_days, "hpc_job_usage = Σ tasks of ended jobs");

    // The same by the months the job started and ended.
    let month = |day: NaiveDate| day.with_day(1).unwrap();
    let by_job_months = by_job_days
        .iter()
        .map(
            |(&(project, node_type, sub_project, start, end), &amounts)| {
                (
                    (project, node_type, sub_project, month(start), month(end)),
                    amounts,
                )
            },
        )
        .fold(BTreeMap::new(), sum_rows);
    let stored: BTreeMap<_, _> = hpc_job_usage_monthly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (
                    r.project_id,
                    r.node_type_id,
                    r.sub_project_key,
                    r.start_month,
                    r.end_month,
                ),
                [r.usage_milli, r.task_count],
            )
        })
        .fold(BTreeMap::new(), sum_rows);
    assert_eq!(
        stored, by_job_months,
        "hpc_job_usage_monthly = Σ tasks of ended jobs, by month"
    );
}

#[tokio::test]
async fn usage_comes_from_the_formula_valid_at_the_task_start() {
    let Hpc {
        app,
        token,
        old_formula,
        new_formula,
    } = setup().await;
    let db = &app.db.conn;
    let tasks = vec![
        // 2 nodes × 1.5 h with the old formula = 3 node-hours.
        json!({ "ordinal": 0, "state": "Finished", "nodeType": "qcpu", "startTime": at(9, 22), "endTime": at(9, 23) + Duration::minutes(30),
                "parameters": { "NumNodes": "2", "RunTime": "01:30:00" } }),
        // Starts exactly when the new formula starts (inclusive): × 2.
        task(1, "cpu", at(10, 0), 3, 1, "Finished"),
        // A node type without a formula: flagged, not counted.
        task(2, "gpu", at(10, 0), 1, 1, "Finished"),
        // A formula variable the task lacks: an error, not a silent 0.
        json!({ "ordinal": 3, "state": "Finished", "nodeType": "cpu", "startTime": at(11, 0), "endTime": at(11, 1), "parameters": { "NumNodes": "1" } }),
    ];
    let (status, report) = post(&app, &token, vec![job("100", "Finished", tasks)], false).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["inserted"], 1);
    let rows = all_tasks(db).await;
    let summary: Vec<_> = rows
        .iter()
        .map(|t| (t.usage_status.as_str(), t.usage_milli, t.formula_id))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("computed", Some(3000), Some(old_formula)),
            ("computed", Some(6000), Some(new_formula)),
            ("no_formula", None, None),
            ("error", None, Some(new_formula)),
        ]
    );
    assert!(
        rows[3].usage_error.as_deref().unwrap().contains("RunTime"),
        "{:?}",
        rows[3].usage_error
    );
    assert_eq!(rows[0].usage_unit.as_deref(), Some("node_hour"));
    assert_hpc_rollups_consistent(db).await;
    // The first task ran 22:00–23:30 on the 9th: 2000 + 1000 milli over two hours.
    let hourly: Vec<_> = usage_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.hour < at(10, 0))
        .map(|r| (r.hour, r.quantity))
        .collect();
    assert_eq!(hourly.len(), 2);
    assert_eq!(hourly.iter().map(|h| h.1).sum::<i64>(), 3000);
    // The usage route reads the rollups: 3 + 6 node-hours over the period,
    // from the two priced tasks (the flagged ones count nothing). A collector
    // posts but does not read: an administrator asks.
    let admin = app.token_for(world::user(db, "admin", "system_admin", Scope::System).await);
    let (status, body) = app
        .get_as(Some(&admin), "/api/v1/usage?from=2026-03-01&to=2026-03-31")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({
            "from": "2026-03-01",
            "to": "2026-03-31",
            "usage": [
                { "project": "OPEN-1", "source": "hpc", "unit": "node_hour", "quantity": "9", "records": 2 },
            ],
        })
    );
    // A period before the tasks holds nothing.
    let (status, body) = app
        .get_as(Some(&admin), "/api/v1/usage?from=2026-02-01&to=2026-02-28")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["usage"],
        json!([])
    );
}

/// Times finer than a microsecond (what PostgreSQL keeps) are cut on arrival:
/// a replay finds its stored job instead of hitting the unique key.
#[tokio::test]
async fn a_replay_with_nanosecond_times_is_recognised() {
    let Hpc { app, token, .. } = setup().await;
    let mut sent = job(
        "300",
        "Finished",
        vec![task(0, "cpu", at(12, 0), 2, 1, "Finished")],
    );
    sent["submitTime"] = json!("2026-01-01T00:00:00.123456789Z");
    sent["tasks"][0]["startTime"] = json!("2026-01-12T00:00:00.987654321Z");
    let (status, first) = post(&app, &token, vec![sent.clone()], false).await;
    assert_eq!((status, &first["inserted"]), (200, &json!(1)), "{first}");
    let (status, replay) = post(&app, &token, vec![sent], false).await;
    assert_eq!((status, &replay["unchanged"]), (200, &json!(1)), "{replay}");
    let stored = jobs::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.submit_time.to_rfc3339(),
        "2026-01-01T00:00:00.123456+00:00"
    );
}

#[tokio::test]
async fn jobs_progress_until_final_then_change_only_by_correction() {
    let Hpc { app, token, .. } = setup().await;
    let db = &app.db.conn;
    let running = job(
        "200",
        "Running",
        vec![task(0, "cpu", at(12, 0), 2, 1, "Running")],
    );
    assert_eq!(
        post(&app, &token, vec![running.clone()], false).await.1["inserted"],
        1
    );
    assert_eq!(
        post(&app, &token, vec![running], false).await.1["unchanged"],
        1
    );
    let finished = job(
        "200",
        "Finished",
        vec![
            task(0, "cpu", at(12, 0), 2, 1, "Finished"),
            task(1, "cpu", at(12, 0), 1, 4, "Finished"),
        ],
    );
    let (status, report) = post(&app, &token, vec![finished.clone()], false).await;
    assert_eq!(
        (status, report["updated"].as_u64()),
        (200, Some(1)),
        "{report}"
    );
    assert_eq!(all_tasks(db).await.len(), 2);
    assert!(
        jobs::Entity::find()
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .is_final
    );
    assert_hpc_rollups_consistent(db).await;
    let before = all_tasks(db).await;

    // Final: other content is a conflict, and nothing changes.
    let changed = job(
        "200",
        "Finished",
        vec![task(0, "cpu", at(12, 0), 5, 1, "Finished")],
    );
    let (status, report) = post(&app, &token, vec![changed.clone()], false).await;
    assert_eq!(status, 409, "{report}");
    assert_eq!(report["rejected"][0]["kind"], "conflict");
    assert_eq!(all_tasks(db).await, before);
    // As a correction it replaces the job; the dropped task leaves the rollups.
    let (status, report) = post(&app, &token, vec![changed], true).await;
    assert_eq!((status, report["updated"].as_u64()), (200, Some(1)));
    let after = all_tasks(db).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, before[0].id, "a corrected task keeps its id");
    assert_eq!(after[0].usage_milli, Some(10_000));
    assert_hpc_rollups_consistent(db).await;
}

/// A job sent again under another project moves there whole, keeping its id
/// and its tasks' parameters; the rollups follow. (On Citus the job and its
/// tasks change shard: a row's distribution column cannot be updated, so the
/// service deletes and inserts them.)
#[tokio::test]
async fn a_job_moved_to_another_project_takes_its_tasks_and_usage_along() {
    let Hpc { app, token, .. } = setup().await;
    let db = &app.db.conn;
    let other = world::project(db, "OPEN-2").await;
    let running = job(
        "300",
        "Running",
        vec![task(0, "cpu", at(12, 0), 2, 1, "Running")],
    );
    assert_eq!(post(&app, &token, vec![running], false).await.0, 200);
    let before = jobs::Entity::find().one(db).await.unwrap().unwrap();
    let mut moved = job(
        "300",
        "Finished",
        vec![
            task(0, "cpu", at(12, 0), 2, 1, "Finished"),
            task(1, "cpu", at(12, 0), 1, 3, "Finished"),
        ],
    );
    moved["project"] = json!("OPEN-2");
    moved["subProject"] = Value::Null;
    let (status, report) = post(&app, &token, vec![moved], false).await;
    assert_eq!(
        (status, report["updated"].as_u64()),
        (200, Some(1)),
        "{report}"
    );
    let after = jobs::Entity::find().all(db).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, before.id, "a moved job keeps its id");
    assert_eq!(after[0].project_id, other.id);
    let moved_tasks = all_tasks(db).await;
    assert_eq!(moved_tasks.len(), 2);
    assert!(
        moved_tasks
            .iter()
            .all(|t| t.project_id == other.id && t.job_id == before.id)
    );
    let parameters = task_parameters::Entity::find().all(db).await.unwrap();
    assert_eq!(parameters.len(), 4);
    assert!(parameters.iter().all(|p| p.project_id == other.id));
    assert_hpc_rollups_consistent(db).await;
}

#[tokio::test]
async fn bad_jobs_are_rejected_and_change_nothing() {
    let Hpc { app, token, .. } = setup().await;
    let cases = [
        (job("1", "Exploded", vec![]), "no job state"),
        (
            job(
                "2",
                "Finished",
                vec![task(0, "fpga", at(2, 0), 1, 1, "Finished")],
            ),
            "no node type or queue \"fpga\"",
        ),
        (
            {
                let mut j = job("3", "Finished", vec![]);
                j["project"] = json!("NOPE");
                j
            },
            "no project",
        ),
        (
            {
                let mut j = job("4", "Finished", vec![]);
                j["startTime"] = json!(at(3, 0));
                j["endTime"] = json!(at(2, 0));
                j
            },
            "ends before it starts",
        ),
        (
            job(
                "5",
                "Finished",
                vec![
                    task(0, "cpu", at(2, 0), 1, 1, "Finished"),
                    task(0, "cpu", at(2, 0), 1, 1, "Finished"),
                ],
            ),
            "repeated",
        ),
    ];
    for (bad, reason) in cases {
        let (status, report) = post(
            &app,
            &token,
            vec![
                job(
                    "ok",
                    "Finished",
                    vec![task(0, "cpu", at(2, 0), 1, 1, "Finished")],
                ),
                bad,
            ],
            false,
        )
        .await;
        assert_eq!(status, 422, "{report}");
        assert_eq!(report["rejected"][0]["index"], 1);
        assert!(
            report["rejected"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{report}"
        );
    }
    assert!(
        all_tasks(&app.db.conn).await.is_empty(),
        "nothing of a rejected batch is stored"
    );
    let body = json!({ "cluster": "nowhere", "jobs": [job("1", "Finished", vec![])] });
    let response = app
        .client
        .post(app.url(ROUTE))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

/// A job of a random batch: its id (0..6), its tasks as (start day, hours,
/// nodes), and whether it is final.
type RandomJob = (u8, Vec<(u8, u8, u8)>, bool);

#[derive(Debug, Clone)]
enum Step {
    /// A batch of jobs, possibly as a correction.
    Send(Vec<RandomJob>, bool),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let task = (1_u8..20, 1_u8..40, 1_u8..8);
    let job = (
        0_u8..6,
        proptest::collection::vec(task, 0..3),
        any::<bool>(),
    );
    let step = (proptest::collection::vec(job, 1..4), any::<bool>())
        .prop_map(|(jobs, correction)| Step::Send(jobs, correction));
    proptest::collection::vec(step, 1..6)
}

/// After any sequence of batches, progress, replays and corrections, every
/// HPC rollup equals the sum of the computed tasks.
#[test]
fn hpc_rollups_equal_raw_sums_after_any_sequence() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Hpc { app, token, .. } = runtime.block_on(setup());
    let config = ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in steps())| {
        runtime.block_on(async {
            for Step::Send(batch, correction) in &steps {
                let jobs: Vec<Value> = batch
                    .iter()
                    .map(|(id, tasks, is_final)| {
                        let state = if *is_final { "Finished" } else { "Running" };
                        let tasks = tasks
                            .iter()
                            .enumerate()
                            .map(|(i, (day, hours, nodes))| task(i32::try_from(i).unwrap(), "cpu", at(u32::from(*day), 1), i64::from(*hours), u32::from(*nodes), "Finished"))
                            .collect();
                        job(&format!("p{id}"), state, tasks)
                    })
                    .collect();
                let before = all_tasks(&app.db.conn).await;
                let (status, _) = post(&app, &token, jobs.clone(), *correction).await;
                if status != 200 {
                    assert_eq!(all_tasks(&app.db.conn).await, before, "a rejected batch changed nothing");
                } else {
                    // Replaying what was just accepted changes nothing.
                    let after = all_tasks(&app.db.conn).await;
                    let (status, report) = post(&app, &token, jobs, *correction).await;
                    assert_eq!(status, 200);
                    assert_eq!(report["inserted"].as_u64().unwrap() + report["updated"].as_u64().unwrap(), 0, "{report}");
                    assert_eq!(all_tasks(&app.db.conn).await, after);
                }
                assert_hpc_rollups_consistent(&app.db.conn).await;
            }
        });
    });
}
