//! Memory benchmark (issue 7): a gateway whose memory store holds 20,000 entries.
//!
//! Starts `openclaw-edge run` (fresh temp state dir, edge profile, default config) and, over one
//! WebSocket connection (`operator.read` + `operator.write`): times `health` on the empty store,
//! ingests 20,000 generated personal-assistant notes through `memory.import` (≤ 500 entries and
//! ≤ 60 KiB per call, so each request fits the edge profile's 64 KiB frame limit), reads
//! `doctor.memory.status`, times 1,000 `memory.search` calls with varied queries (paraphrases,
//! typos, names from the data, keywords) while a thread samples the server's VmRSS, times `health`
//! again on the full store, and measures the database files. The texts and queries come from a
//! seeded PRNG (`memory_data.rs`), so every run sends the same data. Prints a Markdown table (figure, value, note,
//! target, PASS/MISS) and one `BENCH_MEMORY_JSON {...}` line; exits non-zero only when the
//! harness fails (a server that does not start, a call that errors, a deadline), not on a miss.
//!
//! Usage: `bench/run.sh --memory-only`, or `cargo bench --bench memory -- --bin PATH [--quick]
//! [--entries N] [--recalls N] [--batch N] [--config F] [--bin-note TEXT] [--json-out F]
//! [--keep]`. See `bench/README.md`.
//!
//! Everything is bounded: every loop has a count and a deadline, sockets have read/write
//! timeouts, the server is stopped with SIGTERM (SIGKILL after 5 s) and its temp dir removed.

#![recursion_limit = "256"]

#[path = "common.rs"]
mod common;
#[path = "memory_data.rs"]
mod data;

use common::*;
use data::{KINDS, Kind, Query, SESSIONS, SPAN_DAYS};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openclaw_edge::store::schema::DB_FILE;
use serde_json::{Value, json};

// Data (see `memory_data.rs`).
const ENTRIES: usize = 20_000;
const QUICK_ENTRIES: usize = 5_000;

// Calls.
/// Most entries per `memory.import` (the method's own cap, `rpc::memory::MAX_PAGE`).
const IMPORT_MAX: usize = 500;
/// Most bytes of one `memory.import` request: the edge profile reads frames of at most
/// `max_frame_bytes` = 64 KiB and the client sends a message as one frame.
const IMPORT_MAX_BYTES: usize = 60 * 1024;
const HEALTH_CALLS: usize = 500;
const HEALTH_WARMUP: usize = 50;
const RECALLS: usize = 1_000;
const QUICK_RECALLS: usize = 300;
const RECALL_WARMUP: usize = 20;
/// VmRSS is sampled this often by a thread, during the import and during the recall load.
const SAMPLE_MS: u64 = 20;
/// Socket read/write timeout (an import call runs hundreds of ingests on the store thread).
const IO: Duration = Duration::from_secs(60);
/// The whole run (generation to SIGTERM).
const DEADLINE: Duration = Duration::from_secs(1800);

// Targets (edge profile, x86).
const T_RECALL_P99_NS: u64 = 25_000_000;
const T_RSS_KIB: u64 = 8 * 1024;
const T_HEALTH_DIFF_NS: u64 = 1_000_000;

fn main() {
    bench_main("memory", USAGE, OWN_FLAGS, run);
}

const USAGE: &str = "usage: memory [--bin PATH] [--quick] [--entries N] [--recalls N] [--batch N] \
[--config F] [--bin-note TEXT] [--json-out F] [--keep]";
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[
    Own::Path("--config"),
    Own::Num("--entries", 100, 100_000),
    Own::Num("--recalls", 10, 100_000),
    Own::Num("--batch", 1, IMPORT_MAX),
];

fn run(f: &Flags) -> R<()> {
    let n = f
        .num("--entries")
        .unwrap_or(if f.quick { QUICK_ENTRIES } else { ENTRIES });
    let recalls = f
        .num("--recalls")
        .unwrap_or(if f.quick { QUICK_RECALLS } else { RECALLS });
    let batch = f.num("--batch").unwrap_or(IMPORT_MAX);
    let config = f.path("--config");
    let run = Run::start("memory", f, config, "openclaw-edge-bench-memory")?;
    eprintln!(
        "memory bench: binary {}, temp dir {}; {n} entries ({batch} per import call at most), {recalls} recalls",
        run.bin.display(),
        run.root.display(),
    );
    let res = measure(config, &run.bin, &run.root, &run.token, n, recalls, batch);
    run.finish(res, "BENCH_MEMORY_JSON", |info, m| {
        Report { info, m }.render()
    })
}

// ---------------------------------------------------------------------------------- measure

/// What one kind of query got: calls, answers without a hit, answers whose hits contain the
/// expected word.
#[derive(Debug, Default, Clone, Copy)]
struct Found {
    calls: usize,
    empty: usize,
    expected: usize,
}

/// Sizes of the database files (bytes): db, -wal, -shm.
#[derive(Debug, Default, Clone, Copy)]
struct DbSize {
    db: u64,
    wal: u64,
    shm: u64,
}

impl DbSize {
    fn read(state: &Path) -> DbSize {
        let db = state.join(DB_FILE);
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        DbSize {
            db: size(db.clone()),
            wal: size(PathBuf::from(format!("{}-wal", db.display()))),
            shm: size(PathBuf::from(format!("{}-shm", db.display()))),
        }
    }
    fn total(&self) -> u64 {
        self.db + self.wal + self.shm
    }
}

/// `doctor.memory.status` counters.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    entries: u64,
    bytes: u64,
    nodes: u64,
    edges: u64,
    mentions: u64,
    evicted: u64,
    /// Vectors not (yet) from the configured model (`pendingVectors`; 0 with hashed vectors).
    pending: u64,
}

fn status(c: &mut Conn) -> R<Counts> {
    let (_, _, v) = c.call_with("doctor.memory.status", json!({}))?;
    let g = |k: &str| v[k].as_u64().unwrap_or(0);
    if !v["entries"].is_u64() {
        return Err(format!(
            "doctor.memory.status: no entries count in {}",
            clip(&v.to_string())
        ));
    }
    Ok(Counts {
        entries: g("entries"),
        bytes: g("bytes"),
        nodes: g("nodes"),
        edges: g("edges"),
        mentions: g("mentions"),
        evicted: g("evictedTotal"),
        pending: g("pendingVectors"),
    })
}

/// Everything measured while the server ran.
#[derive(Debug)]
struct Loaded {
    entries: usize,
    text_bytes: u64,
    text_min: usize,
    text_max: usize,
    regenerated: usize,
    listen: Duration,
    ready: Duration,
    started: Mem,
    health_empty: Lat,
    /// `memory.import` calls: per-call latency, wall time of all calls, entries per call.
    import: Lat,
    import_wall: Duration,
    import_batch_max: usize,
    import_frame_max: usize,
    /// Sums of the import answers: imported, duplicates, truncated, evicted.
    import_sums: [u64; 4],
    ingest_samples: Samples,
    after_ingest: Mem,
    ingest_cpu_ms: f64,
    counts: Counts,
    recall: Lat,
    recall_frame_max: usize,
    found: Vec<(Kind, Found)>,
    recall_samples: Samples,
    recall_cpu_ms: f64,
    after_recall: Mem,
    health_full: Lat,
    /// `agentMemory.entries` of one `status` answer after the timed `health` calls.
    health_entries: Option<u64>,
    end: Mem,
    db_running: DbSize,
    events: Ev,
}

#[derive(Debug)]
struct Measured {
    l: Loaded,
    /// The files after the server exited.
    db_stopped: DbSize,
    stop: Stop,
}

fn measure(
    config: Option<&Path>,
    bin: &Path,
    root: &Path,
    token: &str,
    n: usize,
    recalls: usize,
    batch: usize,
) -> R<Measured> {
    let deadline = Instant::now() + DEADLINE;
    let check = |what: &str, i: usize| -> R<()> {
        if Instant::now() > deadline {
            return Err(format!("{what}: deadline passed after {i}"));
        }
        Ok(())
    };
    let notes = data::generate(n)?;
    let qs = data::queries(RECALL_WARMUP + recalls, &notes.surnames);
    let dir = root.join("server");
    let mut s = Server::start(bin, config, &dir, token)?;
    let (ready, _, first) = s.wait_ready(token, Duration::from_secs(5), Duration::from_secs(10))?;
    drop(first);
    let pid = s.pid;
    eprintln!(
        "memory bench: server pid {pid} on port {}: listening after {:.1} ms, hello-ok after {:.1} ms",
        s.port,
        s.listen.as_secs_f64() * 1000.0,
        ready.as_secs_f64() * 1000.0
    );
    let tck = clk_tck().max(1) as f64;
    let cpu_ms = |t0: u64| -> R<f64> { Ok((cpu_ticks(pid)? - t0) as f64 * 1000.0 / tck) };

    let res = (|| -> R<Loaded> {
        let mut c = Conn::open_scoped(s.port, token, IO, &["operator.read", "operator.write"])?;
        c.drain_quiet(Duration::from_millis(300), IO)?;
        let started = mem(pid)?;
        let empty = status(&mut c)?;
        if empty.entries != 0 {
            return Err(format!(
                "a fresh state dir holds {} memory entries",
                empty.entries
            ));
        }

        // 1. health on the empty store.
        timed_calls(&mut c, "health", HEALTH_WARMUP, deadline)?;
        let health_empty = timed_calls(&mut c, "health", HEALTH_CALLS, deadline)?;

        // 2. ingest: batches of ≤ `batch` entries and ≤ IMPORT_MAX_BYTES per request.
        eprintln!("memory bench: importing {n} entries");
        let sampler = Sampler::start(pid, Duration::from_millis(SAMPLE_MS), DEADLINE, None);
        let cpu0 = cpu_ticks(pid)?;
        let mut lat = Vec::with_capacity(n / batch + 1);
        let (mut sums, mut batch_max, mut frame_max) = ([0u64; 4], 0, 0);
        let mut next = 0;
        let t0 = Instant::now();
        for call in 0..n {
            if next >= n {
                break;
            }
            check("memory.import", call)?;
            let mut part = Vec::with_capacity(batch);
            let mut bytes = 128;
            while next < n && part.len() < batch {
                let e = &notes.entries[next];
                let len = e.to_string().len() + 1;
                if !part.is_empty() && bytes + len > IMPORT_MAX_BYTES {
                    break;
                }
                bytes += len;
                part.push(e);
                next += 1;
            }
            let params = json!({"entries": part});
            frame_max = frame_max.max(params.to_string().len());
            let (ns, len, v) = c.call_with("memory.import", params)?;
            lat.push(ns);
            batch_max = batch_max.max(part.len());
            for (i, k) in ["imported", "duplicates", "truncated", "evicted"]
                .iter()
                .enumerate()
            {
                sums[i] += v[k].as_u64().unwrap_or(0);
            }
            let got = v["imported"].as_u64().unwrap_or(0) + v["duplicates"].as_u64().unwrap_or(0);
            if got != part.len() as u64 {
                return Err(format!(
                    "memory.import of {} entries answered {} ({len} bytes)",
                    part.len(),
                    clip(&v.to_string())
                ));
            }
        }
        let import_wall = t0.elapsed();
        let ingest_cpu_ms = cpu_ms(cpu0)?;
        let ingest_samples = sampler.finish();
        let after_ingest = mem(pid)?;
        let import = lat_stats(lat, import_wall);
        let counts = status(&mut c)?;
        eprintln!(
            "memory bench: imported in {:.1} s ({} calls); store: {} entries, {} nodes, {} edges",
            import_wall.as_secs_f64(),
            import.calls,
            counts.entries,
            counts.nodes,
            counts.edges
        );

        // 3. recall load.
        let mut found: Vec<(Kind, Found)> = KINDS.iter().map(|&k| (k, Found::default())).collect();
        let mut recall_frame_max = 0;
        let mut search = |c: &mut Conn, q: &Query| -> R<(u64, usize, bool)> {
            let (ns, len, v) = c.call_with("memory.search", json!({"query": q.text}))?;
            recall_frame_max = recall_frame_max.max(len);
            let hits = v["results"]
                .as_array()
                .ok_or_else(|| format!("memory.search {:?}: no results array", q.text))?;
            let expected = hits.iter().any(|h| {
                h["text"]
                    .as_str()
                    .is_some_and(|t| t.to_lowercase().contains(&q.expect))
            });
            Ok((ns, hits.len(), expected))
        };
        for (i, q) in qs.iter().take(RECALL_WARMUP).enumerate() {
            check("recall warm-up", i)?;
            search(&mut c, q)?;
        }
        let sampler = Sampler::start(pid, Duration::from_millis(SAMPLE_MS), DEADLINE, None);
        let cpu0 = cpu_ticks(pid)?;
        let mut lat = Vec::with_capacity(recalls);
        let t0 = Instant::now();
        for (i, q) in qs.iter().skip(RECALL_WARMUP).enumerate() {
            check("memory.search", i)?;
            let (ns, hits, expected) = search(&mut c, q)?;
            lat.push(ns);
            if let Some((_, f)) = found.iter_mut().find(|(k, _)| *k == q.kind) {
                f.calls += 1;
                f.empty += usize::from(hits == 0);
                f.expected += usize::from(expected);
            }
        }
        let recall = lat_stats(lat, t0.elapsed());
        let recall_cpu_ms = cpu_ms(cpu0)?;
        let recall_samples = sampler.finish();
        let after_recall = mem(pid)?;

        // 4. health on the full store, then the files.
        timed_calls(&mut c, "health", HEALTH_WARMUP, deadline)?;
        let health_full = timed_calls(&mut c, "health", HEALTH_CALLS, deadline)?;
        let (_, _, h) = c.call_with("status", json!({}))?;
        let health_entries = h["agentMemory"]["entries"].as_u64();
        let end = mem(pid)?;
        let db_running = DbSize::read(&dir.join("state"));
        Ok(Loaded {
            entries: n,
            text_bytes: notes.text_bytes,
            text_min: notes.text_min,
            text_max: notes.text_max,
            regenerated: notes.regenerated,
            listen: s.listen,
            ready,
            started,
            health_empty,
            import,
            import_wall,
            import_batch_max: batch_max,
            import_frame_max: frame_max,
            import_sums: sums,
            ingest_samples,
            after_ingest,
            ingest_cpu_ms,
            counts,
            recall,
            recall_frame_max,
            found,
            recall_samples,
            recall_cpu_ms,
            after_recall,
            health_full,
            health_entries,
            end,
            db_running,
            events: c.ev,
        })
    })();
    let stop = s.stop()?;
    Ok(Measured {
        l: res?,
        db_stopped: DbSize::read(&dir.join("state")),
        stop,
    })
}

// ----------------------------------------------------------------------------------- report

struct Report {
    info: RunInfo,
    m: Measured,
}

impl Report {
    fn render(&self) -> (String, Value) {
        let (m, db_stopped, stop) = (&self.m.l, &self.m.db_stopped, &self.m.stop);
        let mut rows = Rows::default();
        let n = m.entries;

        rows.info(
            "Entries generated (text bytes: mean / min / max)",
            format!("{n}"),
            format!(
                "{:.0} / {} / {} B, {SESSIONS} sessions, times over {SPAN_DAYS} days",
                m.text_bytes as f64 / n.max(1) as f64,
                m.text_min,
                m.text_max
            ),
        );
        let rate = n as f64 / m.import_wall.as_secs_f64().max(1e-9);
        rows.info(
            "Ingest rate (`memory.import`, entries / wall time of the calls)",
            format!("{rate:.0} entries/s"),
            format!(
                "{:.2} s for {} calls of ≤ {} entries (≤ {:.1} KiB each)",
                m.import_wall.as_secs_f64(),
                m.import.calls,
                m.import_batch_max,
                m.import_frame_max as f64 / 1024.0
            ),
        );
        rows.info(
            "`memory.import` call: p50 / p99 (max)",
            lat_cell(&m.import),
            format!(
                "server CPU {:.0} ms ({:.0} µs per entry)",
                m.ingest_cpu_ms,
                m.ingest_cpu_ms * 1000.0 / n.max(1) as f64
            ),
        );
        let [imported, dups, cut, evicted] = m.import_sums;
        rows.info(
            "Import answers: imported / duplicates / truncated / evicted",
            format!("{imported} / {dups} / {cut} / {evicted}"),
            "sums over the calls".into(),
        );
        let k = &m.counts;
        rows.row(
            "`doctor.memory.status` entries",
            format!("{}", k.entries),
            format!(
                "{} text bytes; {} nodes, {} edges, {} mentions; {} evicted; {} pending vectors",
                k.bytes, k.nodes, k.edges, k.mentions, k.evicted, k.pending
            ),
            &format!("= {n}"),
            verdict(k.entries == n as u64),
        );
        let empty: usize = m.found.iter().map(|(_, f)| f.empty).sum();
        let expected: usize = m.found.iter().map(|(_, f)| f.expected).sum();
        rows.row(
            format!(
                "`memory.search` at {} entries, {} calls: p50 / p99 (max)",
                k.entries, m.recall.calls
            ),
            lat_cell(&m.recall),
            format!(
                "{:.0} calls/s; server CPU {:.2} ms per call",
                m.recall.calls as f64 / m.recall.wall.as_secs_f64().max(1e-9),
                m.recall_cpu_ms / m.recall.calls.max(1) as f64
            ),
            "p99 ≤ 25 ms",
            verdict(m.recall.p99 <= T_RECALL_P99_NS),
        );
        // "paraphrase 0/411, typo 0/247, …": the count `f` picks per kind of query.
        let by_kind = |f: fn(&Found) -> usize| {
            m.found
                .iter()
                .map(|(k, x)| format!("{} {}/{}", k.as_str(), f(x), x.calls))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.info(
            "`memory.search` answers with no result",
            format!("{empty} of {}", m.recall.calls),
            by_kind(|f| f.empty),
        );
        rows.info(
            "`memory.search` answers with the query's topic or name in a hit",
            format!("{expected} of {}", m.recall.calls),
            by_kind(|f| f.expected),
        );
        rows.row(
            format!(
                "Max VmRSS during the recall load (sampled every {SAMPLE_MS} ms: {} samples)",
                m.recall_samples.n
            ),
            mib(m.recall_samples.peak.rss),
            mem_split(&m.recall_samples.peak),
            "≤ 8 MiB",
            verdict(m.recall_samples.peak.rss <= T_RSS_KIB),
        );
        rows.info(
            format!(
                "Max VmRSS during the import ({} samples) / VmHWM after it",
                m.ingest_samples.n
            ),
            format!(
                "{} / {}",
                mib(m.ingest_samples.peak.rss),
                mib(m.after_ingest.hwm)
            ),
            mem_split(&m.ingest_samples.peak),
        );
        rows.info(
            "VmHWM at the end (highest RSS since exec)",
            mib(m.end.hwm),
            format!(
                "RSS at start {}; after the recalls {}",
                mib(m.started.rss),
                mem_split(&m.after_recall)
            ),
        );
        rows.info(
            format!(
                "`health` on the empty store, {} calls: p50 / p99 (max)",
                m.health_empty.calls
            ),
            lat_cell(&m.health_empty),
            "baseline".into(),
        );
        let diff = m.health_full.p99 as i64 - m.health_empty.p99 as i64;
        let health_ok = diff.unsigned_abs() <= T_HEALTH_DIFF_NS;
        rows.row(
            format!(
                "`health` at {} entries, {} calls: p50 / p99 (max)",
                k.entries, m.health_full.calls
            ),
            lat_cell(&m.health_full),
            format!(
                "p99 {:+.3} ms against the empty store; `status.agentMemory.entries`: {}",
                diff as f64 / 1e6,
                m.health_entries
                    .map_or_else(|| "missing".to_string(), |e| e.to_string())
            ),
            "p99 within ±1 ms",
            verdict(health_ok),
        );
        let d = &m.db_running;
        rows.info(
            "Database after the load (db + -wal + -shm, server running)",
            bytes_cell(d.total()),
            format!(
                "db {} B, -wal {} B, -shm {} B; {:.0} B per entry",
                d.db,
                d.wal,
                d.shm,
                d.total() as f64 / k.entries.max(1) as f64
            ),
        );
        let d = db_stopped;
        rows.info(
            "Database after SIGTERM (WAL folded back)",
            bytes_cell(d.total()),
            format!(
                "db {} B, -wal {} B, -shm {} B; {:.0} B per entry",
                d.db,
                d.wal,
                d.shm,
                d.total() as f64 / k.entries.max(1) as f64
            ),
        );
        let dur = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        rows.info(
            "exec → `listening` line / first hello-ok",
            format!("{} / {}", dur(m.listen), dur(m.ready)),
            String::new(),
        );
        rows.row(
            "SIGTERM → exit code",
            stop_cell(stop),
            format!(
                "server log: {} WARN, {} ERROR lines",
                stop.log_warn, stop.log_err
            ),
            "exit 0",
            verdict(stop.code == Some(0)),
        );

        let mut out = self.info.header("openclaw-edge memory bench");
        out.push_str(&format!(
            "- data: {n} generated notes{} (seeded PRNG: names, places, times, topics in ten shapes), \
             imported through `memory.import`; {} texts were generated again (repeat or size)\n",
            if self.info.quick {
                format!(" (--quick: {QUICK_ENTRIES} instead of {ENTRIES})")
            } else {
                String::new()
            },
            m.regenerated
        ));
        out.push_str(&format!(
            "- one client connection (read + write scopes), one request at a time; latency = send → matching `res` read; \
             {HEALTH_WARMUP} untimed `health` before each `health` phase, {RECALL_WARMUP} untimed searches before the recall load; \
             events skipped: {} ({} B)\n",
            m.events.n, m.events.bytes
        ));
        out.push('\n');
        out.push_str(&markdown_table(
            ["Figure", "Value", "Note", "Target", "Status"],
            &rows.0,
        ));

        let lat = |l: &Lat| {
            json!({"calls": l.calls, "wall_ms": l.wall.as_secs_f64() * 1000.0,
                   "p50_ms": l.p50 as f64 / 1e6, "p99_ms": l.p99 as f64 / 1e6,
                   "max_ms": l.max as f64 / 1e6})
        };
        let memj = |x: &Mem| {
            json!({"rss_kib": x.rss, "hwm_kib": x.hwm, "rss_anon_kib": x.rss_anon,
                   "file_kib": x.file, "threads": x.threads})
        };
        let dbj = |d: &DbSize| json!({"db": d.db, "wal": d.wal, "shm": d.shm, "total": d.total()});
        let found: serde_json::Map<String, Value> = m
            .found
            .iter()
            .map(|(k, f)| {
                (
                    k.as_str().to_string(),
                    json!({"calls": f.calls, "empty": f.empty, "expected_in_hits": f.expected}),
                )
            })
            .collect();
        let j = self.info.with_json(json!({
            "bench": "memory",
            "config": self.info.config,
            "entries": n, "sessions": SESSIONS, "text_bytes": m.text_bytes,
            "text_min": m.text_min, "text_max": m.text_max, "regenerated": m.regenerated,
            "listen_ms": m.listen.as_secs_f64() * 1000.0, "ready_ms": m.ready.as_secs_f64() * 1000.0,
            "started": memj(&m.started),
            "health_empty": lat(&m.health_empty),
            "ingest": {"entries_per_s": rate, "wall_ms": m.import_wall.as_secs_f64() * 1000.0,
                       "calls": lat(&m.import), "batch_max": m.import_batch_max,
                       "request_max_bytes": m.import_frame_max,
                       "imported": imported, "duplicates": dups, "truncated": cut, "evicted": evicted,
                       "server_cpu_ms": m.ingest_cpu_ms, "max_rss": memj(&m.ingest_samples.peak),
                       "rss_samples": m.ingest_samples.n, "after": memj(&m.after_ingest)},
            "store": {"entries": k.entries, "bytes": k.bytes, "nodes": k.nodes, "edges": k.edges,
                      "mentions": k.mentions, "evicted_total": k.evicted,
                      "pending_vectors": k.pending},
            "recall": {"lat": lat(&m.recall), "empty": empty, "expected_in_hits": expected,
                       "by_kind": found, "frame_max_bytes": m.recall_frame_max,
                       "server_cpu_ms": m.recall_cpu_ms, "max_rss": memj(&m.recall_samples.peak),
                       "rss_samples": m.recall_samples.n, "after": memj(&m.after_recall)},
            "health_full": lat(&m.health_full), "health_agent_memory_entries": m.health_entries,
            "health_p99_diff_ms": diff as f64 / 1e6,
            "end": memj(&m.end),
            "db_running": dbj(&m.db_running), "db_stopped": dbj(db_stopped),
            "exit_code": stop.code, "stop_ms": stop.took.as_secs_f64() * 1000.0,
            "log_warn": stop.log_warn, "log_error": stop.log_err,
            "pass": {
                "entries": k.entries == n as u64,
                "recall_p99": m.recall.p99 <= T_RECALL_P99_NS,
                "rss_during_recall": m.recall_samples.peak.rss <= T_RSS_KIB,
                "health_p99": health_ok,
                "exit_0": stop.code == Some(0),
            }
        }));
        (out, j)
    }
}
