// Memory with a real `/embeddings` model (the fake OpenAI server's deterministic one), against
// the real binary: entries are embedded in the background in batches of at most
// `memory_embed_batch`, recall embeds the query and finds a synonym no lexical or hashed signal
// could, a model switch re-embeds everything lazily, a failing or rate-limiting embeddings API
// leaves recall working on hashed vectors and is reported, and dropping the model turns the
// vectors back into hashed ones.
mod common;

use std::time::Duration;

use common::openai::{Behavior, FakeOpenAi};
use common::{ALL_SCOPES, Client, Gateway, eventually};
use serde_json::{Value, json};

fn config(ai: &FakeOpenAi, embeddings: Option<&str>) -> String {
    let emb = embeddings
        .map(|m| format!("embeddings = \"{m}\"\nembeddingTimeoutMs = 2000\n"))
        .unwrap_or_default();
    format!(
        "[agent]\nmodel = \"fake/m\"\n[models.providers.fake]\nbaseUrl = \"{}\"\n\
         [memory]\n{emb}[limits]\nmemory_embed_batch = 2\n",
        ai.base_url()
    )
}

const FACTS: [&str; 7] = [
    "I parked the automobile on Elm Street behind the bakery",
    "The physician appointment is on Thursday at nine",
    "Grandma's recipe for lemon cake uses three eggs",
    "The wifi password is written inside the hallway cupboard",
    "Our feline Miso needs her vaccination in March",
    "The plumber said the boiler pressure should stay at 1.5 bar",
    "Tom's birthday party is at the bowling alley on Saturday",
];

fn status(c: &mut Client) -> Value {
    c.call("doctor.memory.status", None).unwrap()
}

/// Waits until no stored vector is from another model than the configured one.
fn settled(c: &mut Client) -> Value {
    let mut last = Value::Null;
    let ok = eventually(Duration::from_secs(20), || {
        last = status(c);
        last["pendingVectors"] == 0
    });
    assert!(ok, "vectors never settled: {last}");
    last
}

fn models_of(c: &mut Client) -> Vec<String> {
    let l = c.call("memory.list", Some(json!({"limit": 100}))).unwrap();
    l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["vectorModel"].as_str().unwrap_or("").to_string())
        .collect()
}

fn search(c: &mut Client, q: &str) -> Vec<Value> {
    let r = c
        .call("memory.search", Some(json!({"query": q, "limit": 3})))
        .unwrap();
    r["results"].as_array().unwrap().clone()
}

#[test]
fn entries_are_embedded_in_batches_and_a_model_switch_re_embeds_them() {
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, Some("fake/embed-a")));
    let mut c = gw.client(&ALL_SCOPES);
    let entries: Vec<Value> = FACTS.iter().map(|t| json!({"text": t})).collect();
    let r = c
        .call("memory.import", Some(json!({"entries": entries})))
        .unwrap();
    assert_eq!(r["imported"], 7, "{r}");
    let s = settled(&mut c);
    assert_eq!(s["vectors"], "fake/embed-a", "{s}");
    assert_eq!(s["embeddings"]["embeddedTotal"], 7, "{s}");
    assert!(models_of(&mut c).iter().all(|m| m == "fake/embed-a"));
    // Batches: at most memory_embed_batch (2) texts per request, all seven texts covered.
    let reqs = ai.embed_requests();
    let sizes: Vec<usize> = reqs
        .iter()
        .map(|r| r.body["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(sizes.iter().all(|n| (1..=2).contains(n)), "{sizes:?}");
    assert!(sizes.iter().sum::<usize>() >= 7, "{sizes:?}");
    assert!(reqs.iter().all(|r| r.model() == "embed-a"));
    assert!(
        reqs.iter().all(|r| r.path == "/v1/embeddings"),
        "{}",
        reqs[0].path
    );
    // Recall embeds the query: "car" only meets "automobile" through the model.
    let before = ai.embed_requests().len();
    let hits = search(&mut c, "where is my car");
    assert_eq!(ai.embed_requests().len(), before + 1, "one query embedding");
    assert!(
        hits.first()
            .is_some_and(|h| h["text"].as_str().unwrap().contains("automobile")
                && h["ranks"]["lexical"].is_null()
                && !h["ranks"]["vector"].is_null()),
        "{hits:?}"
    );
    let s = status(&mut c);
    assert_eq!(s["embeddings"]["queries"], 1, "{s}");

    // A chat exchange is remembered and embedded too.
    let run = format!("run-{}", common::random_token());
    c.call(
        "chat.send",
        Some(
            json!({"sessionKey": "agent:main:x", "message": "the kitty sleeps on the red sofa",
                    "idempotencyKey": run}),
        ),
    )
    .unwrap();
    c.call(
        "agent.wait",
        Some(json!({"runId": run, "timeoutMs": 10000})),
    )
    .unwrap();
    let s = settled(&mut c);
    assert_eq!(s["entries"], 9, "{s}");

    // Switch the model: every vector is re-embedded lazily by embed-b, in batches of 2.
    drop(c);
    std::fs::write(gw_config(&gw), config(&ai, Some("fake/embed-b"))).unwrap();
    let gw = gw.restart();
    let mut c = gw.client(&ALL_SCOPES);
    let s = settled(&mut c);
    assert_eq!(s["vectors"], "fake/embed-b", "{s}");
    assert!(models_of(&mut c).iter().all(|m| m == "fake/embed-b"));
    let b_reqs: Vec<_> = ai
        .embed_requests()
        .into_iter()
        .filter(|r| r.model() == "embed-b")
        .collect();
    let texts: usize = b_reqs
        .iter()
        .map(|r| r.body["input"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(texts >= 9, "all nine entries re-embedded: {texts}");
    assert!(
        b_reqs
            .iter()
            .all(|r| r.body["input"].as_array().map_or(0, Vec::len) <= 2)
    );
    let hits = search(&mut c, "when do I see the doctor");
    assert!(
        hits.first()
            .is_some_and(|h| h["text"].as_str().unwrap().contains("physician")),
        "{hits:?}"
    );

    // Drop the model: vectors go back to hashed ones (locally, no requests).
    drop(c);
    std::fs::write(gw_config(&gw), config(&ai, None)).unwrap();
    let n = ai.embed_requests().len();
    let gw = gw.restart();
    let mut c = gw.client(&ALL_SCOPES);
    let s = settled(&mut c);
    assert_eq!(s["vectors"], "hash-v1", "{s}");
    assert!(models_of(&mut c).iter().all(|m| m == "hash-v1"));
    assert_eq!(ai.embed_requests().len(), n, "re-hashing makes no requests");
    let hits = search(&mut c, "lemon cake recipe");
    assert!(
        hits.first()
            .is_some_and(|h| h["text"].as_str().unwrap().contains("lemon")),
        "{hits:?}"
    );
}

fn gw_config(gw: &Gateway) -> std::path::PathBuf {
    gw.db_path()
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("config.toml")
}

#[test]
fn a_failing_embeddings_api_leaves_recall_on_hashed_vectors_and_is_reported() {
    let ai = FakeOpenAi::start();
    ai.set_embed_default(Some(Behavior::Status {
        code: 500,
        retry_after_secs: None,
        message: "The server had an error while processing your request.".into(),
    }));
    let gw = Gateway::start(&config(&ai, Some("fake/embed-a")));
    let mut c = gw.client(&ALL_SCOPES);
    let entries: Vec<Value> = FACTS.iter().map(|t| json!({"text": t})).collect();
    c.call("memory.import", Some(json!({"entries": entries})))
        .unwrap();
    // Recall still answers, from BM25 and the hashed vectors the entries were stored with.
    let hits = search(&mut c, "wifi password cupboard");
    assert!(
        hits.first()
            .is_some_and(|h| h["text"].as_str().unwrap().contains("wifi")),
        "{hits:?}"
    );
    let mut s = Value::Null;
    assert!(
        eventually(Duration::from_secs(10), || {
            s = status(&mut c);
            s["embeddings"]["lastError"].is_string()
        }),
        "{s}"
    );
    assert!(s["embeddings"]["queryFallbacks"].as_u64() >= Some(1), "{s}");
    assert!(
        s["embeddings"]["lastError"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{s}"
    );
    assert_eq!(
        s["pendingVectors"], 7,
        "nothing embedded while it fails: {s}"
    );
    assert!(models_of(&mut c).iter().all(|m| m == "hash-v1"));
    // A 429 with Retry-After: 1 is honoured, then the API recovers and the backlog drains
    // (the first failures put the loop into a 5 s back-off; it retries on its own).
    ai.push_embed(Behavior::Status {
        code: 429,
        retry_after_secs: Some(1),
        message: "Rate limit reached for requests".into(),
    });
    ai.set_embed_default(None);
    let s = settled(&mut c);
    assert_eq!(s["embeddings"]["embeddedTotal"], 7, "{s}");
    assert!(models_of(&mut c).iter().all(|m| m == "fake/embed-a"));
    assert!(!gw.stderr().contains("panicked"), "{}", gw.stderr());
}

#[test]
fn an_unknown_embeddings_provider_is_a_config_error() {
    let ai = FakeOpenAi::start();
    let cfg = config(&ai, Some("nosuch/embed"));
    let dir = std::env::temp_dir().join(format!("oce-embcfg-{}", common::random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("config.toml");
    std::fs::write(&f, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openclaw-edge"))
        .args(["--config", f.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("memory.embeddings") && err.contains("unknown provider"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
