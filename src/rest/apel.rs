//! APEL cloud accounting REST interface (`/api/v1/cloud/record`), with APEL's
//! wire format (apel.md §A1): the publisher is its client certificate's DN;
//! answers are JSON strings, and 401/403 have empty bodies.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use crate::app::AppState;
use crate::service::cloud::{self, PublisherAccess};
use crate::service::cloud_records::{self, CloudError};
use crate::service::events::Decision;
use crate::service::ingest;

/// APEL's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/cloud/record",
        post(post_record).fallback(method_not_allowed),
    )
}

/// A JSON string body, as APEL (Django REST framework) answers.
fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!(text).to_string(),
    )
        .into_response()
}

/// An error raised by the framework rather than the view (DRF's 405, 415, and
/// Tally's 413/408 of [`crate::request_limits`]): `{"detail": "…"}`.
pub(crate) fn detail(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "detail": text }).to_string(),
    )
        .into_response()
}

/// DRF's 405.
async fn method_not_allowed(parts: Parts) -> Response {
    detail(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{}\" not allowed.", parts.method),
    )
}

/// `POST /api/v1/cloud/record`: one APEL cloud message from an allowed
/// publisher. Unlike upstream, which queues the message and parses it later,
/// Tally loads it at once: a message APEL's loader would reject is answered
/// 400 with the reason, and nothing of it is stored.
async fn post_record(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    let Some(dn) = state.auth.client_dn(&parts) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let bound_site = match cloud::publisher_access(&state.db, &dn).await {
        Ok(PublisherAccess::Allowed { site_id }) => site_id,
        Ok(PublisherAccess::Banned | PublisherAccess::Unknown) => {
            tracing::info!(dn = %dn, "APEL publisher refused");
            return StatusCode::FORBIDDEN.into_response();
        }
        Err(_) => {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Data could not be saved to disk, please try again.",
            );
        }
    };
    if let Some(kind) = parts.headers.get(header::CONTENT_TYPE) {
        let kind = kind.to_str().unwrap_or_default();
        if !kind.starts_with("text/plain") {
            return detail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("Unsupported media type \"{kind}\" in request."),
            );
        }
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return message(StatusCode::BAD_REQUEST, "The message is not UTF-8 text.");
    };
    let empa_id = parts
        .headers
        .get("empa-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("noid");
    let outcome = ingest::transaction(&state.db, &state.events, async |txn| {
        Ok(
            match cloud_records::load_message(txn, text, &dn.to_slash(), bound_site, Some(empa_id))
                .await
            {
                Ok(loaded) => Decision::Commit(Ok(loaded)),
                Err(error) => Decision::RollBack(Err(error)),
            },
        )
    })
    .await;
    match outcome {
        Ok(Ok(loaded)) => {
            tracing::info!(
                records = loaded.records,
                inserted = loaded.inserted,
                updated = loaded.updated,
                "APEL message loaded"
            );
            message(
                StatusCode::ACCEPTED,
                "Data successfully saved for future loading.",
            )
        }
        Ok(Err(CloudError::Invalid(error))) => message(StatusCode::BAD_REQUEST, &error.to_string()),
        Ok(Err(CloudError::WrongSite(site))) => message(
            StatusCode::FORBIDDEN,
            &format!("This publisher may not publish for site {site}."),
        ),
        // Upstream's answer when its queue cannot be written; the cause is logged.
        Ok(Err(CloudError::Internal(_))) | Err(_) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Data could not be saved to disk, please try again.",
        ),
    }
}
