//! The synthetic data and its serialization: decimals, consistent OHLC rows, gaps, determinism.

use crate::support::*;

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
