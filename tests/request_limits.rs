//! Body size and time limits (`TALLY_BODY_LIMIT_BYTES`,
//! `TALLY_REQUEST_TIMEOUT_SECS`): 413 and 408 in the error format of the
//! route that was asked, the same with and without `Content-Length`, and
//! nothing stored. The requests are written by hand (`helpers::raw`) so that
//! the body's framing, and when it stops, is exactly what the test says.

use std::time::Duration;

use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::jobs;
use tokio::net::TcpStream;

use crate::helpers::raw::{self, Answer};
use crate::helpers::{TestApp, TestDb, world};

/// How long a test waits for an answer before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// The body limit of these tests.
const LIMIT: usize = 1024;

/// An application with `configure` applied, a project with a cluster, and a
/// collector's token. The recomputation worker is off, so that every
/// statement counted is a request's.
async fn app(configure: impl FnOnce(&mut tally::Config)) -> (TestApp, String) {
    let db = TestDb::new().await;
    world::project(&db.conn, "OPEN-1").await;
    world::cluster(&db.conn, "karolina").await;
    let collector = world::user(&db.conn, "collector", "collector", Scope::System).await;
    let mut config = db.config_with(&[("TALLY_RECOMPUTE_POLL_SECS", "0")]);
    configure(&mut config);
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(collector);
    (app, token)
}

/// A valid job batch of one job, followed by `padding` spaces (still valid JSON).
fn batch(padding: usize) -> Vec<u8> {
    let batch = json!({
        "cluster": "karolina",
        "jobs": [{
            "schedulerJobId": "1", "submitTime": "2026-03-02T08:00:00Z", "name": "job 1",
            "state": "Finished", "project": "OPEN-1",
        }],
    });
    format!("{batch}{}", " ".repeat(padding)).into_bytes()
}

/// `text` followed by `padding` spaces.
fn padded(text: &str, padding: usize) -> Vec<u8> {
    format!("{text}{}", " ".repeat(padding)).into_bytes()
}

/// A JSON body's content type.
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A request to one route.
struct Case<'a> {
    path: &'static str,
    headers: Vec<(&'static str, &'a str)>,
    body: Vec<u8>,
}

/// A valid request to a route of each family that reads a body, the body
/// followed by `padding` spaces; `bearer` is a collector's `Authorization`.
fn cases(bearer: &str, padding: usize) -> Vec<Case<'_>> {
    vec![
        Case {
            path: "/graphql",
            headers: vec![JSON],
            body: padded(r#"{"query":"{ apiVersion }"}"#, padding),
        },
        Case {
            path: "/api/v1/hpc/jobs",
            headers: vec![JSON, ("Authorization", bearer)],
            body: batch(padding),
        },
        Case {
            path: "/heappe/UserAndLimitationManagement/AuthenticateUserPassword",
            headers: vec![JSON],
            body: padded(
                r#"{"Credentials":{"Username":"collector","Password":"x"}}"#,
                padding,
            ),
        },
        Case {
            path: "/api/v1/cloud/record",
            headers: vec![("Content-Type", "text/plain")],
            body: padded("APEL-cloud-message: v0.4\n", padding),
        },
    ]
}

/// How the body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    ContentLength,
    Chunked,
}

/// Sends `body` to `path` with `headers`, framed as `framing`, in one write.
async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    framing: Framing,
) -> Answer {
    let length = body.len().to_string();
    let mut all = headers.to_vec();
    let coded = match framing {
        Framing::ContentLength => {
            all.push(("Content-Length", &length));
            body.to_vec()
        }
        Framing::Chunked => {
            all.push(("Transfer-Encoding", "chunked"));
            raw::chunked(body, 256)
        }
    };
    let mut request = raw::head("POST", path, app.addr, &all).into_bytes();
    request.extend_from_slice(&coded);
    let mut stream = raw::send(app.addr, &request).await;
    answer(&mut stream).await
}

async fn answer(stream: &mut TcpStream) -> Answer {
    tokio::time::timeout(PATIENCE, raw::read_answer(stream))
        .await
        .expect("answered within the test's patience")
}

/// Checks that `answer` is `status` in the format of the route family at
/// `path`, naming `setting`.
fn assert_format(path: &str, answer: &Answer, status: u16, setting: &str) {
    let case = format!("{path}: {answer:?}");
    assert_eq!(answer.status, status, "{case}");
    let content_type = answer.header("content-type").unwrap_or_default();
    if path.starts_with("/mapi") {
        assert!(answer.body.is_empty(), "{case}");
        let reason = answer.header("x-hcp-errormessage").unwrap_or_default();
        assert!(reason.contains(setting), "{case}");
        return;
    }
    let body = answer.json();
    let message = if path.starts_with("/graphql") {
        assert!(content_type.contains("json"), "{case}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
            "{case}"
        );
        assert_eq!(body.get("data"), None, "{case}");
        &body["errors"][0]["message"]
    } else if path.starts_with("/heappe") {
        assert_eq!(content_type, "application/problem+json", "{case}");
        assert_eq!(body["status"], status, "{case}");
        let title = if status == 413 {
            "Payload Too Large"
        } else {
            "Request Timeout"
        };
        assert_eq!(body["title"], title, "{case}");
        &body["detail"]
    } else if path.starts_with("/api/v1/cloud") {
        assert_eq!(content_type, "application/json", "{case}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{case}");
        &body["detail"]
    } else if path.starts_with("/accounting-system") {
        assert_eq!(body["code"], status, "{case}");
        &body["message"]
    } else {
        assert_eq!(content_type, "application/json", "{case}");
        assert_eq!(body["error"]["code"], "LIMIT_EXCEEDED", "{case}");
        &body["error"]["message"]
    };
    assert!(
        message.as_str().is_some_and(|m| m.contains(setting)),
        "{case}"
    );
}

async fn job_count(app: &TestApp) -> u64 {
    jobs::Entity::find().count(&app.db.conn).await.unwrap()
}

#[tokio::test]
async fn oversized_bodies_get_413_in_each_routes_format() {
    let (app, token) = app(|config| config.body_limit_bytes = LIMIT).await;
    let bearer = format!("Bearer {token}");
    let cases = cases(&bearer, 2 * LIMIT);
    for framing in [Framing::ContentLength, Framing::Chunked] {
        for case in &cases {
            app.statements.reset();
            let answer = post(&app, case.path, &case.headers, &case.body, framing).await;
            assert_format(case.path, &answer, 413, "TALLY_BODY_LIMIT_BYTES");
            assert_eq!(
                app.statements.count(),
                0,
                "{framing:?} {} ran SQL: {:?}",
                case.path,
                app.statements.recorded()
            );
        }
    }
    // GraphQL's own media type when the client asks for it.
    let answer = post(
        &app,
        "/graphql",
        &[JSON, ("Accept", "application/graphql-response+json")],
        &padded(r#"{"query":"{ apiVersion }"}"#, 2 * LIMIT),
        Framing::Chunked,
    )
    .await;
    assert_eq!(
        answer.header("content-type"),
        Some("application/graphql-response+json")
    );
    // Routes still to come answer an announced oversized body in their
    // upstream's format already: the limit is checked before routing.
    for path in [
        "/accounting-system/metrics",
        "/mapi/tenants/t/chargebackReport",
    ] {
        let body = padded("{}", 2 * LIMIT);
        let answer = post(&app, path, &[JSON], &body, Framing::ContentLength).await;
        assert_format(path, &answer, 413, "TALLY_BODY_LIMIT_BYTES");
    }

    // Nothing was stored; the same batch within the limit is.
    assert_eq!(job_count(&app).await, 0);
    let headers = [JSON, ("Authorization", bearer.as_str())];
    let answer = post(
        &app,
        "/api/v1/hpc/jobs",
        &headers,
        &batch(0),
        Framing::Chunked,
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json()["inserted"], 1, "{answer:?}");
    assert_eq!(job_count(&app).await, 1);
}

/// `TALLY_BODY_LIMIT_BYTES` above 2 MiB is honoured: no other limit (axum's
/// default for body extractors) cuts in first.
#[tokio::test]
async fn bodies_up_to_the_configured_limit_are_read() {
    let (app, token) = app(|config| config.body_limit_bytes = 3 << 20).await;
    let body = batch(5 << 19);
    assert!(body.len() > 2 << 20);
    let response = app
        .client
        .post(app.url("/api/v1/hpc/jobs"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["inserted"], 1, "{answer}");
}

/// A request whose body stops half-way is answered 408 when the timeout
/// passes (the server does not sleep: the client never sends the rest).
#[tokio::test]
async fn stalled_requests_get_408_in_each_routes_format() {
    let (app, token) = app(|config| config.request_timeout = Duration::from_millis(500)).await;
    let bearer = format!("Bearer {token}");
    for case in cases(&bearer, 0) {
        app.statements.reset();
        let length = case.body.len().to_string();
        let mut headers = case.headers.clone();
        headers.push(("Content-Length", &length));
        let mut request = raw::head("POST", case.path, app.addr, &headers).into_bytes();
        request.extend_from_slice(&case.body[..10]);
        let mut stream = raw::send(app.addr, &request).await;
        let answer = answer(&mut stream).await;
        assert_format(case.path, &answer, 408, "TALLY_REQUEST_TIMEOUT_SECS");
        assert_eq!(
            app.statements.count(),
            0,
            "{} ran SQL: {:?}",
            case.path,
            app.statements.recorded()
        );
    }
    assert_eq!(job_count(&app).await, 0);
}
