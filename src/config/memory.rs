//! Memory settings: the `[memory]` table.
//!
//! `enabled` (default true) turns ingestion, recall injection and the memory tools on for the
//! agent; `recallTopK` (1–50, default 5) and `recallMinScore` (0–1, default 0.1) shape recall.
//! The table sizes are limits (`memory_*` in `[limits]` and the profiles), not settings here.
//! A session opts out with `sessions.patch {key, memory: false}`.

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Checked `[memory]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Ingest turns, inject recalled memories, offer `memory_search` / `memory_store`.
    pub enabled: bool,
    /// Most memories recalled into a prompt (and returned by search).
    pub recall_top_k: usize,
    /// Lowest fused score a recalled memory needs.
    pub recall_min_score: f64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            enabled: true,
            recall_top_k: crate::memory::DEFAULT_TOP_K,
            recall_min_score: crate::memory::DEFAULT_MIN_SCORE,
        }
    }
}

impl MemoryConfig {
    /// For `config.get`.
    pub fn to_public_json(&self) -> serde_json::Value {
        serde_json::json!({"enabled": self.enabled, "recallTopK": self.recall_top_k,
                           "recallMinScore": self.recall_min_score})
    }
}

/// The raw `[memory]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawMemory {
    enabled: Option<bool>,
    recall_top_k: Option<usize>,
    recall_min_score: Option<f64>,
}

/// Checks `[memory]`.
pub(super) fn build_memory(raw: &RawMemory) -> Result<MemoryConfig, ConfigError> {
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
    Ok(MemoryConfig {
        enabled: raw.enabled.unwrap_or(true),
        recall_top_k: top_k,
        recall_min_score: min,
    })
}
