//! `GET /health` (liveness) and `GET /ready` (readiness).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::services::HealthReport;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(get_ready))
}

/// Liveness.
///
/// 200 whenever the process answers, with the state of each backing store (probed at most
/// once a second).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process answers", body = HealthReport)))]
async fn get_health(State(state): State<AppState>) -> Json<HealthReport> {
    Json(state.health.check_recent().await)
}

/// Readiness.
///
/// 200 when every configured store answers, else 503 with the same body.
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, description = "Every configured store answers", body = HealthReport),
    (status = 503, description = "A configured store does not answer", body = HealthReport),
))]
async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let report = state.health.check().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
