//! Cursor paging over an ordered list of keys, as WildDuck's listings page:
//! `limit` items after a `next` cursor, before a `previous` cursor, or at page N.

use crate::{Result, StoreError};

/// Largest page a listing returns (WildDuck caps `limit` at 250).
pub const MAX_PAGE_SIZE: u32 = 250;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// Where a page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// Cursor of the last item of the previous page.
    pub next: Option<String>,
    /// Cursor of the first item of the following page.
    pub previous: Option<String>,
    /// 1-based page, used only without a cursor.
    pub page: u32,
}

impl PageRequest {
    pub fn limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_PAGE_SIZE as usize,
            n => n.min(MAX_PAGE_SIZE) as usize,
        }
    }
}

/// The slice of `keys` (already in display order) a request selects: (start, end).
/// A cursor `cursor` cannot read is the client's error (400), not page one.
pub(crate) fn window<K: PartialEq>(
    keys: &[K],
    req: &PageRequest,
    cursor: impl Fn(&str) -> Option<K>,
    before: impl Fn(&K, &K) -> bool,
) -> Result<(usize, usize)> {
    let read = |field: &'static str, c: Option<&str>| -> Result<Option<K>> {
        match c {
            None => Ok(None),
            Some(c) => cursor(c)
                .map(Some)
                .ok_or_else(|| StoreError::InvalidCursor(field).into()),
        }
    };
    let next = read("next", req.next.as_deref())?;
    let previous = read("previous", req.previous.as_deref())?;
    let limit = req.limit();
    let len = keys.len();
    let (start, end) = if let Some(k) = next {
        // First key strictly after the cursor in display order.
        let start = keys.partition_point(|x| before(x, &k) || *x == k);
        (start, (start + limit).min(len))
    } else if let Some(k) = previous {
        let end = keys.partition_point(|x| before(x, &k));
        (end.saturating_sub(limit), end)
    } else {
        let page = req.page.max(1) as usize;
        let start = (page - 1).saturating_mul(limit).min(len);
        (start, (start + limit).min(len))
    };
    Ok((start, end))
}

pub(crate) fn uid_cursor(uid: u32) -> String {
    format!("u{uid}")
}

pub(crate) fn parse_uid_cursor(s: &str) -> Option<u32> {
    s.strip_prefix('u')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(next: Option<&str>, previous: Option<&str>, page: u32) -> PageRequest {
        PageRequest {
            limit: 2,
            next: next.map(String::from),
            previous: previous.map(String::from),
            page,
        }
    }

    #[test]
    fn windows_follow_cursors() {
        let asc = [1u32, 2, 3, 4, 5];
        let before = |a: &u32, b: &u32| a < b;
        assert_eq!(
            window(&asc, &req(None, None, 1), parse_uid_cursor, before).expect("window"),
            (0, 2)
        );
        assert_eq!(
            window(&asc, &req(Some("u2"), None, 1), parse_uid_cursor, before).expect("window"),
            (2, 4)
        );
        assert_eq!(
            window(&asc, &req(Some("u4"), None, 1), parse_uid_cursor, before).expect("window"),
            (4, 5)
        );
        assert_eq!(
            window(&asc, &req(None, Some("u5"), 1), parse_uid_cursor, before).expect("window"),
            (2, 4)
        );
        assert_eq!(
            window(&asc, &req(None, Some("u2"), 1), parse_uid_cursor, before).expect("window"),
            (0, 1)
        );
        assert_eq!(
            window(&asc, &req(None, None, 3), parse_uid_cursor, before).expect("window"),
            (4, 5)
        );
        assert_eq!(
            window(&asc, &req(None, None, 9), parse_uid_cursor, before).expect("window"),
            (5, 5)
        );
        let desc = [5u32, 4, 3, 2, 1];
        let after = |a: &u32, b: &u32| a > b;
        assert_eq!(
            window(&desc, &req(Some("u4"), None, 1), parse_uid_cursor, after).expect("window"),
            (2, 4)
        );
        // A cursor whose item was deleted still lands between its neighbours.
        let gap = [1u32, 2, 4, 5];
        assert_eq!(
            window(&gap, &req(Some("u3"), None, 1), parse_uid_cursor, before).expect("window"),
            (2, 4)
        );
    }
}
