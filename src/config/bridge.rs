//! Bridge settings: `gateway.runtime_mode` and the `[bridge]` table.
//!
//! In `bridge_client` mode the process serves its own gateway port as usual and also connects,
//! as an operator client, to an existing OpenClaw gateway (`bridge.url`), screening what it sees
//! there through the defender (`src/bridge/`). The checks here are about shape: URL scheme and
//! host, a token or password (never both, never empty), `wss://` only when built with `tls`.

use serde::Deserialize;

use super::{ConfigError, Secret, invalid};

/// What the process does besides serving its own port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeMode {
    /// A gateway on its own (the default).
    #[default]
    Standalone,
    /// Also a client of another gateway, screening its actions (`[bridge]`).
    BridgeClient,
}

impl RuntimeMode {
    /// Config and status name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeMode::Standalone => "standalone",
            RuntimeMode::BridgeClient => "bridge_client",
        }
    }
}

/// How the bridge proves itself to the upstream gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeAuth {
    /// `auth.token` (also covered by the device signature).
    Token(Secret),
    /// `auth.password`.
    Password(Secret),
}

/// Checked `[bridge]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The upstream URL as configured (`ws://…` or `wss://…`), for logs and `status`.
    pub url: String,
    /// Whether the URL is `wss://`.
    pub tls: bool,
    /// Host name or address (brackets stripped from IPv6 literals).
    pub host: String,
    /// Port (default 80 for `ws://`, 443 for `wss://`).
    pub port: u16,
    /// Request path (`/` when the URL has none).
    pub path: String,
    /// Upstream credential.
    pub auth: BridgeAuth,
    /// Answer `exec.approval.resolve {decision:"deny"}` for commands the defender blocks.
    pub resolve_approvals: bool,
}

impl BridgeConfig {
    /// The settings as JSON for `config.get` (the credential is never shown).
    pub fn to_public_json(&self) -> serde_json::Value {
        let (token, password) = match &self.auth {
            BridgeAuth::Token(_) => (Some(super::REDACTED), None),
            BridgeAuth::Password(_) => (None, Some(super::REDACTED)),
        };
        serde_json::json!({
            "url": self.url,
            "token": token,
            "password": password,
            "resolve_approvals": self.resolve_approvals,
        })
    }
}

/// The raw `[bridge]` table.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBridge {
    url: Option<String>,
    token: Option<String>,
    password: Option<String>,
    resolve_approvals: Option<bool>,
}

/// Parses `gateway.runtime_mode`.
pub(super) fn parse_mode(raw: Option<&str>) -> Result<RuntimeMode, ConfigError> {
    match raw {
        None | Some("standalone") => Ok(RuntimeMode::Standalone),
        Some("bridge_client") => Ok(RuntimeMode::BridgeClient),
        Some(other) => Err(invalid(
            "gateway.runtime_mode",
            format!("{other:?} is not \"standalone\" or \"bridge_client\""),
        )),
    }
}

/// Checks `[bridge]`; `None` when the table is absent. `bridge_client` mode requires it.
pub(super) fn build_bridge(
    raw: Option<&RawBridge>,
    mode: RuntimeMode,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<Option<BridgeConfig>, ConfigError> {
    let Some(raw) = raw else {
        if mode == RuntimeMode::BridgeClient {
            return Err(invalid(
                "bridge.url",
                "gateway.runtime_mode is \"bridge_client\" but no [bridge] url is set",
            ));
        }
        return Ok(None);
    };
    let url = match &raw.url {
        Some(u) => expand("bridge.url", u)?,
        None => return Err(invalid("bridge.url", "is required in [bridge]")),
    };
    let (tls, host, port, path) = parse_url(&url).map_err(|r| invalid("bridge.url", r))?;
    if tls && !cfg!(feature = "tls") {
        return Err(invalid(
            "bridge.url",
            format!(
                "{url:?} is wss:// but this binary was built without the `tls` feature; \
                 use a ws:// URL (e.g. behind a local TLS proxy) or a build with TLS"
            ),
        ));
    }
    let auth = build_auth(
        "bridge",
        raw.token.as_deref(),
        raw.password.as_deref(),
        expand,
    )?;
    Ok(Some(BridgeConfig {
        url,
        tls,
        host,
        port,
        path,
        auth,
        resolve_approvals: raw.resolve_approvals.unwrap_or(true),
    }))
}

/// Checks a `token` or `password` (exactly one, non-empty, at most 512 bytes, `${ENV}` expanded)
/// under `prefix` (`bridge`, `mesh.peers[0]`); errors name `<prefix>.token` or `<prefix>.password`.
pub(super) fn build_auth(
    prefix: &str,
    token: Option<&str>,
    password: Option<&str>,
    expand: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<BridgeAuth, ConfigError> {
    let secret = |key: &str, v: &str| -> Result<Secret, ConfigError> {
        let s = expand(key, v)?;
        if s.trim().is_empty() {
            return Err(invalid(key, "is empty"));
        }
        if s.len() > 512 {
            return Err(invalid(key, format!("is {} bytes, at most 512", s.len())));
        }
        Ok(Secret::new(s))
    };
    let (tk, pk) = (format!("{prefix}.token"), format!("{prefix}.password"));
    match (token, password) {
        (Some(t), None) => Ok(BridgeAuth::Token(secret(&tk, t)?)),
        (None, Some(p)) => Ok(BridgeAuth::Password(secret(&pk, p)?)),
        (Some(_), Some(_)) => Err(invalid(&pk, format!("set either {tk} or {pk}, not both"))),
        (None, None) => Err(invalid(
            &tk,
            format!("the gateway at the other end needs a token or password ({tk} or {pk})"),
        )),
    }
}

/// Splits `ws[s]://host[:port][/path]` into (tls, host, port, path).
pub(super) fn parse_url(url: &str) -> Result<(bool, String, u16, String), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else {
        return Err(format!("{url:?} is not a ws:// or wss:// URL"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported; use bridge.token".into());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?} has an unterminated [IPv6] host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p
                .parse()
                .map_err(|_| format!("bad port {p:?} in {url:?}"))?,
            None if after.is_empty() => default_port,
            None => return Err(format!("unexpected {after:?} after the host in {url:?}")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("bad port {p:?} in {url:?}"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    if port == 0 {
        return Err(format!("port 0 in {url:?}"));
    }
    Ok((tls, host, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str, mode: RuntimeMode) -> Result<Option<BridgeConfig>, ConfigError> {
        let raw: RawBridge = toml::from_str(text).unwrap();
        let env = |k: &str| (k == "UP_TOKEN").then(|| "s3cret".to_string());
        let expand = |key: &str, v: &str| super::super::expand_env(key, v, &env);
        build_bridge(Some(&raw), mode, &expand)
    }

    fn key_of(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_parse_with_defaults() {
        assert_eq!(
            parse_url("ws://127.0.0.1:18789").unwrap(),
            (false, "127.0.0.1".into(), 18789, "/".into())
        );
        assert_eq!(
            parse_url("wss://gw.example.com/ws?x=1").unwrap(),
            (true, "gw.example.com".into(), 443, "/ws?x=1".into())
        );
        assert_eq!(
            parse_url("ws://[::1]:9").unwrap(),
            (false, "::1".into(), 9, "/".into())
        );
        assert!(parse_url("http://a").is_err());
        assert!(parse_url("ws://:80").is_err());
        assert!(parse_url("ws://a:x").is_err());
        assert!(parse_url("ws://u:p@a").is_err());
    }

    #[test]
    fn token_is_expanded_and_masked() {
        let b = build(
            "url = \"ws://127.0.0.1:1\"\ntoken = \"${UP_TOKEN}\"",
            RuntimeMode::BridgeClient,
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.auth, BridgeAuth::Token(Secret::new("s3cret")));
        assert!(b.resolve_approvals);
        let shown = b.to_public_json().to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!format!("{b:?}").contains("s3cret"));
    }

    #[test]
    fn errors_name_the_key() {
        let m = RuntimeMode::BridgeClient;
        assert_eq!(
            key_of(build("url = \"ws://a:1\"", m).unwrap_err()),
            "bridge.token"
        );
        assert_eq!(
            key_of(build("url = \"ftp://a\"\ntoken = \"t\"", m).unwrap_err()),
            "bridge.url"
        );
        assert_eq!(
            key_of(build("url = \"ws://a:1\"\ntoken = \"t\"\npassword = \"p\"", m).unwrap_err()),
            "bridge.password"
        );
        assert_eq!(
            key_of(build("url = \"ws://a:1\"\ntoken = \"${NOPE}\"", m).unwrap_err()),
            "bridge.token"
        );
        assert_eq!(key_of(build("token = \"t\"", m).unwrap_err()), "bridge.url");
        let none = build_bridge(None, m, &|_, v| Ok(v.to_string()));
        assert_eq!(key_of(none.unwrap_err()), "bridge.url");
        assert_eq!(
            key_of(parse_mode(Some("sidecar")).unwrap_err()),
            "gateway.runtime_mode"
        );
        assert_eq!(parse_mode(None).unwrap(), RuntimeMode::Standalone);
    }

    #[test]
    fn wss_needs_the_tls_feature() {
        let r = build(
            "url = \"wss://a\"\npassword = \"p\"",
            RuntimeMode::BridgeClient,
        );
        if cfg!(feature = "tls") {
            assert!(r.unwrap().unwrap().tls);
        } else {
            assert!(
                r.unwrap_err()
                    .to_string()
                    .contains("without the `tls` feature")
            );
        }
    }
}
