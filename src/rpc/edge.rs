//! Edge methods on this box and its external programs: `edge.acceleration.status` (CPU model
//! and features, cores, memory, GPU/NPU device nodes) and `edge.enclave.status` (TPM, SEV guest,
//! SGX and IMA availability), read from `edge::host` on the blocking pool at each call;
//! `edge.enclave.prove` (the attestation program and its verifier) and `edge.voice.transcribe`
//! (the configured transcriber), both run as edge jobs. The fine-tune is `rpc::finetune`, the
//! plans `rpc::router` and `rpc::edge_plan`; names of the reference runtime's edge list that
//! could only give made-up answers are not advertised (README "Edge methods").

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::{NoParams, parse_params};
use crate::gateway::Ctx;

/// `edge.acceleration.status {}` → `{arch, cpu, memory, devices, accelerated, ts}`.
pub async fn acceleration_status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("edge.acceleration.status", params)?;
    let mut v = ctx
        .pool
        .run(|| crate::edge::host::probe_acceleration(std::path::Path::new("/")))
        .await?;
    v["ts"] = json!(crate::clock::now_ms());
    Ok(v)
}

/// `edge.enclave.status {}` → `{tpm, sevGuest, sgx, ima, lastProof, proveAvailable, ts}`:
/// `lastProof` is the newest succeeded `edge.enclave.prove` job's result (`null` if none).
pub async fn enclave_status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("edge.enclave.status", params)?;
    let mut v = ctx
        .pool
        .run(|| crate::edge::host::probe_enclave(std::path::Path::new("/")))
        .await?;
    let last = ctx
        .store
        .read(|db| crate::store::edge_jobs::last_succeeded(db, "attest"))
        .await?;
    v["lastProof"] = last.map_or(Value::Null, |j| {
        json!({"jobId": j["id"], "at": j["finishedAt"], "verified": j["result"]["verified"],
               "verification": j["result"]["verification"],
               "statementSha256": j["result"]["statementSha256"]})
    });
    v["proveAvailable"] = json!(ctx.config.edge.attest.command.is_some());
    v["verifierConfigured"] = json!(ctx.config.edge.attest.verify.is_some());
    v["ts"] = json!(crate::clock::now_ms());
    Ok(v)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProveParams {
    nonce: String,
}

/// SHA-256 of a file, read in 64 KiB chunks (never whole into memory).
fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(crate::ids::hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// `edge.enclave.prove {nonce}` → `{jobId, statement, statementSha256, quote, format, verified,
/// verification}`. The statement (nonce, this binary's SHA-256, the config's SHA-256, time) goes
/// to the attestation program as JSON on stdin; its stdout must be JSON `{quote, format?}`.
/// `verified` is true only when the configured verifier program accepted the quote (exit 0);
/// without a verifier it is `false` with `verification: "unverified"`.
pub async fn enclave_prove(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    use sha2::{Digest, Sha256};
    let p: ProveParams = parse_params("edge.enclave.prove", params)?;
    let nonce = p.nonce.trim().to_string();
    if !(8..=256).contains(&nonce.len())
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+/=.".contains(&b))
    {
        return Err(RpcError::InvalidRequest(
            "nonce must be 8-256 characters of A-Z a-z 0-9 - _ + / = .".into(),
        ));
    }
    let a = &ctx.config.edge.attest;
    let Some(cmd) = &a.command else {
        return Err(RpcError::Unavailable(format!(
            "no attestation program is configured (set [edge.attest] command or {})",
            crate::config::edge::ATTEST_ENV
        )));
    };
    let binary = ctx
        .pool
        .run(|| {
            let exe = std::fs::read_link("/proc/self/exe")?;
            sha256_file(&exe)
        })
        .await?
        .map_err(|e| RpcError::Unavailable(format!("cannot hash this binary: {e}")))?;
    let config_text = ctx
        .config
        .raw
        .clone()
        .unwrap_or_else(|| ctx.config.to_public_json().to_string());
    let statement = json!({
        "nonce": nonce,
        "binarySha256": binary,
        "configSha256": crate::ids::hex(&Sha256::digest(config_text.as_bytes())),
        "ts": crate::clock::now_ms(),
        "runtime": "openclaw-edge",
        "version": env!("CARGO_PKG_VERSION"),
    });
    let statement_sha = crate::ids::hex(&Sha256::digest(statement.to_string().as_bytes()));
    let request = json!({"statement": statement, "statementSha256": statement_sha});
    let spec = crate::edge::jobs::spec_for(ctx, cmd, &request);
    let judge: crate::edge::jobs::Judge = Box::new(|out| {
        let v: Value = serde_json::from_str(out.stdout.trim())
            .map_err(|e| format!("the attestation program did not print JSON: {e}"))?;
        match v.get("quote").and_then(Value::as_str) {
            Some(q) if !q.is_empty() => Ok(json!({"quote": q,
                "format": v.get("format").and_then(Value::as_str).unwrap_or("unknown")})),
            _ => Err("the attestation program printed no \"quote\"".into()),
        }
    });
    let made = crate::edge::jobs::run_job(ctx, "attest-quote", request.clone(), spec, judge)
        .await
        .map_err(|e| RpcError::Unavailable(e.to_string()))?;
    let quote = match (made.status, made.result) {
        ("succeeded", Some(q)) => q,
        (status, _) => {
            return Err(RpcError::Unavailable(format!(
                "attestation failed (job {}, {status}): {}",
                made.id,
                made.error.unwrap_or_default()
            )));
        }
    };
    // Verification: only a configured verifier can say `verified`.
    let (verified, verification) = match &a.verify {
        None => (false, json!("unverified: no verifier is configured")),
        Some(vcmd) => {
            let vreq = json!({"statement": statement, "statementSha256": statement_sha,
                              "quote": quote["quote"], "format": quote["format"]});
            let spec = crate::edge::jobs::spec_for(ctx, vcmd, &vreq);
            let v = crate::edge::jobs::run_job(
                ctx,
                "attest-verify",
                json!({"statementSha256": statement_sha}),
                spec,
                Box::new(|_| Ok(json!({"accepted": true}))),
            )
            .await
            .map_err(|e| RpcError::Unavailable(e.to_string()))?;
            if v.status == "succeeded" {
                (true, json!("verified"))
            } else {
                (
                    false,
                    json!(format!(
                        "unverified: the verifier refused ({}): {}",
                        v.status,
                        v.error.unwrap_or_default()
                    )),
                )
            }
        }
    };
    let proof = json!({"statement": statement, "statementSha256": statement_sha,
                       "quote": quote["quote"], "format": quote["format"],
                       "verified": verified, "verification": verification});
    // The proof is stored as its own finished job row, the one `lastProof` reads.
    let (id, keep, now) = (
        format!(
            "proof-{}",
            crate::ids::hex(&crate::ids::random_bytes::<8>())
        ),
        ctx.config.limits.edge_jobs_kept,
        crate::clock::now_ms(),
    );
    let (pid, stored) = (id.clone(), proof.clone());
    ctx.store
        .write(move |db| {
            crate::store::edge_jobs::start(
                db,
                &pid,
                "attest",
                &json!({"nonce": stored["statement"]["nonce"]}),
                now,
                keep,
            )?;
            let f = crate::store::edge_jobs::Finish {
                status: "succeeded",
                exit_code: Some(0),
                result: Some(stored),
                ..Default::default()
            };
            crate::store::edge_jobs::finish(db, &pid, &f, now)
        })
        .await?;
    let mut out = proof;
    out["jobId"] = json!(id);
    out["quoteJobId"] = json!(made.id);
    Ok(out)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TranscribeParams {
    #[serde(alias = "audio")]
    audio_base64: Option<String>,
    #[serde(alias = "path")]
    audio_path: Option<String>,
}

/// Directories under the state dir whose audio `edge.voice.transcribe {audioPath}` may read.
const TRANSCRIBE_DIRS: [&str; 2] = ["tts", "media"];

/// The audio of `audioPath` (a file in one of `TRANSCRIBE_DIRS`) or `audioBase64` (written to
/// `<state_dir>/media/` for the run; the returned flag says to delete it after), checked to be
/// audio no larger than `max`.
fn transcribe_input(
    state_dir: &std::path::Path,
    p: TranscribeParams,
    max: usize,
) -> Result<(std::path::PathBuf, crate::edge::audio::Audio, u64, bool), String> {
    use std::io::Read;
    match (p.audio_base64, p.audio_path) {
        (Some(b64), None) => {
            let bytes =
                crate::ids::base64_decode(b64.trim()).ok_or("audioBase64 is not valid base64")?;
            if bytes.len() > max {
                return Err(format!("the audio is {} bytes; at most {max}", bytes.len()));
            }
            let a = crate::edge::audio::sniff(&bytes).ok_or("audioBase64 is not audio")?;
            let a = crate::edge::audio::check(
                a.format,
                &bytes[..bytes.len().min(64)],
                bytes.len() as u64,
            )?;
            let dir = state_dir.join("media");
            let path = dir.join(format!(
                "transcribe-{}.{}",
                crate::ids::hex(&crate::ids::random_bytes::<6>()),
                a.format
            ));
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&path, &bytes))
                .map_err(|e| format!("cannot store the audio: {e}"))?;
            Ok((path, a, bytes.len() as u64, true))
        }
        (None, Some(path)) => {
            let real =
                std::fs::canonicalize(&path).map_err(|e| format!("audioPath {path:?}: {e}"))?;
            let allowed = TRANSCRIBE_DIRS.iter().any(|d| {
                std::fs::canonicalize(state_dir.join(d)).is_ok_and(|dir| real.starts_with(dir))
            });
            if !allowed {
                return Err(format!(
                    "audioPath must be a file under <state_dir>/{} (e.g. a tts.convert output)",
                    TRANSCRIBE_DIRS.join(" or <state_dir>/")
                ));
            }
            let mut f = std::fs::File::open(&real).map_err(|e| format!("audioPath: {e}"))?;
            let len = f.metadata().map_err(|e| format!("audioPath: {e}"))?.len();
            if len > max as u64 {
                return Err(format!("the audio is {len} bytes; at most {max}"));
            }
            let mut head = [0u8; 64];
            let n = f.read(&mut head).map_err(|e| format!("audioPath: {e}"))?;
            let a = crate::edge::audio::sniff(&head[..n])
                .ok_or_else(|| format!("{path} is not audio"))?;
            let a = crate::edge::audio::check(a.format, &head[..n], len)?;
            Ok((real, a, len, false))
        }
        _ => Err("give exactly one of audioBase64 and audioPath".into()),
    }
}

/// `edge.voice.transcribe {audioBase64 | audioPath}` → `{text, truncated, jobId, audio,
/// transcriber}`: the configured transcriber (`[edge.voice] command`, else
/// `channels.telegram.transcribeCommand`) run as an edge job with the audio file's path as its
/// last argument; its stdout is the text. No transcriber: `UNAVAILABLE`, never a made-up text.
pub async fn voice_transcribe(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: TranscribeParams = parse_params("edge.voice.transcribe", params)?;
    let Some(cmd) = ctx.config.edge.voice.clone() else {
        return Err(RpcError::Unavailable(
            "no transcriber is configured (set [edge.voice] command or \
             channels.telegram.transcribeCommand)"
                .into(),
        ));
    };
    let (dir, max) = (
        ctx.config.state_dir.clone(),
        ctx.config.limits.telegram_max_file_bytes,
    );
    let (path, audio, bytes, temporary) = ctx
        .pool
        .run(move || transcribe_input(&dir, p, max))
        .await?
        .map_err(|e| RpcError::InvalidRequest(format!("edge.voice.transcribe: {e}")))?;
    let request = json!({"audioPath": path.display().to_string(), "format": audio.format,
                         "bytes": bytes});
    let made = crate::edge::voice::transcribe(ctx, &cmd, &path, request).await;
    if temporary {
        let _ = ctx.pool.run(move || std::fs::remove_file(path)).await;
    }
    let made = made.map_err(|e| RpcError::Unavailable(e.to_string()))?;
    match (made.status, made.result) {
        ("succeeded", Some(mut r)) => {
            r["jobId"] = json!(made.id);
            r["audio"] = json!({"format": audio.format, "mimeType": audio.mime, "bytes": bytes,
                                "durationMs": audio.duration_ms});
            r["transcriber"] = json!(cmd.source);
            Ok(r)
        }
        (status, _) => Err(RpcError::Unavailable(format!(
            "transcription failed (job {}, {status}): {}",
            made.id,
            made.error.unwrap_or_default()
        ))),
    }
}
