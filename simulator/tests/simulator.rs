//! The simulated upstream over real HTTP: graph-node's query API (arguments, filters, ordering,
//! paging, errors, serialization), the synthetic data (OHLC, gaps, determinism, the clock, the
//! live hour) and the faults.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;
use std::time::Duration;

use bigdecimal::BigDecimal;
use serde_json::{json, Value};
use tokenmirror_simulator::SimConfig;
use tokenmirror_subgraph::Decimal;
use tokenmirror_simulator::{SimHandle, Simulator};

/// A frozen clock: 2026-05-28 20:26:40 UTC.
const NOW: i64 = 1_780_000_000;
const DAY: u64 = 86_400;

fn args(days: u64) -> SimConfig {
    SimConfig {
        history: Duration::from_secs(days * DAY),
        now: Some(NOW),
        ..SimConfig::default()
    }
}

async fn start(args: SimConfig) -> Upstream {
    let handle = Simulator::new(&args)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator binds");
    Upstream {
        client: reqwest::Client::new(),
        handle,
    }
}

struct Upstream {
    client: reqwest::Client,
    handle: SimHandle,
}

impl Upstream {
    fn sim(&self) -> &Simulator {
        &self.handle.sim
    }

    fn tokens(&self) -> Vec<String> {
        self.sim().token_addresses()
    }

    /// POSTs a query; the status and the raw body.
    async fn post_raw(&self, query: &str, variables: Value) -> (u16, String) {
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
    async fn data(&self, query: &str) -> Value {
        self.data_with(query, json!({})).await
    }

    async fn data_with(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post_raw(query, variables).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("JSON answer");
        assert!(v.get("errors").is_none(), "{query}\n=> {body}");
        v["data"].clone()
    }

    /// POSTs a query that must fail; its errors (and checks there is no `data`).
    async fn errors(&self, query: &str) -> Vec<Value> {
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
    async fn head(&self) -> Value {
        self.data("{ _meta { block { number timestamp } } }").await["_meta"]["block"].clone()
    }

    /// The start of `token`'s newest row.
    async fn latest_hour(&self, token: &str) -> Option<i64> {
        let q = format!(
            r#"{{ tokenHourDatas(first: 1, orderBy: periodStartUnix, orderDirection: desc, where: {{token: "{token}"}}) {{ periodStartUnix }} }}"#
        );
        self.data(&q).await["tokenHourDatas"][0]["periodStartUnix"].as_i64()
    }

    /// Every row of `token`, walked with a `periodStartUnix_gt` cursor.
    async fn all_rows(&self, token: &str, fields: &str) -> Vec<Value> {
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

fn dec(v: &Value) -> BigDecimal {
    BigDecimal::from_str(v.as_str().expect("a decimal string")).expect("a decimal")
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

/// A test of a row, for the filter reference.
type RowPred<'a> = Box<dyn Fn(&Value) -> bool + 'a>;

const ALL_HOUR_FIELDS: &str =
    "id periodStartUnix token { id } volume volumeUSD untrackedVolumeUSD \
    totalValueLocked totalValueLockedUSD priceUSD feesUSD open high low close";

#[tokio::test]
async fn answers_like_graph_node_at_both_paths_and_by_get() {
    let up = start(args(7)).await;
    let q = "{ tokenHourDatas(first: 5) { id periodStartUnix close } }";
    let (status, root) = up.post_raw(q, json!(null)).await;
    assert_eq!(status, 200);
    let graphql = up
        .client
        .post(format!("{}graphql", up.handle.url))
        .body(json!({ "query": q }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.headers()["content-type"], "application/json");
    assert_eq!(graphql.text().await.unwrap(), root);
    let url = reqwest::Url::parse_with_params(&format!("{}graphql", up.handle.url), [("query", q)])
        .unwrap();
    let get = up.client.get(url.clone()).send().await.unwrap();
    assert_eq!(get.text().await.unwrap(), root);
    let v: Value = serde_json::from_str(&root).unwrap();
    assert_eq!(v["data"]["tokenHourDatas"].as_array().unwrap().len(), 5);
    // HEAD answers like GET, without a body; browsers get CORS answers, preflight included.
    let head = up.client.head(url).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let preflight = up
        .client
        .request(reqwest::Method::OPTIONS, &up.handle.url)
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    // `or: []` matches nothing (graph-node's empty disjunction is `false`); `or: null` nothing
    // is filtered.
    let none = up.data("{ tokenHourDatas(where: {or: []}) { id } }").await;
    assert_eq!(none["tokenHourDatas"], json!([]));
    let all = up
        .data("{ tokenHourDatas(first: 5, where: {or: null}) { id periodStartUnix close } }")
        .await;
    assert_eq!(all, v["data"]);

    // Not a GraphQL request: 400 with graph-node's {"error": …}.
    for (body, want) in [
        (
            "not json",
            "GraphQL server error (client error): expected ident",
        ),
        (
            "{}",
            "GraphQL server error (client error): The \"query\" field is missing in request data",
        ),
        (
            r#"{"query": "{ _meta { deployment } }", "variables": 5}"#,
            "GraphQL server error (client error): Invalid query variables provided",
        ),
    ] {
        let r = up
            .client
            .post(&up.handle.url)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().starts_with(want), "{v}");
    }
    up.handle.stop().await;
}

#[tokio::test]
async fn variables_operation_names_aliases_fragments_and_typename() {
    let up = start(args(7)).await;
    let token = &up.tokens()[1];
    // What cynic sends: every argument a variable.
    let q = r#"query Hours($first: Int!, $skip: Int, $where: TokenHourData_filter, $orderBy: TokenHourData_orderBy,
                   $dir: OrderDirection, $block: Block_height) {
            rows: tokenHourDatas(first: $first, skip: $skip, where: $where, orderBy: $orderBy,
                                 orderDirection: $dir, block: $block) { __typename ...H token { ... on Token { symbol } } }
            __typename
        }
        query Other { _meta { deployment } }
        fragment H on TokenHourData { id periodStartUnix }"#;
    let vars = json!({"first": 3, "skip": 1, "where": {"token": token}, "orderBy": "periodStartUnix", "dir": "desc",
                      "block": null});
    let body = json!({"query": q, "variables": vars, "operationName": "Hours"});
    let v: Value = up
        .client
        .post(&up.handle.url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = v["data"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(v["data"]["__typename"], "Query");
    assert_eq!(rows[0]["__typename"], "TokenHourData");
    assert_eq!(rows[0]["token"]["symbol"], "SIM1");
    let times: Vec<i64> = rows
        .iter()
        .map(|r| r["periodStartUnix"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    // Without skip the first row is one newer.
    let all = up.data(&format!(r#"{{ t: tokenHourDatas(first: 2, orderBy: periodStartUnix, orderDirection: desc, where: {{token: "{token}"}}) {{ id }} }}"#)).await;
    assert_eq!(ids(&all["t"])[1], rows[0]["id"].as_str().unwrap());

    // Two operations and no name: graph-node's error.
    let body =
        json!({"query": "query A { _meta { deployment } } query B { _meta { deployment } }"});
    let v: Value = up
        .client
        .post(&up.handle.url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message(&v["errors"][0]), "Operation name required");
    // A variable of the wrong type is reported like an argument, at the variable.
    let (_, body) = up
        .post_raw(
            "query Q($n: Int) { tokens(first: $n) { id } }",
            json!({"n": "ten"}),
        )
        .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        message(&v["errors"][0]),
        r#"Invalid value provided for argument `n`: String("ten")"#
    );
    assert_eq!(
        v["errors"][0]["locations"],
        json!([{"line": 1, "column": 9}])
    );
    let (_, body) = up
        .post_raw("query Q($n: Int!) { tokens(first: $n) { id } }", json!({}))
        .await;
    assert!(
        body.contains("No value provided for required variable `n`"),
        "{body}"
    );
    up.handle.stop().await;
}

#[tokio::test]
async fn filters_select_exactly_the_matching_rows() {
    let up = start(args(10)).await;
    let tokens = up.tokens();
    let (a, b) = (&tokens[0], &tokens[3]);
    // The reference: every row of two tokens, filtered here.
    let mut rows = up.all_rows(a, "id volumeUSD close token { id }").await;
    rows.extend(up.all_rows(b, "id volumeUSD close token { id }").await);
    let t = |r: &Value| r["periodStartUnix"].as_i64().unwrap();
    let mid = t(&rows[rows.len() / 4]);
    let expect = |pred: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| pred(r))
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let got =
        |data: Value| -> BTreeSet<String> { ids(&data["tokenHourDatas"]).into_iter().collect() };
    let both = format!(r#"token_in: ["{a}", "{b}"]"#);
    let threshold = "12345.678";
    let two = BigDecimal::from(2);
    let cases: Vec<(String, RowPred<'_>)> = vec![
        (
            format!(r#"token: "{a}""#),
            Box::new(move |r: &Value| r["token"]["id"] == json!(a)),
        ),
        (
            format!(r#"{both}, token_not: "{a}""#),
            Box::new(move |r: &Value| r["token"]["id"] != json!(a)),
        ),
        (
            format!("{both}, periodStartUnix_gt: {mid}"),
            Box::new(move |r: &Value| t(r) > mid),
        ),
        (
            format!("{both}, periodStartUnix_gte: {mid}"),
            Box::new(move |r: &Value| t(r) >= mid),
        ),
        (
            format!("{both}, periodStartUnix_lt: {mid}"),
            Box::new(move |r: &Value| t(r) < mid),
        ),
        (
            format!("{both}, periodStartUnix_lte: {mid}, periodStartUnix_not: {mid}"),
            Box::new(move |r: &Value| t(r) < mid),
        ),
        (
            format!("{both}, periodStartUnix_in: [{mid}, {}]", mid + 3600),
            Box::new(move |r: &Value| t(r) == mid || t(r) == mid + 3600),
        ),
        (
            format!("{both}, volumeUSD_gt: \"{threshold}\""),
            Box::new(move |r: &Value| {
                dec(&r["volumeUSD"]) > BigDecimal::from_str(threshold).unwrap()
            }),
        ),
        (
            format!("{both}, volumeUSD_lte: \"{threshold}\""),
            Box::new(move |r: &Value| {
                dec(&r["volumeUSD"]) <= BigDecimal::from_str(threshold).unwrap()
            }),
        ),
        (
            format!("{both}, volumeUSD: \"0\""),
            Box::new(move |r: &Value| r["volumeUSD"] == "0"),
        ),
        (
            // graph-node wants the other conditions inside each `or` clause.
            format!(r#"or: [{{{both}, periodStartUnix: {mid}}}, {{{both}, close_gt: "2"}}]"#),
            Box::new(move |r: &Value| t(r) == mid || dec(&r["close"]) > two),
        ),
        (
            format!(
                r#"and: [{{{both}}}, {{periodStartUnix_gt: {mid}}}], token_: {{symbol: "SIM3"}}"#
            ),
            Box::new(move |r: &Value| t(r) > mid && r["token"]["id"] == json!(b)),
        ),
        (
            format!(r#"{both}, id_gt: "{a}-{}""#, mid / 3600),
            Box::new(move |r: &Value| {
                r["id"].as_str().unwrap() > format!("{a}-{}", mid / 3600).as_str()
            }),
        ),
    ];
    for (filter, pred) in &cases {
        let q = format!("{{ tokenHourDatas(first: 1000, where: {{ {filter} }}) {{ id }} }}");
        let want = expect(pred.as_ref());
        assert!(want.len() <= 1000, "{filter}: test data too large");
        assert_eq!(got(up.data(&q).await), want, "{filter}");
    }
    // Something must be excluded and included by the decimal filter for it to prove anything.
    let over = expect(&|r: &Value| dec(&r["volumeUSD"]) > BigDecimal::from_str(threshold).unwrap());
    assert!(!over.is_empty() && over.len() < rows.len());
    assert!(
        rows.iter().any(|r| r["volumeUSD"] == "0"),
        "some hours have no volume"
    );

    // Tokens: id_in, text and numeric filters.
    let picked = up
        .data(&format!(
            r#"{{ tokens(where: {{id_in: ["{a}", "{}"]}}) {{ id }} }}"#,
            b.to_uppercase().replace("0X", "0x")
        ))
        .await;
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(ids(&picked["tokens"]), want);
    let t = up.data(r#"{ a: tokens(where: {symbol_in: ["SIM1", "SIM4"]}) { symbol }
                        b: tokens(where: {name_ends_with_nocase: "TOKEN 2"}) { symbol }
                        c: tokens(where: {decimals: "18", txCount_gt: "0"}) { symbol }
                        d: tokens(where: {or: [{symbol: "SIM0"}, {derivedETH_gt: "0.5"}]}) { symbol derivedETH } }"#).await;
    let symbols = |k: &str| -> BTreeSet<String> {
        t[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["symbol"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        symbols("a"),
        BTreeSet::from(["SIM1".to_owned(), "SIM4".to_owned()])
    );
    assert_eq!(symbols("b"), BTreeSet::from(["SIM2".to_owned()]));
    assert_eq!(
        symbols("c"),
        BTreeSet::from(["SIM1", "SIM2", "SIM3"].map(String::from))
    );
    assert!(symbols("d").contains("SIM0") && symbols("d").contains("SIM1"));
    up.handle.stop().await;
}

#[tokio::test]
async fn ordering_breaks_ties_by_id_in_the_same_direction() {
    let up = start(args(3)).await;
    // Every row of a token ties on `token__symbol`: within a token, ids decide.
    for dir in ["asc", "desc"] {
        let d = up.data(&format!("{{ tokenHourDatas(first: 1000, orderBy: token__symbol, orderDirection: {dir}) {{ id token {{ symbol }} }} }}")).await;
        let rows = d["tokenHourDatas"].as_array().unwrap().clone();
        let keys: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["token"]["symbol"].as_str().unwrap().to_owned(),
                    r["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if dir == "desc" {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{dir}");
        assert!(keys.windows(2).any(|w| w[0].0 == w[1].0), "ties exist");
    }
    // Equal volumes ("0") tie too.
    let d = up.data(r#"{ tokenHourDatas(first: 1000, orderBy: volumeUSD, orderDirection: desc, where: {volumeUSD: "0"}) { id } }"#).await;
    let zero_ids = ids(&d["tokenHourDatas"]);
    assert!(zero_ids.len() > 1);
    assert!(
        zero_ids.windows(2).all(|w| w[0] > w[1]),
        "desc ties by id desc"
    );

    // Numeric, not text, order of decimals.
    let d = up
        .data("{ tokenHourDatas(first: 1000, orderBy: close, orderDirection: asc) { close } }")
        .await;
    let closes: Vec<BigDecimal> = d["tokenHourDatas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(&r["close"]))
        .collect();
    assert!(closes.windows(2).all(|w| w[0] <= w[1]));
    assert!(closes.first() < closes.last());
    // Tokens by a BigInt field with ties (decimals 18), both directions.
    for dir in ["asc", "desc"] {
        let d = up
            .data(&format!(
                "{{ tokens(orderBy: decimals, orderDirection: {dir}) {{ id decimals }} }}"
            ))
            .await;
        let keys: Vec<(i64, String)> = d["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["decimals"].as_str().unwrap().parse().unwrap(),
                    t["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if dir == "desc" {
            sorted.reverse();
        }
        assert_eq!(keys, sorted);
    }
    // Without orderBy: id ascending (bytewise, not time order), orderDirection ignored.
    let d = up.data("{ a: tokenHourDatas(first: 300) { id } b: tokenHourDatas(first: 300, orderDirection: desc) { id } }").await;
    let a = ids(&d["a"]);
    assert_eq!(a, ids(&d["b"]));
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(a, sorted);
    up.handle.stop().await;
}

#[tokio::test]
async fn pages_through_more_than_5000_rows_with_a_cursor() {
    let mut a = args(400);
    a.tokens = 2;
    let up = start(a).await;
    let token = &up.tokens()[1];
    let rows = up.all_rows(token, "id").await;
    assert!(rows.len() > 5000, "{} rows", rows.len());
    let times: Vec<i64> = rows
        .iter()
        .map(|r| r["periodStartUnix"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "ascending without duplicates"
    );
    // The same rows by an id cursor (id order is not time order).
    let mut by_id = BTreeSet::new();
    let mut last = String::new();
    loop {
        let q = format!(
            r#"{{ tokenHourDatas(first: 1000, where: {{token: "{token}", id_gt: "{last}"}}) {{ id }} }}"#
        );
        let page = ids(&up.data(&q).await["tokenHourDatas"]);
        let n = page.len();
        last = page.last().cloned().unwrap_or_default();
        by_id.extend(page);
        if n < 1000 {
            break;
        }
    }
    let by_time: BTreeSet<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(by_time, by_id);
    // Where skip is allowed, skip pages equal the cursor pages.
    for skip in [0, 1000, 5000] {
        let q = format!(
            r#"{{ tokenHourDatas(first: 1000, skip: {skip}, orderBy: periodStartUnix, where: {{token: "{token}"}}) {{ id }} }}"#
        );
        let page = ids(&up.data(&q).await["tokenHourDatas"]);
        let want: Vec<String> = rows[skip..skip + 1000]
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(page, want, "skip {skip}");
    }
    up.handle.stop().await;
}

#[tokio::test]
async fn first_and_skip_are_range_checked_with_graph_nodes_texts() {
    let mut a = args(2);
    a.max_skip = 100;
    let up = start(a).await;
    let e = up.errors("{ tokenHourDatas(first: 10000) { id } }").await;
    assert_eq!(
        e,
        [json!({"message": "The `first` argument must be between 0 and 1000, but is 10000"})]
    );
    let e = up.errors("{ tokens(first: -1) { id } }").await;
    assert_eq!(
        message(&e[0]),
        "The `first` argument must be between 0 and 1000, but is -1"
    );
    let e = up.errors("{ tokenHourDatas(skip: 101) { id } }").await;
    assert_eq!(
        e,
        [json!({"message": "The `skip` argument must be between 0 and 100, but is 101"})]
    );
    let d = up.data("{ a: tokenHourDatas(first: 0) { id } b: tokenHourDatas(first: 1000, skip: 100) { id } c: tokenHourDatas { id } }").await;
    assert_eq!(d["a"], json!([]));
    assert!(!d["b"].as_array().unwrap().is_empty());
    assert_eq!(
        d["c"].as_array().unwrap().len(),
        100,
        "first defaults to 100"
    );
    up.handle.stop().await;

    let up = start(args(1)).await;
    let e = up.errors("{ tokens(skip: 6000) { id } }").await;
    assert_eq!(
        message(&e[0]),
        "The `skip` argument must be between 0 and 5000, but is 6000"
    );
    up.handle.stop().await;
}

#[tokio::test]
async fn unknown_fields_and_bad_arguments_have_graph_nodes_texts() {
    let up = start(args(1)).await;
    let e = up.errors("{ foo }").await;
    assert_eq!(
        e,
        [
            json!({"locations": [{"line": 1, "column": 3}], "message": "Type `Query` has no field `foo`"})
        ]
    );
    let e = up.errors("{\n  tokens {\n    id\n    bar\n  }\n}").await;
    assert_eq!(e[0]["locations"], json!([{"line": 4, "column": 5}]));
    assert_eq!(message(&e[0]), "Type `Token` has no field `bar`");

    let cases = [
        (
            r#"{ tokens(first: "abc") { id } }"#,
            r#"Invalid value provided for argument `first`: String("abc")"#,
        ),
        (
            "{ tokenHourDatas(orderBy: nonexistent) { id } }",
            r#"Invalid value provided for argument `orderBy`: Enum("nonexistent")"#,
        ),
        (
            "{ tokenHourDatas(where: {foo: 1}) { id } }",
            r#"Invalid value provided for argument `where`: Object({"foo": Int(Number(1))})"#,
        ),
        (
            "{ tokenHourDatas(orderDirection: up) { id } }",
            r#"Invalid value provided for argument `orderDirection`: Enum("up")"#,
        ),
        (
            "{ tokens(first: 5000000000) { id } }",
            "Invalid value provided for argument `first`: Int(Number(5000000000))",
        ),
    ];
    for (q, want) in cases {
        let e = up.errors(q).await;
        assert_eq!(message(&e[0]), want, "{q}");
        assert!(message(&e[0]).starts_with("Invalid value provided for argument `"));
        assert_eq!(e[0]["locations"], json!([{"line": 0, "column": 0}]));
    }
    let e = up.errors("{ token { id } }").await;
    assert_eq!(
        message(&e[0]),
        "No value provided for required argument: `id`"
    );
    // Two mistakes, two errors, in document order.
    let e = up.errors("{ foo tokens(first: true) { id } }").await;
    assert_eq!(e.len(), 2);
    // A parse error: 200, the parser's message and where.
    let e = up.errors("{ tokens { id ").await;
    assert_eq!(e.len(), 1);
    assert!(e[0]["locations"][0]["line"].as_u64() == Some(1), "{e:?}");
    // Decoding errors at execution.
    let e = up
        .errors(r#"{ tokens(where: {volume_gt: "abc"}) { id } }"#)
        .await;
    assert!(
        message(&e[0]).starts_with("Failed to decode `BigDecimal` value: `"),
        "{e:?}"
    );
    let e = up
        .errors(r#"{ tokens(where: {id: "0xabc"}) { id } }"#)
        .await;
    assert_eq!(
        message(&e[0]),
        "Failed to decode `Bytes` value: `Odd number of digits`"
    );
    // `or` next to column filters at the same level is refused; inside each clause it is fine.
    let e = up
        .errors(r#"{ tokenHourDatas(where: {or: [{periodStartUnix: 0}], id_gt: "0"}) { id } }"#)
        .await;
    assert_eq!(
        message(&e[0]),
        "Cannot mix column filters with 'or' operator at the same level. Found column filter(s) \
         'id_gt' alongside 'or' operator."
    );
    let ok = up
        .data(r#"{ tokenHourDatas(first: 1, where: {or: [{id_gt: "0"}, {periodStartUnix: 0}]}) { id } }"#)
        .await;
    assert_eq!(ok["tokenHourDatas"].as_array().map(Vec::len), Some(1));
    up.handle.stop().await;
}

/// `-?(0|[1-9]\d*)(\.\d*[1-9])?` with at most 34 significant digits.
fn is_graph_decimal(s: &str) -> bool {
    let Ok(d) = Decimal::parse(s) else {
        return false;
    };
    let digits: String = d.as_str().chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len() <= 34
}

#[tokio::test]
async fn values_are_serialized_like_graph_node() {
    let up = start(args(20)).await;
    let d = up.data(&format!("{{ tokenHourDatas(first: 1000, orderBy: periodStartUnix, orderDirection: desc) {{ {ALL_HOUR_FIELDS} }} \
        tokens {{ id symbol name decimals totalSupply volume volumeUSD untrackedVolumeUSD feesUSD txCount poolCount \
        totalValueLocked totalValueLockedUSD totalValueLockedUSDUntracked derivedETH }} }}")).await;
    let rows = d["tokenHourDatas"].as_array().unwrap();
    assert_eq!(rows.len(), 1000);
    let mut longest = 0;
    for r in rows {
        let id = r["id"].as_str().unwrap();
        assert_eq!(id, id.to_lowercase());
        let t = r["periodStartUnix"].as_i64().expect("Int is a JSON number");
        assert_eq!(t % 3600, 0);
        assert_eq!(
            id,
            format!("{}-{}", r["token"]["id"].as_str().unwrap(), t / 3600)
        );
        for f in [
            "volume",
            "volumeUSD",
            "untrackedVolumeUSD",
            "totalValueLocked",
            "totalValueLockedUSD",
            "priceUSD",
            "feesUSD",
            "open",
            "high",
            "low",
            "close",
        ] {
            let s = r[f].as_str().unwrap_or_else(|| panic!("{f} is a string"));
            assert!(is_graph_decimal(s), "{f} = {s}");
            longest = longest.max(
                s.chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
                    .trim_start_matches('0')
                    .len(),
            );
        }
    }
    assert!(longest >= 34, "values carry 34 significant digits");
    // Tiny and huge magnitudes are among them.
    let zero = BigDecimal::from(0);
    let magnitudes: Vec<BigDecimal> = rows
        .iter()
        .flat_map(|r| [dec(&r["close"]), dec(&r["volume"])])
        .collect();
    assert!(magnitudes
        .iter()
        .any(|m| *m > zero && *m < BigDecimal::from_str("1e-20").unwrap()));
    assert!(magnitudes
        .iter()
        .any(|m| *m > BigDecimal::from_str("1e30").unwrap()));
    for t in d["tokens"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        assert!(
            id.len() == 42
                && id.starts_with("0x")
                && id[2..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        for f in ["decimals", "totalSupply", "txCount", "poolCount"] {
            assert!(
                Decimal::parse_integer(t[f].as_str().unwrap()).is_ok(),
                "{f}: {}",
                t[f]
            );
        }
        for f in [
            "volume",
            "volumeUSD",
            "untrackedVolumeUSD",
            "feesUSD",
            "totalValueLocked",
            "totalValueLockedUSD",
            "totalValueLockedUSDUntracked",
            "derivedETH",
        ] {
            assert!(is_graph_decimal(t[f].as_str().unwrap()), "{f}: {}", t[f]);
        }
    }
    let m = up
        .data(
            "{ _meta { block { number hash timestamp parentHash } deployment hasIndexingErrors } }",
        )
        .await;
    let b = &m["_meta"]["block"];
    assert!(b["number"].is_i64() && b["timestamp"].is_i64());
    let hash = b["hash"].as_str().unwrap();
    assert!(hash.len() == 66 && hash == hash.to_lowercase());
    assert!(m["_meta"]["deployment"].as_str().unwrap().starts_with("Qm"));
    assert_eq!(m["_meta"]["hasIndexingErrors"], false);
    up.handle.stop().await;
}

#[tokio::test]
async fn hourly_rows_are_consistent() {
    let up = start(args(30)).await;
    let zero = BigDecimal::from(0);
    let mut total = 0;
    for token in up.tokens() {
        let rows = up.all_rows(&token, "volume volumeUSD untrackedVolumeUSD feesUSD priceUSD open high low close totalValueLocked totalValueLockedUSD").await;
        assert!(rows.len() > 30, "{token}: {} rows", rows.len());
        total += rows.len();
        for r in &rows {
            let (o, h, l, c) = (
                dec(&r["open"]),
                dec(&r["high"]),
                dec(&r["low"]),
                dec(&r["close"]),
            );
            assert!(
                l <= o.clone().min(c.clone()) && o.clone().max(c.clone()) <= h,
                "{r}"
            );
            assert!(l > zero);
            assert_eq!(r["priceUSD"], r["close"]);
            assert_eq!(r["untrackedVolumeUSD"], r["volumeUSD"]);
            for f in [
                "volume",
                "volumeUSD",
                "feesUSD",
                "totalValueLocked",
                "totalValueLockedUSD",
            ] {
                assert!(dec(&r[f]) >= zero, "{f}: {r}");
            }
            assert!(dec(&r["feesUSD"]) <= dec(&r["volumeUSD"]));
        }
    }
    assert!(total > 2000);
    up.handle.stop().await;
}

#[tokio::test]
async fn about_a_fifth_of_the_hours_are_gaps_in_runs() {
    let up = start(args(60)).await;
    let (mut hours, mut missing, mut longest_run) = (0i64, 0i64, 0i64);
    let first = (NOW - 60 * DAY as i64).div_euclid(3600);
    let last = NOW.div_euclid(3600) - 1;
    for token in up.tokens() {
        let have: HashSet<i64> = up
            .all_rows(&token, "")
            .await
            .iter()
            .map(|r| r["periodStartUnix"].as_i64().unwrap() / 3600)
            .collect();
        assert!(
            have.iter().all(|h| (first..=last + 1).contains(h)),
            "rows only inside the window"
        );
        let mut run = 0;
        for h in first..=last {
            hours += 1;
            if have.contains(&h) {
                run = 0;
            } else {
                missing += 1;
                run += 1;
                longest_run = longest_run.max(run);
            }
        }
    }
    let share = missing as f64 / hours as f64;
    assert!((0.12..0.28).contains(&share), "gap share {share}");
    assert!(
        longest_run >= 3,
        "gaps come in runs (longest {longest_run})"
    );
    up.handle.stop().await;
}

#[tokio::test]
async fn the_same_seed_and_clock_give_byte_identical_answers() {
    let queries = [
        format!("{{ tokenHourDatas(first: 1000, orderBy: periodStartUnix, orderDirection: desc) {{ {ALL_HOUR_FIELDS} }} }}"),
        "{ tokens(orderBy: volumeUSD) { id symbol name decimals totalSupply volume volumeUSD feesUSD txCount totalValueLocked derivedETH } }".to_owned(),
        "{ _meta { block { number hash timestamp parentHash } deployment } }".to_owned(),
    ];
    let one = start(args(10)).await;
    let two = start(args(10)).await;
    let mut other_seed = args(10);
    other_seed.seed = 2;
    let other = start(other_seed).await;
    for q in &queries {
        let a = one.post_raw(q, json!({})).await.1;
        assert_eq!(a, two.post_raw(q, json!({})).await.1, "{q}");
        assert_ne!(a, other.post_raw(q, json!({})).await.1, "{q}");
    }
    // A longer history: the same values for the hours both have.
    let longer = start(args(40)).await;
    let token = &one.tokens()[2];
    assert_eq!(longer.tokens()[2], *token);
    let short = one.all_rows(token, ALL_HOUR_FIELDS).await;
    let long = longer.all_rows(token, ALL_HOUR_FIELDS).await;
    assert!(long.len() > short.len() * 3);
    assert_eq!(short[..], long[long.len() - short.len()..]);
    for up in [one, two, other, longer] {
        up.handle.stop().await;
    }
}

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

/// What a client sees of one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Ok(String),
    Status(u16, Option<String>),
    RateLimited,
    BadIndexers,
    Dropped,
    Malformed,
}

async fn send(up: &Upstream, query: &str) -> Seen {
    let r = match up
        .client
        .post(&up.handle.url)
        .json(&json!({ "query": query }))
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return Seen::Dropped,
    };
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let body = match r.text().await {
        Ok(b) => b,
        Err(_) => return Seen::Dropped,
    };
    if status != 200 {
        return Seen::Status(status, retry);
    }
    match serde_json::from_str::<Value>(&body) {
        Err(_) => Seen::Malformed,
        Ok(v) if message(&v["errors"][0]) == "auth error: rate limit exceeded" => Seen::RateLimited,
        Ok(v) if message(&v["errors"][0]).starts_with("bad indexers: {0x") => Seen::BadIndexers,
        Ok(_) => Seen::Ok(body),
    }
}

#[tokio::test]
async fn faults_of_every_kind_never_change_the_data() {
    let mut faulty = args(3);
    faulty.fail_rate = 1.0;
    let up = start(faulty).await;
    let clean = start(args(3)).await;
    let q = format!("{{ tokenHourDatas(first: 50, orderBy: periodStartUnix, orderDirection: desc) {{ {ALL_HOUR_FIELDS} }} }}");
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        seen.insert(send(&up, &q).await);
    }
    let want = BTreeSet::from([
        Seen::Status(502, None),
        Seen::Status(503, None),
        Seen::Status(429, Some("1".to_owned())),
        Seen::RateLimited,
        Seen::BadIndexers,
        Seen::Dropped,
        Seen::Malformed,
    ]);
    assert_eq!(seen, want, "every kind and nothing else at fail rate 1");
    // Half the requests fail; the ones that succeed carry the clean simulator's exact bytes.
    up.sim().set_fail_rate(0.5);
    let Seen::Ok(reference) = send(&clean, &q).await else {
        panic!("clean simulator failed")
    };
    let mut successes = 0;
    for _ in 0..40 {
        if let Seen::Ok(body) = send(&up, &q).await {
            assert_eq!(body, reference);
            successes += 1;
        }
    }
    assert!((5..=35).contains(&successes), "{successes} of 40");
    up.handle.stop().await;
    clean.handle.stop().await;

    // Latency delays every answer.
    let mut slow = args(1);
    slow.latency = Duration::from_millis(300);
    let up = start(slow).await;
    let t = std::time::Instant::now();
    up.data("{ _meta { deployment } }").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    up.handle.stop().await;
}

#[tokio::test]
async fn a_corrupt_token_serves_malformed_rows_and_valid_metadata() {
    let mut a = args(2);
    a.corrupt_token = Some(1);
    let up = start(a).await;
    let tokens = up.tokens();
    let q = |t: &str| {
        format!(
            r#"{{ tokenHourDatas(first: 20, where: {{token: "{t}"}}) {{ id periodStartUnix open close }} token(id: "{t}") {{ volumeUSD totalValueLocked derivedETH }} }}"#
        )
    };
    let bad = up.data(&q(&tokens[1])).await;
    for r in bad["tokenHourDatas"].as_array().unwrap() {
        let open = r["open"].as_str().unwrap();
        assert!(Decimal::parse(open).is_err(), "{open} should be malformed");
        assert!(BigDecimal::from_str(open).is_ok(), "still a number: {open}");
        assert!(Decimal::parse(r["close"].as_str().unwrap()).is_ok());
    }
    for f in ["volumeUSD", "totalValueLocked", "derivedETH"] {
        assert!(Decimal::parse(bad["token"][f].as_str().unwrap()).is_ok());
    }
    let good = up.data(&q(&tokens[0])).await;
    for r in good["tokenHourDatas"].as_array().unwrap() {
        assert!(Decimal::parse(r["open"].as_str().unwrap()).is_ok());
    }
    up.handle.stop().await;
}

#[tokio::test]
async fn a_hidden_hour_is_no_longer_served() {
    let up = start(args(2)).await;
    let token = up.tokens()[3].clone();
    let q = format!(
        r#"{{ tokenHourDatas(first: 1000, where: {{token: "{token}"}}) {{ id periodStartUnix close }} }}"#
    );
    let before = up.data(&q).await["tokenHourDatas"]
        .as_array()
        .unwrap()
        .clone();
    let victim = before[before.len() / 2].clone();
    let id = victim["id"].as_str().unwrap();
    up.sim().hide_hour(
        &token.to_uppercase().replace("0X", "0x"),
        victim["periodStartUnix"].as_i64().unwrap(),
    );
    let after = up.data(&q).await["tokenHourDatas"]
        .as_array()
        .unwrap()
        .clone();
    let mut expected = before.clone();
    expected.retain(|r| r["id"] != victim["id"]);
    assert_eq!(after, expected);
    let single = up
        .data(&format!(r#"{{ tokenHourData(id: "{id}") {{ id }} }}"#))
        .await;
    assert!(single["tokenHourData"].is_null());
    up.handle.stop().await;
}

/// A GraphQL value of SDL type `ty` for filter field `field`, chosen so that the query runs.
fn sample(field: &str, ty: &str, token: &str) -> String {
    let inner = ty.trim_end_matches('!');
    if let Some(item) = inner.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return format!("[{}]", sample(field, item, token));
    }
    match inner {
        // A row's `token` is the token's id (Bytes) written as a String.
        "String" if field.starts_with("token") => format!("\"{token}\""),
        "Bytes" => format!("\"{token}\""),
        "String" => "\"SIM1\"".to_owned(),
        "ID" => format!("\"{token}-400000\""),
        "Int" => "1700000000".to_owned(),
        "BigInt" => "\"18\"".to_owned(),
        "BigDecimal" => "\"1.5\"".to_owned(),
        "Token_filter" => "{symbol: \"SIM1\"}".to_owned(),
        "BlockChangedFilter" => "{number_gte: 0}".to_owned(),
        "TokenHourData_filter" => "{periodStartUnix_gt: 0}".to_owned(),
        other => panic!("no sample for {other}"),
    }
}

#[tokio::test]
async fn serves_every_type_field_filter_and_order_of_the_upstream_sdl() {
    use async_graphql_parser::types::{TypeKind, TypeSystemDefinition};
    let sdl = tokenmirror_subgraph::SDL;
    let doc = async_graphql_parser::parse_schema(sdl).expect("the upstream SDL parses");
    let mut objects = BTreeMap::new();
    let mut inputs = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for def in doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            let name = t.node.name.node.to_string();
            match t.node.kind {
                TypeKind::Object(o) => {
                    objects.insert(
                        name,
                        o.fields
                            .into_iter()
                            .map(|f| (f.node.name.node.to_string(), f.node.ty.node.to_string()))
                            .collect::<Vec<_>>(),
                    );
                }
                TypeKind::InputObject(i) => {
                    inputs.insert(
                        name,
                        i.fields
                            .into_iter()
                            .map(|f| (f.node.name.node.to_string(), f.node.ty.node.to_string()))
                            .collect::<Vec<_>>(),
                    );
                }
                TypeKind::Enum(e) => {
                    enums.insert(
                        name,
                        e.values
                            .into_iter()
                            .map(|v| v.node.value.node.to_string())
                            .collect::<Vec<_>>(),
                    );
                }
                _ => {}
            }
        }
    }
    let up = start(args(2)).await;
    let token = up.tokens()[1].clone();

    // Each object type, reached from Query, with each of its fields selected on its own.
    let path = |ty: &str| -> Option<(String, &'static str)> {
        Some(match ty {
            "Token" => (format!(r#"token(id: "{token}")"#), "token"),
            "TokenHourData" => (
                "tokenHourDatas(first: 3, orderBy: periodStartUnix, orderDirection: desc)"
                    .to_owned(),
                "tokenHourDatas",
            ),
            "_Meta_" => ("_meta".to_owned(), "_meta"),
            "_Block_" => ("_meta { block".to_owned(), "_meta"),
            _ => return None,
        })
    };
    let mut checked = 0;
    for (ty, fields) in &objects {
        for (field, field_ty) in fields {
            let named = field_ty.trim_matches(|c| c == '[' || c == ']' || c == '!');
            let sub = if objects.contains_key(named) {
                " { __typename }"
            } else {
                ""
            };
            let (q, value) = if ty == "Query" {
                let args = match field.as_str() {
                    "token" => format!(r#"(id: "{token}")"#),
                    "tokenHourData" => {
                        let d = up.data("{ tokenHourDatas(first: 1) { id } }").await;
                        format!(
                            r#"(id: "{}")"#,
                            d["tokenHourDatas"][0]["id"].as_str().unwrap()
                        )
                    }
                    _ => String::new(),
                };
                let d = up.data(&format!("{{ {field}{args}{sub} }}")).await;
                (field.clone(), d[field.as_str()].clone())
            } else {
                let (head, root) = path(ty).unwrap_or_else(|| panic!("no path to {ty}"));
                let closing = if ty == "_Block_" { "} " } else { "" };
                let d = up
                    .data(&format!("{{ {head} {{ {field}{sub} }} {closing}}}"))
                    .await;
                let mut v = d[root].clone();
                if v.is_array() {
                    v = v[0].clone();
                }
                if ty == "_Block_" {
                    v = v["block"].clone();
                }
                (format!("{ty}.{field}"), v[field.as_str()].clone())
            };
            let value = if value.is_array() {
                value[0].clone()
            } else {
                value
            };
            let ok = match named {
                "Bytes" => value
                    .as_str()
                    .is_some_and(|s| s.starts_with("0x") && s == s.to_lowercase()),
                "BigDecimal" => value.as_str().is_some_and(is_graph_decimal),
                "BigInt" => value
                    .as_str()
                    .is_some_and(|s| Decimal::parse_integer(s).is_ok()),
                "Int" => value.is_i64(),
                "String" | "ID" => value.is_string(),
                "Boolean" => value.is_boolean(),
                t if objects.contains_key(t) => value["__typename"] == json!(t),
                _ => false,
            };
            assert!(ok, "{q}: {field_ty} served as {value}");
            checked += 1;
        }
    }
    assert!(checked >= 35, "{checked} fields");

    // Every filter field of both filters is accepted.
    for (filter, root) in [
        ("TokenHourData_filter", "tokenHourDatas"),
        ("Token_filter", "tokens"),
    ] {
        for (field, ty) in &inputs[filter] {
            let q = format!(
                "{{ {root}(first: 1, where: {{ {field}: {} }}) {{ id }} }}",
                sample(field, ty, &token)
            );
            up.data(&q).await;
        }
    }
    // Every orderBy value, both directions, sorts without error.
    for (order, root) in [
        ("TokenHourData_orderBy", "tokenHourDatas"),
        ("Token_orderBy", "tokens"),
    ] {
        for value in &enums[order] {
            for dir in ["asc", "desc"] {
                up.data(&format!(
                    "{{ {root}(first: 5, orderBy: {value}, orderDirection: {dir}) {{ id }} }}"
                ))
                .await;
            }
        }
    }
    up.handle.stop().await;
}

#[tokio::test]
async fn garbage_queries_get_errors_never_a_crash() {
    let up = start(args(1)).await;
    let valid = format!("{{ tokenHourDatas(first: 3, where: {{periodStartUnix_gt: 5, token_: {{symbol: \"SIM1\"}}}}, orderBy: close) {{ {ALL_HOUR_FIELDS} }} _meta {{ block {{ number }} }} }}");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: Vec<char> = "{}[]():,!$@\"\\ \n#.-0123456789abcxyz_eE".chars().collect();
    let sim = up.sim();
    for i in 0..3000 {
        let mut q: Vec<char> = valid.chars().collect();
        for _ in 0..(1 + next() % 6) {
            let at = (next() as usize) % (q.len() + 1);
            match next() % 3 {
                0 if at < q.len() => {
                    q.remove(at);
                }
                1 => q.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                _ if at < q.len() => q[at] = alphabet[(next() as usize) % alphabet.len()],
                _ => {}
            }
        }
        let q: String = q.into_iter().collect();
        let body = sim.answer(&q, None, None);
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{i}: not JSON ({e}): {q}"));
        assert!(
            v.get("data").is_some() ^ v.get("errors").is_some(),
            "{body}"
        );
    }
    // Pathological inputs over HTTP: deep nesting, huge numbers, odd unicode, odd variables.
    for q in [
        format!("{{ tokens(where: {}) {{ id }} }}", "[".repeat(200_000)),
        "{ tokens(first: 99999999999999999999999) { id } }".to_owned(),
        "{ tokens(where: {symbol_contains_nocase: \"\u{0130}\u{fffd}\"}) { id } }".to_owned(),
        "{ tokenHourData(id: \"-\") { id } token(id: \"0x\") { id } }".to_owned(),
        "query($w: TokenHourData_filter) { tokenHourDatas(where: $w) { id } }".to_owned(),
        "{ tokenHourDatas(where: {volume_in: [\"1e999999999999\", \"-0.0\"]}) { id } }".to_owned(),
        "fragment F on Token { ...F } { tokens { ...F } }".to_owned(),
        "subscription { tokens { id } }".to_owned(),
        String::new(),
    ] {
        let (status, body) = up.post_raw(&q, json!({"w": {"and": [[1]]}})).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v.get("data").is_some() ^ v.get("errors").is_some(),
            "{body}"
        );
    }
    up.handle.stop().await;
}
