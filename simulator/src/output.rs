//! Writing answers: rows, tokens and `_meta` as graph-node serializes them — BigInt and
//! BigDecimal as strings, Bytes as lowercase `0x` hex, Int as numbers — straight into the
//! response text, in the order the query selected the fields.

use std::fmt::Write as _;

use super::clock::{block_hash, block_time};
use super::exec::{At, View};
use super::fields::{BlockField, HourField, Kind, MetaField};
use super::filter::TokenSource;
use super::plan::Node;
use super::rows::HourRow;
use super::tokens;

impl View<'_> {
    /// A `TokenHourData` object with the selected fields.
    pub(super) fn write_hour(&self, out: &mut String, row: &HourRow, children: &[Node]) {
        let corrupt = self.world.corrupt == Some(row.token);
        out.push('{');
        for (k, c) in children.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_key(out, &c.key);
            match c.kind {
                Kind::Hour(HourField::Id) => write_str(out, &row.id),
                Kind::Hour(HourField::PeriodStartUnix) => {
                    let _ = write!(out, "{}", row.period_start());
                }
                Kind::Hour(HourField::Token) => {
                    self.write_token(out, row.token as usize, &c.children)
                }
                // A malformed upstream row: a decimal in exponent notation.
                Kind::Hour(HourField::Open) if corrupt => write_str(out, &row.open.scientific()),
                Kind::Hour(f) => match f.dec(row) {
                    Some(d) => write_str(out, d.as_str()),
                    None => out.push_str("null"),
                },
                Kind::Typename => out.push_str("\"TokenHourData\""),
                _ => out.push_str("null"),
            }
        }
        out.push('}');
    }

    /// Token `i` as of this view's time, with the selected fields.
    pub(super) fn write_token(&self, out: &mut String, i: usize, children: &[Node]) {
        let Some(p) = self.world.tokens.get(i) else {
            out.push_str("null");
            return;
        };
        out.push('{');
        for (k, c) in children.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_key(out, &c.key);
            match c.kind {
                Kind::Token(f) => match tokens::text(p, f) {
                    Some(text) => write_str(out, text),
                    None => match self.meta(i).dec(f) {
                        Some(d) => write_str(out, d.as_str()),
                        None => out.push_str("null"),
                    },
                },
                Kind::Typename => out.push_str("\"Token\""),
                _ => out.push_str("null"),
            }
        }
        out.push('}');
    }

    /// `_meta` at block `at`.
    pub(super) fn write_meta(&self, out: &mut String, children: &[Node], at: &At) {
        out.push('{');
        for (k, c) in children.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_key(out, &c.key);
            match c.kind {
                Kind::Meta(MetaField::Block) => self.write_block(out, &c.children, at),
                Kind::Meta(MetaField::Deployment) => write_str(out, self.world.deployment),
                Kind::Meta(MetaField::HasIndexingErrors) => out.push_str("false"),
                Kind::Typename => out.push_str("\"_Meta_\""),
                _ => out.push_str("null"),
            }
        }
        out.push('}');
    }

    /// `_Block_`: the hashes only when the block was not asked for by number (graph-node).
    pub(super) fn write_block(&self, out: &mut String, children: &[Node], at: &At) {
        let seed = self.world.seed;
        out.push('{');
        for (k, c) in children.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_key(out, &c.key);
            match c.kind {
                Kind::Block(BlockField::Number) => out.push_str(&at.number.to_string()),
                Kind::Block(BlockField::Timestamp) => {
                    out.push_str(&block_time(at.number).to_string())
                }
                Kind::Block(BlockField::Hash) if at.with_hash => {
                    write_str(out, &block_hash(seed, at.number))
                }
                Kind::Block(BlockField::ParentHash) if at.with_hash && at.number > 0 => {
                    write_str(out, &block_hash(seed, at.number - 1))
                }
                Kind::Typename => out.push_str("\"_Block_\""),
                _ => out.push_str("null"),
            }
        }
        out.push('}');
    }
}

/// `"key":` (response keys are GraphQL names: nothing to escape).
pub(super) fn write_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// A JSON string; the served values are plain ASCII, so escaping is the rare path.
fn write_str(out: &mut String, s: &str) {
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
