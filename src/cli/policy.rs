//! `policy sign` and `policy verify`: the operator's tools for signed policy bundles.
//!
//! `sign` reads a bundle (signed or not), signs it with the key in an environment variable and
//! writes pretty JSON to `--out` (through a temporary file and a rename, so a gateway polling
//! that path never sees half a file) or to stdout. `verify` runs exactly the check the gateway
//! runs at load (`defender::bundle::verify`) and prints the outcome.
//!
//! Exit codes: 0 ok, 1 the bundle was rejected, 2 usage (key variable unset, unreadable file).
//! Keys are only ever named by their variable or id; key material is never printed.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use argh::FromArgs;
use serde_json::{Value, json};

use crate::defender::bundle::{self, DEFAULT_MAX_BUNDLE_BYTES, Keys, PolicyError};

/// Signed policy bundles: sign and verify.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "policy")]
pub struct PolicyCmd {
    #[argh(subcommand)]
    cmd: PolicySub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum PolicySub {
    Sign(SignCmd),
    Verify(VerifyCmd),
}

/// Sign a policy bundle with the HMAC key in an environment variable.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sign")]
struct SignCmd {
    /// environment variable holding the key (64 hex digits = 32 bytes, else the text itself)
    #[argh(option)]
    key_env: String,
    /// write the signed bundle here instead of stdout
    #[argh(option)]
    out: Option<PathBuf>,
    /// largest bundle accepted, in bytes (default 262144)
    #[argh(option, default = "DEFAULT_MAX_BUNDLE_BYTES")]
    max_bytes: usize,
    /// the bundle JSON file
    #[argh(positional)]
    file: PathBuf,
}

/// Verify a signed policy bundle as the gateway would load it.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "verify")]
struct VerifyCmd {
    /// key variables, comma-separated: VAR or id=VAR (several for key rotation)
    #[argh(option)]
    key_env: String,
    /// print one JSON object instead of a line
    #[argh(switch)]
    json: bool,
    /// largest bundle accepted, in bytes (default 262144)
    #[argh(option, default = "DEFAULT_MAX_BUNDLE_BYTES")]
    max_bytes: usize,
    /// the bundle JSON file
    #[argh(positional)]
    file: PathBuf,
}

/// Runs `policy sign` or `policy verify`; returns the exit code.
pub fn run(cmd: PolicyCmd) -> u8 {
    let env = |name: &str| std::env::var(name).ok();
    match cmd.cmd {
        PolicySub::Sign(c) => sign(&c, &env),
        PolicySub::Verify(c) => verify(&c, &env),
    }
}

fn usage(msg: impl std::fmt::Display) -> u8 {
    eprintln!("policy: {msg}");
    2
}

/// Reads at most `max + 1` bytes of `path`; a longer file is `TooLarge` with its real length.
fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, PolicyError> {
    let io = |e: std::io::Error| PolicyError::Io(format!("{}: {e}", path.display()));
    let file = fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > max as u64 {
        return Err(PolicyError::TooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // The file may grow after the stat; `verify` catches the extra byte.
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

fn sign(c: &SignCmd, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    if c.key_env.contains(',') {
        return usage("sign takes one key variable in --key-env");
    }
    let keys = match bundle::keys_from_env(&c.key_env, env) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let Some((_, key)) = keys.first() else {
        return usage(PolicyError::NoKeys);
    };
    let bytes = match read_bounded(&c.file, c.max_bytes) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return usage(PolicyError::NotJson(e.to_string())),
    };
    if let Err(e) = bundle::sign(&mut value, key.expose()) {
        return usage(e);
    }
    let mut text = serde_json::to_string_pretty(&value).expect("a json value always serializes");
    text.push('\n');
    if text.len() > c.max_bytes {
        return usage(PolicyError::TooLarge {
            len: text.len(),
            max: c.max_bytes,
        });
    }
    match &c.out {
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                return usage(format!("cannot write stdout: {e}"));
            }
        }
        Some(path) => {
            if let Err(e) = write_atomic(path, text.as_bytes()) {
                return usage(format!("cannot write {}: {e}", path.display()));
            }
        }
    }
    0
}

/// Writes `path` through `path.tmp` and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

fn verify(c: &VerifyCmd, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    let keys: Keys = match bundle::keys_from_env(&c.key_env, env) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let result = match read_bounded(&c.file, c.max_bytes) {
        Ok(bytes) => bundle::verify(&bytes, &keys, c.max_bytes),
        Err(PolicyError::Io(e)) => return usage(PolicyError::Io(e)),
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            if c.json {
                let out = json!({
                    "ok": true,
                    "id": v.id,
                    "version": v.version,
                    "issuedAt": v.issued_at,
                    "keyId": v.key_id,
                    "sha256": v.sha256,
                });
                println!("{out}");
            } else {
                println!(
                    "ok: bundle {} version {} signed by {}, policy sha256 {}",
                    v.id, v.version, v.key_id, v.sha256
                );
            }
            0
        }
        Err(e) => {
            if c.json {
                println!("{}", json!({"ok": false, "reason": e.to_string()}));
            }
            eprintln!("policy: rejected: {e}");
            1
        }
    }
}
