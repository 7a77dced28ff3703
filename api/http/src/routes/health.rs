//! GET /health: is the store reachable?

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::schema::{ok, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthFailure {
    pub success: bool,
    /// Error message specifying what went wrong
    pub message: String,
}

/// Check the health of the API: the store answers a read
#[utoipa::path(get, path = "/health", tag = "Health", operation_id = "getHealth",
    security(()),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 500, description = "Failed", body = HealthFailure),
    ))]
async fn health(State(state): State<AppState>) -> Response {
    match state.service.last_journal_id().await {
        Ok(_) => ok().into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(HealthFailure {
                success: false,
                message: format!("store is not readable: {e}"),
            }),
        )
            .into_response(),
    }
}
