//! The demo data set: loaded through the services, it covers all four sources,
//! and the `tally demo` command loads it once and refuses a second time.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::Value;
use tally::entity::{
    bucket_usage_hourly, buckets, cloud_records, clusters, eosc_metric_daily, formulas,
    hpc_usage_daily, jobs, metrics, node_types, projects, sub_projects, tasks, usage_daily,
    usage_hourly, user_groups,
};
use tally::service::{demo, users};

use crate::helpers::{TestApp, TestDb, world::PASSWORD};

#[tokio::test]
async fn the_demo_covers_every_source() {
    let db = TestDb::new().await;
    let conn = &db.conn;
    let summary = demo::load(conn, &db.bus(), 1).await.unwrap();

    // The shape the issue asks for, counted in the database.
    assert!(projects::Entity::find().count(conn).await.unwrap() >= 2);
    assert!(sub_projects::Entity::find().count(conn).await.unwrap() >= 2);
    assert!(user_groups::Entity::find().count(conn).await.unwrap() >= 2);
    assert_eq!(clusters::Entity::find().count(conn).await.unwrap(), 2);
    assert!(node_types::Entity::find().count(conn).await.unwrap() >= 2);
    let job_count = jobs::Entity::find().count(conn).await.unwrap();
    assert!(job_count >= 200, "{job_count} jobs");
    assert_eq!(job_count, summary.jobs as u64);
    let all_tasks = tasks::Entity::find().all(conn).await.unwrap();
    assert!(all_tasks.len() > job_count as usize);
    assert_eq!(all_tasks.len(), summary.tasks);
    assert!(cloud_records::Entity::find().count(conn).await.unwrap() > 0);
    assert!(metrics::Entity::find().count(conn).await.unwrap() > 0);
    assert_eq!(buckets::Entity::find().count(conn).await.unwrap(), 3);
    assert_eq!(
        bucket_usage_hourly::Entity::find()
            .count(conn)
            .await
            .unwrap(),
        3 * 60 * 24
    );

    // One formula was replaced mid-period, and tasks used both versions.
    let versions = formulas::Entity::find().all(conn).await.unwrap();
    let replacement = versions
        .iter()
        .find(|f| f.supersedes_id.is_some())
        .expect("a replaced formula");
    let replaced = replacement.supersedes_id.unwrap();
    let used: BTreeSet<i64> = all_tasks.iter().filter_map(|t| t.formula_id).collect();
    assert!(used.contains(&replaced) && used.contains(&replacement.id));
    // Mostly computed usage, plus the states a real cluster shows.
    let computed = all_tasks
        .iter()
        .filter(|t| t.usage_status == "computed")
        .count();
    assert!(computed * 10 > all_tasks.len() * 8, "{computed} computed");
    let states: BTreeSet<i16> = jobs::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .iter()
        .map(|j| j.state)
        .collect();
    assert!(states.len() >= 4, "{states:?}");

    // An administrator sees non-zero usage of every source.
    let admin = users::add(conn, "root", None, PASSWORD, true)
        .await
        .unwrap();
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(admin.id);
    let path = format!(
        "/api/v1/usage?from={}&to={}",
        summary.from - chrono::Duration::days(1),
        summary.to
    );
    let (status, body) = app.get_as(Some(&token), &path).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let mut by_source: BTreeMap<String, f64> = BTreeMap::new();
    let mut projects_seen = BTreeSet::new();
    for row in answer["usage"].as_array().unwrap() {
        let quantity: f64 = row["quantity"].as_str().unwrap().parse().unwrap();
        *by_source
            .entry(row["source"].as_str().unwrap().to_owned())
            .or_default() += quantity;
        projects_seen.insert(row["project"].as_str().unwrap().to_owned());
    }
    for source in ["hpc", "cloud", "eosc", "storage"] {
        assert!(
            by_source.get(source).copied().unwrap_or(0.0) > 0.0,
            "no {source} usage in {body}"
        );
    }
    assert!(projects_seen.len() >= 2, "{projects_seen:?}");
}

#[tokio::test]
async fn tally_demo_loads_once_and_then_refuses() {
    let db = TestDb::new().await;
    let tally = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .arg("demo")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TALLY_DATABASE_URL", &db.url)
            .env("TALLY_LOG", "warn")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap()
    };
    let first = tally();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("demo data loaded (scale 1)"), "{stdout}");
    assert!(
        stdout.contains("3 buckets, 4320 hourly samples"),
        "{stdout}"
    );
    assert!(stdout.contains("tally serve --demo"), "{stdout}");
    assert_eq!(projects::Entity::find().count(&db.conn).await.unwrap(), 2);

    let second = tally();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already holds projects"), "{stderr}");
    // Nothing was added.
    assert_eq!(projects::Entity::find().count(&db.conn).await.unwrap(), 2);
}

/// Sums of `(project, unit)` → (amount, count).
type Sums = BTreeMap<(i64, String), (i128, i64)>;

/// The demo's rollups equal the sums of the facts they roll up, on every
/// backend: on Citus the facts and rollups are sharded by project and the
/// rollups are upserted shard by shard, so this is the check that no delta
/// was lost or written twice across shards.
#[tokio::test]
async fn demo_rollups_equal_raw_sums() {
    let db = TestDb::new().await;
    let conn = &db.conn;
    demo::load(conn, &db.bus(), 2).await.unwrap();

    // HPC: computed tasks → hpc_usage_daily, and the HPC part of the
    // cross-source tables (quantities at scale 3: milli-units).
    let mut tasks_sum = Sums::new();
    for task in tasks::Entity::find().all(conn).await.unwrap() {
        if task.usage_status != "computed" {
            continue;
        }
        let entry = tasks_sum
            .entry((task.project_id, task.usage_unit.clone().unwrap()))
            .or_default();
        entry.0 += i128::from(task.usage_milli.unwrap());
        entry.1 += 1;
    }
    assert!(tasks_sum.len() >= 2, "{tasks_sum:?}");
    let mut hpc_sum = Sums::new();
    for row in hpc_usage_daily::Entity::find().all(conn).await.unwrap() {
        let entry = hpc_sum.entry((row.project_id, row.unit)).or_default();
        entry.0 += i128::from(row.usage_milli);
        entry.1 += row.task_count;
    }
    assert_eq!(hpc_sum, tasks_sum, "hpc_usage_daily");
    let mut daily = Sums::new();
    for row in usage_daily::Entity::find().all(conn).await.unwrap() {
        if row.source == "hpc" {
            assert_eq!(row.scale, 3);
            daily.entry((row.project_id, row.unit)).or_default().0 += i128::from(row.quantity);
        }
    }
    let mut hourly = Sums::new();
    for row in usage_hourly::Entity::find().all(conn).await.unwrap() {
        if row.source == "hpc" {
            assert_eq!(row.scale, 3);
            hourly.entry((row.project_id, row.unit)).or_default().0 += i128::from(row.quantity);
        }
    }
    let amounts = |sums: &Sums| -> BTreeMap<(i64, String), i128> {
        sums.iter().map(|(k, v)| (k.clone(), v.0)).collect()
    };
    assert_eq!(amounts(&daily), amounts(&tasks_sum), "usage_daily (hpc)");
    assert_eq!(amounts(&hourly), amounts(&tasks_sum), "usage_hourly (hpc)");

    // EOSC: metrics → eosc_metric_daily, per project and definition.
    let mut metric_sum: BTreeMap<(i64, i64), (f64, i64)> = BTreeMap::new();
    for metric in metrics::Entity::find().all(conn).await.unwrap() {
        let entry = metric_sum
            .entry((metric.project_id, metric.metric_definition_id))
            .or_default();
        entry.0 += metric.value;
        entry.1 += 1;
    }
    assert!(!metric_sum.is_empty());
    let mut rolled: BTreeMap<(i64, i64), (f64, i64)> = BTreeMap::new();
    for row in eosc_metric_daily::Entity::find().all(conn).await.unwrap() {
        let entry = rolled
            .entry((row.project_id, row.metric_definition_id))
            .or_default();
        entry.0 += row.value_sum;
        entry.1 += row.metric_count;
    }
    assert_eq!(
        rolled.keys().collect::<Vec<_>>(),
        metric_sum.keys().collect::<Vec<_>>()
    );
    for (key, (value, count)) in &metric_sum {
        let (rolled_value, rolled_count) = rolled[key];
        assert_eq!(rolled_count, *count, "{key:?}");
        assert!(
            (rolled_value - value).abs() <= value.abs() * 1e-9,
            "{key:?}: {rolled_value} ≠ {value}"
        );
    }
}
