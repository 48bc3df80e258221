//! TradingView's UDF datafeed over HTTP, on both backends: bars equal to `tokenHourData`'s
//! candles at 1h, 4h, 1D and 1W, `countback`, `no_data` with `nextTime`, clear errors, symbol
//! info with a price scale that fits the token, search, config and time.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::dataset::*;
use crate::support::{on_both_backends, TestApp, TestDb};

on_both_backends! {
    history_bars_are_the_candles => history_bars_are_the_candles;
    symbols_search_config_and_errors => symbols_search_config_and_errors;
}

async fn udf(app: &TestApp, path: &str) -> String {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// A `/history` answer with each array's items as written (the exact digits of every number).
fn columns(body: &str) -> HashMap<String, Vec<String>> {
    let top: HashMap<String, Box<RawValue>> = serde_json::from_str(body).unwrap();
    top.into_iter()
        .filter_map(|(k, v)| {
            let items: Vec<Box<RawValue>> = serde_json::from_str(v.get()).ok()?;
            Some((k, items.iter().map(|i| i.get().to_owned()).collect()))
        })
        .collect()
}

/// The candles as UDF columns: `t`, `o`, `h`, `l`, `c`, `v` (= volumeUSD).
fn as_columns(candles: &Value) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for c in candles.as_array().unwrap() {
        let field = |f: &str| c[f].as_str().unwrap().to_owned();
        out.entry("t".into())
            .or_default()
            .push(c["periodStartUnix"].to_string());
        out.entry("o".into()).or_default().push(field("open"));
        out.entry("h".into()).or_default().push(field("high"));
        out.entry("l".into()).or_default().push(field("low"));
        out.entry("c".into()).or_default().push(field("close"));
        out.entry("v".into()).or_default().push(field("volumeUSD"));
    }
    out
}

async fn history_bars_are_the_candles(t: TestDb) {
    let (app, _rows) = seeded(t).await;
    let sym = format!("{NET}:{TOKEN}");
    let (from, to) = (T0 + 5 * 86_400, T0 + 40 * 86_400);
    for (resolution, interval) in [("60", "1h"), ("240", "4h"), ("1D", "1d"), ("1W", "1w")] {
        let body = udf(
            &app,
            &format!("/udf/history?symbol={sym}&resolution={resolution}&from={from}&to={to}"),
        )
        .await;
        let got = columns(&body);
        assert!(body.starts_with(r#"{"s":"ok""#), "{body}");
        // tokenHourData starts at the bucket holding `from`; UDF bars start at or after it.
        let want = candles(
            &app,
            &format!(
                "address: \"{TOKEN}\", from: \"{}\", to: \"{}\", interval: \"{interval}\", limit: 1000",
                iso(from),
                iso(to)
            ),
        )
        .await;
        let mut want = as_columns(&want);
        let skip = want["t"]
            .iter()
            .take_while(|t| t.parse::<i64>().unwrap() < from)
            .count();
        for col in want.values_mut() {
            col.drain(..skip);
        }
        assert_eq!(got["t"], want["t"], "{resolution}: bar times");
        for k in ["o", "h", "l", "c", "v"] {
            assert_eq!(got[k], want[k], "{resolution}: {k}, digit for digit");
        }
        let times: Vec<i64> = got["t"].iter().map(|t| t.parse().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "ascending, unique");
    }

    // countback: the N bars before `to`, whatever `from` says.
    let body = udf(
        &app,
        &format!(
            "/udf/history?symbol={sym}&resolution=60&from={}&to={to}&countback=30",
            to - 60
        ),
    )
    .await;
    let got = columns(&body);
    let want = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", to: \"{}\", order: DESC, limit: 30",
            iso(T0),
            iso(to)
        ),
    )
    .await;
    let mut want = as_columns(&want);
    for col in want.values_mut() {
        col.reverse();
    }
    assert_eq!(got["t"], want["t"]);
    assert_eq!(got["c"], want["c"]);

    // Nothing in range: no_data, with the newest bar before it, if any.
    let after = T0 + 100 * 86_400;
    let body = udf(
        &app,
        &format!(
            "/udf/history?symbol={sym}&resolution=1D&from={after}&to={}",
            after + 86_400
        ),
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["s"], "no_data");
    let last_day = candles(
        &app,
        &format!(
            "address: \"{TOKEN}\", from: \"{}\", interval: \"1d\", order: DESC, limit: 1",
            iso(T0)
        ),
    )
    .await[0]["periodStartUnix"]
        .as_i64()
        .unwrap();
    assert_eq!(v["nextTime"], last_day, "{body}");
    let body = udf(
        &app,
        &format!("/udf/history?symbol={sym}&resolution=60&from=100&to=3700"),
    )
    .await;
    assert_eq!(body, r#"{"s":"no_data"}"#);
}

async fn symbols_search_config_and_errors(t: TestDb) {
    let (app, rows) = seeded(t).await;
    let sym = format!("{NET}:{TOKEN}");
    let info: Value =
        serde_json::from_str(&udf(&app, &format!("/udf/symbols?symbol={sym}")).await).unwrap();
    assert_eq!(info["ticker"], sym);
    assert_eq!(info["name"], "SIMAA");
    let close = rows.last().unwrap().close.as_str().to_owned();
    let scale = info["pricescale"].as_f64().unwrap();
    assert_eq!(
        scale,
        format!("1e{}", tokenmirror::http::udf::price_decimals(&close))
            .parse::<f64>()
            .unwrap(),
        "the price scale fits the newest close {close}"
    );
    let found: Value =
        serde_json::from_str(&udf(&app, "/udf/search?query=simaa&limit=5").await).unwrap();
    assert_eq!(found[0]["ticker"], sym);
    let none: Value =
        serde_json::from_str(&udf(&app, "/udf/search?query=nothing-like-it").await).unwrap();
    assert_eq!(none, Value::Array(vec![]));
    let config: Value = serde_json::from_str(&udf(&app, "/udf/config").await).unwrap();
    assert!(config["supported_resolutions"].as_array().unwrap().len() > 5);
    let time: i64 = udf(&app, "/udf/time").await.parse().unwrap();
    assert!(time > 1_700_000_000);

    for (path, says) in [
        ("/udf/history?symbol=sim:0x12&resolution=60&from=0&to=10", "symbol"),
        (
            "/udf/history?symbol=sim:0x00000000000000000000000000000000000000bb&resolution=60&from=0&to=10",
            "not in the mirror",
        ),
        (
            "/udf/history?symbol=mars:0x00000000000000000000000000000000000000aa&resolution=60&from=0&to=10",
            "mars",
        ),
        ("/udf/history?symbol=sim:0x00000000000000000000000000000000000000aa&resolution=5&from=0&to=10", "resolution"),
        ("/udf/history?symbol=sim:0x00000000000000000000000000000000000000aa&resolution=60&from=10&to=5", "from"),
        ("/udf/history?symbol=sim:0x00000000000000000000000000000000000000aa&resolution=60&from=0", "to"),
        ("/udf/symbols?symbol=", "symbol"),
    ] {
        let v: Value = serde_json::from_str(&udf(&app, path).await).unwrap();
        assert_eq!(v["s"], "error", "{path}");
        assert!(
            v["errmsg"].as_str().unwrap().contains(says),
            "{path}: {}",
            v["errmsg"]
        );
    }
}
