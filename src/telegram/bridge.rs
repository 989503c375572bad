//! Telegram bridge on the executor: updates in, agent turns, replies out through the outbox.
//!
//! One task receives the poll thread's batches and accepts them in the store (`accept`: new vs
//! duplicate, offset in the same transaction) before handing the saved offset back to the thread.
//! Each new update gets a task: `access::decide`, then the same path as a client's `chat.send`
//! (`rpc::chat::send` with `idempotencyKey = tg-<update_id>`, `originatingChannel = telegram`),
//! `sendChatAction typing`, the run's outcome from `agent.runs.wait`, and `store::telegram::answer`
//! with the reply split by `format::split` and rendered by `format::to_html`.
//! A sender task drains due outbox chunks through the blocking pool (`sendMessage` with
//! `parse_mode=HTML`; markup Telegram cannot parse is resent as plain text; `429` pauses every
//! send for `retry_after` and reschedules the chunk in the store; other transient failures back
//! off), at most `limits.telegram_send_per_sec` sends per second.
//!
//! On start, updates accepted but not answered before a crash are run again (same idempotency
//! key, so one reply each) and the outbox is resumed: replies are exactly-once except for the
//! window the store documents (a send that succeeded just before the process died).
//!
//! Not yet: pairing codes (`dmPolicy = "pairing"` answers unknown users that pairing is not
//! available and to ask the operator to allowlist them), operator commands (a `/command` goes to
//! the agent as text), voice notes and files (answered honestly), streamed edits, per-chat send
//! budgets.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use serde_json::{Value, json};
use smol::Timer;

use super::access::{self, Access, Gate};
use super::api::{ApiError, Update};
use super::format;
use super::poll::{self, CallError, Endpoint, Shared};
use crate::config::telegram::TelegramConfig;
use crate::gateway::Ctx;
use crate::rpc::error::RpcError;
use crate::store::StoreError;
use crate::store::telegram::{self as tgstore, Incoming, Outgoing};

/// Batches waiting for the executor (the thread blocks while they are unprocessed).
const BATCH_QUEUE: usize = 2;
/// Chunks the sender takes from the store per pass.
const SEND_BATCH: usize = 16;
/// Unfinished updates re-run at start.
const RESUME_LIMIT: usize = 1000;
/// How often the sender looks at the outbox without being woken.
const SENDER_TICK: Duration = Duration::from_secs(1);

/// The running bridge, as the executor sees it.
pub struct Telegram {
    cfg: TelegramConfig,
    ep: Endpoint,
    shared: Arc<Shared>,
    /// New updates accepted since start.
    updates: Cell<u64>,
    /// Updates answered since start.
    answered: Cell<u64>,
    /// Wakes the sender (capacity 1: a pending wake is enough).
    wake: smol::channel::Sender<()>,
    /// Sends in the current one-second window: (window start ms, count).
    budget: Cell<(u64, u32)>,
    /// No send before this time (ms): a `429` or a transient failure pauses every send.
    paused_until: Cell<u64>,
    /// Updates handled at once (`limits.telegram_inflight`); acquired before an offset is
    /// confirmed, so a flood waits on Telegram's side instead of in tasks here.
    slots: Arc<smol::lock::Semaphore>,
}

thread_local! {
    /// The bridge of this executor thread, for `channels.status` and `health`.
    static ACTIVE: RefCell<Option<Rc<Telegram>>> = const { RefCell::new(None) };
}

fn active() -> Option<Rc<Telegram>> {
    ACTIVE.with(|a| a.borrow().clone())
}

/// The `channels.telegram` entry of `channels.status` and `health`, or `None` when the bridge
/// is not configured.
pub async fn channel_json(ctx: &Ctx) -> Option<Value> {
    let cfg = &ctx.config.telegram;
    if !cfg.enabled {
        return None;
    }
    let Some(tg) = active() else {
        return Some(json!({"configured": true, "running": false,
                           "lastError": "the bridge did not start (see the log)"}));
    };
    let s = &tg.shared;
    let last = s.last_poll_at_ms.load(Ordering::Relaxed);
    let backlog = ctx.store.read(|db| tgstore::backlog(db)).await.ok();
    let margin_ms = (cfg.poll_timeout_secs + poll::POLL_MARGIN_SECS) * 1000;
    let healthy = last > 0 && crate::clock::now_ms().saturating_sub(last) <= margin_ms;
    let last_error = s.last_error.lock().ok().and_then(|g| g.clone());
    Some(json!({
        "configured": true,
        "running": s.running.load(Ordering::Relaxed),
        "healthy": healthy,
        "lastPollAt": (last > 0).then_some(last),
        "lastError": last_error,
        "backoffMs": s.backoff_ms.load(Ordering::Relaxed),
        "conflict": s.conflict.load(Ordering::Relaxed),
        "updates": tg.updates.get(),
        "answered": tg.answered.get(),
        "outboxBacklog": backlog,
    }))
}

/// Starts the bridge when `channels.telegram.enabled`; logs and returns on failure.
pub fn start(ctx: &Rc<Ctx>) {
    let cfg = ctx.config.telegram.clone();
    if !cfg.enabled {
        return;
    }
    let Some(token) = cfg.bot_token.as_ref().map(|t| t.expose().to_string()) else {
        log::error!("telegram: enabled without a bot token");
        return;
    };
    let ep = Endpoint {
        base: cfg.api_base_url.clone(),
        token,
    };
    let (wake_tx, wake_rx) = smol::channel::bounded(1);
    let tg = Rc::new(Telegram {
        cfg,
        ep,
        shared: Arc::new(Shared::default()),
        updates: Cell::new(0),
        answered: Cell::new(0),
        wake: wake_tx,
        budget: Cell::new((0, 0)),
        paused_until: Cell::new(0),
        slots: Arc::new(smol::lock::Semaphore::new(
            ctx.config.limits.telegram_inflight,
        )),
    });
    ACTIVE.with(|a| *a.borrow_mut() = Some(Rc::clone(&tg)));
    let c = Rc::clone(ctx);
    ctx.ex.spawn(run(c, tg, wake_rx)).detach();
}

async fn run(ctx: Rc<Ctx>, tg: Rc<Telegram>, wake_rx: smol::channel::Receiver<()>) {
    // The offset, and the updates a crash left unanswered, come from the store first.
    let start = loop {
        match ctx
            .store
            .read(|db| Ok((tgstore::offset(db)?, tgstore::unfinished(db, RESUME_LIMIT)?)))
            .await
        {
            Ok(v) => break v,
            Err(e) => {
                log::warn!("telegram: cannot read the bridge state: {e}; retrying");
                if !pause(&ctx, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    };
    let (offset, pending) = start;
    let (batch_tx, batch_rx) = smol::channel::bounded(BATCH_QUEUE);
    let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
    let ends = poll::Ends {
        batches: batch_tx,
        acks: ack_rx,
    };
    if let Err(e) = poll::spawn(
        tg.ep.clone(),
        tg.cfg.poll_timeout_secs,
        offset,
        Arc::clone(&tg.shared),
        ends,
    ) {
        log::error!("telegram: cannot start the poll thread: {e}");
        return;
    }
    log::info!(
        "telegram: bridge started (dmPolicy={}, offset {offset}, {} unfinished updates)",
        crate::config::telegram::dm_policy_str(tg.cfg.dm_policy),
        pending.len()
    );
    for p in pending {
        spawn_update(&ctx, &tg, p.update_id, p.body).await;
    }
    ctx.ex
        .spawn(sender(Rc::clone(&ctx), Rc::clone(&tg), wake_rx))
        .detach();
    let shared = Arc::clone(&tg.shared);
    let stop = {
        let ctx = Rc::clone(&ctx);
        async move {
            ctx.shutdown.wait().await;
            shared.stop.store(true, Ordering::Relaxed);
            None
        }
    };
    let mut stop = Box::pin(stop);
    loop {
        let next = smol::future::or(async { batch_rx.recv().await.ok() }, stop.as_mut()).await;
        let Some(batch) = next else {
            return;
        };
        accept_batch(&ctx, &tg, batch, &ack_tx).await;
    }
}

/// Waits `d`; false when shutdown came first.
async fn pause(ctx: &Ctx, d: Duration) -> bool {
    smol::future::or(
        async {
            Timer::after(d).await;
            true
        },
        async {
            ctx.shutdown.wait().await;
            false
        },
    )
    .await
}

/// Accepts one batch in the store, then tells the thread the saved offset.
async fn accept_batch(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, batch: poll::Batch, ack: &SyncSender<i64>) {
    let incoming: Vec<Incoming> = batch
        .iter()
        .filter_map(|u| {
            let update_id = u["update_id"].as_i64()?;
            let chat_id = ["message", "edited_message", "channel_post"]
                .iter()
                .find_map(|k| u[k]["chat"]["id"].as_i64())
                .unwrap_or(0);
            Some(Incoming {
                update_id,
                chat_id,
                body: u.to_string(),
            })
        })
        .collect();
    let next = incoming.iter().map(|u| u.update_id + 1).max().unwrap_or(0);
    let max_updates = ctx.config.limits.telegram_max_updates;
    let now = crate::clock::now_ms();
    let rows = incoming.clone();
    let res = ctx
        .store
        .write(move |db| {
            let fresh = tgstore::accept(db, &rows, next, now, max_updates)?;
            Ok((fresh, tgstore::offset(db)?))
        })
        .await;
    match res {
        Ok((fresh, offset)) => {
            // The batch is durable; the offset is confirmed only once every new update has a
            // slot, so at most `telegram_inflight` are handled and the rest wait at Telegram.
            for (u, new) in incoming.into_iter().zip(fresh) {
                if new {
                    tg.updates.set(tg.updates.get() + 1);
                    spawn_update(ctx, tg, u.update_id, u.body).await;
                } else {
                    log::debug!("telegram: update {} is a duplicate", u.update_id);
                }
            }
            let _ = ack.try_send(offset);
        }
        Err(e) => {
            // Not confirmed: the thread polls with the old offset and gets the batch again.
            log::warn!("telegram: cannot accept {} updates: {e}", incoming.len());
            pause(ctx, Duration::from_millis(500)).await;
            let _ = ack.try_send(0);
        }
    }
}

/// Waits for a free slot, then handles the update in its own task (the slot is held until done).
async fn spawn_update(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, update_id: i64, body: String) {
    let permit = tg.slots.acquire_arc().await;
    let (c, t) = (Rc::clone(ctx), Rc::clone(tg));
    ctx.ex
        .spawn(async move {
            handle_update(&c, &t, update_id, &body).await;
            drop(permit);
        })
        .detach();
}

/// One update, from gate to outbox.
async fn handle_update(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, update_id: i64, body: &str) {
    let update: Option<Update> = serde_json::from_str(body).ok();
    let Some(msg) = update.and_then(|u| u.message) else {
        mark(ctx, update_id, tgstore::IGNORED).await;
        return;
    };
    let chat_id = msg.chat.id;
    let access = Access {
        dm_policy: tg.cfg.dm_policy,
        allow_users: tg.cfg.allow_from.clone(),
        allow_groups: tg.cfg.groups.clone(),
        operators: tg.cfg.operators.clone(),
        group_activation: tg.cfg.group_activation,
        bot_username: tg
            .shared
            .username
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default(),
        bot_id: tg
            .ep
            .token
            .split(':')
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    };
    let reply = match access::decide(&access, &msg, &|_| false) {
        Gate::Ignore(why) => {
            log::debug!("telegram: update {update_id} ignored: {why}");
            mark(ctx, update_id, tgstore::IGNORED).await;
            return;
        }
        Gate::NeedsPairing { user_id } => format!(
            "Pairing is not available on this bot yet. Ask its operator to add your user id {user_id} to channels.telegram.allowFrom."
        ),
        Gate::Accept { text, .. } if text.trim().is_empty() => {
            "Voice notes and files are not supported by this bot yet; please send text.".to_string()
        }
        Gate::Accept {
            session_key_rest,
            text,
            ..
        } => {
            typing(ctx, tg, chat_id);
            turn(ctx, update_id, &session_key_rest, &text).await
        }
    };
    let chunks = format::split(&reply, format::MAX_MESSAGE_UNITS);
    let chunks: Vec<String> = if chunks.is_empty() {
        vec!["(no answer)".to_string()]
    } else {
        chunks.iter().map(|c| format::to_html(c)).collect()
    };
    let cap = ctx.config.limits.telegram_outbox;
    let reply_to = Some(msg.message_id);
    loop {
        let now = crate::clock::now_ms();
        let c = chunks.clone();
        let res = ctx
            .store
            .write(move |db| {
                tgstore::answer(
                    db,
                    Some(update_id),
                    chat_id,
                    &c,
                    Some("HTML"),
                    reply_to,
                    now,
                    cap,
                )
            })
            .await;
        match res {
            Ok(()) => break,
            Err(StoreError::Full { .. }) => {
                log::warn!("telegram: outbox full ({cap} chunks); update {update_id} waits")
            }
            Err(e) => log::warn!("telegram: cannot store the answer to update {update_id}: {e}"),
        }
        if !pause(ctx, Duration::from_secs(1)).await {
            return;
        }
    }
    tg.answered.set(tg.answered.get() + 1);
    let _ = tg.wake.try_send(());
}

/// Runs one turn through `chat.send` and waits for its outcome; the text to answer with.
async fn turn(ctx: &Rc<Ctx>, update_id: i64, rest: &str, text: &str) -> String {
    let run_id = format!("tg-{update_id}");
    let params = json!({
        "sessionKey": format!("agent:{}:{rest}", ctx.config.agent.default_id),
        "message": text,
        "idempotencyKey": run_id,
        "originatingChannel": "telegram",
        "mentioned": true,
    });
    let mut tries = 0u32;
    let status = loop {
        match crate::rpc::chat::send(ctx, Some(params.clone())).await {
            Ok(v) => break v["status"].as_str().unwrap_or("").to_string(),
            Err(e) => match e.retry() {
                Some(ms) if tries < 30 => {
                    tries += 1;
                    log::info!("telegram: update {update_id}: {e}; retrying in {ms} ms");
                    if !pause(ctx, Duration::from_millis(ms.max(100))).await {
                        return String::new();
                    }
                }
                _ => return refused(&e),
            },
        }
    };
    if status == "skipped" {
        return "(not answered: the session skipped this message)".into();
    }
    let now = crate::clock::now_ms();
    let rid = run_id.clone();
    let _ = ctx
        .store
        .write(move |db| tgstore::mark(db, update_id, tgstore::SUBMITTED, Some(&rid), now))
        .await;
    let l = &ctx.config.limits;
    let limit = Duration::from_millis(l.run_timeout_ms.saturating_mul(4) + 60_000);
    match ctx.agent.runs.wait(&run_id, limit).await {
        Some(o) if o["status"] == "ok" => o["text"].as_str().unwrap_or("").to_string(),
        Some(o) => {
            let why = o["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| o["error"].to_string());
            format!("Sorry, the agent could not answer: {why}")
        }
        None => "Sorry, the agent did not answer in time.".into(),
    }
}

fn refused(e: &RpcError) -> String {
    format!("Sorry, this message was not accepted: {e}")
}

async fn mark(ctx: &Ctx, update_id: i64, state: &'static str) {
    let now = crate::clock::now_ms();
    if let Err(e) = ctx
        .store
        .write(move |db| tgstore::mark(db, update_id, state, None, now))
        .await
    {
        log::warn!("telegram: cannot mark update {update_id} {state}: {e}");
    }
}

/// `sendChatAction typing`, best effort, within the send budget.
fn typing(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, chat_id: i64) {
    let (c, t) = (Rc::clone(ctx), Rc::clone(tg));
    ctx.ex
        .spawn(async move {
            if !t.take_budget(&c).await {
                return;
            }
            let ep = t.ep.clone();
            if let Ok(Err(e)) = c.pool.run(move || poll::send_typing(&ep, chat_id)).await {
                log::debug!("telegram: sendChatAction: {e}");
            }
        })
        .detach();
}

impl Telegram {
    /// Waits for a send slot (pauses and the per-second budget); false on shutdown.
    async fn take_budget(&self, ctx: &Ctx) -> bool {
        loop {
            let now = crate::clock::now_ms();
            let paused = self.paused_until.get();
            if paused > now {
                if !pause(ctx, Duration::from_millis(paused - now)).await {
                    return false;
                }
                continue;
            }
            let (start, n) = self.budget.get();
            if now.saturating_sub(start) >= 1000 {
                self.budget.set((now, 1));
                return true;
            }
            if n < ctx.config.limits.telegram_send_per_sec {
                self.budget.set((start, n + 1));
                return true;
            }
            if !pause(ctx, Duration::from_millis(start + 1000 - now)).await {
                return false;
            }
        }
    }

    fn pause_sends(&self, until: u64) {
        self.paused_until.set(self.paused_until.get().max(until));
    }
}

/// Drains the outbox in order, woken by new answers or every `SENDER_TICK`.
async fn sender(ctx: Rc<Ctx>, tg: Rc<Telegram>, wake: smol::channel::Receiver<()>) {
    let mut failures = 0u32;
    loop {
        let now = crate::clock::now_ms();
        let due = match ctx
            .store
            .read(move |db| tgstore::due(db, now, SEND_BATCH))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                log::warn!("telegram: cannot read the outbox: {e}");
                Vec::new()
            }
        };
        let mut progressed = false;
        for chunk in &due {
            if !tg.take_budget(&ctx).await {
                return;
            }
            match send_chunk(&ctx, &tg, chunk).await {
                Sent::Done => {
                    failures = 0;
                    progressed = true;
                }
                Sent::Later(at) => {
                    let id = chunk.id;
                    let _ = ctx.store.write(move |db| tgstore::retry(db, id, at)).await;
                    tg.pause_sends(at);
                    // Later chunks wait too, so a reply keeps its order.
                    break;
                }
                Sent::Backoff => {
                    failures += 1;
                    let ms =
                        (poll::MIN_BACKOFF_MS << (failures - 1).min(5)).min(poll::MAX_BACKOFF_MS);
                    let at = crate::clock::now_ms() + ms;
                    let id = chunk.id;
                    let _ = ctx.store.write(move |db| tgstore::retry(db, id, at)).await;
                    tg.pause_sends(at);
                    break;
                }
            }
        }
        if progressed && due.len() == SEND_BATCH {
            continue;
        }
        let woke = smol::future::or(
            async {
                let _ = smol::future::or(
                    async {
                        let _ = wake.recv().await;
                    },
                    async {
                        Timer::after(SENDER_TICK).await;
                    },
                )
                .await;
                true
            },
            async {
                ctx.shutdown.wait().await;
                false
            },
        )
        .await;
        if !woke {
            return;
        }
    }
}

enum Sent {
    /// Sent, or given up for good (logged): the chunk is finished.
    Done,
    /// Telegram asked to wait: retry at this time (ms).
    Later(u64),
    /// A transient failure: back off.
    Backoff,
}

async fn send_chunk(ctx: &Ctx, tg: &Telegram, c: &Outgoing) -> Sent {
    let ep = tg.ep.clone();
    let (chat, text, mode, reply_to) =
        (c.chat_id, c.text.clone(), c.parse_mode.clone(), c.reply_to);
    let res = ctx
        .pool
        .run(move || {
            let first = poll::send_message(&ep, chat, &text, mode.as_deref(), reply_to);
            match first {
                Err(CallError::Api(ApiError::BadRequest(d)))
                    if mode.is_some() && d.contains("can't parse entities") =>
                {
                    poll::send_message(&ep, chat, &html_to_plain(&text), None, reply_to)
                }
                other => other,
            }
        })
        .await;
    let finish = |message_id: i64| async move {
        let id = c.id;
        if let Err(e) = ctx
            .store
            .write(move |db| tgstore::sent(db, id, message_id))
            .await
        {
            log::warn!("telegram: cannot mark chunk {id} sent: {e}");
        }
    };
    match res {
        Err(e) => {
            log::warn!("telegram: send job not run: {e}");
            Sent::Backoff
        }
        Ok(Ok(message_id)) => {
            finish(message_id).await;
            Sent::Done
        }
        Ok(Err(CallError::Api(ApiError::TooManyRequests { retry_after_s }))) => {
            log::info!("telegram: sendMessage: too many requests, retry after {retry_after_s} s");
            Sent::Later(crate::clock::now_ms() + retry_after_s * 1000)
        }
        Ok(Err(
            e @ (CallError::Transport(_)
            | CallError::Api(ApiError::Server(..) | ApiError::Malformed(_))),
        )) => {
            log::warn!("telegram: sendMessage to chat {chat}: {e}; will retry");
            Sent::Backoff
        }
        Ok(Err(e)) => {
            log::warn!("telegram: sendMessage to chat {chat} failed for good: {e}; chunk dropped");
            finish(0).await;
            Sent::Done
        }
    }
}

/// The visible text of a chunk of our own HTML: tags removed, entities decoded, links as
/// `label (url)`.
pub fn html_to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut href: Vec<Option<String>> = Vec::new();
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('>') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let tag = &rest[i + 1..i + j];
        if let Some(attrs) = tag.strip_prefix("a ") {
            let url = attrs
                .split_once("href=\"")
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(u, _)| u.to_string());
            href.push(url);
        } else if tag == "/a"
            && let Some(Some(u)) = href.pop()
        {
            out.push_str(" (");
            out.push_str(&u);
            out.push(')');
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fallback_strips_our_html() {
        let html = format::to_html("**a** & [b](https://x.y/?q=1&r=2) `<c>`");
        assert_eq!(html_to_plain(&html), "a & b (https://x.y/?q=1&r=2) <c>");
    }
}
