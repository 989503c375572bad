// External programs against the real binary: TTS through a fake kittentts (tests/fixtures/edge/
// tts.sh) that writes real WAV, text, floods, fails, sleeps forever, forks or writes too much;
// the job limit, cancellation, restart with a job running, and attestation with and without a
// verifier (attest.sh, verify.sh).
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ALL_SCOPES, Client, Gateway, eventually};
use serde_json::{Value, json};

fn config(extra_limits: &str) -> String {
    format!(
        "[edge.tts]\ncommand = [\"{}\"]\ntimeoutSecs = 3\n\
         [edge.attest]\ncommand = [\"{}\"]\nverifyCommand = [\"{}\"]\ntimeoutSecs = 5\n\
         [limits]\ntts_max_audio_bytes = 40000\nedge_output_bytes = 4096\n\
         edge_job_log_bytes = 512\n{extra_limits}\n",
        common::edge_fixture("tts.sh"),
        common::edge_fixture("attest.sh"),
        common::edge_fixture("verify.sh")
    )
}

fn convert(c: &mut Client, text: &str) -> Result<Value, Value> {
    c.call("tts.convert", Some(json!({"text": text})))
}

fn job(c: &mut Client, id: &str) -> Value {
    c.call("edge.jobs.get", Some(json!({"id": id}))).unwrap()
}

fn err_text(e: &Value) -> String {
    e.to_string()
}

/// The newest job's id (of kind `tts`).
fn newest_tts(c: &mut Client) -> Value {
    let l = c
        .call("edge.jobs.list", Some(json!({"kind": "tts", "limit": 1})))
        .unwrap();
    l["jobs"][0].clone()
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{}", pid.trim())).exists()
}

#[test]
fn tts_makes_checked_audio_and_refuses_what_is_not() {
    let gw = Gateway::start(&config(""));
    let mut c = gw.client(&ALL_SCOPES);
    let s = c.call("tts.status", None).unwrap();
    assert_eq!(
        (s["enabled"].clone(), s["provider"].clone()),
        (json!(true), json!("kittentts"))
    );
    assert_eq!(s["auto"], "off");
    // A real (1 s, 16 kHz mono) WAV.
    let r = convert(&mut c, "Hello from the edge").unwrap();
    assert_eq!(r["outputFormat"], "wav", "{r}");
    assert_eq!(r["durationMs"], 1000, "{r}");
    assert_eq!(r["bytes"], 32044, "{r}");
    assert_eq!(r["voiceCompatible"], false);
    let path = PathBuf::from(r["audioPath"].as_str().unwrap());
    assert_eq!(&std::fs::read(&path).unwrap()[..4], b"RIFF");
    let j = job(&mut c, r["jobId"].as_str().unwrap());
    assert_eq!(j["status"], "succeeded", "{j}");
    assert_eq!(
        j["request"]["textBytes"], 19,
        "the text itself is not stored: {j}"
    );

    // Text instead of audio: refused, and the file is gone.
    let e = convert(&mut c, "mode:text").unwrap_err();
    assert!(err_text(&e).contains("not audio"), "{e}");
    let j = newest_tts(&mut c);
    assert_eq!(j["status"], "failed", "{j}");
    let out = path
        .parent()
        .unwrap()
        .join(j["request"]["output"].as_str().unwrap());
    assert!(!out.exists(), "a refused file is deleted");
    // A non-zero exit: the error names the code and stderr's last line.
    let e = convert(&mut c, "mode:fail").unwrap_err();
    assert!(
        err_text(&e).contains("exited with code 3: boom: voice model missing"),
        "{e}"
    );
    let j = newest_tts(&mut c);
    assert!(
        j["stdoutTail"]
            .as_str()
            .unwrap()
            .contains("loading voice model"),
        "{j}"
    );
    // Too much audio: RLIMIT_FSIZE stops the write, the job fails, nothing is kept.
    let e = convert(&mut c, "mode:huge").unwrap_err();
    assert!(err_text(&e).contains("failed"), "{e}");
    // A flood of stdout is cut at edge_output_bytes; the audio still counts.
    let r = convert(&mut c, "mode:flood").unwrap();
    let j = job(&mut c, r["jobId"].as_str().unwrap());
    assert_eq!(
        (j["status"].clone(), j["truncated"].clone()),
        (json!("succeeded"), json!(true))
    );
    assert!(j["stdoutTail"].as_str().unwrap().len() <= 512, "{j}");
    // A background child left by the program is killed with its group.
    let r = convert(&mut c, "mode:fork").unwrap();
    let marker = format!("{}.marker", r["audioPath"].as_str().unwrap());
    std::thread::sleep(Duration::from_millis(2600));
    assert!(
        !Path::new(&marker).exists(),
        "the forked child outlived its job"
    );
    // A program that never ends is killed at timeoutSecs (3 s).
    let t = Instant::now();
    let e = convert(&mut c, "mode:sleep").unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert!(err_text(&e).contains("timeout"), "{e}");
    let j = newest_tts(&mut c);
    let pidfile = format!(
        "{}.pid",
        path.parent()
            .unwrap()
            .join(j["request"]["output"].as_str().unwrap())
            .display()
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(
        eventually(Duration::from_secs(2), || !alive(&pid)),
        "pid {pid} survived"
    );

    // Input bounds and the switches.
    let e = convert(&mut c, "").unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST", "{e}");
    let e = convert(&mut c, &"x".repeat(5000)).unwrap_err();
    assert!(err_text(&e).contains("tts_max_text_bytes"), "{e}");
    let e = c
        .call("tts.setProvider", Some(json!({"provider": "openai"})))
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST", "{e}");
    assert_eq!(c.call("tts.disable", None).unwrap()["enabled"], false);
    let e = convert(&mut c, "hi").unwrap_err();
    assert!(err_text(&e).contains("disabled"), "{e}");
    assert_eq!(c.call("tts.status", None).unwrap()["enabled"], false);
    c.call("tts.enable", None).unwrap();
    convert(&mut c, "hi again").unwrap();
    assert!(!gw.stderr().contains("panicked"));
}

#[test]
fn the_job_limit_sheds_cancel_kills_and_a_restart_marks_jobs_interrupted() {
    let gw = Gateway::start(&config("edge_max_jobs = 1\n"));
    let mut a = gw.client(&ALL_SCOPES);
    let mut b = gw.client(&ALL_SCOPES);
    // One program runs; a second request is shed at once, not queued.
    let sent = a.send("tts.convert", Some(json!({"text": "mode:sleep"})));
    let mut running = Value::Null;
    assert!(eventually(Duration::from_secs(3), || {
        running = newest_tts(&mut b);
        running["status"] == "running"
    }));
    let t = Instant::now();
    let e = convert(&mut b, "hello").unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(500));
    assert!(
        err_text(&e).contains("busy") && err_text(&e).contains("edge_max_jobs"),
        "{e}"
    );
    let l = b.call("edge.jobs.list", None).unwrap();
    assert_eq!(
        (l["running"].clone(), l["maxRunning"].clone()),
        (json!(1), json!(1))
    );
    // Cancel: the waiting call ends with the cancellation, the process is gone.
    let id = running["id"].as_str().unwrap().to_string();
    let c = b.call("edge.jobs.cancel", Some(json!({"id": id}))).unwrap();
    assert_eq!(c["cancelled"], true, "{c}");
    let res = a.ws.wait_res(&sent);
    assert!(res["error"].to_string().contains("cancelled"), "{res}");
    assert_eq!(job(&mut b, &id)["status"], "cancelled");
    let again = b.call("edge.jobs.cancel", Some(json!({"id": id}))).unwrap();
    assert_eq!(
        (again["cancelled"].clone(), again["status"].clone()),
        (json!(false), json!("cancelled"))
    );

    // A job running when the gateway dies: its program dies too, and the row says so.
    let _ = a.send("tts.convert", Some(json!({"text": "mode:sleep"})));
    assert!(eventually(
        Duration::from_secs(3),
        || newest_tts(&mut b)["status"] == "running"
    ));
    let j = newest_tts(&mut b);
    let dir = gw.db_path().parent().unwrap().join("tts");
    let pidfile = dir.join(format!("{}.pid", j["request"]["output"].as_str().unwrap()));
    assert!(eventually(Duration::from_secs(3), || pidfile.exists()));
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    drop((a, b));
    let mut gw = gw;
    gw.kill9();
    assert!(
        eventually(Duration::from_secs(3), || !alive(&pid)),
        "pid {pid} outlived the gateway"
    );
    let gw = gw.restart();
    let mut c = gw.client(&ALL_SCOPES);
    let j = job(&mut c, j["id"].as_str().unwrap());
    assert_eq!(j["status"], "interrupted", "{j}");
}

#[test]
fn attestation_is_verified_only_by_the_verifier() {
    let gw = Gateway::start(&config(""));
    let mut c = gw.client(&ALL_SCOPES);
    let st = c.call("edge.enclave.status", None).unwrap();
    assert_eq!(
        (st["proveAvailable"].clone(), st["lastProof"].clone()),
        (json!(true), Value::Null)
    );
    let p = c
        .call(
            "edge.enclave.prove",
            Some(json!({"nonce": "n0nce-12345678"})),
        )
        .unwrap();
    assert_eq!(p["verified"], true, "{p}");
    assert_eq!(p["statement"]["nonce"], "n0nce-12345678");
    assert_eq!(p["statement"]["binarySha256"].as_str().unwrap().len(), 64);
    assert_eq!(p["quote"].as_str().unwrap().len(), 64, "{p}");
    let st = c.call("edge.enclave.status", None).unwrap();
    assert_eq!(st["lastProof"]["verified"], true, "{st}");
    assert_eq!(st["lastProof"]["statementSha256"], p["statementSha256"]);
    // The verifier refuses: unverified, with its reason.
    let p = c
        .call(
            "edge.enclave.prove",
            Some(json!({"nonce": "reject-12345678"})),
        )
        .unwrap();
    assert_eq!(p["verified"], false, "{p}");
    assert!(
        p["verification"]
            .as_str()
            .unwrap()
            .contains("quote signature invalid"),
        "{p}"
    );
    // A program printing garbage: an error, not a proof.
    let e = c
        .call(
            "edge.enclave.prove",
            Some(json!({"nonce": "garbage-12345678"})),
        )
        .unwrap_err();
    assert!(e.to_string().contains("did not print JSON"), "{e}");
    let e = c
        .call("edge.enclave.prove", Some(json!({"nonce": "short"})))
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_REQUEST");

    // Without a verifier the proof is honestly unverified; without a program, unavailable.
    let cfg = format!(
        "[edge.attest]\ncommand = [\"{}\"]\n",
        common::edge_fixture("attest.sh")
    );
    let gw2 = Gateway::start(&cfg);
    let mut c2 = gw2.client(&ALL_SCOPES);
    let p = c2
        .call(
            "edge.enclave.prove",
            Some(json!({"nonce": "n0nce-abcdefgh"})),
        )
        .unwrap();
    assert_eq!(p["verified"], false);
    assert_eq!(p["verification"], "unverified: no verifier is configured");
    let gw3 = Gateway::start("");
    let mut c3 = gw3.client(&ALL_SCOPES);
    let e = c3
        .call(
            "edge.enclave.prove",
            Some(json!({"nonce": "n0nce-abcdefgh"})),
        )
        .unwrap_err();
    assert_eq!(e["code"], "UNAVAILABLE", "{e}");
    let e = c3
        .call("tts.convert", Some(json!({"text": "hi"})))
        .unwrap_err();
    assert!(e.to_string().contains("no text-to-speech program"), "{e}");
}
