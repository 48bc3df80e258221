//! Secrets stay secret: the API key never shows up in an error, the sync state, `syncStatus` or
//! a log line, and goes only where The Graph's gateway expects it.

use std::sync::Arc;

use serde_json::json;
use tokenmirror::db::state;
use tokenmirror::sync::Syncer;
use tokio_util::sync::CancellationToken;

use crate::support::TestDb;

/// The Graph API key never shows up in an error, the sync state, `syncStatus` or a log line.
#[tokio::test(flavor = "current_thread")]
async fn the_api_key_stays_secret() {
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    const KEY: &str = "k3y-that-must-never-leak-0123456789";
    // An upstream that always answers 502 (retried, logged), and one that drops every
    // connection (a transport error, whose message names the endpoint), both with the key in
    // their URL; and The Graph's gateway — a local stand-in at GRAPH_GATEWAY_URL that refuses
    // the key — reached by a bare network name.
    let stub = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_addr = stub.local_addr().unwrap();
    let router = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::BAD_GATEWAY, "bad gateway") });
    tokio::spawn(async move { axum::serve(stub, router).await });
    let dropper = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = dropper.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = dropper.accept().await {
            drop(socket);
        }
    });
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_addr = gateway.local_addr().unwrap();
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = paths.clone();
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(uri.path().to_owned());
            (
                axum::http::StatusCode::UNAUTHORIZED,
                "auth error: invalid api key",
            )
        }
    });
    tokio::spawn(async move { axum::serve(gateway, router).await });
    let args = tokenmirror::config::UpstreamArgs {
        upstreams: format!(
            "stub=http://{stub_addr}/api/{KEY}/subgraphs/id/x,\
             closed=http://{closed}/graphql?api_key={KEY},base"
        )
        .parse()
        .unwrap(),
        graph_api_key: Some(KEY.to_owned().into()),
        graph_gateway_url: format!("http://{gateway_addr}/").parse().unwrap(),
        tokens: "stub:0x4200000000000000000000000000000000000006,\
                 closed:0x4200000000000000000000000000000000000006,\
                 base:0x4200000000000000000000000000000000000006"
            .parse()
            .unwrap(),
    };
    let sources = args.resolve().unwrap();
    assert!(!format!("{sources:?}").contains(KEY));
    let t = TestDb::sqlite().await;
    let mut settings = crate::sync::settings(7);
    settings.retry.max_tries = 2;
    let s = Syncer::new(
        t.db.clone(),
        &sources,
        settings,
        Arc::new(Default::default()),
        tokenmirror::feed::Feed::new(Arc::new(Default::default())),
    )
    .expect("the HTTP client builds");
    let report = s.sync_once(&CancellationToken::new()).await;
    assert!(!report.all_ok());
    let errors: Vec<String> = report
        .networks
        .iter()
        .flat_map(|n| &n.tokens)
        .map(|t| t.error.clone().unwrap_or_default())
        .collect();
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().all(|e| !e.is_empty()), "{errors:?}");
    let closed_error = &report
        .token("closed", "0x4200000000000000000000000000000000000006")
        .unwrap()
        .error;
    assert!(
        closed_error
            .as_deref()
            .unwrap_or("")
            .contains(&format!("http://{closed}/…")),
        "a connection error names the endpoint without its path: {closed_error:?}"
    );
    for e in &errors {
        assert!(!e.contains(KEY), "{e}");
    }
    let states = state::all_sync_states(t.db.conn()).await.unwrap();
    assert!(!format!("{states:?}").contains(KEY));
    let app = crate::support::TestApp::start(t, &["stub", "closed", "base"]).await;
    let status = app.gql("{ syncStatus { lastError } }", json!({})).await;
    assert_eq!(
        status["data"]["syncStatus"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
    assert!(!status.to_string().contains(KEY));
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("retrying") && logged.contains(&format!("http://{stub_addr}/…")),
        "the retries were logged with the endpoint: {logged}"
    );
    assert!(!logged.contains(KEY), "the key leaked into the log");
    // The key went where The Graph's gateway expects it, and nowhere else.
    let base_id = "43Hwfi3dJSoGpyas9VwNoDAv55yjgGrPpNSmbQZArzMG";
    assert_eq!(
        paths.lock().unwrap().first().map(String::as_str),
        Some(format!("/api/{KEY}/subgraphs/id/{base_id}").as_str())
    );
}
