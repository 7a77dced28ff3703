//! The routes, one module per resource.

pub mod addresses;
pub mod asps;
pub mod audit;
pub mod authentication;
pub mod authlog;
pub mod autoreply;
pub mod certs;
pub mod data;
pub mod dkim;
pub mod domainaccess;
pub mod domainaliases;
pub mod filters;
pub mod health;
pub mod lifecycle;
pub mod mailboxes;
pub mod message_view;
pub mod messages;
pub mod metrics;
pub mod search;
pub mod settings;
pub mod storage;
pub mod submit;
pub mod twofa;
pub mod users;
pub mod webauthn;
pub mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every documented route.
pub fn all() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .merge(users::router())
        .merge(addresses::router())
        .merge(domainaliases::router())
        .merge(mailboxes::router())
        .merge(messages::router())
        .merge(search::router())
        .merge(submit::router())
        .merge(health::router())
        .merge(authentication::router())
        .merge(asps::router())
        .merge(twofa::router())
        .merge(webauthn::router())
        .merge(authlog::router())
        .merge(filters::router())
        .merge(autoreply::router())
        .merge(storage::router())
        .merge(audit::router())
        .merge(data::router())
        .merge(lifecycle::router())
        .merge(dkim::router())
        .merge(certs::router())
        .merge(metrics::router())
        .merge(settings::router())
        .merge(domainaccess::router())
        .merge(webhooks::router())
        .merge(crate::sse::router())
}
