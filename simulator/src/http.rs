//! HTTP: GraphQL at `/` and `/graphql` (POST with a JSON body, or GET with `?query=`), answered
//! with graph-node's status codes (200 for every GraphQL-level error, 400 with `{"error":…}` for a
//! body that is not a GraphQL request), after the configured latency and with the configured
//! faults.
//!
//! Dropping a connection needs more than a handler can do: the listener wraps every connection
//! in a [`KillableStream`] whose switch the handler can flip, after which every write fails and
//! the connection closes without a byte of answer.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::faults::{self, Fault};
use super::Simulator;
use tokenmirror_subgraph::query::request::{self, Request as GraphQlRequest};

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;

/// The routes, with `sim` as their state.
pub fn router(sim: Simulator) -> Router {
    // Like graph-node, browsers may call it from any origin.
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::USER_AGENT]);
    Router::new()
        .route("/", get(graphql).post(graphql))
        .route("/graphql", get(graphql).post(graphql))
        .layer(cors)
        .with_state(sim)
}

/// Serves `router` on `listener` until `shutdown` resolves, with connections that faults can
/// drop.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(
        KillableListener(listener),
        router.into_make_service_with_connect_info::<KillSwitch>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn graphql(State(sim): State<Simulator>, request: Request) -> Response {
    let number = sim.next_request();
    let fault = faults::decide(sim.seed(), number, sim.fail_rate());
    let kill = request
        .extensions()
        .get::<ConnectInfo<KillSwitch>>()
        .map(|c| c.0.clone());
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY).await;
    let latency = sim.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    sim.wait_if_stalled(number).await;
    let parsed = match body {
        Ok(bytes) => parse(&parts.method, &parts.uri, &bytes),
        Err(_) => Err(format!("the request body is larger than {MAX_BODY} bytes")),
    };
    match fault {
        Some(Fault::Dropped) => {
            tracing::debug!(request = number, "fault: dropping the connection");
            return drop_connection(kill);
        }
        Some(Fault::Malformed) => {
            tracing::debug!(request = number, "fault: truncated JSON");
            let answer = match &parsed {
                Ok(r) => sim.answer(&r.query, r.variables.as_ref(), r.operation_name.as_deref()),
                Err(_) => "{\"data\":null}".to_owned(),
            };
            return json(StatusCode::OK, faults::truncate(&answer));
        }
        Some(f) => {
            if let Some(c) = faults::canned(f, sim.seed(), number) {
                tracing::debug!(request = number, fault = ?f, "fault");
                let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::BAD_GATEWAY);
                let mut response =
                    (status, [(header::CONTENT_TYPE, c.content_type)], c.body).into_response();
                if let Some(v) = c.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static(v));
                }
                return response;
            }
        }
        None => {}
    }
    match parsed {
        Ok(r) => json(
            StatusCode::OK,
            sim.answer(&r.query, r.variables.as_ref(), r.operation_name.as_deref()),
        ),
        Err(message) => json(
            StatusCode::BAD_REQUEST,
            request::client_error_json(&message),
        ),
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Reads the request as graph-node does, with its messages for what is wrong.
fn parse(method: &Method, uri: &axum::http::Uri, body: &Bytes) -> Result<GraphQlRequest, String> {
    if method == Method::GET || method == Method::HEAD {
        let Query(params) =
            Query::<HashMap<String, String>>::try_from_uri(uri).map_err(|e| e.to_string())?;
        return request::from_params(&params);
    }
    request::from_body(body)
}

/// Closes the connection without answering: through the connection's kill switch when the
/// simulator's own listener serves it, else with a body that fails before its first byte.
fn drop_connection(kill: Option<KillSwitch>) -> Response {
    match kill {
        Some(k) => {
            k.0.store(true, Ordering::Relaxed);
            StatusCode::OK.into_response()
        }
        None => {
            let failing = futures::stream::once(async {
                Err::<Bytes, io::Error>(io::Error::new(io::ErrorKind::ConnectionAborted, "dropped"))
            });
            Response::new(Body::from_stream(failing))
        }
    }
}

/// A connection's switch: once set, the connection fails every read and write.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, KillableListener>> for KillSwitch {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.io().kill.clone()
    }
}

/// A TCP listener handing out [`KillableStream`]s (with `TCP_NODELAY`: answers go out at once).
pub struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = KillSwitch::default();
                    return (KillableStream { stream, kill }, addr);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("simulator: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP connection that fails once its [`KillSwitch`] is set.
pub struct KillableStream {
    stream: TcpStream,
    kill: KillSwitch,
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.kill.0.load(Ordering::Relaxed)
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by a simulated fault",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
