//! Database inspection for `openclaw-edge doctor`: schema version, file sizes, row counts and
//! `PRAGMA integrity_check`, read through a read-only connection so a running gateway is not
//! disturbed (WAL lets readers in beside the writer).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::schema::{APPLICATION_ID, DB_FILE, SCHEMA_VERSION, read_header};

/// What `doctor` reports about the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Database path.
    pub path: String,
    /// Whether the file exists.
    pub exists: bool,
    /// `user_version` found.
    pub schema_version: i64,
    /// Version this binary writes.
    pub supported_version: i64,
    /// Whether `application_id` marks it as ours.
    pub ours: bool,
    /// Sizes of the db, `-wal` and `-shm` files in bytes.
    pub sizes: [(String, u64); 3],
    /// `integrity_check` result (`ok` or the first problems).
    pub integrity: String,
    /// Row counts of sessions, messages and usage.
    pub rows: [(String, i64); 3],
}

/// Inspects `<state_dir>/openclaw-edge.db`; `Err` is a one-line reason (unreadable, not SQLite).
pub fn inspect(state_dir: &Path) -> Result<Report, String> {
    let path = state_dir.join(DB_FILE);
    let size = |suffix: &str| {
        let p = format!("{}{suffix}", path.display());
        (
            p.clone(),
            std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
        )
    };
    let sizes = [size(""), size("-wal"), size("-shm")];
    if !path.exists() {
        return Ok(Report {
            path: path.display().to_string(),
            exists: false,
            schema_version: 0,
            supported_version: SCHEMA_VERSION,
            ours: false,
            sizes,
            integrity: "no database yet (created on first start)".into(),
            rows: [
                ("sessions".into(), 0),
                ("messages".into(), 0),
                ("usage".into(), 0),
            ],
        });
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let (app, version) = read_header(&conn).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check(20)")
        .map_err(|e| e.to_string())?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .collect();
    let count = |t: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_or(-1)
    };
    let rows = [
        ("sessions".to_string(), count("sessions")),
        ("messages".to_string(), count("messages")),
        ("usage".to_string(), count("usage")),
    ];
    Ok(Report {
        path: path.display().to_string(),
        exists: true,
        schema_version: version,
        supported_version: SCHEMA_VERSION,
        ours: app == APPLICATION_ID,
        sizes,
        integrity: problems.join("; "),
        rows,
    })
}
