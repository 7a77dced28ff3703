//! WebAuthn second factor: credentials, registration and authentication
//! ceremonies. Binary values are hex strings, as in WildDuck's API.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::security::{WebauthnAssertion, WebauthnAttestation, WebauthnChallengeRequest};
use eider_service::ObjectId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::asps::LogQuery;
use super::users::LogParams;
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credentials))
        .routes(routes!(delete_credential))
        .routes(routes!(registration_challenge))
        .routes(routes!(registration_attestation))
        .routes(routes!(authentication_challenge))
        .routes(routes!(authentication_assertion))
}

fn required(field: &'static str, value: Option<String>) -> ApiResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::invalid(field, "is required"))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebAuthNCredential {
    /// Credential ID
    pub id: String,
    /// Raw ID string of the credential in hex
    pub raw_id: String,
    /// Descriptive name for the authenticator
    pub description: String,
    /// "platform" or "cross-platform"
    pub authenticator_attachment: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetWebAuthNResponse {
    pub success: bool,
    /// List of credentials
    pub credentials: Vec<WebAuthNCredential>,
}

/// Get WebAuthN credentials for a user
///
/// This method returns the list of WebAuthN credentials for a given user
#[utoipa::path(get, path = "/users/{user}/2fa/webauthn/credentials", tag = "TwoFactorAuth", operation_id = "getWebAuthN",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = GetWebAuthNResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(_q): ApiQuery<LogQuery>,
) -> ApiResult<Json<GetWebAuthNResponse>> {
    let id = caller.user(&user)?;
    let creds = state.service.webauthn_credentials(id).await?;
    Ok(Json(GetWebAuthNResponse {
        success: true,
        credentials: creds
            .into_iter()
            .map(|c| WebAuthNCredential {
                id: c.id.to_hex(),
                raw_id: hex_string(&c.raw_id),
                description: c.description,
                authenticator_attachment: c.authenticator_attachment,
            })
            .collect(),
    }))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteWebAuthNResponse {
    pub success: bool,
    /// Specifies whether the given credential has been deleted
    pub deleted: bool,
}

/// Remove WebAuthN authenticator
///
/// This method deletes the WebAuthN credential of a user
#[utoipa::path(delete, path = "/users/{user}/2fa/webauthn/credentials/{credential}", tag = "TwoFactorAuth", operation_id = "deleteWebAuthN",
    params(("user" = String, Path, description = "ID of the User"),
        ("credential" = String, Path, description = "Credential ID"), LogParams),
    responses(
        (status = 200, description = "Success", body = DeleteWebAuthNResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, credential)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<DeleteWebAuthNResponse>> {
    let id = caller.user(&user)?;
    let credential = ObjectId::parse(&credential)
        .ok_or_else(|| ApiError::invalid("credential", "must be a valid ObjectId"))?;
    let deleted = state
        .service
        .delete_webauthn_credential(id, credential, q.ip, q.sess)
        .await?;
    Ok(Json(DeleteWebAuthNResponse {
        success: true,
        deleted,
    }))
}

/// Body of POST .../registration-challenge and .../authentication-challenge.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct WebAuthNChallengeRequest {
    /// Descriptive name for the authenticator (registration only, required there)
    #[serde(deserialize_with = "de::opt_string")]
    pub description: Option<String>,
    /// Origin
    #[serde(deserialize_with = "de::opt_string")]
    pub origin: Option<String>,
    /// "platform" or "cross-platform"
    #[serde(deserialize_with = "de::opt_string")]
    pub authenticator_attachment: Option<String>,
    /// Relaying party ID. Is domain (defaults to the origin's host)
    #[serde(deserialize_with = "de::opt_string")]
    pub rp_id: Option<String>,
    /// Session identifier for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

impl WebAuthNChallengeRequest {
    fn into_service(self, description: String) -> ApiResult<WebauthnChallengeRequest> {
        Ok(WebauthnChallengeRequest {
            origin: required("origin", self.origin)?,
            rp_id: self.rp_id,
            description,
            authenticator_attachment: self.authenticator_attachment,
            ip: self.ip,
            sess: self.sess,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitiateWebAuthNRegistrationResponse {
    pub success: bool,
    /// PublicKeyCredentialCreationOptions; challenge, user id and credential ids as hex
    #[schema(value_type = Object)]
    pub registration_options: serde_json::Value,
}

/// Initiate WebAuthN authenticator registration
///
/// This method initiates the WebAuthN authenticator registration challenge
#[utoipa::path(post, path = "/users/{user}/2fa/webauthn/registration-challenge", tag = "TwoFactorAuth", operation_id = "initiateWebAuthNRegistration",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = WebAuthNChallengeRequest,
    responses(
        (status = 200, description = "Success", body = InitiateWebAuthNRegistrationResponse),
        (status = 400, description = "Invalid request", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn registration_challenge(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<WebAuthNChallengeRequest>,
) -> ApiResult<Json<InitiateWebAuthNRegistrationResponse>> {
    let id = caller.user(&user)?;
    let description = required("description", body.description.clone())?;
    let req = body.into_service(description)?;
    let options = state
        .service
        .webauthn_registration_challenge(id, req)
        .await?;
    Ok(Json(InitiateWebAuthNRegistrationResponse {
        success: true,
        registration_options: options,
    }))
}

/// Body of POST .../registration-attestation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct WebAuthNAttestationRequest {
    /// Challenge as hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub challenge: Option<String>,
    /// Credential ID/RawID as hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub raw_id: Option<String>,
    /// Clientside data JSON as hex string
    #[serde(rename = "clientDataJSON", deserialize_with = "de::opt_string")]
    pub client_data_json: Option<String>,
    /// Attestation object represented as a hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub attestation_object: Option<String>,
    /// Relaying party ID. Is domain.
    #[serde(deserialize_with = "de::opt_string")]
    pub rp_id: Option<String>,
    /// Session identifier for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttestateWebAuthNRegistrationResponse {
    pub success: bool,
    /// Credential ID
    pub id: String,
    /// Credential RawID as a hex string
    pub raw_id: String,
    /// Description for the authenticator
    pub description: String,
    /// "platform" or "cross-platform"
    pub authenticator_attachment: String,
}

/// Attestate WebAuthN authenticator
///
/// Attestation is used to verify the authenticity of the authenticator and provide assurances about its features.
#[utoipa::path(post, path = "/users/{user}/2fa/webauthn/registration-attestation", tag = "TwoFactorAuth", operation_id = "attestateWebAuthNRegistration",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = WebAuthNAttestationRequest,
    responses(
        (status = 200, description = "Success", body = AttestateWebAuthNRegistrationResponse),
        (status = 400, description = "Invalid request", body = ErrorResponse),
        (status = 403, description = "Attestation failed", body = ErrorResponse),
    ))]
async fn registration_attestation(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<WebAuthNAttestationRequest>,
) -> ApiResult<Json<AttestateWebAuthNRegistrationResponse>> {
    let id = caller.user(&user)?;
    let req = WebauthnAttestation {
        challenge: required("challenge", body.challenge)?,
        raw_id: required("rawId", body.raw_id)?,
        client_data_json: required("clientDataJSON", body.client_data_json)?,
        attestation_object: required("attestationObject", body.attestation_object)?,
        rp_id: body.rp_id,
        ip: body.ip,
        sess: body.sess,
    };
    let cred = state
        .service
        .webauthn_registration_attestation(id, req)
        .await?;
    Ok(Json(AttestateWebAuthNRegistrationResponse {
        success: true,
        id: cred.id.to_hex(),
        raw_id: hex_string(&cred.raw_id),
        description: cred.description,
        authenticator_attachment: cred.authenticator_attachment,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateWebAuthNResponse {
    pub success: bool,
    /// PublicKeyCredentialRequestOptions; challenge and credential ids as hex
    #[schema(value_type = Object)]
    pub authentication_options: serde_json::Value,
}

/// Begin WebAuthN authentication
///
/// This method starts the WebAuthN authentication challenge. A token waiting for its second factor may call it.
#[utoipa::path(post, path = "/users/{user}/2fa/webauthn/authentication-challenge", tag = "TwoFactorAuth", operation_id = "authenticateWebAuthN",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = WebAuthNChallengeRequest,
    responses(
        (status = 200, description = "Success", body = AuthenticateWebAuthNResponse),
        (status = 400, description = "WebAuthn is not enabled", body = ErrorResponse),
    ))]
async fn authentication_challenge(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<WebAuthNChallengeRequest>,
) -> ApiResult<Json<AuthenticateWebAuthNResponse>> {
    let id = caller.user(&user)?;
    let req = body.into_service(String::new())?;
    let options = state
        .service
        .webauthn_authentication_challenge(id, req)
        .await?;
    Ok(Json(AuthenticateWebAuthNResponse {
        success: true,
        authentication_options: options,
    }))
}

/// Body of POST .../authentication-assertion.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct WebAuthNAssertionRequest {
    /// Challenge as hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub challenge: Option<String>,
    /// RawId of the credential as hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub raw_id: Option<String>,
    /// Client data JSON as hex string
    #[serde(rename = "clientDataJSON", deserialize_with = "de::opt_string")]
    pub client_data_json: Option<String>,
    /// Authenticator data as hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub authenticator_data: Option<String>,
    /// Signature as hex string
    #[serde(deserialize_with = "de::opt_string")]
    pub signature: Option<String>,
    /// Relaying party ID. Domain
    #[serde(deserialize_with = "de::opt_string")]
    pub rp_id: Option<String>,
    /// If true response will contain the user auth token
    #[serde(deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub token: bool,
    /// Session identifier for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssertWebAuthNResult {
    /// Authentication status
    pub authenticated: bool,
    /// WebAuthN credential ID
    pub credential: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssertWebAuthNResponse {
    pub success: bool,
    pub response: AssertWebAuthNResult,
    /// User auth token (when requested)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// WebAuthN authentication Assertion
///
/// Assert WebAuthN authentication request and actually authenticate the user. With an access token that waits for its second factor, success lifts the token's limitation.
#[utoipa::path(post, path = "/users/{user}/2fa/webauthn/authentication-assertion", tag = "TwoFactorAuth", operation_id = "assertWebAuthN",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = WebAuthNAssertionRequest,
    responses(
        (status = 200, description = "Success", body = AssertWebAuthNResponse),
        (status = 400, description = "WebAuthn is not enabled", body = ErrorResponse),
        (status = 403, description = "Assertion failed", body = ErrorResponse),
    ))]
async fn authentication_assertion(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<WebAuthNAssertionRequest>,
) -> ApiResult<Json<AssertWebAuthNResponse>> {
    let id = caller.user(&user)?;
    let req = WebauthnAssertion {
        challenge: required("challenge", body.challenge)?,
        raw_id: required("rawId", body.raw_id)?,
        client_data_json: required("clientDataJSON", body.client_data_json)?,
        authenticator_data: required("authenticatorData", body.authenticator_data)?,
        signature: required("signature", body.signature)?,
        rp_id: body.rp_id,
        ip: body.ip,
        sess: body.sess,
    };
    let access = (!caller.is_root())
        .then_some(caller.token.as_deref())
        .flatten();
    let credential = state
        .service
        .webauthn_authentication_assertion(id, req, access)
        .await?;
    let token = if body.token {
        Some(state.service.issue_access_token(id).await?)
    } else {
        None
    };
    Ok(Json(AssertWebAuthNResponse {
        success: true,
        response: AssertWebAuthNResult {
            authenticated: true,
            credential: credential.to_hex(),
        },
        token,
    }))
}
