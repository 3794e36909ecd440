//! HEAppE compatibility routes (`/heappe/…`), with HEAppE's wire format:
//! PascalCase JSON, case-insensitive query names, and ProblemDetails errors
//! (`{"title", "status", "detail"}`; heappe.md §0, §5).
//!
//! This module holds what every HEAppE route shares (authentication, the role
//! check, query names, errors); [`reporting`] holds the Job Reporting routes
//! and [`management`] the accounting management routes.

mod management;
mod reporting;

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike as _, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::app::AppState;
use crate::auth::session_code::SessionError;
use crate::auth::{AuthFailure, HeappeRole, Principal};
use crate::error::Error;

/// The most `AuthenticateUserPassword` reads (upstream's `RequestSizeLimit`).
pub const AUTHENTICATE_BODY_LIMIT: usize = 148;

/// HEAppE's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/heappe/UserAndLimitationManagement/AuthenticateUserPassword",
            post(authenticate_user_password),
        )
        .merge(reporting::routes())
        .merge(management::routes())
}

/// A HEAppE error: `ProblemDetails` with upstream's title and detail.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// ASP.NET's model-binding errors, by parameter name.
    errors: Option<BTreeMap<String, Vec<String>>>,
}

impl Problem {
    pub(super) fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: None,
        }
    }

    /// 400: a query value that does not parse as its parameter's type, as
    /// ASP.NET's automatic `ValidationProblemDetails` says it.
    pub(super) fn invalid_value(name: &str, value: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "One or more validation errors occurred.",
            detail: String::new(),
            errors: Some(BTreeMap::from([(
                name.to_owned(),
                vec![format!("The value '{value}' is not valid for {name}.")],
            )])),
        }
    }

    /// 401 `Unauthorized Access` / `Unauthorized`: unknown session code or no
    /// credentials.
    pub(super) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized Access",
            "Unauthorized",
        )
    }
}

/// The body of a [`Problem`]: ASP.NET Core's `ProblemDetails`, in its order
/// (`title`, `status`, `detail`; upstream sends no `type` or `instance`), or
/// its `ValidationProblemDetails` (`title`, `status`, `errors`).
#[derive(Debug, Serialize)]
struct ProblemDetails<'a> {
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a BTreeMap<String, Vec<String>>>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemDetails {
            title: self.title,
            status: self.status.as_u16(),
            detail: self.errors.is_none().then_some(self.detail.as_str()),
            errors: self.errors.as_ref(),
        };
        match serde_json::to_string(&body) {
            Ok(body) => (
                self.status,
                [(header::CONTENT_TYPE, "application/problem+json")],
                body,
            )
                .into_response(),
            Err(error) => Problem::from(Error::internal(&error)).into_response(),
        }
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        match error {
            Error::Unauthenticated => Self::unauthorized(),
            Error::Forbidden(_) => Self::new(
                StatusCode::FORBIDDEN,
                "Not Allowed",
                "Logged user is not allowed to request this report.",
            ),
            Error::BadRequest(detail) | Error::Unprocessable(detail) => {
                Self::new(StatusCode::BAD_REQUEST, "Validation Problem", detail)
            }
            Error::NotFound(detail) => Self::new(StatusCode::NOT_FOUND, "Not Found", detail),
            Error::Conflict(detail) => Self::new(StatusCode::CONFLICT, "Conflict", detail),
            Error::LimitExceeded(detail) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large", detail)
            }
            Error::TimedOut(detail) => {
                Self::new(StatusCode::REQUEST_TIMEOUT, "Request Timeout", detail)
            }
            // Upstream's catch-all, typo included; the error id is in the log.
            Error::Unavailable | Error::Internal { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Problem",
                "Problem occured! Contact the administrators.",
            ),
        }
    }
}

impl From<AuthFailure> for Problem {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Session(SessionError::Expired { code, at }) => Self::new(
                StatusCode::UNAUTHORIZED,
                "Session Code Authentication Problem",
                format!(
                    "Session code '{code}' already expired at '{}'.",
                    at.format("%Y-%m-%dT%H:%M:%S%.3fZ")
                ),
            ),
            AuthFailure::Internal(error) | AuthFailure::Session(SessionError::Internal(error)) => {
                error.into()
            }
            other => {
                tracing::info!(reason = %other, "HEAppE credentials refused");
                Self::unauthorized()
            }
        }
    }
}

/// A query string with HEAppE's case-insensitive names (`sessionCode`,
/// `SessionCode`, …).
#[derive(Debug, Default)]
pub(super) struct HeappeQuery(pub(super) Vec<(String, String)>);

impl HeappeQuery {
    /// Every value of `name` (ASP.NET binds a `string[]` from repeated keys).
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .collect()
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// A `long` parameter, `None` when absent or empty; 400 (ASP.NET's
    /// ValidationProblemDetails) when it does not parse.
    pub(super) fn long(&self, name: &str) -> Result<Option<i64>, Problem> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Problem::invalid_value(name, value)),
        }
    }
}

/// The caller of a HEAppE route: the `sessionCode` query parameter, or a
/// bearer token (HEAppE accepts a JWT in place of a session code since V6).
pub(super) async fn caller(
    state: &AppState,
    query: &HeappeQuery,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    if let Some(code) = query.get("sessionCode").filter(|c| !c.trim().is_empty()) {
        return Ok(state.auth.session_code(&state.db, code).await?);
    }
    match state.auth.bearer(&state.db, headers).await? {
        crate::auth::Caller::Authenticated(principal) => Ok(principal),
        crate::auth::Caller::Anonymous => Err(Problem::unauthorized()),
    }
}

/// Upstream's role check: the role on some group, else 401 `MissingRole:<Role>`.
pub(super) fn require(principal: &Principal, role: HeappeRole) -> Result<(), Problem> {
    if principal.has_heappe_role(role) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized Access",
            format!("MissingRole:{}", role.name()),
        ))
    }
}

/// Finds `name` in a JSON object regardless of case (ASP.NET binds
/// case-insensitively).
pub(super) fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// `POST /heappe/UserAndLimitationManagement/AuthenticateUserPassword`, body
/// `{"Credentials":{"Username":"u","Password":"p"}}` → the session code as a
/// JSON string.
async fn authenticate_user_password(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<String>, Problem> {
    if body.len() > AUTHENTICATE_BODY_LIMIT {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            format!(
                "Request body too large. The max request body size is {AUTHENTICATE_BODY_LIMIT} bytes."
            ),
        ));
    }
    let request: Value = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "One or more validation errors occurred.",
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    let credentials = field(&request, "Credentials");
    let text = |name: &str| {
        credentials
            .and_then(|c| field(c, name))
            .and_then(Value::as_str)
    };
    let (Some(username), Some(password)) = (text("Username"), text("Password")) else {
        return Err(Problem::unauthorized());
    };
    match state
        .auth
        .sessions
        .authenticate(&state.db, username, password)
        .await
    {
        Ok(code) => Ok(Json(code)),
        Err(SessionError::BadCredentials { username }) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized Access",
            format!("Authentication of user '{username}' was not successful."),
        )),
        Err(other) => Err(AuthFailure::Session(other).into()),
    }
}

/// A time as HEAppE writes a SQL Server `datetime2` (UTC, no zone suffix):
/// `2024-05-20T12:53:27.123`, the fraction in 100 ns ticks without trailing
/// zeros and left out when zero, as System.Text.Json writes a `DateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeappeTime(pub(super) DateTime<Utc>);

impl HeappeTime {
    /// The text HEAppE writes.
    #[must_use]
    pub(super) fn text(self) -> String {
        let mut text = self.0.format("%Y-%m-%dT%H:%M:%S").to_string();
        let ticks = self.0.nanosecond() % 1_000_000_000 / 100;
        if ticks > 0 {
            let fraction = format!("{ticks:07}");
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        text
    }
}

impl Serialize for HeappeTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

/// Parses a time as ASP.NET binds a `DateTime`: ISO 8601 with or without a
/// zone (no zone means UTC, as HEAppE stores it), or a bare date.
#[must_use]
pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}
