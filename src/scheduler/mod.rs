//! Scheduler: per-session FIFO run scheduling with bounded queues and fair run slots.
//!
//! Owns which turn runs when. A session has at most one active run and a FIFO of waiting turns;
//! at most `max_concurrent_runs` runs are active across sessions, and a freed slot goes to the
//! session that has waited longest. The RPC layer and the channel bridges call [`Scheduler::submit`],
//! [`Scheduler::abort`] and [`Scheduler::clear_queued`]; the scheduler calls back into an
//! [`Executor`], which does the agent work, and spawns each run on the gateway's one `LocalExecutor`.
//!
//! Bounds: at most `session_queue` turns wait per session and `global_queue` in all; a full queue is
//! a retryable [`SubmitError`], never an unbounded wait. A running turn reads steering messages from
//! an inbox of `steer_inbox` entries, a `collect` turn absorbs at most [`MAX_COLLECT_TURNS`] turns
//! and [`MAX_COLLECT_BYTES`] of text, and every run is raced against its eval timeout. A session's
//! state is dropped as soon as it has neither an active run nor a queue.
//!
//! Ending a run drops its future synchronously (the scheduler holds it, the task only polls it),
//! then calls [`Executor::ended`], so an abort reply can already report the run as gone.
//! Group-chat activation lives in [`activation`], request de-duplication in [`idempotency`].
//!
//! It persists nothing: queued turns are lost on restart and clients retry with the same key.

pub mod activation;
pub mod idempotency;
mod run;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use smol::LocalExecutor;
use smol::channel::Receiver;

pub use activation::{Activation, mentions};
pub use idempotency::{IdemCache, IdemCheck, IdemFull, content_hash};

use run::Active;

/// Most turns one `collect` turn stands for (itself included); a later collect turn queues as a
/// new turn and takes a queue slot, so merging cannot grow one turn without bound.
pub const MAX_COLLECT_TURNS: usize = 16;

/// Largest text a `collect` turn grows to, in bytes; a turn that would pass it queues separately.
pub const MAX_COLLECT_BYTES: usize = 64 * 1024;

/// How a turn joins a session that may already be busy; wire names as in [`QueueMode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMode {
    /// Run after everything already queued for the session.
    Followup,
    /// Feed the text to the running turn; queue as `Followup` when that is not possible.
    Steer,
    /// Merge into the session's last queued turn when that is also `Collect`; else `Followup`.
    Collect,
    /// Abort the running turn and run this one before anything queued.
    Interrupt,
}

impl QueueMode {
    /// Parses a wire name; unknown names are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "followup" => Some(Self::Followup),
            "steer" => Some(Self::Steer),
            "collect" => Some(Self::Collect),
            "interrupt" => Some(Self::Interrupt),
            _ => None,
        }
    }

    /// The wire name, the inverse of [`QueueMode::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Followup => "followup",
            Self::Steer => "steer",
            Self::Collect => "collect",
            Self::Interrupt => "interrupt",
        }
    }
}

/// Where a turn came from; decides whether group activation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A gateway client (operator UI, CLI): always runs.
    Operator,
    /// A chat channel; `mentioned` is the platform's own mention flag.
    Channel {
        /// A group chat, where [`Activation`] applies; direct messages always run.
        group: bool,
        /// The platform reported the agent as mentioned (reply, entity, ...).
        mentioned: bool,
    },
}

/// One unit of agent work for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// The client's idempotency key; the run's events are reported under it.
    pub run_id: String,
    /// Canonical session key, e.g. `agent:main:main`.
    pub session_key: String,
    /// The agent that runs the turn.
    pub agent_id: String,
    /// The user text (for a merged `collect` turn, the texts joined by a blank line).
    pub text: String,
    /// How the turn joins a busy session.
    pub mode: QueueMode,
    /// Who sent it.
    pub origin: Origin,
    /// Eval timeout for this run, already capped by the caller; on expiry the run is dropped.
    pub timeout: Duration,
    /// Run ids of later turns merged into this one by `collect`; empty otherwise.
    pub merged: Vec<String>,
}

/// Capacities the scheduler enforces, taken from `config::Limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedLimits {
    /// Turns waiting across all sessions; past it `submit` answers `GlobalQueueFull`.
    pub global_queue: usize,
    /// Turns waiting in one session; past it `submit` answers `SessionQueueFull`.
    pub session_queue: usize,
    /// Runs active at once across sessions; other sessions wait for a slot, oldest first.
    pub max_concurrent_runs: usize,
    /// Steering messages buffered for one running turn; when full, `steer` queues as `followup`.
    pub steer_inbox: usize,
}

/// What `submit` did with a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The turn is running now.
    Started,
    /// The turn waits; `position` 1 runs next in its session.
    Queued {
        /// 1-based place in the session's queue.
        position: usize,
    },
    /// The text went to the running turn's steering inbox; no new run.
    Steered {
        /// The run that received it.
        into_run: String,
    },
    /// The turn was merged into a queued `collect` turn; no new queue slot.
    Collected {
        /// 1-based queue position of the turn it joined.
        into_position: usize,
    },
    /// The previous run was aborted and this turn is running in its place.
    Interrupted {
        /// The aborted run.
        previous_run: String,
    },
    /// The turn was not run and nothing was queued.
    Skipped {
        /// Why, e.g. `"not mentioned"`.
        reason: &'static str,
    },
}

/// Why `submit` refused a turn; both are retryable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The session already has `cap` turns waiting.
    SessionQueueFull {
        /// `limits.session_queue`.
        cap: usize,
    },
    /// All sessions together already have `cap` turns waiting.
    GlobalQueueFull {
        /// `limits.global_queue`.
        cap: usize,
    },
}

impl SubmitError {
    /// Suggested client back-off in milliseconds, for `retryAfterMs`.
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            // One session's backlog drains with its own runs; a global backlog needs several.
            Self::SessionQueueFull { .. } => 1_000,
            Self::GlobalQueueFull { .. } => 2_000,
        }
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SessionQueueFull { cap } => write!(
                f,
                "session queue full: {cap} turns waiting (limits.session_queue)"
            ),
            Self::GlobalQueueFull { cap } => write!(
                f,
                "scheduler queue full: {cap} turns waiting across sessions (limits.global_queue)"
            ),
        }
    }
}

impl std::error::Error for SubmitError {}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The run's future finished.
    Completed,
    /// `abort` stopped it.
    Aborted,
    /// Its eval timeout expired.
    TimedOut,
    /// An `interrupt` turn replaced it.
    Interrupted,
}

impl EndReason {
    /// A lowercase name for events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Aborted => "aborted",
            Self::TimedOut => "timeout",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Counters and gauges for `system.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedStats {
    /// Runs active now.
    pub running: usize,
    /// Turns waiting now, across sessions.
    pub queued: usize,
    /// Sessions with an active run or a queue.
    pub sessions_tracked: usize,
    /// Runs started since boot.
    pub started_total: u64,
    /// Turns refused with a full queue since boot.
    pub shed_total: u64,
    /// Runs ended by their eval timeout since boot.
    pub timed_out_total: u64,
}

/// What a running turn can read: steering messages pushed while it runs (bounded by
/// `limits.steer_inbox`). Closed once the run ends.
pub struct SteerInbox {
    rx: Receiver<String>,
}

impl SteerInbox {
    /// The next steering message; `None` once the run has ended and the inbox is drained.
    pub async fn recv(&self) -> Option<String> {
        self.rx.recv().await.ok()
    }

    /// A steering message if one is waiting, without blocking.
    pub fn try_recv(&self) -> Option<String> {
        self.rx.try_recv().ok()
    }

    /// An inbox that never yields a message, for running an `Executor` outside the scheduler.
    pub fn empty() -> SteerInbox {
        let (_, rx) = smol::channel::bounded(1);
        SteerInbox { rx }
    }
}

/// The agent side of the scheduler: runs turns and hears how they ended.
pub trait Executor {
    /// Runs one turn to completion (stores results, emits events). The future is dropped on abort, timeout or interrupt.
    fn run(&self, turn: Turn, steer: SteerInbox) -> Pin<Box<dyn Future<Output = ()>>>;
    /// Whether running turns read their SteerInbox (if false, `steer` degrades to `followup`).
    fn supports_steer(&self) -> bool;
    /// Called exactly once when a run ended without completing (Aborted, TimedOut, Interrupted), after its future was dropped.
    fn ended(&self, turn: &Turn, reason: EndReason);
}

/// Per-session FIFO run scheduler; cheap to clone, single-threaded.
#[derive(Clone)]
pub struct Scheduler {
    inner: Rc<Inner>,
}

/// What every clone shares; `state` is never borrowed across an `.await` or a call into `exec`.
struct Inner {
    ex: Rc<LocalExecutor<'static>>,
    exec: Rc<dyn Executor>,
    limits: SchedLimits,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Session>,
    /// Sessions with queued turns and no active run, longest-waiting first. A session is here
    /// exactly when it has no active run and a non-empty queue.
    waiting: VecDeque<String>,
    running: usize,
    queued: usize,
    next_seq: u64,
    started_total: u64,
    shed_total: u64,
    timed_out_total: u64,
    /// `idle()` callers to wake when nothing runs or waits; one per distinct waker.
    idle_wakers: Vec<Waker>,
}

#[derive(Default)]
struct Session {
    active: Option<Active>,
    queue: VecDeque<Turn>,
}

impl State {
    fn forget_if_empty(&mut self, key: &str) {
        if self
            .sessions
            .get(key)
            .is_some_and(|s| s.active.is_none() && s.queue.is_empty())
        {
            self.sessions.remove(key);
        }
    }

    /// The `idle()` wakers to wake, if the scheduler just became idle.
    fn take_idle_wakers(&mut self) -> Vec<Waker> {
        if self.running == 0 && self.queued == 0 {
            std::mem::take(&mut self.idle_wakers)
        } else {
            Vec::new()
        }
    }
}

impl Scheduler {
    /// A scheduler that spawns runs on `ex` and hands them to `exec`.
    pub fn new(
        ex: Rc<LocalExecutor<'static>>,
        exec: Rc<dyn Executor>,
        limits: SchedLimits,
    ) -> Scheduler {
        Scheduler {
            inner: Rc::new(Inner {
                ex,
                exec,
                limits,
                state: RefCell::new(State::default()),
            }),
        }
    }

    /// Runs, queues, steers, merges or skips `turn` according to its mode and `activation`.
    ///
    /// `names` are the agent's names for mention detection in group chats. A refused turn leaves
    /// no trace; the per-session bound is checked before the global one.
    pub fn submit(
        &self,
        turn: Turn,
        activation: Activation,
        names: &[&str],
    ) -> Result<Submitted, SubmitError> {
        if !activation.admits(turn.origin, &turn.text, names) {
            return Ok(Submitted::Skipped {
                reason: "not mentioned",
            });
        }
        let inner = &self.inner;
        let mut turn = turn;
        let absorbed = match turn.mode {
            QueueMode::Interrupt => return inner.interrupt(turn),
            QueueMode::Steer if inner.exec.supports_steer() => inner.steer(&mut turn),
            QueueMode::Collect => inner.collect(&mut turn),
            _ => None,
        };
        match absorbed {
            Some(done) => Ok(done),
            None => inner.enqueue(turn, false),
        }
    }

    /// Aborts the session's active run (if `run_id` is Some, only when it matches). Queued turns of that session are kept. Returns the aborted run id.
    pub fn abort(&self, session_key: &str, run_id: Option<&str>) -> Option<String> {
        let (seq, id) = {
            let st = self.inner.state.borrow();
            let active = st.sessions.get(session_key)?.active.as_ref()?;
            if run_id.is_some_and(|r| r != active.run_id()) {
                return None;
            }
            (active.seq, active.run_id().to_owned())
        };
        self.inner
            .end_run(session_key, seq, EndReason::Aborted, None, false)
            .then_some(id)
    }

    /// Drops queued (not running) turns of a session, e.g. on sessions.reset/delete; returns their
    /// run ids, including the ids merged into `collect` turns, in queue order.
    pub fn clear_queued(&self, session_key: &str) -> Vec<String> {
        let (turns, wakers) = {
            let mut st = self.inner.state.borrow_mut();
            let Some(sess) = st.sessions.get_mut(session_key) else {
                return Vec::new();
            };
            let turns = std::mem::take(&mut sess.queue);
            st.queued -= turns.len();
            st.waiting.retain(|k| k != session_key);
            st.forget_if_empty(session_key);
            (turns, st.take_idle_wakers())
        };
        wakers.into_iter().for_each(Waker::wake);
        turns
            .into_iter()
            .flat_map(|t| std::iter::once(t.run_id).chain(t.merged))
            .collect()
    }

    /// The session's running run id, if any.
    pub fn is_active(&self, session_key: &str) -> Option<String> {
        let st = self.inner.state.borrow();
        let active = st.sessions.get(session_key)?.active.as_ref()?;
        Some(active.run_id().to_owned())
    }

    /// Number of turns waiting in the session's queue (a merged `collect` turn counts once).
    pub fn queued_in(&self, session_key: &str) -> usize {
        let st = self.inner.state.borrow();
        st.sessions.get(session_key).map_or(0, |s| s.queue.len())
    }

    /// Current gauges and totals.
    pub fn stats(&self) -> SchedStats {
        let st = self.inner.state.borrow();
        SchedStats {
            running: st.running,
            queued: st.queued,
            sessions_tracked: st.sessions.len(),
            started_total: st.started_total,
            shed_total: st.shed_total,
            timed_out_total: st.timed_out_total,
        }
    }

    /// Resolves when no run is active and nothing is queued (for tests/shutdown).
    pub async fn idle(&self) {
        std::future::poll_fn(|cx| {
            let mut st = self.inner.state.borrow_mut();
            if st.running == 0 && st.queued == 0 {
                return Poll::Ready(());
            }
            if !st.idle_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                st.idle_wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl Inner {
    /// Starts `turn` now when its session is idle and a slot is free with nobody waiting;
    /// otherwise queues it (at the front for `interrupt`), within both bounds.
    fn enqueue(self: &Rc<Self>, turn: Turn, front: bool) -> Result<Submitted, SubmitError> {
        let mut st = self.state.borrow_mut();
        let key = turn.session_key.clone();
        let (busy, queued_here) = st
            .sessions
            .get(&key)
            .map_or((false, 0), |s| (s.active.is_some(), s.queue.len()));
        if !busy
            && queued_here == 0
            && st.waiting.is_empty()
            && st.running < self.limits.max_concurrent_runs
        {
            self.start(&mut st, &key, turn);
            return Ok(Submitted::Started);
        }
        let refused = if queued_here >= self.limits.session_queue {
            Some(SubmitError::SessionQueueFull {
                cap: self.limits.session_queue,
            })
        } else if st.queued >= self.limits.global_queue {
            Some(SubmitError::GlobalQueueFull {
                cap: self.limits.global_queue,
            })
        } else {
            None
        };
        if let Some(err) = refused {
            st.shed_total += 1;
            log::debug!("scheduler: shed run {} for {key}: {err}", turn.run_id);
            return Err(err);
        }
        let sess = st.sessions.entry(key.clone()).or_default();
        let position = if front {
            sess.queue.push_front(turn);
            1
        } else {
            sess.queue.push_back(turn);
            sess.queue.len()
        };
        st.queued += 1;
        if !busy && queued_here == 0 {
            st.waiting.push_back(key);
        }
        Ok(Submitted::Queued { position })
    }

    /// Pushes the text into the active run's inbox; `None` leaves `turn` as it was, for `followup`.
    fn steer(&self, turn: &mut Turn) -> Option<Submitted> {
        let st = self.state.borrow();
        let active = st.sessions.get(&turn.session_key)?.active.as_ref()?;
        if self.limits.steer_inbox == 0 {
            return None;
        }
        match active.steer_tx.try_send(std::mem::take(&mut turn.text)) {
            Ok(()) => Some(Submitted::Steered {
                into_run: active.run_id().to_owned(),
            }),
            Err(e) => {
                turn.text = e.into_inner();
                None
            }
        }
    }

    /// Merges into the session's last queued turn when that is a `collect` turn with room left,
    /// `None` leaves `turn` as it was, for `followup`.
    fn collect(&self, turn: &mut Turn) -> Option<Submitted> {
        let mut st = self.state.borrow_mut();
        let sess = st.sessions.get_mut(&turn.session_key)?;
        let position = sess.queue.len();
        let last = sess.queue.back_mut()?;
        let fits = last.mode == QueueMode::Collect
            && last.merged.len() + 1 < MAX_COLLECT_TURNS
            && last.text.len() + 2 + turn.text.len() <= MAX_COLLECT_BYTES;
        if !fits {
            return None;
        }
        last.text.push_str("\n\n");
        last.text.push_str(&turn.text);
        last.merged.push(std::mem::take(&mut turn.run_id));
        Some(Submitted::Collected {
            into_position: position,
        })
    }

    /// Replaces the session's active run with `turn`, or queues it first in line when the session
    /// has no active run.
    fn interrupt(self: &Rc<Self>, turn: Turn) -> Result<Submitted, SubmitError> {
        let previous = {
            let st = self.state.borrow();
            st.sessions
                .get(&turn.session_key)
                .and_then(|s| s.active.as_ref())
                .map(|a| (a.seq, a.run_id().to_owned()))
        };
        let Some((seq, previous_run)) = previous else {
            return self.enqueue(turn, true);
        };
        let key = turn.session_key.clone();
        self.end_run(&key, seq, EndReason::Interrupted, Some(turn), false);
        Ok(Submitted::Interrupted { previous_run })
    }

    /// Fills free slots from the waiting sessions, longest-waiting first.
    fn pump(self: &Rc<Self>, st: &mut State) {
        while st.running < self.limits.max_concurrent_runs {
            let Some(key) = st.waiting.pop_front() else {
                break;
            };
            let next = match st.sessions.get_mut(&key) {
                Some(s) if s.active.is_none() => s.queue.pop_front(),
                _ => None,
            };
            if let Some(turn) = next {
                st.queued -= 1;
                self.start(st, &key, turn);
            }
        }
    }

    /// Ends run `seq` of session `key` if it is still the active one: frees or hands over its
    /// slot, drops its future, then tells the executor. `next` (an interrupting turn) takes the
    /// slot before anyone waiting. Returns false when that run had already ended.
    fn end_run(
        self: &Rc<Self>,
        key: &str,
        seq: u64,
        reason: EndReason,
        next: Option<Turn>,
        from_task: bool,
    ) -> bool {
        let (active, wakers) = {
            let mut st = self.state.borrow_mut();
            let Some(sess) = st.sessions.get_mut(key) else {
                return false;
            };
            if sess.active.as_ref().is_none_or(|a| a.seq != seq) {
                return false;
            }
            let active = sess.active.take().expect("active run checked above");
            let has_queue = !sess.queue.is_empty();
            st.running -= 1;
            if reason == EndReason::TimedOut {
                st.timed_out_total += 1;
            }
            match next {
                Some(turn) => self.start(&mut st, key, turn),
                None if has_queue => st.waiting.push_back(key.to_owned()),
                None => {}
            }
            self.pump(&mut st);
            st.forget_if_empty(key);
            (active, st.take_idle_wakers())
        };
        if reason == EndReason::TimedOut {
            log::warn!(
                "scheduler: run {} in {key} timed out after {} ms",
                active.run_id(),
                active.timeout().as_millis()
            );
        }
        active.release(&*self.exec, reason, from_task);
        wakers.into_iter().for_each(Waker::wake);
        true
    }
}
