// `policy sign` and `policy verify` run as the real binary over tests/fixtures/policy/.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use openclaw_edge::defender::bundle::{self, DEFAULT_MAX_BUNDLE_BYTES, Keys};
use serde_json::Value;

/// The published test key (see tests/fixtures/policy/README.md); never a real one.
const TEST_KEY: &str = "openclaw-edge-test-key-0123456789";
const KEY_VAR: &str = "OCE_POLICY_TEST_KEY";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policy")
        .join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let d = std::env::temp_dir().join(format!("oce-policy-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs the binary with the test key in `KEY_VAR` (unless `with_key` is false).
fn run(args: &[&str], with_key: bool) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_openclaw-edge"));
    c.env_remove(KEY_VAR)
        .env_remove("OCE_UNSET_KEY_VAR_NOT_USED");
    if with_key {
        c.env(KEY_VAR, TEST_KEY);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = c.args(args).output().expect("binary runs");
    let stdout = String::from_utf8(stdout).expect("utf8 stdout");
    let stderr = String::from_utf8(stderr).expect("utf8 stderr");
    assert!(
        !stdout.contains(TEST_KEY) && !stderr.contains(TEST_KEY),
        "key material printed: {stdout}{stderr}"
    );
    (status.code().expect("exited"), stdout, stderr)
}

fn verify(file: &Path) -> (i32, String, String) {
    let f = file.to_str().expect("utf8 path");
    run(&["policy", "verify", "--key-env", KEY_VAR, f], true)
}

#[test]
fn fixtures_are_all_present() {
    let names: Vec<String> = std::fs::read_dir(fixture(""))
        .expect("fixture dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert!(!names.is_empty());
    for want in [
        "unsigned.json",
        "good.json",
        "tampered.json",
        "wrongkey.json",
        "reordered.json",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "missing {want} in {names:?}"
        );
    }
}

#[test]
fn good_fixture_signature_is_current() {
    // Re-sign the fixture's content in memory: if the format or the fixture drifts, this fails.
    let text = std::fs::read_to_string(fixture("good.json")).expect("good.json");
    let on_disk: Value = serde_json::from_str(&text).expect("json");
    let mut resigned = on_disk.clone();
    bundle::sign(&mut resigned, TEST_KEY.as_bytes()).expect("signs");
    assert_eq!(resigned["signature"], on_disk["signature"]);

    // And good.json is unsigned.json plus that signature, nothing else.
    let mut unsigned: Value =
        serde_json::from_slice(&std::fs::read(fixture("unsigned.json")).expect("unsigned.json"))
            .expect("json");
    bundle::sign(&mut unsigned, TEST_KEY.as_bytes()).expect("signs");
    assert_eq!(unsigned, on_disk);

    let keys = Keys::single("test", TEST_KEY.as_bytes().to_vec());
    let v = bundle::verify(text.as_bytes(), &keys, DEFAULT_MAX_BUNDLE_BYTES).expect("valid");
    assert_eq!(v.policy["thresholds"]["block"], 70);
}

#[test]
fn verify_good_prints_the_ok_line() {
    let (code, out, err) = verify(&fixture("good.json"));
    assert_eq!(code, 0, "{err}");
    let sha = bundle::verify(
        &std::fs::read(fixture("good.json")).expect("read"),
        &Keys::single("x", TEST_KEY.as_bytes().to_vec()),
        DEFAULT_MAX_BUNDLE_BYTES,
    )
    .expect("valid")
    .sha256;
    assert_eq!(
        out,
        format!("ok: bundle example-2026-11 version 1 signed by {KEY_VAR}, policy sha256 {sha}\n")
    );
    assert_eq!(err, "");
}

#[test]
fn verify_json_names_the_key_id() {
    let f = fixture("good.json");
    let spec = format!("old=OCE_UNSET_KEY_VAR_NOT_USED,current={KEY_VAR}");
    // An unset variable in the list is a usage error, even when another key would match.
    let (code, _, err) = run(
        &[
            "policy",
            "verify",
            "--key-env",
            &spec,
            "--json",
            f.to_str().expect("utf8"),
        ],
        true,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("OCE_UNSET_KEY_VAR_NOT_USED is not set"),
        "{err}"
    );

    let spec = format!("current={KEY_VAR}");
    let (code, out, err) = run(
        &[
            "policy",
            "verify",
            "--key-env",
            &spec,
            "--json",
            f.to_str().expect("utf8"),
        ],
        true,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("one json object");
    assert_eq!(v["ok"], true);
    assert_eq!(v["keyId"], "current");
    assert_eq!(v["id"], "example-2026-11");
    assert_eq!(v["version"], 1);
}

#[test]
fn verify_reordered_is_valid() {
    let (code, out, err) = verify(&fixture("reordered.json"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ok: bundle example-2026-11 version 1"),
        "{out}"
    );
}

#[test]
fn verify_tampered_wrongkey_unsigned_are_rejected() {
    for (name, reason) in [
        ("tampered.json", "bad signature"),
        ("wrongkey.json", "bad signature"),
        ("unsigned.json", "no signature"),
    ] {
        let (code, out, err) = verify(&fixture(name));
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(err.starts_with("policy: rejected: "), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
        assert_eq!(out, "", "{name}");
    }
}

#[test]
fn verify_oversize_is_too_large() {
    let dir = temp_dir("big");
    let big = dir.join("big.json");
    // Valid JSON padded past the cap: only the size check can reject it.
    let mut text = std::fs::read_to_string(fixture("good.json")).expect("good.json");
    text.push_str(&" ".repeat(DEFAULT_MAX_BUNDLE_BYTES));
    std::fs::write(&big, &text).expect("write");
    let (code, _, err) = verify(&big);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("too large"), "{err}");
    assert!(
        err.contains(&format!(
            "{} > {DEFAULT_MAX_BUNDLE_BYTES} bytes",
            text.len()
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_key_env_is_usage_error() {
    let f = fixture("good.json");
    let f = f.to_str().expect("utf8");
    let (code, out, err) = run(&["policy", "verify", "--key-env", KEY_VAR, f], false);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err, format!("policy: key env var {KEY_VAR} is not set\n"));
    let (code, _, err) = run(&["policy", "sign", "--key-env", KEY_VAR, f], false);
    assert_eq!(code, 2);
    assert!(err.contains("is not set"), "{err}");
}

#[test]
fn sign_round_trips_through_verify() {
    let dir = temp_dir("sign");
    let out = dir.join("signed.json");
    let unsigned = fixture("unsigned.json");
    let (code, stdout, err) = run(
        &[
            "policy",
            "sign",
            "--key-env",
            KEY_VAR,
            "--out",
            out.to_str().expect("utf8"),
            unsigned.to_str().expect("utf8"),
        ],
        true,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout, "");
    // Same bytes as the committed fixture: pretty JSON, 2-space indent, trailing newline.
    assert_eq!(
        std::fs::read_to_string(&out).expect("signed"),
        std::fs::read_to_string(fixture("good.json")).expect("good")
    );
    let (code, _, err) = verify(&out);
    assert_eq!(code, 0, "{err}");

    // Re-signing a tampered bundle to stdout makes it valid again (the signer vouches for it).
    let tampered = fixture("tampered.json");
    let (code, stdout, err) = run(
        &[
            "policy",
            "sign",
            "--key-env",
            KEY_VAR,
            tampered.to_str().expect("utf8"),
        ],
        true,
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("{\n  \""), "{stdout}");
    let keys = Keys::single("t", TEST_KEY.as_bytes().to_vec());
    let v = bundle::verify(stdout.as_bytes(), &keys, DEFAULT_MAX_BUNDLE_BYTES).expect("valid");
    assert_eq!(v.policy["thresholds"]["review"], 41);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sign_refuses_bad_input() {
    let dir = temp_dir("bad");
    let f = dir.join("v2.json");
    std::fs::write(&f, r#"{"version":2,"id":"x","issuedAt":1,"policy":{}}"#).expect("write");
    let (code, out, err) = run(
        &[
            "policy",
            "sign",
            "--key-env",
            KEY_VAR,
            f.to_str().expect("utf8"),
        ],
        true,
    );
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(err, "policy: unknown bundle version 2 (supported: 1)\n");
    let _ = std::fs::remove_dir_all(dir);
}
