//! Session keys: parsing the forms clients send and canonicalizing them to `agent:<id>:<rest>`.
//!
//! Follows upstream `src/routing/session-key.ts` and `src/sessions/session-key-utils.ts`
//! (PROTOCOL.md §7): keys are lowercased; `main` (or the configured main key) means
//! `agent:<default>:<main_key>`; agent-less forms (`direct:<peer>`, `<channel>:group:<id>`,
//! `cron:<job>`, `hook:<id>`, `node:<id>`, `subagent:<id>` …) get the default agent prepended;
//! `dm` is an alias of `direct`; `global` and `unknown` are sentinels kept as they are; a key that
//! starts with `agent:` but lacks an id or a rest is malformed and refused (upstream refuses to
//! guess an agent for it too).
//!
//! Not copied: upstream keeps the case of Matrix and Signal peer ids (opaque, case-sensitive);
//! those channels do not exist here, so every key is lowercased.

use std::fmt;

use crate::config::agent::valid_id;

/// Longest session key accepted (upstream `ChatSendParams.sessionKey.maxLength`).
pub const MAX_KEY_BYTES: usize = 512;

/// Session kind as `sessions.list` rows report it (`SessionRow.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One-to-one chats, the main session, cron/hook/node/subagent sessions.
    Direct,
    /// Group and channel chats.
    Group,
    /// The `global` sentinel.
    Global,
    /// The `unknown` sentinel.
    Unknown,
}

impl Kind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Group => "group",
            Kind::Global => "global",
            Kind::Unknown => "unknown",
        }
    }
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Empty after trimming.
    Empty,
    /// Longer than `MAX_KEY_BYTES`.
    TooLong {
        /// Bytes in the key.
        len: usize,
    },
    /// `agent:` without an id or a rest.
    MalformedAgent,
    /// The agent id is not `[a-z0-9][a-z0-9_-]{0,63}`.
    BadAgentId(String),
    /// A control character or an empty `::` segment.
    BadCharacters,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => write!(f, "session key is empty"),
            KeyError::TooLong { len } => {
                write!(f, "session key too long: {len} > {MAX_KEY_BYTES} bytes")
            }
            KeyError::MalformedAgent => write!(
                f,
                "malformed agent session key: expected agent:<agentId>:<rest>"
            ),
            KeyError::BadAgentId(id) => write!(
                f,
                "invalid agent id {id:?}: 1-64 of a-z 0-9 _ -, starting with a letter or digit"
            ),
            KeyError::BadCharacters => {
                write!(f, "session key has control characters or an empty segment")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// A canonical session key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    canonical: String,
    /// Byte length of the agent id inside `canonical` (0 for sentinels).
    agent_len: usize,
}

impl SessionKey {
    /// Parses `raw` with `default_agent` and `main_key` filling in what the key leaves out.
    pub fn parse(raw: &str, default_agent: &str, main_key: &str) -> Result<SessionKey, KeyError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Empty);
        }
        if trimmed.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong { len: trimmed.len() });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(KeyError::BadCharacters);
        }
        let lower = trimmed.to_lowercase();
        if lower == "global" || lower == "unknown" {
            return Ok(SessionKey {
                canonical: lower,
                agent_len: 0,
            });
        }
        let (agent, rest) = match lower.strip_prefix("agent:") {
            Some(after) => {
                let (id, rest) = after.split_once(':').ok_or(KeyError::MalformedAgent)?;
                if id.trim().is_empty() || rest.trim().is_empty() {
                    return Err(KeyError::MalformedAgent);
                }
                (id.trim().to_string(), rest.to_string())
            }
            None if lower == "main" || lower == main_key => {
                (default_agent.to_string(), main_key.to_string())
            }
            None => (default_agent.to_string(), lower),
        };
        if !valid_id(&agent) {
            return Err(KeyError::BadAgentId(agent));
        }
        let rest = canonical_rest(&rest)?;
        if rest.len() + agent.len() + 7 > MAX_KEY_BYTES {
            return Err(KeyError::TooLong {
                len: rest.len() + agent.len() + 7,
            });
        }
        Ok(SessionKey {
            agent_len: agent.len(),
            canonical: format!("agent:{agent}:{rest}"),
        })
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The agent id (`None` for the `global`/`unknown` sentinels).
    pub fn agent_id(&self) -> Option<&str> {
        (self.agent_len > 0).then(|| &self.canonical[6..6 + self.agent_len])
    }

    /// What follows `agent:<id>:` (the whole key for sentinels).
    pub fn rest(&self) -> &str {
        if self.agent_len == 0 {
            &self.canonical
        } else {
            &self.canonical[7 + self.agent_len..]
        }
    }

    /// Session kind for list rows (upstream: `:group:` or `:channel:` anywhere → group).
    pub fn kind(&self) -> Kind {
        match self.canonical.as_str() {
            "global" => Kind::Global,
            "unknown" => Kind::Unknown,
            _ if self.segments().any(|s| s == "group" || s == "channel") => Kind::Group,
            _ => Kind::Direct,
        }
    }

    /// `direct`, `group` or `channel`, when the key names a chat type.
    pub fn chat_type(&self) -> Option<&'static str> {
        let mut segs = self.segments();
        if segs.clone().any(|s| s == "channel") {
            Some("channel")
        } else if segs.clone().any(|s| s == "group") {
            Some("group")
        } else if segs.any(|s| s == "direct") {
            Some("direct")
        } else {
            None
        }
    }

    /// The channel name for `<channel>:<kind>:<peer>` keys (e.g. `telegram`).
    pub fn channel(&self) -> Option<&str> {
        let parts: Vec<&str> = self.rest().split(':').collect();
        match parts.as_slice() {
            [ch, kind, ..] if is_peer_kind(kind) && !is_peer_kind(ch) => Some(ch),
            [ch, _account, kind, ..] if is_peer_kind(kind) && !is_peer_kind(ch) => Some(ch),
            _ => None,
        }
    }

    /// Whether this is the agent's main session.
    pub fn is_main(&self, main_key: &str) -> bool {
        self.agent_len > 0 && self.rest() == main_key
    }

    /// Subagent nesting depth (`subagent:` segments in the rest).
    pub fn subagent_depth(&self) -> u32 {
        self.rest().split(':').filter(|s| *s == "subagent").count() as u32
    }

    fn segments(&self) -> impl Iterator<Item = &str> + Clone {
        self.rest().split(':')
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

fn is_peer_kind(s: &str) -> bool {
    matches!(s, "direct" | "group" | "channel")
}

/// Lowercased rest with `dm` → `direct` in the peer-kind position and no empty segments.
fn canonical_rest(rest: &str) -> Result<String, KeyError> {
    let parts: Vec<&str> = rest.split(':').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(KeyError::BadCharacters);
    }
    // Peer kind sits at index 0 (`dm:<peer>`), 1 (`<channel>:dm:<peer>`) or 2
    // (`<channel>:<account>:dm:<peer>`); only the first such position is an alias.
    let kind_at = parts
        .iter()
        .take(3)
        .position(|p| matches!(*p, "dm" | "direct" | "group" | "channel"));
    let mut out = String::with_capacity(rest.len() + 4);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        if Some(i) == kind_at && *p == "dm" && i + 1 < parts.len() {
            out.push_str("direct");
        } else {
            out.push_str(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, KeyError> {
        SessionKey::parse(raw, "main", "main").map(|k| k.as_str().to_string())
    }

    #[test]
    fn forms_canonicalize_to_agent_keys() {
        let table = [
            ("main", "agent:main:main"),
            ("MAIN", "agent:main:main"),
            ("agent:main:main", "agent:main:main"),
            ("Agent:Work:Main", "agent:work:main"),
            ("direct:12345", "agent:main:direct:12345"),
            ("dm:12345", "agent:main:direct:12345"),
            ("telegram:dm:42", "agent:main:telegram:direct:42"),
            (
                "telegram:group:-100123",
                "agent:main:telegram:group:-100123",
            ),
            ("discord:channel:C1", "agent:main:discord:channel:c1"),
            ("telegram:acct:dm:7", "agent:main:telegram:acct:direct:7"),
            ("cron:nightly", "agent:main:cron:nightly"),
            ("cron:nightly:run:r1", "agent:main:cron:nightly:run:r1"),
            ("hook:gmail", "agent:main:hook:gmail"),
            ("node:pi-4", "agent:main:node:pi-4"),
            ("subagent:abc", "agent:main:subagent:abc"),
            (
                "telegram:group:1:thread:9",
                "agent:main:telegram:group:1:thread:9",
            ),
            ("global", "global"),
            ("unknown", "unknown"),
            ("  main  ", "agent:main:main"),
        ];
        for (raw, want) in table {
            assert_eq!(canon(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(canon(""), Err(KeyError::Empty));
        assert_eq!(canon("agent:"), Err(KeyError::MalformedAgent));
        assert_eq!(canon("agent:main"), Err(KeyError::MalformedAgent));
        assert_eq!(canon("agent::main"), Err(KeyError::MalformedAgent));
        assert_eq!(canon("agent:main: "), Err(KeyError::MalformedAgent));
        assert!(matches!(
            canon("agent:-x:main"),
            Err(KeyError::BadAgentId(_))
        ));
        assert_eq!(canon("a::b"), Err(KeyError::BadCharacters));
        assert_eq!(canon("a\nb"), Err(KeyError::BadCharacters));
        assert!(matches!(
            canon(&"x".repeat(600)),
            Err(KeyError::TooLong { len: 600 })
        ));
    }

    #[test]
    fn configured_defaults_fill_in() {
        let k = SessionKey::parse("main", "work", "home").unwrap();
        assert_eq!(k.as_str(), "agent:work:home");
        assert!(k.is_main("home"));
        let k = SessionKey::parse("home", "work", "home").unwrap();
        assert_eq!(k.as_str(), "agent:work:home");
    }

    #[test]
    fn parts_and_kinds() {
        let k = SessionKey::parse("telegram:group:-1001", "main", "main").unwrap();
        assert_eq!(k.agent_id(), Some("main"));
        assert_eq!(k.rest(), "telegram:group:-1001");
        assert_eq!(k.kind(), Kind::Group);
        assert_eq!(k.chat_type(), Some("group"));
        assert_eq!(k.channel(), Some("telegram"));
        let m = SessionKey::parse("main", "main", "main").unwrap();
        assert_eq!(m.kind(), Kind::Direct);
        assert_eq!(m.channel(), None);
        assert!(m.is_main("main"));
        let g = SessionKey::parse("global", "main", "main").unwrap();
        assert_eq!((g.kind(), g.agent_id()), (Kind::Global, None));
        let s = SessionKey::parse("agent:main:subagent:a:subagent:b", "main", "main").unwrap();
        assert_eq!(s.subagent_depth(), 2);
    }
}
