//! GETMETADATA and SETMETADATA (RFC 5464): names and values parsed here, the
//! rules (names, limits, depth) in the service.

use eider_service::{
    metadata_entry_name, metadata_name, MetadataDepth, MetadataRefused, ObjectId, METADATA_MAX_SIZE,
};

use crate::parser::MetadataDepthArg;
use crate::response::{sanitize, service_error, write_string, Reply};
use crate::session::Session;

impl Session {
    /// The mailbox a METADATA command names: None for "" (the server's entries).
    async fn metadata_target(&self, raw: &[u8]) -> Result<Option<ObjectId>, Reply> {
        if raw.is_empty() {
            return Ok(None);
        }
        self.lookup_mailbox(raw).await.map(|m| Some(m.id))
    }

    pub(crate) async fn cmd_getmetadata(
        &mut self,
        raw: Vec<u8>,
        maxsize: Option<u64>,
        depth: MetadataDepthArg,
        entries: Vec<String>,
    ) -> Reply {
        let mut names = Vec::with_capacity(entries.len());
        for e in &entries {
            match metadata_name(e) {
                Ok(n) => names.push(n),
                Err(err) => return Reply::bad(sanitize(&err.to_string())),
            }
        }
        let mailbox = match self.metadata_target(&raw).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        let depth = match depth {
            MetadataDepthArg::Zero => MetadataDepth::Zero,
            MetadataDepthArg::One => MetadataDepth::One,
            MetadataDepthArg::Infinity => MetadataDepth::Infinity,
        };
        let found = match self
            .service()
            .get_metadata(self.user_id(), mailbox, &names, depth)
            .await
        {
            Ok(f) => f,
            Err(e) => return service_error(&e),
        };
        // Values over MAXSIZE are left out; the longest of them is reported.
        let mut longest: Option<u64> = None;
        let mut body: Vec<u8> = Vec::new();
        let mut count = 0usize;
        for e in &found {
            let len = e.value.len() as u64;
            if maxsize.is_some_and(|m| len > m) {
                longest = Some(longest.unwrap_or(0).max(len));
                continue;
            }
            if count > 0 {
                body.push(b' ');
            }
            count += 1;
            body.extend_from_slice(e.name.as_bytes());
            body.push(b' ');
            if e.value.contains(&0) {
                body.extend_from_slice(format!("~{{{}}}\r\n", e.value.len()).as_bytes());
                body.extend_from_slice(&e.value);
            } else {
                write_string(&mut body, &e.value, self.utf8);
            }
        }
        // Requested entries that do not exist are answered with NIL.
        for n in &names {
            if !found.iter().any(|e| e.name == *n) {
                if count > 0 {
                    body.push(b' ');
                }
                count += 1;
                body.extend_from_slice(n.as_bytes());
                body.extend_from_slice(b" NIL");
            }
        }
        let mut line = b"* METADATA ".to_vec();
        match mailbox {
            None => line.extend_from_slice(b"\"\""),
            Some(_) => write_string(&mut line, &raw, self.utf8),
        }
        line.extend_from_slice(b" (");
        line.extend_from_slice(&body);
        line.extend_from_slice(b")\r\n");
        self.conn.out().extend_from_slice(&line);
        let reply = Reply::ok("GETMETADATA completed");
        match longest {
            Some(n) => reply.with_code(format!("METADATA LONGENTRIES {n}")),
            None => reply,
        }
    }

    pub(crate) async fn cmd_setmetadata(
        &mut self,
        raw: Vec<u8>,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Reply {
        let mut changes = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            match metadata_entry_name(&name) {
                Ok(n) => changes.push((n, value)),
                Err(err) => return Reply::bad(sanitize(&err.to_string())),
            }
        }
        let mailbox = match self.metadata_target(&raw).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        match self
            .service()
            .set_metadata(self.user_id(), mailbox, changes)
            .await
        {
            Ok(Ok(())) => Reply::ok("SETMETADATA completed"),
            Ok(Err(MetadataRefused::TooLarge)) => Reply::no("Value too long")
                .with_code(format!("METADATA MAXSIZE {METADATA_MAX_SIZE}")),
            Ok(Err(MetadataRefused::TooMany)) => {
                Reply::no("Too many entries").with_code("METADATA TOOMANY")
            }
            Err(e) => service_error(&e),
        }
    }
}
