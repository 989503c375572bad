//! Edge jobs: configured external programs run through `edge::run`, persisted, bounded and
//! cancellable.
//!
//! `run_job` is the one way TTS, attestation and the like start a program. It refuses at once
//! when `limits.edge_max_jobs` programs already run (`JobError::Busy`: shed, never queued),
//! stores a `running` row (`store::edge_jobs`), runs the program with `spec_for`'s bounds (the
//! configured absolute program and fixed arguments, no shell; `PATH` fixed and only
//! `[edge] envAllow` variables passed on; the request as JSON on stdin; the command's timeout
//! with a process-group kill; `limits.edge_output_bytes` of output kept), and races it against
//! `cancel`: a cancelled job's future is dropped, which kills its process group. The caller's
//! `judge` turns a clean exit into the job's result (or an error, e.g. "not audio"); the row is
//! then finished with the result or error and the last `limits.edge_job_log_bytes` of each
//! stream. The caller awaits the outcome; nothing here blocks the executor or other requests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::{EdgeError, RunOutput, RunSpec};
use crate::config::edge::ExternalCommand;
use crate::gateway::Ctx;
use crate::store::edge_jobs::{self, Finish};

/// Running jobs: the count and each one's kind and cancel handle.
#[derive(Default)]
pub struct Jobs {
    running: Cell<usize>,
    cancels: RefCell<HashMap<String, (String, smol::channel::Sender<()>)>>,
}

impl Jobs {
    /// Programs running now.
    pub fn running(&self) -> usize {
        self.running.get()
    }

    /// The id of a running job of `kind`, if one runs.
    pub fn running_of(&self, kind: &str) -> Option<String> {
        self.cancels
            .borrow()
            .iter()
            .find(|(_, (k, _))| k == kind)
            .map(|(id, _)| id.clone())
    }

    /// Cancels a running job; `false` when no job of that id runs here.
    pub fn cancel(&self, id: &str) -> bool {
        match self.cancels.borrow().get(id) {
            Some((_, tx)) => tx.try_send(()).is_ok() || tx.is_full(),
            None => false,
        }
    }
}

/// Why a job did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// `edge_max_jobs` programs already run.
    Busy {
        /// The limit.
        cap: usize,
    },
    /// The job row could not be stored.
    Store(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Busy { cap } => write!(
                f,
                "busy: {cap} external programs already run (limits.edge_max_jobs); try again later"
            ),
            JobError::Store(e) => write!(f, "cannot record the job: {e}"),
        }
    }
}

/// A finished job: its id, final status and result or error.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Job id (`edge.jobs.get`).
    pub id: String,
    /// `succeeded | failed | timeout | cancelled`.
    pub status: &'static str,
    /// What `judge` made of a clean exit.
    pub result: Option<Value>,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// Counts a running job and removes its cancel handle however the job ends.
struct Running<'a> {
    jobs: &'a Jobs,
    id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.jobs
            .running
            .set(self.jobs.running.get().saturating_sub(1));
        self.jobs.cancels.borrow_mut().remove(&self.id);
    }
}

/// The environment external programs get: `PATH` and the allowed variables that are set.
pub fn child_env(ctx: &Ctx) -> Vec<(String, String)> {
    let mut env = vec![("PATH".to_string(), super::EXEC_PATH.to_string())];
    for name in &ctx.config.edge.env_allow {
        if let Ok(v) = std::env::var(name) {
            env.push((name.clone(), v));
        }
    }
    env
}

/// The run of `cmd` with `stdin` (JSON) under the configured bounds.
pub fn spec_for(ctx: &Ctx, cmd: &ExternalCommand, stdin: &Value) -> RunSpec {
    RunSpec {
        program: cmd.argv[0].clone().into(),
        args: cmd.argv[1..].to_vec(),
        cwd: Some(ctx.config.state_dir.clone()),
        env: child_env(ctx),
        timeout: Duration::from_secs(cmd.timeout_secs),
        max_output_bytes: ctx.config.limits.edge_output_bytes,
        stdin: Some(stdin.to_string().into_bytes()),
        keep_tail: false,
        max_file_bytes: None,
        lines: None,
    }
}

/// The last `max` bytes of `s`, at a character boundary.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// What a clean exit's output means: the result, or why it is not one. Runs on the blocking
/// pool, so it may read the files the program wrote.
pub type Judge = Box<dyn FnOnce(&RunOutput) -> Result<Value, String> + Send + 'static>;

/// Runs one job to its end; see the module doc.
pub async fn run_job(
    ctx: &Ctx,
    kind: &str,
    request: Value,
    spec: RunSpec,
    judge: Judge,
) -> Result<Outcome, JobError> {
    Ok(start(ctx, kind, request).await?.run(spec, judge).await)
}

/// A job whose row is stored and which counts against `edge_max_jobs`, its program not yet
/// started: `run` it, or `fail` it when what it needs could not be prepared.
pub struct Started<'a> {
    /// Job id (`edge.jobs.get`).
    pub id: String,
    ctx: &'a Ctx,
    cancel: smol::channel::Receiver<()>,
    _running: Running<'a>,
}

/// Counts a job of `kind` as running and stores its row; refused at once (`Busy`) at
/// `edge_max_jobs`.
pub async fn start<'a>(ctx: &'a Ctx, kind: &str, request: Value) -> Result<Started<'a>, JobError> {
    let cap = ctx.config.limits.edge_max_jobs;
    if ctx.jobs.running.get() >= cap {
        return Err(JobError::Busy { cap });
    }
    let id = format!("job-{}", crate::ids::hex(&crate::ids::random_bytes::<8>()));
    // Counted before the first await, so concurrent callers cannot both pass the check.
    ctx.jobs.running.set(ctx.jobs.running.get() + 1);
    let (tx, rx) = smol::channel::bounded::<()>(1);
    ctx.jobs
        .cancels
        .borrow_mut()
        .insert(id.clone(), (kind.to_string(), tx));
    let running = Running {
        jobs: &ctx.jobs,
        id: id.clone(),
    };
    let (jid, k, keep, now) = (
        id.clone(),
        kind.to_string(),
        ctx.config.limits.edge_jobs_kept,
        crate::clock::now_ms(),
    );
    ctx.store
        .write(move |db| edge_jobs::start(db, &jid, &k, &request, now, keep))
        .await
        .map_err(|e| JobError::Store(e.to_string()))?;
    Ok(Started {
        id,
        ctx,
        cancel: rx,
        _running: running,
    })
}

impl Started<'_> {
    /// Runs the program and finishes the row with what `judge` makes of it.
    pub async fn run(self, spec: RunSpec, judge: Judge) -> Outcome {
        self.run_alongside(spec, judge, async {}).await
    }

    /// `run`, with `alongside` (e.g. a reader of `RunSpec::lines`) driven next to the program
    /// and awaited before the row is finished (dropped if the job is cancelled).
    pub async fn run_alongside(
        self,
        spec: RunSpec,
        judge: Judge,
        alongside: impl std::future::Future<Output = ()>,
    ) -> Outcome {
        let ctx = self.ctx;
        let timeout_secs = spec.timeout.as_secs();
        let rx = self.cancel.clone();
        let ran = smol::future::or(
            async { Some(smol::future::zip(super::run(spec), alongside).await.0) },
            async {
                let _ = rx.recv().await;
                None
            },
        )
        .await;
        let verdict = match &ran {
            Some(Ok(out)) if !out.timed_out && out.code == Some(0) => {
                let out = out.clone();
                Some(
                    ctx.pool
                        .run(move || judge(&out))
                        .await
                        .map_err(|e| format!("could not check the output: {e}"))
                        .and_then(|r| r),
                )
            }
            _ => None,
        };
        let finish = judge_run(
            ran,
            verdict,
            timeout_secs,
            ctx.config.limits.edge_job_log_bytes,
        );
        self.finish(finish).await
    }

    /// Finishes the row `failed` with `error`, without running anything.
    pub async fn fail(self, error: String) -> Outcome {
        self.finish(Finish {
            status: "failed",
            error: Some(error),
            ..Finish::default()
        })
        .await
    }

    async fn finish(self, finish: Finish) -> Outcome {
        let outcome = Outcome {
            id: self.id.clone(),
            status: finish.status,
            result: finish.result.clone(),
            error: finish.error.clone(),
        };
        let jid = self.id.clone();
        let stored = self
            .ctx
            .store
            .write(move |db| edge_jobs::finish(db, &jid, &finish, crate::clock::now_ms()))
            .await;
        if let Err(e) = stored {
            log::warn!(
                "edge: job {} ended {} but its row could not be updated: {e}",
                self.id,
                outcome.status
            );
        }
        outcome
    }
}

/// Turns a run (or a cancellation: `None`) and the judge's verdict on a clean exit into the
/// row's final state.
fn judge_run(
    ran: Option<Result<RunOutput, EdgeError>>,
    verdict: Option<Result<Value, String>>,
    timeout_secs: u64,
    log: usize,
) -> Finish {
    let mut f = Finish {
        status: "failed",
        ..Finish::default()
    };
    let out = match ran {
        None => {
            f.status = "cancelled";
            f.error = Some("cancelled by request; its process group was killed".into());
            return f;
        }
        Some(Err(e)) => {
            f.error = Some(e.to_string());
            return f;
        }
        Some(Ok(out)) => out,
    };
    f.exit_code = out.code;
    f.signal = out.signal;
    f.truncated = out.truncated;
    f.stdout_tail = tail(&out.stdout, log);
    f.stderr_tail = tail(&out.stderr, log);
    let last_line = |s: &str| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| tail(l.trim(), 300))
            .unwrap_or_default()
    };
    if out.timed_out {
        f.status = "timeout";
        f.error = Some(format!(
            "killed after {timeout_secs} s (the whole process group)"
        ));
    } else if out.code != Some(0) {
        f.error = Some(match (out.code, out.signal) {
            (Some(c), _) => format!("exited with code {c}: {}", last_line(&out.stderr)),
            (None, Some(s)) => format!("ended by signal {s}: {}", last_line(&out.stderr)),
            _ => "ended without an exit status".into(),
        });
    } else {
        match verdict {
            Some(Ok(v)) => {
                f.status = "succeeded";
                f.result = Some(v);
            }
            Some(Err(e)) => f.error = Some(e),
            None => f.error = Some("the output was not checked".into()),
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: Option<i32>, stdout: &str, timed_out: bool) -> RunOutput {
        RunOutput {
            code,
            signal: if timed_out { Some(9) } else { None },
            stdout: stdout.into(),
            stderr: "line one\nboom: disk full\n\n".into(),
            truncated: false,
            timed_out,
            duration_ms: 1,
        }
    }

    #[test]
    fn runs_are_judged_into_statuses() {
        let json = serde_json::json!({"a": 1});
        let ok = judge_run(
            Some(Ok(out(Some(0), "", false))),
            Some(Ok(json.clone())),
            5,
            100,
        );
        assert_eq!((ok.status, ok.result), ("succeeded", Some(json)));
        let garbage = judge_run(
            Some(Ok(out(Some(0), "\u{1}garbage", false))),
            Some(Err("not JSON".into())),
            5,
            100,
        );
        assert_eq!(garbage.status, "failed");
        assert_eq!(garbage.error.as_deref(), Some("not JSON"));
        let bad = judge_run(Some(Ok(out(Some(3), "", false))), None, 5, 100);
        assert_eq!(
            bad.error.as_deref(),
            Some("exited with code 3: boom: disk full")
        );
        let slow = judge_run(Some(Ok(out(None, "", true))), None, 5, 100);
        assert_eq!(slow.status, "timeout");
        let cancelled = judge_run(None, None, 5, 100);
        assert_eq!(cancelled.status, "cancelled");
        assert_eq!(tail("héllo", 4), "llo");
    }
}
