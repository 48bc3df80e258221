//! The clock: a frozen one, the live hour, the history window, token totals over time, `_meta`
//! and `block` constraints.

use crate::support::*;

#[tokio::test]
async fn a_frozen_clock_serves_a_fixed_state() {
    let up = start(args(2)).await;
    assert_eq!(up.sim().now(), NOW);
    let q = "{ _meta { block { number timestamp } } tokenHourDatas(first: 1, orderBy: periodStartUnix, orderDirection: desc) { id close volume } }";
    let a = up.post_raw(q, json!({})).await.1;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(up.post_raw(q, json!({})).await.1, a);
    assert_eq!(up.sim().now(), NOW);
    up.handle.stop().await;

    // A running clock moves (here 3600 times as fast as the wall clock).
    let mut running = args(1);
    running.now = None;
    running.speed = 3600.0;
    let up = start(running).await;
    let t0 = up.sim().now();
    let b0 = up.data("{ _meta { block { number } } }").await["_meta"]["block"]["number"]
        .as_i64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(up.sim().now() >= t0 + 600);
    let b1 = up.data("{ _meta { block { number } } }").await["_meta"]["block"]["number"]
        .as_i64()
        .unwrap();
    assert!(b1 >= b0 + 50, "{b0} -> {b1}");
    up.handle.stop().await;
}

#[tokio::test]
async fn the_live_hour_grows_and_new_hours_appear() {
    let up = start(args(2)).await;
    let token = up.tokens()[0].clone(); // many trades per hour, few gaps
    let row_at = |hour: i64| {
        let q = format!(
            r#"{{ tokenHourData(id: "{token}-{hour}") {{ open high low close volume volumeUSD feesUSD }} }}"#
        );
        let up = &up;
        async move { up.data(&q).await["tokenHourData"].clone() }
    };
    // Find an hour after the frozen clock whose row exists once the hour is over.
    let mut hour = NOW.div_euclid(3600) + 1;
    for _ in 0..48 {
        up.sim().set_now(hour * 3600 + 3599);
        if !row_at(hour).await.is_null() {
            break;
        }
        hour += 1;
    }
    assert!(!row_at(hour).await.is_null(), "no traded hour in two days");
    let mut snapshots = Vec::new();
    for offset in [0, 900, 1800, 2700, 3599] {
        up.sim().set_now(hour * 3600 + offset);
        snapshots.push(row_at(hour).await);
    }
    let present: Vec<&Value> = snapshots.iter().filter(|s| !s.is_null()).collect();
    assert!(present.len() >= 3, "{snapshots:?}");
    for w in present.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert_eq!(
            a["open"], b["open"],
            "open is fixed once the hour has a row"
        );
        assert!(dec(&b["high"]) >= dec(&a["high"]) && dec(&b["low"]) <= dec(&a["low"]));
        for f in ["volume", "volumeUSD", "feesUSD"] {
            assert!(dec(&b[f]) >= dec(&a[f]), "{f}");
        }
    }
    assert_ne!(
        present.first(),
        present.last(),
        "the live row changed as the clock moved"
    );
    // Past the hour, it is final, and the next hour's row shows up once its first event happened.
    up.sim().set_now((hour + 3) * 3600 + 3599);
    assert_eq!(&row_at(hour).await, present.last().copied().unwrap());
    let before = up.latest_hour(&token).await;
    up.sim().set_now((hour + 30) * 3600);
    let after = up.latest_hour(&token).await;
    assert!(after > before, "{before:?} -> {after:?}");
    // And back: rows of hours after the clock are not served.
    up.sim().set_now(hour * 3600 - 1);
    assert!(row_at(hour).await.is_null());
    up.handle.stop().await;
}

/// Rows exist exactly for the hours starting in `[now - history, now]`, and that window moves
/// with the clock (forward, and back again).
#[tokio::test]
async fn the_history_window_follows_the_clock() {
    const HOUR: i64 = 3600;
    // The first hour starting at or after `now - history`.
    let window_start = |now: i64, days: i64| {
        let start = now - days * DAY as i64;
        start.div_euclid(HOUR) * HOUR + if start % HOUR == 0 { 0 } else { HOUR }
    };
    let up = start(args(2)).await;
    let token = up.tokens()[0].clone();
    let oldest = |now: i64| {
        let up = &up;
        let token = token.clone();
        async move {
            up.sim().set_now(now);
            let rows = up.all_rows(&token, "id").await;
            let first = rows[0]["periodStartUnix"].as_i64().unwrap();
            let last = rows.last().unwrap()["periodStartUnix"].as_i64().unwrap();
            (first, last, rows.len() as i64)
        }
    };
    assert_ne!(NOW % HOUR, 0, "the test needs a clock inside an hour");
    for now in [NOW, NOW + 3 * DAY as i64 + 1234, NOW - 5 * DAY as i64, NOW] {
        let (first, last, n) = oldest(now).await;
        let start = window_start(now, 2);
        assert!(
            first >= start,
            "a row before the window at {now}: {first} < {start}"
        );
        assert!(
            first < start + 12 * HOUR,
            "the window starts late at {now}: {first}"
        );
        assert!(last <= now && n <= 49, "at {now}: last {last}, {n} rows");
        // The hour holding `now - history` started before it: it is not served.
        let q = format!(
            r#"{{ tokenHourData(id: "{token}-{}") {{ id }} }}"#,
            (start - HOUR) / HOUR
        );
        assert!(up.data(&q).await["tokenHourData"].is_null(), "{q}");
    }
    up.handle.stop().await;
}

/// Filter values are rounded to 34 significant digits before they are compared, as graph-node
/// reads every BigDecimal: a longer value matches the served row it rounds to.
#[tokio::test]
async fn long_decimal_filter_values_are_rounded_like_graph_node() {
    let up = start(args(2)).await;
    let token = up.tokens()[0].clone();
    let rows = up.all_rows(&token, "id close").await;
    let row = rows
        .iter()
        .find(|r| {
            let c = r["close"].as_str().unwrap();
            c.contains('.') && c.trim_start_matches(['0', '.']).replace('.', "").len() == 34
        })
        .expect("a close with 34 significant digits");
    let close = row["close"].as_str().unwrap();
    let ids = |op: &str, value: String| {
        let q = format!(
            r#"{{ tokenHourDatas(first: 1000, where: {{token: "{token}", {op}: "{value}"}}) {{ id }} }}"#
        );
        let up = &up;
        async move { ids(&up.data(&q).await["tokenHourDatas"]) }
    };
    let id = row["id"].as_str().unwrap().to_owned();
    // A 35th digit below 5 rounds down to the served value; 5 and above rounds up past it.
    assert_eq!(ids("close", format!("{close}4")).await, vec![id.clone()]);
    assert!(!ids("close_lt", format!("{close}4")).await.contains(&id));
    assert!(ids("close", format!("{close}5")).await.is_empty());
    assert!(ids("close_lt", format!("{close}5")).await.contains(&id));
    up.handle.stop().await;
}

/// A token's running totals are never below what its own served hourly rows add up to, even
/// when the clock is before Uniswap v3's launch.
#[tokio::test]
async fn token_totals_cover_the_served_rows() {
    for now in [1_600_000_000, NOW] {
        let mut a = args(3);
        a.now = Some(now);
        let up = start(a).await;
        let totals = up.data("{ tokens { id volumeUSD feesUSD txCount } }").await;
        for t in totals["tokens"].as_array().unwrap() {
            let token = t["id"].as_str().unwrap();
            let rows = up.all_rows(token, "volumeUSD feesUSD").await;
            assert!(!rows.is_empty());
            for f in ["volumeUSD", "feesUSD"] {
                let sum: BigDecimal = rows.iter().map(|r| dec(&r[f])).sum();
                assert!(dec(&t[f]) >= sum, "{token} {f} at {now}: {} < {sum}", t[f]);
            }
            assert!(dec(&t["txCount"]) >= rows.len() as u64);
        }
        up.handle.stop().await;
    }
}

/// A token's totals change only with its events: through an hour without any (a gap), they
/// stay as they were.
#[tokio::test]
async fn token_totals_change_only_with_events() {
    let up = start(args(3)).await;
    let token = up.tokens()[2].clone();
    let rows = up.all_rows(&token, "id").await;
    let hours: Vec<i64> = rows
        .iter()
        .map(|r| r["periodStartUnix"].as_i64().unwrap())
        .collect();
    let gap = hours
        .windows(2)
        .find(|w| w[1] - w[0] > 3600)
        .map(|w| w[0] + 3600)
        .expect("a gap in three days");
    let totals = |now: i64| {
        let up = &up;
        let q = format!(r#"{{ token(id: "{token}") {{ volume volumeUSD feesUSD txCount }} }}"#);
        async move {
            up.sim().set_now(now);
            up.data(&q).await["token"].clone()
        }
    };
    let early = totals(gap + 60).await;
    assert_eq!(
        totals(gap + 3599).await,
        early,
        "totals moved without an event"
    );
    // After the token's next event they have grown.
    let next = hours.iter().find(|h| **h > gap).copied().unwrap();
    let later = totals(next + 3599).await;
    assert!(
        dec(&later["txCount"]) > dec(&early["txCount"]),
        "{early} -> {later}"
    );
    up.handle.stop().await;
}

/// Running totals (volume, fees, transactions) never go down as the clock moves, whatever the
/// history window, and a lagging head reports the totals of its own time.
#[tokio::test]
async fn token_totals_grow_with_the_clock_and_follow_the_lag() {
    const TOTALS: &str = "{ tokens { id volume volumeUSD feesUSD txCount } }";
    let up = start(args(5)).await;
    let mut previous: Option<Value> = None;
    for step in 0..8 {
        up.sim().set_now(NOW + step * 1800);
        let now = up.data(TOTALS).await["tokens"].clone();
        if let Some(before) = &previous {
            for (b, a) in before
                .as_array()
                .unwrap()
                .iter()
                .zip(now.as_array().unwrap())
            {
                for f in ["volume", "volumeUSD", "feesUSD", "txCount"] {
                    assert!(dec(&a[f]) >= dec(&b[f]), "{f} went down: {b} -> {a}");
                }
            }
        }
        previous = Some(now);
    }
    // Another history window at the same time: the same totals.
    let longer = start(args(9)).await;
    up.sim().set_now(NOW);
    assert_eq!(up.data(TOTALS).await, longer.data(TOTALS).await);
    // Lagging by an hour at NOW: the totals of NOW - 1h.
    let mut lagged = args(5);
    lagged.lag = Duration::from_secs(3600);
    let lagged = start(lagged).await;
    up.sim().set_now(NOW - 3600);
    assert_eq!(up.data(TOTALS).await, lagged.data(TOTALS).await);
    for u in [up, longer, lagged] {
        u.handle.stop().await;
    }
}

#[tokio::test]
async fn meta_follows_the_clock_and_the_lag() {
    let mut lagged = args(3);
    lagged.lag = Duration::from_secs(3600);
    let up = start(lagged).await;
    let b = up.head().await;
    let ts = b["timestamp"].as_i64().unwrap();
    assert!(ts <= NOW - 3600 && ts > NOW - 3600 - 12, "{ts}");
    up.sim().set_now(NOW + 120);
    let b2 = up.head().await;
    assert_eq!(
        b2["number"].as_i64().unwrap(),
        b["number"].as_i64().unwrap() + 10
    );
    // The rows trail too: nothing newer than the lagged head.
    let d = up.data("{ tokenHourDatas(first: 1, orderBy: periodStartUnix, orderDirection: desc) { periodStartUnix } }").await;
    let newest = d["tokenHourDatas"][0]["periodStartUnix"].as_i64().unwrap();
    assert!(newest <= NOW + 120 - 3600, "{newest}");
    up.handle.stop().await;
}

#[tokio::test]
async fn block_constraints_are_honoured() {
    let up = start(args(3)).await;
    let m = up
        .data("{ _meta { block { number hash } deployment } }")
        .await;
    let head = m["_meta"]["block"]["number"].as_i64().unwrap();
    let deployment = m["_meta"]["deployment"].as_str().unwrap().to_owned();
    let e = up
        .errors(&format!(
            "{{ tokenHourDatas(block: {{number_gte: {}}}) {{ id }} }}",
            head + 5
        ))
        .await;
    assert_eq!(
        e,
        [
            json!({"message": format!("Failed to decode `block.number_gte` value: `subgraph {deployment} has only indexed up to block number {head} and data for block number {} is therefore not yet available`", head + 5)})
        ]
    );
    let e = up
        .errors(&format!(
            "{{ tokens(block: {{number: {}}}) {{ id }} }}",
            head + 1
        ))
        .await;
    assert!(message(&e[0]).starts_with("Failed to decode `block.number` value: `subgraph Qm"));
    // At or below the head it answers; `_meta` with a number reports it, without a hash.
    let d = up.data(&format!("{{ tokens(block: {{number_gte: {head}}}) {{ id }} _meta(block: {{number: {}}}) {{ block {{ number hash }} }} }}", head - 300)).await;
    assert_eq!(d["tokens"].as_array().unwrap().len(), 5);
    assert_eq!(
        d["_meta"]["block"],
        json!({"number": head - 300, "hash": null})
    );
    // An older block serves the data of its time: an hour earlier, fewer rows.
    let q = |n: i64| format!("{{ tokenHourDatas(first: 1000, block: {{number: {n}}}) {{ id }} }}");
    let now_rows = ids(&up.data(&q(head)).await["tokenHourDatas"]).len();
    let then_rows = ids(&up.data(&q(head - 600)).await["tokenHourDatas"]).len();
    assert!(then_rows < now_rows, "{then_rows} !< {now_rows}");
    // A block hash resolves; an unknown one does not.
    let hash = m["_meta"]["block"]["hash"].as_str().unwrap();
    let d = up
        .data(&format!(
            r#"{{ _meta(block: {{hash: "{hash}"}}) {{ block {{ number }} }} }}"#
        ))
        .await;
    assert_eq!(d["_meta"]["block"]["number"], head);
    let e = up
        .errors(&format!(
            r#"{{ tokens(block: {{hash: "0x{}"}}) {{ id }} }}"#,
            "ab".repeat(32)
        ))
        .await;
    assert_eq!(
        message(&e[0]),
        "Failed to decode `block.hash` value: `no block with that hash found`"
    );
    up.handle.stop().await;
}
