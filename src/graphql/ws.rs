//! GraphQL over WebSocket at `/graphql/ws`, with the `graphql-transport-ws`
//! protocol (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>).
//!
//! The caller authenticates in `connection_init`: its payload carries the
//! bearer token as `{"Authorization": "Bearer <token>"}` (or `authorization`,
//! or `{"token": "<token>"}`), checked by the same code as `/graphql`'s
//! header. A connection without valid credentials is closed with `4403
//! Forbidden`; a `subscribe` before the acknowledgement with `4401
//! Unauthorized`, as the protocol says. async-graphql closes both cases with
//! other codes, which are rewritten on their way out.
//!
//! When the server stops, every open connection is closed with `1001 Going
//! Away` ([`crate::shutdown`]): a client reconnects to another instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::futures_util::{SinkExt as _, StreamExt as _, future};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::http::execution_data;
use super::idle::Idle;
use crate::app::AppState;
use crate::auth::Caller;
use crate::shutdown::Listener;

/// The subprotocol served.
const PROTOCOL: &str = "graphql-transport-ws";

/// The close code of a server that is stopping (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;

/// `GET /graphql/ws`: upgrades to a `graphql-transport-ws` connection.
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
    if !asked {
        return (
            StatusCode::BAD_REQUEST,
            format!("ask for the `{PROTOCOL}` subprotocol (Sec-WebSocket-Protocol)"),
        )
            .into_response();
    }
    // Listening from the upgrade on, so that a stop that begins before the
    // connection is served still waits for it and closes it.
    let stopping = state.shutdown.listener();
    upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| serve(state, socket, stopping))
}

/// Runs one connection until either side closes it or the server stops.
async fn serve(state: AppState, socket: axum::extract::ws::WebSocket, mut stopping: Listener) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let refused = Arc::new(AtomicBool::new(false));
    let init_refused = refused.clone();
    let init_state = state.clone();
    // The connection's subscriptions run inside its stream: the loaders'
    // batches wait for the stream to settle.
    let idle = Idle::default();
    let init_idle = idle.clone();
    let connection = WebSocket::new(state.schema.clone(), input, WebSocketProtocols::GraphQLWS)
        .on_connection_init(move |payload| async move {
            match authenticate(&init_state, &payload).await {
                Some(caller) => Ok(execution_data(&init_state, caller, init_idle)),
                None => {
                    init_refused.store(true, Ordering::SeqCst);
                    Err(async_graphql::Error::new("Forbidden"))
                }
            }
        });
    let mut output = idle.watch_stream(connection).map(|message| match message {
        WsMessage::Text(text) => Message::Text(text.into()),
        WsMessage::Close(code, reason) => {
            let (code, reason) = close_code(code, reason, refused.load(Ordering::SeqCst));
            Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }))
        }
    });
    loop {
        tokio::select! {
            message = output.next() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            () = stopping.stopping() => {
                let close = Message::Close(Some(CloseFrame {
                    code: GOING_AWAY,
                    reason: "server shutting down".into(),
                }));
                // The client may be gone already; the connection ends either way.
                let _closed = sink.send(close).await;
                break;
            }
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
