//! Shared by the simulator's tests: a simulator on a loopback port and a client for it.

pub use std::collections::{BTreeMap, BTreeSet, HashSet};
pub use std::str::FromStr;
pub use std::time::Duration;

pub use bigdecimal::BigDecimal;
pub use serde_json::{json, Value};
pub use tokenmirror_simulator::{SimConfig, SimHandle, Simulator};
pub use tokenmirror_subgraph::Decimal;

/// A frozen clock: 2026-05-28 20:26:40 UTC.
pub const NOW: i64 = 1_780_000_000;
pub const DAY: u64 = 86_400;

pub fn args(days: u64) -> SimConfig {
    SimConfig {
        history: Duration::from_secs(days * DAY),
        now: Some(NOW),
        ..SimConfig::default()
    }
}

pub async fn start(args: SimConfig) -> Upstream {
    let handle = Simulator::new(&args)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator binds");
    Upstream {
        client: reqwest::Client::new(),
        handle,
    }
}

pub struct Upstream {
    pub client: reqwest::Client,
    pub handle: SimHandle,
}

impl Upstream {
    pub fn sim(&self) -> &Simulator {
        &self.handle.sim
    }

    pub fn tokens(&self) -> Vec<String> {
        self.sim().token_addresses()
    }

    /// POSTs a query; the status and the raw body.
    pub async fn post_raw(&self, query: &str, variables: Value) -> (u16, String) {
        let r = self
            .client
            .post(&self.handle.url)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    /// POSTs a query that must succeed; its `data`.
    pub async fn data(&self, query: &str) -> Value {
        self.data_with(query, json!({})).await
    }

    pub async fn data_with(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post_raw(query, variables).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("JSON answer");
        assert!(v.get("errors").is_none(), "{query}\n=> {body}");
        v["data"].clone()
    }

    /// POSTs a query that must fail; its errors (and checks there is no `data`).
    pub async fn errors(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.post_raw(query, json!({})).await;
        assert_eq!(
            status, 200,
            "graph-node answers 200 to GraphQL errors: {body}"
        );
        let v: Value = serde_json::from_str(&body).expect("JSON answer");
        assert!(v.get("data").is_none(), "no data on failure: {body}");
        v["errors"].as_array().cloned().unwrap_or_default()
    }

    /// `_meta.block { number timestamp }`.
    pub async fn head(&self) -> Value {
        self.data("{ _meta { block { number timestamp } } }").await["_meta"]["block"].clone()
    }

    /// The start of `token`'s newest row.
    pub async fn latest_hour(&self, token: &str) -> Option<i64> {
        let q = format!(
            r#"{{ tokenHourDatas(first: 1, orderBy: periodStartUnix, orderDirection: desc, where: {{token: "{token}"}}) {{ periodStartUnix }} }}"#
        );
        self.data(&q).await["tokenHourDatas"][0]["periodStartUnix"].as_i64()
    }

    /// Every row of `token`, walked with a `periodStartUnix_gt` cursor.
    pub async fn all_rows(&self, token: &str, fields: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor = 0i64;
        loop {
            let q = format!(
                r#"{{ tokenHourDatas(first: 1000, orderBy: periodStartUnix, orderDirection: asc,
                    where: {{token: "{token}", periodStartUnix_gt: {cursor}}}) {{ periodStartUnix {fields} }} }}"#
            );
            let page = self.data(&q).await["tokenHourDatas"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let n = page.len();
            if let Some(last) = page.last() {
                cursor = last["periodStartUnix"].as_i64().unwrap();
            }
            rows.extend(page);
            if n < 1000 {
                return rows;
            }
        }
    }
}

pub fn dec(v: &Value) -> BigDecimal {
    BigDecimal::from_str(v.as_str().expect("a decimal string")).expect("a decimal")
}

pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

/// A test of a row, for the filter reference.
pub type RowPred<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

pub const ALL_HOUR_FIELDS: &str =
    "id periodStartUnix token { id } volume volumeUSD untrackedVolumeUSD \
    totalValueLocked totalValueLockedUSD priceUSD feesUSD open high low close";

/// `-?(0|[1-9]\d*)(\.\d*[1-9])?` with at most 34 significant digits.
pub fn is_graph_decimal(s: &str) -> bool {
    let Ok(d) = Decimal::parse(s) else {
        return false;
    };
    let digits: String = d.as_str().chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len() <= 34
}
