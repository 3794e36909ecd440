//! Idempotency keys on both ingestion paths (`docs/ingestion.md`): the REST
//! batches (`Idempotency-Key` header) and the GraphQL ingestion mutations
//! (`idempotencyKey` argument) go through one service, so a repeated key
//! answers the first report again and changes nothing, and the same key with
//! another batch is refused and changes nothing.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait as _};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{
    bucket_usage_daily, bucket_usage_hourly, idempotency_keys, jobs, tasks, usage_daily,
    usage_hourly,
};

use crate::helpers::{TestApp, world};

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

/// The application with project `OPEN-1`, cluster `karolina` whose node type
/// `cpu` (queue `qcpu`) is priced `NumNodes * RunTime`, and two system-wide
/// collectors.
struct World {
    app: TestApp,
    collector: String,
    other: String,
}

async fn setup() -> World {
    let app = TestApp::spawn().await;
    let db = &app.db.conn;
    world::project(db, "OPEN-1").await;
    world::priced_cpu_cluster(db, "NumNodes * RunTime", at(1, 0)).await;
    let collector = app.token_for(world::user(db, "collector", "collector", Scope::System).await);
    let other = app.token_for(world::user(db, "other", "collector", Scope::System).await);
    World {
        app,
        collector,
        other,
    }
}

/// How many rows every table a batch writes holds: facts, rollups and
/// remembered keys.
async fn rows(db: &DatabaseConnection) -> [u64; 7] {
    async fn count<E: EntityTrait>(db: &DatabaseConnection) -> u64
    where
        E::Model: Sync,
    {
        E::find().count(db).await.unwrap()
    }
    [
        count::<jobs::Entity>(db).await,
        count::<tasks::Entity>(db).await,
        count::<bucket_usage_hourly::Entity>(db).await,
        count::<bucket_usage_daily::Entity>(db).await,
        count::<usage_hourly::Entity>(db).await,
        count::<usage_daily::Entity>(db).await,
        count::<idempotency_keys::Entity>(db).await,
    ]
}

/// The total usage stored in the cross-source daily rollup.
async fn usage_total(db: &DatabaseConnection) -> i64 {
    usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.quantity)
        .sum()
}

/// A finished job `id` with one task on `nodes` nodes for `hours` hours, as
/// the REST route takes it.
fn rest_job(id: &str, nodes: u32, hours: i64) -> Value {
    let start = at(2, 8);
    let end = start + Duration::hours(hours);
    json!({
        "schedulerJobId": id, "submitTime": at(2, 7), "name": format!("job {id}"),
        "state": "Finished", "project": "OPEN-1", "startTime": start, "endTime": end,
        "tasks": [{
            "ordinal": 0, "state": "Finished", "nodeType": "qcpu", "startTime": start,
            "endTime": end, "allocatedNodes": nodes,
            "parameters": { "NumNodes": nodes.to_string(), "RunTime": format!("{hours:02}:00:00") },
        }],
    })
}

/// The same job as `ingestJobs` takes it.
fn graphql_job(id: &str, nodes: u32, hours: i64) -> Value {
    let start = at(2, 8);
    let end = start + Duration::hours(hours);
    json!({
        "schedulerJobId": id, "submitTime": at(2, 7), "name": format!("job {id}"),
        "state": "FINISHED", "project": "OPEN-1", "startTime": start, "endTime": end,
        "tasks": [{
            "ordinal": 0, "state": "FINISHED", "nodeType": "qcpu", "startTime": start,
            "endTime": end, "allocatedNodes": nodes,
            "parameters": [
                { "name": "NumNodes", "value": nodes.to_string() },
                { "name": "RunTime", "value": format!("{hours:02}:00:00") },
            ],
        }],
    })
}

/// An hourly sample of bucket `b1` (the same shape on both paths).
fn sample(hour: u32, byte_hours: i64) -> Value {
    json!({ "bucket": "b1", "owner": "alice", "project": "OPEN-1",
            "hour": at(1, hour), "byteHours": byte_hours, "writes": 3 })
}

/// Posts `body` to `route` as `token` with `key`; the status, the JSON answer
/// and whether it was marked replayed.
async fn post(
    app: &TestApp,
    token: &str,
    route: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let mut request = app
        .client
        .post(app.url(route))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, response.json().await.unwrap(), replayed)
}

/// Runs a GraphQL operation as `token`; the answer (always executed: 200).
async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

const INGEST_JOBS: &str = "mutation($input: JobBatchInput!, $key: String) {
  ingestJobs(input: $input, idempotencyKey: $key) {
    accepted inserted updated unchanged rejected { index kind key reason } replayed
  }
}";

const INGEST_STORAGE: &str = "mutation($input: StorageBatchInput!, $key: String) {
  ingestStorageUsage(input: $input, idempotencyKey: $key) {
    accepted inserted updated unchanged rejected { index kind key reason } replayed
  }
}";

/// The report of an answer that must hold no errors, under `field`.
fn report<'a>(answer: &'a Value, field: &str) -> &'a Value {
    assert!(answer.get("errors").is_none(), "{answer:#}");
    &answer["data"][field]
}

fn stored(inserted: u32, unchanged: u32, replayed: bool) -> Value {
    json!({ "accepted": true, "inserted": inserted, "updated": 0, "unchanged": unchanged,
            "rejected": [], "replayed": replayed })
}

#[tokio::test]
async fn rest_batches_replay_a_key_and_refuse_it_for_another_body() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let jobs = json!({ "cluster": "karolina", "jobs": [rest_job("1", 2, 3)] });
    let other_jobs = json!({ "cluster": "karolina", "jobs": [rest_job("2", 1, 1)] });
    let samples = json!({ "samples": [sample(5, 1000)] });
    let other_samples = json!({ "samples": [sample(6, 1000)] });
    for (route, batch, other) in [
        ("/api/v1/hpc/jobs", &jobs, &other_jobs),
        ("/api/v1/storage/usage", &samples, &other_samples),
    ] {
        let (status, first, replayed) = post(app, &w.collector, route, batch, Some("k-1")).await;
        assert_eq!((status, replayed), (200, false), "{route}: {first}");
        assert_eq!(first["inserted"], 1, "{route}: {first}");
        let before = (rows(db).await, usage_total(db).await);

        // The same key and body: the first answer, and nothing changes.
        let (status, again, replayed) = post(app, &w.collector, route, batch, Some("k-1")).await;
        assert_eq!((status, replayed), (200, true), "{route}: {again}");
        assert_eq!(
            again, first,
            "{route}: the first answer, not `unchanged: 1`"
        );
        assert_eq!((rows(db).await, usage_total(db).await), before, "{route}");

        // The same key with another body: 422, and nothing changes.
        let (status, refused, _) = post(app, &w.collector, route, other, Some("k-1")).await;
        assert_eq!(status, 422, "{route}: {refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("another request body")),
            "{route}: {refused}"
        );
        assert_eq!((rows(db).await, usage_total(db).await), before, "{route}");

        // Keys are the caller's own: another collector's `k-1` is new to them.
        let (status, theirs, replayed) = post(app, &w.other, route, batch, Some("k-1")).await;
        assert_eq!((status, replayed), (200, false), "{route}: {theirs}");
        assert_eq!(
            (theirs["inserted"].clone(), theirs["unchanged"].clone()),
            (json!(0), json!(1)),
            "{route}: {theirs}"
        );
    }
}

#[tokio::test]
async fn graphql_batches_replay_a_key_and_refuse_it_for_another_input() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let jobs = json!({ "cluster": "karolina", "jobs": [graphql_job("1", 2, 3)] });
    let other_jobs = json!({ "cluster": "karolina", "jobs": [graphql_job("2", 1, 1)] });
    let samples = json!({ "samples": [sample(5, 1000)] });
    let other_samples = json!({ "samples": [sample(6, 1000)] });
    for (query, field, batch, other) in [
        (INGEST_JOBS, "ingestJobs", &jobs, &other_jobs),
        (
            INGEST_STORAGE,
            "ingestStorageUsage",
            &samples,
            &other_samples,
        ),
    ] {
        let run = async |token: &str, input: &Value, key: &str| {
            gql(app, token, query, json!({ "input": input, "key": key })).await
        };
        let first = run(&w.collector, batch, "k-1").await;
        assert_eq!(report(&first, field), &stored(1, 0, false), "{field}");
        let before = (rows(db).await, usage_total(db).await);

        // The same key and batch: the first report, marked replayed, and
        // nothing changes.
        let again = run(&w.collector, batch, "k-1").await;
        assert_eq!(report(&again, field), &stored(1, 0, true), "{field}");
        assert_eq!((rows(db).await, usage_total(db).await), before, "{field}");

        // The same key with another batch: BAD_USER_INPUT (REST's 422), no
        // data, and nothing changes.
        let refused = run(&w.collector, other, "k-1").await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{field}: {refused:#}"
        );
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("idempotencyKey was used with another input")),
            "{field}: {refused:#}"
        );
        assert_eq!(refused["data"], Value::Null, "{field}: {refused:#}");
        assert_eq!((rows(db).await, usage_total(db).await), before, "{field}");

        // Without a key, a repeated batch runs again (and changes nothing by
        // its records' natural keys).
        let unkeyed = gql(app, &w.collector, query, json!({ "input": batch })).await;
        assert_eq!(report(&unkeyed, field), &stored(0, 1, false), "{field}");
        assert_eq!((rows(db).await, usage_total(db).await), before, "{field}");
    }
}

/// The request hash of a mutation is taken over the parsed batch, so the
/// same batch written another way (literals instead of variables, fields in
/// another order, an instant with another offset, a default spelled out) is
/// the same request.
#[tokio::test]
async fn a_graphql_key_replays_the_same_batch_however_it_is_written() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let first = gql(
        app,
        &w.collector,
        INGEST_STORAGE,
        json!({ "input": { "samples": [sample(5, 1000)] }, "key": "k-2" }),
    )
    .await;
    assert_eq!(report(&first, "ingestStorageUsage"), &stored(1, 0, false));
    let before = rows(db).await;
    let literal = r#"mutation {
      ingestStorageUsage(
        idempotencyKey: "k-2",
        input: { correction: false, samples: [{ writes: 3, hour: "2026-03-01T06:00:00+01:00",
                 byteHours: 1000, project: "OPEN-1", owner: "alice", bucket: "b1" }] }
      ) { accepted inserted updated unchanged rejected { index kind key reason } replayed }
    }"#;
    let again = gql(app, &w.collector, literal, json!({})).await;
    assert_eq!(report(&again, "ingestStorageUsage"), &stored(1, 0, true));
    assert_eq!(rows(db).await, before);
}

/// A key names (route, caller): a REST route and its GraphQL twin hash their
/// requests differently (the body as sent, the parsed batch), so their keys
/// are separate namespaces (`docs/ingestion.md`).
#[tokio::test]
async fn rest_and_graphql_keys_are_separate_namespaces() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let samples = json!({ "samples": [sample(5, 1000)] });
    let (status, _, _) = post(
        app,
        &w.collector,
        "/api/v1/storage/usage",
        &samples,
        Some("shared"),
    )
    .await;
    assert_eq!(status, 200);
    let answer = gql(
        app,
        &w.collector,
        INGEST_STORAGE,
        json!({ "input": samples, "key": "shared" }),
    )
    .await;
    assert_eq!(
        report(&answer, "ingestStorageUsage"),
        &stored(0, 1, false),
        "not a replay of the REST answer: the batch ran, and found its sample stored"
    );
    let routes: Vec<String> = idempotency_keys::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.route)
        .collect();
    assert_eq!(
        routes,
        vec!["storage/usage", "graphql/ingestStorageUsage"],
        "one key per route"
    );
}

/// Refused batches are not remembered: a corrected retry may reuse the key.
#[tokio::test]
async fn a_refused_graphql_batch_does_not_use_up_its_key() {
    let w = setup().await;
    let (app, db) = (&w.app, &w.app.db.conn);
    let mut bad = sample(5, 1000);
    bad["project"] = json!("NOPE");
    let answer = gql(
        app,
        &w.collector,
        INGEST_STORAGE,
        json!({ "input": { "samples": [bad] }, "key": "k-3" }),
    )
    .await;
    let refused = report(&answer, "ingestStorageUsage");
    assert_eq!(
        (refused["accepted"].clone(), refused["replayed"].clone()),
        (json!(false), json!(false)),
        "{refused}"
    );
    assert_eq!(rows(db).await, [0; 7]);
    let answer = gql(
        app,
        &w.collector,
        INGEST_STORAGE,
        json!({ "input": { "samples": [sample(5, 1000)] }, "key": "k-3" }),
    )
    .await;
    assert_eq!(report(&answer, "ingestStorageUsage"), &stored(1, 0, false));
    let answer = gql(
        app,
        &w.collector,
        INGEST_STORAGE,
        json!({ "input": { "samples": [sample(5, 1000)] }, "key": " " }),
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer:#}"
    );
}
