//! Memory in a turn: recalled memories before the model call, the exchange remembered after.
//!
//! `recall_block` runs the same hybrid recall as `memory search` (a store write job: recall
//! stamps `last_recalled_at`) with the user's text and renders the hits as one system message,
//! each with its source and date, cut to `limits.memory_inject_tokens` (bytes / 4); hits that do
//! not fit are left out whole. `remember` ingests the user text and the final answer as two
//! entries. Both do nothing when `[memory] enabled = false` or the session was patched with
//! `memory: false`. Failures are logged and never fail the turn.

use serde_json::Value;

use crate::gateway::Ctx;
use crate::memory::{MemLimits, NewEntry, RecallOpts, Source};
use crate::scheduler::Turn;

/// Whether memory applies to a session with these stored settings.
pub fn enabled(ctx: &Ctx, settings: Option<&serde_json::Map<String, Value>>) -> bool {
    ctx.config.memory.enabled && settings.and_then(|s| s.get("memory")) != Some(&Value::Bool(false))
}

/// The table bounds from the limits.
pub fn limits(ctx: &Ctx) -> MemLimits {
    let l = &ctx.config.limits;
    MemLimits {
        max_entries: l.memory_max_entries,
        max_bytes: l.memory_max_bytes as u64,
        max_nodes: l.memory_max_nodes,
        max_edges: l.memory_max_edges,
        max_entry_bytes: l.memory_max_entry_bytes,
    }
}

/// Recall options from `[memory]`.
pub fn opts(ctx: &Ctx) -> RecallOpts {
    RecallOpts {
        top_k: ctx.config.memory.recall_top_k,
        min_score: ctx.config.memory.recall_min_score,
        ..RecallOpts::default()
    }
}

/// Renders hits as the recalled-memory block within `budget_bytes`; `None` when none fit.
pub fn render(hits: &[crate::memory::Hit], budget_bytes: usize) -> Option<String> {
    let head = "Memories recalled from earlier conversations (may be outdated; use them only if \
                relevant):";
    let mut out = String::from(head);
    let mut n = 0;
    for h in hits {
        let date = crate::clock::rfc3339(h.created_at);
        let line = format!(
            "\n- [{} {}] {}",
            date.get(..10).unwrap_or(&date),
            h.source,
            h.text.replace('\n', " ")
        );
        if out.len() + line.len() > budget_bytes {
            continue;
        }
        out.push_str(&line);
        n += 1;
    }
    (n > 0).then_some(out)
}

/// Hybrid recall for `agent` (a store write job: it stamps `last_recalled_at`); the one entry
/// point for prompt injection, the `memory_search` tool and `memory.search`. With `[memory]
/// embeddings` the query is embedded first (hashed vectors alone if that fails in time).
pub async fn recall(
    ctx: &Ctx,
    agent: &str,
    query: &str,
    o: RecallOpts,
) -> Result<Vec<crate::memory::Hit>, crate::store::StoreError> {
    let qv = super::embed::query_vec(ctx, query).await;
    let (agent, q, now) = (agent.to_string(), query.to_string(), crate::clock::now_ms());
    ctx.store
        .write(move |db| {
            let qv = qv.as_ref().map(|(m, v)| (m.as_str(), &v[..]));
            crate::store::memory::recall_with(db, &agent, &q, qv, &o, now)
        })
        .await
}

/// Runs a memory-changing store job for the default agent, then refreshes the counters
/// `health` and `status` show (read in the same job) and wakes the embedder.
pub async fn write<T: Send + 'static>(
    ctx: &Ctx,
    job: impl FnOnce(&crate::store::Db) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, crate::store::StoreError> {
    let agent = ctx.config.agent.default_id.clone();
    let (out, stats) = ctx
        .store
        .write(move |db| {
            let out = job(db)?;
            Ok((out, crate::store::memory::stats(db, &agent)?))
        })
        .await?;
    ctx.agent.memory_stats.set(Some(stats));
    ctx.agent.embedder.wake();
    Ok(out)
}

/// The default agent's counters: the copy kept by `write`, read from the store once if there
/// is none yet (the counters row is one primary-key lookup, never a table scan).
pub async fn stats(ctx: &Ctx) -> Result<crate::memory::Stats, crate::store::StoreError> {
    if let Some(s) = ctx.agent.memory_stats.get() {
        return Ok(s);
    }
    let agent = ctx.config.agent.default_id.clone();
    let s = ctx
        .store
        .read(move |db| crate::store::memory::stats(db, &agent))
        .await?;
    ctx.agent.memory_stats.set(Some(s));
    Ok(s)
}

/// Counters JSON for `health` and `status` (`null` fields when the store cannot answer).
pub async fn telemetry(ctx: &Ctx) -> Value {
    match stats(ctx).await {
        Ok(s) => serde_json::json!({
            "enabled": ctx.config.memory.enabled, "entries": s.entries, "bytes": s.bytes,
            "nodes": s.nodes, "edges": s.edges, "lastEvictionAt": s.last_eviction_at,
            "evictedTotal": s.evicted_total,
            "vectors": super::embed::model_key(ctx),
        }),
        Err(e) => serde_json::json!({"enabled": ctx.config.memory.enabled, "error": e.to_string()}),
    }
}

/// Hits asked for beyond `recallTopK` so that leaving out those already in the prompt window
/// still leaves `recallTopK` to choose from.
pub const WINDOW_EXTRA: usize = 4;

/// The system message with memories relevant to `query`, if any; memories whose text is one of
/// `window` (the transcript already in the prompt) are left out.
pub async fn recall_block(
    ctx: &Ctx,
    agent_id: &str,
    query: &str,
    window: &[String],
) -> Option<String> {
    if query.trim().is_empty() {
        return None;
    }
    let mut o = opts(ctx);
    let top_k = o.top_k;
    o.top_k += WINDOW_EXTRA;
    match recall(ctx, agent_id, query, o).await {
        Ok(mut hits) => {
            hits.retain(|h| !window.iter().any(|w| w.trim() == h.text.trim()));
            hits.truncate(top_k);
            render(&hits, ctx.config.limits.memory_inject_tokens * 4)
        }
        Err(e) => {
            log::warn!("memory: recall failed, prompt goes without memories: {e}");
            None
        }
    }
}

/// Remembers a finished exchange: the user's text and the answer.
pub async fn remember(ctx: &Ctx, turn: &Turn, answer: &str) {
    let l = limits(ctx);
    let now = crate::clock::now_ms();
    let entries: Vec<NewEntry> = [
        (Source::User, turn.text.as_str()),
        (Source::Assistant, answer),
    ]
    .into_iter()
    .filter(|(_, t)| !t.trim().is_empty())
    .map(|(source, text)| NewEntry {
        agent_id: turn.agent_id.clone(),
        session_key: Some(turn.session_key.clone()),
        source,
        text: text.to_string(),
        created_at: None,
    })
    .collect();
    let res = write(ctx, move |db| {
        for e in &entries {
            crate::store::memory::ingest(db, e, &l, now)?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = res {
        log::warn!("memory: cannot remember run {}: {e}", turn.run_id);
    }
}

/// The OpenAI `tools` entries of the memory tools.
pub fn tool_specs() -> Vec<Value> {
    let f = |name: &str, description: &str, parameters: Value| {
        serde_json::json!({"type": "function",
            "function": {"name": name, "description": description, "parameters": parameters}})
    };
    vec![
        f(
            "memory_search",
            "Search long-term memory (earlier conversations and stored notes) for facts relevant \
             to a query. Returns the best matches with their date and source.",
            serde_json::json!({"type": "object",
                "properties": {"query": {"type": "string"},
                               "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
                "required": ["query"], "additionalProperties": false}),
        ),
        f(
            "memory_store",
            "Store a short fact in long-term memory so it can be recalled in later conversations.",
            serde_json::json!({"type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"], "additionalProperties": false}),
        ),
    ]
}

/// Whether `name` is a memory tool (run here, not by `tools::run`, as it needs the store).
pub fn is_tool(name: &str) -> bool {
    matches!(name, "memory_search" | "memory_store")
}

/// Runs a memory tool the defender allowed: `(text, is_error)`.
pub async fn run_tool(ctx: &Ctx, turn: &Turn, name: &str, args: &Value) -> (String, bool) {
    let text_arg = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let now = crate::clock::now_ms();
    match name {
        "memory_search" => {
            let q = text_arg("query");
            if q.trim().is_empty() {
                return ("memory_search needs a non-empty `query`".into(), true);
            }
            let mut o = opts(ctx);
            if let Some(n) = args.get("limit").and_then(Value::as_u64) {
                o.top_k = (n as usize).clamp(1, 20);
            }
            match recall(ctx, &turn.agent_id, &q, o).await {
                Ok(hits) if hits.is_empty() => ("no memories match".into(), false),
                Ok(hits) => (
                    render(&hits, ctx.config.limits.tool_max_output_bytes).unwrap_or_default(),
                    false,
                ),
                Err(e) => (format!("memory search failed: {e}"), true),
            }
        }
        _ => {
            let text = text_arg("text");
            if text.trim().is_empty() {
                return ("memory_store needs a non-empty `text`".into(), true);
            }
            let e = NewEntry {
                agent_id: turn.agent_id.clone(),
                session_key: Some(turn.session_key.clone()),
                source: Source::Tool,
                text,
                created_at: None,
            };
            let l = limits(ctx);
            match write(ctx, move |db| crate::store::memory::ingest(db, &e, &l, now)).await {
                Ok(o) if o.duplicate => (format!("already remembered (entry {})", o.id), false),
                Ok(o) => (
                    format!(
                        "stored as entry {}{}",
                        o.id,
                        if o.truncated {
                            " (cut to the entry size limit)"
                        } else {
                            ""
                        }
                    ),
                    false,
                ),
                Err(e) => (format!("memory store failed: {e}"), true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(text: &str, at: u64) -> crate::memory::Hit {
        crate::memory::Hit {
            id: 1,
            session_key: None,
            source: "user".into(),
            created_at: at,
            text: text.into(),
            score: 0.5,
            lexical_rank: None,
            vector_rank: None,
            graph_rank: None,
        }
    }

    #[test]
    fn the_block_names_source_and_date_and_keeps_to_its_budget() {
        let hits = [
            hit("my sister Ana lives in Porto", 1_795_000_000_000),
            hit(&"x".repeat(500), 0),
            hit("the wifi password is on the fridge", 0),
        ];
        let b = render(&hits, 300).unwrap();
        assert!(b.len() <= 300, "{}", b.len());
        assert!(
            b.contains("- [2026-11-18 user] my sister Ana lives in Porto"),
            "{b}"
        );
        assert!(
            !b.contains("xxxx"),
            "a hit that does not fit is left out whole"
        );
        assert!(
            b.contains("wifi password"),
            "later hits that fit still go in"
        );
        assert_eq!(render(&hits[1..2], 100), None);
    }
}
