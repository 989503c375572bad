//! Shared pieces of the benchmarks (`gateway.rs`, `sessions.rs`, `chat.rs`, `defender.rs`,
//! `telegram.rs`, `memory.rs`): the server process under test, a small synchronous protocol
//! client, `/proc` readings and a background sampler, a deterministic PRNG, host facts and table
//! helpers.
//!
//! Included by each bench with `#[path = "common.rs"] mod common;`. Each bench uses a subset, so
//! unused items are allowed here rather than warned about in one of the builds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Bench results: a harness failure is a message.
pub type R<T> = Result<T, String>;

/// Shared token given to the server through the environment (loopback only, per run).
pub const TOKEN_ENV: &str = "OPENCLAW_EDGE_GATEWAY_TOKEN";

#[derive(Default, Debug, Clone, Copy)]
pub struct Mem {
    /// VmRSS (KiB).
    pub rss: u64,
    /// VmHWM (KiB).
    pub hwm: u64,
    /// RssAnon: heap and stacks, SQLite's page cache included (KiB).
    pub rss_anon: u64,
    /// RssFile + RssShmem: mapped binary pages, the -shm file (KiB).
    pub file: u64,
    /// Pss_Anon from smaps_rollup (KiB).
    pub pss_anon: u64,
    /// Threads.
    pub threads: u64,
}

#[derive(Debug)]
pub struct Stop {
    pub code: Option<i32>,
    pub how: String,
    pub took: Duration,
    /// WARN and ERROR lines in the server's log.
    pub log_warn: usize,
    pub log_err: usize,
}

#[derive(Debug)]
pub struct Lat {
    pub calls: usize,
    pub wall: Duration,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    /// Calls that took 10 ms or more.
    pub slow: usize,
}

/// Event frames a client skipped: count, bytes, largest.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ev {
    pub n: u64,
    pub bytes: u64,
    pub max: u64,
}

impl Ev {
    pub fn note(&mut self, len: usize) {
        self.n += 1;
        self.bytes += len as u64;
        self.max = self.max.max(len as u64);
    }
    pub fn add(&mut self, o: &Ev) {
        self.n += o.n;
        self.bytes += o.bytes;
        self.max = self.max.max(o.max);
    }
}

/// The `p` quantile (0.0–1.0, nearest rank) of `sorted` (ascending); 0 when it is empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn lat_stats(mut v: Vec<u64>, wall: Duration) -> Lat {
    v.sort_unstable();
    Lat {
        calls: v.len(),
        wall,
        p50: percentile(&v, 0.50),
        p99: percentile(&v, 0.99),
        max: v.last().copied().unwrap_or(0),
        slow: v.iter().filter(|&&x| x >= 10_000_000).count(),
    }
}

/// Small deterministic PRNG (xorshift64*), so every run generates the same data and picks.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// One element of the non-empty `from`.
    pub fn pick<'a, T: ?Sized>(&mut self, from: &[&'a T]) -> &'a T {
        from[self.below(from.len())]
    }
}

// ------------------------------------------------------------------------------------ server

pub struct Server {
    child: Option<Child>,
    /// Process id.
    pub pid: u32,
    /// Port from the `listening on` line.
    pub port: u16,
    /// When the process was spawned.
    pub t_exec: Instant,
    /// exec → `listening on` line.
    pub listen: Duration,
    dir: PathBuf,
    drain: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(bin: &Path, config: Option<&Path>, dir: &Path, token: &str) -> R<Server> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg("--bind").arg("127.0.0.1:0");
        cmd.arg("--state-dir").arg(dir.join("state"));
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        // The working dir is the temp dir, so a stray ./openclaw-edge.toml is never picked up.
        cmd.current_dir(dir)
            .env(TOKEN_ENV, token)
            .env_remove("OPENCLAW_EDGE_CONFIG")
            .env_remove("OPENCLAW_EDGE_STATE_DIR")
            .env_remove("OPENCLAW_EDGE_GATEWAY_PASSWORD")
            .env_remove("OPENCLAW_RS_GATEWAY_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let t_exec = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        let out = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        let drain = thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut line = String::new();
            let res = r.read_line(&mut line).map(|_| line);
            let _ = tx.send((res, Instant::now()));
            // Keep the pipe open until the server exits (EOF), discarding anything else.
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        });
        let mut s = Server {
            child: Some(child),
            pid,
            port: 0,
            t_exec,
            listen: Duration::ZERO,
            dir: dir.to_path_buf(),
            drain: Some(drain),
        };
        // A large database is checked (`quick_check`) before the port opens: allow 30 s.
        let (line, at) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((Ok(line), at)) => (line, at),
            Ok((Err(e), _)) => return Err(format!("reading server stdout: {e}")),
            Err(_) => {
                return Err(format!(
                    "no `listening on` line within 30 s; server log: {}",
                    s.log_tail()
                ));
            }
        };
        s.listen = at.saturating_duration_since(t_exec);
        let addr = line
            .trim()
            .strip_prefix("listening on ws://")
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                format!(
                    "unexpected first stdout line {:?}; server log: {}",
                    line.trim(),
                    s.log_tail()
                )
            })?;
        s.port = addr.port();
        Ok(s)
    }

    /// Polls with fresh connections (socket timeouts `io`) until one gets `hello-ok` within
    /// `limit` (≤ 2000 attempts); returns exec → ready, the attempts and the connection.
    pub fn wait_ready(
        &mut self,
        token: &str,
        io: Duration,
        limit: Duration,
    ) -> R<(Duration, u32, Conn)> {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        for attempt in 1..=2000u32 {
            match Conn::open(self.port, token, io) {
                Ok(c) => return Ok((self.t_exec.elapsed(), attempt, c)),
                Err(e) => last = e,
            }
            if Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        Err(format!(
            "no hello-ok within {} s: {last}; server log: {}",
            limit.as_secs(),
            self.log_tail()
        ))
    }

    pub fn stop(&mut self) -> R<Stop> {
        let Some(mut child) = self.child.take() else {
            return Err("server already stopped".into());
        };
        let t = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let mut how = "SIGTERM".to_string();
        let mut status = None;
        for _ in 0..500 {
            if let Ok(Some(st)) = child.try_wait() {
                status = Some(st);
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if status.is_none() {
            how = "SIGTERM ignored for 5 s, SIGKILL".into();
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.pid.to_string())
                .status();
            status = child.wait().ok();
        }
        let took = t.elapsed();
        if let Some(h) = self.drain.take() {
            let _ = h.join();
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Ok(Stop {
            code: status.and_then(|s| s.code()),
            how,
            took,
            log_warn: log.lines().filter(|l| l.contains("WARN")).count(),
            log_err: log.lines().filter(|l| l.contains("ERROR")).count(),
        })
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.pid.to_string())
                .status();
            let _ = child.wait();
        }
        if let Some(h) = self.drain.take() {
            let _ = h.join();
        }
    }
}

// -------------------------------------------------------------------------------- ws client

pub struct Conn {
    /// The socket (the gateway bench reads idle connections directly).
    pub ws: WebSocket<TcpStream>,
    next: u64,
    /// Event frames skipped (presence, tick).
    pub ev: Ev,
}

#[derive(Deserialize)]
pub struct Frame {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ok: Option<bool>,
}

impl Conn {
    /// TCP connect, WebSocket upgrade, `connect.challenge`, `connect` → `hello-ok`
    /// (scope `operator.read`).
    pub fn open(port: u16, token: &str, io: Duration) -> R<Conn> {
        Conn::open_scoped(port, token, io, &["operator.read"])
    }

    /// Like `open`, asking for `scopes` (e.g. `operator.write` for `chat.send`).
    pub fn open_scoped(port: u16, token: &str, io: Duration, scopes: &[&str]) -> R<Conn> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .map_err(|e| format!("connect: {e}"))?;
        let _ = s.set_nodelay(true);
        s.set_read_timeout(Some(io)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(io)).map_err(|e| e.to_string())?;
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/"), s)
            .map_err(|e| format!("websocket upgrade: {e}"))?;
        let mut c = Conn {
            ws,
            next: 2,
            ev: Ev::default(),
        };
        let mut challenged = false;
        for _ in 0..16 {
            let v: Value = serde_json::from_str(&c.read_text()?).map_err(|e| e.to_string())?;
            if v["type"] == "event" && v["event"] == "connect.challenge" {
                challenged = true;
                break;
            }
        }
        if !challenged {
            return Err("no connect.challenge".into());
        }
        let req = json!({
            "type": "req", "id": "1", "method": "connect",
            "params": {
                "minProtocol": 4, "maxProtocol": 4,
                "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                "role": "operator", "scopes": scopes,
                "auth": {"token": token}
            }
        });
        c.ws.send(Message::text(req.to_string()))
            .map_err(|e| format!("send connect: {e}"))?;
        for _ in 0..64 {
            let t = c.read_text()?;
            let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
            if v["type"] == "res" && v["id"] == "1" {
                if v["ok"] == true && v["payload"]["type"] == "hello-ok" {
                    return Ok(c);
                }
                return Err(format!("connect refused: {}", clip(&t)));
            }
            c.ev.note(t.len());
        }
        Err("no connect response within 64 frames".into())
    }

    /// Reads (and counts) event frames until none arrives for `quiet` (≤ 10 s, ≤ 100,000 frames),
    /// so a backlog of presence events does not end up inside a timed phase.
    pub fn drain_quiet(&mut self, quiet: Duration, io: Duration) -> R<()> {
        self.ws
            .get_mut()
            .set_read_timeout(Some(quiet))
            .map_err(|e| e.to_string())?;
        let end = Instant::now() + Duration::from_secs(10);
        let mut res = Ok(());
        for _ in 0..100_000 {
            if Instant::now() > end {
                break;
            }
            match self.ws.read() {
                Ok(Message::Text(t)) => self.ev.note(t.len()),
                Ok(Message::Close(f)) => {
                    res = Err(format!("server closed: {f:?}"));
                    break;
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => break,
                Err(e) => {
                    res = Err(format!("read: {e}"));
                    break;
                }
            }
        }
        self.ws
            .get_mut()
            .set_read_timeout(Some(io))
            .map_err(|e| e.to_string())?;
        res
    }

    pub fn read_text(&mut self) -> R<String> {
        for _ in 0..64 {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Ok(t.as_str().to_string()),
                Ok(Message::Close(f)) => return Err(format!("server closed: {f:?}")),
                Ok(_) => continue, // ping (pong is queued by tungstenite), pong, binary
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Err("no text frame within 64 frames".into())
    }

    /// One request without params; `Ok` when the answer is `ok:true`.
    pub fn call(&mut self, method: &str) -> R<()> {
        self.request(method, None).map(|_| ())
    }

    /// One request; returns the time from send to the matching `res` frame having been read and
    /// its envelope parsed (ns), the frame's length, and the payload (parsed after the clock stops).
    pub fn call_with(&mut self, method: &str, params: Value) -> R<(u64, usize, Value)> {
        let (ns, text) = self.request(method, Some(&params))?;
        let mut v: Value = serde_json::from_str(&text).map_err(|e| format!("bad frame: {e}"))?;
        Ok((ns, text.len(), v["payload"].take()))
    }

    /// Sends one request and reads (counting skipped events) up to its `res`: (ns, frame text).
    fn request(&mut self, method: &str, params: Option<&Value>) -> R<(u64, String)> {
        let id = self.next;
        self.next += 1;
        let req = match params {
            Some(p) => format!(r#"{{"type":"req","id":"{id}","method":"{method}","params":{p}}}"#),
            None => format!(r#"{{"type":"req","id":"{id}","method":"{method}"}}"#),
        };
        let want = id.to_string();
        let t0 = Instant::now();
        self.ws
            .send(Message::text(req))
            .map_err(|e| format!("send {method}: {e}"))?;
        for _ in 0..1000 {
            let t = self.read_text()?;
            let f: Frame = serde_json::from_str(&t).map_err(|e| format!("bad frame: {e}"))?;
            if f.ty == "res" && f.id.as_deref() == Some(want.as_str()) {
                let ns = t0.elapsed().as_nanos() as u64;
                if f.ok == Some(true) {
                    return Ok((ns, t));
                }
                return Err(format!("{method} failed: {}", clip(&t)));
            }
            self.ev.note(t.len());
        }
        Err(format!("no response to {method} #{id} within 1000 frames"))
    }
}

/// `n` calls of `method` (no params) one after the other on `c`, each timed around `Conn::call`;
/// fails when `deadline` passes first.
pub fn timed_calls(c: &mut Conn, method: &str, n: usize, deadline: Instant) -> R<Lat> {
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        if Instant::now() > deadline {
            return Err(format!("{method} calls: deadline passed after {i}"));
        }
        let t = Instant::now();
        c.call(method)?;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    Ok(lat_stats(lat, t0.elapsed()))
}

/// Whether a read failed only because the socket's read timeout passed (no frame came).
pub fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e)
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

pub fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

pub fn make_token() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut s = String::from("bench-");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s.push_str(&format!("-{:x}", n as u64));
    s
}

// ------------------------------------------------------------------------------------- /proc

pub fn kv_file(path: &str) -> R<HashMap<String, u64>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut m = HashMap::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(':') {
            if let Some(n) = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            {
                m.insert(k.trim().to_string(), n);
            }
        }
    }
    Ok(m)
}

/// Memory and threads of process `pid` from `/proc/PID/status` and `smaps_rollup` (Pss_Anon).
pub fn mem(pid: u32) -> R<Mem> {
    let m = status_mem(pid)?;
    let sm = kv_file(&format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    Ok(Mem {
        pss_anon: sm.get("Pss_Anon").copied().unwrap_or(0),
        ..m
    })
}

/// Like `mem`, from `/proc/PID/status` alone (cheaper, for frequent sampling): `pss_anon` is 0.
pub fn status_mem(pid: u32) -> R<Mem> {
    let st = kv_file(&format!("/proc/{pid}/status"))?;
    let g = |k: &str| st.get(k).copied().unwrap_or(0);
    Ok(Mem {
        rss: g("VmRSS"),
        hwm: g("VmHWM"),
        rss_anon: g("RssAnon"),
        file: g("RssFile") + g("RssShmem"),
        pss_anon: 0,
        threads: g("Threads"),
    })
}

/// What a `Sampler` saw: the sample with the highest VmRSS (with its split), the most threads
/// and, when asked for, the threads' names at that moment.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub n: usize,
    pub peak: Mem,
    pub max_threads: u64,
    pub peak_names: String,
}

/// A thread reading `/proc/PID/status` (`status_mem`) every `every` until `finish`.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    h: thread::JoinHandle<Samples>,
}

impl Sampler {
    /// Samples `pid` every `every` until `finish`, for at most `limit` (and ≤ 1,000,000
    /// samples); with `names`, records `names(pid)` whenever more threads are seen than before.
    pub fn start(
        pid: u32,
        every: Duration,
        limit: Duration,
        names: Option<fn(u32) -> String>,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let h = thread::spawn(move || {
            let mut s = Samples::default();
            let end = Instant::now() + limit;
            for _ in 0..1_000_000 {
                if st.load(Ordering::Relaxed) || Instant::now() > end {
                    break;
                }
                if let Ok(m) = status_mem(pid) {
                    s.n += 1;
                    if m.rss > s.peak.rss {
                        s.peak = m;
                    }
                    if m.threads > s.max_threads {
                        s.max_threads = m.threads;
                        if let Some(f) = names {
                            s.peak_names = f(pid);
                        }
                    }
                }
                thread::sleep(every);
            }
            s
        });
        Sampler { stop, h }
    }

    /// Stops the thread and returns what it saw.
    pub fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.h.join().unwrap_or_default()
    }
}

/// utime + stime of the whole process `pid`, in clock ticks (see `clk_tck`).
pub fn cpu_ticks(pid: u32) -> R<u64> {
    let p = format!("/proc/{pid}/stat");
    let s = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
    let rest = s.rsplit_once(')').map(|(_, r)| r).ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': f[0] = state (field 3), so utime (14) = f[11], stime (15) = f[12].
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Ok(n(11) + n(12))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be read).
pub fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(100)
}

/// The trimmed text of file `p` (empty when it cannot be read).
pub fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

// --------------------------------------------------------------------------------------- host

pub fn machine_info() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = kv_file("/proc/meminfo")
        .ok()
        .and_then(|m| m.get("MemTotal").copied())
        .unwrap_or(0);
    let kernel = read_trim("/proc/sys/kernel/osrelease");
    let host = read_trim("/proc/sys/kernel/hostname");
    format!(
        "{host}: {cpu}, {cpus} CPUs, {:.1} GiB RAM, Linux {kernel} {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        std::env::consts::ARCH
    )
}

pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, sod) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

// ------------------------------------------------------------------------------------ report

pub fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}

/// VmRSS with its anon / file split and the thread count: `7.50 MiB (anon 3.15 MiB, file 4.35
/// MiB; 3 threads)`.
pub fn mem_split(m: &Mem) -> String {
    format!(
        "{} (anon {}, file {}; {} threads)",
        mib(m.rss),
        mib(m.rss_anon),
        mib(m.file),
        m.threads
    )
}

/// Nanoseconds as milliseconds with two decimals.
pub fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

/// A latency table cell: `p50 / p99 (max)` in milliseconds.
pub fn lat_cell(l: &Lat) -> String {
    format!("{} / {} ({})", ms(l.p50), ms(l.p99), ms(l.max))
}

/// A byte count as MiB with the exact bytes: `21.0 MiB (22069248 B)`.
pub fn bytes_cell(b: u64) -> String {
    format!("{:.1} MiB ({b} B)", b as f64 / 1048576.0)
}

pub fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// A server stop as a table cell: `0 in 12.3 ms` (`signal` for no exit code), and how it was
/// stopped when SIGTERM alone was not enough.
pub fn stop_cell(st: &Stop) -> String {
    format!(
        "{} in {:.1} ms{}",
        st.code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "signal".into()),
        st.took.as_secs_f64() * 1000.0,
        if st.how == "SIGTERM" {
            String::new()
        } else {
            format!(" ({})", st.how)
        }
    )
}

/// Prints the report (`table`) and the line `{tag} {json}`, and writes that JSON (one line) to
/// `json_out` when given.
pub fn print_report(table: &str, tag: &str, j: &Value, json_out: Option<&Path>) -> R<()> {
    println!("{table}");
    let line = serde_json::to_string(j).unwrap_or_default();
    println!("{tag} {line}");
    if let Some(p) = json_out {
        std::fs::write(p, format!("{line}\n")).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// The rows of a report table with five columns (figure, two values, target, status), for
/// `markdown_table`.
#[derive(Default)]
pub struct Rows(pub Vec<[String; 5]>);

impl Rows {
    /// A row: the figure, its two values, the target and the status.
    pub fn row(&mut self, figure: impl Into<String>, a: String, b: String, target: &str, st: &str) {
        self.0.push([figure.into(), a, b, target.into(), st.into()]);
    }

    /// A row without a target: `–` as target and status.
    pub fn info(&mut self, figure: impl Into<String>, a: String, b: String) {
        self.row(figure, a, b, "–", "–");
    }
}

/// A Markdown table with padded columns: the header row, the separator, then `rows`.
pub fn markdown_table(head: [&str; 5], rows: &[[String; 5]]) -> String {
    let mut w = [0usize; 5];
    for r in rows
        .iter()
        .map(|r| r.each_ref().map(|s| s.as_str()))
        .chain(std::iter::once(head))
    {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| -> String {
        let mut s = String::from("|");
        for (i, c) in cells.iter().enumerate() {
            s.push(' ');
            s.push_str(c);
            s.push_str(&" ".repeat(w[i] - c.chars().count()));
            s.push_str(" |");
        }
        s.push('\n');
        s
    };
    let mut out = line(head);
    out.push('|');
    for x in w {
        out.push_str(&"-".repeat(x + 2));
        out.push('|');
    }
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.each_ref().map(|s| s.as_str())));
    }
    out
}

/// Facts about one bench run that both reports print first and put in their JSON.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// UTC date of the run.
    pub date: String,
    /// CPU, memory and kernel of the host.
    pub machine: String,
    /// `/proc/loadavg` before the run.
    pub load_start: String,
    /// `/proc/loadavg` after the run.
    pub load_end: String,
    /// Binary under test.
    pub bin: String,
    /// How the binary was built.
    pub bin_note: Option<String>,
    /// `openclaw-edge version` output.
    pub version: String,
    /// Git revision of the tree.
    pub git: String,
    /// Config file passed to the server, if any.
    pub config: Option<String>,
    /// A `--quick` run (smaller or shorter than the full bench).
    pub quick: bool,
}

impl RunInfo {
    /// The facts known before a run of binary `bin` (with `--bin-note` and `--quick` of `f`,
    /// and `config`); `load_end` stays empty until `Run::finish`.
    pub fn start(bin: &Path, f: &Flags, config: Option<&Path>) -> RunInfo {
        RunInfo {
            date: utc_now(),
            machine: machine_info(),
            load_start: read_trim("/proc/loadavg"),
            load_end: String::new(),
            bin: bin.display().to_string(),
            bin_note: f.bin_note.clone(),
            version: bin_version(bin),
            git: git_revision(),
            config: config.map(|c| c.display().to_string()),
            quick: f.quick,
        }
    }

    /// The facts as the JSON fields every report has (`date` … `git`, `quick`; not `config`).
    pub fn json(&self) -> serde_json::Map<String, Value> {
        let j = json!({
            "date": self.date, "machine": self.machine,
            "load_start": self.load_start, "load_end": self.load_end,
            "bin": self.bin, "bin_note": self.bin_note, "version": self.version, "git": self.git,
            "quick": self.quick,
        });
        match j {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }

    /// `fields` (a JSON object) with the run facts of `json` added.
    pub fn with_json(&self, fields: Value) -> Value {
        let mut m = self.json();
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        Value::Object(m)
    }

    /// The report's heading and its date, machine, load, binary and profile lines.
    pub fn header(&self, title: &str) -> String {
        let mut out = format!("\n## {title}\n\n");
        out.push_str(&format!("- date: {}\n", self.date));
        out.push_str(&format!("- machine: {}\n", self.machine));
        out.push_str(&format!(
            "- load average: start {} / end {}\n",
            self.load_start, self.load_end
        ));
        out.push_str(&format!(
            "- binary: {} ({}; git {}){}\n",
            self.bin,
            if self.version.is_empty() {
                "?"
            } else {
                &self.version
            },
            self.git,
            self.bin_note
                .as_ref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default()
        ));
        out.push_str(&format!(
            "- profile: {}\n",
            self.config
                .as_ref()
                .map(|c| format!("config {c}"))
                .unwrap_or_else(|| "edge (default)".into())
        ));
        out
    }
}

/// `BIN version` (empty when it cannot run).
pub fn bin_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `git describe --always --dirty` of this tree (`?` outside a checkout).
pub fn git_revision() -> String {
    Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// The release binary next to this bench executable (`TARGET_DIR/release/deps/<bench>-HASH`),
/// or under `./target`: the static musl build first.
pub fn default_bin() -> R<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cands = Vec::new();
    if let Some(tgt) = exe.parent().and_then(Path::parent).and_then(Path::parent) {
        cands.push(tgt.join("x86_64-unknown-linux-musl/release/openclaw-edge"));
        cands.push(tgt.join("release/openclaw-edge"));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    cands.push(root.join("target/x86_64-unknown-linux-musl/release/openclaw-edge"));
    cands.push(root.join("target/release/openclaw-edge"));
    cands.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!("no binary found (tried {cands:?}); pass --bin PATH or use bench/run.sh")
    })
}

// ------------------------------------------------------------------------------ command line

/// A flag only some benches take, and how its value is read.
#[derive(Debug, Clone, Copy)]
pub enum Own {
    /// `NAME N`: a whole number in `lo..=hi` (outside it is an error).
    Num(&'static str, usize, usize),
    /// `NAME N`: a whole number, clamped into `lo..=hi`.
    Clamp(&'static str, usize, usize),
    /// `NAME PATH`.
    Path(&'static str),
}

impl Own {
    fn name(&self) -> &'static str {
        match *self {
            Own::Num(n, ..) | Own::Clamp(n, ..) | Own::Path(n) => n,
        }
    }
}

/// A bench's command line: the flags every bench takes (`--bench`, which `cargo bench` adds,
/// `-h`/`--help`, `--bin PATH`, `--quick`, `--bin-note TEXT`, `--json-out F`, `--keep`) and the
/// values of its own flags (`Own`), read with `num` and `path`.
#[derive(Default, Debug)]
pub struct Flags {
    pub bench_flag: bool,
    pub help: bool,
    pub bin: Option<PathBuf>,
    pub quick: bool,
    pub bin_note: Option<String>,
    pub json_out: Option<PathBuf>,
    pub keep: bool,
    nums: HashMap<&'static str, usize>,
    paths: HashMap<&'static str, PathBuf>,
}

impl Flags {
    /// The value of the number flag `name` (`Own::Num`, `Own::Clamp`), when given.
    pub fn num(&self, name: &str) -> Option<usize> {
        self.nums.get(name).copied()
    }

    /// The value of the path flag `name` (`Own::Path`), when given.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }
}

/// The value of flag `name`: the next word of `it` (`NAME needs a value` when there is none).
fn flag_value(it: &mut std::slice::Iter<'_, String>, name: &str) -> R<String> {
    it.next()
        .cloned()
        .ok_or_else(|| format!("{name} needs a value"))
}

/// The value `v` of flag `name` as a whole number (`NAME needs a number` when it is not one).
fn flag_number(name: &str, v: &str) -> R<usize> {
    v.parse().map_err(|_| format!("{name} needs a number"))
}

/// Parses the command line `raw` of a bench that takes the shared flags and `own`. The
/// libtest-style flags cargo may pass and words that are no flag (a filter) are ignored; any
/// other `--flag` is an error showing `usage`.
pub fn parse_flags(raw: &[String], usage: &str, own: &[Own]) -> R<Flags> {
    let mut f = Flags::default();
    let mut it = raw.iter();
    while let Some(s) = it.next() {
        match s.as_str() {
            "--bench" => f.bench_flag = true,
            "-h" | "--help" => f.help = true,
            "--quick" => f.quick = true,
            "--keep" => f.keep = true,
            "--bin" => f.bin = Some(flag_value(&mut it, s)?.into()),
            "--bin-note" => f.bin_note = Some(flag_value(&mut it, s)?),
            "--json-out" => f.json_out = Some(flag_value(&mut it, s)?.into()),
            other => match own.iter().find(|o| o.name() == other) {
                Some(&Own::Num(name, lo, hi)) => {
                    let n = flag_number(name, &flag_value(&mut it, name)?)?;
                    if n < lo || n > hi {
                        return Err(format!("{name} must be {lo}..={hi}"));
                    }
                    f.nums.insert(name, n);
                }
                Some(&Own::Clamp(name, lo, hi)) => {
                    let n = flag_number(name, &flag_value(&mut it, name)?)?;
                    f.nums.insert(name, n.clamp(lo, hi));
                }
                Some(&Own::Path(name)) => {
                    f.paths.insert(name, flag_value(&mut it, name)?.into());
                }
                None if matches!(
                    other,
                    "--nocapture" | "--exact" | "--ignored" | "--include-ignored" | "-q"
                ) => {}
                None if other.starts_with("--") => {
                    return Err(format!("unknown flag {other}\n{usage}"));
                }
                None => {}
            },
        }
    }
    Ok(f)
}

/// The `main` of the bench `name` (flags: the shared ones and `own`): parses the command line
/// (exit 2 on an error), prints `usage` for `--help`, does nothing without `--bench` or `--bin`
/// (`cargo test --benches` and `--all-targets` run benches that way), else runs `run` (exit 1
/// when it fails).
pub fn bench_main(name: &str, usage: &str, own: &[Own], run: impl FnOnce(&Flags) -> R<()>) {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let f = match parse_flags(&raw, usage, own) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{name} bench: {e}");
            std::process::exit(2);
        }
    };
    if f.help {
        println!("{usage}");
        return;
    }
    if !f.bench_flag && f.bin.is_none() {
        println!("{name} bench: skipped (run bench/run.sh or `cargo bench --bench {name}`)");
        return;
    }
    if let Err(e) = run(&f) {
        eprintln!("{name} bench: FAILED: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------------------------ a run

/// What every bench run starts with: the binary under test, the facts of the run, a fresh temp
/// dir for its servers and the token they share.
pub struct Run {
    pub bin: PathBuf,
    pub info: RunInfo,
    pub root: PathBuf,
    pub token: String,
    /// The bench's name, for messages.
    name: &'static str,
    keep: bool,
    json_out: Option<PathBuf>,
}

impl Run {
    /// Resolves the binary (`--bin`, else `default_bin`; made absolute), records the facts
    /// (`config`: the config file the servers get), creates the temp dir
    /// `$TMPDIR/DIR_PREFIX-PID-MILLIS` and makes a token, for the bench `name`.
    pub fn start(name: &'static str, f: &Flags, config: Option<&Path>, dir_prefix: &str) -> R<Run> {
        let bin = match &f.bin {
            Some(b) => b.clone(),
            None => default_bin()?,
        };
        let bin =
            std::fs::canonicalize(&bin).map_err(|e| format!("binary {}: {e}", bin.display()))?;
        let info = RunInfo::start(&bin, f, config);
        let root = std::env::temp_dir().join(format!(
            "{dir_prefix}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&root).map_err(|e| format!("temp dir {}: {e}", root.display()))?;
        Ok(Run {
            bin,
            info,
            root,
            token: make_token(),
            name,
            keep: f.keep,
            json_out: f.json_out.clone(),
        })
    }

    /// Ends the run: removes the temp dir (with `--keep`: says where it was kept); then, when the
    /// measurements `res` succeeded, records the load average at the end, and prints the table
    /// and JSON that `render` makes of them (see `print_report`; `tag` starts the JSON line).
    pub fn finish<T>(
        mut self,
        res: R<T>,
        tag: &str,
        render: impl FnOnce(RunInfo, T) -> (String, Value),
    ) -> R<()> {
        if self.keep {
            eprintln!("{} bench: kept {}", self.name, self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
        let t = res?;
        self.info.load_end = read_trim("/proc/loadavg");
        let (table, j) = render(self.info, t);
        print_report(&table, tag, &j, self.json_out.as_deref())
    }
}
