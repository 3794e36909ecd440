//! HEAppE's accounting management routes over HTTP (`/heappe/Management/…`):
//! formula versions (`Accounting`), their aggregation links, the aggregations,
//! `ComputeAccounting` and `AccountingState`; each route's role rule, its
//! refusals, and its success body pinned byte for byte by `insta` snapshots.

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, TransactionTrait as _,
};
use serde_json::{Value, json};
use tally::auth::{ProjectScope, Scope};
use tally::entity::{accounting_runs, formulas, tasks};
use tally::service::events::Decision;
use tally::service::jobs::{self, JobBatch};
use tally::service::recompute;

use crate::helpers::world::{self, PASSWORD};
use crate::helpers::{TestApp, TestDb};
use crate::hpc::assert_hpc_rollups_consistent;

const M: &str = "/heappe/Management";

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

/// A fixed time with milliseconds, for stored times the snapshots show.
fn fixed(day: u32) -> DateTime<Utc> {
    at(day, 8) + chrono::Duration::milliseconds(123)
}

/// Project A with one job of tasks priced by `NumNodes * RunTime`, project B;
/// `ada` administers HEAppE's accounting (ManagementAdmin), `max` manages A,
/// `bea` manages B, `nil` holds no role, `root` is a system administrator.
struct World {
    app: TestApp,
    ada: i64,
    max: i64,
    bea: i64,
    nil: i64,
    root: i64,
    a: i64,
    aggregation: i64,
    formula: i64,
}

async fn world() -> World {
    let db = TestDb::empty().await;
    // No background worker: the tests run recomputations themselves.
    let config = db.config_with(&[("TALLY_RECOMPUTE_POLL_SECS", "0")]);
    let app = TestApp::spawn_with(db, config).await;
    let conn = &app.db.conn;
    let a = world::project(conn, "OPEN-1").await;
    let b = world::project(conn, "OPEN-2").await;
    let group_a = world::group(conn, &a, "group-a").await;
    let group_b = world::group(conn, &b, "group-b").await;
    let ada = world::user(
        conn,
        "ada",
        "heappe_management_admin",
        Scope::UserGroup(group_a.id),
    )
    .await;
    let max = world::user(conn, "max", "heappe_manager", Scope::UserGroup(group_a.id)).await;
    let bea = world::user(conn, "bea", "heappe_manager", Scope::UserGroup(group_b.id)).await;
    let nil = world::user(conn, "nil", "", Scope::System).await;
    let root = world::user(conn, "root", "system_admin", Scope::System).await;
    let (aggregation, formula) =
        world::priced_cpu_cluster(conn, "NumNodes * RunTime", at(1, 0)).await;
    let mut row: formulas::ActiveModel = formulas::Entity::find_by_id(formula)
        .one(conn)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.created_at = Set(fixed(1));
    row.update(conn).await.unwrap();
    ingest(&app.db, "100", &[2, 3, 25]).await;
    World {
        app,
        ada,
        max,
        bea,
        nil,
        root,
        a: a.id,
        aggregation,
        formula,
    }
}

/// Ingests job `id` of project A with one 2-hour, 1-node task started on each
/// of `days` (March 2026).
async fn ingest(db: &TestDb, id: &str, days: &[u32]) {
    let tasks: Vec<Value> = days
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
        "jobs": [{ "schedulerJobId": id, "submitTime": at(1, 0), "name": "job", "state": "Finished",
                   "project": "OPEN-1", "tasks": tasks }],
    }))
    .unwrap();
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
    assert!(report.accepted());
}

/// Sends `method path` with an optional bearer token and JSON body; returns
/// the status, `Content-Type` and body.
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, String) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, String) {
    send(app, reqwest::Method::GET, path, token, None).await
}

async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, String, String) {
    send(app, reqwest::Method::POST, path, token, Some(body)).await
}

async fn put(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, String, String) {
    send(app, reqwest::Method::PUT, path, token, Some(body)).await
}

async fn delete(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, String, String) {
    send(app, reqwest::Method::DELETE, path, token, Some(body)).await
}

/// A ProblemDetails answer's status, title and detail.
fn problem(answer: &(u16, String, String)) -> (u16, String, String) {
    assert_eq!(answer.1, "application/problem+json", "{answer:?}");
    let body: Value = serde_json::from_str(&answer.2).unwrap();
    assert_eq!(body["status"], answer.0);
    (
        answer.0,
        body["title"].as_str().unwrap().to_owned(),
        body["detail"].as_str().unwrap().to_owned(),
    )
}

/// ASP.NET's answer to a query value it cannot bind: a 400
/// ValidationProblemDetails naming the parameter in its `errors` map.
fn assert_invalid_value(answer: &(u16, String, String), name: &str, value: &str) {
    assert_eq!(
        (answer.0, answer.1.as_str()),
        (400, "application/problem+json"),
        "{answer:?}"
    );
    let body: Value = serde_json::from_str(&answer.2).unwrap();
    assert_eq!(body["title"], "One or more validation errors occurred.");
    assert_eq!(
        body["errors"],
        json!({ name: [format!("The value '{value}' is not valid for {name}.")] })
    );
}

fn ok_json(answer: &(u16, String, String)) -> Value {
    assert_eq!(
        (answer.0, answer.1.as_str()),
        (200, "application/json"),
        "{answer:?}"
    );
    serde_json::from_str(&answer.2).unwrap()
}

/// A HEAppE time: no zone suffix, parsable as a naive date-time.
fn assert_heappe_time(value: &Value) {
    let text = value.as_str().unwrap();
    assert!(!text.ends_with('Z') && !text.contains('+'), "{text}");
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
}

/// `body` with `"key":value` replaced by `"key":"[name]"` for each key.
fn redact(body: &str, keys: &[&str]) -> String {
    let mut body = body.to_owned();
    for key in keys {
        let marker = format!("\"{key}\":");
        let mut out = String::new();
        let mut rest = body.as_str();
        while let Some(found) = rest.find(&marker) {
            let (before, after) = rest.split_at(found + marker.len());
            out.push_str(before);
            let end = if let Some(text) = after.strip_prefix('"') {
                text.find('"').map_or(after.len(), |i| i + 2)
            } else {
                after.find([',', '}', ']']).unwrap_or(after.len())
            };
            out.push_str(&format!("\"[{key}]\""));
            rest = &after[end..];
        }
        out.push_str(rest);
        body = out;
    }
    body
}

/// Sets version `id`'s stored times to fixed ones.
async fn fix_times(app: &TestApp, id: i64, day: u32) {
    formulas::Entity::update_many()
        .col_expr(formulas::Column::CreatedAt, Expr::value(fixed(day)))
        .filter(formulas::Column::Id.eq(id))
        .exec(&app.db.conn)
        .await
        .unwrap();
}

async fn formula_count(app: &TestApp) -> (u64, u64) {
    let all = formulas::Entity::find().count(&app.db.conn).await.unwrap();
    let live = formulas::Entity::find()
        .filter(formulas::Column::DeletedAt.is_null())
        .count(&app.db.conn)
        .await
        .unwrap();
    (all, live)
}

async fn run_count(app: &TestApp) -> u64 {
    accounting_runs::Entity::find()
        .count(&app.db.conn)
        .await
        .unwrap()
}

async fn all_tasks(app: &TestApp) -> Vec<tasks::Model> {
    let mut rows = tasks::Entity::find().all(&app.db.conn).await.unwrap();
    rows.sort_by_key(|t| t.id);
    rows
}

#[tokio::test]
async fn accounting_crud_over_http() {
    let w = world().await;
    let app = &w.app;
    let ada = app.token_for(w.ada);
    let ada = Some(ada.as_str());

    // The list: the one version the world priced with.
    let answer = get(app, &format!("{M}/Accountings"), ada).await;
    let list = ok_json(&answer);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["Id"], w.formula);
    insta::assert_snapshot!("accountings", redact(&answer.2, &["Id"]));

    // Create: no unit given, so node-hours; ValidityFrom with `Z`, ValidityTo
    // without.
    let answer = post(
        app,
        &format!("{M}/Accounting"),
        ada,
        json!({ "Formula": "NumNodes * RunTime * 2", "ValidityFrom": "2026-04-01T00:00:00Z",
                "ValidityTo": "2026-12-31T23:59:59.5" }),
    )
    .await;
    let created = ok_json(&answer);
    let id = created["Id"].as_i64().unwrap();
    assert_heappe_time(&created["CreatedAt"]);
    assert_eq!(created["ModifiedAt"], created["CreatedAt"]);
    insta::assert_snapshot!(
        "accounting_created",
        redact(&answer.2, &["Id", "CreatedAt", "ModifiedAt"])
    );
    let row = formulas::Entity::find_by_id(id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.unit, "node_hour");
    assert_eq!(row.created_by, Some(w.ada));
    assert_eq!(row.supersedes_id, None);

    // Get, with its stored times fixed: the whole body byte for byte.
    fix_times(app, id, 2).await;
    let answer = get(app, &format!("{M}/Accounting?id={id}"), ada).await;
    assert_eq!(ok_json(&answer)["Id"], id);
    insta::assert_snapshot!("accounting", redact(&answer.2, &["Id"]));

    // Tally's `Unit` extension.
    let answer = post(
        app,
        &format!("{M}/Accounting"),
        ada,
        json!({ "Formula": "NumCPUs * RunTime", "ValidityFrom": "2026-04-01", "Unit": "core_hour" }),
    )
    .await;
    let cores = ok_json(&answer)["Id"].as_i64().unwrap();
    let row = formulas::Entity::find_by_id(cores)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.unit, "core_hour");

    // Modify: a new version superseding `id`, which is retired; the unit is
    // kept when none is given.
    let answer = put(
        app,
        &format!("{M}/Accounting"),
        ada,
        json!({ "Id": cores, "Formula": "NumCPUs * RunTime / 2", "ValidityFrom": "2026-04-02T00:00:00" }),
    )
    .await;
    let revised = ok_json(&answer);
    let new = revised["Id"].as_i64().unwrap();
    assert_ne!(new, cores);
    assert_eq!(revised["Formula"], "NumCPUs * RunTime / 2");
    insta::assert_snapshot!(
        "accounting_modified",
        redact(&answer.2, &["Id", "CreatedAt", "ModifiedAt"])
    );
    let row = formulas::Entity::find_by_id(new)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.supersedes_id, row.unit.as_str()),
        (Some(cores), "core_hour")
    );
    let old = formulas::Entity::find_by_id(cores)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(
        old.deleted_at.is_some(),
        "the superseded version is retired"
    );
    let gone = get(app, &format!("{M}/Accounting?id={cores}"), ada).await;
    assert_eq!(
        problem(&gone),
        (
            404,
            "Validation Problem".to_owned(),
            format!("The specified accounting with Id '{cores}' is not defined in the HEAppE.")
        )
    );

    // Delete retires.
    let answer = delete(app, &format!("{M}/Accounting"), ada, json!({ "Id": new })).await;
    assert_eq!(ok_json(&answer), json!("Accounting was deleted."));
    insta::assert_snapshot!("accounting_deleted", answer.2);
    let row = formulas::Entity::find_by_id(new)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(row.deleted_at.is_some(), "retired, not removed");
    let again = delete(app, &format!("{M}/Accounting"), ada, json!({ "Id": new })).await;
    assert_eq!(problem(&again).0, 404);

    // The list now: the world's version and `id`, not the retired ones.
    let ids: Vec<Value> = ok_json(&get(app, &format!("{M}/Accountings"), ada).await)
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(w.formula), json!(id)]);
}

#[tokio::test]
async fn the_session_code_may_come_in_the_body() {
    let w = world().await;
    let app = &w.app;
    let credentials = format!(r#"{{"Credentials":{{"Username":"ada","Password":"{PASSWORD}"}}}}"#);
    let response = app
        .client
        .post(app.url("/heappe/UserAndLimitationManagement/AuthenticateUserPassword"))
        .header("content-type", "application/json")
        .body(credentials)
        .send()
        .await
        .unwrap();
    let code: String = response.json().await.unwrap();
    let answer = post(
        app,
        &format!("{M}/Accounting"),
        None,
        json!({ "SessionCode": code, "Formula": "NumNodes", "ValidityFrom": "2026-04-01T00:00:00" }),
    )
    .await;
    assert_eq!(ok_json(&answer)["Formula"], "NumNodes");
    let answer = get(app, &format!("{M}/Accountings?SessionCode={code}"), None).await;
    assert_eq!(ok_json(&answer).as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn aggregation_links_over_http() {
    let w = world().await;
    let app = &w.app;
    let ada = app.token_for(w.ada);
    let ada = Some(ada.as_str());
    let link = format!("{M}/ClusterNodeTypeAggregationAccounting");
    let agg = w.aggregation;
    let created = ok_json(
        &post(
            app,
            &format!("{M}/Accounting"),
            ada,
            json!({ "Formula": "NumNodes * RunTime * 2", "ValidityFrom": "2026-04-01T00:00:00" }),
        )
        .await,
    );
    let id = created["Id"].as_i64().unwrap();

    let answer = post(
        app,
        &link,
        ada,
        json!({ "ClusterNodeTypeAggregationId": agg, "AccountingId": id }),
    )
    .await;
    assert_eq!(
        ok_json(&answer),
        json!({ "ClusterNodeTypeAggregationId": agg, "AccountingId": id })
    );
    insta::assert_snapshot!(
        "link_created",
        redact(&answer.2, &["ClusterNodeTypeAggregationId", "AccountingId"])
    );
    // Already linked: upstream's 400.
    let again = post(
        app,
        &link,
        ada,
        json!({ "ClusterNodeTypeAggregationId": agg, "AccountingId": id }),
    )
    .await;
    assert_eq!(
        problem(&again),
        (
            400,
            "Invalid Request".to_owned(),
            format!(
                "The specified cluster node type aggregation accounting with \
                 clusterNodeTypeAggregationId '{agg}' and  accountingId '{id}' already exists in \
                 the HEAppE."
            )
        )
    );
    // Unknown aggregation, unknown accounting, ids not above 0.
    let unknown = post(
        app,
        &link,
        ada,
        json!({ "ClusterNodeTypeAggregationId": agg + 100, "AccountingId": id }),
    )
    .await;
    assert_eq!(
        problem(&unknown),
        (
            404,
            "Validation Problem".to_owned(),
            format!(
                "The specified cluster node type aggregation id '{}' is not defined in the HEAppE.",
                agg + 100
            )
        )
    );
    let unknown = post(
        app,
        &link,
        ada,
        json!({ "ClusterNodeTypeAggregationId": agg, "AccountingId": id + 100 }),
    )
    .await;
    assert_eq!(problem(&unknown).0, 404);
    assert!(problem(&unknown).2.contains(&format!("Id '{}'", id + 100)));
    let zero = post(
        app,
        &link,
        ada,
        json!({ "ClusterNodeTypeAggregationId": 0, "AccountingId": -1 }),
    )
    .await;
    assert_eq!(
        problem(&zero),
        (
            400,
            "Validation Problem".to_owned(),
            "ClusterNodeTypeAggregationId must be greater than 0\nAccountingId must be greater than 0\n"
                .to_owned()
        )
    );

    // Get one, list all.
    let answer = get(
        app,
        &format!("{link}?clusterNodeTypeAggregationId={agg}&accountingId={id}"),
        ada,
    )
    .await;
    assert_eq!(ok_json(&answer)["AccountingId"], id);
    insta::assert_snapshot!(
        "link",
        redact(&answer.2, &["ClusterNodeTypeAggregationId", "AccountingId"])
    );
    let answer = get(app, &format!("{link}s"), ada).await;
    assert_eq!(
        ok_json(&answer),
        json!([
            { "ClusterNodeTypeAggregationId": agg, "AccountingId": w.formula },
            { "ClusterNodeTypeAggregationId": agg, "AccountingId": id },
        ])
    );
    insta::assert_snapshot!(
        "links",
        redact(&answer.2, &["ClusterNodeTypeAggregationId", "AccountingId"])
    );

    // Remove.
    let body = json!({ "ClusterNodeTypeAggregationId": agg, "AccountingId": id });
    let answer = delete(app, &link, ada, body.clone()).await;
    assert_eq!(
        ok_json(&answer),
        json!("ClusterNodeTypeAggregationAccounting was deleted.")
    );
    insta::assert_snapshot!("link_deleted", answer.2);
    let gone = get(
        app,
        &format!("{link}?ClusterNodeTypeAggregationId={agg}&AccountingId={id}"),
        ada,
    )
    .await;
    assert_eq!(
        problem(&gone),
        (
            404,
            "Validation Problem".to_owned(),
            format!(
                "The specified cluster node type aggregation accounting with \
                 clusterNodeTypeAggregationId '{agg}' and  accountingId '{id}' is not defined in \
                 the HEAppE."
            )
        )
    );
    assert_eq!(problem(&delete(app, &link, ada, body).await).0, 404);
}

#[tokio::test]
async fn aggregations_are_listed() {
    let w = world().await;
    let app = &w.app;
    let ada = app.token_for(w.ada);
    let ada = Some(ada.as_str());
    let answer = get(app, &format!("{M}/ClusterNodeTypeAggregations"), ada).await;
    assert_eq!(ok_json(&answer)[0]["Id"], w.aggregation);
    insta::assert_snapshot!("aggregations", redact(&answer.2, &["Id"]));
    let answer = get(
        app,
        &format!("{M}/ClusterNodeTypeAggregation?id={}", w.aggregation),
        ada,
    )
    .await;
    assert_eq!(ok_json(&answer)["Name"], "cpu");
    insta::assert_snapshot!("aggregation", redact(&answer.2, &["Id"]));
    let unknown = get(
        app,
        &format!("{M}/ClusterNodeTypeAggregation?id={}", w.aggregation + 9),
        ada,
    )
    .await;
    assert_eq!(problem(&unknown).0, 404);
}

#[tokio::test]
async fn validation_errors_change_nothing() {
    let w = world().await;
    let app = &w.app;
    let ada = app.token_for(w.ada);
    let ada = Some(ada.as_str());
    let path = format!("{M}/Accounting");
    let before = formula_count(app).await;
    let refused = async |body: Value| problem(&post(app, &path, ada, body).await);
    let from = "2026-04-01T00:00:00";

    for bad in [
        "rm -rf /; echo",
        "(NumNodes * RunTime",
        "NumNodes * RunTime)",
        "",
    ] {
        assert_eq!(
            refused(json!({ "Formula": bad, "ValidityFrom": from })).await,
            (
                400,
                "Validation Problem".to_owned(),
                format!("Not valid formula '{bad}'\n")
            ),
            "{bad}"
        );
    }
    // Upstream's characters, but not a formula Tally can evaluate: the reason
    // follows upstream's line.
    let (status, title, detail) =
        refused(json!({ "Formula": "Nodes * 2", "ValidityFrom": from })).await;
    assert_eq!((status, title.as_str()), (400, "Validation Problem"));
    assert!(
        detail.starts_with("Not valid formula 'Nodes * 2'\nunknown variable `Nodes`"),
        "{detail}"
    );
    let long = "1 + ".repeat(60) + "1";
    assert_eq!(
        refused(json!({ "Formula": long, "ValidityFrom": from })).await,
        (
            400,
            "Validation Problem".to_owned(),
            "The field Formula must be a string with a maximum length of 200.\n".to_owned()
        )
    );
    assert_eq!(
        refused(
            json!({ "Formula": "NumNodes", "ValidityFrom": "2026-04-02T10:00:00",
                        "ValidityTo": "2026-04-01T09:30:00" })
        )
        .await,
        (
            400,
            "Validation Problem".to_owned(),
            "04/01/2026 09:30:00 must be greater than 04/02/2026 10:00:00\n".to_owned()
        )
    );
    let (status, _, detail) =
        refused(json!({ "Formula": "NumNodes", "ValidityFrom": from, "Unit": "furlongs" })).await;
    assert_eq!(status, 400);
    assert!(detail.starts_with("unit must be one of"), "{detail}");
    assert_eq!(
        refused(json!({ "Formula": "NumNodes", "ValidityFrom": "next tuesday" })).await,
        (
            400,
            "One or more validation errors occurred.".to_owned(),
            "The JSON value of 'ValidityFrom' could not be converted to System.DateTime."
                .to_owned()
        )
    );
    assert_eq!(
        refused(json!({ "Formula": "NumNodes" })).await,
        (
            400,
            "One or more validation errors occurred.".to_owned(),
            "The ValidityFrom field is required.".to_owned()
        )
    );
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(app.token_for(w.ada))
        .header("content-type", "application/json")
        .body("{\"Formula\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // Ids.
    let unparsable = get(app, &format!("{path}?id=seven"), ada).await;
    assert_invalid_value(&unparsable, "id", "seven");
    let missing = get(app, &path, ada).await;
    assert_eq!(
        problem(&missing).2,
        "The specified accounting with Id '0' is not defined in the HEAppE."
    );
    assert_eq!(
        problem(&delete(app, &path, ada, json!({ "Id": 0 })).await),
        (
            400,
            "Validation Problem".to_owned(),
            "Id must be greater than 0\n".to_owned()
        )
    );
    assert_eq!(
        problem(&delete(app, &path, ada, json!({ "Id": "one" })).await).0,
        400
    );
    let unknown = w.formula + 1000;
    for answer in [
        get(app, &format!("{path}?id={unknown}"), ada).await,
        put(
            app,
            &path,
            ada,
            json!({ "Id": unknown, "Formula": "NumNodes", "ValidityFrom": from }),
        )
        .await,
        delete(app, &path, ada, json!({ "Id": unknown })).await,
    ] {
        assert_eq!(
            problem(&answer),
            (
                404,
                "Validation Problem".to_owned(),
                format!(
                    "The specified accounting with Id '{unknown}' is not defined in the HEAppE."
                )
            )
        );
    }
    // A PUT with a bad formula leaves the version alone.
    let bad_put = put(
        app,
        &path,
        ada,
        json!({ "Id": w.formula, "Formula": "NumNodes *", "ValidityFrom": from }),
    )
    .await;
    assert_eq!(problem(&bad_put).0, 400);
    assert_eq!(formula_count(app).await, before, "nothing was stored");
}

#[tokio::test]
async fn role_rules() {
    let w = world().await;
    let app = &w.app;
    let (nil, max, bea, root) = (
        app.token_for(w.nil),
        app.token_for(w.max),
        app.token_for(w.bea),
        app.token_for(w.root),
    );
    let formulas_before = formula_count(app).await;
    let a = w.a;
    let id = w.formula;
    let agg = w.aggregation;
    let link = json!({ "ClusterNodeTypeAggregationId": agg, "AccountingId": id });
    let create = json!({ "Formula": "NumNodes", "ValidityFrom": "2026-04-01T00:00:00" });
    let modify = json!({ "Id": id, "Formula": "NumNodes", "ValidityFrom": "2026-04-01T00:00:00" });

    // ManagementAdmin routes: no role, or another role (Manager), → 401
    // MissingRole:ManagementAdmin; no credentials → 401 Unauthorized.
    for token in [Some(nil.as_str()), Some(max.as_str()), None] {
        let answers = [
            get(app, &format!("{M}/Accountings"), token).await,
            get(app, &format!("{M}/Accounting?id={id}"), token).await,
            post(app, &format!("{M}/Accounting"), token, create.clone()).await,
            put(app, &format!("{M}/Accounting"), token, modify.clone()).await,
            delete(app, &format!("{M}/Accounting"), token, json!({ "Id": id })).await,
            get(app, &format!("{M}/ClusterNodeTypeAggregationAccountings"), token).await,
            get(
                app,
                &format!(
                    "{M}/ClusterNodeTypeAggregationAccounting?clusterNodeTypeAggregationId={agg}&accountingId={id}"
                ),
                token,
            )
            .await,
            post(
                app,
                &format!("{M}/ClusterNodeTypeAggregationAccounting"),
                token,
                link.clone(),
            )
            .await,
            delete(
                app,
                &format!("{M}/ClusterNodeTypeAggregationAccounting"),
                token,
                link.clone(),
            )
            .await,
            get(app, &format!("{M}/ClusterNodeTypeAggregations"), token).await,
            get(
                app,
                &format!("{M}/ClusterNodeTypeAggregation?id={agg}"),
                token,
            )
            .await,
        ];
        let expected = if token.is_some() {
            "MissingRole:ManagementAdmin"
        } else {
            "Unauthorized"
        };
        for answer in &answers {
            assert_eq!(
                problem(answer),
                (401, "Unauthorized Access".to_owned(), expected.to_owned()),
                "{token:?}"
            );
        }
    }
    assert_eq!(formula_count(app).await, formulas_before);
    // A system administrator holds every role.
    let answer = get(app, &format!("{M}/Accountings"), Some(&root)).await;
    assert_eq!(ok_json(&answer).as_array().unwrap().len(), 1);

    // Manager routes: no role → 401 MissingRole:Manager; ManagementAdmin is
    // not Manager; a Manager of project B → 403 on A.
    let compute = json!({ "ProjectId": a, "StartTime": "2026-03-01T00:00:00",
                          "EndTime": "2026-03-31T00:00:00" });
    let ada = app.token_for(w.ada);
    for token in [nil.as_str(), ada.as_str()] {
        for answer in [
            post(
                app,
                &format!("{M}/ComputeAccounting"),
                Some(token),
                compute.clone(),
            )
            .await,
            send(
                app,
                reqwest::Method::POST,
                &format!("{M}/AccountingState?projectId={a}"),
                Some(token),
                None,
            )
            .await,
        ] {
            assert_eq!(
                problem(&answer),
                (
                    401,
                    "Unauthorized Access".to_owned(),
                    "MissingRole:Manager".to_owned()
                )
            );
        }
    }
    for answer in [
        post(
            app,
            &format!("{M}/ComputeAccounting"),
            Some(&bea),
            compute.clone(),
        )
        .await,
        send(
            app,
            reqwest::Method::POST,
            &format!("{M}/AccountingState?projectId={a}"),
            Some(&bea),
            None,
        )
        .await,
    ] {
        assert_eq!(
            problem(&answer),
            (
                403,
                "Access Forbidden".to_owned(),
                format!("User does not have 'Manager' role for project '{a}'.")
            )
        );
    }
    assert_eq!(run_count(app).await, 0, "refused: nothing queued");
    // The Manager of A may; so may a system administrator.
    let answer = post(
        app,
        &format!("{M}/ComputeAccounting"),
        Some(&max),
        compute.clone(),
    )
    .await;
    assert_eq!(
        ok_json(&answer),
        json!(format!("Accounting triggered for project {a}."))
    );
    let answer = post(app, &format!("{M}/ComputeAccounting"), Some(&root), compute).await;
    assert_eq!(
        ok_json(&answer).as_str().unwrap(),
        format!("Accounting triggered for project {a}.")
    );
    assert_eq!(run_count(app).await, 2);
    // An administrator asking about a project that does not exist.
    let missing = json!({ "ProjectId": a + 100, "StartTime": "2026-03-01T00:00:00",
                          "EndTime": "2026-03-31T00:00:00" });
    let answer = post(app, &format!("{M}/ComputeAccounting"), Some(&root), missing).await;
    assert_eq!(
        problem(&answer),
        (
            404,
            "Validation Problem".to_owned(),
            "The specified project is not defined in the HEAppE.".to_owned()
        )
    );
    let answer = send(
        app,
        reqwest::Method::POST,
        &format!("{M}/AccountingState?projectId={}", a + 100),
        Some(&root),
        None,
    )
    .await;
    assert_eq!(problem(&answer).0, 404);
}

#[tokio::test]
async fn compute_accounting_refuses_bad_input() {
    let w = world().await;
    let app = &w.app;
    let max = app.token_for(w.max);
    let path = format!("{M}/ComputeAccounting");
    let reversed = json!({ "ProjectId": w.a, "StartTime": "2026-03-31T00:00:00",
                           "EndTime": "2026-03-01T00:00:00" });
    assert_eq!(
        problem(&post(app, &path, Some(&max), reversed).await),
        (
            400,
            "Validation Problem".to_owned(),
            "StartTime must be before EndTime\n".to_owned()
        )
    );
    let bad_date =
        json!({ "ProjectId": w.a, "StartTime": "March", "EndTime": "2026-03-01T00:00:00" });
    assert_eq!(
        problem(&post(app, &path, Some(&max), bad_date).await).0,
        400
    );
    let no_end = json!({ "ProjectId": w.a, "StartTime": "2026-03-01T00:00:00" });
    assert_eq!(problem(&post(app, &path, Some(&max), no_end).await).0, 400);
    let bad_state = send(
        app,
        reqwest::Method::POST,
        &format!("{M}/AccountingState?projectId=x"),
        Some(&max),
        None,
    )
    .await;
    assert_invalid_value(&bad_state, "projectId", "x");
    let zero = send(
        app,
        reqwest::Method::POST,
        &format!("{M}/AccountingState"),
        Some(&max),
        None,
    )
    .await;
    assert_eq!(
        problem(&zero),
        (
            400,
            "Validation Problem".to_owned(),
            "ProjectId must be greater than 0\n".to_owned()
        )
    );
    assert_eq!(run_count(app).await, 0);
}

/// PUT makes a new version; a task started in its validity is priced by it
/// once `ComputeAccounting`'s run has been worked on; `AccountingState` follows
/// the run.
#[tokio::test]
async fn a_revised_formula_prices_recomputed_tasks() {
    let w = world().await;
    let app = &w.app;
    let conn = &app.db.conn;
    let ada = app.token_for(w.ada);
    let max = app.token_for(w.max);
    let before = all_tasks(app).await;
    assert!(
        before
            .iter()
            .all(|t| t.formula_id == Some(w.formula) && t.usage_milli == Some(2000))
    );

    let revised = ok_json(
        &put(
            app,
            &format!("{M}/Accounting"),
            Some(&ada),
            json!({ "Id": w.formula, "Formula": "NumNodes * RunTime * 3",
                    "ValidityFrom": "2026-03-01T00:00:00", "ValidityTo": null }),
        )
        .await,
    );
    let new = revised["Id"].as_i64().unwrap();
    // Nothing is repriced yet: tasks keep naming the version that priced them.
    assert_eq!(all_tasks(app).await, before);

    let state = format!("{M}/AccountingState?projectId={}", w.a);
    let empty = send(app, reqwest::Method::POST, &state, Some(&max), None).await;
    assert_eq!(ok_json(&empty), json!([]));

    let answer = post(
        app,
        &format!("{M}/ComputeAccounting"),
        Some(&max),
        json!({ "ProjectId": w.a, "StartTime": "2026-03-01T00:00:00Z",
                "EndTime": "2026-03-20T00:00:00" }),
    )
    .await;
    assert_eq!(
        ok_json(&answer),
        json!(format!("Accounting triggered for project {}.", w.a))
    );
    insta::assert_snapshot!(
        "compute_accounting",
        answer.2.replace(&w.a.to_string(), "[project id]")
    );
    let run = accounting_runs::Entity::find()
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.triggered_by, Some(w.max));
    assert_eq!((run.period_start, run.period_end), (at(1, 0), at(20, 0)));
    let queued = ok_json(&send(app, reqwest::Method::POST, &state, Some(&max), None).await);
    assert_eq!(queued[0]["State"], 1);
    assert_eq!(queued[0]["ComputingEndDate"], Value::Null);

    assert!(
        recompute::run_once(conn, &app.db.bus(), "test")
            .await
            .unwrap()
    );
    let rows = all_tasks(app).await;
    let priced: Vec<_> = rows.iter().map(|t| (t.formula_id, t.usage_milli)).collect();
    // The tasks of the 2nd and 3rd lie in the period: the new version prices
    // them; the task of the 25th keeps the old price.
    assert_eq!(
        priced,
        vec![
            (Some(new), Some(6000)),
            (Some(new), Some(6000)),
            (Some(w.formula), Some(2000)),
        ]
    );
    assert_hpc_rollups_consistent(conn).await;

    // The finished run, with its stored times fixed for the snapshot.
    accounting_runs::Entity::update_many()
        .col_expr(accounting_runs::Column::TriggeredAt, Expr::value(fixed(20)))
        .col_expr(accounting_runs::Column::StartedAt, Expr::value(fixed(21)))
        .col_expr(accounting_runs::Column::FinishedAt, Expr::value(fixed(22)))
        .col_expr(
            accounting_runs::Column::LastUpdatedAt,
            Expr::value(fixed(22)),
        )
        .exec(conn)
        .await
        .unwrap();
    let answer = send(app, reqwest::Method::POST, &state, Some(&max), None).await;
    let finished = ok_json(&answer);
    assert_eq!(finished[0]["State"], 4);
    assert_eq!(finished[0]["ProjectId"], w.a);
    insta::assert_snapshot!("accounting_state", redact(&answer.2, &["ProjectId"]));
}

/// DELETE retires a version: tasks ingested afterwards are not priced by it;
/// the tasks it priced keep their usage.
#[tokio::test]
async fn a_retired_formula_no_longer_prices_new_tasks() {
    let w = world().await;
    let app = &w.app;
    let ada = app.token_for(w.ada);
    let before = all_tasks(app).await;
    let answer = delete(
        app,
        &format!("{M}/Accounting"),
        Some(&ada),
        json!({ "Id": w.formula }),
    )
    .await;
    assert_eq!(ok_json(&answer), json!("Accounting was deleted."));
    assert_eq!(
        all_tasks(app).await,
        before,
        "priced tasks keep their usage"
    );

    ingest(&app.db, "101", &[10]).await;
    let rows = all_tasks(app).await;
    let new_task = rows.last().unwrap();
    assert!(!before.iter().any(|t| t.id == new_task.id));
    assert_eq!(new_task.formula_id, None);
    assert_eq!(new_task.usage_milli, None);
    assert_eq!(new_task.usage_status, "no_formula");
    assert_hpc_rollups_consistent(&app.db.conn).await;
}
