//! Mesh state in the store: nodes the operator named or paired (`mesh_nodes`).
//!
//! Only nodes with an operator action behind them are stored: a rename (`node.rename`) or a
//! pairing approval creates the row, removing the pairing deletes it, and connects/disconnects
//! of a stored node update `last_seen_at`. Connected-only nodes are never written, so a stream
//! of short-lived nodes costs no disk. Rows are bounded by the registry (`limits.mesh_max_nodes`):
//! `load_nodes` reads at most that many, newest first, and callers only create rows for nodes
//! the registry already tracks. Pairing and device tokens: `store::mesh_pairing`.

use rusqlite::params;

use super::{Db, StoreError};
use crate::mesh::nodes::Known;

/// Up to `cap` stored nodes, most recently seen first, with whether a paired node device backs
/// each one.
pub fn load_nodes(db: &Db, cap: usize) -> Result<Vec<Known>, StoreError> {
    let mut st = db.conn.prepare(
        "SELECT n.node_id, n.display_name, n.platform, n.last_seen_at,
                EXISTS (SELECT 1 FROM mesh_devices d WHERE d.device_id = n.node_id AND d.role = 'node')
         FROM mesh_nodes n ORDER BY n.last_seen_at DESC LIMIT ?1",
    )?;
    let rows = st.query_map(params![cap as i64], |r| {
        Ok(Known {
            node_id: r.get(0)?,
            display_name: r.get(1)?,
            platform: r.get(2)?,
            last_seen_ms: r.get::<_, i64>(3)? as u64,
            paired: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Creates or updates a node row; `display_name: Some(..)` sets the operator's name (`None`
/// keeps the stored one).
pub fn save_node(
    db: &Db,
    node_id: &str,
    display_name: Option<&str>,
    platform: Option<&str>,
    now: u64,
) -> Result<(), StoreError> {
    db.conn.execute(
        "INSERT INTO mesh_nodes (node_id, display_name, platform, first_seen_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (node_id) DO UPDATE SET
            display_name = COALESCE(?2, display_name),
            platform = COALESCE(?3, platform),
            last_seen_at = ?4",
        params![node_id, display_name, platform, now as i64],
    )?;
    Ok(())
}

/// Stamps a stored node's `last_seen_at` (no row is created).
pub fn touch_node(db: &Db, node_id: &str, now: u64) -> Result<(), StoreError> {
    db.conn.execute(
        "UPDATE mesh_nodes SET last_seen_at = ?2 WHERE node_id = ?1",
        params![node_id, now as i64],
    )?;
    Ok(())
}

/// Deletes a node row; `true` if there was one.
pub fn delete_node(db: &Db, node_id: &str) -> Result<bool, StoreError> {
    let n = db.conn.execute(
        "DELETE FROM mesh_nodes WHERE node_id = ?1",
        params![node_id],
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store() -> Store {
        let dir = std::env::temp_dir().join(format!("oce-mesh-{}", crate::ids::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Store::open(&dir, &crate::config::Limits::default()).unwrap()
    }

    #[test]
    fn names_survive_and_loads_are_bounded() {
        let s = store();
        smol::block_on(async {
            s.write(|db| {
                for i in 0..5u64 {
                    save_node(db, &format!("n{i}"), None, Some("linux"), 100 + i)?;
                }
                save_node(db, "n1", Some("kitchen"), None, 200)?;
                save_node(db, "n1", None, Some("linux"), 201)?;
                touch_node(db, "nope", 300)
            })
            .await
            .unwrap();
            let rows = s.read(|db| load_nodes(db, 3)).await.unwrap();
            assert_eq!(rows.len(), 3, "bounded by the cap");
            assert_eq!(rows[0].node_id, "n1", "newest first");
            assert_eq!(rows[0].display_name.as_deref(), Some("kitchen"), "kept");
            assert_eq!(rows[0].last_seen_ms, 201);
            assert!(!rows[0].paired);
            assert!(s.write(|db| delete_node(db, "n1")).await.unwrap());
            assert!(!s.write(|db| delete_node(db, "n1")).await.unwrap());
        });
    }
}
