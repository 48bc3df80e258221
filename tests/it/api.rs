//! The GraphQL API over HTTP, on both backends: every error case, limits on depth and
//! complexity, metadata and status, field order and null propagation.

use serde_json::{json, Value};

use crate::dataset::*;
use crate::support::{error_codes, on_both_backends, TestDb};

on_both_backends! {
    bad_input_is_refused_with_codes => bad_input_is_refused_with_codes;
    metadata_tokens_and_status => metadata_tokens_and_status;
    fields_come_back_in_the_order_asked => fields_come_back_in_the_order_asked;
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
