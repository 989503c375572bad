//! Idempotency cache: answers a retried request from its first run instead of running it twice.
//!
//! Clients send an `idempotencyKey` with side-effecting requests. The RPC layer hashes the request
//! content with [`content_hash`] and asks [`IdemCache::check`]: a new key is recorded as in flight,
//! a retry of the same request sees `InFlight` or the stored result, and a reused key with
//! different content is a `Conflict` (never a replay of somebody else's answer).
//!
//! Bounds: at most `cap` entries. A finished entry lives `ttl_ms` from completion; when the cache is
//! full, expired entries go first, then the oldest finished one. In-flight entries are never evicted
//! (evicting one would let a retry start a duplicate run), so the caller must end every `New` with
//! `complete` or `forget`; a cache full of in-flight entries answers `IdemFull`.
//!
//! It reads no clock: `now_ms` is passed in, so the tests are deterministic.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// What [`IdemCache::check`] found for a key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdemCheck {
    /// First sighting (or the old entry expired): now recorded as in flight; run the request.
    New,
    /// The same request is still running; do not start it again.
    InFlight,
    /// The same request finished; answer with this result.
    Done(Value),
    /// The key was used for a request with different content; refuse it.
    Conflict,
}

/// The cache holds `cap` in-flight entries and nothing can be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdemFull {
    /// The entry cap that was hit.
    pub cap: usize,
}

impl fmt::Display for IdemFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "idempotency cache full: {} requests in flight", self.cap)
    }
}

impl std::error::Error for IdemFull {}

/// One key's record; `seq` tells a live entry from a stale `done_order` slot.
struct Entry {
    hash: [u8; 32],
    seq: u64,
    /// The result and the completion time, once finished.
    done: Option<(Value, u64)>,
}

/// Bounded map from idempotency key to request state, with a ttl on finished entries.
pub struct IdemCache {
    cap: usize,
    ttl_ms: u64,
    entries: HashMap<String, Entry>,
    /// Finished entries in completion order, which is also expiry order (one ttl for all).
    /// Slots whose entry was forgotten go stale and are skipped; `compact` bounds them.
    done_order: VecDeque<(String, u64)>,
    next_seq: u64,
}

impl IdemCache {
    /// A cache of at most `cap` keys whose finished entries live `ttl_ms` after completion.
    pub fn new(cap: usize, ttl_ms: u64) -> Self {
        IdemCache {
            cap,
            ttl_ms,
            entries: HashMap::with_capacity(cap.min(1024)),
            done_order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// Looks up `key`; `hash` is a SHA-256 of the request content (see [`content_hash`]).
    ///
    /// Unknown or expired key: records an in-flight entry and returns `New`. Same key and hash:
    /// `InFlight` or `Done(result)`. Same key, different hash: `Conflict`. `IdemFull` only when the
    /// cache holds `cap` in-flight entries.
    pub fn check(&mut self, key: &str, hash: [u8; 32], now_ms: u64) -> Result<IdemCheck, IdemFull> {
        self.expire(now_ms);
        if let Some(e) = self.entries.get(key) {
            if e.hash != hash {
                return Ok(IdemCheck::Conflict);
            }
            return Ok(match &e.done {
                None => IdemCheck::InFlight,
                Some((result, _)) => IdemCheck::Done(result.clone()),
            });
        }
        if self.entries.len() >= self.cap && !self.evict_oldest_done() {
            return Err(IdemFull { cap: self.cap });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            key.to_owned(),
            Entry {
                hash,
                seq,
                done: None,
            },
        );
        Ok(IdemCheck::New)
    }

    /// Marks an in-flight `key` finished with `result`; its ttl starts at `now_ms`.
    ///
    /// A key that is unknown (forgotten) or already finished is left as it is.
    pub fn complete(&mut self, key: &str, result: Value, now_ms: u64) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        if e.done.is_some() {
            return;
        }
        e.done = Some((result, now_ms));
        self.done_order.push_back((key.to_owned(), e.seq));
        self.compact();
    }

    /// Drops `key`, e.g. when the request failed validation after `check`.
    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Number of keys held, in flight or finished.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the `done_order` slot still names a live finished entry.
    fn is_live(&self, key: &str, seq: u64) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.seq == seq && e.done.is_some())
    }

    /// Removes finished entries whose ttl ran out; they sit at the front of `done_order`.
    fn expire(&mut self, now_ms: u64) {
        while let Some((key, seq)) = self.done_order.front() {
            let expired = match self.entries.get(key.as_str()) {
                Some(e) if e.seq == *seq => match &e.done {
                    Some((_, at)) => now_ms.saturating_sub(*at) >= self.ttl_ms,
                    None => true,
                },
                _ => true,
            };
            if !expired {
                break;
            }
            let (key, seq) = self.done_order.pop_front().expect("front exists");
            if self.is_live(&key, seq) {
                self.entries.remove(&key);
            }
        }
    }

    /// Evicts the earliest finished entry; false when every entry is in flight.
    fn evict_oldest_done(&mut self) -> bool {
        while let Some((key, seq)) = self.done_order.pop_front() {
            if self.is_live(&key, seq) {
                self.entries.remove(&key);
                return true;
            }
        }
        false
    }

    /// Drops stale `done_order` slots once they outnumber the live entries, so the deque stays
    /// within about twice the cap; amortized O(1) per completion.
    fn compact(&mut self) {
        if self.done_order.len() > 2 * self.entries.len() + 16 {
            let entries = &self.entries;
            self.done_order.retain(|(key, seq)| {
                entries
                    .get(key)
                    .is_some_and(|e| e.seq == *seq && e.done.is_some())
            });
        }
    }
}

/// SHA-256 of `v` in a canonical form: compact JSON with object keys sorted at every depth, so
/// the key order a client happened to send does not change the hash.
pub fn content_hash(v: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    feed(&mut h, v);
    h.finalize().into()
}

/// Streams the canonical JSON of `v` into the hasher. Depth is bounded by serde_json's parser
/// recursion limit, which every inbound value has passed.
fn feed(h: &mut Sha256, v: &Value) {
    match v {
        Value::Null => h.update(b"null"),
        Value::Bool(true) => h.update(b"true"),
        Value::Bool(false) => h.update(b"false"),
        Value::Number(n) => h.update(n.to_string().as_bytes()),
        Value::String(s) => feed_str(h, s),
        Value::Array(items) => {
            h.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                feed(h, item);
            }
            h.update(b"]");
        }
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (i, (k, item)) in fields.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                feed_str(h, k);
                h.update(b":");
                feed(h, item);
            }
            h.update(b"}");
        }
    }
}

/// A JSON string literal, escaped exactly as serde_json writes it.
fn feed_str(h: &mut Sha256, s: &str) {
    serde_json::to_writer(HashWriter(h), s).expect("writing a str into a hasher cannot fail");
}

/// `io::Write` adapter so serde_json can escape straight into the hasher without a buffer.
struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H1: [u8; 32] = [1; 32];
    const H2: [u8; 32] = [2; 32];

    #[test]
    fn new_then_in_flight_then_done_then_conflict() {
        let mut c = IdemCache::new(4, 1_000);
        assert_eq!(c.check("k", H1, 0), Ok(IdemCheck::New));
        assert_eq!(c.check("k", H1, 1), Ok(IdemCheck::InFlight));
        assert_eq!(c.check("k", H2, 1), Ok(IdemCheck::Conflict));
        c.complete("k", json!({"runId": "k", "status": "ok"}), 5);
        assert_eq!(
            c.check("k", H1, 6),
            Ok(IdemCheck::Done(json!({"runId": "k", "status": "ok"})))
        );
        assert_eq!(c.check("k", H2, 6), Ok(IdemCheck::Conflict));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn ttl_counts_from_completion() {
        let mut c = IdemCache::new(4, 100);
        assert_eq!(c.check("k", H1, 0), Ok(IdemCheck::New));
        // In flight long past the ttl: still in flight, never expired.
        assert_eq!(c.check("k", H1, 500), Ok(IdemCheck::InFlight));
        c.complete("k", json!(1), 500);
        assert_eq!(c.check("k", H1, 599), Ok(IdemCheck::Done(json!(1))));
        // Expired: treated as unknown, even with a different hash.
        assert_eq!(c.check("k", H2, 600), Ok(IdemCheck::New));
        assert_eq!(c.check("k", H2, 601), Ok(IdemCheck::InFlight));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn full_cache_evicts_expired_then_oldest_done_but_never_in_flight() {
        let mut c = IdemCache::new(3, 100);
        assert_eq!(c.check("a", H1, 0), Ok(IdemCheck::New));
        assert_eq!(c.check("b", H1, 0), Ok(IdemCheck::New));
        assert_eq!(c.check("c", H1, 0), Ok(IdemCheck::New));
        c.complete("a", json!("a"), 0);
        c.complete("c", json!("c"), 10);
        // At 105 `a` has expired: it goes, the live entries stay.
        assert_eq!(c.check("d", H1, 105), Ok(IdemCheck::New));
        assert_eq!(c.len(), 3);
        assert_eq!(c.check("c", H1, 105), Ok(IdemCheck::Done(json!("c"))));
        assert_eq!(c.check("b", H1, 105), Ok(IdemCheck::InFlight));
        // Nothing expired: the oldest finished entry (`c`) is evicted, in-flight `b`/`d` are kept.
        assert_eq!(c.check("e", H1, 106), Ok(IdemCheck::New));
        assert_eq!(c.len(), 3);
        assert_eq!(c.check("b", H1, 106), Ok(IdemCheck::InFlight));
        assert_eq!(c.check("d", H1, 106), Ok(IdemCheck::InFlight));
        assert_eq!(c.check("e", H1, 106), Ok(IdemCheck::InFlight));
    }

    #[test]
    fn evicts_in_completion_order() {
        let mut c = IdemCache::new(2, 1_000);
        assert_eq!(c.check("a", H1, 0), Ok(IdemCheck::New));
        assert_eq!(c.check("b", H1, 0), Ok(IdemCheck::New));
        c.complete("b", json!("b"), 1);
        c.complete("a", json!("a"), 2);
        assert_eq!(c.check("x", H1, 3), Ok(IdemCheck::New));
        assert_eq!(c.check("a", H1, 3), Ok(IdemCheck::Done(json!("a"))));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn full_of_in_flight_is_idem_full_until_one_is_forgotten() {
        let mut c = IdemCache::new(2, 1_000);
        assert_eq!(c.check("a", H1, 0), Ok(IdemCheck::New));
        assert_eq!(c.check("b", H1, 0), Ok(IdemCheck::New));
        let err = c.check("c", H1, 0).unwrap_err();
        assert_eq!(err, IdemFull { cap: 2 });
        assert_eq!(
            err.to_string(),
            "idempotency cache full: 2 requests in flight"
        );
        // Known keys still answer while full.
        assert_eq!(c.check("a", H1, 0), Ok(IdemCheck::InFlight));
        c.forget("a");
        assert_eq!(c.check("c", H1, 0), Ok(IdemCheck::New));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn forgotten_done_entries_do_not_grow_the_order_queue() {
        let mut c = IdemCache::new(2, u64::MAX);
        for i in 0..1_000u64 {
            let key = format!("k{i}");
            assert_eq!(c.check(&key, H1, i), Ok(IdemCheck::New));
            c.complete(&key, json!(i), i);
            c.forget(&key);
        }
        assert!(c.is_empty());
        assert!(c.done_order.len() <= 16 + 1, "{}", c.done_order.len());
    }

    #[test]
    fn complete_of_unknown_or_finished_key_changes_nothing() {
        let mut c = IdemCache::new(2, 1_000);
        c.complete("ghost", json!(1), 0);
        assert!(c.is_empty());
        assert_eq!(c.check("k", H1, 0), Ok(IdemCheck::New));
        c.complete("k", json!("first"), 1);
        c.complete("k", json!("second"), 2);
        assert_eq!(c.check("k", H1, 3), Ok(IdemCheck::Done(json!("first"))));
    }

    #[test]
    fn content_hash_ignores_key_order_but_not_content() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"q":2,"p":"x"}],"x":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"p":"x","q":2}]},"b":1}"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        let c: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[{"p":"x","q":2},1]},"b":1}"#).unwrap();
        assert_ne!(content_hash(&a), content_hash(&c), "array order matters");
        assert_ne!(content_hash(&json!("1")), content_hash(&json!(1)));
        assert_ne!(
            content_hash(&json!({"a": "b"})),
            content_hash(&json!({"ab": ""}))
        );
        assert_eq!(
            content_hash(&json!({"text": "line\n\"q\""})),
            content_hash(&json!({"text": "line\n\"q\""}))
        );
    }
}
