//! `edge.finetune.*`: plan and run a fine-tune of a local model on this agent's own transcripts.
//!
//! `edge.finetune.run {dryRun: true}` (the default) exports nothing: it measures the training set
//! the transcripts give (`edge::finetune::export` into a sink) and returns the plan — dataset
//! figures, training settings, the trainer command line — and whether it could run (`ready`).
//! With `dryRun: false` a job is stored (kind `finetune`, one at a time, counting against
//! `edge_max_jobs`), the set is exported to `<state_dir>/finetune/<jobId>/dataset.jsonl` with a
//! `manifest.json`, and the answer comes back as soon as the trainer starts; the trainer runs in
//! the background with `--model --adapter --rank --epochs --lr --max-samples --dataset --output`
//! after the configured arguments, the manifest on stdin and the run directory as its working
//! directory. Its JSON progress lines become the job's `progress` (written at most every
//! `PROGRESS_WRITE_MS`); it succeeds only if it exits 0 having written at least one file to
//! `adapter/`. `edge.finetune.status`, `edge.finetune.job.get` and `edge.finetune.cancel` read
//! and stop those jobs.

use std::rc::Rc;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::{NoParams, parse_params};
use crate::edge::finetune::{self, ExportOpts, ExportStats};
use crate::edge::jobs;
use crate::gateway::Ctx;

/// Job kind of a fine-tune run.
pub const KIND: &str = "finetune";
/// Least time between two progress writes of one job.
pub const PROGRESS_WRITE_MS: u64 = 500;
/// Jobs `edge.finetune.status` lists.
const STATUS_JOBS: usize = 20;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RunParams {
    dry_run: Option<bool>,
    #[serde(alias = "baseModel")]
    model: Option<String>,
    provider: Option<String>,
    adapter_name: Option<String>,
    epochs: Option<u32>,
    rank: Option<u32>,
    learning_rate: Option<f64>,
    max_samples: Option<usize>,
    sessions: Option<Vec<String>>,
}

/// Checked settings of one run.
struct Plan {
    model: Option<String>,
    provider: Option<String>,
    adapter: String,
    epochs: u32,
    rank: u32,
    lr: f64,
    opts: ExportOpts,
}

fn bad(msg: String) -> RpcError {
    RpcError::InvalidRequest(format!("invalid edge.finetune.run params: {msg}"))
}

/// A value passed to the trainer as an argument: no leading `-`, no control characters.
fn arg_value(name: &str, v: &str, max: usize) -> Result<String, RpcError> {
    let v = v.trim();
    if v.is_empty() || v.len() > max || v.starts_with('-') || v.chars().any(char::is_control) {
        return Err(bad(format!(
            "{name} must be 1-{max} bytes, not start with '-' and hold no control characters"
        )));
    }
    Ok(v.to_string())
}

fn plan_of(ctx: &Ctx, p: RunParams) -> Result<Plan, RpcError> {
    let l = &ctx.config.limits;
    let model = match p
        .model
        .or_else(|| ctx.config.edge.finetune.base_model.clone())
    {
        Some(m) => Some(arg_value("model", &m, 256)?),
        None => None,
    };
    let provider = p
        .provider
        .map(|v| arg_value("provider", &v, 64))
        .transpose()?;
    let adapter = match p.adapter_name {
        Some(a) => {
            if a.is_empty()
                || a.len() > 96
                || a.starts_with(['-', '.'])
                || !a
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(bad(
                    "adapterName must be 1-96 of A-Z a-z 0-9 - _ . and not start with - or ."
                        .into(),
                ));
            }
            a
        }
        None => format!("edge-lora-{}", crate::clock::now_ms()),
    };
    let epochs = p.epochs.unwrap_or(3);
    if !(1..=100).contains(&epochs) {
        return Err(bad(format!("epochs must be 1-100, got {epochs}")));
    }
    let rank = p.rank.unwrap_or(16);
    if !(1..=1024).contains(&rank) {
        return Err(bad(format!("rank must be 1-1024, got {rank}")));
    }
    let lr = p.learning_rate.unwrap_or(2e-4);
    if !(lr.is_finite() && lr > 0.0 && lr <= 1.0) {
        return Err(bad(format!("learningRate must be in (0, 1], got {lr}")));
    }
    let max_samples = p.max_samples.unwrap_or(l.finetune_max_samples);
    if !(1..=l.finetune_max_samples).contains(&max_samples) {
        return Err(bad(format!(
            "maxSamples must be 1-{} (limits.finetune_max_samples), got {max_samples}",
            l.finetune_max_samples
        )));
    }
    let sessions = p.sessions.unwrap_or_default();
    if sessions.len() > finetune::MAX_SESSION_KEYS || sessions.iter().any(|k| k.is_empty()) {
        return Err(bad(format!(
            "sessions must be at most {} non-empty session keys",
            finetune::MAX_SESSION_KEYS
        )));
    }
    Ok(Plan {
        model,
        provider,
        adapter,
        epochs,
        rank,
        lr,
        opts: ExportOpts {
            sessions,
            max_samples,
            max_bytes: l.finetune_max_dataset_bytes,
        },
    })
}

/// The trainer's full command line for `plan` with the run directory `dir`.
fn argv_of(ctx: &Ctx, plan: &Plan, dir: &str) -> Option<Vec<String>> {
    let cmd = ctx.config.edge.finetune.command.as_ref()?;
    let mut argv = cmd.argv.clone();
    let model = plan.model.clone().unwrap_or_else(|| "<model>".into());
    for (flag, v) in [
        ("--model", model),
        ("--adapter", plan.adapter.clone()),
        ("--rank", plan.rank.to_string()),
        ("--epochs", plan.epochs.to_string()),
        ("--lr", format!("{}", plan.lr)),
        ("--max-samples", plan.opts.max_samples.to_string()),
        ("--dataset", format!("{dir}/dataset.jsonl")),
        ("--output", format!("{dir}/adapter")),
    ] {
        argv.push(flag.into());
        argv.push(v);
    }
    if let Some(p) = &plan.provider {
        argv.push("--provider".into());
        argv.push(p.clone());
    }
    Some(argv)
}

fn training_json(plan: &Plan) -> Value {
    json!({"baseModel": plan.model, "provider": plan.provider, "adapterName": plan.adapter,
           "epochs": plan.epochs, "rank": plan.rank, "learningRate": plan.lr,
           "maxSamples": plan.opts.max_samples})
}

fn trainer_json(ctx: &Ctx) -> Value {
    let c = &ctx.config.edge.finetune;
    json!({
        "configured": c.command.is_some(),
        "source": c.command.as_ref().map(|c| c.source.clone()),
        "timeoutSecs": c.command.as_ref().map(|c| c.timeout_secs),
        "baseModel": c.base_model,
        "env": crate::config::edge::TRAINER_ENV,
    })
}

/// Exports the training set of `opts` into `path` (or only measures it, with `None`) in store
/// jobs of `finetune::STEP_MESSAGES` messages, secrets scrubbed by the defender.
async fn export(
    ctx: &Ctx,
    opts: ExportOpts,
    path: Option<std::path::PathBuf>,
) -> Result<ExportStats, String> {
    let out: Box<dyn std::io::Write + Send> = match path {
        None => Box::new(std::io::sink()),
        Some(p) => {
            let made = ctx
                .pool
                .run(move || {
                    std::fs::File::create(&p)
                        .map_err(|e| format!("cannot write the dataset {}: {e}", p.display()))
                })
                .await;
            Box::new(std::io::BufWriter::new(made.map_err(|e| e.to_string())??))
        }
    };
    let mut ex = finetune::Export::new(opts, out);
    loop {
        let pipeline = Arc::clone(&ctx.agent.defender.pipeline);
        let stepped = ctx
            .store
            .read(move |db| {
                let scrub = |t: &str| pipeline.scrub_secrets(t);
                let done = ex.step(db, &scrub, finetune::STEP_MESSAGES);
                Ok((ex, done))
            })
            .await
            .map_err(|e| format!("cannot read the transcripts: {e}"))?;
        ex = stepped.0;
        if stepped.1.map_err(|e| e.to_string())? {
            break;
        }
    }
    ctx.pool
        .run(move || ex.finish())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// `edge.finetune.run` (see the module doc).
pub async fn run(ctx: &Rc<Ctx>, params: Option<Value>) -> Result<Value, RpcError> {
    let p: RunParams = parse_params("edge.finetune.run", params)?;
    let dry_run = p.dry_run.unwrap_or(true);
    let plan = plan_of(ctx, p)?;
    if dry_run {
        let stats = export(ctx, plan.opts.clone(), None)
            .await
            .map_err(RpcError::Unavailable)?;
        let mut not_ready = Vec::new();
        if ctx.config.edge.finetune.command.is_none() {
            not_ready.push(format!(
                "no trainer is configured ([edge.finetune] command or {})",
                crate::config::edge::TRAINER_ENV
            ));
        }
        if plan.model.is_none() {
            not_ready.push("no base model (pass model, or set [edge.finetune] baseModel)".into());
        }
        if stats.examples == 0 {
            not_ready.push("the transcripts hold no answered exchange to train on".into());
        }
        return Ok(json!({
            "ok": true,
            "dryRun": true,
            "ready": not_ready.is_empty(),
            "notReady": not_ready,
            "dataset": stats.to_json(&plan.opts),
            "training": training_json(&plan),
            "trainer": trainer_json(ctx),
            "argv": argv_of(ctx, &plan, &format!("<state_dir>/{}/<jobId>", finetune::RUNS_DIR)),
        }));
    }
    let Some(cmd) = ctx.config.edge.finetune.command.clone() else {
        return Err(RpcError::Unavailable(format!(
            "no trainer is configured (set [edge.finetune] command or {})",
            crate::config::edge::TRAINER_ENV
        )));
    };
    if plan.model.is_none() {
        return Err(bad(
            "model is required (or set [edge.finetune] baseModel)".into()
        ));
    }
    let (tx, rx) = smol::channel::bounded::<Result<Value, RpcError>>(1);
    let task_ctx = Rc::clone(ctx);
    ctx.ex
        .spawn(async move { drive(&task_ctx, plan, cmd, tx).await })
        .detach();
    rx.recv()
        .await
        .unwrap_or_else(|_| Err(RpcError::Internal("the fine-tune task ended early".into())))
}

/// Stores the job, exports the set, answers the caller through `answer`, then runs the trainer
/// to its end.
async fn drive(
    ctx: &Ctx,
    plan: Plan,
    cmd: crate::config::edge::ExternalCommand,
    answer: smol::channel::Sender<Result<Value, RpcError>>,
) {
    // Checked here, with no await before `start` counts the job, so two runs cannot both pass.
    if let Some(id) = ctx.jobs.running_of(KIND) {
        let _ = answer.try_send(Err(RpcError::Unavailable(format!(
            "busy: fine-tune job {id} is running (one at a time); cancel it or wait"
        ))));
        return;
    }
    let request = training_json(&plan);
    let started = match jobs::start(ctx, KIND, request).await {
        Ok(s) => s,
        Err(e) => {
            let _ = answer.try_send(Err(RpcError::Unavailable(e.to_string())));
            return;
        }
    };
    let id = started.id.clone();
    let root = ctx.config.state_dir.join(finetune::RUNS_DIR);
    let dir = root.join(&id);
    let (keep, r2, d2, me) = (
        ctx.config.limits.finetune_runs_kept,
        root.clone(),
        dir.clone(),
        id.clone(),
    );
    let made = ctx
        .pool
        .run(move || {
            finetune::prune_runs(&r2, keep, &[me]);
            std::fs::create_dir_all(d2.join("adapter"))
        })
        .await;
    if !matches!(made, Ok(Ok(()))) {
        let why = format!("cannot create the run directory {}", dir.display());
        let _ = answer.try_send(Err(RpcError::Unavailable(format!("{why} (job {id})"))));
        started.fail(why).await;
        return;
    }
    let refused = match export(ctx, plan.opts.clone(), Some(dir.join("dataset.jsonl"))).await {
        Ok(s) if s.examples > 0 => Ok(s),
        Ok(_) => Err((
            true,
            "the transcripts hold no answered exchange to train on".to_string(),
        )),
        Err(why) => Err((false, why)),
    };
    let stats = match refused {
        Ok(s) => s,
        Err((invalid, why)) => {
            // Nothing to keep: the directory goes, the job row says why.
            let d = dir.clone();
            let _ = ctx.pool.run(move || std::fs::remove_dir_all(d)).await;
            let msg = format!("{why} (job {id})");
            let _ = answer.try_send(Err(if invalid {
                RpcError::InvalidRequest(msg)
            } else {
                RpcError::Unavailable(msg)
            }));
            started.fail(why).await;
            return;
        }
    };
    let dir_s = dir.display().to_string();
    let mut argv = argv_of(ctx, &plan, &dir_s).unwrap_or_default();
    let dataset = stats.to_json(&plan.opts);
    let manifest = json!({
        "jobId": id, "createdAt": crate::clock::now_ms(), "runtime": "openclaw-edge",
        "version": env!("CARGO_PKG_VERSION"), "profile": ctx.config.profile.as_str(),
        "training": training_json(&plan),
        "dataset": {"path": format!("{dir_s}/dataset.jsonl"), "stats": dataset},
        "adapterDir": format!("{dir_s}/adapter"), "argv": argv,
    });
    let body = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let d3 = dir.clone();
    let _ = ctx
        .pool
        .run(move || std::fs::write(d3.join("manifest.json"), body))
        .await;
    let mut spec = jobs::spec_for(ctx, &cmd, &manifest);
    spec.args = argv.split_off(1);
    spec.cwd = Some(dir.clone());
    spec.keep_tail = true;
    let (ltx, lrx) = smol::channel::bounded::<String>(64);
    spec.lines = Some(ltx);
    let _ = answer.try_send(Ok(json!({
        "ok": true, "dryRun": false, "jobId": id, "status": "running", "runDir": dir_s,
        "dataset": dataset, "training": training_json(&plan), "argv": manifest["argv"],
        "timeoutSecs": cmd.timeout_secs,
    })));
    let adapter = dir.join("adapter");
    let judge: jobs::Judge = Box::new(move |out| {
        let files = finetune::adapter_files(&adapter)?;
        Ok(
            json!({"adapterDir": adapter.display().to_string(), "files": files,
                  "lastProgress": finetune::last_progress(&out.stdout, crate::clock::now_ms()),
                  "examples": stats.examples, "datasetSha256": stats.sha256,
                  "durationMs": out.duration_ms}),
        )
    });
    let outcome = started
        .run_alongside(spec, judge, progress(ctx, &id, lrx))
        .await;
    log::info!(
        "edge: fine-tune job {id} ended {}{}",
        outcome.status,
        outcome.error.map(|e| format!(": {e}")).unwrap_or_default()
    );
}

/// Stores the trainer's newest progress line, at most every `PROGRESS_WRITE_MS`, and the last
/// one when its output ends.
async fn progress(ctx: &Ctx, id: &str, lines: smol::channel::Receiver<String>) {
    let mut last_write = 0u64;
    let mut pending: Option<Value> = None;
    loop {
        let line = lines.recv().await.ok();
        let now = crate::clock::now_ms();
        if let Some(p) = line
            .as_deref()
            .and_then(|l| finetune::parse_progress(l, now))
        {
            pending = Some(p);
        }
        let due = now.saturating_sub(last_write) >= PROGRESS_WRITE_MS || line.is_none();
        if let Some(p) = pending.take_if(|_| due) {
            let jid = id.to_string();
            let _ = ctx
                .store
                .write(move |db| crate::store::edge_jobs::progress(db, &jid, &p))
                .await;
            last_write = now;
        }
        if line.is_none() {
            return;
        }
    }
}

/// `edge.finetune.status {}` → `{trainer, running, jobs (newest 20), counts (by status, of the
/// newest 100), limits, runsDir}`.
pub async fn status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("edge.finetune.status", params)?;
    let all = ctx
        .store
        .read(|db| crate::store::edge_jobs::list(db, Some(KIND), 100))
        .await?;
    let mut counts = serde_json::Map::new();
    for j in &all {
        let s = j["status"].as_str().unwrap_or("unknown").to_string();
        let n = counts.get(&s).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(s, json!(n + 1));
    }
    let l = &ctx.config.limits;
    let jobs: Vec<Value> = all
        .into_iter()
        .take(STATUS_JOBS)
        .map(|j| {
            json!({"jobId": j["id"], "status": j["status"], "createdAt": j["createdAt"],
                   "finishedAt": j["finishedAt"], "progress": j["progress"], "error": j["error"],
                   "adapterName": j["request"]["adapterName"],
                   "baseModel": j["request"]["baseModel"]})
        })
        .collect();
    Ok(json!({
        "trainer": trainer_json(ctx),
        "running": ctx.jobs.running_of(KIND),
        "jobs": jobs,
        "counts": counts,
        "limits": {"maxSamples": l.finetune_max_samples,
                   "maxDatasetBytes": l.finetune_max_dataset_bytes,
                   "runsKept": l.finetune_runs_kept},
        "runsDir": ctx.config.state_dir.join(finetune::RUNS_DIR).display().to_string(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JobParams {
    #[serde(alias = "id")]
    job_id: String,
}

/// The fine-tune job `id`'s row, or a clear error.
async fn job_row(ctx: &Ctx, method: &str, params: Option<Value>) -> Result<Value, RpcError> {
    let p: JobParams = parse_params(method, params)?;
    let id = p.job_id.clone();
    ctx.store
        .read(move |db| crate::store::edge_jobs::get(db, &id))
        .await?
        .filter(|j| j["kind"] == KIND)
        .ok_or_else(|| RpcError::InvalidRequest(format!("no fine-tune job {:?}", p.job_id)))
}

/// `edge.finetune.job.get {jobId}` → the job row plus `jobId` and `runDir`.
pub async fn job_get(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let mut j = job_row(ctx, "edge.finetune.job.get", params).await?;
    let id = j["id"].as_str().unwrap_or_default().to_string();
    j["jobId"] = json!(id);
    j["runDir"] = json!(
        ctx.config
            .state_dir
            .join(finetune::RUNS_DIR)
            .join(&id)
            .display()
            .to_string()
    );
    Ok(j)
}

/// `edge.finetune.cancel {jobId}` → `{jobId, cancelled, status}`: kills a running trainer's
/// process group (the row then reads `cancelled`).
pub async fn cancel(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let j = job_row(ctx, "edge.finetune.cancel", params).await?;
    let id = j["id"].as_str().unwrap_or_default().to_string();
    if ctx.jobs.cancel(&id) {
        return Ok(json!({"jobId": id, "cancelled": true, "status": "cancelling"}));
    }
    Ok(json!({"jobId": id, "cancelled": false, "status": j["status"]}))
}
