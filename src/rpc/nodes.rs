//! Node methods: `node.list|describe|rename|invoke` for operators, and the calls a node makes
//! after `hello-ok` (`node.event`, `node.runnerInventory.update`, `node.skills.update`,
//! `node.pluginTools.update`, `node.invoke.result`; PROTOCOL.md §9).
//!
//! Params are the schema's closed objects (`NodeListParams` … `NodeInvokeResultParams`). Node
//! reports are recorded (last seen, host stats, runner inventory, skill and plugin-tool names,
//! each capped) and shown by `node.describe`; nothing a node sends can grow state without
//! bound. `node.invoke` refuses commands the node did not declare and `system.execApprovals.*`,
//! as upstream does, and screens `system.run` command lines through the defender first.

use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::{NoParams, parse_params};
use crate::gateway::Ctx;
use crate::gateway::hub::Peer;
use crate::mesh::invoke::{Answer, InvokeError, Resolved, payload_of};
use crate::mesh::nodes::{Known, Live, capped};

/// Longest `displayName` `node.rename` takes.
pub const MAX_NODE_NAME_CHARS: usize = 128;
/// Skill and plugin-tool names kept per node (the schema caps skills at 64 too).
pub const MAX_NODE_NAMES: usize = 64;
/// Longest `paramsJSON` `node.invoke` forwards (it must fit the node's frame as well).
pub const MAX_INVOKE_PARAMS_BYTES: usize = 64 * 1024;

/// `{nodeId}` (`NodeDescribeParams`, `NodePairRemoveParams`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct NodeIdParams {
    pub(super) node_id: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RenameParams {
    node_id: String,
    display_name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InvokeParams {
    node_id: String,
    command: String,
    #[serde(default)]
    params: Option<Value>,
    timeout_ms: Option<u64>,
    idempotency_key: String,
    session_key: Option<String>,
    turn_source_channel: Option<String>,
    turn_source_to: Option<String>,
    turn_source_account_id: Option<String>,
    turn_source_thread_id: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EventParams {
    event: String,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(rename = "payloadJSON")]
    payload_json: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResultParams {
    id: String,
    node_id: String,
    ok: bool,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default, rename = "payloadJSON")]
    payload_json: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Named {
    name: Option<String>,
}

fn required(method: &str, field: &str, v: &str) -> Result<(), RpcError> {
    if v.trim().is_empty() {
        return Err(RpcError::InvalidRequest(format!(
            "invalid {method} params: {field} must not be empty"
        )));
    }
    Ok(())
}

/// `node.list {}` → `{ts, nodes}`: connected nodes first, then stored ones.
pub fn list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("node.list", params)?;
    Ok(json!({"ts": crate::clock::now_ms(), "nodes": ctx.mesh.nodes.list()}))
}

/// `node.describe {nodeId}` → one node with `ts`.
pub fn describe(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: NodeIdParams = parse_params("node.describe", params)?;
    required("node.describe", "nodeId", &p.node_id)?;
    let mut v = ctx
        .mesh
        .nodes
        .describe(p.node_id.trim())
        .ok_or_else(|| RpcError::InvalidRequest("unknown nodeId".into()))?;
    v["ts"] = json!(crate::clock::now_ms());
    Ok(v)
}

/// `node.rename {nodeId, displayName}` → `{nodeId, displayName}`; stored, so the name survives
/// reconnects and restarts.
pub async fn rename(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RenameParams = parse_params("node.rename", params)?;
    required("node.rename", "nodeId", &p.node_id)?;
    let name = p.display_name.trim().to_string();
    if name.is_empty() {
        return Err(RpcError::InvalidRequest("displayName required".into()));
    }
    if name.chars().count() > MAX_NODE_NAME_CHARS {
        return Err(RpcError::InvalidRequest(format!(
            "displayName longer than {MAX_NODE_NAME_CHARS} characters"
        )));
    }
    let node_id = p.node_id.trim().to_string();
    let nodes = &ctx.mesh.nodes;
    if !nodes.contains(&node_id) {
        return Err(RpcError::InvalidRequest("unknown nodeId".into()));
    }
    let platform = nodes.live(&node_id).map(|l| l.hello.platform.clone());
    let now = crate::clock::now_ms();
    let (id, n, pf) = (node_id.clone(), name.clone(), platform.clone());
    ctx.store
        .write(move |db| crate::store::mesh::save_node(db, &id, Some(&n), pf.as_deref(), now))
        .await?;
    let prev = nodes.known(&node_id);
    nodes.set_known(Known {
        node_id: node_id.clone(),
        display_name: Some(name.clone()),
        platform: platform.or_else(|| prev.as_ref().and_then(|k| k.platform.clone())),
        last_seen_ms: now,
        paired: prev.is_some_and(|k| k.paired),
    });
    Ok(json!({"nodeId": node_id, "displayName": name}))
}

/// Maps an invoke failure to the client error.
pub fn invoke_error(node_id: &str, e: InvokeError) -> RpcError {
    match e {
        InvokeError::Busy { cap } => RpcError::Busy {
            what: "pending node invokes",
            cap,
            retry_after_ms: 500,
        },
        InvokeError::Timeout { ms } => RpcError::Timeout { ms },
        InvokeError::NotConnected => {
            RpcError::Unavailable(format!("node not connected: {node_id}"))
        }
        e @ (InvokeError::SendFailed | InvokeError::Disconnected) => {
            RpcError::Unavailable(format!("{e}: {node_id}"))
        }
    }
}

/// `node.invoke {nodeId, command, params?, timeoutMs?, idempotencyKey}` → the node's answer
/// `{ok: true, nodeId, command, payload, payloadJSON}`; the node's `ok: false` is an error.
pub async fn invoke(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    let p: InvokeParams = parse_params("node.invoke", params)?;
    let _ = (
        &p.session_key,
        &p.turn_source_channel,
        &p.turn_source_to,
        &p.turn_source_account_id,
        &p.turn_source_thread_id,
    );
    required("node.invoke", "nodeId", &p.node_id)?;
    required("node.invoke", "command", &p.command)?;
    required("node.invoke", "idempotencyKey", &p.idempotency_key)?;
    let (node_id, command) = (p.node_id.trim(), p.command.trim());
    let live = ctx
        .mesh
        .nodes
        .live(node_id)
        .ok_or_else(|| invoke_error(node_id, InvokeError::NotConnected))?;
    if command.starts_with("system.execApprovals.") {
        // As upstream: a node's exec-approval policy is not changed through node.invoke.
        return Err(RpcError::InvalidRequest(
            "node.invoke does not allow system.execApprovals.*".into(),
        ));
    }
    if !live.hello.commands.iter().any(|c| c == command) {
        return Err(RpcError::InvalidRequest(format!(
            "node command not allowed: the node (platform: {}) does not support {command:?}",
            live.hello.platform
        )));
    }
    if let Some(line) = command_line(command, p.params.as_ref()) {
        screen_command(ctx, node_id, &line).await?;
    }
    let params_json = match &p.params {
        None => None,
        Some(v) => {
            let s = v.to_string();
            if s.len() > MAX_INVOKE_PARAMS_BYTES {
                return Err(RpcError::InvalidRequest(format!(
                    "node.invoke params too large: {} > {MAX_INVOKE_PARAMS_BYTES} bytes",
                    s.len()
                )));
            }
            Some(s)
        }
    };
    let max = ctx.config.limits.mesh_invoke_timeout_ms;
    let ms = p.timeout_ms.unwrap_or(max).clamp(1, max);
    let (answer, _rtt) = ctx
        .mesh
        .invokes
        .invoke(
            &ctx.mesh.nodes,
            node_id,
            command,
            params_json,
            Duration::from_millis(ms),
            Some(&p.idempotency_key),
        )
        .await
        .map_err(|e| invoke_error(node_id, e))?;
    if !answer.ok {
        let e = answer.error.unwrap_or(Value::Null);
        return Err(RpcError::NodeFailed {
            message: format!(
                "{}: {}",
                e["code"].as_str().unwrap_or("ERROR"),
                e["message"].as_str().unwrap_or("node invoke failed")
            ),
            node_error: e,
        });
    }
    Ok(json!({
        "ok": true,
        "nodeId": node_id,
        "command": command,
        "payload": answer.payload,
        "payloadJSON": answer.payload_json,
    }))
}

/// The shell command a `system.run` / `system.run.prepare` invoke carries: `rawCommand`, else
/// the `command` argv joined by spaces (or a `command` string).
fn command_line(command: &str, params: Option<&Value>) -> Option<String> {
    if !matches!(command, "system.run" | "system.run.prepare") {
        return None;
    }
    let p = params?;
    if let Some(raw) = p["rawCommand"].as_str() {
        return Some(raw.to_string());
    }
    match &p["command"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(argv) => Some(
            argv.iter()
                .map(|a| {
                    a.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// Screens a command bound for a node through the defender, like the agent's own `exec`: a
/// block is refused (`DEFENDER_BLOCKED`) and shows up as a `security.decision`.
async fn screen_command(ctx: &Rc<Ctx>, node_id: &str, line: &str) -> Result<(), RpcError> {
    use crate::defender::pipeline::{Action, Context};
    let c = Context {
        channel: Some("node.invoke"),
        ..Context::default()
    };
    let a = ctx
        .agent
        .defender
        .screen(ctx, Action::Command(line), c, json!({"nodeId": node_id}))
        .await;
    RpcError::unless_blocked(&a)
}

/// The connected node behind a node-role caller (node methods are refused to anyone else).
fn caller(ctx: &Ctx, peer: Option<&Rc<Peer>>) -> Result<Rc<Live>, RpcError> {
    let live = peer
        .and_then(|p| ctx.mesh.nodes.by_conn(&p.conn_id))
        .ok_or_else(|| RpcError::InvalidRequest("not a registered node connection".into()))?;
    live.last_seen_ms.set(crate::clock::now_ms());
    Ok(live)
}

/// `node.event {event, payload?|payloadJSON?}` → `NodeEventResult {ok, event, handled, reason?}`.
/// `node.host.stats` is kept for `node.describe`; other events are acknowledged, not handled.
pub fn event(ctx: &Ctx, peer: Option<&Rc<Peer>>, params: Option<Value>) -> Result<Value, RpcError> {
    let live = caller(ctx, peer)?;
    let p: EventParams = parse_params("node.event", params)?;
    required("node.event", "event", &p.event)?;
    if p.event == "node.host.stats" {
        let stats = payload_of(p.payload, p.payload_json.as_deref());
        *live.host_stats.borrow_mut() = Some(capped(stats));
        return Ok(json!({"ok": true, "event": p.event, "handled": true}));
    }
    Ok(json!({"ok": true, "event": p.event, "handled": false,
              "reason": "this gateway has no handler for this node event"}))
}

/// `node.runnerInventory.update {...}` → `{ok: true}`; the inventory is kept (capped).
pub fn runner_inventory(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    let live = caller(ctx, peer)?;
    let inv = match params {
        Some(v @ Value::Object(_)) => v,
        None | Some(Value::Null) => json!({}),
        Some(_) => {
            return Err(RpcError::InvalidRequest(
                "invalid node.runnerInventory.update params: expected an object".into(),
            ));
        }
    };
    *live.runner_inventory.borrow_mut() = Some(capped(inv));
    Ok(json!({"ok": true}))
}

fn names(list: Vec<Named>) -> Vec<String> {
    list.into_iter()
        .filter_map(|n| n.name)
        .take(MAX_NODE_NAMES)
        .map(|n| crate::store::messages::cut(&n, 64))
        .collect()
}

/// The name lists a node reports after `hello-ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameList {
    /// `node.skills.update {skills}` (the schema allows at most 64).
    Skills,
    /// `node.pluginTools.update {tools}` (the first 64 names are kept).
    PluginTools,
}

/// `node.skills.update {skills}` / `node.pluginTools.update {tools}` → `{ok: true}`; the item
/// names are kept for `node.describe`.
pub fn names_update(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    which: NameList,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    let live = caller(ctx, peer)?;
    let (method, field, slot) = match which {
        NameList::Skills => ("node.skills.update", "skills", &live.skills),
        NameList::PluginTools => ("node.pluginTools.update", "tools", &live.plugin_tools),
    };
    let items = match params {
        Some(Value::Object(mut m)) if m.len() == 1 => m.remove(field),
        _ => None,
    }
    .and_then(|v| serde_json::from_value::<Vec<Named>>(v).ok())
    .ok_or_else(|| {
        RpcError::InvalidRequest(format!(
            "invalid {method} params: expected {{{field}: [objects]}}"
        ))
    })?;
    if which == NameList::Skills && items.len() > MAX_NODE_NAMES {
        return Err(RpcError::InvalidRequest(format!(
            "invalid {method} params: at most {MAX_NODE_NAMES} skills"
        )));
    }
    *slot.borrow_mut() = names(items);
    Ok(json!({"ok": true}))
}

/// `node.invoke.result {id, nodeId, ok, payload?|payloadJSON?, error?}` → `{ok: true}` (or
/// `{ok: true, ignored: true}` for an invoke no longer waiting, as upstream).
pub fn invoke_result(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    let live = caller(ctx, peer)?;
    let p: ResultParams = parse_params("node.invoke.result", params)?;
    required("node.invoke.result", "id", &p.id)?;
    if p.node_id != live.hello.node_id {
        return Err(RpcError::InvalidRequest("nodeId mismatch".into()));
    }
    // Upstream normalizes a non-string payloadJSON into payload; null fields are absent.
    let (payload, payload_json) = match p.payload_json {
        Some(Value::String(s)) => (p.payload, Some(s)),
        Some(Value::Null) | None => (p.payload, None),
        Some(other) => (p.payload.or(Some(other)), None),
    };
    let error = match p.error {
        None | Some(Value::Null) => None,
        Some(e) => {
            // The schema's closed `{code?, message?}` with non-empty strings.
            let fine = e.as_object().is_some_and(|o| {
                o.iter().all(|(k, v)| {
                    matches!(k.as_str(), "code" | "message")
                        && v.as_str().is_some_and(|s| !s.is_empty())
                })
            });
            if !fine {
                return Err(RpcError::InvalidRequest(
                    "invalid node.invoke.result params: error must be {code?, message?} with non-empty strings".into(),
                ));
            }
            Some(e)
        }
    };
    let answer = Answer {
        ok: p.ok,
        payload: payload_of(payload, payload_json.as_deref()),
        payload_json,
        error,
    };
    match ctx.mesh.invokes.resolve(&p.id, &live.hello.node_id, answer) {
        Resolved::Delivered => Ok(json!({"ok": true})),
        Resolved::Unknown => Ok(json!({"ok": true, "ignored": true})),
        Resolved::WrongNode => Err(RpcError::InvalidRequest("nodeId mismatch".into())),
    }
}
