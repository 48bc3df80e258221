//! Executing a plan: each root field resolved at its block (`block:` argument or the indexed
//! head), filtered, sorted and paged; [`super::output`] writes the answer.

use std::cell::OnceCell;
use std::collections::HashSet;

use super::clock::{block_of_hash, block_time};
use super::error::QueryError;
use super::fields::{Kind, RootField, TokenField};
use super::filter::{HourCond, Pred, TokenCond, TokenSource};
use super::market::TokenParams;
use super::ops::decode_hex;
use super::order::{cmp_tokens, page, HourKey};
use super::output::write_key;
use super::plan::Node;
use super::rows::{HourRow, Store};
use super::tokens::TokenMeta;
use super::value::V;

/// Largest `first`.
pub const MAX_FIRST: i64 = 1000;

/// Everything a query reads, borrowed for the time of one request.
pub struct World<'a> {
    pub seed: u64,
    pub tokens: &'a [TokenParams],
    pub deployment: &'a str,
    /// Index of the token whose hourly rows are served malformed.
    pub corrupt: Option<u32>,
    pub max_skip: u64,
    /// `--history` in seconds.
    pub history: i64,
    pub store: &'a Store,
    /// `(token, hour)` rows removed by a simulated reorg.
    pub hidden: &'a HashSet<(u32, i64)>,
}

/// Runs the root fields `nodes` with the indexed head at block `head`; the answer is the whole
/// `{"data":…}` document, or the errors (graph-node then sends no data at all).
pub fn execute(world: &World, nodes: &[Node], head: i64) -> Result<String, Vec<QueryError>> {
    let mut out = String::with_capacity(4096);
    out.push_str("{\"data\":{");
    let mut errors = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_key(&mut out, &node.key);
        if let Err(e) = root(world, node, head, &mut out) {
            errors.extend(e);
        }
    }
    out.push_str("}}");
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Where a root field reads: a block number, and whether its hash is known to the client.
pub(super) struct At {
    pub(super) number: i64,
    pub(super) with_hash: bool,
}

/// Resolves a `block: Block_height` argument against the indexed head.
fn at_block(world: &World, head: i64, block: Option<&V>) -> Result<At, QueryError> {
    let Some(V::Object(b)) = block else {
        return Ok(At {
            number: head,
            with_hash: true,
        });
    };
    if let Some(hash) = b.get("hash").and_then(V::as_str) {
        return match block_of_hash(world.seed, hash) {
            Some(n) if n <= head => Ok(At {
                number: n,
                with_hash: true,
            }),
            _ => Err(QueryError::ValueParse {
                what: "block.hash".to_owned(),
                message: "no block with that hash found".to_owned(),
            }),
        };
    }
    if let Some(n) = b.get("number").and_then(V::as_int) {
        if n > head {
            return Err(not_yet_indexed(world, "block.number", head, n));
        }
        return Ok(At {
            number: n.max(0),
            with_hash: false,
        });
    }
    if let Some(n) = b.get("number_gte").and_then(V::as_int) {
        if n > head {
            return Err(not_yet_indexed(world, "block.number_gte", head, n));
        }
    }
    Ok(At {
        number: head,
        with_hash: true,
    })
}

/// graph-node's answer to a block the subgraph has not indexed yet.
fn not_yet_indexed(world: &World, what: &str, head: i64, n: i64) -> QueryError {
    QueryError::ValueParse {
        what: what.to_owned(),
        message: format!(
            "subgraph {} has only indexed up to block number {head} \
             and data for block number {n} is therefore not yet available",
            world.deployment
        ),
    }
}

fn root(world: &World, node: &Node, head: i64, out: &mut String) -> Result<(), Vec<QueryError>> {
    let Kind::Root(field) = node.kind else {
        out.push_str("\"Query\"");
        return Ok(());
    };
    let at = at_block(world, head, node.arg("block")).map_err(|e| vec![e])?;
    let view = View::new(world, block_time(at.number));
    match field {
        RootField::Meta => {
            view.write_meta(out, &node.children, &at);
            Ok(())
        }
        RootField::Tokens => view.tokens(node, out),
        RootField::Token => view.token(node, out).map_err(|e| vec![e]),
        RootField::HourDatas => view.hours(node, out),
        RootField::HourData => {
            view.hour(node, out);
            Ok(())
        }
    }
}

/// The data as of one time: the rows and token fields of that moment, computed on demand.
pub(super) struct View<'a> {
    pub(super) world: &'a World<'a>,
    /// Unix time the data is as of (a block's timestamp).
    t: i64,
    /// The hour `t` falls in: the live hour.
    hour: i64,
    live: Vec<OnceCell<Option<HourRow>>>,
    metas: Vec<OnceCell<TokenMeta>>,
}

impl TokenSource for View<'_> {
    fn params(&self) -> &[TokenParams] {
        self.world.tokens
    }

    fn meta(&self, i: usize) -> &TokenMeta {
        self.metas[i].get_or_init(|| {
            let p = &self.world.tokens[i];
            TokenMeta::at(
                self.world.seed,
                p,
                self.world.store,
                self.t,
                self.live(i),
                self.world.history,
            )
        })
    }
}

impl<'a> View<'a> {
    fn new(world: &'a World<'a>, t: i64) -> View<'a> {
        let n = world.tokens.len();
        View {
            world,
            t,
            hour: t.div_euclid(3600),
            live: (0..n).map(|_| OnceCell::new()).collect(),
            metas: (0..n).map(|_| OnceCell::new()).collect(),
        }
    }

    /// Token `i`'s row for the live hour, if it has one (and it is not hidden).
    fn live(&self, i: usize) -> Option<&HourRow> {
        self.live[i]
            .get_or_init(|| {
                let p = &self.world.tokens[i];
                self.world.store.live_row(p, self.hour, self.t)
            })
            .as_ref()
            .filter(|r| !self.hidden(r))
    }

    fn hidden(&self, row: &HourRow) -> bool {
        !self.world.hidden.is_empty() && self.world.hidden.contains(&(row.token, row.hour))
    }

    /// `first` and `skip`, checked against their ranges (both errors when both are wrong).
    fn range(&self, node: &Node) -> Result<(usize, usize), Vec<QueryError>> {
        let first = node.arg("first").and_then(V::as_int).unwrap_or(100);
        let skip = node.arg("skip").and_then(V::as_int).unwrap_or(0);
        let max_skip = i64::try_from(self.world.max_skip).unwrap_or(i64::MAX);
        let mut errors = Vec::new();
        if !(0..=MAX_FIRST).contains(&first) {
            errors.push(QueryError::Range {
                arg: "first",
                max: MAX_FIRST as u64,
                actual: first,
            });
        }
        if !(0..=max_skip).contains(&skip) {
            errors.push(QueryError::Range {
                arg: "skip",
                max: self.world.max_skip,
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
    fn order<'n>(&self, node: &'n Node) -> (Option<&'n str>, bool) {
        let by = node.arg("orderBy").and_then(V::as_str);
        let desc = by.is_some() && node.arg("orderDirection").and_then(V::as_str) == Some("desc");
        (by, desc)
    }

    fn tokens(&self, node: &Node, out: &mut String) -> Result<(), Vec<QueryError>> {
        let (first, skip) = self.range(node)?;
        let filter = match node.arg("where") {
            Some(w) => Some(Pred::<TokenCond>::tokens(w).map_err(|e| vec![e])?),
            None => None,
        };
        let (by, desc) = self.order(node);
        let field = by.and_then(TokenField::named).unwrap_or(TokenField::Id);
        let matching: Vec<usize> = (0..self.world.tokens.len())
            .filter(|&i| filter.as_ref().is_none_or(|f| f.matches(i, self)))
            .collect();
        let picked = page(matching, skip, first, desc, |a, b| {
            cmp_tokens(field, *a, *b, self)
        });
        out.push('[');
        for (k, i) in picked.into_iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            self.write_token(out, i, &node.children);
        }
        out.push(']');
        Ok(())
    }

    fn token(&self, node: &Node, out: &mut String) -> Result<(), QueryError> {
        let id = node.arg("id").and_then(V::as_str).unwrap_or_default();
        let bytes = decode_hex(id).map_err(QueryError::bytes)?;
        let found = self
            .world
            .tokens
            .iter()
            .position(|p| decode_hex(&p.address).is_ok_and(|a| a == bytes));
        match found {
            Some(i) => self.write_token(out, i, &node.children),
            None => out.push_str("null"),
        }
        Ok(())
    }

    fn hours(&self, node: &Node, out: &mut String) -> Result<(), Vec<QueryError>> {
        let (first, skip) = self.range(node)?;
        let filter = match node.arg("where") {
            Some(w) => Some(Pred::<HourCond>::hours(w, self).map_err(|e| vec![e])?),
            None => None,
        };
        let (by, desc) = self.order(node);
        let key = by.and_then(HourKey::named).unwrap_or(HourKey::Id);
        let rows = if first == 0 {
            Vec::new()
        } else {
            self.candidates(filter.as_ref())
        };
        let picked = page(rows, skip, first, desc, |a, b| key.cmp(a, b, self));
        out.reserve(picked.len() * 64 * (node.children.len() + 1));
        out.push('[');
        for (k, row) in picked.into_iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            self.write_hour(out, row, &node.children);
        }
        out.push(']');
        Ok(())
    }

    /// The rows passing `filter`, using its token mask and hour bounds to skip the rest.
    fn candidates(&self, filter: Option<&Pred<HourCond>>) -> Vec<&HourRow> {
        let n = self.world.tokens.len();
        let (mask, (lo, hi)) = match filter {
            Some(f) => (f.token_mask(n), f.hour_bounds()),
            None => (vec![true; n], (i64::MIN, i64::MAX)),
        };
        let store = self.world.store;
        let passes = |r: &&HourRow| !self.hidden(r) && filter.is_none_or(|f| f.matches(r));
        let mut rows = Vec::new();
        for i in (0..n).filter(|&i| mask[i]) {
            let from = lo.max(store.first_hour);
            let to = hi.min(self.hour);
            rows.extend(store.rows_between(i, from, to).iter().filter(|r| passes(r)));
            if (lo..hi).contains(&self.hour) {
                rows.extend(self.live(i).filter(|r| passes(r)));
            }
        }
        rows
    }

    fn hour(&self, node: &Node, out: &mut String) {
        let id = node.arg("id").and_then(V::as_str).unwrap_or_default();
        match self.find_hour(id) {
            Some(row) => self.write_hour(out, row, &node.children),
            None => out.push_str("null"),
        }
    }

    /// The row with id `id` (`0x<address>-<hour>`), if it is served at this time.
    fn find_hour(&self, id: &str) -> Option<&HourRow> {
        let (address, hour) = id.rsplit_once('-')?;
        let hour: i64 = hour.parse().ok()?;
        let i = self
            .world
            .tokens
            .iter()
            .position(|p| p.address == address)?;
        let row = if hour < self.hour {
            self.world.store.rows_between(i, hour, hour + 1).first()
        } else if hour == self.hour {
            self.live(i)
        } else {
            None
        }?;
        (*row.id == *id && !self.hidden(row)).then_some(row)
    }
}
