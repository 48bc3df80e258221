//! Subscriptions over WebSocket (`graphql-transport-ws`), with the real server: live candles
//! that always equal the query's answer, new buckets as the sync writes them, a subscriber on a
//! second `serve` that does not sync, the connection-init timeout, the limits, and a subscriber
//! that stops reading.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokenmirror::api::subscriptions::SubscriptionLimits;
use tokenmirror::app::{self, ServerSettings, Shared};
use tokenmirror::db::Db;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::support::{on_both_backends, TestDb};
use crate::sync::{settings, sim_args, simulator, sources, NOW};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A server of its own on the test's database.
struct Server {
    addr: std::net::SocketAddr,
    shared: Shared,
    shutdown: CancellationToken,
}

impl Server {
    async fn start(t: &TestDb, watch: bool, limits: SubscriptionLimits) -> Server {
        let shared = Shared::new(Db::connect(&t.url).await.unwrap());
        let shutdown = CancellationToken::new();
        if watch {
            app::start_feed(&shared, &t.url, shutdown.clone())
                .await
                .unwrap();
        }
        let settings = ServerSettings {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            subscriptions: limits,
            ..Default::default()
        };
        let server = app::start_server(&shared, vec!["sim".into()], &settings, shutdown.clone())
            .await
            .unwrap();
        Server {
            addr: server.addr,
            shared,
            shutdown,
        }
    }

    /// A WebSocket connection speaking `graphql-transport-ws`, not yet initialised.
    async fn connect(&self) -> Socket {
        let mut req = format!("ws://{}/graphql", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (socket, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        socket
    }

    /// An initialised connection.
    async fn client(&self) -> Socket {
        let mut s = self.connect().await;
        send(&mut s, json!({"type": "connection_init"})).await;
        assert_eq!(next(&mut s).await["type"], "connection_ack");
        s
    }

    async fn query(&self, q: &str) -> Value {
        reqwest::Client::new()
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": q }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn send(s: &mut Socket, msg: Value) {
    s.send(Message::Text(msg.to_string().into())).await.unwrap();
}

/// The next protocol message (pings answered on the way), failing after 30 s.
async fn next(s: &mut Socket) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), s.next())
            .await
            .expect("a message within 30 s")
            .expect("the connection is open")
            .expect("a readable message");
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ping" {
                    send(s, json!({"type": "pong"})).await;
                    continue;
                }
                return v;
            }
            Message::Close(f) => {
                return json!({"type": "closed", "code": f.map(|f| u16::from(f.code))})
            }
            _ => continue,
        }
    }
}

async fn subscribe(s: &mut Socket, id: &str, query: &str) {
    send(
        s,
        json!({"id": id, "type": "subscribe", "payload": {"query": query}}),
    )
    .await;
}

const FIELDS: &str = "periodStartUnix open high low close priceUSD volume volumeUSD \
                      untrackedVolumeUSD feesUSD totalValueLocked totalValueLockedUSD hours";

/// `tokenHourData`'s answer for the one bucket starting at `start`.
async fn bucket(server: &Server, token: &str, interval: &str, start: i64, width: i64) -> Value {
    let iso = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let q = format!(
        "{{ tokenHourData(address: \"{token}\", from: \"{}\", to: \"{}\", interval: \"{interval}\") {{ {FIELDS} }} }}",
        iso(start),
        iso(start + width)
    );
    server.query(&q).await["data"]["tokenHourData"][0].clone()
}

on_both_backends! {
    live_candles_equal_the_query_and_follow_the_sync => live_candles_equal_the_query_and_follow_the_sync;
}

/// Three subscriptions (1h and 4h): each candle pushed equals `tokenHourData`'s answer for its
/// bucket at that moment; new buckets arrive with the sync writes that create them.
async fn live_candles_equal_the_query_and_follow_the_sync(t: TestDb) {
    let sim = simulator(sim_args(31, 2, 3, NOW)).await;
    let server = Server::start(&t, false, SubscriptionLimits::default()).await;
    let syncer = app::prepare_sync(&server.shared, &sources(&sim), settings(3))
        .await
        .unwrap();
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    let tokens = sim.sim.token_addresses();
    let subs = [
        ("a", tokens[0].clone(), "1h", 3600),
        ("b", tokens[1].clone(), "1h", 3600),
        ("c", tokens[0].clone(), "4h", 4 * 3600),
    ];
    let mut s = server.client().await;
    for (id, token, interval, _) in &subs {
        subscribe(
            &mut s,
            id,
            &format!("subscription {{ tokenCandles(address: \"{token}\", interval: \"{interval}\") {{ {FIELDS} }} }}"),
        )
        .await;
    }
    let mut newest = std::collections::HashMap::new();
    // The first push of each: the newest bucket, equal to the query's.
    for _ in 0..subs.len() {
        let m = next(&mut s).await;
        assert_eq!(m["type"], "next", "{m}");
        let id = m["id"].as_str().unwrap().to_owned();
        let (_, token, interval, width) = subs.iter().find(|x| x.0 == id).unwrap();
        let candle = &m["payload"]["data"]["tokenCandles"];
        let start = candle["periodStartUnix"].as_i64().unwrap();
        assert_eq!(
            *candle,
            bucket(&server, token, interval, start, *width).await,
            "{id}"
        );
        newest.insert(id, start);
    }
    // Five hours on: the live hour changes and new hours appear upstream; the pass writes them.
    sim.sim.set_now(NOW + 5 * 3600);
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    let mut moved = std::collections::HashSet::new();
    while moved.len() < subs.len() {
        let m = next(&mut s).await;
        assert_eq!(m["type"], "next", "{m}");
        let id = m["id"].as_str().unwrap().to_owned();
        let (_, token, interval, width) = subs.iter().find(|x| x.0 == id).unwrap();
        let candle = &m["payload"]["data"]["tokenCandles"];
        let start = candle["periodStartUnix"].as_i64().unwrap();
        assert!(start >= newest[&id], "{id}: buckets never go back");
        assert_eq!(
            *candle,
            bucket(&server, token, interval, start, *width).await,
            "{id}: a pushed candle differs from the query's"
        );
        if start > newest[&id] && start >= (NOW + 4 * 3600) / width * width {
            moved.insert(id.clone());
        }
        newest.insert(id, start);
    }
}

/// PostgreSQL: a subscriber on a `serve` that does not sync hears of the other's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_that_does_not_sync_pushes_too() {
    let t = TestDb::postgres().await;
    let sim = simulator(sim_args(32, 1, 3, NOW)).await;
    let writer = Shared::new(Db::connect(&t.url).await.unwrap());
    let syncer = app::prepare_sync(&writer, &sources(&sim), settings(3))
        .await
        .unwrap();
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    let reader = Server::start(&t, true, SubscriptionLimits::default()).await;
    let token = &sim.sim.token_addresses()[0];
    let mut s = reader.client().await;
    subscribe(
        &mut s,
        "1",
        &format!(
            "subscription {{ tokenCandles(address: \"{token}\") {{ periodStartUnix close }} }}"
        ),
    )
    .await;
    let first = next(&mut s).await["payload"]["data"]["tokenCandles"]["periodStartUnix"]
        .as_i64()
        .unwrap();
    let metrics = reader.shared.metrics.clone();
    let start = std::time::Instant::now();
    while !metrics.is_feed_connected() {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.sim.set_now(NOW + 3 * 3600);
    assert!(syncer.sync_once(&CancellationToken::new()).await.all_ok());
    loop {
        let m = next(&mut s).await;
        let start = m["payload"]["data"]["tokenCandles"]["periodStartUnix"]
            .as_i64()
            .unwrap_or_else(|| panic!("{m}"));
        if start > first {
            break;
        }
    }
}

/// A client that never sends `connection_init` is closed with 4408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_init_closes_with_4408() {
    let t = TestDb::sqlite().await;
    let server = Server::start(&t, false, SubscriptionLimits::default()).await;
    let mut s = server.connect().await;
    let m = next(&mut s).await;
    assert_eq!(m, json!({"type": "closed", "code": 4408}));
}

/// Past the per-connection and the server's limits, a subscription is refused with a
/// `BAD_USER_INPUT` error that names the limit; bad arguments are refused like the query's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_arguments_are_clear_refusals() {
    let t = TestDb::sqlite().await;
    let limits = SubscriptionLimits {
        total: 3,
        per_connection: 2,
    };
    let server = Server::start(&t, false, limits).await;
    let status = "subscription { syncStatus { address } }";
    let mut a = server.client().await;
    for id in ["1", "2", "3"] {
        subscribe(&mut a, id, status).await;
    }
    // Two first pushes, one refusal and its `complete`, in whatever order the engine starts
    // the three (it may start any of them last).
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next(&mut a).await);
    }
    let refused: Vec<&Value> = seen
        .iter()
        .filter(|m| m["payload"]["errors"].is_array())
        .collect();
    assert_eq!(refused.len(), 1, "one of three is refused: {seen:?}");
    let id = refused[0]["id"].clone();
    let e = &refused[0]["payload"]["errors"][0];
    assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("MAX_SUBSCRIPTIONS_PER_CONNECTION"));
    assert!(seen.contains(&json!({"id": id, "type": "complete"})));

    let mut b = server.client().await;
    subscribe(&mut b, "1", status).await;
    assert!(next(&mut b).await["payload"]["data"].is_object());
    subscribe(&mut b, "2", status).await;
    let m = next(&mut b).await;
    assert!(
        m["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("MAX_SUBSCRIPTIONS"),
        "{m}"
    );

    subscribe(
        &mut b,
        "3",
        "subscription { tokenCandles(address: \"0x12\") { close } }",
    )
    .await;
    // A document that does not validate, or does not parse, has its phase's code here too.
    subscribe(&mut b, "4", "subscription { noSuchField }").await;
    subscribe(&mut b, "5", "subscription {").await;
    let m = loop {
        let m = next(&mut b).await;
        if m["id"] == "3" {
            break m;
        }
    };
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{m}"
    );
}

/// A subscriber that stops reading falls behind and is dropped with an error; another
/// subscriber of the same candles, reading, gets every push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_dropped() {
    use tokenmirror::db::hours::{self, Coverage, HourPage};
    use tokenmirror::feed::Change;

    let t = TestDb::sqlite().await;
    let shared = Shared::new(t.db.clone());
    let api = tokenmirror::api::ApiContext::new(
        t.db.clone(),
        vec!["sim".into()],
        shared.feed.clone(),
        Default::default(),
    );
    let schema = tokenmirror::api::schema(
        api,
        Default::default(),
        tokenmirror::api::subscriptions::Live::new(SubscriptionLimits::default()),
    );
    let token = "0x00000000000000000000000000000000000000aa";
    let hour = 1_780_000_000 / 3600 * 3600;
    let write = |close: usize| {
        let (db, feed) = (t.db.clone(), shared.feed.clone());
        async move {
            let d = |s: &str| tokenmirror::decimal::Decimal::parse(s).unwrap();
            let row = tokenmirror::db::hours::HourRow {
                period_start_unix: hour,
                id: format!("{token}-{}", hour / 3600),
                open: d("1"),
                high: d("1000"),
                low: d("0.5"),
                close: d(&close.to_string()),
                price_usd: d("1"),
                volume: d("1"),
                volume_usd: d("1"),
                untracked_volume_usd: d("1"),
                fees_usd: d("0"),
                total_value_locked: d("1"),
                total_value_locked_usd: d("1"),
            };
            let tx = db.begin_write().await.unwrap();
            hours::write_page(
                &tx,
                &HourPage {
                    network: "sim",
                    address: token,
                    first_hour: hour,
                    last_hour: None,
                    rows: &[row],
                    coverage: Coverage::From(hour),
                    synced_head: Some(hour),
                },
            )
            .await
            .unwrap();
            tokenmirror::db::tokens::mark_tracked(
                &tx,
                &[("sim".into(), token.into())],
                tokenmirror::db::now(),
            )
            .await
            .unwrap();
            let change = Change::Hours {
                token: tokenmirror::domain::TokenKey::new("sim", token),
                first_hour: hour,
                last_hour: None,
            };
            feed.commit(tx, change).await.unwrap();
        }
    };
    write(1).await;
    let q = format!("subscription {{ tokenCandles(address: \"{token}\") {{ close }} }}");
    let mut reading = schema.execute_stream(q.as_str());
    let mut stalled = schema.execute_stream(q.as_str());
    let close =
        |r: async_graphql::Response| r.data.into_json().unwrap()["tokenCandles"]["close"].clone();
    assert_eq!(close(reading.next().await.unwrap()), "1");
    assert_eq!(close(stalled.next().await.unwrap()), "1");
    // The reading subscriber gets each of 100 changes; the other reads nothing meanwhile.
    for i in 2..102 {
        write(i).await;
        let got = tokio::time::timeout(Duration::from_secs(30), reading.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(close(got), i.to_string());
    }
    // The one that did not read is told it fell behind, and ends.
    let mut ended_with_error = false;
    while let Some(r) = tokio::time::timeout(Duration::from_secs(30), stalled.next())
        .await
        .unwrap()
    {
        if let Some(e) = r.errors.first() {
            assert!(e.message.contains("fell"), "{}", e.message);
            ended_with_error = true;
        }
    }
    assert!(
        ended_with_error,
        "the subscriber that did not read was dropped"
    );
}
