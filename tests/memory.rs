// Memory end to end with the real binary: what one session said is recalled into another
// session's prompt (within its budget), an opted-out session is neither remembered nor given
// memories, memory survives a restart, the store stays at its bound, and the CLI imports,
// searches, exports and forgets through the gateway.
mod common;

use common::openai::FakeOpenAi;
use common::{ALL_SCOPES, Gateway};
use serde_json::{Value, json};

fn config(ai: &FakeOpenAi, limits: &str) -> String {
    format!(
        "[agent]\nmodel = \"fake/m\"\n[models.providers.fake]\nbaseUrl = \"{}\"\n\
         [limits]\nmemory_inject_tokens = 60\n{limits}\n",
        ai.base_url()
    )
}

/// The system messages of the last model request.
fn system_of_last(ai: &FakeOpenAi) -> Vec<String> {
    let req = ai.requests().last().unwrap().body.clone();
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_fact_from_one_session_is_recalled_into_another_and_opt_out_is_respected() {
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, ""));
    let mut c = gw.client(&ALL_SCOPES);
    common::chat_turn(
        &mut c,
        "agent:main:a",
        "My sister Ana moved to Porto last spring.",
    );
    let s = c.call("doctor.memory.status", None).unwrap();
    assert_eq!(s["entries"], 2, "the user text and the answer: {s}");
    // Another session: the fact is in the prompt, inside the token budget (60 tokens = 240 B).
    common::chat_turn(&mut c, "agent:main:b", "Which city does Ana live in now?");
    let sys = system_of_last(&ai);
    assert_eq!(sys.len(), 2, "system prompt + memories: {sys:?}");
    assert!(sys[1].contains("Ana moved to Porto"), "{sys:?}");
    assert!(sys[1].len() <= 240, "{}", sys[1].len());
    // An opted-out session: not remembered, and given no memories.
    c.call(
        "sessions.patch",
        Some(json!({"key": "agent:main:private", "memory": false})),
    )
    .unwrap();
    common::chat_turn(
        &mut c,
        "agent:main:private",
        "My locker code is 4711, and Ana lives in Porto.",
    );
    assert_eq!(
        system_of_last(&ai).len(),
        1,
        "no memories for an opted-out session"
    );
    let s = c.call("doctor.memory.status", None).unwrap();
    assert_eq!(s["entries"], 4, "nothing from the private session: {s}");
    let r = c
        .call("memory.search", Some(json!({"query": "locker code"})))
        .unwrap();
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| !h["text"].as_str().unwrap().contains("4711")),
        "{r}"
    );
    // Memory survives a restart.
    drop(c);
    let gw = gw.restart();
    let mut c = gw.client(&ALL_SCOPES);
    let r = c
        .call(
            "memory.search",
            Some(json!({"query": "where is my sister living"})),
        )
        .unwrap();
    assert!(
        r["results"][0]["text"].as_str().unwrap().contains("Porto"),
        "{r}"
    );
    let bad = c
        .call("memory.search", Some(json!({"query": " "})))
        .unwrap_err();
    assert_eq!(bad["code"], "INVALID_REQUEST");
}

#[test]
fn the_cli_imports_searches_exports_and_forgets_and_the_store_stays_at_its_bound() {
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, "memory_max_entries = 50"));
    let dir = gw.dir.clone();
    let file = dir.join("facts.jsonl");
    let mut lines: Vec<String> = (0..120)
        .map(|i| json!({"text": format!("note {i}: the plant number {i} needs water on day {}", i % 7), "session": "import"}).to_string())
        .collect();
    lines.push(
        json!({"text": "The boiler service is booked for March 3rd", "time": 1_700_000_000_000u64})
            .to_string(),
    );
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (rc, out, err) = common::cli(&gw, &["memory", "import", file.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("imported 121"), "{out}");
    let (rc, out, _) = common::cli(&gw, &["memory", "status", "--json"]);
    assert_eq!(rc, 0);
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(s["entries"].as_u64().unwrap() <= 50, "bounded: {s}");
    assert!(s["evictedTotal"].as_u64().unwrap() >= 71, "{s}");
    assert!(s["lastEvictionAt"].is_u64(), "{s}");
    // The newest import is still there and found by a paraphrase with a typo.
    let (rc, out, err) = common::cli(
        &gw,
        &["memory", "search", "when is the boiler servise", "--json"],
    );
    assert_eq!(rc, 0, "{err}");
    let hits: Value = serde_json::from_str(out.trim()).unwrap();
    let first = &hits[0];
    assert!(first["text"].as_str().unwrap().contains("boiler"), "{hits}");
    assert_eq!(first["createdAt"], 1_700_000_000_000u64);
    // Export: one JSON line per stored entry.
    let export = dir.join("out.jsonl");
    let (rc, _, err) = common::cli(
        &gw,
        &["memory", "export", "--out", export.to_str().unwrap()],
    );
    assert_eq!(rc, 0, "{err}");
    let n = std::fs::read_to_string(&export).unwrap().lines().count() as u64;
    assert_eq!(n, s["entries"].as_u64().unwrap());
    // Forget it; it is gone from search.
    let id = first["id"].to_string();
    let (rc, out, _) = common::cli(&gw, &["memory", "forget", &id]);
    assert_eq!((rc, out.trim()), (0, "forgotten: 1"));
    let (_, out, _) = common::cli(&gw, &["memory", "search", "boiler service", "--json"]);
    assert!(!out.contains("boiler"), "{out}");
    // A malformed import line is refused with its line number; nothing partial is claimed.
    std::fs::write(&file, "{\"text\": \"ok\"}\nnot json\n").unwrap();
    let (rc, _, err) = common::cli(&gw, &["memory", "import", file.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn the_model_stores_and_searches_memory_through_its_tools() {
    use common::openai::Behavior;
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, ""));
    let mut c = gw.client(&ALL_SCOPES);
    ai.push(Behavior::ToolCall {
        name: "memory_store".into(),
        arguments: json!({"text": "The spare house key is under the blue flowerpot"}).to_string(),
    });
    common::chat_turn(&mut c, "agent:main:t1", "remember where the spare key is");
    let offered: Vec<String> = ai.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        offered.contains(&"memory_search".to_string()),
        "{offered:?}"
    );
    let list = c.call("memory.list", Some(json!({"limit": 50}))).unwrap();
    let tool_entry = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "tool")
        .cloned()
        .unwrap_or_default();
    assert!(
        tool_entry["text"]
            .as_str()
            .unwrap_or("")
            .contains("blue flowerpot"),
        "{list}"
    );
    // Another session asks the model, which searches.
    ai.push(Behavior::ToolCall {
        name: "memory_search".into(),
        arguments: json!({"query": "where is the spare key"}).to_string(),
    });
    common::chat_turn(&mut c, "agent:main:t2", "where did I put the key?");
    let last = ai.requests().last().unwrap().body.clone();
    let tool_msg = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap();
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .contains("blue flowerpot"),
        "{tool_msg}"
    );
    // An opted-out session is not offered the memory tools.
    c.call(
        "sessions.patch",
        Some(json!({"key": "agent:main:off", "memory": false})),
    )
    .unwrap();
    common::chat_turn(&mut c, "agent:main:off", "hello");
    let tools = ai.requests().last().unwrap().body["tools"].to_string();
    assert!(!tools.contains("memory_search"), "{tools}");
}

#[test]
fn the_cli_imports_a_large_file_in_frames_the_edge_profile_accepts() {
    // 600 entries of ~190 bytes: 500 per call would be a ~110 KB message, over the edge
    // profile's 64 KiB frames; the CLI splits by bytes too.
    let ai = FakeOpenAi::start();
    let gw = Gateway::start(&config(&ai, ""));
    let dir = std::env::temp_dir().join(format!("oce-memimp-{}", common::random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.jsonl");
    let lines: Vec<String> = (0..600)
        .map(|i| {
            json!({"text": format!("note {i}: {}", "the quick brown fox jumps over the lazy dog ".repeat(4))})
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (rc, out, err) = common::cli(&gw, &["memory", "import", file.to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("imported 600"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
