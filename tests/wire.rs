//! REST wire formats pinned by `insta` snapshots (STYLE habit 9): the bodies
//! are snapshotted as sent, byte for byte, so that field order is pinned too
//! (a `serde_json::Value` would sort the keys).

use tally::auth::Scope;

use crate::helpers::world;
use crate::helpers::{TestApp, TestDb};

const STATES: &str = "/heappe/JobReporting/JobsStateAgregationReport";

/// Project A with a reporter (`alice`) and jobs in three states; project B
/// with a running job she does not see.
struct World {
    app: TestApp,
    alice: i64,
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
    World { alice, app }
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
}
