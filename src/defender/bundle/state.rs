//! Policy reload state: the bundle in force and the last refusal, swapped on a verified change.
//!
//! The runtime polls the bundle file every few seconds through `PolicyState::reload_if_changed`,
//! passing a closure that reads it (on a worker). This file does no I/O of its own.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::{Keys, PolicyError, Verified, verify};
use crate::ids;

/// What one `PolicyState::reload_if_changed` call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Same bytes (or the same read error) as last time; nothing logged, nothing changed.
    Unchanged,
    /// A new bundle verified and is now in force.
    Loaded {
        /// Its `id`.
        id: String,
    },
    /// The file changed but was refused; the previous bundle (if any) stays in force.
    Rejected {
        /// Why, as logged.
        reason: String,
    },
}

/// What was last seen at the path, so an unchanged file is neither re-verified nor re-logged.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    mtime: SystemTime,
    len: usize,
    sha256: String,
}

/// The policy bundle in force, and what became of the last attempt to replace it.
#[derive(Debug)]
pub struct PolicyState {
    path: PathBuf,
    current: Option<Verified>,
    last_error: Option<String>,
    seen: Option<Seen>,
}

impl PolicyState {
    /// No bundle yet; `reload_if_changed` loads the one at `path`.
    pub fn new(path: impl Into<PathBuf>) -> PolicyState {
        PolicyState {
            path: path.into(),
            current: None,
            last_error: None,
            seen: None,
        }
    }

    /// The bundle file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bundle in force, if one has ever verified.
    pub fn current(&self) -> Option<&Verified> {
        self.current.as_ref()
    }

    /// Why the latest change was refused; cleared when a bundle loads.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Reads the file through `read` and swaps in the bundle if it changed and verifies.
    ///
    /// `read` returns the file's bytes and mtime; it should read at most `max + 1` bytes so an
    /// oversize file costs no more than that (it is then refused as too large). A change is a
    /// different mtime, length or content hash. On any refusal (read error, bad signature,
    /// older `issuedAt` than the bundle in force, ...) the previous bundle stays in force and the
    /// reason is logged once with `log::error!`.
    pub fn reload_if_changed(
        &mut self,
        read: impl FnOnce(&Path) -> io::Result<(Vec<u8>, SystemTime)>,
        keys: &Keys,
        max: usize,
    ) -> ReloadOutcome {
        let (bytes, mtime) = match read(&self.path) {
            Ok(r) => r,
            Err(e) => {
                let reason = PolicyError::Io(e.to_string()).to_string();
                if self.seen.is_none() && self.last_error.as_deref() == Some(reason.as_str()) {
                    return ReloadOutcome::Unchanged;
                }
                self.seen = None;
                return self.reject(reason);
            }
        };
        let seen = Seen {
            mtime,
            len: bytes.len(),
            sha256: ids::hex(&Sha256::digest(&bytes)),
        };
        if self.seen.as_ref() == Some(&seen) {
            return ReloadOutcome::Unchanged;
        }
        self.seen = Some(seen);
        let verified = match verify(&bytes, keys, max) {
            Ok(v) => v,
            Err(e) => return self.reject(e.to_string()),
        };
        if let Some(cur) = &self.current {
            if verified.issued_at < cur.issued_at {
                let e = PolicyError::Rollback {
                    issued_at: verified.issued_at,
                    current: cur.issued_at,
                };
                return self.reject(e.to_string());
            }
        }
        log::info!(
            "policy: loaded bundle {} version {} (issued at {} ms, key {}, sha256 {}) from {}",
            verified.id,
            verified.version,
            verified.issued_at,
            verified.key_id,
            verified.sha256,
            self.path.display()
        );
        let id = verified.id.clone();
        self.current = Some(verified);
        self.last_error = None;
        ReloadOutcome::Loaded { id }
    }

    fn reject(&mut self, reason: String) -> ReloadOutcome {
        match &self.current {
            Some(cur) => log::error!(
                "policy: rejected {}: {reason}; bundle {} stays in force",
                self.path.display(),
                cur.id
            ),
            None => log::error!(
                "policy: rejected {}: {reason}; no policy bundle is loaded",
                self.path.display()
            ),
        }
        self.last_error = Some(reason.clone());
        ReloadOutcome::Rejected { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defender::bundle::tests::{KEY, body, keys, signed_bytes};
    use crate::defender::bundle::{DEFAULT_MAX_BUNDLE_BYTES, sign};
    use serde_json::{Value, json};

    fn file(bytes: Vec<u8>, secs: u64) -> impl FnOnce(&Path) -> io::Result<(Vec<u8>, SystemTime)> {
        move |_| {
            Ok((
                bytes,
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            ))
        }
    }

    #[test]
    fn reload_keeps_the_previous_policy_on_a_bad_file() {
        let k = keys();
        let max = DEFAULT_MAX_BUNDLE_BYTES;
        let mut st = PolicyState::new("/etc/openclaw-edge/policy.json");
        let good = signed_bytes(KEY);

        assert_eq!(
            st.reload_if_changed(file(good.clone(), 1), &k, max),
            ReloadOutcome::Loaded {
                id: "unit-1".into()
            }
        );
        assert_eq!(
            st.reload_if_changed(file(good.clone(), 1), &k, max),
            ReloadOutcome::Unchanged
        );

        // Tampered: refused once, then unchanged (not re-logged every poll); old bundle in force.
        let tampered = String::from_utf8(good.clone())
            .expect("utf8")
            .replace("coding", "full");
        let out = st.reload_if_changed(file(tampered.clone().into_bytes(), 2), &k, max);
        assert_eq!(
            out,
            ReloadOutcome::Rejected {
                reason: "bad signature: no key matched (1 key tried)".into()
            }
        );
        assert_eq!(st.current().expect("kept").policy["profile"], "coding");
        assert_eq!(
            st.last_error(),
            Some("bad signature: no key matched (1 key tried)")
        );
        assert_eq!(
            st.reload_if_changed(file(tampered.into_bytes(), 2), &k, max),
            ReloadOutcome::Unchanged
        );

        // Unsigned rules are never loaded.
        let mut unsigned = body();
        unsigned["policy"] = json!({"profile": "full"});
        let out = st.reload_if_changed(
            file(serde_json::to_vec(&unsigned).expect("json"), 3),
            &k,
            max,
        );
        assert_eq!(
            out,
            ReloadOutcome::Rejected {
                reason: "bundle has no signature".into()
            }
        );

        // Oversize and unreadable: refused, old bundle stays; a repeated read error is quiet.
        let out = st.reload_if_changed(file(vec![b' '; 65], 4), &k, 64);
        assert!(
            matches!(out, ReloadOutcome::Rejected { ref reason } if reason.contains("too large: 65 > 64"))
        );
        let gone = |_: &Path| Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        assert!(matches!(
            st.reload_if_changed(gone, &k, max),
            ReloadOutcome::Rejected { .. }
        ));
        assert_eq!(
            st.reload_if_changed(gone, &k, max),
            ReloadOutcome::Unchanged
        );
        assert_eq!(st.current().expect("kept").id, "unit-1");

        // The good file comes back with a new mtime: loaded again, error cleared.
        assert_eq!(
            st.reload_if_changed(file(good, 5), &k, max),
            ReloadOutcome::Loaded {
                id: "unit-1".into()
            }
        );
        assert_eq!(st.last_error(), None);
    }

    #[test]
    fn reload_refuses_an_older_bundle() {
        let k = keys();
        let max = DEFAULT_MAX_BUNDLE_BYTES;
        let mut st = PolicyState::new("p.json");
        let mut newer = body();
        newer["issuedAt"] = json!(2_000u64);
        newer["id"] = json!("newer");
        sign(&mut newer, KEY).expect("signs");
        let mut older = body();
        older["issuedAt"] = json!(1_000u64);
        older["id"] = json!("older");
        sign(&mut older, KEY).expect("signs");
        let bytes = |v: &Value| serde_json::to_vec(v).expect("json");

        assert!(matches!(
            st.reload_if_changed(file(bytes(&newer), 1), &k, max),
            ReloadOutcome::Loaded { .. }
        ));
        let out = st.reload_if_changed(file(bytes(&older), 2), &k, max);
        assert_eq!(
            out,
            ReloadOutcome::Rejected {
                reason:
                    "bundle issued at 1000 ms is older than the one in force (issued at 2000 ms)"
                        .into()
            }
        );
        assert_eq!(st.current().expect("kept").id, "newer");
    }
}
