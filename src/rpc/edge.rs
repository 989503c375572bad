//! Edge methods that report what this box really has: `edge.acceleration.status` (CPU model and
//! features, cores, memory, GPU/NPU device nodes) and `edge.enclave.status` (TPM, SEV guest, SGX
//! and IMA availability). The facts come from `edge::host`, read on the blocking pool at each call.
//! Other `edge.*` names are not advertised and answer "unknown method" until they can give real
//! answers (see README "Edge methods").

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
