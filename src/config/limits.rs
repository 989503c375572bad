//! Limits: every capacity, queue, buffer and timeout of the runtime, with its default.
//!
//! Each field has a `DEFAULT_*` constant (the `edge` profile values) and a doc saying what it
//! bounds and what happens when it is hit. `profiles/*.toml` override them per board class and a
//! config file's `[limits]` table overrides the profile. `validate` rejects values that would make
//! the runtime unsafe (zero queues, frames smaller than a handshake).

use serde::{Deserialize, Serialize};

/// Pre-auth frame cap from upstream (`MAX_PREAUTH_PAYLOAD_BYTES`); larger → close 1009.
pub const DEFAULT_MAX_PREAUTH_FRAME_BYTES: usize = 64 * 1024;
/// Post-auth message cap; larger → close 1009 "message too big".
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Post-auth single WebSocket frame cap (continuations add up to `max_message_bytes`).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
/// Authenticated + handshaking sockets; at the cap new TCP connections are answered 503 and closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// tungstenite read buffer per socket; eagerly allocated and zero-filled, so kept small.
pub const DEFAULT_WS_READ_BUFFER_BYTES: usize = 2 * 1024;
/// Bytes tungstenite may hold unwritten per socket before a write reports back-pressure.
pub const DEFAULT_WS_MAX_WRITE_BUFFER_BYTES: usize = 512 * 1024;
/// Frames waiting to be written to one client; a full queue disconnects that client (slow consumer).
pub const DEFAULT_OUTBOUND_QUEUE: usize = 32;
/// Presence entries carried by `hello-ok` snapshots and `presence` events; the rest are listed
/// only by `system-presence`. Keeps those frames (and every socket's write buffer) small.
pub const DEFAULT_MAX_PRESENCE_ENTRIES: usize = 8;
/// Requests one connection may have running at once; past it → `UNAVAILABLE`, retryable.
pub const DEFAULT_MAX_INFLIGHT_PER_CONN: usize = 8;
/// Worker threads of the blocking pool (spawned on demand, exit when idle).
pub const DEFAULT_BLOCKING_THREADS: usize = 2;
/// Jobs waiting for a blocking worker; past it → `UNAVAILABLE`, retryable.
pub const DEFAULT_BLOCKING_QUEUE: usize = 16;
/// How long an idle blocking worker lives before its thread exits.
pub const DEFAULT_BLOCKING_IDLE_MS: u64 = 5_000;
/// Lines kept in the in-memory log ring served by `logs.tail`; the oldest line is dropped.
pub const DEFAULT_LOG_RING_LINES: usize = 200;
/// Longest log line kept in the ring; longer lines are cut and marked with `…`.
pub const DEFAULT_LOG_LINE_MAX_BYTES: usize = 512;
/// Time from upgrade to a successful `connect`; then the socket is closed.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Interval of `tick` events (clients close after 2× silence).
pub const DEFAULT_TICK_INTERVAL_MS: u64 = 30_000;
/// Failed auth attempts allowed per peer address within `auth_fail_window_ms`.
pub const DEFAULT_AUTH_FAIL_MAX: u32 = 5;
/// Window of the failed-auth counter; after it the peer may try again.
pub const DEFAULT_AUTH_FAIL_WINDOW_MS: u64 = 60_000;
/// Peer addresses tracked by the failed-auth limiter; the stalest entry is evicted.
pub const DEFAULT_AUTH_FAIL_TABLE: usize = 64;
/// Bytes of an HTTP request head (request line + headers); larger → 431.
pub const DEFAULT_HTTP_MAX_HEAD_BYTES: usize = 8 * 1024;
/// Header lines of an HTTP request; more → 431.
pub const DEFAULT_HTTP_MAX_HEADERS: usize = 32;
/// Body of `POST /rpc`; larger → 413.
pub const DEFAULT_HTTP_MAX_BODY_BYTES: usize = 64 * 1024;
/// Time to receive an HTTP request head and body; then 408 and close.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 10_000;
/// Time one socket write may take; a client that does not drain its socket is dropped.
pub const DEFAULT_WRITE_TIMEOUT_MS: u64 = 10_000;
/// Time shutdown waits for clients to receive `shutdown` and the close frame.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 1_500;
/// Time a single RPC handler may run before it is answered `UNAVAILABLE` (timeout).
pub const DEFAULT_RPC_TIMEOUT_MS: u64 = 30_000;

/// Every capacity of the runtime. See each `DEFAULT_*` constant for what happens at the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent sockets (WebSocket and HTTP); at the cap new connections get 503.
    pub max_connections: usize,
    /// Largest frame accepted before `connect` succeeds (close 1009 past it).
    pub max_preauth_frame_bytes: usize,
    /// Largest message after auth (close 1009 past it); advertised as `policy.maxPayload`.
    pub max_message_bytes: usize,
    /// Largest single WebSocket frame after auth.
    pub max_frame_bytes: usize,
    /// Eagerly allocated read buffer per socket.
    pub ws_read_buffer_bytes: usize,
    /// Unwritten bytes tungstenite may buffer per socket.
    pub ws_max_write_buffer_bytes: usize,
    /// Frames queued for one client; full → the client is disconnected (1008 slow consumer).
    pub outbound_queue: usize,
    /// Requests running at once on one connection; past it → `UNAVAILABLE` retryable.
    pub max_inflight_per_conn: usize,
    /// Presence entries in snapshots and `presence` events (nodes and UIs first, newest first).
    pub max_presence_entries: usize,
    /// Threads of the blocking pool.
    pub blocking_threads: usize,
    /// Jobs queued for the blocking pool; past it → `UNAVAILABLE` retryable.
    pub blocking_queue: usize,
    /// Idle lifetime of a blocking worker thread.
    pub blocking_idle_ms: u64,
    /// Lines in the `logs.tail` ring.
    pub log_ring_lines: usize,
    /// Longest line kept in the log ring.
    pub log_line_max_bytes: usize,
    /// Upgrade → successful `connect` deadline.
    pub handshake_timeout_ms: u64,
    /// `tick` event interval, advertised as `policy.tickIntervalMs`.
    pub tick_interval_ms: u64,
    /// Failed auth attempts per peer address per window before `AUTH_RATE_LIMITED`.
    pub auth_fail_max: u32,
    /// Failed-auth window.
    pub auth_fail_window_ms: u64,
    /// Peer addresses tracked by the failed-auth limiter.
    pub auth_fail_table: usize,
    /// HTTP request head cap (431 past it).
    pub http_max_head_bytes: usize,
    /// HTTP header count cap (431 past it).
    pub http_max_headers: usize,
    /// HTTP body cap (413 past it).
    pub http_max_body_bytes: usize,
    /// HTTP request read deadline (408).
    pub http_timeout_ms: u64,
    /// Deadline of one socket write.
    pub write_timeout_ms: u64,
    /// Shutdown grace for clients to receive `shutdown` + close.
    pub shutdown_grace_ms: u64,
    /// Deadline of one RPC handler.
    pub rpc_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_preauth_frame_bytes: DEFAULT_MAX_PREAUTH_FRAME_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            ws_read_buffer_bytes: DEFAULT_WS_READ_BUFFER_BYTES,
            ws_max_write_buffer_bytes: DEFAULT_WS_MAX_WRITE_BUFFER_BYTES,
            outbound_queue: DEFAULT_OUTBOUND_QUEUE,
            max_inflight_per_conn: DEFAULT_MAX_INFLIGHT_PER_CONN,
            max_presence_entries: DEFAULT_MAX_PRESENCE_ENTRIES,
            blocking_threads: DEFAULT_BLOCKING_THREADS,
            blocking_queue: DEFAULT_BLOCKING_QUEUE,
            blocking_idle_ms: DEFAULT_BLOCKING_IDLE_MS,
            log_ring_lines: DEFAULT_LOG_RING_LINES,
            log_line_max_bytes: DEFAULT_LOG_LINE_MAX_BYTES,
            handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
            tick_interval_ms: DEFAULT_TICK_INTERVAL_MS,
            auth_fail_max: DEFAULT_AUTH_FAIL_MAX,
            auth_fail_window_ms: DEFAULT_AUTH_FAIL_WINDOW_MS,
            auth_fail_table: DEFAULT_AUTH_FAIL_TABLE,
            http_max_head_bytes: DEFAULT_HTTP_MAX_HEAD_BYTES,
            http_max_headers: DEFAULT_HTTP_MAX_HEADERS,
            http_max_body_bytes: DEFAULT_HTTP_MAX_BODY_BYTES,
            http_timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            write_timeout_ms: DEFAULT_WRITE_TIMEOUT_MS,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            rpc_timeout_ms: DEFAULT_RPC_TIMEOUT_MS,
        }
    }
}

impl Limits {
    /// Checks every field against its floor; the error names the key (`limits.<field>`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let at_least = |key: &str, v: u64, min: u64| -> Result<(), (String, String)> {
            if v < min {
                Err((
                    format!("limits.{key}"),
                    format!("must be at least {min}, got {v}"),
                ))
            } else {
                Ok(())
            }
        };
        at_least("max_connections", self.max_connections as u64, 1)?;
        at_least(
            "max_preauth_frame_bytes",
            self.max_preauth_frame_bytes as u64,
            4096,
        )?;
        at_least("max_message_bytes", self.max_message_bytes as u64, 4096)?;
        at_least("max_frame_bytes", self.max_frame_bytes as u64, 1024)?;
        at_least(
            "ws_read_buffer_bytes",
            self.ws_read_buffer_bytes as u64,
            512,
        )?;
        at_least(
            "ws_max_write_buffer_bytes",
            self.ws_max_write_buffer_bytes as u64,
            self.max_message_bytes as u64 * 2,
        )?;
        at_least("outbound_queue", self.outbound_queue as u64, 4)?;
        at_least(
            "max_inflight_per_conn",
            self.max_inflight_per_conn as u64,
            1,
        )?;
        at_least("blocking_threads", self.blocking_threads as u64, 1)?;
        at_least("blocking_queue", self.blocking_queue as u64, 1)?;
        at_least("blocking_idle_ms", self.blocking_idle_ms, 100)?;
        at_least("log_ring_lines", self.log_ring_lines as u64, 1)?;
        at_least("log_line_max_bytes", self.log_line_max_bytes as u64, 64)?;
        at_least("handshake_timeout_ms", self.handshake_timeout_ms, 100)?;
        at_least("tick_interval_ms", self.tick_interval_ms, 100)?;
        at_least("auth_fail_max", self.auth_fail_max as u64, 1)?;
        at_least("auth_fail_window_ms", self.auth_fail_window_ms, 100)?;
        at_least("auth_fail_table", self.auth_fail_table as u64, 1)?;
        at_least("http_max_head_bytes", self.http_max_head_bytes as u64, 1024)?;
        at_least("http_max_headers", self.http_max_headers as u64, 8)?;
        at_least("http_max_body_bytes", self.http_max_body_bytes as u64, 1024)?;
        at_least("http_timeout_ms", self.http_timeout_ms, 100)?;
        at_least("write_timeout_ms", self.write_timeout_ms, 100)?;
        at_least("rpc_timeout_ms", self.rpc_timeout_ms, 100)?;
        if self.max_frame_bytes > self.max_message_bytes {
            return Err((
                "limits.max_frame_bytes".into(),
                format!(
                    "must not exceed limits.max_message_bytes ({} > {})",
                    self.max_frame_bytes, self.max_message_bytes
                ),
            ));
        }
        if self.max_preauth_frame_bytes > self.max_message_bytes {
            return Err((
                "limits.max_preauth_frame_bytes".into(),
                format!(
                    "must not exceed limits.max_message_bytes ({} > {})",
                    self.max_preauth_frame_bytes, self.max_message_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Bytes a client may have queued towards it, advertised as `policy.maxBufferedBytes`.
    pub fn max_buffered_bytes(&self) -> usize {
        self.ws_max_write_buffer_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn zero_queue_is_rejected_with_key() {
        let l = Limits {
            outbound_queue: 0,
            ..Limits::default()
        };
        let (key, msg) = l.validate().unwrap_err();
        assert_eq!(key, "limits.outbound_queue");
        assert!(msg.contains("at least 4"), "{msg}");
    }

    #[test]
    fn frame_larger_than_message_is_rejected() {
        let l = Limits {
            max_frame_bytes: DEFAULT_MAX_MESSAGE_BYTES + 1,
            ..Limits::default()
        };
        assert_eq!(l.validate().unwrap_err().0, "limits.max_frame_bytes");
    }
}
