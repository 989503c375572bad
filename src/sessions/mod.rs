//! Sessions: session keys and per-session settings, independent of storage and transport.
//!
//! `key` parses what clients send (`main`, `direct:<peer>`, `<channel>:group:<id>`, `cron:<job>`,
//! `agent:<id>:<rest>` …) into one canonical `SessionKey`; `patch` checks `sessions.patch` params
//! into a typed `Patch`. `store/` persists sessions, `rpc/sessions.rs` serves them and
//! `scheduler/` orders their turns; this module does no I/O.

pub mod key;
pub mod patch;

pub use key::{Kind, SessionKey};
