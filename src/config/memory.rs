//! Memory settings: the `[memory]` table.
//!
//! `enabled` (default true) turns ingestion, recall injection and the memory tools on for the
//! agent; `recallTopK` (1–50, default 5) and `recallMinScore` (0–1, default 0.1) shape recall.
//! `embeddings = "provider/model"` (default none: hashed vectors) names an OpenAI-compatible
//! `/embeddings` model of the provider registry (a built-in provider is added like an agent
//! model); `embeddingTimeoutMs` (100–60000, default 3000) is how long a recall waits for the
//! query's embedding before it falls back to the hashed vector.
//! The table sizes are limits (`memory_*` in `[limits]` and the profiles), not settings here.
//! A session opts out with `sessions.patch {key, memory: false}`.

use serde::Deserialize;

use super::providers::{ModelRef, ModelsConfig};
use super::{ConfigError, invalid};

/// Default `embeddingTimeoutMs`.
pub const DEFAULT_EMBEDDING_TIMEOUT_MS: u64 = 3000;

/// Checked `[memory]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Ingest turns, inject recalled memories, offer `memory_search` / `memory_store`.
    pub enabled: bool,
    /// Most memories recalled into a prompt (and returned by search).
    pub recall_top_k: usize,
    /// Lowest fused score a recalled memory needs.
    pub recall_min_score: f64,
    /// The embedding model, if real embeddings replace hashed vectors.
    pub embeddings: Option<ModelRef>,
    /// How long recall waits for a query embedding (ms).
    pub embedding_timeout_ms: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            enabled: true,
            recall_top_k: crate::memory::DEFAULT_TOP_K,
            recall_min_score: crate::memory::DEFAULT_MIN_SCORE,
            embeddings: None,
            embedding_timeout_ms: DEFAULT_EMBEDDING_TIMEOUT_MS,
        }
    }
}

impl MemoryConfig {
    /// For `config.get`.
    pub fn to_public_json(&self) -> serde_json::Value {
        serde_json::json!({"enabled": self.enabled, "recallTopK": self.recall_top_k,
                           "recallMinScore": self.recall_min_score,
                           "embeddings": self.embeddings.as_ref().map(ToString::to_string),
                           "embeddingTimeoutMs": self.embedding_timeout_ms})
    }
}

/// The raw `[memory]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawMemory {
    enabled: Option<bool>,
    recall_top_k: Option<usize>,
    recall_min_score: Option<f64>,
    embeddings: Option<String>,
    embedding_timeout_ms: Option<u64>,
}

/// Checks `[memory]`; an embeddings provider joins `models`' registry.
pub(super) fn build_memory(
    raw: &RawMemory,
    models: &mut ModelsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<MemoryConfig, ConfigError> {
    let d = MemoryConfig::default();
    let top_k = raw.recall_top_k.unwrap_or(d.recall_top_k);
    if !(1..=50).contains(&top_k) {
        return Err(invalid(
            "memory.recallTopK",
            format!("must be 1-50, got {top_k}"),
        ));
    }
    let min = raw.recall_min_score.unwrap_or(d.recall_min_score);
    if !(0.0..=1.0).contains(&min) {
        return Err(invalid(
            "memory.recallMinScore",
            format!("must be 0-1, got {min}"),
        ));
    }
    let embeddings = match raw.embeddings.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(models.resolve("memory.embeddings", r, env)?),
    };
    let timeout = raw
        .embedding_timeout_ms
        .unwrap_or(DEFAULT_EMBEDDING_TIMEOUT_MS);
    if !(100..=60_000).contains(&timeout) {
        return Err(invalid(
            "memory.embeddingTimeoutMs",
            format!("must be 100-60000, got {timeout}"),
        ));
    }
    Ok(MemoryConfig {
        enabled: raw.enabled.unwrap_or(true),
        recall_top_k: top_k,
        recall_min_score: min,
        embeddings,
        embedding_timeout_ms: timeout,
    })
}
