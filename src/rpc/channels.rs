//! Channel methods: `channels.status`, the live state of each configured chat channel.
//!
//! Only Telegram exists; its entry comes from `telegram::channel_json` (poll liveness, last
//! error, backoff, conflict, counts, outbox backlog). An unconfigured gateway lists no channels.
//! The shape follows upstream's `ChannelsStatusResult`: `channelOrder`, `channelLabels`,
//! `channels`, `channelAccounts` and `channelDefaultAccountId`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::RpcError;
use super::system::parse_params;
use crate::gateway::Ctx;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusParams {
    probe: Option<bool>,
    timeout_ms: Option<u64>,
}

/// The configured channels: `(order, labels, per-channel state)`.
pub async fn summary(ctx: &Ctx) -> (Vec<&'static str>, Map<String, Value>, Map<String, Value>) {
    let (mut order, mut labels, mut channels) = (Vec::new(), Map::new(), Map::new());
    if let Some(tg) = crate::telegram::channel_json(ctx).await {
        order.push("telegram");
        labels.insert("telegram".into(), json!("Telegram"));
        channels.insert("telegram".into(), tg);
    }
    (order, labels, channels)
}

/// `channels.status` → `{ts, channelOrder, channelLabels, channels, channelAccounts,
/// channelDefaultAccountId}`. `probe` is accepted; the state shown is always live.
pub async fn status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: StatusParams = parse_params("channels.status", params)?;
    let _live_state_needs_no_probe = (p.probe, p.timeout_ms);
    let (order, labels, channels) = summary(ctx).await;
    Ok(json!({
        "ts": crate::clock::now_ms(),
        "channelOrder": order,
        "channelLabels": labels,
        "channels": channels,
        "channelAccounts": {},
        "channelDefaultAccountId": {},
    }))
}
