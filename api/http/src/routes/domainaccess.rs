//! Domain access lists: per user tag, sender domains (or addresses) that are always
//! (block) or never (allow) spam. Root only. Delivery applies them
//! (`eider_service`'s delivery module).

use axum::extract::{Path, State};
use axum::Json;
use eider_service::DomainAction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::LogParams;
use crate::error::{ApiResult, ErrorResponse};
use crate::extract::{object_id, ApiJson, Caller};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_allowed, list_allowed))
        .routes(routes!(create_blocked, list_blocked))
        .routes(routes!(delete_listing))
}

/// Body of POST /domainaccess/{tag}/allow and …/block.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainAccessRequest {
    /// Domain name (or email address) to list for users that include this tag
    pub domain: String,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainAccessCreated {
    pub success: bool,
    /// ID for the created listing
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainAccessResult {
    /// Entry ID
    pub id: String,
    /// The listed domain (or address)
    pub domain: String,
    /// "allow" or "block"
    pub action: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainAccessList {
    pub success: bool,
    pub results: Vec<DomainAccessResult>,
}

async fn create(
    state: &AppState,
    caller: &Caller,
    tag: &str,
    body: DomainAccessRequest,
    action: DomainAction,
) -> ApiResult<Json<DomainAccessCreated>> {
    caller.require_root()?;
    let stored = state
        .service
        .add_domain_access(tag, &body.domain, action)
        .await?;
    Ok(Json(DomainAccessCreated {
        success: true,
        id: stored.id.to_hex(),
    }))
}

async fn list(
    state: &AppState,
    caller: &Caller,
    tag: &str,
    action: DomainAction,
) -> ApiResult<Json<DomainAccessList>> {
    caller.require_root()?;
    let found = state.service.list_domain_access(tag, action).await?;
    Ok(Json(DomainAccessList {
        success: true,
        results: found
            .into_iter()
            .map(|d| DomainAccessResult {
                id: d.id.to_hex(),
                domain: d.domain,
                action: d.action.as_str().to_string(),
            })
            .collect(),
    }))
}

/// Add domain to allowlist
///
/// If an email is sent from a domain that is listed in the allowlist then it is never
/// marked as spam. Lists apply for tagged users.
#[utoipa::path(post, path = "/domainaccess/{tag}/allow", tag = "DomainAccess", operation_id = "createAllowedDomain",
    params(("tag" = String, Path, description = "Tag to look for")),
    request_body = DomainAccessRequest,
    responses(
        (status = 200, description = "Success", body = DomainAccessCreated),
        (status = 400, description = "Invalid tag or domain", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn create_allowed(
    State(state): State<AppState>,
    caller: Caller,
    Path(tag): Path<String>,
    ApiJson(body): ApiJson<DomainAccessRequest>,
) -> ApiResult<Json<DomainAccessCreated>> {
    create(&state, &caller, &tag, body, DomainAction::Allow).await
}

/// Add domain to blocklist
///
/// If an email is sent from a domain that is listed in the blocklist then it is always
/// marked as spam. Lists apply for tagged users.
#[utoipa::path(post, path = "/domainaccess/{tag}/block", tag = "DomainAccess", operation_id = "createBlockedDomain",
    params(("tag" = String, Path, description = "Tag to look for")),
    request_body = DomainAccessRequest,
    responses(
        (status = 200, description = "Success", body = DomainAccessCreated),
        (status = 400, description = "Invalid tag or domain", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn create_blocked(
    State(state): State<AppState>,
    caller: Caller,
    Path(tag): Path<String>,
    ApiJson(body): ApiJson<DomainAccessRequest>,
) -> ApiResult<Json<DomainAccessCreated>> {
    create(&state, &caller, &tag, body, DomainAction::Block).await
}

/// List allowlisted domains
#[utoipa::path(get, path = "/domainaccess/{tag}/allow", tag = "DomainAccess", operation_id = "getAllowedDomains",
    params(("tag" = String, Path, description = "Tag to look for"), LogParams),
    responses(
        (status = 200, description = "Success", body = DomainAccessList),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_allowed(
    State(state): State<AppState>,
    caller: Caller,
    Path(tag): Path<String>,
) -> ApiResult<Json<DomainAccessList>> {
    list(&state, &caller, &tag, DomainAction::Allow).await
}

/// List blocklisted domains
#[utoipa::path(get, path = "/domainaccess/{tag}/block", tag = "DomainAccess", operation_id = "getBlockedDomains",
    params(("tag" = String, Path, description = "Tag to look for"), LogParams),
    responses(
        (status = 200, description = "Success", body = DomainAccessList),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_blocked(
    State(state): State<AppState>,
    caller: Caller,
    Path(tag): Path<String>,
) -> ApiResult<Json<DomainAccessList>> {
    list(&state, &caller, &tag, DomainAction::Block).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteDomainListingResponse {
    pub success: bool,
    /// Deleted listing's unique ID
    pub deleted: String,
}

/// Delete a Domain from listing
#[utoipa::path(delete, path = "/domainaccess/{domain}", tag = "DomainAccess", operation_id = "deleteDomainListing",
    params(("domain" = String, Path, description = "Listed domain's unique ID"), LogParams),
    responses(
        (status = 200, description = "Success", body = DeleteDomainListingResponse),
        (status = 400, description = "Invalid id", body = ErrorResponse),
        (status = 404, description = "No such listing", body = ErrorResponse),
    ))]
async fn delete_listing(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<DeleteDomainListingResponse>> {
    caller.require_root()?;
    let id = object_id("domain", &domain)?;
    state.service.delete_domain_access(id).await?;
    Ok(Json(DeleteDomainListingResponse {
        success: true,
        deleted: id.to_hex(),
    }))
}
