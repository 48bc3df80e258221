//! Faults on demand (`--fail-rate`): the ways The Graph's gateway and its indexers fail, picked
//! per request from a hash of the seed and the request's number, so a run is reproducible. A
//! fault never changes the data: a request either fails or gets the same answer a clean
//! simulator gives.

use super::noise::{hash, unit};

/// One way a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 502 from a proxy in front of the indexers.
    BadGateway,
    /// HTTP 503.
    Unavailable,
    /// HTTP 429 with `Retry-After: 1`.
    TooManyRequests,
    /// HTTP 200 with the gateway's `auth error: rate limit exceeded`.
    RateLimited,
    /// HTTP 200 with the gateway's `bad indexers: {…}`.
    BadIndexers,
    /// The connection is closed without an answer.
    Dropped,
    /// HTTP 200 with a JSON body cut in the middle.
    Malformed,
}

impl Fault {
    /// Every kind, in the order [`decide`] indexes them.
    pub const ALL: [Fault; 7] = [
        Fault::BadGateway,
        Fault::Unavailable,
        Fault::TooManyRequests,
        Fault::RateLimited,
        Fault::BadIndexers,
        Fault::Dropped,
        Fault::Malformed,
    ];
}

/// Whether request number `request` fails at `rate`, and how.
pub fn decide(seed: u64, request: u64, rate: f64) -> Option<Fault> {
    if rate.is_nan() || rate <= 0.0 || unit(hash(&[seed, request, 0xFA17])) >= rate {
        return None;
    }
    let kind = hash(&[seed, request, 0xFA18]) % Fault::ALL.len() as u64;
    Fault::ALL.get(kind as usize).copied()
}

/// A fault answered at the HTTP level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    pub status: u16,
    /// The `Retry-After` header, for 429.
    pub retry_after: Option<&'static str>,
    pub content_type: &'static str,
    pub body: String,
}

/// The answer of `fault`, or `None` for [`Fault::Dropped`] and [`Fault::Malformed`], which need
/// the connection or the real answer.
pub fn canned(fault: Fault, seed: u64, request: u64) -> Option<Canned> {
    let answer = |status, content_type, body: &str| Canned {
        status,
        retry_after: None,
        content_type,
        body: body.to_owned(),
    };
    Some(match fault {
        Fault::BadGateway => answer(
            502,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n",
        ),
        Fault::Unavailable => answer(503, "text/plain", "Service Unavailable\n"),
        Fault::TooManyRequests => Canned {
            retry_after: Some("1"),
            ..answer(429, "text/plain", "Too Many Requests\n")
        },
        Fault::RateLimited => answer(
            200,
            "application/json",
            r#"{"errors":[{"message":"auth error: rate limit exceeded"}]}"#,
        ),
        Fault::BadIndexers => {
            let indexer: String = (1..=3)
                .map(|k| format!("{:016x}", hash(&[seed, request, k])))
                .collect();
            answer(
                200,
                "application/json",
                &format!(
                    r#"{{"errors":[{{"message":"bad indexers: {{0x{}: Unavailable(too far behind)}}"}}]}}"#,
                    &indexer[..40]
                ),
            )
        }
        Fault::Dropped | Fault::Malformed => return None,
    })
}

/// The first half of `body`: JSON that ends in the middle of a value.
pub fn truncate(body: &str) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body[..cut].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_at_the_rate() {
        let a: Vec<_> = (0..1000).map(|i| decide(5, i, 0.3)).collect();
        let b: Vec<_> = (0..1000).map(|i| decide(5, i, 0.3)).collect();
        assert_eq!(a, b);
        let failed = a.iter().filter(|f| f.is_some()).count();
        assert!((250..350).contains(&failed), "{failed}");
        for kind in Fault::ALL {
            assert!(a.contains(&Some(kind)), "{kind:?}");
        }
        assert!((0..1000).all(|i| decide(5, i, 0.0).is_none()));
        assert!((0..1000).all(|i| decide(5, i, 1.0).is_some()));
    }

    #[test]
    fn bodies_look_like_the_gateway() {
        let c = canned(Fault::BadIndexers, 1, 2).unwrap();
        assert_eq!(c.status, 200);
        let v: serde_json::Value = serde_json::from_str(&c.body).unwrap();
        let msg = v["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("bad indexers: {0x") && msg.ends_with(": Unavailable(too far behind)}"),
            "{msg}"
        );
        assert!(
            serde_json::from_str::<serde_json::Value>(&truncate(r#"{"data":{"a":[1,2,3]}}"#))
                .is_err()
        );
        assert_eq!(
            canned(Fault::TooManyRequests, 1, 2).unwrap().retry_after,
            Some("1")
        );
        assert!(canned(Fault::Dropped, 1, 2).is_none());
    }
}
