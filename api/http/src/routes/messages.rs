//! Messages of a mailbox: list, read (parsed, raw, attachments), upload,
//! update (one, many or all), delete (one or all).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use eider_service::api::{parse_uid_range, MessageChanges, MessageListOptions};
use eider_service::model::{SortOrder, UidSet};
use eider_service::{AppendOptions, ObjectId};
use futures::stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::message_view::{
    list_item, parsed_message, GetMessageResponse, ListOptions, MessageListItem,
};
use super::users::{LogParams, PagingQuery};
use crate::compose::{compose, AddressOptionalName, Attachment, Composition, Header};
use crate::de::{self, OrFalse};
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{message_uid, object_id, parse_json_body, ApiJson, ApiQuery, Caller};
use crate::schema::{self, ok, Binary, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list_messages,
            update_messages,
            delete_all_messages,
            upload_message
        ))
        .routes(routes!(get_message, update_message, delete_message))
        .routes(routes!(message_source))
        .routes(routes!(attachment))
}

/// `order`: "asc" or "desc".
pub fn sort_order(v: Option<&str>) -> ApiResult<SortOrder> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(SortOrder::Descending),
        Some(s) if s.eq_ignore_ascii_case("desc") => Ok(SortOrder::Descending),
        Some(s) if s.eq_ignore_ascii_case("asc") => Ok(SortOrder::Ascending),
        Some(_) => Err(ApiError::invalid("order", "must be one of [asc, desc]")),
    }
}

/// `includeHeaders`: comma-separated header names, or true for all.
pub fn include_headers(v: Option<&str>) -> Vec<String> {
    match v.map(str::trim) {
        None | Some("") | Some("false") => Vec::new(),
        Some("true") => vec!["*".to_string()],
        Some(list) => list
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
    }
}

/// Query of GET .../messages.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// If true, then returns only unseen messages
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub unseen: bool,
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
    /// If true, then includes threadMessageCount in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub thread_counters: bool,
    /// Ordering of the records by insert date: "asc" or "desc" (default)
    #[serde(deserialize_with = "de::opt_string")]
    pub order: Option<String>,
    /// Comma separated list of header keys to include in the response (true for all)
    #[serde(deserialize_with = "de::opt_string")]
    pub include_headers: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetMessagesResponse {
    pub success: bool,
    /// How many results were found
    pub total: u64,
    /// Current page number
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    /// Special use of the mailbox, if any
    pub special_use: Option<String>,
    pub results: Vec<MessageListItem>,
}

/// Add thread counts to listing entries when asked.
pub async fn thread_counts(
    state: &AppState,
    user: ObjectId,
    threads: impl Iterator<Item = ObjectId>,
    wanted: bool,
) -> ApiResult<Vec<Option<u64>>> {
    let mut out = Vec::new();
    for t in threads {
        out.push(if wanted {
            Some(state.service.thread_message_count(user, t).await?)
        } else {
            None
        });
    }
    Ok(out)
}

/// List messages in a Mailbox
#[utoipa::path(get, path = "/users/{user}/mailboxes/{mailbox}/messages", tag = "Messages", operation_id = "getMessages",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ListMessagesQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetMessagesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such mailbox", body = ErrorResponse),
    ))]
async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ListMessagesQuery>,
) -> ApiResult<Json<GetMessagesResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    let opts = MessageListOptions {
        unseen: q.unseen,
        order: sort_order(q.order.as_deref())?,
        page: q.paging.request()?,
    };
    let (mbox, page) = state
        .service
        .list_mailbox_messages(user, mailbox, &opts)
        .await?;
    let view = ListOptions {
        meta_data: q.meta_data,
        include_headers: include_headers(q.include_headers.as_deref()),
    };
    let counts = thread_counts(
        &state,
        user,
        page.messages.iter().map(|m| m.meta.thread),
        q.thread_counters,
    )
    .await?;
    Ok(Json(GetMessagesResponse {
        success: true,
        total: page.total,
        page: opts.page.page,
        previous_cursor: Cursor(page.previous),
        next_cursor: Cursor(page.next),
        special_use: mbox.special_use.map(|s| s.as_str().to_string()),
        results: page
            .messages
            .iter()
            .zip(counts)
            .map(|(m, c)| list_item(&m.meta, &m.index, &view, c))
            .collect(),
    }))
}

/// Query of GET .../messages/{message}.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GetMessageQuery {
    /// If true then replaces cid links with attachment download URLs
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub replace_cid_links: bool,
    /// If true then marks message as seen
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub mark_as_seen: bool,
}

fn ids(
    user: &str,
    mailbox: &str,
    message: &str,
    caller: &Caller,
) -> ApiResult<(ObjectId, ObjectId, u32)> {
    let user = caller.user(user)?;
    let mailbox = object_id("mailbox", mailbox)?;
    Ok((user, mailbox, message_uid(message)?))
}

/// Request Message information: parsed headers, sanitized html, text, attachments
#[utoipa::path(get, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}", tag = "Messages", operation_id = "getMessage",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = u32, Path, description = "Message ID (UID)"), GetMessageQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetMessageResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No such message", body = ErrorResponse),
    ))]
async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<GetMessageQuery>,
) -> ApiResult<Json<GetMessageResponse>> {
    let (user, mailbox, uid) = ids(&user, &mailbox, &message, &caller)?;
    let mut m = state.service.get_message(user, mailbox, uid).await?;
    if q.mark_as_seen && !m.meta.seen() {
        let changes = MessageChanges {
            seen: Some(true),
            ..Default::default()
        };
        state
            .service
            .update_messages(user, mailbox, &UidSet::from_uids([uid]), &changes)
            .await?;
        m = state.service.get_message(user, mailbox, uid).await?;
    }
    let base = format!(
        "/users/{}/mailboxes/{}/messages/{uid}",
        user.to_hex(),
        mailbox.to_hex()
    );
    Ok(Json(parsed_message(&m, q.replace_cid_links, &base)))
}

/// Stream chunks from a service reader as a response body.
fn streamed<R, F, Fut>(reader: R, next: F) -> Body
where
    R: Send + 'static,
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<(Result<Bytes, std::io::Error>, R)>> + Send + 'static,
{
    Body::from_stream(stream::unfold(reader, next))
}

/// Get Message source: the exact bytes that were stored
#[utoipa::path(get, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml", tag = "Messages", operation_id = "getMessageSource",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = u32, Path, description = "Message ID (UID)"), LogParams),
    responses(
        (status = 200, description = "The RFC 822 message", content_type = "message/rfc822", body = Binary),
        (status = 404, description = "No such message", body = ErrorResponse),
    ))]
async fn message_source(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (user, mailbox, uid) = ids(&user, &mailbox, &message, &caller)?;
    let reader = state.service.message_body(user, mailbox, uid).await?;
    let len = reader.len();
    let body = streamed(reader, |mut r| async move {
        match r.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), r)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "message body read failed");
                Some((Err(std::io::Error::other(e.to_string())), r))
            }
        }
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok((StatusCode::OK, headers, body).into_response())
}

/// Query of the attachment download.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AttachmentQuery {
    /// Accepted for compatibility: the decoded content is always sent as stored
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub send_as_string: bool,
}

/// A filename safe to put in a quoted Content-Disposition parameter.
fn disposition_filename(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Percent-encode for RFC 5987 `filename*`.
fn rfc5987(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Download Attachment: the decoded content with its content type
#[utoipa::path(get, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}/attachments/{attachment}", tag = "Messages", operation_id = "getMessageAttachment",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = u32, Path, description = "Message ID (UID)"), ("attachment" = String, Path, description = "ID of the Attachment (ATT00001)"), AttachmentQuery),
    responses(
        (status = 200, description = "The attachment", content_type = "application/octet-stream", body = Binary),
        (status = 404, description = "No such message or attachment", body = ErrorResponse),
    ))]
async fn attachment(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message, attachment)): Path<(String, String, String, String)>,
    ApiQuery(_q): ApiQuery<AttachmentQuery>,
) -> ApiResult<Response> {
    let (user, mailbox, uid) = ids(&user, &mailbox, &message, &caller)?;
    let reader = state
        .service
        .attachment(user, mailbox, uid, &attachment)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("AttachmentNotFound", "This attachment does not exist")
        })?;
    let mut headers = HeaderMap::new();
    let ctype = HeaderValue::from_str(&reader.info.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, ctype);
    if let Some(len) = reader.len() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let name = reader
        .info
        .filename
        .clone()
        .unwrap_or_else(|| reader.info.id.clone());
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        disposition_filename(&name),
        rfc5987(&name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    let body = streamed(reader, |mut r| async move {
        match r.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), r)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "attachment read failed");
                Some((Err(std::io::Error::other(e.to_string())), r))
            }
        }
    });
    Ok((StatusCode::OK, headers, body).into_response())
}

/// Message replaced by an upload.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplacePrevious {
    /// Mailbox of the previous message (defaults to the target mailbox)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub mailbox: Option<String>,
    /// UID of the previous message
    #[serde(deserialize_with = "de::opt_u32")]
    #[schema(value_type = u32)]
    pub id: Option<u32>,
}

/// Body of POST .../messages: a raw message, or fields to compose one from.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadMessageRequest {
    /// Receive date (defaults to now)
    #[serde(default, deserialize_with = "de::opt_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// Is the message unseen or not (uploaded messages are seen by default)
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub unseen: bool,
    /// Is the message flagged or not
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub flagged: bool,
    /// Is the message a draft or not
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub draft: bool,
    /// Message source, base64 encoded (plain RFC 822 text is accepted too). Alternatively
    /// POST the message itself with Content-Type message/rfc822. Overrides the other fields.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub raw: Option<String>,
    /// Address for the From: header (defaults to the user's)
    #[serde(default)]
    pub from: Option<AddressOptionalName>,
    /// Address for the Reply-To: header
    #[serde(default)]
    pub reply_to: Option<AddressOptionalName>,
    #[serde(default)]
    pub to: Vec<AddressOptionalName>,
    #[serde(default)]
    pub cc: Vec<AddressOptionalName>,
    #[serde(default)]
    pub bcc: Vec<AddressOptionalName>,
    /// Custom headers for the message
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Message subject
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
    pub meta_data: Option<serde_json::Value>,
    /// If set, then deletes a previous message when storing the new one
    #[serde(default)]
    pub replace_previous: Option<ReplacePrevious>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Where an uploaded message went.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedMessage {
    /// Message ID (UID) in mailbox
    pub id: u32,
    /// Mailbox ID the message was stored into
    pub mailbox: String,
    /// Size of the RFC822 formatted email
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadMessageResponse {
    pub success: bool,
    pub message: UploadedMessage,
    /// Set if replacing a previous message was requested
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_deleted: Option<bool>,
    /// Previous delete error message
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_delete_error: Option<String>,
}

/// `raw` as sent: base64 of the message, or the message text itself.
fn decode_raw(raw: &str) -> Vec<u8> {
    let looks_base64 = raw.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n' | b' ' | b'\t')
    });
    if looks_base64 {
        let compact: String = raw.split_whitespace().collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) {
            return bytes;
        }
    }
    raw.as_bytes().to_vec()
}

/// Upload Message: raw RFC 822 (`raw` or a message/rfc822 body) or composed from fields
#[utoipa::path(post, path = "/users/{user}/mailboxes/{mailbox}/messages", tag = "Messages", operation_id = "uploadMessage",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox")),
    request_body(content(
        (UploadMessageRequest = "application/json"),
        (Binary = "message/rfc822"),
    )),
    responses(
        (status = 200, description = "Success", body = UploadMessageResponse),
        (status = 400, description = "Invalid input, empty message or over quota", body = ErrorResponse),
        (status = 404, description = "No such user or mailbox", body = ErrorResponse),
    ))]
async fn upload_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<serde_json::Value>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Json<UploadMessageResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    let is_raw_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("message/rfc822"));
    let (body, raw): (UploadMessageRequest, Vec<u8>) = if is_raw_body {
        // Options come from the query string when the body is the message itself.
        let opts = serde_json::to_vec(&query).unwrap_or_default();
        (parse_json_body(&opts)?, bytes.to_vec())
    } else {
        let body: UploadMessageRequest = parse_json_body(&bytes)?;
        let raw = match body.raw.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => decode_raw(r),
            None => {
                let owner = state.service.get_user(user).await?;
                let from = body.from.clone().or_else(|| {
                    (!owner.address.is_empty()).then(|| AddressOptionalName {
                        name: owner.name.clone(),
                        address: owner.address.clone(),
                    })
                });
                compose(Composition {
                    from,
                    reply_to: body.reply_to.clone(),
                    to: body.to.clone(),
                    cc: body.cc.clone(),
                    bcc: body.bcc.clone(),
                    headers: body.headers.clone(),
                    subject: body.subject.clone(),
                    text: body.text.clone(),
                    html: body.html.clone(),
                    attachments: body.attachments.clone(),
                    files: crate::compose::load_files(&state.service, user, &body.files).await?,
                    date: body.date.unwrap_or_else(chrono::Utc::now),
                })?
            }
        };
        (body, raw)
    };
    let mut flags = Vec::new();
    if !body.unseen {
        flags.push("\\Seen".to_string());
    }
    if body.flagged {
        flags.push("\\Flagged".to_string());
    }
    if body.draft {
        flags.push("\\Draft".to_string());
    }
    let size = raw.len() as u64;
    let opts = AppendOptions {
        flags,
        internal_date: body.date,
        meta_data: match body.meta_data {
            None => None,
            Some(v) => Some(metadata_object(v)?),
        },
        ..Default::default()
    };
    let appended = state
        .service
        .append(user, mailbox, raw, opts)
        .await
        .on_field("raw")?;
    let mut response = UploadMessageResponse {
        success: true,
        message: UploadedMessage {
            id: appended.uid,
            mailbox: mailbox.to_hex(),
            size,
        },
        previous_deleted: None,
        previous_delete_error: None,
    };
    if let Some(prev) = body.replace_previous {
        let result = async {
            let target = match prev.mailbox.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => object_id("replacePrevious.mailbox", m)?,
                None => mailbox,
            };
            let uid = prev
                .id
                .ok_or_else(|| ApiError::invalid("replacePrevious.id", "is required"))?;
            state.service.delete_message(user, target, uid).await?;
            Ok::<(), ApiError>(())
        }
        .await;
        match result {
            Ok(()) => response.previous_deleted = Some(true),
            Err(e) => {
                response.previous_deleted = Some(false);
                response.previous_delete_error =
                    Some(format!("Failed to delete previous message. {}", e.message));
            }
        }
    }
    Ok(Json(response))
}

pub(crate) fn metadata_object(v: serde_json::Value) -> ApiResult<serde_json::Value> {
    match v {
        serde_json::Value::Object(_) => Ok(v),
        serde_json::Value::String(s) => match serde_json::from_str(&s) {
            Ok(o @ serde_json::Value::Object(_)) => Ok(o),
            _ => Err(ApiError::invalid(
                "metaData",
                "must be a valid JSON object string",
            )),
        },
        _ => Err(ApiError::invalid("metaData", "must be an object")),
    }
}

/// Body of PUT .../messages and PUT .../messages/{message}.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMessageRequest {
    /// Messages to update: a UID, a list (1,2,3) or a range (3:15, 3:*). Taken from
    /// the path in PUT .../messages/{message}.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub message: Option<String>,
    /// ID of the target Mailbox if you want to move messages
    #[serde(default, deserialize_with = "de::opt_string")]
    pub move_to: Option<String>,
    /// State of the \Seen flag
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub seen: Option<bool>,
    /// State of the \Deleted flag
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub deleted: Option<bool>,
    /// State of the \Flagged flag
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub flagged: Option<bool>,
    /// State of the \Draft flag
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub draft: Option<bool>,
    /// Either expiration date or false to turn off autoexpiration
    #[serde(default, deserialize_with = "de::opt_date_or_false")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires: Option<OrFalse<chrono::DateTime<chrono::Utc>>>,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateMessageResponse {
    pub success: bool,
    /// If messages were moved: [old UID, new UID] pairs
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Vec<u32>>>)]
    pub id: Option<Vec<(u32, u32)>>,
    /// Target mailbox of a move
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// If messages were not moved, the number of updated messages
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
}

async fn apply_update(
    state: &AppState,
    user: ObjectId,
    mailbox: ObjectId,
    selector: &str,
    body: UpdateMessageRequest,
) -> ApiResult<Json<UpdateMessageResponse>> {
    let uids = parse_uid_range(selector).on_field("message")?;
    let move_to = match body.move_to.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Some(object_id("moveTo", m)?),
        None => None,
    };
    let changes = MessageChanges {
        seen: body.seen,
        flagged: body.flagged,
        draft: body.draft,
        deleted: body.deleted,
        expires: body.expires.map(|e| match e {
            OrFalse::Set(d) => Some(d),
            OrFalse::Off => None,
        }),
        meta_data: match body.meta_data {
            None => None,
            Some(v) => Some(metadata_object(v)?),
        },
        move_to,
    };
    let done = state
        .service
        .update_messages(user, mailbox, &uids, &changes)
        .await?;
    Ok(Json(match move_to {
        Some(target) => UpdateMessageResponse {
            success: true,
            id: Some(done.moved),
            mailbox: Some(target.to_hex()),
            updated: None,
        },
        None => UpdateMessageResponse {
            success: true,
            id: None,
            mailbox: None,
            updated: Some(done.updated),
        },
    }))
}

/// Update Messages: flags, expiry, metadata, or move, for `message` (a UID, list or range)
#[utoipa::path(put, path = "/users/{user}/mailboxes/{mailbox}/messages", tag = "Messages", operation_id = "updateMessage",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox")),
    request_body = UpdateMessageRequest,
    responses(
        (status = 200, description = "Success", body = UpdateMessageResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No message matched", body = ErrorResponse),
    ))]
async fn update_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMessageRequest>,
) -> ApiResult<Json<UpdateMessageResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    let selector = body
        .message
        .clone()
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("message", "is required"))?;
    apply_update(&state, user, mailbox, &selector, body).await
}

/// Update Message information with path param (a UID, list or range)
#[utoipa::path(put, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}", tag = "Messages", operation_id = "updateMessagePathParams",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = String, Path, description = "Message ID: a UID, a list (1,2,3) or a range (3:15, 3:*)")),
    request_body = UpdateMessageRequest,
    responses(
        (status = 200, description = "Success", body = UpdateMessageResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No message matched", body = ErrorResponse),
    ))]
async fn update_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<UpdateMessageRequest>,
) -> ApiResult<Json<UpdateMessageResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    apply_update(&state, user, mailbox, &message, body).await
}

/// Delete a Message
#[utoipa::path(delete, path = "/users/{user}/mailboxes/{mailbox}/messages/{message}", tag = "Messages", operation_id = "deleteMessage",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), ("message" = u32, Path, description = "Message ID (UID)"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such message", body = ErrorResponse),
    ))]
async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox, message)): Path<(String, String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let (user, mailbox, uid) = ids(&user, &mailbox, &message, &caller)?;
    state.service.delete_message(user, mailbox, uid).await?;
    Ok(ok())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteMessagesInMailboxResponse {
    pub success: bool,
    /// Indicates the count of deleted messages
    pub deleted: u64,
    /// Indicate the count of errors during the delete
    pub errors: u64,
}

/// Query of DELETE .../messages.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeleteAllQuery {
    /// Accepted for compatibility; deletion always runs at once
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub r#async: bool,
    /// Accepted for compatibility; nothing is archived
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub skip_archive: bool,
}

/// Delete all Messages from a Mailbox
#[utoipa::path(delete, path = "/users/{user}/mailboxes/{mailbox}/messages", tag = "Messages", operation_id = "deleteMessagesInMailbox",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), DeleteAllQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = DeleteMessagesInMailboxResponse),
        (status = 404, description = "No such mailbox", body = ErrorResponse),
    ))]
async fn delete_all_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
    ApiQuery(_q): ApiQuery<DeleteAllQuery>,
) -> ApiResult<Json<DeleteMessagesInMailboxResponse>> {
    let user = caller.user(&user)?;
    let mailbox = object_id("mailbox", &mailbox)?;
    let deleted = state.service.delete_all_messages(user, mailbox).await?;
    Ok(Json(DeleteMessagesInMailboxResponse {
        success: true,
        deleted,
        errors: 0,
    }))
}
