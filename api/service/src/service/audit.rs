//! Message audits (POST /audit, GET /audit/{audit}, GET /audit/{audit}/export.mbox):
//! every message of a user whose received date (WildDuck's `idate`) falls in the
//! audit's window, across all its mailboxes as they are at export time, so mail
//! delivered after the audit was created is included while the audit lives.
//! WildDuck also exports messages deleted after the audit started, from its
//! archive; Eider has no archive, so deleted messages are gone from the export.

use std::collections::VecDeque;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

use super::{BodyReader, Service};
use crate::model::{DateField, MessageMeta, SearchKey, SearchQuery};
use crate::{Audit, Error, ObjectId, Result};

impl Service {
    /// Create an audit of `user`'s messages received in `start..=end` (open bounds
    /// when None), living until `expires` (which must be in the future).
    pub async fn create_audit(
        &self,
        user: ObjectId,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        expires: DateTime<Utc>,
    ) -> Result<Audit> {
        let now = Utc::now();
        if expires <= now {
            return Err(Error::Validation(
                "\"expires\" must be greater than \"now\"".into(),
            ));
        }
        self.get_user(user).await?;
        let audit = Audit {
            id: ObjectId::new(),
            user,
            start,
            end,
            expires,
            created: now,
        };
        self.store().create_audit(&audit).await?;
        Ok(audit)
    }

    /// A live audit; an unknown or expired one is AuditNotFound (WildDuck deletes
    /// expired audits).
    pub async fn get_audit(&self, id: ObjectId) -> Result<Audit> {
        match self.store().get_audit(id).await? {
            Some(a) if a.expires > Utc::now() => Ok(a),
            _ => Err(Error::AuditNotFound),
        }
    }

    /// The audited messages as an mboxrd stream, oldest received first. Only the
    /// message list is held; bodies are streamed one chunk at a time.
    pub async fn audit_export(&self, id: ObjectId) -> Result<AuditExport> {
        let audit = self.get_audit(id).await?;
        let mut keys = Vec::new();
        if let Some(start) = audit.start {
            keys.push(SearchKey::Since(DateField::Internal, start));
        }
        // The window's end is inclusive; stores keep milliseconds. An end at the
        // very last representable instant is no bound at all.
        if let Some(end) = audit
            .end
            .and_then(|e| e.checked_add_signed(Duration::milliseconds(1)))
        {
            keys.push(SearchKey::Before(DateField::Internal, end));
        }
        let key = if keys.is_empty() {
            SearchKey::All
        } else {
            SearchKey::And(keys)
        };
        let mut metas = self
            .store()
            .search(&SearchQuery {
                user: audit.user,
                mailbox: None,
                key,
            })
            .await?;
        metas.sort_by(|a, b| {
            (a.internal_date, a.id.to_hex()).cmp(&(b.internal_date, b.id.to_hex()))
        });
        Ok(AuditExport {
            service: self.clone(),
            pending: metas.into(),
            current: None,
            quoter: FromQuoter::default(),
            last: b'\n',
        })
    }
}

/// An mboxrd file of audited messages, produced chunk by chunk.
pub struct AuditExport {
    service: Service,
    pending: VecDeque<MessageMeta>,
    current: Option<BodyReader>,
    quoter: FromQuoter,
    /// Last raw byte of the current message (to end it with a newline).
    last: u8,
}

impl AuditExport {
    /// How many messages are still to come.
    pub fn remaining(&self) -> usize {
        self.pending.len() + usize::from(self.current.is_some())
    }

    /// The next piece of the file; None at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(reader) = self.current.as_mut() {
                match reader.next_chunk().await? {
                    Some(chunk) => {
                        if let Some(&b) = chunk.last() {
                            self.last = b;
                        }
                        let mut out = Vec::with_capacity(chunk.len() + 16);
                        self.quoter.push(&chunk, &mut out);
                        if !out.is_empty() {
                            return Ok(Some(out.into()));
                        }
                    }
                    None => {
                        let mut out = Vec::new();
                        self.quoter.finish(&mut out);
                        if self.last != b'\n' {
                            out.push(b'\n');
                        }
                        // The empty line that ends a message in an mbox.
                        out.push(b'\n');
                        self.current = None;
                        return Ok(Some(out.into()));
                    }
                }
                continue;
            }
            let Some(meta) = self.pending.pop_front() else {
                return Ok(None);
            };
            // Expunged since the listing: nothing to export.
            let Some(m) = self
                .service
                .store()
                .get_message(meta.mailbox, meta.uid)
                .await?
            else {
                continue;
            };
            self.current = Some(self.service.body_reader(&m, 0, m.meta.size));
            self.quoter = FromQuoter::default();
            self.last = b'\n';
            // Eider keeps no envelope sender with a message: mbox's placeholder.
            let from = format!(
                "From MAILER-DAEMON {}\n",
                m.meta.internal_date.format("%a %b %e %H:%M:%S %Y")
            );
            return Ok(Some(Bytes::from(from)));
        }
    }
}

const FROM: &[u8] = b"From ";

/// mboxrd quoting, streamed: a line matching `^>*From ` gets one more `>`, so a
/// reader strips one `>` from such lines and has the original bytes back. Holds
/// only a count of `>` and how much of "From " matched while a line's start is
/// undecided, whatever the chunking.
#[derive(Debug)]
pub(crate) struct FromQuoter {
    at_start: bool,
    quotes: u64,
    matched: usize,
}

impl Default for FromQuoter {
    fn default() -> Self {
        FromQuoter {
            at_start: true,
            quotes: 0,
            matched: 0,
        }
    }
}

impl FromQuoter {
    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while !data.is_empty() {
            if !self.at_start {
                // Copy through the end of the line in one go.
                match data.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        out.extend_from_slice(&data[..=i]);
                        data = &data[i + 1..];
                        self.at_start = true;
                    }
                    None => {
                        out.extend_from_slice(data);
                        return;
                    }
                }
                continue;
            }
            let b = data[0];
            data = &data[1..];
            if self.matched == 0 && b == b'>' {
                self.quotes += 1;
            } else if b == FROM[self.matched] {
                self.matched += 1;
                if self.matched == FROM.len() {
                    out.push(b'>');
                    self.flush(out);
                    self.at_start = false;
                }
            } else {
                self.flush(out);
                out.push(b);
                self.at_start = b == b'\n';
            }
        }
    }

    /// End of the message: write out an undecided line start as it was.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
        self.at_start = true;
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend(std::iter::repeat_n(b'>', self.quotes as usize));
        out.extend_from_slice(&FROM[..self.matched]);
        self.quotes = 0;
        self.matched = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::FromQuoter;

    fn quote(chunks: &[&[u8]]) -> Vec<u8> {
        let mut q = FromQuoter::default();
        let mut out = Vec::new();
        for c in chunks {
            q.push(c, &mut out);
        }
        q.finish(&mut out);
        out
    }

    #[test]
    fn quotes_from_lines_whatever_the_chunking() {
        let raw: &[u8] =
            b"From x\r\nA: b\r\n\r\nFrom me\r\n>From you\r\n>>From\r\nFro\r\n>x From \r\n>From ";
        let want: &[u8] =
            b">From x\r\nA: b\r\n\r\n>From me\r\n>>From you\r\n>>From\r\nFro\r\n>x From \r\n>>From ";
        assert_eq!(quote(&[raw]), want);
        for cut in 0..raw.len() {
            let (a, b) = raw.split_at(cut);
            assert_eq!(quote(&[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = raw.chunks(1).collect();
        assert_eq!(quote(&bytes), want);
        assert_eq!(quote(&[b">>"]), b">>");
    }
}
