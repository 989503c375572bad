//! Channel methods: `channels.status` (the live state of each configured chat channel),
//! `channels.logout` (stop a bridge until restart) and `channels.pairing.list|approve|dismiss`
//! (Telegram pairing codes, shapes as upstream's `ChannelsPairing*` schemas).
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

fn telegram_only(channel: &str) -> Result<(), RpcError> {
    if channel == "telegram" {
        Ok(())
    } else {
        Err(RpcError::InvalidRequest(format!(
            "unknown channel {channel:?} (this gateway has: telegram)"
        )))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogoutParams {
    channel: String,
    #[allow(dead_code)]
    account_id: Option<String>,
}

/// `channels.logout {channel}` → `{channel, accountId, loggedOut, cleared:false}`: stops the bridge
/// (polling and sending) until the gateway restarts. The token stays in the config.
pub async fn logout(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: LogoutParams = parse_params("channels.logout", params)?;
    telegram_only(&p.channel)?;
    if !ctx.config.telegram.enabled {
        return Err(RpcError::InvalidRequest(
            "channel telegram is not configured".into(),
        ));
    }
    let was_running = crate::telegram::logout();
    Ok(
        json!({"channel": "telegram", "accountId": "default", "loggedOut": true,
              "wasRunning": was_running, "cleared": false}),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PairingListParams {
    channel: Option<String>,
    #[allow(dead_code)]
    account_id: Option<String>,
}

/// `channels.pairing.list` → upstream's `ChannelsPairingListResult`.
pub async fn pairing_list(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: PairingListParams = parse_params("channels.pairing.list", params)?;
    if let Some(c) = &p.channel {
        telegram_only(c)?;
    }
    crate::telegram::pairing::list(ctx).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PairingParams {
    channel: String,
    #[allow(dead_code)]
    account_id: String,
    request_id: String,
    notify: Option<bool>,
    bootstrap_command_owner: Option<bool>,
}

/// `channels.pairing.approve {channel, accountId, requestId, notify?}` →
/// `{requestId, senderId, notification, commandOwnerBootstrap}`.
pub async fn pairing_approve(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: PairingParams = parse_params("channels.pairing.approve", params)?;
    telegram_only(&p.channel)?;
    if p.bootstrap_command_owner == Some(true) {
        return Err(RpcError::NotImplemented(
            "bootstrapCommandOwner: operators come from channels.telegram.operators in the config"
                .into(),
        ));
    }
    crate::telegram::pairing::approve(ctx, &p.request_id, p.notify.unwrap_or(true)).await
}

/// `channels.pairing.dismiss {channel, accountId, requestId}` → `{requestId, senderId}`.
pub async fn pairing_dismiss(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let p: PairingParams = parse_params("channels.pairing.dismiss", params)?;
    telegram_only(&p.channel)?;
    crate::telegram::pairing::dismiss(ctx, &p.request_id).await
}
