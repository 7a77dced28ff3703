//! Rules for IMAP extensions' store needs: METADATA entries (RFC 5464) and the
//! SAVEDATE / EMAILID searches (RFC 8514, RFC 8474). Run by `conformance::run_all`.

use chrono::{Duration, Utc};

use super::{account, append, mailbox_record, request, simple};
use crate::model::*;
use crate::{MetadataEntry, ObjectId, Store, StoreError};

fn v(b: &[u8]) -> Option<&[u8]> {
    Some(b)
}

fn entry(name: &str, value: &[u8]) -> MetadataEntry {
    MetadataEntry {
        name: name.to_string(),
        value: value.to_vec(),
    }
}

/// Server and mailbox entries are kept apart and per user, listed by name; a set
/// replaces, `None` removes; the count limit is atomic (nothing of a refused change
/// is kept); a deleted mailbox or user takes its entries along.
pub async fn metadata_entries<S: Store>(s: &S) {
    let a = account(s, "meta").await;
    let b = account(s, "meta2").await;
    let (user, inbox) = (a.user.id, a.inbox.id);
    let set = |user: ObjectId,
               mailbox: Option<ObjectId>,
               changes: Vec<(&str, Option<&[u8]>)>,
               max: u64| {
        let changes: Vec<(String, Option<Vec<u8>>)> = changes
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec)))
            .collect();
        async move { s.set_metadata(user, mailbox, &changes, max).await }
    };
    set(
        user,
        None,
        vec![
            ("/shared/comment", v(b"server note")),
            ("/private/vendor/x", v(b"\x00bin")),
        ],
        10,
    )
    .await
    .expect("set server entries");
    set(
        user,
        Some(inbox),
        vec![("/private/comment", v(b"inbox"))],
        10,
    )
    .await
    .expect("set mailbox entry");
    set(b.user.id, None, vec![("/shared/comment", v(b"other"))], 10)
        .await
        .expect("other user");
    let server = s.list_metadata(user, None).await.expect("list server");
    assert_eq!(
        server,
        vec![
            entry("/private/vendor/x", b"\x00bin"),
            entry("/shared/comment", b"server note")
        ],
        "server entries by name, not the mailbox's nor the other user's"
    );
    let mbox = s
        .list_metadata(user, Some(inbox))
        .await
        .expect("list inbox");
    assert_eq!(mbox, vec![entry("/private/comment", b"inbox")]);
    // Replace one, remove one, in one call.
    set(
        user,
        None,
        vec![("/shared/comment", v(b"new")), ("/private/vendor/x", None)],
        10,
    )
    .await
    .expect("replace and remove");
    assert_eq!(
        s.list_metadata(user, None).await.expect("list"),
        vec![entry("/shared/comment", b"new")]
    );
    // The user has 2 entries; a change to 4 with a limit of 3 is refused whole.
    let refused = set(
        user,
        Some(inbox),
        vec![("/private/a", v(b"1")), ("/private/b", v(b"2"))],
        3,
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::LimitReached(_))),
        "{refused:?}"
    );
    assert_eq!(
        s.list_metadata(user, Some(inbox))
            .await
            .expect("list")
            .len(),
        1,
        "nothing of a refused change is kept"
    );
    // Replacing an entry does not count twice.
    set(user, Some(inbox), vec![("/private/comment", v(b"x"))], 2)
        .await
        .expect("replace at the limit");
    // A deleted mailbox takes its entries; a new one of the same name has none.
    let extra = mailbox_record(user, "Extra", None);
    s.create_mailbox(&extra).await.expect("create");
    set(user, Some(extra.id), vec![("/shared/comment", v(b"e"))], 10)
        .await
        .expect("set extra");
    assert!(s.delete_mailbox(user, extra.id).await.expect("delete"));
    assert!(s
        .list_metadata(user, Some(extra.id))
        .await
        .expect("list")
        .is_empty());
    // Now 2 entries: the deleted mailbox's entry no longer counts.
    set(user, None, vec![("/private/c", v(b"c"))], 3)
        .await
        .expect("the deleted mailbox's entry is not counted");
    assert!(s.delete_user(user).await.expect("delete user"));
    assert!(s.list_metadata(user, None).await.expect("list").is_empty());
    assert!(s
        .list_metadata(user, Some(inbox))
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        s.list_metadata(b.user.id, None).await.expect("list").len(),
        1
    );
}

/// SAVEDATE keys compare the time in the message id (to the second); a copy gets
/// the time of the copy. EMAILID finds every copy of one content.
pub async fn saved_date_and_content_search<S: Store>(s: &S) {
    let a = account(s, "saved").await;
    let (user, inbox, archive) = (a.user.id, a.inbox.id, a.archive.id);
    let now = Utc::now();
    let at = |t: chrono::DateTime<Utc>| {
        let mut id = ObjectId::new();
        id.0[..4].copy_from_slice(&(t.timestamp() as u32).to_be_bytes());
        id
    };
    let mut old = request(user, inbox, &simple(1), &[]);
    old.id = at(now - Duration::days(10));
    s.append(old).await.expect("append old");
    let mut recent = request(user, inbox, &simple(2), &[]);
    recent.id = at(now - Duration::hours(1));
    s.append(recent).await.expect("append recent");
    append(s, user, inbox, &simple(3), &[]).await;
    let find = |mailbox, key: SearchKey| {
        let q = SearchQuery {
            user,
            mailbox: Some(mailbox),
            key,
        };
        async move {
            s.search(&q)
                .await
                .expect("search")
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<u32>>()
        }
    };
    let day_ago = now - Duration::days(1);
    assert_eq!(
        find(inbox, SearchKey::Before(DateField::Saved, day_ago)).await,
        vec![1]
    );
    assert_eq!(
        find(inbox, SearchKey::Since(DateField::Saved, day_ago)).await,
        vec![2, 3]
    );
    assert_eq!(
        find(
            inbox,
            SearchKey::Since(DateField::Saved, now - Duration::minutes(10))
        )
        .await,
        vec![3]
    );
    // A copy is saved now; its content is the original's.
    let copied = s
        .copy_messages(user, inbox, &UidSet::from_uids([1]), archive, None)
        .await
        .expect("copy");
    assert_eq!(copied.len(), 1);
    assert_eq!(
        find(archive, SearchKey::Since(DateField::Saved, day_ago)).await,
        vec![copied[0].uid]
    );
    let metas = s
        .list_messages(inbox, &UidSet::from_uids([1]), SortOrder::Ascending, 0)
        .await
        .expect("list");
    let content = metas[0].content;
    assert_eq!(find(inbox, SearchKey::Content(content)).await, vec![1]);
    assert_eq!(
        find(archive, SearchKey::Content(content)).await,
        vec![copied[0].uid]
    );
    assert!(find(inbox, SearchKey::Content(ObjectId::new()))
        .await
        .is_empty());
    assert_eq!(
        saved_date(&metas[0]).timestamp(),
        (now - Duration::days(10)).timestamp()
    );
}
