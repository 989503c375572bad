//! Memory methods: `doctor.memory.status` (upstream name), `memory.search` (upstream name) and
//! the edge extensions `memory.list`, `memory.forget` and `memory.import` behind the
//! `openclaw-edge memory …` commands.
//!
//! Everything goes through `store::memory` on the store thread. Status reads the per-agent
//! counters row (no table scan); search is the same hybrid recall a chat turn injects; list pages
//! by id (at most `MAX_PAGE` per call, so an export of 20,000 entries is many small frames);
//! import takes at most `MAX_PAGE` entries per call and ingests them with the same bounds and
//! eviction as chat turns.

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::parse_params;
use crate::gateway::Ctx;
use crate::memory::{Entry, NewEntry, Source};

/// Most entries one `memory.list` or `memory.import` call carries.
pub const MAX_PAGE: usize = 500;

fn agent(ctx: &Ctx, a: Option<String>) -> Result<String, RpcError> {
    let id = a.unwrap_or_else(|| ctx.config.agent.default_id.clone());
    if id != ctx.config.agent.default_id {
        return Err(RpcError::InvalidRequest(format!(
            "unknown agent {id:?} (this gateway runs {:?})",
            ctx.config.agent.default_id
        )));
    }
    Ok(id)
}

fn entry_json(e: &Entry) -> Value {
    json!({"id": e.id, "text": e.text, "source": e.source, "sessionKey": e.session_key,
           "createdAt": e.created_at, "lastRecalledAt": e.last_recalled_at,
           "vectorModel": e.vec_model})
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusParams {
    agent_id: Option<String>,
}

/// `doctor.memory.status {agentId?}` → counters, limits and settings.
pub async fn status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: StatusParams = parse_params("doctor.memory.status", params)?;
    let a = agent(ctx, p.agent_id)?;
    let (a2, model) = (a.clone(), crate::agent::embed::model_key(ctx));
    let (s, pending) = ctx
        .store
        .read(move |db| {
            Ok((
                crate::store::memory::stats(db, &a2)?,
                crate::store::memory::vectors_not_from(db, &model)?,
            ))
        })
        .await?;
    let l = &ctx.config.limits;
    Ok(json!({
        "agentId": a,
        "enabled": ctx.config.memory.enabled,
        "entries": s.entries, "bytes": s.bytes, "nodes": s.nodes, "edges": s.edges,
        "mentions": s.mentions, "lastEvictionAt": s.last_eviction_at,
        "evictedTotal": s.evicted_total,
        "vectors": crate::agent::embed::model_key(ctx),
        "embeddings": ctx.config.memory.embeddings.as_ref()
            .map(|_| ctx.agent.embedder.to_json(ctx, Some(pending))),
        "pendingVectors": pending,
        "recall": {"topK": ctx.config.memory.recall_top_k,
                   "minScore": ctx.config.memory.recall_min_score,
                   "injectTokens": l.memory_inject_tokens},
        "limits": {"maxEntries": l.memory_max_entries, "maxBytes": l.memory_max_bytes,
                   "maxNodes": l.memory_max_nodes, "maxEdges": l.memory_max_edges,
                   "maxEntryBytes": l.memory_max_entry_bytes},
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SearchParams {
    query: String,
    limit: Option<usize>,
    agent_id: Option<String>,
}

/// `memory.search {query, limit?}` → `{results:[{id, text, source, sessionKey, createdAt,
/// score, ranks}]}`: the recall chat turns use.
pub async fn search(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: SearchParams = parse_params("memory.search", params)?;
    let a = agent(ctx, p.agent_id)?;
    if p.query.trim().is_empty() {
        return Err(RpcError::InvalidRequest(
            "memory.search: query is empty".into(),
        ));
    }
    let mut o = crate::agent::memory::opts(ctx);
    if let Some(n) = p.limit {
        o.top_k = n.clamp(1, 50);
    }
    let hits = crate::agent::memory::recall(ctx, &a, &p.query, o).await?;
    let results: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({"id": h.id, "text": h.text, "source": h.source, "sessionKey": h.session_key,
                   "createdAt": h.created_at, "score": h.score,
                   "ranks": {"lexical": h.lexical_rank, "vector": h.vector_rank,
                             "graph": h.graph_rank}})
        })
        .collect();
    Ok(json!({"query": p.query, "results": results}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListParams {
    after_id: Option<i64>,
    limit: Option<usize>,
    agent_id: Option<String>,
}

/// `memory.list {afterId?, limit?}` → `{entries, nextAfterId}`, oldest first, ≤ `MAX_PAGE`.
pub async fn list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ListParams = parse_params("memory.list", params)?;
    let a = agent(ctx, p.agent_id)?;
    let limit = p.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let after = p.after_id.unwrap_or(0);
    let rows = ctx
        .store
        .read(move |db| crate::store::memory::export(db, &a, after, limit))
        .await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|e| e.id))
        .flatten();
    Ok(json!({"entries": rows.iter().map(entry_json).collect::<Vec<_>>(), "nextAfterId": next}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ForgetParams {
    id: Option<i64>,
    session_key: Option<String>,
    agent_id: Option<String>,
}

/// `memory.forget {id} | {sessionKey}` → `{forgotten: n}`.
pub async fn forget(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ForgetParams = parse_params("memory.forget", params)?;
    let a = agent(ctx, p.agent_id)?;
    let n = match (p.id, p.session_key) {
        (Some(id), None) => {
            crate::agent::memory::write(ctx, move |db| crate::store::memory::forget(db, &a, id))
                .await
                .map(usize::from)?
        }
        (None, Some(k)) => {
            crate::agent::memory::write(ctx, move |db| {
                crate::store::memory::forget_session(db, &a, &k)
            })
            .await?
        }
        _ => {
            return Err(RpcError::InvalidRequest(
                "memory.forget: give exactly one of id or sessionKey".into(),
            ));
        }
    };
    Ok(json!({"forgotten": n}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportEntry {
    text: String,
    session: Option<String>,
    time: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImportParams {
    entries: Vec<ImportEntry>,
    agent_id: Option<String>,
}

/// `memory.import {entries:[{text, session?, time?}]}` (≤ `MAX_PAGE`) → `{imported, duplicates,
/// truncated, evicted}`.
pub async fn import(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: ImportParams = parse_params("memory.import", params)?;
    let a = agent(ctx, p.agent_id)?;
    if p.entries.len() > MAX_PAGE {
        return Err(RpcError::InvalidRequest(format!(
            "memory.import: at most {MAX_PAGE} entries per call, got {}",
            p.entries.len()
        )));
    }
    if let Some(i) = p.entries.iter().position(|e| e.text.trim().is_empty()) {
        return Err(RpcError::InvalidRequest(format!(
            "memory.import: entry {i} has no text"
        )));
    }
    let entries: Vec<NewEntry> = p
        .entries
        .into_iter()
        .map(|e| NewEntry {
            agent_id: a.clone(),
            session_key: e.session,
            source: Source::Import,
            text: e.text,
            created_at: e.time,
        })
        .collect();
    let l = crate::agent::memory::limits(ctx);
    let now = crate::clock::now_ms();
    let (mut imported, mut dup, mut cut, mut evicted) = (0, 0, 0, 0);
    let outs = crate::agent::memory::write(ctx, move |db| {
        entries
            .iter()
            .map(|e| crate::store::memory::ingest(db, e, &l, now))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    for o in outs {
        if o.duplicate {
            dup += 1;
        } else {
            imported += 1;
        }
        cut += usize::from(o.truncated);
        evicted += o.evicted;
    }
    Ok(json!({"imported": imported, "duplicates": dup, "truncated": cut, "evicted": evicted}))
}
