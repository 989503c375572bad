//! Connect handshake: challenge, the first `connect` request, auth, device proof, `hello-ok`.
//!
//! Follows `PROTOCOL.md` §3.4 in order: frame shape → `connect` params → protocol range → role →
//! failed-auth limiter → shared secret → device proof → scopes. Every refusal answers the connect
//! id (when there is one) with upstream's error shape and closes with upstream's code (1008, or
//! 1002 for a protocol mismatch, 1009 for an oversize frame). Nothing here fails open.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use async_tungstenite::tungstenite::{Error as WsError, Message};
use serde::Deserialize;
use serde_json::{Value, json};
use smol::Timer;
use smol::stream::StreamExt;

use super::auth::{DeviceBlock, SignedFields, secret_eq, verify_device};
use super::hub::{Close, Peer, PeerQueues};
use super::{Ctx, PROTOCOL_VERSION, Role, WsRx, WsTx, dispatch, frame, send_text};
use crate::clock::now_ms;
use crate::config::{AuthMode, OPERATOR_SCOPES};
use crate::ids;
use crate::mesh::nodes::NodeHello;
use crate::mesh::pairing::{self, Asking, Decision, Grant};
use crate::store::mesh_pairing::Request as PairRequest;

/// Lowest protocol probes and nodes may use (upstream's N-1 window).
pub const MIN_NODE_PROTOCOL: u32 = 3;
/// Events this gateway emits (advertised in `hello-ok`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "presence",
    "shutdown",
    "sessions.changed",
    "session.message",
    "chat",
    "agent",
    "exec.approval.requested",
    "exec.approval.resolved",
    "security.decision",
    "node.invoke.request",
    "device.pair.requested",
    "device.pair.resolved",
    "node.pair.requested",
    "node.pair.resolved",
];

const CLIENT_IDS: [&str; 17] = [
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];
const CLIENT_MODES: [&str; 8] = [
    "webchat", "cli", "ui", "backend", "node", "worker", "probe", "test",
];

// Closed like upstream's schema: every field is accepted and type-checked; some are not used yet.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConnectParams {
    min_protocol: u32,
    max_protocol: u32,
    client: ClientInfo,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    computer_use: Option<Value>,
    #[serde(default)]
    worker_runs: Option<Value>,
    #[serde(default)]
    permissions: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    path_env: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    device: Option<DeviceBlock>,
    #[serde(default)]
    auth: Option<AuthBlock>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
}

// Closed like upstream's schema: every field is accepted and type-checked; some are not used yet.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClientInfo {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    version: String,
    #[serde(default)]
    build_id: Option<String>,
    platform: String,
    #[serde(default)]
    device_family: Option<String>,
    #[serde(default)]
    model_identifier: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    mode: String,
    #[serde(default)]
    instance_id: Option<String>,
}

// Closed like upstream's schema: every field is accepted and type-checked; some are not used yet.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthBlock {
    token: Option<String>,
    password: Option<String>,
    device_token: Option<String>,
    bootstrap_token: Option<String>,
    approval_runtime_token: Option<String>,
    agent_runtime_identity_token: Option<String>,
}

/// A refused handshake: the error to answer (if a connect id is known) and how to close.
struct Refusal {
    id: Option<String>,
    error: Option<Value>,
    close: Close,
    /// A new pairing request to store (and announce) before the refusal is sent.
    pair_request: Option<Box<PairRequest>>,
}

fn refuse(id: Option<&str>, code: u16, message: &str, details: Option<Value>) -> Refusal {
    let mut error = json!({"code": "INVALID_REQUEST", "message": message, "retryable": false});
    if let Some(d) = details {
        error["details"] = d;
    }
    Refusal {
        id: id.map(str::to_string),
        error: id.map(|_| error),
        close: Close {
            code,
            reason: message.chars().take(120).collect(),
        },
        pair_request: None,
    }
}

fn close_only(code: u16, reason: &str) -> Refusal {
    Refusal {
        id: None,
        error: None,
        close: Close {
            code,
            reason: reason.into(),
        },
        pair_request: None,
    }
}

/// Runs the handshake; on success the peer is registered with the hub and its queues returned.
pub async fn run(
    ctx: &Rc<Ctx>,
    tx: &mut WsTx,
    rx: &mut WsRx,
    addr: SocketAddr,
) -> Option<(Rc<Peer>, PeerQueues)> {
    let nonce = ids::uuid_v4();
    let challenge = json!({"nonce": nonce, "ts": now_ms()}).to_string();
    let write_timeout = Duration::from_millis(ctx.config.limits.write_timeout_ms);
    if !send_text(
        tx,
        frame::event("connect.challenge", &challenge, None, None),
        write_timeout,
    )
    .await
    {
        return None;
    }
    let first = next_text(ctx, rx).await;
    let outcome = match first {
        Err(r) => Err(r),
        Ok(text) => admit(ctx, &text, &nonce, addr),
    };
    match outcome {
        Ok((peer, queues, id, mut hello, node, grant)) => {
            hello["snapshot"]["health"] = crate::rpc::system::health(ctx, false).await;
            if let Some(g) = grant.as_ref().filter(|g| g.issue) {
                // The first connect after approval: the device's token, shown this once.
                match pairing::issue(ctx, g).await {
                    Ok((token, at)) => {
                        hello["auth"]["deviceToken"] = json!(token);
                        hello["auth"]["issuedAtMs"] = json!(at);
                    }
                    Err(e) => log::warn!("device {}: token not issued: {e}", g.device_id),
                }
            }
            if !send_text(tx, frame::res_ok(&id, &hello), write_timeout).await {
                return None;
            }
            ctx.hub.add(Rc::clone(&peer));
            if let Some(n) = node {
                crate::mesh::node_connected(ctx, n, &peer);
            }
            if let Some(g) = &grant {
                ctx.mesh.pairing.track(&peer, g);
            }
            log::info!(
                "conn {} from {addr}: connected as {:?} scopes={:?}",
                peer.conn_id,
                peer.role,
                peer.scopes
            );
            Some((peer, queues))
        }
        Err(mut r) => {
            if let Some(req) = r.pair_request.take()
                && let Err(e) = pairing::store_request(ctx, *req).await
            {
                // Not stored, so there is no request to wait for: say why instead.
                r.error = r.id.as_ref().map(|_| e.to_json());
            }
            if let (Some(id), Some(err)) = (&r.id, &r.error) {
                let _ = send_text(tx, frame::res_err_json(id, err.clone()), write_timeout).await;
            }
            log::info!(
                "handshake from {addr} refused: {} (close {})",
                r.close.reason,
                r.close.code
            );
            super::send_close(tx, &r.close, write_timeout).await;
            None
        }
    }
}

/// The first text frame, within the handshake deadline and the pre-auth size cap.
async fn next_text(ctx: &Ctx, rx: &mut WsRx) -> Result<String, Refusal> {
    let deadline = Duration::from_millis(ctx.config.limits.handshake_timeout_ms);
    let max = ctx.config.limits.max_preauth_frame_bytes;
    let read = async {
        loop {
            match rx.next().await {
                Some(Ok(Message::Text(t))) => {
                    return if t.len() > max {
                        Err(close_only(1009, "preauth payload too large"))
                    } else {
                        Ok(t.to_string())
                    };
                }
                Some(Ok(Message::Binary(b))) => {
                    return Err(if b.len() > max {
                        close_only(1009, "preauth payload too large")
                    } else {
                        close_only(1008, "invalid handshake: first request must be connect")
                    });
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Err(WsError::Capacity(_))) => {
                    return Err(close_only(1009, "preauth payload too large"));
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    return Err(close_only(1000, "closed before connect"));
                }
            }
        }
    };
    let timeout = async {
        Timer::after(deadline).await;
        Err(close_only(1000, "handshake timeout"))
    };
    let shutdown = async {
        ctx.shutdown.wait().await;
        Err(close_only(1012, "service restart"))
    };
    smol::future::or(read, smol::future::or(timeout, shutdown)).await
}

/// The admitted peer, its queues, the connect request id, the `hello-ok` payload (its
/// `snapshot.health` is filled in by `run`, which may await the store; `admit` stays
/// synchronous) and, for a node, what it said about itself (registered with the mesh by `run`).
type Admitted = (
    Rc<Peer>,
    PeerQueues,
    String,
    Value,
    Option<NodeHello>,
    Option<Grant>,
);

fn admit(ctx: &Rc<Ctx>, text: &str, nonce: &str, addr: SocketAddr) -> Result<Admitted, Refusal> {
    let req = match frame::parse(text, ctx.config.limits.max_preauth_frame_bytes) {
        Ok(r) => r,
        Err(frame::FrameError::TooLarge { .. }) => {
            return Err(close_only(1009, "preauth payload too large"));
        }
        Err(frame::FrameError::Malformed(_)) => {
            return Err(close_only(1008, "invalid request frame"));
        }
        Err(frame::FrameError::Invalid { id, .. }) => {
            return Err(refuse(id.as_deref(), 1008, "invalid request frame", None));
        }
    };
    let id = req.id.as_str();
    if req.method != "connect" {
        return Err(refuse(
            Some(id),
            1008,
            "invalid handshake: first request must be connect",
            None,
        ));
    }
    let params: ConnectParams =
        serde_json::from_value(req.params.unwrap_or(Value::Null)).map_err(|e| {
            refuse(
                Some(id),
                1008,
                &format!("invalid connect params: {e}"),
                None,
            )
        })?;
    check_shape(&params).map_err(|m| {
        refuse(
            Some(id),
            1008,
            &format!("invalid connect params: {m}"),
            None,
        )
    })?;

    let role = match params.role.as_deref().unwrap_or("operator") {
        "operator" => Role::Operator,
        "node" => Role::Node,
        _ => return Err(refuse(Some(id), 1008, "invalid role", None)),
    };
    // §3.4 step 3: protocol 4, or 3 for probes and nodes.
    let lowest =
        if params.client.mode == "probe" || (role == Role::Node && params.client.mode == "node") {
            MIN_NODE_PROTOCOL
        } else {
            PROTOCOL_VERSION
        };
    let (lo, hi) = (params.min_protocol, params.max_protocol);
    if lo > hi || hi < lowest || lo > PROTOCOL_VERSION {
        return Err(refuse(
            Some(id),
            1002,
            "protocol mismatch",
            Some(json!({
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": lo,
                "clientMaxProtocol": hi,
                "expectedProtocol": PROTOCOL_VERSION,
                "minimumProbeProtocol": MIN_NODE_PROTOCOL,
            })),
        ));
    }
    let protocol = hi.min(PROTOCOL_VERSION);

    let now = now_ms();
    let ip = addr.ip();
    if let Err(retry_ms) = ctx.limiter.borrow().check(ip, now) {
        let mut r = refuse(
            Some(id),
            1008,
            "unauthorized: too many failed authentication attempts",
            Some(
                json!({"code": "AUTH_RATE_LIMITED", "authReason": "rate_limited",
                "recommendedNextStep": "wait_then_retry", "canRetryWithDeviceToken": false}),
            ),
        );
        if let Some(e) = r.error.as_mut() {
            e["retryable"] = json!(true);
            e["retryAfterMs"] = json!(retry_ms);
        }
        return Err(r);
    }
    let auth = params.auth.as_ref();
    let offered = auth.and_then(|a| a.token.as_deref().or(a.password.as_deref()));
    let (missing, mismatch, what) = match ctx.config.auth.mode {
        AuthMode::Token => ("AUTH_TOKEN_MISSING", "AUTH_TOKEN_MISMATCH", "token"),
        AuthMode::Password => (
            "AUTH_PASSWORD_MISSING",
            "AUTH_PASSWORD_MISMATCH",
            "password",
        ),
    };
    let ok = offered.is_some_and(|o| secret_eq(o, ctx.secret.expose()));
    let requested_scopes = params.scopes.clone();
    let mut grant: Option<Grant> = None;
    if !ok && let Some(dev) = &params.device {
        // A signed device without the gateway secret may be paired (`mesh::pairing`).
        check_device(&params, dev, nonce, now, id)?;
        let asking = Asking {
            device_id: &dev.id,
            public_key: &dev.public_key,
            role: role.as_str(),
            scopes: capped_scopes(ctx, role, &requested_scopes),
            display_name: params.client.display_name.as_deref(),
            platform: &params.client.platform,
            client_id: &params.client.id,
            client_mode: &params.client.mode,
            remote_ip: ip.to_string(),
        };
        let decision = ctx.mesh.pairing.check(
            &asking,
            auth.and_then(|a| a.device_token.as_deref()),
            auth.and_then(|a| a.token.as_deref()),
            auth.is_some_and(|a| a.password.is_some()),
            now,
        );
        grant = Some(pairing_outcome(ctx, decision, id, ip, now)?).flatten();
    }
    if !ok && grant.is_none() {
        ctx.limiter.borrow_mut().fail(ip, now);
        let (code, message, reason) = match offered {
            None => (
                missing,
                format!(
                    "unauthorized: gateway {what} missing (set this gateway's gateway.auth.{what})"
                ),
                format!("{what}_missing"),
            ),
            Some(_) => (
                mismatch,
                format!(
                    "unauthorized: gateway {what} mismatch (use this gateway's gateway.auth.{what} or pair the device)"
                ),
                format!("{what}_mismatch"),
            ),
        };
        return Err(refuse(
            Some(id),
            1008,
            &message,
            Some(
                json!({"code": code, "authReason": reason, "canRetryWithDeviceToken": false,
                "recommendedNextStep": "update_auth_credentials"}),
            ),
        ));
    }

    if grant.is_none()
        && let Some(dev) = &params.device
    {
        check_device(&params, dev, nonce, now, id)?;
    }
    ctx.limiter.borrow_mut().succeed(ip);

    // Shared-secret clients get what they ask for, capped by gateway.auth.scopes; paired devices
    // also by what their pairing granted; nodes get none.
    let mut scopes = capped_scopes(ctx, role, &requested_scopes);
    if let Some(g) = &grant {
        scopes.retain(|s| g.scopes.contains(s));
    }
    let conn_id = ids::uuid_v4();
    let node = match role {
        Role::Operator => None,
        Role::Node => Some(node_hello(&params, &conn_id, ip)),
    };
    if let Some(n) = &node
        && !ctx.mesh.nodes.admit(&n.node_id)
    {
        let cap = ctx.mesh.nodes.cap();
        let mut r = refuse(
            Some(id),
            1013,
            &format!("node limit reached ({cap} nodes, limits.mesh_max_nodes)"),
            Some(json!({"code": "NODE_LIMIT", "maxNodes": cap})),
        );
        if let Some(e) = r.error.as_mut() {
            e["code"] = json!("UNAVAILABLE");
            e["retryable"] = json!(true);
            e["retryAfterMs"] = json!(30_000);
        }
        return Err(r);
    }
    let presence = presence_entry(&params, role, ip, now);
    let (peer, queues) = Peer::new(
        conn_id.clone(),
        role,
        scopes.clone(),
        presence.clone(),
        ctx.config.limits.outbound_queue,
    );
    let mut snapshot_presence = ctx.hub.presence();
    snapshot_presence.push(presence);
    let (pv, hv) = ctx.hub.state_version();
    let hello = json!({
        "type": "hello-ok",
        "protocol": protocol,
        "server": {"version": env!("CARGO_PKG_VERSION"), "connId": conn_id, "bootId": ctx.boot_id},
        "features": {"methods": dispatch::method_names(), "events": EVENTS},
        "snapshot": {
            "presence": snapshot_presence,
            "health": null,
            "stateVersion": {"presence": pv + 1, "health": hv},
            "uptimeMs": ctx.uptime_ms(),
            "stateDir": ctx.config.state_dir.display().to_string(),
            "sessionDefaults": {
                "defaultAgentId": ctx.config.agent.default_id,
                "mainKey": ctx.config.agent.main_key,
                "mainSessionKey": format!("agent:{}:{}", ctx.config.agent.default_id, ctx.config.agent.main_key),
                "scope": "per-sender"
            },
            "authMode": ctx.config.auth.mode.as_str(),
        },
        "auth": {"role": role.as_str(), "scopes": scopes},
        "policy": {
            "maxPayload": ctx.config.limits.max_message_bytes,
            "maxBufferedBytes": ctx.config.limits.max_buffered_bytes(),
            "tickIntervalMs": ctx.config.limits.tick_interval_ms,
        },
    });
    Ok((peer, queues, id.to_string(), hello, node, grant))
}

/// Verifies a `device` block against this socket's challenge (PROTOCOL.md §3.3).
fn check_device(
    params: &ConnectParams,
    dev: &DeviceBlock,
    nonce: &str,
    now: u64,
    id: &str,
) -> Result<(), Refusal> {
    let auth = params.auth.as_ref();
    let token = auth
        .and_then(|a| a.token.as_deref().or(a.device_token.as_deref()))
        .unwrap_or("");
    let fields = SignedFields {
        client_id: &params.client.id,
        client_mode: &params.client.mode,
        role: params.role.as_deref().unwrap_or("operator"),
        scopes: &params.scopes,
        token,
        platform: Some(params.client.platform.as_str()),
        device_family: params.client.device_family.as_deref(),
    };
    verify_device(dev, &fields, nonce, now).map_err(|e| {
        refuse(
            Some(id),
            1008,
            &format!("device identity rejected: {}", e.reason()),
            Some(json!({"code": e.code(), "reason": e.reason()})),
        )
    })
}

/// The requested scopes a client may have: capped by `gateway.auth.scopes`; none for nodes.
fn capped_scopes(ctx: &Ctx, role: Role, requested: &[String]) -> Vec<String> {
    match role {
        Role::Node => Vec::new(),
        Role::Operator => {
            let mut s: Vec<String> = Vec::with_capacity(OPERATOR_SCOPES.len());
            for want in requested {
                if ctx.config.auth.scopes.contains(want) && !s.contains(want) {
                    s.push(want.clone());
                }
            }
            s
        }
    }
}

/// Turns a pairing decision into a grant, a refusal, or `None` (fall through to the gateway
/// secret refusal: the client sent a wrong secret, not a device token).
fn pairing_outcome(
    ctx: &Ctx,
    decision: Decision,
    id: &str,
    ip: std::net::IpAddr,
    now: u64,
) -> Result<Option<Grant>, Refusal> {
    let device_token = |message: &str, code: &str| {
        ctx.limiter.borrow_mut().fail(ip, now);
        refuse(
            Some(id),
            1008,
            &format!("unauthorized: {message}"),
            Some(json!({"code": code, "authReason": "device_token",
                        "canRetryWithDeviceToken": false,
                        "recommendedNextStep": "update_auth_credentials"})),
        )
    };
    match decision {
        Decision::Admit(g) => Ok(Some(g)),
        Decision::WrongSecret => Ok(None),
        Decision::BadToken(why) => Err(device_token(why, "AUTH_DEVICE_TOKEN_MISMATCH")),
        Decision::TokenRequired => Err(device_token(
            "device token missing (it was issued in hello-ok after pairing)",
            "AUTH_TOKEN_MISSING",
        )),
        Decision::Full { cap } => {
            let mut r = refuse(
                Some(id),
                1013,
                &format!(
                    "too many pending pairing requests ({cap}, limits.mesh_max_pair_requests)"
                ),
                Some(json!({"code": "PAIRING_BUSY", "maxRequests": cap})),
            );
            if let Some(e) = r.error.as_mut() {
                e["code"] = json!("UNAVAILABLE");
                e["retryable"] = json!(true);
                e["retryAfterMs"] = json!(30_000);
            }
            Err(r)
        }
        Decision::Pending { request, new } => {
            if new {
                // Creating requests counts like a failed login, so one address cannot fill the
                // table; waiting on an existing request does not.
                ctx.limiter.borrow_mut().fail(ip, now);
            }
            let mut r = refuse(
                Some(id),
                1008,
                "pairing required",
                Some(json!({"code": "PAIRING_REQUIRED", "reason": "not-paired",
                            "requestId": request.request_id})),
            );
            if let Some(e) = r.error.as_mut() {
                e["code"] = json!("NOT_PAIRED");
            }
            r.pair_request = new.then(|| Box::new(request));
            Err(r)
        }
    }
}

/// What a node said about itself; its id is the device id, else `client.instanceId`, else
/// `conn:<connId>` (upstream falls back to `client.id`, which every node host shares).
fn node_hello(p: &ConnectParams, conn_id: &str, ip: std::net::IpAddr) -> NodeHello {
    let node_id = p
        .device
        .as_ref()
        .map(|d| d.id.to_ascii_lowercase())
        .or_else(|| {
            p.client
                .instance_id
                .clone()
                .filter(|i| !i.trim().is_empty())
        })
        .unwrap_or_else(|| format!("conn:{conn_id}"));
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    NodeHello {
        node_id,
        display_name: p.client.display_name.clone().filter(|s| !s.is_empty()),
        platform: p.client.platform.clone(),
        version: p.client.version.clone(),
        device_family: p.client.device_family.clone(),
        model_identifier: p.client.model_identifier.clone(),
        remote_ip: ip.to_string(),
        caps: sorted(&p.caps),
        commands: sorted(&p.commands),
        permissions: p.permissions.clone().map(Value::Object),
        path_env: p.path_env.clone(),
    }
}

/// Checks what serde cannot: enums, non-empty strings and list bounds from the schema.
fn check_shape(p: &ConnectParams) -> Result<(), String> {
    if p.min_protocol < 1 || p.max_protocol < 1 {
        return Err("minProtocol and maxProtocol must be at least 1".into());
    }
    if !CLIENT_IDS.contains(&p.client.id.as_str()) {
        return Err(format!(
            "client.id {:?} is not a known client id",
            p.client.id
        ));
    }
    if !CLIENT_MODES.contains(&p.client.mode.as_str()) {
        return Err(format!(
            "client.mode {:?} is not a known mode",
            p.client.mode
        ));
    }
    if p.client.version.is_empty() || p.client.platform.is_empty() {
        return Err("client.version and client.platform must not be empty".into());
    }
    if p.client.build_id.as_ref().is_some_and(|b| b.len() > 96)
        || p.client.time_zone.as_ref().is_some_and(|t| t.len() > 64)
    {
        return Err("client.buildId or client.timeZone too long".into());
    }
    for (name, list) in [
        ("caps", &p.caps),
        ("commands", &p.commands),
        ("scopes", &p.scopes),
    ] {
        if list.len() > 256 || list.iter().any(|s| s.is_empty()) {
            return Err(format!("{name} must hold at most 256 non-empty strings"));
        }
    }
    Ok(())
}

fn presence_entry(p: &ConnectParams, role: Role, ip: std::net::IpAddr, now: u64) -> Value {
    let mut e = json!({
        "ts": now,
        "host": p.client.display_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| p.client.id.clone()),
        "ip": ip.to_string(),
        "version": p.client.version,
        "platform": p.client.platform,
        "mode": p.client.mode,
        "roles": [role.as_str()],
        "reason": "connect",
        "onlineSince": now,
    });
    let opt = [
        ("deviceFamily", p.client.device_family.as_deref()),
        ("instanceId", p.client.instance_id.as_deref()),
        ("deviceId", p.device.as_ref().map(|d| d.id.as_str())),
        ("timeZone", p.client.time_zone.as_deref()),
    ];
    for (k, v) in opt {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            e[k] = json!(v);
        }
    }
    e
}
