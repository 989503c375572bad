//! Gateway: the accept loop and the shared context every connection task sees.
//!
//! One TCP port serves both WebSocket (the OpenClaw gateway protocol) and a small HTTP surface.
//! `run` accepts until shutdown; each socket gets one task on the `LocalExecutor` (`conn::serve`).
//! At `limits.max_connections` open sockets a new one is answered `503` and closed at once, so the
//! cap is a clear refusal rather than a silent kernel backlog.
//!
//! Parts: `conn` (one socket: HTTP or WebSocket session loop), `http` (request head parsing and
//! the HTTP routes), `handshake` (challenge → connect → hello-ok), `auth` (secrets, limiter,
//! device proofs), `frame` (wire JSON), `dispatch` (method names → handlers), `hub` (peers,
//! presence and event fan-out).

pub mod auth;
pub mod conn;
pub mod dispatch;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod hub;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use smol::{Async, LocalExecutor, Timer};

use crate::config::{Config, Secret};
use crate::pool::Pool;
use crate::shutdown::Shutdown;

/// Protocol version this gateway speaks.
pub const PROTOCOL_VERSION: u32 = 4;

/// Sending half of a server WebSocket.
pub type WsTx = WebSocketSender<Async<TcpStream>>;
/// Receiving half of a server WebSocket.
pub type WsRx = WebSocketReceiver<Async<TcpStream>>;

/// Connection role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// CLI, UIs, automation.
    Operator,
    /// Capability host (`openclaw node run`).
    Node,
}

impl Role {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Node => "node",
        }
    }
}

/// Counters shown by `status`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Sockets accepted since start.
    pub accepted: Cell<u64>,
    /// Sockets refused at the connection cap.
    pub refused_at_cap: Cell<u64>,
    /// Requests answered.
    pub requests: Cell<u64>,
    /// Requests refused because a bound was hit.
    pub shed: Cell<u64>,
}

/// State shared by every task on the executor thread.
pub struct Ctx {
    /// The checked configuration.
    pub config: Config,
    /// The shared secret in force (configured or generated).
    pub secret: Secret,
    /// Where a generated token is stored, if one was generated.
    pub token_path: Option<std::path::PathBuf>,
    /// Connected peers and event fan-out.
    pub hub: hub::Hub,
    /// The bounded blocking pool.
    pub pool: Pool,
    /// The SQLite store thread.
    pub store: crate::store::Store,
    /// Agent runtime state: providers, run results, approvals, defender, redactor, tools.
    pub agent: crate::agent::State,
    /// The run scheduler (set once, right after the context is built: its executor needs a
    /// weak reference to this context).
    pub sched: std::cell::OnceCell<crate::scheduler::Scheduler>,
    /// `chat.send` idempotency cache (key + content hash).
    pub idem: RefCell<crate::scheduler::IdemCache>,
    /// Shutdown signal.
    pub shutdown: Shutdown,
    /// The executor, for spawning per-request tasks.
    pub ex: Rc<LocalExecutor<'static>>,
    /// Failed-auth limiter.
    pub limiter: RefCell<auth::Limiter>,
    /// Random id of this process run.
    pub boot_id: String,
    /// Open sockets (bounded by `limits.max_connections`).
    pub open: Cell<usize>,
    /// Counters.
    pub stats: Stats,
    /// Mesh peers: nodes, pending invokes, configured peer instances (`mesh`).
    pub mesh: crate::mesh::Mesh,
    /// External-program jobs running now (`edge::jobs`).
    pub jobs: crate::edge::jobs::Jobs,
    started: Instant,
}

impl Ctx {
    /// Builds the context.
    pub fn new(
        config: Config,
        secret: Secret,
        token_path: Option<std::path::PathBuf>,
        ex: Rc<LocalExecutor<'static>>,
        shutdown: Shutdown,
        store: crate::store::Store,
        providers: Option<crate::providers::Providers>,
    ) -> Ctx {
        let l = &config.limits;
        let pool = Pool::new(
            l.blocking_threads,
            l.blocking_queue,
            Duration::from_millis(l.blocking_idle_ms),
        );
        let limiter = auth::Limiter::new(l.auth_fail_table, l.auth_fail_max, l.auth_fail_window_ms);
        let hub = hub::Hub::new(l.max_presence_entries);
        let idem = crate::scheduler::IdemCache::new(l.idempotency_entries, l.idempotency_ttl_ms);
        let agent = crate::agent::State::new(&config, pool.clone(), providers);
        let mesh = crate::mesh::Mesh::new(&config);
        Ctx {
            agent,
            config,
            secret,
            token_path,
            hub,
            pool,
            store,
            sched: std::cell::OnceCell::new(),
            idem: RefCell::new(idem),
            shutdown,
            ex,
            limiter: RefCell::new(limiter),
            boot_id: crate::ids::uuid_v4(),
            open: Cell::new(0),
            stats: Stats::default(),
            mesh,
            jobs: crate::edge::jobs::Jobs::default(),
            started: Instant::now(),
        }
    }

    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// Decrements the open-socket count when a connection task ends, however it ends.
struct OpenGuard(Rc<Ctx>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
    }
}

/// Accepts connections until shutdown.
pub async fn run(ctx: Rc<Ctx>, listener: Async<TcpListener>) {
    loop {
        let accepted = smol::future::or(async { Some(listener.accept().await) }, async {
            ctx.shutdown.wait().await;
            None
        })
        .await;
        let (stream, addr) = match accepted {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("accept failed: {e}");
                Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        ctx.stats.accepted.set(ctx.stats.accepted.get() + 1);
        // Frames are small and written whole: without this, an event written while the peer
        // still owes the ACK of our previous frame waits for its delayed ACK (~40 ms; measured
        // on `node.invoke.request` right after a `node.invoke.result` answer).
        let _ = stream.get_ref().set_nodelay(true);
        if ctx.open.get() >= ctx.config.limits.max_connections {
            refuse_at_cap(&ctx, stream, addr);
            continue;
        }
        ctx.open.set(ctx.open.get() + 1);
        let guard = OpenGuard(Rc::clone(&ctx));
        let task_ctx = Rc::clone(&ctx);
        ctx.ex
            .spawn(async move {
                let _guard = guard;
                conn::serve(task_ctx, stream, addr).await;
            })
            .detach();
    }
    log::info!("accept loop stopped");
}

/// Answers a socket over the cap with a one-shot 503 (non-blocking write) and drops it.
fn refuse_at_cap(ctx: &Ctx, stream: Async<TcpStream>, addr: SocketAddr) {
    let refused = ctx.stats.refused_at_cap.get() + 1;
    ctx.stats.refused_at_cap.set(refused);
    if refused.is_power_of_two() {
        log::warn!(
            "connection cap reached ({} open): refusing {addr} ({refused} refused so far)",
            ctx.config.limits.max_connections
        );
    }
    let body = format!(
        "{{\"ok\":false,\"error\":\"connection limit reached ({})\"}}",
        ctx.config.limits.max_connections
    );
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The socket is non-blocking: this writes what fits in the kernel buffer or nothing.
    let _ = stream.get_ref().write(resp.as_bytes());
}

/// Writes one text frame within `timeout`; false if the socket failed or stalled.
pub async fn send_text(tx: &mut WsTx, text: String, timeout: Duration) -> bool {
    let send = tx.send(Message::Text(text.into()));
    crate::clock::within(timeout, send)
        .await
        .is_some_and(|r| r.is_ok())
}

/// Sends a close frame within `timeout` (best effort).
pub async fn send_close(tx: &mut WsTx, close: &hub::Close, timeout: Duration) {
    let frame = CloseFrame {
        code: close.code.into(),
        reason: close.reason.clone().into(),
    };
    let _ = crate::clock::within(timeout, tx.close(Some(frame))).await;
}
