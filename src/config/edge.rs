//! External programs: the `[edge]` table.
//!
//! ```toml
//! [edge]
//! envAllow = ["LANG", "TZ"]          # variables passed on from the gateway's environment
//! [edge.tts]                         # kittentts (or any program keeping the same contract)
//! command = ["/usr/local/bin/kittentts-say"]
//! voice = "expr-voice-2-f"
//! format = "wav"                     # wav | ogg | mp3 | flac
//! timeoutSecs = 60
//! [edge.attest]
//! command = ["/usr/local/bin/attest"]
//! verifyCommand = ["/usr/local/bin/attest-verify"]
//! timeoutSecs = 30
//! ```
//!
//! Every command is an absolute program plus fixed arguments (no shell, no `PATH` search). With
//! no `[edge.tts] command`, `OPENCLAW_RS_KITTENTTS_BIN` names the program (compatibility with
//! the reference runtime); with no `[edge.attest] command`, `OPENCLAW_RS_ENCLAVE_ATTEST_BIN`.
//! The child's environment is `PATH=edge::EXEC_PATH` plus the `envAllow` variables that are set.

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Variable naming the TTS program when `[edge.tts] command` is absent.
pub const KITTENTTS_ENV: &str = "OPENCLAW_RS_KITTENTTS_BIN";
/// Variable naming the attestation program when `[edge.attest] command` is absent.
pub const ATTEST_ENV: &str = "OPENCLAW_RS_ENCLAVE_ATTEST_BIN";
/// Most variables `envAllow` may name.
pub const MAX_ENV_ALLOW: usize = 32;
/// Audio formats a TTS program may be asked for.
pub const TTS_FORMATS: &[&str] = &["wav", "ogg", "mp3", "flac"];

/// A configured external program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCommand {
    /// Absolute program, then fixed arguments.
    pub argv: Vec<String>,
    /// Where it came from: `config` or `env:NAME`.
    pub source: String,
    /// Wall-time limit (seconds).
    pub timeout_secs: u64,
}

/// `[edge.tts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsConfig {
    /// The program, if any.
    pub command: Option<ExternalCommand>,
    /// Voice passed to the program.
    pub voice: String,
    /// Audio format asked for.
    pub format: String,
}

/// `[edge.attest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestConfig {
    /// The program producing a quote, if any.
    pub command: Option<ExternalCommand>,
    /// The program judging a quote, if any (without one a proof is `unverified`).
    pub verify: Option<ExternalCommand>,
}

/// Checked `[edge]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Variables passed on to external programs.
    pub env_allow: Vec<String>,
    /// Text to speech.
    pub tts: TtsConfig,
    /// Attestation.
    pub attest: AttestConfig,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            env_allow: vec!["LANG".into(), "LC_ALL".into(), "TZ".into()],
            tts: TtsConfig {
                command: None,
                voice: "expr-voice-2-f".into(),
                format: "wav".into(),
            },
            attest: AttestConfig {
                command: None,
                verify: None,
            },
        }
    }
}

impl EdgeConfig {
    /// For `config.get`.
    pub fn to_public_json(&self) -> serde_json::Value {
        let cmd = |c: &Option<ExternalCommand>| {
            c.as_ref().map(|c| {
                serde_json::json!({"command": c.argv, "source": c.source,
                                   "timeoutSecs": c.timeout_secs})
            })
        };
        serde_json::json!({
            "envAllow": self.env_allow,
            "tts": {"command": cmd(&self.tts.command), "voice": self.tts.voice,
                    "format": self.tts.format},
            "attest": {"command": cmd(&self.attest.command), "verify": cmd(&self.attest.verify)},
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawEdge {
    env_allow: Option<Vec<String>>,
    #[serde(default)]
    tts: RawTts,
    #[serde(default)]
    attest: RawAttest,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTts {
    command: Option<Vec<String>>,
    voice: Option<String>,
    format: Option<String>,
    timeout_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAttest {
    command: Option<Vec<String>>,
    verify_command: Option<Vec<String>>,
    timeout_secs: Option<u64>,
}

/// Checks that a configured command line starts with an absolute program (no `PATH` search, no
/// shell); an empty one is fine (not configured). Shared with `channels.telegram.transcribeCommand`.
pub(super) fn check_program(key: &str, argv: &[String]) -> Result<(), ConfigError> {
    match argv.first() {
        Some(p) if !p.starts_with('/') => Err(invalid(
            key,
            format!("the program {p:?} must be an absolute path (no PATH search, no shell)"),
        )),
        _ => Ok(()),
    }
}

/// Checks one command: from the config, else from `env_var`.
fn command(
    (cmd_key, timeout_key): (&str, &str),
    argv: Option<&Vec<String>>,
    env_var: Option<&str>,
    timeout: Option<u64>,
    default_timeout: u64,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ExternalCommand>, ConfigError> {
    let timeout_secs = timeout.unwrap_or(default_timeout);
    if !(1..=86_400).contains(&timeout_secs) {
        return Err(invalid(
            timeout_key,
            format!("must be 1-86400, got {timeout_secs}"),
        ));
    }
    let (argv, source) = match (argv, env_var.and_then(env)) {
        (Some(a), _) if !a.is_empty() => (a.clone(), "config".to_string()),
        (_, Some(bin)) if !bin.trim().is_empty() => (
            vec![bin.trim().to_string()],
            format!("env:{}", env_var.unwrap_or_default()),
        ),
        _ => return Ok(None),
    };
    check_program(cmd_key, &argv)?;
    Ok(Some(ExternalCommand {
        argv,
        source,
        timeout_secs,
    }))
}

/// Checks `[edge]`.
pub(super) fn build_edge(
    raw: &RawEdge,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EdgeConfig, ConfigError> {
    let d = EdgeConfig::default();
    let env_allow = raw.env_allow.clone().unwrap_or(d.env_allow);
    if env_allow.len() > MAX_ENV_ALLOW {
        return Err(invalid(
            "edge.envAllow",
            format!("at most {MAX_ENV_ALLOW} names"),
        ));
    }
    if let Some(bad) = env_allow.iter().find(|n| {
        n.is_empty()
            || n.as_str() == "PATH"
            || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }) {
        return Err(invalid(
            "edge.envAllow",
            format!("{bad:?} is not a variable name that may be passed on (PATH is always fixed)"),
        ));
    }
    let format = raw.tts.format.clone().unwrap_or(d.tts.format);
    if !TTS_FORMATS.contains(&format.as_str()) {
        return Err(invalid(
            "edge.tts.format",
            format!("must be one of {}, got {format:?}", TTS_FORMATS.join(", ")),
        ));
    }
    let voice = raw.tts.voice.clone().unwrap_or(d.tts.voice);
    if voice.is_empty() || voice.len() > 64 {
        return Err(invalid("edge.tts.voice", "must be 1-64 bytes"));
    }
    let tts = TtsConfig {
        command: command(
            ("edge.tts.command", "edge.tts.timeoutSecs"),
            raw.tts.command.as_ref(),
            Some(KITTENTTS_ENV),
            raw.tts.timeout_secs,
            60,
            env,
        )?,
        voice,
        format,
    };
    let attest = AttestConfig {
        command: command(
            ("edge.attest.command", "edge.attest.timeoutSecs"),
            raw.attest.command.as_ref(),
            Some(ATTEST_ENV),
            raw.attest.timeout_secs,
            30,
            env,
        )?,
        verify: command(
            ("edge.attest.verifyCommand", "edge.attest.timeoutSecs"),
            raw.attest.verify_command.as_ref(),
            None,
            raw.attest.timeout_secs,
            30,
            env,
        )?,
    };
    Ok(EdgeConfig {
        env_allow,
        tts,
        attest,
    })
}
