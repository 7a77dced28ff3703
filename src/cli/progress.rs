//! A one-line progress bar on standard error, drawn only when it is a terminal
//! (scripts and logs get the final summary line alone).

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    tty: bool,
    last: Mutex<(Instant, String)>,
}

impl Progress {
    pub fn new() -> Self {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        Self {
            tty,
            last: Mutex::new((
                Instant::now()
                    .checked_sub(Duration::from_secs(1))
                    .unwrap_or_else(Instant::now),
                String::new(),
            )),
        }
    }

    /// Redraw `label: done/total` (at most ten times a second per label).
    pub fn show(&self, label: &str, done: u64, total: u64, unit: Unit) {
        if !self.tty {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.1 == label && last.0.elapsed() < Duration::from_millis(100) && done < total {
            return;
        }
        *last = (Instant::now(), label.to_string());
        let ratio = if total == 0 {
            1.0
        } else {
            (done as f64 / total as f64).min(1.0)
        };
        let width = 30;
        let filled = (ratio * width as f64) as usize;
        let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
        let figures = match unit {
            Unit::Bytes => format!("{} / {}", human_bytes(done), human_bytes(total)),
            Unit::Items => format!("{done} / {total}"),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{label:<18} [{bar}] {:>3}% {figures}",
            (ratio * 100.0) as u32
        );
        let _ = err.flush();
    }

    /// Clear the bar before the summary is printed.
    pub fn clear(&self) {
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[derive(Clone, Copy)]
pub enum Unit {
    Bytes,
    Items,
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}
