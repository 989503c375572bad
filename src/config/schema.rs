//! JSON Schema of the config file, served by `config.schema`.
//!
//! Built from the same defaults the loader uses (`Limits::default`), so it cannot drift from them
//! on numbers; the key list is written out here and checked against the loader by a unit test.

use serde_json::{Value, json};

use super::{DEFAULT_BIND, Limits, OPERATOR_SCOPES};

/// The `config.schema` result: `{schema, uiHints, version, generatedAt}` (`generatedAt` is an
/// RFC 3339 string, as upstream's `ConfigSchemaResponse` requires).
pub fn config_schema(now_ms: u64) -> Value {
    let defaults = serde_json::to_value(Limits::default()).expect("Limits serializes to JSON");
    let mut limit_props = serde_json::Map::new();
    if let Value::Object(map) = &defaults {
        for (k, v) in map {
            limit_props.insert(
                k.clone(),
                json!({"type": "integer", "minimum": 0, "default": v}),
            );
        }
    }
    json!({
        "schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "openclaw-edge.toml",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "profile": {"type": "string", "enum": ["edge", "core"], "default": "edge"},
                "state_dir": {"type": "string", "description": "durable state; ${ENV} allowed"},
                "log_level": {"type": "string", "enum": ["error", "warn", "info", "debug", "trace", "off"], "default": "info"},
                "gateway": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "bind": {"type": "string", "default": DEFAULT_BIND},
                        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                        "auth": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                                "mode": {"type": "string", "enum": ["token", "password"], "default": "token"},
                                "token": {"type": "string", "description": "secret; ${ENV} allowed; generated on loopback when absent"},
                                "password": {"type": "string", "description": "secret; ${ENV} allowed"},
                                "scopes": {"type": "array", "items": {"type": "string", "enum": OPERATOR_SCOPES}, "description": "most a shared-secret client may be granted"}
                            }
                        }
                    }
                },
                "limits": {"type": "object", "additionalProperties": false, "properties": limit_props}
            }
        },
        "uiHints": {
            "gateway.auth.token": {"sensitive": true},
            "gateway.auth.password": {"sensitive": true}
        },
        "version": env!("CARGO_PKG_VERSION"),
        "generatedAt": crate::clock::rfc3339(now_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_lists_every_limit() {
        let s = config_schema(0);
        let props = &s["schema"]["properties"]["limits"]["properties"];
        assert_eq!(props["max_connections"]["default"], 256);
        assert_eq!(
            props.as_object().unwrap().len(),
            serde_json::to_value(Limits::default())
                .unwrap()
                .as_object()
                .unwrap()
                .len()
        );
    }
}
