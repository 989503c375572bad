//! Usage records: one row per run with its token counts (the aggregates `usage.*` and
//! `sessions.usage*` are computed from these), plus one row per failed model call.
//!
//! Rows are only what runs reported; nothing is estimated here. A failed call's row has its
//! `error_kind` set and zero tokens; every token aggregate skips it, so failures never change
//! usage or cost answers. `model_stats` reads both kinds for `edge.router.plan`. Past
//! `limits.max_usage_rows` the oldest rows are deleted as new ones arrive (by rowid, an index
//! range delete).

use rusqlite::params;

use super::{Db, StoreError};

/// One recorded model call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageRecord {
    /// Time (ms).
    pub ts: u64,
    /// Session key.
    pub session_key: String,
    /// Session id at the time.
    pub session_id: String,
    /// Agent id.
    pub agent_id: String,
    /// Run id.
    pub run_id: Option<String>,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    pub cache_write_tokens: u64,
    /// Run duration (ms); for a failed call, that call's duration.
    pub duration_ms: u64,
    /// `None` for a run's usage; the error kind of a failed model call (its tokens are zero).
    pub error_kind: Option<String>,
    /// Time (ms) the run spent in successful calls to this model (`None`: no model was called,
    /// e.g. the test double).
    pub call_ms: Option<u64>,
    /// How many successful calls to this model `call_ms` covers.
    pub call_count: Option<u64>,
}

/// Inserts a record and prunes the oldest past the cap.
pub fn record(db: &Db, u: &UsageRecord) -> Result<(), StoreError> {
    db.conn.execute(
        "INSERT INTO usage (ts, session_key, session_id, agent_id, run_id, provider, model, \
         input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, duration_ms, \
         error_kind, call_ms, call_count) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            u.ts as i64,
            u.session_key,
            u.session_id,
            u.agent_id,
            u.run_id,
            u.provider,
            u.model,
            u.input_tokens as i64,
            u.output_tokens as i64,
            u.cache_read_tokens as i64,
            u.cache_write_tokens as i64,
            u.duration_ms as i64,
            u.error_kind,
            u.call_ms.map(|v| v as i64),
            u.call_count.map(|v| v as i64)
        ],
    )?;
    let id = db.conn.last_insert_rowid();
    let cap = db.limits.max_usage_rows as i64;
    if id > cap {
        db.conn
            .execute("DELETE FROM usage WHERE id <= ?1", [id - cap])?;
    }
    Ok(())
}

/// Which records an aggregate covers.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// From (ms, inclusive).
    pub since: u64,
    /// Until (ms, exclusive; 0 = now and beyond).
    pub until: u64,
    /// Only this session key.
    pub session_key: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
}

/// Token sums for one group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Totals {
    /// Group label (provider/model pair, day, or session key).
    pub group: (String, String),
    /// Calls.
    pub calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    pub cache_write_tokens: u64,
    /// Summed call time (ms).
    pub duration_ms: u64,
}

/// How totals are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// `(provider, model)`.
    Model,
    /// `(UTC day "YYYY-MM-DD", "")`.
    Day,
    /// `(session key, "")`.
    Session,
}

/// Sums grouped as asked, largest token total first (at most `max_groups` groups); failed
/// calls are not usage and are left out.
pub fn totals(
    db: &Db,
    f: &Filter,
    by: GroupBy,
    max_groups: usize,
) -> Result<Vec<Totals>, StoreError> {
    let group = match by {
        GroupBy::Model => "provider, model",
        GroupBy::Day => "strftime('%Y-%m-%d', ts / 1000, 'unixepoch'), ''",
        GroupBy::Session => "session_key, ''",
    };
    let order = match by {
        GroupBy::Day => "1",
        _ => "(sum(input_tokens) + sum(output_tokens)) DESC",
    };
    let sql = format!(
        "SELECT {group}, count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), \
         sum(cache_write_tokens), sum(duration_ms) FROM usage \
         WHERE ts >= ?1 AND (?2 = 0 OR ts < ?2) AND (?3 IS NULL OR session_key = ?3) \
         AND (?4 IS NULL OR agent_id = ?4) AND error_kind IS NULL \
         GROUP BY 1, 2 ORDER BY {order} LIMIT ?5"
    );
    let mut stmt = db.conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(
            params![
                f.since as i64,
                f.until as i64,
                f.session_key,
                f.agent_id,
                max_groups as i64
            ],
            |r| {
                Ok(Totals {
                    group: (r.get(0)?, r.get(1)?),
                    calls: r.get::<_, i64>(2)? as u64,
                    input_tokens: r.get::<_, i64>(3)? as u64,
                    output_tokens: r.get::<_, i64>(4)? as u64,
                    cache_read_tokens: r.get::<_, i64>(5)? as u64,
                    cache_write_tokens: r.get::<_, i64>(6)? as u64,
                    duration_ms: r.get::<_, i64>(7)? as u64,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The newest `limit` usage records matching `f`, newest first (failed calls left out).
pub fn logs(db: &Db, f: &Filter, limit: usize) -> Result<Vec<UsageRecord>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT ts, session_key, session_id, agent_id, run_id, provider, model, input_tokens, \
         output_tokens, cache_read_tokens, cache_write_tokens, duration_ms FROM usage \
         WHERE ts >= ?1 AND (?2 = 0 OR ts < ?2) AND (?3 IS NULL OR session_key = ?3) \
         AND (?4 IS NULL OR agent_id = ?4) AND error_kind IS NULL ORDER BY id DESC LIMIT ?5",
    )?;
    let rows = stmt
        .query_map(
            params![
                f.since as i64,
                f.until as i64,
                f.session_key,
                f.agent_id,
                limit as i64
            ],
            |r| {
                Ok(UsageRecord {
                    ts: r.get::<_, i64>(0)? as u64,
                    session_key: r.get(1)?,
                    session_id: r.get(2)?,
                    agent_id: r.get(3)?,
                    run_id: r.get(4)?,
                    provider: r.get(5)?,
                    model: r.get(6)?,
                    input_tokens: r.get::<_, i64>(7)? as u64,
                    output_tokens: r.get::<_, i64>(8)? as u64,
                    cache_read_tokens: r.get::<_, i64>(9)? as u64,
                    cache_write_tokens: r.get::<_, i64>(10)? as u64,
                    duration_ms: r.get::<_, i64>(11)? as u64,
                    ..Default::default()
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What the usage table measured of one provider/model pair since some time (`model_stats`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelStats {
    /// Successful model calls (summed `call_count` of the runs' rows).
    pub ok_calls: u64,
    /// Runs (rows) those calls belong to; more than `latencies_ms` holds means the sample is cut.
    pub ok_runs: u64,
    /// Failed model calls.
    pub errors: u64,
    /// Failed calls per error kind, most frequent first.
    pub error_kinds: Vec<(String, u64)>,
    /// Input tokens of the runs answered by this model.
    pub input_tokens: u64,
    /// Output tokens of the runs answered by this model.
    pub output_tokens: u64,
    /// Per-call latency (ms) of the newest runs (`call_ms / call_count`), newest first, at most
    /// the sample size asked for.
    pub latencies_ms: Vec<u64>,
    /// Newest row (ms), success or failure.
    pub last_ts: Option<u64>,
}

/// Calls, failures and the newest `sample` latencies of `provider/model` since `since` (ms).
///
/// Rows without `call_count` (written before schema 7, or by the test double) are left out:
/// they carry no per-call time and had no failure records beside them. Each query is a range of
/// the `usage_by_model` index; the latency sample is the newest `sample` rows, never more.
pub fn model_stats(
    db: &Db,
    provider: &str,
    model: &str,
    since: u64,
    sample: usize,
) -> Result<ModelStats, StoreError> {
    let mut s = ModelStats::default();
    let since = since as i64;
    let mut stmt = db.conn.prepare_cached(
        "SELECT coalesce(sum(call_count), 0), coalesce(sum(input_tokens), 0), \
         coalesce(sum(output_tokens), 0), max(ts), count(*) FROM usage \
         WHERE provider = ?1 AND model = ?2 AND ts >= ?3 AND error_kind IS NULL AND call_count > 0",
    )?;
    let last_ok: Option<i64>;
    (
        s.ok_calls,
        s.input_tokens,
        s.output_tokens,
        last_ok,
        s.ok_runs,
    ) = stmt.query_row(params![provider, model, since], |r| {
        Ok((
            r.get::<_, i64>(0)? as u64,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
            r.get(3)?,
            r.get::<_, i64>(4)? as u64,
        ))
    })?;
    let mut stmt = db.conn.prepare_cached(
        "SELECT error_kind, count(*), max(ts) FROM usage \
         WHERE provider = ?1 AND model = ?2 AND ts >= ?3 AND error_kind IS NOT NULL \
         GROUP BY error_kind ORDER BY 2 DESC, 1",
    )?;
    let mut last_err: Option<i64> = None;
    let kinds = stmt.query_map(params![provider, model, since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for k in kinds {
        let (kind, n, ts) = k?;
        s.errors += n;
        last_err = last_err.max(Some(ts));
        s.error_kinds.push((kind, n));
    }
    s.last_ts = last_ok.max(last_err).map(|t| t as u64);
    let mut stmt = db.conn.prepare_cached(
        "SELECT call_ms, call_count FROM usage \
         WHERE provider = ?1 AND model = ?2 AND ts >= ?3 AND error_kind IS NULL AND call_count > 0 \
         ORDER BY ts DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![provider, model, since, sample as i64], |r| {
        let ms: i64 = r.get::<_, Option<i64>>(0)?.unwrap_or(0);
        let n: i64 = r.get(1)?;
        Ok((ms.max(0) as u64).div_ceil(n.max(1) as u64))
    })?;
    s.latencies_ms = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn model_stats_count_calls_and_failures_and_bound_the_sample() {
        let dir = std::env::temp_dir().join(format!("oce-ustats-{}", crate::ids::uuid_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir, &crate::config::Limits::default()).unwrap();
        let run = |ts: u64, call_ms: u64, calls: u64| UsageRecord {
            ts,
            provider: "p".into(),
            model: "m".into(),
            input_tokens: 30,
            output_tokens: 10,
            call_ms: Some(call_ms),
            call_count: Some(calls),
            ..Default::default()
        };
        let fail = |ts: u64, kind: &str| UsageRecord {
            ts,
            provider: "p".into(),
            model: "m".into(),
            error_kind: Some(kind.into()),
            duration_ms: 5,
            ..Default::default()
        };
        let old = UsageRecord {
            ts: 50,
            provider: "p".into(),
            model: "m".into(),
            input_tokens: 999,
            ..Default::default()
        };
        let rows = vec![
            run(10, 500, 1), // before the window
            old,             // no call_count: not measured
            run(100, 100, 1),
            run(110, 300, 2), // two calls: 150 ms each
            fail(120, "timeout"),
            fail(130, "status_503"),
            fail(140, "status_503"),
            run(150, 70, 1),
        ];
        let s = smol::block_on(async {
            for r in rows {
                store.write(move |db| record(db, &r)).await.unwrap();
            }
            store
                .read(|db| model_stats(db, "p", "m", 100, 2))
                .await
                .unwrap()
        });
        assert_eq!((s.ok_calls, s.ok_runs, s.errors), (4, 3, 3));
        assert_eq!(
            s.error_kinds,
            vec![("status_503".to_string(), 2), ("timeout".to_string(), 1)]
        );
        assert_eq!((s.input_tokens, s.output_tokens), (90, 30));
        assert_eq!(s.latencies_ms, vec![70, 150], "newest two, per call");
        assert_eq!(s.last_ts, Some(150));
        let none = smol::block_on(store.read(|db| model_stats(db, "p", "x", 0, 10))).unwrap();
        assert_eq!(none, ModelStats::default());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
