//! Agent methods: `agent`, `agent.wait`, `agent.identity.get`, `agents.list`, `models.list`,
//! `send`, `exec.approval.resolve`, `exec.approval.list`.
//!
//! `agent` is `chat.send` plus waiting: it stores the message and submits the turn the same way
//! (same idempotency, same queues), answers `{runId, status:"accepted", acceptedAt}` at once on the
//! request's id, then the final `{runId, status, summary, result:{payloads, meta}}` on the same id
//! when the run ends (PROTOCOL.md §7.2). A failed run's final is an error frame with the run
//! facts in `details`. Shapes follow upstream's `AgentParams`, `AgentWaitParams`, … (2026.9.1).

use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::parse_params;
use crate::agent::approval::Decision;
use crate::gateway::Ctx;
use crate::gateway::hub::Peer;

/// `agent.wait` default and largest wait.
const DEFAULT_WAIT_MS: u64 = 30_000;
const MAX_WAIT_MS: u64 = 600_000;

/// Grace past the run deadline before `agent` stops waiting for the final.
const FINAL_GRACE_MS: u64 = 5_000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AgentParams {
    message: String,
    idempotency_key: String,
    agent_id: Option<String>,
    session_key: Option<String>,
    session_id: Option<String>,
    /// Seconds (upstream's CLI sends 600).
    timeout: Option<u64>,
    attachments: Option<Vec<Value>>,
    extra_system_prompt: Option<String>,
    provider: Option<String>,
    model: Option<String>,
}

/// `agent`: runs a turn and answers twice on the request id (accepted, then the final).
pub async fn agent(
    ctx: &Rc<Ctx>,
    peer: Option<&Rc<Peer>>,
    req_id: &str,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    // Upstream's AgentParams has ~40 optional routing fields; unknown ones are accepted and have
    // no effect here (a closed parse would break newer clients), the ones that would change the
    // answer are refused below.
    let p: AgentParams = parse_params("agent", params)?;
    if p.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(RpcError::InvalidRequest(
            "agent: attachments are not supported by this gateway yet".into(),
        ));
    }
    if p.extra_system_prompt.is_some() || p.provider.is_some() || p.model.is_some() {
        return Err(RpcError::InvalidRequest(
            "agent: extraSystemPrompt/provider/model overrides are not supported; set the session model with sessions.patch".into(),
        ));
    }
    let agent_id = check_agent(ctx, p.agent_id.as_deref())?;
    let key = p.session_key.clone().unwrap_or_else(|| "main".into());
    let mut send = json!({
        "sessionKey": key,
        "agentId": agent_id,
        "message": p.message,
        "idempotencyKey": p.idempotency_key,
    });
    if let Some(s) = p.timeout.filter(|s| *s > 0) {
        send["timeoutMs"] = json!(s.saturating_mul(1000));
    }
    if let Some(sid) = &p.session_id {
        send["sessionId"] = json!(sid);
    }
    let ack = super::chat::send(ctx, Some(send)).await?;
    let run_id = ack["runId"].as_str().unwrap_or_default().to_string();
    let status = ack["status"].as_str().unwrap_or_default();
    if status == "skipped" {
        return Ok(
            json!({"runId": run_id, "status": "ok", "summary": "skipped",
                         "result": {"payloads": [], "meta": {"durationMs": 0, "skipped": ack["reason"]}}}),
        );
    }
    let accepted_at = crate::clock::now_ms();
    if let Some(peer) = peer {
        peer.send(crate::gateway::frame::res_ok(
            req_id,
            &json!({"runId": run_id, "status": "accepted", "acceptedAt": accepted_at}),
        ));
    }
    let run_ms = p
        .timeout
        .filter(|s| *s > 0)
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(ctx.config.limits.run_timeout_ms)
        .min(ctx.config.limits.run_timeout_ms);
    // Queued turns wait for earlier ones: allow the session queue ahead of it as well.
    let queued = ctx.config.limits.session_queue as u64 + 1;
    let wait = Duration::from_millis(run_ms.saturating_mul(queued) + FINAL_GRACE_MS);
    let Some(o) = ctx.agent.runs.wait(&run_id, wait).await else {
        return Ok(
            json!({"runId": run_id, "status": "timeout", "summary": "no result within the wait"}),
        );
    };
    let ended = o["endedAt"].as_u64().unwrap_or(accepted_at);
    let started = o["startedAt"].as_u64().unwrap_or(accepted_at);
    if o["status"] != "ok" {
        return Err(RpcError::RunFailed {
            message: o["error"].as_str().unwrap_or("run failed").to_string(),
            details: json!({"runId": run_id, "status": o["status"], "errorKind": o["errorKind"],
                            "attempts": o["attempts"]}),
        });
    }
    Ok(json!({
        "runId": run_id,
        "status": "ok",
        "summary": "completed",
        "result": {
            "payloads": [{"text": o["text"]}],
            "meta": {
                "durationMs": ended.saturating_sub(started),
                "agentMeta": {
                    "sessionKey": o["sessionKey"],
                    "provider": o["provider"],
                    "model": o["model"],
                    "usage": o["usage"],
                    "attempts": o["attempts"],
                },
            },
        },
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WaitParams {
    run_id: String,
    timeout_ms: Option<u64>,
}

/// `agent.wait`: `{runId, status:"ok"|"error"|"timeout", startedAt?, endedAt?, error?}`.
pub async fn wait(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: WaitParams = parse_params("agent.wait", params)?;
    if p.run_id.is_empty() {
        return Err(RpcError::InvalidRequest(
            "invalid agent.wait params: runId is required".into(),
        ));
    }
    let ms = p.timeout_ms.unwrap_or(DEFAULT_WAIT_MS).min(MAX_WAIT_MS);
    match ctx
        .agent
        .runs
        .wait(&p.run_id, Duration::from_millis(ms))
        .await
    {
        Some(o) => {
            let mut out = json!({"runId": p.run_id, "status": o["status"]});
            for k in ["startedAt", "endedAt", "error"] {
                if !o[k].is_null() {
                    out[k] = o[k].clone();
                }
            }
            Ok(out)
        }
        None => Ok(json!({"runId": p.run_id, "status": "timeout"})),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdentityParams {
    agent_id: Option<String>,
    session_key: Option<String>,
}

/// `agent.identity.get`: `{agentId, name}`.
pub fn identity(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: IdentityParams = parse_params("agent.identity.get", params)?;
    let from_key = p
        .session_key
        .as_deref()
        .and_then(|k| k.strip_prefix("agent:"))
        .and_then(|k| k.split(':').next());
    let id = check_agent(ctx, p.agent_id.as_deref().or(from_key))?;
    Ok(json!({"agentId": id, "name": display_name(ctx)}))
}

/// `agents.list`: the one configured agent.
pub fn list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: EmptyParams = parse_params("agents.list", params)?;
    let a = &ctx.config.agent;
    let m = &ctx.config.models;
    let model = m.candidates.first().map(|primary| {
        json!({"primary": primary.to_string(),
               "fallbacks": m.candidates.iter().skip(1).map(|c| c.to_string()).collect::<Vec<_>>()})
    });
    Ok(json!({
        "defaultId": a.default_id,
        "mainKey": a.main_key,
        "scope": "per-sender",
        "agents": [{
            "id": a.default_id,
            "name": display_name(ctx),
            "identity": {"name": display_name(ctx)},
            "workspace": ctx.config.tools.workspace.display().to_string(),
            "model": model,
            "runtime": a.runtime.as_str(),
        }],
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EmptyParams {}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ModelsParams {
    agent_id: Option<String>,
    include_provider_capabilities: Option<bool>,
    prepared_only: Option<bool>,
    refresh: Option<bool>,
    view: Option<String>,
}

/// `models.list`: the configured catalog (plus models named only by the agent's model list).
pub fn models(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ModelsParams = parse_params("models.list", params)?;
    if let Some(a) = &p.agent_id {
        check_agent(ctx, Some(a))?;
    }
    let _no_effect = (
        p.include_provider_capabilities,
        p.prepared_only,
        p.refresh,
        &p.view,
    );
    let m = &ctx.config.models;
    let mut out = Vec::new();
    for prov in &m.providers {
        let available = prov.api_key.is_some() || prov.allow_unauthenticated;
        for model in &prov.models {
            let r = format!("{}/{}", prov.id, model.id);
            out.push(json!({
                "id": model.id,
                "name": model.name.clone().unwrap_or_else(|| model.id.clone()),
                "provider": prov.id,
                "ref": r,
                "contextWindow": model.context_window,
                "maxTokens": model.max_tokens,
                "reasoning": model.reasoning,
                "available": available,
                "local": prov.local,
                "configured": model.listed,
                "candidate": m.candidates.iter().position(|c| c.to_string() == r),
                "cost": model.cost.map(|c| json!({"input": c.input, "output": c.output,
                    "cacheRead": c.cache_read, "cacheWrite": c.cache_write})),
            }));
        }
    }
    Ok(json!({"models": out}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    to: String,
    message: Option<String>,
    idempotency_key: String,
    channel: Option<String>,
    media_url: Option<String>,
    media_urls: Option<Vec<String>>,
}

/// `send {to, message, channel?, idempotencyKey}`: a text message to a Telegram chat, queued in
/// the bridge's persisted outbox (split at 4096, HTML with a plain fallback) and sent within the
/// send budgets. → `{status:"queued", channel, to, chunks, runId}`; the same idempotency key
/// again answers `status:"duplicate"` and queues nothing. Media and other channels answer
/// "not implemented"; a gateway without the bridge too.
pub async fn send(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: SendParams = parse_params("send", params)?;
    if p.to.is_empty() || p.idempotency_key.is_empty() {
        return Err(RpcError::InvalidRequest(
            "invalid send params: to and idempotencyKey are required".into(),
        ));
    }
    let channel = p.channel.as_deref().unwrap_or("telegram");
    if channel != "telegram" {
        return Err(RpcError::NotImplemented(format!(
            "send: channel {channel:?} is not built (this gateway has: telegram)"
        )));
    }
    if p.media_url.is_some() || p.media_urls.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(RpcError::NotImplemented(
            "send: media is not built; send text".into(),
        ));
    }
    let Some(tg) = crate::telegram::bridge::active().filter(|t| !t.is_stopped()) else {
        return Err(RpcError::Unavailable(
            "send: the Telegram bridge is not running (channels.telegram.enabled, channels.status)"
                .into(),
        ));
    };
    let chat_id: i64 = p.to.trim_start_matches("telegram:").parse().map_err(|_| {
        RpcError::InvalidRequest(format!(
            "send: to must be a Telegram chat id, got {:?}",
            p.to
        ))
    })?;
    let text = p.message.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(RpcError::InvalidRequest("send: message is empty".into()));
    }
    let chunks = crate::telegram::format::html_chunks(&text);
    let reply = crate::store::telegram::Reply {
        chat_id,
        chunks,
        parse_mode: Some("HTML".into()),
        ..Default::default()
    };
    let l = &ctx.config.limits;
    let (cap, keys, now, key) = (
        l.telegram_outbox,
        l.telegram_max_updates,
        crate::clock::now_ms(),
        p.idempotency_key.clone(),
    );
    let r2 = reply.clone();
    let done = ctx
        .store
        .write(move |db| crate::store::telegram::send_once(db, &key, &r2, now, cap, keys))
        .await?;
    let (status, chunks) = match done {
        crate::store::telegram::SendOnce::Queued => {
            tg.wake_sender();
            ("queued", reply.chunks.len() as i64)
        }
        crate::store::telegram::SendOnce::Duplicate(_, n) => ("duplicate", n),
    };
    Ok(
        json!({"status": status, "channel": "telegram", "to": chat_id.to_string(),
              "chunks": chunks, "runId": p.idempotency_key}),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResolveParams {
    id: String,
    decision: String,
    reviewer: Option<Value>,
    grant_expires_in_days: Option<u64>,
}

/// `exec.approval.resolve`: an operator's decision on a pending tool call.
pub fn approval_resolve(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ResolveParams = parse_params("exec.approval.resolve", params)?;
    let _no_grant_store = (&p.reviewer, p.grant_expires_in_days);
    let d = Decision::parse(&p.decision).ok_or_else(|| {
        RpcError::InvalidRequest(format!(
            "invalid exec.approval.resolve params: decision must be allow-once|allow-always|deny, got {:?}",
            p.decision
        ))
    })?;
    if !ctx.agent.approvals.resolve(&p.id, d) {
        return Err(RpcError::InvalidRequest(format!(
            "unknown or expired approval id {:?}",
            p.id
        )));
    }
    Ok(json!({"ok": true, "id": p.id, "decision": d.as_str()}))
}

/// `exec.approval.list`: pending approval requests.
pub fn approval_list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: EmptyParams = parse_params("exec.approval.list", params)?;
    Ok(json!({"approvals": ctx.agent.approvals.list()}))
}

fn display_name(ctx: &Ctx) -> String {
    ctx.config
        .agent
        .name
        .clone()
        .unwrap_or_else(|| ctx.config.agent.default_id.clone())
}

/// The agent id to use: only the configured agent exists.
fn check_agent(ctx: &Ctx, id: Option<&str>) -> Result<String, RpcError> {
    let default = &ctx.config.agent.default_id;
    match id {
        None => Ok(default.clone()),
        Some(a) if a.eq_ignore_ascii_case(default) => Ok(default.clone()),
        Some(a) => Err(RpcError::InvalidRequest(format!(
            "unknown agent {a:?} (this gateway runs one agent: {default:?})"
        ))),
    }
}
