// Telegram bridge under faults, with the real binary against the fake Bot API: 502 bursts,
// malformed JSON, a connection dropped mid-body, 409 Conflict, a stalled long poll, a 30 s
// outage, a failing provider in one chat, and the per-chat send spacing. Every message is
// answered exactly once.
mod common;

use std::time::Duration;

use common::openai::{Behavior, FakeOpenAi};
use common::telegram::{FakeTelegram, Fault, Network};
use common::{ALL_SCOPES, Gateway, eventually};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const A: i64 = 1001;
const B: i64 = 1002;

fn start(ai: &FakeOpenAi, tg: &FakeTelegram, limits: &str) -> Gateway {
    Gateway::start(&format!(
        "[agent]\nmodel = \"fake/m\"\n\
         [models.providers.fake]\nbaseUrl = \"{}\"\n\
         [limits]\nchat_delta_interval_ms = 0\n{limits}\n\
         [channels.telegram]\nenabled = true\nbotToken = \"{TOKEN}\"\napiBaseUrl = \"{}\"\n\
         allowFrom = [{A}, {B}]\npollTimeoutSecs = 1\n",
        ai.base_url(),
        tg.base_url()
    ))
}

fn status(gw: &Gateway) -> serde_json::Value {
    let mut c = gw.client(&ALL_SCOPES);
    c.call("channels.status", None).unwrap()["channels"]["telegram"].clone()
}

/// Every text in `sent` answered exactly once in `chat`.
fn answered_once(tg: &FakeTelegram, chat: i64, sent: &[&str]) {
    let got = tg.replies_to(chat);
    for s in sent {
        let n = got.iter().filter(|g| **g == format!("echo: {s}")).count();
        assert_eq!(n, 1, "{s:?} in {got:?}");
    }
    assert_eq!(got.len(), sent.len(), "{got:?}");
}

#[test]
fn bad_gateway_bursts_malformed_answers_and_cut_bodies_lose_and_repeat_nothing() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    // Queued before the bridge starts, so its first polls meet them in this order.
    tg.fault(Fault::BadGateway {
        method: "getUpdates",
        times: 2,
    });
    tg.fault(Fault::Malformed {
        method: "getUpdates",
        times: 1,
    });
    // The poll that hands out the messages is cut mid-body: the offset is not confirmed, so
    // they come again and are answered once.
    tg.fault(Fault::DropMidBody {
        method: "getUpdates",
        times: 1,
    });
    // A 502 on a send too: the chunk is retried from the outbox.
    tg.fault(Fault::BadGateway {
        method: "sendMessage",
        times: 2,
    });
    tg.text_message(A, A, "one");
    tg.text_message(B, B, "two");
    let gw = start(&ai, &tg, "");
    let ok = eventually(Duration::from_secs(40), || {
        tg.replies_to(A).len() + tg.replies_to(B).len() >= 2
    });
    assert!(ok, "{}", gw.stderr());
    std::thread::sleep(Duration::from_secs(2));
    answered_once(&tg, A, &["one"]);
    answered_once(&tg, B, &["two"]);
    assert_eq!(ai.request_count(), 2, "one model run per message");
    assert!(tg.getupdates_calls() >= 5, "every fault was met");
    let s = status(&gw);
    assert_eq!(s["healthy"], true, "{s}");
    assert!(
        s["lastError"].is_null(),
        "a good poll clears the error: {s}"
    );
    let log = gw.stderr();
    assert!(
        log.contains("server error 502") || log.contains("502"),
        "{log}"
    );
    assert!(!log.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
}

#[test]
fn conflict_is_reported_then_polling_resumes() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    tg.fault(Fault::Conflict { times: 1 });
    let gw = start(&ai, &tg, "");
    let ok = eventually(Duration::from_secs(10), || status(&gw)["conflict"] == true);
    assert!(ok, "{}", gw.stderr());
    let s = status(&gw);
    assert!(
        s["lastError"].as_str().unwrap().contains("another poller"),
        "{s}"
    );
    assert!(gw.stderr().contains("conflict"), "logged clearly");
    // The bridge retries slowly (30 s); a message sent meanwhile is answered after that.
    tg.text_message(A, A, "after conflict");
    let ok = eventually(Duration::from_secs(50), || !tg.replies_to(A).is_empty());
    assert!(ok, "{}", gw.stderr());
    answered_once(&tg, A, &["after conflict"]);
    assert_eq!(status(&gw)["conflict"], false);
}

#[test]
fn a_stalled_long_poll_is_abandoned_and_redone_on_a_fresh_connection() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    tg.fault(Fault::Stall {
        method: "getUpdates",
        times: 1,
    });
    let gw = start(&ai, &tg, "");
    tg.text_message(A, A, "behind the stall");
    // pollTimeoutSecs = 1: the stalled read is given up after 1 + 10 s.
    let ok = eventually(Duration::from_secs(30), || !tg.replies_to(A).is_empty());
    assert!(ok, "{}", gw.stderr());
    assert_eq!(
        tg.stalls_abandoned(),
        1,
        "the client closed the stalled socket"
    );
    assert!(tg.connections() >= 2, "a fresh connection");
    answered_once(&tg, A, &["behind the stall"]);
}

#[test]
fn a_thirty_second_outage_is_survived_and_shows_in_health() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = start(&ai, &tg, "");
    assert!(tg.wait_polling(Duration::from_secs(10)));
    tg.set_network(Network::Refuse);
    tg.text_message(A, A, "during the outage");
    std::thread::sleep(Duration::from_secs(15));
    let s = status(&gw);
    assert_eq!(s["healthy"], false, "no good poll for 15 s: {s}");
    assert!(s["backoffMs"].as_u64().unwrap() > 0, "{s}");
    let mut c = gw.client(&ALL_SCOPES);
    let h = c.call("health", None).unwrap();
    assert_eq!(h["channels"]["telegram"]["healthy"], false, "{h}");
    std::thread::sleep(Duration::from_secs(15));
    tg.set_network(Network::Up);
    // Backoff is capped at 30 s (±20 %).
    let ok = eventually(Duration::from_secs(45), || !tg.replies_to(A).is_empty());
    assert!(ok, "{}", gw.stderr());
    answered_once(&tg, A, &["during the outage"]);
    assert!(eventually(
        Duration::from_secs(5),
        || status(&gw)["healthy"] == true
    ));
}

#[test]
fn a_failing_provider_in_one_chat_does_not_stop_the_others_and_chats_are_spaced() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    ai.push(Behavior::Status {
        code: 400,
        retry_after_secs: None,
        message: "bad request for this one".into(),
    });
    let gw = start(&ai, &tg, "telegram_chat_interval_ms = 700");
    tg.text_message(A, A, "breaks");
    assert!(eventually(Duration::from_secs(20), || !tg
        .replies_to(A)
        .is_empty()));
    assert!(
        tg.replies_to(A)[0].starts_with("Sorry"),
        "{:?}",
        tg.replies_to(A)
    );
    tg.text_message(B, B, "fine");
    tg.text_message(A, A, "works now");
    tg.text_message(A, A, "and again");
    let ok = eventually(Duration::from_secs(20), || {
        tg.replies_to(B).len() == 1 && tg.replies_to(A).len() == 3
    });
    assert!(ok, "{}", gw.stderr());
    // Sends into chat A are at least 700 ms apart.
    let times: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.chat_id == A && s.method == "sendMessage")
        .map(|s| s.at)
        .collect();
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(650),
            "{:?}",
            w[1] - w[0]
        );
    }
}

#[test]
fn a_full_outbox_keeps_each_chats_replies_in_order() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    // Two chunks of outbox, a slow-ish Telegram: answers queue up behind a full outbox.
    tg.fault(Fault::Delay {
        method: "sendMessage",
        ms: 150,
        times: 40,
    });
    let gw = start(
        &ai,
        &tg,
        "telegram_outbox = 2\ntelegram_inflight = 4\ntelegram_chat_interval_ms = 0",
    );
    assert!(tg.wait_polling(Duration::from_secs(10)));
    let mut sent = Vec::new();
    for i in 0..6 {
        for chat in [A, B] {
            let t = format!("m{i}");
            tg.text_message(chat, chat, &t);
            sent.push((chat, t));
        }
    }
    let ok = eventually(Duration::from_secs(60), || {
        tg.replies_to(A).len() == 6 && tg.replies_to(B).len() == 6
    });
    assert!(ok, "{}", gw.stderr());
    for chat in [A, B] {
        let want: Vec<String> = (0..6).map(|i| format!("echo: m{i}")).collect();
        assert_eq!(tg.replies_to(chat), want, "chat {chat} in order");
    }
    let warns = gw.stderr().matches("outbox full").count();
    assert!(
        warns <= 12,
        "one line per waiting answer, not one per second: {warns}"
    );
}
