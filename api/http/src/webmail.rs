//! The webmail (`web-demo/`): static files compiled into the binary and served at
//! `/webmail/` on the API listener. The pages only call the public API, same-origin,
//! with the token from POST /authenticate; they carry no data, so they need no token.
//!
//! Every page gets a Content-Security-Policy that allows nothing but this origin's
//! own scripts, styles and API: message HTML is shown in a sandboxed frame whose own
//! policy (set by the webmail) narrows images further until the reader asks for them.

use axum::extract::Path;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file: its name under /webmail/, media type and bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            media_type: $type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../web-demo/",
                $name
            )),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("mail.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("compose.js", JS),
    asset!("settings.js", JS),
    asset!("icon.svg", "image/svg+xml"),
];

/// The page's policy. Images may come from anywhere only because the message frame
/// inherits this policy and narrows it itself (remote images stay blocked until the
/// reader asks); the webmail's own code loads none.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https: http:; connect-src 'self'; frame-src 'self'; \
    child-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'";

/// Routes of the webmail, added to the API's router when `[webmail] enabled`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/webmail",
            get(|| async { Redirect::permanent("/webmail/") }),
        )
        .route("/webmail/", get(|| async { serve_name("index.html") }))
        .route(
            "/webmail/{*file}",
            get(|Path(file): Path<String>| async move { serve_name(&file) }),
        )
}

fn serve_name(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return crate::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Resource does not exist",
        )
        .into_response();
    };
    let mut response = asset.body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary: revalidate rather than serve an old app.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_and_typed() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            let r = serve_name(a.name);
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        assert_eq!(serve_name("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve_name("missing.js").status(), StatusCode::NOT_FOUND);
    }
}
