//! Usage methods: `sessions.usage`, `sessions.usage.timeseries`, `sessions.usage.logs`,
//! `usage.cost` and `usage.status` (PROTOCOL.md §7.2, `SessionsUsageParams` in the schema).
//!
//! Every number comes from the usage rows runs recorded in the store; nothing is estimated. Cost
//! is computed per `(provider, model)` group from `[[pricing]]`, then summed, so mixed days and
//! sessions are priced exactly. Unpriced calls count in `missingCostEntries`; `totalCost` is
//! `null` only when no call of the group is priced. Days are UTC days (`mode: "gateway"` too);
//! other time zones are refused. Every list is bounded; a cut scan says `truncated: true`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::clock::{now_ms, rfc3339};
use crate::config::Price;
use crate::gateway::Ctx;
use crate::rpc::error::RpcError;
use crate::rpc::system::parse_params;
use crate::sessions::SessionKey;
use crate::store::usage::Filter;
use crate::store::{Db, Store, StoreError};

/// Most sessions one `sessions.usage` call lists (default 50); larger `limit`s are clamped.
pub const SESSIONS_MAX_LIMIT: usize = 500;
/// Most `(provider, model)` groups reported in `byModel`; the rest still count in `totals`.
pub const MAX_MODEL_GROUPS: usize = 100;
/// Most daily buckets reported (the newest are kept); a little over a year.
pub const MAX_DAYS: usize = 400;
/// Most entries one `sessions.usage.logs` call returns (default 100); larger `limit`s are clamped.
pub const LOGS_MAX_LIMIT: usize = 1000;

/// Most rows one grouped scan reads (one row per `(day or session, provider, model)`); past it
/// the last, possibly partial, group is dropped and the result says `truncated`.
const MAX_SCAN_ROWS: usize = 5000;
const DAY_MS: i64 = 86_400_000;
/// What every handler and summary returns.
type Reply = Result<Value, RpcError>;
/// Wire names of the four token counters, in `tok` order.
const TOKEN_NAMES: [&str; 4] = ["input", "output", "cacheRead", "cacheWrite"];

/// USD for the given token counts of one provider/model pair, from per-million prices.
///
/// Cache prices fall back to the input price; a pair without a `[[pricing]]` entry is `None`
/// (unknown, never zero). Rounded to 1e-6 USD.
pub fn cost_of(
    prices: &[Price],
    provider: &str,
    model: &str,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
) -> Option<f64> {
    let hit = |p: &&Price| p.provider == provider && p.model == model;
    let p = prices.iter().find(hit)?;
    let usd = input as f64 * p.input_per_mtok
        + output as f64 * p.output_per_mtok
        + cache_read as f64 * p.cache_read_per_mtok.unwrap_or(p.input_per_mtok)
        + cache_write as f64 * p.cache_write_per_mtok.unwrap_or(p.input_per_mtok);
    Some(round6(usd / 1_000_000.0))
}

fn round6(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

/// Token sums of one `(key, provider, model)` group; `key` is a day, a session key or empty.
#[derive(Debug, Clone, Default, PartialEq)]
struct Row {
    key: String,
    provider: String,
    model: String,
    calls: u64,
    /// Input, output, cache-read and cache-write tokens.
    tok: [u64; 4],
    last_ts: u64,
}

/// How a scan groups besides `(provider, model)`, as `[key, order]` SQL fragments (fixed text,
/// never request data): nothing (largest model first), UTC day (newest first), session key
/// (largest session first, its models together, so a capped scan still holds the top sessions).
const BY_MODEL: [&str; 2] = ["''", "sum(input_tokens) + sum(output_tokens) DESC"];
const BY_DAY: [&str; 2] = ["strftime('%Y-%m-%d', ts / 1000, 'unixepoch')", "1 DESC"];
const BY_SESSION: [&str; 2] = ["session_key", SESSION_ORDER];
const SESSION_ORDER: &str =
    "sum(sum(input_tokens) + sum(output_tokens)) OVER (PARTITION BY session_key) DESC, 1";

/// The one query this module adds: token sums per `(key, provider, model)` under `f` (failed
/// model calls, rows with an `error_kind`, are not usage).
fn scan(db: &Db, f: &Filter, [key, order]: [&str; 2]) -> Result<Vec<Row>, StoreError> {
    let sql = format!(
        "SELECT {key}, provider, model, count(*), sum(input_tokens), sum(output_tokens), \
         sum(cache_read_tokens), sum(cache_write_tokens), max(ts) FROM usage \
         WHERE ts >= ?1 AND (?2 = 0 OR ts < ?2) AND (?3 IS NULL OR session_key = ?3) \
         AND (?4 IS NULL OR agent_id = ?4) AND error_kind IS NULL \
         GROUP BY 1, 2, 3 ORDER BY {order}, 2, 3 LIMIT ?5"
    );
    let mut stmt = db.conn.prepare_cached(&sql)?;
    let (since, until) = (f.since as i64, f.until as i64);
    let (key, agent, cap) = (&f.session_key, &f.agent_id, MAX_SCAN_ROWS as i64);
    let args = (since, until, key, agent, cap);
    let rows = stmt.query_map(args, |r| {
        let n = |i| r.get::<_, i64>(i).map(|v| v as u64);
        let mut row = Row::default();
        (row.key, row.provider, row.model) = (r.get(0)?, r.get(1)?, r.get(2)?);
        (row.calls, row.tok, row.last_ts) = (n(3)?, [n(4)?, n(5)?, n(6)?, n(7)?], n(8)?);
        Ok(row)
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Counters and cost of a group of rows.
#[derive(Debug, Clone, Default, PartialEq)]
struct Agg {
    calls: u64,
    tok: [u64; 4],
    /// USD of the priced calls only.
    cost: f64,
    priced_calls: u64,
    /// Calls whose model has no price.
    missing: u64,
    last_ts: u64,
}

impl Agg {
    fn add(&mut self, prices: &[Price], r: &Row) {
        self.calls += r.calls;
        self.tok.iter_mut().zip(r.tok).for_each(|(a, b)| *a += b);
        self.last_ts = self.last_ts.max(r.last_ts);
        let [i, o, cr, cw] = r.tok;
        match cost_of(prices, &r.provider, &r.model, i, o, cr, cw) {
            Some(usd) => {
                self.cost += usd;
                self.priced_calls += r.calls;
            }
            None => self.missing += r.calls,
        }
    }

    fn total_tokens(&self) -> u64 {
        self.tok.iter().sum()
    }

    /// `None` only when calls exist and none of them is priced.
    fn total_cost(&self) -> Option<f64> {
        (self.priced_calls > 0 || self.missing == 0).then(|| round6(self.cost))
    }

    /// The counters as a JSON object, after `extra` fields (e.g. `date`, `provider`/`model`).
    fn to_json(&self, extra: &[(&str, &str)]) -> Value {
        let mut m: Map<String, Value> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        for (name, n) in TOKEN_NAMES.iter().zip(self.tok) {
            m.insert((*name).into(), json!(n));
        }
        m.insert("totalTokens".into(), json!(self.total_tokens()));
        m.insert("totalCost".into(), json!(self.total_cost()));
        m.insert("calls".into(), json!(self.calls));
        m.insert("missingCostEntries".into(), json!(self.missing));
        Value::Object(m)
    }
}

/// Rows summed per key, in scan order; `true` when the scan hit its cap (its last, possibly
/// partial, key is then dropped rather than reported short).
fn grouped(prices: &[Price], rows: &[Row]) -> (Vec<(String, Agg)>, bool) {
    let full = rows.len() >= MAX_SCAN_ROWS;
    let cut = rows.last().filter(|_| full).map(|r| r.key.as_str());
    let mut out: Vec<(String, Agg)> = Vec::new();
    for r in rows.iter().filter(|r| Some(r.key.as_str()) != cut) {
        if out.last().is_none_or(|(k, _)| *k != r.key) {
            out.push((r.key.clone(), Agg::default()));
        }
        if let Some((_, a)) = out.last_mut() {
            a.add(prices, r);
        }
    }
    (out, full)
}

/// Daily buckets, oldest first, from a `BY_DAY` scan (at most `MAX_DAYS`, the newest).
fn daily(prices: &[Price], rows: &[Row]) -> (Vec<Value>, bool) {
    let (mut days, cut) = grouped(prices, rows);
    let more = days.len() > MAX_DAYS;
    days.truncate(MAX_DAYS);
    let json = |(d, a): &(String, Agg)| a.to_json(&[("date", d)]);
    (days.iter().rev().map(json).collect(), cut || more)
}

/// `totals`, `byModel` and `daily` from a `BY_MODEL` and a `BY_DAY` scan, and whether cut.
type Aggregates = (Value, Vec<Value>, Vec<Value>, bool);

fn aggregates(prices: &[Price], models: &[Row], days: &[Row]) -> Aggregates {
    let mut total = Agg::default();
    let mut groups = Vec::with_capacity(models.len().min(MAX_MODEL_GROUPS));
    for r in models {
        total.add(prices, r);
        if groups.len() < MAX_MODEL_GROUPS {
            let mut a = Agg::default();
            a.add(prices, r);
            groups.push(a.to_json(&[("provider", &r.provider), ("model", &r.model)]));
        }
    }
    let (daily, days_cut) = daily(prices, days);
    let cut = days_cut || models.len() >= MAX_SCAN_ROWS;
    (total.to_json(&[]), groups, daily, cut)
}

/// An inclusive range of UTC days, counted from 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayRange {
    start: i64,
    end: i64,
}

impl DayRange {
    /// The days a filter built by `filter` covers.
    fn of(f: &Filter) -> DayRange {
        let (start, end) = (f.since as i64 / DAY_MS, f.until as i64 / DAY_MS - 1);
        DayRange { start, end }
    }

    fn filter(&self, session_key: Option<String>, agent_id: Option<String>) -> Filter {
        let since = (self.start * DAY_MS) as u64;
        let until = ((self.end + 1) * DAY_MS) as u64;
        Filter {
            since,
            until,
            session_key,
            agent_id,
        }
    }

    fn dates(&self) -> (String, String) {
        (day_string(self.start), day_string(self.end))
    }
}

/// Days a `range` covers; `None` is `all`.
fn parse_span(raw: &str) -> Result<Option<i64>, String> {
    match raw {
        "7d" => Ok(Some(7)),
        "30d" => Ok(Some(30)),
        "90d" => Ok(Some(90)),
        "1y" => Ok(Some(365)),
        "all" => Ok(None),
        _ => Err(format!("range {raw:?}: use 7d, 30d, 90d, 1y or all")),
    }
}

/// Days since 1970-01-01 of a strict `YYYY-MM-DD` date from 1970 on.
fn parse_day(raw: &str) -> Option<i64> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digit = |n: i64, c: &u8| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'));
    let num = |r: std::ops::Range<usize>| b[r].iter().try_fold(0, digit);
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 28 + i64::from(leap),
        _ => return None,
    };
    if y < 1970 || d < 1 || d > month_days {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let (era, doy) = (y.div_euclid(400), (153 * ((m + 9) % 12) + 2) / 5 + d - 1);
    let yoe = y - era * 400;
    Some(era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468)
}

fn day_string(day: i64) -> String {
    rfc3339((day.max(0) * DAY_MS) as u64)[..10].to_string()
}

/// The day range from `[startDate, endDate]` (inclusive), or else `span` days ending at
/// `endDate` or `today` (`span` `None`: from 1970).
fn resolve_range(
    dates: [Option<&str>; 2],
    span: Option<i64>,
    today: i64,
) -> Result<DayRange, String> {
    let [start, end] = dates;
    let day = |name: &str, raw: &str| {
        let msg = || format!("{name} {raw:?} is not a date YYYY-MM-DD (from 1970-01-01)");
        parse_day(raw).ok_or_else(msg)
    };
    let end = end.map_or(Ok(today), |e| day("endDate", e))?;
    let start = match start {
        Some(s) => day("startDate", s)?,
        None => span.map_or(0, |n| (end - n + 1).max(0)),
    };
    if end < start {
        let (s, e) = (DayRange { start, end }).dates();
        return Err(format!("endDate {e} is before startDate {s}"));
    }
    Ok(DayRange { start, end })
}

/// `startDate` and `endDate` of a request.
type Dates = [Option<String>; 2];

/// `resolve_range` for a method's params, ending today.
fn range_param(m: &str, [start, end]: Dates, span: Option<i64>) -> Result<DayRange, RpcError> {
    let today = now_ms() as i64 / DAY_MS;
    resolve_range([start.as_deref(), end.as_deref()], span, today).map_err(|e| bad(m, e))
}

fn bad(method: &str, msg: impl std::fmt::Display) -> RpcError {
    RpcError::InvalidRequest(format!("invalid {method} params: {msg}"))
}

/// `limit` clamped to `max`; zero is refused.
fn limit_param(m: &str, raw: Option<u64>, default: usize, max: usize) -> Result<usize, RpcError> {
    match raw {
        Some(0) => Err(bad(m, "limit must be at least 1")),
        Some(n) => Ok(n.min(max as u64) as usize),
        None => Ok(default),
    }
}

/// Checks `mode`/`timeZone`/`utcOffset`: only UTC day boundaries are supported.
fn check_utc(mode: Option<&str>, tz: Option<&str>, offset: Option<&str>) -> Result<(), String> {
    const ZERO: [&str; 4] = ["0", "00", "0:00", "00:00"];
    if let Some(m) = mode.filter(|m| !matches!(*m, "utc" | "gateway" | "specific")) {
        return Err(format!("mode {m:?} must be utc, gateway or specific"));
    }
    if let Some(tz) = tz.filter(|tz| !matches!(*tz, "UTC" | "Etc/UTC")) {
        return Err(format!("timeZone {tz:?} not supported (UTC only)"));
    }
    let zero = |o: &str| matches!(o.get(..4), Some("UTC+" | "UTC-")) && ZERO.contains(&&o[4..]);
    match offset.filter(|o| !zero(o)) {
        Some(o) => Err(format!("utcOffset {o:?} not supported (UTC only)")),
        None => Ok(()),
    }
}

/// Checked `(key, agentId)` of a request.
type Scope = (Option<String>, Option<String>);

/// `agentId` (trimmed, lowercase) and the canonical `key` (parsed with `agentId`, if given, as
/// its default agent, like upstream); a key of another agent is refused.
fn scope(ctx: &Ctx, m: &str, key: Option<&str>, agent: Option<String>) -> Result<Scope, RpcError> {
    let agent = agent.map(|a| a.trim().to_ascii_lowercase());
    if agent.as_ref().is_some_and(|a| a.is_empty() || a.len() > 64) {
        return Err(bad(m, "agentId must be 1-64 bytes"));
    }
    let Some(raw) = key else {
        return Ok((None, agent));
    };
    let c = &ctx.config.agent;
    let default = agent.as_deref().unwrap_or(&c.default_id);
    let key = SessionKey::parse(raw, default, &c.main_key)
        .map_err(|e| RpcError::InvalidRequest(e.to_string()))?;
    if let (Some(want), Some(got)) = (agent.as_deref(), key.agent_id())
        && want != got
    {
        let msg = "session key agent does not match agentId";
        return Err(RpcError::InvalidRequest(msg.into()));
    }
    Ok((Some(key.as_str().to_string()), agent))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UsageParams {
    key: Option<String>,
    agent_id: Option<String>,
    agent_scope: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    mode: Option<String>,
    range: Option<String>,
    group_by: Option<String>,
    include_historical: Option<bool>,
    utc_offset: Option<String>,
    time_zone: Option<String>,
    limit: Option<u64>,
    include_context_weight: Option<bool>,
}

/// `sessions.usage`: per-session usage plus totals, per-model and daily aggregates.
///
/// Scope follows upstream: `agentScope: "all"` covers every agent (and excludes `key`/`agentId`),
/// otherwise `agentId`, the key's agent or the default agent. Usage is keyed by session key, so
/// calls from before a reset stay with their key whatever `groupBy` asks. Sessions with usage in
/// the range are listed, largest token total first. `includeContextWeight` is accepted; no
/// context weight is reported. `mode: "gateway"` means UTC days: the gateway keeps UTC days.
pub async fn sessions_usage(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    const M: &str = "sessions.usage";
    let p: UsageParams = parse_params(M, params)?;
    let tz = p.time_zone.as_deref();
    check_utc(p.mode.as_deref(), tz, p.utc_offset.as_deref()).map_err(|e| bad(M, e))?;
    let groups = ["instance", "family"];
    if let Some(g) = p.group_by.filter(|g| !groups.contains(&g.as_str())) {
        return Err(bad(M, format!("groupBy {g:?} must be instance or family")));
    }
    let _ = (p.include_historical, p.include_context_weight);
    let all_agents = match p.agent_scope.as_deref() {
        None => false,
        Some("all") => true,
        Some(s) => return Err(bad(M, format!("agentScope {s:?} must be all"))),
    };
    if all_agents && (p.agent_id.is_some() || p.key.is_some()) {
        let msg = "agentScope=all cannot be combined with key or agentId";
        return Err(RpcError::InvalidRequest(msg.into()));
    }
    let (key, agent) = scope(ctx, M, p.key.as_deref(), p.agent_id)?;
    let agent = match (all_agents, &key, agent) {
        (true, _, _) => None,
        (false, Some(_), a) => a,
        (false, None, a) => Some(a.unwrap_or_else(|| ctx.config.agent.default_id.clone())),
    };
    let limit = limit_param(M, p.limit, 50, SESSIONS_MAX_LIMIT)?;
    let span = parse_span(p.range.as_deref().unwrap_or("30d")).map_err(|e| bad(M, e))?;
    let f = range_param(M, [p.start_date, p.end_date], span)?.filter(key, agent);
    usage_summary(&ctx.store, &ctx.config.pricing, f, limit).await
}

/// The `sessions.usage` result for `f` (whose bounds are whole UTC days).
async fn usage_summary(store: &Store, prices: &[Price], f: Filter, limit: usize) -> Reply {
    let range = DayRange::of(&f);
    let scans = store.read(move |db| {
        let [m, d, s] = [BY_MODEL, BY_DAY, BY_SESSION].map(|by| scan(db, &f, by));
        Ok((m?, d?, s?))
    });
    let (models, days, by_session) = scans.await?;
    let (totals, by_model, daily, mut truncated) = aggregates(prices, &models, &days);
    let (mut sessions, cut) = grouped(prices, &by_session);
    truncated |= cut && sessions.len() < limit;
    sessions.truncate(limit);
    let keys: Vec<String> = sessions.iter().map(|(k, _)| k.clone()).collect();
    let get = move |db: &mut Db| {
        let rows = keys.iter().map(|k| crate::store::sessions::get(db, k));
        rows.collect::<Result<Vec<_>, _>>()
    };
    let rows = store.read(get).await?;
    let mut list = Vec::with_capacity(sessions.len());
    for ((key, a), row) in sessions.iter().zip(rows) {
        let mut s = json!({"key": key, "usage": a.to_json(&[])});
        if let Some(row) = row {
            s["sessionId"] = json!(row.session_id);
            s["agentId"] = json!(row.agent_id);
            s["updatedAt"] = json!(row.updated_at);
            if let Some(l) = row.label {
                s["label"] = json!(l);
            }
        }
        list.push(s);
    }
    let (start, end) = range.dates();
    Ok(json!({
        "updatedAt": now_ms(), "startDate": start, "endDate": end, "sessions": list,
        "totals": totals, "aggregates": {"byModel": by_model, "daily": daily}, "truncated": truncated,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeseriesParams {
    key: Option<String>,
    agent_id: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    range: Option<String>,
}

/// `sessions.usage.timeseries`: one session's usage as daily points (days with data only).
///
/// Without dates or `range` it covers the session's whole history (`range: "all"`), because a
/// chart of one session should start at its first call; at most the newest `MAX_DAYS` days.
pub async fn sessions_usage_timeseries(
    ctx: &Ctx,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    const M: &str = "sessions.usage.timeseries";
    let p: TimeseriesParams = parse_params(M, params)?;
    let raw = p.key.ok_or_else(|| bad(M, "key is required"))?;
    let (key, agent) = scope(ctx, M, Some(&raw), p.agent_id)?;
    let span = parse_span(p.range.as_deref().unwrap_or("all")).map_err(|e| bad(M, e))?;
    let f = range_param(M, [p.start_date, p.end_date], span)?.filter(key, agent);
    timeseries(&ctx.store, &ctx.config.pricing, f).await
}

async fn timeseries(store: &Store, prices: &[Price], f: Filter) -> Reply {
    let key = f.session_key.clone();
    let rows = store.read(move |db| scan(db, &f, BY_DAY)).await?;
    let (points, truncated) = daily(prices, &rows);
    Ok(json!({"key": key, "points": points, "truncated": truncated}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogsParams {
    key: Option<String>,
    agent_id: Option<String>,
    limit: Option<u64>,
}

/// `sessions.usage.logs`: one session's recorded model calls, newest first.
pub async fn sessions_usage_logs(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    const M: &str = "sessions.usage.logs";
    let p: LogsParams = parse_params(M, params)?;
    let raw = p.key.ok_or_else(|| bad(M, "key is required"))?;
    let (session_key, agent_id) = scope(ctx, M, Some(&raw), p.agent_id)?;
    let limit = limit_param(M, p.limit, 100, LOGS_MAX_LIMIT)?;
    let mut f = Filter::default();
    (f.session_key, f.agent_id) = (session_key, agent_id);
    log_page(&ctx.store, &ctx.config.pricing, f, limit).await
}

async fn log_page(store: &Store, prices: &[Price], f: Filter, limit: usize) -> Reply {
    let key = f.session_key.clone();
    let recs = store.read(move |db| crate::store::usage::logs(db, &f, limit));
    let mut logs = Vec::with_capacity(limit);
    for u in recs.await? {
        let (i, o) = (u.input_tokens, u.output_tokens);
        let (cr, cw) = (u.cache_read_tokens, u.cache_write_tokens);
        let cost = cost_of(prices, &u.provider, &u.model, i, o, cr, cw);
        let mut v = json!({
            "ts": u.ts, "provider": u.provider, "model": u.model, "totalTokens": i + o + cr + cw,
            "durationMs": u.duration_ms, "cost": cost, "sessionId": u.session_id,
        });
        for (name, n) in TOKEN_NAMES.iter().zip([i, o, cr, cw]) {
            v[*name] = json!(n);
        }
        if let Some(r) = u.run_id {
            v["runId"] = json!(r);
        }
        logs.push(v);
    }
    Ok(json!({"key": key, "logs": logs}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CostParams {
    days: Option<i64>,
    agent_id: Option<String>,
    all_agents: Option<bool>,
    start_date: Option<String>,
    end_date: Option<String>,
}

/// `usage.cost`: daily, total and per-model token usage and cost.
///
/// Scope: `agentId`, or every agent with `allAgents: true`, or else the default agent (upstream's
/// default). Computed from the store on every call, so `cacheStatus` is always `fresh`.
pub async fn usage_cost(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    const M: &str = "usage.cost";
    let p: CostParams = parse_params(M, params)?;
    let days = p.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(bad(M, format!("days {days} must be 1-366")));
    }
    let (_, agent) = scope(ctx, M, None, p.agent_id)?;
    let agent = match (p.all_agents.unwrap_or(false), agent) {
        (true, Some(_)) => return Err(bad(M, "agentId and allAgents cannot be combined")),
        (true, None) => None,
        (false, a) => Some(a.unwrap_or_else(|| ctx.config.agent.default_id.clone())),
    };
    let f = range_param(M, [p.start_date, p.end_date], Some(days))?.filter(None, agent);
    cost_summary(&ctx.store, &ctx.config.pricing, f).await
}

async fn cost_summary(store: &Store, prices: &[Price], f: Filter) -> Reply {
    let range = DayRange::of(&f);
    let scans = store.read(move |db| Ok((scan(db, &f, BY_MODEL)?, scan(db, &f, BY_DAY)?)));
    let (models, days) = scans.await?;
    let (totals, by_model, daily, truncated) = aggregates(prices, &models, &days);
    let (now, (start, end)) = (now_ms(), range.dates());
    let cache = json!({"status": "fresh", "source": "store", "computedAt": now});
    Ok(json!({
        "updatedAt": now, "days": range.end - range.start + 1, "startDate": start, "endDate": end,
        "daily": daily, "totals": totals, "byModel": by_model, "cacheStatus": cache,
        "truncated": truncated,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StatusParams {}

/// `usage.status`: per-provider call and token totals of the last 30 days.
///
/// Upstream reports provider quota windows (plan limits) fetched from each provider's API. This
/// gateway has no such source, so `windows` is always empty: quota numbers are never invented.
pub async fn usage_status(ctx: &Ctx, params: Option<Value>) -> Result<Value, RpcError> {
    let StatusParams {} = parse_params("usage.status", params)?;
    let range = range_param("usage.status", [None, None], Some(30))?;
    provider_status(&ctx.store, range).await
}

async fn provider_status(store: &Store, range: DayRange) -> Reply {
    let f = range.filter(None, None);
    let rows = store.read(move |db| scan(db, &f, BY_MODEL)).await?;
    let mut by_provider: BTreeMap<&str, Agg> = BTreeMap::new();
    for r in &rows {
        by_provider.entry(&r.provider).or_default().add(&[], r);
    }
    let mut providers = Vec::with_capacity(by_provider.len());
    for (p, a) in by_provider {
        let [input, output, ..] = a.tok;
        let usage = json!({"calls": a.calls, "input": input, "output": output,
            "totalTokens": a.total_tokens()});
        providers.push(json!({
            "provider": p, "displayName": p, "windows": [], "usage": usage, "lastUsedAt": a.last_ts,
        }));
    }
    let truncated = rows.len() >= MAX_SCAN_ROWS;
    Ok(json!({"updatedAt": now_ms(), "providers": providers, "truncated": truncated}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::usage::{UsageRecord, record};

    fn gpt_price(cache_read: Option<f64>) -> Price {
        let v = json!({"provider": "openai", "model": "gpt", "input_per_mtok": 2.0,
            "output_per_mtok": 8.0, "cache_read_per_mtok": cache_read});
        serde_json::from_value(v).unwrap()
    }

    fn row(key: &str, model: &str, calls: u64, input: u64) -> Row {
        let mut r = Row::default();
        (r.key, r.provider, r.model) = (key.into(), "openai".into(), model.into());
        (r.calls, r.tok[0]) = (calls, input);
        r
    }

    /// Asserts that each JSON pointer in `want` holds its value in `v`.
    fn check(v: &Value, want: Value) {
        let want = want.as_object().filter(|w| !w.is_empty()).expect("cases");
        for (path, w) in want {
            assert_eq!(v.pointer(path), Some(w), "{path} in {v}");
        }
    }

    #[test]
    fn cost_of_prices_falls_back_and_refuses_unknown() {
        let p = [gpt_price(Some(0.5))];
        let cases = [
            ("gpt", [1_000_000, 500_000, 0, 0], Some(6.0)),
            // Cache read has its own price; cache write falls back to the input price.
            ("gpt", [0, 0, 2_000_000, 1_000_000], Some(3.0)),
            ("gpt", [1, 0, 0, 0], Some(0.000002)),
            ("other", [1, 1, 0, 0], None),
        ];
        for (model, [i, o, cr, cw], want) in cases {
            assert_eq!(cost_of(&p, "openai", model, i, o, cr, cw), want, "{model}");
        }
        assert_eq!(cost_of(&p, "anthropic", "gpt", 1, 1, 0, 0), None);
    }

    #[test]
    fn dates_ranges_and_zones_parse_strictly() {
        let march = parse_day("2024-03-01").map(day_string);
        assert_eq!(
            (parse_day("1970-01-01"), march),
            (Some(0), Some("2024-03-01".into()))
        );
        for bad in "2023-02-29 2024-13-01 2024-1-01 1969-12-31 2024-01-0x".split(' ') {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        let t = parse_day("2024-05-31").unwrap();
        // startDate endDate range => startDate endDate ("-": not given).
        let cases = [
            "2024-05-01 2024-05-10 30d 2024-05-01 2024-05-10",
            "- - 7d 2024-05-25 2024-05-31",
            "- 2024-01-10 30d 2023-12-12 2024-01-10",
            "2024-02-28 - 7d 2024-02-28 2024-05-31",
            "- - all 1970-01-01 2024-05-31",
        ];
        for case in cases {
            let w: Vec<&str> = case.split(' ').collect();
            let opt = |s: &'static str| (s != "-").then_some(s);
            let r = resolve_range([opt(w[0]), opt(w[1])], parse_span(w[2]).unwrap(), t).unwrap();
            assert_eq!(r.dates(), (w[3].to_string(), w[4].to_string()), "{case}");
            assert_eq!(DayRange::of(&r.filter(None, None)), r, "{case}");
        }
        assert!(parse_span("2w").is_err());
        let err = |s, e| resolve_range([Some(s), Some(e)], None, t).unwrap_err();
        let before = "endDate 2024-05-01 is before startDate 2024-05-10";
        assert_eq!(err("2024-05-10", "2024-05-01"), before);
        assert!(err("2024/05/10", "2024-05-11").starts_with("startDate \"2024/05/10\" is not"));
        let e = range_param("usage.cost", [None, Some("x".into())], None).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert!(msg.starts_with("invalid usage.cost params: endDate"));

        assert_eq!(check_utc(Some("gateway"), Some("UTC"), None), Ok(()));
        assert_eq!(check_utc(Some("specific"), None, Some("UTC-00:00")), Ok(()));
        let tz = check_utc(None, Some("Europe/Berlin"), None).unwrap_err();
        assert_eq!(tz, "timeZone \"Europe/Berlin\" not supported (UTC only)");
        let offset = check_utc(None, None, Some("UTC+2")).unwrap_err();
        assert_eq!(offset, "utcOffset \"UTC+2\" not supported (UTC only)");
        assert!(check_utc(Some("local"), None, None).is_err());
    }

    #[test]
    fn group_cost_sums_priced_part_and_counts_missing() {
        let prices = [gpt_price(None)];
        let mut mixed = Agg::default();
        mixed.add(&prices, &row("", "gpt", 2, 1_000_000));
        mixed.add(&prices, &row("", "llama", 3, 500));
        assert_eq!((mixed.total_cost(), mixed.missing), (Some(2.0), 3));
        let mut unpriced = Agg::default();
        unpriced.add(&prices, &row("", "llama", 1, 10));
        assert_eq!((unpriced.total_cost(), unpriced.missing), (None, 1));
        assert_eq!(unpriced.to_json(&[])["totalCost"], Value::Null);
        let empty = Agg::default().total_cost();
        assert_eq!(empty, Some(0.0), "no calls: nothing unpriced");

        // A scan that hit its cap drops its last (oldest, maybe partial) day.
        let mut rows = vec![row("2024-05-02", "a", 1, 1); MAX_SCAN_ROWS - 1];
        rows.push(row("2024-05-01", "a", 1, 1));
        let (days, cut) = daily(&[], &rows);
        assert_eq!((days.len(), cut), (1, true));
        assert_eq!(days[0]["calls"], MAX_SCAN_ROWS - 1);
    }

    fn rec(ts: u64, key: &str, provider: &str, model: &str, input: u64) -> UsageRecord {
        let mut u = UsageRecord::default();
        (u.ts, u.input_tokens, u.output_tokens) = (ts, input, input / 2);
        (u.session_key, u.session_id) = (key.into(), "sid".into());
        (u.provider, u.model) = (provider.into(), model.into());
        u.agent_id = key.split(':').nth(1).unwrap_or_default().into();
        u
    }

    #[test]
    fn aggregates_from_a_real_store() {
        let dir = std::env::temp_dir().join(format!("oce-usage-{}", crate::ids::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir, &crate::config::Limits::default()).unwrap();
        let prices = [gpt_price(None)];
        let d1 = parse_day("2024-05-01").unwrap() as u64 * DAY_MS as u64;
        let d2 = d1 + DAY_MS as u64;
        let range = resolve_range([Some("2024-05-01"), Some("2024-05-02")], None, 0).unwrap();
        smol::block_on(async {
            for r in [
                rec(d1 + 1, "agent:main:x", "openai", "gpt", 1_000_000),
                rec(d1 + 2, "agent:main:x", "local", "llama", 400),
                rec(d2 + 3, "agent:main:b", "local", "llama", 100),
                rec(d2 + 4, "agent:ops:c", "openai", "gpt", 10),
                // A failed model call is not usage: no answer below changes because of it.
                UsageRecord {
                    error_kind: Some("status_503".into()),
                    duration_ms: 40,
                    ..rec(d2 + 5, "agent:main:x", "openai", "gpt", 0)
                },
            ] {
                store.write(move |db| record(db, &r)).await.unwrap();
            }
            let f = range.filter(None, Some("main".into()));
            let v = usage_summary(&store, &prices, f, 10).await.unwrap();
            let want = json!({
                "/startDate": "2024-05-01", "/endDate": "2024-05-02", "/truncated": false,
                "/totals/input": 1_000_500, "/totals/totalCost": 6.0,
                "/totals/missingCostEntries": 2, "/sessions/0/key": "agent:main:x",
                "/sessions/0/usage/totalCost": 6.0, "/sessions/0/usage/missingCostEntries": 1,
                // Session b and day 2 have only unpriced calls.
                "/sessions/1/usage/totalCost": null, "/aggregates/daily/1/totalCost": null,
                "/aggregates/daily/0/date": "2024-05-01", "/aggregates/byModel/0/model": "gpt",
            });
            check(&v, want);
            assert_eq!(v["sessions"].as_array().map(Vec::len), Some(2));
            let c = cost_summary(&store, &prices, range.filter(None, None));
            let want = json!({
                "/days": 2, "/totals/calls": 4, "/cacheStatus/status": "fresh",
                // Day 2: llama unpriced, gpt 10 in + 5 out.
                "/daily/1/totalCost": 0.00006, "/daily/1/missingCostEntries": 1,
            });
            check(&c.await.unwrap(), want);
            let key = Some("agent:main:x".to_string());
            let ts = timeseries(&store, &prices, range.filter(key.clone(), None)).await;
            let want = json!({"/points/0/totalTokens": 1_500_600, "/key": "agent:main:x"});
            check(ts.as_ref().unwrap(), want);
            assert_eq!(ts.unwrap()["points"].as_array().map(Vec::len), Some(1));
            let logs = log_page(&store, &prices, range.filter(key, None), 10).await;
            let want = json!({
                "/logs/0/model": "llama", "/logs/0/cost": null, "/logs/1/cost": 6.0,
                "/logs/1/totalTokens": 1_500_000, "/logs/1/sessionId": "sid",
            });
            check(&logs.unwrap(), want);
            let want = json!({
                "/providers/0/provider": "local", "/providers/0/usage/calls": 2,
                "/providers/1/lastUsedAt": d2 + 4, "/providers/1/windows": [],
            });
            check(&provider_status(&store, range).await.unwrap(), want);
        });
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
