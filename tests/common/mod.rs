// Test harness: start the real binary on 127.0.0.1:0 and speak the real protocol to it.
//
// `Gateway::start(toml)` writes the config into a fresh temp dir, starts `openclaw-edge run`
// with a random token in the environment, and waits for the `listening on ws://…` line (never a
// sleep). `Client` is an independent, synchronous WebSocket client (tungstenite) with a read
// timeout, so a hung server fails a test instead of hanging it. The child is killed on drop.
#![allow(dead_code)]

pub mod device;
pub mod openai;
pub mod telegram;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

pub const ALL_SCOPES: [&str; 4] = [
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
];

/// A running gateway process.
pub struct Gateway {
    child: Child,
    pub addr: String,
    pub token: String,
    pub dir: PathBuf,
    pub stderr_path: PathBuf,
}

fn fresh_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let d = std::env::temp_dir().join(format!("oce-test-{tag}-{hex}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn random_token() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Gateway {
    /// Starts the gateway with `config` (TOML text) and a random token from the environment.
    pub fn start(config: &str) -> Gateway {
        let token = random_token();
        Self::start_with(
            config,
            &[("OPENCLAW_EDGE_GATEWAY_TOKEN", token.as_str())],
            Some(token.clone()),
        )
    }

    /// Starts with explicit env; `token` is what clients should send (None: read the token file).
    pub fn start_with(config: &str, env: &[(&str, &str)], token: Option<String>) -> Gateway {
        let dir = fresh_dir("gw");
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, config).unwrap();
        let stderr_path = dir.join("stderr.log");
        let (child, addr) = Self::launch(&dir, env, &stderr_path);
        let token = token.unwrap_or_else(|| {
            std::fs::read_to_string(dir.join("state/gateway.token"))
                .unwrap()
                .trim()
                .to_string()
        });
        Gateway {
            child,
            addr,
            token,
            dir,
            stderr_path,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A raw WebSocket (upgrade done, nothing read yet).
    pub fn raw(&self) -> Ws {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (ws, _) = tungstenite::client::client(self.url(), stream).expect("ws upgrade");
        Ws { ws }
    }

    /// An authenticated operator client with `scopes`.
    pub fn client(&self, scopes: &[&str]) -> Client {
        let mut ws = self.raw();
        let challenge = ws.next_json();
        assert_eq!(challenge["event"], "connect.challenge");
        ws.send_json(&connect_frame("c1", &self.token, scopes));
        let hello = ws.wait_res("c1");
        assert_eq!(hello["ok"], true, "connect failed: {hello}");
        Client {
            ws,
            next_id: 1,
            hello,
        }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// One raw HTTP exchange; returns (status, body).
    pub fn http(&self, request: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    /// Spawns the binary on `dir/config.toml` and `dir/state` with only `env`'s secrets set,
    /// appending its stderr to `stderr_path`; returns the child and the address from its
    /// `listening on` line (waited for, never slept for).
    fn launch(
        dir: &std::path::Path,
        env: &[(&str, &str)],
        stderr_path: &std::path::Path,
    ) -> (Child, String) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr_path)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_openclaw-edge"));
        cmd.arg("run")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env_remove("OPENCLAW_EDGE_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_RS_GATEWAY_TOKEN")
            .env_remove("OPENCLAW_EDGE_GATEWAY_PASSWORD")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn openclaw-edge");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut r = BufReader::new(stdout);
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full stdout pipe.
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink);
        });
        let log = || std::fs::read_to_string(stderr_path).unwrap_or_default();
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no listening line; stderr: {}", log()));
        let addr = line
            .trim()
            .strip_prefix("listening on ws://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; stderr: {}", log()))
            .to_string();
        (child, addr)
    }

    /// Sends SIGKILL (no shutdown path runs) and reaps the process.
    pub fn kill9(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }

    /// Stops the process if it still runs (SIGKILL) and starts the binary again on the same
    /// dir, config file, state dir and token; the new address is in `addr`.
    pub fn restart(mut self) -> Gateway {
        if self.child.try_wait().unwrap().is_none() {
            self.kill9();
        }
        let env = [("OPENCLAW_EDGE_GATEWAY_TOKEN", self.token.as_str())];
        let (child, addr) = Self::launch(&self.dir, &env, &self.stderr_path);
        self.child = child;
        self.addr = addr;
        self
    }

    /// The SQLite file under the state dir (open it only after the process has exited).
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("state").join("openclaw-edge.db")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn connect_frame(id: &str, token: &str, scopes: &[&str]) -> Value {
    json!({"type": "req", "id": id, "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "test", "version": "1.0.0", "platform": "linux", "mode": "test"},
        "role": "operator", "scopes": scopes, "auth": {"token": token}
    }})
}

/// A WebSocket with JSON helpers.
pub struct Ws {
    pub ws: WebSocket<TcpStream>,
}

/// What the server did next.
#[derive(Debug)]
pub enum Next {
    Json(Value),
    Closed(Option<CloseFrame>),
}

impl Ws {
    pub fn send_json(&mut self, v: &Value) {
        self.ws.send(Message::Text(v.to_string().into())).unwrap();
    }

    pub fn send_text(&mut self, s: &str) {
        self.ws.send(Message::Text(s.to_string().into())).unwrap();
    }

    /// Next JSON frame or the close (with its frame); panics on timeout.
    pub fn next(&mut self) -> Next {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Next::Json(serde_json::from_str(t.as_str()).unwrap());
                }
                Ok(Message::Close(c)) => return Next::Closed(c),
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Next::Closed(None);
                }
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    panic!("timed out waiting for a frame")
                }
                Err(_) => return Next::Closed(None),
            }
        }
    }

    pub fn next_json(&mut self) -> Value {
        match self.next() {
            Next::Json(v) => v,
            Next::Closed(c) => panic!("closed: {c:?}"),
        }
    }

    /// The `res` for `id`, skipping events.
    pub fn wait_res(&mut self, id: &str) -> Value {
        loop {
            let v = self.next_json();
            if v["type"] == "res" && v["id"] == id {
                return v;
            }
        }
    }

    /// The `res` frames for every id in `ids`, in whatever order they arrive.
    pub fn wait_all(&mut self, ids: &[&str]) -> Vec<Value> {
        let mut got: Vec<Value> = Vec::new();
        while got.len() < ids.len() {
            let v = self.next_json();
            if v["type"] == "res" && ids.iter().any(|id| v["id"] == *id) {
                got.push(v);
            }
        }
        got
    }

    /// Reads until the server closes; returns the close code (None if no close frame).
    pub fn expect_close(&mut self) -> Option<(u16, String)> {
        loop {
            match self.next() {
                Next::Json(_) => continue,
                Next::Closed(c) => return c.map(|c| (u16::from(c.code), c.reason.to_string())),
            }
        }
    }

    /// The next `res` frame, whatever its id, skipping events.
    pub fn next_res(&mut self) -> Value {
        loop {
            let v = self.next_json();
            if v["type"] == "res" {
                return v;
            }
        }
    }
}

/// An authenticated client.
pub struct Client {
    pub ws: Ws,
    next_id: u64,
    pub hello: Value,
}

impl Client {
    /// Sends a request and returns its id.
    pub fn send(&mut self, method: &str, params: Option<Value>) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let mut req = json!({"type": "req", "id": id, "method": method});
        if let Some(p) = params {
            req["params"] = p;
        }
        self.ws.send_json(&req);
        id
    }

    /// Calls a method: Ok(payload) or Err(error object).
    pub fn call(&mut self, method: &str, params: Option<Value>) -> Result<Value, Value> {
        let id = self.send(method, params);
        let res = self.ws.wait_res(&id);
        if res["ok"] == true {
            Ok(res["payload"].clone())
        } else {
            Err(res["error"].clone())
        }
    }
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends `text` to session `key` with `chat.send` and returns the run id (the run is started).
pub fn chat_send(c: &mut Client, key: &str, text: &str) -> String {
    let run = format!("run-{}", random_token());
    let r = c
        .call(
            "chat.send",
            Some(json!({"sessionKey": key, "message": text, "idempotencyKey": run})),
        )
        .unwrap();
    assert_eq!(r["status"], "started", "{r}");
    run
}

/// `chat_send`, then waits (`agent.wait`, 10 s) for the run to end `ok`.
pub fn chat_turn(c: &mut Client, key: &str, text: &str) {
    let run = chat_send(c, key, text);
    let w = c
        .call(
            "agent.wait",
            Some(json!({"runId": run, "timeoutMs": 10000})),
        )
        .unwrap();
    assert_eq!(w["status"], "ok", "{w}");
}

/// The path of `tests/fixtures/edge/<name>` (fake external programs).
pub fn edge_fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/edge")
        .join(name)
        .display()
        .to_string()
}

/// Runs the real binary's CLI with `args` against `gw` (`--url`, `--token` appended); returns
/// the exit code, stdout and stderr.
pub fn cli(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_openclaw-edge"))
        .args(args)
        .args(["--url", &gw.url(), "--token", &gw.token])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
