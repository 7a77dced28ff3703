//! Store conformance rules for audits (`AuditStore`). Run from `conformance::run_all`.

use chrono::{Duration, TimeZone, Utc};

use crate::{Audit, ObjectId, Store};

pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![audit_round_trip]
}

/// An audit reads back as written (dates at millisecond precision, open bounds
/// stay open); an unknown id is None.
async fn audit_round_trip<S: Store>(store: &S) {
    let created = Utc
        .timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid instant");
    let bounded = Audit {
        id: ObjectId::new(),
        user: ObjectId::new(),
        start: Some(created - Duration::days(3)),
        end: Some(created + Duration::days(1)),
        expires: created + Duration::days(7),
        created,
    };
    let open = Audit {
        id: ObjectId::new(),
        start: None,
        end: None,
        ..bounded.clone()
    };
    store.create_audit(&bounded).await.expect("create bounded");
    store.create_audit(&open).await.expect("create open");
    assert_eq!(
        store.get_audit(bounded.id).await.expect("get"),
        Some(bounded)
    );
    assert_eq!(store.get_audit(open.id).await.expect("get"), Some(open));
    assert_eq!(store.get_audit(ObjectId::new()).await.expect("get"), None);
}
