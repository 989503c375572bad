//! Node invokes: `node.invoke.request` out to a node, its `node.invoke.result` back, bounded.
//!
//! `invoke` sends the request event onto the node's bounded outbound queue and waits for the
//! result under a deadline. Pending invokes are at most `limits.mesh_max_pending_invokes`; one
//! more is refused at once (`Busy`). A pending entry is removed however the wait ends (answer,
//! timeout, the node disconnecting, or the caller's future being dropped), so the table never
//! keeps stale entries. A result is accepted only from the node the request went to, as upstream
//! (`nodeId mismatch`); a late or unknown result is acknowledged and ignored, as upstream.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smol::channel::{Receiver, Sender, bounded};

use super::nodes::Nodes;
use crate::gateway::hub::EventBody;

/// What a node answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The node's `ok`.
    pub ok: bool,
    /// `payload`, or `payloadJSON` parsed (unparseable JSON is kept as a string).
    pub payload: Value,
    /// `payloadJSON` as sent.
    pub payload_json: Option<String>,
    /// The node's `error {code?, message?}` when `ok` is false.
    pub error: Option<Value>,
}

/// Why an invoke got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// No connected node has this id.
    NotConnected,
    /// `limits.mesh_max_pending_invokes` invokes are already waiting.
    Busy {
        /// The limit.
        cap: usize,
    },
    /// The request could not be queued to the node (its queue was full: it is being dropped).
    SendFailed,
    /// No result within the deadline.
    Timeout {
        /// The deadline.
        ms: u64,
    },
    /// The node's connection closed (or was replaced) while the invoke waited.
    Disconnected,
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::NotConnected => write!(f, "node not connected"),
            InvokeError::Busy { cap } => {
                write!(
                    f,
                    "pending node invokes at capacity ({cap}, limits.mesh_max_pending_invokes)"
                )
            }
            InvokeError::SendFailed => write!(f, "failed to send the invoke to the node"),
            InvokeError::Timeout { ms } => write!(f, "node invoke timed out after {ms} ms"),
            InvokeError::Disconnected => write!(f, "node disconnected before answering"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// How a `node.invoke.result` was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// It answered a waiting invoke.
    Delivered,
    /// No invoke waits under that id (late after a timeout, or made up): ignored.
    Unknown,
    /// The invoke went to another node.
    WrongNode,
}

struct Pending {
    id: String,
    node_id: String,
    tx: Sender<Result<Answer, InvokeError>>,
}

/// The pending-invoke table.
pub struct Invokes {
    pending: RefCell<Vec<Pending>>,
    cap: usize,
}

/// Removes its entry from the table when the wait ends, however it ends.
struct Ticket<'a> {
    table: &'a Invokes,
    id: String,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.table.pending.borrow_mut().retain(|p| p.id != self.id);
    }
}

impl Invokes {
    /// A table holding at most `cap` waiting invokes.
    pub fn new(cap: usize) -> Invokes {
        Invokes {
            pending: RefCell::new(Vec::new()),
            cap,
        }
    }

    /// Invokes waiting now.
    pub fn len(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.pending.borrow().is_empty()
    }

    fn open(
        &self,
        node_id: &str,
    ) -> Result<(Ticket<'_>, Receiver<Result<Answer, InvokeError>>), InvokeError> {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= self.cap {
            return Err(InvokeError::Busy { cap: self.cap });
        }
        let id = crate::ids::uuid_v4();
        let (tx, rx) = bounded(1);
        pending.push(Pending {
            id: id.clone(),
            node_id: node_id.to_string(),
            tx,
        });
        Ok((Ticket { table: self, id }, rx))
    }

    /// Delivers a node's result to the invoke `id` waits on, if it came from the right node.
    pub fn resolve(&self, id: &str, from_node: &str, answer: Answer) -> Resolved {
        let pending = self.pending.borrow();
        match pending.iter().find(|p| p.id == id) {
            None => Resolved::Unknown,
            Some(p) if p.node_id != from_node => Resolved::WrongNode,
            Some(p) => {
                let _ = p.tx.try_send(Ok(answer));
                Resolved::Delivered
            }
        }
    }

    /// Fails every invoke waiting on `node_id` (its connection closed or was replaced).
    pub fn fail_node(&self, node_id: &str) {
        for p in self
            .pending
            .borrow()
            .iter()
            .filter(|p| p.node_id == node_id)
        {
            let _ = p.tx.try_send(Err(InvokeError::Disconnected));
        }
    }

    /// Sends `command` to the connected node `node_id` and waits at most `timeout` for its
    /// result; returns the answer and the round-trip time.
    pub async fn invoke(
        &self,
        nodes: &Nodes,
        node_id: &str,
        command: &str,
        params_json: Option<String>,
        timeout: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<(Answer, Duration), InvokeError> {
        let live = nodes.live(node_id).ok_or(InvokeError::NotConnected)?;
        let (ticket, rx) = self.open(node_id)?;
        let mut payload = json!({
            "id": ticket.id,
            "nodeId": node_id,
            "command": command,
            "timeoutMs": timeout.as_millis() as u64,
        });
        if let Some(p) = params_json {
            payload["paramsJSON"] = json!(p);
        }
        if let Some(k) = idempotency_key {
            payload["idempotencyKey"] = json!(k);
        }
        let body = Rc::new(EventBody {
            name: "node.invoke.request",
            payload: payload.to_string(),
            state: None,
        });
        let sent_at = Instant::now();
        if !live.peer.send_event(&body, false) {
            return Err(InvokeError::SendFailed);
        }
        let ms = timeout.as_millis() as u64;
        let answer = crate::clock::within(timeout, rx.recv())
            .await
            .ok_or(InvokeError::Timeout { ms })?
            .map_err(|_| InvokeError::Disconnected)??;
        drop(ticket);
        Ok((answer, sent_at.elapsed()))
    }
}

/// The node's payload: `payload` as sent, else `payloadJSON` parsed (kept as a string when it is
/// not JSON), else null.
pub fn payload_of(payload: Option<Value>, payload_json: Option<&str>) -> Value {
    match (payload, payload_json) {
        (Some(p), _) => p,
        (None, Some(s)) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
        (None, None) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Role;
    use crate::gateway::hub::Peer;
    use crate::mesh::nodes::NodeHello;

    fn setup(cap: usize) -> (Nodes, Invokes, crate::gateway::hub::PeerQueues) {
        let nodes = Nodes::new(4);
        let (peer, q) = Peer::new("c1".into(), Role::Node, vec![], json!({"ts": 1}), 8);
        let hello = NodeHello {
            node_id: "n1".into(),
            ..NodeHello::default()
        };
        nodes.connect(hello, peer, 1).unwrap();
        (nodes, Invokes::new(cap), q)
    }

    fn ok_answer() -> Answer {
        Answer {
            ok: true,
            payload: json!({"pong": true}),
            payload_json: None,
            error: None,
        }
    }

    #[test]
    fn a_result_from_the_right_node_completes_the_invoke() {
        let (nodes, inv, q) = setup(4);
        smol::block_on(async {
            let call = inv.invoke(
                &nodes,
                "n1",
                "mesh.ping",
                None,
                Duration::from_secs(5),
                None,
            );
            let answer = async {
                let frame: Value =
                    serde_json::from_str(&q.out.recv().await.unwrap().render()).unwrap();
                assert_eq!(frame["event"], "node.invoke.request");
                let id = frame["payload"]["id"].as_str().unwrap().to_string();
                assert_eq!(inv.resolve(&id, "other", ok_answer()), Resolved::WrongNode);
                assert_eq!(inv.resolve(&id, "n1", ok_answer()), Resolved::Delivered);
            };
            let (res, ()) = smol::future::zip(call, answer).await;
            assert_eq!(res.unwrap().0.payload["pong"], true);
        });
        assert!(inv.is_empty(), "the entry is gone");
        assert_eq!(inv.resolve("late", "n1", ok_answer()), Resolved::Unknown);
    }

    #[test]
    fn timeouts_disconnects_and_the_cap_leave_no_entries() {
        let (nodes, inv, _q) = setup(1);
        smol::block_on(async {
            let r = inv
                .invoke(&nodes, "n1", "x", None, Duration::from_millis(20), None)
                .await;
            assert_eq!(r.unwrap_err(), InvokeError::Timeout { ms: 20 });
            assert!(inv.is_empty());
            let first = inv.invoke(&nodes, "n1", "x", None, Duration::from_secs(5), None);
            let second = async {
                // The first invoke holds the only slot: the next one is refused at once.
                smol::future::yield_now().await;
                let r = inv
                    .invoke(&nodes, "n1", "x", None, Duration::from_secs(5), None)
                    .await;
                assert_eq!(r.unwrap_err(), InvokeError::Busy { cap: 1 });
                inv.fail_node("n1");
            };
            let (r, ()) = smol::future::zip(first, second).await;
            assert_eq!(r.unwrap_err(), InvokeError::Disconnected);
        });
        assert!(inv.is_empty());
        let r = smol::block_on(inv.invoke(&nodes, "nope", "x", None, Duration::from_secs(1), None));
        assert_eq!(r.unwrap_err(), InvokeError::NotConnected);
    }

    #[test]
    fn payload_json_is_parsed_when_payload_is_absent() {
        assert_eq!(payload_of(None, Some("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(payload_of(None, Some("not json")), json!("not json"));
        assert_eq!(payload_of(Some(json!(2)), Some("3")), json!(2));
        assert_eq!(payload_of(None, None), Value::Null);
    }
}
