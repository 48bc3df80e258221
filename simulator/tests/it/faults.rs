//! Faults on demand never change the data; a corrupt token; a hidden (reorged) hour.

use crate::support::*;

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
