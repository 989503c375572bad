//! VirusTotal v3 lookups: URL and file-hash reports (blocking; run on the pool).
//!
//! `GET {base}/urls/{base64url(url) without padding}` and `GET {base}/files/{sha256}` with the
//! `x-apikey` header; the answer's `data.attributes.last_analysis_stats` counts engines. 404 means
//! VirusTotal has no report (not "clean"). The base URL is configurable so tests use a local
//! server; the agent has every timeout set and reads at most `max_bytes` of an answer.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

/// What VirusTotal knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Engine counts from the last analysis.
    Found {
        /// Engines that flag it malicious.
        malicious: u64,
        /// Engines that flag it suspicious.
        suspicious: u64,
        /// Engines that call it harmless.
        harmless: u64,
    },
    /// No report exists.
    NotFound,
}

/// Why a lookup gave no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VtError {
    /// 429: quota exhausted.
    RateLimited,
    /// 401/403: the key is wrong.
    Unauthorized,
    /// No answer in time.
    Timeout,
    /// Transport or other status.
    Http(String),
    /// The answer was not the documented shape.
    Malformed(String),
}

impl std::fmt::Display for VtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VtError::RateLimited => f.write_str("rate limited (429)"),
            VtError::Unauthorized => f.write_str("api key refused"),
            VtError::Timeout => f.write_str("timed out"),
            VtError::Http(e) => write!(f, "http: {e}"),
            VtError::Malformed(e) => write!(f, "malformed answer: {e}"),
        }
    }
}

impl std::error::Error for VtError {}

/// What to look up.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A URL.
    Url(String),
    /// A file by SHA-256 (hex).
    File(String),
}

/// Answers larger than this are refused (a real report is a few KiB to ~100 KiB).
pub const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// A VirusTotal client: base URL, key and an agent with every timeout set.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: crate::config::Secret,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base` (no trailing slash) with `key`; `timeout` bounds each lookup.
    pub fn new(base: &str, key: crate::config::Secret, timeout: Duration) -> Client {
        Client {
            agent: agent(timeout),
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    /// Looks `subject` up (blocking: run it on the pool).
    pub fn lookup(&self, subject: &Subject) -> Result<Report, VtError> {
        lookup(
            &self.agent,
            &self.base,
            self.key.expose(),
            subject,
            MAX_ANSWER_BYTES,
        )
    }
}

/// An agent for VirusTotal with every timeout set to `timeout`.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout))
        .timeout_per_read(Some(timeout))
        .user_agent(format!("openclaw-edge/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Looks `subject` up.
fn lookup(
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    subject: &Subject,
    max_bytes: usize,
) -> Result<Report, VtError> {
    let url = match subject {
        Subject::Url(u) => format!("{base}/urls/{}", crate::ids::base64url(u.as_bytes())),
        Subject::File(sha) => {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(VtError::Malformed("file hash must be 64 hex digits".into()));
            }
            format!("{base}/files/{}", sha.to_ascii_lowercase())
        }
    };
    let resp = agent
        .get(&url)
        .header("x-apikey", key)
        .header("accept", "application/json")
        .call()
        .map_err(|e| match e {
            ureq::Error::Timeout(_) => VtError::Timeout,
            other => VtError::Http(other.to_string()),
        })?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| VtError::Http(e.to_string()))?;
    match status {
        200 => {}
        404 => return Ok(Report::NotFound),
        429 => return Err(VtError::RateLimited),
        401 | 403 => return Err(VtError::Unauthorized),
        s => return Err(VtError::Http(format!("status {s}"))),
    }
    if body.len() > max_bytes {
        return Err(VtError::Malformed(format!("answer over {max_bytes} bytes")));
    }
    parse(&body)
}

/// Reads `data.attributes.last_analysis_stats` from a report.
pub fn parse(body: &[u8]) -> Result<Report, VtError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| VtError::Malformed(e.to_string()))?;
    let stats = v
        .pointer("/data/attributes/last_analysis_stats")
        .ok_or_else(|| VtError::Malformed("no data.attributes.last_analysis_stats".into()))?;
    let n = |k: &str| stats.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(Report::Found {
        malicious: n("malicious"),
        suspicious: n("suspicious"),
        harmless: n("harmless"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let body = br#"{"data":{"id":"x","type":"url","attributes":{"last_analysis_stats":{"harmless":70,"malicious":3,"suspicious":1,"undetected":20,"timeout":0}}}}"#;
        assert_eq!(
            parse(body),
            Ok(Report::Found {
                malicious: 3,
                suspicious: 1,
                harmless: 70
            })
        );
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn bad_hashes_are_refused_before_any_request() {
        let a = agent(Duration::from_millis(50));
        let e = lookup(
            &a,
            "http://127.0.0.1:9",
            "k",
            &Subject::File("xyz".into()),
            1024,
        )
        .unwrap_err();
        assert!(matches!(e, VtError::Malformed(_)));
    }
}
