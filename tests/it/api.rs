//! The GraphQL API over HTTP, on both backends: candles checked against an independent
//! computation from the raw rows, gap filling, ordering and limits, every error case, limits on
//! depth and complexity, and the checked-in schema.

use std::num::NonZeroU64;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{json, Value};
use tokenmirror::db::hours::{self, Coverage, HourPage, HourRow};
use tokenmirror::db::tokens::{self, TokenMeta};
use tokenmirror::decimal::Decimal;

use crate::support::{error_codes, on_both_backends, TestApp, TestDb};

const NET: &str = "sim";
const TOKEN: &str = "0x00000000000000000000000000000000000000aa";
/// 2024-01-01T00:00:00Z, a Monday.
const T0: i64 = 1_704_067_200;
const HOURS: i64 = 24 * 45;

/// A small deterministic generator, so the data set is the same on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Decimal strings of many shapes: 34 significant digits, tiny, huge, zero.
fn decimal(rng: &mut Lcg) -> String {
    match rng.next() % 6 {
        0 => "0".to_owned(),
        1 => format!("0.{:0>20}{}", "", 1 + rng.next() % 999_999),
        2 => format!(
            "{}.{}",
            1 + rng.next() % 99_999,
            1 + rng.next() % 999_999_999
        ),
        3 => format!(
            "{}{:015}.{:015}1",
            1 + rng.next() % 9,
            rng.next() % 1_000_000_000_000_000,
            rng.next() % 1_000_000_000_000_000
        ),
        4 => format!("{}00000000000000000000", 1 + rng.next() % 9_999),
        _ => format!("{}", rng.next() % 1000),
    }
}

fn canonical(s: String) -> Decimal {
    // Generated fractions may end in 0: trim them to graph-node's canonical form.
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    Decimal::parse(&s).unwrap_or_else(|e| panic!("{e}"))
}

/// Rows for `HOURS` hours from `T0`, with gaps in runs, OHLC consistent.
fn dataset() -> Vec<HourRow> {
    let mut rng = Lcg(7);
    let mut rows = Vec::new();
    let mut gap_left = 0;
    for h in 0..HOURS {
        if gap_left > 0 {
            gap_left -= 1;
            continue;
        }
        if rng.next().is_multiple_of(10) {
            gap_left = 1 + rng.next() % 6;
            continue;
        }
        let mut p: Vec<BigDecimal> = (0..4)
            .map(|_| BigDecimal::from_str(&canonical(decimal(&mut rng)).to_string()).unwrap())
            .collect();
        p.sort();
        let (low, a, b, high) = (&p[0], &p[1], &p[2], &p[3]);
        let (open, close) = if rng.next().is_multiple_of(2) {
            (a, b)
        } else {
            (b, a)
        };
        let s = |v: &BigDecimal| canonical(v.normalized().to_plain_string());
        let period = T0 + h * 3600;
        rows.push(HourRow {
            period_start_unix: period,
            id: format!("{TOKEN}-{}", period / 3600),
            open: s(open),
            high: s(high),
            low: s(low),
            close: s(close),
            price_usd: s(close),
            volume: canonical(decimal(&mut rng)),
            volume_usd: canonical(decimal(&mut rng)),
            untracked_volume_usd: canonical(decimal(&mut rng)),
            fees_usd: canonical(decimal(&mut rng)),
            total_value_locked: canonical(decimal(&mut rng)),
            total_value_locked_usd: canonical(decimal(&mut rng)),
        });
    }
    rows
}

fn meta() -> TokenMeta {
    let d = |s: &str| Decimal::parse(s).unwrap();
    TokenMeta {
        address: TOKEN.to_owned(),
        symbol: "SIMAA".to_owned(),
        name: "Simulated Token AA".to_owned(),
        decimals: d("18"),
        total_supply: d("1000000000000000000000000"),
        tx_count: d("12"),
        pool_count: d("3"),
        volume: d("1.5"),
        volume_usd: d("2.25"),
        untracked_volume_usd: d("2.25"),
        fees_usd: d("0.000000005700524134942485348744488352915677"),
        total_value_locked: d("340256786836388081269117234195560700000"),
        total_value_locked_usd: d("58338.53440207575247331913887502708"),
        total_value_locked_usd_untracked: d("0"),
        derived_eth: d("0.0004"),
    }
}

async fn seeded(t: TestDb) -> (TestApp, Vec<HourRow>) {
    let rows = dataset();
    let tx = t.db.begin_write().await.unwrap();
    hours::write_page(
        &tx,
        &HourPage {
            network: NET,
            address: TOKEN,
            first_hour: T0,
            last_hour: None,
            rows: &rows,
            coverage: Coverage::From(T0),
        },
    )
    .await
    .unwrap();
    tokens::upsert_metadata(&tx, NET, &[meta()], Utc.timestamp_opt(T0, 0).unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (TestApp::start(t, &[NET, "other"]).await, rows)
}

fn iso(unix: i64) -> String {
    Utc.timestamp_opt(unix, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Bucket start computed independently of the server: weeks via the calendar's weekday.
fn bucket_start(t: i64, hours: i64) -> i64 {
    if hours == 168 {
        let day = Utc.timestamp_opt(t, 0).unwrap().date_naive();
        let monday = day - chrono::Duration::days(day.weekday().num_days_from_monday() as i64);
        monday.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
    } else {
        t.div_euclid(hours * 3600) * hours * 3600
    }
}

fn big(s: &str) -> BigDecimal {
    BigDecimal::from_str(s).unwrap()
}

fn sum(values: &[&Decimal]) -> String {
    let total: BigDecimal = values.iter().map(|v| big(v.as_str())).sum();
    let rounded = if total.digits() > 34 {
        total.with_precision_round(NonZeroU64::new(34).unwrap(), RoundingMode::HalfEven)
    } else {
        total
    };
    let s = rounded.normalized().to_plain_string();
    if big(&s) == 0 {
        "0".to_owned()
    } else {
        s
    }
}

/// The expected candles of `rows` in `[from's bucket, to)`, oldest first, as JSON objects.
fn expected(rows: &[HourRow], from: i64, to: i64, hours: i64) -> Vec<Value> {
    let first = bucket_start(from, hours);
    let mut out: Vec<(i64, Vec<&HourRow>)> = Vec::new();
    for r in rows {
        let b = bucket_start(r.period_start_unix, hours);
        if b < first || b >= to {
            continue;
        }
        match out.last_mut() {
            Some((start, group)) if *start == b => group.push(r),
            _ => out.push((b, vec![r])),
        }
    }
    out.into_iter()
        .map(|(start, g)| {
            let hi = g.iter().max_by(|a, b| big(a.high.as_str()).cmp(&big(b.high.as_str()))).unwrap();
            let lo = g.iter().min_by(|a, b| big(a.low.as_str()).cmp(&big(b.low.as_str()))).unwrap();
            let last = g.last().unwrap();
            json!({
                "periodStartUnix": start,
                "periodStart": iso(start),
                "open": g[0].open.as_str(),
                "high": hi.high.as_str(),
                "low": lo.low.as_str(),
                "close": last.close.as_str(),
                "priceUSD": last.price_usd.as_str(),
                "volume": sum(&g.iter().map(|r| &r.volume).collect::<Vec<_>>()),
                "volumeUSD": sum(&g.iter().map(|r| &r.volume_usd).collect::<Vec<_>>()),
                "untrackedVolumeUSD": sum(&g.iter().map(|r| &r.untracked_volume_usd).collect::<Vec<_>>()),
                "feesUSD": sum(&g.iter().map(|r| &r.fees_usd).collect::<Vec<_>>()),
                "totalValueLocked": last.total_value_locked.as_str(),
                "totalValueLockedUSD": last.total_value_locked_usd.as_str(),
                "hours": g.len(),
            })
        })
        .collect()
}

const CANDLE_FIELDS: &str = "periodStartUnix periodStart open high low close priceUSD volume \
    volumeUSD untrackedVolumeUSD feesUSD totalValueLocked totalValueLockedUSD hours";

async fn candles(app: &TestApp, args: &str) -> Value {
    let q = format!("{{ tokenHourData({args}) {{ {CANDLE_FIELDS} }} }}");
    let answer = app.gql(&q, json!({})).await;
    assert!(answer.get("errors").is_none(), "{q}: {answer}");
    answer["data"]["tokenHourData"].clone()
}

on_both_backends! {
    candles_match_an_independent_computation => candles_match_an_independent_computation;
    gap_filling_carries_the_previous_close => gap_filling_carries_the_previous_close;
    descending_with_limit_gives_the_latest => descending_with_limit_gives_the_latest;
    bad_input_is_refused_with_codes => bad_input_is_refused_with_codes;
    metadata_tokens_and_status => metadata_tokens_and_status;
    fields_come_back_in_the_order_asked => fields_come_back_in_the_order_asked;
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

    // With this machine's clock behind the upstream's (here: "now" inside the data set), gap
    // filling still reaches the newest stored row, and fills nothing after it.
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
        now: T0 + 5 * 86_400,
    };
    let filled = tokenmirror::api::candles::candles(app.db.db.conn(), &req)
        .await
        .unwrap();
    assert_eq!(filled[0].period_start_unix, iv.start(iv.index(last)));
    let sparse = tokenmirror::api::candles::candles(
        app.db.db.conn(),
        &tokenmirror::api::candles::CandleRequest {
            fill_gaps: false,
            ..req.clone()
        },
    )
    .await
    .unwrap();
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

async fn bad_input_is_refused_with_codes(t: TestDb) {
    let (app, _) = seeded(t).await;
    let ok_from = iso(T0);

    // A failed field is null in the answer, or — its type being non-null — makes its nearest
    // nullable parent null (GraphQL's "Handling Field Errors"), next to the other fields.
    let answer = app
        .gql(
            r#"{ m: tokenMetadata(address: "bad") { symbol } n: __typename }"#,
            json!({}),
        )
        .await;
    assert_eq!(answer["data"], json!({"m": null, "n": "Query"}), "{answer}");
    assert_eq!(error_codes(&answer), vec!["BAD_USER_INPUT"]);
    assert_eq!(answer["errors"][0]["path"], json!(["m"]));
    let answer = app
        .gql(
            &format!(
                r#"{{ t: tokenMetadata(address: "{TOKEN}") {{ symbol h: hourData(from: "{ok_from}", interval: "5x") {{ close }} }} n: __typename }}"#
            ),
            json!({}),
        )
        .await;
    assert_eq!(answer["data"], json!({"t": null, "n": "Query"}), "{answer}");
    let answer = app
        .gql(
            &format!(
                r#"{{ n: __typename bad: tokenHourData(address: "{TOKEN}", from: "{ok_from}", interval: "5x") {{ open }} }}"#
            ),
            json!({}),
        )
        .await;
    assert_eq!(answer["data"], Value::Null, "{answer}");
    assert_eq!(error_codes(&answer), vec!["BAD_USER_INPUT"]);
    // A directive's variable left out of the request takes its default.
    let answer = app
        .gql(
            "query Q($t: Boolean = true) { b: __typename a: tokens @include(if: $t) { address } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"],
        json!({"b": "Query", "a": [{"address": TOKEN}]}),
        "{answer}"
    );
    // An object whose every field is skipped is an empty object where null is not allowed.
    let answer = app
        .gql(
            "{ syncStatus { newestHour @include(if: false) } tokens { decimals @skip(if: true) } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer,
        json!({"data": {"syncStatus": [{}], "tokens": [{}]}}),
        "{answer}"
    );
    // Every field skipped: an empty object, not null.
    let answer = app
        .gql("{ a: tokens @skip(if: true) { symbol } }", json!({}))
        .await;
    assert_eq!(answer, json!({"data": {}}));

    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("address: \"0x12\", from: \"{ok_from}\""),
            "BAD_USER_INPUT",
            "address",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"yesterday\""),
            "BAD_USER_INPUT",
            "from",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", to: \"2024-13-01T00:00:00Z\""),
            "BAD_USER_INPUT",
            "to",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", interval: \"5x\""),
            "BAD_USER_INPUT",
            "interval",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", interval: \"2w\""),
            "BAD_USER_INPUT",
            "interval",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", interval: 4"),
            "BAD_USER_INPUT",
            "interval",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", interval: \"1é\""),
            "BAD_USER_INPUT",
            "interval",
        ),
        (
            format!("address: \"{TOKEN}\", from: 1704067200"),
            "BAD_USER_INPUT",
            "from",
        ),
        (
            format!(
                "address: \"{TOKEN}\", from: \"2024-01-10T05:00:00.7Z\", to: \"2024-01-10T05:00:00.2Z\""
            ),
            "BAD_USER_INPUT",
            "from",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", network: \"mars\""),
            "BAD_USER_INPUT",
            "network",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", to: \"{ok_from}\""),
            "BAD_USER_INPUT",
            "from",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", limit: 0"),
            "BAD_USER_INPUT",
            "limit",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", limit: 1001"),
            "BAD_USER_INPUT",
            "limit",
        ),
        (
            format!("address: \"0x00000000000000000000000000000000000000bb\", from: \"{ok_from}\""),
            "BAD_USER_INPUT",
            "not in the mirror",
        ),
        (
            format!("address: \"{TOKEN}\", from: \"{ok_from}\", order: UP"),
            "GRAPHQL_VALIDATION_FAILED",
            "order",
        ),
    ];
    for (args, code, mention) in cases {
        let q = format!("{{ tokenHourData({args}) {{ open }} }}");
        let answer = app.gql(&q, json!({})).await;
        assert_eq!(error_codes(&answer), vec![code.to_owned()], "{q}: {answer}");
        let msg = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains(mention),
            "{q}: {msg:?} should mention {mention}"
        );
    }
    // The same refusals through variables.
    let answer = app
        .gql(
            "query Q($i: Interval, $f: DateTime!) { tokenHourData(address: \"0x00000000000000000000000000000000000000aa\", from: $f, interval: $i) { open } }",
            json!({"i": "0h", "f": ok_from}),
        )
        .await;
    assert_eq!(error_codes(&answer), vec!["BAD_USER_INPUT"], "{answer}");

    let parse = app.gql("{ tokens { address ", json!({})).await;
    assert_eq!(error_codes(&parse), vec!["GRAPHQL_PARSE_FAILED"], "{parse}");
    let unknown = app.gql("{ tokens { price } }", json!({})).await;
    assert_eq!(
        error_codes(&unknown),
        vec!["GRAPHQL_VALIDATION_FAILED"],
        "{unknown}"
    );
    let network = app
        .gql("{ tokens(network: \"mars\") { address } }", json!({}))
        .await;
    assert_eq!(error_codes(&network), vec!["BAD_USER_INPUT"], "{network}");
    assert!(network["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("sim, other"));
}

async fn metadata_tokens_and_status(t: TestDb) {
    let (app, rows) = seeded(t).await;
    let q = r#"query($a: String!) {
        one: tokenMetadata(address: $a) { network address symbol name decimals totalSupply txCount poolCount
            volume volumeUSD untrackedVolumeUSD feesUSD totalValueLocked totalValueLockedUSD
            totalValueLockedUSDUntracked derivedETH updatedAt
            hourData(from: "2024-01-01T00:00:00Z", to: "2024-01-02T00:00:00Z", interval: "1d") { open hours } }
        missing: tokenMetadata(address: "0x00000000000000000000000000000000000000bb") { symbol }
        otherNetwork: tokenMetadata(address: $a, network: "other") { symbol }
        tokens { address }
        sim: tokens(network: "sim") { address }
        other: tokens(network: "other") { address }
        syncStatus { network address newestHour rowsSynced }
    }"#;
    let answer = app
        .gql(q, json!({"a": TOKEN.to_uppercase().replace("0X", "0x")}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let d = &answer["data"];
    let m = meta();
    assert_eq!(d["one"]["address"], TOKEN);
    assert_eq!(d["one"]["network"], NET);
    assert_eq!(d["one"]["totalSupply"], m.total_supply.as_str());
    assert_eq!(d["one"]["feesUSD"], m.fees_usd.as_str());
    assert_eq!(d["one"]["totalValueLocked"], m.total_value_locked.as_str());
    assert_eq!(
        d["one"]["totalValueLockedUSD"],
        m.total_value_locked_usd.as_str()
    );
    assert_eq!(d["one"]["derivedETH"], "0.0004");
    assert_eq!(d["one"]["updatedAt"], "2024-01-01T00:00:00Z");
    let day_rows = rows
        .iter()
        .filter(|r| r.period_start_unix < T0 + 86_400)
        .count();
    assert_eq!(d["one"]["hourData"][0]["hours"], day_rows);
    assert_eq!(d["missing"], Value::Null);
    assert_eq!(d["otherNetwork"], Value::Null);
    assert_eq!(d["tokens"], json!([{"address": TOKEN}]));
    assert_eq!(d["sim"], json!([{"address": TOKEN}]));
    assert_eq!(d["other"], json!([]));
    assert_eq!(
        d["syncStatus"][0]["newestHour"],
        iso(rows.last().unwrap().period_start_unix)
    );
    assert_eq!(d["syncStatus"][0]["rowsSynced"], rows.len());
}

/// The GraphQL spec orders an answer's fields as the query lists them, whichever resolver
/// finishes first (fields that wait on the database are listed first here).
async fn fields_come_back_in_the_order_asked(t: TestDb) {
    let (app, _) = seeded(t).await;
    let q = format!(
        r#"{{ syncStatus {{ address }} tokens {{ hourData(from: "{from}", interval: "1d", limit: 2) {{ close open }} symbol ...F }}
             b: tokens {{ symbol }} a: __typename }}
           fragment F on TokenMetadata {{ name address }}"#,
        from = iso(T0)
    );
    for _ in 0..5 {
        let text = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": q }))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let at = |key: &str| {
            text.find(&format!("\"{key}\""))
                .unwrap_or_else(|| panic!("{key} missing: {text}"))
        };
        let order = [
            "syncStatus",
            "tokens",
            "hourData",
            "close",
            "open",
            "symbol",
            "name",
            "b",
            "a",
        ];
        let positions: Vec<usize> = order.iter().map(|k| at(k)).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "fields out of order ({order:?} at {positions:?}): {text}"
        );
    }
}
