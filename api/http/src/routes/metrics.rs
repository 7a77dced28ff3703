//! GET /metrics: the process's metrics in the Prometheus text format.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorResponse};
use crate::extract::Caller;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics
///
/// Connections, commands, authentications, deliveries and store latency, in the Prometheus text exposition format (0.0.4). Root only when access control is on (a scraper passes the token as `accessToken` or `X-Access-Token`); with access control off the API answers on loopback only, like every other route.
#[utoipa::path(get, path = "/metrics", tag = "Health", operation_id = "getMetrics",
    responses(
        (status = 200, description = "Prometheus text", content_type = "text/plain; version=0.0.4", body = String),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn metrics(caller: Caller) -> ApiResult<Response> {
    caller.require_root()?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        eider_net::metrics::render(),
    )
        .into_response())
}
