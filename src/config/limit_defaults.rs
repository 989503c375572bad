//! The default of every limit (`DEFAULT_*`, the `edge` profile's values), each with what it
//! bounds and what happens when it is hit. `config::limits` re-exports them next to the
//! `Limits` struct they fill.

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

/// Jobs waiting for the store thread; past it → `UNAVAILABLE`, retryable.
pub const DEFAULT_STORE_QUEUE: usize = 64;
/// Write jobs committed together in one transaction (one fsync per batch, not per write).
pub const DEFAULT_STORE_BATCH_MAX: usize = 64;
/// SQLite page cache of the store connection, in KiB (memory, not disk).
pub const DEFAULT_STORE_CACHE_KIB: usize = 512;
/// Sessions the store keeps; creating one more → `UNAVAILABLE` (not retryable) until some are deleted.
pub const DEFAULT_MAX_SESSIONS: usize = 20_000;
/// Transcript messages kept per session key; older ones are pruned as new ones arrive.
pub const DEFAULT_MAX_MESSAGES_PER_SESSION: usize = 1_000;
/// Longest chat message text accepted (`chat.send`, `chat.inject`); longer → `INVALID_REQUEST`.
pub const DEFAULT_MAX_CHAT_MESSAGE_BYTES: usize = 64 * 1024;
/// Usage records kept for `usage.*` and `sessions.usage*`; the oldest are pruned past it.
pub const DEFAULT_MAX_USAGE_ROWS: usize = 100_000;
/// Newest runs per model whose call times `edge.router.plan` sorts for its latency percentiles;
/// older runs in the window still count as calls but not in p50/p95 (the answer says
/// `latencyMs.sampleCapped`).
pub const DEFAULT_ROUTER_MAX_SAMPLES: usize = 200;
/// Turns waiting across all sessions; past it → `UNAVAILABLE`, retryable.
pub const DEFAULT_GLOBAL_QUEUE: usize = 64;
/// Turns waiting behind one session's active run; past it → `UNAVAILABLE`, retryable.
pub const DEFAULT_SESSION_QUEUE: usize = 8;
/// Runs executing at once across sessions (each session runs at most one).
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 2;
/// Deadline of one run (eval timeout); then the run ends with a `timeout` error.
pub const DEFAULT_RUN_TIMEOUT_MS: u64 = 300_000;
/// Idempotency keys remembered; the oldest finished entry is evicted past it.
pub const DEFAULT_IDEMPOTENCY_ENTRIES: usize = 256;
/// How long an idempotency key is remembered.
pub const DEFAULT_IDEMPOTENCY_TTL_MS: u64 = 600_000;
/// Steering messages buffered for one running turn; past it the message is queued instead.
pub const DEFAULT_STEER_INBOX: usize = 4;

/// Session keys one connection may follow with `sessions.messages.subscribe`; more → `INVALID_REQUEST`.
pub const DEFAULT_MAX_MESSAGE_SUBSCRIPTIONS: usize = 16;
/// Threads that run model requests (ureq never runs on the executor).
pub const DEFAULT_PROVIDER_WORKERS: usize = 2;
/// Model requests waiting for a provider worker; past it the run fails with `UNAVAILABLE`, retryable.
pub const DEFAULT_PROVIDER_QUEUE: usize = 8;
/// Stream events buffered between a provider worker and the executor; a full buffer makes the worker wait (back-pressure), never grows.
pub const DEFAULT_PROVIDER_STREAM_BUFFER: usize = 32;
/// Time to resolve and connect to a provider (and finish TLS).
pub const DEFAULT_PROVIDER_CONNECT_TIMEOUT_MS: u64 = 10000;
/// Longest silence on a provider socket (time to first byte included: a small board may need long for prompt processing).
pub const DEFAULT_PROVIDER_READ_TIMEOUT_MS: u64 = 120000;
/// Deadline of one whole model request.
pub const DEFAULT_PROVIDER_TIMEOUT_MS: u64 = 300000;
/// Bytes read from one model response; past it the socket is closed and the attempt fails (`too large`).
pub const DEFAULT_PROVIDER_MAX_RESPONSE_BYTES: usize = 1048576;
/// Longest server-sent-events line kept while parsing a stream; longer → the attempt fails.
pub const DEFAULT_PROVIDER_MAX_LINE_BYTES: usize = 65536;
/// Longest `Retry-After` (and backoff) a run waits before a retry; longer → fall over to the next candidate at once.
pub const DEFAULT_PROVIDER_MAX_RETRY_AFTER_MS: u64 = 30000;
/// Model calls one run may make while tools are being called; past it the run ends with an error.
pub const DEFAULT_MAX_TOOL_ITERATIONS: usize = 8;
/// Identical tool calls (same tool and arguments) in one run before a loop warning is reported.
pub const DEFAULT_TOOL_LOOP_WARNING: usize = 3;
/// Identical tool calls in one run before the run is stopped as a loop.
pub const DEFAULT_TOOL_LOOP_CRITICAL: usize = 5;
/// Largest file the `read` tool returns or `write` accepts.
pub const DEFAULT_TOOL_MAX_FILE_BYTES: usize = 262144;
/// Bytes of one tool result given to the model (exec output, fetched pages, listings).
pub const DEFAULT_TOOL_MAX_OUTPUT_BYTES: usize = 16384;
/// Deadline of one `exec` command; then its whole process group is killed.
pub const DEFAULT_TOOL_EXEC_TIMEOUT_MS: u64 = 10000;
/// Deadline of one `http_get`.
pub const DEFAULT_TOOL_HTTP_TIMEOUT_MS: u64 = 10000;
/// How long a `review` verdict waits for `exec.approval.resolve`; then the call is denied.
pub const DEFAULT_APPROVAL_TIMEOUT_MS: u64 = 120000;
/// Approval requests waiting for an operator at once; past it new ones are denied at once.
pub const DEFAULT_MAX_PENDING_APPROVALS: usize = 8;
/// Least time between two `chat` delta events of a run (0: one per chunk); the final event always carries the whole text.
pub const DEFAULT_CHAT_DELTA_INTERVAL_MS: u64 = 100;
/// Transcript messages sent to the model per call (newest first).
pub const DEFAULT_PROMPT_MAX_MESSAGES: usize = 40;
/// Bytes of transcript text sent to the model per call.
pub const DEFAULT_PROMPT_MAX_BYTES: usize = 32768;
/// Finished runs remembered for `agent.wait` and `agent` finals.
pub const DEFAULT_RUN_RESULTS: usize = 64;
/// Entries one `list` call shows (sorted); the rest are only counted.
pub const DEFAULT_TOOL_MAX_LIST_ENTRIES: usize = 200;
/// Bytes of one input the defender scans (prompt, command, tool output); the rest is not scanned and the decision says so.
pub const DEFAULT_DEFENDER_MAX_SCAN_BYTES: usize = 262144;
/// Nested encodings (base64/hex/url) the defender unwraps.
pub const DEFAULT_DEFENDER_MAX_DECODE_DEPTH: usize = 3;
/// Bytes the defender may produce by decoding one input.
pub const DEFAULT_DEFENDER_MAX_DECODE_BYTES: usize = 65536;
/// Bytes of blocked-action records kept in `defender.quarantine_dir`.
pub const DEFAULT_QUARANTINE_MAX_BYTES: u64 = 4194304;
/// VirusTotal answers cached (URL or hash → report).
pub const DEFAULT_VT_CACHE_ENTRIES: usize = 256;
/// How long a VirusTotal answer is reused.
pub const DEFAULT_VT_CACHE_TTL_MS: u64 = 3600000;
/// Deadline of one VirusTotal lookup.
pub const DEFAULT_VT_TIMEOUT_MS: u64 = 5000;
/// How often `protect_paths` are re-hashed (0: only at start).
pub const DEFAULT_INTEGRITY_INTERVAL_MS: u64 = 3600000;
/// Largest signed policy bundle read.
pub const DEFAULT_POLICY_MAX_BYTES: usize = 262144;
/// How often `defender.policy_file` is checked for changes.
pub const DEFAULT_POLICY_POLL_MS: u64 = 5000;
/// Actions from the upstream gateway waiting to be screened (bridge-client mode); when full a new
/// one is dropped and counted (`status.bridge.shed`, logged at most every 10 s), never waited for.
pub const DEFAULT_BRIDGE_QUEUE: usize = 32;
/// Largest frame read from the upstream gateway (bridge-client mode); a larger one is counted
/// (`status.bridge.oversize`) and the connection is re-established, as the stream cannot resync.
pub const DEFAULT_BRIDGE_MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Nodes tracked: role-`node` connections plus nodes known from the store (paired or renamed);
/// past it a new node's `connect` is refused (`UNAVAILABLE`, close 1013) and nothing is stored.
pub const DEFAULT_MESH_MAX_NODES: usize = 16;
/// `node.invoke` requests waiting for their node's `node.invoke.result`; one more is refused
/// with `UNAVAILABLE` (retryable), never queued.
pub const DEFAULT_MESH_MAX_PENDING_INVOKES: usize = 32;
/// Longest wait for a node's `node.invoke.result`; a longer `timeoutMs` is lowered to it.
pub const DEFAULT_MESH_INVOKE_TIMEOUT_MS: u64 = 30_000;
/// Peer instances in `[mesh] peers`; more is a config error at start-up.
pub const DEFAULT_MESH_MAX_PEERS: usize = 16;
/// Probes (`mesh.ping` invokes and peer `health` connections) in flight at once across every
/// `edge.mesh.status` call; a peer that gets no slot before the deadline is reported `unknown`.
pub const DEFAULT_MESH_PROBE_CONCURRENCY: usize = 8;
/// Default and longest deadline of one `edge.mesh.status` (all probes run under it); a longer
/// `timeoutMs` is lowered to it. Must stay below `rpc_timeout_ms`.
pub const DEFAULT_MESH_PROBE_TIMEOUT_MS: u64 = 5_000;
/// Pending device/node pairing requests; past it a further unknown device is refused
/// (`UNAVAILABLE`, retryable) and nothing is stored.
pub const DEFAULT_MESH_MAX_PAIR_REQUESTS: usize = 8;
/// Paired devices (operators and nodes); past it `device.pair.approve` / `node.pair.approve`
/// are refused naming the limit and the request stays pending.
pub const DEFAULT_MESH_MAX_PAIRED_DEVICES: usize = 32;
/// How long a pairing request waits for an operator; expired requests are dropped.
pub const DEFAULT_MESH_PAIR_REQUEST_TTL_MS: u64 = 600_000;
/// Telegram reply chunks waiting to be sent (persisted); when full a new answer is refused and
/// its update stays unanswered until the outbox drains (re-run after a restart).
pub const DEFAULT_TELEGRAM_OUTBOX: usize = 64;
/// Telegram update rows kept in the store for duplicate detection; the oldest finished ones are
/// pruned (unfinished updates are never pruned).
pub const DEFAULT_TELEGRAM_MAX_UPDATES: usize = 1000;
/// Telegram sends (messages and chat actions) per second across all chats; past it the sender
/// waits for the next second.
pub const DEFAULT_TELEGRAM_SEND_PER_SEC: u32 = 20;
/// Telegram updates handled at once; past it the bridge stops confirming offsets, so further
/// updates wait on Telegram's side (back-pressure), never in memory here.
pub const DEFAULT_TELEGRAM_INFLIGHT: usize = 4;
/// Live Telegram pairing codes (upstream's `pendingPerAccount` is 3); past it a further unknown
/// user is told to try again later and nothing is stored.
pub const DEFAULT_TELEGRAM_PAIRING_PENDING: usize = 3;
/// Users approved through pairing; past it `approve` is refused (`channels.pairing.approve`
/// answers `UNAVAILABLE` naming the limit).
pub const DEFAULT_TELEGRAM_PAIRED: usize = 64;
/// Largest voice note or file the bridge downloads; a larger one is answered with the limit,
/// not fetched.
pub const DEFAULT_TELEGRAM_MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Least time between two sends into one chat (Telegram asks for about one message per second
/// per chat); other chats are not held up.
pub const DEFAULT_TELEGRAM_CHAT_INTERVAL_MS: u64 = 1_000;
/// Least time between two edits of a streamed reply (`channels.telegram.streaming`).
pub const DEFAULT_TELEGRAM_EDIT_INTERVAL_MS: u64 = 1_500;
/// Memory entries kept per agent; past it each ingest evicts a few of the least recently
/// recalled (oldest first), never the whole table at once.
pub const DEFAULT_MEMORY_MAX_ENTRIES: usize = 20_000;
/// Memory entry text bytes kept per agent; evicts like `memory_max_entries`.
pub const DEFAULT_MEMORY_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Concept nodes of the memory graph; the weakest are pruned past it.
pub const DEFAULT_MEMORY_MAX_NODES: usize = 20_000;
/// Co-occurrence edges of the memory graph; the weakest are pruned past it.
pub const DEFAULT_MEMORY_MAX_EDGES: usize = 60_000;
/// Longest memory entry; longer texts are cut at a character boundary.
pub const DEFAULT_MEMORY_MAX_ENTRY_BYTES: usize = 2048;
/// Token budget (bytes / 4) of the recalled-memory block put before each model call; memories
/// that do not fit are left out.
pub const DEFAULT_MEMORY_INJECT_TOKENS: usize = 400;
/// Entry texts per `/embeddings` request when entries are (re-)embedded in the background with
/// `[memory] embeddings`; also the entries re-hashed per store job after switching back to
/// hashed vectors. Bounds the request and response size of one embedding call.
pub const DEFAULT_MEMORY_EMBED_BATCH: usize = 8;
/// External programs (`edge::jobs`: TTS, attestation) running at once; one more is refused
/// with `UNAVAILABLE` ("busy"), never queued.
pub const DEFAULT_EDGE_MAX_JOBS: usize = 2;
/// Finished edge jobs kept in the store; the oldest finished rows go past it.
pub const DEFAULT_EDGE_JOBS_KEPT: usize = 100;
/// Bytes of stdout and of stderr an external program's run keeps (the rest is read and
/// discarded, `truncated: true`); the job row stores the last `edge_job_log_bytes` of each.
pub const DEFAULT_EDGE_OUTPUT_BYTES: usize = 64 * 1024;
/// Bytes of each output stream's tail stored with a job.
pub const DEFAULT_EDGE_JOB_LOG_BYTES: usize = 4096;
/// Longest text `tts.convert` takes.
pub const DEFAULT_TTS_MAX_TEXT_BYTES: usize = 4096;
/// Largest audio file a TTS program may produce; a larger one is deleted and refused.
pub const DEFAULT_TTS_MAX_AUDIO_BYTES: usize = 8 * 1024 * 1024;
/// Audio files kept in `<state_dir>/tts/`; the oldest go past it.
pub const DEFAULT_TTS_FILES_KEPT: usize = 20;
/// Training examples a fine-tune export takes at most (newest sessions first); the rest are
/// counted as `skipped.overLimit`.
pub const DEFAULT_FINETUNE_MAX_SAMPLES: usize = 2000;
/// Bytes of JSONL a fine-tune export writes at most; the export stops there (`skipped.overLimit`).
pub const DEFAULT_FINETUNE_MAX_DATASET_BYTES: usize = 8 * 1024 * 1024;
/// Fine-tune run directories kept in `<state_dir>/finetune/`; the oldest finished go when a
/// new run starts.
pub const DEFAULT_FINETUNE_RUNS_KEPT: usize = 3;
