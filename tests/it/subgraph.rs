//! The drop-in subgraph endpoint (`/subgraphs/<network>`, `/subgraph`), on both backends,
//! against the simulated upstream it mirrors: a frozen simulator, a full sync of all its tokens,
//! then the same requests to both, answers compared byte for byte.
//!
//! The differential test's queries come from a seeded generator driven by the upstream SDL:
//! random filters (every operator of every field, nested `token_`, `and`/`or`, nulls, bad
//! values), orderings, `first`/`skip` (in and out of range), nested token fields, aliases,
//! fragments, variables, `_meta`, and invalid documents. A failure prints its seed and query;
//! `TOKENMIRROR_DIFF_SEED=<seed>` reruns that stream, `TOKENMIRROR_DIFF_QUERIES=<n>` makes it
//! longer.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use tokenmirror_simulator::SimHandle;
use tokenmirror_subgraph::query::schema::{named, schema, TypeDef};

use crate::support::{on_both_backends, TestApp, TestDb};
use crate::sync::{converges, settings, sim_args, simulator, sources, syncer, NET, NOW};

/// The simulator's shape: small, so that CI stays fast.
const TOKENS: u32 = 5;
const HISTORY_DAYS: u64 = 30;
const DEFAULT_SEED: u64 = 20_261_202;
const DEFAULT_QUERIES: usize = 2_000;

on_both_backends! {
    answers_equal_the_upstreams => answers_equal_the_upstreams;
    what_a_mirror_cannot_know_is_refused => what_a_mirror_cannot_know_is_refused;
    cached_answers_follow_the_sync => cached_answers_follow_the_sync;
}

/// A simulator with its clock frozen, and a server over a mirror of all of it.
async fn mirror(t: TestDb) -> (SimHandle, TestApp) {
    let sim = simulator(sim_args(7, TOKENS, HISTORY_DAYS, NOW)).await;
    let s = syncer(&t, &sim, HISTORY_DAYS + 1);
    assert!(converges(&s, 3).await, "the sync converges");
    let app = TestApp::start(t, &[NET]).await;
    (sim, app)
}

/// POSTs `body` to `url`: the status and the body's text.
async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, String) {
    let resp = client.post(url).json(body).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn answers_equal_the_upstreams(t: TestDb) {
    let (sim, app) = mirror(t).await;
    let client = reqwest::Client::new();
    let endpoint = app.url("/subgraphs/sim");
    let pools = Pools::load(&client, &sim.url).await;

    // The Uniswap v3 info site's token-chart and token-list queries, unchanged.
    let address = &pools.addresses[1];
    let week_ago = NOW - 7 * 86_400;
    let app_queries = [
        json!({
            "query": "query tokenHourDatas($startTime: Int!, $skip: Int!, $address: String!) {
              tokenHourDatas(first: 100, skip: $skip, where: { token: $address, periodStartUnix_gt: $startTime },
                orderBy: periodStartUnix, orderDirection: asc) { periodStartUnix high low open close }
            }",
            "variables": {"startTime": week_ago, "skip": 0, "address": address},
        }),
        json!({
            "query": "query topTokens { tokens(first: 50, orderBy: totalValueLockedUSD, orderDirection: desc, subgraphError: allow) { id } }",
        }),
        json!({
            "query": "query tokens($ids: [Bytes!]) { tokens(where: {id_in: $ids}, orderBy: totalValueLockedUSD, orderDirection: desc) { id symbol name derivedETH volumeUSD volume txCount totalValueLocked feesUSD totalValueLockedUSD } }",
            "variables": {"ids": pools.addresses},
        }),
    ];
    for body in &app_queries {
        let want = post(&client, &sim.url, body).await;
        let got = post(&client, &endpoint, body).await;
        assert_eq!(got, want, "{body}");
        assert!(!want.1.contains("errors"), "{}", want.1);
    }
    // The chart's first page is full (a week has more than 100 hours with trades): the mirror
    // served real rows, not an empty list.
    let (_, chart) = post(&client, &endpoint, &app_queries[0]).await;
    let chart: Value = serde_json::from_str(&chart).unwrap();
    assert_eq!(
        chart["data"]["tokenHourDatas"].as_array().unwrap().len(),
        100
    );

    // `/subgraph` is the default network's.
    let body = json!({"query": "{ tokens { id symbol } }"});
    assert_eq!(
        post(&client, &app.url("/subgraph"), &body).await,
        post(&client, &sim.url, &body).await
    );
    // GET with `?query=`, and a body that is not a GraphQL request, as graph-node answers them.
    for url in [sim.url.clone(), endpoint.clone()] {
        let get = client
            .get(format!(
                "{url}?query=%7B%20tokens(first%3A%202)%20%7B%20id%20%7D%20%7D"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 200);
        assert!(get
            .text()
            .await
            .unwrap()
            .starts_with("{\"data\":{\"tokens\":[{"));
    }
    for bad in [json!([1]), json!({"query": 5}), json!({"nope": 1})] {
        assert_eq!(
            post(&client, &endpoint, &bad).await,
            post(&client, &sim.url, &bad).await,
            "{bad}"
        );
    }

    // Inputs SQL cannot take as they are: a NUL byte, an `_in` list longer than a statement's
    // parameters should be, a block hash without `0x`, introspection's names in a string.
    let long_in: Vec<String> = (0..1500)
        .map(|k| format!("{}-{}", pools.addresses[0], 490_000 + k))
        .chain(pools.ids.iter().take(20).cloned())
        .collect();
    let head_hash = {
        let meta = post(
            &client,
            &sim.url,
            &json!({"query": "{ _meta { block { hash } } }"}),
        )
        .await;
        let meta: Value = serde_json::from_str(&meta.1).unwrap();
        meta["data"]["_meta"]["block"]["hash"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let edge_cases = [
        json!({"query": "query($x: ID) { tokenHourDatas(first: 3, where: {id_gt: $x}) { id } }", "variables": {"x": "\u{0}"}}),
        json!({"query": "query($x: [ID!]) { tokenHourDatas(first: 30, where: {id_in: $x}, orderBy: id) { id } }", "variables": {"x": long_in}}),
        json!({"query": format!("{{ tokens(block: {{hash: \"{}\"}}) {{ id }} }}", head_hash.trim_start_matches("0x"))}),
        json!({"query": "{ tokens(where: {symbol_contains: \"__type\"}) { id } } # __schema"}),
    ];
    for body in &edge_cases {
        let want = post(&client, &sim.url, body).await;
        let got = post(&client, &endpoint, body).await;
        assert_eq!(got, want, "{}", body["query"]);
    }

    let seed = std::env::var("TOKENMIRROR_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let count = std::env::var("TOKENMIRROR_DIFF_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_QUERIES);
    let (mut with_data, mut with_errors, mut rows) = (0, 0, 0usize);
    let (mut t_sim, mut t_mirror) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for i in 0..count {
        let body = generate(&mut StdRng::seed_from_u64(seed + i as u64), &pools);
        let t0 = std::time::Instant::now();
        let want = post(&client, &sim.url, &body).await;
        let t1 = std::time::Instant::now();
        let got = post(&client, &endpoint, &body).await;
        t_sim += t1 - t0;
        t_mirror += t1.elapsed();
        if t1.elapsed() > std::time::Duration::from_millis(150) {
            eprintln!("SLOW {:?} {}", t1.elapsed(), body["query"]);
        }
        if got != want {
            let (w, g) = first_difference(&want.1, &got.1);
            panic!(
                "query {i} of seed {seed} (TOKENMIRROR_DIFF_SEED={seed}) differs:\n{}\n\
                 variables: {}\nstatus: simulator {}, mirror {}\nfrom the first difference \
                 on:\nsimulator: {w}\nmirror:    {g}",
                body["query"].as_str().unwrap_or_default(),
                body["variables"],
                want.0,
                got.0,
            );
        }
        if want.1.starts_with("{\"data\"") {
            with_data += 1;
            rows += want.1.matches("\"id\":").count();
        } else {
            with_errors += 1;
        }
    }
    eprintln!(
        "{count} generated queries (seed {seed}) equal: {with_data} with data ({rows} ids), \
         {with_errors} with errors; simulator {t_sim:?}, mirror {t_mirror:?}"
    );
    // The generator covers both outcomes in earnest.
    assert!(
        with_data > count / 2,
        "{with_data} of {count} answered data"
    );
    assert!(
        with_errors > count / 20,
        "{with_errors} of {count} were errors"
    );
    assert!(rows > count * 5, "only {rows} ids in {count} answers");
}

/// The two texts from a little before where they first differ, a few hundred bytes each.
fn first_difference<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(80);
    let cut = |s: &'a str| {
        let from = (0..=from)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        let to = (from + 400).min(s.len());
        let to = (to..=s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(s.len());
        &s[from..to]
    };
    (cut(a), cut(b))
}

async fn what_a_mirror_cannot_know_is_refused(t: TestDb) {
    let (sim, app) = mirror(t).await;
    let client = reqwest::Client::new();
    let endpoint = app.url("/subgraphs/sim");
    let meta = post(
        &client,
        &sim.url,
        &json!({"query": "{ _meta { block { number hash } } }"}),
    )
    .await
    .1;
    let meta: Value = serde_json::from_str(&meta).unwrap();
    let head = meta["data"]["_meta"]["block"]["number"].as_i64().unwrap();
    let hash = meta["data"]["_meta"]["block"]["hash"].as_str().unwrap();
    let message = |text: &str| -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let ask = |query: String| {
        let client = client.clone();
        let endpoint = endpoint.clone();
        async move { post(&client, &endpoint, &json!({ "query": query })).await.1 }
    };

    // An older block, by number or by hash: refused, saying why and what to do instead.
    let older = ask(format!(
        "{{ tokens(block: {{number: {}}}) {{ id }} }}",
        head - 10
    ))
    .await;
    let m = message(&older);
    assert!(m.contains("keeps only the latest state"), "{older}");
    assert!(m.contains(&format!("block {}", head - 10)), "{older}");
    let other_hash = format!("0x{}", "ab".repeat(32));
    let by_hash = ask(format!(
        "{{ tokenHourDatas(block: {{hash: \"{other_hash}\"}}) {{ id }} }}"
    ))
    .await;
    assert!(
        message(&by_hash).contains("keeps only the latest state"),
        "{by_hash}"
    );
    // `_change_block`, even nested.
    for filter in [
        "{_change_block: {number_gte: 1}}",
        "{or: [{id: \"x\"}, {_change_block: {number_gte: 1}}]}",
        "{token_: {_change_block: {number_gte: 1}}}",
    ] {
        let text = ask(format!("{{ tokenHourDatas(where: {filter}) {{ id }} }}")).await;
        assert!(
            message(&text).contains("`_change_block`"),
            "{filter}: {text}"
        );
    }
    // The head itself, by number or hash, answers as the upstream does; a newer block is the
    // upstream's own "not yet available".
    for query in [
        format!("{{ tokens(block: {{number: {head}}}) {{ id }} _meta(block: {{number: {head}}}) {{ block {{ number hash }} }} }}"),
        format!("{{ tokens(block: {{hash: \"{hash}\"}}) {{ symbol }} }}"),
        format!("{{ tokens(block: {{number_gte: {}}}) {{ id }} }}", head + 5),
        format!("{{ tokens(block: {{number: {}}}) {{ id }} }}", head + 1),
    ] {
        let body = json!({ "query": query });
        assert_eq!(
            post(&client, &endpoint, &body).await,
            post(&client, &sim.url, &body).await,
            "{query}"
        );
    }
    // The SDL's fields and nothing else: one the mirror does not have is graph-node's error.
    let text = ask("{ tokens { id whitelistPools { id } } }".to_owned()).await;
    assert_eq!(message(&text), "Type `Token` has no field `whitelistPools`");
    // Too many entities at once for this server.
    let many = (0..3)
        .map(|i| format!("a{i}: tokenHourDatas(first: 1000) {{ id }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let text = ask(format!("{{ {many} }}")).await;
    assert!(message(&text).contains("MAX_COMPLEXITY"), "{text}");
    // A token whose hours are stored but whose metadata is not (its metadata was refused) is not
    // there: its rows are neither listed nor counted by `skip`.
    let gone = &sim.sim.token_addresses()[2];
    app.db
        .db
        .conn()
        .execute_unprepared(&format!(
            "DELETE FROM token_metadata WHERE address = '{gone}'"
        ))
        .await
        .unwrap();
    for order in ["", "orderBy: periodStartUnix, orderDirection: desc,"] {
        let without = post(
            &client,
            &sim.url,
            &json!({"query": format!("{{ tokenHourDatas(first: 40, skip: 7, {order} where: {{token_not: \"{gone}\"}}) {{ id close }} }}")}),
        )
        .await;
        let mirrored = post(
            &client,
            &endpoint,
            &json!({"query": format!("{{ tokenHourDatas(first: 40, skip: 7, {order}) {{ id close }} }}")}),
        )
        .await;
        assert_eq!(mirrored, without, "{order}");
    }
    // An unknown network.
    let resp = client
        .post(app.url("/subgraphs/nope"))
        .json(&json!({"query": "{ tokens { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("this server mirrors sim"));
}

/// Repeated queries are answered from the response cache, until the sync writes what they
/// read: then the next answer is the upstream's new one.
async fn cached_answers_follow_the_sync(t: TestDb) {
    let sim = simulator(sim_args(9, 2, 3, NOW)).await;
    let app = TestApp::start(t, &[NET]).await;
    let syncer = tokenmirror::app::prepare_sync(&app.shared, &sources(&sim), settings(4))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let endpoint = app.url("/subgraphs/sim");
    let token = &sim.sim.token_addresses()[0];
    let queries = [
        format!(
            "{{ tokenHourDatas(first: 5, where: {{token: \"{token}\"}}, orderBy: periodStartUnix, \
             orderDirection: desc) {{ id periodStartUnix close volumeUSD }} }}"
        ),
        "{ tokens { id volumeUSD txCount } }".to_owned(),
        "{ _meta { block { number hash } } }".to_owned(),
    ];
    let ask = |q: &str| {
        let client = client.clone();
        let url = endpoint.clone();
        let body = json!({ "query": q });
        async move {
            let r = client.post(&url).json(&body).send().await.unwrap();
            let hit = r.headers()["x-cache"].to_str().unwrap().to_owned();
            (r.text().await.unwrap(), hit)
        }
    };
    let mut before: Vec<String> = vec![String::new(); queries.len()];
    let mut changed = 0;
    for step in 0..3 {
        let report = syncer
            .sync_once(&tokio_util::sync::CancellationToken::new())
            .await;
        assert!(report.all_ok(), "{report:?}");
        for (k, q) in queries.iter().enumerate() {
            let want = post(&client, &sim.url, &json!({ "query": q })).await.1;
            // The upstream's head always moves on (the other answers move when trades come).
            if k == 2 {
                assert_ne!(
                    want, before[k],
                    "step {step}: the upstream's head did not move"
                );
            }
            changed += usize::from(want != before[k]);
            before[k] = want.clone();
            let (first, _) = ask(q).await;
            let (again, hit) = ask(q).await;
            assert_eq!(first, want, "step {step}: {q}");
            assert_eq!(again, want, "step {step}: {q}");
            assert_eq!(hit, "hit", "step {step}: the repeated {q} was not kept");
        }
        // The clock moves on: the live hour changes upstream, and new hours appear.
        sim.sim.set_now(NOW + (step + 1) * 1800);
    }
    // Answers kept, then changed by the sync: the first step's three, and more after.
    assert!(changed > queries.len(), "only {changed} answers changed");
}

/// Values found in the upstream's data, for filters that match something.
struct Pools {
    addresses: Vec<String>,
    symbols: Vec<String>,
    names: Vec<String>,
    /// Hour ids and `periodStartUnix` values.
    ids: Vec<String>,
    periods: Vec<i64>,
    /// Decimal strings by field name (hour and token fields).
    decimals: std::collections::HashMap<String, Vec<String>>,
    /// Token BigInt strings by field name.
    integers: std::collections::HashMap<String, Vec<String>>,
}

impl Pools {
    async fn load(client: &reqwest::Client, url: &str) -> Pools {
        let sdl = schema();
        let fields = |ty: &str| -> Vec<(String, String)> {
            sdl.object_fields(ty)
                .iter()
                .map(|f| (f.name.clone(), named(&f.ty).to_owned()))
                .collect()
        };
        let scalars = |fields: &[(String, String)]| {
            fields
                .iter()
                .filter(|(_, t)| t != "Token")
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (token_fields, hour_fields) = (fields("Token"), fields("TokenHourData"));
        let query = format!(
            "{{ tokens {{ {} }} a: tokenHourDatas(first: 300, orderBy: periodStartUnix, orderDirection: desc) {{ {} }} b: tokenHourDatas(first: 200, orderBy: volumeUSD) {{ {} }} }}",
            scalars(&token_fields),
            scalars(&hour_fields),
            scalars(&hour_fields)
        );
        let (_, text) = post(client, url, &json!({ "query": query })).await;
        let data: Value = serde_json::from_str(&text).expect("json");
        let data = &data["data"];
        let mut pools = Pools {
            addresses: vec![],
            symbols: vec![],
            names: vec![],
            ids: vec![],
            periods: vec![],
            decimals: Default::default(),
            integers: Default::default(),
        };
        for t in data["tokens"].as_array().expect("tokens") {
            pools.addresses.push(t["id"].as_str().unwrap().to_owned());
            pools.symbols.push(t["symbol"].as_str().unwrap().to_owned());
            pools.names.push(t["name"].as_str().unwrap().to_owned());
            for (name, ty) in &token_fields {
                let v = t[name].as_str().unwrap_or_default().to_owned();
                match ty.as_str() {
                    "BigDecimal" => pools.decimals.entry(name.clone()).or_default().push(v),
                    "BigInt" => pools.integers.entry(name.clone()).or_default().push(v),
                    _ => {}
                }
            }
        }
        for list in ["a", "b"] {
            for r in data[list].as_array().expect("rows") {
                pools.ids.push(r["id"].as_str().unwrap().to_owned());
                pools.periods.push(r["periodStartUnix"].as_i64().unwrap());
                for (name, ty) in &hour_fields {
                    if ty == "BigDecimal" {
                        let v = r[name].as_str().unwrap().to_owned();
                        pools.decimals.entry(name.clone()).or_default().push(v);
                    }
                }
            }
        }
        assert_eq!(pools.addresses.len(), TOKENS as usize);
        assert_eq!(pools.ids.len(), 500);
        pools
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// One generated request body.
fn generate(rng: &mut StdRng, pools: &Pools) -> Value {
    // A few plainly broken documents.
    if rng.random_bool(0.04) {
        let broken = [
            "{ tokens { id }",
            "{ foo }",
            "query { tokens(first: \"abc\") { id } }",
            "{ tokens { id ...Missing } }",
            "{ token { id } }",
            "mutation { tokens { id } }",
            "query A { tokens { id } } query B { tokens { id } }",
            "{ tokenHourDatas { } }",
            "{ tokenHourDatas }",
            "",
        ];
        return json!({ "query": pick(rng, &broken) });
    }
    let mut g = Gen {
        rng,
        pools,
        variables: serde_json::Map::new(),
        var_defs: Vec::new(),
        fragments: Vec::new(),
        budget: 2_000,
    };
    let roots = g.rng.random_range(1..=3);
    let mut body = String::new();
    for k in 0..roots {
        let field = g.root();
        if roots > 1 || g.rng.random_bool(0.2) {
            let _ = write!(body, "r{k}: ");
        }
        body.push_str(&field);
        body.push(' ');
    }
    let mut query = if g.var_defs.is_empty() && g.rng.random_bool(0.7) {
        format!("{{ {body}}}")
    } else {
        format!("query Q({}) {{ {body}}}", g.var_defs.join(", "))
    };
    for f in &g.fragments {
        query.push(' ');
        query.push_str(f);
    }
    let mut request = json!({ "query": query });
    if !g.variables.is_empty() {
        request["variables"] = Value::Object(g.variables);
    }
    request
}

struct Gen<'a> {
    rng: &'a mut StdRng,
    pools: &'a Pools,
    variables: serde_json::Map<String, Value>,
    var_defs: Vec<String>,
    fragments: Vec<String>,
    /// What `first` may still add up to (the server's entity limit).
    budget: i64,
}

impl Gen<'_> {
    fn root(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0..=4 => self.list("tokenHourDatas", "TokenHourData"),
            5..=6 => self.list("tokens", "Token"),
            7 => {
                let id = self.token_id();
                format!("token(id: {id}) {}", self.selection("Token", 1))
            }
            8 => {
                let id = if self.rng.random_bool(0.8) {
                    pick(self.rng, &self.pools.ids).clone()
                } else {
                    format!("{}-1", pick(self.rng, &self.pools.addresses))
                };
                format!(
                    "tokenHourData(id: \"{id}\") {}",
                    self.selection("TokenHourData", 1)
                )
            }
            _ => {
                let block = if self.rng.random_bool(0.2) {
                    "(block: {number_gte: 1})"
                } else {
                    ""
                };
                let fields = ["deployment", "hasIndexingErrors", "__typename"];
                let mut sel: Vec<&str> = fields
                    .iter()
                    .copied()
                    .filter(|_| self.rng.random_bool(0.6))
                    .collect();
                if self.rng.random_bool(0.5) || sel.is_empty() {
                    sel.push("block { number timestamp hash }");
                }
                format!("_meta{block} {{ {} }}", sel.join(" "))
            }
        }
    }

    fn token_id(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0 => "\"0xzz\"".to_owned(),
            1 => "\"0x00\"".to_owned(),
            2 => format!(
                "\"{}\"",
                pick(self.rng, &self.pools.addresses).to_uppercase()
            ),
            _ => format!("\"{}\"", pick(self.rng, &self.pools.addresses)),
        }
    }

    /// `name(args) { selection }` of a list field over `entity`.
    fn list(&mut self, name: &str, entity: &str) -> String {
        let mut args = Vec::new();
        let first: Option<i64> = match self.rng.random_range(0..40) {
            0..=3 => None,
            4..=6 => Some(0),
            7 => Some(-1),
            8 => Some(1001),
            9..=11 => Some(1000),
            12..=17 => Some(self.rng.random_range(1..=3)),
            _ => Some(self.rng.random_range(1..=60)),
        };
        let first = first.map(|f| if f > self.budget { 1 } else { f });
        self.budget -= first.unwrap_or(100).max(0);
        if self.budget < 0 {
            // Never over the server's limit: the simulator has none.
            return format!("{name}(first: 0) {{ id }}");
        }
        if let Some(f) = first {
            args.push(self.maybe_variable("first", "Int", json!(f), f.to_string()));
        }
        match self.rng.random_range(0..40) {
            0..=23 => {}
            24..=27 => args.push("skip: 0".to_owned()),
            28..=33 => args.push(format!("skip: {}", self.rng.random_range(1..20))),
            34..=38 => args.push(format!("skip: {}", self.rng.random_range(20..400))),
            _ => args.push("skip: 5001".to_owned()),
        }
        let order_type = format!("{entity}_orderBy");
        if self.rng.random_bool(0.7) {
            let Some(TypeDef::Enum(values)) = schema().get(&order_type) else {
                panic!("{order_type}");
            };
            let by = pick(self.rng, values).clone();
            args.push(self.maybe_variable("orderBy", &order_type, json!(by), by.clone()));
        }
        match self.rng.random_range(0..4) {
            0 => args.push("orderDirection: asc".to_owned()),
            1 | 2 => args.push("orderDirection: desc".to_owned()),
            _ => {}
        }
        if self.rng.random_bool(0.75) {
            let filter_type = format!("{entity}_filter");
            let literal = self.filter(&filter_type, 0);
            if self.rng.random_bool(0.25) {
                // The same filter as a variable (its JSON form).
                let json = literal_to_json(&literal);
                if let Some(json) = json {
                    let var = format!("w{}", self.var_defs.len());
                    self.var_defs.push(format!("${var}: {filter_type}"));
                    self.variables.insert(var.clone(), json);
                    args.push(format!("where: ${var}"));
                } else {
                    args.push(format!("where: {literal}"));
                }
            } else {
                args.push(format!("where: {literal}"));
            }
        }
        if self.rng.random_bool(0.1) {
            args.push("subgraphError: allow".to_owned());
        }
        if self.rng.random_bool(0.05) {
            args.push("unknownArg: 3".to_owned());
        }
        // Arguments in any order.
        for i in (1..args.len()).rev() {
            let j = self.rng.random_range(0..=i);
            args.swap(i, j);
        }
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        format!("{name}{args} {}", self.selection(entity, 1))
    }

    /// `name: value`, sometimes through a variable of type `ty`.
    fn maybe_variable(&mut self, name: &str, ty: &str, json: Value, literal: String) -> String {
        if self.rng.random_bool(0.3) {
            let var = format!("v{}", self.var_defs.len());
            self.var_defs.push(format!("${var}: {ty}"));
            self.variables.insert(var.clone(), json);
            format!("{name}: ${var}")
        } else {
            format!("{name}: {literal}")
        }
    }

    /// A selection set on `entity`: some of its fields, aliased, in fragments, nested.
    fn selection(&mut self, entity: &str, depth: usize) -> String {
        let fields: Vec<(String, String)> = schema()
            .object_fields(entity)
            .iter()
            .map(|f| (f.name.clone(), named(&f.ty).to_owned()))
            .collect();
        let mut parts = Vec::new();
        let want = self.rng.random_range(1..=5);
        for _ in 0..want {
            let (name, ty) = pick(self.rng, &fields).clone();
            let alias = if self.rng.random_bool(0.15) {
                format!("x{}: ", self.rng.random_range(0..3))
            } else {
                String::new()
            };
            if ty == "Token" {
                if depth < 2 {
                    parts.push(format!(
                        "{alias}{name} {}",
                        self.selection("Token", depth + 1)
                    ));
                }
            } else {
                parts.push(format!("{alias}{name}"));
            }
        }
        if self.rng.random_bool(0.1) {
            parts.push("__typename".to_owned());
        }
        if self.rng.random_bool(0.1) {
            let name = format!("F{}", self.fragments.len());
            let (field, _) = pick(self.rng, &fields).clone();
            let field = if field == "token" {
                "token { id }".to_owned()
            } else {
                field
            };
            self.fragments
                .push(format!("fragment {name} on {entity} {{ {field} id }}"));
            parts.push(format!("...{name}"));
        }
        if self.rng.random_bool(0.05) {
            parts.push(format!("... on {entity} {{ id }}"));
        }
        if self.rng.random_bool(0.02) {
            parts.push("notAField".to_owned());
        }
        if parts.is_empty() {
            parts.push("id".to_owned());
        }
        format!("{{ {} }}", parts.join(" "))
    }

    /// A filter object literal of input type `ty`.
    fn filter(&mut self, ty: &str, depth: usize) -> String {
        let Some(TypeDef::InputObject(fields)) = schema().get(ty) else {
            panic!("{ty}");
        };
        let fields: Vec<(String, String, bool)> = fields
            .iter()
            .filter(|f| f.name != "_change_block")
            .map(|f| {
                let list = f.ty.to_string().starts_with('[');
                (f.name.clone(), named(&f.ty).to_owned(), list)
            })
            .collect();
        let count = match self.rng.random_range(0..10) {
            0 => 0,
            1..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut entries = Vec::new();
        for _ in 0..count {
            let (name, base, list) = pick(self.rng, &fields).clone();
            let value = if name == "and" || name == "or" {
                if depth >= 2 {
                    continue;
                }
                let n = self.rng.random_range(0..=2);
                let items: Vec<String> = (0..n).map(|_| self.filter(ty, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            } else if base.ends_with("_filter") {
                if depth >= 2 {
                    continue;
                }
                self.filter(&base, depth + 1)
            } else if self.rng.random_bool(0.04) {
                "null".to_owned()
            } else if list {
                let n = self.rng.random_range(0..=3);
                let items: Vec<String> = (0..n).map(|_| self.operand(&name, &base)).collect();
                format!("[{}]", items.join(", "))
            } else {
                self.operand(&name, &base)
            };
            entries.push(format!("{name}: {value}"));
        }
        format!("{{{}}}", entries.join(", "))
    }

    /// A value for filter key `key` of scalar type `ty`, mostly taken from the data.
    fn operand(&mut self, key: &str, ty: &str) -> String {
        let base = key.split('_').next().unwrap_or(key);
        let text_op = key.contains("contains") || key.contains("starts") || key.contains("ends");
        let rng = &mut *self.rng;
        let pools = self.pools;
        let quoted = |s: &str| format!("\"{s}\"");
        if rng.random_bool(0.01) {
            // The wrong kind of value.
            return if ty == "Int" { "\"x\"" } else { "true" }.to_owned();
        }
        match ty {
            "Int" => {
                let p = *pick(rng, &pools.periods);
                let v = match rng.random_range(0..6) {
                    0 => p + 1,
                    1 => p - 1800,
                    2 => NOW - rng.random_range(0..40) * 86_400,
                    _ => p,
                };
                v.to_string()
            }
            "ID" => {
                let id = pick(rng, &pools.ids).clone();
                match rng.random_range(0..6) {
                    0 => quoted(&id[..id.len() - 2]),
                    1 => quoted(&format!("{id}0")),
                    _ => quoted(&id),
                }
            }
            "Bytes" => {
                let a = pick(rng, &pools.addresses).clone();
                match rng.random_range(0..16) {
                    0 => quoted("0xabc"),
                    1 => quoted("nothex"),
                    2 => quoted(&a[..2 + 2 * rng.random_range(1..5)]),
                    3 => quoted(&format!("0x{}", &a[10..18])),
                    _ => quoted(&a),
                }
            }
            "String" => {
                let source = match base {
                    "symbol" => pick(rng, &pools.symbols).clone(),
                    "name" => pick(rng, &pools.names).clone(),
                    _ => pick(rng, &pools.addresses).clone(),
                };
                let mut s = if text_op && source.len() > 2 {
                    let from = rng.random_range(0..source.len() - 1);
                    let to = rng.random_range(from + 1..=source.len());
                    source.get(from..to).unwrap_or(&source).to_owned()
                } else {
                    source
                };
                if rng.random_bool(0.3) {
                    s = s.to_uppercase();
                }
                quoted(&s)
            }
            "BigDecimal" | "BigInt" => {
                let pool = if ty == "BigInt" {
                    pools.integers.get(base)
                } else {
                    pools.decimals.get(base)
                };
                let v = pool.map(|p| pick(rng, p).clone()).unwrap_or("1".to_owned());
                match rng.random_range(0..20) {
                    0 => quoted("0"),
                    1 => quoted(v.split('.').next().unwrap_or("1")),
                    2 => quoted("1e3"),
                    3 => quoted("-5.5"),
                    4 => quoted("12.3.4"),
                    5 => rng.random_range(0..1000).to_string(),
                    6 => quoted("0.000000000000000000000000000000000000001"),
                    _ => quoted(&v),
                }
            }
            _ => "null".to_owned(),
        }
    }
}

/// A generated filter literal as JSON (its keys unquoted, enum-free): `None` when it is not
/// plain JSON once its keys are quoted.
fn literal_to_json(literal: &str) -> Option<Value> {
    let mut out = String::with_capacity(literal.len() + 32);
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '"' {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        word.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if matches!(word.as_str(), "true" | "false" | "null") {
                    out.push_str(&word);
                } else {
                    let _ = write!(out, "\"{word}\"");
                }
            }
            c => out.push(c),
        }
    }
    serde_json::from_str(&out).ok()
}
