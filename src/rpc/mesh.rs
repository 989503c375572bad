//! `edge.mesh.status`: probes every mesh peer concurrently under one deadline (`mesh::probe`).
//!
//! Params `{timeoutMs?}`: the deadline, at most (and by default) `limits.mesh_probe_timeout_ms`,
//! at least 100 ms. The answer lists each peer with `status` (`ok | timeout | error | unknown`),
//! `rttMs`, `lastSeenMs` and a reason when not `ok`, plus a `summary` of the counts.

use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::error::RpcError;
use super::system::parse_params;
use crate::gateway::Ctx;

/// Shortest deadline accepted.
pub const MIN_TIMEOUT_MS: u64 = 100;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusParams {
    timeout_ms: Option<u64>,
}

/// `edge.mesh.status {timeoutMs?}` → `{ts, deadlineMs, durationMs, peers, summary}`.
pub async fn status(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    let p: StatusParams = parse_params("edge.mesh.status", params)?;
    let max = ctx.config.limits.mesh_probe_timeout_ms;
    let ms = p.timeout_ms.unwrap_or(max).clamp(MIN_TIMEOUT_MS, max);
    Ok(crate::mesh::probe::status(ctx, Duration::from_millis(ms)).await)
}
