//! RpcError: every error a client can see, and its wire shape.
//!
//! `code()` is the one table from variants to upstream's string codes (`INVALID_REQUEST`,
//! `FORBIDDEN`, `UNAVAILABLE`, ...); `to_json()` renders the closed `error` object of a `res` frame
//! (`code`, `message`, optional `details`, `retryable`, `retryAfterMs`). Internal detail (paths,
//! upstream bodies, secrets) never goes into a message; it is logged with the request id instead.

use std::fmt;

use serde_json::{Value, json};

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcError {
    /// The request is malformed or its params are invalid.
    InvalidRequest(String),
    /// The method name is not implemented here.
    UnknownMethod(String),
    /// The connection lacks the scope (or role) the method needs.
    MissingScope {
        /// The scope that is missing.
        scope: &'static str,
    },
    /// A bounded resource is full; retry after `retry_after_ms`.
    Busy {
        /// Which bound was hit (e.g. "in-flight requests").
        what: &'static str,
        /// Its capacity.
        cap: usize,
        /// Suggested wait.
        retry_after_ms: u64,
    },
    /// The handler did not finish within its deadline.
    Timeout {
        /// The deadline.
        ms: u64,
    },
    /// The gateway is shutting down or a backend is not available.
    Unavailable(String),
    /// A capacity that frees only by user action (e.g. deleting sessions); not retryable.
    Exhausted(String),
    /// A failure inside the runtime (details are in the log).
    Internal(String),
    /// A capability this build does not have yet; not retryable.
    NotImplemented(String),
    /// The defender blocked the request's content.
    Blocked {
        /// Risk and the strongest reasons.
        summary: String,
        /// The strongest rule.
        rule: &'static str,
        /// Risk 0–100.
        risk: u32,
    },
    /// A node answered `node.invoke` with `ok: false`; `node_error` is its `error` object.
    NodeFailed {
        /// `<code>: <message>` from the node.
        message: String,
        /// The node's `{code?, message?}`.
        node_error: Value,
    },
    /// An agent run ended in an error (`agent` final answer); `details` carries run facts.
    RunFailed {
        /// What went wrong.
        message: String,
        /// `{runId, status, errorKind, attempts}`.
        details: Value,
    },
}

impl RpcError {
    /// The wire `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            RpcError::InvalidRequest(_) | RpcError::UnknownMethod(_) | RpcError::Blocked { .. } => {
                "INVALID_REQUEST"
            }
            RpcError::MissingScope { .. } => "FORBIDDEN",
            RpcError::Busy { .. }
            | RpcError::Timeout { .. }
            | RpcError::Unavailable(_)
            | RpcError::Exhausted(_)
            | RpcError::Internal(_)
            | RpcError::NotImplemented(_)
            | RpcError::NodeFailed { .. }
            | RpcError::RunFailed { .. } => "UNAVAILABLE",
        }
    }

    /// Whether a retry may succeed, and after how long.
    pub fn retry(&self) -> Option<u64> {
        match self {
            RpcError::Busy { retry_after_ms, .. } => Some(*retry_after_ms),
            RpcError::Timeout { .. } | RpcError::Unavailable(_) => Some(1000),
            _ => None,
        }
    }

    /// HTTP status for `POST /rpc`.
    pub fn http_status(&self) -> u16 {
        match self {
            RpcError::InvalidRequest(_) | RpcError::Blocked { .. } => 400,
            RpcError::UnknownMethod(_) => 404,
            RpcError::MissingScope { .. } => 403,
            RpcError::Busy { .. } => 429,
            RpcError::Timeout { .. } => 504,
            RpcError::Unavailable(_) | RpcError::Exhausted(_) => 503,
            RpcError::Internal(_) | RpcError::RunFailed { .. } => 500,
            RpcError::NodeFailed { .. } => 502,
            RpcError::NotImplemented(_) => 501,
        }
    }

    /// The closed `error` object of a `res` frame.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"code": self.code(), "message": self.to_string()});
        match self {
            RpcError::MissingScope { scope } => {
                v["details"] = json!({
                    "code": "MISSING_SCOPE",
                    "missingScope": scope,
                    "requiredScopes": [scope],
                });
            }
            RpcError::Busy { what, cap, .. } => {
                v["details"] = json!({"code": "BUSY", "queue": what, "cap": cap});
            }
            RpcError::Timeout { ms } => {
                v["details"] = json!({"code": "TIMEOUT", "timeoutMs": ms});
            }
            RpcError::NotImplemented(_) => {
                v["details"] = json!({"code": "NOT_IMPLEMENTED"});
            }
            RpcError::Blocked { rule, risk, .. } => {
                v["details"] = json!({"code": "DEFENDER_BLOCKED", "rule": rule, "risk": risk});
            }
            RpcError::RunFailed { details, .. } => {
                v["details"] = details.clone();
            }
            RpcError::NodeFailed { node_error, .. } => {
                v["details"] = json!({"code": "NODE_INVOKE_FAILED", "nodeError": node_error});
            }
            _ => {}
        }
        match self.retry() {
            Some(ms) => {
                v["retryable"] = json!(true);
                v["retryAfterMs"] = json!(ms);
            }
            None => v["retryable"] = json!(false),
        }
        v
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::InvalidRequest(m) => write!(f, "{m}"),
            RpcError::UnknownMethod(m) => write!(f, "unknown method: {m}"),
            RpcError::MissingScope { scope } => write!(f, "missing scope: {scope}"),
            RpcError::Busy { what, cap, .. } => write!(f, "busy: {what} at capacity ({cap})"),
            RpcError::Timeout { ms } => write!(f, "request timed out after {ms} ms"),
            RpcError::Unavailable(m) => write!(f, "unavailable: {m}"),
            RpcError::Exhausted(m) => write!(f, "unavailable: {m}"),
            RpcError::Internal(m) => write!(f, "internal error: {m}"),
            RpcError::NotImplemented(m) => write!(f, "not implemented: {m}"),
            RpcError::Blocked { summary, .. } => write!(f, "blocked by the defender: {summary}"),
            RpcError::RunFailed { message, .. } => write!(f, "agent run failed: {message}"),
            RpcError::NodeFailed { message, .. } => write!(f, "node invoke failed: {message}"),
        }
    }
}

impl std::error::Error for RpcError {}

impl RpcError {
    /// `Blocked` when the defender's enforced verdict on a request's content is a block.
    pub fn unless_blocked(a: &crate::defender::pipeline::Assessment) -> Result<(), RpcError> {
        if a.enforced == crate::defender::Verdict::Block {
            return Err(RpcError::Blocked {
                summary: a.summary(),
                rule: a.top_rule(),
                risk: a.risk,
            });
        }
        Ok(())
    }
}

impl From<crate::pool::PoolError> for RpcError {
    fn from(e: crate::pool::PoolError) -> Self {
        match e {
            crate::pool::PoolError::Busy { cap } => RpcError::Busy {
                what: "blocking pool",
                cap,
                retry_after_ms: 200,
            },
            crate::pool::PoolError::Lost => RpcError::Internal("blocking job lost".into()),
        }
    }
}

impl From<crate::store::StoreError> for RpcError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as S;
        match e {
            S::Busy { cap } => RpcError::Busy {
                what: "store queue",
                cap,
                retry_after_ms: 200,
            },
            S::Closed => RpcError::Unavailable("store is closed".into()),
            S::Full { .. } => RpcError::Exhausted(e.to_string()),
            S::Conflict(m) | S::NotFound(m) => RpcError::InvalidRequest(m),
            other => {
                log::error!("store: {other}");
                RpcError::Internal("database error (see the gateway log)".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_table() {
        let cases: Vec<(RpcError, &str, bool)> = vec![
            (
                RpcError::InvalidRequest("x".into()),
                "INVALID_REQUEST",
                false,
            ),
            (
                RpcError::UnknownMethod("x".into()),
                "INVALID_REQUEST",
                false,
            ),
            (
                RpcError::MissingScope {
                    scope: "operator.read",
                },
                "FORBIDDEN",
                false,
            ),
            (
                RpcError::Busy {
                    what: "q",
                    cap: 1,
                    retry_after_ms: 5,
                },
                "UNAVAILABLE",
                true,
            ),
            (RpcError::Timeout { ms: 1 }, "UNAVAILABLE", true),
            (RpcError::Unavailable("x".into()), "UNAVAILABLE", true),
            (RpcError::Exhausted("x".into()), "UNAVAILABLE", false),
            (RpcError::Internal("x".into()), "UNAVAILABLE", false),
            (RpcError::NotImplemented("x".into()), "UNAVAILABLE", false),
            (
                RpcError::Blocked {
                    summary: "risk 90".into(),
                    rule: "override",
                    risk: 90,
                },
                "INVALID_REQUEST",
                false,
            ),
            (
                RpcError::RunFailed {
                    message: "x".into(),
                    details: json!({"runId": "r"}),
                },
                "UNAVAILABLE",
                false,
            ),
            (
                RpcError::NodeFailed {
                    message: "UNAVAILABLE: command not supported".into(),
                    node_error: json!({"code": "UNAVAILABLE"}),
                },
                "UNAVAILABLE",
                false,
            ),
        ];
        for (e, code, retryable) in cases {
            let j = e.to_json();
            assert_eq!(j["code"], code, "{e:?}");
            assert_eq!(j["retryable"], retryable, "{e:?}");
            let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
            for k in keys {
                assert!(
                    ["code", "message", "details", "retryable", "retryAfterMs"]
                        .contains(&k.as_str()),
                    "error object is closed upstream: {k}"
                );
            }
        }
    }

    #[test]
    fn missing_scope_matches_upstream_shape() {
        let j = RpcError::MissingScope {
            scope: "operator.write",
        }
        .to_json();
        assert_eq!(j["message"], "missing scope: operator.write");
        assert_eq!(j["details"]["code"], "MISSING_SCOPE");
        assert_eq!(j["details"]["requiredScopes"][0], "operator.write");
    }

    #[test]
    fn unknown_method_message_matches_upstream() {
        let e = RpcError::UnknownMethod("no.such".into());
        assert_eq!(e.to_string(), "unknown method: no.such");
    }
}
