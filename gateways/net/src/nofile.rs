//! The process's open-descriptor limit: every connection holds one, and when the
//! soft limit (often 1024) runs out, every listener's accept fails at once.

use std::io;

/// The descriptor limit after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (the most the soft limit may be raised to).
    pub hard: u64,
    /// The soft limit before, when it was raised.
    pub raised_from: Option<u64>,
}

/// Raise the soft RLIMIT_NOFILE to the hard limit (or the most the system takes).
#[cfg(unix)]
pub fn raise() -> io::Result<NoFile> {
    let (soft, hard) = get()?;
    if soft >= hard {
        return Ok(NoFile {
            soft,
            hard,
            raised_from: None,
        });
    }
    // An unlimited hard limit is not accepted as a soft one everywhere (macOS caps it
    // at OPEN_MAX); fall back to a large finite figure.
    for target in [hard, 1 << 20, 1 << 16] {
        if target <= soft || target > hard {
            continue;
        }
        if set(target, hard).is_ok() {
            let (now, hard) = get()?;
            return Ok(NoFile {
                soft: now,
                hard,
                raised_from: Some(soft),
            });
        }
    }
    Err(io::Error::last_os_error())
}

#[cfg(not(unix))]
pub fn raise() -> io::Result<NoFile> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "descriptor limits are not managed on this platform",
    ))
}

#[cfg(unix)]
fn get() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which lives on our stack.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on Linux but not on every platform.
    #[allow(clippy::unnecessary_cast)]
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

#[cfg(unix)]
fn set(soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Descriptors kept out of the listeners' budget: the store's files, its reader pool,
/// outbound connections (relay, MongoDB, Redis), TLS certificate reloads, logs, and
/// refused connections still being answered (see `gate::MAX_LINGERING`).
pub fn reserve(limit: u64) -> u64 {
    (limit / 4).clamp(128, 4096)
}

/// Scale `caps` (each listener's most connections; 0 = no cap) down so that together
/// they fit in `budget` descriptors, each in proportion to its setting (at least 1).
/// A listener without a cap gets an equal share of the budget. True when anything changed.
pub fn fit(caps: &mut [usize], budget: usize) -> bool {
    if caps.is_empty() {
        return false;
    }
    let share = (budget / caps.len()).max(1);
    let mut changed = false;
    for c in caps.iter_mut() {
        if *c == 0 {
            *c = share;
            changed = true;
        }
    }
    let total: usize = caps.iter().sum();
    if total <= budget {
        return changed;
    }
    for c in caps.iter_mut() {
        let scaled = (*c as u128 * budget as u128 / total as u128) as usize;
        *c = scaled.max(1);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_scales_in_proportion() {
        let mut caps = [10_000, 2_000, 1_000, 1_000];
        assert!(fit(&mut caps, 768));
        assert!(caps.iter().sum::<usize>() <= 768);
        assert_eq!(caps, [548, 109, 54, 54]);

        let mut caps = [100, 100];
        assert!(!fit(&mut caps, 1000));
        assert_eq!(caps, [100, 100]);

        let mut caps = [0, 100];
        assert!(fit(&mut caps, 1000));
        assert_eq!(caps, [500, 100]);

        let mut caps = [5, 5];
        assert!(fit(&mut caps, 1));
        assert_eq!(caps, [1, 1]);
    }

    #[test]
    fn reserve_is_bounded() {
        assert_eq!(reserve(1024), 256);
        assert_eq!(reserve(256), 128);
        assert_eq!(reserve(1 << 20), 4096);
    }

    #[cfg(unix)]
    #[test]
    fn raise_reaches_the_hard_limit() {
        let n = raise().expect("raise");
        assert!(n.soft >= 1);
        assert!(n.soft <= n.hard);
        assert_eq!(get().expect("get").0, n.soft);
    }
}
