// Edge planning methods against the real binary: edge.router.plan from measured chats (fast, slow and failing models), edge.personality.profile in the real system message and across a restart, edge.identity.trust.status through pairing and a mesh link, edge.handoff.plan with one peer up and one down.
mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::device::{Device, Signed};
use common::openai::{Behavior, FakeOpenAi};
use common::{ALL_SCOPES, Client, Gateway, Ws, chat_turn, eventually};
use serde_json::{Value, json};

fn bad_request(c: &mut Client, method: &str, params: Value, needle: &str) {
    let e = c.call(method, Some(params.clone())).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST", "{method} {params}: {e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains(needle),
        "{method} {params}: {msg:?} lacks {needle:?}"
    );
}

fn candidate<'a>(plan: &'a Value, r: &str) -> &'a Value {
    plan["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ref"] == r)
        .unwrap_or_else(|| panic!("{r} not in {plan}"))
}

fn plan(c: &mut Client, params: Value) -> Value {
    c.call("edge.router.plan", Some(params)).unwrap()
}

#[test]
fn router_plan_ranks_models_by_what_the_usage_store_measured() {
    // Three upstreams: answers at once, answers after ~300 ms, always 503.
    let fast = FakeOpenAi::start();
    let slow = FakeOpenAi::start();
    slow.set_default(Behavior::Text {
        text: "slow but sure".into(),
        chunks: 3,
        delay_ms: 150,
    });
    let broken = FakeOpenAi::start();
    broken.set_default(Behavior::Status {
        code: 503,
        retry_after_secs: None,
        message: "overloaded".into(),
    });
    let cfg = format!(
        "[agent]\nmodel = \"fast/m\"\n\
         [runtime.selfHealing]\nmaxAttempts = 2\nbackoffMs = 10\n\
         [limits]\nrouter_max_samples = 2\n\
         [models.providers.fast]\nbaseUrl = \"{}\"\n\
         models = [{{ id = \"m\", cost = {{ input = 5.0, output = 15.0 }} }}, {{ id = \"idle\" }}]\n\
         [models.providers.slow]\nbaseUrl = \"{}\"\n\
         models = [{{ id = \"m\", cost = {{ input = 0.1, output = 0.2 }} }}]\n\
         [models.providers.broken]\nbaseUrl = \"{}\"\nmodels = [{{ id = \"m\" }}]\n",
        fast.base_url(),
        slow.base_url(),
        broken.base_url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);

    // Nothing measured yet: every configured model listed, none ranked, no choice.
    let p = plan(&mut c, json!({}));
    assert_eq!(p["objective"], "balanced");
    assert_eq!(p["candidates"].as_array().unwrap().len(), 4, "{p}");
    assert!(p["choice"].is_null(), "{p}");
    assert!(
        p["reason"].as_str().unwrap().contains("nothing measured"),
        "{p}"
    );
    for cand in p["candidates"].as_array().unwrap() {
        assert_eq!(cand["measured"], false, "{cand}");
        assert!(cand["rank"].is_null() && cand["score"].is_null() && cand["latencyMs"].is_null());
    }

    for i in 0..3 {
        chat_turn(&mut c, "agent:main:fast", &format!("hello {i}"));
    }
    for (key, model) in [
        ("agent:main:slow", "slow/m"),
        ("agent:main:broken", "broken/m"),
    ] {
        c.call("sessions.patch", Some(json!({"key": key, "model": model})))
            .unwrap();
    }
    for i in 0..3 {
        chat_turn(&mut c, "agent:main:slow", &format!("take your time {i}"));
    }
    // Each of these fails twice on broken/m (503, retried once), then fast/m answers.
    for i in 0..2 {
        chat_turn(&mut c, "agent:main:broken", &format!("try {i}"));
    }
    assert_eq!(broken.request_count(), 4);

    let p = plan(&mut c, json!({"objective": "latency"}));
    let (f, s, b, idle) = (
        candidate(&p, "fast/m"),
        candidate(&p, "slow/m"),
        candidate(&p, "broken/m"),
        candidate(&p, "fast/idle"),
    );
    assert_eq!(p["choice"]["ref"], "fast/m", "{p}");
    assert_eq!(
        (f["role"].as_str(), f["rank"].as_u64()),
        (Some("primary"), Some(1))
    );
    assert_eq!(
        (f["okCalls"].as_u64(), f["errors"].as_u64()),
        (Some(5), Some(0)),
        "{f}"
    );
    assert_eq!(
        (s["okCalls"].as_u64(), s["calls"].as_u64()),
        (Some(3), Some(3)),
        "{s}"
    );
    assert!(s["latencyMs"]["p50"].as_u64().unwrap() >= 300, "{s}");
    assert!(
        f["latencyMs"]["p50"].as_u64().unwrap() < s["latencyMs"]["p50"].as_u64().unwrap(),
        "{p}"
    );
    // limits.router_max_samples = 2: the percentiles read the newest two runs, all three count.
    assert_eq!(p["latencySampleLimit"], 2);
    assert_eq!(s["latencyMs"]["samples"], 2);
    assert_eq!(s["latencyMs"]["sampleCapped"], true);
    assert_eq!(f["latencyMs"]["samples"], 2);
    assert!(s["latencyMs"]["p95"].as_u64() >= s["latencyMs"]["p50"].as_u64());
    assert_eq!(
        s["score"].as_f64(),
        s["latencyMs"]["p50"].as_f64(),
        "latency: score = p50"
    );
    // The failing model: every call measured as an error with its kind, never ranked.
    assert_eq!(
        (
            b["calls"].as_u64(),
            b["errors"].as_u64(),
            b["okCalls"].as_u64()
        ),
        (Some(4), Some(4), Some(0)),
        "{b}"
    );
    assert_eq!(b["errorRate"], 1.0);
    assert_eq!(b["errorKinds"], json!({"status_503": 4}));
    assert!(
        b["rank"].is_null() && b["latencyMs"].is_null() && b["price"].is_null(),
        "{b}"
    );
    assert_eq!(b["measured"], true);
    assert!(
        idle["measured"] == false && idle["rank"].is_null(),
        "{idle}"
    );
    // Listed order: ranked, then measured without a score, then unmeasured.
    let order: Vec<&str> = p["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ref"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["fast/m", "slow/m", "broken/m", "fast/idle"]);

    let p = plan(&mut c, json!({"objective": "cost"}));
    assert_eq!(p["choice"]["ref"], "slow/m", "{p}");
    let s = candidate(&p, "slow/m");
    assert_eq!(
        s["price"],
        json!({"inputPerMtok": 0.1, "outputPerMtok": 0.2})
    );
    // The blended price uses the measured token mix the answer reports.
    let (mi, mo) = (
        p["tokenMix"]["input"].as_f64().unwrap(),
        p["tokenMix"]["output"].as_f64().unwrap(),
    );
    assert_eq!(p["tokenMix"]["source"], "measured");
    let blended = s["blendedPricePerMtok"].as_f64().unwrap();
    assert!((blended - (0.1 * mi + 0.2 * mo)).abs() < 1e-3, "{p}");

    let p = plan(&mut c, json!({"objective": "reliability"}));
    let choice = p["choice"]["ref"].as_str().unwrap();
    assert_eq!(choice, "fast/m", "no errors and the most calls: {p}");
    assert_eq!(candidate(&p, "fast/m")["errorRate"], 0.0);

    // Balanced: the answer's own figures reproduce its scores and its choice.
    let p = plan(
        &mut c,
        json!({"objective": "balanced", "windowMs": 3_600_000}),
    );
    assert_eq!(p["costCounted"], true, "both scored models are priced: {p}");
    let scored: Vec<&Value> = p["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["score"].is_number())
        .collect();
    assert_eq!(scored.len(), 2);
    let exp = |c: &Value| {
        let ok = 1.0 - c["errorRate"].as_f64().unwrap();
        (
            c["latencyMs"]["p50"].as_f64().unwrap() / ok,
            c["blendedPricePerMtok"].as_f64().unwrap() / ok,
        )
    };
    let max_t = scored.iter().map(|c| exp(c).0).fold(0.0, f64::max);
    let max_c = scored.iter().map(|c| exp(c).1).fold(0.0, f64::max);
    for c in &scored {
        let want = exp(c).0 / max_t + exp(c).1 / max_c;
        assert!((c["score"].as_f64().unwrap() - want).abs() < 1e-4, "{c}");
    }
    let best = scored
        .iter()
        .min_by(|a, b| {
            a["score"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["score"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(p["choice"]["ref"], best["ref"]);
    assert_eq!(best["rank"], 1);

    // Only the candidates asked for.
    let p = plan(
        &mut c,
        json!({"candidates": ["slow/m", "broken/m", "slow/m"]}),
    );
    assert_eq!(p["candidates"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(p["choice"]["ref"], "slow/m");

    // Failed calls are not usage: the token aggregates count the 8 runs only.
    let cost = c.call("usage.cost", Some(json!({"days": 1}))).unwrap();
    assert_eq!(cost["totals"]["calls"], 8, "{cost}");
    let logs = c
        .call(
            "sessions.usage.logs",
            Some(json!({"key": "agent:main:broken", "limit": 10})),
        )
        .unwrap();
    let models: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["m", "m"], "{logs}");
    assert!(
        logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["provider"] == "fast")
    );

    // Bad params name what is wrong.
    let m = "edge.router.plan";
    bad_request(&mut c, m, json!({"objective": "speed"}), "objective");
    bad_request(&mut c, m, json!({"windowMs": 5}), "windowMs");
    bad_request(&mut c, m, json!({"candidates": []}), "candidates");
    bad_request(
        &mut c,
        m,
        json!({"candidates": ["nope/x"]}),
        "candidates[0]",
    );
    bad_request(
        &mut c,
        m,
        json!({"candidates": ["fast/zzz"]}),
        "not a configured model",
    );
    bad_request(&mut c, m, json!({"limit": 3}), "unknown field");
}

#[test]
fn the_persona_is_in_the_real_system_message_switches_and_survives_a_restart() {
    let fake = FakeOpenAi::start();
    let cfg = format!(
        "[agent]\nmodel = \"fake/m\"\nsystem_prompt = \"BASE PROMPT\"\npersona = \"butler\"\n\
         [agent.personas.butler]\nprompt = \"Speak like a calm butler.\"\ntraits = [\"formal\", \"patient\"]\n\
         [agent.personas.pirate]\nprompt = \"Answer like a cheerful pirate.\"\n\
         [memory]\nenabled = false\n\
         [models.providers.fake]\nbaseUrl = \"{}\"\n",
        fake.base_url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let system = |fake: &FakeOpenAi| {
        let body = fake.requests().last().unwrap().body.clone();
        assert_eq!(body["messages"][0]["role"], "system", "{body}");
        body["messages"][0]["content"].as_str().unwrap().to_string()
    };
    let m = "edge.personality.profile";

    let p = c.call(m, None).unwrap();
    assert_eq!(
        (p["active"].as_str(), p["source"].as_str()),
        (Some("butler"), Some("config"))
    );
    assert_eq!(p["default"], "butler");
    assert_eq!(p["persona"]["traits"], json!(["formal", "patient"]));
    assert_eq!(p["personas"].as_array().unwrap().len(), 2);
    assert!(p.get("changed").is_none());
    chat_turn(&mut c, "main", "hello");
    let want = "BASE PROMPT\n\nSpeak like a calm butler.\nTraits: formal, patient";
    assert_eq!(system(&fake), want);
    assert_eq!(p["systemPromptBytes"], want.len());

    let p = c.call(m, Some(json!({"profile": "pirate"}))).unwrap();
    assert_eq!(
        (p["active"].as_str(), p["changed"].as_bool()),
        (Some("pirate"), Some(true))
    );
    assert_eq!(p["source"], "stored");
    chat_turn(&mut c, "main", "again");
    assert_eq!(
        system(&fake),
        "BASE PROMPT\n\nAnswer like a cheerful pirate."
    );
    let again = c.call(m, Some(json!({"profile": "pirate"}))).unwrap();
    assert_eq!(again["changed"], false);

    // Reading needs read; setting needs write. Bad input names the param.
    let mut ro = gw.client(&["operator.read"]);
    assert_eq!(ro.call(m, Some(json!({}))).unwrap()["active"], "pirate");
    let e = ro.call(m, Some(json!({"profile": "butler"}))).unwrap_err();
    assert_eq!(e["code"], "FORBIDDEN", "{e}");
    assert_eq!(e["details"]["missingScope"], "operator.write");
    bad_request(&mut c, m, json!({"profile": "ghost"}), "profile \"ghost\"");
    bad_request(&mut c, m, json!({"profile": 5}), "invalid type");
    bad_request(&mut c, m, json!({"persona": "pirate"}), "unknown field");
    assert_eq!(
        c.call(m, None).unwrap()["active"],
        "pirate",
        "nothing changed"
    );

    // Cleared: the plain system prompt.
    let p = c.call(m, Some(json!({"profile": null}))).unwrap();
    assert!(p["active"].is_null() && p["persona"].is_null(), "{p}");
    chat_turn(&mut c, "main", "plain");
    assert_eq!(system(&fake), "BASE PROMPT");

    // The choice is kept in the state dir (0600) and survives a restart.
    c.call(m, Some(json!({"profile": "pirate"}))).unwrap();
    let file = gw.dir.join("state/persona.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(c);
    drop(ro);
    let gw = gw.restart();
    let mut c = gw.client(&ALL_SCOPES);
    let p = c.call(m, None).unwrap();
    assert_eq!(
        (p["active"].as_str(), p["source"].as_str()),
        (Some("pirate"), Some("stored"))
    );
    chat_turn(&mut c, "main", "after restart");
    assert_eq!(
        system(&fake),
        "BASE PROMPT\n\nAnswer like a cheerful pirate."
    );
}

/// Connects `dev` as an operator with no gateway secret (and a device token if given).
fn device_connect(gw: &Gateway, dev: &Device, device_token: Option<&str>) -> (Value, Ws) {
    let mut ws = gw.raw();
    let ch = ws.next_json();
    let scopes = ["operator.read"];
    let f = Signed {
        client_id: "openclaw-tui",
        mode: "ui",
        role: "operator",
        scopes: &scopes,
        token: device_token.unwrap_or(""),
        platform: "linux",
        device_family: "Linux",
    };
    let nonce = ch["payload"]["nonce"].as_str().unwrap();
    let ts = ch["payload"]["ts"].as_u64().unwrap();
    let auth = device_token.map_or(json!({}), |t| json!({"deviceToken": t}));
    ws.send_json(
        &json!({"type": "req", "id": "c1", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "openclaw-tui", "version": "2026.9.6", "platform": "linux",
                       "deviceFamily": "Linux", "mode": "ui", "displayName": "laptop"},
            "role": "operator", "scopes": scopes, "auth": auth,
            "device": dev.block(&f, nonce, ts, 3),
        }}),
    );
    let res = ws.wait_res("c1");
    (res, ws)
}

fn trust(c: &mut Client) -> Value {
    c.call("edge.identity.trust.status", None).unwrap()
}

fn device_in<'a>(t: &'a Value, list: &str, id: &str) -> &'a Value {
    t[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["deviceId"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}: {t}"))
}

#[test]
fn trust_status_follows_pairing_and_the_mesh_link() {
    let a = Gateway::start("");
    let mut op = a.client(&ALL_SCOPES);
    let t = trust(&mut op);
    assert!(
        t["identity"].is_null(),
        "no peers, no bridge: no identity file: {t}"
    );
    assert!(
        t["identityNote"]
            .as_str()
            .unwrap()
            .contains("bridge-device.json")
    );
    assert_eq!(
        t["summary"],
        json!({"paired": 0, "trusted": 0, "approved": 0, "revoked": 0, "pending": 0,
               "peers": 0, "peersLinked": 0})
    );

    // Unknown device: pending.
    let dev = Device::new(21);
    let (res, _ws) = device_connect(&a, &dev, None);
    assert_eq!(res["error"]["details"]["code"], "PAIRING_REQUIRED", "{res}");
    let request_id = res["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let t = trust(&mut op);
    let p = device_in(&t, "pending", &dev.id);
    assert_eq!(
        (p["trust"].as_str(), p["requestId"].as_str()),
        (Some("pending"), Some(&*request_id))
    );
    assert_eq!(p["fingerprint"].as_str().unwrap().len(), 19);
    assert_eq!(t["summary"]["pending"], 1);

    // Approved, no token yet; then trusted once it connected and got its token.
    op.call(
        "device.pair.approve",
        Some(json!({"requestId": request_id})),
    )
    .unwrap();
    let t = trust(&mut op);
    assert_eq!(
        device_in(&t, "devices", &dev.id)["trust"],
        "approved",
        "{t}"
    );
    assert_eq!(t["summary"]["pending"], 0);
    let (res, ws) = device_connect(&a, &dev, None);
    assert_eq!(res["ok"], true, "{res}");
    let t = trust(&mut op);
    let d = device_in(&t, "devices", &dev.id);
    assert_eq!(
        (d["trust"].as_str(), d["connections"].as_u64()),
        (Some("trusted"), Some(1)),
        "{d}"
    );
    assert_eq!(d["token"]["issued"], true);
    assert!(d["token"]["issuedAtMs"].as_u64().is_some());
    assert_eq!(t["summary"]["trusted"], 1);

    // Revoked: the state says so and its connection is gone.
    op.call(
        "device.token.revoke",
        Some(json!({"deviceId": dev.id, "role": "operator"})),
    )
    .unwrap();
    drop(ws);
    let t = trust(&mut op);
    let d = device_in(&t, "devices", &dev.id);
    assert_eq!(d["trust"], "revoked", "{d}");
    assert!(d["token"]["revokedAtMs"].as_u64().is_some());
    assert_eq!(
        (
            t["summary"]["revoked"].as_u64(),
            t["summary"]["trusted"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert!(eventually(Duration::from_secs(5), || {
        device_in(&trust(&mut op), "devices", &dev.id)["connections"] == 0
    }));

    // An instance with a peer: its own identity (the file it signs with) and a live link.
    let b = Gateway::start(&format!(
        "[mesh]\nname = \"b\"\npeers = [{{name = \"a\", url = \"{}\", token = \"{}\", join = true}}]\n",
        a.url(),
        a.token
    ));
    let mut op_b = b.client(&ALL_SCOPES);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(b.dir.join("state/bridge-device.json")).unwrap(),
    )
    .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        trust(&mut op_b)["peers"][0]["connected"] == true
    }));
    let t = trust(&mut op_b);
    assert_eq!(t["identity"]["deviceId"], file["deviceId"], "{t}");
    assert_eq!(t["identity"]["publicKey"], file["publicKey"]);
    assert_eq!(t["identity"]["usedByMesh"], true);
    let id = file["deviceId"].as_str().unwrap();
    let want = format!("{}-{}-{}-{}", &id[0..4], &id[4..8], &id[8..12], &id[12..16]);
    assert_eq!(t["identity"]["fingerprint"], want.as_str());
    let peer = &t["peers"][0];
    assert_eq!(
        (peer["name"].as_str(), peer["auth"].as_str()),
        (Some("a"), Some("token"))
    );
    assert!(peer["link"]["connects"].as_u64().unwrap() >= 1);
    assert_eq!(
        (
            t["summary"]["peers"].as_u64(),
            t["summary"]["peersLinked"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let e = op_b
        .call("edge.identity.trust.status", Some(json!({"x": 1})))
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
}

fn handoff(c: &mut Client, params: Value) -> Value {
    c.call("edge.handoff.plan", Some(params)).unwrap()
}

#[test]
fn handoff_plan_probes_the_peers_now_and_never_pretends_to_execute() {
    let up = Gateway::start("");
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}", l.local_addr().unwrap())
    };
    let c_cfg = format!(
        "[agent]\nruntime = \"test-double\"\n[mesh]\npeers = [\
         {{name = \"up\", url = \"{}\", token = \"{}\"}}, {{name = \"down\", url = \"{down}\", token = \"t\"}}]\n",
        up.url(),
        up.token
    );
    let gw = Gateway::start(&c_cfg);
    let mut c = gw.client(&ALL_SCOPES);
    chat_turn(&mut c, "main", "move me");
    let history = c
        .call("chat.history", Some(json!({"sessionKey": "main"})))
        .unwrap();
    let stored = history["messages"].as_array().unwrap().len() as u64;
    assert_eq!(stored, 2);

    let m = "edge.handoff.plan";
    let p = handoff(&mut c, json!({"sessionKey": "main"}));
    assert_eq!(p["sessionKey"], "agent:main:main");
    let s = &p["session"];
    assert_eq!(
        (s["exists"].as_bool(), s["messages"].as_u64()),
        (Some(true), Some(stored))
    );
    assert!(
        s["transcriptBytes"].as_u64().unwrap() > "move me".len() as u64,
        "{s}"
    );
    assert!(s["activeRunId"].is_null() && s["queuedTurns"] == 0);
    let peers = p["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(
        (peers[0]["name"].as_str(), peers[0]["status"].as_str()),
        (Some("up"), Some("ok"))
    );
    assert!(peers[0]["rttMs"].as_u64().is_some());
    assert_eq!(peers[1]["status"], "error", "{p}");
    assert!(peers[1]["rttMs"].is_null() && peers[1]["error"].is_string());
    assert_eq!(p["target"]["name"], "up", "{p}");
    assert_eq!(p["executable"], false);
    assert!(p["notExecutable"].as_str().unwrap().contains("not built"));
    let steps = p["steps"].as_array().unwrap();
    let import = steps.iter().find(|s| s["action"] == "import").unwrap();
    assert_eq!(import["built"], false);
    assert!(p["probe"]["deadlineMs"].as_u64().unwrap() <= 2000);

    // The requested peer is down: no target, the reason, and the reachable alternative.
    let p = handoff(&mut c, json!({"sessionKey": "main", "peer": "down"}));
    assert!(p["target"].is_null(), "{p}");
    assert!(
        p["reason"]
            .as_str()
            .unwrap()
            .contains("\"down\" is not reachable: error"),
        "{p}"
    );
    assert_eq!(p["alternative"]["name"], "up");
    assert_eq!(p["requestedPeer"], "down");
    let p = handoff(
        &mut c,
        json!({"sessionKey": "main", "peer": "edge:up", "timeoutMs": 1500}),
    );
    assert_eq!(p["target"]["name"], "up");
    assert_eq!(p["probe"]["deadlineMs"], 1500);

    bad_request(&mut c, m, json!({}), "sessionKey is required");
    bad_request(
        &mut c,
        m,
        json!({"sessionKey": "agent:main:nope"}),
        "session not found",
    );
    bad_request(
        &mut c,
        m,
        json!({"sessionKey": "main", "peer": "mars"}),
        "peer \"mars\"",
    );
    bad_request(
        &mut c,
        m,
        json!({"sessionKey": "main", "to": "up"}),
        "unknown field",
    );

    // No peers configured: a clear answer, not a target.
    let lone = Gateway::start("[agent]\nruntime = \"test-double\"\n");
    let mut l = lone.client(&ALL_SCOPES);
    chat_turn(&mut l, "main", "stay");
    let p = handoff(&mut l, json!({"sessionKey": "main"}));
    assert!(p["target"].is_null() && p["peers"] == json!([]), "{p}");
    assert!(
        p["reason"].as_str().unwrap().contains("no [mesh] peers"),
        "{p}"
    );
    assert_eq!(p["session"]["messages"], 2);
}
