//! Events for subscribers: usage as it is ingested, and recomputation
//! progress, delivered to every Tally instance (`docs/graphql.md`,
//! Subscriptions).
//!
//! An event is published only when the transaction that caused it commits.
//! Usage changes are recorded where they are written, by the one writer of the
//! cross-source daily rollup ([`super::rollup::Deltas::apply`] on
//! [`super::usage::USAGE_DAILY`]), into an outbox that exists while
//! [`collect`] runs the writing code; every ingestion path (HPC jobs, bucket
//! samples, APEL messages, EOSC metrics, recomputation) reports its changes
//! that way without a collector threaded through each service. The code that
//! commits then hands the collected events to [`EventBus::commit`]:
//!
//! - on PostgreSQL, `pg_notify('tally_events', …)` runs inside the
//!   transaction, so PostgreSQL delivers the notification at commit and never
//!   for a rollback, to every instance that `LISTEN`s, this one included;
//! - on SQLite (one process), the events go to this process's subscribers
//!   right after the commit.
//!
//! Each instance fans what it hears out to its subscribers through a tokio
//! broadcast channel; a subscriber that falls behind by more than
//! [`CAPACITY`] events misses the oldest (live updates, not a log: the rollups
//! stay the record).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, Value,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::rollup::{Key, Rollup};
use super::usage::USAGE_DAILY;
use crate::error::Error;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "tally_events";

/// Events one instance buffers per subscriber.
pub const CAPACITY: usize = 4096;

/// A notification's payload must stay under PostgreSQL's 8000 bytes; events
/// are sent as JSON arrays of at most this many bytes.
const MAX_PAYLOAD: usize = 7000;

/// Something subscribers may hear about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A committed change of a project's usage.
    Usage(UsageChange),
    /// A recomputation run advanced.
    Recomputation(RecomputationProgress),
}

impl Event {
    /// The project the event belongs to (subscribers see only their projects').
    #[must_use]
    pub fn project_id(&self) -> i64 {
        match self {
            Self::Usage(change) => change.project_id,
            Self::Recomputation(progress) => progress.project_id,
        }
    }
}

/// How one committed transaction changed a project's usage of one resource,
/// in one unit, on one UTC day: a row of the cross-source daily rollup and its
/// delta. A correction that lowers usage is a negative delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageChange {
    /// The project.
    pub project_id: i64,
    /// `hpc`, `cloud`, `eosc` or `storage`.
    pub source: String,
    /// `node_type`, `site`, `installation` or `bucket`.
    pub resource_kind: String,
    /// The resource's row id.
    pub resource_id: i64,
    /// The user the usage is accounted to (0: none).
    pub user_key: i64,
    /// The user group (0: none).
    pub group_key: i64,
    /// The unit of `quantity`.
    pub unit: String,
    /// The amount is `quantity / 10^scale`.
    pub scale: i16,
    /// The UTC day.
    pub day: NaiveDate,
    /// The change of the amount, scaled.
    pub quantity: i64,
    /// The change of the number of records (tasks, VM days, metrics, samples).
    pub records: i64,
}

impl UsageChange {
    /// The change of the amount, in `unit`.
    #[must_use]
    #[expect(
        clippy::cast_precision_loss,
        reason = "a display value for charts; `quantity` and `scale` stay exact"
    )]
    pub fn amount(&self) -> f64 {
        self.quantity as f64 / 10_f64.powi(i32::from(self.scale))
    }
}

/// A recomputation run's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecomputationProgress {
    /// The run (`accounting_runs.id`).
    pub run_id: i64,
    /// Its project.
    pub project_id: i64,
    /// `running`, `finished` or `failed`.
    pub state: String,
    /// Tasks recomputed so far.
    pub tasks_done: i64,
    /// Tasks the run covers (may grow while it runs).
    pub tasks_total: i64,
}

tokio::task_local! {
    static OUTBOX: RefCell<Vec<Event>>;
}

/// Runs `work` with an outbox, and returns what it recorded with its output.
/// The events are not published: hand them to [`EventBus::commit`] with the
/// transaction `work` wrote in.
pub async fn collect<F: Future>(work: F) -> (F::Output, Vec<Event>) {
    OUTBOX
        .scope(RefCell::new(Vec::new()), async {
            let output = work.await;
            let events = OUTBOX.with(RefCell::take);
            (output, events)
        })
        .await
}

/// Records `event` in the current outbox; without one (a command-line import,
/// say) nobody is listening and it is dropped.
pub fn record(event: Event) {
    let _no_outbox = OUTBOX.try_with(|outbox| outbox.borrow_mut().push(event));
}

/// Records the rows `rollup` is about to change, when it is the cross-source
/// daily rollup (called by [`super::rollup::Deltas::apply`]).
pub(crate) fn record_rollup<'a>(rollup: &Rollup, rows: impl Iterator<Item = (&'a Key, &'a [i64])>) {
    if rollup.table != USAGE_DAILY.table || OUTBOX.try_with(|_| ()).is_err() {
        return;
    }
    for (key, sums) in rows {
        if let Some(change) = usage_change(key, sums) {
            record(Event::Usage(change));
        }
    }
}

/// Reads a key and deltas of [`USAGE_DAILY`] (columns found by name).
fn usage_change(key: &Key, sums: &[i64]) -> Option<UsageChange> {
    let at = |name: &str| {
        USAGE_DAILY
            .keys
            .iter()
            .position(|k| *k == name)
            .and_then(|i| key.0.get(i))
    };
    let sum = |name: &str| {
        USAGE_DAILY
            .sums
            .iter()
            .position(|k| *k == name)
            .and_then(|i| sums.get(i).copied())
    };
    let int = |name: &str| match at(name)? {
        Value::BigInt(Some(v)) => Some(*v),
        Value::Int(Some(v)) => Some(i64::from(*v)),
        Value::SmallInt(Some(v)) => Some(i64::from(*v)),
        _ => None,
    };
    let text = |name: &str| match at(name)? {
        Value::String(Some(v)) => Some(v.clone()),
        _ => None,
    };
    let day = match at("day")? {
        Value::ChronoDate(Some(day)) => *day,
        _ => return None,
    };
    Some(UsageChange {
        project_id: int("project_id")?,
        source: text("source")?,
        resource_kind: text("resource_kind")?,
        resource_id: int("resource_id")?,
        user_key: int("user_key")?,
        group_key: int("group_key")?,
        unit: text("unit")?,
        scale: i16::try_from(int("scale")?).ok()?,
        day,
        quantity: sum("quantity")?,
        records: sum("record_count")?,
    })
}

/// Delivers committed events to the subscribers of every instance.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
    backend: DbBackend,
    _listener: Option<Arc<Listener>>,
}

/// The task that listens for notifications; stopped when the last handle on
/// the bus goes.
struct Listener(JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EventBus {
    /// A bus for `db`. On PostgreSQL it listens on [`CHANNEL`] through a
    /// connection of its own to `url` (not one of the pool's), established
    /// before this returns so that nothing committed afterwards is missed.
    ///
    /// # Errors
    /// The listening connection cannot be opened.
    pub async fn start(db: &DatabaseConnection, url: &str) -> Result<Self, Error> {
        let (sender, _) = broadcast::channel(CAPACITY);
        let backend = db.get_database_backend();
        let listener = if backend == DbBackend::Postgres {
            let listener = listen(url).await.map_err(|e| Error::internal(&e))?;
            Some(Arc::new(Listener(tokio::spawn(relay(
                listener,
                url.to_owned(),
                sender.clone(),
            )))))
        } else {
            None
        };
        Ok(Self {
            sender,
            backend,
            _listener: listener,
        })
    }

    /// Commits `txn` and publishes `events` with it: on PostgreSQL as
    /// notifications inside the transaction (delivered at commit), on SQLite
    /// to this process's subscribers after the commit.
    ///
    /// # Errors
    /// A database error; then nothing is committed and nothing published.
    pub async fn commit(&self, txn: DatabaseTransaction, events: Vec<Event>) -> Result<(), Error> {
        if self.backend == DbBackend::Postgres {
            notify(&txn, &events).await?;
            txn.commit().await?;
        } else {
            txn.commit().await?;
            self.deliver(events);
        }
        Ok(())
    }

    /// Publishes `events` about work already committed (outside a
    /// transaction).
    ///
    /// # Errors
    /// A database error while notifying.
    pub async fn publish(
        &self,
        db: &impl ConnectionTrait,
        events: Vec<Event>,
    ) -> Result<(), Error> {
        if self.backend == DbBackend::Postgres {
            notify(db, &events).await
        } else {
            self.deliver(events);
            Ok(())
        }
    }

    /// A new subscriber: it hears every event published from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// How many subscribers this instance has now.
    #[must_use]
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    fn deliver(&self, events: Vec<Event>) {
        for event in events {
            // No subscriber: nobody to tell.
            let _nobody = self.sender.send(Arc::new(event));
        }
    }
}

/// Sends `events` as notifications on [`CHANNEL`], as JSON arrays that fit a
/// payload.
async fn notify(db: &impl ConnectionTrait, events: &[Event]) -> Result<(), Error> {
    for payload in payloads(events)? {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
}

/// `events` as JSON arrays of at most [`MAX_PAYLOAD`] bytes each.
fn payloads(events: &[Event]) -> Result<Vec<String>, Error> {
    let mut payloads = Vec::new();
    let mut current = String::from("[");
    for event in events {
        let json = serde_json::to_string(event).map_err(|e| Error::internal(&e))?;
        if current.len() > 1 && current.len() + json.len() + 2 > MAX_PAYLOAD {
            current.push(']');
            payloads.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&json);
    }
    if current.len() > 1 {
        current.push(']');
        payloads.push(current);
    }
    Ok(payloads)
}

async fn listen(url: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Passes notifications on to the local subscribers, reconnecting (after a
/// pause) when the connection breaks. Notifications sent while it was down
/// are lost: subscribers see live changes, the rollups keep the record.
async fn relay(mut listener: PgListener, url: String, sender: broadcast::Sender<Arc<Event>>) {
    loop {
        match listener.recv().await {
            Ok(notification) => match serde_json::from_str::<Vec<Event>>(notification.payload()) {
                Ok(events) => {
                    for event in events {
                        let _nobody = sender.send(Arc::new(event));
                    }
                }
                Err(error) => tracing::warn!(%error, "unreadable event notification"),
            },
            Err(error) => {
                tracing::warn!(%error, "event listener lost its connection; reconnecting");
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match listen(&url).await {
                        Ok(fresh) => {
                            listener = fresh;
                            break;
                        }
                        Err(error) => tracing::warn!(%error, "event listener cannot reconnect"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(project_id: i64) -> Event {
        Event::Usage(UsageChange {
            project_id,
            source: "hpc".to_owned(),
            resource_kind: "node_type".to_owned(),
            resource_id: 7,
            user_key: 0,
            group_key: 0,
            unit: "node_hour".to_owned(),
            scale: 3,
            day: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
            quantity: 12_345,
            records: 1,
        })
    }

    #[test]
    fn payloads_fit_a_notification_and_round_trip() {
        let events: Vec<Event> = (0..200).map(change).collect();
        let sent = payloads(&events).unwrap();
        assert!(sent.len() > 1);
        let mut back = Vec::new();
        for payload in &sent {
            assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
            back.extend(serde_json::from_str::<Vec<Event>>(payload).unwrap());
        }
        assert_eq!(back, events);
        assert!(payloads(&[]).unwrap().is_empty());
    }

    #[test]
    fn amounts_apply_the_scale() {
        let Event::Usage(change) = change(1) else {
            unreachable!()
        };
        assert!((change.amount() - 12.345).abs() < 1e-9);
    }

    #[tokio::test]
    async fn outboxes_collect_only_inside_their_scope() {
        record(change(1));
        let ((), events) = collect(async { record(change(2)) }).await;
        assert_eq!(events, vec![change(2)]);
    }
}
