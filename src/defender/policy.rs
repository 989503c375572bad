//! Tool policy: profiles, allow/deny lists with wildcards and groups, per-provider overrides,
//! per-tool floors, risk bonuses and the review/block thresholds.
//!
//! Built from the `[defender]` config table and replaced, as a whole, by the `policy` object of a
//! verified signed bundle (`bundle.rs`). Pure data and lookups: no I/O.
//!
//! Precedence for "may this tool run at all": the profile gives the base set; `allow` adds,
//! `deny` removes (deny wins over allow); a `byProvider` entry for `provider/model`, else for
//! `provider`, applies its own `allow`/`deny` on top. A denied tool is blocked whatever its risk.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Verdict;

/// Built-in tools and the groups they belong to.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("group:fs", &["read", "write", "list"]),
    ("group:runtime", &["exec"]),
    ("group:web", &["http_get"]),
    ("group:info", &["time"]),
    ("group:memory", &["memory_search", "memory_store"]),
];

/// Tool profiles (upstream's names): what each allows before `allow`/`deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `time` only.
    Minimal,
    /// Files, exec, web and time: an agent that works on a workspace.
    Coding,
    /// Web and time: a chat assistant that reaches nothing on the box.
    Messaging,
    /// Every tool.
    Full,
}

impl Profile {
    /// Parses a profile name.
    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "minimal" => Some(Profile::Minimal),
            "coding" => Some(Profile::Coding),
            "messaging" => Some(Profile::Messaging),
            "full" => Some(Profile::Full),
            _ => None,
        }
    }

    /// Config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Minimal => "minimal",
            Profile::Coding => "coding",
            Profile::Messaging => "messaging",
            Profile::Full => "full",
        }
    }

    fn allows(self, tool: &str) -> bool {
        let pats: &[&str] = match self {
            Profile::Minimal => &["group:info"],
            Profile::Coding => &[
                "group:fs",
                "group:runtime",
                "group:web",
                "group:info",
                "group:memory",
            ],
            Profile::Messaging => &["group:web", "group:info", "group:memory"],
            Profile::Full => &["*"],
        };
        pats.iter().any(|p| matches(p, tool))
    }
}

/// Whether pattern `p` (a tool name, `*`-wildcard or `group:…`) names `tool`.
pub fn matches(p: &str, tool: &str) -> bool {
    if let Some((_, members)) = GROUPS.iter().find(|(g, _)| *g == p) {
        return members.contains(&tool);
    }
    wildcard(p, tool)
}

fn wildcard(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| wildcard(rest, &tail[i..]))
        }
    }
}

/// Allow/deny additions for one provider or model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Extra allowed tools.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Denied tools.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// The effective tool policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolPolicy {
    /// Base set of tools.
    pub profile: Profile,
    /// Tools added to the profile.
    pub allow: Vec<String>,
    /// Tools removed (wins over allow).
    pub deny: Vec<String>,
    /// Overrides keyed `provider/model` or `provider`.
    pub by_provider: BTreeMap<String, Overrides>,
    /// Least verdict per tool (`write = "review"`).
    pub floors: BTreeMap<String, Verdict>,
    /// Risk added per tool.
    pub tool_bonus: BTreeMap<String, u32>,
    /// Risk added per channel (`telegram`, `webchat`, …; `operator` for gateway clients).
    pub channel_bonus: BTreeMap<String, u32>,
    /// Risk at or above which an action needs review.
    pub review_at: u32,
    /// Risk at or above which an action is blocked.
    pub block_at: u32,
    /// Decide and report, but enforce nothing (every verdict is logged as it would have been).
    pub audit_only: bool,
    /// Command prefixes known to be safe (`ls`, `git status`); dangerous segments still win.
    pub allow_prefixes: Vec<String>,
}

impl Default for ToolPolicy {
    fn default() -> Self {
        let mut floors = BTreeMap::new();
        floors.insert("write".to_string(), Verdict::Review);
        ToolPolicy {
            profile: Profile::Coding,
            allow: Vec::new(),
            deny: Vec::new(),
            by_provider: BTreeMap::new(),
            floors,
            tool_bonus: BTreeMap::new(),
            channel_bonus: BTreeMap::new(),
            review_at: 40,
            block_at: 70,
            audit_only: false,
            allow_prefixes: [
                "ls",
                "pwd",
                "date",
                "uptime",
                "whoami",
                "df",
                "free",
                "cat",
                "head",
                "tail",
                "wc",
                "grep",
                "git status",
                "git log",
                "git diff",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

/// Why a tool is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Which list said no: `profile`, `deny`, `byProvider`.
    pub by: &'static str,
    /// The pattern or profile name.
    pub what: String,
}

impl ToolPolicy {
    /// Whether `tool` may run for `provider`/`model`; `Err` says which rule refused it.
    pub fn permits(
        &self,
        tool: &str,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<(), Denied> {
        let mut allowed = self.profile.allows(tool) || self.allow.iter().any(|p| matches(p, tool));
        let mut denied = self.deny.iter().find(|p| matches(p, tool)).map(|p| Denied {
            by: "deny",
            what: p.clone(),
        });
        if let Some(o) = self.overrides_for(provider, model) {
            if o.allow.iter().any(|p| matches(p, tool)) {
                allowed = true;
            }
            if let Some(p) = o.deny.iter().find(|p| matches(p, tool)) {
                denied = Some(Denied {
                    by: "byProvider",
                    what: p.clone(),
                });
            }
        }
        match denied {
            Some(d) => Err(d),
            None if allowed => Ok(()),
            None => Err(Denied {
                by: "profile",
                what: self.profile.as_str().to_string(),
            }),
        }
    }

    fn overrides_for(&self, provider: Option<&str>, model: Option<&str>) -> Option<&Overrides> {
        let p = provider?;
        model
            .and_then(|m| self.by_provider.get(&format!("{p}/{m}")))
            .or_else(|| self.by_provider.get(p))
    }

    /// The verdict for a risk, before floors.
    pub fn verdict_for(&self, risk: u32) -> Verdict {
        if risk >= self.block_at {
            Verdict::Block
        } else if risk >= self.review_at {
            Verdict::Review
        } else {
            Verdict::Allow
        }
    }

    /// The policy as JSON (`status`, `security audit`, `config.get`).
    pub fn to_json(&self) -> Value {
        json!({
            "profile": self.profile.as_str(),
            "allow": self.allow,
            "deny": self.deny,
            "byProvider": self.by_provider.iter().map(|(k, o)| (k.clone(), json!({"allow": o.allow, "deny": o.deny}))).collect::<serde_json::Map<_, _>>(),
            "floors": self.floors.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
            "toolBonus": self.tool_bonus,
            "channelBonus": self.channel_bonus,
            "thresholds": {"review": self.review_at, "block": self.block_at},
            "auditOnly": self.audit_only,
            "allowPrefixes": self.allow_prefixes,
        })
    }

    /// Builds a policy from its JSON form (a bundle's `policy`, or the config table converted);
    /// fields left out keep `base`'s values.
    pub fn from_json(v: &Value, base: &ToolPolicy) -> Result<ToolPolicy, String> {
        let raw: RawPolicy =
            serde_json::from_value(v.clone()).map_err(|e| format!("policy: {e}"))?;
        raw.apply(base)
    }
}

/// The JSON/TOML shape of a policy (camelCase, every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicy {
    profile: Option<String>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    by_provider: Option<BTreeMap<String, Overrides>>,
    floors: Option<BTreeMap<String, String>>,
    tool_bonus: Option<BTreeMap<String, u32>>,
    channel_bonus: Option<BTreeMap<String, u32>>,
    thresholds: Option<RawThresholds>,
    audit_only: Option<bool>,
    allow_prefixes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    review: Option<u32>,
    block: Option<u32>,
}

/// Most entries in any one list or map of a policy.
const MAX_ENTRIES: usize = 256;

impl RawPolicy {
    /// Checks and applies the fields that are set on top of `base`.
    pub fn apply(self, base: &ToolPolicy) -> Result<ToolPolicy, String> {
        let mut p = base.clone();
        if let Some(s) = self.profile {
            p.profile = Profile::parse(&s)
                .ok_or_else(|| format!("profile {s:?} is not minimal|coding|messaging|full"))?;
        }
        let list = |name: &str, v: Vec<String>| -> Result<Vec<String>, String> {
            if v.len() > MAX_ENTRIES || v.iter().any(|s| s.trim().is_empty() || s.len() > 128) {
                return Err(format!(
                    "{name}: at most {MAX_ENTRIES} non-empty entries of at most 128 bytes"
                ));
            }
            Ok(v)
        };
        if let Some(v) = self.allow {
            p.allow = list("allow", v)?;
        }
        if let Some(v) = self.deny {
            p.deny = list("deny", v)?;
        }
        if let Some(v) = self.allow_prefixes {
            p.allow_prefixes = list("allowPrefixes", v)?;
        }
        if let Some(m) = self.by_provider {
            if m.len() > MAX_ENTRIES {
                return Err(format!("byProvider: at most {MAX_ENTRIES} entries"));
            }
            p.by_provider = m;
        }
        if let Some(m) = self.floors {
            let mut floors = BTreeMap::new();
            for (tool, v) in m {
                let verdict = match v.as_str() {
                    "allow" => Verdict::Allow,
                    "review" => Verdict::Review,
                    "block" => Verdict::Block,
                    other => {
                        return Err(format!(
                            "floors.{tool}: {other:?} is not allow|review|block"
                        ));
                    }
                };
                floors.insert(tool, verdict);
            }
            p.floors = floors;
        }
        if let Some(m) = self.tool_bonus {
            p.tool_bonus = bonus("toolBonus", m)?;
        }
        if let Some(m) = self.channel_bonus {
            p.channel_bonus = bonus("channelBonus", m)?;
        }
        if let Some(t) = self.thresholds {
            if let Some(r) = t.review {
                p.review_at = r;
            }
            if let Some(b) = t.block {
                p.block_at = b;
            }
        }
        if p.review_at == 0 || p.review_at > p.block_at || p.block_at > 100 {
            return Err(format!(
                "thresholds: need 0 < review ({}) <= block ({}) <= 100",
                p.review_at, p.block_at
            ));
        }
        if let Some(a) = self.audit_only {
            p.audit_only = a;
        }
        Ok(p)
    }
}

fn bonus(name: &str, m: BTreeMap<String, u32>) -> Result<BTreeMap<String, u32>, String> {
    if m.len() > MAX_ENTRIES || m.values().any(|v| *v > 100) {
        return Err(format!("{name}: at most {MAX_ENTRIES} entries of 0..=100"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_groups_and_wildcards() {
        let p = ToolPolicy::default();
        assert!(p.permits("exec", None, None).is_ok());
        for (profile, tool, ok) in [
            (Profile::Minimal, "time", true),
            (Profile::Minimal, "read", false),
            (Profile::Messaging, "http_get", true),
            (Profile::Messaging, "exec", false),
            (Profile::Coding, "write", true),
            (Profile::Full, "anything", true),
        ] {
            let p = ToolPolicy {
                profile,
                ..ToolPolicy::default()
            };
            assert_eq!(
                p.permits(tool, None, None).is_ok(),
                ok,
                "{profile:?} {tool}"
            );
        }
        assert!(matches("group:fs", "write"));
        assert!(matches("http_*", "http_get"));
        assert!(matches("*", "x"));
        assert!(!matches("ex*c", "exe"));
        assert!(matches("e*c", "exec"));
    }

    #[test]
    fn deny_wins_and_provider_overrides_apply_most_specific_first() {
        let raw: RawPolicy = serde_json::from_value(json!({
            "profile": "minimal",
            "allow": ["group:fs"],
            "deny": ["write"],
            "byProvider": {"openai": {"deny": ["read"]}, "openai/gpt-4o": {"allow": ["exec"]}}
        }))
        .unwrap();
        let p = raw.apply(&ToolPolicy::default()).unwrap();
        assert!(p.permits("read", None, None).is_ok());
        assert_eq!(p.permits("write", None, None).unwrap_err().by, "deny");
        assert_eq!(
            p.permits("read", Some("openai"), Some("gpt-4o-mini"))
                .unwrap_err()
                .by,
            "byProvider"
        );
        assert!(p.permits("exec", Some("openai"), Some("gpt-4o")).is_ok());
        assert_eq!(p.permits("exec", None, None).unwrap_err().by, "profile");
    }

    #[test]
    fn thresholds_floors_and_bad_values() {
        let p = ToolPolicy::default();
        assert_eq!(p.verdict_for(0), Verdict::Allow);
        assert_eq!(p.verdict_for(40), Verdict::Review);
        assert_eq!(p.verdict_for(70), Verdict::Block);
        let bad = [
            json!({"thresholds": {"review": 80, "block": 70}}),
            json!({"thresholds": {"block": 101}}),
            json!({"floors": {"exec": "maybe"}}),
            json!({"profile": "root"}),
            json!({"toolBonus": {"exec": 500}}),
            json!({"unknown": 1}),
        ];
        for b in bad {
            assert!(ToolPolicy::from_json(&b, &p).is_err(), "{b}");
        }
        let q = ToolPolicy::from_json(&json!({"floors": {"exec": "block"}, "auditOnly": true}), &p)
            .unwrap();
        assert_eq!(q.floors["exec"], Verdict::Block);
        assert!(q.audit_only);
        assert_eq!(
            ToolPolicy::from_json(&q.to_json(), &ToolPolicy::default()).unwrap(),
            q,
            "to_json round-trips"
        );
    }
}
