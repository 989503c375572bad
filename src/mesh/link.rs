//! A mesh link: this instance connected to a peer as a role-`node` client (`join = true`).
//!
//! One task per joined peer, on the executor: connect (`mesh::client`, signed device, role
//! `node`, `commands: ["mesh.ping"]`), then answer every `node.invoke.request`: `mesh.ping` with
//! `node.invoke.result {ok: true, payload: {pong, ts, version, bootId}}`, any other command with
//! `ok: false, error: {code: "UNAVAILABLE", message: "command not supported"}`, which is what
//! upstream's node host answers (PROTOCOL.md §9). That is what lets a peer probe this instance
//! through its own `edge.mesh.status`.
//!
//! Silence longer than twice the peer's `tickIntervalMs` counts as a dead link; every loss
//! reconnects after `bridge::ingress::backoff_delay` (200 ms doubling to 3 s, jittered) and a
//! refused `connect` waits `REJECTED_RETRY`. The loop ends at shutdown. State for
//! `edge.mesh.status` is kept in the peer's `PeerState`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smol::Timer;

use super::client::{self, Conn};
use super::{NODE_COMMANDS, PeerState};
use crate::bridge::device::Hello;
use crate::gateway::Ctx;

/// Deadline of one connect + handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Wait after the peer refused `connect` (credential, pairing), so a wrong token does not trip
/// its failed-auth limiter.
pub const REJECTED_RETRY: Duration = Duration::from_secs(30);

/// How one link connection ended.
enum End {
    /// Lost after a good handshake, or the connect failed: back off and retry.
    Lost(String),
    /// The peer refused `connect`: retry after `REJECTED_RETRY`.
    Rejected(String),
    /// Shutdown.
    Stopped,
}

/// Keeps the link to peer `idx` up until shutdown.
pub async fn run(ctx: Rc<Ctx>, idx: usize) {
    let Some(identity) = ctx.mesh.identity() else {
        return;
    };
    let peer = &ctx.config.mesh.peers[idx];
    let state = &ctx.mesh.peers[idx];
    let name = ctx.config.mesh.name.as_deref().unwrap_or("openclaw-edge");
    let hello = Hello {
        client_id: "node-host",
        client_mode: "node",
        display_name: name,
        role: "node",
        scopes: &[],
        caps: &[],
        commands: &NODE_COMMANDS,
    };
    let mut attempt = 0u32;
    loop {
        let connect = crate::clock::within(
            CONNECT_TIMEOUT,
            client::connect(&ctx, peer, &identity, &hello),
        );
        let end = match ctx.shutdown.unless(connect).await {
            None => End::Stopped,
            Some(None) => End::Lost(format!(
                "connect timed out after {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
            Some(Some(Err(e))) if e.starts_with("connect refused") => End::Rejected(e),
            Some(Some(Err(e))) => End::Lost(e),
            Some(Some(Ok(conn))) => {
                attempt = 0;
                state.link_up(true);
                log::info!("mesh: joined {} ({}) as a node", peer.name, peer.url);
                let end = serve(&ctx, state, conn).await;
                state.link_up(false);
                end
            }
        };
        let wait = match end {
            End::Stopped => break,
            End::Lost(why) => {
                log::warn!(
                    "mesh: link to {} ({}): {why}; reconnecting",
                    peer.name,
                    peer.url
                );
                state.set_link_error(why);
                crate::bridge::ingress::backoff_delay(attempt, jitter())
            }
            End::Rejected(why) => {
                log::error!(
                    "mesh: {} ({}) refused this node: {why}; retrying in {} s",
                    peer.name,
                    peer.url,
                    REJECTED_RETRY.as_secs()
                );
                state.set_link_error(why);
                REJECTED_RETRY
            }
        };
        attempt = attempt.saturating_add(1);
        if ctx.shutdown.unless(Timer::after(wait)).await.is_none() {
            break;
        }
    }
    log::debug!("mesh: link to {} stopped", peer.name);
}

/// Answers invoke requests until the link is lost or shutdown.
async fn serve(ctx: &Ctx, state: &PeerState, mut conn: Conn) -> End {
    let tick_ms = conn.hello["policy"]["tickIntervalMs"]
        .as_u64()
        .unwrap_or(30_000)
        .clamp(100, 600_000);
    let silence = Duration::from_millis(tick_ms * 2);
    loop {
        let read = crate::clock::within(silence, conn.next());
        let frame = match ctx.shutdown.unless(read).await {
            None => {
                conn.close().await;
                return End::Stopped;
            }
            Some(None) => {
                return End::Lost(format!(
                    "no frame for {} ms (2 × tickIntervalMs)",
                    silence.as_millis()
                ));
            }
            Some(Some(Err(e))) => return End::Lost(e),
            Some(Some(Ok(v))) => v,
        };
        state.seen();
        if frame["type"] != "event" || frame["event"] != "node.invoke.request" {
            continue;
        }
        let answer = answer(ctx, &frame["payload"]);
        let req = json!({"type": "req", "id": format!("r-{}", crate::ids::uuid_v4()),
                         "method": "node.invoke.result", "params": answer});
        let started = Instant::now();
        let write = crate::clock::within(
            Duration::from_millis(ctx.config.limits.write_timeout_ms),
            conn.send(&req),
        );
        match write.await {
            Some(Ok(())) => {}
            Some(Err(e)) => return End::Lost(e),
            None => {
                return End::Lost(format!(
                    "write stalled for {} ms",
                    started.elapsed().as_millis()
                ));
            }
        }
    }
}

/// The `node.invoke.result` params for one `node.invoke.request` payload.
pub fn answer(ctx: &Ctx, req: &Value) -> Value {
    let id = req["id"].as_str().unwrap_or("");
    let node_id = req["nodeId"].as_str().unwrap_or("");
    match req["command"].as_str() {
        Some("mesh.ping") => json!({
            "id": id, "nodeId": node_id, "ok": true,
            "payload": {"pong": true, "ts": crate::clock::now_ms(),
                        "version": env!("CARGO_PKG_VERSION"), "bootId": ctx.boot_id},
        }),
        _ => json!({
            "id": id, "nodeId": node_id, "ok": false,
            "error": {"code": "UNAVAILABLE", "message": "command not supported"},
        }),
    }
}

/// A random draw for the backoff jitter.
fn jitter() -> u32 {
    u32::from_le_bytes(crate::ids::random_bytes::<4>())
}
