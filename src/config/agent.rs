//! Agent and pricing settings: the `[agent]` table and the `[[pricing]]` price list.
//!
//! `[agent]` names the default agent and main session key (session keys canonicalize to
//! `agent:<default_id>:<rest>`), the names that count as a mention in group chats, the default
//! group activation, and which run executor handles turns. Until providers exist the executor is
//! `none` (every run ends with a clear "no model provider configured" error); `test-double` is a
//! labelled stand-in for tests and load benchmarks only.
//!
//! `[agent.personas.<name>]` defines personas (a prompt and traits appended to the system
//! prompt) and `[agent] persona` the default one; `edge.personality.profile` switches between
//! them at run time (`agent::persona`).
//!
//! `[[pricing]]` entries price recorded token usage for `usage.cost` and `sessions.usage`; a model
//! without an entry is reported with an unknown cost, never an invented one.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Which run executor handles scheduled turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// No model provider: runs end at once with an error event saying so.
    None,
    /// Test double: waits `test_delay_ms`, then answers with a fixed, clearly labelled text.
    TestDouble,
    /// Model providers: `[agent] model` and `fallbacks` through the provider registry.
    Provider,
}

impl Runtime {
    /// Config and status name.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::None => "none",
            Runtime::TestDouble => "test-double",
            Runtime::Provider => "provider",
        }
    }
}

/// Checked `[agent]` settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Agent id of keys without one (`main` → `agent:<default_id>:<main_key>`).
    pub default_id: String,
    /// Rest of the main session key.
    pub main_key: String,
    /// Names that count as a mention of the agent in group chats (`@name`, `name:`).
    pub names: Vec<String>,
    /// Default group activation: `mention` or `always` (`sessions.patch groupActivation` overrides).
    pub group_activation: String,
    /// The run executor.
    pub runtime: Runtime,
    /// Delay of the test double per run, in ms.
    pub test_delay_ms: u64,
    /// Display name (`agents.list`, `agent.identity.get`).
    pub name: Option<String>,
    /// System prompt sent first in every model call.
    pub system_prompt: String,
    /// Whether a local primary may fall over to cloud providers.
    pub cloud_fallback: bool,
    /// Personas from `[agent.personas.*]`, by name (at most `MAX_PERSONAS`).
    pub personas: Vec<Persona>,
    /// The persona applied when none was chosen at run time (`[agent] persona`).
    pub persona: Option<String>,
}

/// Most personas a config may define.
pub const MAX_PERSONAS: usize = 16;
/// Longest persona prompt (bytes).
pub const MAX_PERSONA_PROMPT_BYTES: usize = 4096;
/// Most traits per persona, and the longest trait (bytes).
pub const MAX_PERSONA_TRAITS: usize = 16;
const MAX_TRAIT_BYTES: usize = 64;

/// One `[agent.personas.<name>]`: text appended to the system prompt while it is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    /// Name (an agent-id-like word: 1-64 of `a-z 0-9 _ -`).
    pub name: String,
    /// Prompt text, appended to the system prompt after a blank line.
    pub prompt: String,
    /// Traits, appended as a `Traits: a, b` line when any are set.
    pub traits: Vec<String>,
}

impl Persona {
    /// The system prompt `base` with this persona applied: `base`, a blank line, the prompt,
    /// and `Traits: …` on its own line when traits are set.
    pub fn apply(&self, base: &str) -> String {
        let mut s = String::with_capacity(base.len() + self.prompt.len() + 64);
        s.push_str(base);
        if !base.is_empty() {
            s.push_str("\n\n");
        }
        s.push_str(&self.prompt);
        if !self.traits.is_empty() {
            s.push_str("\nTraits: ");
            s.push_str(&self.traits.join(", "));
        }
        s
    }
}

impl AgentConfig {
    /// The persona named `name`, if the config defines it.
    pub fn persona_named(&self, name: &str) -> Option<&Persona> {
        self.personas.iter().find(|p| p.name == name)
    }
}

/// System prompt when `[agent] system_prompt` is not set.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful personal assistant running on a small \
Linux box. Answer concisely. Use the tools offered when they help; never invent tool results.";

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            default_id: "main".into(),
            main_key: "main".into(),
            names: Vec::new(),
            group_activation: "mention".into(),
            runtime: Runtime::None,
            test_delay_ms: 0,
            name: None,
            system_prompt: DEFAULT_SYSTEM_PROMPT.into(),
            cloud_fallback: false,
            personas: Vec::new(),
            persona: None,
        }
    }
}

/// One `[[pricing]]` entry: USD per million tokens for a provider/model pair.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Provider id as recorded in usage (e.g. `openai`).
    pub provider: String,
    /// Model id as recorded in usage.
    pub model: String,
    /// USD per 1M input tokens.
    pub input_per_mtok: f64,
    /// USD per 1M output tokens.
    pub output_per_mtok: f64,
    /// USD per 1M cache-read tokens (defaults to the input price).
    pub cache_read_per_mtok: Option<f64>,
    /// USD per 1M cache-write tokens (defaults to the input price).
    pub cache_write_per_mtok: Option<f64>,
}

/// The raw `[agent]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    default_id: Option<String>,
    main_key: Option<String>,
    names: Option<Vec<String>>,
    group_activation: Option<String>,
    runtime: Option<String>,
    test_delay_ms: Option<u64>,
    name: Option<String>,
    system_prompt: Option<String>,
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) fallbacks: Vec<String>,
    pub(super) cloud_fallback: Option<bool>,
    persona: Option<String>,
    #[serde(default)]
    personas: BTreeMap<String, RawPersona>,
}

/// The raw `[agent.personas.<name>]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersona {
    prompt: String,
    #[serde(default)]
    traits: Vec<String>,
}

/// Checks the `[agent]` table.
pub(super) fn build_agent(raw: &RawAgent) -> Result<AgentConfig, ConfigError> {
    let mut a = AgentConfig::default();
    if let Some(id) = &raw.default_id {
        a.default_id = id.trim().to_ascii_lowercase();
        if !valid_id(&a.default_id) {
            return Err(invalid(
                "agent.default_id",
                format!(
                    "{id:?} is not an agent id (1-64 of a-z 0-9 _ -, starting with a letter or digit)"
                ),
            ));
        }
    }
    if let Some(k) = &raw.main_key {
        a.main_key = k.trim().to_ascii_lowercase();
        if a.main_key.is_empty() || a.main_key.contains(':') || a.main_key.len() > 64 {
            return Err(invalid(
                "agent.main_key",
                format!("{k:?} must be 1-64 characters without ':'"),
            ));
        }
    }
    if let Some(n) = &raw.names {
        if n.len() > 16 || n.iter().any(|s| s.trim().is_empty() || s.len() > 64) {
            return Err(invalid(
                "agent.names",
                "at most 16 non-empty names of at most 64 bytes",
            ));
        }
        a.names = n.iter().map(|s| s.trim().to_string()).collect();
    }
    if let Some(g) = &raw.group_activation {
        if g != "mention" && g != "always" {
            return Err(invalid(
                "agent.group_activation",
                format!("{g:?} is not \"mention\" or \"always\""),
            ));
        }
        a.group_activation = g.clone();
    }
    if let Some(r) = &raw.runtime {
        a.runtime = match r.as_str() {
            "none" => Runtime::None,
            "test-double" => Runtime::TestDouble,
            "provider" => Runtime::Provider,
            other => {
                return Err(invalid(
                    "agent.runtime",
                    format!("{other:?} is not \"none\", \"provider\" or \"test-double\""),
                ));
            }
        };
    } else if raw.model.is_some() {
        a.runtime = Runtime::Provider;
    }
    if a.runtime == Runtime::Provider && raw.model.is_none() {
        return Err(invalid(
            "agent.model",
            "agent.runtime = \"provider\" needs agent.model (a provider/model reference)",
        ));
    }
    if let Some(n) = &raw.name {
        if n.trim().is_empty() || n.len() > 64 {
            return Err(invalid("agent.name", "must be 1-64 bytes"));
        }
        a.name = Some(n.trim().to_string());
    }
    if let Some(sp) = &raw.system_prompt {
        if sp.len() > 16 * 1024 {
            return Err(invalid(
                "agent.system_prompt",
                format!("at most 16384 bytes, got {}", sp.len()),
            ));
        }
        a.system_prompt = sp.clone();
    }
    a.cloud_fallback = raw.cloud_fallback.unwrap_or(false);
    a.personas = build_personas(&raw.personas)?;
    if let Some(name) = &raw.persona {
        if a.persona_named(name).is_none() {
            let defined: Vec<&str> = a.personas.iter().map(|p| p.name.as_str()).collect();
            return Err(invalid(
                "agent.persona",
                format!(
                    "unknown persona {name:?} (defined in [agent.personas]: {})",
                    if defined.is_empty() {
                        "none".to_string()
                    } else {
                        defined.join(", ")
                    }
                ),
            ));
        }
        a.persona = Some(name.clone());
    }
    if let Some(ms) = raw.test_delay_ms {
        if ms > 600_000 {
            return Err(invalid(
                "agent.test_delay_ms",
                format!("must be at most 600000, got {ms}"),
            ));
        }
        a.test_delay_ms = ms;
    }
    Ok(a)
}

/// Checks `[agent.personas.*]`: names, prompt and trait sizes, counts.
fn build_personas(raw: &BTreeMap<String, RawPersona>) -> Result<Vec<Persona>, ConfigError> {
    if raw.len() > MAX_PERSONAS {
        return Err(invalid(
            "agent.personas",
            format!("at most {MAX_PERSONAS} personas, got {}", raw.len()),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (name, p) in raw {
        let key = format!("agent.personas.{name}");
        if !valid_id(name) {
            return Err(invalid(
                &key,
                format!(
                    "{name:?} is not a persona name (1-64 of a-z 0-9 _ -, starting with a letter or digit)"
                ),
            ));
        }
        let prompt = p.prompt.trim();
        if prompt.is_empty() || prompt.len() > MAX_PERSONA_PROMPT_BYTES {
            return Err(invalid(
                &format!("{key}.prompt"),
                format!(
                    "must be 1-{MAX_PERSONA_PROMPT_BYTES} bytes, got {}",
                    prompt.len()
                ),
            ));
        }
        if p.traits.len() > MAX_PERSONA_TRAITS
            || p.traits
                .iter()
                .any(|t| t.trim().is_empty() || t.len() > MAX_TRAIT_BYTES)
        {
            return Err(invalid(
                &format!("{key}.traits"),
                format!(
                    "at most {MAX_PERSONA_TRAITS} non-empty traits of at most {MAX_TRAIT_BYTES} bytes"
                ),
            ));
        }
        out.push(Persona {
            name: name.clone(),
            prompt: prompt.to_string(),
            traits: p.traits.iter().map(|t| t.trim().to_string()).collect(),
        });
    }
    Ok(out)
}

/// Checks the `[[pricing]]` list (no negative or non-finite prices, no duplicate pairs).
pub(super) fn check_pricing(list: &[Price]) -> Result<(), ConfigError> {
    if list.len() > 256 {
        return Err(invalid("pricing", "at most 256 entries"));
    }
    for (i, p) in list.iter().enumerate() {
        let prices = [
            Some(p.input_per_mtok),
            Some(p.output_per_mtok),
            p.cache_read_per_mtok,
            p.cache_write_per_mtok,
        ];
        if prices.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(invalid(
                &format!("pricing[{i}]"),
                "prices must be finite and not negative",
            ));
        }
        if list[..i]
            .iter()
            .any(|q| q.provider == p.provider && q.model == p.model)
        {
            return Err(invalid(
                &format!("pricing[{i}]"),
                format!("duplicate entry for {}/{}", p.provider, p.model),
            ));
        }
    }
    Ok(())
}

/// Agent ids: 1-64 of `a-z 0-9 _ -`, starting with a letter or digit (upstream's rule).
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_upstream_rule() {
        assert!(valid_id("main"));
        assert!(valid_id("work-2"));
        assert!(!valid_id(""));
        assert!(!valid_id("-x"));
        assert!(!valid_id("Main"));
        assert!(!valid_id(&"a".repeat(65)));
    }

    #[test]
    fn pricing_rejects_negative_and_duplicates() {
        let p = Price {
            provider: "p".into(),
            model: "m".into(),
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
            cache_read_per_mtok: None,
            cache_write_per_mtok: None,
        };
        assert!(check_pricing(std::slice::from_ref(&p)).is_ok());
        assert!(check_pricing(&[p.clone(), p.clone()]).is_err());
        let neg = Price {
            output_per_mtok: -1.0,
            ..p
        };
        assert!(check_pricing(&[neg]).is_err());
    }
}
