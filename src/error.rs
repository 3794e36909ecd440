//! The one error type, and how it is shown to clients.
//!
//! Policy:
//! - Every failure a client can cause has its own variant, with a message meant
//!   for that client ([`Error::BadRequest`], [`Error::NotFound`], …). Each maps
//!   once to an HTTP status here and once to a GraphQL `extensions.code` in
//!   [`Error::code`]; the REST compatibility adapters map it into their upstream's
//!   error body themselves.
//! - Anything unexpected (a database failure, a bug) is [`Error::Internal`]: it is
//!   logged with a fresh error id, and the client sees only that id. Database and
//!   internal error text never reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 / `BAD_USER_INPUT`: the input is invalid; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401 / `UNAUTHENTICATED`: no valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// 403 / `FORBIDDEN`: the caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404 / `NOT_FOUND`: the named thing does not exist (or is not visible).
    #[error("{0}")]
    NotFound(String),
    /// 409 / `CONFLICT`: the request contradicts what is stored.
    #[error("{0}")]
    Conflict(String),
    /// 422 / `BAD_USER_INPUT`: well-formed, but cannot be processed as sent.
    #[error("{0}")]
    Unprocessable(String),
    /// 413 / `LIMIT_EXCEEDED`: the request is larger than a limit allows.
    #[error("{0}")]
    LimitExceeded(String),
    /// 408 / `LIMIT_EXCEEDED`: the request took longer than
    /// `TALLY_REQUEST_TIMEOUT_SECS` to be received and answered.
    #[error("{0}")]
    TimedOut(String),
    /// 503 / `UNAVAILABLE`: a dependency (the database) cannot be reached.
    #[error("service unavailable")]
    Unavailable,
    /// 500 / `INTERNAL`: unexpected; logged with `id`, which the client sees.
    #[error("internal error {id}")]
    Internal {
        /// The id under which the cause was logged.
        id: String,
    },
}

impl Error {
    /// Logs `cause` with a new error id and returns the [`Error::Internal`] that
    /// shows the client only that id.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = new_error_id();
        tracing::error!(error_id = %id, error = %cause, "internal error");
        Self::Internal { id }
    }

    /// The machine-readable code (GraphQL `extensions.code`, REST `error.code`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) | Self::Unprocessable(_) => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::LimitExceeded(_) | Self::TimedOut(_) => "LIMIT_EXCEEDED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal { .. } => "INTERNAL",
        }
    }

    /// The HTTP status of Tally's own routes.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A constraint violation that no call site named is still the client's
/// doing, not a server failure: typically two requests writing the same new
/// record at once. It becomes a 409 the client can retry. A `CHECK` that
/// refuses a row means that a value the client sent got past validation (the
/// domain parsers are meant to refuse it first, with a better message): it
/// becomes a 400, never a 500. Anything else from the database is internal.
impl From<sea_orm::DbErr> for Error {
    fn from(error: sea_orm::DbErr) -> Self {
        if is_check_violation(&error) {
            tracing::warn!(%error, "check constraint violated: validation let a value through");
            return Self::BadRequest(
                "a value of the request is outside what can be stored (a rule of the data \
                 refused it); nothing was stored"
                    .to_owned(),
            );
        }
        match error.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                tracing::info!(%error, "unique key violated");
                Self::Conflict(
                    "a concurrent request wrote the same record; retry the request".to_owned(),
                )
            }
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                tracing::info!(%error, "foreign key violated");
                Self::Conflict(
                    "the request refers to a record that is missing or still in use".to_owned(),
                )
            }
            _ => Self::internal(&error),
        }
    }
}

/// Whether `error` is a `CHECK` constraint refusing a row (PostgreSQL's
/// SQLSTATE 23514, SQLite's `SQLITE_CONSTRAINT_CHECK`), which sea-orm's
/// [`sea_orm::DbErr::sql_err`] does not classify.
fn is_check_violation(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                &**e,
                sea_orm::sqlx::Error::Database(db)
                    if db.kind() == sea_orm::sqlx::error::ErrorKind::CheckViolation
            )
        }
        _ => false,
    }
}

/// Tally's own routes answer `{"error": {"code", "message"}}`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        (self.status(), Json(body)).into_response()
    }
}

/// GraphQL errors carry the code in `extensions.code`; resolvers return
/// `error.extend()`.
impl async_graphql::ErrorExtensions for Error {
    fn extend(&self) -> async_graphql::Error {
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| e.set("code", code))
    }
}

/// A short random id for correlating a client's error with the log line.
fn new_error_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS for every instance: good enough for an
    // id that only needs to be unique among log lines, without another crate.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_show_only_an_id() {
        let error = Error::internal(&"relation \"secret_table\" does not exist");
        let shown = error.to_string();
        assert!(!shown.contains("secret_table"));
        assert!(shown.starts_with("internal error "));
        assert_eq!(error.code(), "INTERNAL");
    }

    #[test]
    fn codes_and_statuses_agree() {
        let cases = [
            (Error::BadRequest("x".into()), 400, "BAD_USER_INPUT"),
            (Error::Unauthenticated, 401, "UNAUTHENTICATED"),
            (Error::Forbidden("x".into()), 403, "FORBIDDEN"),
            (Error::NotFound("x".into()), 404, "NOT_FOUND"),
            (Error::Conflict("x".into()), 409, "CONFLICT"),
            (Error::LimitExceeded("x".into()), 413, "LIMIT_EXCEEDED"),
            (Error::TimedOut("x".into()), 408, "LIMIT_EXCEEDED"),
            (Error::Unavailable, 503, "UNAVAILABLE"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status);
            assert_eq!(error.code(), code);
        }
    }
}
