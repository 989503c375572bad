//! Tests of the memory tables: bounds, eviction, counters, hostile queries, forgetting.

use super::*;
use crate::memory::vector;
use crate::memory::{RecallOpts, Source};

fn db_at(path: &std::path::Path) -> Db {
    // The memory tables come with the schema (version 5).
    let conn = super::super::schema::open(path, 256).unwrap();
    Db {
        conn,
        limits: super::super::StoreLimits {
            max_sessions: 10,
            max_messages_per_session: 10,
            max_usage_rows: 10,
        },
        session_count: 0,
    }
}

fn tmp_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "oce-memstore-{}",
        crate::ids::hex(&crate::ids::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("m.db")
}

fn db() -> Db {
    db_at(&tmp_path())
}

fn entry(agent: &str, session: &str, text: &str) -> NewEntry {
    NewEntry {
        agent_id: agent.into(),
        session_key: Some(session.into()),
        source: Source::User,
        text: text.into(),
        created_at: None,
    }
}

fn put(d: &Db, text: &str, limits: &MemLimits, now: u64) -> IngestOutcome {
    ingest(d, &entry("a", "s1", text), limits, now).unwrap()
}

fn count(d: &Db, sql: &str) -> i64 {
    d.conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn fts_hits(d: &Db, word: &str) -> i64 {
    d.conn
        .query_row(
            "SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?1",
            [format!("\"{word}\"")],
            |r| r.get(0),
        )
        .unwrap()
}

/// The counters row agrees with the tables (what telemetry reads without scanning).
fn assert_counters(d: &Db, agent: &str) {
    let s = stats(d, agent).unwrap();
    let q = |sql: &str| -> i64 { d.conn.query_row(sql, [agent], |r| r.get(0)).unwrap() };
    assert_eq!(
        s.entries as i64,
        q("SELECT count(*) FROM memory_entries WHERE agent_id = ?1")
    );
    assert_eq!(
        s.bytes as i64,
        q("SELECT coalesce(sum(bytes), 0) FROM memory_entries WHERE agent_id = ?1")
    );
    assert_eq!(
        s.nodes as i64,
        q("SELECT count(*) FROM memory_nodes WHERE agent_id = ?1")
    );
    assert_eq!(
        s.edges as i64,
        q("SELECT count(*) FROM memory_edges WHERE agent_id = ?1")
    );
    assert_eq!(
        s.mentions as i64,
        q(
            "SELECT count(*) FROM memory_mentions m JOIN memory_nodes n ON n.id = m.node_id \
           WHERE n.agent_id = ?1"
        )
    );
}

#[test]
fn eviction_at_the_entry_bound_takes_the_least_recently_recalled_oldest_first() {
    let d = db();
    let lim = MemLimits {
        max_entries: 5,
        ..MemLimits::default()
    };
    let words = ["apple", "banana", "cherry", "damson", "elderberry"];
    let ids: Vec<i64> = words
        .iter()
        .enumerate()
        .map(|(i, w)| put(&d, &format!("I like {w} pie"), &lim, 100 + i as u64).id)
        .collect();
    // Recall the oldest one: it is now the most recently recalled.
    let hits = recall(&d, "a", "apple", &RecallOpts::default(), 200).unwrap();
    assert_eq!(hits[0].id, ids[0]);
    let out = put(&d, "I like fig pie", &lim, 300);
    assert_eq!(out.evicted, 1);
    let left: Vec<i64> = list(&d, "a", 10, None)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert!(left.contains(&ids[0]), "recalled entry kept");
    assert!(
        !left.contains(&ids[1]),
        "oldest never-recalled entry evicted"
    );
    assert_eq!(left.len(), 5);
    assert_eq!(fts_hits(&d, "banana"), 0, "its FTS row went with it");
    assert_eq!(
        count(
            &d,
            &format!(
                "SELECT count(*) FROM memory_mentions WHERE entry_id = {}",
                ids[1]
            )
        ),
        0
    );
    let s = stats(&d, "a").unwrap();
    assert_eq!(
        (s.entries, s.evicted_total, s.last_eviction_at),
        (5, 1, Some(300))
    );
    assert_counters(&d, "a");
}

#[test]
fn eviction_at_the_byte_bound_keeps_bytes_under_it() {
    let d = db();
    let lim = MemLimits {
        max_bytes: 100,
        ..MemLimits::default()
    };
    for i in 0..12u64 {
        let text = format!("entry number {i:02} is 30 bytes...");
        assert_eq!(text.len(), 30);
        put(&d, &text, &lim, i);
        let s = stats(&d, "a").unwrap();
        assert!(s.bytes <= 100, "{} bytes after ingest {i}", s.bytes);
        assert_counters(&d, "a");
    }
    let s = stats(&d, "a").unwrap();
    assert_eq!(s.entries, 3);
    assert_eq!(s.evicted_total, 9);
    let texts: Vec<String> = list(&d, "a", 10, None)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert!(
        texts[0].contains("11") && texts[2].contains("09"),
        "{texts:?}"
    );
}

#[test]
fn eviction_is_incremental_when_the_limit_shrinks() {
    let d = db();
    let big = MemLimits::default();
    for i in 0..30u64 {
        put(&d, &format!("note {i} about topic {i}"), &big, i);
    }
    let small = MemLimits {
        max_entries: 5,
        ..big
    };
    let out = put(&d, "one more note", &small, 100);
    assert_eq!(
        out.evicted, EVICT_PER_INGEST,
        "a handful per ingest, not all at once"
    );
    assert_eq!(
        stats(&d, "a").unwrap().entries,
        31 - EVICT_PER_INGEST as u64
    );
    for i in 0..4u64 {
        put(&d, &format!("later note {i}"), &small, 101 + i);
    }
    assert_eq!(
        stats(&d, "a").unwrap().entries,
        5,
        "converges within a few ingests"
    );
    assert_counters(&d, "a");
}

#[test]
fn hostile_queries_are_never_sql_errors() {
    let d = db();
    put(
        &d,
        "The NEAR field and the star * and a dash - in text",
        &MemLimits::default(),
        1,
    );
    put(
        &d,
        "Biscuit is our cocker spaniel",
        &MemLimits::default(),
        2,
    );
    let long = "a".repeat(20_000);
    let many = "word ".repeat(5_000);
    let hostile = [
        "\"",
        "\"\"",
        "\"unterminated",
        "NEAR(",
        "NEAR(a b",
        "NEAR(\"a\" \"b\", 2)",
        "*",
        "a*b*",
        "-",
        "-biscuit",
        "a - b",
        "AND",
        "OR OR",
        "NOT biscuit",
        "biscuit NOT",
        "text:biscuit",
        "memory_fts:x",
        "{text}: x",
        "^biscuit",
        "(((",
        ")",
        "'",
        "';DROP TABLE memory_entries;--",
        "\0",
        "bis\0cuit",
        "🐶🐶",
        "+",
        ".",
        "rank",
        "bm25(",
        "\"biscuit\" OR \"",
        "a\"b",
        "'\"'",
        &long,
        &many,
        "",
        "   ",
        "the of and",
    ];
    for q in hostile {
        let r = recall(&d, "a", q, &RecallOpts::default(), 10);
        assert!(r.is_ok(), "{q:?}: {r:?}");
        if let Some(f) = fts_query(q) {
            // Only quoted terms joined by OR, optionally with a prefix star.
            for part in f.split(" OR ") {
                let inner = part.trim_end_matches('*');
                assert!(
                    inner.starts_with('"') && inner.ends_with('"'),
                    "{q:?} → {f}"
                );
                assert!(!inner[1..inner.len() - 1].contains('"'), "{q:?} → {f}");
            }
            assert!(f.split(" OR ").count() <= MAX_QUERY_TERMS);
        }
    }
    let hits = recall(&d, "a", "NOT biscuit", &RecallOpts::default(), 10).unwrap();
    assert!(
        hits.iter().any(|h| h.text.contains("Biscuit")),
        "NOT is a plain word here"
    );
    assert_eq!(stats(&d, "a").unwrap().entries, 2, "nothing dropped");
}

#[test]
fn forget_keeps_the_index_mentions_and_counters_in_step() {
    let d = db();
    let lim = MemLimits::default();
    let a = ingest(
        &d,
        &entry("a", "s1", "Dentist appointment with Dr. Lewis on Tuesday"),
        &lim,
        1,
    )
    .unwrap();
    ingest(
        &d,
        &entry("a", "s2", "Biscuit goes to the vet, Dr. Hana Novak"),
        &lim,
        2,
    )
    .unwrap();
    ingest(
        &d,
        &entry("a", "s2", "Pixel the cat eats Felix pouches"),
        &lim,
        3,
    )
    .unwrap();
    ingest(
        &d,
        &entry("b", "s2", "Another agent's dentist note"),
        &lim,
        4,
    )
    .unwrap();
    assert_eq!(fts_hits(&d, "lewis"), 1);
    assert!(
        !forget(&d, "b", a.id).unwrap(),
        "another agent cannot forget it"
    );
    assert!(forget(&d, "a", a.id).unwrap());
    assert!(!forget(&d, "a", a.id).unwrap(), "already gone");
    assert_eq!(fts_hits(&d, "lewis"), 0);
    assert_eq!(fts_hits(&d, "dentist"), 1, "only agent b's entry is left");
    assert!(
        recall(&d, "a", "dentist Lewis", &RecallOpts::default(), 5)
            .unwrap()
            .is_empty()
    );
    assert_counters(&d, "a");
    assert_eq!(forget_session(&d, "a", "s2").unwrap(), 2);
    assert_eq!(fts_hits(&d, "biscuit"), 0);
    assert_eq!(stats(&d, "a").unwrap().entries, 0);
    assert_eq!(stats(&d, "b").unwrap().entries, 1, "other agents untouched");
    assert_counters(&d, "a");
    assert_counters(&d, "b");
}

#[test]
fn node_and_edge_counts_stay_at_their_bounds_and_keep_the_strongest() {
    let d = db();
    let lim = MemLimits {
        max_nodes: 20,
        max_edges: 15,
        ..MemLimits::default()
    };
    let names = [
        "Alder", "Birch", "Cedar", "Damson", "Elm", "Fir", "Gorse", "Hazel", "Ivy", "Juniper",
    ];
    for i in 0..60u64 {
        let a = names[i as usize % names.len()];
        let b = names[(i as usize * 7 + 3) % names.len()];
        let text =
            format!("Biscuit met {a} Person{i} and {b} Visitor{i} at Park{i} about #topic{i}");
        let out = put(&d, &text, &lim, 1000 * i);
        let s = stats(&d, "a").unwrap();
        assert!(s.nodes <= 20 && s.edges <= 15, "after {i}: {s:?} ({out:?})");
    }
    assert_counters(&d, "a");
    // "biscuit" is in every entry: the strongest node, never pruned.
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM memory_nodes WHERE key = 'biscuit'"
        ),
        1
    );
    let hits = recall(&d, "a", "Biscuit", &RecallOpts::default(), 60_000).unwrap();
    assert!(!hits.is_empty());
}

#[test]
fn duplicates_are_touched_and_long_or_empty_texts_handled() {
    let d = db();
    let lim = MemLimits {
        max_entry_bytes: 20,
        ..MemLimits::default()
    };
    let first = put(&d, "Buy oat milk", &lim, 1);
    let again = put(&d, "  buy OAT milk!  ", &lim, 50);
    assert!(again.duplicate && again.id == first.id);
    assert_eq!(stats(&d, "a").unwrap().entries, 1);
    assert_eq!(list(&d, "a", 5, None).unwrap()[0].last_recalled_at, 50);
    let long = put(&d, "ééééééééééééééééééééééé", &lim, 2);
    assert!(long.truncated);
    let e = list(&d, "a", 1, None).unwrap().remove(0);
    assert_eq!(e.text, "éééééééééé", "cut at a character boundary");
    assert!(matches!(
        ingest(&d, &entry("a", "s", "   "), &lim, 3),
        Err(StoreError::Conflict(_))
    ));
    assert_counters(&d, "a");
}

#[test]
fn a_model_switch_re_embeds_lazily_in_batches() {
    let d = db();
    let lim = MemLimits::default();
    for t in [
        "Biscuit is a cocker spaniel",
        "The printer takes TN-2420 toner",
        "Maya loves drawing",
    ] {
        put(&d, t, &lim, 1);
    }
    let batch = needs_embedding(&d, "mini-embed", 2).unwrap();
    assert_eq!(batch.len(), 2);
    // A fake model: the hashed vector reversed (a different space of the same size).
    for (id, text) in &batch {
        let mut v = vector::embed(text);
        v.reverse();
        assert!(set_embedding(&d, *id, "mini-embed", &v).unwrap());
    }
    assert_eq!(needs_embedding(&d, "mini-embed", 10).unwrap().len(), 1);
    let mut q = vector::embed("cocker spaniel");
    q.reverse();
    let hits = recall_with(
        &d,
        "a",
        "cocker spaniel",
        Some(("mini-embed", &q)),
        &RecallOpts::default(),
        5,
    )
    .unwrap();
    assert!(hits[0].text.contains("Biscuit"), "{hits:?}");
    assert!(hits[0].vector_rank.is_some());
    assert!(
        !set_embedding(&d, 999, "mini-embed", &q).unwrap(),
        "no such entry"
    );
    assert!(set_embedding(&d, 1, "m", &[]).is_err());
    assert!(set_embedding(&d, 1, "m", &vec![1; MAX_EMBEDDING_DIMS + 1]).is_err());
}

#[test]
fn list_and_export_page_and_agents_stay_apart() {
    let d = db();
    let lim = MemLimits::default();
    for i in 0..7 {
        put(&d, &format!("fact number {i} about gardening"), &lim, i);
    }
    ingest(&d, &entry("b", "s", "agent b gardening secret"), &lim, 9).unwrap();
    let page1 = list(&d, "a", 3, None).unwrap();
    let page2 = list(&d, "a", 3, Some(page1[2].id)).unwrap();
    assert_eq!(page1.len() + page2.len(), 6);
    assert!(page1[0].id > page2[0].id && page1[0].text.contains('6'));
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let p = export(&d, "a", after, 2).unwrap();
        let Some(last) = p.last() else { break };
        after = last.id;
        all.extend(p);
    }
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        all.iter()
            .all(|e| e.vec_model == vector::MODEL && e.source == "user")
    );
    let hits = recall(&d, "a", "gardening secret", &RecallOpts::default(), 20).unwrap();
    assert!(hits.iter().all(|h| !h.text.contains("agent b")));
    assert!(hits.iter().all(|h| h.score > 0.0 && h.score <= 1.0));
}

#[test]
fn memory_survives_reopening_the_file() {
    let path = tmp_path();
    let lim = MemLimits::default();
    {
        let d = db_at(&path);
        put(&d, "The spare key is with Mrs. Patel at number 14", &lim, 1);
        put(&d, "The boiler is serviced every November", &lim, 2);
    }
    let d = db_at(&path);
    let before = stats(&d, "a").unwrap();
    assert_eq!(before.entries, 2);
    let hits = recall(&d, "a", "where is the spare key", &RecallOpts::default(), 3).unwrap();
    assert!(hits[0].text.contains("Patel"));
    assert_eq!(
        list(&d, "a", 5, None)
            .unwrap()
            .iter()
            .find(|e| e.id == hits[0].id)
            .unwrap()
            .last_recalled_at,
        3
    );
    assert_counters(&d, "a");
}

#[test]
fn the_hot_statements_use_the_intended_plans() {
    let d = db();
    let plan = |sql: &str| -> String {
        let mut st = d
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.join("; ")
    };
    let scan = plan(
        "SELECT id, created_at, vec_model, vec_norm, vec FROM memory_vectors WHERE +agent_id = 'a'",
    );
    assert!(
        scan.starts_with("SCAN memory_vectors") && !scan.contains("INDEX"),
        "{scan}"
    );
    let lazy = plan(
        "SELECT v.id, e.text FROM memory_vectors v JOIN memory_entries e ON e.id = v.id \
         WHERE v.vec_model < 'm' OR v.vec_model > 'm' LIMIT 5",
    );
    assert!(lazy.contains("memory_vectors_model"), "{lazy}");
    let evict = plan(
        "SELECT id, bytes FROM memory_entries WHERE agent_id = 'a' AND id != 1 \
         ORDER BY last_recalled_at, id LIMIT 8",
    );
    assert!(
        evict.contains("memory_entries_evict") && !evict.contains("TEMP B-TREE"),
        "{evict}"
    );
    let weak = plan("SELECT id FROM memory_nodes WHERE agent_id = 'a' ORDER BY strength LIMIT 8");
    assert!(
        weak.contains("memory_nodes_weak") && !weak.contains("TEMP B-TREE"),
        "{weak}"
    );
}

#[test]
fn bm25_candidates_stay_exact_when_another_agent_crowds_the_index() {
    let d = db();
    let lim = MemLimits::default();
    d.conn.execute_batch("BEGIN").unwrap();
    for i in 0..200 {
        let t = format!("gardening gardening gardening tip {i}");
        ingest(&d, &entry("b", "s", &t), &lim, i).unwrap();
    }
    d.conn.execute_batch("COMMIT").unwrap();
    let mine = ingest(
        &d,
        &entry("a", "s", "my gardening notes for the allotment"),
        &lim,
        300,
    )
    .unwrap();
    let opts = RecallOpts {
        candidates: 10,
        ..RecallOpts::default()
    };
    // 200 better-ranked rows of agent b fill the 4× over-fetch: the exact join must run.
    let hits = recall(&d, "a", "gardening", &opts, 400).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].id, mine.id);
    assert_eq!(hits[0].lexical_rank, Some(1));
}
