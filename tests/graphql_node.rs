//! `node(id:)` as a reader of one project: every kind of object of another
//! project is `null`, and the scope is a condition of the statement that
//! looked for it (not a filter applied after loading). The same holds for
//! what the loaders read under an object (a task's parameters, a bucket's
//! usage).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone as _, Utc};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::projects;
use tally::service::{demo, recompute, users};

use crate::helpers::{TestApp, TestDb, world::PASSWORD};

async fn run(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let answer: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
    answer["data"].clone()
}

fn first(connection: &Value) -> Value {
    connection["edges"][0]["node"].clone()
}

/// The kind named by a global id.
fn kind(id: &str) -> String {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(id).unwrap()).unwrap();
    text.split_once(':').unwrap().0.to_owned()
}

#[tokio::test]
async fn a_reader_gets_null_for_every_kind_of_another_projects_objects_and_the_statement_is_scoped()
{
    let db = TestDb::new().await;
    demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let admin = users::add(&db.conn, "root", None, PASSWORD, true)
        .await
        .unwrap();
    let project = |accounting: &'static str| {
        let conn = db.conn.clone();
        async move {
            projects::Entity::find_by_accounting_string(accounting)
                .one(&conn)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let astro = project("DEMO-ASTRO-01").await;
    let bio = project("DEMO-BIO-02").await;
    let reader = crate::helpers::world::user(
        &db.conn,
        "reader",
        "eosc_project_reader",
        Scope::Project(astro.id),
    )
    .await;
    let run_of_bio = recompute::enqueue(
        &db.conn,
        bio.id,
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap(),
        None,
    )
    .await
    .unwrap();
    let config = db.config_with(&[("TALLY_RECOMPUTE_POLL_SECS", "0")]);
    let app = TestApp::spawn_with(db, config).await;
    let admin = app.token_for(admin.id);
    let reader = app.token_for(reader);

    // One object of every kind that belongs to a project, all of DEMO-BIO-02,
    // as the administrator sees them; and users and grants, which only
    // administrators see.
    let other = run(
        &app,
        &admin,
        r#"{ project(by: {accountingString: "DEMO-BIO-02"}) { id
              subProjects(first: 1) { edges { node { id } } }
              groups(first: 1) { edges { node { id } } }
              jobs(first: 1) { edges { node { id tasks(first: 1) { edges { node { id } } } } } }
              buckets(first: 1) { edges { node { id } } }
              installations(first: 1) { edges { node { id
                metrics(first: 1) { edges { node { id } } } } } } }
            users(first: 5) { edges { node { id grants(first: 1) { edges { node { id } } } } } } }"#,
        json!({}),
    )
    .await;
    let bio_project = &other["project"];
    let job = first(&bio_project["jobs"]);
    let installation = first(&bio_project["installations"]);
    let user = other["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .find(|u| !u["grants"]["edges"].as_array().unwrap().is_empty())
        .unwrap();
    let ids: Vec<Value> = vec![
        bio_project["id"].clone(),
        first(&bio_project["subProjects"])["id"].clone(),
        first(&bio_project["groups"])["id"].clone(),
        job["id"].clone(),
        first(&job["tasks"])["id"].clone(),
        first(&bio_project["buckets"])["id"].clone(),
        installation["id"].clone(),
        first(&installation["metrics"])["id"].clone(),
        json!(URL_SAFE_NO_PAD.encode(format!("RecomputationRun:{}", run_of_bio.id))),
        user["id"].clone(),
        first(&user["grants"])["id"].clone(),
    ];
    let kinds: Vec<String> = ids.iter().map(|id| kind(id.as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [
            "Project",
            "SubProject",
            "Group",
            "Job",
            "Task",
            "Bucket",
            "Installation",
            "Metric",
            "RecomputationRun",
            "User",
            "Grant"
        ],
        "{other:#}"
    );

    let node = "query($id: ID!) { node(id: $id) { id } }";
    for (id, kind) in ids.iter().zip(&kinds) {
        // The administrator finds each one: the ids are real.
        let seen = run(&app, &admin, node, json!({ "id": id })).await;
        assert_eq!(seen["node"]["id"], *id, "{kind} as the administrator");

        app.statements.reset();
        let seen = run(&app, &reader, node, json!({ "id": id })).await;
        assert!(seen["node"].is_null(), "{kind} {id} visible to the reader");
        let statements = app.statements.recorded();
        if kind == "User" || kind == "Grant" {
            // Refused before any by-id read (the statements that remain
            // authenticate the caller): only administrators may ask.
            let by_id = if kind == "User" {
                "\"users\".\"id\" IN ("
            } else {
                "\"grants\".\"id\" IN ("
            };
            assert!(
                statements.iter().all(|s| !s.contains(by_id)),
                "{kind}: {statements:#?}"
            );
            continue;
        }
        // The by-id statement names the reader's project and only it.
        let table = match kind.as_str() {
            "Project" => "projects",
            "SubProject" => "sub_projects",
            "Group" => "user_groups",
            "Job" => "jobs",
            "Task" => "tasks",
            "Bucket" => "buckets",
            "Installation" => "installations",
            "Metric" => "metrics",
            _ => "accounting_runs",
        };
        let scope_column = if kind == "Project" {
            "id"
        } else {
            "project_id"
        };
        let by_id: Vec<&String> = statements
            .iter()
            .filter(|s| s.contains(&format!("FROM \"{table}\"")))
            .collect();
        assert_eq!(by_id.len(), 1, "{kind}: {statements:#?}");
        // (A project's scope is on its id, which the lookup names too.)
        let scoped = format!("\"{table}\".\"{scope_column}\" IN (");
        let wanted = if kind == "Project" { 2 } else { 1 };
        assert!(
            by_id[0].matches(&scoped).count() >= wanted,
            "{kind}: no {scoped} in {}",
            by_id[0]
        );
    }

    // The reader's own project's objects are still found.
    let mine = run(
        &app,
        &reader,
        r#"{ project(by: {accountingString: "DEMO-ASTRO-01"}) { id
              jobs(first: 1) { edges { node { id } } } } }"#,
        json!({}),
    )
    .await;
    let own_job = first(&mine["project"]["jobs"])["id"].clone();
    for id in [&mine["project"]["id"], &own_job] {
        let seen = run(&app, &reader, node, json!({ "id": id })).await;
        assert_eq!(seen["node"]["id"], *id);
    }
}

#[tokio::test]
async fn database_ids_are_the_numbers_the_rest_routes_use() {
    let db = TestDb::new().await;
    demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let astro = projects::Entity::find_by_accounting_string("DEMO-ASTRO-01")
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let reader = crate::helpers::world::user(
        &db.conn,
        "reader",
        "eosc_project_reader",
        Scope::Project(astro.id),
    )
    .await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(reader);

    // The REST side: whoami names the user and the grant's project by number.
    let (status, body) = app.get_as(Some(&token), "/api/v1/whoami").await;
    assert_eq!(status, 200, "{body}");
    let whoami: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(whoami["user"]["id"], reader);
    assert_eq!(whoami["grants"][0]["projectId"], astro.id);

    // The GraphQL side gives the same numbers, and each object's databaseId
    // is the number inside its global id.
    let answer = run(
        &app,
        &token,
        r#"{ project(by: {accountingString: "DEMO-ASTRO-01"}) { id databaseId
              subProjects(first: 1) { edges { node { id databaseId } } }
              clusters(first: 1) { edges { node { id databaseId
                nodeTypes(first: 1) { edges { node { id databaseId } } } } } }
              jobs(first: 1) { edges { node { id databaseId
                tasks(first: 1) { edges { node { id databaseId } } } } } } } }"#,
        json!({}),
    )
    .await;
    let project = &answer["project"];
    assert_eq!(project["databaseId"], astro.id);
    let cluster = first(&project["clusters"]);
    let job = first(&project["jobs"]);
    for object in [
        project.clone(),
        first(&project["subProjects"]),
        cluster.clone(),
        first(&cluster["nodeTypes"]),
        job.clone(),
        first(&job["tasks"]),
    ] {
        let text = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(object["id"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let number: i64 = text.split_once(':').unwrap().1.parse().unwrap();
        assert_eq!(object["databaseId"], number, "{object:#}");
    }
}

/// What hangs off an object and is read for many parents at once (a task's
/// parameters, a bucket's usage at each grain) is read by a statement that
/// carries the reader's scope, not only reached through a scoped parent.
#[tokio::test]
async fn parameters_and_bucket_usage_are_read_with_the_scope_in_the_statement() {
    let db = TestDb::new().await;
    demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let astro = projects::Entity::find_by_accounting_string("DEMO-ASTRO-01")
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let reader = crate::helpers::world::user(
        &db.conn,
        "reader",
        "eosc_project_reader",
        Scope::Project(astro.id),
    )
    .await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(reader);

    let parameters = r#"{ project(by: {accountingString: "DEMO-ASTRO-01"}) {
          jobs(first: 3) { edges { node { tasks(first: 3) { edges { node {
            parameters { name value } } } } } } } } }"#;
    app.statements.reset();
    let answer = run(&app, &token, parameters, json!({})).await;
    let jobs = answer["project"]["jobs"]["edges"].as_array().unwrap();
    let tasks = first(&jobs[0]["node"]["tasks"]);
    assert!(
        !tasks["parameters"].as_array().unwrap().is_empty(),
        "{answer:#}"
    );
    let statements = app.statements.recorded();
    let read: Vec<&String> = statements
        .iter()
        .filter(|s| s.contains("FROM \"task_parameters\""))
        .collect();
    assert_eq!(read.len(), 1, "{statements:#?}");
    assert!(
        read[0].contains("\"task_parameters\".\"project_id\" IN ("),
        "{}",
        read[0]
    );

    for (granularity, table) in [
        ("HOUR", "bucket_usage_hourly"),
        ("DAY", "bucket_usage_daily"),
        ("MONTH", "bucket_usage_monthly"),
    ] {
        let usage = format!(
            r#"{{ project(by: {{accountingString: "DEMO-ASTRO-01"}}) {{
                  buckets(first: 5) {{ edges {{ node {{
                    usage(granularity: {granularity}, period: {{from: "2026-10-25", to: "2026-10-31"}}) {{
                      start byteHours }} }} }} }} }} }}"#
        );
        app.statements.reset();
        let answer = run(&app, &token, &usage, json!({})).await;
        let rows: usize = answer["project"]["buckets"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["usage"].as_array().unwrap().len())
            .sum();
        assert!(rows > 0, "{granularity}: {answer:#}");
        let statements = app.statements.recorded();
        let read: Vec<&String> = statements
            .iter()
            .filter(|s| s.contains(&format!("FROM \"{table}\"")))
            .collect();
        assert_eq!(read.len(), 1, "{granularity}: {statements:#?}");
        assert!(
            read[0].contains(&format!("\"{table}\".\"project_id\" IN (")),
            "{granularity}: {}",
            read[0]
        );
    }
}
