//! Configuration: the TOML file, runtime profiles and environment, checked into `Config`.
//!
//! Sources, later wins: the embedded `edge` profile → the profile named by the file or
//! `--profile` → the file (`--config F`, `$OPENCLAW_EDGE_CONFIG`, or `./openclaw-edge.toml` when
//! present) → environment secrets → command-line flags. With no file the embedded default runs.
//!
//! Raw TOML is deserialized with unknown keys denied, then validated into typed values; every
//! error names the key (and the line when TOML gives one) and stops start-up with exit code 2.
//! `${ENV}` references are expanded in string values. Secrets live in `Secret`, masked in `Debug`.

pub mod agent;
pub mod bridge;
pub mod defender;
pub mod edge;
pub mod limit_defaults;
pub mod limits;
pub mod memory;
pub mod mesh;
pub mod providers;
mod schema;
pub mod telegram;
pub mod tools;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use agent::{AgentConfig, Price, Runtime};
pub use bridge::{BridgeConfig, RuntimeMode};
pub use limits::Limits;
pub use schema::config_schema;

/// The embedded default profile (also the file `profiles/edge.toml`).
pub const EDGE_PROFILE: &str = include_str!("../../profiles/edge.toml");
/// The larger profile for 1 GB+ boards (`profiles/core.toml`).
pub const CORE_PROFILE: &str = include_str!("../../profiles/core.toml");
/// Default listen address: loopback, upstream's port.
pub const DEFAULT_BIND: &str = "127.0.0.1:18789";
/// Every operator scope upstream defines (`src/gateway/operator-scopes.ts`).
pub const OPERATOR_SCOPES: [&str; 8] = [
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.questions",
    "operator.pairing",
    "operator.talk",
    "operator.talk.secrets",
];
/// Env vars that carry the gateway token, in priority order (the second for compatibility).
pub const TOKEN_ENV: [&str; 2] = ["OPENCLAW_EDGE_GATEWAY_TOKEN", "OPENCLAW_RS_GATEWAY_TOKEN"];
/// Env var that carries the gateway password.
pub const PASSWORD_ENV: &str = "OPENCLAW_EDGE_GATEWAY_PASSWORD";

/// A configuration problem, printed once at start-up (exit code 2) or by `config check`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The file could not be read.
    Read { path: String, reason: String },
    /// TOML syntax, an unknown key or a wrong type; `key`/`line` when they can be told.
    Parse {
        path: String,
        key: Option<String>,
        line: Option<usize>,
        message: String,
    },
    /// A value parsed but is not acceptable.
    Invalid { key: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, reason } => write!(f, "cannot read config {path}: {reason}"),
            ConfigError::Parse {
                path,
                key,
                line,
                message,
            } => {
                write!(f, "invalid config {path}")?;
                if let Some(line) = line {
                    write!(f, " line {line}")?;
                }
                if let Some(key) = key {
                    write!(f, " key `{key}`")?;
                }
                write!(f, ": {message}")
            }
            ConfigError::Invalid { key, reason } => {
                write!(f, "invalid config key `{key}`: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// A secret string; `Debug` and `Display` print a mask, `expose` is the only way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: only for comparison and for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Runtime profile: sizes every buffer, queue and cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Smallest footprint (default): 256–512 MB boards.
    Edge,
    /// 1 GB+ boards and small VPSes.
    Core,
}

impl Profile {
    /// Parses `edge` or `core`.
    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "edge" => Some(Profile::Edge),
            "core" => Some(Profile::Core),
            _ => None,
        }
    }
    /// The profile's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Edge => "edge",
            Profile::Core => "core",
        }
    }
    fn text(self) -> &'static str {
        match self {
            Profile::Edge => EDGE_PROFILE,
            Profile::Core => CORE_PROFILE,
        }
    }
}

/// How clients prove they may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Shared token (`auth.token`).
    Token,
    /// Shared password (`auth.password`).
    Password,
}

impl AuthMode {
    /// Wire name, as in upstream's `authMode`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Token => "token",
            AuthMode::Password => "password",
        }
    }
}

/// Where the shared secret came from (reported by `doctor` and `config.get`, never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The config file.
    File,
    /// An environment variable.
    Env(&'static str),
    /// Not configured: the runtime generates or reuses `<state_dir>/gateway.token` (loopback only).
    Generated,
}

/// Gateway authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Token or password.
    pub mode: AuthMode,
    /// The configured secret; `None` means "generate one" (only allowed on loopback).
    pub secret: Option<Secret>,
    /// Where `secret` came from.
    pub source: SecretSource,
    /// The most a shared-secret client may be granted; requested scopes are intersected with it.
    pub scopes: Vec<String>,
}

/// The checked configuration the runtime runs on.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, or `None` for the embedded default.
    pub path: Option<PathBuf>,
    /// The file's text, for `config.get` (secrets are masked there).
    pub raw: Option<String>,
    /// Active profile.
    pub profile: Profile,
    /// Directory for durable state (token file, later the database).
    pub state_dir: PathBuf,
    /// WebSocket + HTTP listen address.
    pub bind: SocketAddr,
    /// Authentication.
    pub auth: AuthConfig,
    /// Every capacity.
    pub limits: Limits,
    /// Default log filter (`RUST_LOG` overrides it).
    pub log_level: String,
    /// Agent identity, mention names, group activation and run executor.
    pub agent: AgentConfig,
    /// Token prices for `usage.cost`; unlisted models have an unknown cost.
    pub pricing: Vec<Price>,
    /// Model providers, the agent's model candidates and the retry policy.
    pub models: providers::ModelsConfig,
    /// Built-in tools: workspace, exec policy, http_get allowlist.
    pub tools: tools::ToolsConfig,
    /// The defender: tool policy, screening switches, integrity, quarantine, signed policy.
    pub defender: defender::DefenderConfig,
    /// `gateway.runtime_mode`: standalone, or also a bridge client of another gateway.
    pub runtime_mode: RuntimeMode,
    /// `[bridge]`: the upstream gateway (required in `bridge_client` mode).
    pub bridge: Option<BridgeConfig>,
    /// `[channels.telegram]`: the Telegram bot bridge (off by default).
    pub telegram: telegram::TelegramConfig,
    /// `[memory]`: ingestion, recall and injection.
    pub memory: memory::MemoryConfig,
    /// `[edge]`: external programs (TTS, attestation) and their environment.
    pub edge: edge::EdgeConfig,
    /// `[mesh]`: peer instances probed by `edge.mesh.status` (and joined as a node).
    pub mesh: mesh::MeshConfig,
}

/// Command-line overrides, applied after the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config F`.
    pub config: Option<PathBuf>,
    /// `--profile edge|core`.
    pub profile: Option<String>,
    /// `--bind ADDR:PORT`.
    pub bind: Option<String>,
    /// `--state-dir DIR`.
    pub state_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    profile: Option<String>,
    state_dir: Option<String>,
    log_level: Option<String>,
    #[serde(default)]
    gateway: RawGateway,
    limits: Option<toml::Table>,
    #[serde(default)]
    agent: agent::RawAgent,
    #[serde(default)]
    pricing: Vec<Price>,
    #[serde(default)]
    models: providers::RawModels,
    #[serde(default)]
    runtime: providers::RawRuntime,
    #[serde(default)]
    tools: tools::RawTools,
    #[serde(default)]
    defender: defender::RawDefender,
    bridge: Option<bridge::RawBridge>,
    #[serde(default)]
    channels: telegram::RawChannels,
    #[serde(default)]
    memory: memory::RawMemory,
    #[serde(default)]
    edge: edge::RawEdge,
    #[serde(default)]
    mesh: mesh::RawMesh,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    bind: Option<String>,
    port: Option<u16>,
    runtime_mode: Option<String>,
    #[serde(default)]
    auth: RawAuth,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    mode: Option<String>,
    token: Option<String>,
    password: Option<String>,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    limits: toml::Table,
}

impl Config {
    /// Loads the config the way `run` does: file (or embedded default) + env + flags.
    pub fn load(ov: &Overrides) -> Result<Config, ConfigError> {
        let path = ov
            .config
            .clone()
            .or_else(|| std::env::var_os("OPENCLAW_EDGE_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("openclaw-edge.toml");
                p.is_file().then_some(p)
            });
        let (raw, text) = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                (Some(text.clone()), text)
            }
            None => (None, String::new()),
        };
        let label = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(embedded default)".into());
        Config::from_parts(path, raw, &text, &label, ov, &|k| std::env::var(k).ok())
    }

    /// Builds a config from file text; `env` looks up environment variables (tests pass a map).
    pub fn from_parts(
        path: Option<PathBuf>,
        raw: Option<String>,
        text: &str,
        label: &str,
        ov: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file: RawConfig = toml::from_str(text).map_err(|e| parse_error(label, text, &e))?;

        let profile_name = ov
            .profile
            .clone()
            .or(file.profile.clone())
            .unwrap_or_else(|| "edge".into());
        let profile = Profile::parse(&profile_name).ok_or_else(|| {
            invalid(
                "profile",
                format!("unknown profile {profile_name:?} (expected \"edge\" or \"core\")"),
            )
        })?;
        let limits = merge_limits(profile, file.limits.as_ref(), label, text)?;
        limits.validate().map_err(|(k, r)| invalid(&k, r))?;

        let expand = |key: &str, v: &str| expand_env(key, v, env);

        let bind_text = match &ov.bind {
            Some(b) => b.clone(),
            None => match &file.gateway.bind {
                Some(b) => expand("gateway.bind", b)?,
                None => DEFAULT_BIND.to_string(),
            },
        };
        let mut bind = parse_bind(&bind_text).ok_or_else(|| {
            invalid(
                "gateway.bind",
                format!("{bind_text:?} is not ADDR:PORT (e.g. 127.0.0.1:18789)"),
            )
        })?;
        if ov.bind.is_none()
            && let Some(port) = file.gateway.port
        {
            bind.set_port(port);
        }

        let state_dir = match (&ov.state_dir, &file.state_dir) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => PathBuf::from(expand("state_dir", d)?),
            (None, None) => default_state_dir(env),
        };

        let auth = build_auth(&file.gateway.auth, env, &expand)?;
        if auth.secret.is_none() && !bind.ip().is_loopback() {
            return Err(invalid(
                "gateway.auth.token",
                format!(
                    "binding the non-loopback address {bind} needs a token or password \
                     (set gateway.auth.token or {}); refusing to start without auth",
                    TOKEN_ENV[0]
                ),
            ));
        }

        let log_level = file.log_level.clone().unwrap_or_else(|| "info".into());
        if !matches!(
            log_level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace" | "off"
        ) {
            return Err(invalid(
                "log_level",
                format!("{log_level:?} is not one of error|warn|info|debug|trace|off"),
            ));
        }

        let agent = agent::build_agent(&file.agent)?;
        agent::check_pricing(&file.pricing)?;
        let mut models = providers::build_models(
            &file.models,
            &file.runtime,
            &providers::AgentModels {
                model: file.agent.model.as_deref(),
                fallbacks: &file.agent.fallbacks,
                cloud_fallback: agent.cloud_fallback,
            },
            env,
        )?;
        let tools = tools::build_tools(&file.tools, &state_dir, &expand)?;
        let defender = defender::build_defender(file.defender, &state_dir, &expand)?;
        let runtime_mode = bridge::parse_mode(file.gateway.runtime_mode.as_deref())?;
        let bridge = bridge::build_bridge(file.bridge.as_ref(), runtime_mode, &expand)?;
        let mut telegram = telegram::build_telegram(&file.channels, env, &expand)?;
        let memory = memory::build_memory(&file.memory, &mut models, env)?;
        let edge = edge::build_edge(
            &file.edge,
            env,
            (
                &telegram.transcribe_command,
                telegram.transcribe_timeout_secs,
            ),
        )?;
        // One transcriber: Telegram voice notes use `[edge.voice]` when they have none.
        if telegram.transcribe_command.is_empty()
            && let Some(v) = &edge.voice
        {
            telegram.transcribe_command = v.argv.clone();
            telegram.transcribe_timeout_secs = v.timeout_secs;
        }
        let mesh = mesh::build_mesh(&file.mesh, limits.mesh_max_peers, &expand)?;
        // Catalog prices (`models = [{ cost = {...} }]`) price usage too, unless `[[pricing]]`
        // already lists the pair (an explicit entry wins).
        let mut pricing = file.pricing;
        for p in &models.providers {
            for m in &p.models {
                if let Some(c) = m.cost
                    && !pricing
                        .iter()
                        .any(|x| x.provider == p.id && x.model == m.id)
                {
                    pricing.push(Price {
                        provider: p.id.clone(),
                        model: m.id.clone(),
                        input_per_mtok: c.input,
                        output_per_mtok: c.output,
                        cache_read_per_mtok: c.cache_read,
                        cache_write_per_mtok: c.cache_write,
                    });
                }
            }
        }

        Ok(Config {
            path,
            raw,
            profile,
            state_dir,
            bind,
            auth,
            limits,
            log_level,
            agent,
            pricing,
            models,
            tools,
            defender,
            runtime_mode,
            bridge,
            telegram,
            memory,
            edge,
            mesh,
        })
    }

    /// The effective config as JSON with secrets replaced by `***` (for `config.get`).
    pub fn to_public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "profile": self.profile.as_str(),
            "state_dir": self.state_dir.display().to_string(),
            "log_level": self.log_level,
            "gateway": {
                "bind": self.bind.to_string(),
                "runtime_mode": self.runtime_mode.as_str(),
                "auth": {
                    "mode": self.auth.mode.as_str(),
                    "token": self.auth.secret.as_ref().filter(|_| self.auth.mode == AuthMode::Token).map(|_| REDACTED),
                    "password": self.auth.secret.as_ref().filter(|_| self.auth.mode == AuthMode::Password).map(|_| REDACTED),
                    "source": match &self.auth.source {
                        SecretSource::File => "file".to_string(),
                        SecretSource::Env(v) => format!("env:{v}"),
                        SecretSource::Generated => "generated".to_string(),
                    },
                    "scopes": self.auth.scopes,
                },
            },
            "limits": self.limits,
            "agent": {
                "default_id": self.agent.default_id,
                "main_key": self.agent.main_key,
                "names": self.agent.names,
                "group_activation": self.agent.group_activation,
                "runtime": self.agent.runtime.as_str(),
                "test_delay_ms": self.agent.test_delay_ms,
                "name": self.agent.name,
                "model": self.models.candidates.first().map(|c| c.to_string()),
                "fallbacks": self.models.candidates.iter().skip(1).map(|c| c.to_string()).collect::<Vec<_>>(),
                "cloud_fallback": self.agent.cloud_fallback,
                "persona": self.agent.persona,
                "personas": self.agent.personas.iter().map(|p| (p.name.clone(), serde_json::json!({
                    "prompt": p.prompt, "traits": p.traits,
                }))).collect::<serde_json::Map<_, _>>(),
            },
            "models": self.models.to_public_json(),
            "tools": self.tools.to_public_json(),
            "defender": self.defender.to_public_json(),
            "bridge": self.bridge.as_ref().map(BridgeConfig::to_public_json),
            "channels": {"telegram": self.telegram.to_public_json()},
            "memory": self.memory.to_public_json(),
            "edge": self.edge.to_public_json(),
            "mesh": self.mesh.to_public_json(),
            "pricing": self.pricing.iter().map(|p| serde_json::json!({
                "provider": p.provider, "model": p.model,
                "input_per_mtok": p.input_per_mtok, "output_per_mtok": p.output_per_mtok,
                "cache_read_per_mtok": p.cache_read_per_mtok, "cache_write_per_mtok": p.cache_write_per_mtok,
            })).collect::<Vec<_>>(),
        })
    }

    /// The file text with secret values replaced by `***`, or `None` for the embedded default.
    pub fn masked_raw(&self) -> Option<String> {
        self.raw.as_ref().map(|raw| mask_raw(raw))
    }
}

/// Placeholder shown instead of a secret.
pub const REDACTED: &str = "***";

/// `raw` TOML text with the values of `token` and `password` keys replaced by `***`.
pub fn mask_raw(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for line in raw.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if line.contains('=') && matches!(key, "token" | "password" | "botToken") {
            out.push_str(key);
            out.push_str(" = \"");
            out.push_str(REDACTED);
            out.push('"');
        } else {
            out.push_str(&mask_inline(line));
        }
        out.push('\n');
    }
    out
}

/// `line` with the quoted values of `token = ...` / `password = ...` pairs inside inline tables
/// (`peers = [{name = "b", token = "..."}]`) replaced by `***`.
fn mask_inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = ["token", "password"]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
        .min()
    {
        let (i, klen) = at;
        let after_key = &rest[i + klen..];
        let trimmed = after_key.trim_start();
        let value = trimmed
            .strip_prefix('=')
            .map(str::trim_start)
            .filter(|v| v.starts_with(['"', '\'']));
        let boundary = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        match value {
            Some(v) if boundary => {
                let quote = v.chars().next().unwrap_or('"');
                let end = v[1..].find(quote).map(|e| e + 2).unwrap_or(v.len());
                out.push_str(&rest[..i + klen]);
                out.push_str(" = \"");
                out.push_str(REDACTED);
                out.push('"');
                rest = &v[end..];
            }
            _ => {
                out.push_str(&rest[..i + klen]);
                rest = after_key;
            }
        }
    }
    out.push_str(rest);
    out
}

fn build_auth(
    raw: &RawAuth,
    env: &dyn Fn(&str) -> Option<String>,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<AuthConfig, ConfigError> {
    let mode = match raw.mode.as_deref() {
        None => {
            if raw.password.is_some() && raw.token.is_none() {
                AuthMode::Password
            } else {
                AuthMode::Token
            }
        }
        Some("token") => AuthMode::Token,
        Some("password") => AuthMode::Password,
        Some(other) => {
            return Err(invalid(
                "gateway.auth.mode",
                format!("{other:?} is not \"token\" or \"password\" (auth cannot be turned off)"),
            ));
        }
    };
    let env_token = TOKEN_ENV
        .iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()).map(|v| (*k, v)));
    let env_password = env(PASSWORD_ENV).filter(|v| !v.is_empty());
    let (secret, source) = match mode {
        AuthMode::Token => match (env_token, &raw.token) {
            (Some((k, v)), _) => (Some(v), SecretSource::Env(k)),
            (None, Some(t)) => (Some(expand("gateway.auth.token", t)?), SecretSource::File),
            (None, None) => (None, SecretSource::Generated),
        },
        AuthMode::Password => match (env_password, &raw.password) {
            (Some(v), _) => (Some(v), SecretSource::Env(PASSWORD_ENV)),
            (None, Some(p)) => (
                Some(expand("gateway.auth.password", p)?),
                SecretSource::File,
            ),
            (None, None) => {
                return Err(invalid(
                    "gateway.auth.password",
                    format!("mode is \"password\" but no password is set (file or {PASSWORD_ENV})"),
                ));
            }
        },
    };
    if let Some(s) = &secret {
        let key = match mode {
            AuthMode::Token => "gateway.auth.token",
            AuthMode::Password => "gateway.auth.password",
        };
        if s.trim().is_empty() {
            return Err(invalid(key, "is empty"));
        }
        if s.len() > 512 {
            return Err(invalid(key, format!("is {} bytes, at most 512", s.len())));
        }
    }
    let scopes = match &raw.scopes {
        None => OPERATOR_SCOPES.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            for s in list {
                if !OPERATOR_SCOPES.contains(&s.as_str()) {
                    return Err(invalid(
                        "gateway.auth.scopes",
                        format!(
                            "unknown scope {s:?} (known: {})",
                            OPERATOR_SCOPES.join(", ")
                        ),
                    ));
                }
            }
            list.clone()
        }
    };
    Ok(AuthConfig {
        mode,
        secret: secret.map(Secret::new),
        source,
        scopes,
    })
}

fn merge_limits(
    profile: Profile,
    file: Option<&toml::Table>,
    label: &str,
    text: &str,
) -> Result<Limits, ConfigError> {
    let prof: RawProfile = toml::from_str(profile.text()).map_err(|e| {
        parse_error(
            &format!("profiles/{}.toml", profile.as_str()),
            profile.text(),
            &e,
        )
    })?;
    let mut table = prof.limits;
    if let Some(file) = file {
        for (k, v) in file {
            table.insert(k.clone(), v.clone());
        }
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            // Spans are lost after merging; find the key by name in the file text instead.
            let msg = e.message().to_string();
            let key = msg
                .split('`')
                .nth(1)
                .map(|k| format!("limits.{k}"))
                .or_else(|| first_bad_limit_key(file));
            let line = key.as_deref().and_then(|k| {
                let short = k.trim_start_matches("limits.");
                text.lines()
                    .position(|l| l.trim_start().starts_with(short))
                    .map(|i| i + 1)
            });
            ConfigError::Parse {
                path: label.to_string(),
                key,
                line,
                message: msg,
            }
        })
}

/// When serde's message names no field (a wrong type), find the first file key that fails alone.
fn first_bad_limit_key(file: Option<&toml::Table>) -> Option<String> {
    let file = file?;
    for (k, v) in file {
        let mut t = toml::Table::new();
        t.insert(k.clone(), v.clone());
        if toml::Value::Table(t).try_into::<Limits>().is_err() {
            return Some(format!("limits.{k}"));
        }
    }
    None
}

fn parse_error(label: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, key) = match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            (Some(line), key_at_line(text, line))
        }
        None => (None, None),
    };
    ConfigError::Parse {
        path: label.to_string(),
        key,
        line,
        message: e.message().trim().to_string(),
    }
}

/// The dotted key defined on `line` (1-based), using the nearest `[table]` header above it.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
        if i + 1 == line {
            if t.starts_with('[') {
                return Some(table);
            }
            let k = t.split('=').next()?.trim();
            if k.is_empty() || k.starts_with('#') {
                return None;
            }
            return Some(if table.is_empty() {
                k.to_string()
            } else {
                format!("{table}.{k}")
            });
        }
    }
    None
}

/// Expands `${NAME}` references; a missing variable is an error naming the key.
fn expand_env(
    key: &str,
    v: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(key, "unterminated ${...} reference"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                key,
                format!("bad environment reference ${{{name}}}"),
            ));
        }
        let val = env(name).ok_or_else(|| {
            invalid(
                key,
                format!("references ${{{name}}} but that environment variable is not set"),
            )
        })?;
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_bind(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let port = s.strip_prefix("localhost:")?.parse::<u16>().ok()?;
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn default_state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(d) = env("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd's StateDirectory= may list several; the first is ours.
        return PathBuf::from(d.split(':').next().unwrap_or(&d));
    }
    if let Some(d) = env("OPENCLAW_EDGE_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Path::new(&h).join(".openclaw-edge"),
        None => PathBuf::from(".openclaw-edge"),
    }
}

#[cfg(test)]
mod tests;
