//! Defender findings: the `Reason` every detector returns and the `ScanLimits` that bound a scan.
//!
//! The scoring core (`text`, `injection`, `command`, `url`, `secrets`) is pure: no I/O, no clock,
//! no global state besides constant tables. Each detector returns a list of `Reason`s; the
//! pipeline in `defender/mod.rs` combines their scores into a verdict.
//!
//! Score scale, shared by every detector: 0–39 benign or informational, 40–69 suspicious
//! (review), 70–100 a clear attack (block). Rules are written to need intent (a verb, a target and
//! some context), never a single keyword.

use serde::Serialize;

/// Lowest score the core treats as "suspicious" (the pipeline's default review threshold).
pub const SUSPICIOUS: u32 = 40;

/// Lowest score the core treats as a clear attack (the pipeline's default block threshold).
pub const ATTACK: u32 = 70;

/// Most reasons one detector returns for one input; later findings are dropped, since the
/// verdict already has its strongest reasons and a hostile input could otherwise grow the list.
pub const MAX_REASONS: usize = 64;

/// One finding: which detector, which rule, how strong, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// `"injection"`, `"command"`, `"url"` or `"secrets"`.
    pub detector: &'static str,
    /// Stable rule id, e.g. `override.ignore_previous`, `destructive.rm_root`.
    pub rule: &'static str,
    /// Contribution to the risk, 0..=100.
    pub score: u32,
    /// Byte range in the original input when known (best effort for folded or decoded text).
    pub span: Option<(usize, usize)>,
    /// Short lowercase text for people; never echoes a secret in full.
    pub detail: String,
}

impl Reason {
    /// A reason; `score` is clamped to 100.
    pub fn new(
        detector: &'static str,
        rule: &'static str,
        score: u32,
        span: Option<(usize, usize)>,
        detail: impl Into<String>,
    ) -> Reason {
        Reason {
            detector,
            rule,
            score: score.min(100),
            span,
            detail: detail.into(),
        }
    }
}

/// Bounds for scanning (callers pass them from config limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// Only the first N bytes of an input are scanned; past it a `scan.truncated` reason
    /// (score 0) says so, and the rest of the input is not looked at.
    pub max_scan_bytes: usize,
    /// How many encoding layers (base64 in hex in percent ...) are peeled; a deeper onion stops
    /// there and is reported as `encoded.depth_limit`.
    pub max_decode_depth: usize,
    /// Total bytes all decoded layers of one input may hold; past it decoding stops and
    /// `encoded.budget` is reported.
    pub max_decode_bytes: usize,
}

/// Default `ScanLimits::max_scan_bytes`: the WebSocket message cap, so a whole message is seen.
pub const DEFAULT_MAX_SCAN_BYTES: usize = 256 * 1024;
/// Default `ScanLimits::max_decode_depth`: real payloads rarely nest more than twice.
pub const DEFAULT_MAX_DECODE_DEPTH: usize = 3;
/// Default `ScanLimits::max_decode_bytes`.
pub const DEFAULT_MAX_DECODE_BYTES: usize = 64 * 1024;

impl Default for ScanLimits {
    fn default() -> ScanLimits {
        ScanLimits {
            max_scan_bytes: DEFAULT_MAX_SCAN_BYTES,
            max_decode_depth: DEFAULT_MAX_DECODE_DEPTH,
            max_decode_bytes: DEFAULT_MAX_DECODE_BYTES,
        }
    }
}

/// The scanned prefix of `s` (at most `max` bytes, cut at a char boundary) and whether it was cut.
pub fn clip(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// The `scan.truncated` reason for `text` scanned up to `max` bytes (span: the unscanned rest).
pub fn truncated(detector: &'static str, text: &str, max: usize) -> Reason {
    let scanned = clip(text, max).0.len();
    Reason::new(
        detector,
        "scan.truncated",
        0,
        Some((scanned, text.len())),
        format!(
            "only the first {scanned} of {} bytes were scanned",
            text.len()
        ),
    )
}

/// `s` shortened to at most `max` chars with `…`, for details that quote harmless input.
pub fn snippet(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A masked secret for details: a short prefix (at most a quarter of it, at most 5 chars), `…`
/// and the length, e.g. `sk-ab… (51 chars)`.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    let keep = (n / 4).min(5);
    let prefix: String = secret.chars().take(keep).collect();
    format!("{prefix}… ({n} chars)")
}

/// Pushes `r` unless `out` already holds `MAX_REASONS`.
pub fn push_capped(out: &mut Vec<Reason>, r: Reason) {
    if out.len() < MAX_REASONS {
        out.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_char_boundaries() {
        let cases: &[(&str, usize, &str, bool)] = &[
            ("hello", 10, "hello", false),
            ("hello", 5, "hello", false),
            ("hello", 3, "hel", true),
            ("héllo", 2, "h", true),
            ("日本", 4, "日", true),
            ("", 0, "", false),
        ];
        for (s, max, want, cut) in cases {
            assert_eq!(clip(s, *max), (*want, *cut), "{s:?} {max}");
        }
    }

    #[test]
    fn mask_never_shows_most_of_the_secret() {
        assert_eq!(mask("sk-abcdefghijklmnopqrst"), "sk-ab… (23 chars)");
        assert_eq!(mask("short"), "s… (5 chars)");
        assert_eq!(mask("abc"), "… (3 chars)");
        assert_eq!(mask(""), "… (0 chars)");
    }

    #[test]
    fn reason_score_is_clamped_and_defaults_hold() {
        assert_eq!(Reason::new("url", "x", 250, None, "d").score, 100);
        let l = ScanLimits::default();
        assert_eq!(
            (l.max_scan_bytes, l.max_decode_depth, l.max_decode_bytes),
            (262_144, 3, 65_536)
        );
        let t = truncated("injection", "héllo wörld", 2);
        assert_eq!(
            (t.rule, t.score, t.span),
            ("scan.truncated", 0, Some((1, 13)))
        );
        assert_eq!(snippet("abcdef", 3), "abc…");
        assert_eq!(snippet("abc", 3), "abc");
    }

    #[test]
    fn push_capped_stops_at_the_cap() {
        let mut v = Vec::new();
        for _ in 0..MAX_REASONS + 5 {
            push_capped(&mut v, Reason::new("url", "x", 1, None, ""));
        }
        assert_eq!(v.len(), MAX_REASONS);
    }
}
