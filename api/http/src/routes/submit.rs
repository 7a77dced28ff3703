//! Sending mail: submit a composed message, submit a stored draft, forward a
//! stored message. Composition is the upload's composer; what may be sent, to
//! whom, and through which relay is the service's business.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::{FlagOp, UidSet};
use eider_service::{ObjectId, Submission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::compose::{compose, AddressOptionalName, Attachment, Composition, Header};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{message_uid, object_id, ApiJson, Caller};
use crate::schema;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit_message))
        .routes(routes!(submit_stored_message))
        .routes(routes!(forward_stored_message))
        .routes(routes!(delete_outbound_message))
}

/// A message the submitted one replies to or forwards.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Reference {
    /// ID of the Mailbox
    pub mailbox: String,
    /// Message ID
    #[serde(default, deserialize_with = "de::opt_u32")]
    #[schema(value_type = u32)]
    pub id: Option<u32>,
    /// Either reply, replyAll or forward
    pub action: String,
}

/// A stored draft the submitted message replaces (it is deleted once sent).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DraftReference {
    /// ID of the Mailbox
    pub mailbox: String,
    /// Message ID
    #[serde(default, deserialize_with = "de::opt_u32")]
    #[schema(value_type = u32)]
    pub id: Option<u32>,
}

/// The SMTP envelope, when it differs from the headers.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SubmitEnvelope {
    /// Envelope sender (must be one of the user's addresses, else the main address is used)
    #[serde(default)]
    pub from: Option<AddressOptionalName>,
    /// Envelope recipients
    #[serde(default)]
    pub to: Vec<AddressOptionalName>,
}

/// Body of POST /users/{user}/submit.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitMessageRequest {
    /// ID of the Mailbox the copy is stored in (defaults to Sent, or Drafts for drafts)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub mailbox: Option<String>,
    /// Address for the From: header (one of the user's addresses; defaults to the main one)
    #[serde(default)]
    pub from: Option<AddressOptionalName>,
    /// Address for the Reply-To: header
    #[serde(default)]
    pub reply_to: Option<AddressOptionalName>,
    /// Addresses for the To: header
    #[serde(default)]
    pub to: Vec<AddressOptionalName>,
    /// Addresses for the Cc: header
    #[serde(default)]
    pub cc: Vec<AddressOptionalName>,
    /// Addresses for the Bcc: header (kept in the stored copy, removed from the sent one)
    #[serde(default)]
    pub bcc: Vec<AddressOptionalName>,
    /// Custom headers for the message. With a reference, In-Reply-To and References are set
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Message subject; from the referenced message when not set
    #[serde(default, deserialize_with = "de::opt_string")]
    pub subject: Option<String>,
    /// Plaintext message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub text: Option<String>,
    /// HTML formatted message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub html: Option<String>,
    /// Attachments for the message
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// IDs of storage files (POST /users/{user}/storage) to attach
    #[serde(default)]
    pub files: Vec<String>,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta: Option<serde_json::Value>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
    /// Optional referenced message (reply, replyAll or forward)
    #[serde(default)]
    pub reference: Option<Reference>,
    /// Store the message as a draft (in Drafts) instead of sending it
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub is_draft: bool,
    /// Draft message to base this one on; it is deleted once this one is sent
    #[serde(default)]
    pub draft: Option<DraftReference>,
    /// Send time: the message waits in the outbound queue until then
    #[serde(default, deserialize_with = "de::opt_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_time: Option<chrono::DateTime<chrono::Utc>>,
    /// If true only uploads the message but does not send it
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub upload_only: bool,
    /// Optional envelope
    #[serde(default)]
    pub envelope: Option<SubmitEnvelope>,
}

/// Information about a submitted message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageWithQueueId {
    /// Mailbox ID the message was stored to
    pub mailbox: String,
    /// Message ID in the Mailbox
    pub id: u32,
    /// Reference of the hand-over to the relay (absent when nothing was sent)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitMessageResponse {
    pub success: bool,
    pub message: MessageWithQueueId,
}

/// `address` when it is one of the user's addresses, else the main address: a
/// user sends only as itself.
async fn own_address(
    state: &AppState,
    user: ObjectId,
    main: &AddressOptionalName,
    wanted: Option<AddressOptionalName>,
) -> ApiResult<Option<AddressOptionalName>> {
    let Some(w) = wanted else {
        return Ok((!main.address.is_empty()).then(|| main.clone()));
    };
    let owned = state
        .service
        .lookup_address(&w.address)
        .await?
        .is_some_and(|a| a.user == Some(user));
    if owned || main.address.is_empty() {
        return Ok(Some(w));
    }
    Ok(Some(AddressOptionalName {
        name: w.name.or_else(|| main.name.clone()),
        address: main.address.clone(),
    }))
}

/// "Re: " or "Fwd: " before a subject that does not start with it yet.
fn prefixed(prefix: &str, subject: &str) -> String {
    let lower = subject.trim_start().to_lowercase();
    if lower.starts_with(&prefix.to_lowercase()) {
        subject.to_string()
    } else {
        format!("{prefix}{subject}")
    }
}

fn named(a: &eider_service::message::Address) -> AddressOptionalName {
    AddressOptionalName {
        name: (!a.name.is_empty()).then(|| a.name.clone()),
        address: a.address.clone(),
    }
}

/// Submit a Message for Delivery: compose it, send it through the relay and keep a copy in Sent
#[utoipa::path(post, path = "/users/{user}/submit", tag = "Submission", operation_id = "submitMessage",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = SubmitMessageRequest,
    responses(
        (status = 200, description = "Success", body = SubmitMessageResponse),
        (status = 400, description = "Invalid input, no recipients or over quota", body = ErrorResponse),
        (status = 403, description = "Account disabled, daily sending limit reached or missing privileges", body = ErrorResponse),
        (status = 404, description = "No such user, mailbox or referenced message", body = ErrorResponse),
        (status = 500, description = "The relay refused the message (ERRCOMPOSE)", body = ErrorResponse),
        (status = 503, description = "Sending is not enabled on this server (ERRCOMPOSE)", body = ErrorResponse),
    ))]
async fn submit_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<SubmitMessageRequest>,
) -> ApiResult<Json<SubmitMessageResponse>> {
    let user = caller.user(&user)?;
    let owner = state.service.get_user(user).await?;
    let main = AddressOptionalName {
        name: owner.name.clone(),
        address: owner.address.clone(),
    };
    let mailbox = match body.mailbox.as_deref() {
        Some(m) => Some(object_id("mailbox", m)?),
        None => None,
    };
    let from = own_address(&state, user, &main, body.from.clone()).await?;
    let mut headers = body.headers.clone();
    let mut subject = body.subject.clone();
    let mut to = body.to.clone();
    let mut cc = body.cc.clone();
    // The referenced message: threading headers, subject and, for replies without
    // recipients, whom to answer.
    let mut referenced: Option<(ObjectId, u32, &'static str)> = None;
    if let Some(r) = &body.reference {
        let rmailbox = object_id("reference.mailbox", &r.mailbox)?;
        let ruid =
            r.id.ok_or_else(|| ApiError::invalid("reference.id", "is required"))?;
        let flag = match r.action.as_str() {
            "reply" | "replyAll" => "\\Answered",
            "forward" => "$Forwarded",
            _ => {
                return Err(ApiError::invalid(
                    "reference.action",
                    "must be one of [reply, replyAll, forward]",
                ))
            }
        };
        let original = state.service.get_message(user, rmailbox, ruid).await?;
        let index = &original.index;
        if let Some(id) = &index.message_id {
            let mut refs: Vec<String> = index.references.iter().map(|r| format!("<{r}>")).collect();
            refs.push(format!("<{id}>"));
            if r.action != "forward" {
                headers.push(Header {
                    key: "In-Reply-To".into(),
                    value: format!("<{id}>"),
                });
            }
            headers.push(Header {
                key: "References".into(),
                value: refs.join(" "),
            });
        }
        if subject.is_none() {
            let prefix = if r.action == "forward" {
                "Fwd: "
            } else {
                "Re: "
            };
            subject = Some(prefixed(prefix, &index.subject));
        }
        if r.action != "forward" && to.is_empty() && cc.is_empty() {
            let answer_to = if index.reply_to.is_empty() {
                &index.from
            } else {
                &index.reply_to
            };
            to = answer_to.iter().map(named).collect();
            if r.action == "replyAll" {
                let mine = owner.address.to_lowercase();
                let not_mine = |a: &&eider_service::message::Address| {
                    a.address.to_lowercase() != mine
                        && !to
                            .iter()
                            .any(|t| t.address.eq_ignore_ascii_case(&a.address))
                };
                cc = index
                    .to
                    .iter()
                    .chain(&index.cc)
                    .filter(not_mine)
                    .map(named)
                    .collect();
            }
        }
        referenced = Some((rmailbox, ruid, flag));
    }
    let raw = compose(Composition {
        from,
        reply_to: body.reply_to.clone(),
        to,
        cc,
        bcc: body.bcc.clone(),
        headers,
        subject,
        text: body.text.clone(),
        html: body.html.clone(),
        attachments: body.attachments.clone(),
        files: crate::compose::load_files(&state.service, user, &body.files).await?,
        date: chrono::Utc::now(),
    })?;
    let envelope = body.envelope.clone().unwrap_or_default();
    let envelope_from = match envelope.from {
        Some(f) => own_address(&state, user, &main, Some(f))
            .await?
            .map(|a| a.address),
        None => None,
    };
    let meta_data = match body.meta {
        None => None,
        Some(v) => Some(super::messages::metadata_object(v).map_err(|e| {
            if e.code == "InputValidationError" {
                ApiError::invalid("meta", "must be an object or a JSON object string")
            } else {
                e
            }
        })?),
    };
    let submitted = state
        .service
        .submit(
            user,
            Submission {
                raw,
                envelope_from,
                envelope_to: envelope.to.into_iter().map(|a| a.address).collect(),
                mailbox,
                meta_data,
                upload_only: body.upload_only,
                draft: body.is_draft,
                send_time: body.send_time,
            },
        )
        .await?;
    if submitted.queue_id.is_some() {
        // Best effort, as a mail client would: the message is sent either way.
        if let Some((m, uid, flag)) = referenced {
            let _ = state
                .service
                .update_flags(
                    user,
                    m,
                    &UidSet::from_uids([uid]),
                    FlagOp::Add,
                    &[flag.to_string()],
                    None,
                )
                .await;
        }
        if let Some(d) = &body.draft {
            if let (Ok(m), Some(uid)) = (object_id("draft.mailbox", &d.mailbox), d.id) {
                if let Err(e) = state.service.delete_message(user, m, uid).await {
                    tracing::debug!(user = %user, "sent draft not deleted: {e}");
                }
            }
        }
    }
    Ok(Json(SubmitMessageResponse {
        success: true,
        message: MessageWithQueueId {
            mailbox: submitted.mailbox.to_hex(),
            id: submitted.uid,
            queue_id: submitted.queue_id,
        },
    }))
}

/// Body of POST .../messages/{message}/submit.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitStoredMessageRequest {
    /// Accepted for compatibility: Eider stores no attachment files to delete
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub delete_files: bool,
    /// Send time: the message waits in the outbound queue until then
    #[serde(default, deserialize_with = "de::opt_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

/// Where the sent draft went.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentMessage {
    /// Message ID in mailbox
    pub id: u32,
    /// Mailbox ID the message was stored into
    pub mailbox: String,
    /// Size of the RFC822 formatted email
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitStoredMessageResponse {
    pub success: bool,
    /// Reference of the hand-over to the relay
    pub queue_id: String,
    pub message: SentMessage,
}

/// Submit Draft for delivery: the draft is sent to the recipients it names and moved to Sent
#[utoipa::path(post, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}/submit", tag = "Messages", operation_id = "submitStoredMessage",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = u32, Path, description = "Message ID")),
    request_body = SubmitStoredMessageRequest,
    responses(
        (status = 200, description = "Success", body = SubmitStoredMessageResponse),
        (status = 400, description = "Invalid input, not a draft (MessageNotDraft) or no recipients", body = ErrorResponse),
        (status = 403, description = "Account disabled, daily sending limit reached or missing privileges", body = ErrorResponse),
        (status = 404, description = "No such user, mailbox or message", body = ErrorResponse),
        (status = 500, description = "The relay refused the message (ERRCOMPOSE)", body = ErrorResponse),
        (status = 503, description = "Sending is not enabled on this server (ERRCOMPOSE)", body = ErrorResponse),
    ))]
async fn submit_stored_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<SubmitStoredMessageRequest>,
) -> ApiResult<Json<SubmitStoredMessageResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    let uid = message_uid(&message)?;
    let sent = state
        .service
        .submit_stored(user, mailbox, uid, body.send_time)
        .await?;
    Ok(Json(SubmitStoredMessageResponse {
        success: true,
        queue_id: sent.queue_id.unwrap_or_default(),
        message: SentMessage {
            id: sent.uid,
            mailbox: sent.mailbox.to_hex(),
            size: sent.size,
        },
    }))
}

/// Body of POST .../messages/{message}/forward.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForwardStoredMessageRequest {
    /// Number of the user's forwarding target (1 for the first of the user's `targets`)
    #[serde(default, deserialize_with = "de::opt_u32")]
    #[schema(value_type = Option<u32>)]
    pub target: Option<u32>,
    /// An array of additional forward targets (addresses, smtp:// relays or http(s):// URLs)
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

/// One forwarding target.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forwarded {
    /// Sequence ID
    pub seq: String,
    /// Target type: mail, relay or http
    #[serde(rename = "type")]
    pub kind: String,
    /// Target address
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForwardStoredMessageResponse {
    pub success: bool,
    /// Reference of the hand-over to the relay
    pub queue_id: String,
    /// Information about forwarding targets
    pub forwarded: Vec<Forwarded>,
}

/// Forward stored Message: the original bytes, unchanged, to a forwarding target or other addresses
#[utoipa::path(post, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}/forward", tag = "Messages", operation_id = "forwardStoredMessage",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = u32, Path, description = "Message ID")),
    request_body = ForwardStoredMessageRequest,
    responses(
        (status = 200, description = "Success", body = ForwardStoredMessageResponse),
        (status = 400, description = "Invalid input or no target", body = ErrorResponse),
        (status = 403, description = "Account disabled, daily forward limit reached or missing privileges", body = ErrorResponse),
        (status = 404, description = "No such user, mailbox or message", body = ErrorResponse),
        (status = 500, description = "A target refused the message (ERRCOMPOSE)", body = ErrorResponse),
        (status = 503, description = "Sending is not enabled on this server (ERRCOMPOSE)", body = ErrorResponse),
    ))]
async fn forward_stored_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ForwardStoredMessageRequest>,
) -> ApiResult<Json<ForwardStoredMessageResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    let uid = message_uid(&message)?;
    let done = state
        .service
        .forward_stored(user, mailbox, uid, body.target, &body.addresses)
        .await?;
    Ok(Json(ForwardStoredMessageResponse {
        success: true,
        queue_id: done.queue_id,
        forwarded: done
            .forwarded
            .into_iter()
            .map(|f| Forwarded {
                seq: f.seq,
                kind: f.kind.to_string(),
                value: f.value,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutboundResponse {
    pub success: bool,
    /// The queue id, when entries were found
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// How many queue entries (one per recipient domain) were removed
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
    /// NoSuchQueueEntry when nothing of the user's was queued under that id
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Delete an Outbound Message: remove the user's message from the outbound queue while it waits there
#[utoipa::path(delete, path = "/users/{user}/outbound/{queueId}", tag = "Messages", operation_id = "deleteOutboundMessage",
    params(("user" = String, Path, description = "ID of the User"), ("queueId" = String, Path, description = "Outbound queue ID of the message")),
    responses(
        (status = 200, description = "Success (success false with code NoSuchQueueEntry when nothing matched)", body = DeleteOutboundResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
    ))]
async fn delete_outbound_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, queue_id)): Path<(String, String)>,
) -> ApiResult<Json<DeleteOutboundResponse>> {
    let user = caller.user(&user)?;
    let queue_id = queue_id.to_ascii_lowercase();
    if !(18..=24).contains(&queue_id.len()) || !queue_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(
            "queueId",
            "must be a hex string of 18 to 24 characters",
        ));
    }
    let deleted = state.service.cancel_outbound(user, &queue_id).await?;
    Ok(Json(if deleted == 0 {
        DeleteOutboundResponse {
            success: false,
            queue_id: None,
            deleted: None,
            code: Some("NoSuchQueueEntry".into()),
        }
    } else {
        DeleteOutboundResponse {
            success: true,
            queue_id: Some(queue_id),
            deleted: Some(deleted),
            code: None,
        }
    }))
}
