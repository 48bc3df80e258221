//! Candles over HTTP, on both backends: checked against an independent computation from the raw
//! rows, gap filling, ordering and limits.

use serde_json::Value;

use crate::dataset::*;
use crate::support::{on_both_backends, TestDb};

on_both_backends! {
    candles_match_an_independent_computation => candles_match_an_independent_computation;
    gap_filling_carries_the_previous_close => gap_filling_carries_the_previous_close;
    descending_with_limit_gives_the_latest => descending_with_limit_gives_the_latest;
}

async fn candles_match_an_independent_computation(t: TestDb) {
    let (app, rows) = seeded(t).await;
    // Ranges that start and end mid-bucket, for several widths.
    let from = T0 + 5 * 86_400 + 7 * 3600 + 123;
    let to = T0 + 40 * 86_400 + 3 * 3600;
    for (interval, hours) in [
        ("1h", 1),
        ("4h", 4),
        ("6h", 6),
        ("1d", 24),
        ("3d", 72),
        ("1w", 168),
        ("168h", 168),
    ] {
        let got = candles(
            &app,
            &format!(
                "address: \"{}\", from: \"{}\", to: \"{}\", interval: \"{interval}\", limit: 1000",
                TOKEN.to_uppercase().replace("0X", "0x"),
                iso(from),
                iso(to)
            ),
        )
        .await;
        let want = expected(&rows, from, to, hours);
        assert!(!want.is_empty());
        assert_eq!(got, Value::Array(want), "interval {interval}");
    }
    // A `to` between two seconds: the bucket starting at the earlier second is before it.
    let got = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", to: \"{}\"",
            iso(T0),
            iso(T0 + 5 * 3600).replace('Z', ".5Z")
        ),
    )
    .await;
    assert_eq!(got, Value::Array(expected(&rows, T0, T0 + 5 * 3600 + 1, 1)));
    // At 1h the strings are the upstream's, unchanged.
    let got = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", to: \"{}\"",
            iso(T0),
            iso(T0 + 6 * 3600)
        ),
    )
    .await;
    let first = &got[0];
    assert_eq!(first["open"], rows[0].open.as_str());
    assert_eq!(first["volume"], rows[0].volume.as_str());
}

async fn gap_filling_carries_the_previous_close(t: TestDb) {
    let (app, rows) = seeded(t).await;
    // From before the first row: buckets before it are left out.
    let from = T0 - 3 * 86_400;
    let to = T0 + 10 * 86_400;
    let got = candles(
        &app,
        &format!("address: \"{TOKEN}\", from: \"{}\", to: \"{}\", interval: \"2h\", fillGaps: true, limit: 1000", iso(from), iso(to)),
    )
    .await;
    let got = got.as_array().unwrap();
    assert_eq!(
        got.len() as i64,
        10 * 12,
        "every 2h bucket from the first row on"
    );
    let present = expected(&rows, T0, to, 2);
    let mut previous: Option<&Value> = None;
    let mut filled = 0;
    for (i, c) in got.iter().enumerate() {
        assert_eq!(c["periodStartUnix"], T0 + i as i64 * 7200);
        match present
            .iter()
            .find(|p| p["periodStartUnix"] == c["periodStartUnix"])
        {
            Some(p) => assert_eq!(c, p),
            None => {
                filled += 1;
                let prev = previous.expect("a filled bucket follows a real one");
                assert_eq!(c["hours"], 0);
                for f in ["open", "high", "low", "close", "priceUSD"] {
                    assert_eq!(c[f], prev["close"], "{f}");
                }
                for f in ["totalValueLocked", "totalValueLockedUSD"] {
                    assert_eq!(c[f], prev[f], "{f}");
                }
                for f in ["volume", "volumeUSD", "untrackedVolumeUSD", "feesUSD"] {
                    assert_eq!(c[f], "0", "{f}");
                }
            }
        }
        previous = Some(c);
    }
    assert!(filled > 0, "the data set has gaps to fill");

    // Starting inside a gap: the first bucket carries the close from before `from`.
    let gap_hour = (1..HOURS)
        .map(|h| T0 + h * 3600)
        .find(|p| !rows.iter().any(|r| r.period_start_unix == *p))
        .unwrap();
    let before = rows
        .iter()
        .rev()
        .find(|r| r.period_start_unix < gap_hour)
        .unwrap();
    let got = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", to: \"{}\", fillGaps: true",
            iso(gap_hour),
            iso(gap_hour + 3600)
        ),
    )
    .await;
    assert_eq!(got[0]["hours"], 0);
    assert_eq!(got[0]["open"], before.close.as_str());

    // With no synced head recorded (the rows were written directly), gap filling reaches the
    // newest stored row — every hour up to it is known — and fills nothing after it.
    let last = rows.last().unwrap().period_start_unix;
    let iv = tokenmirror::api::candles::Interval::parse("1d").unwrap();
    let req = tokenmirror::api::candles::CandleRequest {
        network: NET,
        address: TOKEN,
        from: T0,
        to: last + 30 * 86_400,
        interval: iv,
        fill_gaps: true,
        descending: true,
        limit: 3,
        open_ended: false,
    };
    let filled = tokenmirror::api::candles::candles(app.db.db.conn(), &req)
        .await
        .unwrap();
    let filled = filled.candles;
    assert_eq!(filled[0].period_start_unix, iv.start(iv.index(last)));
    let sparse = tokenmirror::api::candles::candles(
        app.db.db.conn(),
        &tokenmirror::api::candles::CandleRequest {
            fill_gaps: false,
            ..req.clone()
        },
    )
    .await
    .unwrap()
    .candles;
    assert_eq!(filled[0], sparse[0]);
}

async fn descending_with_limit_gives_the_latest(t: TestDb) {
    let (app, rows) = seeded(t).await;
    let from = T0;
    let to = T0 + HOURS * 3600;
    for (interval, hours) in [("1h", 1), ("1d", 24), ("12h", 12)] {
        let got = candles(
            &app,
            &format!("address: \"{TOKEN}\", from: \"{}\", to: \"{}\", interval: \"{interval}\", order: DESC, limit: 5", iso(from), iso(to)),
        )
        .await;
        let mut want = expected(&rows, from, to, hours);
        want.reverse();
        want.truncate(5);
        assert_eq!(got, Value::Array(want), "{interval}");
    }
    // Paging ASC: ask again from the last bucket's start plus one width.
    let page1 = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", interval: \"1d\", limit: 3",
            iso(T0)
        ),
    )
    .await;
    let next = page1[2]["periodStartUnix"].as_i64().unwrap() + 86_400;
    let page2 = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", interval: \"1d\", limit: 3",
            iso(next)
        ),
    )
    .await;
    let both: Vec<Value> = page1
        .as_array()
        .unwrap()
        .iter()
        .chain(page2.as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(both, expected(&rows, T0, T0 + 6 * 86_400, 24));
    // Filled buckets count towards the limit.
    let filled = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", fillGaps: true, order: DESC, limit: 7",
            iso(T0)
        ),
    )
    .await;
    assert_eq!(filled.as_array().unwrap().len(), 7);
}
