//! Scheduler tests, driven by a fake `Executor` whose runs finish when the test says so.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use smol::channel::{self, Receiver, Sender};
use smol::{LocalExecutor, Timer};

use super::*;

/// Completes a run when the test sends on it.
type Gate = (Sender<()>, Receiver<()>);

/// State the fake shares with the run futures it hands out.
#[derive(Default)]
struct Shared {
    /// `start r1`, `steer r1 <text>`, `done r1`, `drop r1`, `ended r1 aborted`, `self-abort r1`.
    log: RefCell<Vec<String>>,
    /// Turns as the executor received them, in start order.
    started: RefCell<Vec<Turn>>,
    /// One gate per run id; a message on it completes the run. Created by whichever side asks first.
    gates: RefCell<HashMap<String, Gate>>,
    /// Set by tests whose runs or `ended` call back into the scheduler.
    sched: RefCell<Option<Scheduler>>,
    /// Turn submitted from inside `ended` (re-entrancy test), with its result.
    resubmit: RefCell<Option<Turn>>,
    resubmitted: RefCell<Option<Result<Submitted, SubmitError>>>,
}

impl Shared {
    fn gate(&self, run_id: &str) -> Gate {
        self.gates
            .borrow_mut()
            .entry(run_id.to_owned())
            .or_insert_with(|| channel::bounded(1))
            .clone()
    }

    fn push(&self, line: String) {
        self.log.borrow_mut().push(line);
    }
}

struct Fake {
    shared: Rc<Shared>,
    supports_steer: bool,
    reads_steer: bool,
}

/// Logs `drop <id>` when the run's future is dropped, finished or not.
struct DropLog(Rc<Shared>, String);

impl Drop for DropLog {
    fn drop(&mut self) {
        self.0.push(format!("drop {}", self.1));
    }
}

impl Executor for Fake {
    fn run(&self, turn: Turn, steer: SteerInbox) -> Pin<Box<dyn Future<Output = ()>>> {
        let shared = Rc::clone(&self.shared);
        let reads_steer = self.reads_steer;
        Box::pin(async move {
            let id = turn.run_id.clone();
            let _guard = DropLog(Rc::clone(&shared), id.clone());
            shared.push(format!("start {id}"));
            let gate = shared.gate(&id).1;
            let abort_self = turn.text == "abort me";
            let session = turn.session_key.clone();
            shared.started.borrow_mut().push(turn);
            if abort_self {
                let sched = shared.sched.borrow().clone().expect("sched set");
                let aborted = sched.abort(&session, Some(&id));
                shared.push(format!("self-abort {}", aborted.unwrap_or_default()));
            }
            if reads_steer {
                loop {
                    let next = smol::future::or(
                        async {
                            let _ = gate.recv().await;
                            None
                        },
                        steer.recv(),
                    )
                    .await;
                    match next {
                        Some(text) => shared.push(format!("steer {id} {text}")),
                        None => break,
                    }
                }
            } else {
                let _ = gate.recv().await;
            }
            shared.push(format!("done {id}"));
        })
    }

    fn supports_steer(&self) -> bool {
        self.supports_steer
    }

    fn ended(&self, turn: &Turn, reason: EndReason) {
        self.shared
            .push(format!("ended {} {}", turn.run_id, reason.as_str()));
        let again = self.shared.resubmit.borrow_mut().take();
        if let Some(t) = again {
            let sched = self.shared.sched.borrow().clone().expect("sched set");
            let res = sched.submit(t, Activation::Always, &[]);
            *self.shared.resubmitted.borrow_mut() = Some(res);
        }
    }
}

struct Rig {
    ex: Rc<LocalExecutor<'static>>,
    shared: Rc<Shared>,
    sched: Scheduler,
}

impl Rig {
    fn new(limits: SchedLimits, supports_steer: bool, reads_steer: bool) -> Rig {
        let ex = Rc::new(LocalExecutor::new());
        let shared = Rc::new(Shared::default());
        let fake = Fake {
            shared: Rc::clone(&shared),
            supports_steer,
            reads_steer,
        };
        let sched = Scheduler::new(Rc::clone(&ex), Rc::new(fake), limits);
        Rig { ex, shared, sched }
    }

    fn submit(&self, turn: Turn) -> Result<Submitted, SubmitError> {
        self.sched.submit(turn, Activation::Always, &[])
    }

    fn finish(&self, run_id: &str) {
        self.shared
            .gate(run_id)
            .0
            .try_send(())
            .expect("gate has room");
    }

    fn log(&self) -> Vec<String> {
        self.shared.log.borrow().clone()
    }

    fn starts(&self) -> Vec<String> {
        self.shared
            .started
            .borrow()
            .iter()
            .map(|t| t.run_id.clone())
            .collect()
    }

    /// Index of `line` in the log; panics with the log when it is missing.
    fn at(&self, line: &str) -> usize {
        let log = self.log();
        log.iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line:?} not in {log:?}"))
    }

    fn active(&self, session: &str) -> Option<String> {
        self.sched.is_active(session)
    }
}

fn limits(max_concurrent_runs: usize, session_queue: usize, global_queue: usize) -> SchedLimits {
    SchedLimits {
        global_queue,
        session_queue,
        max_concurrent_runs,
        steer_inbox: 4,
    }
}

fn turn(run_id: &str, session: &str, mode: QueueMode) -> Turn {
    Turn {
        run_id: run_id.to_owned(),
        session_key: session.to_owned(),
        agent_id: "main".to_owned(),
        text: format!("t-{run_id}"),
        mode,
        origin: Origin::Operator,
        timeout: Duration::from_secs(60),
        merged: Vec::new(),
    }
}

fn followup(run_id: &str, session: &str) -> Turn {
    turn(run_id, session, QueueMode::Followup)
}

/// Lets every spawned task that is ready run; no timers involved.
async fn settle() {
    for _ in 0..10 {
        smol::future::yield_now().await;
    }
}

/// Waits (bounded) for a condition that depends on a timer firing.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..2_000 {
        if cond() {
            return;
        }
        Timer::after(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for {what}");
}

fn block_on<T>(rig: &Rig, fut: impl Future<Output = T>) -> T {
    smol::block_on(rig.ex.run(fut))
}

use QueueMode::{Collect, Interrupt, Steer};
use Submitted::{Collected, Queued, Started, Steered};

#[test]
fn session_runs_turns_in_fifo_order_one_at_a_time() {
    let rig = Rig::new(limits(4, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
        assert_eq!(rig.submit(followup("r3", "a")), Ok(Queued { position: 2 }));
        settle().await;
        assert_eq!(rig.active("a").as_deref(), Some("r1"));
        assert_eq!(rig.starts(), ["r1"]);
        assert_eq!(
            (rig.sched.stats().running, rig.sched.stats().queued),
            (1, 2)
        );
        for (id, next) in [("r1", Some("r2")), ("r2", Some("r3")), ("r3", None)] {
            rig.finish(id);
            settle().await;
            assert_eq!(rig.active("a").as_deref(), next);
        }
        rig.sched.idle().await;
        assert_eq!(rig.starts(), ["r1", "r2", "r3"]);
        assert!(rig.at("done r1") < rig.at("start r2"));
        assert!(rig.at("done r2") < rig.at("start r3"));
        let stats = rig.sched.stats();
        assert_eq!(
            (stats.running, stats.queued, stats.sessions_tracked),
            (0, 0, 0)
        );
        assert_eq!(stats.started_total, 3);
    });
}

#[test]
fn concurrency_cap_hands_slots_to_the_longest_waiting_session() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("a1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("b1", "b")), Ok(Queued { position: 1 }));
        assert_eq!(rig.submit(followup("c1", "c")), Ok(Queued { position: 1 }));
        assert_eq!(rig.submit(followup("a2", "a")), Ok(Queued { position: 1 }));
        for id in ["a1", "b1", "c1"] {
            settle().await;
            assert_eq!(rig.sched.stats().running, 1);
            rig.finish(id);
        }
        settle().await;
        rig.finish("a2");
        rig.sched.idle().await;
        // `a` had to wait behind `b` and `c` even though its own run just ended.
        assert_eq!(rig.starts(), ["a1", "b1", "c1", "a2"]);
        assert_eq!(rig.sched.stats().sessions_tracked, 0);
    });
}

#[test]
fn concurrency_cap_allows_that_many_sessions_at_once() {
    let rig = Rig::new(limits(2, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("a1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("b1", "b")), Ok(Started));
        assert_eq!(rig.submit(followup("c1", "c")), Ok(Queued { position: 1 }));
        settle().await;
        assert_eq!(rig.starts(), ["a1", "b1"]);
        rig.finish("b1");
        settle().await;
        assert_eq!(rig.active("c").as_deref(), Some("c1"));
        assert_eq!(rig.sched.stats().running, 2);
    });
}

#[test]
fn full_session_queue_is_refused_with_its_cap() {
    let rig = Rig::new(limits(1, 2, 16), false, false);
    assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
    assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
    assert_eq!(rig.submit(followup("r3", "a")), Ok(Queued { position: 2 }));
    let err = rig.submit(followup("r4", "a")).unwrap_err();
    assert_eq!(err, SubmitError::SessionQueueFull { cap: 2 });
    assert_eq!(
        err.to_string(),
        "session queue full: 2 turns waiting (limits.session_queue)"
    );
    assert_eq!(err.retry_after_ms(), 1_000);
    // A collect turn that cannot merge takes a slot like a followup, so it is refused too.
    assert_eq!(
        rig.submit(turn("c1", "a", Collect)),
        Err(SubmitError::SessionQueueFull { cap: 2 })
    );
    let stats = rig.sched.stats();
    assert_eq!((stats.queued, stats.shed_total), (2, 2));
}

#[test]
fn full_global_queue_is_refused_after_the_session_check() {
    let rig = Rig::new(limits(1, 1, 1), false, false);
    assert_eq!(rig.submit(followup("a1", "a")), Ok(Started));
    assert_eq!(rig.submit(followup("a2", "a")), Ok(Queued { position: 1 }));
    // Both bounds are hit here; the per-session one is reported.
    assert_eq!(
        rig.submit(followup("a3", "a")),
        Err(SubmitError::SessionQueueFull { cap: 1 })
    );
    let err = rig.submit(followup("b1", "b")).unwrap_err();
    assert_eq!(err, SubmitError::GlobalQueueFull { cap: 1 });
    assert_eq!(
        err.to_string(),
        "scheduler queue full: 1 turns waiting across sessions (limits.global_queue)"
    );
    assert!(err.retry_after_ms() > 0);
    let stats = rig.sched.stats();
    assert_eq!((stats.shed_total, stats.sessions_tracked), (2, 1));
}

#[test]
fn flood_of_ten_times_capacity_accepts_exactly_capacity_and_drains_to_empty() {
    let rig = Rig::new(limits(2, 3, 6), false, false);
    let capacity = 2 + 6;
    let sessions = ["s0", "s1", "s2", "s3"];
    block_on(&rig, async {
        let mut accepted = 0;
        let mut refused = 0;
        for i in 0..capacity * 10 {
            let key = sessions[i % sessions.len()];
            match rig.submit(followup(&format!("r{i}"), key)) {
                Ok(Started | Queued { .. }) => accepted += 1,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(_) => refused += 1,
            }
        }
        assert_eq!(accepted, capacity);
        assert_eq!(refused, capacity * 9);
        for _ in 0..100 {
            let stats = rig.sched.stats();
            if stats.running == 0 && stats.queued == 0 {
                break;
            }
            assert!(stats.running <= 2 && stats.queued <= 6, "{stats:?}");
            settle().await;
            for key in sessions {
                if let Some(id) = rig.active(key) {
                    rig.finish(&id);
                }
            }
            settle().await;
        }
        rig.sched.idle().await;
        assert_eq!(rig.starts().len(), capacity);
        assert_eq!(
            rig.sched.stats(),
            SchedStats {
                running: 0,
                queued: 0,
                sessions_tracked: 0,
                started_total: capacity as u64,
                shed_total: (capacity * 9) as u64,
                timed_out_total: 0,
            }
        );
    });
}

#[test]
fn steer_feeds_the_running_turn_without_queueing() {
    let rig = Rig::new(limits(1, 8, 16), true, true);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        settle().await;
        let mut s = turn("s1", "a", Steer);
        s.text = "also check the logs".to_owned();
        assert_eq!(
            rig.submit(s),
            Ok(Steered {
                into_run: "r1".to_owned()
            })
        );
        settle().await;
        assert!(
            rig.log()
                .contains(&"steer r1 also check the logs".to_owned())
        );
        assert_eq!(rig.sched.stats().queued, 0);
        rig.finish("r1");
        // Steering an idle session just runs the turn.
        settle().await;
        assert_eq!(rig.submit(turn("s2", "a", Steer)), Ok(Started));
        assert_eq!(rig.sched.stats().started_total, 2);
    });
}

#[test]
fn steer_without_executor_support_queues_as_followup() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(
            rig.submit(turn("s1", "a", Steer)),
            Ok(Queued { position: 1 })
        );
        rig.finish("r1");
        settle().await;
        assert_eq!(rig.active("a").as_deref(), Some("s1"));
        assert_eq!(rig.shared.started.borrow()[1].text, "t-s1");
    });
}

#[test]
fn steer_with_full_inbox_queues_as_followup() {
    let mut lim = limits(1, 8, 16);
    lim.steer_inbox = 1;
    // Claims steer support but never reads the inbox, so the second message finds it full.
    let rig = Rig::new(lim, true, false);
    assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
    assert_eq!(
        rig.submit(turn("s1", "a", Steer)),
        Ok(Steered {
            into_run: "r1".to_owned()
        })
    );
    assert_eq!(
        rig.submit(turn("s2", "a", Steer)),
        Ok(Queued { position: 1 })
    );
    assert_eq!(rig.sched.stats().queued, 1);
}

#[test]
fn collect_merges_consecutive_collect_turns_into_one_run() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(
            rig.submit(turn("c1", "a", Collect)),
            Ok(Queued { position: 1 })
        );
        assert_eq!(
            rig.submit(turn("c2", "a", Collect)),
            Ok(Collected { into_position: 1 })
        );
        assert_eq!(
            rig.submit(turn("c3", "a", Collect)),
            Ok(Collected { into_position: 1 })
        );
        assert_eq!(rig.sched.stats().queued, 1);
        assert_eq!(rig.sched.queued_in("a"), 1);
        assert_eq!(rig.submit(followup("f1", "a")), Ok(Queued { position: 2 }));
        // The last queued turn is a followup now, so this collect turn starts a new group.
        assert_eq!(
            rig.submit(turn("c4", "a", Collect)),
            Ok(Queued { position: 3 })
        );
        rig.finish("r1");
        settle().await;
        let started = rig.shared.started.borrow().clone();
        assert_eq!(started[1].run_id, "c1");
        assert_eq!(started[1].text, "t-c1\n\nt-c2\n\nt-c3");
        assert_eq!(started[1].merged, ["c2", "c3"]);
        assert_eq!(rig.sched.stats().queued, 2);
    });
}

#[test]
fn collect_stops_merging_at_its_cap() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
    assert_eq!(
        rig.submit(turn("c0", "a", Collect)),
        Ok(Queued { position: 1 })
    );
    for i in 1..MAX_COLLECT_TURNS {
        assert_eq!(
            rig.submit(turn(&format!("c{i}"), "a", Collect)),
            Ok(Collected { into_position: 1 })
        );
    }
    assert_eq!(
        rig.submit(turn("cx", "a", Collect)),
        Ok(Queued { position: 2 })
    );
    let mut big = turn("big", "a", Collect);
    big.text = "x".repeat(MAX_COLLECT_BYTES);
    assert_eq!(rig.submit(big), Ok(Queued { position: 3 }));
    assert_eq!(rig.sched.stats().queued, 3);
}

#[test]
fn interrupt_aborts_the_active_run_and_runs_before_the_queue() {
    let rig = Rig::new(limits(2, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("q1", "a")), Ok(Queued { position: 1 }));
        settle().await;
        assert_eq!(
            rig.submit(turn("i1", "a", Interrupt)),
            Ok(Submitted::Interrupted {
                previous_run: "r1".to_owned()
            })
        );
        // Synchronous: the old future is gone and reported before submit returned.
        assert!(rig.at("drop r1") < rig.at("ended r1 interrupted"));
        assert!(!rig.log().contains(&"done r1".to_owned()));
        assert_eq!(rig.active("a").as_deref(), Some("i1"));
        assert_eq!(
            (rig.sched.stats().running, rig.sched.stats().queued),
            (1, 1)
        );
        settle().await;
        rig.finish("i1");
        settle().await;
        assert_eq!(rig.starts(), ["r1", "i1", "q1"]);
        assert_eq!(rig.submit(turn("i2", "b", Interrupt)), Ok(Started));
    });
}

#[test]
fn interrupt_of_a_session_waiting_for_a_slot_goes_first_in_line() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("a1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("b1", "b")), Ok(Queued { position: 1 }));
        assert_eq!(
            rig.submit(turn("b2", "b", Interrupt)),
            Ok(Queued { position: 1 })
        );
        rig.finish("a1");
        settle().await;
        assert_eq!(rig.active("b").as_deref(), Some("b2"));
        assert!(!rig.log().iter().any(|l| l.starts_with("ended")));
    });
}

#[test]
fn abort_only_matching_run_and_keeps_the_queue() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
        settle().await;
        assert_eq!(rig.sched.abort("a", Some("nope")), None);
        assert_eq!(rig.active("a").as_deref(), Some("r1"));
        assert_eq!(rig.sched.abort("a", Some("r1")).as_deref(), Some("r1"));
        assert!(rig.at("drop r1") < rig.at("ended r1 aborted"));
        assert_eq!(rig.active("a").as_deref(), Some("r2"));
        // Aborted before its first poll: reported, never run.
        assert_eq!(rig.sched.abort("a", None).as_deref(), Some("r2"));
        assert!(rig.log().contains(&"ended r2 aborted".to_owned()));
        assert_eq!(rig.sched.abort("a", None), None);
        assert_eq!(rig.sched.abort("missing", None), None);
        rig.sched.idle().await;
        settle().await;
        assert_eq!(rig.starts(), ["r1"]);
        assert_eq!(rig.sched.stats().sessions_tracked, 0);
    });
}

#[test]
fn timeout_ends_the_run_and_starts_the_next() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        let mut slow = followup("r1", "a");
        slow.timeout = Duration::from_millis(20);
        assert_eq!(rig.submit(slow), Ok(Started));
        assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
        wait_until("r2 to start", || rig.active("a").as_deref() == Some("r2")).await;
        assert!(rig.at("drop r1") < rig.at("ended r1 timeout"));
        assert!(!rig.log().contains(&"done r1".to_owned()));
        assert_eq!(rig.sched.stats().timed_out_total, 1);
        settle().await;
        rig.finish("r2");
        rig.sched.idle().await;
        assert_eq!(rig.starts(), ["r1", "r2"]);
    });
}

#[test]
fn unmentioned_group_turn_is_skipped_and_mentioned_one_runs() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    let names = ["edgebot"];
    let group = |id: &str, text: &str, mentioned| Turn {
        text: text.to_owned(),
        origin: Origin::Channel {
            group: true,
            mentioned,
        },
        ..followup(id, "g")
    };
    block_on(&rig, async {
        assert_eq!(
            rig.sched
                .submit(group("g1", "lunch?", false), Activation::Mention, &names),
            Ok(Submitted::Skipped {
                reason: "not mentioned"
            })
        );
        settle().await;
        assert_eq!(rig.sched.stats(), SchedStats::default());
        assert!(rig.starts().is_empty());
        assert_eq!(
            rig.sched
                .submit(group("g2", "lunch?", true), Activation::Mention, &names),
            Ok(Started)
        );
        assert_eq!(
            rig.sched.submit(
                group("g3", "@EdgeBot lunch?", false),
                Activation::Mention,
                &names
            ),
            Ok(Queued { position: 1 })
        );
        assert_eq!(
            rig.sched
                .submit(group("g4", "lunch?", false), Activation::Always, &names),
            Ok(Queued { position: 2 })
        );
        settle().await;
        assert_eq!(rig.starts(), ["g2"]);
    });
}

#[test]
fn clear_queued_drops_waiting_turns_and_keeps_the_active_run() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
        assert_eq!(
            rig.submit(turn("c1", "a", Collect)),
            Ok(Queued { position: 2 })
        );
        assert_eq!(
            rig.submit(turn("c2", "a", Collect)),
            Ok(Collected { into_position: 2 })
        );
        assert_eq!(rig.submit(followup("b1", "b")), Ok(Queued { position: 1 }));
        assert_eq!(rig.sched.clear_queued("a"), ["r2", "c1", "c2"]);
        assert_eq!(rig.sched.clear_queued("b"), ["b1"]);
        assert!(rig.sched.clear_queued("missing").is_empty());
        assert_eq!(rig.active("a").as_deref(), Some("r1"));
        let stats = rig.sched.stats();
        assert_eq!((stats.queued, stats.sessions_tracked), (0, 1));
        settle().await;
        rig.finish("r1");
        rig.sched.idle().await;
        settle().await;
        assert_eq!(rig.starts(), ["r1"]);
        assert_eq!(rig.sched.stats().sessions_tracked, 0);
    });
}

#[test]
fn ended_may_submit_back_into_the_scheduler() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    *rig.shared.sched.borrow_mut() = Some(rig.sched.clone());
    *rig.shared.resubmit.borrow_mut() = Some(followup("r9", "a"));
    block_on(&rig, async {
        assert_eq!(rig.submit(followup("r1", "a")), Ok(Started));
        assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
        settle().await;
        assert_eq!(rig.sched.abort("a", None).as_deref(), Some("r1"));
        // r2 took the slot before `ended` ran, so the re-entrant submit queued behind it.
        assert_eq!(
            rig.shared.resubmitted.borrow_mut().take(),
            Some(Ok(Queued { position: 1 }))
        );
        settle().await;
        rig.finish("r2");
        settle().await;
        rig.finish("r9");
        rig.sched.idle().await;
        assert_eq!(rig.starts(), ["r1", "r2", "r9"]);
    });
    *rig.shared.sched.borrow_mut() = None;
}

#[test]
fn run_that_aborts_itself_is_dropped_before_ended() {
    let rig = Rig::new(limits(1, 8, 16), false, false);
    *rig.shared.sched.borrow_mut() = Some(rig.sched.clone());
    block_on(&rig, async {
        let mut own = followup("r1", "a");
        own.text = "abort me".to_owned();
        assert_eq!(rig.submit(own), Ok(Started));
        assert_eq!(rig.submit(followup("r2", "a")), Ok(Queued { position: 1 }));
        settle().await;
        assert!(rig.at("self-abort r1") < rig.at("drop r1"));
        assert!(rig.at("drop r1") < rig.at("ended r1 aborted"));
        assert_eq!(rig.active("a").as_deref(), Some("r2"));
        rig.finish("r2");
        rig.sched.idle().await;
        assert_eq!(
            rig.log().iter().filter(|l| l.starts_with("ended")).count(),
            1
        );
    });
    *rig.shared.sched.borrow_mut() = None;
}

#[test]
fn wire_names_round_trip() {
    for m in [QueueMode::Followup, Steer, Collect, Interrupt] {
        assert_eq!(QueueMode::parse(m.as_str()), Some(m));
    }
    assert_eq!(QueueMode::parse("queue"), None);
    let names: Vec<_> = [
        EndReason::Completed,
        EndReason::Aborted,
        EndReason::TimedOut,
        EndReason::Interrupted,
    ]
    .map(EndReason::as_str)
    .into();
    assert_eq!(names, ["completed", "aborted", "timeout", "interrupted"]);
}
