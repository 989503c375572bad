//! Model provider registry: `[models.providers.<id>]`, the agent's model candidates and
//! `[runtime.selfHealing]`.
//!
//! A provider is an OpenAI-compatible chat completions endpoint (`api = "openai-completions"`,
//! the only API spoken). Built-in ids need no table: local servers (ollama, llama.cpp, vllm,
//! LM Studio, LocalAI, TGI, KoboldCpp) are keyless on their usual loopback ports, and the cloud
//! aliases (openai, openrouter, groq, …) take their key from the usual environment variable. A
//! table with a built-in id overrides only what it sets.
//!
//! Model refs are `provider/model` (split at the first `/`, so `openrouter/meta-llama/x` works).
//! `[agent] model` is the primary, `fallbacks` the ordered rest. A local primary never falls
//! over to a cloud provider unless `[agent] cloud_fallback = true`: those candidates are
//! dropped here, at load, and the drop is logged and reported by `models.list`.
//!
//! API keys are `Secret`s (masked in `Debug` and `config.get`); `${ENV}` references resolve at
//! load, and a missing variable is a config error naming the key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConfigError, Secret, invalid};

/// What `api` a provider speaks (only one today).
pub const API_OPENAI_COMPLETIONS: &str = "openai-completions";

/// A built-in provider: id, aliases, base URL, whether it is local, env var of its key.
struct Builtin {
    id: &'static str,
    aliases: &'static [&'static str],
    base_url: &'static str,
    local: bool,
    key_env: Option<&'static str>,
}

/// Built-in providers (local servers on their default ports, then cloud aliases).
#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    Builtin { id: "ollama", aliases: &[], base_url: "http://127.0.0.1:11434/v1", local: true, key_env: None },
    Builtin { id: "llamacpp", aliases: &["llama.cpp", "llama-cpp", "llama-server"], base_url: "http://127.0.0.1:8080/v1", local: true, key_env: None },
    Builtin { id: "vllm", aliases: &[], base_url: "http://127.0.0.1:8000/v1", local: true, key_env: None },
    Builtin { id: "lmstudio", aliases: &["lm-studio"], base_url: "http://127.0.0.1:1234/v1", local: true, key_env: None },
    Builtin { id: "localai", aliases: &["local-ai"], base_url: "http://127.0.0.1:8080/v1", local: true, key_env: None },
    Builtin { id: "tgi", aliases: &["text-generation-inference"], base_url: "http://127.0.0.1:3000/v1", local: true, key_env: None },
    Builtin { id: "koboldcpp", aliases: &["kobold"], base_url: "http://127.0.0.1:5001/v1", local: true, key_env: None },
    Builtin { id: "openai", aliases: &[], base_url: "https://api.openai.com/v1", local: false, key_env: Some("OPENAI_API_KEY") },
    Builtin { id: "openrouter", aliases: &[], base_url: "https://openrouter.ai/api/v1", local: false, key_env: Some("OPENROUTER_API_KEY") },
    Builtin { id: "groq", aliases: &[], base_url: "https://api.groq.com/openai/v1", local: false, key_env: Some("GROQ_API_KEY") },
    Builtin { id: "together", aliases: &["togetherai"], base_url: "https://api.together.xyz/v1", local: false, key_env: Some("TOGETHER_API_KEY") },
    Builtin { id: "deepseek", aliases: &[], base_url: "https://api.deepseek.com/v1", local: false, key_env: Some("DEEPSEEK_API_KEY") },
    Builtin { id: "mistral", aliases: &[], base_url: "https://api.mistral.ai/v1", local: false, key_env: Some("MISTRAL_API_KEY") },
    Builtin { id: "fireworks", aliases: &[], base_url: "https://api.fireworks.ai/inference/v1", local: false, key_env: Some("FIREWORKS_API_KEY") },
    Builtin { id: "xai", aliases: &["grok"], base_url: "https://api.x.ai/v1", local: false, key_env: Some("XAI_API_KEY") },
    Builtin { id: "cerebras", aliases: &[], base_url: "https://api.cerebras.ai/v1", local: false, key_env: Some("CEREBRAS_API_KEY") },
];

/// Most providers and models a config may list.
const MAX_PROVIDERS: usize = 32;
const MAX_MODELS_PER_PROVIDER: usize = 64;
const MAX_FALLBACKS: usize = 8;

/// A model's price in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// Input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Cache-read tokens.
    pub cache_read: Option<f64>,
    /// Cache-write tokens.
    pub cache_write: Option<f64>,
}

/// One model of a provider's catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Id sent as `model` in requests.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Largest completion in tokens (sent as `max_tokens` unless the request defaults set it).
    pub max_tokens: Option<u64>,
    /// Whether the model reasons (display only).
    pub reasoning: bool,
    /// Price, when known.
    pub cost: Option<Cost>,
    /// `false` when the model is only named by the agent's model list, not in a catalog.
    pub listed: bool,
}

/// One checked provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Provider id (canonical, aliases resolved).
    pub id: String,
    /// The API spoken (`openai-completions`).
    pub api: &'static str,
    /// `baseUrl` as configured.
    pub base_url: String,
    /// The chat completions URL requests go to (query string kept).
    pub url: String,
    /// API key, if any.
    pub api_key: Option<Secret>,
    /// Where the key came from: `config`, `env:NAME` or `none`.
    pub key_source: String,
    /// Header carrying the key (default `Authorization`).
    pub auth_header: String,
    /// Prefix before the key in that header (default `Bearer `).
    pub auth_prefix: String,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Request defaults merged into every request body (e.g. `temperature`).
    pub defaults: serde_json::Map<String, Value>,
    /// Whether requests ask for a stream (`options.stream`, default true).
    pub stream: bool,
    /// Whether streamed requests ask for usage (`stream_options.include_usage`, default true).
    pub stream_usage: bool,
    /// Whether a missing key is acceptable (local servers: yes by default).
    pub allow_unauthenticated: bool,
    /// Whether the endpoint is on this box or the local network.
    pub local: bool,
    /// The catalog.
    pub models: Vec<ModelInfo>,
}

/// A `provider/model` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Retry policy for transient provider errors (`[runtime.selfHealing]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfHealing {
    /// Whether transient errors are retried on the same candidate at all.
    pub enabled: bool,
    /// Attempts per candidate, first one included (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled per retry, capped by `limits.provider_max_retry_after_ms`.
    pub backoff_ms: u64,
}

impl Default for SelfHealing {
    fn default() -> Self {
        SelfHealing {
            enabled: true,
            max_attempts: 3,
            backoff_ms: 500,
        }
    }
}

/// Checked model settings.
#[derive(Debug, Clone, Default)]
pub struct ModelsConfig {
    /// Configured providers plus the built-ins the agent's candidates name.
    pub providers: Vec<ProviderConfig>,
    /// The agent's candidates: primary first, then fallbacks (cloud ones dropped after a local
    /// primary unless `cloud_fallback`).
    pub candidates: Vec<ModelRef>,
    /// Candidates dropped by the local-never-falls-over-to-cloud rule, with the reason.
    pub dropped: Vec<(ModelRef, String)>,
    /// Retry policy.
    pub self_healing: SelfHealing,
}

impl ModelsConfig {
    /// Checks a `provider/model` reference at config `key` and makes sure its provider is in
    /// the registry (a built-in one is added, with its key from the environment).
    pub(super) fn resolve(
        &mut self,
        key: &str,
        raw_ref: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ModelRef, ConfigError> {
        let r = split_ref(raw_ref).map_err(|e| invalid(key, e))?;
        if self.provider(&r.provider).is_none() {
            if builtin(&r.provider).is_none() {
                return Err(invalid(
                    key,
                    format!(
                        "unknown provider {:?}: add [models.providers.{}] or use a built-in ({})",
                        r.provider,
                        r.provider,
                        BUILTINS.iter().map(|b| b.id).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let p = build_provider(&r.provider, key, None, env)?;
            self.providers.push(p);
        }
        Ok(r)
    }

    /// A provider by canonical id.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Parses `provider/model` against the registry (aliases resolved).
    pub fn parse_ref(&self, raw: &str) -> Result<ModelRef, String> {
        let r = split_ref(raw)?;
        if self.provider(&r.provider).is_none() {
            return Err(format!(
                "unknown provider {:?} in model {raw:?} (configured: {})",
                r.provider,
                self.providers
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(r)
    }

    /// `(provider, model, context window)` of the primary candidate, for list `defaults`.
    pub fn primary(&self) -> Option<(&str, &str, Option<u64>)> {
        let c = self.candidates.first()?;
        let window = self
            .provider(&c.provider)
            .and_then(|p| p.models.iter().find(|m| m.id == c.model))
            .and_then(|m| m.context_window);
        Some((c.provider.as_str(), c.model.as_str(), window))
    }

    /// Every API key (for redaction).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.providers
            .iter()
            .filter_map(|p| p.api_key.as_ref().map(Secret::expose))
    }

    /// The settings as JSON for `config.get`, keys masked.
    pub fn to_public_json(&self) -> Value {
        let mut providers = serde_json::Map::new();
        for p in &self.providers {
            providers.insert(
                p.id.clone(),
                json!({
                    "api": p.api,
                    "baseUrl": p.base_url,
                    "apiKey": p.api_key.as_ref().map(|_| super::REDACTED),
                    "apiKeySource": p.key_source,
                    "allowUnauthenticated": p.allow_unauthenticated,
                    "local": p.local,
                    "options": {
                        "authHeader": p.auth_header,
                        "authPrefix": p.auth_prefix,
                        "headers": p.headers.iter().map(|(k, _)| (k.clone(), Value::from(super::REDACTED))).collect::<serde_json::Map<_, _>>(),
                        "defaults": p.defaults,
                        "stream": p.stream,
                        "streamUsage": p.stream_usage,
                    },
                    "models": p.models.iter().map(|m| json!({"id": m.id, "name": m.name,
                        "contextWindow": m.context_window, "maxTokens": m.max_tokens})).collect::<Vec<_>>(),
                }),
            );
        }
        json!({
            "providers": providers,
            "candidates": self.candidates.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "selfHealing": {
                "enabled": self.self_healing.enabled,
                "maxAttempts": self.self_healing.max_attempts,
                "backoffMs": self.self_healing.backoff_ms,
            },
        })
    }
}

/// The raw `[models]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModels {
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProvider {
    api: Option<String>,
    base_url: Option<String>,
    api_key: Option<String>,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    options: RawOptions,
    allow_unauthenticated: Option<bool>,
    local: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawModel {
    id: String,
    name: Option<String>,
    context_window: Option<u64>,
    max_tokens: Option<u64>,
    reasoning: Option<bool>,
    cost: Option<RawCost>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCost {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawOptions {
    auth_header: Option<String>,
    auth_prefix: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    defaults: Option<toml::Table>,
    stream: Option<bool>,
    stream_usage: Option<bool>,
}

/// The raw `[runtime]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuntime {
    #[serde(rename = "selfHealing")]
    self_healing: Option<RawSelfHealing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelfHealing {
    enabled: Option<bool>,
    max_attempts: Option<u32>,
    backoff_ms: Option<u64>,
}

/// The canonical id of a provider name (aliases resolved, lowercased).
pub fn canonical_id(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    BUILTINS
        .iter()
        .find(|b| b.id == lower || b.aliases.contains(&lower.as_str()))
        .map(|b| b.id.to_string())
        .unwrap_or(lower)
}

fn builtin(id: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.id == id)
}

fn split_ref(raw: &str) -> Result<ModelRef, String> {
    let raw = raw.trim();
    match raw.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.trim().is_empty() && m.len() <= 256 => Ok(ModelRef {
            provider: canonical_id(p),
            model: m.trim().to_string(),
        }),
        _ => Err(format!("{raw:?} is not a provider/model reference")),
    }
}

fn valid_provider_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.')
        })
}

/// The chat completions URL for a base URL: kept when it already ends in `/chat/completions`
/// (query string included, e.g. Azure's `?api-version=`), else `/chat/completions` is appended
/// to the path, before any query string.
pub fn completions_url(base: &str) -> Result<String, String> {
    let base = base.trim();
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .ok_or_else(|| format!("{base:?} must start with http:// or https://"))?;
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if rest[..host_end].is_empty() {
        return Err(format!("{base:?} has no host"));
    }
    let (path, query) = match base.find('?') {
        Some(i) => (&base[..i], &base[i..]),
        None => (base, ""),
    };
    let path = path.trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        Ok(format!("{path}{query}"))
    } else {
        Ok(format!("{path}/chat/completions{query}"))
    }
}

/// The embeddings URL next to a chat completions URL (as `completions_url` makes it):
/// `…/chat/completions?q` → `…/embeddings?q`.
pub fn embeddings_url(completions: &str) -> String {
    let (path, query) = match completions.find('?') {
        Some(i) => (&completions[..i], &completions[i..]),
        None => (completions, ""),
    };
    let base = path.strip_suffix("/chat/completions").unwrap_or(path);
    format!("{base}/embeddings{query}")
}

/// The host of an `http(s)://` URL, lowercased (userinfo, port and IPv6 brackets removed).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match authority.strip_prefix('[') {
        Some(h) => h.split(']').next().unwrap_or(h),
        None => authority.split(':').next().unwrap_or(authority),
    }
    .to_ascii_lowercase()
}

/// Whether a URL's host is this box or a private network (so no key is needed by default and
/// a cloud fallback is not silent).
pub fn is_local_url(url: &str) -> bool {
    let host = host_of(url);
    if host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".local")
        || host.ends_with(".lan")
        || host.ends_with(".internal")
    {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || v6.is_unspecified()
        }
        Err(_) => false,
    }
}

/// Agent-side model settings, read from `[agent]` by `agent.rs`.
pub(super) struct AgentModels<'a> {
    pub model: Option<&'a str>,
    pub fallbacks: &'a [String],
    pub cloud_fallback: bool,
}

/// Checks `[models]`, `[runtime]` and the agent's model list.
pub(super) fn build_models(
    raw: &RawModels,
    runtime: &RawRuntime,
    agent: &AgentModels<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ModelsConfig, ConfigError> {
    if raw.providers.len() > MAX_PROVIDERS {
        return Err(invalid(
            "models.providers",
            format!(
                "at most {MAX_PROVIDERS} providers, got {}",
                raw.providers.len()
            ),
        ));
    }
    let mut out = ModelsConfig::default();
    for (name, p) in &raw.providers {
        let id = canonical_id(name);
        let key = format!("models.providers.{name}");
        if !valid_provider_id(&id) {
            return Err(invalid(
                &key,
                "provider ids are 1-64 of a-z 0-9 . _ -, starting with a letter or digit",
            ));
        }
        if out.provider(&id).is_some() {
            return Err(invalid(
                &key,
                format!("provider {id:?} is configured twice (an alias names it too)"),
            ));
        }
        out.providers.push(build_provider(&id, &key, Some(p), env)?);
    }

    let mut refs = Vec::new();
    if let Some(m) = agent.model {
        refs.push(("agent.model".to_string(), m));
    }
    if agent.fallbacks.len() > MAX_FALLBACKS {
        return Err(invalid(
            "agent.fallbacks",
            format!("at most {MAX_FALLBACKS} fallbacks"),
        ));
    }
    if agent.model.is_none() && !agent.fallbacks.is_empty() {
        return Err(invalid(
            "agent.fallbacks",
            "fallbacks need agent.model (the primary)",
        ));
    }
    for (i, f) in agent.fallbacks.iter().enumerate() {
        refs.push((format!("agent.fallbacks[{i}]"), f.as_str()));
    }
    for (key, raw_ref) in refs {
        let r = out.resolve(&key, raw_ref, env)?;
        let p = out
            .providers
            .iter_mut()
            .find(|p| p.id == r.provider)
            .expect("provider was just checked or added");
        if !p.models.iter().any(|m| m.id == r.model) {
            p.models.push(ModelInfo {
                id: r.model.clone(),
                name: None,
                context_window: None,
                max_tokens: None,
                reasoning: false,
                cost: None,
                listed: false,
            });
        }
        if out.candidates.contains(&r) {
            return Err(invalid(&key, format!("{r} is listed twice")));
        }
        out.candidates.push(r);
    }
    // A local primary never falls over to the cloud unless that is configured.
    if let Some(primary) = out.candidates.first().cloned() {
        let primary_local = out.provider(&primary.provider).is_some_and(|p| p.local);
        if primary_local && !agent.cloud_fallback {
            let (keep, drop): (Vec<_>, Vec<_>) = out
                .candidates
                .drain(..)
                .partition(|c| out.providers.iter().any(|p| p.id == c.provider && p.local));
            out.candidates = keep;
            for c in drop {
                let why = format!(
                    "{c} is a cloud provider after the local primary {primary}; set agent.cloud_fallback = true to allow it"
                );
                out.dropped.push((c, why));
            }
        }
    }

    if let Some(sh) = &runtime.self_healing {
        if let Some(e) = sh.enabled {
            out.self_healing.enabled = e;
        }
        if let Some(n) = sh.max_attempts {
            if !(1..=10).contains(&n) {
                return Err(invalid(
                    "runtime.selfHealing.maxAttempts",
                    format!("must be 1..=10, got {n}"),
                ));
            }
            out.self_healing.max_attempts = n;
        }
        if let Some(ms) = sh.backoff_ms {
            if ms > 60_000 {
                return Err(invalid(
                    "runtime.selfHealing.backoffMs",
                    format!("must be at most 60000, got {ms}"),
                ));
            }
            out.self_healing.backoff_ms = ms;
        }
    }
    Ok(out)
}

fn build_provider(
    id: &str,
    key: &str,
    raw: Option<&RawProvider>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderConfig, ConfigError> {
    let empty = RawProvider::default();
    let raw = raw.unwrap_or(&empty);
    let b = builtin(id);
    if let Some(api) = &raw.api
        && api != API_OPENAI_COMPLETIONS
    {
        return Err(invalid(
            &format!("{key}.api"),
            format!("{api:?} is not supported (only \"{API_OPENAI_COMPLETIONS}\")"),
        ));
    }
    let base_url = match (&raw.base_url, b) {
        (Some(u), _) => super::expand_env(&format!("{key}.baseUrl"), u, env)?,
        (None, Some(b)) => b.base_url.to_string(),
        (None, None) => {
            return Err(invalid(
                &format!("{key}.baseUrl"),
                "is required for a provider that is not built in",
            ));
        }
    };
    let url = completions_url(&base_url).map_err(|e| invalid(&format!("{key}.baseUrl"), e))?;
    if !cfg!(feature = "tls") && url.starts_with("https://") {
        return Err(invalid(
            &format!("{key}.baseUrl"),
            "this build has no TLS (built without the `tls` feature): use an http:// endpoint or a default build",
        ));
    }
    let local = raw.local.unwrap_or_else(|| match (b, &raw.base_url) {
        (Some(b), None) => b.local,
        _ => is_local_url(&url),
    });
    let allow_unauthenticated = raw.allow_unauthenticated.unwrap_or(local);
    let (api_key, key_source) = match (&raw.api_key, b.and_then(|b| b.key_env)) {
        (Some(k), _) => {
            let v = super::expand_env(&format!("{key}.apiKey"), k, env)?;
            let src = if k.trim().starts_with("${") {
                format!(
                    "env:{}",
                    k.trim().trim_start_matches("${").trim_end_matches('}')
                )
            } else {
                "config".to_string()
            };
            (Some(v), src)
        }
        (None, Some(var)) => match env(var).filter(|v| !v.is_empty()) {
            Some(v) => (Some(v), format!("env:{var}")),
            None => (None, "none".to_string()),
        },
        (None, None) => (None, "none".to_string()),
    };
    let api_key = api_key.filter(|k| !k.trim().is_empty());
    if api_key.is_none() && !allow_unauthenticated {
        let hint = b
            .and_then(|b| b.key_env)
            .map(|v| format!("set {v} or "))
            .unwrap_or_default();
        return Err(invalid(
            &format!("{key}.apiKey"),
            format!(
                "provider {id:?} needs an API key: {hint}set [models.providers.{id}] apiKey (or allowUnauthenticated = true for a keyless server)"
            ),
        ));
    }
    let o = &raw.options;
    let auth_header = o
        .auth_header
        .clone()
        .unwrap_or_else(|| "Authorization".into());
    if !valid_header_name(&auth_header) {
        return Err(invalid(
            &format!("{key}.options.authHeader"),
            format!("{auth_header:?} is not a header name"),
        ));
    }
    let mut headers = Vec::new();
    for (k, v) in &o.headers {
        if !valid_header_name(k) || v.contains(['\r', '\n']) {
            return Err(invalid(
                &format!("{key}.options.headers"),
                format!("{k:?} is not a valid header"),
            ));
        }
        headers.push((
            k.clone(),
            super::expand_env(&format!("{key}.options.headers.{k}"), v, env)?,
        ));
    }
    let defaults = match &o.defaults {
        Some(t) => {
            let v = serde_json::to_value(t)
                .map_err(|e| invalid(&format!("{key}.options.defaults"), e.to_string()))?;
            let Value::Object(map) = v else {
                return Err(invalid(
                    &format!("{key}.options.defaults"),
                    "must be a table",
                ));
            };
            for reserved in ["model", "messages", "stream", "tools", "stream_options"] {
                if map.contains_key(reserved) {
                    return Err(invalid(
                        &format!("{key}.options.defaults"),
                        format!("{reserved:?} is set by the runtime and cannot be a default"),
                    ));
                }
            }
            map
        }
        None => serde_json::Map::new(),
    };
    if raw.models.len() > MAX_MODELS_PER_PROVIDER {
        return Err(invalid(
            &format!("{key}.models"),
            format!("at most {MAX_MODELS_PER_PROVIDER} models"),
        ));
    }
    let mut models: Vec<ModelInfo> = Vec::with_capacity(raw.models.len());
    for (i, m) in raw.models.iter().enumerate() {
        let mk = format!("{key}.models[{i}]");
        if m.id.trim().is_empty() || m.id.len() > 256 {
            return Err(invalid(&mk, "model id must be 1-256 bytes"));
        }
        if models.iter().any(|x| x.id == m.id) {
            return Err(invalid(&mk, format!("model {:?} listed twice", m.id)));
        }
        let cost = match &m.cost {
            Some(c) => {
                let all = [Some(c.input), Some(c.output), c.cache_read, c.cache_write];
                if all.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
                    return Err(invalid(
                        &format!("{mk}.cost"),
                        "prices must be finite and not negative",
                    ));
                }
                Some(Cost {
                    input: c.input,
                    output: c.output,
                    cache_read: c.cache_read,
                    cache_write: c.cache_write,
                })
            }
            None => None,
        };
        models.push(ModelInfo {
            id: m.id.clone(),
            name: m.name.clone(),
            context_window: m.context_window,
            max_tokens: m.max_tokens,
            reasoning: m.reasoning.unwrap_or(false),
            cost,
            listed: true,
        });
    }
    Ok(ProviderConfig {
        id: id.to_string(),
        api: API_OPENAI_COMPLETIONS,
        base_url,
        url,
        api_key: api_key.map(Secret::new),
        key_source,
        auth_header,
        auth_prefix: o.auth_prefix.clone().unwrap_or_else(|| "Bearer ".into()),
        headers,
        defaults,
        stream: o.stream.unwrap_or(true),
        stream_usage: o.stream_usage.unwrap_or(true),
        allow_unauthenticated,
        local,
        models,
    })
}

fn valid_header_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 64
        && h.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

#[cfg(test)]
mod tests;
