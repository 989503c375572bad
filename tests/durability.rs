// Crash durability: kill -9 mid-stream, restart on the same state dir, find every acknowledged write.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::{ALL_SCOPES, Client, Gateway};
use serde_json::{Value, json};

/// Session keys written to (`agent:main:dur-<n>`).
const KEYS: usize = 5;
/// Kill/restart rounds.
const ROUNDS: usize = 16;

/// Up to 48 pipelined requests per connection: raise the in-flight bound (default 8) and the
/// outbound queue with it, since one batch commit answers them all at once.
const CONFIG: &str = "[limits]\nmax_inflight_per_conn = 64\noutbound_queue = 128\n";

/// xorshift64*: varies the kill point, the pipeline depth and the op mix; the seed is printed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        Rng(u64::from_le_bytes(b) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn key(n: usize) -> String {
    format!("agent:main:dur-{n}")
}

/// A request sent but not yet answered.
enum Op {
    Inject { key: usize, text: String },
    Patch { key: usize, label: String },
}

/// What the client has seen acknowledged, and what restarts have shown to be on disk.
#[derive(Default)]
struct Ledger {
    /// Texts that must be present after every later restart, per key.
    durable: Vec<HashSet<String>>,
    /// Acknowledged `chat.inject` writes: (key, messageSeq) must be unique.
    acked_seqs: HashSet<(usize, u64)>,
    acked_injects: usize,
    acked_patches: usize,
    /// The label a key must show: the latest acknowledged (or since observed) one.
    label: Vec<Option<String>>,
    /// A patch that was in flight at the kill: the label may show it instead.
    label_in_flight: Vec<Option<String>>,
    refused: usize,
    unacked_but_stored: usize,
}

/// Every acknowledged text is in `chat.history`, no text twice, and labels are the latest
/// acknowledged one (or the one in flight at the kill). Folds what it sees into the ledger.
fn verify(c: &mut Client, l: &mut Ledger, round: usize) {
    for n in 0..KEYS {
        let h = c
            .call(
                "chat.history",
                Some(json!({"sessionKey": key(n), "limit": 1000})),
            )
            .unwrap_or_else(|e| panic!("round {round}: chat.history {}: {e}", key(n)));
        let texts: Vec<String> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"][0]["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            h["hasMore"],
            false,
            "round {round}: {} fits one page",
            key(n)
        );
        let seen: HashSet<String> = texts.iter().cloned().collect();
        assert_eq!(
            seen.len(),
            texts.len(),
            "round {round}: {} holds a message twice",
            key(n)
        );
        let missing: Vec<&String> = l.durable[n].difference(&seen).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} lost {} acknowledged message(s), e.g. {:?}",
            key(n),
            missing.len(),
            missing.iter().take(5).collect::<Vec<_>>()
        );
        assert_eq!(
            h["totalMessages"].as_u64().unwrap(),
            texts.len() as u64,
            "round {round}: {} totalMessages",
            key(n)
        );
        l.unacked_but_stored += seen.len() - l.durable[n].len();
        // Whatever survived a restart is committed: it must survive every later one too.
        l.durable[n] = seen;
    }
    let list = c
        .call("sessions.list", Some(json!({"limit": 100})))
        .expect("sessions.list");
    let labels: HashMap<String, Option<String>> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let label = s["label"].as_str().map(str::to_string);
            (s["key"].as_str().unwrap().to_string(), label)
        })
        .collect();
    for n in 0..KEYS {
        let want = &l.label[n];
        let pending = l.label_in_flight[n].take();
        let got = labels.get(&key(n)).cloned().flatten();
        if want.is_none() && pending.is_none() {
            continue;
        }
        assert!(
            got == *want || (pending.is_some() && got == pending),
            "round {round}: {} label {got:?}, want {want:?} (or in-flight {pending:?})",
            key(n)
        );
        l.label[n] = got;
    }
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let t0 = Instant::now();
    let mut rng = Rng::seeded();
    let seed = rng.0;
    let mut gw = Gateway::start(CONFIG);
    let mut l = Ledger {
        durable: vec![HashSet::new(); KEYS],
        label: vec![None; KEYS],
        label_in_flight: vec![None; KEYS],
        ..Ledger::default()
    };
    let mut max_in_flight_at_kill = 0;
    let mut next_msg = 0u64;
    for round in 0..ROUNDS {
        let target = rng.range(20, 200) as usize;
        let depth = rng.range(8, 48) as usize;
        let mut c = gw.client(&ALL_SCOPES);
        let mut pending: HashMap<String, Op> = HashMap::new();
        // At most one patch per key in flight, so "latest acknowledged" is well defined.
        let mut patching: Vec<Option<String>> = vec![None; KEYS];
        let mut acked = 0;
        let mut label_no = 0;
        loop {
            while pending.len() < depth {
                let n = rng.range(0, KEYS as u64 - 1) as usize;
                if rng.range(0, 4) == 0 && patching[n].is_none() {
                    label_no += 1;
                    let label = format!("L-{round}-{n}-{label_no}");
                    let id = c.send(
                        "sessions.patch",
                        Some(json!({"key": key(n), "label": label})),
                    );
                    patching[n] = Some(label.clone());
                    pending.insert(id, Op::Patch { key: n, label });
                } else {
                    next_msg += 1;
                    let text = format!("r{round}-m{next_msg}");
                    let id = c.send(
                        "chat.inject",
                        Some(json!({"sessionKey": key(n), "message": text})),
                    );
                    pending.insert(id, Op::Inject { key: n, text });
                }
            }
            let res = c.ws.next_res();
            let op = pending
                .remove(res["id"].as_str().unwrap())
                .unwrap_or_else(|| panic!("answer to an unknown id: {res}"));
            let ok = res["ok"] == true;
            if !ok {
                // Only a full queue may refuse a well-formed write.
                assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
                assert_eq!(res["error"]["retryable"], true, "{res}");
                l.refused += 1;
            }
            match op {
                Op::Inject { key: n, text } if ok => {
                    let seq = res["payload"]["messageSeq"].as_u64().unwrap();
                    assert_eq!(res["payload"]["ok"], true, "{res}");
                    assert!(
                        l.acked_seqs.insert((n, seq)),
                        "seq {seq} of {} acknowledged twice",
                        key(n)
                    );
                    l.durable[n].insert(text);
                    l.acked_injects += 1;
                    acked += 1;
                }
                Op::Patch { key: n, label } => {
                    patching[n] = None;
                    if ok {
                        assert_eq!(res["payload"]["entry"]["label"], label.as_str(), "{res}");
                        l.label[n] = Some(label);
                        l.acked_patches += 1;
                        acked += 1;
                    }
                }
                Op::Inject { .. } => {}
            }
            if acked >= target {
                break;
            }
        }
        max_in_flight_at_kill = max_in_flight_at_kill.max(pending.len());
        let st = gw.kill9();
        assert_eq!(
            st.signal(),
            Some(9),
            "killed by SIGKILL, not exited: {st:?}"
        );
        drop(c);
        l.label_in_flight = patching;
        gw = gw.restart();
        let mut c = gw.client(&ALL_SCOPES);
        verify(&mut c, &mut l, round);
    }
    gw.sigterm();
    let st = gw.wait_exit(Duration::from_secs(10));
    assert!(
        st.is_some_and(|s| s.success()),
        "clean exit: {st:?}\n{}",
        gw.stderr()
    );

    let db = rusqlite::Connection::open(gw.db_path()).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = db
        .prepare("SELECT session_key, body FROM messages WHERE session_key LIKE 'agent:main:dur-%'")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        rows.len() >= l.acked_injects,
        "{} rows < {} acknowledged",
        rows.len(),
        l.acked_injects
    );
    let mut on_disk: Vec<HashSet<String>> = vec![HashSet::new(); KEYS];
    for (k, body) in &rows {
        let n: usize = k.strip_prefix("agent:main:dur-").unwrap().parse().unwrap();
        let v: Value = serde_json::from_str(body).unwrap();
        on_disk[n].insert(v["content"][0]["text"].as_str().unwrap().to_string());
    }
    for (n, texts) in l.durable.iter().enumerate() {
        assert!(texts.is_subset(&on_disk[n]), "{} in the file", key(n));
    }
    eprintln!(
        "durability: seed {seed:#x}, {ROUNDS} kill -9 rounds, {} acknowledged writes ({} inject + {} patch), \
         max {max_in_flight_at_kill} in flight at a kill, {} refused busy, {} unacknowledged but stored, \
         {} message rows, integrity ok, {:.1}s",
        l.acked_injects + l.acked_patches,
        l.acked_injects,
        l.acked_patches,
        l.refused,
        l.unacked_but_stored,
        rows.len(),
        t0.elapsed().as_secs_f64()
    );
}
