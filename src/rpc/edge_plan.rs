//! Edge methods that answer from stored or probed facts only: `edge.personality.profile` (the
//! persona applied to the system prompt; get and set), `edge.identity.trust.status` (this
//! instance's device identity, paired and pending devices, configured peers) and
//! `edge.handoff.plan` (where a session could move: its stored facts and the peers probed now).
//! `edge.router.plan` lives in `router.rs`.
//!
//! Nothing here is invented: what is not known is `null` with a reason, and a trust state is
//! derived from the pairing rows. Store work goes through `ctx.store`, file reads through
//! `ctx.pool`, probes through `mesh::probe`; every list is bounded by a limit (paired devices,
//! pending requests, peers). `edge.handoff.plan` plans only: executing a handoff is not built.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::{NoParams, parse_params};
use crate::gateway::Ctx;
use crate::gateway::hub::Peer;

/// Default probe deadline of `edge.handoff.plan` (lowered to `limits.mesh_probe_timeout_ms`).
pub const HANDOFF_DEFAULT_TIMEOUT_MS: u64 = 2000;

/// `profile` present (a name or `null`) versus absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProfileParams {
    #[serde(default, deserialize_with = "present")]
    profile: Option<Option<String>>,
}

/// `edge.personality.profile {}` → the active persona and the defined ones;
/// `{profile: name | null}` (needs `operator.write`) makes `name` (or none) the active persona,
/// kept across restarts, and answers the same shape with `changed`.
pub async fn personality_profile(
    ctx: &Ctx,
    peer: Option<&Rc<Peer>>,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    const M: &str = "edge.personality.profile";
    let p: ProfileParams = parse_params(M, params)?;
    let a = &ctx.config.agent;
    let mut changed = None;
    if let Some(want) = p.profile {
        let scopes = peer.map_or(&ctx.config.auth.scopes, |p| &p.scopes);
        if !crate::gateway::dispatch::has_scope(scopes, "operator.write") {
            return Err(RpcError::MissingScope {
                scope: "operator.write",
            });
        }
        if let Some(name) = &want
            && a.persona_named(name).is_none()
        {
            return Err(RpcError::InvalidRequest(format!(
                "invalid {M} params: profile {name:?} is not a persona in [agent.personas] (defined: {})",
                persona_names(ctx)
            )));
        }
        let before = ctx.agent.persona.name();
        crate::agent::persona::set(ctx, want.clone())
            .await
            .map_err(RpcError::Unavailable)?;
        changed = Some(before != want);
    }
    let persona = &ctx.agent.persona;
    let active = persona.name();
    let mut out = json!({
        "active": active,
        "source": persona.source().as_str(),
        "default": a.persona,
        "persona": active.as_deref().and_then(|n| a.persona_named(n)).map(|p| json!({
            "name": p.name, "prompt": p.prompt, "traits": p.traits,
        })),
        "personas": a.personas.iter().map(|p| json!({
            "name": p.name, "traits": p.traits, "promptBytes": p.prompt.len(),
            "isDefault": a.persona.as_deref() == Some(p.name.as_str()),
        })).collect::<Vec<_>>(),
        "systemPromptBytes": crate::agent::persona::system_prompt(ctx).len(),
    });
    if let Some(n) = persona.note() {
        out["note"] = json!(n);
    }
    if let Some(c) = changed {
        out["changed"] = json!(c);
    }
    Ok(out)
}

fn persona_names(ctx: &Ctx) -> String {
    let names: Vec<&str> = ctx
        .config
        .agent
        .personas
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The trust state of a paired device, from its token row: `trusted` (token issued and not
/// revoked), `revoked`, or `approved` (paired, no token issued yet: it gets one at its next
/// signed connect).
fn trust_of(t: Option<&crate::store::mesh_pairing::Token>) -> (&'static str, &'static str) {
    match t {
        Some(t) if t.sha256.is_some() => ("trusted", "paired; its device token is active"),
        Some(t) if t.revoked_at.is_some() => (
            "revoked",
            "paired, but its device token was revoked: refused until rotated or re-paired",
        ),
        _ => (
            "approved",
            "paired; no token issued yet (issued in hello-ok at its next signed connect)",
        ),
    }
}

/// `deviceId`'s first 16 hex digits in groups of four, for reading aloud.
fn fingerprint(device_id: &str) -> String {
    let head = &device_id[..device_id.len().min(16)];
    head.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// `edge.identity.trust.status {}` → this instance's device identity, paired devices with their
/// trust state, pending requests, configured peers and their links, and counts.
pub async fn identity_trust_status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("edge.identity.trust.status", params)?;
    let dir = ctx.config.state_dir.clone();
    let read = ctx
        .pool
        .run(move || crate::bridge::device::read(&dir))
        .await?;
    let in_use = ctx.mesh.identity().map(|i| i.id.clone());
    let (identity, identity_note) = match read {
        Ok(Some((me, created))) => (
            json!({
                "deviceId": me.id,
                "publicKey": me.public_key,
                "fingerprint": fingerprint(&me.id),
                "createdAtMs": created,
                "file": crate::bridge::device::FILE,
                "usedByMesh": in_use.as_deref() == Some(me.id.as_str()),
            }),
            None,
        ),
        Ok(None) => (
            Value::Null,
            Some(format!(
                "no device identity yet: {} is created when [mesh] peers are configured or in bridge-client mode",
                crate::bridge::device::FILE
            )),
        ),
        Err(e) => {
            log::warn!("edge.identity.trust.status: {e}");
            (
                Value::Null,
                Some(format!(
                    "the device identity file {} is unreadable or inconsistent (see the log)",
                    crate::bridge::device::FILE
                )),
            )
        }
    };
    let now = crate::clock::now_ms();
    let pairing = &ctx.mesh.pairing;
    let presence = ctx.hub.presence_all();
    let connections = |id: &str| {
        presence
            .iter()
            .filter(|p| p["deviceId"].as_str() == Some(id))
            .count()
    };
    let nodes = &ctx.mesh.nodes;
    let last_seen = |id: &str| {
        nodes
            .live(id)
            .map(|l| l.last_seen_ms.get())
            .or_else(|| nodes.known(id).map(|k| k.last_seen_ms))
    };
    let mut counts = [0usize; 3];
    let devices: Vec<Value> = pairing
        .devices(None)
        .iter()
        .map(|d| {
            let t = pairing.token(&d.device_id);
            let (trust, reason) = trust_of(t.as_ref());
            counts[match trust {
                "trusted" => 0,
                "approved" => 1,
                _ => 2,
            }] += 1;
            json!({
                "deviceId": d.device_id,
                "fingerprint": fingerprint(&d.device_id),
                "displayName": d.label,
                "role": d.role,
                "scopes": d.scopes,
                "platform": d.platform,
                "clientId": d.client_id,
                "remoteIp": d.remote_ip,
                "pairedAtMs": d.paired_at,
                "trust": trust,
                "reason": reason,
                "token": t.map(|t| json!({"issued": t.sha256.is_some(), "issuedAtMs": t.issued_at,
                                          "revokedAtMs": t.revoked_at, "scopes": t.scopes})),
                "connections": connections(&d.device_id),
                "lastSeenMs": last_seen(&d.device_id),
            })
        })
        .collect();
    let pending: Vec<Value> = pairing
        .requests(None, now)
        .iter()
        .map(|r| {
            json!({
                "requestId": r.request_id,
                "deviceId": r.device_id,
                "fingerprint": fingerprint(&r.device_id),
                "displayName": r.display_name,
                "role": r.role,
                "scopes": r.scopes,
                "platform": r.platform,
                "remoteIp": r.remote_ip,
                "requestedAtMs": r.created_at,
                "expiresAtMs": r.expires_at,
                "trust": "pending",
                "reason": "asked to pair; waiting for an operator (device.pair.approve)",
            })
        })
        .collect();
    let mut linked = 0;
    let peers: Vec<Value> = ctx
        .config
        .mesh
        .peers
        .iter()
        .zip(&ctx.mesh.peers)
        .map(|(p, s)| {
            let link = p.join.then(|| s.link_json());
            let connected = link.as_ref().map(|l| l["connected"] == true);
            linked += usize::from(connected == Some(true));
            let mut v = json!({
                "name": p.name,
                "url": p.url,
                "join": p.join,
                "auth": match p.auth {
                    crate::config::bridge::BridgeAuth::Token(_) => "token",
                    crate::config::bridge::BridgeAuth::Password(_) => "password",
                },
                "connected": connected,
                "link": link,
                "lastSeenMs": s.last_seen_ms(),
            });
            if !p.join {
                v["note"] =
                    json!("no standing link (join = false): edge.mesh.status probes it on demand");
            }
            v
        })
        .collect();
    let mut out = json!({
        "ts": now,
        "identity": identity,
        "devices": devices,
        "pending": pending,
        "peers": peers,
        "summary": {
            "paired": devices.len(),
            "trusted": counts[0],
            "approved": counts[1],
            "revoked": counts[2],
            "pending": pending.len(),
            "peers": ctx.config.mesh.peers.len(),
            "peersLinked": linked,
        },
    });
    if let Some(n) = identity_note {
        out["identityNote"] = json!(n);
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HandoffParams {
    session_key: Option<String>,
    peer: Option<String>,
    timeout_ms: Option<u64>,
}

/// `edge.handoff.plan {sessionKey, peer?, timeoutMs?}` → the session's stored facts, every
/// configured peer instance probed now, the target (the requested peer if reachable, else the
/// reachable one with the lowest round trip) and the steps; `executable: false` always.
pub async fn handoff_plan(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    const M: &str = "edge.handoff.plan";
    let p: HandoffParams = parse_params(M, params)?;
    let bad = |msg: String| RpcError::InvalidRequest(format!("invalid {M} params: {msg}"));
    let raw = p
        .session_key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad("sessionKey is required".into()))?;
    let key = super::sessions::canon(ctx, &raw, None)?;
    let peers_cfg = &ctx.config.mesh.peers;
    let requested = match &p.peer {
        None => None,
        Some(name) => {
            let n = name.strip_prefix("edge:").unwrap_or(name);
            let i = peers_cfg.iter().position(|x| x.name == n).ok_or_else(|| {
                let names: Vec<&str> = peers_cfg.iter().map(|x| x.name.as_str()).collect();
                bad(format!(
                    "peer {name:?} is not in [mesh] peers ({})",
                    if names.is_empty() {
                        "none are configured".to_string()
                    } else {
                        format!("configured: {}", names.join(", "))
                    }
                ))
            })?;
            Some(i)
        }
    };
    let max = ctx.config.limits.mesh_probe_timeout_ms;
    let timeout_ms = p
        .timeout_ms
        .unwrap_or(HANDOFF_DEFAULT_TIMEOUT_MS.min(max))
        .clamp(super::mesh::MIN_TIMEOUT_MS, max);
    let k = key.as_str().to_string();
    let facts = ctx
        .store
        .read(move |db| {
            let Some(row) = crate::store::sessions::get(db, &k)? else {
                return Ok(None);
            };
            let size = crate::store::messages::size(db, &k, &row.session_id)?;
            Ok(Some((row, size)))
        })
        .await?;
    let Some((row, (messages, bytes, last_message))) = facts else {
        return Err(RpcError::InvalidRequest(format!(
            "session not found: {}",
            key.as_str()
        )));
    };
    let (active, queued) = crate::agent::session_activity(ctx, key.as_str());
    let session = json!({
        "exists": true,
        "sessionId": row.session_id,
        "kind": row.kind,
        "messages": messages,
        "transcriptBytes": bytes,
        "lastMessageAtMs": last_message,
        "updatedAtMs": row.updated_at,
        "activeRunId": active,
        "queuedTurns": queued,
        "model": row.settings.get("model").cloned().or_else(|| row.last_model.clone().map(Value::from)),
    });

    let started = Instant::now();
    let all: Vec<usize> = (0..peers_cfg.len()).collect();
    let outcomes =
        crate::mesh::probe::edge_peers(ctx, &all, Duration::from_millis(timeout_ms)).await;
    let took = started.elapsed().as_millis() as u64;
    let peers: Vec<Value> = peers_cfg
        .iter()
        .zip(&outcomes)
        .enumerate()
        .map(|(i, (pc, o))| {
            let mut v = json!({
                "name": pc.name, "url": pc.url, "join": pc.join,
                "status": o.status.as_str(), "rttMs": o.rtt_ms, "connectMs": o.connect_ms,
                "lastSeenMs": ctx.mesh.peers[i].last_seen_ms(),
                "requested": requested == Some(i),
            });
            if let Some(e) = &o.error {
                v["error"] = json!(e);
            }
            v
        })
        .collect();
    let ok = |i: usize| outcomes[i].status == crate::mesh::probe::Status::Ok;
    let best = |skip: Option<usize>| {
        (0..outcomes.len())
            .filter(|&i| ok(i) && Some(i) != skip)
            .min_by_key(|&i| {
                (
                    outcomes[i].rtt_ms.unwrap_or(u64::MAX),
                    outcomes[i].connect_ms.unwrap_or(u64::MAX),
                    i,
                )
            })
    };
    let target_json = |i: usize, why: &str| {
        json!({"name": peers_cfg[i].name, "url": peers_cfg[i].url, "rttMs": outcomes[i].rtt_ms,
               "connectMs": outcomes[i].connect_ms, "why": why})
    };
    let (target, reason, alternative) = match requested {
        Some(i) if ok(i) => (
            Some(target_json(i, "requested, and it answered the probe")),
            None,
            None,
        ),
        Some(i) => {
            let o = &outcomes[i];
            let why = format!(
                "the requested peer {:?} is not reachable: {}{}",
                peers_cfg[i].name,
                o.status.as_str(),
                o.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            let alt = best(Some(i)).map(|j| target_json(j, "reachable, lowest round trip"));
            (None, Some(why), alt)
        }
        None if peers_cfg.is_empty() => (
            None,
            Some("no [mesh] peers are configured: there is nowhere to move the session".into()),
            None,
        ),
        None => match best(None) {
            Some(i) => (
                Some(target_json(
                    i,
                    "reachable, lowest round trip of the probed peers",
                )),
                None,
                None,
            ),
            None => (
                None,
                Some(format!(
                    "none of the {} configured peer(s) answered the probe within {timeout_ms} ms",
                    peers_cfg.len()
                )),
                None,
            ),
        },
    };
    let to = target
        .as_ref()
        .and_then(|t| t["name"].as_str())
        .unwrap_or("the target")
        .to_string();
    let steps = handoff_steps(active.as_deref(), messages, bytes, &to, key.as_str());
    let mut out = json!({
        "ts": crate::clock::now_ms(),
        "sessionKey": key.as_str(),
        "session": session,
        "probe": {"deadlineMs": timeout_ms, "durationMs": took},
        "peers": peers,
        "requestedPeer": requested.map(|i| peers_cfg[i].name.clone()),
        "target": target,
        "steps": steps,
        "executable": false,
        "notExecutable": "executing a handoff is not built: no method here or on a peer imports a \
                          transcript with its roles, and channel routing does not follow a session",
    });
    if let Some(r) = reason {
        out["reason"] = json!(r);
    }
    if let Some(a) = alternative {
        out["alternative"] = a;
    }
    Ok(out)
}

/// The steps a handoff would take, each saying whether this build can do it.
fn handoff_steps(active: Option<&str>, messages: u64, bytes: u64, to: &str, key: &str) -> Value {
    let mut steps = Vec::with_capacity(5);
    if let Some(run) = active {
        steps.push(json!({"action": "settle", "built": true,
            "detail": format!("run {run} is active: wait for it to end or abort it (chat.abort)")}));
    }
    steps.push(json!({"action": "export", "built": true,
        "detail": format!("read the transcript here: {messages} message(s), {bytes} bytes (chat.history pages)")}));
    steps.push(json!({"action": "import", "built": false,
        "detail": format!("write it to {to} as {key}: no method imports a transcript with its roles (chat.inject adds assistant notes only)")}));
    steps.push(json!({"action": "reroute", "built": false,
        "detail": format!("send new messages of {key} (clients, channels) to {to}: channel routing does not follow a session")}));
    steps.push(json!({"action": "retire", "built": false,
        "detail": "mark the session here as moved: there is no such state"}));
    Value::Array(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_comes_from_the_token_row() {
        use crate::store::mesh_pairing::Token;
        let t = |sha: Option<&str>, revoked: Option<u64>| Token {
            device_id: "d".into(),
            role: "operator".into(),
            sha256: sha.map(str::to_string),
            scopes: vec![],
            issued_at: Some(1),
            revoked_at: revoked,
        };
        assert_eq!(trust_of(Some(&t(Some("h"), None))).0, "trusted");
        assert_eq!(trust_of(Some(&t(None, Some(5)))).0, "revoked");
        assert_eq!(trust_of(Some(&t(None, None))).0, "approved");
        assert_eq!(trust_of(None).0, "approved");
        assert_eq!(fingerprint("0123456789abcdef0011"), "0123-4567-89ab-cdef");
    }
}
