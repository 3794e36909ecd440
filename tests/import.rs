//! `tally import slurm`: every sacct file of `../shared/fixtures/slurm` goes
//! through the HPC ingestion service into a real database, plus the decisions
//! the fixtures do not exercise (skips, rejections, requeues, batches) and one
//! run of the real binary.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, DatabaseConnection,
    EntityTrait as _, QueryFilter as _, QueryOrder as _,
};
use serde_json::Value;
use tally::auth::Scope;
use tally::domain::usage::spread_over_hours;
use tally::entity::{
    clusters, hpc_usage_daily, jobs, node_type_aggregations, node_types, task_parameters, tasks,
    usage_daily, usage_hourly,
};
use tally::service::formulas::{self, NewFormula};
use tally::service::import::{ImportOptions, ImportSummary, import_slurm};

use crate::helpers::{TestDb, world};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/slurm");

/// The column lists of `../shared/fixtures/README.md`.
const XDMOD_FORMAT: &str = "JobID,JobIDRaw,Cluster,Partition,QOS,Account,Group,GID,User,UID,\
    Submit,Eligible,Start,End,Elapsed,ExitCode,State,NNodes,NCPUS,ReqCPUS,ReqMem,ReqTRES,\
    AllocTRES,Timelimit,NodeList,JobName";
const AWS_FORMAT: &str = "State,JobID,ReqCPUS,ReqMem,ReqNodes,Constraints,Submit,Eligible,\
    Start,Elapsed,Suspended,End,ExitCode,DerivedExitCode,AllocNodes,NCPUS,MaxDiskRead,\
    MaxDiskWrite,MaxPages,MaxRSS,MaxVMSize,CPUTime,UserCPU,SystemCPU,TotalCPU";
const APEL_FORMAT: &str = "JobID,JobName,User,Group,Start,End,Elapsed,CPUTimeRAW,Partition,\
    NCPUS,NNodes,NodeList,MaxRSS,MaxVMSize,State";
const RUG_FORMAT: &str = "JobID,JobName,User,Partition,NodeList,NNodes,NCPUs,NTasks,State,\
    Submit,Start,End,Timelimit,Elapsed,TotalCPU,CPUTime,UserCPU,SystemCPU,ReqMem,MaxRSS,\
    MaxVMSize,ReqTRES,AllocTRES,TRESUsageInMax,TRESUsageInTot,TRESUsageOutTot,MaxDiskRead,\
    MaxDiskWrite,MaxRSSNode,MaxRSSTask,MaxVMSizeNode,MaxVMSizeTask,MaxDiskReadNode,\
    MaxDiskReadTask,MaxDiskWriteNode,MaxDiskWriteTask,Comment";

/// Every partition named in the fixture files.
const PARTITIONS: &[&str] = &[
    "general-compute",
    "black",
    "focaccia",
    "us-east-1a_all",
    "prod",
    "partition",
    "regularshort",
    "regularmedium",
    "regularlong",
    "gpushort",
    "gpumedium",
    "gpulong",
    "parallelshort",
    "parallelmedium",
    "parallellong",
    "gelifesshort",
    "himemlong",
];

/// The project of jobs whose account is not a project.
const DEFAULT_PROJECT: &str = "DEFAULT-1";

/// The fixture's text, or `None` (with the reason) when the folder is absent.
fn fixture(name: &str) -> Option<String> {
    let dir = std::path::Path::new(FIXTURES);
    if !dir.is_dir() {
        eprintln!("skipping: the fixture folder {FIXTURES} is absent");
        return None;
    }
    Some(std::fs::read_to_string(dir.join(name)).unwrap())
}

fn utc(text: &str) -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc()
}

/// A database with the default project, an aggregation priced `NumCPUs *
/// RunTime` core-hours since 2000, and a first cluster `test`.
async fn site() -> (TestDb, clusters::Model) {
    let db = TestDb::new().await;
    world::project(&db.conn, DEFAULT_PROJECT).await;
    let aggregation = node_type_aggregations::ActiveModel {
        name: Set("cpu".into()),
        validity_from: Set(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .unwrap();
    formulas::create(
        &db.conn,
        aggregation.id,
        NewFormula {
            expression: "NumCPUs * RunTime".to_owned(),
            unit: "core_hour".to_owned(),
            validity_from: Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
            validity_to: None,
            supersedes: None,
        },
        None,
    )
    .await
    .unwrap();
    let cluster = cluster(&db.conn, "test").await;
    (db, cluster)
}

/// A cluster with one node type per fixture partition (queue `q-<name>`),
/// plus `aws` for the files without a Partition column.
async fn cluster(db: &DatabaseConnection, name: &str) -> clusters::Model {
    let cluster = world::cluster(db, name).await;
    let aggregation = node_type_aggregations::Entity::find()
        .one(db)
        .await
        .unwrap()
        .unwrap();
    for partition in PARTITIONS.iter().chain(&["aws"]) {
        node_types::ActiveModel {
            cluster_id: Set(cluster.id),
            aggregation_id: Set(Some(aggregation.id)),
            name: Set((*partition).to_owned()),
            queue: Set(format!("q-{partition}")),
            cores_per_node: Set(8),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    cluster
}

fn options(cluster: &str, format: Option<&str>) -> ImportOptions {
    ImportOptions {
        default_project: Some(DEFAULT_PROJECT.to_owned()),
        format: format.map(str::to_owned),
        ..ImportOptions::new(cluster)
    }
}

async fn run(db: &TestDb, text: &str, options: &ImportOptions) -> ImportSummary {
    let summary = import_slurm(&db.conn, &db.bus(), text, options)
        .await
        .unwrap();
    assert_eq!(
        summary.jobs_parsed,
        summary.inserted
            + summary.updated
            + summary.unchanged
            + summary.skipped.len()
            + summary.rejected.len()
            + summary.superseded.len(),
        "every parsed job is counted once: {summary:#?}"
    );
    summary
}

/// The stored jobs of `cluster`, in id order, each with its one task.
async fn stored(
    db: &DatabaseConnection,
    cluster: &clusters::Model,
) -> Vec<(jobs::Model, tasks::Model)> {
    let jobs = jobs::Entity::find()
        .filter(jobs::Column::ClusterId.eq(cluster.id))
        .order_by_asc(jobs::Column::Id)
        .all(db)
        .await
        .unwrap();
    let mut out = Vec::new();
    for job in jobs {
        let mut tasks = tasks::Entity::find()
            .filter(tasks::Column::JobId.eq(job.id))
            .all(db)
            .await
            .unwrap();
        assert_eq!(tasks.len(), 1, "one task per job");
        out.push((job, tasks.remove(0)));
    }
    out
}

async fn parameters(db: &DatabaseConnection, task: &tasks::Model) -> BTreeMap<String, String> {
    task_parameters::Entity::find()
        .filter(task_parameters::Column::TaskId.eq(task.id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect()
}

fn lines(issues: &[tally::service::import::JobIssue]) -> Vec<usize> {
    issues.iter().map(|i| i.line).collect()
}

fn error_lines(summary: &ImportSummary) -> Vec<usize> {
    summary.errors.iter().map(|e| e.line).collect()
}

/// Every HPC rollup adds up to what the computed tasks spread over their
/// hours. (Like `hpc::assert_hpc_rollups_consistent`, but summing the rollup
/// rows of a key: imported jobs of several submitters share a day.)
async fn assert_rollups_add_up(db: &DatabaseConnection) {
    type Sums<K> = BTreeMap<K, [i64; 2]>;
    fn add<K: Ord>(sums: &mut Sums<K>, key: K, value: [i64; 2]) {
        let entry = sums.entry(key).or_default();
        entry[0] += value[0];
        entry[1] += value[1];
    }
    fn nonzero<K: Ord>(sums: Sums<K>) -> Sums<K> {
        sums.into_iter().filter(|(_, v)| *v != [0, 0]).collect()
    }
    let jobs: BTreeMap<i64, jobs::Model> = jobs::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let (mut by_day, mut by_hour) = (Sums::new(), Sums::new());
    for task in tasks::Entity::find().all(db).await.unwrap() {
        if task.usage_status != "computed" {
            continue;
        }
        let project = jobs[&task.job_id].project_id;
        let node_type = task.node_type_id.unwrap();
        let start = task.start_time.unwrap();
        let parts = spread_over_hours(
            task.usage_milli.unwrap(),
            start,
            task.end_time.unwrap_or(start),
        );
        let last = parts.len() - 1;
        for (i, (hour, share)) in parts.into_iter().enumerate() {
            let value = [share, i64::from(i == last)];
            add(&mut by_day, (project, node_type, hour.date_naive()), value);
            add(&mut by_hour, (project, node_type, hour), value);
        }
    }
    let mut stored: Sums<(i64, i64, NaiveDate)> = Sums::new();
    for r in hpc_usage_daily::Entity::find().all(db).await.unwrap() {
        add(
            &mut stored,
            (r.project_id, r.node_type_id, r.day),
            [r.usage_milli, r.task_count],
        );
    }
    assert_eq!(nonzero(stored), by_day, "hpc_usage_daily = Σ tasks");
    let mut stored: Sums<(i64, i64, NaiveDate)> = Sums::new();
    for r in usage_daily::Entity::find().all(db).await.unwrap() {
        if r.source == "hpc" {
            add(
                &mut stored,
                (r.project_id, r.resource_id, r.day),
                [r.quantity, r.record_count],
            );
        }
    }
    assert_eq!(nonzero(stored), by_day, "usage_daily = Σ tasks");
    let mut stored: Sums<(i64, i64, DateTime<Utc>)> = Sums::new();
    for r in usage_hourly::Entity::find().all(db).await.unwrap() {
        if r.source == "hpc" {
            add(
                &mut stored,
                (r.project_id, r.resource_id, r.hour),
                [r.quantity, r.record_count],
            );
        }
    }
    assert_eq!(nonzero(stored), by_hour, "usage_hourly = Σ tasks");
}

/// HEAppE's state value of an xdmod state name.
fn heappe_state(state: &str) -> i16 {
    match state.split(' ').next().unwrap() {
        "COMPLETED" => 16,
        "TIMEOUT" | "FAILED" => 32,
        "CANCELLED" => 64,
        other => panic!("state {other} not in the fixture"),
    }
}

#[tokio::test]
async fn xdmod_jobs_agree_with_expected_and_reimports_change_nothing() {
    let (Some(text), Some(expected)) = (
        fixture("xdmod-accounting-logs.log"),
        fixture("xdmod-accounting-logs.expected.json"),
    ) else {
        return;
    };
    let expected: Vec<Value> = serde_json::from_str(&expected).unwrap();
    let (db, cluster) = site().await;
    let pumpkins = world::project(&db.conn, "dspumpkins").await;
    let hanx = world::user(&db.conn, "hanx", "", Scope::System).await;
    let options = ImportOptions {
        // The fourth job has an empty Partition.
        default_partition: Some("general-compute".to_owned()),
        batch_size: 3,
        ..options("test", Some(XDMOD_FORMAT))
    };

    let dry = run(
        &db,
        &text,
        &ImportOptions {
            dry_run: true,
            ..options.clone()
        },
    )
    .await;
    assert_eq!((dry.inserted, dry.batches, dry.dry_run), (4, 2, true));
    assert!(
        stored(&db.conn, &cluster).await.is_empty(),
        "a dry run stores nothing"
    );

    let summary = run(&db, &text, &options).await;
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(
        (
            summary.lines,
            summary.jobs_parsed,
            summary.inserted,
            summary.batches
        ),
        (4, 4, 4, 2)
    );
    let rows = stored(&db.conn, &cluster).await;
    assert_eq!(rows.len(), expected.len());
    let epoch = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp());
    for ((job, task), want) in rows.iter().zip(&expected) {
        assert_eq!(job.scheduler_job_id, want["job_id"].as_str().unwrap());
        assert_eq!(
            job.submit_time.timestamp(),
            want["submit_time"].as_i64().unwrap()
        );
        assert_eq!(epoch(job.start_time), want["start_time"].as_i64());
        assert_eq!(epoch(job.end_time), want["end_time"].as_i64());
        assert_eq!(job.state, heappe_state(want["state"].as_str().unwrap()));
        assert!(job.is_final);
        assert_eq!(job.account.as_deref(), want["account_name"].as_str());
        assert_eq!(task.ordinal, 0);
        assert_eq!(
            task.allocated_cores.map(i64::from),
            want["ncpus"].as_str().unwrap().parse().ok()
        );
        assert_eq!(
            task.allocated_nodes.map(i64::from),
            want["nnodes"].as_str().unwrap().parse().ok()
        );
        assert_eq!(task.allocated_seconds, want["elapsed"].as_i64());
        assert_eq!(
            i64::from(task.allocated_gpus.unwrap_or(0)),
            want["ngpus"].as_i64().unwrap()
        );
        assert_eq!(
            task.scheduler_job_id.as_deref(),
            want["job_id_raw"].as_str()
        );
        assert_eq!(task.usage_status, "computed", "{:?}", task.usage_error);
        assert_eq!(task.usage_unit.as_deref(), Some("core_hour"));
    }
    // The TIMEOUT job ran 3-00:00:00 on 256 CPUs.
    assert_eq!(rows[0].1.usage_milli, Some(256 * 72 * 1000));
    // CANCELLED by 102216 after 2-22:03:04 on 36 CPUs: 36 × 252184 s.
    assert_eq!(rows[1].1.usage_milli, Some(36 * 252_184 * 1000 / 3600));
    // The account that is a project's accounting string selects it; the
    // Slurm user that is a Tally user is the submitter.
    assert_eq!(rows[1].0.project_id, pumpkins.id);
    assert_eq!(rows[1].0.submitter_id, Some(hanx));
    assert!(
        rows.iter()
            .all(|(j, _)| j.project_id == pumpkins.id || j.submitter_id.is_none())
    );
    assert_eq!(rows[3].1.allocated_gpus, Some(2));
    let params = parameters(&db.conn, &rows[0].1).await;
    assert_eq!(params["RunTime"], "3-00:00:00");
    assert_eq!(params["NumCPUs"], "256");
    assert_eq!(params["Partition"], "general-compute");
    assert_rollups_add_up(&db.conn).await;

    let again = run(&db, &text, &options).await;
    assert!(again.is_clean(), "{again}");
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 4));
    assert_eq!(stored(&db.conn, &cluster).await, rows);
}

#[tokio::test]
async fn xdmod_arrays_states_and_names() {
    let (Some(arrays), Some(array_indices), Some(non_ended), Some(unknown), Some(utf8)) = (
        fixture("xdmod-accounting-logs-with-job-arrays.log"),
        fixture("xdmod-accounting-logs-with-job-arrays.expected.json"),
        fixture("xdmod-non-ended-job-state.log"),
        fixture("xdmod-unknown-job-state.log"),
        fixture("xdmod-utf8-multibyte-chars.log"),
    ) else {
        return;
    };
    let (db, first) = site().await;

    // Array jobs keep their array ids as scheduler ids.
    let summary = run(&db, &arrays, &options("test", Some(XDMOD_FORMAT))).await;
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(summary.inserted, 6);
    let rows = stored(&db.conn, &first).await;
    let ids: Vec<&str> = rows
        .iter()
        .map(|(j, _)| j.scheduler_job_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "4103947_100",
            "4103947_[1-3]",
            "4103947_[1,5]",
            "4103947_[9-11,20]",
            "4103947_[91,100-102]",
            "4103947_[9-11,13,16-20]"
        ]
    );
    let indices: Vec<Vec<u32>> = serde_json::from_str(&array_indices).unwrap();
    assert_eq!(indices.len(), rows.len());
    let params = parameters(&db.conn, &rows[1].1).await;
    assert_eq!(
        (
            params["ArrayJobId"].as_str(),
            params["ArrayTaskId"].as_str()
        ),
        ("4103947", "1-3")
    );

    // Running and pending jobs are imported (xdmod skips them) and are not
    // final; `Unknown` times are NULL.
    let second = cluster(&db.conn, "second").await;
    let summary = run(&db, &non_ended, &options("second", Some(XDMOD_FORMAT))).await;
    assert!(summary.is_clean(), "{summary}");
    let rows = stored(&db.conn, &second).await;
    assert_eq!(rows.len(), 2);
    let (running, pending) = (&rows[0], &rows[1]);
    assert_eq!((running.0.state, running.0.is_final), (8, false));
    assert_eq!((pending.0.state, pending.0.is_final), (4, false));
    assert_eq!(pending.0.start_time, None);
    assert_eq!(pending.1.start_time, None);
    assert_eq!(pending.1.usage_status, "pending");
    assert_eq!(pending.1.usage_milli, None);

    // Unknown states are skipped with a reason naming the line, as xdmod warns.
    let third = cluster(&db.conn, "third").await;
    let summary = run(&db, &unknown, &options("third", Some(XDMOD_FORMAT))).await;
    assert_eq!(lines(&summary.skipped), [1, 2]);
    assert!(
        summary.skipped[0].reason.contains("unknown state \"FOO\""),
        "{summary}"
    );
    assert!(
        summary.skipped[1].reason.contains("unknown state \"BAR\""),
        "{summary}"
    );
    assert!(!summary.is_clean());
    assert!(stored(&db.conn, &third).await.is_empty());

    // Multi-byte job names are intact.
    let fourth = cluster(&db.conn, "fourth").await;
    let summary = run(&db, &utf8, &options("fourth", Some(XDMOD_FORMAT))).await;
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(stored(&db.conn, &fourth).await[0].0.name, "aàb");
    assert_rollups_add_up(&db.conn).await;
}

/// The aws-samples files have no Account (the default project) and, but for
/// two, no Partition (`--partition aws`); State comes first.
#[tokio::test]
async fn awshpc_files() {
    struct Case {
        file: &'static str,
        with_partition: bool,
        inserted: usize,
        skipped: &'static [usize],
        errors: &'static [usize],
    }
    let cases = [
        Case {
            file: "awshpc-sacct-output-v1.psv",
            with_partition: false,
            inserted: 483,
            skipped: &[],
            errors: &[],
        },
        Case {
            file: "awshpc-array-job.psv",
            with_partition: false,
            inserted: 8,
            skipped: &[],
            errors: &[],
        },
        Case {
            file: "awshpc-multi-node.psv",
            with_partition: false,
            inserted: 1,
            skipped: &[],
            errors: &[],
        },
        Case {
            file: "awshpc-issue-gl20-malformed-lines.psv",
            with_partition: false,
            inserted: 9,
            skipped: &[],
            errors: &[6, 7, 15, 22, 23, 31],
        },
        Case {
            file: "awshpc-issue17-reqmem-0n-start-none.psv",
            with_partition: false,
            inserted: 3,
            skipped: &[],
            errors: &[],
        },
        Case {
            file: "awshpc-issue5-pending-unknown-times.psv",
            with_partition: false,
            inserted: 1,
            skipped: &[],
            errors: &[],
        },
        Case {
            file: "awshpc-issue59-node-fail-step-empty-exitcode.psv",
            with_partition: true,
            inserted: 1,
            skipped: &[],
            errors: &[],
        },
        Case {
            file: "awshpc-issue61-cancelled-by-uid-invalid-state.psv",
            with_partition: true,
            inserted: 1,
            skipped: &[4],
            errors: &[],
        },
        Case {
            file: "awshpc-issue63-interactive-step.psv",
            with_partition: false,
            inserted: 1,
            skipped: &[],
            errors: &[],
        },
    ];
    let mut texts = Vec::new();
    for case in &cases {
        let Some(text) = fixture(case.file) else {
            return;
        };
        texts.push(text);
    }
    let (db, _) = site().await;
    let mut clusters = BTreeMap::new();
    for (case, text) in cases.iter().zip(&texts) {
        let cluster = cluster(&db.conn, case.file).await;
        let format = if case.with_partition {
            format!("{AWS_FORMAT},Partition")
        } else {
            AWS_FORMAT.to_owned()
        };
        let options = ImportOptions {
            default_partition: Some("aws".to_owned()),
            ..options(case.file, Some(&format))
        };
        let summary = run(&db, text, &options).await;
        assert_eq!(summary.inserted, case.inserted, "{}: {summary}", case.file);
        assert_eq!(
            lines(&summary.skipped),
            case.skipped,
            "{}: {summary}",
            case.file
        );
        assert_eq!(
            error_lines(&summary),
            case.errors,
            "{}: {summary}",
            case.file
        );
        assert!(summary.rejected.is_empty(), "{}: {summary}", case.file);
        let rows = stored(&db.conn, &cluster).await;
        assert_eq!(rows.len(), case.inserted, "{}", case.file);
        clusters.insert(case.file, (cluster, rows));
    }

    // 878 lines: 483 jobs with their 395 `.batch` steps folded in.
    let (_, v1) = &clusters["awshpc-sacct-output-v1.psv"];
    assert!(v1.iter().all(|(j, t)| j.project_id == v1[0].0.project_id
        && t.usage_status == "computed"
        && j.is_final));
    let (_, arrays) = &clusters["awshpc-array-job.psv"];
    let ids: Vec<&str> = arrays
        .iter()
        .map(|(j, _)| j.scheduler_job_id.as_str())
        .collect();
    assert_eq!(ids, (0..8).map(|i| format!("846_{i}")).collect::<Vec<_>>());
    let (_, multi) = &clusters["awshpc-multi-node.psv"];
    assert_eq!(multi[0].1.allocated_nodes, Some(4));
    // A job seen only through its `.extern` step, and a job cancelled before
    // it started (Start=None).
    let (_, issue17) = &clusters["awshpc-issue17-reqmem-0n-start-none.psv"];
    assert_eq!(issue17[0].0.scheduler_job_id, "2346371");
    assert_eq!(issue17[2].0.scheduler_job_id, "39");
    assert_eq!((issue17[2].0.state, issue17[2].0.start_time), (64, None));
    assert_eq!(issue17[2].0.end_time, Some(utc("2022-06-25T19:23:16")));
    // PENDING with Start and End `Unknown`.
    let (_, issue5) = &clusters["awshpc-issue5-pending-unknown-times.psv"];
    assert_eq!(
        (
            issue5[0].0.state,
            issue5[0].0.start_time,
            issue5[0].0.end_time
        ),
        (4, None, None)
    );
    // The Partition column picks the node type.
    let (cluster59, issue59) = &clusters["awshpc-issue59-node-fail-step-empty-exitcode.psv"];
    let node_type = node_types::Entity::find_by_id(issue59[0].1.node_type_id.unwrap())
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (node_type.cluster_id, node_type.name.as_str()),
        (cluster59.id, "us-east-1a_all")
    );
    assert_eq!(issue59[0].0.state, 32);
    // `CANCELLED by 32874` is kept, the same line with state INVALID skipped.
    let (_, issue61) = &clusters["awshpc-issue61-cancelled-by-uid-invalid-state.psv"];
    assert_eq!(
        (issue61[0].0.scheduler_job_id.as_str(), issue61[0].0.state),
        ("141", 64)
    );
    let (_, issue63) = &clusters["awshpc-issue63-interactive-step.psv"];
    assert_eq!(issue63[0].1.allocated_seconds, Some(3358));
    assert_rollups_add_up(&db.conn).await;
}

#[tokio::test]
async fn apel_files_have_no_submit_time_and_invalid_lines_are_rejected() {
    let (Some(valid), Some(invalid)) = (
        fixture("apel-test_slurm-valid-lines.psv"),
        fixture("apel-test_slurm-invalid-lines.psv"),
    ) else {
        return;
    };
    let (db, cluster) = site().await;
    let options = ImportOptions {
        default_partition: Some("prod".to_owned()),
        ..options("test", Some(APEL_FORMAT))
    };

    let summary = run(&db, &invalid, &options).await;
    assert_eq!(error_lines(&summary), [1, 2, 3, 4, 5]);
    for (error, says) in summary.errors.iter().zip([
        "zero memory",
        "zero memory",
        "MaxRSS",
        "before Start",
        "negative",
    ]) {
        assert!(error.message.contains(says), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("line {}: ", error.line))
        );
    }
    assert_eq!((summary.jobs_parsed, summary.inserted), (0, 0));
    assert!(stored(&db.conn, &cluster).await.is_empty());

    // APEL's layout has no Submit column, and Tally keys jobs by it.
    let summary = run(&db, &valid, &options).await;
    assert!(summary.errors.is_empty(), "{summary}");
    assert_eq!(lines(&summary.skipped), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(
        summary
            .skipped
            .iter()
            .all(|s| s.reason.contains("no Submit column"))
    );
    assert!(stored(&db.conn, &cluster).await.is_empty());
}

#[tokio::test]
async fn rug_snowman_file_with_trailing_delimiters() {
    let Some(text) = fixture("rug-hb-jobinfo-sacct.snowman.txt") else {
        return;
    };
    let (db, cluster) = site().await;
    let summary = run(&db, &text, &options("test", Some(RUG_FORMAT))).await;
    assert!(summary.is_clean(), "{summary}");
    // 242 lines: 100 jobs, their 142 steps folded in.
    assert_eq!(
        (summary.lines, summary.jobs_parsed, summary.inserted),
        (242, 100, 100)
    );
    let rows = stored(&db.conn, &cluster).await;
    assert_eq!(rows.len(), 100);
    let job = |id: &str| rows.iter().find(|(j, _)| j.scheduler_job_id == id).unwrap();

    // Multi-day: 1-04:37:26 on 8 CPUs.
    let (array_job, multi_day) = job("5908801_3");
    assert_eq!(array_job.state, 16);
    assert_eq!(multi_day.allocated_seconds, Some(103_046));
    assert_eq!(multi_day.usage_milli, Some(228_991));
    assert!(
        rows.iter()
            .any(|(j, _)| j.scheduler_job_id == "2344448_100")
    );
    assert_eq!(
        rows.iter()
            .filter(|(j, _)| j.scheduler_job_id.contains('_'))
            .count(),
        24
    );
    // GPUs from `gres/gpu=1` in AllocTRES; `CANCELLED by <uid>` is Canceled.
    let (gpu_job, gpu) = job("7965768");
    assert_eq!((gpu.allocated_gpus, gpu_job.state), (Some(1), 64));
    assert_eq!(parameters(&db.conn, gpu).await["gres_gpu:v100"], "1");
    // Start `None` (cancelled before starting) and `Unknown` (pending) are NULL.
    assert_eq!(
        rows.iter().filter(|(j, _)| j.start_time.is_none()).count(),
        10
    );
    assert_eq!(
        rows.iter().filter(|(j, _)| j.end_time.is_none()).count(),
        10
    );
    assert_eq!(job("4047445").0.start_time, None);
    assert!(
        rows.iter()
            .filter(|(j, _)| j.state == 4)
            .all(|(j, t)| j.start_time.is_none() && t.usage_status == "pending")
    );
    assert_rollups_add_up(&db.conn).await;
}

#[tokio::test]
async fn a_header_line_replaces_the_format_and_no_layout_is_a_clear_error() {
    let Some(text) = fixture("xdmod-accounting-logs.log") else {
        return;
    };
    let (db, cluster) = site().await;
    let options = ImportOptions {
        default_partition: Some("general-compute".to_owned()),
        ..options("test", None)
    };

    let summary = run(&db, &text, &options).await;
    assert_eq!(summary.jobs_parsed, 0);
    assert_eq!(error_lines(&summary), [1]);
    assert!(
        summary.errors[0].message.contains("no column layout"),
        "{summary}"
    );
    assert!(
        summary.to_string().contains("line 1: no column layout"),
        "{summary}"
    );
    assert!(stored(&db.conn, &cluster).await.is_empty());

    let with_header = format!("{}\n{text}", XDMOD_FORMAT.replace(',', "|"));
    let summary = run(&db, &with_header, &options).await;
    assert!(summary.is_clean(), "{summary}");
    assert_eq!((summary.lines, summary.inserted), (5, 4));
    assert_eq!(
        stored(&db.conn, &cluster).await[0].0.scheduler_job_id,
        "4103947"
    );
}

const HEADER: &str =
    "JobID|JobName|User|Account|Partition|Submit|Start|End|Elapsed|State|NCPUS|NNodes";

/// One job (100) that is imported, five that are skipped for their own reason,
/// and one pending job (104) whose first partition is not a node type.
fn mixed_file(elapsed_100: &str, end_100: &str, job_104: &str) -> String {
    format!(
        "{HEADER}
100|a|alice|open-12-34|general-compute|2026-03-01T00:00:00|2026-03-01T01:00:00|{end_100}|{elapsed_100}|COMPLETED|4|1
101|b|bob|nosuch|general-compute|2026-03-01T00:00:00|2026-03-01T01:00:00|2026-03-01T02:00:00|01:00:00|COMPLETED|2|1
102|c|bob|OPEN-12-34|nope|2026-03-01T00:00:00|2026-03-01T01:00:00|2026-03-01T02:00:00|01:00:00|COMPLETED|2|1
103|d|bob|OPEN-12-34||2026-03-01T00:00:00|2026-03-01T01:00:00|2026-03-01T02:00:00|01:00:00|COMPLETED|2|1
{job_104}
105|f|bob|OPEN-12-34|general-compute|Unknown|Unknown|Unknown|00:00:00|PENDING|2|1
106|g|bob|OPEN-12-34|general-compute|2026-03-01T00:00:00|2026-03-01T01:00:00|2026-03-01T02:00:00|01:00:00|FOO|2|1
"
    )
}

#[tokio::test]
async fn skipped_jobs_do_not_block_and_rejected_jobs_do_not_stop_the_import() {
    let (db, cluster) = site().await;
    let project = world::project(&db.conn, "OPEN-12-34").await;
    let alice = world::user(&db.conn, "alice", "", Scope::System).await;
    let options = ImportOptions {
        default_project: None,
        batch_size: 2,
        ..options("test", None)
    };
    let pending_104 = "104|e|bob|OPEN-12-34|nope,q-general-compute|2026-03-01T00:00:00|Unknown|Unknown|00:00:00|PENDING|2|1";
    let text = mixed_file("02:00:00", "2026-03-01T03:00:00", pending_104);

    let summary = run(&db, &text, &options).await;
    assert_eq!((summary.inserted, summary.batches), (2, 1), "{summary}");
    assert_eq!(lines(&summary.skipped), [3, 4, 5, 7, 8], "{summary}");
    let reasons: Vec<&str> = summary.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert!(reasons[0].contains("account \"nosuch\" is not the accounting string of a project"));
    assert!(
        reasons[1].contains("partition \"nope\" is not a node type or queue of cluster \"test\"")
    );
    assert!(reasons[2].contains("no Partition"));
    assert!(reasons[3].contains("no Submit time"));
    assert!(reasons[4].contains("unknown state \"FOO\""));
    let printed = summary.to_string();
    assert!(printed.contains("line 3: job 101: account"), "{printed}");
    assert!(printed.contains("  skipped       5\n"), "{printed}");

    let rows = stored(&db.conn, &cluster).await;
    assert_eq!(rows.len(), 2);
    // Slurm lower-cases account names: matched ignoring case.
    assert_eq!(rows[0].0.project_id, project.id);
    assert_eq!(rows[0].0.account.as_deref(), Some("open-12-34"));
    assert_eq!(rows[0].0.submitter_id, Some(alice));
    assert_eq!(rows[0].1.usage_milli, Some(8000));
    // bob is not a Tally user: no submitter.
    assert_eq!(rows[1].0.submitter_id, None);
    assert_eq!((rows[1].0.state, rows[1].1.start_time), (4, None));
    assert_rollups_add_up(&db.conn).await;

    // Job 100 is final: changed without --correction, it is rejected; the
    // other job of its batch (104, now running) is still imported.
    let running_104 = "104|e|bob|OPEN-12-34|general-compute|2026-03-01T00:00:00|2026-03-01T01:00:00|Unknown|00:30:00|RUNNING|2|1";
    let changed = mixed_file("03:00:00", "2026-03-01T04:00:00", running_104);
    let summary = run(&db, &changed, &options).await;
    assert_eq!(lines(&summary.rejected), [2], "{summary}");
    assert!(summary.rejected[0].reason.contains("final"), "{summary}");
    assert_eq!(
        (summary.inserted, summary.updated, summary.batches),
        (0, 1, 1)
    );
    assert!(summary.to_string().contains("rejected jobs"));
    let rows = stored(&db.conn, &cluster).await;
    assert_eq!(
        rows[0].1.usage_milli,
        Some(8000),
        "the rejected job is unchanged"
    );
    assert_eq!((rows[1].0.state, rows[1].1.usage_milli), (8, Some(1000)));
    assert_rollups_add_up(&db.conn).await;

    // With --correction it replaces the stored job.
    let corrected = run(
        &db,
        &changed,
        &ImportOptions {
            correction: true,
            ..options.clone()
        },
    )
    .await;
    assert!(corrected.rejected.is_empty(), "{corrected}");
    assert_eq!((corrected.updated, corrected.unchanged), (1, 1));
    assert_eq!(
        stored(&db.conn, &cluster).await[0].1.usage_milli,
        Some(12_000)
    );
    assert_rollups_add_up(&db.conn).await;

    // What cannot work at all is an error before anything is read.
    for (bad, says) in [
        (ImportOptions::new("nosuch"), "no cluster \"nosuch\""),
        (
            ImportOptions {
                default_project: Some("NOPE".into()),
                ..ImportOptions::new("test")
            },
            "no project \"NOPE\"",
        ),
        (
            ImportOptions {
                default_partition: Some("nope".into()),
                ..ImportOptions::new("test")
            },
            "no node type or queue \"nope\"",
        ),
        (
            ImportOptions {
                batch_size: 0,
                ..ImportOptions::new("test")
            },
            "batch size",
        ),
    ] {
        let error = import_slurm(&db.conn, &db.bus(), &text, &bad)
            .await
            .unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
    }
}

#[tokio::test]
async fn requeued_runs_are_jobs_of_their_own_and_repeated_lines_update() {
    let (db, cluster) = site().await;
    let text = "\
JobID|Submit|Start|End|Elapsed|State|NCPUS|NNodes|Partition
200|2026-03-01T00:00:00|2026-03-01T00:10:00|2026-03-01T00:20:00|00:10:00|REQUEUED|1|1|general-compute
200|2026-03-01T00:20:05|2026-03-01T00:30:00|2026-03-01T01:30:00|01:00:00|COMPLETED|1|1|general-compute
201|2026-03-01T00:00:00|2026-03-01T00:10:00|Unknown|00:05:00|RUNNING|1|1|general-compute
201|2026-03-01T00:00:00|2026-03-01T00:10:00|2026-03-01T00:40:00|00:30:00|COMPLETED|1|1|general-compute
";
    let summary = run(&db, text, &options("test", None)).await;
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(summary.inserted, 3);
    assert_eq!(lines(&summary.superseded), [4]);
    assert!(summary.superseded[0].reason.contains("line 5"));
    let rows = stored(&db.conn, &cluster).await;
    let runs: Vec<(&str, i16, Option<i64>)> = rows
        .iter()
        .map(|(j, t)| (j.scheduler_job_id.as_str(), j.state, t.usage_milli))
        .collect();
    assert_eq!(
        runs,
        [
            ("200", 4, Some(167)),
            ("200", 16, Some(1000)),
            ("201", 16, Some(500))
        ]
    );
    assert_eq!(rows[1].0.submit_time, utc("2026-03-01T00:20:05"));
}

#[tokio::test]
async fn the_command_imports_a_file_and_exits_non_zero_on_problems() {
    let (Some(_), Some(unknown)) = (
        fixture("xdmod-accounting-logs.log"),
        fixture("xdmod-unknown-job-state.log"),
    ) else {
        return;
    };
    let (db, cluster) = site().await;
    let tally = |args: &[&str], stdin: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tally"));
        command
            .args(["import", "slurm"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TALLY_DATABASE_URL", &db.url)
            .current_dir(std::env::temp_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let file = format!("{FIXTURES}/xdmod-accounting-logs.log");
    let args = [
        file.as_str(),
        "--cluster",
        "test",
        "--project",
        DEFAULT_PROJECT,
        "--partition",
        "general-compute",
        "--format",
        XDMOD_FORMAT,
    ];

    let (code, stdout, stderr) = tally(&args, None);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("imported sacct output into cluster \"test\""),
        "{stdout}"
    );
    assert!(stdout.contains("  inserted      4\n"), "{stdout}");
    assert_eq!(stored(&db.conn, &cluster).await.len(), 4);

    let (code, stdout, _) = tally(&args, None);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("  unchanged     4\n"), "{stdout}");

    // Standard input, with problems: exit status 1 and one line per job.
    let mut from_stdin = args;
    from_stdin[0] = "-";
    let (code, stdout, stderr) = tally(&from_stdin, Some(&unknown));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("line 1: job 3451067: unknown state \"FOO\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 2: job 3483276: unknown state \"BAR\""),
        "{stdout}"
    );
    assert!(
        stderr.contains("not everything was imported: 2 skipped"),
        "{stderr}"
    );

    // No header and no --format: nothing is imported, the line says why.
    let (code, stdout, _) = tally(&args[..7], None);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("line 1: no column layout"), "{stdout}");
    let (code, _, stderr) = tally(&["/nonexistent/file.psv", "--cluster", "test"], None);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cannot read /nonexistent/file.psv"),
        "{stderr}"
    );
    assert_eq!(stored(&db.conn, &cluster).await.len(), 4);
}
