//! What to mirror from where: `UPSTREAMS` entries, `TOKENS` entries, and their resolution into
//! [`Sources`] — bare network names become The Graph's gateway (with the API key, a secret),
//! bare token addresses go to the default network, and a token on an unknown network is
//! refused at start.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

use super::values::{origin_only, List};
use crate::domain::{parse_address, TokenKey};

/// Networks with a known Uniswap v3 subgraph on The Graph's decentralized network.
pub const KNOWN_SUBGRAPHS: [(&str, &str); 9] = [
    ("ethereum", "5zvR82QoaXYFyDEKLZ9t6v9adgnptxYpKpSbxtgVENFV"),
    ("arbitrum", "FbCGRftH4a3yZugY7TnbYgPJVEv2LvMT6oF1fxPe9aJM"),
    ("base", "43Hwfi3dJSoGpyas9VwNoDAv55yjgGrPpNSmbQZArzMG"),
    ("optimism", "Cghf4LfVqPiFw6fp6Y5X5Ubc8UpmUhSfJL82zwiBFLaj"),
    ("polygon", "3hCPRGf4z88VC5rsBKU5AA9FBBq5nF3jbKJG7VZCbhjm"),
    ("bsc", "F85MNzUGYqgSHSHRGgeVMNsdnW1KtZSVgFULumXRZTw2"),
    ("avalanche", "GVH9h9KZ9CqheUEL93qMbq7QwgoBu32QXQDPR6bev4Eo"),
    ("celo", "ESdrTJ3twMwWVoQ1hUE2u7PugEHX3QkenudD6aXCkDQ4"),
    ("blast", "2LHovKznvo8YmKC9ZprPjsYAZDCc4K5q4AYz8s3cnQn1"),
];

/// The Graph's gateway, where bare network names point.
pub const DEFAULT_GATEWAY: &str = "https://gateway.thegraph.com";

/// One `UPSTREAMS` entry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub name: String,
    /// `None` for a bare known name (The Graph's gateway).
    pub url: Option<String>,
}

fn check_network_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(format!(
            "network name {name:?} must match [a-z0-9-]+ (e.g. ethereum, base, sim)"
        ))
    }
}

/// An `http(s)://` URL with a host.
pub fn parse_http_url(url: &str) -> Result<url::Url, String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
        _ => Err(format!(
            "{:?} is not an http:// or https:// URL",
            origin_only(url)
        )),
    }
}

impl FromStr for UpstreamSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once('=') {
            Some((name, url)) => {
                check_network_name(name)?;
                parse_http_url(url).map_err(|e| format!("upstream {name:?}: {e}"))?;
                Ok(UpstreamSpec {
                    name: name.to_owned(),
                    url: Some(url.to_owned()),
                })
            }
            None => {
                check_network_name(s)?;
                if !KNOWN_SUBGRAPHS.iter().any(|(n, _)| *n == s) {
                    let known: Vec<&str> = KNOWN_SUBGRAPHS.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "{s:?} is not a known network; write {s}=URL or use one of {}",
                        known.join(", ")
                    ));
                }
                Ok(UpstreamSpec {
                    name: s.to_owned(),
                    url: None,
                })
            }
        }
    }
}

/// One `TOKENS` entry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// `None` for a bare address (the default network).
    pub network: Option<String>,
    /// Lowercase `0x` + 40 hex.
    pub address: String,
}

impl FromStr for TokenSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once(':') {
            Some((network, address)) => {
                check_network_name(network)?;
                Ok(TokenSpec {
                    network: Some(network.to_owned()),
                    address: parse_address(address)?,
                })
            }
            None => Ok(TokenSpec {
                network: None,
                address: parse_address(s)?,
            }),
        }
    }
}

/// A configuration that parses but cannot work, found when the parts are put together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "TOKENS entry {address} names network {network:?}, which is not in UPSTREAMS ({known})"
    )]
    UnknownNetwork {
        network: String,
        address: String,
        known: String,
    },
    #[error(
        "TOKENS is set but UPSTREAMS is empty: name at least one upstream, e.g. UPSTREAMS=ethereum"
    )]
    NoUpstreams,
    #[error("upstream {0:?} uses The Graph's gateway and needs GRAPH_API_KEY")]
    MissingApiKey(String),
    #[error(
        "GRAPH_API_KEY is malformed (its value is not shown): an API key is non-empty, without \
         spaces or '/'"
    )]
    MalformedApiKey,
    #[error("upstream {0:?} is listed twice in UPSTREAMS")]
    DuplicateUpstream(String),
}

/// Where one network's subgraph answers.
#[derive(Clone)]
pub enum Endpoint {
    /// A URL given in `UPSTREAMS`.
    Url(String),
    /// The Graph's gateway for a known subgraph; the key is put in the URL when a request is
    /// sent.
    Gateway {
        /// The gateway's base URL (`GRAPH_GATEWAY_URL`).
        base: url::Url,
        subgraph_id: &'static str,
        api_key: SecretString,
    },
}

impl Endpoint {
    /// The URL to send requests to (with the API key in it, so never log this).
    pub fn request_url(&self) -> String {
        match self {
            Endpoint::Url(u) => u.clone(),
            Endpoint::Gateway {
                base,
                subgraph_id,
                api_key,
            } => format!(
                "{}/api/{}/subgraphs/id/{subgraph_id}",
                base.as_str().trim_end_matches('/'),
                api_key.expose_secret()
            ),
        }
    }
}

impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        self.request_url() == other.request_url()
    }
}

impl Eq for Endpoint {}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Endpoint {
    /// The URL with any secret replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Url(u) => f.write_str(&origin_only(u)),
            Endpoint::Gateway {
                base, subgraph_id, ..
            } => write!(
                f,
                "{}/api/***/subgraphs/id/{subgraph_id}",
                origin_only(base.as_str()).trim_end_matches('/')
            ),
        }
    }
}

/// One network to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub network: String,
    pub endpoint: Endpoint,
}

/// The upstreams and tokens, checked against each other.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// In `UPSTREAMS` order; the first is the default network.
    pub upstreams: Vec<Upstream>,
    /// Tokens to mirror, each on one of `upstreams`.
    pub tokens: Vec<TokenKey>,
}

impl Sources {
    /// The configured network names, in order.
    pub fn networks(&self) -> Vec<String> {
        self.upstreams.iter().map(|u| u.network.clone()).collect()
    }
}

/// Whether a secret can be an API key: non-empty, no spaces, no `/`. Checked when the
/// configuration is resolved rather than while parsing, so that no error ever echoes it.
fn is_well_formed_key(key: &SecretString) -> bool {
    let k = key.expose_secret();
    !k.is_empty() && !k.contains(|c: char| c.is_whitespace() || c == '/')
}

/// The `UPSTREAMS`, `GRAPH_API_KEY` and `TOKENS` values as parsed, before resolution.
#[derive(Debug, Clone)]
pub struct SourceSpecs<'a> {
    pub upstreams: &'a List<UpstreamSpec>,
    pub graph_api_key: Option<&'a SecretString>,
    pub gateway: &'a url::Url,
    pub tokens: &'a List<TokenSpec>,
}

impl SourceSpecs<'_> {
    /// Resolves bare tokens to the default network and gateway names to URLs, refusing tokens
    /// on unknown networks and gateway upstreams without a (well-formed) key.
    pub fn resolve(&self) -> Result<Sources, ConfigError> {
        let mut upstreams: Vec<Upstream> = Vec::new();
        for spec in self.upstreams.iter() {
            if upstreams.iter().any(|u| u.network == spec.name) {
                return Err(ConfigError::DuplicateUpstream(spec.name.clone()));
            }
            let endpoint = match &spec.url {
                Some(url) => Endpoint::Url(url.clone()),
                None => {
                    let api_key = self
                        .graph_api_key
                        .cloned()
                        .ok_or_else(|| ConfigError::MissingApiKey(spec.name.clone()))?;
                    if !is_well_formed_key(&api_key) {
                        return Err(ConfigError::MalformedApiKey);
                    }
                    // `UpstreamSpec` accepts only known names without a URL.
                    let subgraph_id = KNOWN_SUBGRAPHS
                        .iter()
                        .find(|(n, _)| *n == spec.name)
                        .map_or("", |(_, id)| *id);
                    Endpoint::Gateway {
                        base: self.gateway.clone(),
                        subgraph_id,
                        api_key,
                    }
                }
            };
            upstreams.push(Upstream {
                network: spec.name.clone(),
                endpoint,
            });
        }
        let default = upstreams.first().map(|u| u.network.clone());
        let mut tokens: Vec<TokenKey> = Vec::new();
        for t in self.tokens.iter() {
            let network = match (&t.network, &default) {
                (Some(n), _) => n.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => return Err(ConfigError::NoUpstreams),
            };
            if !upstreams.iter().any(|u| u.network == network) {
                return Err(ConfigError::UnknownNetwork {
                    network,
                    address: t.address.clone(),
                    known: upstreams
                        .iter()
                        .map(|u| u.network.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let key = TokenKey::new(network, t.address.clone());
            if !tokens.contains(&key) {
                tokens.push(key);
            }
        }
        Ok(Sources { upstreams, tokens })
    }
}

/// `GRAPH_API_KEY`: any text, without the whitespace an env file may leave around it.
pub fn parse_secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(upstreams: &str, key: Option<&str>, tokens: &str) -> Result<Sources, ConfigError> {
        let upstreams: List<UpstreamSpec> = upstreams.parse().unwrap();
        let tokens: List<TokenSpec> = tokens.parse().unwrap();
        let key = key.map(|k| parse_secret(k).unwrap());
        let gateway = url::Url::parse(DEFAULT_GATEWAY).unwrap();
        SourceSpecs {
            upstreams: &upstreams,
            graph_api_key: key.as_ref(),
            gateway: &gateway,
            tokens: &tokens,
        }
        .resolve()
    }

    const TOKENS: &str = "0xABCDEFabcdef0123456789012345678901234567,\
                          base:0x0000000000000000000000000000000000000001";

    #[test]
    fn tokens_and_upstreams_resolve() {
        let s = resolve("sim=http://127.0.0.1:8001/, base,", Some("k3y"), TOKENS).unwrap();
        assert_eq!(s.networks(), ["sim", "base"]);
        assert_eq!(s.tokens[0].network, "sim");
        assert_eq!(
            s.tokens[0].address,
            "0xabcdefabcdef0123456789012345678901234567"
        );
        assert_eq!(s.tokens[1].network, "base");
        let shown = format!("{:?}", s.upstreams[1]);
        assert!(!shown.contains("k3y"), "{shown}");
        assert_eq!(
            s.upstreams[1].endpoint.request_url(),
            "https://gateway.thegraph.com/api/k3y/subgraphs/id/43Hwfi3dJSoGpyas9VwNoDAv55yjgGrPpNSmbQZArzMG"
        );

        // Whitespace an env file leaves around the key is dropped; a malformed key is refused
        // without being shown.
        let padded = resolve("sim=http://127.0.0.1:8001/, base,", Some(" k3y\n"), TOKENS);
        assert_eq!(padded.unwrap().upstreams[1], s.upstreams[1]);
        for bad in ["supersecret 1", "supersecret/1", " "] {
            let err = resolve("base", Some(bad), "").unwrap_err().to_string();
            assert!(
                err.contains("GRAPH_API_KEY") && !err.contains("supersecret"),
                "{err}"
            );
        }
        assert!(matches!(
            resolve("sim=http://127.0.0.1:8001/,base", None, TOKENS),
            Err(ConfigError::MissingApiKey(n)) if n == "base"
        ));
        let err = resolve(
            "sim=http://127.0.0.1:8001/,base",
            Some("k"),
            "mars:0x0000000000000000000000000000000000000001",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mars") && err.contains("sim, base"), "{err}");

        assert!("0x123".parse::<TokenSpec>().is_err());
        assert!("Main:0x0000000000000000000000000000000000000001"
            .parse::<TokenSpec>()
            .is_err());
        assert!("mars".parse::<UpstreamSpec>().is_err());
        assert!("x=ftp://a".parse::<UpstreamSpec>().is_err());
        assert!("x=https://".parse::<UpstreamSpec>().is_err());
    }

    #[test]
    fn shown_endpoints_keep_no_secrets() {
        let e = Endpoint::Url("https://h.example/api/SECRET/x".to_owned());
        assert_eq!(e.to_string(), "https://h.example/…");
        let g = Endpoint::Gateway {
            base: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            subgraph_id: "abc",
            api_key: parse_secret("SECRET").unwrap(),
        };
        assert_eq!(g.to_string(), "http://127.0.0.1:9/api/***/subgraphs/id/abc");
        assert_eq!(
            g.request_url(),
            "http://127.0.0.1:9/api/SECRET/subgraphs/id/abc"
        );
        assert!(!format!("{g:?}").contains("SECRET"));
    }

    #[test]
    fn empty_lists_are_empty() {
        let empty: List<TokenSpec> = "".parse().unwrap();
        assert!(empty.is_empty());
        let one: List<TokenSpec> = " ,0x0000000000000000000000000000000000000001,"
            .parse()
            .unwrap();
        assert_eq!(one.len(), 1);
        assert!("0x1,".parse::<List<TokenSpec>>().is_err());
    }
}
