//! What every GraphQL operation passes through before async-graphql sees it,
//! and how every answer's errors are shaped, over HTTP ([`super::http`]) and
//! WebSocket ([`super::ws`]) alike (`docs/graphql.md`, Limits): the document
//! is parsed and measured ([`super::limits::inspect`]: fragment cycles,
//! depth, aliases, repeated fields, piles of directives, `__typename`'s
//! directives), introspection is allowed or refused by
//! `TALLY_GRAPHQL_INTROSPECTION`, and afterwards every error gets an
//! `extensions.code` ([`finish`]).

use async_graphql::parser::types::OperationType;
use async_graphql::{ErrorExtensions as _, ServerError};
use axum::http::StatusCode;

use super::limits::{self, Refusal, Shape};
use crate::config::GraphqlConfig;
use crate::error::Error;

/// An operation refused before execution: the HTTP status it gets on
/// `/graphql`, its `extensions.code` and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The status over HTTP.
    pub(crate) status: StatusCode,
    /// `extensions.code`.
    pub(crate) code: &'static str,
    /// What the client reads.
    pub(crate) message: String,
}

impl Refused {
    fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            message,
        }
    }

    /// The refusal as a GraphQL error.
    pub(crate) fn error(&self) -> ServerError {
        coded(self.message.clone(), self.code)
    }
}

/// Parses `request`'s document and measures it against `limits`.
///
/// # Errors
/// The document cannot be parsed, breaks a rule [`limits::inspect`] checks,
/// or exceeds a limit.
pub(crate) fn shape(
    request: &mut async_graphql::Request,
    limits: &GraphqlConfig,
) -> Result<Shape, Refused> {
    let operation_name = request.operation_name.clone();
    let shape = match request.parsed_query() {
        Ok(doc) => limits::inspect(doc, operation_name.as_deref(), limits),
        Err(error) => Err(Refusal::Invalid(error.message)),
    };
    shape.map_err(|refusal| match refusal {
        Refusal::Invalid(message) => {
            Refused::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message)
        }
        Refusal::Limit(message) => Refused::new(StatusCode::BAD_REQUEST, "LIMIT_EXCEEDED", message),
    })
}

/// Whether an operation of `shape` by a caller who is (or is not)
/// `authenticated` may use introspection: `Ok(false)` when it does not ask
/// for `__schema` or `__type` but may not (the request should then be run
/// with introspection disabled).
///
/// # Errors
/// The operation asks for introspection and may not: 401 for an anonymous
/// caller (who should authenticate), 403 otherwise.
pub(crate) fn introspection(
    shape: &Shape,
    limits: &GraphqlConfig,
    authenticated: bool,
) -> Result<bool, Refused> {
    let allowed = limits.introspection.allows(authenticated);
    if shape.introspection && !allowed {
        return Err(if authenticated {
            Refused::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "introspection is turned off (TALLY_GRAPHQL_INTROSPECTION)".to_owned(),
            )
        } else {
            Refused::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "introspection needs authentication".to_owned(),
            )
        });
    }
    Ok(allowed)
}

/// Whether `shape` is a subscription (served over WebSocket only).
pub(crate) fn is_subscription(shape: &Shape) -> bool {
    shape.operation == Some(OperationType::Subscription)
}

/// Gives every error a code, explains limit errors and hides what a client
/// should not see: suggestions (unless allowed) and the text of errors that
/// carry no code.
pub(crate) fn finish(
    mut response: async_graphql::Response,
    limits: &crate::config::GraphqlConfig,
    suggestions: bool,
) -> async_graphql::Response {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        if !error.path.is_empty() {
            // A resolver error without a code did not come from `Error`: its
            // text may be a database's or a library's. Log it, show an id.
            let internal = Error::internal(&error.message);
            error.message = internal.to_string();
            error.extensions = internal.extend().extensions;
            continue;
        }
        let code = if limits::is_limit_message(&error.message) {
            "LIMIT_EXCEEDED"
        } else {
            "BAD_USER_INPUT"
        };
        if let Some(clear) = limits::explain(&error.message, limits) {
            error.message = clear;
        }
        if !suggestions && let Some(at) = error.message.find(" Did you mean") {
            error.message.truncate(at);
        }
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    response
}

/// A GraphQL error with `extensions.code`.
pub(crate) fn coded(message: String, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_get_codes_and_lose_internal_text() {
        let limits = crate::config::GraphqlConfig::default();
        let mut leaked = ServerError::new("relation \"secret_table\" does not exist", None);
        leaked.path = vec![async_graphql::PathSegment::Field("projects".to_owned())];
        let coded_already = coded(
            "first must be between 1 and 100".to_owned(),
            "BAD_USER_INPUT",
        );
        let response = async_graphql::Response::from_errors(vec![
            leaked,
            coded_already,
            ServerError::new("Query is too complex.", None),
            ServerError::new(
                r#"Unknown field "apiVersio" on type "Query". Did you mean "apiVersion"?"#,
                None,
            ),
        ]);
        let errors = finish(response, &limits, false).errors;
        let code = |i: usize| {
            errors[i]
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .cloned()
        };
        assert!(
            errors[0].message.starts_with("internal error "),
            "{}",
            errors[0].message
        );
        assert_eq!(code(0), Some(async_graphql::Value::from("INTERNAL")));
        assert_eq!(code(1), Some(async_graphql::Value::from("BAD_USER_INPUT")));
        assert_eq!(errors[1].message, "first must be between 1 and 100");
        assert_eq!(code(2), Some(async_graphql::Value::from("LIMIT_EXCEEDED")));
        assert!(errors[2].message.contains("TALLY_GRAPHQL_MAX_COMPLEXITY"));
        assert_eq!(code(3), Some(async_graphql::Value::from("BAD_USER_INPUT")));
        assert_eq!(
            errors[3].message,
            r#"Unknown field "apiVersio" on type "Query"."#
        );
    }
}
