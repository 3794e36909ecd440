//! HEAppE's Job Reporting routes over HTTP (issue 12): the published page's
//! examples replayed against data built for them, the role and period rules,
//! the sub-project filter, rounding, every error row of heappe.md §5, and each
//! route's wire format pinned byte for byte by an `insta` snapshot.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, EntityTrait as _,
    TransactionTrait as _,
};
use serde_json::{Value, json};
use tally::auth::{ProjectScope, Scope};
use tally::entity::{
    cluster_projects, clusters, node_type_aggregations, node_types, projects, user_groups,
};
use tally::service::events::Decision;
use tally::service::formulas::{self, NewFormula};
use tally::service::jobs::{self, JobBatch};

use crate::helpers::world::{self, PASSWORD};
use crate::helpers::{TestApp, TestDb};
use crate::hpc::assert_hpc_rollups_consistent;

const ROUTES: &str = "/heappe/JobReporting";
/// The published page's period.
const PERIOD: &str = "startTime=2024-09-13T11%3A06%3A57.172Z&endTime=2025-09-13T11%3A06%3A57.172Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The published page's world: project `DD-00-98` ("Development", core-hours)
/// with `Group 1`, cluster Karolina with node types `qcpu` and `qcpu_biz` in
/// aggregation `KAROLINA_CPU` (priced `NumCPUs * RunTime` in core-hours) and
/// `qcpu_exp` in none; a second project `OTHER-1` with its own group.
struct World {
    app: TestApp,
    project: i64,
    other_project: i64,
    group: i64,
    other_group: i64,
    /// Reporter on `Group 1`.
    reporter: i64,
    /// GroupReporter on `Group 1`.
    group_reporter: i64,
    /// Submitter on `Group 1` (contains GroupReporter and Reporter).
    submitter: i64,
    /// Reporter on the other project's group only.
    outsider: i64,
    /// ManagementAdmin on `Group 1` (contains no reporting role).
    management_admin: i64,
    /// No grant at all.
    nobody: i64,
    /// Job ids by scheduler id.
    jobs: std::collections::BTreeMap<String, i64>,
}

async fn project(db: &DatabaseConnection, accounting: &str, name: &str, description: &str) -> i64 {
    projects::ActiveModel {
        accounting_string: Set(accounting.to_owned()),
        name: Set(name.to_owned()),
        description: Set(Some(description.to_owned())),
        usage_type: Set("core_hour".to_owned()),
        start_date: Set(Some("2024-01-01".parse().unwrap())),
        end_date: Set(Some("2026-12-31".parse().unwrap())),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

async fn group(db: &DatabaseConnection, project: i64, name: &str, description: &str) -> i64 {
    user_groups::ActiveModel {
        project_id: Set(Some(project)),
        name: Set(name.to_owned()),
        description: Set(Some(description.to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

async fn node_type(
    db: &DatabaseConnection,
    cluster: i64,
    aggregation: Option<i64>,
    name: &str,
    description: &str,
) {
    node_types::ActiveModel {
        cluster_id: Set(cluster),
        aggregation_id: Set(aggregation),
        name: Set(name.to_owned()),
        description: Set(Some(description.to_owned())),
        queue: Set(name.to_owned()),
        cores_per_node: Set(128),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

/// Ingests `jobs` (JSON as a collector sends them) on Karolina.
async fn ingest(db: &TestDb, jobs: Value) {
    let batch: JobBatch =
        serde_json::from_value(json!({ "cluster": "Karolina", "jobs": jobs })).unwrap();
    let txn = db.conn.begin().await.unwrap();
    let report = db
        .bus()
        .write(txn, async |txn| {
            jobs::ingest(txn, &ProjectScope::All, &batch)
                .await
                .map(Decision::Commit)
        })
        .await
        .unwrap();
    assert!(report.accepted(), "{report:?}");
}

fn task(
    ordinal: u32,
    node_type: &str,
    cpus: &str,
    run_time: &str,
    start: &str,
    end: &str,
) -> Value {
    json!({
        "ordinal": ordinal, "name": format!("task {ordinal}"), "state": "Finished",
        "nodeType": node_type, "schedulerJobId": format!("{ordinal}.sched"),
        "startTime": start, "endTime": end,
        "parameters": { "NumCPUs": cpus, "RunTime": run_time },
    })
}

async fn setup() -> World {
    let app = TestApp::spawn().await;
    let db = &app.db.conn;
    let project_id = project(db, "DD-00-98", "Development", "Development project").await;
    let other_project = project(db, "OTHER-1", "Other", "Another project").await;
    let group_id = group(db, project_id, "Group 1", "HEAppE Development group").await;
    let other_group = group(db, other_project, "Group 2", "Another group").await;
    let cluster = clusters::ActiveModel {
        name: Set("Karolina".into()),
        description: Set(Some("IT4Innovations Karolina cluster".into())),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for project in [project_id, other_project] {
        cluster_projects::ActiveModel {
            cluster_id: Set(cluster.id),
            project_id: Set(project),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    let aggregation = node_type_aggregations::ActiveModel {
        name: Set("KAROLINA_CPU".into()),
        validity_from: Set(at("2024-01-01T00:00:00Z")),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    node_type(
        db,
        cluster.id,
        Some(aggregation.id),
        "qcpu",
        "qcpu 720 nodes",
    )
    .await;
    node_type(
        db,
        cluster.id,
        Some(aggregation.id),
        "qcpu_biz",
        "qcpu_biz 720 nodes",
    )
    .await;
    node_type(db, cluster.id, None, "qcpu_exp", "qcpu_exp 16 nodes").await;
    formulas::create(
        db,
        aggregation.id,
        NewFormula {
            expression: "NumCPUs * RunTime".into(),
            unit: "core_hour".into(),
            validity_from: at("2024-01-01T00:00:00Z"),
            validity_to: None,
            supersedes: None,
        },
        None,
    )
    .await
    .unwrap();
    let on = |g| Scope::UserGroup(g);
    let reporter = world::user(db, "reporter", "heappe_reporter", on(group_id)).await;
    let group_reporter =
        world::user(db, "groupreporter", "heappe_group_reporter", on(group_id)).await;
    let submitter = world::user(db, "submitter", "heappe_submitter", on(group_id)).await;
    let outsider = world::user(db, "outsider", "heappe_reporter", on(other_group)).await;
    let management_admin = world::user(db, "mgmt", "heappe_management_admin", on(group_id)).await;
    let nobody = world::user(db, "nobody", "", Scope::System).await;

    let p = "DD-00-98";
    ingest(
        &app.db,
        json!([
            // Inside the period, sub-project `test`: 128 CPUs × 2 h on qcpu,
            // 1 CPU × 20 min on qcpu_biz (0.333… → 0.333).
            { "schedulerJobId": "1001", "submitTime": "2025-01-10T07:00:00Z", "name": "TEST",
              "state": "Finished", "project": p, "subProject": "test", "submitter": "submitter",
              "startTime": "2025-01-10T08:00:00.123Z", "endTime": "2025-01-10T10:20:00Z",
              "tasks": [
                task(0, "qcpu", "128", "02:00:00", "2025-01-10T08:00:00.123Z", "2025-01-10T10:00:00Z"),
                task(1, "qcpu_biz", "1", "00:20:00", "2025-01-10T10:00:00Z", "2025-01-10T10:20:00Z"),
              ] },
            // Inside, no sub-project: 3 CPUs × 1.5 h on qcpu, and two tasks on
            // qcpu_biz whose usage is a tie at the third decimal: 0.0625 →
            // 0.062 and 0.1875 → 0.188 (banker's rounding, as .NET's
            // Math.Round).
            { "schedulerJobId": "1002", "submitTime": "2025-02-01T00:00:00Z", "name": "plain",
              "state": "Finished", "project": p, "submitter": "groupreporter",
              "startTime": "2025-02-01T00:00:00Z", "endTime": "2025-02-01T01:30:00Z",
              "tasks": [
                task(0, "qcpu", "3", "01:30:00", "2025-02-01T00:00:00Z", "2025-02-01T01:30:00Z"),
                task(1, "qcpu_biz", "1", "0.0625", "2025-02-01T00:00:00Z", "2025-02-01T00:10:00Z"),
                task(2, "qcpu_biz", "1", "0.1875", "2025-02-01T00:10:00Z", "2025-02-01T00:20:00Z"),
              ] },
            // Starts before the period: excluded from it.
            { "schedulerJobId": "1003", "submitTime": "2024-09-01T00:00:00Z", "name": "early",
              "state": "Finished", "project": p, "subProject": "test", "submitter": "submitter",
              "startTime": "2024-09-01T00:00:00Z", "endTime": "2024-09-20T00:00:00Z",
              "tasks": [ task(0, "qcpu", "1", "10", "2024-09-01T00:00:00Z", "2024-09-01T10:00:00Z") ] },
            // Ends after the period: excluded.
            { "schedulerJobId": "1004", "submitTime": "2025-09-13T00:00:00Z", "name": "late",
              "state": "Finished", "project": p, "submitter": "submitter",
              "startTime": "2025-09-13T00:00:00Z", "endTime": "2025-09-14T00:00:00Z",
              "tasks": [ task(0, "qcpu", "1", "24", "2025-09-13T00:00:00Z", "2025-09-14T00:00:00Z") ] },
            // Running: excluded from every period.
            { "schedulerJobId": "1005", "submitTime": "2025-03-01T00:00:00Z", "name": "running",
              "state": "Running", "project": p, "submitter": "submitter",
              "startTime": "2025-03-01T00:00:00Z",
              "tasks": [ { "ordinal": 0, "state": "Running", "nodeType": "qcpu",
                           "startTime": "2025-03-01T00:00:00Z",
                           "parameters": { "NumCPUs": "1", "RunTime": "5" } } ] },
            // Configuring on qcpu_exp (no formula): the page's job example.
            { "schedulerJobId": "1006", "submitTime": "2025-04-01T00:00:00Z", "name": "TEST",
              "state": 1, "project": p,
              "tasks": [ { "ordinal": 0, "name": "TEST", "state": 1, "nodeType": "qcpu_exp" } ] },
            // The other project's job: never in Development's reports.
            { "schedulerJobId": "2001", "submitTime": "2025-01-10T07:00:00Z", "name": "theirs",
              "state": "Finished", "project": "OTHER-1",
              "startTime": "2025-01-10T08:00:00Z", "endTime": "2025-01-10T09:00:00Z",
              "tasks": [ task(0, "qcpu", "1000", "1", "2025-01-10T08:00:00Z", "2025-01-10T09:00:00Z") ] },
        ]),
    )
    .await;
    assert_hpc_rollups_consistent(db).await;
    let jobs = tally::entity::jobs::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.scheduler_job_id, j.id))
        .collect();
    World {
        app,
        project: project_id,
        other_project,
        group: group_id,
        other_group,
        reporter,
        group_reporter,
        submitter,
        outsider,
        management_admin,
        nobody,
        jobs,
    }
}

impl World {
    /// `GET /heappe/JobReporting/<route>?<query>` as user `id` (bearer
    /// token): status and body.
    async fn get(&self, id: i64, route: &str, query: &str) -> (u16, String) {
        let token = self.app.token_for(id);
        self.app
            .get_as(Some(&token), &format!("{ROUTES}/{route}?{query}"))
            .await
    }

    async fn json(&self, id: i64, route: &str, query: &str) -> Value {
        let (status, body) = self.get(id, route, query).await;
        assert_eq!(status, 200, "{route}?{query}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn job(&self, scheduler_id: &str) -> i64 {
        self.jobs[scheduler_id]
    }
}

/// The keys of a JSON object, in the order they were sent.
fn keys_in_order(body: &str, object_start: &str) -> Vec<String> {
    // serde_json keeps the order with `preserve_order` off only through the
    // raw text: read it from the body.
    let at = body.find(object_start).unwrap();
    let mut keys = Vec::new();
    let mut depth = 0;
    let bytes = body[at..].char_indices();
    let mut in_key = None;
    for (i, c) in bytes {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            '"' if depth == 1 => match in_key {
                None => in_key = Some(i + 1),
                Some(start) => {
                    let text = &body[at + start..at + i];
                    let rest = body[at + i + 1..].trim_start();
                    if rest.starts_with(':') {
                        keys.push(text.to_owned());
                    }
                    in_key = None;
                }
            },
            _ => {}
        }
    }
    keys
}

#[tokio::test]
async fn published_examples_replay() {
    let w = setup().await;
    // ListAdaptorUserGroups.
    let (status, body) = w.get(w.group_reporter, "ListAdaptorUserGroups", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys_in_order(&body, "{"),
        [
            "Id",
            "Name",
            "Description",
            "TotalUsage",
            "UsageType",
            "Project"
        ]
    );
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["Id"], w.group);
    assert_eq!(list[0]["Name"], "Group 1");
    assert_eq!(list[0]["Description"], "HEAppE Development group");
    assert_eq!(list[0]["UsageType"], 2);
    assert_eq!(list[0]["Project"]["AccountingString"], "DD-00-98");
    assert_eq!(list[0]["TotalUsage"], list[0]["Project"]["TotalUsage"]);
    // All time: every ended job (1001 to 1004), not the running one.
    // 256 + 0.333 + 4.5 + 0.062 + 0.188 + 10 + 24 = 295.083
    assert_eq!(list[0]["TotalUsage"], json!(295.083));

    // UserResourceUsageReport and UserGroupResourceUsageReport with the
    // page's period and `subProjects=test`.
    let query = format!("userId={}&{PERIOD}&subProjects=test", w.submitter);
    let (status, body) = w
        .get(w.group_reporter, "UserResourceUsageReport", &query)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys_in_order(&body, "{"),
        [
            "Id",
            "Name",
            "AccountingString",
            "TotalUsage",
            "UsageType",
            "Clusters"
        ]
    );
    let reports: Value = serde_json::from_str(&body).unwrap();
    assert!(reports.is_array());
    let report = &reports[0];
    assert_eq!(report["Clusters"][0]["Name"], "Karolina");
    let node_types = report["Clusters"][0]["ClusterNodeTypes"]
        .as_array()
        .unwrap();
    assert_eq!(
        node_types
            .iter()
            .map(|n| n["Name"].clone())
            .collect::<Vec<_>>(),
        ["qcpu", "qcpu_biz", "qcpu_exp"],
        "every node type of the cluster, those without jobs with `Jobs: []`"
    );
    assert_eq!(node_types[2]["Jobs"], json!([]));
    assert_eq!(node_types[2]["TotalUsage"], 0);

    let query = format!("groupId={}&{PERIOD}&subProjects=test", w.group);
    let (status, body) = w
        .get(w.reporter, "UserGroupResourceUsageReport", &query)
        .await;
    assert_eq!(status, 200, "{body}");
    // One object (upstream's code; the page's example shows it in an array).
    let report: Value = serde_json::from_str(&body).unwrap();
    assert!(report.is_object());
    assert_eq!(
        keys_in_order(&body, "{"),
        [
            "Id",
            "Name",
            "AccountingString",
            "TotalUsage",
            "UsageType",
            "Clusters"
        ]
    );
    assert_eq!(report["TotalUsage"], json!(256.333));

    // AggregatedUserGroupResourceUsageReport.
    let (status, body) = w
        .get(w.reporter, "AggregatedUserGroupResourceUsageReport", PERIOD)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys_in_order(&body, "{"),
        [
            "Id",
            "Name",
            "AccountingString",
            "TotalUsage",
            "UsageType",
            "SubProjects",
            "Clusters"
        ]
    );
    let reports: Value = serde_json::from_str(&body).unwrap();
    let aggregations = &reports[0]["Clusters"][0]["ClusterNodeTypesAggregations"];
    assert_eq!(aggregations[0]["Name"], "KAROLINA_CPU");
    assert_eq!(
        aggregations[0]["ClusterNodeTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].clone())
            .collect::<Vec<_>>(),
        ["qcpu", "qcpu_biz"],
        "a node type without an aggregation is left out"
    );

    // ResourceUsageReportForJob: the configuring job on qcpu_exp.
    let query = format!("jobId={}", w.job("1006"));
    let (status, body) = w.get(w.reporter, "ResourceUsageReportForJob", &query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        keys_in_order(&body, "{"),
        [
            "Id",
            "Name",
            "Description",
            "AccountingString",
            "TotalUsage",
            "Clusters"
        ]
    );
    let report: Value = serde_json::from_str(&body).unwrap();
    let cluster = &report["Clusters"][0];
    assert_eq!(cluster["Description"], "IT4Innovations Karolina cluster");
    let node_type = &cluster["ClusterNodeTypes"][0];
    assert_eq!(node_type["Name"], "qcpu_exp");
    assert_eq!(node_type["Description"], "qcpu_exp 16 nodes");
    let job = &node_type["Jobs"][0];
    assert_eq!(
        (job["Name"].clone(), job["State"].clone()),
        (json!("TEST"), json!(1))
    );
    assert_eq!(
        job["Tasks"][0],
        json!({ "Id": job["Tasks"][0]["Id"], "Name": "TEST", "State": 1, "StartTime": null,
                "EndTime": null, "CommandTemplateId": 0, "Usage": 0 })
    );
    assert!(body.contains(r#""StartTime":null,"EndTime":null,"CommandTemplateId":0,"Usage":0"#));
    assert!(
        body.contains(r#"{"Id":"#)
            && body.contains(r#","TotalUsage":0,"Name":"qcpu_exp","Description""#)
    );
}

#[tokio::test]
async fn the_period_rule_and_the_sub_project_filter() {
    let w = setup().await;
    let query = format!("groupId={}&{PERIOD}", w.group);
    let report = w
        .json(w.reporter, "UserGroupResourceUsageReport", &query)
        .await;
    let node_types = &report["Clusters"][0]["ClusterNodeTypes"];
    let listed: Vec<i64> = node_types
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| {
            n["Jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["Id"].as_i64().unwrap())
        })
        .collect();
    // 1001 appears under qcpu and qcpu_biz; 1002 likewise; 1003 started
    // before, 1004 ended after, 1005 runs, 1006 never started.
    assert_eq!(
        listed,
        [w.job("1001"), w.job("1002"), w.job("1001"), w.job("1002")]
    );
    assert_eq!(node_types[0]["TotalUsage"], json!(260.5));
    assert_eq!(node_types[1]["TotalUsage"], json!(0.583));
    assert_eq!(report["Clusters"][0]["TotalUsage"], json!(261.083));
    assert_eq!(report["TotalUsage"], json!(261.083));
    // Under a node type, only that node type's tasks.
    let biz_tasks = &node_types[1]["Jobs"][1]["Tasks"];
    assert_eq!(
        biz_tasks,
        &json!([
            { "Id": biz_tasks[0]["Id"], "Name": "task 1", "Usage": 0.062 },
            { "Id": biz_tasks[1]["Id"], "Name": "task 2", "Usage": 0.188 },
        ]),
        "banker's rounding at the task, exact sums above it"
    );
    assert_eq!(node_types[0]["Jobs"][0]["SubProject"], "test");
    assert_eq!(node_types[0]["Jobs"][1]["SubProject"], Value::Null);

    // The period's edges are inclusive: a job that starts at its first
    // instant and ends at its last is inside.
    let exact = format!(
        "groupId={}&startTime=2025-02-01T00:00:00&endTime=2025-02-01T01:30:00",
        w.group
    );
    let report = w
        .json(w.reporter, "UserGroupResourceUsageReport", &exact)
        .await;
    assert_eq!(report["TotalUsage"], json!(4.75));

    // Sub-projects: repeated keys, any case of the name; jobs without one drop out.
    for query in [
        format!(
            "groupId={}&{PERIOD}&subProjects=test&subProjects=none",
            w.group
        ),
        format!("GroupId={}&{PERIOD}&SubProjects=test", w.group),
    ] {
        let report = w
            .json(w.reporter, "UserGroupResourceUsageReport", &query)
            .await;
        assert_eq!(report["TotalUsage"], json!(256.333), "{query}");
    }
    let query = format!("groupId={}&{PERIOD}&subProjects=none", w.group);
    let report = w
        .json(w.reporter, "UserGroupResourceUsageReport", &query)
        .await;
    assert_eq!(report["TotalUsage"], 0);

    // The newer revision's ClusterId, UserId, Limit and Offset.
    let query = format!("groupId={}&{PERIOD}&UserId={}", w.group, w.group_reporter);
    let report = w
        .json(w.reporter, "UserGroupResourceUsageReport", &query)
        .await;
    assert_eq!(report["TotalUsage"], json!(4.75));
    let query = format!("groupId={}&{PERIOD}&Limit=1&Offset=1", w.group);
    let report = w
        .json(w.reporter, "UserGroupResourceUsageReport", &query)
        .await;
    let jobs = &report["Clusters"][0]["ClusterNodeTypes"][0]["Jobs"];
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["Id"], w.job("1002"));
    assert_eq!(
        report["TotalUsage"],
        json!(261.083),
        "totals are the period's"
    );
    let query = format!("groupId={}&{PERIOD}&ClusterId=999", w.group);
    let report = w
        .json(w.reporter, "UserGroupResourceUsageReport", &query)
        .await;
    assert_eq!(report["Clusters"], json!([]));

    // The aggregated tree: sub-project `test` and the `Id: 0` bucket.
    let reports = w
        .json(w.reporter, "AggregatedUserGroupResourceUsageReport", PERIOD)
        .await;
    let report = &reports[0];
    assert_eq!(report["TotalUsage"], json!(261.083));
    let subs = report["SubProjects"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(
        (subs[0]["Name"].clone(), subs[0]["TotalUsage"].clone()),
        (json!("test"), json!(256.333))
    );
    assert_eq!(
        (
            subs[1]["Id"].clone(),
            subs[1]["Name"].clone(),
            subs[1]["TotalUsage"].clone()
        ),
        (json!(0), Value::Null, json!(4.75))
    );
    // Jobs outside every period: none in a period that holds none.
    let empty = w
        .json(
            w.reporter,
            "AggregatedUserGroupResourceUsageReport",
            "startTime=2020-01-01&endTime=2020-12-31",
        )
        .await;
    assert_eq!(empty[0]["TotalUsage"], 0);
    assert_eq!(empty[0]["SubProjects"][0]["TotalUsage"], 0);
    assert_eq!(
        empty[0]["SubProjects"].as_array().unwrap().len(),
        1,
        "no Id 0 bucket without usage"
    );
}

#[tokio::test]
async fn user_resource_usage_reports_the_named_users_jobs() {
    let w = setup().await;
    // The submitter's jobs only (upstream reports whole projects: fixed).
    let query = format!("userId={}&{PERIOD}", w.submitter);
    let reports = w
        .json(w.group_reporter, "UserResourceUsageReport", &query)
        .await;
    assert_eq!(
        reports.as_array().unwrap().len(),
        1,
        "one report per project"
    );
    assert_eq!(reports[0]["TotalUsage"], json!(256.333));
    let query = format!("userId={}&{PERIOD}", w.group_reporter);
    let reports = w
        .json(w.group_reporter, "UserResourceUsageReport", &query)
        .await;
    assert_eq!(reports[0]["TotalUsage"], json!(4.75));
    // A user who shares no group with the caller: no report.
    let query = format!("userId={}&{PERIOD}", w.outsider);
    let reports = w
        .json(w.group_reporter, "UserResourceUsageReport", &query)
        .await;
    assert_eq!(reports, json!([]));
    // JobsDetailedReport lists every job of the period in detail.
    let (status, body) = w
        .get(
            w.group_reporter,
            "JobsDetailedReport",
            "timeFrom=2025-01-01&timeTo=2025-01-31",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let reports: Value = serde_json::from_str(&body).unwrap();
    let job = &reports[0]["Clusters"][0]["ClusterNodeTypes"][0]["Jobs"][0];
    assert_eq!(job["Submitter"], "submitter");
    assert_eq!(
        job["StartTime"], "2025-01-10T08:00:00.123",
        "no zone suffix, trailing zeros cut"
    );
    assert_eq!(job["Tasks"][0]["CommandTemplateName"], "N/A");
    assert_eq!(job["Tasks"][0]["ScheduledJobId"], "0.sched");
    assert_eq!(reports[0]["StartDate"], "2024-01-01T00:00:00");
    assert_eq!(reports[0]["TotalUsage"], json!(256.333));
}

#[tokio::test]
async fn roles_with_upstreams_containment() {
    let w = setup().await;
    let group_query = format!("groupId={}&{PERIOD}", w.group);
    let job_query = format!("jobId={}", w.job("1001"));
    let user_query = format!("userId={}", w.submitter);
    // (route, query, needed role)
    let routes = [
        ("ListAdaptorUserGroups", "", "GroupReporter"),
        (
            "UserResourceUsageReport",
            user_query.as_str(),
            "GroupReporter",
        ),
        (
            "UserGroupResourceUsageReport",
            group_query.as_str(),
            "Reporter",
        ),
        ("AggregatedUserGroupResourceUsageReport", "", "Reporter"),
        ("ResourceUsageReportForJob", job_query.as_str(), "Reporter"),
        ("JobsStateAgregationReport", "", "GroupReporter"),
        ("JobsDetailedReport", "", "GroupReporter"),
    ];
    for (route, query, role) in routes {
        // No role anywhere: 401 MissingRole.
        for who in [w.nobody, w.management_admin] {
            let (status, body) = w.get(who, route, query).await;
            assert_eq!(status, 401, "{route}: {body}");
            let problem: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                problem,
                json!({ "title": "Unauthorized Access", "status": 401,
                        "detail": format!("MissingRole:{role}") }),
                "{route}"
            );
        }
        // Submitter contains GroupReporter and Reporter.
        let (status, body) = w.get(w.submitter, route, query).await;
        assert_eq!(status, 200, "{route} as submitter: {body}");
        // A Reporter holds no GroupReporter.
        let (status, _) = w.get(w.reporter, route, query).await;
        assert_eq!(
            status,
            if role == "Reporter" { 200 } else { 401 },
            "{route} as reporter"
        );
        // GroupReporter contains Reporter.
        let (status, _) = w.get(w.group_reporter, route, query).await;
        assert_eq!(status, 200, "{route} as group reporter");
        // No token at all.
        let (status, _) = w
            .app
            .get_as(None, &format!("{ROUTES}/{route}?{query}"))
            .await;
        assert_eq!(status, 401, "{route} anonymous");
    }
    // The outsider reports on the other project only.
    let (status, body) = w
        .get(w.outsider, "UserGroupResourceUsageReport", &group_query)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "title": "Not Allowed", "status": 403,
                "detail": "Logged user is not allowed to request this report." })
    );
    let other = format!("groupId={}", w.other_group);
    let report = w
        .json(w.outsider, "UserGroupResourceUsageReport", &other)
        .await;
    assert_eq!(report["Id"], w.other_project);
    assert_eq!(report["TotalUsage"], 1000);
    let reports = w
        .json(w.outsider, "AggregatedUserGroupResourceUsageReport", "")
        .await;
    assert_eq!(reports.as_array().unwrap().len(), 1);
    assert_eq!(reports[0]["Id"], w.other_project);
    // ResourceUsageReportForJob checks the job's project (upstream does not).
    let (status, body) = w
        .get(w.outsider, "ResourceUsageReportForJob", &job_query)
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["detail"],
        format!(
            "This reporter does not have access to report for Job: '{}'.",
            w.job("1001")
        )
    );
    // The reporter sees Development's jobs, not the other project's.
    let report = w
        .json(w.reporter, "ResourceUsageReportForJob", &job_query)
        .await;
    assert_eq!(report["Id"], w.project);
    assert_eq!(report["TotalUsage"], json!(256.333));
    let (status, _) = w
        .get(
            w.reporter,
            "ResourceUsageReportForJob",
            &format!("jobId={}", w.job("2001")),
        )
        .await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn every_error_row() {
    let w = setup().await;
    let problem = |body: &str| serde_json::from_str::<Value>(body).unwrap();
    // Unknown session code; no credentials.
    let (status, body) = w
        .app
        .get_as(
            None,
            &format!(
                "{ROUTES}/ListAdaptorUserGroups?sessionCode={}",
                uuid::Uuid::new_v4()
            ),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        problem(&body),
        json!({ "title": "Unauthorized Access", "status": 401, "detail": "Unauthorized" })
    );
    // A session code works as the token does.
    let code: String = w
        .app
        .client
        .post(
            w.app
                .url("/heappe/UserAndLimitationManagement/AuthenticateUserPassword"),
        )
        .json(&json!({ "Credentials": { "Username": "reporter", "Password": PASSWORD } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, body) = w
        .app
        .get_as(
            None,
            &format!("{ROUTES}/AggregatedUserGroupResourceUsageReport?SessionCode={code}"),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Ids that are missing, zero or negative: 404 Validation Problem.
    for (route, query, detail) in [
        (
            "UserResourceUsageReport",
            "",
            "UserId must be greater than 0\n",
        ),
        (
            "UserResourceUsageReport",
            "userId=0",
            "UserId must be greater than 0\n",
        ),
        (
            "UserGroupResourceUsageReport",
            "groupId=-1",
            "GroupId must be greater than 0\n",
        ),
        (
            "ResourceUsageReportForJob",
            "",
            "JobId must be greater than 0\n",
        ),
    ] {
        let who = if route == "UserResourceUsageReport" {
            w.group_reporter
        } else {
            w.reporter
        };
        let (status, body) = w.get(who, route, query).await;
        assert_eq!(status, 404, "{route}?{query}: {body}");
        assert_eq!(
            problem(&body),
            json!({ "title": "Validation Problem", "status": 404, "detail": detail })
        );
    }
    // A period that ends before it starts.
    for (route, who, query) in [
        (
            "UserResourceUsageReport",
            w.group_reporter,
            format!("userId={}", w.submitter),
        ),
        (
            "UserGroupResourceUsageReport",
            w.reporter,
            format!("groupId={}", w.group),
        ),
    ] {
        let query = format!("{query}&startTime=2025-02-01&endTime=2025-01-01");
        let (status, body) = w.get(who, route, &query).await;
        assert_eq!(status, 404, "{route}: {body}");
        assert_eq!(
            problem(&body)["detail"],
            "StartTime must be before EndTime\n"
        );
    }
    // JobsDetailedReport does not check the order: an empty report.
    let reports = w
        .json(
            w.group_reporter,
            "JobsDetailedReport",
            "timeFrom=2025-02-01&timeTo=2025-01-01",
        )
        .await;
    assert_eq!(reports[0]["TotalUsage"], 0);

    // Unknown job, unknown user: 502 External Service Error.
    let (status, body) = w
        .get(w.reporter, "ResourceUsageReportForJob", "jobId=99999")
        .await;
    assert_eq!(status, 502);
    assert_eq!(
        problem(&body),
        json!({ "title": "External Service Error", "status": 502,
                "detail": "SpecifiedJobId: '99999' is not specified in the HEAppE." })
    );
    let (status, body) = w
        .get(w.group_reporter, "UserResourceUsageReport", "userId=99999")
        .await;
    assert_eq!(status, 502);
    assert_eq!(
        problem(&body)["detail"],
        "SpecifiedUserId: '99999' is not specified in the HEAppE."
    );
    // A user without groups.
    let query = format!("userId={}", w.nobody);
    let (status, _) = w
        .get(w.group_reporter, "UserResourceUsageReport", &query)
        .await;
    assert_eq!(status, 502);

    // Unparsable values: 400 with ASP.NET's errors map.
    for (route, who, query, name, value) in [
        (
            "UserGroupResourceUsageReport",
            w.reporter,
            "groupId=1&startTime=yesterday",
            "startTime",
            "yesterday",
        ),
        (
            "ResourceUsageReportForJob",
            w.reporter,
            "jobId=abc",
            "jobId",
            "abc",
        ),
        (
            "JobsDetailedReport",
            w.group_reporter,
            "timeTo=2025-13-01",
            "timeTo",
            "2025-13-01",
        ),
        (
            "AggregatedUserGroupResourceUsageReport",
            w.reporter,
            "Limit=-5",
            "Limit",
            "-5",
        ),
    ] {
        let (status, body) = w.get(who, route, query).await;
        assert_eq!(status, 400, "{route}?{query}: {body}");
        assert_eq!(
            problem(&body),
            json!({ "title": "One or more validation errors occurred.", "status": 400,
                    "errors": { name: [format!("The value '{value}' is not valid for {name}.")] } })
        );
    }
    // A group that is not the caller's: 403 (above); a group without a
    // project: 204.
    let orphan = user_groups::ActiveModel {
        name: Set("orphan".into()),
        ..Default::default()
    }
    .insert(&w.app.db.conn)
    .await
    .unwrap();
    tally::service::users::grant(
        &w.app.db.conn,
        "reporter",
        "heappe_reporter",
        Scope::UserGroup(orphan.id),
    )
    .await
    .unwrap();
    let (status, body) = w
        .get(
            w.reporter,
            "UserGroupResourceUsageReport",
            &format!("groupId={}", orphan.id),
        )
        .await;
    assert_eq!((status, body.as_str()), (204, ""));
}

/// Every route's body, byte for byte.
#[tokio::test]
async fn wire_formats() {
    let w = setup().await;
    let group = format!("groupId={}&{PERIOD}", w.group);
    let user = format!("userId={}&{PERIOD}", w.submitter);
    let job = format!("jobId={}", w.job("1001"));
    for (name, who, route, query) in [
        (
            "heappe_list_adaptor_user_groups",
            w.group_reporter,
            "ListAdaptorUserGroups",
            "",
        ),
        (
            "heappe_user_resource_usage_report",
            w.group_reporter,
            "UserResourceUsageReport",
            user.as_str(),
        ),
        (
            "heappe_user_group_resource_usage_report",
            w.reporter,
            "UserGroupResourceUsageReport",
            group.as_str(),
        ),
        (
            "heappe_aggregated_user_group_resource_usage_report",
            w.reporter,
            "AggregatedUserGroupResourceUsageReport",
            PERIOD,
        ),
        (
            "heappe_resource_usage_report_for_job",
            w.reporter,
            "ResourceUsageReportForJob",
            job.as_str(),
        ),
        (
            "heappe_jobs_state_aggregation_report_full",
            w.group_reporter,
            "JobsStateAgregationReport",
            "",
        ),
        (
            "heappe_jobs_detailed_report",
            w.group_reporter,
            "JobsDetailedReport",
            "timeFrom=2025-01-01&timeTo=2025-03-01",
        ),
    ] {
        let (status, body) = w.get(who, route, query).await;
        assert_eq!(status, 200, "{route}: {body}");
        insta::assert_snapshot!(name, body);
    }
}
