// Fine-tune and transcription against the real binary: the dry run's dataset figures are those
// of the export a real run writes (same SHA-256), secrets are scrubbed from the training set,
// the fake trainer (tests/fixtures/edge/trainer.sh) reports progress, fails, prints garbage,
// writes nothing, sleeps until cancelled or timed out; one fine-tune runs at a time. The fake
// transcriber (transcribe.sh) gets real audio files from tts.convert and from base64.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::openai::FakeOpenAi;
use common::{ALL_SCOPES, Client, Gateway, eventually};
use serde_json::{Value, json};

fn config(ai: &FakeOpenAi, extra: &str) -> String {
    format!(
        "[agent]\nmodel = \"fake/m\"\n[models.providers.fake]\nbaseUrl = \"{}\"\n\
         [edge.finetune]\ncommand = [\"{}\"]\nbaseModel = \"tiny-llama\"\ntimeoutSecs = 4\n\
         {extra}\n",
        ai.base_url(),
        common::edge_fixture("trainer.sh"),
    )
}

fn run(c: &mut Client, params: Value) -> Result<Value, Value> {
    c.call("edge.finetune.run", Some(params))
}

fn job(c: &mut Client, id: &str) -> Value {
    c.call("edge.finetune.job.get", Some(json!({"jobId": id})))
        .unwrap()
}

/// Waits for job `id` to leave `running`; returns its row.
fn finished(c: &mut Client, id: &str) -> Value {
    let mut last = Value::Null;
    assert!(
        eventually(Duration::from_secs(15), || {
            last = job(c, id);
            last["status"] != "running"
        }),
        "job {id} still running: {last}"
    );
    last
}

fn code(e: &Value) -> &str {
    e["code"].as_str().unwrap_or_default()
}

const SECRET: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

#[test]
fn a_dry_run_measures_the_export_a_real_run_writes_and_the_trainer_reports_progress() {
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, ""));
    let mut c = gw.client(&ALL_SCOPES);
    // Nothing to train on yet: a plan, honestly not ready.
    let empty = run(&mut c, json!({})).unwrap();
    assert_eq!(empty["dryRun"], true);
    assert_eq!(empty["ready"], false, "{empty}");
    assert_eq!(empty["dataset"]["examples"], 0);
    assert!(
        empty["notReady"]
            .to_string()
            .contains("no answered exchange")
    );
    let err = run(&mut c, json!({"dryRun": false})).unwrap_err();
    assert_eq!(code(&err), "INVALID_REQUEST", "{err}");
    assert!(err.to_string().contains("no answered exchange"), "{err}");

    let prompts = [
        ("agent:main:a", "What is the capital of France?"),
        ("agent:main:a", "And of Italy?"),
        ("agent:main:b", "Remind me to water the plants"),
        ("agent:main:b", "Is the token still working?"),
    ];
    for (key, text) in prompts {
        common::chat_turn(&mut c, key, text);
    }
    common::chat_turn(
        &mut c,
        "agent:main:a",
        &format!("my token is {SECRET}, keep it"),
    );
    let plan = run(&mut c, json!({})).unwrap();
    let d = &plan["dataset"];
    assert_eq!(plan["ready"], true, "{plan}");
    assert_eq!(d["examples"], 5, "{plan}");
    assert_eq!(d["sessions"], 2);
    assert_eq!(d["skipped"]["overLimit"], 0);
    assert_eq!(d["redactedExamples"], 1, "{plan}");
    // The fake model echoes: each reply is "echo: " + the prompt (the secret scrubbed).
    let user_chars: usize = prompts
        .iter()
        .map(|(_, t)| t.chars().count())
        .sum::<usize>()
        + "my token is [REDACTED], keep it".chars().count();
    assert_eq!(d["userChars"], user_chars, "{plan}");
    assert_eq!(d["sha256"].as_str().unwrap().len(), 64);
    let argv: Vec<String> = serde_json::from_value(plan["argv"].clone()).unwrap();
    assert!(
        argv.windows(2).any(|w| w == ["--model", "tiny-llama"]),
        "{argv:?}"
    );
    let runs =
        |gw: &Gateway| std::fs::read_dir(gw.dir.join("state/finetune")).map_or(0, |d| d.count());
    assert_eq!(
        runs(&gw),
        0,
        "a dry run (and a refused run) leave no run directory"
    );
    let two = run(&mut c, json!({"maxSamples": 2})).unwrap();
    assert_eq!(two["dataset"]["examples"], 2);
    assert_eq!(two["dataset"]["skipped"]["overLimit"], 3);

    // The real run exports exactly what the plan measured.
    let started = run(&mut c, json!({"dryRun": false, "adapterName": "good-1"})).unwrap();
    assert_eq!(started["status"], "running", "{started}");
    assert_eq!(started["dataset"]["sha256"], d["sha256"], "{started}");
    let id = started["jobId"].as_str().unwrap().to_string();
    let j = finished(&mut c, &id);
    assert_eq!(j["status"], "succeeded", "{j}");
    assert_eq!(j["progress"]["fraction"], 1.0, "{j}");
    assert_eq!(j["progress"]["loss"], 2.1, "{j}");
    assert_eq!(j["result"]["lastProgress"]["step"], 4.0, "{j}");
    assert_eq!(j["result"]["files"][0]["name"], "adapter.json", "{j}");
    assert_eq!(j["result"]["examples"], 5);
    let dir = PathBuf::from(j["runDir"].as_str().unwrap());
    let dataset = std::fs::read_to_string(dir.join("dataset.jsonl")).unwrap();
    assert_eq!(dataset.lines().count(), 5);
    assert!(
        !dataset.contains(SECRET),
        "a secret reached the training set"
    );
    assert!(dataset.contains("[REDACTED]"));
    let first: Value = serde_json::from_str(dataset.lines().next().unwrap()).unwrap();
    assert_eq!(first["messages"][0]["role"], "user");
    assert_eq!(first["messages"][1]["role"], "assistant");
    let adapter = std::fs::read_to_string(dir.join("adapter/adapter.json")).unwrap();
    assert!(adapter.contains("\"examples\": 5"), "{adapter}");
    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stdin.json")).unwrap()).unwrap();
    assert_eq!(stdin["jobId"], id.as_str(), "the manifest went to stdin");
    let s = c.call("edge.finetune.status", None).unwrap();
    assert_eq!(s["trainer"]["configured"], true);
    assert_eq!(s["running"], Value::Null);
    assert_eq!(s["counts"]["succeeded"], 1, "{s}");
    assert_eq!(s["jobs"][0]["jobId"], id.as_str());

    // Bad params are refused with the param named.
    for (params, word) in [
        (json!({"epochs": 0}), "epochs"),
        (json!({"adapterName": "../escape"}), "adapterName"),
        (json!({"model": "--rm"}), "model"),
        (json!({"maxSamples": 1_000_000}), "maxSamples"),
        (json!({"learningRate": -1.0}), "learningRate"),
        (json!({"bogus": 1}), "bogus"),
    ] {
        let e = run(&mut c, params.clone()).unwrap_err();
        assert_eq!(code(&e), "INVALID_REQUEST", "{params}: {e}");
        assert!(e.to_string().contains(word), "{params}: {e}");
    }
    let e = c
        .call("edge.finetune.job.get", Some(json!({"jobId": "job-nope"})))
        .unwrap_err();
    assert!(e.to_string().contains("no fine-tune job"), "{e}");
}

#[test]
fn trainer_faults_are_reported_and_a_running_one_is_cancelled_or_timed_out() {
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, ""));
    let mut c = gw.client(&ALL_SCOPES);
    common::chat_turn(&mut c, "agent:main:x", "hello there");
    let start = |c: &mut Client, adapter: &str| {
        let r = run(c, json!({"dryRun": false, "adapterName": adapter})).unwrap();
        r["jobId"].as_str().unwrap().to_string()
    };
    let id = start(&mut c, "fail-1");
    let j = finished(&mut c, &id);
    assert_eq!(j["status"], "failed");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("exited with code 2: CUDA not available"),
        "{j}"
    );
    let id = start(&mut c, "nothing-1");
    let j = finished(&mut c, &id);
    assert_eq!(j["status"], "failed");
    assert!(
        j["error"].as_str().unwrap().contains("wrote nothing"),
        "{j}"
    );
    let id = start(&mut c, "garbage-1");
    let j = finished(&mut c, &id);
    assert_eq!(j["status"], "succeeded", "{j}");
    assert!(j["progress"].is_null(), "garbage is no progress: {j}");

    // A slow trainer: one at a time (even when two requests arrive together), progress visible
    // while it runs, then cancelled.
    let params = json!({"dryRun": false, "adapterName": "slow-1"});
    let ids = [
        c.send("edge.finetune.run", Some(params.clone())),
        c.send("edge.finetune.run", Some(params)),
    ];
    let answers = c.ws.wait_all(&[&ids[0], &ids[1]]);
    let ok: Vec<&Value> = answers.iter().filter(|r| r["ok"] == true).collect();
    assert_eq!(
        ok.len(),
        1,
        "exactly one of two concurrent runs starts: {answers:?}"
    );
    let id = ok[0]["payload"]["jobId"].as_str().unwrap().to_string();
    let refused = answers.iter().find(|r| r["ok"] != true).unwrap();
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("busy"),
        "{refused}"
    );
    let busy = run(&mut c, json!({"dryRun": false})).unwrap_err();
    assert_eq!(code(&busy), "UNAVAILABLE", "{busy}");
    assert!(busy.to_string().contains(&id), "{busy}");
    let mut j = Value::Null;
    assert!(eventually(Duration::from_secs(5), || {
        j = job(&mut c, &id);
        j["progress"]["message"] == "warming up"
    }));
    assert_eq!(j["status"], "running");
    assert_eq!(j["progress"]["fraction"], 0.01);
    let dir = PathBuf::from(j["runDir"].as_str().unwrap());
    let pid = std::fs::read_to_string(dir.join("trainer.pid")).unwrap();
    let s = c.call("edge.finetune.status", None).unwrap();
    assert_eq!(s["running"], id.as_str());
    let cancel = c
        .call("edge.finetune.cancel", Some(json!({"jobId": id})))
        .unwrap();
    assert_eq!(cancel["cancelled"], true);
    let j = finished(&mut c, &id);
    assert_eq!(j["status"], "cancelled", "{j}");
    assert!(eventually(Duration::from_secs(3), || !Path::new(&format!(
        "/proc/{}",
        pid.trim()
    ))
    .exists()));
    let again = c
        .call("edge.finetune.cancel", Some(json!({"jobId": id})))
        .unwrap();
    assert_eq!(
        (again["cancelled"].clone(), again["status"].clone()),
        (json!(false), json!("cancelled"))
    );

    // Left alone, it is killed at timeoutSecs (4 s).
    let id = start(&mut c, "slow-2");
    let j = finished(&mut c, &id);
    assert_eq!(j["status"], "timeout", "{j}");
    // finetune_runs_kept (edge: 3) bounds the run directories.
    let runs = std::fs::read_dir(gw.dir.join("state").join("finetune"))
        .unwrap()
        .count();
    assert!(runs <= 3, "{runs} run directories");
}

#[test]
fn without_a_trainer_the_plan_says_so_and_a_run_is_refused() {
    let gw = Gateway::start("");
    let mut c = gw.client(&ALL_SCOPES);
    let plan = run(&mut c, json!({"model": "m"})).unwrap();
    assert_eq!(plan["ready"], false);
    assert!(
        plan["notReady"]
            .to_string()
            .contains("OPENCLAW_RS_LORA_TRAINER_BIN"),
        "{plan}"
    );
    assert_eq!(plan["argv"], Value::Null);
    let e = run(&mut c, json!({"dryRun": false, "model": "m"})).unwrap_err();
    assert_eq!(code(&e), "UNAVAILABLE", "{e}");
    let e = c
        .call(
            "edge.voice.transcribe",
            Some(json!({"audioBase64": "AAAA"})),
        )
        .unwrap_err();
    assert_eq!(code(&e), "UNAVAILABLE", "{e}");
    assert!(e.to_string().contains("no transcriber"), "{e}");
}

/// A 16-bit mono 16 kHz WAV of `samples` samples.
fn wav(samples: usize) -> Vec<u8> {
    let data = samples * 2;
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&((36 + data) as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    for n in [16u32, 0x0001_0001, 16000, 32000, 0x0010_0002] {
        v.extend_from_slice(&n.to_le_bytes());
    }
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data as u32).to_le_bytes());
    v.resize(44 + data, 0);
    v
}

#[test]
fn transcription_runs_the_configured_program_on_real_audio_only() {
    let voice = |mode: &str| {
        format!(
            "[edge.voice]\ncommand = [\"{}\", \"{mode}\"]\ntimeoutSecs = 5\n\
             [edge.tts]\ncommand = [\"{}\"]\n[limits]\ntelegram_max_file_bytes = 33000\n",
            common::edge_fixture("transcribe.sh"),
            common::edge_fixture("tts.sh")
        )
    };
    let gw = Gateway::start(&voice("ok"));
    let mut c = gw.client(&ALL_SCOPES);
    // A tts.convert output, by path.
    let spoken = c
        .call("tts.convert", Some(json!({"text": "hello"})))
        .unwrap();
    let t = c
        .call(
            "edge.voice.transcribe",
            Some(json!({"audioPath": spoken["audioPath"]})),
        )
        .unwrap();
    assert_eq!(t["text"], "heard 32044 bytes of RIFF audio", "{t}");
    assert_eq!(t["audio"]["durationMs"], 1000);
    assert_eq!(t["transcriber"], "config");
    let j = c
        .call("edge.jobs.get", Some(json!({"id": t["jobId"]})))
        .unwrap();
    assert_eq!(
        (j["kind"].clone(), j["status"].clone()),
        (json!("transcribe"), json!("succeeded"))
    );
    // Inline audio: stored for the run, deleted after.
    let t = c
        .call(
            "edge.voice.transcribe",
            Some(json!({"audioBase64": common::device::b64url(&wav(8000))})),
        )
        .unwrap();
    assert_eq!(t["text"], "heard 16044 bytes of RIFF audio", "{t}");
    assert_eq!(t["audio"]["durationMs"], 500);
    let media: Vec<_> = std::fs::read_dir(gw.dir.join("state").join("media"))
        .unwrap()
        .collect();
    assert!(media.is_empty(), "the inline audio was not deleted");
    // What is not audio, or not ours to read, is refused before anything runs.
    for (params, word) in [
        (
            json!({"audioBase64": common::device::b64url(b"just some text, certainly not audio at all, but long enough to check")}),
            "not audio",
        ),
        (json!({"audioBase64": "@@@"}), "base64"),
        (
            json!({"audioBase64": common::device::b64url(&wav(17000))}),
            "34044 bytes; at most 33000",
        ),
        (json!({"audioPath": "/etc/passwd"}), "must be a file under"),
        (json!({}), "exactly one"),
        (
            json!({"audioPath": spoken["audioPath"], "audioBase64": "AAAA"}),
            "exactly one",
        ),
    ] {
        let e = c
            .call("edge.voice.transcribe", Some(params.clone()))
            .unwrap_err();
        assert_eq!(code(&e), "INVALID_REQUEST", "{params}: {e}");
        assert!(e.to_string().contains(word), "{params}: {e}");
    }
    drop(c);
    drop(gw);
    for (mode, word) in [("empty", "printed no text"), ("fail", "model file missing")] {
        let gw = Gateway::start(&voice(mode));
        let mut c = gw.client(&ALL_SCOPES);
        let e = c
            .call(
                "edge.voice.transcribe",
                Some(json!({"audioBase64": common::device::b64url(&wav(1000))})),
            )
            .unwrap_err();
        assert_eq!(code(&e), "UNAVAILABLE", "{e}");
        assert!(e.to_string().contains(word), "{mode}: {e}");
    }
}
