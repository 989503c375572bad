//! Edge job rows (`edge_jobs`, schema v6): one per external program run by `edge::jobs`.
//!
//! A row is inserted `running` before the program starts and finished once (`succeeded`,
//! `failed`, `timeout`, `cancelled`); a row still `running` when the gateway starts belongs to a
//! process that died with the previous gateway and is marked `interrupted`. Finished rows past
//! `keep` are deleted oldest first on each insert (an index walk, never a table rewrite).

use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use super::{Db, StoreError};

/// How a job ended (or that it has not).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Finish {
    /// `succeeded | failed | timeout | cancelled`.
    pub status: &'static str,
    /// Exit code, if the program exited.
    pub exit_code: Option<i32>,
    /// Signal, if one ended it.
    pub signal: Option<i32>,
    /// Whether output was cut.
    pub truncated: bool,
    /// Result JSON on success.
    pub result: Option<Value>,
    /// What went wrong otherwise.
    pub error: Option<String>,
    /// Last bytes of stdout.
    pub stdout_tail: String,
    /// Last bytes of stderr.
    pub stderr_tail: String,
}

/// Inserts a `running` job and deletes finished rows past `keep`.
pub fn start(
    db: &Db,
    id: &str,
    kind: &str,
    request: &Value,
    now: u64,
    keep: usize,
) -> Result<(), StoreError> {
    db.conn
        .prepare_cached(
            "INSERT INTO edge_jobs (id, kind, status, created_at, started_at, request) \
             VALUES (?1, ?2, 'running', ?3, ?3, ?4)",
        )?
        .execute(params![id, kind, now as i64, request.to_string()])?;
    db.conn
        .prepare_cached(
            "DELETE FROM edge_jobs WHERE id IN (SELECT id FROM edge_jobs \
             WHERE status != 'running' ORDER BY created_at DESC LIMIT -1 OFFSET ?1)",
        )?
        .execute([keep as i64])?;
    Ok(())
}

/// Records progress (a short JSON) of a running job.
pub fn progress(db: &Db, id: &str, p: &Value) -> Result<(), StoreError> {
    db.conn
        .prepare_cached("UPDATE edge_jobs SET progress = ?2 WHERE id = ?1 AND status = 'running'")?
        .execute(params![id, p.to_string()])?;
    Ok(())
}

/// Finishes a running job; `false` if it was not running.
pub fn finish(db: &Db, id: &str, f: &Finish, now: u64) -> Result<bool, StoreError> {
    let n = db
        .conn
        .prepare_cached(
            "UPDATE edge_jobs SET status = ?2, finished_at = ?3, exit_code = ?4, signal = ?5, \
             truncated = ?6, result = ?7, error = ?8, stdout_tail = ?9, stderr_tail = ?10 \
             WHERE id = ?1 AND status = 'running'",
        )?
        .execute(params![
            id,
            f.status,
            now as i64,
            f.exit_code,
            f.signal,
            f.truncated,
            f.result.as_ref().map(Value::to_string),
            f.error,
            f.stdout_tail,
            f.stderr_tail
        ])?;
    Ok(n == 1)
}

/// Marks every `running` row `interrupted` (at start-up: their processes died with the last
/// gateway); returns how many.
pub fn interrupt_all(db: &Db, now: u64) -> Result<usize, StoreError> {
    Ok(db
        .conn
        .prepare_cached(
            "UPDATE edge_jobs SET status = 'interrupted', finished_at = ?1, \
             error = 'the gateway stopped while the job ran' WHERE status = 'running'",
        )?
        .execute([now as i64])?)
}

const COLUMNS: &str = "id, kind, status, created_at, started_at, finished_at, exit_code, signal, \
                       truncated, request, result, error, progress, stdout_tail, stderr_tail";

fn row_json(r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let parse = |s: Option<String>| s.and_then(|t| serde_json::from_str::<Value>(&t).ok());
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "kind": r.get::<_, String>(1)?,
        "status": r.get::<_, String>(2)?,
        "createdAt": r.get::<_, i64>(3)?,
        "startedAt": r.get::<_, Option<i64>>(4)?,
        "finishedAt": r.get::<_, Option<i64>>(5)?,
        "exitCode": r.get::<_, Option<i32>>(6)?,
        "signal": r.get::<_, Option<i32>>(7)?,
        "truncated": r.get::<_, bool>(8)?,
        "request": parse(r.get(9)?),
        "result": parse(r.get(10)?),
        "error": r.get::<_, Option<String>>(11)?,
        "progress": parse(r.get(12)?),
        "stdoutTail": r.get::<_, String>(13)?,
        "stderrTail": r.get::<_, String>(14)?,
    }))
}

/// One job as JSON.
pub fn get(db: &Db, id: &str) -> Result<Option<Value>, StoreError> {
    Ok(db
        .conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM edge_jobs WHERE id = ?1"))?
        .query_row([id], row_json)
        .optional()?)
}

/// The newest `limit` jobs (of `kind`, if given), newest first.
pub fn list(db: &Db, kind: Option<&str>, limit: usize) -> Result<Vec<Value>, StoreError> {
    let mut st = db.conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM edge_jobs WHERE ?1 IS NULL OR kind = ?1 \
         ORDER BY created_at DESC, id DESC LIMIT ?2"
    ))?;
    let rows = st.query_map(params![kind, limit as i64], row_json)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest finished job of `kind` that succeeded, if any.
pub fn last_succeeded(db: &Db, kind: &str) -> Result<Option<Value>, StoreError> {
    Ok(db
        .conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM edge_jobs WHERE kind = ?1 AND status = 'succeeded' \
             ORDER BY created_at DESC LIMIT 1"
        ))?
        .query_row([kind], row_json)
        .optional()?)
}
