//! Defender settings: the `[defender]` table.
//!
//! `[defender.policy]` has exactly the shape of a signed bundle's `policy` object (camelCase), so a
//! policy can be tried in the config and then shipped as a bundle. A verified bundle from
//! `policy_file` replaces it as a whole; a bundle that fails verification never loads.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Secret, invalid};
use crate::defender::policy::{RawPolicy, ToolPolicy};

/// Checked `[defender]` settings.
#[derive(Debug, Clone)]
pub struct DefenderConfig {
    /// Score inbound `chat.send`/`agent` messages (block → refused, review → flagged).
    pub screen_prompts: bool,
    /// Score tool output for injected instructions before the model reads it.
    pub screen_tool_output: bool,
    /// The tool policy from the config (a verified bundle replaces it).
    pub policy: ToolPolicy,
    /// Files whose SHA-256 is baselined and re-checked (host integrity).
    pub protect_paths: Vec<PathBuf>,
    /// Where blocked actions are written as JSON.
    pub quarantine_dir: PathBuf,
    /// A signed policy bundle to load at start and on change.
    pub policy_file: Option<PathBuf>,
    /// Environment variables holding the bundle keys (`VAR` or `id=VAR`, comma-separated).
    pub policy_key_env: String,
    /// VirusTotal API key (absent: the signal is skipped, and decisions say so).
    pub vt_api_key: Option<Secret>,
    /// VirusTotal API base URL (tests point it at a local server).
    pub vt_base_url: String,
}

/// Default VirusTotal v3 API base.
pub const DEFAULT_VT_BASE_URL: &str = "https://www.virustotal.com/api/v3";

/// Files baselined when `protect_paths` is not set: small, present on most Linux boxes, and a
/// change to any of them is worth a look.
const DEFAULT_PROTECT: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/ssh/sshd_config",
];

/// Most protected paths.
const MAX_PROTECT: usize = 256;

/// The raw `[defender]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefender {
    screen_prompts: Option<bool>,
    screen_tool_output: Option<bool>,
    protect_paths: Option<Vec<String>>,
    quarantine_dir: Option<String>,
    policy_file: Option<String>,
    policy_key_env: Option<String>,
    policy: Option<RawPolicy>,
    virustotal: Option<RawVt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVt {
    api_key: Option<String>,
    base_url: Option<String>,
}

/// Checks the `[defender]` table; relative paths are under `state_dir`.
pub(super) fn build_defender(
    raw: RawDefender,
    state_dir: &Path,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<DefenderConfig, ConfigError> {
    let under = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            state_dir.join(p)
        }
    };
    let policy = match raw.policy {
        Some(p) => p
            .apply(&ToolPolicy::default())
            .map_err(|e| invalid("defender.policy", e))?,
        None => ToolPolicy::default(),
    };
    let protect_paths = match raw.protect_paths {
        Some(v) => {
            if v.len() > MAX_PROTECT {
                return Err(invalid(
                    "defender.protect_paths",
                    format!("at most {MAX_PROTECT} paths"),
                ));
            }
            let mut out = Vec::with_capacity(v.len());
            for p in v {
                let p = expand("defender.protect_paths", &p)?;
                if !Path::new(&p).is_absolute() {
                    return Err(invalid(
                        "defender.protect_paths",
                        format!("{p:?} must be an absolute path"),
                    ));
                }
                out.push(PathBuf::from(p));
            }
            out
        }
        None => DEFAULT_PROTECT.iter().map(PathBuf::from).collect(),
    };
    let quarantine_dir = match raw.quarantine_dir {
        Some(d) => under(&expand("defender.quarantine_dir", &d)?),
        None => state_dir.join("quarantine"),
    };
    let policy_file = match raw.policy_file {
        Some(f) => Some(under(&expand("defender.policy_file", &f)?)),
        None => None,
    };
    let policy_key_env = raw
        .policy_key_env
        .unwrap_or_else(|| "OPENCLAW_EDGE_POLICY_KEY".into());
    if policy_key_env.trim().is_empty() || policy_key_env.len() > 512 {
        return Err(invalid(
            "defender.policy_key_env",
            "1-512 bytes: VAR or id=VAR, comma-separated",
        ));
    }
    let (vt_api_key, vt_base_url) = match raw.virustotal {
        Some(v) => {
            let key = match v.api_key {
                Some(k) => {
                    Some(expand("defender.virustotal.apiKey", &k)?).filter(|k| !k.trim().is_empty())
                }
                None => None,
            };
            let base = match v.base_url {
                Some(b) => expand("defender.virustotal.baseUrl", &b)?,
                None => DEFAULT_VT_BASE_URL.into(),
            };
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(invalid(
                    "defender.virustotal.baseUrl",
                    format!("{base:?} must start with http:// or https://"),
                ));
            }
            (key.map(Secret::new), base.trim_end_matches('/').to_string())
        }
        None => (None, DEFAULT_VT_BASE_URL.into()),
    };
    Ok(DefenderConfig {
        screen_prompts: raw.screen_prompts.unwrap_or(true),
        screen_tool_output: raw.screen_tool_output.unwrap_or(true),
        policy,
        protect_paths,
        quarantine_dir,
        policy_file,
        policy_key_env,
        vt_api_key,
        vt_base_url,
    })
}

impl DefenderConfig {
    /// The settings as JSON for `config.get` (the VirusTotal key masked).
    pub fn to_public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "screen_prompts": self.screen_prompts,
            "screen_tool_output": self.screen_tool_output,
            "policy": self.policy.to_json(),
            "protect_paths": self.protect_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "quarantine_dir": self.quarantine_dir.display().to_string(),
            "policy_file": self.policy_file.as_ref().map(|p| p.display().to_string()),
            "policy_key_env": self.policy_key_env,
            "virustotal": {
                "apiKey": self.vt_api_key.as_ref().map(|_| super::REDACTED),
                "baseUrl": self.vt_base_url,
            },
        })
    }
}
