//! The HTTP server: `/graphql` (GraphQL over HTTP, and GraphiQL for browsers), GraphiQL at `/`
//! with its assets under `/graphiql/`, `/healthz`, `/readyz`, `/metrics`; plus CORS,
//! compression, a body size limit, a request timeout, and one log line per request.

pub mod cache;
mod graphiql;
mod graphql;
mod health;
mod observe;

use std::net::SocketAddr;
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
use tower_http::timeout::TimeoutLayer;

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
}

/// HTTP limits and CORS.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// `*` or a list of origins.
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            cors_origins: vec!["*".to_owned()],
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The router with every route and layer.
pub fn router(state: AppState, opts: &HttpOptions) -> Router {
    Router::new()
        .route("/", get(graphiql::page))
        .route(
            "/graphql",
            get(graphql::get_or_page)
                .post(graphql::post)
                .fallback(graphql::method_not_allowed),
        )
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        // A panic (a bug: none is expected on any input) answers 500 and keeps the server up.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(CompressionLayer::new())
        .layer(cors(&opts.cors_origins))
        .layer(DefaultBodyLimit::max(opts.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            opts.request_timeout,
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
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}
