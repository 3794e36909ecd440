//! Subscriptions over `graphql-transport-ws` at `/graphql/ws` (issue 5,
//! item 5): an ingested task's usage reaches a subscriber within a second,
//! only for projects the subscriber may see, across instances on PostgreSQL;
//! recomputation progress; refused credentials close the connection;
//! subscriptions pass the same pre-execution checks as `/graphql`. The
//! same over Tally's own TLS listener (`wss://`), and a stopping server closes
//! open connections with 1001 instead of waiting for them.

use std::time::{Duration, Instant};

use async_graphql::futures_util::{SinkExt as _, StreamExt as _};
use chrono::{DateTime, TimeZone as _, Utc};
use sea_orm::DbBackend;
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::projects;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::pki::Pki;
use crate::helpers::{TestApp, TestDb, world};

/// A WebSocket connection: over plain TCP by default, or over `S` (TLS).
pub(crate) type Socket<S = MaybeTlsStream<TcpStream>> = WebSocketStream<S>;

/// How long a test waits for anything before failing.
const PATIENCE: Duration = Duration::from_secs(10);

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

struct World {
    open1: projects::Model,
    /// Sees OPEN-1 only.
    alice: i64,
    /// Posts jobs for every project.
    collector: i64,
}

/// Two projects, a cluster with a priced CPU node type (node-hours =
/// `NumNodes × RunTime`), a collector and a reader of OPEN-1.
async fn world(db: &TestDb) -> World {
    let conn = &db.conn;
    let open1 = world::project(conn, "OPEN-1").await;
    world::project(conn, "OPEN-2").await;
    world::priced_cpu_cluster(conn, "NumNodes * RunTime", at(1, 0)).await;
    let collector = world::user(conn, "collector", "collector", Scope::System).await;
    let alice = world::user(
        conn,
        "alice",
        "eosc_project_reader",
        Scope::Project(open1.id),
    )
    .await;
    World {
        open1,
        alice,
        collector,
    }
}

/// Posts one job of `project` with one task: `nodes` nodes for `hours` hours
/// from March 2nd, 08:00; returns the batch's answer.
async fn ingest(
    app: &TestApp,
    token: &str,
    project: &str,
    id: &str,
    nodes: u32,
    hours: i64,
) -> Value {
    let start = at(2, 8);
    let body = json!({
        "cluster": "karolina",
        "jobs": [{
            "schedulerJobId": id, "submitTime": start, "name": format!("job {id}"),
            "state": "Finished", "project": project,
            "tasks": [{
                "ordinal": 0, "state": "Finished", "nodeType": "cpu",
                "startTime": start, "endTime": start + chrono::Duration::hours(hours),
                "allocatedNodes": nodes,
                "parameters": { "NumNodes": nodes.to_string(), "RunTime": format!("{hours:02}:00:00") },
            }],
        }],
    });
    let response = app
        .client
        .post(app.url("/api/v1/hpc/jobs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The upgrade request for `/graphql/ws` at `url`, asking for the
/// `graphql-transport-ws` subprotocol.
fn upgrade_request(url: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    request
}

/// Opens `/graphql/ws` with the `graphql-transport-ws` subprotocol.
async fn connect(app: &TestApp) -> Socket {
    let request = upgrade_request(&format!("ws://{}/graphql/ws", app.addr));
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

/// Opens `wss://localhost:port/graphql/ws` on an application that serves TLS
/// with a certificate of `pki`.
async fn connect_tls(app: &TestApp, pki: &Pki) -> Socket<TlsStream<TcpStream>> {
    let request = upgrade_request(&format!("wss://localhost:{}/graphql/ws", app.addr.port()));
    let tls = pki.connect(app.addr).await;
    let (socket, response) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut Socket<S>, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next protocol message, or the close frame's code as `{"close": code}`.
pub(crate) async fn receive<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut Socket<S>) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(frame) => {
                let frame = frame.expect("a close frame with a code");
                return json!({ "close": u16::from(frame.code), "reason": frame.reason.as_str() });
            }
            _ => {}
        }
    }
}

/// Connects, authenticates with `token` and waits for the acknowledgement.
pub(crate) async fn connect_as(app: &TestApp, token: &str) -> Socket {
    init(connect(app).await, token).await
}

/// Authenticates with `token` on a new connection and waits for the
/// acknowledgement.
async fn init<S: AsyncRead + AsyncWrite + Unpin>(mut socket: Socket<S>, token: &str) -> Socket<S> {
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(
        receive(&mut socket).await,
        json!({ "type": "connection_ack" })
    );
    socket
}

/// Subscribes and waits until the server has registered one more subscriber
/// on `app`'s event bus, so that what is ingested next is heard.
pub(crate) async fn subscribe<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut Socket<S>,
    app: &TestApp,
    id: &str,
    query: &str,
) {
    let before = app.state.events.subscribers();
    send(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    while app.state.events.subscribers() <= before {
        assert!(Instant::now() < deadline, "the subscription never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const USAGE: &str = "subscription { usageIngested { project source resourceKind resource unit day amount records } }";

fn project_id(project: &projects::Model) -> String {
    tally::graphql::GlobalId::encode("Project", project.id).0
}

#[tokio::test]
async fn an_ingested_task_reaches_a_subscriber_within_a_second() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let collector = app.token_for(w.collector);
    let mut socket = connect_as(&app, &app.token_for(w.alice)).await;
    subscribe(&mut socket, &app, "usage", USAGE).await;

    // Alice may not see OPEN-2: its usage, ingested first, never reaches her.
    ingest(&app, &collector, "OPEN-2", "200", 4, 1).await;
    let sent = Instant::now();
    ingest(&app, &collector, "OPEN-1", "100", 2, 3).await;
    let message = receive(&mut socket).await;
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "usage");
    let usage = &message["payload"]["data"]["usageIngested"];
    assert_eq!(usage["project"], project_id(&w.open1), "{message}");
    assert_eq!(usage["source"], "hpc");
    assert_eq!(usage["resourceKind"], "node_type");
    assert_eq!(usage["unit"], "node_hour");
    assert_eq!(usage["day"], "2026-03-02");
    assert_eq!(usage["amount"], 6.0, "2 nodes × 3 hours: {message}");
    assert_eq!(usage["records"], 1);
    eprintln!("usage reached the subscriber {latency:?} after the batch was sent");

    // A replay changes nothing, so nothing is heard; the next change is.
    let replay = ingest(&app, &collector, "OPEN-1", "100", 2, 3).await;
    assert_eq!(replay["unchanged"], 1, "{replay}");
    let next = ingest(&app, &collector, "OPEN-1", "101", 1, 1).await;
    assert_eq!(next["inserted"], 1, "{next}");
    let message = receive(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["usageIngested"]["amount"], 1.0,
        "{message}"
    );

    // Completing the subscription stops it.
    send(&mut socket, json!({ "id": "usage", "type": "complete" })).await;
    let deadline = Instant::now() + PATIENCE;
    while app.state.events.subscribers() > 0 {
        assert!(
            Instant::now() < deadline,
            "the subscription was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_subscriber_never_hears_of_other_projects() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let collector = app.token_for(w.collector);
    let mut socket = connect_as(&app, &app.token_for(w.alice)).await;
    // Asking for everything still yields only OPEN-1; asking for OPEN-2
    // (which alice may not see) yields nothing at all.
    subscribe(&mut socket, &app, "mine", USAGE).await;
    let open2 = tally::graphql::GlobalId::encode("Project", w.open1.id + 1).0;
    subscribe(
        &mut socket,
        &app,
        "theirs",
        &format!(r#"subscription {{ usageIngested(projects: ["{open2}"]) {{ project amount }} }}"#),
    )
    .await;
    for i in 0..3 {
        ingest(&app, &collector, "OPEN-2", &format!("2{i}"), 1, 1).await;
    }
    ingest(&app, &collector, "OPEN-1", "1", 1, 2).await;
    let message = receive(&mut socket).await;
    assert_eq!(message["id"], "mine", "{message}");
    assert_eq!(
        message["payload"]["data"]["usageIngested"]["project"],
        project_id(&w.open1)
    );
    // Nothing else is pending: the OPEN-2 batches produced no message.
    let quiet = tokio::time::timeout(Duration::from_millis(500), socket.next()).await;
    assert!(quiet.is_err(), "unexpected message: {quiet:?}");
}

#[tokio::test]
async fn connections_without_valid_credentials_are_closed() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let valid = app.token_for(w.alice);
    for payload in [
        json!({}),
        json!({ "Authorization": format!("Bearer {valid}x") }),
        json!({ "token": app.token_for(9_999) }),
    ] {
        let mut socket = connect(&app).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        let answer = receive(&mut socket).await;
        assert_eq!(answer["close"], 4403, "{payload}: {answer}");
    }
    // Subscribing before the handshake: 4401.
    let mut socket = connect(&app).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": USAGE } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["close"], 4401);
    // Other spellings of the token are accepted.
    let mut socket = connect(&app).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": valid } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    // Without the subprotocol there is no upgrade.
    let request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
}

/// A subscription passes the checks `/graphql` applies before execution
/// (`docs/graphql.md`, Limits): a field repeated 500 times, a field carrying
/// 500 directives and an unknown directive on `__typename` are refused with
/// the same codes, as one `next` with the error and a `complete`; none of
/// them starts a subscription, and the connection stays open.
#[tokio::test]
async fn subscriptions_pass_the_same_checks_as_graphql_over_http() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(w.alice);
    let mut socket = connect_as(&app, &token).await;
    let repeated = format!(
        "subscription {{ usageIngested {{ project {} }} }}",
        "__typename ".repeat(500)
    );
    let piled = format!(
        "subscription {{ usageIngested {} {{ project }} }}",
        "@include(if: true) ".repeat(500)
    );
    let cases = [
        (
            repeated.as_str(),
            "LIMIT_EXCEEDED",
            "TALLY_GRAPHQL_MAX_REPEATS",
        ),
        (
            piled.as_str(),
            "LIMIT_EXCEEDED",
            "TALLY_GRAPHQL_MAX_DIRECTIVES",
        ),
        (
            "subscription { usageIngested { project __typename @aa } }",
            "BAD_USER_INPUT",
            "Unknown directive",
        ),
        (
            "subscription { usageIngested { nope } }",
            "BAD_USER_INPUT",
            "Unknown field",
        ),
    ];
    for (i, (query, code, says)) in cases.into_iter().enumerate() {
        let before = app.state.events.subscribers();
        let id = format!("bad-{i}");
        send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
        )
        .await;
        let answer = receive(&mut socket).await;
        assert_eq!(
            (answer["type"].as_str(), answer["id"].as_str()),
            (Some("next"), Some(id.as_str())),
            "{answer}"
        );
        let error = &answer["payload"]["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{answer}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{says:?} in {answer}"
        );
        assert!(answer["payload"]["data"].is_null(), "{answer}");
        assert_eq!(
            receive(&mut socket).await,
            json!({ "id": id, "type": "complete" })
        );
        assert_eq!(app.state.events.subscribers(), before, "{query}");
    }
    // The connection still serves a valid subscription.
    subscribe(&mut socket, &app, "good", USAGE).await;
}

/// On PostgreSQL, a subscriber of one instance hears what another instance
/// ingested (LISTEN/NOTIFY). SQLite runs one instance.
#[tokio::test]
async fn usage_crosses_instances_on_postgres() {
    let db = TestDb::new().await;
    if db.backend() != DbBackend::Postgres {
        eprintln!("skipped: several instances share a database only on PostgreSQL");
        return;
    }
    let w = world(&db).await;
    let second = db.share().await;
    let (config, second_config) = (db.config(), second.config());
    let listening = TestApp::spawn_with(db, config).await;
    let ingesting = TestApp::spawn_with(second, second_config).await;
    let mut socket = connect_as(&listening, &listening.token_for(w.alice)).await;
    subscribe(&mut socket, &listening, "usage", USAGE).await;
    let sent = Instant::now();
    ingest(
        &ingesting,
        &ingesting.token_for(w.collector),
        "OPEN-1",
        "7",
        3,
        2,
    )
    .await;
    let message = receive(&mut socket).await;
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let usage = &message["payload"]["data"]["usageIngested"];
    assert_eq!(usage["project"], project_id(&w.open1), "{message}");
    assert_eq!(usage["amount"], 6.0, "{message}");
    eprintln!("usage crossed instances {latency:?} after the batch was sent");
}

#[tokio::test]
async fn recomputation_progress_is_published() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config_with(&[("TALLY_RECOMPUTE_POLL_SECS", "1")]);
    let app = TestApp::spawn_with(db, config).await;
    let collector = app.token_for(w.collector);
    ingest(&app, &collector, "OPEN-1", "1", 2, 3).await;
    let mut socket = connect_as(&app, &app.token_for(w.alice)).await;
    subscribe(
        &mut socket,
        &app,
        "progress",
        "subscription { recomputationProgress { run project state tasksDone tasksTotal } }",
    )
    .await;
    let run =
        tally::service::recompute::enqueue(&app.db.conn, w.open1.id, at(1, 0), at(31, 0), None)
            .await
            .unwrap();
    let mut states = Vec::new();
    loop {
        let message = receive(&mut socket).await;
        let progress = &message["payload"]["data"]["recomputationProgress"];
        assert_eq!(
            progress["run"],
            tally::graphql::GlobalId::encode("RecomputationRun", run.id).0,
            "{message}"
        );
        assert_eq!(progress["project"], project_id(&w.open1));
        states.push((
            progress["state"].as_str().unwrap().to_owned(),
            progress["tasksDone"].as_i64().unwrap(),
            progress["tasksTotal"].as_i64().unwrap(),
        ));
        if progress["state"] != "running" {
            break;
        }
    }
    assert_eq!(
        states.first(),
        Some(&("running".to_owned(), 0, 1)),
        "{states:?}"
    );
    assert_eq!(
        states.last(),
        Some(&("finished".to_owned(), 1, 1)),
        "{states:?}"
    );
}

/// Over Tally's own TLS listener: a `wss://` subscriber receives an ingested
/// task's usage, as over `ws://`.
#[tokio::test]
async fn an_ingested_task_reaches_a_subscriber_over_tls() {
    let pki = Pki::new();
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = pki.config(&db);
    let mut app = TestApp::spawn_with(db, config).await;
    app.client = pki.client(None);
    let socket = connect_tls(&app, &pki).await;
    let mut socket = init(socket, &app.token_for(w.alice)).await;
    subscribe(&mut socket, &app, "usage", USAGE).await;

    ingest(&app, &app.token_for(w.collector), "OPEN-1", "100", 2, 3).await;
    let message = receive(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "usage");
    let usage = &message["payload"]["data"]["usageIngested"];
    assert_eq!(usage["project"], project_id(&w.open1), "{message}");
    assert_eq!(usage["unit"], "node_hour");
    assert_eq!(usage["amount"], 6.0, "2 nodes × 3 hours: {message}");
}

/// Stops `app` while `socket` holds a subscription: the subscriber is told
/// `1001 Going Away`, and the server stops without waiting out its grace
/// (a minute here, longer than the test's patience).
async fn stopping_closes<S: AsyncRead + AsyncWrite + Unpin>(
    mut app: TestApp,
    mut socket: Socket<S>,
) {
    subscribe(&mut socket, &app, "usage", USAGE).await;
    let stopped = app.stop();
    let closed = receive(&mut socket).await;
    assert_eq!(closed["close"], 1001, "{closed}");
    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("the server stops once its WebSockets are closed")
        .unwrap();
}

#[tokio::test]
async fn stopping_the_server_closes_subscriptions() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let mut config = db.config();
    config.shutdown_grace = Duration::from_secs(60);
    let app = TestApp::spawn_with(db, config).await;
    let socket = connect_as(&app, &app.token_for(w.alice)).await;
    stopping_closes(app, socket).await;
}

#[tokio::test]
async fn stopping_the_server_closes_subscriptions_over_tls() {
    let pki = Pki::new();
    let db = TestDb::new().await;
    let w = world(&db).await;
    let mut config = pki.config(&db);
    config.shutdown_grace = Duration::from_secs(60);
    let app = TestApp::spawn_with(db, config).await;
    let socket = connect_tls(&app, &pki).await;
    let socket = init(socket, &app.token_for(w.alice)).await;
    stopping_closes(app, socket).await;
}

/// One finished job of OPEN-1 on `karolina`'s `cpu` nodes, as `sacct
/// --parsable2` prints it: 2 nodes for 3 hours from March 2nd, 08:00 (6
/// node-hours).
const SACCT: &str = "\
JobID|Submit|Start|End|Elapsed|State|NCPUS|NNodes|Partition|Account
300|2026-03-02T07:55:00|2026-03-02T08:00:00|2026-03-02T11:00:00|03:00:00|COMPLETED|256|2|cpu|OPEN-1
";

/// The `usageIngested` item of the next message, after checking it is one.
async fn next_usage(socket: &mut Socket) -> Value {
    let message = receive(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["usageIngested"].clone()
}

/// The import service publishes what it commits on the bus it is given: a
/// server's subscribers hear of jobs imported through the server's own bus,
/// on both backends.
#[tokio::test]
async fn imported_jobs_reach_a_subscriber_of_the_same_process() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let mut socket = connect_as(&app, &app.token_for(w.alice)).await;
    subscribe(&mut socket, &app, "usage", USAGE).await;
    let options = tally::service::import::ImportOptions::new("karolina");
    // A dry run commits nothing, so publishes nothing; the real run does.
    let dry = tally::service::import::ImportOptions {
        dry_run: true,
        ..options.clone()
    };
    let summary =
        tally::service::import::import_slurm(&app.db.conn, &app.state.events, SACCT, &dry)
            .await
            .unwrap();
    assert_eq!(summary.inserted, 1, "{summary}");
    let summary =
        tally::service::import::import_slurm(&app.db.conn, &app.state.events, SACCT, &options)
            .await
            .unwrap();
    assert!(summary.is_clean() && summary.inserted == 1, "{summary}");
    let usage = next_usage(&mut socket).await;
    assert_eq!(usage["project"], project_id(&w.open1), "{usage}");
    assert_eq!(usage["source"], "hpc");
    assert_eq!(usage["unit"], "node_hour");
    assert_eq!(usage["day"], "2026-03-02");
    assert_eq!(usage["amount"], 6.0, "2 nodes × 3 hours: {usage}");
    assert_eq!(usage["records"], 1);
    // The dry run's usage never came: the next item is the next batch's.
    let next = ingest(&app, &app.token_for(w.collector), "OPEN-1", "301", 1, 1).await;
    assert_eq!(next["inserted"], 1, "{next}");
    assert_eq!(next_usage(&mut socket).await["amount"], 1.0);
}

/// `tally import slurm` is another process. On PostgreSQL its batches reach
/// the subscribers of a running server through `NOTIFY`; on SQLite only the
/// serving process's own ingestion does (`docs/graphql.md`), so there the
/// test checks that the command imported and the server counts the usage.
#[tokio::test]
async fn jobs_imported_by_the_command_reach_a_running_server_on_postgres() {
    let db = TestDb::new().await;
    let w = world(&db).await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let postgres = app.db.backend() == DbBackend::Postgres;
    let mut socket = connect_as(&app, &app.token_for(w.alice)).await;
    subscribe(&mut socket, &app, "usage", USAGE).await;
    let file = std::env::temp_dir().join(format!("tally-sacct-{}.psv", uuid::Uuid::new_v4()));
    std::fs::write(&file, SACCT).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["import", "slurm"])
        .arg(&file)
        .args(["--cluster", "karolina"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TALLY_DATABASE_URL", &app.db.url)
        .env("TALLY_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&file).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("  inserted      1\n"), "{stdout}");
    if postgres {
        let usage = next_usage(&mut socket).await;
        assert_eq!(usage["project"], project_id(&w.open1), "{usage}");
        assert_eq!(usage["amount"], 6.0, "{usage}");
        assert_eq!(usage["records"], 1);
    }
    let (status, body) = app
        .get_as(
            Some(&app.token_for(w.alice)),
            "/api/v1/usage?from=2026-03-01&to=2026-03-31",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let quantities: Vec<&str> = answer["usage"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["quantity"].as_str())
        .collect();
    assert_eq!(quantities.len(), 1, "{body}");
    assert_eq!(quantities[0].parse::<f64>().unwrap(), 6.0, "{body}");
}

/// The demo loads through the same services and bus: a subscriber hears all
/// of its usage, as one item per project, source, resource, unit and day of
/// each batch (the demo's batches touch disjoint ones, so one item per key of
/// the rollup), not one per record.
#[tokio::test]
async fn the_demo_publishes_its_usage_coalesced() {
    use std::collections::{BTreeMap, BTreeSet};

    use sea_orm::EntityTrait as _;
    use tally::entity::usage_daily;

    let db = TestDb::new().await;
    let admin = tally::service::users::add(&db.conn, "root", None, world::PASSWORD, true)
        .await
        .unwrap();
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let mut socket = connect_as(&app, &app.token_for(admin.id)).await;
    subscribe(&mut socket, &app, "usage", USAGE).await;
    tally::service::demo::load(&app.db.conn, &app.state.events, 1)
        .await
        .unwrap();

    let rows = usage_daily::Entity::find().all(&app.db.conn).await.unwrap();
    let records: i64 = rows.iter().map(|r| r.record_count).sum();
    let keys: BTreeSet<(i64, &str, i64, &str, chrono::NaiveDate)> = rows
        .iter()
        .map(|r| {
            (
                r.project_id,
                r.source.as_str(),
                r.resource_id,
                r.unit.as_str(),
                r.day,
            )
        })
        .collect();
    let mut expected: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for row in &rows {
        let project = tally::graphql::GlobalId::encode("Project", row.project_id).0;
        #[expect(clippy::cast_precision_loss, reason = "a test's comparison")]
        let amount = row.quantity as f64 / 10_f64.powi(i32::from(row.scale));
        *expected
            .entry((project, row.source.clone(), row.unit.clone()))
            .or_default() += amount;
    }

    let (mut heard, mut items) = (0_i64, 0_usize);
    let mut amounts: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    while heard < records {
        let usage = next_usage(&mut socket).await;
        heard += usage["records"].as_i64().unwrap();
        items += 1;
        *amounts
            .entry((
                usage["project"].as_str().unwrap().to_owned(),
                usage["source"].as_str().unwrap().to_owned(),
                usage["unit"].as_str().unwrap().to_owned(),
            ))
            .or_default() += usage["amount"].as_f64().unwrap();
    }
    eprintln!(
        "the demo published {items} usage items for {records} records ({} rollup rows)",
        rows.len()
    );
    assert_eq!(heard, records);
    assert_eq!(items, keys.len());
    assert_eq!(
        amounts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (key, amount) in &expected {
        let got = amounts[key];
        assert!(
            (got - amount).abs() <= 1e-6 * amount.abs().max(1.0),
            "{key:?}: {got} vs {amount}"
        );
    }
    let sources: BTreeSet<&str> = amounts
        .keys()
        .map(|(_, source, _)| source.as_str())
        .collect();
    assert_eq!(sources, BTreeSet::from(["cloud", "eosc", "hpc", "storage"]));
}
