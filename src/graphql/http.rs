//! GraphQL over HTTP at `/graphql`: queries by `GET` or `POST`, mutations by
//! `POST` only, batches as JSON arrays, and the checks that run before
//! anything touches the database (`docs/graphql.md`).
//!
//! The order matters. Method, content type, body size and batch size are
//! checked first; then the bearer token's signature (no database); then each
//! operation is parsed and measured ([`super::limits`]) and validated by
//! async-graphql (depth, complexity). Only an operation that passed all of
//! that reaches [`Authenticate`], which loads the caller's grants (the first
//! statement) and hands the resolvers their [`RequestContext`]. So a request
//! that is refused for its shape runs no SQL at all, whoever sends it.
//!
//! Every error carries `extensions.code`. async-graphql's own parse and
//! validation errors come without one; [`finish`] adds `BAD_USER_INPUT` or
//! `LIMIT_EXCEEDED`, and turns any resolver error without a code (which only a
//! stray `?` on a foreign error can produce) into `INTERNAL` with a logged id,
//! so that no internal error text reaches a client. The checks and the codes
//! are [`super::checks`], which the WebSocket path shares.
//!
//! Reading and answering are Tally's own, not async-graphql-axum's
//! `GraphQLRequest`/`GraphQLBatchRequest` and `GraphQLResponse`: those read
//! and parse the whole body before a 415 for a non-JSON body or a refusal of
//! an oversized batch could come first, and reject in plain text; and
//! `GraphQLResponse` always answers 200 as `application/graphql-response+json`
//! with a `data` entry, where a request refused before execution is 400
//! without `data` and the media type follows `Accept`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Data, ErrorExtensions as _, ServerError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::checks::{self, Refused, coded, finish};
use super::context::RequestContext;
use super::idle::Idle;
use super::limits;
use crate::app::AppState;
use crate::auth::{AuthFailure, Caller};
use crate::error::Error;

/// The media type of GraphQL responses (GraphQL over HTTP §7.2), sent when the
/// client accepts it; `application/json` otherwise.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `GET`/`POST /graphql`.
///
/// - `GET ?query=…&variables=…&operationName=…`: queries only; a mutation is
///   answered 405 with `Allow: POST`.
/// - `POST` with `Content-Type: application/json`: one request object, or an
///   array of at most `TALLY_GRAPHQL_MAX_BATCH` of them. Other content types
///   get 415.
///
/// A request without credentials runs as an anonymous caller (who may read
/// only what is public); refused credentials get 401 and nothing is executed.
/// A request refused before execution (unparsable, invalid, over a limit) gets
/// 400; one that was executed gets 200, with any errors of its fields.
pub(crate) async fn handler(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let format = ResponseFormat::from_headers(&parts.headers);
    let batch = match read_requests(&state, &parts.method, &parts, body).await {
        Ok(batch) => batch,
        Err(refused) => return refused.into_response(format),
    };
    // The signature and claims of a token are checked without the database;
    // loading the caller's grants waits until an operation passed validation.
    let authenticated = match verify_credentials(&state, &parts.headers) {
        Ok(authenticated) => authenticated,
        Err(refused) => return refused.into_response(format),
    };
    let gate = Arc::new(AuthGate {
        state: state.clone(),
        headers: parts.headers.clone(),
        caller: OnceCell::new(),
    });
    let method = parts.method.clone();
    match batch {
        Incoming::Single(request) => {
            let outcome = run(&state, &gate, *request, &method, authenticated).await;
            if let Some(refused) = gate.refused() {
                return Rejection::from_error(refused.0, refused.1).into_response(format);
            }
            outcome.into_response(format)
        }
        Incoming::Batch(requests) => {
            let mut answers = Vec::with_capacity(requests.len());
            for request in requests {
                answers.push(run(&state, &gate, request, &method, authenticated).await);
            }
            if let Some(refused) = gate.refused() {
                return Rejection::from_error(refused.0, refused.1).into_response(format);
            }
            let body: Vec<Value> = answers.into_iter().map(|a| a.body()).collect();
            respond(
                StatusCode::OK,
                &Value::Array(body),
                format,
                &HeaderMap::new(),
            )
        }
    }
}

/// The requests of one HTTP request.
enum Incoming {
    Single(Box<async_graphql::Request>),
    Batch(Vec<async_graphql::Request>),
}

/// The query string of `GET /graphql` (GraphQL over HTTP §6.1).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// Reads the request(s): method, content type, body size, JSON shape and
/// batch size. Touches nothing but the request.
async fn read_requests(
    state: &AppState,
    method: &Method,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<Incoming, Rejection> {
    match *method {
        Method::GET => read_get(parts.uri.query().unwrap_or_default())
            .map(|request| Incoming::Single(Box::new(request))),
        Method::POST => {
            if !is_json(&parts.headers) {
                return Err(Rejection::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "BAD_USER_INPUT",
                    "a GraphQL request is sent as `Content-Type: application/json`".to_owned(),
                ));
            }
            let limit = state.config.body_limit_bytes;
            let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
                Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "LIMIT_EXCEEDED",
                    format!("the body is larger than {limit} bytes (TALLY_BODY_LIMIT_BYTES)"),
                )
            })?;
            read_post(&bytes, state.config.graphql.max_batch)
        }
        _ => Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "GraphQL is served by GET (queries) and POST".to_owned(),
        )
        .allow("GET, POST")),
    }
}

fn read_get(query: &str) -> Result<async_graphql::Request, Rejection> {
    let bad = |message: String| Rejection::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message);
    let params: GetParams = axum::extract::Query::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| bad("unreadable query string".to_owned()))?,
    )
    .map(|q| q.0)
    .map_err(|e| bad(format!("unreadable query string: {}", e.body_text())))?;
    let Some(text) = params.query.filter(|q| !q.trim().is_empty()) else {
        return Err(bad("`query` is missing from the query string".to_owned()));
    };
    let json = |name: &str, value: Option<String>| -> Result<Value, Rejection> {
        value
            .map(|v| serde_json::from_str::<Value>(&v))
            .transpose()
            .map(Option::unwrap_or_default)
            .map_err(|e| bad(format!("`{name}` is not JSON: {e}")))
    };
    let request = json!({
        "query": text,
        "operationName": params.operation_name,
        "variables": json("variables", params.variables)?,
        "extensions": json("extensions", params.extensions)?,
    });
    serde_json::from_value(request).map_err(|e| bad(format!("not a GraphQL request: {e}")))
}

fn read_post(bytes: &[u8], max_batch: usize) -> Result<Incoming, Rejection> {
    let bad = |message: String| Rejection::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message);
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let parse = |value: Value, at: Option<usize>| {
        serde_json::from_value::<async_graphql::Request>(value).map_err(|e| {
            let place = at
                .map(|i| format!(" (item {i} of the batch)"))
                .unwrap_or_default();
            bad(format!("not a GraphQL request{place}: {e}"))
        })
    };
    match value {
        Value::Object(_) => parse(value, None).map(|request| Incoming::Single(Box::new(request))),
        Value::Array(items) if items.is_empty() => Err(bad("the batch is empty".to_owned())),
        Value::Array(items) if items.len() > max_batch => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            format!(
                "the batch holds {} operations, more than {max_batch} (TALLY_GRAPHQL_MAX_BATCH); \
                 nothing was executed",
                items.len()
            ),
        )),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse(item, Some(i)))
            .collect::<Result<_, _>>()
            .map(Incoming::Batch),
        _ => Err(bad(
            "the body must be a request object, or an array of them (a batch)".to_owned(),
        )),
    }
}

/// Whether the request's body is declared as JSON (`application/json`, with
/// or without parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks a bearer token's signature and claims, which needs no database.
/// `Ok(true)`: a token that will be looked up; `Ok(false)`: no credentials.
fn verify_credentials(state: &AppState, headers: &HeaderMap) -> Result<bool, Rejection> {
    let token = match crate::auth::identity::bearer_token(headers) {
        Ok(None) => return Ok(false),
        Ok(Some(token)) => token,
        Err(failure) => return Err(Rejection::unauthenticated(failure)),
    };
    match state.auth.keys.verify(token) {
        Ok(_) => Ok(true),
        Err(error) => Err(Rejection::unauthenticated(AuthFailure::Token(error))),
    }
}

/// Checks one operation, executes it if it passes, and shapes its answer.
async fn run(
    state: &AppState,
    gate: &Arc<AuthGate>,
    mut request: async_graphql::Request,
    method: &Method,
    authenticated: bool,
) -> Answer {
    let limits = &state.config.graphql;
    let shape = match checks::shape(&mut request, limits) {
        Ok(shape) => shape,
        Err(refused) => return Answer::refused(refused),
    };
    if *method == Method::GET && !limits::allowed_over_get(shape.operation) {
        let mut answer = Answer::refused(Refused {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "BAD_USER_INPUT",
            message: "mutations are sent by POST, never by GET".to_owned(),
        });
        answer.allow = Some("POST");
        return answer;
    }
    if checks::is_subscription(&shape) {
        return Answer::refused(Refused {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_USER_INPUT",
            message: "subscriptions are served over WebSocket at /graphql/ws \
                      (graphql-transport-ws)"
                .to_owned(),
        });
    }
    let introspection = match checks::introspection(&shape, limits, authenticated) {
        Ok(allowed) => allowed,
        Err(refused) => return Answer::refused(refused),
    };
    if !introspection {
        request = request.disable_introspection();
    }
    let attempt = Arc::new(Attempt {
        gate: gate.clone(),
        executed: AtomicBool::new(false),
        idle: Idle::default(),
    });
    // Watched, so that the loaders' batches leave once its resolvers stop asking.
    let execution = state.schema.execute(request.data(attempt.clone()));
    let response = attempt.idle.watch(execution).await;
    let executed = attempt.executed.load(Ordering::SeqCst);
    let suggestions = limits.suggestions.allows(authenticated);
    let response = finish(response, limits, suggestions);
    let status = if executed {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Answer {
        status,
        response,
        executed,
        allow: None,
    }
}

/// The answer to one operation.
struct Answer {
    status: StatusCode,
    response: async_graphql::Response,
    /// Whether the operation reached execution: a request refused before it
    /// has no `data` entry (GraphQL over HTTP §7.1.2).
    executed: bool,
    /// The `Allow` header of a 405.
    allow: Option<&'static str>,
}

impl Answer {
    fn refused(refused: Refused) -> Self {
        Self {
            status: refused.status,
            response: async_graphql::Response::from_errors(vec![refused.error()]),
            executed: false,
            allow: None,
        }
    }

    fn body(&self) -> Value {
        response_body(&self.response, self.executed)
    }

    fn into_response(self, format: ResponseFormat) -> Response {
        let mut headers = self.response.http_headers.clone();
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        respond(self.status, &self.body(), format, &headers)
    }
}

/// A request refused as a whole, before any operation in it was looked at.
struct Rejection {
    status: StatusCode,
    error: Box<ServerError>,
    allow: Option<&'static str>,
}

impl Rejection {
    fn new(status: StatusCode, code: &str, message: String) -> Self {
        Self {
            status,
            error: Box::new(coded(message, code)),
            allow: None,
        }
    }

    fn from_error(status: StatusCode, error: ServerError) -> Self {
        Self {
            status,
            error: Box::new(error),
            allow: None,
        }
    }

    fn unauthenticated(failure: AuthFailure) -> Self {
        let (status, error) = refusal_of(failure);
        Self::from_error(status, error)
    }

    fn allow(mut self, methods: &'static str) -> Self {
        self.allow = Some(methods);
        self
    }

    fn into_response(self, format: ResponseFormat) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let body = response_body(
            &async_graphql::Response::from_errors(vec![*self.error]),
            false,
        );
        respond(self.status, &body, format, &headers)
    }
}

/// `/graphql`'s answer to a request that the transport refused before the
/// handler could ([`crate::request_limits`]: body size, time limit): a
/// GraphQL error with `error`'s status, message and `extensions.code`, in the
/// media type the client's `Accept` asks for.
pub(crate) fn refusal(accept: Option<&HeaderValue>, error: &Error) -> Response {
    Rejection::new(error.status(), error.code(), error.to_string())
        .into_response(ResponseFormat::from_accept(accept))
}

/// The JSON of `response`; without `data` when it was not executed.
fn response_body(response: &async_graphql::Response, executed: bool) -> Value {
    match serde_json::to_value(response) {
        Ok(mut body) => {
            if !executed && let Some(object) = body.as_object_mut() {
                object.remove("data");
            }
            body
        }
        Err(error) => {
            let error = Error::internal(&error);
            json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": error.code() } }] })
        }
    }
}

/// The status and GraphQL error of refused credentials: 401 and
/// `UNAUTHENTICATED`, or 500 and `INTERNAL` when checking them failed.
fn refusal_of(failure: AuthFailure) -> (StatusCode, ServerError) {
    let error = Error::from(failure);
    let status = if error.status() == StatusCode::INTERNAL_SERVER_ERROR {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::UNAUTHORIZED
    };
    let mut server_error = ServerError::new(error.to_string(), None);
    server_error.extensions = error.extend().extensions;
    (status, server_error)
}

/// Which media type the answer is sent as.
#[derive(Clone, Copy)]
enum ResponseFormat {
    Json,
    GraphqlResponse,
}

impl ResponseFormat {
    fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_accept(headers.get(header::ACCEPT))
    }

    fn from_accept(accept: Option<&HeaderValue>) -> Self {
        let accepts = accept
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(GRAPHQL_RESPONSE));
        if accepts {
            Self::GraphqlResponse
        } else {
            Self::Json
        }
    }
}

fn respond(
    status: StatusCode,
    body: &Value,
    format: ResponseFormat,
    extra: &HeaderMap,
) -> Response {
    let content_type = match format {
        ResponseFormat::Json => "application/json",
        ResponseFormat::GraphqlResponse => GRAPHQL_RESPONSE,
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.clone());
    }
    response
}

/// Authenticates the caller of one HTTP request, once for all the operations
/// of a batch, and only when the first of them reaches execution.
struct AuthGate {
    state: AppState,
    headers: HeaderMap,
    caller: OnceCell<Result<Caller, (StatusCode, ServerError)>>,
}

impl AuthGate {
    async fn caller(&self) -> &Result<Caller, (StatusCode, ServerError)> {
        self.caller
            .get_or_init(|| async {
                self.state
                    .auth
                    .bearer(&self.state.db, &self.headers)
                    .await
                    .map_err(refusal_of)
            })
            .await
    }

    /// The refusal, if authentication ran and refused the credentials.
    fn refused(&self) -> Option<(StatusCode, ServerError)> {
        match self.caller.get() {
            Some(Err(refused)) => Some(refused.clone()),
            _ => None,
        }
    }
}

/// One operation of an HTTP request on its way to execution.
struct Attempt {
    gate: Arc<AuthGate>,
    /// Set when the operation passed validation and reached execution.
    executed: AtomicBool,
    /// Watches the operation's execution for its loaders.
    idle: Idle,
}

/// What every resolver can reach besides the request's own data: the
/// [`RequestContext`] of an authenticated (or anonymous) caller. Per-request
/// state that needs the caller (data loaders keyed by scope) is added here;
/// `idle` watches the execution the loaders serve.
pub(crate) fn execution_data(state: &AppState, caller: Caller, idle: Idle) -> Data {
    let mut data = Data::default();
    data.insert(RequestContext::new(state.clone(), caller, idle));
    data
}

/// The async-graphql extension that authenticates an HTTP request's caller
/// once its operation has been parsed and validated: the `execute` hook runs
/// only for operations that passed, so refused documents never cost a
/// database statement. Operations that carry no [`Attempt`] (WebSocket
/// connections, authenticated at `connection_init`) pass through.
pub(crate) struct Authenticate;

impl ExtensionFactory for Authenticate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Authenticate)
    }
}

#[async_trait::async_trait]
impl Extension for Authenticate {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let Some(attempt) = ctx.data_opt::<Arc<Attempt>>() else {
            return next.run(ctx, operation_name).await;
        };
        attempt.executed.store(true, Ordering::SeqCst);
        match attempt.gate.caller().await {
            Ok(caller) => {
                let data =
                    execution_data(&attempt.gate.state, caller.clone(), attempt.idle.clone());
                next.run_with_data(ctx, operation_name, data).await
            }
            Err((_, error)) => async_graphql::Response::from_errors(vec![error.clone()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_bodies_are_read() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("text/plain", false),
            ("application/graphql", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), json, "{value}");
        }
    }

    #[test]
    fn batches_are_capped_as_a_whole() {
        let one = r#"{"query":"{ apiVersion }"}"#;
        let batch = |n: usize| format!("[{}]", vec![one; n].join(","));
        assert!(
            matches!(read_post(batch(3).as_bytes(), 3), Ok(Incoming::Batch(b)) if b.len() == 3)
        );
        let refused = read_post(batch(4).as_bytes(), 3).err().unwrap();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.error.message.contains("holds 4 operations"));
        for bad in ["[]", "42", "not json", r#"[{"query":"{ a }"}, 7]"#] {
            assert!(read_post(bad.as_bytes(), 3).is_err(), "{bad}");
        }
    }

    #[test]
    fn get_reads_the_query_string() {
        let request = read_get(
            "query=query%20Q(%24n%3A%20Int)%20%7B%20a%20%7D&variables=%7B%22n%22%3A1%7D&operationName=Q",
        )
        .ok()
        .unwrap();
        assert_eq!(request.query, "query Q($n: Int) { a }");
        assert_eq!(request.operation_name.as_deref(), Some("Q"));
        assert_eq!(
            request.variables.get("n").cloned(),
            Some(async_graphql::Value::from(1))
        );
        assert!(read_get("").is_err());
        assert!(read_get("query=%7Ba%7D&variables=%7Bnope").is_err());
    }
}
