//! The size and time limits of every request, answered in the format of the
//! route that was asked.
//!
//! A body larger than `TALLY_BODY_LIMIT_BYTES` gets 413, and a request that is
//! not received and answered within `TALLY_REQUEST_TIMEOUT_SECS` gets 408,
//! whatever the route. Generic layers would answer both in plain text, which
//! no client of Tally parses: a GraphQL client expects `{"errors": […]}`, a
//! HEAppE client ProblemDetails, an APEL publisher DRF's `{"detail": …}`. So
//! one middleware, [`enforce`], applies both limits and renders the refusal
//! through the route family's own error format ([`Family`]).
//!
//! The body limit is the same whether the client announced the size or not.
//! A `Content-Length` over the limit is refused before the body is read; a
//! body without one (chunked) is cut off at the limit while the handler reads
//! it, and whatever the handler then answered is replaced by the 413. Either
//! way the handler has not seen the whole body, so it changed nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::json;

use crate::error::Error;

/// The limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest body accepted (`TALLY_BODY_LIMIT_BYTES`).
    pub body_bytes: usize,
    /// Time to receive and answer a request (`TALLY_REQUEST_TIMEOUT_SECS`).
    pub time: Duration,
}

/// Applies `limits` to one request (axum middleware, outside the router).
pub async fn enforce(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let family = Family::of(request.uri().path());
    let accept = request.headers().get(header::ACCEPT).cloned();
    let refuse = |error: Error| family.render(error, accept.as_ref());
    if declared_length(&request).is_some_and(|length| length > limits.body_bytes) {
        return refuse(too_large(limits.body_bytes));
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    let request = limit_body(request, limits.body_bytes, exceeded.clone());
    match tokio::time::timeout(limits.time, next.run(request)).await {
        Err(_elapsed) => refuse(timed_out(limits.time)),
        Ok(_) if exceeded.load(Ordering::SeqCst) => refuse(too_large(limits.body_bytes)),
        Ok(response) => response,
    }
}

/// The `Content-Length` the client announced, if any.
fn declared_length(request: &Request) -> Option<usize> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

/// Cuts the body off after `limit` bytes; `exceeded` records that it was.
fn limit_body(request: Request, limit: usize, exceeded: Arc<AtomicBool>) -> Request {
    request.map(|body| {
        Body::new(Limited::new(body, limit).map_err(move |error| {
            if error.is::<LengthLimitError>() {
                exceeded.store(true, Ordering::SeqCst);
            }
            error
        }))
    })
}

/// The refusal of a body over the limit.
fn too_large(limit: usize) -> Error {
    Error::LimitExceeded(format!(
        "the body is larger than {limit} bytes (TALLY_BODY_LIMIT_BYTES)"
    ))
}

/// The refusal of a request that took too long.
fn timed_out(limit: Duration) -> Error {
    let limit = if limit.subsec_nanos() == 0 {
        format!("{} s", limit.as_secs())
    } else {
        format!("{} ms", limit.as_millis())
    };
    Error::TimedOut(format!(
        "the request was not received and answered within {limit} (TALLY_REQUEST_TIMEOUT_SECS)"
    ))
}

/// The routes that share an error format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `/graphql`, `/graphql/ws`: `{"errors": [{"message", "extensions": {"code"}}]}`.
    Graphql,
    /// `/heappe/…`: ProblemDetails `{"title", "status", "detail"}` (heappe.md §5).
    Heappe,
    /// `/api/v1/cloud/…`: DRF's `{"detail": …}` (apel.md, error bodies).
    Apel,
    /// `/accounting-system/…`: `{"code", "message"}` (eosc.md §4).
    Eosc,
    /// `/mapi/…`: no body, the reason in `X-HCP-ErrorMessage` (hcp.md).
    Hcp,
    /// Everything else, Tally's own routes: `{"error": {"code", "message"}}`.
    Tally,
}

impl Family {
    /// The family of the route at `path`.
    #[must_use]
    pub fn of(path: &str) -> Self {
        let families = [
            ("/graphql", Self::Graphql),
            ("/heappe", Self::Heappe),
            ("/api/v1/cloud", Self::Apel),
            ("/accounting-system", Self::Eosc),
            ("/mapi", Self::Hcp),
        ];
        families
            .into_iter()
            .find(|(prefix, _)| is_under(path, prefix))
            .map_or(Self::Tally, |(_, family)| family)
    }

    /// `error` in this family's format. `accept` is the request's `Accept`
    /// header, which chooses GraphQL's media type.
    fn render(self, error: Error, accept: Option<&HeaderValue>) -> Response {
        let mut response = match self {
            Self::Graphql => crate::graphql::refusal(accept, &error),
            Self::Heappe => crate::rest::heappe::Problem::from(error).into_response(),
            Self::Apel => crate::rest::apel::detail(error.status(), &error.to_string()),
            Self::Eosc => eosc(&error),
            Self::Hcp => hcp(&error),
            Self::Tally => error.into_response(),
        };
        // The rest of the body may still be on its way: do not read it.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// Whether `path` is `prefix` or below it.
fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The EOSC Accounting System's `InformativeResponse`.
fn eosc(error: &Error) -> Response {
    let status = error.status();
    let body = json!({ "code": status.as_u16(), "message": error.to_string() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// HCP's management API: the status, and the reason in `X-HCP-ErrorMessage`.
fn hcp(error: &Error) -> Response {
    let mut response = error.status().into_response();
    if let Ok(reason) = HeaderValue::from_str(&error.to_string()) {
        response.headers_mut().insert("x-hcp-errormessage", reason);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_belong_to_their_family() {
        let cases = [
            ("/graphql", Family::Graphql),
            ("/graphql/ws", Family::Graphql),
            ("/graphqlx", Family::Tally),
            (
                "/heappe/JobReporting/JobsStateAgregationReport",
                Family::Heappe,
            ),
            ("/api/v1/cloud/record", Family::Apel),
            ("/api/v1/cloud/record/summary", Family::Apel),
            ("/api/v1/cloudy", Family::Tally),
            ("/api/v1/hpc/jobs", Family::Tally),
            ("/accounting-system/metrics", Family::Eosc),
            ("/mapi/tenants/t/chargebackReport", Family::Hcp),
            ("/healthz", Family::Tally),
            ("/", Family::Tally),
        ];
        for (path, family) in cases {
            assert_eq!(Family::of(path), family, "{path}");
        }
    }

    #[test]
    fn messages_name_the_setting() {
        assert_eq!(
            timed_out(Duration::from_secs(30)).to_string(),
            "the request was not received and answered within 30 s (TALLY_REQUEST_TIMEOUT_SECS)"
        );
        assert!(
            timed_out(Duration::from_millis(500))
                .to_string()
                .contains("within 500 ms")
        );
        assert_eq!(
            too_large(1024).to_string(),
            "the body is larger than 1024 bytes (TALLY_BODY_LIMIT_BYTES)"
        );
    }
}
