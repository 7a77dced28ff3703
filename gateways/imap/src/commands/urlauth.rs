//! URLAUTH (RFC 4467): GENURLAUTH signs URLs of the user's own messages,
//! URLFETCH reads what an authorized URL names (another user's too, as its access
//! identifier allows), RESETKEY invalidates a mailbox's URLs. Keys and tokens are
//! the service's (`urlauth.rs`).

use std::io;

use chrono::Utc;
use eider_service::model::{FetchWant, UidSet};
use eider_service::URLAUTH_MECHANISM;

use crate::fetch::section_bytes;
use crate::mailbox_names::to_wire;
use crate::parser::url::{parse_imap_url, percent_decode, ImapUrl};
use crate::response::{service_error, write_string, Reply};
use crate::session::Session;

fn bad_url(why: &str) -> Reply {
    Reply::no(format!("Bad URL: {why}")).with_code("BADURL")
}

impl Session {
    pub(crate) async fn cmd_genurlauth(&mut self, pairs: Vec<(Vec<u8>, String)>) -> Reply {
        let mut out = b"* GENURLAUTH".to_vec();
        for (raw, mechanism) in pairs {
            if mechanism != URLAUTH_MECHANISM {
                return Reply::no("Unknown URLAUTH mechanism").with_code("BADURLMECH");
            }
            let url = match parse_imap_url(&raw) {
                Ok(u) => u,
                Err(why) => return bad_url(why),
            };
            let Some(auth) = url.urlauth.as_ref().filter(|a| a.token.is_none()) else {
                return bad_url("not a URLAUTH rump");
            };
            // The URL must name the user's own mailbox, absolutely.
            if !url
                .user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(&self.username))
            {
                return bad_url("not the user's own URL");
            }
            let Some(name) = url.mailbox.as_deref() else {
                return bad_url("no mailbox");
            };
            let mailbox = match self
                .lookup_mailbox(to_wire(name, self.utf8).as_bytes())
                .await
            {
                Ok(m) => m,
                Err(_) => return bad_url("no such mailbox"),
            };
            if url.uid_validity.is_some_and(|v| v != mailbox.uid_validity) {
                return bad_url("UIDVALIDITY mismatch");
            }
            let token = match self
                .service()
                .genurlauth(self.user_id(), mailbox.id, &auth.rump)
                .await
            {
                Ok(t) => t,
                Err(e) => return service_error(&e),
            };
            out.push(b' ');
            let full = format!("{}:internal:{token}", auth.rump);
            write_string(&mut out, full.as_bytes(), false);
        }
        out.extend_from_slice(b"\r\n");
        self.conn.out().extend_from_slice(&out);
        Reply::ok("GENURLAUTH completed")
    }

    pub(crate) async fn cmd_resetkey(&mut self, mailbox: Option<Vec<u8>>) -> Reply {
        let target = match mailbox {
            None => None,
            Some(raw) => match self.lookup_mailbox(&raw).await {
                Ok(m) => Some(m.id),
                Err(r) => return r,
            },
        };
        match self
            .service()
            .reset_urlauth_keys(self.user_id(), target)
            .await
        {
            Ok(()) => Reply::ok("RESETKEY completed"),
            Err(e) => service_error(&e),
        }
    }

    pub(crate) async fn cmd_urlfetch(&mut self, urls: Vec<Vec<u8>>) -> io::Result<Reply> {
        let mut out = b"* URLFETCH".to_vec();
        for raw in urls {
            out.push(b' ');
            write_string(&mut out, &raw, false);
            out.push(b' ');
            // Whatever fails (bad URL, access, key, missing message) is NIL.
            match self.authorized_content(&raw).await {
                Some(bytes) => {
                    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
                    out.extend_from_slice(&bytes);
                }
                None => out.extend_from_slice(b"NIL"),
            }
            self.conn.out().extend_from_slice(&out);
            out.clear();
            self.conn.maybe_flush().await?;
        }
        self.conn.out().extend_from_slice(b"\r\n");
        Ok(Reply::ok("URLFETCH completed"))
    }

    /// The content an authorized URL names, if it may be read by this session.
    pub(crate) async fn authorized_content(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        let url: ImapUrl = parse_imap_url(raw).ok()?;
        let auth = url.urlauth.as_ref()?;
        if !auth
            .mechanism
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(URLAUTH_MECHANISM))
        {
            return None;
        }
        let token = auth.token.as_deref()?;
        // Who may use it (RFC 4467 3): anyone logged in, or one named user.
        let allowed = match auth.access.as_str() {
            "anonymous" | "authuser" => true,
            a => match a.strip_prefix("user+") {
                Some(name) => percent_decode(name)
                    .ok()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&self.username)),
                None => false,
            },
        };
        if !allowed {
            return None;
        }
        if let Some(expire) = &auth.expire {
            let at = chrono::DateTime::parse_from_rfc3339(&percent_decode(expire).ok()?).ok()?;
            if at.with_timezone(&Utc) <= Utc::now() {
                return None;
            }
        }
        let service = self.service().clone();
        let owner = service.find_user(url.user.as_deref()?).await.ok()?;
        let mailbox = service
            .find_mailbox(owner.id, url.mailbox.as_deref()?)
            .await
            .ok()?;
        if url.uid_validity.is_some_and(|v| v != mailbox.uid_validity) {
            return None;
        }
        if !service
            .urlauth_valid(owner.id, mailbox.id, &auth.rump, token)
            .await
            .ok()?
        {
            return None;
        }
        let want = FetchWant {
            imap: false,
            body: true,
        };
        let found = service
            .fetch_messages(owner.id, mailbox.id, &UidSet::from_uids([url.uid]), want)
            .await
            .ok()?;
        let msg = found.into_iter().find(|m| m.meta.uid == url.uid)?;
        section_bytes(
            &service,
            &msg,
            url.section.as_ref(),
            url.partial,
            self.shared.max_message,
        )
        .await
        .ok()
    }
}
