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
                "limits": {"type": "object", "additionalProperties": false, "properties": limit_props},
                "agent": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "default_id": {"type": "string", "default": "main"},
                        "main_key": {"type": "string", "default": "main"},
                        "names": {"type": "array", "items": {"type": "string"}, "maxItems": 16, "description": "names that count as a mention in group chats"},
                        "group_activation": {"type": "string", "enum": ["mention", "always"], "default": "mention"},
                        "runtime": {"type": "string", "enum": ["none", "test-double"], "default": "none", "description": "run executor; test-double is for tests and benchmarks only"},
                        "test_delay_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "default": 0}
                    }
                },
                "pricing": {
                    "type": "array",
                    "maxItems": 256,
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["provider", "model", "input_per_mtok", "output_per_mtok"],
                        "properties": {
                            "provider": {"type": "string"},
                            "model": {"type": "string"},
                            "input_per_mtok": {"type": "number", "minimum": 0},
                            "output_per_mtok": {"type": "number", "minimum": 0},
                            "cache_read_per_mtok": {"type": "number", "minimum": 0},
                            "cache_write_per_mtok": {"type": "number", "minimum": 0}
                        }
                    }
                }
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
