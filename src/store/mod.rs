//! Store: the one thread that owns the SQLite connection, fed by a bounded queue.
//!
//! Only this module names `rusqlite`. Callers on the executor thread send closures with
//! `Store::read` / `Store::write` and await the answer; a full queue (`limits.store_queue`) is an
//! immediate `StoreError::Busy`, never a wait. The thread commits writes in batches: it takes up
//! to `limits.store_batch_max` queued write jobs, runs each inside its own savepoint (a failing job
//! rolls back alone), commits once, and only then answers every job in the batch, so an `ok` a
//! client sees is always on disk (`synchronous=FULL`, see `schema`).
//!
//! Parts: `schema` (open, pragmas, migrations), `sessions` (session rows), `messages`
//! (transcripts), `usage` (token usage records and aggregates), `inspect` (doctor's report).
//! No method rewrites a whole table or file; every statement touches the rows it names.

pub mod edge_jobs;
pub mod inspect;
pub mod memory;
pub mod mesh;
pub mod mesh_pairing;
pub mod messages;
pub mod pairing;
pub mod schema;
pub mod sessions;
pub mod telegram;
pub mod usage;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};

use rusqlite::Connection;

/// Errors of the store boundary; converted to `RpcError` at dispatch.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The job queue is full (`limits.store_queue`).
    Busy {
        /// The queue capacity.
        cap: usize,
    },
    /// The store thread is gone (shutdown or a fatal error).
    Closed,
    /// The file could not be opened or migrated.
    Open {
        /// Database path.
        path: String,
        /// SQLite's reason.
        reason: String,
    },
    /// The file is SQLite but not ours.
    Foreign {
        /// Database path.
        path: String,
        /// Its `application_id`.
        application_id: i64,
    },
    /// The file's schema is newer than this binary.
    TooNew {
        /// Database path.
        path: String,
        /// Version found.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
    /// The file failed `quick_check`.
    Corrupt {
        /// Database path.
        path: String,
        /// First problem reported.
        detail: String,
    },
    /// A named table is at its capacity.
    Full {
        /// What is full.
        what: &'static str,
        /// The limit.
        cap: usize,
    },
    /// A request conflicts with stored state (e.g. a label already in use); client-facing text.
    Conflict(String),
    /// The named row does not exist; client-facing text.
    NotFound(String),
    /// An SQL error (details go to the log, not to clients).
    Sql(String),
}

impl StoreError {
    fn open(path: &Path, e: rusqlite::Error) -> StoreError {
        let reason = e.to_string();
        if reason.contains("not a database") || reason.contains("malformed") {
            return StoreError::Corrupt {
                path: path.display().to_string(),
                detail: reason,
            };
        }
        StoreError::Open {
            path: path.display().to_string(),
            reason,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Busy { cap } => {
                write!(
                    f,
                    "store queue full: {cap} jobs waiting (limits.store_queue)"
                )
            }
            StoreError::Closed => write!(f, "store is closed"),
            StoreError::Open { path, reason } => write!(f, "cannot open database {path}: {reason}"),
            StoreError::Foreign {
                path,
                application_id,
            } => write!(
                f,
                "{path} is an SQLite file of another program (application_id {application_id}); refusing to use it"
            ),
            StoreError::TooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "{path} has schema version {found}, newer than this binary supports ({supported}); \
                 refusing to start (upgrade openclaw-edge or point state_dir elsewhere; the file is left untouched)"
            ),
            StoreError::Corrupt { path, detail } => write!(
                f,
                "database {path} is corrupt ({detail}); refusing to start (the file is left untouched: \
                 restore a backup or move it aside)"
            ),
            StoreError::Full { what, cap } => write!(f, "{what} full: {cap} (limit reached)"),
            StoreError::Conflict(m) | StoreError::NotFound(m) => f.write_str(m),
            StoreError::Sql(m) => write!(f, "database error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(e.to_string())
    }
}

/// Capacities the store enforces inside its tables.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Sessions kept.
    pub max_sessions: usize,
    /// Messages kept per session key.
    pub max_messages_per_session: usize,
    /// Usage records kept.
    pub max_usage_rows: usize,
}

/// The connection plus state the store thread keeps between jobs.
pub struct Db {
    /// The one connection.
    pub conn: Connection,
    /// Table capacities.
    pub limits: StoreLimits,
    /// Sessions currently stored (kept in step with inserts and deletes).
    pub session_count: usize,
}

/// A job's reply step: called after the batch committed (`None`) or failed to (`Some(e)`).
type Reply = Box<dyn FnOnce(Option<StoreError>) + Send>;
/// A job: runs on the store thread; `bool` says whether it succeeded (else its savepoint rolls back).
type Work = Box<dyn FnOnce(&mut Db) -> (bool, Reply) + Send>;

enum Job {
    Read(Work),
    Write(Work),
}

/// Counters shown by `status`.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Write jobs committed.
    pub writes: AtomicU64,
    /// Transactions committed (writes / commits = mean batch size).
    pub commits: AtomicU64,
    /// Read jobs run.
    pub reads: AtomicU64,
    /// Jobs refused because the queue was full.
    pub shed: AtomicU64,
}

/// Handle to the store thread; cheap to share on the executor thread.
pub struct Store {
    tx: SyncSender<Job>,
    cap: usize,
    path: PathBuf,
    stats: Arc<StoreStats>,
}

impl Store {
    /// Opens `<state_dir>/openclaw-edge.db` (migrating it) and starts the store thread.
    pub fn open(state_dir: &Path, l: &crate::config::Limits) -> Result<Store, StoreError> {
        let path = state_dir.join(schema::DB_FILE);
        let conn = schema::open(&path, l.store_cache_kib)?;
        let session_count: i64 =
            conn.query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?;
        let db = Db {
            conn,
            limits: StoreLimits {
                max_sessions: l.max_sessions,
                max_messages_per_session: l.max_messages_per_session,
                max_usage_rows: l.max_usage_rows,
            },
            session_count: session_count as usize,
        };
        let (tx, rx) = sync_channel(l.store_queue);
        let stats = Arc::new(StoreStats::default());
        let thread_stats = Arc::clone(&stats);
        let batch_max = l.store_batch_max;
        std::thread::Builder::new()
            .name("store".into())
            .stack_size(256 * 1024)
            .spawn(move || serve(db, rx, batch_max, &thread_stats))
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                reason: format!("cannot start the store thread: {e}"),
            })?;
        Ok(Store {
            tx,
            cap: l.store_queue,
            path,
            stats,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counters.
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Runs a read-only job on the store thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f, Job::Read).await
    }

    /// Runs a write job inside the next batch transaction; answers after the commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f, Job::Write).await
    }

    /// Folds the WAL into the database file (at shutdown, so the file is complete on its own).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.read(|db| Ok(db.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?))
            .await
    }

    async fn submit<T, F>(&self, f: F, kind: fn(Work) -> Job) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = smol::channel::bounded::<Result<T, StoreError>>(1);
        let work: Work = Box::new(move |db| {
            let out = f(db);
            let ok = out.is_ok();
            let reply: Reply = Box::new(move |commit_err| {
                let _ = tx.try_send(match commit_err {
                    Some(e) if ok => Err(e),
                    _ => out,
                });
            });
            (ok, reply)
        });
        match self.tx.try_send(kind(work)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.shed.fetch_add(1, Ordering::Relaxed);
                return Err(StoreError::Busy { cap: self.cap });
            }
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        rx.recv().await.unwrap_or(Err(StoreError::Closed))
    }
}

/// The store thread: runs jobs until every `Store` handle is dropped.
fn serve(mut db: Db, rx: Receiver<Job>, batch_max: usize, stats: &StoreStats) {
    let mut carry: Option<Job> = None;
    loop {
        let job = match carry.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
        };
        match job {
            Job::Read(w) => {
                let (_, reply) = w(&mut db);
                reply(None);
                stats.reads.fetch_add(1, Ordering::Relaxed);
            }
            Job::Write(w) => {
                let mut batch = vec![w];
                while batch.len() < batch_max {
                    match rx.try_recv() {
                        Ok(Job::Write(w)) => batch.push(w),
                        Ok(read) => {
                            carry = Some(read);
                            break;
                        }
                        Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                    }
                }
                let n = batch.len() as u64;
                run_batch(&mut db, batch);
                stats.writes.fetch_add(n, Ordering::Relaxed);
                stats.commits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Every handle is gone: fold the WAL back so the file is complete on its own.
    let _ = db.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    log::debug!("store thread stopped");
}

fn run_batch(db: &mut Db, batch: Vec<Work>) {
    let count_before = db.session_count;
    if let Err(e) = db.conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::from(e);
        log::error!("store: cannot begin a transaction: {err}");
        for w in batch {
            // The job never ran: answer with the error without running it.
            drop(w);
        }
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    for w in batch {
        let _ = db.conn.execute_batch("SAVEPOINT job");
        let (ok, reply) = w(db);
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = db.conn.execute_batch(end) {
            log::error!("store: savepoint end failed: {e}");
        }
        replies.push(reply);
    }
    match db.conn.execute_batch("COMMIT") {
        Ok(()) => replies.into_iter().for_each(|r| r(None)),
        Err(e) => {
            let err = StoreError::from(e);
            log::error!("store: commit failed: {err}");
            let _ = db.conn.execute_batch("ROLLBACK");
            db.session_count = count_before;
            replies.into_iter().for_each(|r| r(Some(err.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(queue: usize) -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!("oce-store-{}", crate::ids::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let l = crate::config::Limits {
            store_queue: queue,
            ..Default::default()
        };
        (Store::open(&dir, &l).unwrap(), dir)
    }

    #[test]
    fn writes_commit_in_batches_and_failures_roll_back_alone() {
        let (s, _dir) = store(64);
        smol::block_on(async {
            let mut pending = Vec::new();
            for i in 0..20i64 {
                pending.push(s.write(move |db| {
                    db.conn.execute(
                        "INSERT INTO usage (ts, session_key, session_id, agent_id, provider, model, input_tokens, output_tokens) VALUES (?1, 'k', 's', 'a', 'p', 'm', 1, 1)",
                        [i],
                    )?;
                    if i == 7 {
                        return Err(StoreError::Conflict("job 7 fails".into()));
                    }
                    Ok(i)
                }));
            }
            let mut oks = 0;
            for (i, p) in pending.into_iter().enumerate() {
                match p.await {
                    Ok(v) => {
                        assert_eq!(v, i as i64);
                        oks += 1;
                    }
                    Err(e) => assert_eq!(e, StoreError::Conflict("job 7 fails".into())),
                }
            }
            assert_eq!(oks, 19);
            let n: i64 = s
                .read(|db| {
                    Ok(db
                        .conn
                        .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))?)
                })
                .await
                .unwrap();
            assert_eq!(
                n, 19,
                "the failing job's insert was rolled back, the rest kept"
            );
        });
        assert_eq!(s.stats().writes.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn full_queue_is_busy_not_a_wait() {
        let (s, _dir) = store(2);
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        smol::block_on(async {
            // Park the store thread on a job that waits for the gate.
            let blocker = s.read(move |_| {
                let _ = gate_rx.recv();
                Ok(())
            });
            let mut blocker = Box::pin(blocker);
            // Poll once so the job is queued.
            let _ = smol::future::poll_once(&mut blocker).await;
            let mut queued = Vec::new();
            let mut busy = 0;
            for _ in 0..10 {
                let mut f = Box::pin(s.read(|_| Ok(())));
                match smol::future::poll_once(&mut f).await {
                    Some(Err(StoreError::Busy { cap: 2 })) => busy += 1,
                    Some(other) => panic!("unexpected {other:?}"),
                    None => queued.push(f),
                }
            }
            assert!(
                busy >= 7,
                "at most cap (+1 taken by the thread) queue, got {busy} busy"
            );
            gate_tx.send(()).unwrap();
            blocker.await.unwrap();
            for f in queued {
                f.await.unwrap();
            }
        });
        assert!(s.stats().shed.load(Ordering::Relaxed) >= 7);
    }
}
