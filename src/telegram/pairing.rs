//! Telegram pairing on the executor: codes for unknown users, approval and dismissal.
//!
//! Under `dmPolicy = "pairing"` an unknown user's message is answered with a one-time code
//! (`ask`); nothing reaches the agent. The operator approves it with
//! `openclaw-edge pairing approve CODE`, the `channels.pairing.approve` RPC or `/pairing approve
//! CODE` in chat (`approve`), which stores the user as paired, adds them to the bridge's set and
//! tells them. Codes live `CODE_TTL_MS` (upstream's hour) and at most
//! `limits.telegram_pairing_pending` are live at once; approved users are bounded by
//! `limits.telegram_paired`. The rows are in `store::pairing`.

use std::rc::Rc;

use serde_json::{Value, json};

use super::access;
use super::api::Message;
use super::bridge::{Telegram, active};
use super::send;
use crate::gateway::Ctx;
use crate::rpc::error::RpcError;
use crate::store::pairing::{self as store, Asked, Request};
use crate::store::telegram::Reply;

/// How long a pairing code stays valid (upstream: one hour).
pub const CODE_TTL_MS: u64 = 60 * 60 * 1000;

/// The answer to an unknown user's message: their (new or existing) code.
pub async fn ask(ctx: &Ctx, m: &Message, user_id: i64) -> String {
    let label = m
        .from
        .as_ref()
        .map(|u| match &u.username {
            Some(n) => format!("@{n}"),
            None => u.first_name.clone(),
        })
        .unwrap_or_default();
    let chat_id = m.chat.id;
    let code = access::pairing_code(crate::ids::random_bytes::<5>());
    let now = crate::clock::now_ms();
    let max = ctx.config.limits.telegram_pairing_pending;
    let res = ctx
        .store
        .write(move |db| store::request(db, user_id, chat_id, &label, &code, now, CODE_TTL_MS, max))
        .await;
    match res {
        Ok(Asked::New(r)) | Ok(Asked::Existing(r)) => {
            log::info!(
                "telegram: pairing code issued to user {user_id} ({})",
                r.label
            );
            format!(
                "This bot only talks to people its operator approved.\n\nYour pairing code: {}\n\n\
                 Send it to the operator; they approve it with: openclaw-edge pairing approve {}\n\
                 (the code is valid for one hour; your user id is {user_id})",
                r.code, r.code
            )
        }
        Ok(Asked::Full) => "Too many pairing requests are waiting for the operator right now; \
                            please try again later."
            .into(),
        Err(e) => {
            log::warn!("telegram: cannot store a pairing request: {e}");
            "Pairing is unavailable right now (storage error); please try again later.".into()
        }
    }
}

fn request_json(r: &Request) -> Value {
    let iso = |ms: u64| crate::clock::rfc3339(ms);
    json!({
        "requestId": r.code,
        "channel": "telegram",
        "channelLabel": "Telegram",
        "accountId": "default",
        "senderId": r.user_id.to_string(),
        "senderLabel": if r.label.is_empty() { r.user_id.to_string() } else { r.label.clone() },
        "createdAt": iso(r.created_at),
        "lastSeenAt": iso(r.last_seen_at),
        "expiresAt": iso(r.expires_at),
        "notifySupported": true,
    })
}

fn code_of(input: &str) -> Result<String, RpcError> {
    access::normalize_pairing_code(input).ok_or_else(|| {
        RpcError::InvalidRequest(format!(
            "{input:?} is not a pairing code ({} characters from {})",
            access::PAIRING_CODE_LEN,
            std::str::from_utf8(access::PAIRING_ALPHABET).unwrap_or("")
        ))
    })
}

/// `channels.pairing.list` result for Telegram.
pub async fn list(ctx: &Ctx) -> Result<Value, RpcError> {
    let now = crate::clock::now_ms();
    let rows = ctx.store.read(move |db| store::list(db, now)).await?;
    let configured = ctx.config.telegram.enabled;
    Ok(json!({
        "accounts": if configured {
            vec![json!({"channel": "telegram", "channelLabel": "Telegram", "accountId": "default",
                        "notifySupported": true})]
        } else {
            Vec::new()
        },
        "requests": rows.iter().map(request_json).collect::<Vec<_>>(),
        "commandOwnerConfigured": !ctx.config.telegram.operators.is_empty(),
        "limits": {"pendingPerAccount": ctx.config.limits.telegram_pairing_pending,
                   "ttlMs": CODE_TTL_MS},
    }))
}

/// Approves a code; tells the user when `notify` (and the bridge runs). The result follows
/// upstream's `ChannelsPairingApproveResult`.
pub async fn approve(ctx: &Ctx, code: &str, notify: bool) -> Result<Value, RpcError> {
    let code = code_of(code)?;
    let now = crate::clock::now_ms();
    let max = ctx.config.limits.telegram_paired;
    let r = ctx
        .store
        .write(move |db| store::approve(db, &code, now, max))
        .await?;
    log::info!(
        "telegram: user {} ({}) paired with code {}",
        r.user_id,
        r.label,
        r.code
    );
    let tg = active();
    if let Some(tg) = &tg {
        tg.add_paired(r.user_id);
    }
    let notification = match (&tg, notify) {
        (_, false) => "not-requested",
        (None, true) => "unsupported",
        (Some(tg), true) => {
            let reply = Reply {
                chat_id: r.chat_id,
                chunks: vec!["You are approved: you can talk to this bot now.".into()],
                ..Reply::default()
            };
            if send::notify(ctx, tg, reply).await {
                "sent"
            } else {
                "failed"
            }
        }
    };
    Ok(json!({
        "requestId": r.code,
        "senderId": r.user_id.to_string(),
        "notification": notification,
        "commandOwnerBootstrap": "not-requested",
    }))
}

/// Dismisses a code.
pub async fn dismiss(ctx: &Ctx, code: &str) -> Result<Value, RpcError> {
    let code = code_of(code)?;
    let now = crate::clock::now_ms();
    let r = ctx
        .store
        .write(move |db| store::dismiss(db, &code, now))
        .await?;
    Ok(json!({"requestId": r.code, "senderId": r.user_id.to_string()}))
}

/// Loads the paired users into the bridge at start.
pub async fn load(ctx: &Ctx, tg: &Rc<Telegram>) {
    let max = ctx.config.limits.telegram_paired;
    match ctx.store.read(move |db| store::paired(db, max)).await {
        Ok(ids) => ids.into_iter().for_each(|id| tg.add_paired(id)),
        Err(e) => log::warn!("telegram: cannot read paired users: {e}"),
    }
}
