//! Gateway authentication: shared-secret comparison, the failed-attempt limiter and device proofs.
//!
//! Secrets are compared in constant time (SHA-256 of both sides, then a branch-free fold), so
//! neither length nor content leaks through timing. `Limiter` counts failures per peer address in
//! a fixed-size table (`limits.auth_fail_table`, stalest entry evicted). Device proofs follow
//! `PROTOCOL.md` §3.3: Ed25519 over the `v3` (or legacy `v2`) pipe-joined payload, device id =
//! SHA-256 of the raw public key, nonce bound to this socket's challenge, ±120 s skew.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::ids;

/// Allowed distance between `device.signedAt` and the server clock (upstream's value).
pub const DEVICE_SIGNATURE_SKEW_MS: u64 = 120_000;

/// Constant-time equality of two secrets.
pub fn secret_eq(a: &str, b: &str) -> bool {
    let ha = Sha256::digest(a.as_bytes());
    let hb = Sha256::digest(b.as_bytes());
    let mut diff = 0u8;
    for (x, y) in ha.iter().zip(hb.iter()) {
        diff |= x ^ y;
    }
    diff == 0
}

/// Failed-auth counter per peer address, bounded.
#[derive(Debug)]
pub struct Limiter {
    entries: Vec<Entry>,
    cap: usize,
    max_failures: u32,
    window_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: IpAddr,
    failures: u32,
    window_start_ms: u64,
}

impl Limiter {
    /// A limiter tracking `cap` addresses, allowing `max_failures` per `window_ms`.
    pub fn new(cap: usize, max_failures: u32, window_ms: u64) -> Self {
        Limiter {
            entries: Vec::with_capacity(cap),
            cap,
            max_failures,
            window_ms,
        }
    }

    /// `Err(retry_after_ms)` while `ip` is locked out.
    pub fn check(&self, ip: IpAddr, now_ms: u64) -> Result<(), u64> {
        match self.entries.iter().find(|e| e.ip == ip) {
            Some(e) if e.failures >= self.max_failures => {
                let end = e.window_start_ms + self.window_ms;
                if now_ms < end {
                    Err(end - now_ms)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Records a failure for `ip`.
    pub fn fail(&mut self, ip: IpAddr, now_ms: u64) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.ip == ip) {
            if now_ms >= e.window_start_ms + self.window_ms {
                e.failures = 0;
                e.window_start_ms = now_ms;
            }
            e.failures += 1;
            return;
        }
        let fresh = Entry {
            ip,
            failures: 1,
            window_start_ms: now_ms,
        };
        if self.entries.len() < self.cap {
            self.entries.push(fresh);
        } else if let Some(stalest) = self.entries.iter_mut().min_by_key(|e| e.window_start_ms) {
            *stalest = fresh;
        }
    }

    /// Forgets `ip` after a successful login.
    pub fn succeed(&mut self, ip: IpAddr) {
        self.entries.retain(|e| e.ip != ip);
    }

    /// Tracked addresses.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The `device` block of `connect`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceBlock {
    /// Hex SHA-256 of the raw public key.
    pub id: String,
    /// Raw 32-byte Ed25519 key, base64url (standard base64 or PEM SPKI tolerated).
    pub public_key: String,
    /// Ed25519 signature, base64url.
    pub signature: String,
    /// Signing time (epoch ms), normally the challenge `ts`.
    pub signed_at: u64,
    /// Must equal this socket's challenge nonce.
    pub nonce: String,
}

/// The connection facts a device signature covers.
pub struct SignedFields<'a> {
    /// `client.id`.
    pub client_id: &'a str,
    /// `client.mode`.
    pub client_mode: &'a str,
    /// Requested role.
    pub role: &'a str,
    /// Requested scopes, in the order sent.
    pub scopes: &'a [String],
    /// `auth.token` (or device token) as sent, empty if none.
    pub token: &'a str,
    /// `client.platform`.
    pub platform: Option<&'a str>,
    /// `client.deviceFamily`.
    pub device_family: Option<&'a str>,
}

/// Why a device proof failed; `code()` is upstream's `details.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// `publicKey` is not an Ed25519 key in a known encoding.
    PublicKeyInvalid,
    /// `id` is not the SHA-256 of the key.
    IdMismatch,
    /// `nonce` is empty.
    NonceRequired,
    /// `nonce` is not this socket's challenge.
    NonceMismatch,
    /// `signedAt` is outside ±120 s.
    SignatureExpired,
    /// Neither the v3 nor the v2 payload verifies.
    SignatureInvalid,
}

impl DeviceError {
    /// Upstream `details.code`.
    pub fn code(self) -> &'static str {
        match self {
            DeviceError::PublicKeyInvalid => "DEVICE_AUTH_PUBLIC_KEY_INVALID",
            DeviceError::IdMismatch => "DEVICE_AUTH_DEVICE_ID_MISMATCH",
            DeviceError::NonceRequired => "DEVICE_AUTH_NONCE_REQUIRED",
            DeviceError::NonceMismatch => "DEVICE_AUTH_NONCE_MISMATCH",
            DeviceError::SignatureExpired => "DEVICE_AUTH_SIGNATURE_EXPIRED",
            DeviceError::SignatureInvalid => "DEVICE_AUTH_SIGNATURE_INVALID",
        }
    }

    /// Upstream `details.reason` and close reason.
    pub fn reason(self) -> &'static str {
        match self {
            DeviceError::PublicKeyInvalid => "device-public-key-invalid",
            DeviceError::IdMismatch => "device-id-mismatch",
            DeviceError::NonceRequired => "device-nonce-missing",
            DeviceError::NonceMismatch => "device-nonce-mismatch",
            DeviceError::SignatureExpired => "device-signature-stale",
            DeviceError::SignatureInvalid => "device-signature",
        }
    }
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410) before the 32 key bytes.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Decodes a device public key to its raw 32 bytes.
pub fn decode_public_key(s: &str) -> Option<[u8; 32]> {
    let body: String = if s.contains("-----BEGIN") {
        s.lines().filter(|l| !l.starts_with("-----")).collect()
    } else {
        s.to_string()
    };
    let bytes = ids::base64_decode(&body)?;
    let raw = match bytes.len() {
        32 => &bytes[..],
        44 if bytes[..12] == SPKI_ED25519_PREFIX => &bytes[12..],
        _ => return None,
    };
    raw.try_into().ok()
}

/// The pipe-joined payload a device signs (`v3` or `v2`).
pub fn signed_payload(version: u8, dev: &DeviceBlock, f: &SignedFields) -> String {
    let mut parts: Vec<String> = vec![
        format!("v{version}"),
        dev.id.clone(),
        f.client_id.to_string(),
        f.client_mode.to_string(),
        f.role.to_string(),
        f.scopes.join(","),
        dev.signed_at.to_string(),
        f.token.to_string(),
        dev.nonce.clone(),
    ];
    if version >= 3 {
        let norm = |v: Option<&str>| v.map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
        parts.push(norm(f.platform));
        parts.push(norm(f.device_family));
    }
    parts.join("|")
}

/// Verifies a device proof against this socket's challenge nonce and the server clock.
pub fn verify_device(
    dev: &DeviceBlock,
    f: &SignedFields,
    challenge_nonce: &str,
    now_ms: u64,
) -> Result<(), DeviceError> {
    let raw = decode_public_key(&dev.public_key).ok_or(DeviceError::PublicKeyInvalid)?;
    let pk =
        ed25519_compact::PublicKey::from_slice(&raw).map_err(|_| DeviceError::PublicKeyInvalid)?;
    if !dev.id.eq_ignore_ascii_case(&ids::hex(&Sha256::digest(raw))) {
        return Err(DeviceError::IdMismatch);
    }
    if dev.nonce.trim().is_empty() {
        return Err(DeviceError::NonceRequired);
    }
    if !secret_eq(&dev.nonce, challenge_nonce) {
        return Err(DeviceError::NonceMismatch);
    }
    if now_ms.abs_diff(dev.signed_at) > DEVICE_SIGNATURE_SKEW_MS {
        return Err(DeviceError::SignatureExpired);
    }
    let sig_bytes = ids::base64_decode(&dev.signature).ok_or(DeviceError::SignatureInvalid)?;
    let sig = ed25519_compact::Signature::from_slice(&sig_bytes)
        .map_err(|_| DeviceError::SignatureInvalid)?;
    for version in [3u8, 2] {
        if pk.verify(signed_payload(version, dev, f), &sig).is_ok() {
            return Ok(());
        }
    }
    Err(DeviceError::SignatureInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_compact::{KeyPair, Seed};

    fn fields<'a>(scopes: &'a [String]) -> SignedFields<'a> {
        SignedFields {
            client_id: "openclaw-tui",
            client_mode: "ui",
            role: "operator",
            scopes,
            token: "testtoken",
            platform: Some("linux"),
            device_family: Some("Linux"),
        }
    }

    fn signed(version: u8, nonce: &str, at: u64, scopes: &[String]) -> DeviceBlock {
        let kp = KeyPair::from_seed(Seed::new([7u8; 32]));
        let mut dev = DeviceBlock {
            id: ids::hex(&Sha256::digest(kp.pk.as_ref())),
            public_key: ids::base64url(kp.pk.as_ref()),
            signature: String::new(),
            signed_at: at,
            nonce: nonce.into(),
        };
        let payload = signed_payload(version, &dev, &fields(scopes));
        dev.signature = ids::base64url(kp.sk.sign(payload, None).as_ref());
        dev
    }

    #[test]
    fn v3_and_v2_signatures_verify() {
        let scopes = vec!["operator.admin".to_string(), "operator.read".to_string()];
        for v in [3, 2] {
            let dev = signed(v, "n-1", 1_000_000, &scopes);
            assert_eq!(
                verify_device(&dev, &fields(&scopes), "n-1", 1_000_500),
                Ok(())
            );
        }
    }

    #[test]
    fn v3_payload_matches_observed_layout() {
        let scopes = vec!["operator.admin".to_string(), "operator.read".to_string()];
        let dev = signed(3, "6c64", 1_795_221_058_137, &scopes);
        let p = signed_payload(3, &dev, &fields(&scopes));
        assert!(p.starts_with("v3|"));
        assert!(p.ends_with(
            "|openclaw-tui|ui|operator|operator.admin,operator.read|1795221058137|testtoken|6c64|linux|linux"
        ), "{p}");
    }

    #[test]
    fn bad_proofs_are_classified() {
        let scopes = vec!["operator.read".to_string()];
        let dev = signed(3, "n-1", 1_000_000, &scopes);
        let f = fields(&scopes);
        assert_eq!(
            verify_device(&dev, &f, "n-2", 1_000_000),
            Err(DeviceError::NonceMismatch)
        );
        assert_eq!(
            verify_device(&dev, &f, "n-1", 1_000_000 + DEVICE_SIGNATURE_SKEW_MS + 1),
            Err(DeviceError::SignatureExpired)
        );
        let mut tampered = dev.clone();
        tampered.signed_at += 1;
        assert_eq!(
            verify_device(&tampered, &f, "n-1", 1_000_000),
            Err(DeviceError::SignatureInvalid)
        );
        let mut wrong_id = dev.clone();
        wrong_id.id = "00".repeat(32);
        assert_eq!(
            verify_device(&wrong_id, &f, "n-1", 1_000_000),
            Err(DeviceError::IdMismatch)
        );
        let mut bad_key = dev.clone();
        bad_key.public_key = "AAAA".into();
        assert_eq!(
            verify_device(&bad_key, &f, "n-1", 1_000_000),
            Err(DeviceError::PublicKeyInvalid)
        );
        let other_scopes = vec!["operator.admin".to_string()];
        assert_eq!(
            verify_device(&dev, &fields(&other_scopes), "n-1", 1_000_000),
            Err(DeviceError::SignatureInvalid),
            "scopes are covered by the signature"
        );
    }

    #[test]
    fn spki_and_raw_keys_decode_alike() {
        let raw = [9u8; 32];
        let mut der = SPKI_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&raw);
        assert_eq!(decode_public_key(&ids::base64url(&raw)), Some(raw));
        assert_eq!(decode_public_key(&ids::base64url(&der)), Some(raw));
        assert_eq!(decode_public_key("bm9wZQ"), None);
    }

    #[test]
    fn limiter_locks_out_and_stays_bounded() {
        let mut l = Limiter::new(2, 3, 1000);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip, 0).is_ok());
            l.fail(ip, 0);
        }
        assert_eq!(l.check(ip, 10), Err(990));
        assert!(l.check(ip, 1000).is_ok(), "window over");
        for i in 0..50u8 {
            l.fail(IpAddr::from([10, 0, 1, i]), u64::from(i) + 1);
        }
        assert_eq!(l.len(), 2, "table bounded");
        l.succeed(IpAddr::from([10, 0, 1, 49]));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn secret_eq_compares_content() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("abc", "abcd"));
    }
}
