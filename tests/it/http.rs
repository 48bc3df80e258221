//! The HTTP layer: GraphQL over HTTP rules, limits, GraphiQL and its assets, health, readiness,
//! metrics, CORS and compression, against the real server on a loopback port.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{behind_proxy, error_codes, TestApp, TestDb};

#[test]
fn checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let file = std::fs::read_to_string(path).expect("schema.graphql");
    assert!(
        file == tokenmirror::api::sdl(),
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}

const GQL_RESPONSE: &str = "application/graphql-response+json";

fn with_query(url: &str, query: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish();
    format!("{url}?{q}")
}

async fn app() -> TestApp {
    TestApp::start(TestDb::sqlite().await, &["sim"]).await
}

/// graphql-js's `getIntrospectionQuery()`, as GraphiQL and graphql-codegen send it.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

#[tokio::test]
async fn introspection_passes_the_default_limits_and_deep_queries_do_not() {
    let app = app().await;
    let answer = app.gql(INTROSPECTION, json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let types = answer["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "TokenCandle"));

    let mut deep = String::from("{ __schema { types { fields { type ");
    for _ in 0..30 {
        deep.push_str("{ ofType ");
    }
    deep.push_str("{ name }");
    for _ in 0..30 {
        deep.push('}');
    }
    deep.push_str(" } } } }");
    let answer = app.gql(&deep, json!({})).await;
    assert_eq!(
        error_codes(&answer),
        vec!["GRAPHQL_VALIDATION_FAILED"],
        "{answer}"
    );
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("MAX_DEPTH"));
}

#[tokio::test]
async fn complexity_is_limited() {
    let limits = tokenmirror::api::Limits {
        max_depth: 20,
        max_complexity: 50,
    };
    let app = TestApp::start_with(TestDb::sqlite().await, &["sim"], limits).await;
    let fields: String = (0..60)
        .map(|i| format!("a{i}: tokens {{ address }} "))
        .collect();
    let answer = app.gql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(
        error_codes(&answer),
        vec!["GRAPHQL_VALIDATION_FAILED"],
        "{answer}"
    );
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("MAX_COMPLEXITY"));
    let small = app.gql("{ a: __typename b: __typename }", json!({})).await;
    assert_eq!(small["data"]["a"], "Query");

    // Candle fields count their `limit`: with the default limits, a hundred 1,000-bucket
    // requests in one query are refused before touching the database; a dashboard's are not.
    let app = self::app().await;
    let many: String = (0..100)
        .map(|i| {
            format!(
                r#"a{i}: tokenHourData(address: "0x{i:040x}", from: "2026-01-01T00:00:00Z", limit: 1000) {{ open }} "#
            )
        })
        .collect();
    let answer = app.gql(&format!("{{ {many} }}"), json!({})).await;
    assert_eq!(
        error_codes(&answer),
        vec!["GRAPHQL_VALIDATION_FAILED"],
        "{answer}"
    );
    let dashboard = r#"{ tokens { symbol hourData(from: "2026-01-01T00:00:00Z", interval: "1d", limit: 365) {
        periodStart open high low close priceUSD volumeUSD feesUSD totalValueLockedUSD hours } } }"#;
    let answer = app.gql(dashboard, json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn graphql_over_http_rules() {
    let app = app().await;
    let c = &app.client;
    let gql = app.url("/graphql");

    // GET runs queries; without an Accept naming a GraphQL type the answer is application/json.
    let r = c
        .get(with_query(&gql, "{ __typename }"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json; charset=utf-8");
    assert_eq!(
        r.json::<Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );

    // Accept: application/graphql-response+json gets it.
    let r = c
        .post(&gql)
        .header(ACCEPT, GQL_RESPONSE)
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[CONTENT_TYPE],
        "application/graphql-response+json; charset=utf-8"
    );

    // A mutation over GET is refused.
    let r = c
        .get(with_query(&gql, "mutation { __typename }"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // POST needs a JSON content type and a body with a string query.
    let r = c.post(&gql).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for (body, status) in [
        ("", StatusCode::BAD_REQUEST),
        ("{not json", StatusCode::BAD_REQUEST),
        ("{}", StatusCode::BAD_REQUEST),
        ("{\"query\": 1}", StatusCode::BAD_REQUEST),
        (
            "{\"query\": \"{ __typename }\", \"variables\": []}",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = c
            .post(&gql)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(error_codes(&v), vec!["BAD_REQUEST"], "{body}: {v}");
    }

    // A document that does not parse: 400 without data for the GraphQL media type, 200 for JSON.
    let r = c
        .post(&gql)
        .header(ACCEPT, GQL_RESPONSE)
        .json(&json!({"query": "{"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(v.get("data").is_none(), "{v}");
    assert_eq!(error_codes(&v), vec!["GRAPHQL_PARSE_FAILED"]);
    let r = c
        .post(&gql)
        .header(ACCEPT, "application/json")
        .json(&json!({"query": "{"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A body over the size limit (1 MiB by default) is refused before it is read.
    let huge = format!(
        "{{\"query\": \"{{ __typename }}\", \"pad\": \"{}\"}}",
        "x".repeat(2 << 20)
    );
    let r = c
        .post(&gql)
        .header(CONTENT_TYPE, "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_codes(&v), vec!["BAD_REQUEST"], "{v}");
    assert!(v["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("MAX_BODY_BYTES"));

    // Other methods get a GraphQL error too, and the methods that work.
    let r = c.put(&gql).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_codes(&v), vec!["BAD_REQUEST"], "{v}");

    // Choosing the operation fails with a code: an unknown name, or no name among several.
    for (query, name) in [
        ("{ __typename }", Some("X")),
        ("query A { __typename } query B { __typename }", None),
        ("query A { __typename } query B { __typename }", Some("C")),
    ] {
        let r = c
            .post(&gql)
            .header(ACCEPT, GQL_RESPONSE)
            .json(&json!({"query": query, "operationName": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(error_codes(&v), vec!["GRAPHQL_VALIDATION_FAILED"], "{v}");
    }
    let r = c
        .post(&gql)
        .json(&json!({"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["data"]["b"], "Query");

    // Fragments spreading each other in a cycle parse, but do not validate.
    let r = c
        .post(&gql)
        .json(&json!({"query": "{ tokens { ...A } } fragment A on TokenMetadata { ...B } fragment B on TokenMetadata { ...A }"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_codes(&v), vec!["GRAPHQL_VALIDATION_FAILED"], "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cycle"),
        "{v}"
    );

    // An Accept the server cannot satisfy.
    let r = c
        .post(&gql)
        .header(ACCEPT, "text/csv")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn graphiql_health_metrics_cors_and_compression() {
    let app = app().await;
    let c = &app.client;
    for path in ["/", "/graphql"] {
        let r = c
            .get(app.url(path))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("graphiql/graphiql.min.js"), "{path}");
        assert!(
            !html.contains("https://"),
            "{path} must not load anything from outside"
        );
    }
    for (file, ty) in [
        ("graphiql.min.js", "text/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "text/javascript"),
        ("react-dom.production.min.js", "text/javascript"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let r = c
            .get(app.url(&format!("/graphiql/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert!(
            r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with(ty),
            "{file}"
        );
    }
    let r = c.get(app.url("/graphiql/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let metrics = c
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tokenmirror_http_requests_total{path=\"/readyz\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tokenmirror_http_request_duration_seconds_bucket"));

    let r = c
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("Origin", "https://dashboard.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");

    let r = c
        .get(app.url("/graphiql/graphiql.min.js"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let r = c
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

/// Readiness follows the database: the server's own PostgreSQL connection goes through a proxy
/// that the test cuts (the shared server keeps running for the other tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database_and_internal_errors_stay_generic() {
    let (app, proxy) = behind_proxy(Default::default()).await;
    let ready = || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, StatusCode::OK);

    proxy.cut();
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
    let answer = app.gql("{ tokens { address } }", json!({})).await;
    assert_eq!(
        error_codes(&answer),
        vec!["INTERNAL_SERVER_ERROR"],
        "{answer}"
    );
    let msg = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("internal server error (request id "),
        "{msg}"
    );

    proxy.restore();
    let mut status = ready().await;
    for _ in 0..20 {
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        status = ready().await;
    }
    assert_eq!(status, StatusCode::OK);
}
