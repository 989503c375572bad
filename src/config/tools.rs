//! Tool settings: the `[tools]` table (workspace, exec policy, http_get allowlist).
//!
//! `enabled = false` offers no tools to the model at all. The file tools and `exec` work inside
//! `workspace` (relative paths resolve under the state directory). `exec` is off unless
//! `[tools.exec] approval` says otherwise, and `http_get` is offered only when `[tools.http] allow`
//! names at least one host. The checks here are about shape; `defender` and `agent::tools` enforce
//! the policy at call time.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Most entries in `tools.exec.allow` and in `tools.http.allow` each.
pub const MAX_ALLOW_ENTRIES: usize = 64;

/// Longest single allowlist entry (a program name or a host pattern), in bytes.
const MAX_ALLOW_ENTRY_BYTES: usize = 253;

/// Who approves an `exec` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecApproval {
    /// `exec` is not offered and every call is blocked (the default).
    #[default]
    Deny,
    /// Every call waits for an operator's decision.
    Review,
    /// Calls run without asking (still subject to `allow` and the defender's destructive list).
    Allow,
}

impl ExecApproval {
    /// Config and status name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecApproval::Deny => "deny",
            ExecApproval::Review => "review",
            ExecApproval::Allow => "allow",
        }
    }
}

/// Checked `[tools.exec]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecPolicy {
    /// Who approves a call.
    pub approval: ExecApproval,
    /// Program basenames permitted; empty means any program.
    pub allow: Vec<String>,
    /// When set, the command string runs as `<shell> -c <command>`; otherwise it is split into argv.
    pub shell: Option<PathBuf>,
}

/// Checked `[tools]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsConfig {
    /// False: no tools are offered to the model.
    pub enabled: bool,
    /// Directory the file tools and `exec` work in (created on first write).
    pub workspace: PathBuf,
    /// The `exec` policy.
    pub exec: ExecPolicy,
    /// Host patterns `http_get` may fetch (`example.com`, `*.example.com`); empty: not offered.
    pub http_allow: Vec<String>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        ToolsConfig {
            enabled: true,
            workspace: PathBuf::from("workspace"),
            exec: ExecPolicy::default(),
            http_allow: Vec::new(),
        }
    }
}

impl ToolsConfig {
    /// The settings as JSON for `config.get`.
    pub fn to_public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": self.enabled,
            "workspace": self.workspace.display().to_string(),
            "exec": {
                "approval": self.exec.approval.as_str(),
                "allow": self.exec.allow,
                "shell": self.exec.shell.as_ref().map(|p| p.display().to_string()),
            },
            "http": {"allow": self.http_allow},
        })
    }
}

/// The raw `[tools]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTools {
    enabled: Option<bool>,
    workspace: Option<String>,
    #[serde(default)]
    exec: RawExec,
    #[serde(default)]
    http: RawHttp,
}

/// The raw `[tools.exec]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExec {
    approval: Option<String>,
    allow: Option<Vec<String>>,
    shell: Option<String>,
}

/// The raw `[tools.http]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    allow: Option<Vec<String>>,
}

/// Checks the `[tools]` table; `expand` expands `${ENV}` references (key, value).
pub(super) fn build_tools(
    raw: &RawTools,
    state_dir: &Path,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<ToolsConfig, ConfigError> {
    let workspace = match &raw.workspace {
        None => state_dir.join("workspace"),
        Some(w) => {
            let w = expand("tools.workspace", w)?;
            if w.trim().is_empty() {
                return Err(invalid("tools.workspace", "is empty"));
            }
            // An absolute value replaces state_dir in `join`.
            state_dir.join(w)
        }
    };
    let approval = match raw.exec.approval.as_deref() {
        None | Some("deny") => ExecApproval::Deny,
        Some("review") => ExecApproval::Review,
        Some("allow") => ExecApproval::Allow,
        Some(other) => {
            return Err(invalid(
                "tools.exec.approval",
                format!("{other:?} is not \"deny\", \"review\" or \"allow\""),
            ));
        }
    };
    let allow = match &raw.exec.allow {
        None => Vec::new(),
        Some(list) => check_programs(list)?,
    };
    let shell = match &raw.exec.shell {
        None => None,
        Some(s) => {
            let s = expand("tools.exec.shell", s)?;
            let p = PathBuf::from(&s);
            if !p.is_absolute() {
                return Err(invalid(
                    "tools.exec.shell",
                    format!("{s:?} must be an absolute path"),
                ));
            }
            Some(p)
        }
    };
    let http_allow = match &raw.http.allow {
        None => Vec::new(),
        Some(list) => check_hosts(list)?,
    };
    Ok(ToolsConfig {
        enabled: raw.enabled.unwrap_or(true),
        workspace,
        exec: ExecPolicy {
            approval,
            allow,
            shell,
        },
        http_allow,
    })
}

/// `tools.exec.allow`: non-empty basenames (no `/`), at most `MAX_ALLOW_ENTRIES`.
fn check_programs(list: &[String]) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "tools.exec.allow";
    check_count(KEY, list)?;
    for (i, p) in list.iter().enumerate() {
        if p.is_empty() || p.len() > MAX_ALLOW_ENTRY_BYTES {
            return Err(invalid(
                KEY,
                format!("entry {i} must be 1-{MAX_ALLOW_ENTRY_BYTES} bytes"),
            ));
        }
        if p.contains('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                KEY,
                format!("entry {i} ({p:?}) must be a program name without '/' or spaces"),
            ));
        }
    }
    Ok(list.to_vec())
}

/// `tools.http.allow`: lowercase host names, optionally `*.`-prefixed, at most `MAX_ALLOW_ENTRIES`.
fn check_hosts(list: &[String]) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "tools.http.allow";
    check_count(KEY, list)?;
    for (i, h) in list.iter().enumerate() {
        if h.is_empty() || h.len() > MAX_ALLOW_ENTRY_BYTES {
            return Err(invalid(
                KEY,
                format!("entry {i} must be 1-{MAX_ALLOW_ENTRY_BYTES} bytes"),
            ));
        }
        let name = h.strip_prefix("*.").unwrap_or(h);
        let ok_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let ok_labels = name.split('.').all(|l| !l.is_empty());
        if !ok_chars || !ok_labels {
            return Err(invalid(
                KEY,
                format!(
                    "entry {i} ({h:?}) must be a lowercase host name, optionally prefixed with \"*.\""
                ),
            ));
        }
    }
    Ok(list.to_vec())
}

fn check_count(key: &str, list: &[String]) -> Result<(), ConfigError> {
    if list.len() > MAX_ALLOW_ENTRIES {
        return Err(invalid(
            key,
            format!("has {} entries, at most {MAX_ALLOW_ENTRIES}", list.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_key: &str, v: &str) -> Result<String, ConfigError> {
        Ok(v.to_string())
    }

    fn build(text: &str) -> Result<ToolsConfig, ConfigError> {
        let raw: RawTools = toml::from_str(text).expect("test toml parses");
        build_tools(&raw, Path::new("/var/lib/oc"), &no_env)
    }

    fn err_text(text: &str) -> String {
        match build(text) {
            Ok(c) => panic!("accepted {text:?}: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_strict() {
        let c = build("").unwrap();
        assert!(c.enabled);
        assert_eq!(c.workspace, PathBuf::from("/var/lib/oc/workspace"));
        assert_eq!(c.exec, ExecPolicy::default());
        assert_eq!(c.exec.approval, ExecApproval::Deny);
        assert!(c.http_allow.is_empty());
    }

    #[test]
    fn valid_table() {
        let c = build(
            r#"
            enabled = true
            workspace = "ws"
            [exec]
            approval = "review"
            allow = ["ls", "uptime", "df"]
            shell = "/bin/sh"
            [http]
            allow = ["example.com", "*.wikipedia.org"]
            "#,
        )
        .unwrap();
        assert_eq!(c.workspace, PathBuf::from("/var/lib/oc/ws"));
        assert_eq!(c.exec.approval, ExecApproval::Review);
        assert_eq!(c.exec.allow, ["ls", "uptime", "df"]);
        assert_eq!(c.exec.shell, Some(PathBuf::from("/bin/sh")));
        assert_eq!(c.http_allow, ["example.com", "*.wikipedia.org"]);
        let j = c.to_public_json();
        assert_eq!(j["exec"]["approval"], "review");
        assert_eq!(j["http"]["allow"][1], "*.wikipedia.org");
    }

    #[test]
    fn absolute_workspace_and_env_expansion() {
        let raw: RawTools = toml::from_str("workspace = \"${WS}/w\"").unwrap();
        let expand = |_k: &str, v: &str| Ok(v.replace("${WS}", "/srv"));
        let c = build_tools(&raw, Path::new("/var/lib/oc"), &expand).unwrap();
        assert_eq!(c.workspace, PathBuf::from("/srv/w"));
        assert!(!build("enabled = false").unwrap().enabled);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("workspace = \"\"", "`tools.workspace`: is empty"),
            ("[exec]\napproval = \"yes\"", "\"yes\" is not"),
            ("[exec]\nallow = [\"\"]", "entry 0 must be 1-253 bytes"),
            ("[exec]\nallow = [\"/bin/ls\"]", "without '/'"),
            ("[exec]\nshell = \"sh\"", "must be an absolute path"),
            ("[http]\nallow = [\"\"]", "entry 0 must be 1-253 bytes"),
            ("[http]\nallow = [\"Example.com\"]", "lowercase host name"),
            ("[http]\nallow = [\"a.*.com\"]", "lowercase host name"),
            ("[http]\nallow = [\"*example.com\"]", "lowercase host name"),
            ("[http]\nallow = [\"example..com\"]", "lowercase host name"),
            ("[http]\nallow = [\"https://x.org\"]", "lowercase host name"),
        ];
        for (text, want) in cases {
            let got = err_text(text);
            assert!(got.contains(want), "{text:?}: {got:?} lacks {want:?}");
        }
        let many: Vec<String> = (0..65).map(|i| format!("\"p{i}\"")).collect();
        let got = err_text(&format!("[exec]\nallow = [{}]", many.join(",")));
        assert!(got.contains("has 65 entries, at most 64"), "{got}");
        let got = err_text(&format!("[http]\nallow = [{}]", many.join(",")));
        assert!(got.contains("tools.http.allow"), "{got}");
        assert!(toml::from_str::<RawTools>("bogus = 1").is_err());
    }
}
