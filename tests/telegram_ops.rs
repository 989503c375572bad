// Telegram bridge, operator side: pairing (chat, CLI and RPC), operator commands, voice notes and
// files, streamed replies, channels.logout, supergroup migration and the plain-text fallback,
// all with the real binary against the fake Bot API and the fake model provider.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::openai::{Behavior, FakeOpenAi};
use common::telegram::{FakeTelegram, Fault};
use common::{ALL_SCOPES, Gateway, eventually};
use serde_json::json;

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const OPERATOR: i64 = 4242;
const ALLOWED: i64 = 1001;

/// The fake provider and the bridge on `tg`, plus `extra` lines in `[channels.telegram]`.
fn config(ai: &FakeOpenAi, tg: &FakeTelegram, extra: &str) -> String {
    format!(
        "[agent]\nmodel = \"fake/m\"\n\
         [models.providers.fake]\nbaseUrl = \"{}\"\napiKey = \"sk-configured-key-0001\"\n\
         [[models.providers.fake.models]]\nid = \"m\"\n\
         [[models.providers.fake.models]]\nid = \"m2\"\n\
         [limits]\nchat_delta_interval_ms = 0\ntelegram_chat_interval_ms = 0\n\
         telegram_edit_interval_ms = 250\ntelegram_max_file_bytes = 2048\n\
         [channels.telegram]\nenabled = true\nbotToken = \"{TOKEN}\"\napiBaseUrl = \"{}\"\n\
         allowFrom = [{ALLOWED}]\noperators = [{OPERATOR}]\npollTimeoutSecs = 2\n{extra}\n",
        ai.base_url(),
        tg.base_url()
    )
}

fn texts(tg: &FakeTelegram, chat: i64) -> Vec<String> {
    tg.replies_to(chat)
}

/// Waits until chat `chat` has `n` replies; returns them.
fn wait_replies(tg: &FakeTelegram, gw: &Gateway, chat: i64, n: usize) -> Vec<String> {
    let ok = eventually(Duration::from_secs(20), || texts(tg, chat).len() >= n);
    assert!(ok, "{:?}\n{}", texts(tg, chat), gw.stderr());
    texts(tg, chat)
}

fn code_in(text: &str) -> String {
    let at = text.find("pairing code: ").expect(text) + "pairing code: ".len();
    text[at..at + 8].to_string()
}

#[test]
fn pairing_codes_are_approved_from_the_cli_and_dismissed_over_rpc() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = Gateway::start(&config(&ai, &tg, "dmPolicy = \"pairing\""));
    let (ann, bob) = (5001, 5002);
    tg.text_message(ann, ann, "hi, who are you?");
    let r = wait_replies(&tg, &gw, ann, 1);
    let code = code_in(&r[0]);
    assert_eq!(
        ai.request_count(),
        0,
        "an unpaired user never reaches the agent"
    );
    // Asking again gives the same code.
    tg.text_message(ann, ann, "hello?");
    let r = wait_replies(&tg, &gw, ann, 2);
    assert_eq!(code_in(&r[1]), code);

    let (rc, out, err) = common::cli(&gw, &["pairing", "list", "--json"]);
    assert_eq!(rc, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["requests"][0]["requestId"], json!(code));
    assert_eq!(v["requests"][0]["senderId"], json!(ann.to_string()));
    assert_eq!(v["limits"]["pendingPerAccount"], json!(3));

    // A typo'd code is refused with a clear error; the right one (lowercase, dashed) works.
    let (rc, _, err) = common::cli(&gw, &["pairing", "approve", "ZZZZZZZZ"]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("no pending pairing request"), "{err}");
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let (rc, out, err) = common::cli(&gw, &["pairing", "approve", &typed, "--json"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("\"notification\":\"sent\""), "{out}");
    let r = wait_replies(&tg, &gw, ann, 3);
    assert!(r[2].contains("approved"), "{r:?}");
    tg.text_message(ann, ann, "now?");
    let r = wait_replies(&tg, &gw, ann, 4);
    assert_eq!(r[3], "echo: now?");

    // Bob's request is dismissed over RPC; his next message gets a fresh code.
    tg.text_message(bob, bob, "me too");
    let first = code_in(&wait_replies(&tg, &gw, bob, 1)[0]);
    let mut c = gw.client(&["operator.pairing"]);
    let res = c
        .call(
            "channels.pairing.dismiss",
            Some(json!({"channel": "telegram", "accountId": "default", "requestId": first})),
        )
        .unwrap();
    assert_eq!(res["senderId"], json!(bob.to_string()));
    let e = c
        .call(
            "channels.pairing.approve",
            Some(json!({"channel": "telegram", "accountId": "default", "requestId": first})),
        )
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST", "{e}");
    tg.text_message(bob, bob, "again");
    let second = code_in(&wait_replies(&tg, &gw, bob, 2)[1]);
    assert_ne!(first, second);
    assert_eq!(
        ai.request_count(),
        1,
        "only the paired user's message reached the agent"
    );
}

#[test]
fn pairing_survives_a_restart_and_pending_codes_are_bounded() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = Gateway::start(&config(&ai, &tg, "dmPolicy = \"pairing\""));
    for u in 0..4 {
        tg.text_message(6000 + u, 6000 + u, "hi");
    }
    let ok = eventually(Duration::from_secs(20), || {
        (0..4).all(|u| !texts(&tg, 6000 + u).is_empty())
    });
    assert!(ok, "{}", gw.stderr());
    let all: Vec<String> = (0..4).map(|u| texts(&tg, 6000 + u)[0].clone()).collect();
    let full = all
        .iter()
        .filter(|t| t.contains("Too many pairing"))
        .count();
    assert_eq!(full, 1, "three codes live at most: {all:?}");
    let code = all
        .iter()
        .find(|t| t.contains("pairing code"))
        .map(|t| code_in(t))
        .unwrap();
    let mut c = gw.client(&ALL_SCOPES);
    let res = c
        .call(
            "channels.pairing.approve",
            Some(
                json!({"channel": "telegram", "accountId": "default", "requestId": code,
                        "notify": false}),
            ),
        )
        .unwrap();
    assert_eq!(res["notification"], "not-requested");
    let user: i64 = res["senderId"].as_str().unwrap().parse().unwrap();
    drop(c);
    let gw = gw.restart();
    let before = texts(&tg, user).len();
    tg.text_message(user, user, "remember me?");
    let r = wait_replies(&tg, &gw, user, before + 1);
    assert_eq!(r[before], "echo: remember me?", "paired users are stored");
}

#[test]
fn operator_commands_answer_in_chat_and_strangers_cannot_use_them() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = Gateway::start(&config(&ai, &tg, ""));
    tg.text_message(OPERATOR, OPERATOR, "/status");
    let r = wait_replies(&tg, &gw, OPERATOR, 1);
    assert!(r[0].contains("Bridge: healthy"), "{r:?}");
    assert!(r[0].contains("Model: fake/m"), "{r:?}");
    tg.text_message(OPERATOR, OPERATOR, "/model list");
    let r = wait_replies(&tg, &gw, OPERATOR, 2);
    assert!(r[1].contains("fake/m") && r[1].contains("fake/m2"), "{r:?}");
    tg.text_message(OPERATOR, OPERATOR, "/model fake/m2");
    let r = wait_replies(&tg, &gw, OPERATOR, 3);
    assert!(r[2].contains("now uses fake/m2"), "{r:?}");
    tg.text_message(OPERATOR, OPERATOR, "hello model");
    let r = wait_replies(&tg, &gw, OPERATOR, 4);
    assert_eq!(r[3], "echo: hello model");
    assert_eq!(
        ai.requests().last().unwrap().model(),
        "m2",
        "the chat's session uses it"
    );
    tg.text_message(OPERATOR, OPERATOR, "/model nope/x");
    let r = wait_replies(&tg, &gw, OPERATOR, 5);
    assert!(r[4].starts_with("Model not changed"), "{r:?}");
    tg.text_message(OPERATOR, OPERATOR, "/reset");
    let r = wait_replies(&tg, &gw, OPERATOR, 6);
    assert!(r[5].starts_with("Session reset"), "{r:?}");
    tg.text_message(OPERATOR, OPERATOR, "/tts speak hello");
    let r = wait_replies(&tg, &gw, OPERATOR, 7);
    assert!(
        r[6].contains("no text-to-speech program is configured"),
        "{r:?}"
    );
    tg.text_message(OPERATOR, OPERATOR, "/pairing list");
    let r = wait_replies(&tg, &gw, OPERATOR, 8);
    assert_eq!(r[7], "No pairing requests are waiting.");
    // An allowlisted user who is not an operator.
    tg.text_message(ALLOWED, ALLOWED, "/status");
    let r = wait_replies(&tg, &gw, ALLOWED, 1);
    assert!(r[0].contains("operator command"), "{r:?}");
    // Other commands go to the agent as text.
    tg.text_message(ALLOWED, ALLOWED, "/weather paris");
    let r = wait_replies(&tg, &gw, ALLOWED, 2);
    assert_eq!(r[1], "echo: /weather paris");
}

#[test]
fn set_api_key_deletes_the_message_stores_the_key_privately_and_never_echoes_it() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = Gateway::start(&config(&ai, &tg, ""));
    const KEY: &str = "sk-runtime-NEWKEY-0123456789";
    let u = tg.message(OPERATOR, OPERATOR, &format!("/set api key fake {KEY}"));
    let mid = u["message"]["message_id"].as_i64().unwrap();
    tg.push_update(u);
    let r = wait_replies(&tg, &gw, OPERATOR, 1);
    assert!(r[0].contains("API key for fake stored"), "{r:?}");
    assert!(r[0].contains("I deleted your message"), "{r:?}");
    let deleted = tg.requests_for("deleteMessage");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].param("message_id"), Some(&json!(mid)));
    let path = gw.dir.join("state").join("provider-keys.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The next model call carries the new key.
    tg.text_message(OPERATOR, OPERATOR, "use it");
    wait_replies(&tg, &gw, OPERATOR, 2);
    let auth = ai
        .requests()
        .last()
        .unwrap()
        .header("authorization")
        .map(str::to_string);
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    // The key is in no answer, no status, no log line.
    for t in texts(&tg, OPERATOR) {
        assert!(!t.contains(KEY), "{t}");
    }
    let mut c = gw.client(&ALL_SCOPES);
    let cfg = c.call("config.get", None).unwrap().to_string();
    assert!(!cfg.contains(KEY));
    assert!(!gw.stderr().contains(KEY));
    // And it is used again after a restart.
    drop(c);
    let gw = gw.restart();
    tg.text_message(OPERATOR, OPERATOR, "after restart");
    wait_replies(&tg, &gw, OPERATOR, 3);
    let auth = ai
        .requests()
        .last()
        .unwrap()
        .header("authorization")
        .map(str::to_string);
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
}

fn transcriber(dir: &std::path::Path, body: &str) -> String {
    let p = dir.join("transcribe.sh");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn voice_notes_and_files_are_size_capped_and_answered_honestly() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = Gateway::start(&config(&ai, &tg, ""));
    tg.add_file("voice-1", vec![7u8; 600]);
    tg.voice_message(ALLOWED, ALLOWED, "voice-1", 2);
    let r = wait_replies(&tg, &gw, ALLOWED, 1);
    assert!(r[0].contains("no transcription program"), "{r:?}");
    assert!(
        tg.requests_for("download").is_empty(),
        "nothing fetched for nothing"
    );
    // Too large: refused from the stated size, never downloaded.
    tg.add_file("big", vec![1u8; 5000]);
    tg.document_message(ALLOWED, ALLOWED, "big", "big.txt", None);
    let r = wait_replies(&tg, &gw, ALLOWED, 2);
    assert!(r[1].contains("at most 2 KiB"), "{r:?}");
    assert!(tg.requests_for("download").is_empty());
    // A small text file reaches the agent with its caption.
    tg.add_file("notes", b"buy milk\nfix bike".to_vec());
    tg.document_message(ALLOWED, ALLOWED, "notes", "notes.txt", Some("summarise"));
    let r = wait_replies(&tg, &gw, ALLOWED, 3);
    assert!(
        r[2].contains("buy milk") && r[2].starts_with("echo: summarise"),
        "{r:?}"
    );
    // Binary content is not passed on.
    tg.add_file("bin", vec![0u8, 159, 146, 150, 0, 1]);
    tg.document_message(ALLOWED, ALLOWED, "bin", "x.bin", None);
    let r = wait_replies(&tg, &gw, ALLOWED, 4);
    assert!(r[3].contains("only read text files"), "{r:?}");
    assert_eq!(
        ai.request_count(),
        1,
        "only the text file reached the model"
    );
}

#[test]
fn voice_notes_go_through_the_configured_transcriber() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let dir = std::env::temp_dir().join(format!("oce-tr-{}", common::random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    // Prints the size of the audio it got, so the test sees the real file was passed.
    let ok = transcriber(&dir, "echo \"heard $(wc -c < \"$1\" | tr -d ' ') bytes\"");
    let gw = Gateway::start(&config(
        &ai,
        &tg,
        &format!("transcribeCommand = [\"{ok}\"]\ntranscribeTimeoutSecs = 2"),
    ));
    tg.add_file("voice-1", vec![7u8; 600]);
    tg.voice_message(ALLOWED, ALLOWED, "voice-1", 2);
    let r = wait_replies(&tg, &gw, ALLOWED, 1);
    assert_eq!(r[0], "echo: heard 600 bytes");
    // It ran as an edge job (bounded by edge_max_jobs, listed like the others).
    let jobs = gw
        .client(&ALL_SCOPES)
        .call("edge.jobs.list", Some(json!({"kind": "transcribe"})))
        .unwrap();
    assert_eq!(jobs["jobs"][0]["status"], "succeeded", "{jobs}");
    assert_eq!(jobs["jobs"][0]["request"]["channel"], "telegram", "{jobs}");
    drop(gw);
    // A transcriber that hangs is killed at its timeout and the user is told.
    let hang = transcriber(&dir, "sleep 30");
    let gw = Gateway::start(&config(
        &ai,
        &tg,
        &format!("transcribeCommand = [\"{hang}\"]\ntranscribeTimeoutSecs = 1"),
    ));
    tg.voice_message(ALLOWED, ALLOWED, "voice-1", 2);
    let r = wait_replies(&tg, &gw, ALLOWED, 2);
    assert!(r[1].contains("took too long"), "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn streamed_replies_edit_one_message_at_a_bounded_rate() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    ai.set_default(Behavior::Tokens {
        n: 12,
        delay_ms: 100,
    });
    let gw = Gateway::start(&config(&ai, &tg, "streaming = true"));
    tg.text_message(ALLOWED, ALLOWED, "stream please");
    let want: String = (0..12).map(|i| format!("t{i} ")).collect();
    let ok = eventually(Duration::from_secs(20), || {
        tg.chat_view(ALLOWED)
            .iter()
            .any(|(_, t)| t.trim() == want.trim())
    });
    assert!(ok, "{:?}\n{}", tg.chat_view(ALLOWED), gw.stderr());
    std::thread::sleep(Duration::from_millis(500));
    let sends: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.chat_id == ALLOWED && s.method == "sendMessage")
        .collect();
    let edits: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.chat_id == ALLOWED && s.method == "editMessageText")
        .collect();
    assert_eq!(sends.len(), 1, "one message, edited: {sends:?}");
    assert!(edits.len() >= 2, "the draft grew: {edits:?}");
    // 1.2 s of tokens at one edit per 250 ms: at most ~6 edits plus the final.
    assert!(edits.len() <= 8, "bounded edit rate: {}", edits.len());
    for w in edits.windows(2).take(edits.len().saturating_sub(2)) {
        assert!(w[1].at - w[0].at >= Duration::from_millis(200), "{edits:?}");
    }
    assert!(edits.iter().all(|e| e.message_id == sends[0].message_id));
}

#[test]
fn logout_stops_the_bridge_and_status_says_so() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let gw = Gateway::start(&config(&ai, &tg, ""));
    tg.text_message(ALLOWED, ALLOWED, "one");
    wait_replies(&tg, &gw, ALLOWED, 1);
    let mut c = gw.client(&ALL_SCOPES);
    let e = c
        .call("channels.logout", Some(json!({"channel": "discord"})))
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
    let res = c
        .call("channels.logout", Some(json!({"channel": "telegram"})))
        .unwrap();
    assert_eq!(res["loggedOut"], true);
    let ok = eventually(Duration::from_secs(10), || {
        let s = c.call("channels.status", None).unwrap();
        s["channels"]["telegram"]["running"] == false
    });
    assert!(ok, "{}", gw.stderr());
    let s = c.call("channels.status", None).unwrap();
    assert_eq!(s["channels"]["telegram"]["loggedOut"], true);
    assert!(
        s["channels"]["telegram"]["lastError"]
            .as_str()
            .unwrap()
            .contains("logged out")
    );
    let polls = tg.getupdates_calls();
    tg.text_message(ALLOWED, ALLOWED, "two");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(texts(&tg, ALLOWED).len(), 1, "no answers after logout");
    assert!(tg.getupdates_calls() <= polls + 1, "polling stopped");
}

#[test]
fn a_migrated_group_gets_its_reply_in_the_supergroup_and_bad_markup_falls_back_to_plain() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    let (group, supergroup) = (-4001, -1_000_000_004_001);
    tg.add_chat(supergroup);
    let gw = Gateway::start(&config(
        &ai,
        &tg,
        &format!("groups = [{group}]\ngroupActivation = \"always\""),
    ));
    tg.fault(Fault::Migrated {
        method: "sendMessage",
        to: supergroup,
        times: 1,
    });
    tg.text_message(group, ALLOWED, "hello group");
    let ok = eventually(Duration::from_secs(20), || {
        !texts(&tg, supergroup).is_empty()
    });
    assert!(ok, "{}", gw.stderr());
    assert_eq!(texts(&tg, supergroup), ["echo: hello group"]);
    assert!(texts(&tg, group).is_empty());
    // Telegram refuses the HTML once: the same text goes out plain.
    tg.fault(Fault::BadRequest {
        method: "sendMessage",
        description: "can't parse entities: Unsupported start tag \"x\" at byte offset 0",
        times: 1,
    });
    tg.text_message(ALLOWED, ALLOWED, "**bold** & <b>");
    let r = wait_replies(&tg, &gw, ALLOWED, 1);
    assert_eq!(r[0], "echo: bold & <b>");
    let last = tg
        .sent()
        .into_iter()
        .rfind(|s| s.chat_id == ALLOWED && s.method == "sendMessage")
        .unwrap();
    assert_eq!(last.parse_mode, None, "resent without parse_mode");
}

#[test]
fn send_queues_text_for_a_chat_once_per_idempotency_key() {
    let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
    tg.add_chat(ALLOWED);
    let gw = Gateway::start(&config(&ai, &tg, ""));
    let mut c = gw.client(&ALL_SCOPES);
    let p = json!({"to": ALLOWED.to_string(), "message": "reminder: **stand up**",
                   "idempotencyKey": "rem-1"});
    let r = c.call("send", Some(p.clone())).unwrap();
    assert_eq!(r["status"], "queued", "{r}");
    assert_eq!(r["chunks"], 1);
    let again = c.call("send", Some(p)).unwrap();
    assert_eq!(again["status"], "duplicate");
    let r = wait_replies(&tg, &gw, ALLOWED, 1);
    assert_eq!(r, ["reminder: <b>stand up</b>"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(texts(&tg, ALLOWED).len(), 1, "sent once");
    let e = c
        .call(
            "send",
            Some(json!({"to": "@someone", "message": "x", "idempotencyKey": "k2"})),
        )
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");
    let e = c
        .call(
            "send",
            Some(json!({"to": "1", "message": "x", "idempotencyKey": "k3", "channel": "slack"})),
        )
        .unwrap_err();
    assert_eq!(e["details"]["code"], "NOT_IMPLEMENTED", "{e}");
}

#[test]
fn tts_speak_sends_a_voice_message_for_ogg_and_a_document_for_wav() {
    let tts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/edge/tts.sh");
    for (format, method, reply) in [
        ("ogg", "sendVoice", "Sent as a voice message."),
        ("wav", "sendDocument", "Sent as a wav file"),
    ] {
        let (ai, tg) = (FakeOpenAi::start(), FakeTelegram::start(TOKEN));
        let cfg = format!(
            "{}[edge.tts]\ncommand = [\"{}\"]\nformat = \"{format}\"\n",
            config(&ai, &tg, ""),
            tts.display()
        );
        let gw = Gateway::start(&cfg);
        tg.text_message(OPERATOR, OPERATOR, "/tts status");
        let r = wait_replies(&tg, &gw, OPERATOR, 1);
        assert!(r[0].starts_with("TTS: on (provider kittentts"), "{r:?}");
        tg.text_message(OPERATOR, OPERATOR, "/tts speak good morning");
        let r = wait_replies(&tg, &gw, OPERATOR, 2);
        assert!(r[1].starts_with(reply), "{r:?}");
        let files: Vec<_> = tg
            .sent()
            .into_iter()
            .filter(|s| s.method == method)
            .collect();
        assert_eq!(files.len(), 1, "{format}");
        let desc = files[0].text.clone().unwrap_or_default();
        assert!(
            desc.starts_with("<file ") && desc.contains(&format!(".{format}, ")),
            "{desc}"
        );
        tg.text_message(OPERATOR, OPERATOR, "/tts off");
        let r = wait_replies(&tg, &gw, OPERATOR, 3);
        assert_eq!(r[2], "TTS is off.");
        tg.text_message(OPERATOR, OPERATOR, "/tts speak again");
        let r = wait_replies(&tg, &gw, OPERATOR, 4);
        assert!(r[3].contains("disabled"), "{r:?}");
    }
}
