//! Voice notes and files from Telegram: size-capped downloads, transcription, text files.
//!
//! Nothing is fetched past `limits.telegram_max_file_bytes`: the size Telegram states in the
//! message and in `getFile` is checked first, and the download itself stops one byte past the
//! cap. A voice note goes to `channels.telegram.transcribeCommand` (else `[edge.voice]`: an
//! absolute program plus fixed arguments; the audio file's path is appended) as a `transcribe`
//! edge job (`edge::voice`: `transcribeTimeoutSecs`, `edge_output_bytes`, counted against
//! `edge_max_jobs` and answered "try again" past it); its stdout is the text the agent gets. With
//! no transcriber configured the user is told so, honestly, and nothing is downloaded. A file is
//! read as UTF-8 text (its first `MAX_FILE_TEXT` bytes go to the agent, with its name); any other
//! file is answered with what was not done. Audio is kept in `<state_dir>/media/` only while the
//! transcriber runs.

use std::path::PathBuf;
use std::rc::Rc;

use super::api::Message;
use super::bridge::Telegram;
use super::poll::{self, FileError};
use crate::gateway::Ctx;

/// Bytes of a text file passed to the agent.
pub const MAX_FILE_TEXT: usize = 32 * 1024;

/// What a voice note or file becomes: text for the agent, or an answer for the user.
pub type Prepared = Result<String, String>;

fn too_large(cap: usize, size: Option<u64>) -> String {
    match size {
        Some(n) => format!(
            "That file is {} KiB; this bot accepts at most {} KiB.",
            n.div_ceil(1024),
            cap / 1024
        ),
        None => format!(
            "That file is larger than this bot accepts ({} KiB).",
            cap / 1024
        ),
    }
}

async fn fetch(ctx: &Ctx, tg: &Telegram, file_id: &str) -> Result<Vec<u8>, String> {
    let cap = ctx.config.limits.telegram_max_file_bytes;
    let (ep, id) = (tg.ep.clone(), file_id.to_string());
    match ctx
        .pool
        .run(move || poll::download(&ep, &id, cap as u64))
        .await
    {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(FileError::TooLarge(n))) => Err(too_large(cap, n)),
        Ok(Err(FileError::Call(e))) => {
            log::warn!("telegram: file download failed: {e}");
            Err("I could not download that file from Telegram; please try again.".into())
        }
        Err(e) => Err(format!("I could not download that file right now: {e}")),
    }
}

/// Turns a voice note or a document into text for the agent (with the caption, if any).
pub async fn prepare(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, m: &Message, caption: &str) -> Prepared {
    let cap = ctx.config.limits.telegram_max_file_bytes;
    if let Some(v) = &m.voice {
        if v.file_size.is_some_and(|n| n > cap as u64) {
            return Err(too_large(cap, v.file_size));
        }
        let cmd = &tg.cfg.transcribe_command;
        if cmd.is_empty() {
            return Err(
                "I cannot listen to voice notes here: no transcription program is \
                        configured (channels.telegram.transcribeCommand). Please send text."
                    .into(),
            );
        }
        let audio = fetch(ctx, tg, &v.file_id).await?;
        let text = transcribe(ctx, tg, m.message_id, audio).await?;
        return Ok(join(caption, &text));
    }
    if let Some(d) = &m.document {
        let name = d.file_name.clone().unwrap_or_else(|| "file".into());
        if d.file_size.is_some_and(|n| n > cap as u64) {
            return Err(too_large(cap, d.file_size));
        }
        let bytes = fetch(ctx, tg, &d.file_id).await?;
        let cut = bytes.len().min(MAX_FILE_TEXT);
        // A cut inside a UTF-8 sequence is not binary: drop up to three trailing bytes.
        let text = (0..4)
            .filter_map(|k| std::str::from_utf8(&bytes[..cut.saturating_sub(k)]).ok())
            .next()
            .filter(|t| !t.contains('\0'));
        let Some(text) = text else {
            return Err(format!(
                "I can only read text files; {name} ({}) was not read.",
                d.mime_type.as_deref().unwrap_or("unknown type")
            ));
        };
        let more = if bytes.len() > cut {
            format!(
                "\n[only the first {} KiB of {} KiB]",
                cut / 1024,
                bytes.len() / 1024
            )
        } else {
            String::new()
        };
        return Ok(join(
            caption,
            &format!("File {name}:\n```\n{text}\n```{more}"),
        ));
    }
    Err("Please send text.".into())
}

fn join(caption: &str, body: &str) -> String {
    if caption.trim().is_empty() {
        body.to_string()
    } else {
        format!("{}\n\n{body}", caption.trim())
    }
}

async fn transcribe(ctx: &Ctx, tg: &Telegram, message_id: i64, audio: Vec<u8>) -> Prepared {
    let dir = ctx.config.state_dir.join("media");
    let path: PathBuf = dir.join(format!(
        "voice-{message_id}-{}.ogg",
        crate::ids::hex(&crate::ids::random_bytes::<4>())
    ));
    let p2 = path.clone();
    let written = ctx
        .pool
        .run(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&p2, &audio)
        })
        .await;
    if !matches!(written, Ok(Ok(()))) {
        log::warn!("telegram: cannot store a voice note for transcription");
        return Err(
            "I could not store your voice note for transcription; please send text.".into(),
        );
    }
    let cmd = crate::config::edge::ExternalCommand {
        argv: tg.cfg.transcribe_command.clone(),
        source: "channels.telegram.transcribeCommand".into(),
        timeout_secs: tg.cfg.transcribe_timeout_secs,
    };
    let request = serde_json::json!({"audioPath": path.display().to_string(), "format": "ogg",
                                     "channel": "telegram", "messageId": message_id});
    let made = crate::edge::voice::transcribe(ctx, &cmd, &path, request).await;
    let p3 = path.clone();
    let _ = ctx.pool.run(move || std::fs::remove_file(p3)).await;
    let made = match made {
        Ok(m) => m,
        Err(e) => {
            log::warn!("telegram: transcription not started: {e}");
            return Err(match e {
                crate::edge::jobs::JobError::Busy { .. } => {
                    "Too many programs are running right now; please try again in a minute \
                     or send text."
                }
                crate::edge::jobs::JobError::Store(_) => {
                    "The transcription program could not run; please send text."
                }
            }
            .into());
        }
    };
    match (made.status, made.result) {
        ("succeeded", Some(r)) => Ok(r["text"].as_str().unwrap_or_default().to_string()),
        ("timeout", _) => {
            Err("Transcription took too long and was stopped; please send text.".into())
        }
        (status, _) => {
            log::warn!(
                "telegram: transcription job {} {status}: {}",
                made.id,
                made.error.unwrap_or_default()
            );
            Err("The transcription program failed on your voice note; please send text.".into())
        }
    }
}
