// Queue floods: session, scheduler and store queues refuse retryably; nothing stored twice; memory bounded.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ALL_SCOPES, Client, Gateway, eventually};
use serde_json::{Value, json};

/// Test-double runs of 300 ms, one at a time, two waiting per session, four in all.
const SCHED: &str = "[agent]\nruntime = \"test-double\"\ntest_delay_ms = 300\n\
                     [limits]\nmax_concurrent_runs = 1\nsession_queue = 2\nglobal_queue = 4\n\
                     max_inflight_per_conn = 64\noutbound_queue = 128\n";

/// Budget for VmHWM of the test (debug) binary: its mapped code pages alone are ~17 MiB since
/// the provider stack (ureq, rustls, ring), the edge runner and the mesh are linked in (raised
/// from 24 to 27 MiB when those ~10,000 lines landed: file-backed pages only, RssAnon stayed
/// at 2.4–3.6 MiB); the release binary is measured by `bench/` against the real 8 MiB target,
/// and `ANON_BUDGET_BYTES` holds the heap to the same bound as before.
const EDGE_BUDGET_BYTES: u64 = 27 * 1024 * 1024;
/// Budget for anonymous memory (heap and stacks), which does not depend on the build.
const ANON_BUDGET_BYTES: u64 = 8 * 1024 * 1024;

/// Sends every request at once and returns the answers in the order sent.
fn pipeline(c: &mut Client, reqs: &[(&str, Value)]) -> Vec<Value> {
    let ids: Vec<String> = reqs
        .iter()
        .map(|(m, p)| c.send(m, Some(p.clone())))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut by_id: HashMap<String, Value> =
        c.ws.wait_all(&refs)
            .into_iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), r))
            .collect();
    ids.iter().map(|id| by_id.remove(id).unwrap()).collect()
}

fn send_req(key: &str, text: &str, idem: &str) -> (&'static str, Value) {
    (
        "chat.send",
        json!({"sessionKey": key, "message": text, "idempotencyKey": idem}),
    )
}

/// A busy refusal: `UNAVAILABLE`, retryable after a positive delay, naming `queue`.
fn assert_busy(res: &Value, queue: &str) {
    let e = &res["error"];
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(e["code"], "UNAVAILABLE", "{res}");
    assert_eq!(e["retryable"], true, "{res}");
    assert!(e["retryAfterMs"].as_u64().unwrap_or(0) > 0, "{res}");
    assert_eq!(e["details"]["code"], "BUSY", "{res}");
    assert!(
        e["details"]["queue"].as_str().unwrap_or("").contains(queue),
        "{res}"
    );
    assert!(e["message"].as_str().unwrap().contains(queue), "{res}");
}

/// Waits (bounded) until nothing runs or waits in the scheduler.
fn wait_idle(c: &mut Client) {
    let idle = eventually(Duration::from_secs(15), || {
        let s = c.call("status", None).unwrap();
        s["scheduler"]["running"] == 0 && s["scheduler"]["queued"] == 0
    });
    assert!(
        idle,
        "scheduler still busy: {}",
        c.call("status", None).unwrap()["scheduler"]
    );
}

/// (role, text) of every message of `key`.
fn history(c: &mut Client, key: &str) -> Vec<(String, String)> {
    let h = c
        .call(
            "chat.history",
            Some(json!({"sessionKey": key, "limit": 1000})),
        )
        .unwrap();
    h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"][0]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The process high-water mark stays inside the edge budget; returns it.
fn assert_memory(c: &mut Client, what: &str) -> u64 {
    let st = c.call("status", None).unwrap();
    let hwm = st["memory"]["hwmBytes"].as_u64().unwrap();
    let rss = st["memory"]["rssBytes"].as_u64().unwrap();
    let anon = st["memory"]["anonBytes"].as_u64().unwrap();
    eprintln!(
        "flood {what}: hwm {:.1} MiB, rss {:.1} MiB, anon {:.1} MiB",
        hwm as f64 / 1048576.0,
        rss as f64 / 1048576.0,
        anon as f64 / 1048576.0
    );
    assert!(
        anon < ANON_BUDGET_BYTES,
        "{what}: RssAnon {anon} bytes over {ANON_BUDGET_BYTES}"
    );
    assert!(hwm > 0, "VmHWM read from /proc");
    assert!(
        hwm < EDGE_BUDGET_BYTES,
        "{what}: VmHWM {hwm} bytes over the edge budget of {EDGE_BUDGET_BYTES}"
    );
    hwm
}

#[test]
fn session_queue_refuses_retryably_and_stores_refused_turns_never() {
    let gw = Gateway::start(SCHED);
    let mut c = gw.client(&ALL_SCOPES);
    let key = "agent:main:flood-s";
    let reqs: Vec<_> = (0..10)
        .map(|i| send_req(key, &format!("s-{i}"), &format!("s-key-{i}")))
        .collect();
    let got = pipeline(&mut c, &reqs);
    let status = |r: &Value| r["payload"]["status"].as_str().unwrap_or("").to_string();
    let started: Vec<usize> = (0..10).filter(|i| status(&got[*i]) == "started").collect();
    let queued: Vec<usize> = (0..10).filter(|i| status(&got[*i]) == "queued").collect();
    let refused: Vec<usize> = (0..10).filter(|i| got[*i]["ok"] == false).collect();
    assert_eq!(started.len(), 1, "one run at a time: {got:?}");
    assert_eq!(queued.len(), 2, "session_queue = 2: {got:?}");
    assert_eq!(refused.len(), 7, "{got:?}");
    for i in &refused {
        assert_busy(&got[*i], "session queue");
    }
    let mid = c.call("session.status", Some(json!({"key": key}))).unwrap();
    assert!(mid["queued"].as_u64().unwrap() <= 2, "{mid}");

    wait_idle(&mut c);
    let s = c.call("session.status", Some(json!({"key": key}))).unwrap();
    assert_eq!(s["activeRunId"], Value::Null, "{s}");
    assert_eq!(s["queued"], 0, "{s}");
    // A refused key was forgotten: retrying it with the same content now runs.
    let r = refused[0];
    let (m, p) = send_req(key, &format!("s-{r}"), &format!("s-key-{r}"));
    let retry = c.call(m, Some(p)).expect("retry of a refused key");
    assert_eq!(retry["status"], "started", "{retry}");
    wait_idle(&mut c);

    let msgs = history(&mut c, key);
    let accepted: Vec<usize> = started.iter().chain(&queued).chain([&r]).copied().collect();
    for i in 0..10 {
        let n = msgs
            .iter()
            .filter(|(role, t)| role == "user" && *t == format!("s-{i}"))
            .count();
        let want = usize::from(accepted.contains(&i));
        assert_eq!(n, want, "user message s-{i} stored {n} times: {msgs:?}");
    }
    let answers = msgs.iter().filter(|(role, _)| role == "assistant").count();
    assert_eq!(
        answers,
        accepted.len(),
        "one answer per accepted turn: {msgs:?}"
    );
    assert!(
        msgs.iter()
            .filter(|(role, _)| role == "assistant")
            .all(|(_, t)| t.starts_with("[test-double]")),
        "{msgs:?}"
    );
    let st = c.call("status", None).unwrap();
    assert!(st["scheduler"]["shedTotal"].as_u64().unwrap() >= 7, "{st}");
    assert!(st["gateway"]["shed"].as_u64().unwrap() >= 7, "{st}");
    assert_eq!(st["scheduler"]["startedTotal"], accepted.len(), "{st}");
    assert_memory(&mut c, "session queue");
}

#[test]
fn scheduler_queue_is_bounded_across_sessions() {
    let gw = Gateway::start(SCHED);
    let mut c = gw.client(&ALL_SCOPES);
    let keys: Vec<String> = (0..10).map(|i| format!("agent:main:flood-g{i}")).collect();
    let reqs: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| send_req(k, &format!("g-{i}"), &format!("g-key-{i}")))
        .collect();
    let got = pipeline(&mut c, &reqs);
    let started = got
        .iter()
        .filter(|r| r["payload"]["status"] == "started")
        .count();
    let queued = got
        .iter()
        .filter(|r| r["payload"]["status"] == "queued")
        .count();
    let refused: Vec<usize> = (0..10).filter(|i| got[*i]["ok"] == false).collect();
    assert_eq!(started + queued + refused.len(), 10, "{got:?}");
    assert_eq!(started, 1, "max_concurrent_runs = 1: {got:?}");
    assert!(queued <= 4, "global_queue = 4, {queued} queued: {got:?}");
    for i in &refused {
        assert_busy(&got[*i], "scheduler queue");
    }
    // While the backlog drains, the gauges never pass the bounds.
    let mut samples = 0;
    let drained = eventually(Duration::from_secs(15), || {
        let s = c.call("status", None).unwrap();
        let (run, q) = (
            s["scheduler"]["running"].as_u64().unwrap(),
            s["scheduler"]["queued"].as_u64().unwrap(),
        );
        assert!(run <= 1 && q <= 4, "running {run}, queued {q}");
        samples += 1;
        run == 0 && q == 0
    });
    assert!(drained, "backlog drained");
    assert!(samples > 1, "sampled while draining");
    for (i, k) in keys.iter().enumerate() {
        let users: Vec<_> = history(&mut c, k)
            .into_iter()
            .filter(|(role, _)| role == "user")
            .collect();
        let want = usize::from(!refused.contains(&i));
        assert_eq!(users.len(), want, "{k}: {users:?}");
    }
    let st = c.call("status", None).unwrap();
    assert!(
        st["scheduler"]["shedTotal"].as_u64().unwrap() >= refused.len() as u64,
        "{st}"
    );
    assert_memory(&mut c, "scheduler queue");
}

#[test]
fn store_queue_flood_is_refused_retryably_and_every_ok_is_readable() {
    let gw = Gateway::start(
        "[limits]\nstore_queue = 2\nmax_inflight_per_conn = 64\noutbound_queue = 128\n",
    );
    let mut admin = gw.client(&ALL_SCOPES);
    let before = admin.call("status", None).unwrap()["store"]["shed"]
        .as_u64()
        .unwrap();
    const CLIENTS: usize = 6;
    let mut per_client = 50;
    let mut total = 0;
    let mut refused = 0;
    let mut oks: Vec<(String, String)> = Vec::new();
    // Grow the burst until the queue overflows at least once (it does on the first try in practice).
    for attempt in 0..4 {
        let clients: Vec<Client> = (0..CLIENTS).map(|_| gw.client(&ALL_SCOPES)).collect();
        let handles: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(ci, mut c)| {
                std::thread::spawn(move || {
                    let key = format!("agent:main:flood-st{attempt}-{ci}");
                    let reqs: Vec<_> = (0..per_client)
                        .map(|i| {
                            let text = format!("st{attempt}-{ci}-{i}");
                            ("chat.inject", json!({"sessionKey": key, "message": text}))
                        })
                        .collect();
                    let got = pipeline(&mut c, &reqs);
                    reqs.into_iter()
                        .zip(got)
                        .map(|((_, p), r)| {
                            (key.clone(), p["message"].as_str().unwrap().to_string(), r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (key, text, r) in h.join().unwrap() {
                total += 1;
                if r["ok"] == true {
                    assert_eq!(r["payload"]["ok"], true, "{r}");
                    oks.push((key, text));
                } else {
                    assert_busy(&r, "store queue");
                    refused += 1;
                }
            }
        }
        if refused > 0 {
            break;
        }
        per_client = (per_client * 2).min(64);
    }
    assert!(
        refused > 0,
        "store_queue = 2 never overflowed in {total} writes"
    );
    assert!(!oks.is_empty(), "some writes got through");
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for (k, t) in &oks {
        by_key.entry(k.clone()).or_default().push(t.clone());
    }
    for (k, texts) in &by_key {
        let stored: Vec<String> = history(&mut admin, k).into_iter().map(|(_, t)| t).collect();
        for t in texts {
            assert_eq!(
                stored.iter().filter(|s| *s == t).count(),
                1,
                "{k}: acknowledged {t} stored once"
            );
        }
    }
    let st = admin.call("status", None).unwrap();
    let shed = st["store"]["shed"].as_u64().unwrap();
    assert!(
        shed >= before + refused as u64,
        "store.shed {before} -> {shed}, {refused} refused: {st}"
    );
    eprintln!(
        "flood store queue: {total} writes from {CLIENTS} clients, {} ok, {refused} refused busy, store.shed {shed}",
        oks.len()
    );
    assert_memory(&mut admin, "store queue");
}

#[test]
fn idempotency_key_answers_once_and_refuses_other_content() {
    let gw = Gateway::start(SCHED);
    let mut c = gw.client(&ALL_SCOPES);
    let key = "agent:main:flood-idem";
    let req = send_req(key, "hello", "idem-1");
    let got = pipeline(&mut c, &[req.clone(), req.clone()]);
    let first = &got[0]["payload"];
    assert_eq!(first["status"], "started", "{got:?}");
    let second = &got[1]["payload"];
    assert!(
        second == first || (second["status"] == "in_flight" && second["runId"] == "idem-1"),
        "the duplicate is not a new run: {got:?}"
    );
    // Sent again after the first answer: the remembered result.
    let again = c.call(req.0, Some(req.1.clone())).unwrap();
    assert_eq!(&again, first);
    let other = send_req(key, "something else", "idem-1");
    let e = c.call(other.0, Some(other.1)).unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST", "{e}");
    assert_eq!(e["retryable"], false, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("already used for a different request"),
        "{e}"
    );
    wait_idle(&mut c);
    let st = c.call("status", None).unwrap();
    assert_eq!(
        st["scheduler"]["startedTotal"], 1,
        "one run for one key: {st}"
    );
    let users: Vec<_> = history(&mut c, key)
        .into_iter()
        .filter(|(role, _)| role == "user")
        .collect();
    assert_eq!(users, vec![("user".to_string(), "hello".to_string())]);
}
