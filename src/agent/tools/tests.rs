//! Tests of the built-in tools: workspace confinement, caps, exec parsing and policy.

use super::*;
use crate::config::tools::ExecPolicy;

/// A fresh workspace under the temp dir, removed on drop.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("oc-tools-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Scratch { root }
    }

    fn env(&self, edit: impl FnOnce(&mut ToolsConfig, &mut Limits)) -> ToolEnv {
        let mut cfg = ToolsConfig {
            workspace: self.root.join("ws"),
            ..ToolsConfig::default()
        };
        let mut limits = Limits::default();
        edit(&mut cfg, &mut limits);
        ToolEnv {
            cfg: Rc::new(cfg),
            limits,
            pool: Pool::new(1, 4, Duration::from_secs(1)),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn call(env: &ToolEnv, name: &str, args: Value) -> ToolOutput {
    smol::block_on(run(env, name, &args))
}

fn allow_exec(programs: &[&str]) -> impl FnOnce(&mut ToolsConfig, &mut Limits) {
    let allow = programs.iter().map(|p| p.to_string()).collect();
    move |c, _| {
        c.exec = ExecPolicy {
            approval: ExecApproval::Allow,
            allow,
            shell: None,
        }
    }
}

#[test]
fn write_then_read_back() {
    let s = Scratch::new("rw");
    let env = s.env(|_, _| {});
    let w = call(
        &env,
        "write",
        json!({"path": "notes/a.txt", "content": "one\ntwo\nthree\n"}),
    );
    assert_eq!(w.text, "wrote 14 bytes to notes/a.txt");
    assert!(!w.is_error);
    let w = call(
        &env,
        "write",
        json!({"path": "notes/a.txt", "content": "four\n", "append": true}),
    );
    assert_eq!(w.text, "appended 5 bytes to notes/a.txt (now 19 bytes)");
    let r = call(&env, "read", json!({"path": "notes/a.txt"}));
    assert_eq!(r.text, "one\ntwo\nthree\nfour\n");
    assert!(!r.is_error && !r.truncated);
    let r = call(
        &env,
        "read",
        json!({"path": "notes/a.txt", "offset": 2, "limit": 2}),
    );
    assert_eq!(
        r.text,
        "two\nthree\n\n[more lines follow; continue with offset=4]"
    );
    let r = call(&env, "read", json!({"path": "notes/a.txt", "offset": 9}));
    assert!(r.is_error);
    assert_eq!(r.text, "offset 9 is past the end of notes/a.txt (4 lines)");
    let r = call(&env, "read", json!({"path": "missing.txt"}));
    assert_eq!(
        (r.text.as_str(), r.is_error),
        ("cannot read missing.txt: no such file or directory", true)
    );
    let r = call(&env, "read", json!({"path": "notes"}));
    assert_eq!(r.text, "notes is not a regular file");
}

#[test]
fn read_pages_large_files_within_the_output_cap() {
    let s = Scratch::new("big");
    let env = s.env(|_, l| l.tool_max_output_bytes = 1024);
    let body: String = (1..=500).map(|i| format!("line {i}\n")).collect();
    call(&env, "write", json!({"path": "big.txt", "content": body}));
    let r = call(&env, "read", json!({"path": "big.txt"}));
    assert!(r.truncated && !r.is_error);
    assert!(r.text.len() <= 1024, "{}", r.text.len());
    assert!(r.text.starts_with("line 1\nline 2\n"));
    let note = r.text.rsplit('\n').next().unwrap();
    let next: usize = note
        .strip_suffix(']')
        .and_then(|n| n.rsplit('=').next())
        .and_then(|n| n.parse().ok())
        .expect("continuation offset");
    let r = call(&env, "read", json!({"path": "big.txt", "offset": next}));
    assert!(r.text.starts_with(&format!("line {next}\n")), "{}", r.text);
}

#[test]
fn escapes_are_refused() {
    let s = Scratch::new("esc");
    let env = s.env(|_, _| {});
    fs::create_dir_all(s.root.join("ws")).unwrap();
    fs::write(s.root.join("secret.txt"), "outside").unwrap();
    std::os::unix::fs::symlink(s.root.join("secret.txt"), s.root.join("ws/link")).unwrap();
    std::os::unix::fs::symlink(&s.root, s.root.join("ws/up")).unwrap();
    std::os::unix::fs::symlink(s.root.join("nowhere"), s.root.join("ws/dangling")).unwrap();
    let cases = [
        (
            "read",
            json!({"path": "../etc/passwd"}),
            "path must not contain `..`",
        ),
        (
            "read",
            json!({"path": "/etc/passwd"}),
            "path must be relative to the workspace",
        ),
        (
            "read",
            json!({"path": "link"}),
            "link is outside the workspace",
        ),
        (
            "read",
            json!({"path": "up/secret.txt"}),
            "up/secret.txt is outside the workspace",
        ),
        ("list", json!({"path": "up"}), "up is outside the workspace"),
        (
            "list",
            json!({"path": "a/../.."}),
            "path must not contain `..`",
        ),
        (
            "write",
            json!({"path": "up/new.txt", "content": "x"}),
            "up/new.txt is outside the workspace",
        ),
        (
            "write",
            json!({"path": "link", "content": "x"}),
            "link is outside the workspace",
        ),
        (
            "write",
            json!({"path": "dangling", "content": "x"}),
            "cannot resolve dangling: no such file or directory",
        ),
    ];
    for (tool, args, want) in cases {
        let out = call(&env, tool, args.clone());
        assert!(out.is_error, "{tool} {args}: {out:?}");
        assert_eq!(out.text, want, "{tool} {args}");
    }
    assert_eq!(
        fs::read_to_string(s.root.join("secret.txt")).unwrap(),
        "outside"
    );
    assert!(!s.root.join("new.txt").exists() && !s.root.join("nowhere").exists());
}

#[test]
fn list_is_sorted_and_marks_dirs() {
    let s = Scratch::new("list");
    let env = s.env(|_, _| {});
    assert_eq!(call(&env, "list", json!({})).text, "(empty directory)");
    call(&env, "write", json!({"path": "b.txt", "content": "12345"}));
    call(&env, "write", json!({"path": "a/inner.txt", "content": ""}));
    let out = call(&env, "list", Value::Null);
    assert_eq!(out.text, "a/\nb.txt (5 bytes)");
    assert_eq!(
        call(&env, "list", json!({"path": "a"})).text,
        "inner.txt (0 bytes)"
    );
    for i in 0..(crate::config::limits::DEFAULT_TOOL_MAX_LIST_ENTRIES + 5) {
        fs::write(s.root.join(format!("ws/a/f{i:04}")), "").unwrap();
    }
    let out = call(&env, "list", json!({"path": "a"}));
    assert!(out.truncated);
    assert!(out.text.starts_with("f0000 (0 bytes)\n"));
    assert!(out.text.ends_with(&format!(
        "\n[showing 200 of {} entries]",
        crate::config::limits::DEFAULT_TOOL_MAX_LIST_ENTRIES + 6
    )));
}

#[test]
fn write_over_the_cap_is_refused() {
    let s = Scratch::new("cap");
    let env = s.env(|_, l| l.tool_max_file_bytes = 1024);
    let out = call(
        &env,
        "write",
        json!({"path": "a", "content": "x".repeat(1025)}),
    );
    assert_eq!(
        (out.text.as_str(), out.is_error),
        ("content is 1025 bytes, at most 1024", true)
    );
    call(
        &env,
        "write",
        json!({"path": "a", "content": "x".repeat(1000)}),
    );
    let out = call(
        &env,
        "write",
        json!({"path": "a", "content": "x".repeat(30), "append": true}),
    );
    assert_eq!(out.text, "a would be 1030 bytes, at most 1024");
    let out = call(&env, "write", json!({"path": "a"}));
    assert!(
        out.is_error
            && out
                .text
                .starts_with("bad arguments for write: missing field `content`")
    );
}

#[test]
fn exec_runs_allowed_programs_without_a_shell() {
    let s = Scratch::new("exec");
    let env = s.env(allow_exec(&["echo", "pwd"]));
    let out = call(
        &env,
        "exec",
        json!({"command": "echo hi 'a  b' \"c\\\"d\""}),
    );
    assert_eq!(
        out.text, "exit code 0\n--- stdout ---\nhi a  b c\"d\n",
        "{out:?}"
    );
    assert!(!out.is_error);
    let out = call(&env, "exec", json!({"command": "pwd"}));
    let ws = fs::canonicalize(s.root.join("ws")).unwrap();
    assert_eq!(
        out.text,
        format!("exit code 0\n--- stdout ---\n{}\n", ws.display())
    );
    let refused = [
        (
            "echo hi; rm -rf x",
            "shell syntax `;` needs tools.exec.shell",
        ),
        ("echo $HOME", "shell syntax `$` needs tools.exec.shell"),
        ("echo a | cat", "shell syntax `|` needs tools.exec.shell"),
        (
            "ls",
            "program \"ls\" is not in tools.exec.allow (echo, pwd)",
        ),
        (
            "/tmp/echo x",
            "/tmp/echo is outside /usr/local/bin:/usr/bin:/bin",
        ),
        ("echo 'open", "unterminated single quote"),
        ("", "empty command"),
    ];
    for (cmd, want) in refused {
        let out = call(&env, "exec", json!({"command": cmd}));
        assert!(
            out.is_error && out.text.starts_with(want),
            "{cmd:?}: {out:?}"
        );
    }
    let out = call(&env, "exec", json!({"command": "echo 'a;b' \"x|y\""}));
    assert_eq!(out.text, "exit code 0\n--- stdout ---\na;b x|y\n");
}

#[test]
fn exec_policy_and_timeout() {
    let s = Scratch::new("exec2");
    let env = s.env(|_, _| {});
    let out = call(&env, "exec", json!({"command": "echo hi"}));
    assert_eq!(
        out.text,
        "exec is disabled (tools.exec.approval = \"deny\")"
    );
    let env = s.env(|c, l| {
        allow_exec(&[])(c, l);
        l.tool_exec_timeout_ms = 300;
    });
    let t0 = std::time::Instant::now();
    let out = call(&env, "exec", json!({"command": "sleep 5"}));
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(
        (out.text.as_str(), out.is_error),
        ("killed: timed out after 300 ms", true)
    );
    let out = call(
        &env,
        "exec",
        json!({"command": "sh -c 'echo bad >&2; exit 2'"}),
    );
    assert_eq!(out.text, "exit code 2\n--- stderr ---\nbad\n");
    assert!(out.is_error);
    let out = call(&env, "exec", json!({"command": "no-such-program-xyz"}));
    assert!(
        out.text
            .starts_with("program not found: no-such-program-xyz")
    );
    let out = call(&env, "exec", json!({"command": "env"}));
    let ws = fs::canonicalize(s.root.join("ws")).unwrap();
    let mut lines: Vec<&str> = out.text.lines().skip(2).collect();
    lines.sort();
    let home = format!("HOME={}", ws.display());
    assert_eq!(
        lines,
        [
            home.as_str(),
            "LANG=C.UTF-8",
            format!("PATH={}", edge::EXEC_PATH).as_str(),
        ]
    );
}

#[test]
fn exec_with_a_shell_checks_each_program() {
    let s = Scratch::new("shell");
    let env = s.env(|c, l| {
        allow_exec(&["echo", "tr"])(c, l);
        let mut exec = c.exec.clone();
        exec.shell = Some(PathBuf::from("/bin/sh"));
        c.exec = exec;
    });
    let out = call(&env, "exec", json!({"command": "echo abc | tr a-c x-z"}));
    assert_eq!(out.text, "exit code 0\n--- stdout ---\nxyz\n");
    let out = call(&env, "exec", json!({"command": "echo a; ls"}));
    assert_eq!(
        out.text,
        "program \"ls\" is not in tools.exec.allow (echo, tr)"
    );
    let out = call(&env, "exec", json!({"command": "echo $(ls)"}));
    assert!(out.text.starts_with("command substitution is not allowed"));
}

#[test]
fn output_is_capped_at_a_char_boundary() {
    let (t, cut) = cap_text("é".repeat(100), 51);
    assert!(cut && t.len() <= 51 && t.ends_with(TRUNCATED_NOTE));
    assert_eq!(cap_text("short".into(), 51), ("short".to_string(), false));
    let s = Scratch::new("outcap");
    let env = s.env(|c, l| {
        allow_exec(&[])(c, l);
        l.tool_max_output_bytes = 256;
    });
    let out = call(&env, "exec", json!({"command": "head -c 100000 /dev/zero"}));
    assert!(out.truncated && out.text.len() <= 256, "{}", out.text.len());
}

#[test]
fn time_is_rfc3339_and_unix_ms() {
    let s = Scratch::new("time");
    let env = s.env(|_, _| {});
    let out = call(&env, "time", json!({}));
    let (iso, ms) = out.text.split_once("\nunix_ms: ").expect("two parts");
    let ms: u64 = ms.parse().unwrap();
    assert_eq!(iso, crate::clock::rfc3339(ms));
    assert_eq!(iso.len(), "2026-01-01T00:00:00.000Z".len());
    assert!(iso.ends_with('Z') && ms > 1_700_000_000_000);
}

#[test]
fn bad_calls_are_errors() {
    let s = Scratch::new("bad");
    let env = s.env(|_, _| {});
    let out = call(&env, "frobnicate", json!({}));
    assert_eq!(
        (out.text.as_str(), out.is_error),
        ("unknown tool \"frobnicate\"", true)
    );
    let out = call(&env, "read", json!({"path": 3}));
    assert!(out.is_error && out.text.starts_with("bad arguments for read: invalid type"));
    let out = call(&env, "http_get", json!({"url": "https://example.com"}));
    assert_eq!(
        out.text,
        "http_get is not enabled (tools.http.allow is empty)"
    );
    let env = s.env(|c, _| c.http_allow = vec!["example.com".into()]);
    let out = call(&env, "http_get", json!({"url": "https://evil.net/"}));
    assert_eq!(out.text, "host evil.net is not in tools.http.allow");
    let env = s.env(|c, _| c.enabled = false);
    assert!(call(&env, "time", json!({})).is_error);
}

fn names(specs: &[Value]) -> Vec<&str> {
    specs
        .iter()
        .map(|s| s["function"]["name"].as_str().unwrap())
        .collect()
}

#[test]
fn specs_offer_exactly_the_configured_tools() {
    let mut cfg = ToolsConfig::default();
    assert_eq!(names(&specs(&cfg)), ["read", "write", "list", "time"]);
    cfg.exec.approval = ExecApproval::Review;
    assert_eq!(
        names(&specs(&cfg)),
        ["read", "write", "list", "exec", "time"]
    );
    cfg.http_allow = vec!["example.com".into()];
    let all = specs(&cfg);
    assert_eq!(
        names(&all),
        ["read", "write", "list", "exec", "http_get", "time"]
    );
    for s in &all {
        assert_eq!(s["type"], "function");
        assert_eq!(s["function"]["parameters"]["type"], "object");
    }
    cfg.enabled = false;
    assert!(specs(&cfg).is_empty());
}
