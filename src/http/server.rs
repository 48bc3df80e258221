//! Accepting connections and the limits that protect them from slow or lying clients: a time
//! limit on reading a request's headers and on each part of its body, a refusal at once of a body
//! declared larger than the server accepts, and a time limit on the whole request whose answer is
//! a GraphQL error like any other.
//!
//! `axum::serve` gives hyper no timer, so hyper's header read timeout never fires there: a
//! client sending headers one byte a minute held its connection for ever. This loop is
//! `axum::serve` with that set, plus TCP_NODELAY.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::{code, request_error_body, request_id};

/// The slow-client limits.
#[derive(Clone, Copy, Debug)]
pub struct ClientLimits {
    /// Time to send a request's headers, from the connection's first byte (or the previous
    /// request on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Time the body may go without sending anything.
    pub body_idle_timeout: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then finishes the requests in
/// flight (WebSocket connections close on the same signal).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ClientLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // WebSockets over HTTP/2 (RFC 8441), as axum::serve allows them.
    builder.http2().enable_connect_protocol();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        // Without TCP_NODELAY, a WebSocket push written right after another (or after a ping)
        // waits for the client's delayed ACK: 40 ms (scripts/subscriptions-check showed it).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = router
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Refuses at once a request whose declared body is larger than `max` bytes (413, the JSON
/// error a real oversized body gets), instead of waiting for a body that would be refused.
pub async fn declared_size(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return super::graphql::too_large(req.headers());
    }
    next.run(req).await
}

/// Bounds the whole request by `timeout`; past it the answer is 503 with a GraphQL error body
/// naming the request id (never an empty body).
pub async fn time_limit(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let id = request_id();
            tracing::warn!(request_id = %id, seconds = timeout.as_secs_f64(), "request timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                request_error_body(
                    &format!(
                        "the request did not finish within REQUEST_TIMEOUT ({} s); try again \
                         (request id {id})",
                        timeout.as_secs_f64()
                    ),
                    code::INTERNAL_SERVER_ERROR,
                ),
            )
                .into_response()
        }
    }
}
