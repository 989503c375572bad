// Mesh pairing: an unknown signed device asks, an operator approves, the device gets a token once, and revoke / rotate / remove / reject take effect at once and survive restarts; the request and pairing tables are flooded.
mod common;

use common::device::{Device, Signed};
use common::{ALL_SCOPES, Client, Gateway, Ws};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Connects `dev` with `role` and no gateway secret; `auth` is the `auth` block (a device token
/// or nothing). Returns the connect answer and the socket.
fn connect(
    gw: &Gateway,
    dev: &Device,
    role: &str,
    scopes: &[&str],
    device_token: Option<&str>,
) -> (Value, Ws) {
    let mut ws = gw.raw();
    let ch = ws.next_json();
    let (client_id, mode) = if role == "node" {
        ("node-host", "node")
    } else {
        ("openclaw-tui", "ui")
    };
    let f = Signed {
        client_id,
        mode,
        role,
        scopes,
        token: device_token.unwrap_or(""),
        platform: "linux",
        device_family: "Linux",
    };
    let nonce = ch["payload"]["nonce"].as_str().unwrap();
    let ts = ch["payload"]["ts"].as_u64().unwrap();
    let auth = match device_token {
        Some(t) => json!({"deviceToken": t}),
        None => json!({}),
    };
    ws.send_json(&json!({"type": "req", "id": "c1", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": client_id, "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux",
                   "mode": mode, "displayName": format!("dev-{}", &dev.id[..6])},
        "role": role, "scopes": scopes, "auth": auth,
        "device": dev.block(&f, nonce, ts, 3),
    }}));
    let res = ws.wait_res("c1");
    (res, ws)
}

/// The next event named `name` on an operator socket.
fn event(op: &mut Client, name: &str) -> Value {
    loop {
        let v = op.ws.next_json();
        if v["event"] == name {
            return v["payload"].clone();
        }
    }
}

fn refused(res: &Value) -> (&str, &str) {
    assert_eq!(res["ok"], false, "{res}");
    (
        res["error"]["code"].as_str().unwrap(),
        res["error"]["details"]["code"].as_str().unwrap_or(""),
    )
}

/// Calls `method` and returns its `res` frame and the `event` it caused (which the server sends
/// before the answer).
fn call_seeing(op: &mut Client, method: &str, params: Value, event: &str) -> (Value, Value) {
    let id = op.send(method, Some(params));
    let (mut res, mut ev) = (None, None);
    while res.is_none() || ev.is_none() {
        let v = op.ws.next_json();
        if v["type"] == "res" && v["id"] == id.as_str() {
            res = Some(v);
        } else if v["event"] == event {
            ev = Some(v["payload"].clone());
        }
    }
    (res.unwrap(), ev.unwrap())
}

/// One request on a raw socket; the whole `res` frame.
fn call(ws: &mut Ws, method: &str, params: Value) -> Value {
    ws.send_json(&json!({"type": "req", "id": "q", "method": method, "params": params}));
    ws.wait_res("q")
}

fn files_contain(gw: &Gateway, needle: &str) -> bool {
    let db = gw.db_path();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    [db.into_os_string(), wal].iter().any(|p| {
        std::fs::read(p)
            .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[test]
fn a_node_pairs_gets_a_token_once_and_revoke_rotate_remove_take_effect() {
    let gw = Gateway::start("");
    let mut op = gw.client(&ALL_SCOPES);
    let dev = Device::new(11);

    // Unknown device, no secret: a request, announced to pairing operators, not duplicated.
    let (res, mut ws) = connect(&gw, &dev, "node", &[], None);
    assert_eq!(refused(&res), ("NOT_PAIRED", "PAIRING_REQUIRED"));
    let request_id = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ws.expect_close().map(|c| c.0), Some(1008));
    let ev = event(&mut op, "device.pair.requested");
    assert_eq!(
        (ev["requestId"].as_str(), ev["deviceId"].as_str()),
        (Some(&*request_id), Some(&*dev.id))
    );
    assert_eq!(event(&mut op, "node.pair.requested")["nodeId"], dev.id);
    let (res, _) = connect(&gw, &dev, "node", &[], None);
    assert_eq!(
        res["error"]["details"]["requestId"], request_id,
        "one request per device"
    );
    let list = op.call("node.pair.list", None).unwrap();
    assert_eq!(list["pending"].as_array().unwrap().len(), 1);
    assert_eq!(list["pending"][0]["nodeId"], dev.id);
    assert_eq!(
        op.call("device.pair.list", None).unwrap()["pending"][0]["requestId"],
        request_id
    );

    // Approved: the next connect is admitted and carries the token, this once.
    let (r, ev) = call_seeing(
        &mut op,
        "node.pair.approve",
        json!({"requestId": request_id}),
        "node.pair.resolved",
    );
    assert_eq!(r["payload"]["node"]["nodeId"], dev.id);
    assert_eq!(ev["decision"], "approved");
    let (res, first) = connect(&gw, &dev, "node", &[], None);
    assert_eq!(res["ok"], true, "{res}");
    let token = res["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.len() >= 40 && res["payload"]["auth"]["issuedAtMs"].as_u64().is_some());
    drop(first);
    let (res, _) = connect(&gw, &dev, "node", &[], None);
    assert_eq!(
        refused(&res).1,
        "AUTH_TOKEN_MISSING",
        "the token is not handed out twice"
    );
    let (res, mut live) = connect(&gw, &dev, "node", &[], Some(&token));
    assert_eq!(res["ok"], true, "{res}");
    assert!(res["payload"]["auth"].get("deviceToken").is_none());
    let n = op
        .call("node.describe", Some(json!({"nodeId": dev.id})))
        .unwrap();
    assert_eq!(
        (n["paired"].as_bool(), n["connected"].as_bool()),
        (Some(true), Some(true))
    );
    let (res, _) = connect(&gw, &dev, "node", &[], Some("not-the-token"));
    assert_eq!(refused(&res).1, "AUTH_DEVICE_TOKEN_MISMATCH");

    // Revoked: the live connection closes and the token no longer works.
    let r = op
        .call(
            "device.token.revoke",
            Some(json!({"deviceId": dev.id, "role": "node"})),
        )
        .unwrap();
    assert!(r["revokedAtMs"].as_u64().is_some());
    let close = live.expect_close().unwrap();
    assert_eq!(close, (1008, "device token revoked".to_string()));
    let (res, _) = connect(&gw, &dev, "node", &[], Some(&token));
    assert_eq!(refused(&res).1, "AUTH_DEVICE_TOKEN_MISMATCH");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );

    // Rotated: a new token in-band; only it works, also after a restart; only its hash is stored.
    let r = op
        .call(
            "device.token.rotate",
            Some(json!({"deviceId": dev.id, "role": "node"})),
        )
        .unwrap();
    assert_eq!(r["tokenDelivery"], "in-band");
    let rotated = r["token"].as_str().unwrap().to_string();
    assert_ne!(rotated, token);
    assert_eq!(
        connect(&gw, &dev, "node", &[], Some(&rotated)).0["ok"],
        true
    );
    assert_eq!(
        refused(&connect(&gw, &dev, "node", &[], Some(&token)).0).1,
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    drop(op);
    let mut gw = gw.restart();
    let (res, mut live) = connect(&gw, &dev, "node", &[], Some(&rotated));
    assert_eq!(
        res["ok"], true,
        "paired and rotated state survived the restart: {res}"
    );
    let mut op = gw.client(&ALL_SCOPES);
    assert_eq!(
        op.call("node.pair.list", None).unwrap()["paired"][0]["connected"],
        true
    );

    // Removed: the live connection closes and the device has to ask again; then rejected.
    op.call("node.pair.remove", Some(json!({"nodeId": dev.id})))
        .unwrap();
    assert_eq!(
        live.expect_close().map(|c| c.1),
        Some("device unpaired".to_string())
    );
    let (res, _) = connect(&gw, &dev, "node", &[], None);
    assert_eq!(refused(&res).1, "PAIRING_REQUIRED");
    let again = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let (r, ev) = call_seeing(
        &mut op,
        "device.pair.reject",
        json!({"requestId": again}),
        "device.pair.resolved",
    );
    assert_eq!(r["payload"]["decision"], "rejected");
    assert_eq!(
        (ev["decision"].as_str(), ev["requestId"].as_str()),
        (Some("rejected"), Some(&*again))
    );
    assert!(
        op.call("device.pair.list", None).unwrap()["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let e = op
        .call("device.pair.approve", Some(json!({"requestId": again})))
        .unwrap_err();
    assert_eq!(e["message"], "unknown requestId");

    drop(op);
    gw.kill9();
    let hash: String = Sha256::digest(rotated.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        !files_contain(&gw, &rotated) && !files_contain(&gw, &token),
        "no token at rest"
    );
    assert!(files_contain(&gw, &hash), "its SHA-256 is");
}

#[test]
fn pairing_tables_are_bounded_and_operator_devices_get_their_scopes() {
    let gw = Gateway::start(
        "[limits]\nmesh_max_pair_requests = 2\nmesh_max_paired_devices = 1\nauth_fail_max = 100\n",
    );
    let mut op = gw.client(&ALL_SCOPES);
    let devs: Vec<Device> = (21..24).map(Device::new).collect();
    let mut ids = Vec::new();
    for d in &devs[..2] {
        let (res, _) = connect(&gw, d, "operator", &["operator.read"], None);
        assert_eq!(refused(&res).1, "PAIRING_REQUIRED");
        ids.push(
            res["error"]["details"]["requestId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (res, mut ws) = connect(&gw, &devs[2], "operator", &["operator.read"], None);
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    assert_eq!(res["error"]["retryable"], true);
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.mesh_max_pair_requests")
    );
    assert_eq!(ws.expect_close().map(|c| c.0), Some(1013));
    assert_eq!(
        op.call("device.pair.list", None).unwrap()["pending"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    op.call("device.pair.approve", Some(json!({"requestId": ids[0]})))
        .unwrap();
    let e = op
        .call("device.pair.approve", Some(json!({"requestId": ids[1]})))
        .unwrap_err();
    assert_eq!(e["code"], "UNAVAILABLE");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("limits.mesh_max_paired_devices"),
        "{e}"
    );
    let list = op.call("device.pair.list", None).unwrap();
    assert_eq!(
        list["pending"][0]["requestId"], ids[1],
        "the refused request stays"
    );
    assert_eq!(list["paired"].as_array().unwrap().len(), 1);
    let e = op
        .call("node.pair.approve", Some(json!({"requestId": ids[1]})))
        .unwrap_err();
    assert_eq!(
        e["message"], "unknown requestId",
        "an operator request is not a node request"
    );

    // The paired operator device gets what its pairing granted, no more.
    let (res, ws) = connect(
        &gw,
        &devs[0],
        "operator",
        &["operator.read", "operator.write"],
        None,
    );
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["scopes"], json!(["operator.read"]));
    let mut ws = ws;
    assert_eq!(call(&mut ws, "health", json!({}))["ok"], true);
    let r = call(
        &mut ws,
        "chat.send",
        json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k"}),
    );
    assert_eq!(r["error"]["code"], "FORBIDDEN", "{r}");
    let r = op
        .call(
            "device.pair.rename",
            Some(json!({"deviceId": devs[0].id, "label": "laptop"})),
        )
        .unwrap();
    assert_eq!(r["label"], "laptop");
    assert_eq!(
        op.call("device.pair.list", None).unwrap()["paired"][0]["displayName"],
        "laptop"
    );
    let e = op
        .call(
            "device.token.rotate",
            Some(json!({"deviceId": devs[0].id, "role": "operator", "scopes": ["operator.admin"]})),
        )
        .unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("not granted"),
        "{e}"
    );
}
