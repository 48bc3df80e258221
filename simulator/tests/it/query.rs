//! graph-node's query API: both paths and GET, variables, fragments, filters, ordering, paging,
//! `first`/`skip` and error texts.

use crate::support::*;

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
