//! Command line: flags (argh) and the subcommands.
//!
//! `openclaw-edge [run] [--config F] [--profile edge|core] [--bind ADDR:PORT] [--state-dir DIR]`
//! runs the gateway; `call`, `health` and `status` are real protocol clients (`client.rs`);
//! `doctor` checks the box (`doctor.rs`); `config check` validates a config; `policy sign|verify`
//! handles signed policy bundles (`policy.rs`); `pairing list|approve CODE|reject CODE` manages
//! Telegram pairing codes and `memory search|list|export|forget|import|status` the agent's memory,
//! both through the running gateway; `version` prints it.
//! Exit codes: 0 ok, 1 failure (a call failed, a doctor check failed), 2 bad config or usage.

pub mod client;
pub mod doctor;
pub mod memory;
pub mod policy;
pub mod security;

use std::path::PathBuf;
use std::rc::Rc;

use argh::FromArgs;
use serde_json::json;

use crate::config::{Config, Overrides};

/// openclaw-edge: a resource-minimal OpenClaw gateway for small Linux boxes.
#[derive(FromArgs, Debug)]
pub struct Top {
    /// config file (default: $OPENCLAW_EDGE_CONFIG, ./openclaw-edge.toml, else embedded default)
    #[argh(option)]
    config: Option<PathBuf>,
    /// runtime profile: edge (default) or core
    #[argh(option)]
    profile: Option<String>,
    /// listen address ADDR:PORT (port 0 picks a free port)
    #[argh(option)]
    bind: Option<String>,
    /// directory for durable state
    #[argh(option)]
    state_dir: Option<PathBuf>,
    #[argh(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Cmd {
    Run(RunCmd),
    Call(CallCmd),
    Health(HealthCmd),
    Status(StatusCmd),
    Doctor(DoctorCmd),
    Config(ConfigCmd),
    Policy(policy::PolicyCmd),
    Security(security::SecurityCmd),
    Pairing(PairingCmd),
    Memory(memory::MemoryCmd),
    Version(VersionCmd),
}

/// Telegram pairing: list, approve or reject the codes unknown users received (needs the
/// running gateway).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pairing")]
struct PairingCmd {
    /// list, approve or reject
    #[argh(positional)]
    action: String,
    /// the pairing code (approve, reject)
    #[argh(positional)]
    code: Option<String>,
    /// do not tell the user they were approved
    #[argh(switch)]
    no_notify: bool,
    /// gateway URL
    #[argh(option)]
    url: Option<String>,
    /// shared token
    #[argh(option)]
    token: Option<String>,
    /// shared password
    #[argh(option)]
    password: Option<String>,
    /// print compact JSON
    #[argh(switch)]
    json: bool,
    /// config file used for defaults
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Run the gateway (the default).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
struct RunCmd {
    /// config file
    #[argh(option)]
    config: Option<PathBuf>,
    /// runtime profile: edge (default) or core
    #[argh(option)]
    profile: Option<String>,
    /// listen address ADDR:PORT (port 0 picks a free port)
    #[argh(option)]
    bind: Option<String>,
    /// directory for durable state
    #[argh(option)]
    state_dir: Option<PathBuf>,
}

/// Call one gateway method over the WebSocket protocol and print the result.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "call")]
struct CallCmd {
    /// method name, e.g. health
    #[argh(positional)]
    method: String,
    /// params as JSON (default: none)
    #[argh(option)]
    params: Option<String>,
    /// gateway URL (default: from the config's bind address)
    #[argh(option)]
    url: Option<String>,
    /// shared token (default: env OPENCLAW_EDGE_GATEWAY_TOKEN, config, or the state dir token)
    #[argh(option)]
    token: Option<String>,
    /// shared password
    #[argh(option)]
    password: Option<String>,
    /// print compact JSON only
    #[argh(switch)]
    json: bool,
    /// overall timeout in milliseconds (default 10000)
    #[argh(option, default = "10_000")]
    timeout_ms: u64,
    /// config file used for defaults
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Ask a running gateway for its health.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "health")]
struct HealthCmd {
    /// gateway URL
    #[argh(option)]
    url: Option<String>,
    /// shared token
    #[argh(option)]
    token: Option<String>,
    /// shared password
    #[argh(option)]
    password: Option<String>,
    /// print JSON
    #[argh(switch)]
    json: bool,
    /// config file used for defaults
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Ask a running gateway for its status.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
struct StatusCmd {
    /// gateway URL
    #[argh(option)]
    url: Option<String>,
    /// shared token
    #[argh(option)]
    token: Option<String>,
    /// shared password
    #[argh(option)]
    password: Option<String>,
    /// print compact JSON
    #[argh(switch)]
    json: bool,
    /// config file used for defaults
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Check config, state dir permissions, port, clock and free memory.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
struct DoctorCmd {
    /// config file
    #[argh(option)]
    config: Option<PathBuf>,
    /// directory for durable state
    #[argh(option)]
    state_dir: Option<PathBuf>,
}

/// Config tools.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "config")]
struct ConfigCmd {
    #[argh(subcommand)]
    cmd: ConfigSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum ConfigSub {
    Check(ConfigCheck),
}

/// Validate a config file (and env) exactly as `run` would; exit 2 on error.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
struct ConfigCheck {
    /// config file
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Print the version.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "version")]
struct VersionCmd {}

/// Runs the parsed command line; returns the exit code.
pub fn main(top: Top) -> u8 {
    let base = Overrides {
        config: top.config,
        profile: top.profile,
        bind: top.bind,
        state_dir: top.state_dir,
    };
    match top.cmd {
        None => run(base),
        Some(Cmd::Run(r)) => run(Overrides {
            config: r.config.or(base.config),
            profile: r.profile.or(base.profile),
            bind: r.bind.or(base.bind),
            state_dir: r.state_dir.or(base.state_dir),
        }),
        Some(Cmd::Call(c)) => {
            let ov = Overrides {
                config: c.config.or(base.config),
                ..base
            };
            let target = client::Target::resolve(&ov, c.url, c.token, c.password);
            client::run_call(target, &c.method, c.params.as_deref(), c.json, c.timeout_ms)
        }
        Some(Cmd::Health(c)) => {
            let ov = Overrides {
                config: c.config.or(base.config),
                ..base
            };
            let target = client::Target::resolve(&ov, c.url, c.token, c.password);
            client::run_health(target, c.json)
        }
        Some(Cmd::Status(c)) => {
            let ov = Overrides {
                config: c.config.or(base.config),
                ..base
            };
            let target = client::Target::resolve(&ov, c.url, c.token, c.password);
            client::run_call(target, "status", None, c.json, 10_000)
        }
        Some(Cmd::Doctor(d)) => doctor::run(&Overrides {
            config: d.config.or(base.config),
            state_dir: d.state_dir.or(base.state_dir),
            ..base
        }),
        Some(Cmd::Config(ConfigCmd {
            cmd: ConfigSub::Check(c),
        })) => config_check(&Overrides {
            config: c.config.or(base.config),
            ..base
        }),
        Some(Cmd::Policy(p)) => policy::run(p),
        Some(Cmd::Security(c)) => security::run(c, base),
        Some(Cmd::Pairing(c)) => {
            let (method, params) = match (c.action.as_str(), &c.code) {
                ("list", None) => ("channels.pairing.list", json!({"channel": "telegram"})),
                ("approve", Some(code)) => (
                    "channels.pairing.approve",
                    json!({"channel": "telegram", "accountId": "default", "requestId": code,
                           "notify": !c.no_notify}),
                ),
                ("reject", Some(code)) => (
                    "channels.pairing.dismiss",
                    json!({"channel": "telegram", "accountId": "default", "requestId": code}),
                ),
                _ => {
                    eprintln!("usage: openclaw-edge pairing list | approve CODE | reject CODE");
                    return 2;
                }
            };
            let ov = Overrides {
                config: c.config.or(base.config),
                ..base
            };
            let target = client::Target::resolve(&ov, c.url, c.token, c.password);
            client::run_call(target, method, Some(&params.to_string()), c.json, 10_000)
        }
        Some(Cmd::Memory(c)) => memory::run(c, base),
        Some(Cmd::Version(_)) => {
            println!(
                "openclaw-edge {} (gateway protocol {})",
                env!("CARGO_PKG_VERSION"),
                crate::gateway::PROTOCOL_VERSION
            );
            0
        }
    }
}

fn run(ov: Overrides) -> u8 {
    let config = match Config::load(&ov) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("openclaw-edge: {e}");
            return 2;
        }
    };
    crate::telemetry::init(
        &config.log_level,
        config.limits.log_ring_lines,
        config.limits.log_line_max_bytes,
    );
    let ex = Rc::new(smol::LocalExecutor::new());
    let code = smol::block_on(ex.run(crate::app::run(Rc::clone(&ex), config)));
    code.clamp(0, 255) as u8
}

fn config_check(ov: &Overrides) -> u8 {
    match Config::load(ov) {
        Ok(c) => {
            let src = c
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(embedded default)".into());
            println!(
                "config ok: {src} (profile {}, bind {}, auth {}, state_dir {})",
                c.profile.as_str(),
                c.bind,
                c.auth.mode.as_str(),
                c.state_dir.display()
            );
            0
        }
        Err(e) => {
            eprintln!("openclaw-edge: {e}");
            println!("config error: {e}");
            2
        }
    }
}
