//! Rate limiting per client (`RATE_LIMIT`, `RATE_BURST`; off by default), with governor's GCRA
//! limiter keyed by the client's IP address.
//!
//! The client is the peer address, or — only when the peer is one of `TRUSTED_PROXIES` — the
//! rightmost address of `X-Forwarded-For` that is not a trusted proxy: each proxy appends the
//! address it saw, so entries right of the first untrusted one were written by our proxies and
//! everything left of it by whoever sent the request (the leftmost is whatever the client
//! wrote, which is why tower_governor's `SmartIpKeyExtractor`, which takes it from any peer,
//! is not used). A refused request gets HTTP 429, `Retry-After` and a GraphQL error with
//! `extensions.code: "RATE_LIMITED"`. A WebSocket connection counts once, when it connects.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

use crate::error::request_error_body;
use crate::metrics::Metrics;

/// `extensions.code` of a refused request.
pub const RATE_LIMITED: &str = "RATE_LIMITED";

/// A rate as written in `RATE_LIMIT`: `50/s`, `600/m`, `10000/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad =
            || format!("{s:?} is not a rate: write requests per unit, e.g. 50/s, 600/m or 10000/h");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count = n
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(bad)?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Rate { count, per })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The configured limit.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub rate: Rate,
    /// Requests a client may send at once after being idle (default: the rate's count).
    pub burst: Option<NonZeroU32>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// The limiter shared by every request; cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    config: Arc<RateLimitConfig>,
    metrics: Arc<Metrics>,
}

impl Limiter {
    pub fn new(config: RateLimitConfig, metrics: Arc<Metrics>) -> Limiter {
        let burst = config.burst.unwrap_or(config.rate.count);
        // One request every per/count, up to `burst` at once.
        let period = config.rate.per / config.rate.count.get();
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(config.rate.count))
            .allow_burst(burst);
        Limiter {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            config: Arc::new(config),
            metrics,
        }
    }

    /// Forgets, every minute while the limiter is in use, the clients whose allowance is full
    /// again (governor's per-key state grows with every client until then).
    pub fn forget_idle_clients(&self) {
        let weak = Arc::downgrade(&self.limiter);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let Some(limiter) = weak.upgrade() else {
                    break;
                };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
    }

    /// The client a request counts against.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.config.trusted_proxies)
    }

    /// `Ok` when `client` may go on, else how long until it may.
    fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// An `X-Forwarded-For` entry: an address, maybe with a port (`1.2.3.4:5`, `[::1]:5`).
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            e.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

/// The client behind `peer` (see the module's documentation).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        match forwarded_ip(entry) {
            // A proxy of ours: the address it saw is one further left.
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return ip,
            // Garbage written by a trusted proxy: do not look further left than it.
            None => return client,
        }
    }
    client
}

/// The middleware.
pub async fn limit(
    State(limiter): State<Limiter>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let client = limiter.client(peer.ip(), req.headers());
    match limiter.check(client) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            limiter.metrics.add_rate_limited();
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let config = &limiter.config;
            let burst = config.burst.unwrap_or(config.rate.count);
            let message = format!(
                "too many requests from {client}: this server allows {} (bursts of {burst}); \
                 retry after {seconds} s",
                config.rate
            );
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                request_error_body(&message, RATE_LIMITED),
            )
                .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rates_parse() {
        assert_eq!(
            "50/s".parse::<Rate>().unwrap(),
            Rate {
                count: NonZeroU32::new(50).unwrap(),
                per: Duration::from_secs(1)
            }
        );
        assert_eq!(
            "600/m".parse::<Rate>().unwrap().per,
            Duration::from_secs(60)
        );
        for bad in ["50", "0/s", "x/s", "5/d", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // An untrusted peer: its header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers(&["1.1.1.1"]), &proxies),
            ip("203.0.113.9")
        );
        // Through our proxy: the address it saw.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["198.51.100.7"]), &proxies),
            ip("198.51.100.7")
        );
        // The client wrote a fake leftmost entry; the proxy appended the real one.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.7"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        // Two proxies of ours in a row, entries split over two header lines, with ports.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.7:4321", "10.1.1.1"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&[]), &proxies),
            ip("10.0.0.2")
        );
        // Garbage from the proxy: no further left than the proxy.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers(&["1.1.1.1, unknown"]), &proxies),
            ip("10.0.0.2")
        );
    }
}
