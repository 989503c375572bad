//! The bridge client: one named thread ("bridge") holding a blocking WebSocket to the upstream.
//!
//! Per connection: TCP connect (timeout) → optional TLS (rustls, `tls` feature) → WebSocket
//! upgrade with explicit caps (`limits.bridge_max_frame_bytes`) → wait for `connect.challenge` →
//! `connect` as a real protocol-4 operator client with the signed device identity (PROTOCOL.md
//! §3.2–3.3) → `hello-ok` → `sessions.subscribe` and `sessions.messages.subscribe` for the main
//! session and every key `sessions.changed` names (at most `MAX_FOLLOWED` keys; the oldest is
//! dropped and unsubscribed).
//!
//! After the handshake the socket is non-blocking and the thread sleeps in `poll(2)` on it and on
//! a wake socket the executor writes to when it queues an answer (`exec.approval.resolve`), so an
//! idle bridge wakes only for upstream traffic. Silence longer than 2 × `tickIntervalMs` counts as
//! a dead connection. Every loss reconnects after `ingress::backoff_delay` (200 ms doubling to
//! 3 s, ±20 %); a refused `connect` (auth, pairing) waits `REJECTED_RETRY` instead, so a wrong
//! token does not trip the upstream's failed-auth limiter.
//!
//! Actionable events go to the executor with `try_send` on the bounded ingress queue; a full
//! queue drops the action and counts it (`shed`, logged at most every `SHED_LOG_EVERY`). The
//! reader never waits for the executor.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{self, Message, WebSocket};
use serde_json::{Value, json};
use smol::channel::{Receiver, Sender, TrySendError};

use super::device::Identity;
use super::ingress::{self, Ingress};
use super::{Outbound, Shared};
use crate::config::bridge::BridgeConfig;

/// TCP connect deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait for `connect.challenge`, and again for the `connect` answer (upstream's client values).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A write that cannot finish within this long drops the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry delay after the upstream refused `connect` (bad credential, pairing pending).
pub const REJECTED_RETRY: Duration = Duration::from_secs(30);
/// Session keys followed with `sessions.messages.subscribe`; the oldest is dropped past it.
pub const MAX_FOLLOWED: usize = 64;
/// Shedding is logged at most this often (with the running count).
pub const SHED_LOG_EVERY: Duration = Duration::from_secs(10);
/// tungstenite read buffer (allocated per connection).
const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Unwritten bytes tungstenite may hold; the bridge writes only small requests.
const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// Scopes the bridge asks for: it reads events and answers approvals, nothing else.
pub const SCOPES: [&str; 2] = ["operator.read", "operator.approvals"];
/// `client.id` / `client.mode` (the backend client upstream knows, PROTOCOL.md §3.2).
const CLIENT_ID: &str = "gateway-client";
const CLIENT_MODE: &str = "backend";

/// The thread's ends of the channels.
pub struct Ends {
    /// Actions to the executor (bounded; `try_send` only).
    pub ingress: Sender<Ingress>,
    /// Answers from the executor.
    pub outbound: Receiver<Outbound>,
    /// Readable when the executor queued an answer or wants the thread to stop.
    pub wake: UnixStream,
}

/// Byte stream under the WebSocket: plain TCP or rustls over TCP.
enum Conn {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            #[cfg(feature = "tls")]
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.flush(),
        }
    }
}

type Ws = WebSocket<Conn>;

/// How one connection ended.
enum End {
    /// The upstream closed or went silent after a good handshake: reconnect with backoff.
    Lost(String),
    /// The connection or handshake failed: reconnect with backoff.
    Failed(String),
    /// The upstream refused `connect`: retry after `REJECTED_RETRY`.
    Rejected(String),
    /// Shutdown.
    Stopped,
}

/// Starts the bridge thread.
pub fn spawn(
    cfg: BridgeConfig,
    max_frame_bytes: usize,
    state_dir: PathBuf,
    shared: Arc<Shared>,
    ends: Ends,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("bridge".into())
        .spawn(move || {
            let mut t = Thread {
                cfg,
                max_frame_bytes,
                shared,
                ends,
                followed: VecDeque::with_capacity(MAX_FOLLOWED),
                shed_logged: None,
                next_id: 0,
            };
            let identity = match super::device::load_or_create(&state_dir) {
                Ok(i) => i,
                Err(e) => {
                    log::error!("bridge: cannot load the device identity, not connecting: {e}");
                    t.shared.set_error(format!("device identity: {e}"));
                    return;
                }
            };
            t.run(&identity);
        })
}

struct Thread {
    cfg: BridgeConfig,
    max_frame_bytes: usize,
    shared: Arc<Shared>,
    ends: Ends,
    /// Session keys subscribed on this connection, oldest first.
    followed: VecDeque<String>,
    shed_logged: Option<Instant>,
    next_id: u64,
}

impl Thread {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed) || self.ends.ingress.is_closed()
    }

    fn run(&mut self, identity: &Identity) {
        let mut attempt = 0u32;
        let mut was_connected = false;
        while !self.stopping() {
            let end = self.session(identity, was_connected);
            self.shared.connected.store(false, Ordering::Relaxed);
            self.followed.clear();
            let wait = match end {
                End::Stopped => break,
                End::Lost(why) => {
                    was_connected = true;
                    attempt = 0;
                    log::warn!(
                        "bridge: connection to {} lost: {why}; reconnecting",
                        self.cfg.url
                    );
                    self.shared.set_error(why);
                    ingress::backoff_delay(attempt, jitter())
                }
                End::Failed(why) => {
                    log::warn!("bridge: cannot connect to {}: {why}", self.cfg.url);
                    self.shared.set_error(why);
                    ingress::backoff_delay(attempt, jitter())
                }
                End::Rejected(why) => {
                    log::error!(
                        "bridge: {} refused the connection: {why}; retrying in {} s",
                        self.cfg.url,
                        REJECTED_RETRY.as_secs()
                    );
                    self.shared.set_error(why);
                    REJECTED_RETRY
                }
            };
            attempt = attempt.saturating_add(1);
            // Sleep on the wake socket so shutdown does not wait for the backoff.
            let until = Instant::now() + wait;
            while !self.stopping() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let _ = poll(&[(self.ends.wake.as_raw_fd(), libc::POLLIN)], Some(left));
                drain_wake(&self.ends.wake);
            }
        }
        log::info!("bridge: stopped");
    }

    /// One connection, from TCP connect to its end.
    fn session(&mut self, identity: &Identity, was_connected: bool) -> End {
        let mut ws = match self.open() {
            Ok(ws) => ws,
            Err(e) => return End::Failed(e),
        };
        let (tick, main_key) = match self.handshake(&mut ws, identity) {
            Ok(v) => v,
            Err(end) => return end,
        };
        self.shared.connected.store(true, Ordering::Relaxed);
        self.shared.connects.fetch_add(1, Ordering::Relaxed);
        if was_connected {
            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        log::info!(
            "bridge: connected to {} (tick {} ms)",
            self.cfg.url,
            tick.as_millis()
        );
        if let Err(e) = ws.get_ref().tcp().set_nonblocking(true) {
            return End::Failed(format!("set_nonblocking: {e}"));
        }
        let mut want_write = false;
        let mut stalled_since: Option<Instant> = None;
        let mut reqs = vec![("sessions.subscribe", json!({}))];
        if let Some(k) = main_key {
            self.followed.push_back(k.clone());
            reqs.push(("sessions.messages.subscribe", json!({"key": k})));
        }
        for (method, params) in reqs {
            if let Err(e) = self.request(&mut ws, "sub", method, params, &mut want_write) {
                return End::Lost(e);
            }
        }
        let mut last_rx = Instant::now();
        let silence = tick * 2;
        loop {
            // 1. Everything the socket (and tungstenite's buffer) holds.
            loop {
                match ws.read() {
                    Ok(msg) => {
                        last_rx = Instant::now();
                        match self.on_message(&mut ws, msg, &mut want_write) {
                            Ok(true) => {}
                            Ok(false) => return End::Lost("closed by the upstream".into()),
                            Err(e) => return End::Lost(e),
                        }
                    }
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        break;
                    }
                    Err(tungstenite::Error::Capacity(e)) => {
                        self.shared.oversize.fetch_add(1, Ordering::Relaxed);
                        return End::Lost(format!(
                            "frame too large (> {} bytes, limits.bridge_max_frame_bytes): {e}",
                            self.max_frame_bytes
                        ));
                    }
                    Err(
                        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                    ) => return End::Lost("closed by the upstream".into()),
                    Err(e) => return End::Lost(e.to_string()),
                }
            }
            // 2. Answers the executor queued.
            while let Ok(o) = self.ends.outbound.try_recv() {
                let Outbound::Deny { id } = o;
                let params = json!({"id": id, "decision": "deny"});
                if let Err(e) = self.request(
                    &mut ws,
                    "deny",
                    "exec.approval.resolve",
                    params,
                    &mut want_write,
                ) {
                    return End::Lost(e);
                }
            }
            // 3. Pending writes (pongs, requests) and the write stall clock.
            if want_write {
                match ws.flush() {
                    Ok(()) => want_write = false,
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return End::Lost(format!("write failed: {e}")),
                }
            }
            stalled_since = if want_write {
                stalled_since.or(Some(Instant::now()))
            } else {
                None
            };
            if stalled_since.is_some_and(|t| t.elapsed() > WRITE_TIMEOUT) {
                return End::Lost(format!("write stalled for {} s", WRITE_TIMEOUT.as_secs()));
            }
            if self.stopping() {
                let _ = ws.close(None);
                let _ = ws.flush();
                return End::Stopped;
            }
            // 4. Sleep until the socket, the executor or the silence deadline wakes us.
            let quiet = last_rx.elapsed();
            if quiet >= silence {
                return End::Lost(format!(
                    "no frame for {} ms (2 × tickIntervalMs)",
                    quiet.as_millis()
                ));
            }
            let sock_events = if want_write {
                libc::POLLIN | libc::POLLOUT
            } else {
                libc::POLLIN
            };
            let fds = [
                (ws.get_ref().tcp().as_raw_fd(), sock_events),
                (self.ends.wake.as_raw_fd(), libc::POLLIN),
            ];
            let mut timeout = silence - quiet;
            if want_write {
                timeout = timeout.min(Duration::from_millis(100));
            }
            match poll(&fds, Some(timeout)) {
                Ok(ready) if ready[1] => drain_wake(&self.ends.wake),
                Ok(_) => {}
                Err(e) => return End::Lost(format!("poll: {e}")),
            }
        }
    }

    /// TCP (+ TLS) + WebSocket upgrade, blocking with timeouts.
    fn open(&self) -> Result<Ws, String> {
        let hp = (self.cfg.host.as_str(), self.cfg.port);
        let addr = hp
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.cfg.host))?
            .next()
            .ok_or_else(|| format!("no address for {}", self.cfg.host))?;
        let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .and_then(|()| tcp.set_write_timeout(Some(WRITE_TIMEOUT)))
            .map_err(|e| format!("socket options: {e}"))?;
        let conn = if self.cfg.tls {
            self.tls(tcp)?
        } else {
            Conn::Plain(tcp)
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
            .max_message_size(Some(self.max_frame_bytes))
            .max_frame_size(Some(self.max_frame_bytes));
        let (ws, _) =
            tungstenite::client::client_with_config(self.cfg.url.as_str(), conn, Some(config))
                .map_err(|e| format!("websocket upgrade: {e}"))?;
        Ok(ws)
    }

    #[cfg(feature = "tls")]
    fn tls(&self, tcp: TcpStream) -> Result<Conn, String> {
        use std::sync::OnceLock;
        static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
        let config = CONFIG
            .get_or_init(|| {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("tls setup: {e}"))
            })
            .clone()?;
        let name = rustls::pki_types::ServerName::try_from(self.cfg.host.clone())
            .map_err(|e| format!("tls server name {:?}: {e}", self.cfg.host))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| format!("tls: {e}"))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        // Finish the TLS handshake here so certificate errors read as such.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| format!("tls handshake with {}: {e}", self.cfg.host))?;
        }
        Ok(Conn::Tls(Box::new(s)))
    }

    #[cfg(not(feature = "tls"))]
    fn tls(&self, _tcp: TcpStream) -> Result<Conn, String> {
        // Config validation refuses wss:// in such builds; this is the belt to that brace.
        Err("wss:// needs a build with the `tls` feature".into())
    }

    /// Challenge → connect → hello-ok; returns the tick interval and the main session key.
    fn handshake(
        &mut self,
        ws: &mut Ws,
        identity: &Identity,
    ) -> Result<(Duration, Option<String>), End> {
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let challenge = loop {
            let v = read_json(ws, deadline).map_err(End::Failed)?;
            if v["type"] == "event" && v["event"] == "connect.challenge" {
                break v["payload"].clone();
            }
        };
        let (nonce, signed_at) = super::device::challenge(&challenge).map_err(End::Failed)?;
        let hello = super::device::Hello {
            client_id: CLIENT_ID,
            client_mode: CLIENT_MODE,
            display_name: "openclaw-edge defender",
            role: "operator",
            scopes: &SCOPES,
            caps: &["tool-events"],
            commands: &[],
        };
        let connect =
            identity.connect_request("connect", &hello, &self.cfg.auth, &nonce, signed_at);
        ws.send(Message::Text(connect.to_string().into()))
            .map_err(|e| End::Failed(format!("send connect: {e}")))?;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let res = loop {
            let v = read_json(ws, deadline).map_err(End::Failed)?;
            if v["type"] == "res" && v["id"] == "connect" {
                break v;
            }
        };
        if res["ok"] != true {
            return Err(End::Rejected(super::device::refusal(&res)));
        }
        let p = &res["payload"];
        let tick_ms = p["policy"]["tickIntervalMs"]
            .as_u64()
            .unwrap_or(30_000)
            .clamp(1_000, 600_000);
        let main_key = p["snapshot"]["sessionDefaults"]["mainSessionKey"]
            .as_str()
            .map(str::to_string);
        Ok((Duration::from_millis(tick_ms), main_key))
    }

    /// Handles one frame; `Ok(false)` when the upstream closed.
    fn on_message(
        &mut self,
        ws: &mut Ws,
        msg: Message,
        want_write: &mut bool,
    ) -> Result<bool, String> {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return Ok(false),
            // Pings are answered by tungstenite on the next flush.
            Message::Ping(_) => {
                *want_write = true;
                return Ok(true);
            }
            _ => return Ok(true),
        };
        if text.len() > self.max_frame_bytes {
            self.shared.oversize.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            // The reference client ignores frames that do not parse (PROTOCOL.md §1).
            return Ok(true);
        };
        match v["type"].as_str() {
            Some("event") => {
                let name = v["event"].as_str().unwrap_or("");
                let payload = &v["payload"];
                if name == "sessions.changed" {
                    let key = payload["sessionKey"].as_str().or(payload["key"].as_str());
                    if let Some(k) = key {
                        self.follow(ws, k, want_write)?;
                    }
                } else if let Some(item) = ingress::from_event(name, payload) {
                    self.offer(item);
                }
            }
            Some("res") => {
                let id = v["id"].as_str().unwrap_or("");
                if v["ok"] == true {
                    if id.starts_with("deny-") {
                        self.shared.approvals_denied.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    log::warn!(
                        "bridge: upstream answered {id} with an error: {}",
                        v["error"]["message"].as_str().unwrap_or("?")
                    );
                }
            }
            _ => {}
        }
        Ok(true)
    }

    /// Subscribes to `key`'s messages unless already followed; drops the oldest past the cap.
    fn follow(&mut self, ws: &mut Ws, key: &str, want_write: &mut bool) -> Result<(), String> {
        if self.followed.iter().any(|k| k == key) {
            return Ok(());
        }
        if self.followed.len() >= MAX_FOLLOWED
            && let Some(old) = self.followed.pop_front()
        {
            self.request(
                ws,
                "unsub",
                "sessions.messages.unsubscribe",
                json!({"key": old}),
                want_write,
            )?;
        }
        self.followed.push_back(key.to_string());
        self.request(
            ws,
            "sub",
            "sessions.messages.subscribe",
            json!({"key": key}),
            want_write,
        )
    }

    /// Hands an action to the executor without waiting; counts and reports shedding.
    fn offer(&mut self, item: Ingress) {
        self.shared.frames_in.fetch_add(1, Ordering::Relaxed);
        let event = item.event;
        match self.ends.ingress.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let total = self.shared.shed.fetch_add(1, Ordering::Relaxed) + 1;
                if self
                    .shed_logged
                    .is_none_or(|t| t.elapsed() >= SHED_LOG_EVERY)
                {
                    self.shed_logged = Some(Instant::now());
                    log::warn!(
                        "bridge: ingress queue full ({} items, limits.bridge_queue): dropped a {event} action unscreened; {total} dropped so far",
                        self.ends.ingress.capacity().unwrap_or(0)
                    );
                }
            }
            // The executor side is gone: shutdown is under way.
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Sends a request; a would-block write stays buffered and is flushed by the loop.
    fn request(
        &mut self,
        ws: &mut Ws,
        tag: &str,
        method: &str,
        params: Value,
        want_write: &mut bool,
    ) -> Result<(), String> {
        self.next_id += 1;
        let req = json!({"type": "req", "id": format!("{tag}-{}", self.next_id), "method": method, "params": params});
        match ws.send(Message::Text(req.to_string().into())) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                *want_write = true;
                Ok(())
            }
            Err(e) => Err(format!("send {method}: {e}")),
        }
    }
}

/// Reads one JSON frame in blocking mode before `deadline` (non-JSON frames are skipped).
fn read_json(ws: &mut Ws, deadline: Instant) -> Result<Value, String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "handshake timeout after {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ));
        }
        let _ = ws.get_ref().tcp().set_read_timeout(Some(left));
        match ws.read() {
            Ok(Message::Text(t)) => {
                if let Ok(v) = serde_json::from_str(t.as_str()) {
                    return Ok(v);
                }
            }
            Ok(Message::Close(c)) => {
                return Err(match c {
                    Some(c) => format!(
                        "closed during handshake: {} {}",
                        u16::from(c.code),
                        c.reason
                    ),
                    None => "closed during handshake".into(),
                });
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("handshake: {e}")),
        }
    }
}

/// `poll(2)` on `fds` (fd, events); returns which became ready (or hung up).
fn poll<const N: usize>(
    fds: &[(i32, libc::c_short); N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|(fd, events)| libc::pollfd {
        fd,
        events,
        revents: 0,
    });
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: `pfds` is a valid, initialized array of `N` pollfd structs that outlives the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), N as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok([false; N]);
        }
        return Err(e);
    }
    Ok(pfds.map(|p| p.revents != 0))
}

/// Empties the wake socket (non-blocking).
fn drain_wake(mut wake: &UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(wake.read(&mut buf), Ok(n) if n > 0) {}
}

/// A random draw for the backoff jitter.
fn jitter() -> u32 {
    u32::from_le_bytes(crate::ids::random_bytes::<4>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::config::bridge::BridgeAuth;
    use ingress::Item;

    fn thread(cap: usize) -> (Thread, Receiver<Ingress>) {
        let (tx, rx) = smol::channel::bounded(cap);
        let (_out_tx, out_rx) = smol::channel::bounded(1);
        let (wake, _peer) = UnixStream::pair().unwrap();
        let t = Thread {
            cfg: BridgeConfig {
                url: "ws://127.0.0.1:1".into(),
                tls: false,
                host: "127.0.0.1".into(),
                port: 1,
                path: "/".into(),
                auth: BridgeAuth::Token(Secret::new("t")),
                resolve_approvals: true,
            },
            max_frame_bytes: 1 << 20,
            shared: Arc::new(Shared::default()),
            ends: Ends {
                ingress: tx,
                outbound: out_rx,
                wake,
            },
            followed: VecDeque::new(),
            shed_logged: None,
            next_id: 0,
        };
        (t, rx)
    }

    fn prompt(n: usize) -> Ingress {
        Ingress {
            item: Item::Prompt(format!("message {n}")),
            event: ingress::SESSION_MESSAGE,
            session_key: None,
            run_id: None,
            approval_id: None,
        }
    }

    #[test]
    fn a_full_queue_sheds_and_counts_without_waiting() {
        let (mut t, rx) = thread(1);
        for n in 0..5 {
            t.offer(prompt(n));
        }
        let s = Arc::clone(&t.shared);
        assert_eq!(s.frames_in.load(Ordering::Relaxed), 5);
        assert_eq!(s.shed.load(Ordering::Relaxed), 4);
        assert!(t.shed_logged.is_some(), "shedding was reported");
        assert_eq!(
            rx.try_recv().unwrap(),
            prompt(0),
            "the first one got through"
        );
        t.offer(prompt(5));
        assert_eq!(s.shed.load(Ordering::Relaxed), 4, "room again: no shed");
        assert_eq!(rx.try_recv().unwrap(), prompt(5));
        assert_eq!(
            s.frames_in.load(Ordering::Relaxed),
            s.shed.load(Ordering::Relaxed) + 2,
            "every action is either delivered or counted as shed"
        );
    }

    #[test]
    fn poll_reports_the_wake_socket() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let r = poll(
            &[(a.as_raw_fd(), libc::POLLIN)],
            Some(Duration::from_millis(1)),
        )
        .unwrap();
        assert_eq!(r, [false]);
        b.write_all(&[1]).unwrap();
        let r = poll(
            &[(a.as_raw_fd(), libc::POLLIN)],
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert_eq!(r, [true]);
        drain_wake(&a);
        let r = poll(
            &[(a.as_raw_fd(), libc::POLLIN)],
            Some(Duration::from_millis(1)),
        )
        .unwrap();
        assert_eq!(r, [false], "drained");
    }
}
