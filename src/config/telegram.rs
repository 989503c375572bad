//! Telegram channel settings: the `[channels.telegram]` table.
//!
//! Checked here: the bot token (literal, `${ENV}`, or `TELEGRAM_BOT_TOKEN` when the key is
//! absent; required when `enabled`), the API base URL (`http://` or `https://`), the DM policy and
//! group activation names, the id lists and the long-poll timeout (1–50 s, Telegram's range).
//! The token is a `Secret`: `config.get` shows `***`, logs never see it.

use serde::Deserialize;

use super::{ConfigError, Secret, invalid};
use crate::telegram::access::{Activation, DmPolicy};

/// Env var read for the bot token when `botToken` is not set.
pub const TOKEN_ENV: &str = "TELEGRAM_BOT_TOKEN";
/// Default Bot API base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.telegram.org";
/// Default `getUpdates` long-poll timeout, seconds.
pub const DEFAULT_POLL_TIMEOUT_SECS: u64 = 25;
/// Default wall time of one voice transcription, seconds.
pub const DEFAULT_TRANSCRIBE_TIMEOUT_SECS: u64 = 120;

/// Checked `[channels.telegram]` settings.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// Run the bridge.
    pub enabled: bool,
    /// Bot token; `None` only when not enabled.
    pub bot_token: Option<Secret>,
    /// Bot API base URL without a trailing slash.
    pub api_base_url: String,
    /// Who may open a direct conversation.
    pub dm_policy: DmPolicy,
    /// Users allowed in DMs.
    pub allow_from: Vec<i64>,
    /// Groups the bot answers in.
    pub groups: Vec<i64>,
    /// Operator user ids.
    pub operators: Vec<i64>,
    /// Group activation.
    pub group_activation: Activation,
    /// `getUpdates` timeout, seconds.
    pub poll_timeout_secs: u64,
    /// Stream replies by editing one message as the answer grows.
    pub streaming: bool,
    /// Transcriber for voice notes: an absolute program path and fixed arguments; the audio
    /// file's path is appended and the transcript read from stdout. Empty: voice notes get an
    /// honest "cannot transcribe" answer.
    pub transcribe_command: Vec<String>,
    /// Wall time of one transcription before its process group is killed.
    pub transcribe_timeout_secs: u64,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            enabled: false,
            bot_token: None,
            api_base_url: DEFAULT_API_BASE_URL.into(),
            dm_policy: DmPolicy::Allowlist,
            allow_from: Vec::new(),
            groups: Vec::new(),
            operators: Vec::new(),
            group_activation: Activation::Mention,
            poll_timeout_secs: DEFAULT_POLL_TIMEOUT_SECS,
            streaming: false,
            transcribe_command: Vec::new(),
            transcribe_timeout_secs: DEFAULT_TRANSCRIBE_TIMEOUT_SECS,
        }
    }
}

impl TelegramConfig {
    /// The settings as JSON for `config.get` (the token is never shown).
    pub fn to_public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": self.enabled,
            "botToken": self.bot_token.as_ref().map(|_| super::REDACTED),
            "apiBaseUrl": self.api_base_url,
            "dmPolicy": dm_policy_str(self.dm_policy),
            "allowFrom": self.allow_from,
            "groups": self.groups,
            "operators": self.operators,
            "groupActivation": match self.group_activation {
                Activation::Mention => "mention",
                Activation::Always => "always",
            },
            "pollTimeoutSecs": self.poll_timeout_secs,
            "streaming": self.streaming,
            "transcribeCommand": self.transcribe_command,
            "transcribeTimeoutSecs": self.transcribe_timeout_secs,
        })
    }
}

/// The wire name of a DM policy.
pub fn dm_policy_str(p: DmPolicy) -> &'static str {
    match p {
        DmPolicy::Pairing => "pairing",
        DmPolicy::Allowlist => "allowlist",
        DmPolicy::Open => "open",
    }
}

/// The raw `[channels]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannels {
    telegram: Option<RawTelegram>,
}

/// The raw `[channels.telegram]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTelegram {
    enabled: Option<bool>,
    bot_token: Option<String>,
    api_base_url: Option<String>,
    dm_policy: Option<String>,
    #[serde(default)]
    allow_from: Vec<i64>,
    #[serde(default)]
    groups: Vec<i64>,
    #[serde(default)]
    operators: Vec<i64>,
    group_activation: Option<String>,
    poll_timeout_secs: Option<u64>,
    streaming: Option<bool>,
    #[serde(default)]
    transcribe_command: Vec<String>,
    transcribe_timeout_secs: Option<u64>,
}

/// Checks `[channels.telegram]`.
pub(super) fn build_telegram(
    raw: &RawChannels,
    env: &dyn Fn(&str) -> Option<String>,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<TelegramConfig, ConfigError> {
    let Some(raw) = &raw.telegram else {
        return Ok(TelegramConfig::default());
    };
    let enabled = raw.enabled.unwrap_or(false);
    let token = match &raw.bot_token {
        Some(t) => Some(expand("channels.telegram.botToken", t)?),
        None => env(TOKEN_ENV),
    }
    .filter(|t| !t.trim().is_empty());
    if enabled && token.is_none() {
        return Err(invalid(
            "channels.telegram.botToken",
            format!("is required when enabled (set it, or {TOKEN_ENV} in the environment)"),
        ));
    }
    if let Some(t) = &token
        && (t.contains('/') || t.chars().any(char::is_whitespace))
    {
        return Err(invalid(
            "channels.telegram.botToken",
            "must not contain '/' or whitespace",
        ));
    }
    let api_base_url = match &raw.api_base_url {
        Some(u) => expand("channels.telegram.apiBaseUrl", u)?,
        None => DEFAULT_API_BASE_URL.into(),
    }
    .trim_end_matches('/')
    .to_string();
    if !(api_base_url.starts_with("http://") || api_base_url.starts_with("https://")) {
        return Err(invalid(
            "channels.telegram.apiBaseUrl",
            format!("{api_base_url:?} is not an http:// or https:// URL"),
        ));
    }
    let dm_policy = match raw.dm_policy.as_deref() {
        None | Some("allowlist") => DmPolicy::Allowlist,
        Some("pairing") => DmPolicy::Pairing,
        Some("open") => DmPolicy::Open,
        Some(o) => {
            return Err(invalid(
                "channels.telegram.dmPolicy",
                format!("{o:?} is not one of pairing|allowlist|open"),
            ));
        }
    };
    let group_activation = match raw.group_activation.as_deref() {
        None | Some("mention") => Activation::Mention,
        Some("always") => Activation::Always,
        Some(o) => {
            return Err(invalid(
                "channels.telegram.groupActivation",
                format!("{o:?} is not \"mention\" or \"always\""),
            ));
        }
    };
    let poll_timeout_secs = raw.poll_timeout_secs.unwrap_or(DEFAULT_POLL_TIMEOUT_SECS);
    if !(1..=50).contains(&poll_timeout_secs) {
        return Err(invalid(
            "channels.telegram.pollTimeoutSecs",
            format!("must be 1-50, got {poll_timeout_secs}"),
        ));
    }
    super::edge::check_program(
        "channels.telegram.transcribeCommand",
        &raw.transcribe_command,
    )?;
    let transcribe_timeout_secs = raw
        .transcribe_timeout_secs
        .unwrap_or(DEFAULT_TRANSCRIBE_TIMEOUT_SECS);
    if !(1..=3600).contains(&transcribe_timeout_secs) {
        return Err(invalid(
            "channels.telegram.transcribeTimeoutSecs",
            format!("must be 1-3600, got {transcribe_timeout_secs}"),
        ));
    }
    Ok(TelegramConfig {
        enabled,
        bot_token: token.map(Secret::new),
        api_base_url,
        dm_policy,
        allow_from: raw.allow_from.clone(),
        groups: raw.groups.clone(),
        operators: raw.operators.clone(),
        group_activation,
        poll_timeout_secs,
        streaming: raw.streaming.unwrap_or(false),
        transcribe_command: raw.transcribe_command.clone(),
        transcribe_timeout_secs,
    })
}
