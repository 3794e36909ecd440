//! Every list of the schema filters and sorts: the same checks run over each
//! connection of the demo data, on both backends.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tally::service::{demo, users};

use crate::helpers::{TestApp, TestDb, world::PASSWORD};

/// How a sort field's values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Text: the database's collation decides; only reversal is checked.
    Text,
    /// Integers.
    Int,
    /// RFC 3339 instants.
    Time,
}

/// One list of the schema, reached from the demo data.
struct List {
    /// The query, with `ARGS` where the list's arguments go and `FIELD` for
    /// the item field under test.
    query: &'static str,
    /// JSON pointer to the connection in `data`.
    at: &'static str,
    /// The name of the filter and order input types' field (`orderBy` enum
    /// value, item field, filter field).
    order: &'static str,
    field: &'static str,
    kind: Kind,
    /// The fewest items the demo data holds in this list.
    at_least: usize,
}

const fn list(
    query: &'static str,
    at: &'static str,
    order: &'static str,
    field: &'static str,
    kind: Kind,
    at_least: usize,
) -> List {
    List {
        query,
        at,
        order,
        field,
        kind,
        at_least,
    }
}

const CONN: &str = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id FIELD } }";

/// The lists under test: every connection of the schema but the job lists
/// (`tests/graphql.rs` covers those with their own filter).
fn lists() -> Vec<List> {
    use Kind::{Int, Text, Time};
    const ASTRO: &str = r#"project(by: {accountingString: "DEMO-ASTRO-01"})"#;
    // The demo's EOSC installation serves the second project.
    const BIO: &str = r#"project(by: {accountingString: "DEMO-BIO-02"})"#;
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let in_project = |list: &str| leak(format!("{{ {ASTRO} {{ {list}(ARGS) {{ {CONN} }} }} }}"));
    let root = |list: &str| leak(format!("{{ {list}(ARGS) {{ {CONN} }} }}"));
    vec![
        list(root("projects"), "/projects", "NAME", "name", Text, 2),
        list(root("clusters"), "/clusters", "NAME", "name", Text, 2),
        list(
            root("nodeTypes"),
            "/nodeTypes",
            "CORES_PER_NODE",
            "coresPerNode",
            Int,
            3,
        ),
        list(
            leak(format!(
                r#"{{ clusters(first: 1, orderBy: [{{field: NAME}}]) {{ edges {{ node {{ nodeTypes(ARGS) {{ {CONN} }} }} }} }} }}"#
            )),
            "/clusters/edges/0/node/nodeTypes",
            "QUEUE",
            "queue",
            Text,
            2,
        ),
        list(root("buckets"), "/buckets", "NAME", "name", Text, 2),
        list(
            root("formulas"),
            "/formulas",
            "VALID_FROM",
            "validFrom",
            Time,
            2,
        ),
        list(root("providers"), "/providers", "NAME", "name", Text, 1),
        list(
            root("metricDefinitions"),
            "/metricDefinitions",
            "NAME",
            "name",
            Text,
            2,
        ),
        list(root("sites"), "/sites", "NAME", "name", Text, 1),
        list(root("users"), "/users", "USERNAME", "username", Text, 2),
        list(
            in_project("subProjects"),
            "/project/subProjects",
            "IDENTIFIER",
            "identifier",
            Text,
            2,
        ),
        list(
            in_project("groups"),
            "/project/groups",
            "NAME",
            "name",
            Text,
            1,
        ),
        list(
            in_project("clusters"),
            "/project/clusters",
            "NAME",
            "name",
            Text,
            1,
        ),
        list(
            in_project("buckets"),
            "/project/buckets",
            "OWNER_NAME",
            "ownerName",
            Text,
            2,
        ),
        list(
            leak(format!(
                "{{ {BIO} {{ installations(ARGS) {{ {CONN} }} }} }}"
            )),
            "/project/installations",
            "INFRASTRUCTURE",
            "infrastructure",
            Text,
            1,
        ),
        list(
            leak(format!(
                r#"{{ {BIO} {{ installations(first: 1) {{ edges {{ node {{ metrics(ARGS) {{ {CONN} }} }} }} }} }} }}"#
            )),
            "/project/installations/edges/0/node/metrics",
            "PERIOD_START",
            "periodStart",
            Time,
            2,
        ),
        list(
            leak(format!(
                r#"{{ providers(first: 1, orderBy: [{{field: NAME}}]) {{ edges {{ node {{ installations(ARGS) {{ {CONN} }} }} }} }} }}"#
            )),
            "/providers/edges/0/node/installations",
            "INSTALLATION",
            "installation",
            Text,
            1,
        ),
        list(
            leak(format!(
                r#"{{ {ASTRO} {{ jobs(first: 1, orderBy: [{{field: NAME}}]) {{ edges {{ node {{ tasks(ARGS) {{ {CONN} }} }} }} }} }} }}"#
            )),
            "/project/jobs/edges/0/node/tasks",
            "NAME",
            "name",
            Text,
            1,
        ),
        list(
            leak(format!(
                r#"{{ formulas(first: 1, orderBy: [{{field: VALID_FROM}}]) {{ edges {{ node {{ tasks(ARGS) {{ {CONN} }} }} }} }} }}"#
            )),
            "/formulas/edges/0/node/tasks",
            "ORDINAL",
            "ordinal",
            Int,
            10,
        ),
        list(
            leak(format!(
                r#"{{ users(first: 1, filter: {{username: {{eq: "root"}}}}) {{ edges {{ node {{ grants(ARGS) {{ {CONN} }} }} }} }} }}"#
            )),
            "/users/edges/0/node/grants",
            "SCOPE_KIND",
            "scopeKind",
            Text,
            1,
        ),
    ]
}

/// Demo data, an administrator's token and the app.
async fn demo_app() -> (TestApp, String) {
    let db = TestDb::new().await;
    demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let admin = users::add(&db.conn, "root", None, PASSWORD, true)
        .await
        .unwrap();
    users::add(&db.conn, "auditor", None, PASSWORD, false)
        .await
        .unwrap();
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(admin.id);
    (app, token)
}

/// One page of `list` with `args` (GraphQL argument text).
async fn page(app: &TestApp, token: &str, list: &List, args: &str) -> Value {
    let query = list
        .query
        .replace("ARGS", args)
        .replace("FIELD", list.field);
    let answer: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
    answer["data"]
        .pointer(list.at)
        .unwrap_or_else(|| panic!("{query}: nothing at {}\n{answer:#}", list.at))
        .clone()
}

/// An item: its id and the value of the field under test.
type Item = (String, Value);

/// Every item of `list` under `args`, paging forward `size` at a time.
async fn forward(app: &TestApp, token: &str, list: &List, args: &str, size: usize) -> Vec<Item> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = page(app, token, list, &format!("{args} first: {size} {after}")).await;
        all.extend(items(&page, list));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            assert_eq!(page["totalCount"].as_u64().unwrap() as usize, all.len());
            return all;
        }
        after = format!("after: {}", page["pageInfo"]["endCursor"]);
    }
}

/// Every item of `list` under `args`, paging backward `size` at a time.
async fn backward(app: &TestApp, token: &str, list: &List, args: &str, size: usize) -> Vec<Item> {
    let mut all: Vec<Item> = Vec::new();
    let mut before = String::new();
    loop {
        let page = page(app, token, list, &format!("{args} last: {size} {before}")).await;
        let mut chunk = items(&page, list);
        chunk.extend(all);
        all = chunk;
        if !page["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
            return all;
        }
        before = format!("before: {}", page["pageInfo"]["startCursor"]);
    }
}

/// The items of a page: their ids and the field under test.
fn items(page: &Value, list: &List) -> Vec<Item> {
    page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["id"].as_str().unwrap().to_owned(),
                node[list.field].clone(),
            )
        })
        .collect()
}

fn values(items: &[Item]) -> Vec<Value> {
    items.iter().map(|(_, v)| v.clone()).collect()
}

/// The value as GraphQL literal text.
fn literal(value: &Value) -> String {
    value.to_string()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Whether `values` never decrease (text: not checked, collation decides).
fn ascending(values: &[Value], kind: Kind) -> bool {
    values.windows(2).all(|w| match kind {
        Kind::Text => true,
        Kind::Int => w[0].as_i64() <= w[1].as_i64(),
        Kind::Time => time(&w[0]) <= time(&w[1]),
    })
}

#[tokio::test]
async fn every_list_sorts_pages_and_filters_the_same_way() {
    let (app, token) = demo_app().await;
    for list in lists() {
        let name = list.at;
        let asc = format!("orderBy: [{{field: {}, direction: ASC}}]", list.order);
        let desc = format!("orderBy: [{{field: {}, direction: DESC}}]", list.order);
        let all = forward(&app, &token, &list, &asc, 100).await;
        assert!(all.len() >= list.at_least, "{name}: {} items", all.len());
        println!("{name}: {} items", all.len());
        assert!(ascending(&values(&all), list.kind), "{name}: {all:?}");

        // Descending is ascending reversed (ties keep the id order, so
        // compare values, not ids).
        let down = forward(&app, &token, &list, &desc, 100).await;
        let mut reversed = values(&all);
        reversed.reverse();
        assert_eq!(values(&down), reversed, "{name}");

        // Small pages, both ways, walk the same list.
        let size = (all.len() / 4).max(1);
        assert_eq!(
            forward(&app, &token, &list, &asc, size).await,
            all,
            "{name}"
        );
        assert_eq!(
            backward(&app, &token, &list, &asc, size + 1).await,
            all,
            "{name}"
        );

        // eq, ne, not and in keep exactly the items they name.
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (_, value) in &all {
            *counts.entry(literal(value)).or_default() += 1;
        }
        let picked = &all[all.len() / 2].1;
        let field = list.field;
        let filtered = |filter: String| {
            let asc = asc.clone();
            let app = &app;
            let token = &token;
            let list = &list;
            async move { forward(app, token, list, &format!("filter: {filter} {asc}"), 100).await }
        };
        let eq = filtered(format!("{{{field}: {{eq: {}}}}}", literal(picked))).await;
        assert_eq!(eq.len(), counts[&literal(picked)], "{name}");
        assert!(eq.iter().all(|(_, v)| v == picked), "{name}: {eq:?}");
        let ne = filtered(format!("{{{field}: {{ne: {}}}}}", literal(picked))).await;
        let not = filtered(format!("{{not: {{{field}: {{eq: {}}}}}}}", literal(picked))).await;
        assert_eq!(ne.len() + eq.len(), all.len(), "{name}");
        assert_eq!(ne, not, "{name}");
        let first = &all[0].1;
        let last = &all[all.len() - 1].1;
        let one_of = filtered(format!(
            "{{{field}: {{in: [{}, {}]}}}}",
            literal(first),
            literal(last)
        ))
        .await;
        let either = filtered(format!(
            "{{or: [{{{field}: {{eq: {}}}}}, {{{field}: {{eq: {}}}}}]}}",
            literal(first),
            literal(last)
        ))
        .await;
        assert_eq!(one_of, either, "{name}");
        let expected = if first == last {
            counts[&literal(first)]
        } else {
            counts[&literal(first)] + counts[&literal(last)]
        };
        assert_eq!(one_of.len(), expected, "{name}");
        // A range, where the values have an order.
        if list.kind != Kind::Text {
            let gte = filtered(format!("{{{field}: {{gte: {}}}}}", literal(picked))).await;
            let lt = filtered(format!("{{{field}: {{lt: {}}}}}", literal(picked))).await;
            assert_eq!(gte.len() + lt.len(), all.len(), "{name}");
            assert!(gte.iter().all(|(_, v)| match list.kind {
                Kind::Int => v.as_i64() >= picked.as_i64(),
                _ => time(v) >= time(picked),
            }));
        }
    }
}

#[tokio::test]
async fn empty_values_sort_first_and_page_both_ways() {
    let (app, token) = demo_app().await;
    // Job end times: running jobs have none.
    let jobs = List {
        query: r#"{ project(by: {accountingString: "DEMO-ASTRO-01"}) { jobs(ARGS) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id FIELD } } } } }"#,
        at: "/project/jobs",
        order: "END_TIME",
        field: "endTime",
        kind: Kind::Time,
        at_least: 20,
    };
    for direction in ["ASC", "DESC"] {
        let order = format!(
            "orderBy: [{{field: {}, direction: {direction}}}, {{field: NAME}}]",
            jobs.order
        );
        let all = forward(&app, &token, &jobs, &order, 100).await;
        let empty = all.iter().filter(|(_, v)| v.is_null()).count();
        assert!(
            empty > 0 && empty < all.len(),
            "{empty} of {} without end",
            all.len()
        );
        // Empty values are the smallest: first ascending, last descending.
        let (nulls, rest) = if direction == "ASC" {
            all.split_at(empty)
        } else {
            let (rest, nulls) = all.split_at(all.len() - empty);
            (nulls, rest)
        };
        assert!(nulls.iter().all(|(_, v)| v.is_null()), "{direction}");
        let mut times: Vec<DateTime<Utc>> = rest.iter().map(|(_, v)| time(v)).collect();
        if direction == "DESC" {
            times.reverse();
        }
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{direction}");
        // Cursors inside and across the empty run resume exactly.
        assert_eq!(
            forward(&app, &token, &jobs, &order, 7).await,
            all,
            "{direction}"
        );
        assert_eq!(
            backward(&app, &token, &jobs, &order, 9).await,
            all,
            "{direction}"
        );
    }
    // `isSet`-like checks: a condition on an empty field does not hold, and
    // `not` of it does.
    let all = forward(&app, &token, &jobs, "", 100).await.len();
    let ended = forward(
        &app,
        &token,
        &jobs,
        r#"filter: {endTime: {gte: "2000-01-01T00:00:00Z"}}"#,
        100,
    )
    .await
    .len();
    let open = forward(
        &app,
        &token,
        &jobs,
        r#"filter: {not: {endTime: {gte: "2000-01-01T00:00:00Z"}}}"#,
        100,
    )
    .await;
    assert_eq!(ended + open.len(), all);
    assert!(open.iter().all(|(_, v)| v.is_null()));
}

#[tokio::test]
async fn bad_list_arguments_are_refused_in_the_graphql_format() {
    let (app, token) = demo_app().await;
    let cases = [
        // Too many sort keys.
        (
            "{ clusters(orderBy: [{field: NAME}, {field: NAME}, {field: NAME}, {field: NAME}, {field: NAME}, {field: NAME}]) { totalCount } }",
            "BAD_USER_INPUT",
        ),
        // An id of another kind.
        (
            r#"{ nodeTypes(filter: {cluster: {eq: "not-an-id"}}) { totalCount } }"#,
            "BAD_USER_INPUT",
        ),
        // An unknown sort field.
        (
            "{ buckets(orderBy: [{field: COLOUR}]) { totalCount } }",
            "BAD_USER_INPUT",
        ),
        // A cursor of another order.
        ("CURSOR", "BAD_USER_INPUT"),
    ];
    let cursor = page(
        &app,
        &token,
        &list(
            "{ sites(ARGS) { edges { cursor node { id FIELD } } } }",
            "/sites",
            "NAME",
            "name",
            Kind::Text,
            1,
        ),
        "first: 1",
    )
    .await["edges"][0]["cursor"]
        .clone();
    for (query, expected) in cases {
        let query = if query == "CURSOR" {
            format!(
                "{{ sites(orderBy: [{{field: NAME, direction: DESC}}, {{field: NAME}}], after: {cursor}) {{ totalCount }} }}"
            )
        } else {
            query.to_owned()
        };
        let (status, answer) = app.graphql_as(Some(&token), &query).await;
        assert!(status == 200 || status == 400, "{query}: {status}");
        let code = answer["errors"][0]["extensions"]["code"].as_str();
        assert_eq!(code, Some(expected), "{query}\n{answer:#}");
    }
}
