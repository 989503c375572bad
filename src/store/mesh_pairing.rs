//! Device pairing in the store: pending requests, paired devices and their tokens.
//!
//! A signed device that connects without the gateway secret and is not paired gets a request
//! (`insert_request`, one per device id); an operator approves it (`approve`: the device row and
//! an un-issued token row are written, the request deleted) or rejects it. Tokens are stored only
//! as the hex SHA-256 of the token (`token_sha256`), `NULL` until the device's first connect after
//! approval issues one; a revoked token keeps its row with `revoked_at` set and no hash.
//!
//! Bounds: at most `max_requests` live requests (`insert_request` refuses past it with
//! `StoreError::Full`; expired rows are purged first) and `max_paired` devices (`approve`
//! refuses past it, the request stays). All statements touch the rows they name.

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError};

/// A pending pairing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request id (a UUID).
    pub request_id: String,
    /// The device (hex SHA-256 of its key).
    pub device_id: String,
    /// Its raw Ed25519 key, base64url.
    pub public_key: String,
    /// `operator` or `node`.
    pub role: String,
    /// Requested scopes (already capped by `gateway.auth.scopes`).
    pub scopes: Vec<String>,
    /// `client.displayName`.
    pub display_name: Option<String>,
    /// `client.platform`.
    pub platform: Option<String>,
    /// `client.id`.
    pub client_id: Option<String>,
    /// `client.mode`.
    pub client_mode: Option<String>,
    /// Peer address.
    pub remote_ip: Option<String>,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms after which the request is void.
    pub expires_at: u64,
}

/// A paired device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id.
    pub device_id: String,
    /// Raw Ed25519 key, base64url.
    pub public_key: String,
    /// The role it was paired for.
    pub role: String,
    /// Scopes it was granted.
    pub scopes: Vec<String>,
    /// The operator's label (`device.pair.rename`), else its display name at pairing.
    pub label: Option<String>,
    /// Platform at pairing.
    pub platform: Option<String>,
    /// `client.id` at pairing.
    pub client_id: Option<String>,
    /// Address at pairing.
    pub remote_ip: Option<String>,
    /// Unix ms.
    pub paired_at: u64,
}

/// A device's token for one role (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Device id.
    pub device_id: String,
    /// Role.
    pub role: String,
    /// Hex SHA-256 of the token; `None` before issue and after revocation.
    pub sha256: Option<String>,
    /// Scopes the token grants.
    pub scopes: Vec<String>,
    /// When the current token was issued (unix ms).
    pub issued_at: Option<u64>,
    /// When it was revoked (unix ms).
    pub revoked_at: Option<u64>,
}

fn scopes_of(s: String) -> Vec<String> {
    serde_json::from_str(&s).unwrap_or_default()
}

fn scopes_text(s: &[String]) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "[]".into())
}

const REQ_COLUMNS: &str = "request_id, device_id, public_key, role, scopes, display_name, platform, \
                           client_id, client_mode, remote_ip, created_at, expires_at";

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        request_id: r.get(0)?,
        device_id: r.get(1)?,
        public_key: r.get(2)?,
        role: r.get(3)?,
        scopes: scopes_of(r.get(4)?),
        display_name: r.get(5)?,
        platform: r.get(6)?,
        client_id: r.get(7)?,
        client_mode: r.get(8)?,
        remote_ip: r.get(9)?,
        created_at: r.get::<_, i64>(10)? as u64,
        expires_at: r.get::<_, i64>(11)? as u64,
    })
}

const DEV_COLUMNS: &str =
    "device_id, public_key, role, scopes, label, platform, client_id, remote_ip, paired_at";

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        device_id: r.get(0)?,
        public_key: r.get(1)?,
        role: r.get(2)?,
        scopes: scopes_of(r.get(3)?),
        label: r.get(4)?,
        platform: r.get(5)?,
        client_id: r.get(6)?,
        remote_ip: r.get(7)?,
        paired_at: r.get::<_, i64>(8)? as u64,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Token> {
    Ok(Token {
        device_id: r.get(0)?,
        role: r.get(1)?,
        sha256: r.get(2)?,
        scopes: scopes_of(r.get(3)?),
        issued_at: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
    })
}

fn purge(db: &Db, now: u64) -> Result<(), StoreError> {
    db.conn.execute(
        "DELETE FROM mesh_pair_requests WHERE expires_at <= ?1",
        params![now as i64],
    )?;
    Ok(())
}

/// Everything the pairing cache holds.
#[derive(Debug, Default)]
pub struct State {
    /// Live requests, oldest first.
    pub requests: Vec<Request>,
    /// Paired devices, oldest first.
    pub devices: Vec<Device>,
    /// Token rows.
    pub tokens: Vec<Token>,
}

/// Everything, for the start-up cache: live requests, paired devices, token rows.
pub fn load(db: &Db, now: u64) -> Result<State, StoreError> {
    purge(db, now)?;
    let mut st = db.conn.prepare(&format!(
        "SELECT {REQ_COLUMNS} FROM mesh_pair_requests ORDER BY created_at"
    ))?;
    let requests = st
        .query_map([], request_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut st = db.conn.prepare(&format!(
        "SELECT {DEV_COLUMNS} FROM mesh_devices ORDER BY paired_at"
    ))?;
    let devices = st
        .query_map([], device_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut st = db.conn.prepare(
        "SELECT device_id, role, token_sha256, scopes, issued_at, revoked_at FROM mesh_device_tokens",
    )?;
    let tokens = st
        .query_map([], token_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(State {
        requests,
        devices,
        tokens,
    })
}

/// Stores a new request; `Full` when `max` live requests exist.
pub fn insert_request(db: &Db, r: &Request, max: usize) -> Result<(), StoreError> {
    purge(db, r.created_at)?;
    let live: i64 = db
        .conn
        .query_row("SELECT COUNT(*) FROM mesh_pair_requests", [], |x| x.get(0))?;
    if live as usize >= max {
        return Err(StoreError::Full {
            what: "pairing requests (limits.mesh_max_pair_requests)",
            cap: max,
        });
    }
    db.conn.execute(
        &format!(
            "INSERT INTO mesh_pair_requests ({REQ_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (device_id) DO UPDATE SET request_id = ?1, public_key = ?3, role = ?4, scopes = ?5,
                display_name = ?6, platform = ?7, client_id = ?8, client_mode = ?9, remote_ip = ?10,
                created_at = ?11, expires_at = ?12"
        ),
        params![
            r.request_id,
            r.device_id,
            r.public_key,
            r.role,
            scopes_text(&r.scopes),
            r.display_name,
            r.platform,
            r.client_id,
            r.client_mode,
            r.remote_ip,
            r.created_at as i64,
            r.expires_at as i64
        ],
    )?;
    Ok(())
}

fn take_request(db: &Db, request_id: &str, now: u64) -> Result<Request, StoreError> {
    purge(db, now)?;
    let r = db
        .conn
        .query_row(
            &format!("SELECT {REQ_COLUMNS} FROM mesh_pair_requests WHERE request_id = ?1"),
            params![request_id],
            request_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound("unknown requestId".into()))?;
    db.conn.execute(
        "DELETE FROM mesh_pair_requests WHERE request_id = ?1",
        params![request_id],
    )?;
    Ok(r)
}

/// Approves a request: the device is paired (replacing an older pairing of the same device) with
/// an un-issued token for its role. `Full` past `max_paired` devices (the request stays).
pub fn approve(
    db: &Db,
    request_id: &str,
    max_paired: usize,
    now: u64,
) -> Result<(Request, Device, Token), StoreError> {
    let r = take_request(db, request_id, now)?;
    let paired: i64 = db.conn.query_row(
        "SELECT COUNT(*) FROM mesh_devices WHERE device_id != ?1",
        params![r.device_id],
        |x| x.get(0),
    )?;
    if paired as usize >= max_paired {
        // The job fails, so its savepoint rolls back and the request is kept.
        return Err(StoreError::Full {
            what: "paired devices (limits.mesh_max_paired_devices)",
            cap: max_paired,
        });
    }
    let d = Device {
        device_id: r.device_id.clone(),
        public_key: r.public_key.clone(),
        role: r.role.clone(),
        scopes: r.scopes.clone(),
        label: r.display_name.clone(),
        platform: r.platform.clone(),
        client_id: r.client_id.clone(),
        remote_ip: r.remote_ip.clone(),
        paired_at: now,
    };
    db.conn.execute(
        &format!("INSERT OR REPLACE INTO mesh_devices ({DEV_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            d.device_id,
            d.public_key,
            d.role,
            scopes_text(&d.scopes),
            d.label,
            d.platform,
            d.client_id,
            d.remote_ip,
            now as i64
        ],
    )?;
    db.conn.execute(
        "DELETE FROM mesh_device_tokens WHERE device_id = ?1",
        params![d.device_id],
    )?;
    let t = Token {
        device_id: d.device_id.clone(),
        role: d.role.clone(),
        sha256: None,
        scopes: d.scopes.clone(),
        issued_at: None,
        revoked_at: None,
    };
    save_token(db, &t)?;
    Ok((r, d, t))
}

/// Rejects (deletes) a request.
pub fn reject(db: &Db, request_id: &str, now: u64) -> Result<Request, StoreError> {
    take_request(db, request_id, now)
}

/// Unpairs a device: its row and token rows go.
pub fn remove_device(db: &Db, device_id: &str) -> Result<Device, StoreError> {
    let d = db
        .conn
        .query_row(
            &format!("SELECT {DEV_COLUMNS} FROM mesh_devices WHERE device_id = ?1"),
            params![device_id],
            device_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound("unknown deviceId".into()))?;
    db.conn.execute(
        "DELETE FROM mesh_devices WHERE device_id = ?1",
        params![device_id],
    )?;
    db.conn.execute(
        "DELETE FROM mesh_device_tokens WHERE device_id = ?1",
        params![device_id],
    )?;
    Ok(d)
}

/// Sets a device's label.
pub fn rename_device(db: &Db, device_id: &str, label: &str) -> Result<(), StoreError> {
    let n = db.conn.execute(
        "UPDATE mesh_devices SET label = ?2 WHERE device_id = ?1",
        params![device_id, label],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("unknown deviceId".into()));
    }
    Ok(())
}

/// Writes a token row as given (issue, rotate, revoke).
pub fn save_token(db: &Db, t: &Token) -> Result<(), StoreError> {
    db.conn.execute(
        "INSERT OR REPLACE INTO mesh_device_tokens (device_id, role, token_sha256, scopes, issued_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.device_id,
            t.role,
            t.sha256,
            scopes_text(&t.scopes),
            t.issued_at.map(|v| v as i64),
            t.revoked_at.map(|v| v as i64)
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store() -> Store {
        let dir = std::env::temp_dir().join(format!("oce-pair-{}", crate::ids::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Store::open(&dir, &crate::config::Limits::default()).unwrap()
    }

    fn req(n: u32, now: u64) -> Request {
        Request {
            request_id: format!("r{n}"),
            device_id: format!("d{n}"),
            public_key: "k".into(),
            role: "node".into(),
            scopes: vec![],
            display_name: Some(format!("dev {n}")),
            platform: Some("linux".into()),
            client_id: Some("node-host".into()),
            client_mode: Some("node".into()),
            remote_ip: Some("127.0.0.1".into()),
            created_at: now,
            expires_at: now + 1000,
        }
    }

    #[test]
    fn requests_and_pairings_are_bounded_and_tokens_kept_as_hashes() {
        let s = store();
        smol::block_on(async {
            for n in 0..2 {
                s.write(move |db| insert_request(db, &req(n, 10), 2))
                    .await
                    .unwrap();
            }
            let full = s.write(|db| insert_request(db, &req(9, 10), 2)).await;
            assert_eq!(
                full,
                Err(StoreError::Full {
                    what: "pairing requests (limits.mesh_max_pair_requests)",
                    cap: 2
                })
            );
            // Expired requests make room.
            s.write(|db| insert_request(db, &req(9, 2000), 2))
                .await
                .unwrap();
            let st = s.read(|db| load(db, 2000)).await.unwrap();
            assert_eq!(st.requests.len(), 1);
            let (_, d, t) = s.write(|db| approve(db, "r9", 1, 2001)).await.unwrap();
            assert_eq!(d.device_id, "d9");
            assert_eq!(t.sha256, None, "not issued until the device connects");
            s.write(|db| insert_request(db, &req(5, 3000), 2))
                .await
                .unwrap();
            let full = s.write(|db| approve(db, "r5", 1, 3001)).await;
            assert_eq!(
                full,
                Err(StoreError::Full {
                    what: "paired devices (limits.mesh_max_paired_devices)",
                    cap: 1
                })
            );
            let st = s.read(|db| load(db, 3002)).await.unwrap();
            assert_eq!(
                (st.requests.len(), st.devices.len()),
                (1, 1),
                "the refused approval kept its request"
            );
            let issued = Token {
                sha256: Some("ab".repeat(32)),
                issued_at: Some(3003),
                ..t.clone()
            };
            s.write(move |db| save_token(db, &issued)).await.unwrap();
            let tokens = s.read(|db| load(db, 3004)).await.unwrap().tokens;
            assert_eq!(tokens[0].sha256.as_deref().map(str::len), Some(64));
            s.write(|db| remove_device(db, "d9")).await.unwrap();
            let st = s.read(|db| load(db, 3005)).await.unwrap();
            assert!(st.devices.is_empty() && st.tokens.is_empty());
            let e = s.write(|db| reject(db, "nope", 3006)).await.unwrap_err();
            assert_eq!(e, StoreError::NotFound("unknown requestId".into()));
        });
    }
}
