//! GraphQL over WebSocket at `/graphql/ws`, with the `graphql-transport-ws`
//! protocol (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>),
//! served by async-graphql-axum's [`GraphQLWebSocket`].
//!
//! The caller authenticates in `connection_init`: its payload carries the
//! bearer token as `{"Authorization": "Bearer <token>"}` (or `authorization`,
//! or `{"token": "<token>"}`), checked by the same code as `/graphql`'s
//! header. A connection without valid credentials is closed with `4403
//! Forbidden`; a `subscribe` before the acknowledgement with `4401
//! Unauthorized`, as the protocol says. async-graphql closes both cases with
//! other codes, which are rewritten on their way out.
//!
//! Every operation a connection subscribes to passes the same checks as an
//! operation sent to `/graphql` before async-graphql sees it
//! ([`super::checks`]: parse, fragment cycles, depth, aliases, repeated
//! fields, piles of directives, `__typename`'s directives, introspection),
//! and its errors get the same `extensions.code`: the crate's connection runs
//! the operations through [`Checked`], an executor in front of the schema. A
//! refused operation answers one `next` with the error, then `complete`, and
//! the connection stays open.
//!
//! When the server stops, every open connection is closed with `1001 Going
//! Away` ([`crate::shutdown`]): a client reconnects to another instance.

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::futures_util::stream::{self, BoxStream};
use async_graphql::futures_util::{SinkExt as _, StreamExt as _, future};
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{FromRequestParts as _, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::checks;
use super::context::RequestContext;
use super::idle::Idle;
use crate::app::AppState;
use crate::auth::Caller;
use crate::shutdown::Listener;

/// The subprotocol served.
const PROTOCOL: &str = "graphql-transport-ws";

/// The close code of a server that is stopping (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;

/// `GET /graphql/ws`: upgrades to a `graphql-transport-ws` connection.
///
/// The crate's [`GraphQLProtocol`] extractor would also take the older
/// `graphql-ws` subprotocol (subscriptions-transport-ws), which Tally does not
/// serve: only a client that asks for `graphql-transport-ws` is upgraded.
pub(crate) async fn ws_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let asked = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    let protocol = match transport_ws().await {
        Some(protocol) if asked => protocol,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                format!("ask for the `{PROTOCOL}` subprotocol (Sec-WebSocket-Protocol)"),
            )
                .into_response();
        }
    };
    // Listening from the upgrade on, so that a stop that begins before the
    // connection is served still waits for it and closes it.
    let stopping = state.shutdown.listener();
    upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| serve(state, socket, protocol, stopping))
}

/// The crate's value for `graphql-transport-ws`. [`GraphQLProtocol`] is made
/// only by its extractor, which reads it from the `Sec-WebSocket-Protocol`
/// header; this gives it that header alone.
async fn transport_ws() -> Option<GraphQLProtocol> {
    let (mut parts, ()) = axum::http::Request::builder()
        .header(header::SEC_WEBSOCKET_PROTOCOL, PROTOCOL)
        .body(())
        .ok()?
        .into_parts();
    GraphQLProtocol::from_request_parts(&mut parts, &())
        .await
        .ok()
}

/// Runs one connection until either side closes it or the server stops.
async fn serve(
    state: AppState,
    socket: axum::extract::ws::WebSocket,
    protocol: GraphQLProtocol,
    mut stopping: Listener,
) {
    let (mut sink, stream) = socket.split();
    let refused = Arc::new(AtomicBool::new(false));
    let init_refused = refused.clone();
    let init_state = state.clone();
    let stopped = {
        // async-graphql's close codes become the protocol's on the way out.
        let outgoing = (&mut sink).with(|message: Message| {
            future::ready(Ok::<_, axum::Error>(match message {
                Message::Close(Some(frame)) => {
                    let (code, reason) = close_code(
                        frame.code,
                        frame.reason.to_string(),
                        refused.load(Ordering::SeqCst),
                    );
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    }))
                }
                other => other,
            }))
        });
        let connection =
            GraphQLWebSocket::new_with_pair(outgoing, stream, Checked(state), protocol)
                .on_connection_init(move |payload| async move {
                    match authenticate(&init_state, &payload).await {
                        Some(caller) => {
                            let mut data = Data::default();
                            data.insert(caller);
                            Ok(data)
                        }
                        None => {
                            init_refused.store(true, Ordering::SeqCst);
                            Err(async_graphql::Error::new("Forbidden"))
                        }
                    }
                })
                .serve();
        tokio::select! {
            () = connection => false,
            () = stopping.stopping() => true,
        }
    };
    if stopped {
        let close = Message::Close(Some(CloseFrame {
            code: GOING_AWAY,
            reason: "server shutting down".into(),
        }));
        // The client may be gone already; the connection ends either way.
        let _closed = sink.send(close).await;
    }
}

/// The schema, behind the checks `/graphql` applies before async-graphql
/// sees an operation ([`checks`]), for the operations of a WebSocket
/// connection; each operation reads as the caller the connection
/// authenticated, with loaders of its own.
#[derive(Clone)]
struct Checked(AppState);

impl Checked {
    /// `request`, checked and made ready to run as the connection's caller;
    /// or why it is refused.
    fn prepare(
        &self,
        mut request: async_graphql::Request,
        session: Option<&Data>,
    ) -> Result<(async_graphql::Request, Idle), checks::Refused> {
        let limits = &self.0.config.graphql;
        let shape = checks::shape(&mut request, limits)?;
        // A WebSocket caller is authenticated: `connection_init` required it.
        if !checks::introspection(&shape, limits, true)? {
            request = request.disable_introspection();
        }
        let caller = session
            .and_then(|data| data.get(&TypeId::of::<Caller>()))
            .and_then(|caller| caller.downcast_ref::<Caller>())
            .cloned()
            .unwrap_or(Caller::Anonymous);
        // Each operation's stream is watched by its own `Idle`, which its
        // loaders wait on.
        let idle = Idle::default();
        let context = RequestContext::new(self.0.clone(), caller, idle.clone());
        Ok((request.data(context), idle))
    }

    /// Gives the errors of an answer their codes, as `/graphql` does.
    fn finish(&self, response: async_graphql::Response) -> async_graphql::Response {
        let limits = &self.0.config.graphql;
        checks::finish(response, limits, limits.suggestions.allows(true))
    }
}

/// The answer to a refused operation: its error, and no data.
fn refusal(refused: &checks::Refused) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![refused.error()])
}

impl Executor for Checked {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self.prepare(request, None) {
            Ok((request, idle)) => {
                let response = idle.watch(self.0.schema.execute(request)).await;
                self.finish(response)
            }
            Err(refused) => refusal(&refused),
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        match self.prepare(request, session_data.as_deref()) {
            Ok((request, idle)) => {
                let this = self.clone();
                idle.watch_stream(
                    self.0.schema.execute_stream_with_session_data(
                        request,
                        session_data.unwrap_or_default(),
                    ),
                )
                .map(move |response| this.finish(response))
                .boxed()
            }
            Err(refused) => stream::once(future::ready(refusal(&refused))).boxed(),
        }
    }
}

/// The protocol's close codes for what async-graphql closes otherwise: a
/// refused `connection_init` (1002) is `4403 Forbidden`, a `subscribe` before
/// the acknowledgement (1011) is `4401 Unauthorized`.
fn close_code(code: u16, reason: String, refused: bool) -> (u16, String) {
    match code {
        1002 if refused => (4403, "Forbidden".to_owned()),
        1011 if reason.starts_with("The handshake is not completed") => {
            (4401, "Unauthorized".to_owned())
        }
        _ => (code, reason),
    }
}

/// The caller named by the token in a `connection_init` payload; `None` when
/// there is none or it is refused (the reason is logged, not sent).
async fn authenticate(state: &AppState, payload: &Value) -> Option<Caller> {
    let token = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(key).and_then(Value::as_str))
        .map(|value| match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value.trim(),
        })
        .or_else(|| payload.get("token").and_then(Value::as_str))
        .filter(|token| !token.is_empty())?;
    match state.auth.token(&state.db, token).await {
        Ok(principal) => Some(Caller::Authenticated(principal)),
        Err(failure) => {
            tracing::info!(reason = %failure, "WebSocket credentials refused");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_the_protocol() {
        assert_eq!(
            close_code(1002, "Forbidden".into(), true),
            (4403, "Forbidden".into())
        );
        assert_eq!(
            close_code(1011, "The handshake is not completed.".into(), false),
            (4401, "Unauthorized".into())
        );
        assert_eq!(
            close_code(1002, "bad message".into(), false),
            (1002, "bad message".into())
        );
        assert_eq!(
            close_code(4429, "Too many".into(), false),
            (4429, "Too many".into())
        );
    }
}
