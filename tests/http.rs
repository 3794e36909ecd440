//! The HTTP server: health, readiness, the GraphQL endpoint and a graceful
//! stop. Body size and time limits: `request_limits.rs`.

use std::time::Duration;

use sea_orm::DbBackend;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{TEST_DATABASE_URL, TestApp};

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

/// With the database gone, `/readyz` answers 503 and the process keeps serving.
/// On PostgreSQL the test database is dropped under the running server; SQLite
/// is a file inside the process, with no server that could go away.
#[tokio::test]
async fn readiness_turns_503_when_the_database_is_gone() {
    let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
        eprintln!(
            "skipped on SQLite: there is no database server to lose ({TEST_DATABASE_URL} unset)"
        );
        return;
    };
    let app = TestApp::spawn().await;
    assert_eq!(app.db.backend(), DbBackend::Postgres);
    assert_eq!(app.get("/readyz").await.status(), 200);

    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let admin = tally::db::connect(&admin_url, 1).await.unwrap();
    crate::helpers::drop_database(&admin, &name).await.unwrap();

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "unavailable"
    );
    // The process is still alive.
    assert_eq!(app.get("/healthz").await.status(), 200);
    admin.close().await.ok();
}

#[tokio::test]
async fn graphql_answers_api_version() {
    let app = TestApp::spawn().await;
    let answer = app.graphql("{ apiVersion }").await;
    assert_eq!(answer["data"]["apiVersion"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

/// Sends the head of a POST announcing `length` body bytes and the first part
/// of the body, and returns the open connection.
async fn start_post(app: &TestApp, body: &[u8], sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

async fn read_status_line(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !response.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        response.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A shutdown signal lets a request that is already being received finish.
#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn().await;
    let body = br#"{"query":"{ apiVersion }"}"#;
    let mut stream = start_post(&app, body, 10).await;
    // Let the server start handling the request, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = app.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let status = read_status_line(&mut stream).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stops once the request is answered")
        .unwrap();
    // New connections are refused.
    assert!(TcpStream::connect(app.addr).await.is_err());
}
