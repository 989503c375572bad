//! Gateway benchmark: starts `openclaw-edge run` on loopback and measures what the issue asks for.
//!
//! Binary size, exec → `listening` and exec → first `hello-ok`, idle RSS / Pss_Anon / threads /
//! wakeups (context switches 5–35 s after exec), RSS and VmHWM with 50 and 200 authenticated idle
//! connections, `health` round trips (10,000 on one connection; 20 connections × 500), VmHWM
//! after all that, and (when `bench/run.sh --build-ram` measured it) the peak RAM of a clean
//! release build. Prints a Markdown table, each figure next to its target and the reference
//! runtime, then one `BENCH_JSON {...}` line.
//!
//! Usage: `bench/run.sh` (builds the static binary first), or
//! `cargo bench --bench gateway -- --bin PATH [--quick] [--config F] [--startup-runs N]
//! [--bin-note TEXT] [--build-ram-file F] [--json-out F] [--keep]`. See `bench/README.md`.
//!
//! Everything is bounded: every loop has a count and a deadline, sockets have read/write
//! timeouts, the server is stopped with SIGTERM (SIGKILL after 5 s) and its temp dir removed.

#![recursion_limit = "256"]

#[path = "common.rs"]
mod common;

use common::*;

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

const IDLE_SMALL: usize = 50;
const IDLE_LARGE: usize = 200;
const SEQ_CALLS: usize = 10_000;
const CONC_CONNS: usize = 20;
const CONC_CALLS: usize = 500;
/// Wakeup window starts this long after exec (start-up work and the first idle reaping done).
const IDLE_FROM: Duration = Duration::from_secs(5);

// Targets (edge profile, x86_64 static build).
const T_IDLE_RSS_KIB: u64 = 3584; // 3.5 MiB
const T_THREADS: u64 = 2;
const T_WAKEUPS: f64 = 1.0;
const T_HWM_KIB: u64 = 6144; // 6 MiB
const T_READY_MS: f64 = 20.0;
const T_BIN_BYTES: u64 = 4 * 1024 * 1024;

// Reference runtime this replaces.
const REF_IDLE: &str = "17 MiB";
const REF_PEAK: &str = "46 MiB";
const REF_PER_CONN: &str = "~53 KiB";
const REF_LISTEN: &str = "95 ms";
const REF_BIN: &str = "31 MB";

fn main() {
    bench_main("gateway", USAGE, OWN_FLAGS, run);
}

const USAGE: &str = "usage: gateway [--bin PATH] [--quick] [--config F] [--startup-runs N] \
[--bin-note TEXT] [--build-ram-file F] [--json-out F] [--keep]";
/// The flags of this bench besides the shared ones (`Flags`).
const OWN_FLAGS: &[Own] = &[
    Own::Path("--config"),
    Own::Clamp("--startup-runs", 0, 50),
    Own::Path("--build-ram-file"),
];

// ------------------------------------------------------------------------------------------ run

fn run(f: &Flags) -> R<()> {
    let idle_to = if f.quick {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(35)
    };
    let startup_runs = f
        .num("--startup-runs")
        .unwrap_or(if f.quick { 3 } else { 5 });
    let config = f.path("--config");
    let run = Run::start("gateway", f, config, "openclaw-edge-bench")?;
    let elf = elf_info(&run.bin)?;
    let build_ram = match f.path("--build-ram-file") {
        Some(p) => parse_build_ram(p)?,
        None => Vec::new(),
    };
    let clk_tck = clk_tck();
    eprintln!(
        "gateway bench: binary {} ({} bytes), temp dir {}",
        run.bin.display(),
        elf.size,
        run.root.display()
    );

    let res = measure(
        config,
        &run.bin,
        &run.root,
        &run.token,
        idle_to,
        startup_runs,
        clk_tck,
    );
    run.finish(res, "BENCH_JSON", |info, m| {
        Report {
            info,
            elf,
            idle_to,
            build_ram,
            m,
        }
        .render()
    })
}

#[derive(Debug)]
struct Startup {
    listen: Duration,
    ready: Duration,
    attempts: u32,
}

#[derive(Debug)]
struct Measured {
    startups: Vec<Startup>,
    trial_stops: Vec<Stop>,
    idle: Mem,
    idle_window: Duration,
    ctx_switches: u64,
    max_threads_window: u64,
    idle_cpu_ms: u64,
    m50: Mem,
    m200: Mem,
    alive_after_seq: usize,
    seq: Lat,
    seq_mem: Mem,
    conc: Lat,
    conc_mem: Mem,
    alive_after_conc: usize,
    ev_idle: Ev,
    ev_calls: Ev,
    closed_mem: Mem,
    cycle2_open: Mem,
    cycle2_closed: Mem,
    stop: Stop,
}

fn measure(
    config: Option<&Path>,
    bin: &Path,
    root: &Path,
    token: &str,
    idle_to: Duration,
    startup_runs: usize,
    clk_tck: u64,
) -> R<Measured> {
    // 1. Start-up trials: exec → listening line → first hello-ok, then SIGTERM.
    let mut startups = Vec::new();
    let mut trial_stops = Vec::new();
    for i in 0..startup_runs {
        let mut s = Server::start(bin, config, &root.join(format!("trial-{i}")), token)?;
        let (st, conn) = ready(&mut s, token)?;
        drop(conn);
        startups.push(st);
        trial_stops.push(s.stop()?);
    }

    // 2. The main run.
    let mut s = Server::start(bin, config, &root.join("main"), token)?;
    let (st, conn) = ready(&mut s, token)?;
    drop(conn);
    startups.push(st);
    let pid = s.pid;
    eprintln!(
        "gateway bench: server pid {pid} on port {}; idle window {}-{} s after exec",
        s.port,
        IDLE_FROM.as_secs(),
        idle_to.as_secs()
    );

    // 3. Idle window: per-thread context switches sampled once a second.
    sleep_until(s.t_exec + IDLE_FROM);
    let w0 = Instant::now();
    let cpu0 = cpu_ticks(pid)?;
    let mut first: HashMap<u32, u64> = task_ctx(pid)?;
    let mut last: HashMap<u32, u64> = first.clone();
    let mut max_threads = first.len() as u64;
    let steps = (idle_to - IDLE_FROM).as_secs();
    for k in 1..=steps {
        sleep_until(w0 + Duration::from_secs(k));
        let now = task_ctx(pid)?;
        max_threads = max_threads.max(now.len() as u64);
        for (tid, n) in now {
            // A thread born inside the window counts from 0.
            first.entry(tid).or_insert(0);
            last.insert(tid, n);
        }
    }
    let idle_window = w0.elapsed();
    let cpu1 = cpu_ticks(pid)?;
    let ctx_switches: u64 = last
        .iter()
        .map(|(tid, n)| n.saturating_sub(*first.get(tid).unwrap_or(&0)))
        .sum();
    let idle = mem(pid)?;
    let idle_cpu_ms = (cpu1.saturating_sub(cpu0)) * 1000 / clk_tck.max(1);

    // 4. Authenticated idle connections: they send nothing but read what they are sent (a
    //    reader thread each, as a real client would), so the server never sees a slow consumer.
    let mut pool = IdlePool::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    let res = (|| -> R<_> {
        pool.open_upto(IDLE_SMALL, s.port, token, deadline)?;
        let m50 = pool.settle_and_measure(pid)?;
        pool.open_upto(IDLE_LARGE, s.port, token, deadline)?;
        let m200 = pool.settle_and_measure(pid)?;

        // 5. Sequential health round trips on one connection.
        let mut c = Conn::open(s.port, token, Duration::from_secs(5))?;
        pool.quiesce(); // let its presence fan-out finish before timing
        c.drain_quiet(Duration::from_millis(300), Duration::from_secs(5))?;
        let seq = timed_calls(
            &mut c,
            "health",
            SEQ_CALLS,
            Instant::now() + Duration::from_secs(300),
        )?;
        let mut ev_calls = c.ev;
        drop(c);
        pool.quiesce();
        let alive_after_seq = pool.alive();
        let seq_mem = mem(pid)?;

        // 6. 20 concurrent connections × 500 calls (one client thread each).
        let (conc, ev) = concurrent(s.port, token, &|| pool.quiesce())?;
        ev_calls.add(&ev);
        pool.quiesce();
        let alive_after_conc = pool.alive();
        let conc_mem = mem(pid)?;
        Ok((
            m50,
            m200,
            seq,
            seq_mem,
            conc,
            conc_mem,
            alive_after_seq,
            alive_after_conc,
            ev_calls,
        ))
    })();
    // 7. Close everything (also on error), let the server reap, then stop it.
    let ev_idle = pool.stop();
    let (m50, m200, seq, seq_mem, conc, conc_mem, alive_after_seq, alive_after_conc, ev_calls) =
        res?;
    thread::sleep(Duration::from_secs(1));
    let closed_mem = mem(pid)?;

    // 8. One more open/close cycle of 200 idle conns: growth here would be a leak, no growth
    //    means the memory kept after the first close is allocator retention.
    let mut pool2 = IdlePool::default();
    let cycle = pool2
        .open_upto(
            IDLE_LARGE,
            s.port,
            token,
            Instant::now() + Duration::from_secs(120),
        )
        .and_then(|()| pool2.settle_and_measure(pid));
    pool2.stop();
    let cycle2_open = cycle?;
    thread::sleep(Duration::from_secs(1));
    let cycle2_closed = mem(pid)?;
    let stop = s.stop()?;

    Ok(Measured {
        startups,
        trial_stops,
        idle,
        idle_window,
        ctx_switches,
        max_threads_window: max_threads,
        idle_cpu_ms,
        m50,
        m200,
        alive_after_seq,
        seq,
        seq_mem,
        conc,
        conc_mem,
        alive_after_conc,
        ev_idle,
        ev_calls,
        closed_mem,
        cycle2_open,
        cycle2_closed,
        stop,
    })
}

#[derive(Default)]
struct PoolShared {
    stop: AtomicBool,
    closed: AtomicUsize,
    events: AtomicU64,
    bytes: AtomicU64,
    max: AtomicU64,
    first_close: Mutex<String>,
}

/// The idle connections, each drained by its own reader thread.
#[derive(Default)]
struct IdlePool {
    socks: Vec<TcpStream>,
    threads: Vec<thread::JoinHandle<()>>,
    shared: Arc<PoolShared>,
}

impl IdlePool {
    fn open_upto(&mut self, upto: usize, port: u16, token: &str, deadline: Instant) -> R<()> {
        while self.socks.len() < upto {
            let k = self.socks.len() + 1;
            if Instant::now() > deadline {
                return Err(format!("opening idle connections: deadline passed at #{k}"));
            }
            let c = Conn::open(port, token, Duration::from_secs(5))
                .map_err(|e| format!("idle connection #{k}: {e}"))?;
            self.add(c)
                .map_err(|e| format!("idle connection #{k}: {e}"))?;
        }
        Ok(())
    }

    fn add(&mut self, mut c: Conn) -> R<()> {
        let sock = c.ws.get_ref().try_clone().map_err(|e| e.to_string())?;
        // Reader wakes at least every 2 s to check the stop flag and its deadline.
        sock.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        let sh = Arc::clone(&self.shared);
        let e = std::mem::take(&mut c.ev);
        sh.events.fetch_add(e.n, Ordering::Relaxed);
        sh.bytes.fetch_add(e.bytes, Ordering::Relaxed);
        sh.max.fetch_max(e.max, Ordering::Relaxed);
        let h = thread::Builder::new()
            .name("idle-reader".into())
            .stack_size(128 * 1024)
            .spawn(move || idle_reader(c, sh))
            .map_err(|e| format!("spawn reader: {e}"))?;
        self.socks.push(sock);
        self.threads.push(h);
        Ok(())
    }

    /// Waits (≤ 5 s) until the idle connections have received nothing for 300 ms.
    fn quiesce(&self) {
        let end = Instant::now() + Duration::from_secs(5);
        let mut last = self.shared.events.load(Ordering::Relaxed);
        let mut still = Instant::now();
        while Instant::now() < end {
            thread::sleep(Duration::from_millis(50));
            let now = self.shared.events.load(Ordering::Relaxed);
            if now != last {
                last = now;
                still = Instant::now();
            } else if still.elapsed() >= Duration::from_millis(300) {
                break;
            }
        }
    }

    fn alive(&self) -> usize {
        self.socks.len()
            - self
                .shared
                .closed
                .load(Ordering::Relaxed)
                .min(self.socks.len())
    }

    /// Lets the server settle, then samples its memory; fails if it closed any idle connection.
    fn settle_and_measure(&self, pid: u32) -> R<Mem> {
        self.quiesce();
        thread::sleep(Duration::from_millis(200));
        let n = self.socks.len();
        let alive = self.alive();
        if alive != n {
            let why = self
                .shared
                .first_close
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            return Err(format!(
                "only {alive} of {n} idle connections still open (first: {why})"
            ));
        }
        mem(pid)
    }

    /// Closes every idle connection (TCP shutdown) and joins the readers.
    fn stop(&mut self) -> Ev {
        self.shared.stop.store(true, Ordering::Relaxed);
        for s in &self.socks {
            let _ = s.shutdown(Shutdown::Both);
        }
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        self.socks.clear();
        Ev {
            n: self.shared.events.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            max: self.shared.max.load(Ordering::Relaxed),
        }
    }
}

impl Drop for IdlePool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn idle_reader(mut c: Conn, sh: Arc<PoolShared>) {
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut why = String::from("reader deadline");
    for _ in 0..50_000_000u64 {
        if sh.stop.load(Ordering::Relaxed) {
            return;
        }
        if Instant::now() > deadline {
            break;
        }
        match c.ws.read() {
            Ok(Message::Text(t)) => {
                sh.events.fetch_add(1, Ordering::Relaxed);
                sh.bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
                sh.max.fetch_max(t.len() as u64, Ordering::Relaxed);
            }
            Ok(Message::Close(f)) => {
                why = format!("server closed: {f:?}");
                break;
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(e) => {
                why = format!("read: {e}");
                break;
            }
        }
    }
    if !sh.stop.load(Ordering::Relaxed) {
        sh.closed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = sh.first_close.lock() {
            if f.is_empty() {
                *f = why;
            }
        }
    }
}

/// Opens the connections, waits for the server to go quiet (`settle`), then times the calls.
fn concurrent(port: u16, token: &str, settle: &dyn Fn()) -> R<(Lat, Ev)> {
    let opened = Arc::new(Barrier::new(CONC_CONNS + 1));
    let barrier = Arc::new(Barrier::new(CONC_CONNS + 1));
    let mut handles = Vec::with_capacity(CONC_CONNS);
    for _ in 0..CONC_CONNS {
        let b = Arc::clone(&barrier);
        let o = Arc::clone(&opened);
        let token = token.to_string();
        handles.push(thread::spawn(move || -> R<(Vec<u64>, Ev)> {
            // Every thread reaches the barrier, whether its connection opened or not.
            let c = Conn::open(port, &token, Duration::from_secs(5));
            o.wait();
            // Read the presence backlog the later connects caused, then start together.
            let c = c.and_then(|mut c| {
                c.drain_quiet(Duration::from_millis(300), Duration::from_secs(5))?;
                Ok(c)
            });
            b.wait();
            let mut c = c?;
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut lat = Vec::with_capacity(CONC_CALLS);
            for i in 0..CONC_CALLS {
                if Instant::now() > deadline {
                    return Err(format!("concurrent calls: deadline passed after {i}"));
                }
                let t = Instant::now();
                c.call("health")?;
                lat.push(t.elapsed().as_nanos() as u64);
            }
            Ok((lat, c.ev))
        }));
    }
    opened.wait();
    settle();
    barrier.wait();
    let t0 = Instant::now();
    let mut all = Vec::with_capacity(CONC_CONNS * CONC_CALLS);
    let mut events = Ev::default();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok((l, ev))) => {
                all.extend(l);
                events.add(&ev);
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert("client thread panicked".into());
            }
        }
    }
    let wall = t0.elapsed();
    if let Some(e) = first_err {
        return Err(format!("concurrent phase: {e}"));
    }
    Ok((lat_stats(all, wall), events))
}

/// Waits for the first `hello-ok` (2 s socket timeouts, ≤ 5 s) and records the start-up times.
fn ready(s: &mut Server, token: &str) -> R<(Startup, Conn)> {
    let (ready, attempts, c) =
        s.wait_ready(token, Duration::from_secs(2), Duration::from_secs(5))?;
    let st = Startup {
        listen: s.listen,
        ready,
        attempts,
    };
    Ok((st, c))
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

// ------------------------------------------------------------------------------------- /proc

/// voluntary + nonvoluntary context switches of every thread, by thread id.
fn task_ctx(pid: u32) -> R<HashMap<u32, u64>> {
    let dir = format!("/proc/{pid}/task");
    let mut m = HashMap::new();
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e} (server exited?)"))?;
    for e in rd.flatten().take(10_000) {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // A thread may exit between read_dir and here: skip it.
        if let Ok(st) = kv_file(&format!("{dir}/{tid}/status")) {
            let n = st.get("voluntary_ctxt_switches").copied().unwrap_or(0)
                + st.get("nonvoluntary_ctxt_switches").copied().unwrap_or(0);
            m.insert(tid, n);
        }
    }
    Ok(m)
}

// ------------------------------------------------------------------------------ binary + host

#[derive(Debug)]
struct Elf {
    size: u64,
    arch: String,
    is_static: Option<bool>,
    stripped: Option<bool>,
}

/// Size, machine, static (no PT_INTERP) and stripped (no SHT_SYMTAB) from the ELF headers.
fn elf_info(p: &Path) -> R<Elf> {
    let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let size = b.len() as u64;
    let mut e = Elf {
        size,
        arch: "?".into(),
        is_static: None,
        stripped: None,
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return Ok(e); // not a 64-bit little-endian ELF: report size only
    }
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
    };
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])) as usize)
    };
    e.arch = match u16_at(18) {
        Some(62) => "x86_64".into(),
        Some(183) => "aarch64".into(),
        Some(40) => "arm".into(),
        Some(m) => format!("e_machine {m}"),
        None => "?".into(),
    };
    let (Some(phoff), Some(phsz), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return Ok(e);
    };
    let mut interp = false;
    for i in 0..phnum.min(256) {
        if u32_at(phoff + i * phsz) == Some(3) {
            interp = true;
        }
    }
    e.is_static = Some(!interp);
    if let (Some(shoff), Some(shsz), Some(shnum)) = (u64_at(40), u16_at(58), u16_at(60)) {
        if shoff > 0 {
            let mut symtab = false;
            for i in 0..shnum.min(4096) {
                if u32_at(shoff + i * shsz + 4) == Some(2) {
                    symtab = true;
                }
            }
            e.stripped = Some(!symtab);
        }
    }
    Ok(e)
}

#[derive(Debug)]
struct BuildRam {
    profile: String,
    max_rss_kib: Option<u64>,
    wall: String,
    note: String,
}

/// Lines written by `bench/run.sh --build-ram`: `PROFILE MAX_RSS_KIB WALL [NOTE...]`.
fn parse_build_ram(p: &Path) -> R<Vec<BuildRam>> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(16)
        .map(|l| {
            let mut f = l.split_whitespace();
            BuildRam {
                profile: f.next().unwrap_or("?").to_string(),
                max_rss_kib: f.next().and_then(|x| x.parse().ok()),
                wall: f.next().unwrap_or("?").to_string(),
                note: f.collect::<Vec<_>>().join(" "),
            }
        })
        .collect())
}

// ------------------------------------------------------------------------------------ report

struct Report {
    info: RunInfo,
    elf: Elf,
    idle_to: Duration,
    build_ram: Vec<BuildRam>,
    m: Measured,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn us(ns: u64) -> String {
    format!("{:.0} µs", ns as f64 / 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    if v.is_empty() {
        Duration::ZERO
    } else {
        v[(v.len() - 1) / 2]
    }
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

impl Report {
    fn render(&self) -> (String, Value) {
        let m = &self.m;
        let mut rows: Vec<[String; 5]> = Vec::new();
        let mut row = |f: &str, v: String, t: &str, s: &str, r: &str| {
            rows.push([f.into(), v, t.into(), s.into(), r.into()]);
        };
        let na = "–";

        let musl_static = self.elf.is_static == Some(true) && self.elf.arch == "x86_64";
        row(
            &format!(
                "Binary size (static: {}, stripped: {}, {})",
                yes_no(self.elf.is_static),
                yes_no(self.elf.stripped),
                self.elf.arch
            ),
            format!(
                "{:.2} MiB ({} bytes)",
                self.elf.size as f64 / 1048576.0,
                self.elf.size
            ),
            "≤ 4 MiB",
            &if musl_static {
                verdict(self.elf.size <= T_BIN_BYTES).to_string()
            } else {
                format!(
                    "{} (not a static x86_64 build)",
                    verdict(self.elf.size <= T_BIN_BYTES)
                )
            },
            REF_BIN,
        );
        let n = m.startups.len();
        let listen = median(m.startups.iter().map(|s| s.listen).collect());
        let ready: Vec<Duration> = m.startups.iter().map(|s| s.ready).collect();
        let ready_med = median(ready.clone());
        let ready_min = ready.iter().min().copied().unwrap_or_default();
        let ready_max = ready.iter().max().copied().unwrap_or_default();
        let max_attempts = m.startups.iter().map(|s| s.attempts).max().unwrap_or(0);
        row(
            &format!("exec → `listening` line (median of {n})"),
            ms(listen),
            na,
            na,
            REF_LISTEN,
        );
        row(
            &format!(
                "exec → first hello-ok (median of {n}; min {}, max {})",
                ms(ready_min),
                ms(ready_max)
            ),
            ms(ready_med),
            "≤ 20 ms",
            verdict(ready_med.as_secs_f64() * 1000.0 <= T_READY_MS),
            na,
        );
        row(
            "Idle RSS (VmRSS at end of idle window)",
            mib(m.idle.rss),
            "≤ 3.5 MiB",
            verdict(m.idle.rss <= T_IDLE_RSS_KIB),
            REF_IDLE,
        );
        row(
            "Idle Pss_Anon (smaps_rollup)",
            mib(m.idle.pss_anon),
            na,
            na,
            na,
        );
        row(
            &format!(
                "Idle threads (max seen in window: {})",
                m.max_threads_window
            ),
            m.idle.threads.to_string(),
            "≤ 2",
            verdict(m.idle.threads <= T_THREADS && m.max_threads_window <= T_THREADS),
            na,
        );
        let win = m.idle_window.as_secs_f64();
        let rate = if win > 0.0 {
            m.ctx_switches as f64 / win
        } else {
            0.0
        };
        row(
            &format!(
                "Idle wakeups/s (ctx switches {}–{} s: {} in {:.1} s; CPU {} ms)",
                IDLE_FROM.as_secs(),
                self.idle_to.as_secs(),
                m.ctx_switches,
                win,
                m.idle_cpu_ms
            ),
            format!("{rate:.2}/s"),
            "≤ 1/s",
            verdict(rate <= T_WAKEUPS),
            na,
        );
        row(
            "Start-up peak (VmHWM when idle)",
            mib(m.idle.hwm),
            na,
            na,
            REF_PEAK,
        );
        row(
            &format!("RSS / VmHWM, {IDLE_SMALL} idle authenticated conns"),
            format!("{} / {}", mib(m.m50.rss), mib(m.m50.hwm)),
            na,
            na,
            na,
        );
        row(
            &format!("RSS / VmHWM, {IDLE_LARGE} idle authenticated conns"),
            format!("{} / {}", mib(m.m200.rss), mib(m.m200.hwm)),
            na,
            na,
            na,
        );
        let per_conn_marginal =
            (m.m200.rss.saturating_sub(m.m50.rss)) as f64 / (IDLE_LARGE - IDLE_SMALL) as f64;
        let per_conn_avg = (m.m200.rss.saturating_sub(m.idle.rss)) as f64 / IDLE_LARGE as f64;
        row(
            &format!(
                "RSS per idle conn ({IDLE_SMALL}→{IDLE_LARGE} marginal; avg over idle→{IDLE_LARGE}: {per_conn_avg:.1} KiB)"
            ),
            format!("{per_conn_marginal:.1} KiB"),
            na,
            na,
            REF_PER_CONN,
        );
        let rate_of = |l: &Lat| l.calls as f64 / l.wall.as_secs_f64().max(1e-9);
        row(
            &format!("health, 1 conn sequential ({} calls): calls/s", m.seq.calls),
            format!("{:.0}/s", rate_of(&m.seq)),
            na,
            na,
            na,
        );
        row(
            &format!(
                "health, 1 conn: p50 / p99 (max; {} calls ≥ 10 ms)",
                m.seq.slow
            ),
            format!("{} / {} ({})", us(m.seq.p50), us(m.seq.p99), us(m.seq.max)),
            na,
            na,
            na,
        );
        row(
            &format!("health, {CONC_CONNS} conns × {CONC_CALLS} concurrent: calls/s"),
            format!("{:.0}/s", rate_of(&m.conc)),
            na,
            na,
            na,
        );
        row(
            &format!(
                "health, {CONC_CONNS} conns: p50 / p99 (max; {} calls ≥ 10 ms)",
                m.conc.slow
            ),
            format!(
                "{} / {} ({})",
                us(m.conc.p50),
                us(m.conc.p99),
                us(m.conc.max)
            ),
            na,
            na,
            na,
        );
        row(
            &format!(
                "VmHWM after {IDLE_LARGE} idle conns + {SEQ_CALLS} calls (RSS {})",
                mib(m.seq_mem.rss)
            ),
            mib(m.seq_mem.hwm),
            "≤ 6 MiB",
            verdict(m.seq_mem.hwm <= T_HWM_KIB),
            na,
        );
        row(
            &format!(
                "VmHWM after + {CONC_CONNS}×{CONC_CALLS} concurrent (RSS {}, threads {})",
                mib(m.conc_mem.rss),
                m.conc_mem.threads
            ),
            mib(m.conc_mem.hwm),
            na,
            na,
            na,
        );
        row(
            "RSS / VmHWM 1 s after all conns closed",
            format!("{} / {}", mib(m.closed_mem.rss), mib(m.closed_mem.hwm)),
            na,
            na,
            na,
        );
        row(
            &format!(
                "2nd cycle: RSS with {IDLE_LARGE} idle conns again / 1 s after closing (VmHWM {})",
                mib(m.cycle2_closed.hwm)
            ),
            format!("{} / {}", mib(m.cycle2_open.rss), mib(m.cycle2_closed.rss)),
            na,
            na,
            na,
        );
        let stops: Vec<String> = m
            .trial_stops
            .iter()
            .chain(std::iter::once(&m.stop))
            .map(|s| {
                s.code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into())
            })
            .collect();
        let all_zero = m
            .trial_stops
            .iter()
            .chain(std::iter::once(&m.stop))
            .all(|s| s.code == Some(0));
        row(
            &format!(
                "SIGTERM → exit, all runs (codes: {}; main run: {}, time shown)",
                stops.join(","),
                m.stop.how
            ),
            ms(m.stop.took),
            "exit 0",
            verdict(all_zero),
            na,
        );
        for b in &self.build_ram {
            let label = match b.profile.as_str() {
                "release" => "Peak RAM, clean `cargo build --release` (fat LTO)".to_string(),
                "lowmem" => "Peak RAM, clean `cargo build --profile lowmem`".to_string(),
                p => format!("Peak RAM, clean build, profile {p}"),
            };
            let v = match b.max_rss_kib {
                Some(k) => format!("{} (wall {})", mib(k), b.wall),
                None => format!("failed ({})", b.note),
            };
            row(&label, v, na, na, na);
        }

        let mut out = self.info.header("openclaw-edge gateway bench");
        out.push_str(&format!(
            "- idle window: {}–{} s after exec{}\n",
            IDLE_FROM.as_secs(),
            self.idle_to.as_secs(),
            if self.info.quick {
                " (--quick: shortened from 5–35 s)"
            } else {
                ""
            }
        ));
        out.push_str(&format!(
            "- client: ≤ {} connect attempt(s) per start-up; event frames received by the idle conns: {} ({}, largest {:.1} KiB), by the calling conns: {} ({}, largest {:.1} KiB); idle conns still open after the calls: {}/{} and {}/{}; server log: {} WARN, {} ERROR lines\n",
            max_attempts,
            m.ev_idle.n,
            mib(m.ev_idle.bytes / 1024),
            m.ev_idle.max as f64 / 1024.0,
            m.ev_calls.n,
            mib(m.ev_calls.bytes / 1024),
            m.ev_calls.max as f64 / 1024.0,
            m.alive_after_seq,
            IDLE_LARGE,
            m.alive_after_conc,
            IDLE_LARGE,
            m.stop.log_warn,
            m.stop.log_err
        ));
        if self.build_ram.is_empty() {
            out.push_str("- build peak RAM: not measured (bench/run.sh --build-ram)\n");
        }
        out.push('\n');
        let head = [
            "Figure",
            "Measured",
            "Target",
            "Status",
            "Reference runtime",
        ];
        out.push_str(&markdown_table(head, &rows));

        let lat = |l: &Lat| {
            json!({"calls": l.calls, "wall_ms": l.wall.as_secs_f64() * 1000.0,
                   "calls_per_s": rate_of(l), "p50_us": l.p50 as f64 / 1000.0,
                   "p99_us": l.p99 as f64 / 1000.0, "max_us": l.max as f64 / 1000.0,
                   "calls_ge_10ms": l.slow})
        };
        let memj = |x: &Mem| {
            json!({"rss_kib": x.rss, "hwm_kib": x.hwm, "rss_anon_kib": x.rss_anon,
                   "pss_anon_kib": x.pss_anon, "threads": x.threads})
        };
        let j = self.info.with_json(json!({
            "config": self.info.config,
            "binary": {"bytes": self.elf.size, "arch": self.elf.arch,
                       "static": self.elf.is_static, "stripped": self.elf.stripped},
            "startup": m.startups.iter().map(|s| json!({
                "listen_ms": s.listen.as_secs_f64() * 1000.0,
                "ready_ms": s.ready.as_secs_f64() * 1000.0, "attempts": s.attempts})).collect::<Vec<_>>(),
            "ready_ms_median": ready_med.as_secs_f64() * 1000.0,
            "listen_ms_median": listen.as_secs_f64() * 1000.0,
            "idle": memj(&m.idle),
            "idle_window_s": [IDLE_FROM.as_secs(), self.idle_to.as_secs()],
            "idle_ctx_switches": m.ctx_switches,
            "idle_wakeups_per_s": rate,
            "idle_max_threads": m.max_threads_window,
            "idle_cpu_ms": m.idle_cpu_ms,
            "conns_50": memj(&m.m50),
            "conns_200": memj(&m.m200),
            "per_conn_kib_marginal": per_conn_marginal,
            "per_conn_kib_avg": per_conn_avg,
            "seq": lat(&m.seq),
            "after_200_idle_10000_calls": memj(&m.seq_mem),
            "conc": lat(&m.conc),
            "after_conc": memj(&m.conc_mem),
            "after_close": memj(&m.closed_mem),
            "cycle2_open": memj(&m.cycle2_open),
            "cycle2_closed": memj(&m.cycle2_closed),
            "stop_ms": m.stop.took.as_secs_f64() * 1000.0,
            "exit_codes": m.trial_stops.iter().chain(std::iter::once(&m.stop)).map(|s| s.code).collect::<Vec<_>>(),
            "events_idle": {"frames": m.ev_idle.n, "bytes": m.ev_idle.bytes, "max_bytes": m.ev_idle.max},
            "events_calls": {"frames": m.ev_calls.n, "bytes": m.ev_calls.bytes, "max_bytes": m.ev_calls.max},
            "idle_alive_after_seq": m.alive_after_seq,
            "idle_alive_after_conc": m.alive_after_conc,
            "log_warn": m.stop.log_warn,
            "log_error": m.stop.log_err,
            "build_ram": self.build_ram.iter().map(|b| json!({
                "profile": b.profile, "max_rss_kib": b.max_rss_kib, "wall": b.wall, "note": b.note})).collect::<Vec<_>>(),
            "pass": {
                "binary": self.elf.size <= T_BIN_BYTES,
                "ready": ready_med.as_secs_f64() * 1000.0 <= T_READY_MS,
                "idle_rss": m.idle.rss <= T_IDLE_RSS_KIB,
                "threads": m.idle.threads <= T_THREADS && m.max_threads_window <= T_THREADS,
                "wakeups": rate <= T_WAKEUPS,
                "hwm_200_10000": m.seq_mem.hwm <= T_HWM_KIB,
                "exit_0": all_zero,
            }
        }));
        (out, j)
    }
}
