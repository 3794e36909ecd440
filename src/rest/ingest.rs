//! Tally's ingestion endpoints (`/api/v1/...`): JSON batches, all-or-nothing,
//! with an optional `Idempotency-Key`.
//!
//! Answers: 200 with the counts when the batch committed; 403/409/422 with the
//! same report listing every rejected record when it did not (then nothing was
//! stored). A repeated `Idempotency-Key` (same route, same caller) gets the
//! first committed answer again, with `Idempotent-Replayed: true`, and changes
//! nothing; the same key with another body is refused with 422.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, DatabaseTransaction, SqlErr, TransactionTrait as _,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use crate::app::AppState;
use crate::auth::{Caller, Principal, ProjectScope};
use crate::entity::idempotency_keys;
use crate::error::Error;
use crate::service::batch::{RejectionKind, Report};
use crate::service::events::Decision;
use crate::service::{jobs, storage};

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

/// `POST /api/v1/storage/usage` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageBatch {
    samples: Vec<storage::Sample>,
    /// Replace stored samples that differ instead of rejecting them.
    #[serde(default)]
    correction: bool,
}

/// `POST /api/v1/storage/usage`: hourly bucket samples.
pub async fn storage_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(
        &state,
        "storage/usage",
        &headers,
        &body,
        async |batch: StorageBatch, scope, txn| {
            storage::ingest(txn, &scope, &batch.samples, batch.correction).await
        },
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /api/v1/hpc/jobs`: jobs of one cluster, each whole, with their tasks.
pub async fn hpc_jobs(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    run(
        &state,
        "hpc/jobs",
        &headers,
        &body,
        async |batch: jobs::JobBatch, scope, txn| jobs::ingest(txn, &scope, &batch).await,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The caller's principal, if they may post usage at all.
async fn collector(state: &AppState, headers: &HeaderMap) -> Result<Principal, Error> {
    let principal = match state
        .auth
        .bearer(&state.db, headers)
        .await
        .map_err(Error::from)?
    {
        Caller::Authenticated(principal) => principal,
        Caller::Anonymous => return Err(Error::Unauthenticated),
    };
    if principal.is_collector() {
        Ok(principal)
    } else {
        Err(Error::Forbidden(
            "posting usage needs the collector role".to_owned(),
        ))
    }
}

/// Runs one batch: authenticate, parse, replay or process in a transaction,
/// remember the answer.
async fn run<B, F>(
    state: &AppState,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
    process: F,
) -> Result<Response, Error>
where
    B: DeserializeOwned,
    F: AsyncFnOnce(B, ProjectScope, &DatabaseTransaction) -> Result<Report, Error>,
{
    let principal = collector(state, headers).await?;
    let who = match principal.user_id {
        Some(id) => format!("user:{id}"),
        None => format!("subject:{}", principal.name),
    };
    let key = match headers.get("idempotency-key") {
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible characters"
                    ))
                })?;
            Some(key.to_owned())
        }
        None => None,
    };
    let hash = hex::encode(Sha256::digest(body));
    if let Some(key) = &key
        && let Some(response) = replay(state, route, &who, key, &hash).await?
    {
        return Ok(response);
    }
    let batch: B = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("invalid batch: {e}")))?;
    let scope = principal.collector_projects();
    let txn = state.db.begin().await?;
    let outcome = state
        .events
        .write::<_, Error>(txn, async |txn| {
            let report = process(batch, scope, txn).await?;
            if !report.accepted() {
                return Ok(Decision::RollBack(Outcome::Refused(report)));
            }
            let answer = serde_json::to_string(&report).map_err(|e| Error::internal(&e))?;
            if let Some(key) = &key {
                let remembered = idempotency_keys::ActiveModel {
                    route: Set(route.to_owned()),
                    principal: Set(who.clone()),
                    key: Set(key.clone()),
                    request_hash: Set(hash.clone()),
                    status: Set(200),
                    response: Set(answer.clone()),
                    ..Default::default()
                }
                .insert(txn)
                .await;
                if let Err(error) = remembered {
                    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                        return Ok(Decision::RollBack(Outcome::Raced(error.into())));
                    }
                    return Err(error.into());
                }
            }
            Ok(Decision::Commit(Outcome::Stored(answer)))
        })
        .await?;
    match outcome {
        Outcome::Stored(answer) => Ok((
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            answer,
        )
            .into_response()),
        Outcome::Refused(report) => Ok(refused(report)),
        // A concurrent request with the same key committed first: answer as it did.
        Outcome::Raced(error) => match key {
            Some(key) => match replay(state, route, &who, &key, &hash).await? {
                Some(response) => Ok(response),
                None => Err(error),
            },
            None => Err(error),
        },
    }
}

/// The answer to a batch the service rejected records of: 403 when any was
/// forbidden, else 409 when any conflicted, else 422; the report lists them.
fn refused(report: Report) -> Response {
    let any = |kind: RejectionKind| report.rejected.iter().any(|r| r.kind == kind);
    let status = if any(RejectionKind::Forbidden) {
        StatusCode::FORBIDDEN
    } else if any(RejectionKind::Conflict) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(report)).into_response()
}

/// How a batch's transaction ended.
enum Outcome {
    /// Committed, with this answer.
    Stored(String),
    /// Rolled back: the service rejected records.
    Refused(Report),
    /// Rolled back: a concurrent request stored the same `Idempotency-Key`
    /// first (the unique violation, should its answer not be found).
    Raced(Error),
}

/// The remembered answer for a repeated key, if any.
async fn replay(
    state: &AppState,
    route: &str,
    who: &str,
    key: &str,
    hash: &str,
) -> Result<Option<Response>, Error> {
    let Some(found) = idempotency_keys::Entity::find_by_key(route, who, key)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    if found.request_hash != hash {
        return Err(Error::Unprocessable(
            "this Idempotency-Key was used with another request body".to_owned(),
        ));
    }
    let status = u16::try_from(found.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        found.response,
    )
        .into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Some(response))
}
