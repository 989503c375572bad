//! Fake OpenAI-compatible Chat Completions server (std threads + std::net + serde_json only).
//!
//! Used by the integration tests, the benchmark and the conformance script (through
//! `examples/fake_openai.rs`). It binds `127.0.0.1:0`, runs one accept thread and one thread per
//! connection, speaks HTTP/1.1 with keep-alive, and answers `POST …/chat/completions` with the
//! real API's JSON and server-sent-events shapes. What each request gets is scripted with
//! [`Behavior`]s (a FIFO consumed one per completion request, then a default). Every request is
//! recorded. `POST …/embeddings` answers the real API's shape with a deterministic fake model
//! (`fake_embedding`: words hashed per model, a few synonyms folded together, so a test can tell
//! a real-embedding match from a lexical one); `push_embed`/`set_embed_default` script its
//! failures. Self-contained on purpose: it is included from other crates with
//! `#[path = "../tests/common/openai.rs"] mod openai;`.

#![allow(dead_code)]

// Each fake server includes the request reader itself, so a bench can `#[path]`-include one
// server alone; inside `tests/common` both do, hence the allow.
#[allow(clippy::duplicate_mod)]
#[path = "http_in.rs"]
mod http_in;

use http_in::{Bounds, ReadErr, Reader, Req, is_timeout};

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const MAX_HEAD: usize = 64 * 1024;
/// Request limits for `http_in`.
const BOUNDS: Bounds = Bounds {
    max_head: MAX_HEAD,
    max_body: MAX_BODY,
    give_up: GIVE_UP,
};
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Read timeout of every connection: how often idle/stalled threads look at the socket.
const POLL: Duration = Duration::from_millis(50);
/// Idle connections, stalls and blocked writes give up after this long.
const GIVE_UP: Duration = Duration::from_secs(300);
const X_BLOCK: usize = 64 * 1024;

/// What the server does with one chat completion request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Reply `echo: <text of the last user message>`; streamed word by word.
    Echo,
    /// Reply `text` split into `chunks` pieces (by chars, roughly equal), `delay_ms` between them.
    Text {
        text: String,
        chunks: usize,
        delay_ms: u64,
    },
    /// `n` content pieces `"t0 "`, `"t1 "`, …, `delay_ms` between them; see `sent_times`.
    Tokens { n: usize, delay_ms: u64 },
    /// One function tool call, streamed the way OpenAI streams it.
    ToolCall { name: String, arguments: String },
    /// `chunks == 0`: send nothing at all; otherwise headers + `chunks` content pieces. Then wait
    /// for the client to close (counted in `client_closed`), giving up after 5 minutes.
    StallAfter { chunks: usize },
    /// Headers + `chunks` content pieces, then shut the socket down with no proper end.
    DropAfter { chunks: usize },
    /// An error status with an OpenAI error body (and `Retry-After` when given).
    Status {
        code: u16,
        retry_after_secs: Option<u64>,
        message: String,
    },
    /// 200 with a broken payload (`data: {not json` / `{"choices": [`).
    Malformed,
    /// 200 with `bytes` bytes of `x` (an endless SSE `data: ` line when streaming), generated lazily.
    Huge { bytes: u64 },
    /// Ignore `stream: true` and answer a plain `application/json` completion.
    NoStream { text: String },
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Path including the query, e.g. `/v1/chat/completions?api-version=x`.
    pub path: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Null` when empty or invalid).
    pub body: Value,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn model(&self) -> &str {
        self.body.get("model").and_then(Value::as_str).unwrap_or("")
    }

    pub fn stream(&self) -> bool {
        self.body
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

struct State {
    script: VecDeque<Behavior>,
    default: Behavior,
    embed_script: VecDeque<Behavior>,
    embed_default: Option<Behavior>,
    requests: Vec<Recorded>,
    sent: HashMap<usize, Vec<Instant>>,
}

struct Shared {
    key: Option<String>,
    state: Mutex<State>,
    stop: AtomicBool,
    client_closed: AtomicUsize,
    bytes_sent: AtomicU64,
    next_id: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn closed(&self) {
        self.client_closed.fetch_add(1, Ordering::SeqCst);
    }

    fn mark_sent(&self, idx: usize) {
        self.lock()
            .sent
            .entry(idx)
            .or_default()
            .push(Instant::now());
    }
}

/// The running fake server. Dropping it stops accepting new connections.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeOpenAi {
    pub fn start() -> FakeOpenAi {
        Self::start_on(0)
    }

    /// Require `Authorization: Bearer <key>` on every request (401 otherwise).
    pub fn start_with_key(key: &str) -> FakeOpenAi {
        Self::start_with_key_on(0, key)
    }

    /// Like `start` on a fixed port (0 = any); for the CLI's `--port`.
    pub fn start_on(port: u16) -> FakeOpenAi {
        Self::start_inner(port, None)
    }

    pub fn start_with_key_on(port: u16, key: &str) -> FakeOpenAi {
        Self::start_inner(port, Some(key.to_string()))
    }

    fn start_inner(port: u16, key: Option<String>) -> FakeOpenAi {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("fake openai: bind 127.0.0.1");
        let addr = listener.local_addr().expect("fake openai: local_addr");
        let shared = Arc::new(Shared {
            key,
            state: Mutex::new(State {
                script: VecDeque::new(),
                default: Behavior::Echo,
                embed_script: VecDeque::new(),
                embed_default: None,
                requests: Vec::new(),
                sent: HashMap::new(),
            }),
            stop: AtomicBool::new(false),
            client_closed: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        });
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name("fake-openai-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if sh.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match conn {
                        Ok(s) => {
                            let sh = sh.clone();
                            let _ = thread::Builder::new()
                                .name("fake-openai-conn".into())
                                .spawn(move || serve_conn(s, sh));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .expect("fake openai: spawn accept thread");
        FakeOpenAi {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.addr.port())
    }

    /// Queue a behavior; each chat completion request consumes one, in order.
    pub fn push(&self, b: Behavior) {
        self.shared.lock().script.push_back(b);
    }

    /// Behavior used when the script is empty (initially `Behavior::Echo`).
    pub fn set_default(&self, b: Behavior) {
        self.shared.lock().default = b;
    }

    /// Queue an outcome for the next `/embeddings` request: `Behavior::Status` answers that
    /// error, anything else a normal answer.
    pub fn push_embed(&self, b: Behavior) {
        self.shared.lock().embed_script.push_back(b);
    }

    /// What `/embeddings` requests get when the embed script is empty (`None`: answers).
    pub fn set_embed_default(&self, b: Option<Behavior>) {
        self.shared.lock().embed_default = b;
    }

    /// The `/embeddings` requests received so far.
    pub fn embed_requests(&self) -> Vec<Recorded> {
        let st = self.shared.lock();
        st.requests
            .iter()
            .filter(|r| {
                r.path
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .ends_with("/embeddings")
            })
            .cloned()
            .collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Responses the client abandoned (closed/reset) before the server finished them.
    pub fn client_closed(&self) -> usize {
        self.shared.client_closed.load(Ordering::SeqCst)
    }

    pub fn wait_client_closed(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.client_closed() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// When each content piece of request `request_index` (index into `requests()`) was written
    /// (taken just before the write, so a client that has read a piece always sees its instant).
    /// Streams: one instant per piece; non-stream replies: one instant for the whole body.
    pub fn sent_times(&self, request_index: usize) -> Vec<Instant> {
        self.shared
            .lock()
            .sent
            .get(&request_index)
            .cloned()
            .unwrap_or_default()
    }

    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread; only join it if the wake-up connection got through.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_err() {
            return;
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    sh: Arc<Shared>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// OpenAI error body for a status code.
/// Dimensions of the fake embedding model.
pub const EMBED_DIMS: usize = 64;

/// The fake embedding model: each word of 3+ letters (a few stop words left out, a few synonyms
/// folded: automobile/vehicle → car, physician → doctor, feline/kitty → cat) adds ±1 at a
/// dimension hashed from the model name and the word; unit length. Different models give
/// unrelated vectors for the same text, as real ones do.
pub fn fake_embedding(model: &str, text: &str) -> Vec<f32> {
    const STOP: &[&str] = &[
        "the", "and", "where", "what", "which", "who", "did", "you", "your", "for", "with", "this",
        "that", "are", "was", "has", "have", "our",
    ];
    let mut v = vec![0f32; EMBED_DIMS];
    let lower = text.to_lowercase();
    for w in lower.split(|c: char| !c.is_alphanumeric()) {
        if w.chars().count() < 3 || STOP.contains(&w) {
            continue;
        }
        let w = match w {
            "automobile" | "vehicle" => "car",
            "physician" => "doctor",
            "feline" | "kitty" => "cat",
            other => other,
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in model.bytes().chain([0]).chain(w.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let sign = if h & (1 << 40) == 0 { 1.0 } else { -1.0 };
        v[(h % EMBED_DIMS as u64) as usize] += sign;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

fn error_body(code: u16, message: &str) -> Value {
    let (kind, err_code) = match code {
        401 => ("invalid_request_error", Value::from("invalid_api_key")),
        429 => ("requests", Value::from("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": err_code}})
}

fn mask_key(k: &str) -> String {
    let chars: Vec<char> = k.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

fn serve_conn(s: TcpStream, sh: Arc<Shared>) {
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(POLL));
    let _ = s.set_write_timeout(Some(GIVE_UP));
    let mut c = Conn {
        s,
        buf: Vec::new(),
        sh,
    };
    loop {
        match c.read_request() {
            Ok(req) => {
                if !c.handle(req) {
                    break;
                }
            }
            Err(ReadErr::Closed) => return,
            Err(ReadErr::Reject(code, msg)) => {
                c.send_json(code, &error_body(code, msg), &[], true);
                break;
            }
        }
    }
    let _ = c.s.shutdown(Shutdown::Both);
}

impl Conn {
    /// The next request on this connection (see `http_in::Reader`).
    fn read_request(&mut self) -> Result<Req, ReadErr> {
        let sh = Arc::clone(&self.sh);
        let stop = move || sh.stop.load(Ordering::SeqCst);
        Reader {
            s: &mut self.s,
            buf: &mut self.buf,
            bounds: &BOUNDS,
            stop: &stop,
        }
        .read_request()
    }

    /// Write everything; false when the socket is gone.
    fn write(&mut self, data: &[u8]) -> bool {
        match self.s.write_all(data) {
            Ok(()) => {
                self.sh
                    .bytes_sent
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// One HTTP chunk (never empty: an empty chunk would be the terminator).
    fn chunk(&mut self, payload: &[u8]) -> bool {
        if payload.is_empty() {
            return true;
        }
        let mut out = Vec::with_capacity(payload.len() + 12);
        out.extend_from_slice(format!("{:x}\r\n", payload.len()).as_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.write(&out)
    }

    fn event(&mut self, data: &str) -> bool {
        self.chunk(format!("data: {data}\n\n").as_bytes())
    }

    fn send(
        &mut self,
        code: u16,
        ctype: &str,
        extra: &[(&str, String)],
        body: &[u8],
        close: bool,
    ) -> bool {
        let mut head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n",
            reason(code),
            body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.write(&out)
    }

    fn send_json(&mut self, code: u16, v: &Value, extra: &[(&str, String)], close: bool) -> bool {
        self.send(
            code,
            "application/json",
            extra,
            v.to_string().as_bytes(),
            close,
        )
    }

    /// Status line + SSE headers + the `: keep-alive` comment.
    fn stream_head(&mut self, close: bool) -> bool {
        let conn = if close { "Connection: close\r\n" } else { "" };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n{conn}\r\n"
        );
        self.write(head.as_bytes()) && self.chunk(b": keep-alive\n\n")
    }

    /// Wait until the client closes the socket (true) or we give up / the server stops (false).
    fn wait_close(&mut self) -> bool {
        let start = Instant::now();
        let mut tmp = [0u8; 4096];
        loop {
            if start.elapsed() > GIVE_UP || self.sh.stop.load(Ordering::SeqCst) {
                return false;
            }
            match self.s.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return true,
            }
        }
    }

    /// Handle one request; returns whether to keep the connection open.
    fn handle(&mut self, req: Req) -> bool {
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || req.version == "HTTP/1.0";
        let parsed: Option<Value> = serde_json::from_slice(&req.body).ok();
        let idx = {
            let mut st = self.sh.lock();
            st.requests.push(Recorded {
                path: req.path.clone(),
                headers: req.headers.clone(),
                body: parsed.clone().unwrap_or(Value::Null),
                at: Instant::now(),
            });
            st.requests.len() - 1
        };
        if let Some(key) = self.sh.key.clone() {
            let given = req.header("authorization").and_then(|v| {
                v.get(..7)
                    .filter(|p| p.eq_ignore_ascii_case("bearer "))
                    .map(|_| v[7..].trim())
            });
            if given != Some(key.as_str()) {
                let msg = format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    mask_key(given.unwrap_or(""))
                );
                return self.send_json(401, &error_body(401, &msg), &[], close) && !close;
            }
        }
        let route = req.path.split('?').next().unwrap_or("");
        if req.method == "POST" && route.ends_with("/chat/completions") {
            let Some(body) = parsed.filter(Value::is_object) else {
                let msg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";
                return self.send_json(400, &error_body(400, msg), &[], close) && !close;
            };
            let b = {
                let mut st = self.sh.lock();
                let d = st.default.clone();
                st.script.pop_front().unwrap_or(d)
            };
            return self.complete(idx, &body, b, close);
        }
        if req.method == "POST" && route.ends_with("/embeddings") {
            return self.embeddings(parsed, close);
        }
        if req.method == "GET" && route.ends_with("/models") {
            let v = json!({"object": "list", "data": [
                {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}
            ]});
            return self.send_json(200, &v, &[], close) && !close;
        }
        let msg = format!("Invalid URL ({} {})", req.method, req.path);
        self.send_json(404, &error_body(404, &msg), &[], close) && !close
    }

    /// `POST /embeddings` with OpenAI's validation messages and answer shape.
    fn embeddings(&mut self, body: Option<Value>, close: bool) -> bool {
        let b = {
            let mut st = self.sh.lock();
            let d = st.embed_default.clone();
            st.embed_script.pop_front().or(d)
        };
        if let Some(Behavior::Status {
            code,
            retry_after_secs,
            message,
        }) = b
        {
            let extra: Vec<(&str, String)> = retry_after_secs
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            return self.send_json(code, &error_body(code, &message), &extra, close) && !close;
        }
        let bad = |m: &str| (400, error_body(400, m));
        let answer = match body.filter(Value::is_object) {
            None => bad("We could not parse the JSON body of your request."),
            Some(body) => {
                let model = body.get("model").and_then(Value::as_str).unwrap_or("");
                let input: Option<Vec<String>> = match body.get("input") {
                    Some(Value::String(t)) => Some(vec![t.clone()]),
                    Some(Value::Array(a)) if !a.is_empty() && a.len() <= 2048 => {
                        a.iter().map(|v| v.as_str().map(str::to_string)).collect()
                    }
                    _ => None,
                };
                match (model.is_empty(), input) {
                    (true, _) => bad("you must provide a model parameter"),
                    (_, None) => bad(
                        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                    ),
                    (_, Some(input)) => {
                        let tokens: usize = input.iter().map(|t| t.len() / 4 + 1).sum();
                        let data: Vec<Value> = input
                            .iter()
                            .enumerate()
                            .map(|(i, t)| {
                                json!({"object": "embedding", "index": i,
                                       "embedding": fake_embedding(model, t)})
                            })
                            .collect();
                        (
                            200,
                            json!({"object": "list", "data": data, "model": model,
                                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
                        )
                    }
                }
            }
        };
        self.send_json(answer.0, &answer.1, &[], close) && !close
    }

    fn complete(&mut self, idx: usize, body: &Value, b: Behavior, close: bool) -> bool {
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let ctx = Ctx {
            idx,
            id: format!("chatcmpl-{}", self.sh.id()),
            created: unix_now(),
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            include_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            prompt_tokens: (prompt_bytes(body) / 4).max(1),
        };
        match b {
            Behavior::Echo => {
                let text = format!("echo: {}", last_user_text(body));
                let pieces: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
                self.reply_text(&ctx, stream, &pieces, 0, close)
            }
            Behavior::Text {
                text,
                chunks,
                delay_ms,
            } => self.reply_text(&ctx, stream, &split_chars(&text, chunks), delay_ms, close),
            Behavior::Tokens { n, delay_ms } => {
                let pieces: Vec<String> = (0..n).map(|i| format!("t{i} ")).collect();
                self.reply_text(&ctx, stream, &pieces, delay_ms, close)
            }
            Behavior::NoStream { text } => self.reply_text(&ctx, false, &[text], 0, close),
            Behavior::ToolCall { name, arguments } => {
                self.reply_tool(&ctx, stream, &name, &arguments, close)
            }
            Behavior::Status {
                code,
                retry_after_secs,
                message,
            } => {
                let extra: Vec<(&str, String)> = retry_after_secs
                    .map(|s| ("Retry-After", s.to_string()))
                    .into_iter()
                    .collect();
                self.send_json(code, &error_body(code, &message), &extra, close) && !close
            }
            Behavior::StallAfter { chunks } => {
                let ok = if chunks == 0 {
                    true
                } else if stream {
                    self.stream_head(false) && self.tokens(&ctx, chunks)
                } else {
                    // Headers promising a body that never comes.
                    let full = completion(
                        &ctx,
                        json!({"role": "assistant", "content": "stall"}),
                        "stop",
                        1,
                    );
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        full.to_string().len()
                    );
                    self.write(head.as_bytes())
                };
                if !ok || self.wait_close() {
                    self.sh.closed();
                }
                false
            }
            Behavior::DropAfter { chunks } => {
                let ok = if chunks == 0 {
                    true
                } else if stream {
                    self.stream_head(false) && self.tokens(&ctx, chunks)
                } else {
                    // Full Content-Length, half the body.
                    let full = completion(
                        &ctx,
                        json!({"role": "assistant", "content": "dropped"}),
                        "stop",
                        1,
                    )
                    .to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        full.len()
                    );
                    self.write(head.as_bytes()) && self.write(&full.as_bytes()[..full.len() / 2])
                };
                if !ok {
                    self.sh.closed();
                }
                let _ = self.s.shutdown(Shutdown::Both);
                false
            }
            Behavior::Malformed => {
                let ok = if stream {
                    self.stream_head(close) && self.event("{not json") && self.write(b"0\r\n\r\n")
                } else {
                    self.send(200, "application/json", &[], b"{\"choices\": [", close)
                };
                if !ok {
                    self.sh.closed();
                }
                ok && !close
            }
            Behavior::Huge { bytes } => {
                let block = vec![b'x'; X_BLOCK];
                let mut left = bytes;
                let ok = if stream {
                    let mut ok = self.stream_head(close) && self.chunk(b"data: ");
                    while ok && left > 0 {
                        let n = left.min(X_BLOCK as u64) as usize;
                        ok = self.chunk(&block[..n]);
                        left -= n as u64;
                    }
                    ok && self.write(b"0\r\n\r\n")
                } else {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\n{}\r\n",
                        if close { "Connection: close\r\n" } else { "" }
                    );
                    let mut ok = self.write(head.as_bytes());
                    while ok && left > 0 {
                        let n = left.min(X_BLOCK as u64) as usize;
                        ok = self.write(&block[..n]);
                        left -= n as u64;
                    }
                    ok
                };
                if !ok {
                    self.sh.closed();
                }
                ok && !close
            }
        }
    }

    /// Role chunk + `n` token chunks `t0 `, `t1 `, … (for StallAfter / DropAfter).
    fn tokens(&mut self, ctx: &Ctx, n: usize) -> bool {
        if !self.event(&ctx.chunk(json!({"role": "assistant", "content": ""}), None)) {
            return false;
        }
        for i in 0..n {
            self.sh.mark_sent(ctx.idx);
            if !self.event(&ctx.chunk(json!({"content": format!("t{i} ")}), None)) {
                return false;
            }
        }
        true
    }

    fn reply_text(
        &mut self,
        ctx: &Ctx,
        stream: bool,
        pieces: &[String],
        delay_ms: u64,
        close: bool,
    ) -> bool {
        let count = pieces.len();
        if !stream {
            if delay_ms > 0 && count > 1 {
                thread::sleep(Duration::from_millis(
                    delay_ms.saturating_mul(count as u64 - 1),
                ));
            }
            let v = completion(
                ctx,
                json!({"role": "assistant", "content": pieces.concat()}),
                "stop",
                count,
            );
            self.sh.mark_sent(ctx.idx);
            let ok = self.send_json(200, &v, &[], close);
            if !ok {
                self.sh.closed();
            }
            return ok && !close;
        }
        let mut ok = self.stream_head(close)
            && self.event(&ctx.chunk(json!({"role": "assistant", "content": ""}), None));
        for (i, p) in pieces.iter().enumerate() {
            if !ok {
                break;
            }
            if i > 0 && delay_ms > 0 {
                thread::sleep(Duration::from_millis(delay_ms));
            }
            self.sh.mark_sent(ctx.idx);
            ok = self.event(&ctx.chunk(json!({"content": p}), None));
        }
        ok = ok && self.finish(ctx, "stop", count);
        if !ok {
            self.sh.closed();
        }
        ok && !close
    }

    fn reply_tool(&mut self, ctx: &Ctx, stream: bool, name: &str, args: &str, close: bool) -> bool {
        let call_id = format!("call_{}", self.sh.id());
        let nchars = args.chars().count();
        let pieces = if nchars == 0 {
            Vec::new()
        } else {
            split_chars(args, nchars.min(3))
        };
        let count = pieces.len().max(1);
        if !stream {
            let msg = json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            ]});
            let ok = self.send_json(200, &completion(ctx, msg, "tool_calls", count), &[], close);
            if !ok {
                self.sh.closed();
            }
            return ok && !close;
        }
        let first = json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        ]});
        let mut ok = self.stream_head(close) && self.event(&ctx.chunk(first, None));
        for p in &pieces {
            if !ok {
                break;
            }
            let d = json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]});
            ok = self.event(&ctx.chunk(d, None));
        }
        ok = ok && self.finish(ctx, "tool_calls", count);
        if !ok {
            self.sh.closed();
        }
        ok && !close
    }

    /// Final chunk, optional usage chunk, `[DONE]`, chunked terminator.
    fn finish(&mut self, ctx: &Ctx, reason: &str, completion_tokens: usize) -> bool {
        if !self.event(&ctx.chunk(json!({}), Some(reason))) {
            return false;
        }
        if ctx.include_usage {
            let v = json!({
                "id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created,
                "model": ctx.model, "choices": [], "usage": ctx.usage(completion_tokens),
            });
            if !self.event(&v.to_string()) {
                return false;
            }
        }
        self.event("[DONE]") && self.write(b"0\r\n\r\n")
    }
}

struct Ctx {
    idx: usize,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    prompt_tokens: usize,
}

impl Ctx {
    fn usage(&self, completion_tokens: usize) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }

    /// A `chat.completion.chunk` (with `"usage": null` when usage was requested, as OpenAI does).
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        let mut v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        if self.include_usage {
            v["usage"] = Value::Null;
        }
        v.to_string()
    }
}

fn completion(ctx: &Ctx, message: Value, finish_reason: &str, completion_tokens: usize) -> Value {
    json!({
        "id": ctx.id, "object": "chat.completion", "created": ctx.created, "model": ctx.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": ctx.usage(completion_tokens),
    })
}

/// Text of a message `content`: a string, or the `text` of `{type:"text"}` parts joined by spaces.
fn content_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn messages(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn last_user_text(body: &Value) -> String {
    messages(body)
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default()
}

fn prompt_bytes(body: &Value) -> usize {
    messages(body)
        .iter()
        .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)).len())
        .sum()
}

/// Split `text` into `n` roughly equal pieces by chars (fewer if it is shorter; one if empty).
fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let k = n.max(1).min(chars.len().max(1));
    (0..k)
        .map(|i| {
            chars[i * chars.len() / k..(i + 1) * chars.len() / k]
                .iter()
                .collect()
        })
        .collect()
}
