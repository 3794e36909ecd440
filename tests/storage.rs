//! Storage ingestion over HTTP: batches are all-or-nothing and idempotent,
//! rollups always equal the sums of the raw hourly rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;
use sea_orm::{DatabaseConnection, EntityTrait as _};
use serde_json::{Value, json};
use tally::auth::Scope;
use tally::entity::{
    bucket_usage_daily, bucket_usage_hourly, bucket_usage_monthly, usage_daily, usage_hourly,
};

use crate::helpers::TestApp;
use crate::helpers::world;

const ROUTE: &str = "/api/v1/storage/usage";

fn hour(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn sample(bucket: &str, at: DateTime<Utc>, byte_hours: i64) -> Value {
    json!({
        "bucket": bucket, "owner": "Jimmy@example.org", "project": "STORE-1",
        "hour": at, "byteHours": byte_hours, "objectDelta": -2, "writes": 5, "deletes": 7,
        "bytesWritten": 100, "bytesDeleted": 50,
    })
}

async fn post(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> (u16, Value, bool) {
    let mut request = app
        .client
        .post(app.url(ROUTE))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    (status, response.json().await.unwrap(), replayed)
}

struct Setup {
    app: TestApp,
    collector: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let db = &app.db.conn;
    world::project(db, "STORE-1").await;
    let id = world::user(db, "collector", "collector", Scope::System).await;
    let collector = app.token_for(id);
    Setup { app, collector }
}

/// Every rollup of storage equals the sum of the hourly rows it covers.
pub async fn assert_storage_rollups_consistent(db: &DatabaseConnection) {
    let hourly = bucket_usage_hourly::Entity::find().all(db).await.unwrap();
    let mut daily: BTreeMap<(i64, NaiveDate), [i64; 7]> = BTreeMap::new();
    let mut monthly: BTreeMap<(i64, NaiveDate), [i64; 7]> = BTreeMap::new();
    let mut usage_by_day: BTreeMap<(i64, NaiveDate), [i64; 2]> = BTreeMap::new();
    let mut usage_by_hour: BTreeMap<(i64, DateTime<Utc>), [i64; 2]> = BTreeMap::new();
    for row in &hourly {
        let day = row.hour.date_naive();
        let amounts = [
            row.byte_hours,
            row.object_delta,
            row.writes,
            row.deletes,
            row.bytes_written,
            row.bytes_deleted,
            1,
        ];
        for (map, key) in [
            (&mut daily, (row.bucket_id, day)),
            (&mut monthly, (row.bucket_id, day.with_day(1).unwrap())),
        ] {
            let entry = map.entry(key).or_default();
            for (sum, amount) in entry.iter_mut().zip(amounts) {
                *sum += amount;
            }
        }
        if row.project_id.is_some() {
            let entry = usage_by_day.entry((row.bucket_id, day)).or_default();
            entry[0] += row.byte_hours;
            entry[1] += 1;
            let entry = usage_by_hour.entry((row.bucket_id, row.hour)).or_default();
            entry[0] += row.byte_hours;
            entry[1] += 1;
        }
    }
    let amounts = |r: &bucket_usage_daily::Model| {
        [
            r.byte_hours,
            r.object_delta,
            r.writes,
            r.deletes,
            r.bytes_written,
            r.bytes_deleted,
            i64::from(r.samples),
        ]
    };
    let stored_daily: BTreeMap<_, _> = bucket_usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.bucket_id, r.day), amounts(r)))
        .filter(|(_, a)| a.iter().any(|v| *v != 0))
        .collect();
    assert_eq!(stored_daily, daily, "bucket_usage_daily = Σ hourly");
    let stored_monthly: BTreeMap<_, _> = bucket_usage_monthly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.bucket_id, r.month),
                [
                    r.byte_hours,
                    r.object_delta,
                    r.writes,
                    r.deletes,
                    r.bytes_written,
                    r.bytes_deleted,
                    i64::from(r.samples),
                ],
            )
        })
        .filter(|(_, a)| a.iter().any(|v| *v != 0))
        .collect();
    assert_eq!(stored_monthly, monthly, "bucket_usage_monthly = Σ hourly");
    let stored: BTreeMap<_, _> = usage_daily::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.source == "storage")
        .map(|r| ((r.resource_id, r.day), [r.quantity, r.record_count]))
        .filter(|(_, a)| a.iter().any(|v| *v != 0))
        .collect();
    assert_eq!(stored, usage_by_day, "usage_daily = Σ hourly");
    let stored: BTreeMap<_, _> = usage_hourly::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.source == "storage")
        .map(|r| ((r.resource_id, r.hour), [r.quantity, r.record_count]))
        .filter(|(_, a)| a.iter().any(|v| *v != 0))
        .collect();
    assert_eq!(stored, usage_by_hour, "usage_hourly = Σ hourly");
}

async fn hourly_rows(db: &DatabaseConnection) -> Vec<bucket_usage_hourly::Model> {
    bucket_usage_hourly::Entity::find().all(db).await.unwrap()
}

#[tokio::test]
async fn batches_insert_replay_conflict_and_correct() {
    let Setup { app, collector } = setup().await;
    let db = &app.db.conn;
    let batch = json!({ "samples": [sample("bucket1", hour(2, 0), 1000), sample("bucket1", hour(2, 1), 3000), sample("bucket2", hour(3, 23), 5)] });
    let (status, report, _) = post(&app, &collector, &batch, None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report,
        json!({ "inserted": 3, "updated": 0, "unchanged": 0, "rejected": [] })
    );
    assert_storage_rollups_consistent(db).await;
    let before = hourly_rows(db).await;

    // The same batch again changes nothing.
    let (status, report, _) = post(&app, &collector, &batch, None).await;
    assert_eq!((status, report["unchanged"].as_u64()), (200, Some(3)));
    assert_eq!(hourly_rows(db).await, before);

    // Other values for a stored hour: rejected, and the new sample beside it is
    // not stored either (all or nothing).
    let conflicting = json!({ "samples": [sample("bucket1", hour(4, 0), 1), sample("bucket1", hour(2, 0), 999)] });
    let (status, report, _) = post(&app, &collector, &conflicting, None).await;
    assert_eq!(status, 409, "{report}");
    assert_eq!(report["rejected"][0]["index"], 1);
    assert_eq!(report["rejected"][0]["kind"], "conflict");
    assert_eq!(
        report["rejected"][0]["key"],
        "bucket1@2026-03-02T00:00:00+00:00"
    );
    assert_eq!(hourly_rows(db).await, before);

    // As a correction it replaces the stored sample, and the rollups follow.
    let mut correction = conflicting.clone();
    correction["correction"] = json!(true);
    let (status, report, _) = post(&app, &collector, &correction, None).await;
    assert_eq!(
        (
            status,
            report["inserted"].as_u64(),
            report["updated"].as_u64()
        ),
        (200, Some(1), Some(1))
    );
    assert_storage_rollups_consistent(db).await;
    let day = bucket_usage_daily::Entity::find().all(db).await.unwrap();
    let march_2 = day
        .iter()
        .find(|r| r.day == NaiveDate::from_ymd_opt(2026, 3, 2).unwrap())
        .unwrap();
    assert_eq!((march_2.byte_hours, march_2.samples), (999 + 3000, 2));
}

#[tokio::test]
async fn invalid_samples_are_rejected_with_reasons() {
    let Setup { app, collector } = setup().await;
    let mut misaligned = sample("b", hour(2, 0) + Duration::minutes(30), 1);
    misaligned["hour"] = json!("2026-03-02T00:30:00Z");
    let mut both = sample("b", hour(2, 1), 1);
    both["bytesStored"] = json!(10);
    let mut negative = sample("b", hour(2, 2), 1);
    negative["writes"] = json!(-1);
    let next_hour = {
        use chrono::DurationRound as _;
        Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::days(2)
    };
    let future = sample("b", next_hour, 1);
    let batch = json!({ "samples": [misaligned, both, negative, future] });
    let (status, report, _) = post(&app, &collector, &batch, None).await;
    assert_eq!(status, 422, "{report}");
    let reasons: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("not the start of an hour"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("exactly one of byteHours and bytesStored"));
    assert!(reasons[2].contains("writes is negative"));
    assert!(reasons[3].contains("in the future"), "{reasons:?}");
    let mut unknown_project = sample("b", hour(2, 3), 1);
    unknown_project["project"] = json!("NOPE");
    let (status, report, _) = post(
        &app,
        &collector,
        &json!({ "samples": [unknown_project] }),
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no project \"NOPE\"")
    );
    let twice = json!({ "samples": [sample("b", hour(2, 4), 1), sample("b", hour(2, 4), 2)] });
    let (status, report, _) = post(&app, &collector, &twice, None).await;
    assert_eq!(status, 422);
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("twice")
    );
    assert_eq!(hourly_rows(&app.db.conn).await, vec![]);
    // Not JSON, or the wrong shape: 400 in Tally's error format, nothing stored.
    for body in [
        "[1,2",
        r#"{"samples": 5}"#,
        r#"{"samples": [], "extra": 1}"#,
    ] {
        let response = app
            .client
            .post(app.url(ROUTE))
            .bearer_auth(&collector)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn only_collectors_post_and_only_for_their_projects() {
    let Setup { app, collector: _ } = setup().await;
    let db = &app.db.conn;
    let other = world::project(db, "STORE-2").await;
    let reader = app.token_for(
        world::user(
            db,
            "reader",
            "eosc_project_reader",
            Scope::Project(other.id),
        )
        .await,
    );
    let scoped =
        app.token_for(world::user(db, "scoped", "collector", Scope::Project(other.id)).await);
    let batch = json!({ "samples": [sample("bucket1", hour(2, 0), 1)] });
    let response = app
        .client
        .post(app.url(ROUTE))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, body, _) = post(&app, &reader, &batch, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    // A collector of STORE-2 may not post for a bucket of STORE-1.
    let (status, body, _) = post(&app, &scoped, &batch, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["rejected"][0]["kind"], "forbidden");
    assert_eq!(hourly_rows(db).await, vec![]);
}

#[tokio::test]
async fn idempotency_keys_return_the_first_answer() {
    let Setup { app, collector } = setup().await;
    let batch = json!({ "samples": [sample("bucket1", hour(2, 0), 1000)] });
    let (status, first, replayed) = post(&app, &collector, &batch, Some("batch-0001")).await;
    assert_eq!((status, replayed), (200, false));
    assert_eq!(first["inserted"], 1);
    let (status, again, replayed) = post(&app, &collector, &batch, Some("batch-0001")).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, first, "the first answer, not `unchanged: 1`");
    let other = json!({ "samples": [sample("bucket1", hour(2, 1), 1)] });
    let (status, body, _) = post(&app, &collector, &other, Some("batch-0001")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(hourly_rows(&app.db.conn).await.len(), 1);
}

/// A client that drops the connection in the middle of a batch leaves nothing
/// of it behind.
#[tokio::test]
async fn a_killed_connection_leaves_none_of_the_batch() {
    use tokio::io::AsyncWriteExt as _;
    let Setup { app, collector } = setup().await;
    let samples: Vec<Value> = (0..200)
        .map(|i| sample("bucket1", hour(1, 0) + Duration::hours(i), 10))
        .collect();
    let body = json!({ "samples": samples }).to_string();
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {collector}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hourly_rows(&app.db.conn).await, vec![]);
    // The complete batch, sent properly, is stored whole.
    let (status, report, _) = post(
        &app,
        &collector,
        &serde_json::from_str(&body).unwrap(),
        None,
    )
    .await;
    assert_eq!((status, report["inserted"].as_u64()), (200, Some(200)));
    assert_storage_rollups_consistent(&app.db.conn).await;
}

/// One step of a random sequence of batches.
#[derive(Debug, Clone)]
enum Step {
    /// A fresh batch of (bucket, hour offset, byte-hours) samples.
    Batch(Vec<(u8, u16, u32)>),
    /// Send batch `n` (mod the batches sent so far) again.
    Replay(usize),
    /// Send batch `n` again with other values, as a correction.
    Correct(usize, u32),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let sample = (0_u8..3, 0_u16..(24 * 40), 0_u32..1_000_000);
    let step = prop_oneof![
        3 => proptest::collection::vec(sample, 1..12).prop_map(Step::Batch),
        1 => any::<usize>().prop_map(Step::Replay),
        1 => (any::<usize>(), 0_u32..1_000_000).prop_map(|(n, v)| Step::Correct(n, v)),
    ];
    proptest::collection::vec(step, 1..8)
}

fn to_body(samples: &[(u8, u16, u32)], correction: bool) -> Value {
    let samples: Vec<Value> = samples
        .iter()
        .map(|(bucket, offset, value)| {
            sample(
                &format!("bucket{bucket}"),
                hour(1, 0) + Duration::hours(i64::from(*offset)),
                i64::from(*value),
            )
        })
        .collect();
    json!({ "samples": samples, "correction": correction })
}

/// After any sequence of batches, replays and corrections, every rollup equals
/// the sum of its raw rows, and replaying any batch changes nothing.
#[test]
fn rollups_equal_raw_sums_after_any_sequence() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Setup { app, collector } = runtime.block_on(setup());
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in steps())| {
        runtime.block_on(async {
            let mut sent: Vec<Vec<(u8, u16, u32)>> = Vec::new();
            for step in &steps {
                match step {
                    Step::Batch(samples) => {
                        // A batch may repeat an hour with another value: then it is
                        // rejected whole, which the invariant must survive too.
                        let (status, _, _) = post(&app, &collector, &to_body(samples, false), None).await;
                        if status == 200 {
                            sent.push(samples.clone());
                        }
                    }
                    Step::Replay(n) if !sent.is_empty() => {
                        let batch = &sent[n % sent.len()];
                        let before = hourly_rows(&app.db.conn).await;
                        let (status, report, _) = post(&app, &collector, &to_body(batch, false), None).await;
                        if status == 200 {
                            assert_eq!(report["inserted"].as_u64().unwrap() + report["updated"].as_u64().unwrap(), 0);
                            assert_eq!(hourly_rows(&app.db.conn).await, before, "a replay changed nothing");
                        }
                    }
                    Step::Correct(n, value) if !sent.is_empty() => {
                        let index = n % sent.len();
                        let corrected: Vec<_> = sent[index].iter().map(|(b, h, _)| (*b, *h, *value)).collect();
                        let (status, _, _) = post(&app, &collector, &to_body(&corrected, true), None).await;
                        if status == 200 {
                            sent[index] = corrected;
                        }
                    }
                    _ => {}
                }
                assert_storage_rollups_consistent(&app.db.conn).await;
            }
        });
    });
    drop(app);
}
