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
                        "runtime_mode": {"type": "string", "enum": ["standalone", "bridge_client"], "default": "standalone", "description": "bridge_client: also screen another gateway's actions ([bridge])"},
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
                        "runtime": {"type": "string", "enum": ["none", "provider", "test-double"], "default": "none (provider when model is set)", "description": "run executor; test-double is for tests and benchmarks only"},
                        "test_delay_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "default": 0},
                        "name": {"type": "string", "maxLength": 64},
                        "system_prompt": {"type": "string", "maxLength": 16384},
                        "model": {"type": "string", "description": "primary model, provider/model"},
                        "fallbacks": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
                        "cloud_fallback": {"type": "boolean", "default": false, "description": "may a local primary fall over to a cloud provider"},
                        "persona": {"type": "string", "description": "default persona, a name in agent.personas (edge.personality.profile switches at run time)"},
                        "personas": {
                            "type": "object",
                            "maxProperties": super::agent::MAX_PERSONAS,
                            "additionalProperties": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["prompt"],
                                "properties": {
                                    "prompt": {"type": "string", "minLength": 1, "maxLength": super::agent::MAX_PERSONA_PROMPT_BYTES, "description": "appended to the system prompt after a blank line"},
                                    "traits": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": super::agent::MAX_PERSONA_TRAITS, "description": "appended as a \"Traits: a, b\" line"}
                                }
                            }
                        }
                    }
                },
                "models": models_schema(),
                "runtime": runtime_schema(),
                "tools": tools_schema(),
                "defender": defender_schema(),
                "bridge": bridge_schema(),
                "mesh": super::mesh::schema(),
                "channels": {"type": "object", "additionalProperties": false, "properties": {"telegram": telegram_schema()}},
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
            "gateway.auth.password": {"sensitive": true},
            "models.providers.*.apiKey": {"sensitive": true},
            "defender.virustotal.apiKey": {"sensitive": true},
            "bridge.token": {"sensitive": true},
            "bridge.password": {"sensitive": true},
            "mesh.peers.*.token": {"sensitive": true},
            "mesh.peers.*.password": {"sensitive": true},
            "channels.telegram.botToken": {"sensitive": true}
        },
        "version": env!("CARGO_PKG_VERSION"),
        "generatedAt": crate::clock::rfc3339(now_ms),
    })
}

fn models_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "providers": {
                "type": "object",
                "maxProperties": 32,
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "api": {"type": "string", "enum": ["openai-completions"]},
                        "baseUrl": {"type": "string", "description": "…/v1 or a full …/chat/completions URL; ${ENV} allowed"},
                        "apiKey": {"type": "string", "description": "secret; literal or ${ENV}"},
                        "allowUnauthenticated": {"type": "boolean"},
                        "local": {"type": "boolean"},
                        "models": {"type": "array", "maxItems": 64, "items": {"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
                            "id": {"type": "string"}, "name": {"type": "string"}, "contextWindow": {"type": "integer", "minimum": 0},
                            "maxTokens": {"type": "integer", "minimum": 0}, "reasoning": {"type": "boolean"},
                            "cost": {"type": "object", "additionalProperties": false, "required": ["input", "output"], "properties": {
                                "input": {"type": "number", "minimum": 0}, "output": {"type": "number", "minimum": 0},
                                "cacheRead": {"type": "number", "minimum": 0}, "cacheWrite": {"type": "number", "minimum": 0}}}}}},
                        "options": {"type": "object", "additionalProperties": false, "properties": {
                            "authHeader": {"type": "string"}, "authPrefix": {"type": "string"},
                            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                            "defaults": {"type": "object", "description": "merged into every request body"},
                            "stream": {"type": "boolean", "default": true}, "streamUsage": {"type": "boolean", "default": true}}}
                    }
                }
            }
        }
    })
}

fn runtime_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "selfHealing": {"type": "object", "additionalProperties": false, "properties": {
                "enabled": {"type": "boolean", "default": true},
                "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                "backoffMs": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 500}}}
        }
    })
}

fn tools_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "enabled": {"type": "boolean", "default": true},
            "workspace": {"type": "string", "default": "workspace", "description": "relative to state_dir when not absolute"},
            "exec": {"type": "object", "additionalProperties": false, "properties": {
                "approval": {"type": "string", "enum": ["deny", "review", "allow"], "default": "deny"},
                "allow": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
                "shell": {"type": "string", "description": "absolute path; commands run as <shell> -c"}}},
            "http": {"type": "object", "additionalProperties": false, "properties": {
                "allow": {"type": "array", "items": {"type": "string"}, "maxItems": 64, "description": "hosts, or *.suffix"}}}
        }
    })
}

fn defender_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "screen_prompts": {"type": "boolean", "default": true},
            "screen_tool_output": {"type": "boolean", "default": true},
            "protect_paths": {"type": "array", "items": {"type": "string"}, "maxItems": 256},
            "quarantine_dir": {"type": "string", "default": "quarantine"},
            "policy_file": {"type": "string", "description": "signed policy bundle"},
            "policy_key_env": {"type": "string", "default": "OPENCLAW_EDGE_POLICY_KEY"},
            "policy": {"type": "object", "description": "same shape as a bundle's policy: profile, allow, deny, byProvider, floors, toolBonus, channelBonus, thresholds, auditOnly, allowPrefixes"},
            "virustotal": {"type": "object", "additionalProperties": false, "properties": {
                "apiKey": {"type": "string", "description": "secret; ${ENV} allowed"},
                "baseUrl": {"type": "string", "default": "https://www.virustotal.com/api/v3"}}}
        }
    })
}

fn bridge_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "url": {"type": "string", "description": "ws:// or wss:// of the upstream gateway"},
            "token": {"type": "string", "description": "secret; ${ENV} allowed"},
            "password": {"type": "string", "description": "secret; ${ENV} allowed"},
            "resolve_approvals": {"type": "boolean", "default": true}
        }
    })
}

fn telegram_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "enabled": {"type": "boolean", "default": false},
            "botToken": {"type": "string", "description": "secret; ${ENV} allowed; TELEGRAM_BOT_TOKEN when absent"},
            "apiBaseUrl": {"type": "string", "default": super::telegram::DEFAULT_API_BASE_URL},
            "dmPolicy": {"type": "string", "enum": ["pairing", "allowlist", "open"], "default": "allowlist"},
            "allowFrom": {"type": "array", "items": {"type": "integer"}, "description": "user ids allowed in DMs"},
            "groups": {"type": "array", "items": {"type": "integer"}, "description": "chat ids of allowlisted groups"},
            "operators": {"type": "array", "items": {"type": "integer"}, "description": "operator user ids"},
            "groupActivation": {"type": "string", "enum": ["mention", "always"], "default": "mention"},
            "pollTimeoutSecs": {"type": "integer", "minimum": 1, "maximum": 50, "default": super::telegram::DEFAULT_POLL_TIMEOUT_SECS}
        }
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
