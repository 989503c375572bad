//! One active run: the task that polls it, its timeout race, and how it is torn down.
//!
//! The run's future lives in a `RunCell` shared by the scheduler and the spawned task. The task
//! only polls it; whoever ends the run takes it out and drops it on the spot, so an aborted run
//! stops before `Executor::ended` is called. The one exception is a run that ends itself from
//! inside its own poll (say, its tool aborts its own session): the future cannot be dropped while
//! it is being polled, so the task drops it and calls `ended` right after that poll returns.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use smol::channel::{self, Sender};
use smol::{Task, Timer};

use super::{EndReason, Executor, Inner, State, SteerInbox, Turn};

type RunFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A session's running turn, as the scheduler holds it.
pub(super) struct Active {
    /// Unique per run, so a late end from an old task cannot end a newer run.
    pub(super) seq: u64,
    /// Sending side of the run's `SteerInbox`; dropping it closes the inbox.
    pub(super) steer_tx: Sender<String>,
    cell: Rc<RunCell>,
    task: Task<()>,
}

/// State shared by the scheduler and the run's task.
struct RunCell {
    turn: Turn,
    /// The executor's future, once the task has created it; `None` after it was dropped.
    fut: RefCell<Option<RunFuture>>,
    /// The run was ended by the scheduler; the task must not poll or report it again.
    stopped: Cell<bool>,
    /// Set when the run was ended from inside its own poll: the task drops the future and calls
    /// `ended` with this reason once the poll returns.
    deferred: Cell<Option<EndReason>>,
}

/// How the task's race ended.
enum Outcome {
    Completed,
    TimedOut,
    /// Ended from inside its own poll; the reason is still to be reported.
    Deferred(EndReason),
    /// Already ended and reported by the scheduler.
    Stopped,
}

impl Active {
    pub(super) fn run_id(&self) -> &str {
        &self.cell.turn.run_id
    }

    pub(super) fn timeout(&self) -> Duration {
        self.cell.turn.timeout
    }

    /// Drops the run's future and task, then reports `reason` (unless it completed). Called with
    /// no scheduler borrow held, since both the drop and `ended` may call back in.
    pub(super) fn release(self, exec: &dyn Executor, reason: EndReason, from_task: bool) {
        let Active {
            steer_tx,
            cell,
            task,
            ..
        } = self;
        drop(steer_tx);
        cell.stopped.set(true);
        let fut = match cell.fut.try_borrow_mut() {
            Ok(mut slot) => slot.take(),
            Err(_) => {
                // Ended from inside its own poll: the task finishes the job after the poll.
                cell.deferred.set(Some(reason));
                task.detach();
                return;
            }
        };
        drop(fut);
        if from_task {
            // The task is the caller; it returns right after this.
            task.detach();
        } else {
            // Cancels the task; the executor frees it on its next tick, it never polls again.
            drop(task);
        }
        if reason != EndReason::Completed {
            exec.ended(&cell.turn, reason);
        }
    }
}

impl RunCell {
    fn poll_run(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let done = match self.fut.borrow_mut().as_mut() {
            Some(fut) => fut.as_mut().poll(cx).is_ready(),
            None => return Poll::Ready(Outcome::Stopped),
        };
        if let Some(reason) = self.deferred.take() {
            return Poll::Ready(Outcome::Deferred(reason));
        }
        if done {
            Poll::Ready(Outcome::Completed)
        } else {
            Poll::Pending
        }
    }
}

impl Inner {
    /// Makes `turn` the active run of session `key` and spawns its task. Calls nothing in the
    /// executor: `Executor::run` is called by the task on its first poll, so it never runs
    /// under the state borrow and always after the previous run's `ended`.
    pub(super) fn start(self: &Rc<Self>, st: &mut State, key: &str, turn: Turn) {
        let seq = st.next_seq;
        st.next_seq += 1;
        let (steer_tx, rx) = channel::bounded(self.limits.steer_inbox.max(1));
        // The deadline counts from here, so time spent before the first poll is included.
        let timer = Timer::after(turn.timeout);
        log::debug!("scheduler: run {} started in {key}", turn.run_id);
        let cell = Rc::new(RunCell {
            turn,
            fut: RefCell::new(None),
            stopped: Cell::new(false),
            deferred: Cell::new(None),
        });
        let task = self.ex.spawn(drive(
            Rc::downgrade(self),
            Rc::clone(&self.exec),
            Rc::clone(&cell),
            SteerInbox { rx },
            timer,
            key.to_owned(),
            seq,
        ));
        st.sessions.entry(key.to_owned()).or_default().active = Some(Active {
            seq,
            steer_tx,
            cell,
            task,
        });
        st.running += 1;
        st.started_total += 1;
    }
}

/// The body of a run's task: creates the executor's future, races it against the timeout, and
/// reports the end. Holds only a weak link to the scheduler, so a dropped scheduler is not kept
/// alive by its runs.
async fn drive(
    sched: Weak<Inner>,
    exec: Rc<dyn Executor>,
    cell: Rc<RunCell>,
    inbox: SteerInbox,
    timer: Timer,
    key: String,
    seq: u64,
) {
    let fut = exec.run(cell.turn.clone(), inbox);
    if cell.stopped.get() {
        // Ended while `run` built the future; the scheduler has reported it already.
        return;
    }
    *cell.fut.borrow_mut() = Some(fut);
    // The run is polled first, so a run that finishes as its deadline passes counts as completed.
    let outcome = smol::future::or(std::future::poll_fn(|cx| cell.poll_run(cx)), async {
        timer.await;
        Outcome::TimedOut
    })
    .await;
    let reason = match outcome {
        Outcome::Completed => EndReason::Completed,
        Outcome::TimedOut => EndReason::TimedOut,
        Outcome::Stopped => return,
        Outcome::Deferred(reason) => {
            let fut = cell.fut.borrow_mut().take();
            drop(fut);
            exec.ended(&cell.turn, reason);
            return;
        }
    };
    if let Some(sched) = sched.upgrade() {
        sched.end_run(&key, seq, reason, None, true);
    }
}
