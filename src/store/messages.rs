//! Transcripts: appending messages, reading pages of them, compaction and pruning.
//!
//! A message is stored as its JSON object (`{role, content:[{type:"text", text}], timestamp, …}`)
//! with a per-key sequence number. Appends keep the session row's title, preview and counters
//! current so listing never reads this table. Past `limits.max_messages_per_session` the oldest
//! messages of that key are deleted in the same transaction (a bounded table, never a rewrite).
//! (Only the pruning path reads up to `cap` index entries; ordinary appends touch two rows.)

use rusqlite::params;
use serde_json::Value;

use super::{Db, StoreError};

/// Longest derived title kept in the session row.
pub const TITLE_CHARS: usize = 60;
/// Longest last-message preview kept in the session row.
pub const PREVIEW_CHARS: usize = 120;

/// One stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Sequence within the session key.
    pub seq: u64,
    /// `user|assistant|system|tool`.
    pub role: String,
    /// The message object.
    pub body: Value,
    /// Time (ms).
    pub ts: u64,
    /// Run that produced it.
    pub run_id: Option<String>,
}

/// A message row and the stored size of its body (bytes), for byte-bounded pages.
fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Message, usize)> {
    let body: String = r.get(2)?;
    let m = Message {
        seq: r.get::<_, i64>(0)? as u64,
        role: r.get(1)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        ts: r.get::<_, i64>(3)? as u64,
        run_id: r.get(4)?,
    };
    Ok((m, body.len()))
}

/// Rows in query order until their bodies would pass `max_bytes` (the first row always fits):
/// reading stops there, so a page never holds more than about `max_bytes` of message text.
fn within(
    rows: impl Iterator<Item = rusqlite::Result<(Message, usize)>>,
    max_bytes: usize,
) -> Result<Vec<Message>, StoreError> {
    let mut out = Vec::new();
    let mut used = 0usize;
    for r in rows {
        let (m, len) = r?;
        if !out.is_empty() && used + len > max_bytes {
            break;
        }
        used += len;
        out.push(m);
    }
    Ok(out)
}

/// Appends a message to `key`'s current session; returns its sequence number.
pub fn append(
    db: &Db,
    key: &str,
    role: &str,
    body: &Value,
    run_id: Option<&str>,
    now: u64,
) -> Result<u64, StoreError> {
    let (sid, seq): (String, i64) = db
        .conn
        .query_row(
            "SELECT session_id, next_seq FROM sessions WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|_| StoreError::NotFound(format!("session not found: {key}")))?;
    db.conn.execute(
        "INSERT INTO messages (session_key, session_id, seq, role, body, ts, run_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![key, sid, seq, role, body.to_string(), now as i64, run_id],
    )?;
    let text = text_of(body);
    let preview = cut(&text, PREVIEW_CHARS);
    let title = (role == "user").then(|| cut(&text, TITLE_CHARS));
    db.conn.execute(
        "UPDATE sessions SET next_seq = next_seq + 1, message_count = message_count + 1, \
         last_preview = ?2, last_message_at = ?3, updated_at = ?3, \
         derived_title = COALESCE(derived_title, ?4) WHERE key = ?1",
        params![key, preview, now as i64, title],
    )?;
    let cap = db.limits.max_messages_per_session as i64;
    let count: i64 = db.conn.query_row(
        "SELECT message_count FROM sessions WHERE key = ?1",
        [key],
        |r| r.get(0),
    )?;
    if count > cap {
        // The newest `cap` messages stay; sequence numbers may have gaps (removed messages),
        // so the cut is found through the index rather than computed.
        let removed = db.conn.execute(
            "DELETE FROM messages WHERE session_key = ?1 AND seq <= \
             (SELECT seq FROM messages WHERE session_key = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            params![key, cap],
        )?;
        uncount(db, key, removed)?;
    }
    Ok(seq as u64)
}

/// The text of a message object: its string `content`, or the joined `text` parts.
pub fn text_of(body: &Value) -> String {
    match &body["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// At most `n` characters of `s`, single-lined, with `…` when cut.
pub fn cut(s: &str, n: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= n {
        flat.to_string()
    } else {
        let mut out: String = flat.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A page of `key`'s messages for `session_id`, oldest first: the newest `limit` messages
/// before sequence `before` (exclusive; `None` = the tail), at most about `max_bytes` of bodies.
pub fn page(
    db: &Db,
    key: &str,
    session_id: &str,
    limit: usize,
    before: Option<u64>,
    max_bytes: usize,
) -> Result<Vec<Message>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT seq, role, body, ts, run_id FROM messages \
         WHERE session_key = ?1 AND session_id = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4",
    )?;
    let before = before.map(|b| b as i64).unwrap_or(i64::MAX);
    let mut rows = within(
        stmt.query_map(params![key, session_id, before, limit as i64], from_row)?,
        max_bytes,
    )?;
    rows.reverse();
    Ok(rows)
}

/// Messages of `key` for `session_id` (bounded by the per-session cap, index-only count).
pub fn count(db: &Db, key: &str, session_id: &str) -> Result<u64, StoreError> {
    let n: i64 = db.conn.query_row(
        "SELECT count(*) FROM messages WHERE session_key = ?1 AND session_id = ?2",
        params![key, session_id],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// `(messages, body bytes, newest message time)` of `key` for `session_id`: the transcript a
/// handoff would move (bounded by the per-session cap).
pub fn size(db: &Db, key: &str, session_id: &str) -> Result<(u64, u64, Option<u64>), StoreError> {
    let (n, bytes, last): (i64, i64, Option<i64>) = db.conn.query_row(
        "SELECT count(*), coalesce(sum(length(CAST(body AS BLOB))), 0), max(ts) FROM messages \
         WHERE session_key = ?1 AND session_id = ?2",
        params![key, session_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok((n as u64, bytes as u64, last.map(|t| t as u64)))
}

/// Keeps the newest `max_lines` messages of `key` (all session ids); returns how many were removed.
pub fn compact(db: &Db, key: &str, max_lines: u64) -> Result<u64, StoreError> {
    let removed = db.conn.execute(
        "DELETE FROM messages WHERE session_key = ?1 AND seq <= \
         (SELECT next_seq - 1 - ?2 FROM sessions WHERE key = ?1)",
        params![key, max_lines as i64],
    )?;
    uncount(db, key, removed)?;
    Ok(removed as u64)
}

/// Up to `limit` messages of `key`/`session_id` after sequence `seq`, oldest first (delta reads),
/// at most about `max_bytes` of bodies.
pub fn after(
    db: &Db,
    key: &str,
    session_id: &str,
    seq: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Message>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT seq, role, body, ts, run_id FROM messages \
         WHERE session_key = ?1 AND session_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
    )?;
    within(
        stmt.query_map(params![key, session_id, seq as i64, limit as i64], from_row)?,
        max_bytes,
    )
}

/// Removes one message (undoing an append whose turn could not be scheduled).
pub fn remove(db: &Db, key: &str, seq: u64) -> Result<(), StoreError> {
    let n = db.conn.execute(
        "DELETE FROM messages WHERE session_key = ?1 AND seq = ?2",
        params![key, seq as i64],
    )?;
    uncount(db, key, n)
}

/// Keeps the row's `message_count` in step after `removed` messages were deleted.
fn uncount(db: &Db, key: &str, removed: usize) -> Result<(), StoreError> {
    if removed > 0 {
        db.conn.execute(
            "UPDATE sessions SET message_count = message_count - ?2 WHERE key = ?1",
            params![key, removed as i64],
        )?;
    }
    Ok(())
}
