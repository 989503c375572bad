//! Blocking pool: the one place blocking work (file I/O, later SQLite, ureq, child processes) runs.
//!
//! A bounded job queue (`limits.blocking_queue`) feeds at most `limits.blocking_threads` named
//! worker threads. Threads start on demand and exit after `limits.blocking_idle_ms` without work,
//! so an idle gateway has no pool threads at all. A full queue answers `PoolError::Busy` at once
//! instead of waiting; the executor thread never blocks on a job, it awaits a oneshot channel.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// The queue is full (`cap` jobs waiting): retry later.
    Busy { cap: usize },
    /// The worker died before answering (a panic in the job).
    Lost,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Busy { cap } => write!(f, "blocking pool busy: {cap} jobs queued"),
            PoolError::Lost => write!(f, "blocking job lost (worker failed)"),
        }
    }
}

impl std::error::Error for PoolError {}

/// Handle to the pool; clone it freely.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    tx: SyncSender<Job>,
    rx: Mutex<Receiver<Job>>,
    threads: AtomicUsize,
    idle: AtomicUsize,
    max_threads: usize,
    cap: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// A pool of at most `threads` workers and `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize, idle_timeout: Duration) -> Self {
        let (tx, rx) = sync_channel(queue);
        Pool {
            inner: Arc::new(Inner {
                tx,
                rx: Mutex::new(rx),
                threads: AtomicUsize::new(0),
                idle: AtomicUsize::new(0),
                max_threads: threads.max(1),
                cap: queue,
                idle_timeout,
            }),
        }
    }

    /// Runs `f` on a worker and awaits its result; `Busy` at once when the queue is full.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = smol::channel::bounded(1);
        let job: Job = Box::new(move || {
            let _ = tx.try_send(f());
        });
        match self.inner.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(PoolError::Busy {
                    cap: self.inner.cap,
                });
            }
            Err(TrySendError::Disconnected(_)) => return Err(PoolError::Lost),
        }
        self.maybe_spawn();
        rx.recv().await.map_err(|_| PoolError::Lost)
    }

    /// Live worker threads (for `status` and the flood test).
    pub fn threads(&self) -> usize {
        self.inner.threads.load(Ordering::SeqCst)
    }

    fn maybe_spawn(&self) {
        let inner = &self.inner;
        if inner.idle.load(Ordering::SeqCst) > 0 {
            return;
        }
        let n = inner.threads.load(Ordering::SeqCst);
        if n >= inner.max_threads
            || inner
                .threads
                .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        let worker = Arc::clone(inner);
        let spawned = std::thread::Builder::new()
            .name(format!("oc-pool-{n}"))
            .stack_size(256 * 1024)
            .spawn(move || worker.work());
        if let Err(e) = spawned {
            inner.threads.fetch_sub(1, Ordering::SeqCst);
            log::error!("blocking pool: cannot spawn worker: {e}");
        }
    }
}

impl Inner {
    fn work(&self) {
        loop {
            self.idle.fetch_add(1, Ordering::SeqCst);
            let next = match self.rx.lock() {
                Ok(rx) => rx.recv_timeout(self.idle_timeout),
                Err(_) => Err(RecvTimeoutError::Disconnected),
            };
            self.idle.fetch_sub(1, Ordering::SeqCst);
            match next {
                Ok(job) => job(),
                Err(_) => break,
            }
        }
        self.threads.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_returns_results() {
        let pool = Pool::new(2, 4, Duration::from_millis(200));
        let v = smol::block_on(pool.run(|| 6 * 7)).unwrap();
        assert_eq!(v, 42);
    }

    #[test]
    fn flood_is_shed_with_busy_and_threads_stay_bounded() {
        let pool = Pool::new(1, 2, Duration::from_millis(200));
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let gate_rx = Arc::new(Mutex::new(gate_rx));
        smol::block_on(async {
            let mut pending = Vec::new();
            let mut busy = 0;
            for _ in 0..10 {
                let g = Arc::clone(&gate_rx);
                let fut = pool.run(move || {
                    let _ = g.lock().unwrap().recv();
                });
                // Poll each once so the job is queued (or refused) now.
                let mut fut = Box::pin(fut);
                match smol::future::poll_once(&mut fut).await {
                    Some(Err(PoolError::Busy { cap })) => {
                        assert_eq!(cap, 2);
                        busy += 1
                    }
                    Some(other) => panic!("unexpected {other:?}"),
                    None => pending.push(fut),
                }
            }
            assert!(busy >= 7, "only {busy} refused");
            assert!(pool.threads() <= 1);
            for _ in 0..10 {
                let _ = gate_tx.send(());
            }
            for f in pending {
                f.await.unwrap();
            }
        });
        // Idle workers exit.
        let t0 = std::time::Instant::now();
        while pool.threads() > 0 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pool.threads(), 0);
    }
}

#[cfg(test)]
mod wake_tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn results_wake_tasks_on_a_local_executor() {
        let pool = Pool::new(2, 4, Duration::from_millis(500));
        let ex = Rc::new(smol::LocalExecutor::new());
        for round in 0..30 {
            let (p1, p2) = (pool.clone(), pool.clone());
            let t1 = ex.spawn(async move {
                p1.run(|| std::thread::sleep(Duration::from_millis(15)))
                    .await
            });
            let t2 = ex.spawn(async move {
                p2.run(|| std::thread::sleep(Duration::from_millis(15)))
                    .await
            });
            let done = smol::block_on(ex.run(async {
                smol::future::or(
                    async {
                        t1.await.unwrap();
                        t2.await.unwrap();
                        true
                    },
                    async {
                        smol::Timer::after(Duration::from_secs(5)).await;
                        false
                    },
                )
                .await
            }));
            assert!(done, "round {round}: a pool result did not wake its task");
        }
    }
}
