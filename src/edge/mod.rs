//! Edge runner: external programs run with a cleared environment, a timeout, an output cap and a
//! process-group kill.
//!
//! `run` spawns one program through `smol::process` (async pipes, so the executor never blocks on
//! the child), in a process group of its own with stdin at `/dev/null` or fed `RunSpec::stdin`
//! (written concurrently with the reads; a child that never reads it is not waited for). Stdout and stderr are read
//! concurrently; at most `max_output_bytes` of each is kept and the rest is read and discarded, so
//! a chatty child never stalls on a full pipe. At the timeout the whole group gets `SIGKILL` and
//! the child is reaped. When `run` ends (normally, by timeout or because its future was dropped)
//! whatever is left of the group is killed too, so a command cannot leave background processes
//! behind. The child also gets `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the gateway, and
//! optionally an `RLIMIT_FSIZE` (`RunSpec::max_file_bytes`).
//!
//! It also turns an `exec` command line into a program: `split_command` (POSIX-like quoting, no
//! shell), `check_allowed` / `check_shell_programs` (the `tools.exec.allow` basenames) and
//! `find_program` (lookup in `EXEC_PATH`). Whether a program may run at all is the defender's and
//! the `exec` tool's decision; `run` itself runs what it is given. Only `edge/` spawns processes.

pub mod audio;
pub mod finetune;
pub mod host;
pub mod jobs;
pub mod tts;
pub mod voice;

use std::fmt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use smol::io::{AsyncRead, AsyncReadExt};

/// Size of the buffer each pipe is read through.
const READ_CHUNK_BYTES: usize = 4096;

/// What to run and within which bounds.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The program; an absolute path, resolved by the caller (no `PATH` search happens here).
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Working directory; `None` keeps the gateway's.
    pub cwd: Option<PathBuf>,
    /// The only environment the child gets (the gateway's environment is cleared).
    pub env: Vec<(String, String)>,
    /// Wall time before the whole process group is killed.
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr, each; the rest is discarded and `truncated` set.
    pub max_output_bytes: usize,
    /// Written to the child's stdin (then closed); `None`: stdin is `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// Keep the last `max_output_bytes` of each stream instead of the first (for logs whose
    /// end matters: progress, the final error).
    pub keep_tail: bool,
    /// `RLIMIT_FSIZE` of the child: the largest file it may write (a write past it fails with
    /// `EFBIG` / `SIGXFSZ`). `None`: unchanged.
    pub max_file_bytes: Option<u64>,
    /// Receives each stdout line as it arrives (without its newline, at most `MAX_LINE_BYTES`
    /// of it, lossy UTF-8), for progress reports. Sent with `try_send`: a line that finds the
    /// channel full is dropped, so a slow reader never stalls the child.
    pub lines: Option<smol::channel::Sender<String>>,
}

/// Longest stdout line passed to `RunSpec::lines` (the rest of the line is dropped).
pub const MAX_LINE_BYTES: usize = 1024;

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// Exit code, when the child exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal ended the child (9 after a timeout).
    pub signal: Option<i32>,
    /// Stdout, lossy UTF-8, at most `max_output_bytes` of it.
    pub stdout: String,
    /// Stderr, lossy UTF-8, at most `max_output_bytes` of it.
    pub stderr: String,
    /// True when either stream had more than `max_output_bytes`.
    pub truncated: bool,
    /// True when the timeout killed the group.
    pub timed_out: bool,
    /// Wall time from spawn to the end of the run.
    pub duration_ms: u64,
}

/// Why a run did not produce output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeError {
    /// The program could not be started (missing, not executable, bad working directory).
    Spawn { program: String, reason: String },
    /// Reading the child's pipes or waiting for it failed.
    Io(String),
}

impl fmt::Display for EdgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdgeError::Spawn { program, reason } => write!(f, "cannot start {program}: {reason}"),
            EdgeError::Io(reason) => write!(f, "child i/o failed: {reason}"),
        }
    }
}

impl std::error::Error for EdgeError {}

/// Kills a process group when dropped: the run's end, its timeout, or its future being dropped.
struct GroupKill {
    pgid: libc::pid_t,
}

impl GroupKill {
    fn kill(&self) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours. The pgid is the
        // child's pid, a group the child created (process_group(0)); the number stays allocated
        // while any member lives, so this cannot reach a foreign group while ours has members.
        // ESRCH (group already empty) is the normal case at the end of a run and is ignored.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `spec` to completion or timeout; never blocks the executor thread.
pub async fn run(spec: RunSpec) -> Result<RunOutput, EdgeError> {
    let program = spec.program.display().to_string();
    let mut std_cmd = std::process::Command::new(&spec.program);
    std_cmd
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .process_group(0);
    if let Some(dir) = &spec.cwd {
        std_cmd.current_dir(dir);
    }
    let fsize = spec.max_file_bytes.map(|max| libc::rlimit {
        rlim_cur: max as libc::rlim_t,
        rlim_max: max as libc::rlim_t,
    });
    // SAFETY: runs in the forked child before exec and calls only async-signal-safe functions
    // (prctl(2), setrlimit(2)) on plain values moved into the closure. PR_SET_PDEATHSIG makes
    // the kernel SIGKILL the child if the gateway dies (even by SIGKILL), so a program never
    // outlives the process that would enforce its deadline.
    unsafe {
        std_cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(lim) = &fsize
                && libc::setrlimit(libc::RLIMIT_FSIZE, lim) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut cmd = smol::process::Command::from(std_cmd);
    cmd.stdin(if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| EdgeError::Spawn {
        program: program.clone(),
        reason: e.to_string(),
    })?;
    let group = match libc::pid_t::try_from(child.id()) {
        Ok(pgid) => GroupKill { pgid },
        Err(_) => {
            // Cannot happen on Linux (pid_max < 2^22); refuse rather than kill a wrong group.
            let _ = child.kill();
            return Err(EdgeError::Io(format!(
                "child pid {} out of range",
                child.id()
            )));
        }
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdin = child.stdin.take();
    let cap = spec.max_output_bytes;
    let mut out = Capture::new(spec.keep_tail);
    out.lines = spec.lines.clone().map(|tx| (tx, Vec::new()));
    let mut err = Capture::new(spec.keep_tail);
    let input = spec.stdin.as_deref().unwrap_or_default();

    let finished = crate::clock::within(spec.timeout, async {
        let feed = async {
            if let Some(mut pipe) = stdin {
                use smol::io::AsyncWriteExt;
                // A child that exits or closes stdin early is its own business: EPIPE is ignored.
                let _ = pipe.write_all(input).await;
                let _ = pipe.close().await;
            }
        };
        let ((), (o, (e, status))) = smol::future::zip(
            feed,
            smol::future::zip(
                out.drain(stdout, cap),
                smol::future::zip(err.drain(stderr, cap), async {
                    let status = child.status().await;
                    // The program is done: what is left of its group (background children
                    // still holding the pipes) goes now, so the reads end at once.
                    group.kill();
                    status
                }),
            ),
        )
        .await;
        o.and(e).and(status)
    })
    .await;

    let (status, timed_out) = match finished {
        Some(Ok(status)) => (Some(status), false),
        Some(Err(e)) => return Err(EdgeError::Io(e.to_string())),
        None => {
            group.kill();
            // After SIGKILL the child dies at once unless stuck in the kernel; if it does not
            // within another timeout, async-process reaps it in the background when `child` drops.
            let reaped = crate::clock::within(spec.timeout, child.status()).await;
            (reaped.and_then(Result::ok), true)
        }
    };
    // Leftover background processes of a finished command go too (GroupKill's drop).
    drop(group);
    Ok(RunOutput {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: String::from_utf8_lossy(&out.bytes).into_owned(),
        stderr: String::from_utf8_lossy(&err.bytes).into_owned(),
        truncated: out.truncated || err.truncated,
        timed_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The kept part of one output stream.
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
    keep_tail: bool,
    /// Where complete lines go, and the line being read.
    lines: Option<(smol::channel::Sender<String>, Vec<u8>)>,
}

impl Capture {
    /// Keeps the last `cap` bytes (tail mode).
    fn trim(&mut self, cap: usize) {
        if self.bytes.len() > cap {
            let extra = self.bytes.len() - cap;
            self.bytes.drain(..extra);
            self.truncated = true;
        }
    }

    fn new(keep_tail: bool) -> Capture {
        Capture {
            bytes: Vec::new(),
            truncated: false,
            keep_tail,
            lines: None,
        }
    }

    /// Passes the complete lines in `chunk` on (see `RunSpec::lines`); at the end of the
    /// stream (`chunk` empty) a last unterminated line too.
    fn split_lines(&mut self, chunk: &[u8]) {
        let Some((tx, line)) = &mut self.lines else {
            return;
        };
        let send = |line: &mut Vec<u8>| {
            let text = String::from_utf8_lossy(line)
                .trim_end_matches('\r')
                .to_string();
            let _ = tx.try_send(text);
            line.clear();
        };
        if chunk.is_empty() {
            if !line.is_empty() {
                send(line);
            }
            return;
        }
        for part in chunk.split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match part.split_last() {
                Some((b'\n', body)) => (body, true),
                _ => (part, false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&body[..body.len().min(room)]);
            if ends {
                send(line);
            }
        }
    }

    /// Reads `pipe` to its end, keeping at most `cap` bytes and discarding the rest.
    async fn drain(
        &mut self,
        pipe: Option<impl AsyncRead + Unpin>,
        cap: usize,
    ) -> std::io::Result<()> {
        let Some(mut pipe) = pipe else {
            return Ok(());
        };
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            let n = pipe.read(&mut chunk).await?;
            self.split_lines(&chunk[..n]);
            if n == 0 {
                self.trim(cap);
                return Ok(());
            }
            if self.keep_tail {
                // Trim only past twice the cap, so each byte is moved at most about once.
                self.bytes.extend_from_slice(&chunk[..n]);
                if self.bytes.len() > 2 * cap {
                    self.trim(cap);
                }
                continue;
            }
            let keep = n.min(cap.saturating_sub(self.bytes.len()));
            self.bytes.extend_from_slice(&chunk[..keep]);
            if keep < n {
                self.truncated = true;
            }
        }
    }
}

/// Directories searched for a program named without a `/`; also the child's `PATH`.
pub const EXEC_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Shell metacharacters refused outside quotes when no shell is configured.
const META: &[char] = &['|', ';', '&', '>', '<', '$', '`'];

/// Why a command line was not turned into a program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Unbalanced quotes or a trailing backslash.
    Syntax(&'static str),
    /// A shell metacharacter outside quotes while no shell is configured.
    ShellSyntax(char),
    /// Command substitution with an allowlist set: its program cannot be checked.
    Substitution,
    /// The program's basename is not in the allowlist (listed).
    NotAllowed { program: String, allow: String },
    /// No executable of that name in `EXEC_PATH`.
    NotFound { program: String },
    /// The path names no executable regular file.
    NotExecutable { program: String },
    /// A path outside `EXEC_PATH` while an allowlist is set.
    OutsidePath { program: String },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Syntax(what) => f.write_str(what),
            CommandError::ShellSyntax(c) => write!(
                f,
                "shell syntax `{c}` needs tools.exec.shell; without a shell the command is split \
                 into words and run directly (quote the character to pass it literally)"
            ),
            CommandError::Substitution => {
                f.write_str("command substitution is not allowed with tools.exec.allow set")
            }
            CommandError::NotAllowed { program, allow } => {
                write!(
                    f,
                    "program {program:?} is not in tools.exec.allow ({allow})"
                )
            }
            CommandError::NotFound { program } => {
                write!(f, "program not found: {program} (searched {EXEC_PATH})")
            }
            CommandError::NotExecutable { program } => {
                write!(f, "{program} is not an executable file")
            }
            CommandError::OutsidePath { program } => write!(
                f,
                "{program} is outside {EXEC_PATH}; with tools.exec.allow set only programs there run"
            ),
        }
    }
}

impl std::error::Error for CommandError {}

/// Splits a command line into words: single quotes, double quotes and backslash as in POSIX sh;
/// refuses shell metacharacters outside quotes (there is no shell to give them meaning).
pub fn split_command(cmd: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(CommandError::Syntax("unterminated single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(CommandError::Syntax("unterminated double quote")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(CommandError::Syntax("unterminated double quote")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    cur.push(c);
                }
                None => return Err(CommandError::Syntax("trailing backslash")),
            },
            c if META.contains(&c) => return Err(CommandError::ShellSyntax(c)),
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Checks `program`'s basename against `allow`; an empty list allows any program.
pub fn check_allowed(program: &str, allow: &[String]) -> Result<(), CommandError> {
    let name = basename(program);
    if allow.is_empty() || allow.iter().any(|a| a == name) {
        Ok(())
    } else {
        Err(CommandError::NotAllowed {
            program: name.to_string(),
            allow: allow.join(", "),
        })
    }
}

/// With a shell, the first word of each simple command must be allowed. Best effort: command
/// substitution is refused since its program cannot be checked.
pub fn check_shell_programs(cmd: &str, allow: &[String]) -> Result<(), CommandError> {
    if cmd.contains("$(") || cmd.contains('`') {
        return Err(CommandError::Substitution);
    }
    for seg in cmd.split([';', '&', '|', '\n', '(', ')']) {
        if let Some(first) = seg.split_whitespace().next() {
            check_allowed(first, allow)?;
        }
    }
    Ok(())
}

/// Finds `program`: a bare name is searched in `EXEC_PATH`, a relative path resolves against
/// `cwd`. With `restrict_to_path` (an allowlist is set) paths outside `EXEC_PATH` are refused,
/// so `/tmp/x/ls` cannot pass as `ls`. Blocking (stats files): call it on the pool.
pub fn find_program(
    program: &str,
    cwd: &std::path::Path,
    restrict_to_path: bool,
) -> Result<PathBuf, CommandError> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = if program.starts_with('/') {
            PathBuf::from(program)
        } else {
            cwd.join(program)
        };
        if restrict_to_path {
            let dir = p.parent().and_then(|d| d.to_str()).unwrap_or("");
            if !EXEC_PATH.split(':').any(|d| d == dir) {
                return Err(CommandError::OutsidePath {
                    program: program.to_string(),
                });
            }
        }
        return if executable(&p) {
            Ok(p)
        } else {
            Err(CommandError::NotExecutable {
                program: program.to_string(),
            })
        };
    }
    EXEC_PATH
        .split(':')
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| executable(p))
        .ok_or_else(|| CommandError::NotFound {
            program: program.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str, args: &[&str]) -> RunSpec {
        RunSpec {
            program: PathBuf::from(program),
            args: args.iter().map(|a| a.to_string()).collect(),
            cwd: None,
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            timeout: Duration::from_secs(10),
            max_output_bytes: 64 * 1024,
            stdin: None,
            keep_tail: false,
            max_file_bytes: None,
            lines: None,
        }
    }

    /// Live (not zombie) processes in group `pgid`. This sandbox's PID 1 does not reap orphans,
    /// so killed grandchildren can linger as zombies, which `kill(-pgid, 0)` still counts.
    fn live_members(pgid: i32) -> usize {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0;
        };
        dir.flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after ')'.
                let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                    return false;
                };
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z"
            })
            .count()
    }

    #[test]
    fn echo_output_and_exit_code() {
        let o = smol::block_on(run(spec("/bin/echo", &["hello", "world"]))).unwrap();
        assert_eq!(o.stdout, "hello world\n");
        assert_eq!(o.stderr, "");
        assert_eq!(o.code, Some(0));
        assert_eq!(o.signal, None);
        assert!(!o.truncated && !o.timed_out);

        let o = smol::block_on(run(spec("/bin/sh", &["-c", "echo oops >&2; exit 3"]))).unwrap();
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stderr, "oops\n");
    }

    #[test]
    fn stdout_lines_are_passed_on_cut_and_the_last_unterminated_one_too() {
        let (tx, rx) = smol::channel::bounded(8);
        let mut s = spec(
            "/bin/sh",
            &[
                "-c",
                "printf 'one\\ntwo\\r\\n'; head -c 3000 /dev/zero | tr '\\0' x; printf '\\nend'",
            ],
        );
        s.lines = Some(tx);
        let o = smol::block_on(run(s)).unwrap();
        assert_eq!(o.code, Some(0));
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!((got[0].as_str(), got[1].as_str()), ("one", "two"));
        assert_eq!(got[2], "x".repeat(MAX_LINE_BYTES));
        assert_eq!(got[3], "end");
        assert!(rx.is_closed() || rx.is_empty());
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let e = smol::block_on(run(spec("/nonexistent/prog", &[]))).unwrap_err();
        assert!(
            matches!(&e, EdgeError::Spawn { program, .. } if program == "/nonexistent/prog"),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("cannot start /nonexistent/prog: ")
        );
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let mut s = spec("/bin/sh", &["-c", "echo $$; sleep 30 & sleep 30"]);
        s.timeout = Duration::from_millis(300);
        let t0 = Instant::now();
        let o = smol::block_on(run(s)).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(o.timed_out);
        assert_eq!(o.code, None);
        assert_eq!(o.signal, Some(libc::SIGKILL));
        let pgid: i32 = o.stdout.trim().parse().expect("sh printed its pid");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            // SAFETY: signal 0 only checks for existence.
            let rc = unsafe { libc::kill(-pgid, 0) };
            let esrch =
                rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if esrch || live_members(pgid) == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "group {pgid} still has live processes"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn dropping_the_run_kills_the_group() {
        let marker = std::env::temp_dir().join(format!("oc-edge-drop-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let script = format!("echo $$ > {}; sleep 30 & sleep 30", marker.display());
        let mut s = spec("/bin/sh", &["-c", &script]);
        s.timeout = Duration::from_secs(30);
        let pgid: i32 = smol::block_on(async {
            let mut fut = Box::pin(run(s));
            let mut pgid = None;
            for _ in 0..100 {
                // Drive the run a little, then look for the pid the shell wrote.
                let done = crate::clock::within(Duration::from_millis(20), &mut fut).await;
                assert!(done.is_none(), "run ended early: {done:?}");
                let text = std::fs::read_to_string(&marker).unwrap_or_default();
                if let Ok(p) = text.trim().parse::<i32>() {
                    pgid = Some(p);
                    break;
                }
            }
            drop(fut);
            pgid.expect("shell wrote its pid")
        });
        let _ = std::fs::remove_file(&marker);
        let deadline = Instant::now() + Duration::from_secs(2);
        while live_members(pgid) > 0 {
            assert!(
                Instant::now() < deadline,
                "group {pgid} outlived its dropped run"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn output_is_capped_and_drained() {
        let mut s = spec(
            "/bin/sh",
            &["-c", "head -c 1048576 /dev/zero; echo done >&2"],
        );
        s.max_output_bytes = 1000;
        let o = smol::block_on(run(s)).unwrap();
        assert!(o.truncated);
        assert_eq!(o.stdout.len(), 1000);
        assert_eq!(o.stderr, "done\n");
        assert_eq!(o.code, Some(0));
        assert!(!o.timed_out);
    }

    #[test]
    fn env_is_cleared() {
        // The test process has PATH, HOME and more; none of them may reach the child.
        let mut s = spec("/usr/bin/env", &[]);
        s.env = vec![("ONLY".into(), "this".into())];
        let o = smol::block_on(run(s)).unwrap();
        assert_eq!(o.stdout, "ONLY=this\n");
    }

    #[test]
    fn cwd_is_applied() {
        let mut s = spec("/bin/pwd", &[]);
        s.cwd = Some(PathBuf::from("/"));
        let o = smol::block_on(run(s)).unwrap();
        assert_eq!(o.stdout, "/\n");
    }

    #[test]
    fn splits_like_posix_sh_without_a_shell() {
        let ok: &[(&str, &[&str])] = &[
            ("ls -la", &["ls", "-la"]),
            ("  echo   'a  b'  ", &["echo", "a  b"]),
            (r#"echo "c\"d" 'x;y' e\ f"#, &["echo", "c\"d", "x;y", "e f"]),
            (r#"echo "" '' "a\nb""#, &["echo", "", "", "a\\nb"]),
            (r#"printf "%s$" \$HOME"#, &["printf", "%s$", "$HOME"]),
            ("", &[]),
        ];
        for (cmd, want) in ok {
            assert_eq!(split_command(cmd).unwrap(), *want, "{cmd:?}");
        }
        let bad: &[(&str, CommandError)] = &[
            ("echo 'x", CommandError::Syntax("unterminated single quote")),
            (
                "echo \"x",
                CommandError::Syntax("unterminated double quote"),
            ),
            ("echo x\\", CommandError::Syntax("trailing backslash")),
            ("a | b", CommandError::ShellSyntax('|')),
            ("a > f", CommandError::ShellSyntax('>')),
            ("a `b`", CommandError::ShellSyntax('`')),
            ("a && b", CommandError::ShellSyntax('&')),
        ];
        for (cmd, want) in bad {
            assert_eq!(split_command(cmd).as_ref(), Err(want), "{cmd:?}");
        }
    }

    #[test]
    fn allowlist_and_lookup() {
        let allow = vec!["echo".to_string(), "ls".to_string()];
        assert!(check_allowed("/bin/echo", &allow).is_ok());
        assert!(check_allowed("anything", &[]).is_ok());
        assert_eq!(
            check_allowed("rm", &allow).unwrap_err().to_string(),
            "program \"rm\" is not in tools.exec.allow (echo, ls)"
        );
        assert!(check_shell_programs("echo a | ls; echo b", &allow).is_ok());
        assert_eq!(
            check_shell_programs("echo a; rm x", &allow),
            Err(CommandError::NotAllowed {
                program: "rm".into(),
                allow: "echo, ls".into()
            })
        );
        assert_eq!(
            check_shell_programs("echo $(rm x)", &allow),
            Err(CommandError::Substitution)
        );
        let cwd = std::path::Path::new("/");
        let sh = find_program("sh", cwd, true).unwrap();
        assert!(sh.ends_with("sh") && EXEC_PATH.contains(sh.parent().unwrap().to_str().unwrap()));
        assert!(matches!(
            find_program("/tmp/x/ls", cwd, true),
            Err(CommandError::OutsidePath { .. })
        ));
        assert!(matches!(
            find_program("no-such-prog-xyz", cwd, false),
            Err(CommandError::NotFound { .. })
        ));
        let plain = std::env::temp_dir().join(format!("oc-edge-plain-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        let found = find_program(plain.to_str().unwrap(), cwd, false);
        let _ = std::fs::remove_file(&plain);
        assert!(
            matches!(found, Err(CommandError::NotExecutable { .. })),
            "{found:?}"
        );
    }
}
