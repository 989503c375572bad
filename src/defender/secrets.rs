//! Secret-leak detection: configured values, well-known key formats, credential assignments and
//! high-entropy tokens, with redaction of what was found.
//!
//! `scan_secrets` runs in both directions (a prompt or tool input carrying a key out, a tool
//! output or model answer carrying one back). Every finding has the span of the secret in the
//! input, and its `detail` shows at most a masked prefix (`sk-ab… (51 chars)`), never the value;
//! configured secrets are named only by their index. `redact_found` replaces the spans with
//! `[REDACTED]`.
//!
//! Scanning is linear: one substring search per configured value and per key prefix, one pass
//! for assignments and one for tokens, all over the first `max_scan_bytes` of the input.
//!
//! Blind spots: secrets shorter than 8 bytes, split across lines or encoded (base64 of a key is
//! only caught by the generic entropy rule), passwords that look like words, and key formats not
//! listed here. The generic rule scores low (35) on purpose: long random-looking strings also
//! include hashes, package integrity values and ids.

use super::reason::{Reason, ScanLimits, clip, mask, push_capped, truncated};

const DETECTOR: &str = "secrets";

/// Shortest configured secret matched (shorter values would mangle ordinary text).
pub const MIN_KNOWN_BYTES: usize = 8;

/// Generic tokens: length bounds and the entropy floor in bits per char.
pub const MIN_TOKEN_CHARS: usize = 24;
/// Longest token the generic rule looks at (longer runs are data blobs, not keys).
pub const MAX_TOKEN_CHARS: usize = 256;
/// Shannon entropy a generic token needs, in bits per char.
pub const MIN_TOKEN_ENTROPY: f64 = 4.0;

/// What replaces a secret in `redact_found`.
pub const MARK: &str = "[REDACTED]";

/// Body characters a key format allows after its prefix.
#[derive(Clone, Copy)]
enum Body {
    /// `[A-Z0-9]`.
    Upper,
    /// `[A-Za-z0-9]`.
    Alnum,
    /// `[A-Za-z0-9_-]`.
    Url,
}

impl Body {
    fn allows(self, b: u8) -> bool {
        match self {
            Body::Upper => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Body::Alnum => b.is_ascii_alphanumeric(),
            Body::Url => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
        }
    }
}

/// `(prefixes, rule, score, body, min body chars, exact body chars)`.
type Format = (
    &'static [&'static str],
    &'static str,
    u32,
    Body,
    usize,
    Option<usize>,
);

/// Key formats by prefix; more specific prefixes come first (`sk-ant-` before `sk-`).
#[rustfmt::skip]
const FORMATS: &[Format] = &[
    (&["AKIA", "ASIA"], "secrets.aws_access_key", 85, Body::Upper, 16, Some(16)),
    (&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], "secrets.github_token", 90, Body::Alnum, 36, None),
    (&["github_pat_"], "secrets.github_token", 90, Body::Url, 22, None),
    (&["sk-ant-"], "secrets.anthropic_key", 90, Body::Url, 20, None),
    (&["sk-proj-"], "secrets.openai_key", 90, Body::Url, 20, None),
    (&["sk-"], "secrets.openai_key", 85, Body::Url, 32, None),
    (&["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"], "secrets.slack_token", 85, Body::Url, 10, None),
    (&["sk_live_", "rk_live_"], "secrets.stripe_key", 90, Body::Alnum, 16, None),
    (&["sk_test_", "rk_test_"], "secrets.stripe_key", 50, Body::Alnum, 16, None),
    (&["AIza"], "secrets.google_api_key", 80, Body::Url, 35, Some(35)),
    (&["glpat-"], "secrets.gitlab_token", 85, Body::Url, 20, None),
    (&["hf_"], "secrets.huggingface_token", 80, Body::Alnum, 34, None),
];

/// Names whose `= value` / `: value` is a credential.
#[rustfmt::skip]
const SECRET_NAMES: &[&str] = &[
    "password", "passwd", "secret", "api_key", "apikey", "api-key", "access_token", "auth_token",
    "client_secret", "private_key", "secret_key", "aws_secret_access_key", "bot_token",
];

/// Scans `text` for secrets; `known` are configured secret values (shorter than
/// `MIN_KNOWN_BYTES` are ignored).
pub fn scan_secrets(text: &str, known: &[&str], l: &ScanLimits) -> Vec<Reason> {
    let (s, cut) = clip(text, l.max_scan_bytes);
    let mut out = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut found = |out: &mut Vec<Reason>,
                     rule: &'static str,
                     score: u32,
                     span: (usize, usize),
                     detail: String| {
        if spans.iter().any(|&(a, b)| span.0 < b && a < span.1) {
            return;
        }
        spans.push(span);
        push_capped(out, Reason::new(DETECTOR, rule, score, Some(span), detail));
    };
    for (i, k) in known
        .iter()
        .enumerate()
        .filter(|(_, k)| k.len() >= MIN_KNOWN_BYTES)
    {
        for (at, _) in s.match_indices(k).take(16) {
            found(
                &mut out,
                "secrets.known",
                90,
                (at, at + k.len()),
                format!("configured secret #{i} ({} bytes)", k.len()),
            );
        }
    }
    let b = s.as_bytes();
    let boundary = |at: usize| {
        at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b'-')
    };
    for &(prefixes, rule, score, body, min, exact) in FORMATS {
        for p in prefixes {
            for (at, _) in s.match_indices(p) {
                if !boundary(at) {
                    continue;
                }
                let start = at + p.len();
                let n = b[start..].iter().take_while(|&&c| body.allows(c)).count();
                if n < min || exact.is_some_and(|e| n != e) {
                    continue;
                }
                let span = (at, start + n);
                found(
                    &mut out,
                    rule,
                    score,
                    span,
                    format!(
                        "{} {}",
                        rule.trim_start_matches("secrets.").replace('_', " "),
                        mask(&s[span.0..span.1])
                    ),
                );
            }
        }
    }
    for (at, _) in s.match_indices("eyJ") {
        if let Some(end) = jwt_end(b, at).filter(|_| boundary(at)) {
            found(
                &mut out,
                "secrets.jwt",
                70,
                (at, end),
                format!("json web token {}", mask(&s[at..end])),
            );
        }
    }
    for (at, _) in s.match_indices("-----BEGIN ") {
        let head_end = s[at + 11..].find("-----").map(|e| at + 11 + e);
        let Some(head_end) = head_end.filter(|&e| e - at < 64) else {
            continue;
        };
        if !s[at..head_end].ends_with("PRIVATE KEY")
            && !s[at..head_end].ends_with("PRIVATE KEY BLOCK")
        {
            continue;
        }
        let end = s[head_end..]
            .find("-----END ")
            .filter(|&e| e < 16 * 1024)
            .and_then(|e| {
                s[head_end + e + 9..]
                    .find("-----")
                    .map(|f| head_end + e + 9 + f + 5)
            })
            .unwrap_or(head_end + 5);
        found(
            &mut out,
            "secrets.private_key",
            95,
            (at, end),
            "pem private key".into(),
        );
    }
    assignments(s, &mut |rule, score, span, detail| {
        found(&mut out, rule, score, span, detail)
    });
    tokens(s, &mut |rule, score, span, detail| {
        found(&mut out, rule, score, span, detail)
    });
    if cut {
        push_capped(&mut out, truncated(DETECTOR, text, l.max_scan_bytes));
    }
    out
}

/// End of a JWT starting at `at` (`eyJ….eyJ….sig`, signature may be empty).
fn jwt_end(b: &[u8], at: usize) -> Option<usize> {
    let part = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-')
            .count()
    };
    let h = part(at);
    if h < 10 || b.get(at + h) != Some(&b'.') || !b[at + h + 1..].starts_with(b"eyJ") {
        return None;
    }
    let p = part(at + h + 1);
    if p < 10 || b.get(at + h + 1 + p) != Some(&b'.') {
        return None;
    }
    let sig = part(at + h + p + 2);
    Some(at + h + p + 2 + sig)
}

/// `password = "hunter22"`, `api_key: abc…`: the value's span.
fn assignments(s: &str, found: &mut dyn FnMut(&'static str, u32, (usize, usize), String)) {
    let lower = s.to_ascii_lowercase();
    let b = s.as_bytes();
    for name in SECRET_NAMES {
        for (at, _) in lower.match_indices(name) {
            if at > 0 && (b[at - 1].is_ascii_alphanumeric()) {
                continue;
            }
            let mut i = at + name.len();
            while i < b.len() && (b[i] == b' ' || b[i] == b'"' || b[i] == b'\'') {
                i += 1;
            }
            if i >= b.len() || !(b[i] == b'=' || b[i] == b':') {
                continue;
            }
            i += 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'"' || b[i] == b'\'') {
                i += 1;
            }
            let n = b[i..]
                .iter()
                .take_while(|c| {
                    !c.is_ascii_whitespace()
                        && !matches!(c, b'"' | b'\'' | b',' | b';' | b'}' | b')')
                })
                .count();
            let value = &lower[i..i + n];
            let placeholder = [
                "<", "$", "{", "%", "*", "xxx", "changeme", "example", "your", "redacted", "null",
                "none", "true", "false", "password", "secret", "...",
            ]
            .iter()
            .any(|p| value.starts_with(p) || value.contains("xxxx") || value.contains("****"));
            if n >= 8 && !placeholder && s.is_char_boundary(i) && s.is_char_boundary(i + n) {
                found(
                    "secrets.assignment",
                    55,
                    (i, i + n),
                    format!("value of `{name}` {}", mask(&s[i..i + n])),
                );
            }
        }
    }
}

/// Long random-looking tokens.
fn tokens(s: &str, found: &mut dyn FnMut(&'static str, u32, (usize, usize), String)) {
    let b = s.as_bytes();
    let tok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'/' | b'=');
    let mut i = 0;
    while i < b.len() {
        if !tok(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && tok(b[i]) {
            i += 1;
        }
        let t = &b[start..i];
        if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&t.len())
            || t.iter().filter(|&&c| c == b'/').count() >= 3
        {
            continue;
        }
        let classes = [
            t.iter().any(u8::is_ascii_uppercase),
            t.iter().any(u8::is_ascii_lowercase),
            t.iter().any(u8::is_ascii_digit),
            t.iter()
                .any(|c| matches!(c, b'_' | b'-' | b'+' | b'/' | b'=')),
        ];
        if !classes[2]
            || classes.iter().filter(|&&c| c).count() < 3
            || entropy(t) < MIN_TOKEN_ENTROPY
        {
            continue;
        }
        let text = String::from_utf8_lossy(t);
        found(
            "secrets.high_entropy",
            35,
            (start, i),
            format!("random-looking token {}", mask(&text)),
        );
    }
}

/// Shannon entropy of `t` in bits per byte.
fn entropy(t: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in t {
        counts[c as usize] += 1;
    }
    let n = t.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// `text` with the spans of `secrets` reasons replaced by `[REDACTED]` (overlaps merged, spans
/// that are out of range or not on char boundaries skipped).
pub fn redact_found(text: &str, reasons: &[Reason]) -> String {
    let mut spans: Vec<(usize, usize)> = reasons
        .iter()
        .filter(|r| r.detector == DETECTOR)
        .filter_map(|r| r.span)
        .filter(|&(a, b)| {
            a < b && b <= text.len() && text.is_char_boundary(a) && text.is_char_boundary(b)
        })
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (a, b) in spans {
        if b <= pos {
            continue;
        }
        let a = a.max(pos);
        out.push_str(&text[pos..a]);
        out.push_str(MARK);
        pos = b;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str) -> Vec<Reason> {
        scan_secrets(s, &[], &ScanLimits::default())
    }

    #[test]
    fn key_formats() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "key AKIAIOSFODNN7EXAMPLE here",
                "secrets.aws_access_key",
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (
                "export GH=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "secrets.github_token",
                "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            ),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
                "secrets.github_token",
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            ),
            (
                "OPENAI_API_KEY=sk-proj-Abc123Def456Ghi789Jkl0",
                "secrets.openai_key",
                "sk-proj-Abc123Def456Ghi789Jkl0",
            ),
            (
                "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
                "secrets.openai_key",
                "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
            ),
            (
                "x-api-key: sk-ant-api03-abcdefghijklmnopqrstuv",
                "secrets.anthropic_key",
                "sk-ant-api03-abcdefghijklmnopqrstuv",
            ),
            (
                "token xoxb-123456789012-abcdefghij",
                "secrets.slack_token",
                "xoxb-123456789012-abcdefghij",
            ),
            (
                "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "secrets.stripe_key",
                "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            ),
            (
                "AIzaSyA-1234567890abcdefghijklmnopqrstu",
                "secrets.google_api_key",
                "AIzaSyA-1234567890abcdefghijklmnopqrstu",
            ),
            (
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_-x",
                "secrets.jwt",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_-x",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n",
                "secrets.private_key",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----",
                "secrets.private_key",
                "-----BEGIN RSA PRIVATE KEY-----",
            ),
            (
                "password = \"hunter2hunter2\"",
                "secrets.assignment",
                "hunter2hunter2",
            ),
            (
                "DB_PASSWORD: s3cr3t-P4ss!",
                "secrets.assignment",
                "s3cr3t-P4ss!",
            ),
            (
                "token Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hf3Js5Wg0Ya",
                "secrets.high_entropy",
                "Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hf3Js5Wg0Ya",
            ),
            (
                "glpat-abcdefghij0123456789",
                "secrets.gitlab_token",
                "glpat-abcdefghij0123456789",
            ),
        ];
        for (text, rule, secret) in cases {
            let r = scan(text);
            let hit = r.iter().find(|x| x.rule == *rule);
            let span = hit.and_then(|h| h.span);
            assert_eq!(
                span.map(|(a, b)| &text[a..b]),
                Some(*secret),
                "{text:?}: {r:?}"
            );
            for x in &r {
                assert!(!x.detail.contains(secret), "detail leaks: {x:?}");
            }
        }
    }

    #[test]
    fn not_secrets() {
        let cases = [
            "the quick brown fox jumps over the lazy dog",
            "commit e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "uuid 123e4567-e89b-12d3-a456-426614174000",
            "AbstractSingletonProxyFactoryBean",
            "task-manager-service-deployment-config",
            "desk-abcdefghijklmnopqrstuvwxyz0123456789",
            "sk-learn is a python library",
            "AKIA is the prefix of aws access keys",
            "password = <your password here>",
            "password: ${DB_PASSWORD}",
            "api_key: xxxxxxxxxxxx",
            "-----BEGIN PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "eyJ is how base64 json starts",
            "a password is required",
        ];
        for text in cases {
            let r = scan(text);
            assert!(r.iter().all(|x| x.score < 40), "{text:?}: {r:?}");
        }
        assert!(scan("ordinary words only").is_empty());
    }

    #[test]
    fn known_values_and_redaction() {
        let text = "token=my-bot-token-123 and again my-bot-token-123; short=abc";
        let r = scan_secrets(text, &["my-bot-token-123", "abc"], &ScanLimits::default());
        let known: Vec<_> = r.iter().filter(|x| x.rule == "secrets.known").collect();
        assert_eq!(known.len(), 2);
        assert_eq!(known[0].score, 90);
        assert_eq!(known[0].detail, "configured secret #0 (16 bytes)");
        assert_eq!(
            redact_found(text, &r),
            "token=[REDACTED] and again [REDACTED]; short=abc"
        );
        let text = "key AKIAIOSFODNN7EXAMPLE, pw password=hunter22hunter22";
        let r = scan(text);
        assert_eq!(
            redact_found(text, &r),
            "key [REDACTED], pw password=[REDACTED]"
        );
        let bogus = vec![
            Reason::new(DETECTOR, "x", 1, Some((3, 999)), ""),
            Reason::new("url", "y", 1, Some((0, 2)), ""),
        ];
        assert_eq!(redact_found("hello", &bogus), "hello");
        let overlap = vec![
            Reason::new(DETECTOR, "a", 1, Some((0, 3)), ""),
            Reason::new(DETECTOR, "b", 1, Some((2, 5)), ""),
        ];
        assert_eq!(redact_found("abcdefg", &overlap), "[REDACTED][REDACTED]fg");
    }

    #[test]
    fn truncation_and_fuzz() {
        let l = ScanLimits {
            max_scan_bytes: 10,
            ..ScanLimits::default()
        };
        let r = scan_secrets("0123456789 AKIAIOSFODNN7EXAMPLE", &[], &l);
        assert_eq!(
            r.iter().map(|x| x.rule).collect::<Vec<_>>(),
            vec!["scan.truncated"]
        );
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let pieces = [
            "sk-",
            "AKIA",
            "eyJ",
            ".",
            "-----BEGIN ",
            "PRIVATE KEY",
            "-----",
            "password",
            "=",
            ":",
            "\"",
            "Ab9",
            "é",
            "xoxb-",
            "ghp_",
            " ",
            "\n",
            "AIza",
            "_-+/",
        ];
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            let r = scan_secrets(&s, &["password=", "Ab9Ab9Ab9"], &ScanLimits::default());
            let red = redact_found(&s, &r);
            assert!(red.len() <= s.len() + r.len() * MARK.len());
        }
    }
}
