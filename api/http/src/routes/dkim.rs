//! DKIM keys: one signing key per domain, generated or imported, and the DNS
//! record to publish for it.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::Paging;
use eider_service::{DkimAlgorithm, DkimKey, NewDkimKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, iso, ok, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, set_key))
        .routes(routes!(resolve_key))
        .routes(routes!(get_key, delete_key))
}

/// Query of GET /dkim.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListDkimQuery {
    /// Partial match of a Domain name
    #[serde(deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetDkimKeysResult {
    /// ID of the DKIM
    pub id: String,
    /// The domain this DKIM key applies to
    pub domain: String,
    /// DKIM selector
    pub selector: String,
    /// Key description
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Key fingerprint (SHA256 of the public key)
    pub fingerprint: String,
    /// DKIM created datestring
    pub created: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetDkimKeysResponse {
    pub success: bool,
    /// Query string. Partial match of a Domain name
    pub query: String,
    pub total: u64,
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<GetDkimKeysResult>,
}

/// List registered DKIM keys
#[utoipa::path(get, path = "/dkim", tag = "DKIM", operation_id = "getDkimKeys",
    params(ListDkimQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetDkimKeysResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListDkimQuery>,
) -> ApiResult<Json<GetDkimKeysResponse>> {
    caller.require_root()?;
    let page = q.paging.request()?;
    let paging = Paging {
        limit: page.limit,
        next: page.next.clone(),
        previous: page.previous.clone(),
        page: Some(page.page),
    };
    let found = state
        .service
        .list_dkim_keys(q.query.as_deref(), &paging)
        .await?;
    Ok(Json(GetDkimKeysResponse {
        success: true,
        query: q.query.unwrap_or_default(),
        total: found.total,
        page: page.page,
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results: found
            .results
            .into_iter()
            .map(|k| GetDkimKeysResult {
                id: k.id.to_hex(),
                domain: k.domain,
                selector: k.selector,
                description: k.description,
                fingerprint: k.fingerprint,
                created: iso(&k.created),
            })
            .collect(),
    }))
}

/// Body of POST /dkim.
// sess and ip are accepted for WildDuck compatibility (log context), not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDkimKeyRequest {
    /// Domain name this DKIM key applies to. Use "*" as a special value that will be used for domains that do not have their own DKIM key set
    pub domain: String,
    /// Selector for the key
    pub selector: String,
    /// Pem formatted DKIM private key (PKCS#8 RSA or Ed25519, or PKCS#1 RSA), raw Ed25519 (44 characters of base64) is also allowed. If not set then a new key is generated (see `algorithm`)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub private_key: Option<String>,
    /// Eider extension: the kind of key to generate when `privateKey` is not set, "rsa" (2048 bits, the default) or "ed25519"
    #[serde(default, deserialize_with = "de::opt_string")]
    pub algorithm: Option<String>,
    /// Key description
    #[serde(default, deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Value for DNS TXT entry
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsTxt {
    /// Is the domain name of TXT
    pub name: String,
    /// Is the value of TXT
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDkimKeyResponse {
    pub success: bool,
    /// ID of the DKIM
    pub id: String,
    /// The domain this DKIM key applies to
    pub domain: String,
    /// DKIM selector
    pub selector: String,
    /// Key description
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Key fingerprint (SHA256 of the public key)
    pub fingerprint: String,
    /// Public key in PEM format
    pub public_key: String,
    pub dns_txt: DnsTxt,
}

fn dns_txt(k: &DkimKey) -> DnsTxt {
    DnsTxt {
        name: k.dns_txt_name(),
        value: k.dns_txt_value(),
    }
}

/// Create or update DKIM key for domain
///
/// Add a new DKIM key for a Domain or update existing one. There can be single DKIM key registered for each domain name.
#[utoipa::path(post, path = "/dkim", tag = "DKIM", operation_id = "updateDkimKey",
    request_body = UpdateDkimKeyRequest,
    responses(
        (status = 200, description = "Success", body = UpdateDkimKeyResponse),
        (status = 400, description = "Invalid input or key", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn set_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UpdateDkimKeyRequest>,
) -> ApiResult<Json<UpdateDkimKeyResponse>> {
    caller.require_root()?;
    for (field, value, max) in [
        ("domain", Some(&body.domain), 255),
        ("selector", Some(&body.selector), 255),
        ("description", body.description.as_ref(), 255),
    ] {
        if value.is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::invalid(
                field,
                format!("length must be less than or equal to {max} characters long"),
            ));
        }
    }
    let algorithm = match body.algorithm.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => Some(
            DkimAlgorithm::from_tag(&a.to_ascii_lowercase())
                .ok_or_else(|| ApiError::invalid("algorithm", "must be one of [rsa, ed25519]"))?,
        ),
    };
    let key = state
        .service
        .set_dkim_key(NewDkimKey {
            domain: body.domain,
            selector: body.selector,
            private_key: body.private_key,
            algorithm,
            description: body.description,
        })
        .await?;
    Ok(Json(UpdateDkimKeyResponse {
        success: true,
        id: key.id.to_hex(),
        dns_txt: dns_txt(&key),
        domain: key.domain,
        selector: key.selector,
        description: key.description,
        fingerprint: key.fingerprint,
        public_key: key.public_key,
    }))
}

/// Resolve ID for a DKIM domain
#[utoipa::path(get, path = "/dkim/resolve/{domain}", tag = "DKIM", operation_id = "resolveDkim",
    params(("domain" = String, Path, description = "DKIM domain"), LogParams),
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 404, description = "No key for this domain", body = ErrorResponse),
    ))]
async fn resolve_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<IdResponse>> {
    caller.require_root()?;
    let key = state.service.resolve_dkim_domain(&domain).await?;
    Ok(id_response(key.id))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetDkimKeyResponse {
    pub success: bool,
    /// ID of the DKIM
    pub id: String,
    /// The domain this DKIM key applies to
    pub domain: String,
    /// DKIM selector
    pub selector: String,
    /// Key description
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Key fingerprint (SHA256 of the public key)
    pub fingerprint: String,
    /// Public key in PEM format
    pub public_key: String,
    pub dns_txt: DnsTxt,
    /// DKIM created datestring
    pub created: String,
}

/// Request DKIM information
#[utoipa::path(get, path = "/dkim/{dkim}", tag = "DKIM", operation_id = "getDkimKey",
    params(("dkim" = String, Path, description = "ID of the DKIM"), LogParams),
    responses(
        (status = 200, description = "Success", body = GetDkimKeyResponse),
        (status = 400, description = "Invalid id", body = ErrorResponse),
        (status = 404, description = "No such key", body = ErrorResponse),
    ))]
async fn get_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(dkim): Path<String>,
) -> ApiResult<Json<GetDkimKeyResponse>> {
    caller.require_root()?;
    let id = object_id("dkim", &dkim)?;
    let key = state.service.get_dkim_key(id).await?;
    Ok(Json(GetDkimKeyResponse {
        success: true,
        id: key.id.to_hex(),
        dns_txt: dns_txt(&key),
        domain: key.domain,
        selector: key.selector,
        description: key.description,
        fingerprint: key.fingerprint,
        public_key: key.public_key,
        created: iso(&key.created),
    }))
}

/// Delete a DKIM key
#[utoipa::path(delete, path = "/dkim/{dkim}", tag = "DKIM", operation_id = "deleteDkimKey",
    params(("dkim" = String, Path, description = "ID of the DKIM"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid id", body = ErrorResponse),
        (status = 404, description = "No such key", body = ErrorResponse),
    ))]
async fn delete_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(dkim): Path<String>,
) -> ApiResult<Json<SuccessResponse>> {
    caller.require_root()?;
    let id = object_id("dkim", &dkim)?;
    state.service.delete_dkim_key(id).await?;
    Ok(ok())
}
