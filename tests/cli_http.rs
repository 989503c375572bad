// The HTTP surface and the command line (call, health, status, config check, doctor, version).

mod common;

use std::process::Command;

use common::Gateway;
use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_openclaw-edge"));
    c.env_remove("OPENCLAW_EDGE_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_URL")
        .env_remove("OPENCLAW_EDGE_CONFIG");
    c
}

fn post_rpc(gw: &Gateway, auth: Option<&str>, body: &str) -> (u16, Value) {
    let auth_line = auth
        .map(|a| format!("Authorization: Bearer {a}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth_line}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = gw.http(&req);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn http_health_endpoints() {
    let gw = Gateway::start("");
    let (s, b) = gw.http("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["status"], "live");
    let (s, b) = gw.http("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["ready"], true);
    let (s, b) = gw.http("GET /rpc/methods HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert!(
        v["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "health")
    );
    let (s, _) = gw.http("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s, 404);
    let (s, _) = gw.http("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s, 405);
}

#[test]
fn http_rpc_requires_the_credential() {
    let gw = Gateway::start("");
    let (s, v) = post_rpc(&gw, None, r#"{"method":"health"}"#);
    assert_eq!(s, 401);
    assert_eq!(v["error"]["details"]["code"], "AUTH_REQUIRED");
    let (s, _) = post_rpc(&gw, Some("wrong"), r#"{"method":"health"}"#);
    assert_eq!(s, 401);
    let (s, v) = post_rpc(&gw, Some(&gw.token), r#"{"id":7,"method":"health"}"#);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["id"], 7);
    assert_eq!(v["payload"]["ok"], true);
    let (s, v) = post_rpc(&gw, Some(&gw.token), r#"{"method":"no.such"}"#);
    assert_eq!(s, 404);
    assert_eq!(v["error"]["message"], "unknown method: no.such");
    let (s, _) = post_rpc(&gw, Some(&gw.token), "{oops");
    assert_eq!(s, 400);
    let big = format!(
        "{{\"method\":\"health\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let (s, _) = post_rpc(&gw, Some(&gw.token), &big);
    assert_eq!(s, 413);
}

#[test]
fn cli_call_health_status_and_wrong_token() {
    let gw = Gateway::start("");
    let out = bin()
        .args([
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            &gw.token,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);

    let out = bin()
        .args(["status", "--url", &gw.url(), "--json"])
        .env("OPENCLAW_EDGE_GATEWAY_TOKEN", &gw.token)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runtimeVersion"], env!("CARGO_PKG_VERSION"));

    let out = bin()
        .args(["health", "--url", &gw.url(), "--token", &gw.token])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok=true"));

    let out = bin()
        .args([
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "wrong",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");

    let out = bin()
        .args([
            "call",
            "logs.tail",
            "--url",
            &gw.url(),
            "--token",
            &gw.token,
            "--params",
            "{\"limit\":3}",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["lines"].as_array().unwrap().len() <= 3);
}

#[test]
fn cli_finds_the_generated_token_in_the_state_dir() {
    let gw = Gateway::start_with("", &[], None);
    let state = gw.dir.join("state");
    // No --token: the CLI reads <state_dir>/gateway.token like the gateway generated it.
    let out = bin()
        .arg("--state-dir")
        .arg(&state)
        .args(["call", "health", "--url", &gw.url(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn config_check_names_the_key_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("oce-cfg-{}", common::random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_connections = \"many\"\n").unwrap();
    let out = bin()
        .args(["config", "check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("limits.max_connections"), "{text}");
    assert!(text.contains("line 2"), "{text}");

    // `run` refuses the same file the same way.
    let out = bin().args(["run", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.max_connections"));

    let lan = dir.join("lan.toml");
    std::fs::write(&lan, "[gateway]\nbind = \"0.0.0.0:18789\"\n").unwrap();
    let out = bin().args(["run", "--config"]).arg(&lan).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "non-loopback without a secret is refused"
    );

    let good = dir.join("good.toml");
    std::fs::write(&good, "profile = \"core\"\n").unwrap();
    let out = bin()
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("profile core"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn doctor_reports_each_check() {
    let dir = std::env::temp_dir().join(format!("oce-doc-{}", common::random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = bin()
        .arg("--state-dir")
        .arg(&dir)
        .arg("--bind")
        .arg("127.0.0.1:0")
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for check in ["config:", "state dir:", "port:", "clock:", "memory:"] {
        assert!(text.contains(check), "{check} missing in {text}");
    }
    assert!(out.status.success(), "no check fails here: {text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn version_prints_protocol() {
    let out = bin().arg("version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("gateway protocol 4"));
}
