//! `openclaw-edge memory search|list|export|forget|import`: the agent's memory through the
//! running gateway (`memory.*` and `doctor.memory.status` over the protocol), so the store
//! keeps one writer. `search` runs the same recall chat turns inject; `export` writes JSONL
//! (one entry per line, paged 500 at a time); `import FILE.jsonl` reads lines of
//! `{"text", "session"?, "time"?}` and sends them at most 500 and `IMPORT_BATCH_BYTES` per call (the
//! edge profile's frames are 64 KiB); `forget ID` or
//! `forget --session KEY` deletes.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use serde_json::{Value, json};

use super::client::{self, Target};
use crate::config::Overrides;

/// The agent's memory (needs the running gateway).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "memory")]
pub struct MemoryCmd {
    /// search QUERY | list | export | forget ID | import FILE | status
    #[argh(positional)]
    action: String,
    /// the query, entry id or file
    #[argh(positional)]
    arg: Option<String>,
    /// forget every entry of this session key
    #[argh(option)]
    session: Option<String>,
    /// most results (search, list)
    #[argh(option)]
    limit: Option<usize>,
    /// write the export here instead of stdout
    #[argh(option)]
    out: Option<PathBuf>,
    /// print JSON
    #[argh(switch)]
    json: bool,
    /// gateway URL
    #[argh(option)]
    url: Option<String>,
    /// shared token
    #[argh(option)]
    token: Option<String>,
    /// shared password
    #[argh(option)]
    password: Option<String>,
    /// config file used for defaults
    #[argh(option)]
    config: Option<PathBuf>,
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn usage() -> u8 {
    eprintln!(
        "usage: openclaw-edge memory search QUERY [--limit N] [--json] | list [--limit N] [--json] | \
         export [--out F] | forget ID | forget --session KEY | import FILE.jsonl | status [--json]"
    );
    2
}

/// Runs the subcommand; the exit code.
pub fn run(c: MemoryCmd, base: Overrides) -> u8 {
    let ov = Overrides {
        config: c.config.clone().or(base.config.clone()),
        ..base
    };
    let t = Target::resolve(&ov, c.url.clone(), c.token.clone(), c.password.clone());
    let call = |method: &str, params: Value| client::call(&t, method, Some(params), TIMEOUT);
    let res = match (c.action.as_str(), &c.arg) {
        ("search", Some(q)) => call("memory.search", json!({"query": q, "limit": c.limit}))
            .map(|v| print_entries(&v["results"], c.json, true)),
        ("status", None) => call("doctor.memory.status", json!({})).map(|v| {
            println!("{}", if c.json { v.to_string() } else { pretty(&v) });
        }),
        ("list", None) => call("memory.list", json!({"limit": c.limit.unwrap_or(100)}))
            .map(|v| print_entries(&v["entries"], c.json, false)),
        ("export", None) => return export(&call, c.out.as_ref()),
        ("forget", Some(id)) if c.session.is_none() => match id.parse::<i64>() {
            Ok(id) => call("memory.forget", json!({"id": id})).map(|v| report_forget(&v)),
            Err(_) => return usage(),
        },
        ("forget", None) if c.session.is_some() => {
            call("memory.forget", json!({"sessionKey": c.session})).map(|v| report_forget(&v))
        }
        ("import", Some(f)) => return import(&call, f),
        _ => return usage(),
    };
    match res {
        Ok(()) => 0,
        Err(e) => client::report(&e, c.json),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn report_forget(v: &Value) {
    println!("forgotten: {}", v["forgotten"]);
}

fn print_entries(list: &Value, json_out: bool, scored: bool) {
    let items = list.as_array().cloned().unwrap_or_default();
    if json_out {
        println!("{}", Value::Array(items));
        return;
    }
    if items.is_empty() {
        println!("(nothing)");
    }
    for e in items {
        let date = crate::clock::rfc3339(e["createdAt"].as_u64().unwrap_or(0));
        let score = if scored {
            format!(" {:.3}", e["score"].as_f64().unwrap_or(0.0))
        } else {
            String::new()
        };
        println!(
            "#{}{score} [{} {}] {}",
            e["id"],
            date.get(..10).unwrap_or(&date),
            e["source"].as_str().unwrap_or(""),
            e["text"].as_str().unwrap_or("")
        );
    }
}

type Call<'a> = dyn Fn(&str, Value) -> Result<Value, client::CallError> + 'a;

fn export(call: &Call<'_>, out: Option<&PathBuf>) -> u8 {
    let mut sink: Box<dyn Write> = match out {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("openclaw-edge: cannot create {}: {e}", p.display());
                return 1;
            }
        },
        None => Box::new(std::io::stdout().lock()),
    };
    let mut after = 0i64;
    let mut n = 0usize;
    loop {
        let page = match call("memory.list", json!({"afterId": after, "limit": 500})) {
            Ok(v) => v,
            Err(e) => return client::report(&e, false),
        };
        for e in page["entries"].as_array().into_iter().flatten() {
            let line = json!({"text": e["text"], "session": e["sessionKey"],
                              "time": e["createdAt"], "source": e["source"], "id": e["id"]});
            if writeln!(sink, "{line}").is_err() {
                eprintln!("openclaw-edge: write failed");
                return 1;
            }
            n += 1;
        }
        match page["nextAfterId"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    if sink.flush().is_err() {
        return 1;
    }
    eprintln!("exported {n} entries");
    0
}

/// Most JSON bytes of entries one `memory.import` call carries: under the edge profile's 64 KiB
/// `max_frame_bytes` (a client sends each message as one frame), with room for the envelope.
pub const IMPORT_BATCH_BYTES: usize = 48 * 1024;
/// Longest text sent per entry (the gateway cuts entries at `memory_max_entry_bytes` anyway).
pub const IMPORT_TEXT_BYTES: usize = 32 * 1024;

fn import(call: &Call<'_>, file: &str) -> u8 {
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("openclaw-edge: cannot open {file}: {e}");
            return 1;
        }
    };
    let mut batch: Vec<Value> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut totals = [0u64; 4];
    let mut send = |batch: &mut Vec<Value>| -> Result<(), u8> {
        if batch.is_empty() {
            return Ok(());
        }
        let v = call("memory.import", json!({"entries": batch}))
            .map_err(|e| client::report(&e, false))?;
        for (i, k) in ["imported", "duplicates", "truncated", "evicted"]
            .iter()
            .enumerate()
        {
            totals[i] += v[k].as_u64().unwrap_or(0);
        }
        batch.clear();
        Ok(())
    };
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let Ok(line) = line else {
            eprintln!("openclaw-edge: {file}: line {} is not UTF-8 text", i + 1);
            return 1;
        };
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(&line) {
            Ok(v @ Value::Object(_)) if v["text"].is_string() => v,
            _ => {
                eprintln!(
                    "openclaw-edge: {file}: line {} is not {{\"text\": …, \"session\"?, \"time\"?}}",
                    i + 1
                );
                return 1;
            }
        };
        let text = v["text"].as_str().unwrap_or_default();
        let mut e = json!({"text": crate::defender::reason::clip(text, IMPORT_TEXT_BYTES).0});
        if let Some(s) = v["session"].as_str() {
            e["session"] = json!(s);
        }
        if let Some(t) = v["time"].as_u64() {
            e["time"] = json!(t);
        }
        let bytes = e.to_string().len() + 1;
        if (batch.len() == 500 || batch_bytes + bytes > IMPORT_BATCH_BYTES)
            && let Err(rc) = send(&mut batch)
        {
            return rc;
        }
        if batch.is_empty() {
            batch_bytes = 0;
        }
        batch_bytes += bytes;
        batch.push(e);
    }
    if let Err(rc) = send(&mut batch) {
        return rc;
    }
    println!(
        "imported {}, duplicates {}, truncated {}, evicted {}",
        totals[0], totals[1], totals[2], totals[3]
    );
    0
}
