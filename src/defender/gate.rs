//! The defender at run time: the pipeline plus the signals and records that need I/O.
//!
//! `Defender::screen` decides an action with the pure `Pipeline`, adds the VirusTotal signal for
//! URLs and for content about to be written (by SHA-256; a lookup on the blocking pool with `limits.vt_timeout_ms`, answers cached in a bounded
//! TTL cache; no key configured = the signal is skipped and the decision says so), emits one
//! `security.decision` event to read-scoped operators, writes blocked actions to the quarantine
//! (on the pool, rotated under `limits.quarantine_max_bytes`) and counts everything for `status`.
//! Host integrity (re-hashing `protect_paths` on the pool) and the signed-policy reload also live
//! here, driven by `app.rs`'s timers.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Verdict;
use super::pipeline::{Action, Assessment, Context, OwnedAction, OwnedContext, Pipeline};
use super::reason::{Reason, ScanLimits};
use super::store;
use crate::config::Config;
use crate::gateway::Ctx;
use crate::providers::virustotal::{Client, Report, Subject};

/// Inputs larger than this are decided on the blocking pool, not on the executor.
const OFFLOAD_BYTES: usize = 4 * 1024;

/// Counters for `status.defender`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Decisions made.
    pub decisions: Cell<u64>,
    /// Decisions whose verdict was review.
    pub reviewed: Cell<u64>,
    /// Decisions whose verdict was block.
    pub blocked: Cell<u64>,
    /// Records written to the quarantine.
    pub quarantined: Cell<u64>,
    /// Quarantine writes that failed.
    pub quarantine_errors: Cell<u64>,
    /// VirusTotal lookups made (not cached).
    pub vt_lookups: Cell<u64>,
    /// VirusTotal lookups skipped (no key, or failed).
    pub vt_skipped: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// Bounded TTL cache of VirusTotal answers.
#[derive(Debug, Default)]
struct VtCache {
    map: HashMap<String, (u64, Result<Report, String>)>,
    order: VecDeque<String>,
}

/// The defender with its run-time state.
pub struct Defender {
    /// The pure pipeline (policy in force inside); shared with pool workers for large inputs.
    pub pipeline: Arc<Pipeline>,
    /// Counters.
    pub stats: Stats,
    vt: Option<Arc<Client>>,
    vt_cache: RefCell<VtCache>,
    integrity: RefCell<Value>,
    quarantine_dir: PathBuf,
}

impl std::fmt::Debug for Defender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defender")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

/// The pipeline's scan bounds from the limits.
pub fn scan_limits(c: &Config) -> ScanLimits {
    let l = &c.limits;
    ScanLimits {
        max_scan_bytes: l.defender_max_scan_bytes,
        max_decode_depth: l.defender_max_decode_depth,
        max_decode_bytes: l.defender_max_decode_bytes,
    }
}

/// The pipeline the config describes (the gateway, `security check` and the bridge share it).
pub fn pipeline_for(c: &Config) -> Pipeline {
    let mut known: Vec<String> = c.models.secrets().map(str::to_string).collect();
    if let Some(s) = &c.auth.secret {
        known.push(s.expose().to_string());
    }
    if let Some(k) = &c.defender.vt_api_key {
        known.push(k.expose().to_string());
    }
    Pipeline::new(
        c.defender.policy.clone(),
        scan_limits(c),
        known,
        c.tools.enabled,
        c.tools.exec.approval,
        c.defender
            .protect_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    )
}

impl Defender {
    /// Builds the defender from the config.
    pub fn new(c: &Config) -> Defender {
        let vt = c.defender.vt_api_key.as_ref().map(|k| {
            Arc::new(Client::new(
                &c.defender.vt_base_url,
                k.clone(),
                Duration::from_millis(c.limits.vt_timeout_ms),
            ))
        });
        Defender {
            pipeline: Arc::new(pipeline_for(c)),
            stats: Stats::default(),
            vt,
            vt_cache: RefCell::new(VtCache::default()),
            integrity: RefCell::new(json!({"checkedAt": null, "findings": []})),
            quarantine_dir: c.defender.quarantine_dir.clone(),
        }
    }

    /// Decides `action`, adds network signals, reports and records the decision.
    pub async fn screen(
        &self,
        ctx: &Rc<Ctx>,
        action: Action<'_>,
        c: Context<'_>,
        routing: Value,
    ) -> Assessment {
        let mut a = self.assess(ctx, &action, &c).await;
        let url = match action {
            Action::Url(u) => Some(u.to_string()),
            Action::Tool {
                name: "http_get",
                args,
            } => args.get("url").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        // Content about to be written gets the file-hash signal (a known-bad payload by hash).
        let content = match action {
            Action::File {
                content: Some(c), ..
            } => Some(c.to_string()),
            Action::Tool {
                name: "write",
                args,
            } => args
                .get("content")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        // A blocked action needs no lookup; anything else gets the URL / file signal.
        if a.verdict != Verdict::Block {
            if let Some(u) = url {
                let more = self.vt_reasons(ctx, Subject::Url(u)).await;
                a.add(more, &self.pipeline.policy());
            }
            if let Some(c) = content {
                use sha2::Digest;
                let sha = crate::ids::hex(&sha2::Sha256::digest(c.as_bytes()));
                let more = self.vt_reasons(ctx, Subject::File(sha)).await;
                a.add(more, &self.pipeline.policy());
            }
        }
        self.record(ctx, &action, &c, &a, routing);
        a
    }

    /// The pipeline's decision: inline for small inputs; on the blocking pool past
    /// `OFFLOAD_BYTES` (scoring is linear, ~0.3 ms per KiB on x86, so a 64 KiB message would hold
    /// the executor for tens of ms). A full pool falls back to deciding inline: never unscreened.
    async fn assess(&self, ctx: &Rc<Ctx>, action: &Action<'_>, c: &Context<'_>) -> Assessment {
        if OwnedAction::text_len(action) <= OFFLOAD_BYTES {
            return self.pipeline.assess(action, c);
        }
        let (p, a, oc) = (
            Arc::clone(&self.pipeline),
            OwnedAction::of(action),
            OwnedContext::of(c),
        );
        match ctx
            .pool
            .run(move || p.assess(&a.as_action(), &oc.as_context()))
            .await
        {
            Ok(decided) => decided,
            Err(e) => {
                log::debug!("defender: deciding inline ({e})");
                self.pipeline.assess(action, c)
            }
        }
    }

    /// Emits `security.decision`, counts, and quarantines a block.
    pub fn record(
        &self,
        ctx: &Rc<Ctx>,
        action: &Action<'_>,
        c: &Context<'_>,
        a: &Assessment,
        routing: Value,
    ) {
        bump(&self.stats.decisions);
        match a.verdict {
            Verdict::Review => bump(&self.stats.reviewed),
            Verdict::Block => bump(&self.stats.blocked),
            Verdict::Allow => {}
        }
        let id = crate::ids::uuid_v4();
        let ts = crate::clock::now_ms();
        let ev = a.to_event(&id, ts, c, &routing, &self.pipeline.policy_id());
        ctx.hub.emit_run_event("security.decision", &ev);
        if a.verdict != Verdict::Allow {
            log::info!(
                "defender: {} {} ({})",
                a.kind,
                a.verdict.as_str(),
                a.summary()
            );
        }
        if a.verdict == Verdict::Block {
            let record = json!({"decision": ev, "action": action_json(action, &ctx.agent.redactor.borrow())});
            let name = format!("{ts:013}-{}-{}.json", a.kind, &id[..8]);
            let dir = self.quarantine_dir.clone();
            let max = ctx.config.limits.quarantine_max_bytes;
            let task_ctx = Rc::clone(ctx);
            ctx.ex
                .spawn(async move {
                    let res = task_ctx
                        .pool
                        .run(move || store::quarantine(&dir, max, &name, &record))
                        .await;
                    let stats = &task_ctx.agent.defender.stats;
                    match res {
                        Ok(Ok(_)) => bump(&stats.quarantined),
                        Ok(Err(e)) => {
                            bump(&stats.quarantine_errors);
                            log::warn!("defender: quarantine write failed: {e}");
                        }
                        Err(e) => {
                            bump(&stats.quarantine_errors);
                            log::warn!("defender: quarantine write not run: {e}");
                        }
                    }
                })
                .detach();
        }
    }

    async fn vt_reasons(&self, ctx: &Rc<Ctx>, subject: Subject) -> Vec<Reason> {
        let Some(client) = self.vt.clone() else {
            bump(&self.stats.vt_skipped);
            return vec![vt_reason(
                "virustotal.skipped",
                0,
                "no virustotal api key configured: signal skipped".into(),
            )];
        };
        let key = match &subject {
            Subject::Url(u) => format!("url:{u}"),
            Subject::File(h) => format!("file:{h}"),
        };
        let now = crate::clock::now_ms();
        let cached = self
            .vt_cache
            .borrow()
            .map
            .get(&key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, r)| r.clone());
        let result = match cached {
            Some(r) => r,
            None => {
                bump(&self.stats.vt_lookups);
                let t = Duration::from_millis(ctx.config.limits.vt_timeout_ms + 1000);
                let job = ctx.pool.run(move || client.lookup(&subject));
                let r = match crate::clock::within(t, job).await {
                    Some(Ok(r)) => r.map_err(|e| e.to_string()),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Err("timed out".into()),
                };
                self.cache_put(
                    key,
                    r.clone(),
                    now + ctx.config.limits.vt_cache_ttl_ms,
                    ctx.config.limits.vt_cache_entries,
                );
                r
            }
        };
        match result {
            Ok(Report::Found {
                malicious,
                suspicious,
                harmless,
            }) => {
                let detail = format!(
                    "{malicious} malicious, {suspicious} suspicious, {harmless} harmless engines"
                );
                if malicious >= 3 {
                    vec![vt_reason("virustotal.malicious", 90, detail)]
                } else if malicious > 0 || suspicious >= 2 {
                    vec![vt_reason("virustotal.suspicious", 50, detail)]
                } else {
                    vec![vt_reason("virustotal.clean", 0, detail)]
                }
            }
            Ok(Report::NotFound) => vec![vt_reason(
                "virustotal.unknown",
                0,
                "no report on virustotal".into(),
            )],
            Err(e) => {
                bump(&self.stats.vt_skipped);
                vec![vt_reason(
                    "virustotal.error",
                    0,
                    format!("lookup failed, signal skipped: {e}"),
                )]
            }
        }
    }

    fn cache_put(&self, key: String, r: Result<Report, String>, expires: u64, cap: usize) {
        let mut c = self.vt_cache.borrow_mut();
        if c.map.insert(key.clone(), (expires, r)).is_none() {
            c.order.push_back(key);
        }
        while c.map.len() > cap {
            match c.order.pop_front() {
                Some(old) => {
                    c.map.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Entries in the VirusTotal cache.
    pub fn vt_cache_len(&self) -> usize {
        self.vt_cache.borrow().map.len()
    }

    /// Whether VirusTotal lookups are configured.
    pub fn vt_enabled(&self) -> bool {
        self.vt.is_some()
    }

    /// Stores the last integrity check (for `status`).
    pub fn set_integrity(&self, v: Value) {
        *self.integrity.borrow_mut() = v;
    }

    /// The defender's part of `status`.
    pub fn status_json(&self) -> Value {
        let s = &self.stats;
        json!({
            "policy": self.pipeline.policy_id(),
            "profile": self.pipeline.policy().profile.as_str(),
            "auditOnly": self.pipeline.policy().audit_only,
            "decisions": s.decisions.get(), "reviewed": s.reviewed.get(), "blocked": s.blocked.get(),
            "quarantined": s.quarantined.get(), "quarantineErrors": s.quarantine_errors.get(),
            "virustotal": {"enabled": self.vt.is_some(), "lookups": s.vt_lookups.get(),
                           "skipped": s.vt_skipped.get(), "cached": self.vt_cache_len()},
            "integrity": self.integrity.borrow().clone(),
        })
    }
}

fn vt_reason(rule: &'static str, score: u32, detail: String) -> Reason {
    Reason {
        detector: "virustotal",
        rule,
        score,
        span: None,
        detail,
    }
}

/// The action as JSON for a quarantine record (texts cut at 4 KiB, known secrets redacted).
fn action_json(a: &Action<'_>, r: &super::redact::Redactor) -> Value {
    let t = |s: &str| crate::store::messages::cut(&r.redact(s), 4096);
    match *a {
        Action::Prompt(s) => json!({"kind": "prompt", "text": t(s)}),
        Action::Command(s) => json!({"kind": "command", "text": t(s)}),
        Action::Url(s) => json!({"kind": "url", "text": t(s)}),
        Action::File { path, content } => {
            json!({"kind": "file", "path": t(path), "content": content.map(t)})
        }
        Action::Tool { name, args } => {
            let mut args = args.clone();
            r.redact_json(&mut args);
            json!({"kind": "tool", "tool": name, "args": args})
        }
        Action::ToolOutput { tool, text } => {
            json!({"kind": "tool_output", "tool": tool, "text": t(text)})
        }
    }
}
