//! GraphiQL and the live chart, served by the binary itself: the page and every script, style and icon it loads
//! live in `src/http/assets/` (see `VENDORED.md` there) and are compiled in, so the page works
//! with no internet.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("assets/index.html");
const CHART: &str = include_str!("assets/chart.html");

/// `(file name, content type, bytes)` of each asset under `/graphiql/`.
const ASSETS: [(&str, &str, &[u8]); 8] = [
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/react-dom.production.min.js"),
    ),
    (
        "graphql-ws.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/graphql-ws.min.js"),
    ),
    (
        "lightweight-charts.standalone.production.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/lightweight-charts.standalone.production.js"),
    ),
    (
        "lightweight-charts.LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("assets/lightweight-charts.LICENSE.txt"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    ),
];

/// The GraphiQL page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The live chart page (`/chart`).
pub async fn chart() -> Html<&'static str> {
    Html(CHART)
}

/// One vendored asset; they never change within a build, so browsers may cache them.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response(),
    }
}
