//! Mesh benchmark (issue 8): `edge.mesh.status` with 10 peers (one dead) and the RSS of a
//! gateway with 10 connected peers.
//!
//! Starts a hub gateway, then 10 peer gateways (`openclaw-edge run`, each its own temp state
//! dir) that join the hub as role-`node` peers (`[mesh] peers = [{…, join = true}]`), so the hub
//! holds 10 real node connections. Measures the hub's RSS before and with the peers connected;
//! times `edge.mesh.status` on the hub (10 `mesh.ping` invokes per call); freezes one peer
//! (SIGSTOP) and times one call, which must come back at its deadline with that peer `timeout`
//! and the others `ok`. Then starts a prober gateway whose `[mesh] peers` are 9 of the peer
//! instances plus one dead address (nothing listening), and times `edge.mesh.status` there (a
//! fresh signed operator connection and a `health` call per live peer, one `error` per call).
//! Prints a Markdown table and one `BENCH_MESH_JSON {...}` line; exits non-zero only when the
//! harness fails (a server that does not start, a call that errors, a deadline), not on a miss.
//!
//! Usage: `bench/run.sh --mesh-only`, or `cargo bench --bench mesh -- --bin PATH [--quick]
//! [--calls N] [--bin-note TEXT] [--json-out F] [--keep]`. See `bench/README.md`.
//!
//! Everything is bounded: every loop has a count and a deadline, sockets have read/write
//! timeouts, every server is stopped with SIGTERM (SIGKILL after 5 s) and the temp dir removed.

#[path = "common.rs"]
mod common;

use common::*;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Peer gateways started.
const PEERS: usize = 10;
/// Timed `edge.mesh.status` calls per phase.
const CALLS: usize = 200;
const QUICK_CALLS: usize = 30;
/// Deadline of each timed call (the edge profile's `mesh_probe_timeout_ms`).
const DEADLINE_MS: u64 = 5_000;
/// Deadline of the call with a frozen peer (it is waited for in full).
const FROZEN_DEADLINE_MS: u64 = 1_000;
/// Socket timeouts of the bench client.
const IO: Duration = Duration::from_secs(15);
/// Wait for the peers to join the hub.
const JOIN_LIMIT: Duration = Duration::from_secs(30);
/// A frozen peer's call may end this much after its deadline and still pass.
const T_FROZEN_SLACK_MS: u64 = 200;

fn main() {
    bench_main("mesh", USAGE, OWN_FLAGS, run);
}

const USAGE: &str =
    "usage: mesh [--bin PATH] [--quick] [--calls N] [--bin-note TEXT] [--json-out F] [--keep]";
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[Own::Num("--calls", 5, 10_000)];

fn run(f: &Flags) -> R<()> {
    let calls = f
        .num("--calls")
        .unwrap_or(if f.quick { QUICK_CALLS } else { CALLS });
    let run = Run::start("mesh", f, None, "openclaw-edge-bench-mesh")?;
    eprintln!(
        "mesh bench: binary {}, temp dir {}; {PEERS} peers, {calls} calls per phase",
        run.bin.display(),
        run.root.display()
    );
    let res = measure(&run.bin, &run.root, &run.token, calls);
    run.finish(res, "BENCH_MESH_JSON", |info, m| render(&info, &m))
}

// ---------------------------------------------------------------------------------- measure

#[derive(Debug)]
struct Measured {
    hub_idle: Mem,
    hub_joined: Mem,
    hub_after: Mem,
    peer_rss: Vec<u64>,
    nodes: Lat,
    nodes_summary: Value,
    frozen: Duration,
    frozen_summary: Value,
    prober: Lat,
    prober_summary: Value,
    prober_after: Mem,
    stops: Vec<Stop>,
}

/// Writes `text` to `dir/name.toml`.
fn config(dir: &Path, name: &str, text: &str) -> R<PathBuf> {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

/// `n` timed `edge.mesh.status` calls; fails unless each summary is what `want` says.
fn timed_status(c: &mut Conn, n: usize, want: &Value) -> R<(Lat, Value)> {
    let mut lat = Vec::with_capacity(n);
    let mut last = Value::Null;
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(600);
    for i in 0..n {
        if Instant::now() > end {
            return Err(format!("edge.mesh.status: deadline passed after {i} calls"));
        }
        let (ns, _, v) = c.call_with("edge.mesh.status", json!({"timeoutMs": DEADLINE_MS}))?;
        let s = &v["summary"];
        for (k, want) in want.as_object().into_iter().flatten() {
            if &s[k] != want {
                return Err(format!(
                    "edge.mesh.status call {i}: summary {s}, expected {want} for {k}"
                ));
            }
        }
        lat.push(ns);
        last = v;
    }
    Ok((lat_stats(lat, t0.elapsed()), last["summary"].clone()))
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

fn measure(bin: &Path, root: &Path, token: &str, calls: usize) -> R<Measured> {
    let mut hub = Server::start(bin, None, &root.join("hub"), token)?;
    let (_, _, mut c) = hub.wait_ready(token, IO, Duration::from_secs(10))?;
    c.drain_quiet(Duration::from_millis(200), IO)?;
    let hub_idle = mem(hub.pid)?;

    let mut peers = Vec::with_capacity(PEERS);
    for i in 0..PEERS {
        let text = format!(
            "[mesh]\nname = \"p{i}\"\npeers = [{{name = \"hub\", url = \"ws://127.0.0.1:{}\", token = \"{token}\", join = true}}]\n",
            hub.port
        );
        let cfg = config(root, &format!("p{i}"), &text)?;
        peers.push(Server::start(
            bin,
            Some(&cfg),
            &root.join(format!("p{i}")),
            token,
        )?);
    }
    let t0 = Instant::now();
    loop {
        let (_, _, v) = c.call_with("node.list", json!({}))?;
        let n = v["nodes"]
            .as_array()
            .map(|a| a.iter().filter(|n| n["connected"] == true).count())
            .unwrap_or(0);
        if n == PEERS {
            break;
        }
        if t0.elapsed() > JOIN_LIMIT {
            return Err(format!("{n} of {PEERS} peers joined the hub within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    c.drain_quiet(Duration::from_millis(300), IO)?;
    let hub_joined = mem(hub.pid)?;
    let peer_rss = peers
        .iter()
        .map(|p| mem(p.pid).map(|m| m.rss))
        .collect::<R<Vec<_>>>()?;

    let all_ok = json!({"total": PEERS, "ok": PEERS});
    let (nodes, nodes_summary) = timed_status(&mut c, calls, &all_ok)?;

    // One peer frozen: its probe waits for the whole deadline, the rest answer.
    signal(peers[0].pid, "STOP");
    let call = c.call_with("edge.mesh.status", json!({"timeoutMs": FROZEN_DEADLINE_MS}));
    signal(peers[0].pid, "CONT");
    let (ns, _, v) = call?;
    let frozen = Duration::from_nanos(ns);
    let frozen_summary = v["summary"].clone();
    if frozen_summary["ok"] != PEERS - 1 || frozen_summary["timeout"] != 1 {
        return Err(format!("frozen peer: summary {frozen_summary}"));
    }
    let hub_after = mem(hub.pid)?;

    // A prober with 9 live peer instances and one dead address.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        l.local_addr().map_err(|e| e.to_string())?.port()
    };
    let mut list: Vec<String> = peers[1..]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{{name = \"p{}\", url = \"ws://127.0.0.1:{}\", token = \"{token}\"}}",
                i + 1,
                p.port
            )
        })
        .collect();
    list.push(format!(
        "{{name = \"dead\", url = \"ws://127.0.0.1:{dead}\", token = \"{token}\"}}"
    ));
    let cfg = config(
        root,
        "prober",
        &format!("[mesh]\npeers = [{}]\n", list.join(", ")),
    )?;
    let mut prober = Server::start(bin, Some(&cfg), &root.join("prober"), token)?;
    let (_, _, mut pc) = prober.wait_ready(token, IO, Duration::from_secs(10))?;
    pc.drain_quiet(Duration::from_millis(200), IO)?;
    let one_dead = json!({"total": PEERS, "ok": PEERS - 1, "error": 1});
    let (prober_lat, prober_summary) = timed_status(&mut pc, calls, &one_dead)?;
    let prober_after = mem(prober.pid)?;

    drop(c);
    drop(pc);
    let mut stops = vec![prober.stop()?];
    for p in &mut peers {
        stops.push(p.stop()?);
    }
    stops.push(hub.stop()?);
    Ok(Measured {
        hub_idle,
        hub_joined,
        hub_after,
        peer_rss,
        nodes,
        nodes_summary,
        frozen,
        frozen_summary,
        prober: prober_lat,
        prober_summary,
        prober_after,
        stops,
    })
}

// ---------------------------------------------------------------------------------- report

fn render(info: &RunInfo, m: &Measured) -> (String, Value) {
    let mut rows = Rows::default();
    let per_peer = m.hub_joined.rss.saturating_sub(m.hub_idle.rss) as f64 / PEERS as f64;
    rows.info(
        "Hub VmRSS: idle / with 10 node peers connected",
        format!("{} / {}", mib(m.hub_idle.rss), mib(m.hub_joined.rss)),
        format!(
            "{per_peer:.0} KiB per connected peer; {}",
            mem_split(&m.hub_joined)
        ),
    );
    rows.info(
        format!(
            "`edge.mesh.status` on the hub, 10 nodes (`mesh.ping`), {} calls: p50 / p99 (max)",
            m.nodes.calls
        ),
        lat_cell(&m.nodes),
        format!("last summary {}", m.nodes_summary),
    );
    let frozen_ms = m.frozen.as_millis() as u64;
    rows.row(
        format!(
            "`edge.mesh.status` with one node frozen (SIGSTOP), deadline {FROZEN_DEADLINE_MS} ms"
        ),
        format!("{frozen_ms} ms"),
        format!("summary {}", m.frozen_summary),
        &format!("≤ deadline + {T_FROZEN_SLACK_MS} ms"),
        verdict(frozen_ms <= FROZEN_DEADLINE_MS + T_FROZEN_SLACK_MS),
    );
    rows.info(
        format!(
            "`edge.mesh.status` on a prober, 9 peer instances + 1 dead (`health` each), {} calls: p50 / p99 (max)",
            m.prober.calls
        ),
        lat_cell(&m.prober),
        format!("last summary {}", m.prober_summary),
    );
    rows.info(
        "Hub / prober VmRSS after the calls",
        format!("{} / {}", mib(m.hub_after.rss), mib(m.prober_after.rss)),
        format!("prober {}", mem_split(&m.prober_after)),
    );
    let max_peer = m.peer_rss.iter().copied().max().unwrap_or(0);
    rows.info(
        "Peer VmRSS (joined as a node): max",
        mib(max_peer),
        "each peer keeps one outbound link".into(),
    );
    let clean = m.stops.iter().all(|s| s.code == Some(0));
    let warn: usize = m.stops.iter().map(|s| s.log_warn).sum();
    rows.row(
        format!("{} servers stopped with SIGTERM", m.stops.len()),
        format!(
            "{} exit 0",
            m.stops.iter().filter(|s| s.code == Some(0)).count()
        ),
        format!("{warn} WARN lines in their logs (the frozen peer's link)"),
        "all exit 0",
        verdict(clean),
    );
    let mut table = info.header("Mesh benchmark (issue 8)");
    table.push('\n');
    table.push_str(&markdown_table(
        ["Figure", "Measured", "Note", "Target", "Status"],
        &rows.0,
    ));
    let j = info.with_json(json!({
        "peers": PEERS,
        "hub_idle_rss_kib": m.hub_idle.rss,
        "hub_joined_rss_kib": m.hub_joined.rss,
        "hub_rss_per_peer_kib": per_peer,
        "peer_rss_max_kib": max_peer,
        "status_nodes_p50_ns": m.nodes.p50, "status_nodes_p99_ns": m.nodes.p99,
        "status_nodes_max_ns": m.nodes.max, "status_nodes_calls": m.nodes.calls,
        "status_frozen_ms": frozen_ms, "status_frozen_deadline_ms": FROZEN_DEADLINE_MS,
        "status_instances_p50_ns": m.prober.p50, "status_instances_p99_ns": m.prober.p99,
        "status_instances_max_ns": m.prober.max, "status_instances_calls": m.prober.calls,
        "prober_rss_kib": m.prober_after.rss,
        "clean_stops": clean,
    }));
    (table, j)
}
