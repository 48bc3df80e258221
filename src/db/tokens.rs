//! Tracked tokens and their metadata.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};

use super::entity::{token_metadata as tm, tracked_token};
use super::{execute, SqlBuilder};
use crate::decimal::Decimal;

/// The upstream `Token`'s scalar fields, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenMeta {
    /// Lowercase `0x` address (upstream `id`).
    pub address: String,
    pub symbol: String,
    pub name: String,
    pub decimals: Decimal,
    pub total_supply: Decimal,
    pub tx_count: Decimal,
    pub pool_count: Decimal,
    pub volume: Decimal,
    pub volume_usd: Decimal,
    pub untracked_volume_usd: Decimal,
    pub fees_usd: Decimal,
    pub total_value_locked: Decimal,
    pub total_value_locked_usd: Decimal,
    pub total_value_locked_usd_untracked: Decimal,
    pub derived_eth: Decimal,
}

/// The numeric columns of `token_metadata`, in the order of [`TokenMeta::numbers`].
pub const NUMBER_COLUMNS: [&str; 12] = [
    "decimals",
    "total_supply",
    "tx_count",
    "pool_count",
    "volume",
    "volume_usd",
    "untracked_volume_usd",
    "fees_usd",
    "total_value_locked",
    "total_value_locked_usd",
    "total_value_locked_usd_untracked",
    "derived_eth",
];

impl TokenMeta {
    /// The numeric fields, in the order of [`NUMBER_COLUMNS`].
    pub fn numbers(&self) -> [&Decimal; 12] {
        [
            &self.decimals,
            &self.total_supply,
            &self.tx_count,
            &self.pool_count,
            &self.volume,
            &self.volume_usd,
            &self.untracked_volume_usd,
            &self.fees_usd,
            &self.total_value_locked,
            &self.total_value_locked_usd,
            &self.total_value_locked_usd_untracked,
            &self.derived_eth,
        ]
    }
}

/// Inserts or updates the metadata of `tokens` on `network`, fetched at `fetched_at`.
pub async fn upsert_metadata(
    conn: &impl ConnectionTrait,
    network: &str,
    tokens: &[TokenMeta],
    fetched_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if tokens.is_empty() {
        return Ok(());
    }
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql("INSERT INTO token_metadata (network, address, symbol, name, ")
        .sql(&NUMBER_COLUMNS.join(", "))
        .sql(", updated_at) VALUES ");
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            b.sql(", ");
        }
        b.sql("(")
            .param(network)
            .sql(", ")
            .param(t.address.as_str())
            .sql(", ")
            .param(t.symbol.as_str())
            .sql(", ")
            .param(t.name.as_str());
        for n in t.numbers() {
            b.sql(", ").decimal(n.as_str());
        }
        b.sql(", ").param(fetched_at).sql(")");
    }
    b.sql(" ON CONFLICT (network, address) DO UPDATE SET symbol = excluded.symbol, name = excluded.name, updated_at = excluded.updated_at");
    for c in NUMBER_COLUMNS {
        b.sql(&format!(", {c} = excluded.{c}"));
    }
    execute(conn, b).await.map(drop)
}

/// Stored metadata of one token.
pub async fn metadata(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
) -> Result<Option<tm::Model>, DbErr> {
    tm::Entity::find_by_id((network.to_owned(), address.to_owned()))
        .one(conn)
        .await
}

/// Stored metadata of many tokens in one query (keys not in the mirror are absent).
pub async fn metadata_many(
    conn: &impl ConnectionTrait,
    keys: &[(String, String)],
) -> Result<Vec<tm::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let any_key = keys.iter().fold(Condition::any(), |c, (network, address)| {
        c.add(
            Condition::all()
                .add(tm::Column::Network.eq(network.as_str()))
                .add(tm::Column::Address.eq(address.as_str())),
        )
    });
    tm::Entity::find().filter(any_key).all(conn).await
}

/// Stored metadata of every token, or of one network's, ordered by network and address.
pub async fn list_metadata(
    conn: &impl ConnectionTrait,
    network: Option<&str>,
) -> Result<Vec<tm::Model>, DbErr> {
    let mut q = tm::Entity::find();
    if let Some(network) = network {
        q = q.filter(tm::Column::Network.eq(network));
    }
    q.order_by_asc(tm::Column::Network)
        .order_by_asc(tm::Column::Address)
        .all(conn)
        .await
}

/// Records the configured token list, in one transaction: listed tokens become (or stay)
/// active, the others inactive. Their data stays either way.
pub async fn set_tracked(
    conn: &DatabaseConnection,
    tokens: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let tx = conn.begin().await?;
    mark_tracked(&tx, tokens, now).await?;
    tx.commit().await
}

async fn mark_tracked(
    conn: &impl ConnectionTrait,
    tokens: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    execute(conn, {
        let mut b = SqlBuilder::new(conn.get_database_backend());
        b.sql("UPDATE tracked_token SET active = ").param(false);
        b
    })
    .await?;
    for (network, address) in tokens {
        let mut b = SqlBuilder::new(conn.get_database_backend());
        b.sql("INSERT INTO tracked_token (network, address, active, added_at) VALUES (")
            .param(network.as_str())
            .sql(", ")
            .param(address.as_str())
            .sql(", ")
            .param(true)
            .sql(", ")
            .param(now)
            .sql(") ON CONFLICT (network, address) DO UPDATE SET active = excluded.active");
        execute(conn, b).await?;
    }
    Ok(())
}

/// Every token ever tracked, ordered by network and address.
pub async fn tracked(conn: &impl ConnectionTrait) -> Result<Vec<tracked_token::Model>, DbErr> {
    tracked_token::Entity::find()
        .order_by_asc(tracked_token::Column::Network)
        .order_by_asc(tracked_token::Column::Address)
        .all(conn)
        .await
}

/// True when the token is tracked or has metadata.
pub async fn is_known(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
) -> Result<bool, DbErr> {
    let key = (network.to_owned(), address.to_owned());
    if tracked_token::Entity::find_by_id(key.clone())
        .one(conn)
        .await?
        .is_some()
    {
        return Ok(true);
    }
    Ok(metadata(conn, network, address).await?.is_some())
}

/// Every network that has a tracked token or metadata, sorted.
pub async fn networks(conn: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let mut b = SqlBuilder::new(conn.get_database_backend());
    b.sql(
        "SELECT network FROM tracked_token UNION SELECT network FROM token_metadata ORDER BY network",
    );
    conn.query_all_raw(b.build())
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "network"))
        .collect()
}
