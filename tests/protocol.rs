// Protocol conformance against the real binary: handshake, auth failures, frames, scopes, devices.

mod common;

use std::time::Duration;

use common::device::{Device, Signed};
use common::{ALL_SCOPES, Gateway, connect_frame};
use serde_json::{Value, json};

const EMPTY: &str = "";

#[test]
fn handshake_happy_path_matches_upstream_shape() {
    let gw = Gateway::start(EMPTY);
    let mut ws = gw.raw();
    let ch = ws.next_json();
    assert_eq!(ch["type"], "event");
    assert_eq!(ch["event"], "connect.challenge");
    assert!(ch.get("seq").is_none(), "challenge carries no seq");
    assert!(ch["payload"]["nonce"].as_str().unwrap().len() >= 32);
    assert!(ch["payload"]["ts"].as_u64().unwrap() > 1_700_000_000_000);

    ws.send_json(&connect_frame("1", &gw.token, &["operator.read"]));
    let res = ws.wait_res("1");
    assert_eq!(res["ok"], true, "{res}");
    let h = &res["payload"];
    assert_eq!(h["type"], "hello-ok");
    assert_eq!(h["protocol"], 4);
    assert_eq!(h["server"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["auth"]["role"], "operator");
    assert_eq!(h["auth"]["scopes"], json!(["operator.read"]));
    assert_eq!(h["policy"]["tickIntervalMs"], 30000);
    assert_eq!(h["policy"]["maxPayload"], 262144);
    assert_eq!(
        h["snapshot"]["sessionDefaults"]["mainSessionKey"],
        "agent:main:main"
    );
    assert_eq!(h["snapshot"]["health"]["ok"], true);
    assert_eq!(h["snapshot"]["presence"].as_array().unwrap().len(), 1);
    let methods: Vec<&str> = h["features"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for m in [
        "health",
        "status",
        "system-presence",
        "last-heartbeat",
        "logs.tail",
        "config.get",
        "config.schema",
    ] {
        assert!(methods.contains(&m), "{m} advertised");
    }
    assert_eq!(
        methods.len(),
        91,
        "only implemented methods are advertised: {methods:?}"
    );
    // The presence broadcast for our own arrival follows hello-ok with seq 1.
    let ev = ws.next_json();
    assert_eq!(ev["event"], "presence");
    assert_eq!(ev["seq"], 1);
    assert!(ev["stateVersion"]["presence"].as_u64().unwrap() >= 1);
}

#[test]
fn conn_ids_are_unique() {
    let gw = Gateway::start(EMPTY);
    let ids: Vec<String> = (0..5)
        .map(|_| {
            gw.client(&["operator.read"]).hello["payload"]["server"]["connId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut dedup = ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 5, "{ids:?}");
}

fn refused(gw: &Gateway, connect: Value) -> (Value, Option<(u16, String)>) {
    let mut ws = gw.raw();
    ws.next_json();
    ws.send_json(&connect);
    let res = ws.wait_res(connect["id"].as_str().unwrap());
    (res, ws.expect_close())
}

#[test]
fn wrong_token_is_refused_with_1008() {
    let gw = Gateway::start(EMPTY);
    let (res, close) = refused(&gw, connect_frame("1", "not-the-token", &["operator.read"]));
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gateway token mismatch")
    );
    assert_eq!(close.unwrap().0, 1008);
}

#[test]
fn missing_token_is_refused() {
    let gw = Gateway::start(EMPTY);
    let mut c = connect_frame("1", "x", &[]);
    c["params"].as_object_mut().unwrap().remove("auth");
    let (res, close) = refused(&gw, c);
    assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISSING");
    assert_eq!(close.unwrap().0, 1008);
}

#[test]
fn password_mode_checks_password() {
    let gw = Gateway::start_with(
        "[gateway.auth]\nmode = \"password\"\npassword = \"hunter2-long-enough\"\n",
        &[],
        Some("hunter2-long-enough".into()),
    );
    let mut good = connect_frame("1", "", &["operator.read"]);
    good["params"]["auth"] = json!({"password": "hunter2-long-enough"});
    let mut ws = gw.raw();
    ws.next_json();
    ws.send_json(&good);
    assert_eq!(ws.wait_res("1")["ok"], true);

    let mut bad = connect_frame("2", "", &[]);
    bad["params"]["auth"] = json!({"password": "nope"});
    let (res, close) = refused(&gw, bad);
    assert_eq!(res["error"]["details"]["code"], "AUTH_PASSWORD_MISMATCH");
    assert_eq!(close.unwrap().0, 1008);
}

#[test]
fn failed_attempts_are_rate_limited_per_peer() {
    let gw = Gateway::start("[limits]\nauth_fail_max = 3\nauth_fail_window_ms = 60000\n");
    for _ in 0..3 {
        let (res, _) = refused(&gw, connect_frame("1", "bad", &[]));
        assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    }
    // Even the right token is refused while locked out.
    let (res, close) = refused(&gw, connect_frame("1", &gw.token, &[]));
    assert_eq!(res["error"]["details"]["code"], "AUTH_RATE_LIMITED");
    assert_eq!(res["error"]["retryable"], true);
    assert!(res["error"]["retryAfterMs"].as_u64().unwrap() > 0);
    assert_eq!(close.unwrap().0, 1008);
}

#[test]
fn protocol_mismatch_closes_1002_with_details() {
    let gw = Gateway::start(EMPTY);
    let mut c = connect_frame("1", &gw.token, &[]);
    c["params"]["minProtocol"] = json!(2);
    c["params"]["maxProtocol"] = json!(3);
    let (res, close) = refused(&gw, c);
    assert_eq!(res["error"]["message"], "protocol mismatch");
    let d = &res["error"]["details"];
    assert_eq!(d["code"], "PROTOCOL_MISMATCH");
    assert_eq!(d["clientMaxProtocol"], 3);
    assert_eq!(d["expectedProtocol"], 4);
    assert_eq!(close.unwrap().0, 1002);
}

#[test]
fn probes_may_use_protocol_3() {
    let gw = Gateway::start(EMPTY);
    let mut c = connect_frame("1", &gw.token, &["operator.read"]);
    c["params"]["minProtocol"] = json!(3);
    c["params"]["client"]["mode"] = json!("probe");
    c["params"]["client"]["id"] = json!("cli");
    let mut ws = gw.raw();
    ws.next_json();
    ws.send_json(&c);
    let res = ws.wait_res("1");
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["protocol"], 4);
}

#[test]
fn first_frame_must_be_connect() {
    let gw = Gateway::start(EMPTY);
    let mut ws = gw.raw();
    ws.next_json();
    ws.send_json(&json!({"type": "req", "id": "1", "method": "health"}));
    let res = ws.wait_res("1");
    assert_eq!(
        res["error"]["message"],
        "invalid handshake: first request must be connect"
    );
    assert_eq!(ws.expect_close().unwrap().0, 1008);
}

#[test]
fn invalid_connect_params_are_refused() {
    let gw = Gateway::start(EMPTY);
    let mut c = connect_frame("1", &gw.token, &[]);
    c["params"]["client"]["mode"] = json!("hacker");
    let (res, close) = refused(&gw, c);
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid connect params")
    );
    assert_eq!(close.unwrap().0, 1008);
    let mut c = connect_frame("1", &gw.token, &[]);
    c["params"]["surprise"] = json!(true);
    let (res, _) = refused(&gw, c);
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("surprise"),
        "{res}"
    );
}

#[test]
fn oversize_preauth_frame_closes_1009() {
    let gw = Gateway::start(EMPTY);
    let mut ws = gw.raw();
    ws.next_json();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000));
    ws.send_text(&big);
    assert_eq!(ws.expect_close().unwrap().0, 1009);
}

#[test]
fn malformed_json_before_and_after_auth() {
    let gw = Gateway::start(EMPTY);
    let mut ws = gw.raw();
    ws.next_json();
    ws.send_text("{not json");
    assert_eq!(ws.expect_close().unwrap().0, 1008);

    let mut c = gw.client(&["operator.read"]);
    // A frame with an id but the wrong shape gets an error response and the socket stays open.
    c.ws.send_json(&json!({"type": "req", "id": "x1", "method": "health", "bogus": 1}));
    let res = c.ws.wait_res("x1");
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert!(c.call("health", None).is_ok());
    // Unparseable text after auth: nothing to answer, the socket is closed.
    c.ws.send_text("][");
    assert_eq!(c.ws.expect_close().unwrap().0, 1008);
}

#[test]
fn binary_frames_are_refused() {
    let gw = Gateway::start(EMPTY);
    let mut ws = gw.raw();
    ws.next_json();
    ws.ws
        .send(tungstenite::Message::Binary(vec![1, 2, 3].into()))
        .unwrap();
    assert_eq!(ws.expect_close().unwrap().0, 1008);

    let mut c = gw.client(&["operator.read"]);
    c.ws.ws
        .send(tungstenite::Message::Binary(vec![1, 2, 3].into()))
        .unwrap();
    assert_eq!(c.ws.expect_close().unwrap().0, 1003);
}

#[test]
fn unknown_method_and_missing_scope() {
    let gw = Gateway::start(EMPTY);
    let mut admin = gw.client(&ALL_SCOPES);
    let e = admin.call("no.such.method", None).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
    assert_eq!(e["message"], "unknown method: no.such.method");

    let mut reader = gw.client(&["operator.read"]);
    let e = reader.call("no.such.method", None).unwrap_err();
    assert_eq!(
        e["code"], "FORBIDDEN",
        "unknown names need admin first, as upstream"
    );

    let mut none = gw.client(&[]);
    let e = none.call("health", None).unwrap_err();
    assert_eq!(e["code"], "FORBIDDEN");
    assert_eq!(e["message"], "missing scope: operator.read");
    assert_eq!(e["details"]["code"], "MISSING_SCOPE");
    assert_eq!(e["details"]["missingScope"], "operator.read");
}

#[test]
fn shared_secret_scopes_are_capped_by_config() {
    let gw = Gateway::start("[gateway.auth]\nscopes = [\"operator.read\"]\n");
    let c = gw.client(&["operator.admin", "operator.read", "operator.bogus"]);
    assert_eq!(
        c.hello["payload"]["auth"]["scopes"],
        json!(["operator.read"])
    );
}

#[test]
fn methods_answer_with_real_data() {
    let gw = Gateway::start(EMPTY);
    let mut c = gw.client(&ALL_SCOPES);
    let status = c
        .call(
            "status",
            Some(json!({"includeChannelSummary": false, "includeCliProjection": true})),
        )
        .unwrap();
    assert_eq!(status["gateway"]["connections"]["authenticated"], 1);
    assert!(status["memory"]["rssBytes"].as_u64().unwrap() > 0);
    assert_eq!(status["subsystems"]["scheduler"], "running");
    assert_eq!(status["subsystems"]["providers"], "not configured");
    assert_eq!(status["sessions"]["count"], 0);
    let presence = c.call("system-presence", None).unwrap();
    assert_eq!(presence.as_array().unwrap().len(), 1);
    assert_eq!(
        c.call("last-heartbeat", Some(json!({}))).unwrap(),
        Value::Null
    );
    let logs = c.call("logs.tail", Some(json!({"limit": 50}))).unwrap();
    let lines = logs["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("connected as")),
        "{logs}"
    );
    let cfg = c.call("config.get", None).unwrap();
    assert_eq!(cfg["exists"], true);
    assert_eq!(cfg["valid"], true);
    assert!(
        !cfg.to_string().contains(&gw.token),
        "token never leaves the gateway"
    );
    let schema = c.call("config.schema", None).unwrap();
    assert_eq!(
        schema["schema"]["properties"]["limits"]["properties"]["max_connections"]["default"],
        256
    );
    let e = c.call("logs.tail", Some(json!({"bogus": 1}))).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
}

#[test]
fn ticks_arrive_on_schedule() {
    let gw = Gateway::start("[limits]\ntick_interval_ms = 200\n");
    let mut c = gw.client(&["operator.read"]);
    let mut ticks = 0;
    let mut last_seq = 0;
    while ticks < 2 {
        let v = c.ws.next_json();
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(seq, last_seq + 1, "seq has no gaps");
        last_seq = seq;
        if v["event"] == "tick" {
            assert!(v["payload"]["ts"].as_u64().unwrap() > 0);
            ticks += 1;
        }
    }
}

#[test]
fn presence_is_broadcast_on_connect_and_disconnect() {
    let gw = Gateway::start(EMPTY);
    let mut watcher = gw.client(&["operator.read"]);
    // Changes are coalesced, so wait for the list that shows the state we expect.
    let presence_len = |c: &mut common::Client, want: usize| {
        for _ in 0..20 {
            let ev = c.ws.next_json();
            if ev["event"] == "presence"
                && ev["payload"]["presence"].as_array().unwrap().len() == want
            {
                return true;
            }
        }
        false
    };
    assert!(presence_len(&mut watcher, 1));
    let other = gw.client(&["operator.read"]);
    assert!(presence_len(&mut watcher, 2));
    drop(other);
    assert!(presence_len(&mut watcher, 1));
}

#[test]
fn handshake_times_out() {
    let gw = Gateway::start("[limits]\nhandshake_timeout_ms = 300\n");
    let mut ws = gw.raw();
    ws.next_json();
    let t0 = std::time::Instant::now();
    let close = ws.expect_close();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(close.map(|c| c.0), Some(1000));
}

fn device() -> Device {
    Device::new(42)
}

fn signed_connect(gw: &Gateway, d: &Device, nonce: &str, signed_at: u64, version: u8) -> Value {
    let scopes = ["operator.admin", "operator.read"];
    let f = Signed {
        client_id: "openclaw-tui",
        mode: "ui",
        role: "operator",
        scopes: &scopes,
        token: &gw.token,
        platform: "linux",
        device_family: "Linux",
    };
    json!({"type": "req", "id": "1", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "openclaw-tui", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "ui"},
        "role": "operator", "scopes": scopes, "auth": {"token": gw.token},
        "device": d.block(&f, nonce, signed_at, version)
    }})
}

fn try_device(
    gw: &Gateway,
    nonce_override: Option<&str>,
    skew_ms: i64,
    version: u8,
) -> (Value, Option<(u16, String)>) {
    let d = device();
    let mut ws = gw.raw();
    let ch = ws.next_json();
    let nonce = ch["payload"]["nonce"].as_str().unwrap().to_string();
    let ts = ch["payload"]["ts"].as_u64().unwrap();
    let at = (ts as i64 + skew_ms) as u64;
    ws.send_json(&signed_connect(
        gw,
        &d,
        nonce_override.unwrap_or(&nonce),
        at,
        version,
    ));
    let res = ws.wait_res("1");
    let close = if res["ok"] == true {
        None
    } else {
        ws.expect_close()
    };
    (res, close)
}

#[test]
fn device_signature_good_v3_and_v2() {
    let gw = Gateway::start(EMPTY);
    for v in [3, 2] {
        let (res, _) = try_device(&gw, None, 0, v);
        assert_eq!(res["ok"], true, "v{v}: {res}");
    }
}

#[test]
fn device_signature_bad_is_refused() {
    let gw = Gateway::start(EMPTY);
    let (res, close) = try_device(&gw, Some("someone-elses-nonce"), 0, 3);
    assert_eq!(
        res["error"]["details"]["code"],
        "DEVICE_AUTH_NONCE_MISMATCH"
    );
    assert_eq!(close.unwrap().0, 1008);

    // A valid signature over different fields than those sent.
    let d = device();
    let mut ws = gw.raw();
    let ch = ws.next_json();
    let nonce = ch["payload"]["nonce"].as_str().unwrap().to_string();
    let mut c = signed_connect(&gw, &d, &nonce, ch["payload"]["ts"].as_u64().unwrap(), 3);
    c["params"]["scopes"] = json!(["operator.admin", "operator.read", "operator.write"]);
    ws.send_json(&c);
    let res = ws.wait_res("1");
    assert_eq!(
        res["error"]["details"]["code"],
        "DEVICE_AUTH_SIGNATURE_INVALID"
    );
    assert_eq!(ws.expect_close().unwrap().0, 1008);
}

#[test]
fn device_signature_stale_is_refused() {
    let gw = Gateway::start(EMPTY);
    let (res, close) = try_device(&gw, None, -121_000, 3);
    assert_eq!(
        res["error"]["details"]["code"],
        "DEVICE_AUTH_SIGNATURE_EXPIRED"
    );
    assert_eq!(close.unwrap().0, 1008);
}

#[test]
fn non_websocket_garbage_gets_http_error() {
    let gw = Gateway::start(EMPTY);
    let (status, _) = gw.http("HELLO\r\n\r\n");
    assert_eq!(status, 400);
    let big = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(10_000));
    let (status, _) = gw.http(&big);
    assert_eq!(status, 431);
}
