//! Memory tables: entries, their FTS5 index, concept nodes and edges, per-agent counters.
//!
//! All SQL of the memory subsystem; the pure parts (tokens, hashed vectors, concept rules,
//! fusion) are in `crate::memory`. Every function takes the store thread's `Db` and is meant
//! to run as one store job; each write opens its own savepoint, so it is atomic inside the
//! store's batch transaction and still atomic (one commit) when called on its own. `recall`
//! writes too (it stamps `last_recalled_at` on its hits), so it belongs in a write job.
//!
//! Bounds, per agent, enforced incrementally on each ingest (never by rewriting a table):
//! entries and text bytes (`MemLimits::max_entries`, `max_bytes`: the least recently recalled
//! entries go first, oldest first among equals, at most `EVICT_PER_INGEST` per ingest), concept
//! nodes and co-occurrence edges (`max_nodes`, `max_edges`: the weakest by decayed weight go, at
//! most `PRUNE_PER_INGEST` each per ingest, which is more than one ingest can add, so the
//! counts never drift above the bound for long). Mention edges are bounded by entries ×
//! `concepts::MAX_CONCEPTS` and leave with their entry or node. `memory_counters` holds one
//! row per agent with every count, kept in step by the same statements that change the rows.

mod search;
#[cfg(test)]
mod tests;

use rusqlite::{OptionalExtension, params};

#[cfg(test)]
pub(crate) use search::candidates;
pub use search::{fts_query, recall, recall_with};

use super::{Db, StoreError};
use crate::memory::concepts::{self, Kind};
use crate::memory::recall;
use crate::memory::{Entry, IngestOutcome, MemLimits, NewEntry, Stats, text, vector};

/// The memory tables (added to the store's migrations as one version).
///
/// Vectors sit in `memory_vectors`, one narrow row per entry (same id), not in
/// `memory_entries`: the vector scan then reads about half the pages (2.8 vs 5.2 ms per 20,000
/// rows, release build). `vec_model` says which model made a vector (`hash-v1` or an embedding
/// model id), so a model switch re-embeds lazily; `vec_norm` saves a dot product per row.
///
/// FTS5 choice: a contentless-delete table (`content=''`, `contentless_delete=1`, SQLite
/// 3.43+). The text is stored once, in `memory_entries`; the index holds only terms, and a row
/// is removed with a plain `DELETE … WHERE rowid = ?`. An external-content table would need the
/// old text replayed exactly on every delete (a mismatch silently corrupts the index) or
/// triggers that do so; we never read text back from the index, so contentless loses nothing.
/// `detail` stays `full`: on a contentless table `detail=column` or `none` make `bm25()` return
/// 0 for every row (measured: lexical-only recall@5 fell from 0.93 to 0.69 on the fixture,
/// ranking by rowid). Tokenizer: `porter` over `unicode61 remove_diacritics 2`, measured better
/// than plain `unicode61` (see the `memory` module doc).
///
/// Each entry with a session also mentions that session's node (`session:<key>`, kind
/// `Session`): provenance in the graph, bounded and pruned like concept nodes, never matched by
/// a query (its kind weight is 0).
///
/// Mention edges (`memory_mentions`) carry no weight of their own: at recall a mention counts
/// the node's kind weight times its specificity (rarer concepts count more), both computed from
/// the node's decayed weight, so they age with the node.
///
/// `memory_nodes.strength` and `memory_edges.strength` are `recall::strength(weight,
/// last_seen)`: ordering by it is ordering by decayed weight at any time, so pruning the
/// weakest is an index walk.
pub const SCHEMA: &str = "
CREATE TABLE memory_entries (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    session_key TEXT,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_recalled_at INTEGER NOT NULL,
    hash INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX memory_entries_evict ON memory_entries (agent_id, last_recalled_at, id);
CREATE INDEX memory_entries_session ON memory_entries (agent_id, session_key);
CREATE INDEX memory_entries_hash ON memory_entries (agent_id, hash);
CREATE TABLE memory_vectors (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    vec_model TEXT NOT NULL,
    vec_norm REAL NOT NULL,
    vec BLOB NOT NULL
);
CREATE INDEX memory_vectors_model ON memory_vectors (vec_model);
CREATE VIRTUAL TABLE memory_fts USING fts5(
    text, content='', contentless_delete=1,
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TABLE memory_nodes (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    kind INTEGER NOT NULL,
    weight REAL NOT NULL,
    last_seen INTEGER NOT NULL,
    strength REAL NOT NULL,
    UNIQUE (agent_id, key)
);
CREATE INDEX memory_nodes_weak ON memory_nodes (agent_id, strength);
CREATE TABLE memory_edges (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    weight REAL NOT NULL,
    last_seen INTEGER NOT NULL,
    strength REAL NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE INDEX memory_edges_b ON memory_edges (b);
CREATE INDEX memory_edges_weak ON memory_edges (agent_id, strength);
CREATE TABLE memory_mentions (
    entry_id INTEGER NOT NULL,
    node_id INTEGER NOT NULL,
    PRIMARY KEY (entry_id, node_id)
) WITHOUT ROWID;
CREATE INDEX memory_mentions_node ON memory_mentions (node_id, entry_id);
CREATE TABLE memory_counters (
    agent_id TEXT PRIMARY KEY,
    entries INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    nodes INTEGER NOT NULL DEFAULT 0,
    edges INTEGER NOT NULL DEFAULT 0,
    mentions INTEGER NOT NULL DEFAULT 0,
    last_eviction_at INTEGER,
    evicted_total INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
";

/// Most entries one ingest evicts (it adds one, so a shrunk limit is reached within a few).
pub const EVICT_PER_INGEST: usize = 8;
/// Most nodes, and most edges, one ingest prunes (an ingest adds at most
/// `concepts::MAX_CONCEPTS` nodes and 15 edges).
pub const PRUNE_PER_INGEST: usize = 32;
/// Most distinct query terms put into the FTS5 query.
pub const MAX_QUERY_TERMS: usize = 16;
/// Lowest cosine for a vector candidate: below it an entry shares little more than hash noise
/// with the query, and letting it in would give unrelated text a rank.
pub const VEC_FLOOR: f32 = 0.1;
/// Longest embedding accepted by `set_embedding`, in dimensions (bytes).
pub const MAX_EMBEDDING_DIMS: usize = 4096;
/// BM25 rows fetched per wanted candidate before filtering by agent (see `lexical`).
pub const LEXICAL_OVERFETCH: usize = 4;
/// Query terms at least this long also match as a prefix (`"sukho"*` finds "Sukhothai").
pub const PREFIX_MIN_CHARS: usize = 5;

/// Runs `f` inside a savepoint: all of it or none of it.
fn atomic<T>(db: &Db, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    db.conn.execute_batch("SAVEPOINT memory")?;
    match f() {
        Ok(v) => {
            db.conn.execute_batch("RELEASE memory")?;
            Ok(v)
        }
        Err(e) => {
            let _ = db.conn.execute_batch("ROLLBACK TO memory; RELEASE memory");
            Err(e)
        }
    }
}

/// Counter changes gathered during one write and applied in one statement.
#[derive(Default)]
struct Delta {
    entries: i64,
    bytes: i64,
    nodes: i64,
    edges: i64,
    mentions: i64,
    evicted: i64,
}

fn apply(db: &Db, agent: &str, d: &Delta, now: u64) -> Result<(), StoreError> {
    db.conn
        .prepare_cached("INSERT OR IGNORE INTO memory_counters (agent_id) VALUES (?1)")?
        .execute([agent])?;
    db.conn
        .prepare_cached(
            "UPDATE memory_counters SET entries = entries + ?2, bytes = bytes + ?3, \
             nodes = nodes + ?4, edges = edges + ?5, mentions = mentions + ?6, \
             evicted_total = evicted_total + ?7, \
             last_eviction_at = CASE WHEN ?7 > 0 THEN ?8 ELSE last_eviction_at END \
             WHERE agent_id = ?1",
        )?
        .execute(params![
            agent, d.entries, d.bytes, d.nodes, d.edges, d.mentions, d.evicted, now as i64
        ])?;
    Ok(())
}

/// The agent's counters (zeros when it has no memory yet).
pub fn stats(db: &Db, agent: &str) -> Result<Stats, StoreError> {
    let s = db
        .conn
        .prepare_cached(
            "SELECT entries, bytes, nodes, edges, mentions, last_eviction_at, evicted_total \
             FROM memory_counters WHERE agent_id = ?1",
        )?
        .query_row([agent], |r| {
            Ok(Stats {
                entries: r.get::<_, i64>(0)? as u64,
                bytes: r.get::<_, i64>(1)? as u64,
                nodes: r.get::<_, i64>(2)? as u64,
                edges: r.get::<_, i64>(3)? as u64,
                mentions: r.get::<_, i64>(4)? as u64,
                last_eviction_at: r.get::<_, Option<i64>>(5)?.map(|t| t as u64),
                evicted_total: r.get::<_, i64>(6)? as u64,
            })
        })
        .optional()?;
    Ok(s.unwrap_or_default())
}

fn cut_at(s: &str, max: usize) -> &str {
    crate::defender::reason::clip(s, max).0
}

/// Identity of a text for de-duplication: the hash of its normalised tokens, so case and
/// punctuation differences are the same entry.
fn text_hash(t: &str) -> i64 {
    let mut h = vector::fnv1a_seed();
    let mut any = false;
    text::for_each_token(t, |tok| {
        h = vector::fnv1a(h, tok.as_bytes());
        h = vector::fnv1a(h, b" ");
        any = true;
    });
    if !any {
        h = vector::fnv1a(h, t.as_bytes());
    }
    h as i64
}

/// Stores an entry (or touches an identical one), links its concepts, then evicts and prunes
/// a bounded number of rows if the agent is over a limit.
pub fn ingest(
    db: &Db,
    e: &NewEntry,
    limits: &MemLimits,
    now: u64,
) -> Result<IngestOutcome, StoreError> {
    let body = cut_at(e.text.trim(), limits.max_entry_bytes);
    if body.is_empty() {
        return Err(StoreError::Conflict("memory entry is empty".into()));
    }
    let truncated = body.len() < e.text.trim().len();
    let agent = e.agent_id.as_str();
    let hash = text_hash(body);
    atomic(db, || {
        let mut d = Delta::default();
        let existing: Option<i64> = db
            .conn
            .prepare_cached(
                "SELECT id FROM memory_entries WHERE agent_id = ?1 AND hash = ?2 LIMIT 1",
            )?
            .query_row(params![agent, hash], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            db.conn
                .prepare_cached(
                    "UPDATE memory_entries SET last_recalled_at = max(last_recalled_at, ?2) WHERE id = ?1",
                )?
                .execute(params![id, now as i64])?;
            return Ok(IngestOutcome {
                id,
                duplicate: true,
                truncated,
                evicted: 0,
                pruned_nodes: 0,
                pruned_edges: 0,
            });
        }
        let created = e.created_at.unwrap_or(now) as i64;
        let vec = vector::embed(body);
        db.conn
            .prepare_cached(
                "INSERT INTO memory_entries (agent_id, session_key, source, created_at, \
                 last_recalled_at, hash, bytes, text) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                agent,
                e.session_key,
                e.source.as_str(),
                created,
                hash,
                body.len() as i64,
                body
            ])?;
        let id = db.conn.last_insert_rowid();
        db.conn
            .prepare_cached(
                "INSERT INTO memory_vectors (id, agent_id, created_at, vec_model, vec_norm, vec) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id,
                agent,
                created,
                vector::MODEL,
                f64::from(vector::norm(&vec)),
                vector::to_bytes(&vec)
            ])?;
        db.conn
            .prepare_cached("INSERT INTO memory_fts (rowid, text) VALUES (?1, ?2)")?
            .execute(params![id, body])?;
        d.entries += 1;
        d.bytes += body.len() as i64;
        link_concepts(db, agent, id, body, now, &mut d)?;
        if let Some(k) = &e.session_key {
            link_session(db, agent, id, k, now, &mut d)?;
        }
        let evicted = evict(db, agent, id, limits, &mut d)?;
        apply(db, agent, &d, now)?;
        let pruned_nodes = prune_nodes(db, agent, limits.max_nodes, now)?;
        let pruned_edges = prune_edges(db, agent, limits.max_edges, now)?;
        Ok(IngestOutcome {
            id,
            duplicate: false,
            truncated,
            evicted,
            pruned_nodes,
            pruned_edges,
        })
    })
}

/// Upserts a node's decayed weight (+1); returns its id.
fn touch_node(
    db: &Db,
    agent: &str,
    key: &str,
    kind: Kind,
    now: u64,
    d: &mut Delta,
) -> Result<i64, StoreError> {
    let found: Option<(i64, f64, i64)> = db
        .conn
        .prepare_cached(
            "SELECT id, weight, last_seen FROM memory_nodes WHERE agent_id = ?1 AND key = ?2",
        )?
        .query_row(params![agent, key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (w, id) = match found {
        Some((id, w, seen)) => (recall::decayed(w, seen as u64, now) + 1.0, Some(id)),
        None => (1.0, None),
    };
    let strength = recall::strength(w, now);
    match id {
        Some(id) => {
            db.conn
                .prepare_cached(
                    "UPDATE memory_nodes SET weight = ?2, last_seen = ?3, strength = ?4 WHERE id = ?1",
                )?
                .execute(params![id, w, now as i64, strength])?;
            Ok(id)
        }
        None => {
            db.conn
                .prepare_cached(
                    "INSERT INTO memory_nodes (agent_id, key, kind, weight, last_seen, strength) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![agent, key, kind.code(), w, now as i64, strength])?;
            d.nodes += 1;
            Ok(db.conn.last_insert_rowid())
        }
    }
}

fn touch_edge(
    db: &Db,
    agent: &str,
    a: i64,
    b: i64,
    now: u64,
    d: &mut Delta,
) -> Result<(), StoreError> {
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    let found: Option<(f64, i64)> = db
        .conn
        .prepare_cached("SELECT weight, last_seen FROM memory_edges WHERE a = ?1 AND b = ?2")?
        .query_row(params![a, b], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let w = found.map_or(1.0, |(w, seen)| recall::decayed(w, seen as u64, now) + 1.0);
    let strength = recall::strength(w, now);
    db.conn
        .prepare_cached(
            "INSERT INTO memory_edges (a, b, agent_id, weight, last_seen, strength) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (a, b) DO UPDATE SET \
             weight = excluded.weight, last_seen = excluded.last_seen, strength = excluded.strength",
        )?
        .execute(params![a, b, agent, w, now as i64, strength])?;
    if found.is_none() {
        d.edges += 1;
    }
    Ok(())
}

fn link_concepts(
    db: &Db,
    agent: &str,
    entry: i64,
    body: &str,
    now: u64,
    d: &mut Delta,
) -> Result<(), StoreError> {
    let found = concepts::extract(body);
    let mut edge_nodes: Vec<i64> = Vec::with_capacity(concepts::MAX_EDGE_CONCEPTS);
    for c in &found {
        let node = touch_node(db, agent, &c.key, c.kind, now, d)?;
        let n = db
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO memory_mentions (entry_id, node_id) VALUES (?1, ?2)",
            )?
            .execute(params![entry, node])?;
        d.mentions += n as i64;
        if c.kind != Kind::NamePart && edge_nodes.len() < concepts::MAX_EDGE_CONCEPTS {
            edge_nodes.push(node);
        }
    }
    for (i, a) in edge_nodes.iter().enumerate() {
        for b in &edge_nodes[i + 1..] {
            touch_edge(db, agent, *a, *b, now, d)?;
        }
    }
    Ok(())
}

/// The entry's session node (`session:<key>`, kind `Session`) and its mention row.
fn link_session(
    db: &Db,
    agent: &str,
    entry: i64,
    session_key: &str,
    now: u64,
    d: &mut Delta,
) -> Result<(), StoreError> {
    let key = format!("session:{}", cut_at(session_key, 200));
    let node = touch_node(db, agent, &key, Kind::Session, now, d)?;
    d.mentions += db
        .conn
        .prepare_cached(
            "INSERT OR IGNORE INTO memory_mentions (entry_id, node_id) VALUES (?1, ?2)",
        )?
        .execute(params![entry, node])? as i64;
    Ok(())
}

/// Deletes one entry with its index row and mentions; counts go into `d`.
fn delete_entry(db: &Db, id: i64, bytes: i64, d: &mut Delta) -> Result<(), StoreError> {
    let m = db
        .conn
        .prepare_cached("DELETE FROM memory_mentions WHERE entry_id = ?1")?
        .execute([id])?;
    db.conn
        .prepare_cached("DELETE FROM memory_fts WHERE rowid = ?1")?
        .execute([id])?;
    db.conn
        .prepare_cached("DELETE FROM memory_vectors WHERE id = ?1")?
        .execute([id])?;
    let n = db
        .conn
        .prepare_cached("DELETE FROM memory_entries WHERE id = ?1")?
        .execute([id])?;
    d.mentions -= m as i64;
    d.entries -= n as i64;
    d.bytes -= if n > 0 { bytes } else { 0 };
    Ok(())
}

/// Evicts least recently recalled entries (oldest first among equals, never `keep`) while the
/// agent is over a limit, at most `EVICT_PER_INGEST`.
fn evict(
    db: &Db,
    agent: &str,
    keep: i64,
    limits: &MemLimits,
    d: &mut Delta,
) -> Result<usize, StoreError> {
    let now_stats = stats(db, agent)?;
    let mut entries = now_stats.entries as i64 + d.entries;
    let mut bytes = now_stats.bytes as i64 + d.bytes;
    let over = |e: i64, b: i64| e > limits.max_entries as i64 || b > limits.max_bytes as i64;
    if !over(entries, bytes) {
        return Ok(0);
    }
    let victims: Vec<(i64, i64)> = db
        .conn
        .prepare_cached(
            "SELECT id, bytes FROM memory_entries WHERE agent_id = ?1 AND id != ?2 \
             ORDER BY last_recalled_at, id LIMIT ?3",
        )?
        .query_map(params![agent, keep, EVICT_PER_INGEST as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for (id, b) in victims {
        if !over(entries, bytes) {
            break;
        }
        delete_entry(db, id, b, d)?;
        entries -= 1;
        bytes -= b;
        n += 1;
    }
    d.evicted += n as i64;
    Ok(n)
}

fn prune_nodes(db: &Db, agent: &str, max: usize, now: u64) -> Result<usize, StoreError> {
    let over = stats(db, agent)?.nodes as i64 - max as i64;
    if over <= 0 {
        return Ok(0);
    }
    let ids: Vec<i64> = db
        .conn
        .prepare_cached(
            "SELECT id FROM memory_nodes WHERE agent_id = ?1 ORDER BY strength LIMIT ?2",
        )?
        .query_map(params![agent, over.min(PRUNE_PER_INGEST as i64)], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    let mut d = Delta::default();
    for id in &ids {
        d.mentions -= db
            .conn
            .prepare_cached("DELETE FROM memory_mentions WHERE node_id = ?1")?
            .execute([id])? as i64;
        d.edges -= db
            .conn
            .prepare_cached("DELETE FROM memory_edges WHERE a = ?1 OR b = ?1")?
            .execute([id])? as i64;
        d.nodes -= db
            .conn
            .prepare_cached("DELETE FROM memory_nodes WHERE id = ?1")?
            .execute([id])? as i64;
    }
    apply(db, agent, &d, now)?;
    Ok(ids.len())
}

fn prune_edges(db: &Db, agent: &str, max: usize, now: u64) -> Result<usize, StoreError> {
    let over = stats(db, agent)?.edges as i64 - max as i64;
    if over <= 0 {
        return Ok(0);
    }
    let n = db
        .conn
        .prepare_cached(
            "DELETE FROM memory_edges WHERE (a, b) IN (SELECT a, b FROM memory_edges \
             WHERE agent_id = ?1 ORDER BY strength LIMIT ?2)",
        )?
        .execute(params![agent, over.min(PRUNE_PER_INGEST as i64)])?;
    let d = Delta {
        edges: -(n as i64),
        ..Delta::default()
    };
    apply(db, agent, &d, now)?;
    Ok(n)
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        session_key: r.get(1)?,
        source: r.get(2)?,
        created_at: r.get::<_, i64>(3)? as u64,
        last_recalled_at: r.get::<_, i64>(4)? as u64,
        text: r.get(5)?,
        vec_model: r.get(6)?,
    })
}

/// The agent's entries, newest first, `limit` at most, with ids below `before_id` (paging).
pub fn list(
    db: &Db,
    agent: &str,
    limit: usize,
    before_id: Option<i64>,
) -> Result<Vec<Entry>, StoreError> {
    let mut st = db.conn.prepare_cached(
        "SELECT e.id, e.session_key, e.source, e.created_at, e.last_recalled_at, e.text, \
         v.vec_model FROM memory_entries e JOIN memory_vectors v ON v.id = e.id \
         WHERE e.agent_id = ?1 AND e.id < ?2 ORDER BY e.id DESC LIMIT ?3",
    )?;
    let rows = st.query_map(
        params![agent, before_id.unwrap_or(i64::MAX), limit as i64],
        entry_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One export page: the agent's entries with ids above `after_id`, oldest first (call again
/// with the last id until a page comes back empty; each page is its own short read).
pub fn export(db: &Db, agent: &str, after_id: i64, limit: usize) -> Result<Vec<Entry>, StoreError> {
    let mut st = db.conn.prepare_cached(
        "SELECT e.id, e.session_key, e.source, e.created_at, e.last_recalled_at, e.text, \
         v.vec_model FROM memory_entries e JOIN memory_vectors v ON v.id = e.id \
         WHERE e.agent_id = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3",
    )?;
    let rows = st.query_map(params![agent, after_id, limit as i64], entry_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes one entry of `agent` (with its index row and mentions); `false` if there is none.
pub fn forget(db: &Db, agent: &str, id: i64) -> Result<bool, StoreError> {
    atomic(db, || {
        let bytes: Option<i64> = db
            .conn
            .prepare_cached("SELECT bytes FROM memory_entries WHERE id = ?1 AND agent_id = ?2")?
            .query_row(params![id, agent], |r| r.get(0))
            .optional()?;
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        let mut d = Delta::default();
        delete_entry(db, id, bytes, &mut d)?;
        apply(db, agent, &d, 0)?;
        Ok(true)
    })
}

/// Deletes every entry of one session of `agent`; returns how many.
pub fn forget_session(db: &Db, agent: &str, session_key: &str) -> Result<usize, StoreError> {
    atomic(db, || {
        let victims: Vec<(i64, i64)> = db
            .conn
            .prepare_cached(
                "SELECT id, bytes FROM memory_entries WHERE agent_id = ?1 AND session_key = ?2",
            )?
            .query_map(params![agent, session_key], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut d = Delta::default();
        for (id, bytes) in &victims {
            delete_entry(db, *id, *bytes, &mut d)?;
        }
        apply(db, agent, &d, 0)?;
        Ok(victims.len())
    })
}

/// Replaces an entry's vector with one from embedding `model`; `false` if the entry is gone.
pub fn set_embedding(db: &Db, id: i64, model: &str, vec: &[i8]) -> Result<bool, StoreError> {
    if vec.is_empty() || vec.len() > MAX_EMBEDDING_DIMS {
        return Err(StoreError::Conflict(format!(
            "embedding has {} dimensions, expected 1..={MAX_EMBEDDING_DIMS}",
            vec.len()
        )));
    }
    let n = db
        .conn
        .prepare_cached(
            "UPDATE memory_vectors SET vec = ?2, vec_model = ?3, vec_norm = ?4 WHERE id = ?1",
        )?
        .execute(params![
            id,
            vector::to_bytes(vec),
            model,
            f64::from(vector::norm(vec))
        ])?;
    Ok(n == 1)
}

/// Up to `batch` entries (any agent) whose vector is not from `model`: `(id, text)` to embed.
pub fn needs_embedding(
    db: &Db,
    model: &str,
    batch: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut st = db.conn.prepare_cached(
        "SELECT v.id, e.text FROM memory_vectors v JOIN memory_entries e ON e.id = v.id \
         WHERE v.vec_model < ?1 OR v.vec_model > ?1 LIMIT ?2",
    )?;
    let rows = st.query_map(params![model, batch as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many stored vectors (any agent) are not from `model`: two range walks of the
/// `vec_model` index, not a table scan.
pub fn vectors_not_from(db: &Db, model: &str) -> Result<u64, StoreError> {
    let n: i64 = db
        .conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM memory_vectors WHERE vec_model < ?1) + \
             (SELECT count(*) FROM memory_vectors WHERE vec_model > ?1)",
        )?
        .query_row([model], |r| r.get(0))?;
    Ok(n as u64)
}
