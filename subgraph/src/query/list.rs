//! The list fields (`tokens`, `tokenHourDatas`) and the single-entity fields, up to the rows:
//! arguments checked in graph-node's order, filters compiled, then the rows an executor found
//! filtered, sorted and paged the same way whoever found them.

use super::error::QueryError;
use super::fields::TokenField;
use super::filter::{HourCond, Pred, TokenCond};
use super::ops::decode_hex;
use super::order::{cmp_tokens, page, HourKey};
use super::output::write_token;
use super::plan::Node;
use super::record::{HourRecord, Tokens};
use super::value::V;

/// Largest `first`.
pub const MAX_FIRST: i64 = 1000;

/// `first` and `skip`, checked against their ranges (both errors when both are wrong).
pub fn range(node: &Node, max_skip: u64) -> Result<(usize, usize), Vec<QueryError>> {
    let first = node.arg("first").and_then(V::as_int).unwrap_or(100);
    let skip = node.arg("skip").and_then(V::as_int).unwrap_or(0);
    let max = i64::try_from(max_skip).unwrap_or(i64::MAX);
    let mut errors = Vec::new();
    if !(0..=MAX_FIRST).contains(&first) {
        errors.push(QueryError::Range {
            arg: "first",
            max: MAX_FIRST as u64,
            actual: first,
        });
    }
    if !(0..=max).contains(&skip) {
        errors.push(QueryError::Range {
            arg: "skip",
            max: max_skip,
            actual: skip,
        });
    }
    if errors.is_empty() {
        Ok((first as usize, skip as usize))
    } else {
        Err(errors)
    }
}

/// `orderBy` (if given) and whether `orderDirection` is `desc` (ignored without `orderBy`).
fn order(node: &Node) -> (Option<&str>, bool) {
    let by = node.arg("orderBy").and_then(V::as_str);
    let desc = by.is_some() && node.arg("orderDirection").and_then(V::as_str) == Some("desc");
    (by, desc)
}

/// `tokens(…)`: the matching tokens, sorted and paged, written as a list.
pub fn write_tokens(
    out: &mut String,
    node: &Node,
    tokens: &dyn Tokens,
    max_skip: u64,
) -> Result<(), Vec<QueryError>> {
    let (first, skip) = range(node, max_skip)?;
    let filter = match node.arg("where") {
        Some(w) => Some(Pred::<TokenCond>::tokens(w).map_err(|e| vec![e])?),
        None => None,
    };
    let (by, desc) = order(node);
    let field = by.and_then(TokenField::named).unwrap_or(TokenField::Id);
    let matching: Vec<usize> = (0..tokens.count())
        .filter(|&i| filter.as_ref().is_none_or(|f| f.matches(i, tokens)))
        .collect();
    let picked = page(matching, skip, first, desc, |a, b| {
        cmp_tokens(field, *a, *b, tokens)
    });
    out.push('[');
    for (k, i) in picked.into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        write_token(out, tokens, i, &node.children);
    }
    out.push(']');
    Ok(())
}

/// `token(id:)`: the token, or `null`.
pub fn write_token_by_id(
    out: &mut String,
    node: &Node,
    tokens: &dyn Tokens,
) -> Result<(), QueryError> {
    let id = node.arg("id").and_then(V::as_str).unwrap_or_default();
    let bytes = decode_hex(id).map_err(QueryError::bytes)?;
    let found =
        (0..tokens.count()).find(|&i| decode_hex(tokens.address(i)).is_ok_and(|a| a == bytes));
    match found {
        Some(i) => write_token(out, tokens, i, &node.children),
        None => out.push_str("null"),
    }
    Ok(())
}

/// A `tokenHourDatas(…)` field with its arguments checked and its filter compiled.
#[derive(Debug, Clone)]
pub struct HourList {
    pub first: usize,
    pub skip: usize,
    pub filter: Option<Pred<HourCond>>,
    pub key: HourKey,
    pub desc: bool,
}

impl HourList {
    /// Checks the arguments of `node`; token filters are evaluated against `tokens`.
    pub fn new(node: &Node, tokens: &dyn Tokens, max_skip: u64) -> Result<Self, Vec<QueryError>> {
        let (first, skip) = range(node, max_skip)?;
        let filter = match node.arg("where") {
            Some(w) => Some(Pred::<HourCond>::hours(w, tokens).map_err(|e| vec![e])?),
            None => None,
        };
        let (by, desc) = order(node);
        let key = by.and_then(HourKey::named).unwrap_or(HourKey::Id);
        Ok(HourList {
            first,
            skip,
            filter,
            key,
            desc,
        })
    }

    /// Tokens a listed row may belong to.
    pub fn token_mask(&self, count: usize) -> Vec<bool> {
        match &self.filter {
            Some(f) => f.token_mask(count),
            None => vec![true; count],
        }
    }

    /// Hour indexes `[from, to)` a listed row may have.
    pub fn hour_bounds(&self) -> (i64, i64) {
        match &self.filter {
            Some(f) => f.hour_bounds(),
            None => (i64::MIN, i64::MAX),
        }
    }

    /// Whether `row` passes the filter.
    pub fn matches(&self, row: &impl HourRecord) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(row))
    }

    /// The page of `rows` (which must hold every row that passes the filter, and may hold
    /// others): filtered, sorted, `skip`ped and cut to `first`.
    pub fn page<R: HourRecord>(&self, rows: Vec<R>, tokens: &dyn Tokens) -> Vec<R> {
        let rows: Vec<R> = rows.into_iter().filter(|r| self.matches(r)).collect();
        page(rows, self.skip, self.first, self.desc, |a, b| {
            self.key.cmp(a, b, tokens)
        })
    }
}

/// The parts of a `TokenHourData` id, `0x<address>-<hourIndex>`, if it has that shape.
pub fn split_hour_id(id: &str) -> Option<(&str, i64)> {
    let (address, hour) = id.rsplit_once('-')?;
    Some((address, hour.parse().ok()?))
}

/// graph-node's answer to a block the subgraph has not indexed yet.
pub fn not_yet_indexed(deployment: &str, what: &str, head: i64, n: i64) -> QueryError {
    QueryError::ValueParse {
        what: what.to_owned(),
        message: format!(
            "subgraph {deployment} has only indexed up to block number {head} \
             and data for block number {n} is therefore not yet available"
        ),
    }
}
