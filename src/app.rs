//! App: wires the subsystems together, owns shutdown, and runs until a signal arrives.
//!
//! Start-up order: state dir → shared secret (configured, or a token generated once on loopback
//! and kept with mode 0600) → listener → first stdout line `listening on ws://ADDR:PORT` → the
//! accept loop, the tick timer and the signal watcher as tasks on the one `LocalExecutor`.
//! On SIGTERM/SIGINT: stop accepting, send `shutdown` to every client, close them with 1012,
//! wait at most `limits.shutdown_grace_ms`, flush, exit 0.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use smol::stream::StreamExt;
use smol::{Async, LocalExecutor, Timer};

use crate::config::{Config, Secret};
use crate::gateway::{self, Ctx};
use crate::shutdown::Shutdown;

/// Name of the generated token file inside the state dir.
pub const TOKEN_FILE: &str = "gateway.token";

/// Runs the gateway; returns the process exit code.
pub async fn run(ex: Rc<LocalExecutor<'static>>, mut config: Config) -> i32 {
    if let Err(e) = ensure_state_dir(&config.state_dir) {
        log::error!("state dir {}: {e}", config.state_dir.display());
        return 1;
    }
    let (secret, token_path) = match &config.auth.secret {
        Some(s) => (s.clone(), None),
        None => match load_or_create_token(&config.state_dir) {
            Ok((s, p)) => (s, Some(p)),
            Err(e) => {
                log::error!(
                    "cannot create the gateway token in {}: {e}",
                    config.state_dir.display()
                );
                return 1;
            }
        },
    };
    // The database opens before the port: a refused file (newer schema, corrupt, foreign) stops
    // start-up with its reason instead of serving clients without their sessions.
    let store = match crate::store::Store::open(&config.state_dir, &config.limits) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    let listener = match Async::<TcpListener>::bind(config.bind) {
        Ok(l) => l,
        Err(e) => {
            log::error!("cannot listen on {}: {e}", config.bind);
            return 1;
        }
    };
    let local = listener.get_ref().local_addr().unwrap_or(config.bind);
    // Port 0 resolves here; everything after start-up reports the real address.
    config.bind = local;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on ws://{local}");
        let _ = out.flush();
    }
    log::info!(
        "openclaw-edge {} profile={} auth={} state_dir={}",
        env!("CARGO_PKG_VERSION"),
        config.profile.as_str(),
        config.auth.mode.as_str(),
        config.state_dir.display()
    );
    if let Some(p) = &token_path {
        log::info!(
            "no gateway secret configured: using the generated token in {}",
            p.display()
        );
    }

    for (_, why) in &config.models.dropped {
        log::warn!("model candidate dropped: {why}");
    }
    // Provider workers serve the agent's model calls and, with `[memory] embeddings`, the
    // memory embeddings (which work with any agent runtime).
    let providers = if config.agent.runtime == crate::config::Runtime::Provider
        || (config.memory.enabled && config.memory.embeddings.is_some())
    {
        match crate::providers::Providers::start(&config.models, &config.limits) {
            Ok(p) => Some(p),
            Err(e) => {
                log::error!("cannot start provider workers: {e}");
                return 1;
            }
        }
    } else {
        None
    };
    let shutdown = Shutdown::new();
    let ctx = Rc::new(Ctx::new(
        config,
        secret,
        token_path,
        Rc::clone(&ex),
        shutdown.clone(),
        store,
        providers,
    ));
    apply_saved_keys(&ctx);
    // The persona chosen at run time, before the first run can build a prompt.
    crate::agent::persona::load(&ctx).await;
    // Jobs still `running` in the store died with the previous process.
    let now = crate::clock::now_ms();
    match ctx
        .store
        .write(move |db| crate::store::edge_jobs::interrupt_all(db, now))
        .await
    {
        Ok(0) => {}
        Ok(n) => log::warn!("edge: {n} job(s) were running when the gateway last stopped"),
        Err(e) => log::warn!("edge: cannot mark interrupted jobs: {e}"),
    }
    start_scheduler(&ctx, &ex);
    // Mesh before the bridge: both use the device identity file, the mesh creates it first.
    crate::mesh::start(&ctx).await;
    // Bridge-client mode: also screen another gateway's actions (no-op when standalone).
    crate::bridge::start(&ctx);
    // The Telegram bot (no-op unless channels.telegram.enabled).
    crate::telegram::start(&ctx);
    let accept = ex.spawn(gateway::run(Rc::clone(&ctx), listener));
    ex.spawn(tick_loop(Rc::clone(&ctx))).detach();
    ex.spawn(crate::defender::watch::policy_loop(Rc::clone(&ctx)))
        .detach();
    ex.spawn(crate::defender::watch::integrity_loop(Rc::clone(&ctx)))
        .detach();
    ex.spawn(presence_loop(Rc::clone(&ctx))).detach();
    ex.spawn(crate::agent::embed::embed_loop(Rc::clone(&ctx)))
        .detach();
    ex.spawn(watch_signals(shutdown.clone())).detach();

    shutdown.wait().await;
    log::info!("shutting down: {}", shutdown.reason());
    accept.await;
    ctx.hub.broadcast(
        "shutdown",
        &json!({"reason": shutdown.reason()}),
        false,
        false,
    );
    ctx.hub.close_all(1012, "service restart");
    let grace = Duration::from_millis(ctx.config.limits.shutdown_grace_ms);
    let drained = async {
        while !ctx.hub.is_empty() {
            Timer::after(Duration::from_millis(10)).await;
        }
    };
    if crate::clock::within(grace, drained).await.is_none() {
        log::warn!(
            "{} clients did not close within {} ms",
            ctx.hub.len(),
            grace.as_millis()
        );
    }
    // Every acknowledged write is already committed; this only folds the WAL back into the file.
    if crate::clock::within(grace, ctx.store.checkpoint())
        .await
        .is_none()
    {
        log::warn!(
            "store checkpoint did not finish within {} ms",
            grace.as_millis()
        );
    }
    log::info!("stopped");
    log::logger().flush();
    0
}

/// Builds the scheduler with the agent runner as its executor and stores it in the context.
fn start_scheduler(ctx: &Rc<Ctx>, ex: &Rc<LocalExecutor<'static>>) {
    let l = &ctx.config.limits;
    let runtime = ctx.config.agent.runtime;
    if runtime == crate::config::Runtime::TestDouble {
        log::warn!(
            "agent.runtime = \"test-double\": runs answer a fixed [test-double] text (tests and benchmarks only)"
        );
    }
    let runner = Rc::new(crate::agent::Runner::new(Rc::downgrade(ctx), runtime));
    let sched = crate::scheduler::Scheduler::new(
        Rc::clone(ex),
        runner,
        crate::scheduler::SchedLimits {
            global_queue: l.global_queue,
            session_queue: l.session_queue,
            max_concurrent_runs: l.max_concurrent_runs,
            steer_inbox: l.steer_inbox,
        },
    );
    let _ = ctx.sched.set(sched);
}

/// Provider keys set at run time (`/set api key`) win over the config's, from start-up.
fn apply_saved_keys(ctx: &Ctx) {
    let Some(providers) = &ctx.agent.providers else {
        return;
    };
    match crate::providers::keys::load(&ctx.config.state_dir) {
        Ok(keys) => {
            for (provider, key) in keys {
                if providers.set_key(&provider, crate::config::Secret::new(key.clone())) {
                    ctx.agent.redactor.borrow_mut().add(&key);
                    log::info!("provider {provider}: using the API key set at run time");
                } else {
                    log::warn!("saved API key for unknown provider {provider} ignored");
                }
            }
        }
        Err(e) => log::error!("saved provider keys not used: {e}"),
    }
}

/// Sends `tick {ts}` to every client every `limits.tick_interval_ms`.
async fn tick_loop(ctx: Rc<Ctx>) {
    let every = Duration::from_millis(ctx.config.limits.tick_interval_ms);
    loop {
        let fired = smol::future::or(
            async {
                Timer::after(every).await;
                true
            },
            async {
                ctx.shutdown.wait().await;
                false
            },
        )
        .await;
        if !fired {
            return;
        }
        ctx.hub
            .broadcast("tick", &json!({"ts": crate::clock::now_ms()}), false, false);
    }
}

/// Broadcasts presence after changes, at most once per `PRESENCE_COALESCE_MS`.
async fn presence_loop(ctx: Rc<Ctx>) {
    loop {
        if ctx
            .shutdown
            .unless(ctx.hub.presence_wanted())
            .await
            .is_none()
        {
            return;
        }
        Timer::after(Duration::from_millis(PRESENCE_COALESCE_MS)).await;
        ctx.hub.broadcast_presence();
    }
}

/// Presence changes within this window go out as one broadcast.
pub const PRESENCE_COALESCE_MS: u64 = 100;

async fn watch_signals(shutdown: Shutdown) {
    use async_signal::{Signal, Signals};
    let mut signals = match Signals::new([Signal::Term, Signal::Int]) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return;
        }
    };
    if let Some(Ok(sig)) = signals.next().await {
        let name = match sig {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            _ => "signal",
        };
        shutdown.trigger(name);
    }
}

/// Creates the state dir with mode 0700 if missing.
pub fn ensure_state_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Reads `<state_dir>/gateway.token`, or creates it (mode 0600, 32 random bytes, base64url).
pub fn load_or_create_token(dir: &Path) -> std::io::Result<(Secret, PathBuf)> {
    let path = dir.join(TOKEN_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let t = text.trim();
        if !t.is_empty() {
            return Ok((Secret::new(t), path));
        }
    }
    let token = crate::ids::base64url(&crate::ids::random_bytes::<32>());
    write_private(dir, TOKEN_FILE, format!("{token}\n").as_bytes())?;
    Ok((Secret::new(token), path))
}

/// Replaces `<dir>/<name>` with `bytes` atomically (temporary file with mode 0600, fsync,
/// rename, directory fsync): a crash leaves the old or the new file, never half of one.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("oce-token-{}", crate::ids::uuid_v4()));
        ensure_state_dir(&dir).unwrap();
        let (a, p) = load_or_create_token(&dir).unwrap();
        let (b, _) = load_or_create_token(&dir).unwrap();
        assert_eq!(a, b, "reused, not regenerated");
        assert!(a.expose().len() >= 40);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
