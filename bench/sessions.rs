//! Sessions benchmark: a gateway holding 10,000 sessions × 20 messages.
//!
//! Seeds the data set into a fresh state dir through the library's store API (`Store::write`,
//! `sessions::ensure`, `messages::append`, 100 sessions per write job) before the gateway starts,
//! then starts `openclaw-edge run` on that dir (edge profile, default config) and measures, with
//! one WebSocket client: `sessions.list {limit:50}` at offset 0, at a deep offset and at random
//! offsets, `chat.history {limit:20}` of random sessions, `sessions.list {search}`, and the
//! server's VmRSS (every 100 calls) and VmHWM. The same is done for a small data set (1,000 × 2)
//! so the p50s can be compared: a call whose cost grew with the stored messages would show it.
//! Prints a Markdown table (figure, both data sets, target, PASS/MISS) and one
//! `BENCH_SESSIONS_JSON {...}` line; exits non-zero only when the harness fails, not on a miss.
//!
//! Usage: `bench/run.sh` (runs it after the gateway bench), or
//! `cargo bench --bench sessions -- --bin PATH [--quick] [--sessions N] [--messages M]
//! [--small-sessions N] [--small-messages M] [--config F] [--bin-note TEXT] [--json-out F]
//! [--keep]`. See `bench/README.md`.
//!
//! Everything is bounded: every loop has a count and a deadline, sockets have read/write
//! timeouts, the server is stopped with SIGTERM (SIGKILL after 5 s) and its temp dir removed.

#![recursion_limit = "256"]

#[path = "common.rs"]
mod common;

use common::*;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openclaw_edge::store::{Store, messages, sessions};
use serde_json::{Value, json};

/// One seeded session: key, creation time, and its messages (role, body, timestamp).
type SeedSession = (String, u64, Vec<(&'static str, Value, u64)>);
/// One timed call: runs a request on the connection and returns what it measured.
type Call<'a> = &'a mut dyn FnMut(&mut Conn, &mut Rng, &mut [usize; 3]) -> R<u64>;

// Data sets.
const BIG_SESSIONS: usize = 10_000;
const QUICK_SESSIONS: usize = 2_000;
const BIG_MESSAGES: usize = 20;
const SMALL_SESSIONS: usize = 1_000;
const SMALL_MESSAGES: usize = 2;
/// Sessions per store write job while seeding.
const SEED_CHUNK: usize = 100;

// Calls.
const PAGE: usize = 50;
const HISTORY_LIMIT: usize = 20;
const LIST_CALLS: usize = 500;
const HISTORY_CALLS: usize = 500;
const SEARCH_CALLS: usize = 100;
const SEARCH: &str = "bench-99";
const WARMUP_CALLS: usize = 50;
/// VmRSS is sampled every this many calls.
const SAMPLE_EVERY: usize = 100;

// Targets (edge profile, default config).
const T_RSS_KIB: u64 = 8 * 1024;
const T_LIST_P99_NS: u64 = 5_000_000;
const T_HISTORY_RATIO: f64 = 2.0;
const T_LIST_RATIO: f64 = 3.0;

fn main() {
    bench_main("sessions", USAGE, OWN_FLAGS, run);
}

const USAGE: &str = "usage: sessions [--bin PATH] [--quick] [--sessions N] [--messages M] \
[--small-sessions N] [--small-messages M] [--config F] [--bin-note TEXT] [--json-out F] [--keep]";
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[
    Own::Path("--config"),
    Own::Num("--sessions", 2 * PAGE, 20_000),
    Own::Num("--messages", 1, 1_000),
    Own::Num("--small-sessions", 2 * PAGE, 20_000),
    Own::Num("--small-messages", 1, 1_000),
];

// ------------------------------------------------------------------------------------------ run

/// One data set: how it was seeded and what the gateway did with it.
#[derive(Debug)]
struct SetResult {
    sessions: usize,
    messages: usize,
    seed: Seeded,
    m: Measured,
}

fn run(f: &Flags) -> R<()> {
    let big = (
        f.num("--sessions").unwrap_or(if f.quick {
            QUICK_SESSIONS
        } else {
            BIG_SESSIONS
        }),
        f.num("--messages").unwrap_or(BIG_MESSAGES),
    );
    let small = (
        f.num("--small-sessions").unwrap_or(SMALL_SESSIONS),
        f.num("--small-messages").unwrap_or(SMALL_MESSAGES),
    );
    let config = f.path("--config");
    let mut run = Run::start("sessions", f, config, "openclaw-edge-bench-sessions")?;
    // The big set shrinks with --quick only when --sessions does not set its size.
    run.info.quick = f.quick && f.num("--sessions").is_none();
    let (bin, root, token) = (&run.bin, &run.root, &run.token);
    eprintln!(
        "sessions bench: binary {}, temp dir {}; data sets {} × {} and {} × {}",
        bin.display(),
        root.display(),
        big.0,
        big.1,
        small.0,
        small.1
    );

    let res = (|| -> R<(SetResult, SetResult)> {
        let (bl, sl) = (big.1.min(HISTORY_LIMIT), small.1.min(HISTORY_LIMIT));
        let same = (sl < bl).then_some(sl);
        let b = one_set(config, bin, &root.join("big"), token, big, same)?;
        let s = one_set(config, bin, &root.join("small"), token, small, None)?;
        Ok((b, s))
    })();
    run.finish(res, "BENCH_SESSIONS_JSON", |info, (big, small)| {
        Report { info, big, small }.render()
    })
}

fn one_set(
    config: Option<&Path>,
    bin: &Path,
    dir: &Path,
    token: &str,
    (n, m): (usize, usize),
    same_limit: Option<usize>,
) -> R<SetResult> {
    let state = dir.join("state");
    eprintln!(
        "sessions bench: seeding {n} sessions × {m} messages into {}",
        state.display()
    );
    let seed = seed(&state, n, m)?;
    eprintln!(
        "sessions bench: seeded in {:.1} s; database {} bytes (+ {} bytes -wal)",
        seed.took.as_secs_f64(),
        seed.db_bytes,
        seed.wal_bytes
    );
    let measured = measure(config, bin, dir, token, n, m, same_limit)?;
    Ok(SetResult {
        sessions: n,
        messages: m,
        seed,
        m: measured,
    })
}

// ----------------------------------------------------------------------------------------- seed

#[derive(Debug)]
struct Seeded {
    took: Duration,
    /// Time from dropping the last `Store` handle to the WAL being folded back and removed.
    close: Duration,
    db_bytes: u64,
    wal_bytes: u64,
    text_bytes: u64,
}

const WORDS: &[&str] = &[
    "the",
    "gateway",
    "session",
    "router",
    "message",
    "reply",
    "agent",
    "please",
    "check",
    "log",
    "disk",
    "memory",
    "schedule",
    "tomorrow",
    "weather",
    "light",
    "kitchen",
    "update",
    "backup",
    "network",
    "sensor",
    "battery",
    "calendar",
    "remind",
    "me",
    "about",
    "and",
    "then",
    "with",
    "small",
    "board",
    "status",
    "today",
    "running",
    "done",
    "could",
    "you",
    "summarize",
    "this",
    "thread",
    "quickly",
    "upstream",
    "config",
    "token",
    "latency",
    "sqlite",
    "index",
    "page",
];

/// A text of 80–200 characters made of words.
fn text(rng: &mut Rng) -> String {
    let want = 80 + rng.below(121);
    let mut s = String::with_capacity(want + 12);
    while s.len() < want {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len())]);
    }
    s.truncate(want);
    s.push('.');
    s
}

fn key(i: usize) -> String {
    format!("agent:main:bench-{i}")
}

/// Writes `n` sessions × `m` messages through the store API, then closes the store.
fn seed(state: &Path, n: usize, m: usize) -> R<Seeded> {
    std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))?;
    let limits = openclaw_edge::config::Limits::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64) << 20 ^ m as u64);
    // Timestamps in the past, one second apart per message, session i newer than session i-1.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let base = now.saturating_sub((n * m) as u64 * 1000 + 3_600_000);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(1800);
    let store = Store::open(state, &limits).map_err(|e| format!("Store::open: {e}"))?;
    let mut text_bytes = 0u64;
    for start in (0..n).step_by(SEED_CHUNK) {
        if Instant::now() > deadline {
            return Err(format!("seeding: deadline passed at session {start}"));
        }
        let end = (start + SEED_CHUNK).min(n);
        let mut batch: Vec<SeedSession> = Vec::with_capacity(end - start);
        for i in start..end {
            let created = base + (i * m) as u64 * 1000;
            let mut msgs = Vec::with_capacity(m);
            for j in 0..m {
                let role = if j % 2 == 0 { "user" } else { "assistant" };
                let ts = created + j as u64 * 1000;
                let t = text(&mut rng);
                text_bytes += t.len() as u64;
                let body = json!({"role": role, "content": [{"type": "text", "text": t}], "timestamp": ts});
                msgs.push((role, body, ts));
            }
            batch.push((key(i), created, msgs));
        }
        let job = store.write(move |db| {
            for (k, created, msgs) in batch.iter() {
                let new = sessions::NewSession {
                    key: k.clone(),
                    agent_id: "main".to_string(),
                    kind: "direct",
                };
                sessions::ensure(db, &new, *created)?;
                for (role, body, ts) in msgs {
                    messages::append(db, k, role, body, None, *ts)?;
                }
            }
            Ok(batch.len())
        });
        smol::block_on(job).map_err(|e| format!("seeding sessions {start}..{end}: {e}"))?;
    }
    let stored = smol::block_on(store.read(|db| Ok(sessions::count(db))))
        .map_err(|e| format!("counting seeded sessions: {e}"))?;
    if stored != n {
        return Err(format!("seeded {n} sessions but the store counts {stored}"));
    }
    let took = t0.elapsed();

    // Dropping the last handle ends the store thread: it checkpoints (TRUNCATE) and closes the
    // connection, and SQLite removes the -wal file on the last close. Wait for that.
    let db = state.join(openclaw_edge::store::schema::DB_FILE);
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let c0 = Instant::now();
    drop(store);
    let end = c0 + Duration::from_secs(30);
    while Instant::now() < end && wal.exists() {
        thread::sleep(Duration::from_millis(20));
    }
    let close = c0.elapsed();
    if wal.exists() {
        eprintln!(
            "sessions bench: note: {} still exists {:.1} s after the store was dropped",
            wal.display(),
            close.as_secs_f64()
        );
    }
    thread::sleep(Duration::from_millis(100));
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Ok(Seeded {
        took,
        close,
        db_bytes: size(&db),
        wal_bytes: size(&wal),
        text_bytes,
    })
}

// -------------------------------------------------------------------------------------- measure

#[derive(Debug)]
struct Measured {
    listen: Duration,
    ready: Duration,
    started: Mem,
    list0: Lat,
    deep_offset: usize,
    list_deep: Lat,
    list_rand: Lat,
    history: Lat,
    /// `chat.history` with the small set's message count as limit: (limit, latencies).
    history_same: Option<(usize, Lat)>,
    search: Lat,
    search_total: usize,
    /// Bytes of the largest response frame (list page, history page, search page).
    frame_max: [usize; 3],
    samples: usize,
    max_rss: u64,
    peak: Mem,
    end: Mem,
    stop: Stop,
}

/// Samples the server's memory every `SAMPLE_EVERY` calls (outside the timed part).
struct Sampler {
    pid: u32,
    calls: usize,
    samples: usize,
    max_rss: u64,
    /// The sample with the highest RSS.
    peak: Mem,
}

impl Sampler {
    fn tick(&mut self) -> R<()> {
        self.calls += 1;
        if self.calls % SAMPLE_EVERY == 0 {
            self.sample()?;
        }
        Ok(())
    }
    fn sample(&mut self) -> R<Mem> {
        let m = mem(self.pid)?;
        self.samples += 1;
        if m.rss > self.max_rss {
            self.max_rss = m.rss;
            self.peak = m;
        }
        Ok(m)
    }
}

fn measure(
    config: Option<&Path>,
    bin: &Path,
    dir: &Path,
    token: &str,
    n: usize,
    m: usize,
    same_limit: Option<usize>,
) -> R<Measured> {
    let mut s = Server::start(bin, config, dir, token)?;
    let (ready, _, mut c) = s.wait_ready(token, Duration::from_secs(5), Duration::from_secs(10))?;
    let listen = s.listen;
    let pid = s.pid;
    eprintln!(
        "sessions bench: server pid {pid} on port {} ({n} × {m}): listening after {:.1} ms, hello-ok after {:.1} ms",
        s.port,
        listen.as_secs_f64() * 1000.0,
        ready.as_secs_f64() * 1000.0
    );
    c.drain_quiet(Duration::from_millis(300), Duration::from_secs(10))?;
    let mut smp = Sampler {
        pid,
        calls: 0,
        samples: 0,
        max_rss: 0,
        peak: Mem::default(),
    };
    let started = smp.sample()?;
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ n as u64);
    let deep_offset = n * 9 / 10;
    let search_want = (0..n).filter(|i| key(*i).contains(SEARCH)).count();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut frame_max = [0usize; 3];

    let res = (|| -> R<_> {
        let list = |c: &mut Conn, offset: usize, fm: &mut [usize; 3]| -> R<u64> {
            let (ns, len, v) =
                c.call_with("sessions.list", json!({"limit": PAGE, "offset": offset}))?;
            fm[0] = fm[0].max(len);
            let want = PAGE.min(n.saturating_sub(offset));
            let got = v["sessions"].as_array().map(Vec::len).unwrap_or(usize::MAX);
            if got != want || v["totalCount"] != json!(n) {
                return Err(format!(
                    "sessions.list offset {offset}: {got} rows (want {want}), totalCount {} (want {n})",
                    v["totalCount"]
                ));
            }
            Ok(ns)
        };
        let hist = |c: &mut Conn, i: usize, limit: usize, fm: &mut [usize; 3]| -> R<u64> {
            let (ns, len, v) = c.call_with(
                "chat.history",
                json!({"sessionKey": key(i), "limit": limit}),
            )?;
            fm[1] = fm[1].max(len);
            let got = v["messages"].as_array().map(Vec::len).unwrap_or(usize::MAX);
            let hist_want = m.min(limit);
            if got != hist_want {
                return Err(format!(
                    "chat.history {}: {got} messages (want {hist_want})",
                    key(i)
                ));
            }
            Ok(ns)
        };
        let check = |i: usize| -> R<()> {
            if Instant::now() > deadline {
                return Err(format!("calls: deadline passed after {i}"));
            }
            Ok(())
        };

        // Warm-up: random pages and random histories (fills SQLite's page cache and the allocator).
        for i in 0..WARMUP_CALLS {
            check(i)?;
            list(&mut c, rng.below(n - PAGE + 1), &mut frame_max)?;
            hist(&mut c, rng.below(n), HISTORY_LIMIT, &mut frame_max)?;
        }
        smp.sample()?;

        let mut timed = |f: Call<'_>,
                         calls: usize,
                         c: &mut Conn,
                         rng: &mut Rng,
                         fm: &mut [usize; 3]|
         -> R<Lat> {
            let mut v = Vec::with_capacity(calls);
            let t0 = Instant::now();
            for i in 0..calls {
                check(i)?;
                v.push(f(c, rng, fm)?);
                smp.tick()?;
            }
            Ok(lat_stats(v, t0.elapsed()))
        };
        let list0 = timed(
            &mut |c, _, fm| list(c, 0, fm),
            LIST_CALLS,
            &mut c,
            &mut rng,
            &mut frame_max,
        )?;
        let list_deep = timed(
            &mut |c, _, fm| list(c, deep_offset, fm),
            LIST_CALLS,
            &mut c,
            &mut rng,
            &mut frame_max,
        )?;
        let list_rand = timed(
            &mut |c, r, fm| list(c, r.below(n - PAGE + 1), fm),
            LIST_CALLS,
            &mut c,
            &mut rng,
            &mut frame_max,
        )?;
        let history = timed(
            &mut |c, r, fm| hist(c, r.below(n), HISTORY_LIMIT, fm),
            HISTORY_CALLS,
            &mut c,
            &mut rng,
            &mut frame_max,
        )?;
        // Same number of messages returned as the small set's history calls (isolates the
        // stored-message count from the size of the answer).
        let history_same = match same_limit {
            Some(l) => Some(timed(
                &mut |c, r, fm| hist(c, r.below(n), l, fm),
                HISTORY_CALLS,
                &mut c,
                &mut rng,
                &mut frame_max,
            )?),
            None => None,
        };
        let search = timed(
            &mut |c, _, fm| {
                let (ns, len, v) =
                    c.call_with("sessions.list", json!({"limit": PAGE, "search": SEARCH}))?;
                fm[2] = fm[2].max(len);
                if v["totalCount"] != json!(search_want) {
                    return Err(format!(
                        "sessions.list search {SEARCH:?}: totalCount {} (want {search_want})",
                        v["totalCount"]
                    ));
                }
                Ok(ns)
            },
            SEARCH_CALLS,
            &mut c,
            &mut rng,
            &mut frame_max,
        )?;
        Ok((list0, list_deep, list_rand, history, history_same, search))
    })();
    drop(c);
    let end = smp.sample();
    let stop = s.stop()?;
    let (list0, list_deep, list_rand, history, history_same, search) = res?;
    let end = end?;
    Ok(Measured {
        listen,
        ready,
        started,
        list0,
        deep_offset,
        list_deep,
        list_rand,
        history,
        history_same: history_same.map(|l| (same_limit.unwrap_or(0), l)),
        search,
        search_total: search_want,
        frame_max,
        samples: smp.samples,
        max_rss: smp.max_rss,
        peak: smp.peak,
        end,
        stop,
    })
}

// ------------------------------------------------------------------------------------ report

struct Report {
    info: RunInfo,
    big: SetResult,
    small: SetResult,
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / (b as f64).max(1.0)
}

impl Report {
    fn render(&self) -> (String, Value) {
        let (b, s) = (&self.big, &self.small);
        let (bm, sm) = (&b.m, &s.m);
        let mut rows = Rows::default();
        let na = "–";
        let set = |r: &SetResult| format!("{} × {}", r.sessions, r.messages);

        rows.info(
            "Data set: sessions × messages (stored messages)",
            format!("{} ({})", set(b), b.sessions * b.messages),
            format!("{} ({})", set(s), s.sessions * s.messages),
        );
        let seed_cell = |r: &SetResult| {
            let per_msg = r.seed.took.as_secs_f64() * 1e6 / (r.sessions * r.messages).max(1) as f64;
            format!(
                "{:.2} s ({per_msg:.0} µs/msg; close {:.0} ms)",
                r.seed.took.as_secs_f64(),
                r.seed.close.as_secs_f64() * 1000.0
            )
        };
        rows.info(
            format!("Seed time (store API, {SEED_CHUNK} sessions per write job)"),
            seed_cell(b),
            seed_cell(s),
        );
        rows.info(
            "Database size (db + -wal after the store closed)",
            bytes_cell(b.seed.db_bytes + b.seed.wal_bytes),
            bytes_cell(s.seed.db_bytes + s.seed.wal_bytes),
        );
        let bpm = |r: &SetResult| {
            format!(
                "{:.0} B (text {:.0} B)",
                (r.seed.db_bytes + r.seed.wal_bytes) as f64 / (r.sessions * r.messages) as f64,
                r.seed.text_bytes as f64 / (r.sessions * r.messages) as f64
            )
        };
        rows.info(
            "Database bytes per stored message (message text alone)",
            bpm(b),
            bpm(s),
        );
        let dur = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        rows.info(
            "exec → `listening` line / first hello-ok",
            format!("{} / {}", dur(bm.listen), dur(bm.ready)),
            format!("{} / {}", dur(sm.listen), dur(sm.ready)),
        );
        let anon_file = |x: &Mem| {
            format!(
                "{} (anon {}, file {})",
                mib(x.rss),
                mib(x.rss_anon),
                mib(x.file)
            )
        };
        rows.info(
            "RSS after start (one conn, before any call)",
            anon_file(&bm.started),
            anon_file(&sm.started),
        );
        let p99_ok = |l: &Lat| l.p99 < T_LIST_P99_NS;
        let list_rows: [(&str, &Lat, &Lat); 3] = [
            ("offset 0", &bm.list0, &sm.list0),
            ("", &bm.list_deep, &sm.list_deep),
            ("random offsets", &bm.list_rand, &sm.list_rand),
        ];
        for (i, (what, lb, ls)) in list_rows.iter().enumerate() {
            let what = if i == 1 {
                format!("offset {} / {}", bm.deep_offset, sm.deep_offset)
            } else {
                what.to_string()
            };
            rows.row(
                format!(
                    "`sessions.list {{limit:{PAGE}}}` {what}, {} calls: p50 / p99 (max)",
                    lb.calls
                ),
                lat_cell(lb),
                lat_cell(ls),
                "p99 < 5 ms",
                verdict(p99_ok(lb)),
            );
        }
        rows.info(
            format!(
                "`chat.history {{limit:{HISTORY_LIMIT}}}` random session, {} calls: p50 / p99 (max)",
                bm.history.calls
            ),
            lat_cell(&bm.history),
            lat_cell(&sm.history),
        );
        if let Some((l, lat)) = &bm.history_same {
            rows.info(
                format!(
                    "`chat.history {{limit:{l}}}` random session (big set; returns as many messages as the small set's calls), {} calls",
                    lat.calls
                ),
                lat_cell(lat),
                na.into(),
            );
        }
        rows.row(
            format!(
                "`sessions.list {{limit:{PAGE}, search:\"{SEARCH}\"}}` ({} / {} matches), {} calls: p50 / p99 (max)",
                bm.search_total, sm.search_total, bm.search.calls
            ),
            lat_cell(&bm.search),
            lat_cell(&sm.search),
            "informational (scans)",
            na,
        );
        let r_hist = ratio(bm.history.p50, sm.history.p50);
        let r_list = ratio(bm.list0.p50, sm.list0.p50);
        let r_deep = ratio(bm.list_deep.p50, sm.list_deep.p50);
        let r_rand = ratio(bm.list_rand.p50, sm.list_rand.p50);
        let msg_x = ratio(
            (b.sessions * b.messages) as u64,
            (s.sessions * s.messages) as u64,
        );
        let ses_x = ratio(b.sessions as u64, s.sessions as u64);
        // Informational: the big set returns 10× the messages per call, and a call may cost
        // what it returns; the target applies to the same-size row below.
        rows.info(
            format!(
                "`chat.history` p50, big ÷ small set ({msg_x:.0}× the messages, {:.0}× per session)",
                b.messages as f64 / s.messages as f64
            ),
            format!("{r_hist:.2}×"),
            format!("{} vs {}", ms(bm.history.p50), ms(sm.history.p50)),
        );
        let r_same = bm
            .history_same
            .as_ref()
            .map(|(_, l)| ratio(l.p50, sm.history.p50));
        if let (Some(r), Some((l, lat))) = (r_same, &bm.history_same) {
            rows.row(
                format!(
                    "`chat.history` p50, same answer size: big set limit {l} ÷ small set ({msg_x:.0}× the messages stored)"
                ),
                format!("{r:.2}×"),
                format!("{} vs {}", ms(lat.p50), ms(sm.history.p50)),
                "≤ 2×",
                verdict(r <= T_HISTORY_RATIO),
            );
        }
        rows.row(
            format!(
                "`sessions.list` offset 0 p50, big ÷ small set (counts sessions: {ses_x:.0}× the sessions)"
            ),
            format!("{r_list:.2}×"),
            format!("{} vs {}", ms(bm.list0.p50), ms(sm.list0.p50)),
            "≤ 3×",
            verdict(r_list <= T_LIST_RATIO),
        );
        rows.info(
            "`sessions.list` deep offset / random offsets p50, big ÷ small set",
            format!("{r_deep:.2}× / {r_rand:.2}×"),
            format!("offset {} vs {}", bm.deep_offset, sm.deep_offset),
        );
        rows.row(
            format!(
                "Max VmRSS during the calls (sampled every {SAMPLE_EVERY} calls: {} / {} samples)",
                bm.samples, sm.samples
            ),
            anon_file(&bm.peak),
            anon_file(&sm.peak),
            "< 8 MiB",
            verdict(bm.max_rss < T_RSS_KIB),
        );
        rows.row(
            format!(
                "VmHWM at the end (highest RSS since exec; threads {} / {})",
                bm.end.threads, sm.end.threads
            ),
            mib(bm.end.hwm),
            mib(sm.end.hwm),
            "< 8 MiB",
            verdict(bm.end.hwm < T_RSS_KIB),
        );
        let frames = |m: &Measured| {
            format!(
                "{:.1} / {:.1} / {:.1} KiB",
                m.frame_max[0] as f64 / 1024.0,
                m.frame_max[1] as f64 / 1024.0,
                m.frame_max[2] as f64 / 1024.0
            )
        };
        rows.info(
            "Largest response frame: list / history / search",
            frames(bm),
            frames(sm),
        );
        let exit_ok = bm.stop.code == Some(0) && sm.stop.code == Some(0);
        rows.row(
            "SIGTERM → exit code",
            stop_cell(&bm.stop),
            stop_cell(&sm.stop),
            "exit 0",
            verdict(exit_ok),
        );

        let mut out = self.info.header("openclaw-edge sessions bench");
        out.push_str(&format!(
            "- data sets: {} (big{}) and {} (small), seeded through the store API before the gateway starts; keys `agent:main:bench-<i>`, user/assistant texts of 80–200 chars\n",
            set(b),
            if self.info.quick {
                format!(", --quick: {QUICK_SESSIONS} sessions instead of {BIG_SESSIONS}")
            } else {
                String::new()
            },
            set(s)
        ));
        out.push_str(&format!(
            "- one client connection, {WARMUP_CALLS} list + {WARMUP_CALLS} history warm-up calls, then the timed calls in the order of the table; latency = send → matching `res` read; server log: {} / {} WARN, {} / {} ERROR lines\n",
            bm.stop.log_warn, sm.stop.log_warn, bm.stop.log_err, sm.stop.log_err
        ));
        out.push('\n');
        let head = [
            "Figure",
            "Big set",
            "Small set",
            "Target (big set)",
            "Status",
        ];
        out.push_str(&markdown_table(head, &rows.0));

        let lat = |l: &Lat| {
            json!({"calls": l.calls, "wall_ms": l.wall.as_secs_f64() * 1000.0,
                   "p50_ms": l.p50 as f64 / 1e6, "p99_ms": l.p99 as f64 / 1e6,
                   "max_ms": l.max as f64 / 1e6})
        };
        let setj = |r: &SetResult| {
            let m = &r.m;
            json!({
                "sessions": r.sessions, "messages_per_session": r.messages,
                "seed_s": r.seed.took.as_secs_f64(), "store_close_ms": r.seed.close.as_secs_f64() * 1000.0,
                "db_bytes": r.seed.db_bytes, "wal_bytes": r.seed.wal_bytes, "text_bytes": r.seed.text_bytes,
                "listen_ms": m.listen.as_secs_f64() * 1000.0, "ready_ms": m.ready.as_secs_f64() * 1000.0,
                "started_rss_kib": m.started.rss,
                "list_offset0": lat(&m.list0), "deep_offset": m.deep_offset, "list_deep": lat(&m.list_deep),
                "list_random": lat(&m.list_rand), "history": lat(&m.history),
                "history_same_size": m.history_same.as_ref().map(|(l, x)| json!({"limit": l, "lat": lat(x)})),
                "started_anon_kib": m.started.rss_anon, "started_file_kib": m.started.file,
                "peak_anon_kib": m.peak.rss_anon, "peak_file_kib": m.peak.file,
                "search": lat(&m.search), "search_matches": m.search_total,
                "max_rss_kib": m.max_rss, "end_hwm_kib": m.end.hwm, "end_rss_kib": m.end.rss,
                "end_threads": m.end.threads, "rss_samples": m.samples,
                "frame_max_bytes": {"list": m.frame_max[0], "history": m.frame_max[1], "search": m.frame_max[2]},
                "exit_code": m.stop.code, "stop_ms": m.stop.took.as_secs_f64() * 1000.0,
                "log_warn": m.stop.log_warn, "log_error": m.stop.log_err,
            })
        };
        let j = self.info.with_json(json!({
            "bench": "sessions",
            "config": self.info.config,
            "big": setj(b), "small": setj(s),
            "ratios": {"history_p50": r_hist, "history_same_size_p50": r_same, "list_offset0_p50": r_list,
                       "list_deep_p50": r_deep, "list_random_p50": r_rand},
            "pass": {
                "rss": bm.max_rss < T_RSS_KIB,
                "hwm": bm.end.hwm < T_RSS_KIB,
                "list_offset0_p99": p99_ok(&bm.list0),
                "list_deep_p99": p99_ok(&bm.list_deep),
                "list_random_p99": p99_ok(&bm.list_rand),
                "history_ratio": r_same.unwrap_or(r_hist) <= T_HISTORY_RATIO,
                "list_ratio": r_list <= T_LIST_RATIO,
                "exit_0": exit_ok,
            }
        }));
        (out, j)
    }
}
