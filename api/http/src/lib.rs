//! Eider's HTTP API: WildDuck-compatible REST routes over the service layer,
//! described by utoipa (GET /openapi.json), with a Server-Sent Events change
//! stream. Handlers are thin: parse, ask the service, render.

mod auth;
mod compose;
mod data_format;
mod de;
mod error;
mod extract;
mod listener;
mod openapi;
mod origin;
mod routes;
mod sanitize;
mod schema;
mod sse;
mod webmail;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;
use eider_service::api::AccessPolicy;
use eider_service::Service;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use openapi::{openapi_document, openapi_json};

/// `[api]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    #[serde(rename = "maxMB")]
    pub max_mb: u64,
    /// Most connections open at once (0: no cap).
    #[serde(default)]
    pub max_clients: usize,
    /// Most connections open at once from one client address (0: no cap).
    #[serde(default, rename = "maxClientsPerIP")]
    pub max_clients_per_ip: usize,
    pub access_control: AccessControl,
    /// Host names (besides IP literals, `localhost` and `host`) requests may name
    /// while access control is off; `*` allows any.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Web origins allowed to call the API from a browser (CORS); `*` allows any.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Domains user tokens may add addresses in; empty: the domains of the user's
    /// own addresses.
    #[serde(default)]
    pub user_address_domains: Vec<String>,
    /// Seconds a client has to send a request's head (and an idle keep-alive
    /// connection stays open).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: u64,
    /// Seconds a request may take from its head to the handler's answer, reading its
    /// body included (a response streamed afterwards is bounded by `writeTimeout`).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: u64,
    /// Seconds a write may wait for a client that does not read before the
    /// connection is closed.
    #[serde(default = "default_write_timeout")]
    pub write_timeout: u64,
    /// `[api.mobileconfig]`: profiles generated with application passwords.
    #[serde(default)]
    pub mobileconfig: MobileconfigConfig,
    /// Serve the webmail at `/webmail/` (set from `[webmail] enabled`, not `[api]`).
    #[serde(skip)]
    pub webmail: bool,
}

fn default_header_timeout() -> u64 {
    30
}

fn default_request_timeout() -> u64 {
    300
}

fn default_write_timeout() -> u64 {
    60
}

/// `[api.mobileconfig]`: the texts of Apple mail profiles (`{email}` and `{name}`
/// are replaced) and the servers as mail clients reach them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MobileconfigConfig {
    pub identifier: String,
    pub display_name: String,
    pub organization: String,
    pub display_description: String,
    pub account_description: String,
    #[serde(rename = "imapHostname")]
    pub imap_hostname: String,
    #[serde(rename = "imapPort")]
    pub imap_port: u16,
    #[serde(rename = "imapSecure")]
    pub imap_secure: bool,
    #[serde(rename = "pop3Hostname")]
    pub pop3_hostname: String,
    #[serde(rename = "pop3Port")]
    pub pop3_port: u16,
    #[serde(rename = "pop3Secure")]
    pub pop3_secure: bool,
    #[serde(rename = "smtpHostname")]
    pub smtp_hostname: String,
    /// 0: the submission gateway's port (`[submission] port`), set by `eider serve`.
    #[serde(rename = "smtpPort")]
    pub smtp_port: u16,
    /// None: as the submission gateway (`[submission] secure`).
    #[serde(rename = "smtpSecure")]
    pub smtp_secure: Option<bool>,
}

impl Default for MobileconfigConfig {
    fn default() -> Self {
        let p = eider_auth::mobileconfig::ProfileSettings::default();
        Self {
            identifier: p.identifier,
            display_name: p.display_name,
            organization: p.organization,
            display_description: p.display_description,
            account_description: p.account_description,
            imap_hostname: "localhost".into(),
            imap_port: 9993,
            imap_secure: false,
            pop3_hostname: "localhost".into(),
            pop3_port: 9995,
            pop3_secure: false,
            smtp_hostname: "localhost".into(),
            smtp_port: 587,
            smtp_secure: None,
        }
    }
}

impl MobileconfigConfig {
    pub(crate) fn profile_settings(&self) -> eider_auth::mobileconfig::ProfileSettings {
        eider_auth::mobileconfig::ProfileSettings {
            identifier: self.identifier.clone(),
            display_name: self.display_name.clone(),
            organization: self.organization.clone(),
            display_description: self.display_description.clone(),
            account_description: self.account_description.clone(),
        }
    }
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
pub enum ServerError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("refusing to serve the API on {0} without access control; enable [api.accessControl] or set allowInsecure")]
    Insecure(String),
    #[error("[api] {0}")]
    Gate(#[from] eider_net::GateError),
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub service: Service,
    pub policy: Arc<AccessPolicy>,
    pub mobileconfig: Arc<MobileconfigConfig>,
    /// Host, Origin and Content-Type rules for browsers.
    pub browser: Arc<origin::BrowserPolicy>,
    /// Turns true when the server stops, so that change streams end.
    pub stopping: watch::Receiver<bool>,
    /// The webmail is served: POST /authenticate may be called without a token.
    pub webmail: bool,
}

/// A bound API listener, ready to serve.
pub struct ApiServer {
    listener: listener::CappedListener,
    router: Router,
    deadlines: listener::Deadlines,
    stop: watch::Sender<bool>,
}

/// The API's routes over a service.
pub fn router(service: Service, config: &ApiConfig) -> Router {
    // Nobody stops a bare router; its streams treat the closed channel as "never".
    let (_, stopping) = watch::channel(false);
    build(service, config, stopping)
}

fn build(service: Service, config: &ApiConfig, stopping: watch::Receiver<bool>) -> Router {
    let max_body =
        usize::try_from(config.max_mb.max(1).saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let state = AppState {
        service,
        policy: Arc::new(AccessPolicy {
            enabled: config.access_control.enabled,
            secret: config.access_control.secret.clone(),
            user_address_domains: config.user_address_domains.clone(),
        }),
        mobileconfig: Arc::new(config.mobileconfig.clone()),
        browser: Arc::new(origin::BrowserPolicy::new(
            !config.access_control.enabled,
            &config.host,
            &config.allow_hosts,
            &config.allow_origins,
        )),
        stopping,
        webmail: config.webmail,
    };
    let request_timeout = std::time::Duration::from_secs(config.request_timeout.max(1));
    let (routes, _doc) = routes::all().split_for_parts();
    let routes = if config.webmail {
        routes.merge(webmail::router())
    } else {
        routes
    };
    routes
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .route(
            "/api-methods",
            axum::routing::get(openapi::serve_api_methods),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::access_control,
        ))
        // Outermost: a refused browser request reaches neither access control nor a handler.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::browser_guard,
        ))
        // Bodies a little over the message limit still parse, so that an oversized
        // message is refused by the service with a clear answer.
        .layer(DefaultBodyLimit::max(
            max_body.saturating_mul(4) / 3 + 64 * 1024,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            request_deadline(request_timeout, req, next)
        }))
        .layer(axum::middleware::from_fn(count_request))
        .with_state(state)
}

/// `eider_api_requests_total{method, status}`: every answered request.
async fn count_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method: &'static str = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = next.run(req).await;
    let status = response.status();
    eider_net::metrics::inc(
        "eider_api_requests_total",
        "API requests answered, by method and status code.",
        &[("method", method), ("status", status.as_str())],
    );
    response
}

/// A request must be answered within the limit, reading its body included: a client
/// dripping a body cannot hold its connection (and a place under the cap) forever.
async fn request_deadline(
    limit: std::time::Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "The request was not completed within {} seconds",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "Resource does not exist",
    )
}

/// Bind the API listener. Refuses to expose an open API beyond loopback.
pub async fn bind(service: Service, config: &ApiConfig) -> Result<ApiServer, ServerError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| ServerError::Bind(addr.clone(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Bind(addr.clone(), e))?;
    if !local.ip().is_loopback()
        && !config.access_control.enabled
        && !config.access_control.allow_insecure
    {
        return Err(ServerError::Insecure(local.to_string()));
    }
    let gate = eider_net::Gate::new(
        "API",
        &eider_net::GateConfig {
            max_clients: config.max_clients,
            max_clients_per_ip: config.max_clients_per_ip,
            ..Default::default()
        },
    )?;
    let (stop, stopping) = watch::channel(false);
    Ok(ApiServer {
        listener: listener::CappedListener {
            inner: listener,
            gate,
        },
        router: build(service, config, stopping),
        deadlines: listener::Deadlines {
            header: std::time::Duration::from_secs(config.header_timeout.max(1)),
            write: std::time::Duration::from_secs(config.write_timeout.max(1)),
        },
        stop,
    })
}

impl ApiServer {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.inner.local_addr().ok()
    }

    /// Serve until `shutdown` completes, then finish in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let stop = self.stop;
        listener::serve(self.listener, self.router, self.deadlines, async move {
            shutdown.await;
            // End the change streams, which would otherwise never finish.
            let _ = stop.send(true);
        })
        .await;
        Ok(())
    }
}
