//! Pairing: signed devices that may connect without the gateway secret, and their tokens.
//!
//! The gateway secret admits any client, as before. A client that offers no secret but a signed
//! `device` block is looked up here (`check`, synchronous, from the handshake): an unknown device
//! gets a pending request (one per device, at most `limits.mesh_max_pair_requests`, each living
//! `limits.mesh_pair_request_ttl_ms`) and `NOT_PAIRED`; once an operator approves it
//! (`device.pair.approve` / `node.pair.approve`) its next signed connect is admitted and
//! `hello-ok.auth.deviceToken` carries a freshly issued token, shown that once; later connects
//! must present it (`auth.deviceToken`, or `auth.token`). `device.token.rotate` issues a new token
//! to the operator (in-band), `device.token.revoke` voids it, `device.pair.remove` unpairs; each
//! closes the device's live connections that were admitted through pairing.
//!
//! Only the SHA-256 of a token is kept, in the store and in this cache; tokens are compared in
//! constant time. The cache mirrors the store (loaded at start-up, changed only after the store
//! committed) so the handshake stays synchronous. Bounds: requests and paired devices by their
//! limits; tracked sessions by the connection cap (one entry per live connection).

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::gateway::Ctx;
use crate::gateway::auth::secret_eq;
use crate::gateway::hub::Peer;
use crate::rpc::error::RpcError;
use crate::store::mesh_pairing::{self as store, Device, Request, Token};

/// How a pairing-admitted connection may proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The device.
    pub device_id: String,
    /// The role it connected with.
    pub role: String,
    /// Scopes its pairing (token) grants.
    pub scopes: Vec<String>,
    /// No token was issued yet: issue one in `hello-ok`.
    pub issue: bool,
}

/// What `check` decided for a signed device that offered no valid gateway secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Admit (with a valid device token, or paired and due a first token).
    Admit(Grant),
    /// The token presented is not this device's (or was revoked).
    BadToken(&'static str),
    /// The device has an issued token but presented none.
    TokenRequired,
    /// The presented token is neither a device token nor the gateway secret: a wrong secret.
    WrongSecret,
    /// Not paired: `request` waits for an operator (`new` when this connect created it).
    Pending {
        /// The pending request.
        request: Request,
        /// Whether it has to be stored now.
        new: bool,
    },
    /// Not paired and `limits.mesh_max_pair_requests` requests are pending.
    Full {
        /// The limit.
        cap: usize,
    },
}

/// The facts of a connect that a new request records.
pub struct Asking<'a> {
    /// Device id (verified).
    pub device_id: &'a str,
    /// Its key as sent.
    pub public_key: &'a str,
    /// Requested role.
    pub role: &'a str,
    /// Requested scopes, capped by `gateway.auth.scopes` (none for nodes).
    pub scopes: Vec<String>,
    /// `client.displayName`.
    pub display_name: Option<&'a str>,
    /// `client.platform`.
    pub platform: &'a str,
    /// `client.id`.
    pub client_id: &'a str,
    /// `client.mode`.
    pub client_mode: &'a str,
    /// Peer address.
    pub remote_ip: String,
}

struct Session {
    peer: Rc<Peer>,
    device_id: String,
    role: String,
}

/// The pairing cache.
pub struct Pairing {
    requests: RefCell<Vec<Request>>,
    devices: RefCell<Vec<Device>>,
    tokens: RefCell<Vec<Token>>,
    sessions: RefCell<Vec<Session>>,
    max_requests: usize,
    max_paired: usize,
    ttl_ms: u64,
}

/// Hex SHA-256 of a token (what is stored).
pub fn token_hash(token: &str) -> String {
    crate::ids::hex(&Sha256::digest(token.as_bytes()))
}

/// A new device token: 32 random bytes, base64url.
fn new_token() -> String {
    crate::ids::base64url(&crate::ids::random_bytes::<32>())
}

impl Pairing {
    /// An empty cache with the limits of `l`.
    pub fn new(l: &crate::config::Limits) -> Pairing {
        Pairing {
            requests: RefCell::new(Vec::new()),
            devices: RefCell::new(Vec::new()),
            tokens: RefCell::new(Vec::new()),
            sessions: RefCell::new(Vec::new()),
            max_requests: l.mesh_max_pair_requests,
            max_paired: l.mesh_max_paired_devices,
            ttl_ms: l.mesh_pair_request_ttl_ms,
        }
    }

    /// Decides for a verified device that offered no valid gateway secret; `device_token` is
    /// `auth.deviceToken`, `token` is `auth.token`, `password` says whether a password was sent.
    pub fn check(
        &self,
        a: &Asking,
        device_token: Option<&str>,
        token: Option<&str>,
        password: bool,
        now: u64,
    ) -> Decision {
        self.requests.borrow_mut().retain(|r| r.expires_at > now);
        let paired = self
            .devices
            .borrow()
            .iter()
            .any(|d| d.device_id == a.device_id && d.role == a.role);
        let row = paired
            .then(|| {
                self.tokens
                    .borrow()
                    .iter()
                    .find(|t| t.device_id == a.device_id && t.role == a.role)
                    .cloned()
            })
            .flatten();
        let grant = |t: &Token, issue: bool| {
            Decision::Admit(Grant {
                device_id: a.device_id.to_string(),
                role: a.role.to_string(),
                scopes: t.scopes.clone(),
                issue,
            })
        };
        let presented = device_token.or(token);
        match (row, presented) {
            (Some(t), _) if t.revoked_at.is_some() => Decision::BadToken("device token revoked"),
            (Some(t), Some(p)) => match &t.sha256 {
                Some(h) if secret_eq(&token_hash(p), h) => grant(&t, false),
                Some(_) => Decision::BadToken("device token mismatch"),
                None if device_token.is_some() => Decision::BadToken("no device token issued yet"),
                None => Decision::WrongSecret,
            },
            (Some(_), None) if password => Decision::WrongSecret,
            (Some(t), None) => match t.sha256 {
                Some(_) => Decision::TokenRequired,
                None => grant(&t, true),
            },
            (None, Some(_)) if device_token.is_some() => {
                Decision::BadToken("this device is not paired")
            }
            (None, Some(_)) => Decision::WrongSecret,
            (None, None) if password => Decision::WrongSecret,
            (None, None) => self.ask(a, now),
        }
    }

    fn ask(&self, a: &Asking, now: u64) -> Decision {
        let requests = self.requests.borrow();
        if let Some(r) = requests.iter().find(|r| r.device_id == a.device_id) {
            return Decision::Pending {
                request: r.clone(),
                new: false,
            };
        }
        if requests.len() >= self.max_requests {
            return Decision::Full {
                cap: self.max_requests,
            };
        }
        Decision::Pending {
            request: Request {
                request_id: crate::ids::uuid_v4(),
                device_id: a.device_id.to_string(),
                public_key: a.public_key.to_string(),
                role: a.role.to_string(),
                scopes: a.scopes.clone(),
                display_name: a.display_name.map(str::to_string),
                platform: Some(a.platform.to_string()),
                client_id: Some(a.client_id.to_string()),
                client_mode: Some(a.client_mode.to_string()),
                remote_ip: Some(a.remote_ip.clone()),
                created_at: now,
                expires_at: now + self.ttl_ms,
            },
            new: true,
        }
    }

    /// Remembers a connection admitted through pairing (closed on revoke, rotate, remove).
    pub fn track(&self, peer: &Rc<Peer>, g: &Grant) {
        self.sessions.borrow_mut().push(Session {
            peer: Rc::clone(peer),
            device_id: g.device_id.clone(),
            role: g.role.clone(),
        });
    }

    /// Forgets a closed connection.
    pub fn untrack(&self, conn_id: &str) {
        self.sessions
            .borrow_mut()
            .retain(|s| s.peer.conn_id != conn_id);
    }

    /// Closes the live pairing-admitted connections of `device_id` (of `role`, if given).
    fn close_sessions(&self, device_id: &str, role: Option<&str>, why: &str) -> usize {
        let sessions = self.sessions.borrow();
        let mut n = 0;
        for s in sessions
            .iter()
            .filter(|s| s.device_id == device_id && role.is_none_or(|r| r == s.role))
        {
            s.peer.close(1008, why);
            n += 1;
        }
        n
    }

    /// Pending requests (live ones), oldest first, optionally only one role.
    pub fn requests(&self, role: Option<&str>, now: u64) -> Vec<Request> {
        self.requests
            .borrow()
            .iter()
            .filter(|r| r.expires_at > now && role.is_none_or(|x| x == r.role))
            .cloned()
            .collect()
    }

    /// Paired devices, optionally only one role.
    pub fn devices(&self, role: Option<&str>) -> Vec<Device> {
        self.devices
            .borrow()
            .iter()
            .filter(|d| role.is_none_or(|x| x == d.role))
            .cloned()
            .collect()
    }

    /// The token row of a device, if paired.
    pub fn token(&self, device_id: &str) -> Option<Token> {
        self.tokens
            .borrow()
            .iter()
            .find(|t| t.device_id == device_id)
            .cloned()
    }

    fn put_token(&self, t: Token) {
        let mut tokens = self.tokens.borrow_mut();
        tokens.retain(|x| !(x.device_id == t.device_id && x.role == t.role));
        tokens.push(t);
    }

    /// The paired device `device_id`, if any.
    pub fn device(&self, device_id: &str) -> Option<Device> {
        self.devices
            .borrow()
            .iter()
            .find(|d| d.device_id == device_id)
            .cloned()
    }
}

/// Loads the store's pairing state into the cache (start-up).
pub async fn load(ctx: &Ctx) -> Result<(), crate::store::StoreError> {
    let now = crate::clock::now_ms();
    let st = ctx.store.read(move |db| store::load(db, now)).await?;
    let p = &ctx.mesh.pairing;
    *p.requests.borrow_mut() = st.requests;
    *p.devices.borrow_mut() = st.devices;
    *p.tokens.borrow_mut() = st.tokens;
    Ok(())
}

/// Stores a new pairing request and tells operators holding `operator.pairing`.
pub async fn store_request(ctx: &Ctx, r: Request) -> Result<(), RpcError> {
    let cap = ctx.mesh.pairing.max_requests;
    let row = r.clone();
    ctx.store
        .write(move |db| store::insert_request(db, &row, cap))
        .await?;
    let p = &ctx.mesh.pairing;
    p.requests
        .borrow_mut()
        .retain(|x| x.device_id != r.device_id);
    p.requests.borrow_mut().push(r.clone());
    log::info!(
        "mesh: pairing request {} from device {} ({}, {})",
        r.request_id,
        r.device_id,
        r.role,
        r.remote_ip.as_deref().unwrap_or("?")
    );
    let ev = request_json(&r);
    ctx.hub
        .emit_scoped("device.pair.requested", &ev, "operator.pairing");
    if r.role == "node" {
        let mut n = ev;
        n["nodeId"] = json!(r.device_id);
        ctx.hub
            .emit_scoped("node.pair.requested", &n, "operator.pairing");
    }
    Ok(())
}

/// Issues the first token of a paired device (stored as its hash); returns the token and when.
pub async fn issue(ctx: &Ctx, g: &Grant) -> Result<(String, u64), RpcError> {
    let token = new_token();
    let now = crate::clock::now_ms();
    let t = Token {
        device_id: g.device_id.clone(),
        role: g.role.clone(),
        sha256: Some(token_hash(&token)),
        scopes: g.scopes.clone(),
        issued_at: Some(now),
        revoked_at: None,
    };
    let row = t.clone();
    ctx.store
        .write(move |db| store::save_token(db, &row))
        .await?;
    ctx.mesh.pairing.put_token(t);
    Ok((token, now))
}

/// A request as events and lists show it (`DevicePairRequestedEvent` fields).
pub fn request_json(r: &Request) -> Value {
    json!({
        "requestId": r.request_id,
        "deviceId": r.device_id,
        "publicKey": r.public_key,
        "displayName": r.display_name,
        "platform": r.platform,
        "clientId": r.client_id,
        "clientMode": r.client_mode,
        "role": r.role,
        "roles": [r.role],
        "scopes": r.scopes,
        "remoteIp": r.remote_ip,
        "ts": r.created_at,
        "expiresAtMs": r.expires_at,
    })
}

/// A paired device as lists show it (its token's state, never the token).
pub fn device_json(ctx: &Ctx, d: &Device) -> Value {
    let t = ctx.mesh.pairing.token(&d.device_id);
    json!({
        "deviceId": d.device_id,
        "publicKey": d.public_key,
        "displayName": d.label,
        "platform": d.platform,
        "clientId": d.client_id,
        "role": d.role,
        "roles": [d.role],
        "scopes": d.scopes,
        "remoteIp": d.remote_ip,
        "pairedAtMs": d.paired_at,
        "tokens": t.map(|t| vec![json!({
            "role": t.role,
            "scopes": t.scopes,
            "issued": t.sha256.is_some(),
            "issuedAtMs": t.issued_at,
            "revokedAtMs": t.revoked_at,
        })]).unwrap_or_default(),
    })
}

fn resolved(ctx: &Ctx, r: &Request, decision: &str) {
    let ts = crate::clock::now_ms();
    let ev =
        json!({"requestId": r.request_id, "deviceId": r.device_id, "decision": decision, "ts": ts});
    ctx.hub
        .emit_scoped("device.pair.resolved", &ev, "operator.pairing");
    if r.role == "node" {
        let ev = json!({"requestId": r.request_id, "nodeId": r.device_id, "decision": decision, "ts": ts});
        ctx.hub
            .emit_scoped("node.pair.resolved", &ev, "operator.pairing");
    }
}

/// Checks that `request_id` is pending (and a node request when `role` says so).
fn pending(ctx: &Ctx, request_id: &str, role: Option<&str>) -> Result<Request, RpcError> {
    let now = crate::clock::now_ms();
    ctx.mesh
        .pairing
        .requests(role, now)
        .into_iter()
        .find(|r| r.request_id == request_id)
        .ok_or_else(|| RpcError::InvalidRequest("unknown requestId".into()))
}

/// Approves a request: the device is paired; a node device becomes a known node.
pub async fn approve(
    ctx: &Rc<Ctx>,
    request_id: &str,
    role: Option<&str>,
) -> Result<(Request, Device), RpcError> {
    pending(ctx, request_id, role)?;
    let (id, max) = (request_id.to_string(), ctx.mesh.pairing.max_paired);
    let now = crate::clock::now_ms();
    let (r, d, t) = ctx
        .store
        .write(move |db| {
            let out = store::approve(db, &id, max, now)?;
            if out.1.role == "node" {
                let name = out.1.label.clone();
                crate::store::mesh::save_node(
                    db,
                    &out.1.device_id,
                    name.as_deref(),
                    out.1.platform.as_deref(),
                    now,
                )?;
            }
            Ok(out)
        })
        .await?;
    let p = &ctx.mesh.pairing;
    p.requests
        .borrow_mut()
        .retain(|x| x.request_id != r.request_id);
    p.devices
        .borrow_mut()
        .retain(|x| x.device_id != d.device_id);
    p.devices.borrow_mut().push(d.clone());
    p.tokens.borrow_mut().retain(|x| x.device_id != d.device_id);
    p.tokens.borrow_mut().push(t);
    if d.role == "node" {
        let known = crate::mesh::nodes::Known {
            node_id: d.device_id.clone(),
            display_name: d.label.clone(),
            platform: d.platform.clone(),
            last_seen_ms: now,
            paired: true,
        };
        if !ctx.mesh.nodes.set_known(known) {
            log::warn!(
                "mesh: node table full: paired node {} is listed once it connects",
                d.device_id
            );
        }
    }
    log::info!("mesh: device {} paired as {}", d.device_id, d.role);
    resolved(ctx, &r, "approved");
    Ok((r, d))
}

/// Rejects (drops) a request.
pub async fn reject(ctx: &Ctx, request_id: &str, role: Option<&str>) -> Result<Request, RpcError> {
    pending(ctx, request_id, role)?;
    let id = request_id.to_string();
    let now = crate::clock::now_ms();
    let r = ctx
        .store
        .write(move |db| store::reject(db, &id, now))
        .await?;
    ctx.mesh
        .pairing
        .requests
        .borrow_mut()
        .retain(|x| x.request_id != r.request_id);
    resolved(ctx, &r, "rejected");
    Ok(r)
}

/// Unpairs a device (only of `role`, when given) and closes its pairing-admitted connections.
pub async fn remove(ctx: &Ctx, device_id: &str, role: Option<&str>) -> Result<Device, RpcError> {
    let known = ctx.mesh.pairing.device(device_id);
    if known
        .as_ref()
        .is_none_or(|d| role.is_some_and(|r| r != d.role))
    {
        return Err(RpcError::InvalidRequest(match role {
            Some("node") => "unknown nodeId".into(),
            _ => "unknown deviceId".into(),
        }));
    }
    let id = device_id.to_string();
    let d = ctx
        .store
        .write(move |db| {
            let d = store::remove_device(db, &id)?;
            if d.role == "node" {
                crate::store::mesh::delete_node(db, &id)?;
            }
            Ok(d)
        })
        .await?;
    let p = &ctx.mesh.pairing;
    p.devices
        .borrow_mut()
        .retain(|x| x.device_id != d.device_id);
    p.tokens.borrow_mut().retain(|x| x.device_id != d.device_id);
    if d.role == "node" {
        ctx.mesh.nodes.forget(&d.device_id);
    }
    p.close_sessions(&d.device_id, None, "device unpaired");
    log::info!("mesh: device {} unpaired", d.device_id);
    Ok(d)
}

/// Renames a paired device.
pub async fn rename(ctx: &Ctx, device_id: &str, label: &str) -> Result<(), RpcError> {
    let (id, l) = (device_id.to_string(), label.to_string());
    ctx.store
        .write(move |db| store::rename_device(db, &id, &l))
        .await?;
    if let Some(d) = ctx
        .mesh
        .pairing
        .devices
        .borrow_mut()
        .iter_mut()
        .find(|d| d.device_id == device_id)
    {
        d.label = Some(label.to_string());
    }
    Ok(())
}

/// The token row of a paired device for `role`, or the client error.
fn token_row(ctx: &Ctx, device_id: &str, role: &str) -> Result<Token, RpcError> {
    ctx.mesh
        .pairing
        .token(device_id)
        .filter(|t| t.role == role)
        .ok_or_else(|| {
            RpcError::InvalidRequest(format!("no paired device {device_id} with role {role}"))
        })
}

/// Replaces a device's token with a new one returned to the operator (in-band); `scopes` (within
/// the device's pairing) replaces the token's scopes. Connections using the old token close.
pub async fn rotate(
    ctx: &Ctx,
    device_id: &str,
    role: &str,
    scopes: Option<Vec<String>>,
) -> Result<(String, Token), RpcError> {
    let old = token_row(ctx, device_id, role)?;
    let paired = ctx
        .mesh
        .pairing
        .device(device_id)
        .map(|d| d.scopes)
        .unwrap_or_default();
    let scopes = match scopes {
        None => old.scopes.clone(),
        Some(s) => {
            if let Some(extra) = s.iter().find(|x| !paired.contains(x)) {
                return Err(RpcError::InvalidRequest(format!(
                    "scope {extra:?} was not granted to this device at pairing"
                )));
            }
            s
        }
    };
    let token = new_token();
    let t = Token {
        sha256: Some(token_hash(&token)),
        scopes,
        issued_at: Some(crate::clock::now_ms()),
        revoked_at: None,
        ..old
    };
    let row = t.clone();
    ctx.store
        .write(move |db| store::save_token(db, &row))
        .await?;
    ctx.mesh.pairing.put_token(t.clone());
    ctx.mesh
        .pairing
        .close_sessions(device_id, Some(role), "device token rotated");
    Ok((token, t))
}

/// Revokes a device's token: it cannot connect through pairing until rotated or re-paired.
pub async fn revoke(ctx: &Ctx, device_id: &str, role: &str) -> Result<u64, RpcError> {
    let old = token_row(ctx, device_id, role)?;
    let now = crate::clock::now_ms();
    let t = Token {
        sha256: None,
        revoked_at: Some(now),
        ..old
    };
    let row = t.clone();
    ctx.store
        .write(move |db| store::save_token(db, &row))
        .await?;
    ctx.mesh.pairing.put_token(t);
    ctx.mesh
        .pairing
        .close_sessions(device_id, Some(role), "device token revoked");
    log::info!("mesh: device {device_id} token ({role}) revoked");
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(id: &str) -> Asking<'_> {
        Asking {
            device_id: id,
            public_key: "k",
            role: "node",
            scopes: vec![],
            display_name: None,
            platform: "linux",
            client_id: "node-host",
            client_mode: "node",
            remote_ip: "127.0.0.1".into(),
        }
    }

    fn cache(max_requests: usize) -> Pairing {
        let l = crate::config::Limits {
            mesh_max_pair_requests: max_requests,
            ..Default::default()
        };
        Pairing::new(&l)
    }

    fn pair(p: &Pairing, id: &str, sha: Option<String>, revoked: bool) {
        p.devices.borrow_mut().push(Device {
            device_id: id.into(),
            public_key: "k".into(),
            role: "node".into(),
            scopes: vec![],
            label: None,
            platform: None,
            client_id: None,
            remote_ip: None,
            paired_at: 1,
        });
        p.put_token(Token {
            device_id: id.into(),
            role: "node".into(),
            sha256: sha,
            scopes: vec![],
            issued_at: None,
            revoked_at: revoked.then_some(2),
        });
    }

    #[test]
    fn unknown_devices_ask_once_and_the_table_is_bounded() {
        let p = cache(1);
        let Decision::Pending { request, new: true } =
            p.check(&asking("d1"), None, None, false, 10)
        else {
            panic!("a new request")
        };
        p.requests.borrow_mut().push(request.clone());
        assert_eq!(
            p.check(&asking("d1"), None, None, false, 11),
            Decision::Pending {
                request: request.clone(),
                new: false
            }
        );
        assert_eq!(
            p.check(&asking("d2"), None, None, false, 11),
            Decision::Full { cap: 1 }
        );
        // Expired requests free their slot.
        let later = request.expires_at + 1;
        assert!(matches!(
            p.check(&asking("d2"), None, None, false, later),
            Decision::Pending { new: true, .. }
        ));
        assert_eq!(
            p.check(&asking("d3"), None, Some("wrong"), false, later),
            Decision::WrongSecret
        );
    }

    #[test]
    fn tokens_are_issued_once_checked_by_hash_and_revocable() {
        let p = cache(4);
        pair(&p, "d1", None, false);
        let Decision::Admit(g) = p.check(&asking("d1"), None, None, false, 1) else {
            panic!()
        };
        assert!(g.issue, "first connect after approval gets a token");
        pair(&p, "d2", Some(token_hash("tok")), false);
        assert!(matches!(
            p.check(&asking("d2"), Some("tok"), None, false, 1),
            Decision::Admit(Grant { issue: false, .. })
        ));
        assert!(matches!(
            p.check(&asking("d2"), None, Some("tok"), false, 1),
            Decision::Admit(_)
        ));
        assert_eq!(
            p.check(&asking("d2"), Some("nope"), None, false, 1),
            Decision::BadToken("device token mismatch")
        );
        assert_eq!(
            p.check(&asking("d2"), None, None, false, 1),
            Decision::TokenRequired
        );
        pair(&p, "d3", None, true);
        assert_eq!(
            p.check(&asking("d3"), Some("tok"), None, false, 1),
            Decision::BadToken("device token revoked")
        );
        assert_eq!(
            p.check(&asking("d3"), None, None, false, 1),
            Decision::BadToken("device token revoked")
        );
        assert_eq!(token_hash("tok").len(), 64);
    }
}
