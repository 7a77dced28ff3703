//! Errors of the service layer. Each maps to one of WildDuck's API error codes,
//! so every gateway can answer in its own protocol and the API answers `{error, code}`.

use thiserror::Error;

/// What a Store can fail with. Backends translate their own errors into these.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique key is taken; the string names the key ("username", "address", "path", ...).
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("over quota")]
    OverQuota,
    /// A per-user count limit is reached; the string names what is counted ("filters").
    #[error("{0} limit reached")]
    LimitReached(&'static str),
    /// A paging cursor (the string names the parameter, "next" or "previous") is not one
    /// this store issued: the client's mistake, not a missing record.
    #[error("\"{0}\" must be a valid cursor")]
    InvalidCursor(&'static str),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage backend error: {0}")]
    Backend(String),
}

#[derive(Debug, Error)]
pub enum Error {
    #[error("{0}")]
    Validation(String),
    /// Invalid input in the named request field (the API reports it under that key).
    #[error("{1}")]
    InvalidField(&'static str, String),
    #[error("This user does not exist")]
    UserNotFound,
    #[error("This username already exists")]
    UserExists,
    #[error("Invalid or unknown email address identifier")]
    AddressNotFound,
    #[error("Address already exists")]
    AddressExists,
    #[error("Can not change special address")]
    ChangeNotAllowed,
    #[error("Can not set wildcard address as default")]
    WildcardNotPermitted,
    /// The change is refused by a rule of the record (e.g. deleting the main address).
    #[error("{0}")]
    NotPermitted(&'static str),
    #[error("This domain alias already exists")]
    AliasExists,
    #[error("This alias does not exist")]
    AliasNotFound,
    #[error("This mailbox does not exist")]
    NoSuchMailbox,
    /// The mailbox's journal no longer reaches back to the MODSEQ asked for (pruned
    /// past its retention): the reader must resynchronize from the mailbox's state.
    #[error("The change journal no longer reaches this MODSEQ")]
    JournalPruned,
    #[error("This mailbox already exists")]
    MailboxExists,
    #[error("{0}")]
    MailboxNotAllowed(&'static str),
    #[error("Invalid message identifier")]
    MessageNotFound,
    /// An archived message that is not (or no longer) in the user's archive.
    #[error("This message does not exist")]
    ArchivedMessageNotFound,
    /// No deleted account with this id is waiting for its purge.
    #[error("Deleted account was not found")]
    AccountNotFound,
    /// The account (or its username) is live again: nothing to restore.
    #[error("Account was already restored")]
    AccountFound,
    #[error("This filter does not exist")]
    FilterNotFound,
    #[error("This file does not exist")]
    FileNotFound,
    /// A per-user count limit (filters) is reached.
    #[error("{0}")]
    TooMany(String),
    #[error("User is over quota")]
    OverQuota,
    #[error("Message is too large")]
    MessageTooLarge,
    #[error("Empty message provided")]
    EmptyMessage,
    #[error("Authentication failed")]
    AuthFailed,
    #[error("Authentication was rate limited")]
    RateLimited,
    /// The password is right but held off until its `validAfter` time.
    #[error("Temporary password is not yet activated")]
    PasswordNotYetValid,
    #[error("Invalid or unknown ASP key")]
    AspNotFound,
    #[error("{0}")]
    InvalidAuthScope(String),
    #[error("TOTP 2FA is already enabled for this user")]
    TotpEnabled,
    #[error("TOTP 2FA is not initialized for this user")]
    TotpDisabled,
    #[error("Failed to validate TOTP")]
    InvalidTotp,
    #[error("Failed to generate QR code")]
    QrError,
    #[error("This event does not exist")]
    EventNotFound,
    #[error("Requested audit was not found")]
    AuditNotFound,
    /// A DKIM key named by id does not exist.
    #[error("Invalid or unknown DKIM key")]
    DkimNotFound,
    /// No DKIM key for the domain (GET /dkim/resolve).
    #[error("This domain does not exist")]
    DkimDomainNotFound,
    #[error("Failed to generate key pair")]
    KeyGenerateError,
    /// A certificate named by id does not exist.
    #[error("Invalid or unknown cert")]
    CertNotFound,
    /// No certificate for the server name (GET /certs/resolve).
    #[error("This servername does not exist")]
    CertServernameNotFound,
    /// DELETE /domainaccess/{id} of a listing that does not exist.
    #[error("Domain was not found")]
    DomainAccessNotFound,
    #[error("Invalid or unknown webhook identifier")]
    WebhookNotFound,
    #[error("WebAuthn 2FA is not enabled for this user")]
    WebauthnDisabled,
    #[error("{0}")]
    WebauthnFailed(String),
    /// The account is disabled or suspended: it cannot send.
    #[error("User account is disabled")]
    UserDisabled,
    /// No outbound relay is configured (`[relay] enabled = false`).
    #[error("Sending mail is not enabled on this server")]
    SendingDisabled,
    /// The relay did not take the message.
    #[error("Could not queue message for delivery: {0}")]
    SendFailed(String),
    /// The daily recipient or forward limit of the account is reached.
    #[error("{0}")]
    SendLimitReached(String),
    /// Only drafts can be submitted from a mailbox.
    #[error("This message is not a draft")]
    NotADraft,
    /// A record the request names does not exist (when no more specific error applies).
    #[error("Resource does not exist")]
    NotFound,
    #[error("Internal error: {0}")]
    Internal(String),
    #[error("Database error: {0}")]
    Database(String),
}

impl Error {
    /// WildDuck's API error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) | Error::InvalidField(..) => "InputValidationError",
            Error::UserNotFound => "UserNotFound",
            Error::UserExists => "UserExistsError",
            Error::AddressNotFound => "AddressNotFound",
            Error::AddressExists => "AddressExistsError",
            Error::ChangeNotAllowed => "ChangeNotAllowed",
            Error::WildcardNotPermitted => "WildcardNotPermitted",
            Error::NotPermitted(_) => "NotPermitted",
            Error::AliasExists => "AliasExists",
            Error::AliasNotFound => "AliasNotFound",
            Error::NoSuchMailbox => "NoSuchMailbox",
            Error::JournalPruned => "JournalPruned",
            Error::MailboxExists => "MailboxExistsError",
            Error::MailboxNotAllowed(_) => "DisallowedMailboxMethod",
            Error::MessageNotFound => "MessageNotFound",
            Error::ArchivedMessageNotFound => "MessageNotFound",
            Error::AccountNotFound => "AccountNotFound",
            Error::AccountFound => "AccountFound",
            Error::FilterNotFound => "FilterNotFound",
            Error::FileNotFound => "FileNotFound",
            Error::TooMany(_) => "TooMany",
            Error::OverQuota => "OverQuotaError",
            Error::MessageTooLarge => "InputValidationError",
            Error::EmptyMessage => "EmptyMessage",
            Error::AuthFailed => "AuthFailed",
            Error::RateLimited => "RateLimitedError",
            Error::PasswordNotYetValid => "TempPasswordNotYetValid",
            Error::AspNotFound => "AspNotFound",
            Error::InvalidAuthScope(_) => "InvalidAuthScope",
            Error::TotpEnabled => "TotpEnabled",
            Error::TotpDisabled => "TotpDisabled",
            Error::InvalidTotp => "InvalidToken",
            Error::QrError => "QRError",
            Error::EventNotFound => "EventNotFound",
            Error::AuditNotFound => "AuditNotFound",
            Error::DkimNotFound | Error::DkimDomainNotFound => "DkimNotFound",
            Error::KeyGenerateError => "KeyGenerateError",
            Error::CertNotFound | Error::CertServernameNotFound => "CertNotFound",
            Error::DomainAccessNotFound => "DomainNotFound",
            Error::WebhookNotFound => "WebhookNotFound",
            Error::WebauthnDisabled => "WebAuthnDisabled",
            Error::WebauthnFailed(_) => "InvalidU2fRequest",
            Error::UserDisabled => "UserDisabled",
            Error::SendingDisabled | Error::SendFailed(_) => "ERRCOMPOSE",
            Error::SendLimitReached(_) => "RateLimitedError",
            Error::NotADraft => "MessageNotDraft",
            Error::NotFound => "ResourceNotFound",
            Error::Internal(_) => "InternalError",
            Error::Database(_) => "InternalDatabaseError",
        }
    }

    /// True for failures of the server rather than of the request.
    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Internal(_) | Error::Database(_))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OverQuota => Error::OverQuota,
            StoreError::LimitReached(what) => {
                Error::TooMany(format!("Maximum {what} limit reached"))
            }
            // The record went away between a check and the write (or was never there):
            // a 404 for the client, never a database failure.
            StoreError::NotFound => Error::NotFound,
            StoreError::InvalidCursor(_) => Error::Validation(e.to_string()),
            StoreError::Conflict(what) => Error::Validation(format!("{what} already exists")),
            StoreError::Corrupt(m) | StoreError::Backend(m) => Error::Database(m),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
