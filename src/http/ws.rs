//! GraphQL over WebSocket at `/graphql`: the `graphql-transport-ws` protocol (and the legacy
//! `graphql-ws` one), run by async-graphql's protocol engine, with what a public server needs
//! around it:
//!
//! - a client must send `connection_init` within 3 s, else the connection closes with 4408
//!   ("Connection initialisation timeout", as the protocol says);
//! - the server pings every 15 s (`ping`; `ka` in the legacy protocol), so that idle
//!   connections through proxies stay open (the npm client answers, and never pings itself);
//! - a client that does not read is dropped: a message that cannot be written within 10 s closes
//!   the connection, and a subscription that falls behind ends (see `crate::api::subscriptions`);
//! - the server's shutdown closes every connection with 1001.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{WebSocket as Engine, WsMessage};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};

use super::AppState;
use crate::api::subscriptions::ConnectionSubscriptions;

/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the server pings.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// How long one message may take to write before the client counts as not reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's initial read buffer.
const READ_BUFFER: usize = 4 << 10;
/// The largest message a client may send (a `subscribe` with its document and variables): the
/// default HTTP body limit.
const MAX_MESSAGE: usize = 1 << 20;

/// The subprotocols spoken, the modern one preferred.
const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// Upgrades the request to a GraphQL WebSocket connection.
pub fn upgrade(state: AppState, ws: WebSocketUpgrade, headers: &HeaderMap) -> Response {
    // The client's first offered protocol that we speak (graphql-transport-ws by default).
    let offered = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = offered
        .split(',')
        .map(str::trim)
        .find(|p| PROTOCOLS.contains(p))
        .unwrap_or(PROTOCOLS[0]);
    let protocol = name
        .parse::<async_graphql::http::WebSocketProtocols>()
        .unwrap_or(async_graphql::http::WebSocketProtocols::GraphQLWS);
    // tungstenite's defaults (128 KiB read and write buffers each) made a connection cost
    // ~140 KiB (scripts/bench-subscriptions); messages here are small, and buffers grow when
    // one is not. Each message is written at once (no batching: pushes are latency-bound).
    ws.protocols(PROTOCOLS)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state, protocol))
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    protocol: async_graphql::http::WebSocketProtocols,
) {
    let (mut sink, source) = socket.split();
    // The document of each subscription, by id: its errors are coded by phase (see below).
    let documents: Arc<std::sync::Mutex<HashMap<String, String>>> = Arc::default();
    let seen = documents.clone();
    let input = source
        .take_while(|m| std::future::ready(!matches!(m, Ok(Message::Close(_)) | Err(_))))
        .filter_map(move |m| {
            let bytes = match m {
                Ok(Message::Text(t)) => Some(t.as_bytes().to_vec()),
                Ok(Message::Binary(b)) => Some(b.to_vec()),
                _ => None,
            };
            if let Some(b) = &bytes {
                remember(&seen, b);
            }
            std::future::ready(bytes)
        });
    let initialized = Arc::new(AtomicBool::new(false));
    let mut data = Data::default();
    data.insert(ConnectionSubscriptions::default());
    let flag = initialized.clone();
    let mut engine = Box::pin(
        Engine::new(state.schema.clone(), input, protocol)
            .connection_data(data)
            .on_connection_init(move |_payload| {
                flag.store(true, Ordering::SeqCst);
                std::future::ready(Ok(Data::default()))
            }),
    );
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let legacy = matches!(
        protocol,
        async_graphql::http::WebSocketProtocols::SubscriptionsTransportWS
    );
    let shutdown = state.shutdown.clone();
    loop {
        let out = tokio::select! {
            m = engine.next() => match m {
                Some(WsMessage::Text(t)) => Message::Text(coded(t, &documents, &state.limits).into()),
                Some(WsMessage::Close(code, reason)) => close(code, &reason),
                None => break,
            },
            _ = &mut init_deadline, if !initialized.load(Ordering::SeqCst) => {
                close(4408, "Connection initialisation timeout")
            }
            _ = ping.tick() => Message::Text(
                if legacy { r#"{"type":"ka"}"# } else { r#"{"type":"ping"}"# }.into(),
            ),
            _ = shutdown.cancelled() => close(1001, "the server is shutting down"),
        };
        let closing = matches!(out, Message::Close(_));
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(out)).await {
            Ok(Ok(())) if !closing => {}
            Ok(Ok(())) => break,
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::info!("dropping a WebSocket client that does not read");
                break;
            }
        }
    }
    let _ = sink.close().await;
}

/// Keeps the document of a `subscribe` (or legacy `start`) message by its id.
fn remember(documents: &std::sync::Mutex<HashMap<String, String>>, message: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Subscribe {
        id: Option<String>,
        payload: Option<Payload>,
    }
    #[derive(serde::Deserialize)]
    struct Payload {
        query: Option<String>,
    }
    if let Ok(Subscribe {
        id: Some(id),
        payload: Some(Payload { query: Some(q) }),
    }) = serde_json::from_slice::<Subscribe>(message)
    {
        if let Ok(mut d) = documents.lock() {
            d.insert(id, q);
        }
    }
}

/// A message to the client with the errors it carries coded, as `/graphql` over HTTP codes them
/// ([`crate::api::codes`]): the engine sends them as async-graphql made them.
fn coded(
    text: String,
    documents: &std::sync::Mutex<HashMap<String, String>>,
    limits: &crate::api::Limits,
) -> String {
    if !text.contains("\"errors\"") {
        return text;
    }
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    let id = message["id"].as_str().unwrap_or("").to_owned();
    let query = documents
        .lock()
        .ok()
        .and_then(|d| d.get(&id).cloned())
        .unwrap_or_default();
    let Some(errors) = message.get_mut("payload").and_then(|p| p.get_mut("errors")) else {
        return text;
    };
    let Ok(mut parsed) = serde_json::from_value::<Vec<async_graphql::ServerError>>(errors.clone())
    else {
        return text;
    };
    if async_graphql::parser::parse_query(&query).is_err() {
        crate::api::codes::parse_failed(&mut parsed, &query);
    } else {
        crate::api::codes::answered(&mut parsed, &query, limits);
    }
    *errors = serde_json::to_value(&parsed).unwrap_or_default();
    message.to_string()
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_owned().into(),
    }))
}
