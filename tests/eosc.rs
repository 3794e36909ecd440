//! EOSC metrics ingestion: upstream's validation messages, scope, idempotency
//! keys, all-or-nothing batches, and rollups that always equal the sums of the
//! raw metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Timelike as _, Utc};
use proptest::prelude::*;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, EntityTrait as _,
    TransactionTrait as _,
};
use serde_json::{Value, json};
use tally::auth::ProjectScope;
use tally::entity::{
    eosc_metric_daily, installations, metric_definitions, metric_types, metrics, project_providers,
    projects, providers, unit_types, usage_daily, usage_hourly,
};
use tally::error::Error;
use tally::service::batch::RejectionKind;
use tally::service::eosc::{self, Added, MetricInput, NewMetric, external_id};
use tally::service::events::{Decision, EventBus};

use crate::helpers::{TestDb, world};

/// A project with a provider, two installations and two metric definitions.
struct World {
    db: TestDb,
    project: projects::Model,
    other: projects::Model,
    first: installations::Model,
    second: installations::Model,
    /// `storage` in `TB`.
    tb: metric_definitions::Model,
    /// `requests` in `#`.
    count: metric_definitions::Model,
}

async fn definition(db: &DatabaseConnection, name: &str, unit: &str) -> metric_definitions::Model {
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
    metric_definitions::ActiveModel {
        name: Set(name.to_owned()),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(kind.id),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
}

async fn setup() -> World {
    let db = TestDb::new().await;
    let conn = &db.conn;
    let project = world::project(conn, "EOSC-1").await;
    let other = world::project(conn, "EOSC-2").await;
    let provider = providers::ActiveModel {
        external_id: Set("grnet".to_owned()),
        name: Set("GRNET".to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    project_providers::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider.id),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
    let installation = |name: &str| installations::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider.id),
        installation: Set(name.to_owned()),
        ..Default::default()
    };
    let first = installation("GRNET-KNOSSOS").insert(conn).await.unwrap();
    let second = installation("GRNET-ARIS").insert(conn).await.unwrap();
    let tb = definition(conn, "storage", "TB").await;
    let count = definition(conn, "requests", "#").await;
    World {
        db,
        project,
        other,
        first,
        second,
        tb,
        count,
    }
}

fn metric(definition: &metric_definitions::Model, start: &str, end: &str, value: Value) -> Value {
    json!({
        "metric_definition_id": external_id(definition.id),
        "time_period_start": start,
        "time_period_end": end,
        "value": value,
    })
}

/// Posts a batch as the REST layer will: in a transaction, committed (and
/// its usage published) only when accepted.
async fn post_as(
    w: &World,
    scope: &ProjectScope,
    installation: i64,
    batch: &[(Value, Option<&str>)],
) -> Added {
    let inputs: Vec<MetricInput> = batch
        .iter()
        .map(|(body, _)| serde_json::from_value(body.clone()).unwrap())
        .collect();
    let metrics: Vec<NewMetric<'_>> = inputs
        .iter()
        .zip(batch)
        .map(|(input, (_, key))| NewMetric {
            input,
            idempotency_key: *key,
        })
        .collect();
    let txn = w.db.conn.begin().await.unwrap();
    w.db.bus()
        .write(txn, async |txn| {
            let added =
                eosc::add_metrics(txn, scope, installation, Some("client-1"), &metrics).await?;
            Ok::<_, Error>(decide(added))
        })
        .await
        .unwrap()
}

/// Commit an accepted batch, roll a refused one back.
fn decide(added: Added) -> Decision<Added> {
    if added.report.accepted() {
        Decision::Commit(added)
    } else {
        Decision::RollBack(added)
    }
}

async fn post(w: &World, batch: &[(Value, Option<&str>)]) -> Added {
    post_as(w, &ProjectScope::All, w.first.id, batch).await
}

async fn stored(db: &DatabaseConnection) -> Vec<metrics::Model> {
    metrics::Entity::find().all(db).await.unwrap()
}

/// Nothing of any batch was stored: no metric, no rollup row.
async fn assert_empty(db: &DatabaseConnection) {
    assert_eq!(stored(db).await, vec![]);
    assert_eq!(
        eosc_metric_daily::Entity::find().all(db).await.unwrap(),
        vec![]
    );
    assert_eq!(usage_daily::Entity::find().all(db).await.unwrap(), vec![]);
    assert_eq!(usage_hourly::Entity::find().all(db).await.unwrap(), vec![]);
}

/// (project, installation, unit, day or hour) of a usage row.
type UsageKey<T> = (i64, i64, String, T);

/// Every EOSC rollup equals the sum of the raw metrics it covers: exactly for
/// counts and the usage tables' integer quantities, up to floating-point
/// rounding (1e-9 of the sum of magnitudes) for `value_sum`. Usage quantities
/// are recomputed as `round(value × 10^6)`, exact for the values used here
/// (whole micro-units).
pub(crate) async fn assert_rollups_consistent(db: &DatabaseConnection) {
    let units: HashMap<i64, String> = metric_definitions::Entity::find()
        .find_also_related(unit_types::Entity)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, u)| (d.id, u.unwrap().name))
        .collect();
    let mut daily: BTreeMap<(i64, i64, NaiveDate), (f64, f64, i64)> = BTreeMap::new();
    let mut by_day: BTreeMap<UsageKey<NaiveDate>, (i64, i64)> = BTreeMap::new();
    let mut by_hour: BTreeMap<UsageKey<DateTime<Utc>>, (i64, i64)> = BTreeMap::new();
    for m in stored(db).await {
        let day = m.period_start.date_naive();
        let hour = day
            .and_hms_opt(m.period_start.hour(), 0, 0)
            .unwrap()
            .and_utc();
        let entry = daily
            .entry((m.installation_id, m.metric_definition_id, day))
            .or_default();
        entry.0 += m.value;
        entry.1 += m.value.abs();
        entry.2 += 1;
        #[expect(clippy::cast_possible_truncation, reason = "test values are small")]
        let micro = (m.value * 1e6).round() as i64;
        let unit = units[&m.metric_definition_id].clone();
        let entry = by_day
            .entry((m.project_id, m.installation_id, unit.clone(), day))
            .or_default();
        entry.0 += micro;
        entry.1 += 1;
        let entry = by_hour
            .entry((m.project_id, m.installation_id, unit, hour))
            .or_default();
        entry.0 += micro;
        entry.1 += 1;
    }
    let rows = eosc_metric_daily::Entity::find().all(db).await.unwrap();
    let keys: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.installation_id, r.metric_definition_id, r.day))
        .collect();
    assert_eq!(
        keys,
        daily.keys().copied().collect(),
        "eosc_metric_daily rows"
    );
    for row in rows {
        let (sum, magnitude, count) =
            daily[&(row.installation_id, row.metric_definition_id, row.day)];
        assert_eq!(row.metric_count, count, "metric_count of {row:?}");
        assert!(
            (row.value_sum - sum).abs() <= 1e-9 * magnitude,
            "value_sum {} ≠ Σ {sum} (Σ|v| = {magnitude})",
            row.value_sum
        );
    }
    let stored_days: BTreeMap<_, _> = usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.source == "eosc")
        .map(|r| {
            assert_eq!(
                (r.resource_kind.as_str(), r.scale, r.user_key, r.group_key),
                ("installation", 6, 0, 0)
            );
            (
                (r.project_id, r.resource_id, r.unit, r.day),
                (r.quantity, r.record_count),
            )
        })
        .collect();
    assert_eq!(stored_days, by_day, "usage_daily = Σ metrics");
    let stored_hours: BTreeMap<_, _> = usage_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.source == "eosc")
        .map(|r| {
            (
                (r.project_id, r.resource_id, r.unit, r.hour),
                (r.quantity, r.record_count),
            )
        })
        .collect();
    assert_eq!(stored_hours, by_hour, "usage_hourly = Σ metrics");
}

const START: &str = "2025-03-01T10:00:00Z";
const END: &str = "2025-03-01T11:00:00Z";

fn in_a_day() -> String {
    (Utc::now() + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn every_rule_answers_with_upstreams_message() {
    let w = setup().await;
    let ok = || metric(&w.tb, START, END, json!(1.5));
    let with = |field: &str, value: Value| {
        let mut body = ok();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = ok();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let future = in_a_day();
    let cases: Vec<(Value, &str)> = vec![
        (
            without("metric_definition_id"),
            "metric_definition_id may not be empty.",
        ),
        (
            with("metric_definition_id", json!("")),
            "metric_definition_id may not be empty.",
        ),
        (
            with("metric_definition_id", json!("nope")),
            "There is no Metric Definition with the following id: nope",
        ),
        (
            with("metric_definition_id", json!(external_id(9999))),
            "There is no Metric Definition with the following id: 00000000000000000000270f",
        ),
        (
            without("time_period_start"),
            "time_period_start may not be empty.",
        ),
        (
            with("time_period_start", Value::Null),
            "time_period_start may not be empty.",
        ),
        (
            without("time_period_end"),
            "time_period_end may not be empty.",
        ),
        (
            with("time_period_start", json!("")),
            "time_period_start must be a valid zulu timestamp. found: ",
        ),
        (
            with("time_period_start", json!("2025-03-01 10:00:00")),
            "time_period_start must be a valid zulu timestamp. found: 2025-03-01 10:00:00",
        ),
        (
            with("time_period_end", json!("yesterday")),
            "time_period_end must be a valid zulu timestamp. found: yesterday",
        ),
        (
            with("time_period_end", json!("2025-02-30T00:00:00Z")),
            "time_period_end must be a valid zulu timestamp. found: 2025-02-30T00:00:00Z",
        ),
        (
            metric(&w.tb, START, &future, json!(1)),
            "Timestamp cannot be after the current date-time.",
        ),
        (
            metric(&w.tb, &future, &future, json!(1)),
            "Timestamp cannot be after the current date-time.",
        ),
        (
            metric(&w.tb, START, START, json!(1)),
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date time.",
        ),
        (
            // Equal once kept to the microsecond.
            metric(
                &w.tb,
                "2025-03-01T10:00:00.0000001Z",
                "2025-03-01T10:00:00.0000009Z",
                json!(1),
            ),
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date time.",
        ),
        (
            // The same instant written with an offset.
            metric(&w.tb, START, "2025-03-01T12:00:00+02:00", json!(1)),
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date time.",
        ),
        (
            metric(&w.tb, END, START, json!(1)),
            "Timestamp of the starting date time cannot be after of Timestamp of the end date time.",
        ),
        (
            with("value", json!("abc")),
            "value must be a number. found: \"abc\"",
        ),
        (
            with("value", json!("NaN")),
            "value must be a number. found: \"NaN\"",
        ),
        (
            with("value", json!(true)),
            "value must be a number. found: true",
        ),
        (
            with("value", json!({"v": 1})),
            "value must be a number. found: {\"v\":1}",
        ),
        (without("value"), "value may not be empty."),
        (with("value", Value::Null), "value may not be empty."),
        (
            with("value", json!(1e13)),
            "value is out of range: Tally accounts values between -9223372036854.775808 and \
             9223372036854.775807.",
        ),
        // Upstream's order: Jackson reads the value first, then the definition
        // is checked before the period; a missing value (Tally's rule) comes last.
        (
            {
                let mut body = without("metric_definition_id");
                body["value"] = json!("abc");
                body
            },
            "value must be a number. found: \"abc\"",
        ),
        (
            {
                let mut body = without("metric_definition_id");
                body["time_period_start"] = json!("bad");
                body
            },
            "metric_definition_id may not be empty.",
        ),
        (
            {
                let mut body = without("value");
                body["time_period_end"] = json!(START);
                body
            },
            "Timestamp of the starting date time cannot be equal to Timestamp of the end date time.",
        ),
    ];
    for (body, reason) in cases {
        let added = post(&w, &[(body.clone(), None)]).await;
        let rejected = &added.report.rejected;
        assert_eq!(rejected.len(), 1, "{body}: {rejected:?}");
        assert_eq!(rejected[0].reason, reason, "{body}");
        assert_eq!(rejected[0].kind, RejectionKind::Invalid, "{body}");
        assert_eq!(added.metrics, vec![]);
    }
    let long = "k".repeat(eosc::MAX_KEY_LEN + 1);
    for key in ["", " ", "a\nb", long.as_str()] {
        let added = post(&w, &[(ok(), Some(key))]).await;
        assert_eq!(
            added.report.rejected[0].reason, "idempotency key must be 1 to 255 visible characters.",
            "{key:?}"
        );
    }
    assert_empty(&w.db.conn).await;
}

#[tokio::test]
async fn accepted_forms_are_stored_as_instants_and_doubles() {
    let w = setup().await;
    let mut with_ids = metric(
        &w.count,
        "2025-03-01t10:00:00.1234567z",
        "2025-03-01T12:00:00+01:00",
        json!(" 12.5 "),
    );
    with_ids["user_id"] = json!("user@egi.eu");
    with_ids["group_id"] = json!("vo.example");
    with_ids["unknown_field"] = json!("ignored, as upstream's Jackson does");
    let batch = [
        (with_ids, None),
        (
            metric(
                &w.tb,
                "2025-03-01T23:59:60Z",
                "2025-03-01T24:00:00Z",
                json!(7),
            ),
            None,
        ),
    ];
    let added = post(&w, &batch).await;
    assert!(added.report.accepted(), "{:?}", added.report);
    assert_eq!((added.report.inserted, added.report.unchanged), (2, 0));
    let rows = stored(&w.db.conn).await;
    assert_eq!(added.metrics, rows);
    let first = &rows[0];
    assert_eq!(
        (first.period_start, first.period_end),
        (
            Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap() + Duration::microseconds(123_456),
            Utc.with_ymd_and_hms(2025, 3, 1, 11, 0, 0).unwrap(),
        )
    );
    assert_eq!(first.value, 12.5);
    assert_eq!(
        (first.user_id.as_deref(), first.group_id.as_deref()),
        (Some("user@egi.eu"), Some("vo.example"))
    );
    assert_eq!(first.creator_id.as_deref(), Some("client-1"));
    assert_eq!(
        (first.installation_id, first.project_id),
        (w.first.id, w.project.id)
    );
    assert_eq!(
        (rows[1].period_start, rows[1].period_end),
        (
            Utc.with_ymd_and_hms(2025, 3, 1, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 2, 0, 0, 0).unwrap(),
        )
    );
    assert_eq!(
        eosc::parse_external_id(&external_id(first.id)),
        Some(first.id)
    );
    assert_rollups_consistent(&w.db.conn).await;
}

#[tokio::test]
async fn installation_must_exist_and_be_in_scope() {
    let w = setup().await;
    let batch = [
        (metric(&w.tb, START, END, json!(1)), None),
        (metric(&w.tb, START, END, json!(2)), Some("k1")),
    ];
    let added = post_as(&w, &ProjectScope::All, 999_999, &batch).await;
    let reasons: Vec<_> = added
        .report
        .rejected
        .iter()
        .map(|r| (r.index, r.kind, r.reason.as_str()))
        .collect();
    let missing = "There is no Installation with the following id: 0000000000000000000f423f";
    assert_eq!(
        reasons,
        vec![
            (0, RejectionKind::Invalid, missing),
            (1, RejectionKind::Invalid, missing)
        ]
    );
    assert_eq!(added.report.rejected[1].key, "k1");
    for scope in [
        ProjectScope::Only(BTreeSet::from([w.other.id])),
        ProjectScope::Only(BTreeSet::new()),
    ] {
        let added = post_as(&w, &scope, w.first.id, &batch).await;
        assert_eq!(added.report.rejected.len(), 2);
        for rejection in &added.report.rejected {
            assert_eq!(rejection.kind, RejectionKind::Forbidden);
            assert_eq!(rejection.reason, eosc::FORBIDDEN);
        }
    }
    // The installation check comes first, as upstream's path validator runs
    // before the body's.
    let invalid = [(json!({}), None)];
    let added = post_as(
        &w,
        &ProjectScope::Only(BTreeSet::new()),
        w.first.id,
        &invalid,
    )
    .await;
    assert_eq!(added.report.rejected[0].kind, RejectionKind::Forbidden);
    assert_empty(&w.db.conn).await;
    let scope = ProjectScope::Only(BTreeSet::from([w.project.id]));
    let added = post_as(&w, &scope, w.first.id, &batch).await;
    assert_eq!(added.report.inserted, 2, "{:?}", added.report);
    assert_rollups_consistent(&w.db.conn).await;
}

#[tokio::test]
async fn duplicates_count_and_idempotency_keys_do_not() {
    let w = setup().await;
    let db = &w.db.conn;
    let one = metric(&w.tb, START, END, json!(1.25));
    // Upstream accepts identical metrics: both count.
    let added = post(&w, &[(one.clone(), None), (one.clone(), None)]).await;
    assert_eq!(added.report.inserted, 2);
    assert_ne!(added.metrics[0].id, added.metrics[1].id);
    // A key makes a retry count once; the answer is the stored metric.
    let first = post(&w, &[(one.clone(), Some("retry-1"))]).await;
    assert_eq!(first.report.inserted, 1);
    let again = post(&w, &[(one.clone(), Some("retry-1"))]).await;
    assert_eq!((again.report.inserted, again.report.unchanged), (0, 1));
    assert_eq!(again.metrics, first.metrics);
    assert_eq!(stored(db).await.len(), 3);
    // The same key with other content is a conflict, and the batch is refused.
    let other = metric(&w.tb, START, END, json!(1.5));
    let mut other_user = one.clone();
    other_user["user_id"] = json!("someone");
    for changed in [other.clone(), other_user] {
        let added = post(
            &w,
            &[
                (metric(&w.count, START, END, json!(3)), None),
                (changed, Some("retry-1")),
            ],
        )
        .await;
        assert_eq!(added.report.rejected.len(), 1);
        let rejection = &added.report.rejected[0];
        assert_eq!(
            (rejection.index, rejection.kind, rejection.key.as_str()),
            (1, RejectionKind::Conflict, "retry-1")
        );
        assert_eq!(
            rejection.reason,
            "idempotency key retry-1 was already used for another metric of this installation."
        );
    }
    assert_eq!(stored(db).await.len(), 3);
    // Keys are per installation.
    let elsewhere = post_as(
        &w,
        &ProjectScope::All,
        w.second.id,
        &[(other, Some("retry-1"))],
    )
    .await;
    assert_eq!(elsewhere.report.inserted, 1);
    // Within one batch: the same key and content is stored once…
    let added = post(
        &w,
        &[
            (one.clone(), Some("batch-1")),
            (one.clone(), Some("batch-1")),
        ],
    )
    .await;
    assert_eq!((added.report.inserted, added.report.unchanged), (1, 1));
    assert_eq!(added.metrics[0], added.metrics[1]);
    // …other content under it is a conflict.
    let added = post(
        &w,
        &[
            (one.clone(), Some("batch-2")),
            (metric(&w.tb, START, END, json!(9)), Some("batch-2")),
        ],
    )
    .await;
    assert_eq!(added.report.rejected[0].kind, RejectionKind::Conflict);
    assert_eq!(added.report.rejected[0].index, 1);
    assert_eq!(stored(db).await.len(), 5);
    assert_rollups_consistent(db).await;
}

#[tokio::test]
async fn a_rejected_batch_leaves_nothing() {
    let w = setup().await;
    let good = metric(&w.tb, START, END, json!(4));
    let batch = [
        (good.clone(), None),
        (good.clone(), Some("a")),
        (metric(&w.tb, END, START, json!(4)), None),
    ];
    let added = post(&w, &batch).await;
    assert_eq!(
        added
            .report
            .rejected
            .iter()
            .map(|r| r.index)
            .collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!((added.report.inserted, added.metrics.len()), (0, 0));
    assert_empty(&w.db.conn).await;
    // The valid part alone goes through.
    let added = post(&w, &batch[..2]).await;
    assert_eq!(added.report.inserted, 2);
    assert_rollups_consistent(&w.db.conn).await;
}

#[tokio::test]
async fn metrics_count_whole_on_their_start_day_and_hour() {
    let w = setup().await;
    let db = &w.db.conn;
    let batch = [
        // Spans midnight: counts on 1 March, in the 23:00 hour.
        (
            metric(
                &w.tb,
                "2025-03-01T23:30:00Z",
                "2025-03-02T01:00:00Z",
                json!(2.5),
            ),
            None,
        ),
        (
            metric(
                &w.tb,
                "2025-03-01T23:59:00Z",
                "2025-03-05T00:00:00Z",
                json!(-1.25),
            ),
            None,
        ),
        // Half-even at the sixth decimal.
        (
            metric(
                &w.count,
                "2025-03-02T00:00:00Z",
                "2025-03-02T00:01:00Z",
                json!(0.000_002_5),
            ),
            None,
        ),
        (
            metric(
                &w.count,
                "2025-03-02T00:10:00Z",
                "2025-03-02T00:11:00Z",
                json!(0.000_003_5),
            ),
            None,
        ),
        (
            metric(
                &w.count,
                "2025-03-02T00:20:00Z",
                "2025-03-02T00:21:00Z",
                json!(-0.000_000_5),
            ),
            None,
        ),
    ];
    let added = post(&w, &batch).await;
    assert!(added.report.accepted(), "{:?}", added.report);
    let march = |d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap();
    let mut daily: Vec<_> = eosc_metric_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.metric_definition_id,
                r.day,
                r.project_id,
                r.value_sum,
                r.metric_count,
            )
        })
        .collect();
    daily.sort_by_key(|r| r.1);
    assert_eq!(
        daily,
        vec![
            (w.tb.id, march(1), w.project.id, 1.25, 2),
            (
                w.count.id,
                march(2),
                w.project.id,
                0.000_002_5 + 0.000_003_5 - 0.000_000_5,
                3
            ),
        ]
    );
    let mut usage: Vec<_> = usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.source,
                r.resource_id,
                r.unit,
                r.scale,
                r.day,
                r.quantity,
                r.record_count,
            )
        })
        .collect();
    usage.sort_by_key(|r| r.4);
    let eosc = || "eosc".to_owned();
    assert_eq!(
        usage,
        vec![
            (
                eosc(),
                w.first.id,
                "TB".to_owned(),
                6,
                march(1),
                1_250_000,
                2
            ),
            // 2.5 → 2, 3.5 → 4, -0.5 → 0 micro-units.
            (eosc(), w.first.id, "#".to_owned(), 6, march(2), 6, 3),
        ]
    );
    let mut hours: Vec<_> = usage_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.unit, r.hour, r.quantity, r.record_count))
        .collect();
    hours.sort_by_key(|r| r.1);
    assert_eq!(
        hours,
        vec![
            (
                "TB".to_owned(),
                Utc.with_ymd_and_hms(2025, 3, 1, 23, 0, 0).unwrap(),
                1_250_000,
                2
            ),
            (
                "#".to_owned(),
                Utc.with_ymd_and_hms(2025, 3, 2, 0, 0, 0).unwrap(),
                6,
                3
            ),
        ]
    );
}

#[tokio::test]
async fn usage_totals_never_leave_the_integer_range() {
    let w = setup().await;
    let big = |start: &str, end: &str| (metric(&w.tb, start, end, json!(9e12)), None);
    let added = post(&w, &[big(START, END)]).await;
    assert_eq!(added.report.inserted, 1);
    // 9e18 + 9e18 micro-units would overflow the day's and the hour's total.
    let added = post(&w, &[big("2025-03-01T10:30:00Z", END)]).await;
    assert_eq!(added.report.rejected.len(), 1, "{:?}", added.report);
    assert_eq!(
        added.report.rejected[0].reason,
        "the installation's total in TB for 2025-03-01 would exceed the range Tally accounts."
    );
    // In the same batch too.
    let added = post(
        &w,
        &[
            big("2025-03-02T10:00:00Z", "2025-03-02T11:00:00Z"),
            big("2025-03-02T10:00:00Z", "2025-03-02T11:00:00Z"),
        ],
    )
    .await;
    assert_eq!(added.report.rejected.len(), 2);
    // Another day, or a negative value on the same day, is fine.
    let added = post(
        &w,
        &[
            big("2025-03-02T10:00:00Z", "2025-03-02T11:00:00Z"),
            (metric(&w.tb, START, END, json!(-9e12)), None),
        ],
    )
    .await;
    assert_eq!(added.report.inserted, 2, "{:?}", added.report);
    assert_rollups_consistent(&w.db.conn).await;
}

/// One generated metric.
#[derive(Debug, Clone)]
struct Gen {
    definition: bool,
    start_minutes: u32,
    duration_minutes: u32,
    micro: i64,
    key: Option<u8>,
}

/// One step of a random sequence.
#[derive(Debug, Clone)]
enum Step {
    /// A fresh batch for installation `first` (else `second`).
    Batch(bool, Vec<Gen>),
    /// Send an accepted batch (its number modulo the accepted ones) again.
    Replay(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let key = prop_oneof![2 => Just(None), 1 => (0_u8..4).prop_map(Some)];
    let one = (
        any::<bool>(),
        0_u32..(60 * 24 * 20),
        1_u32..(60 * 24 * 3),
        -1_000_000_000_000_i64..1_000_000_000_000,
        key,
    )
        .prop_map(
            |(definition, start_minutes, duration_minutes, micro, key)| Gen {
                definition,
                start_minutes,
                duration_minutes,
                micro,
                key,
            },
        );
    let step = prop_oneof![
        3 => (any::<bool>(), proptest::collection::vec(one, 1..8)).prop_map(|(i, b)| Step::Batch(i, b)),
        1 => any::<usize>().prop_map(Step::Replay),
    ];
    proptest::collection::vec(step, 1..6)
}

const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];

fn to_batch(w: &World, metrics: &[Gen]) -> Vec<(Value, Option<&'static str>)> {
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    metrics
        .iter()
        .map(|g| {
            let start = base + Duration::minutes(i64::from(g.start_minutes));
            let end = start + Duration::minutes(i64::from(g.duration_minutes));
            #[expect(clippy::cast_precision_loss, reason = "below 2^53")]
            let value = g.micro as f64 / 1e6;
            let definition = if g.definition { &w.tb } else { &w.count };
            (
                metric(definition, &text(start), &text(end), json!(value)),
                g.key.map(|k| KEYS[usize::from(k)]),
            )
        })
        .collect()
}

/// After any sequence of batches (some refused for reusing a key with other
/// content) and replays, every rollup equals the sum of the raw metrics, and a
/// replay adds exactly its unkeyed metrics.
#[test]
fn rollups_equal_raw_sums_after_any_sequence() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let w = runtime.block_on(setup());
    let config = ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in steps())| {
        runtime.block_on(async {
            let mut accepted: Vec<(i64, Vec<Gen>)> = Vec::new();
            for step in &steps {
                match step {
                    Step::Batch(first, metrics) => {
                        let installation = if *first { w.first.id } else { w.second.id };
                        let before = stored(&w.db.conn).await.len();
                        let added = post_as(&w, &ProjectScope::All, installation, &to_batch(&w, metrics)).await;
                        if added.report.accepted() {
                            accepted.push((installation, metrics.clone()));
                        } else {
                            assert!(added.report.rejected.iter().all(|r| r.kind == RejectionKind::Conflict));
                            assert_eq!(stored(&w.db.conn).await.len(), before, "a refused batch stores nothing");
                        }
                    }
                    Step::Replay(n) if !accepted.is_empty() => {
                        let (installation, metrics) = &accepted[n % accepted.len()];
                        let added = post_as(&w, &ProjectScope::All, *installation, &to_batch(&w, metrics)).await;
                        let keyed = metrics.iter().filter(|g| g.key.is_some()).count();
                        assert!(added.report.accepted(), "{:?}", added.report);
                        assert_eq!(
                            (added.report.inserted, added.report.unchanged),
                            (metrics.len() - keyed, keyed)
                        );
                    }
                    Step::Replay(_) => {}
                }
                assert_rollups_consistent(&w.db.conn).await;
            }
        });
    });
    drop(w);
}

/// A key stored by a concurrent transaction after this one looked it up: the
/// insert waits for it, then answers as a replay (same content) or a conflict.
/// PostgreSQL only: SQLite has one writer, so the lookup cannot race.
#[tokio::test]
async fn a_key_stored_concurrently_is_a_replay_or_a_conflict() {
    let w = setup().await;
    if w.db.backend() != sea_orm::DbBackend::Postgres {
        eprintln!("skipped: only PostgreSQL has concurrent writers to race");
        return;
    }
    for (value, replay) in [(1.0, true), (2.0, false)] {
        let key = format!("race-{replay}");
        let body = metric(&w.tb, START, END, json!(1.0));
        let input: MetricInput = serde_json::from_value(body).unwrap();
        let first = w.db.conn.begin().await.unwrap();
        let one = [NewMetric {
            input: &input,
            idempotency_key: Some(&key),
        }];
        let (conn, installation, key2) = (w.db.conn.clone(), w.first.id, key.clone());
        let body = metric(&w.tb, START, END, json!(value));
        let (added, racer) = w
            .db
            .bus()
            .write(first, async |first| {
                let added =
                    eosc::add_metrics(first, &ProjectScope::All, w.first.id, None, &one).await?;
                assert_eq!(added.report.inserted, 1);
                let racer = tokio::spawn(async move {
                    let input: MetricInput = serde_json::from_value(body).unwrap();
                    let txn = conn.begin().await.unwrap();
                    let one = [NewMetric {
                        input: &input,
                        idempotency_key: Some(&key2),
                    }];
                    EventBus::publisher(&conn)
                        .write(txn, async |txn| {
                            let added = eosc::add_metrics(
                                txn,
                                &ProjectScope::All,
                                installation,
                                None,
                                &one,
                            )
                            .await?;
                            Ok::<_, Error>(decide(added))
                        })
                        .await
                        .unwrap()
                });
                // Let the racer look the key up (not there yet) and block on
                // the insert; this transaction commits when the closure returns.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                Ok::<_, Error>(Decision::Commit((added, racer)))
            })
            .await
            .unwrap();
        let raced = racer.await.unwrap();
        if replay {
            assert_eq!((raced.report.inserted, raced.report.unchanged), (0, 1));
            assert_eq!(raced.metrics, added.metrics);
        } else {
            assert_eq!(raced.report.rejected.len(), 1);
            assert_eq!(raced.report.rejected[0].kind, RejectionKind::Conflict);
        }
    }
    assert_eq!(stored(&w.db.conn).await.len(), 2);
    assert_rollups_consistent(&w.db.conn).await;
}
