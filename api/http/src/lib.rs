//! Eider's HTTP API: WildDuck-compatible REST routes over the service layer.

use std::future::Future;
use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use eider_service::Service;
use serde::Deserialize;
use tokio::net::TcpListener;

/// `[api]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    #[serde(rename = "maxMB")]
    pub max_mb: u64,
    pub access_control: AccessControl,
}

/// `[api.accessControl]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessControl {
    pub enabled: bool,
    pub secret: String,
    pub allow_insecure: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("refusing to serve the API on {0} without access control; enable [api.accessControl] or set allowInsecure")]
    Insecure(String),
    #[error("API server failed: {0}")]
    Serve(std::io::Error),
}

/// A bound API listener, ready to serve.
pub struct ApiServer {
    listener: TcpListener,
    router: Router,
}

/// The API's routes over a service.
pub fn router(service: Service, config: &ApiConfig) -> Router {
    let _ = config;
    Router::new()
        .route("/health", get(health))
        .with_state(service)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "success": true }))
}

/// Bind the API listener. Refuses to expose an open API beyond loopback.
pub async fn bind(service: Service, config: &ApiConfig) -> Result<ApiServer, ApiError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| ApiError::Bind(addr.clone(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ApiError::Bind(addr.clone(), e))?;
    if !local.ip().is_loopback() && !config.access_control.enabled && !config.access_control.allow_insecure {
        return Err(ApiError::Insecure(local.to_string()));
    }
    Ok(ApiServer {
        listener,
        router: router(service, config),
    })
}

impl ApiServer {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve until `shutdown` completes, then finish in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ApiError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ApiError::Serve)
    }
}
