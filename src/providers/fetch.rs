//! Plain bounded HTTP GET for the `http_get` tool.
//!
//! `get` is blocking (ureq): the caller runs it on the blocking pool, never on the executor. The
//! URL's scheme must be `http` or `https` and its host must match the `tools.http.allow` list
//! before any connection (or DNS lookup) happens. Redirects are not followed (a 3xx is reported
//! as it is, so a redirect cannot leave the allowlist), non-2xx statuses are results rather than
//! errors, the whole exchange has one global timeout, and at most `max_bytes` of the body are read.

use std::fmt;
use std::io::Read;
use std::time::Duration;

/// A fetched response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// HTTP status, including 3xx, 4xx and 5xx.
    pub status: u16,
    /// The `Content-Type` header, when present and valid text.
    pub content_type: Option<String>,
    /// The body, lossy UTF-8, at most `max_bytes` of it.
    pub body: String,
    /// True when the body was longer than `max_bytes`.
    pub truncated: bool,
}

/// Why a GET produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The URL does not parse, has no host, or its scheme is not http/https.
    BadUrl(String),
    /// The host is not in `tools.http.allow`.
    NotAllowed(String),
    /// The global timeout passed before the body was read.
    Timeout,
    /// Connecting, TLS or reading failed.
    Http(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::BadUrl(why) => write!(f, "bad url: {why}"),
            FetchError::NotAllowed(host) => {
                write!(f, "host {host} is not in tools.http.allow")
            }
            FetchError::Timeout => write!(f, "request timed out"),
            FetchError::Http(why) => write!(f, "request failed: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// True when `host` matches an `allow` entry: exactly, or `*.example.com` for any subdomain of
/// `example.com` (not `example.com` itself). Case-insensitive.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return false;
    }
    allow.iter().any(|pat| {
        let pat = pat.to_ascii_lowercase();
        match pat.strip_prefix("*.") {
            Some(base) => host
                .strip_suffix(base)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            None => host == pat,
        }
    })
}

/// Checks `url` (scheme, host, allowlist) and returns its lowercase host.
fn check_url(url: &str, allow: &[String]) -> Result<String, FetchError> {
    // The scheme is checked on the text first: `Uri` rejects some schemes (`file:///`) with a
    // less helpful "invalid format".
    match url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
    {
        Some(scheme) if scheme == "https" && !cfg!(feature = "tls") => {
            return Err(FetchError::BadUrl(
                "https needs a build with the `tls` feature".into(),
            ));
        }
        Some(scheme) if scheme == "http" || scheme == "https" => {}
        Some(other) => {
            return Err(FetchError::BadUrl(format!(
                "scheme {other:?} is not http or https"
            )));
        }
        None => {
            return Err(FetchError::BadUrl(
                "no scheme (use http:// or https://)".into(),
            ));
        }
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| FetchError::BadUrl(format!("{e}")))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| FetchError::BadUrl("no host".into()))?
        .to_ascii_lowercase();
    if !host_allowed(&host, allow) {
        return Err(FetchError::NotAllowed(host));
    }
    Ok(host)
}

/// GETs `url` if its host is allowed, within `timeout`, reading at most `max_bytes` of the body.
/// Blocking: run it on the pool.
pub fn get(
    url: &str,
    allow: &[String],
    timeout: Duration,
    max_bytes: usize,
) -> Result<Fetched, FetchError> {
    check_url(url, allow)?;
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(concat!("openclaw-edge/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut resp = agent.get(url).call().map_err(from_ureq)?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let mut bytes = Vec::with_capacity(max_bytes.min(64 * 1024));
    resp.body_mut()
        .as_reader()
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(from_io)?;
    let truncated = bytes.len() > max_bytes;
    bytes.truncate(max_bytes);
    Ok(Fetched {
        status,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        truncated,
    })
}

fn from_ureq(e: ureq::Error) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::Io(io) => from_io(io),
        other => FetchError::Http(other.to_string()),
    }
}

fn from_io(e: std::io::Error) -> FetchError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return FetchError::Timeout;
    }
    if let Some(ureq::Error::Timeout(_)) = e.get_ref().and_then(|i| i.downcast_ref()) {
        return FetchError::Timeout;
    }
    FetchError::Http(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_patterns() {
        let a = allow(&["example.com", "*.wikipedia.org"]);
        let cases = [
            ("example.com", true),
            ("EXAMPLE.com", true),
            ("www.example.com", false),
            ("en.wikipedia.org", true),
            ("de.m.wikipedia.org", true),
            ("wikipedia.org", false),
            ("evilwikipedia.org", false),
            (".wikipedia.org", false),
            ("example.com.evil.net", false),
            ("", false),
        ];
        for (host, want) in cases {
            assert_eq!(host_allowed(host, &a), want, "{host}");
        }
        assert!(!host_allowed("example.com", &[]));
    }

    #[test]
    fn refuses_before_connecting() {
        let a = allow(&["example.com"]);
        let t = Duration::from_secs(1);
        let cases = [
            (
                "https://evil.net/",
                FetchError::NotAllowed("evil.net".into()),
            ),
            (
                "http://example.com@evil.net/",
                FetchError::NotAllowed("evil.net".into()),
            ),
            (
                "ftp://example.com/x",
                FetchError::BadUrl("scheme \"ftp\" is not http or https".into()),
            ),
            (
                "file:///etc/passwd",
                FetchError::BadUrl("scheme \"file\" is not http or https".into()),
            ),
            (
                "example.com/x",
                FetchError::BadUrl("no scheme (use http:// or https://)".into()),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(get(url, &a, t, 100), Err(want), "{url}");
        }
        assert!(matches!(
            get("not a url", &a, t, 100),
            Err(FetchError::BadUrl(_))
        ));
        assert_eq!(
            FetchError::NotAllowed("evil.net".into()).to_string(),
            "host evil.net is not in tools.http.allow"
        );
    }

    #[test]
    fn reads_a_local_stub_with_a_cap_and_no_redirects() {
        use std::io::Write;
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for body in ["x".repeat(5000), String::new()] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let head = if body.is_empty() {
                    "HTTP/1.1 302 Found\r\nLocation: http://evil.net/\r\nContent-Length: 0\r\n"
                        .to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
                        body.len()
                    )
                };
                let _ = write!(s, "{head}Connection: close\r\n\r\n{body}");
            }
        });
        let a = allow(&["127.0.0.1"]);
        let t = Duration::from_secs(5);
        let url = format!("http://127.0.0.1:{port}/page");
        let f = get(&url, &a, t, 1000).unwrap();
        assert_eq!(f.status, 200);
        assert_eq!(f.content_type.as_deref(), Some("text/plain"));
        assert_eq!(f.body.len(), 1000);
        assert!(f.truncated);
        let f = get(&url, &a, t, 1000).unwrap();
        assert_eq!(f.status, 302);
        assert!(!f.truncated);
        server.join().unwrap();
    }
}
