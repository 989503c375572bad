//! Defender: every action that reaches the tools, the shell, a URL or a file passes it first.
//!
//! The scoring core is pure (no I/O, no clock, table-tested): `text` normalizes input (invisible
//! and bidi characters, homoglyphs, bounded decoding of base64/hex/url layers), `injection`,
//! `command`, `url` and `secrets` produce `reason::Reason`s, `policy` holds the tool policy
//! (profiles, allow/deny with wildcards and groups, per-provider overrides, floors, bonuses,
//! thresholds, audit-only), and `pipeline` combines them into one `Assessment` per `Action`.
//! `bundle` verifies signed policy bundles (HMAC-SHA256 over canonical JSON).
//!
//! The run-time side: `gate::Defender` adds the VirusTotal signal (network, on the pool), emits
//! `security.decision` events and writes blocked actions to the quarantine; `store` holds the
//! blocking file work (quarantine rotation, host-integrity hashing); `redact` scrubs known secrets
//! from tool output and transcripts.

pub mod bundle;
pub mod command;
pub mod gate;
pub mod injection;
pub mod pipeline;
pub mod policy;
pub mod reason;
pub mod redact;
pub mod secrets;
pub mod store;
pub mod text;
pub mod url;
pub mod watch;

/// What happens to an action; ordered `Allow < Review < Block` (a floor is a `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Run it.
    Allow,
    /// Ask an operator first; run only on approval.
    Review,
    /// Refuse it; the model (or client) is told why.
    Block,
}

impl Verdict {
    /// Wire and log name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Block => "block",
        }
    }
}
