//! EOSC REST: metric routes and listings over HTTP (issue 13): the published
//! page's requests replayed, every validation message of eosc.md §4 for create
//! and patch, the page envelope of §3, access by scoped role, idempotency
//! keys, the bulk post, and rollups that stay equal to the raw metrics after
//! patch and delete. Each response shape is pinned by an `insta` snapshot.

use reqwest::Method;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, EntityTrait as _};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{
    installations, metric_definitions, metric_types, metrics, project_providers, projects,
    providers, unit_types,
};
use tally::service::eosc::external_id;

use crate::eosc::assert_rollups_consistent;
use crate::helpers::world;
use crate::helpers::{TestApp, TestDb};

struct World {
    app: TestApp,
    /// Installations `GRNET-KNOSSOS` and `GRNET-ARIS` of project 725025
    /// (provider `grnet`), and `SITE` of project 101017567 (provider `egi`).
    first: String,
    second: String,
    foreign: String,
    /// `storage` in TB, `requests` in #.
    tb: String,
    count: String,
    admin: String,
    project_admin: String,
    reader: String,
    /// Installation admin of `first` only.
    first_admin: String,
    /// Provider admin of `grnet` in 725025.
    provider_admin: String,
    nobody: String,
}

pub(crate) async fn definition(db: &DatabaseConnection, name: &str, unit: &str) -> String {
    let unit = unit_types::Entity::find_by_name(unit)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let kind = metric_types::Entity::find_by_name("aggregated")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let row = metric_definitions::ActiveModel {
        name: Set(name.to_owned()),
        description: Set(Some(format!("{name} used"))),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(kind.id),
        creator_id: Set(Some("creator@aai".to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    external_id(row.id)
}

pub(crate) async fn eosc_project(
    db: &DatabaseConnection,
    grant: &str,
    acronym: &str,
) -> projects::Model {
    let project = world::project(db, &format!("EOSC-{grant}")).await;
    let mut row: projects::ActiveModel = project.into();
    row.eosc_id = Set(Some(grant.to_owned()));
    row.acronym = Set(Some(acronym.to_owned()));
    row.update(db).await.unwrap()
}

pub(crate) async fn provider(db: &DatabaseConnection, id: &str, project: i64) -> (i64, i64) {
    let provider = providers::ActiveModel {
        external_id: Set(id.to_owned()),
        name: Set(id.to_uppercase()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let pair = project_providers::ActiveModel {
        project_id: Set(project),
        provider_id: Set(provider.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    (provider.id, pair.id)
}

pub(crate) async fn installation(
    db: &DatabaseConnection,
    project: i64,
    provider: i64,
    name: &str,
) -> i64 {
    installations::ActiveModel {
        project_id: Set(project),
        provider_id: Set(provider),
        installation: Set(name.to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

async fn setup() -> World {
    let db = TestDb::empty().await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let conn = &app.db.conn;
    let project = eosc_project(conn, "725025", "EGI-ACE").await;
    let other = eosc_project(conn, "101017567", "OTHER").await;
    let (grnet, grnet_pair) = provider(conn, "grnet", project.id).await;
    let (egi, _) = provider(conn, "egi", other.id).await;
    let first = installation(conn, project.id, grnet, "GRNET-KNOSSOS").await;
    let second = installation(conn, project.id, grnet, "GRNET-ARIS").await;
    let foreign = installation(conn, other.id, egi, "SITE").await;
    let tb = definition(conn, "storage", "TB").await;
    let count = definition(conn, "requests", "#").await;
    let token = |id| app.token_for(id);
    let admin = token(world::user(conn, "admin", "system_admin", Scope::System).await);
    let project_admin = token(
        world::user(
            conn,
            "padmin",
            "eosc_project_admin",
            Scope::Project(project.id),
        )
        .await,
    );
    let reader = token(
        world::user(
            conn,
            "reader",
            "eosc_project_reader",
            Scope::Project(project.id),
        )
        .await,
    );
    let first_admin = token(
        world::user(
            conn,
            "iadmin",
            "eosc_installation_admin",
            Scope::Installation(first),
        )
        .await,
    );
    let provider_admin = token(
        world::user(
            conn,
            "provadmin",
            "eosc_provider_admin",
            Scope::ProjectProvider(grnet_pair),
        )
        .await,
    );
    let nobody = token(world::user(conn, "nobody", "", Scope::System).await);
    World {
        first: external_id(first),
        second: external_id(second),
        foreign: external_id(foreign),
        tb,
        count,
        admin,
        project_admin,
        reader,
        first_admin,
        provider_admin,
        nobody,
        app,
    }
}

struct Answer {
    status: u16,
    body: Value,
    /// The body as sent (fields in the server's order).
    text: String,
    location: Option<String>,
}

impl World {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("/accounting-system{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let text = text.replace(&self.app.base, "http://HOST");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Answer {
            status,
            body,
            text,
            location,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, token, None, None).await
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, token, Some(body), None).await
    }

    async fn patch(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.call(Method::PATCH, path, token, Some(body), None)
            .await
    }

    async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, token, None, None).await
    }

    /// Posts a metric to `installation` as the system admin; its id.
    async fn add(&self, installation: &str, body: &Value) -> String {
        let answer = self
            .post(
                &format!("/installations/{installation}/metrics"),
                &self.admin,
                body,
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["metric_id"].as_str().unwrap().to_owned()
    }

    async fn consistent(&self) {
        assert_rollups_consistent(&self.app.db.conn).await;
    }
}

fn metric(definition: &str, start: &str, end: &str, value: Value) -> Value {
    json!({
        "metric_definition_id": definition,
        "time_period_start": start,
        "time_period_end": end,
        "value": value,
    })
}

fn error(status: u16, message: &str) -> Value {
    json!({"code": status, "message": message})
}

#[tokio::test]
async fn the_published_page_replays() {
    let w = setup().await;
    let base = format!("/installations/{}/metrics", w.first);
    let created = w
        .post(
            &base,
            &w.admin,
            &json!({
                "metric_definition_id": w.tb,
                "time_period_start": "2020-12-20T09:13:07Z",
                "time_period_end": "2020-12-25T11:14:07Z",
                "value": 700
            }),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["metric_id"].as_str().unwrap().to_owned();
    assert_eq!(
        created
            .location
            .unwrap()
            .replace(&w.app.base, "http://HOST"),
        format!("http://HOST/accounting-system{base}/{id}")
    );
    // The raw body: field order is part of the shape.
    insta::assert_snapshot!("single_metric", created.text);

    let read = w.get(&format!("{base}/{id}"), &w.reader).await;
    assert_eq!((read.status, &read.body), (200, &created.body));

    let patched = w
        .patch(
            &format!("{base}/{id}"),
            &w.admin,
            &json!({
                "time_period_start": "2020-12-21T09:13:07Z",
                "time_period_end": "",
                "value": 55,
                "group_id": "group-1",
                "user_id": null
            }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    insta::assert_json_snapshot!("patched_metric", patched.body);
    let read = w.get(&format!("{base}/{id}"), &w.admin).await;
    assert_eq!(read.body, patched.body);
    w.consistent().await;

    let deleted = w.delete(&format!("{base}/{id}"), &w.admin).await;
    assert_eq!(deleted.status, 200);
    insta::assert_json_snapshot!("deleted", deleted.body);
    let gone = w.get(&format!("{base}/{id}"), &w.admin).await;
    assert_eq!(gone.status, 404);
    insta::assert_json_snapshot!("error", gone.body);
    w.consistent().await;
}

#[tokio::test]
async fn create_answers_upstreams_messages() {
    let w = setup().await;
    let base = format!("/installations/{}/metrics", w.first);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let unknown = external_id(999_999);
    let s = "2024-01-01T00:00:00Z";
    let e = "2024-01-02T00:00:00Z";
    let cases = [
        (
            json!({"time_period_start": s, "time_period_end": e, "value": 1}),
            400,
            "metric_definition_id may not be empty.".to_owned(),
        ),
        (
            metric(&unknown, s, e, json!(1)),
            404,
            format!("There is no Metric Definition with the following id: {unknown}"),
        ),
        (
            json!({"metric_definition_id": w.tb, "time_period_end": e, "value": 1}),
            400,
            "time_period_start may not be empty.".to_owned(),
        ),
        (
            json!({"metric_definition_id": w.tb, "time_period_start": s, "value": 1}),
            400,
            "time_period_end may not be empty.".to_owned(),
        ),
        (
            metric(&w.tb, "2024-01-01", e, json!(1)),
            400,
            "time_period_start must be a valid zulu timestamp. found: 2024-01-01".to_owned(),
        ),
        (
            metric(&w.tb, s, "x", json!(1)),
            400,
            "time_period_end must be a valid zulu timestamp. found: x".to_owned(),
        ),
        (
            metric(&w.tb, s, &tomorrow, json!(1)),
            400,
            "Timestamp cannot be after the current date-time.".to_owned(),
        ),
        (
            metric(&w.tb, s, s, json!(1)),
            400,
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date \
             time."
                .to_owned(),
        ),
        (
            metric(&w.tb, e, s, json!(1)),
            400,
            "Timestamp of the starting date time cannot be after of Timestamp of the end date \
             time."
                .to_owned(),
        ),
        (
            json!({"metric_definition_id": w.tb, "time_period_start": s, "time_period_end": e}),
            400,
            "value may not be empty.".to_owned(),
        ),
        (
            metric(&w.tb, s, e, json!("many")),
            400,
            "value must be a number. found: \"many\"".to_owned(),
        ),
    ];
    for (body, status, message) in cases {
        let answer = w.post(&base, &w.admin, &body).await;
        assert_eq!(answer.body, error(status, &message), "{body}");
        assert_eq!(answer.status, status);
    }
    let missing = external_id(424_242);
    let answer = w
        .post(
            &format!("/installations/{missing}/metrics"),
            &w.admin,
            &metric(&w.tb, s, e, json!(1)),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body),
        (
            404,
            error(
                404,
                &format!("There is no Installation with the following id: {missing}")
            )
        )
    );
    let answer = w
        .post(
            "/installations/nope/metrics",
            &w.admin,
            &metric(&w.tb, s, e, json!(1)),
        )
        .await;
    assert_eq!(answer.status, 404);

    // Not JSON, and empty.
    let response = w
        .app
        .client
        .post(w.app.url(&format!("/accounting-system{base}")))
        .bearer_auth(&w.admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, error(415, "Cannot consume content type."));
    let response = w
        .app
        .client
        .post(w.app.url(&format!("/accounting-system{base}")))
        .bearer_auth(&w.admin)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, error(400, "The request body is empty."));
    // No token.
    let response = w
        .app
        .client
        .get(w.app.url(&format!("/accounting-system{base}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let stored = metrics::Entity::find().all(&w.app.db.conn).await.unwrap();
    assert!(stored.is_empty());
}

#[tokio::test]
async fn patch_answers_upstreams_messages_and_keeps_rollups_exact() {
    let w = setup().await;
    let base = format!("/installations/{}/metrics", w.first);
    let id = w
        .add(
            &w.first,
            &metric(
                &w.tb,
                "2024-01-10T10:00:00Z",
                "2024-01-10T12:00:00Z",
                json!(5),
            ),
        )
        .await;
    w.add(
        &w.first,
        &metric(
            &w.tb,
            "2024-01-10T10:30:00Z",
            "2024-01-10T11:00:00Z",
            json!(2.5),
        ),
    )
    .await;
    let path = format!("{base}/{id}");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let unknown = external_id(999_999);
    let cases = [
        (
            json!({"metric_definition_id": unknown}),
            404,
            format!("There is no Metric Definition with the following id: {unknown}"),
        ),
        (
            json!({"time_period_start": "yesterday"}),
            400,
            "time_period_start must be a valid zulu timestamp. found: yesterday".to_owned(),
        ),
        (
            json!({"time_period_end": tomorrow}),
            400,
            "Timestamp cannot be after the current date-time.".to_owned(),
        ),
        (
            json!({"time_period_start": "2024-01-10T12:00:00Z"}),
            400,
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date \
             time."
                .to_owned(),
        ),
        (
            json!({"time_period_start": "2024-01-11T00:00:00Z"}),
            400,
            "Timestamp of the starting date time cannot be after of Timestamp of the end date \
             time."
                .to_owned(),
        ),
        (
            json!({"time_period_end": "2024-01-09T00:00:00Z"}),
            400,
            "Timestamp of the end date time cannot be before of Timestamp of the starting date \
             time."
                .to_owned(),
        ),
        (
            json!({"time_period_start": "2024-01-05T00:00:00Z", "time_period_end": "2024-01-04T00:00:00Z"}),
            400,
            "Timestamp of the starting date time cannot be after of Timestamp of the end date \
             time."
                .to_owned(),
        ),
        (
            json!({"value": "lots"}),
            400,
            "value must be a number. found: \"lots\"".to_owned(),
        ),
    ];
    for (body, status, message) in cases {
        let answer = w.patch(&path, &w.admin, &body).await;
        assert_eq!(answer.body, error(status, &message), "{body}");
        assert_eq!(answer.status, status);
    }
    let missing = w
        .patch(
            &format!("{base}/{}", external_id(77_777)),
            &w.admin,
            &json!({"value": 1}),
        )
        .await;
    assert_eq!(missing.status, 404);
    w.consistent().await;

    // Move it to another day and hour, unit and value: the rollups follow.
    let moved = w
        .patch(
            &path,
            &w.admin,
            &json!({
                "metric_definition_id": w.count,
                "time_period_start": "2024-02-01T08:00:00Z",
                "time_period_end": "2024-02-01T09:00:00Z",
                "value": 7
            }),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["metric_definition_id"], json!(w.count));
    w.consistent().await;
    let only_value = w.patch(&path, &w.admin, &json!({"value": 0.25})).await;
    assert_eq!(only_value.body["value"], json!(0.25));
    w.consistent().await;
    let nothing = w.patch(&path, &w.admin, &json!({})).await;
    assert_eq!(nothing.body, only_value.body);
    assert_eq!(w.delete(&path, &w.admin).await.status, 200);
    w.consistent().await;
    assert_eq!(w.delete(&path, &w.admin).await.status, 404);
}

#[tokio::test]
async fn pages_follow_upstreams_envelope() {
    let w = setup().await;
    let base = format!("/installations/{}/metrics", w.first);
    let empty = w.get(&base, &w.reader).await;
    assert_eq!(empty.status, 200);
    insta::assert_json_snapshot!("empty_page", empty.body);
    let mut ids = Vec::new();
    for day in 1..=5 {
        let start = format!("2024-03-0{day}T10:00:00Z");
        let end = format!("2024-03-0{day}T11:00:00Z");
        ids.push(
            w.add(&w.first, &metric(&w.tb, &start, &end, json!(day)))
                .await,
        );
    }
    w.add(
        &w.second,
        &metric(
            &w.tb,
            "2024-03-01T10:00:00Z",
            "2024-03-01T11:00:00Z",
            json!(9),
        ),
    )
    .await;
    let one = w.get(&format!("{base}?size=10"), &w.reader).await;
    assert_eq!(one.body["total_pages"], 1);
    assert_eq!(one.body["links"], json!([]));
    assert_eq!(one.body["size_of_page"], 5);
    let middle = w.get(&format!("{base}?page=2&size=2"), &w.reader).await;
    insta::assert_json_snapshot!("middle_page", middle.body);
    let content: Vec<&str> = middle.body["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(content, [ids[2].as_str(), ids[3].as_str()]);
    let last = w.get(&format!("{base}?page=3&size=2"), &w.reader).await;
    let rels: Vec<&str> = last.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, ["first", "last", "self", "prev"]);
    assert_eq!(
        last.body["links"][0]["href"],
        json!(format!("http://HOST/accounting-system{base}?page=1&size=1"))
    );
    let past = w.get(&format!("{base}?page=9&size=2"), &w.reader).await;
    assert_eq!(
        (
            past.status,
            &past.body["content"],
            &past.body["links"],
            &past.body["total_elements"]
        ),
        (200, &json!([]), &json!([]), &json!(5))
    );
    for (query, message) in [
        ("page=0", "Page number must be >= 1."),
        ("size=101", "Page size must be between 1 and 100."),
        (
            "start=01/03/2024",
            "The date format must be as follows YYYY-MM-DD",
        ),
        (
            "start=2024-03-02&end=2024-03-02",
            "start cannot be after end.",
        ),
    ] {
        let answer = w.get(&format!("{base}?{query}"), &w.reader).await;
        assert_eq!((answer.status, answer.body), (400, error(400, message)));
    }
    // Date semantics: both bounds → start ≤ start, end ≤ midnight of `end`.
    let count = |q: &'static str| {
        let path = format!("{base}?{q}");
        let w = &w;
        async move { w.get(&path, &w.reader).await.body["total_elements"].clone() }
    };
    assert_eq!(count("start=2024-03-02&end=2024-03-04").await, json!(2));
    assert_eq!(count("start=2024-03-02").await, json!(4));
    assert_eq!(count("end=2024-03-02").await, json!(2));
    assert_eq!(
        count("metric-definition-id=000000000000000000000000").await,
        json!(0)
    );
    // The project's and the provider's listings hold both installations.
    let project = w.get("/projects/725025/metrics", &w.reader).await;
    assert_eq!(project.body["total_elements"], 6);
    let provider = w
        .get("/projects/725025/providers/grnet/metrics", &w.reader)
        .await;
    assert_eq!(provider.body["total_elements"], 6);
    for (path, message) in [
        (
            "/projects/1/metrics",
            "There is no Project with the following id: 1",
        ),
        (
            "/projects/725025/providers/nope/metrics",
            "There is no Provider with the following id: nope",
        ),
    ] {
        let answer = w.get(path, &w.admin).await;
        assert_eq!((answer.status, answer.body), (404, error(404, message)));
    }
}

#[tokio::test]
async fn groups_users_and_definitions_filter() {
    let w = setup().await;
    let mut body = metric(
        &w.tb,
        "2024-03-01T10:00:00Z",
        "2024-03-01T11:00:00Z",
        json!(1),
    );
    body["group_id"] = json!("g1");
    body["user_id"] = json!("u1");
    w.add(&w.first, &body).await;
    body["user_id"] = json!("u2");
    body["metric_definition_id"] = json!(w.count);
    w.add(&w.second, &body).await;
    let total = |a: Answer| a.body["total_elements"].clone();
    assert_eq!(
        total(
            w.get("/projects/projects/725025/groups/g1/metrics", &w.reader)
                .await
        ),
        json!(2)
    );
    assert_eq!(
        total(
            w.get("/projects/projects/725025/users/u2/metrics", &w.reader)
                .await
        ),
        json!(1)
    );
    assert_eq!(
        total(
            w.get(
                &format!("/projects/725025/metrics?metric-definition-id={}", w.count),
                &w.reader
            )
            .await
        ),
        json!(1)
    );
    let listed = w
        .get("/projects/projects/725025/users/u1/metrics", &w.reader)
        .await;
    insta::assert_snapshot!("list_page", listed.text);
}

/// `GET …/metric-definitions` lists the definitions used underneath, each
/// once, from the rollup; a deleted metric's definition leaves the listing.
#[tokio::test]
async fn definitions_used_underneath() {
    let w = setup().await;
    let at = |day: u32| {
        (
            format!("2024-03-{day:02}T10:00:00Z"),
            format!("2024-03-{day:02}T11:00:00Z"),
        )
    };
    for day in [1, 2] {
        let (start, end) = at(day);
        w.add(&w.first, &metric(&w.tb, &start, &end, json!(1)))
            .await;
    }
    let (start, end) = at(3);
    let counted = w
        .add(&w.second, &metric(&w.count, &start, &end, json!(5)))
        .await;
    let names = |a: Answer| -> Vec<String> {
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["metric_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let project = "/projects/725025/metric-definitions";
    assert_eq!(
        names(w.get(project, &w.reader).await),
        ["storage", "requests"]
    );
    assert_eq!(
        names(
            w.get(
                "/projects/725025/providers/grnet/metric-definitions",
                &w.reader
            )
            .await
        ),
        ["storage", "requests"]
    );
    let first = format!("/installations/{}/metric-definitions", w.first);
    assert_eq!(names(w.get(&first, &w.first_admin).await), ["storage"]);
    let second = format!("/installations/{}/metric-definitions", w.second);
    assert_eq!(w.get(&second, &w.first_admin).await.status, 403);
    assert_eq!(w.get(project, &w.nobody).await.status, 403);
    assert_eq!(
        w.get("/projects/999/metric-definitions", &w.reader)
            .await
            .body,
        error(404, "There is no Project with the following id: 999")
    );
    let one = w.get(&format!("{project}?size=1&page=2"), &w.reader).await;
    assert_eq!(
        (
            one.body["total_elements"].clone(),
            one.body["size_of_page"].clone()
        ),
        (json!(2), json!(1))
    );
    insta::assert_snapshot!("used_definitions_page", one.text);
    let deleted = w
        .delete(
            &format!("/installations/{}/metrics/{counted}", w.second),
            &w.admin,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(names(w.get(project, &w.reader).await), ["storage"]);
    assert_eq!(names(w.get(&second, &w.reader).await), Vec::<String>::new());
}

#[tokio::test]
async fn access_follows_the_scoped_roles() {
    let w = setup().await;
    let body = metric(
        &w.tb,
        "2024-03-01T10:00:00Z",
        "2024-03-01T11:00:00Z",
        json!(1),
    );
    let mine = w.add(&w.first, &body).await;
    let sibling = w.add(&w.second, &body).await;
    let foreign = w.add(&w.foreign, &body).await;
    let forbidden = error(
        403,
        "The authenticated client is not permitted to perform the requested operation.",
    );
    let first = format!("/installations/{}/metrics", w.first);
    let second = format!("/installations/{}/metrics", w.second);

    // A project reader reads, never writes.
    assert_eq!(
        w.get(&format!("{first}/{mine}"), &w.reader).await.status,
        200
    );
    assert_eq!(w.get(&first, &w.reader).await.status, 200);
    for answer in [
        w.post(&first, &w.reader, &body).await,
        w.patch(&format!("{first}/{mine}"), &w.reader, &json!({"value": 2}))
            .await,
        w.delete(&format!("{first}/{mine}"), &w.reader).await,
    ] {
        assert_eq!((answer.status, &answer.body), (403, &forbidden));
    }

    // An installation admin acts on theirs, not on a sibling's.
    assert_eq!(w.post(&first, &w.first_admin, &body).await.status, 201);
    let answer = w.post(&second, &w.first_admin, &body).await;
    assert_eq!((answer.status, &answer.body), (403, &forbidden));
    assert_eq!(
        w.patch(
            &format!("{second}/{sibling}"),
            &w.first_admin,
            &json!({"value": 3})
        )
        .await
        .status,
        403
    );
    // The sibling's metric is not found under their installation.
    let answer = w
        .patch(
            &format!("{first}/{sibling}"),
            &w.first_admin,
            &json!({"value": 3}),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body),
        (
            404,
            error(
                404,
                &format!("There is no Metric with the following id: {sibling}")
            )
        )
    );
    assert_eq!(w.get(&second, &w.first_admin).await.status, 403);
    assert_eq!(
        w.get("/projects/725025/metrics", &w.first_admin)
            .await
            .status,
        403
    );

    // A provider admin reads their provider's metrics, not the project's.
    let answer = w
        .get(
            "/projects/725025/providers/grnet/metrics",
            &w.provider_admin,
        )
        .await;
    assert_eq!(answer.body["total_elements"], 3);
    assert_eq!(
        w.get("/projects/725025/metrics", &w.provider_admin)
            .await
            .status,
        403
    );
    assert_eq!(
        w.delete(&format!("{second}/{sibling}"), &w.provider_admin)
            .await
            .status,
        200
    );

    // Nobody and the other project's metrics.
    let answer = w.get("/projects/725025/metrics", &w.nobody).await;
    assert_eq!((answer.status, &answer.body), (403, &forbidden));
    let answer = w.get("/projects/101017567/metrics", &w.project_admin).await;
    assert_eq!(answer.status, 403);
    let answer = w
        .get(
            &format!("/installations/{}/metrics/{foreign}", w.foreign),
            &w.project_admin,
        )
        .await;
    assert_eq!(answer.status, 403);
    let listed = w.get("/projects/725025/metrics", &w.project_admin).await;
    assert!(
        listed.body["content"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != json!(foreign))
    );
    w.consistent().await;
}

#[tokio::test]
async fn idempotency_keys_and_bulk_posts() {
    let w = setup().await;
    let base = format!("/installations/{}/metrics", w.first);
    let body = metric(
        &w.tb,
        "2024-03-01T10:00:00Z",
        "2024-03-01T11:00:00Z",
        json!(4),
    );
    let first = w
        .call(Method::POST, &base, &w.admin, Some(&body), Some("k-1"))
        .await;
    let again = w
        .call(Method::POST, &base, &w.admin, Some(&body), Some("k-1"))
        .await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.body, again.body);
    let mut other = body.clone();
    other["value"] = json!(5);
    let conflict = w
        .call(Method::POST, &base, &w.admin, Some(&other), Some("k-1"))
        .await;
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    let stored = metrics::Entity::find().all(&w.app.db.conn).await.unwrap();
    assert_eq!(stored.len(), 1);
    w.consistent().await;

    // Bulk: all or nothing, errors by index.
    let bulk = format!("{base}/bulk");
    let mut keyed = body.clone();
    keyed["idempotency_key"] = json!("k-2");
    let good = json!([
        keyed,
        metric(
            &w.count,
            "2024-03-02T10:00:00Z",
            "2024-03-02T11:00:00Z",
            json!(1)
        )
    ]);
    let answer = w.post(&bulk, &w.admin, &good).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["metrics"].as_array().unwrap().len(), 2);
    let bad = json!([
        metric(&w.tb, "2024-03-03T10:00:00Z", "2024-03-03T11:00:00Z", json!(1)),
        metric(&w.tb, "2024-03-03T10:00:00Z", "2024-03-03T10:00:00Z", json!(1)),
        {"metric_definition_id": w.tb, "time_period_start": "2024-03-03T10:00:00Z",
         "time_period_end": "2024-03-03T11:00:00Z"},
    ]);
    let answer = w.post(&bulk, &w.admin, &bad).await;
    assert_eq!(answer.status, 400);
    insta::assert_json_snapshot!("bulk_refused", answer.body);
    let stored = metrics::Entity::find().all(&w.app.db.conn).await.unwrap();
    assert_eq!(stored.len(), 3);
    let answer = w.post(&bulk, &w.reader, &good).await;
    assert_eq!(answer.status, 403);
    w.consistent().await;
}

#[tokio::test]
async fn operands_and_operators() {
    let w = setup().await;
    let operands = w.get("/operands", &w.nobody).await;
    assert_eq!(
        operands.body[0],
        json!({"label": "eq", "display_value": "=="})
    );
    assert_eq!(operands.body.as_array().unwrap().len(), 6);
    let operators = w.get("/operators", &w.nobody).await;
    assert_eq!(
        operators.body,
        json!([{"label":"and","display_value":"AND"},{"label":"or","display_value":"OR"}])
    );
}
