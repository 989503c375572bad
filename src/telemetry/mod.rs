//! Telemetry: the logger (env_logger to stderr) and the bounded in-memory ring behind `logs.tail`.
//!
//! Every record that passes the filter goes to stderr and into a ring of at most
//! `limits.log_ring_lines` lines, each cut to `limits.log_line_max_bytes`. Lines carry a
//! sequence number so `logs.tail` can page with a cursor; the oldest line falls out when full.
//! The ring sits behind a `Mutex` because `log::Log` must be `Sync`; it is held for a copy only.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

static RING: OnceLock<Mutex<LogRing>> = OnceLock::new();

/// A bounded ring of recent log lines.
#[derive(Debug)]
pub struct LogRing {
    lines: VecDeque<String>,
    cap: usize,
    max_line: usize,
    /// Sequence number of `lines[0]`.
    first_seq: u64,
    bytes: usize,
}

/// One page of the ring, as `logs.tail` returns it.
#[derive(Debug, PartialEq)]
pub struct Tail {
    /// Lines from the cursor on (at most `limit`).
    pub lines: Vec<String>,
    /// Cursor to pass next time (sequence number after the last line returned).
    pub cursor: u64,
    /// Total bytes held in the ring.
    pub size: usize,
    /// More lines were available than returned.
    pub truncated: bool,
    /// The cursor pointed before the oldest kept line: lines were lost in between.
    pub reset: bool,
}

impl LogRing {
    /// An empty ring of `cap` lines, each at most `max_line` bytes.
    pub fn new(cap: usize, max_line: usize) -> Self {
        LogRing {
            lines: VecDeque::with_capacity(cap),
            cap,
            max_line,
            first_seq: 0,
            bytes: 0,
        }
    }

    /// Appends a line, dropping the oldest when full and cutting it at `max_line` bytes.
    pub fn push(&mut self, line: &str) {
        let mut l = line.to_string();
        if l.len() > self.max_line {
            let mut cut = self.max_line;
            while !l.is_char_boundary(cut) {
                cut -= 1;
            }
            l.truncate(cut);
            l.push('…');
        }
        if self.lines.len() == self.cap
            && let Some(old) = self.lines.pop_front()
        {
            self.bytes -= old.len();
            self.first_seq += 1;
        }
        self.bytes += l.len();
        self.lines.push_back(l);
    }

    /// Lines from `cursor` (or the last `limit` lines when `None`), at most `limit` and `max_bytes`.
    pub fn tail(&self, cursor: Option<u64>, limit: usize, max_bytes: usize) -> Tail {
        let end_seq = self.first_seq + self.lines.len() as u64;
        let (start, reset) = match cursor {
            None => (
                end_seq.saturating_sub(limit as u64).max(self.first_seq),
                false,
            ),
            Some(c) if c < self.first_seq => (self.first_seq, true),
            Some(c) => (c.min(end_seq), false),
        };
        let mut out = Vec::new();
        let mut used = 0usize;
        let mut seq = start;
        while seq < end_seq && out.len() < limit {
            let l = &self.lines[(seq - self.first_seq) as usize];
            if used + l.len() > max_bytes && !out.is_empty() {
                break;
            }
            used += l.len();
            out.push(l.clone());
            seq += 1;
        }
        Tail {
            lines: out,
            cursor: seq,
            size: self.bytes,
            truncated: seq < end_seq,
            reset,
        }
    }
}

struct RingLogger {
    inner: env_logger::Logger,
}

impl log::Log for RingLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        self.inner.enabled(m)
    }

    fn log(&self, r: &log::Record) {
        if !self.inner.matches(r) {
            return;
        }
        let line = format!(
            "{} {:<5} {}: {}",
            crate::clock::rfc3339_now(),
            r.level(),
            r.target(),
            r.args()
        );
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        if let Some(ring) = RING.get()
            && let Ok(mut ring) = ring.lock()
        {
            ring.push(&line);
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the logger: filter from `RUST_LOG` or `default_level`, ring sized from limits.
pub fn init(default_level: &str, ring_lines: usize, line_max: usize) {
    let _ = RING.set(Mutex::new(LogRing::new(ring_lines, line_max)));
    let mut b = env_logger::Builder::new();
    b.parse_filters(default_level);
    if let Ok(f) = std::env::var("RUST_LOG") {
        b.parse_filters(&f);
    }
    let inner = b.build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(RingLogger { inner })).is_ok() {
        log::set_max_level(max);
    }
}

/// A page of the ring; an empty page when the logger was not installed (CLI subcommands).
pub fn tail(cursor: Option<u64>, limit: usize, max_bytes: usize) -> Tail {
    match RING.get().and_then(|r| r.lock().ok()) {
        Some(ring) => ring.tail(cursor, limit, max_bytes),
        None => Tail {
            lines: Vec::new(),
            cursor: 0,
            size: 0,
            truncated: false,
            reset: false,
        },
    }
}

/// Resident memory of this process from `/proc/self/status`: (VmRSS, VmHWM, RssAnon) in bytes.
/// RssAnon is heap and stacks only; VmRSS also counts the binary's mapped code pages.
pub fn memory() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bytes = |name: &str| proc_kib(&text, name).map(|kb| kb * 1024).unwrap_or(0);
    (bytes("VmRSS:"), bytes("VmHWM:"), bytes("RssAnon:"))
}

/// The value of a `Name:   1234 kB` line in a `/proc` text file (`/proc/meminfo`, `status`).
pub fn proc_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_drops_oldest_when_flooded() {
        let mut r = LogRing::new(3, 64);
        for i in 0..10 {
            r.push(&format!("line {i}"));
        }
        let t = r.tail(None, 100, 1 << 20);
        assert_eq!(t.lines, vec!["line 7", "line 8", "line 9"]);
        assert_eq!(t.cursor, 10);
        assert!(!t.truncated);
    }

    #[test]
    fn ring_cursor_pages_and_reports_reset() {
        let mut r = LogRing::new(4, 64);
        for i in 0..4 {
            r.push(&format!("l{i}"));
        }
        let t = r.tail(Some(1), 2, 1 << 20);
        assert_eq!(t.lines, vec!["l1", "l2"]);
        assert!(t.truncated);
        assert_eq!(t.cursor, 3);
        for i in 4..8 {
            r.push(&format!("l{i}"));
        }
        let t = r.tail(Some(3), 10, 1 << 20);
        assert!(t.reset, "lines 3 was dropped");
        assert_eq!(t.lines.first().map(String::as_str), Some("l4"));
    }

    #[test]
    fn ring_cuts_long_lines_on_char_boundary() {
        let mut r = LogRing::new(2, 5);
        r.push("ééééé");
        let t = r.tail(None, 1, 1 << 20);
        assert_eq!(t.lines[0], "éé…");
    }

    #[test]
    fn ring_respects_max_bytes() {
        let mut r = LogRing::new(10, 64);
        for _ in 0..10 {
            r.push("0123456789");
        }
        let t = r.tail(Some(0), 10, 25);
        assert_eq!(t.lines.len(), 2);
        assert!(t.truncated);
    }
}
