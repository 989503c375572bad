//! Probes for `edge.mesh.status`: every peer at once, under one deadline.
//!
//! Each connected node gets a `mesh.ping` invoke; each configured peer instance a fresh operator
//! connection (signed device, `operator.read`) and a `health` call. Every probe is its own task
//! and holds one of `limits.mesh_probe_concurrency` slots; a probe that gets no slot before the
//! deadline, a node that is known but not connected, and a node the pending-invoke table has no
//! room for are `unknown` with the reason: a peer never probed is never `ok`. A probe still
//! running at the deadline is `timeout`; a refused or broken connection, a node that disconnects
//! mid-probe, or an error answer is `error`.
//!
//! A node that answers `mesh.ping` with `ok: false` (upstream's node host says "command not
//! supported") did answer, so it is `ok` with its round-trip time, `pingSupported: false` and a
//! note quoting its answer: reachability is what the probe measures.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client;
use super::invoke::InvokeError;
use crate::bridge::device::Hello;
use crate::gateway::Ctx;

/// Scopes of a probe connection: `health` needs read, nothing more.
const PROBE_SCOPES: [&str; 1] = ["operator.read"];
/// How long a finished probe waits for its close handshake before it drops the socket.
const CLOSE_GRACE: Duration = Duration::from_millis(100);
/// Least time a probe needs; a slot that frees later than this before the deadline is not used.
const MIN_PROBE_TIME: Duration = Duration::from_millis(5);

/// A probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The peer answered within the deadline.
    Ok,
    /// The probe was still waiting at the deadline.
    Timeout,
    /// The probe failed (refused, broken, disconnected, an error answer).
    Error,
    /// Not probed (no connection to probe over, no slot, no invoke room).
    Unknown,
}

impl Status {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Timeout => "timeout",
            Status::Error => "error",
            Status::Unknown => "unknown",
        }
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The verdict.
    pub status: Status,
    /// Round trip of the `mesh.ping` invoke or the `health` call (`ok` only).
    pub rtt_ms: Option<u64>,
    /// TCP + WebSocket + `connect` time of a peer-instance probe (`ok` only).
    pub connect_ms: Option<u64>,
    /// Why it is not `ok`.
    pub error: Option<String>,
    /// A remark on an `ok` (e.g. the node does not know `mesh.ping`).
    pub note: Option<String>,
}

impl Outcome {
    fn of(status: Status, why: impl Into<String>) -> Outcome {
        Outcome {
            status,
            rtt_ms: None,
            connect_ms: None,
            error: Some(why.into()),
            note: None,
        }
    }

    fn ok(rtt: Duration) -> Outcome {
        Outcome {
            status: Status::Ok,
            rtt_ms: Some(rtt.as_millis() as u64),
            connect_ms: None,
            error: None,
            note: None,
        }
    }
}

/// `edge.mesh.status`: probes every peer concurrently and waits at most `timeout`.
pub async fn status(ctx: &Rc<Ctx>, timeout: Duration) -> Value {
    let started = Instant::now();
    let deadline = started + timeout;
    let nodes = ctx.mesh.nodes.list();
    let mut node_tasks = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let id = n["nodeId"].as_str().unwrap_or("").to_string();
        let task = (n["connected"] == true)
            .then(|| ctx.ex.spawn(probe_node(Rc::clone(ctx), id, deadline)));
        node_tasks.push(task);
    }
    let edge_tasks: Vec<_> = (0..ctx.config.mesh.peers.len())
        .map(|i| ctx.ex.spawn(probe_edge(Rc::clone(ctx), i, deadline)))
        .collect();

    let mut peers: Vec<Value> = Vec::with_capacity(nodes.len() + edge_tasks.len());
    for (n, task) in nodes.iter().zip(node_tasks) {
        let o = match task {
            Some(t) => t.await,
            None => Outcome::of(Status::Unknown, "not connected: nothing to probe over"),
        };
        let mut v = json!({
            "id": format!("node:{}", n["nodeId"].as_str().unwrap_or("")),
            "kind": "node",
            "nodeId": n["nodeId"],
            "name": n["displayName"],
            "connected": n["connected"],
            "paired": n["paired"],
            "lastSeenMs": n["lastSeenAtMs"],
        });
        if n["connected"] == true
            && let Some(live) = ctx.mesh.nodes.live(n["nodeId"].as_str().unwrap_or(""))
        {
            v["lastSeenMs"] = json!(live.last_seen_ms.get());
        }
        put_outcome(&mut v, &o);
        peers.push(v);
    }
    for (i, task) in edge_tasks.into_iter().enumerate() {
        let o = task.await;
        let p = &ctx.config.mesh.peers[i];
        let state = &ctx.mesh.peers[i];
        let mut v = json!({
            "id": format!("edge:{}", p.name),
            "kind": "edge",
            "name": p.name,
            "url": p.url,
            "lastSeenMs": state.last_seen_ms(),
            "join": p.join,
        });
        if p.join {
            v["link"] = state.link_json();
        }
        put_outcome(&mut v, &o);
        peers.push(v);
    }
    let count = |s: Status| peers.iter().filter(|p| p["status"] == s.as_str()).count();
    let summary = json!({
        "total": peers.len(),
        "ok": count(Status::Ok),
        "timeout": count(Status::Timeout),
        "error": count(Status::Error),
        "unknown": count(Status::Unknown),
    });
    json!({
        "ts": crate::clock::now_ms(),
        "deadlineMs": timeout.as_millis() as u64,
        "durationMs": started.elapsed().as_millis() as u64,
        "peers": peers,
        "summary": summary,
    })
}

/// Probes the configured peer instances `which` (indexes into `[mesh] peers`) concurrently under
/// one deadline, each exactly as `edge.mesh.status` does (slot, fresh signed connection,
/// `health`); outcomes in `which` order. `edge.handoff.plan` uses it.
pub async fn edge_peers(ctx: &Rc<Ctx>, which: &[usize], timeout: Duration) -> Vec<Outcome> {
    let deadline = Instant::now() + timeout;
    let tasks: Vec<_> = which
        .iter()
        .map(|&i| ctx.ex.spawn(probe_edge(Rc::clone(ctx), i, deadline)))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await);
    }
    out
}

fn put_outcome(v: &mut Value, o: &Outcome) {
    v["status"] = json!(o.status.as_str());
    v["rttMs"] = json!(o.rtt_ms);
    if let Some(ms) = o.connect_ms {
        v["connectMs"] = json!(ms);
    }
    if let Some(e) = &o.error {
        v["error"] = json!(e);
    }
    if let Some(n) = &o.note {
        v["note"] = json!(n);
        v["pingSupported"] = json!(false);
    }
}

/// Takes a probe slot and returns it with the time left; a peer that gets no slot with at
/// least `MIN_PROBE_TIME` to spare before `deadline` is not probed (`unknown`).
async fn slot(
    ctx: &Ctx,
    deadline: Instant,
) -> Result<(smol::lock::SemaphoreGuard<'_>, Duration), Outcome> {
    let unknown = || {
        Outcome::of(
            Status::Unknown,
            "not probed: no probe slot free before the deadline",
        )
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let guard = crate::clock::within(left, ctx.mesh.slots.acquire())
        .await
        .ok_or_else(unknown)?;
    let left = deadline.saturating_duration_since(Instant::now());
    if left < MIN_PROBE_TIME {
        return Err(unknown());
    }
    Ok((guard, left))
}

/// `mesh.ping` to one connected node.
async fn probe_node(ctx: Rc<Ctx>, node_id: String, deadline: Instant) -> Outcome {
    let (_slot, left) = match slot(&ctx, deadline).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let params = json!({"ts": crate::clock::now_ms()}).to_string();
    let m = &ctx.mesh;
    match m
        .invokes
        .invoke(&m.nodes, &node_id, "mesh.ping", Some(params), left, None)
        .await
    {
        Ok((a, rtt)) if a.ok => Outcome::ok(rtt),
        Ok((a, rtt)) => {
            let e = a.error.unwrap_or(Value::Null);
            let mut o = Outcome::ok(rtt);
            o.note = Some(format!(
                "reachable, but mesh.ping answered {}: {}",
                e["code"].as_str().unwrap_or("an error"),
                e["message"].as_str().unwrap_or("(no message)")
            ));
            o
        }
        Err(InvokeError::Timeout { ms }) => Outcome::of(
            Status::Timeout,
            format!("no mesh.ping answer within {ms} ms"),
        ),
        Err(e @ InvokeError::Busy { .. }) => {
            Outcome::of(Status::Unknown, format!("not probed: {e}"))
        }
        Err(e) => Outcome::of(Status::Error, e.to_string()),
    }
}

/// A fresh operator connection and a `health` call to configured peer `idx`.
async fn probe_edge(ctx: Rc<Ctx>, idx: usize, deadline: Instant) -> Outcome {
    let (_slot, left) = match slot(&ctx, deadline).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let Some(identity) = ctx.mesh.identity() else {
        return Outcome::of(
            Status::Error,
            "this instance has no device identity (see the log)",
        );
    };
    let peer = &ctx.config.mesh.peers[idx];
    let hello = Hello {
        client_id: "gateway-client",
        client_mode: "backend",
        display_name: "openclaw-edge mesh probe",
        role: "operator",
        scopes: &PROBE_SCOPES,
        caps: &[],
        commands: &[],
    };
    let work = async {
        let t0 = Instant::now();
        let mut conn = client::connect(&ctx, peer, &identity, &hello).await?;
        let connected = t0.elapsed();
        let t1 = Instant::now();
        let health = conn.request("health", json!({})).await;
        let rtt = t1.elapsed();
        crate::clock::within(CLOSE_GRACE, conn.close()).await;
        let health = health?;
        if health["ok"] != true {
            return Err(format!("health answered ok={}", health["ok"]));
        }
        Ok::<_, String>((rtt, connected))
    };
    match crate::clock::within(left, work).await {
        None => Outcome::of(
            Status::Timeout,
            format!(
                "no health answer within the {} ms deadline",
                left.as_millis()
            ),
        ),
        Some(Err(e)) => Outcome::of(Status::Error, e),
        Some(Ok((rtt, connected))) => {
            ctx.mesh.peers[idx].seen();
            let mut o = Outcome::ok(rtt);
            o.connect_ms = Some(connected.as_millis() as u64);
            o
        }
    }
}
