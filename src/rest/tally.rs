//! Tally's own REST routes (`/api/v1/…`), answering in Tally's error format.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{AuthFailure, Caller};
use crate::error::Error;
use crate::service::cloud;

/// Maps a refused credential to Tally's 401 (the unexpected stays internal).
pub(crate) fn auth_error(failure: AuthFailure) -> Error {
    match failure {
        AuthFailure::Internal(error) => error,
        other => {
            tracing::info!(reason = %other, "credentials refused");
            Error::Unauthenticated
        }
    }
}

/// `GET /api/v1/whoami`: who Tally thinks the caller is. Answers anonymous
/// callers too; useful when setting up tokens, proxies and client certificates.
pub async fn whoami(State(state): State<AppState>, parts: Parts) -> Result<Json<Value>, Error> {
    let caller = state
        .auth
        .bearer(&state.db, &parts.headers)
        .await
        .map_err(auth_error)?;
    let dn = state.auth.client_dn(&parts);
    let publisher = match &dn {
        Some(dn) => Some(cloud::publisher_access(&state.db, dn).await?.as_str()),
        None => None,
    };
    let (user, grants) = match &caller {
        Caller::Anonymous => (Value::Null, Vec::new()),
        Caller::Authenticated(principal) => (
            json!({ "id": principal.user_id, "name": principal.name }),
            principal
                .grants
                .iter()
                .map(|grant| {
                    let (kind, id) = grant.scope.to_row();
                    json!({
                        "role": grant.role.name(),
                        "scopeKind": kind,
                        "scopeId": id,
                        "projectId": grant.project_id,
                    })
                })
                .collect(),
        ),
    };
    Ok(Json(json!({
        "authenticated": matches!(caller, Caller::Authenticated(_)),
        "user": user,
        "grants": grants,
        "clientDn": dn.map(|dn| dn.to_slash()),
        "publisher": publisher,
    })))
}
