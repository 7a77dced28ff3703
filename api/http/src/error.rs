//! The API's error answer: `{error, code}` (plus `details` for bad input) with
//! the HTTP status WildDuck uses for that code.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use eider_service::api::AccessError;
use serde::Serialize;
use utoipa::ToSchema;

/// What a failed request answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Human-readable description.
    pub error: String,
    /// Machine-readable WildDuck error code, e.g. `UserNotFound`.
    pub code: String,
    /// For `InputValidationError`: the offending fields and what is wrong with each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// An error on its way to becoming an HTTP answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<BTreeMap<String, String>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 400 InputValidationError naming one field.
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        let message = format!("\"{field}\" {problem}");
        let mut details = BTreeMap::new();
        details.insert(field.to_string(), message.clone());
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "InputValidationError",
            message,
            details: Some(details),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Attribute an input validation error from the service to `field`.
    pub fn on_field(mut self, field: &str) -> Self {
        if self.code == "InputValidationError" {
            let details = self.details.get_or_insert_with(BTreeMap::new);
            if details.is_empty() {
                details.insert(field.to_string(), self.message.clone());
            }
        }
        self
    }
}

/// Map a service result's validation error onto a request field.
pub trait OnField<T> {
    fn on_field(self, field: &str) -> ApiResult<T>;
}

impl<T> OnField<T> for Result<T, eider_service::Error> {
    fn on_field(self, field: &str) -> ApiResult<T> {
        self.map_err(|e| ApiError::from(e).on_field(field))
    }
}

/// The status WildDuck answers a service error with.
fn status_of(e: &eider_service::Error) -> StatusCode {
    use eider_service::Error as E;
    match e {
        E::UserNotFound
        | E::AddressNotFound
        | E::AliasNotFound
        | E::NoSuchMailbox
        | E::MessageNotFound
        | E::ArchivedMessageNotFound
        | E::AccountNotFound
        | E::FilterNotFound
        | E::FileNotFound
        | E::AspNotFound
        | E::EventNotFound
        | E::AuditNotFound
        | E::DkimNotFound
        | E::DkimDomainNotFound
        | E::CertNotFound
        | E::CertServernameNotFound
        | E::DomainAccessNotFound
        | E::WebhookNotFound
        | E::NotFound => StatusCode::NOT_FOUND,
        E::AuthFailed
        | E::PasswordNotYetValid
        | E::TooMany(_)
        | E::InvalidTotp
        | E::WebauthnFailed(_)
        | E::UserDisabled
        | E::SendLimitReached(_) => StatusCode::FORBIDDEN,
        // Sending is switched off here: the request may succeed elsewhere or later.
        E::SendingDisabled => StatusCode::SERVICE_UNAVAILABLE,
        E::SendFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        E::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        // The store failed or is unreachable (a database outage, a failover): the same
        // request may succeed later or on another instance, so 503 (WildDuck says 500).
        E::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        E::Internal(_) | E::KeyGenerateError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<eider_service::Error> for ApiError {
    fn from(e: eider_service::Error) -> Self {
        use eider_service::Error as E;
        let status = status_of(&e);
        let code = e.code();
        let message = if e.is_internal() {
            tracing::error!(error = %e, "API request failed");
            match e {
                E::Database(_) => "Database error".to_string(),
                _ => "Internal server error".to_string(),
            }
        } else {
            e.to_string()
        };
        let details = match &e {
            E::InvalidField(field, m) => Some(BTreeMap::from([(field.to_string(), m.clone())])),
            E::Validation(_) | E::MessageTooLarge => Some(BTreeMap::new()),
            _ => None,
        };
        Self {
            status,
            code,
            message,
            details,
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Service(inner) => inner.into(),
            other => Self::new(StatusCode::FORBIDDEN, other.code(), other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: self.message,
            code: self.code.to_string(),
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eider_service::Error;

    #[test]
    fn statuses_follow_wildduck() {
        let cases = [
            (Error::UserNotFound, 404, "UserNotFound"),
            (Error::NoSuchMailbox, 404, "NoSuchMailbox"),
            (Error::Validation("x".into()), 400, "InputValidationError"),
            (Error::UserExists, 400, "UserExistsError"),
            (Error::AuthFailed, 403, "AuthFailed"),
            (Error::RateLimited, 429, "RateLimitedError"),
            (
                Error::MailboxNotAllowed("no"),
                400,
                "DisallowedMailboxMethod",
            ),
            (
                Error::Database("secret detail".into()),
                503,
                "InternalDatabaseError",
            ),
            (Error::UserDisabled, 403, "UserDisabled"),
            (Error::SendingDisabled, 503, "ERRCOMPOSE"),
            (Error::SendFailed("451 later".into()), 500, "ERRCOMPOSE"),
            (
                Error::SendLimitReached("limit".into()),
                403,
                "RateLimitedError",
            ),
            (Error::NotADraft, 400, "MessageNotDraft"),
            (Error::NotFound, 404, "ResourceNotFound"),
            (
                eider_service::StoreError::NotFound.into(),
                404,
                "ResourceNotFound",
            ),
            (
                eider_service::StoreError::InvalidCursor("next").into(),
                400,
                "InputValidationError",
            ),
        ];
        for (e, status, code) in cases {
            let a = ApiError::from(e);
            assert_eq!(a.status.as_u16(), status);
            assert_eq!(a.code, code);
            assert!(!a.message.contains("secret"));
        }
        // A relay's refusal is the client's to read, unlike internal failures.
        assert!(ApiError::from(Error::SendFailed("451 later".into()))
            .message
            .contains("451 later"));
        let denied = ApiError::from(AccessError::MissingPrivileges);
        assert_eq!(
            (denied.status.as_u16(), denied.code),
            (403, "MissingPrivileges")
        );
    }
}
