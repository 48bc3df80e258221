//! The drop-in subgraph endpoint's executor: the upstream's own query language
//! ([`tokenmirror_subgraph::query`], the same planner, filters, order, paging and JSON the
//! simulator answers with) over the mirror's tables.
//!
//! A request plans its query, reads the network's tokens (a few rows) and, when asked, its
//! stored `_meta`; each `tokenHourDatas` list is one SQL query ([`crate::db::subgraph`]).
//! What the mirror cannot know is refused rather than guessed: it keeps only the latest state,
//! so a block older than its own and `_change_block` filters get a clear error.
//! What an answer reads is recorded in the request's [`Deps`], so the response cache keeps it
//! until the sync changes that.

mod introspection;

use sea_orm::{ConnectionTrait, DbErr};
use tokenmirror_subgraph::query::fields::{HourField, Kind, RootField, TokenField};
use tokenmirror_subgraph::query::list::{
    not_yet_indexed, split_hour_id, write_token_by_id, write_tokens, HourList,
};
use tokenmirror_subgraph::query::output::{
    write_hour, write_hours, write_meta, Document, MetaInfo,
};
use tokenmirror_subgraph::query::record::{HourRecord, Tokens};
use tokenmirror_subgraph::query::request::Request;
use tokenmirror_subgraph::query::value::V;
use tokenmirror_subgraph::query::{self, Node, QueryError};

use crate::db::entity::{token_metadata as tm, upstream_meta};
use crate::db::hours::{self, Direction::Asc};
use crate::db::subgraph::{list_page, ListedRow};
use crate::db::{state, tokens, Db};
use crate::decimal::Decimal;
use crate::domain::TokenKey;
use crate::feed::{DepKey, Deps};

/// The largest `skip` (the hosted service's, which the simulator also uses by default).
pub const MAX_SKIP: u64 = 5000;

/// Answers `request` on `network` from the mirror: the JSON body graph-node would send with
/// status 200 (its data, or its errors). A database error is returned as such.
/// A query whose lists may together return more than `max_entities` entities (the sum of
/// their `first`) is refused.
pub async fn answer(
    db: &Db,
    network: &str,
    request: &Request,
    deps: Option<&Deps>,
    max_entities: usize,
) -> Result<String, DbErr> {
    if introspection::asks_for(&request.query, request.operation_name.as_deref()) {
        return Ok(introspect(request).await);
    }
    let nodes = match query::plan(
        query::schema::schema(),
        &request.query,
        request.variables.as_ref(),
        request.operation_name.as_deref(),
    ) {
        Ok(nodes) => nodes,
        Err(errors) => return Ok(query::errors_json(&errors)),
    };
    let entities = entities(&nodes);
    if entities > max_entities {
        return Ok(query::errors_json(&[QueryError::Refused(format!(
            "the query may return {entities} entities (the sum of `first` over its lists), \
             more than this server answers at once ({max_entities}, MAX_COMPLEXITY): split it \
             into smaller queries"
        ))]));
    }
    let conn = db.read()?;
    let record = Recorder(deps);
    // `_meta` and `block:` read the stored head; a sync pass changes it.
    let wants_head = nodes
        .iter()
        .any(|n| n.kind == Kind::Root(RootField::Meta) || n.arg("block").is_some());
    let head = if wants_head {
        record.read(DepKey::Status);
        state::upstream_meta(&conn, network).await?
    } else {
        None
    };
    let wants_tokens = nodes
        .iter()
        .any(|n| matches!(n.kind, Kind::Root(f) if f != RootField::Meta));
    let tokens = if wants_tokens {
        record.read(DepKey::TokenList);
        StoredTokens::from_models(tokens::list_metadata(&conn, Some(network)).await?)
    } else {
        StoredTokens(Vec::new())
    };
    let exec = Executor {
        conn: &conn,
        network,
        head: head.as_ref(),
        tokens: &tokens,
        record,
    };
    let mut doc = Document::new();
    for node in &nodes {
        let mut out = String::new();
        match exec.root(node, &mut out).await {
            Ok(Ok(())) => doc.field(&node.key).push_str(&out),
            Ok(Err(errors)) => doc.fail(errors),
            Err(db) => return Err(db),
        }
    }
    Ok(doc
        .finish()
        .unwrap_or_else(|errors| query::errors_json(&errors)))
}

/// An introspection query, answered from the upstream SDL (a query that also asks for data
/// gets nulls there: send introspection on its own, as codegen tools do).
async fn introspect(request: &Request) -> String {
    let Some(schema) = introspection::schema() else {
        return query::errors_json(&[QueryError::Refused(
            "introspection is not available on this server (see its log)".to_owned(),
        )]);
    };
    let mut req = async_graphql::Request::new(request.query.clone());
    if let Some(op) = &request.operation_name {
        req = req.operation_name(op.clone());
    }
    if let Some(vars) = &request.variables {
        req = req.variables(async_graphql::Variables::from_json(
            serde_json::Value::Object(vars.clone()),
        ));
    }
    let resp = schema.execute(req).await;
    serde_json::to_string(&resp).unwrap_or_else(|e| {
        query::errors_json(&[QueryError::Refused(format!(
            "the introspection answer could not be encoded: {e}"
        ))])
    })
}

/// How many entities the lists among the root fields `nodes` may return at most.
fn entities(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|n| match n.kind {
            Kind::Root(RootField::Tokens | RootField::HourDatas) => {
                let first = n.arg("first").and_then(V::as_int).unwrap_or(100);
                usize::try_from(first).unwrap_or(0)
            }
            _ => 0,
        })
        .sum()
}

/// A network's tokens as stored.
struct StoredTokens(Vec<StoredToken>);

struct StoredToken {
    address: String,
    symbol: String,
    name: String,
    /// In [`TokenField`] order, from `decimals` on.
    numbers: [Decimal; 12],
}

impl StoredTokens {
    fn from_models(models: Vec<tm::Model>) -> StoredTokens {
        StoredTokens(
            models
                .into_iter()
                .map(|m| StoredToken {
                    numbers: [
                        m.decimals,
                        m.total_supply,
                        m.volume,
                        m.volume_usd,
                        m.untracked_volume_usd,
                        m.fees_usd,
                        m.tx_count,
                        m.pool_count,
                        m.total_value_locked,
                        m.total_value_locked_usd,
                        m.total_value_locked_usd_untracked,
                        m.derived_eth,
                    ]
                    .map(Decimal::from_stored),
                    address: m.address,
                    symbol: m.symbol,
                    name: m.name,
                })
                .collect(),
        )
    }
}

impl Tokens for StoredTokens {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn address(&self, i: usize) -> &str {
        &self.0[i].address
    }

    fn text(&self, i: usize, field: TokenField) -> Option<&str> {
        let t = &self.0[i];
        match field {
            TokenField::Id => Some(&t.address),
            TokenField::Symbol => Some(&t.symbol),
            TokenField::Name => Some(&t.name),
            _ => None,
        }
    }

    fn number(&self, i: usize, field: TokenField) -> Option<&Decimal> {
        use TokenField::*;
        let k = match field {
            Id | Symbol | Name => return None,
            Decimals => 0,
            TotalSupply => 1,
            Volume => 2,
            VolumeUsd => 3,
            UntrackedVolumeUsd => 4,
            FeesUsd => 5,
            TxCount => 6,
            PoolCount => 7,
            TotalValueLocked => 8,
            TotalValueLockedUsd => 9,
            TotalValueLockedUsdUntracked => 10,
            DerivedEth => 11,
        };
        Some(&self.0[i].numbers[k])
    }

    fn changed_at_block(&self, _: usize) -> i64 {
        // `_change_block` is refused before any filter runs.
        0
    }
}

impl HourRecord for ListedRow {
    fn token(&self) -> usize {
        self.token
    }

    fn period_start(&self) -> i64 {
        self.row.period_start_unix
    }

    fn id(&self) -> &str {
        &self.row.id
    }

    fn number(&self, field: HourField) -> Option<&Decimal> {
        use HourField::*;
        let r = &self.row;
        Some(match field {
            Id | PeriodStartUnix | Token => return None,
            Volume => &r.volume,
            VolumeUsd => &r.volume_usd,
            UntrackedVolumeUsd => &r.untracked_volume_usd,
            TotalValueLocked => &r.total_value_locked,
            TotalValueLockedUsd => &r.total_value_locked_usd,
            PriceUsd => &r.price_usd,
            FeesUsd => &r.fees_usd,
            Open => &r.open,
            High => &r.high,
            Low => &r.low,
            Close => &r.close,
        })
    }

    fn changed_at_block(&self) -> i64 {
        0
    }
}

/// Records what the answer reads, when it may be kept.
#[derive(Clone, Copy)]
struct Recorder<'a>(Option<&'a Deps>);

impl Recorder<'_> {
    fn read(&self, key: DepKey) {
        if let Some(d) = self.0 {
            d.read(&key);
        }
    }
}

/// Where a root field reads: the stored head, and whether its hash may be shown.
struct At {
    number: i64,
    with_hash: bool,
}

struct Executor<'a, C> {
    conn: &'a C,
    network: &'a str,
    head: Option<&'a upstream_meta::Model>,
    tokens: &'a StoredTokens,
    record: Recorder<'a>,
}

impl<C: ConnectionTrait> Executor<'_, C> {
    /// One root field: its value written to `out`, or its errors.
    async fn root(
        &self,
        node: &Node,
        out: &mut String,
    ) -> Result<Result<(), Vec<QueryError>>, DbErr> {
        let Kind::Root(field) = node.kind else {
            out.push_str("\"Query\"");
            return Ok(Ok(()));
        };
        let at = match self.at_block(node.arg("block")) {
            Ok(at) => at,
            Err(e) => return Ok(Err(vec![e])),
        };
        if let Some(e) = node.arg("where").and_then(change_block) {
            return Ok(Err(vec![e]));
        }
        Ok(match field {
            RootField::Meta => self.meta(node, &at, out).map_err(|e| vec![e]),
            RootField::Tokens => write_tokens(out, node, self.tokens, MAX_SKIP),
            RootField::Token => write_token_by_id(out, node, self.tokens).map_err(|e| vec![e]),
            RootField::HourDatas => return self.hours(node, out).await,
            RootField::HourData => {
                self.hour(node, out).await?;
                Ok(())
            }
        })
    }

    /// The mirror's head, or why it has none.
    fn head(&self) -> Result<&upstream_meta::Model, QueryError> {
        self.head.ok_or_else(|| {
            QueryError::Refused(format!(
                "the mirror has not synced network `{}` yet: it has no block to answer `_meta` \
                 or `block:` from; try again after the first sync pass",
                self.network
            ))
        })
    }

    /// Resolves a `block: Block_height` argument against the stored head: the head itself
    /// (by hash or number), or a block not yet synced (graph-node's error); an older one is
    /// refused, since the mirror keeps only the latest state.
    fn at_block(&self, block: Option<&V>) -> Result<At, QueryError> {
        let Some(V::Object(b)) = block else {
            let number = self.head.map_or(0, |h| h.block_number);
            return Ok(At {
                number,
                with_hash: true,
            });
        };
        let head = self.head()?;
        let number = head.block_number;
        let deployment = &head.deployment;
        if let Some(hash) = b.get("hash").and_then(V::as_str) {
            // As graph-node reads a hash: `0x` optional, any case.
            let bare = |h: &str| h.trim_start_matches("0x").to_ascii_lowercase();
            let same = head
                .block_hash
                .as_deref()
                .is_some_and(|h| bare(h) == bare(hash));
            return if same {
                Ok(At {
                    number,
                    with_hash: true,
                })
            } else {
                Err(QueryError::Refused(format!(
                    "block {hash} is not the newest block the mirror has synced (block \
                     {number}): it keeps only the latest state, so it cannot answer as of an \
                     older block; query without `block`, or with `block: {{number_gte: …}}`"
                )))
            };
        }
        if let Some(n) = b.get("number").and_then(V::as_int) {
            if n > number {
                return Err(not_yet_indexed(deployment, "block.number", number, n));
            }
            if n < number {
                return Err(QueryError::Refused(format!(
                    "block {n} is older than the newest block the mirror has synced (block \
                     {number}): it keeps only the latest state, so it cannot answer as of an \
                     older block; query without `block`, or with `block: {{number_gte: {n}}}`"
                )));
            }
            return Ok(At {
                number,
                with_hash: false,
            });
        }
        if let Some(n) = b.get("number_gte").and_then(V::as_int) {
            if n > number {
                return Err(not_yet_indexed(deployment, "block.number_gte", number, n));
            }
        }
        Ok(At {
            number,
            with_hash: true,
        })
    }

    fn meta(&self, node: &Node, at: &At, out: &mut String) -> Result<(), QueryError> {
        let head = self.head()?;
        let meta = MetaInfo {
            number: at.number,
            timestamp: head.block_timestamp,
            hash: head.block_hash.clone().filter(|_| at.with_hash),
            // Not stored: the mirror keeps the head's own hash only.
            parent_hash: None,
            deployment: &head.deployment,
            has_indexing_errors: head.has_indexing_errors,
        };
        write_meta(out, &node.children, &meta);
        Ok(())
    }

    async fn hours(
        &self,
        node: &Node,
        out: &mut String,
    ) -> Result<Result<(), Vec<QueryError>>, DbErr> {
        let list = match HourList::new(node, self.tokens, MAX_SKIP) {
            Ok(list) => list,
            Err(e) => return Ok(Err(e)),
        };
        let mask = list.token_mask(self.tokens.count());
        let addresses: Vec<Option<&str>> = self
            .tokens
            .0
            .iter()
            .zip(&mask)
            .map(|(t, wanted)| wanted.then_some(t.address.as_str()))
            .collect();
        for a in addresses.iter().flatten() {
            self.record
                .read(DepKey::Hours(TokenKey::new(self.network, *a)));
        }
        let rows = list_page(self.conn, self.network, &addresses, &list, self.tokens).await?;
        write_hours(out, &rows, &node.children, self.tokens);
        Ok(Ok(()))
    }

    async fn hour(&self, node: &Node, out: &mut String) -> Result<(), DbErr> {
        let id = node.arg("id").and_then(V::as_str).unwrap_or_default();
        let found = match split_hour_id(id) {
            Some((address, hour)) => {
                match (0..self.tokens.count()).find(|&i| self.tokens.address(i) == address) {
                    Some(token) => {
                        self.record
                            .read(DepKey::Hours(TokenKey::new(self.network, address)));
                        let at = hour.saturating_mul(3600);
                        let (network, conn) = (self.network, self.conn);
                        hours::read_range(
                            conn,
                            network,
                            address,
                            at,
                            at.saturating_add(1),
                            Asc,
                            None,
                        )
                        .await?
                        .pop()
                        .filter(|r| r.id == id)
                        .map(|row| ListedRow { token, row })
                    }
                    None => None,
                }
            }
            None => None,
        };
        match found {
            Some(row) => write_hour(out, &row, &node.children, self.tokens),
            None => out.push_str("null"),
        }
        Ok(())
    }
}

/// The refusal of a `_change_block` filter anywhere in `filter` (nested `and`/`or`/`token_`
/// included): the mirror does not know when each entity last changed.
fn change_block(filter: &V) -> Option<QueryError> {
    let found = match filter {
        V::Object(map) => map.iter().any(|(k, v)| {
            (k == "_change_block" && !matches!(v, V::Null)) || change_block(v).is_some()
        }),
        V::List(items) => items.iter().any(|v| change_block(v).is_some()),
        _ => false,
    };
    found.then(|| {
        QueryError::Refused(
            "`_change_block` filters are not answered here: the mirror keeps only the latest \
             state of each entity, not the block it last changed at; filter on \
             `periodStartUnix` instead"
                .to_owned(),
        )
    })
}
