//! `edge.router.plan`: which configured model to use, from what the usage store measured.
//!
//! Candidates are the configured provider/model pairs (the agent's model and fallbacks, then every
//! catalog model; or the ones asked for). For each, `store::usage::model_stats` reads the window's
//! successful calls, failed calls (with their kinds), tokens and the per-call time of the newest
//! `limits.router_max_samples` runs; p50/p95 are nearest-rank over that sample. Prices are the
//! configured ones (`[[pricing]]` or a model's `cost`), blended at the measured input/output token
//! mix. Only candidates with a successful call in the window are scored (lower is better, per
//! `Objective::scoring`); the others are listed with the reason and never ranked, and a plan
//! with nothing scored has no choice. Nothing is estimated.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::RpcError;
use super::system::parse_params;
use crate::config::providers::ModelRef;
use crate::gateway::Ctx;
use crate::store::usage::ModelStats;

/// Default `windowMs` of `edge.router.plan`: the last day.
pub const DEFAULT_WINDOW_MS: u64 = 86_400_000;
/// Shortest and longest `windowMs` accepted (a minute; 30 days).
pub const WINDOW_MS: [u64; 2] = [60_000, 30 * 86_400_000];
/// Most candidates one plan scores (given or from the config); the rest are counted as omitted.
pub const MAX_CANDIDATES: usize = 64;

/// What `edge.router.plan` optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    Latency,
    Reliability,
    Cost,
    Balanced,
}

impl Objective {
    fn parse(s: &str) -> Option<Objective> {
        Some(match s {
            "latency" => Objective::Latency,
            "reliability" => Objective::Reliability,
            "cost" => Objective::Cost,
            "balanced" => Objective::Balanced,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Reliability => "reliability",
            Objective::Cost => "cost",
            Objective::Balanced => "balanced",
        }
    }

    /// How the score is computed (lower is better), as the answer states it.
    fn scoring(self) -> &'static str {
        match self {
            Objective::Latency => "score = p50 latency (ms) of a successful call",
            Objective::Reliability => "score = errorRate (failed calls / calls)",
            Objective::Cost => {
                "score = blended price (USD per 1M tokens at the measured input/output token mix)"
            }
            Objective::Balanced => {
                "score = expectedMs / max(expectedMs) + expectedCost / max(expectedCost), where \
                 expectedMs = p50 / successRate and expectedCost = blended price / successRate; \
                 the cost term only when every scored candidate has a price"
            }
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RouterParams {
    objective: Option<String>,
    window_ms: Option<u64>,
    candidates: Option<Vec<String>>,
}

/// One candidate's figures, as measured.
#[derive(Debug, Clone)]
struct Scored {
    model: ModelRef,
    role: &'static str,
    stats: ModelStats,
    /// `(input, output)` USD per 1M tokens.
    price: Option<(f64, f64)>,
    p50: Option<u64>,
    p95: Option<u64>,
    blended: Option<f64>,
    score: Option<f64>,
    note: Option<String>,
}

impl Scored {
    /// A candidate with nothing measured yet.
    fn new(model: ModelRef, role: &'static str) -> Scored {
        Scored {
            model,
            role,
            stats: ModelStats::default(),
            price: None,
            p50: None,
            p95: None,
            blended: None,
            score: None,
            note: None,
        }
    }

    fn calls(&self) -> u64 {
        self.stats.ok_calls + self.stats.errors
    }

    fn error_rate(&self) -> Option<f64> {
        let n = self.calls();
        (n > 0).then(|| self.stats.errors as f64 / n as f64)
    }

    fn success_rate(&self) -> Option<f64> {
        self.error_rate().map(|e| 1.0 - e)
    }
}

/// Nearest-rank percentile `q` (0 < q ≤ 1) of ascending `sorted`.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// `edge.router.plan {objective?, windowMs?, candidates?}` → every candidate's measured calls,
/// errors, latency percentiles, price and score, and the choice (`null` with a reason when no
/// candidate can be scored).
pub async fn plan(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    const M: &str = "edge.router.plan";
    let p: RouterParams = parse_params(M, params)?;
    let bad = |msg: String| RpcError::InvalidRequest(format!("invalid {M} params: {msg}"));
    let objective = match p.objective.as_deref() {
        None => Objective::Balanced,
        Some(s) => Objective::parse(s).ok_or_else(|| {
            bad(format!(
                "objective must be latency, reliability, cost or balanced, got {s:?}"
            ))
        })?,
    };
    let window_ms = p.window_ms.unwrap_or(DEFAULT_WINDOW_MS);
    let [lo, hi] = WINDOW_MS;
    if !(lo..=hi).contains(&window_ms) {
        return Err(bad(format!("windowMs must be {lo}-{hi}, got {window_ms}")));
    }
    let (mut cands, omitted) = match p.candidates {
        Some(list) => (given_candidates(ctx, &list).map_err(bad)?, 0),
        None => configured_candidates(ctx),
    };
    let now = crate::clock::now_ms();
    let since = now.saturating_sub(window_ms);
    let sample = ctx.config.limits.router_max_samples;
    let refs: Vec<ModelRef> = cands.iter().map(|c| c.model.clone()).collect();
    let stats = ctx
        .store
        .read(move |db| {
            refs.iter()
                .map(|r| crate::store::usage::model_stats(db, &r.provider, &r.model, since, sample))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    for (c, s) in cands.iter_mut().zip(stats) {
        let m = &c.model;
        c.price = ctx
            .config
            .pricing
            .iter()
            .find(|p| p.provider == m.provider && p.model == m.model)
            .map(|p| (p.input_per_mtok, p.output_per_mtok));
        let mut lat = s.latencies_ms.clone();
        lat.sort_unstable();
        (c.p50, c.p95) = (percentile(&lat, 0.5), percentile(&lat, 0.95));
        c.stats = s;
    }
    let mix = token_mix(&cands);
    for c in &mut cands {
        c.blended = c.price.map(|(i, o)| round(i * mix.0 + o * mix.1, 6));
    }
    let cost_counted = score(&mut cands, objective);
    let order = rank(&cands, objective);
    let mut list = Vec::with_capacity(cands.len());
    let mut rank_no = 0u64;
    for &i in &order {
        let c = &cands[i];
        let r = c.score.map(|_| {
            rank_no += 1;
            rank_no
        });
        list.push(candidate_json(c, r));
    }
    let choice = order
        .first()
        .map(|&i| &cands[i])
        .filter(|c| c.score.is_some());
    let scored = cands.iter().filter(|c| c.score.is_some()).count();
    let reason = match choice {
        Some(c) => why_chosen(c, objective, scored),
        None => no_choice(&cands, objective),
    };
    let mut out = json!({
        "ts": now,
        "objective": objective.as_str(),
        "windowMs": window_ms,
        "sinceMs": since,
        "scoring": objective.scoring(),
        "tokenMix": {"input": round(mix.0, 4), "output": round(mix.1, 4), "source": mix.2},
        "latencySampleLimit": sample,
        "candidates": list,
        "omittedCandidates": omitted,
        "choice": choice.map(|c| json!({
            "ref": c.model.to_string(),
            "provider": c.model.provider,
            "model": c.model.model,
            "score": c.score.map(|s| round(s, 6)),
        })),
        "reason": reason,
    });
    if objective == Objective::Balanced {
        out["costCounted"] = json!(cost_counted);
    }
    Ok(out)
}

/// The candidates named in `candidates`: configured providers, models in a catalog or in the
/// agent's list; duplicates dropped.
fn given_candidates(ctx: &Ctx, list: &[String]) -> Result<Vec<Scored>, String> {
    if list.is_empty() || list.len() > MAX_CANDIDATES {
        return Err(format!(
            "candidates must list 1-{MAX_CANDIDATES} provider/model references, got {}",
            list.len()
        ));
    }
    let models = &ctx.config.models;
    let mut out: Vec<Scored> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let r = models
            .parse_ref(raw)
            .map_err(|e| format!("candidates[{i}]: {e}"))?;
        let role = role_of(ctx, &r).ok_or_else(|| {
            format!("candidates[{i}]: {r} is not a configured model (not in its provider's models nor in [agent] model/fallbacks)")
        })?;
        if !out.iter().any(|c| c.model == r) {
            out.push(Scored::new(r, role));
        }
    }
    Ok(out)
}

/// `primary`, `fallback` or `catalog` for a configured model; `None` if it is not configured.
fn role_of(ctx: &Ctx, r: &ModelRef) -> Option<&'static str> {
    let models = &ctx.config.models;
    match models.candidates.iter().position(|c| c == r) {
        Some(0) => Some("primary"),
        Some(_) => Some("fallback"),
        None => models
            .provider(&r.provider)
            .is_some_and(|p| p.models.iter().any(|m| m.listed && m.id == r.model))
            .then_some("catalog"),
    }
}

/// The agent's candidates, then every listed catalog model; at most `MAX_CANDIDATES`
/// (the number left out is returned).
fn configured_candidates(ctx: &Ctx) -> (Vec<Scored>, usize) {
    let models = &ctx.config.models;
    let mut all: Vec<ModelRef> = models.candidates.clone();
    for p in &models.providers {
        for m in p.models.iter().filter(|m| m.listed) {
            let r = ModelRef {
                provider: p.id.clone(),
                model: m.id.clone(),
            };
            if !all.contains(&r) {
                all.push(r);
            }
        }
    }
    let omitted = all.len().saturating_sub(MAX_CANDIDATES);
    all.truncate(MAX_CANDIDATES);
    let out = all
        .into_iter()
        .map(|r| {
            let role = role_of(ctx, &r).unwrap_or("catalog");
            Scored::new(r, role)
        })
        .collect();
    (out, omitted)
}

/// `(input share, output share, source)` of the tokens the candidates' runs used in the window;
/// 1:1 when none were measured (and the answer says so).
fn token_mix(cands: &[Scored]) -> (f64, f64, &'static str) {
    let (i, o) = cands.iter().fold((0u64, 0u64), |(i, o), c| {
        (i + c.stats.input_tokens, o + c.stats.output_tokens)
    });
    if i + o == 0 {
        return (0.5, 0.5, "even: no tokens measured in the window");
    }
    let t = (i + o) as f64;
    (i as f64 / t, o as f64 / t, "measured")
}

/// Sets each candidate's score (or a note why it has none); returns whether the balanced score
/// counted cost.
fn score(cands: &mut [Scored], objective: Objective) -> bool {
    for c in cands.iter_mut() {
        c.note = if c.calls() == 0 {
            Some("not measured: no calls in the window".into())
        } else if c.stats.ok_calls == 0 {
            Some("no successful call in the window: no latency".into())
        } else if objective == Objective::Cost && c.price.is_none() {
            Some("no price configured ([[pricing]] or the model's cost)".into())
        } else {
            None
        };
    }
    let eligible = |c: &Scored| c.note.is_none();
    let expected_ms = |c: &Scored| c.p50.unwrap_or(0) as f64 / c.success_rate().unwrap_or(1.0);
    let expected_cost = |c: &Scored| c.blended.unwrap_or(0.0) / c.success_rate().unwrap_or(1.0);
    let scored: Vec<&Scored> = cands.iter().filter(|c| eligible(c)).collect();
    let cost_counted = !scored.is_empty() && scored.iter().all(|c| c.blended.is_some());
    let max_ms = scored.iter().map(|c| expected_ms(c)).fold(0.0, f64::max);
    let max_cost = scored.iter().map(|c| expected_cost(c)).fold(0.0, f64::max);
    for c in cands.iter_mut().filter(|c| c.note.is_none()) {
        c.score = Some(match objective {
            Objective::Latency => c.p50.unwrap_or(0) as f64,
            Objective::Reliability => c.error_rate().unwrap_or(0.0),
            Objective::Cost => c.blended.unwrap_or(0.0),
            Objective::Balanced => {
                let t = if max_ms > 0.0 {
                    expected_ms(c) / max_ms
                } else {
                    0.0
                };
                let k = if cost_counted && max_cost > 0.0 {
                    expected_cost(c) / max_cost
                } else {
                    0.0
                };
                t + k
            }
        });
    }
    cost_counted
}

/// Indexes of `cands`: scored ones best first (ties: fewer errors, more calls, lower p95, name),
/// then measured but unscored, then unmeasured, each in config order.
fn rank(cands: &[Scored], objective: Objective) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..cands.len()).collect();
    let group = |c: &Scored| match (c.score.is_some(), c.calls() > 0) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 2,
    };
    idx.sort_by(|&a, &b| {
        let (x, y) = (&cands[a], &cands[b]);
        group(x).cmp(&group(y)).then_with(|| {
            if group(x) != 0 {
                return a.cmp(&b);
            }
            let s = x.score.unwrap_or(0.0).total_cmp(&y.score.unwrap_or(0.0));
            let tie = x
                .error_rate()
                .unwrap_or(0.0)
                .total_cmp(&y.error_rate().unwrap_or(0.0))
                .then(y.calls().cmp(&x.calls()))
                .then(x.p95.cmp(&y.p95));
            let tie = if objective == Objective::Reliability {
                y.calls().cmp(&x.calls()).then(x.p50.cmp(&y.p50)).then(tie)
            } else {
                tie
            };
            s.then(tie).then(a.cmp(&b))
        })
    });
    idx
}

fn candidate_json(c: &Scored, rank: Option<u64>) -> Value {
    let m = &c.model;
    let s = &c.stats;
    let kinds: Map<String, Value> = s
        .error_kinds
        .iter()
        .map(|(k, n)| (k.clone(), json!(n)))
        .collect();
    let mut v = json!({
        "ref": m.to_string(),
        "provider": m.provider,
        "model": m.model,
        "role": c.role,
        "measured": c.calls() > 0,
        "calls": c.calls(),
        "okCalls": s.ok_calls,
        "errors": s.errors,
        "errorRate": c.error_rate().map(|r| round(r, 4)),
        "errorKinds": kinds,
        "latencyMs": c.p50.map(|p50| json!({
            "p50": p50, "p95": c.p95, "samples": s.latencies_ms.len(),
            "sampleCapped": s.ok_runs > s.latencies_ms.len() as u64,
        })),
        "price": c.price.map(|(i, o)| json!({"inputPerMtok": i, "outputPerMtok": o})),
        "blendedPricePerMtok": c.blended,
        "lastCallAtMs": s.last_ts,
        "score": c.score.map(|x| round(x, 6)),
        "rank": rank,
    });
    if let Some(n) = &c.note {
        v["note"] = json!(n);
    }
    v
}

fn why_chosen(c: &Scored, objective: Objective, scored: usize) -> String {
    let name = c.model.to_string();
    let rate = c.error_rate().unwrap_or(0.0) * 100.0;
    let what = match objective {
        Objective::Latency => format!("the lowest p50 latency ({} ms)", c.p50.unwrap_or(0)),
        Objective::Reliability => format!("the lowest error rate ({rate:.1}%)"),
        Objective::Cost => format!(
            "the lowest blended price ({} USD per 1M tokens)",
            c.blended.unwrap_or(0.0)
        ),
        Objective::Balanced => format!(
            "the best balanced score (p50 {} ms, error rate {rate:.1}%)",
            c.p50.unwrap_or(0)
        ),
    };
    format!(
        "{name}: {what} among {scored} scored candidate(s), over {} call(s)",
        c.calls()
    )
}

fn no_choice(cands: &[Scored], objective: Objective) -> String {
    if cands.is_empty() {
        return "no model is configured ([agent] model or [models.providers.*] models)".into();
    }
    let measured = cands.iter().filter(|c| c.calls() > 0).count();
    if measured == 0 {
        return "no candidate has calls in the window: nothing measured, nothing ranked".into();
    }
    if objective == Objective::Cost && cands.iter().all(|c| c.price.is_none()) {
        return "no candidate has a price ([[pricing]] or the model's cost)".into();
    }
    "no measured candidate has a successful call in the window".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, ok: u64, errors: u64, lat: &[u64], price: Option<(f64, f64)>) -> Scored {
        let mut sorted = lat.to_vec();
        sorted.sort_unstable();
        let model = ModelRef {
            provider: "p".into(),
            model: name.into(),
        };
        Scored {
            stats: ModelStats {
                ok_calls: ok,
                ok_runs: ok,
                errors,
                latencies_ms: lat.to_vec(),
                input_tokens: ok * 30,
                output_tokens: ok * 10,
                ..Default::default()
            },
            price,
            p50: percentile(&sorted, 0.5),
            p95: percentile(&sorted, 0.95),
            ..Scored::new(model, "catalog")
        }
    }

    fn names(c: &[Scored], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| c[i].model.model.clone()).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=20).map(|x| x * 10).collect();
        assert_eq!(percentile(&v, 0.5), Some(100));
        assert_eq!(percentile(&v, 0.95), Some(190));
        assert_eq!(percentile(&[7], 0.95), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn each_objective_ranks_measured_candidates_only() {
        let base = || {
            vec![
                cand("fast-flaky", 5, 5, &[100, 100, 120], Some((1.0, 2.0))),
                cand("slow-solid", 10, 0, &[900, 1000, 1100], Some((0.1, 0.2))),
                cand("never-ok", 0, 4, &[], Some((0.0, 0.0))),
                cand("unmeasured", 0, 0, &[], None),
            ]
        };
        let cases = [
            (Objective::Latency, "fast-flaky"),
            (Objective::Reliability, "slow-solid"),
            (Objective::Cost, "slow-solid"),
            // fast-flaky: 200 ms expected (100 / 0.5) / 1000 + 2.5 USD (1.25 / 0.5) / 2.5 = 1.2;
            // slow-solid: 1000 / 1000 + 0.125 / 2.5 = 1.05.
            (Objective::Balanced, "slow-solid"),
        ];
        for (obj, best) in cases {
            let mut c = base();
            let mix = token_mix(&c);
            for x in &mut c {
                x.blended = x.price.map(|(i, o)| i * mix.0 + o * mix.1);
            }
            let counted = score(&mut c, obj);
            let order = rank(&c, obj);
            let n = names(&c, &order);
            assert_eq!(n[0], best, "{obj:?}: {n:?}");
            assert_eq!(&n[2..], ["never-ok", "unmeasured"], "{obj:?}");
            assert!(c[2].score.is_none() && c[3].score.is_none());
            assert_eq!(
                c[3].note.as_deref(),
                Some("not measured: no calls in the window")
            );
            if obj == Objective::Balanced {
                assert!(counted, "both scored candidates are priced");
            }
        }
    }

    #[test]
    fn balanced_leaves_cost_out_unless_every_scored_candidate_is_priced() {
        let mut c = vec![
            cand("a", 4, 0, &[100], None),
            cand("b", 4, 0, &[300], Some((0.0, 0.0))),
        ];
        assert!(!score(&mut c, Objective::Balanced));
        assert_eq!(c[0].score, Some(100.0 / 300.0));
        assert_eq!(c[1].score, Some(1.0));
        let mut c = vec![cand("a", 4, 0, &[100], None)];
        score(&mut c, Objective::Cost);
        assert!(c[0].score.is_none() && c[0].note.as_deref().unwrap().contains("no price"));
        assert_eq!(
            no_choice(&c, Objective::Cost),
            "no candidate has a price ([[pricing]] or the model's cost)"
        );
    }
}
