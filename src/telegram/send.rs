//! Telegram sender: drains the persisted outbox through the blocking pool, within the budgets.
//!
//! Due chunks are taken from `store::telegram::due` in order. Budgets: at most
//! `limits.telegram_send_per_sec` sends per second across all chats, and at least
//! `limits.telegram_chat_interval_ms` between two sends into one chat; a chat that must wait is
//! skipped for this pass (its later chunks too, so a reply keeps its order) while other chats go
//! on. A chunk with `edit_of` replaces a streamed draft by `editMessageText` (sent anew if the
//! draft is gone). Markup Telegram cannot parse is resent as plain text. `429` pauses every send
//! for `retry_after` and reschedules the chunk in the store; 5xx and network errors back off from
//! 1 s doubling to 30 s; a group that became a supergroup (`migrate_to_chat_id`) has its unsent
//! chunks moved to the new id and sent there; other refusals (blocked by the user, chat gone)
//! drop the chunk with a log line.

use std::collections::HashMap;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use smol::Timer;

use super::api::ApiError;
use super::bridge::{Telegram, pause};
use super::poll::{self, CallError};
use crate::gateway::Ctx;
use crate::store::StoreError;
use crate::store::telegram::{self as tgstore, Outgoing, Reply};

/// Chunks the sender takes from the store per pass.
const SEND_BATCH: usize = 16;
/// How often the sender looks at the outbox without being woken.
const SENDER_TICK: Duration = Duration::from_secs(1);

/// Send budgets: the global per-second window, the pause after `429`, the per-chat spacing.
#[derive(Default)]
pub struct Budget {
    /// Sends in the current one-second window: (window start ms, count).
    window: std::cell::Cell<(u64, u32)>,
    /// No send before this time (ms).
    paused_until: std::cell::Cell<u64>,
    /// Last send per chat (ms); entries older than the interval are dropped, so the map holds
    /// at most the chats served in the last interval.
    chat_last: std::cell::RefCell<HashMap<i64, u64>>,
}

impl Budget {
    /// Waits for a slot in the global budget (and any pause); false on shutdown.
    pub async fn take(&self, ctx: &Ctx) -> bool {
        loop {
            let now = crate::clock::now_ms();
            let paused = self.paused_until.get();
            if paused > now {
                if !pause(ctx, Duration::from_millis(paused - now)).await {
                    return false;
                }
                continue;
            }
            if self.grant(now, ctx.config.limits.telegram_send_per_sec) {
                return true;
            }
            let start = self.window.get().0;
            if !pause(ctx, Duration::from_millis(start + 1000 - now)).await {
                return false;
            }
        }
    }

    /// Takes a slot only if one is free now (no pause, window not used up); for sends that may
    /// be skipped, like chat actions. Keeps a quarter of the window for replies.
    pub fn try_take(&self, ctx: &Ctx) -> bool {
        let now = crate::clock::now_ms();
        if self.paused_until.get() > now {
            return false;
        }
        let cap = ctx.config.limits.telegram_send_per_sec;
        self.grant(now, cap - cap / 4)
    }

    /// Counts a send in the current one-second window if fewer than `cap` were made in it.
    fn grant(&self, now: u64, cap: u32) -> bool {
        let (start, n) = self.window.get();
        if now.saturating_sub(start) >= 1000 {
            self.window.set((now, 1));
            return true;
        }
        if n < cap {
            self.window.set((start, n + 1));
            return true;
        }
        false
    }

    /// Pauses every send until `until` (ms).
    pub fn pause_all(&self, until: u64) {
        self.paused_until.set(self.paused_until.get().max(until));
    }

    /// Ms until `chat` may be sent to again (0: now).
    fn chat_wait(&self, chat: i64, now: u64, interval: u64) -> u64 {
        let mut m = self.chat_last.borrow_mut();
        m.retain(|_, t| now.saturating_sub(*t) < interval);
        m.get(&chat)
            .map_or(0, |t| (t + interval).saturating_sub(now))
    }

    /// Records a send into `chat`.
    pub fn chat_sent(&self, chat: i64, now: u64) {
        self.chat_last.borrow_mut().insert(chat, now);
    }
}

/// Stores a reply that answers no update (a notice, a command's answer that is not a turn);
/// `false` when the outbox is full or the store fails (logged).
pub async fn notify(ctx: &Ctx, tg: &Telegram, reply: Reply) -> bool {
    let cap = ctx.config.limits.telegram_outbox;
    let now = crate::clock::now_ms();
    match ctx
        .store
        .write(move |db| tgstore::answer(db, &reply, now, cap))
        .await
    {
        Ok(()) => {
            tg.wake_sender();
            true
        }
        Err(e) => {
            log::warn!("telegram: cannot queue a notice: {e}");
            false
        }
    }
}

/// Drains the outbox in order, woken by new answers or every `SENDER_TICK`.
pub async fn sender(ctx: Rc<Ctx>, tg: Rc<Telegram>, wake: smol::channel::Receiver<()>) {
    let mut failures = 0u32;
    let interval = ctx.config.limits.telegram_chat_interval_ms;
    loop {
        if tg.is_stopped() {
            return;
        }
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
        let mut held: HashSet<i64> = HashSet::new();
        let mut next_ms = SENDER_TICK.as_millis() as u64;
        for chunk in &due {
            if held.contains(&chunk.chat_id) {
                continue;
            }
            let wait = tg
                .budget
                .chat_wait(chunk.chat_id, crate::clock::now_ms(), interval);
            if wait > 0 {
                held.insert(chunk.chat_id);
                next_ms = next_ms.min(wait);
                continue;
            }
            if !tg.budget.take(&ctx).await {
                return;
            }
            tg.budget.chat_sent(chunk.chat_id, crate::clock::now_ms());
            match send_chunk(&ctx, &tg, chunk).await {
                Sent::Done => {
                    failures = 0;
                    progressed = true;
                }
                Sent::Migrated(to) => {
                    let from = chunk.chat_id;
                    log::info!("telegram: chat {from} became supergroup {to}; resending there");
                    if let Err(e) = ctx
                        .store
                        .write(move |db| tgstore::migrate_chat(db, from, to))
                        .await
                    {
                        log::warn!("telegram: cannot move chunks to chat {to}: {e}");
                    }
                    progressed = true;
                    break;
                }
                Sent::Later(at) => {
                    reschedule(&ctx, chunk.id, at).await;
                    tg.budget.pause_all(at);
                    // Later chunks wait too, so a reply keeps its order.
                    break;
                }
                Sent::Backoff => {
                    failures += 1;
                    let ms =
                        (poll::MIN_BACKOFF_MS << (failures - 1).min(5)).min(poll::MAX_BACKOFF_MS);
                    let at = crate::clock::now_ms() + ms;
                    reschedule(&ctx, chunk.id, at).await;
                    tg.budget.pause_all(at);
                    break;
                }
            }
        }
        if progressed && (due.len() == SEND_BATCH || !held.is_empty()) {
            if !held.is_empty() && !pause(&ctx, Duration::from_millis(next_ms.max(10))).await {
                return;
            }
            continue;
        }
        let nap = Duration::from_millis(next_ms.max(10));
        let woke = ctx
            .shutdown
            .unless(smol::future::or(
                async {
                    let _ = wake.recv().await;
                },
                async {
                    Timer::after(nap).await;
                },
            ))
            .await;
        if woke.is_none() {
            return;
        }
    }
}

async fn reschedule(ctx: &Ctx, id: i64, at: u64) {
    if let Err(e) = ctx.store.write(move |db| tgstore::retry(db, id, at)).await {
        log::warn!("telegram: cannot reschedule chunk {id}: {e}");
    }
}

enum Sent {
    /// Sent, or given up for good (logged): the chunk is finished.
    Done,
    /// Telegram asked to wait: retry at this time (ms).
    Later(u64),
    /// A transient failure: back off.
    Backoff,
    /// The group moved to this supergroup id.
    Migrated(i64),
}

/// One chunk: `sendMessage` (or `editMessageText` for a draft), with the plain-text fallback.
fn deliver(ep: &poll::Endpoint, c: &Outgoing) -> Result<i64, CallError> {
    let (chat, mode) = (c.chat_id, c.parse_mode.as_deref());
    let unparsable = |e: &CallError| matches!(e, CallError::Api(ApiError::BadRequest(d)) if d.contains("can't parse entities"));
    if let Some(mid) = c.edit_of {
        let first = poll::edit_message(ep, chat, mid, &c.text, mode);
        let res = match first {
            Err(e) if mode.is_some() && unparsable(&e) => {
                poll::edit_message(ep, chat, mid, &html_to_plain(&c.text), None)
            }
            other => other,
        };
        match res {
            Ok(()) => return Ok(mid),
            // The draft was deleted (or is too old to edit): send the text anew.
            Err(CallError::Api(ApiError::BadRequest(d)))
                if d.contains("message to edit not found")
                    || d.contains("message can't be edited") => {}
            Err(e) => return Err(e),
        }
    }
    match poll::send_message(ep, chat, &c.text, mode, c.reply_to) {
        Err(e) if mode.is_some() && unparsable(&e) => {
            poll::send_message(ep, chat, &html_to_plain(&c.text), None, c.reply_to)
        }
        other => other,
    }
}

async fn send_chunk(ctx: &Ctx, tg: &Telegram, c: &Outgoing) -> Sent {
    let ep = tg.ep.clone();
    let chat = c.chat_id;
    let chunk = c.clone();
    let res = ctx.pool.run(move || deliver(&ep, &chunk)).await;
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
        Ok(Err(CallError::Api(ApiError::ChatMigrated { to_chat_id }))) => {
            Sent::Migrated(to_chat_id)
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

/// Whether a store error is the outbox being full.
pub fn is_full(e: &StoreError) -> bool {
    matches!(e, StoreError::Full { .. })
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
    use crate::telegram::format;

    #[test]
    fn plain_fallback_strips_our_html() {
        let html = format::to_html("**a** & [b](https://x.y/?q=1&r=2) `<c>`");
        assert_eq!(html_to_plain(&html), "a & b (https://x.y/?q=1&r=2) <c>");
    }

    #[test]
    fn per_chat_spacing_holds_one_chat_and_forgets_old_entries() {
        let b = Budget::default();
        b.chat_sent(1, 1_000);
        assert_eq!(b.chat_wait(1, 1_400, 1_000), 600);
        assert_eq!(b.chat_wait(2, 1_400, 1_000), 0, "other chats go on");
        assert_eq!(b.chat_wait(1, 2_000, 1_000), 0);
        assert!(b.chat_last.borrow().is_empty(), "stale entries dropped");
    }
}
