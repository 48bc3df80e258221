//! Writing answers: rows, tokens and `_meta` as graph-node serializes them — BigInt and
//! BigDecimal as strings, Bytes as lowercase `0x` hex, Int as numbers — straight into the
//! response text, in the order the query selected the fields.

use std::fmt::Write as _;

use super::error::QueryError;
use super::fields::{BlockField, HourField, Kind, MetaField};
use super::plan::Node;
use super::record::{HourRecord, Tokens};

/// `_meta` as one executor knows it.
#[derive(Debug, Clone)]
pub struct MetaInfo<'a> {
    /// The block the answer is as of.
    pub number: i64,
    pub timestamp: Option<i64>,
    /// Given only when the block was not asked for by number (as graph-node does).
    pub hash: Option<String>,
    pub parent_hash: Option<String>,
    pub deployment: &'a str,
    pub has_indexing_errors: bool,
}

/// The `{"data":{…}}` document, one root field after the other; if any root field fails, the
/// answer is its errors alone (graph-node then sends no data at all).
pub struct Document {
    out: String,
    fields: usize,
    errors: Vec<QueryError>,
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

impl Document {
    pub fn new() -> Document {
        let mut out = String::with_capacity(4096);
        out.push_str("{\"data\":{");
        Document {
            out,
            fields: 0,
            errors: Vec::new(),
        }
    }

    /// Starts the root field `key`: its value is written to the returned text.
    pub fn field(&mut self, key: &str) -> &mut String {
        if self.fields > 0 {
            self.out.push(',');
        }
        self.fields += 1;
        write_key(&mut self.out, key);
        &mut self.out
    }

    /// Records the errors of a root field.
    pub fn fail(&mut self, errors: impl IntoIterator<Item = QueryError>) {
        self.errors.extend(errors);
    }

    /// The answer, or the errors.
    pub fn finish(mut self) -> Result<String, Vec<QueryError>> {
        if self.errors.is_empty() {
            self.out.push_str("}}");
            Ok(self.out)
        } else {
            Err(self.errors)
        }
    }
}

/// A list of `TokenHourData` objects.
pub fn write_hours<R: HourRecord>(
    out: &mut String,
    rows: &[R],
    children: &[Node],
    tokens: &dyn Tokens,
) {
    out.reserve(rows.len() * 64 * (children.len() + 1));
    out.push('[');
    for (k, row) in rows.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        write_hour(out, row, children, tokens);
    }
    out.push(']');
}

/// A `TokenHourData` object with the selected fields.
pub fn write_hour(out: &mut String, row: &impl HourRecord, children: &[Node], tokens: &dyn Tokens) {
    write_object(out, children, |out, c| match c.kind {
        Kind::Hour(HourField::Id) => write_str(out, row.id()),
        Kind::Hour(HourField::PeriodStartUnix) => {
            let _ = write!(out, "{}", row.period_start());
        }
        Kind::Hour(HourField::Token) => write_token(out, tokens, row.token(), &c.children),
        Kind::Hour(f) => match row.served(f) {
            Some(text) => write_str(out, &text),
            None => out.push_str("null"),
        },
        Kind::Typename => out.push_str("\"TokenHourData\""),
        _ => out.push_str("null"),
    });
}

/// Token `i` with the selected fields (`null` when there is no such token).
pub fn write_token(out: &mut String, tokens: &dyn Tokens, i: usize, children: &[Node]) {
    if i >= tokens.count() {
        out.push_str("null");
        return;
    }
    write_object(out, children, |out, c| match c.kind {
        Kind::Token(f) => match tokens.text(i, f) {
            Some(text) => write_str(out, text),
            None => match tokens.number(i, f) {
                Some(d) => write_str(out, d.as_str()),
                None => out.push_str("null"),
            },
        },
        Kind::Typename => out.push_str("\"Token\""),
        _ => out.push_str("null"),
    });
}

/// `_meta`.
pub fn write_meta(out: &mut String, children: &[Node], meta: &MetaInfo<'_>) {
    write_object(out, children, |out, c| match c.kind {
        Kind::Meta(MetaField::Block) => write_block(out, &c.children, meta),
        Kind::Meta(MetaField::Deployment) => write_str(out, meta.deployment),
        Kind::Meta(MetaField::HasIndexingErrors) => out.push_str(if meta.has_indexing_errors {
            "true"
        } else {
            "false"
        }),
        Kind::Typename => out.push_str("\"_Meta_\""),
        _ => out.push_str("null"),
    });
}

/// `_Block_`.
fn write_block(out: &mut String, children: &[Node], meta: &MetaInfo<'_>) {
    let text = |out: &mut String, v: Option<&str>| match v {
        Some(s) => write_str(out, s),
        None => out.push_str("null"),
    };
    write_object(out, children, |out, c| match c.kind {
        Kind::Block(BlockField::Number) => {
            let _ = write!(out, "{}", meta.number);
        }
        Kind::Block(BlockField::Timestamp) => match meta.timestamp {
            Some(t) => {
                let _ = write!(out, "{t}");
            }
            None => out.push_str("null"),
        },
        Kind::Block(BlockField::Hash) => text(out, meta.hash.as_deref()),
        Kind::Block(BlockField::ParentHash) => text(out, meta.parent_hash.as_deref()),
        Kind::Typename => out.push_str("\"_Block_\""),
        _ => out.push_str("null"),
    });
}

/// `{"key":value,…}` of the selected `children`, each value written by `value`.
fn write_object(out: &mut String, children: &[Node], mut value: impl FnMut(&mut String, &Node)) {
    out.push('{');
    for (k, c) in children.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        write_key(out, &c.key);
        value(out, c);
    }
    out.push('}');
}

/// `"key":` (response keys are GraphQL names: nothing to escape).
pub fn write_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// A JSON string; the served values are plain ASCII, so escaping is the rare path.
pub fn write_str(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&super::error::json_string(s));
    }
}
