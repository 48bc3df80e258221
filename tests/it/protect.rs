//! What protects the API in production: the per-client rate limit, persisted queries (Apollo's
//! automatic ones, and an allow-list), and what GET answers tell HTTP caches.

use reqwest::header::{HeaderMap, CACHE_CONTROL, RETRY_AFTER, VARY};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokenmirror::http::persisted::{sha256_hex, Persisted};
use tokenmirror::http::ratelimit::{Rate, RateLimitConfig};
use tokenmirror::http::HttpOptions;

use crate::dataset::{iso, seeded, T0, TOKEN};
use crate::support::{error_codes, TestApp, TestDb};

fn settings(http: HttpOptions) -> tokenmirror::app::ServerSettings {
    tokenmirror::app::ServerSettings {
        http,
        ..Default::default()
    }
}

async fn app_with(http: HttpOptions) -> TestApp {
    TestApp::start_as(TestDb::sqlite().await, &["sim"], settings(http), false).await
}

/// POSTs `body` from "client" `xff` (an X-Forwarded-For value, if any).
async fn post(app: &TestApp, body: Value, xff: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let mut req = app.client.post(app.url("/graphql")).json(&body);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, params: &[(&str, String)]) -> (StatusCode, HeaderMap, Value) {
    let url = url::Url::parse_with_params(&app.url("/graphql"), params).unwrap();
    let r = app
        .client
        .get(url.as_str())
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

fn limited(rate: &str, burst: u32, trusted: &[&str]) -> HttpOptions {
    HttpOptions {
        rate_limit: Some(RateLimitConfig {
            rate: rate.parse::<Rate>().unwrap(),
            burst: std::num::NonZeroU32::new(burst),
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        }),
        ..Default::default()
    }
}

const TYPENAME: &str = "{ __typename }";

/// A client past its allowance gets 429 with Retry-After and RATE_LIMITED; another client is
/// not affected; health checks never count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_rate_gets_429() {
    // 2 at once, then one a minute: the test never waits for a refill.
    let app = app_with(limited("1/m", 2, &[])).await;
    for _ in 0..2 {
        let (status, _, body) = post(&app, json!({"query": TYPENAME}), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = post(&app, json!({"query": TYPENAME}), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(error_codes(&body), vec!["RATE_LIMITED"], "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("1/m") && msg.contains("retry after"), "{msg}");
    // Not trusted as a proxy: the header does not make it another client.
    let (status, _, _) = post(&app, json!({"query": TYPENAME}), Some("198.51.100.1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // A WebSocket connection counts when it connects.
    let ws = app
        .client
        .get(app.url("/graphql"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "graphql-transport-ws")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), StatusCode::TOO_MANY_REQUESTS);
    // Health checks and metrics are never limited.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tokenmirror_rate_limited_total 3"),
        "{metrics}"
    );
}

/// Behind a trusted proxy, clients are told apart by X-Forwarded-For — its rightmost address
/// that is not a trusted proxy, whatever the client wrote further left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_clients_are_told_apart() {
    let app = app_with(limited("1/m", 1, &["127.0.0.1/32"])).await;
    let q = json!({"query": TYPENAME});
    assert_eq!(
        post(&app, q.clone(), Some("198.51.100.1")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        post(&app, q.clone(), Some("198.51.100.1")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client through the same proxy.
    assert_eq!(
        post(&app, q.clone(), Some("198.51.100.2")).await.0,
        StatusCode::OK
    );
    // The first client pretending to be someone else on the left: still the first.
    assert_eq!(
        post(&app, q.clone(), Some("203.0.113.77, 198.51.100.1"))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Apollo's automatic persisted queries over POST and GET: an unknown hash asks for the
/// document, the document registers it, then the hash alone runs it; a wrong hash is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_persisted_queries() {
    let app = app_with(HttpOptions::default()).await;
    let hash = sha256_hex(TYPENAME);
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});

    let (status, headers, body) = post(&app, json!({"extensions": ext}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{body}"
    );
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(headers[CACHE_CONTROL], "no-store");

    let (status, _, body) = post(&app, json!({"query": TYPENAME, "extensions": ext}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    let (_, _, body) = post(&app, json!({"extensions": ext}), None).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    let (status, headers, body) = get(&app, &[("extensions", ext.to_string())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    assert!(headers.contains_key(CACHE_CONTROL));

    // A hash that is not the document's.
    let wrong = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex("{ x }")}});
    let (status, _, body) = post(&app, json!({"query": TYPENAME, "extensions": wrong}), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&body), vec!["BAD_REQUEST"], "{body}");
}

/// PERSISTED_QUERIES=off: a hash is answered "not supported" (clients then send documents).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_queries_can_be_turned_off() {
    let app = app_with(HttpOptions {
        persisted: Persisted::off(),
        ..Default::default()
    })
    .await;
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(TYPENAME)}});
    let (status, _, body) = post(&app, json!({"query": TYPENAME, "extensions": ext}), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotSupported");
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_NOT_SUPPORTED"]);
    let (_, _, body) = post(&app, json!({"query": TYPENAME}), None).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

/// PERSISTED_ONLY: the manifest's operations run, by id (over GET too) or by their text;
/// anything else — another text, an unknown id, an attempt to register — is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_runs_only_its_operations() {
    let allowed = "query Name { __typename }";
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": sha256_hex(allowed), "name": "Name", "type": "query", "body": allowed}]
    });
    let app = app_with(HttpOptions {
        persisted: Persisted::only_from_manifest(&manifest.to_string()).unwrap(),
        ..Default::default()
    })
    .await;
    let by_id = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(allowed)}});
    let (_, _, body) = post(&app, json!({"extensions": by_id}), None).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    let (_, _, body) = get(&app, &[("extensions", by_id.to_string())]).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    let (_, _, body) = post(&app, json!({"query": allowed}), None).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    let other = "{ __typename }";
    let other_ext = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(other)}});
    for refused in [
        json!({"query": other}),
        json!({"extensions": other_ext}),
        json!({"query": other, "extensions": other_ext}),
    ] {
        let (status, _, body) = post(&app, refused.clone(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(
            error_codes(&body),
            vec!["PERSISTED_QUERY_NOT_IN_LIST"],
            "{body}"
        );
    }
    // Nothing was registered by the attempt.
    let (_, _, body) = post(&app, json!({"extensions": other_ext}), None).await;
    assert_eq!(
        error_codes(&body),
        vec!["PERSISTED_QUERY_NOT_IN_LIST"],
        "{body}"
    );
}

/// GET answers say how long HTTP caches may keep them: a day for candles of settled hours only,
/// seconds for anything live, nothing for errors; and that they vary by Accept and encoding.
async fn get_answers_tell_http_caches_how_long(t: TestDb) {
    let (app, _) = seeded(t).await;
    let candles = |from: i64, to: Option<i64>| {
        let to = to
            .map(|t| format!(", to: \"{}\"", iso(t)))
            .unwrap_or_default();
        format!(
            "{{ tokenHourData(address: \"{TOKEN}\", from: \"{}\"{to}, interval: \"1h\") {{ close }} }}",
            iso(from)
        )
    };
    let control = |h: &HeaderMap| h[CACHE_CONTROL].to_str().unwrap().to_owned();

    // Inside the covered hours, long ago: settled.
    let settled = candles(T0 + 86_400, Some(T0 + 2 * 86_400));
    let (status, headers, body) = get(&app, &[("query", settled.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(control(&headers), "public, max-age=86400");
    let vary = headers[VARY].to_str().unwrap();
    assert!(
        vary.contains("Accept") && vary.contains("Accept-Encoding"),
        "{vary}"
    );
    // A cache hit says the same.
    let (_, headers, _) = get(&app, &[("query", settled)]).await;
    assert_eq!(headers["x-cache"], "hit");
    assert_eq!(control(&headers), "public, max-age=86400");

    // Reaching before the covered hours (a backfill may add them), up to now (the sync may
    // rewrite the last hours), metadata: seconds.
    for live in [
        candles(T0 - 86_400, Some(T0 + 86_400)),
        candles(T0 + 86_400, None),
        format!("{{ tokenMetadata(address: \"{TOKEN}\") {{ symbol }} }}"),
        format!(
            "{{ a: tokenHourData(address: \"{TOKEN}\", from: \"{}\", to: \"{}\", interval: \"1h\") {{ close }} \
             b: tokenMetadata(address: \"{TOKEN}\") {{ symbol }} }}",
            iso(T0 + 86_400),
            iso(T0 + 2 * 86_400)
        ),
    ] {
        let (status, headers, body) = get(&app, &[("query", live.clone())]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(control(&headers), "public, max-age=5", "{live}");
    }
    // An error is not kept.
    let bad = format!(
        "{{ tokenHourData(address: \"{TOKEN}\", from: \"{}\", interval: \"7m\") {{ close }} }}",
        iso(T0)
    );
    let (_, headers, _) = get(&app, &[("query", bad)]).await;
    assert_eq!(control(&headers), "no-store");
    // POST answers are not for HTTP caches.
    let (_, headers, _) = post(&app, json!({"query": candles(T0, Some(T0 + 3600))}), None).await;
    assert!(!headers.contains_key(CACHE_CONTROL));
}

crate::support::on_both_backends! {
    cache_control => get_answers_tell_http_caches_how_long;
}
