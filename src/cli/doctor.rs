//! `doctor`: checks that this box can run the gateway, each with a verdict and a fix.
//!
//! Config validity, state dir existence and permissions (and the token file's mode), the database
//! (schema version, file sizes, row counts, `integrity_check`), whether the port is free or held by a live gateway, clock sanity, and available memory against what the
//! profile needs. Prints one line per check; exit 1 if any check fails, 0 otherwise.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::config::{Config, Overrides};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but should be fixed.
    Warn,
    /// Will not work.
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, v: Verdict, name: &str, detail: &str) {
        let tag = match v {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        println!("[{tag}] {name}: {detail}");
    }
}

/// Runs every check; returns the exit code.
pub fn run(ov: &Overrides) -> u8 {
    let mut r = Report { failed: false };
    let config = match Config::load(ov) {
        Ok(c) => {
            let src = c
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "embedded default".into());
            r.line(
                Verdict::Ok,
                "config",
                &format!("{src}, profile {}", c.profile.as_str()),
            );
            c
        }
        Err(e) => {
            r.line(Verdict::Fail, "config", &e.to_string());
            return 1;
        }
    };
    check_state_dir(&mut r, &config);
    check_database(&mut r, &config);
    check_port(&mut r, &config);
    check_clock(&mut r);
    check_memory(&mut r);
    if r.failed { 1 } else { 0 }
}

/// Schema version, file sizes, row counts and `PRAGMA integrity_check` of the database.
fn check_database(r: &mut Report, c: &Config) {
    match crate::store::inspect::inspect(&c.state_dir) {
        Err(e) => r.line(Verdict::Fail, "database", &e),
        Ok(rep) if !rep.exists => r.line(Verdict::Ok, "database", &rep.integrity),
        Ok(rep) => {
            let sizes: Vec<String> = rep
                .sizes
                .iter()
                .map(|(p, n)| format!("{} {n} B", p.rsplit('/').next().unwrap_or(p)))
                .collect();
            let rows: Vec<String> = rep.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
            let detail = format!(
                "{}: schema v{} (binary supports v{}), {}; rows: {}; integrity_check: {}",
                rep.path,
                rep.schema_version,
                rep.supported_version,
                sizes.join(", "),
                rows.join(", "),
                rep.integrity
            );
            let verdict =
                if !rep.ours || rep.integrity != "ok" || rep.schema_version > rep.supported_version
                {
                    Verdict::Fail
                } else if rep.schema_version < rep.supported_version {
                    Verdict::Warn
                } else {
                    Verdict::Ok
                };
            r.line(verdict, "database", &detail);
        }
    }
}

fn check_state_dir(r: &mut Report, c: &Config) {
    let dir = &c.state_dir;
    match std::fs::metadata(dir) {
        Err(_) => r.line(
            Verdict::Warn,
            "state dir",
            &format!(
                "{} does not exist yet (run creates it with mode 0700)",
                dir.display()
            ),
        ),
        Ok(m) if !m.is_dir() => r.line(
            Verdict::Fail,
            "state dir",
            &format!("{} is not a directory", dir.display()),
        ),
        Ok(m) => {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                r.line(
                    Verdict::Warn,
                    "state dir",
                    &format!(
                        "{} has mode {mode:o}; fix: chmod 700 {}",
                        dir.display(),
                        dir.display()
                    ),
                );
            } else {
                let probe = dir.join(".doctor-probe");
                match std::fs::write(&probe, b"x") {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&probe);
                        r.line(
                            Verdict::Ok,
                            "state dir",
                            &format!("{} (mode {mode:o}, writable)", dir.display()),
                        );
                    }
                    Err(e) => r.line(
                        Verdict::Fail,
                        "state dir",
                        &format!("{} not writable: {e}", dir.display()),
                    ),
                }
            }
            let token = dir.join(crate::app::TOKEN_FILE);
            if let Ok(tm) = std::fs::metadata(&token) {
                let tmode = tm.permissions().mode() & 0o777;
                if tmode & 0o077 != 0 {
                    r.line(
                        Verdict::Fail,
                        "token file",
                        &format!(
                            "{} is readable by others (mode {tmode:o}); fix: chmod 600 it",
                            token.display()
                        ),
                    );
                } else {
                    r.line(
                        Verdict::Ok,
                        "token file",
                        &format!("{} (mode {tmode:o})", token.display()),
                    );
                }
            }
        }
    }
}

fn check_port(r: &mut Report, c: &Config) {
    if c.bind.port() == 0 {
        r.line(Verdict::Ok, "port", "0 (a free port is picked at start)");
        return;
    }
    match TcpListener::bind(c.bind) {
        Ok(_) => r.line(Verdict::Ok, "port", &format!("{} is free", c.bind)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if healthz(c) {
                r.line(
                    Verdict::Ok,
                    "port",
                    &format!("{} is served by a running gateway (/healthz ok)", c.bind),
                );
            } else {
                r.line(
                    Verdict::Fail,
                    "port",
                    &format!("{} is in use by another program", c.bind),
                );
            }
        }
        Err(e) => r.line(
            Verdict::Fail,
            "port",
            &format!("cannot bind {}: {e}", c.bind),
        ),
    }
}

fn healthz(c: &Config) -> bool {
    let mut addr = c.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    text.starts_with("HTTP/1.1 200") && text.contains("\"ok\":true")
}

fn check_clock(r: &mut Report) {
    // 2025-01-01 .. 2100-01-01: outside it, signatures (±120 s skew) and TLS will fail.
    let now = crate::clock::now_ms();
    let ok = (1_735_689_600_000..4_102_444_800_000).contains(&now);
    let shown = crate::clock::rfc3339(now);
    if ok {
        r.line(Verdict::Ok, "clock", &format!("{shown} (UTC)"));
    } else {
        r.line(
            Verdict::Fail,
            "clock",
            &format!("{shown} looks wrong; device signatures need a correct clock (enable NTP)"),
        );
    }
}

fn check_memory(r: &mut Report) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |name: &str| crate::telemetry::proc_kib(&text, name);
    match (kb("MemAvailable:"), kb("MemTotal:")) {
        (Some(avail), Some(total)) => {
            let detail = format!("{} MiB available of {} MiB", avail / 1024, total / 1024);
            // The edge profile needs a few MiB; below 32 MiB the box is already swapping.
            if avail < 32 * 1024 {
                r.line(Verdict::Warn, "memory", &format!("{detail}: low"));
            } else {
                r.line(Verdict::Ok, "memory", &detail);
            }
        }
        _ => r.line(Verdict::Warn, "memory", "/proc/meminfo unreadable"),
    }
}
