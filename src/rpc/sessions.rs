//! Session methods: `sessions.list|describe|get|preview|resolve|patch|reset|delete|compact`,
//! `sessions.subscribe|unsubscribe`, `sessions.messages.subscribe|unsubscribe`, and the edge
//! extension `session.status`.
//!
//! Shapes follow upstream (PROTOCOL.md §7.2, §12b and the 2026.9.1 schema): closed param objects,
//! `SessionRow` rows, `sessions.list {ts, path, count, totalCount, limitApplied, offset,
//! nextOffset, hasMore, defaults, sessions}`. Every change emits `sessions.changed`.
//! Keys are canonicalized once (`sessions::SessionKey`) before any store access.

use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::RpcError;
use super::system::parse_params;
use crate::gateway::Ctx;
use crate::gateway::hub::Peer;
use crate::sessions::SessionKey;
use crate::sessions::patch::{self, Change};
use crate::store::messages;
use crate::store::sessions::{self as rows, ListQuery, NewSession, SessionRow};

/// Default page size of `sessions.list`.
pub const DEFAULT_LIST_LIMIT: usize = 50;
/// Largest page `sessions.list` returns (`limitApplied` reports the cap).
pub const MAX_LIST_LIMIT: usize = 500;
/// Keys one `sessions.preview` call may ask for.
pub const MAX_PREVIEW_KEYS: usize = 64;
/// Default `sessions.compact` line count (upstream's default).
pub const DEFAULT_COMPACT_LINES: u64 = 400;

/// Canonical key for `raw`, with `agent_id` (if given) as the agent of agent-less forms.
pub fn canon(ctx: &Ctx, raw: &str, agent_id: Option<&str>) -> Result<SessionKey, RpcError> {
    let a = &ctx.config.agent;
    let key = SessionKey::parse(raw, agent_id.unwrap_or(&a.default_id), &a.main_key)
        .map_err(|e| RpcError::InvalidRequest(e.to_string()))?;
    if let (Some(want), Some(got)) = (agent_id, key.agent_id())
        && want.to_ascii_lowercase() != got
    {
        return Err(RpcError::InvalidRequest(format!(
            "agentId {want:?} does not match the session key's agent {got:?}"
        )));
    }
    Ok(key)
}

/// A stored row as a `SessionRow` object (`title`/`last`: include derived title / preview).
pub fn row_json(ctx: &Ctx, row: &SessionRow, title: bool, last: bool) -> Value {
    let a = &ctx.config.agent;
    let parsed = SessionKey::parse(&row.key, &a.default_id, &a.main_key).ok();
    let mut o = Map::new();
    // Knobs first so the row's own fields win on any name clash.
    for (k, v) in &row.settings {
        o.insert(k.clone(), v.clone());
    }
    o.insert("key".into(), json!(row.key));
    o.insert("sessionId".into(), json!(row.session_id));
    o.insert("kind".into(), json!(row.kind));
    if !row.agent_id.is_empty() {
        o.insert("agentId".into(), json!(row.agent_id));
    }
    if let Some(l) = &row.label {
        o.insert("label".into(), json!(l));
        o.insert("displayName".into(), json!(l));
    }
    if let Some(k) = &parsed {
        if let Some(ch) = k.channel() {
            o.insert("channel".into(), json!(ch));
        }
        if let Some(ct) = k.chat_type() {
            o.insert("chatType".into(), json!(ct));
        }
        o.insert("isMain".into(), json!(k.is_main(&a.main_key)));
    }
    o.insert("createdAt".into(), json!(row.created_at));
    o.insert("updatedAt".into(), json!(row.updated_at));
    o.insert("archived".into(), json!(row.archived));
    if let Some(t) = row.last_message_at {
        o.insert("lastActivityAt".into(), json!(t));
        o.insert("lastInteractionAt".into(), json!(t));
    }
    if let Some(p) = &row.spawned_by {
        o.insert("spawnedBy".into(), json!(p));
        o.insert("parentSessionKey".into(), json!(p));
    }
    if let Some(d) = row.spawn_depth {
        o.insert("spawnDepth".into(), json!(d));
    }
    o.insert("inputTokens".into(), json!(row.input_tokens));
    o.insert("outputTokens".into(), json!(row.output_tokens));
    o.insert(
        "totalTokens".into(),
        json!(row.input_tokens + row.output_tokens),
    );
    if let Some(m) = &row.last_model {
        o.insert("model".into(), json!(m));
    }
    if let Some(p) = &row.last_provider {
        o.insert("modelProvider".into(), json!(p));
    }
    if let Some(r) = &row.last_run_id {
        o.insert("lastRunId".into(), json!(r));
    }
    if let Some(s) = &row.last_run_status {
        o.insert("status".into(), json!(s));
    }
    if title && let Some(t) = &row.derived_title {
        o.insert("derivedTitle".into(), json!(t));
    }
    if last && let Some(p) = &row.last_preview {
        o.insert("lastMessagePreview".into(), json!(p));
    }
    Value::Object(o)
}

/// Emits `sessions.changed {sessionKey, key, reason, ts, sessionId?}`.
pub fn changed(ctx: &Ctx, key: &str, reason: &str, session_id: Option<&str>) {
    let mut p =
        json!({"sessionKey": key, "key": key, "reason": reason, "ts": crate::clock::now_ms()});
    if let Some(s) = session_id {
        p["sessionId"] = json!(s);
    }
    ctx.hub.emit_sessions_changed(&p);
}

/// `defaults` of list results: the agent's primary model (null fields without one).
fn defaults(ctx: &Ctx) -> Value {
    let primary = ctx.config.models.primary();
    json!({
        "modelProvider": primary.map(|p| p.0),
        "model": primary.map(|p| p.1),
        "contextTokens": primary.and_then(|p| p.2),
        "thinkingDefault": "off",
        "thinkingLevels": ["off", "minimal", "low", "medium", "high", "xhigh"],
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListParams {
    limit: Option<u64>,
    offset: Option<u64>,
    active_minutes: Option<u64>,
    require_last_interaction: Option<bool>,
    sort_by: Option<String>,
    include_global: Option<bool>,
    include_unknown: Option<bool>,
    configured_agents_only: Option<bool>,
    include_derived_titles: Option<bool>,
    include_last_message: Option<bool>,
    label: Option<String>,
    board_face: Option<String>,
    creator_id: Option<String>,
    owner_id: Option<String>,
    owner_first: Option<bool>,
    involving_me: Option<bool>,
    involving_profile_id: Option<String>,
    include_people: Option<bool>,
    spawned_by: Option<String>,
    agent_id: Option<String>,
    search: Option<String>,
    archived: Option<Value>,
}

/// `sessions.list`.
pub async fn list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ListParams = parse_params("sessions.list", params)?;
    // Ownership filters narrow results by people this single-owner gateway does not track:
    // refuse them rather than answer as if they matched everything.
    if p.creator_id.is_some() || p.owner_id.is_some() || p.involving_profile_id.is_some() {
        return Err(RpcError::InvalidRequest(
            "sessions.list: creatorId/ownerId/involvingProfileId filters are not supported by this gateway".into(),
        ));
    }
    let _accepted_without_effect = (
        p.configured_agents_only,
        p.board_face,
        p.owner_first,
        p.involving_me,
        p.include_people,
    );
    if let Some(s) = &p.sort_by
        && s != "updatedAt"
        && s != "lastInteractionAt"
    {
        return Err(RpcError::InvalidRequest(format!(
            "invalid sessions.list params: sortBy must be updatedAt or lastInteractionAt, got {s:?}"
        )));
    }
    if p.limit == Some(0) || p.active_minutes == Some(0) {
        return Err(RpcError::InvalidRequest(
            "invalid sessions.list params: limit and activeMinutes must be at least 1".into(),
        ));
    }
    let archived = match &p.archived {
        None => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "all" => None,
        Some(_) => {
            return Err(RpcError::InvalidRequest(
                "invalid sessions.list params: archived must be a boolean or \"all\"".into(),
            ));
        }
    };
    let limit = (p.limit.unwrap_or(DEFAULT_LIST_LIMIT as u64) as usize).min(MAX_LIST_LIMIT);
    let offset = p.offset.unwrap_or(0) as usize;
    let now = crate::clock::now_ms();
    let q = ListQuery {
        agent_id: p.agent_id.map(|a| a.to_ascii_lowercase()),
        search: p
            .search
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_lowercase()),
        label: p.label,
        spawned_by: match p.spawned_by {
            Some(s) => Some(canon(ctx, &s, None)?.as_str().to_string()),
            None => None,
        },
        include_global: p.include_global.unwrap_or(false),
        include_unknown: p.include_unknown.unwrap_or(false),
        archived,
        updated_since: p
            .active_minutes
            .map(|m| now.saturating_sub(m.saturating_mul(60_000))),
        limit,
        offset,
    };
    let need_interaction = p.require_last_interaction.unwrap_or(false);
    let (page, total) = ctx.store.read(move |db| rows::list(db, &q)).await?;
    let (title, last) = (
        p.include_derived_titles.unwrap_or(false),
        p.include_last_message.unwrap_or(false),
    );
    // Rows stop at the response budget (labels and settings make rows vary in size); the
    // client pages on from `nextOffset` as usual.
    let budget = ctx.config.limits.max_response_bytes();
    let (mut sessions, mut used, mut consumed) = (Vec::with_capacity(page.len()), 0usize, 0usize);
    for r in &page {
        if !need_interaction || r.last_message_at.is_some() {
            let v = row_json(ctx, r, title, last);
            let len = v.to_string().len();
            if !sessions.is_empty() && used + len > budget {
                break;
            }
            used += len;
            sessions.push(v);
        }
        consumed += 1;
    }
    let has_more = offset + consumed < total;
    let mut out = json!({
        "ts": now,
        "path": ctx.store.path().display().to_string(),
        "count": sessions.len(),
        "totalCount": total,
        "limitApplied": limit,
        "offset": offset,
        "hasMore": has_more,
        "defaults": defaults(ctx),
        "sessions": sessions,
    });
    if has_more {
        out["nextOffset"] = json!(offset + consumed);
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DescribeParams {
    key: String,
    agent_id: Option<String>,
    include_derived_titles: Option<bool>,
    include_last_message: Option<bool>,
}

/// `sessions.describe` / `sessions.get`: one row (`{ok, key, session}`), or an error if missing.
pub async fn describe(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: DescribeParams = parse_params("sessions.describe", params)?;
    let key = canon(ctx, &p.key, p.agent_id.as_deref())?;
    let k = key.as_str().to_string();
    let row = ctx.store.read(move |db| rows::get(db, &k)).await?;
    let row = row.ok_or_else(|| not_found(key.as_str()))?;
    let title = p.include_derived_titles.unwrap_or(true);
    let last = p.include_last_message.unwrap_or(true);
    Ok(json!({"ok": true, "key": key.as_str(), "session": row_json(ctx, &row, title, last)}))
}

fn not_found(key: &str) -> RpcError {
    RpcError::InvalidRequest(format!("session not found: {key}"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PreviewParams {
    keys: Vec<String>,
    limit: Option<u64>,
    max_chars: Option<u64>,
}

/// `sessions.preview`: the last `limit` messages of each key as `{role, text}` items.
pub async fn preview(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: PreviewParams = parse_params("sessions.preview", params)?;
    if p.keys.is_empty() || p.keys.len() > MAX_PREVIEW_KEYS {
        return Err(RpcError::InvalidRequest(format!(
            "invalid sessions.preview params: keys must hold 1-{MAX_PREVIEW_KEYS} keys"
        )));
    }
    let limit = p.limit.unwrap_or(12).clamp(1, 50) as usize;
    let max_chars = p.max_chars.unwrap_or(240);
    if max_chars < 20 {
        return Err(RpcError::InvalidRequest(
            "invalid sessions.preview params: maxChars must be at least 20".into(),
        ));
    }
    let max_chars = max_chars.min(4000) as usize;
    let per_key = ctx.config.limits.max_response_bytes() / p.keys.len();
    let mut keys = Vec::with_capacity(p.keys.len());
    for raw in &p.keys {
        keys.push((
            raw.clone(),
            canon(ctx, raw, None).map(|k| k.as_str().to_string()),
        ));
    }
    let previews = ctx
        .store
        .read(move |db| {
            let mut out = Vec::with_capacity(keys.len());
            for (raw, key) in keys {
                let Ok(key) = key else {
                    out.push(json!({"key": raw, "status": "error", "items": []}));
                    continue;
                };
                let Some(row) = rows::get(db, &key)? else {
                    out.push(json!({"key": key, "status": "missing", "items": []}));
                    continue;
                };
                let msgs = messages::page(db, &key, &row.session_id, limit, None, per_key)?;
                let items: Vec<Value> = msgs
                    .iter()
                    .map(|m| json!({"role": m.role, "text": messages::cut(&messages::text_of(&m.body), max_chars)}))
                    .collect();
                let status = if items.is_empty() { "empty" } else { "ok" };
                out.push(json!({"key": key, "status": status, "items": items}));
            }
            Ok(out)
        })
        .await?;
    Ok(json!({"ts": crate::clock::now_ms(), "previews": previews}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResolveParams {
    key: Option<String>,
    session_id: Option<String>,
    label: Option<String>,
    short_id: Option<String>,
    slug_hint: Option<String>,
    agent_id: Option<String>,
    spawned_by: Option<String>,
    include_global: Option<bool>,
    include_unknown: Option<bool>,
    allow_missing: Option<bool>,
}

/// `sessions.resolve`: `{ok:true, key, agentId, displayName?}` or `{ok:false}`.
pub async fn resolve(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ResolveParams = parse_params("sessions.resolve", params)?;
    let _hints_without_effect = (&p.slug_hint, p.include_global, p.include_unknown);
    let given = [
        p.key.is_some(),
        p.session_id.is_some(),
        p.label.is_some(),
        p.short_id.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err(RpcError::InvalidRequest(
            "invalid sessions.resolve params: give exactly one of key, sessionId, label, shortId"
                .into(),
        ));
    }
    let key = match &p.key {
        Some(k) => Some(canon(ctx, k, p.agent_id.as_deref())?.as_str().to_string()),
        None => None,
    };
    let (sid, label, short) = (p.session_id.clone(), p.label.clone(), p.short_id.clone());
    let lookup_key = key.clone();
    let row = ctx
        .store
        .read(move |db| {
            if let Some(k) = lookup_key {
                return rows::get(db, &k);
            }
            if let Some(s) = sid {
                return rows::by_session_id(db, &s);
            }
            if let Some(l) = label {
                return rows::by_label(db, &l);
            }
            // shortId: a unique prefix (≥ 6 characters) of a session id.
            let s = short.unwrap_or_default();
            if s.len() < 6 {
                return Ok(None);
            }
            db.conn
                .prepare_cached("SELECT key FROM sessions WHERE session_id LIKE ?1 || '%' LIMIT 2")
                .and_then(|mut st| {
                    st.query_map([&s], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(Into::into)
                .and_then(|keys| match keys.as_slice() {
                    [one] => rows::get(db, one),
                    _ => Ok(None),
                })
        })
        .await?;
    let row = row.filter(|r| {
        p.agent_id
            .as_deref()
            .is_none_or(|a| r.agent_id == a.to_ascii_lowercase())
            && p.spawned_by
                .as_deref()
                .is_none_or(|s| r.spawned_by.as_deref() == Some(s))
    });
    match (row, key) {
        (Some(r), _) => {
            let mut out = json!({"ok": true, "key": r.key, "agentId": r.agent_id});
            if let Some(l) = &r.label {
                out["displayName"] = json!(l);
            }
            Ok(out)
        }
        (None, Some(k)) if p.allow_missing.unwrap_or(false) => {
            let agent = SessionKey::parse(&k, "main", "main")
                .ok()
                .and_then(|s| s.agent_id().map(str::to_string))
                .unwrap_or_else(|| ctx.config.agent.default_id.clone());
            Ok(json!({"ok": true, "key": k, "agentId": agent}))
        }
        (None, _) => Ok(json!({"ok": false})),
    }
}

/// `sessions.patch`: validates, creates the session if missing, applies, returns the entry.
pub async fn patch(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p = patch::parse(&params.unwrap_or(Value::Null)).map_err(RpcError::InvalidRequest)?;
    let key = canon(ctx, &p.key, p.agent_id.as_deref())?;
    let is_subagent = key.subagent_depth() > 0;
    if (p.spawned_by.is_some() || p.spawn_depth.is_some()) && !is_subagent {
        return Err(RpcError::InvalidRequest(
            "spawnedBy/spawnDepth can only be set on subagent sessions (agent:<id>:subagent:…)"
                .into(),
        ));
    }
    let spawned_by = match &p.spawned_by {
        Some(s) => Some(canon(ctx, s, None)?.as_str().to_string()),
        None => None,
    };
    let new = NewSession::of(&key);
    let now = crate::clock::now_ms();
    let row = ctx
        .store
        .write(move |db| {
            let (mut row, _) = rows::ensure(db, &new, now)?;
            if let Some(want) = &p.expected_session_id
                && *want != row.session_id
            {
                return Err(crate::store::StoreError::Conflict(format!(
                    "session id changed: expected {want}, current {}",
                    row.session_id
                )));
            }
            if let Some(parent) = spawned_by {
                if row.spawned_by.as_deref().is_some_and(|cur| cur != parent) {
                    return Err(crate::store::StoreError::Conflict(
                        "spawnedBy is immutable once set".into(),
                    ));
                }
                row.spawned_by = Some(parent);
            }
            if let Some(d) = p.spawn_depth {
                if row.spawn_depth.is_some_and(|cur| cur != d) {
                    return Err(crate::store::StoreError::Conflict(
                        "spawnDepth is immutable once set".into(),
                    ));
                }
                row.spawn_depth = Some(d);
            }
            match &p.label {
                Some(Change::Set(v)) => row.label = v.as_str().map(str::to_string),
                Some(Change::Clear) => row.label = None,
                None => {}
            }
            patch::apply(&mut row.settings, &p.settings);
            if let Some(a) = row.settings.remove("archived") {
                row.archived = a.as_bool().unwrap_or(false);
            }
            row.updated_at = now;
            rows::save_patch(db, &row)?;
            Ok(row)
        })
        .await?;
    changed(ctx, &row.key, "patch", Some(&row.session_id));
    Ok(json!({
        "ok": true,
        "path": ctx.store.path().display().to_string(),
        "key": row.key,
        "entry": row_json(ctx, &row, true, false),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetParams {
    key: String,
    agent_id: Option<String>,
    reason: Option<String>,
}

/// `sessions.reset`: a new session id (reason `new|reset`); queued turns are dropped.
pub async fn reset(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ResetParams = parse_params("sessions.reset", params)?;
    let reason = p.reason.unwrap_or_else(|| "reset".into());
    if reason != "new" && reason != "reset" {
        return Err(RpcError::InvalidRequest(format!(
            "invalid sessions.reset params: reason must be \"new\" or \"reset\", got {reason:?}"
        )));
    }
    let key = canon(ctx, &p.key, p.agent_id.as_deref())?;
    let new = NewSession::of(&key);
    let k = key.as_str().to_string();
    let now = crate::clock::now_ms();
    let row = ctx
        .store
        .write(move |db| {
            rows::ensure(db, &new, now)?;
            rows::reset(db, &k, now)
        })
        .await?;
    crate::agent::on_session_reset(ctx, key.as_str());
    changed(ctx, &row.key, &reason, Some(&row.session_id));
    Ok(
        json!({"ok": true, "key": row.key, "reason": reason, "entry": row_json(ctx, &row, false, false)}),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteParams {
    key: String,
    agent_id: Option<String>,
    delete_transcript: Option<bool>,
    expected_session_id: Option<String>,
    expected_lifecycle_revision: Option<String>,
    expected_session_updated_at: Option<u64>,
    emit_lifecycle_hooks: Option<bool>,
    archived_only: Option<bool>,
}

/// `sessions.delete`: `{ok, key, deleted, archived:[]}` (the schema's closed result).
pub async fn delete(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: DeleteParams = parse_params("sessions.delete", params)?;
    if p.expected_lifecycle_revision.is_some() {
        return Err(RpcError::InvalidRequest(
            "sessions.delete: expectedLifecycleRevision is not supported by this gateway".into(),
        ));
    }
    let _no_hooks_here = p.emit_lifecycle_hooks;
    let key = canon(ctx, &p.key, p.agent_id.as_deref())?;
    if key.is_main(&ctx.config.agent.main_key) {
        return Err(RpcError::InvalidRequest(format!(
            "cannot delete the main session {key} (use sessions.reset)"
        )));
    }
    let k = key.as_str().to_string();
    let transcript = p.delete_transcript.unwrap_or(true);
    let (exp_sid, exp_upd, archived_only) = (
        p.expected_session_id,
        p.expected_session_updated_at,
        p.archived_only.unwrap_or(false),
    );
    let deleted = ctx
        .store
        .write(move |db| {
            let Some(row) = rows::get(db, &k)? else {
                return Ok(false);
            };
            if exp_sid.as_ref().is_some_and(|s| *s != row.session_id)
                || exp_upd.is_some_and(|u| u != row.updated_at)
            {
                return Err(crate::store::StoreError::Conflict(format!(
                    "session {k} changed since it was read; not deleted"
                )));
            }
            if archived_only && !row.archived {
                return Ok(false);
            }
            rows::delete(db, &k, transcript)
        })
        .await?;
    if deleted {
        crate::agent::on_session_reset(ctx, key.as_str());
        changed(ctx, key.as_str(), "delete", None);
    }
    Ok(json!({"ok": true, "key": key.as_str(), "deleted": deleted, "archived": []}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CompactParams {
    key: String,
    agent_id: Option<String>,
    max_lines: Option<i64>,
}

/// `sessions.compact`: keep the newest `maxLines` (default 400, at least 1) transcript lines.
pub async fn compact(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: CompactParams = parse_params("sessions.compact", params)?;
    let max_lines = p.max_lines.unwrap_or(DEFAULT_COMPACT_LINES as i64);
    if max_lines < 1 {
        return Err(RpcError::InvalidRequest(format!(
            "invalid sessions.compact params: maxLines must be at least 1, got {max_lines}"
        )));
    }
    let key = canon(ctx, &p.key, p.agent_id.as_deref())?;
    let k = key.as_str().to_string();
    let (removed, kept) = ctx
        .store
        .write(move |db| {
            if rows::get(db, &k)?.is_none() {
                return Err(crate::store::StoreError::NotFound(format!(
                    "session not found: {k}"
                )));
            }
            let removed = messages::compact(db, &k, max_lines as u64)?;
            let kept = rows::get(db, &k)?.map(|r| r.message_count).unwrap_or(0);
            Ok((removed, kept))
        })
        .await?;
    if removed > 0 {
        changed(ctx, key.as_str(), "compact", None);
    }
    Ok(
        json!({"ok": true, "key": key.as_str(), "compacted": removed > 0, "removed": removed, "kept": kept, "maxLines": max_lines}),
    )
}

/// `sessions.subscribe` / `sessions.unsubscribe`.
pub fn subscribe(
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
    on: bool,
) -> Result<Value, RpcError> {
    let _: Empty = parse_params("sessions.subscribe", params)?;
    let peer = peer.ok_or_else(ws_only)?;
    peer.set_sessions_sub(on);
    Ok(json!({"subscribed": on}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MessagesSubParams {
    key: String,
    agent_id: Option<String>,
    include_approvals: Option<bool>,
}

/// `sessions.messages.subscribe` / `.unsubscribe`: `{subscribed, key}`.
pub fn messages_subscribe(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
    on: bool,
) -> Result<Value, RpcError> {
    let p: MessagesSubParams = parse_params("sessions.messages.subscribe", params)?;
    let _no_approvals_here = p.include_approvals;
    let peer = peer.ok_or_else(ws_only)?;
    let key = canon(ctx, &p.key, p.agent_id.as_deref())?;
    if on {
        let cap = ctx.config.limits.max_message_subscriptions;
        if !peer.subscribe_messages(key.as_str(), cap) {
            return Err(RpcError::InvalidRequest(format!(
                "too many message subscriptions on this connection: {cap} (limits.max_message_subscriptions)"
            )));
        }
    } else {
        peer.unsubscribe_messages(key.as_str());
    }
    Ok(json!({"subscribed": on, "key": key.as_str()}))
}

fn ws_only() -> RpcError {
    RpcError::InvalidRequest("subscriptions need a WebSocket connection".into())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusParams {
    key: Option<String>,
    session_key: Option<String>,
    agent_id: Option<String>,
}

/// `session.status` (edge extension, from the runtime this replaces; not an upstream method):
/// the stored row plus the scheduler's view (active run, queued turns).
pub async fn status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: StatusParams = parse_params("session.status", params)?;
    let raw = p.key.or(p.session_key).ok_or_else(|| {
        RpcError::InvalidRequest("invalid session.status params: key is required".into())
    })?;
    let key = canon(ctx, &raw, p.agent_id.as_deref())?;
    let k = key.as_str().to_string();
    let row = ctx.store.read(move |db| rows::get(db, &k)).await?;
    let (active, queued) = crate::agent::session_activity(ctx, key.as_str());
    Ok(json!({
        "key": key.as_str(),
        "exists": row.is_some(),
        "session": row.as_ref().map(|r| row_json(ctx, r, true, true)),
        "activeRunId": active,
        "queued": queued,
    }))
}
