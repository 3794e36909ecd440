//! Protection of `/graphql` (issue 5, item 7): requests that are too deep,
//! too large, too many, circular, or sent the wrong way are refused with a
//! clear, coded error before they touch the database, even with a valid token.

use serde_json::{Value, json};
use tally::auth::Scope;

use crate::helpers::{TestApp, TestDb, world};

/// The application with an administrator, and a token for them. The
/// recomputation worker is off so that nothing else runs statements.
async fn app_with(extra: &[(&str, &str)]) -> (TestApp, String) {
    let db = TestDb::new().await;
    let admin = world::user(&db.conn, "admin", "system_admin", Scope::System).await;
    world::project(&db.conn, "OPEN-1").await;
    let mut settings = vec![("TALLY_RECOMPUTE_POLL_SECS", "0")];
    settings.extend_from_slice(extra);
    let config = db.config_with(&settings);
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(admin);
    (app, token)
}

/// `POST /graphql` with `body` as `content_type`; the status, the `Allow`
/// header and the JSON answer.
async fn post(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, Option<String>, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

async fn get(
    app: &TestApp,
    token: Option<&str>,
    params: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut request = app.client.get(app.url("/graphql")).query(params);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.expect("a JSON answer");
    (status, allow, body)
}

fn query(text: &str) -> String {
    json!({ "query": text }).to_string()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("<none>")
}

/// Twenty levels of real fields: introspection nests as deep as one likes.
fn depth_20() -> String {
    // __schema, types, fields, type, 15 × ofType, name.
    let inner = format!("{}name{}", "ofType { ".repeat(15), " }".repeat(15));
    format!("{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}")
}

#[tokio::test]
async fn abusive_requests_are_refused_before_the_database() {
    let (app, token) = app_with(&[]).await;
    let token = Some(token.as_str());

    // The counter works: an accepted request with a token runs statements
    // (the caller's grants, then the projects).
    app.statements.reset();
    let (status, _, body) = post(
        &app,
        token,
        "application/json",
        query("{ projects(first: 5) { edges { node { accountingString } } } }"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["projects"]["edges"][0]["node"]["accountingString"],
        "OPEN-1"
    );
    assert!(
        app.statements.count() >= 2,
        "{:?}",
        app.statements.recorded()
    );

    let aliases: String = (0..500).map(|i| format!("a{i}: apiVersion ")).collect();
    let batch = Value::Array(vec![json!({ "query": "{ viewer { name } }" }); 50]).to_string();
    let cases: Vec<(&str, u16, &str, String)> = vec![
        ("depth 20", 400, "LIMIT_EXCEEDED", query(&depth_20())),
        (
            "500 aliases",
            400,
            "LIMIT_EXCEEDED",
            query(&format!("{{ {aliases} }}")),
        ),
        ("a batch of 50", 400, "LIMIT_EXCEEDED", batch),
        (
            "circular fragments",
            400,
            "BAD_USER_INPUT",
            query(
                "{ ...A } fragment A on Query { viewer { name } ...B } fragment B on Query { ...A }",
            ),
        ),
        (
            "first: 100000",
            400,
            "LIMIT_EXCEEDED",
            query("{ projects(first: 100000) { edges { node { id } } } }"),
        ),
        (
            "first: $n = 100000",
            400,
            "LIMIT_EXCEEDED",
            json!({
                "query": "query Page($n: Int) { projects(first: $n) { totalCount } }",
                "variables": { "n": 100_000 },
            })
            .to_string(),
        ),
    ];
    for (case, status, expected, body) in cases {
        app.statements.reset();
        let (got, _, answer) = post(&app, token, "application/json", body).await;
        assert_eq!((got, code(&answer)), (status, expected), "{case}: {answer}");
        assert_eq!(
            answer.get("data"),
            None,
            "{case}: nothing was executed: {answer}"
        );
        assert_eq!(
            app.statements.count(),
            0,
            "{case} touched the database: {:?}",
            app.statements.recorded()
        );
    }

    // A mutation over GET: 405, and POST is the way.
    app.statements.reset();
    let (status, allow, answer) = get(
        &app,
        token,
        &[("query", "mutation { createProject(name: \"x\") { id } }")],
    )
    .await;
    assert_eq!((status, code(&answer)), (405, "BAD_USER_INPUT"), "{answer}");
    assert_eq!(allow.as_deref(), Some("POST"));
    assert!(message(&answer).contains("POST"), "{answer}");
    assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());

    // text/plain: 415.
    app.statements.reset();
    let (status, _, answer) = post(&app, token, "text/plain", query("{ viewer { name } }")).await;
    assert_eq!((status, code(&answer)), (415, "BAD_USER_INPUT"), "{answer}");
    assert!(message(&answer).contains("application/json"), "{answer}");
    assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());

    // The messages say what the limit is and what to do.
    let (_, _, answer) = post(&app, token, "application/json", query(&depth_20())).await;
    assert!(message(&answer).contains("20 levels deep"), "{answer}");
    assert!(
        message(&answer).contains("TALLY_GRAPHQL_MAX_DEPTH"),
        "{answer}"
    );
    let (_, _, answer) = post(
        &app,
        token,
        "application/json",
        query("{ projects(first: 100000) { totalCount } }"),
    )
    .await;
    assert!(message(&answer).contains("at most 100 items"), "{answer}");
}

#[tokio::test]
async fn complexity_prices_lists_by_page_size() {
    // A page of 20 projects with 3 fields each costs 20 × (1 + 1 + 2) = 80.
    let (app, token) = app_with(&[("TALLY_GRAPHQL_MAX_COMPLEXITY", "50")]).await;
    let page = |n: u32| {
        query(&format!(
            "{{ projects(first: {n}) {{ edges {{ node {{ id name }} }} }} }}"
        ))
    };
    app.statements.reset();
    let (status, _, answer) = post(&app, Some(&token), "application/json", page(20)).await;
    assert_eq!((status, code(&answer)), (400, "LIMIT_EXCEEDED"), "{answer}");
    assert!(message(&answer).contains("costs more than 50"), "{answer}");
    assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());
    let (status, _, answer) = post(&app, Some(&token), "application/json", page(10)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"]["projects"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Without `first`, a list is priced at a full page (100).
    let (status, _, answer) = post(
        &app,
        Some(&token),
        "application/json",
        query("{ projects { edges { node { id } } } }"),
    )
    .await;
    assert_eq!((status, code(&answer)), (400, "LIMIT_EXCEEDED"), "{answer}");
}

/// Plain lists (no paging) are priced by the rows their arguments lead to
/// expect, at most a full page, so a nested report multiplies like a list.
#[tokio::test]
async fn plain_lists_are_priced_by_their_expected_rows() {
    let (app, token) = app_with(&[("TALLY_GRAPHQL_MAX_COMPLEXITY", "500")]).await;
    let refused_and_accepted = [
        // 100 projects × (1 + 5 amounts × 5): 2,600; 10 projects: 260.
        (
            "{ projects { edges { node { totalUsage(period: {from: \"2026-01-01\", to: \"2026-01-31\"}) { source unit value records } } } } }",
            "{ projects(first: 10) { edges { node { totalUsage(period: {from: \"2026-01-01\", to: \"2026-01-31\"}) { source unit value records } } } } }",
        ),
        // 5 projects × (1 + 31 days × 10 sites, capped at 100 rows, × 3
        // fields): 1,505; 2 projects × (1 + 10 sites × 2 fields): 42.
        (
            "{ projects(first: 5) { edges { node { cloudUsage(period: {from: \"2026-01-01\", to: \"2026-01-31\"}, groupBy: [DAY, SITE]) { day wallSeconds cpuSeconds } } } } }",
            "{ projects(first: 2) { edges { node { cloudUsage(period: {from: \"2026-01-01\", to: \"2026-01-31\"}) { wallSeconds cpuSeconds } } } } }",
        ),
        // 744 hours × 10 projects, capped at 100, × 7: 700; 2 months × 10
        // projects × 7: 140.
        (
            "{ usageSeries(filter: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}, bucket: HOUR, groupBy: [PROJECT]) { points { bucketStart bucketEnd unit value exact } } }",
            "{ usageSeries(filter: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}, bucket: MONTH, groupBy: [PROJECT]) { points { bucketStart bucketEnd unit value exact } } }",
        ),
    ];
    for (refused, accepted) in refused_and_accepted {
        app.statements.reset();
        let (status, _, answer) =
            post(&app, Some(&token), "application/json", query(refused)).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "LIMIT_EXCEEDED"),
            "{refused}\n{answer}"
        );
        assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());
        let (status, _, answer) =
            post(&app, Some(&token), "application/json", query(accepted)).await;
        assert_eq!(status, 200, "{accepted}\n{answer}");
        assert!(answer.get("errors").is_none(), "{accepted}\n{answer}");
    }
}

#[tokio::test]
async fn queries_run_over_get_and_in_batches() {
    let (app, token) = app_with(&[]).await;
    let (status, _, answer) = get(&app, None, &[("query", "{ apiVersion }")]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["apiVersion"], env!("CARGO_PKG_VERSION"));
    let (status, _, answer) = get(
        &app,
        Some(&token),
        &[
            (
                "query",
                "query A { apiVersion } query B($n: Int) { projects(first: $n) { totalCount } }",
            ),
            ("operationName", "B"),
            ("variables", r#"{"n": 1}"#),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["projects"]["totalCount"], 1);
    let (status, _, answer) = get(&app, None, &[("variables", "{}")]).await;
    assert_eq!((status, code(&answer)), (400, "BAD_USER_INPUT"), "{answer}");

    // A batch: one answer per operation, in order; one caller lookup for all.
    let batch = json!([
        { "query": "{ viewer { name } }" },
        { "query": "{ projects(first: 1) { totalCount } }" },
        { "query": "{ nope }" },
    ]);
    app.statements.reset();
    let (status, _, answer) = post(&app, Some(&token), "application/json", batch.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["data"]["viewer"]["name"], "admin");
    assert_eq!(answer[1]["data"]["projects"]["totalCount"], 1);
    assert_eq!(
        answer[2]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    let lookups = app
        .statements
        .recorded()
        .iter()
        .filter(|sql| sql.contains("FROM \"users\""))
        .count();
    assert_eq!(lookups, 1, "{:?}", app.statements.recorded());

    // Other methods, and bodies that are not requests.
    let response = app.client.delete(app.url("/graphql")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    for body in ["", "[]", "{", "42", r#"{"query": 7}"#] {
        let (status, _, answer) = post(&app, None, "application/json", body.to_owned()).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "BAD_USER_INPUT"),
            "{body}: {answer}"
        );
    }
    // Subscriptions have their own transport.
    let (status, _, answer) = post(
        &app,
        None,
        "application/json",
        query("subscription { usageIngested { amount } }"),
    )
    .await;
    assert_eq!((status, code(&answer)), (400, "BAD_USER_INPUT"), "{answer}");
    assert!(message(&answer).contains("/graphql/ws"), "{answer}");
}

#[tokio::test]
async fn parse_and_validation_errors_carry_codes() {
    let (app, token) = app_with(&[]).await;
    for (text, expected) in [
        ("{", "BAD_USER_INPUT"),
        ("{ nope }", "BAD_USER_INPUT"),
        ("{ projects(first: 0) { totalCount } }", "BAD_USER_INPUT"),
        (
            "query A { apiVersion } query B { apiVersion }",
            "BAD_USER_INPUT",
        ),
        (
            r#"{ project(by: { id: "x", accountingString: "y" }) { name } }"#,
            "BAD_USER_INPUT",
        ),
    ] {
        app.statements.reset();
        let (status, _, answer) = post(&app, Some(&token), "application/json", query(text)).await;
        assert_eq!((status, code(&answer)), (400, expected), "{text}: {answer}");
        assert_eq!(
            app.statements.count(),
            0,
            "{text}: {:?}",
            app.statements.recorded()
        );
    }
    // Errors of fields that ran keep their own codes, with 200.
    let (status, _, answer) =
        post(&app, None, "application/json", query("{ viewer { name } }")).await;
    assert_eq!(
        (status, code(&answer)),
        (200, "UNAUTHENTICATED"),
        "{answer}"
    );
}

#[tokio::test]
async fn introspection_and_suggestions_are_for_authenticated_callers() {
    let (app, token) = app_with(&[]).await;
    let introspect = query("{ __schema { queryType { name } } }");
    let (status, _, answer) = post(&app, None, "application/json", introspect.clone()).await;
    assert_eq!(
        (status, code(&answer)),
        (401, "UNAUTHENTICATED"),
        "{answer}"
    );
    let (status, _, answer) = post(
        &app,
        None,
        "application/json",
        query(r#"{ __type(name: "Project") { name } }"#),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (401, "UNAUTHENTICATED"),
        "{answer}"
    );
    let (status, _, answer) =
        post(&app, Some(&token), "application/json", introspect.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "QueryRoot");
    // `__typename` is not introspection of the schema.
    let (status, _, answer) = post(&app, None, "application/json", query("{ __typename }")).await;
    assert_eq!(status, 200, "{answer}");

    let typo = query("{ apiVersio }");
    let (status, _, anonymous) = post(&app, None, "application/json", typo.clone()).await;
    assert_eq!(
        (status, code(&anonymous)),
        (400, "BAD_USER_INPUT"),
        "{anonymous}"
    );
    assert!(!message(&anonymous).contains("Did you mean"), "{anonymous}");
    assert!(message(&anonymous).contains("apiVersio"), "{anonymous}");
    let (_, _, authenticated) = post(&app, Some(&token), "application/json", typo).await;
    assert!(
        message(&authenticated).contains("Did you mean \"apiVersion\""),
        "{authenticated}"
    );

    // GraphiQL's own introspection query passes every limit.
    let (status, _, answer) = post(
        &app,
        Some(&token),
        "application/json",
        query(GRAPHIQL_INTROSPECTION),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["data"]["__schema"]["types"]
            .as_array()
            .unwrap()
            .len()
            > 10
    );
}

#[tokio::test]
async fn introspection_can_be_opened_or_closed() {
    let (app, token) = app_with(&[
        ("TALLY_GRAPHQL_INTROSPECTION", "always"),
        ("TALLY_GRAPHQL_SUGGESTIONS", "never"),
    ])
    .await;
    let (status, _, answer) = post(
        &app,
        None,
        "application/json",
        query("{ __schema { queryType { name } } }"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (_, _, answer) = post(
        &app,
        Some(&token),
        "application/json",
        query("{ apiVersio }"),
    )
    .await;
    assert!(!message(&answer).contains("Did you mean"), "{answer}");

    let (app, token) = app_with(&[("TALLY_GRAPHQL_INTROSPECTION", "never")]).await;
    let (status, _, answer) = post(
        &app,
        Some(&token),
        "application/json",
        query("{ __schema { queryType { name } } }"),
    )
    .await;
    assert_eq!((status, code(&answer)), (403, "FORBIDDEN"), "{answer}");
}

#[tokio::test]
async fn refused_tokens_are_refused_before_the_database() {
    let (app, token) = app_with(&[]).await;
    app.statements.reset();
    let (status, _, answer) = post(
        &app,
        Some(&format!("{token}x")),
        "application/json",
        query("{ viewer { name } }"),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (401, "UNAUTHENTICATED"),
        "{answer}"
    );
    assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());
    // A well-signed token of a user that does not exist is found out when
    // the operation runs: still 401, and nothing is answered.
    let ghost = app.token_for(9_999);
    let (status, _, answer) = post(
        &app,
        Some(&ghost),
        "application/json",
        query("{ apiVersion }"),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (401, "UNAUTHENTICATED"),
        "{answer}"
    );
    assert_eq!(answer.get("data"), None, "{answer}");
}

/// A fragment that spreads another twice, forty levels down, is 2^40 fields
/// once inlined: refused at once, not after validating a trillion fields.
#[tokio::test]
async fn fragment_bombs_are_refused_quickly() {
    let (app, token) = app_with(&[]).await;
    let mut text = String::from("{ ...F0 }");
    for i in 0..40 {
        text.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    text.push_str(" fragment F40 on Query { apiVersion }");
    let started = std::time::Instant::now();
    app.statements.reset();
    let (status, _, answer) = post(&app, Some(&token), "application/json", query(&text)).await;
    assert_eq!((status, code(&answer)), (400, "LIMIT_EXCEEDED"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());
}

/// The introspection query GraphiQL sends (graphiql 3, `getIntrospectionQuery`).
const GRAPHIQL_INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
";

/// One field selected 500 times (as such, in inline fragments or through
/// repeated spreads of one fragment) and a field carrying 500 directives are
/// refused before execution, with a token or without, and cost no SQL.
#[tokio::test]
async fn repeated_fields_and_piles_of_directives_are_refused_before_the_database() {
    let (app, token) = app_with(&[]).await;
    let typename = "__typename ".repeat(500);
    let api_version = "apiVersion ".repeat(500);
    let inline = "... on Query { apiVersion } ".repeat(500);
    let spreads = format!(
        "{{ {} }} fragment F on Query {{ apiVersion }}",
        "...F ".repeat(500)
    );
    let directives = "@include(if: true) ".repeat(500);
    let cases = [
        (
            "__typename × 500",
            format!("{{ {typename} }}"),
            "__typename",
        ),
        (
            "apiVersion × 500",
            format!("{{ {api_version} }}"),
            "apiVersion",
        ),
        (
            "inline fragments × 500",
            format!("{{ {inline} }}"),
            "apiVersion",
        ),
        ("fragment spreads × 500", spreads, "apiVersion"),
        (
            "500 directives",
            format!("{{ apiVersion {directives} }}"),
            "directives",
        ),
        (
            "500 directives on __typename",
            format!("{{ __typename {directives} }}"),
            "directives",
        ),
    ];
    for token in [Some(token.as_str()), None] {
        for (case, text, named) in &cases {
            app.statements.reset();
            let (status, _, answer) = post(&app, token, "application/json", query(text)).await;
            assert_eq!(
                (status, code(&answer)),
                (400, "LIMIT_EXCEEDED"),
                "{case}: {answer}"
            );
            assert_eq!(answer.get("data"), None, "{case}: {answer}");
            assert!(message(&answer).contains(named), "{case}: {answer}");
            assert!(
                message(&answer).contains("TALLY_GRAPHQL_"),
                "{case}: {answer}"
            );
            assert_eq!(
                app.statements.count(),
                0,
                "{case} touched the database: {:?}",
                app.statements.recorded()
            );
        }
    }
    // Within the limits, repetition is allowed: GraphQL merges the fields.
    let (status, _, answer) = post(
        &app,
        Some(&token),
        "application/json",
        query("{ apiVersion apiVersion __typename @include(if: true) @skip(if: false) }"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["__typename"], "QueryRoot", "{answer}");
}

/// async-graphql does not validate what is written on `__typename`
/// (its validator skips the field): unknown directives, directives given
/// twice, bad or missing arguments are refused before execution, as they are
/// on every other field.
#[tokio::test]
async fn directives_and_arguments_on_typename_are_validated() {
    let (app, token) = app_with(&[]).await;
    for (text, expected) in [
        ("{ __typename @aa }", "Unknown directive \"aa\""),
        ("{ apiVersion @aa(x: 1) }", "Unknown directive \"aa\""),
        ("{ __typename @aa(x: 1) }", "Unknown directive \"aa\""),
        (
            "{ __typename @include(if: true) @include(if: true) }",
            "Duplicate directive \"include\"",
        ),
        ("{ __typename @include }", "\"if\""),
        ("{ __typename @include(if: 1) }", "\"if\""),
        ("{ __typename @skip(if: true, x: 1) }", "\"x\""),
        ("{ __typename(x: 1) }", "\"x\""),
        (
            "{ ...F } fragment F on Query { __typename @aa }",
            "Unknown directive \"aa\"",
        ),
    ] {
        app.statements.reset();
        let (status, _, answer) = post(&app, Some(&token), "application/json", query(text)).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "BAD_USER_INPUT"),
            "{text}: {answer}"
        );
        assert_eq!(answer.get("data"), None, "{text}: {answer}");
        assert!(message(&answer).contains(expected), "{text}: {answer}");
        assert_eq!(
            app.statements.count(),
            0,
            "{text}: {:?}",
            app.statements.recorded()
        );
    }
    // Variables are allowed where GraphQL allows them. (async-graphql counts
    // a variable used only on `__typename` as unused and refuses it, since
    // its validator does not look there: `apiVersion` uses it too.)
    let (status, _, answer) = post(
        &app,
        Some(&token),
        "application/json",
        json!({
            "query": "query Q($on: Boolean!) { __typename @include(if: $on) apiVersion @skip(if: $on) }",
            "variables": { "on": true },
        })
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["__typename"], "QueryRoot", "{answer}");
}
