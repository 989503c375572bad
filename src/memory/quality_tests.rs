//! Recall quality on the fixture: recall@5 and MRR overall, per query kind and per signal.
//!
//! `tests/fixtures/memory/facts.jsonl` holds 513 personal-assistant facts over 25 sessions;
//! `queries.jsonl` holds 238 queries, each tagged with its kind (paraphrase, typo, order,
//! partial name) and the facts it should find. Every fact is ingested into a temporary
//! database (session by session, a day apart), every query runs through
//! `store::memory::recall`, and the figures are printed (`--nocapture`) with the single-signal
//! figures beside them so a regression can be traced to its signal.

use std::collections::HashMap;

use super::recall::{Weights, fuse};
use super::{MemLimits, NewEntry, RecallOpts, Source, WEIGHTS};
use crate::store::{Db, StoreLimits, memory as mem, schema};

struct Fact {
    id: String,
    session: String,
    text: String,
}

struct Query {
    query: String,
    expect: Vec<String>,
    kind: String,
}

fn lines(name: &str) -> Vec<serde_json::Value> {
    let path = format!(
        "{}/tests/fixtures/memory/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !v.is_empty(),
        "{path} is empty: the test would pass vacuously"
    );
    v
}

fn load() -> (Vec<Fact>, Vec<Query>) {
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_string();
    let facts = lines("facts.jsonl")
        .iter()
        .map(|v| Fact {
            id: s(v, "id"),
            session: s(v, "session"),
            text: s(v, "text"),
        })
        .collect();
    let queries = lines("queries.jsonl")
        .iter()
        .map(|v| Query {
            query: s(v, "query"),
            expect: v["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect(),
            kind: s(v, "kind"),
        })
        .collect();
    (facts, queries)
}

fn temp_db(tag: &str) -> Db {
    let dir = std::env::temp_dir().join(format!(
        "oce-{tag}-{}",
        crate::ids::hex(&crate::ids::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conn = schema::open(&dir.join("m.db"), 256).unwrap();
    Db {
        conn,
        limits: StoreLimits {
            max_sessions: 10,
            max_messages_per_session: 10,
            max_usage_rows: 10,
        },
        session_count: 0,
    }
}

const DAY_MS: u64 = 24 * 3600 * 1000;
const T0: u64 = 1_700_000_000_000;

/// Ingests the facts (one transaction), session `n` on day `n`; returns entry id → fact id.
fn ingest_all(db: &Db, facts: &[Fact]) -> HashMap<i64, String> {
    let mut sessions: Vec<&str> = Vec::new();
    let mut ids = HashMap::new();
    db.conn.execute_batch("BEGIN").unwrap();
    for (i, f) in facts.iter().enumerate() {
        if !sessions.contains(&f.session.as_str()) {
            sessions.push(&f.session);
        }
        let now = T0 + sessions.len() as u64 * DAY_MS + i as u64 * 60_000;
        let e = NewEntry {
            agent_id: "main".into(),
            session_key: Some(format!("agent:main:{}", f.session)),
            source: Source::User,
            text: f.text.clone(),
            created_at: None,
        };
        let out = mem::ingest(db, &e, &MemLimits::default(), now).unwrap();
        assert!(!out.duplicate, "fixture fact {} is a duplicate", f.id);
        ids.insert(out.id, f.id.clone());
    }
    db.conn.execute_batch("COMMIT").unwrap();
    ids
}

/// Recall@5 (share of expected facts in the top 5, averaged) and MRR (first expected fact,
/// top 10) of ranked results.
#[derive(Default, Clone, Copy)]
struct Score {
    recall5: f64,
    mrr: f64,
    n: usize,
}

impl Score {
    fn add(&mut self, ranked: &[String], expect: &[String]) {
        let found = expect
            .iter()
            .filter(|e| ranked.iter().take(5).any(|r| r == *e))
            .count();
        self.recall5 += found as f64 / expect.len() as f64;
        if let Some(p) = ranked.iter().take(10).position(|r| expect.contains(r)) {
            self.mrr += 1.0 / (p + 1) as f64;
        }
        self.n += 1;
    }

    fn r5(&self) -> f64 {
        self.recall5 / self.n.max(1) as f64
    }

    fn mrr(&self) -> f64 {
        self.mrr / self.n.max(1) as f64
    }
}

const KINDS: [&str; 4] = ["paraphrase", "typo", "order", "partial"];

fn only(lexical: f64, vector: f64, graph: f64) -> Weights {
    Weights {
        lexical,
        vector,
        graph,
        recency: 0.0,
        ..WEIGHTS
    }
}

#[test]
fn recall_quality_on_the_fixture() {
    let (facts, queries) = load();
    assert!(facts.len() >= 500 && queries.len() >= 150);
    let db = temp_db("memq");
    let ids = ingest_all(&db, &facts);
    let now = T0 + 40 * DAY_MS;
    let opts = RecallOpts {
        top_k: 10,
        min_score: 0.0,
        ..RecallOpts::default()
    };
    let configs: [(&str, Weights); 4] = [
        ("fused (defaults)", WEIGHTS),
        ("lexical only", only(1.0, 0.0, 0.0)),
        ("vector only", only(0.0, 1.0, 0.0)),
        ("graph only", only(0.0, 0.0, 1.0)),
    ];
    let mut scores = vec![[Score::default(); 5]; configs.len()];
    let mut misses = Vec::new();
    for q in &queries {
        let hits = mem::recall(&db, "main", &q.query, &opts, now).unwrap();
        let ranked: Vec<String> = hits.iter().map(|h| ids[&h.id].clone()).collect();
        let cands = mem::candidates(&db, "main", &q.query, None, opts.candidates, now).unwrap();
        let kind = KINDS.iter().position(|k| *k == q.kind).expect("known kind");
        for (ci, (_, w)) in configs.iter().enumerate() {
            let r: Vec<String> = fuse(&cands, w, 10, 0.0)
                .iter()
                .map(|s| ids[&s.id].clone())
                .collect();
            if ci == 0 {
                assert_eq!(r, ranked, "recall() and the fused candidates agree");
            }
            scores[ci][0].add(&r, &q.expect);
            scores[ci][kind + 1].add(&r, &q.expect);
        }
        if !q
            .expect
            .iter()
            .any(|e| ranked.iter().take(5).any(|r| r == e))
        {
            misses.push(format!(
                "  [{}] {:?} → {:?}",
                q.kind,
                q.query,
                &ranked[..ranked.len().min(3)]
            ));
        }
    }
    println!(
        "memory recall quality: {} facts, {} queries (recall@5 / MRR@10)",
        facts.len(),
        queries.len()
    );
    println!(
        "  {:<18} {:>13} {:>13} {:>13} {:>13} {:>13}",
        "", "all", "paraphrase", "typo", "order", "partial"
    );
    for (ci, (name, _)) in configs.iter().enumerate() {
        let cells: Vec<String> = scores[ci]
            .iter()
            .map(|s| format!("{:.3} / {:.3}", s.r5(), s.mrr()))
            .collect();
        println!(
            "  {name:<18} {}",
            cells
                .iter()
                .map(|c| format!("{c:>13}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("  misses at 5 ({}):", misses.len());
    for m in &misses {
        println!("{m}");
    }
    // The same queries with the default `min_score`, and off-topic queries that should find
    // (almost) nothing: what `recallMinScore` costs and what it buys.
    let mut gated = Score::default();
    for q in &queries {
        let opts = RecallOpts {
            top_k: 10,
            ..RecallOpts::default()
        };
        let hits = mem::recall(&db, "main", &q.query, &opts, now).unwrap();
        let ranked: Vec<String> = hits.iter().map(|h| ids[&h.id].clone()).collect();
        gated.add(&ranked, &q.expect);
    }
    let mut junk_hits = 0;
    let mut junk_queries = 0;
    for j in OFF_TOPIC {
        let n = mem::recall(&db, "main", j, &RecallOpts::default(), now)
            .unwrap()
            .len();
        junk_hits += n;
        junk_queries += usize::from(n > 0);
    }
    println!(
        "  with min_score {}: {:.3} / {:.3}; off-topic queries with hits: {junk_queries}/{} ({junk_hits} hits)",
        RecallOpts::default().min_score,
        gated.r5(),
        gated.mrr(),
        OFF_TOPIC.len()
    );
    let all = scores[0][0];
    // Thresholds: a little below the figures measured when the parameters were chosen (0.968 /
    // 0.901 ranked, 0.964 / 0.900 with the default min_score; see the `memory` module doc): one
    // query is 0.004 of recall@5, so these fail when about five queries regress, not on one.
    assert!(all.r5() >= 0.945, "recall@5 {:.3}", all.r5());
    assert!(all.mrr() >= 0.875, "MRR {:.3}", all.mrr());
    assert!(
        gated.r5() >= 0.94,
        "recall@5 with min_score {:.3}",
        gated.r5()
    );
    for (k, name) in KINDS.iter().enumerate() {
        let s = scores[0][k + 1];
        assert!(s.r5() >= 0.9, "{name}: recall@5 {:.3}", s.r5());
    }
    assert!(junk_hits <= 45, "off-topic queries found {junk_hits} hits");
}

/// Queries about nothing in the fixture. Some share a word with a fact ("recipe", "autumn") and
/// rightly find it; the rest should come back empty at the default `min_score`.
const OFF_TOPIC: [&str; 20] = [
    "quantum chromodynamics lecture notes",
    "zebra xylophone",
    "how tall is the eiffel tower",
    "what is the capital of mongolia",
    "recipe for beef wellington",
    "latest football transfer rumours",
    "explain kubernetes operators",
    "weather in reykjavik",
    "stock price of nvidia",
    "who won the 1966 world cup",
    "translate hello into swahili",
    "best hiking boots 2024",
    "how do volcanoes form",
    "asdkjh qwpoeiru zmxnb",
    "tell me a joke",
    "write a poem about autumn",
    "what is love",
    "summarise this article for me",
    "fix my python code",
    "how many legs does a spider have",
];
