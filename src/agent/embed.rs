//! Real embeddings for memory (`[memory] embeddings = "provider/model"`).
//!
//! Entries are always stored with a hashed vector first (ingest never waits for a network
//! call). `embed_loop` then replaces vectors that are not from the configured model, at most
//! `limits.memory_embed_batch` texts per `/embeddings` request, one batch at a time: after a
//! model switch the old vectors are re-embedded lazily, and recall meanwhile compares each
//! entry with the query vector of its own model (`store::memory::recall_with`), so it keeps
//! working throughout. With no embeddings model configured the loop turns any model-made
//! vectors back into hashed ones, locally, in batches of the same size, once at start-up.
//!
//! `query_vec` embeds the recall query; past `embeddingTimeoutMs` or on any provider error the
//! recall goes on with hashed vectors alone (counted in `queryFallbacks`). A failed batch waits
//! and retries with doubling back-off (`BACKOFF_MIN_MS`..`BACKOFF_MAX_MS`, or the provider's
//! `Retry-After`); the error is in `doctor.memory.status`. Nothing here can grow: one batch in
//! flight, a wake-up channel of capacity 1, and counters.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::providers::ModelRef;
use crate::gateway::Ctx;
use crate::memory::vector;
use crate::providers::{EmbedRequest, Event, ProviderError};

/// First wait after a failed batch.
pub const BACKOFF_MIN_MS: u64 = 5_000;
/// Longest wait between failed batches.
pub const BACKOFF_MAX_MS: u64 = 300_000;
/// How often an idle loop looks for work it was not woken for (e.g. a lost wake-up).
pub const IDLE_RECHECK: Duration = Duration::from_secs(300);

/// Embedding progress and errors, for `doctor.memory.status`.
#[derive(Debug, Default, Clone)]
pub struct EmbedStatus {
    /// Entries given a vector by the configured model (or re-hashed) since start.
    pub embedded_total: u64,
    /// Batches done since start.
    pub batches: u64,
    /// When the last batch finished (ms).
    pub last_batch_at: Option<u64>,
    /// The last batch or query error, with its time.
    pub last_error: Option<(String, u64)>,
    /// Queries embedded by the model.
    pub queries: u64,
    /// Queries that fell back to hashed vectors (error or timeout).
    pub query_fallbacks: u64,
}

/// The embedder's shared state: its wake-up channel and status.
pub struct Embedder {
    wake_tx: smol::channel::Sender<()>,
    wake_rx: smol::channel::Receiver<()>,
    /// Progress, for status.
    pub status: RefCell<EmbedStatus>,
    /// Whether the loop runs (set when it starts).
    pub running: Cell<bool>,
}

impl Default for Embedder {
    fn default() -> Self {
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        Embedder {
            wake_tx,
            wake_rx,
            status: RefCell::new(EmbedStatus::default()),
            running: Cell::new(false),
        }
    }
}

impl Embedder {
    /// Tells the loop new entries may need a vector (never blocks; one pending wake is enough).
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    fn error(&self, e: &str) {
        self.status.borrow_mut().last_error = Some((e.to_string(), crate::clock::now_ms()));
    }

    /// Status JSON for `doctor.memory.status`.
    pub fn to_json(&self, ctx: &Ctx, pending: Option<u64>) -> Value {
        let s = self.status.borrow();
        json!({
            "model": model_key(ctx),
            "provider": ctx.config.memory.embeddings.as_ref().map(|r| r.provider.clone()),
            "running": self.running.get(),
            "pending": pending,
            "embeddedTotal": s.embedded_total,
            "batches": s.batches,
            "batchSize": ctx.config.limits.memory_embed_batch,
            "lastBatchAt": s.last_batch_at,
            "lastError": s.last_error.as_ref().map(|e| e.0.clone()),
            "lastErrorAt": s.last_error.as_ref().map(|e| e.1),
            "queries": s.queries,
            "queryFallbacks": s.query_fallbacks,
            "queryTimeoutMs": ctx.config.memory.embedding_timeout_ms,
        })
    }
}

/// The `vec_model` stored vectors should have: `provider/model`, or the hashed model.
pub fn model_key(ctx: &Ctx) -> String {
    match &ctx.config.memory.embeddings {
        Some(r) => r.to_string(),
        None => vector::MODEL.to_string(),
    }
}

/// Embeds `texts` with model `r` (one provider call), quantised; waits at most `limit`.
async fn embed_texts(
    ctx: &Ctx,
    r: &ModelRef,
    texts: Vec<String>,
    limit: Duration,
) -> Result<Vec<Vec<i8>>, ProviderError> {
    let providers = ctx
        .agent
        .providers
        .as_ref()
        .ok_or_else(|| ProviderError::Unknown(r.provider.clone()))?;
    let call = providers.embed(
        &r.provider,
        EmbedRequest {
            model: r.model.clone(),
            input: texts,
        },
    )?;
    let answer = async {
        match call.next().await {
            Some(Ok(Event::Embeddings(v))) => Ok(v),
            Some(Ok(_)) => Err(ProviderError::Malformed(
                "a chat answer to an embeddings call".into(),
            )),
            Some(Err(e)) => Err(e),
            None => Err(ProviderError::Closed(
                "provider worker ended without an answer".into(),
            )),
        }
    };
    let v = crate::clock::within(limit, answer)
        .await
        .unwrap_or(Err(ProviderError::Timeout("request")))?;
    Ok(v.iter().map(|e| vector::quantize(e)).collect())
}

/// The recall query embedded by the configured model: `(model key, vector)`; `None` when no
/// model is configured or it failed in time (recall then uses hashed vectors only).
pub async fn query_vec(ctx: &Ctx, query: &str) -> Option<(String, Vec<i8>)> {
    let r = ctx.config.memory.embeddings.as_ref()?;
    let limit = Duration::from_millis(ctx.config.memory.embedding_timeout_ms);
    let e = &ctx.agent.embedder;
    match embed_texts(ctx, r, vec![query.to_string()], limit).await {
        Ok(mut v) if v.len() == 1 => {
            e.status.borrow_mut().queries += 1;
            Some((r.to_string(), v.remove(0)))
        }
        Ok(_) => None,
        Err(err) => {
            log::warn!(
                "memory: query embedding by {r} failed, recalling with hashed vectors: {err}"
            );
            e.status.borrow_mut().query_fallbacks += 1;
            e.error(&format!("query: {err}"));
            None
        }
    }
}

/// Up to one batch of entries whose vector is not from `model`.
async fn todo(ctx: &Ctx, model: &str) -> Result<Vec<(i64, String)>, String> {
    let (m, batch) = (model.to_string(), ctx.config.limits.memory_embed_batch);
    ctx.store
        .read(move |db| crate::store::memory::needs_embedding(db, &m, batch))
        .await
        .map_err(|e| e.to_string())
}

/// Stores `vecs` (from `model`) for the entries `ids`; returns how many entries still existed.
async fn store_vecs(
    ctx: &Ctx,
    model: String,
    ids: Vec<i64>,
    vecs: Vec<Vec<i8>>,
) -> Result<usize, String> {
    ctx.store
        .write(move |db| {
            let mut n = 0;
            for (id, v) in ids.iter().zip(&vecs) {
                n += usize::from(crate::store::memory::set_embedding(db, *id, &model, v)?);
            }
            Ok(n)
        })
        .await
        .map_err(|e| e.to_string())
}

/// The background (re-)embedding loop; see the module doc.
pub async fn embed_loop(ctx: Rc<Ctx>) {
    if !ctx.config.memory.enabled {
        return;
    }
    let e = &ctx.agent.embedder;
    e.running.set(true);
    let model = model_key(&ctx);
    let provider_limit = Duration::from_millis(ctx.config.limits.provider_timeout_ms + 1_000);
    let mut backoff = BACKOFF_MIN_MS;
    while !ctx.shutdown.is_triggered() {
        let batch = match todo(&ctx, &model).await {
            Ok(b) => b,
            Err(err) => {
                log::warn!("memory: cannot look for entries to embed: {err}");
                e.error(&err);
                Vec::new()
            }
        };
        if batch.is_empty() {
            if ctx.config.memory.embeddings.is_none() {
                break; // hashed vectors are made at ingest; nothing will need the loop again
            }
            let wait = async {
                smol::future::or(
                    async {
                        let _ = e.wake_rx.recv().await;
                    },
                    async {
                        smol::Timer::after(IDLE_RECHECK).await;
                    },
                )
                .await
            };
            if ctx.shutdown.unless(wait).await.is_none() {
                break;
            }
            continue;
        }
        let ids: Vec<i64> = batch.iter().map(|b| b.0).collect();
        let vecs = match &ctx.config.memory.embeddings {
            None => Ok(batch.iter().map(|b| vector::embed(&b.1)).collect()),
            Some(r) => {
                let texts = batch.into_iter().map(|b| b.1).collect();
                embed_texts(&ctx, r, texts, provider_limit).await
            }
        };
        let result = match vecs {
            Ok(v) => store_vecs(&ctx, model.clone(), ids, v)
                .await
                .map_err(|err| (err, None)),
            Err(err) => Err((err.to_string(), err.retry_after_ms())),
        };
        match result {
            Ok(n) => {
                backoff = BACKOFF_MIN_MS;
                let mut s = e.status.borrow_mut();
                s.embedded_total += n as u64;
                s.batches += 1;
                s.last_batch_at = Some(crate::clock::now_ms());
            }
            Err((err, retry_after)) => {
                log::warn!(
                    "memory: embedding batch for {model} failed (retry in {backoff} ms): {err}"
                );
                e.error(&err);
                let wait = retry_after.unwrap_or(backoff).min(BACKOFF_MAX_MS);
                backoff = (backoff * 2).min(BACKOFF_MAX_MS);
                let sleep = smol::Timer::after(Duration::from_millis(wait));
                if ctx.shutdown.unless(sleep).await.is_none() {
                    break;
                }
            }
        }
    }
    e.running.set(false);
}
