//! Identity and access control over HTTP: the token matrix on every route and
//! GraphQL root field, project isolation, HEAppE session codes, client DNs, and
//! logs free of credentials.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tally::auth::Scope;

use crate::helpers::world::{self, PASSWORD};
use crate::helpers::{TestApp, TestDb};

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
const ISSUER: &str = "tally-test";
const AUDIENCE: &str = "tally-test-api";
const OIDC_ISSUER: &str = "https://idp.example.org";
const OIDC_AUDIENCE: &str = "tally-dashboard";
const RSA_PRIVATE: &str = include_str!("keys/rsa-test-only.key");
const RSA_PUBLIC: &str = include_str!("keys/rsa-test-only.pub");

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(sub: &str, iss: &str, aud: &str, exp: u64) -> Value {
    json!({ "sub": sub, "iss": iss, "aud": aud, "exp": exp, "iat": now() })
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(secret), claims)
}

/// An app with a known HS256 secret and the test RSA key as an external
/// provider's key.
async fn app() -> TestApp {
    let db = TestDb::empty().await;
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/rsa-test-only.pub");
    let config = db.config_with(&[
        ("TALLY_JWT_SECRET", SECRET),
        ("TALLY_JWT_ISSUER", ISSUER),
        ("TALLY_JWT_AUDIENCE", AUDIENCE),
        ("TALLY_JWT_PUBLIC_KEY_FILES", keys),
        ("TALLY_OIDC_ISSUER", OIDC_ISSUER),
        ("TALLY_OIDC_AUDIENCE", OIDC_AUDIENCE),
    ]);
    TestApp::spawn_with(db, config).await
}

/// Two projects, each with a group, a cluster and jobs; `alice` reports on A
/// only, `bob` on B only, `carol` has no grant, `root` administers everything.
struct World {
    alice: i64,
    bob: i64,
    carol: i64,
    root: i64,
    a_id: i64,
    b_id: i64,
}

async fn world(app: &TestApp) -> World {
    let db = &app.db.conn;
    let a = world::project(db, "PROJ-A").await;
    let b = world::project(db, "PROJ-B").await;
    let group_a = world::group(db, &a, "group-a").await;
    let group_b = world::group(db, &b, "group-b").await;
    let alice = world::user(
        db,
        "alice",
        "heappe_group_reporter",
        Scope::UserGroup(group_a.id),
    )
    .await;
    let bob = world::user(db, "bob", "heappe_submitter", Scope::UserGroup(group_b.id)).await;
    let carol = world::user(db, "carol", "", Scope::System).await;
    let root = world::user(db, "root", "system_admin", Scope::System).await;
    let cluster = world::cluster(db, "karolina").await;
    world::job(db, &cluster, &a, "1", 16).await;
    world::job(db, &cluster, &a, "2", 16).await;
    world::job(db, &cluster, &a, "3", 32).await;
    world::job(db, &cluster, &b, "4", 8).await;
    World {
        alice,
        bob,
        carol,
        root,
        a_id: a.id,
        b_id: b.id,
    }
}

/// Every way a bearer token can be wrong, by name.
fn bad_tokens(user: i64) -> Vec<(&'static str, String)> {
    let sub = user.to_string();
    let valid = |exp| claims(&sub, ISSUER, AUDIENCE, exp);
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(valid(now() + 600).to_string());
    let mut not_yet = valid(now() + 3600);
    not_yet["nbf"] = json!(now() + 600);
    vec![
        ("expired", hs256(&valid(now() - 120), SECRET.as_bytes())),
        ("not yet valid", hs256(&not_yet, SECRET.as_bytes())),
        (
            "wrong issuer",
            hs256(
                &claims(&sub, "someone-else", AUDIENCE, now() + 600),
                SECRET.as_bytes(),
            ),
        ),
        (
            "wrong audience",
            hs256(
                &claims(&sub, ISSUER, "another-api", now() + 600),
                SECRET.as_bytes(),
            ),
        ),
        (
            "forged signature",
            hs256(
                &valid(now() + 600),
                b"not-the-secret-not-the-secret-not-the-secret",
            ),
        ),
        ("alg none", format!("{header}.{body}.")),
        (
            "HS256 signed with the RSA public key",
            hs256(&valid(now() + 600), RSA_PUBLIC.as_bytes()),
        ),
        (
            "RS256 from the provider with Tally's issuer",
            sign(Algorithm::RS256, &rsa, &valid(now() + 600)),
        ),
        (
            "RS256 with a wrong audience",
            sign(
                Algorithm::RS256,
                &rsa,
                &claims("ext", OIDC_ISSUER, "other", now() + 600),
            ),
        ),
        (
            "no exp",
            hs256(
                &json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE }),
                SECRET.as_bytes(),
            ),
        ),
        (
            "unknown user",
            hs256(
                &claims("999999", ISSUER, AUDIENCE, now() + 600),
                SECRET.as_bytes(),
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
    ]
}

/// The GraphQL root fields, each with a query that selects it.
const ROOT_FIELDS: &[(&str, &str)] = &[
    ("apiVersion", "{ apiVersion }"),
    ("viewer", "{ viewer { name grants { role } } }"),
    (
        "projects",
        "{ projects(first: 10) { totalCount edges { node { accountingString } } } }",
    ),
    (
        "project",
        r#"{ project(by: { accountingString: "PROJ-B" }) { name } }"#,
    ),
];

const HEAPPE_STATES: &str = "/heappe/JobReporting/JobsStateAgregationReport";

/// Every HEAppE reporting route, with a query it accepts.
const HEAPPE_REPORTS: &[&str] = &[
    "/heappe/JobReporting/ListAdaptorUserGroups",
    "/heappe/JobReporting/UserResourceUsageReport?userId=1",
    "/heappe/JobReporting/UserGroupResourceUsageReport?groupId=1",
    "/heappe/JobReporting/AggregatedUserGroupResourceUsageReport",
    "/heappe/JobReporting/ResourceUsageReportForJob?jobId=1",
    HEAPPE_STATES,
    "/heappe/JobReporting/JobsDetailedReport",
];

/// Every EOSC Accounting System route (eosc.md §1.2, §1.3, and Tally's bulk
/// post), with its method and what a caller who is authenticated but holds no
/// EOSC role gets (eosc.md §5: nothing granted is NEVER): 403, or 200 where
/// upstream lets any authenticated client in. `{inst}`, `{metric}`, `{def}`,
/// `{unit}` and `{kind}` are ids of [`eosc_world`]; every route is
/// `@Authenticated` upstream.
const EOSC_ROUTES: &[(&str, &str, u16)] = &[
    ("GET", "/metric-definitions", 403),
    ("POST", "/metric-definitions", 403),
    ("GET", "/metric-definitions/{def}", 403),
    ("PATCH", "/metric-definitions/{def}", 403),
    ("DELETE", "/metric-definitions/{def}", 403),
    ("GET", "/unit-types", 403),
    ("POST", "/unit-types", 403),
    ("GET", "/unit-types/{unit}", 403),
    ("PATCH", "/unit-types/{unit}", 403),
    ("DELETE", "/unit-types/{unit}", 403),
    ("GET", "/metric-types", 403),
    ("POST", "/metric-types", 403),
    ("GET", "/metric-types/{kind}", 403),
    ("PATCH", "/metric-types/{kind}", 403),
    ("DELETE", "/metric-types/{kind}", 403),
    ("GET", "/providers", 403),
    ("POST", "/providers", 403),
    ("GET", "/providers/grnet", 403),
    ("PATCH", "/providers/grnet", 403),
    ("DELETE", "/providers/grnet", 403),
    ("POST", "/admin/projects", 403),
    ("GET", "/projects/725025", 403),
    ("POST", "/projects/725025/associate", 403),
    ("POST", "/projects/725025/dissociate", 403),
    ("GET", "/projects/725025/installations", 403),
    ("GET", "/projects/725025/providers/grnet/installations", 403),
    ("POST", "/installations", 403),
    ("GET", "/installations/{inst}", 403),
    ("PATCH", "/installations/{inst}", 403),
    ("DELETE", "/installations/{inst}", 403),
    ("POST", "/installations/{inst}/metrics", 403),
    ("POST", "/installations/{inst}/metrics/bulk", 403),
    ("GET", "/installations/{inst}/metrics", 403),
    ("GET", "/installations/{inst}/metrics/{metric}", 403),
    ("PATCH", "/installations/{inst}/metrics/{metric}", 403),
    ("DELETE", "/installations/{inst}/metrics/{metric}", 403),
    ("GET", "/installations/{inst}/metric-definitions", 403),
    ("GET", "/projects/725025/metrics", 403),
    ("GET", "/projects/725025/metric-definitions", 403),
    ("GET", "/projects/725025/providers/grnet/metrics", 403),
    (
        "GET",
        "/projects/725025/providers/grnet/metric-definitions",
        403,
    ),
    ("GET", "/projects/projects/725025/groups/g1/metrics", 403),
    ("GET", "/projects/projects/725025/users/u1/metrics", 403),
    // Provider.READ, as the whole collection.
    ("GET", "/providers/all", 403),
    // Open to any authenticated client upstream: the caller's own projects
    // and the search vocabulary.
    ("GET", "/projects", 200),
    ("GET", "/operands", 200),
    ("GET", "/operators", 200),
];

/// A JSON body that would be accepted from a caller with the right, so that
/// a refusal is about the caller, not the body.
fn eosc_body(method: &str, path: &str, ids: &EoscIds) -> Option<Value> {
    let metric = json!({
        "metric_definition_id": ids.def,
        "time_period_start": "2024-03-02T10:00:00Z",
        "time_period_end": "2024-03-02T11:00:00Z",
        "value": 1,
    });
    Some(match (method, path) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "/metric-definitions") => json!({
            "metric_name": "new", "unit_type": "TB", "metric_type": "aggregated"
        }),
        ("POST", "/unit-types") => json!({"unit_type": "PB", "description": "petabytes"}),
        ("POST", "/metric-types") => json!({"metric_type": "peak", "description": "peaks"}),
        ("POST", "/providers") => json!({"id": "other", "name": "Other"}),
        ("POST", "/admin/projects") => json!({
            "id": "101", "acronym": "A", "title": "T", "start_date": "2024-01-01",
            "end_date": "2025-01-01", "call_identifier": "C"
        }),
        ("POST", p) if p.ends_with("sociate") => json!({"providers": ["grnet"]}),
        ("POST", "/installations") => json!({
            "project": "725025", "organisation": "grnet", "installation": "NEW"
        }),
        ("POST", p) if p.ends_with("/bulk") => json!([metric]),
        ("POST", p) if p.ends_with("/metrics") => metric,
        ("PATCH", p) if p.contains("/metrics/") => json!({"value": 9}),
        ("PATCH", "/installations/{inst}") => json!({"installation": "RENAMED"}),
        ("PATCH", _) => {
            json!({"description": "changed", "metric_description": "changed", "name": "Changed"})
        }
        (method, path) => panic!("no body for {method} {path}"),
    })
}

/// Ids of [`eosc_world`]'s rows, as the routes write them.
struct EoscIds {
    inst: String,
    metric: String,
    def: String,
    unit: String,
    kind: String,
}

impl EoscIds {
    fn path(&self, template: &str) -> String {
        let path = template
            .replace("{inst}", &self.inst)
            .replace("{metric}", &self.metric)
            .replace("{def}", &self.def)
            .replace("{unit}", &self.unit)
            .replace("{kind}", &self.kind);
        format!("/accounting-system{path}")
    }
}

/// Project 725025 with provider `grnet`, installation `KNOSSOS`, definition
/// `storage` (TB) and one metric of group `g1` and user `u1`, posted by
/// `admin` (a system administrator).
async fn eosc_world(app: &TestApp, admin: &str) -> EoscIds {
    use crate::eosc_rest_metrics::{definition, eosc_project, installation, provider};
    use tally::entity::{metric_types, unit_types};
    use tally::service::eosc::external_id;
    let db = &app.db.conn;
    let project = eosc_project(db, "725025", "EGI-ACE").await;
    let (grnet, _) = provider(db, "grnet", project.id).await;
    let inst = external_id(installation(db, project.id, grnet, "KNOSSOS").await);
    let def = definition(db, "storage", "TB").await;
    let (status, body) = eosc_call(
        app,
        Some(admin),
        "POST",
        &format!("/accounting-system/installations/{inst}/metrics"),
        Some(&json!({
            "metric_definition_id": def,
            "time_period_start": "2024-03-01T10:00:00Z",
            "time_period_end": "2024-03-01T11:00:00Z",
            "value": 4,
            "group_id": "g1",
            "user_id": "u1",
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let metric: Value = serde_json::from_str(&body).unwrap();
    let unit = unit_types::Entity::find_by_name("TB")
        .one(db)
        .await
        .unwrap();
    let kind = metric_types::Entity::find_by_name("aggregated")
        .one(db)
        .await
        .unwrap();
    EoscIds {
        inst,
        metric: metric["metric_id"].as_str().unwrap().to_owned(),
        def,
        unit: external_id(unit.unwrap().id),
        kind: external_id(kind.unwrap().id),
    }
}

/// `method path` with an optional bearer token and JSON body: status, body.
async fn eosc_call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request sent");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

/// Row counts of every table an EOSC route writes.
async fn eosc_fingerprint(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "metrics",
        "eosc_metric_daily",
        "metric_definitions",
        "unit_types",
        "metric_types",
        "providers",
        "projects",
        "project_providers",
        "installations",
        "grants",
    ] {
        counts.push((table, count_rows(app, table).await));
    }
    counts
}

async fn count_rows(app: &TestApp, table: &str) -> i64 {
    use sea_orm::ConnectionTrait as _;
    let db = &app.db.conn;
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}");
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn refused_tokens_get_401_and_no_data_everywhere() {
    let app = app().await;
    let w = world(&app).await;
    let eosc = eosc_world(&app, &app.token_for(w.root)).await;
    let before = eosc_fingerprint(&app).await;
    for (case, token) in bad_tokens(w.alice) {
        for (field, query) in ROOT_FIELDS {
            let (status, body) = app.graphql_as(Some(&token), query).await;
            assert_eq!(status, 401, "{case} on {field}: {body}");
            assert_eq!(body["data"], Value::Null, "{case} on {field}");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{case} on {field}"
            );
        }
        let (status, body) = app.get_as(Some(&token), "/api/v1/whoami").await;
        assert_eq!(status, 401, "{case} on whoami: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
            "UNAUTHENTICATED"
        );
        for route in HEAPPE_REPORTS {
            let (status, body) = app.get_as(Some(&token), route).await;
            assert_eq!(status, 401, "{case} on {route}: {body}");
            let problem: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                problem,
                json!({ "title": "Unauthorized Access", "status": 401, "detail": "Unauthorized" }),
                "{case} on {route}"
            );
        }
        for (method, template, _) in EOSC_ROUTES {
            let path = eosc.path(template);
            let payload = eosc_body(method, template, &eosc);
            let (status, body) =
                eosc_call(&app, Some(&token), method, &path, payload.as_ref()).await;
            assert_eq!(status, 401, "{case} on {method} {path}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["code"], 401, "{case} on {method} {path}");
            assert!(body["message"].is_string(), "{case} on {method} {path}");
        }
    }
    assert_eq!(
        eosc_fingerprint(&app).await,
        before,
        "a refused caller changed nothing"
    );
}

#[tokio::test]
async fn anonymous_callers_get_only_public_fields() {
    let app = app().await;
    world(&app).await;
    let (status, body) = app.graphql_as(None, "{ apiVersion }").await;
    assert_eq!(
        (status, body["data"]["apiVersion"].as_str()),
        (200, Some(env!("CARGO_PKG_VERSION")))
    );
    for (field, query) in &ROOT_FIELDS[1..] {
        let (status, body) = app.graphql_as(None, query).await;
        assert_eq!(status, 200, "{field}");
        assert_eq!(body["data"], Value::Null, "{field}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{field}"
        );
    }
    let (status, body) = app.get_as(None, "/api/v1/whoami").await;
    assert_eq!(status, 200);
    let whoami: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (whoami["authenticated"].clone(), whoami["grants"].clone()),
        (json!(false), json!([]))
    );
    for route in HEAPPE_REPORTS {
        let (status, body) = app.get_as(None, route).await;
        assert_eq!(status, 401, "{route}: {body}");
    }
}

/// Without a token every EOSC route is 401; with one but no EOSC role, every
/// route outside the caller's own lists is 403 (eosc.md §5), the lists are
/// empty, and nothing is written.
#[tokio::test]
async fn eosc_routes_refuse_callers_without_a_role() {
    let app = app().await;
    let w = world(&app).await;
    let eosc = eosc_world(&app, &app.token_for(w.root)).await;
    let before = eosc_fingerprint(&app).await;
    let carol = app.token_for(w.carol);
    for (method, template, expected) in EOSC_ROUTES {
        let path = eosc.path(template);
        let payload = eosc_body(method, template, &eosc);
        let (status, body) = eosc_call(&app, None, method, &path, payload.as_ref()).await;
        assert_eq!(status, 401, "anonymous {method} {path}: {body}");
        let (status, body) = eosc_call(&app, Some(&carol), method, &path, payload.as_ref()).await;
        assert_eq!(status, *expected, "{method} {path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        if status == 403 {
            assert_eq!(body["code"], 403, "{method} {path}");
        } else if let Some(total) = body.get("total_elements") {
            assert_eq!(total, 0, "{method} {path} lists nothing of others");
        }
    }
    assert_eq!(
        eosc_fingerprint(&app).await,
        before,
        "a refused caller changed nothing"
    );
}

/// A user whose only grant is on project A sees nothing of project B: not in a
/// list, not in a total, not by name, not by id, not in a HEAppE report.
#[tokio::test]
async fn a_user_of_project_a_sees_nothing_of_project_b() {
    let app = app().await;
    let w = world(&app).await;
    let alice = app.token_for(w.alice);
    let (_, body) = app.graphql_as(Some(&alice), ROOT_FIELDS[2].1).await;
    assert_eq!(body["data"]["projects"]["totalCount"], 1, "{body}");
    assert_eq!(
        body["data"]["projects"]["edges"],
        json!([{ "node": { "accountingString": "PROJ-A" } }])
    );
    let (_, body) = app.graphql_as(Some(&alice), ROOT_FIELDS[3].1).await;
    assert_eq!(body, json!({ "data": { "project": null } }));
    let b_id = tally::graphql::GlobalId::encode("Project", w.b_id).0;
    let (_, body) = app
        .graphql_as(
            Some(&alice),
            &format!(r#"{{ project(by: {{ id: "{b_id}" }}) {{ name }} }}"#),
        )
        .await;
    assert_eq!(body, json!({ "data": { "project": null } }));
    let a_id = tally::graphql::GlobalId::encode("Project", w.a_id).0;
    let (_, body) = app
        .graphql_as(
            Some(&alice),
            &format!(r#"{{ project(by: {{ id: "{a_id}" }}) {{ name }} }}"#),
        )
        .await;
    assert_eq!(body["data"]["project"]["name"], "Project PROJ-A");

    // HEAppE: A has 2 finished and 1 failed job; B's running job is not counted.
    let (status, body) = app.get_as(Some(&alice), HEAPPE_STATES).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([
            { "JobStateId": 16, "JobStateName": "Finished", "Count": 2 },
            { "JobStateId": 32, "JobStateName": "Failed", "Count": 1 },
        ])
    );
    // Bob, a Submitter on B (Submitter contains GroupReporter), sees only B.
    let (_, body) = app.get_as(Some(&app.token_for(w.bob)), HEAPPE_STATES).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([{ "JobStateId": 8, "JobStateName": "Running", "Count": 1 }])
    );
    // Carol holds nothing: no projects, and HEAppE says which role is missing.
    let carol = app.token_for(w.carol);
    let (_, body) = app.graphql_as(Some(&carol), ROOT_FIELDS[2].1).await;
    assert_eq!(
        body["data"]["projects"],
        json!({ "totalCount": 0, "edges": [] })
    );
    let (status, body) = app.get_as(Some(&carol), HEAPPE_STATES).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "title": "Unauthorized Access", "status": 401, "detail": "MissingRole:GroupReporter" })
    );
    // The administrator sees both.
    let (_, body) = app
        .graphql_as(Some(&app.token_for(w.root)), ROOT_FIELDS[2].1)
        .await;
    assert_eq!(body["data"]["projects"]["totalCount"], 2);
}

/// Tokens of the external OIDC provider: a known identity gets its grants, an
/// unknown one is authenticated but sees nothing.
#[tokio::test]
async fn external_provider_tokens() {
    let app = app().await;
    let w = world(&app).await;
    use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _};
    let alice = tally::entity::users::Entity::find_by_id(w.alice)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let mut linked: tally::entity::users::ActiveModel = alice.into();
    linked.external_issuer = Set(Some(OIDC_ISSUER.to_owned()));
    linked.external_subject = Set(Some("alice@idp".to_owned()));
    linked.update(&app.db.conn).await.unwrap();

    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let known = sign(
        Algorithm::RS256,
        &rsa,
        &claims("alice@idp", OIDC_ISSUER, OIDC_AUDIENCE, now() + 600),
    );
    let (status, body) = app.graphql_as(Some(&known), ROOT_FIELDS[2].1).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["projects"]["totalCount"], 1, "{body}");

    let stranger = sign(
        Algorithm::RS256,
        &rsa,
        &claims("nobody@idp", OIDC_ISSUER, OIDC_AUDIENCE, now() + 600),
    );
    let (_, body) = app
        .graphql_as(
            Some(&stranger),
            "{ viewer { name userId grants { role } } projects(first: 5) { totalCount } }",
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "viewer": { "name": "nobody@idp", "userId": null, "grants": [] }, "projects": { "totalCount": 0 } })
    );
    let expired = sign(
        Algorithm::RS256,
        &rsa,
        &claims("alice@idp", OIDC_ISSUER, OIDC_AUDIENCE, now() - 120),
    );
    assert_eq!(
        app.graphql_as(Some(&expired), "{ apiVersion }").await.0,
        401
    );
}

/// The generated HS256 key is kept in the database: tokens survive a restart.
#[tokio::test]
async fn generated_signing_key_survives_restarts() {
    let db = TestDb::new().await;
    let config = db.config();
    assert!(config.jwt.secret.is_none());
    let first = tally::app::build_authenticator(&config, &db.conn)
        .await
        .unwrap();
    let token = first.keys.issue(7, "someone", 60).unwrap();
    let second = tally::app::build_authenticator(&config, &db.conn)
        .await
        .unwrap();
    assert_eq!(
        second.keys.verify(&token),
        Ok(tally::auth::jwt::TokenSubject::Local(7))
    );
}

async fn authenticate(app: &TestApp, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/heappe/UserAndLimitationManagement/AuthenticateUserPassword"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Pretends the session started and was last used `seconds_ago`.
async fn set_last_access(app: &TestApp, seconds_ago: i64) {
    use sea_orm::EntityTrait as _;
    use sea_orm::sea_query::Expr;
    use tally::entity::session_codes::{Column, Entity};
    let at = chrono::Utc::now() - chrono::Duration::seconds(seconds_ago);
    Entity::update_many()
        .col_expr(Column::AuthenticatedAt, Expr::val(at))
        .col_expr(Column::LastAccessAt, Expr::val(at))
        .exec(&app.db.conn)
        .await
        .unwrap();
}

async fn last_access(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    use sea_orm::EntityTrait as _;
    tally::entity::session_codes::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .last_access_at
}

#[tokio::test]
async fn heappe_session_codes() {
    let app = app().await;
    world(&app).await;
    let credentials =
        format!(r#"{{"Credentials":{{"Username":"alice","Password":"{PASSWORD}"}}}}"#);
    let (status, code) = authenticate(&app, &credentials).await;
    assert_eq!(status, 200);
    let code = code.as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&code).is_ok(), "a GUID: {code}");

    // Re-authenticating while the code is valid returns the same code; names are
    // case-insensitive, and HEAppE's `UserName` spelling works.
    let lower = format!(r#"{{"credentials":{{"userName":"alice","password":"{PASSWORD}"}}}}"#);
    assert_eq!(authenticate(&app, &lower).await, (200, json!(code)));

    // The code works as `sessionCode` (any case of the name).
    let path = format!("{HEAPPE_STATES}?SessionCode={code}");
    let (status, body) = app.get_as(None, &path).await;
    assert_eq!(status, 200, "{body}");

    // Sliding expiry: a use shortly before expiry renews the code.
    set_last_access(&app, 900 - 5).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(
        app.get_as(None, &format!("{HEAPPE_STATES}?sessionCode={code}"))
            .await
            .0,
        200
    );
    assert!(last_access(&app).await > before, "the use renewed the code");

    // Unused for longer than the lifetime: expired, with upstream's title and detail.
    set_last_access(&app, 901).await;
    let (status, body) = app
        .get_as(None, &format!("{HEAPPE_STATES}?sessionCode={code}"))
        .await;
    assert_eq!(status, 401);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["title"], "Session Code Authentication Problem");
    let detail = problem["detail"].as_str().unwrap();
    let prefix = format!("Session code '{code}' already expired at '");
    assert!(
        detail.starts_with(&prefix) && detail.ends_with("Z'."),
        "{detail}"
    );
    let at = &detail[prefix.len()..detail.len() - 3];
    assert!(
        chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.3f").is_ok(),
        "{at}"
    );
    assert_eq!(at.len(), "2026-01-01T00:00:00.000".len());

    // After expiry, authenticating gives a new code.
    let (_, fresh) = authenticate(&app, &credentials).await;
    assert_ne!(fresh, json!(code));

    // Unknown code, wrong password, missing credentials, oversized body.
    let unknown =
        json!({ "title": "Unauthorized Access", "status": 401, "detail": "Unauthorized" });
    let (status, body) = app
        .get_as(
            None,
            &format!("{HEAPPE_STATES}?sessionCode={}", uuid::Uuid::new_v4()),
        )
        .await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (401, unknown.clone())
    );
    let (status, body) = authenticate(
        &app,
        r#"{"Credentials":{"Username":"alice","Password":"wrong"}}"#,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"],
        "Authentication of user 'alice' was not successful."
    );
    let (status, body) = authenticate(
        &app,
        r#"{"Credentials":{"Username":"nobody","Password":"wrong"}}"#,
    )
    .await;
    assert_eq!(
        (status, body["title"].as_str()),
        (401, Some("Unauthorized Access"))
    );
    assert_eq!(
        authenticate(&app, r#"{"Credentials":{}}"#).await,
        (401, unknown.clone())
    );
    assert_eq!(authenticate(&app, "{}").await, (401, unknown));
    let (status, body) = authenticate(&app, "not json").await;
    assert_eq!((status, body["status"].as_u64()), (400, Some(400)));
    let long = format!(
        r#"{{"Credentials":{{"Username":"alice","Password":"{}"}}}}"#,
        "x".repeat(150)
    );
    let (status, body) = authenticate(&app, &long).await;
    assert_eq!((status, body["status"].as_u64()), (413, Some(413)));
}

/// Logs never contain tokens, passwords or session codes, though requests
/// carry them in headers, bodies and query strings. Runs the real `tally`
/// binary with every log level on and reads what it writes.
#[tokio::test]
async fn credentials_never_reach_the_logs() {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

    let db = TestDb::new().await;
    let alice = world::user(&db.conn, "alice", "", Scope::System).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TALLY_DATABASE_URL", &db.url)
        .env("TALLY_BIND", "127.0.0.1:0")
        .env("TALLY_LOG", "trace")
        .env("TALLY_LOG_FORMAT", "json")
        .env("TALLY_JWT_SECRET", SECRET)
        .env("TALLY_JWT_ISSUER", ISSUER)
        .env("TALLY_JWT_AUDIENCE", AUDIENCE)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut logs = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).await.unwrap() > 0,
            "tally exited: {logs}"
        );
        logs.push_str(&line);
        if let Ok(event) = serde_json::from_str::<Value>(&line)
            && let Some(addr) = event["addr"].as_str()
        {
            break addr.to_owned();
        }
    };
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");
    let token = hs256(
        &claims(&alice.to_string(), ISSUER, AUDIENCE, now() + 600),
        SECRET.as_bytes(),
    );
    for bearer in [token.clone(), format!("{token}x")] {
        client
            .post(url("/graphql"))
            .bearer_auth(&bearer)
            .json(&json!({ "query": "{ viewer { name } }" }))
            .send()
            .await
            .unwrap();
    }
    let login = |password: &str| {
        client
            .post(url(
                "/heappe/UserAndLimitationManagement/AuthenticateUserPassword",
            ))
            .body(format!(
                r#"{{"Credentials":{{"Username":"alice","Password":"{password}"}}}}"#
            ))
            .send()
    };
    let code: String = login(PASSWORD).await.unwrap().json().await.unwrap();
    login("a-wrong-password").await.unwrap();
    client
        .get(url(&format!("{HEAPPE_STATES}?sessionCode={code}")))
        .send()
        .await
        .unwrap();

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    stderr.read_to_string(&mut logs).await.unwrap();
    child.wait().await.unwrap();

    assert!(
        logs.contains("/heappe/JobReporting"),
        "the requests were logged: {logs}"
    );
    for secret in [
        token.as_str(),
        PASSWORD,
        "a-wrong-password",
        code.as_str(),
        SECRET,
    ] {
        assert!(!logs.contains(secret), "a credential leaked into the logs");
    }
    // Not even a recognisable part of the token.
    assert!(!logs.contains(token.split('.').nth(1).unwrap()));
}
