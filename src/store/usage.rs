//! Usage records: one row per model call with token counts, and the aggregates `usage.*` and
//! `sessions.usage*` are computed from.
//!
//! Rows are only what runs reported; nothing is estimated here. Past `limits.max_usage_rows` the
//! oldest rows are deleted as new ones arrive (by rowid, an index range delete).

use rusqlite::params;

use super::{Db, StoreError};

/// One recorded model call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageRecord {
    /// Time (ms).
    pub ts: u64,
    /// Session key.
    pub session_key: String,
    /// Session id at the time.
    pub session_id: String,
    /// Agent id.
    pub agent_id: String,
    /// Run id.
    pub run_id: Option<String>,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    pub cache_write_tokens: u64,
    /// Call duration (ms).
    pub duration_ms: u64,
}

/// Inserts a record and prunes the oldest past the cap.
pub fn record(db: &Db, u: &UsageRecord) -> Result<(), StoreError> {
    db.conn.execute(
        "INSERT INTO usage (ts, session_key, session_id, agent_id, run_id, provider, model, \
         input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, duration_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            u.ts as i64,
            u.session_key,
            u.session_id,
            u.agent_id,
            u.run_id,
            u.provider,
            u.model,
            u.input_tokens as i64,
            u.output_tokens as i64,
            u.cache_read_tokens as i64,
            u.cache_write_tokens as i64,
            u.duration_ms as i64
        ],
    )?;
    let id = db.conn.last_insert_rowid();
    let cap = db.limits.max_usage_rows as i64;
    if id > cap {
        db.conn
            .execute("DELETE FROM usage WHERE id <= ?1", [id - cap])?;
    }
    Ok(())
}

/// Which records an aggregate covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// From (ms, inclusive).
    pub since: u64,
    /// Until (ms, exclusive; 0 = now and beyond).
    pub until: u64,
    /// Only this session key.
    pub session_key: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
}

/// Token sums for one group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Totals {
    /// Group label (provider/model pair, day, or session key).
    pub group: (String, String),
    /// Calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    pub cache_write_tokens: u64,
    /// Summed call time (ms).
    pub duration_ms: u64,
}

/// How totals are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// `(provider, model)`.
    Model,
    /// `(UTC day "YYYY-MM-DD", "")`.
    Day,
    /// `(session key, "")`.
    Session,
}

/// Sums grouped as asked, largest token total first (at most `max_groups` groups).
pub fn totals(
    db: &Db,
    f: &Filter,
    by: GroupBy,
    max_groups: usize,
) -> Result<Vec<Totals>, StoreError> {
    let group = match by {
        GroupBy::Model => "provider, model",
        GroupBy::Day => "strftime('%Y-%m-%d', ts / 1000, 'unixepoch'), ''",
        GroupBy::Session => "session_key, ''",
    };
    let order = match by {
        GroupBy::Day => "1",
        _ => "(sum(input_tokens) + sum(output_tokens)) DESC",
    };
    let sql = format!(
        "SELECT {group}, count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), \
         sum(cache_write_tokens), sum(duration_ms) FROM usage \
         WHERE ts >= ?1 AND (?2 = 0 OR ts < ?2) AND (?3 IS NULL OR session_key = ?3) \
         AND (?4 IS NULL OR agent_id = ?4) GROUP BY 1, 2 ORDER BY {order} LIMIT ?5"
    );
    let mut stmt = db.conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(
            params![
                f.since as i64,
                f.until as i64,
                f.session_key,
                f.agent_id,
                max_groups as i64
            ],
            |r| {
                Ok(Totals {
                    group: (r.get(0)?, r.get(1)?),
                    calls: r.get::<_, i64>(2)? as u64,
                    input_tokens: r.get::<_, i64>(3)? as u64,
                    output_tokens: r.get::<_, i64>(4)? as u64,
                    cache_read_tokens: r.get::<_, i64>(5)? as u64,
                    cache_write_tokens: r.get::<_, i64>(6)? as u64,
                    duration_ms: r.get::<_, i64>(7)? as u64,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The newest `limit` records matching `f`, newest first.
pub fn logs(db: &Db, f: &Filter, limit: usize) -> Result<Vec<UsageRecord>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT ts, session_key, session_id, agent_id, run_id, provider, model, input_tokens, \
         output_tokens, cache_read_tokens, cache_write_tokens, duration_ms FROM usage \
         WHERE ts >= ?1 AND (?2 = 0 OR ts < ?2) AND (?3 IS NULL OR session_key = ?3) \
         AND (?4 IS NULL OR agent_id = ?4) ORDER BY id DESC LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(
            params![
                f.since as i64,
                f.until as i64,
                f.session_key,
                f.agent_id,
                limit as i64
            ],
            |r| {
                Ok(UsageRecord {
                    ts: r.get::<_, i64>(0)? as u64,
                    session_key: r.get(1)?,
                    session_id: r.get(2)?,
                    agent_id: r.get(3)?,
                    run_id: r.get(4)?,
                    provider: r.get(5)?,
                    model: r.get(6)?,
                    input_tokens: r.get::<_, i64>(7)? as u64,
                    output_tokens: r.get::<_, i64>(8)? as u64,
                    cache_read_tokens: r.get::<_, i64>(9)? as u64,
                    cache_write_tokens: r.get::<_, i64>(10)? as u64,
                    duration_ms: r.get::<_, i64>(11)? as u64,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
