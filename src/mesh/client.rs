//! The mesh's outbound protocol client: one WebSocket to a peer instance, on the executor.
//!
//! `connect` resolves the peer (an address literal directly, a name on the blocking pool),
//! opens TCP and the WebSocket upgrade with caps from `Limits`, waits for `connect.challenge`
//! and sends the signed `connect` built by `bridge::device` (the same identity and payload the
//! bridge client uses), then reads `hello-ok`. `request` sends one request and waits for its
//! `res`, skipping events; `next` reads the next frame. Nothing here has its own deadline:
//! callers race every call against theirs (`clock::within`), so a stalled peer costs at most the
//! caller's budget. Only `ws://` is spoken (config refuses `wss://` mesh peers).

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use serde_json::{Value, json};
use smol::Async;
use smol::stream::StreamExt;

use crate::bridge::device::{self, Hello, Identity};
use crate::config::mesh::MeshPeer;
use crate::gateway::Ctx;

/// tungstenite read buffer of one mesh connection (allocated per connection).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// An open, authenticated connection to a peer.
pub struct Conn {
    ws: WebSocketStream<Async<TcpStream>>,
    /// The peer's `hello-ok` payload.
    pub hello: Value,
    next_id: u64,
}

/// Resolves `host:port`: an address literal at once, a name on the blocking pool.
async fn resolve(ctx: &Ctx, host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let h = host.to_string();
    let found = ctx
        .pool
        .run(move || (h.as_str(), port).to_socket_addrs().map(|mut a| a.next()))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    match found {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(format!("no address for {host}")),
        Err(e) => Err(format!("cannot resolve {host}: {e}")),
    }
}

/// Connects to `peer` and completes the handshake as `hello` says.
pub async fn connect(
    ctx: &Ctx,
    peer: &MeshPeer,
    identity: &Identity,
    hello: &Hello<'_>,
) -> Result<Conn, String> {
    let addr = resolve(ctx, &peer.host, peer.port).await?;
    let stream = Async::<TcpStream>::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.get_ref().set_nodelay(true);
    let l = &ctx.config.limits;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(l.ws_max_write_buffer_bytes)
        .max_message_size(Some(l.max_message_bytes))
        .max_frame_size(Some(l.max_message_bytes));
    let (ws, _) =
        async_tungstenite::client_async_with_config(peer.url.as_str(), stream, Some(config))
            .await
            .map_err(|e| format!("websocket upgrade: {e}"))?;
    let mut conn = Conn {
        ws,
        hello: Value::Null,
        next_id: 0,
    };
    let challenge = loop {
        let v = conn.next().await?;
        if v["type"] == "event" && v["event"] == "connect.challenge" {
            break v["payload"].clone();
        }
    };
    let (nonce, signed_at) = device::challenge(&challenge)?;
    let req = identity.connect_request("connect", hello, &peer.auth, &nonce, signed_at);
    conn.send(&req).await?;
    let res = conn.wait_res("connect").await?;
    if res["ok"] != true {
        return Err(device::refusal(&res));
    }
    conn.hello = res["payload"].clone();
    Ok(conn)
}

impl Conn {
    /// Sends one frame.
    pub async fn send(&mut self, v: &Value) -> Result<(), String> {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// The next JSON frame (non-JSON frames are skipped, as the reference client does).
    pub async fn next(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                        return Ok(v);
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(match c {
                        Some(c) => {
                            format!("closed by the peer: {} {}", u16::from(c.code), c.reason)
                        }
                        None => "closed by the peer".into(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("connection closed".into()),
            }
        }
    }

    async fn wait_res(&mut self, id: &str) -> Result<Value, String> {
        loop {
            let v = self.next().await?;
            if v["type"] == "res" && v["id"] == id {
                return Ok(v);
            }
        }
    }

    /// Calls `method` and returns its payload, or the peer's error as text.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = format!("m{}", self.next_id);
        self.send(&json!({"type": "req", "id": id, "method": method, "params": params}))
            .await?;
        let res = self.wait_res(&id).await?;
        if res["ok"] == true {
            Ok(res["payload"].clone())
        } else {
            let e = &res["error"];
            Err(format!(
                "{method} answered {}: {}",
                e["code"].as_str().unwrap_or("ERROR"),
                e["message"].as_str().unwrap_or("")
            ))
        }
    }

    /// Closes the connection (best effort).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
