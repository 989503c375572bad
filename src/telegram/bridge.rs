//! Telegram bridge on the executor: updates in, agent turns, replies out through the outbox.
//!
//! One task receives the poll thread's batches and accepts them in the store (`accept`: new vs
//! duplicate, offset in the same transaction) before handing the saved offset back to the thread.
//! Each new update waits for one of `limits.telegram_inflight` slots, then runs in its own task:
//! `access::decide`; an unknown user under `dmPolicy = "pairing"` gets a code (`pairing`);
//! an operator command is answered by `commands`; a voice note or file is turned into text by
//! `media` (or answered honestly); everything else takes the path of a client's `chat.send`
//! (`rpc::chat::send` with `idempotencyKey = tg-<update_id>`, `originatingChannel = telegram`)
//! with `sendChatAction typing`, and the run's outcome comes from `agent.runs.wait`. With
//! `channels.telegram.streaming` the growing answer is shown in one draft message, edited at most
//! every `limits.telegram_edit_interval_ms`, which the final text then replaces. The reply is
//! split by `format::split`, rendered by `format::to_html` and stored with
//! `store::telegram::answer`; `send` drains the outbox within the send budgets.
//!
//! On start, updates accepted but not answered before a crash are run again (same idempotency
//! key, so one reply each) and the outbox is resumed: replies are exactly-once except for the
//! window the store documents (a send that succeeded just before the process died). A streamed
//! draft is not in the outbox: after a crash mid-answer the draft stays as it was and the re-run
//! answers in a new message.
//!
//! `channels.logout` stops the bridge (`logout`): polling and sending end until the gateway is
//! restarted. Telegram's own `logOut` method is not called (it would lock the bot out of the
//! cloud Bot API for ten minutes); revoke the token with @BotFather to revoke it for good.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use serde_json::{Value, json};
use smol::Timer;

use super::access::{self, Access, Gate};
use super::api::{Message, Update};
use super::commands::{self, Outcome};
use super::poll::{self, Endpoint, Shared};
use super::send::{self, Budget};
use super::{format, media, pairing};
use crate::config::telegram::TelegramConfig;
use crate::gateway::Ctx;
use crate::rpc::error::RpcError;
use crate::store::telegram::{self as tgstore, Incoming, Reply};

/// Batches waiting for the executor (the thread blocks while they are unprocessed).
const BATCH_QUEUE: usize = 2;
/// Unfinished updates re-run at start.
const RESUME_LIMIT: usize = 1000;

/// The running bridge, as the executor sees it.
pub struct Telegram {
    pub(super) cfg: TelegramConfig,
    pub(super) ep: Endpoint,
    shared: Arc<Shared>,
    /// New updates accepted since start.
    updates: Cell<u64>,
    /// Updates answered since start.
    answered: Cell<u64>,
    /// Wakes the sender (capacity 1: a pending wake is enough).
    wake: smol::channel::Sender<()>,
    /// Global, per-chat and `429` send budgets.
    pub(super) budget: Budget,
    /// Updates handled at once (`limits.telegram_inflight`); acquired before an offset is
    /// confirmed, so a flood waits on Telegram's side instead of in tasks here.
    slots: Arc<smol::lock::Semaphore>,
    /// Users approved through pairing (at most `limits.telegram_paired`).
    paired: RefCell<HashSet<i64>>,
    /// Set by `channels.logout`: no more polls or sends until a restart.
    stopped: Cell<bool>,
    /// Answers waiting to enter the outbox, in the order they finished.
    outbox_line: Line,
}

/// A first-come queue of tickets (at most `telegram_inflight` long: one per update in hand).
#[derive(Default)]
pub struct Line {
    next: Cell<u64>,
    waiting: RefCell<std::collections::VecDeque<u64>>,
}

impl Line {
    /// Takes the next ticket.
    pub fn join(&self) -> u64 {
        let t = self.next.get();
        self.next.set(t + 1);
        self.waiting.borrow_mut().push_back(t);
        t
    }

    /// Whether `t` is at the front.
    pub fn is_first(&self, t: u64) -> bool {
        self.waiting.borrow().front() == Some(&t)
    }

    /// Gives the ticket up (done or abandoned).
    pub fn leave(&self, t: u64) {
        self.waiting.borrow_mut().retain(|x| *x != t);
    }
}

impl Telegram {
    /// Wakes the sender (a new answer is in the outbox).
    pub fn wake_sender(&self) {
        let _ = self.wake.try_send(());
    }

    /// Whether `channels.logout` stopped the bridge.
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Adds a user approved through pairing.
    pub fn add_paired(&self, user_id: i64) {
        self.paired.borrow_mut().insert(user_id);
    }

    fn access(&self) -> Access {
        Access {
            dm_policy: self.cfg.dm_policy,
            allow_users: self.cfg.allow_from.clone(),
            allow_groups: self.cfg.groups.clone(),
            operators: self.cfg.operators.clone(),
            group_activation: self.cfg.group_activation,
            bot_username: self
                .shared
                .username
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default(),
            bot_id: self
                .ep
                .token
                .split(':')
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
        }
    }
}

thread_local! {
    /// The bridge of this executor thread, for `channels.status` and `health`.
    static ACTIVE: RefCell<Option<Rc<Telegram>>> = const { RefCell::new(None) };
}

/// The bridge of this executor thread, if it started.
pub fn active() -> Option<Rc<Telegram>> {
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
    let last_error = if tg.is_stopped() {
        Some("logged out by an operator (channels.logout); restart to resume".to_string())
    } else {
        s.last_error.lock().ok().and_then(|g| g.clone())
    };
    Some(json!({
        "configured": true,
        "running": s.running.load(Ordering::Relaxed),
        "loggedOut": tg.is_stopped(),
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
        budget: Budget::default(),
        slots: Arc::new(smol::lock::Semaphore::new(
            ctx.config.limits.telegram_inflight,
        )),
        paired: RefCell::new(HashSet::new()),
        stopped: Cell::new(false),
        outbox_line: Line::default(),
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
    pairing::load(&ctx, &tg).await;
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
        .spawn(send::sender(Rc::clone(&ctx), Rc::clone(&tg), wake_rx))
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
        if tg.is_stopped() {
            // Logged out: not accepted, so Telegram hands the batch out again after a restart.
            return;
        }
        accept_batch(&ctx, &tg, batch, &ack_tx).await;
    }
}

/// Stops polling and sending (`channels.logout`); true when it was running.
pub fn logout() -> bool {
    let Some(tg) = active() else {
        return false;
    };
    let was = !tg.stopped.replace(true);
    tg.shared.stop.store(true, Ordering::Relaxed);
    tg.wake_sender();
    log::warn!("telegram: bridge stopped by channels.logout");
    was
}

/// Waits `d`; false when shutdown came first.
pub async fn pause(ctx: &Ctx, d: Duration) -> bool {
    ctx.shutdown.unless(Timer::after(d)).await.is_some()
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
    let gate = {
        let paired = tg.paired.borrow();
        access::decide(&tg.access(), &msg, &|id| paired.contains(&id))
    };
    let mut draft_id = None;
    let reply = match gate {
        Gate::Ignore(why) => {
            log::debug!("telegram: update {update_id} ignored: {why}");
            mark(ctx, update_id, tgstore::IGNORED).await;
            return;
        }
        Gate::NeedsPairing { user_id } => pairing::ask(ctx, &msg, user_id).await,
        Gate::Accept {
            session_key_rest,
            text,
            operator,
            command,
        } => {
            let key = format!("agent:{}:{session_key_rest}", ctx.config.agent.default_id);
            let handled = match &command {
                Some(c) => commands::run(ctx, tg, &msg, c, operator, &key).await,
                None => Outcome::Agent,
            };
            match handled {
                Outcome::Reply(r) => r,
                Outcome::Agent => {
                    let text = if msg.voice.is_some() || msg.document.is_some() {
                        typing(ctx, tg, msg.chat.id);
                        media::prepare(ctx, tg, &msg, &text).await
                    } else {
                        Ok(text)
                    };
                    match text {
                        Err(answer) => answer,
                        Ok(text) => {
                            typing(ctx, tg, msg.chat.id);
                            let (answer, draft) = turn(ctx, tg, &msg, update_id, &key, &text).await;
                            draft_id = draft;
                            answer
                        }
                    }
                }
            }
        }
    };
    store_answer(ctx, tg, update_id, &msg, &reply, draft_id).await;
}

/// Splits, renders and stores the answer to an update (waiting while the outbox is full).
async fn store_answer(
    ctx: &Rc<Ctx>,
    tg: &Rc<Telegram>,
    update_id: i64,
    msg: &Message,
    text: &str,
    draft_id: Option<i64>,
) {
    let mut chunks = format::html_chunks(text);
    if chunks.is_empty() {
        chunks.push("(no answer)".to_string());
    }
    let cap = ctx.config.limits.telegram_outbox;
    let reply = Reply {
        update_id: Some(update_id),
        chat_id: msg.chat.id,
        chunks,
        parse_mode: Some("HTML".into()),
        reply_to: Some(msg.message_id),
        edit_first: draft_id,
    };
    // Answers enter the outbox in the order they were finished (a ticket queue), so while the
    // outbox is full a later answer of a chat cannot overtake an earlier one.
    let ticket = tg.outbox_line.join();
    let mut warned = false;
    loop {
        if !tg.outbox_line.is_first(ticket) {
            if !pause(ctx, Duration::from_millis(20)).await {
                tg.outbox_line.leave(ticket);
                return;
            }
            continue;
        }
        let now = crate::clock::now_ms();
        let r = reply.clone();
        let res = ctx
            .store
            .write(move |db| tgstore::answer(db, &r, now, cap))
            .await;
        match res {
            Ok(()) => break,
            Err(e) if send::is_full(&e) => {
                if !warned {
                    log::warn!(
                        "telegram: outbox full ({cap} chunks); update {update_id} and later answers wait"
                    );
                    warned = true;
                }
            }
            Err(e) => log::warn!("telegram: cannot store the answer to update {update_id}: {e}"),
        }
        if !pause(ctx, Duration::from_millis(250)).await {
            tg.outbox_line.leave(ticket);
            return;
        }
    }
    tg.outbox_line.leave(ticket);
    tg.answered.set(tg.answered.get() + 1);
    tg.wake_sender();
}

/// Runs one turn through `chat.send` and waits for its outcome: the text to answer with, and
/// the streamed draft message it replaces (with `channels.telegram.streaming`).
async fn turn(
    ctx: &Rc<Ctx>,
    tg: &Rc<Telegram>,
    msg: &Message,
    update_id: i64,
    session_key: &str,
    text: &str,
) -> (String, Option<i64>) {
    let run_id = format!("tg-{update_id}");
    // Followed from before the run starts, so no delta is missed.
    let draft = tg.cfg.streaming.then(|| ctx.agent.runs.watch(&run_id));
    let params = json!({
        "sessionKey": session_key,
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
                        return (String::new(), None);
                    }
                }
                _ => return (refused(&e), None),
            },
        }
    };
    if status == "skipped" {
        return (
            "(not answered: the session skipped this message)".into(),
            None,
        );
    }
    let now = crate::clock::now_ms();
    let rid = run_id.clone();
    let _ = ctx
        .store
        .write(move |db| tgstore::mark(db, update_id, tgstore::SUBMITTED, Some(&rid), now))
        .await;
    let l = &ctx.config.limits;
    let limit = Duration::from_millis(l.run_timeout_ms.saturating_mul(4) + 60_000);
    let draft_id = Rc::new(Cell::new(None));
    let outcome = match &draft {
        None => ctx.agent.runs.wait(&run_id, limit).await,
        Some(d) => {
            smol::future::or(
                ctx.agent.runs.wait(&run_id, limit),
                stream_draft(ctx, tg, msg, d, &draft_id),
            )
            .await
        }
    };
    let answer = match outcome {
        Some(o) if o["status"] == "ok" => o["text"].as_str().unwrap_or("").to_string(),
        Some(o) => {
            let why = o["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| o["error"].to_string());
            format!("Sorry, the agent could not answer: {why}")
        }
        None => "Sorry, the agent did not answer in time.".into(),
    };
    (answer, draft_id.get())
}

/// Shows the growing answer in one message: sent at the first text, then edited at most every
/// `limits.telegram_edit_interval_ms` (plain text: half-written Markdown cannot be rendered).
/// Never returns; it ends when the run's outcome wins the race in `turn`.
async fn stream_draft(
    ctx: &Rc<Ctx>,
    tg: &Rc<Telegram>,
    msg: &Message,
    d: &crate::agent::runs::Draft,
    draft_id: &Cell<Option<i64>>,
) -> Option<serde_json::Value> {
    let every = Duration::from_millis(ctx.config.limits.telegram_edit_interval_ms);
    let mut shown = String::new();
    loop {
        if d.wake.recv().await.is_err() {
            return std::future::pending().await;
        }
        let text = {
            let t = d.text.borrow();
            let parts = format::split(&t, format::MAX_MESSAGE_UNITS);
            parts.into_iter().next().unwrap_or_default()
        };
        if text.trim().is_empty() || text == shown || !tg.budget.take(ctx).await {
            continue;
        }
        let (ep, chat, reply_to, t2) = (tg.ep.clone(), msg.chat.id, msg.message_id, text.clone());
        let id = draft_id.get();
        let res = ctx
            .pool
            .run(move || match id {
                None => poll::send_message(&ep, chat, &t2, None, Some(reply_to)).map(Some),
                Some(mid) => poll::edit_message(&ep, chat, mid, &t2, None).map(|()| None),
            })
            .await;
        match res {
            Ok(Ok(Some(mid))) => draft_id.set(Some(mid)),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => log::debug!("telegram: streamed draft: {e}"),
            Err(e) => log::debug!("telegram: streamed draft: {e}"),
        }
        tg.budget.chat_sent(chat, crate::clock::now_ms());
        shown = text;
        Timer::after(every).await;
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

/// `sendChatAction typing`, best effort: only when a send slot is free right now (typing never
/// waits for, or takes turns from, replies), and skipped when the blocking pool is busy.
fn typing(ctx: &Rc<Ctx>, tg: &Rc<Telegram>, chat_id: i64) {
    if !tg.budget.try_take(ctx) {
        log::debug!("telegram: typing to chat {chat_id} skipped: send budget in use");
        return;
    }
    let (c, t) = (Rc::clone(ctx), Rc::clone(tg));
    ctx.ex
        .spawn(async move {
            let ep = t.ep.clone();
            match c.pool.run(move || poll::send_typing(&ep, chat_id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::debug!("telegram: sendChatAction: {e}"),
                Err(e) => log::debug!("telegram: sendChatAction skipped: {e}"),
            }
        })
        .detach();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_line_serves_tickets_first_come_and_skips_abandoned_ones() {
        let l = Line::default();
        let (a, b, c) = (l.join(), l.join(), l.join());
        assert!(l.is_first(a) && !l.is_first(b));
        l.leave(b);
        l.leave(a);
        assert!(l.is_first(c));
        l.leave(c);
        assert!(l.waiting.borrow().is_empty());
    }
}
