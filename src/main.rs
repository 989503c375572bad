//! openclaw-edge entry point: parse flags, load config, install logging, run on one executor.
//!
//! `run` (the default) builds one `LocalExecutor` on the main thread and blocks on `app::run`;
//! the other subcommands (`call`, `health`, `status`, `doctor`, `config check`, `version`) are
//! short-lived clients and checks in `cli/`.

use std::process::ExitCode;

/// Static builds: dlmalloc coalesces and returns freed memory, where musl's mallocng kept it
/// resident and RSS grew with every burst (README "Memory allocator").
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let top: openclaw_edge::cli::Top = argh::from_env();
    ExitCode::from(openclaw_edge::cli::main(top))
}
