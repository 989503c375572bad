//! Operator commands in Telegram chats: `/status`, `/model`, `/set api key`, `/reset`,
//! `/pairing`, `/tts`, `/help`.
//!
//! Only users in `channels.telegram.operators` run them; anyone else sending one of these names
//! is told so, and every other `/command` goes to the agent as text. The answers are plain text.
//! `/model <provider>/<model>` and `/reset` act on the chat's own session through the same code
//! as `sessions.patch` and `sessions.reset`. `/set api key <provider> <key>` deletes the message
//! first (a bot may delete messages in private chats and, as an admin, in groups; if it cannot,
//! the answer says so), then stores the key in `<state_dir>/provider-keys.json` (mode 0600) and
//! uses it from the next call on; the key is never echoed, logged or shown in any answer.
//! `/tts` switches text-to-speech and speaks through `edge::tts` (voice message or document).

use std::rc::Rc;

use serde_json::json;

use super::access::Command;
use super::api::Message;
use super::bridge::{Telegram, channel_json};
use super::{pairing, poll};
use crate::gateway::Ctx;

/// Names handled here (for the operator check).
const NAMES: &[&str] = &["status", "model", "set", "reset", "pairing", "tts", "help"];

/// What became of a command.
pub enum Outcome {
    /// Answer with this text; the agent is not involved.
    Reply(String),
    /// Not ours: the message goes to the agent.
    Agent,
}

/// Runs `cmd` when it is an operator command.
pub async fn run(
    ctx: &Rc<Ctx>,
    tg: &Rc<Telegram>,
    m: &Message,
    cmd: &Command,
    operator: bool,
    session_key: &str,
) -> Outcome {
    if !NAMES.contains(&cmd.name.as_str()) {
        return Outcome::Agent;
    }
    if !operator {
        return Outcome::Reply(format!(
            "/{} is an operator command; only the bot's operators can use it.",
            cmd.name
        ));
    }
    let args: Vec<&str> = cmd.args.split_whitespace().collect();
    Outcome::Reply(match cmd.name.as_str() {
        "status" => status(ctx, session_key).await,
        "model" => model(ctx, &args, session_key).await,
        "set" => set_key(ctx, tg, m, &args).await,
        "reset" => reset(ctx, session_key).await,
        "pairing" => pairing_cmd(ctx, &args).await,
        "tts" => tts(ctx, tg, m, cmd.args.trim()).await,
        _ => help(),
    })
}

fn help() -> String {
    "Operator commands:\n\
     /status - bridge, model and session state\n\
     /model list [provider] - models in the catalog\n\
     /model <provider>/<model> - use that model in this chat\n\
     /set api key <provider> <key> - store a provider key (your message is deleted)\n\
     /reset - start this chat's session afresh\n\
     /pairing list | approve CODE | reject CODE\n\
     /tts on|off|status|speak <text>"
        .into()
}

async fn status(ctx: &Rc<Ctx>, session_key: &str) -> String {
    let mut out = String::new();
    if let Some(c) = channel_json(ctx).await {
        let last = c["lastPollAt"]
            .as_u64()
            .map(|t| format!("{} s ago", crate::clock::now_ms().saturating_sub(t) / 1000))
            .unwrap_or_else(|| "never".into());
        out.push_str(&format!(
            "Bridge: {} (last poll {last}), {} updates, {} answered, {} chunks waiting\n",
            if c["healthy"] == true {
                "healthy"
            } else {
                "unhealthy"
            },
            c["updates"],
            c["answered"],
            c["outboxBacklog"]
        ));
        if let Some(e) = c["lastError"].as_str() {
            out.push_str(&format!("Last error: {e}\n"));
        }
    }
    let session = crate::rpc::sessions::describe(ctx, Some(json!({"key": session_key})))
        .await
        .ok();
    let model = session
        .as_ref()
        .and_then(|s| s["session"]["model"].as_str().map(str::to_string))
        .or_else(|| {
            ctx.config
                .models
                .primary()
                .map(|(p, m, _)| format!("{p}/{m}"))
        })
        .unwrap_or_else(|| "none configured".into());
    out.push_str(&format!("Model: {model}\nSession: {session_key}\n"));
    if let Some(s) = session {
        out.push_str(&format!(
            "Tokens so far: {}\n",
            s["session"]["totalTokens"].as_u64().unwrap_or(0)
        ));
    }
    out.push_str(&format!(
        "Runtime: openclaw-edge {}, up {} s",
        env!("CARGO_PKG_VERSION"),
        ctx.uptime_ms() / 1000
    ));
    out
}

async fn model(ctx: &Rc<Ctx>, args: &[&str], session_key: &str) -> String {
    match args {
        [] | ["list"] | ["list", _] => {
            let only = args.get(1).copied();
            let mut lines = Vec::new();
            for p in &ctx.config.models.providers {
                if only.is_some_and(|o| o != p.id) {
                    continue;
                }
                for m in &p.models {
                    lines.push(format!("{}/{}", p.id, m.id));
                }
            }
            if lines.is_empty() {
                return match only {
                    Some(o) => format!("No models for provider {o:?} in the catalog."),
                    None => "The catalog is empty.".into(),
                };
            }
            format!("Models:\n{}", lines.join("\n"))
        }
        [m] => {
            let known = m.split_once('/').is_some_and(|(p, id)| {
                ctx.config.models.providers.iter().any(|c| {
                    c.id == p && (c.models.is_empty() || c.models.iter().any(|x| x.id == id))
                })
            });
            if !known {
                return format!("Model not changed: {m} is not in the catalog (see /model list).");
            }
            let params = json!({"key": session_key, "model": m});
            match crate::rpc::sessions::patch(ctx, Some(params)).await {
                Ok(_) => format!("This chat now uses {m}."),
                Err(e) => format!("Model not changed: {e}"),
            }
        }
        _ => "Usage: /model list [provider] or /model <provider>/<model>".into(),
    }
}

async fn reset(ctx: &Rc<Ctx>, session_key: &str) -> String {
    match crate::rpc::sessions::reset(ctx, Some(json!({"key": session_key}))).await {
        Ok(_) => "Session reset: the next message starts a fresh conversation.".into(),
        Err(e) => format!("Reset failed: {e}"),
    }
}

async fn pairing_cmd(ctx: &Rc<Ctx>, args: &[&str]) -> String {
    match args {
        [] | ["list"] => match pairing::list(ctx).await {
            Ok(v) => {
                let reqs = v["requests"].as_array().cloned().unwrap_or_default();
                if reqs.is_empty() {
                    return "No pairing requests are waiting.".into();
                }
                let lines: Vec<String> = reqs
                    .iter()
                    .map(|r| {
                        format!(
                            "{} - {} (user {}), until {}",
                            r["requestId"].as_str().unwrap_or(""),
                            r["senderLabel"].as_str().unwrap_or(""),
                            r["senderId"].as_str().unwrap_or(""),
                            r["expiresAt"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                format!("Pairing requests:\n{}", lines.join("\n"))
            }
            Err(e) => format!("Cannot list pairing requests: {e}"),
        },
        ["approve", code] => match pairing::approve(ctx, code, true).await {
            Ok(v) => format!(
                "Approved user {} (notification: {}).",
                v["senderId"].as_str().unwrap_or(""),
                v["notification"].as_str().unwrap_or("")
            ),
            Err(e) => format!("Not approved: {e}"),
        },
        ["reject", code] => match pairing::dismiss(ctx, code).await {
            Ok(v) => format!(
                "Rejected the request of user {}.",
                v["senderId"].as_str().unwrap_or("")
            ),
            Err(e) => format!("Not rejected: {e}"),
        },
        _ => "Usage: /pairing list | approve CODE | reject CODE".into(),
    }
}

/// `/tts status|on|off|speak <text>`: the same switch as `tts.enable|disable`; `speak` makes
/// audio with `tts.convert` and uploads it: a voice message for Ogg or MP3 audio (what
/// `sendVoice` plays), a document for WAV/FLAC.
async fn tts(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, m: &Message, args: &str) -> String {
    use crate::edge::tts as speech;
    let (verb, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    match verb {
        "" | "status" => {
            let on = speech::enabled(ctx).await;
            match &ctx.config.edge.tts.command {
                None => format!("TTS: off ({}).", speech::no_program()),
                Some(_) => format!(
                    "TTS: {} (provider {}, voice {}, {}).",
                    if on { "on" } else { "off" },
                    speech::PROVIDER,
                    ctx.config.edge.tts.voice,
                    ctx.config.edge.tts.format
                ),
            }
        }
        "on" | "off" => match speech::set_enabled(ctx, verb == "on").await {
            Ok(()) => format!("TTS is {verb}."),
            Err(e) => format!("Cannot turn TTS {verb}: {e}."),
        },
        "speak" => {
            let c = match speech::convert(ctx, rest).await {
                Ok(c) => c,
                Err(e) => return format!("Cannot speak: {e}."),
            };
            let (ep, chat, path) = (tg.ep.clone(), m.chat.id, c.path.clone());
            let voice = matches!(c.audio.format, "ogg" | "mp3");
            let mime = c.audio.mime;
            let sent = ctx
                .pool
                .run(move || {
                    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let how = if voice {
                        ("sendVoice", "voice")
                    } else {
                        ("sendDocument", "document")
                    };
                    poll::send_file(&ep, how, chat, (&name, mime, &bytes))
                        .map_err(|e| e.to_string())
                })
                .await;
            match sent.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(_) if voice => "Sent as a voice message.".into(),
                Ok(_) => format!(
                    "Sent as a {} file: Telegram plays only Ogg/Opus or MP3 as voice messages.",
                    c.audio.format
                ),
                Err(e) => format!("The audio was made but could not be sent: {e}"),
            }
        }
        _ => "Usage: /tts on|off|status|speak <text>".into(),
    }
}

/// `/set api key <provider> <key>`: the message is deleted before anything else.
async fn set_key(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, m: &Message, args: &[&str]) -> String {
    let deleted = {
        let (ep, chat, mid) = (tg.ep.clone(), m.chat.id, m.message_id);
        match ctx
            .pool
            .run(move || poll::delete_message(&ep, chat, mid))
            .await
        {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                log::warn!("telegram: cannot delete a /set api key message: {e}");
                false
            }
            Err(e) => {
                log::warn!("telegram: cannot delete a /set api key message: {e}");
                false
            }
        }
    };
    let note = if deleted {
        "I deleted your message."
    } else {
        "I could not delete your message: please delete it yourself."
    };
    let (provider, key) = match args {
        ["api", "key", provider, key] => (provider.to_string(), key.to_string()),
        _ => {
            return format!("Usage: /set api key <provider> <key>. {note}");
        }
    };
    let Some(providers) = &ctx.agent.providers else {
        return format!("No model providers run in this gateway; key not stored. {note}");
    };
    if !ctx.config.models.providers.iter().any(|p| p.id == provider) {
        return format!("No provider {provider:?} is configured; key not stored. {note}");
    }
    let dir = ctx.config.state_dir.clone();
    let (p2, k2) = (provider.clone(), key.clone());
    let saved = ctx
        .pool
        .run(move || crate::providers::keys::save(&dir, &p2, &k2))
        .await;
    match saved {
        Ok(Ok(())) => {
            providers.set_key(&provider, crate::config::Secret::new(key.clone()));
            ctx.agent.redactor.borrow_mut().add(&key);
            log::info!("telegram: API key for provider {provider} replaced by an operator");
            format!("API key for {provider} stored; it is used from the next request. {note}")
        }
        Ok(Err(e)) => {
            log::error!("telegram: cannot store an API key: {e}");
            format!("Key not stored (could not write the key file; see the gateway log). {note}")
        }
        Err(e) => format!("Key not stored: {e}. {note}"),
    }
}
