//! Gateway wire frames: the JSON shapes that cross the WebSocket.
//!
//! Parses inbound text into `ReqFrame` (a closed object: `type`, `id`, `method`, optional `params`,
//! `traceparent`, `expectedProfileId`) and renders `res` and `event` frames. The size check
//! happens before any JSON work. Knows nothing about methods: `dispatch` maps names to handlers.

use std::fmt;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::rpc::error::RpcError;

/// A parsed request frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReqFrame {
    #[serde(rename = "type")]
    kind: String,
    /// Opaque request id, echoed in the response.
    pub id: String,
    /// Method name.
    pub method: String,
    /// Parameters; absent is allowed (the CLI sends `health` with no params key).
    #[serde(default)]
    pub params: Option<Value>,
    /// W3C trace context (ignored, length-checked).
    #[serde(default)]
    pub traceparent: Option<String>,
    /// Profile binding (ignored: we advertise no `profile-binding-v1`).
    #[serde(default, rename = "expectedProfileId")]
    pub expected_profile_id: Option<String>,
}

/// Why an inbound frame was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// Larger than the limit in force.
    TooLarge { len: usize, max: usize },
    /// Not JSON at all: there is no id to answer to.
    Malformed(String),
    /// JSON, but not a valid request; `id` is set when one could be read.
    Invalid { id: Option<String>, reason: String },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => write!(f, "frame too large: {len} > {max} bytes"),
            FrameError::Malformed(e) => write!(f, "malformed json: {e}"),
            FrameError::Invalid { reason, .. } => write!(f, "invalid request frame: {reason}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Parses one text frame as a request, checking `max` bytes first.
pub fn parse(text: &str, max: usize) -> Result<ReqFrame, FrameError> {
    if text.len() > max {
        return Err(FrameError::TooLarge {
            len: text.len(),
            max,
        });
    }
    let v: Value = serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let invalid = |reason: String| FrameError::Invalid {
        id: id.clone(),
        reason,
    };
    if !v.is_object() {
        return Err(invalid("frame is not an object".into()));
    }
    let req: ReqFrame = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
    if req.kind != "req" {
        return Err(invalid(format!(
            "expected type \"req\", got {:?}",
            req.kind
        )));
    }
    if req.id.is_empty() || req.id.len() > 256 {
        return Err(invalid("id must be 1..256 characters".into()));
    }
    if req.method.is_empty() || req.method.len() > 128 {
        return Err(invalid("method must be 1..128 characters".into()));
    }
    if req.traceparent.as_ref().is_some_and(|t| t.len() > 128) {
        return Err(invalid("traceparent longer than 128 characters".into()));
    }
    Ok(req)
}

/// A successful response frame.
pub fn res_ok(id: &str, payload: &Value) -> String {
    json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string()
}

/// An error response frame.
pub fn res_err(id: &str, err: &RpcError) -> String {
    res_err_json(id, err.to_json())
}

/// An error response frame from a ready-made error object (handshake errors carry extra details).
pub fn res_err_json(id: &str, error: Value) -> String {
    json!({"type": "res", "id": id, "ok": false, "error": error}).to_string()
}

/// An event frame; `payload` is pre-serialized so broadcasts serialize it once.
pub fn event(
    name: &str,
    payload_json: &str,
    seq: Option<u64>,
    state: Option<(u64, u64)>,
) -> String {
    let mut s = String::with_capacity(payload_json.len() + name.len() + 96);
    s.push_str("{\"type\":\"event\",\"event\":");
    s.push_str(&Value::from(name).to_string());
    s.push_str(",\"payload\":");
    s.push_str(payload_json);
    if let Some(seq) = seq {
        s.push_str(",\"seq\":");
        s.push_str(&seq.to_string());
    }
    if let Some((presence, health)) = state {
        s.push_str(&format!(
            ",\"stateVersion\":{{\"presence\":{presence},\"health\":{health}}}"
        ));
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_request_with_and_without_params() {
        let r = parse(r#"{"type":"req","id":"1","method":"health"}"#, 1024).unwrap();
        assert_eq!(r.method, "health");
        assert_eq!(r.params, None);
        let r = parse(
            r#"{"type":"req","id":"2:x","method":"status","params":{"a":1}}"#,
            1024,
        )
        .unwrap();
        assert_eq!(r.params, Some(json!({"a":1})));
    }

    #[test]
    fn oversize_is_checked_before_json() {
        let big = format!("{{{}", "x".repeat(100));
        assert_eq!(
            parse(&big, 50),
            Err(FrameError::TooLarge { len: 101, max: 50 })
        );
    }

    #[test]
    fn malformed_and_invalid_are_told_apart() {
        assert!(matches!(parse("{nope", 100), Err(FrameError::Malformed(_))));
        match parse(r#"{"type":"req","id":"7","method":"x","extra":1}"#, 100) {
            Err(FrameError::Invalid { id, .. }) => assert_eq!(id.as_deref(), Some("7")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"type":"res","id":"7","method":"x"}"#, 100),
            Err(FrameError::Invalid { .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"req","id":"","method":"x"}"#, 100),
            Err(FrameError::Invalid { id: None, .. })
        ));
        assert!(matches!(parse("[1]", 100), Err(FrameError::Invalid { .. })));
        assert!(matches!(
            parse(r#"{"type":"req","method":"x"}"#, 100),
            Err(FrameError::Invalid { id: None, .. })
        ));
    }

    #[test]
    fn event_frame_is_valid_json() {
        let s = event("tick", r#"{"ts":1}"#, Some(3), Some((1, 2)));
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["stateVersion"]["health"], 2);
        let s = event("connect.challenge", "{}", None, None);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert!(v.get("seq").is_none());
    }

    #[test]
    fn error_response_shape() {
        let s = res_err("9", &RpcError::UnknownMethod("nope".into()));
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["code"], "INVALID_REQUEST");
    }
}
