//! Events for subscribers: usage as it is ingested, and recomputation
//! progress, delivered to every Tally instance (`docs/graphql.md`,
//! Subscriptions).
//!
//! An event is published only when the transaction that caused it commits.
//! Usage changes are recorded where they are written, by the one writer of the
//! cross-source daily rollup ([`super::rollup::Deltas::apply`] on
//! [`super::usage::USAGE_DAILY`]), into an outbox that exists while
//! [`EventBus::write`] runs the writing code; every ingestion path (HPC jobs,
//! bucket samples, APEL messages, EOSC metrics, recomputation; from REST,
//! GraphQL, `tally import`, `tally demo` or the recomputation worker) reports
//! its changes that way without a collector threaded through each service.
//! [`EventBus::write`] is the one way to run an ingestion transaction: it
//! commits it with the events, or rolls it back and drops them. Writing usage
//! outside it is an error, so a new path cannot forget to publish: its first
//! test fails instead.
//!
//! The outbox coalesces a transaction's usage changes into one event per
//! project, source, resource, unit and UTC day (the item of the
//! `usageIngested` subscription), whatever the number of records, users and
//! groups behind it; changes that cancel out are dropped. Publishing:
//!
//! - on PostgreSQL, `pg_notify('tally_events', …)` runs inside the
//!   transaction, so PostgreSQL delivers the notification at commit and never
//!   for a rollback, to every instance that `LISTEN`s, this one included;
//! - on SQLite (one process), the events go to this process's subscribers
//!   right after the commit. A command-line process (`tally import`, `tally
//!   demo`) has none: on SQLite only the serving process sees events.
//!
//! Each instance fans what it hears out to its subscribers through a tokio
//! broadcast channel; a subscriber that falls behind by more than
//! [`CAPACITY`] events misses the oldest (live updates, not a log: the rollups
//! stay the record).

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::error::Error;

mod outbox;

use outbox::collect;
pub(crate) use outbox::{record, record_rollup};

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
/// in one unit, on one UTC day: the sum of the deltas of the cross-source
/// daily rollup's rows for them (whatever their users and groups). A
/// correction that lowers usage is a negative delta.
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

/// What an ingestion decided about its transaction ([`EventBus::write`]).
#[derive(Debug)]
pub enum Decision<T> {
    /// Commit, and publish the events recorded.
    Commit(T),
    /// Roll back: nothing is stored, nothing published.
    RollBack(T),
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

    /// A bus that publishes but does not listen, for a command that ingests
    /// and exits (`tally import`, `tally demo`): on PostgreSQL its events
    /// reach every serving instance (their `LISTEN`), on SQLite only this
    /// process's subscribers, which a command has none of. Its own
    /// subscribers hear nothing on PostgreSQL.
    #[must_use]
    pub fn publisher(db: &DatabaseConnection) -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            sender,
            backend: db.get_database_backend(),
            _listener: None,
        }
    }

    /// Runs an ingestion: `work` in `txn`, recording the events of what it
    /// writes, then ends the transaction as `work` decides. [`Decision::Commit`]
    /// commits and publishes the events with the commit; [`Decision::RollBack`]
    /// or an error rolls back and publishes nothing.
    ///
    /// # Errors
    /// `work`'s error, or a database error while committing or rolling back
    /// (then nothing is committed and nothing published).
    pub async fn write<T, E: From<Error>>(
        &self,
        txn: DatabaseTransaction,
        work: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Decision<T>, E>,
    ) -> Result<T, E> {
        let (outcome, events) = collect(work(&txn)).await;
        match outcome {
            Ok(Decision::Commit(value)) => {
                self.commit(txn, events).await?;
                Ok(value)
            }
            Ok(Decision::RollBack(value)) => {
                txn.rollback().await.map_err(Error::from)?;
                Ok(value)
            }
            Err(error) => {
                txn.rollback().await.map_err(Error::from)?;
                Err(error)
            }
        }
    }

    /// Commits `txn` and publishes `events` with it: on PostgreSQL as
    /// notifications inside the transaction (delivered at commit), on SQLite
    /// to this process's subscribers after the commit.
    ///
    /// # Errors
    /// A database error; then nothing is committed and nothing published.
    async fn commit(&self, txn: DatabaseTransaction, events: Vec<Event>) -> Result<(), Error> {
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
    // Under `sslmode=prefer`, fall back to no TLS as the pool does (`db::connect`).
    let mut listener = match PgListener::connect(url).await {
        Err(error)
            if crate::db::prefers_tls(url) && crate::db::is_tls_message(&error.to_string()) =>
        {
            PgListener::connect(&crate::db::with_sslmode_disable(url)).await?
        }
        other => other?,
    };
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
}
