//! Tracked tokens and their metadata.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query, UnionType};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder,
};

use super::entity::{token_metadata as tm, tracked_token};
use super::{decimal_value, query_error};
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
pub const NUMBER_COLUMNS: [tm::Column; 12] = [
    tm::Column::Decimals,
    tm::Column::TotalSupply,
    tm::Column::TxCount,
    tm::Column::PoolCount,
    tm::Column::Volume,
    tm::Column::VolumeUsd,
    tm::Column::UntrackedVolumeUsd,
    tm::Column::FeesUsd,
    tm::Column::TotalValueLocked,
    tm::Column::TotalValueLockedUsd,
    tm::Column::TotalValueLockedUsdUntracked,
    tm::Column::DerivedEth,
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
    let backend = conn.get_database_backend();
    let mut columns = vec![
        tm::Column::Network,
        tm::Column::Address,
        tm::Column::Symbol,
        tm::Column::Name,
    ];
    columns.extend(NUMBER_COLUMNS);
    columns.push(tm::Column::UpdatedAt);
    let mut insert = Query::insert();
    insert.into_table(tm::Entity).columns(columns);
    for t in tokens {
        let mut row: Vec<Expr> = vec![
            network.into(),
            t.address.as_str().into(),
            t.symbol.as_str().into(),
            t.name.as_str().into(),
        ];
        row.extend(t.numbers().iter().map(|n| decimal_value(backend, n)));
        row.push(fetched_at.into());
        insert.values(row).map_err(query_error)?;
    }
    insert.on_conflict(
        OnConflict::columns([tm::Column::Network, tm::Column::Address])
            .update_columns([tm::Column::Symbol, tm::Column::Name, tm::Column::UpdatedAt])
            .update_columns(NUMBER_COLUMNS)
            .to_owned(),
    );
    conn.execute(&insert).await.map(drop)
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

/// Records the configured token list: listed tokens become (or stay) active, the others
/// inactive. Their data stays either way. Run it in a transaction, so that the list changes at
/// once.
pub async fn mark_tracked(
    conn: &impl ConnectionTrait,
    tokens: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    tracked_token::Entity::update_many()
        .col_expr(tracked_token::Column::Active, Expr::value(false))
        .exec(conn)
        .await?;
    if tokens.is_empty() {
        return Ok(());
    }
    let rows = tokens
        .iter()
        .map(|(network, address)| tracked_token::ActiveModel {
            network: ActiveValue::Set(network.clone()),
            address: ActiveValue::Set(address.clone()),
            active: ActiveValue::Set(true),
            added_at: ActiveValue::Set(now),
        });
    tracked_token::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                tracked_token::Column::Network,
                tracked_token::Column::Address,
            ])
            .update_column(tracked_token::Column::Active)
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .map(drop)
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
    let mut query = Query::select()
        .column(tracked_token::Column::Network)
        .from(tracked_token::Entity)
        .to_owned();
    query.union(
        UnionType::Distinct,
        Query::select()
            .column(tm::Column::Network)
            .from(tm::Entity)
            .to_owned(),
    );
    let mut networks = conn
        .query_all(&query)
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<Vec<String>, DbErr>>()?;
    networks.sort();
    networks.dedup();
    Ok(networks)
}
