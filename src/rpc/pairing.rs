//! Pairing methods: `device.pair.list|approve|reject|remove|rename`, `device.token.rotate|revoke`
//! and the node views `node.pair.list|approve|reject|remove` (`operator.pairing`).
//!
//! Params are the schema's closed objects (`DevicePair*Params`, `DeviceToken*Params`,
//! `NodePair*Params`); `device.token.rotate` answers `DeviceTokenRotateResult` with the new
//! token in-band (the only time anyone sees it; the store keeps its hash). The node views are the
//! same requests and pairings restricted to role `node`, with `nodeId` = device id. The work and
//! its bounds are in `mesh::pairing`.

use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::nodes::NodeIdParams;
use super::system::{NoParams, parse_params};
use crate::gateway::Ctx;
use crate::gateway::dispatch::has_scope;
use crate::gateway::hub::Peer;
use crate::mesh::pairing::{self, device_json, request_json};

/// Longest device label `device.pair.rename` takes (the schema's `maxLength`).
pub const MAX_LABEL_CHARS: usize = 64;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestIdParams {
    request_id: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeviceIdParams {
    device_id: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RenameParams {
    device_id: String,
    label: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenParams {
    device_id: String,
    role: String,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RevokeParams {
    device_id: String,
    role: String,
}

fn nonempty(method: &str, field: &str, v: &str) -> Result<String, RpcError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(RpcError::InvalidRequest(format!(
            "invalid {method} params: {field} must not be empty"
        )));
    }
    Ok(t.to_string())
}

/// `device.pair.list {}` → `{pending, paired}` (every role).
pub fn device_list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("device.pair.list", params)?;
    let now = crate::clock::now_ms();
    let p = &ctx.mesh.pairing;
    let pending: Vec<Value> = p.requests(None, now).iter().map(request_json).collect();
    let paired: Vec<Value> = p
        .devices(None)
        .iter()
        .map(|d| device_json(ctx, d))
        .collect();
    Ok(json!({"pending": pending, "paired": paired}))
}

/// `device.pair.approve {requestId}` → `{requestId, device}`.
pub async fn device_approve(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RequestIdParams = parse_params("device.pair.approve", params)?;
    let id = nonempty("device.pair.approve", "requestId", &p.request_id)?;
    let (r, d) = pairing::approve(ctx, &id, None).await?;
    Ok(json!({"requestId": r.request_id, "device": device_json(ctx, &d)}))
}

/// `device.pair.reject {requestId}` → `{requestId, deviceId, decision}`.
pub async fn device_reject(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RequestIdParams = parse_params("device.pair.reject", params)?;
    let id = nonempty("device.pair.reject", "requestId", &p.request_id)?;
    let r = pairing::reject(ctx, &id, None).await?;
    Ok(json!({"requestId": r.request_id, "deviceId": r.device_id, "decision": "rejected"}))
}

/// `device.pair.remove {deviceId}` → `{deviceId, removedAtMs}`.
pub async fn device_remove(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: DeviceIdParams = parse_params("device.pair.remove", params)?;
    let id = nonempty("device.pair.remove", "deviceId", &p.device_id)?;
    let d = pairing::remove(ctx, &id, None).await?;
    Ok(json!({"deviceId": d.device_id, "removedAtMs": crate::clock::now_ms()}))
}

/// `device.pair.rename {deviceId, label}` → `{deviceId, label}`.
pub async fn device_rename(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RenameParams = parse_params("device.pair.rename", params)?;
    let id = nonempty("device.pair.rename", "deviceId", &p.device_id)?;
    let label = nonempty("device.pair.rename", "label", &p.label)?;
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(RpcError::InvalidRequest(format!(
            "label longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    pairing::rename(ctx, &id, &label).await?;
    Ok(json!({"deviceId": id, "label": label}))
}

/// The `deviceId` and `role` of a token method; tokens of non-operator roles are admin
/// business, as upstream.
fn device_role(
    method: &str,
    peer: Option<&Rc<Peer>>,
    device_id: &str,
    role: &str,
) -> Result<(String, String), RpcError> {
    let id = nonempty(method, "deviceId", device_id)?;
    let role = nonempty(method, "role", role)?;
    let admin = peer.is_none_or(|p| has_scope(&p.scopes, "operator.admin"));
    if role != "operator" && !admin {
        return Err(RpcError::MissingScope {
            scope: "operator.admin",
        });
    }
    Ok((id, role))
}

/// `device.token.rotate {deviceId, role, scopes?}` → `DeviceTokenRotateResult` with the new
/// token in-band.
pub async fn token_rotate(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    let p: TokenParams = parse_params("device.token.rotate", params)?;
    let (id, role) = device_role("device.token.rotate", peer, &p.device_id, &p.role)?;
    let (token, t) = pairing::rotate(ctx, &id, &role, p.scopes).await?;
    Ok(json!({
        "deviceId": t.device_id,
        "role": t.role,
        "token": token,
        "scopes": t.scopes,
        "rotatedAtMs": t.issued_at,
        "tokenDelivery": "in-band",
    }))
}

/// `device.token.revoke {deviceId, role}` → `{deviceId, role, revokedAtMs}`.
pub async fn token_revoke(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    let p: RevokeParams = parse_params("device.token.revoke", params)?;
    let (id, role) = device_role("device.token.revoke", peer, &p.device_id, &p.role)?;
    let at = pairing::revoke(ctx, &id, &role).await?;
    Ok(json!({"deviceId": id, "role": role, "revokedAtMs": at}))
}

/// A node pairing request as `node.pair.list` shows it.
fn node_request(r: &crate::store::mesh_pairing::Request) -> Value {
    let mut v = request_json(r);
    v["nodeId"] = json!(r.device_id);
    v
}

/// `node.pair.list {}` → `{pending, paired}` for role `node`.
pub fn node_list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("node.pair.list", params)?;
    let now = crate::clock::now_ms();
    let p = &ctx.mesh.pairing;
    let pending: Vec<Value> = p
        .requests(Some("node"), now)
        .iter()
        .map(node_request)
        .collect();
    let paired: Vec<Value> = p
        .devices(Some("node"))
        .iter()
        .map(|d| {
            json!({
                "nodeId": d.device_id,
                "displayName": d.label,
                "platform": d.platform,
                "remoteIp": d.remote_ip,
                "pairedAtMs": d.paired_at,
                "connected": ctx.mesh.nodes.live(&d.device_id).is_some(),
            })
        })
        .collect();
    Ok(json!({"pending": pending, "paired": paired}))
}

/// `node.pair.approve {requestId}` → `{requestId, node}`.
pub async fn node_approve(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RequestIdParams = parse_params("node.pair.approve", params)?;
    let id = nonempty("node.pair.approve", "requestId", &p.request_id)?;
    let (r, d) = pairing::approve(ctx, &id, Some("node")).await?;
    Ok(json!({"requestId": r.request_id, "node": {
        "nodeId": d.device_id, "displayName": d.label, "platform": d.platform, "pairedAtMs": d.paired_at,
    }}))
}

/// `node.pair.reject {requestId}` → `{requestId, nodeId, decision}`.
pub async fn node_reject(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RequestIdParams = parse_params("node.pair.reject", params)?;
    let id = nonempty("node.pair.reject", "requestId", &p.request_id)?;
    let r = pairing::reject(ctx, &id, Some("node")).await?;
    Ok(json!({"requestId": r.request_id, "nodeId": r.device_id, "decision": "rejected"}))
}

/// `node.pair.remove {nodeId}` → `{nodeId, removedAtMs}`.
pub async fn node_remove(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: NodeIdParams = parse_params("node.pair.remove", params)?;
    let id = nonempty("node.pair.remove", "nodeId", &p.node_id)?;
    let d = pairing::remove(ctx, &id, Some("node")).await?;
    Ok(json!({"nodeId": d.device_id, "removedAtMs": crate::clock::now_ms()}))
}
