//! Command risk rules: per segment, across a pipeline, across the line, and on the raw text.
//!
//! Split out of `command.rs` (the tokenizer) along the parse/score seam. Every rule id and
//! score lives here; `command.rs` documents the model and the blind spots.

use super::paths::{BLOCK_DEVICES, root_level, secret_path, write_target};
use super::vars::resolve;
use super::{DETECTOR, Nesting, Op, SHELLS, Segment, basename, strip_wrappers};
use crate::defender::reason::{Reason, push_capped};

#[rustfmt::skip]
pub(super) const FETCHERS: &[&str] = &[
    "curl", "wget", "fetch", "aria2c", "lwp-download", "lwp-request", "axel", "http", "https",
    "tftp", "ftp",
];
#[rustfmt::skip]
pub(super) const NETCAT: &[&str] = &[
    "nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "telnet", "socat",
];
#[rustfmt::skip]
const SINKS: &[&str] = &[
    "nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "telnet", "socat", "curl", "wget",
    "openssl", "ssh", "dig", "nslookup", "host", "ping",
];
#[rustfmt::skip]
const READERS: &[&str] = &[
    "cat", "tac", "less", "more", "head", "tail", "base64", "xxd", "od", "hexdump", "strings",
    "cp", "tar", "zip", "gzip", "nl", "awk", "sed", "grep", "dd",
];

/// Adds a reason, keeping one per rule (the highest score).
pub(super) fn add(
    out: &mut Vec<Reason>,
    rule: &'static str,
    score: u32,
    detail: impl Into<String>,
) {
    if let Some(old) = out.iter_mut().find(|r| r.rule == rule) {
        if score > old.score {
            old.score = score;
            old.detail = detail.into();
        }
        return;
    }
    push_capped(out, Reason::new(DETECTOR, rule, score, None, detail));
}

pub(super) fn is_interpreter(p: &str) -> bool {
    SHELLS.contains(&p)
        || p.starts_with("python")
        || matches!(
            p,
            "perl" | "ruby" | "node" | "nodejs" | "php" | "lua" | "pwsh" | "powershell"
        )
}

/// Script one-liner markers: fetching remote content, running a string, decoding, shells.
const SCRIPT_FETCH: &[&str] = &[
    "urlopen",
    "urllib",
    "requests.get",
    "net::http",
    "http.get",
    "https.get",
    "fetch(",
    "open-uri",
    "lwp::simple",
    "getstore(",
    "file_get_contents(\"http",
    "file_get_contents('http",
    "downloadstring",
    "invoke-webrequest",
    "iwr ",
    "wget ",
    "curl ",
];
const SCRIPT_EXEC: &[&str] = &[
    "exec(",
    "eval(",
    "system(",
    "os.system",
    "popen",
    "subprocess",
    "child_process",
    "spawn(",
    "iex",
    "invoke-expression",
    "execsync",
    "`",
];
const SCRIPT_DECODE: &[&str] = &[
    "fromhex",
    "b64decode",
    "base64",
    "unhexlify",
    "codecs.decode",
    "atob(",
    "decode64",
    "unpack(",
    "frombase64string",
    "rot13",
    "[::-1]",
];
const SCRIPT_SHELL: &[&str] = &[
    "nc -e",
    "ncat -e",
    "/dev/tcp/",
    "bash -i",
    "sh -i",
    "mkfifo",
];

/// Words that expand to the command name: `{rm,-rf,/}` (brace list) and `` `echo rm` `` or
/// `$(printf rm)` (a substitution that only prints a constant).
fn expanded_name(argv: &[String]) -> Option<String> {
    let w = argv.first()?;
    if let Some(inner) = w.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        if inner.contains(',') && !inner.contains('{') {
            let mut words: Vec<String> = inner.split(',').map(str::to_string).collect();
            words.extend(argv[1..].iter().cloned());
            return Some(words.join(" "));
        }
        return None;
    }
    let inner = w
        .strip_prefix('`')
        .and_then(|x| x.strip_suffix('`'))
        .or_else(|| w.strip_prefix("$(").and_then(|x| x.strip_suffix(')')))?;
    let rest = inner
        .strip_prefix("echo ")
        .or_else(|| inner.strip_prefix("printf "))?;
    let name: String = rest
        .chars()
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect();
    if name.contains(['`', '$', '{']) {
        return None;
    }
    let mut words = vec![name.trim().to_string()];
    words.extend(argv[1..].iter().cloned());
    Some(words.join(" "))
}

/// Whether `eff` (wrappers stripped) runs code read from stdin: `sh`, `bash -s`, `python3 -`.
fn runs_stdin(eff: &[String]) -> bool {
    let Some(p) = eff.first().map(|p| basename(p)) else {
        return false;
    };
    let args: &[String] = if p == "busybox" {
        eff.get(2..).unwrap_or(&[])
    } else {
        &eff[1..]
    };
    if !is_interpreter(p) {
        return false;
    }
    let code_flag = |a: &String| {
        a.starts_with('-')
            && !a.starts_with("--")
            && (a.contains('c') || a.contains('e') || a.contains('r') || a.contains('m'))
    };
    if SHELLS.contains(&p) {
        if args.iter().any(|a| a == "-s" || a == "-") {
            return true;
        }
        return !args
            .iter()
            .any(|a| !a.starts_with('-') || (a.contains('c') && !a.starts_with("--")));
    }
    !args.iter().any(|a| code_flag(a) || (!a.starts_with('-')))
}

fn short_flag(args: &[String], f: char) -> bool {
    args.iter()
        .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(f))
}

/// Indices of the segments feeding segment `j` through pipes (nested ones included).
fn upstream(segs: &[Segment], j: usize) -> std::ops::Range<usize> {
    if segs[j].op_before != Op::Pipe {
        return j..j;
    }
    let d = segs[j].depth;
    let mut k = j;
    while k > 0 {
        let prev = &segs[k - 1];
        if prev.depth < d {
            break;
        }
        k -= 1;
        if prev.depth == d && prev.op_before != Op::Pipe {
            break;
        }
    }
    k..j
}

/// Whether segment `j` is nested (at any depth) inside segment `i`.
fn descends(segs: &[Segment], j: usize, i: usize) -> bool {
    let mut p = segs[j].parent;
    for _ in 0..=super::MAX_DEPTH + 1 {
        match p {
            Some(x) if x == i => return true,
            Some(x) => p = segs[x].parent,
            None => return false,
        }
    }
    false
}

/// Program basename of resolved argv (wrappers stripped) and its arguments.
pub(super) fn program(argv: &[String]) -> (&str, &[String]) {
    let eff = strip_wrappers(argv);
    match (eff.split_first(), argv.split_first()) {
        (Some((p, rest)), _) => (basename(p), rest),
        // A bare wrapper (`env`, `time`) is itself the program.
        (None, Some((p, rest))) => (basename(p), rest),
        (None, None) => ("", &[]),
    }
}

fn is_decoder(p: &str, a: &[String]) -> bool {
    match p {
        "base64" | "base32" => a
            .iter()
            .any(|x| matches!(x.as_str(), "-d" | "--decode" | "-D" | "-di")),
        "xxd" => short_flag(a, 'r'),
        "openssl" => a
            .iter()
            .any(|x| x == "-d" || x == "-base64" || x == "base64"),
        "rev" | "printf" | "uudecode" | "tr" => true,
        "echo" => a.iter().any(|x| x == "-e" || x == "-ne"),
        _ => false,
    }
}

fn reads_secret(s: &Segment, p: &str, a: &[String]) -> u32 {
    let from_args = if READERS.contains(&p) {
        a.iter().map(|x| secret_path(x)).max().unwrap_or(0)
    } else {
        0
    };
    let from_redirect = s
        .redirects
        .iter()
        .filter(|(op, _)| op.ends_with('<'))
        .map(|(_, t)| secret_path(t))
        .max()
        .unwrap_or(0);
    from_args.max(from_redirect)
}

/// Rules over the parsed segments.
pub(super) fn segments(segs: &[Segment], out: &mut Vec<Reason>) {
    let argvs = resolve(segs);
    let progs: Vec<(&str, &[String])> = argvs.iter().map(|a| program(a)).collect();
    let fetchy = progs.iter().any(|(p, _)| FETCHERS.contains(p))
        || segs.iter().any(|s| {
            s.argv
                .iter()
                .chain(s.redirects.iter().map(|r| &r.1))
                .any(|w| {
                    [
                        "curl ",
                        "wget ",
                        "/dev/tcp/",
                        "| sh",
                        "|sh",
                        "| bash",
                        "|bash",
                        "nc -e",
                        "base64 -d",
                    ]
                    .iter()
                    .any(|n| w.contains(n))
                })
        });
    for (i, s) in segs.iter().enumerate() {
        let (p, a) = progs[i];
        segment(segs, s, p, a, &argvs[i], out);
        for (op, t) in &s.redirects {
            let dup = (op.ends_with(">&") || op.ends_with("<&"))
                && t.chars().all(|c| c.is_ascii_digit() || c == '-');
            if t.contains("/dev/tcp/") || t.contains("/dev/udp/") {
                add(
                    out,
                    "reverse_shell.dev_tcp",
                    95,
                    "redirects to a /dev/tcp socket",
                );
            } else if let Some((rule, score, what)) =
                write_target(t, fetchy).filter(|_| op.contains('>') && !dup)
            {
                add(out, rule, score, format!("{what} ({t})"));
            }
        }
        pipeline(segs, i, p, &progs, out);
        nested(segs, i, p, a, &progs, out);
    }
    super::line::line(segs, &progs, &argvs, out);
}

/// Rules about one segment on its own.
fn segment(
    segs: &[Segment],
    s: &Segment,
    p: &str,
    a: &[String],
    argv: &[String],
    out: &mut Vec<Reason>,
) {
    let positional: Vec<&String> = a.iter().filter(|x| !x.starts_with('-')).collect();
    let data_only = matches!(
        p,
        "echo"
            | "printf"
            | "grep"
            | "egrep"
            | "fgrep"
            | "rg"
            | "ag"
            | "man"
            | "apropos"
            | "git"
            | "printenv"
    );
    if !data_only
        && a.iter()
            .any(|x| x.contains("/dev/tcp/") || x.contains("/dev/udp/"))
    {
        add(out, "reverse_shell.dev_tcp", 95, "opens a /dev/tcp socket");
    }
    match p {
        "rm" => {
            let recursive =
                short_flag(a, 'r') || short_flag(a, 'R') || a.iter().any(|x| x == "--recursive");
            if a.iter().any(|x| x == "--no-preserve-root") {
                add(out, "destructive.rm_root", 95, "rm with --no-preserve-root");
            } else if recursive && positional.iter().any(|t| root_level(t)) {
                add(
                    out,
                    "destructive.rm_root",
                    95,
                    "recursive rm of / , ~ or a system directory",
                );
            } else if recursive
                && positional.iter().any(|t| {
                    t.starts_with("/etc/") || t.starts_with("/boot/") || t.starts_with("/usr/")
                })
            {
                add(
                    out,
                    "destructive.rm_system",
                    50,
                    "recursive rm inside a system directory",
                );
            }
        }
        "find" => {
            let roots = a
                .iter()
                .take_while(|x| !x.starts_with('-'))
                .any(|t| root_level(t));
            let deletes = a.iter().any(|x| x == "-delete")
                || a.windows(2).any(|w| {
                    w[0].starts_with("-exec") && matches!(basename(&w[1]), "rm" | "shred")
                });
            if roots && deletes {
                add(
                    out,
                    "destructive.find_delete",
                    85,
                    "find deleting from / or a system directory",
                );
            }
        }
        _ if p.starts_with("mkfs") || matches!(p, "mke2fs" | "mkswap" | "wipefs") => {
            add(
                out,
                "destructive.mkfs",
                90,
                format!("{p} formats or wipes a device"),
            );
        }
        "fdisk" | "sfdisk" | "parted" | "sgdisk" | "gdisk"
            if a.iter().any(|x| x.starts_with("/dev/")) =>
        {
            add(out, "destructive.partition", 70, "edits a partition table");
        }
        "dd" => {
            if let Some(t) = a.iter().find_map(|x| x.strip_prefix("of=")) {
                if BLOCK_DEVICES.iter().any(|d| t.starts_with(d)) {
                    add(out, "destructive.dd_device", 90, format!("dd onto {t}"));
                } else if let Some((rule, score, what)) = write_target(t, false) {
                    add(out, rule, score, format!("{what} ({t})"));
                }
            }
        }
        "shred" => {
            if positional.iter().any(|t| t.starts_with("/dev/")) {
                add(out, "destructive.shred_device", 90, "shred on a device");
            } else if positional
                .iter()
                .any(|t| t.starts_with("/etc/") || t.starts_with("/boot/") || root_level(t))
            {
                add(out, "destructive.shred_device", 70, "shred on system files");
            }
        }
        "chmod" => chmod(a, &positional, out),
        "chown" | "chgrp" => {
            let recursive = short_flag(a, 'R') || a.iter().any(|x| x == "--recursive");
            if recursive && positional.iter().skip(1).any(|t| root_level(t)) {
                add(
                    out,
                    "destructive.chown_root",
                    85,
                    "recursive chown of / or a system directory",
                );
            }
        }
        "shutdown" | "reboot" | "halt" | "poweroff" => {
            add(out, "destructive.power", 70, format!("{p} stops the box"))
        }
        "init" | "telinit" if positional.iter().any(|x| *x == "0" || *x == "6") => {
            add(out, "destructive.power", 70, "init runlevel 0/6")
        }
        "systemctl"
            if positional
                .iter()
                .any(|x| matches!(x.as_str(), "poweroff" | "reboot" | "halt" | "kexec")) =>
        {
            add(out, "destructive.power", 70, "systemctl power action");
        }
        "kill"
            if a.iter().any(|x| x == "-1")
                && a.iter()
                    .any(|x| matches!(x.as_str(), "-9" | "-KILL" | "-SIGKILL" | "-s")) =>
        {
            add(out, "destructive.kill_all", 75, "kills every process");
        }
        "killall5" => add(out, "destructive.kill_all", 75, "kills every process"),
        "tee" | "cp" | "mv" | "install" | "ln" | "truncate" | "sed" => {
            let targets: Vec<&&String> = match p {
                "tee" | "truncate" => positional.iter().collect(),
                "sed" if a.iter().any(|x| x.starts_with("-i") || x == "--in-place") => {
                    positional.iter().skip(1).collect()
                }
                "sed" => Vec::new(),
                _ => positional.last().into_iter().collect(),
            };
            for t in targets {
                if let Some((rule, score, what)) = write_target(t, false) {
                    add(out, rule, score, format!("{what} ({t})"));
                }
            }
            if p == "mv"
                && positional.len() >= 2
                && positional[..positional.len() - 1]
                    .iter()
                    .any(|x| root_level(x) || x.starts_with("/boot/") || x.starts_with("/etc/"))
            {
                add(
                    out,
                    "destructive.move_system",
                    80,
                    "moves a system directory away",
                );
            }
        }
        "setcap" => {
            let strong = a.iter().any(|x| {
                x.contains("cap_setuid")
                    || x.contains("cap_sys_admin")
                    || x.contains("=ep")
                    || x.contains("+ep")
            });
            add(
                out,
                "privesc.setcap",
                if strong { 85 } else { 75 },
                "grants file capabilities",
            );
        }
        "useradd" | "adduser" | "usermod" => {
            let uid0 = a
                .windows(2)
                .any(|w| matches!(w[0].as_str(), "-u" | "--uid") && w[1] == "0")
                || a.iter().any(|x| x == "-u0" || x == "--uid=0");
            let groups = a.iter().any(|x| {
                matches!(x.as_str(), "sudo" | "wheel" | "root" | "admin" | "docker")
                    || x.contains("sudo,")
                    || x.ends_with(",sudo")
            });
            if uid0 {
                add(
                    out,
                    "privesc.uid0_user",
                    90,
                    "creates or changes a user to uid 0",
                );
            } else if groups && (short_flag(a, 'G') || short_flag(a, 'g')) {
                add(
                    out,
                    "privesc.admin_group",
                    70,
                    "adds a user to an admin group",
                );
            }
        }
        "gpasswd"
            if a.iter()
                .any(|x| matches!(x.as_str(), "sudo" | "wheel" | "root" | "docker")) =>
        {
            add(
                out,
                "privesc.admin_group",
                70,
                "adds a user to an admin group",
            );
        }
        "docker" | "podman" | "nerdctl"
            if positional
                .first()
                .is_some_and(|c| matches!(c.as_str(), "run" | "create" | "exec")) =>
        {
            let root_mount = a
                .windows(2)
                .any(|w| matches!(w[0].as_str(), "-v" | "--volume") && w[1].starts_with("/:"))
                || a.iter().any(|x| {
                    x.starts_with("--volume=/:")
                        || x.starts_with("-v/:")
                        || x.contains("source=/,")
                        || x.contains("src=/,")
                });
            if a.iter().any(|x| x == "--privileged")
                || root_mount
                || a.iter().any(|x| x == "--pid=host")
            {
                add(
                    out,
                    "privesc.container_escape",
                    85,
                    "container with host root, pid namespace or --privileged",
                );
            }
        }
        "nsenter" => add(
            out,
            "privesc.nsenter",
            80,
            "enters another process's namespaces",
        ),
        "su" if !a.iter().any(|x| x == "-c") => {
            add(out, "privesc.sudo_shell", 70, "opens a root shell")
        }
        "nc" | "ncat" | "netcat" | "nc.traditional" | "nc.openbsd"
            if short_flag(a, 'e')
                || a.iter()
                    .any(|x| x == "-c" || x == "--exec" || x == "--sh-exec") =>
        {
            add(
                out,
                "reverse_shell.nc_exec",
                95,
                "netcat executing a program",
            );
        }
        "socat" => {
            let lower: Vec<String> = a.iter().map(|x| x.to_ascii_lowercase()).collect();
            if lower
                .iter()
                .any(|x| x.starts_with("exec:") || x.starts_with("system:"))
                && lower.iter().any(|x| {
                    x.starts_with("tcp")
                        || x.starts_with("udp")
                        || x.starts_with("openssl")
                        || x.starts_with("ssl")
                })
            {
                add(
                    out,
                    "reverse_shell.socat",
                    90,
                    "socat connecting a shell to the network",
                );
            }
        }
        "crontab"
            if !a.iter().any(|x| x == "-l")
                && segs.iter().any(|x| {
                    x.argv
                        .iter()
                        .any(|w| w.contains("curl") || w.contains("wget") || w.contains("/dev/tcp"))
                }) =>
        {
            add(
                out,
                "persistence.cron",
                85,
                "installs a cron job that fetches remote code",
            );
        }
        "eval" => add(out, "obfuscation.eval", 35, "eval runs a built string"),
        "chpasswd"
            if segs
                .iter()
                .any(|x| x.argv.iter().any(|w| w.starts_with("root:"))) =>
        {
            add(out, "privesc.root_password", 80, "sets the root password");
        }
        "awk" | "gawk"
            if a.iter()
                .any(|x| x.contains("/inet/tcp/") || x.contains("/inet/udp/")) =>
        {
            add(
                out,
                "reverse_shell.awk_inet",
                90,
                "awk opening a network socket",
            );
        }
        "nslookup" | "dig" | "host" | "drill" | "ping" | "ping6"
            if a.iter().any(|x| x.contains("$(") || x.contains('`')) =>
        {
            add(
                out,
                "exfil.dns_subst",
                80,
                "sends command output inside a host name",
            );
        }
        "systemd-run"
            if a.iter().any(|x| {
                x.starts_with("--on-calendar")
                    || x.starts_with("--on-boot")
                    || x.starts_with("--on-active")
                    || x.starts_with("--on-unit-active")
                    || x.starts_with("--on-startup")
            }) =>
        {
            let remote = argv
                .iter()
                .any(|w| w.contains("curl") || w.contains("wget") || w.contains("/dev/tcp"));
            add(
                out,
                "persistence.timer",
                if remote { 85 } else { 45 },
                "schedules a recurring command",
            );
        }
        "curl" | "wget" => upload(a, out),
        "scp" | "rsync" => {
            let remote = positional.last().is_some_and(|t| t.contains(':'));
            if remote
                && positional
                    .iter()
                    .rev()
                    .skip(1)
                    .any(|x| secret_path(x) >= 40)
            {
                add(
                    out,
                    "exfil.upload_secret",
                    90,
                    "copies a secret file to another host",
                );
            }
        }
        _ => {}
    }
    if p.starts_with("python") || matches!(p, "perl" | "php" | "ruby" | "node" | "nodejs" | "lua") {
        let code = a
            .iter()
            .skip_while(|x| !matches!(x.as_str(), "-c" | "-e" | "-r" | "-E"))
            .nth(1);
        if let Some(code) = code.map(|c| c.to_ascii_lowercase()) {
            let shell = [
                "subprocess",
                "pty.spawn",
                "dup2",
                "/bin/sh",
                "/bin/bash",
                "exec(",
                "system(",
                "popen",
                "spawn",
                "child_process",
                "sh -i",
                "cmd.exe",
                "exec \"",
            ];
            if code.contains("sock") && shell.iter().any(|n| code.contains(n)) {
                add(
                    out,
                    "reverse_shell.script_socket",
                    90,
                    format!("{p} one-liner joining a socket to a shell"),
                );
            }
            if code.contains("fork")
                && (code.contains("while") || code.contains("for") || code.contains("loop"))
            {
                add(out, "destructive.fork_bomb", 90, "fork loop");
            }
            let has = |set: &[&str]| set.iter().any(|n| code.contains(n));
            if has(SCRIPT_FETCH) && has(SCRIPT_EXEC) {
                add(
                    out,
                    "download_exec.script_fetch",
                    90,
                    format!("{p} one-liner runs code it downloads"),
                );
            }
            if has(SCRIPT_DECODE) && has(SCRIPT_EXEC) {
                add(
                    out,
                    "obfuscation.decode_exec",
                    85,
                    format!("{p} one-liner runs decoded text"),
                );
            }
            if has(SCRIPT_SHELL) && has(SCRIPT_EXEC) {
                add(
                    out,
                    "reverse_shell.script_socket",
                    90,
                    format!("{p} one-liner starts a reverse shell"),
                );
            }
        }
    }
    if argv
        .first()
        .is_some_and(|w| matches!(basename(w), "sudo" | "doas" | "pkexec"))
    {
        let eff = &argv[1..];
        // GTFOBins style: a root program told to start a shell (`sudo find . -exec /bin/sh`,
        // `sudo python3 -c 'import pty;pty.spawn("/bin/bash")'`, `pkexec /bin/sh`).
        let spawns_shell = eff.iter().skip(1).any(|x| {
            let l = x.to_ascii_lowercase();
            SHELLS.contains(&basename(&l)) && x.contains('/')
                || l.contains("pty.spawn")
                || l.contains("/bin/sh")
                || l.contains("/bin/bash")
                || l.starts_with(":!")
        }) || (basename(&argv[0]) == "pkexec"
            && eff.first().is_some_and(|x| SHELLS.contains(&basename(x)))
            && eff.len() == 1);
        if spawns_shell {
            add(
                out,
                "privesc.sudo_shell",
                75,
                "runs a shell as root through another program",
            );
        }
        let opts_shell = eff
            .iter()
            .take_while(|x| x.starts_with('-'))
            .any(|x| x == "-i" || x == "-s" || x == "--login" || x == "--shell");
        let (inner, rest) = program(eff);
        let bare_shell = (SHELLS.contains(&inner)
            && rest.iter().all(|x| x == "-" || x == "-i" || x == "-l"))
            || (inner == "su" && !rest.iter().any(|x| x == "-c"));
        if opts_shell || bare_shell {
            add(
                out,
                "privesc.sudo_shell",
                70,
                "sudo into an interactive root shell",
            );
        }
    }
    let secret = reads_secret(s, p, a);
    if secret >= 40 {
        add(
            out,
            "exfil.read_secret",
            if secret >= 60 { 60 } else { 35 },
            "reads a credential or key file",
        );
    }
    if let Some(x) = expanded_name(strip_wrappers(&s.argv)) {
        add(
            out,
            "obfuscation.built_command",
            60,
            "the command name is built by brace expansion or a substitution",
        );
        segments(&super::parse(&x), out);
    }
    if strip_wrappers(&s.argv)
        .first()
        .is_some_and(|w| w.contains('/') && w.contains(['?', '*', '[']) && !w.starts_with("$("))
    {
        add(
            out,
            "obfuscation.glob_command",
            70,
            "the command name is a glob pattern",
        );
    }
    if strip_wrappers(&s.argv)
        .first()
        .is_some_and(|w| w.starts_with('$') && !w.starts_with("$("))
    {
        add(
            out,
            "obfuscation.var_command",
            55,
            "the command name comes from a variable",
        );
    }
}

fn chmod(a: &[String], positional: &[&String], out: &mut Vec<Reason>) {
    let Some(mode) = positional.first() else {
        return;
    };
    let targets = &positional[1..];
    let recursive = short_flag(a, 'R') || a.iter().any(|x| x == "--recursive");
    let digits = mode.chars().all(|c| c.is_ascii_digit());
    let setuid = mode.contains("+s")
        || (digits && mode.len() == 4 && matches!(mode.as_bytes()[0], b'2' | b'4' | b'6' | b'7'));
    if setuid {
        add(
            out,
            "privesc.setuid",
            85,
            format!("sets the setuid/setgid bit ({mode})"),
        );
    }
    let world = (digits && (mode.ends_with('7') || mode.ends_with("66")))
        || mode.contains("o+w")
        || mode.contains("a+w")
        || mode.contains("a+rwx")
        || mode.contains("ugo+rwx")
        || *mode == "+w";
    let system = |t: &&String| {
        root_level(t)
            || t.starts_with("/etc/")
            || t.starts_with("/usr/")
            || t.starts_with("/boot/")
            || t.starts_with("/bin/")
            || t.starts_with("/sbin/")
    };
    if world && recursive && targets.iter().any(|t| root_level(t)) {
        add(
            out,
            "destructive.chmod_system",
            90,
            "recursive world-writable chmod of a system tree",
        );
    } else if world && targets.iter().any(system) {
        add(
            out,
            "destructive.chmod_system",
            75,
            "world-writable chmod of a system path",
        );
    }
}

/// curl/wget sending a file's content.
fn upload(a: &[String], out: &mut Vec<Reason>) {
    let mut files = Vec::new();
    for (k, x) in a.iter().enumerate() {
        let next = a.get(k + 1).map(String::as_str).unwrap_or("");
        match x.as_str() {
            "-d" | "--data" | "--data-binary" | "--data-urlencode" | "--data-ascii" | "-F"
            | "--form" | "-T" | "--upload-file" => files.push(next.to_string()),
            _ => {
                for pre in [
                    "-d",
                    "--data-binary=",
                    "--data=",
                    "--data-urlencode=",
                    "-F",
                    "--form=",
                    "-T",
                    "--upload-file=",
                    "--post-file=",
                    "--body-file=",
                ] {
                    if let Some(v) = x.strip_prefix(pre) {
                        files.push(v.to_string());
                    }
                }
                if x == "--post-file" || x == "--body-file" {
                    files.push(next.to_string());
                }
            }
        }
    }
    let is_file =
        |f: &str| f.starts_with('@') || f.contains("=@") || f.contains("=<") || !f.contains('=');
    if files.iter().any(|f| is_file(f) && secret_path(f) > 0) {
        add(out, "exfil.upload_secret", 90, "uploads a secret file");
    }
}

/// Rules about a segment and what pipes into it.
fn pipeline(
    segs: &[Segment],
    j: usize,
    p: &str,
    progs: &[(&str, &[String])],
    out: &mut Vec<Reason>,
) {
    let up = upstream(segs, j);
    if up.is_empty() {
        return;
    }
    let eff = strip_wrappers(&segs[j].argv);
    let any = |f: &dyn Fn(&str, &[String]) -> bool| up.clone().any(|k| f(progs[k].0, progs[k].1));
    if runs_stdin(eff) {
        if any(&|q, _| FETCHERS.contains(&q)) {
            add(
                out,
                "download_exec.pipe_shell",
                95,
                format!("download piped into {p}"),
            );
        } else if any(&|q, a| is_decoder(q, a)) {
            add(
                out,
                "obfuscation.decode_exec",
                90,
                format!("decoded text piped into {p}"),
            );
        } else if any(&|q, _| NETCAT.contains(&q)) {
            add(
                out,
                "reverse_shell.nc_exec",
                90,
                format!("network stream piped into {p}"),
            );
        }
    }
    if SINKS.contains(&p) {
        if any(&|q, a| SHELLS.contains(&q) && (a.is_empty() || a.iter().any(|x| x == "-i"))) {
            add(
                out,
                "reverse_shell.nc_exec",
                90,
                format!("shell piped into {p}"),
            );
        }
        if up
            .clone()
            .any(|k| reads_secret(&segs[k], progs[k].0, progs[k].1) > 0)
        {
            add(
                out,
                "exfil.pipe_secret",
                90,
                format!("secret file piped into {p}"),
            );
        }
        let a = progs[j].1;
        let stdin_upload = match p {
            "curl" => a.windows(2).any(|w| {
                matches!(
                    w[0].as_str(),
                    "-T" | "--upload-file"
                        | "-d"
                        | "--data"
                        | "--data-binary"
                        | "--data-raw"
                        | "-F"
                ) && (w[1] == "-" || w[1].ends_with("@-"))
            }),
            "wget" => a
                .iter()
                .any(|x| x.starts_with("--post-file=-") || x == "--body-file=-"),
            _ => !a.iter().any(|x| x == "-l" || x.starts_with("-l")),
        };
        let constant = |q: &str| matches!(q, "echo" | "printf" | "yes" | "true" | "jq" | "seq");
        if stdin_upload && !up.clone().all(|k| constant(progs[k].0)) {
            add(
                out,
                "exfil.pipe_upload",
                75,
                format!("local data piped into {p} for upload"),
            );
        }
        if any(&|q, a| {
            matches!(q, "env" | "printenv") && a.is_empty()
                || (q == "set" && a.is_empty())
                || (q == "export" && a.iter().any(|x| x == "-p"))
        }) {
            add(
                out,
                "exfil.env_pipe",
                85,
                format!("environment piped into {p}"),
            );
        }
    }
    if p == "crontab"
        && up.clone().any(|k| {
            segs[k]
                .argv
                .iter()
                .any(|w| w.contains("curl") || w.contains("wget") || w.contains("/dev/tcp"))
        })
    {
        add(
            out,
            "persistence.cron",
            85,
            "installs a cron job that fetches remote code",
        );
    }
}

/// Rules about a segment and the code nested in it (`sh -c`, `eval`, `$( … )`, `<( … )`).
fn nested(
    segs: &[Segment],
    i: usize,
    p: &str,
    a: &[String],
    progs: &[(&str, &[String])],
    out: &mut Vec<Reason>,
) {
    let children: Vec<usize> = (i + 1..segs.len())
        .filter(|&j| descends(segs, j, i))
        .collect();
    if children.is_empty() {
        return;
    }
    let fetch = children.iter().any(|&j| FETCHERS.contains(&progs[j].0));
    let decode = children.iter().any(|&j| is_decoder(progs[j].0, progs[j].1));
    let runs_code = is_interpreter(p)
        || matches!(p, "eval" | "source" | "." | "su")
        || segs[i]
            .argv
            .first()
            .is_some_and(|w| w.starts_with("$(") || w.starts_with('`'));
    if runs_code && fetch {
        let rule = if a.iter().any(|x| x.starts_with("<(")) {
            "download_exec.process_subst"
        } else {
            "download_exec.subst_exec"
        };
        add(
            out,
            rule,
            95,
            format!(
                "{} runs downloaded code",
                if p.is_empty() { "substitution" } else { p }
            ),
        );
    } else if runs_code && decode && segs[i].via != Nesting::Subshell {
        add(
            out,
            "obfuscation.decode_exec",
            90,
            format!("{p} runs decoded text"),
        );
    }
    if SINKS.contains(&p) {
        if children
            .iter()
            .any(|&j| reads_secret(&segs[j], progs[j].0, progs[j].1) > 0)
        {
            add(
                out,
                "exfil.subst_secret",
                90,
                format!("{p} sends a secret file's content"),
            );
        }
        if children
            .iter()
            .any(|&j| matches!(progs[j].0, "env" | "printenv") && progs[j].1.is_empty())
        {
            add(
                out,
                "exfil.env_pipe",
                85,
                format!("{p} sends the environment"),
            );
        }
    }
}
