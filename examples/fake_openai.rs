// Fake OpenAI-compatible server CLI for the conformance script and manual testing.
//
// Usage: fake_openai [--port N] [--key K] [--default echo|tokens:N:DELAY_MS|text:TEXT]
// Prints `listening on http://127.0.0.1:PORT/v1` as its first stdout line, then serves until killed.

#[path = "../tests/common/openai.rs"]
mod openai;

use std::io::Write;

use openai::{Behavior, FakeOpenAi};

fn usage(msg: &str) -> ! {
    eprintln!("fake_openai: {msg}");
    eprintln!(
        "usage: fake_openai [--port N] [--key K] [--default echo|tokens:N:DELAY_MS|text:TEXT]"
    );
    std::process::exit(2);
}

fn parse_default(s: &str) -> Behavior {
    if s == "echo" {
        return Behavior::Echo;
    }
    if let Some(rest) = s.strip_prefix("tokens:") {
        let mut it = rest.splitn(2, ':');
        let n = it.next().and_then(|v| v.parse().ok());
        let delay = it.next().map_or(Some(0), |v| v.parse().ok());
        return match (n, delay) {
            (Some(n), Some(delay_ms)) => Behavior::Tokens { n, delay_ms },
            _ => usage("bad --default tokens:N:DELAY_MS"),
        };
    }
    if let Some(text) = s.strip_prefix("text:") {
        let chunks = text.split_whitespace().count().max(1);
        return Behavior::Text {
            text: text.to_string(),
            chunks,
            delay_ms: 0,
        };
    }
    usage("bad --default (echo | tokens:N:DELAY_MS | text:TEXT)")
}

fn main() {
    let mut port: u16 = 0;
    let mut key: Option<String> = None;
    let mut default = Behavior::Echo;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--port" => port = val().parse().unwrap_or_else(|_| usage("bad --port")),
            "--key" => key = Some(val()),
            "--default" => default = parse_default(&val()),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let server = match &key {
        Some(k) => FakeOpenAi::start_with_key_on(port, k),
        None => FakeOpenAi::start_on(port),
    };
    server.set_default(default);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", server.base_url());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
