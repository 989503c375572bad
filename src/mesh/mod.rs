//! Mesh: the peers this instance can see and probe, and the links it keeps to them.
//!
//! Peers are (a) OpenClaw nodes connected to this gateway with role `node` (the real
//! `openclaw node run`, or another openclaw-edge that joined us), tracked in `nodes` and driven
//! with `node.invoke` through `invokes`; and (b) other openclaw-edge instances listed in
//! `[mesh] peers`, which this instance dials with its Ed25519 device identity (`client`): a fresh
//! operator connection per probe, and with `join = true` a long-lived role-`node` link (`link`)
//! that answers their `mesh.ping`. `probe` runs `edge.mesh.status`: every peer concurrently under
//! one deadline, each probe holding one of `limits.mesh_probe_concurrency` slots.
//!
//! Bounds: nodes tracked (`mesh_max_nodes`), pending invokes (`mesh_max_pending_invokes`), peers
//! (`mesh_max_peers`, checked at config load), probe slots. Everything runs on the executor; the
//! only blocking work (a peer host name lookup) goes to the blocking pool, and the device
//! identity file is read once at start-up. Pairing and device tokens live in `pairing`.

pub mod client;
pub mod invoke;
pub mod link;
pub mod nodes;
pub mod pairing;
pub mod probe;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::{Value, json};

use crate::bridge::device::Identity;
use crate::config::Config;
use crate::gateway::Ctx;

/// Commands this instance offers when it joins a peer as a node.
pub const NODE_COMMANDS: [&str; 1] = ["mesh.ping"];
/// Longest link error kept for `edge.mesh.status` (peer-controlled text must not grow it).
const MAX_ERROR_BYTES: usize = 256;

/// What this instance knows about one configured peer instance.
#[derive(Debug, Default)]
pub struct PeerState {
    last_seen_ms: Cell<Option<u64>>,
    link_connected: Cell<bool>,
    link_connects: Cell<u64>,
    link_error: RefCell<Option<String>>,
}

impl PeerState {
    /// Records a sign of life (a link frame or a good probe).
    pub fn seen(&self) {
        self.last_seen_ms.set(Some(crate::clock::now_ms()));
    }

    /// Last sign of life (unix ms), if any.
    pub fn last_seen_ms(&self) -> Option<u64> {
        self.last_seen_ms.get()
    }

    /// The link came up or went down.
    pub fn link_up(&self, up: bool) {
        self.link_connected.set(up);
        if up {
            self.link_connects.set(self.link_connects.get() + 1);
            self.seen();
        }
    }

    /// Why the link last failed (cut to `MAX_ERROR_BYTES`).
    pub fn set_link_error(&self, e: String) {
        *self.link_error.borrow_mut() = Some(crate::store::messages::cut(&e, MAX_ERROR_BYTES));
    }

    /// The link as `edge.mesh.status` shows it.
    pub fn link_json(&self) -> Value {
        json!({
            "connected": self.link_connected.get(),
            "connects": self.link_connects.get(),
            "lastError": *self.link_error.borrow(),
        })
    }
}

/// The mesh state in `gateway::Ctx`.
pub struct Mesh {
    /// Connected and known nodes.
    pub nodes: nodes::Nodes,
    /// `node.invoke` requests waiting for results.
    pub invokes: invoke::Invokes,
    /// One state per `[mesh] peers` entry, same order.
    pub peers: Vec<PeerState>,
    /// Probe slots (`limits.mesh_probe_concurrency`).
    pub slots: smol::lock::Semaphore,
    /// Paired devices, pending requests and device tokens (a cache of the store).
    pub pairing: pairing::Pairing,
    identity: RefCell<Option<Rc<Identity>>>,
}

impl Mesh {
    /// Empty state sized from `config`.
    pub fn new(config: &Config) -> Mesh {
        let l = &config.limits;
        Mesh {
            nodes: nodes::Nodes::new(l.mesh_max_nodes),
            invokes: invoke::Invokes::new(l.mesh_max_pending_invokes),
            peers: config
                .mesh
                .peers
                .iter()
                .map(|_| PeerState::default())
                .collect(),
            slots: smol::lock::Semaphore::new(l.mesh_probe_concurrency),
            pairing: pairing::Pairing::new(l),
            identity: RefCell::new(None),
        }
    }

    /// This instance's device identity, once loaded (only when peers are configured).
    pub fn identity(&self) -> Option<Rc<Identity>> {
        self.identity.borrow().clone()
    }

    /// Counters for `status.mesh`.
    pub fn status_json(&self, config: &Config) -> Value {
        json!({
            "nodes": {"tracked": self.nodes.len(), "connected": self.nodes.live_ids().len(),
                      "max": self.nodes.cap()},
            "pendingInvokes": self.invokes.len(),
            "peers": config.mesh.peers.iter().zip(&self.peers).map(|(p, s)| json!({
                "name": p.name, "url": p.url, "join": p.join, "lastSeenMs": s.last_seen_ms(),
                "link": p.join.then(|| s.link_json()),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Starts the mesh: loads the device identity when peers are configured (before the bridge
/// thread can race to create the same file), loads known nodes and the pairing state from the
/// store (awaited, so the first handshake already sees them), and spawns one link task per
/// `join = true` peer. Failures are logged; the gateway keeps serving.
pub async fn start(ctx: &Rc<Ctx>) {
    if !ctx.config.mesh.peers.is_empty() {
        // A small file read once at start-up, before the first client is served.
        match crate::bridge::device::load_or_create(&ctx.config.state_dir) {
            Ok(id) => {
                log::info!(
                    "mesh: {} peer(s) configured, device {}",
                    ctx.config.mesh.peers.len(),
                    id.id
                );
                *ctx.mesh.identity.borrow_mut() = Some(Rc::new(id));
            }
            Err(e) => log::error!("mesh: no device identity, peers cannot be reached: {e}"),
        }
    }
    load_known(ctx).await;
    if let Err(e) = pairing::load(ctx).await {
        log::error!("mesh: cannot load the pairing state: {e}");
    }
    for (i, p) in ctx.config.mesh.peers.iter().enumerate() {
        if p.join {
            ctx.ex.spawn(link::run(Rc::clone(ctx), i)).detach();
        }
    }
}

/// Loads the stored nodes (named or paired) into the registry.
async fn load_known(ctx: &Ctx) {
    let cap = ctx.mesh.nodes.cap();
    match ctx
        .store
        .read(move |db| crate::store::mesh::load_nodes(db, cap))
        .await
    {
        Ok(rows) => {
            for k in rows {
                ctx.mesh.nodes.set_known(k);
            }
        }
        Err(e) => log::error!("mesh: cannot load known nodes: {e}"),
    }
}

/// A connection closed: forget its pairing session; for a node, forget it, fail its pending
/// invokes and stamp its last-seen time.
pub fn disconnected(ctx: &Rc<Ctx>, peer: &crate::gateway::hub::Peer) {
    ctx.mesh.pairing.untrack(&peer.conn_id);
    if peer.role != crate::gateway::Role::Node {
        return;
    }
    let Some((node_id, known)) = ctx.mesh.nodes.disconnect(&peer.conn_id) else {
        return;
    };
    ctx.mesh.invokes.fail_node(&node_id);
    if known {
        touch_later(ctx, node_id);
    }
}

/// Updates a known node's `last_seen_at` in the store without holding anyone up.
pub fn touch_later(ctx: &Rc<Ctx>, node_id: String) {
    let c = Rc::clone(ctx);
    ctx.ex
        .spawn(async move {
            let now = crate::clock::now_ms();
            if let Err(e) = c
                .store
                .write(move |db| crate::store::mesh::touch_node(db, &node_id, now))
                .await
            {
                log::warn!("mesh: cannot record a node's last-seen time: {e}");
            }
        })
        .detach();
}

/// A node finished its handshake: register it (closing the connection it replaces, failing that
/// connection's pending invokes) and stamp its last-seen time if the store knows it.
pub fn node_connected(
    ctx: &Rc<Ctx>,
    hello: nodes::NodeHello,
    peer: &Rc<crate::gateway::hub::Peer>,
) {
    let node_id = hello.node_id.clone();
    match ctx
        .mesh
        .nodes
        .connect(hello, Rc::clone(peer), crate::clock::now_ms())
    {
        Ok(replaced) => {
            if let Some(old) = replaced {
                ctx.mesh.invokes.fail_node(&node_id);
                old.close(1008, "replaced by a newer connection of this node");
            }
            log::info!("mesh: node {node_id} connected (conn {})", peer.conn_id);
            if ctx.mesh.nodes.known(&node_id).is_some() {
                touch_later(ctx, node_id);
            }
        }
        Err(nodes::TableFull) => {
            // Another node took the last slot between the handshake's check and now.
            log::warn!(
                "mesh: node table full ({}, limits.mesh_max_nodes): closing node {node_id}",
                ctx.mesh.nodes.cap()
            );
            peer.close(1013, "node limit reached (limits.mesh_max_nodes)");
        }
    }
}
