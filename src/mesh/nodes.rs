//! Node registry: role-`node` connections and the nodes known from the store, bounded.
//!
//! A node is identified by its device id (the SHA-256 of its Ed25519 key, as upstream's
//! `nodeId`), else by `client.instanceId`, else by its connection id. An entry is live while its
//! connection is up and known while the store has a row for it (the operator renamed or paired
//! it); an entry that is neither is dropped. Live plus known entries are at most
//! `limits.mesh_max_nodes`: past it `admit` refuses a new node's `connect` and nothing grows.
//!
//! A node that reconnects before its old socket is noticed dead replaces the old connection
//! (`connect` returns the old peer for the caller to close). Everything here is synchronous and
//! runs on the executor thread; persistence is the caller's business (`store::mesh`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::{Value, json};

use crate::gateway::hub::Peer;

/// Longest `hostStats` / runner inventory payload kept per node; a larger one is replaced by
/// `{"truncated": true, "bytes": n}` so a chatty node cannot grow the registry.
pub const MAX_NODE_REPORT_BYTES: usize = 4096;

/// What a node said about itself in `connect` (PROTOCOL.md §3.2, §9).
#[derive(Debug, Clone, Default)]
pub struct NodeHello {
    /// `device.id`, else `client.instanceId`, else `conn:<connId>`.
    pub node_id: String,
    /// `client.displayName`.
    pub display_name: Option<String>,
    /// `client.platform`.
    pub platform: String,
    /// `client.version`.
    pub version: String,
    /// `client.deviceFamily`.
    pub device_family: Option<String>,
    /// `client.modelIdentifier`.
    pub model_identifier: Option<String>,
    /// The socket's peer address.
    pub remote_ip: String,
    /// `caps` (sorted, deduplicated).
    pub caps: Vec<String>,
    /// `commands`, the node's invoke allowlist (sorted, deduplicated).
    pub commands: Vec<String>,
    /// `permissions` (object of booleans), as sent.
    pub permissions: Option<Value>,
    /// `pathEnv`, as sent.
    pub path_env: Option<String>,
}

/// A connected node.
pub struct Live {
    /// Its `connect`.
    pub hello: NodeHello,
    /// Its connection (events go onto its bounded outbound queue).
    pub peer: Rc<Peer>,
    /// When it connected (unix ms).
    pub connected_at_ms: u64,
    /// Last frame received from it (unix ms).
    pub last_seen_ms: Cell<u64>,
    /// Latest `node.event {event:"node.host.stats"}` payload (capped).
    pub host_stats: RefCell<Option<Value>>,
    /// Latest `node.runnerInventory.update` params (capped).
    pub runner_inventory: RefCell<Option<Value>>,
    /// Names from the latest `node.skills.update`.
    pub skills: RefCell<Vec<String>>,
    /// Names from the latest `node.pluginTools.update`.
    pub plugin_tools: RefCell<Vec<String>>,
}

/// A node the store knows (a `mesh_nodes` row, possibly also a paired node device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Node id.
    pub node_id: String,
    /// The operator's name for it (`node.rename`), if any.
    pub display_name: Option<String>,
    /// Platform last seen.
    pub platform: Option<String>,
    /// Last time it was connected (unix ms).
    pub last_seen_ms: u64,
    /// Whether a paired device with role `node` backs it.
    pub paired: bool,
}

struct Entry {
    node_id: String,
    live: Option<Rc<Live>>,
    known: Option<Known>,
}

/// `limits.mesh_max_nodes` nodes are tracked already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// The registry.
pub struct Nodes {
    entries: RefCell<Vec<Entry>>,
    cap: usize,
}

/// Caps a node-supplied JSON report at `MAX_NODE_REPORT_BYTES`.
pub fn capped(v: Value) -> Value {
    let n = v.to_string().len();
    if n > MAX_NODE_REPORT_BYTES {
        json!({"truncated": true, "bytes": n})
    } else {
        v
    }
}

impl Nodes {
    /// An empty registry holding at most `cap` nodes.
    pub fn new(cap: usize) -> Nodes {
        Nodes {
            entries: RefCell::new(Vec::new()),
            cap,
        }
    }

    /// Entries (live or known).
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// The limit.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether `node_id` may connect: it is tracked already, or there is room for it.
    pub fn admit(&self, node_id: &str) -> bool {
        let e = self.entries.borrow();
        e.iter().any(|x| x.node_id == node_id) || e.len() < self.cap
    }

    /// Registers a connected node; returns the peer it replaces (to be closed), if any.
    /// Callers checked `admit` during the handshake; a full table here still refuses (the
    /// `false` result), as another node may have taken the last slot in between.
    pub fn connect(
        &self,
        hello: NodeHello,
        peer: Rc<Peer>,
        now: u64,
    ) -> Result<Option<Rc<Peer>>, TableFull> {
        let live = Rc::new(Live {
            hello,
            peer,
            connected_at_ms: now,
            last_seen_ms: Cell::new(now),
            host_stats: RefCell::new(None),
            runner_inventory: RefCell::new(None),
            skills: RefCell::new(Vec::new()),
            plugin_tools: RefCell::new(Vec::new()),
        });
        let mut entries = self.entries.borrow_mut();
        if let Some(e) = entries.iter_mut().find(|e| e.node_id == live.hello.node_id) {
            let old = e.live.replace(live).map(|l| Rc::clone(&l.peer));
            return Ok(old);
        }
        if entries.len() >= self.cap {
            return Err(TableFull);
        }
        entries.push(Entry {
            node_id: live.hello.node_id.clone(),
            live: Some(live),
            known: None,
        });
        Ok(None)
    }

    /// The connection `conn_id` closed: returns the node id it was serving (if it still was) and
    /// whether the store knows that node (so its `last_seen_at` is worth updating).
    pub fn disconnect(&self, conn_id: &str) -> Option<(String, bool)> {
        let mut entries = self.entries.borrow_mut();
        let i = entries
            .iter()
            .position(|e| e.live.as_ref().is_some_and(|l| l.peer.conn_id == conn_id))?;
        let node_id = entries[i].node_id.clone();
        entries[i].live = None;
        let known = match &mut entries[i].known {
            Some(k) => {
                k.last_seen_ms = crate::clock::now_ms();
                true
            }
            None => {
                entries.remove(i);
                false
            }
        };
        Some((node_id, known))
    }

    /// The connected node `node_id`.
    pub fn live(&self, node_id: &str) -> Option<Rc<Live>> {
        self.entries
            .borrow()
            .iter()
            .find(|e| e.node_id == node_id)
            .and_then(|e| e.live.clone())
    }

    /// The connected node served by connection `conn_id`.
    pub fn by_conn(&self, conn_id: &str) -> Option<Rc<Live>> {
        self.entries
            .borrow()
            .iter()
            .filter_map(|e| e.live.clone())
            .find(|l| l.peer.conn_id == conn_id)
    }

    /// Ids of every connected node.
    pub fn live_ids(&self) -> Vec<String> {
        self.entries
            .borrow()
            .iter()
            .filter(|e| e.live.is_some())
            .map(|e| e.node_id.clone())
            .collect()
    }

    /// Records a stored node (start-up load, rename, pairing); `false` when the table is full
    /// and the node is not tracked yet.
    pub fn set_known(&self, k: Known) -> bool {
        let mut entries = self.entries.borrow_mut();
        if let Some(e) = entries.iter_mut().find(|e| e.node_id == k.node_id) {
            e.known = Some(k);
            return true;
        }
        if entries.len() >= self.cap {
            return false;
        }
        entries.push(Entry {
            node_id: k.node_id.clone(),
            live: None,
            known: Some(k),
        });
        true
    }

    /// Forgets the stored facts of `node_id` (pairing removed); a live node stays listed.
    pub fn forget(&self, node_id: &str) {
        let mut entries = self.entries.borrow_mut();
        if let Some(i) = entries.iter().position(|e| e.node_id == node_id) {
            entries[i].known = None;
            if entries[i].live.is_none() {
                entries.remove(i);
            }
        }
    }

    /// The stored facts of `node_id`.
    pub fn known(&self, node_id: &str) -> Option<Known> {
        self.entries
            .borrow()
            .iter()
            .find(|e| e.node_id == node_id)
            .and_then(|e| e.known.clone())
    }

    /// Whether `node_id` is tracked at all.
    pub fn contains(&self, node_id: &str) -> bool {
        self.entries.borrow().iter().any(|e| e.node_id == node_id)
    }

    /// One node as `node.list` / `node.describe` show it, or `None` when untracked.
    pub fn describe(&self, node_id: &str) -> Option<Value> {
        let entries = self.entries.borrow();
        entries
            .iter()
            .find(|e| e.node_id == node_id)
            .map(entry_json)
    }

    /// Every node: connected first, then by name, then by id (upstream's order).
    pub fn list(&self) -> Vec<Value> {
        let entries = self.entries.borrow();
        let mut out: Vec<Value> = entries.iter().map(entry_json).collect();
        out.sort_by(|a, b| {
            let key = |v: &Value| {
                (
                    v["connected"] != true,
                    v["displayName"].as_str().unwrap_or("").to_lowercase(),
                    v["nodeId"].as_str().unwrap_or("").to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        out
    }
}

/// The name shown for a node: the operator's, else its own, else none.
fn display_name(e: &Entry) -> Option<String> {
    e.known
        .as_ref()
        .and_then(|k| k.display_name.clone())
        .or_else(|| e.live.as_ref().and_then(|l| l.hello.display_name.clone()))
}

fn entry_json(e: &Entry) -> Value {
    let mut v = json!({
        "nodeId": e.node_id,
        "displayName": display_name(e),
        "connected": e.live.is_some(),
        "paired": e.known.as_ref().is_some_and(|k| k.paired),
    });
    match (&e.live, &e.known) {
        (Some(l), _) => {
            let h = &l.hello;
            let extra = json!({
                "platform": h.platform,
                "version": h.version,
                "deviceFamily": h.device_family,
                "modelIdentifier": h.model_identifier,
                "remoteIp": h.remote_ip,
                "caps": h.caps,
                "commands": h.commands,
                "permissions": h.permissions,
                "pathEnv": h.path_env,
                "connectedAtMs": l.connected_at_ms,
                "lastSeenAtMs": l.last_seen_ms.get(),
                "hostStats": l.host_stats.borrow().clone(),
                "runnerInventory": l.runner_inventory.borrow().clone(),
                "skills": l.skills.borrow().clone(),
                "pluginTools": l.plugin_tools.borrow().clone(),
            });
            merge(&mut v, extra);
        }
        (None, Some(k)) => {
            let extra = json!({
                "platform": k.platform,
                "caps": [],
                "commands": [],
                "lastSeenAtMs": k.last_seen_ms,
            });
            merge(&mut v, extra);
        }
        (None, None) => {}
    }
    v
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        for (k, val) in b {
            if !val.is_null() {
                a.insert(k, val);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Role;

    fn peer(id: &str) -> Rc<Peer> {
        Peer::new(id.into(), Role::Node, vec![], json!({"ts": 1}), 4).0
    }

    fn hello(id: &str) -> NodeHello {
        NodeHello {
            node_id: id.into(),
            display_name: Some(format!("node {id}")),
            platform: "linux".into(),
            version: "1".into(),
            commands: vec!["system.run".into()],
            ..NodeHello::default()
        }
    }

    #[test]
    fn table_is_bounded_and_entries_go_when_neither_live_nor_known() {
        let n = Nodes::new(2);
        assert!(n.connect(hello("a"), peer("c1"), 1).unwrap().is_none());
        assert!(n.connect(hello("b"), peer("c2"), 1).unwrap().is_none());
        assert!(!n.admit("c"), "full");
        assert!(n.admit("a"), "a tracked node may reconnect");
        assert!(n.connect(hello("c"), peer("c3"), 1).is_err());
        assert_eq!(n.len(), 2);
        assert!(!n.set_known(Known {
            node_id: "z".into(),
            display_name: None,
            platform: None,
            last_seen_ms: 0,
            paired: true,
        }));
        assert_eq!(n.disconnect("c1"), Some(("a".into(), false)));
        assert_eq!(n.len(), 1, "an unknown node is forgotten on disconnect");
        assert_eq!(n.disconnect("c1"), None);
    }

    #[test]
    fn reconnect_replaces_and_old_socket_close_does_not_drop_the_new_one() {
        let n = Nodes::new(4);
        n.connect(hello("a"), peer("c1"), 1).unwrap();
        let old = n.connect(hello("a"), peer("c2"), 2).unwrap();
        assert_eq!(old.unwrap().conn_id, "c1");
        assert_eq!(n.disconnect("c1"), None, "c1 no longer serves a");
        assert_eq!(n.live("a").unwrap().peer.conn_id, "c2");
    }

    #[test]
    fn known_names_win_and_survive_disconnects() {
        let n = Nodes::new(4);
        n.connect(hello("a"), peer("c1"), 1).unwrap();
        assert!(n.set_known(Known {
            node_id: "a".into(),
            display_name: Some("kitchen".into()),
            platform: Some("linux".into()),
            last_seen_ms: 1,
            paired: false,
        }));
        assert_eq!(n.describe("a").unwrap()["displayName"], "kitchen");
        assert_eq!(n.disconnect("c1"), Some(("a".into(), true)));
        let d = n.describe("a").unwrap();
        assert_eq!(d["connected"], false);
        assert_eq!(d["displayName"], "kitchen");
        n.connect(hello("b"), peer("c2"), 1).unwrap();
        let list = n.list();
        assert_eq!(list[0]["nodeId"], "b", "connected first");
        n.forget("a");
        assert!(!n.contains("a"));
    }

    #[test]
    fn reports_are_capped() {
        let big = json!({"x": "y".repeat(MAX_NODE_REPORT_BYTES)});
        assert_eq!(capped(big)["truncated"], true);
        assert_eq!(capped(json!({"cpu": 1})), json!({"cpu": 1}));
    }
}
