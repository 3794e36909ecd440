//! REST wire formats pinned by `insta` snapshots (STYLE habit 9): the bodies
//! are snapshotted as sent, byte for byte, so that field order is pinned too
//! (a `serde_json::Value` would sort the keys); ids and session codes are
//! redacted in place.

use serde_json::Value;
use tally::auth::Scope;

use crate::helpers::world::{self, PASSWORD};
use crate::helpers::{TestApp, TestDb};

const STATES: &str = "/heappe/JobReporting/JobsStateAgregationReport";
const AUTHENTICATE: &str = "/heappe/UserAndLimitationManagement/AuthenticateUserPassword";
const DN_HEADER: &str = "X-SSL-Client-S-DN";
const PUBLISHER: &str = "/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test";

/// Project A with a reporter (`alice`) and jobs in three states; project B
/// with a running job she does not see.
struct World {
    app: TestApp,
    alice: i64,
    group: i64,
    project: i64,
}

async fn world() -> World {
    let db = TestDb::empty().await;
    let config = db.config_with(&[("TALLY_TRUSTED_PROXIES", "127.0.0.1")]);
    let app = TestApp::spawn_with(db, config).await;
    let db = &app.db.conn;
    let a = world::project(db, "PROJ-A").await;
    let b = world::project(db, "PROJ-B").await;
    let group = world::group(db, &a, "group-a").await;
    let alice = world::user(
        db,
        "alice",
        "heappe_group_reporter",
        Scope::UserGroup(group.id),
    )
    .await;
    let cluster = world::cluster(db, "karolina").await;
    world::job(db, &cluster, &a, "1", 16).await;
    world::job(db, &cluster, &a, "2", 16).await;
    world::job(db, &cluster, &a, "3", 32).await;
    world::job(db, &cluster, &a, "4", 8).await;
    world::job(db, &cluster, &b, "5", 8).await;
    World {
        alice,
        group: group.id,
        project: a.id,
        app,
    }
}

/// Status, `Content-Type` and body of a response.
async fn read(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// `body` with the scalar value of every `"key":` of `keys` replaced by
/// `"[name]"`: ids and times differ from run to run, their place does not.
fn redact(body: &str, keys: &[(&str, &str)]) -> String {
    let mut body = body.to_owned();
    for (key, name) in keys {
        let marker = format!("\"{key}\":");
        let mut out = String::with_capacity(body.len());
        let mut rest = body.as_str();
        while let Some(at) = rest.find(&marker) {
            let (before, after) = rest.split_at(at + marker.len());
            out.push_str(before);
            let end = if let Some(text) = after.strip_prefix('"') {
                text.find('"').map_or(after.len(), |i| i + 2)
            } else {
                after.find([',', '}', ']']).unwrap_or(after.len())
            };
            if after[..end] == *"null" {
                out.push_str("null");
            } else {
                out.push_str(&format!("\"[{name}]\""));
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        body = out;
    }
    body
}

#[tokio::test]
async fn whoami_wire_format() {
    let w = world().await;
    let app = &w.app;
    let token = app.token_for(w.alice);
    tally::service::cloud::set_publisher(
        &app.db.conn,
        &tally::domain::dn::Dn::parse(PUBLISHER).unwrap(),
        "allowed",
        None,
    )
    .await
    .unwrap();
    let ids = [
        ("id", "user id"),
        ("scopeId", "group id"),
        ("projectId", "project id"),
    ];

    let (status, kind, body) = read(app.get("/api/v1/whoami").await).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    insta::assert_snapshot!("whoami_anonymous", body);

    let response = app
        .client
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(&token)
        .header(DN_HEADER, PUBLISHER)
        .send()
        .await
        .unwrap();
    let (status, kind, body) = read(response).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    // The ids are the real ones before they are redacted.
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["user"]["id"], w.alice);
    assert_eq!(parsed["grants"][0]["scopeId"], w.group);
    assert_eq!(parsed["grants"][0]["projectId"], w.project);
    insta::assert_snapshot!("whoami_authenticated", redact(&body, &ids));

    let (status, body) = app.get_as(Some("not-a-token"), "/api/v1/whoami").await;
    assert_eq!(status, 401);
    insta::assert_snapshot!("whoami_refused_token", body);
}

#[tokio::test]
async fn heappe_authenticate_user_password_wire_format() {
    let w = world().await;
    let app = &w.app;
    let post = async |body: String| {
        read(
            app.client
                .post(app.url(AUTHENTICATE))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let (status, kind, body) = post(format!(
        r#"{{"Credentials":{{"Username":"alice","Password":"{PASSWORD}"}}}}"#
    ))
    .await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    let code: String = serde_json::from_str(&body).unwrap();
    assert!(uuid::Uuid::parse_str(&code).is_ok(), "{code}");
    insta::assert_snapshot!(
        "heappe_authenticate_ok",
        body.replace(&code, "[session code]")
    );

    let (status, kind, body) =
        post(r#"{"Credentials":{"Username":"alice","Password":"wrong"}}"#.to_owned()).await;
    assert_eq!((status, kind.as_str()), (401, "application/problem+json"));
    insta::assert_snapshot!("heappe_authenticate_bad_credentials", body);

    let (status, kind, body) = post(format!(
        r#"{{"Credentials":{{"Username":"{}","Password":"x"}}}}"#,
        "a".repeat(200)
    ))
    .await;
    assert_eq!((status, kind.as_str()), (413, "application/problem+json"));
    insta::assert_snapshot!("heappe_authenticate_too_large", body);
}

/// HEAppE's `JobStateAggregationReportExt` is `JobStateId, JobStateName,
/// Count`, in that order (heappe.md); the states in ascending order.
#[tokio::test]
async fn heappe_jobs_state_aggregation_report_wire_format() {
    let w = world().await;
    let app = &w.app;
    let token = app.token_for(w.alice);
    let response = app
        .client
        .get(app.url(STATES))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, kind, body) = read(response).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    assert_eq!(
        body,
        concat!(
            r#"[{"JobStateId":8,"JobStateName":"Running","Count":1},"#,
            r#"{"JobStateId":16,"JobStateName":"Finished","Count":2},"#,
            r#"{"JobStateId":32,"JobStateName":"Failed","Count":1}]"#
        )
    );
    insta::assert_snapshot!("heappe_jobs_state_aggregation_report", body);

    let (status, body) = app.get_as(None, STATES).await;
    assert_eq!(status, 401);
    insta::assert_snapshot!("heappe_jobs_state_aggregation_report_unauthorized", body);
}
