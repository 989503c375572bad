//! Signed policy bundles: HMAC-SHA256 verification, signing, and the reload state.
//!
//! A bundle is one JSON object: `{"version": 1, "id": "...", "issuedAt": <unix ms>,
//! "policy": {...}, "signature": "sha256:<64 hex>"}`. Other top-level keys (a `note`, say) are
//! allowed and are covered by the signature like everything else. The signature is
//! HMAC-SHA256 over `canonical(bundle without the top-level "signature" key)`, so a bundle may be
//! re-indented or have its keys reordered and still verify; changing any value does not.
//!
//! Several keys can be configured at once (`Keys`) so a key can be rotated: a bundle verifies
//! when any key matches, and `Verified::key_id` names the one that did. MACs are compared in
//! constant time.
//!
//! `PolicyState` (`state.rs`) is what the runtime holds: the bundle in force and the last
//! rejection. A bundle that fails to verify never replaces the one in force, and no unsigned rule
//! is ever loaded. Like the rest of `defender/`, this module does no I/O of its own: the caller
//! passes a closure that reads the file (on a worker, not the executor thread). What the policy
//! object means is not decided here; it is carried as JSON for the defender to interpret.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids;

mod state;

pub use state::{PolicyState, ReloadOutcome};

/// Default cap on a bundle file, in bytes; a larger file is rejected before it is parsed.
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 256 * 1024;

/// The only bundle `version` this build understands; any other is `PolicyError::UnknownVersion`.
pub const SUPPORTED_VERSION: u64 = 1;

/// The optional prefix on the hex signature.
const SIG_PREFIX: &str = "sha256:";

type HmacSha256 = Hmac<Sha256>;

/// Why a bundle (or the key configuration) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The file is larger than the cap; checked before any parsing.
    TooLarge {
        /// Size of the file, in bytes.
        len: usize,
        /// The cap, in bytes.
        max: usize,
    },
    /// The bytes are not JSON (the parser's message).
    NotJson(String),
    /// The JSON is not an object.
    NotObject,
    /// There is no top-level `signature` string.
    MissingSignature,
    /// `signature` is not 64 hex digits with an optional `sha256:` prefix.
    BadSignatureFormat,
    /// The signature matches none of the configured keys.
    BadSignature {
        /// How many keys were tried.
        tried: usize,
    },
    /// The bundle's `version` is not `SUPPORTED_VERSION`.
    UnknownVersion(u64),
    /// A required field is absent or has the wrong type.
    MissingField(&'static str),
    /// No key is configured, so nothing can be verified.
    NoKeys,
    /// A key environment variable is unset or unusable (the value is never included).
    KeyEnv {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The key spec (`VAR1,VAR2` or `id1=VAR1,id2=VAR2`) is malformed.
    BadKeySpec(String),
    /// The bundle verifies but is older than the one in force (a replayed old bundle).
    Rollback {
        /// The new bundle's `issuedAt`, unix ms.
        issued_at: u64,
        /// The `issuedAt` of the bundle in force, unix ms.
        current: u64,
    },
    /// The bundle could not be read.
    Io(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::TooLarge { len, max } => {
                write!(f, "bundle too large: {len} > {max} bytes")
            }
            PolicyError::NotJson(e) => write!(f, "bundle is not json: {e}"),
            PolicyError::NotObject => f.write_str("bundle is not a json object"),
            PolicyError::MissingSignature => f.write_str("bundle has no signature"),
            PolicyError::BadSignatureFormat => {
                f.write_str("signature is not 64 hex digits (optionally prefixed sha256:)")
            }
            PolicyError::BadSignature { tried } => write!(
                f,
                "bad signature: no key matched ({tried} key{} tried)",
                if *tried == 1 { "" } else { "s" }
            ),
            PolicyError::UnknownVersion(v) => write!(
                f,
                "unknown bundle version {v} (supported: {SUPPORTED_VERSION})"
            ),
            PolicyError::MissingField(name) => write!(f, "missing or invalid field: {name}"),
            PolicyError::NoKeys => f.write_str("no policy keys configured"),
            PolicyError::KeyEnv { var, problem } => write!(f, "key env var {var} {problem}"),
            PolicyError::BadKeySpec(s) => write!(f, "bad key spec: {s}"),
            PolicyError::Rollback { issued_at, current } => write!(
                f,
                "bundle issued at {issued_at} ms is older than the one in force (issued at {current} ms)"
            ),
            PolicyError::Io(e) => write!(f, "cannot read bundle: {e}"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Key bytes; `Debug` prints only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBytes(Vec<u8>);

impl KeyBytes {
    /// Wraps key material.
    pub fn new(bytes: impl Into<Vec<u8>>) -> KeyBytes {
        KeyBytes(bytes.into())
    }

    /// The key itself: only for computing a MAC.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes({} bytes, ***)", self.0.len())
    }
}

/// The keys a bundle may be signed with, each with an id for logs (never the key itself).
///
/// More than one is accepted so a key can be rotated: configure old and new, re-sign, then drop
/// the old one. Tried in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys(Vec<(String, KeyBytes)>);

impl Keys {
    /// No keys (every bundle is then refused with `NoKeys`).
    pub fn new() -> Keys {
        Keys(Vec::new())
    }

    /// One key with the given id.
    pub fn single(id: impl Into<String>, key: impl Into<Vec<u8>>) -> Keys {
        let mut keys = Keys::new();
        keys.push(id, key);
        keys
    }

    /// Adds a key, tried after the ones already present.
    pub fn push(&mut self, id: impl Into<String>, key: impl Into<Vec<u8>>) {
        self.0.push((id.into(), KeyBytes::new(key)));
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(id, _)| id.as_str())
    }

    /// The first key's bytes, if any (what `policy sign` signs with).
    pub fn first(&self) -> Option<(&str, &KeyBytes)> {
        self.0.first().map(|(id, k)| (id.as_str(), k))
    }
}

/// A bundle that passed verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The bundle's `id`.
    pub id: String,
    /// The bundle's `version` (always `SUPPORTED_VERSION` today).
    pub version: u64,
    /// The bundle's `issuedAt`, unix ms.
    pub issued_at: u64,
    /// Id of the key whose MAC matched.
    pub key_id: String,
    /// The `policy` value, uninterpreted.
    pub policy: Value,
    /// Lowercase hex SHA-256 of the raw file bytes, for status and audit.
    pub sha256: String,
}

/// The canonical text of `v`: object keys sorted by their UTF-8 bytes at every depth, no
/// whitespace, numbers and strings written exactly as `serde_json` writes them.
///
/// Sorting is done here rather than relying on `serde_json::Map`'s ordering, which changes
/// with the `preserve_order` feature. Recursion depth is bounded by the parser's own limit
/// (128) for any value that came from `serde_json::from_slice`.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's own escaping, so a signer serializing with serde_json agrees byte for byte.
    out.push_str(&serde_json::to_string(s).expect("serializing a str to a String cannot fail"));
}

/// HMAC-SHA256 of the canonical form of `obj` minus its top-level `signature`.
fn mac_for(obj: &serde_json::Map<String, Value>, key: &[u8]) -> HmacSha256 {
    let mut unsigned = obj.clone();
    unsigned.remove("signature");
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("hmac accepts keys of any length");
    mac.update(canonical(&Value::Object(unsigned)).as_bytes());
    mac
}

/// Checks `version` (first, since it decides how the rest is read).
fn check_version(obj: &serde_json::Map<String, Value>) -> Result<u64, PolicyError> {
    let version = obj
        .get("version")
        .and_then(Value::as_u64)
        .ok_or(PolicyError::MissingField("version"))?;
    if version != SUPPORTED_VERSION {
        return Err(PolicyError::UnknownVersion(version));
    }
    Ok(version)
}

/// The other required fields: `id` (non-empty string), `issuedAt` (unix ms), `policy` (any).
fn required_fields(
    obj: &serde_json::Map<String, Value>,
) -> Result<(String, u64, Value), PolicyError> {
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(PolicyError::MissingField("id"))?;
    let issued_at = obj
        .get("issuedAt")
        .and_then(Value::as_u64)
        .ok_or(PolicyError::MissingField("issuedAt"))?;
    let policy = obj
        .get("policy")
        .ok_or(PolicyError::MissingField("policy"))?;
    Ok((id.to_string(), issued_at, policy.clone()))
}

/// `signature` as 32 bytes: 64 hex digits (either case), optionally prefixed `sha256:`.
fn parse_signature(v: Option<&Value>) -> Result<Vec<u8>, PolicyError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or(PolicyError::MissingSignature)?;
    let hex = s.strip_prefix(SIG_PREFIX).unwrap_or(s);
    if hex.len() != 64 {
        return Err(PolicyError::BadSignatureFormat);
    }
    decode_hex(hex).ok_or(PolicyError::BadSignatureFormat)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// Verifies a bundle file's bytes against `keys`.
///
/// Order: size (before parsing), JSON object, `version`, signature format, MAC (constant time,
/// each key in turn), then the remaining required fields. Every failure is a `PolicyError`;
/// nothing from an unverified bundle is returned.
pub fn verify(bytes: &[u8], keys: &Keys, max_bytes: usize) -> Result<Verified, PolicyError> {
    if bytes.len() > max_bytes {
        return Err(PolicyError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    if keys.is_empty() {
        return Err(PolicyError::NoKeys);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| PolicyError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(PolicyError::NotObject);
    };
    let version = check_version(&obj)?;
    let tag = parse_signature(obj.get("signature"))?;
    let key_id = keys
        .0
        .iter()
        .find(|(_, key)| mac_for(&obj, key.expose()).verify_slice(&tag).is_ok())
        .map(|(id, _)| id.clone())
        .ok_or(PolicyError::BadSignature { tried: keys.len() })?;
    let (id, issued_at, policy) = required_fields(&obj)?;
    Ok(Verified {
        id,
        version,
        issued_at,
        key_id,
        policy,
        sha256: ids::hex(&Sha256::digest(bytes)),
    })
}

/// Signs `bundle` in place: sets (or replaces) `signature` with `sha256:<hex>`.
///
/// Refuses a bundle that `verify` would reject for its content (not an object, wrong
/// `version`, missing `id`/`issuedAt`/`policy`), and an empty key.
pub fn sign(bundle: &mut Value, key: &[u8]) -> Result<(), PolicyError> {
    if key.is_empty() {
        return Err(PolicyError::NoKeys);
    }
    let Value::Object(obj) = bundle else {
        return Err(PolicyError::NotObject);
    };
    check_version(obj)?;
    required_fields(obj)?;
    let tag = mac_for(obj, key).finalize().into_bytes();
    obj.insert(
        "signature".to_string(),
        Value::String(format!("{SIG_PREFIX}{}", ids::hex(&tag))),
    );
    Ok(())
}

/// Builds `Keys` from environment variables named by `spec`.
///
/// `spec` is a comma-separated list of `VAR` or `id=VAR` entries (`POLICY_KEY`,
/// `old=POLICY_KEY_OLD,new=POLICY_KEY`); without `id=` the key id is the variable's name.
/// A variable's text is the key: when it is exactly 64 hex digits it is decoded to 32 bytes,
/// otherwise its UTF-8 bytes are used as they are (no trimming). An unset or empty variable is
/// an error, as is an empty spec. Error messages name the variable, never its value.
pub fn keys_from_env(
    spec: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Keys, PolicyError> {
    let mut keys = Keys::new();
    for entry in spec.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(PolicyError::BadKeySpec(format!(
                "empty entry in {spec:?} (expected VAR or id=VAR, comma-separated)"
            )));
        }
        let (id, var) = match entry.split_once('=') {
            Some((id, var)) => (id.trim(), var.trim()),
            None => (entry, entry),
        };
        if id.is_empty() || var.is_empty() {
            return Err(PolicyError::BadKeySpec(format!(
                "{entry:?} needs both an id and a variable name"
            )));
        }
        let value = env(var).ok_or_else(|| PolicyError::KeyEnv {
            var: var.to_string(),
            problem: "is not set",
        })?;
        if value.is_empty() {
            return Err(PolicyError::KeyEnv {
                var: var.to_string(),
                problem: "is empty",
            });
        }
        let bytes = match value.len() {
            64 => decode_hex(&value).unwrap_or_else(|| value.clone().into_bytes()),
            _ => value.into_bytes(),
        };
        keys.push(id, bytes);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) const KEY: &[u8] = b"unit-test-key-not-a-secret";

    pub(super) fn body() -> Value {
        json!({
            "version": 1,
            "id": "unit-1",
            "issuedAt": 1_790_000_000_000u64,
            "note": "covered by the signature",
            "policy": {"profile": "coding", "deny": ["exec"], "thresholds": {"review": 40, "block": 70}}
        })
    }

    pub(super) fn signed_bytes(key: &[u8]) -> Vec<u8> {
        let mut b = body();
        sign(&mut b, key).expect("body is complete");
        serde_json::to_vec_pretty(&b).expect("a value serializes")
    }

    pub(super) fn keys() -> Keys {
        Keys::single("main", KEY)
    }

    #[test]
    fn good_bundle_verifies() {
        let bytes = signed_bytes(KEY);
        let v = verify(&bytes, &keys(), DEFAULT_MAX_BUNDLE_BYTES).expect("valid");
        assert_eq!(v.id, "unit-1");
        assert_eq!(v.version, 1);
        assert_eq!(v.issued_at, 1_790_000_000_000);
        assert_eq!(v.key_id, "main");
        assert_eq!(v.policy["profile"], "coding");
        assert_eq!(v.sha256, ids::hex(&Sha256::digest(&bytes)));
        assert_eq!(v.sha256.len(), 64);
    }

    #[test]
    fn bare_hex_and_uppercase_signatures_verify() {
        let mut b = body();
        sign(&mut b, KEY).expect("signs");
        let sig = b["signature"].as_str().expect("string").to_string();
        assert!(sig.starts_with("sha256:"));
        for alt in [&sig[7..], &sig[7..].to_ascii_uppercase()] {
            b["signature"] = Value::String(alt.to_string());
            let bytes = serde_json::to_vec(&b).expect("serializes");
            assert!(
                verify(&bytes, &keys(), DEFAULT_MAX_BUNDLE_BYTES).is_ok(),
                "{alt}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let bytes = signed_bytes(KEY);
        let mut accepted = Vec::new();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            match verify(&t, &keys(), DEFAULT_MAX_BUNDLE_BYTES) {
                Ok(_) => accepted.push(i),
                Err(
                    PolicyError::BadSignature { .. }
                    | PolicyError::NotJson(_)
                    | PolicyError::BadSignatureFormat
                    | PolicyError::MissingSignature
                    | PolicyError::MissingField(_)
                    | PolicyError::UnknownVersion(_),
                ) => {}
                Err(e) => panic!("byte {i}: unexpected {e}"),
            }
        }
        // Only whitespace may change without breaking the signature: flipping bit 0 turns
        // a space (0x20) into '!' and a newline (0x0a) into 0x0b, both invalid JSON, so none.
        assert!(accepted.is_empty(), "accepted flips at {accepted:?}");
    }

    #[test]
    fn flipped_policy_value_and_signature_digit_are_bad_signatures() {
        let good = String::from_utf8(signed_bytes(KEY)).expect("utf8");
        let in_policy = good.replace("\"coding\"", "\"codinh\"");
        assert_ne!(in_policy, good);
        let err = verify(in_policy.as_bytes(), &keys(), DEFAULT_MAX_BUNDLE_BYTES).unwrap_err();
        assert_eq!(err, PolicyError::BadSignature { tried: 1 });

        let at = good.find("sha256:").expect("prefixed") + 7;
        let mut sig = good.into_bytes();
        sig[at] = if sig[at] == b'0' { b'1' } else { b'0' };
        let err = verify(&sig, &keys(), DEFAULT_MAX_BUNDLE_BYTES).unwrap_err();
        assert_eq!(err, PolicyError::BadSignature { tried: 1 });
    }

    #[test]
    fn wrong_key_is_rejected() {
        let bytes = signed_bytes(b"some-other-key");
        let err = verify(&bytes, &keys(), DEFAULT_MAX_BUNDLE_BYTES).unwrap_err();
        assert_eq!(err, PolicyError::BadSignature { tried: 1 });
        assert_eq!(
            err.to_string(),
            "bad signature: no key matched (1 key tried)"
        );
    }

    #[test]
    fn reordered_and_reindented_bundle_still_verifies() {
        let mut b = body();
        sign(&mut b, KEY).expect("signs");
        let sig = b["signature"].as_str().expect("string");
        let text = format!(
            "{{ \"signature\" : \"{sig}\",\n\t\"policy\":{{\"thresholds\":{{\"block\":70,\"review\":40}},\
             \"deny\":[\"exec\"],\"profile\":\"coding\"}},\r\n\"note\":\"covered by the signature\",\
             \"issuedAt\":1790000000000, \"id\":\"unit-1\",\"version\":1 }}"
        );
        let v = verify(text.as_bytes(), &keys(), DEFAULT_MAX_BUNDLE_BYTES).expect("valid");
        assert_eq!(v.id, "unit-1");
    }

    #[test]
    fn extra_top_level_key_is_covered() {
        let mut b = body();
        sign(&mut b, KEY).expect("signs");
        b["note"] = json!("changed");
        let bytes = serde_json::to_vec(&b).expect("serializes");
        let err = verify(&bytes, &keys(), DEFAULT_MAX_BUNDLE_BYTES).unwrap_err();
        assert_eq!(err, PolicyError::BadSignature { tried: 1 });
    }

    #[test]
    fn oversize_is_rejected_before_parsing() {
        // Not JSON at all: only the size check can produce TooLarge.
        let max = 1024;
        let junk = vec![b'x'; max + 1];
        let err = verify(&junk, &keys(), max).unwrap_err();
        assert_eq!(
            err,
            PolicyError::TooLarge {
                len: 1025,
                max: 1024
            }
        );
        assert_eq!(err.to_string(), "bundle too large: 1025 > 1024 bytes");
        // Exactly at the cap is parsed (and fails for being junk, not for size).
        let err = verify(&junk[..max], &keys(), max).unwrap_err();
        assert!(matches!(err, PolicyError::NotJson(_)), "{err}");
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut b = body();
        b["version"] = json!(2);
        let err = sign(&mut b, KEY).unwrap_err();
        assert_eq!(err, PolicyError::UnknownVersion(2));
        // Signed by hand anyway: still refused, by version and not by signature.
        let mut unsigned = b.as_object().expect("object").clone();
        unsigned.remove("signature");
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(KEY).expect("any length");
        mac.update(canonical(&Value::Object(unsigned)).as_bytes());
        b["signature"] = json!(ids::hex(&mac.finalize().into_bytes()));
        let bytes = serde_json::to_vec(&b).expect("serializes");
        let err = verify(&bytes, &keys(), DEFAULT_MAX_BUNDLE_BYTES).unwrap_err();
        assert_eq!(err, PolicyError::UnknownVersion(2));
        assert_eq!(err.to_string(), "unknown bundle version 2 (supported: 1)");
    }

    #[test]
    fn structural_errors() {
        let k = keys();
        let max = DEFAULT_MAX_BUNDLE_BYTES;
        assert_eq!(verify(b"[1,2]", &k, max), Err(PolicyError::NotObject));
        assert!(matches!(
            verify(b"{", &k, max),
            Err(PolicyError::NotJson(_))
        ));
        assert_eq!(
            verify(b"{\"version\":1}", &k, max),
            Err(PolicyError::MissingSignature)
        );
        assert_eq!(
            verify(b"{\"version\":1,\"signature\":\"sha256:abc\"}", &k, max),
            Err(PolicyError::BadSignatureFormat)
        );
        let zz = format!("{{\"version\":1,\"signature\":\"{}\"}}", "z".repeat(64));
        assert_eq!(
            verify(zz.as_bytes(), &k, max),
            Err(PolicyError::BadSignatureFormat)
        );
        assert_eq!(
            verify(b"{}", &k, max),
            Err(PolicyError::MissingField("version"))
        );
        assert_eq!(verify(b"{}", &Keys::new(), max), Err(PolicyError::NoKeys));
        let mut b = body();
        b.as_object_mut().expect("object").remove("policy");
        assert_eq!(sign(&mut b, KEY), Err(PolicyError::MissingField("policy")));
        assert_eq!(sign(&mut body(), b""), Err(PolicyError::NoKeys));
        assert_eq!(sign(&mut json!([]), KEY), Err(PolicyError::NotObject));
    }

    #[test]
    fn rotation_reports_the_matching_key() {
        let mut k = Keys::new();
        k.push("old", b"the-old-key".to_vec());
        k.push("new", KEY);
        let v = verify(&signed_bytes(KEY), &k, DEFAULT_MAX_BUNDLE_BYTES).expect("second matches");
        assert_eq!(v.key_id, "new");
        let v = verify(&signed_bytes(b"the-old-key"), &k, DEFAULT_MAX_BUNDLE_BYTES)
            .expect("first matches");
        assert_eq!(v.key_id, "old");
        let err = verify(&signed_bytes(b"neither"), &k, DEFAULT_MAX_BUNDLE_BYTES).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad signature: no key matched (2 keys tried)"
        );
    }

    #[test]
    fn resigning_replaces_the_signature() {
        let mut b = body();
        sign(&mut b, b"first").expect("signs");
        sign(&mut b, KEY).expect("signs again");
        let bytes = serde_json::to_vec(&b).expect("serializes");
        assert!(verify(&bytes, &keys(), DEFAULT_MAX_BUNDLE_BYTES).is_ok());
    }

    #[test]
    fn canonical_form() {
        let v: Value = serde_json::from_str(
            r#"{ "z": [3, {"b": 1, "a": null}, true], "a": {"y": -1.5, "x": 1e3},
                 "é": "ünï\"\\\n\u0001", "B": 18446744073709551615, "": false }"#,
        )
        .expect("json");
        assert_eq!(
            canonical(&v),
            r#"{"":false,"B":18446744073709551615,"a":{"x":1000.0,"y":-1.5},"z":[3,{"a":null,"b":1},true],"é":"ünï\"\\\n\u0001"}"#
        );
        // Byte order of the UTF-8 key: uppercase before lowercase, multi-byte after ASCII.
        assert_eq!(
            canonical(&json!({"b": 1, "a": 2, "Z": 3, "ä": 4})),
            r#"{"Z":3,"a":2,"b":1,"ä":4}"#
        );
        assert_eq!(canonical(&json!([])), "[]");
        assert_eq!(canonical(&json!({})), "{}");
        assert_eq!(canonical(&json!("\u{2028}")), "\"\u{2028}\"");
    }

    #[test]
    fn keys_from_env_specs() {
        let hex64 = "00".repeat(31) + "ff";
        let vars = [("A", "alpha-key"), ("B", hex64.as_str()), ("EMPTY", "")];
        let env = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        let k = keys_from_env("A", &env).expect("one var");
        assert_eq!(k, Keys::single("A", b"alpha-key".to_vec()));
        let k = keys_from_env("old=A, new=B", &env).expect("two ids");
        assert_eq!(k.ids().collect::<Vec<_>>(), ["old", "new"]);
        let mut want = vec![0u8; 31];
        want.push(0xff);
        assert_eq!(
            k.0[1].1.expose(),
            want.as_slice(),
            "64 hex digits decode to 32 bytes"
        );

        let err = keys_from_env("A,MISSING", &env).unwrap_err();
        assert_eq!(err.to_string(), "key env var MISSING is not set");
        let err = keys_from_env("EMPTY", &env).unwrap_err();
        assert_eq!(err.to_string(), "key env var EMPTY is empty");
        assert!(matches!(
            keys_from_env("", &env),
            Err(PolicyError::BadKeySpec(_))
        ));
        assert!(matches!(
            keys_from_env("A,,B", &env),
            Err(PolicyError::BadKeySpec(_))
        ));
        assert!(matches!(
            keys_from_env("id=", &env),
            Err(PolicyError::BadKeySpec(_))
        ));
        // Debug never shows key material.
        let dbg = format!("{:?}", keys_from_env("A", &env).expect("ok"));
        assert!(!dbg.contains("alpha"), "{dbg}");
    }
}
