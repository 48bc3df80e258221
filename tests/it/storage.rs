//! The storage layer on both backends: exact decimals, idempotent upserts, transactions.

use chrono::{TimeZone, Utc};
use sea_orm::ConnectionTrait;
use tokenmirror::db::hours::{self, Coverage, Direction, HourPage, HourRow, PageOutcome};
use tokenmirror::db::state::{self, PassResult};
use tokenmirror::db::tokens::{self, TokenMeta};
use tokenmirror::decimal::Decimal;

use crate::support::{on_both_backends, TestDb};

const NET: &str = "sim";
const ADDR: &str = "0x1f9840a85d5af5bf1d1762f925bdaddc4201f984";

/// Values that an inexact store would change: 34 significant digits, tiny, zero, and large
/// integers with trailing zeros; and values on the edges of PostgreSQL's base-10000 digit
/// groups (the sync writes them in binary `COPY`).
const HARD_DECIMALS: [&str; 15] = [
    "0.000000005700524134942485348744488352915677",
    "58338.53440207575247331913887502708",
    "0",
    "340256786836388081269117234195560700000",
    "1234567890123456789012345678901234",
    "-0.0000000000000000000000000000000001234567890123456789012345678901234",
    "9999999999999999999999999999999999000000000000",
    "0.1",
    "-58338.53440207575247331913887502708",
    "1.000000000000000000000000000000001",
    "100",
    "10000",
    "0.0001",
    "-9999.9999",
    "100000000.00000001",
];

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

/// A row for `hour` (an hour index) whose decimals are `HARD_DECIMALS` rotated by `shift`.
fn row(hour: i64, shift: usize) -> HourRow {
    let d = |i: usize| dec(HARD_DECIMALS[(i + shift) % HARD_DECIMALS.len()]);
    HourRow {
        period_start_unix: hour * 3600,
        id: format!("{ADDR}-{hour}"),
        open: d(0),
        high: d(1),
        low: d(2),
        close: d(3),
        price_usd: d(4),
        volume: d(5),
        volume_usd: d(6),
        untracked_volume_usd: d(7),
        fees_usd: d(8),
        total_value_locked: d(9),
        total_value_locked_usd: d(10),
    }
}

fn page<'a>(rows: &'a [HourRow], first_hour: i64, last_hour: Option<i64>) -> HourPage<'a> {
    HourPage {
        network: NET,
        address: ADDR,
        first_hour,
        last_hour,
        rows,
        coverage: Coverage::From(first_hour),
        synced_head: None,
    }
}

async fn stored(t: &TestDb) -> Vec<HourRow> {
    hours::read_range(
        t.db.conn(),
        NET,
        ADDR,
        i64::MIN,
        i64::MAX,
        Direction::Asc,
        None,
    )
    .await
    .unwrap()
}

async fn write(t: &TestDb, p: &HourPage<'_>) -> PageOutcome {
    let tx = t.db.begin_write().await.unwrap();
    let out = hours::write_page(&tx, p).await.unwrap();
    tx.commit().await.unwrap();
    out
}

on_both_backends! {
    decimals_round_trip_exactly => decimals_round_trip_exactly;
    same_page_twice_changes_nothing => same_page_twice_changes_nothing;
    newer_version_replaces_and_vanished_rows_go => newer_version_replaces_and_vanished_rows_go;
    failed_transaction_leaves_nothing => failed_transaction_leaves_nothing;
    metadata_upserts_exactly => metadata_upserts_exactly;
    sync_state_records_passes => sync_state_records_passes;
    migrating_twice_is_harmless => migrating_twice_is_harmless;
    range_reads_in_order => range_reads_in_order;
    daily_rollups_always_equal_their_hours => daily_rollups_always_equal_their_hours;
}

/// Every stored day equals an independent roll-up of its stored hours (exact sums), and no day
/// is stored without hours.
async fn assert_rollups(t: &TestDb, what: &str) {
    use tokenmirror::db::days;
    use tokenmirror_subgraph::rollup::{roll, Sums};
    let hours = stored(t).await;
    let mut want = Vec::new();
    for group in hours.chunk_by(|a, b| a.period_start_unix / 86_400 == b.period_start_unix / 86_400)
    {
        want.push((
            group[0].period_start_unix / 86_400 * 86_400,
            roll(group, Sums::Exact).unwrap(),
        ));
    }
    let got: Vec<_> = days::read(
        t.db.conn(),
        NET,
        ADDR,
        i64::MIN,
        i64::MAX,
        Direction::Asc,
        None,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|d| (d.day_start, d.values))
    .collect();
    assert_eq!(got, want, "{what}");
}

/// Pages that start and end inside days, a newer version, a reorg that empties a day, an
/// open-ended last page: the daily rollups follow, in the same transactions. Then the
/// migration's own fill (run again) gives the same rollups.
async fn daily_rollups_always_equal_their_hours(t: TestDb) {
    let base = 480_000; // an hour index at 00:00 UTC
                        // Three days of hours, some missing, written in pages that cut days in the middle.
    let all: Vec<HourRow> = (base..base + 72)
        .filter(|h| h % 5 != 3)
        .map(|h| row(h, (h % 7) as usize))
        .collect();
    for chunk in all.chunks(17) {
        let first = chunk[0].period_start_unix;
        let last = chunk.last().unwrap().period_start_unix;
        write(&t, &page(chunk, first, Some(last))).await;
        assert_rollups(&t, "after a page").await;
    }
    // A newer version of hours spanning two days.
    let newer: Vec<HourRow> = all
        .iter()
        .filter(|r| (base + 20..base + 30).contains(&(r.period_start_unix / 3600)))
        .map(|r| row(r.period_start_unix / 3600, 3))
        .collect();
    write(
        &t,
        &page(&newer, (base + 20) * 3600, Some((base + 29) * 3600)),
    )
    .await;
    assert_rollups(&t, "after a newer version").await;
    // A reorg empties the second day entirely.
    write(&t, &page(&[], (base + 24) * 3600, Some((base + 47) * 3600))).await;
    assert_rollups(&t, "after a day was emptied").await;
    // An open-ended last page from the middle of the third day: later hours vanish.
    let tail = [row(base + 50, 1), row(base + 52, 2)];
    write(&t, &page(&tail, (base + 50) * 3600, None)).await;
    assert_rollups(&t, "after an open-ended page").await;

    // The migration fills the rollups of hours stored before it existed: the same days.
    use migration::MigratorTrait;
    migration::Migrator::down(t.db.conn(), Some(1))
        .await
        .unwrap();
    migration::Migrator::up(t.db.conn(), None).await.unwrap();
    assert_rollups(&t, "after the migration's fill").await;
}

async fn decimals_round_trip_exactly(t: TestDb) {
    let rows: Vec<HourRow> = (0..HARD_DECIMALS.len())
        .map(|i| row(480_000 + i as i64, i))
        .collect();
    let first = rows[0].period_start_unix;
    write(&t, &page(&rows, first, None)).await;
    let back = stored(&t).await;
    assert_eq!(back, rows);
    // Every hard value went through every column.
    for (i, r) in back.iter().enumerate() {
        for (j, d) in r.decimals().iter().enumerate() {
            assert_eq!(d.as_str(), HARD_DECIMALS[(i + j) % HARD_DECIMALS.len()]);
        }
    }
}

async fn same_page_twice_changes_nothing(t: TestDb) {
    let rows: Vec<HourRow> = (0..50).map(|i| row(480_000 + i, i as usize)).collect();
    let p = page(&rows, 480_000 * 3600, None);
    let first = write(&t, &p).await;
    assert_eq!(
        first,
        PageOutcome {
            inserted: 50,
            updated: 0,
            deleted: 0
        }
    );
    let state_before = state::sync_state(t.db.conn(), NET, ADDR).await.unwrap();
    let second = write(&t, &p).await;
    assert_eq!(second, PageOutcome::default());
    assert_eq!(stored(&t).await, rows);
    let state_after = state::sync_state(t.db.conn(), NET, ADDR).await.unwrap();
    assert_eq!(state_before, state_after);
    let s = state_after.unwrap();
    assert_eq!(s.newest_hour, Some((480_000 + 49) * 3600));
    assert_eq!(s.rows_synced, 50);
}

async fn newer_version_replaces_and_vanished_rows_go(t: TestDb) {
    let rows: Vec<HourRow> = (0..10).map(|i| row(480_000 + i, 0)).collect();
    write(&t, &page(&rows, 480_000 * 3600, None)).await;

    // The upstream changed hour 3 and no longer has hours 5 and 9 (a reorg).
    let mut newer: Vec<HourRow> = rows.clone();
    newer[3].close = dec("42.5");
    newer.retain(|r| r.period_start_unix != (480_000 + 5) * 3600);
    newer.retain(|r| r.period_start_unix != (480_000 + 9) * 3600);
    // A page covering hours 2..=9 only: rows outside the span are not touched.
    let span: Vec<HourRow> = newer
        .iter()
        .filter(|r| r.period_start_unix >= (480_000 + 2) * 3600)
        .cloned()
        .collect();
    let out = write(
        &t,
        &page(&span, (480_000 + 2) * 3600, Some((480_000 + 9) * 3600)),
    )
    .await;
    assert_eq!(
        out,
        PageOutcome {
            inserted: 0,
            updated: 1,
            deleted: 2
        }
    );
    assert_eq!(stored(&t).await, newer);
    let s = state::sync_state(t.db.conn(), NET, ADDR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.newest_hour,
        Some((480_000 + 8) * 3600),
        "cursor follows the rows"
    );
    assert_eq!(
        s.covered_from,
        Some(480_000 * 3600),
        "covered_from only moves back"
    );
}

async fn failed_transaction_leaves_nothing(t: TestDb) {
    let rows: Vec<HourRow> = (0..20).map(|i| row(480_000 + i, 1)).collect();
    let tx = t.db.begin_write().await.unwrap();
    hours::write_page(&tx, &page(&rows, 480_000 * 3600, None))
        .await
        .unwrap();
    tokens::upsert_metadata(&tx, NET, &[meta("A")], Utc::now())
        .await
        .unwrap();
    // The next statement of the transaction fails; the transaction is abandoned.
    let failed = tx
        .execute_unprepared("INSERT INTO no_such_table VALUES (1)")
        .await;
    assert!(failed.is_err());
    drop(tx);

    assert!(stored(&t).await.is_empty(), "no rows survive");
    assert_eq!(
        state::sync_state(t.db.conn(), NET, ADDR).await.unwrap(),
        None
    );
    assert_eq!(
        tokens::metadata(t.db.conn(), NET, ADDR).await.unwrap(),
        None
    );

    // A write abandoned by an early return rolls back as well.
    async fn abandoned(t: &TestDb, rows: &[HourRow]) -> Result<(), sea_orm::DbErr> {
        let tx = t.db.begin_write().await?;
        hours::write_page(&tx, &page(rows, 480_000 * 3600, None)).await?;
        Err(sea_orm::DbErr::Custom("abort mid-way".into()))
    }
    let result = abandoned(&t, &rows).await;
    assert!(result.is_err());
    assert!(stored(&t).await.is_empty());
}

fn meta(symbol: &str) -> TokenMeta {
    TokenMeta {
        address: ADDR.to_owned(),
        symbol: symbol.to_owned(),
        name: format!("Simulated {symbol} ✓ \"quoted\""),
        decimals: dec("18"),
        total_supply: dec(
            "115792089237316195423570985008687907853269984665640564039457584007913129639935",
        ),
        tx_count: dec("0"),
        pool_count: dec("1200"),
        volume: dec(HARD_DECIMALS[0]),
        volume_usd: dec(HARD_DECIMALS[1]),
        untracked_volume_usd: dec(HARD_DECIMALS[3]),
        fees_usd: dec(HARD_DECIMALS[4]),
        total_value_locked: dec(HARD_DECIMALS[5]),
        total_value_locked_usd: dec(HARD_DECIMALS[6]),
        total_value_locked_usd_untracked: dec(HARD_DECIMALS[9]),
        derived_eth: dec(HARD_DECIMALS[8]),
    }
}

async fn metadata_upserts_exactly(t: TestDb) {
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let m = meta("UNI");
    tokens::upsert_metadata(t.db.conn(), NET, std::slice::from_ref(&m), at)
        .await
        .unwrap();
    tokens::upsert_metadata(t.db.conn(), NET, std::slice::from_ref(&m), at)
        .await
        .unwrap();
    let back = tokens::metadata(t.db.conn(), NET, ADDR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.symbol, "UNI");
    assert_eq!(back.name, m.name);
    assert_eq!(back.total_supply, m.total_supply.as_str());
    assert_eq!(back.volume, HARD_DECIMALS[0]);
    assert_eq!(back.derived_eth, HARD_DECIMALS[8]);
    assert_eq!(back.updated_at, at);

    let mut newer = meta("UNI2");
    newer.tx_count = dec("7");
    tokens::upsert_metadata(t.db.conn(), NET, &[newer], at)
        .await
        .unwrap();
    let all = tokens::list_metadata(t.db.conn(), None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].symbol.as_str(), all[0].tx_count.as_str()),
        ("UNI2", "7")
    );
    assert!(tokens::list_metadata(t.db.conn(), Some("other"))
        .await
        .unwrap()
        .is_empty());
    let many = tokens::metadata_many(
        t.db.conn(),
        &[
            (NET.to_owned(), ADDR.to_owned()),
            ("other".to_owned(), ADDR.to_owned()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(many.len(), 1);
}

async fn sync_state_records_passes(t: TestDb) {
    let t1 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let t2 = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
    let c = t.db.conn();
    state::record_pass(c, NET, ADDR, t1, PassResult::Success)
        .await
        .unwrap();
    state::record_pass(
        c,
        NET,
        ADDR,
        t2,
        PassResult::Failure("row 0x…-1 has open \"1e5\""),
    )
    .await
    .unwrap();
    let s = state::sync_state(c, NET, ADDR).await.unwrap().unwrap();
    assert_eq!(s.last_success_at, Some(t1));
    assert_eq!(s.last_error.as_deref(), Some("row 0x…-1 has open \"1e5\""));
    assert_eq!(s.last_error_at, Some(t2));
    state::record_pass(c, NET, ADDR, t2, PassResult::Success)
        .await
        .unwrap();
    let s = state::sync_state(c, NET, ADDR).await.unwrap().unwrap();
    assert_eq!((s.last_success_at, s.last_error), (Some(t2), None));

    tokens::mark_tracked(c, &[(NET.into(), ADDR.into())], t1)
        .await
        .unwrap();
    tokens::mark_tracked(c, &[], t2).await.unwrap();
    let tracked = tokens::tracked(c).await.unwrap();
    assert_eq!(tracked.len(), 1);
    assert!(!tracked[0].active);
    assert_eq!(tracked[0].added_at, t1);
}

async fn migrating_twice_is_harmless(t: TestDb) {
    let rows = vec![row(480_000, 0)];
    write(&t, &page(&rows, 480_000 * 3600, None)).await;
    t.db.migrate().await.unwrap();
    assert!(t.db.is_ready().await);
    assert_eq!(stored(&t).await, rows);
}

async fn range_reads_in_order(t: TestDb) {
    // Every third hour is a gap.
    let rows: Vec<HourRow> = (0..30)
        .filter(|i| i % 3 != 0)
        .map(|i| row(480_000 + i, 2))
        .collect();
    write(&t, &page(&rows, 480_000 * 3600, None)).await;
    let c = t.db.conn();
    let from = (480_000 + 4) * 3600;
    let to = (480_000 + 10) * 3600;
    let asc = hours::read_range(c, NET, ADDR, from, to, Direction::Asc, None)
        .await
        .unwrap();
    let hours_of = |v: &[HourRow]| -> Vec<i64> {
        v.iter()
            .map(|r| r.period_start_unix / 3600 - 480_000)
            .collect()
    };
    assert_eq!(hours_of(&asc), vec![4, 5, 7, 8]);
    let desc = hours::read_range(c, NET, ADDR, from, to, Direction::Desc, Some(3))
        .await
        .unwrap();
    assert_eq!(hours_of(&desc), vec![8, 7, 5]);
    let before = hours::last_before(c, NET, ADDR, (480_000 + 7) * 3600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.period_start_unix, (480_000 + 5) * 3600);
    assert!(hours::last_before(c, NET, "0x00", i64::MAX)
        .await
        .unwrap()
        .is_none());
}

/// SQLite out of space: the write that meets the full disk fails whole, and the next write, with
/// space again, goes through (the failed one's connection is closed, not returned to the pool
/// inside its transaction). `scripts/chaos` and `chaos::sqlite_on_a_full_disk` run it on a
/// real full file system, where the `COMMIT` itself fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_one_write_not_the_next() {
    let t = TestDb::sqlite().await;
    let before: Vec<HourRow> = (0..10).map(|i| row(480_000 + i, 2)).collect();
    write(&t, &page(&before, 480_000 * 3600, Some(480_009 * 3600))).await;

    // This connection's file may not grow: the disk is full for it.
    let tx = t.db.begin_write().await.unwrap();
    let pages = tx
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA page_count",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    tx.execute_unprepared(&format!("PRAGMA max_page_count = {pages}"))
        .await
        .unwrap();
    let big: Vec<HourRow> = (0..3000).map(|i| row(490_000 + i, 1)).collect();
    let failed = async {
        hours::write_page(&tx, &page(&big, 490_000 * 3600, None)).await?;
        tx.commit().await
    }
    .await;
    let err = failed
        .expect_err("the write meets the full disk")
        .to_string();
    assert!(err.contains("full"), "{err}");

    // Space again (another connection): the next writes and reads go through.
    let after: Vec<HourRow> = (0..5).map(|i| row(500_000 + i, 3)).collect();
    for _ in 0..3 {
        write(&t, &page(&after, 500_000 * 3600, Some(500_004 * 3600))).await;
    }
    let all = stored(&t).await;
    assert_eq!(
        all.len(),
        before.len() + after.len(),
        "nothing of the failed write"
    );
}
