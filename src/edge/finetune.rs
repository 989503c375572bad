//! Fine-tuning: the training set exported from stored transcripts, the trainer's progress
//! lines, and the run directories under `<state_dir>/finetune/`.
//!
//! `export` walks the transcripts (newest sessions first, each oldest message first) and makes
//! one example per exchange: the user's text (consecutive user messages joined) and the
//! assistant's next text reply, as an OpenAI chat-format JSONL line `{"messages":[{"role":
//! "user",…},{"role":"assistant",…}]}`. Tool messages and text-less tool-call turns are passed
//! over; a user message never answered is counted, not exported. Every text goes through the
//! defender's secret scrubber first, so a key pasted into a chat does not end up in a model's
//! weights. The export stops at `limits.finetune_max_samples` examples or
//! `limits.finetune_max_dataset_bytes` bytes; what was left out is counted in the statistics,
//! which are the real figures of what was (or, for a dry run, would be) written: the SHA-256 of
//! the bytes, example and character counts. It runs on the store thread in steps of about
//! `STEP_MESSAGES` messages (`Export::step`, one `Store::read` each), so chats and other store
//! work go on while a large set is exported.
//!
//! A trainer reports progress by printing JSON lines with any of `progress` (0-1), `step`,
//! `totalSteps`, `epoch`, `totalEpochs`, `loss`, `learningRate`, `message` (`parse_progress`);
//! other output is only kept in the job's log tail.

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::store::{Db, StoreError};

/// Directory of the run directories, under the state dir.
pub const RUNS_DIR: &str = "finetune";
/// An exchange longer than this (user + assistant bytes) is left out (`skipped.tooLong`).
pub const MAX_EXAMPLE_BYTES: usize = 64 * 1024;
/// Most sessions a run may name.
pub const MAX_SESSION_KEYS: usize = 100;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOpts {
    /// Only these session keys (empty: all).
    pub sessions: Vec<String>,
    /// Most examples.
    pub max_samples: usize,
    /// Most bytes of JSONL.
    pub max_bytes: usize,
}

/// Figures of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Sessions that gave at least one example.
    pub sessions: usize,
    /// Sessions looked at.
    pub sessions_scanned: usize,
    /// Examples written.
    pub examples: usize,
    /// JSONL bytes written.
    pub bytes: usize,
    /// SHA-256 of those bytes.
    pub sha256: String,
    /// Characters of user text in the examples.
    pub user_chars: usize,
    /// Characters of assistant text in the examples.
    pub assistant_chars: usize,
    /// Examples in which the scrubber replaced a secret.
    pub redacted: usize,
    /// User messages never answered with text.
    pub unanswered: usize,
    /// Messages with no text (tool-call turns, empty content).
    pub empty: usize,
    /// Tool-result messages passed over.
    pub tool_messages: usize,
    /// Exchanges over `MAX_EXAMPLE_BYTES`.
    pub too_long: usize,
    /// Exchanges past `max_samples` / `max_bytes`.
    pub over_limit: usize,
    /// Oldest and newest message time (ms) among the examples.
    pub first_ts: Option<u64>,
    /// Newest message time (ms) among the examples.
    pub last_ts: Option<u64>,
}

impl ExportStats {
    /// As `dataset` in the RPC answers.
    pub fn to_json(&self, o: &ExportOpts) -> Value {
        json!({
            "format": "openai-chat-jsonl",
            "examples": self.examples,
            "sessions": self.sessions,
            "sessionsScanned": self.sessions_scanned,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "userChars": self.user_chars,
            "assistantChars": self.assistant_chars,
            "avgUserChars": avg(self.user_chars, self.examples),
            "avgAssistantChars": avg(self.assistant_chars, self.examples),
            "redactedExamples": self.redacted,
            "skipped": {"unanswered": self.unanswered, "empty": self.empty,
                        "toolMessages": self.tool_messages, "tooLong": self.too_long,
                        "overLimit": self.over_limit},
            "firstTs": self.first_ts,
            "lastTs": self.last_ts,
            "maxSamples": o.max_samples,
            "maxBytes": o.max_bytes,
        })
    }
}

fn avg(total: usize, n: usize) -> Value {
    total.checked_div(n).map_or(Value::Null, |a| json!(a))
}

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    /// Reading the transcripts failed.
    Store(StoreError),
    /// Writing the dataset failed (disk full, permissions).
    Write(String),
}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Store(e.into())
    }
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Store(e) => write!(f, "cannot read the transcripts: {e}"),
            ExportError::Write(e) => write!(f, "cannot write the dataset: {e}"),
        }
    }
}

/// Replaces secrets in a text; `None` when it found none.
pub type Scrub<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Messages one `Export::step` reads at most (whole sessions: it stops at the first session
/// boundary past it), so an export never holds the store thread for long.
pub const STEP_MESSAGES: usize = 2000;

/// An export in progress: it runs in steps (`step`, each one store job) so other store work
/// goes on between them, then `finish` gives the figures. `Send`, so it moves into each job.
pub struct Export {
    opts: ExportOpts,
    keys: Option<Vec<String>>,
    next: usize,
    stats: ExportStats,
    hash: Sha256,
    out: Box<dyn Write + Send>,
}

impl Export {
    /// An export of `opts` into `out` (`std::io::sink()` for a dry run).
    pub fn new(opts: ExportOpts, out: Box<dyn Write + Send>) -> Export {
        Export {
            opts,
            keys: None,
            next: 0,
            stats: ExportStats::default(),
            hash: Sha256::new(),
            out,
        }
    }

    /// Exports the next sessions, whole ones until `budget` messages were read (the RPC uses
    /// `STEP_MESSAGES`); `true` when none are left.
    pub fn step(&mut self, db: &Db, scrub: Scrub<'_>, budget: usize) -> Result<bool, ExportError> {
        if self.keys.is_none() {
            self.keys = Some(if self.opts.sessions.is_empty() {
                let mut st = db
                    .conn
                    .prepare_cached("SELECT key FROM sessions ORDER BY updated_at DESC, key")?;
                st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
            } else {
                self.opts.sessions.clone()
            });
        }
        let keys = self.keys.take().unwrap_or_default();
        let mut read = 0usize;
        let mut result = Ok(());
        while self.next < keys.len() && read < budget {
            match self.session(db, scrub, &keys[self.next]) {
                Ok(n) => read += n.max(1),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            self.next += 1;
        }
        let done = self.next >= keys.len();
        self.keys = Some(keys);
        result.map(|()| done)
    }

    /// Flushes the output and gives the figures.
    pub fn finish(mut self) -> Result<ExportStats, ExportError> {
        self.out
            .flush()
            .map_err(|e| ExportError::Write(e.to_string()))?;
        self.stats.sha256 = crate::ids::hex(&self.hash.finalize());
        Ok(self.stats)
    }

    /// Exports one session's exchanges; returns how many messages it read.
    fn session(&mut self, db: &Db, scrub: Scrub<'_>, key: &str) -> Result<usize, ExportError> {
        let mut st = db.conn.prepare_cached(
            "SELECT session_id, role, body, ts FROM messages WHERE session_key = ?1 ORDER BY seq",
        )?;
        let s = &mut self.stats;
        s.sessions_scanned += 1;
        let before = s.examples;
        let mut sid = String::new();
        let mut user: Option<(String, u64)> = None;
        let mut read = 0usize;
        let rows = st.query_map(params![key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (session_id, role, body, ts) = row?;
            read += 1;
            if session_id != sid {
                // A reset starts a new conversation: an open question stays unanswered.
                s.unanswered += usize::from(user.take().is_some());
                sid = session_id;
            }
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let text = crate::store::messages::text_of(&body);
            let text = text.trim();
            match role.as_str() {
                "tool" | "toolResult" => s.tool_messages += 1,
                _ if text.is_empty() => s.empty += 1,
                "user" => {
                    user = Some(match user.take() {
                        Some((u, _)) => (format!("{u}\n{text}"), ts as u64),
                        None => (text.to_string(), ts as u64),
                    });
                }
                "assistant" => {
                    if let Some((u, uts)) = user.take() {
                        let out: &mut dyn Write = &mut *self.out;
                        let sink = (&mut self.hash, out);
                        add_example(s, sink, &self.opts, scrub, (&u, uts), (text, ts))?;
                    }
                }
                _ => {}
            }
        }
        s.unanswered += usize::from(user.is_some());
        s.sessions += usize::from(s.examples > before);
        Ok(read)
    }
}

/// Writes one exchange, or counts why it was left out.
fn add_example(
    s: &mut ExportStats,
    (hash, out): (&mut Sha256, &mut dyn Write),
    o: &ExportOpts,
    scrub: Scrub<'_>,
    (user, user_ts): (&str, u64),
    (reply, reply_ts): (&str, i64),
) -> Result<(), ExportError> {
    if user.len() + reply.len() > MAX_EXAMPLE_BYTES {
        s.too_long += 1;
        return Ok(());
    }
    let (u, a) = (scrub(user), scrub(reply));
    let redacted = u.is_some() || a.is_some();
    let (u, a) = (u.as_deref().unwrap_or(user), a.as_deref().unwrap_or(reply));
    let mut line = json!({"messages": [{"role": "user", "content": u},
                                       {"role": "assistant", "content": a}]})
    .to_string();
    line.push('\n');
    if s.examples >= o.max_samples || s.bytes + line.len() > o.max_bytes {
        s.over_limit += 1;
        return Ok(());
    }
    out.write_all(line.as_bytes())
        .map_err(|e| ExportError::Write(e.to_string()))?;
    hash.update(line.as_bytes());
    s.examples += 1;
    s.bytes += line.len();
    s.user_chars += u.chars().count();
    s.assistant_chars += a.chars().count();
    s.redacted += usize::from(redacted);
    let reply_ts = reply_ts.max(0) as u64;
    s.first_ts = Some(s.first_ts.map_or(user_ts, |t| t.min(user_ts)));
    s.last_ts = Some(s.last_ts.map_or(reply_ts, |t| t.max(reply_ts)));
    Ok(())
}

/// Fields a progress line may carry, and how they are checked.
const NUMBERS: &[&str] = &[
    "progress",
    "step",
    "totalSteps",
    "epoch",
    "totalEpochs",
    "loss",
    "evalLoss",
    "learningRate",
];

/// A trainer's progress line (a JSON object with at least one known field) as the job's
/// `progress`; `None` for any other line. `fraction` is `progress`, else `step / totalSteps`,
/// clamped to 0-1.
pub fn parse_progress(line: &str, now: u64) -> Option<Value> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let obj = v.as_object()?;
    let mut p = serde_json::Map::new();
    for k in NUMBERS {
        if let Some(n) = obj
            .get(*k)
            .and_then(Value::as_f64)
            .filter(|n| n.is_finite())
        {
            p.insert((*k).to_string(), json!(n));
        }
    }
    if let Some(m) = obj.get("message").and_then(Value::as_str) {
        p.insert("message".into(), json!(crate::edge::jobs::tail(m, 200)));
    }
    if p.is_empty() {
        return None;
    }
    let num = |k: &str| p.get(k).and_then(Value::as_f64);
    let fraction = num("progress").or_else(|| match (num("step"), num("totalSteps")) {
        (Some(s), Some(t)) if t > 0.0 => Some(s / t),
        _ => None,
    });
    if let Some(f) = fraction {
        p.insert("fraction".into(), json!(f.clamp(0.0, 1.0)));
    }
    p.insert("at".into(), json!(now));
    Some(Value::Object(p))
}

/// The last progress line in `stdout`, if any.
pub fn last_progress(stdout: &str, now: u64) -> Option<Value> {
    stdout.lines().rev().find_map(|l| parse_progress(l, now))
}

/// Files the trainer left in `dir` (name and bytes, at most 50, sorted), or why none.
pub fn adapter_files(dir: &Path) -> Result<Vec<Value>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<(String, u64)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), m.len()))
        })
        .collect();
    if files.is_empty() {
        return Err(format!(
            "the trainer exited 0 but wrote nothing to {}",
            dir.display()
        ));
    }
    files.sort();
    files.truncate(50);
    Ok(files
        .into_iter()
        .map(|(name, bytes)| json!({"name": name, "bytes": bytes}))
        .collect())
}

/// Deletes the oldest run directories so that `keep - 1` remain besides a new one; never the
/// directories of `running` jobs. Returns how many went.
pub fn prune_runs(root: &Path, keep: usize, running: &[String]) -> usize {
    let Ok(rd) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            !running
                .iter()
                .any(|r| e.file_name().to_string_lossy() == *r)
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(keep.saturating_sub(1));
    dirs.into_iter()
        .take(excess)
        .filter(|(_, p)| std::fs::remove_dir_all(p).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs an export of every session in steps of `budget` messages, at most `max_bytes`.
    fn run(db: &Db, budget: usize, max_bytes: usize) -> (ExportStats, usize, Vec<u8>) {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let opts = ExportOpts {
            sessions: Vec::new(),
            max_samples: 100,
            max_bytes,
        };
        let mut ex = Export::new(opts, Box::new(Shared(buf.clone())));
        let scrub = |t: &str| t.contains("sk-").then(|| t.replace("sk-", "[REDACTED]"));
        let mut steps = 1;
        while !ex.step(db, &scrub, budget).unwrap() {
            steps += 1;
        }
        let stats = ex.finish().unwrap();
        let bytes = buf.lock().unwrap().clone();
        (stats, steps, bytes)
    }

    #[test]
    fn an_export_in_steps_writes_what_one_step_writes() {
        let db = crate::store::telegram::test_db("finetune");
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            db.conn
                .execute(
                    "INSERT INTO sessions (key, agent_id, session_id, kind, created_at, \
                     updated_at) VALUES (?1, 'main', ?1, 'direct', 1, ?2)",
                    params![key, i as i64],
                )
                .unwrap();
            let say = |role: &str, text: &str| {
                let body = json!({"role": role, "content": [{"type": "text", "text": text}]});
                let now = 10 + i as u64;
                crate::store::messages::append(&db, key, role, &body, None, now).unwrap();
            };
            say("user", &format!("question {key}"));
            say("user", "with my key sk-abc");
            say("assistant", &format!("answer {key}"));
            say("tool", "tool output");
            say("user", "never answered");
        }
        let (one, steps, bytes) = run(&db, 1_000, 1 << 20);
        assert_eq!(steps, 1);
        let (three, steps3, bytes3) = run(&db, 1, 1 << 20);
        assert_eq!(steps3, 3, "one session per step at budget 1");
        assert_eq!((one.clone(), bytes.clone()), (three, bytes3));
        assert_eq!(
            (one.examples, one.sessions, one.sessions_scanned),
            (3, 3, 3)
        );
        assert_eq!((one.unanswered, one.tool_messages, one.redacted), (3, 3, 3));
        assert_eq!(one.bytes, bytes.len());
        let text = String::from_utf8(bytes).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        // Newest session first; the two user messages joined; the key scrubbed.
        assert_eq!(
            first["messages"][0]["content"],
            "question c\nwith my key [REDACTED]abc"
        );
        assert_eq!(first["messages"][1]["content"], "answer c");
        assert!(!text.contains("sk-"));
        // finetune_max_dataset_bytes: the export stops before passing it and counts the rest.
        let cap = one.bytes / 3 + 10;
        let (capped, _, capped_bytes) = run(&db, 1_000, cap);
        assert_eq!((capped.examples, capped.over_limit), (1, 2));
        assert!(capped_bytes.len() <= cap && capped.bytes == capped_bytes.len());
    }

    #[test]
    fn progress_lines_are_parsed_and_other_lines_are_not() {
        let p =
            parse_progress(r#"{"step": 5, "totalSteps": 20, "loss": 1.5, "x": "y"}"#, 7).unwrap();
        assert_eq!(
            p,
            json!({"step": 5.0, "totalSteps": 20.0, "loss": 1.5, "fraction": 0.25, "at": 7})
        );
        assert_eq!(
            parse_progress(r#"{"progress": 3}"#, 1).unwrap()["fraction"],
            1.0
        );
        assert!(parse_progress("loading model...", 1).is_none());
        assert!(parse_progress(r#"{"other": 1}"#, 1).is_none());
        assert!(parse_progress("[1, 2]", 1).is_none());
        let out = "{\"step\":1,\"totalSteps\":4}\nnoise\n{\"step\":4,\"totalSteps\":4}\nbye\n";
        assert_eq!(last_progress(out, 1).unwrap()["fraction"], 1.0);
    }
}
