//! Sync state per token and upstream freshness per network.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query, SubQueryStatement};
use sea_orm::{ActiveValue, ConnectionTrait, DbErr, EntityTrait, QueryOrder};

use super::entity::{sync_state as ss, token_hour_data as thd, upstream_meta};
use super::hours::{Coverage, HourPage, PageOutcome};
use super::query_error;

/// Advances a token's sync state in the transaction that wrote `page`: the cursor
/// (`newest_hour`) is read back from the rows themselves, so it can never run ahead of them.
pub(super) async fn advance(
    conn: &impl ConnectionTrait,
    page: &HourPage<'_>,
    outcome: PageOutcome,
) -> Result<(), DbErr> {
    let stored = |c: ss::Column| Expr::col((ss::Entity, c));
    let excluded = |c: ss::Column| Expr::col((Alias::new("excluded"), c));
    let (covered, covered_from) = match page.coverage {
        Coverage::Unchanged => (None, stored(ss::Column::CoveredFrom)),
        // Coverage only ever moves back, except when a fetch restarts after a hole.
        Coverage::From(h) => (
            Some(h),
            Expr::case(
                stored(ss::Column::CoveredFrom)
                    .is_null()
                    .or(excluded(ss::Column::CoveredFrom).lt(stored(ss::Column::CoveredFrom))),
                excluded(ss::Column::CoveredFrom),
            )
            .finally(stored(ss::Column::CoveredFrom))
            .into(),
        ),
        Coverage::RestartAt(h) => (Some(h), excluded(ss::Column::CoveredFrom)),
    };
    let newest = Query::select()
        .expr(Func::max(Expr::col(thd::Column::PeriodStartUnix)))
        .from(thd::Entity)
        .and_where(Expr::col(thd::Column::Network).eq(page.network))
        .and_where(Expr::col(thd::Column::Address).eq(page.address))
        .to_owned();
    let mut insert = Query::insert();
    insert
        .into_table(ss::Entity)
        .columns([
            ss::Column::Network,
            ss::Column::Address,
            ss::Column::NewestHour,
            ss::Column::CoveredFrom,
            ss::Column::SyncedHead,
            ss::Column::RowsSynced,
        ])
        .values([
            page.network.into(),
            page.address.into(),
            Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(newest))),
            covered.into(),
            page.synced_head.into(),
            ((outcome.inserted + outcome.updated) as i64).into(),
        ])
        .map_err(query_error)?
        .on_conflict(
            OnConflict::columns([ss::Column::Network, ss::Column::Address])
                .update_column(ss::Column::NewestHour)
                .value(
                    ss::Column::SyncedHead,
                    if page.synced_head.is_some() {
                        excluded(ss::Column::SyncedHead)
                    } else {
                        stored(ss::Column::SyncedHead)
                    },
                )
                .value(ss::Column::CoveredFrom, covered_from)
                .value(
                    ss::Column::RowsSynced,
                    stored(ss::Column::RowsSynced).add(excluded(ss::Column::RowsSynced)),
                )
                .to_owned(),
        );
    conn.execute(&insert).await.map(drop)
}

/// How a token's pass ended.
#[derive(Debug, Clone)]
pub enum PassResult<'a> {
    Success,
    Failure(&'a str),
}

/// Records the end of a token's pass: a success clears the last error, a failure keeps the
/// previous success time and stores the reason.
pub async fn record_pass(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
    at: DateTime<Utc>,
    result: PassResult<'_>,
) -> Result<(), DbErr> {
    let mut row = ss::ActiveModel {
        network: ActiveValue::Set(network.to_owned()),
        address: ActiveValue::Set(address.to_owned()),
        last_attempt_at: ActiveValue::Set(Some(at)),
        ..Default::default()
    };
    let updated: Vec<ss::Column> = match result {
        PassResult::Success => {
            row.last_success_at = ActiveValue::Set(Some(at));
            row.last_error = ActiveValue::Set(None);
            row.last_error_at = ActiveValue::Set(None);
            vec![
                ss::Column::LastAttemptAt,
                ss::Column::LastSuccessAt,
                ss::Column::LastError,
                ss::Column::LastErrorAt,
            ]
        }
        PassResult::Failure(reason) => {
            row.last_error = ActiveValue::Set(Some(reason.to_owned()));
            row.last_error_at = ActiveValue::Set(Some(at));
            // The last success stays what it was.
            vec![
                ss::Column::LastAttemptAt,
                ss::Column::LastError,
                ss::Column::LastErrorAt,
            ]
        }
    };
    ss::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([ss::Column::Network, ss::Column::Address])
                .update_columns(updated)
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .map(drop)
}

/// Every token's sync state, ordered by network and address.
pub async fn all_sync_states(conn: &impl ConnectionTrait) -> Result<Vec<ss::Model>, DbErr> {
    ss::Entity::find()
        .order_by_asc(ss::Column::Network)
        .order_by_asc(ss::Column::Address)
        .all(conn)
        .await
}

/// One token's sync state.
pub async fn sync_state(
    conn: &impl ConnectionTrait,
    network: &str,
    address: &str,
) -> Result<Option<ss::Model>, DbErr> {
    ss::Entity::find_by_id((network.to_owned(), address.to_owned()))
        .one(conn)
        .await
}

/// Stores a network's latest `_meta`.
pub async fn save_upstream_meta(
    conn: &impl ConnectionTrait,
    meta: &upstream_meta::Model,
) -> Result<(), DbErr> {
    use upstream_meta::Column as C;
    let row: upstream_meta::ActiveModel = meta.clone().into();
    upstream_meta::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::Network)
                .update_columns([
                    C::BlockNumber,
                    C::BlockHash,
                    C::BlockTimestamp,
                    C::Deployment,
                    C::HasIndexingErrors,
                    C::FetchedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .map(drop)
}

/// One network's latest `_meta`.
pub async fn upstream_meta(
    conn: &impl ConnectionTrait,
    network: &str,
) -> Result<Option<upstream_meta::Model>, DbErr> {
    upstream_meta::Entity::find_by_id(network.to_owned())
        .one(conn)
        .await
}

/// Every network's latest `_meta`.
pub async fn all_upstream_meta(
    conn: &impl ConnectionTrait,
) -> Result<Vec<upstream_meta::Model>, DbErr> {
    upstream_meta::Entity::find()
        .order_by_asc(upstream_meta::Column::Network)
        .all(conn)
        .await
}
