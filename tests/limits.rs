// Bounds under flood against the real binary: connection cap, slow readers, in-flight requests,
// the blocking pool, oversize messages, and graceful shutdown on SIGTERM.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ALL_SCOPES, Gateway, eventually};
use serde_json::json;

#[test]
fn connection_cap_refuses_with_503_and_recovers() {
    let gw = Gateway::start("[limits]\nmax_connections = 2\n");
    let a = gw.client(&["operator.read"]);
    let _b = gw.client(&["operator.read"]);
    let stream = TcpStream::connect(&gw.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let err = tungstenite::client::client(gw.url(), stream).expect_err("third socket refused");
    match err {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503);
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    drop(a);
    // The permit frees when the socket closes; a new client then gets in.
    assert!(eventually(Duration::from_secs(5), || {
        let s = TcpStream::connect(&gw.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tungstenite::client::client(gw.url(), s).is_ok()
    }));
}

#[test]
fn slow_reader_is_disconnected_while_others_keep_working() {
    let gw = Gateway::start(
        "[limits]\noutbound_queue = 8\nwrite_timeout_ms = 1000\nmax_inflight_per_conn = 4\n",
    );
    let mut fast = gw.client(&ALL_SCOPES);
    let mut slow = gw.client(&ALL_SCOPES);
    // The slow client pipelines tens of thousands of requests (large answers, or `busy` errors
    // past the in-flight cap) and never reads them.
    let req = json!({"type": "req", "id": "s", "method": "config.schema"}).to_string();
    let frame = tungstenite::Message::Text(req.into());
    for _ in 0..40_000 {
        if slow.ws.ws.write(frame.clone()).is_err() {
            break;
        }
    }
    let _ = slow.ws.ws.flush();
    let t0 = Instant::now();
    let mut dropped = false;
    while t0.elapsed() < Duration::from_secs(20) {
        let st = fast
            .call("status", None)
            .expect("fast client keeps being served");
        if st["gateway"]["connections"]["authenticated"] == 1 {
            dropped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        dropped,
        "slow reader still connected; stderr:\n{}",
        gw.stderr()
    );
    let log = gw.stderr();
    assert!(
        log.contains("slow consumer") || log.contains("write stalled"),
        "reason logged: {log}"
    );
    assert!(fast.call("health", None).is_ok());
}

#[test]
fn slow_method_does_not_block_health_and_inflight_is_bounded() {
    // config.get reads the config file on the blocking pool; a FIFO makes that read hang.
    let gw = Gateway::start("[limits]\nmax_inflight_per_conn = 2\n");
    let cfg = config_as_fifo(&gw);
    let mut c = gw.client(&ALL_SCOPES);
    let slow_id = c.send("config.get", None);
    // health on the same socket answers while config.get is stuck.
    assert!(c.call("health", None).is_ok());
    // A second stuck call fills the bound of 2; the third request is shed, retryable.
    let slow2 = c.send("config.get", None);
    std::thread::sleep(Duration::from_millis(100));
    let e = c.call("health", None).unwrap_err();
    assert_eq!(e["code"], "UNAVAILABLE");
    assert_eq!(e["retryable"], true);
    assert!(e["retryAfterMs"].as_u64().is_some());
    // Release the FIFO: both slow calls complete.
    let feeder = Feeder::start(cfg.clone());
    // Responses may come in either order (handlers run concurrently).
    let got = c.ws.wait_all(&[&slow_id, &slow2]);
    assert!(got.iter().all(|r| r["ok"] == true), "{got:?}");
    feeder.stop();
    assert!(c.call("health", None).is_ok());
}

#[test]
fn blocking_pool_flood_is_shed_with_busy() {
    let gw = Gateway::start("[limits]\nblocking_threads = 1\nblocking_queue = 1\n");
    let cfg = config_as_fifo(&gw);
    let mut c = gw.client(&ALL_SCOPES);
    let a = c.send("config.get", None); // runs, stuck on the FIFO
    std::thread::sleep(Duration::from_millis(100));
    let b = c.send("config.get", None); // queued
    std::thread::sleep(Duration::from_millis(100));
    let e = c.call("config.get", None).unwrap_err(); // refused
    assert_eq!(e["code"], "UNAVAILABLE");
    assert_eq!(e["details"]["queue"], "blocking pool");
    assert_eq!(e["retryable"], true);
    let feeder = Feeder::start(cfg.clone());
    let got = c.ws.wait_all(&[&a, &b]);
    assert!(got.iter().all(|r| r["ok"] == true), "{got:?}");
    feeder.stop();
}

#[test]
fn oversize_message_after_auth_closes_1009() {
    let gw = Gateway::start(EMPTY_LIMITS);
    let mut c = gw.client(&["operator.read"]);
    let big = format!(
        "{{\"type\":\"req\",\"id\":\"1\",\"method\":\"health\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(300_000)
    );
    let _ = c.ws.ws.send(tungstenite::Message::Text(big.into()));
    let (code, reason) = c.ws.expect_close().unwrap();
    assert_eq!(code, 1009);
    // One 300 KB frame: the reason names the frame limit that was hit (edge: 64 KiB), not the
    // 256 KiB message limit.
    assert!(reason.contains("max 65536"), "{reason}");
    // The gateway itself is fine.
    assert!(gw.client(&["operator.read"]).call("health", None).is_ok());
}

const EMPTY_LIMITS: &str = "";

/// Replaces the gateway's config file with a FIFO, so `config.get` (which reads it on the
/// blocking pool) hangs until a `Feeder` writes to it.
fn config_as_fifo(gw: &Gateway) -> std::path::PathBuf {
    let cfg = gw.dir.join("config.toml");
    std::fs::remove_file(&cfg).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&cfg)
        .status()
        .unwrap();
    assert!(made.success());
    cfg
}

/// Opens the FIFO for writing whenever a reader waits on it (non-blocking open), until stopped.
struct Feeder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feeder {
    fn start(path: std::path::PathBuf) -> Feeder {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::Ordering;
        const O_NONBLOCK: i32 = 0o4000;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            while !flag.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(10) {
                // ENXIO while no reader has the FIFO open.
                if let Ok(mut w) = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(O_NONBLOCK)
                    .open(&path)
                {
                    let _ = w.write_all(b"# fed\n");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Feeder {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn sigterm_sends_shutdown_event_closes_1012_and_exits_0() {
    let mut gw = Gateway::start(EMPTY_LIMITS);
    let mut a = gw.client(&["operator.read"]);
    let mut b = gw.client(&[]);
    let t0 = Instant::now();
    gw.sigterm();
    for c in [&mut a, &mut b] {
        let mut saw_shutdown = false;
        let close = loop {
            match c.ws.next() {
                common::Next::Json(v) => {
                    if v["event"] == "shutdown" {
                        assert!(v["payload"]["reason"].as_str().unwrap().contains("SIGTERM"));
                        saw_shutdown = true;
                    }
                }
                common::Next::Closed(c) => break c,
            }
        };
        assert!(saw_shutdown, "shutdown event before close");
        assert_eq!(u16::from(close.expect("close frame").code), 1012);
    }
    let status = gw
        .wait_exit(Duration::from_secs(2))
        .expect("exits within 2 s");
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn sigterm_during_handshake_still_exits_cleanly() {
    let mut gw = Gateway::start(EMPTY_LIMITS);
    let mut pending = gw.raw(); // upgraded, never sends connect
    pending.next_json();
    gw.sigterm();
    assert_eq!(pending.expect_close().map(|c| c.0), Some(1012));
    assert!(gw.wait_exit(Duration::from_secs(2)).unwrap().success());
}

#[test]
fn idle_gateway_keeps_three_threads_at_most() {
    let gw = Gateway::start(EMPTY_LIMITS);
    let mut c = gw.client(&ALL_SCOPES);
    c.call("config.get", None).unwrap(); // uses a pool thread
    // Pool workers exit after blocking_idle_ms (5 s in the edge profile). What stays: the
    // executor thread, async-io's reactor thread and the store thread (blocked on its queue).
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", gw.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(10), || threads() <= 3),
        "threads: {}",
        threads()
    );
}
