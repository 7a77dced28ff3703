use serde::{Deserialize, Serialize};

/// A set of UIDs as sorted, non-overlapping inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UidSet {
    ranges: Vec<(u32, u32)>,
}

impl UidSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn all() -> Self {
        Self::range(1, u32::MAX)
    }

    pub fn range(a: u32, b: u32) -> Self {
        let mut s = Self::new();
        s.insert_range(a, b);
        s
    }

    pub fn from_uids(uids: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<u32> = uids.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        let mut s = Self::new();
        for u in v {
            match s.ranges.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(u) => last.1 = u,
                _ => s.ranges.push((u, u)),
            }
        }
        s
    }

    pub fn insert_range(&mut self, a: u32, b: u32) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        self.ranges.push((lo, hi));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for (lo, hi) in self.ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.ranges = merged;
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < uid {
                    std::cmp::Ordering::Less
                } else if lo > uid {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// Number of UIDs in the set (saturating).
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(lo, hi)| u64::from(hi - lo) + 1)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_contains() {
        let mut s = UidSet::from_uids([5, 1, 2, 3, 9]);
        assert_eq!(s.ranges(), &[(1, 3), (5, 5), (9, 9)]);
        s.insert_range(4, 4);
        assert_eq!(s.ranges(), &[(1, 5), (9, 9)]);
        assert!(s.contains(4) && s.contains(9) && !s.contains(6) && !s.contains(0));
        assert_eq!(s.len(), 6);
        assert!(UidSet::all().contains(u32::MAX));
        assert_eq!(UidSet::range(7, 3).ranges(), &[(3, 7)]);
    }
}
