//! Provider API keys set at run time (Telegram `/set api key`), kept in the state dir.
//!
//! `<state_dir>/provider-keys.json` is a JSON object `{provider: key}`, created with mode 0600
//! and replaced atomically (temporary file, fsync, rename), so a crash leaves the old or the new
//! file, never half of one. A key here wins over the config's `apiKey` at start-up and from the
//! moment it is set. Only providers named in the config are accepted, which bounds the file.
//! Blocking: call these on the blocking pool. Keys never appear in errors or logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name inside the state dir.
pub const KEYS_FILE: &str = "provider-keys.json";

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(KEYS_FILE)
}

/// The stored keys; an absent file is empty, an unreadable one is an error naming the file.
pub fn load(state_dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let p = path(state_dir);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| format!("{} is not a JSON object of strings: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Stores `key` for `provider` (replacing an older one).
pub fn save(state_dir: &Path, provider: &str, key: &str) -> Result<(), String> {
    let mut all = load(state_dir)?;
    all.insert(provider.to_string(), key.to_string());
    let body = serde_json::to_vec_pretty(&all).map_err(|e| e.to_string())?;
    crate::app::write_private(state_dir, KEYS_FILE, &body)
        .map_err(|e| format!("cannot write {}: {e}", path(state_dir).display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_round_trip_in_a_private_file() {
        let dir = std::env::temp_dir().join(format!(
            "oce-keys-{}",
            crate::ids::hex(&crate::ids::random_bytes::<6>())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir).unwrap().is_empty());
        save(&dir, "openai", "sk-one").unwrap();
        save(&dir, "groq", "gsk-two").unwrap();
        save(&dir, "openai", "sk-three").unwrap();
        let k = load(&dir).unwrap();
        assert_eq!(k["openai"], "sk-three");
        assert_eq!(k["groq"], "gsk-two");
        let mode = std::fs::metadata(path(&dir)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(path(&dir), b"[1,2]").unwrap();
        assert!(load(&dir).unwrap_err().contains("not a JSON object"));
    }
}
