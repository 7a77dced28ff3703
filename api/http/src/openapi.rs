//! The OpenAPI document, generated from the handlers' annotations.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Eider API",
        description = "WildDuck-compatible mail server API. Errors answer `{error, code}` (plus `details` for invalid input).",
        license(name = "EUPL-1.2"),
    ),
    modifiers(&AccessToken),
    security(("AccessTokenAuth" = [])),
    tags(
        (name = "Users"), (name = "Addresses"), (name = "DomainAliases"), (name = "Mailboxes"),
        (name = "Messages"), (name = "Authentication"), (name = "Health"),
        (name = "ApplicationPasswords"), (name = "TwoFactorAuth"),
        (name = "Filters"), (name = "Autoreplies"), (name = "Archive"),
    ),
)]
pub struct ApiDoc;

struct AccessToken;

impl Modify for AccessToken {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "AccessTokenAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Access-Token",
                "Access token: the root secret from [api.accessControl] or a user token from POST /authenticate. May also be given as the accessToken query parameter.",
            ))),
        );
    }
}

/// The whole document.
pub fn openapi_document() -> Document {
    crate::routes::all().split_for_parts().1
}

/// The document as pretty-printed JSON (what `openapi/openapi.json` holds).
pub fn openapi_json() -> String {
    let mut text = openapi_document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// WildDuck's route listing (GET /api-methods, restify's `router.getRoutes()`):
/// an object keyed by route name, each `{name, method, path, spec: {name, method,
/// path}}` with `:param` paths. Made from the OpenAPI document, which the router
/// generates, so it lists exactly the routes served.
pub fn api_methods(doc: &Document) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for (path, item) in &doc.paths.paths {
        let path = restify_path(path);
        let operations = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
        ];
        for (method, op) in operations {
            let Some(op) = op else { continue };
            // restify names unnamed routes from method and path the same way.
            let name = op.operation_id.clone().unwrap_or_else(|| {
                format!("{method}{path}")
                    .to_lowercase()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect()
            });
            let spec = serde_json::json!({"name": name, "method": method, "path": path});
            out.insert(
                name.clone(),
                serde_json::json!({"name": name, "method": method, "path": path, "spec": spec}),
            );
        }
    }
    out
}

/// `/users/{user}` as restify writes it: `/users/:user`.
fn restify_path(path: &str) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => format!(":{param}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// GET /api-methods
pub async fn serve_api_methods() -> impl IntoResponse {
    static LIST: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    axum::Json(
        LIST.get_or_init(|| serde_json::Value::Object(api_methods(&openapi_document())))
            .clone(),
    )
}

/// GET /openapi.json
pub async fn serve() -> impl IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOC.get_or_init(openapi_json).clone(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn restify_paths() {
        assert_eq!(
            super::restify_path("/users/{user}/addresses/{address}"),
            "/users/:user/addresses/:address"
        );
        assert_eq!(super::restify_path("/users"), "/users");
    }
}
