//! Telegram bridge state in the store: poll offset, accepted updates and the reply outbox.
//!
//! Exactly-once rests on three transactions (each a store write job, committed before the bridge
//! acts on it):
//! 1. `accept`: new updates are inserted with their body and the next `getUpdates` offset is
//!    saved in the same transaction; an update already known (Telegram redelivers after a crash
//!    before the offset was confirmed) is reported as a duplicate and not processed again.
//! 2. `answer`: the reply chunks go to the outbox and the update is marked `answered` together, so
//!    a crash before it re-runs the update (it was never answered) and a crash after it only
//!    leaves chunks to send.
//! 3. `sent`: a chunk is marked with Telegram's `message_id` once `sendMessage` succeeded.
//!    The one window left is a crash between Telegram accepting a chunk and this commit; that
//!    chunk is sent again after the restart (the Bot API has no idempotency key to prevent it).
//!
//! Bounds: at most `max_updates` update rows (the oldest finished ones are pruned) and
//! `max_outbox` unsent chunks (`answer` refuses past it with `StoreError::Full`).

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError};

/// Update states.
pub const RECEIVED: &str = "received";
/// The turn was handed to the scheduler (`run_id` set).
pub const SUBMITTED: &str = "submitted";
/// The reply is in the outbox.
pub const ANSWERED: &str = "answered";
/// Not for the agent (gated, a duplicate of nothing, an edit …); never answered.
pub const IGNORED: &str = "ignored";

/// One update to accept: id, chat and the raw JSON.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// `update_id`.
    pub update_id: i64,
    /// Chat it belongs to (0 when it has none).
    pub chat_id: i64,
    /// The update as received (JSON text).
    pub body: String,
}

/// An update still waiting for an answer after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// `update_id`.
    pub update_id: i64,
    /// Its chat.
    pub chat_id: i64,
    /// The update JSON.
    pub body: String,
    /// `received` or `submitted`.
    pub state: String,
    /// The run it was submitted as, if any.
    pub run_id: Option<String>,
}

/// A reply chunk to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Outbox row id.
    pub id: i64,
    /// Target chat.
    pub chat_id: i64,
    /// Chunk index within the reply (0-based).
    pub part: i64,
    /// Text.
    pub text: String,
    /// `HTML`, `MarkdownV2` or none.
    pub parse_mode: Option<String>,
    /// Message to reply to (first chunk only).
    pub reply_to: Option<i64>,
    /// Send attempts so far.
    pub attempts: i64,
    /// Edit this message (a streamed draft) instead of sending a new one.
    pub edit_of: Option<i64>,
}

/// The saved `getUpdates` offset (0 when none).
pub fn offset(db: &Db) -> Result<i64, StoreError> {
    let v: Option<String> = db
        .conn
        .query_row(
            "SELECT value FROM telegram_state WHERE key = 'offset'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Inserts new updates and saves `next_offset`; returns, per update, whether it is new.
pub fn accept(
    db: &mut Db,
    updates: &[Incoming],
    next_offset: i64,
    now: u64,
    max_updates: usize,
) -> Result<Vec<bool>, StoreError> {
    let mut fresh = Vec::with_capacity(updates.len());
    for u in updates {
        let n = db.conn.execute(
            "INSERT OR IGNORE INTO telegram_updates (update_id, chat_id, body, received_at, state) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![u.update_id, u.chat_id, u.body, now as i64, RECEIVED],
        )?;
        fresh.push(n == 1);
    }
    db.conn.execute(
        "INSERT INTO telegram_state (key, value) VALUES ('offset', ?1) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value \
         WHERE CAST(excluded.value AS INTEGER) > CAST(telegram_state.value AS INTEGER)",
        params![next_offset.to_string()],
    )?;
    prune(db, max_updates)?;
    Ok(fresh)
}

/// Removes the oldest finished updates past `max` rows (unfinished ones are never pruned).
fn prune(db: &Db, max: usize) -> Result<(), StoreError> {
    let n: i64 = db
        .conn
        .query_row("SELECT COUNT(*) FROM telegram_updates", [], |r| r.get(0))?;
    let over = n - max as i64;
    if over > 0 {
        db.conn.execute(
            "DELETE FROM telegram_updates WHERE update_id IN (SELECT update_id FROM telegram_updates \
             WHERE state IN (?1, ?2) ORDER BY update_id LIMIT ?3)",
            params![ANSWERED, IGNORED, over],
        )?;
    }
    Ok(())
}

/// Sets an update's state (and run id).
pub fn mark(
    db: &Db,
    update_id: i64,
    state: &str,
    run_id: Option<&str>,
    now: u64,
) -> Result<(), StoreError> {
    let done = (state == ANSWERED || state == IGNORED).then_some(now as i64);
    db.conn.execute(
        "UPDATE telegram_updates SET state = ?2, run_id = COALESCE(?3, run_id), done_at = ?4 WHERE update_id = ?1",
        params![update_id, state, run_id, done],
    )?;
    Ok(())
}

/// Updates not answered yet (after a restart: re-run them), oldest first.
pub fn unfinished(db: &Db, limit: usize) -> Result<Vec<Pending>, StoreError> {
    let mut st = db.conn.prepare_cached(
        "SELECT update_id, chat_id, body, state, run_id FROM telegram_updates \
         WHERE state IN (?1, ?2) ORDER BY update_id LIMIT ?3",
    )?;
    let rows = st.query_map(params![RECEIVED, SUBMITTED, limit as i64], |r| {
        Ok(Pending {
            update_id: r.get(0)?,
            chat_id: r.get(1)?,
            body: r.get(2)?,
            state: r.get(3)?,
            run_id: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A reply for the outbox.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The update it answers (marked answered in the same transaction), if any.
    pub update_id: Option<i64>,
    /// Target chat.
    pub chat_id: i64,
    /// Rendered chunks, in order.
    pub chunks: Vec<String>,
    /// `HTML` or none.
    pub parse_mode: Option<String>,
    /// Message the first chunk replies to.
    pub reply_to: Option<i64>,
    /// A message already sent (a streamed draft) that the first chunk replaces by
    /// `editMessageText` instead of being sent anew.
    pub edit_first: Option<i64>,
}

/// Puts a reply's chunks in the outbox and marks the update answered, in one transaction.
/// Refused (`Full`) when the outbox already holds `max_outbox` unsent chunks.
pub fn answer(db: &Db, r: &Reply, now: u64, max_outbox: usize) -> Result<(), StoreError> {
    let waiting: i64 = db.conn.query_row(
        "SELECT COUNT(*) FROM telegram_outbox WHERE sent_message_id IS NULL",
        [],
        |r| r.get(0),
    )?;
    if waiting as usize + r.chunks.len() > max_outbox {
        return Err(StoreError::Full {
            what: "telegram outbox",
            cap: max_outbox,
        });
    }
    for (i, text) in r.chunks.iter().enumerate() {
        let first = i == 0;
        db.conn.execute(
            "INSERT INTO telegram_outbox (update_id, chat_id, part, text, parse_mode, reply_to, created_at, next_at, edit_of) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![
                r.update_id,
                r.chat_id,
                i as i64,
                text,
                r.parse_mode,
                if first { r.reply_to } else { None },
                now as i64,
                if first { r.edit_first } else { None }
            ],
        )?;
    }
    if let Some(u) = r.update_id {
        mark(db, u, ANSWERED, None, now)?;
    }
    Ok(())
}

/// What `send_once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOnce {
    /// Queued now.
    Queued,
    /// The key was used before: `(chat, chunks)` of that request; nothing queued.
    Duplicate(i64, i64),
}

/// Queues an outbound message for a `send` request unless its idempotency key was seen; keeps
/// at most `max_keys` keys (the oldest are forgotten).
pub fn send_once(
    db: &Db,
    key: &str,
    r: &Reply,
    now: u64,
    max_outbox: usize,
    max_keys: usize,
) -> Result<SendOnce, StoreError> {
    let seen: Option<(i64, i64)> = db
        .conn
        .query_row(
            "SELECT chat_id, chunks FROM telegram_sends WHERE idempotency_key = ?1",
            params![key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    if let Some((chat, n)) = seen {
        return Ok(SendOnce::Duplicate(chat, n));
    }
    answer(db, r, now, max_outbox)?;
    db.conn.execute(
        "INSERT INTO telegram_sends (idempotency_key, chat_id, chunks, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![key, r.chat_id, r.chunks.len() as i64, now as i64],
    )?;
    db.conn.execute(
        "DELETE FROM telegram_sends WHERE idempotency_key IN (SELECT idempotency_key FROM telegram_sends \
         ORDER BY created_at DESC LIMIT -1 OFFSET ?1)",
        params![max_keys as i64],
    )?;
    Ok(SendOnce::Queued)
}

/// Points every unsent chunk for `from` at `to` (a group became a supergroup).
pub fn migrate_chat(db: &Db, from: i64, to: i64) -> Result<usize, StoreError> {
    Ok(db.conn.execute(
        "UPDATE telegram_outbox SET chat_id = ?2 WHERE chat_id = ?1 AND sent_message_id IS NULL",
        params![from, to],
    )?)
}

/// Unsent chunks due at `now`, in order (per chat, parts in order).
pub fn due(db: &Db, now: u64, limit: usize) -> Result<Vec<Outgoing>, StoreError> {
    let mut st = db.conn.prepare_cached(
        "SELECT id, chat_id, part, text, parse_mode, reply_to, attempts, edit_of FROM telegram_outbox \
         WHERE sent_message_id IS NULL AND next_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![now as i64, limit as i64], |r| {
        Ok(Outgoing {
            id: r.get(0)?,
            chat_id: r.get(1)?,
            part: r.get(2)?,
            text: r.get(3)?,
            parse_mode: r.get(4)?,
            reply_to: r.get(5)?,
            attempts: r.get(6)?,
            edit_of: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks a chunk sent (and drops sent chunks beyond the newest 256, which are only kept for
/// inspection).
pub fn sent(db: &Db, id: i64, message_id: i64) -> Result<(), StoreError> {
    db.conn.execute(
        "UPDATE telegram_outbox SET sent_message_id = ?2 WHERE id = ?1",
        params![id, message_id],
    )?;
    db.conn.execute(
        "DELETE FROM telegram_outbox WHERE sent_message_id IS NOT NULL AND id NOT IN \
         (SELECT id FROM telegram_outbox WHERE sent_message_id IS NOT NULL ORDER BY id DESC LIMIT 256)",
        [],
    )?;
    Ok(())
}

/// Schedules another attempt of a chunk at `next_at`.
pub fn retry(db: &Db, id: i64, next_at: u64) -> Result<(), StoreError> {
    db.conn.execute(
        "UPDATE telegram_outbox SET attempts = attempts + 1, next_at = ?2 WHERE id = ?1",
        params![id, next_at as i64],
    )?;
    Ok(())
}

/// Unsent chunks (for status).
pub fn backlog(db: &Db) -> Result<u64, StoreError> {
    let n: i64 = db.conn.query_row(
        "SELECT COUNT(*) FROM telegram_outbox WHERE sent_message_id IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// A fresh database in a temp dir, for the store's unit tests.
#[cfg(test)]
pub(crate) fn test_db(tag: &str) -> Db {
    let dir = std::env::temp_dir().join(format!(
        "oce-{tag}-{}",
        crate::ids::hex(&crate::ids::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conn = super::schema::open(&dir.join("t.db"), 256).unwrap();
    Db {
        conn,
        limits: super::StoreLimits {
            max_sessions: 10,
            max_messages_per_session: 10,
            max_usage_rows: 10,
        },
        session_count: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Db {
        test_db("tgstore")
    }

    fn inc(id: i64) -> Incoming {
        Incoming {
            update_id: id,
            chat_id: 7,
            body: format!("{{\"update_id\":{id}}}"),
        }
    }

    #[test]
    fn duplicates_are_reported_and_the_offset_only_moves_forward() {
        let mut d = db();
        assert_eq!(offset(&d).unwrap(), 0);
        assert_eq!(
            accept(&mut d, &[inc(10), inc(11)], 12, 1, 100).unwrap(),
            [true, true]
        );
        assert_eq!(offset(&d).unwrap(), 12);
        // Redelivered after a crash: known, not new; an older offset never moves it back.
        assert_eq!(
            accept(&mut d, &[inc(11), inc(12)], 11, 2, 100).unwrap(),
            [false, true]
        );
        assert_eq!(offset(&d).unwrap(), 12);
        let p = unfinished(&d, 10).unwrap();
        assert_eq!(
            p.iter().map(|x| x.update_id).collect::<Vec<_>>(),
            [10, 11, 12]
        );
        mark(&d, 10, SUBMITTED, Some("r10"), 3).unwrap();
        assert_eq!(
            unfinished(&d, 10).unwrap()[0].run_id.as_deref(),
            Some("r10")
        );
    }

    #[test]
    fn answering_fills_the_outbox_and_finishes_the_update_together() {
        let mut d = db();
        accept(&mut d, &[inc(1)], 2, 1, 100).unwrap();
        let r = Reply {
            update_id: Some(1),
            chat_id: 7,
            chunks: vec!["a".into(), "b".into()],
            parse_mode: Some("HTML".into()),
            reply_to: Some(55),
            edit_first: Some(77),
        };
        answer(&d, &r, 5, 10).unwrap();
        assert!(
            unfinished(&d, 10).unwrap().is_empty(),
            "answered updates are done"
        );
        let due1 = due(&d, 5, 10).unwrap();
        assert_eq!(due1.len(), 2);
        assert_eq!((due1[0].reply_to, due1[1].reply_to), (Some(55), None));
        assert_eq!((due1[0].edit_of, due1[1].edit_of), (Some(77), None));
        retry(&d, due1[0].id, 100).unwrap();
        assert_eq!(due(&d, 50, 10).unwrap().len(), 1, "the retried chunk waits");
        sent(&d, due1[1].id, 900).unwrap();
        assert_eq!(backlog(&d).unwrap(), 1);
        // Past the outbox cap a reply is refused, not queued.
        let many: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let r = Reply {
            chat_id: 7,
            chunks: many,
            ..Reply::default()
        };
        let e = answer(&d, &r, 6, 10).unwrap_err();
        assert!(matches!(e, StoreError::Full { .. }), "{e}");
    }

    #[test]
    fn send_requests_are_queued_once_per_key_and_keys_are_bounded() {
        let d = db();
        let r = Reply {
            chat_id: 9,
            chunks: vec!["hi".into()],
            ..Reply::default()
        };
        assert_eq!(send_once(&d, "k1", &r, 1, 10, 2).unwrap(), SendOnce::Queued);
        assert_eq!(
            send_once(&d, "k1", &r, 2, 10, 2).unwrap(),
            SendOnce::Duplicate(9, 1)
        );
        assert_eq!(backlog(&d).unwrap(), 1);
        send_once(&d, "k2", &r, 3, 10, 2).unwrap();
        send_once(&d, "k3", &r, 4, 10, 2).unwrap();
        let n: i64 = d
            .conn
            .query_row("SELECT COUNT(*) FROM telegram_sends", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2, "oldest key forgotten");
    }

    #[test]
    fn a_migrated_group_takes_its_unsent_chunks_along() {
        let d = db();
        let r = Reply {
            chat_id: -5,
            chunks: vec!["a".into(), "b".into()],
            ..Reply::default()
        };
        answer(&d, &r, 1, 10).unwrap();
        let first = due(&d, 1, 10).unwrap()[0].id;
        sent(&d, first, 3).unwrap();
        assert_eq!(migrate_chat(&d, -5, -1005).unwrap(), 1);
        assert_eq!(due(&d, 1, 10).unwrap()[0].chat_id, -1005);
    }

    #[test]
    fn finished_updates_are_pruned_past_the_cap_but_unfinished_ones_stay() {
        let mut d = db();
        for i in 0..20 {
            accept(&mut d, &[inc(i)], i + 1, 1, 10).unwrap();
            if i % 2 == 0 {
                mark(&d, i, IGNORED, None, 2).unwrap();
            }
        }
        let n: i64 = d
            .conn
            .query_row("SELECT COUNT(*) FROM telegram_updates", [], |r| r.get(0))
            .unwrap();
        assert!(n <= 11, "{n} rows");
        assert_eq!(
            unfinished(&d, 100).unwrap().len(),
            10,
            "every unanswered update kept"
        );
    }
}
