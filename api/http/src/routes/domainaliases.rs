//! Domain aliases: `alias` receives mail as if it were `domain`.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::DomainAlias;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, iso, ok, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_aliases, create_alias))
        .routes(routes!(resolve_alias))
        .routes(routes!(get_alias, delete_alias))
}

/// Query of GET /domainaliases.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListAliasesQuery {
    /// Partial match of a Domain Alias or Domain name
    #[serde(deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetDomainAliasesResult {
    /// ID of the Domain Alias
    pub id: String,
    /// Domain Alias
    pub alias: String,
    /// The domain this alias applies to
    pub domain: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetDomainAliasesResponse {
    pub success: bool,
    pub query: String,
    pub total: u64,
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<GetDomainAliasesResult>,
}

/// List registered Domain Aliases
#[utoipa::path(get, path = "/domainaliases", tag = "DomainAliases", operation_id = "getDomainAliases",
    params(ListAliasesQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetDomainAliasesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_aliases(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListAliasesQuery>,
) -> ApiResult<Json<GetDomainAliasesResponse>> {
    caller.require_root()?;
    let page = q.paging.request()?;
    let found = state
        .service
        .search_domain_aliases(q.query.as_deref(), &page)
        .await?;
    Ok(Json(GetDomainAliasesResponse {
        success: true,
        query: q.query.unwrap_or_default(),
        total: found.total,
        page: page.page,
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results: found
            .results
            .into_iter()
            .map(|a| GetDomainAliasesResult {
                id: a.id.to_hex(),
                alias: a.alias,
                domain: a.domain,
            })
            .collect(),
    }))
}

/// Body of POST /domainaliases.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAliasRequest {
    /// Domain Alias
    pub alias: String,
    /// Domain name this Alias applies to
    pub domain: String,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Create new Domain Alias
#[utoipa::path(post, path = "/domainaliases", tag = "DomainAliases", operation_id = "createDomainAlias",
    request_body = CreateAliasRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input or the alias exists", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn create_alias(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAliasRequest>,
) -> ApiResult<Json<IdResponse>> {
    caller.require_root()?;
    let alias = state
        .service
        .create_domain_alias(&body.alias, &body.domain)
        .await
        .on_field("alias")?;
    Ok(id_response(alias.id))
}

/// Resolve ID for a domain alias
#[utoipa::path(get, path = "/domainaliases/resolve/{alias}", tag = "DomainAliases", operation_id = "resolveDomainAlias",
    params(("alias" = String, Path, description = "Alias domain"), LogParams),
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 404, description = "No such alias", body = ErrorResponse),
    ))]
async fn resolve_alias(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
) -> ApiResult<Json<IdResponse>> {
    caller.require_root()?;
    let a = state.service.resolve_domain_alias(&alias).await?;
    Ok(id_response(a.id))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetDomainAliasResponse {
    pub success: bool,
    /// ID of the Alias
    pub id: String,
    /// Alias domain
    pub alias: String,
    /// Alias target
    pub domain: String,
    /// Datestring of the time the alias was created
    pub created: String,
}

fn alias_response(a: DomainAlias) -> GetDomainAliasResponse {
    GetDomainAliasResponse {
        success: true,
        id: a.id.to_hex(),
        alias: a.alias,
        domain: a.domain,
        created: iso(&a.created),
    }
}

/// Request Alias information
#[utoipa::path(get, path = "/domainaliases/{alias}", tag = "DomainAliases", operation_id = "getDomainAlias",
    params(("alias" = String, Path, description = "ID of the Alias"), LogParams),
    responses(
        (status = 200, description = "Success", body = GetDomainAliasResponse),
        (status = 400, description = "Invalid id", body = ErrorResponse),
        (status = 404, description = "No such alias", body = ErrorResponse),
    ))]
async fn get_alias(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
) -> ApiResult<Json<GetDomainAliasResponse>> {
    caller.require_root()?;
    let id = object_id("alias", &alias)?;
    Ok(Json(alias_response(
        state.service.get_domain_alias(id).await?,
    )))
}

/// Delete an Alias
#[utoipa::path(delete, path = "/domainaliases/{alias}", tag = "DomainAliases", operation_id = "deleteDomainAlias",
    params(("alias" = String, Path, description = "ID of the Alias"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such alias", body = ErrorResponse),
    ))]
async fn delete_alias(
    State(state): State<AppState>,
    caller: Caller,
    Path(alias): Path<String>,
) -> ApiResult<Json<SuccessResponse>> {
    caller.require_root()?;
    let id = object_id("alias", &alias)?;
    state.service.delete_domain_alias(id).await?;
    Ok(ok())
}
