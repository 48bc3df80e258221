//! GraphQL over HTTP (the GraphQL-over-HTTP spec, as audited by the `graphql-http` package):
//! POST with `application/json`, GET with query parameters (queries only), and answers in
//! `application/graphql-response+json` or `application/json` as the client's `Accept` asks.
//!
//! With `application/graphql-response+json`, a request that never reached execution (bad JSON,
//! bad parameters, a document that does not parse or validate) is answered 400; with
//! `application/json` every GraphQL answer is 200, as legacy clients expect.

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::persisted::{Persisted, Refusal};
use super::{cache, AppState};
use crate::api::codes;
use crate::api::context::LIVE_MAX_AGE;
use crate::error::{code, request_error_body};
use crate::feed::Deps;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// The media type of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    GraphqlResponseJson,
    Json,
}

impl Answer {
    fn content_type(self) -> &'static str {
        match self {
            Answer::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Answer::Json => JSON,
        }
    }
}

/// Picks the answer's media type from `Accept`. A client that names neither type (no `Accept`,
/// or `*/*`) gets `application/json`, which every GraphQL client understands.
fn negotiate(headers: &HeaderMap) -> Option<Answer> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Answer::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let refused = parts.any(|p| p.replace(' ', "") == "q=0");
        if refused {
            continue;
        }
        match media.as_str() {
            "application/graphql-response+json" => return Some(Answer::GraphqlResponseJson),
            "application/json" | "*/*" | "application/*" => return Some(Answer::Json),
            _ => {}
        }
    }
    None
}

/// An answer to a request that could not be run at all.
fn request_error(answer: Answer, status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type())],
        request_error_body(message, code::BAD_REQUEST),
    )
        .into_response()
}

/// The answer to a body larger than MAX_BODY_BYTES (read, or only declared).
pub(super) fn too_large(headers: &HeaderMap) -> Response {
    request_error(
        negotiate(headers).unwrap_or(Answer::Json),
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than this server accepts (MAX_BODY_BYTES): send a smaller \
         query, or use variables",
    )
}

/// Whether the body could not be read because it stalled (see `server::ClientLimits`).
fn is_body_timeout(rejection: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn not_acceptable() -> Response {
    request_error(
        Answer::Json,
        StatusCode::NOT_ACCEPTABLE,
        "Accept must allow application/graphql-response+json or application/json",
    )
}

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(answer) = negotiate(&headers) else {
        return not_acceptable();
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large(&headers)
        }
        Err(rejection) if is_body_timeout(&rejection) => {
            return request_error(
                answer,
                StatusCode::REQUEST_TIMEOUT,
                "the request body stopped arriving: send it without pauses",
            )
        }
        Err(rejection) => {
            return request_error(
                answer,
                rejection.status(),
                &format!(
                    "the request body could not be read: {}",
                    rejection.body_text()
                ),
            )
        }
    };
    if let Err((status, msg)) = check_content_type(&headers) {
        return request_error(answer, status, &msg);
    }
    if body.is_empty() {
        return request_error(
            answer,
            StatusCode::BAD_REQUEST,
            "the request body is empty: send a JSON object with a \"query\" string",
        );
    }
    if let Some(hit) = cached(&state, answer, &body) {
        return hit;
    }
    let params: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return request_error(
                answer,
                StatusCode::BAD_REQUEST,
                &format!("the request body is not valid JSON: {e}"),
            )
        }
    };
    let Value::Object(params) = params else {
        return request_error(
            answer,
            StatusCode::BAD_REQUEST,
            "the request body must be a JSON object with a \"query\" string",
        );
    };
    match request_from(params, &state.persisted) {
        Ok(parsed) => execute(&state, answer, parsed, false).await,
        Err(r) => refused(answer, r),
    }
}

/// A well-formed POST body, borrowed: enough to look the answer up in the cache without
/// building a GraphQL request.
#[derive(serde::Deserialize)]
struct Borrowed<'a> {
    #[serde(borrow)]
    query: std::borrow::Cow<'a, str>,
    #[serde(rename = "operationName", borrow, default)]
    operation_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    variables: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    extensions: Option<&'a serde_json::value::RawValue>,
}

/// The cached answer to a POST body, if one is fresh: the hot path, which reads the body once
/// and allocates little. Anything unusual (a body that does not parse this way, variables that
/// are not an object) goes the full way, which also gives the precise error.
fn cached(state: &AppState, answer: Answer, body: &[u8]) -> Option<Response> {
    if !state.cache.enabled() || state.persisted.is_allow_list() {
        return None;
    }
    let b: Borrowed<'_> = serde_json::from_slice(body).ok()?;
    if b.extensions.is_some_and(|e| e.get() != "null") {
        return None; // persisted queries: checked the full way
    }
    let variables = match b.variables {
        None => String::new(),
        Some(raw) if raw.get() == "null" => String::new(),
        Some(raw) => match serde_json::from_str::<Value>(raw.get()).ok()? {
            v @ Value::Object(_) => v.to_string(),
            _ => return None,
        },
    };
    let key = cache::key(
        answer.content_type(),
        b.operation_name.as_deref(),
        &variables,
        &b.query,
    );
    let position = state.feed.position();
    let hit = state.cache.get(&key)?;
    Some(respond(
        hit.status,
        hit.content_type,
        hit.body.clone(),
        position,
        true,
        None,
    ))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let unsupported = |msg: String| Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, msg));
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return unsupported("Content-Type is required: send application/json".to_owned());
    };
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    if media != "application/json" {
        return unsupported(format!(
            "Content-Type {media:?} is not supported: send application/json"
        ));
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.trim().trim_matches('"').to_ascii_lowercase();
            if k.trim().eq_ignore_ascii_case("charset") && v != "utf-8" && v != "utf8" {
                return unsupported(format!("charset {v:?} is not supported: send utf-8"));
            }
        }
    }
    Ok(())
}

/// A request as parsed from HTTP: the GraphQL request and its variables as JSON text (for the
/// cache key).
struct Parsed {
    request: async_graphql::Request,
    variables: String,
}

/// Reads `query`, `operationName`, `variables` and `extensions` from the request parameters;
/// the document is the `query`, or the persisted one `extensions.persistedQuery` names.
fn request_from(mut params: Map<String, Value>, persisted: &Persisted) -> Result<Parsed, Refusal> {
    let bad = |msg: String| Refusal {
        code: code::BAD_REQUEST,
        message: msg,
    };
    let query = match params.remove("query") {
        Some(Value::String(q)) => Some(q),
        None | Some(Value::Null) => None,
        Some(other) => {
            return Err(bad(format!(
                "\"query\" must be a string, not {}",
                json_type(&other)
            )))
        }
    };
    let operation_name = match params.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(other) => {
            return Err(bad(format!(
                "\"operationName\" must be a string or null, not {}",
                json_type(&other)
            )))
        }
    };
    let (variables, vars_json) = match params.remove("variables") {
        None | Some(Value::Null) => (None, String::new()),
        Some(v @ Value::Object(_)) => {
            let text = v.to_string();
            (Some(async_graphql::Variables::from_json(v)), text)
        }
        Some(other) => {
            return Err(bad(format!(
                "\"variables\" must be an object or null, not {}",
                json_type(&other)
            )))
        }
    };
    let extensions = match params.remove("extensions") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(other) => {
            return Err(bad(format!(
                "\"extensions\" must be an object or null, not {}",
                json_type(&other)
            )))
        }
    };
    let mut req = async_graphql::Request::new(persisted.resolve(query, extensions.as_ref())?);
    if let Some(name) = operation_name {
        req = req.operation_name(name);
    }
    if let Some(v) = variables {
        req = req.variables(v);
    }
    Ok(Parsed {
        request: req,
        variables: vars_json,
    })
}

/// The answer to a request whose document could not be had (see [`Persisted`]): HTTP 200 for
/// "not found" and "not supported", steps of the protocol the client answers by sending the
/// document, else 400; never cached by anyone.
fn refused(answer: Answer, r: Refusal) -> Response {
    let status = if r.is_protocol_step() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, answer.content_type())],
        request_error_body(&r.message, r.code),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `GET /graphql?query=…`: queries only (a mutation over GET is refused with 405).
pub async fn get(state: AppState, headers: &HeaderMap, raw: Option<String>) -> Response {
    let Some(answer) = negotiate(headers) else {
        return not_acceptable();
    };
    let mut params = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = match k.as_ref() {
            "variables" | "extensions" if !v.is_empty() => match serde_json::from_str(&v) {
                Ok(v) => v,
                Err(e) => {
                    return request_error(
                        answer,
                        StatusCode::BAD_REQUEST,
                        &format!("the {k:?} parameter is not valid JSON: {e}"),
                    )
                }
            },
            _ => Value::String(v.into_owned()),
        };
        params.insert(k.into_owned(), value);
    }
    let mut parsed = match request_from(params, &state.persisted) {
        Ok(r) => r,
        Err(r) => return refused(answer, r),
    };
    state.documents.prepare(&mut parsed.request);
    if operation_type(&mut parsed.request) == Some(OperationType::Mutation) {
        return not_allowed(answer, "mutations are not allowed over GET: use POST");
    }
    execute(&state, answer, parsed, true).await
}

/// The type of the operation the request selects, if its document parses and names one. Parses
/// the document once, for this check and for the execution.
fn operation_type(req: &mut async_graphql::Request) -> Option<OperationType> {
    let operation_name = req.operation_name.clone();
    let doc = req.parsed_query().ok()?; // executing it reports the parse error, with its code
    crate::api::selected_operation(doc, operation_name.as_deref()).map(|op| op.ty)
}

/// Answers a request: from the response cache when a fresh answer is kept, else by executing
/// it (and keeping the answer when it may be reused). A GET answer also tells HTTP caches how
/// long to keep it (`Cache-Control`; see [`cache_control`]).
async fn execute(state: &AppState, answer: Answer, parsed: Parsed, get: bool) -> Response {
    let Parsed {
        mut request,
        variables,
    } = parsed;
    let cache = &state.cache;
    let key = cache.enabled().then(|| {
        cache::key(
            answer.content_type(),
            request.operation_name.as_deref(),
            &variables,
            &request.query,
        )
    });
    // Read before the lookup: every change up to this position has been applied, so a fresh
    // answer found next is the answer as of this position (and a computed one reflects at
    // least the changes up to it).
    let position = state.feed.position();
    if let Some(hit) = key.as_deref().and_then(|k| cache.get(k)) {
        return respond(
            hit.status,
            hit.content_type,
            hit.body.clone(),
            position,
            true,
            get.then_some(&hit.cache_control),
        );
    }
    state.documents.prepare(&mut request);
    if operation_type(&mut request) == Some(OperationType::Subscription) {
        return request_error(
            answer,
            StatusCode::BAD_REQUEST,
            "subscriptions run over a WebSocket at /graphql (graphql-transport-ws or \
             graphql-ws); GET and POST run queries",
        );
    }
    // Recorded to keep the answer, and for a GET to learn how long HTTP caches may keep it.
    let deps = (key.is_some() || get).then(|| cache.record());
    if let (true, Some(d)) = (get, &deps) {
        d.for_http_caches();
    }
    let resp = match request.parsed_query() {
        // The document does not parse: answered here, without parsing it again.
        Err(e) => {
            let mut resp = async_graphql::Response::from_errors(vec![e]);
            codes::parse_failed(&mut resp.errors, &request.query);
            resp
        }
        Ok(_) => {
            let query = request.query.clone();
            let request = match &deps {
                Some(d) => request.data(d.clone()),
                None => request,
            };
            let mut resp = state.schema.execute(request).await;
            codes::answered(&mut resp.errors, &query, &state.limits);
            resp
        }
    };
    // A response without data whose errors carry no path never reached execution.
    let not_executed = !resp.errors.is_empty()
        && resp.data == async_graphql::Value::Null
        && resp.errors.iter().all(|e| e.path.is_empty());
    let status = if answer == Answer::GraphqlResponseJson && not_executed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if not_executed {
        // Per the spec, a request error has no `data` entry at all.
        json!({ "errors": resp.errors }).to_string()
    } else {
        serde_json::to_string(&resp).unwrap_or_else(|_| {
            request_error_body(
                "the answer could not be encoded",
                code::INTERNAL_SERVER_ERROR,
            )
        })
    };
    let body = Bytes::from(body);
    let control = cache_control(&resp, deps.as_ref());
    if let (Some(key), Some(deps)) = (key, &deps) {
        // A server error (the database is down…) is never kept: the next request tries again.
        let server_error = resp.errors.iter().any(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code"))
                == Some(&async_graphql::Value::from(code::INTERNAL_SERVER_ERROR))
        });
        if !server_error {
            let control = control.clone();
            cache.put(
                key,
                status,
                answer.content_type(),
                body.clone(),
                control,
                deps,
            );
        }
    }
    respond(
        status,
        answer.content_type(),
        body,
        position,
        false,
        get.then_some(&control),
    )
}

/// What HTTP caches (a CDN, a browser) are told about a GET answer, which no change-feed event
/// reaches: an answer with errors is not kept (`no-store`); one whose every part is settled
/// (candles of hours the sync never rewrites, see `api::candle_args`) for a day; anything else
/// for a few seconds.
fn cache_control(resp: &async_graphql::Response, deps: Option<&Deps>) -> HeaderValue {
    if !resp.errors.is_empty() {
        return HeaderValue::from_static("no-store");
    }
    let max_age = deps
        .and_then(|d| d.snapshot().http_max_age)
        .unwrap_or(LIVE_MAX_AGE);
    HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-store"))
}

/// An answer with the cache's headers: `x-cache` says whether it was kept, `x-feed-position`
/// the change-feed position it is the answer as of (every committed write up to it is in it).
/// With `cache_control` (a GET answer), it also says how HTTP caches may keep it, and that the
/// same URL answers differently by `Accept` (the media type) and `Accept-Encoding`.
fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    position: i64,
    hit: bool,
    cache_control: Option<&HeaderValue>,
) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        "x-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    headers.insert("x-feed-position", HeaderValue::from(position));
    if let Some(control) = cache_control {
        headers.insert(header::CACHE_CONTROL, control.clone());
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        );
    }
    resp
}

/// `/graphql` with a method other than GET, POST or OPTIONS (CORS preflight).
pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    let answer = negotiate(&headers).unwrap_or(Answer::Json);
    not_allowed(
        answer,
        "/graphql answers GET (queries) and POST: use one of them",
    )
}

/// 405 with a GraphQL error saying what to use, and the methods that work.
fn not_allowed(answer: Answer, message: &str) -> Response {
    let mut resp = request_error(answer, StatusCode::METHOD_NOT_ALLOWED, message);
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    resp
}

/// Whether a GET request comes from a browser that wants a page rather than JSON.
pub fn wants_html(headers: &HeaderMap, raw: &Option<String>) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html") && raw.as_deref().is_none_or(|q| !q.contains("query="))
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions, GraphiQL for a browser, else a
/// GraphQL query.
pub async fn get_or_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Ok(ws) = upgrade {
        return super::ws::upgrade(state, ws, &headers);
    }
    if wants_html(&headers, &raw) {
        return super::graphiql::page().await.into_response();
    }
    get(state, &headers, raw).await
}
