//! `sessions.patch` validation: the closed param object turned into a typed list of changes.
//!
//! Follows upstream `SessionsPatchParams` (protocol schema 2026.9.1): every field is optional,
//! an explicit `null` clears it, knob values are canonicalized to upstream's sets (aliases such as
//! `mid` → `medium` accepted), and unknown properties are refused. `label` is 1-512 characters
//! (current upstream; the runtime this replaces capped it at 64). `spawnedBy`/`spawnDepth` are not
//! in upstream's current schema; they are kept as an edge extension for subagent sessions only and
//! can be set once, never changed (checked against the stored row by the caller).

use serde_json::{Map, Value};

/// Longest label (upstream `SessionsPatchParams.label.maxLength`).
pub const MAX_LABEL_CHARS: usize = 512;

/// One requested change of a stored setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Set the setting to this canonical value.
    Set(Value),
    /// Remove the setting (`null` on the wire).
    Clear,
}

/// A checked `sessions.patch` request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patch {
    /// The raw key as sent (canonicalized by the caller).
    pub key: String,
    /// Optional agent id the key is resolved against.
    pub agent_id: Option<String>,
    /// `expectedSessionId`: the patch applies only if the session id still matches.
    pub expected_session_id: Option<String>,
    /// New label (unique across sessions), or clear.
    pub label: Option<Change>,
    /// Subagent parent key (set once).
    pub spawned_by: Option<String>,
    /// Subagent depth (set once).
    pub spawn_depth: Option<u64>,
    /// Every other setting, in request order, keyed by its wire name.
    pub settings: Vec<(String, Change)>,
}

/// How a setting's value is checked.
#[derive(Clone, Copy)]
enum Rule {
    /// One of a canonical set, with aliases.
    OneOf(
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    ),
    /// A non-empty string of at most N characters.
    Text(usize),
    /// Any string (possibly empty) of at most N characters.
    AnyText(usize),
    /// A boolean (not nullable).
    Bool,
    /// A boolean, `"auto"` or null.
    BoolOrAuto,
    /// An integer in a range (not nullable).
    Int(i64, i64),
}

const THINKING: &[&str] = &["off", "minimal", "low", "medium", "high", "xhigh"];
const THINKING_ALIASES: &[(&str, &str)] = &[
    ("min", "minimal"),
    ("on", "low"),
    ("mid", "medium"),
    ("med", "medium"),
    ("max", "xhigh"),
];
const VERBOSE: &[&str] = &["off", "on", "full"];
const REASONING: &[&str] = &["off", "on", "stream"];
const ELEVATED: &[&str] = &["off", "on", "ask", "full"];
const EXEC_HOST: &[&str] = &["sandbox", "gateway", "node"];
const EXEC_SECURITY: &[&str] = &["deny", "allowlist", "full"];
const EXEC_ASK: &[&str] = &["off", "on-miss", "always"];
const RESPONSE_USAGE: &[&str] = &["off", "tokens", "full"];
const USAGE_ALIASES: &[(&str, &str)] = &[("on", "tokens")];
const SEND_POLICY: &[&str] = &["allow", "deny"];
const GROUP_ACTIVATION: &[&str] = &["mention", "always"];
const PERMISSION: &[&str] = &["read-only", "guarded", "workspace", "full"];
const ATTENTION: &[&str] = &["hand", "key", "alert", "flag", "lock", "hourglass"];
const BOARD_FACE: &[&str] = &["chat", "dashboard"];

/// Settings stored in the session row, with their rule and whether `null` clears them.
const SETTINGS: &[(&str, Rule, bool)] = &[
    (
        "thinkingLevel",
        Rule::OneOf(THINKING, THINKING_ALIASES),
        true,
    ),
    ("verboseLevel", Rule::OneOf(VERBOSE, &[]), true),
    ("traceLevel", Rule::OneOf(VERBOSE, &[]), true),
    ("reasoningLevel", Rule::OneOf(REASONING, &[]), true),
    ("elevatedLevel", Rule::OneOf(ELEVATED, &[]), true),
    ("execHost", Rule::OneOf(EXEC_HOST, &[]), true),
    ("execSecurity", Rule::OneOf(EXEC_SECURITY, &[]), true),
    ("execAsk", Rule::OneOf(EXEC_ASK, &[]), true),
    ("execNode", Rule::Text(256), true),
    (
        "responseUsage",
        Rule::OneOf(RESPONSE_USAGE, USAGE_ALIASES),
        true,
    ),
    ("sendPolicy", Rule::OneOf(SEND_POLICY, &[]), true),
    ("groupActivation", Rule::OneOf(GROUP_ACTIVATION, &[]), true),
    ("permissionMode", Rule::OneOf(PERMISSION, &[]), true),
    ("attention", Rule::OneOf(ATTENTION, &[]), true),
    ("boardFace", Rule::OneOf(BOARD_FACE, &[]), false),
    ("model", Rule::Text(256), true),
    ("contextWindow", Rule::Text(64), true),
    ("icon", Rule::AnyText(64), true),
    ("color", Rule::AnyText(64), true),
    ("category", Rule::Text(MAX_LABEL_CHARS), true),
    ("statusNote", Rule::AnyText(120), true),
    ("completionOwnerSessionKey", Rule::Text(512), true),
    ("fastMode", Rule::BoolOrAuto, true),
    ("archived", Rule::Bool, false),
    ("pinned", Rule::Bool, false),
    ("unread", Rule::Bool, false),
    ("ttlMinutes", Rule::Int(1, 120), false),
    // Edge extension: `false` keeps this session out of memory (no ingestion, no recall).
    ("memory", Rule::Bool, true),
];

/// Upstream fields accepted by its schema that this runtime does not store: refused clearly
/// rather than silently dropped.
const NOT_SUPPORTED: &[&str] = &[
    "expectedLifecycleRevision",
    "expectedPermissionMode",
    "expectedToolOverrides",
    "expectedMarkedUnreadAt",
    "toolOverrides",
    "inheritedToolPolicyVersion",
    "inheritedToolAllow",
    "inheritedToolDeny",
];

/// Parses and validates `sessions.patch` params; the error is the client-facing message.
pub fn parse(params: &Value) -> Result<Patch, String> {
    let obj = params
        .as_object()
        .ok_or("invalid sessions.patch params: expected an object")?;
    let mut p = Patch::default();
    for (name, v) in obj {
        match name.as_str() {
            "key" => p.key = req_text(name, v, 512)?,
            "agentId" => p.agent_id = Some(req_text(name, v, 64)?),
            "expectedSessionId" => p.expected_session_id = Some(req_text(name, v, 128)?),
            "label" => {
                p.label = Some(match v {
                    Value::Null => Change::Clear,
                    _ => Change::Set(Value::String(label(v)?)),
                })
            }
            "spawnedBy" => p.spawned_by = Some(req_text(name, v, 512)?),
            "spawnDepth" => {
                p.spawn_depth = Some(
                    v.as_u64()
                        .filter(|d| (1..=16).contains(d))
                        .ok_or("invalid spawnDepth: expected an integer 1-16")?,
                )
            }
            n if NOT_SUPPORTED.contains(&n) => {
                return Err(format!(
                    "sessions.patch: {n} is not supported by this gateway"
                ));
            }
            n => {
                let (_, rule, nullable) =
                    SETTINGS.iter().find(|(s, _, _)| *s == n).ok_or_else(|| {
                        format!("invalid sessions.patch params: unexpected property {n:?}")
                    })?;
                let change = match v {
                    Value::Null if *nullable => Change::Clear,
                    Value::Null => return Err(format!("invalid {n}: null is not allowed")),
                    _ => Change::Set(check(n, *rule, v)?),
                };
                p.settings.push((n.to_string(), change));
            }
        }
    }
    if p.key.is_empty() {
        return Err("invalid sessions.patch params: missing required property \"key\"".into());
    }
    Ok(p)
}

/// Applies setting changes to a stored settings object.
pub fn apply(settings: &mut Map<String, Value>, changes: &[(String, Change)]) {
    for (name, c) in changes {
        match c {
            Change::Set(v) => {
                settings.insert(name.clone(), v.clone());
            }
            Change::Clear => {
                settings.remove(name);
            }
        }
    }
}

/// A checked label: trimmed, 1-512 characters, no control characters.
pub fn label(v: &Value) -> Result<String, String> {
    let s = v
        .as_str()
        .ok_or("invalid label: expected a string or null")?
        .trim();
    let n = s.chars().count();
    if n == 0 || n > MAX_LABEL_CHARS {
        return Err(format!(
            "invalid label: must be 1-{MAX_LABEL_CHARS} characters, got {n}"
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("invalid label: control characters are not allowed".into());
    }
    Ok(s.to_string())
}

fn req_text(name: &str, v: &Value, max: usize) -> Result<String, String> {
    match v.as_str().map(str::trim) {
        Some(s) if !s.is_empty() && s.chars().count() <= max => Ok(s.to_string()),
        _ => Err(format!(
            "invalid {name}: expected a non-empty string of at most {max} characters"
        )),
    }
}

fn check(name: &str, rule: Rule, v: &Value) -> Result<Value, String> {
    match rule {
        Rule::OneOf(set, aliases) => {
            let raw = v.as_str().map(|s| s.trim().to_ascii_lowercase());
            let canon = raw.as_deref().and_then(|s| {
                set.iter()
                    .copied()
                    .find(|c| *c == s)
                    .or_else(|| aliases.iter().find(|(a, _)| *a == s).map(|(_, c)| *c))
            });
            canon
                .map(|c| Value::String(c.to_string()))
                .ok_or_else(|| format!("invalid {name} (use {})", set.join("|")))
        }
        Rule::Text(max) => req_text(name, v, max).map(Value::String),
        Rule::AnyText(max) => match v.as_str() {
            Some(s) if s.chars().count() <= max => Ok(Value::String(s.to_string())),
            _ => Err(format!(
                "invalid {name}: expected a string of at most {max} characters"
            )),
        },
        Rule::Bool => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| format!("invalid {name}: expected a boolean")),
        Rule::BoolOrAuto => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s == "auto" => Ok(v.clone()),
            _ => Err(format!("invalid {name}: expected a boolean or \"auto\"")),
        },
        Rule::Int(lo, hi) => v
            .as_i64()
            .filter(|n| (lo..=hi).contains(n))
            .map(Value::from)
            .ok_or_else(|| format!("invalid {name}: expected an integer {lo}-{hi}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn knobs_canonicalize_and_null_clears() {
        let p = parse(&json!({
            "key": "main", "thinkingLevel": "MID", "verboseLevel": "full",
            "reasoningLevel": null, "sendPolicy": "deny", "groupActivation": "always",
            "responseUsage": "on", "pinned": true
        }))
        .unwrap();
        assert_eq!(p.key, "main");
        let get = |n: &str| {
            p.settings
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, c)| c.clone())
        };
        assert_eq!(get("thinkingLevel"), Some(Change::Set(json!("medium"))));
        assert_eq!(get("verboseLevel"), Some(Change::Set(json!("full"))));
        assert_eq!(get("reasoningLevel"), Some(Change::Clear));
        assert_eq!(get("responseUsage"), Some(Change::Set(json!("tokens"))));
        assert_eq!(get("pinned"), Some(Change::Set(json!(true))));
        let mut m = Map::new();
        m.insert("reasoningLevel".into(), json!("on"));
        apply(&mut m, &p.settings);
        assert!(!m.contains_key("reasoningLevel"));
        assert_eq!(m["sendPolicy"], "deny");
    }

    #[test]
    fn invalid_values_name_the_field_and_the_set() {
        let table = [
            (
                json!({"key": "k", "thinkingLevel": "huge"}),
                "invalid thinkingLevel (use off|minimal|low|medium|high|xhigh)",
            ),
            (
                json!({"key": "k", "elevatedLevel": 3}),
                "invalid elevatedLevel (use off|on|ask|full)",
            ),
            (
                json!({"key": "k", "execHost": "cloud"}),
                "invalid execHost (use sandbox|gateway|node)",
            ),
            (
                json!({"key": "k", "sendPolicy": "maybe"}),
                "invalid sendPolicy (use allow|deny)",
            ),
            (
                json!({"key": "k", "pinned": null}),
                "invalid pinned: null is not allowed",
            ),
            (
                json!({"key": "k", "nope": 1}),
                "invalid sessions.patch params: unexpected property \"nope\"",
            ),
            (
                json!({"thinkingLevel": "low"}),
                "invalid sessions.patch params: missing required property \"key\"",
            ),
            (
                json!({"key": "k", "label": ""}),
                "invalid label: must be 1-512 characters, got 0",
            ),
            (
                json!({"key": "k", "toolOverrides": {}}),
                "sessions.patch: toolOverrides is not supported by this gateway",
            ),
            (
                json!({"key": "k", "spawnDepth": 0}),
                "invalid spawnDepth: expected an integer 1-16",
            ),
        ];
        for (params, want) in table {
            assert_eq!(parse(&params).unwrap_err(), want, "{params}");
        }
    }

    #[test]
    fn long_labels_follow_current_upstream() {
        let l = "x".repeat(200);
        let p = parse(&json!({"key": "k", "label": l})).unwrap();
        assert_eq!(p.label, Some(Change::Set(json!(l))));
        assert!(parse(&json!({"key": "k", "label": "y".repeat(513)})).is_err());
        let p = parse(&json!({"key": "k", "label": null})).unwrap();
        assert_eq!(p.label, Some(Change::Clear));
    }
}
