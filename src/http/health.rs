//! The operator's endpoints: `/healthz` (alive), `/readyz` (the database answers and is
//! migrated) and `/metrics` (Prometheus text).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// How long `/readyz` may take: under the 1 s a Kubernetes probe waits by default.
const READY_WITHIN: Duration = Duration::from_millis(800);

/// `GET /readyz`: 200 when the database answers and is migrated, else 503 — within
/// [`READY_WITHIN`], and at once while the health checks see the database down.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |why: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    };
    if !state.db.health().is_up() {
        return not_ready("the database is unreachable");
    }
    match tokio::time::timeout(READY_WITHIN, state.db.is_ready()).await {
        Ok(true) => {
            // Standbys are extra capacity: one out of rotation leaves the server ready (its
            // reads go to the primary), and is listed.
            let mut body = "ready\n".to_owned();
            for s in state.db.replicas().map(|r| r.states()).unwrap_or_default() {
                body.push_str(&format!(
                    "standby {}: {}, lag {:.1} s\n",
                    s.name,
                    match (s.up, s.in_rotation) {
                        (false, _) => "down, out of rotation",
                        (true, false) => "lagging, out of rotation",
                        (true, true) => "in rotation",
                    },
                    s.lag.as_secs_f64()
                ));
            }
            (StatusCode::OK, body).into_response()
        }
        Ok(false) => not_ready("the database is unreachable or not migrated"),
        Err(_) => not_ready("the database did not answer in time"),
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
