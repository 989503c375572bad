//! `tts.*` (upstream names and shapes) over `edge::tts`, and the edge job methods
//! `edge.jobs.list|get|cancel` (edge extensions) over `store::edge_jobs`.
//!
//! The only provider is `kittentts`, the external program; `tts.setProvider` accepts only it
//! (upstream's cloud providers are not built here and are refused, not pretended). `auto` is
//! always `off`: replies are not spoken automatically; `tts.convert` and Telegram's `/tts speak`
//! are the ways to get audio.

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::{NoParams, parse_params};
use crate::edge::tts::{self, TtsError};
use crate::gateway::Ctx;

fn tts_err(e: TtsError) -> RpcError {
    match e {
        TtsError::Invalid(m) => RpcError::InvalidRequest(m),
        TtsError::Unavailable(m) => RpcError::Unavailable(m),
    }
}

/// `tts.status {}` → `{enabled, auto, provider, fallbackProvider, fallbackProviders, prefsPath,
/// configured, command, voice, format}`.
pub async fn status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("tts.status", params)?;
    let cfg = &ctx.config.edge.tts;
    Ok(json!({
        "enabled": tts::enabled(ctx).await,
        "auto": "off",
        "provider": tts::PROVIDER,
        "fallbackProvider": null,
        "fallbackProviders": [],
        "prefsPath": ctx.config.state_dir.join(tts::PREFS_FILE).display().to_string(),
        "configured": cfg.command.is_some(),
        "commandSource": cfg.command.as_ref().map(|c| c.source.clone()),
        "voice": cfg.voice,
        "format": cfg.format,
        "runningJobs": ctx.jobs.running(),
    }))
}

/// `tts.providers {}` → `{providers:[{id, name, configured, models, voices}], active}`.
pub async fn providers(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("tts.providers", params)?;
    let cfg = &ctx.config.edge.tts;
    Ok(json!({
        "providers": [{"id": tts::PROVIDER, "name": "KittenTTS (external program)",
                       "configured": cfg.command.is_some(), "models": [],
                       "voices": [cfg.voice]}],
        "active": tts::PROVIDER,
    }))
}

/// `tts.enable {}` / `tts.disable {}` → `{enabled}`.
pub async fn set_enabled(ctx: &Ctx, params: Option<Value>, on: bool) -> Result<Value, RpcError> {
    let _: NoParams = parse_params(if on { "tts.enable" } else { "tts.disable" }, params)?;
    tts::set_enabled(ctx, on).await.map_err(tts_err)?;
    Ok(json!({"enabled": on}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProviderParams {
    provider: String,
}

/// `tts.setProvider {provider}` → `{provider}`; only `kittentts` exists.
pub async fn set_provider(_ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ProviderParams = parse_params("tts.setProvider", params)?;
    if p.provider.trim() != tts::PROVIDER {
        return Err(RpcError::InvalidRequest(format!(
            "Invalid provider. Use {} (the only text-to-speech provider this gateway has).",
            tts::PROVIDER
        )));
    }
    Ok(json!({"provider": tts::PROVIDER}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConvertParams {
    text: String,
    channel: Option<String>,
}

/// `tts.convert {text, channel?}` → `{audioPath, provider, outputFormat, voiceCompatible,
/// mimeType, bytes, durationMs, jobId}`.
pub async fn convert(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ConvertParams = parse_params("tts.convert", params)?;
    let _ = p.channel;
    let c = tts::convert(ctx, &p.text).await.map_err(tts_err)?;
    Ok(json!({
        "audioPath": c.path.display().to_string(),
        "provider": tts::PROVIDER,
        "outputFormat": c.audio.format,
        "voiceCompatible": matches!(c.audio.format, "ogg" | "mp3"),
        "mimeType": c.audio.mime,
        "bytes": c.bytes,
        "durationMs": c.audio.duration_ms,
        "jobId": c.job_id,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListParams {
    kind: Option<String>,
    limit: Option<usize>,
}

/// Most jobs one `edge.jobs.list` returns.
pub const MAX_JOBS_PAGE: usize = 100;

/// `edge.jobs.list {kind?, limit?}` → `{jobs, running}`, newest first.
pub async fn jobs_list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ListParams = parse_params("edge.jobs.list", params)?;
    let limit = p.limit.unwrap_or(20).clamp(1, MAX_JOBS_PAGE);
    let kind = p.kind;
    let jobs = ctx
        .store
        .read(move |db| crate::store::edge_jobs::list(db, kind.as_deref(), limit))
        .await?;
    Ok(json!({"jobs": jobs, "running": ctx.jobs.running(),
              "maxRunning": ctx.config.limits.edge_max_jobs}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JobParams {
    id: String,
}

/// `edge.jobs.get {id}` → the job row.
pub async fn jobs_get(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: JobParams = parse_params("edge.jobs.get", params)?;
    let id = p.id.clone();
    ctx.store
        .read(move |db| crate::store::edge_jobs::get(db, &id))
        .await?
        .ok_or_else(|| RpcError::InvalidRequest(format!("no job {:?}", p.id)))
}

/// `edge.jobs.cancel {id}` → `{cancelled}`: kills a running job's process group.
pub async fn jobs_cancel(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: JobParams = parse_params("edge.jobs.cancel", params)?;
    if ctx.jobs.cancel(&p.id) {
        return Ok(json!({"id": p.id, "cancelled": true}));
    }
    let id = p.id.clone();
    match ctx
        .store
        .read(move |db| crate::store::edge_jobs::get(db, &id))
        .await?
    {
        Some(j) => Ok(json!({"id": p.id, "cancelled": false, "status": j["status"]})),
        None => Err(RpcError::InvalidRequest(format!("no job {:?}", p.id))),
    }
}
