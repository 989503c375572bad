// Telegram bridge end to end: the real binary against the fake Bot API and the fake model provider:
// allowlist, 429 on send, duplicate updates, kill -9 during a reply, long answers, channels.status.
mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::openai::{Behavior, FakeOpenAi};
use common::telegram::{FakeTelegram, Fault};
use common::{ALL_SCOPES, Gateway, eventually};
use serde_json::json;

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SECRET_PART: &str = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const ALLOWED: i64 = 1001;

/// A gateway config with the fake provider and the bridge on `tg` (token in the file).
fn config(ai: &FakeOpenAi, tg: &FakeTelegram, token_line: &str) -> String {
    format!(
        "[agent]\nmodel = \"fake/m\"\n\
         [models.providers.fake]\nbaseUrl = \"{}\"\n\
         [limits]\nchat_delta_interval_ms = 0\n\
         [channels.telegram]\nenabled = true\n{token_line}\napiBaseUrl = \"{}\"\n\
         allowFrom = [{ALLOWED}]\npollTimeoutSecs = 2\n",
        ai.base_url(),
        tg.base_url()
    )
}

fn start(ai: &FakeOpenAi, tg: &FakeTelegram) -> Gateway {
    Gateway::start(&config(ai, tg, &format!("botToken = \"{TOKEN}\"")))
}

#[test]
fn allowlisted_dm_gets_one_html_reply_and_others_none() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    // The token from the environment this time.
    let gw_token = common::random_token();
    let gw = Gateway::start_with(
        &config(&ai, &tg, ""),
        &[
            ("OPENCLAW_EDGE_GATEWAY_TOKEN", gw_token.as_str()),
            ("TELEGRAM_BOT_TOKEN", TOKEN),
        ],
        Some(gw_token.clone()),
    );
    tg.text_message(2002, 2002, "let me in");
    tg.text_message(ALLOWED, ALLOWED, "hello *there*");
    assert!(tg.wait_sent(1, Duration::from_secs(20)), "{}", gw.stderr());
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(tg.replies_to(ALLOWED), ["echo: hello <i>there</i>"]);
    assert!(tg.replies_to(2002).is_empty(), "not allowlisted");
    let sent: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.method == "sendMessage")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].parse_mode.as_deref(), Some("HTML"));
    assert!(sent[0].reply_to.is_some());
}

#[test]
fn a_429_on_send_delays_the_reply_but_it_arrives_once() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = start(&ai, &tg);
    tg.fault(Fault::TooManyRequests {
        method: "sendMessage",
        retry_after: 1,
        times: 1,
    });
    tg.text_message(ALLOWED, ALLOWED, "flood");
    assert!(tg.wait_sent(1, Duration::from_secs(20)), "{}", gw.stderr());
    let tries = tg.requests_for("sendMessage");
    let sent: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.method == "sendMessage")
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].at.duration_since(tries[0].at) >= Duration::from_secs(1),
        "retry_after honoured"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tg.replies_to(ALLOWED), ["echo: flood"]);
}

#[test]
fn a_redelivered_update_is_answered_once() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = start(&ai, &tg);
    let id = tg.text_message(ALLOWED, ALLOWED, "once");
    assert!(tg.wait_sent(1, Duration::from_secs(20)), "{}", gw.stderr());
    let polls = tg.getupdates_calls();
    tg.duplicate(id);
    assert!(eventually(Duration::from_secs(10), || tg
        .getupdates_calls()
        >= polls + 2));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tg.replies_to(ALLOWED), ["echo: once"]);
    assert_eq!(ai.request_count(), 1, "one run");
}

#[test]
fn kill_9_during_a_reply_then_restart_answers_every_update_exactly_once() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    ai.set_default(Behavior::Text {
        text: "a slow answer".into(),
        chunks: 5,
        delay_ms: 300,
    });
    let mut gw = start(&ai, &tg);
    let mut message_ids = HashSet::new();
    for i in 0..3 {
        let u = tg.message(ALLOWED, ALLOWED, &format!("question {i}"));
        message_ids.insert(u["message"]["message_id"].as_i64().unwrap());
        tg.push_update(u);
    }
    // Kill while the first answer is being generated.
    assert!(eventually(Duration::from_secs(20), || ai.request_count() >= 1));
    std::thread::sleep(Duration::from_millis(400));
    gw.kill9();
    let before = tg.replies_to(ALLOWED).len();
    assert!(before < 3, "killed before every reply was out");
    let gw = gw.restart();
    assert!(tg.wait_sent(3, Duration::from_secs(40)), "{}", gw.stderr());
    let log = gw.stderr();
    let resumed = log.rsplit("bridge started").next().unwrap_or("");
    assert!(
        !resumed.contains(", 0 unfinished updates"),
        "the restart re-ran what the crash left: {log}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let sent: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.method == "sendMessage")
        .collect();
    assert_eq!(sent.len(), 3, "exactly one reply per update: {sent:?}");
    let answered: HashSet<i64> = sent.iter().filter_map(|s| s.reply_to).collect();
    assert_eq!(answered, message_ids);
    assert!(
        sent.iter()
            .all(|s| s.text.as_deref() == Some("a slow answer"))
    );
}

#[test]
fn a_long_answer_arrives_as_ordered_chunks() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let paragraphs: Vec<String> = (0..4)
        .map(|p| {
            (0..500)
                .map(|w| format!("p{p}w{w}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let long = paragraphs.join("\n\n");
    assert!(long.len() > 8000);
    ai.set_default(Behavior::Text {
        text: long.clone(),
        chunks: 3,
        delay_ms: 0,
    });
    let gw = start(&ai, &tg);
    tg.text_message(ALLOWED, ALLOWED, "tell me everything");
    let t0 = Instant::now();
    assert!(tg.wait_sent(2, Duration::from_secs(20)), "{}", gw.stderr());
    // Wait for the whole reply to be out.
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert!(eventually(Duration::from_secs(20), || {
        words(&tg.replies_to(ALLOWED).join(" ")) == words(&long)
    }));
    let replies = tg.replies_to(ALLOWED);
    assert!(replies.len() >= 2, "{} chunks", replies.len());
    assert!(replies.iter().all(|r| r.chars().count() <= 4096));
    assert!(t0.elapsed() < Duration::from_secs(30));
}

#[test]
fn channels_status_shows_the_last_poll_and_never_the_token() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = start(&ai, &tg);
    let mut c = gw.client(&ALL_SCOPES);
    assert!(tg.wait_polling(Duration::from_secs(10)));
    tg.text_message(ALLOWED, ALLOWED, "ping");
    assert!(tg.wait_sent(1, Duration::from_secs(20)));
    let mut status = json!(null);
    assert!(
        eventually(Duration::from_secs(10), || {
            status = c.call("channels.status", None).unwrap();
            status["channels"]["telegram"]["lastPollAt"].is_u64()
                && status["channels"]["telegram"]["answered"] == 1
        }),
        "{status}"
    );
    let t = &status["channels"]["telegram"];
    assert_eq!(status["channelOrder"], json!(["telegram"]));
    assert_eq!(status["channelLabels"]["telegram"], "Telegram");
    assert_eq!(t["configured"], true);
    assert_eq!(t["running"], true);
    assert_eq!(t["conflict"], false);
    assert_eq!(t["updates"], 1);
    assert_eq!(t["outboxBacklog"], 0);
    let health = c.call("health", None).unwrap();
    assert!(
        health["channels"]["telegram"]["lastPollAt"].is_u64(),
        "{health}"
    );
    let config = c.call("config.get", None).unwrap();
    for text in [
        status.to_string(),
        health.to_string(),
        config.to_string(),
        gw.stderr(),
    ] {
        assert!(!text.contains(SECRET_PART), "token leaked: {text}");
    }
}

#[test]
fn a_flood_is_handled_at_most_telegram_inflight_at_a_time_and_answered_once_each() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    ai.set_default(Behavior::Text {
        text: "slow answer".into(),
        chunks: 2,
        delay_ms: 300,
    });
    let cfg = format!(
        "[agent]\nmodel = \"fake/m\"\n[models.providers.fake]\nbaseUrl = \"{}\"\n\
         [limits]\ntelegram_inflight = 2\nmax_concurrent_runs = 8\n\
         [channels.telegram]\nenabled = true\nbotToken = \"{TOKEN}\"\napiBaseUrl = \"{}\"\n\
         dmPolicy = \"open\"\npollTimeoutSecs = 2\n",
        ai.base_url(),
        tg.base_url()
    );
    let gw = Gateway::start(&cfg);
    let users: Vec<i64> = (0..8).map(|i| 5000 + i).collect();
    for u in &users {
        tg.text_message(*u, *u, "hi");
    }
    assert!(tg.wait_sent(8, Duration::from_secs(30)), "{}", gw.stderr());
    for u in &users {
        assert_eq!(tg.replies_to(*u).len(), 1, "user {u}");
    }
    // Each model call takes ~300 ms; no more than 2 may have started within any 250 ms window
    // that another one is still running in.
    let mut starts: Vec<Instant> = ai.requests().iter().map(|r| r.at).collect();
    starts.sort();
    assert_eq!(starts.len(), 8);
    for (i, s) in starts.iter().enumerate() {
        let overlapping = starts[i..]
            .iter()
            .filter(|t| t.duration_since(*s) < Duration::from_millis(250))
            .count();
        assert!(
            overlapping <= 2,
            "{overlapping} model calls started together"
        );
    }
}
