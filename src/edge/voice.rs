//! Transcription: the configured transcriber run as a `transcribe` edge job.
//!
//! The contract (the one `channels.telegram.transcribeCommand` has always had): the configured
//! program and arguments, then the audio file's path; stdout is the text. Empty stdout is a
//! failure ("printed no text"), never an empty transcript. Both `edge.voice.transcribe` and
//! Telegram voice notes come through here, so transcriptions count against `edge_max_jobs`,
//! are shed with "busy" past it, and show in `edge.jobs.list`.

use std::path::Path;

use serde_json::{Value, json};

use super::jobs::{self, JobError, Outcome};
use crate::config::edge::ExternalCommand;
use crate::gateway::Ctx;

/// Job kind of a transcription.
pub const KIND: &str = "transcribe";

/// Runs `cmd` on the audio at `path`; a success's result is `{text, truncated}`. `request` is
/// what the job row records about the input.
pub async fn transcribe(
    ctx: &Ctx,
    cmd: &ExternalCommand,
    path: &Path,
    request: Value,
) -> Result<Outcome, JobError> {
    let mut spec = jobs::spec_for(ctx, cmd, &Value::Null);
    spec.stdin = None;
    spec.args.push(path.display().to_string());
    let judge: jobs::Judge = Box::new(|out| {
        let text = out.stdout.trim();
        if text.is_empty() {
            return Err("the transcriber printed no text".into());
        }
        Ok(json!({"text": text, "truncated": out.truncated}))
    });
    jobs::run_job(ctx, KIND, request, spec, judge).await
}
