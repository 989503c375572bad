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
//! [edge.finetune]
//! command = ["/usr/local/bin/lora-train"]
//! baseModel = "qwen2.5-0.5b-instruct"
//! timeoutSecs = 21600
//! [edge.voice]                       # transcription: the audio file's path is appended
//! command = ["/usr/local/bin/whisper-cli", "-m", "/opt/ggml-base.en.bin"]
//! timeoutSecs = 120
//! ```
//!
//! Every command is an absolute program plus fixed arguments (no shell, no `PATH` search). With
//! no `[edge.tts] command`, `OPENCLAW_RS_KITTENTTS_BIN` names the program (compatibility with
//! the reference runtime); with no `[edge.attest] command`, `OPENCLAW_RS_ENCLAVE_ATTEST_BIN`;
//! with no `[edge.finetune] command`, `OPENCLAW_RS_LORA_TRAINER_BIN`. One transcriber serves
//! `edge.voice.transcribe` and Telegram voice notes: `[edge.voice] command`, else
//! `channels.telegram.transcribeCommand` (and Telegram uses `[edge.voice]` when it has none).
//! The child's environment is `PATH=edge::EXEC_PATH` plus the `envAllow` variables that are set.

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Variable naming the TTS program when `[edge.tts] command` is absent.
pub const KITTENTTS_ENV: &str = "OPENCLAW_RS_KITTENTTS_BIN";
/// Variable naming the attestation program when `[edge.attest] command` is absent.
pub const ATTEST_ENV: &str = "OPENCLAW_RS_ENCLAVE_ATTEST_BIN";
/// Variable naming the fine-tune trainer when `[edge.finetune] command` is absent.
pub const TRAINER_ENV: &str = "OPENCLAW_RS_LORA_TRAINER_BIN";
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

/// `[edge.finetune]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinetuneConfig {
    /// The trainer, if any.
    pub command: Option<ExternalCommand>,
    /// `--model` when a run names none.
    pub base_model: Option<String>,
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
    /// Fine-tuning.
    pub finetune: FinetuneConfig,
    /// The transcriber (`[edge.voice]`, else `channels.telegram.transcribeCommand`).
    pub voice: Option<ExternalCommand>,
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
            finetune: FinetuneConfig {
                command: None,
                base_model: None,
            },
            voice: None,
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
            "finetune": {"command": cmd(&self.finetune.command),
                         "baseModel": self.finetune.base_model},
            "voice": {"command": cmd(&self.voice)},
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
    #[serde(default)]
    finetune: RawFinetune,
    #[serde(default)]
    voice: RawVoice,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFinetune {
    command: Option<Vec<String>>,
    base_model: Option<String>,
    timeout_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVoice {
    command: Option<Vec<String>>,
    timeout_secs: Option<u64>,
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

/// Checks `[edge]`. `telegram` is `channels.telegram`'s transcriber (argv, timeout), the
/// fallback of `[edge.voice]`.
pub(super) fn build_edge(
    raw: &RawEdge,
    env: &dyn Fn(&str) -> Option<String>,
    telegram: (&[String], u64),
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
    let base_model = raw.finetune.base_model.clone();
    if base_model
        .as_deref()
        .is_some_and(|m| m.trim().is_empty() || m.len() > 256 || m.starts_with('-'))
    {
        return Err(invalid(
            "edge.finetune.baseModel",
            "must be 1-256 bytes and not start with '-'",
        ));
    }
    let finetune = FinetuneConfig {
        command: command(
            ("edge.finetune.command", "edge.finetune.timeoutSecs"),
            raw.finetune.command.as_ref(),
            Some(TRAINER_ENV),
            raw.finetune.timeout_secs,
            6 * 3600,
            env,
        )?,
        base_model,
    };
    let mut voice = command(
        ("edge.voice.command", "edge.voice.timeoutSecs"),
        raw.voice.command.as_ref(),
        None,
        raw.voice.timeout_secs,
        telegram.1,
        env,
    )?;
    if voice.is_none() && !telegram.0.is_empty() {
        voice = Some(ExternalCommand {
            argv: telegram.0.to_vec(),
            source: "channels.telegram.transcribeCommand".into(),
            timeout_secs: telegram.1,
        });
    }
    Ok(EdgeConfig {
        env_allow,
        tts,
        attest,
        finetune,
        voice,
    })
}
