// Session RPCs, chat runs and queue modes over the real protocol, plus restart and schema refusal.
mod common;

use std::time::Duration;

use common::{ALL_SCOPES, Client, Gateway, eventually};
use serde_json::{Value, json};

const TEST_DOUBLE: &str =
    "[agent]\nruntime = \"test-double\"\ntest_delay_ms = 400\nnames = [\"edgebot\"]\n";

fn err_msg(e: &Value) -> String {
    e["message"].as_str().unwrap_or_default().to_string()
}

/// Events named `name` read until `pred` holds for one of them (bounded by the client timeout).
fn wait_event(c: &mut Client, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = c.ws.next_json();
        if v["type"] == "event" && v["event"] == name && pred(&v["payload"]) {
            return v["payload"].clone();
        }
    }
}

#[test]
fn session_keys_canonicalize_and_patch_validates_to_upstream_sets() {
    let gw = Gateway::start("");
    let mut c = gw.client(&ALL_SCOPES);
    let r = c
        .call(
            "sessions.patch",
            Some(json!({"key": "telegram:dm:42", "thinkingLevel": "MID", "sendPolicy": "deny"})),
        )
        .unwrap();
    assert_eq!(r["key"], "agent:main:telegram:direct:42");
    assert_eq!(r["entry"]["thinkingLevel"], "medium");
    assert_eq!(r["entry"]["sendPolicy"], "deny");
    assert_eq!(r["entry"]["kind"], "direct");
    assert_eq!(r["entry"]["channel"], "telegram");
    // null clears.
    let r = c
        .call(
            "sessions.patch",
            Some(json!({"key": "agent:main:telegram:direct:42", "sendPolicy": null})),
        )
        .unwrap();
    assert!(r["entry"].get("sendPolicy").is_none(), "{r}");
    let cases = [
        (
            json!({"key": "main", "thinkingLevel": "huge"}),
            "invalid thinkingLevel (use off|minimal|low|medium|high|xhigh)",
        ),
        (
            json!({"key": "main", "verboseLevel": "loud"}),
            "invalid verboseLevel (use off|on|full)",
        ),
        (
            json!({"key": "main", "reasoningLevel": 1}),
            "invalid reasoningLevel (use off|on|stream)",
        ),
        (
            json!({"key": "main", "elevatedLevel": "root"}),
            "invalid elevatedLevel (use off|on|ask|full)",
        ),
        (
            json!({"key": "main", "execAsk": "never"}),
            "invalid execAsk (use off|on-miss|always)",
        ),
        (
            json!({"key": "main", "bogus": 1}),
            "invalid sessions.patch params: unexpected property \"bogus\"",
        ),
        (
            json!({"key": "agent:main"}),
            "malformed agent session key: expected agent:<agentId>:<rest>",
        ),
        (
            json!({"key": "main", "spawnedBy": "main"}),
            "spawnedBy/spawnDepth can only be set on subagent sessions (agent:<id>:subagent:…)",
        ),
    ];
    for (params, want) in cases {
        let e = c.call("sessions.patch", Some(params.clone())).unwrap_err();
        assert_eq!(e["code"], "INVALID_REQUEST", "{params}");
        assert_eq!(err_msg(&e), want, "{params}");
    }
    // Labels: current upstream allows up to 512 characters; unique across sessions.
    let long = "L".repeat(200);
    let r = c
        .call(
            "sessions.patch",
            Some(json!({"key": "main", "label": long})),
        )
        .unwrap();
    assert_eq!(r["entry"]["label"], long);
    let e = c
        .call(
            "sessions.patch",
            Some(json!({"key": "cron:nightly", "label": long})),
        )
        .unwrap_err();
    assert!(err_msg(&e).starts_with("label already in use"), "{e}");
    // Subagent spawn fields: set once, immutable after.
    let sub = "agent:main:subagent:abc";
    c.call(
        "sessions.patch",
        Some(json!({"key": sub, "spawnedBy": "main", "spawnDepth": 1})),
    )
    .unwrap();
    let e = c
        .call(
            "sessions.patch",
            Some(json!({"key": sub, "spawnedBy": "cron:x"})),
        )
        .unwrap_err();
    assert_eq!(err_msg(&e), "spawnedBy is immutable once set");
    let l = c
        .call(
            "sessions.list",
            Some(json!({"spawnedBy": "agent:main:main"})),
        )
        .unwrap();
    assert_eq!(l["count"], 1);
    assert_eq!(l["sessions"][0]["key"], sub);
    assert_eq!(l["sessions"][0]["spawnDepth"], 1);
    // resolve by label, by key, missing.
    let r = c
        .call("sessions.resolve", Some(json!({"label": long})))
        .unwrap();
    assert_eq!(
        (r["ok"].clone(), r["key"].clone()),
        (json!(true), json!("agent:main:main"))
    );
    let r = c
        .call("sessions.resolve", Some(json!({"key": "nope:1"})))
        .unwrap();
    assert_eq!(r, json!({"ok": false}));
    let e = c.call("sessions.resolve", Some(json!({}))).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
}

#[test]
fn list_pages_filters_and_previews() {
    let gw = Gateway::start("");
    let mut c = gw.client(&ALL_SCOPES);
    for i in 0..7 {
        let key = format!("agent:main:list-{i}");
        c.call(
            "chat.inject",
            Some(json!({"sessionKey": key, "message": format!("note number {i}")})),
        )
        .unwrap();
    }
    c.call(
        "sessions.patch",
        Some(json!({"key": "agent:main:list-3", "label": "three"})),
    )
    .unwrap();
    let p1 = c
        .call(
            "sessions.list",
            Some(json!({"limit": 3, "includeLastMessage": true})),
        )
        .unwrap();
    assert_eq!(
        (p1["count"].clone(), p1["totalCount"].clone()),
        (json!(3), json!(7))
    );
    assert_eq!(
        (p1["hasMore"].clone(), p1["nextOffset"].clone()),
        (json!(true), json!(3))
    );
    assert_eq!(p1["limitApplied"], 3);
    assert_eq!(
        p1["sessions"][0]["key"], "agent:main:list-3",
        "newest (patched) first"
    );
    assert!(
        p1["sessions"][1]["lastMessagePreview"]
            .as_str()
            .unwrap()
            .starts_with("note number")
    );
    let last = c
        .call("sessions.list", Some(json!({"limit": 3, "offset": 6})))
        .unwrap();
    assert_eq!(
        (last["count"].clone(), last["hasMore"].clone()),
        (json!(1), json!(false))
    );
    assert!(last.get("nextOffset").is_none());
    let s = c
        .call("sessions.list", Some(json!({"search": "LIST-5"})))
        .unwrap();
    assert_eq!(s["totalCount"], 1);
    let s = c
        .call("sessions.list", Some(json!({"label": "three"})))
        .unwrap();
    assert_eq!(s["sessions"][0]["label"], "three");
    for bad in [
        json!({"limit": 0}),
        json!({"sortBy": "name"}),
        json!({"nope": true}),
        json!({"ownerId": "x"}),
    ] {
        let e = c.call("sessions.list", Some(bad.clone())).unwrap_err();
        assert_eq!(e["code"], "INVALID_REQUEST", "{bad}");
    }
    let pv = c
        .call(
            "sessions.preview",
            Some(json!({"keys": ["agent:main:list-1", "agent:main:none"], "limit": 5})),
        )
        .unwrap();
    assert_eq!(pv["previews"][0]["status"], "ok");
    assert_eq!(pv["previews"][0]["items"][0]["text"], "note number 1");
    assert_eq!(pv["previews"][1]["status"], "missing");
    let e = c
        .call("sessions.preview", Some(json!({"keys": []})))
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
}

#[test]
fn reset_rotates_session_id_and_compact_delete_history_follow_upstream() {
    let gw = Gateway::start("");
    let mut c = gw.client(&ALL_SCOPES);
    for i in 0..5 {
        c.call(
            "chat.inject",
            Some(json!({"sessionKey": "work", "message": format!("m{i}")})),
        )
        .unwrap();
    }
    let h = c
        .call(
            "chat.history",
            Some(json!({"sessionKey": "work", "limit": 2})),
        )
        .unwrap();
    assert_eq!(h["sessionKey"], "agent:main:work");
    assert_eq!(h["totalMessages"], 5);
    assert_eq!(h["hasMore"], true);
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m3", "m4"]);
    // The delta cursor returns only what came after it.
    let cursor = h["deltaCursor"].as_str().unwrap().to_string();
    c.call(
        "chat.inject",
        Some(json!({"sessionKey": "work", "message": "m5"})),
    )
    .unwrap();
    let d = c
        .call(
            "chat.history",
            Some(json!({"sessionKey": "work", "cursor": cursor})),
        )
        .unwrap();
    assert_eq!(d["kind"], "delta");
    assert_eq!(d["messages"].as_array().unwrap().len(), 1);
    let same = c
        .call("sessions.history", Some(json!({"key": "work", "limit": 1})))
        .unwrap();
    assert_eq!(same["messages"][0]["content"][0]["text"], "m5");
    // compact: maxLines >= 1, default 400.
    let e = c
        .call(
            "sessions.compact",
            Some(json!({"key": "work", "maxLines": 0})),
        )
        .unwrap_err();
    assert_eq!(
        err_msg(&e),
        "invalid sessions.compact params: maxLines must be at least 1, got 0"
    );
    let r = c
        .call("sessions.compact", Some(json!({"key": "work"})))
        .unwrap();
    assert_eq!(
        (r["compacted"].clone(), r["maxLines"].clone()),
        (json!(false), json!(400))
    );
    let r = c
        .call(
            "sessions.compact",
            Some(json!({"key": "work", "maxLines": 2})),
        )
        .unwrap();
    assert_eq!(
        (r["removed"].clone(), r["kept"].clone()),
        (json!(4), json!(2))
    );
    // reset: new session id, empty transcript for the new id, reason checked.
    let before = h["sessionId"].as_str().unwrap().to_string();
    let e = c
        .call(
            "sessions.reset",
            Some(json!({"key": "work", "reason": "wipe"})),
        )
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
    let r = c
        .call(
            "sessions.reset",
            Some(json!({"key": "work", "reason": "new"})),
        )
        .unwrap();
    let after = r["entry"]["sessionId"].as_str().unwrap();
    assert_ne!(after, before);
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "work"})))
        .unwrap();
    assert_eq!(
        (
            h["messages"].as_array().unwrap().len(),
            h["sessionId"].as_str().unwrap()
        ),
        (0, after)
    );
    let d = c
        .call(
            "chat.history",
            Some(json!({"sessionKey": "work", "cursor": cursor})),
        )
        .unwrap();
    assert_eq!(d, json!({"kind": "reset"}));
    // delete: the main session is protected; others go.
    let e = c
        .call("sessions.delete", Some(json!({"key": "main"})))
        .unwrap_err();
    assert!(
        err_msg(&e).contains("cannot delete the main session"),
        "{e}"
    );
    let r = c
        .call("sessions.delete", Some(json!({"key": "work"})))
        .unwrap();
    assert_eq!(
        r,
        json!({"ok": true, "key": "agent:main:work", "deleted": true, "archived": []})
    );
    let r = c
        .call("sessions.delete", Some(json!({"key": "work"})))
        .unwrap();
    assert_eq!(r["deleted"], false);
    // Scopes: reset/delete/compact/inject need admin, chat.send needs write.
    let mut ro = gw.client(&["operator.read"]);
    for (m, p) in [
        ("sessions.reset", json!({"key": "x"})),
        ("chat.inject", json!({"sessionKey": "x", "message": "m"})),
        (
            "chat.send",
            json!({"sessionKey": "x", "message": "m", "idempotencyKey": "k"}),
        ),
    ] {
        let e = ro.call(m, Some(p)).unwrap_err();
        assert_eq!(e["code"], "FORBIDDEN", "{m}");
    }
}

#[test]
fn runs_without_a_provider_end_in_a_clear_error_and_keep_the_message() {
    let gw = Gateway::start("");
    let mut c = gw.client(&ALL_SCOPES);
    let mut events = gw.client(&["operator.read"]);
    let r = c
        .call(
            "chat.send",
            Some(json!({"sessionKey": "main", "message": "hi", "idempotencyKey": "run-1"})),
        )
        .unwrap();
    assert_eq!(
        (r["runId"].clone(), r["status"].clone()),
        (json!("run-1"), json!("started"))
    );
    let ev = wait_event(&mut events, "chat", |p| p["runId"] == "run-1");
    assert_eq!(ev["state"], "error");
    assert!(
        ev["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no model provider is configured")
    );
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "main"})))
        .unwrap();
    assert_eq!(h["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(
        h["messages"].as_array().unwrap().len(),
        1,
        "no invented answer"
    );
    assert!(eventually(Duration::from_secs(5), || {
        let s = c
            .call("session.status", Some(json!({"key": "main"})))
            .unwrap();
        s["session"]["status"] == "failed"
    }));
}

#[test]
fn queue_modes_followup_steer_collect_interrupt_and_abort() {
    let gw = Gateway::start(TEST_DOUBLE);
    let mut c = gw.client(&ALL_SCOPES);
    // Events go to a second client: `call` skips whatever arrives before its response.
    let mut ev = gw.client(&["operator.read"]);
    ev.call("sessions.subscribe", None).unwrap();
    let send = |c: &mut Client, id: &str, mode: &str| {
        c.call("chat.send", Some(json!({"sessionKey": "q", "message": format!("text {id}"), "idempotencyKey": id, "queueMode": mode})))
            .unwrap()
    };
    assert_eq!(send(&mut c, "a", "followup")["status"], "started");
    assert_eq!(send(&mut c, "b", "followup")["status"], "queued");
    let s = send(&mut c, "s", "steer");
    assert_eq!(
        (s["status"].clone(), s["steeredInto"].clone()),
        (json!("steered"), json!("a"))
    );
    assert_eq!(send(&mut c, "c1", "collect")["status"], "queued");
    let m = send(&mut c, "c2", "collect");
    assert_eq!(m["status"], "collected");
    let st = c.call("session.status", Some(json!({"key": "q"}))).unwrap();
    assert_eq!(
        (st["activeRunId"].clone(), st["queued"].clone()),
        (json!("a"), json!(2))
    );
    // The steered run reports the steering message; runs finish in FIFO order.
    let fa = wait_event(&mut ev, "chat", |p| {
        p["runId"] == "a" && p["state"] == "final"
    });
    assert!(
        fa["message"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("1 steering message")
    );
    wait_event(&mut ev, "chat", |p| {
        p["runId"] == "b" && p["state"] == "final"
    });
    // c1 and c2 ran as one turn: both ids get the final.
    let f1 = wait_event(&mut ev, "chat", |p| {
        p["runId"] == "c1" && p["state"] == "final"
    });
    let f2 = wait_event(&mut ev, "chat", |p| {
        p["runId"] == "c2" && p["state"] == "final"
    });
    assert_eq!(f1["message"], f2["message"]);
    // Interrupt replaces the running turn; abort stops a run by id.
    assert_eq!(send(&mut c, "x", "followup")["status"], "started");
    let i = send(&mut c, "y", "interrupt");
    assert_eq!(
        (
            i["interruptedActiveRun"].clone(),
            i["interruptedRunId"].clone()
        ),
        (json!(true), json!("x"))
    );
    let ab = wait_event(&mut ev, "chat", |p| p["runId"] == "x");
    assert_eq!(
        (ab["state"].clone(), ab["stopReason"].clone()),
        (json!("aborted"), json!("interrupted"))
    );
    let r = c
        .call(
            "chat.abort",
            Some(json!({"sessionKey": "q", "runId": "nope"})),
        )
        .unwrap();
    assert_eq!(r["aborted"], false);
    let r = c
        .call("chat.abort", Some(json!({"sessionKey": "q", "runId": "y"})))
        .unwrap();
    assert_eq!(r, json!({"ok": true, "aborted": true, "runIds": ["y"]}));
    wait_event(&mut ev, "chat", |p| {
        p["runId"] == "y" && p["state"] == "aborted"
    });
    wait_event(&mut ev, "sessions.changed", |p| {
        p["sessionKey"] == "agent:main:q"
    });
    let e = c
        .call("chat.send", Some(json!({"sessionKey": "q", "message": "m", "idempotencyKey": "z", "queueMode": "later"})))
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
}

#[test]
fn idempotency_replays_same_request_and_refuses_reused_key() {
    let gw = Gateway::start(TEST_DOUBLE);
    let mut c = gw.client(&ALL_SCOPES);
    let p = json!({"sessionKey": "idem", "message": "once", "idempotencyKey": "k-1"});
    let first = c.call("chat.send", Some(p.clone())).unwrap();
    let again = c.call("chat.send", Some(p)).unwrap();
    assert_eq!(
        again, first,
        "same key and content: the same answer, no second run"
    );
    let e = c
        .call(
            "chat.send",
            Some(json!({"sessionKey": "idem", "message": "other", "idempotencyKey": "k-1"})),
        )
        .unwrap_err();
    assert_eq!(
        err_msg(&e),
        "idempotencyKey \"k-1\" was already used for a different request"
    );
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "idem"})))
        .unwrap();
    let users = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .count();
    assert_eq!(users, 1);
}

#[test]
fn group_activation_needs_a_mention_unless_always() {
    let gw = Gateway::start(TEST_DOUBLE);
    let mut c = gw.client(&ALL_SCOPES);
    let group = "telegram:group:-100";
    let send = |c: &mut Client, id: &str, text: &str| {
        c.call("chat.send", Some(json!({"sessionKey": group, "message": text, "idempotencyKey": id, "originatingChannel": "telegram"})))
            .unwrap()
    };
    let r = send(&mut c, "g1", "just chatting");
    assert_eq!(
        (r["status"].clone(), r["reason"].clone()),
        (json!("skipped"), json!("not mentioned"))
    );
    assert_eq!(
        send(&mut c, "g2", "@EdgeBot what time is it")["status"],
        "started"
    );
    c.call(
        "sessions.patch",
        Some(json!({"key": group, "groupActivation": "always"})),
    )
    .unwrap();
    assert_ne!(send(&mut c, "g3", "no mention here")["status"], "skipped");
    // Operator turns (no originating channel) always run.
    let r = c
        .call("chat.send", Some(json!({"sessionKey": "telegram:group:-200", "message": "hi", "idempotencyKey": "op"})))
        .unwrap();
    assert_eq!(r["status"], "started");
}

#[test]
fn message_subscriptions_and_usage_from_recorded_runs() {
    let gw = Gateway::start(&format!(
        "{TEST_DOUBLE}\n[[pricing]]\nprovider = \"test-double\"\nmodel = \"test-double\"\ninput_per_mtok = 1000000.0\noutput_per_mtok = 2000000.0\n"
    ));
    let mut c = gw.client(&ALL_SCOPES);
    let mut ev = gw.client(&["operator.read"]);
    let r = ev
        .call("sessions.messages.subscribe", Some(json!({"key": "u"})))
        .unwrap();
    assert_eq!(r, json!({"subscribed": true, "key": "agent:main:u"}));
    c.call(
        "chat.send",
        Some(json!({"sessionKey": "u", "message": "12345678", "idempotencyKey": "u1"})),
    )
    .unwrap();
    let m = wait_event(&mut ev, "session.message", |p| {
        p["message"]["role"] == "assistant"
    });
    assert_eq!(m["sessionKey"], "agent:main:u");
    assert!(eventually(Duration::from_secs(5), || {
        c.call("sessions.usage", Some(json!({"key": "u"}))).unwrap()["totals"]["calls"] == 1
    }));
    let u = c.call("sessions.usage", Some(json!({"key": "u"}))).unwrap();
    // 8 input bytes → 2 tokens at $1/token; output priced at $2/token.
    let t = &u["totals"];
    assert_eq!(t["input"], 2);
    let out = t["output"].as_f64().unwrap();
    assert_eq!(t["totalCost"].as_f64().unwrap(), 2.0 + 2.0 * out);
    let cost = c.call("usage.cost", Some(json!({"days": 7}))).unwrap();
    assert_eq!(cost["totals"]["totalCost"], t["totalCost"]);
    let logs = c
        .call("sessions.usage.logs", Some(json!({"key": "u"})))
        .unwrap();
    assert_eq!(logs["logs"][0]["runId"], "u1");
    let e = c.call("usage.cost", Some(json!({"days": 0}))).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
}

#[test]
fn sessions_survive_restart_and_newer_schema_is_refused() {
    let mut gw = Gateway::start("");
    let state = gw.dir.join("state");
    {
        let mut c = gw.client(&ALL_SCOPES);
        c.call(
            "sessions.patch",
            Some(json!({"key": "keep", "label": "kept"})),
        )
        .unwrap();
        c.call(
            "chat.inject",
            Some(json!({"sessionKey": "keep", "message": "still here"})),
        )
        .unwrap();
    }
    gw.sigterm();
    assert!(
        gw.wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let mut gw2 = gw.restart();
    let mut c = gw2.client(&ALL_SCOPES);
    let h = c
        .call("chat.history", Some(json!({"sessionKey": "keep"})))
        .unwrap();
    assert_eq!(h["messages"][0]["content"][0]["text"], "still here");
    let r = c
        .call("sessions.resolve", Some(json!({"label": "kept"})))
        .unwrap();
    assert_eq!(r["key"], "agent:main:keep");
    drop(c);
    gw2.sigterm();
    assert!(
        gw2.wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    // A database from a newer binary: refuse to start, leave the file alone.
    let db = state.join("openclaw-edge.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openclaw-edge"))
        .args(["run", "--bind", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .env("OPENCLAW_EDGE_GATEWAY_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema version 99, newer than this binary supports (7)"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "never listened"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn history_pages_stop_at_the_response_budget() {
    // Budget = ws_max_write_buffer_bytes / 2 = 64 KiB; ten 20 KB messages cannot fit one answer.
    let gw = Gateway::start(
        "[limits]\nmax_message_bytes = 65536\nmax_frame_bytes = 65536\nws_max_write_buffer_bytes = 131072\n",
    );
    let mut c = gw.client(&ALL_SCOPES);
    let big = "x".repeat(20_000);
    for _ in 0..10 {
        c.call(
            "chat.inject",
            Some(json!({"sessionKey": "big", "message": big})),
        )
        .unwrap();
    }
    let h = c
        .call(
            "chat.history",
            Some(json!({"sessionKey": "big", "limit": 10})),
        )
        .unwrap();
    let n = h["messages"].as_array().unwrap().len();
    assert!(
        (1..=3).contains(&n),
        "{n} messages of 20 KB in a 64 KiB answer"
    );
    assert_eq!(
        (h["hasMore"].clone(), h["totalMessages"].clone()),
        (json!(true), json!(10))
    );
    // The newest messages come first in a tail page; paging back with offset reaches the rest.
    let older = c
        .call(
            "chat.history",
            Some(json!({"sessionKey": "big", "limit": 10, "offset": n})),
        )
        .unwrap();
    assert!(!older["messages"].as_array().unwrap().is_empty());
}
