//! Every upstream query, typed with cynic and checked at compile time against
//! `subgraph/upstream.graphql` (the same SDL the simulator serves). Values stay exact strings:
//! `BigDecimal`, `BigInt` and `Bytes` decode into `String` newtypes, never numbers.

#[cynic::schema("uniswap")]
mod schema {}

/// An upstream `BigDecimal`, as written.
#[derive(cynic::Scalar, Debug, Clone)]
#[cynic(graphql_type = "BigDecimal")]
pub struct BigDecimal(pub String);

/// An upstream `BigInt`, as written.
#[derive(cynic::Scalar, Debug, Clone)]
#[cynic(graphql_type = "BigInt")]
pub struct BigInt(pub String);

/// An upstream `Bytes` value: `0x` + hex.
#[derive(cynic::Scalar, Debug, Clone)]
#[cynic(graphql_type = "Bytes")]
pub struct Bytes(pub String);

// ---- _meta ----------------------------------------------------------------------------------

/// `{ _meta { block { number hash timestamp } deployment hasIndexingErrors } }`
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub struct MetaQuery {
    #[cynic(rename = "_meta")]
    pub meta: Option<Meta>,
}

#[derive(cynic::QueryVariables, Debug)]
pub struct MetaAfterVariables {
    /// The block of the previous pass: the head may not be older.
    pub block: i32,
}

/// `_meta` of a head at or after the previous pass's block, so that an indexer lagging behind
/// the one that answered last time cannot roll the mirror back (it answers "not yet
/// available", a transient error).
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "MetaAfterVariables")]
pub struct MetaAfterQuery {
    #[arguments(block: { number_gte: $block })]
    #[cynic(rename = "_meta")]
    pub meta: Option<Meta>,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "_Meta_")]
pub struct Meta {
    pub block: Block,
    pub deployment: String,
    pub has_indexing_errors: bool,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "_Block_")]
pub struct Block {
    pub number: i32,
    pub hash: Option<Bytes>,
    pub timestamp: Option<i32>,
}

// ---- tokens(where: {id_in}) -----------------------------------------------------------------

#[derive(cynic::QueryVariables, Debug)]
pub struct TokensVariables {
    /// Addresses, lowercase.
    pub ids: Option<Vec<Bytes>>,
    /// The block the pass is pinned to.
    pub block: i32,
    pub first: i32,
}

/// Metadata of many tokens at once, at or after the pass's block.
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "TokensVariables")]
pub struct TokensQuery {
    #[arguments(first: $first, where: { id_in: $ids }, block: { number_gte: $block })]
    pub tokens: Vec<Token>,
}

#[derive(cynic::QueryFragment, Debug)]
pub struct Token {
    pub id: Bytes,
    pub symbol: String,
    pub name: String,
    pub decimals: BigInt,
    pub total_supply: BigInt,
    pub tx_count: BigInt,
    pub pool_count: BigInt,
    pub volume: BigDecimal,
    #[cynic(rename = "volumeUSD")]
    pub volume_usd: BigDecimal,
    #[cynic(rename = "untrackedVolumeUSD")]
    pub untracked_volume_usd: BigDecimal,
    #[cynic(rename = "feesUSD")]
    pub fees_usd: BigDecimal,
    pub total_value_locked: BigDecimal,
    #[cynic(rename = "totalValueLockedUSD")]
    pub total_value_locked_usd: BigDecimal,
    #[cynic(rename = "totalValueLockedUSDUntracked")]
    pub total_value_locked_usd_untracked: BigDecimal,
    #[cynic(rename = "derivedETH")]
    pub derived_eth: BigDecimal,
}

// ---- tokenHourDatas -------------------------------------------------------------------------

#[derive(cynic::QueryVariables, Debug)]
pub struct HoursVariables {
    /// The token's address, lowercase.
    pub token: String,
    /// The cursor: first hour (unix seconds) of this page.
    pub from: i32,
    /// Hours from here on are not asked for.
    pub until: i32,
    pub block: i32,
    pub first: i32,
}

/// One page of a token's hourly rows, in time order, paged by a `periodStartUnix` cursor
/// (never `skip`, which the hosted service caps at 5,000).
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "HoursVariables")]
pub struct HoursQuery {
    #[arguments(
        first: $first,
        orderBy: periodStartUnix,
        orderDirection: asc,
        where: { token: $token, periodStartUnix_gte: $from, periodStartUnix_lt: $until },
        block: { number_gte: $block }
    )]
    pub token_hour_datas: Vec<HourData>,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "TokenHourData")]
pub struct HourData {
    pub id: cynic::Id,
    pub period_start_unix: i32,
    pub token: TokenId,
    pub open: BigDecimal,
    pub high: BigDecimal,
    pub low: BigDecimal,
    pub close: BigDecimal,
    #[cynic(rename = "priceUSD")]
    pub price_usd: BigDecimal,
    pub volume: BigDecimal,
    #[cynic(rename = "volumeUSD")]
    pub volume_usd: BigDecimal,
    #[cynic(rename = "untrackedVolumeUSD")]
    pub untracked_volume_usd: BigDecimal,
    #[cynic(rename = "feesUSD")]
    pub fees_usd: BigDecimal,
    pub total_value_locked: BigDecimal,
    #[cynic(rename = "totalValueLockedUSD")]
    pub total_value_locked_usd: BigDecimal,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Token")]
pub struct TokenId {
    pub id: Bytes,
}

#[cfg(test)]
mod tests {
    use cynic::QueryBuilder;

    use super::*;

    #[test]
    fn queries_use_the_upstream_names() {
        let op = HoursQuery::build(HoursVariables {
            token: "0xabc".into(),
            from: 3600,
            until: 7200,
            block: 5,
            first: 1000,
        });
        let q = op.query;
        for part in [
            "tokenHourDatas(",
            "orderBy: periodStartUnix",
            "orderDirection: asc",
            "periodStartUnix_gte: $from",
            "periodStartUnix_lt: $until",
            "number_gte: $block",
        ] {
            assert!(q.contains(part), "{part} missing from {q}");
        }
        let op = TokensQuery::build(TokensVariables {
            ids: Some(vec![]),
            block: 1,
            first: 100,
        });
        assert!(op.query.contains("id_in: $ids"), "{}", op.query);
        assert!(MetaQuery::build(()).query.contains("_meta"));
        let pinned = MetaAfterQuery::build(MetaAfterVariables { block: 7 }).query;
        assert!(
            pinned.contains("_meta(block: {number_gte: $block})"),
            "{pinned}"
        );
    }
}
