//! Hub: the registry of authenticated connections, presence, and event fan-out.
//!
//! Each `Peer` owns the sending half of its connection's bounded outbound queue. `send` never
//! waits: a full queue marks the peer as a slow consumer and asks its connection task to close
//! (1008), so one client that stops reading cannot stall broadcasts to the others. Event `seq` is
//! per connection. The peer list is bounded by `limits.max_connections` through the accept permit.
//!
//! A broadcast serializes its payload once into an `Rc<str>` shared by every queue; the frame
//! text is assembled when the connection task writes it. `presence` is droppable, as upstream:
//! a peer whose queue is half full skips it instead of being disconnected, and presence changes
//! are coalesced (`Hub::presence_wanted` wakes one broadcaster task) so a burst of connects costs
//! a few broadcasts, not one per connect to every peer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::Value;
use smol::channel::{Receiver, Sender, TrySendError, bounded};

/// A frame waiting in a peer's outbound queue.
#[derive(Debug)]
pub enum Out {
    /// A ready frame (responses).
    Text(String),
    /// An event whose body is shared with other peers (kept small: a queue slot per frame).
    Event {
        /// Name, payload and state version, shared by every queue.
        body: Rc<EventBody>,
        /// This connection's sequence number.
        seq: u64,
    },
}

/// The part of a broadcast event that is the same for every peer.
#[derive(Debug)]
pub struct EventBody {
    /// Event name.
    pub name: &'static str,
    /// Serialized payload.
    pub payload: String,
    /// `stateVersion`, for presence and health.
    pub state: Option<(u64, u64)>,
}

impl Out {
    /// The frame text.
    pub fn render(self) -> String {
        match self {
            Out::Text(s) => s,
            Out::Event { body, seq } => {
                frame::event(body.name, &body.payload, Some(seq), body.state)
            }
        }
    }
}

use super::Role;
use super::dispatch::has_scope;
use super::frame;

/// Why the runtime closes a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Close {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason (≤ 120 bytes, as upstream truncates).
    pub reason: String,
}

/// One authenticated connection as seen by the rest of the runtime.
pub struct Peer {
    /// Unique connection id (random UUID).
    pub conn_id: String,
    /// `operator` or `node`.
    pub role: Role,
    /// Effective scopes granted at connect.
    pub scopes: Vec<String>,
    /// This client's presence entry.
    pub presence: Value,
    tx: Sender<Out>,
    kill: Sender<Close>,
    seq: Cell<u64>,
    slow: Cell<bool>,
    /// Opted into `sessions.changed` (`sessions.subscribe`).
    sessions_sub: Cell<bool>,
    /// Session keys whose `session.message` events this peer wants (`sessions.messages.subscribe`),
    /// at most `limits.max_message_subscriptions`.
    message_subs: RefCell<Vec<String>>,
}

/// The receiving ends a connection task drains.
pub struct PeerQueues {
    /// Outbound frames, in order.
    pub out: Receiver<Out>,
    /// A close request (slow consumer, shutdown).
    pub kill: Receiver<Close>,
}

impl Peer {
    /// A peer with an outbound queue of `cap` frames.
    pub fn new(
        conn_id: String,
        role: Role,
        scopes: Vec<String>,
        presence: Value,
        cap: usize,
    ) -> (Rc<Peer>, PeerQueues) {
        let (tx, out) = bounded(cap);
        let (kill_tx, kill) = bounded(1);
        let peer = Rc::new(Peer {
            conn_id,
            role,
            scopes,
            presence,
            tx,
            kill: kill_tx,
            seq: Cell::new(0),
            slow: Cell::new(false),
            sessions_sub: Cell::new(false),
            message_subs: RefCell::new(Vec::new()),
        });
        (peer, PeerQueues { out, kill })
    }

    /// Queues a response frame; a full queue closes the peer as a slow consumer.
    pub fn send(&self, text: String) -> bool {
        self.queue(Out::Text(text))
    }

    fn queue(&self, out: Out) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                if !self.slow.replace(true) {
                    log::warn!(
                        "conn {}: outbound queue full ({} frames): disconnecting slow consumer",
                        self.conn_id,
                        self.tx.capacity().unwrap_or(0)
                    );
                    self.close(1008, "slow consumer");
                }
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Queues an event with this connection's next `seq`. A droppable event is skipped (and
    /// takes no `seq`) while the queue is at least half full.
    pub fn send_event(&self, body: &Rc<EventBody>, droppable: bool) -> bool {
        if droppable && self.tx.len() * 2 >= self.tx.capacity().unwrap_or(usize::MAX) {
            return false;
        }
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.queue(Out::Event {
            body: Rc::clone(body),
            seq,
        })
    }

    /// Asks the connection task to close with `code` (first request wins).
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.kill.try_send(Close {
            code,
            reason: reason.chars().take(120).collect(),
        });
    }

    /// Opts in or out of `sessions.changed` events.
    pub fn set_sessions_sub(&self, on: bool) {
        self.sessions_sub.set(on);
    }

    /// Subscribes to `session.message` for `key`; `false` when `cap` keys are already subscribed.
    pub fn subscribe_messages(&self, key: &str, cap: usize) -> bool {
        let mut subs = self.message_subs.borrow_mut();
        if subs.iter().any(|k| k == key) {
            return true;
        }
        if subs.len() >= cap {
            return false;
        }
        subs.push(key.to_string());
        true
    }

    /// Drops the `session.message` subscription for `key`; `true` if there was one.
    pub fn unsubscribe_messages(&self, key: &str) -> bool {
        let mut subs = self.message_subs.borrow_mut();
        let before = subs.len();
        subs.retain(|k| k != key);
        subs.len() != before
    }

    /// Whether this peer may receive read-scoped events.
    fn reads(&self) -> bool {
        self.role == Role::Operator && has_scope(&self.scopes, "operator.read")
    }
}

/// Registry of connected peers.
pub struct Hub {
    peers: RefCell<Vec<Rc<Peer>>>,
    presence_cap: usize,
    presence_version: Cell<u64>,
    health_version: Cell<u64>,
    presence_tx: Sender<()>,
    presence_rx: Receiver<()>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(crate::config::limits::DEFAULT_MAX_PRESENCE_ENTRIES)
    }
}

impl Hub {
    /// A hub whose snapshots and presence events carry at most `presence_cap` entries.
    pub fn new(presence_cap: usize) -> Self {
        // Capacity 1: any number of changes before the broadcaster runs coalesce into one.
        let (presence_tx, presence_rx) = bounded(1);
        Hub {
            peers: RefCell::new(Vec::new()),
            presence_cap,
            presence_version: Cell::new(0),
            health_version: Cell::new(0),
            presence_tx,
            presence_rx,
        }
    }

    /// Registers a peer; presence is broadcast by the presence task.
    pub fn add(&self, peer: Rc<Peer>) {
        self.peers.borrow_mut().push(peer);
        self.presence_changed();
    }

    /// Removes a peer (by connection id); presence is broadcast by the presence task.
    pub fn remove(&self, conn_id: &str) {
        let before = self.peers.borrow().len();
        self.peers.borrow_mut().retain(|p| p.conn_id != conn_id);
        if self.peers.borrow().len() != before {
            self.presence_changed();
        }
    }

    /// Connected peers.
    pub fn len(&self) -> usize {
        self.peers.borrow().len()
    }

    /// Whether no peer is connected.
    pub fn is_empty(&self) -> bool {
        self.peers.borrow().is_empty()
    }

    /// `(presence, health)` state versions.
    pub fn state_version(&self) -> (u64, u64) {
        (self.presence_version.get(), self.health_version.get())
    }

    /// Presence entries of every connected operator and node (`system-presence`).
    pub fn presence_all(&self) -> Vec<Value> {
        self.peers
            .borrow()
            .iter()
            .map(|p| p.presence.clone())
            .collect()
    }

    /// At most `presence_cap` entries for snapshots and events: long-lived clients (nodes, UIs)
    /// before one-shot callers (`cli`, `probe`, `test` modes), newest first within each group.
    pub fn presence(&self) -> Vec<Value> {
        let peers = self.peers.borrow();
        let one_shot =
            |p: &Peer| matches!(p.presence["mode"].as_str(), Some("cli" | "probe" | "test"));
        let lasting = peers.iter().rev().filter(|p| !one_shot(p));
        let brief = peers.iter().rev().filter(|p| one_shot(p));
        lasting
            .chain(brief)
            .take(self.presence_cap)
            .map(|p| p.presence.clone())
            .collect()
    }

    /// Sends an event to every peer (`read_scoped`: only peers holding `operator.read`).
    pub fn broadcast(
        &self,
        name: &'static str,
        payload: &Value,
        read_scoped: bool,
        with_state: bool,
    ) {
        self.fan_out(name, payload, read_scoped, with_state, false);
    }

    fn fan_out(
        &self,
        name: &'static str,
        payload: &Value,
        read_scoped: bool,
        with_state: bool,
        droppable: bool,
    ) {
        let body = Rc::new(EventBody {
            name,
            payload: payload.to_string(),
            state: with_state.then(|| self.state_version()),
        });
        // Clone the list: a send may close a peer, which must not re-enter the borrow.
        let peers: Vec<Rc<Peer>> = self.peers.borrow().clone();
        for p in peers {
            if !read_scoped || p.reads() {
                p.send_event(&body, droppable);
            }
        }
    }

    /// `sessions.changed` to peers that called `sessions.subscribe`.
    pub fn emit_sessions_changed(&self, payload: &Value) {
        self.fan_to("sessions.changed", payload, |p| {
            p.reads() && p.sessions_sub.get()
        });
    }

    /// `session.message` to peers subscribed to `key`.
    pub fn emit_session_message(&self, key: &str, payload: &Value) {
        self.fan_to("session.message", payload, |p| {
            p.reads() && p.message_subs.borrow().iter().any(|k| k == key)
        });
    }

    /// A run's `chat` or `agent` event to every read-scoped operator (upstream broadcasts them).
    pub fn emit_run_event(&self, name: &'static str, payload: &Value) {
        self.fan_out(name, payload, true, false, false);
    }

    /// `exec.approval.*` to operators holding `operator.approvals` (or admin), as upstream.
    pub fn emit_approval(&self, name: &'static str, payload: &Value) {
        self.fan_to(name, payload, |p| {
            p.role == Role::Operator && has_scope(&p.scopes, "operator.approvals")
        });
    }

    /// An event to operators holding `scope` (or admin), e.g. pairing events to
    /// `operator.pairing`, as upstream filters them.
    pub fn emit_scoped(&self, name: &'static str, payload: &Value, scope: &str) {
        self.fan_to(name, payload, |p| {
            p.role == Role::Operator && has_scope(&p.scopes, scope)
        });
    }

    fn fan_to(&self, name: &'static str, payload: &Value, wants: impl Fn(&Peer) -> bool) {
        let peers: Vec<Rc<Peer>> = self
            .peers
            .borrow()
            .iter()
            .filter(|p| wants(p))
            .cloned()
            .collect();
        if peers.is_empty() {
            return;
        }
        let body = Rc::new(EventBody {
            name,
            payload: payload.to_string(),
            state: None,
        });
        for p in peers {
            p.send_event(&body, false);
        }
    }

    /// Completes when presence changed since the last `broadcast_presence`.
    pub async fn presence_wanted(&self) {
        let _ = self.presence_rx.recv().await;
    }

    /// Broadcasts the current presence list (droppable, read-scoped, with `stateVersion`).
    pub fn broadcast_presence(&self) {
        let payload = serde_json::json!({ "presence": self.presence() });
        self.fan_out("presence", &payload, true, true, true);
    }

    /// Asks every peer to close.
    pub fn close_all(&self, code: u16, reason: &str) {
        for p in self.peers.borrow().iter() {
            p.close(code, reason);
        }
    }

    fn presence_changed(&self) {
        self.presence_version.set(self.presence_version.get() + 1);
        let _ = self.presence_tx.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn peer(id: &str, scopes: &[&str], cap: usize) -> (Rc<Peer>, PeerQueues) {
        Peer::new(
            id.into(),
            Role::Operator,
            scopes.iter().map(|s| s.to_string()).collect(),
            json!({"ts": 1, "instanceId": id}),
            cap,
        )
    }

    #[test]
    fn full_queue_closes_only_the_slow_peer() {
        let hub = Hub::default();
        let (slow, slow_q) = peer("slow", &["operator.read"], 4);
        let (fast, fast_q) = peer("fast", &["operator.read"], 64);
        hub.add(slow.clone());
        hub.add(fast.clone());
        hub.broadcast_presence();
        for i in 0..20 {
            hub.broadcast("tick", &json!({"ts": i}), false, false);
            while fast_q.out.try_recv().is_ok() {}
            // Droppable presence never pushes a peer over the edge.
            hub.broadcast_presence();
        }
        let close = slow_q.kill.try_recv().expect("slow peer asked to close");
        assert_eq!(close.code, 1008);
        assert_eq!(close.reason, "slow consumer");
        assert!(fast_q.kill.try_recv().is_err(), "fast peer untouched");
        assert_eq!(slow_q.out.len(), 4, "queue stays at its bound");
    }

    #[test]
    fn seq_is_per_connection_and_presence_is_read_scoped() {
        let hub = Hub::default();
        let (a, aq) = peer("a", &["operator.read"], 16);
        let (n, nq) = Peer::new("n".into(), Role::Node, vec![], json!({"ts": 1}), 16);
        hub.add(a);
        hub.broadcast_presence();
        hub.add(n);
        hub.broadcast_presence();
        hub.broadcast("tick", &json!({"ts": 5}), false, false);
        let frames: Vec<Value> = std::iter::from_fn(|| aq.out.try_recv().ok())
            .map(|o| serde_json::from_str(&o.render()).unwrap())
            .collect();
        let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3], "presence(a), presence(n), tick");
        let node_frames: Vec<Value> = std::iter::from_fn(|| nq.out.try_recv().ok())
            .map(|o| serde_json::from_str(&o.render()).unwrap())
            .collect();
        assert_eq!(node_frames.len(), 1, "node gets tick, not presence");
        assert_eq!(node_frames[0]["event"], "tick");
        assert_eq!(node_frames[0]["seq"], 1);
        assert_eq!(hub.state_version().0, 2);
    }

    #[test]
    fn presence_frames_are_capped_nodes_first() {
        let hub = Hub::new(3);
        let (n, _nq) = Peer::new(
            "node".into(),
            Role::Node,
            vec![],
            json!({"ts": 1, "mode": "node"}),
            4,
        );
        hub.add(n);
        let mut queues = Vec::new();
        for i in 0..10 {
            let (p, q) = Peer::new(
                format!("c{i}"),
                Role::Operator,
                vec![],
                json!({"ts": i, "mode": "cli"}),
                4,
            );
            hub.add(p);
            queues.push(q);
        }
        let shown = hub.presence();
        assert_eq!(shown.len(), 3);
        assert_eq!(shown[0]["mode"], "node");
        assert_eq!(shown[1]["ts"], 9, "newest one-shot client next");
        assert_eq!(hub.presence_all().len(), 11);
    }

    #[test]
    fn presence_changes_coalesce_into_one_wakeup() {
        let hub = Hub::default();
        for i in 0..10 {
            let (p, _q) = peer(&format!("p{i}"), &["operator.read"], 4);
            hub.add(p);
        }
        assert_eq!(hub.presence_rx.len(), 1, "ten changes, one pending wakeup");
        assert_eq!(hub.state_version().0, 10);
    }
}
