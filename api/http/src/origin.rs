//! Request hygiene for browsers: with access control off (the loopback default),
//! any web page the operator visits could otherwise drive the API, by a cross-site
//! form POST (CSRF) or by DNS rebinding a name of its own onto 127.0.0.1. So, with
//! access control off:
//! - the `Host` must name this listener: an IP literal (rebinding needs a name),
//!   `localhost`, the configured `api.host`, or one of `api.allowHosts`;
//! - a request carrying an `Origin` other than its own or one of `api.allowOrigins`,
//!   or `Sec-Fetch-Site: cross-site`, is refused;
//! - a body must be JSON (or `message/rfc822` for message uploads): a browser sends
//!   `text/plain`, form and multipart bodies cross-site without asking.
//!
//! With access control on, requests need a token a browser does not attach by
//! itself, and deployments behind proxies see many Host names, so these checks stay
//! off there. Listed origins get CORS headers either way, so that a web client can
//! call the API with its tokens.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// What the guard lets through; built once from `[api]`.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    /// Enforce the Host, Origin and Content-Type checks (access control is off).
    pub enforce: bool,
    /// Host names (lower case, no port) besides IP literals and `localhost`; `*` allows any.
    pub hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lower case) allowed cross-origin; `*` allows any.
    pub origins: Vec<String>,
}

impl BrowserPolicy {
    pub fn new(enforce: bool, api_host: &str, hosts: &[String], origins: &[String]) -> Self {
        let mut names: Vec<String> = hosts.iter().map(|h| host_name(h)).collect();
        let own = host_name(api_host);
        if !own.is_empty() {
            names.push(own);
        }
        Self {
            enforce,
            hosts: names,
            origins: origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// May a request name this `Host`?
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || self.hosts.iter().any(|h| h == "*" || *h == name)
    }

    fn origin_listed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.origins.iter().any(|o| o == "*" || *o == origin)
    }
}

/// The host part of a `Host` value or configured name: lower case, without port or
/// IPv6 brackets.
fn host_name(host: &str) -> String {
    let h = host.trim().to_ascii_lowercase();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    let name = match h.rsplit_once(':') {
        // One colon: name:port. More: a bare IPv6 address.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => h.as_str(),
    };
    name.trim_end_matches('.').to_string()
}

/// Is `origin` this server as the request reached it (`http(s)://<Host>`)?
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let host = host.trim().to_ascii_lowercase();
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Does the request carry a body?
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || header(headers, header::CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// JSON, a raw message (POST .../messages takes `message/rfc822`) or a raw file
/// (POST .../storage takes `application/octet-stream`). None of these is a type a
/// browser may send cross-site without a CORS preflight.
fn body_type_allowed(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence.ends_with("+json")
        || essence == "message/rfc822"
        || essence == "application/octet-stream"
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// The guard: runs before access control, so a refused request touches nothing.
pub async fn browser_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let policy = &state.browser;
    let headers = req.headers();
    let origin = header(headers, header::ORIGIN).map(str::to_string);
    let host = header(headers, header::HOST).map(str::to_string);
    if policy.enforce {
        // HTTP/1.0 clients may omit Host; browsers never do.
        if let Some(h) = host.as_deref() {
            if !policy.host_allowed(h) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "MissingPrivileges",
                    format!("Host {h:?} is not served here; list it in api.allowHosts"),
                );
            }
        }
        let cross_site = header(headers, header::HeaderName::from_static("sec-fetch-site"))
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("cross-site"));
        let origin_ok = match origin.as_deref() {
            Some(o) => same_origin(o, host.as_deref()) || policy.origin_listed(o),
            None => !cross_site,
        };
        if !origin_ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "MissingPrivileges",
                format!(
                    "Cross-origin request from {} refused; list the origin in api.allowOrigins",
                    origin.as_deref().unwrap_or("another site")
                ),
            );
        }
        if matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) && has_body(headers)
            && !body_type_allowed(header(headers, header::CONTENT_TYPE))
        {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "InputValidationError",
                "Content-Type must be application/json".to_string(),
            );
        }
    }
    // CORS for listed origins (not for our own: same-origin needs none).
    let cors = origin
        .as_deref()
        .filter(|o| !same_origin(o, host.as_deref()) && policy.origin_listed(o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let Some(allow) = cors else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, X-Access-Token, Authorization"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_the_listener() {
        let p = BrowserPolicy::new(true, "127.0.0.1", &["Mail.Example.org".to_string()], &[]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "::1",
            "192.0.2.7:8080",
            "mail.example.org:443",
            "mail.example.org.",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io:8080",
            "",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let any = BrowserPolicy::new(true, "0.0.0.0", &["*".to_string()], &[]);
        assert!(any.host_allowed("whatever.example"));
    }

    #[test]
    fn origins_and_bodies() {
        let p = BrowserPolicy::new(true, "127.0.0.1", &[], &["https://App.example/".into()]);
        assert!(p.origin_listed("https://app.example"));
        assert!(!p.origin_listed("https://evil.example"));
        assert!(!p.origin_listed("null"));
        assert!(same_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!same_origin(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8080")
        ));
        assert!(body_type_allowed(Some("application/json; charset=utf-8")));
        assert!(body_type_allowed(Some("message/rfc822")));
        assert!(!body_type_allowed(Some("text/plain")));
        assert!(!body_type_allowed(Some(
            "application/x-www-form-urlencoded"
        )));
        assert!(!body_type_allowed(Some("multipart/form-data; boundary=x")));
        assert!(!body_type_allowed(None));
    }
}
