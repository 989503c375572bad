//! Exec approvals: a `review` verdict waits here for an operator's `exec.approval.resolve`.
//!
//! A request is announced as `exec.approval.requested` to operators holding
//! `operator.approvals`, then waits up to `limits.approval_timeout_ms`; no answer means deny.
//! At most `limits.max_pending_approvals` wait at once; past it a request is denied at once.
//! Every end (decision, timeout, run aborted) is announced as `exec.approval.resolved`.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway::hub::Hub;

/// What an operator (or the timeout) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run this call.
    AllowOnce,
    /// Run it; upstream remembers the grant, we treat it as allow-once (no grant store yet).
    AllowAlways,
    /// Do not run it.
    Deny,
    /// Nobody answered in time (a deny).
    Timeout,
    /// Too many requests pending (a deny).
    Overloaded,
}

impl Decision {
    /// Parses `exec.approval.resolve`'s `decision`.
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allow-once" | "allow" | "approve" => Some(Decision::AllowOnce),
            "allow-always" => Some(Decision::AllowAlways),
            "deny" | "reject" => Some(Decision::Deny),
            _ => None,
        }
    }

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::AllowOnce => "allow-once",
            Decision::AllowAlways => "allow-always",
            Decision::Deny => "deny",
            Decision::Timeout => "timeout",
            Decision::Overloaded => "overloaded",
        }
    }

    /// Whether the call may run.
    pub fn allows(self) -> bool {
        matches!(self, Decision::AllowOnce | Decision::AllowAlways)
    }
}

struct Pending {
    id: String,
    tx: smol::channel::Sender<Decision>,
    request: Value,
}

/// Pending approval requests.
pub struct Approvals {
    pending: RefCell<Vec<Pending>>,
    cap: usize,
}

/// Removes a pending request however the wait ends (decision, timeout, dropped run).
struct Remove<'a> {
    approvals: &'a Approvals,
    hub: &'a Hub,
    id: String,
    decision: Option<Decision>,
}

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        let mut p = self.approvals.pending.borrow_mut();
        let before = p.len();
        p.retain(|x| x.id != self.id);
        if p.len() < before {
            let decision = self.decision.map(Decision::as_str).unwrap_or("cancelled");
            self.hub.emit_approval(
                "exec.approval.resolved",
                &json!({"id": self.id, "decision": decision, "ts": crate::clock::now_ms()}),
            );
        }
    }
}

impl Approvals {
    /// At most `cap` pending requests.
    pub fn new(cap: usize) -> Self {
        Approvals {
            pending: RefCell::new(Vec::new()),
            cap,
        }
    }

    /// Announces `request` and waits for a decision (deny after `timeout`).
    pub async fn ask(&self, hub: &Hub, request: Value, timeout: Duration) -> Decision {
        if self.pending.borrow().len() >= self.cap {
            return Decision::Overloaded;
        }
        let id = crate::ids::uuid_v4();
        let (tx, rx) = smol::channel::bounded(1);
        let now = crate::clock::now_ms();
        let record = json!({
            "id": id,
            "request": request,
            "createdAtMs": now,
            "expiresAtMs": now + timeout.as_millis() as u64,
        });
        self.pending.borrow_mut().push(Pending {
            id: id.clone(),
            tx,
            request: record.clone(),
        });
        let mut guard = Remove {
            approvals: self,
            hub,
            id,
            decision: None,
        };
        hub.emit_approval("exec.approval.requested", &record);
        let d = crate::clock::within(timeout, rx.recv())
            .await
            .and_then(Result::ok)
            .unwrap_or(Decision::Timeout);
        guard.decision = Some(d);
        d
    }

    /// Delivers an operator's decision; `false` when no such request is pending.
    pub fn resolve(&self, id: &str, d: Decision) -> bool {
        self.pending
            .borrow()
            .iter()
            .find(|p| p.id == id)
            .is_some_and(|p| p.tx.try_send(d).is_ok())
    }

    /// The pending request records.
    pub fn list(&self) -> Vec<Value> {
        self.pending
            .borrow()
            .iter()
            .map(|p| p.request.clone())
            .collect()
    }
}
