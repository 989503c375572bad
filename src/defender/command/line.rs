//! Whole-line command rules: download-then-run, fifo shells, and how the text is written.
//!
//! Split out of `command/rules.rs`: these look across all segments or at the raw (clipped)
//! command text rather than at one segment.

use super::rules::{FETCHERS, NETCAT, add, is_interpreter};
use super::{Parsed, Segment, basename, strip_wrappers};
use crate::defender::reason::Reason;

/// Rules across the whole line: download-then-run, fifo shells.
pub(super) fn line(
    segs: &[Segment],
    progs: &[(&str, &[String])],
    argvs: &[Vec<String>],
    out: &mut Vec<Reason>,
) {
    let mut files: Vec<String> = Vec::new();
    let mut first_fetch = None;
    for (k, (p, a)) in progs.iter().enumerate() {
        if !FETCHERS.contains(p) {
            continue;
        }
        first_fetch.get_or_insert(k);
        for (n, x) in a.iter().enumerate() {
            let next = a.get(n + 1);
            match x.as_str() {
                "-o" | "-O" | "--output" | "--output-document" => files.extend(next.cloned()),
                _ if x.starts_with("--output-document=") || x.starts_with("--output=") => {
                    files.extend(x.split_once('=').map(|v| v.1.to_string()))
                }
                _ if x.starts_with("-o") && x.len() > 2 && *p == "curl" => {
                    files.push(x[2..].to_string())
                }
                _ if x.starts_with("-O") && x.len() > 2 && *p == "wget" => {
                    files.push(x[2..].to_string())
                }
                _ if x.contains("://") && *p == "wget" => {
                    files.push(basename(x.split('?').next().unwrap_or(x)).to_string())
                }
                _ => {}
            }
        }
    }
    if let Some(f) = first_fetch {
        let names: Vec<&str> = files
            .iter()
            .map(|f| basename(f))
            .filter(|n| !n.is_empty() && *n != "-")
            .collect();
        let chmod_x = (f..progs.len()).any(|k| {
            progs[k].0 == "chmod"
                && progs[k].1.iter().any(|m| {
                    m.contains("+x") || m == "755" || m == "777" || m == "700" || m == "0755"
                })
        });
        let ran = (f + 1..segs.len()).any(|k| {
            let Some(cmd) = strip_wrappers(&argvs[k]).first() else {
                return false;
            };
            let runs_named = names.contains(&basename(cmd)) && (cmd.contains('/') || chmod_x);
            let interp = is_interpreter(progs[k].0)
                && progs[k]
                    .1
                    .iter()
                    .find(|x| !x.starts_with('-'))
                    .is_some_and(|x| names.contains(&basename(x)));
            runs_named || interp
        });
        if ran {
            add(
                out,
                "download_exec.chmod_run",
                85,
                "downloads a file, then runs it",
            );
        } else if chmod_x {
            add(
                out,
                "download_exec.chmod_run",
                50,
                "downloads a file and makes it executable",
            );
        }
    }
    let fifo = progs
        .iter()
        .any(|(p, a)| *p == "mkfifo" || (*p == "mknod" && a.iter().any(|x| x == "p")));
    let net = progs
        .iter()
        .any(|(p, a)| NETCAT.contains(p) || (*p == "openssl" && a.iter().any(|x| x == "s_client")));
    if fifo && net {
        add(
            out,
            "reverse_shell.mkfifo",
            90,
            "named pipe wired to a network connection",
        );
    }
}

/// Checks on how the command is written, on the raw (clipped) text.
pub(super) fn raw(s: &str, p: &Parsed, out: &mut Vec<Reason>) {
    if s.contains("$IFS") || s.contains("${IFS") {
        add(out, "obfuscation.ifs", 70, "$IFS used to hide spaces");
    }
    let b = s.as_bytes();
    let slice = b.windows(3).enumerate().any(|(i, w)| {
        w[0] == b'$' && w[1] == b'{' && {
            let rest = &b[i + 2..];
            let n = rest
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            n > 0
                && rest.get(n) == Some(&b':')
                && rest
                    .get(n + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b' ')
        }
    });
    if slice {
        add(
            out,
            "obfuscation.var_slice",
            70,
            "characters cut out of variables (${VAR:0:1})",
        );
    }
    let escapes = b
        .windows(4)
        .filter(|w| {
            w[0] == b'\\'
                && w[1] == b'x'
                && w[2].is_ascii_hexdigit()
                && w[3].is_ascii_hexdigit()
                && !(w[2] == b'1' && (w[3] == b'b' || w[3] == b'B'))
        })
        .count()
        + b.windows(4)
            .filter(|w| {
                w[0] == b'\\'
                    && w[1..].iter().all(|c| (b'0'..=b'7').contains(c))
                    && &w[1..] != b"033"
            })
            .count();
    if escapes >= 2 {
        add(
            out,
            "obfuscation.hex_escape",
            60,
            format!("{escapes} hex/octal escapes spell out text"),
        );
    }
    if p.split_word {
        add(
            out,
            "obfuscation.quote_split",
            60,
            "empty quotes or backslashes split a word (r''m)",
        );
    }
    let squashed: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let mut from = 0;
    while let Some(rel) = squashed[from..].find("(){") {
        let at = from + rel;
        from = at + 3;
        let name_start = squashed[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || "_:.-".contains(c)))
            .map_or(0, |k| k + 1);
        let name = &squashed[name_start..at];
        if !name.is_empty() && squashed[at..].contains(&format!("{name}|{name}&")) {
            add(out, "destructive.fork_bomb", 95, "fork bomb");
            break;
        }
    }
}
