//! Protocol client for `call`, `health` and `status`: a real OpenClaw gateway client.
//!
//! Connects over `ws://`, waits for `connect.challenge`, sends `connect` (client id `cli`, mode
//! `cli`, protocol 4, the full operator scope set, the shared secret), then one request, and
//! prints its `res`. Events in between are skipped. Everything runs under one deadline.
//! Credentials, in order: flags, `OPENCLAW_EDGE_GATEWAY_TOKEN`/`OPENCLAW_GATEWAY_TOKEN` (or the
//! password env), the config, the generated token file in the state dir.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use async_tungstenite::client_async_with_config;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use serde_json::{Value, json};
use smol::Async;
use smol::stream::StreamExt;

use crate::config::{AuthMode, Config, OPERATOR_SCOPES, Overrides};

/// Where and how to connect.
#[derive(Debug)]
pub struct Target {
    url: String,
    token: Option<String>,
    password: Option<String>,
    problem: Option<String>,
}

impl Target {
    /// Resolves URL and credential from flags, env and config.
    pub fn resolve(
        ov: &Overrides,
        url: Option<String>,
        token: Option<String>,
        password: Option<String>,
    ) -> Target {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let config = Config::load(ov);
        let url = url
            .or_else(|| env("OPENCLAW_GATEWAY_URL"))
            .or_else(|| {
                config.as_ref().ok().map(|c| {
                    let mut a = c.bind;
                    if a.ip().is_unspecified() {
                        a.set_ip([127, 0, 0, 1].into());
                    }
                    format!("ws://{a}")
                })
            })
            .unwrap_or_else(|| format!("ws://{}", crate::config::DEFAULT_BIND));
        let mut t = Target {
            url,
            token,
            password,
            problem: None,
        };
        if t.token.is_some() || t.password.is_some() {
            return t;
        }
        t.token = env("OPENCLAW_EDGE_GATEWAY_TOKEN").or_else(|| env("OPENCLAW_GATEWAY_TOKEN"));
        t.password =
            env("OPENCLAW_EDGE_GATEWAY_PASSWORD").or_else(|| env("OPENCLAW_GATEWAY_PASSWORD"));
        if t.token.is_some() || t.password.is_some() {
            return t;
        }
        match config {
            Ok(c) => match (&c.auth.secret, c.auth.mode) {
                (Some(s), AuthMode::Token) => t.token = Some(s.expose().to_string()),
                (Some(s), AuthMode::Password) => t.password = Some(s.expose().to_string()),
                (None, _) => {
                    let p = c.state_dir.join(crate::app::TOKEN_FILE);
                    match std::fs::read_to_string(&p) {
                        Ok(s) => t.token = Some(s.trim().to_string()),
                        Err(e) => {
                            t.problem =
                                Some(format!("no credential given and {}: {e}", p.display()))
                        }
                    }
                }
            },
            Err(e) => {
                t.problem = Some(format!(
                    "no credential given and the config is invalid: {e}"
                ))
            }
        }
        t
    }
}

/// A failed call: a wire error object or a local problem.
#[derive(Debug)]
pub enum CallError {
    /// The gateway answered `ok:false` with this error object.
    Rpc(Value),
    /// Connecting, the handshake or the transport failed.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Rpc(e) => write!(
                f,
                "{}: {}",
                e["code"].as_str().unwrap_or("ERROR"),
                e["message"].as_str().unwrap_or("")
            ),
            CallError::Transport(m) => write!(f, "{m}"),
        }
    }
}

/// `call`: prints the payload (pretty, or compact with `--json`); exit 1 on failure.
pub fn run_call(
    t: Target,
    method: &str,
    params: Option<&str>,
    json_out: bool,
    timeout_ms: u64,
) -> u8 {
    let params = match params.map(serde_json::from_str::<Value>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            eprintln!("openclaw-edge: --params is not valid JSON: {e}");
            return 2;
        }
    };
    match call(&t, method, params, Duration::from_millis(timeout_ms)) {
        Ok(v) => {
            if json_out {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            0
        }
        Err(e) => report(&e, json_out),
    }
}

/// `health`: one line for people, the payload with `--json`.
pub fn run_health(t: Target, json_out: bool) -> u8 {
    match call(&t, "health", None, Duration::from_secs(10)) {
        Ok(v) if json_out => {
            println!("{v}");
            0
        }
        Ok(v) => {
            println!(
                "gateway {} ok={} ({} ms) sessions={}",
                t.url, v["ok"], v["durationMs"], v["sessions"]["count"]
            );
            0
        }
        Err(e) => report(&e, json_out),
    }
}

pub fn report(e: &CallError, json_out: bool) -> u8 {
    if json_out {
        let err = match e {
            CallError::Rpc(v) => v.clone(),
            CallError::Transport(m) => json!({"code": "TRANSPORT", "message": m}),
        };
        println!("{}", json!({"ok": false, "error": err}));
    }
    eprintln!("openclaw-edge: {e}");
    1
}

/// Connects, authenticates and performs one request.
pub fn call(
    t: &Target,
    method: &str,
    params: Option<Value>,
    timeout: Duration,
) -> Result<Value, CallError> {
    if let Some(p) = &t.problem {
        return Err(CallError::Transport(p.clone()));
    }
    let (host_port, _path) = parse_ws_url(&t.url).map_err(CallError::Transport)?;
    // Resolved before the executor starts: this is a short-lived CLI, not the gateway thread.
    let addr: SocketAddr = host_port
        .to_socket_addrs()
        .map_err(|e| CallError::Transport(format!("cannot resolve {host_port}: {e}")))?
        .next()
        .ok_or_else(|| CallError::Transport(format!("no address for {host_port}")))?;
    let work = exchange(t, addr, method, params);
    smol::block_on(crate::clock::within(timeout, work)).unwrap_or_else(|| {
        Err(CallError::Transport(format!(
            "gateway timeout after {} ms ({})",
            timeout.as_millis(),
            t.url
        )))
    })
}

async fn exchange(
    t: &Target,
    addr: SocketAddr,
    method: &str,
    params: Option<Value>,
) -> Result<Value, CallError> {
    let tr = |m: String| CallError::Transport(m);
    let stream = Async::<TcpStream>::connect(addr)
        .await
        .map_err(|e| tr(format!("cannot connect to {}: {e}", t.url)))?;
    let cfg = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(32 << 20));
    let (mut ws, _) = client_async_with_config(t.url.as_str(), stream, Some(cfg))
        .await
        .map_err(|e| tr(format!("websocket upgrade failed: {e}")))?;
    // 1. challenge
    loop {
        let v = next_json(&mut ws).await?;
        if v["type"] == "event" && v["event"] == "connect.challenge" {
            break;
        }
    }
    // 2. connect
    let mut auth = serde_json::Map::new();
    if let Some(tok) = &t.token {
        auth.insert("token".into(), json!(tok));
    }
    if let Some(pw) = &t.password {
        auth.insert("password".into(), json!(pw));
    }
    let connect = json!({"type": "req", "id": "1", "method": "connect", "params": {
        "minProtocol": crate::gateway::PROTOCOL_VERSION, "maxProtocol": crate::gateway::PROTOCOL_VERSION,
        "client": {"id": "cli", "version": env!("CARGO_PKG_VERSION"), "platform": std::env::consts::OS, "mode": "cli"},
        "role": "operator", "scopes": OPERATOR_SCOPES, "caps": [], "auth": auth,
    }});
    send(&mut ws, connect).await?;
    let hello = wait_res(&mut ws, "1").await?;
    if hello["ok"] != true {
        return Err(CallError::Rpc(hello["error"].clone()));
    }
    // 3. the request
    let mut req = json!({"type": "req", "id": "2", "method": method});
    if let Some(p) = params {
        req["params"] = p;
    }
    send(&mut ws, req).await?;
    let mut res = wait_res(&mut ws, "2").await?;
    // `agent` answers twice on one id: `accepted`, then the final (upstream's expect-final).
    if res["ok"] == true && res["payload"]["status"] == "accepted" {
        res = wait_res(&mut ws, "2").await?;
    }
    let _ = ws.close(None).await;
    if res["ok"] == true {
        Ok(res.get("payload").cloned().unwrap_or(Value::Null))
    } else {
        Err(CallError::Rpc(res["error"].clone()))
    }
}

type Ws = async_tungstenite::WebSocketStream<Async<TcpStream>>;

async fn send(ws: &mut Ws, v: Value) -> Result<(), CallError> {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .map_err(|e| CallError::Transport(format!("send failed: {e}")))
}

async fn next_json(ws: &mut Ws) -> Result<Value, CallError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                    return Ok(v);
                }
            }
            Some(Ok(Message::Close(c))) => {
                let why = c
                    .map(|c| format!("{} {}", u16::from(c.code), c.reason))
                    .unwrap_or_default();
                return Err(CallError::Transport(format!(
                    "gateway closed the connection {why}"
                )));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(CallError::Transport(format!("connection failed: {e}"))),
            None => return Err(CallError::Transport("connection closed".into())),
        }
    }
}

async fn wait_res(ws: &mut Ws, id: &str) -> Result<Value, CallError> {
    loop {
        let v = next_json(ws).await?;
        if v["type"] == "res" && v["id"] == id {
            return Ok(v);
        }
    }
}

/// Splits `ws://host:port/path` into (`host:port`, `/path`); `wss://` is refused clearly.
pub fn parse_ws_url(url: &str) -> Result<(String, String), String> {
    let rest = match url.strip_prefix("ws://") {
        Some(r) => r,
        None if url.starts_with("wss://") => {
            return Err("wss:// is not supported by the built-in client; connect to the ws:// port behind your TLS proxy".into());
        }
        None => return Err(format!("not a ws:// URL: {url}")),
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if hostport.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let hp = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    Ok((hp, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_ws_url("ws://127.0.0.1:18789").unwrap(),
            ("127.0.0.1:18789".to_string(), "/".to_string())
        );
        assert_eq!(parse_ws_url("ws://pi.local/x").unwrap().0, "pi.local:80");
        assert!(
            parse_ws_url("wss://a:1")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_ws_url("http://a").is_err());
    }
}
