//! Telegram pairing in the store: pending one-time codes and the users approved through them.
//!
//! Under `dmPolicy = "pairing"` an unknown user gets a code (`request`); the operator approves it
//! (`approve`, from the `channels.pairing.approve` RPC, the CLI or `/pairing approve` in chat),
//! which moves the user to `telegram_paired`, or dismisses it (`dismiss`). Codes expire after the
//! TTL the bridge passes; expired rows are dropped by every call that reads them.
//!
//! Bounds: at most `max_pending` live codes (a further unknown user is told to try later) and
//! `max_paired` approved users (`approve` refuses past it with `StoreError::Full`).

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError};

/// A pending pairing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The one-time code (also the request id on the wire).
    pub code: String,
    /// Telegram user id.
    pub user_id: i64,
    /// The private chat to notify on approval.
    pub chat_id: i64,
    /// Name shown to the operator (`@username` or first name).
    pub label: String,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms of the user's latest message.
    pub last_seen_at: u64,
    /// Unix ms after which the code is void.
    pub expires_at: u64,
}

/// What `request` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A new code was stored.
    New(Request),
    /// The user already had a live code (returned again).
    Existing(Request),
    /// `max_pending` codes are live; nothing stored.
    Full,
}

fn purge(db: &Db, now: u64) -> Result<(), StoreError> {
    db.conn.execute(
        "DELETE FROM telegram_pairing WHERE expires_at <= ?1",
        params![now as i64],
    )?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        code: r.get(0)?,
        user_id: r.get(1)?,
        chat_id: r.get(2)?,
        label: r.get(3)?,
        created_at: r.get::<_, i64>(4)? as u64,
        last_seen_at: r.get::<_, i64>(5)? as u64,
        expires_at: r.get::<_, i64>(6)? as u64,
    })
}

const COLUMNS: &str = "code, user_id, chat_id, label, created_at, last_seen_at, expires_at";

/// Finds or creates the user's code; `code` is the fresh one to use if a new row is needed.
#[allow(clippy::too_many_arguments)]
pub fn request(
    db: &Db,
    user_id: i64,
    chat_id: i64,
    label: &str,
    code: &str,
    now: u64,
    ttl_ms: u64,
    max_pending: usize,
) -> Result<Asked, StoreError> {
    purge(db, now)?;
    let found = db
        .conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM telegram_pairing WHERE user_id = ?1"),
            params![user_id],
            row,
        )
        .optional()?;
    if let Some(mut r) = found {
        db.conn.execute(
            "UPDATE telegram_pairing SET last_seen_at = ?2 WHERE code = ?1",
            params![r.code, now as i64],
        )?;
        r.last_seen_at = now;
        return Ok(Asked::Existing(r));
    }
    let live: i64 = db
        .conn
        .query_row("SELECT COUNT(*) FROM telegram_pairing", [], |r| r.get(0))?;
    if live as usize >= max_pending {
        return Ok(Asked::Full);
    }
    let r = Request {
        code: code.to_string(),
        user_id,
        chat_id,
        label: label.to_string(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + ttl_ms,
    };
    db.conn.execute(
        &format!("INSERT INTO telegram_pairing ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"),
        params![
            r.code,
            user_id,
            chat_id,
            r.label,
            now as i64,
            r.expires_at as i64
        ],
    )?;
    Ok(Asked::New(r))
}

/// Live requests, oldest first.
pub fn list(db: &Db, now: u64) -> Result<Vec<Request>, StoreError> {
    let mut st = db.conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM telegram_pairing WHERE expires_at > ?1 ORDER BY created_at"
    ))?;
    let rows = st.query_map(params![now as i64], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn take(db: &Db, code: &str, now: u64) -> Result<Request, StoreError> {
    purge(db, now)?;
    let r = db
        .conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM telegram_pairing WHERE code = ?1"),
            params![code],
            row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no pending pairing request {code}")))?;
    db.conn.execute(
        "DELETE FROM telegram_pairing WHERE code = ?1",
        params![code],
    )?;
    Ok(r)
}

/// Approves a code: the user joins `telegram_paired`.
pub fn approve(db: &Db, code: &str, now: u64, max_paired: usize) -> Result<Request, StoreError> {
    let n: i64 = db
        .conn
        .query_row("SELECT COUNT(*) FROM telegram_paired", [], |r| r.get(0))?;
    if n as usize >= max_paired {
        return Err(StoreError::Full {
            what: "telegram paired users",
            cap: max_paired,
        });
    }
    let r = take(db, code, now)?;
    db.conn.execute(
        "INSERT OR REPLACE INTO telegram_paired (user_id, label, approved_at, code) VALUES (?1, ?2, ?3, ?4)",
        params![r.user_id, r.label, now as i64, r.code],
    )?;
    Ok(r)
}

/// Dismisses a code (the user may ask again later).
pub fn dismiss(db: &Db, code: &str, now: u64) -> Result<Request, StoreError> {
    take(db, code, now)
}

/// Approved user ids (at most `limit`).
pub fn paired(db: &Db, limit: usize) -> Result<Vec<i64>, StoreError> {
    let mut st = db
        .conn
        .prepare_cached("SELECT user_id FROM telegram_paired ORDER BY approved_at LIMIT ?1")?;
    let rows = st.query_map(params![limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Db {
        super::super::telegram::test_db("pairing")
    }

    fn code_of(a: Asked) -> String {
        match a {
            Asked::New(r) | Asked::Existing(r) => r.code,
            Asked::Full => panic!("full"),
        }
    }

    #[test]
    fn one_code_per_user_until_it_expires() {
        let d = db();
        let a = request(&d, 7, 7, "@ann", "AAAA2222", 1_000, 10_000, 3).unwrap();
        assert!(matches!(a, Asked::New(_)));
        let b = request(&d, 7, 7, "@ann", "BBBB3333", 2_000, 10_000, 3).unwrap();
        assert!(
            matches!(&b, Asked::Existing(r) if r.code == "AAAA2222" && r.last_seen_at == 2_000)
        );
        // Expired: a new code.
        let c = request(&d, 7, 7, "@ann", "CCCC4444", 11_001, 10_000, 3).unwrap();
        assert_eq!(code_of(c), "CCCC4444");
        assert_eq!(list(&d, 11_001).unwrap().len(), 1);
    }

    #[test]
    fn pending_codes_are_bounded() {
        let d = db();
        for u in 0..3 {
            let code = format!("CODE{u:04}");
            assert!(matches!(
                request(&d, u, u, "x", &code, 0, 60_000, 3).unwrap(),
                Asked::New(_)
            ));
        }
        assert_eq!(
            request(&d, 9, 9, "x", "CODE9999", 0, 60_000, 3).unwrap(),
            Asked::Full
        );
        // Dismissing one frees a place.
        dismiss(&d, "CODE0001", 1).unwrap();
        assert!(matches!(
            request(&d, 9, 9, "x", "CODE9999", 1, 60_000, 3).unwrap(),
            Asked::New(_)
        ));
    }

    #[test]
    fn approve_moves_the_user_and_unknown_or_expired_codes_are_not_found() {
        let d = db();
        request(&d, 5, 50, "@bo", "PAIR5555", 0, 1_000, 3).unwrap();
        request(&d, 6, 60, "@cy", "PAIR6666", 0, 1_000, 3).unwrap();
        let r = approve(&d, "PAIR5555", 10, 10).unwrap();
        assert_eq!((r.user_id, r.chat_id), (5, 50));
        assert_eq!(paired(&d, 10).unwrap(), vec![5]);
        assert!(matches!(
            approve(&d, "PAIR5555", 10, 10),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            approve(&d, "PAIR6666", 1_000, 10),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            approve(&d, "NOPE0000", 10, 10),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn paired_users_are_bounded() {
        let d = db();
        request(&d, 1, 1, "a", "PAIR0001", 0, 60_000, 3).unwrap();
        request(&d, 2, 2, "b", "PAIR0002", 0, 60_000, 3).unwrap();
        approve(&d, "PAIR0001", 1, 1).unwrap();
        assert!(matches!(
            approve(&d, "PAIR0002", 1, 1),
            Err(StoreError::Full { .. })
        ));
        // The refused code is still pending.
        assert_eq!(list(&d, 1).unwrap().len(), 1);
    }
}
