//! The drop-in subgraph endpoint: `/subgraphs/{network}` (and `/subgraph` for the default
//! network) answers the upstream's own query API from the mirror ([`crate::dropin`]), as
//! graph-node answers it over HTTP: POST with a JSON body or GET with `?query=`, every GraphQL
//! answer with status 200, and 400 with `{"error":…}` for a body that is not a GraphQL request.
//!
//! Answers go through the response cache under the exact request text (graph-node's error
//! positions depend on it), kept until the sync changes what they read.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokenmirror_subgraph::query::request::{self, Request};

use super::AppState;
use crate::dropin;

const JSON: &str = "application/json";

/// `/subgraphs/{network}`.
pub async fn named(
    State(state): State<AppState>,
    Path(network): Path<String>,
    method: Method,
    RawQuery(params): RawQuery,
    body: Bytes,
) -> Response {
    serve(&state, &network, &method, params.as_deref(), &body).await
}

/// `/subgraph`: the default network (the first of `UPSTREAMS`).
pub async fn default(
    State(state): State<AppState>,
    method: Method,
    RawQuery(params): RawQuery,
    body: Bytes,
) -> Response {
    let Some(network) = state.api.networks().first().cloned() else {
        return not_found(&state, "(none)");
    };
    serve(&state, &network, &method, params.as_deref(), &body).await
}

async fn serve(
    state: &AppState,
    network: &str,
    method: &Method,
    params: Option<&str>,
    body: &[u8],
) -> Response {
    if !state.api.networks().iter().any(|n| n == network) {
        return not_found(state, network);
    }
    let parsed = if method == Method::GET || method == Method::HEAD {
        serde_urlencoded::from_str::<HashMap<String, String>>(params.unwrap_or(""))
            .map_err(|e| format!("the query string could not be read: {e}"))
            .and_then(|params| request::from_params(&params))
    } else {
        request::from_body(body)
    };
    let req = match parsed {
        Ok(r) => r,
        Err(message) => {
            return answer(
                StatusCode::BAD_REQUEST,
                request::client_error_json(&message),
                false,
            )
        }
    };
    let cache = &state.cache;
    let key = cache.enabled().then(|| cache_key(network, &req));
    if let Some(hit) = key.as_deref().and_then(|k| cache.get(k)) {
        return answer(hit.status, hit.body.clone(), true);
    }
    let deps = key.is_some().then(|| cache.record());
    let max_entities = state.limits.max_complexity;
    match dropin::answer(&state.db, network, &req, deps.as_ref(), max_entities).await {
        Ok(text) => {
            let body = Bytes::from(text);
            if let (Some(key), Some(deps)) = (key, &deps) {
                cache.put(
                    key,
                    StatusCode::OK,
                    JSON,
                    body.clone(),
                    HeaderValue::from_static("no-store"),
                    deps,
                );
            }
            answer(StatusCode::OK, body, false)
        }
        Err(e) => {
            tracing::warn!(error = %e, network, "subgraph endpoint: the database did not answer");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                errors_json(&format!(
                    "the mirror's database did not answer ({e}); try again shortly"
                )),
                false,
            )
        }
    }
}

/// The cache key: the network and the request exactly as sent (error positions depend on
/// the text).
fn cache_key(network: &str, req: &Request) -> String {
    let variables = req
        .variables
        .as_ref()
        .map(|v| serde_json::to_string(v).unwrap_or_default())
        .unwrap_or_default();
    format!(
        "subgraph\n{network}\n{}\n{variables}\n{}",
        req.operation_name.as_deref().unwrap_or(""),
        req.query
    )
}

fn answer(status: StatusCode, body: impl Into<Bytes>, hit: bool) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, JSON)], body.into()).into_response();
    resp.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    resp
}

/// `{"errors":[{"message":…}]}`.
fn errors_json(message: &str) -> String {
    serde_json::json!({ "errors": [{ "message": message }] }).to_string()
}

fn not_found(state: &AppState, network: &str) -> Response {
    let known = state.api.networks().join(", ");
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, JSON)],
        errors_json(&format!(
            "no network `{network}` is mirrored here: this server mirrors {known} (UPSTREAMS); \
             ask /subgraphs/<network> for one of them, or /subgraph for the first"
        )),
    )
        .into_response()
}
