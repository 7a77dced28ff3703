//! APPEND with MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469): every message is
//! assembled (CATENATE's URL parts read from the user's stored messages) and
//! checked first, then the service stores them all or none.

use chrono::Utc;
use eider_service::model::{FetchWant, UidSet};
use eider_service::AppendOptions;

use crate::fetch::{section_bytes, SectionRead};
use crate::mailbox_names::to_wire;
use crate::parser::url::parse_imap_url;
use crate::parser::{AppendContent, AppendMessage, CatenatePart};
use crate::response::{compress_set, service_error, Reply};
use crate::session::Session;

fn too_big() -> Reply {
    Reply::no("Message too large").with_code("TOOBIG")
}

/// `NO [BADURL url]`: the URL as sent when it fits a response code.
fn bad_url(url: &[u8], why: &str) -> Reply {
    let shown: String = url
        .iter()
        .take(512)
        .map(|&b| b as char)
        .filter(|c| c.is_ascii_graphic() && *c != ']')
        .collect();
    Reply::no(format!("Bad URL: {why}")).with_code(format!("BADURL {shown}"))
}

impl Session {
    pub(crate) async fn cmd_append(&mut self, raw: Vec<u8>, messages: Vec<AppendMessage>) -> Reply {
        // The target first: a missing mailbox is TRYCREATE whatever else is wrong.
        let mailbox = match self.lookup_mailbox(&raw).await {
            Ok(m) => m,
            Err(r) if r.code.as_deref() == Some("NONEXISTENT") => {
                return Reply::no("Mailbox does not exist").with_code("TRYCREATE")
            }
            Err(r) => return r,
        };
        let max = self.shared.max_message;
        let mut batch = Vec::with_capacity(messages.len());
        for m in messages {
            let message = match m.content {
                AppendContent::Literal(v) => v,
                AppendContent::Catenate(parts) => match self.catenate(parts, max).await {
                    Ok(v) => v,
                    Err(r) => return r,
                },
            };
            if message.len() as u64 > max {
                return too_big();
            }
            let flags: Vec<String> = m
                .flags
                .into_iter()
                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                .collect();
            // RFC 3516 4.4: NUL bytes (only possible in a literal8) are stored base64-encoded.
            let message = crate::binary_append::encode_binary_parts(message);
            let opts = AppendOptions {
                flags,
                internal_date: m.date.map(|d| d.with_timezone(&Utc)),
                ..Default::default()
            };
            batch.push((message, opts));
        }
        match self
            .service()
            .append_all(self.user_id(), mailbox.id, batch)
            .await
        {
            Ok(done) => {
                let uids: Vec<u32> = done.iter().map(|a| a.uid).collect();
                let validity = done
                    .first()
                    .map_or(mailbox.uid_validity, |a| a.uid_validity);
                Reply::ok("APPEND completed")
                    .with_code(format!("APPENDUID {validity} {}", compress_set(&uids)))
            }
            Err(e) => service_error(&e),
        }
    }

    /// One CATENATE message: its text parts and the stored parts its URLs name,
    /// in order, at most `max` bytes in all.
    async fn catenate(&mut self, parts: Vec<CatenatePart>, max: u64) -> Result<Vec<u8>, Reply> {
        let mut out: Vec<u8> = Vec::new();
        for part in parts {
            match part {
                CatenatePart::Text(t) => out.extend_from_slice(&t),
                CatenatePart::Url(url) => {
                    let room = max.saturating_sub(out.len() as u64);
                    let bytes = self.url_content(&url, room).await?;
                    out.extend_from_slice(&bytes);
                }
            }
            if out.len() as u64 > max {
                return Err(too_big());
            }
        }
        Ok(out)
    }

    /// The bytes an IMAP URL names in the user's own mailboxes (at most `room`).
    pub(crate) async fn url_content(&mut self, url: &[u8], room: u64) -> Result<Vec<u8>, Reply> {
        let parsed = parse_imap_url(url).map_err(|why| bad_url(url, why))?;
        if parsed.urlauth.is_some() {
            // An authorized URL may name another user's message (RFC 4469 5).
            return match self.authorized_content(url).await {
                Some(b) if b.len() as u64 <= room => Ok(b),
                Some(_) => Err(too_big()),
                None => Err(bad_url(url, "not authorized")),
            };
        }
        if parsed
            .user
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(&self.username))
        {
            return Err(bad_url(url, "another user's mailbox"));
        }
        let mailbox = match &parsed.mailbox {
            Some(name) => match self
                .lookup_mailbox(to_wire(name, self.utf8).as_bytes())
                .await
            {
                Ok(m) => (m.id, m.uid_validity),
                Err(_) => return Err(bad_url(url, "no such mailbox")),
            },
            None => match self.selected.as_ref() {
                Some(s) => (s.id, s.uid_validity),
                None => return Err(bad_url(url, "no mailbox selected")),
            },
        };
        if parsed.uid_validity.is_some_and(|v| v != mailbox.1) {
            return Err(bad_url(url, "UIDVALIDITY mismatch"));
        }
        let want = FetchWant {
            imap: false,
            body: true,
        };
        let found = self
            .service()
            .fetch_messages(
                self.user_id(),
                mailbox.0,
                &UidSet::from_uids([parsed.uid]),
                want,
            )
            .await
            .map_err(|e| service_error(&e))?;
        let Some(msg) = found.into_iter().find(|m| m.meta.uid == parsed.uid) else {
            return Err(bad_url(url, "no such message"));
        };
        let service = self.service().clone();
        match section_bytes(
            &service,
            &msg,
            parsed.section.as_ref(),
            parsed.partial,
            room,
        )
        .await
        {
            Ok(b) => Ok(b),
            Err(SectionRead::Missing) => Err(bad_url(url, "no such part")),
            Err(SectionRead::TooBig) => Err(too_big()),
            Err(SectionRead::Gone(e)) => {
                tracing::debug!("URL content unreadable: {e}");
                Err(bad_url(url, "message unreadable"))
            }
        }
    }
}
