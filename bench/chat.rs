//! Chat bench: streamed model answers through the gateway, against a local fake OpenAI server.
//!
//! Runs the std-only fake OpenAI chat-completions server of the tests (`tests/common/openai.rs`)
//! inside this process and points `openclaw-edge run` at it (`[agent] model = "fake/m"`,
//! `[models.providers.fake] baseUrl = …`). Each scenario gets a fresh server process and state dir;
//! one WebSocket client (`operator.read` + `operator.write`) sends every `chat.send` and reads every
//! `chat` / `agent` event (the gateway broadcasts run events to every read-scoped operator):
//!
//! 1. Edge profile (default limits: `max_concurrent_runs = 2`, the other runs wait in the queue):
//!    20 `chat.send` to sessions `bench-0..19` one right after the other, each answered with 2,000
//!    streamed tokens 1 ms apart. Wall time until every `final` arrived, VmRSS sampled every 50 ms,
//!    VmHWM at the end (target ≤ 8 MiB), every final checked (must end with the last token).
//! 2. The same with every run streaming at once (`[limits] max_concurrent_runs = 20`,
//!    `provider_workers = 20`, `provider_queue = 32`, `global_queue = 64`): informational.
//! 3. One chat alone, `chat_delta_interval_ms = 0`, 2,000 tokens 2 ms apart: for every `chat`
//!    delta, the time from the fake provider writing its highest token to the client reading the
//!    delta (p50/p90/p99/max; both ends are in this process, so the instants share a clock), and
//!    the server's CPU time (utime + stime) per token.
//!
//! Prints two Markdown tables and one `BENCH_CHAT_JSON {...}` line; exits non-zero only when the
//! harness fails (a server that does not start, a missing or incomplete final, a deadline), not on
//! a missed target.
//!
//! Usage: `bench/run.sh` (runs it after the sessions bench), or
//! `cargo bench --bench chat -- --bin PATH [--quick] [--chats N] [--tokens N] [--bin-note TEXT]
//! [--json-out F] [--keep]`. See `bench/README.md`.
//!
//! Everything is bounded: every loop has a count and a deadline, sockets have read/write
//! timeouts, the server is stopped with SIGTERM (SIGKILL after 5 s) and its temp dir removed.

#[path = "common.rs"]
mod common;
#[path = "../tests/common/openai.rs"]
mod openai;

use common::*;
use openai::{Behavior, FakeOpenAi};

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

// Scenarios.
/// Chats × streamed tokens per answer (the latency scenario streams `tokens` too).
#[derive(Clone, Copy)]
struct Size {
    chats: usize,
    tokens: usize,
}
const FULL: Size = Size {
    chats: 20,
    tokens: 2_000,
};
const QUICK: Size = Size {
    chats: 5,
    tokens: 500,
};
/// Delay between tokens of the concurrent scenarios / of the latency scenario.
const CONC_DELAY_MS: u64 = 1;
const LAT_DELAY_MS: u64 = 2;
/// Limits of the "all at once" scenario (the chat count is capped to fit them).
const ALL_AT_ONCE: &str =
    "max_concurrent_runs = 20\nprovider_workers = 20\nprovider_queue = 32\nglobal_queue = 64\n";
const ALL_AT_ONCE_RUNS: usize = 20;
/// VmRSS sampling period.
const SAMPLE_MS: u64 = 50;
/// Socket read/write timeout: no frame for this long fails the run.
const IO: Duration = Duration::from_secs(15);
/// Per-scenario deadline and frame cap.
const DEADLINE: Duration = Duration::from_secs(600);
const MAX_FRAMES: usize = 2_000_000;

// Target (edge profile, scenario 1).
const T_HWM_KIB: u64 = 8 * 1024;

fn main() {
    bench_main("chat", USAGE, OWN_FLAGS, run);
}

const USAGE: &str = "usage: chat [--bin PATH] [--quick] [--chats N] [--tokens N] [--bin-note TEXT] \
[--json-out F] [--keep]";
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[
    Own::Num("--chats", 1, ALL_AT_ONCE_RUNS),
    Own::Num("--tokens", 10, 20_000),
];

// ------------------------------------------------------------------------------------------ run

fn run(f: &Flags) -> R<()> {
    let size = if f.quick { QUICK } else { FULL };
    let chats = f.num("--chats").unwrap_or(size.chats);
    let tokens = f.num("--tokens").unwrap_or(size.tokens);
    let clk_tck = clk_tck();
    let run = Run::start("chat", f, None, "openclaw-edge-bench-chat")?;
    let (bin, root, token) = (&run.bin, &run.root, &run.token);
    eprintln!(
        "chat bench: binary {}, temp dir {}; {chats} chats × {tokens} tokens",
        bin.display(),
        root.display()
    );

    let res = (|| -> R<(Conc, Conc, Latency)> {
        let edge = concurrent(bin, &root.join("edge"), token, "", chats, tokens, clk_tck)?;
        let all = concurrent(
            bin,
            &root.join("all"),
            token,
            ALL_AT_ONCE,
            chats,
            tokens,
            clk_tck,
        )?;
        let lat = latency(bin, &root.join("latency"), token, tokens, clk_tck)?;
        Ok((edge, all, lat))
    })();
    run.finish(res, "BENCH_CHAT_JSON", |info, (edge, all, lat)| {
        Report {
            info,
            edge,
            all,
            lat,
        }
        .render()
    })
}

// ------------------------------------------------------------------------------ server + client

/// A fresh fake provider answering every request with `tokens` tokens, and a gateway using it.
struct Setup {
    fake: FakeOpenAi,
    server: Server,
    conn: Conn,
}

fn setup(
    bin: &Path,
    dir: &Path,
    token: &str,
    limits: &str,
    tokens: usize,
    delay_ms: u64,
) -> R<Setup> {
    let fake = FakeOpenAi::start();
    fake.set_default(Behavior::Tokens {
        n: tokens,
        delay_ms,
    });
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cfg = dir.join("config.toml");
    let mut text = format!(
        "[agent]\nmodel = \"fake/m\"\n\n[models.providers.fake]\nbaseUrl = \"{}\"\n",
        fake.base_url()
    );
    if !limits.is_empty() {
        text.push_str("\n[limits]\n");
        text.push_str(limits);
    }
    std::fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let mut server = Server::start(bin, Some(&cfg), dir, token)?;
    let (_, _, poll) = server.wait_ready(token, Duration::from_secs(5), Duration::from_secs(10))?;
    drop(poll);
    let mut conn = Conn::open_scoped(server.port, token, IO, &["operator.read", "operator.write"])?;
    conn.drain_quiet(Duration::from_millis(300), IO)?;
    eprintln!(
        "chat bench: server pid {} on port {} ({}), fake provider {}",
        server.pid,
        server.port,
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        fake.base_url()
    );
    Ok(Setup { fake, server, conn })
}

fn send_frame(c: &mut Conn, id: &str, session: &str, run_id: &str) -> R<()> {
    let req = json!({
        "type": "req", "id": id, "method": "chat.send",
        "params": {"sessionKey": session, "message": format!("bench {session}: stream please"),
                   "idempotencyKey": run_id}
    });
    c.ws.send(Message::text(req.to_string()))
        .map_err(|e| format!("send chat.send: {e}"))
}

/// Next text frame and the instant it was read (pings and pongs skipped).
fn next_text(c: &mut Conn) -> R<(String, Instant)> {
    for _ in 0..64 {
        match c.ws.read() {
            Ok(Message::Text(t)) => return Ok((t.as_str().to_string(), Instant::now())),
            Ok(Message::Close(f)) => return Err(format!("server closed the connection: {f:?}")),
            Ok(_) => continue,
            Err(e) if is_timeout(&e) => return Err(format!("no frame for {} s", IO.as_secs())),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Err("no text frame within 64 frames".into())
}

/// The text of a `final` message (`message.content[0].text`).
fn final_text(p: &Value) -> String {
    p["message"]["content"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|x| x["text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default()
}

// ----------------------------------------------------------------------- scenarios 1 and 2

/// One concurrent scenario.
#[derive(Debug)]
struct Conc {
    chats: usize,
    tokens: usize,
    /// `max_concurrent_runs` / `provider_workers` of the scenario.
    runs_at_once: usize,
    workers: usize,
    /// First `chat.send` written → last answer read.
    send_spread: Duration,
    /// Answers `queued` (the rest `started`).
    queued: usize,
    /// First `chat.send` written → first / last `final` read.
    first_final: Duration,
    wall: Duration,
    finals_ok: usize,
    /// Finals containing the last token; shortest and longest final text (bytes).
    text_ok: usize,
    text_min: usize,
    text_max: usize,
    /// `chat` delta events read (all runs), their bytes, the largest frame.
    deltas: u64,
    delta_bytes: u64,
    frame_max: usize,
    provider_requests: usize,
    samples: Samples,
    end: Mem,
    cpu_ms: f64,
    stop: Stop,
}

#[derive(Default)]
struct RunState {
    final_text: Option<String>,
    error: Option<String>,
}

fn concurrent(
    bin: &Path,
    dir: &Path,
    token: &str,
    limits: &str,
    chats: usize,
    tokens: usize,
    clk_tck: u64,
) -> R<Conc> {
    let Setup {
        fake,
        mut server,
        mut conn,
    } = setup(bin, dir, token, limits, tokens, CONC_DELAY_MS)?;
    let pid = server.pid;
    let (runs_at_once, workers) = if limits.is_empty() {
        (2, 2)
    } else {
        (ALL_AT_ONCE_RUNS, ALL_AT_ONCE_RUNS)
    };
    let sampler = Sampler::start(
        pid,
        Duration::from_millis(SAMPLE_MS),
        DEADLINE + Duration::from_secs(60),
        None,
    );
    let cpu0 = cpu_ticks(pid)?;
    let suffix = make_token();
    let run_ids: Vec<String> = (0..chats).map(|i| format!("bench-{i}-{suffix}")).collect();
    let index: HashMap<&str, usize> = run_ids
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let last_token = format!("t{}", tokens - 1);

    let res = (|| -> R<_> {
        let mut st: Vec<RunState> = (0..chats).map(|_| RunState::default()).collect();
        let (mut deltas, mut delta_bytes, mut frame_max) = (0u64, 0u64, 0usize);
        let mut resolved = 0usize;
        let mut last_final = None;
        let mut first_final = None;
        let t0 = Instant::now();
        let deadline = t0 + DEADLINE;
        // One frame: an answer to a chat.send (returned), or a run event (recorded).
        let mut handle = |text: &str,
                          at: Instant,
                          st: &mut [RunState],
                          resolved: &mut usize|
         -> R<Option<(String, Value)>> {
            frame_max = frame_max.max(text.len());
            let mut v: Value = serde_json::from_str(text).map_err(|e| format!("bad frame: {e}"))?;
            if v["type"] == "res" {
                let id = v["id"].as_str().unwrap_or("").to_string();
                if v["ok"] != true {
                    return Err(format!("{id}: chat.send refused: {}", clip(text)));
                }
                return Ok(Some((id, v["payload"].take())));
            }
            if v["type"] != "event" || v["event"] != "chat" {
                return Ok(None);
            }
            let p = &v["payload"];
            let Some(&i) = p["runId"].as_str().and_then(|r| index.get(r)) else {
                return Ok(None);
            };
            match p["state"].as_str().unwrap_or("") {
                "delta" => {
                    deltas += 1;
                    delta_bytes += text.len() as u64;
                }
                "final" if st[i].final_text.is_none() && st[i].error.is_none() => {
                    st[i].final_text = Some(final_text(p));
                    *resolved += 1;
                    first_final.get_or_insert(at);
                    last_final = Some(at);
                }
                s @ ("error" | "aborted") if st[i].final_text.is_none() => {
                    if st[i].error.is_none() {
                        *resolved += 1;
                    }
                    st[i].error = Some(format!("{s}: {}", clip(&p.to_string())));
                }
                _ => {}
            }
            Ok(None)
        };
        let mut frames = 0usize;
        let mut queued = 0usize;
        // Every chat.send, one right after the other (events of the first runs interleave).
        for (i, run_id) in run_ids.iter().enumerate() {
            let id = format!("send-{i}");
            send_frame(&mut conn, &id, &format!("bench-{i}"), run_id)?;
            loop {
                frames += 1;
                if frames > MAX_FRAMES || Instant::now() > deadline {
                    return Err(format!("chat.send #{i}: no answer (deadline or frame cap)"));
                }
                let (text, at) = next_text(&mut conn)?;
                if let Some((rid, payload)) = handle(&text, at, &mut st, &mut resolved)? {
                    if rid != id {
                        return Err(format!("answer {rid} while waiting for {id}"));
                    }
                    // "started", or "queued" behind `max_concurrent_runs`.
                    if payload["status"] != "started" && payload["status"] != "queued" {
                        return Err(format!(
                            "{id}: status {} (want started or queued)",
                            payload["status"]
                        ));
                    }
                    queued += usize::from(payload["status"] == "queued");
                    break;
                }
            }
        }
        let send_spread = t0.elapsed();
        while resolved < chats {
            frames += 1;
            if frames > MAX_FRAMES || Instant::now() > deadline {
                return Err(format!(
                    "{resolved} of {chats} runs ended before the deadline / frame cap"
                ));
            }
            let (text, at) = next_text(&mut conn)?;
            handle(&text, at, &mut st, &mut resolved)?;
        }
        let wall = last_final.map(|l: Instant| l - t0).unwrap_or_default();
        let first = first_final.map(|f: Instant| f - t0).unwrap_or_default();
        Ok((
            st,
            send_spread,
            queued,
            first,
            wall,
            deltas,
            delta_bytes,
            frame_max,
        ))
    })();
    let cpu1 = cpu_ticks(pid);
    let end = mem(pid);
    let samples = sampler.finish();
    drop(conn);
    let stop = server.stop()?;
    let (st, send_spread, queued, first_final, wall, deltas, delta_bytes, frame_max) = res?;
    let end = end?;
    let cpu_ms = cpu1?.saturating_sub(cpu0) as f64 * 1000.0 / clk_tck as f64;
    let errors: Vec<String> = st
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.error.as_ref().map(|e| format!("bench-{i}: {e}")))
        .collect();
    if !errors.is_empty() {
        return Err(format!(
            "{} of {chats} runs failed: {}",
            errors.len(),
            errors.join("; ")
        ));
    }
    let texts: Vec<&String> = st.iter().filter_map(|s| s.final_text.as_ref()).collect();
    let finals_ok = texts.len();
    let text_ok = texts.iter().filter(|t| t.contains(&last_token)).count();
    let text_min = texts.iter().map(|t| t.len()).min().unwrap_or(0);
    let text_max = texts.iter().map(|t| t.len()).max().unwrap_or(0);
    if finals_ok != chats || text_ok != chats {
        return Err(format!(
            "{finals_ok} of {chats} finals, {text_ok} containing {last_token:?} (text {text_min}..{text_max} bytes)"
        ));
    }
    Ok(Conc {
        chats,
        tokens,
        runs_at_once,
        workers,
        send_spread,
        queued,
        first_final,
        wall,
        finals_ok,
        text_ok,
        text_min,
        text_max,
        deltas,
        delta_bytes,
        frame_max,
        provider_requests: fake.request_count(),
        samples,
        end,
        cpu_ms,
        stop,
    })
}

// ---------------------------------------------------------------------------------- scenario 3

#[derive(Debug)]
struct Latency {
    tokens: usize,
    deltas: usize,
    /// Deltas whose highest token could not be read or had no send instant.
    unmatched: usize,
    /// Distinct highest-token indices seen (how many tokens got a delta of their own).
    distinct: usize,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
    min: u64,
    /// First `chat.send` written → `final` read.
    wall: Duration,
    cpu_ms: f64,
    frame_max: usize,
    delta_bytes: u64,
    end: Mem,
    stop: Stop,
}

/// Index N of the last token `tN` of a cumulative `deltaText`.
fn last_token(text: &str) -> Option<usize> {
    text.trim_end()
        .rsplit(' ')
        .next()?
        .strip_prefix('t')?
        .parse()
        .ok()
}

fn latency(bin: &Path, dir: &Path, token: &str, tokens: usize, clk_tck: u64) -> R<Latency> {
    let Setup {
        fake,
        mut server,
        mut conn,
    } = setup(
        bin,
        dir,
        token,
        "chat_delta_interval_ms = 0\n",
        tokens,
        LAT_DELAY_MS,
    )?;
    let pid = server.pid;
    let run_id = format!("bench-latency-{}", make_token());
    let last = format!("t{}", tokens - 1);
    let cpu0 = cpu_ticks(pid)?;

    let res = (|| -> R<_> {
        // (receive instant, highest token) per delta; parsed after the stream ended.
        let mut got: Vec<(Instant, Option<usize>)> = Vec::with_capacity(tokens + 16);
        let (mut frame_max, mut delta_bytes) = (0usize, 0u64);
        let t0 = Instant::now();
        let deadline = t0 + DEADLINE;
        send_frame(&mut conn, "send-0", "bench-latency", &run_id)?;
        let mut started = false;
        let mut fin = None;
        for _ in 0..MAX_FRAMES {
            if Instant::now() > deadline {
                break;
            }
            let (text, at) = next_text(&mut conn)?;
            frame_max = frame_max.max(text.len());
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("bad frame: {e}"))?;
            if v["type"] == "res" && v["id"] == "send-0" {
                if v["ok"] != true || v["payload"]["status"] != "started" {
                    return Err(format!("chat.send: {}", clip(&text)));
                }
                started = true;
                continue;
            }
            if v["type"] != "event" || v["event"] != "chat" || v["payload"]["runId"] != run_id {
                continue;
            }
            let p = &v["payload"];
            match p["state"].as_str().unwrap_or("") {
                "delta" => {
                    delta_bytes += text.len() as u64;
                    got.push((at, p["deltaText"].as_str().and_then(last_token)));
                }
                "final" => {
                    fin = Some((final_text(p), at));
                    break;
                }
                s => return Err(format!("run ended with state {s}: {}", clip(&text))),
            }
        }
        let Some((text, at)) = fin else {
            return Err("no final before the deadline / frame cap".into());
        };
        if !started {
            return Err("final before the chat.send answer".into());
        }
        if !text.contains(&last) {
            return Err(format!(
                "final text ({} bytes) does not contain {last:?}",
                text.len()
            ));
        }
        Ok((got, at - t0, frame_max, delta_bytes))
    })();
    let cpu1 = cpu_ticks(pid);
    let end = mem(pid);
    drop(conn);
    let stop = server.stop()?;
    let (got, wall, frame_max, delta_bytes) = res?;
    let end = end?;
    let cpu_ms = cpu1?.saturating_sub(cpu0) as f64 * 1000.0 / clk_tck as f64;

    let reqs = fake.requests();
    let idx: Vec<usize> = reqs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.path.contains("/chat/completions"))
        .map(|(i, _)| i)
        .collect();
    if idx.len() != 1 {
        return Err(format!(
            "{} chat completion requests reached the fake provider (want 1)",
            idx.len()
        ));
    }
    let sent = fake.sent_times(idx[0]);
    if sent.len() != tokens {
        return Err(format!(
            "the fake provider recorded {} send instants (want {tokens})",
            sent.len()
        ));
    }
    let mut lat = Vec::with_capacity(got.len());
    let mut unmatched = 0usize;
    let mut seen = std::collections::HashSet::new();
    for (at, n) in &got {
        match n.and_then(|n| sent.get(n).map(|s| (n, s))) {
            Some((n, s)) => {
                seen.insert(n);
                lat.push(at.saturating_duration_since(*s).as_micros() as u64);
            }
            None => unmatched += 1,
        }
    }
    if lat.is_empty() {
        return Err("no delta could be matched to a token".into());
    }
    lat.sort_unstable();
    Ok(Latency {
        tokens,
        deltas: got.len(),
        unmatched,
        distinct: seen.len(),
        p50: percentile(&lat, 0.50),
        p90: percentile(&lat, 0.90),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or(0),
        min: lat.first().copied().unwrap_or(0),
        wall,
        cpu_ms,
        frame_max,
        delta_bytes,
        end,
        stop,
    })
}

// ------------------------------------------------------------------------------------ report

struct Report {
    info: RunInfo,
    edge: Conc,
    all: Conc,
    lat: Latency,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

impl Report {
    fn render(&self) -> (String, Value) {
        let (e, a, l) = (&self.edge, &self.all, &self.lat);
        let mut rows = Rows::default();
        let shape = |c: &Conc| format!("{} × {} ({CONC_DELAY_MS} ms apart)", c.chats, c.tokens);
        rows.info("Chats × streamed tokens per answer", shape(e), shape(a));
        let at_once = |c: &Conc| {
            let waiting = c.chats.saturating_sub(c.runs_at_once);
            format!(
                "{} runs / {} provider workers{}",
                c.runs_at_once,
                c.workers,
                if waiting > 0 {
                    format!(" ({waiting} wait in the queue)")
                } else {
                    String::new()
                }
            )
        };
        rows.info(
            "Streaming at once (`max_concurrent_runs` / `provider_workers`)",
            at_once(e),
            at_once(a),
        );
        rows.info(
            format!(
                "{} `chat.send` one after the other: first sent → last answer (answers `queued`)",
                e.chats
            ),
            format!(
                "{:.1} ms ({})",
                e.send_spread.as_secs_f64() * 1000.0,
                e.queued
            ),
            format!(
                "{:.1} ms ({})",
                a.send_spread.as_secs_f64() * 1000.0,
                a.queued
            ),
        );
        rows.info(
            "Wall time: first `chat.send` → last `final` (first `final`)",
            format!("{} ({})", secs(e.wall), secs(e.first_final)),
            format!("{} ({})", secs(a.wall), secs(a.first_final)),
        );
        let finals = |c: &Conc| format!("{} / {}", c.finals_ok, c.chats);
        rows.row(
            "Finals OK",
            finals(e),
            finals(a),
            "all",
            verdict(e.finals_ok == e.chats && a.finals_ok == a.chats),
        );
        let texts = |c: &Conc| {
            format!(
                "{} / {} contain `t{}` ({}..{} B)",
                c.text_ok,
                c.chats,
                c.tokens - 1,
                c.text_min,
                c.text_max
            )
        };
        rows.row(
            "Final text complete",
            texts(e),
            texts(a),
            "all",
            verdict(e.text_ok == e.chats && a.text_ok == a.chats),
        );
        let deltas = |c: &Conc| {
            format!(
                "{} ({:.1} MiB; largest frame {:.1} KiB)",
                c.deltas,
                c.delta_bytes as f64 / 1048576.0,
                c.frame_max as f64 / 1024.0
            )
        };
        rows.info(
            "`chat` delta events read (all runs; `chat_delta_interval_ms` = 100)",
            deltas(e),
            deltas(a),
        );
        rows.info(
            format!(
                "Max VmRSS (sampled every {SAMPLE_MS} ms: {} / {} samples)",
                e.samples.n, a.samples.n
            ),
            mem_split(&e.samples.peak),
            mem_split(&a.samples.peak),
        );
        rows.row(
            "VmHWM after the last final (highest RSS since exec)",
            mib(e.end.hwm),
            mib(a.end.hwm),
            "≤ 8 MiB (edge)",
            verdict(e.end.hwm <= T_HWM_KIB),
        );
        rows.info(
            "Most threads seen / at the end",
            format!("{} / {}", e.samples.max_threads, e.end.threads),
            format!("{} / {}", a.samples.max_threads, a.end.threads),
        );
        let cpu = |c: &Conc| {
            format!(
                "{:.0} ms ({:.1} µs per token)",
                c.cpu_ms,
                c.cpu_ms * 1000.0 / (c.chats * c.tokens).max(1) as f64
            )
        };
        rows.info(
            "Server CPU time (utime + stime) during the run",
            cpu(e),
            cpu(a),
        );
        rows.row(
            "SIGTERM → exit code",
            stop_cell(&e.stop),
            stop_cell(&a.stop),
            "exit 0",
            verdict(e.stop.code == Some(0) && a.stop.code == Some(0)),
        );

        let mut rows2 = Rows::default();
        rows2.info(
            "Tokens streamed / `chat` deltas read",
            format!("{} / {}", l.tokens, l.deltas),
            format!(
                "{} distinct highest tokens; {} unmatched; {:.1} MiB of deltas, largest frame {:.1} KiB",
                l.distinct,
                l.unmatched,
                l.delta_bytes as f64 / 1048576.0,
                l.frame_max as f64 / 1024.0
            ),
        );
        rows2.info(
            "Added latency per streamed token: p50 / p90 / p99 (max)",
            format!("{} / {} / {} µs ({} µs)", l.p50, l.p90, l.p99, l.max),
            format!(
                "min {} µs; provider writes token N → client reads the delta holding it",
                l.min
            ),
        );
        rows2.info(
            "Wall time: `chat.send` → `final`",
            secs(l.wall),
            format!(
                "{} tokens × {LAT_DELAY_MS} ms ≥ {:.2} s",
                l.tokens,
                (l.tokens.saturating_sub(1)) as f64 * LAT_DELAY_MS as f64 / 1000.0
            ),
        );
        rows2.info(
            "Server CPU time (utime + stime): total / per token",
            format!(
                "{:.0} ms / {:.1} µs",
                l.cpu_ms,
                l.cpu_ms * 1000.0 / l.tokens.max(1) as f64
            ),
            "send → final; 10 ms tick resolution".into(),
        );
        rows2.info("VmHWM after the final", mib(l.end.hwm), mem_split(&l.end));
        rows2.row(
            "SIGTERM → exit code",
            stop_cell(&l.stop),
            String::new(),
            "exit 0",
            verdict(l.stop.code == Some(0)),
        );

        let mut out = self.info.header("openclaw-edge chat bench");
        out.push_str(&format!(
            "- fake OpenAI server in this process (`tests/common/openai.rs`) streaming `t0 `, `t1 `, …; one client connection (operator.read + write) sends every `chat.send` (sessions `bench-<i>`) and reads every `chat` event{}\n",
            if self.info.quick {
                format!(
                    "; --quick: {} chats × {} tokens instead of {} × {}",
                    QUICK.chats, QUICK.tokens, FULL.chats, FULL.tokens
                )
            } else {
                String::new()
            }
        ));
        out.push_str(&format!(
            "- edge profile: `max_concurrent_runs = 2`, `provider_workers = 2`: two runs stream at once, the others wait in the queue; all at once: `[limits]` {}\n",
            ALL_AT_ONCE.trim_end().replace('\n', ", ")
        ));
        out.push_str(&format!(
            "- server log: {} / {} / {} WARN, {} / {} / {} ERROR lines; provider requests {} / {}\n",
            e.stop.log_warn,
            a.stop.log_warn,
            l.stop.log_warn,
            e.stop.log_err,
            a.stop.log_err,
            l.stop.log_err,
            e.provider_requests,
            a.provider_requests
        ));
        out.push_str("\n### Concurrent streamed chats\n\n");
        out.push_str(&markdown_table(
            [
                "Figure",
                "Edge profile",
                "All at once",
                "Target (edge)",
                "Status",
            ],
            &rows.0,
        ));
        out.push_str(&format!(
            "\n### One chat, `chat_delta_interval_ms = 0`, {} tokens {LAT_DELAY_MS} ms apart\n\n",
            l.tokens
        ));
        out.push_str(&markdown_table(
            ["Figure", "Value", "Note", "Target", "Status"],
            &rows2.0,
        ));

        let conc = |c: &Conc| {
            json!({
                "chats": c.chats, "tokens": c.tokens, "runs_at_once": c.runs_at_once,
                "provider_workers": c.workers,
                "send_spread_ms": c.send_spread.as_secs_f64() * 1000.0, "queued": c.queued,
                "first_final_ms": c.first_final.as_secs_f64() * 1000.0,
                "wall_ms": c.wall.as_secs_f64() * 1000.0,
                "finals_ok": c.finals_ok, "text_ok": c.text_ok,
                "text_min_bytes": c.text_min, "text_max_bytes": c.text_max,
                "deltas": c.deltas, "delta_bytes": c.delta_bytes, "frame_max_bytes": c.frame_max,
                "samples": c.samples.n, "max_rss_kib": c.samples.peak.rss,
                "max_rss_anon_kib": c.samples.peak.rss_anon, "max_threads": c.samples.max_threads,
                "hwm_kib": c.end.hwm, "end_rss_kib": c.end.rss, "end_threads": c.end.threads,
                "cpu_ms": c.cpu_ms, "exit_code": c.stop.code, "stop": c.stop.how,
                "provider_requests": c.provider_requests,
                "log_warn": c.stop.log_warn, "log_err": c.stop.log_err,
            })
        };
        let j = self.info.with_json(json!({
            "edge": conc(e),
            "all_at_once": conc(a),
            "latency": {
                "tokens": l.tokens, "delay_ms": LAT_DELAY_MS, "deltas": l.deltas,
                "unmatched": l.unmatched, "distinct": l.distinct,
                "p50_us": l.p50, "p90_us": l.p90, "p99_us": l.p99, "max_us": l.max, "min_us": l.min,
                "wall_ms": l.wall.as_secs_f64() * 1000.0, "cpu_ms": l.cpu_ms,
                "cpu_us_per_token": l.cpu_ms * 1000.0 / l.tokens.max(1) as f64,
                "hwm_kib": l.end.hwm, "exit_code": l.stop.code,
            },
            "targets": {"edge_hwm_kib": T_HWM_KIB},
            "pass": {"edge_hwm": e.end.hwm <= T_HWM_KIB},
        }));
        (out, j)
    }
}
