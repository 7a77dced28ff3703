//! RFC 8474 object ids, derived from ids the store already keeps, so they are the
//! same on every instance and survive renames: MAILBOXID is the mailbox's id,
//! EMAILID the id of the stored content its copies share ("M" + hex; a COPY or MOVE
//! keeps it), THREADID the thread's id ("T" + hex).

use eider_service::ObjectId;

pub fn render_email(content: ObjectId) -> String {
    format!("M{}", content.to_hex())
}

pub fn render_thread(thread: ObjectId) -> String {
    format!("T{}", thread.to_hex())
}

/// The content id an EMAILID names (None: not one of ours, matches nothing).
pub fn email_id(s: &str) -> Option<ObjectId> {
    s.strip_prefix('M').and_then(|h| h.parse().ok())
}

pub fn thread_id(s: &str) -> Option<ObjectId> {
    s.strip_prefix('T').and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = ObjectId::new();
        assert_eq!(email_id(&render_email(id)), Some(id));
        assert_eq!(thread_id(&render_thread(id)), Some(id));
        assert_eq!(email_id(&render_thread(id)), None);
        assert_eq!(thread_id("Tnothex"), None);
    }
}
