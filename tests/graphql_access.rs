//! The EOSC, cloud and catalogue parts of the GraphQL graph over demo data:
//! what they answer, who sees what through every root and nested list, and
//! the statement count of Project → installations → metrics.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone as _, Utc};
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{
    installations, metric_definitions, metric_types, metrics, project_providers, projects,
    providers, unit_types,
};
use tally::service::{demo, users};

use crate::helpers::{TestApp, TestDb, world::PASSWORD};

/// Every day there is data for (and more).
const ALWAYS: &str = r#"{from: "2000-01-01", to: "2100-01-01"}"#;

/// Demo data, an administrator's token, a token of a reader of DEMO-ASTRO-01
/// (the EOSC installation belongs to DEMO-BIO-02), and the app.
async fn demo_app() -> (TestApp, String, String) {
    let db = TestDb::new().await;
    demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let admin = users::add(&db.conn, "root", None, PASSWORD, true)
        .await
        .unwrap();
    let astro = projects::Entity::find_by_accounting_string("DEMO-ASTRO-01")
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let reader = crate::helpers::world::user(
        &db.conn,
        "reader",
        "eosc_project_reader",
        Scope::Project(astro.id),
    )
    .await;
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let admin = app.token_for(admin.id);
    let reader = app.token_for(reader);
    (app, admin, reader)
}

/// Posts `query` with `variables`; panics on transport errors.
async fn run(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `data` of an answer that must hold no errors.
async fn data(app: &TestApp, token: &str, query: &str) -> Value {
    let answer = run(app, token, query, json!({})).await;
    assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
    answer["data"].clone()
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer:#}"))
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

fn edges(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection:#}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// `totalUsage` amounts by unit.
fn by_unit(amounts: &Value) -> BTreeMap<String, f64> {
    amounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["unit"].as_str().unwrap().to_owned(), number(&a["value"])))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn project_query(accounting: &str, body: &str) -> String {
    format!(r#"{{ project(by: {{accountingString: "{accounting}"}}) {{ {body} }} }}"#)
}

const INSTALLATIONS: &str = r"installations(first: 10) { totalCount edges { node {
    id installation infrastructure
    provider { id name externalId }
    unitOfAccess { name }
    project { accountingString }
    totalUsage(period: PERIOD) { source unit value records }
    metrics(first: 1) { totalCount edges { node { id value definition { id name } } } }
} } }";

#[tokio::test]
async fn installations_list_their_metrics_and_agree_with_their_totals() {
    let (app, admin, _) = demo_app().await;
    let query = project_query("DEMO-BIO-02", &INSTALLATIONS.replace("PERIOD", ALWAYS));
    let answer = data(&app, &admin, &query).await;
    let installations = &answer["project"]["installations"];
    assert_eq!(installations["totalCount"], 1, "{answer:#}");
    let installation = &edges(installations)[0];
    assert_eq!(installation["installation"], "DEMO-DATA-PORTAL");
    assert_eq!(installation["provider"]["externalId"], "demo-provider");
    assert_eq!(installation["project"]["accountingString"], "DEMO-BIO-02");
    assert!(installation["unitOfAccess"].is_null());
    let total = installation["metrics"]["totalCount"].as_u64().unwrap();
    assert!(total >= 100, "{total} metrics");

    // Walk every metric, 50 at a time, in period-start order; sum per unit.
    let id = installation["id"].as_str().unwrap();
    let page_query = r"query($id: ID!, $after: String, $filter: MetricFilter) { node(id: $id) {
        ... on Installation { metrics(first: 50, after: $after, filter: $filter) {
            totalCount pageInfo { hasNextPage endCursor }
            edges { node { id value periodStart periodEnd userId groupId
                definition { id name unitType { name } metricType { name } } } } } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut definitions: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let answer = run(
            &app,
            &admin,
            page_query,
            json!({ "id": id, "after": after }),
        )
        .await;
        assert!(answer.get("errors").is_none(), "{answer:#}");
        let page = &answer["data"]["node"]["metrics"];
        for metric in edges(page) {
            assert!(metric["periodStart"].as_str() < metric["periodEnd"].as_str());
            assert_eq!(metric["groupId"], "demo-group");
            assert_eq!(metric["definition"]["metricType"]["name"], "aggregated");
            let unit = metric["definition"]["unitType"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            *sums.entry(unit).or_default() += number(&metric["value"]);
            definitions.insert(
                metric["definition"]["name"].as_str().unwrap().to_owned(),
                metric["definition"]["id"].as_str().unwrap().to_owned(),
            );
            seen.push(metric);
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len() as u64, total);
    let starts: Vec<&str> = seen
        .iter()
        .map(|m| m["periodStart"].as_str().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");

    // totalUsage sums the same values, per unit type.
    let totals = by_unit(&installation["totalUsage"]);
    assert_eq!(
        totals.keys().collect::<Vec<_>>(),
        sums.keys().collect::<Vec<_>>()
    );
    for (unit, sum) in &sums {
        assert!(
            close(totals[unit], *sum),
            "{unit}: {} vs {sum}",
            totals[unit]
        );
    }
    for amount in installation["totalUsage"].as_array().unwrap() {
        assert_eq!(amount["source"], "eosc");
    }

    // A filter on the definition splits the list without losing a metric.
    let mut split = 0;
    for definition in definitions.values() {
        let answer = run(
            &app,
            &admin,
            page_query,
            json!({ "id": id, "filter": { "definition": { "eq": definition } } }),
        )
        .await;
        let page = &answer["data"]["node"]["metrics"];
        for metric in edges(page) {
            assert_eq!(&metric["definition"]["id"], definition);
        }
        split += page["totalCount"].as_u64().unwrap();
    }
    assert_eq!(split, total);

    // A period keeps the metrics starting in it, newest first when asked.
    let last = seen.last().unwrap()["periodStart"].as_str().unwrap()[..10].to_owned();
    let answer = data(
        &app,
        &admin,
        &project_query(
            "DEMO-BIO-02",
            &format!(
                r#"installations {{ edges {{ node {{ metrics(period: {{from: "{last}", to: "{last}"}},
                    orderBy: [{{field: PERIOD_START, direction: DESC}}]) {{
                    totalCount edges {{ node {{ periodStart }} }} }} }} }} }}"#
            ),
        ),
    )
    .await;
    let recent = &edges(&answer["project"]["installations"])[0]["metrics"];
    assert_eq!(recent["totalCount"], definitions.len());
    for metric in edges(recent) {
        assert!(metric["periodStart"].as_str().unwrap().starts_with(&last));
    }

    // The catalogue roots list the definitions and the provider.
    let catalogue = data(
        &app,
        &admin,
        "{ metricDefinitions(first: 100) { totalCount edges { node { id name unitType { name builtIn } } } }
           providers { edges { node { name installations { totalCount } } } } }",
    )
    .await;
    let names: Vec<Value> = edges(&catalogue["metricDefinitions"])
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    for name in definitions.keys() {
        assert!(names.contains(&json!(name)), "{name} not in {names:?}");
    }
    let providers = edges(&catalogue["providers"]);
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0]["installations"]["totalCount"], 1);
}

const CLOUD: &str = r"cloudUsage(period: PERIOD, groupBy: GROUPS) {
    day site { id name totalUsage(period: PERIOD) { source unit value } } vo voGroup voRole cloudService
    wallSeconds cpuSeconds networkInbound networkOutbound vmDays summaries
}
totalUsage(period: PERIOD) { source unit value }";

fn cloud(groups: &str) -> String {
    CLOUD.replace("PERIOD", ALWAYS).replace("GROUPS", groups)
}

#[tokio::test]
async fn cloud_usage_splits_the_summaries_and_agrees_with_the_rollups() {
    let (app, admin, _) = demo_app().await;
    for (accounting, vo) in [("DEMO-ASTRO-01", "ops"), ("DEMO-BIO-02", "biomed")] {
        // One row in all.
        let answer = data(&app, &admin, &project_query(accounting, &cloud("[]"))).await;
        let rows = answer["project"]["cloudUsage"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1, "{answer:#}");
        let all = &rows[0];
        for dimension in ["day", "site", "vo", "voGroup", "voRole", "cloudService"] {
            assert!(all[dimension].is_null(), "{dimension}: {all:#}");
        }
        let wall = all["wallSeconds"].as_i64().unwrap();
        assert!(wall > 0 && all["vmDays"].as_i64().unwrap() > 0, "{all:#}");
        // The rollups the project's totals read hold the same seconds.
        let totals = by_unit(&answer["project"]["totalUsage"]);
        assert!(
            close(totals["vm_second"], wall as f64),
            "{totals:?} {all:#}"
        );
        assert!(
            close(totals["cpu_second"], number(&all["cpuSeconds"])),
            "{totals:?} {all:#}"
        );

        // Split by day, site and VO: the parts add up to the whole.
        let answer = data(
            &app,
            &admin,
            &project_query(accounting, &cloud("[VO, DAY, SITE]")),
        )
        .await;
        let rows = answer["project"]["cloudUsage"].as_array().unwrap();
        assert!(rows.len() > 1, "{answer:#}");
        let mut wall_parts = 0;
        let mut days: Vec<&str> = Vec::new();
        for row in rows {
            assert_eq!(row["vo"], vo, "{row:#}");
            assert!(row["voGroup"].is_null());
            days.push(row["day"].as_str().unwrap());
            wall_parts += row["wallSeconds"].as_i64().unwrap();
            // The site, reached through the project, totals this project only.
            let site = by_unit(&row["site"]["totalUsage"]);
            assert!(close(site["vm_second"], totals["vm_second"]), "{site:?}");
        }
        assert!(days.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
        assert_eq!(wall_parts, wall);
    }

    // The sites root totals every project.
    let answer = data(
        &app,
        &admin,
        &format!("{{ sites {{ totalCount edges {{ node {{ name totalUsage(period: {ALWAYS}) {{ unit value }} }} }} }} }}"),
    )
    .await;
    let sites = edges(&answer["sites"]);
    assert_eq!(sites.len(), 1, "{answer:#}");
    let mut projects = 0.0;
    for accounting in ["DEMO-ASTRO-01", "DEMO-BIO-02"] {
        let answer = data(&app, &admin, &project_query(accounting, &cloud("[]"))).await;
        projects += by_unit(&answer["project"]["totalUsage"])["vm_second"];
    }
    assert!(close(
        by_unit(&sites[0]["totalUsage"])["vm_second"],
        projects
    ));

    // Every project's rows and every row's site come in one statement each.
    let query = format!(
        "{{ projects(first: 10) {{ edges {{ node {{ {} }} }} }} }}",
        cloud("[DAY, SITE, VO]")
    );
    app.statements.reset();
    let answer = data(&app, &admin, &query).await;
    let statements = app.statements.count();
    let rows: usize = edges(&answer["projects"])
        .iter()
        .map(|p| p["cloudUsage"].as_array().unwrap().len())
        .sum();
    assert!(rows > 10, "{rows} rows");
    // The caller's lookup, the projects' page, their cloud rows and totals,
    // the sites by id and the sites' totals.
    assert!(
        statements <= 2 + 1 + 2 + 2,
        "{:#?}",
        app.statements.recorded()
    );

    // A period outside the data has no rows; a backwards one is refused.
    let empty = data(
        &app,
        &admin,
        &project_query(
            "DEMO-ASTRO-01",
            r#"cloudUsage(period: {from: "2001-01-01", to: "2001-01-31"}) { wallSeconds }"#,
        ),
    )
    .await;
    assert_eq!(empty["project"]["cloudUsage"], json!([]));
    let backwards = run(
        &app,
        &admin,
        &project_query(
            "DEMO-ASTRO-01",
            r#"cloudUsage(period: {from: "2001-01-31", to: "2001-01-01"}) { wallSeconds }"#,
        ),
        json!({}),
    )
    .await;
    assert_eq!(code(&backwards), "BAD_USER_INPUT", "{backwards:#}");
}

/// A node(id:) lookup by `token`.
async fn node(app: &TestApp, token: &str, id: &Value) -> Value {
    let answer = run(
        app,
        token,
        "query($id: ID!) { node(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer:#}");
    answer["data"]["node"].clone()
}

#[tokio::test]
async fn a_project_reader_sees_nothing_of_the_other_projects_eosc_and_cloud_usage() {
    let (app, admin, reader) = demo_app().await;

    // The other project's objects, as the administrator sees them.
    let other = data(
        &app,
        &admin,
        &project_query(
            "DEMO-BIO-02",
            &format!(
                "{} {}",
                INSTALLATIONS.replace("PERIOD", ALWAYS),
                cloud("[SITE, VO_GROUP]")
            ),
        ),
    )
    .await;
    let installation = &edges(&other["project"]["installations"])[0];
    let metric = &edges(&installation["metrics"])[0];
    let definition = &metric["definition"];
    let provider = &installation["provider"];
    let site = &other["project"]["cloudUsage"][0]["site"];
    assert!(site["id"].is_string(), "{other:#}");

    // The other project itself is invisible.
    let answer = data(&app, &reader, &project_query("DEMO-BIO-02", "id")).await;
    assert!(answer["project"].is_null());

    // node(id:): the installation and the metric are the other project's;
    // the catalogue (definition, provider, site) is anyone's.
    for id in [&installation["id"], &metric["id"]] {
        assert!(
            node(&app, &reader, id).await.is_null(),
            "{id} visible to the reader"
        );
        assert_eq!(node(&app, &admin, id).await["id"], *id);
    }
    for id in [&definition["id"], &provider["id"], &site["id"]] {
        assert_eq!(node(&app, &reader, id).await["id"], *id, "{id}");
    }

    // Every list from the reader's roots: their project has no installation
    // and only its own VO's cloud usage.
    let mine = data(
        &app,
        &reader,
        &format!(
            "{{ projects(first: 10) {{ totalCount edges {{ node {{ accountingString {} {} }} }} }} }}",
            INSTALLATIONS.replace("PERIOD", ALWAYS),
            cloud("[VO, SITE]")
        ),
    )
    .await;
    assert_eq!(mine["projects"]["totalCount"], 1);
    let project = &edges(&mine["projects"])[0];
    assert_eq!(project["accountingString"], "DEMO-ASTRO-01");
    assert_eq!(project["installations"]["totalCount"], 0);
    let rows = project["cloudUsage"].as_array().unwrap();
    assert!(!rows.is_empty());
    let mine_vm = by_unit(&project["totalUsage"])["vm_second"];
    for row in rows {
        assert_eq!(row["vo"], "ops", "{row:#}");
        assert!(close(
            by_unit(&row["site"]["totalUsage"])["vm_second"],
            mine_vm
        ));
    }

    // Catalogue roots: the provider is listed, its installations are not;
    // the site is listed, its totals hold the reader's project only.
    let query = format!(
        "{{ providers(first: 5) {{ totalCount edges {{ node {{ id installations(first: 5) {{
              totalCount edges {{ node {{ id metrics(first: 5) {{ totalCount }} }} }} }} }} }} }}
           metricDefinitions(first: 5) {{ totalCount }}
           nodeTypes(first: 20) {{ totalCount edges {{ node {{ name
              jobs(first: 50) {{ edges {{ node {{ project {{ accountingString }} }} }} }} }} }} }}
           sites(first: 5) {{ edges {{ node {{ id totalUsage(period: {ALWAYS}) {{ unit value }} }} }} }} }}"
    );
    let seen = data(&app, &reader, &query).await;
    let everything = data(&app, &admin, &query).await;
    assert_eq!(seen["providers"]["totalCount"], 1);
    assert_eq!(
        edges(&seen["providers"])[0]["installations"]["totalCount"],
        0
    );
    assert_eq!(
        edges(&everything["providers"])[0]["installations"]["totalCount"],
        1
    );
    assert_eq!(
        seen["metricDefinitions"]["totalCount"],
        everything["metricDefinitions"]["totalCount"]
    );
    assert!(
        seen["nodeTypes"]["totalCount"].as_u64().unwrap() > 0
            && seen["nodeTypes"]["totalCount"] == everything["nodeTypes"]["totalCount"]
    );
    let mut reader_jobs = 0;
    for node_type in edges(&seen["nodeTypes"]) {
        for job in edges(&node_type["jobs"]) {
            assert_eq!(job["project"]["accountingString"], "DEMO-ASTRO-01");
            reader_jobs += 1;
        }
    }
    assert!(reader_jobs > 0);
    let site_seen = by_unit(&edges(&seen["sites"])[0]["totalUsage"])["vm_second"];
    let site_all = by_unit(&edges(&everything["sites"])[0]["totalUsage"])["vm_second"];
    assert!(close(site_seen, mine_vm), "{site_seen} vs {mine_vm}");
    assert!(site_seen < site_all, "{site_seen} of {site_all}");

    // Analytics by resource: the other project's installation sums nothing.
    let totals = data(
        &app,
        &reader,
        &format!(
            r#"{{ usageTotals(filter: {{from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z",
                resources: ["{}"]}}) {{ amount {{ value }} }} }}"#,
            installation["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(totals["usageTotals"], json!([]));
}

#[tokio::test]
async fn users_are_for_administrators_and_every_root_needs_a_caller() {
    let (app, admin, reader) = demo_app().await;

    // Anonymous callers: UNAUTHENTICATED on every root.
    for query in [
        "{ projects { totalCount } }",
        "{ project(by: {accountingString: \"DEMO-ASTRO-01\"}) { id } }",
        "{ providers { totalCount } }",
        "{ metricDefinitions { totalCount } }",
        "{ sites { totalCount } }",
        "{ nodeTypes { totalCount } }",
        "{ users { totalCount } }",
        "{ viewer { name } }",
        "{ node(id: \"SW5zdGFsbGF0aW9uOjE\") { id } }",
    ] {
        let (_, answer) = app.graphql_as(None, query).await;
        assert_eq!(code(&answer), "UNAUTHENTICATED", "{query}: {answer:#}");
        assert!(
            answer["data"].is_null()
                || answer["data"]
                    .as_object()
                    .is_none_or(|d| d.values().all(Value::is_null)),
            "{answer:#}"
        );
    }

    // A project reader: FORBIDDEN on users, and user ids name nothing.
    let answer = run(
        &app,
        &reader,
        "{ users { edges { node { username } } } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer:#}");
    assert!(answer["data"].is_null(), "{answer:#}");
    let me = data(&app, &reader, "{ viewer { userId } }").await;
    assert!(node(&app, &reader, &me["viewer"]["userId"]).await.is_null());

    // The administrator lists users with their grants, page by page.
    let query = r"query($after: String) { users(first: 3, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { id username disabled hasPassword
            grants(first: 10) { totalCount edges { node { id role scopeKind scopeId user { username } } } } } } } }";
    let mut after = Value::Null;
    let mut names = Vec::new();
    let mut grants: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut grant_ids = Vec::new();
    let total = loop {
        let answer = run(&app, &admin, query, json!({ "after": after })).await;
        assert!(answer.get("errors").is_none(), "{answer:#}");
        let page = &answer["data"]["users"];
        for user in edges(page) {
            let name = user["username"].as_str().unwrap().to_owned();
            for grant in edges(&user["grants"]) {
                assert_eq!(grant["user"]["username"], name.as_str());
                grant_ids.push(grant["id"].clone());
                grants.entry(name.clone()).or_default().push((
                    grant["role"].as_str().unwrap().to_owned(),
                    grant["scopeKind"].as_str().unwrap().to_owned(),
                ));
            }
            names.push(name);
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break page["totalCount"].as_u64().unwrap();
        }
        after = page["pageInfo"]["endCursor"].clone();
    };
    assert_eq!(names.len() as u64, total);
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    assert_eq!(
        grants["reader"],
        vec![("eosc_project_reader".to_owned(), "project".to_owned())]
    );
    assert_eq!(
        grants["root"],
        vec![("system_admin".to_owned(), "system".to_owned())]
    );
    assert_eq!(
        grants["demo-collector"],
        vec![("collector".to_owned(), "system".to_owned())]
    );
    // Users and grants by node(id:): the administrator only.
    let grant = &grant_ids[0];
    assert_eq!(node(&app, &admin, grant).await["id"], *grant);
    assert!(node(&app, &reader, grant).await.is_null());
    assert_eq!(
        node(&app, &admin, &me["viewer"]["userId"]).await["id"],
        me["viewer"]["userId"]
    );
}

/// `n` projects, each with a provider, an installation and three metrics.
async fn eosc_world(db: &DatabaseConnection, n: usize) {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let unit = unit_types::Entity::find_by_name("TB")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let kind = metric_types::Entity::find_by_name("aggregated")
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let definition = metric_definitions::ActiveModel {
        name: Set("storage".to_owned()),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(kind.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for i in 0..n {
        let project = crate::helpers::world::project(db, &format!("P-{i:04}")).await;
        let provider = providers::ActiveModel {
            external_id: Set(format!("provider-{i}")),
            name: Set(format!("Provider {i}")),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        project_providers::ActiveModel {
            project_id: Set(project.id),
            provider_id: Set(provider.id),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        let installation = installations::ActiveModel {
            project_id: Set(project.id),
            provider_id: Set(provider.id),
            installation: Set(format!("installation-{i}")),
            unit_of_access_id: Set(Some(definition.id)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        for day in 0..3 {
            metrics::ActiveModel {
                installation_id: Set(installation.id),
                project_id: Set(project.id),
                metric_definition_id: Set(definition.id),
                period_start: Set(start + Duration::days(day)),
                period_end: Set(start + Duration::days(day + 1)),
                value: Set(1.5),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap();
        }
    }
}

const THREE_LEVELS: &str = r#"{
  projects(first: 100) { totalCount edges { node { accountingString
    installations(first: 100) { totalCount edges { node { installation
      provider { name } unitOfAccess { name unitType { name } metricType { name } }
      totalUsage(period: {from: "2026-01-01", to: "2026-12-31"}) { unit value }
      metrics(first: 100) { totalCount edges { node { value periodStart
        definition { name unitType { name } } installation { installation } } } }
    } } }
  } } }
}"#;

#[tokio::test]
async fn project_installations_metrics_cost_the_same_statements_for_1_and_100_rows() {
    let mut counts = Vec::new();
    for n in [1, 100] {
        let db = TestDb::new().await;
        eosc_world(&db.conn, n).await;
        let admin = users::add(&db.conn, "root", None, PASSWORD, true)
            .await
            .unwrap();
        let config = db.config_with(&[
            ("TALLY_GRAPHQL_MAX_COMPLEXITY", "100000000000000"),
            ("TALLY_RECOMPUTE_POLL_SECS", "0"),
        ]);
        let app = TestApp::spawn_with(db, config).await;
        let token = app.token_for(admin.id);
        app.statements.reset();
        let answer = run(&app, &token, THREE_LEVELS, json!({})).await;
        let statements = app.statements.count();
        assert!(answer.get("errors").is_none(), "{answer:#}");
        let answer = &answer["data"];
        assert_eq!(answer["projects"]["totalCount"], n);
        let projects = edges(&answer["projects"]);
        assert_eq!(projects.len(), n.min(100));
        for project in &projects {
            let installation = &edges(&project["installations"])[0];
            assert_eq!(installation["unitOfAccess"]["unitType"]["name"], "TB");
            assert_eq!(installation["metrics"]["totalCount"], 3, "{project:#}");
            for metric in edges(&installation["metrics"]) {
                assert_eq!(
                    metric["installation"]["installation"],
                    installation["installation"]
                );
                assert_eq!(metric["definition"]["name"], "storage");
            }
        }
        counts.push((statements, app.statements.recorded()));
    }
    println!(
        "Project → installations → metrics: {} statements for 1 row per level, {} for 100",
        counts[0].0, counts[1].0
    );
    // The caller's lookup; a page and a count per list (3 lists); one
    // lookup by id per referenced type and level (provider, definition, unit
    // type and metric type under installations; definition, unit type and
    // installation under metrics); the usage totals.
    // A definition or unit type referenced on two levels is read once when
    // the second level finds it cached, twice when both levels ask while the
    // first read is in flight: the count may differ by those lookups, never
    // by the number of rows.
    for (count, recorded) in &counts {
        assert!(*count <= 2 + 2 * 3 + 7 + 1, "{recorded:#?}");
    }
    assert!(counts[1].0.abs_diff(counts[0].0) <= 2, "{:#?}", counts[1].1);
}
