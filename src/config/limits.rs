//! Limits: every capacity, queue, buffer and timeout of the runtime, with its default.
//!
//! Each field has a `DEFAULT_*` constant (the `edge` profile values, in `limit_defaults.rs`)
//! with a doc saying what it bounds and what happens when it is hit. `profiles/*.toml` override them per board class and a
//! config file's `[limits]` table overrides the profile. `validate` rejects values that would make
//! the runtime unsafe (zero queues, frames smaller than a handshake).

use serde::{Deserialize, Serialize};

pub use super::limit_defaults::*;

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
    /// Jobs queued for the store thread; past it → `UNAVAILABLE` retryable.
    pub store_queue: usize,
    /// Write jobs per store transaction.
    pub store_batch_max: usize,
    /// SQLite page cache in KiB.
    pub store_cache_kib: usize,
    /// Sessions kept; creating more → `UNAVAILABLE`.
    pub max_sessions: usize,
    /// Transcript messages kept per session (oldest pruned).
    pub max_messages_per_session: usize,
    /// Longest chat message text accepted.
    pub max_chat_message_bytes: usize,
    /// Usage records kept (oldest pruned).
    pub max_usage_rows: usize,
    /// Newest runs per model in `edge.router.plan`'s latency percentiles.
    pub router_max_samples: usize,
    /// Turns queued across sessions; past it → `UNAVAILABLE` retryable.
    pub global_queue: usize,
    /// Turns queued per session; past it → `UNAVAILABLE` retryable.
    pub session_queue: usize,
    /// Runs executing at once.
    pub max_concurrent_runs: usize,
    /// Deadline of one run.
    pub run_timeout_ms: u64,
    /// Idempotency keys remembered.
    pub idempotency_entries: usize,
    /// Lifetime of a remembered idempotency key.
    pub idempotency_ttl_ms: u64,
    /// Steering messages buffered per running turn.
    pub steer_inbox: usize,
    /// `session.message` subscriptions per connection.
    pub max_message_subscriptions: usize,
    /// Provider worker threads.
    pub provider_workers: usize,
    /// Model requests waiting for a worker.
    pub provider_queue: usize,
    /// Stream events buffered per request.
    pub provider_stream_buffer: usize,
    /// Connect deadline of a model request.
    pub provider_connect_timeout_ms: u64,
    /// Longest silence while waiting for or reading a response.
    pub provider_read_timeout_ms: u64,
    /// Deadline of one model request.
    pub provider_timeout_ms: u64,
    /// Bytes read from one model response.
    pub provider_max_response_bytes: usize,
    /// Longest SSE line buffered.
    pub provider_max_line_bytes: usize,
    /// Longest wait before a retry.
    pub provider_max_retry_after_ms: u64,
    /// Model round trips per run in the tool loop.
    pub max_tool_iterations: usize,
    /// Identical tool calls before a warning.
    pub tool_loop_warning: usize,
    /// Identical tool calls before the run stops.
    pub tool_loop_critical: usize,
    /// Largest file read or written by a tool.
    pub tool_max_file_bytes: usize,
    /// Bytes of one tool result.
    pub tool_max_output_bytes: usize,
    /// Deadline of one `exec`.
    pub tool_exec_timeout_ms: u64,
    /// Deadline of one `http_get`.
    pub tool_http_timeout_ms: u64,
    /// Wait for an operator approval.
    pub approval_timeout_ms: u64,
    /// Pending approval requests.
    pub max_pending_approvals: usize,
    /// Least time between chat delta events.
    pub chat_delta_interval_ms: u64,
    /// Transcript messages in a prompt.
    pub prompt_max_messages: usize,
    /// Transcript bytes in a prompt.
    pub prompt_max_bytes: usize,
    /// Finished runs remembered.
    pub run_results: usize,
    /// Entries one `list` shows.
    pub tool_max_list_entries: usize,
    /// Bytes of one input scanned.
    pub defender_max_scan_bytes: usize,
    /// Encoding layers unwrapped.
    pub defender_max_decode_depth: usize,
    /// Decoded bytes per input.
    pub defender_max_decode_bytes: usize,
    /// Quarantine size.
    pub quarantine_max_bytes: u64,
    /// VirusTotal cache entries.
    pub vt_cache_entries: usize,
    /// VirusTotal cache lifetime.
    pub vt_cache_ttl_ms: u64,
    /// VirusTotal lookup deadline.
    pub vt_timeout_ms: u64,
    /// Integrity re-check interval.
    pub integrity_interval_ms: u64,
    /// Largest policy bundle.
    pub policy_max_bytes: usize,
    /// Policy file poll interval.
    pub policy_poll_ms: u64,
    /// Bridge ingress queue; full → the action is shed and counted.
    pub bridge_queue: usize,
    /// Largest upstream frame in bridge-client mode; larger → counted, reconnect.
    pub bridge_max_frame_bytes: usize,
    /// Nodes tracked (connected + known); past it a new node's `connect` is refused.
    pub mesh_max_nodes: usize,
    /// `node.invoke` requests awaiting a result; past it → `UNAVAILABLE` retryable.
    pub mesh_max_pending_invokes: usize,
    /// Longest `node.invoke` wait (a longer `timeoutMs` is lowered).
    pub mesh_invoke_timeout_ms: u64,
    /// Peers in `[mesh] peers` (more is a config error).
    pub mesh_max_peers: usize,
    /// Mesh probes in flight at once; peers without a slot by the deadline are `unknown`.
    pub mesh_probe_concurrency: usize,
    /// Default and longest `edge.mesh.status` deadline.
    pub mesh_probe_timeout_ms: u64,
    /// Pending pairing requests; past it a new unknown device is refused.
    pub mesh_max_pair_requests: usize,
    /// Paired devices; past it approvals are refused.
    pub mesh_max_paired_devices: usize,
    /// Lifetime of a pending pairing request.
    pub mesh_pair_request_ttl_ms: u64,
    /// Unsent Telegram reply chunks; full → a new answer waits (its update is re-run later).
    pub telegram_outbox: usize,
    /// Telegram update rows kept for duplicate detection; the oldest finished are pruned.
    pub telegram_max_updates: usize,
    /// Telegram sends per second, all chats together; past it the sender waits.
    pub telegram_send_per_sec: u32,
    /// Telegram updates handled at once.
    pub telegram_inflight: usize,
    /// Live Telegram pairing codes.
    pub telegram_pairing_pending: usize,
    /// Telegram users approved through pairing.
    pub telegram_paired: usize,
    /// Largest Telegram voice note or file downloaded.
    pub telegram_max_file_bytes: usize,
    /// Least time between two sends into one Telegram chat.
    pub telegram_chat_interval_ms: u64,
    /// Least time between two edits of a streamed Telegram reply.
    pub telegram_edit_interval_ms: u64,
    /// Memory entries per agent.
    pub memory_max_entries: usize,
    /// Memory text bytes per agent.
    pub memory_max_bytes: usize,
    /// Memory graph nodes.
    pub memory_max_nodes: usize,
    /// Memory graph co-occurrence edges.
    pub memory_max_edges: usize,
    /// Longest memory entry.
    pub memory_max_entry_bytes: usize,
    /// Token budget of the recalled-memory block.
    pub memory_inject_tokens: usize,
    /// Entries per background (re-)embedding batch.
    pub memory_embed_batch: usize,
    /// External programs running at once.
    pub edge_max_jobs: usize,
    /// Finished edge jobs kept.
    pub edge_jobs_kept: usize,
    /// Output bytes kept per stream of an external program.
    pub edge_output_bytes: usize,
    /// Tail bytes per stream stored with a job.
    pub edge_job_log_bytes: usize,
    /// Longest `tts.convert` text.
    pub tts_max_text_bytes: usize,
    /// Largest TTS audio file.
    pub tts_max_audio_bytes: usize,
    /// TTS audio files kept.
    pub tts_files_kept: usize,
    /// Examples per fine-tune export.
    pub finetune_max_samples: usize,
    /// Bytes per fine-tune export.
    pub finetune_max_dataset_bytes: usize,
    /// Fine-tune run directories kept.
    pub finetune_runs_kept: usize,
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
            store_queue: DEFAULT_STORE_QUEUE,
            store_batch_max: DEFAULT_STORE_BATCH_MAX,
            store_cache_kib: DEFAULT_STORE_CACHE_KIB,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_messages_per_session: DEFAULT_MAX_MESSAGES_PER_SESSION,
            max_chat_message_bytes: DEFAULT_MAX_CHAT_MESSAGE_BYTES,
            max_usage_rows: DEFAULT_MAX_USAGE_ROWS,
            router_max_samples: DEFAULT_ROUTER_MAX_SAMPLES,
            global_queue: DEFAULT_GLOBAL_QUEUE,
            session_queue: DEFAULT_SESSION_QUEUE,
            max_concurrent_runs: DEFAULT_MAX_CONCURRENT_RUNS,
            run_timeout_ms: DEFAULT_RUN_TIMEOUT_MS,
            idempotency_entries: DEFAULT_IDEMPOTENCY_ENTRIES,
            idempotency_ttl_ms: DEFAULT_IDEMPOTENCY_TTL_MS,
            steer_inbox: DEFAULT_STEER_INBOX,
            max_message_subscriptions: DEFAULT_MAX_MESSAGE_SUBSCRIPTIONS,
            provider_workers: DEFAULT_PROVIDER_WORKERS,
            provider_queue: DEFAULT_PROVIDER_QUEUE,
            provider_stream_buffer: DEFAULT_PROVIDER_STREAM_BUFFER,
            provider_connect_timeout_ms: DEFAULT_PROVIDER_CONNECT_TIMEOUT_MS,
            provider_read_timeout_ms: DEFAULT_PROVIDER_READ_TIMEOUT_MS,
            provider_timeout_ms: DEFAULT_PROVIDER_TIMEOUT_MS,
            provider_max_response_bytes: DEFAULT_PROVIDER_MAX_RESPONSE_BYTES,
            provider_max_line_bytes: DEFAULT_PROVIDER_MAX_LINE_BYTES,
            provider_max_retry_after_ms: DEFAULT_PROVIDER_MAX_RETRY_AFTER_MS,
            max_tool_iterations: DEFAULT_MAX_TOOL_ITERATIONS,
            tool_loop_warning: DEFAULT_TOOL_LOOP_WARNING,
            tool_loop_critical: DEFAULT_TOOL_LOOP_CRITICAL,
            tool_max_file_bytes: DEFAULT_TOOL_MAX_FILE_BYTES,
            tool_max_output_bytes: DEFAULT_TOOL_MAX_OUTPUT_BYTES,
            tool_exec_timeout_ms: DEFAULT_TOOL_EXEC_TIMEOUT_MS,
            tool_http_timeout_ms: DEFAULT_TOOL_HTTP_TIMEOUT_MS,
            approval_timeout_ms: DEFAULT_APPROVAL_TIMEOUT_MS,
            max_pending_approvals: DEFAULT_MAX_PENDING_APPROVALS,
            chat_delta_interval_ms: DEFAULT_CHAT_DELTA_INTERVAL_MS,
            prompt_max_messages: DEFAULT_PROMPT_MAX_MESSAGES,
            prompt_max_bytes: DEFAULT_PROMPT_MAX_BYTES,
            run_results: DEFAULT_RUN_RESULTS,
            tool_max_list_entries: DEFAULT_TOOL_MAX_LIST_ENTRIES,
            defender_max_scan_bytes: DEFAULT_DEFENDER_MAX_SCAN_BYTES,
            defender_max_decode_depth: DEFAULT_DEFENDER_MAX_DECODE_DEPTH,
            defender_max_decode_bytes: DEFAULT_DEFENDER_MAX_DECODE_BYTES,
            quarantine_max_bytes: DEFAULT_QUARANTINE_MAX_BYTES,
            vt_cache_entries: DEFAULT_VT_CACHE_ENTRIES,
            vt_cache_ttl_ms: DEFAULT_VT_CACHE_TTL_MS,
            vt_timeout_ms: DEFAULT_VT_TIMEOUT_MS,
            integrity_interval_ms: DEFAULT_INTEGRITY_INTERVAL_MS,
            policy_max_bytes: DEFAULT_POLICY_MAX_BYTES,
            policy_poll_ms: DEFAULT_POLICY_POLL_MS,
            bridge_queue: DEFAULT_BRIDGE_QUEUE,
            bridge_max_frame_bytes: DEFAULT_BRIDGE_MAX_FRAME_BYTES,
            mesh_max_nodes: DEFAULT_MESH_MAX_NODES,
            mesh_max_pending_invokes: DEFAULT_MESH_MAX_PENDING_INVOKES,
            mesh_invoke_timeout_ms: DEFAULT_MESH_INVOKE_TIMEOUT_MS,
            mesh_max_peers: DEFAULT_MESH_MAX_PEERS,
            mesh_probe_concurrency: DEFAULT_MESH_PROBE_CONCURRENCY,
            mesh_probe_timeout_ms: DEFAULT_MESH_PROBE_TIMEOUT_MS,
            mesh_max_pair_requests: DEFAULT_MESH_MAX_PAIR_REQUESTS,
            mesh_max_paired_devices: DEFAULT_MESH_MAX_PAIRED_DEVICES,
            mesh_pair_request_ttl_ms: DEFAULT_MESH_PAIR_REQUEST_TTL_MS,
            telegram_outbox: DEFAULT_TELEGRAM_OUTBOX,
            telegram_max_updates: DEFAULT_TELEGRAM_MAX_UPDATES,
            telegram_send_per_sec: DEFAULT_TELEGRAM_SEND_PER_SEC,
            telegram_inflight: DEFAULT_TELEGRAM_INFLIGHT,
            telegram_pairing_pending: DEFAULT_TELEGRAM_PAIRING_PENDING,
            telegram_paired: DEFAULT_TELEGRAM_PAIRED,
            telegram_max_file_bytes: DEFAULT_TELEGRAM_MAX_FILE_BYTES,
            telegram_chat_interval_ms: DEFAULT_TELEGRAM_CHAT_INTERVAL_MS,
            telegram_edit_interval_ms: DEFAULT_TELEGRAM_EDIT_INTERVAL_MS,
            memory_max_entries: DEFAULT_MEMORY_MAX_ENTRIES,
            memory_max_bytes: DEFAULT_MEMORY_MAX_BYTES,
            memory_max_nodes: DEFAULT_MEMORY_MAX_NODES,
            memory_max_edges: DEFAULT_MEMORY_MAX_EDGES,
            memory_max_entry_bytes: DEFAULT_MEMORY_MAX_ENTRY_BYTES,
            memory_inject_tokens: DEFAULT_MEMORY_INJECT_TOKENS,
            memory_embed_batch: DEFAULT_MEMORY_EMBED_BATCH,
            edge_max_jobs: DEFAULT_EDGE_MAX_JOBS,
            edge_jobs_kept: DEFAULT_EDGE_JOBS_KEPT,
            edge_output_bytes: DEFAULT_EDGE_OUTPUT_BYTES,
            edge_job_log_bytes: DEFAULT_EDGE_JOB_LOG_BYTES,
            tts_max_text_bytes: DEFAULT_TTS_MAX_TEXT_BYTES,
            tts_max_audio_bytes: DEFAULT_TTS_MAX_AUDIO_BYTES,
            tts_files_kept: DEFAULT_TTS_FILES_KEPT,
            finetune_max_samples: DEFAULT_FINETUNE_MAX_SAMPLES,
            finetune_max_dataset_bytes: DEFAULT_FINETUNE_MAX_DATASET_BYTES,
            finetune_runs_kept: DEFAULT_FINETUNE_RUNS_KEPT,
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
        at_least("memory_embed_batch", self.memory_embed_batch as u64, 1)?;
        at_least("edge_max_jobs", self.edge_max_jobs as u64, 1)?;
        at_least("edge_jobs_kept", self.edge_jobs_kept as u64, 1)?;
        at_least("edge_output_bytes", self.edge_output_bytes as u64, 1024)?;
        at_least("edge_job_log_bytes", self.edge_job_log_bytes as u64, 256)?;
        at_least("tts_max_text_bytes", self.tts_max_text_bytes as u64, 16)?;
        at_least("tts_max_audio_bytes", self.tts_max_audio_bytes as u64, 1024)?;
        at_least("tts_files_kept", self.tts_files_kept as u64, 1)?;
        at_least("finetune_max_samples", self.finetune_max_samples as u64, 1)?;
        at_least(
            "finetune_max_dataset_bytes",
            self.finetune_max_dataset_bytes as u64,
            4096,
        )?;
        at_least("finetune_runs_kept", self.finetune_runs_kept as u64, 1)?;
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
        at_least("store_queue", self.store_queue as u64, 1)?;
        at_least("store_batch_max", self.store_batch_max as u64, 1)?;
        at_least("store_cache_kib", self.store_cache_kib as u64, 64)?;
        at_least("max_sessions", self.max_sessions as u64, 1)?;
        at_least(
            "max_messages_per_session",
            self.max_messages_per_session as u64,
            10,
        )?;
        at_least(
            "max_chat_message_bytes",
            self.max_chat_message_bytes as u64,
            256,
        )?;
        at_least("max_usage_rows", self.max_usage_rows as u64, 100)?;
        at_least("router_max_samples", self.router_max_samples as u64, 1)?;
        at_least("global_queue", self.global_queue as u64, 1)?;
        at_least("session_queue", self.session_queue as u64, 1)?;
        at_least("max_concurrent_runs", self.max_concurrent_runs as u64, 1)?;
        at_least("run_timeout_ms", self.run_timeout_ms, 100)?;
        at_least("idempotency_entries", self.idempotency_entries as u64, 1)?;
        at_least("idempotency_ttl_ms", self.idempotency_ttl_ms, 1000)?;
        at_least("steer_inbox", self.steer_inbox as u64, 1)?;
        at_least(
            "max_message_subscriptions",
            self.max_message_subscriptions as u64,
            1,
        )?;
        at_least("provider_workers", self.provider_workers as u64, 1)?;
        at_least("provider_queue", self.provider_queue as u64, 1)?;
        at_least(
            "provider_stream_buffer",
            self.provider_stream_buffer as u64,
            1,
        )?;
        at_least(
            "provider_connect_timeout_ms",
            self.provider_connect_timeout_ms,
            100,
        )?;
        at_least(
            "provider_read_timeout_ms",
            self.provider_read_timeout_ms,
            100,
        )?;
        at_least("provider_timeout_ms", self.provider_timeout_ms, 100)?;
        at_least(
            "provider_max_response_bytes",
            self.provider_max_response_bytes as u64,
            1024,
        )?;
        at_least(
            "provider_max_line_bytes",
            self.provider_max_line_bytes as u64,
            1024,
        )?;
        at_least("max_tool_iterations", self.max_tool_iterations as u64, 1)?;
        at_least("tool_loop_warning", self.tool_loop_warning as u64, 2)?;
        at_least("tool_loop_critical", self.tool_loop_critical as u64, 2)?;
        at_least("tool_max_file_bytes", self.tool_max_file_bytes as u64, 1024)?;
        at_least(
            "tool_max_output_bytes",
            self.tool_max_output_bytes as u64,
            256,
        )?;
        at_least("tool_exec_timeout_ms", self.tool_exec_timeout_ms, 100)?;
        at_least("tool_http_timeout_ms", self.tool_http_timeout_ms, 100)?;
        at_least("approval_timeout_ms", self.approval_timeout_ms, 100)?;
        at_least(
            "max_pending_approvals",
            self.max_pending_approvals as u64,
            1,
        )?;
        at_least("prompt_max_messages", self.prompt_max_messages as u64, 1)?;
        at_least("prompt_max_bytes", self.prompt_max_bytes as u64, 1024)?;
        at_least("run_results", self.run_results as u64, 1)?;
        at_least(
            "tool_max_list_entries",
            self.tool_max_list_entries as u64,
            1,
        )?;
        at_least("bridge_queue", self.bridge_queue as u64, 1)?;
        at_least(
            "bridge_max_frame_bytes",
            self.bridge_max_frame_bytes as u64,
            64 * 1024,
        )?;
        at_least("mesh_max_nodes", self.mesh_max_nodes as u64, 1)?;
        at_least(
            "mesh_max_pending_invokes",
            self.mesh_max_pending_invokes as u64,
            1,
        )?;
        at_least("mesh_invoke_timeout_ms", self.mesh_invoke_timeout_ms, 100)?;
        at_least(
            "mesh_probe_concurrency",
            self.mesh_probe_concurrency as u64,
            1,
        )?;
        at_least("mesh_probe_timeout_ms", self.mesh_probe_timeout_ms, 100)?;
        at_least(
            "mesh_max_pair_requests",
            self.mesh_max_pair_requests as u64,
            1,
        )?;
        at_least(
            "mesh_max_paired_devices",
            self.mesh_max_paired_devices as u64,
            1,
        )?;
        at_least(
            "mesh_pair_request_ttl_ms",
            self.mesh_pair_request_ttl_ms,
            1000,
        )?;
        // The whole probe round must answer before the RPC deadline cuts it off.
        if self.mesh_probe_timeout_ms >= self.rpc_timeout_ms {
            return Err((
                "limits.mesh_probe_timeout_ms".into(),
                format!(
                    "must be below limits.rpc_timeout_ms ({} >= {})",
                    self.mesh_probe_timeout_ms, self.rpc_timeout_ms
                ),
            ));
        }
        at_least("telegram_outbox", self.telegram_outbox as u64, 1)?;
        at_least("telegram_max_updates", self.telegram_max_updates as u64, 16)?;
        at_least(
            "telegram_send_per_sec",
            self.telegram_send_per_sec as u64,
            1,
        )?;
        at_least("telegram_inflight", self.telegram_inflight as u64, 1)?;
        at_least(
            "telegram_pairing_pending",
            self.telegram_pairing_pending as u64,
            1,
        )?;
        at_least("telegram_paired", self.telegram_paired as u64, 1)?;
        at_least(
            "telegram_max_file_bytes",
            self.telegram_max_file_bytes as u64,
            1024,
        )?;
        at_least(
            "telegram_edit_interval_ms",
            self.telegram_edit_interval_ms,
            250,
        )?;
        // One store batch can complete every in-flight request at once: the answers plus a few
        // events must fit the outbound queue, or a prompt pipelining client is dropped as slow.
        if self.outbound_queue < self.max_inflight_per_conn * 2 {
            return Err((
                "limits.outbound_queue".into(),
                format!(
                    "must be at least twice limits.max_inflight_per_conn ({} < 2 × {})",
                    self.outbound_queue, self.max_inflight_per_conn
                ),
            ));
        }
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

    /// Largest answer a list-like method (`sessions.list`, `sessions.preview`, `chat.history`)
    /// builds: half the per-socket write buffer, so one answer always fits it. Past it the answer
    /// stops early and says so through its paging fields (`hasMore`, `nextOffset`).
    pub fn max_response_bytes(&self) -> usize {
        self.ws_max_write_buffer_bytes / 2
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
