//! Model providers: OpenAI-compatible chat completions (and `/embeddings`, for memory) over
//! ureq, on provider worker threads.
//!
//! `Providers` owns one ureq `Agent` per configured provider and `limits.provider_workers`
//! named threads fed by a bounded queue (`limits.provider_queue`, full → `ProviderError::Busy`).
//! The executor calls `Providers::call`, gets a `Call` and reads `Event`s from its bounded
//! channel (`limits.provider_stream_buffer`); a slow reader makes the worker merge deltas, never
//! buffer without bound. Dropping a `Call` cancels it: the worker's socket is shut down, so an
//! aborted run closes its provider connection at once, even while the server stalls.
//!
//! `openai.rs` builds request bodies and parses answers (JSON or server-sent events, with a
//! bounded line buffer); `worker.rs` does the HTTP. Failover and retries are decided by the
//! caller (`agent/`), from `ProviderError::transient` and `retry_after_ms`.
//!
//! Only this module and `telegram/` name `ureq`.

pub mod fetch;
pub mod keys;
pub mod openai;
pub mod virustotal;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::Value;

pub use worker::Providers;

/// What the agent asks a model.
#[derive(Debug, Clone)]
pub struct Request {
    /// Model id as the provider knows it.
    pub model: String,
    /// OpenAI-format messages (`{role, content, tool_calls?, tool_call_id?}`).
    pub messages: Vec<Value>,
    /// OpenAI `tools` entries; empty: no tools offered.
    pub tools: Vec<Value>,
    /// `max_tokens`, when the catalog knows it.
    pub max_tokens: Option<u64>,
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// Call id (echoed back in the tool result).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// JSON arguments as text (as the model wrote them).
    pub arguments: String,
}

/// Token counts a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Prompt tokens served from the provider's cache.
    pub cache_read: u64,
}

/// A finished model answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    /// The assistant text.
    pub text: String,
    /// Tool calls, in index order.
    pub tool_calls: Vec<ToolCall>,
    /// `finish_reason` as sent (`stop`, `length`, `tool_calls`, …).
    pub finish_reason: Option<String>,
    /// Usage, when the provider reported it.
    pub usage: Option<Usage>,
    /// Whether the answer arrived as a stream.
    pub streamed: bool,
    /// HTTP status of the answer.
    pub status: u16,
}

/// What a chat call yields, in order: deltas, then one `Done` (or an error instead); an
/// embeddings call yields one `Embeddings`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// New assistant text (may merge several chunks).
    Delta(String),
    /// The whole answer.
    Done(Completion),
    /// One vector per input, in input order (`Providers::embed`).
    Embeddings(Vec<Vec<f32>>),
}

/// An `/embeddings` request: `input` texts for `model`.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    /// Model id as the provider knows it.
    pub model: String,
    /// The texts, one vector each.
    pub input: Vec<String>,
}

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    /// Resolve or connect failed (including TLS).
    Connect(String),
    /// The TLS handshake failed (bad certificate, no common protocol): retrying will not help.
    Tls(String),
    /// A deadline passed (`what`: connect, response, read, request).
    Timeout(&'static str),
    /// 429: rate limited; `retry_after_ms` from `Retry-After` / `retry-after-ms`.
    RateLimited {
        /// Server's requested wait.
        retry_after_ms: Option<u64>,
        /// Provider's message.
        message: String,
    },
    /// Any other non-2xx status.
    Status {
        /// HTTP status.
        code: u16,
        /// Provider's message (`error.message`), cut short.
        message: String,
        /// Provider's `error.code`, if any.
        api_code: Option<String>,
        /// Server's requested wait on a 503.
        retry_after_ms: Option<u64>,
    },
    /// The connection closed or broke before the answer was complete.
    Closed(String),
    /// The answer exceeded `limits.provider_max_response_bytes`.
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The answer was not valid JSON / SSE, or an SSE line exceeded `provider_max_line_bytes`.
    Malformed(String),
    /// The provider sent an error object inside a 200 stream.
    Upstream(String),
    /// The call was cancelled (run aborted).
    Cancelled,
    /// `provider_queue` is full.
    Busy {
        /// The queue's capacity.
        cap: usize,
    },
    /// The provider id is not in the registry.
    Unknown(String),
}

impl ProviderError {
    /// Whether retrying the same candidate may help (connect, timeout, 429, 5xx, broken stream,
    /// our own full queue). Everything else goes straight to the next candidate.
    pub fn transient(&self) -> bool {
        match self {
            ProviderError::Connect(_)
            | ProviderError::Timeout(_)
            | ProviderError::RateLimited { .. }
            | ProviderError::Closed(_)
            | ProviderError::Busy { .. } => true,
            ProviderError::Status { code, .. } => *code >= 500 || *code == 408,
            _ => false,
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ProviderError::RateLimited { retry_after_ms, .. }
            | ProviderError::Status { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// Upstream's `errorKind` for `chat` error events.
    pub fn error_kind(&self) -> &'static str {
        match self {
            ProviderError::Timeout(_) => "timeout",
            ProviderError::RateLimited { .. } => "rate_limit",
            ProviderError::Status {
                code,
                api_code,
                message,
                ..
            } => {
                let m = message.to_ascii_lowercase();
                if api_code.as_deref() == Some("context_length_exceeded")
                    || m.contains("context length")
                    || m.contains("context window")
                    || m.contains("maximum context")
                {
                    "context_length"
                } else if *code == 429 {
                    "rate_limit"
                } else {
                    "unknown"
                }
            }
            _ => "unknown",
        }
    }

    /// Short machine name for reports (`attempts[].error`).
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Connect(_) => "connect",
            ProviderError::Tls(_) => "tls",
            ProviderError::Timeout(_) => "timeout",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Status { .. } => "status",
            ProviderError::Closed(_) => "closed",
            ProviderError::TooLarge { .. } => "too_large",
            ProviderError::Malformed(_) => "malformed",
            ProviderError::Upstream(_) => "upstream",
            ProviderError::Cancelled => "cancelled",
            ProviderError::Busy { .. } => "busy",
            ProviderError::Unknown(_) => "unknown_provider",
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::Connect(e) => write!(f, "connect failed: {e}"),
            ProviderError::Tls(e) => write!(f, "tls failed: {e}"),
            ProviderError::Timeout(what) => write!(f, "timed out ({what})"),
            ProviderError::RateLimited {
                retry_after_ms,
                message,
            } => match retry_after_ms {
                Some(ms) => write!(f, "rate limited (retry after {ms} ms): {message}"),
                None => write!(f, "rate limited: {message}"),
            },
            ProviderError::Status { code, message, .. } => write!(f, "http {code}: {message}"),
            ProviderError::Closed(e) => write!(f, "connection closed mid-answer: {e}"),
            ProviderError::TooLarge { max } => write!(f, "response too large: over {max} bytes"),
            ProviderError::Malformed(e) => write!(f, "malformed response: {e}"),
            ProviderError::Upstream(e) => write!(f, "provider error in stream: {e}"),
            ProviderError::Cancelled => f.write_str("cancelled"),
            ProviderError::Busy { cap } => {
                write!(f, "provider queue full: {cap} requests waiting")
            }
            ProviderError::Unknown(id) => write!(f, "unknown provider {id:?}"),
        }
    }
}

impl std::error::Error for ProviderError {}

/// Counters for `status`: requests, failures, bytes.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls started.
    pub calls: AtomicU64,
    /// Calls that failed.
    pub failures: AtomicU64,
    /// Calls refused by a full queue.
    pub shed: AtomicU64,
    /// Response bytes read.
    pub bytes_in: AtomicU64,
}

impl Stats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "calls": self.calls.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "shed": self.shed.load(Ordering::Relaxed),
            "bytesIn": self.bytes_in.load(Ordering::Relaxed),
        })
    }
}

/// A cancellation flag shared by a `Call` and its worker.
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    sockets: std::sync::Mutex<Vec<worker::SocketHandle>>,
}

impl Cancel {
    /// Sets the flag and shuts down every socket the call opened.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let sockets = std::mem::take(&mut *self.sockets.lock().unwrap_or_else(|e| e.into_inner()));
        for s in sockets {
            worker::shutdown(&s);
        }
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn register(&self, s: worker::SocketHandle) {
        if self.is_cancelled() {
            worker::shutdown(&s);
            return;
        }
        let mut v = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|h| h.strong_count() > 0);
        v.push(s);
    }
}

/// An in-flight model call; dropping it cancels the call.
pub struct Call {
    /// Events from the worker.
    pub events: smol::channel::Receiver<Result<Event, ProviderError>>,
    cancel: Arc<Cancel>,
}

impl Call {
    /// Next event; `None` once the worker is done.
    pub async fn next(&self) -> Option<Result<Event, ProviderError>> {
        self.events.recv().await.ok()
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
