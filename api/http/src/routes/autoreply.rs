//! Autoreply (vacation responder) settings of a user; LMTP delivery answers
//! with them, at most once per sender per period, never to automatic mail.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::AutoreplyUpdate;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::schema::{
    ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LogParams};
use crate::de::{self, OrFalse};
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{ApiJson, Caller};
use crate::schema::{iso, ok, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_autoreply, update_autoreply, delete_autoreply))
}

/// A date, or `false` when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateOrFalse(pub Option<String>);

impl Serialize for DateOrFalse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(d) => s.serialize_str(d),
            None => s.serialize_bool(false),
        }
    }
}

fn date_or_false_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .description(Some("Datestring, or false when not set"))
        .into()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAutoreplyResponse {
    /// Indicates successful response
    pub success: bool,
    /// Is the autoreply enabled (true) or not (false)
    pub status: bool,
    /// Name that is used for the From: header in autoreply message
    pub name: String,
    /// Subject line for the autoreply. If empty then uses subject of the original message
    pub subject: String,
    /// Plaintext formatted content of the autoreply message
    pub text: String,
    /// HTML formatted content of the autoreply message
    pub html: String,
    /// Datestring of the start of the autoreply or boolean false to disable start checks
    #[schema(schema_with = date_or_false_schema)]
    pub start: DateOrFalse,
    /// Datestring of the end of the autoreply or boolean false to disable end checks
    #[schema(schema_with = date_or_false_schema)]
    pub end: DateOrFalse,
    /// Datestring of when the Autoreply was created
    #[schema(schema_with = date_or_false_schema)]
    pub created: DateOrFalse,
}

/// Request Autoreply information
#[utoipa::path(get, path = "/users/{user}/autoreply", tag = "Autoreplies", operation_id = "getAutoreply",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = GetAutoreplyResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn get_autoreply(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<GetAutoreplyResponse>> {
    let user = caller.user(&user)?;
    let a = state.service.get_autoreply(user).await?.unwrap_or_default();
    Ok(Json(GetAutoreplyResponse {
        success: true,
        status: a.status,
        name: a.name.unwrap_or_default(),
        subject: a.subject.unwrap_or_default(),
        text: a.text.unwrap_or_default(),
        html: a.html.unwrap_or_default(),
        start: DateOrFalse(a.start.as_ref().map(iso)),
        end: DateOrFalse(a.end.as_ref().map(iso)),
        created: DateOrFalse(a.created.as_ref().map(iso)),
    }))
}

/// Body of PUT /users/{user}/autoreply: only the given fields change.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateAutoreplyRequest {
    /// Is the autoreply enabled (true) or not (false)
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub status: Option<bool>,
    /// Name that is used for the From: header in autoreply message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// Subject line for the autoreply. If empty then uses subject of the original message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub subject: Option<String>,
    /// Plaintext formatted content of the autoreply message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub text: Option<String>,
    /// HTML formatted content of the autoreply message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub html: Option<String>,
    /// Datestring of the start of the autoreply or boolean false to disable start checks
    #[serde(default, deserialize_with = "de::opt_date_or_false")]
    #[schema(schema_with = date_or_false_schema)]
    pub start: Option<OrFalse<chrono::DateTime<chrono::Utc>>>,
    /// Datestring of the end of the autoreply or boolean false to disable end checks
    #[serde(default, deserialize_with = "de::opt_date_or_false")]
    #[schema(schema_with = date_or_false_schema)]
    pub end: Option<OrFalse<chrono::DateTime<chrono::Utc>>>,
    #[serde(default)]
    pub sess: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

fn date_change(
    v: Option<OrFalse<chrono::DateTime<chrono::Utc>>>,
) -> Option<Option<chrono::DateTime<chrono::Utc>>> {
    v.map(|d| match d {
        OrFalse::Off => None,
        OrFalse::Set(d) => Some(d),
    })
}

/// Update Autoreply information
#[utoipa::path(put, path = "/users/{user}/autoreply", tag = "Autoreplies", operation_id = "updateAutoreply",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = UpdateAutoreplyRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn update_autoreply(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<UpdateAutoreplyRequest>,
) -> ApiResult<Json<IdResponse>> {
    let user = caller.user(&user)?;
    let update = AutoreplyUpdate {
        status: body.status,
        name: body.name,
        subject: body.subject,
        text: body.text,
        html: body.html,
        start: date_change(body.start),
        end: date_change(body.end),
    };
    let stored = state
        .service
        .update_autoreply(user, update)
        .await
        .map_err(|e| {
            // The service names the field first: "\"subject\" length must be ...".
            let field = match &e {
                eider_service::Error::Validation(m) => m
                    .strip_prefix('"')
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("autoreply")
                    .to_string(),
                _ => "autoreply".to_string(),
            };
            ApiError::from(e).on_field(&field)
        })?;
    Ok(id_response(stored.id.unwrap_or_default()))
}

/// Delete Autoreply information
#[utoipa::path(delete, path = "/users/{user}/autoreply", tag = "Autoreplies", operation_id = "deleteAutoreply",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn delete_autoreply(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    state.service.delete_autoreply(user).await?;
    Ok(ok())
}
