// Self-tests for the fake OpenAI server in tests/common/openai.rs, using a raw std TcpStream client.

#[path = "common/openai.rs"]
mod openai;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use openai::{Behavior, FakeOpenAi};
use serde_json::{Value, json};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    /// HTTP chunks as received (chunked responses), else empty.
    chunks: Vec<Vec<u8>>,
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

    /// `data:` payloads of the SSE body, asserting each HTTP chunk is exactly one event.
    fn events(&self) -> Vec<String> {
        self.chunks
            .iter()
            .filter(|c| !c.starts_with(b":"))
            .map(|c| {
                let s = std::str::from_utf8(c).unwrap();
                assert!(
                    s.starts_with("data: ") && s.ends_with("\n\n"),
                    "one event per chunk: {s:?}"
                );
                assert_eq!(s.matches("\n\n").count(), 1, "{s:?}");
                s["data: ".len()..s.len() - 2].to_string()
            })
            .collect()
    }
}

fn connect(srv: &FakeOpenAi) -> BufReader<TcpStream> {
    let s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

fn send(
    c: &mut BufReader<TcpStream>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
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
    let mut r = Resp {
        status,
        headers,
        chunks: Vec::new(),
        body: Vec::new(),
    };
    if r.header("transfer-encoding") == Some("chunked") {
        loop {
            let n = usize::from_str_radix(&line(c), 16).unwrap();
            if n == 0 {
                assert_eq!(line(c), "");
                break;
            }
            let mut chunk = vec![0; n];
            c.read_exact(&mut chunk).unwrap();
            assert_eq!(line(c), "");
            r.body.extend_from_slice(&chunk);
            r.chunks.push(chunk);
        }
    } else {
        let n: usize = r.header("content-length").unwrap().parse().unwrap();
        r.body = vec![0; n];
        c.read_exact(&mut r.body).unwrap();
    }
    r
}

fn chat(stream: bool, text: &str) -> Value {
    json!({"model": "gpt-test", "stream": stream, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": text},
    ]})
}

#[test]
fn streamed_echo_is_ordered_chunks_with_usage_and_done_then_keep_alive() {
    let srv = FakeOpenAi::start();
    let mut c = connect(&srv);
    let mut body = chat(true, "hello big world");
    body["stream_options"] = json!({"include_usage": true});
    send(
        &mut c,
        "POST",
        "/v1/chat/completions?api-version=x",
        Some(&body),
        &[],
    );
    let r = read_resp(&mut c);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.chunks[0], b": keep-alive\n\n");

    let ev = r.events();
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let ev: Vec<Value> = ev[..ev.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for e in &ev {
        assert_eq!(e["id"], ev[0]["id"]);
        assert_eq!(e["object"], "chat.completion.chunk");
        assert_eq!(e["model"], "gpt-test");
    }
    assert!(ev[0]["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(
        ev[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let content: Vec<&str> = ev[1..ev.len() - 2]
        .iter()
        .map(|e| {
            assert_eq!(e["choices"][0]["finish_reason"], Value::Null);
            e["choices"][0]["delta"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(content, ["echo: ", "hello ", "big ", "world"]);
    let fin = &ev[ev.len() - 2];
    assert_eq!(fin["choices"][0]["delta"], json!({}));
    assert_eq!(fin["choices"][0]["finish_reason"], "stop");
    let usage = &ev[ev.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    let p = usage["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(p, ("be brief".len() + "hello big world".len()) as u64 / 4);
    assert_eq!(usage["usage"]["total_tokens"], p + 4);
    assert_eq!(srv.sent_times(0).len(), 4);

    // Same connection, non-stream, content as parts: no usage chunk was asked for, plain JSON back.
    let body = json!({"model": "m2", "messages": [{"role": "user", "content": [{"type": "text", "text": "again"}]}]});
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&body),
        &[("Authorization", "Bearer whatever")],
    );
    let r = read_resp(&mut c);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m2");
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "echo: again"})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 1 + 2);

    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1/chat/completions?api-version=x");
    assert!(reqs[0].stream() && !reqs[1].stream());
    assert_eq!(reqs[0].model(), "gpt-test");
    assert_eq!(reqs[1].header("Authorization"), Some("Bearer whatever"));
    assert_eq!(srv.client_closed(), 0);
    assert!(srv.bytes_sent() as usize > r.body.len());
}

#[test]
fn tool_call_stream_and_non_stream_shapes() {
    let srv = FakeOpenAi::start();
    let args = r#"{"city":"Paris","unit":"c"}"#;
    let tool = Behavior::ToolCall {
        name: "get_weather".into(),
        arguments: args.into(),
    };
    srv.push(tool.clone());
    srv.push(tool);
    let mut c = connect(&srv);
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(true, "weather?")),
        &[],
    );
    let r = read_resp(&mut c);
    let ev = r.events();
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let ev: Vec<Value> = ev[..ev.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        ev.iter().all(|e| e.get("usage").is_none()),
        "no usage without include_usage"
    );
    let first = &ev[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(first["type"], "function");
    assert_eq!(
        first["function"],
        json!({"name": "get_weather", "arguments": ""})
    );
    let pieces: Vec<&str> = ev[1..ev.len() - 1]
        .iter()
        .map(|e| {
            let tc = &e["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(tc["index"], 0);
            assert!(tc.get("id").is_none());
            tc["function"]["arguments"].as_str().unwrap()
        })
        .collect();
    assert!((2..=3).contains(&pieces.len()), "{pieces:?}");
    assert_eq!(pieces.concat(), args);
    assert_eq!(
        ev.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(false, "weather?")),
        &[],
    );
    let v = read_resp(&mut c).json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["arguments"],
        args
    );
    assert_eq!(choice["message"]["tool_calls"][0]["type"], "function");

    // Script consumed: back to the default.
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(false, "x")),
        &[],
    );
    assert_eq!(
        read_resp(&mut c).json()["choices"][0]["message"]["content"],
        "echo: x"
    );
}

#[test]
fn status_429_auth_and_routing_errors() {
    let srv = FakeOpenAi::start_with_key("sk-test-key-0001");
    let auth = [("Authorization", "Bearer sk-test-key-0001")];
    srv.push(Behavior::Status {
        code: 429,
        retry_after_secs: Some(7),
        message: "Rate limit reached".into(),
    });
    let mut c = connect(&srv);
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(true, "hi")),
        &auth,
    );
    let r = read_resp(&mut c);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
    );

    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(false, "hi")),
        &[("Authorization", "Bearer nope")],
    );
    let r = read_resp(&mut c);
    assert_eq!(r.status, 401);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "invalid_api_key");
    assert_eq!(e["type"], "invalid_request_error");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Incorrect API key provided")
    );

    send(&mut c, "GET", "/v1/models", None, &auth);
    assert_eq!(read_resp(&mut c).json()["data"][0]["id"], "fake-model");
    send(&mut c, "GET", "/v1/nope", None, &auth);
    let r = read_resp(&mut c);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    c.get_mut().write_all(b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer sk-test-key-0001\r\nContent-Length: 3\r\n\r\n{x}").unwrap();
    assert_eq!(read_resp(&mut c).status, 400);

    // The 401 did not consume a script entry and the 429 was served once.
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(false, "ok")),
        &auth,
    );
    let r = read_resp(&mut c);
    assert_eq!(r.status, 200);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 6);
    assert_eq!(reqs[4].body, Value::Null);
}

#[test]
fn stall_counts_client_closed_after_client_drops() {
    let srv = FakeOpenAi::start();
    srv.push(Behavior::StallAfter { chunks: 0 });
    srv.push(Behavior::StallAfter { chunks: 2 });

    let mut c = connect(&srv);
    c.get_mut()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(true, "hi")),
        &[],
    );
    let mut buf = [0u8; 64];
    let err = c
        .read(&mut buf)
        .expect_err("no bytes at all from a StallAfter{0}");
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert_eq!(srv.client_closed(), 0);
    drop(c);
    assert!(srv.wait_client_closed(1, Duration::from_secs(5)));

    // Headers + role chunk + 2 content chunks, then silence until we hang up.
    let mut c = connect(&srv);
    send(
        &mut c,
        "POST",
        "/v1/chat/completions",
        Some(&chat(true, "hi")),
        &[],
    );
    assert_eq!(line(&mut c), "HTTP/1.1 200 OK");
    while !line(&mut c).is_empty() {}
    let mut got = Vec::new();
    while got.len() < 4 {
        let n = usize::from_str_radix(&line(&mut c), 16).unwrap();
        let mut chunk = vec![0; n];
        c.read_exact(&mut chunk).unwrap();
        assert_eq!(line(&mut c), "");
        got.push(String::from_utf8(chunk).unwrap());
    }
    assert_eq!(got[0], ": keep-alive\n\n");
    assert!(got[2].contains(r#""content":"t0 ""#) && got[3].contains(r#""content":"t1 ""#));
    assert_eq!(srv.sent_times(1).len(), 2);
    c.get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(c.read(&mut buf).is_err(), "stalled: nothing more");
    assert_eq!(srv.client_closed(), 1);
    drop(c);
    assert!(srv.wait_client_closed(2, Duration::from_secs(5)));
}
