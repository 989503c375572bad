//! Edge methods that report what this box really has: `edge.acceleration.status` (CPU model and
//! features, cores, memory, GPU/NPU device nodes) and `edge.enclave.status` (TPM, SEV guest, SGX
//! and IMA availability). The facts come from `edge::host`, read on the blocking pool at each call.
//! Other `edge.*` names are not advertised and answer "unknown method" until they can give real
//! answers (see README "Edge methods").

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::RpcError;
use super::system::parse_params;
use crate::gateway::Ctx;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// `edge.acceleration.status {}` → `{arch, cpu, memory, devices, accelerated, ts}`.
pub async fn acceleration_status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("edge.acceleration.status", params)?;
    let mut v = ctx
        .pool
        .run(|| crate::edge::host::probe_acceleration(std::path::Path::new("/")))
        .await?;
    v["ts"] = json!(crate::clock::now_ms());
    Ok(v)
}

/// `edge.enclave.status {}` → `{tpm, sevGuest, sgx, ima, lastProof, proveAvailable, ts}`.
/// No proof has ever been made: `edge.enclave.prove` is not built yet, so `lastProof` is `null`
/// and `proveAvailable` is `false`.
pub async fn enclave_status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let _: NoParams = parse_params("edge.enclave.status", params)?;
    let mut v = ctx
        .pool
        .run(|| crate::edge::host::probe_enclave(std::path::Path::new("/")))
        .await?;
    v["lastProof"] = Value::Null;
    v["proveAvailable"] = json!(false);
    v["ts"] = json!(crate::clock::now_ms());
    Ok(v)
}
