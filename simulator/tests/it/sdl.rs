//! Every type, field, filter and order of the upstream SDL is served, and garbage never crashes
//! the server.

use crate::support::*;

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
