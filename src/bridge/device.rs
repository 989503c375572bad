//! This instance's device identity: an Ed25519 key created once, kept in `<state_dir>/bridge-device.json`.
//!
//! The file (mode 0600) holds the 32-byte seed, the raw public key and the device id (hex SHA-256
//! of the public key), so another gateway sees the same device across restarts and pairs it once.
//! `sign` produces the `device` block of `connect` over exactly the v3 payload our own verifier
//! (`gateway::auth::verify_device`) checks, PROTOCOL.md §3.3; `connect_request` builds the whole
//! signed `connect` and `challenge` / `refusal` read the frames around it. Both outbound clients
//! use it: the bridge (blocking, on its thread) and the mesh (`mesh::client`, on the executor);
//! the file keeps its historic name so an already paired bridge device stays the same device.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ed25519_compact::{KeyPair, Seed};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::bridge::BridgeAuth;
use crate::gateway::auth::{DeviceBlock, SignedFields, signed_payload};
use crate::ids;

/// `client.platform` this instance reports (and signs).
pub const PLATFORM: &str = "linux";

/// What an outbound `connect` says about this client (PROTOCOL.md §3.2).
#[derive(Debug, Clone, Copy)]
pub struct Hello<'a> {
    /// `client.id` (`gateway-client` for operators, `node-host` for nodes).
    pub client_id: &'a str,
    /// `client.mode` (`backend`, `node`).
    pub client_mode: &'a str,
    /// `client.displayName`.
    pub display_name: &'a str,
    /// `operator` or `node`.
    pub role: &'a str,
    /// Requested scopes (nodes: none).
    pub scopes: &'a [&'a str],
    /// `caps`.
    pub caps: &'a [&'a str],
    /// `commands` (the node command allowlist).
    pub commands: &'a [&'a str],
}

/// The nonce and signing time of a `connect.challenge` payload (the challenge's `ts`, else now).
pub fn challenge(payload: &Value) -> Result<(String, u64), String> {
    let nonce = payload["nonce"].as_str().unwrap_or("").trim().to_string();
    if nonce.is_empty() {
        return Err("connect challenge missing nonce".into());
    }
    let signed_at = payload["ts"].as_u64().unwrap_or_else(crate::clock::now_ms);
    Ok((nonce, signed_at))
}

/// Why the other gateway refused `connect`, from its error `res` frame.
pub fn refusal(res: &Value) -> String {
    let e = &res["error"];
    let code = e["details"]["code"]
        .as_str()
        .or(e["code"].as_str())
        .unwrap_or("?");
    let msg = e["message"].as_str().unwrap_or("no message");
    format!("connect refused ({code}): {msg}")
}

/// File name inside the state dir.
pub const FILE: &str = "bridge-device.json";

/// A loaded identity.
pub struct Identity {
    kp: KeyPair,
    /// Hex SHA-256 of the raw public key.
    pub id: String,
    /// Raw public key, base64url.
    pub public_key: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    fn from_seed(seed: [u8; 32]) -> Identity {
        let kp = KeyPair::from_seed(Seed::new(seed));
        Identity {
            id: ids::hex(&Sha256::digest(kp.pk.as_ref())),
            public_key: ids::base64url(kp.pk.as_ref()),
            kp,
        }
    }

    /// The `device` block for `connect`: signs the v3 payload over `f`, `signed_at` and `nonce`.
    pub fn sign(&self, f: &SignedFields, signed_at: u64, nonce: &str) -> Value {
        let mut dev = DeviceBlock {
            id: self.id.clone(),
            public_key: self.public_key.clone(),
            signature: String::new(),
            signed_at,
            nonce: nonce.to_string(),
        };
        let payload = signed_payload(3, &dev, f);
        dev.signature = ids::base64url(self.kp.sk.sign(payload, None).as_ref());
        json!({"id": dev.id, "publicKey": dev.public_key, "signature": dev.signature,
               "signedAt": dev.signed_at, "nonce": dev.nonce})
    }

    /// The `connect` request frame with id `id`: protocol 4, `auth` from the credential, and the
    /// `device` block signed over `nonce` and `signed_at` (the token, when one is used, is signed).
    pub fn connect_request(
        &self,
        id: &str,
        h: &Hello,
        auth: &BridgeAuth,
        nonce: &str,
        signed_at: u64,
    ) -> Value {
        let (auth, token) = match auth {
            BridgeAuth::Token(t) => (json!({"token": t.expose()}), t.expose()),
            BridgeAuth::Password(p) => (json!({"password": p.expose()}), ""),
        };
        let scopes: Vec<String> = h.scopes.iter().map(|s| s.to_string()).collect();
        let fields = SignedFields {
            client_id: h.client_id,
            client_mode: h.client_mode,
            role: h.role,
            scopes: &scopes,
            token,
            platform: Some(PLATFORM),
            device_family: None,
        };
        json!({"type": "req", "id": id, "method": "connect", "params": {
            "minProtocol": crate::gateway::PROTOCOL_VERSION,
            "maxProtocol": crate::gateway::PROTOCOL_VERSION,
            "client": {"id": h.client_id, "version": env!("CARGO_PKG_VERSION"), "platform": PLATFORM,
                       "mode": h.client_mode, "displayName": h.display_name},
            "role": h.role, "scopes": scopes, "caps": h.caps, "commands": h.commands,
            "auth": auth,
            "device": self.sign(&fields, signed_at, nonce),
        }})
    }
}

/// The identity held by the file at `path` (its text `text`) and its `createdAtMs`; an
/// inconsistent file is an error naming the file.
fn parse(path: &Path, text: &str) -> Result<(Identity, Option<u64>), String> {
    let bad = |why: &str| {
        format!(
            "{}: {why} (delete it to create a new device)",
            path.display()
        )
    };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let seed = v["seed"]
        .as_str()
        .and_then(ids::base64_decode)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| bad("no 32-byte seed"))?;
    let me = Identity::from_seed(seed);
    if v["deviceId"].as_str() != Some(me.id.as_str()) {
        return Err(bad("deviceId does not match the key"));
    }
    Ok((me, v["createdAtMs"].as_u64()))
}

/// The identity in `dir` and when it was created, if the file exists; never creates one (for
/// reports such as `edge.identity.trust.status`).
pub fn read(dir: &Path) -> Result<Option<(Identity, Option<u64>)>, String> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Reads the identity from `dir`, or creates it (mode 0600). A file that exists but does not
/// hold a consistent key is an error, not silently replaced: a new key is a new device upstream.
pub fn load_or_create(dir: &Path) -> Result<Identity, String> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text).map(|(me, _)| me),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = ids::random_bytes::<32>();
            let me = Identity::from_seed(seed);
            let body = json!({"version": 1, "deviceId": me.id, "publicKey": me.public_key,
                              "seed": ids::base64url(&seed), "createdAtMs": crate::clock::now_ms()});
            write_private(dir, &body.to_string())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            log::info!(
                "bridge: created device identity {} in {}",
                me.id,
                path.display()
            );
            Ok(me)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write_private(dir: &Path, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::auth::verify_device;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_private_and_verified_by_our_server() {
        let dir = std::env::temp_dir().join(format!("oce-bridge-dev-{}", ids::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read(&dir).unwrap().is_none(), "read never creates");
        let a = load_or_create(&dir).unwrap();
        let b = load_or_create(&dir).unwrap();
        assert_eq!(a.id, b.id, "reused, not regenerated");
        let (c, created) = read(&dir).unwrap().unwrap();
        assert_eq!(
            (c.id.as_str(), c.public_key.as_str()),
            (a.id.as_str(), a.public_key.as_str())
        );
        assert!(created.is_some());
        let mode = std::fs::metadata(dir.join(FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);

        let scopes = vec![
            "operator.read".to_string(),
            "operator.approvals".to_string(),
        ];
        let f = SignedFields {
            client_id: "gateway-client",
            client_mode: "backend",
            role: "operator",
            scopes: &scopes,
            token: "tok",
            platform: Some("linux"),
            device_family: None,
        };
        let dev: DeviceBlock = serde_json::from_value(b.sign(&f, 1_000_000, "n-1")).unwrap();
        assert_eq!(verify_device(&dev, &f, "n-1", 1_000_100), Ok(()));
        let other = SignedFields {
            token: "other",
            ..f
        };
        assert!(
            verify_device(&dev, &other, "n-1", 1_000_100).is_err(),
            "token is covered"
        );

        std::fs::write(dir.join(FILE), "{\"seed\":\"AAAA\"}").unwrap();
        assert!(load_or_create(&dir).unwrap_err().contains("seed"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
