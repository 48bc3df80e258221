//! Persisted queries: Apollo's automatic persisted queries (APQ) and, for production, an
//! allow-list of operations.
//!
//! - **Automatic** (the default): a request may name its document by hash alone
//!   (`extensions.persistedQuery.sha256Hash`); a hash the server has not seen answers
//!   `PersistedQueryNotFound` (`PERSISTED_QUERY_NOT_FOUND`, HTTP 200), and the client sends the
//!   document with its hash once, which registers it. Over GET this keeps URLs short and the
//!   same for every client, so a CDN can cache the answers.
//! - **Off** (`PERSISTED_QUERIES=off`): a request naming a hash answers
//!   `PersistedQueryNotSupported` (`PERSISTED_QUERY_NOT_SUPPORTED`); clients then send documents.
//! - **Allow-list** (`PERSISTED_ONLY=true`): only the operations of `PERSISTED_QUERIES_FILE`
//!   (Apollo's persisted-query manifest) run, named by id or sent as text; nothing is registered,
//!   and any other document answers `PERSISTED_QUERY_NOT_IN_LIST`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::code;

/// The codes of this module's refusals.
pub mod codes {
    pub const NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
    pub const NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";
}

/// Documents registered by clients, at most this many (the least recently used go first).
const REGISTERED_MAX: u64 = 10_000;

/// How the server treats persisted queries.
#[derive(Clone)]
pub struct Persisted {
    mode: Mode,
}

impl std::fmt::Debug for Persisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Off => f.write_str("Persisted::Off"),
            Mode::Automatic(s) => write!(f, "Persisted::Automatic({} registered)", s.entry_count()),
            Mode::Only(l) => write!(f, "Persisted::Only({} operations)", l.len()),
        }
    }
}

#[derive(Clone)]
enum Mode {
    Off,
    Automatic(moka::sync::Cache<String, Arc<str>>),
    /// The manifest's operations by id (the sha256 of their text).
    Only(Arc<HashMap<String, Arc<str>>>),
}

impl Default for Persisted {
    fn default() -> Self {
        Persisted::automatic()
    }
}

/// Why a request's document could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// "Not found" is a normal step of the protocol (HTTP 200, the client retries with the
    /// document); the other refusals are the client's mistakes.
    pub fn is_protocol_step(&self) -> bool {
        matches!(self.code, codes::NOT_FOUND | codes::NOT_SUPPORTED)
    }
}

/// The sha256 of `text`, in lowercase hex (what APQ and manifests call a document's id).
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl Persisted {
    /// Automatic persisted queries.
    pub fn automatic() -> Persisted {
        Persisted {
            mode: Mode::Automatic(
                moka::sync::Cache::builder()
                    .max_capacity(REGISTERED_MAX)
                    .build(),
            ),
        }
    }

    /// No persisted queries.
    pub fn off() -> Persisted {
        Persisted { mode: Mode::Off }
    }

    /// True when only the allow-list's operations run.
    pub fn is_allow_list(&self) -> bool {
        matches!(self.mode, Mode::Only(_))
    }

    /// Only the operations of the manifest at `path` (Apollo's format:
    /// `{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id",
    /// "body", …}]}`). Each id must be the sha256 of its body.
    pub fn only_from_file(path: &Path) -> Result<Persisted, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read PERSISTED_QUERIES_FILE {}: {e}", path.display()))?;
        Persisted::only_from_manifest(&text)
            .map_err(|e| format!("PERSISTED_QUERIES_FILE {}: {e}", path.display()))
    }

    /// Only the operations of a manifest's text.
    pub fn only_from_manifest(text: &str) -> Result<Persisted, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        if v["format"] != "apollo-persisted-query-manifest" {
            return Err(
                "\"format\" must be \"apollo-persisted-query-manifest\" (Apollo's manifest)"
                    .to_owned(),
            );
        }
        let ops = v["operations"]
            .as_array()
            .ok_or("\"operations\" must be an array")?;
        let mut list = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            let (Some(id), Some(body)) = (op["id"].as_str(), op["body"].as_str()) else {
                return Err(format!(
                    "operation {i} needs a string \"id\" and a string \"body\""
                ));
            };
            let hash = sha256_hex(body);
            if !id.eq_ignore_ascii_case(&hash) {
                return Err(format!(
                    "operation {i} ({id}): its id is not the sha256 of its body ({hash})"
                ));
            }
            list.insert(hash, Arc::from(body));
        }
        Ok(Persisted {
            mode: Mode::Only(Arc::new(list)),
        })
    }

    /// The document a request runs: its `query` (checked or registered), or the one its
    /// `extensions.persistedQuery.sha256Hash` names.
    pub fn resolve(
        &self,
        query: Option<String>,
        extensions: Option<&Value>,
    ) -> Result<String, Refusal> {
        let hash = persisted_hash(extensions)?;
        match (&self.mode, hash, query) {
            (_, None, None) => Err(Refusal::new(
                code::BAD_REQUEST,
                "the \"query\" parameter is missing",
            )),
            (Mode::Off, Some(_), _) => Err(Refusal::new(
                codes::NOT_SUPPORTED,
                "PersistedQueryNotSupported",
            )),
            (Mode::Off | Mode::Automatic(_), None, Some(q)) => Ok(q),
            (Mode::Automatic(store), Some(hash), None) => store
                .get(&hash)
                .map(|q| q.to_string())
                .ok_or_else(|| Refusal::new(codes::NOT_FOUND, "PersistedQueryNotFound")),
            (Mode::Automatic(store), Some(hash), Some(q)) => {
                if sha256_hex(&q) != hash {
                    return Err(Refusal::new(
                        code::BAD_REQUEST,
                        "provided sha does not match query: extensions.persistedQuery.sha256Hash \
                         must be the sha256 of \"query\" in lowercase hex",
                    ));
                }
                store.insert(hash, Arc::from(q.as_str()));
                Ok(q)
            }
            (Mode::Only(list), hash, query) => {
                let id = match (&hash, &query) {
                    (Some(h), _) => h.clone(),
                    (None, Some(q)) => sha256_hex(q),
                    (None, None) => unreachable!("handled above"),
                };
                match list.get(&id) {
                    Some(body) if query.as_deref().is_none_or(|q| q == &**body) => {
                        Ok(body.to_string())
                    }
                    _ => Err(Refusal::new(
                        codes::NOT_IN_LIST,
                        "this server runs only the operations of its persisted-query list \
                         (PERSISTED_ONLY): send one of them, by id or by its exact text",
                    )),
                }
            }
        }
    }
}

/// `extensions.persistedQuery.sha256Hash`, lowercased, when the request has one.
fn persisted_hash(extensions: Option<&Value>) -> Result<Option<String>, Refusal> {
    let Some(pq) = extensions.and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    if pq.is_null() {
        return Ok(None);
    }
    let bad = |msg: &str| Err(Refusal::new(code::BAD_REQUEST, msg));
    match pq.get("version") {
        Some(v) if v == 1 => {}
        _ => return bad("extensions.persistedQuery.version must be 1"),
    }
    match pq.get("sha256Hash").and_then(Value::as_str) {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(h.to_ascii_lowercase()))
        }
        _ => bad("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const Q: &str = "{ tokens { address } }";

    fn ext(hash: &str) -> Value {
        json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
    }

    #[test]
    fn automatic_registers_then_answers_by_hash() {
        let p = Persisted::automatic();
        let h = sha256_hex(Q);
        let e = ext(&h);
        let miss = p.resolve(None, Some(&e)).unwrap_err();
        assert_eq!(miss.code, codes::NOT_FOUND);
        assert_eq!(miss.message, "PersistedQueryNotFound");
        assert_eq!(p.resolve(Some(Q.to_owned()), Some(&e)).unwrap(), Q);
        assert_eq!(p.resolve(None, Some(&e)).unwrap(), Q);
        let wrong = ext(&sha256_hex("{ other }"));
        assert_eq!(
            p.resolve(Some(Q.to_owned()), Some(&wrong))
                .unwrap_err()
                .code,
            code::BAD_REQUEST
        );
        assert_eq!(p.resolve(Some(Q.to_owned()), None).unwrap(), Q);
    }

    #[test]
    fn off_says_not_supported() {
        let p = Persisted::off();
        let refusal = p.resolve(None, Some(&ext(&sha256_hex(Q)))).unwrap_err();
        assert_eq!(refusal.code, codes::NOT_SUPPORTED);
        assert_eq!(refusal.message, "PersistedQueryNotSupported");
        assert_eq!(p.resolve(Some(Q.to_owned()), None).unwrap(), Q);
    }

    #[test]
    fn the_allow_list_runs_its_operations_only() {
        let manifest = json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{"id": sha256_hex(Q), "name": "T", "type": "query", "body": Q}]
        })
        .to_string();
        let p = Persisted::only_from_manifest(&manifest).unwrap();
        assert_eq!(p.resolve(None, Some(&ext(&sha256_hex(Q)))).unwrap(), Q);
        assert_eq!(p.resolve(Some(Q.to_owned()), None).unwrap(), Q);
        let other = "{ __typename }";
        for refused in [
            p.resolve(Some(other.to_owned()), None),
            p.resolve(None, Some(&ext(&sha256_hex(other)))),
            // No registration.
            p.resolve(Some(other.to_owned()), Some(&ext(&sha256_hex(other)))),
        ] {
            assert_eq!(refused.unwrap_err().code, codes::NOT_IN_LIST);
        }
        let bad = json!({"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": "00", "body": Q}]})
        .to_string();
        assert!(Persisted::only_from_manifest(&bad)
            .unwrap_err()
            .contains("not the sha256"));
    }
}
