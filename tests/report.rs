//! One report engine: `/api/v1/usage`, `totalUsage`, `usageTotals` and
//! `usageSeries` ask the same engine, so the same period gives the same exact
//! amounts through each, on both backends.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde_json::Value;
use tally::service::{demo, users};

use crate::helpers::{TestApp, TestDb, world::PASSWORD};

/// (project accounting string, source, unit) → exact amount.
type Amounts = BTreeMap<(String, String, String), Decimal>;

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("exact amounts are text")).expect("a decimal")
}

fn add(amounts: &mut Amounts, project: &Value, source: &Value, unit: &Value, amount: Decimal) {
    if amount.is_zero() {
        return;
    }
    let key = (
        project.as_str().expect("project").to_owned(),
        source.as_str().expect("source").to_owned(),
        unit.as_str().expect("unit").to_owned(),
    );
    *amounts.entry(key).or_default() += amount;
}

async fn through_rest(app: &TestApp, token: &str, from: NaiveDate, to: NaiveDate) -> Amounts {
    let (status, body) = app
        .get_as(Some(token), &format!("/api/v1/usage?from={from}&to={to}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let mut amounts = Amounts::new();
    for row in answer["usage"].as_array().unwrap() {
        add(
            &mut amounts,
            &row["project"],
            &row["source"],
            &row["unit"],
            decimal(&row["quantity"]),
        );
    }
    amounts
}

async fn through_total_usage(
    app: &TestApp,
    token: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Amounts {
    let query = format!(
        r#"{{ projects(first: 100) {{ nodes {{ accountingString
              totalUsage(period: {{from: "{from}", to: "{to}"}}) {{ source unit exact }} }} }} }}"#
    );
    let (status, body) = app.graphql_as(Some(token), &query).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let mut amounts = Amounts::new();
    for project in body["data"]["projects"]["nodes"].as_array().unwrap() {
        for amount in project["totalUsage"].as_array().unwrap() {
            add(
                &mut amounts,
                &project["accountingString"],
                &amount["source"],
                &amount["unit"],
                decimal(&amount["exact"]),
            );
        }
    }
    amounts
}

fn filter(from: NaiveDate, to: NaiveDate) -> String {
    // `to` is inclusive for the REST route and `totalUsage`; the analytics
    // filter ends before its `to`.
    format!(
        r#"{{from: "{from}T00:00:00Z", to: "{}T00:00:00Z"}}"#,
        to + Duration::days(1)
    )
}

async fn through_usage_totals(
    app: &TestApp,
    token: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Amounts {
    let query = format!(
        r"{{ usageTotals(filter: {}, groupBy: [PROJECT, SOURCE]) {{
              group {{ project {{ accountingString }} source unit }} amount {{ exact }} }} }}",
        filter(from, to)
    );
    let (status, body) = app.graphql_as(Some(token), &query).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let mut amounts = Amounts::new();
    for total in body["data"]["usageTotals"].as_array().unwrap() {
        add(
            &mut amounts,
            &total["group"]["project"]["accountingString"],
            &total["group"]["source"],
            &total["group"]["unit"],
            decimal(&total["amount"]["exact"]),
        );
    }
    amounts
}

async fn through_usage_series(
    app: &TestApp,
    token: &str,
    from: NaiveDate,
    to: NaiveDate,
    bucket: &str,
    time_zone: &str,
) -> Amounts {
    let query = format!(
        r#"{{ usageSeries(filter: {}, bucket: {bucket}, timeZone: "{time_zone}",
                          groupBy: [PROJECT, SOURCE]) {{
              group {{ project {{ accountingString }} source unit }} points {{ exact }} }} }}"#,
        filter(from, to)
    );
    let (status, body) = app.graphql_as(Some(token), &query).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let mut amounts = Amounts::new();
    for series in body["data"]["usageSeries"].as_array().unwrap() {
        let group = &series["group"];
        let sum: Decimal = series["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| decimal(&p["exact"]))
            .sum();
        add(
            &mut amounts,
            &group["project"]["accountingString"],
            &group["source"],
            &group["unit"],
            sum,
        );
    }
    amounts
}

#[tokio::test]
async fn every_route_reports_the_same_exact_amounts() {
    let db = TestDb::new().await;
    let summary = demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let admin = users::add(&db.conn, "root", None, PASSWORD, true)
        .await
        .unwrap();
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(admin.id);

    // The whole demo, and a month in the middle of it.
    let middle = summary.from + Duration::days(30);
    for (from, to, sources) in [
        (
            summary.from - Duration::days(1),
            summary.to,
            &["cloud", "eosc", "hpc", "storage"][..],
        ),
        (
            middle,
            middle + Duration::days(30),
            &["eosc", "hpc", "storage"],
        ),
    ] {
        let rest = through_rest(&app, &token, from, to).await;
        let seen: std::collections::BTreeSet<&str> =
            rest.keys().map(|(_, source, _)| source.as_str()).collect();
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            sources,
            "the sources with usage from {from} to {to}: {rest:?}"
        );
        assert!(rest.values().all(|amount| *amount > Decimal::ZERO));

        assert_eq!(
            through_total_usage(&app, &token, from, to).await,
            rest,
            "totalUsage from {from} to {to}"
        );
        assert_eq!(
            through_usage_totals(&app, &token, from, to).await,
            rest,
            "usageTotals from {from} to {to}"
        );
        // Daily rollups (UTC days) and hourly ones (another time zone).
        for (bucket, time_zone) in [("DAY", "UTC"), ("WEEK", "Europe/Prague")] {
            assert_eq!(
                through_usage_series(&app, &token, from, to, bucket, time_zone).await,
                rest,
                "usageSeries by {bucket} in {time_zone} from {from} to {to}"
            );
        }
    }
}

/// The wire format of `GET /api/v1/usage`: field order and value types.
#[tokio::test]
async fn the_usage_route_keeps_its_wire_format() {
    let db = TestDb::new().await;
    let summary = demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let admin = users::add(&db.conn, "root", None, PASSWORD, true)
        .await
        .unwrap();
    let config = db.config();
    let app = TestApp::spawn_with(db, config).await;
    let token = app.token_for(admin.id);
    let (status, body) = app
        .get_as(
            Some(&token),
            &format!(
                "/api/v1/usage?from={}&to={}&project=DEMO-BIO-02",
                summary.to - Duration::days(6),
                summary.to
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The raw text: the order of the fields is part of the format.
    insta::assert_snapshot!(body);
}

/// HEAppE's attribution: the whole usage of the jobs lying entirely inside the
/// period, per node type, within the caller's scope, as the raw rows give it.
#[tokio::test]
async fn whole_jobs_inside_a_period_sum_their_tasks() {
    use tally::service::report::Span;

    let db = TestDb::new().await;
    let summary = demo::load(&db.conn, &db.bus(), 1).await.unwrap();
    let (from, to) = (
        summary.from + Duration::days(20),
        summary.from + Duration::days(50),
    );
    // Whole UTC days (the rollup, and the jobs ending at the last instant),
    // and a ragged period (the rollup inside, the raw rows at both edges).
    let whole = Span::days(from, to).unwrap();
    let ragged = Span::new(
        whole.from() + Duration::hours(7) + Duration::minutes(13),
        whole.to() - Duration::hours(5) - Duration::seconds(17),
    )
    .unwrap();
    // Over whole months too: the whole demo (its days before its first whole
    // month, then two whole months) and a ragged period with a whole month
    // inside (the months, the days on either side, the raw edges).
    let demo = Span::days(summary.from, summary.to).unwrap();
    let across_months = Span::new(
        demo.from() + Duration::days(7) + Duration::hours(7) + Duration::minutes(13),
        demo.to() - Duration::days(12) - Duration::hours(5) - Duration::seconds(17),
    )
    .unwrap();
    for span in [whole, ragged, demo, across_months] {
        check_whole_jobs(&db, span).await;
    }
}

async fn check_whole_jobs(db: &TestDb, span: tally::service::report::Span) {
    use sea_orm::EntityTrait as _;
    use tally::auth::ProjectScope;
    use tally::entity::{jobs, tasks};
    use tally::service::report::{self, Attribution, Dimension, Filter, ResourceKind};

    let all_jobs: BTreeMap<i64, jobs::Model> = jobs::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let project = all_jobs.values().next().unwrap().project_id;

    // Expected, from the raw rows: (node type, unit) → usage, for one project.
    let mut expected: BTreeMap<(i64, String), Decimal> = BTreeMap::new();
    let mut outside = 0;
    for task in tasks::Entity::find().all(&db.conn).await.unwrap() {
        let job = &all_jobs[&task.job_id];
        let inside = matches!((job.start_time, job.end_time),
            (Some(s), Some(e)) if s >= span.from() && e <= span.to());
        if task.usage_status != "computed" || job.project_id != project {
            continue;
        }
        if !inside {
            outside += 1;
            continue;
        }
        *expected
            .entry((task.node_type_id.unwrap(), task.usage_unit.clone().unwrap()))
            .or_default() += Decimal::new(task.usage_milli.unwrap(), 3);
    }
    assert!(
        !expected.is_empty() && outside > 0,
        "the period splits the jobs"
    );

    let query = report::UsageQuery {
        attribution: Attribution::WholeJobsInside,
        ..report::UsageQuery::totals(Some(span), Filter::default(), vec![Dimension::Resource])
    };
    let scope = ProjectScope::Only([project].into());
    let rows = report::usage(&db.conn, &scope, &query).await.unwrap();
    let got: BTreeMap<(i64, String), Decimal> = rows
        .into_iter()
        .map(|row| {
            let (kind, id) = row.group.resource.unwrap();
            assert_eq!(kind, ResourceKind::NodeType);
            ((id, row.group.unit), row.amount)
        })
        .collect();
    assert_eq!(got, expected);

    // Out of scope, nothing.
    let nobody = ProjectScope::Only(std::collections::BTreeSet::new());
    assert!(
        report::usage(&db.conn, &nobody, &query)
            .await
            .unwrap()
            .is_empty()
    );
}
