//! HTTP on the gateway port: request heads, WebSocket upgrade detection and the HTTP routes.
//!
//! Routes: `GET /healthz` (liveness), `GET /readyz` (readiness: 503 while stopping),
//! `GET /rpc/methods` (implemented methods and their scopes), `POST /rpc` (one JSON request →
//! one JSON response, `Authorization: Bearer <token or password>` required, 401 otherwise).
//! Heads are capped (`limits.http_max_head_bytes`, `limits.http_max_headers`), bodies too
//! (`limits.http_max_body_bytes`), and the whole read has a deadline (`limits.http_timeout_ms`).
//! Every response closes the connection: there is no keep-alive to bound.

use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};
use smol::Async;
use smol::io::{AsyncReadExt, AsyncWriteExt};

use super::auth::secret_eq;
use super::dispatch::{self, Method};
use super::{Ctx, Role};
use crate::clock::{now_ms, within};
use crate::config::Limits;
use crate::rpc::error::RpcError;

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// Request method (`GET`, `POST`, ...).
    pub method: String,
    /// Request target, query string removed.
    pub path: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a WebSocket upgrade request.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.method == "GET"
            && self
                .header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
            && self.header("sec-websocket-key").is_some()
    }
}

/// Why a request head was refused; each maps to a status code.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadError {
    /// Head larger than the cap → 431.
    TooLarge { max: usize },
    /// More header lines than the cap → 431.
    TooManyHeaders { max: usize },
    /// Not HTTP/1.x → 400.
    Malformed(&'static str),
    /// The peer closed or the socket failed before a full head.
    Closed,
}

/// Parses a complete head (up to and excluding the blank line).
pub fn parse_head(bytes: &[u8], max_headers: usize) -> Result<Head, HeadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| HeadError::Malformed("head is not utf-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(HeadError::Malformed("empty request"))?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(HeadError::Malformed("bad request line")),
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(HeadError::Malformed("bad request line"));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if headers.len() == max_headers {
            return Err(HeadError::TooManyHeaders { max: max_headers });
        }
        let (k, v) = line
            .split_once(':')
            .ok_or(HeadError::Malformed("bad header line"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Head {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or("/").to_string(),
        headers,
    })
}

/// Reads a request head; returns it and any bytes read past it.
pub async fn read_head(
    stream: &mut Async<TcpStream>,
    limits: &Limits,
) -> Result<(Head, Vec<u8>), HeadError> {
    let max = limits.http_max_head_bytes;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = find_blank_line(&buf[scan_from..]) {
            let end = scan_from + pos;
            if end > max {
                return Err(HeadError::TooLarge { max });
            }
            let head = parse_head(&buf[..end], limits.http_max_headers)?;
            let rest = buf[end + 4..].to_vec();
            return Ok((head, rest));
        }
        if buf.len() > max {
            return Err(HeadError::TooLarge { max });
        }
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Writes a full response and closes (best effort, within the write timeout).
pub async fn respond(
    stream: &mut Async<TcpStream>,
    status: u16,
    extra_headers: &str,
    body: &Value,
    write_timeout: Duration,
) {
    let body = body.to_string();
    let text = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        reason(status),
        body.len()
    );
    let write = async {
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.flush().await;
    };
    let _ = within(write_timeout, write).await;
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Status and body for a refused head.
pub fn head_error_response(e: &HeadError) -> Option<(u16, Value)> {
    match e {
        HeadError::TooLarge { max } => Some((
            431,
            json!({"ok": false, "error": format!("request head larger than {max} bytes")}),
        )),
        HeadError::TooManyHeaders { max } => Some((
            431,
            json!({"ok": false, "error": format!("more than {max} header lines")}),
        )),
        HeadError::Malformed(m) => Some((400, json!({"ok": false, "error": m}))),
        HeadError::Closed => None,
    }
}

/// Serves one plain HTTP request.
pub async fn handle(
    ctx: Rc<Ctx>,
    mut stream: Async<TcpStream>,
    head: Head,
    leftover: Vec<u8>,
    addr: SocketAddr,
) {
    let wt = Duration::from_millis(ctx.config.limits.write_timeout_ms);
    let (status, extra, body) = route(&ctx, &mut stream, &head, leftover, addr).await;
    respond(&mut stream, status, extra, &body, wt).await;
}

async fn route(
    ctx: &Rc<Ctx>,
    stream: &mut Async<TcpStream>,
    head: &Head,
    leftover: Vec<u8>,
    addr: SocketAddr,
) -> (u16, &'static str, Value) {
    match (head.method.as_str(), head.path.as_str()) {
        ("GET" | "HEAD", "/healthz") => (200, "", json!({"ok": true, "status": "live"})),
        ("GET" | "HEAD", "/readyz") => {
            let stopping = ctx.shutdown.is_triggered();
            let body = json!({
                "ready": !stopping,
                "failing": if stopping { vec!["shutting-down"] } else { Vec::new() },
                "uptimeMs": ctx.uptime_ms(),
            });
            (if stopping { 503 } else { 200 }, "", body)
        }
        ("GET", "/rpc/methods") => {
            let methods: Vec<Value> = Method::all()
                .map(|m| json!({"name": m.as_str(), "scope": m.scope()}))
                .collect();
            (200, "", json!({"methods": methods}))
        }
        ("POST", "/rpc") => rpc(ctx, stream, head, leftover, addr).await,
        (_, "/healthz" | "/readyz" | "/rpc/methods" | "/rpc") => {
            (405, "", json!({"ok": false, "error": "method not allowed"}))
        }
        _ => (404, "", json!({"ok": false, "error": "not found"})),
    }
}

async fn rpc(
    ctx: &Rc<Ctx>,
    stream: &mut Async<TcpStream>,
    head: &Head,
    leftover: Vec<u8>,
    addr: SocketAddr,
) -> (u16, &'static str, Value) {
    const BEARER: &str = "WWW-Authenticate: Bearer realm=\"openclaw-edge\"\r\n";
    let now = now_ms();
    if let Err(retry_ms) = ctx.limiter.borrow().check(addr.ip(), now) {
        let body = json!({"ok": false, "error": {"code": "INVALID_REQUEST", "message": "unauthorized: too many failed authentication attempts",
            "details": {"code": "AUTH_RATE_LIMITED"}, "retryable": true, "retryAfterMs": retry_ms}});
        return (429, "", body);
    }
    let offered = head
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let authorized = offered.is_some_and(|o| secret_eq(o, ctx.secret.expose()));
    if !authorized {
        ctx.limiter.borrow_mut().fail(addr.ip(), now);
        let (code, msg) = match offered {
            None => ("AUTH_REQUIRED", "unauthorized: missing bearer credential"),
            Some(_) => ("AUTH_UNAUTHORIZED", "unauthorized: credential mismatch"),
        };
        let body = json!({"ok": false, "error": {"code": "INVALID_REQUEST", "message": msg, "details": {"code": code}, "retryable": false}});
        return (401, BEARER, body);
    }
    ctx.limiter.borrow_mut().succeed(addr.ip());

    let max = ctx.config.limits.http_max_body_bytes;
    let len = match head.header("content-length").map(|v| v.parse::<usize>()) {
        Some(Ok(n)) => n,
        Some(Err(_)) => return (400, "", json!({"ok": false, "error": "bad content-length"})),
        None => {
            return (
                411,
                "",
                json!({"ok": false, "error": "content-length required"}),
            );
        }
    };
    if len > max {
        return (
            413,
            "",
            json!({"ok": false, "error": format!("body too large: {len} > {max} bytes")}),
        );
    }
    let mut body = leftover;
    body.truncate(len);
    if body.len() < len {
        let start = body.len();
        body.resize(len, 0);
        let limit = Duration::from_millis(ctx.config.limits.http_timeout_ms);
        let read = stream.read_exact(&mut body[start..]);
        if within(limit, read).await.is_none_or(|r| r.is_err()) {
            return (
                408,
                "",
                json!({"ok": false, "error": "request body not received in time"}),
            );
        }
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let err = RpcError::InvalidRequest(format!("malformed json: {e}"));
            return (400, "", json!({"ok": false, "error": err.to_json()}));
        }
    };
    let id = req.get("id").cloned();
    let Some(name) = req.get("method").and_then(Value::as_str) else {
        let err =
            RpcError::InvalidRequest("body must be {\"method\": string, \"params\"?: any}".into());
        return (
            400,
            "",
            json!({"id": id, "ok": false, "error": err.to_json()}),
        );
    };
    let params = req.get("params").cloned();
    let result = match dispatch::authorize(Role::Operator, &ctx.config.auth.scopes, name) {
        Ok(m) => super::conn::call_with_timeout(ctx, None, "", m, params).await,
        Err(e) => Err(e),
    };
    ctx.stats.requests.set(ctx.stats.requests.get() + 1);
    match result {
        Ok(payload) => (200, "", json!({"id": id, "ok": true, "payload": payload})),
        Err(e) => (
            e.http_status(),
            "",
            json!({"id": id, "ok": false, "error": e.to_json()}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upgrade_head() {
        let raw = b"GET /?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n";
        let h = parse_head(raw, 8).unwrap();
        assert_eq!(h.path, "/");
        assert!(h.is_websocket_upgrade());
        assert_eq!(h.header("HOST"), Some("a"));
    }

    #[test]
    fn refuses_bad_heads() {
        assert!(matches!(
            parse_head(b"GARBAGE", 8),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            parse_head(b"GET / SPDY/3\r\n", 8),
            Err(HeadError::Malformed(_))
        ));
        let many: String = (0..10).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}");
        assert_eq!(
            parse_head(raw.as_bytes(), 8),
            Err(HeadError::TooManyHeaders { max: 8 })
        );
        assert!(
            !parse_head(b"POST /rpc HTTP/1.1\r\nUpgrade: websocket\r\n", 8)
                .unwrap()
                .is_websocket_upgrade()
        );
    }
}
