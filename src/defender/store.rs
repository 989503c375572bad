//! Defender files: the quarantine of blocked actions and the host-integrity baseline.
//!
//! Blocking file I/O: callers run these on the blocking pool, never on the executor.
//! - Quarantine: one JSON file per blocked action in `quarantine_dir` (0700), named
//!   `<ts>-<kind>-<id>.json` so names sort by time; after each write the oldest files are removed
//!   until the directory is under `limits.quarantine_max_bytes` (rotation, never unbounded).
//! - Integrity: SHA-256 of each `protect_paths` file, read in 64 KiB chunks (never whole files in
//!   RAM); the baseline lives in `<state_dir>/integrity.json`; a check reports drift, missing and
//!   unreadable files against it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Chunk size for hashing.
const CHUNK: usize = 64 * 1024;
/// Most quarantine files looked at when rotating (a directory filled by hand stops here).
const MAX_SCAN_FILES: usize = 10_000;

/// Writes a quarantine record, then rotates to stay under `max_bytes`; returns the file written.
pub fn quarantine(dir: &Path, max_bytes: u64, name: &str, record: &Value) -> io::Result<PathBuf> {
    create_private_dir(dir)?;
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, &text)?;
    fs::rename(&tmp, &path)?;
    rotate(dir, max_bytes)?;
    Ok(path)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Removes the oldest `*.json` files until the total is at most `max_bytes`; returns how many.
pub fn rotate(dir: &Path, max_bytes: u64) -> io::Result<usize> {
    let mut files: Vec<(String, u64)> = Vec::new();
    for entry in fs::read_dir(dir)?.take(MAX_SCAN_FILES) {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        if let Ok(m) = entry.metadata()
            && m.is_file()
        {
            files.push((name, m.len()));
        }
    }
    files.sort();
    let mut total: u64 = files.iter().map(|(_, l)| l).sum();
    let mut removed = 0;
    for (name, len) in &files {
        if total <= max_bytes {
            break;
        }
        fs::remove_file(dir.join(name))?;
        total -= len;
        removed += 1;
    }
    Ok(removed)
}

/// Total bytes and count of quarantine files.
pub fn quarantine_usage(dir: &Path) -> (u64, usize) {
    let Ok(rd) = fs::read_dir(dir) else {
        return (0, 0);
    };
    rd.take(MAX_SCAN_FILES)
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| e.metadata().ok())
        .fold((0, 0), |(b, n), m| (b + m.len(), n + 1))
}

/// SHA-256 (hex) and length of a file, read in chunks.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((crate::ids::hex(&h.finalize()), len))
}

/// One baselined file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// SHA-256, hex.
    pub sha256: String,
    /// Length in bytes.
    pub len: u64,
}

/// The integrity baseline: path → hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// When it was taken (ms).
    pub taken_at: u64,
    /// Files that could be read when it was taken.
    pub files: BTreeMap<String, Entry>,
}

/// What a check found for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The path.
    pub path: String,
    /// `drift` (content changed), `missing` (baselined, now gone), `unreadable`, `new` (not in the
    /// baseline; it is added on the next baseline).
    pub kind: &'static str,
    /// Detail (old → new hash prefix, or the I/O error).
    pub detail: String,
}

/// Hashes `paths`; files that cannot be read are left out (and reported by `check`).
pub fn take_baseline(paths: &[PathBuf], now_ms: u64) -> Baseline {
    let mut files = BTreeMap::new();
    for p in paths {
        if let Ok((sha256, len)) = hash_file(p) {
            files.insert(p.display().to_string(), Entry { sha256, len });
        }
    }
    Baseline {
        taken_at: now_ms,
        files,
    }
}

/// Compares `paths` now with `base`.
pub fn check(paths: &[PathBuf], base: &Baseline) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in paths {
        let key = p.display().to_string();
        let old = base.files.get(&key);
        match (hash_file(p), old) {
            (Ok((sha, _)), Some(o)) if sha != o.sha256 => out.push(Finding {
                path: key,
                kind: "drift",
                detail: format!("sha256 {}… → {}…", &o.sha256[..12], &sha[..12]),
            }),
            (Ok(_), Some(_)) => {}
            (Ok(_), None) => out.push(Finding {
                path: key,
                kind: "new",
                detail: "not in the baseline".into(),
            }),
            (Err(e), Some(_)) if e.kind() == io::ErrorKind::NotFound => out.push(Finding {
                path: key,
                kind: "missing",
                detail: "baselined file is gone".into(),
            }),
            (Err(e), _) if e.kind() == io::ErrorKind::NotFound => {}
            (Err(e), _) => out.push(Finding {
                path: key,
                kind: "unreadable",
                detail: e.to_string(),
            }),
        }
    }
    out
}

/// Loads the baseline file (`None` if absent or unreadable as JSON).
pub fn load_baseline(path: &Path) -> Option<Baseline> {
    let text = fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Saves the baseline (written to a temp file, then renamed).
pub fn save_baseline(path: &Path, b: &Baseline) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    fs::write(
        &tmp,
        serde_json::to_vec_pretty(b).map_err(io::Error::other)?,
    )?;
    fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "oce-defstore-{tag}-{}",
            crate::ids::hex(&crate::ids::random_bytes::<6>())
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn quarantine_rotates_to_stay_under_the_cap() {
        let d = scratch("q");
        let rec = serde_json::json!({"pad": "x".repeat(900)});
        for i in 0..20 {
            quarantine(&d, 5_000, &format!("{i:013}-tool-x.json"), &rec).unwrap();
        }
        let (bytes, n) = quarantine_usage(&d);
        assert!(bytes <= 5_000, "{bytes}");
        assert!((4..=5).contains(&n), "{n} files kept");
        assert!(d.join("0000000000019-tool-x.json").exists(), "newest kept");
        assert!(
            !d.join("0000000000000-tool-x.json").exists(),
            "oldest rotated out"
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn integrity_reports_drift_missing_and_new() {
        let d = scratch("i");
        let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
        fs::write(&a, "one").unwrap();
        fs::write(&b, vec![7u8; 200_000]).unwrap();
        let base = take_baseline(&[a.clone(), b.clone()], 1);
        assert_eq!(base.files.len(), 2);
        assert_eq!(base.files[&b.display().to_string()].len, 200_000);
        assert!(check(&[a.clone(), b.clone()], &base).is_empty());
        fs::write(&a, "two").unwrap();
        fs::remove_file(&b).unwrap();
        fs::write(&c, "new").unwrap();
        let f = check(&[a.clone(), b.clone(), c.clone()], &base);
        let kinds: Vec<&str> = f.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, ["drift", "missing", "new"]);
        let file = d.join("integrity.json");
        save_baseline(&file, &base).unwrap();
        assert_eq!(load_baseline(&file), Some(base));
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn hashing_matches_sha256_of_known_text() {
        let d = scratch("h");
        let p = d.join("abc");
        fs::write(&p, "abc").unwrap();
        assert_eq!(
            hash_file(&p).unwrap().0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        fs::remove_dir_all(d).unwrap();
    }
}
