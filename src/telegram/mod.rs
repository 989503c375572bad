//! Telegram bridge: a bot that carries chats to agent sessions and answers back.
//!
//! Parts:
//! - `poll`: the one `telegram` thread long-polling `getUpdates` (fresh connection per poll,
//!   liveness from the last good poll, backoff, `409` reporting) and the blocking Bot API calls
//!   (`sendMessage`, `editMessageText`, `deleteMessage`, `sendChatAction`, `getFile` + download).
//! - `bridge`: the executor side: accept batches (offset and updates in one store transaction),
//!   gate each update, run the turn through `chat.send`, stream drafts, store the answer.
//! - `send`: the outbox drain within the global, per-chat and `429` budgets; supergroup moves;
//!   the plain-text fallback.
//! - `access`: the pure gate (DM policy, group allowlist, mention activation, commands) and
//!   pairing code format; `pairing`: codes for unknown users, approval, dismissal.
//! - `commands`: operator commands in chat; `media`: voice notes and files (size cap,
//!   transcriber, text files); `format`: 4096-unit split and Markdown → Telegram HTML; `api`: Bot
//!   API types, errors and token redaction.
//!
//! The store side is `store::telegram` (offset, updates, outbox) and `store::pairing`.
//! Only this module and `providers/` name `ureq`.

pub mod access;
pub mod api;
pub mod bridge;
pub mod commands;
pub mod format;
pub mod media;
pub mod pairing;
pub mod poll;
pub mod send;

pub use bridge::{channel_json, logout, start};
