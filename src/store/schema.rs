//! Store schema: opening the database file, pragmas, and versioned migrations.
//!
//! `open` refuses, without writing anything, a file that is not SQLite, belongs to another
//! program (`application_id`), fails `PRAGMA quick_check`, or has a schema newer than this binary
//! knows (`user_version` > `SCHEMA_VERSION`). An older schema is upgraded in place, one migration
//! per transaction, so a crash mid-upgrade leaves the previous version intact.
//!
//! Durability choice: WAL with `synchronous=FULL`. On an SD card a power cut with `NORMAL` can
//! lose the last commits that clients were already told succeeded; `FULL` syncs the WAL on every
//! commit, and because the store thread commits writes in batches (one transaction per batch of up
//! to `limits.store_batch_max` jobs) the card sees one sync per batch, not one per write.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Schema version this binary writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 7;

/// `PRAGMA application_id` of our files ("OCED"), so a foreign SQLite file is never migrated.
pub const APPLICATION_ID: i64 = 0x4F43_4544;

/// Database file name inside the state dir.
pub const DB_FILE: &str = "openclaw-edge.db";

/// Migration `n` (index `n - 1`) takes a version `n - 1` database to version `n`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

const V1: &str = "
CREATE TABLE sessions (
    key TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    spawned_by TEXT,
    spawn_depth INTEGER,
    archived INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}',
    next_seq INTEGER NOT NULL DEFAULT 1,
    message_count INTEGER NOT NULL DEFAULT 0,
    derived_title TEXT,
    last_preview TEXT,
    last_message_at INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    last_model TEXT,
    last_provider TEXT,
    last_run_id TEXT,
    last_run_status TEXT
);
CREATE INDEX sessions_by_updated ON sessions (updated_at DESC);
CREATE INDEX sessions_by_session_id ON sessions (session_id);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    session_key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    body TEXT NOT NULL,
    ts INTEGER NOT NULL,
    run_id TEXT
);
CREATE UNIQUE INDEX messages_by_session ON messages (session_key, seq);
CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    session_key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    run_id TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX usage_by_ts ON usage (ts);
CREATE INDEX usage_by_session ON usage (session_key, ts);
";

/// Version 2: list pages ordered by `(updated_at DESC, key)` straight from an index that also
/// holds the default filters (`archived`, `kind`), so rows skipped by `offset` are never fetched
/// (version 1 sorted the tie-breaker in a temp b-tree), and `totalCount` counted from a small
/// `(archived, kind)` index instead of the table.
const V2: &str = "
DROP INDEX sessions_by_updated;
CREATE INDEX sessions_by_updated_key ON sessions (updated_at DESC, key, archived, kind);
CREATE INDEX sessions_by_archived_kind ON sessions (archived, kind);
";

/// Version 3: Telegram bridge state, so a crash at any point neither loses a message nor answers
/// it twice: the poll offset, each accepted update (with its body, for re-processing after a
/// restart) and its state, and the persisted, bounded outbox of reply chunks.
const V3: &str = "
CREATE TABLE telegram_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE telegram_updates (
    update_id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT,
    done_at INTEGER
);
CREATE INDEX telegram_updates_by_state ON telegram_updates (state, update_id);
CREATE TABLE telegram_outbox (
    id INTEGER PRIMARY KEY,
    update_id INTEGER,
    chat_id INTEGER NOT NULL,
    part INTEGER NOT NULL,
    text TEXT NOT NULL,
    parse_mode TEXT,
    reply_to INTEGER,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    sent_message_id INTEGER
);
CREATE INDEX telegram_outbox_due ON telegram_outbox (sent_message_id, next_at);
";

/// Version 4: Telegram pairing (pending one-time codes and approved users), outbox rows that
/// edit a message already sent (streamed replies) instead of sending a new one, and the
/// idempotency keys of `send` requests.
const V4: &str = "
CREATE TABLE telegram_pairing (
    code TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE,
    chat_id INTEGER NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE telegram_paired (
    user_id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    code TEXT
);
ALTER TABLE telegram_outbox ADD COLUMN edit_of INTEGER;
CREATE TABLE telegram_sends (
    idempotency_key TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX telegram_sends_by_age ON telegram_sends (created_at);
";

/// Version 5: memory (entries, vectors, the FTS5 index, concept graph, per-agent counters); the
/// statements and their reasons are in `store::memory::SCHEMA`.
const V5: &str = super::memory::SCHEMA;

/// Version 6: edge jobs (external programs run by `edge::jobs`: TTS, attestation, fine-tune,
/// transcription), bounded by `limits.edge_jobs_kept`, and the mesh tables.
const V6: &str = "
CREATE TABLE edge_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    exit_code INTEGER,
    signal INTEGER,
    truncated INTEGER NOT NULL DEFAULT 0,
    request TEXT NOT NULL,
    result TEXT,
    error TEXT,
    progress TEXT,
    stdout_tail TEXT NOT NULL DEFAULT '',
    stderr_tail TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX edge_jobs_by_age ON edge_jobs (created_at);
CREATE INDEX edge_jobs_by_kind ON edge_jobs (kind, created_at);
-- mesh tables (owned by the mesh work) follow.
-- Nodes the operator named (node.rename) or paired; connected-only nodes are not stored.
CREATE TABLE mesh_nodes (
    node_id TEXT PRIMARY KEY,
    display_name TEXT,
    platform TEXT,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Pending pairing requests of unknown signed devices (at most limits.mesh_max_pair_requests).
CREATE TABLE mesh_pair_requests (
    request_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    display_name TEXT,
    platform TEXT,
    client_id TEXT,
    client_mode TEXT,
    remote_ip TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Paired devices (at most limits.mesh_max_paired_devices).
CREATE TABLE mesh_devices (
    device_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    label TEXT,
    platform TEXT,
    client_id TEXT,
    remote_ip TEXT,
    paired_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Device tokens: only the SHA-256 of a token is kept (NULL = not issued yet); revoked rows stay.
CREATE TABLE mesh_device_tokens (
    device_id TEXT NOT NULL,
    role TEXT NOT NULL,
    token_sha256 TEXT,
    scopes TEXT NOT NULL,
    issued_at INTEGER,
    revoked_at INTEGER,
    PRIMARY KEY (device_id, role)
) WITHOUT ROWID;
";

/// Version 7: what `edge.router.plan` measures. A failed model call is a `usage` row with its
/// `error_kind` set, zero tokens and that call's `duration_ms` (token aggregates skip such rows);
/// a run's usage row carries `call_ms` / `call_count`, the time spent in the successful model
/// calls of the recorded model and how many there were. Rows from before have neither (they are
/// left out of the router's figures). An index per model serves the router's window scans.
const V7: &str = "
ALTER TABLE usage ADD COLUMN error_kind TEXT;
ALTER TABLE usage ADD COLUMN call_ms INTEGER;
ALTER TABLE usage ADD COLUMN call_count INTEGER;
CREATE INDEX usage_by_model ON usage (provider, model, ts);
";

/// Opens (creating if missing) and migrates the database; see the module doc for refusals.
pub fn open(path: &Path, cache_kib: usize) -> Result<Connection, StoreError> {
    let existed = path.exists()
        && std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, e))?;
    // Read-only checks first: nothing is written to a file we are going to refuse.
    let (app_id, version) = read_header(&conn).map_err(|e| StoreError::open(path, e))?;
    if existed && app_id != APPLICATION_ID && !(app_id == 0 && version == 0) {
        return Err(StoreError::Foreign {
            path: path.display().to_string(),
            application_id: app_id,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // Bound SQLite's page cache before the first full read (`quick_check` walks every page).
    conn.execute_batch(&format!(
        "PRAGMA cache_size=-{cache_kib}; PRAGMA mmap_size=0;"
    ))
    .map_err(|e| StoreError::open(path, e))?;
    if existed {
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| StoreError::open(path, e))?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: path.display().to_string(),
                detail: check,
            });
        }
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("store: journal_mode is {mode}, not wal (filesystem without shared memory?)");
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; \
         PRAGMA temp_store=FILE; PRAGMA wal_autocheckpoint=1000; \
         PRAGMA journal_size_limit=4194304;",
    )
    .map_err(|e| StoreError::open(path, e))?;
    migrate(&conn, version).map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// `(application_id, user_version)` of an open database.
pub fn read_header(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let ver: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((app, ver))
}

fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let to = i as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA application_id={APPLICATION_ID}; \
             PRAGMA user_version={to}; COMMIT;"
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })?;
        log::info!("store: schema migrated to version {to}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("oce-schema-{name}-{}", crate::ids::uuid_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(DB_FILE)
    }

    #[test]
    fn fresh_file_gets_current_version_and_reopens() {
        let p = tmp("fresh");
        let c = open(&p, 256).unwrap();
        assert_eq!(read_header(&c).unwrap(), (APPLICATION_ID, SCHEMA_VERSION));
        drop(c);
        let c = open(&p, 256).unwrap();
        assert_eq!(read_header(&c).unwrap().1, SCHEMA_VERSION);
    }

    #[test]
    fn newer_schema_is_refused_and_file_untouched() {
        let p = tmp("newer");
        drop(open(&p, 256).unwrap());
        let c = Connection::open(&p).unwrap();
        c.execute_batch("PRAGMA user_version=99").unwrap();
        drop(c);
        let before = std::fs::read(&p).unwrap();
        let err = open(&p, 256).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::TooNew {
                    found: 99,
                    supported: SCHEMA_VERSION,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("schema version 99"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn garbage_file_is_refused_and_not_overwritten() {
        let p = tmp("garbage");
        let junk = vec![0x5Au8; 8192];
        std::fs::write(&p, &junk).unwrap();
        let err = open(&p, 256).unwrap_err();
        assert!(
            err.to_string().contains("not a database") || err.to_string().contains("corrupt"),
            "{err}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), junk);
    }

    #[test]
    fn foreign_sqlite_file_is_refused() {
        let p = tmp("foreign");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE t(x); PRAGMA user_version=3")
            .unwrap();
        drop(c);
        let err = open(&p, 256).unwrap_err();
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    }

    #[test]
    fn version_one_database_is_upgraded_in_place_keeping_rows() {
        let p = tmp("v1");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(&format!(
            "BEGIN; {V1} PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version=1; COMMIT;"
        ))
        .unwrap();
        c.execute(
            "INSERT INTO sessions (key, agent_id, session_id, kind, created_at, updated_at) \
             VALUES ('agent:main:main', 'main', 's1', 'direct', 1, 1)",
            [],
        )
        .unwrap();
        drop(c);
        let c = open(&p, 256).unwrap();
        assert_eq!(read_header(&c).unwrap(), (APPLICATION_ID, SCHEMA_VERSION));
        let sid: String = c
            .query_row("SELECT session_id FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sid, "s1");
        let plan: String = c
            .query_row(
                "EXPLAIN QUERY PLAN SELECT key FROM sessions ORDER BY updated_at DESC, key LIMIT 5",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("sessions_by_updated_key"), "{plan}");
    }

    #[test]
    fn version_six_usage_rows_survive_the_upgrade_as_unmeasured_usage() {
        let p = tmp("v6");
        let c = Connection::open(&p).unwrap();
        let upto6: String = MIGRATIONS[..6].concat();
        c.execute_batch(&format!(
            "BEGIN; {upto6} PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version=6; COMMIT;"
        ))
        .unwrap();
        c.execute(
            "INSERT INTO usage (ts, session_key, session_id, agent_id, provider, model, \
             input_tokens, output_tokens) VALUES (1, 'k', 's', 'main', 'p', 'm', 10, 5)",
            [],
        )
        .unwrap();
        drop(c);
        let c = open(&p, 256).unwrap();
        assert_eq!(read_header(&c).unwrap().1, 7);
        let row: (i64, Option<String>, Option<i64>) = c
            .query_row(
                "SELECT input_tokens, error_kind, call_count FROM usage",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (10, None, None),
            "kept as usage, not as a measured call"
        );
    }

    #[test]
    fn version_zero_database_is_upgraded_in_place() {
        let p = tmp("older");
        // An empty SQLite file (version 0, e.g. created by an interrupted first start).
        drop(Connection::open(&p).unwrap());
        let c = open(&p, 256).unwrap();
        assert_eq!(read_header(&c).unwrap(), (APPLICATION_ID, SCHEMA_VERSION));
        let n: i64 = c
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
