//! Recall fusion: reciprocal-rank fusion of the lexical, vector and graph lists plus recency.
//!
//! `store::memory::recall` gathers up to `RecallOpts::candidates` entries from each signal —
//! FTS5 BM25 order (`lexical`), cosine to the query vector (`vector`) and the graph boost
//! (`graph`) — and hands their 1-based ranks here. Each candidate scores
//! `Σ w_list / (k + rank_list)` over the lists it appears in, plus `w_recency / (k + r)` where
//! `r` is its rank by creation time among the candidates (newest first), so recency only
//! orders entries some signal already found. Scores are divided by the best possible sum
//! (rank 1 everywhere), so they lie in `0..=1` and `recallMinScore` means the same thing
//! whatever the weights.
//!
//! Graph weights decay with a half-life: a node or edge seen `HALF_LIFE_MS` ago counts half.
//! `strength` turns (weight, last seen) into one number whose order never changes as time
//! passes, so the store can keep it in an index and prune the weakest rows without
//! recomputing anything.
//!
//! Pure: no I/O, no clock (`now` is passed in). Weights and `k` were tuned on the recall
//! fixture; see the `memory` module doc.

/// Fusion weights and the RRF constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// BM25 list.
    pub lexical: f64,
    /// Vector-cosine list.
    pub vector: f64,
    /// Graph-boost list.
    pub graph: f64,
    /// Recency among the candidates.
    pub recency: f64,
    /// RRF `k`: larger flattens the difference between ranks.
    pub k: f64,
    /// Cosine at or below which a vector rank counts nothing (see `trust`).
    pub cos_zero: f32,
    /// Cosine from which a vector rank counts fully.
    pub cos_full: f32,
}

/// The tuned defaults (see the `memory` module doc for the measurements).
pub const WEIGHTS: Weights = Weights {
    lexical: 1.0,
    vector: 1.0,
    graph: 0.3,
    recency: 0.05,
    k: 10.0,
    cos_zero: 0.2,
    cos_full: 0.5,
};

/// Half-life of node and edge weights (30 days).
pub const HALF_LIFE_MS: f64 = 30.0 * 24.0 * 3600.0 * 1000.0;

/// Neighbours followed per query concept (the strongest by decayed co-occurrence).
pub const GRAPH_NEIGHBOURS: usize = 4;
/// A neighbour is followed only when the edge carries at least this share of the query node's
/// weight (how often the two appear together given the query concept appears).
pub const GRAPH_STRONG_EDGE: f64 = 0.25;
/// Entries read per node (the most recent mentions).
pub const GRAPH_MENTIONS_PER_NODE: usize = 64;
/// How much an entry reached through a neighbour counts relative to a direct mention.
pub const GRAPH_EXPAND: f64 = 0.5;

/// Weight left of `weight` last updated at `last_seen_ms`, at `now_ms`.
pub fn decayed(weight: f64, last_seen_ms: u64, now_ms: u64) -> f64 {
    let age = now_ms.saturating_sub(last_seen_ms) as f64;
    weight * (-age / HALF_LIFE_MS).exp2()
}

/// Time-invariant order key: `log2(weight) + last_seen / half-life` (larger is stronger).
pub fn strength(weight: f64, last_seen_ms: u64) -> f64 {
    weight.max(f64::MIN_POSITIVE).log2() + last_seen_ms as f64 / HALF_LIFE_MS
}

/// How specific a node is: rare concepts (small decayed weight) say more about an entry.
pub fn specificity(decayed_weight: f64) -> f64 {
    1.0 / (2.0 + decayed_weight.max(0.0)).ln()
}

/// One candidate entry and its 1-based rank in each list it appears in.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Entry id.
    pub id: i64,
    /// Rank by BM25.
    pub lexical: Option<u32>,
    /// Rank by cosine.
    pub vector: Option<u32>,
    /// The cosine behind `vector`.
    pub cosine: f32,
    /// Rank by graph score.
    pub graph: Option<u32>,
    /// Creation time (ms), for the recency term.
    pub created_at: u64,
}

/// A fused result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Entry id.
    pub id: i64,
    /// Fused score in `0..=1`.
    pub score: f64,
}

fn rrf(w: f64, k: f64, rank: Option<u32>) -> f64 {
    rank.map_or(0.0, |r| w / (k + f64::from(r)))
}

/// How much a vector rank is trusted given its cosine: 0 at `cos_zero` or below, 1 from
/// `cos_full`, linear between. Ranks alone cannot tell "nearest of nothing relevant" from a
/// real match: an off-topic query still has a nearest entry, and without this its rank 1 would
/// score like a real hit and pass any `min_score`.
pub fn trust(w: &Weights, cos: f32) -> f64 {
    if w.cos_full <= w.cos_zero {
        return if cos > w.cos_zero { 1.0 } else { 0.0 };
    }
    f64::from(((cos - w.cos_zero) / (w.cos_full - w.cos_zero)).clamp(0.0, 1.0))
}

/// Fuses `cands` (ids unique) into at most `top_k` results with score ≥ `min_score`, best
/// first (ties: newer entry first).
pub fn fuse(cands: &[Candidate], w: &Weights, top_k: usize, min_score: f64) -> Vec<Scored> {
    let best = (w.lexical + w.vector + w.graph + w.recency) / (w.k + 1.0);
    if cands.is_empty() || best <= 0.0 {
        return Vec::new();
    }
    let mut by_time: Vec<(u64, i64)> = cands.iter().map(|c| (c.created_at, c.id)).collect();
    by_time.sort_unstable_by(|a, b| b.cmp(a));
    let mut out: Vec<(Scored, u64)> = cands
        .iter()
        .map(|c| {
            let r = by_time
                .binary_search_by(|p| (c.created_at, c.id).cmp(p))
                .map_or(by_time.len(), |i| i + 1) as u32;
            let s = rrf(w.lexical, w.k, c.lexical)
                + rrf(w.vector, w.k, c.vector) * trust(w, c.cosine)
                + rrf(w.graph, w.k, c.graph)
                + rrf(w.recency, w.k, Some(r));
            (
                Scored {
                    id: c.id,
                    score: (s / best).min(1.0),
                },
                c.created_at,
            )
        })
        .filter(|(s, _)| s.score >= min_score)
        .collect();
    out.sort_by(|a, b| {
        b.0.score
            .total_cmp(&a.0.score)
            .then(b.1.cmp(&a.1))
            .then(b.0.id.cmp(&a.0.id))
    });
    out.truncate(top_k);
    out.into_iter().map(|(s, _)| s).collect()
}

/// Turns scores into 1-based ranks (highest score first; `scores` is `(id, score)`), keeping at
/// most `limit`.
pub fn ranks(mut scores: Vec<(i64, f64)>, limit: usize) -> Vec<(i64, u32)> {
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    scores.truncate(limit);
    scores
        .into_iter()
        .enumerate()
        .map(|(i, (id, _))| (id, i as u32 + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, l: Option<u32>, v: Option<u32>, g: Option<u32>, t: u64) -> Candidate {
        Candidate {
            id,
            lexical: l,
            vector: v,
            cosine: 1.0,
            graph: g,
            created_at: t,
        }
    }

    #[test]
    fn agreement_beats_one_strong_signal_and_scores_are_normalised() {
        let cands = [
            c(1, Some(1), None, None, 10),
            c(2, Some(2), Some(2), None, 5),
            c(3, None, Some(1), None, 1),
            c(4, Some(1), Some(1), Some(1), 20),
        ];
        let out = fuse(&cands, &WEIGHTS, 10, 0.0);
        assert_eq!(out.iter().map(|s| s.id).collect::<Vec<_>>(), [4, 2, 1, 3]);
        assert!(
            (out[0].score - 1.0).abs() < 1e-9,
            "rank 1 everywhere is 1.0"
        );
        assert!(out.iter().all(|s| s.score > 0.0 && s.score <= 1.0));
    }

    #[test]
    fn top_k_and_min_score_cut_and_recency_breaks_ties() {
        let cands = [c(1, Some(3), None, None, 1), c(2, Some(3), None, None, 2)];
        let out = fuse(&cands, &WEIGHTS, 1, 0.0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, 2, "same evidence: the newer entry wins");
        assert!(fuse(&cands, &WEIGHTS, 10, 0.99).is_empty());
        assert!(fuse(&[], &WEIGHTS, 10, 0.0).is_empty());
    }

    #[test]
    fn decay_and_strength_agree_on_order_at_any_time() {
        let day = 24 * 3600 * 1000u64;
        assert!((decayed(8.0, 0, 30 * day) - 4.0).abs() < 1e-9);
        // An old heavy edge and a fresh light one: strength orders them as decay does.
        let (w1, t1) = (8.0, 0u64);
        let (w2, t2) = (3.0, 60 * day);
        for now in [60 * day, 200 * day] {
            let by_decay = decayed(w1, t1, now) < decayed(w2, t2, now);
            assert_eq!(by_decay, strength(w1, t1) < strength(w2, t2));
        }
        assert!(specificity(1.0) > specificity(50.0));
    }

    #[test]
    fn ranks_are_one_based_and_limited() {
        let r = ranks(vec![(1, 0.5), (2, 0.9), (3, 0.1)], 2);
        assert_eq!(r, [(2, 1), (1, 2)]);
    }
}
