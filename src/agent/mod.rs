//! Agent runtime: what one scheduled turn does, as the scheduler's `Executor`.
//!
//! A run emits `agent` lifecycle events and `chat` events (PROTOCOL.md §8: per-run `seq` from 1,
//! cumulative `delta` text with `replace:true`, then `final`/`error`/`aborted`), stores the
//! assistant message and the token usage the run reported, and marks the session row's run status.
//!
//! `agent.runtime` picks what a run does:
//! - `provider` (set by `[agent] model`): `turn.rs` calls the model providers, with retries,
//!   failover and the tool loop (`tools.rs`, gated by `defender`, approvals in `approval.rs`).
//! - `none` (default without a model): the run ends at once with a `chat` error saying no
//!   provider is configured; the user's message is stored, nothing is invented.
//! - `test-double`: for tests and load benchmarks only. It waits `agent.test_delay_ms` (reading
//!   steering messages meanwhile) and answers a fixed text that starts with `[test-double]`, with
//!   token counts estimated as bytes/4 and recorded under provider and model `test-double`.
//!
//! Every run's outcome goes to `runs.rs` (for `agent` finals and `agent.wait`).
//! Holds a `Weak<Ctx>`: the scheduler lives in the `Ctx`, so a strong reference would be a cycle.

pub mod approval;
pub mod embed;
pub mod memory;
pub mod persona;
pub mod runs;
pub mod tools;
mod turn;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Config, Runtime};
use crate::defender::gate::Defender;
use crate::defender::redact::Redactor;
use crate::gateway::Ctx;
use crate::pool::Pool;
use crate::providers::Providers;
use crate::scheduler::{EndReason, Executor, SteerInbox, Turn};
use crate::store::{messages, sessions as rows, usage};

/// Provider and model name the test double records its usage under.
pub const TEST_DOUBLE: &str = "test-double";

/// Agent runtime state kept in the gateway context.
pub struct State {
    /// Provider workers (only with `agent.runtime = "provider"`).
    pub providers: Option<Providers>,
    /// Finished runs, for `agent` finals and `agent.wait`.
    pub runs: runs::RunLog,
    /// Pending exec approvals.
    pub approvals: approval::Approvals,
    /// The defender: every tool call, tool output and inbound prompt passes it.
    pub defender: Defender,
    /// Secrets to keep out of tool output, transcripts and events (keys set at run time join).
    pub redactor: RefCell<Redactor>,
    /// What the built-in tools need.
    pub tool_env: tools::ToolEnv,
    /// Memory embeddings: background (re-)embedding state.
    pub embedder: embed::Embedder,
    /// The default agent's memory counters as of the last memory write (for `health` and
    /// `status` without a store round trip); `None` until first read.
    pub memory_stats: std::cell::Cell<Option<crate::memory::Stats>>,
    /// The active persona (applied to the system prompt; `edge.personality.profile`).
    pub persona: persona::Active,
}

impl State {
    /// Builds the state from the config.
    pub fn new(config: &Config, pool: Pool, providers: Option<Providers>) -> State {
        let l = &config.limits;
        let mut secrets: Vec<String> = config.models.secrets().map(str::to_string).collect();
        if let Some(s) = &config.auth.secret {
            secrets.push(s.expose().to_string());
        }
        State {
            providers,
            runs: runs::RunLog::new(l.run_results),
            approvals: approval::Approvals::new(l.max_pending_approvals),
            defender: Defender::new(config),
            redactor: RefCell::new(Redactor::from_env(secrets)),
            tool_env: tools::ToolEnv {
                cfg: Rc::new(config.tools.clone()),
                limits: l.clone(),
                pool,
            },
            embedder: embed::Embedder::default(),
            memory_stats: std::cell::Cell::new(None),
            persona: persona::Active::new(&config.agent),
        }
    }
}

/// The executor the scheduler hands turns to.
pub struct Runner {
    ctx: Weak<Ctx>,
    runtime: Runtime,
}

impl Runner {
    /// A runner for the gateway behind `ctx`.
    pub fn new(ctx: Weak<Ctx>, runtime: Runtime) -> Runner {
        Runner { ctx, runtime }
    }
}

impl Executor for Runner {
    fn run(&self, turn: Turn, steer: SteerInbox) -> Pin<Box<dyn Future<Output = ()>>> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            if let Some(ctx) = ctx.upgrade() {
                run_turn(&ctx, turn, steer).await;
            }
        })
    }

    fn supports_steer(&self) -> bool {
        // Provider runs take no steering mid-call; steer messages queue as follow-ups.
        self.runtime == Runtime::TestDouble
    }

    fn ended(&self, turn: &Turn, reason: EndReason) {
        let Some(ctx) = self.ctx.upgrade() else {
            return;
        };
        let ev = Events::new(&ctx, turn);
        let (status, payload) = match reason {
            EndReason::TimedOut => (
                "timeout",
                json!({"state": "error", "errorKind": "timeout",
                       "errorMessage": format!("run timed out after {} ms", turn.timeout.as_millis())}),
            ),
            EndReason::Interrupted => (
                "killed",
                json!({"state": "aborted", "stopReason": "interrupted"}),
            ),
            _ => (
                "killed",
                json!({"state": "aborted", "stopReason": "aborted"}),
            ),
        };
        let error = payload.get("errorMessage").cloned();
        ev.chat(payload);
        ev.lifecycle(json!({"phase": if reason == EndReason::TimedOut { "error" } else { "end" }, "reason": reason.as_str()}));
        let wait_status = if reason == EndReason::TimedOut {
            "timeout"
        } else {
            "error"
        };
        record(
            &ctx,
            turn,
            json!({"status": wait_status, "error": error.unwrap_or_else(|| json!(reason.as_str())),
                   "endedAt": crate::clock::now_ms(), "summary": reason.as_str()}),
        );
        let (key, run_id) = (turn.session_key.clone(), turn.run_id.clone());
        let task_ctx = Rc::clone(&ctx);
        ctx.ex
            .spawn(async move {
                let now = crate::clock::now_ms();
                let k = key.clone();
                let _ = task_ctx
                    .store
                    .write(move |db| rows::set_run(db, &k, &run_id, status, now))
                    .await;
                crate::rpc::sessions::changed(&task_ctx, &key, "run", None);
            })
            .detach();
    }
}

/// Records a run's outcome (for the run and every run merged into it).
fn record(ctx: &Ctx, turn: &Turn, outcome: Value) {
    for run_id in std::iter::once(&turn.run_id).chain(&turn.merged) {
        let mut o = outcome.clone();
        o["runId"] = json!(run_id);
        o["sessionKey"] = json!(turn.session_key);
        ctx.agent.runs.finish(run_id, o);
    }
}

/// Per-run event emitter: `chat` and `agent` events with their own `seq` counters.
pub(crate) struct Events<'a> {
    ctx: &'a Ctx,
    turn: &'a Turn,
    chat_seq: Cell<u64>,
    agent_seq: Cell<u64>,
}

impl<'a> Events<'a> {
    fn new(ctx: &'a Ctx, turn: &'a Turn) -> Self {
        Events {
            ctx,
            turn,
            chat_seq: Cell::new(0),
            agent_seq: Cell::new(0),
        }
    }

    /// A `chat` event for the run and every run merged into it.
    fn chat(&self, fields: Value) {
        let seq = self.chat_seq.get() + 1;
        self.chat_seq.set(seq);
        for run_id in std::iter::once(&self.turn.run_id).chain(&self.turn.merged) {
            let mut p = json!({
                "runId": run_id,
                "sessionKey": self.turn.session_key,
                "agentId": self.turn.agent_id,
                "seq": seq,
            });
            if let (Value::Object(p), Value::Object(f)) = (&mut p, &fields) {
                p.extend(f.clone());
            }
            self.ctx.hub.emit_run_event("chat", &p);
        }
    }

    /// The run id.
    fn run_id(&self) -> &str {
        &self.turn.run_id
    }

    /// A `chat` delta carrying the whole text so far (upstream: cumulative, `replace:true`).
    fn delta(&self, text: &str) {
        for run_id in std::iter::once(&self.turn.run_id).chain(&self.turn.merged) {
            self.ctx.agent.runs.draft(run_id, text);
        }
        let message = json!({"role": "assistant", "content": [{"type": "text", "text": text}],
                             "timestamp": crate::clock::now_ms()});
        self.chat(
            json!({"state": "delta", "deltaText": text, "replace": true, "message": message}),
        );
    }

    /// An `agent` lifecycle event.
    fn lifecycle(&self, data: Value) {
        self.agent("lifecycle", data);
    }

    /// An `agent` event on `stream` (`lifecycle`, `tool`, …).
    fn agent(&self, stream: &str, data: Value) {
        let seq = self.agent_seq.get() + 1;
        self.agent_seq.set(seq);
        let p = json!({
            "runId": self.turn.run_id,
            "seq": seq,
            "stream": stream,
            "ts": crate::clock::now_ms(),
            "data": data,
            "sessionKey": self.turn.session_key,
            "agentId": self.turn.agent_id,
            "isHeartbeat": false,
        });
        self.ctx.hub.emit_run_event("agent", &p);
    }
}

async fn run_turn(ctx: &Rc<Ctx>, turn: Turn, steer: SteerInbox) {
    let ev = Events::new(ctx, &turn);
    let started = crate::clock::now_ms();
    ev.lifecycle(json!({"phase": "start", "startedAt": started}));
    let (key, run_id) = (turn.session_key.clone(), turn.run_id.clone());
    let _ = ctx
        .store
        .write(move |db| rows::set_run(db, &key, &run_id, "running", started))
        .await;
    match ctx.config.agent.runtime {
        Runtime::None => {
            let msg = "no model provider is configured: this build has no provider support yet \
                       (agent.runtime = \"none\")";
            ev.chat(json!({"state": "error", "errorMessage": msg, "errorKind": "unknown"}));
            ev.lifecycle(json!({"phase": "error", "startedAt": started,
                                "endedAt": crate::clock::now_ms(), "error": msg}));
            finish(ctx, &turn, "failed", None).await;
            record(
                ctx,
                &turn,
                json!({"status": "error", "error": msg, "startedAt": started,
                                      "endedAt": crate::clock::now_ms(), "summary": "failed"}),
            );
        }
        Runtime::Provider => provider_turn(ctx, &turn, &ev, started).await,
        Runtime::TestDouble => {
            let delay = Duration::from_millis(ctx.config.agent.test_delay_ms);
            let mut steered = 0usize;
            let wait = async {
                while steer.recv().await.is_some() {
                    steered += 1;
                }
            };
            let _ = crate::clock::within(delay, wait).await;
            let text = format!(
                "[test-double] no model: received {} bytes{}",
                turn.text.len(),
                if steered > 0 {
                    format!(", {steered} steering message(s)")
                } else {
                    String::new()
                }
            );
            let now = crate::clock::now_ms();
            let message = json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": now});
            let usage = usage::UsageRecord {
                ts: now,
                session_key: turn.session_key.clone(),
                agent_id: turn.agent_id.clone(),
                run_id: Some(turn.run_id.clone()),
                provider: TEST_DOUBLE.into(),
                model: TEST_DOUBLE.into(),
                input_tokens: turn.text.len().div_ceil(4) as u64,
                output_tokens: text.len().div_ceil(4) as u64,
                duration_ms: now.saturating_sub(started),
                ..Default::default()
            };
            let usage_json = json!({"input": usage.input_tokens, "output": usage.output_tokens,
                                    "totalTokens": usage.input_tokens + usage.output_tokens});
            ev.chat(
                json!({"state": "delta", "deltaText": text, "replace": true, "message": message}),
            );
            finish(ctx, &turn, "done", Some((message.clone(), usage))).await;
            ev.chat(json!({"state": "final", "message": message, "usage": usage_json, "stopReason": "stop"}));
            ev.lifecycle(
                json!({"phase": "end", "startedAt": started, "endedAt": crate::clock::now_ms()}),
            );
            record(
                ctx,
                &turn,
                json!({"status": "ok", "startedAt": started, "endedAt": crate::clock::now_ms(),
                                      "summary": "completed", "text": text,
                                      "provider": TEST_DOUBLE, "model": TEST_DOUBLE}),
            );
        }
    }
}

/// A provider-backed run: `turn.rs` does the work; this stores and reports the outcome.
async fn provider_turn(ctx: &Rc<Ctx>, turn: &Turn, ev: &Events<'_>, started: u64) {
    let o = turn::run(ctx, turn, ev).await;
    let now = crate::clock::now_ms();
    let (provider, model) = o
        .answered_by
        .as_ref()
        .map(|c| (c.provider.clone(), c.model.clone()))
        .unwrap_or_default();
    let usage_json = json!({"input": o.usage.input, "output": o.usage.output,
                            "cacheRead": o.usage.cache_read,
                            "totalTokens": o.usage.input + o.usage.output, "estimated": o.estimated});
    if let Some((msg, kind)) = &o.error {
        ev.chat(
            json!({"state": "error", "errorMessage": msg, "errorKind": kind,
                       "errorDetail": {"attempts": o.attempts}}),
        );
        ev.lifecycle(
            json!({"phase": "error", "startedAt": started, "endedAt": now,
                            "error": msg, "attempts": o.attempts}),
        );
        let usage = (o.usage.input + o.usage.output > 0 && o.answered_by.is_some())
            .then(|| usage_record(turn, &provider, &model, &o, started, now));
        finish_usage_only(ctx, turn, usage).await;
        record(
            ctx,
            turn,
            json!({"status": "error", "error": msg, "errorKind": kind, "startedAt": started,
                                 "endedAt": now, "summary": "failed", "attempts": o.attempts}),
        );
        return;
    }
    let message = json!({"role": "assistant", "content": [{"type": "text", "text": o.text}],
                         "timestamp": now, "provider": provider, "model": model,
                         "stopReason": o.stop_reason});
    let usage = usage_record(turn, &provider, &model, &o, started, now);
    finish(ctx, turn, "done", Some((message.clone(), usage))).await;
    if o.memory {
        memory::remember(ctx, turn, &o.text).await;
    }
    ev.chat(
        json!({"state": "final", "message": message, "usage": usage_json,
                   "stopReason": o.stop_reason.as_deref().unwrap_or("stop")}),
    );
    ev.lifecycle(
        json!({"phase": "end", "startedAt": started, "endedAt": crate::clock::now_ms(),
                        "provider": provider, "model": model, "attempts": o.attempts}),
    );
    record(
        ctx,
        turn,
        json!({"status": "ok", "startedAt": started, "endedAt": crate::clock::now_ms(),
                             "summary": "completed", "text": o.text, "provider": provider,
                             "model": model, "attempts": o.attempts, "usage": usage_json}),
    );
}

fn usage_record(
    turn: &Turn,
    provider: &str,
    model: &str,
    o: &turn::Outcome,
    started: u64,
    now: u64,
) -> usage::UsageRecord {
    // The time spent in this model's successful calls, apart from tools, retries and other
    // candidates (what `edge.router.plan` reads as its latency).
    let (mut call_ms, mut call_count) = (0u64, 0u64);
    for a in &o.attempts {
        if a["outcome"] == "ok" && a["provider"] == provider && a["model"] == model {
            call_ms += a["durationMs"].as_u64().unwrap_or(0);
            call_count += 1;
        }
    }
    usage::UsageRecord {
        call_ms: (call_count > 0).then_some(call_ms),
        call_count: (call_count > 0).then_some(call_count),
        ts: now,
        session_key: turn.session_key.clone(),
        agent_id: turn.agent_id.clone(),
        run_id: Some(turn.run_id.clone()),
        provider: provider.to_string(),
        model: model.to_string(),
        input_tokens: o.usage.input,
        output_tokens: o.usage.output,
        cache_read_tokens: o.usage.cache_read,
        duration_ms: now.saturating_sub(started),
        ..Default::default()
    }
}

/// A failed run: its usage (tokens were spent) and the failed status.
async fn finish_usage_only(ctx: &Ctx, turn: &Turn, usage: Option<usage::UsageRecord>) {
    let (key, run_id) = (turn.session_key.clone(), turn.run_id.clone());
    let now = crate::clock::now_ms();
    let res = ctx
        .store
        .write(move |db| {
            if let Some(u) = usage {
                record_usage(db, &key, u)?;
            }
            rows::set_run(db, &key, &run_id, "failed", now)
        })
        .await;
    if let Err(e) = res {
        log::warn!("run {}: storing the outcome failed: {e}", turn.run_id);
    }
    crate::rpc::sessions::changed(ctx, &turn.session_key, "run", None);
}

/// Records a failed model call of a run (zero tokens, its error kind and duration) for
/// `edge.router.plan`; token aggregates skip such rows. A store error is logged, not fatal.
pub(crate) async fn record_failed_call(
    ctx: &Ctx,
    turn: &Turn,
    cand: &crate::config::providers::ModelRef,
    kind: String,
    duration_ms: u64,
) {
    let key = turn.session_key.clone();
    let u = usage::UsageRecord {
        ts: crate::clock::now_ms(),
        session_key: key.clone(),
        agent_id: turn.agent_id.clone(),
        run_id: Some(turn.run_id.clone()),
        provider: cand.provider.clone(),
        model: cand.model.clone(),
        duration_ms,
        error_kind: Some(kind),
        ..Default::default()
    };
    let res = ctx
        .store
        .write(move |db| {
            let mut u = u;
            if let Some(row) = rows::get(db, &key)? {
                u.session_id = row.session_id;
            }
            usage::record(db, &u)
        })
        .await;
    if let Err(e) = res {
        log::warn!(
            "run {}: recording a failed model call failed: {e}",
            turn.run_id
        );
    }
}

/// Records a run's usage under the session's current id and adds it to the row's counters.
fn record_usage(
    db: &mut crate::store::Db,
    key: &str,
    mut u: usage::UsageRecord,
) -> Result<(), crate::store::StoreError> {
    if let Some(row) = rows::get(db, key)? {
        u.session_id = row.session_id;
    }
    usage::record(db, &u)?;
    rows::add_tokens(
        db,
        key,
        u.input_tokens,
        u.output_tokens,
        &u.provider,
        &u.model,
    )
}

/// Stores the run's outcome: assistant message, usage, counters, status; then notifies.
async fn finish(
    ctx: &Ctx,
    turn: &Turn,
    status: &'static str,
    out: Option<(Value, usage::UsageRecord)>,
) {
    let (key, run_id) = (turn.session_key.clone(), turn.run_id.clone());
    let body = out.as_ref().map(|(m, _)| m.clone());
    let now = crate::clock::now_ms();
    let res = ctx
        .store
        .write(move |db| {
            let mut seq = None;
            if let Some((message, u)) = out {
                seq = Some(messages::append(
                    db,
                    &key,
                    "assistant",
                    &message,
                    Some(&run_id),
                    now,
                )?);
                record_usage(db, &key, u)?;
            }
            rows::set_run(db, &key, &run_id, status, now)?;
            Ok(seq)
        })
        .await;
    match (res, body) {
        (Ok(Some(seq)), Some(body)) => {
            ctx.hub.emit_session_message(
                &turn.session_key,
                &json!({"sessionKey": turn.session_key, "seq": seq, "message": body, "runId": turn.run_id}),
            );
            crate::rpc::sessions::changed(ctx, &turn.session_key, "message", None);
        }
        (Ok(_), _) => crate::rpc::sessions::changed(ctx, &turn.session_key, "run", None),
        (Err(e), _) => log::warn!("run {}: storing the outcome failed: {e}", turn.run_id),
    }
}

/// Stops a session's work after reset or delete: queued turns dropped, the active run aborted.
pub fn on_session_reset(ctx: &Ctx, key: &str) {
    if let Some(s) = ctx.sched.get() {
        let dropped = s.clear_queued(key);
        if !dropped.is_empty() {
            log::info!("session {key}: {} queued turn(s) dropped", dropped.len());
        }
        s.abort(key, None);
    }
}

/// `(active run id, queued turns)` of a session.
pub fn session_activity(ctx: &Ctx, key: &str) -> (Option<String>, usize) {
    match ctx.sched.get() {
        Some(s) => (s.is_active(key), s.queued_in(key)),
        None => (None, 0),
    }
}
