//! Secret redaction: replaces known secret values with `[REDACTED]` in text and JSON.
//!
//! Tool output (a file the model reads, a command's stdout, a fetched page) can carry the
//! gateway's own secrets; the agent passes it through a `Redactor` before the model or a client
//! sees it. The secret list is built once: configured secrets plus the values of environment
//! variables whose names look secret. Values shorter than `MIN_SECRET_BYTES` are ignored, since
//! replacing short strings would mangle ordinary text and hides little.

use std::borrow::Cow;
use std::fmt;

/// What a secret is replaced with.
pub const MARK: &str = "[REDACTED]";

/// Shortest value treated as a secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 8;

/// Environment variable name parts (upper case) that mark a value as secret.
const SECRET_NAME_PARTS: &[&str] = &["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"];

/// A set of secret values to scrub; `Debug` prints only how many.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Distinct values, longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for `secrets` (values under `MIN_SECRET_BYTES` are dropped, duplicates merged).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_BYTES)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `extra` plus the values of environment variables whose names contain KEY, TOKEN, SECRET,
    /// PASSWORD, PASSWD or CREDENTIAL (any case). Reads the environment once, here.
    pub fn from_env(extra: impl IntoIterator<Item = String>) -> Redactor {
        let from_env = std::env::vars_os().filter_map(|(name, value)| {
            if secret_name(name.to_str()?) {
                value.into_string().ok()
            } else {
                None
            }
        });
        Redactor::new(extra.into_iter().chain(from_env))
    }

    /// Adds one secret (a key set at run time); the same rules as `new`.
    pub fn add(&mut self, secret: &str) {
        let all = std::mem::take(&mut self.secrets);
        *self = Redactor::new(all.into_iter().chain([secret.to_string()]));
    }

    /// Number of distinct secrets.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `s` with every secret replaced by `[REDACTED]`; borrowed when nothing matched.
    pub fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MARK));
            }
        }
        out
    }

    /// Redacts every string inside `v`: string values and object keys, at any depth.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        use serde_json::Value;
        if self.secrets.is_empty() {
            return;
        }
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_json(i)),
            Value::Object(map) => {
                if map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_))) {
                    let old = std::mem::take(map);
                    for (k, mut val) in old {
                        self.redact_json(&mut val);
                        map.insert(self.redact(&k).into_owned(), val);
                    }
                } else {
                    map.values_mut().for_each(|val| self.redact_json(val));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// True when an environment variable called `name` likely holds a secret.
fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(list: &[&str]) -> Redactor {
        Redactor::new(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn short_values_are_ignored_and_duplicates_merged() {
        let red = r(&["short", "abcdefgh", "abcdefgh", "", "0123456789abc"]);
        assert_eq!(red.len(), 2);
        assert_eq!(red.secrets, ["0123456789abc", "abcdefgh"]);
        assert_eq!(red.redact("short stays"), "short stays");
    }

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let red = r(&["sk-abcdefgh", "sk-abcdefgh-extended"]);
        let got = red.redact("a sk-abcdefgh-extended b sk-abcdefgh c sk-abcdefgh");
        assert_eq!(got, "a [REDACTED] b [REDACTED] c [REDACTED]");
        assert!(matches!(red.redact("nothing here"), Cow::Borrowed(_)));
        assert!(matches!(Redactor::default().redact("x"), Cow::Borrowed(_)));
    }

    #[test]
    fn redacts_json_strings_and_keys_at_any_depth() {
        let red = r(&["hunter2hunter2"]);
        let mut v = json!({
            "a": "pw=hunter2hunter2",
            "n": 3,
            "list": [true, null, "x hunter2hunter2 y", {"deep": "hunter2hunter2"}],
            "hunter2hunter2": "key is secret",
        });
        red.redact_json(&mut v);
        assert_eq!(
            v,
            json!({
                "a": "pw=[REDACTED]",
                "n": 3,
                "list": [true, null, "x [REDACTED] y", {"deep": "[REDACTED]"}],
                "[REDACTED]": "key is secret",
            })
        );
    }

    #[test]
    fn secret_looking_env_names() {
        for name in [
            "OPENAI_API_KEY",
            "bot_token",
            "Db_Password",
            "SMTP_PASSWD",
            "AWS_SECRET",
            "GCP_CREDENTIALS",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in ["PATH", "HOME", "LANG", "USER", "TERM"] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn from_env_adds_extra_and_matching_env_values() {
        // The environment is not mutated here (set_var races other test threads); the values the
        // process already has are checked against the name rule instead.
        let red = Redactor::from_env(["extra-secret-value".to_string()]);
        assert_eq!(red.redact("x extra-secret-value"), "x [REDACTED]");
        for (name, value) in std::env::vars() {
            if secret_name(&name) && value.len() >= MIN_SECRET_BYTES {
                assert_eq!(red.redact(&value), MARK, "{name}");
            }
        }
        assert!(format!("{red:?}").starts_with("Redactor("));
        assert!(!format!("{red:?}").contains("extra-secret-value"));
    }
}
