//! One socket: read the HTTP head, then either serve HTTP or run a WebSocket session.
//!
//! A session is one task that waits on three things at once: a close request (slow consumer,
//! shutdown), the next outbound frame, and the next inbound message. Requests run as their own
//! tasks, at most `limits.max_inflight_per_conn` per connection (more → `UNAVAILABLE`, retryable),
//! so a slow method never holds up `health` on the same socket. Replies and events go through the
//! peer's bounded outbound queue; every socket write has a deadline.

use std::cell::Cell;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::error::CapacityError;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use serde_json::Value;
use smol::Async;
use smol::io::AsyncWriteExt;
use smol::stream::StreamExt;

use super::dispatch::{self, Method};
use super::frame::{self, FrameError};
use super::hub::{Close, Peer, PeerQueues};
use super::{Ctx, WsRx, WsTx, handshake, http, send_close, send_text};
use crate::clock::within;
use crate::rpc::error::RpcError;

/// Serves one accepted socket until it closes.
pub async fn serve(ctx: Rc<Ctx>, mut stream: Async<TcpStream>, addr: SocketAddr) {
    let limits = &ctx.config.limits;
    let wt = Duration::from_millis(limits.write_timeout_ms);
    let read = http::read_head(&mut stream, limits);
    let head = within(Duration::from_millis(limits.http_timeout_ms), read).await;
    let (head, leftover) = match head.map(|r| r.map_err(Some)).unwrap_or(Err(None)) {
        Ok(h) => h,
        Err(None) => {
            let body =
                serde_json::json!({"ok": false, "error": "request head not received in time"});
            http::respond(&mut stream, 408, "", &body, wt).await;
            return;
        }
        Err(Some(e)) => {
            if let Some((status, body)) = http::head_error_response(&e) {
                log::debug!("http from {addr}: {e:?}");
                http::respond(&mut stream, status, "", &body, wt).await;
            }
            return;
        }
    };
    if head.path.starts_with("/__openclaw__/") || !head.is_websocket_upgrade() {
        http::handle(ctx, stream, head, leftover, addr).await;
        return;
    }
    if head.header("sec-websocket-version") != Some("13") {
        let body =
            serde_json::json!({"ok": false, "error": "unsupported websocket version (need 13)"});
        http::respond(&mut stream, 400, "Sec-WebSocket-Version: 13\r\n", &body, wt).await;
        return;
    }
    let key = head.header("sec-websocket-key").unwrap_or_default();
    // permessage-deflate is offered by the real CLI but not negotiated (as upstream).
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    let wrote = within(wt, stream.write_all(accept.as_bytes())).await;
    if wrote.is_none_or(|r| r.is_err()) {
        return;
    }
    let ws = WebSocketStream::from_partially_read(
        stream,
        leftover,
        WsRole::Server,
        Some(ws_config(&ctx)),
    )
    .await;
    let (mut tx, mut rx) = ws.split();
    if let Some((peer, queues)) = handshake::run(&ctx, &mut tx, &mut rx, addr).await {
        session(&ctx, &peer, queues, &mut tx, &mut rx).await;
        ctx.hub.remove(&peer.conn_id);
        crate::mesh::disconnected(&ctx, &peer);
        log::info!("conn {}: disconnected", peer.conn_id);
    }
}

/// The tungstenite config for one socket, all from `Limits`.
pub fn ws_config(ctx: &Ctx) -> WebSocketConfig {
    let l = &ctx.config.limits;
    WebSocketConfig::default()
        .read_buffer_size(l.ws_read_buffer_bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(l.ws_max_write_buffer_bytes)
        .max_message_size(Some(l.max_message_bytes))
        .max_frame_size(Some(l.max_frame_bytes.max(l.max_preauth_frame_bytes)))
}

enum Step {
    Kill(Option<Close>),
    Out(Option<super::hub::Out>),
    In(Option<Result<Message, WsError>>),
}

async fn session(ctx: &Rc<Ctx>, peer: &Rc<Peer>, q: PeerQueues, tx: &mut WsTx, rx: &mut WsRx) {
    let wt = Duration::from_millis(ctx.config.limits.write_timeout_ms);
    let inflight = Rc::new(Cell::new(0usize));
    loop {
        let step = smol::future::or(
            async { Step::Kill(q.kill.recv().await.ok()) },
            smol::future::or(async { Step::Out(q.out.recv().await.ok()) }, async {
                Step::In(rx.next().await)
            }),
        )
        .await;
        match step {
            Step::Kill(close) => {
                let close = close.unwrap_or(Close {
                    code: 1011,
                    reason: "internal".into(),
                });
                // Deliver what is already queued (e.g. the shutdown event), then close.
                if close.code != 1008 {
                    while let Ok(out) = q.out.try_recv() {
                        if !send_text(tx, out.render(), wt).await {
                            break;
                        }
                    }
                }
                log::info!(
                    "conn {}: closing {} {}",
                    peer.conn_id,
                    close.code,
                    close.reason
                );
                send_close(tx, &close, wt.min(Duration::from_millis(500))).await;
                return;
            }
            Step::Out(Some(out)) => {
                let write = async { Ok(send_text(tx, out.render(), wt).await) };
                let killed = async { Err(q.kill.recv().await.ok()) };
                match smol::future::or(write, killed).await {
                    Ok(true) => {}
                    Ok(false) => {
                        log::warn!("conn {}: write stalled or failed: dropping", peer.conn_id);
                        return;
                    }
                    Err(close) => {
                        log::warn!(
                            "conn {}: dropped mid-write ({})",
                            peer.conn_id,
                            close.map(|c| c.reason).unwrap_or_default()
                        );
                        return;
                    }
                }
            }
            Step::Out(None) => return,
            Step::In(Some(Ok(Message::Text(t)))) => {
                if let Some(close) = on_text(ctx, peer, &inflight, t.as_str()) {
                    send_close(tx, &close, wt).await;
                    return;
                }
            }
            Step::In(Some(Ok(Message::Binary(_)))) => {
                let close = Close {
                    code: 1003,
                    reason: "binary frames are not supported".into(),
                };
                send_close(tx, &close, wt).await;
                return;
            }
            Step::In(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => {}
            Step::In(Some(Err(WsError::Capacity(e)))) => {
                log::info!("conn {}: {e}", peer.conn_id);
                // The limit that was hit: a single frame past `max_frame_bytes` and a message
                // past `max_message_bytes` both come as `MessageTooLong` with that limit.
                let reason = match e {
                    CapacityError::MessageTooLong { size, max_size } => {
                        format!("message too big ({size} bytes, max {max_size})")
                    }
                    _ => format!(
                        "message too big (max {} bytes)",
                        ctx.config.limits.max_message_bytes
                    ),
                };
                let close = Close { code: 1009, reason };
                send_close(tx, &close, wt).await;
                return;
            }
            Step::In(Some(Ok(Message::Close(_))) | None) => return,
            Step::In(Some(Err(e))) => {
                log::debug!("conn {}: read error: {e}", peer.conn_id);
                return;
            }
        }
    }
}

/// Handles one inbound text frame; `Some(close)` ends the session.
fn on_text(
    ctx: &Rc<Ctx>,
    peer: &Rc<Peer>,
    inflight: &Rc<Cell<usize>>,
    text: &str,
) -> Option<Close> {
    let req = match frame::parse(text, ctx.config.limits.max_message_bytes) {
        Ok(r) => r,
        Err(FrameError::Invalid {
            id: Some(id),
            reason,
        }) => {
            let err = RpcError::InvalidRequest(format!("invalid request frame: {reason}"));
            peer.send(frame::res_err(&id, &err));
            return None;
        }
        Err(e) => {
            log::info!("conn {}: {e}", peer.conn_id);
            return Some(Close {
                code: 1008,
                reason: "invalid request frame".into(),
            });
        }
    };
    if req.method == "connect" {
        let err = RpcError::InvalidRequest("connect already completed on this socket".into());
        peer.send(frame::res_err(&req.id, &err));
        return None;
    }
    let method = match dispatch::authorize(peer.role, &peer.scopes, &req.method) {
        Ok(m) => m,
        Err(e) => {
            peer.send(frame::res_err(&req.id, &e));
            return None;
        }
    };
    let cap = ctx.config.limits.max_inflight_per_conn;
    if inflight.get() >= cap {
        ctx.stats.shed.set(ctx.stats.shed.get() + 1);
        let err = RpcError::Busy {
            what: "in-flight requests on this connection",
            cap,
            retry_after_ms: 100,
        };
        peer.send(frame::res_err(&req.id, &err));
        return None;
    }
    inflight.set(inflight.get() + 1);
    let (ctx2, peer2, inflight2) = (Rc::clone(ctx), Rc::clone(peer), Rc::clone(inflight));
    ctx.ex
        .spawn(async move {
            let result = call_with_timeout(&ctx2, Some(&peer2), &req.id, method, req.params).await;
            inflight2.set(inflight2.get() - 1);
            ctx2.stats.requests.set(ctx2.stats.requests.get() + 1);
            let text = match result {
                Ok(payload) => frame::res_ok(&req.id, &payload),
                Err(e) => {
                    log::debug!(
                        "conn {} req {} {}: {e}",
                        peer2.conn_id,
                        req.id,
                        method.as_str()
                    );
                    frame::res_err(&req.id, &e)
                }
            };
            peer2.send(text);
        })
        .detach();
    None
}

/// Runs a method under `limits.rpc_timeout_ms` (`agent` and `agent.wait` wait for runs, which
/// have their own deadlines: `run_timeout_ms` and the caller's `timeoutMs`; `node.invoke` waits
/// at most `limits.mesh_invoke_timeout_ms`).
pub async fn call_with_timeout(
    ctx: &Rc<Ctx>,
    peer: Option<&Rc<Peer>>,
    req_id: &str,
    method: Method,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    if matches!(
        method,
        Method::Agent | Method::AgentWait | Method::NodeInvoke
    ) {
        return dispatch::call(ctx, peer, req_id, method, params).await;
    }
    let ms = ctx.config.limits.rpc_timeout_ms;
    within(
        Duration::from_millis(ms),
        dispatch::call(ctx, peer, req_id, method, params),
    )
    .await
    .unwrap_or(Err(RpcError::Timeout { ms }))
}
