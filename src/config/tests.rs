//! Config loader tests: fixtures under `tests/fixtures/config/{valid,invalid}` and unit cases.

use super::*;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_parts(
        None,
        Some(text.into()),
        text,
        "test.toml",
        &Overrides::default(),
        &env_of(env),
    )
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn valid_fixtures_load() {
    let files = fixtures("valid");
    assert!(
        files.len() >= 3,
        "fixture loop must not run empty: {files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let c = load_text(&text, &[("OC_TEST_TOKEN", "t0k")]);
        assert!(c.is_ok(), "{}: {:?}", f.display(), c.err());
    }
}

#[test]
fn invalid_fixtures_fail_with_expected_text() {
    let files = fixtures("invalid");
    assert!(
        files.len() >= 8,
        "fixture loop must not run empty: {files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expect = std::fs::read_to_string(f.with_extension("expect")).unwrap();
        let err = load_text(&text, &[]).expect_err(&f.display().to_string());
        let shown = err.to_string();
        assert!(
            shown.contains(expect.trim()),
            "{}: error {shown:?} lacks {:?}",
            f.display(),
            expect.trim()
        );
    }
}

#[test]
fn embedded_default_is_edge_on_loopback() {
    let c = load_text("", &[]).unwrap();
    assert_eq!(c.profile, Profile::Edge);
    assert_eq!(c.bind.to_string(), DEFAULT_BIND);
    assert_eq!(c.auth.source, SecretSource::Generated);
    assert_eq!(
        c.limits,
        Limits::default(),
        "edge profile file matches DEFAULT_* constants"
    );
}

#[test]
fn core_profile_is_larger() {
    let c = load_text("profile = \"core\"", &[]).unwrap();
    assert!(c.limits.max_connections > Limits::default().max_connections);
    assert!(c.limits.max_message_bytes > Limits::default().max_message_bytes);
}

#[test]
fn env_token_wins_and_is_masked() {
    let c = load_text(
        "[gateway.auth]\ntoken = \"from-file\"\n",
        &[("OPENCLAW_RS_GATEWAY_TOKEN", "from-env")],
    )
    .unwrap();
    assert_eq!(c.auth.secret.as_ref().unwrap().expose(), "from-env");
    assert_eq!(
        c.auth.source,
        SecretSource::Env("OPENCLAW_RS_GATEWAY_TOKEN")
    );
    assert_eq!(format!("{:?}", c.auth.secret), "Some(Secret(***))");
    let public = c.to_public_json().to_string();
    assert!(
        !public.contains("from-env") && !public.contains("from-file"),
        "{public}"
    );
    let raw = c.masked_raw().unwrap();
    assert!(
        !raw.contains("from-file") && raw.contains("token = \"***\""),
        "{raw}"
    );
}

#[test]
fn flags_override_file() {
    let ov = Overrides {
        bind: Some("127.0.0.1:0".into()),
        profile: Some("core".into()),
        state_dir: Some("/tmp/x".into()),
        config: None,
    };
    let text = "profile = \"edge\"\n[gateway]\nbind = \"127.0.0.1:9\"\n";
    let c = Config::from_parts(None, None, text, "t", &ov, &env_of(&[])).unwrap();
    assert_eq!(c.bind.port(), 0);
    assert_eq!(c.profile, Profile::Core);
    assert_eq!(c.state_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn limits_override_keeps_profile_rest() {
    let c = load_text("[limits]\nmax_connections = 3\n", &[]).unwrap();
    assert_eq!(c.limits.max_connections, 3);
    assert_eq!(c.limits.outbound_queue, limits::DEFAULT_OUTBOUND_QUEUE);
}

#[test]
fn unknown_limit_names_key_and_line() {
    let err = load_text("\n[limits]\nmax_conections = 3\n", &[]).unwrap_err();
    match err {
        ConfigError::Parse { key, line, .. } => {
            assert_eq!(key.as_deref(), Some("limits.max_conections"));
            assert_eq!(line, Some(3));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn expand_env_handles_text_around_reference() {
    let env = env_of(&[("A", "1")]);
    assert_eq!(expand_env("k", "x${A}y${A}", &env).unwrap(), "x1y1");
    assert!(expand_env("k", "${A", &env).is_err());
    assert!(expand_env("k", "${A-B}", &env).is_err());
}

#[test]
fn one_transcriber_serves_edge_voice_and_telegram_and_the_trainer_has_its_variable() {
    let tg = "[channels.telegram]\ntranscribeCommand = [\"/usr/bin/whisper\", \"-q\"]\n\
              transcribeTimeoutSecs = 30\n";
    let c = load_text(tg, &[]).unwrap();
    let v = c.edge.voice.as_ref().unwrap();
    assert_eq!(v.argv, ["/usr/bin/whisper", "-q"]);
    assert_eq!(
        (v.source.as_str(), v.timeout_secs),
        ("channels.telegram.transcribeCommand", 30)
    );
    let c = load_text(
        "[edge.voice]\ncommand = [\"/opt/stt\"]\ntimeoutSecs = 9\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.telegram.transcribe_command, ["/opt/stt"]);
    assert_eq!(c.telegram.transcribe_timeout_secs, 9);
    let c = load_text("", &[]).unwrap();
    assert!(c.edge.voice.is_none() && c.telegram.transcribe_command.is_empty());
    let c = load_text("", &[(edge::TRAINER_ENV, "/opt/train")]).unwrap();
    let t = c.edge.finetune.command.unwrap();
    assert_eq!(
        (t.argv, t.source, t.timeout_secs),
        (
            vec!["/opt/train".to_string()],
            format!("env:{}", edge::TRAINER_ENV),
            6 * 3600
        )
    );
    for (text, key) in [
        ("[edge.voice]\ncommand = [\"stt\"]\n", "edge.voice.command"),
        (
            "[edge.finetune]\nbaseModel = \"-x\"\n",
            "edge.finetune.baseModel",
        ),
        (
            "[edge.finetune]\ntimeoutSecs = 0\n",
            "edge.finetune.timeoutSecs",
        ),
    ] {
        let e = load_text(text, &[]).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
}
