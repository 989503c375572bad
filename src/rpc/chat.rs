//! Chat methods: `chat.history` (and the edge alias `sessions.history`), `chat.inject`,
//! `chat.send`, `chat.abort`.
//!
//! `chat.send` is the only way a turn reaches the agent runtime: it checks the idempotency cache
//! (key AND content hash; a reused key with other content is refused, never answered with the old
//! result), stores the user message, then submits the turn to the scheduler. A refused turn (full
//! queue) removes the stored message again, so a client retry with the same key stores it once.
//! Shapes follow PROTOCOL.md §7.2 and §8.

use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::sessions::{canon, changed};
use super::system::parse_params;
use crate::gateway::Ctx;
use crate::scheduler::{Activation, IdemCheck, Origin, QueueMode, Submitted, Turn, content_hash};
use crate::sessions::SessionKey;
use crate::store::messages;
use crate::store::sessions::{self as rows, NewSession};

/// Default `chat.history` page.
pub const DEFAULT_HISTORY_LIMIT: usize = 200;
/// Largest `chat.history` page (upstream's schema maximum).
pub const MAX_HISTORY_LIMIT: usize = 1000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HistoryParams {
    session_key: Option<String>,
    key: Option<String>,
    agent_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
    pending_before: Option<u64>,
    input_run_ids: Option<Vec<String>>,
    message_id: Option<String>,
    session_id: Option<String>,
    max_chars: Option<u64>,
}

/// `chat.history` (`sessions.history` is the same with `key`): the newest `limit` messages of the
/// current session id, oldest first, skipping `offset` newest; with `cursor` (the `deltaCursor` of
/// an earlier answer) only what came after it, or `{kind:"reset"}` when the session was reset.
pub async fn history(ctx: &Ctx, params: Option<Value>, method: &str) -> Result<Value, RpcError> {
    let p: HistoryParams = parse_params(method, params)?;
    let _pending_inputs_not_tracked = (p.pending_before, p.input_run_ids);
    if p.message_id.is_some() {
        return Err(RpcError::InvalidRequest(format!(
            "{method}: messageId lookups are not supported by this gateway"
        )));
    }
    let raw = p.session_key.or(p.key).ok_or_else(|| {
        RpcError::InvalidRequest(format!("invalid {method} params: sessionKey is required"))
    })?;
    let limit = p.limit.unwrap_or(DEFAULT_HISTORY_LIMIT as u64);
    if limit == 0 || limit > MAX_HISTORY_LIMIT as u64 {
        return Err(RpcError::InvalidRequest(format!(
            "invalid {method} params: limit must be 1-{MAX_HISTORY_LIMIT}"
        )));
    }
    let max_chars = p.max_chars.map(|m| m.clamp(1, 500_000) as usize);
    let key = canon(ctx, &raw, p.agent_id.as_deref())?;
    let cursor = match p.cursor.as_deref() {
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            RpcError::InvalidRequest(format!("invalid {method} params: unknown cursor {c:?}"))
        })?),
        None => None,
    };
    let is_delta = cursor.is_some();
    let (k, offset, want_sid) = (
        key.as_str().to_string(),
        p.offset.unwrap_or(0),
        p.session_id,
    );
    let lim = limit as usize;
    let budget = ctx.config.limits.max_response_bytes();
    let read = ctx
        .store
        .read(move |db| {
            let Some(row) = rows::get(db, &k)? else {
                return Ok(None);
            };
            if let Some((sid, after)) = cursor {
                if sid != row.session_id {
                    return Ok(Some((row, None, 0)));
                }
                let msgs = messages::after(db, &k, &sid, after, lim, budget)?;
                return Ok(Some((row, Some(msgs), 0)));
            }
            let total = messages::count(db, &k, &row.session_id)?;
            let before = row.next_seq.saturating_sub(offset);
            let msgs = messages::page(db, &k, &row.session_id, lim, Some(before), budget)?;
            Ok(Some((row, Some(msgs), total)))
        })
        .await?;
    let info = |row: Option<&rows::SessionRow>| session_info(ctx, &key, row);
    let Some((row, msgs, total)) = read else {
        return Ok(json!({
            "sessionKey": key.as_str(), "sessionId": null, "messages": [], "hasMore": false,
            "totalMessages": 0, "sessionInfo": info(None),
        }));
    };
    if let Some(want) = want_sid
        && want != row.session_id
    {
        return Ok(json!({"kind": "reset"}));
    }
    let Some(msgs) = msgs else {
        return Ok(json!({"kind": "reset"}));
    };
    let last_seq = msgs.last().map(|m| m.seq).unwrap_or(row.next_seq - 1);
    let delta_cursor = format!("{}:{}", row.session_id, last_seq);
    let has_more = msgs.first().is_some_and(|m| m.seq > 1) && total > msgs.len() as u64 + offset;
    let bodies: Vec<Value> = msgs.into_iter().map(|m| clip(m.body, max_chars)).collect();
    let mut out = json!({
        "sessionKey": key.as_str(),
        "sessionId": row.session_id,
        "messages": bodies,
        "deltaCursor": delta_cursor,
        "sessionInfo": info(Some(&row)),
    });
    if is_delta {
        out["kind"] = json!("delta");
    } else {
        out["hasMore"] = json!(has_more);
        out["totalMessages"] = json!(total);
    }
    if let Some(t) = row.settings.get("thinkingLevel") {
        out["thinkingLevel"] = t.clone();
    }
    Ok(out)
}

fn parse_cursor(c: &str) -> Option<(String, u64)> {
    let (sid, seq) = c.rsplit_once(':')?;
    Some((sid.to_string(), seq.parse().ok()?))
}

fn session_info(ctx: &Ctx, key: &SessionKey, row: Option<&rows::SessionRow>) -> Value {
    json!({
        "key": key.as_str(),
        "kind": key.kind().as_str(),
        "agentId": key.agent_id(),
        "isMain": key.is_main(&ctx.config.agent.main_key),
        "sessionId": row.map(|r| r.session_id.clone()),
        "label": row.and_then(|r| r.label.clone()),
    })
}

/// Cuts every text part of a message to `max` characters (marked `truncated:true`).
fn clip(mut body: Value, max: Option<usize>) -> Value {
    let Some(max) = max else { return body };
    if let Some(parts) = body["content"].as_array_mut() {
        for p in parts {
            if let Some(t) = p["text"].as_str()
                && t.chars().count() > max
            {
                let cut: String = t.chars().take(max).collect();
                p["text"] = json!(cut);
                p["truncated"] = json!(true);
            }
        }
    }
    body
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InjectParams {
    session_key: String,
    agent_id: Option<String>,
    message: String,
    label: Option<String>,
}

/// `chat.inject`: appends an assistant note without a run → `{ok, messageSeq, sessionId}`.
pub async fn inject(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: InjectParams = parse_params("chat.inject", params)?;
    check_text(ctx, "chat.inject", &p.message, true)?;
    if p.label.as_ref().is_some_and(|l| l.chars().count() > 100) {
        return Err(RpcError::InvalidRequest(
            "invalid chat.inject params: label must be at most 100 characters".into(),
        ));
    }
    let key = canon(ctx, &p.session_key, p.agent_id.as_deref())?;
    let now = crate::clock::now_ms();
    let mut body = json!({"role": "assistant", "content": [{"type": "text", "text": p.message}],
                          "timestamp": now, "provenance": "inject"});
    if let Some(l) = &p.label {
        body["label"] = json!(l);
    }
    let (seq, row) = append(ctx, &key, &body, None, now).await?;
    let sid = row.session_id;
    notify(ctx, &key, &sid, seq, &body);
    Ok(json!({"ok": true, "messageSeq": seq, "sessionId": sid}))
}

/// Ensures the session and appends one message (no events: see `notify`); returns the
/// message's sequence number and the session row as it was before the append.
async fn append(
    ctx: &Ctx,
    key: &SessionKey,
    body: &Value,
    run_id: Option<&str>,
    now: u64,
) -> Result<(u64, rows::SessionRow), RpcError> {
    let (k, new) = (key.as_str().to_string(), NewSession::of(key));
    let (b, rid) = (body.clone(), run_id.map(str::to_string));
    let role = body["role"].as_str().unwrap_or("user").to_string();
    let out = ctx
        .store
        .write(move |db| {
            let (row, _) = rows::ensure(db, &new, now)?;
            let seq = messages::append(db, &k, &role, &b, rid.as_deref(), now)?;
            Ok((seq, row))
        })
        .await?;
    Ok(out)
}

/// Emits `session.message` and `sessions.changed` for a stored message.
fn notify(ctx: &Ctx, key: &SessionKey, sid: &str, seq: u64, body: &Value) {
    ctx.hub.emit_session_message(
        key.as_str(),
        &json!({"sessionKey": key.as_str(), "sessionId": sid, "seq": seq, "message": body}),
    );
    changed(ctx, key.as_str(), "message", Some(sid));
}

fn check_text(ctx: &Ctx, method: &str, text: &str, non_empty: bool) -> Result<(), RpcError> {
    let max = ctx.config.limits.max_chat_message_bytes;
    if text.len() > max {
        return Err(RpcError::InvalidRequest(format!(
            "invalid {method} params: message too long: {} > {max} bytes (limits.max_chat_message_bytes)",
            text.len()
        )));
    }
    if non_empty && text.trim().is_empty() {
        return Err(RpcError::InvalidRequest(format!(
            "invalid {method} params: message must not be empty"
        )));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendParams {
    session_key: String,
    agent_id: Option<String>,
    session_id: Option<String>,
    message: String,
    intent: Option<Value>,
    thinking: Option<String>,
    fast_mode: Option<Value>,
    fast_auto_on_seconds: Option<u64>,
    queue_mode: Option<String>,
    deliver: Option<bool>,
    originating_channel: Option<String>,
    originating_to: Option<String>,
    originating_account_id: Option<String>,
    originating_thread_id: Option<String>,
    reply_to_id: Option<String>,
    attachments: Option<Vec<Value>>,
    tool_bindings: Option<Value>,
    timeout_ms: Option<u64>,
    system_input_provenance: Option<Value>,
    system_provenance_receipt: Option<String>,
    suppress_command_interpretation: Option<bool>,
    expected_leaf_entry_id: Option<Value>,
    expected_session_routing_contract: Option<String>,
    expected_permission_mode: Option<Value>,
    expected_tool_overrides: Option<Value>,
    idempotency_key: String,
    /// Edge extension for channel bridges and tests: the platform flagged a mention.
    mentioned: Option<bool>,
}

/// `chat.send`: stores the user message and schedules a turn → `{runId, status, …}`.
pub async fn send(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    let raw = params.unwrap_or(Value::Null);
    let hash = content_hash(&raw);
    let p: SendParams = parse_params("chat.send", Some(raw))?;
    let _accepted_without_effect = (
        &p.intent,
        &p.thinking,
        &p.fast_mode,
        p.fast_auto_on_seconds,
        p.deliver,
        &p.originating_to,
        &p.originating_account_id,
        &p.originating_thread_id,
        &p.reply_to_id,
        &p.tool_bindings,
        &p.system_input_provenance,
        &p.system_provenance_receipt,
        p.suppress_command_interpretation,
        &p.expected_leaf_entry_id,
        &p.expected_session_routing_contract,
        &p.expected_permission_mode,
        &p.expected_tool_overrides,
    );
    if p.idempotency_key.trim().is_empty() || p.idempotency_key.len() > 256 {
        return Err(RpcError::InvalidRequest(
            "invalid chat.send params: idempotencyKey must be 1-256 characters".into(),
        ));
    }
    if p.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(RpcError::InvalidRequest(
            "chat.send: attachments are not supported by this gateway yet".into(),
        ));
    }
    check_text(ctx, "chat.send", &p.message, true)?;
    let mode = match p.queue_mode.as_deref() {
        None => QueueMode::Followup,
        Some(m) => QueueMode::parse(m).ok_or_else(|| {
            RpcError::InvalidRequest(format!(
                "invalid chat.send params: queueMode must be steer|followup|collect|interrupt, got {m:?}"
            ))
        })?,
    };
    let key = canon(ctx, &p.session_key, p.agent_id.as_deref())?;
    let run_id = p.idempotency_key.clone();
    screen_prompt(
        ctx,
        &key,
        &p.message,
        p.originating_channel.as_deref(),
        &run_id,
    )
    .await?;
    let now = crate::clock::now_ms();
    let check = ctx
        .idem
        .borrow_mut()
        .check(&run_id, hash, now)
        .map_err(|full| RpcError::Busy {
            what: "idempotency cache (all entries in flight)",
            cap: full.cap,
            retry_after_ms: 1_000,
        })?;
    match check {
        IdemCheck::New => {}
        IdemCheck::InFlight => return Ok(json!({"runId": run_id, "status": "in_flight"})),
        IdemCheck::Done(v) => return Ok(v),
        IdemCheck::Conflict => {
            return Err(RpcError::InvalidRequest(format!(
                "idempotencyKey {run_id:?} was already used for a different request"
            )));
        }
    }
    let result = schedule(ctx, &p, &key, mode, now).await;
    let mut idem = ctx.idem.borrow_mut();
    match &result {
        Ok(v) => idem.complete(&run_id, v.clone(), crate::clock::now_ms()),
        Err(_) => idem.forget(&run_id),
    }
    result
}

async fn schedule(
    ctx: &Rc<Ctx>,
    p: &SendParams,
    key: &SessionKey,
    mode: QueueMode,
    now: u64,
) -> Result<Value, RpcError> {
    let sched = ctx
        .sched
        .get()
        .ok_or_else(|| RpcError::Unavailable("scheduler not started".into()))?;
    let run_id = p.idempotency_key.clone();
    let body =
        json!({"role": "user", "content": [{"type": "text", "text": p.message}], "timestamp": now});
    let (seq, row) = append(ctx, key, &body, Some(&run_id), now).await?;
    let sid = row.session_id;
    if let Some(want) = &p.session_id
        && *want != sid
    {
        undo(ctx, key, seq).await;
        return Err(RpcError::InvalidRequest(format!(
            "session {key} was reset: sessionId {want} is no longer current ({sid})"
        )));
    }
    // The settings come with the append's row: no second store round trip.
    let settings = row.settings;
    let activation = settings
        .get("groupActivation")
        .and_then(Value::as_str)
        .or(Some(ctx.config.agent.group_activation.as_str()))
        .and_then(Activation::parse)
        .unwrap_or_default();
    let origin = match &p.originating_channel {
        Some(_) => Origin::Channel {
            group: key.kind() == crate::sessions::Kind::Group,
            mentioned: p.mentioned.unwrap_or(false),
        },
        None => Origin::Operator,
    };
    let cap = ctx.config.limits.run_timeout_ms;
    let timeout =
        std::time::Duration::from_millis(p.timeout_ms.filter(|t| *t > 0).unwrap_or(cap).min(cap));
    let turn = Turn {
        run_id: run_id.clone(),
        session_key: key.as_str().to_string(),
        agent_id: key
            .agent_id()
            .unwrap_or(&ctx.config.agent.default_id)
            .to_string(),
        text: p.message.clone(),
        mode,
        origin,
        timeout,
        merged: Vec::new(),
    };
    let names: Vec<&str> = ctx.config.agent.names.iter().map(String::as_str).collect();
    let submitted = match sched.submit(turn, activation, &names) {
        Ok(s) => s,
        Err(e) => {
            undo(ctx, key, seq).await;
            ctx.stats.shed.set(ctx.stats.shed.get() + 1);
            return Err(RpcError::Busy {
                what: match e {
                    crate::scheduler::SubmitError::SessionQueueFull { .. } => "session queue",
                    crate::scheduler::SubmitError::GlobalQueueFull { .. } => "scheduler queue",
                },
                cap: match e {
                    crate::scheduler::SubmitError::SessionQueueFull { cap }
                    | crate::scheduler::SubmitError::GlobalQueueFull { cap } => cap,
                },
                retry_after_ms: e.retry_after_ms(),
            });
        }
    };
    // Only now is the message part of the transcript for good: tell subscribers.
    notify(ctx, key, &sid, seq, &body);
    let mut out = json!({"runId": run_id, "messageSeq": seq, "sessionId": sid});
    match submitted {
        Submitted::Started => out["status"] = json!("started"),
        Submitted::Queued { position } => {
            out["status"] = json!("queued");
            out["queuePosition"] = json!(position);
        }
        Submitted::Steered { into_run } => {
            out["status"] = json!("steered");
            out["steeredInto"] = json!(into_run);
        }
        Submitted::Collected { into_position } => {
            out["status"] = json!("collected");
            out["queuePosition"] = json!(into_position);
        }
        Submitted::Interrupted { previous_run } => {
            out["status"] = json!("started");
            out["interruptedActiveRun"] = json!(true);
            out["interruptedRunId"] = json!(previous_run);
        }
        Submitted::Skipped { reason } => {
            out["status"] = json!("skipped");
            out["reason"] = json!(reason);
        }
    }
    Ok(out)
}

/// Screens an inbound message (`defender.screen_prompts`): a block refuses it before anything is
/// stored (so the idempotency cache never holds a verdict: it is recomputed from the content);
/// a review lets it through, flagged in `security.decision`.
async fn screen_prompt(
    ctx: &Rc<Ctx>,
    key: &SessionKey,
    text: &str,
    channel: Option<&str>,
    run_id: &str,
) -> Result<(), RpcError> {
    use crate::defender::pipeline::{Action, Context};
    if !ctx.config.defender.screen_prompts {
        return Ok(());
    }
    let c = Context {
        session_key: Some(key.as_str()),
        channel,
        ..Context::default()
    };
    let a = ctx
        .agent
        .defender
        .screen(ctx, Action::Prompt(text), c, json!({"runId": run_id}))
        .await;
    RpcError::unless_blocked(&a)
}

/// Removes a user message whose turn was refused, so a retry does not store it twice. A full
/// store queue is retried a few times (the removal must not be shed like a new write).
async fn undo(ctx: &Ctx, key: &SessionKey, seq: u64) {
    for attempt in 0..UNDO_ATTEMPTS {
        let k = key.as_str().to_string();
        match ctx
            .store
            .write(move |db| messages::remove(db, &k, seq))
            .await
        {
            Ok(()) => return,
            Err(crate::store::StoreError::Busy { .. }) if attempt + 1 < UNDO_ATTEMPTS => {
                smol::Timer::after(std::time::Duration::from_millis(20 << attempt)).await;
            }
            Err(e) => {
                log::warn!("session {key}: could not remove refused message {seq}: {e}");
                return;
            }
        }
    }
}

/// Tries of `undo` against a full store queue (20, 40, 80 … ms apart).
const UNDO_ATTEMPTS: u32 = 6;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AbortParams {
    session_key: String,
    agent_id: Option<String>,
    run_id: Option<String>,
    preserve_side_runs: Option<bool>,
}

/// `chat.abort`: aborts the session's active run (only `runId` if given) → `{ok, aborted, runIds}`.
pub fn abort(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: AbortParams = parse_params("chat.abort", params)?;
    let _no_side_runs_here = p.preserve_side_runs;
    let key = canon(ctx, &p.session_key, p.agent_id.as_deref())?;
    let aborted = ctx
        .sched
        .get()
        .and_then(|s| s.abort(key.as_str(), p.run_id.as_deref()));
    Ok(
        json!({"ok": true, "aborted": aborted.is_some(), "runIds": aborted.into_iter().collect::<Vec<_>>()}),
    )
}
