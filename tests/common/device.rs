// Ed25519 device identities for signed `connect` frames (PROTOCOL.md §3.3), as the real TUI and
// node host send them: device id = hex SHA-256 of the raw key, signature over the pipe-joined v3
// (or v2) payload.

use ed25519_compact::{KeyPair, Seed};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn b64url(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    s
}

/// The connection facts a device signature covers.
pub struct Signed<'a> {
    pub client_id: &'a str,
    pub mode: &'a str,
    pub role: &'a str,
    pub scopes: &'a [&'a str],
    /// `auth.token` as sent (empty when none).
    pub token: &'a str,
    pub platform: &'a str,
    pub device_family: &'a str,
}

/// A device key pair and its id.
pub struct Device {
    pub kp: KeyPair,
    pub id: String,
}

impl Device {
    /// A deterministic device from a one-byte seed.
    pub fn new(seed: u8) -> Device {
        let kp = KeyPair::from_seed(Seed::new([seed; 32]));
        let id = hex(&Sha256::digest(kp.pk.as_ref()));
        Device { kp, id }
    }

    /// The `device` block of `connect`, signed over the v`version` payload.
    pub fn block(&self, f: &Signed, nonce: &str, signed_at: u64, version: u8) -> Value {
        let mut parts = vec![
            format!("v{version}"),
            self.id.clone(),
            f.client_id.into(),
            f.mode.into(),
            f.role.into(),
            f.scopes.join(","),
            signed_at.to_string(),
            f.token.into(),
            nonce.to_string(),
        ];
        if version == 3 {
            parts.push(f.platform.to_ascii_lowercase());
            parts.push(f.device_family.to_ascii_lowercase());
        }
        let sig = self.kp.sk.sign(parts.join("|"), None);
        json!({"id": self.id, "publicKey": b64url(self.kp.pk.as_ref()),
               "signature": b64url(sig.as_ref()), "signedAt": signed_at, "nonce": nonce})
    }
}
