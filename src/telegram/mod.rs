//! Telegram bridge: a bot that carries chats to agent sessions and answers back.
//!
//! Planned parts (issue #6). Present now, all pure and I/O-free, unit-tested:
//! - `api`: Bot API types (updates, messages, the `{ok, result | error}` envelope), `ApiError`,
//!   token redaction for any text that may quote a request URL, and `method_url`.
//! - `format`: splitting a model's Markdown answer into 4096-UTF-16-unit chunks without breaking
//!   code blocks, then Markdown to Telegram HTML per chunk, with a plain-text fallback.
//! - `access`: the gate for each inbound message (DM policy, group allowlist, mention activation,
//!   commands, operators) and pairing codes.
//!
//! The store side exists too: `store::telegram` (schema v3) keeps the poll offset, each accepted
//! update with its state and the bounded reply outbox, in the transactions exactly-once needs.
//!
//! To come, with I/O: the long-poll loop (`getUpdates` on one worker thread, liveness from the last
//! good poll, stall teardown, backoff, `409` reporting), the bridge from updates to scheduler sessions
//! (typing, sending chunks with the HTML then plain fallback, bounded per-chat and global send
//! budgets), operator commands, and voice/file downloads with a size cap.
//!
//! Only this module and `providers/` will name `ureq`.

pub mod access;
pub mod api;
pub mod bridge;
pub mod format;
pub mod poll;

pub use bridge::{channel_json, start};
