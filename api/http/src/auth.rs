//! Access control middleware: find the request's token (`X-Access-Token`,
//! `?accessToken=` or `Authorization: Bearer`), let the service decide whom it
//! acts for, and keep user tokens inside their own user's routes.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eider_service::api::Principal;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::AppState;

/// Marks a POST /authenticate made without a token (the webmail's sign-in).
#[derive(Debug, Clone, Copy)]
pub struct SelfSignIn;

/// Routes anyone may call, whatever the access control settings.
const PUBLIC: [&str; 2] = ["/health", "/openapi.json"];

fn query_token(query: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "accessToken")
        .map(|(_, v)| v)
}

/// The access token a request carries, if any.
pub fn request_token(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Some(t) = headers
        .get("x-access-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    {
        return Some(t.trim().to_string());
    }
    if let Some(t) = req
        .uri()
        .query()
        .and_then(query_token)
        .filter(|t| !t.is_empty())
    {
        return Some(t);
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
        .filter(|t| !t.is_empty())
}

/// Paths a user token may reach: its own user's routes and DELETE /authenticate.
/// Handlers check the user again; this keeps a forgotten check from leaking.
fn user_may_reach(user: &eider_service::ObjectId, path: &str) -> bool {
    // The two listings a user role may read for itself; their handlers keep
    // the answer to the caller's own records.
    if matches!(path, "/authenticate" | "/addresses" | "/filters") {
        return true;
    }
    let Some(rest) = path.strip_prefix("/users/") else {
        return false;
    };
    let segment = rest.split('/').next().unwrap_or("");
    segment == "me" || segment.eq_ignore_ascii_case(&user.to_hex())
}

/// Routes a token waiting for its second factor may reach: completing it, and
/// giving the token up.
fn pending_may_reach(
    user: &eider_service::ObjectId,
    method: &axum::http::Method,
    path: &str,
) -> bool {
    if path == "/authenticate" {
        return method == axum::http::Method::DELETE;
    }
    if method != axum::http::Method::POST || !user_may_reach(user, path) {
        return false;
    }
    let rest = path.splitn(4, '/').nth(3).unwrap_or("");
    matches!(
        rest,
        "2fa/totp/check"
            | "2fa/webauthn/authentication-challenge"
            | "2fa/webauthn/authentication-assertion"
    )
}

pub async fn access_control(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // The webmail's static files hold no data; its API calls carry the token.
    let path = req.uri().path();
    if PUBLIC.contains(&path) || path == "/webmail" || path.starts_with("/webmail/") {
        req.extensions_mut().insert(Caller {
            principal: Principal::Root,
            token: None,
        });
        return next.run(req).await;
    }
    let token = request_token(&req);
    // The webmail signs in from the browser, which holds no token yet: with the
    // webmail on, POST /authenticate is open, as IMAP's LOGIN is. It acts for nobody:
    // the handler only checks the credentials (under the same rate limits) and
    // ignores the body's `ip`, which only a trusted backend may give.
    if token.is_none()
        && state.webmail
        && req.method() == axum::http::Method::POST
        && req.uri().path() == "/authenticate"
    {
        req.extensions_mut().insert(SelfSignIn);
        req.extensions_mut().insert(Caller {
            principal: Principal::Root,
            token: None,
        });
        return next.run(req).await;
    }
    let principal = match state
        .service
        .principal(&state.policy, token.as_deref())
        .await
    {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let reachable = match &principal {
        Principal::Root => true,
        Principal::User(user) => user_may_reach(user, req.uri().path()),
        Principal::Pending(user) => pending_may_reach(user, req.method(), req.uri().path()),
    };
    {
        if !reachable {
            return ApiError::from(eider_service::api::AccessError::MissingPrivileges)
                .into_response();
        }
    }
    req.extensions_mut().insert(Caller { principal, token });
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tokens_stay_home() {
        let u = eider_service::ObjectId::new();
        let other = eider_service::ObjectId::new();
        assert!(user_may_reach(&u, "/users/me"));
        assert!(user_may_reach(
            &u,
            &format!("/users/{}/mailboxes", u.to_hex())
        ));
        assert!(user_may_reach(&u, "/authenticate"));
        assert!(!user_may_reach(&u, &format!("/users/{}", other.to_hex())));
        assert!(!user_may_reach(&u, "/users"));
        assert!(user_may_reach(&u, "/addresses"));
        assert!(user_may_reach(&u, "/filters"));
        assert!(!user_may_reach(&u, "/addresses/forwarded"));
    }

    #[test]
    fn pending_tokens_only_complete_the_second_factor() {
        use axum::http::Method;
        let u = eider_service::ObjectId::new();
        let own = |rest: &str| format!("/users/{}/{rest}", u.to_hex());
        assert!(pending_may_reach(&u, &Method::POST, &own("2fa/totp/check")));
        assert!(pending_may_reach(
            &u,
            &Method::POST,
            "/users/me/2fa/totp/check"
        ));
        assert!(pending_may_reach(
            &u,
            &Method::POST,
            &own("2fa/webauthn/authentication-assertion")
        ));
        assert!(pending_may_reach(&u, &Method::DELETE, "/authenticate"));
        assert!(!pending_may_reach(&u, &Method::POST, "/authenticate"));
        assert!(!pending_may_reach(&u, &Method::GET, &own("mailboxes")));
        assert!(!pending_may_reach(
            &u,
            &Method::GET,
            &format!("/users/{}", u.to_hex())
        ));
        assert!(!pending_may_reach(&u, &Method::DELETE, &own("2fa")));
    }

    #[test]
    fn tokens_come_from_three_places() {
        let req =
            |b: axum::http::request::Builder| b.body(axum::body::Body::empty()).expect("request");
        let r = req(Request::builder().uri("/x").header("X-Access-Token", "abc"));
        assert_eq!(request_token(&r).as_deref(), Some("abc"));
        let r = req(Request::builder().uri("/x?accessToken=def&a=1"));
        assert_eq!(request_token(&r).as_deref(), Some("def"));
        let r = req(Request::builder()
            .uri("/x")
            .header("Authorization", "Bearer ghi"));
        assert_eq!(request_token(&r).as_deref(), Some("ghi"));
        let r = req(Request::builder().uri("/x"));
        assert_eq!(request_token(&r), None);
    }
}
