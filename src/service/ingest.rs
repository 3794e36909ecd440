//! The write path every ingestion batch shares: one transaction inside
//! [`EventBus::write`] (all or nothing; subscribers hear of it when, and only
//! when, it commits) and the idempotency keys (`docs/ingestion.md`).
//!
//! A caller that sends a key gets, for the same key, route and caller, the
//! first committed answer again and changes nothing; the same key with
//! another request is refused. Only committed batches are remembered, in the
//! batch's own transaction, so a corrected retry of a refused batch may reuse
//! its key. The REST batches and the GraphQL ingestion mutations both call
//! [`ingest`]; each says which [`Route`] it is, and the key namespace is
//! (route, caller).

use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection, DatabaseTransaction, SqlErr,
    TransactionTrait as _,
};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::batch::Report;
use super::events::{Decision, EventBus};
use crate::auth::Principal;
use crate::entity::idempotency_keys;
use crate::error::Error;

/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key: 1 to [`MAX_KEY_LEN`] visible ASCII
/// characters (spaces and tabs allowed inside, as in an HTTP header value),
/// without surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key `raw` names once trimmed; `None` when it is empty, too long or
    /// holds anything but visible ASCII, spaces and tabs.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let key = raw.trim();
        let visible = key
            .chars()
            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic());
        (!key.is_empty() && key.len() <= MAX_KEY_LEN && visible).then(|| Self(key.to_owned()))
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a batch was sent, which names the namespace of its keys together
/// with the caller.
///
/// A route's requests are compared by a hash of their own kind: the REST
/// routes hash the body as sent (as before this type existed, so keys stored
/// then still match), the GraphQL mutations hash the parsed batch
/// ([`RequestHash::of_batch`]). The two never agree on one batch, so each
/// GraphQL mutation has a route name of its own: a key used on
/// `POST /api/v1/hpc/jobs` is unknown to `ingestJobs`, and the other way
/// round (the batch is then processed, and its records' natural keys make
/// it `unchanged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/v1/hpc/jobs`.
    RestJobs,
    /// `POST /api/v1/storage/usage`.
    RestStorage,
    /// The `ingestJobs` mutation.
    GraphqlJobs,
    /// The `ingestStorageUsage` mutation.
    GraphqlStorage,
}

impl Route {
    /// The name stored with its keys (`idempotency_keys.route`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RestJobs => "hpc/jobs",
            Self::RestStorage => "storage/usage",
            Self::GraphqlJobs => "graphql/ingestJobs",
            Self::GraphqlStorage => "graphql/ingestStorageUsage",
        }
    }
}

/// What identifies a request's content: the same request gives the same
/// hash. SHA-256, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash(String);

impl RequestHash {
    /// The hash of a body as sent (the REST routes).
    #[must_use]
    pub fn of_body(body: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(body)))
    }

    /// The hash of a parsed batch, over its canonical JSON: the service's
    /// batch type serialised, so fields come in the type's order, defaults
    /// are filled in and instants are UTC. The same batch gives the same hash
    /// however the client wrote it (field order, omitted defaults, time zone
    /// offsets, variables or literals).
    ///
    /// # Errors
    /// [`Error::Internal`] if the batch cannot be serialised.
    pub fn of_batch(batch: &impl Serialize) -> Result<Self, Error> {
        let canonical = serde_json::to_vec(batch).map_err(|e| Error::internal(&e))?;
        Ok(Self::of_body(&canonical))
    }
}

/// How an ingestion ended.
#[derive(Debug)]
pub enum Ingested {
    /// The batch committed; this is its report (remembered under the key,
    /// if one was given).
    Stored(Report),
    /// The key was used before for the same request: nothing was done, and
    /// this is the first answer.
    Replayed(Replay),
    /// The service rejected records: nothing was stored, nothing remembered.
    Refused(Report),
    /// The key was used before, by this caller on this route, for another
    /// request: nothing was done.
    KeyReused,
}

/// A remembered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// The HTTP status it was given with.
    pub status: u16,
    /// The report, as JSON.
    pub answer: String,
}

impl Replay {
    /// The remembered report.
    ///
    /// # Errors
    /// [`Error::Internal`] if the stored answer is not a report.
    pub fn report(&self) -> Result<Report, Error> {
        serde_json::from_str(&self.answer).map_err(|e| Error::internal(&e))
    }
}

/// Runs one batch for `who` on `route`: answers a repeated `key` from what
/// was remembered; otherwise runs `process` in one transaction inside
/// [`EventBus::write`], which commits (remembering the report under `key`,
/// if given) only when the report has no rejection.
///
/// # Errors
/// What `process` returns, or a database error; then nothing is stored.
pub async fn ingest(
    db: &DatabaseConnection,
    events: &EventBus,
    who: &Principal,
    route: Route,
    key: Option<&IdempotencyKey>,
    hash: &RequestHash,
    process: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Report, Error>,
) -> Result<Ingested, Error> {
    let who = principal_key(who);
    if let Some(key) = key
        && let Some(seen) = remembered(db, route, &who, key, hash).await?
    {
        return Ok(seen);
    }
    let outcome = transaction(db, events, async |txn| {
        let report = process(txn).await?;
        if !report.accepted() {
            return Ok(Decision::RollBack(Outcome::Refused(report)));
        }
        if let Some(key) = key
            && let Err(error) = remember(txn, route, &who, key, hash, &report).await
        {
            if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                return Ok(Decision::RollBack(Outcome::Raced(error.into())));
            }
            return Err(error.into());
        }
        Ok(Decision::Commit(Outcome::Stored(report)))
    })
    .await?;
    match outcome {
        Outcome::Stored(report) => Ok(Ingested::Stored(report)),
        Outcome::Refused(report) => Ok(Ingested::Refused(report)),
        // A concurrent request with the same key committed first: answer as it did.
        Outcome::Raced(error) => match key {
            Some(key) => remembered(db, route, &who, key, hash).await?.ok_or(error),
            None => Err(error),
        },
    }
}

/// Runs `work` in one transaction inside [`EventBus::write`]: committed
/// with its usage events when `work` decides so, rolled back (publishing
/// nothing) when it decides so or fails. Every ingestion runs in one.
///
/// # Errors
/// What `work` returns, or a database error; then nothing is stored.
pub async fn transaction<T>(
    db: &DatabaseConnection,
    events: &EventBus,
    work: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Decision<T>, Error>,
) -> Result<T, Error> {
    let txn = db.begin().await?;
    events.write(txn, work).await
}

/// How a batch's transaction ended.
enum Outcome {
    /// Committed.
    Stored(Report),
    /// Rolled back: the service rejected records.
    Refused(Report),
    /// Rolled back: a concurrent request stored the same key first (the
    /// unique violation, should its answer not be found).
    Raced(Error),
}

/// Who a key belongs to: the Tally user, or the external subject.
fn principal_key(who: &Principal) -> String {
    match who.user_id {
        Some(id) => format!("user:{id}"),
        None => format!("subject:{}", who.name),
    }
}

/// What a repeated key answers: the remembered answer for the same request,
/// [`Ingested::KeyReused`] for another; `None` for a new key.
async fn remembered(
    db: &DatabaseConnection,
    route: Route,
    who: &str,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<Option<Ingested>, Error> {
    let Some(found) = idempotency_keys::Entity::find_by_key(route.name(), who, key.as_str())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if found.request_hash != hash.0 {
        return Ok(Some(Ingested::KeyReused));
    }
    Ok(Some(Ingested::Replayed(Replay {
        status: u16::try_from(found.status).unwrap_or(200),
        answer: found.response,
    })))
}

/// Remembers `report` as the answer to `key`, in the batch's transaction.
async fn remember(
    txn: &DatabaseTransaction,
    route: Route,
    who: &str,
    key: &IdempotencyKey,
    hash: &RequestHash,
    report: &Report,
) -> Result<(), sea_orm::DbErr> {
    let answer =
        serde_json::to_string(report).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    idempotency_keys::ActiveModel {
        route: Set(route.name().to_owned()),
        principal: Set(who.to_owned()),
        key: Set(key.as_str().to_owned()),
        request_hash: Set(hash.0.clone()),
        status: Set(200),
        response: Set(answer),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_1_to_255_characters() {
        assert_eq!(
            IdempotencyKey::parse("  batch 0001 ").map(|k| k.0),
            Some("batch 0001".to_owned())
        );
        for bad in ["", "   ", "new\nline", "ünïcode", &"k".repeat(256)] {
            assert_eq!(IdempotencyKey::parse(bad), None, "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
    }

    #[test]
    fn the_same_batch_hashes_the_same() {
        #[derive(Serialize)]
        struct Batch {
            a: u8,
            b: Vec<&'static str>,
        }
        let one = RequestHash::of_batch(&Batch { a: 1, b: vec!["x"] }).ok();
        assert_eq!(
            one,
            RequestHash::of_batch(&Batch { a: 1, b: vec!["x"] }).ok()
        );
        assert_ne!(
            one,
            RequestHash::of_batch(&Batch { a: 2, b: vec!["x"] }).ok()
        );
        assert_eq!(one.map(|h| h.0.len()), Some(64));
    }
}
