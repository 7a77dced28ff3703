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
        (name = "Filters"), (name = "Autoreplies"),
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

/// GET /openapi.json
pub async fn serve() -> impl IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOC.get_or_init(openapi_json).clone(),
    )
}
