//! FETCH: flags and dates from the message rows, ENVELOPE/BODYSTRUCTURE from
//! the precomputed index (no MIME parsing), and body sections streamed from the
//! store as literals, so a large message or a long range is never buffered whole.

use std::collections::HashSet;
use std::io;

use eider_service::message::{BodyPart, PartKind};
use eider_service::model::{
    FetchWant, FetchedMessage, FlagOp, JournalKind, MessageBody, MessageMeta, UidSet,
};
use eider_service::Service;

use crate::parser::{
    ranges_contain, FetchAtt, FetchModifiers, Partial, Section, SectionText, SequenceSet,
};
use crate::response::{
    absent_ranges, compress_set, flag_list, format_ranges, internal_date, service_error, Reply,
};
use crate::session::Session;

/// Messages loaded per round trip to the store: rows with ENVELOPE/BODYSTRUCTURE
/// strings are small; with MIME trees and layouts, fewer are held at once.
const CHUNK_BODY: usize = 256;
const CHUNK_META: usize = 1000;
/// Largest header block filtered for HEADER.FIELDS (it is read into memory).
const MAX_HEADER_FILTER: u64 = 4 * 1024 * 1024;

/// Why a FETCH stopped early.
enum Abort {
    Io(io::Error),
    Reply(Reply),
    /// The message could not be read (typically expunged meanwhile).
    Gone(String),
}

impl From<io::Error> for Abort {
    fn from(e: io::Error) -> Self {
        Abort::Io(e)
    }
}

/// What of a message's content an item needs besides its row.
fn needs_imap(a: &FetchAtt) -> bool {
    matches!(
        a,
        FetchAtt::Envelope | FetchAtt::Body | FetchAtt::BodyStructure
    )
}

fn needs_body(a: &FetchAtt) -> bool {
    matches!(
        a,
        FetchAtt::Rfc822
            | FetchAtt::Rfc822Header
            | FetchAtt::Rfc822Text
            | FetchAtt::BodySection { .. }
            | FetchAtt::Binary { .. }
            | FetchAtt::BinarySize(_)
    )
}

fn sets_seen(a: &FetchAtt) -> bool {
    matches!(
        a,
        FetchAtt::Rfc822
            | FetchAtt::Rfc822Text
            | FetchAtt::BodySection { peek: false, .. }
            | FetchAtt::Binary { peek: false, .. }
    )
}

/// What a section resolves to.
enum Content {
    /// Raw bytes `start..end` of the message, streamed.
    Range(u64, u64),
    /// Computed bytes (HEADER.FIELDS, decoded BINARY).
    Bytes(Vec<u8>),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Range(a, b) => b - a,
            Content::Bytes(v) => v.len() as u64,
        }
    }

    fn partial(self, partial: Partial) -> Content {
        let Some((start, count)) = partial else {
            return self;
        };
        match self {
            Content::Range(a, b) => {
                let s = a.saturating_add(start).min(b);
                Content::Range(s, s.saturating_add(count).min(b))
            }
            Content::Bytes(v) => {
                let s = (start.min(v.len() as u64)) as usize;
                let e = (start.saturating_add(count).min(v.len() as u64)) as usize;
                Content::Bytes(v[s..e].to_vec())
            }
        }
    }
}

/// Raw byte range of a section, or None when the message has no such part.
fn section_range(body: &MessageBody, size: u64, section: &Section) -> Option<(u64, u64, bool)> {
    if section.part.is_empty() {
        let root = &body.root;
        return Some(match section.text {
            None => (0, size, false),
            Some(SectionText::Header) => (root.header_start, root.body_start, false),
            Some(SectionText::HeaderFields(_)) | Some(SectionText::HeaderFieldsNot(_)) => {
                (root.header_start, root.body_start, true)
            }
            Some(SectionText::Text) => (root.body_start, size.max(root.body_start), false),
            Some(SectionText::Mime) => return None,
        });
    }
    let part = body.root.section(&section.part)?;
    let message_root = || -> Option<&BodyPart> {
        match &part.kind {
            PartKind::Message { root, .. } => Some(root),
            _ => None,
        }
    };
    Some(match &section.text {
        None => (part.body_start, part.body_end, false),
        Some(SectionText::Mime) => (part.header_start, part.body_start, false),
        Some(SectionText::Header) => {
            let r = message_root()?;
            (r.header_start, r.body_start, false)
        }
        Some(SectionText::HeaderFields(_)) | Some(SectionText::HeaderFieldsNot(_)) => {
            let r = message_root()?;
            (r.header_start, r.body_start, true)
        }
        Some(SectionText::Text) => {
            let r = message_root()?;
            (r.body_start, r.body_end, false)
        }
    })
}

/// The fields of a header block whose names are (or, with `not`, are not) in `names`,
/// followed by the blank line.
pub fn filter_headers(raw: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Split into fields: a line starting with SP/HT continues the previous one.
    while i < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[i..]).map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let continuation = matches!(line.first(), Some(b' ') | Some(b'\t'));
        if !continuation && i > start {
            fields.push(&raw[start..i]);
            start = i;
        }
        i = line_end;
    }
    if i > start {
        fields.push(&raw[start..i]);
    }
    for f in fields {
        let name_end = memchr::memchr(b':', f).unwrap_or(f.len());
        let name = String::from_utf8_lossy(&f[..name_end]);
        let name = name.trim();
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if listed != not && name_end < f.len() {
            out.extend_from_slice(f);
            if !f.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn read_range(
    service: &Service,
    body: &MessageBody,
    a: u64,
    b: u64,
) -> Result<Vec<u8>, Abort> {
    service
        .content_reader(body, a, b)
        .read_all()
        .await
        .map_err(|e| Abort::Gone(e.to_string()))
}

/// Why [`section_bytes`] gave no bytes.
pub(crate) enum SectionRead {
    /// The message has no such part.
    Missing,
    /// More than the caller's limit.
    TooBig,
    /// The content could not be read.
    Gone(String),
}

/// The bytes of a section of a stored message (the whole message when `section`
/// is None), cut by `partial` (start, length), as CATENATE and URLFETCH take them:
/// refused before reading when longer than `limit`.
pub(crate) async fn section_bytes(
    service: &Service,
    msg: &FetchedMessage,
    section: Option<&Section>,
    partial: Option<(u64, Option<u64>)>,
    limit: u64,
) -> Result<Vec<u8>, SectionRead> {
    let body = msg.body.as_ref().ok_or(SectionRead::Missing)?;
    let whole = Section {
        part: Vec::new(),
        text: None,
    };
    let section = section.unwrap_or(&whole);
    let content = match section_range(body, msg.meta.size, section) {
        Some((a, b, true)) => {
            let raw = read_range(service, body, a, b.min(a + MAX_HEADER_FILTER))
                .await
                .map_err(|_| SectionRead::Gone("header unreadable".into()))?;
            let (names, not) = match &section.text {
                Some(SectionText::HeaderFieldsNot(n)) => (n.as_slice(), true),
                Some(SectionText::HeaderFields(n)) => (n.as_slice(), false),
                _ => (&[][..], true),
            };
            Content::Bytes(filter_headers(&raw, names, not))
        }
        Some((a, b, false)) => Content::Range(a, b),
        None => return Err(SectionRead::Missing),
    };
    let content = content.partial(partial.map(|(s, l)| (s, l.unwrap_or(u64::MAX))));
    if content.len() > limit {
        return Err(SectionRead::TooBig);
    }
    match content {
        Content::Bytes(v) => Ok(v),
        Content::Range(a, b) => service
            .content_reader(body, a, b)
            .read_all()
            .await
            .map_err(|e| SectionRead::Gone(e.to_string())),
    }
}

impl Session {
    pub(crate) async fn cmd_fetch(
        &mut self,
        uid_mode: bool,
        set: SequenceSet,
        mut items: Vec<FetchAtt>,
        modifiers: FetchModifiers,
    ) -> io::Result<Reply> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let Ok(mut uids) = sel.resolve(&set, uid_mode) else {
            return Ok(Reply::bad("Invalid message sequence number"));
        };
        if let Some(range) = modifiers.partial {
            uids = uids[crate::search::partial_slice(range, uids.len())].to_vec();
        }
        let (mailbox, readonly) = (sel.id, sel.readonly);
        if uid_mode && !items.contains(&FetchAtt::Uid) {
            items.insert(0, FetchAtt::Uid);
        }
        if modifiers.changed_since.is_some() && !items.contains(&FetchAtt::ModSeq) {
            items.push(FetchAtt::ModSeq);
        }
        if items.contains(&FetchAtt::ModSeq) {
            self.enable_condstore();
        }
        let user = self.user_id();
        let service = self.service().clone();
        if modifiers.vanished {
            if let Some(since) = modifiers.changed_since {
                self.report_vanished_earlier(&set, since).await?;
            }
        }
        let want = FetchWant {
            imap: items.iter().any(needs_imap),
            body: items.iter().any(needs_body),
        };
        let mark_seen = !readonly && items.iter().any(sets_seen);
        let want_flags = items.contains(&FetchAtt::Flags);
        let chunk_size = if want.body { CHUNK_BODY } else { CHUNK_META };
        for chunk in uids.chunks(chunk_size) {
            let chunk_set = UidSet::from_uids(chunk.iter().copied());
            let mut messages = match service
                .fetch_messages(user, mailbox, &chunk_set, want)
                .await
            {
                Ok(m) => m,
                Err(e) => return Ok(service_error(&e)),
            };
            let mut seen_now: HashSet<u32> = HashSet::new();
            if mark_seen {
                let unseen: Vec<u32> = messages
                    .iter()
                    .filter(|m| !m.meta.seen())
                    .map(|m| m.meta.uid)
                    .collect();
                if !unseen.is_empty() {
                    match service
                        .update_flags(
                            user,
                            mailbox,
                            &UidSet::from_uids(unseen),
                            FlagOp::Add,
                            &["\\Seen".to_string()],
                            None,
                        )
                        .await
                    {
                        Ok(changed) => {
                            for (uid, flags, modseq) in changed.changed {
                                if let Some(sel) = self.selected.as_mut() {
                                    sel.reported.insert(uid, modseq);
                                }
                                if let Some(m) = messages.iter_mut().find(|m| m.meta.uid == uid) {
                                    m.meta.flags = flags;
                                    m.meta.modseq = modseq;
                                }
                                seen_now.insert(uid);
                            }
                        }
                        Err(e) => return Ok(service_error(&e)),
                    }
                }
            }
            if let Some(since) = modifiers.changed_since {
                messages.retain(|m| m.meta.modseq > since);
            }
            let mut result = Ok(());
            for msg in &messages {
                let add_flags = seen_now.contains(&msg.meta.uid) && !want_flags;
                result = self.write_fetch(&service, msg, &items, add_flags).await;
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => {}
                Err(Abort::Io(e)) => return Err(e),
                Err(Abort::Reply(r)) => return Ok(r),
                Err(Abort::Gone(e)) => return Err(io::Error::other(e)),
            }
        }
        Ok(Reply::ok("FETCH completed"))
    }

    /// UID FETCH ... (CHANGEDSINCE n VANISHED): UIDs of the set expunged since n.
    async fn report_vanished_earlier(&mut self, set: &SequenceSet, since: u64) -> io::Result<()> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let ranges = set.ranges(Some(sel.uids.last().copied().unwrap_or(u32::MAX)));
        let entries = match self
            .service()
            .journal_since(self.user_id(), sel.id, since)
            .await
        {
            Ok(entries) => entries,
            // The journal no longer reaches `since`: every UID of the set that does
            // not exist is reported (RFC 7162 allows UIDs the client never saw).
            Err(eider_service::Error::JournalPruned) => {
                let gone = absent_ranges(&ranges, &sel.uids);
                if !gone.is_empty() {
                    let l = format!("VANISHED (EARLIER) {}", format_ranges(&gone));
                    self.untagged(&l);
                }
                return Ok(());
            }
            Err(_) => return Ok(()),
        };
        let in_set = |uid: u32| ranges_contain(&ranges, uid);
        let mut gone: Vec<u32> = entries
            .into_iter()
            .filter(|e| e.kind == JournalKind::Expunge)
            .filter_map(|e| e.uid)
            .filter(|&u| in_set(u) && sel.uids.binary_search(&u).is_err())
            .collect();
        gone.sort_unstable();
        gone.dedup();
        if !gone.is_empty() {
            let l = format!("VANISHED (EARLIER) {}", compress_set(&gone));
            self.untagged(&l);
        }
        Ok(())
    }

    /// Write one `* n FETCH (...)` response. A message that cannot be read is
    /// left out (its EXPUNGE follows) unless part of its answer was already sent.
    async fn write_fetch(
        &mut self,
        service: &Service,
        msg: &FetchedMessage,
        items: &[FetchAtt],
        add_flags: bool,
    ) -> Result<(), Abort> {
        let meta = &msg.meta;
        // Announced before the mark: FLAGS must reach the client even if this
        // message's answer is dropped.
        self.note_keywords(&meta.flags);
        let mark = self.conn.mark();
        match self.write_fetch_inner(service, msg, items, add_flags).await {
            Err(Abort::Gone(e)) => {
                if self.conn.rollback(mark) {
                    tracing::debug!(uid = meta.uid, "message unreadable, left out of FETCH: {e}");
                    Ok(())
                } else {
                    tracing::warn!(uid = meta.uid, "message read failed mid-answer: {e}");
                    Err(Abort::Io(io::Error::other("message read failed")))
                }
            }
            Err(Abort::Reply(r)) => {
                self.conn.rollback(mark);
                Err(Abort::Reply(r))
            }
            other => other,
        }
    }

    async fn write_fetch_inner(
        &mut self,
        service: &Service,
        msg: &FetchedMessage,
        items: &[FetchAtt],
        add_flags: bool,
    ) -> Result<(), Abort> {
        let meta: &MessageMeta = &msg.meta;
        let imap = msg.imap.as_ref();
        let body = msg.body.as_ref();
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let Some(seq) = sel.seq_of(meta.uid) else {
            return Ok(());
        };
        let recent = sel.recent.contains(&meta.uid);
        self.conn.write(format!("* {seq} FETCH (").as_bytes());
        let mut first = true;
        let mut sep = |conn: &mut crate::transport::Connection| {
            if !first {
                conn.write(b" ");
            }
            first = false;
        };
        for item in items {
            sep(&mut self.conn);
            match item {
                FetchAtt::Uid => self.conn.write(format!("UID {}", meta.uid).as_bytes()),
                FetchAtt::Flags => self
                    .conn
                    .write(format!("FLAGS {}", flag_list(&meta.flags, recent)).as_bytes()),
                FetchAtt::InternalDate => self.conn.write(
                    format!("INTERNALDATE {}", internal_date(&meta.internal_date)).as_bytes(),
                ),
                FetchAtt::Rfc822Size => self
                    .conn
                    .write(format!("RFC822.SIZE {}", meta.size).as_bytes()),
                FetchAtt::ModSeq => self
                    .conn
                    .write(format!("MODSEQ ({})", meta.modseq).as_bytes()),
                FetchAtt::SaveDate => self.conn.write(
                    format!(
                        "SAVEDATE {}",
                        internal_date(&eider_service::model::saved_date(meta))
                    )
                    .as_bytes(),
                ),
                FetchAtt::EmailId => self.conn.write(
                    format!("EMAILID ({})", crate::object_id::render_email(meta.content))
                        .as_bytes(),
                ),
                FetchAtt::ThreadId => self.conn.write(
                    format!(
                        "THREADID ({})",
                        crate::object_id::render_thread(meta.thread)
                    )
                    .as_bytes(),
                ),
                FetchAtt::Envelope => {
                    if let Some(i) = imap {
                        self.conn.write(b"ENVELOPE ");
                        self.conn.write(i.envelope.as_bytes());
                    }
                }
                FetchAtt::Body => {
                    if let Some(i) = imap {
                        self.conn.write(b"BODY ");
                        self.conn.write(i.body.as_bytes());
                    }
                }
                FetchAtt::BodyStructure => {
                    if let Some(i) = imap {
                        self.conn.write(b"BODYSTRUCTURE ");
                        self.conn.write(i.body_structure.as_bytes());
                    }
                }
                FetchAtt::Rfc822 | FetchAtt::Rfc822Header | FetchAtt::Rfc822Text => {
                    let Some(m) = body else { continue };
                    let (name, text) = match item {
                        FetchAtt::Rfc822 => ("RFC822", None),
                        FetchAtt::Rfc822Header => ("RFC822.HEADER", Some(SectionText::Header)),
                        _ => ("RFC822.TEXT", Some(SectionText::Text)),
                    };
                    let section = Section {
                        part: Vec::new(),
                        text,
                    };
                    let content = match section_range(m, meta.size, &section) {
                        Some((a, b, _)) => Content::Range(a, b),
                        None => Content::Bytes(Vec::new()),
                    };
                    self.conn.write(name.as_bytes());
                    self.conn.write(b" ");
                    self.write_content(service, m, content, false).await?;
                }
                FetchAtt::BodySection {
                    section, partial, ..
                } => {
                    let Some(m) = body else { continue };
                    let content = match section_range(m, meta.size, section) {
                        Some((a, b, true)) => {
                            let raw =
                                read_range(service, m, a, b.min(a + MAX_HEADER_FILTER)).await?;
                            let (names, not) = match &section.text {
                                Some(SectionText::HeaderFieldsNot(n)) => (n.as_slice(), true),
                                Some(SectionText::HeaderFields(n)) => (n.as_slice(), false),
                                _ => (&[][..], true),
                            };
                            Content::Bytes(filter_headers(&raw, names, not))
                        }
                        Some((a, b, false)) => Content::Range(a, b),
                        None => Content::Bytes(Vec::new()),
                    };
                    let mut name = format!("BODY[{}]", section.render());
                    if let Some((start, _)) = partial {
                        name.push_str(&format!("<{start}>"));
                    }
                    self.conn.write(name.as_bytes());
                    self.conn.write(b" ");
                    self.write_content(service, m, content.partial(*partial), false)
                        .await?;
                }
                FetchAtt::Binary { part, partial, .. } => {
                    let Some(m) = body else { continue };
                    let decoded = self.binary_content(service, m, meta.size, part).await?;
                    let mut name = format!(
                        "BINARY[{}]",
                        part.iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(".")
                    );
                    if let Some((start, _)) = partial {
                        name.push_str(&format!("<{start}>"));
                    }
                    self.conn.write(name.as_bytes());
                    self.conn.write(b" ");
                    self.write_content(service, m, decoded.partial(*partial), true)
                        .await?;
                }
                FetchAtt::BinarySize(part) => {
                    let Some(m) = body else { continue };
                    let decoded = self.binary_content(service, m, meta.size, part).await?;
                    self.conn.write(
                        format!(
                            "BINARY.SIZE[{}] {}",
                            part.iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join("."),
                            decoded.len()
                        )
                        .as_bytes(),
                    );
                }
            }
        }
        if add_flags {
            sep(&mut self.conn);
            self.conn
                .write(format!("FLAGS {}", flag_list(&meta.flags, recent)).as_bytes());
        }
        self.conn.write(b")\r\n");
        self.conn.maybe_flush().await?;
        Ok(())
    }

    /// The decoded content of a part for BINARY (RFC 3516).
    async fn binary_content(
        &mut self,
        service: &Service,
        msg: &MessageBody,
        size: u64,
        part: &[u32],
    ) -> Result<Content, Abort> {
        if part.is_empty() {
            return Ok(Content::Range(0, size));
        }
        let Some(p) = msg.root.section(part) else {
            return Ok(Content::Bytes(Vec::new()));
        };
        let encoding = p.encoding.to_ascii_uppercase();
        match encoding.as_str() {
            "7BIT" | "8BIT" | "BINARY" | "" => Ok(Content::Range(p.body_start, p.body_end)),
            "BASE64" | "QUOTED-PRINTABLE" => {
                let raw = read_range(service, msg, p.body_start, p.body_end).await?;
                Ok(Content::Bytes(eider_service::message::decode_transfer(
                    &encoding, &raw,
                )))
            }
            _ => Err(Abort::Reply(
                Reply::no("Unknown Content-Transfer-Encoding").with_code("UNKNOWN-CTE"),
            )),
        }
    }

    /// Write a literal, streaming ranges from the store in chunks.
    async fn write_content(
        &mut self,
        service: &Service,
        msg: &MessageBody,
        content: Content,
        binary: bool,
    ) -> Result<(), Abort> {
        match content {
            Content::Bytes(v) => {
                let prefix = if binary && v.contains(&0) { "~" } else { "" };
                self.conn
                    .write(format!("{prefix}{{{}}}\r\n", v.len()).as_bytes());
                self.conn.write(&v);
                Ok(())
            }
            Content::Range(a, b) => {
                let mut reader = service.content_reader(msg, a, b);
                let len = reader.len();
                let prefix = if binary { "~" } else { "" };
                self.conn.write(format!("{prefix}{{{len}}}\r\n").as_bytes());
                let mut sent = 0u64;
                loop {
                    match reader.next_chunk().await {
                        Ok(Some(chunk)) => {
                            let take = (len - sent).min(chunk.len() as u64) as usize;
                            self.conn.write_large(&chunk[..take]).await?;
                            sent += take as u64;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // Rolled back by the caller when nothing was sent yet;
                            // otherwise the literal's length is promised and the
                            // stream cannot recover.
                            return Err(Abort::Gone(e.to_string()));
                        }
                    }
                }
                if sent < len {
                    return Err(Abort::Gone("message shorter than its layout".into()));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_filtering() {
        let raw = b"From: a@b\r\nSubject: hi\r\n there\r\nTo: c@d\r\n\r\n";
        assert_eq!(
            filter_headers(raw, &["SUBJECT".into()], false),
            b"Subject: hi\r\n there\r\n\r\n".to_vec()
        );
        assert_eq!(
            filter_headers(raw, &["SUBJECT".into()], true),
            b"From: a@b\r\nTo: c@d\r\n\r\n".to_vec()
        );
        assert_eq!(filter_headers(b"", &["X".into()], false), b"\r\n".to_vec());
        assert_eq!(
            filter_headers(b"X-A: 1\nX-B: 2\n\n", &["X-B".into()], false),
            b"X-B: 2\n\r\n".to_vec()
        );
    }
}
