//! The HTTP server: `/graphql` (GraphQL over HTTP, subscriptions over WebSocket, and GraphiQL
//! for browsers), GraphiQL at `/` with its assets under `/graphiql/`, the live chart at
//! `/chart`, TradingView's UDF datafeed under `/udf/`, the drop-in subgraph endpoint at
//! `/subgraphs/{network}` and `/subgraph`, `/healthz`, `/readyz`, `/metrics`; plus
//! CORS, compression, a body size limit, slow-client and request timeouts (`server`), and one
//! log line per request.

pub mod cache;
mod documents;
mod graphiql;
mod graphql;
mod health;
mod observe;
pub mod persisted;
pub mod ratelimit;
mod server;
mod subgraph;
pub mod udf;
mod ws;

pub use server::ClientLimits;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::api::ApiSchema;
use crate::db::Db;
use crate::feed::Feed;
use crate::metrics::Metrics;

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub schema: ApiSchema,
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub cache: cache::ResponseCache,
    pub feed: Feed,
    /// What the API's resolvers share (the UDF datafeed reads through it too).
    pub api: crate::api::ApiContext,
    /// Parsed documents, kept across requests.
    pub documents: documents::Documents,
    /// The query limits (to say which one a refused query hit).
    pub limits: crate::api::Limits,
    /// Cancelled when the server stops (WebSocket connections close then).
    pub shutdown: CancellationToken,
    /// Persisted queries.
    pub persisted: persisted::Persisted,
}

/// HTTP limits and CORS.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// `*` or a list of origins.
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// For `scripts/bench-api` only: `POST /bench/fixed` answers a fixed JSON body of this many
    /// bytes from memory, through the same stack (the ceiling the load generator allows).
    pub bench_fixed_body: Option<usize>,
    /// Slow clients' limits.
    pub client: ClientLimits,
    /// The per-client rate limit, if any.
    pub rate_limit: Option<ratelimit::RateLimitConfig>,
    /// Persisted queries.
    pub persisted: persisted::Persisted,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            cors_origins: vec!["*".to_owned()],
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            bench_fixed_body: None,
            client: ClientLimits::default(),
            rate_limit: None,
            persisted: persisted::Persisted::default(),
        }
    }
}

/// A JSON answer of exactly `bytes` bytes (at least the wrapper's).
fn fixed_body(bytes: usize) -> axum::body::Bytes {
    let wrapper = r#"{"data":{"x":""}}"#;
    let pad = "x".repeat(bytes.saturating_sub(wrapper.len()));
    axum::body::Bytes::from(format!(r#"{{"data":{{"x":"{pad}"}}}}"#))
}

/// The router with every route and layer.
pub fn router(state: AppState, opts: &HttpOptions) -> Router {
    let mut router = Router::new();
    if let Some(bytes) = opts.bench_fixed_body {
        let body = fixed_body(bytes);
        router = router.route(
            "/bench/fixed",
            axum::routing::post(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
    }
    // What clients ask for, rate-limited when a limit is set (not the health endpoints).
    let mut api = Router::new()
        .route(
            "/graphql",
            get(graphql::get_or_page)
                .post(graphql::post)
                .fallback(graphql::method_not_allowed),
        )
        .route(
            "/subgraphs/{network}",
            get(subgraph::named).post(subgraph::named),
        )
        .route("/subgraph", get(subgraph::default).post(subgraph::default))
        .route("/udf/config", get(udf::config))
        .route("/udf/symbols", get(udf::symbols))
        .route("/udf/search", get(udf::search))
        .route("/udf/history", get(udf::history))
        .route("/udf/time", get(udf::time));
    if let Some(config) = &opts.rate_limit {
        let limiter = ratelimit::Limiter::new(config.clone(), state.metrics.clone());
        limiter.forget_idle_clients();
        api = api.route_layer(middleware::from_fn_with_state(limiter, ratelimit::limit));
    }
    router
        .merge(api)
        .route("/", get(graphiql::page))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/chart", get(graphiql::chart))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        // A panic (a bug: none is expected on any input) answers 500 and keeps the server up.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(CompressionLayer::new())
        .layer(cors(&opts.cors_origins))
        .layer(DefaultBodyLimit::max(opts.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(opts.client.body_idle_timeout))
        .layer(middleware::from_fn_with_state(
            opts.max_body_bytes,
            server::declared_size,
        ))
        .layer(middleware::from_fn_with_state(
            opts.request_timeout,
            server::time_limit,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT, header::AUTHORIZATION])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(request_id = %crate::error::request_id(), "a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        crate::error::request_error_body(
            "internal server error",
            crate::error::code::INTERNAL_SERVER_ERROR,
        ),
    )
        .into_response()
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then finishes the requests in
/// flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ClientLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    server::serve(listener, router, limits, shutdown).await
}
