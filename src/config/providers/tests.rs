//! Tests of the provider registry: URLs, local detection, built-ins, keys, failover rules.

use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

fn build(
    toml_text: &str,
    model: Option<&str>,
    fallbacks: &[&str],
    cloud: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ModelsConfig, ConfigError> {
    #[derive(Deserialize)]
    struct T {
        #[serde(default)]
        models: RawModels,
        #[serde(default)]
        runtime: RawRuntime,
    }
    let t: T = toml::from_str(toml_text).expect("test toml parses");
    let fallbacks: Vec<String> = fallbacks.iter().map(|s| s.to_string()).collect();
    build_models(
        &t.models,
        &t.runtime,
        &AgentModels {
            model,
            fallbacks: &fallbacks,
            cloud_fallback: cloud,
        },
        env,
    )
}

#[test]
fn urls_keep_full_endpoints_and_queries() {
    assert_eq!(
        completions_url("http://h:1/v1").unwrap(),
        "http://h:1/v1/chat/completions"
    );
    assert_eq!(
        completions_url("http://h:1/v1/").unwrap(),
        "http://h:1/v1/chat/completions"
    );
    assert_eq!(
        completions_url(
            "https://x.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        )
        .unwrap(),
        "https://x.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        completions_url("https://h/v1?k=1").unwrap(),
        "https://h/v1/chat/completions?k=1"
    );
    assert!(completions_url("ftp://h").is_err());
    assert!(completions_url("http://").is_err());
    assert_eq!(
        embeddings_url("http://h:1/v1/chat/completions"),
        "http://h:1/v1/embeddings"
    );
    assert_eq!(
        embeddings_url("https://h/v1/chat/completions?k=1"),
        "https://h/v1/embeddings?k=1"
    );
}

#[test]
fn local_detection() {
    for u in [
        "http://127.0.0.1:8080/v1",
        "http://localhost:11434",
        "http://[::1]:1/v1",
        "http://192.168.1.5/v1",
        "http://pi.local:8080",
    ] {
        assert!(is_local_url(u), "{u}");
    }
    for u in ["https://api.openai.com/v1", "http://8.8.8.8/v1"] {
        assert!(!is_local_url(u), "{u}");
    }
}

#[test]
fn builtins_resolve_with_aliases_and_keys_from_env() {
    let env = env_of(&[("OPENAI_API_KEY", "sk-from-env-123")]);
    let m = build(
        "",
        Some("llama.cpp/qwen"),
        &["ollama/llama3.2"],
        false,
        &env,
    )
    .unwrap();
    assert_eq!(
        m.candidates[0],
        ModelRef {
            provider: "llamacpp".into(),
            model: "qwen".into()
        }
    );
    let p = m.provider("llamacpp").unwrap();
    assert_eq!(p.url, "http://127.0.0.1:8080/v1/chat/completions");
    assert!(p.local && p.api_key.is_none() && p.allow_unauthenticated);
    let m = build("", Some("openai/gpt-4o-mini"), &[], false, &env).unwrap();
    let p = m.provider("openai").unwrap();
    assert_eq!(p.key_source, "env:OPENAI_API_KEY");
    assert_eq!(p.api_key.as_ref().unwrap().expose(), "sk-from-env-123");
}

#[test]
fn cloud_provider_without_key_is_refused() {
    let err = build("", Some("openai/gpt-4o"), &[], false, &env_of(&[])).unwrap_err();
    assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
    let err = build(
        "[models.providers.x]\nbaseUrl = \"https://x.example/v1\"\n",
        Some("x/m"),
        &[],
        false,
        &env_of(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs an API key"), "{err}");
    let err = build(
        "[models.providers.x]\nbaseUrl = \"https://x.example/v1\"\napiKey = \"${NOPE}\"\n",
        None,
        &[],
        false,
        &env_of(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("NOPE"), "{err}");
}

#[test]
fn local_primary_drops_cloud_fallbacks_unless_allowed() {
    let env = env_of(&[("OPENAI_API_KEY", "sk-from-env-123")]);
    let m = build("", Some("ollama/a"), &["openai/b", "vllm/c"], false, &env).unwrap();
    assert_eq!(
        m.candidates
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        ["ollama/a", "vllm/c"]
    );
    assert_eq!(m.dropped.len(), 1);
    let m = build("", Some("ollama/a"), &["openai/b"], true, &env).unwrap();
    assert_eq!(m.candidates.len(), 2);
}

#[test]
fn configured_provider_options_and_catalog() {
    let t = r#"
[models.providers.fake]
baseUrl = "http://127.0.0.1:9/v1"
apiKey = "literal-key-123"
models = [{ id = "m1", name = "Model One", contextWindow = 8192, cost = { input = 0.5, output = 1.5 } }]
[models.providers.fake.options]
authHeader = "api-key"
authPrefix = ""
headers = { "X-Trace" = "on" }
defaults = { temperature = 0.2 }
[runtime.selfHealing]
maxAttempts = 2
backoffMs = 10
"#;
    let m = build(t, Some("fake/m1"), &[], false, &env_of(&[])).unwrap();
    let p = m.provider("fake").unwrap();
    assert_eq!(
        (
            p.auth_header.as_str(),
            p.auth_prefix.as_str(),
            p.key_source.as_str()
        ),
        ("api-key", "", "config")
    );
    assert_eq!(p.defaults["temperature"], json!(0.2));
    assert_eq!(p.models[0].context_window, Some(8192));
    assert_eq!(
        m.self_healing,
        SelfHealing {
            enabled: true,
            max_attempts: 2,
            backoff_ms: 10
        }
    );
    let public = m.to_public_json().to_string();
    assert!(
        !public.contains("literal-key-123") && public.contains("***"),
        "{public}"
    );
    let bad = "[models.providers.fake]\nbaseUrl = \"http://h/v1\"\n[models.providers.fake.options]\ndefaults = { stream = false }\n";
    assert!(build(bad, None, &[], false, &env_of(&[])).is_err());
    assert!(build("", Some("nope/m"), &[], false, &env_of(&[])).is_err());
    assert!(build("", Some("justmodel"), &[], false, &env_of(&[])).is_err());
}
