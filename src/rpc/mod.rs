//! RPC handlers, one file per method family, plus the error type every handler returns.
//!
//! Handlers take the shared `gateway::Ctx` and typed or checked params and return a JSON payload
//! or an `RpcError`. They never block: file reads and other blocking work go through `ctx.pool`.

pub mod agent;
pub mod channels;
pub mod chat;
pub mod edge;
pub mod edge_plan;
pub mod error;
pub mod finetune;
pub mod memory;
pub mod mesh;
pub mod nodes;
pub mod pairing;
pub mod router;
pub mod sessions;
pub mod system;
pub mod tts;
pub mod usage;
