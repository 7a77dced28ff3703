//! Store conformance rules for storage files (`FileStore`): blobs shared with
//! identical files, quota counted and released, per-user visibility, cleanup with
//! the user. Run from `conformance::run_all`.

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use eider_message::BlobHash;
use serde_json::json;

use crate::model::{Paging, User, UserProfile};
use crate::{ObjectId, Store, StoreError, StoredFile};

/// Every rule of this file, in turn.
pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        files_share_blobs_and_count_quota,
        files_list_page_and_filter,
        files_refuse_over_quota_and_unknown_user,
        files_go_with_their_user,
    ]
}

async fn new_user<S: Store>(s: &S, label: &str) -> ObjectId {
    let name = format!("{label}{}", ObjectId::new().to_hex());
    let user = User {
        id: ObjectId::new(),
        username: name.clone(),
        unameview: name.clone(),
        name: None,
        address: format!("{name}@example.com"),
        password: None,
        quota: 0,
        storage_used: 0,
        disabled: false,
        suspended: false,
        tags: Vec::new(),
        meta_data: json!({}),
        internal_data: json!({}),
        profile: UserProfile::default(),
        created: Utc::now(),
    };
    s.create_user(&user, None, &[]).await.expect("create user");
    user.id
}

fn record(user: ObjectId, name: Option<&str>, data: &[u8]) -> StoredFile {
    StoredFile {
        id: ObjectId::new(),
        user,
        filename: name.map(str::to_string),
        content_type: "application/octet-stream".into(),
        cid: None,
        size: data.len() as u64,
        hash: BlobHash::of(data),
        // Stores keep milliseconds.
        created: Utc
            .timestamp_millis_opt(1_700_000_000_123)
            .single()
            .expect("instant"),
    }
}

async fn put<S: Store>(s: &S, user: ObjectId, name: Option<&str>, data: &[u8]) -> StoredFile {
    let f = record(user, name, data);
    s.store_file(&f, Bytes::copy_from_slice(data), None)
        .await
        .expect("store file");
    f
}

async fn used<S: Store>(s: &S, user: ObjectId) -> u64 {
    s.get_user(user)
        .await
        .expect("get user")
        .expect("user exists")
        .storage_used
}

async fn files_share_blobs_and_count_quota<S: Store>(s: &S) {
    let u = new_user(s, "files").await;
    let other = new_user(s, "filesother").await;
    let blobs0 = s.blob_count().await.expect("count");
    let data = format!("shared bytes {}", ObjectId::new().to_hex()).into_bytes();
    let a = put(s, u, Some("a.bin"), &data).await;
    let b = put(s, u, Some("b.bin"), &data).await;
    assert_eq!(
        s.blob_count().await.expect("count"),
        blobs0 + 1,
        "identical files share a blob"
    );
    assert_eq!(
        used(s, u).await,
        2 * data.len() as u64,
        "each file counts in quota"
    );
    assert_eq!(s.get_file(u, a.id).await.expect("get"), Some(a.clone()));
    let bytes = s.read_blob(&a.hash, 0, a.size).await.expect("read");
    assert_eq!(&bytes[..], &data[..]);

    // Another user neither sees nor deletes the file.
    assert_eq!(s.get_file(other, a.id).await.expect("get"), None);
    assert!(!s.delete_file(other, a.id).await.expect("delete"));

    assert!(s.delete_file(u, a.id).await.expect("delete"));
    assert!(!s.delete_file(u, a.id).await.expect("delete twice"));
    assert_eq!(s.get_file(u, a.id).await.expect("get"), None);
    assert_eq!(used(s, u).await, data.len() as u64);
    let bytes = s.read_blob(&b.hash, 0, b.size).await.expect("read");
    assert_eq!(
        &bytes[..],
        &data[..],
        "the shared blob stays for the other file"
    );
    assert!(s.delete_file(u, b.id).await.expect("delete"));
    assert_eq!(used(s, u).await, 0);
    assert_eq!(
        s.blob_count().await.expect("count"),
        blobs0,
        "last file frees the blob"
    );
}

async fn files_list_page_and_filter<S: Store>(s: &S) {
    let u = new_user(s, "fileslist").await;
    let f1 = put(s, u, Some("Report.PDF"), b"one").await;
    let f2 = put(s, u, None, b"two").await;
    let f3 = put(s, u, Some("notes.txt"), b"three").await;
    let page = |next: Option<String>| Paging {
        limit: 2,
        next,
        ..Default::default()
    };
    let first = s.list_files(u, None, &page(None)).await.expect("list");
    assert_eq!(first.total, 3);
    assert_eq!(
        first.results.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![f1.id, f2.id]
    );
    let second = s
        .list_files(u, None, &page(first.next))
        .await
        .expect("list");
    assert_eq!(
        second.results.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![f3.id]
    );
    assert!(second.next.is_none());
    let found = s
        .list_files(u, Some("report"), &Paging::default())
        .await
        .expect("list");
    assert_eq!(found.total, 1);
    assert_eq!(found.results, vec![f1]);
    let other = new_user(s, "fileslist2").await;
    assert_eq!(
        s.list_files(other, None, &Paging::default())
            .await
            .expect("list")
            .total,
        0
    );
}

async fn files_refuse_over_quota_and_unknown_user<S: Store>(s: &S) {
    let u = new_user(s, "filesquota").await;
    put(s, u, None, b"12345").await;
    let f = record(u, None, b"678901");
    let r = s
        .store_file(&f, Bytes::from_static(b"678901"), Some(10))
        .await;
    assert!(matches!(r, Err(StoreError::OverQuota)), "{r:?}");
    assert_eq!(used(s, u).await, 5);
    assert_eq!(s.get_file(u, f.id).await.expect("get"), None);
    let ok = record(u, None, b"67890");
    s.store_file(&ok, Bytes::from_static(b"67890"), Some(10))
        .await
        .expect("fits exactly");
    let ghost = record(ObjectId::new(), None, b"x");
    let r = s.store_file(&ghost, Bytes::from_static(b"x"), None).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

async fn files_go_with_their_user<S: Store>(s: &S) {
    let u = new_user(s, "filesgone").await;
    let data = format!("only here {}", ObjectId::new().to_hex()).into_bytes();
    let blobs0 = s.blob_count().await.expect("count");
    let f = put(s, u, Some("x"), &data).await;
    assert_eq!(
        s.recalculate_storage(u).await.expect("recalculate"),
        data.len() as u64,
        "recalculation counts files"
    );
    assert!(s.delete_user(u).await.expect("delete user"));
    assert_eq!(s.get_file(u, f.id).await.expect("get"), None);
    assert_eq!(
        s.blob_count().await.expect("count"),
        blobs0,
        "the user's blobs are freed"
    );
}
