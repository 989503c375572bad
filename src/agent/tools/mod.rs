//! Built-in tools: `read`, `write`, `list`, `exec`, `http_get` and `time`, as the model sees them.
//!
//! `specs` lists the tools the configuration offers, as OpenAI `tools` entries; `run` executes
//! one call and always answers with a `ToolOutput` (bad arguments and failures are `is_error`
//! results the model can read, never panics). The caller passes every call through
//! `defender::gate::Defender::screen` first; `run` still enforces the `[tools]` policy itself
//! (tools enabled, exec approval not `deny`, the exec and host allowlists), so a missed check
//! cannot widen it.
//!
//! File tools work inside the workspace only: paths are relative, have no `..`, and the deepest
//! existing ancestor is canonicalized and must stay inside the canonical workspace, which blocks
//! symlink escapes. All file system work runs on the blocking pool; `exec` runs through
//! `edge::run` with a cleared environment; `http_get` runs `providers::fetch::get` on the pool.
//! Every result is cut to `limits.tool_max_output_bytes`.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Limits;
use crate::config::tools::{ExecApproval, ToolsConfig};
use crate::edge;
use crate::pool::Pool;

/// Bytes kept free under the output cap for the continuation note of `read`.
const NOTE_RESERVE_BYTES: usize = 128;

/// Appended to a result cut at the output cap.
const TRUNCATED_NOTE: &str = "\n[truncated]";

/// What tool calls need from the gateway.
#[derive(Clone)]
pub struct ToolEnv {
    /// The `[tools]` settings.
    pub cfg: Rc<ToolsConfig>,
    /// Caps: file and output sizes, exec and http timeouts.
    pub limits: Limits,
    /// Where file system work and HTTP run.
    pub pool: Pool,
}

/// The result of one tool call, as text for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// Result text, at most `limits.tool_max_output_bytes`.
    pub text: String,
    /// True when the call failed (bad arguments, refused, I/O error, non-zero exit, timeout).
    pub is_error: bool,
    /// True when the text (or the data behind it) was cut at a cap.
    pub truncated: bool,
}

/// The tools `cfg` offers, as OpenAI `tools` array entries; empty when tools are disabled.
pub fn specs(cfg: &ToolsConfig) -> Vec<Value> {
    if !cfg.enabled {
        return Vec::new();
    }
    let mut out = vec![
        function(
            "read",
            "Read a text file in the workspace. Returns up to a size cap; use offset and limit \
             (lines) to page through larger files.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace"},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line to read (1-based)"},
                    "limit": {"type": "integer", "minimum": 1, "description": "Most lines to read"}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        ),
        function(
            "write",
            "Write a text file in the workspace (parent directories are created). Replaces the \
             file unless append is true.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the workspace"},
                    "content": {"type": "string", "description": "Text to write"},
                    "append": {"type": "boolean", "description": "Append instead of replacing"}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        ),
        function(
            "list",
            "List a directory in the workspace: `name/` for directories, `name (N bytes)` for files.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory relative to the workspace (default: the workspace)"}
                },
                "additionalProperties": false
            }),
        ),
    ];
    if cfg.exec.approval != ExecApproval::Deny {
        let mut desc = match &cfg.exec.shell {
            Some(shell) => format!(
                "Run a command with `{} -c` in the workspace; returns the exit code, stdout and stderr.",
                shell.display()
            ),
            None => "Run a program in the workspace; returns the exit code, stdout and stderr. \
                     There is no shell: the command is split into words (quotes and backslash \
                     work) and | ; & > < $ ` are refused."
                .to_string(),
        };
        if !cfg.exec.allow.is_empty() {
            desc.push_str(&format!(
                " Allowed programs: {}.",
                cfg.exec.allow.join(", ")
            ));
        }
        if cfg.exec.approval == ExecApproval::Review {
            desc.push_str(" Each command waits for an operator's approval.");
        }
        out.push(function(
            "exec",
            &desc,
            json!({
                "type": "object",
                "properties": {"command": {"type": "string", "description": "The command line"}},
                "required": ["command"],
                "additionalProperties": false
            }),
        ));
    }
    if !cfg.http_allow.is_empty() {
        out.push(function(
            "http_get",
            &format!(
                "Fetch a URL with HTTP GET (no redirects followed). Allowed hosts: {}.",
                cfg.http_allow.join(", ")
            ),
            json!({
                "type": "object",
                "properties": {"url": {"type": "string", "description": "http:// or https:// URL"}},
                "required": ["url"],
                "additionalProperties": false
            }),
        ));
    }
    out.push(function(
        "time",
        "The current date and time (UTC, RFC 3339) and Unix time in milliseconds.",
        json!({"type": "object", "properties": {}, "additionalProperties": false}),
    ));
    out
}

fn function(name: &str, description: &str, parameters: Value) -> Value {
    json!({
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters}
    })
}

/// A finished call before the output cap: text, error flag, truncated flag.
struct Done {
    text: String,
    is_error: bool,
    truncated: bool,
}

impl Done {
    fn ok(text: String) -> Done {
        Done {
            text,
            is_error: false,
            truncated: false,
        }
    }
}

/// Runs tool `name` with `args`; every failure is an `is_error` output.
pub async fn run(env: &ToolEnv, name: &str, args: &Value) -> ToolOutput {
    let done = match dispatch(env, name, args).await {
        Ok(done) => done,
        Err(msg) => Done {
            text: msg,
            is_error: true,
            truncated: false,
        },
    };
    let (text, cut) = cap_text(done.text, env.limits.tool_max_output_bytes);
    ToolOutput {
        text,
        is_error: done.is_error,
        truncated: done.truncated || cut,
    }
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    offset: Option<usize>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
    #[serde(default)]
    append: bool,
}

#[derive(Deserialize, Default)]
struct ListArgs {
    path: Option<String>,
}

#[derive(Deserialize)]
struct ExecArgs {
    command: String,
}

#[derive(Deserialize)]
struct HttpArgs {
    url: String,
}

/// Parses `args` (null counts as `{}`) into a tool's argument struct.
fn parse<T: for<'de> Deserialize<'de>>(tool: &str, args: &Value) -> Result<T, String> {
    let v = if args.is_null() {
        json!({})
    } else {
        args.clone()
    };
    serde_json::from_value(v).map_err(|e| format!("bad arguments for {tool}: {e}"))
}

async fn dispatch(env: &ToolEnv, name: &str, args: &Value) -> Result<Done, String> {
    if !env.cfg.enabled {
        return Err("tools are disabled (tools.enabled = false)".into());
    }
    let max_file = env.limits.tool_max_file_bytes;
    match name {
        "read" => {
            let a: ReadArgs = parse(name, args)?;
            let budget = max_file.min(
                env.limits
                    .tool_max_output_bytes
                    .saturating_sub(NOTE_RESERVE_BYTES)
                    .max(1),
            );
            let ws = env.cfg.workspace.clone();
            on_pool(env, move || {
                read_file(&ws, &a.path, a.offset.unwrap_or(1), a.limit, budget)
            })
            .await
        }
        "write" => {
            let a: WriteArgs = parse(name, args)?;
            if a.content.len() > max_file {
                return Err(format!(
                    "content is {} bytes, at most {max_file}",
                    a.content.len()
                ));
            }
            let ws = env.cfg.workspace.clone();
            on_pool(env, move || {
                write_file(&ws, &a.path, &a.content, a.append, max_file).map(Done::ok)
            })
            .await
        }
        "list" => {
            let a: ListArgs = parse(name, args)?;
            let ws = env.cfg.workspace.clone();
            let max = env.limits.tool_max_list_entries;
            on_pool(env, move || {
                list_dir(&ws, a.path.as_deref().unwrap_or("."), max)
            })
            .await
        }
        "exec" => {
            let a: ExecArgs = parse(name, args)?;
            exec(env, &a.command).await
        }
        "http_get" => {
            let a: HttpArgs = parse(name, args)?;
            http_get(env, a.url).await
        }
        "time" => {
            let ms = crate::clock::now_ms();
            Ok(Done::ok(format!(
                "{}\nunix_ms: {ms}",
                crate::clock::rfc3339(ms)
            )))
        }
        other => Err(format!("unknown tool {other:?}")),
    }
}

/// Runs a blocking job on the pool; a busy or failed pool is a tool error.
async fn on_pool<F>(env: &ToolEnv, f: F) -> Result<Done, String>
where
    F: FnOnce() -> Result<Done, String> + Send + 'static,
{
    match env.pool.run(f).await {
        Ok(r) => r,
        Err(e) => Err(format!("tool not run: {e}")),
    }
}

/// `text` cut to at most `max` bytes (note included) at a char boundary; true when cut.
fn cap_text(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max.saturating_sub(TRUNCATED_NOTE.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(TRUNCATED_NOTE);
    (text, true)
}

fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Creates the workspace if missing and returns its canonical path.
fn workspace_dir(ws: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(ws)
        .and_then(|()| fs::canonicalize(ws))
        .map_err(|e| format!("workspace unavailable: {}", io_msg(&e)))
}

/// Resolves `rel` inside the canonical workspace `ws`, refusing escapes.
fn resolve(ws: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Err("path must be relative to the workspace".into());
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("path must not contain `..`".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("path must be relative to the workspace".into());
            }
        }
    }
    let full = ws.join(p);
    // The deepest ancestor that exists (a dangling symlink counts: canonicalize then fails).
    let mut existing = full.as_path();
    while fs::symlink_metadata(existing).is_err() {
        existing = match existing.parent() {
            Some(parent) => parent,
            None => return Err("path must be relative to the workspace".into()),
        };
    }
    let canon =
        fs::canonicalize(existing).map_err(|e| format!("cannot resolve {rel}: {}", io_msg(&e)))?;
    if !canon.starts_with(ws) {
        return Err(format!("{rel} is outside the workspace"));
    }
    // `join("")` would add a trailing slash, which turns a file into "not a directory".
    match full.strip_prefix(existing) {
        Ok(rest) if !rest.as_os_str().is_empty() => Ok(canon.join(rest)),
        _ => Ok(canon),
    }
}

/// Opens a regular file for reading without blocking on FIFOs or devices.
fn open_regular(path: &Path, rel: &str) -> Result<fs::File, String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read {rel}: {}", io_msg(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {rel}: {}", io_msg(&e)))?;
    if !meta.is_file() {
        return Err(format!("{rel} is not a regular file"));
    }
    Ok(file)
}

/// Lines `offset..` of a file, at most `limit` lines and `budget` bytes.
fn read_file(
    ws: &Path,
    rel: &str,
    offset: usize,
    limit: Option<usize>,
    budget: usize,
) -> Result<Done, String> {
    let ws = workspace_dir(ws)?;
    let path = resolve(&ws, rel)?;
    let mut r = BufReader::new(open_regular(&path, rel)?);
    let offset = offset.max(1);
    let err = |e: std::io::Error| format!("cannot read {rel}: {}", io_msg(&e));
    let mut line = 1;
    while line < offset {
        if r.skip_until(b'\n').map_err(err)? == 0 {
            return Err(format!(
                "offset {offset} is past the end of {rel} ({} lines)",
                line - 1
            ));
        }
        line += 1;
    }
    let mut out: Vec<u8> = Vec::new();
    let mut shown = 0usize;
    let mut cut = false;
    loop {
        if limit.is_some_and(|l| shown >= l) {
            break;
        }
        let room = budget.saturating_sub(out.len());
        let before = out.len();
        let n = r
            .by_ref()
            .take(room as u64)
            .read_until(b'\n', &mut out)
            .map_err(err)?;
        let at_eof = r.fill_buf().map_err(err)?.is_empty();
        if n == 0 {
            cut = !at_eof;
            break;
        }
        if !out.ends_with(b"\n") && !at_eof {
            // The budget ended inside a line: keep it only when it is the first one.
            if shown > 0 {
                out.truncate(before);
            } else {
                shown = 1;
            }
            cut = true;
            break;
        }
        shown += 1;
        if at_eof {
            break;
        }
    }
    let more = !cut && !r.fill_buf().map_err(err)?.is_empty();
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if text.is_empty() && line == 1 && !cut && !more {
        text = "(empty file)".into();
    }
    let next = offset + shown;
    if cut {
        text.push_str(&format!(
            "\n[truncated: lines {offset}-{} shown; continue with offset={next}]",
            next - 1
        ));
    } else if more {
        text.push_str(&format!(
            "\n[more lines follow; continue with offset={next}]"
        ));
    }
    Ok(Done {
        text,
        is_error: false,
        truncated: cut,
    })
}

/// Writes or appends `content`; the file may not grow past `max` bytes.
fn write_file(
    ws: &Path,
    rel: &str,
    content: &str,
    append: bool,
    max: usize,
) -> Result<String, String> {
    let ws = workspace_dir(ws)?;
    let path = resolve(&ws, rel)?;
    if path == ws {
        return Err("path names the workspace itself, not a file".into());
    }
    let err = |e: std::io::Error| format!("cannot write {rel}: {}", io_msg(&e));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(err)?;
    }
    let old_len = match fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => return Err(format!("{rel} is not a regular file")),
        Ok(m) => m.len(),
        Err(_) => 0,
    };
    let new_len = if append {
        old_len.saturating_add(content.len() as u64)
    } else {
        content.len() as u64
    };
    if new_len > max as u64 {
        return Err(format!("{rel} would be {new_len} bytes, at most {max}"));
    }
    let mut opts = fs::OpenOptions::new();
    opts.create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if append {
        opts.append(true);
    } else {
        opts.write(true).truncate(true);
    }
    let mut f = opts.open(&path).map_err(err)?;
    f.write_all(content.as_bytes()).map_err(err)?;
    Ok(if append {
        format!(
            "appended {} bytes to {rel} (now {new_len} bytes)",
            content.len()
        )
    } else {
        format!("wrote {} bytes to {rel}", content.len())
    })
}

/// A directory listing, sorted by name, at most `max` entries (`limits.tool_max_list_entries`).
fn list_dir(ws: &Path, rel: &str, max: usize) -> Result<Done, String> {
    let ws = workspace_dir(ws)?;
    let path = resolve(&ws, rel)?;
    let err = |e: std::io::Error| format!("cannot list {rel}: {}", io_msg(&e));
    let mut entries: Vec<(String, String)> = Vec::with_capacity(max.min(256));
    let mut total = 0usize;
    for entry in fs::read_dir(&path).map_err(err)? {
        let entry = entry.map_err(err)?;
        total += 1;
        let name = entry.file_name().to_string_lossy().into_owned();
        let shown = match entry.file_type() {
            Ok(t) if t.is_dir() => format!("{name}/"),
            Ok(t) if t.is_file() => {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                format!("{name} ({len} bytes)")
            }
            Ok(t) if t.is_symlink() => format!("{name}@"),
            _ => format!("{name} (special)"),
        };
        entries.push((name, shown));
        // Keep memory bounded in huge directories: only the first names in order survive.
        if entries.len() >= 2 * max {
            entries.sort_unstable();
            entries.truncate(max);
        }
    }
    entries.sort_unstable();
    entries.truncate(max);
    if total == 0 {
        return Ok(Done::ok("(empty directory)".into()));
    }
    let mut text = entries
        .iter()
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let cut = total > entries.len();
    if cut {
        text.push_str(&format!("\n[showing {} of {total} entries]", entries.len()));
    }
    Ok(Done {
        text,
        is_error: false,
        truncated: cut,
    })
}

async fn exec(env: &ToolEnv, command: &str) -> Result<Done, String> {
    let cfg = &env.cfg.exec;
    if cfg.approval == ExecApproval::Deny {
        return Err("exec is disabled (tools.exec.approval = \"deny\")".into());
    }
    let (argv, restrict) = match &cfg.shell {
        Some(shell) => {
            if !cfg.allow.is_empty() {
                edge::check_shell_programs(command, &cfg.allow).map_err(|e| e.to_string())?;
            }
            let shell = shell.display().to_string();
            (vec![shell, "-c".to_string(), command.to_string()], false)
        }
        None => {
            let argv = edge::split_command(command).map_err(|e| e.to_string())?;
            let first = argv.first().ok_or("empty command")?;
            edge::check_allowed(first, &cfg.allow).map_err(|e| e.to_string())?;
            (argv, !cfg.allow.is_empty())
        }
    };
    let ws = env.cfg.workspace.clone();
    let prog = argv[0].clone();
    let (ws, program) = match env
        .pool
        .run(move || {
            let ws = workspace_dir(&ws)?;
            let program = edge::find_program(&prog, &ws, restrict).map_err(|e| e.to_string())?;
            Ok::<_, String>((ws, program))
        })
        .await
    {
        Ok(r) => r?,
        Err(e) => return Err(format!("tool not run: {e}")),
    };
    let timeout_ms = env.limits.tool_exec_timeout_ms;
    let spec = edge::RunSpec {
        program,
        args: argv[1..].to_vec(),
        cwd: Some(ws.clone()),
        env: vec![
            ("PATH".into(), edge::EXEC_PATH.into()),
            ("HOME".into(), ws.display().to_string()),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        timeout: Duration::from_millis(timeout_ms),
        max_output_bytes: env.limits.tool_max_output_bytes,
        stdin: None,
        keep_tail: false,
        max_file_bytes: None,
        lines: None,
    };
    let out = edge::run(spec).await.map_err(|e| e.to_string())?;
    let mut text = if out.timed_out {
        format!("killed: timed out after {timeout_ms} ms")
    } else if let Some(code) = out.code {
        format!("exit code {code}")
    } else {
        format!("killed by signal {}", out.signal.unwrap_or(0))
    };
    if !out.stdout.is_empty() {
        text.push_str("\n--- stdout ---\n");
        text.push_str(&out.stdout);
    }
    if !out.stderr.is_empty() {
        text.push_str("\n--- stderr ---\n");
        text.push_str(&out.stderr);
    }
    if out.truncated {
        text.push_str("\n[output truncated]");
    }
    Ok(Done {
        text,
        is_error: out.timed_out || out.code != Some(0),
        truncated: out.truncated,
    })
}

async fn http_get(env: &ToolEnv, url: String) -> Result<Done, String> {
    if env.cfg.http_allow.is_empty() {
        return Err("http_get is not enabled (tools.http.allow is empty)".into());
    }
    let allow = env.cfg.http_allow.clone();
    let timeout = Duration::from_millis(env.limits.tool_http_timeout_ms);
    let max = env.limits.tool_max_output_bytes;
    let fetched = env
        .pool
        .run(move || crate::providers::fetch::get(&url, &allow, timeout, max))
        .await
        .map_err(|e| format!("tool not run: {e}"))?
        .map_err(|e| e.to_string())?;
    let mut text = format!("HTTP {}\n{}", fetched.status, fetched.body);
    if fetched.truncated {
        text.push_str(TRUNCATED_NOTE);
    }
    Ok(Done {
        text,
        is_error: false,
        truncated: fetched.truncated,
    })
}

#[cfg(test)]
mod tests;
