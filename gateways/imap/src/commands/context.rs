//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4): a SEARCH or SORT with
//! RETURN (UPDATE) stays live. After each command (and in IDLE) the session runs
//! its program again and reports the difference as `ESEARCH ... ADDTO` /
//! `REMOVEFROM`; expunged messages leave before their EXPUNGE is sent, since the
//! answer names them by sequence number. CANCELUPDATE ends a context.

use std::collections::HashSet;
use std::io;

use eider_service::model::{SearchKey, SearchQuery};
use eider_service::SortCriterion;

use crate::response::{compress_set, Reply};
use crate::search::tag_and_uid;
use crate::session::Session;

/// Live searches one session may keep; past it RFC 5267 4.3.1's NOUPDATE refuses.
const MAX_CONTEXTS: usize = 16;

/// One live SEARCH or SORT.
pub(crate) struct SearchContext {
    tag: String,
    uid_mode: bool,
    key: SearchKey,
    /// Some for SORT: the result is kept in this order.
    program: Option<Vec<SortCriterion>>,
    /// UIDs of the current result (ascending for SEARCH, sorted for SORT).
    result: Vec<u32>,
}

impl Session {
    pub(crate) fn add_context(
        &mut self,
        tag: &str,
        uid_mode: bool,
        key: SearchKey,
        program: Option<Vec<SortCriterion>>,
        result: Vec<u32>,
    ) {
        if self.contexts.len() >= MAX_CONTEXTS {
            let mut t = Vec::new();
            crate::response::write_string(&mut t, tag.as_bytes(), false);
            let line = format!(
                "NO [NOUPDATE {}] Too many live searches",
                String::from_utf8_lossy(&t)
            );
            self.untagged(&line);
            return;
        }
        self.contexts.retain(|c| c.tag != tag);
        self.contexts.push(SearchContext {
            tag: tag.to_string(),
            uid_mode,
            key,
            program,
            result,
        });
    }

    pub(crate) fn cmd_cancel_update(&mut self, tags: Vec<String>) -> Reply {
        self.contexts.retain(|c| !tags.contains(&c.tag));
        Reply::ok("CANCELUPDATE completed")
    }

    /// The number a context names a message by, if the client knows it.
    fn context_num(&self, uid_mode: bool, uid: u32) -> Option<u32> {
        let sel = self.selected.as_ref()?;
        let seq = sel.seq_of(uid)?;
        Some(if uid_mode { uid } else { seq })
    }

    /// Messages about to be reported expunged leave every context first.
    pub(crate) fn context_expunged(&mut self, uids: &[u32]) {
        if self.contexts.is_empty() {
            return;
        }
        let gone: HashSet<u32> = uids.iter().copied().collect();
        let mut lines = Vec::new();
        for i in 0..self.contexts.len() {
            let c = &self.contexts[i];
            let mut pairs: Vec<(usize, u32)> = Vec::new();
            for (pos, &uid) in c.result.iter().enumerate() {
                if gone.contains(&uid) {
                    if let Some(n) = self.context_num(c.uid_mode, uid) {
                        pairs.push((pos + 1, n));
                    }
                }
            }
            if !pairs.is_empty() {
                lines.push(change_line(c, "REMOVEFROM", &pairs));
            }
            self.contexts[i].result.retain(|u| !gone.contains(u));
        }
        for l in lines {
            self.untagged(&l);
        }
    }

    /// Run every live context again and report what joined or left it.
    pub(crate) async fn update_contexts(&mut self) -> io::Result<()> {
        if self.contexts.is_empty() {
            return Ok(());
        }
        let Some(sel) = self.selected.as_ref() else {
            self.contexts.clear();
            return Ok(());
        };
        let (user, mailbox) = (self.user_id(), sel.id);
        for i in 0..self.contexts.len() {
            let query = SearchQuery {
                user,
                mailbox: Some(mailbox),
                key: self.contexts[i].key.clone(),
            };
            let Ok(found) = self.service().search(&query).await else {
                continue;
            };
            let Some(sel) = self.selected.as_ref() else {
                return Ok(());
            };
            let mut now: Vec<u32> = found
                .iter()
                .map(|m| m.uid)
                .filter(|u| sel.seq_of(*u).is_some() && !sel.pending_expunge.contains(u))
                .collect();
            now.sort_unstable();
            if let Some(program) = self.contexts[i].program.clone() {
                match self
                    .service()
                    .sort_messages(user, mailbox, &now, &program)
                    .await
                {
                    Ok(sorted) => now = sorted,
                    Err(_) => continue,
                }
            }
            let c = &self.contexts[i];
            if now == c.result {
                continue;
            }
            let old: HashSet<u32> = c.result.iter().copied().collect();
            let new: HashSet<u32> = now.iter().copied().collect();
            let removed: Vec<(usize, u32)> = c
                .result
                .iter()
                .enumerate()
                .filter(|(_, u)| !new.contains(u))
                .filter_map(|(p, &u)| Some((p + 1, self.context_num(c.uid_mode, u)?)))
                .collect();
            let added: Vec<(usize, u32)> = now
                .iter()
                .enumerate()
                .filter(|(_, u)| !old.contains(u))
                .filter_map(|(p, &u)| Some((p + 1, self.context_num(c.uid_mode, u)?)))
                .collect();
            let mut lines = Vec::new();
            if !removed.is_empty() {
                lines.push(change_line(c, "REMOVEFROM", &removed));
            }
            if !added.is_empty() {
                lines.push(change_line(c, "ADDTO", &added));
            }
            self.contexts[i].result = now;
            for l in lines {
                self.untagged(&l);
            }
            self.conn.maybe_flush().await?;
        }
        Ok(())
    }
}

/// `ESEARCH (TAG "t") [UID] ADDTO (pos set ...)`: a SEARCH context names one set
/// at position 0 (its result has no order); a SORT context gives each message's
/// 1-based position in the sorted result.
fn change_line(c: &SearchContext, what: &str, pairs: &[(usize, u32)]) -> String {
    let mut line = String::from("ESEARCH");
    tag_and_uid(&mut line, &c.tag, c.uid_mode);
    line.push_str(&format!(" {what} ("));
    if c.program.is_none() {
        let mut nums: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        nums.sort_unstable();
        line.push_str(&format!("0 {}", compress_set(&nums)));
    } else {
        let parts: Vec<String> = pairs.iter().map(|(p, n)| format!("{p} {n}")).collect();
        line.push_str(&parts.join(" "));
    }
    line.push(')');
    line
}
