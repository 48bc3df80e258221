//! The response cache: finished answers of read operations, kept in memory (bounded by
//! `CACHE_BYTES`, moka's TinyLFU) under a key of the normalized document, the operation name,
//! the variables and the response media type.
//!
//! An entry remembers what its answer read (see [`crate::feed::generations`]) and when the
//! clock alone would change it; a lookup serves it only while both still hold. So the rule the
//! README states holds: in the process that commits a sync write, no request that starts after
//! the commit gets an answer computed before it; in another process, the same from the moment
//! the change feed delivers the write. Answers with a server error are never kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::domain::Clock;
use crate::feed::{Deps, Feed, Snapshot};
use crate::metrics::Metrics;

/// One kept answer.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
    /// What a GET answer tells HTTP caches.
    pub cache_control: HeaderValue,
    deps: Snapshot,
}

/// The cache (a no-op when `CACHE_BYTES` is 0); cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    entries: Option<Cache<String, Arc<Answer>>>,
    feed: Feed,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl ResponseCache {
    /// A cache of at most `bytes` (0: none).
    pub fn new(bytes: u64, feed: Feed, clock: Clock, metrics: Arc<Metrics>) -> ResponseCache {
        let entries = (bytes > 0).then(|| {
            let evictions = metrics.clone();
            Cache::builder()
                .max_capacity(bytes)
                .weigher(|key: &String, answer: &Arc<Answer>| {
                    let size = key.len() + answer.body.len() + answer.deps.weight() + 128;
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .eviction_listener(move |_, _, cause| {
                    if cause == RemovalCause::Size {
                        evictions.cache_eviction();
                    }
                })
                .build()
        });
        ResponseCache {
            entries,
            feed,
            clock,
            metrics,
        }
    }

    /// Whether answers are kept at all.
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// A fresh answer for `key`, if one is kept.
    pub fn get(&self, key: &str) -> Option<Arc<Answer>> {
        let entries = self.entries.as_ref()?;
        let found = entries
            .get(key)
            .filter(|a| a.deps.is_fresh(self.feed.generations(), self.clock.unix()));
        if found.is_none() {
            // Stale or expired: its room is better used by a fresh answer.
            entries.invalidate(key);
        }
        self.metrics.cache_lookup(found.is_some());
        found
    }

    /// Starts recording what a new answer reads.
    pub fn record(&self) -> Deps {
        Deps::start(self.feed.generations().clone())
    }

    /// Keeps an answer computed with `deps`, unless something it read changed meanwhile.
    pub fn put(
        &self,
        key: String,
        status: StatusCode,
        content_type: &'static str,
        body: Bytes,
        cache_control: HeaderValue,
        deps: &Deps,
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        let deps = deps.snapshot();
        if !deps.is_fresh(self.feed.generations(), self.clock.unix()) {
            return;
        }
        let answer = Answer {
            status,
            content_type,
            body,
            cache_control,
            deps,
        };
        entries.insert(key, Arc::new(answer));
        self.metrics
            .cache_size(entries.weighted_size(), entries.entry_count());
    }

    /// Runs the cache's pending housekeeping (evictions) and reports its size: `(bytes,
    /// entries)`.
    pub fn settle(&self) -> (u64, u64) {
        match &self.entries {
            Some(e) => {
                e.run_pending_tasks();
                self.metrics.cache_size(e.weighted_size(), e.entry_count());
                (e.weighted_size(), e.entry_count())
            }
            None => (0, 0),
        }
    }
}

/// The cache key of a request: the answer's media type, the operation name, the variables
/// (as JSON) and the document with insignificant white space, commas and comments removed.
pub fn key(media: &str, operation: Option<&str>, variables: &str, query: &str) -> String {
    let mut k = String::with_capacity(query.len() + variables.len() + 64);
    k.push_str(media);
    k.push('\n');
    k.push_str(operation.unwrap_or(""));
    k.push('\n');
    k.push_str(variables);
    k.push('\n');
    normalize_into(query, &mut k);
    k
}

/// Punctuators next to which white space never matters.
fn is_punctuator(c: char) -> bool {
    matches!(
        c,
        '{' | '}' | '(' | ')' | '[' | ']' | ':' | '=' | '@' | '$' | '!' | '|' | '&'
    )
}

/// Copies `query` into `out` without comments and with each run of ignored tokens (white
/// space, line ends, commas) turned into one space, or none next to a punctuator. Strings and
/// block strings are copied as they are. Two documents with the same normalized text are the
/// same token sequence, so they mean the same thing.
fn normalize_into(query: &str, out: &mut String) {
    let mut chars = query.chars().peekable();
    let mut gap = false;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => gap = true,
            '#' => {
                for n in chars.by_ref() {
                    if n == '\n' || n == '\r' {
                        break;
                    }
                }
                gap = true;
            }
            _ => {
                if gap {
                    let prev = out.chars().next_back();
                    if prev.is_some_and(|p| !is_punctuator(p)) && !is_punctuator(c) {
                        out.push(' ');
                    }
                    gap = false;
                }
                out.push(c);
                if c == '"' {
                    copy_string(&mut chars, out);
                }
            }
        }
    }
}

/// Copies the rest of a string (or block string) whose first `"` was just copied.
fn copy_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    // `""` is an empty string, unless a third `"` opens a block string.
    if chars.peek() == Some(&'"') {
        out.push('"');
        chars.next();
        if chars.peek() != Some(&'"') {
            return;
        }
        out.push('"');
        chars.next();
        // A block string ends at an unescaped `"""`.
        let mut quotes = 0;
        while let Some(c) = chars.next() {
            out.push(c);
            match c {
                '"' => {
                    quotes += 1;
                    if quotes == 3 {
                        return;
                    }
                }
                '\\' => {
                    quotes = 0;
                    // `\"""` is an escaped triple quote.
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                _ => quotes = 0,
            }
        }
        return;
    }
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '"' => return,
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '\n' | '\r' => return, // an unterminated string: the parser refuses it anyway
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(q: &str) -> String {
        let mut out = String::new();
        normalize_into(q, &mut out);
        out
    }

    #[test]
    fn layout_and_comments_do_not_change_the_key() {
        let a = n("{ tokens { symbol name } }");
        assert_eq!(a, "{tokens{symbol name}}");
        assert_eq!(
            n("query  Q {\n  # the list\n  tokens {\tsymbol,\n name }\n}\n"),
            "query Q{tokens{symbol name}}"
        );
        assert_eq!(
            n("{ a(x: 1, y: [1, -2]) @skip(if: $v) }"),
            "{a(x:1 y:[1 -2])@skip(if:$v)}"
        );
        assert_eq!(n("{ ... on T { a } ...F }"), "{... on T{a}...F}");
    }

    #[test]
    fn strings_are_kept_as_written() {
        assert_eq!(
            n(r#"{ a(s: "x  ,  # not a comment") }"#),
            r#"{a(s:"x  ,  # not a comment")}"#
        );
        assert_eq!(
            n(r#"{ a(s: "say \"hi ,\" ") b }"#),
            r#"{a(s:"say \"hi ,\" ")b}"#
        );
        assert_eq!(n(r#"{ a(s: "") b }"#), r#"{a(s:"")b}"#);
        assert_eq!(
            n("{ a(s: \"\"\" block ,\n  \\\"\"\" \"\"\") b }"),
            "{a(s:\"\"\" block ,\n  \\\"\"\" \"\"\")b}"
        );
        assert_ne!(n(r#"{ a(s: "x y") }"#), n(r#"{ a(s: "x  y") }"#));
    }

    /// The weighed size stays under the bound with 100,000 distinct answers (moka evicts
    /// lazily: its pending tasks run before measuring).
    #[test]
    fn the_cache_stays_within_its_bytes() {
        let bound = 4 << 20;
        let metrics = Arc::new(Metrics::default());
        let feed = Feed::new(metrics.clone());
        let cache = ResponseCache::new(bound, feed, Clock::System, metrics);
        let body = Bytes::from(vec![b'x'; 300]);
        for i in 0..100_000 {
            let deps = cache.record();
            let k = key("json", None, "{}", &format!("{{ q{i} }}"));
            cache.put(
                k,
                StatusCode::OK,
                "json",
                body.clone(),
                HeaderValue::from_static("no-store"),
                &deps,
            );
        }
        let (bytes, entries) = cache.settle();
        assert!(bytes <= bound, "{bytes} bytes in {entries} entries");
        assert!(entries > 1000, "it keeps what fits: {entries}");
    }

    #[test]
    fn keys_tell_operations_variables_and_media_types_apart() {
        let q = "query A { tokens { symbol } } query B { tokens { name } }";
        assert_ne!(
            key("json", Some("A"), "{}", q),
            key("json", Some("B"), "{}", q)
        );
        assert_ne!(
            key("json", None, r#"{"a":1}"#, q),
            key("json", None, r#"{"a":2}"#, q)
        );
        assert_ne!(key("json", None, "{}", q), key("graphql", None, "{}", q));
    }
}
