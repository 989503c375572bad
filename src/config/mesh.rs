//! Mesh settings: the `[mesh]` table, other openclaw-edge instances this one probes and joins.
//!
//! `peers = [{name, url, token | password, join}]` (or `[[mesh.peers]]` tables): each peer is
//! probed by `edge.mesh.status` through a fresh operator connection and a `health` call; with
//! `join = true` this instance also keeps an outbound role-`node` connection to it and answers its
//! `mesh.ping` invokes, so the peer can probe this instance back (`src/mesh/`).
//!
//! Checks here are about shape: unique names of 1–64 characters `[A-Za-z0-9._-]`, `ws://` URLs
//! (`wss://` is not built for mesh peers: the mesh client runs on the executor and has no async
//! TLS), exactly one credential per peer (as `[bridge]`), at most `limits.mesh_max_peers` peers.

use serde::Deserialize;
use serde_json::{Value, json};

use super::bridge::{BridgeAuth, build_auth, parse_url};
use super::{ConfigError, REDACTED, invalid};

/// Longest peer name and `mesh.name`.
pub const MAX_NAME_CHARS: usize = 64;

/// One configured peer instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshPeer {
    /// Unique name, used in `edge.mesh.status` (`edge:<name>`) and logs.
    pub name: String,
    /// The URL as configured, for logs and status.
    pub url: String,
    /// Host name or address (brackets stripped from IPv6 literals).
    pub host: String,
    /// Port (80 when the URL has none).
    pub port: u16,
    /// Request path (`/` when the URL has none).
    pub path: String,
    /// The peer's gateway credential (the same shape as `[bridge]`).
    pub auth: BridgeAuth,
    /// Keep an outbound role-`node` connection to this peer and answer its `mesh.ping`.
    pub join: bool,
}

/// Checked `[mesh]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeshConfig {
    /// Display name this instance gives itself when it joins a peer as a node.
    pub name: Option<String>,
    /// Configured peers, in file order.
    pub peers: Vec<MeshPeer>,
}

impl MeshConfig {
    /// The settings as JSON for `config.get` (credentials are never shown).
    pub fn to_public_json(&self) -> Value {
        let peers: Vec<Value> = self
            .peers
            .iter()
            .map(|p| {
                let (token, password) = match &p.auth {
                    BridgeAuth::Token(_) => (Some(REDACTED), None),
                    BridgeAuth::Password(_) => (None, Some(REDACTED)),
                };
                json!({"name": p.name, "url": p.url, "token": token, "password": password,
                       "join": p.join})
            })
            .collect();
        json!({"name": self.name, "peers": peers})
    }
}

/// The raw `[mesh]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMesh {
    name: Option<String>,
    #[serde(default)]
    peers: Vec<RawPeer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: String,
    url: String,
    token: Option<String>,
    password: Option<String>,
    join: Option<bool>,
}

fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !ok_chars {
        return Err(invalid(
            key,
            format!("{name:?} must be 1-{MAX_NAME_CHARS} characters of A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(())
}

/// Checks `[mesh]`; `max_peers` is `limits.mesh_max_peers`.
pub(super) fn build_mesh(
    raw: &RawMesh,
    max_peers: usize,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<MeshConfig, ConfigError> {
    if let Some(n) = &raw.name {
        check_name("mesh.name", n)?;
    }
    if raw.peers.len() > max_peers {
        return Err(invalid(
            "mesh.peers",
            format!(
                "{} peers configured, at most {max_peers} (limits.mesh_max_peers)",
                raw.peers.len()
            ),
        ));
    }
    let mut peers: Vec<MeshPeer> = Vec::with_capacity(raw.peers.len());
    for (i, p) in raw.peers.iter().enumerate() {
        let prefix = format!("mesh.peers[{i}]");
        check_name(&format!("{prefix}.name"), &p.name)?;
        if peers.iter().any(|q| q.name == p.name) {
            return Err(invalid(
                &format!("{prefix}.name"),
                format!("{:?} is used by another peer", p.name),
            ));
        }
        let url_key = format!("{prefix}.url");
        let url = expand(&url_key, &p.url)?;
        let (tls, host, port, path) = parse_url(&url).map_err(|r| invalid(&url_key, r))?;
        if tls {
            return Err(invalid(
                &url_key,
                format!(
                    "{url:?} is wss://, which mesh peers do not support yet; \
                     use ws:// (over a VPN, an SSH tunnel or a local TLS proxy)"
                ),
            ));
        }
        let auth = build_auth(&prefix, p.token.as_deref(), p.password.as_deref(), expand)?;
        peers.push(MeshPeer {
            name: p.name.clone(),
            url,
            host,
            port,
            path,
            auth,
            join: p.join.unwrap_or(false),
        });
    }
    Ok(MeshConfig {
        name: raw.name.clone(),
        peers,
    })
}

/// JSON Schema of `[mesh]` for `config.schema`.
pub(super) fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "maxLength": MAX_NAME_CHARS, "description": "display name when joining a peer as a node"},
            "peers": {
                "type": "array",
                "description": "other openclaw-edge instances: probed by edge.mesh.status; join = true keeps a node connection to them",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "url"],
                    "properties": {
                        "name": {"type": "string", "maxLength": MAX_NAME_CHARS},
                        "url": {"type": "string", "description": "ws://host:port"},
                        "token": {"type": "string"},
                        "password": {"type": "string"},
                        "join": {"type": "boolean", "default": false}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn build(text: &str, max: usize) -> Result<MeshConfig, ConfigError> {
        let raw: RawMesh = toml::from_str(text).unwrap();
        let env = |k: &str| (k == "PEER_TOKEN").then(|| "s3cret".to_string());
        let expand = |key: &str, v: &str| super::super::expand_env(key, v, &env);
        build_mesh(&raw, max, &expand)
    }

    fn key_of(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn peers_parse_inline_and_as_tables() {
        let m = build(
            "name = \"pi-a\"\npeers = [{name = \"b\", url = \"ws://127.0.0.1:9\", token = \"${PEER_TOKEN}\", join = true}]",
            4,
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("pi-a"));
        assert_eq!(m.peers.len(), 1);
        assert_eq!(m.peers[0].auth, BridgeAuth::Token(Secret::new("s3cret")));
        assert!(m.peers[0].join);
        assert_eq!(
            (m.peers[0].host.as_str(), m.peers[0].port),
            ("127.0.0.1", 9)
        );
        let shown = m.to_public_json().to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        let t = build(
            "[[peers]]\nname = \"c\"\nurl = \"ws://h:1\"\npassword = \"p\"",
            4,
        )
        .unwrap();
        assert!(!t.peers[0].join, "join defaults to false");
        assert_eq!(build("", 4).unwrap(), MeshConfig::default());
    }

    #[test]
    fn errors_name_the_key() {
        let one = |extra: &str| format!("peers = [{{name = \"b\", url = \"ws://h:1\"{extra}}}]");
        assert_eq!(
            key_of(build(one("").as_str(), 4).unwrap_err()),
            "mesh.peers[0].token"
        );
        assert_eq!(
            key_of(build(&one(", token = \"t\", password = \"p\""), 4).unwrap_err()),
            "mesh.peers[0].password"
        );
        assert_eq!(
            key_of(
                build(
                    "peers = [{name = \"b\", url = \"wss://h\", token = \"t\"}]",
                    4
                )
                .unwrap_err()
            ),
            "mesh.peers[0].url"
        );
        assert_eq!(
            key_of(
                build(
                    "peers = [{name = \"b\", url = \"ws://h:1\", token = \"t\"}, {name = \"b\", url = \"ws://h:2\", token = \"t\"}]",
                    4
                )
                .unwrap_err()
            ),
            "mesh.peers[1].name"
        );
        assert_eq!(
            key_of(
                build(
                    "peers = [{name = \"no spaces\", url = \"ws://h:1\", token = \"t\"}]",
                    4
                )
                .unwrap_err()
            ),
            "mesh.peers[0].name"
        );
        let e = build(
            "peers = [{name = \"a\", url = \"ws://h:1\", token = \"t\"}, {name = \"b\", url = \"ws://h:2\", token = \"t\"}]",
            1,
        )
        .unwrap_err();
        assert_eq!(key_of(e.clone()), "mesh.peers");
        assert!(e.to_string().contains("limits.mesh_max_peers"), "{e}");
    }

    #[test]
    fn inline_credentials_are_masked_in_the_raw_text() {
        let raw = "[mesh]\npeers = [{name = \"b\", url = \"ws://h:1\", token = \"s3cret\"}, {name=\"c\", url=\"ws://h:2\", password='pw-9'}]\n";
        let m = crate::config::mask_raw(raw);
        assert!(!m.contains("s3cret") && !m.contains("pw-9"), "{m}");
        assert!(
            m.contains("name = \"b\"") && m.contains("url=\"ws://h:2\""),
            "{m}"
        );
        assert_eq!(m.matches(REDACTED).count(), 2, "{m}");
    }
}
