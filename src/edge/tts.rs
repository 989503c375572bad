//! Text to speech through an external program (kittentts, or anything keeping its contract).
//!
//! Contract: the program (`[edge.tts] command`, else `OPENCLAW_RS_KITTENTTS_BIN`) gets
//! `{"text", "voice", "format", "output"}` as JSON on stdin and writes the audio to `output`, an
//! absolute path under `<state_dir>/tts/`; exit 0 means done. It runs as an edge job (bounds,
//! timeout, process-group kill, persisted row) with `RLIMIT_FSIZE` at
//! `limits.tts_max_audio_bytes` + 1, so it cannot fill the disk. The file is then checked
//! (`edge::audio`): at most `tts_max_audio_bytes`, and really audio of the asked format by its
//! header; otherwise it is deleted and the conversion fails with the reason. At most
//! `tts_files_kept` files stay in the directory (oldest deleted). `enabled` (`tts.enable` /
//! `tts.disable`) is kept in `<state_dir>/tts-prefs.json`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::audio::{self, Audio};
use crate::gateway::Ctx;

/// The one provider id: the external program.
pub const PROVIDER: &str = "kittentts";
/// Preferences file in the state dir.
pub const PREFS_FILE: &str = "tts-prefs.json";
/// Audio directory in the state dir.
pub const DIR: &str = "tts";

/// A finished conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The audio file.
    pub path: PathBuf,
    /// What it is.
    pub audio: Audio,
    /// Its size.
    pub bytes: u64,
    /// The edge job that made it.
    pub job_id: String,
}

/// Why a conversion did not happen or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtsError {
    /// Bad input (empty or too long text).
    Invalid(String),
    /// No program, TTS disabled, busy, or the program failed.
    Unavailable(String),
}

impl std::fmt::Display for TtsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TtsError::Invalid(m) | TtsError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Whether TTS is enabled (`tts-prefs.json`; default: on when a program is configured).
pub async fn enabled(ctx: &Ctx) -> bool {
    let path = ctx.config.state_dir.join(PREFS_FILE);
    let configured = ctx.config.edge.tts.command.is_some();
    ctx.pool
        .run(move || {
            std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("enabled").and_then(Value::as_bool))
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(configured)
        && configured
}

/// Stores `enabled`; refused when no program is configured and `on` is asked.
pub async fn set_enabled(ctx: &Ctx, on: bool) -> Result<(), TtsError> {
    if on && ctx.config.edge.tts.command.is_none() {
        return Err(TtsError::Unavailable(no_program()));
    }
    let dir = ctx.config.state_dir.clone();
    let body = json!({"enabled": on, "provider": PROVIDER}).to_string();
    ctx.pool
        .run(move || crate::app::write_private(&dir, PREFS_FILE, body.as_bytes()))
        .await
        .map_err(|e| TtsError::Unavailable(e.to_string()))?
        .map_err(|e| TtsError::Unavailable(format!("cannot store TTS preferences: {e}")))
}

/// The message when no program is configured.
pub fn no_program() -> String {
    format!(
        "no text-to-speech program is configured (set [edge.tts] command or {})",
        crate::config::edge::KITTENTTS_ENV
    )
}

/// Reads the first bytes and the size of `path`.
fn head_of(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = Vec::with_capacity(256);
    f.take(256).read_to_end(&mut head)?;
    Ok((head, len))
}

/// Deletes all but the newest `keep` files of `dir` (names start with the time, so name order
/// is age order).
fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let n = names.len().saturating_sub(keep);
    for p in &names[..n] {
        let _ = std::fs::remove_file(p);
    }
}

/// Converts `text` to an audio file; see the module doc.
pub async fn convert(ctx: &Ctx, text: &str) -> Result<Converted, TtsError> {
    let text = text.trim();
    let l = &ctx.config.limits;
    if text.is_empty() {
        return Err(TtsError::Invalid("tts.convert requires text".into()));
    }
    if text.len() > l.tts_max_text_bytes {
        return Err(TtsError::Invalid(format!(
            "text is {} bytes, at most {} (limits.tts_max_text_bytes)",
            text.len(),
            l.tts_max_text_bytes
        )));
    }
    let cfg = &ctx.config.edge.tts;
    let Some(cmd) = &cfg.command else {
        return Err(TtsError::Unavailable(no_program()));
    };
    if !enabled(ctx).await {
        return Err(TtsError::Unavailable(
            "text-to-speech is disabled (tts.enable turns it on)".into(),
        ));
    }
    let dir = ctx.config.state_dir.join(DIR);
    let d = dir.clone();
    ctx.pool
        .run(move || std::fs::create_dir_all(&d))
        .await
        .map_err(|e| TtsError::Unavailable(e.to_string()))?
        .map_err(|e| TtsError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    let name = format!(
        "{:013}-{}.{}",
        crate::clock::now_ms(),
        crate::ids::hex(&crate::ids::random_bytes::<4>()),
        cfg.format
    );
    let out = dir.join(&name);
    let request = json!({"text": text, "voice": cfg.voice, "format": cfg.format,
                         "output": out.display().to_string()});
    let mut spec = super::jobs::spec_for(ctx, cmd, &request);
    spec.max_file_bytes = Some(l.tts_max_audio_bytes as u64 + 1);
    let (max, format, path) = (
        l.tts_max_audio_bytes as u64,
        cfg.format.clone(),
        out.clone(),
    );
    let stored_request = json!({"textBytes": text.len(), "voice": cfg.voice, "format": cfg.format,
                                "output": name});
    // The judge runs on the blocking pool after a clean exit: the file must exist, fit the cap
    // and be audio of the asked format; otherwise it is deleted and the job fails with why.
    let p = path.clone();
    let judge: super::jobs::Judge = Box::new(move |_| {
        let checked = head_of(&p)
            .map_err(|e| format!("the program wrote no audio file: {e}"))
            .and_then(|(head, len)| {
                if len > max {
                    return Err(format!(
                        "audio is {len} bytes, more than {max} (limits.tts_max_audio_bytes)"
                    ));
                }
                audio::check(&format, &head, len).map(|a| (a, len))
            });
        match checked {
            Ok((a, len)) => Ok(
                json!({"audioPath": p.display().to_string(), "format": a.format,
                                      "mimeType": a.mime, "bytes": len,
                                      "durationMs": a.duration_ms}),
            ),
            Err(e) => {
                let _ = std::fs::remove_file(&p);
                Err(e)
            }
        }
    });
    let outcome = super::jobs::run_job(ctx, "tts", stored_request, spec, judge)
        .await
        .map_err(|e| TtsError::Unavailable(e.to_string()))?;
    let (keep, d, p) = (l.tts_files_kept, dir.clone(), path.clone());
    let failed = outcome.status != "succeeded";
    let _ = ctx
        .pool
        .run(move || {
            if failed {
                let _ = std::fs::remove_file(&p);
            }
            prune(&d, keep);
        })
        .await;
    let r = match (outcome.status, &outcome.result) {
        ("succeeded", Some(r)) => r,
        _ => {
            return Err(TtsError::Unavailable(format!(
                "text-to-speech failed (job {}, {}): {}",
                outcome.id,
                outcome.status,
                outcome.error.as_deref().unwrap_or("no reason given")
            )));
        }
    };
    let audio = audio::of(r["format"].as_str().unwrap_or(""), r["durationMs"].as_u64())
        .ok_or_else(|| TtsError::Unavailable("the checked audio lost its format".into()))?;
    Ok(Converted {
        path,
        audio,
        bytes: r["bytes"].as_u64().unwrap_or(0),
        job_id: outcome.id,
    })
}
