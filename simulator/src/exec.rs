//! The simulator's executor: each root field resolved at its block (`block:` argument or the
//! indexed head) over the in-memory model; the query language itself (arguments, filters,
//! order, paging, output) is [`tokenmirror_subgraph::query`], shared with the mirror.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;

use tokenmirror_subgraph::query::fields::{HourField, Kind, RootField, TokenField};
use tokenmirror_subgraph::query::list::{
    not_yet_indexed, split_hour_id, write_token_by_id, write_tokens, HourList,
};
use tokenmirror_subgraph::query::output::{write_hours, write_meta, Document, MetaInfo};
use tokenmirror_subgraph::query::record::{HourRecord, Tokens};
use tokenmirror_subgraph::query::value::V;
use tokenmirror_subgraph::query::{Node, QueryError};
use tokenmirror_subgraph::Decimal;

use super::clock::{block_at, block_hash, block_of_hash, block_time};
use super::market::TokenParams;
use super::rows::{HourRow, Store};
use super::tokens::{self, TokenMeta};

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
    let mut doc = Document::new();
    for node in nodes {
        let out = doc.field(&node.key);
        if let Err(e) = root(world, node, head, out) {
            doc.fail(e);
        }
    }
    doc.finish()
}

/// Where a root field reads: a block number, and whether its hash is known to the client.
struct At {
    number: i64,
    with_hash: bool,
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
            return Err(not_yet_indexed(world.deployment, "block.number", head, n));
        }
        return Ok(At {
            number: n.max(0),
            with_hash: false,
        });
    }
    if let Some(n) = b.get("number_gte").and_then(V::as_int) {
        if n > head {
            return Err(not_yet_indexed(
                world.deployment,
                "block.number_gte",
                head,
                n,
            ));
        }
    }
    Ok(At {
        number: head,
        with_hash: true,
    })
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
            let seed = world.seed;
            let meta = MetaInfo {
                number: at.number,
                timestamp: Some(block_time(at.number)),
                hash: at.with_hash.then(|| block_hash(seed, at.number)),
                parent_hash: (at.with_hash && at.number > 0)
                    .then(|| block_hash(seed, at.number - 1)),
                deployment: world.deployment,
                has_indexing_errors: false,
            };
            write_meta(out, &node.children, &meta);
            Ok(())
        }
        RootField::Tokens => write_tokens(out, node, &view, world.max_skip),
        RootField::Token => write_token_by_id(out, node, &view).map_err(|e| vec![e]),
        RootField::HourDatas => view.hours(node, out),
        RootField::HourData => {
            view.hour(node, out);
            Ok(())
        }
    }
}

/// The data as of one time: the rows and token fields of that moment, computed on demand.
struct View<'a> {
    world: &'a World<'a>,
    /// Unix time the data is as of (a block's timestamp).
    t: i64,
    /// The hour `t` falls in: the live hour.
    hour: i64,
    live: Vec<OnceCell<Option<HourRow>>>,
    metas: Vec<OnceCell<TokenMeta>>,
}

impl Tokens for View<'_> {
    fn count(&self) -> usize {
        self.world.tokens.len()
    }

    fn address(&self, i: usize) -> &str {
        &self.world.tokens[i].address
    }

    fn text(&self, i: usize, field: TokenField) -> Option<&str> {
        tokens::text(&self.world.tokens[i], field)
    }

    fn number(&self, i: usize, field: TokenField) -> Option<&Decimal> {
        self.meta(i).dec(field).map(|d| &d.value)
    }

    fn changed_at_block(&self, i: usize) -> i64 {
        block_at(self.meta(i).last_change)
    }
}

/// A row as served: malformed for the token `--corrupt` names.
struct Served<'a> {
    row: &'a HourRow,
    corrupt: bool,
}

impl HourRecord for HourRow {
    fn token(&self) -> usize {
        self.token as usize
    }

    fn period_start(&self) -> i64 {
        HourRow::period_start(self)
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn number(&self, field: HourField) -> Option<&Decimal> {
        self.dec(field).map(|d| &d.value)
    }

    fn changed_at_block(&self) -> i64 {
        block_at(self.last_event)
    }
}

impl HourRecord for Served<'_> {
    fn token(&self) -> usize {
        self.row.token()
    }

    fn period_start(&self) -> i64 {
        self.row.period_start()
    }

    fn id(&self) -> &str {
        &self.row.id
    }

    fn number(&self, field: HourField) -> Option<&Decimal> {
        HourRecord::number(self.row, field)
    }

    fn changed_at_block(&self) -> i64 {
        HourRecord::changed_at_block(self.row)
    }

    fn served(&self, field: HourField) -> Option<Cow<'_, str>> {
        match field {
            // A malformed upstream row: a decimal in exponent notation.
            HourField::Open if self.corrupt => Some(Cow::Owned(self.row.open.scientific())),
            _ => self.row.dec(field).map(|d| Cow::Borrowed(d.as_str())),
        }
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

    fn served<'r>(&self, row: &'r HourRow) -> Served<'r> {
        Served {
            row,
            corrupt: self.world.corrupt == Some(row.token),
        }
    }

    fn hours(&self, node: &Node, out: &mut String) -> Result<(), Vec<QueryError>> {
        let list = HourList::new(node, self, self.world.max_skip)?;
        let rows = if list.first == 0 {
            Vec::new()
        } else {
            self.candidates(&list)
        };
        let picked: Vec<Served> = list
            .page(rows, self)
            .into_iter()
            .map(|r| self.served(r))
            .collect();
        write_hours(out, &picked, &node.children, self);
        Ok(())
    }

    /// The rows the list may hold: those of the tokens and hours its filter allows (not yet
    /// filtered further), reorged ones left out.
    fn candidates(&self, list: &HourList) -> Vec<&HourRow> {
        let n = self.world.tokens.len();
        let (mask, (lo, hi)) = (list.token_mask(n), list.hour_bounds());
        let store = self.world.store;
        let mut rows = Vec::new();
        for i in (0..n).filter(|&i| mask[i]) {
            let from = lo.max(store.first_hour);
            let to = hi.min(self.hour);
            rows.extend(
                store
                    .rows_between(i, from, to)
                    .iter()
                    .filter(|r| !self.hidden(r)),
            );
            if (lo..hi).contains(&self.hour) {
                rows.extend(self.live(i));
            }
        }
        rows
    }

    fn hour(&self, node: &Node, out: &mut String) {
        let id = node.arg("id").and_then(V::as_str).unwrap_or_default();
        match self.find_hour(id) {
            Some(row) => tokenmirror_subgraph::query::output::write_hour(
                out,
                &self.served(row),
                &node.children,
                self,
            ),
            None => out.push_str("null"),
        }
    }

    /// The row with id `id` (`0x<address>-<hour>`), if it is served at this time.
    fn find_hour(&self, id: &str) -> Option<&HourRow> {
        let (address, hour) = split_hour_id(id)?;
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
