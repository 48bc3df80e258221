//! TradingView's UDF datafeed under `/udf/` (`config`, `symbols`, `search`, `history`, `time`),
//! so that the Charting Library, or any UDF client, points at the mirror unchanged.
//!
//! Symbols are `NETWORK:ADDRESS` (a bare address means the default network). Resolutions are
//! whole hours in minutes (`60`, `120`, `240`, … up to `10080`), `1D`…`7D` (or `D`) and `1W`
//! (or `W`). A bar is a candle of `tokenHourData` (`v` is its `volumeUSD`), written as a JSON
//! number whose digits are the exact decimal's — never through a float. Answers come from the
//! response cache and are kept until a sync write changes what they read. Errors are
//! `{"s": "error", "errmsg": …}` (HTTP 200, as UDF clients expect) saying what to fix.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use crate::api::candles::{self, Candle, CandleRequest, Interval};
use crate::api::ApiContext;
use crate::db::tokens;
use crate::domain::TokenKey;
use crate::error::ApiError;
use crate::feed::{DepKey, Deps};

/// Most bars one `/history` answer holds (it pages through the candles in chunks of 1,000).
pub const MAX_BARS: i64 = 20_000;

const JSON: &str = "application/json; charset=utf-8";

/// The resolutions offered (any whole number of hours is accepted).
const RESOLUTIONS: [&str; 15] = [
    "60", "120", "180", "240", "360", "480", "720", "1D", "2D", "3D", "4D", "5D", "6D", "7D", "1W",
];

/// `GET /udf/config`.
pub async fn config(State(state): State<AppState>) -> Response {
    let networks = match async { tokens::networks(&state.db.read()?).await }.await {
        Ok(n) => n,
        Err(e) => return internal(e.into()),
    };
    let exchanges: Vec<serde_json::Value> =
        std::iter::once(serde_json::json!({"value": "", "name": "All", "desc": "every network"}))
            .chain(
                networks
                    .iter()
                    .map(|n| serde_json::json!({"value": n, "name": n, "desc": n})),
            )
            .collect();
    json(
        serde_json::json!({
            "supported_resolutions": RESOLUTIONS,
            "supports_search": true,
            "supports_group_request": false,
            "supports_marks": false,
            "supports_timescale_marks": false,
            "supports_time": true,
            "exchanges": exchanges,
            "symbols_types": [{"name": "token", "value": "token"}],
        })
        .to_string(),
    )
}

/// `GET /udf/time`: the server's clock, unix seconds.
pub async fn time(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        state.api.clock.unix().to_string(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SymbolParams {
    symbol: Option<String>,
}

/// `GET /udf/symbols?symbol=NETWORK:ADDRESS`.
pub async fn symbols(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    cached(&state, "symbols", raw, |state, raw, deps| async move {
        let p: SymbolParams = params(&raw)?;
        let key = symbol(&state.api, p.symbol.as_deref(), deps.as_ref()).await?;
        deps_read(&deps, DepKey::Metadata(key.clone()));
        deps_read(&deps, DepKey::Hours(key.clone()));
        let conn = &state.db.read()?;
        let meta = tokens::metadata(conn, &key.network, &key.address).await?;
        let last = newest(&state.api, &key, i64::MAX / 2).await?;
        let (ticker, name, description) = match &meta {
            Some(m) => (
                format!("{}:{}", key.network, key.address),
                m.symbol.clone(),
                format!("{} ({}) on {}", m.symbol, m.name, key.network),
            ),
            None => (
                format!("{}:{}", key.network, key.address),
                key.address.clone(),
                format!("{} on {}", key.address, key.network),
            ),
        };
        let decimals = last
            .as_ref()
            .map_or(2, |c| price_decimals(c.close.as_str()));
        Ok(serde_json::json!({
            "name": name,
            "ticker": ticker,
            "full_name": ticker,
            "description": description,
            "type": "token",
            "session": "24x7",
            "timezone": "Etc/UTC",
            "exchange": key.network,
            "listed_exchange": key.network,
            "format": "price",
            "minmov": 1,
            "pricescale": pricescale(decimals),
            "has_intraday": true,
            "intraday_multipliers": ["60", "120", "180", "240", "360", "480", "720"],
            "has_daily": true,
            "daily_multipliers": ["1", "2", "3", "4", "5", "6", "7"],
            "has_weekly_and_monthly": true,
            "weekly_multipliers": ["1"],
            "supported_resolutions": RESOLUTIONS,
            "volume_precision": 2,
            "visible_plots_set": "ohlcv",
            "data_status": "streaming",
        })
        .to_string())
    })
    .await
}

#[derive(Deserialize)]
struct SearchParams {
    query: Option<String>,
    exchange: Option<String>,
    limit: Option<usize>,
}

/// `GET /udf/search?query=…&exchange=…&limit=…`: tokens whose symbol, name or address contains
/// the query (any case).
pub async fn search(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    cached(&state, "search", raw, |state, raw, deps| async move {
        let p: SearchParams = params(&raw)?;
        deps_read(&deps, DepKey::TokenList);
        let needle = p.query.unwrap_or_default().to_lowercase();
        let network = p.exchange.filter(|e| !e.is_empty());
        let all = tokens::list_metadata(&state.db.read()?, network.as_deref()).await?;
        let found: Vec<serde_json::Value> = all
            .iter()
            .filter(|m| {
                needle.is_empty()
                    || m.symbol.to_lowercase().contains(&needle)
                    || m.name.to_lowercase().contains(&needle)
                    || m.address.contains(&needle)
            })
            .take(p.limit.unwrap_or(30).clamp(1, 100))
            .map(|m| {
                let ticker = format!("{}:{}", m.network, m.address);
                serde_json::json!({
                    "symbol": m.symbol,
                    "full_name": ticker,
                    "description": format!("{} ({}) on {}", m.symbol, m.name, m.network),
                    "exchange": m.network,
                    "ticker": ticker,
                    "type": "token",
                })
            })
            .collect();
        Ok(serde_json::Value::Array(found).to_string())
    })
    .await
}

#[derive(Deserialize)]
struct HistoryParams {
    symbol: Option<String>,
    resolution: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    countback: Option<i64>,
}

/// `GET /udf/history?symbol=…&resolution=…&from=…&to=…[&countback=…]`: the bars with `from <=
/// t < to`, or (with `countback`, which wins over `from`) the `countback` bars before `to`,
/// ascending and unique; `no_data` (with `nextTime`, the newest bar before `from`, when there
/// is one) when the range holds none.
pub async fn history(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    cached(&state, "history", raw, |state, raw, deps| async move {
        let p: HistoryParams = params(&raw)?;
        let key = symbol(&state.api, p.symbol.as_deref(), deps.as_ref()).await?;
        let interval = resolution(p.resolution.as_deref())?;
        let to = p
            .to
            .ok_or_else(|| ApiError::bad_input("to: missing; give the end of the range, unix seconds (exclusive)"))?;
        deps_read(&deps, DepKey::Hours(key.clone()));
        let bars = match p.countback {
            Some(n) if !(1..=MAX_BARS).contains(&n) => {
                return Err(ApiError::bad_input(format!(
                    "countback: {n} is out of range; allowed: 1 to {MAX_BARS}"
                )))
            }
            Some(n) => last_bars(&state.api, &key, interval, to, n).await?,
            None => {
                let from = p.from.ok_or_else(|| {
                    ApiError::bad_input("from: missing; give the start of the range, unix seconds (inclusive), or countback")
                })?;
                if from >= to {
                    return Err(ApiError::bad_input(format!(
                        "from: {from} is not before to ({to})"
                    )));
                }
                range_bars(&state.api, &key, interval, from, to).await?
            }
        };
        if bars.is_empty() {
            let before = p.countback.map_or(p.from.unwrap_or(to), |_| to);
            let next = newest(&state.api, &key, before).await?;
            return Ok(match next {
                Some(c) => format!(
                    r#"{{"s":"no_data","nextTime":{}}}"#,
                    interval.start(interval.index(c.period_start_unix))
                ),
                None => r#"{"s":"no_data"}"#.to_owned(),
            });
        }
        Ok(bars_json(&bars))
    })
    .await
}

/// Answers from the cache under `kind` and the raw query string, or computes with `compute`
/// (recording what it reads) and keeps the answer. Errors become UDF error objects.
async fn cached<F, Fut>(state: &AppState, kind: &str, raw: Option<String>, compute: F) -> Response
where
    F: FnOnce(AppState, String, Option<Deps>) -> Fut,
    Fut: std::future::Future<Output = Result<String, ApiError>>,
{
    let raw = raw.unwrap_or_default();
    let key = format!("udf\n{kind}\n{raw}");
    if let Some(hit) = state.cache.get(&key) {
        let mut resp =
            (hit.status, [(header::CONTENT_TYPE, JSON)], hit.body.clone()).into_response();
        resp.headers_mut()
            .insert("x-cache", axum::http::HeaderValue::from_static("hit"));
        return resp;
    }
    let deps = state.cache.enabled().then(|| state.cache.record());
    let (body, keep) = match compute(state.clone(), raw, deps.clone()).await {
        Ok(body) => (body, true),
        Err(ApiError::BadInput(msg)) => (
            serde_json::json!({"s": "error", "errmsg": msg}).to_string(),
            true,
        ),
        Err(e @ ApiError::Internal(_)) => return internal(e),
    };
    let body = Bytes::from(body);
    if let (Some(deps), true) = (deps, keep) {
        state.cache.put(
            key,
            StatusCode::OK,
            JSON,
            body.clone(),
            HeaderValue::from_static("no-cache"),
            &deps,
        );
    }
    let mut resp = ([(header::CONTENT_TYPE, JSON)], body).into_response();
    resp.headers_mut()
        .insert("x-cache", axum::http::HeaderValue::from_static("miss"));
    resp
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, JSON)], body).into_response()
}

/// A server fault: logged with its cause, a generic UDF error for the client.
fn internal(e: ApiError) -> Response {
    let message = async_graphql::Error::from(e).message;
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, JSON)],
        serde_json::json!({"s": "error", "errmsg": message}).to_string(),
    )
        .into_response()
}

fn deps_read(deps: &Option<Deps>, key: DepKey) {
    if let Some(d) = deps {
        d.read(&key);
    }
}

/// The query string's parameters.
fn params<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::bad_input(format!("the query string does not parse: {e}")))
}

/// A `NETWORK:ADDRESS` (or bare address) symbol of a token in the mirror.
async fn symbol(
    api: &ApiContext,
    symbol: Option<&str>,
    deps: Option<&Deps>,
) -> Result<TokenKey, ApiError> {
    let s = symbol.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_input("symbol: missing; write NETWORK:ADDRESS, e.g. ethereum:0x…")
    })?;
    let (network, address) = match s.split_once(':') {
        Some((n, a)) => (Some(n.to_owned()), a),
        None => (None, s),
    };
    let address = crate::domain::parse_address(address)
        .map_err(|e| ApiError::bad_input(format!("symbol: {e}; write NETWORK:ADDRESS")))?;
    let network = api.network(network, deps).await.map_err(|e| match e {
        ApiError::BadInput(m) => ApiError::BadInput(format!("symbol: {m}")),
        other => other,
    })?;
    let key = TokenKey::new(network, address);
    if !api.in_mirror(&key, deps).await? {
        return Err(ApiError::bad_input(format!(
            "symbol: {}:{} is not in the mirror; /udf/search lists the ones that are",
            key.network, key.address
        )));
    }
    Ok(key)
}

/// A UDF resolution as a bucket width.
pub fn resolution(r: Option<&str>) -> Result<Interval, ApiError> {
    let bad = |r: &str| {
        ApiError::bad_input(format!(
            "resolution: {r:?} is not supported; use a whole number of hours in minutes (60, \
             120, 240, … 10080), 1D to 7D, or 1W"
        ))
    };
    let r = r.ok_or_else(|| ApiError::bad_input("resolution: missing; e.g. 60, 240, 1D or 1W"))?;
    let hours = match r {
        "D" => 24,
        "W" | "1W" => 168,
        _ if r.ends_with('D') => match r[..r.len() - 1].parse::<i64>() {
            Ok(n) if (1..=7).contains(&n) => n * 24,
            _ => return Err(bad(r)),
        },
        _ => match r.parse::<i64>() {
            Ok(m) if m >= 60 && m % 60 == 0 && m <= 10_080 => m / 60,
            _ => return Err(bad(r)),
        },
    };
    Interval::parse(&format!("{hours}h")).map_err(|_| bad(r))
}

fn request<'a>(key: &'a TokenKey, interval: Interval, from: i64, to: i64) -> CandleRequest<'a> {
    CandleRequest {
        network: &key.network,
        address: &key.address,
        from,
        to,
        interval,
        fill_gaps: false,
        descending: false,
        limit: 1000,
        open_ended: false,
    }
}

/// The bars starting in `[from, to)`, oldest first.
async fn range_bars(
    api: &ApiContext,
    key: &TokenKey,
    interval: Interval,
    from: i64,
    to: i64,
) -> Result<Vec<Candle>, ApiError> {
    let mut out: Vec<Candle> = Vec::new();
    let mut cursor = from;
    while cursor < to && (out.len() as i64) < MAX_BARS {
        let page = candles::candles(&api.db.read()?, &request(key, interval, cursor, to))
            .await?
            .candles;
        let full = page.len() == 1000;
        let Some(last) = page.last().map(|c| c.period_start_unix) else {
            break;
        };
        out.extend(page.into_iter().filter(|c| c.period_start_unix >= from));
        if !full {
            break;
        }
        cursor = last + interval.width();
    }
    out.truncate(MAX_BARS as usize);
    Ok(out)
}

/// The `n` bars before `to`, oldest first.
async fn last_bars(
    api: &ApiContext,
    key: &TokenKey,
    interval: Interval,
    to: i64,
    n: i64,
) -> Result<Vec<Candle>, ApiError> {
    let mut out: Vec<Candle> = Vec::new();
    let mut end = to;
    while (out.len() as i64) < n {
        let want = (n - out.len() as i64).min(1000);
        let req = CandleRequest {
            descending: true,
            limit: want,
            ..request(key, interval, 0, end)
        };
        let page = candles::candles(&api.db.read()?, &req).await?.candles;
        let Some(oldest) = page.last().map(|c| c.period_start_unix) else {
            break;
        };
        let full = page.len() as i64 == want;
        out.extend(page);
        if !full {
            break;
        }
        end = oldest;
    }
    out.reverse();
    Ok(out)
}

/// The newest bar starting before `before`.
async fn newest(api: &ApiContext, key: &TokenKey, before: i64) -> Result<Option<Candle>, ApiError> {
    // An hourly candle is the row itself: its start and close are all that is needed here.
    let req = CandleRequest {
        descending: true,
        limit: 1,
        ..request(
            key,
            Interval::parse("1h").map_err(ApiError::bad_input)?,
            0,
            before,
        )
    };
    Ok(candles::candles(&api.db.read()?, &req).await?.candles.pop())
}

/// `{"s":"ok","t":[…],"o":[…],…}` with every value's exact digits as a JSON number.
fn bars_json(bars: &[Candle]) -> String {
    let mut out = String::with_capacity(64 + bars.len() * 160);
    out.push_str(r#"{"s":"ok","t":["#);
    list(&mut out, bars, |c, o| {
        let _ = write!(o, "{}", c.period_start_unix);
    });
    for (name, field) in [
        ("o", (|c: &Candle| c.open.as_str()) as fn(&Candle) -> &str),
        ("h", |c| c.high.as_str()),
        ("l", |c| c.low.as_str()),
        ("c", |c| c.close.as_str()),
        ("v", |c| c.volume_usd.as_str()),
    ] {
        let _ = write!(out, r#"],"{name}":["#);
        list(&mut out, bars, |c, o| o.push_str(field(c)));
    }
    out.push_str("]}");
    out
}

fn list(out: &mut String, bars: &[Candle], mut item: impl FnMut(&Candle, &mut String)) {
    for (i, c) in bars.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(c, out);
    }
}

/// Decimal places that show a price like `s` with about six significant digits (at least two,
/// at most 60), counted on its exact digits.
pub fn price_decimals(s: &str) -> u32 {
    let s = s.trim_start_matches('-');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let places = if int != "0" {
        6u32.saturating_sub(int.len() as u32)
    } else {
        let zeros = frac.bytes().take_while(|b| *b == b'0').count() as u32;
        zeros + 6
    };
    places.clamp(2, 60)
}

/// `10^decimals` as a JSON number: an integer while it fits, else a float (1e34), which is
/// how a UDF client reads it anyway.
fn pricescale(decimals: u32) -> serde_json::Value {
    match 10u64.checked_pow(decimals) {
        Some(v) => v.into(),
        None => serde_json::Number::from_f64(format!("1e{decimals}").parse().unwrap_or(f64::MAX))
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions() {
        for (r, h) in [
            ("60", 1),
            ("240", 4),
            ("720", 12),
            ("1D", 24),
            ("D", 24),
            ("7D", 168),
            ("1W", 168),
            ("W", 168),
            ("10080", 168),
        ] {
            assert_eq!(resolution(Some(r)).unwrap().hours(), h, "{r}");
        }
        for r in ["1", "30", "90", "8D", "0D", "2W", "1M", "", "abc", "10140"] {
            assert!(resolution(Some(r)).is_err(), "{r}");
        }
    }

    #[test]
    fn tiny_prices_get_enough_decimals() {
        assert_eq!(price_decimals("0.000000123"), 12);
        assert_eq!(price_decimals("0.5"), 6);
        assert_eq!(price_decimals("1234.5"), 2);
        assert_eq!(price_decimals("12.345678"), 4);
        assert_eq!(price_decimals("0"), 6);
        assert_eq!(
            price_decimals("0.00000000000000000000000000003410197483111628416310066811179989"),
            34
        );
        assert_eq!(pricescale(34), serde_json::json!(1e34));
        assert_eq!(pricescale(2), serde_json::json!(100));
    }
}
