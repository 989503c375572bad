//! Method dispatch: the only place method name strings are matched.
//!
//! `Method::parse` turns a wire name into a typed `Method`; `authorize` applies upstream's order
//! (scope first, so a caller without `operator.admin` cannot probe which names exist: unknown
//! names need admin, as in upstream's `gateway-method-policy`); `call` runs the handler.
//! `Method::ALL` is what `hello-ok.features.methods` and `GET /rpc/methods` advertise, so only
//! implemented methods are ever listed.

use serde_json::Value;

use std::rc::Rc;

use super::hub::Peer;
use super::{Ctx, Role};
use crate::rpc::error::RpcError;
use crate::rpc::system;

/// Every implemented method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `health`: the health summary.
    Health,
    /// `status`: runtime status.
    Status,
    /// `channels.status`: the state of each configured chat channel.
    ChannelsStatus,
    /// `doctor.memory.status`: memory counters and limits.
    DoctorMemoryStatus,
    /// `memory.search`: hybrid recall.
    MemorySearch,
    /// `memory.list`: entries, paged by id (edge extension).
    MemoryList,
    /// `memory.forget`: delete an entry or a session's entries (edge extension).
    MemoryForget,
    /// `memory.import`: ingest entries (edge extension).
    MemoryImport,
    /// `edge.acceleration.status`: CPU, memory and accelerator devices of this box.
    EdgeAccelerationStatus,
    /// `edge.enclave.status`: TPM / SEV / SGX / IMA availability and the last proof.
    EdgeEnclaveStatus,
    /// `edge.enclave.prove`: a statement quoted by the attestation program, verified or not.
    EdgeEnclaveProve,
    /// `edge.router.plan`: which configured model to use, from measured calls, errors, latency
    /// and the configured prices.
    EdgeRouterPlan,
    /// `edge.personality.profile`: the active persona (get; set with `operator.write`).
    EdgePersonalityProfile,
    /// `edge.identity.trust.status`: this device, paired and pending devices, peers.
    EdgeIdentityTrustStatus,
    /// `edge.handoff.plan`: where a session could move, with its peers probed now (plan only).
    EdgeHandoffPlan,
    /// `edge.jobs.list`: external-program jobs, newest first (edge extension).
    EdgeJobsList,
    /// `edge.jobs.get`: one job (edge extension).
    EdgeJobsGet,
    /// `edge.jobs.cancel`: kill a running job (edge extension).
    EdgeJobsCancel,
    /// `edge.finetune.run`: plan (dry run) or start a fine-tune on the stored transcripts.
    EdgeFinetuneRun,
    /// `edge.finetune.status`: the trainer, the running job and recent jobs.
    EdgeFinetuneStatus,
    /// `edge.finetune.job.get`: one fine-tune job with its progress.
    EdgeFinetuneJobGet,
    /// `edge.finetune.cancel`: kill a running fine-tune.
    EdgeFinetuneCancel,
    /// `edge.voice.transcribe`: audio to text through the configured transcriber.
    EdgeVoiceTranscribe,
    /// `tts.status`: text-to-speech state.
    TtsStatus,
    /// `tts.providers`: the text-to-speech providers (the external program).
    TtsProviders,
    /// `tts.enable`: turn text-to-speech on.
    TtsEnable,
    /// `tts.disable`: turn text-to-speech off.
    TtsDisable,
    /// `tts.setProvider`: choose the provider (only `kittentts`).
    TtsSetProvider,
    /// `tts.convert`: text to an audio file.
    TtsConvert,
    /// `channels.logout`: stop a channel's bridge until restart.
    ChannelsLogout,
    /// `channels.pairing.list`: pending pairing requests.
    ChannelsPairingList,
    /// `channels.pairing.approve`: approve a pairing code.
    ChannelsPairingApprove,
    /// `channels.pairing.dismiss`: dismiss a pairing code.
    ChannelsPairingDismiss,
    /// `system-presence`: connected clients.
    SystemPresence,
    /// `last-heartbeat`: the last heartbeat run (none run yet: `null`).
    LastHeartbeat,
    /// `logs.tail`: recent log lines from the in-memory ring.
    LogsTail,
    /// `config.get`: the config file snapshot, secrets masked.
    ConfigGet,
    /// `config.schema`: JSON Schema of the config file.
    ConfigSchema,
    /// `sessions.list`: a page of sessions, newest first.
    SessionsList,
    /// `sessions.describe`: one session row.
    SessionsDescribe,
    /// `sessions.get`: one session row (same as describe).
    SessionsGet,
    /// `sessions.preview`: last messages of several sessions.
    SessionsPreview,
    /// `sessions.resolve`: key/sessionId/label → key.
    SessionsResolve,
    /// `sessions.patch`: change a session's settings.
    SessionsPatch,
    /// `sessions.reset`: new session id.
    SessionsReset,
    /// `sessions.delete`: remove a session.
    SessionsDelete,
    /// `sessions.compact`: trim a transcript.
    SessionsCompact,
    /// `sessions.history`: edge alias of `chat.history` (the replaced runtime had it).
    SessionsHistory,
    /// `sessions.subscribe`: opt into `sessions.changed`.
    SessionsSubscribe,
    /// `sessions.unsubscribe`: opt out of `sessions.changed`.
    SessionsUnsubscribe,
    /// `sessions.messages.subscribe`: opt into `session.message` for a key.
    SessionsMessagesSubscribe,
    /// `sessions.messages.unsubscribe`.
    SessionsMessagesUnsubscribe,
    /// `sessions.usage`: token usage per session.
    SessionsUsage,
    /// `sessions.usage.timeseries`: daily usage of a session.
    SessionsUsageTimeseries,
    /// `sessions.usage.logs`: usage records of a session.
    SessionsUsageLogs,
    /// `session.status`: edge extension, a session's row plus its scheduler state.
    SessionStatus,
    /// `chat.history`: a transcript page.
    ChatHistory,
    /// `chat.inject`: append an assistant note without a run.
    ChatInject,
    /// `chat.send`: store a user message and schedule a turn.
    ChatSend,
    /// `chat.abort`: abort a session's active run.
    ChatAbort,
    /// `usage.status`: per-provider usage from recorded runs.
    UsageStatus,
    /// `usage.cost`: cost summary from recorded usage and the configured prices.
    UsageCost,
    /// `agent`: run a turn, answer accepted then the final on the same id.
    Agent,
    /// `agent.wait`: wait for a run's outcome.
    AgentWait,
    /// `agent.identity.get`: the agent's name.
    AgentIdentityGet,
    /// `agents.list`: the configured agent.
    AgentsList,
    /// `models.list`: the provider catalog.
    ModelsList,
    /// `send`: outbound channel delivery (no channel yet: not implemented).
    Send,
    /// `exec.approval.resolve`: an operator's decision on a tool call.
    ExecApprovalResolve,
    /// `exec.approval.list`: pending approval requests.
    ExecApprovalList,
    /// `node.list`: connected and stored nodes.
    NodeList,
    /// `node.describe`: one node.
    NodeDescribe,
    /// `node.rename`: the operator's name for a node (stored).
    NodeRename,
    /// `node.invoke`: run a command on a node (`node.invoke.request` → `node.invoke.result`).
    NodeInvoke,
    /// `node.event` (node role): a node's report, e.g. `node.host.stats`.
    NodeEvent,
    /// `node.runnerInventory.update` (node role).
    NodeRunnerInventoryUpdate,
    /// `node.skills.update` (node role).
    NodeSkillsUpdate,
    /// `node.pluginTools.update` (node role).
    NodePluginToolsUpdate,
    /// `node.invoke.result` (node role): the answer to a `node.invoke.request`.
    NodeInvokeResult,
    /// `edge.mesh.status`: probe every mesh peer under one deadline.
    EdgeMeshStatus,
    /// `device.pair.list`: pending pairing requests and paired devices.
    DevicePairList,
    /// `device.pair.approve`: pair a requesting device.
    DevicePairApprove,
    /// `device.pair.reject`: drop a pairing request.
    DevicePairReject,
    /// `device.pair.remove`: unpair a device.
    DevicePairRemove,
    /// `device.pair.rename`: label a paired device.
    DevicePairRename,
    /// `device.token.rotate`: a new device token, returned in-band.
    DeviceTokenRotate,
    /// `device.token.revoke`: void a device token.
    DeviceTokenRevoke,
    /// `node.pair.list`: node pairing requests and paired nodes.
    NodePairList,
    /// `node.pair.approve`: pair a requesting node.
    NodePairApprove,
    /// `node.pair.reject`: drop a node pairing request.
    NodePairReject,
    /// `node.pair.remove`: unpair a node.
    NodePairRemove,
}

/// Wire names, in the order advertised; `Method::parse` and `as_str` both read this table.
const NAMES: &[(Method, &str, &str)] = &[
    (Method::Health, "health", READ),
    (Method::Status, "status", READ),
    (Method::ChannelsStatus, "channels.status", READ),
    (Method::ChannelsLogout, "channels.logout", ADMIN),
    (Method::DoctorMemoryStatus, "doctor.memory.status", READ),
    (Method::MemorySearch, "memory.search", READ),
    (Method::MemoryList, "memory.list", READ),
    (Method::MemoryForget, "memory.forget", WRITE),
    (Method::MemoryImport, "memory.import", WRITE),
    (
        Method::EdgeAccelerationStatus,
        "edge.acceleration.status",
        READ,
    ),
    (Method::EdgeEnclaveStatus, "edge.enclave.status", READ),
    (Method::EdgeEnclaveProve, "edge.enclave.prove", WRITE),
    (Method::EdgeRouterPlan, "edge.router.plan", READ),
    // Reading the persona needs read; setting it (`profile` given) checks write in the handler.
    (
        Method::EdgePersonalityProfile,
        "edge.personality.profile",
        READ,
    ),
    (
        Method::EdgeIdentityTrustStatus,
        "edge.identity.trust.status",
        READ,
    ),
    (Method::EdgeHandoffPlan, "edge.handoff.plan", READ),
    (Method::EdgeJobsList, "edge.jobs.list", READ),
    (Method::EdgeJobsGet, "edge.jobs.get", READ),
    (Method::EdgeJobsCancel, "edge.jobs.cancel", WRITE),
    (Method::EdgeFinetuneRun, "edge.finetune.run", WRITE),
    (Method::EdgeFinetuneStatus, "edge.finetune.status", READ),
    (Method::EdgeFinetuneJobGet, "edge.finetune.job.get", READ),
    (Method::EdgeFinetuneCancel, "edge.finetune.cancel", WRITE),
    (Method::EdgeVoiceTranscribe, "edge.voice.transcribe", WRITE),
    (Method::TtsStatus, "tts.status", READ),
    (Method::TtsProviders, "tts.providers", READ),
    (Method::TtsEnable, "tts.enable", WRITE),
    (Method::TtsDisable, "tts.disable", WRITE),
    (Method::TtsSetProvider, "tts.setProvider", WRITE),
    (Method::TtsConvert, "tts.convert", WRITE),
    (
        Method::ChannelsPairingList,
        "channels.pairing.list",
        PAIRING,
    ),
    (
        Method::ChannelsPairingApprove,
        "channels.pairing.approve",
        PAIRING,
    ),
    (
        Method::ChannelsPairingDismiss,
        "channels.pairing.dismiss",
        PAIRING,
    ),
    (Method::SystemPresence, "system-presence", READ),
    (Method::LastHeartbeat, "last-heartbeat", READ),
    (Method::LogsTail, "logs.tail", READ),
    (Method::ConfigGet, "config.get", READ),
    (Method::ConfigSchema, "config.schema", READ),
    (Method::SessionsList, "sessions.list", READ),
    (Method::SessionsDescribe, "sessions.describe", READ),
    (Method::SessionsGet, "sessions.get", READ),
    (Method::SessionsPreview, "sessions.preview", READ),
    (Method::SessionsResolve, "sessions.resolve", READ),
    // Upstream marks patch and delete "dynamic" (decided per call); we require write for
    // patch and admin for the destructive delete, as reset and compact (admin upstream).
    (Method::SessionsPatch, "sessions.patch", WRITE),
    (Method::SessionsReset, "sessions.reset", ADMIN),
    (Method::SessionsDelete, "sessions.delete", ADMIN),
    (Method::SessionsCompact, "sessions.compact", ADMIN),
    (Method::SessionsHistory, "sessions.history", READ),
    (Method::SessionsSubscribe, "sessions.subscribe", READ),
    (Method::SessionsUnsubscribe, "sessions.unsubscribe", READ),
    (
        Method::SessionsMessagesSubscribe,
        "sessions.messages.subscribe",
        READ,
    ),
    (
        Method::SessionsMessagesUnsubscribe,
        "sessions.messages.unsubscribe",
        READ,
    ),
    (Method::SessionsUsage, "sessions.usage", READ),
    (
        Method::SessionsUsageTimeseries,
        "sessions.usage.timeseries",
        READ,
    ),
    (Method::SessionsUsageLogs, "sessions.usage.logs", READ),
    (Method::SessionStatus, "session.status", READ),
    (Method::ChatHistory, "chat.history", READ),
    (Method::ChatInject, "chat.inject", ADMIN),
    (Method::ChatSend, "chat.send", WRITE),
    (Method::ChatAbort, "chat.abort", WRITE),
    (Method::UsageStatus, "usage.status", READ),
    (Method::UsageCost, "usage.cost", READ),
    // Upstream marks `agent` dynamic; running a turn needs write, as chat.send.
    (Method::Agent, "agent", WRITE),
    (Method::AgentWait, "agent.wait", WRITE),
    (Method::AgentIdentityGet, "agent.identity.get", READ),
    (Method::AgentsList, "agents.list", READ),
    (Method::ModelsList, "models.list", READ),
    (Method::Send, "send", WRITE),
    (
        Method::ExecApprovalResolve,
        "exec.approval.resolve",
        APPROVALS,
    ),
    (Method::ExecApprovalList, "exec.approval.list", APPROVALS),
    (Method::NodeList, "node.list", READ),
    (Method::NodeDescribe, "node.describe", READ),
    (Method::NodeRename, "node.rename", PAIRING),
    // Upstream marks `node.invoke` dynamic; running a command on a node needs write here.
    (Method::NodeInvoke, "node.invoke", WRITE),
    (Method::NodeEvent, "node.event", NODE),
    (
        Method::NodeRunnerInventoryUpdate,
        "node.runnerInventory.update",
        NODE,
    ),
    (Method::NodeSkillsUpdate, "node.skills.update", NODE),
    (
        Method::NodePluginToolsUpdate,
        "node.pluginTools.update",
        NODE,
    ),
    (Method::NodeInvokeResult, "node.invoke.result", NODE),
    (Method::EdgeMeshStatus, "edge.mesh.status", READ),
    (Method::DevicePairList, "device.pair.list", PAIRING),
    (Method::DevicePairApprove, "device.pair.approve", PAIRING),
    (Method::DevicePairReject, "device.pair.reject", PAIRING),
    (Method::DevicePairRemove, "device.pair.remove", PAIRING),
    (Method::DevicePairRename, "device.pair.rename", PAIRING),
    (Method::DeviceTokenRotate, "device.token.rotate", PAIRING),
    (Method::DeviceTokenRevoke, "device.token.revoke", PAIRING),
    (Method::NodePairList, "node.pair.list", PAIRING),
    (Method::NodePairApprove, "node.pair.approve", PAIRING),
    (Method::NodePairReject, "node.pair.reject", PAIRING),
    (Method::NodePairRemove, "node.pair.remove", PAIRING),
];

const READ: &str = "operator.read";
const WRITE: &str = "operator.write";
const ADMIN: &str = "operator.admin";
const APPROVALS: &str = "operator.approvals";
const PAIRING: &str = "operator.pairing";
/// Not an operator scope: the method is for connections with role `node` only (upstream's
/// schema marks these `scope: "node"`).
pub const NODE: &str = "node";

impl Method {
    /// Every method, in the order advertised.
    pub fn all() -> impl Iterator<Item = Method> {
        NAMES.iter().map(|(m, _, _)| *m)
    }

    /// The typed method for a wire name.
    pub fn parse(name: &str) -> Option<Method> {
        NAMES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(m, _, _)| *m)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(m, _, _)| *m == self)
            .map(|(_, n, _)| *n)
            .expect("every Method has a row in NAMES")
    }

    /// The operator scope the method needs (from upstream's schema `methods` map).
    pub fn scope(self) -> &'static str {
        NAMES
            .iter()
            .find(|(m, _, _)| *m == self)
            .map(|(_, _, s)| *s)
            .expect("every Method has a row in NAMES")
    }
}

/// Names of every implemented method (for `hello-ok` and `/rpc/methods`).
pub fn method_names() -> Vec<&'static str> {
    Method::all().map(Method::as_str).collect()
}

/// Whether `scopes` satisfy `needed`: admin implies all, write implies read and talk.
pub fn has_scope(scopes: &[String], needed: &str) -> bool {
    scopes.iter().any(|s| {
        s == needed
            || s == "operator.admin"
            || (s == "operator.write" && (needed == "operator.read" || needed == "operator.talk"))
    })
}

/// Resolves and authorizes a method name for a connection.
pub fn authorize(role: Role, scopes: &[String], name: &str) -> Result<Method, RpcError> {
    let method = Method::parse(name);
    let needed = method.map(Method::scope).unwrap_or("operator.admin");
    let allowed = match role {
        Role::Node => needed == NODE,
        Role::Operator => needed != NODE && has_scope(scopes, needed),
    };
    if !allowed {
        return Err(RpcError::MissingScope { scope: needed });
    }
    method.ok_or_else(|| RpcError::UnknownMethod(name.to_string()))
}

/// Runs an authorized method; `peer` is the WebSocket caller (`None` over HTTP `POST /rpc`),
/// `req_id` the request's id (for methods that answer more than once, like `agent`).
///
/// The edge, TTS, mesh and pairing handlers run boxed: their futures (child processes, probes,
/// outbound clients) are large, and an unboxed arm makes every in-flight request's future as
/// large as the largest arm (measured: a 300-request pipelined flood peaked at ~42 MiB VmHWM
/// instead of ~22 MiB).
pub async fn call(
    ctx: &Rc<Ctx>,
    peer: Option<&Rc<Peer>>,
    req_id: &str,
    method: Method,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    use crate::rpc::{agent, chat, sessions, usage};
    match method {
        Method::Health => Ok(system::health(ctx, no_params(method, params)?).await),
        Method::Status => system::status(ctx, params).await,
        Method::ChannelsStatus => crate::rpc::channels::status(ctx, params).await,
        Method::ChannelsLogout => crate::rpc::channels::logout(ctx, params).await,
        Method::DoctorMemoryStatus => crate::rpc::memory::status(ctx, params).await,
        Method::MemorySearch => crate::rpc::memory::search(ctx, params).await,
        Method::MemoryList => crate::rpc::memory::list(ctx, params).await,
        Method::MemoryForget => crate::rpc::memory::forget(ctx, params).await,
        Method::MemoryImport => crate::rpc::memory::import(ctx, params).await,
        Method::EdgeAccelerationStatus => {
            Box::pin(crate::rpc::edge::acceleration_status(ctx, params)).await
        }
        Method::EdgeEnclaveStatus => Box::pin(crate::rpc::edge::enclave_status(ctx, params)).await,
        Method::EdgeEnclaveProve => Box::pin(crate::rpc::edge::enclave_prove(ctx, params)).await,
        Method::EdgeRouterPlan => Box::pin(crate::rpc::router::plan(ctx, params)).await,
        Method::EdgePersonalityProfile => {
            Box::pin(crate::rpc::edge_plan::personality_profile(
                ctx, peer, params,
            ))
            .await
        }
        Method::EdgeIdentityTrustStatus => {
            Box::pin(crate::rpc::edge_plan::identity_trust_status(ctx, params)).await
        }
        Method::EdgeHandoffPlan => Box::pin(crate::rpc::edge_plan::handoff_plan(ctx, params)).await,
        Method::EdgeJobsList => Box::pin(crate::rpc::tts::jobs_list(ctx, params)).await,
        Method::EdgeJobsGet => Box::pin(crate::rpc::tts::jobs_get(ctx, params)).await,
        Method::EdgeJobsCancel => Box::pin(crate::rpc::tts::jobs_cancel(ctx, params)).await,
        Method::EdgeFinetuneRun => Box::pin(crate::rpc::finetune::run(ctx, params)).await,
        Method::EdgeFinetuneStatus => Box::pin(crate::rpc::finetune::status(ctx, params)).await,
        Method::EdgeFinetuneJobGet => Box::pin(crate::rpc::finetune::job_get(ctx, params)).await,
        Method::EdgeFinetuneCancel => Box::pin(crate::rpc::finetune::cancel(ctx, params)).await,
        Method::EdgeVoiceTranscribe => {
            Box::pin(crate::rpc::edge::voice_transcribe(ctx, params)).await
        }
        Method::TtsStatus => Box::pin(crate::rpc::tts::status(ctx, params)).await,
        Method::TtsProviders => Box::pin(crate::rpc::tts::providers(ctx, params)).await,
        Method::TtsEnable => Box::pin(crate::rpc::tts::set_enabled(ctx, params, true)).await,
        Method::TtsDisable => Box::pin(crate::rpc::tts::set_enabled(ctx, params, false)).await,
        Method::TtsSetProvider => Box::pin(crate::rpc::tts::set_provider(ctx, params)).await,
        Method::TtsConvert => Box::pin(crate::rpc::tts::convert(ctx, params)).await,
        Method::ChannelsPairingList => crate::rpc::channels::pairing_list(ctx, params).await,
        Method::ChannelsPairingApprove => crate::rpc::channels::pairing_approve(ctx, params).await,
        Method::ChannelsPairingDismiss => crate::rpc::channels::pairing_dismiss(ctx, params).await,
        Method::SystemPresence => {
            no_params(method, params)?;
            Ok(Value::Array(ctx.hub.presence_all()))
        }
        Method::LastHeartbeat => {
            no_params(method, params)?;
            // No heartbeat runner exists yet, so there is no last heartbeat: upstream's null.
            Ok(Value::Null)
        }
        Method::LogsTail => system::logs_tail(params),
        Method::ConfigGet => {
            no_params(method, params)?;
            system::config_get(ctx).await
        }
        Method::ConfigSchema => {
            no_params(method, params)?;
            Ok(crate::config::config_schema(crate::clock::now_ms()))
        }
        Method::SessionsList => sessions::list(ctx, params).await,
        Method::SessionsDescribe | Method::SessionsGet => sessions::describe(ctx, params).await,
        Method::SessionsPreview => sessions::preview(ctx, params).await,
        Method::SessionsResolve => sessions::resolve(ctx, params).await,
        Method::SessionsPatch => sessions::patch(ctx, params).await,
        Method::SessionsReset => sessions::reset(ctx, params).await,
        Method::SessionsDelete => sessions::delete(ctx, params).await,
        Method::SessionsCompact => sessions::compact(ctx, params).await,
        Method::SessionsHistory => chat::history(ctx, params, method.as_str()).await,
        Method::SessionsSubscribe => sessions::subscribe(peer, params, true),
        Method::SessionsUnsubscribe => sessions::subscribe(peer, params, false),
        Method::SessionsMessagesSubscribe => sessions::messages_subscribe(ctx, peer, params, true),
        Method::SessionsMessagesUnsubscribe => {
            sessions::messages_subscribe(ctx, peer, params, false)
        }
        Method::SessionsUsage => usage::sessions_usage(ctx, params).await,
        Method::SessionsUsageTimeseries => usage::sessions_usage_timeseries(ctx, params).await,
        Method::SessionsUsageLogs => usage::sessions_usage_logs(ctx, params).await,
        Method::SessionStatus => sessions::status(ctx, params).await,
        Method::ChatHistory => chat::history(ctx, params, method.as_str()).await,
        Method::ChatInject => chat::inject(ctx, params).await,
        Method::ChatSend => chat::send(ctx, params).await,
        Method::ChatAbort => chat::abort(ctx, params),
        Method::UsageStatus => usage::usage_status(ctx, params).await,
        Method::UsageCost => usage::usage_cost(ctx, params).await,
        Method::Agent => agent::agent(ctx, peer, req_id, params).await,
        Method::AgentWait => agent::wait(ctx, params).await,
        Method::AgentIdentityGet => agent::identity(ctx, params),
        Method::AgentsList => agent::list(ctx, params),
        Method::ModelsList => agent::models(ctx, params),
        Method::Send => agent::send(ctx, params).await,
        Method::ExecApprovalResolve => agent::approval_resolve(ctx, params),
        Method::ExecApprovalList => agent::approval_list(ctx, params),
        Method::NodeList => crate::rpc::nodes::list(ctx, params),
        Method::NodeDescribe => crate::rpc::nodes::describe(ctx, params),
        Method::NodeRename => Box::pin(crate::rpc::nodes::rename(ctx, params)).await,
        Method::NodeInvoke => Box::pin(crate::rpc::nodes::invoke(ctx, params)).await,
        Method::NodeEvent => crate::rpc::nodes::event(ctx, peer, params),
        Method::NodeRunnerInventoryUpdate => crate::rpc::nodes::runner_inventory(ctx, peer, params),
        Method::NodeSkillsUpdate => {
            let which = crate::rpc::nodes::NameList::Skills;
            crate::rpc::nodes::names_update(ctx, peer, which, params)
        }
        Method::NodePluginToolsUpdate => {
            let which = crate::rpc::nodes::NameList::PluginTools;
            crate::rpc::nodes::names_update(ctx, peer, which, params)
        }
        Method::NodeInvokeResult => crate::rpc::nodes::invoke_result(ctx, peer, params),
        Method::EdgeMeshStatus => Box::pin(crate::rpc::mesh::status(ctx, params)).await,
        Method::DevicePairList => crate::rpc::pairing::device_list(ctx, params),
        Method::DevicePairApprove => {
            Box::pin(crate::rpc::pairing::device_approve(ctx, params)).await
        }
        Method::DevicePairReject => Box::pin(crate::rpc::pairing::device_reject(ctx, params)).await,
        Method::DevicePairRemove => Box::pin(crate::rpc::pairing::device_remove(ctx, params)).await,
        Method::DevicePairRename => Box::pin(crate::rpc::pairing::device_rename(ctx, params)).await,
        Method::DeviceTokenRotate => {
            Box::pin(crate::rpc::pairing::token_rotate(ctx, peer, params)).await
        }
        Method::DeviceTokenRevoke => {
            Box::pin(crate::rpc::pairing::token_revoke(ctx, peer, params)).await
        }
        Method::NodePairList => crate::rpc::pairing::node_list(ctx, params),
        Method::NodePairApprove => Box::pin(crate::rpc::pairing::node_approve(ctx, params)).await,
        Method::NodePairReject => Box::pin(crate::rpc::pairing::node_reject(ctx, params)).await,
        Method::NodePairRemove => Box::pin(crate::rpc::pairing::node_remove(ctx, params)).await,
    }
}

/// Accepts absent, `null` or `{}` params (health also takes `probe`), anything else is invalid.
fn no_params(method: Method, params: Option<Value>) -> Result<bool, RpcError> {
    match params {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(map)) => {
            let mut probe = false;
            for (k, v) in map {
                if method == Method::Health && k == "probe" {
                    probe = v.as_bool().unwrap_or(false);
                } else {
                    return Err(RpcError::InvalidRequest(format!(
                        "invalid {} params: unexpected property {k:?}",
                        method.as_str()
                    )));
                }
            }
            Ok(probe)
        }
        Some(other) => Err(RpcError::InvalidRequest(format!(
            "invalid {} params: expected an object, got {}",
            method.as_str(),
            kind_of(&other)
        ))),
    }
}

/// The JSON type name of a value, for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_and_as_str_round_trip() {
        for m in Method::all() {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("nope"), None);
    }

    #[test]
    fn scope_rules_follow_upstream() {
        assert!(has_scope(&s(&["operator.admin"]), "operator.read"));
        assert!(has_scope(&s(&["operator.write"]), "operator.read"));
        assert!(!has_scope(&s(&["operator.read"]), "operator.write"));
        assert!(!has_scope(&s(&[]), "operator.read"));
    }

    #[test]
    fn unknown_method_needs_admin_first() {
        let read = s(&["operator.read"]);
        assert_eq!(
            authorize(Role::Operator, &read, "no.such"),
            Err(RpcError::MissingScope {
                scope: "operator.admin"
            })
        );
        let admin = s(&["operator.admin"]);
        assert_eq!(
            authorize(Role::Operator, &admin, "no.such"),
            Err(RpcError::UnknownMethod("no.such".into()))
        );
        assert_eq!(
            authorize(Role::Operator, &read, "health"),
            Ok(Method::Health)
        );
        assert_eq!(
            authorize(Role::Node, &admin, "health"),
            Err(RpcError::MissingScope {
                scope: "operator.read"
            })
        );
        assert_eq!(
            authorize(Role::Node, &[], "node.invoke.result"),
            Ok(Method::NodeInvokeResult)
        );
        assert_eq!(
            authorize(Role::Operator, &admin, "node.invoke.result"),
            Err(RpcError::MissingScope { scope: NODE }),
            "node-role methods are refused to operators, even admins"
        );
    }

    #[test]
    fn params_must_be_empty_objects() {
        assert_eq!(no_params(Method::Status, None), Ok(false));
        assert_eq!(
            no_params(Method::Health, Some(serde_json::json!({"probe": true}))),
            Ok(true)
        );
        assert!(no_params(Method::ConfigGet, Some(serde_json::json!({"x": 1}))).is_err());
        assert!(no_params(Method::ConfigGet, Some(serde_json::json!([1]))).is_err());
    }
}
