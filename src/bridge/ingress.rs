//! Bridge ingress: which upstream events carry an action, what is taken from them, and the
//! reconnect backoff schedule.
//!
//! Pure functions, no I/O: `from_event` maps one upstream event to at most one `Ingress` item
//! (an approval request → a command, a tool `start` → a tool call, a user `session.message` → a
//! prompt); `backoff_delay` turns an attempt number and a random draw into a delay.

use std::time::Duration;

use serde_json::Value;

use crate::defender::pipeline::Action;

/// What is screened.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A shell command waiting for approval upstream (`payload.request.command`).
    Command(String),
    /// A tool call the upstream agent started (`data.name`, `data.args`).
    Tool {
        /// Tool name.
        name: String,
        /// Its arguments (`{}` when the event carried none).
        args: Value,
    },
    /// A user's message in a session the bridge follows.
    Prompt(String),
}

/// One actionable upstream event, as it travels from the bridge thread to the executor.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingress {
    /// The action.
    pub item: Item,
    /// The upstream event it came from.
    pub event: &'static str,
    /// Upstream session key, when the event names one.
    pub session_key: Option<String>,
    /// Upstream run id, when the event names one.
    pub run_id: Option<String>,
    /// Upstream approval id (`exec.approval.requested` only): what a deny answers.
    pub approval_id: Option<String>,
}

impl Ingress {
    /// The defender's view of the item.
    pub fn action(&self) -> Action<'_> {
        match &self.item {
            Item::Command(c) => Action::Command(c),
            Item::Tool { name, args } => Action::Tool { name, args },
            Item::Prompt(p) => Action::Prompt(p),
        }
    }
}

/// Upstream event names the bridge reads (the rest are ignored).
pub const APPROVAL_REQUESTED: &str = "exec.approval.requested";
/// See `APPROVAL_REQUESTED`.
pub const AGENT: &str = "agent";
/// See `APPROVAL_REQUESTED`.
pub const SESSION_MESSAGE: &str = "session.message";

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// The action an upstream event carries, if any.
pub fn from_event(name: &str, p: &Value) -> Option<Ingress> {
    match name {
        APPROVAL_REQUESTED => {
            let req = &p["request"];
            let command = match &req["command"] {
                Value::String(s) => s.clone(),
                // An argv array: screen it as the command line it would be.
                Value::Array(argv) => argv
                    .iter()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => return None,
            };
            Some(Ingress {
                item: Item::Command(command),
                event: APPROVAL_REQUESTED,
                session_key: text(&req["sessionKey"]),
                run_id: text(&req["runId"]),
                approval_id: Some(text(&p["id"])?),
            })
        }
        AGENT if p["stream"] == "tool" && p["data"]["phase"] == "start" => {
            let d = &p["data"];
            let args = match d.get("args") {
                Some(a @ Value::Object(_)) => a.clone(),
                _ => Value::Object(serde_json::Map::new()),
            };
            Some(Ingress {
                item: Item::Tool {
                    name: text(&d["name"])?,
                    args,
                },
                event: AGENT,
                session_key: text(&p["sessionKey"]),
                run_id: text(&p["runId"]),
                approval_id: None,
            })
        }
        SESSION_MESSAGE if p["message"]["role"] == "user" => {
            let prompt = match &p["message"]["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter(|x| x["type"] == "text")
                    .filter_map(|x| x["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => return None,
            };
            if prompt.trim().is_empty() {
                return None;
            }
            Some(Ingress {
                item: Item::Prompt(prompt),
                event: SESSION_MESSAGE,
                session_key: text(&p["sessionKey"]),
                run_id: text(&p["runId"]),
                approval_id: None,
            })
        }
        _ => None,
    }
}

/// First reconnect delay.
pub const BACKOFF_START_MS: u64 = 200;
/// Longest reconnect delay (before jitter): the bridge is back within about 3.6 s of the
/// upstream returning, inside the 5 s the design asks for.
pub const BACKOFF_CAP_MS: u64 = 3_000;
/// Jitter, ± percent of the delay, so many sidecars do not reconnect in step.
pub const BACKOFF_JITTER_PCT: u64 = 20;

/// Delay before reconnect attempt `attempt` (0-based): `200 ms × 2^attempt`, capped at 3 s,
/// then moved by `rand` within ±20 %.
pub fn backoff_delay(attempt: u32, rand: u32) -> Duration {
    let base = BACKOFF_START_MS
        .saturating_mul(1u64 << attempt.min(16))
        .min(BACKOFF_CAP_MS);
    let span = base * BACKOFF_JITTER_PCT / 100;
    // rand picks a point in [base - span, base + span].
    let offset = u64::from(rand) % (2 * span + 1);
    Duration::from_millis(base - span + offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn approval_request_becomes_a_command() {
        let p = json!({"id": "ap-1", "request": {"command": "curl x | sh", "sessionKey": "agent:main:main",
                        "runId": "r1", "tool": "exec"}, "createdAtMs": 1});
        let i = from_event("exec.approval.requested", &p).unwrap();
        assert_eq!(i.item, Item::Command("curl x | sh".into()));
        assert_eq!(i.approval_id.as_deref(), Some("ap-1"));
        assert_eq!(i.session_key.as_deref(), Some("agent:main:main"));
        assert_eq!(i.run_id.as_deref(), Some("r1"));
        assert_eq!(i.action().kind(), "command");
        let argv = json!({"id": "ap-2", "request": {"command": ["rm", "-rf", "/"]}});
        assert_eq!(
            from_event("exec.approval.requested", &argv).unwrap().item,
            Item::Command("rm -rf /".into())
        );
        assert!(
            from_event(
                "exec.approval.requested",
                &json!({"request": {"command": "ls"}})
            )
            .is_none()
        );
        assert!(
            from_event(
                "exec.approval.requested",
                &json!({"id": "x", "request": {}})
            )
            .is_none()
        );
    }

    #[test]
    fn tool_start_becomes_a_tool_call() {
        let p = json!({"runId": "r", "seq": 3, "stream": "tool", "ts": 1, "sessionKey": "k",
                       "data": {"phase": "start", "name": "exec", "args": {"command": "ls"}, "toolCallId": "c"}});
        let i = from_event("agent", &p).unwrap();
        assert_eq!(
            i.item,
            Item::Tool {
                name: "exec".into(),
                args: json!({"command": "ls"})
            }
        );
        assert_eq!(i.action().kind(), "tool");
        let result = json!({"stream": "tool", "data": {"phase": "result", "name": "exec"}});
        assert!(from_event("agent", &result).is_none());
        let lifecycle = json!({"stream": "lifecycle", "data": {"phase": "start"}});
        assert!(from_event("agent", &lifecycle).is_none());
        let no_args = json!({"stream": "tool", "data": {"phase": "start", "name": "list"}});
        assert_eq!(
            from_event("agent", &no_args).unwrap().item,
            Item::Tool {
                name: "list".into(),
                args: json!({})
            }
        );
    }

    #[test]
    fn user_messages_become_prompts() {
        let parts = json!({"sessionKey": "k", "message": {"role": "user",
                           "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]}});
        let i = from_event("session.message", &parts).unwrap();
        assert_eq!(i.item, Item::Prompt("a\nb".into()));
        assert_eq!(i.action().kind(), "prompt");
        let plain = json!({"message": {"role": "user", "content": "hi"}});
        assert_eq!(
            from_event("session.message", &plain).unwrap().item,
            Item::Prompt("hi".into())
        );
        let assistant = json!({"message": {"role": "assistant", "content": "hi"}});
        assert!(from_event("session.message", &assistant).is_none());
        let empty = json!({"message": {"role": "user", "content": [{"type": "image"}]}});
        assert!(from_event("session.message", &empty).is_none());
        assert!(from_event("chat", &plain).is_none());
        assert!(from_event("tick", &json!({"ts": 1})).is_none());
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        let mid = |a| backoff_delay(a, 0).as_millis() as u64;
        // rand 0 is the low edge: base - 20 %.
        assert_eq!(mid(0), 160);
        assert_eq!(mid(1), 320);
        assert_eq!(mid(2), 640);
        assert_eq!(mid(4), 2400, "3200 capped to 3000, minus 20 %");
        assert_eq!(mid(60), 2400, "huge attempts do not overflow");
        for attempt in 0..20 {
            let base = (BACKOFF_START_MS << attempt.min(16)).min(BACKOFF_CAP_MS);
            let (lo, hi) = (base * 80 / 100, base * 120 / 100);
            let mut seen = std::collections::BTreeSet::new();
            for r in (0..5000u32).map(|i| i.wrapping_mul(2_654_435_761)) {
                let d = backoff_delay(attempt, r).as_millis() as u64;
                assert!(
                    (lo..=hi).contains(&d),
                    "attempt {attempt}: {d} not in {lo}..={hi}"
                );
                seen.insert(d);
            }
            assert!(seen.contains(&lo) || seen.len() > 10, "jitter spreads");
        }
        assert!(backoff_delay(30, u32::MAX).as_millis() as u64 <= 3600);
    }
}
