//! Bridge-client mode: screen the actions of another OpenClaw gateway through our defender.
//!
//! With `gateway.runtime_mode = "bridge_client"` the process still serves its own port (local
//! operators see `security.decision` and `status`) and also connects to `[bridge] url` as an
//! operator client. The connection lives on its own thread (`client.rs`, blocking I/O); the
//! actions it takes from upstream events (`ingress.rs`: approval requests → commands, tool starts
//! → tool calls, user messages → prompts) reach the executor through a bounded queue of
//! `limits.bridge_queue` items, where `screen_loop` runs each through `Defender::screen`. That
//! call emits `security.decision` on our hub and quarantines blocks. A blocked approval request
//! is answered upstream with `exec.approval.resolve {decision:"deny"}` when `resolve_approvals`
//! is on, through a second bounded queue back to the thread.
//!
//! Counters are atomics shared with the thread and read by `status` (`status.bridge`). The
//! running bridge registers itself in a thread-local of the executor thread, because the
//! gateway context (`gateway::Ctx`) has no slot for an optional subsystem; the credential never
//! appears in `status`, logs or events. The bridge only observes and answers approvals: it cannot
//! stop an upstream tool call that needs no approval, it can only report it.

pub mod client;
pub mod device;
pub mod ingress;

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use smol::channel::{Receiver, Sender};

use crate::config::RuntimeMode;
use crate::config::bridge::BridgeConfig;
use crate::defender::Verdict;
use crate::defender::pipeline::Context;
use crate::gateway::Ctx;
use ingress::Ingress;

/// An answer the executor asks the bridge thread to send upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// `exec.approval.resolve {id, decision:"deny"}`.
    Deny {
        /// Upstream approval id.
        id: String,
    },
}

/// Longest `lastError` kept (a peer-controlled message must not grow `status`).
const MAX_ERROR_BYTES: usize = 256;

/// State shared by the bridge thread and the executor; read by `status`.
#[derive(Debug, Default)]
pub struct Shared {
    /// A session is up (hello-ok received, not lost since).
    pub connected: AtomicBool,
    /// Successful handshakes.
    pub connects: AtomicU64,
    /// Successful handshakes after a lost connection.
    pub reconnects: AtomicU64,
    /// Actionable upstream frames taken in (screened + shed + still queued).
    pub frames_in: AtomicU64,
    /// Actions dropped because the ingress queue was full.
    pub shed: AtomicU64,
    /// Frames over `limits.bridge_max_frame_bytes`.
    pub oversize: AtomicU64,
    /// Actions screened.
    pub decisions: AtomicU64,
    /// Approval requests denied upstream (answer acknowledged).
    pub approvals_denied: AtomicU64,
    /// Why the last connection failed or ended.
    pub last_error: Mutex<Option<String>>,
    /// Set at shutdown.
    pub stop: AtomicBool,
}

impl Shared {
    /// Records the last error (cut to `MAX_ERROR_BYTES`).
    pub fn set_error(&self, e: String) {
        let e = crate::store::messages::cut(&e, MAX_ERROR_BYTES);
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }
}

/// The running bridge, as the executor sees it.
pub struct Bridge {
    cfg: BridgeConfig,
    shared: Arc<Shared>,
    outbound: Sender<Outbound>,
    wake: UnixStream,
}

thread_local! {
    /// The bridge of this executor thread, for `status`.
    static ACTIVE: RefCell<Option<Rc<Bridge>>> = const { RefCell::new(None) };
}

impl Bridge {
    /// Wakes the thread (it sleeps in `poll`); a full wake socket already means "wake up".
    fn wake(&self) {
        let _ = (&self.wake).write(&[1]);
    }

    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// `status.bridge`.
    pub fn status_json(&self) -> Value {
        let s = &self.shared;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let last_error = s.last_error.lock().ok().and_then(|g| g.clone());
        json!({
            "mode": RuntimeMode::BridgeClient.as_str(),
            "url": self.cfg.url,
            "connected": s.connected.load(Ordering::Relaxed),
            "connects": n(&s.connects),
            "reconnects": n(&s.reconnects),
            "lastError": last_error,
            "framesIn": n(&s.frames_in),
            "shed": n(&s.shed),
            "oversize": n(&s.oversize),
            "decisions": n(&s.decisions),
            "approvalsDenied": n(&s.approvals_denied),
        })
    }
}

/// `status.bridge` for this process: the live counters, or just the mode when standalone.
pub fn status_json(ctx: &Ctx) -> Value {
    match ACTIVE.with(|a| a.borrow().as_ref().map(|b| b.status_json())) {
        Some(v) => v,
        None if ctx.config.runtime_mode == RuntimeMode::BridgeClient => {
            json!({"mode": RuntimeMode::BridgeClient.as_str(), "connected": false,
                   "lastError": "the bridge did not start (see the log)"})
        }
        None => json!({"mode": ctx.config.runtime_mode.as_str()}),
    }
}

/// Starts the bridge when `gateway.runtime_mode = "bridge_client"`: the thread and the
/// screening task on the executor. Logs and returns on failure (the gateway keeps serving).
pub fn start(ctx: &Rc<Ctx>) {
    if ctx.config.runtime_mode != RuntimeMode::BridgeClient {
        if ctx.config.bridge.is_some() {
            log::info!(
                "bridge: [bridge] is configured but gateway.runtime_mode is standalone: not connecting"
            );
        }
        return;
    }
    let Some(cfg) = ctx.config.bridge.clone() else {
        log::error!("bridge: runtime_mode is bridge_client but [bridge] is missing");
        return;
    };
    let l = &ctx.config.limits;
    let (in_tx, in_rx) = smol::channel::bounded(l.bridge_queue);
    let (out_tx, out_rx) = smol::channel::bounded(l.bridge_queue);
    let pair = UnixStream::pair().and_then(|(a, b)| {
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((a, b))
    });
    let (wake_tx, wake_rx) = match pair {
        Ok(p) => p,
        Err(e) => {
            log::error!("bridge: cannot create the wake socket: {e}");
            return;
        }
    };
    let shared = Arc::new(Shared::default());
    let ends = client::Ends {
        ingress: in_tx,
        outbound: out_rx,
        wake: wake_rx,
    };
    if let Err(e) = client::spawn(
        cfg.clone(),
        l.bridge_max_frame_bytes,
        ctx.config.state_dir.clone(),
        Arc::clone(&shared),
        ends,
    ) {
        log::error!("bridge: cannot start the bridge thread: {e}");
        return;
    }
    log::info!(
        "bridge: screening {} (resolve_approvals={}, queue {})",
        cfg.url,
        cfg.resolve_approvals,
        l.bridge_queue
    );
    let bridge = Rc::new(Bridge {
        cfg,
        shared,
        outbound: out_tx,
        wake: wake_tx,
    });
    ACTIVE.with(|a| *a.borrow_mut() = Some(Rc::clone(&bridge)));
    ctx.ex
        .spawn(screen_loop(Rc::clone(ctx), bridge, in_rx))
        .detach();
}

/// Screens ingress items until shutdown, then stops the thread.
async fn screen_loop(ctx: Rc<Ctx>, bridge: Rc<Bridge>, rx: Receiver<Ingress>) {
    loop {
        let next = smol::future::or(async { rx.recv().await.ok() }, async {
            ctx.shutdown.wait().await;
            None
        })
        .await;
        let Some(item) = next else { break };
        screen(&ctx, &bridge, &item).await;
    }
    bridge.stop();
    ACTIVE.with(|a| a.borrow_mut().take());
}

/// Routing hints of a bridge decision (absent facts are left out, not null).
fn routing(url: &str, item: &Ingress) -> Value {
    let mut m = Map::new();
    m.insert("upstream".into(), json!(url));
    m.insert("upstreamEvent".into(), json!(item.event));
    if let Some(id) = &item.approval_id {
        m.insert("approvalId".into(), json!(id));
    }
    if let Some(r) = &item.run_id {
        m.insert("runId".into(), json!(r));
    }
    Value::Object(m)
}

/// One item through the defender; a blocked approval request is denied upstream.
async fn screen(ctx: &Rc<Ctx>, bridge: &Bridge, item: &Ingress) {
    let context = Context {
        session_key: item.session_key.as_deref(),
        channel: Some("bridge"),
        provider: None,
        model: None,
    };
    let a = ctx
        .agent
        .defender
        .screen(ctx, item.action(), context, routing(&bridge.cfg.url, item))
        .await;
    bridge.shared.decisions.fetch_add(1, Ordering::Relaxed);
    let Some(id) = &item.approval_id else { return };
    if !bridge.cfg.resolve_approvals || a.enforced != Verdict::Block {
        return;
    }
    match bridge.outbound.try_send(Outbound::Deny { id: id.clone() }) {
        Ok(()) => {
            log::info!("bridge: denying upstream approval {id}: {}", a.summary());
            bridge.wake();
        }
        Err(e) => log::warn!(
            "bridge: cannot queue the deny for upstream approval {id} ({e}); it stays pending upstream"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingress::Item;

    #[test]
    fn routing_names_the_upstream_and_leaves_out_absent_facts() {
        let item = Ingress {
            item: Item::Command("ls".into()),
            event: ingress::APPROVAL_REQUESTED,
            session_key: None,
            run_id: Some("r1".into()),
            approval_id: Some("ap".into()),
        };
        let r = routing("ws://up:1", &item);
        assert_eq!(
            r,
            json!({"upstream": "ws://up:1", "upstreamEvent": "exec.approval.requested",
                   "approvalId": "ap", "runId": "r1"})
        );
        let prompt = Ingress {
            item: Item::Prompt("hi".into()),
            event: ingress::SESSION_MESSAGE,
            session_key: Some("k".into()),
            run_id: None,
            approval_id: None,
        };
        assert_eq!(routing("u", &prompt).as_object().unwrap().len(), 2);
    }

    #[test]
    fn last_error_is_bounded() {
        let s = Shared::default();
        s.set_error("x".repeat(10_000));
        assert!(s.last_error.lock().unwrap().as_ref().unwrap().len() <= MAX_ERROR_BYTES + 4);
    }
}
