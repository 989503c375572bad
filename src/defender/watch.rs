//! The defender's timers: signed-policy reload and host-integrity checks.
//!
//! `policy_loop` reads `defender.policy_file` on the blocking pool every `limits.policy_poll_ms`
//! (at most `policy_max_bytes + 1` bytes) and hands it to `bundle::PolicyState`: a changed file
//! that verifies replaces the policy in force; anything else is logged and the previous policy
//! stays. Without a key the bundle never loads (unsigned rules are never used).
//! `integrity_loop` takes the baseline of `defender.protect_paths` once (kept in
//! `<state_dir>/integrity.json`), then re-hashes on the pool every `limits.integrity_interval_ms`;
//! drift, missing and unreadable files are logged, reported in `status.defender.integrity` and
//! emitted as `security.decision` (kind `integrity`, verdict `review`).

use std::io::Read;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::bundle::{Keys, PolicyState, ReloadOutcome, keys_from_env};
use super::policy::ToolPolicy;
use super::store;
use crate::gateway::Ctx;

/// Reloads the signed policy bundle when it changes, until shutdown.
pub async fn policy_loop(ctx: Rc<Ctx>) {
    let Some(path) = ctx.config.defender.policy_file.clone() else {
        return;
    };
    let env = |k: &str| std::env::var(k).ok();
    let keys: Keys = match keys_from_env(&ctx.config.defender.policy_key_env, &env) {
        Ok(k) => k,
        Err(e) => {
            log::error!(
                "policy: defender.policy_file is set but the bundle cannot be verified ({e}); the config policy stays in force"
            );
            return;
        }
    };
    let mut state = PolicyState::new(path.clone());
    let max = ctx.config.limits.policy_max_bytes;
    let every = Duration::from_millis(ctx.config.limits.policy_poll_ms);
    loop {
        let p = path.clone();
        let read = ctx.pool.run(move || read_capped(&p, max)).await;
        let pre = match read {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        if let ReloadOutcome::Loaded { id } = state.reload_if_changed(|_| pre, &keys, max)
            && let Some(v) = state.current()
        {
            match ToolPolicy::from_json(&v.policy, &ctx.config.defender.policy) {
                Ok(policy) => {
                    ctx.agent
                        .defender
                        .pipeline
                        .set_policy(policy, format!("bundle:{id}"));
                    log::info!("policy: bundle {id} is in force");
                }
                Err(e) => log::error!(
                    "policy: bundle {id} verified but its policy is invalid ({e}); the previous policy stays in force"
                ),
            }
        }
        if crate::clock::within(every, ctx.shutdown.wait())
            .await
            .is_some()
        {
            return;
        }
    }
}

fn read_capped(path: &PathBuf, max: usize) -> std::io::Result<(Vec<u8>, SystemTime)> {
    let f = std::fs::File::open(path)?;
    let mtime = f.metadata()?.modified()?;
    let mut bytes = Vec::new();
    f.take(max as u64 + 1).read_to_end(&mut bytes)?;
    Ok((bytes, mtime))
}

/// Baselines `protect_paths` once, then re-checks them every `integrity_interval_ms`.
pub async fn integrity_loop(ctx: Rc<Ctx>) {
    let paths = ctx.config.defender.protect_paths.clone();
    if paths.is_empty() {
        return;
    }
    let file = ctx.config.state_dir.join("integrity.json");
    let every = ctx.config.limits.integrity_interval_ms;
    let mut reported: Vec<(String, &'static str)> = Vec::new();
    loop {
        let (p, f) = (paths.clone(), file.clone());
        let now = crate::clock::now_ms();
        let job = ctx
            .pool
            .run(
                move || -> std::io::Result<(store::Baseline, Vec<store::Finding>)> {
                    match store::load_baseline(&f) {
                        Some(b) => {
                            let findings = store::check(&p, &b);
                            Ok((b, findings))
                        }
                        None => {
                            let b = store::take_baseline(&p, now);
                            store::save_baseline(&f, &b)?;
                            Ok((b, Vec::new()))
                        }
                    }
                },
            )
            .await;
        match job {
            Ok(Ok((base, findings))) => {
                for x in &findings {
                    let key = (x.path.clone(), x.kind);
                    if x.kind == "new" || reported.contains(&key) {
                        continue;
                    }
                    log::warn!("integrity: {} {}: {}", x.kind, x.path, x.detail);
                    let ev = json!({
                        "id": crate::ids::uuid_v4(), "ts": crate::clock::now_ms(), "kind": "integrity",
                        "verdict": "review", "enforced": "allow", "risk": 60, "auditOnly": false,
                        "summary": format!("{} {}", x.kind, x.path),
                        "reasons": [{"detector": "integrity", "rule": format!("integrity.{}", x.kind), "score": 60, "span": null, "detail": x.detail}],
                        "policy": ctx.agent.defender.pipeline.policy_id(),
                    });
                    ctx.hub.emit_run_event("security.decision", &ev);
                    reported.push(key);
                }
                ctx.agent.defender.set_integrity(json!({
                    "checkedAt": now, "baselineAt": base.taken_at, "files": base.files.len(),
                    "findings": findings,
                }));
            }
            Ok(Err(e)) => log::warn!("integrity: cannot save the baseline: {e}"),
            Err(e) => log::warn!("integrity: check not run: {e}"),
        }
        if every == 0 {
            return;
        }
        if crate::clock::within(Duration::from_millis(every), ctx.shutdown.wait())
            .await
            .is_some()
        {
            return;
        }
    }
}
