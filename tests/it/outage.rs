//! Failing fast and clearly: a database that goes away (made unreachable by a proxy the test
//! controls, never by stopping the shared server), a request past its time limit, a body
//! declared too large, and clients too slow to send their headers or body. Every bound asserted
//! here is far from the one the failure used to take (30 s, or for ever).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{behind_proxy, error_codes, TestApp, TestDb};

fn settings_with(http: tokenmirror::http::HttpOptions) -> tokenmirror::app::ServerSettings {
    tokenmirror::app::ServerSettings {
        http,
        ..Default::default()
    }
}

/// GET /readyz with a Kubernetes probe's default 1 s timeout: the status, or a failure when
/// the server did not answer within it.
async fn probe(app: &TestApp) -> StatusCode {
    app.client
        .get(app.url("/readyz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("/readyz answers within 1 s")
        .status()
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// While PostgreSQL is unreachable, /readyz says 503 within 1 s and every request that needs
/// the database gets the documented GraphQL error at once (not after REQUEST_TIMEOUT); when
/// it is back, both recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_fast_and_clearly() {
    let http = tokenmirror::http::HttpOptions {
        request_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let (app, proxy) = behind_proxy(settings_with(http)).await;
    assert_eq!(probe(&app).await, StatusCode::OK);

    proxy.cut();
    // The health checks notice within about a second (on their own connection).
    let mut down = false;
    for _ in 0..50 {
        if metrics(&app).await.contains("tokenmirror_database_up 0") {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down, "the health checks see the database down");
    // /readyz never makes a probe wait.
    assert_eq!(probe(&app).await, StatusCode::SERVICE_UNAVAILABLE);

    for query in ["{ tokens { address } }", "{ syncStatus { network } }"] {
        let started = Instant::now();
        let answer = app.gql(query, json!({})).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "{query}: answered after {took:?}"
        );
        assert_eq!(
            error_codes(&answer),
            vec!["INTERNAL_SERVER_ERROR"],
            "{answer}"
        );
        let msg = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("internal server error (request id "),
            "{msg}"
        );
    }
    // What needs no database still answers.
    let answer = app.gql("{ __typename }", json!({})).await;
    assert_eq!(answer["data"]["__typename"], "Query", "{answer}");
    proxy.restore();
    let mut status = probe(&app).await;
    // (Until the health checks see it back, /readyz stays 503.)
    for _ in 0..40 {
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = probe(&app).await;
    }
    assert_eq!(status, StatusCode::OK);
    let answer = app.gql("{ tokens { address } }", json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
}

/// A request already waiting on the database when it goes away (here it hangs: nothing is
/// answered, nothing is closed) ends as soon as the health checks notice — the documented
/// error, not a wait until REQUEST_TIMEOUT (60 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_ends_when_the_database_is_found_down() {
    let http = tokenmirror::http::HttpOptions {
        request_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let (app, proxy) = behind_proxy(settings_with(http)).await;
    let answer = app.gql("{ tokens { address } }", json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");

    proxy.stall();
    let started = Instant::now();
    let r = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ tokens { address } }"}))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("answered before the client's 20 s timeout");
    let took = started.elapsed();
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_codes(&body), vec!["INTERNAL_SERVER_ERROR"], "{body}");
    // The checks call a silent database down after PROBE_TIMEOUT (1 s), every PROBE_EVERY
    // (0.5 s): the answer comes then (about 1.5 s), not when the pool gives up waiting for its
    // connection's ping (ACQUIRE_TIMEOUT, 5 s) nor at the 60 s REQUEST_TIMEOUT.
    let bound = tokenmirror::db::ACQUIRE_TIMEOUT - Duration::from_millis(1500);
    assert!(took < bound, "answered after {took:?}");
    assert!(
        metrics(&app).await.contains("tokenmirror_database_up 0"),
        "the health checks saw the database down"
    );
}

/// A request that outlives REQUEST_TIMEOUT (here: the database hangs, before its health checks
/// can notice) gets 503 with a GraphQL error body naming the request id, never an empty body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_gets_a_graphql_error_body() {
    let http = tokenmirror::http::HttpOptions {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (app, proxy) = behind_proxy(settings_with(http)).await;
    let answer = app.gql("{ tokens { address } }", json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");

    // Nothing is forwarded any more, and nothing is closed: queries hang. The health checks
    // need a whole second of silence to call the database down, the request only 0.3 s.
    proxy.stall();
    let r = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ tokens { address } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_codes(&body), vec!["INTERNAL_SERVER_ERROR"], "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("REQUEST_TIMEOUT"), "{msg}");
    assert!(msg.contains("request id "), "{msg}");
}

/// Sends `head` (and nothing more) on a raw connection and returns what the server sends back
/// within 5 s, and whether it then closed the connection.
async fn raw_exchange(app: &TestApp, head: &str) -> (String, bool) {
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// A body declared larger than MAX_BODY_BYTES is refused at once with the JSON error a real
/// oversized body gets; the server does not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversized_body_is_refused_at_once() {
    let http = tokenmirror::http::HttpOptions {
        request_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let app = TestApp::start_as(TestDb::sqlite().await, &["sim"], settings_with(http), false).await;
    let started = Instant::now();
    let (answer, _) = raw_exchange(
        &app,
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 999999999\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "after {:?}: {answer}",
        started.elapsed()
    );
    assert!(answer.contains("MAX_BODY_BYTES"), "{answer}");
    assert!(answer.contains("\"code\":\"BAD_REQUEST\""), "{answer}");

    // The same words as for a body that really is too large.
    let big = "x".repeat(2 << 20);
    let r = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(format!("{{\"query\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    let declared_body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let declared: Value = serde_json::from_str(declared_body.trim()).unwrap_or(Value::Null);
    assert_eq!(declared, body, "{declared_body}");
}

/// Clients too slow to send their headers, or whose body stops arriving, lose their
/// connection after the configured time instead of holding it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let http = tokenmirror::http::HttpOptions {
        request_timeout: Duration::from_secs(60),
        client: tokenmirror::http::ClientLimits {
            header_read_timeout: Duration::from_secs(1),
            body_idle_timeout: Duration::from_secs(1),
        },
        ..Default::default()
    };
    let app = TestApp::start_as(TestDb::sqlite().await, &["sim"], settings_with(http), false).await;

    // Half a request line, then silence.
    let (_, closed) = raw_exchange(&app, "POST /graphql HTTP/1.1\r\nHost: x\r\n").await;
    assert!(
        closed,
        "the connection of a client stuck in its headers is closed"
    );

    // Whole headers, a tenth of the body, then silence.
    let (answer, _) = raw_exchange(
        &app,
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{\"query\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");
}
