//! Parsing once across requests: a parsed document is kept (bounded) and handed to every request
//! with the same text, which async-graphql then executes without parsing it again. Validation
//! still runs per request (its result depends on the variables: `limit` counts towards the
//! complexity). Only documents that parse are kept.

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

/// Documents kept, by their text.
#[derive(Clone)]
pub struct Documents {
    kept: Cache<String, ExecutableDocument>,
}

/// Texts of documents kept, at most (about a few MiB for typical queries).
const KEPT: u64 = 4 << 20;

impl Default for Documents {
    fn default() -> Self {
        Documents {
            kept: Cache::builder()
                .max_capacity(KEPT)
                .weigher(|text: &String, _: &ExecutableDocument| {
                    // The tree is a few times the text's size.
                    u32::try_from(text.len().saturating_mul(4) + 256).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

impl Documents {
    /// Gives `req` its parsed document: a kept one, or parsed now (and kept when it parses).
    pub fn prepare(&self, req: &mut async_graphql::Request) {
        if let Some(doc) = self.kept.get(&req.query) {
            req.set_parsed_query(doc);
            return;
        }
        if let Ok(doc) = req.parsed_query() {
            let doc = doc.clone();
            self.kept.insert(req.query.clone(), doc);
        }
    }
}
