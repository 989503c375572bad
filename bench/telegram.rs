//! Telegram bench: the bridge idle in long poll, and a burst of updates from many chats.
//!
//! Runs the std-only fake Telegram Bot API server (`tests/common/telegram.rs`) and the fake
//! OpenAI chat-completions server (`tests/common/openai.rs`) of the tests inside this process and
//! points `openclaw-edge run` at them (`[agent] model = "fake/m"`, `[models.providers.fake]
//! baseUrl = …`, `[channels.telegram] enabled = true, apiBaseUrl = <fake>`). Every server gets a
//! fresh process and state dir, the edge profile (no `profile` key) and the same config apart from
//! what a scenario changes:
//!
//! 1. Idle: the config without a `[channels.telegram]` table, then the same with the bridge on
//!    (`pollTimeoutSecs = 25`). After `hello-ok` (and, with the bridge, once the fake sees a
//!    `getUpdates` waiting) the bench waits 5 s (`--quick`: 3 s), then reads `/proc/PID/status`
//!    and `smaps_rollup` 5 times 1 s apart, checking each time with the bridge that exactly one
//!    long poll is waiting on the fake. VmRSS / RssAnon / Pss_Anon (medians), threads per reading
//!    and their names, and what the bridge adds. Target (edge): ≤ 1 MiB VmRSS and ≤ 1 thread
//!    added, threads judged at the last reading (past `blocking_idle_ms`, so a pool worker left
//!    from start-up has exited) and as the most non-pool threads seen.
//! 2. Burst: the bridge on, `allowFrom` = 100 private chats (ids 100001..100100), the fake provider
//!    answering `echo: <text>`. With the gateway idle in long poll, 1,000 text updates (10 per
//!    chat, interleaved: round 0 of every chat, then round 1, …) are queued on the fake in one go
//!    (`--quick`: 20 chats × 10). Time from the first update queued to the last reply seen by the
//!    fake; every update must get exactly one `sendMessage` replying to it with `echo: <text>`
//!    (checked 2 s after the last one arrived, so late duplicates count). VmRSS sampled every
//!    50 ms, VmHWM at the end. Run twice: with the edge limits (`telegram_send_per_sec = 20`,
//!    `telegram_chat_interval_ms = 1000`, `telegram_inflight = 4`: Telegram's politeness budget
//!    bounds the drain) and with `[limits] telegram_send_per_sec = 1000, telegram_chat_interval_ms
//!    = 0` (the bridge itself).
//!
//! Prints two Markdown tables and one `BENCH_TELEGRAM_JSON {...}` line. Exits non-zero when the
//! harness fails (a server that does not start, a bridge that never polls, a burst not answered
//! within 300 s) and, after printing the report, when a burst reply was missing, duplicated or
//! wrong; a missed idle target only shows as MISS.
//!
//! `--repeat N` queues the burst N times one after the other on the same server (each once the
//! previous one is answered) and reports VmRSS / RssAnon 2 s after each: whether memory comes
//! back to a plateau after a burst (timings stay the first burst's).
//!
//! Usage: `bench/run.sh --telegram-only`, or `cargo bench --bench telegram -- --bin PATH [--quick]
//! [--chats N] [--per-chat N] [--repeat N] [--bin-note TEXT] [--json-out F] [--keep]`. See
//! `bench/README.md`.
//!
//! Everything is bounded: every loop has a count and a deadline, the server is stopped with
//! SIGTERM (SIGKILL after 5 s) and its temp dir removed; the fakes listen on 127.0.0.1.

#[path = "common.rs"]
mod common;
#[path = "../tests/common/openai.rs"]
mod openai;
#[path = "../tests/common/telegram.rs"]
mod telegram;

use common::*;
use openai::FakeOpenAi;
use telegram::FakeTelegram;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

// Scenarios.
/// The fake bot's token (the digits before `:` are the bot's user id on the fake).
const BOT_TOKEN: &str = "123456789:AAHbenchBenchBenchBenchBenchBenchBen";
/// `pollTimeoutSecs` of every bridge: long enough that the idle window sees one waiting poll.
const POLL_TIMEOUT_SECS: u64 = 25;
/// The first chat id (private chats, the user id is the chat id).
const FIRST_CHAT: i64 = 100_001;
#[derive(Clone, Copy)]
struct Size {
    /// Burst: chats × updates per chat.
    chats: usize,
    per_chat: usize,
    /// Idle: wait after ready before the first sample.
    settle: Duration,
}
const FULL: Size = Size {
    chats: 100,
    per_chat: 10,
    settle: Duration::from_secs(5),
};
const QUICK: Size = Size {
    chats: 20,
    per_chat: 10,
    settle: Duration::from_secs(3),
};
/// Idle: samples and their spacing.
const IDLE_SAMPLES: usize = 5;
const IDLE_EVERY: Duration = Duration::from_secs(1);
/// Limits of the "send budget lifted" burst.
const FAST_LIMITS: &str = "telegram_send_per_sec = 1000\ntelegram_chat_interval_ms = 0\n";
/// Edge-profile defaults the burst is bounded by (profiles/edge.toml), for the report.
const EDGE_SEND_PER_SEC: u64 = 20;
const EDGE_CHAT_INTERVAL_MS: u64 = 1_000;
const EDGE_INFLIGHT: u64 = 4;
/// VmRSS sampling period during a burst.
const SAMPLE_MS: u64 = 50;
/// How often the fake is looked at while a burst drains.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// Wait after the last expected reply before counting (late duplicates show up here).
const AFTER_LAST: Duration = Duration::from_secs(2);
/// Per-burst deadline (queue → every update answered).
const DEADLINE: Duration = Duration::from_secs(300);
/// Waits for the first `hello-ok` and for the bridge's first waiting `getUpdates`.
const READY: Duration = Duration::from_secs(10);
const POLLING: Duration = Duration::from_secs(15);

// Targets (edge profile, idle).
const T_IDLE_RSS_KIB: i64 = 1024;
const T_IDLE_THREADS: i64 = 1;

fn main() {
    bench_main("telegram", USAGE, OWN_FLAGS, run);
}

const USAGE: &str = "usage: telegram [--bin PATH] [--quick] [--chats N] [--per-chat N] \
[--repeat N] [--bin-note TEXT] [--json-out F] [--keep]";
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[
    Own::Num("--chats", 1, 1_000),
    Own::Num("--per-chat", 1, 100),
    Own::Num("--repeat", 1, 20),
];

// ------------------------------------------------------------------------------------------ run

fn run(f: &Flags) -> R<()> {
    let size = if f.quick { QUICK } else { FULL };
    let chats = f.num("--chats").unwrap_or(size.chats);
    let per_chat = f.num("--per-chat").unwrap_or(size.per_chat);
    let repeat = f.num("--repeat").unwrap_or(1);
    let shape = Shape {
        chats,
        per_chat,
        repeat,
    };
    let clk_tck = clk_tck();
    let run = Run::start("telegram", f, None, "openclaw-edge-bench-telegram")?;
    let (bin, root, token) = (&run.bin, &run.root, &run.token);
    eprintln!(
        "telegram bench: binary {}, temp dir {}; idle window {} s + {IDLE_SAMPLES} samples; burst {chats} chats × {per_chat} updates, {repeat} time(s) per server",
        bin.display(),
        root.display(),
        size.settle.as_secs()
    );

    let res = (|| -> R<(Idle, Idle, Burst, Burst)> {
        let ai = FakeOpenAi::start();
        let off = idle(
            bin,
            &root.join("idle-off"),
            token,
            &ai,
            false,
            size,
            clk_tck,
        )?;
        let on = idle(bin, &root.join("idle-on"), token, &ai, true, size, clk_tck)?;
        drop(ai);
        let edge = burst(bin, &root.join("burst-edge"), token, "", shape, clk_tck)?;
        let fast = burst(
            bin,
            &root.join("burst-fast"),
            token,
            FAST_LIMITS,
            shape,
            clk_tck,
        )?;
        Ok((off, on, edge, fast))
    })();
    let bad = match &res {
        Ok((_, _, e, f)) => [e, f]
            .iter()
            .filter(|b| !b.exactly_once())
            .map(|b| format!("{}: {}", b.label, b.problems()))
            .collect::<Vec<_>>(),
        Err(_) => Vec::new(),
    };
    run.finish(res, "BENCH_TELEGRAM_JSON", |info, (off, on, edge, fast)| {
        Report {
            info,
            off,
            on,
            edge,
            fast,
        }
        .render()
    })?;
    if !bad.is_empty() {
        return Err(format!(
            "not every update got exactly one right reply: {}",
            bad.join("; ")
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------------ server + fakes

/// Writes the gateway config into `dir`: the fake provider, `limits` (a `[limits]` body, may be
/// empty) and, when `tg` is given, the bridge on that fake allowing `allow`.
fn write_config(
    dir: &Path,
    ai: &FakeOpenAi,
    tg: Option<(&FakeTelegram, &[i64])>,
    limits: &str,
) -> R<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cfg = dir.join("config.toml");
    let mut text = format!(
        "[agent]\nmodel = \"fake/m\"\n\n[models.providers.fake]\nbaseUrl = \"{}\"\n",
        ai.base_url()
    );
    if !limits.is_empty() {
        text.push_str("\n[limits]\n");
        text.push_str(limits);
    }
    if let Some((tg, allow)) = tg {
        let ids: Vec<String> = allow.iter().map(|i| i.to_string()).collect();
        text.push_str(&format!(
            "\n[channels.telegram]\nenabled = true\nbotToken = \"{BOT_TOKEN}\"\napiBaseUrl = \"{}\"\n\
             allowFrom = [{}]\npollTimeoutSecs = {POLL_TIMEOUT_SECS}\n",
            tg.base_url(),
            ids.join(", ")
        ));
    }
    std::fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    Ok(cfg)
}

/// Starts the server on `cfg` and waits for its first `hello-ok` (connection closed again):
/// the server and exec → ready.
fn start_ready(bin: &Path, cfg: &Path, dir: &Path, token: &str) -> R<(Server, Duration)> {
    let mut server = Server::start(bin, Some(cfg), dir, token)?;
    let (ready, _, conn) = server.wait_ready(token, Duration::from_secs(5), READY)?;
    drop(conn);
    Ok((server, ready))
}

/// The server's threads by name (`/proc/PID/task/*/comm`), e.g. `openclaw-edge, store, telegram`
/// (a name shared by several threads gets `×N`).
fn thread_names(pid: u32) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten().take(10_000) {
            let n = read_trim(&format!("{}/comm", e.path().display()));
            *m.entry(n).or_default() += 1;
        }
    }
    m.iter()
        .map(|(n, c)| {
            if *c > 1 {
                format!("{n} ×{c}")
            } else {
                n.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Threads of `pid` named like a blocking-pool worker (`oc-pool-N`). A thread a worker starts
/// inherits its name, so ureq's short-lived resolver threads count here too.
fn pool_threads(pid: u32) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten().take(10_000) {
            if read_trim(&format!("{}/comm", e.path().display())).starts_with("oc-pool") {
                n += 1;
            }
        }
    }
    n
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

// ------------------------------------------------------------------------------- scenario 1

/// One idle server.
#[derive(Debug)]
struct Idle {
    bridge: bool,
    /// exec → first `hello-ok`.
    ready: Duration,
    /// Ready → the first waiting `getUpdates` on the fake (bridge only).
    to_poll: Option<Duration>,
    /// The readings of the window (`mem`: status + smaps_rollup).
    samples: Vec<Mem>,
    /// Medians of VmRSS / RssAnon / Pss_Anon / file-backed over the samples.
    rss: u64,
    rss_anon: u64,
    pss_anon: u64,
    file: u64,
    /// Threads: fewest / most seen in the window, and at the last sample.
    threads_min: u64,
    threads_max: u64,
    threads_end: u64,
    /// Most threads seen that are not blocking-pool workers (`oc-pool-*`), and pool threads
    /// per sample.
    non_pool_max: u64,
    pool: Vec<u64>,
    /// Thread names at the end of the window.
    names: String,
    /// VmHWM at the end of the window.
    hwm: u64,
    /// Server CPU time (utime + stime) over the sampled part of the window.
    cpu_ms: f64,
    /// Bridge only: samples with exactly one poll waiting on the fake; getUpdates / getMe calls
    /// before the window and at its end.
    polls_ok: usize,
    getupdates: (usize, usize),
    getme: usize,
    stop: Stop,
}

fn idle(
    bin: &Path,
    dir: &Path,
    token: &str,
    ai: &FakeOpenAi,
    bridge: bool,
    size: Size,
    clk_tck: u64,
) -> R<Idle> {
    let tg = bridge.then(|| FakeTelegram::start(BOT_TOKEN));
    let allow = [FIRST_CHAT];
    let cfg = write_config(dir, ai, tg.as_ref().map(|t| (t, &allow[..])), "")?;
    let (mut server, ready) = start_ready(bin, &cfg, dir, token)?;
    let pid = server.pid;
    eprintln!(
        "telegram bench: idle {} bridge: server pid {} on port {}",
        if bridge { "with the" } else { "without the" },
        pid,
        server.port
    );
    let res = (|| -> R<_> {
        let mut to_poll = None;
        if let Some(tg) = &tg {
            let t = Instant::now();
            if !tg.wait_polling(POLLING) {
                return Err(format!(
                    "the bridge is not waiting in getUpdates {} s after ready ({} getUpdates calls); server log: {}",
                    POLLING.as_secs(),
                    tg.getupdates_calls(),
                    server.log_tail()
                ));
            }
            to_poll = Some(t.elapsed());
        }
        thread::sleep(size.settle);
        let gu0 = tg.as_ref().map_or(0, |t| t.getupdates_calls());
        let cpu0 = cpu_ticks(pid)?;
        let mut samples = Vec::with_capacity(IDLE_SAMPLES);
        let mut pool = Vec::with_capacity(IDLE_SAMPLES);
        let mut polls_ok = 0;
        for i in 0..IDLE_SAMPLES {
            if i > 0 {
                thread::sleep(IDLE_EVERY);
            }
            samples.push(mem(pid)?);
            pool.push(pool_threads(pid));
            if tg.as_ref().is_some_and(|t| t.polls_waiting() == 1) {
                polls_ok += 1;
            }
        }
        let cpu1 = cpu_ticks(pid)?;
        let names = thread_names(pid);
        let gu1 = tg.as_ref().map_or(0, |t| t.getupdates_calls());
        let getme = tg.as_ref().map_or(0, |t| t.requests_for("getMe").len());
        let cpu_ms = cpu1.saturating_sub(cpu0) as f64 * 1000.0 / clk_tck as f64;
        Ok((
            to_poll,
            samples,
            pool,
            polls_ok,
            names,
            (gu0, gu1),
            getme,
            cpu_ms,
        ))
    })();
    let stop = server.stop()?;
    let (to_poll, samples, pool, polls_ok, names, getupdates, getme, cpu_ms) = res?;
    let pick = |f: fn(&Mem) -> u64| median(samples.iter().map(f).collect());
    Ok(Idle {
        bridge,
        ready,
        to_poll,
        rss: pick(|m| m.rss),
        rss_anon: pick(|m| m.rss_anon),
        pss_anon: pick(|m| m.pss_anon),
        file: pick(|m| m.file),
        threads_min: samples.iter().map(|m| m.threads).min().unwrap_or(0),
        threads_max: samples.iter().map(|m| m.threads).max().unwrap_or(0),
        threads_end: samples.last().map_or(0, |m| m.threads),
        non_pool_max: samples
            .iter()
            .zip(&pool)
            .map(|(m, p)| m.threads.saturating_sub(*p))
            .max()
            .unwrap_or(0),
        pool,
        hwm: samples.last().map_or(0, |m| m.hwm),
        samples,
        names,
        cpu_ms,
        polls_ok,
        getupdates,
        getme,
        stop,
    })
}

// ------------------------------------------------------------------------------- scenario 2

/// One burst.
#[derive(Debug)]
struct Burst {
    label: &'static str,
    chats: usize,
    per_chat: usize,
    /// Bursts queued one after the other on the same server (`--repeat`); the timings below
    /// are the first one's, the memory and CPU figures cover all of them.
    repeat: usize,
    /// Per burst: its first update queued → its last reply, and the memory 2 s after that.
    reps: Vec<(Duration, Mem)>,
    /// `[limits]` of the run (empty: edge defaults).
    limits: &'static str,
    send_per_sec: u64,
    chat_interval_ms: u64,
    /// Pushing every update onto the fake.
    queue_time: Duration,
    /// First update queued → first reply / last reply seen by the fake.
    first_reply: Duration,
    drain: Duration,
    /// First update queued → the fake saw every update confirmed (`pending_updates() == 0`).
    confirmed: Option<Duration>,
    /// `sendMessage` calls into the bench chats (all, not only the right ones).
    replies: usize,
    /// Updates with at least one reply / with more than one / replies beyond the first.
    answered: usize,
    dup_updates: usize,
    extra_replies: usize,
    /// Replies with a wrong text, or replying to no bench message.
    wrong_text: usize,
    stray: usize,
    /// Chats whose `replies_to` has exactly `per_chat` × `repeat` texts; chats answered in
    /// message order.
    chats_ok: usize,
    in_order: usize,
    /// Up to 3 chats answered out of order: chat and its messages' numbers in reply order.
    out_of_order: Vec<String>,
    /// Examples of what was wrong.
    examples: Vec<String>,
    /// `sendChatAction` calls that succeeded / reached the fake.
    typing: usize,
    typing_requests: usize,
    getupdates: usize,
    provider_requests: usize,
    samples: Samples,
    end: Mem,
    cpu_ms: f64,
    stop: Stop,
    /// WARN lines of the server log by message (timestamp and numbers dropped): count, example.
    warns: Vec<(usize, String)>,
}

impl Burst {
    /// Updates of one burst.
    fn total(&self) -> usize {
        self.chats * self.per_chat
    }

    /// Updates of all bursts.
    fn updates(&self) -> usize {
        self.total() * self.repeat
    }

    fn exactly_once(&self) -> bool {
        self.answered == self.updates()
            && self.extra_replies == 0
            && self.wrong_text == 0
            && self.stray == 0
            && self.chats_ok == self.chats
    }

    fn problems(&self) -> String {
        format!(
            "{} of {} updates answered, {} duplicate replies ({} updates), {} wrong texts, {} stray replies, {} of {} chats with {} replies{}",
            self.answered,
            self.updates(),
            self.extra_replies,
            self.dup_updates,
            self.wrong_text,
            self.stray,
            self.chats_ok,
            self.chats,
            self.per_chat * self.repeat,
            if self.examples.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {})", self.examples.join("; "))
            }
        )
    }
}

/// A burst's size: chats × updates per chat, queued `repeat` times on one server.
#[derive(Clone, Copy)]
struct Shape {
    chats: usize,
    per_chat: usize,
    repeat: usize,
}

/// What one bench message expects: its chat, its burst, its number within the chat (all
/// bursts), the reply text.
struct Want {
    chat: i64,
    rep: usize,
    seq: usize,
    reply: String,
}

fn burst(
    bin: &Path,
    dir: &Path,
    token: &str,
    limits: &'static str,
    shape: Shape,
    clk_tck: u64,
) -> R<Burst> {
    let Shape {
        chats,
        per_chat,
        repeat,
    } = shape;
    let label = if limits.is_empty() {
        "edge limits"
    } else {
        "send budget lifted"
    };
    let ai = FakeOpenAi::start();
    let tg = FakeTelegram::start(BOT_TOKEN);
    let ids: Vec<i64> = (0..chats as i64).map(|i| FIRST_CHAT + i).collect();
    let cfg = write_config(dir, &ai, Some((&tg, &ids)), limits)?;
    let (mut server, _) = start_ready(bin, &cfg, dir, token)?;
    let pid = server.pid;
    eprintln!(
        "telegram bench: burst ({label}): server pid {} on port {}, {} updates from {chats} chats",
        pid,
        server.port,
        chats * per_chat
    );
    let total = chats * per_chat;
    let res = (|| -> R<_> {
        if !tg.wait_polling(POLLING) {
            return Err(format!(
                "the bridge is not waiting in getUpdates {} s after ready; server log: {}",
                POLLING.as_secs(),
                server.log_tail()
            ));
        }
        let mut want: HashMap<i64, Want> = HashMap::with_capacity(total * repeat);
        let sampler = Sampler::start(
            pid,
            Duration::from_millis(SAMPLE_MS),
            DEADLINE * repeat as u32 + AFTER_LAST * repeat as u32 + Duration::from_secs(60),
            Some(thread_names),
        );
        let cpu0 = cpu_ticks(pid)?;
        let (mut queue_time, mut confirmed) = (Duration::ZERO, None);
        let mut reps: Vec<(Instant, Mem)> = Vec::with_capacity(repeat);
        for rep in 0..repeat {
            // Built before the clock starts (message ids assigned), queued in one go.
            let mut updates = Vec::with_capacity(total);
            for round in 0..per_chat {
                for &chat in &ids {
                    let text = if rep == 0 {
                        format!("burst {chat} round {round}")
                    } else {
                        format!("burst {chat} round {round} repeat {rep}")
                    };
                    let u = tg.message(chat, chat, &text);
                    let mid = u["message"]["message_id"].as_i64().ok_or("no message_id")?;
                    want.insert(
                        mid,
                        Want {
                            chat,
                            rep,
                            seq: rep * per_chat + round,
                            reply: format!("echo: {text}"),
                        },
                    );
                    updates.push(u);
                }
            }
            let t = Instant::now();
            for u in updates {
                tg.push_update(u);
            }
            if rep == 0 {
                queue_time = t.elapsed();
            }
            let deadline = t + DEADLINE;
            let goal = total * (rep + 1);
            let mut answered = 0usize;
            let mut done = false;
            for _ in 0..100_000 {
                if rep == 0 && confirmed.is_none() && tg.pending_updates() == 0 {
                    confirmed = Some(t.elapsed());
                }
                let sent = tg.sent();
                let mut seen = std::collections::HashSet::with_capacity(goal);
                for s in sent.iter().filter(|s| s.method == "sendMessage") {
                    if let Some(r) = s.reply_to.filter(|r| want.contains_key(r)) {
                        seen.insert(r);
                    }
                }
                answered = seen.len();
                if answered == goal {
                    done = true;
                    break;
                }
                if Instant::now() > deadline {
                    break;
                }
                thread::sleep(CHECK_EVERY);
            }
            if !done {
                let samples = sampler.finish();
                return Err(format!(
                    "{label}, burst {}: {answered} of {goal} updates answered after {} s ({} sendMessage, {} updates not confirmed on the fake, max VmRSS {}); server log: {}",
                    rep + 1,
                    t.elapsed().as_secs(),
                    tg.sent()
                        .iter()
                        .filter(|s| s.method == "sendMessage")
                        .count(),
                    tg.pending_updates(),
                    mib(samples.peak.rss),
                    server.log_tail()
                ));
            }
            // Late duplicates would arrive now.
            thread::sleep(AFTER_LAST);
            if rep == 0 && confirmed.is_none() && tg.pending_updates() == 0 {
                confirmed = Some(t.elapsed());
            }
            reps.push((t, mem(pid)?));
        }
        let cpu1 = cpu_ticks(pid)?;
        let samples = sampler.finish();
        Ok((
            reps,
            queue_time,
            confirmed,
            want,
            samples,
            cpu1.saturating_sub(cpu0),
        ))
    })();
    let stop = server.stop()?;
    let (reps, queue_time, confirmed, want, samples, cpu) = res?;
    let t0 = reps.first().map(|r| r.0).ok_or("no burst")?;
    let end = reps.last().map(|r| r.1).unwrap_or_default();

    // Every reply, against what was asked.
    let sent = tg.sent();
    let mut count: HashMap<i64, usize> = HashMap::with_capacity(total * repeat);
    let mut order: HashMap<i64, Vec<usize>> = HashMap::with_capacity(chats);
    let (mut replies, mut wrong_text, mut stray) = (0usize, 0usize, 0usize);
    // First reply of the first burst; last reply of each burst.
    let mut first = None::<Instant>;
    let mut last: Vec<Option<Instant>> = vec![None; repeat];
    let mut examples = Vec::new();
    let mut typing = 0usize;
    for s in &sent {
        if s.method == "sendChatAction" {
            typing += 1;
            continue;
        }
        if s.method != "sendMessage" || !ids.contains(&s.chat_id) {
            continue;
        }
        replies += 1;
        match s.reply_to.and_then(|r| want.get(&r).map(|w| (r, w))) {
            Some((r, w)) => {
                if w.rep == 0 {
                    first = Some(first.map_or(s.at, |f| f.min(s.at)));
                }
                if let Some(l) = last.get_mut(w.rep) {
                    *l = Some(l.map_or(s.at, |l| l.max(s.at)));
                }
                *count.entry(r).or_default() += 1;
                if w.chat != s.chat_id || s.text.as_deref() != Some(w.reply.as_str()) {
                    wrong_text += 1;
                    if examples.len() < 3 {
                        examples.push(format!(
                            "chat {} got {:?} for {:?}",
                            s.chat_id,
                            s.text.as_deref().unwrap_or(""),
                            w.reply
                        ));
                    }
                }
                order.entry(s.chat_id).or_default().push(w.seq);
            }
            None => {
                stray += 1;
                if examples.len() < 3 {
                    examples.push(format!(
                        "chat {} got {:?} replying to {:?}",
                        s.chat_id,
                        s.text.as_deref().unwrap_or(""),
                        s.reply_to
                    ));
                }
            }
        }
    }
    let dup_updates = count.values().filter(|&&n| n > 1).count();
    let extra_replies: usize = count.values().map(|&n| n.saturating_sub(1)).sum();
    if dup_updates > 0 && examples.len() < 3 {
        if let Some((r, n)) = count.iter().find(|(_, n)| **n > 1) {
            examples.push(format!("message {r} answered {n} times"));
        }
    }
    let chats_ok = ids
        .iter()
        .filter(|&&c| tg.replies_to(c).len() == per_chat * repeat)
        .count();
    let in_order = ids
        .iter()
        .filter(|&&c| {
            order
                .get(&c)
                .is_some_and(|v| v.len() == per_chat * repeat && v.windows(2).all(|w| w[0] < w[1]))
        })
        .count();
    let out_of_order: Vec<String> = ids
        .iter()
        .filter_map(|c| order.get(c).map(|v| (c, v)))
        .filter(|(_, v)| !v.windows(2).all(|w| w[0] < w[1]))
        .take(3)
        .map(|(c, v)| format!("chat {c}: messages {v:?}"))
        .collect();
    let (send_per_sec, chat_interval_ms) = if limits.is_empty() {
        (EDGE_SEND_PER_SEC, EDGE_CHAT_INTERVAL_MS)
    } else {
        (1_000, 0)
    };
    let drains: Vec<Duration> = reps
        .iter()
        .zip(&last)
        .map(|((t, _), l)| l.map_or(Duration::ZERO, |l| l.saturating_duration_since(*t)))
        .collect();
    Ok(Burst {
        label,
        chats,
        per_chat,
        repeat,
        reps: drains
            .iter()
            .zip(&reps)
            .map(|(d, (_, m))| (*d, *m))
            .collect(),
        limits,
        send_per_sec,
        chat_interval_ms,
        queue_time,
        first_reply: first.map_or(Duration::ZERO, |f| f.saturating_duration_since(t0)),
        drain: drains.first().copied().unwrap_or_default(),
        confirmed,
        replies,
        answered: count.len(),
        dup_updates,
        extra_replies,
        wrong_text,
        stray,
        chats_ok,
        in_order,
        out_of_order,
        examples,
        typing,
        typing_requests: tg.requests_for("sendChatAction").len(),
        getupdates: tg.getupdates_calls(),
        provider_requests: ai.request_count(),
        samples,
        end,
        cpu_ms: cpu as f64 * 1000.0 / clk_tck as f64,
        stop,
        warns: warn_kinds(&dir.join("server.log")),
    })
}

/// The WARN lines of a server log grouped by their text with digits blanked (most frequent
/// first, at most 5 kinds): count and the first line of each kind (clipped).
fn warn_kinds(log: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut kinds: HashMap<String, (usize, usize, String)> = HashMap::new();
    for (i, l) in text.lines().filter(|l| l.contains("WARN")).enumerate() {
        let msg = l.split_once("WARN").map_or(l, |(_, m)| m).trim();
        let key: String = msg
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        let e = kinds.entry(key).or_insert((0, i, clip(msg)));
        e.0 += 1;
    }
    let mut v: Vec<(usize, usize, String)> = kinds.into_values().collect();
    v.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    v.into_iter().take(5).map(|(n, _, m)| (n, m)).collect()
}

// ------------------------------------------------------------------------------------ report

struct Report {
    info: RunInfo,
    off: Idle,
    on: Idle,
    edge: Burst,
    fast: Burst,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A signed KiB difference, also in MiB.
fn delta(kib: i64) -> String {
    format!("{kib:+} KiB ({:+.2} MiB)", kib as f64 / 1024.0)
}

impl Report {
    fn delta_rss(&self) -> i64 {
        self.on.rss as i64 - self.off.rss as i64
    }

    /// Threads the bridge adds: at the end of the window (past `blocking_idle_ms`, so lazily
    /// started pool workers have exited), and the most non-pool threads seen; the larger.
    fn delta_threads(&self) -> i64 {
        let end = self.on.threads_end as i64 - self.off.threads_end as i64;
        let non_pool = self.on.non_pool_max as i64 - self.off.non_pool_max as i64;
        end.max(non_pool)
    }

    fn delta_threads_max(&self) -> i64 {
        self.on.threads_max as i64 - self.off.threads_max as i64
    }

    fn render(&self) -> (String, Value) {
        let (a, b) = (&self.off, &self.on);
        let (d_rss, d_thr) = (self.delta_rss(), self.delta_threads());
        let d_anon = b.rss_anon as i64 - a.rss_anon as i64;
        let d_pss = b.pss_anon as i64 - a.pss_anon as i64;
        let mut rows = Rows::default();
        rows.info(
            "exec → first `hello-ok`",
            format!("{:.1} ms", a.ready.as_secs_f64() * 1000.0),
            format!(
                "{:.1} ms (then {:.0} ms to the first waiting `getUpdates`)",
                b.ready.as_secs_f64() * 1000.0,
                b.to_poll.unwrap_or_default().as_secs_f64() * 1000.0
            ),
        );
        let rss_cell = |i: &Idle| {
            let lo = i.samples.iter().map(|m| m.rss).min().unwrap_or(0);
            let hi = i.samples.iter().map(|m| m.rss).max().unwrap_or(0);
            format!("{} ({} KiB; samples {lo}..{hi} KiB)", mib(i.rss), i.rss)
        };
        rows.info(
            format!("VmRSS (median of {IDLE_SAMPLES} samples)"),
            rss_cell(a),
            rss_cell(b),
        );
        rows.info(
            "RssAnon / file-backed (medians)",
            format!("{} / {}", mib(a.rss_anon), mib(a.file)),
            format!("{} / {}", mib(b.rss_anon), mib(b.file)),
        );
        rows.info("Pss_Anon (median)", mib(a.pss_anon), mib(b.pss_anon));
        rows.info("VmHWM at the end of the window", mib(a.hwm), mib(b.hwm));
        let thr = |i: &Idle| {
            if i.threads_min == i.threads_max {
                i.threads_max.to_string()
            } else {
                format!("{}..{}", i.threads_min, i.threads_max)
            }
        };
        rows.info("Threads (fewest..most seen)", thr(a), thr(b));
        let per = |i: &Idle| {
            let t: Vec<String> = i
                .samples
                .iter()
                .zip(&i.pool)
                .map(|(m, p)| {
                    if *p > 0 {
                        format!("{} ({p} pool)", m.threads)
                    } else {
                        m.threads.to_string()
                    }
                })
                .collect();
            t.join(", ")
        };
        rows.info(
            "Threads per sample (`oc-pool-*` among them)",
            per(a),
            per(b),
        );
        rows.info(
            "Thread names at the end of the window",
            a.names.clone(),
            b.names.clone(),
        );
        rows.info(
            "Server CPU time (utime + stime) over the samples",
            format!("{:.0} ms", a.cpu_ms),
            format!("{:.0} ms", b.cpu_ms),
        );
        rows.info(
            "Long poll on the fake: samples with 1 waiting / `getUpdates` calls before → after / `getMe`",
            "–".into(),
            format!(
                "{} / {} ({} → {}) / {}",
                b.polls_ok, IDLE_SAMPLES, b.getupdates.0, b.getupdates.1, b.getme
            ),
        );
        rows.row(
            "Added by the idle bridge: VmRSS (median − median)",
            String::new(),
            delta(d_rss),
            "≤ 1 MiB",
            verdict(d_rss <= T_IDLE_RSS_KIB),
        );
        rows.info(
            "Added by the idle bridge: RssAnon / Pss_Anon",
            String::new(),
            format!("{} / {}", delta(d_anon), delta(d_pss)),
        );
        rows.row(
            "Added by the idle bridge: threads (last sample; most non-pool threads seen)",
            String::new(),
            format!(
                "{d_thr:+} ({:+}; {:+}; most seen incl. pool {:+})",
                b.threads_end as i64 - a.threads_end as i64,
                b.non_pool_max as i64 - a.non_pool_max as i64,
                self.delta_threads_max()
            ),
            "≤ 1",
            verdict(d_thr <= T_IDLE_THREADS),
        );
        rows.row(
            "SIGTERM → exit code",
            stop_cell(&a.stop),
            stop_cell(&b.stop),
            "exit 0",
            verdict(a.stop.code == Some(0) && b.stop.code == Some(0)),
        );

        let (e, f) = (&self.edge, &self.fast);
        let mut rows2 = Rows::default();
        rows2.info(
            "Updates queued (per chat, interleaved by round)",
            format!("{} from {} chats ({} each)", e.total(), e.chats, e.per_chat),
            format!("{} from {} chats ({} each)", f.total(), f.chats, f.per_chat),
        );
        let lim = |b: &Burst| {
            format!(
                "{}/s global, {} ms per chat, {EDGE_INFLIGHT} in flight",
                b.send_per_sec, b.chat_interval_ms
            )
        };
        rows2.info(
            "Send budget (`telegram_send_per_sec`, `telegram_chat_interval_ms`, `telegram_inflight`)",
            lim(e),
            lim(f),
        );
        let floor = |b: &Burst| {
            // `telegram_send_per_sec` sends per one-second window: the last of N sends goes out
            // in window ceil(N / rate), which opens (ceil(N / rate) − 1) s after the first.
            // Per burst (an average with `--repeat`).
            let typing = b.typing / b.repeat.max(1);
            let sends = b.replies / b.repeat.max(1) + typing;
            let rate = b.send_per_sec.max(1) as usize;
            let global = (sends.div_ceil(rate).saturating_sub(1)) as f64;
            let chat = (b.per_chat.saturating_sub(1) as u64 * b.chat_interval_ms) as f64 / 1000.0;
            format!(
                "≥ {:.1} s ({sends} sends incl. {} typing; per chat ≥ {:.1} s)",
                global.max(chat),
                typing,
                chat
            )
        };
        rows2.info("Lower bound from the send budget", floor(e), floor(f));
        rows2.info(
            "Queueing every update on the fake",
            format!("{:.1} ms", e.queue_time.as_secs_f64() * 1000.0),
            format!("{:.1} ms", f.queue_time.as_secs_f64() * 1000.0),
        );
        let drain = |b: &Burst| {
            format!(
                "{} (first reply {}; {:.1} replies/s)",
                secs(b.drain),
                secs(b.first_reply),
                b.total() as f64 / b.drain.as_secs_f64().max(1e-9)
            )
        };
        rows2.info(
            "Time to drain: first update queued → last reply on the fake",
            drain(e),
            drain(f),
        );
        let conf = |b: &Burst| b.confirmed.map(secs).unwrap_or_else(|| "not seen".into());
        rows2.info(
            "First update queued → every update confirmed (offset) on the fake",
            conf(e),
            conf(f),
        );
        let once = |b: &Burst| {
            format!(
                "{} / {} answered, {} duplicates, {} wrong, {} stray",
                b.answered,
                b.updates(),
                b.extra_replies,
                b.wrong_text,
                b.stray
            )
        };
        rows2.row(
            "Exactly one `echo: <text>` reply per update (2 s after the last; all bursts)",
            once(e),
            once(f),
            "all",
            verdict(e.exactly_once() && f.exactly_once()),
        );
        rows2.info(
            "Chats answered in message order",
            format!("{} / {}", e.in_order, e.chats),
            format!("{} / {}", f.in_order, f.chats),
        );
        rows2.info(
            "`sendChatAction` / `getUpdates` calls / provider requests",
            format!(
                "{} ({} reached the fake) / {} / {}",
                e.typing, e.typing_requests, e.getupdates, e.provider_requests
            ),
            format!(
                "{} ({} reached the fake) / {} / {}",
                f.typing, f.typing_requests, f.getupdates, f.provider_requests
            ),
        );
        rows2.info(
            format!(
                "Max VmRSS (sampled every {SAMPLE_MS} ms: {} / {} samples)",
                e.samples.n, f.samples.n
            ),
            mem_split(&e.samples.peak),
            mem_split(&f.samples.peak),
        );
        rows2.info(
            "VmHWM 2 s after the last reply (highest RSS since exec)",
            mib(e.end.hwm),
            mib(f.end.hwm),
        );
        rows2.info(
            "VmRSS 2 s after the last reply",
            mem_split(&e.end),
            mem_split(&f.end),
        );
        if e.repeat > 1 {
            let each = |b: &Burst| {
                b.reps
                    .iter()
                    .map(|(_, m)| format!("{:.2}", m.rss as f64 / 1024.0))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " MiB"
            };
            let anon = |b: &Burst| {
                b.reps
                    .iter()
                    .map(|(_, m)| format!("{:.2}", m.rss_anon as f64 / 1024.0))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " MiB"
            };
            let drains = |b: &Burst| {
                b.reps
                    .iter()
                    .map(|(d, _)| format!("{:.1}", d.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " s"
            };
            rows2.info(
                format!("`--repeat {}`: VmRSS 2 s after each burst", e.repeat),
                each(e),
                each(f),
            );
            rows2.info(
                format!("`--repeat {}`: RssAnon 2 s after each burst", e.repeat),
                anon(e),
                anon(f),
            );
            rows2.info(
                format!("`--repeat {}`: time to drain each burst", e.repeat),
                drains(e),
                drains(f),
            );
        }
        rows2.info(
            "Most threads seen (names then)",
            format!("{} ({})", e.samples.max_threads, e.samples.peak_names),
            format!("{} ({})", f.samples.max_threads, f.samples.peak_names),
        );
        let cpu = |b: &Burst| {
            format!(
                "{:.0} ms ({:.2} ms per update)",
                b.cpu_ms,
                b.cpu_ms / b.updates().max(1) as f64
            )
        };
        rows2.info(
            "Server CPU time (utime + stime): queue → 2 s after the last reply",
            cpu(e),
            cpu(f),
        );
        rows2.row(
            "SIGTERM → exit code",
            stop_cell(&e.stop),
            stop_cell(&f.stop),
            "exit 0",
            verdict(e.stop.code == Some(0) && f.stop.code == Some(0)),
        );

        let mut out = self.info.header("openclaw-edge Telegram bench");
        out.push_str(&format!(
            "- fake Telegram Bot API (`tests/common/telegram.rs`) and fake OpenAI provider (`tests/common/openai.rs`, `echo: <text>`) in this process; `pollTimeoutSecs = {POLL_TIMEOUT_SECS}`, private chats {FIRST_CHAT}.., allowlisted{}\n",
            if self.info.quick {
                format!(
                    "; --quick: idle window {} s, burst {} chats × {} instead of {} s, {} × {}",
                    QUICK.settle.as_secs(),
                    QUICK.chats,
                    QUICK.per_chat,
                    FULL.settle.as_secs(),
                    FULL.chats,
                    FULL.per_chat
                )
            } else {
                String::new()
            }
        ));
        out.push_str(&format!(
            "- idle: {} s after ready (with the bridge: after its first waiting `getUpdates`), then {IDLE_SAMPLES} readings {} ms apart of `/proc/PID/status` + `smaps_rollup`; same config apart from `[channels.telegram]`\n",
            if self.info.quick {
                QUICK.settle.as_secs()
            } else {
                FULL.settle.as_secs()
            },
            IDLE_EVERY.as_millis()
        ));
        out.push_str(&format!(
            "- burst: every update pushed in one go while the bridge waits in long poll; send budget lifted = `[limits]` {}\n",
            FAST_LIMITS.trim_end().replace('\n', ", ")
        ));
        out.push_str(
            "- threads are read from `/proc/PID/task/*/comm`; a thread started by a worker inherits its name, so `oc-pool-0 ×2` or a second `provider-0` is a short-lived helper of that worker (ureq starts a resolver thread per call when a resolve timeout is set), not an extra worker\n",
        );
        out.push_str(&format!(
            "- server log: idle {} / {}, burst {} / {} WARN; {} / {}, {} / {} ERROR lines\n",
            a.stop.log_warn,
            b.stop.log_warn,
            e.stop.log_warn,
            f.stop.log_warn,
            a.stop.log_err,
            b.stop.log_err,
            e.stop.log_err,
            f.stop.log_err
        ));
        for x in [e, f] {
            if !x.exactly_once() {
                out.push_str(&format!("- {} burst: {}\n", x.label, x.problems()));
            }
            if !x.out_of_order.is_empty() {
                out.push_str(&format!(
                    "- {} burst, answered out of message order: {}\n",
                    x.label,
                    x.out_of_order.join("; ")
                ));
            }
            for (n, m) in &x.warns {
                out.push_str(&format!("- {} burst, WARN ×{n}: `{m}`\n", x.label));
            }
        }
        out.push_str("\n### Bridge idle in long poll\n\n");
        out.push_str(&markdown_table(
            [
                "Figure",
                "Without the bridge",
                "Bridge idle in long poll",
                "Target (edge)",
                "Status",
            ],
            &rows.0,
        ));
        out.push_str(&format!(
            "\n### Burst: {} updates from {} chats{}\n\n",
            e.total(),
            e.chats,
            if e.repeat > 1 {
                format!(
                    ", {} times on one server (timings: the first burst; memory, CPU, calls: all)",
                    e.repeat
                )
            } else {
                String::new()
            }
        ));
        out.push_str(&markdown_table(
            [
                "Figure",
                "Edge limits",
                "Send budget lifted",
                "Target",
                "Status",
            ],
            &rows2.0,
        ));

        let idle_j = |i: &Idle| {
            json!({
                "bridge": i.bridge,
                "ready_ms": i.ready.as_secs_f64() * 1000.0,
                "to_poll_ms": i.to_poll.map(|d| d.as_secs_f64() * 1000.0),
                "rss_kib": i.rss, "rss_anon_kib": i.rss_anon, "pss_anon_kib": i.pss_anon,
                "file_kib": i.file, "hwm_kib": i.hwm,
                "rss_samples_kib": i.samples.iter().map(|m| m.rss).collect::<Vec<_>>(),
                "threads_min": i.threads_min, "threads_max": i.threads_max,
                "threads_end": i.threads_end, "non_pool_threads_max": i.non_pool_max,
                "pool_threads_samples": i.pool,
                "thread_names": i.names, "cpu_ms": i.cpu_ms,
                "polls_waiting_samples": i.polls_ok,
                "getupdates_before": i.getupdates.0, "getupdates_after": i.getupdates.1,
                "getme": i.getme,
                "exit_code": i.stop.code, "stop": i.stop.how,
                "log_warn": i.stop.log_warn, "log_err": i.stop.log_err,
            })
        };
        let burst_j = |b: &Burst| {
            json!({
                "chats": b.chats, "per_chat": b.per_chat, "updates": b.total(),
                "repeat": b.repeat,
                "repeats": b.reps.iter().map(|(d, m)| json!({
                    "drain_ms": d.as_secs_f64() * 1000.0, "rss_kib": m.rss,
                    "rss_anon_kib": m.rss_anon, "hwm_kib": m.hwm, "threads": m.threads,
                })).collect::<Vec<_>>(),
                "limits": b.limits, "send_per_sec": b.send_per_sec,
                "chat_interval_ms": b.chat_interval_ms,
                "queue_ms": b.queue_time.as_secs_f64() * 1000.0,
                "first_reply_ms": b.first_reply.as_secs_f64() * 1000.0,
                "drain_ms": b.drain.as_secs_f64() * 1000.0,
                "confirmed_ms": b.confirmed.map(|d| d.as_secs_f64() * 1000.0),
                "replies": b.replies, "answered": b.answered,
                "duplicate_replies": b.extra_replies, "duplicate_updates": b.dup_updates,
                "wrong_text": b.wrong_text, "stray": b.stray,
                "chats_ok": b.chats_ok, "chats_in_order": b.in_order,
                "out_of_order": b.out_of_order,
                "exactly_once": b.exactly_once(),
                "typing": b.typing, "typing_requests": b.typing_requests,
                "getupdates": b.getupdates,
                "warn_kinds": b.warns.iter().map(|(n, m)| json!({"count": n, "first": m})).collect::<Vec<_>>(),
                "provider_requests": b.provider_requests,
                "samples": b.samples.n, "max_rss_kib": b.samples.peak.rss,
                "max_rss_anon_kib": b.samples.peak.rss_anon,
                "max_threads": b.samples.max_threads,
                "hwm_kib": b.end.hwm, "end_rss_kib": b.end.rss, "end_threads": b.end.threads,
                "cpu_ms": b.cpu_ms, "exit_code": b.stop.code, "stop": b.stop.how,
                "log_warn": b.stop.log_warn, "log_err": b.stop.log_err,
            })
        };
        let j = self.info.with_json(json!({
            "idle": {
                "without_bridge": idle_j(a),
                "with_bridge": idle_j(b),
                "delta_rss_kib": d_rss, "delta_rss_anon_kib": d_anon, "delta_pss_anon_kib": d_pss,
                "delta_threads": d_thr, "delta_threads_max": self.delta_threads_max(),
            },
            "burst_edge": burst_j(e),
            "burst_fast": burst_j(f),
            "targets": {"idle_delta_rss_kib": T_IDLE_RSS_KIB, "idle_delta_threads": T_IDLE_THREADS},
            "pass": {
                "idle_delta_rss": d_rss <= T_IDLE_RSS_KIB,
                "idle_delta_threads": d_thr <= T_IDLE_THREADS,
                "burst_exactly_once": e.exactly_once() && f.exactly_once(),
            },
        }));
        (out, j)
    }
}
