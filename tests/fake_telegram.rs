// Self-tests for the fake Telegram Bot API server in tests/common/telegram.rs, using a raw std TcpStream client.

#[path = "common/telegram.rs"]
mod telegram;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use telegram::{Conflicts, FakeTelegram, Fault, Network};

const TOKEN: &str = "123456:TEST-token";

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

fn connect(srv: &FakeTelegram) -> BufReader<TcpStream> {
    let s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

fn send_raw(c: &mut BufReader<TcpStream>, method: &str, path: &str, ctype: &str, body: &str) {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: api.telegram.org\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.get_mut().write_all(req.as_bytes()).unwrap();
}

fn line(c: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    c.read_line(&mut l).unwrap();
    assert!(l.ends_with("\r\n"), "CRLF line: {l:?}");
    l.truncate(l.len() - 2);
    l
}

fn read_resp(c: &mut BufReader<TcpStream>) -> Resp {
    let status_line = line(c);
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let l = line(c);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let n: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut body = vec![0; n];
    c.read_exact(&mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// POSTs `params` as JSON to `method` on a kept-alive connection.
fn call(c: &mut BufReader<TcpStream>, method: &str, params: Value) -> Resp {
    let path = format!("/bot{TOKEN}/{method}");
    send_raw(c, "POST", &path, "application/json", &params.to_string());
    read_resp(c)
}

fn call_once(srv: &FakeTelegram, method: &str, params: Value) -> Resp {
    call(&mut connect(srv), method, params)
}

#[test]
fn get_me_wrong_token_and_unknown_method_have_real_shapes() {
    let srv = FakeTelegram::start(TOKEN);
    let mut c = connect(&srv);
    let r = call(&mut c, "getMe", json!({}));
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["result"]["id"], 123456);
    assert_eq!(v["result"]["is_bot"], true);
    assert_eq!(v["result"]["username"], srv.bot_username());
    // Same connection (keep-alive), a GET with a query string and a wrong token.
    c.get_mut()
        .write_all(b"GET /botWRONG:tok/getMe?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_resp(&mut c);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    let r = call(&mut c, "sendSticker", json!({}));
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );
    assert_eq!(srv.requests().len(), 3);
    assert!(!srv.requests()[1].authorized);
}

#[test]
fn long_poll_returns_an_update_pushed_during_the_wait() {
    let srv = FakeTelegram::start(TOKEN);
    let mut c = connect(&srv);
    // Empty queue, short timeout: `[]` after the timeout.
    let t0 = Instant::now();
    let r = call(&mut c, "getUpdates", json!({"timeout": 1}));
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(r.json(), json!({"ok": true, "result": []}));

    let t0 = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            assert!(srv.wait_polling(Duration::from_secs(5)));
            thread::sleep(Duration::from_millis(200));
            srv.text_message(42, 42, "hello bot");
        });
        let r = call(&mut c, "getUpdates", json!({"timeout": 30}));
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let v = r.json();
        let ups = v["result"].as_array().unwrap();
        assert_eq!(ups.len(), 1, "{v}");
        let m = &ups[0]["message"];
        assert_eq!(m["text"], "hello bot");
        assert_eq!(m["chat"]["type"], "private");
        assert_eq!(m["chat"]["id"], 42);
        assert_eq!(m["from"]["id"], 42);
    });
    assert_eq!(srv.getupdates_calls(), 2);
    assert_eq!(srv.polls_waiting(), 0);
}

#[test]
fn offset_confirmation_drops_updates_and_duplicates_are_redelivered() {
    let srv = FakeTelegram::start(TOKEN);
    let a = srv.text_message(-100, 7, "/start@edge_test_bot hi");
    let b = srv.text_message(-100, 8, "second");
    let mut c = connect(&srv);
    let v = call(&mut c, "getUpdates", json!({})).json();
    let ids: Vec<i64> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, b]);
    assert_eq!(v["result"][0]["message"]["chat"]["type"], "group");
    assert_eq!(
        v["result"][0]["message"]["entities"][0],
        json!({"offset": 0, "length": 20, "type": "bot_command"})
    );
    // Not confirmed yet: delivered again.
    let v = call(&mut c, "getUpdates", json!({"limit": 1})).json();
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    assert_eq!(v["result"][0]["update_id"], a);
    // Confirm the first: only the second remains.
    let v = call(&mut c, "getUpdates", json!({"offset": a + 1})).json();
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    assert_eq!(v["result"][0]["update_id"], b);
    assert_eq!(srv.confirmed_offset(), a + 1);
    // Confirm both (form-encoded, as many clients send it).
    let path = format!("/bot{TOKEN}/getUpdates");
    let body = format!("offset={}&timeout=0", b + 1);
    send_raw(
        &mut c,
        "POST",
        &path,
        "application/x-www-form-urlencoded",
        &body,
    );
    assert_eq!(read_resp(&mut c).json()["result"], json!([]));
    assert_eq!(srv.pending_updates(), 0);
    // A redelivered duplicate shows up once more despite the confirmed offset.
    srv.duplicate(a);
    let v = call(&mut c, "getUpdates", json!({"offset": b + 1})).json();
    assert_eq!(v["result"][0]["update_id"], a);
    let v = call(&mut c, "getUpdates", json!({"offset": b + 1})).json();
    assert_eq!(v["result"], json!([]));
}

#[test]
fn too_many_requests_carries_retry_after_then_recovers() {
    let srv = FakeTelegram::start(TOKEN);
    srv.add_chat(5);
    srv.fault(Fault::TooManyRequests {
        method: "sendMessage",
        retry_after: 7,
        times: 2,
    });
    let mut c = connect(&srv);
    for _ in 0..2 {
        let r = call(&mut c, "sendMessage", json!({"chat_id": 5, "text": "hi"}));
        assert_eq!(r.status, 429);
        let v = r.json();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error_code"], 429);
        assert_eq!(v["description"], "Too Many Requests: retry after 7");
        assert_eq!(v["parameters"]["retry_after"], 7);
    }
    let r = call(&mut c, "sendMessage", json!({"chat_id": "5", "text": "hi"}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["text"], "hi");
    assert_eq!(srv.replies_to(5), vec!["hi"]);
    assert_eq!(srv.sent().len(), 1);
}

#[test]
fn send_message_over_4096_chars_is_too_long() {
    let srv = FakeTelegram::start(TOKEN);
    srv.add_chat(9);
    // 4096 scalar values is fine even when they are astral (8192 UTF-16 units).
    let ok = "😀".repeat(4096);
    let r = call_once(&srv, "sendMessage", json!({"chat_id": 9, "text": ok}));
    assert_eq!(r.status, 200);
    let long = "x".repeat(4097);
    let r = call_once(&srv, "sendMessage", json!({"chat_id": 9, "text": long}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"ok": false, "error_code": 400, "description": "Bad Request: message is too long"})
    );
    // Counted after entity parsing: markup does not count.
    let marked = format!("<b>{}</b>", "y".repeat(4096));
    let r = call_once(
        &srv,
        "sendMessage",
        json!({"chat_id": 9, "text": marked, "parse_mode": "HTML"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["result"]["entities"],
        json!([{"type": "bold", "offset": 0, "length": 4096}])
    );
    // Unknown chats do not exist.
    let r = call_once(&srv, "sendMessage", json!({"chat_id": 10, "text": "x"}));
    assert_eq!(r.json()["description"], "Bad Request: chat not found");
}

#[test]
fn malformed_markup_cannot_parse_entities() {
    let srv = FakeTelegram::start(TOKEN);
    srv.add_chat(3);
    let mut c = connect(&srv);
    let cases = [
        (
            "HTML",
            "<b>bold",
            "Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            "HTML",
            "a <br> b",
            "Unsupported start tag \"br\" at byte offset 2",
        ),
        (
            "HTML",
            "<b><i>x</b></i>",
            "Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\"",
        ),
        (
            "MarkdownV2",
            "done.",
            "Character '.' is reserved and must be escaped with the preceding '\\'",
        ),
        (
            "MarkdownV2",
            "*bold",
            "Can't find end of Bold entity at byte offset 0",
        ),
        (
            "Markdown",
            "a _b",
            "Can't find end of the entity starting at byte offset 2",
        ),
    ];
    for (mode, text, why) in cases {
        let r = call(
            &mut c,
            "sendMessage",
            json!({"chat_id": 3, "text": text, "parse_mode": mode}),
        );
        assert_eq!(r.status, 400, "{mode} {text}");
        assert_eq!(
            r.json()["description"],
            format!("Bad Request: can't parse entities: {why}"),
            "{mode} {text}"
        );
    }
    assert!(srv.sent().is_empty());
    // Well-formed markup is accepted and the entities come back in UTF-16 units.
    let r = call(
        &mut c,
        "sendMessage",
        json!({"chat_id": 3, "text": "😀 <b>a &amp; b</b> <a href=\"http://x\">l</a>", "parse_mode": "HTML"}),
    );
    let v = r.json();
    assert_eq!(v["result"]["text"], "😀 a & b l");
    assert_eq!(
        v["result"]["entities"],
        json!([{"type": "bold", "offset": 3, "length": 5},
               {"type": "text_link", "offset": 9, "length": 1, "url": "http://x"}])
    );
    let r = call(
        &mut c,
        "sendMessage",
        json!({"chat_id": 3, "text": "*b* _i_ __u__ `c\\.` done\\.", "parse_mode": "MarkdownV2"}),
    );
    assert_eq!(r.json()["result"]["text"], "b i u c. done.");
}

#[test]
fn stall_keeps_the_connection_open_until_the_client_closes() {
    let srv = FakeTelegram::start(TOKEN);
    srv.fault(Fault::Stall {
        method: "getUpdates",
        times: 1,
    });
    let mut c = connect(&srv);
    c.get_mut()
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    send_raw(
        &mut c,
        "POST",
        &format!("/bot{TOKEN}/getUpdates"),
        "application/json",
        "{\"timeout\":0}",
    );
    let mut buf = [0u8; 16];
    let e = c.get_mut().read(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e:?}"
    );
    assert_eq!(srv.stalls_abandoned(), 0);
    drop(c);
    let t0 = Instant::now();
    while srv.stalls_abandoned() == 0 && t0.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.stalls_abandoned(), 1);
    // The next call is served normally.
    let r = call_once(&srv, "getUpdates", json!({}));
    assert_eq!(r.json()["result"], json!([]));
}

#[test]
fn drop_mid_body_sends_half_and_the_call_takes_effect() {
    let srv = FakeTelegram::start(TOKEN);
    srv.add_chat(11);
    srv.fault(Fault::DropMidBody {
        method: "sendMessage",
        times: 1,
    });
    let mut c = connect(&srv);
    send_raw(
        &mut c,
        "POST",
        &format!("/bot{TOKEN}/sendMessage"),
        "application/json",
        &json!({"chat_id": 11, "text": "once"}).to_string(),
    );
    let status = line(&mut c);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut len = 0usize;
    loop {
        let l = line(&mut c);
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("Content-Length: ") {
            len = v.parse().unwrap();
        }
    }
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(len > 0 && rest.len() == len / 2, "{len} {}", rest.len());
    assert_eq!(srv.replies_to(11), vec!["once"]);
}

#[test]
fn overlapping_polls_conflict_and_faults() {
    let srv = FakeTelegram::start(TOKEN);
    assert_eq!(srv.allowed_updates(), None);
    thread::scope(|s| {
        let old = s.spawn(|| {
            call_once(
                &srv,
                "getUpdates",
                json!({"timeout": 20, "allowed_updates": ["message"]}),
            )
        });
        assert!(srv.wait_polling(Duration::from_secs(5)));
        let new = s.spawn(|| call_once(&srv, "getUpdates", json!({"timeout": 1})));
        let r = old.join().unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(
            r.json()["description"],
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        );
        assert_eq!(new.join().unwrap().status, 200);
    });
    assert_eq!(srv.conflicts(), 1);
    assert_eq!(srv.allowed_updates(), Some(vec!["message".to_string()]));

    srv.set_conflicts(Conflicts::RejectNewer);
    srv.fault(Fault::Conflict { times: 1 });
    assert_eq!(call_once(&srv, "getUpdates", json!({})).status, 409);
    srv.fault(Fault::BadGateway {
        method: "*",
        times: 1,
    });
    let r = call_once(&srv, "getMe", json!({}));
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html"));
    srv.fault(Fault::Malformed {
        method: "getMe",
        times: 1,
    });
    let r = call_once(&srv, "getMe", json!({}));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
}

#[test]
fn outage_closes_connections_and_refuse_stops_listening() {
    let srv = FakeTelegram::start(TOKEN);
    // A waiting long poll is cut by the outage.
    let mut c = connect(&srv);
    send_raw(
        &mut c,
        "POST",
        &format!("/bot{TOKEN}/getUpdates"),
        "application/json",
        "{\"timeout\":30}",
    );
    assert!(srv.wait_polling(Duration::from_secs(5)));
    srv.set_outage(true);
    let mut rest = Vec::new();
    let n = c.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0);
    // New connections are accepted and closed without an answer.
    let mut c = connect(&srv);
    let _ = c.get_mut().write_all(b"GET /x HTTP/1.1\r\n\r\n");
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap_or(0), 0);

    srv.set_network(Network::Refuse);
    let t0 = Instant::now();
    while TcpStream::connect(srv.addr()).is_ok() && t0.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(TcpStream::connect(srv.addr()).is_err());
    srv.set_outage(false);
    let t0 = Instant::now();
    while TcpStream::connect(srv.addr()).is_err() && t0.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call_once(&srv, "getMe", json!({})).status, 200);
}

#[test]
fn files_actions_edits_and_deletes() {
    let srv = FakeTelegram::start(TOKEN);
    let path = srv.add_file("VOICE1", b"OggS fake".to_vec());
    srv.voice_message(77, 77, "VOICE1", 3);
    let mut c = connect(&srv);
    let v = call(&mut c, "getFile", json!({"file_id": "VOICE1"})).json();
    assert_eq!(v["result"]["file_path"], path);
    assert_eq!(v["result"]["file_size"], 9);
    let r = call(&mut c, "getFile", json!({"file_id": "nope"}));
    assert_eq!(r.json()["description"], "Bad Request: invalid file_id");
    c.get_mut()
        .write_all(format!("GET /file/bot{TOKEN}/{path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let r = read_resp(&mut c);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"OggS fake");

    let r = call(
        &mut c,
        "sendChatAction",
        json!({"chat_id": 77, "action": "typing"}),
    );
    assert_eq!(r.json()["result"], true);
    let m = call(
        &mut c,
        "sendMessage",
        json!({"chat_id": 77, "text": "draft"}),
    )
    .json();
    let mid = m["result"]["message_id"].as_i64().unwrap();
    let r = call(
        &mut c,
        "editMessageText",
        json!({"chat_id": 77, "message_id": mid, "text": "final"}),
    );
    assert_eq!(r.json()["result"]["text"], "final");
    let r = call(
        &mut c,
        "editMessageText",
        json!({"chat_id": 77, "message_id": mid, "text": "final"}),
    );
    assert!(
        r.json()["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: message is not modified")
    );
    assert_eq!(srv.chat_view(77), vec![(mid, "final".to_string())]);
    let r = call(
        &mut c,
        "deleteMessage",
        json!({"chat_id": 77, "message_id": mid}),
    );
    assert_eq!(r.json()["result"], true);
    let r = call(
        &mut c,
        "deleteMessage",
        json!({"chat_id": 77, "message_id": mid}),
    );
    assert_eq!(
        r.json()["description"],
        "Bad Request: message to delete not found"
    );
    let methods: Vec<&str> = srv.sent().iter().map(|s| s.method).collect();
    assert_eq!(
        methods,
        vec![
            "sendChatAction",
            "sendMessage",
            "editMessageText",
            "deleteMessage"
        ]
    );
}
