//! Talking to one upstream subgraph: send a cynic operation, decode the answer, and decide —
//! here, in one place — whether a failure is worth retrying.
//!
//! The error policy (README, "How the sync works"):
//! - **Transient**, retried with capped exponential backoff and jitter (at most 5 tries per
//!   request, waits capped at 30 s): a connection error or timeout, HTTP 5xx, HTTP 429 (waiting
//!   at least its `Retry-After`), a body that is not JSON, and gateway or indexer messages that
//!   say "try later" ("rate limit exceeded", "bad indexers", "no indexers found", an indexer
//!   that has not reached the pass's block yet).
//! - **Permanent**, not retried within the pass: any other GraphQL error (the upstream rejects
//!   the query as invalid), another HTTP 4xx (e.g. a bad API key), JSON of the wrong shape.
//!   The caller records it and tries again on the next pass.
//!
//! The request is sent with reqwest directly (not cynic's `http-reqwest` helper) so that
//! response headers such as `Retry-After` stay visible. Errors never carry the request URL:
//! with The Graph's gateway it contains the API key.

use std::time::Duration;

use cynic::{GraphQlResponse, Operation};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Upstream;

/// Why a request to the upstream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Worth another try (already retried up to the policy's limit when returned).
    #[error("transient upstream error: {0}")]
    Transient(String),
    /// Will fail again until something changes: recorded, retried on the next pass.
    #[error("upstream error: {0}")]
    Permanent(String),
    /// The shutdown signal arrived while waiting.
    #[error("stopped by the shutdown signal")]
    Cancelled,
}

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub max_tries: u32,
    /// Wait before the second try; doubled for each further one.
    pub base_delay: Duration,
    /// No wait is longer than this (a longer `Retry-After` is cut to it).
    pub max_delay: Duration,
    /// Time allowed for one request and its answer.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try number `attempt` (1-based): exponential, capped, with jitter
    /// (between half and all of the step) so that many clients do not retry in lockstep; never
    /// less than the server's `Retry-After`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        let jittered = step.mul_f64(0.5 + rand::random::<f64>() * 0.5);
        retry_after
            .map_or(jittered, |ra| ra.max(jittered))
            .min(self.max_delay)
    }
}

/// A client for one network's upstream.
#[derive(Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    upstream: Upstream,
    /// Sent to; contains the API key for The Graph's gateway, so never logged.
    url: String,
    policy: RetryPolicy,
}

/// One failed try, before the retry decision.
struct Failure {
    error: FetchError,
    retry_after: Option<Duration>,
}

/// Whether `url` points at this machine's loopback interface.
fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The HTTP client could not be built (a TLS backend that fails to start, an invalid setting):
/// the sync cannot run at all, so the process refuses to start rather than run without it.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for upstream {network:?}")]
pub struct ClientBuildError {
    network: String,
    #[source]
    source: reqwest::Error,
}

impl UpstreamClient {
    pub fn new(
        upstream: Upstream,
        policy: RetryPolicy,
    ) -> Result<UpstreamClient, ClientBuildError> {
        let url = upstream.endpoint.request_url();
        let builder = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("tokenmirror/", env!("CARGO_PKG_VERSION")));
        UpstreamClient::with_builder(upstream, url, policy, builder)
    }

    /// Builds the client from `builder` (after the settings every upstream needs).
    fn with_builder(
        upstream: Upstream,
        url: String,
        policy: RetryPolicy,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<UpstreamClient, ClientBuildError> {
        if is_loopback(&url) {
            // A proxy from the environment (http_proxy…) cannot stand in for this machine's
            // own loopback, where the demo's and the tests' simulators listen.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|source| ClientBuildError {
            network: upstream.network.clone(),
            source,
        })?;
        Ok(UpstreamClient {
            http,
            upstream,
            url,
            policy,
        })
    }

    /// The network this client serves.
    pub fn network(&self) -> &str {
        &self.upstream.network
    }

    /// Runs `op`, retrying transient failures per the policy; stops early on `shutdown`.
    pub async fn run<Q, V>(
        &self,
        op: &Operation<Q, V>,
        shutdown: &CancellationToken,
    ) -> Result<Q, FetchError>
    where
        Q: DeserializeOwned,
        V: Serialize,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = tokio::select! {
                result = self.try_once(op) => match result {
                    Ok(data) => return Ok(data),
                    Err(f) => f,
                },
                _ = shutdown.cancelled() => return Err(FetchError::Cancelled),
            };
            if !matches!(failure.error, FetchError::Transient(_))
                || attempt >= self.policy.max_tries
            {
                return Err(failure.error);
            }
            let wait = self.policy.delay(attempt, failure.retry_after);
            tracing::warn!(
                network = %self.upstream.network,
                endpoint = %self.upstream.endpoint,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %failure.error,
                "upstream request failed; retrying"
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return Err(FetchError::Cancelled),
            }
        }
    }

    async fn try_once<Q, V>(&self, op: &Operation<Q, V>) -> Result<Q, Failure>
    where
        Q: DeserializeOwned,
        V: Serialize,
    {
        let transient = |msg: String| Failure {
            error: FetchError::Transient(format!("{} {msg}", self.upstream.endpoint)),
            retry_after: None,
        };
        let response = self
            .http
            .post(&self.url)
            .json(op)
            .send()
            .await
            .map_err(|e| transient(describe(e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| transient(describe(e)))?;
        classify::<Q>(status, &body).map_err(|error| Failure { error, retry_after })
    }
}

/// A reqwest error without its URL (which may hold the API key).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Gateway and indexer messages that mean "not now" rather than "never".
const TRANSIENT_MESSAGES: [&str; 7] = [
    "rate limit exceeded",
    "bad indexers",
    "no indexers found",
    "is therefore not yet available",
    "timeout",
    "unavailable",
    "too many requests",
];

/// Decides what an HTTP answer means: the data, or a transient or permanent error.
fn classify<Q: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<Q, FetchError> {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(FetchError::Transient(format!(
            "HTTP {status}: {}",
            snippet(body)
        )));
    }
    if !status.is_success() {
        return Err(FetchError::Permanent(format!(
            "HTTP {status}: {}",
            snippet(body)
        )));
    }
    match serde_json::from_slice::<GraphQlResponse<Q>>(body) {
        Ok(resp) => match (resp.data, resp.errors) {
            (_, Some(errors)) if !errors.is_empty() => {
                let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                let joined = messages.join("; ");
                let lower = joined.to_ascii_lowercase();
                if TRANSIENT_MESSAGES.iter().any(|m| lower.contains(m)) {
                    Err(FetchError::Transient(joined))
                } else {
                    Err(FetchError::Permanent(format!(
                        "the upstream rejected the query: {joined}"
                    )))
                }
            }
            (Some(data), _) => Ok(data),
            (None, _) => Err(FetchError::Permanent(
                "the answer has neither data nor errors".to_owned(),
            )),
        },
        Err(e) => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
                Err(FetchError::Transient(format!(
                    "the answer is not JSON ({e}): {}",
                    snippet(body)
                )))
            } else {
                Err(FetchError::Permanent(format!(
                    "the answer does not have the expected shape (schema drift?): {e}"
                )))
            }
        }
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Data {
        x: i32,
    }

    /// A client that cannot be built is an error the caller sees (and `serve` refuses to
    /// start), never a silently different client.
    #[test]
    fn a_bad_client_configuration_is_an_error() {
        let upstream = Upstream {
            network: "sim".into(),
            endpoint: crate::config::Endpoint::Url("http://127.0.0.1:9/".into()),
        };
        let bad = reqwest::Client::builder().user_agent("line\nbreak");
        let err = UpstreamClient::with_builder(
            upstream.clone(),
            "http://127.0.0.1:9/".into(),
            RetryPolicy::default(),
            bad,
        )
        .err()
        .expect("an invalid header value fails the build");
        assert!(err.to_string().contains("\"sim\""), "{err}");
        assert!(UpstreamClient::new(upstream, RetryPolicy::default()).is_ok());
    }

    #[test]
    fn loopback_upstreams_bypass_proxies() {
        for yes in [
            "http://127.0.0.1:8001/",
            "http://127.9.0.1/",
            "http://[::1]:80/graphql",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://gateway.thegraph.com/api/k/x",
            "http://10.0.0.1/",
            "nonsense",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    fn run(status: u16, body: &str) -> Result<Data, FetchError> {
        classify::<Data>(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    fn is_transient(r: Result<Data, FetchError>) -> bool {
        matches!(r, Err(FetchError::Transient(_)))
    }

    fn is_permanent(r: Result<Data, FetchError>) -> bool {
        matches!(r, Err(FetchError::Permanent(_)))
    }

    #[test]
    fn the_error_policy() {
        assert_eq!(run(200, r#"{"data":{"x":1}}"#), Ok(Data { x: 1 }));
        assert!(is_transient(run(502, "bad gateway")));
        assert!(is_transient(run(503, "")));
        assert!(is_transient(run(429, "slow down")));
        assert!(is_transient(run(200, "{\"data\": {\"x\"")));
        assert!(is_transient(run(200, "<html>oops</html>")));
        assert!(is_transient(run(
            200,
            r#"{"errors":[{"message":"auth error: rate limit exceeded"}]}"#
        )));
        assert!(is_transient(run(
            200,
            r#"{"errors":[{"message":"bad indexers: {0xabc: Unavailable(too far behind)}"}]}"#
        )));
        assert!(is_transient(run(
            200,
            r#"{"errors":[{"message":"Failed to decode `block.number_gte` value: `subgraph Qm has only indexed up to block number 5 and data for block number 9 is therefore not yet available`"}]}"#
        )));
        assert!(is_permanent(run(
            200,
            r#"{"errors":[{"message":"Type `Query` has no field `foo`"}]}"#
        )));
        assert!(is_permanent(run(200, r#"{"data":{"y":1}}"#)));
        assert!(is_permanent(run(200, r#"{"data":null}"#)));
        assert!(is_permanent(run(401, "invalid api key")));
    }

    #[test]
    fn backoff_is_capped_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 1..10 {
            let d = p.delay(attempt, None);
            assert!(d <= p.max_delay);
            let step = p.base_delay * 2u32.pow(attempt - 1);
            assert!(d >= step.min(p.max_delay) / 2, "{attempt}: {d:?}");
        }
        assert!(p.delay(1, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        assert_eq!(p.delay(1, Some(Duration::from_secs(600))), p.max_delay);
    }
}
