//! Method dispatch: the only place method name strings are matched.
//!
//! `Method::parse` turns a wire name into a typed `Method`; `authorize` applies upstream's order
//! (scope first, so a caller without `operator.admin` cannot probe which names exist: unknown
//! names need admin, as in upstream's `gateway-method-policy`); `call` runs the handler.
//! `Method::ALL` is what `hello-ok.features.methods` and `GET /rpc/methods` advertise, so only
//! implemented methods are ever listed.

use serde_json::Value;

use super::{Ctx, Role};
use crate::rpc::error::RpcError;
use crate::rpc::system;

/// Every implemented method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `health`: the health summary.
    Health,
    /// `status`: runtime status.
    Status,
    /// `system-presence`: connected clients.
    SystemPresence,
    /// `last-heartbeat`: the last heartbeat run (none run yet: `null`).
    LastHeartbeat,
    /// `logs.tail`: recent log lines from the in-memory ring.
    LogsTail,
    /// `config.get`: the config file snapshot, secrets masked.
    ConfigGet,
    /// `config.schema`: JSON Schema of the config file.
    ConfigSchema,
}

impl Method {
    /// Every method, in the order advertised.
    pub const ALL: [Method; 7] = [
        Method::Health,
        Method::Status,
        Method::SystemPresence,
        Method::LastHeartbeat,
        Method::LogsTail,
        Method::ConfigGet,
        Method::ConfigSchema,
    ];

    /// The typed method for a wire name.
    pub fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "health" => Method::Health,
            "status" => Method::Status,
            "system-presence" => Method::SystemPresence,
            "last-heartbeat" => Method::LastHeartbeat,
            "logs.tail" => Method::LogsTail,
            "config.get" => Method::ConfigGet,
            "config.schema" => Method::ConfigSchema,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Health => "health",
            Method::Status => "status",
            Method::SystemPresence => "system-presence",
            Method::LastHeartbeat => "last-heartbeat",
            Method::LogsTail => "logs.tail",
            Method::ConfigGet => "config.get",
            Method::ConfigSchema => "config.schema",
        }
    }

    /// The operator scope the method needs (from upstream's schema `methods` map).
    pub fn scope(self) -> &'static str {
        match self {
            Method::Health
            | Method::Status
            | Method::SystemPresence
            | Method::LastHeartbeat
            | Method::LogsTail
            | Method::ConfigGet
            | Method::ConfigSchema => "operator.read",
        }
    }
}

/// Names of every implemented method (for `hello-ok` and `/rpc/methods`).
pub fn method_names() -> Vec<&'static str> {
    Method::ALL.iter().map(|m| m.as_str()).collect()
}

/// Whether `scopes` satisfy `needed`: admin implies all, write implies read and talk.
pub fn has_scope(scopes: &[String], needed: &str) -> bool {
    scopes.iter().any(|s| {
        s == needed
            || s == "operator.admin"
            || (s == "operator.write" && (needed == "operator.read" || needed == "operator.talk"))
    })
}

/// Resolves and authorizes a method name for a connection.
pub fn authorize(role: Role, scopes: &[String], name: &str) -> Result<Method, RpcError> {
    let method = Method::parse(name);
    let needed = method.map(Method::scope).unwrap_or("operator.admin");
    if role != Role::Operator || !has_scope(scopes, needed) {
        return Err(RpcError::MissingScope { scope: needed });
    }
    method.ok_or_else(|| RpcError::UnknownMethod(name.to_string()))
}

/// Runs an authorized method.
pub async fn call(ctx: &Ctx, method: Method, params: Option<Value>) -> Result<Value, RpcError> {
    match method {
        Method::Health => Ok(system::health(ctx, no_params(method, params)?)),
        Method::Status => system::status(ctx, params),
        Method::SystemPresence => {
            no_params(method, params)?;
            Ok(Value::Array(ctx.hub.presence_all()))
        }
        Method::LastHeartbeat => {
            no_params(method, params)?;
            // No heartbeat runner exists yet, so there is no last heartbeat: upstream's null.
            Ok(Value::Null)
        }
        Method::LogsTail => system::logs_tail(params),
        Method::ConfigGet => {
            no_params(method, params)?;
            system::config_get(ctx).await
        }
        Method::ConfigSchema => {
            no_params(method, params)?;
            Ok(crate::config::config_schema(crate::clock::now_ms()))
        }
    }
}

/// Accepts absent, `null` or `{}` params (health also takes `probe`), anything else is invalid.
fn no_params(method: Method, params: Option<Value>) -> Result<bool, RpcError> {
    match params {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(map)) => {
            let mut probe = false;
            for (k, v) in map {
                if method == Method::Health && k == "probe" {
                    probe = v.as_bool().unwrap_or(false);
                } else {
                    return Err(RpcError::InvalidRequest(format!(
                        "invalid {} params: unexpected property {k:?}",
                        method.as_str()
                    )));
                }
            }
            Ok(probe)
        }
        Some(other) => Err(RpcError::InvalidRequest(format!(
            "invalid {} params: expected an object, got {}",
            method.as_str(),
            kind_of(&other)
        ))),
    }
}

/// The JSON type name of a value, for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_and_as_str_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("nope"), None);
    }

    #[test]
    fn scope_rules_follow_upstream() {
        assert!(has_scope(&s(&["operator.admin"]), "operator.read"));
        assert!(has_scope(&s(&["operator.write"]), "operator.read"));
        assert!(!has_scope(&s(&["operator.read"]), "operator.write"));
        assert!(!has_scope(&s(&[]), "operator.read"));
    }

    #[test]
    fn unknown_method_needs_admin_first() {
        let read = s(&["operator.read"]);
        assert_eq!(
            authorize(Role::Operator, &read, "no.such"),
            Err(RpcError::MissingScope {
                scope: "operator.admin"
            })
        );
        let admin = s(&["operator.admin"]);
        assert_eq!(
            authorize(Role::Operator, &admin, "no.such"),
            Err(RpcError::UnknownMethod("no.such".into()))
        );
        assert_eq!(
            authorize(Role::Operator, &read, "health"),
            Ok(Method::Health)
        );
        assert_eq!(
            authorize(Role::Node, &admin, "health"),
            Err(RpcError::MissingScope {
                scope: "operator.read"
            })
        );
    }

    #[test]
    fn params_must_be_empty_objects() {
        assert_eq!(no_params(Method::Status, None), Ok(false));
        assert_eq!(
            no_params(Method::Health, Some(serde_json::json!({"probe": true}))),
            Ok(true)
        );
        assert!(no_params(Method::ConfigGet, Some(serde_json::json!({"x": 1}))).is_err());
        assert!(no_params(Method::ConfigGet, Some(serde_json::json!([1]))).is_err());
    }
}
