//! Message commands: STORE, COPY/MOVE, EXPUNGE (UID EXPUNGE), CLOSE/UNSELECT.

use std::io;

use eider_service::model::{FlagOp, SortOrder, UidSet};

use crate::parser::{SequenceSet, StoreOp};
use crate::response::{compress_set, flag_list, service_error, Reply};
use crate::session::Session;

fn bad_sequence() -> Reply {
    Reply::bad("Invalid message sequence number")
}

impl Session {
    pub(crate) async fn cmd_close(&mut self, expunge: bool) -> Reply {
        if let Some(sel) = self.selected.as_ref() {
            if expunge && !sel.readonly {
                let (user, id) = (self.user_id(), sel.id);
                if let Err(e) = self.service().expunge(user, id, &UidSet::all(), true).await {
                    return service_error(&e);
                }
            }
        }
        self.deselect();
        Reply::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        })
    }

    pub(crate) async fn cmd_expunge(&mut self, uids: Option<SequenceSet>) -> io::Result<Reply> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if sel.readonly {
            return Ok(Reply::no("Mailbox is read-only").with_code("READ-ONLY"));
        }
        let target = match &uids {
            Some(set) => match sel.resolve(set, true) {
                Ok(u) => UidSet::from_uids(u),
                Err(_) => return Ok(bad_sequence()),
            },
            None => UidSet::all(),
        };
        if target.is_empty() {
            return Ok(Reply::ok("EXPUNGE completed"));
        }
        let (user, id) = (self.user_id(), sel.id);
        match self.service().expunge(user, id, &target, true).await {
            Ok(removed) => {
                self.report_expunged(&removed);
                Ok(Reply::ok("EXPUNGE completed"))
            }
            Err(e) => Ok(service_error(&e)),
        }
    }

    pub(crate) async fn cmd_store(
        &mut self,
        uid_mode: bool,
        set: SequenceSet,
        unchanged_since: Option<u64>,
        op: StoreOp,
        silent: bool,
        flags: Vec<String>,
    ) -> io::Result<Reply> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if sel.readonly {
            return Ok(Reply::no("Mailbox is read-only").with_code("READ-ONLY"));
        }
        let Ok(uids) = sel.resolve(&set, uid_mode) else {
            return Ok(bad_sequence());
        };
        let id = sel.id;
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let flags: Vec<String> = flags
            .into_iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .collect();
        if uids.is_empty() {
            return Ok(Reply::ok("STORE completed"));
        }
        let user = self.user_id();
        let op = match op {
            StoreOp::Add => FlagOp::Add,
            StoreOp::Remove => FlagOp::Remove,
            StoreOp::Replace => FlagOp::Replace,
        };
        let target = UidSet::from_uids(uids.iter().copied());
        let changed = match self
            .service()
            .update_flags(user, id, &target, op, &flags, unchanged_since)
            .await
        {
            Ok(c) => c,
            Err(eider_service::Error::Validation(m)) => {
                return Ok(Reply::bad(format!(
                    "Invalid flags: {}",
                    crate::response::sanitize(&m)
                )))
            }
            Err(e) => return Ok(service_error(&e)),
        };
        let all_new_flags: Vec<String> = changed
            .changed
            .iter()
            .flat_map(|(_, f, _)| f.iter().cloned())
            .collect();
        self.note_keywords(&all_new_flags);
        let condstore = self.condstore;
        // What to report: every message of the set (RFC 3501), or with .SILENT
        // only the MODSEQ of changed ones under CONDSTORE (RFC 7162 3.2).
        let mut report: Vec<(u32, Vec<String>, u64, bool)> = Vec::new();
        if let Some(sel) = self.selected.as_mut() {
            for (uid, f, modseq) in &changed.changed {
                sel.reported.insert(*uid, *modseq);
                report.push((*uid, f.clone(), *modseq, true));
            }
        }
        if !silent {
            let unchanged: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|u| !changed.changed.iter().any(|(c, _, _)| c == u))
                .filter(|u| !changed.conflicts.contains(u))
                .collect();
            if !unchanged.is_empty() {
                match self
                    .service()
                    .list_messages(
                        user,
                        id,
                        &UidSet::from_uids(unchanged),
                        SortOrder::Ascending,
                        0,
                    )
                    .await
                {
                    Ok(metas) => {
                        for m in metas {
                            report.push((m.uid, m.flags, m.modseq, false));
                        }
                    }
                    Err(e) => return Ok(service_error(&e)),
                }
            }
        }
        report.sort_unstable_by_key(|r| r.0);
        for (uid, f, modseq, was_changed) in report {
            let Some(sel) = self.selected.as_ref() else {
                break;
            };
            let Some(seq) = sel.seq_of(uid) else {
                continue;
            };
            let line = if silent {
                if !(condstore && was_changed) {
                    continue;
                }
                format!("{seq} FETCH (UID {uid} MODSEQ ({modseq}))")
            } else {
                let mut l = format!("{seq} FETCH (");
                if uid_mode {
                    l.push_str(&format!("UID {uid} "));
                }
                l.push_str(&format!(
                    "FLAGS {}",
                    flag_list(&f, sel.recent.contains(&uid))
                ));
                if condstore {
                    l.push_str(&format!(" MODSEQ ({modseq})"));
                }
                l.push(')');
                l
            };
            self.untagged(&line);
            self.conn.maybe_flush().await?;
        }
        if !changed.conflicts.is_empty() {
            let Some(sel) = self.selected.as_ref() else {
                return Ok(Reply::ok("STORE completed"));
            };
            let mut nums: Vec<u32> = if uid_mode {
                changed.conflicts.clone()
            } else {
                changed
                    .conflicts
                    .iter()
                    .filter_map(|&u| sel.seq_of(u))
                    .collect()
            };
            nums.sort_unstable();
            return Ok(Reply::ok("Conditional STORE failed")
                .with_code(format!("MODIFIED {}", compress_set(&nums))));
        }
        Ok(Reply::ok("STORE completed"))
    }

    pub(crate) async fn cmd_copy(
        &mut self,
        uid_mode: bool,
        set: SequenceSet,
        raw: Vec<u8>,
        is_move: bool,
    ) -> io::Result<Reply> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let Ok(uids) = sel.resolve(&set, uid_mode) else {
            return Ok(bad_sequence());
        };
        if is_move && sel.readonly {
            return Ok(Reply::no("Mailbox is read-only").with_code("READ-ONLY"));
        }
        let source = sel.id;
        let target = match self.lookup_mailbox(&raw).await {
            Ok(m) => m,
            Err(r) if r.code.as_deref() == Some("NONEXISTENT") => {
                return Ok(Reply::no("Mailbox does not exist").with_code("TRYCREATE"))
            }
            Err(r) => return Ok(r),
        };
        let verb = if is_move { "MOVE" } else { "COPY" };
        if uids.is_empty() {
            return Ok(Reply::ok(format!("{verb} completed")));
        }
        let user = self.user_id();
        let set = UidSet::from_uids(uids.iter().copied());
        let result = if is_move && target.id == source {
            // A move within the mailbox: new copies, then the originals go.
            match self
                .service()
                .copy_messages(user, source, &set, source)
                .await
            {
                Ok(copied) => {
                    let originals = UidSet::from_uids(copied.iter().map(|c| c.source_uid));
                    self.service()
                        .expunge_moved(user, source, &originals)
                        .await
                        .map(|_| copied)
                }
                Err(e) => Err(e),
            }
        } else if is_move {
            self.service()
                .move_messages(user, source, &set, target.id)
                .await
        } else {
            self.service()
                .copy_messages(user, source, &set, target.id)
                .await
        };
        let mut copied = match result {
            Ok(c) => c,
            Err(e) => return Ok(service_error(&e)),
        };
        copied.sort_unstable_by_key(|c| c.source_uid);
        let code = (!copied.is_empty()).then(|| {
            let src: Vec<u32> = copied.iter().map(|c| c.source_uid).collect();
            let dst: Vec<u32> = copied.iter().map(|c| c.uid).collect();
            format!(
                "COPYUID {} {} {}",
                target.uid_validity,
                uid_list(&src),
                uid_list(&dst)
            )
        });
        if is_move {
            if let Some(code) = &code {
                self.untagged(&format!("OK [{code}] Moved"));
            }
            let moved: Vec<u32> = copied.iter().map(|c| c.source_uid).collect();
            self.report_expunged(&moved);
            return Ok(Reply::ok("MOVE completed"));
        }
        let reply = Reply::ok("COPY completed");
        Ok(match code {
            Some(c) => reply.with_code(c),
            None => reply,
        })
    }
}

/// UIDs in the order given, ranges where consecutive (COPYUID pairs source and
/// destination by position, so the order must be kept).
fn uid_list(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    if sorted == uids {
        compress_set(uids)
    } else {
        uids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}
