//! Run results: the outcome of recently finished runs, for `agent` finals and `agent.wait`.
//!
//! Holds at most `limits.run_results` outcomes (the oldest is forgotten) and wakes the callers
//! waiting on a run id. Waiters are pending RPCs, so their number is bounded by connections ×
//! `max_inflight_per_conn`; a waiter whose RPC gave up is removed on the next finish.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

use serde_json::Value;

/// Recently finished runs and the callers waiting for runs to finish.
pub struct RunLog {
    done: RefCell<VecDeque<(String, Value)>>,
    waiters: RefCell<Vec<(String, smol::channel::Sender<Value>)>>,
    /// Runs whose growing text someone follows (a streamed Telegram reply); an entry goes when
    /// its `Draft` is dropped, so there are at most as many as followers.
    drafts: RefCell<Vec<(String, Weak<Draft>)>>,
    cap: usize,
}

/// The latest text of a followed run: overwritten by each delta (one string, never a queue),
/// with a wake-up (capacity 1) when it changes.
pub struct Draft {
    /// The whole text so far.
    pub text: RefCell<String>,
    wake_tx: smol::channel::Sender<()>,
    /// Receives once after any number of changes.
    pub wake: smol::channel::Receiver<()>,
}

impl RunLog {
    /// A log keeping `cap` outcomes.
    pub fn new(cap: usize) -> Self {
        RunLog {
            done: RefCell::new(VecDeque::with_capacity(cap.min(64))),
            waiters: RefCell::new(Vec::new()),
            drafts: RefCell::new(Vec::new()),
            cap: cap.max(1),
        }
    }

    /// Records `run_id`'s outcome and wakes its waiters.
    pub fn finish(&self, run_id: &str, outcome: Value) {
        {
            let mut d = self.done.borrow_mut();
            d.retain(|(id, _)| id != run_id);
            if d.len() >= self.cap {
                d.pop_front();
            }
            d.push_back((run_id.to_string(), outcome.clone()));
        }
        let mut w = self.waiters.borrow_mut();
        w.retain(|(id, tx)| {
            if id == run_id {
                let _ = tx.try_send(outcome.clone());
                false
            } else {
                !tx.is_closed()
            }
        });
    }

    /// The outcome of a finished run, if remembered.
    pub fn get(&self, run_id: &str) -> Option<Value> {
        self.done
            .borrow()
            .iter()
            .find(|(id, _)| id == run_id)
            .map(|(_, v)| v.clone())
    }

    /// Waits up to `timeout` for `run_id` to finish; `None` on timeout.
    pub async fn wait(&self, run_id: &str, timeout: Duration) -> Option<Value> {
        if let Some(v) = self.get(run_id) {
            return Some(v);
        }
        let (tx, rx) = smol::channel::bounded(1);
        self.waiters.borrow_mut().push((run_id.to_string(), tx));
        crate::clock::within(timeout, rx.recv())
            .await
            .and_then(Result::ok)
    }

    /// Follows `run_id`'s text as it grows (until the returned `Draft` is dropped).
    pub fn watch(&self, run_id: &str) -> Rc<Draft> {
        let (wake_tx, wake) = smol::channel::bounded(1);
        let d = Rc::new(Draft {
            text: RefCell::new(String::new()),
            wake_tx,
            wake,
        });
        let mut all = self.drafts.borrow_mut();
        all.retain(|(_, w)| w.strong_count() > 0);
        all.push((run_id.to_string(), Rc::downgrade(&d)));
        d
    }

    /// A run's text so far (from its `chat` deltas), for whoever follows it.
    pub fn draft(&self, run_id: &str, text: &str) {
        let all = self.drafts.borrow();
        for (id, w) in all.iter() {
            if id == run_id
                && let Some(d) = w.upgrade()
            {
                text.clone_into(&mut d.text.borrow_mut());
                let _ = d.wake_tx.try_send(());
            }
        }
    }

    /// Callers waiting right now.
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_keeps_only_the_latest_text_and_is_forgotten_when_dropped() {
        let log = RunLog::new(4);
        let d = log.watch("r1");
        log.draft("r1", "hel");
        log.draft("r1", "hello");
        log.draft("r2", "other");
        assert_eq!(*d.text.borrow(), "hello");
        assert!(d.wake.try_recv().is_ok());
        assert!(d.wake.try_recv().is_err(), "one wake for many changes");
        drop(d);
        let _e = log.watch("r3");
        assert_eq!(log.drafts.borrow().len(), 1, "dropped drafts are removed");
    }
    use serde_json::json;

    #[test]
    fn keeps_the_newest_and_wakes_waiters() {
        let log = RunLog::new(2);
        smol::block_on(async {
            let waited = smol::future::zip(log.wait("r1", Duration::from_secs(5)), async {
                log.finish("r1", json!({"status": "ok"}));
            })
            .await
            .0;
            assert_eq!(waited, Some(json!({"status": "ok"})));
            log.finish("r2", json!(2));
            log.finish("r3", json!(3));
            assert_eq!(log.get("r1"), None, "oldest forgotten at cap 2");
            assert_eq!(log.get("r3"), Some(json!(3)));
            assert_eq!(log.wait("nope", Duration::from_millis(10)).await, None);
            log.finish("r4", json!(4));
            assert_eq!(log.waiting(), 0, "a timed-out waiter is dropped");
        });
    }
}
