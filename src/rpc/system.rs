//! System methods: `health`, `status`, `logs.tail`, `config.get` (and the `config.schema` shape).
//!
//! Everything reported is measured or configured, never invented: session counts come from the
//! store, run counters from the scheduler, channels from `rpc::channels` (empty unless configured), and
//! `status` says which subsystems are not built yet instead of pretending they are up.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::config::{Config, Overrides};
use crate::gateway::Ctx;
use crate::ids;
use crate::rpc::error::RpcError;
use crate::telemetry;

/// Session count and the most recently updated keys, from the store (`{path, count, recent}`).
/// A store that cannot answer (queue full) reports `count: null` rather than a made-up zero.
async fn session_summary(ctx: &Ctx) -> Value {
    let path = ctx.store.path().display().to_string();
    let read = ctx
        .store
        .read(|db| {
            Ok((
                crate::store::sessions::count(db),
                crate::store::sessions::recent(db, 5)?,
            ))
        })
        .await;
    match read {
        Ok((count, recent)) => {
            let recent: Vec<Value> = recent
                .into_iter()
                .map(|(key, updated_at)| json!({"key": key, "updatedAt": updated_at}))
                .collect();
            json!({"path": path, "count": count, "recent": recent})
        }
        Err(e) => json!({"path": path, "count": null, "recent": [], "error": e.to_string()}),
    }
}

/// The health summary (upstream shape; every key is one the protocol schema allows, so the memory
/// counters are in `status.agentMemory`, not here).
pub async fn health(ctx: &Ctx, _probe: bool) -> Value {
    let start = std::time::Instant::now();
    let sessions = session_summary(ctx).await;
    let agent = ctx.config.agent.default_id.clone();
    let (order, labels, channels) = super::channels::summary(ctx).await;
    json!({
        "ok": true,
        "ts": now_ms(),
        "durationMs": start.elapsed().as_millis() as u64,
        "channels": channels,
        "channelOrder": order,
        "channelLabels": labels,
        "heartbeatSeconds": 0,
        "defaultAgentId": agent,
        "agents": [{
            "agentId": agent,
            "isDefault": true,
            "heartbeat": {
                "enabled": false,
                "every": "disabled",
                "everyMs": null,
                "prompt": "",
                "target": "none",
                "ackMaxChars": 0
            },
            "sessions": sessions.clone(),
        }],
        "sessions": sessions,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusParams {
    include_channel_summary: Option<bool>,
    include_cli_projection: Option<bool>,
}

/// Runtime status: the upstream fields the CLI reads plus this gateway's own counters.
pub async fn status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: StatusParams = parse_params("status", params)?;
    let _ = (p.include_channel_summary, p.include_cli_projection);
    let (rss, hwm, anon) = telemetry::memory();
    let l = &ctx.config.limits;
    let summary = session_summary(ctx).await;
    let sched = ctx.sched.get().map(|s| s.stats()).unwrap_or_default();
    let store = ctx.store.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    Ok(json!({
        "runtimeVersion": env!("CARGO_PKG_VERSION"),
        "heartbeat": {"defaultAgentId": ctx.config.agent.default_id, "agents": []},
        "sessions": {
            "paths": [summary["path"]],
            "count": summary["count"],
            "defaults": {
                "model": ctx.config.models.primary().map(|p| p.1),
                "modelProvider": ctx.config.models.primary().map(|p| p.0),
                "contextTokens": ctx.config.models.primary().and_then(|p| p.2),
            },
            "recent": summary["recent"],
            "byAgent": []
        },
        "channelSummary": [],
        "queuedSystemEvents": [],
        "gateway": {
            "bind": ctx.config.bind.to_string(),
            "profile": ctx.config.profile.as_str(),
            "protocol": crate::gateway::PROTOCOL_VERSION,
            "bootId": ctx.boot_id,
            "uptimeMs": ctx.uptime_ms(),
            "authMode": ctx.config.auth.mode.as_str(),
            "connections": {"open": ctx.open.get(), "authenticated": ctx.hub.len(), "max": l.max_connections},
            "accepted": ctx.stats.accepted.get(),
            "refusedAtCap": ctx.stats.refused_at_cap.get(),
            "requests": ctx.stats.requests.get(),
            "shed": ctx.stats.shed.get(),
            "blockingPool": {"threads": ctx.pool.threads(), "maxThreads": l.blocking_threads, "queue": l.blocking_queue},
        },
        "memory": {"rssBytes": rss, "hwmBytes": hwm, "anonBytes": anon},
        "scheduler": {
            "running": sched.running, "queued": sched.queued, "sessionsTracked": sched.sessions_tracked,
            "startedTotal": sched.started_total, "shedTotal": sched.shed_total,
            "timedOutTotal": sched.timed_out_total,
            "maxConcurrentRuns": l.max_concurrent_runs, "globalQueue": l.global_queue, "sessionQueue": l.session_queue,
            "idempotencyEntries": ctx.idem.borrow().len(),
        },
        "store": {
            "path": summary["path"], "writes": load(&store.writes), "commits": load(&store.commits),
            "reads": load(&store.reads), "shed": load(&store.shed), "queue": l.store_queue,
        },
        "agent": {
            "runtime": ctx.config.agent.runtime.as_str(),
            "candidates": ctx.config.models.candidates.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "providers": ctx.agent.providers.as_ref().map(|p| p.stats.to_json()),
            "providerWorkers": l.provider_workers, "providerQueue": l.provider_queue,
            "pendingApprovals": ctx.agent.approvals.list().len(),
            "runWaiters": ctx.agent.runs.waiting(),
        },
        "agentMemory": crate::agent::memory::telemetry(ctx).await,
        "defender": ctx.agent.defender.status_json(),
        "bridge": crate::bridge::status_json(ctx),
        "mesh": ctx.mesh.status_json(&ctx.config),
        "subsystems": {
            "gateway": "running",
            "store": "running",
            "scheduler": "running",
            "providers": if ctx.agent.providers.is_some() { "running" } else { "not configured" },
            "defender": "running",
            "telegram": if ctx.config.telegram.enabled { "running" } else { "not configured" },
            "memory": if ctx.config.memory.enabled { "running" } else { "disabled" },
            "mesh": "running",
        },
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TailParams {
    cursor: Option<u64>,
    limit: Option<usize>,
    max_bytes: Option<usize>,
}

/// Most lines one `logs.tail` call returns.
pub const LOGS_TAIL_MAX_LIMIT: usize = 1000;
/// Most bytes one `logs.tail` call returns.
pub const LOGS_TAIL_MAX_BYTES: usize = 128 * 1024;

/// `logs.tail`: a page of the in-memory log ring.
pub fn logs_tail(params: Option<Value>) -> Result<Value, RpcError> {
    let p: TailParams = parse_params("logs.tail", params)?;
    let limit = p.limit.unwrap_or(100).clamp(1, LOGS_TAIL_MAX_LIMIT);
    let max_bytes = p
        .max_bytes
        .unwrap_or(LOGS_TAIL_MAX_BYTES)
        .clamp(1, LOGS_TAIL_MAX_BYTES);
    let t = telemetry::tail(p.cursor, limit, max_bytes);
    Ok(json!({
        "file": "memory:log-ring",
        "cursor": t.cursor,
        "size": t.size,
        "lines": t.lines,
        "truncated": t.truncated,
        "reset": t.reset,
    }))
}

/// `config.get`: the file as it is on disk now (re-validated, secrets masked) and the config in
/// force. The file read runs on the blocking pool.
pub async fn config_get(ctx: &Ctx) -> Result<Value, RpcError> {
    let path = ctx.config.path.clone();
    let on_disk = match path.clone() {
        None => None,
        Some(p) => Some(ctx.pool.run(move || std::fs::read_to_string(p)).await?),
    };
    let effective = ctx.config.to_public_json();
    let applied_hash = ctx.config.raw.as_deref().map(sha256_hex);
    let (exists, raw, hash, valid, issues) = match on_disk {
        None => (false, None, None, true, Vec::new()),
        Some(Err(e)) => (
            false,
            None,
            None,
            false,
            vec![format!("cannot read config: {e}")],
        ),
        Some(Ok(text)) => {
            let check = Config::from_parts(
                path.clone(),
                Some(text.clone()),
                &text,
                "config",
                &Overrides::default(),
                &|k| std::env::var(k).ok(),
            );
            let issues = match &check {
                Ok(_) => Vec::new(),
                Err(e) => vec![e.to_string()],
            };
            let masked = Some(crate::config::mask_raw(&text));
            (true, masked, Some(sha256_hex(&text)), check.is_ok(), issues)
        }
    };
    Ok(json!({
        "path": path.map(|p| p.display().to_string()).unwrap_or_else(|| "(embedded default)".into()),
        "exists": exists,
        "valid": valid,
        "issues": issues,
        "raw": raw,
        "config": effective,
        "runtimeConfig": effective,
        "hash": hash,
        "appliedConfigHash": applied_hash,
    }))
}

fn sha256_hex(s: &str) -> String {
    ids::hex(&Sha256::digest(s.as_bytes()))
}

/// Params of a method that takes none: absent, `null` or `{}` (a closed empty object).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Deserializes optional params into `T` (closed object); `None`/`null` gives the default.
pub fn parse_params<T: for<'de> Deserialize<'de> + Default>(
    method: &str,
    params: Option<Value>,
) -> Result<T, RpcError> {
    match params {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| RpcError::InvalidRequest(format!("invalid {method} params: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_tail_rejects_unknown_params() {
        let e = logs_tail(Some(json!({"lines": 3}))).unwrap_err();
        assert!(e.to_string().contains("invalid logs.tail params"), "{e}");
        let ok = logs_tail(Some(json!({"limit": 5, "cursor": 0}))).unwrap();
        assert!(ok["lines"].is_array());
    }
}
