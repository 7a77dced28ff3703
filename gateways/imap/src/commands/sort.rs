//! SORT and UID SORT (RFC 5256, RFC 5957 keys, RFC 5267 ESORT/CONTEXT=SORT) and
//! THREAD / UID THREAD (RFC 5256). The ordering and threading rules live in the
//! service (`Service::sort_messages`, `Service::thread_messages`); this renders.

use std::io;

use eider_service::{SortCriterion, ThreadAlgorithm, ThreadNode};

use crate::parser::{SearchKey as Key, SearchReturn};
use crate::response::{service_error, Reply};
use crate::search::esearch_line;
use crate::session::Session;

/// A thread as RFC 5256 writes it inside its parentheses: a message followed by its
/// only child inline, or by each of several children in parentheses; a dummy
/// (no message) shows only its children.
fn render_thread(n: &ThreadNode, num: &dyn Fn(u32) -> Option<u32>, out: &mut String) {
    let mut wrote = false;
    if let Some(n) = n.uid.and_then(num) {
        out.push_str(&n.to_string());
        wrote = true;
    }
    match n.children.len() {
        0 => {}
        1 => {
            if wrote {
                out.push(' ');
            }
            render_thread(&n.children[0], num, out);
        }
        _ => {
            if wrote {
                out.push(' ');
            }
            for c in &n.children {
                out.push('(');
                render_thread(c, num, out);
                out.push(')');
            }
        }
    }
}

impl Session {
    pub(crate) async fn cmd_sort(
        &mut self,
        tag: &str,
        uid_mode: bool,
        ret: Option<SearchReturn>,
        program: Vec<SortCriterion>,
        charset: String,
        criteria: Key,
    ) -> io::Result<Reply> {
        let m = match self.run_search(uid_mode, Some(&charset), &criteria).await? {
            Ok(m) => m,
            Err(reply) => {
                if ret.is_some_and(|r| r.save) {
                    self.save_result(None);
                }
                return Ok(reply);
            }
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let mailbox = sel.id;
        let uids: Vec<u32> = m.hits.iter().map(|h| h.1).collect();
        let sorted = match self
            .service()
            .sort_messages(self.user_id(), mailbox, &uids, &program)
            .await
        {
            Ok(s) => s,
            Err(e) => return Ok(service_error(&e)),
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        // Number each message as the client knows it (sequence number or UID).
        let modseq_of: std::collections::HashMap<u32, u64> =
            m.hits.iter().map(|h| (h.1, h.2)).collect();
        let mut nums = Vec::with_capacity(sorted.len());
        let mut modseqs = Vec::with_capacity(sorted.len());
        for &uid in &sorted {
            let n = if uid_mode { Some(uid) } else { sel.seq_of(uid) };
            if let Some(n) = n {
                nums.push(n);
                modseqs.push(modseq_of.get(&uid).copied().unwrap_or(0));
            }
        }
        match ret {
            None => {
                let mut line = String::from("SORT");
                for n in &nums {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let (true, Some(h)) = (m.uses_modseq, modseqs.iter().max()) {
                    line.push_str(&format!(" (MODSEQ {h})"));
                }
                self.untagged(&line);
            }
            Some(r) => {
                if r.save {
                    self.save_result(Some(uids.clone()));
                }
                if r.answers() {
                    let line =
                        esearch_line(tag, uid_mode, &r, &nums, &modseqs, m.uses_modseq, true);
                    self.untagged(&line);
                }
                if r.update {
                    self.add_context(tag, uid_mode, m.key, Some(program), sorted);
                }
            }
        }
        self.conn.maybe_flush().await?;
        let reply = Reply::ok("SORT completed");
        Ok(if m.expunge_issued {
            reply.with_code("EXPUNGEISSUED")
        } else {
            reply
        })
    }

    pub(crate) async fn cmd_thread(
        &mut self,
        uid_mode: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        criteria: Key,
    ) -> io::Result<Reply> {
        let m = match self.run_search(uid_mode, Some(&charset), &criteria).await? {
            Ok(m) => m,
            Err(reply) => return Ok(reply),
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let mailbox = sel.id;
        let uids: Vec<u32> = m.hits.iter().map(|h| h.1).collect();
        let threads = match self
            .service()
            .thread_messages(self.user_id(), mailbox, &uids, algorithm)
            .await
        {
            Ok(t) => t,
            Err(e) => return Ok(service_error(&e)),
        };
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let num = |uid: u32| if uid_mode { Some(uid) } else { sel.seq_of(uid) };
        let mut line = String::from("THREAD ");
        for t in &threads {
            line.push('(');
            render_thread(t, &num, &mut line);
            line.push(')');
        }
        self.untagged(line.trim_end());
        self.conn.maybe_flush().await?;
        let reply = Reply::ok("THREAD completed");
        Ok(if m.expunge_issued {
            reply.with_code("EXPUNGEISSUED")
        } else {
            reply
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages numbered by their UIDs.
    fn same(uid: u32) -> Option<u32> {
        Some(uid)
    }

    fn leaf(uid: u32) -> ThreadNode {
        ThreadNode {
            uid: Some(uid),
            children: Vec::new(),
        }
    }

    #[test]
    fn renders_rfc5256_example_shape() {
        // RFC 5256 section 4: (3 6 (4 23)(44 7 96))
        let t = ThreadNode {
            uid: Some(3),
            children: vec![ThreadNode {
                uid: Some(6),
                children: vec![
                    ThreadNode {
                        uid: Some(4),
                        children: vec![leaf(23)],
                    },
                    ThreadNode {
                        uid: Some(44),
                        children: vec![ThreadNode {
                            uid: Some(7),
                            children: vec![leaf(96)],
                        }],
                    },
                ],
            }],
        };
        let mut s = String::new();
        render_thread(&t, &same, &mut s);
        assert_eq!(s, "3 6 (4 23)(44 7 96)");
        let dummy = ThreadNode {
            uid: None,
            children: vec![leaf(2), leaf(3)],
        };
        let mut s = String::new();
        render_thread(&dummy, &same, &mut s);
        assert_eq!(s, "(2)(3)");
    }
}
