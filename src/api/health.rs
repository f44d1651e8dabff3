//! `GET /health` (liveness) and `GET /ready` (readiness).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use crate::services::HealthReport;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(get_health))
        .route("/ready", get(get_ready))
}

/// 200 whenever the process answers, with the state of each backing store (probed at most
/// once a second).
async fn get_health(State(state): State<AppState>) -> Json<HealthReport> {
    Json(state.health.check_recent().await)
}

/// 200 when every configured store answers, else 503 with the same body.
async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let report = state.health.check().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
