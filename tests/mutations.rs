//! GraphQL mutations over HTTP: each mutation's success and what it stored,
//! who may call it (anonymous, no grant, collector, administrator), bad input,
//! duplicates and unknown references changing nothing, and ingestion that
//! behaves like the REST batches (reports, replays, events).

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, EntityTrait, PaginatorTrait as _,
};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{
    accounting_runs, bucket_usage_hourly, cloud_records, clusters, formulas, grants, installations,
    jobs, metric_definitions, metric_types, metrics, node_type_aggregations, node_types,
    project_providers, projects, providers, sub_projects, tasks, unit_types, user_groups,
};
use tally::graphql::GlobalId;

use crate::helpers::{TestApp, world};

/// The application with an administrator, a system-wide collector, a
/// collector on one project and a user without grants.
struct World {
    app: TestApp,
    admin: String,
    collector: String,
    nobody: String,
}

async fn setup() -> World {
    let app = TestApp::spawn().await;
    let db = &app.db.conn;
    let admin = app.token_for(world::user(db, "root", "system_admin", Scope::System).await);
    let collector = app.token_for(world::user(db, "collector", "collector", Scope::System).await);
    let nobody = app.token_for(world::user(db, "nobody", "", Scope::System).await);
    World {
        app,
        admin,
        collector,
        nobody,
    }
}

/// Posts `query` with `variables` as `token` (or anonymously); the answer.
async fn gql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "executed operations are 200"
    );
    response.json().await.unwrap()
}

/// `data` of an answer that must hold no errors.
fn data(answer: &Value) -> &Value {
    assert!(answer.get("errors").is_none(), "{answer:#}");
    &answer["data"]
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer:#}"))
}

fn message(answer: &Value) -> &str {
    answer["errors"][0]["message"].as_str().unwrap_or_default()
}

/// Asserts an error `expected` whose message contains `says`, and no data.
fn refused(answer: &Value, expected: &str, says: &str) {
    assert_eq!(code(answer), expected, "{answer:#}");
    assert!(message(answer).contains(says), "{says:?} in {answer:#}");
    assert_eq!(answer["data"], Value::Null, "{answer:#}");
}

async fn count<E: EntityTrait>(db: &DatabaseConnection) -> u64
where
    E::Model: Sync,
{
    E::find().count(db).await.unwrap()
}

fn id(kind: &str, id: i64) -> String {
    GlobalId::encode(kind, id).0
}

const CREATE_PROJECT: &str = "mutation($input: CreateProjectInput!) {
  createProject(input: $input) { id accountingString name description startDate endDate usageType }
}";

const CREATE_CLUSTER: &str =
    "mutation($input: CreateClusterInput!) { createCluster(input: $input) { id name scheduler } }";

const CREATE_AGGREGATION: &str = "mutation($input: CreateAggregationInput!) {
  createAggregation(input: $input) { id name validFrom validTo }
}";

const CREATE_NODE_TYPE: &str = "mutation($input: CreateNodeTypeInput!) {
  createNodeType(input: $input) { id name queue coresPerNode cluster { name } }
}";

const CREATE_FORMULA: &str = "mutation($input: CreateFormulaVersionInput!) {
  createFormulaVersion(input: $input) { id expression unit validFrom validTo supersedes { id } }
}";

const INGEST_JOBS: &str = "mutation($input: JobBatchInput!) {
  ingestJobs(input: $input) { accepted inserted updated unchanged rejected { index kind key reason } }
}";

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

/// A project, a cluster with one node type priced `NumNodes * RunTime`, all
/// made through mutations; returns the project's and the aggregation's ids.
async fn hpc_catalogue(w: &World) -> (String, String) {
    let app = &w.app;
    let admin = Some(w.admin.as_str());
    let project = gql(
        app,
        admin,
        CREATE_PROJECT,
        json!({ "input": { "accountingString": "OPEN-1", "name": "Open one" } }),
    )
    .await;
    let project = data(&project)["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cluster = gql(
        app,
        admin,
        CREATE_CLUSTER,
        json!({ "input": { "name": "karolina", "scheduler": "slurm" } }),
    )
    .await;
    let cluster = data(&cluster)["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let aggregation = gql(
        app,
        admin,
        CREATE_AGGREGATION,
        json!({ "input": { "name": "cpu", "validFrom": at(1, 0) } }),
    )
    .await;
    let aggregation = data(&aggregation)["createAggregation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let node_type = gql(
        app,
        admin,
        CREATE_NODE_TYPE,
        json!({ "input": { "cluster": cluster, "aggregation": aggregation, "name": "cpu",
                           "queue": "qcpu", "coresPerNode": 128 } }),
    )
    .await;
    assert_eq!(
        data(&node_type)["createNodeType"],
        json!({ "id": data(&node_type)["createNodeType"]["id"], "name": "cpu", "queue": "qcpu",
                "coresPerNode": 128, "cluster": { "name": "karolina" } })
    );
    let formula = gql(
        app,
        admin,
        CREATE_FORMULA,
        json!({ "input": { "aggregation": aggregation, "expression": "NumNodes * RunTime",
                           "unit": "node_hour", "validFrom": at(1, 0) } }),
    )
    .await;
    data(&formula);
    (project, aggregation)
}

fn job(id: &str, project: &str, nodes: u32, hours: i64) -> Value {
    let start = at(2, 8);
    json!({
        "schedulerJobId": id, "submitTime": at(2, 7), "name": format!("job {id}"),
        "state": "FINISHED", "project": project, "startTime": start,
        "endTime": start + Duration::hours(hours),
        "tasks": [{
            "ordinal": 0, "state": "FINISHED", "nodeType": "qcpu", "startTime": start,
            "endTime": start + Duration::hours(hours), "allocatedNodes": nodes,
            "parameters": [
                { "name": "NumNodes", "value": nodes.to_string() },
                { "name": "RunTime", "value": format!("{hours:02}:00:00") },
            ],
        }],
    })
}

#[tokio::test]
async fn administrators_create_projects_sub_projects_and_groups() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let admin = Some(w.admin.as_str());

    let created = gql(
        app,
        admin,
        CREATE_PROJECT,
        json!({ "input": { "accountingString": " OPEN-7 ", "name": "Seven", "description": "d",
                           "startDate": "2026-01-01", "endDate": "2026-12-31", "usageType": "CORE_HOUR" } }),
    )
    .await;
    let project = &data(&created)["createProject"];
    assert_eq!(project["accountingString"], "OPEN-7");
    assert_eq!(project["usageType"], "core_hour");
    let row = projects::Entity::find_by_accounting_string("OPEN-7")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(project["id"], id("Project", row.id));
    assert_eq!(
        (row.name.as_str(), row.description.as_deref()),
        ("Seven", Some("d"))
    );
    assert_eq!(row.end_date.unwrap().to_string(), "2026-12-31");

    // Duplicates and invalid input change nothing.
    for (input, expected, says) in [
        (
            json!({ "accountingString": "OPEN-7", "name": "Again" }),
            "CONFLICT",
            "\"OPEN-7\" exists",
        ),
        (
            json!({ "accountingString": "OPEN 8", "name": "x" }),
            "BAD_USER_INPUT",
            "whitespace",
        ),
        (
            json!({ "accountingString": "OPEN-8", "name": "  " }),
            "BAD_USER_INPUT",
            "name cannot be empty",
        ),
        (
            json!({ "accountingString": "OPEN-8", "name": "x", "startDate": "2026-02-01", "endDate": "2026-01-01" }),
            "BAD_USER_INPUT",
            "before startDate",
        ),
    ] {
        let answer = gql(app, admin, CREATE_PROJECT, json!({ "input": input })).await;
        refused(&answer, expected, says);
    }
    assert_eq!(count::<projects::Entity>(db).await, 1);

    // Update: a new name, the description cleared, the rest untouched.
    let project_id = project["id"].as_str().unwrap().to_owned();
    let updated = gql(
        app,
        admin,
        "mutation($input: UpdateProjectInput!) { updateProject(input: $input) { name description startDate usageType } }",
        json!({ "input": { "id": project_id, "name": "Seven bis", "description": null } }),
    )
    .await;
    assert_eq!(
        data(&updated)["updateProject"],
        json!({ "name": "Seven bis", "description": null, "startDate": "2026-01-01", "usageType": "core_hour" })
    );
    let update = "mutation($input: UpdateProjectInput!) { updateProject(input: $input) { name } }";
    let answer = gql(
        app,
        admin,
        update,
        json!({ "input": { "id": project_id, "endDate": "2025-01-01" } }),
    )
    .await;
    refused(&answer, "BAD_USER_INPUT", "before startDate");
    let answer = gql(
        app,
        admin,
        update,
        json!({ "input": { "id": id("Project", 9999), "name": "x" } }),
    )
    .await;
    refused(&answer, "NOT_FOUND", "no project");

    // Sub-projects and groups.
    let sub = "mutation($input: CreateSubProjectInput!) { createSubProject(input: $input) { id identifier description } }";
    let answer = gql(
        app,
        admin,
        sub,
        json!({ "input": { "project": project_id, "identifier": "sub-a", "description": "A" } }),
    )
    .await;
    assert_eq!(data(&answer)["createSubProject"]["identifier"], "sub-a");
    let answer = gql(
        app,
        admin,
        sub,
        json!({ "input": { "project": project_id, "identifier": "sub-a" } }),
    )
    .await;
    refused(&answer, "CONFLICT", "sub-project \"sub-a\"");
    let answer = gql(
        app,
        admin,
        sub,
        json!({ "input": { "project": id("Project", 9999), "identifier": "sub-b" } }),
    )
    .await;
    refused(&answer, "NOT_FOUND", "no project 9999");
    for bad in ["not-an-id", &id("Cluster", row.id)] {
        let answer = gql(
            app,
            admin,
            sub,
            json!({ "input": { "project": bad, "identifier": "sub-b" } }),
        )
        .await;
        refused(&answer, "BAD_USER_INPUT", "is not the id of a Project");
    }
    assert_eq!(count::<sub_projects::Entity>(db).await, 1);

    let group = "mutation($input: CreateGroupInput!) { createGroup(input: $input) { id name } }";
    let answer = gql(
        app,
        admin,
        group,
        json!({ "input": { "project": project_id, "name": "team" } }),
    )
    .await;
    let group_id = data(&answer)["createGroup"]["id"].as_str().unwrap();
    let stored = user_groups::Entity::find().one(db).await.unwrap().unwrap();
    assert_eq!(group_id, id("Group", stored.id));
    assert_eq!(stored.project_id, Some(row.id));
    let answer = gql(
        app,
        admin,
        group,
        json!({ "input": { "project": project_id, "name": "team" } }),
    )
    .await;
    refused(&answer, "CONFLICT", "group \"team\"");
    assert_eq!(count::<user_groups::Entity>(db).await, 1);

    // What was created is readable through the query side.
    let answer = gql(
        app,
        admin,
        "query($id: ID!) { node(id: $id) { ... on Project { subProjects(first: 5) { edges { node { identifier } } } groups(first: 5) { edges { node { name } } } } } }",
        json!({ "id": project_id }),
    )
    .await;
    assert_eq!(
        data(&answer)["node"],
        json!({ "subProjects": { "edges": [{ "node": { "identifier": "sub-a" } }] },
                "groups": { "edges": [{ "node": { "name": "team" } }] } })
    );
}

#[tokio::test]
async fn the_hpc_catalogue_and_formula_versions_never_edit_history() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let admin = Some(w.admin.as_str());
    let (project, aggregation) = hpc_catalogue(&w).await;
    assert_eq!(count::<clusters::Entity>(db).await, 1);
    assert_eq!(count::<node_type_aggregations::Entity>(db).await, 1);
    assert_eq!(count::<node_types::Entity>(db).await, 1);
    let cluster = clusters::Entity::find().one(db).await.unwrap().unwrap();
    assert_eq!(cluster.scheduler.as_deref(), Some("slurm"));

    // Duplicates, unknown references and bad values.
    let answer = gql(
        app,
        admin,
        CREATE_CLUSTER,
        json!({ "input": { "name": "karolina" } }),
    )
    .await;
    refused(&answer, "CONFLICT", "cluster named \"karolina\" exists");
    let answer = gql(
        app,
        admin,
        CREATE_AGGREGATION,
        json!({ "input": { "name": "cpu", "validFrom": at(1, 0) } }),
    )
    .await;
    refused(&answer, "CONFLICT", "aggregation named \"cpu\" exists");
    let answer = gql(
        app,
        admin,
        CREATE_AGGREGATION,
        json!({ "input": { "name": "gpu", "validFrom": at(2, 0), "validTo": at(1, 0) } }),
    )
    .await;
    refused(&answer, "BAD_USER_INPUT", "validTo");
    let cluster_id = id("Cluster", cluster.id);
    for (input, expected, says) in [
        (
            json!({ "cluster": cluster_id, "name": "cpu", "coresPerNode": 1 }),
            "CONFLICT",
            "has a node type \"cpu\"",
        ),
        (
            json!({ "cluster": id("Cluster", 9999), "name": "gpu", "coresPerNode": 1 }),
            "NOT_FOUND",
            "no cluster 9999",
        ),
        (
            json!({ "cluster": cluster_id, "aggregation": id("Aggregation", 9999), "name": "gpu", "coresPerNode": 1 }),
            "NOT_FOUND",
            "no node type aggregation 9999",
        ),
        (
            json!({ "cluster": cluster_id, "name": "gpu", "coresPerNode": 0 }),
            "BAD_USER_INPUT",
            "coresPerNode must be positive",
        ),
    ] {
        let answer = gql(app, admin, CREATE_NODE_TYPE, json!({ "input": input })).await;
        refused(&answer, expected, says);
    }
    assert_eq!(count::<node_types::Entity>(db).await, 1);
    assert_eq!(count::<clusters::Entity>(db).await, 1);

    // Attaching a cluster shows it in the project's reports.
    let attach = "mutation($input: AttachClusterInput!) { attachClusterToProject(input: $input) { clusters(first: 5) { edges { node { name } } } } }";
    for _ in 0..2 {
        let answer = gql(
            app,
            admin,
            attach,
            json!({ "input": { "cluster": cluster_id, "project": project } }),
        )
        .await;
        assert_eq!(
            data(&answer)["attachClusterToProject"]["clusters"]["edges"],
            json!([{ "node": { "name": "karolina" } }])
        );
    }

    // Formulas: invalid ones are refused with the reason, nothing stored.
    let first = formulas::Entity::find().one(db).await.unwrap().unwrap();
    for (expression, unit, says) in [
        ("NumNodes *", "node_hour", "invalid formula"),
        ("Foo * 2", "node_hour", "unknown variable `Foo`"),
        ("NumNodes", "parsecs", "unit must be one of"),
    ] {
        let answer = gql(
            app,
            admin,
            CREATE_FORMULA,
            json!({ "input": { "aggregation": aggregation, "expression": expression, "unit": unit, "validFrom": at(5, 0) } }),
        )
        .await;
        refused(&answer, "BAD_USER_INPUT", says);
    }
    let answer = gql(
        app,
        admin,
        CREATE_FORMULA,
        json!({ "input": { "aggregation": id("Aggregation", 9999), "expression": "NumNodes", "unit": "node_hour", "validFrom": at(5, 0) } }),
    )
    .await;
    refused(&answer, "NOT_FOUND", "aggregation 9999");
    let answer = gql(
        app,
        admin,
        CREATE_FORMULA,
        json!({ "input": { "aggregation": aggregation, "expression": "NumNodes", "unit": "node_hour", "validFrom": at(5, 0), "supersedes": id("Formula", 9999) } }),
    )
    .await;
    refused(&answer, "NOT_FOUND", "no formula 9999");
    assert_eq!(count::<formulas::Entity>(db).await, 1);

    // A new version supersedes the first, which stays as it was.
    let answer = gql(
        app,
        admin,
        CREATE_FORMULA,
        json!({ "input": { "aggregation": aggregation, "expression": "NumNodes * RunTime * 2", "unit": "node_hour",
                           "validFrom": at(10, 0), "supersedes": id("Formula", first.id) } }),
    )
    .await;
    let version = &data(&answer)["createFormulaVersion"];
    assert_eq!(version["supersedes"]["id"], id("Formula", first.id));
    assert_eq!(version["expression"], "NumNodes * RunTime * 2");
    assert_eq!(
        formulas::Entity::find_by_id(first.id)
            .one(db)
            .await
            .unwrap()
            .unwrap(),
        first,
        "history is never edited"
    );
    assert_eq!(count::<formulas::Entity>(db).await, 2);
    let root = users_id(db, "root").await;
    let created = formulas::Entity::find_by_id(
        GlobalId::id_of(version["id"].as_str().unwrap(), "Formula").unwrap(),
    )
    .one(db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!(created.created_by, Some(root));

    // The aggregation is a node too.
    let answer = gql(
        app,
        admin,
        "query($id: ID!) { node(id: $id) { ... on Aggregation { name validFrom } } }",
        json!({ "id": aggregation }),
    )
    .await;
    assert_eq!(data(&answer)["node"]["name"], "cpu");
}

async fn users_id(db: &DatabaseConnection, name: &str) -> i64 {
    tally::service::users::find(db, name).await.unwrap().id
}

#[tokio::test]
async fn grants_are_given_checked_and_revoked() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let admin = Some(w.admin.as_str());
    let project = world::project(db, "OPEN-1").await;
    let grant = "mutation($input: GrantInput!) { grantRole(input: $input) { user role scopeKind scopeId } }";
    let revoke = "mutation($input: GrantInput!) { revokeRole(input: $input) }";
    let input = json!({ "user": "nobody", "role": "eosc_project_reader", "scope": { "project": id("Project", project.id) } });
    let before = count::<grants::Entity>(db).await;
    for _ in 0..2 {
        let answer = gql(app, admin, grant, json!({ "input": input })).await;
        assert_eq!(
            data(&answer)["grantRole"],
            json!({ "user": "nobody", "role": "eosc_project_reader", "scopeKind": "project", "scopeId": project.id })
        );
    }
    assert_eq!(
        count::<grants::Entity>(db).await,
        before + 1,
        "granting twice changes nothing"
    );
    // The grant takes effect on the user's next request.
    let answer = gql(
        app,
        Some(&w.nobody),
        "{ projects(first: 5) { edges { node { accountingString } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        data(&answer)["projects"]["edges"],
        json!([{ "node": { "accountingString": "OPEN-1" } }])
    );

    for (input, expected, says) in [
        (
            json!({ "user": "nobody", "role": "root", "scope": { "system": true } }),
            "BAD_USER_INPUT",
            "no role \"root\"",
        ),
        (
            json!({ "user": "ghost", "role": "collector", "scope": { "system": true } }),
            "NOT_FOUND",
            "no user \"ghost\"",
        ),
        (
            json!({ "user": "nobody", "role": "collector", "scope": { "project": id("Project", 9999) } }),
            "NOT_FOUND",
            "no project 9999",
        ),
        (
            json!({ "user": "nobody", "role": "heappe_reporter", "scope": { "group": "garbage" } }),
            "BAD_USER_INPUT",
            "is not the id of a Group",
        ),
        (
            json!({ "user": "nobody", "role": "apel_summary_reader", "scope": { "site": "NOWHERE" } }),
            "NOT_FOUND",
            "no site",
        ),
    ] {
        let answer = gql(app, admin, grant, json!({ "input": input })).await;
        refused(&answer, expected, says);
    }
    assert_eq!(count::<grants::Entity>(db).await, before + 1);

    let answer = gql(app, admin, revoke, json!({ "input": input })).await;
    assert_eq!(data(&answer)["revokeRole"], true);
    let answer = gql(app, admin, revoke, json!({ "input": input })).await;
    assert_eq!(data(&answer)["revokeRole"], false);
    assert_eq!(count::<grants::Entity>(db).await, before);
}

#[tokio::test]
async fn only_administrators_and_collectors_may_mutate() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let project = world::project(db, "OPEN-1").await;
    let reader = app.token_for(
        world::user(
            db,
            "reader",
            "eosc_project_reader",
            Scope::Project(project.id),
        )
        .await,
    );
    let p = id("Project", project.id);
    let admin_only = [
        r#"mutation { createProject(input: {accountingString: "X-1", name: "x"}) { id } }"#.to_owned(),
        format!(r#"mutation {{ updateProject(input: {{id: "{p}", name: "x"}}) {{ id }} }}"#),
        format!(r#"mutation {{ createSubProject(input: {{project: "{p}", identifier: "s"}}) {{ id }} }}"#),
        format!(r#"mutation {{ createGroup(input: {{project: "{p}", name: "g"}}) {{ id }} }}"#),
        r#"mutation { grantRole(input: {user: "reader", role: "system_admin", scope: {system: true}}) { role } }"#.to_owned(),
        r#"mutation { revokeRole(input: {user: "reader", role: "eosc_project_reader", scope: {system: true}}) }"#.to_owned(),
        r#"mutation { createCluster(input: {name: "c"}) { id } }"#.to_owned(),
        r#"mutation { createAggregation(input: {name: "a", validFrom: "2026-01-01T00:00:00Z"}) { id } }"#.to_owned(),
        format!(r#"mutation {{ createNodeType(input: {{cluster: "{}", name: "n", coresPerNode: 1}}) {{ id }} }}"#, id("Cluster", 1)),
        format!(r#"mutation {{ attachClusterToProject(input: {{cluster: "{}", project: "{p}"}}) {{ id }} }}"#, id("Cluster", 1)),
        format!(r#"mutation {{ createFormulaVersion(input: {{aggregation: "{}", expression: "NumNodes", unit: "node_hour", validFrom: "2026-01-01T00:00:00Z"}}) {{ id }} }}"#, id("Aggregation", 1)),
        format!(r#"mutation {{ requestRecomputation(input: {{project: "{p}", from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z"}}) {{ id }} }}"#),
    ];
    let collector_only = [
        r#"mutation { ingestJobs(input: {cluster: "c", jobs: []}) { accepted } }"#.to_owned(),
        r#"mutation { ingestStorageUsage(input: {samples: []}) { accepted } }"#.to_owned(),
        r#"mutation { addMetrics(input: {installation: "000000000000000000000001", metrics: []}) { report { accepted } } }"#.to_owned(),
        r#"mutation { loadApelMessage(message: "APEL-cloud-message: v0.4\n") { records } }"#.to_owned(),
    ];
    let tables = |db: &DatabaseConnection| {
        let db = db.clone();
        async move {
            (
                count::<projects::Entity>(&db).await,
                count::<grants::Entity>(&db).await,
                count::<clusters::Entity>(&db).await,
                count::<accounting_runs::Entity>(&db).await,
                count::<sub_projects::Entity>(&db).await,
                count::<user_groups::Entity>(&db).await,
            )
        }
    };
    let before = tables(db).await;
    for query in admin_only.iter().chain(&collector_only) {
        let answer = gql(app, None, query, json!({})).await;
        refused(&answer, "UNAUTHENTICATED", "");
        let answer = gql(app, Some(&reader), query, json!({})).await;
        refused(&answer, "FORBIDDEN", "");
        let answer = gql(app, Some(&w.nobody), query, json!({})).await;
        refused(&answer, "FORBIDDEN", "");
    }
    for query in &admin_only {
        let answer = gql(app, Some(&w.collector), query, json!({})).await;
        refused(&answer, "FORBIDDEN", "system_admin");
    }
    for query in &collector_only[..3] {
        let answer = gql(app, Some(&w.collector), query, json!({})).await;
        data(&answer);
    }
    assert_eq!(tables(db).await, before, "nothing changed");

    // APEL messages carry any VO: only system-wide collectors load them.
    let scoped =
        app.token_for(world::user(db, "scoped", "collector", Scope::Project(project.id)).await);
    let answer = gql(app, Some(&scoped), &collector_only[3], json!({})).await;
    refused(&answer, "FORBIDDEN", "system scope");
}

#[tokio::test]
async fn ingested_jobs_show_in_total_usage_and_replays_change_nothing() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let (project, _) = hpc_catalogue(&w).await;
    let collector = Some(w.collector.as_str());
    let batch = json!({ "input": { "cluster": "karolina", "jobs": [job("100", "OPEN-1", 2, 3)] } });

    let answer = gql(app, collector, INGEST_JOBS, batch.clone()).await;
    assert_eq!(
        data(&answer)["ingestJobs"],
        json!({ "accepted": true, "inserted": 1, "updated": 0, "unchanged": 0, "rejected": [] })
    );
    let task = tasks::Entity::find().one(db).await.unwrap().unwrap();
    assert_eq!(
        (task.usage_status.as_str(), task.usage_milli),
        ("computed", Some(6000))
    );

    let usage = "query($id: ID!) { node(id: $id) { ... on Project { totalUsage(period: {from: \"2026-03-01\", to: \"2026-03-31\"}) { source unit value records } } } }";
    let total = json!([{ "source": "hpc", "unit": "node_hour", "value": 6.0, "records": 1 }]);
    let answer = gql(app, Some(&w.admin), usage, json!({ "id": project })).await;
    assert_eq!(data(&answer)["node"]["totalUsage"], total);

    // A replay changes nothing.
    let answer = gql(app, collector, INGEST_JOBS, batch.clone()).await;
    assert_eq!(
        data(&answer)["ingestJobs"],
        json!({ "accepted": true, "inserted": 0, "updated": 0, "unchanged": 1, "rejected": [] })
    );
    let answer = gql(app, Some(&w.admin), usage, json!({ "id": project })).await;
    assert_eq!(data(&answer)["node"]["totalUsage"], total);

    // A batch with a rejection stores nothing of it, and says why.
    let answer = gql(
        app,
        collector,
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [job("101", "OPEN-1", 1, 1), job("102", "NOPE", 1, 1)] } }),
    )
    .await;
    let report = &data(&answer)["ingestJobs"];
    assert_eq!(report["accepted"], false, "{report}");
    assert_eq!(
        report["rejected"],
        json!([{ "index": 1, "kind": "INVALID", "key": report["rejected"][0]["key"], "reason": "no project \"NOPE\"" }])
    );
    assert_eq!(count::<jobs::Entity>(db).await, 1);
    assert_eq!(count::<tasks::Entity>(db).await, 1);

    // A final job with other content is a conflict unless it is a correction.
    let mut changed = job("100", "OPEN-1", 4, 3);
    let answer = gql(
        app,
        collector,
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [changed.clone()] } }),
    )
    .await;
    assert_eq!(
        data(&answer)["ingestJobs"]["rejected"][0]["kind"],
        "CONFLICT"
    );
    changed["name"] = json!("renamed");
    let answer = gql(
        app,
        collector,
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [changed], "correction": true } }),
    )
    .await;
    assert_eq!(data(&answer)["ingestJobs"]["updated"], 1, "{answer}");
    let answer = gql(app, Some(&w.admin), usage, json!({ "id": project })).await;
    assert_eq!(data(&answer)["node"]["totalUsage"][0]["value"], 12.0);

    // A collector on another project may not post for this one.
    let other = world::project(db, "OPEN-2").await;
    let scoped =
        app.token_for(world::user(db, "scoped", "collector", Scope::Project(other.id)).await);
    let answer = gql(
        app,
        Some(&scoped),
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [job("103", "OPEN-1", 1, 1)] } }),
    )
    .await;
    assert_eq!(
        data(&answer)["ingestJobs"]["rejected"][0]["kind"],
        "FORBIDDEN"
    );
    assert_eq!(count::<jobs::Entity>(db).await, 1);

    // A parameter given twice is bad input.
    let mut twice = job("104", "OPEN-1", 1, 1);
    twice["tasks"][0]["parameters"][1]["name"] = json!("NumNodes");
    let answer = gql(
        app,
        collector,
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [twice] } }),
    )
    .await;
    refused(&answer, "BAD_USER_INPUT", "given twice");
}

#[tokio::test]
async fn an_ingestion_mutation_publishes_usage_to_subscribers() {
    let w = setup().await;
    let app = &w.app;
    let (project, _) = hpc_catalogue(&w).await;
    let mut socket = crate::subscriptions::connect_as(app, &w.admin).await;
    crate::subscriptions::subscribe(
        &mut socket,
        app,
        "usage",
        "subscription { usageIngested { project source unit amount records } }",
    )
    .await;
    // A rejected batch publishes nothing; the accepted one is heard.
    let answer = gql(
        app,
        Some(&w.collector),
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [job("1", "NOPE", 1, 1)] } }),
    )
    .await;
    assert_eq!(data(&answer)["ingestJobs"]["accepted"], false);
    let answer = gql(
        app,
        Some(&w.collector),
        INGEST_JOBS,
        json!({ "input": { "cluster": "karolina", "jobs": [job("2", "OPEN-1", 2, 3)] } }),
    )
    .await;
    assert_eq!(data(&answer)["ingestJobs"]["inserted"], 1);
    let message = crate::subscriptions::receive(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["usageIngested"],
        json!({ "project": project, "source": "hpc", "unit": "node_hour", "amount": 6.0, "records": 1 }),
        "{message}"
    );
}

#[tokio::test]
async fn bucket_samples_metrics_and_apel_messages_are_ingested() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let collector = Some(w.collector.as_str());
    let project = world::project(db, "OPEN-1").await;

    // Bucket samples.
    let storage = "mutation($input: StorageBatchInput!) { ingestStorageUsage(input: $input) { accepted inserted unchanged rejected { kind reason } } }";
    let sample = json!({ "bucket": "b1", "owner": "alice", "project": "OPEN-1",
                         "hour": at(1, 5), "bytesStored": 1000, "writes": 3 });
    let answer = gql(
        app,
        collector,
        storage,
        json!({ "input": { "samples": [sample] } }),
    )
    .await;
    assert_eq!(
        data(&answer)["ingestStorageUsage"],
        json!({ "accepted": true, "inserted": 1, "unchanged": 0, "rejected": [] })
    );
    let answer = gql(
        app,
        collector,
        storage,
        json!({ "input": { "samples": [sample] } }),
    )
    .await;
    assert_eq!(data(&answer)["ingestStorageUsage"]["unchanged"], 1);
    let mut bad = sample.clone();
    bad["hour"] = json!("2026-03-01T05:30:00Z");
    let answer = gql(
        app,
        collector,
        storage,
        json!({ "input": { "samples": [bad] } }),
    )
    .await;
    let report = &data(&answer)["ingestStorageUsage"];
    assert_eq!(report["accepted"], false);
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not the start of an hour"),
        "{report}"
    );
    let hourly = bucket_usage_hourly::Entity::find().all(db).await.unwrap();
    assert_eq!(hourly.len(), 1);
    assert_eq!((hourly[0].byte_hours, hourly[0].writes), (1000, 3));

    // EOSC metrics.
    let provider = providers::ActiveModel {
        external_id: Set("grnet".to_owned()),
        name: Set("GRNET".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    project_providers::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let installation = installations::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider.id),
        installation: Set("GRNET-KNOSSOS".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let unit = unit_types::Entity::find_by_name("TB")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let kind = metric_types::Entity::find_by_name("aggregated")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let definition = metric_definitions::ActiveModel {
        name: Set("storage".to_owned()),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(kind.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let add = "mutation($input: AddMetricsInput!) { addMetrics(input: $input) {
      report { accepted inserted unchanged rejected { index kind reason } }
      metrics { id installation metricDefinition periodStart value } } }";
    let metric = json!({ "metricDefinition": tally::service::eosc::external_id(definition.id),
                         "periodStart": at(1, 10), "periodEnd": at(1, 11), "value": 2.5,
                         "idempotencyKey": "k1" });
    let input = json!({ "input": { "installation": tally::service::eosc::external_id(installation.id), "metrics": [metric] } });
    let answer = gql(app, collector, add, input.clone()).await;
    let payload = &data(&answer)["addMetrics"];
    assert_eq!(payload["report"]["inserted"], 1, "{payload}");
    assert_eq!(payload["metrics"][0]["value"], 2.5);
    let answer = gql(app, collector, add, input).await;
    assert_eq!(data(&answer)["addMetrics"]["report"]["unchanged"], 1);
    let mut reversed = metric.clone();
    reversed["periodEnd"] = json!(at(1, 9));
    reversed["idempotencyKey"] = json!("k2");
    let answer = gql(
        app,
        collector,
        add,
        json!({ "input": { "installation": tally::service::eosc::external_id(installation.id), "metrics": [reversed] } }),
    )
    .await;
    assert_eq!(data(&answer)["addMetrics"]["report"]["accepted"], false);
    let answer = gql(
        app,
        collector,
        add,
        json!({ "input": { "installation": "nope", "metrics": [] } }),
    )
    .await;
    refused(&answer, "BAD_USER_INPUT", "not an EOSC id");
    assert_eq!(count::<metrics::Entity>(db).await, 1);

    // APEL messages.
    let apel = "mutation($m: String!) { loadApelMessage(message: $m) { records inserted updated unchanged } }";
    let text = "APEL-cloud-message: v0.4\nVMUUID: vm-1\nSiteName: CESGA\nGlobalUserName: /C=XX/CN=user\n\
                FQAN: /ops/Role=NULL/Capability=NULL\nStatus: started\nStartTime: 1772323200\n\
                SuspendDuration: 0\nWallDuration: 3600\nCpuDuration: 1800\nCpuCount: 2\nImageId: img\n\
                CloudType: OpenStack\n%%\n";
    let answer = gql(app, collector, apel, json!({ "m": text })).await;
    assert_eq!(
        data(&answer)["loadApelMessage"],
        json!({ "records": 1, "inserted": 1, "updated": 0, "unchanged": 0 })
    );
    let answer = gql(app, collector, apel, json!({ "m": text })).await;
    assert_eq!(data(&answer)["loadApelMessage"]["unchanged"], 1);
    let answer = gql(
        app,
        collector,
        apel,
        json!({ "m": text.replace("vm-1", "vm-2").replace("CpuDuration: 1800", "CpuDuration: 1x") }),
    )
    .await;
    refused(&answer, "BAD_USER_INPUT", "the APEL message was refused");
    assert_eq!(count::<cloud_records::Entity>(db).await, 1);
}

#[tokio::test]
async fn recomputations_are_queued_for_existing_projects() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let admin = Some(w.admin.as_str());
    let project = world::project(db, "OPEN-1").await;
    let request = "mutation($input: RequestRecomputationInput!) { requestRecomputation(input: $input) { id state periodStart project { accountingString } } }";
    let answer = gql(
        app,
        admin,
        request,
        json!({ "input": { "project": id("Project", project.id), "from": at(1, 0), "to": at(31, 0) } }),
    )
    .await;
    let run = &data(&answer)["requestRecomputation"];
    assert_eq!(run["state"], "queued");
    assert_eq!(run["project"]["accountingString"], "OPEN-1");
    let stored = accounting_runs::Entity::find()
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run["id"], id("RecomputationRun", stored.id));
    assert_eq!(
        (stored.project_id, stored.period_start),
        (project.id, at(1, 0))
    );
    assert_eq!(stored.triggered_by, Some(users_id(db, "root").await));

    let answer = gql(
        app,
        admin,
        request,
        json!({ "input": { "project": id("Project", project.id), "from": at(31, 0), "to": at(1, 0) } }),
    )
    .await;
    refused(&answer, "BAD_USER_INPUT", "must end after it starts");
    let answer = gql(
        app,
        admin,
        request,
        json!({ "input": { "project": id("Project", 9999), "from": at(1, 0), "to": at(31, 0) } }),
    )
    .await;
    refused(&answer, "NOT_FOUND", "no project 9999");
    assert_eq!(count::<accounting_runs::Entity>(db).await, 1);

    let answer = gql(
        app,
        admin,
        "query($id: ID!) { node(id: $id) { ... on RecomputationRun { state } } }",
        json!({ "id": run["id"] }),
    )
    .await;
    // The worker of this instance may have picked it up already.
    let state = data(&answer)["node"]["state"].as_str().unwrap().to_owned();
    assert!(
        ["queued", "running", "finished"].contains(&state.as_str()),
        "{state}"
    );
}
