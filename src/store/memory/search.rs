//! Memory recall over the tables: BM25, vector and graph candidates, fused and stamped.
//!
//! The read side of `store::memory`: `fts_query` turns any text into a safe FTS5 query,
//! `candidates` gathers each signal's ranked list, and `recall`/`recall_with` fuse them with
//! `memory::recall::fuse` and stamp `last_recalled_at` on the hits (so recall is a write job).
//! Per query it reads at most `candidates` rows per list, one pass over the agent's vectors and
//! a bounded number of graph rows (`memory::recall::GRAPH_*`).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{
    Db, LEXICAL_OVERFETCH, MAX_QUERY_TERMS, PREFIX_MIN_CHARS, StoreError, VEC_FLOOR, atomic,
};
use crate::memory::concepts::{self, Kind};
use crate::memory::recall::{self, Candidate};
use crate::memory::{Hit, RecallOpts, WEIGHTS, text, vector};

/// The FTS5 query for `query`: its distinct content tokens, each a quoted string (so no input
/// is ever FTS syntax: `NEAR(`, `*`, `-`, `:`, `^`, `AND`… are plain words or dropped), joined
/// with `OR`; tokens of `PREFIX_MIN_CHARS`+ characters also match as a prefix. `None` when the
/// query has no content word.
pub fn fts_query(query: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    for t in text::content_tokens(query) {
        if terms.len() < MAX_QUERY_TERMS && !terms.contains(&t) {
            terms.push(t);
        }
    }
    if terms.is_empty() {
        return None;
    }
    let parts: Vec<String> = terms
        .iter()
        .map(|t| {
            let quoted = format!("\"{}\"", t.replace('"', "\"\""));
            if t.chars().count() >= PREFIX_MIN_CHARS {
                format!("{quoted}*")
            } else {
                quoted
            }
        })
        .collect();
    Some(parts.join(" OR "))
}

/// BM25 candidates: `(id, created_at)` best first.
///
/// Fast path: rank in the FTS5 table alone (`ORDER BY rank`, over-fetching `LEXICAL_OVERFETCH`
/// times the limit) and keep this agent's rows; joining every match to `memory_entries` first
/// measured about 1.4× slower, because each match costs a row lookup before the sort. When other
/// agents' rows crowd the over-fetch out, the exact join runs instead.
fn lexical(db: &Db, agent: &str, query: &str, limit: usize) -> Result<Vec<(i64, u64)>, StoreError> {
    let Some(q) = fts_query(query) else {
        return Ok(Vec::new());
    };
    let over = limit * LEXICAL_OVERFETCH;
    let ids: Vec<i64> = db
        .conn
        .prepare_cached(
            "SELECT rowid FROM memory_fts WHERE memory_fts MATCH ?1 ORDER BY rank LIMIT ?2",
        )?
        .query_map(params![q, over as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut owner = db
        .conn
        .prepare_cached("SELECT agent_id = ?2, created_at FROM memory_entries WHERE id = ?1")?;
    let mut out = Vec::with_capacity(limit);
    for id in &ids {
        let row: Option<(bool, i64)> = owner
            .query_row(params![id, agent], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((true, t)) = row {
            out.push((*id, t as u64));
            if out.len() == limit {
                return Ok(out);
            }
        }
    }
    if ids.len() < over {
        return Ok(out);
    }
    let mut st = db.conn.prepare_cached(
        "SELECT e.id, e.created_at FROM memory_fts f JOIN memory_entries e ON e.id = f.rowid \
         WHERE memory_fts MATCH ?1 AND e.agent_id = ?2 ORDER BY bm25(memory_fts) LIMIT ?3",
    )?;
    let rows = st.query_map(params![q, agent, limit as i64], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Vector candidates: one pass over the agent's vectors, keeping the best `limit` by cosine
/// (≥ `VEC_FLOOR`) as `(id, created_at, cosine)`. Entries embedded by another model than the
/// query's are skipped.
fn vector_scan(
    db: &Db,
    agent: &str,
    query: &str,
    query_vec: Option<(&str, &[i8])>,
    limit: usize,
) -> Result<Vec<(i64, u64, f32)>, StoreError> {
    let hashed = vector::embed(query);
    let hashed_ok = hashed.iter().any(|x| *x != 0);
    if !hashed_ok && query_vec.is_none() {
        return Ok(Vec::new());
    }
    let hq = vector::norm(&hashed);
    let (model, qv) = query_vec.unwrap_or(("", &[]));
    let mq = vector::norm(qv);
    // Best `limit` as (cosine, id, created_at), kept sorted descending.
    let mut best: Vec<(f32, i64, u64)> = Vec::with_capacity(limit + 1);
    // Vectors live in their own narrow table so this pass reads about half the pages it would
    // read from `memory_entries` (measured: 2.8 vs 5.2 ms for 20,000 rows). `+agent_id`: scan
    // in rowid order instead of walking an index and fetching each row by id (one agent owns
    // nearly all rows on a personal box). The stored norm saves a second dot product per row.
    let mut st = db.conn.prepare_cached(
        "SELECT id, created_at, vec_model, vec_norm, vec FROM memory_vectors WHERE +agent_id = ?1",
    )?;
    let mut rows = st.query([agent])?;
    while let Some(r) = rows.next()? {
        let m = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
        let (q, qn) = if m == vector::MODEL && hashed_ok {
            (&hashed[..], hq)
        } else if !model.is_empty() && m == model {
            (qv, mq)
        } else {
            continue;
        };
        let vn = r.get::<_, f64>(3)? as f32;
        let v = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
        if vn == 0.0 || qn == 0.0 || v.len() != q.len() {
            continue;
        }
        let cos = vector::dot_bytes(q, v) as f32 / (qn * vn);
        if cos < VEC_FLOOR || (best.len() == limit && cos <= best[limit - 1].0) {
            continue;
        }
        let id: i64 = r.get(0)?;
        let created = r.get::<_, i64>(1)? as u64;
        let pos = best.partition_point(|b| b.0 >= cos);
        best.insert(pos, (cos, id, created));
        best.truncate(limit);
    }
    Ok(best.into_iter().map(|(c, id, t)| (id, t, c)).collect())
}

/// Graph candidates: entries mentioning the query's concepts, plus (weaker) entries mentioning
/// concepts strongly tied to them by co-occurrence. `(id, created_at)` best first.
fn graph(
    db: &Db,
    agent: &str,
    query: &str,
    limit: usize,
    now: u64,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let keys = concepts::query_keys(query);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut node_st = db.conn.prepare_cached(
        "SELECT id, kind, weight, last_seen FROM memory_nodes WHERE agent_id = ?1 AND key = ?2",
    )?;
    let mut nodes: Vec<(i64, f64, f64)> = Vec::new(); // (id, decayed weight, specificity × kind)
    for k in &keys {
        let n: Option<(i64, i64, f64, i64)> = node_st
            .query_row(params![agent, k], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        if let Some((id, kind, w, seen)) = n {
            let dw = recall::decayed(w, seen as u64, now);
            if !nodes.iter().any(|x| x.0 == id) {
                nodes.push((
                    id,
                    dw,
                    recall::specificity(dw) * Kind::from_code(kind).weight(),
                ));
            }
        }
    }
    drop(node_st);
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let mut scores: HashMap<i64, f64> = HashMap::new();
    let mut mention_st = db.conn.prepare_cached(
        "SELECT entry_id FROM memory_mentions WHERE node_id = ?1 ORDER BY entry_id DESC LIMIT ?2",
    )?;
    let mut add_mentions = |node: i64,
                            score: f64,
                            cap: usize,
                            scores: &mut HashMap<i64, f64>|
     -> Result<(), StoreError> {
        let ids = mention_st.query_map(params![node, cap as i64], |r| r.get::<_, i64>(0))?;
        for id in ids {
            *scores.entry(id?).or_default() += score;
        }
        Ok(())
    };
    let mut edge_st = db.conn.prepare_cached(
        "SELECT e.b, e.weight, e.last_seen, n.kind, n.weight, n.last_seen FROM memory_edges e \
         JOIN memory_nodes n ON n.id = e.b WHERE e.a = ?1 \
         UNION ALL SELECT e.a, e.weight, e.last_seen, n.kind, n.weight, n.last_seen \
         FROM memory_edges e JOIN memory_nodes n ON n.id = e.a WHERE e.b = ?1",
    )?;
    for &(id, dw, spec) in &nodes {
        add_mentions(id, spec, recall::GRAPH_MENTIONS_PER_NODE, &mut scores)?;
        let mut near: Vec<(i64, f64, f64)> = Vec::new(); // (node, share, its specificity)
        let rows = edge_st.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        for row in rows {
            let (other, ew, eseen, kind, nw, nseen) = row?;
            if nodes.iter().any(|n| n.0 == other) {
                continue;
            }
            let share = recall::decayed(ew, eseen as u64, now) / dw.max(1e-9);
            if share >= recall::GRAPH_STRONG_EDGE {
                let s = recall::specificity(recall::decayed(nw, nseen as u64, now))
                    * Kind::from_code(kind).weight();
                near.push((other, share.min(1.0), s));
            }
        }
        near.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)));
        near.truncate(recall::GRAPH_NEIGHBOURS);
        for (other, share, s) in near {
            add_mentions(
                other,
                recall::GRAPH_EXPAND * share * s,
                recall::GRAPH_MENTIONS_PER_NODE / 4,
                &mut scores,
            )?;
        }
    }
    let ranked = recall::ranks(scores.into_iter().collect(), limit);
    let mut created_st = db
        .conn
        .prepare_cached("SELECT created_at FROM memory_entries WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ranked.len());
    for (id, _) in ranked {
        if let Some(t) = created_st
            .query_row([id], |r| r.get::<_, i64>(0))
            .optional()?
        {
            out.push((id, t as u64));
        }
    }
    Ok(out)
}

/// Each signal's candidates, merged: one `Candidate` per entry with its rank in every list
/// (`limit` per list). The fusion input of `recall_with`, also used by the quality test.
pub(crate) fn candidates(
    db: &Db,
    agent: &str,
    query: &str,
    query_vec: Option<(&str, &[i8])>,
    limit: usize,
    now: u64,
) -> Result<Vec<Candidate>, StoreError> {
    let vectors = vector_scan(db, agent, query, query_vec, limit)?;
    let lists = [
        lexical(db, agent, query, limit)?,
        vectors.iter().map(|v| (v.0, v.1)).collect(),
        graph(db, agent, query, limit, now)?,
    ];
    let mut cands: Vec<Candidate> = Vec::new();
    let mut slot: HashMap<i64, usize> = HashMap::new();
    for (li, list) in lists.iter().enumerate() {
        for (i, &(id, created_at)) in list.iter().enumerate() {
            let at = *slot.entry(id).or_insert_with(|| {
                cands.push(Candidate {
                    id,
                    lexical: None,
                    vector: None,
                    cosine: 0.0,
                    graph: None,
                    created_at,
                });
                cands.len() - 1
            });
            let rank = Some(i as u32 + 1);
            match li {
                0 => cands[at].lexical = rank,
                1 => {
                    cands[at].vector = rank;
                    cands[at].cosine = vectors[i].2;
                }
                _ => cands[at].graph = rank,
            }
        }
    }
    Ok(cands)
}

/// Hybrid recall with the hashed query vector only; see `recall_with`.
pub fn recall(
    db: &Db,
    agent: &str,
    query: &str,
    opts: &RecallOpts,
    now: u64,
) -> Result<Vec<Hit>, StoreError> {
    recall_with(db, agent, query, None, opts, now)
}

/// Hybrid recall: BM25, vector and graph candidates fused (see `memory::recall`); stamps
/// `last_recalled_at = now` on the hits it returns. `query_vec` is the query embedded by a
/// real model (`(model id, quantised vector)`): entries already re-embedded by that model are
/// compared with it, the rest with the hashed vector, so recall keeps working while a model
/// switch re-embeds lazily.
pub fn recall_with(
    db: &Db,
    agent: &str,
    query: &str,
    query_vec: Option<(&str, &[i8])>,
    opts: &RecallOpts,
    now: u64,
) -> Result<Vec<Hit>, StoreError> {
    if opts.top_k == 0 || opts.candidates == 0 {
        return Ok(Vec::new());
    }
    let cands = candidates(db, agent, query, query_vec, opts.candidates, now)?;
    let fused = recall::fuse(&cands, &WEIGHTS, opts.top_k, opts.min_score);
    if fused.is_empty() {
        return Ok(Vec::new());
    }
    let slot: HashMap<i64, usize> = cands.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    atomic(db, || {
        let mut get = db.conn.prepare_cached(
            "SELECT session_key, source, created_at, text FROM memory_entries WHERE id = ?1",
        )?;
        let mut touch = db
            .conn
            .prepare_cached("UPDATE memory_entries SET last_recalled_at = ?2 WHERE id = ?1")?;
        let mut hits = Vec::with_capacity(fused.len());
        for s in fused {
            let c = &cands[slot[&s.id]];
            let row = get
                .query_row([s.id], |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .optional()?;
            let Some((session_key, source, created_at, text)) = row else {
                continue;
            };
            touch.execute(params![s.id, now as i64])?;
            hits.push(Hit {
                id: s.id,
                session_key,
                source,
                created_at: created_at as u64,
                text,
                score: s.score,
                lexical_rank: c.lexical,
                vector_rank: c.vector,
                graph_rank: c.graph,
            });
        }
        Ok(hits)
    })
}
