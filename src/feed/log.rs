//! The `change_log` table: appending a change inside the writing transaction (with the
//! `NOTIFY` that carries it to other processes on PostgreSQL), and reading what was appended
//! after a position.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use super::change::Record;
use crate::db::entity::change_log::{self, Column as C};

/// The PostgreSQL channel changes are notified on.
pub const CHANNEL: &str = "tokenmirror_changes";

/// Serializes the log's appends on PostgreSQL, so that `seq` follows commit order: the lock is
/// taken just before the append and held until the transaction ends.
const APPEND_LOCK_KEY: i64 = 0x746d_6665_6564_6c6f; // "tmfeedlo"

/// Rows the log keeps; a reader that falls further behind treats everything as changed.
pub const KEEP: i64 = 10_000;

/// Appends `record` in the transaction `tx` (and notifies `CHANNEL` on PostgreSQL, delivered at
/// commit); returns its `seq`.
pub async fn append(tx: &impl ConnectionTrait, record: &Record) -> Result<i64, DbErr> {
    let backend = tx.get_database_backend();
    if backend == DbBackend::Postgres {
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock($1)",
            [APPEND_LOCK_KEY.into()],
        ))
        .await?;
    }
    let row = change_log::ActiveModel {
        seq: ActiveValue::NotSet,
        origin: ActiveValue::Set(record.origin.clone()),
        kind: ActiveValue::Set(record.kind.clone()),
        network: ActiveValue::Set(record.network.clone()),
        address: ActiveValue::Set(record.address.clone()),
        first_hour: ActiveValue::Set(record.first_hour),
        last_hour: ActiveValue::Set(record.last_hour),
        committed_at: ActiveValue::Set(record.committed_at),
    }
    .insert(tx)
    .await?;
    let seq = row.seq;
    if backend == DbBackend::Postgres {
        let payload = serde_json::to_string(&Record {
            seq,
            ..record.clone()
        })
        .map_err(|e| DbErr::Custom(format!("cannot encode a change: {e}")))?;
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    if seq % 1000 == 0 {
        change_log::Entity::delete_many()
            .filter(Expr::col(C::Seq).lte(seq - KEEP))
            .exec(tx)
            .await?;
    }
    Ok(seq)
}

/// The newest position in the log (0 when it is empty).
pub async fn newest(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let newest = change_log::Entity::find()
        .order_by_desc(C::Seq)
        .limit(1)
        .one(conn)
        .await?;
    Ok(newest.map_or(0, |r| r.seq))
}

/// Up to `limit` records after position `after`, oldest first.
pub async fn after(
    conn: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<Record>, DbErr> {
    Ok(change_log::Entity::find()
        .filter(Expr::col(C::Seq).gt(after))
        .order_by_asc(C::Seq)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(Record::from)
        .collect())
}
