//! `openclaw-edge security check|audit`: the defender pipeline and a configuration audit, offline.
//!
//! `check` runs the exact runtime pipeline (`defender::gate::pipeline_for`) with the configured
//! policy, or with `--policy FILE` (a bundle; verified when the key env var is set, else used
//! unverified and said so, for trying a policy before signing it). Without `--prompt`,
//! `--command` or `--url` it reads JSON lines `{"kind":"prompt|command|url","text":…}` from stdin
//! and prints one verdict line per input line. `audit` reports weak or risky settings, each with a
//! severity and the fix; `--deep` also re-hashes `protect_paths` against the baseline.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use argh::FromArgs;
use serde_json::{Value, json};

use crate::config::{AuthMode, Config, Overrides};
use crate::defender::pipeline::{Action, Assessment, Context, Pipeline};
use crate::defender::policy::ToolPolicy;
use crate::defender::{bundle, gate, store};

/// Longest stdin line `security check` reads.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Defender tools: check inputs against the policy, audit the configuration.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "security")]
pub struct SecurityCmd {
    #[argh(subcommand)]
    cmd: Sub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Sub {
    Check(CheckCmd),
    Audit(AuditCmd),
}

/// Decide a prompt, command or URL (or JSON lines on stdin) with the runtime pipeline.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
struct CheckCmd {
    /// a prompt to score
    #[argh(option)]
    prompt: Option<String>,
    /// a shell command to score
    #[argh(option)]
    command: Option<String>,
    /// a URL to score
    #[argh(option)]
    url: Option<String>,
    /// use this policy bundle instead of the configured policy
    #[argh(option)]
    policy: Option<PathBuf>,
    /// print JSON
    #[argh(switch)]
    json: bool,
    /// config file
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Report weak or risky settings with their fix.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "audit")]
struct AuditCmd {
    /// also re-hash protect_paths against the integrity baseline
    #[argh(switch)]
    deep: bool,
    /// print JSON
    #[argh(switch)]
    json: bool,
    /// config file
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Runs `security …`; returns the exit code.
pub fn run(cmd: SecurityCmd, base: Overrides) -> u8 {
    let config_path = match &cmd.cmd {
        Sub::Check(c) => c.config.clone(),
        Sub::Audit(a) => a.config.clone(),
    };
    let ov = Overrides {
        config: config_path.or(base.config),
        ..base
    };
    let config = match Config::load(&ov) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw-edge: {e}");
            return 2;
        }
    };
    match cmd.cmd {
        Sub::Check(c) => check(&config, c),
        Sub::Audit(a) => audit(&config, a.deep, a.json),
    }
}

fn check(config: &Config, c: CheckCmd) -> u8 {
    let pipeline = gate::pipeline_for(config);
    if let Some(p) = &c.policy {
        match policy_from_file(config, p) {
            Ok((policy, id)) => pipeline.set_policy(policy, id),
            Err(e) => {
                eprintln!("security: {e}");
                return 2;
            }
        }
    } else if let Some(p) = &config.defender.policy_file {
        // The runtime loads the signed bundle too; a bad one keeps the config policy, as there.
        if let Ok((policy, id)) = policy_from_file(config, p)
            && id.starts_with("bundle:")
        {
            pipeline.set_policy(policy, id);
        }
    }
    let one = [
        ("prompt", c.prompt.as_deref()),
        ("command", c.command.as_deref()),
        ("url", c.url.as_deref()),
    ];
    let given: Vec<(&str, &str)> = one.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    let mut out = std::io::stdout().lock();
    if !given.is_empty() {
        for (kind, text) in given {
            let a = decide(&pipeline, kind, text);
            let _ = writeln!(out, "{}", render(&a, c.json));
        }
        return 0;
    }
    let stdin = std::io::stdin();
    let mut bad = 0u64;
    for (n, line) in stdin.lock().split(b'\n').enumerate() {
        let Ok(line) = line else { break };
        if line.len() > MAX_LINE_BYTES {
            let _ = writeln!(
                out,
                "{}",
                json!({"line": n + 1, "error": format!("line over {MAX_LINE_BYTES} bytes")})
            );
            bad += 1;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{}",
                    json!({"line": n + 1, "error": format!("not JSON: {e}")})
                );
                bad += 1;
                continue;
            }
        };
        let (Some(kind), Some(text)) = (v["kind"].as_str(), v["text"].as_str()) else {
            let _ = writeln!(
                out,
                "{}",
                json!({"line": n + 1, "error": "need {\"kind\": \"prompt|command|url\", \"text\": …}"})
            );
            bad += 1;
            continue;
        };
        if !matches!(kind, "prompt" | "command" | "url") {
            let _ = writeln!(
                out,
                "{}",
                json!({"line": n + 1, "error": format!("unknown kind {kind:?}")})
            );
            bad += 1;
            continue;
        }
        let a = decide(&pipeline, kind, text);
        let mut j = verdict_json(&a);
        if let Some(id) = v.get("id") {
            j["id"] = id.clone();
        }
        let _ = writeln!(out, "{j}");
    }
    if bad > 0 { 1 } else { 0 }
}

fn decide(p: &Pipeline, kind: &str, text: &str) -> Assessment {
    let action = match kind {
        "command" => Action::Command(text),
        "url" => Action::Url(text),
        _ => Action::Prompt(text),
    };
    let mut a = p.assess(&action, &Context::default());
    if kind == "url" {
        // Offline: VirusTotal is a network signal and `check` makes no lookups.
        a.add(
            vec![crate::defender::reason::Reason {
                detector: "virustotal",
                rule: "virustotal.skipped",
                score: 0,
                span: None,
                detail: "security check makes no network lookups".into(),
            }],
            &p.policy(),
        );
    }
    a
}

fn verdict_json(a: &Assessment) -> Value {
    json!({
        "kind": a.kind,
        "verdict": a.verdict.as_str(),
        "enforced": a.enforced.as_str(),
        "risk": a.risk,
        "reasons": a.reasons,
    })
}

fn render(a: &Assessment, as_json: bool) -> String {
    if as_json {
        verdict_json(a).to_string()
    } else {
        format!("{} ({}) {}", a.verdict.as_str(), a.kind, a.summary())
    }
}

/// A policy from a bundle file: verified when keys are configured, else unverified (testing).
fn policy_from_file(config: &Config, path: &Path) -> Result<(ToolPolicy, String), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let env = |k: &str| std::env::var(k).ok();
    let keys = bundle::keys_from_env(&config.defender.policy_key_env, &env);
    let (policy, id) = match keys {
        Ok(keys) => {
            let v = bundle::verify(&bytes, &keys, config.limits.policy_max_bytes)
                .map_err(|e| format!("rejected: {e}"))?;
            (v.policy, format!("bundle:{}", v.id))
        }
        // Only a key variable that is not set means "try it unverified"; a malformed key list
        // is an error, never a silent downgrade.
        Err(bundle::PolicyError::KeyEnv { .. }) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
            eprintln!(
                "security: note: no key in {}: using the bundle UNVERIFIED (testing only)",
                config.defender.policy_key_env
            );
            (
                v.get("policy").cloned().unwrap_or(v),
                "unverified".to_string(),
            )
        }
        Err(e) => return Err(format!("policy keys: {e}")),
    };
    let p = ToolPolicy::from_json(&policy, &config.defender.policy)
        .map_err(|e| format!("bad policy: {e}"))?;
    Ok((p, id))
}

struct Finding {
    id: &'static str,
    severity: &'static str,
    title: String,
    fix: String,
}

fn audit(config: &Config, deep: bool, as_json: bool) -> u8 {
    let mut f: Vec<Finding> = Vec::new();
    let mut add = |id, severity, title: String, fix: &str| {
        f.push(Finding {
            id,
            severity,
            title,
            fix: fix.to_string(),
        })
    };
    let auth = &config.auth;
    match (&auth.secret, auth.mode) {
        (Some(s), AuthMode::Password) if s.expose().len() < 12 => add(
            "auth.weak_password",
            "high",
            format!(
                "gateway password is short ({} characters)",
                s.expose().len()
            ),
            "use a password of 16+ characters or token auth",
        ),
        (Some(s), AuthMode::Token) if s.expose().len() < 24 => add(
            "auth.weak_token",
            "medium",
            format!("gateway token is short ({} characters)", s.expose().len()),
            "use a random token of 32+ characters (or let the gateway generate one)",
        ),
        (None, _) => add(
            "auth.generated",
            "info",
            "no secret configured: a token is generated into the state dir".into(),
            "fine for loopback; set gateway.auth.token for remote clients",
        ),
        _ => {}
    }
    if !config.bind.ip().is_loopback() {
        add(
            "bind.public",
            "medium",
            format!(
                "gateway binds {} (not loopback) and speaks plain ws://",
                config.bind
            ),
            "put a TLS-terminating proxy in front, or bind 127.0.0.1 and use an SSH tunnel",
        );
    }
    let p = &config.defender.policy;
    if p.profile == crate::defender::policy::Profile::Full {
        add(
            "policy.full_profile",
            "medium",
            "tool profile is \"full\": every tool is allowed".into(),
            "use profile \"coding\" or \"messaging\" and allow what is needed",
        );
    }
    if config.tools.exec.approval == crate::config::tools::ExecApproval::Allow {
        add(
            "tools.exec_allow",
            "high",
            "exec runs without operator approval (tools.exec.approval = \"allow\")".into(),
            "use \"review\" (or \"deny\"), and keep tools.exec.allow short",
        );
    }
    if config.tools.exec.approval != crate::config::tools::ExecApproval::Deny
        && config.tools.exec.allow.is_empty()
    {
        add(
            "tools.exec_any_program",
            "medium",
            "exec may run any program (tools.exec.allow is empty)".into(),
            "list the programs exec may run in tools.exec.allow",
        );
    }
    if p.audit_only {
        add(
            "policy.audit_only",
            "medium",
            "defender is audit-only: nothing is blocked".into(),
            "set auditOnly = false once the policy is tuned",
        );
    }
    match &config.defender.policy_file {
        None => add(
            "policy.unsigned",
            "low",
            "the policy comes from the config file (not a signed bundle)".into(),
            "ship policy as a bundle: openclaw-edge policy sign --key-env VAR FILE, then set defender.policy_file",
        ),
        Some(pf) => match policy_from_file(config, pf) {
            Ok((_, id)) if id == "unverified" => add(
                "policy.no_key",
                "high",
                format!(
                    "policy bundle {} cannot be verified: no key in {}",
                    pf.display(),
                    config.defender.policy_key_env
                ),
                "set the key env var; the runtime refuses unverified bundles",
            ),
            Ok(_) => {}
            Err(e) => add(
                "policy.rejected",
                "high",
                format!("policy bundle {}: {e}", pf.display()),
                "re-sign the bundle with a configured key; the previous policy stays in force",
            ),
        },
    }
    if config.defender.vt_api_key.is_none() {
        add(
            "virustotal.off",
            "info",
            "no VirusTotal key: URL reputation is skipped".into(),
            "set [defender.virustotal] apiKey to add the signal",
        );
    }
    let mut perms = |path: &Path, what: &str, secret: bool| {
        if let Ok(m) = std::fs::metadata(path) {
            let mode = m.permissions().mode();
            if mode & 0o004 != 0 {
                f.push(Finding {
                    id: "files.world_readable",
                    severity: if secret { "high" } else { "medium" },
                    title: format!(
                        "{what} {} is world-readable (mode {:o})",
                        path.display(),
                        mode & 0o777
                    ),
                    fix: format!("chmod o-rwx {}", path.display()),
                });
            } else if m.is_dir() && mode & 0o077 != 0 {
                f.push(Finding {
                    id: "files.group_access",
                    severity: "low",
                    title: format!(
                        "{what} {} is open to group/others (mode {:o})",
                        path.display(),
                        mode & 0o777
                    ),
                    fix: format!("chmod 700 {}", path.display()),
                });
            }
        }
    };
    if let Some(c) = &config.path {
        let has_secret = config
            .raw
            .as_deref()
            .is_some_and(|r| r.contains("token") || r.contains("apiKey") || r.contains("password"));
        perms(c, "config file", has_secret);
    }
    perms(&config.state_dir, "state dir", false);
    perms(&config.state_dir.join("gateway.token"), "token file", true);
    perms(
        &config.state_dir.join(crate::store::schema::DB_FILE),
        "database",
        false,
    );
    if deep {
        let file = config.state_dir.join("integrity.json");
        match store::load_baseline(&file) {
            None => f.push(Finding {
                id: "integrity.no_baseline",
                severity: "low",
                title: format!("no integrity baseline at {}", file.display()),
                fix: "start the gateway once (it takes the baseline), then audit again".into(),
            }),
            Some(b) => {
                for x in store::check(&config.defender.protect_paths, &b) {
                    let severity = match x.kind {
                        "drift" | "missing" => "high",
                        "unreadable" => "medium",
                        _ => "info",
                    };
                    f.push(Finding { id: "integrity.finding", severity, title: format!("{} {}: {}", x.kind, x.path, x.detail), fix: "check the change; if it is expected, delete integrity.json to take a new baseline".into() });
                }
            }
        }
    }
    let high = f.iter().filter(|x| x.severity == "high").count();
    let mut out = std::io::stdout().lock();
    if as_json {
        let list: Vec<Value> = f
            .iter()
            .map(|x| json!({"id": x.id, "severity": x.severity, "title": x.title, "fix": x.fix}))
            .collect();
        let _ = writeln!(out, "{}", json!({"findings": list, "high": high}));
    } else {
        for x in &f {
            let _ = writeln!(out, "[{}] {} — fix: {}", x.severity, x.title, x.fix);
        }
        let _ = writeln!(out, "{} finding(s), {high} high", f.len());
    }
    if high > 0 { 1 } else { 0 }
}
