//! Rate-limited logging for lines a guest can trigger (a malformed chain,
//! a refused request): each call site of [`warn_limited!`] or
//! [`error_limited!`] writes at most [`LINES_PER_SECOND`] lines a second;
//! the lines it drops are counted and the next line written says how
//! many. A guest flooding the daemon with bad requests therefore writes
//! a bounded log (about 100 bytes x 10 lines per second per call site)
//! instead of one line per request.
//!
//! Lock-free and approximate: a few lines more may pass when threads
//! race at a second's boundary.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Lines a call site may write per second.
pub const LINES_PER_SECOND: u32 = 10;

/// The state of one call site.
#[derive(Debug)]
pub struct RateLimit {
    /// The second (since the first limited line) the count is for.
    second: AtomicU64,
    count: AtomicU32,
    suppressed: AtomicU64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

fn now_seconds() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

impl RateLimit {
    /// A call site that has written nothing yet.
    pub const fn new() -> Self {
        Self {
            second: AtomicU64::new(0),
            count: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a line may be written now: `Some(k)` with the number of
    /// lines dropped since the last one written, or `None` to drop it.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(now_seconds())
    }

    fn admit_at(&self, now: u64) -> Option<u64> {
        let second = self.second.load(Ordering::Acquire);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.count.store(0, Ordering::Release);
        }
        if self.count.fetch_add(1, Ordering::AcqRel) < LINES_PER_SECOND {
            Some(self.suppressed.swap(0, Ordering::AcqRel))
        } else {
            self.suppressed.fetch_add(1, Ordering::AcqRel);
            None
        }
    }
}

/// Writes a line at `level` for the module `target` through `limit`.
#[doc(hidden)]
pub fn write(limit: &RateLimit, target: &str, level: log::Level, args: std::fmt::Arguments<'_>) {
    match limit.admit() {
        Some(0) => log::log!(target: target, level, "{args}"),
        Some(k) => log::log!(target: target, level, "{args} ({k} lines like this suppressed)"),
        None => {}
    }
}

/// `log::warn!`, at most [`LINES_PER_SECOND`] lines a second from this call site.
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMIT: $crate::log_limit::RateLimit = $crate::log_limit::RateLimit::new();
        $crate::log_limit::write(
            &LIMIT,
            module_path!(),
            log::Level::Warn,
            format_args!($($arg)+),
        );
    }};
}

/// `log::error!`, at most [`LINES_PER_SECOND`] lines a second from this call site.
#[macro_export]
macro_rules! error_limited {
    ($($arg:tt)+) => {{
        static LIMIT: $crate::log_limit::RateLimit = $crate::log_limit::RateLimit::new();
        $crate::log_limit::write(
            &LIMIT,
            module_path!(),
            log::Level::Error,
            format_args!($($arg)+),
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_site_writes_ten_lines_a_second_then_reports_what_it_dropped() {
        let limit = RateLimit::new();
        let first: Vec<_> = (0..25).map(|_| limit.admit_at(5)).collect();
        assert!(first[..10].iter().all(|a| *a == Some(0)));
        assert!(first[10..].iter().all(Option::is_none));
        assert_eq!(
            limit.admit_at(6),
            Some(15),
            "the next second reports 15 dropped"
        );
        assert_eq!(limit.admit_at(6), Some(0));
    }
}
