//! openclaw-edge: a resource-minimal runtime for OpenClaw-style personal AI agents.
//!
//! One static binary, one executor thread, every buffer bounded. See `ARCHITECTURE.md` for the
//! module map and how a request flows; the binary's entry point is `src/main.rs`.

// `config::schema` builds the config JSON Schema from nested `json!` literals.
#![recursion_limit = "256"]

pub mod agent;
pub mod app;
pub mod bridge;
pub mod cli;
pub mod clock;
pub mod config;
pub mod defender;
pub mod edge;
pub mod gateway;
pub mod ids;
pub mod memory;
pub mod mesh;
pub mod pool;
pub mod providers;
pub mod rpc;
pub mod scheduler;
pub mod sessions;
pub mod shutdown;
pub mod store;
pub mod telegram;
pub mod telemetry;
