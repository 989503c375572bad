//! Telegram long-poll worker: the one `telegram` thread that calls `getUpdates`, plus the
//! blocking Bot API call the sender runs on the blocking pool.
//!
//! The thread asks `getMe` once (the bot's username, for mention detection), then loops: one
//! `getUpdates` with the offset the executor last confirmed, on a fresh connection each time
//! (no idle pool, so DNS is resolved again and a stalled socket never outlives its poll), read
//! timeout `pollTimeoutSecs + POLL_MARGIN_SECS`. A non-empty batch goes to the executor through a
//! bounded channel; the thread then waits for the executor's answer, the offset saved in the
//! store together with the updates (`store::telegram::accept`), and only that offset is ever
//! sent to Telegram, so an update is confirmed only once it is on disk.
//!
//! Faults: `429` waits `retry_after`; 5xx, malformed answers and network errors back off from
//! 1 s doubling to 30 s with jitter; `409 Conflict` (another poller) sets `conflict` and retries
//! every 30 s; `401`/`404` (bad token or base URL) retry every 30 s too. Liveness is
//! `last_poll_at_ms`, the time the last `getUpdates` returned (with updates or empty).
//! No error text here carries the token: transport errors pass through `api::redact_token`.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::api::{ApiError, ApiReply, method_url, redact_token};

/// Seconds added to the long-poll timeout before the client gives up on a read.
pub const POLL_MARGIN_SECS: u64 = 10;
/// Connect (and resolve) timeout of every Bot API call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-call timeout of a send (`sendMessage`, `sendChatAction`, `getMe`).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Whole-call limit of a file upload (`sendVoice`, `sendDocument`).
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// First backoff after a transient failure; doubles up to `MAX_BACKOFF_MS`.
pub const MIN_BACKOFF_MS: u64 = 1_000;
/// Longest backoff after transient failures.
pub const MAX_BACKOFF_MS: u64 = 30_000;
/// Wait after `409 Conflict`, `401` or `404` before polling again.
pub const SLOW_RETRY_MS: u64 = 30_000;
/// Whole-call timeout of a file download.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest `getUpdates` answer read (100 updates of large messages fit easily).
const MAX_POLL_BODY: u64 = 8 * 1024 * 1024;
/// Largest answer of any other call.
const MAX_CALL_BODY: u64 = 256 * 1024;
/// Updates asked for per poll (Telegram's maximum).
const POLL_LIMIT: u64 = 100;
/// How long the thread waits for the executor to confirm a batch before polling again with the
/// old offset (the batch then comes back and is recognised as duplicates).
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Bridge state shared between the thread and the executor (for `channels.status` and `health`).
#[derive(Default)]
pub struct Shared {
    /// True while the thread runs.
    pub running: AtomicBool,
    /// Set by the executor to stop the thread (checked between polls and during waits).
    pub stop: AtomicBool,
    /// Unix ms of the last `getUpdates` that returned; 0 before the first.
    pub last_poll_at_ms: AtomicU64,
    /// The current backoff, 0 when polling normally.
    pub backoff_ms: AtomicU64,
    /// True while Telegram answers `409 Conflict`.
    pub conflict: AtomicBool,
    /// The last error (already redacted), cleared by a good poll.
    pub last_error: Mutex<Option<String>>,
    /// The bot's `@username` from `getMe` (empty until known).
    pub username: Mutex<String>,
}

impl Shared {
    fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }
}

/// Why a Bot API call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Telegram (or the fake) answered with an error envelope.
    Api(ApiError),
    /// Connect, TLS, timeout or a cut body; the text is redacted.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api(e) => write!(f, "{e}"),
            CallError::Transport(e) => write!(f, "network error: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Where to call: base URL and token (kept off every message by `redact_token`).
#[derive(Clone)]
pub struct Endpoint {
    /// Base URL without a trailing slash.
    pub base: String,
    /// The bot token.
    pub token: String,
}

fn agent(global: Duration, per_read: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        // 16 KiB buffers instead of ureq's 128 KiB each way: every call has a fresh connection,
        // and on the static musl build large short-lived buffers fragment the heap (RSS rose
        // ~10 MiB per 1,000-update burst; see README "Telegram bench").
        .max_response_header_size(16 * 1024)
        .input_buffer_size(16 * 1024)
        .output_buffer_size(16 * 1024)
        .user_agent(format!("openclaw-edge/{}", env!("CARGO_PKG_VERSION")))
        .timeout_global(Some(global))
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_send_request(Some(CONNECT_TIMEOUT))
        .timeout_send_body(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(per_read))
        .timeout_per_read(Some(per_read))
        .build();
    ureq::Agent::new_with_config(config)
}

/// One blocking Bot API call with a JSON body; `timeout` bounds the whole call.
/// Run it on the blocking pool or the poll thread, never on the executor.
pub fn call<T: DeserializeOwned>(
    ep: &Endpoint,
    method: &str,
    body: &Value,
    timeout: Duration,
    max_body: u64,
) -> Result<T, CallError> {
    let url = method_url(&ep.base, &ep.token, method);
    let payload = serde_json::to_vec(body).unwrap_or_default();
    exchange(
        &agent(timeout, timeout),
        &url,
        &ep.token,
        ("application/json", &payload),
        max_body,
    )
}

/// Uploads a file with `method` (`sendVoice`, `sendDocument`) as the `field` part of a
/// `multipart/form-data` body; returns the new message's id. Blocking: run it on the pool.
pub fn send_file(
    ep: &Endpoint,
    (method, field): (&str, &str),
    chat_id: i64,
    (name, mime, bytes): (&str, &str, &[u8]),
) -> Result<i64, CallError> {
    let boundary = format!("oce-{}", crate::ids::hex(&crate::ids::random_bytes::<12>()));
    let mut body = Vec::with_capacity(bytes.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n{chat_id}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
             Content-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ctype = format!("multipart/form-data; boundary={boundary}");
    let url = method_url(&ep.base, &ep.token, method);
    let m: Value = exchange(
        &agent(UPLOAD_TIMEOUT, SEND_TIMEOUT),
        &url,
        &ep.token,
        (&ctype, &body),
        MAX_CALL_BODY,
    )?;
    Ok(m.get("message_id").and_then(Value::as_i64).unwrap_or(0))
}

/// POSTs `(content type, body)` to `url` and unwraps the Bot API envelope, reading at most
/// `max_body` bytes.
fn exchange<T: DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    (ctype, payload): (&str, &[u8]),
    max_body: u64,
) -> Result<T, CallError> {
    let redact = |s: String| redact_token(&s, token);
    let mut resp = agent
        .post(url)
        .header("Content-Type", ctype)
        .send(payload)
        .map_err(|e| CallError::Transport(redact(e.to_string())))?;
    let status = resp.status().as_u16();
    let mut bytes = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(max_body + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CallError::Transport(redact(e.to_string())))?;
    if bytes.len() as u64 > max_body {
        return Err(CallError::Api(ApiError::Malformed(format!(
            "answer larger than {max_body} bytes"
        ))));
    }
    match serde_json::from_slice::<ApiReply<T>>(&bytes) {
        Ok(r) => r.into_result().map_err(CallError::Api),
        Err(e) if status >= 500 => Err(CallError::Api(ApiError::Server(
            status,
            format!("non-JSON answer: {e}"),
        ))),
        Err(e) => Err(CallError::Api(ApiError::Malformed(format!(
            "status {status}: {e}"
        )))),
    }
}

/// A message to send, rendered: what `sendMessage` gets.
pub fn send_message(
    ep: &Endpoint,
    chat_id: i64,
    text: &str,
    parse_mode: Option<&str>,
    reply_to: Option<i64>,
) -> Result<i64, CallError> {
    let mut body = json!({"chat_id": chat_id, "text": text});
    if let Some(m) = parse_mode {
        body["parse_mode"] = json!(m);
    }
    if let Some(r) = reply_to {
        body["reply_parameters"] = json!({"message_id": r, "allow_sending_without_reply": true});
    }
    let m: Value = call(ep, "sendMessage", &body, SEND_TIMEOUT, MAX_CALL_BODY)?;
    Ok(m["message_id"].as_i64().unwrap_or(0))
}

/// `sendChatAction typing`.
pub fn send_typing(ep: &Endpoint, chat_id: i64) -> Result<(), CallError> {
    let body = json!({"chat_id": chat_id, "action": "typing"});
    call::<bool>(ep, "sendChatAction", &body, SEND_TIMEOUT, MAX_CALL_BODY).map(|_| ())
}

/// `editMessageText`: replaces the text of a message the bot sent.
pub fn edit_message(
    ep: &Endpoint,
    chat_id: i64,
    message_id: i64,
    text: &str,
    parse_mode: Option<&str>,
) -> Result<(), CallError> {
    let mut body = json!({"chat_id": chat_id, "message_id": message_id, "text": text});
    if let Some(m) = parse_mode {
        body["parse_mode"] = json!(m);
    }
    match call::<Value>(ep, "editMessageText", &body, SEND_TIMEOUT, MAX_CALL_BODY) {
        // Same text as before: nothing to change, which is what we wanted.
        Err(CallError::Api(ApiError::BadRequest(d))) if d.contains("message is not modified") => {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// `deleteMessage`.
pub fn delete_message(ep: &Endpoint, chat_id: i64, message_id: i64) -> Result<(), CallError> {
    let body = json!({"chat_id": chat_id, "message_id": message_id});
    call::<bool>(ep, "deleteMessage", &body, SEND_TIMEOUT, MAX_CALL_BODY).map(|_| ())
}

/// Why a file could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Larger than the cap (the size when known).
    TooLarge(Option<u64>),
    /// The Bot API call or the download failed.
    Call(CallError),
}

/// `getFile`, then the download from `<base>/file/bot<token>/<file_path>`, reading at most
/// `max_bytes` (a larger file is refused before or during the transfer, never kept whole).
pub fn download(ep: &Endpoint, file_id: &str, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let f: Value = call(
        ep,
        "getFile",
        &json!({"file_id": file_id}),
        SEND_TIMEOUT,
        MAX_CALL_BODY,
    )
    .map_err(FileError::Call)?;
    let size = f["file_size"].as_u64();
    if size.is_some_and(|n| n > max_bytes) {
        return Err(FileError::TooLarge(size));
    }
    let Some(path) = f["file_path"].as_str() else {
        return Err(FileError::Call(CallError::Api(ApiError::Malformed(
            "getFile answered without file_path".into(),
        ))));
    };
    let url = format!(
        "{}/file/bot{}/{}",
        ep.base.trim_end_matches('/'),
        ep.token,
        path.trim_start_matches('/')
    );
    let transport = |e: String| FileError::Call(CallError::Transport(redact_token(&e, &ep.token)));
    let mut resp = agent(DOWNLOAD_TIMEOUT, SEND_TIMEOUT)
        .get(&url)
        .call()
        .map_err(|e| transport(e.to_string()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(FileError::Call(CallError::Api(if status >= 500 {
            ApiError::Server(status, "file download failed".into())
        } else {
            ApiError::BadRequest(format!("file download answered {status}"))
        })));
    }
    let mut bytes = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| transport(e.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge(size));
    }
    Ok(bytes)
}

/// What the thread hands the executor: one non-empty `getUpdates` result, raw.
pub type Batch = Vec<Value>;

/// The executor's ends of the thread's channels.
pub struct Ends {
    /// Batches to accept (bounded; the thread blocks while the executor is behind).
    pub batches: smol::channel::Sender<Batch>,
    /// The offset to poll with next, sent by the executor after each batch.
    pub acks: Receiver<i64>,
}

/// Starts the `telegram` thread polling from `offset`.
pub fn spawn(
    ep: Endpoint,
    poll_timeout_secs: u64,
    offset: i64,
    shared: Arc<Shared>,
    ends: Ends,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("telegram".into())
        .spawn(move || run(ep, poll_timeout_secs, offset, shared, ends))
        .map(|_| ())
}

fn sleep_unless_stopped(shared: &Shared, ms: u64) {
    let mut left = ms;
    while left > 0 && !shared.stop.load(Ordering::Relaxed) {
        let step = left.min(200);
        std::thread::sleep(Duration::from_millis(step));
        left -= step;
    }
}

fn jitter(ms: u64) -> u64 {
    let r = u16::from_le_bytes(crate::ids::random_bytes::<2>()) as u64;
    // ±20 %.
    ms * 8 / 10 + ms * 4 / 10 * r / u16::MAX as u64
}

fn run(ep: Endpoint, timeout_s: u64, offset: i64, shared: Arc<Shared>, ends: Ends) {
    shared.running.store(true, Ordering::Relaxed);
    poll_loop(ep, timeout_s, offset, &shared, ends);
    shared.running.store(false, Ordering::Relaxed);
    log::info!("telegram: polling stopped");
}

fn poll_loop(ep: Endpoint, timeout_s: u64, mut offset: i64, shared: &Shared, ends: Ends) {
    let mut backoff = 0u64;
    let mut known_name = false;
    let poll_agent = agent(
        Duration::from_secs(timeout_s + POLL_MARGIN_SECS + 5),
        Duration::from_secs(timeout_s + POLL_MARGIN_SECS),
    );
    let poll_url = method_url(&ep.base, &ep.token, "getUpdates");
    while !shared.stop.load(Ordering::Relaxed) {
        if !known_name {
            match call::<Value>(&ep, "getMe", &json!({}), SEND_TIMEOUT, MAX_CALL_BODY) {
                Ok(me) => {
                    let name = me["username"].as_str().unwrap_or("").to_string();
                    log::info!("telegram: polling as @{name}");
                    if let Ok(mut g) = shared.username.lock() {
                        *g = name;
                    }
                    known_name = true;
                }
                Err(e) => log::warn!("telegram: getMe failed: {e}"),
            }
        }
        let body = json!({"offset": offset, "timeout": timeout_s, "limit": POLL_LIMIT,
                          "allowed_updates": ["message"]});
        let result: Result<Vec<Value>, _> = exchange(
            &poll_agent,
            &poll_url,
            &ep.token,
            (
                "application/json",
                &serde_json::to_vec(&body).unwrap_or_default(),
            ),
            MAX_POLL_BODY,
        );
        let wait_ms = match result {
            Ok(updates) => {
                shared
                    .last_poll_at_ms
                    .store(crate::clock::now_ms(), Ordering::Relaxed);
                shared.conflict.store(false, Ordering::Relaxed);
                shared.backoff_ms.store(0, Ordering::Relaxed);
                shared.set_error(None);
                backoff = 0;
                if updates.is_empty() {
                    continue;
                }
                if ends.batches.send_blocking(updates).is_err() {
                    return;
                }
                match ends.acks.recv_timeout(ACK_TIMEOUT) {
                    Ok(next) => offset = offset.max(next),
                    Err(RecvTimeoutError::Timeout) => {
                        log::warn!("telegram: the executor did not confirm a batch in time")
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                continue;
            }
            Err(CallError::Api(ApiError::TooManyRequests { retry_after_s })) => {
                shared.set_error(Some(format!(
                    "getUpdates: too many requests: retry after {retry_after_s} s"
                )));
                retry_after_s * 1000
            }
            Err(CallError::Api(ApiError::Conflict(d))) => {
                shared.conflict.store(true, Ordering::Relaxed);
                let e = CallError::Api(ApiError::Conflict(d)).to_string();
                log::error!(
                    "telegram: getUpdates: {e}; retrying in {} s",
                    SLOW_RETRY_MS / 1000
                );
                shared.set_error(Some(format!("getUpdates: {e}")));
                SLOW_RETRY_MS
            }
            Err(e @ CallError::Api(ApiError::Unauthorized | ApiError::NotFound)) => {
                log::error!(
                    "telegram: getUpdates: {e}; retrying in {} s",
                    SLOW_RETRY_MS / 1000
                );
                shared.set_error(Some(format!("getUpdates: {e}")));
                SLOW_RETRY_MS
            }
            Err(e) => {
                backoff = if backoff == 0 {
                    MIN_BACKOFF_MS
                } else {
                    (backoff * 2).min(MAX_BACKOFF_MS)
                };
                let ms = jitter(backoff);
                log::warn!("telegram: getUpdates: {e}; retrying in {ms} ms");
                shared.set_error(Some(format!("getUpdates: {e}")));
                ms
            }
        };
        shared.backoff_ms.store(wait_ms, Ordering::Relaxed);
        sleep_unless_stopped(shared, wait_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..100 {
            let j = jitter(10_000);
            assert!((8_000..=12_000).contains(&j), "{j}");
        }
    }

    #[test]
    fn call_errors_display_without_the_token() {
        let e = CallError::Transport(redact_token(
            "http://h/bot1:secret/getMe: refused",
            "1:secret",
        ));
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
