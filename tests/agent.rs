// Agent runtime against a local OpenAI-compatible test server: streaming, abort, retries,
// failover, the tool loop and its defender gate, approvals, caps and redaction.
mod common;

use std::time::{Duration, Instant};

use common::openai::{Behavior, FakeOpenAi};
use common::{ALL_SCOPES, Client, Gateway, eventually};
use serde_json::{Value, json};

/// A config with `providers` (id, base URL, extra provider lines), the agent's model list and
/// `extra` TOML appended (sections only).
fn config(
    providers: &[(&str, String, &str)],
    model: &str,
    fallbacks: &[&str],
    extra: &str,
) -> String {
    let mut s = format!(
        "[agent]\nmodel = \"{model}\"\nfallbacks = {}\n",
        serde_json::to_string(fallbacks).unwrap()
    );
    for (id, url, lines) in providers {
        s.push_str(&format!(
            "[models.providers.{id}]\nbaseUrl = \"{url}\"\n{lines}\n"
        ));
    }
    s.push_str(extra);
    s
}

/// Fast retries and per-chunk deltas, so tests see every step quickly.
const FAST: &str = "[runtime.selfHealing]\nmaxAttempts = 3\nbackoffMs = 20\n[limits]\nchat_delta_interval_ms = 0\n";

/// Starts a gateway with one extra environment variable (plus the usual random token).
fn start_with_env(cfg: &str, name: &str, value: &str) -> Gateway {
    let token = common::random_token();
    Gateway::start_with(
        cfg,
        &[
            ("OPENCLAW_EDGE_GATEWAY_TOKEN", token.as_str()),
            (name, value),
        ],
        Some(token.clone()),
    )
}

/// Every `chat`/`agent` event of `run` until its lifecycle ends.
fn run_events(c: &mut Client, run: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = c.ws.next_json();
        if v["type"] != "event" || v["payload"]["runId"] != run {
            continue;
        }
        let end = v["event"] == "agent"
            && v["payload"]["stream"] == "lifecycle"
            && matches!(
                v["payload"]["data"]["phase"].as_str(),
                Some("end" | "error")
            );
        out.push(v);
        if end {
            return out;
        }
    }
}

fn chats(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event"] == "chat")
        .map(|e| &e["payload"])
        .collect()
}

fn phases(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "agent" && e["payload"]["stream"] == "lifecycle")
        .map(|e| {
            e["payload"]["data"]["phase"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn last_chat(events: &[Value]) -> Value {
    chats(events).last().map(|v| (*v).clone()).unwrap()
}

#[test]
fn streamed_reply_reaches_the_client_as_ordered_deltas_then_final() {
    let fake = FakeOpenAi::start_with_key("sk-test-key-0001");
    fake.push(Behavior::Text {
        text: "one two three four five six".into(),
        chunks: 6,
        delay_ms: 20,
    });
    let cfg = config(
        &[(
            "fake",
            fake.base_url(),
            "apiKey = \"${FAKE_KEY}\"\nmodels = [{ id = \"m1\", name = \"M One\", contextWindow = 8192, maxTokens = 256 }]",
        )],
        "fake/m1",
        &[],
        FAST,
    );
    let gw = start_with_env(&cfg, "FAKE_KEY", "sk-test-key-0001");
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "hello");
    let ev = run_events(&mut c, &run);
    let chat = chats(&ev);
    let deltas: Vec<&str> = chat
        .iter()
        .filter(|p| p["state"] == "delta")
        .map(|p| p["deltaText"].as_str().unwrap())
        .collect();
    assert!(deltas.len() >= 3, "expected several deltas, got {deltas:?}");
    for w in deltas.windows(2) {
        assert!(
            w[1].starts_with(w[0]) && w[1].len() > w[0].len(),
            "cumulative and growing: {deltas:?}"
        );
    }
    let seqs: Vec<u64> = chat.iter().map(|p| p["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "per-run seq from 1: {seqs:?}"
    );
    assert_eq!(seqs[0], 1);
    let fin = last_chat(&ev);
    assert_eq!(fin["state"], "final");
    assert_eq!(
        fin["message"]["content"][0]["text"],
        "one two three four five six"
    );
    assert_eq!(fin["usage"]["estimated"], false);
    assert_eq!(phases(&ev), ["start", "model", "end"]);

    // What the provider received: the key, a stream request with usage, system + user messages.
    let req = &fake.requests()[0];
    assert_eq!(req.header("authorization"), Some("Bearer sk-test-key-0001"));
    assert!(req.stream());
    assert_eq!(req.body["stream_options"]["include_usage"], true);
    assert_eq!(req.body["max_tokens"], 256);
    let msgs = req.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs.last().unwrap()["content"], "hello");

    // Transcript and usage went to the store.
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "main"})))
        .unwrap();
    let last = h["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"][0]["text"], "one two three four five six");
    assert_eq!(last["provider"], "fake");
    let u = c.call("usage.status", None).unwrap().to_string();
    assert!(
        u.contains("\"provider\":\"fake\"") && u.contains("\"calls\":1"),
        "{u}"
    );

    // models.list is the configured catalog.
    let m = c.call("models.list", Some(json!({}))).unwrap();
    assert_eq!(m["models"][0]["id"], "m1");
    assert_eq!(m["models"][0]["name"], "M One");
    assert_eq!(m["models"][0]["contextWindow"], 8192);
    assert_eq!(m["models"][0]["provider"], "fake");
    // List defaults name the primary model (the TUI shows it before the first reply).
    let l = c.call("sessions.list", Some(json!({"limit": 1}))).unwrap();
    assert_eq!(l["defaults"]["model"], "m1");
    assert_eq!(l["defaults"]["modelProvider"], "fake");
    assert_eq!(l["defaults"]["contextTokens"], 8192);
    // config.get masks the key.
    let cfg = c.call("config.get", None).unwrap().to_string();
    assert!(
        !cfg.contains("sk-test-key-0001"),
        "key leaked in config.get"
    );
}

#[test]
fn abort_mid_stream_closes_the_provider_socket() {
    let fake = FakeOpenAi::start();
    fake.push(Behavior::StallAfter { chunks: 2 });
    let gw = Gateway::start(&config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        FAST,
    ));
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "stall please");
    // Wait until text is streaming, then abort.
    loop {
        let v = c.ws.next_json();
        if v["event"] == "chat" && v["payload"]["state"] == "delta" {
            break;
        }
    }
    let t0 = Instant::now();
    // A second client aborts: `Client::call` would skip the events this client must read.
    let mut other = gw.client(&ALL_SCOPES);
    let r = other
        .call("chat.abort", Some(json!({"sessionKey": "main"})))
        .unwrap();
    assert_eq!(r["aborted"], true);
    let ev = run_events(&mut c, &run);
    assert_eq!(last_chat(&ev)["state"], "aborted");
    assert!(
        fake.wait_client_closed(1, Duration::from_secs(5)),
        "the provider connection was left open after abort"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.request_count(), 1, "an aborted run is not retried");
    let w = c
        .call("agent.wait", Some(json!({"runId": run, "timeoutMs": 1000})))
        .unwrap();
    assert_eq!(w["status"], "error");
}

#[test]
fn transient_errors_retry_within_budget_then_fail_over_in_order() {
    let a = FakeOpenAi::start();
    let b = FakeOpenAi::start();
    for _ in 0..3 {
        a.push(Behavior::Status {
            code: 500,
            retry_after_secs: None,
            message: "boom".into(),
        });
    }
    b.push(Behavior::DropAfter { chunks: 1 });
    b.set_default(Behavior::Echo);
    let cfg = config(
        &[("a", a.base_url(), ""), ("b", b.base_url(), "")],
        "a/m",
        &["b/m"],
        "[runtime.selfHealing]\nmaxAttempts = 2\nbackoffMs = 20\n",
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let r = c
        .call(
            "agent",
            Some(json!({"message": "hi", "idempotencyKey": "fo-1"})),
        )
        .unwrap();
    // `Client::call` returns the first answer on the id: the ack. The final follows on the same id.
    assert_eq!(r["status"], "accepted");
    let fin = c.ws.wait_res(&format!("r{}", 2));
    assert_eq!(fin["ok"], true, "{fin}");
    let p = &fin["payload"];
    assert_eq!(p["status"], "ok");
    assert_eq!(p["result"]["payloads"][0]["text"], "echo: hi");
    let attempts = p["result"]["meta"]["agentMeta"]["attempts"]
        .as_array()
        .unwrap();
    let trail: Vec<String> = attempts
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}",
                a["provider"].as_str().unwrap(),
                a["attempt"],
                a["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(trail, ["a:1:error", "a:2:error", "b:1:error", "b:2:ok"]);
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[2]["error"], "closed");
    assert_eq!(
        a.request_count(),
        2,
        "retry budget (maxAttempts = 2) respected on a"
    );
    assert_eq!(b.request_count(), 2);
}

#[test]
fn rate_limits_honour_retry_after_and_long_waits_fall_over() {
    let a = FakeOpenAi::start();
    a.push(Behavior::Status {
        code: 429,
        retry_after_secs: Some(1),
        message: "slow down".into(),
    });
    let gw = Gateway::start(&config(&[("a", a.base_url(), "")], "a/m", &[], FAST));
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "one");
    let ev = run_events(&mut c, &run);
    assert_eq!(last_chat(&ev)["state"], "final");
    let reqs = a.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {gap:?}"
    );
    assert!(phases(&ev).contains(&"retry".to_string()));

    // A Retry-After longer than provider_max_retry_after_ms is not waited for.
    a.push(Behavior::Status {
        code: 429,
        retry_after_secs: Some(3600),
        message: "quota".into(),
    });
    let t0 = Instant::now();
    let run = common::chat_send(&mut c, "main", "two");
    let ev = run_events(&mut c, &run);
    let last = last_chat(&ev);
    assert_eq!(last["state"], "error");
    assert_eq!(last["errorKind"], "rate_limit");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(a.request_count(), 3);
}

#[test]
fn non_transient_answers_are_not_retried() {
    let a = FakeOpenAi::start_with_key("right-key-123456");
    let b = FakeOpenAi::start();
    b.push(Behavior::Malformed);
    let cfg = config(
        &[
            ("a", a.base_url(), "apiKey = \"wrong-key-123456\""),
            ("b", b.base_url(), ""),
        ],
        "a/m",
        &["b/m"],
        FAST,
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "hi");
    let ev = run_events(&mut c, &run);
    let last = last_chat(&ev);
    assert_eq!(last["state"], "error");
    assert!(
        last["errorMessage"].as_str().unwrap().contains("malformed"),
        "{last}"
    );
    let attempts = last["errorDetail"]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        2,
        "401 and malformed are each tried once: {attempts:?}"
    );
    assert_eq!(attempts[0]["status"], 401);
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
    assert!(phases(&ev).contains(&"fallback_step".to_string()));
}

#[test]
fn a_local_primary_never_falls_over_to_the_cloud_unless_configured() {
    let a = FakeOpenAi::start();
    a.push(Behavior::Status {
        code: 503,
        retry_after_secs: None,
        message: "down".into(),
    });
    let cfg = config(
        &[("a", a.base_url(), "")],
        "a/m",
        &["openai/gpt-4o-mini"],
        "[runtime.selfHealing]\nmaxAttempts = 1\n",
    );
    let gw = start_with_env(&cfg, "OPENAI_API_KEY", "sk-cloud-never-used");
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "hi");
    let ev = run_events(&mut c, &run);
    let last = last_chat(&ev);
    assert_eq!(last["state"], "error");
    let attempts = last["errorDetail"]["attempts"].as_array().unwrap();
    assert!(
        attempts.iter().all(|a| a["provider"] == "a"),
        "{attempts:?}"
    );
    let agents = c.call("agents.list", None).unwrap();
    assert_eq!(agents["agents"][0]["model"]["primary"], "a/m");
    assert_eq!(agents["agents"][0]["model"]["fallbacks"], json!([]));
    assert!(gw.stderr().contains("cloud_fallback"), "the drop is logged");
}

#[test]
fn a_hostile_tool_call_is_blocked_and_the_model_is_told() {
    let fake = FakeOpenAi::start();
    fake.push(Behavior::ToolCall {
        name: "exec".into(),
        arguments: r#"{"command":"rm -rf /"}"#.into(),
    });
    fake.push(Behavior::Text {
        text: "I will not do that.".into(),
        chunks: 1,
        delay_ms: 0,
    });
    let gw = Gateway::start(&config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        FAST,
    ));
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "wipe the disk");
    let ev = run_events(&mut c, &run);
    let tool: Vec<&Value> = ev
        .iter()
        .filter(|e| e["event"] == "agent" && e["payload"]["stream"] == "tool")
        .map(|e| &e["payload"]["data"])
        .collect();
    assert_eq!(tool[0]["phase"], "start");
    assert_eq!(tool[0]["verdict"], "block");
    assert_eq!(tool[1]["isError"], true);
    assert!(
        tool[1]["result"]
            .as_str()
            .unwrap()
            .contains("blocked by the defender")
    );
    assert_eq!(last_chat(&ev)["state"], "final");
    // The second model call carried the refusal as the tool result.
    let second = &fake.requests()[1].body["messages"];
    let tool_msg = second
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("blocked by the defender")
    );
    // The transcript keeps the call and its result.
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "main"})))
        .unwrap()
        .to_string();
    assert!(h.contains("toolCall") && h.contains("toolResult"), "{h}");
}

/// A run whose model calls `time {}` forever, under `limits`: (last chat event, model calls,
/// all events).
fn endless_tool_calls(limits: &str) -> (Value, usize, Vec<Value>) {
    let fake = FakeOpenAi::start();
    fake.set_default(Behavior::ToolCall {
        name: "time".into(),
        arguments: "{}".into(),
    });
    let cfg = config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        &format!("[limits]\n{limits}"),
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", "what time is it, forever");
    let ev = run_events(&mut c, &run);
    (last_chat(&ev), fake.request_count(), ev)
}

#[test]
fn the_tool_loop_is_cut_at_the_limit_and_repeated_calls_are_detected() {
    let (last, calls, ev) = endless_tool_calls(
        "max_tool_iterations = 3\ntool_loop_warning = 2\ntool_loop_critical = 10\n",
    );
    assert_eq!(last["state"], "error");
    let msg = last["errorMessage"].as_str().unwrap();
    assert!(msg.contains("tool loop limit"), "{last}");
    assert_eq!(calls, 3);
    assert!(
        ev.iter()
            .any(|e| e["payload"]["data"]["level"] == "warning")
    );

    // With a low critical threshold the loop detector ends the run first.
    let (last, calls, _) = endless_tool_calls(
        "max_tool_iterations = 8\ntool_loop_warning = 2\ntool_loop_critical = 3\n",
    );
    let msg = last["errorMessage"].as_str().unwrap();
    assert!(msg.contains("tool loop detected"), "{last}");
    assert_eq!(calls, 3);
}

#[test]
fn review_waits_for_an_operator_and_times_out_to_deny() {
    let fake = FakeOpenAi::start();
    fake.push(Behavior::ToolCall {
        name: "exec".into(),
        arguments: r#"{"command":"echo approved-output"}"#.into(),
    });
    fake.push(Behavior::Text {
        text: "ran it".into(),
        chunks: 1,
        delay_ms: 0,
    });
    fake.push(Behavior::ToolCall {
        name: "exec".into(),
        arguments: r#"{"command":"echo second"}"#.into(),
    });
    fake.push(Behavior::Text {
        text: "not allowed".into(),
        chunks: 1,
        delay_ms: 0,
    });
    let cfg = config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        "[tools.exec]\napproval = \"review\"\nallow = [\"echo\"]\n[limits]\napproval_timeout_ms = 1500\n",
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let mut op = gw.client(&["operator.approvals"]);
    let run = common::chat_send(&mut c, "main", "run echo");
    let req = loop {
        let v = op.ws.next_json();
        if v["event"] == "exec.approval.requested" {
            break v["payload"].clone();
        }
    };
    assert_eq!(req["request"]["tool"], "exec");
    assert_eq!(req["request"]["sessionKey"], "agent:main:main");
    let listed = op.call("exec.approval.list", None).unwrap();
    assert_eq!(listed["approvals"][0]["id"], req["id"]);
    op.call(
        "exec.approval.resolve",
        Some(json!({"id": req["id"], "decision": "allow-once"})),
    )
    .unwrap();
    let ev = run_events(&mut c, &run);
    assert_eq!(last_chat(&ev)["state"], "final");
    let tool_msg = fake.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("approved-output"),
        "{tool_msg}"
    );

    // Nobody answers the second request: denied after approval_timeout_ms.
    let run = common::chat_send(&mut c, "main", "again");
    let ev = run_events(&mut c, &run);
    assert_eq!(last_chat(&ev)["state"], "final");
    let denied = fake.requests()[3].body["messages"].to_string();
    assert!(
        denied.contains("not approved by an operator (timeout)"),
        "{denied}"
    );
    let err = op
        .call(
            "exec.approval.resolve",
            Some(json!({"id": "nope", "decision": "deny"})),
        )
        .unwrap_err();
    assert_eq!(err["code"], "INVALID_REQUEST");
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn a_one_gigabyte_answer_is_cut_at_the_cap_without_growing_memory() {
    let fake = FakeOpenAi::start();
    let gib = 1u64 << 30;
    fake.push(Behavior::Huge { bytes: gib });
    fake.push(Behavior::Huge { bytes: gib });
    let stream = config(
        &[("s", fake.base_url(), "")],
        "s/m",
        &["plain/m"],
        "[runtime.selfHealing]\nmaxAttempts = 1\n",
    );
    // The same server as a non-streaming provider: one 1 GiB JSON body with a Content-Length.
    let cfg = format!(
        "{stream}[models.providers.plain]\nbaseUrl = \"{}\"\n[models.providers.plain.options]\nstream = false\n",
        fake.base_url()
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let before = vm_hwm_kib(gw.pid());
    let t0 = Instant::now();
    let run = common::chat_send(&mut c, "main", "big");
    let ev = run_events(&mut c, &run);
    let last = last_chat(&ev);
    assert_eq!(last["state"], "error");
    let attempts = last["errorDetail"]["attempts"].as_array().unwrap();
    let kinds: Vec<&str> = attempts
        .iter()
        .map(|a| a["error"].as_str().unwrap())
        .collect();
    // Streaming: the endless SSE line hits the line cap; plain: the body hits the response cap.
    assert_eq!(kinds, ["malformed", "too_large"], "{attempts:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "stopped early, not after 1 GiB"
    );
    assert!(
        fake.bytes_sent() < 64 << 20,
        "sent {} bytes",
        fake.bytes_sent()
    );
    let grew = vm_hwm_kib(gw.pid()).saturating_sub(before);
    assert!(
        grew < 8 * 1024,
        "VmHWM grew {grew} KiB reading a 1 GiB answer"
    );
    assert!(fake.wait_client_closed(2, Duration::from_secs(5)));
}

#[test]
fn secrets_are_redacted_from_replies_and_transcripts() {
    let fake = FakeOpenAi::start();
    let secret = "sk-live-9f8e7d6c5b4a3210";
    let cfg = config(
        &[("fake", fake.base_url(), &format!("apiKey = \"{secret}\""))],
        "fake/m",
        &[],
        FAST,
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let run = common::chat_send(&mut c, "main", &format!("repeat {secret}"));
    let ev = run_events(&mut c, &run);
    let fin = last_chat(&ev);
    let text = fin["message"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(text, "echo: repeat [REDACTED]");
    for e in &ev {
        assert!(!e.to_string().contains(secret), "secret in event {e}");
    }
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "main"})))
        .unwrap();
    let assistant = h["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string();
    assert!(!assistant.contains(secret), "{assistant}");
}

#[test]
fn agent_methods_answer_with_real_state() {
    let fake = FakeOpenAi::start();
    let cfg = config(&[("fake", fake.base_url(), "")], "fake/m", &[], "").replacen(
        "[agent]\n",
        "[agent]\nname = \"Edgy\"\n",
        1,
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    let id = c.call("agent.identity.get", Some(json!({}))).unwrap();
    assert_eq!(id, json!({"agentId": "main", "name": "Edgy"}));
    let list = c.call("agents.list", None).unwrap();
    assert_eq!(list["defaultId"], "main");
    assert_eq!(list["agents"][0]["runtime"], "provider");
    let run = common::chat_send(&mut c, "main", "wait for me");
    let w = c
        .call("agent.wait", Some(json!({"runId": run, "timeoutMs": 5000})))
        .unwrap();
    assert_eq!(w["status"], "ok");
    assert!(w["endedAt"].as_u64().unwrap() >= w["startedAt"].as_u64().unwrap());
    let w = c
        .call(
            "agent.wait",
            Some(json!({"runId": "unknown-run", "timeoutMs": 50})),
        )
        .unwrap();
    assert_eq!(w["status"], "timeout");
    // Our own CLI waits for the final of `agent` (the first answer is only `accepted`).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openclaw-edge"))
        .args([
            "call",
            "--url",
            &gw.url(),
            "--token",
            &gw.token,
            "--json",
            "--params",
        ])
        .arg(json!({"message": "from the cli", "idempotencyKey": "cli-run-1"}).to_string())
        .arg("agent")
        .output()
        .unwrap();
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["result"]["payloads"][0]["text"], "echo: from the cli");
    let e = c
        .call(
            "send",
            Some(json!({"to": "+1", "message": "x", "idempotencyKey": "s1"})),
        )
        .unwrap_err();
    assert_eq!(e["code"], "UNAVAILABLE", "no Telegram bridge here: {e}");
    assert!(
        e["message"].as_str().unwrap().contains("not running"),
        "{e}"
    );
    let e = c.call("agents.list", Some(json!({"x": 1}))).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
    // The session model override picks the candidate (unknown providers are refused clearly).
    c.call(
        "sessions.patch",
        Some(json!({"key": "main", "model": "nope/x"})),
    )
    .unwrap();
    let run = common::chat_send(&mut c, "main", "x");
    let ev = run_events(&mut c, &run);
    assert!(
        last_chat(&ev)["errorMessage"]
            .as_str()
            .unwrap()
            .contains("unknown provider")
    );
    assert!(eventually(Duration::from_secs(2), || fake.request_count() == 2));
}

/// The final `chat` event (final/error/aborted) of each run in `runs`, read from one client.
fn outcomes(c: &mut Client, runs: &[String]) -> Vec<Value> {
    let mut got: Vec<Option<Value>> = vec![None; runs.len()];
    while got.iter().any(Option::is_none) {
        let v = c.ws.next_json();
        if v["event"] != "chat" {
            continue;
        }
        let p = &v["payload"];
        if !matches!(p["state"].as_str(), Some("final" | "error" | "aborted")) {
            continue;
        }
        if let Some(i) = runs.iter().position(|r| p["runId"] == r.as_str()) {
            got[i] = Some(p.clone());
        }
    }
    got.into_iter().map(Option::unwrap).collect()
}

#[test]
fn a_full_provider_queue_sheds_runs_with_a_clear_error() {
    let fake = FakeOpenAi::start();
    fake.set_default(Behavior::Text {
        text: "slow answer".into(),
        chunks: 2,
        delay_ms: 400,
    });
    let cfg = config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        "[runtime.selfHealing]\nmaxAttempts = 1\n\
         [limits]\nprovider_workers = 1\nprovider_queue = 1\nmax_concurrent_runs = 4\n",
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    // Events are read on a second connection: `send` skips events while it waits for answers.
    let mut events = gw.client(&ALL_SCOPES);
    let runs: Vec<String> = (0..4)
        .map(|i| common::chat_send(&mut c, &format!("s{i}"), "hi"))
        .collect();
    let out = outcomes(&mut events, &runs);
    let ok = out.iter().filter(|p| p["state"] == "final").count();
    let shed = out
        .iter()
        .filter(|p| {
            p["state"] == "error"
                && p["errorMessage"]
                    .as_str()
                    .unwrap()
                    .contains("provider queue full")
        })
        .count();
    assert_eq!(ok + shed, 4, "{out:?}");
    assert!(
        ok >= 2 && shed >= 1,
        "one running, one queued, the rest shed: {out:?}"
    );
    let st = c.call("status", None).unwrap();
    assert_eq!(st["agent"]["providers"]["shed"], shed as u64);
    assert!(
        fake.request_count() <= ok,
        "shed runs never reached the provider"
    );
}

#[test]
fn pending_approvals_are_bounded() {
    let fake = FakeOpenAi::start();
    fake.set_default(Behavior::ToolCall {
        name: "write".into(),
        arguments: r#"{"path":"x.txt","content":"hi"}"#.into(),
    });
    let cfg = config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        "[limits]\nmax_pending_approvals = 1\napproval_timeout_ms = 3000\nmax_tool_iterations = 2\n",
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    // Events are read on a second connection: `send` skips events while it waits for answers.
    let mut events = gw.client(&ALL_SCOPES);
    let runs: Vec<String> = (0..2)
        .map(|i| common::chat_send(&mut c, &format!("w{i}"), "write"))
        .collect();
    // Both runs end at the iteration cap; one waited for (and timed out on) an operator, the
    // other was refused at once because one request was already pending.
    let out = outcomes(&mut events, &runs);
    assert!(out.iter().all(|p| p["state"] == "error"), "{out:?}");
    let sent = fake.requests();
    let results: Vec<String> = sent
        .iter()
        .filter_map(|r| {
            r.body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["role"] == "tool")
                .map(|m| m["content"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(
        results.iter().any(|t| t.contains("(overloaded)")),
        "{results:?}"
    );
    assert!(
        results.iter().any(|t| t.contains("(timeout)")),
        "{results:?}"
    );
}

#[test]
fn the_prompt_is_bounded_by_message_count_and_bytes() {
    let fake = FakeOpenAi::start();
    let cfg = config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        "[limits]\nprompt_max_messages = 3\n",
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    for i in 0..10 {
        c.call(
            "chat.inject",
            Some(json!({"sessionKey": "main", "message": format!("note {i}")})),
        )
        .unwrap();
    }
    let run = common::chat_send(&mut c, "main", "latest");
    run_events(&mut c, &run);
    let msgs = fake.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(msgs.len(), 4, "system + the 3 newest: {msgs:?}");
    assert_eq!(msgs[3]["content"], "latest");
    assert_eq!(msgs[1]["content"], "note 8");

    // A byte budget smaller than the history keeps only what fits (newest first).
    let fake = FakeOpenAi::start();
    let cfg = config(
        &[("fake", fake.base_url(), "")],
        "fake/m",
        &[],
        "[limits]\nprompt_max_bytes = 1024\n",
    );
    let gw = Gateway::start(&cfg);
    let mut c = gw.client(&ALL_SCOPES);
    for _ in 0..10 {
        c.call(
            "chat.inject",
            Some(json!({"sessionKey": "main", "message": "x".repeat(300)})),
        )
        .unwrap();
    }
    let run = common::chat_send(&mut c, "main", "short");
    run_events(&mut c, &run);
    let msgs = fake.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        msgs.len() < 6,
        "about 1 KiB of history: {} messages",
        msgs.len()
    );
    assert_eq!(msgs.last().unwrap()["content"], "short");
}
