//! Tally's ingestion endpoints (`/api/v1/...`): JSON batches, all-or-nothing,
//! with an optional `Idempotency-Key`. The transaction and the keys are
//! [`crate::service::ingest`]'s; this adapter reads the request and shapes the
//! answer.
//!
//! Answers: 200 with the counts when the batch committed; 403/409/422 with the
//! same report listing every rejected record when it did not (then nothing was
//! stored). A repeated `Idempotency-Key` (same route, same caller) gets the
//! first committed answer again, with `Idempotent-Replayed: true`, and changes
//! nothing; the same key with another body is refused with 422.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseTransaction;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::{Caller, Principal, ProjectScope};
use crate::error::Error;
use crate::service::batch::{RejectionKind, Report};
use crate::service::ingest::{self, IdempotencyKey, Ingested, MAX_KEY_LEN, RequestHash, Route};
use crate::service::{jobs, storage};

/// `POST /api/v1/storage/usage`: hourly bucket samples.
pub async fn storage_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(
        &state,
        Route::RestStorage,
        &headers,
        &body,
        async |batch: storage::Batch, scope, txn| {
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
        Route::RestJobs,
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

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, Error> {
    headers
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(IdempotencyKey::parse)
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible characters"
                    ))
                })
        })
        .transpose()
}

/// Runs one batch: authenticate, read the key, then let the service replay
/// it or parse and process it in a transaction.
async fn run<B, F>(
    state: &AppState,
    route: Route,
    headers: &HeaderMap,
    body: &[u8],
    process: F,
) -> Result<Response, Error>
where
    B: DeserializeOwned,
    F: AsyncFnOnce(B, ProjectScope, &DatabaseTransaction) -> Result<Report, Error>,
{
    let principal = collector(state, headers).await?;
    let key = idempotency_key(headers)?;
    let scope = principal.collector_projects();
    let ingested = ingest::ingest(
        &state.db,
        &state.events,
        &principal,
        route,
        key.as_ref(),
        &RequestHash::of_body(body),
        // Parsed only when the key is not a replay: a repeated key is
        // answered before the body is looked at, as it always was.
        async |txn| {
            let batch: B = serde_json::from_slice(body)
                .map_err(|e| Error::BadRequest(format!("invalid batch: {e}")))?;
            process(batch, scope, txn).await
        },
    )
    .await?;
    Ok(match ingested {
        Ingested::Stored(report) => (StatusCode::OK, Json(report)).into_response(),
        Ingested::Refused(report) => refused(report),
        Ingested::Replayed(replay) => {
            let status = StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK);
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                replay.answer,
            )
                .into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
        Ingested::KeyReused => {
            return Err(Error::Unprocessable(
                "this Idempotency-Key was used with another request body".to_owned(),
            ));
        }
    })
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
