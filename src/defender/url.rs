//! URL risk scoring: schemes, exfiltration and tunnel hosts, raw and disguised IPs, userinfo
//! tricks, look-alike hosts, and query strings that carry secrets or data.
//!
//! `score_url` parses by hand (scheme, userinfo, host, port, path, query) rather than with a URL
//! crate: it must accept malformed input, never fail, and see tricks a strict parser would reject
//! or normalize away (`http://2130706433/`, `https://google.com@evil.tld`).
//!
//! Hosts on the box or the LAN (localhost, 127/8, 10/8, 172.16/12, 192.168/16) are not risky by
//! themselves; the cloud metadata address 169.254.169.254 is. There is no DNS: a hostname that
//! resolves to a private address, an open redirect on a trusted host, or a fresh attacker domain
//! with an ordinary name are not seen here (VirusTotal lookups are a separate, networked signal).

use super::reason::{Reason, push_capped};

const DETECTOR: &str = "url";

/// Only this many bytes of a URL are parsed; longer ones are also reported as `url.long`.
pub const MAX_URL_BYTES: usize = 16 * 1024;

/// Query values at least this long made of base64/hex characters count as a data blob.
pub const MIN_BLOB_CHARS: usize = 100;

/// Request catchers, paste sites and tunnels: a link there from untrusted text is how data
/// leaves. Matched as the host or a parent domain.
#[rustfmt::skip]
const EXFIL_HOSTS: &[&str] = &[
    "webhook.site", "requestbin.com", "requestbin.net", "pipedream.net", "ngrok.io", "ngrok.app",
    "ngrok-free.app", "ngrok-free.dev", "ngrok.dev", "burpcollaborator.net", "oastify.com",
    "interact.sh", "interactsh.com", "oast.pro", "oast.live", "oast.site", "oast.online",
    "oast.fun", "oast.me", "pastebin.com", "transfer.sh", "hookbin.com", "requestcatcher.com",
    "beeceptor.com", "canarytokens.com", "canarytokens.org", "dnslog.cn", "ceye.io",
    "trycloudflare.com", "serveo.net", "loca.lt", "localtunnel.me", "localhost.run",
    "0x0.st", "termbin.com", "paste.ee", "hastebin.com", "ptpb.pw", "requestrepo.com",
    "webhook.cool", "postb.in", "ptsv2.com", "ptsv3.com",
];

/// Link shorteners: they hide the destination, which is all they do wrong.
#[rustfmt::skip]
const SHORTENERS: &[&str] = &[
    "bit.ly", "tinyurl.com", "t.co", "goo.gl", "is.gd", "ow.ly", "buff.ly", "rb.gy", "cutt.ly",
    "shorturl.at", "tiny.cc", "rebrand.ly", "t.ly", "v.gd", "s.id", "bl.ink",
];

/// Query parameter names whose values are credentials.
#[rustfmt::skip]
const SECRET_PARAMS: &[&str] = &[
    "key", "api_key", "apikey", "api-key", "token", "access_token", "auth_token", "secret",
    "client_secret", "password", "passwd", "pwd", "pass", "auth", "session", "sessionid",
    "cookie", "credentials", "private_key", "ssh_key", "aws_secret_access_key", "jwt",
];

/// Scores one URL.
pub fn score_url(url: &str) -> Vec<Reason> {
    let mut out = Vec::new();
    let mut add = |rule: &'static str, score: u32, detail: String| {
        push_capped(&mut out, Reason::new(DETECTOR, rule, score, None, detail));
    };
    let raw = url.trim();
    if raw.len() > 8192 {
        add(
            "url.long",
            45,
            format!("very long url ({} bytes)", raw.len()),
        );
    } else if raw.len() > 2048 {
        add("url.long", 30, format!("long url ({} bytes)", raw.len()));
    }
    let mut cut = raw.len().min(MAX_URL_BYTES);
    while !raw.is_char_boundary(cut) {
        cut -= 1;
    }
    let raw = &raw[..cut];
    let (scheme, rest) = split_scheme(raw);
    match scheme.as_deref() {
        Some("javascript" | "vbscript") => {
            add(
                "scheme.javascript",
                90,
                "script url runs code when opened".into(),
            );
            return out;
        }
        Some("data") => {
            let lower = rest.to_ascii_lowercase();
            let score =
                if lower.contains("html") || lower.contains("script") || lower.contains("svg") {
                    80
                } else {
                    70
                };
            add(
                "scheme.data",
                score,
                "data url embeds its own content".into(),
            );
            return out;
        }
        Some("file") => {
            add("scheme.file", 70, "file url reads the local disk".into());
            return out;
        }
        Some("gopher" | "dict" | "ldap" | "tftp" | "jar" | "phar" | "expect" | "netdoc") => {
            add(
                "scheme.unusual",
                60,
                "scheme used for request forgery".into(),
            );
        }
        Some("http" | "https" | "ws" | "wss" | "ftp" | "sftp") | None => {}
        Some(_) => return out,
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let auth_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            if userinfo.contains('.') {
                add(
                    "url.userinfo",
                    75,
                    "userinfo looks like a host (the real host comes after @)".into(),
                );
            } else if userinfo.contains(':') {
                add("url.userinfo", 45, "password embedded in the url".into());
            }
            hp
        }
        None => authority,
    };
    let host = host_of(hostport).trim_end_matches('.').to_lowercase();
    if host.is_empty() {
        if scheme.is_some() {
            add("url.malformed", 20, "url has no host".into());
        }
        return out;
    }
    host_reasons(&host, tail, &mut add);
    data_reasons(tail, &mut add);
    out
}

/// `(lowercase scheme, rest after ':')`, or `(None, input)` when there is no scheme.
fn split_scheme(raw: &str) -> (Option<String>, &str) {
    let Some(colon) = raw.find(':') else {
        return (None, raw);
    };
    let name = &raw[..colon];
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    // "localhost:8080/x" has a port, not a scheme.
    if !valid || raw[colon + 1..].starts_with(|c: char| c.is_ascii_digit()) {
        return (None, raw);
    }
    (Some(name.to_ascii_lowercase()), &raw[colon + 1..])
}

/// The host of `host[:port]` or `[v6]:port`.
fn host_of(hp: &str) -> &str {
    if let Some(v6) = hp.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match hp.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => hp,
    }
}

fn on_domain(host: &str, list: &[&str]) -> Option<usize> {
    list.iter().position(|d| {
        host == *d || (host.ends_with(d) && host[..host.len() - d.len()].ends_with('.'))
    })
}

fn host_reasons(host: &str, tail: &str, add: &mut impl FnMut(&'static str, u32, String)) {
    if let Some(i) = on_domain(host, EXFIL_HOSTS) {
        add(
            "host.exfil",
            75,
            format!("request catcher, paste site or tunnel ({})", EXFIL_HOSTS[i]),
        );
    } else if matches!(host, "discord.com" | "discordapp.com") && tail.starts_with("/api/webhooks")
    {
        add("host.exfil", 60, "discord webhook".into());
    }
    if let Some(i) = on_domain(host, SHORTENERS) {
        add(
            "host.shortener",
            20,
            format!("link shortener hides the destination ({})", SHORTENERS[i]),
        );
    }
    match classify_ip(host) {
        Ip::None | Ip::Local => {}
        Ip::Metadata => add("host.metadata", 80, "cloud metadata address".into()),
        Ip::Public => add("host.ip", 45, "raw ip address instead of a name".into()),
        Ip::Disguised => add(
            "host.ip_obfuscated",
            75,
            "ip address written in decimal, hex or octal".into(),
        ),
    }
    if host.split('.').any(|l| l.starts_with("xn--")) {
        add(
            "host.punycode",
            50,
            "punycode host (may imitate another name)".into(),
        );
    }
    let latin = host.chars().any(|c| c.is_ascii_alphabetic());
    let lookalike = host
        .chars()
        .any(|c| matches!(c, '\u{0370}'..='\u{03FF}' | '\u{0400}'..='\u{052F}' | '\u{0530}'..='\u{058F}'));
    if latin && lookalike {
        add(
            "host.mixed_script",
            75,
            "host mixes latin with cyrillic/greek look-alikes".into(),
        );
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ip {
    /// Not an IP literal.
    None,
    /// Loopback, private, link-local or unspecified.
    Local,
    /// 169.254.169.254 and friends.
    Metadata,
    /// A public address in the ordinary notation.
    Public,
    /// Decimal, hex, octal or short forms that browsers and curl still accept.
    Disguised,
}

fn classify_ip(host: &str) -> Ip {
    if host.contains(':') {
        let v6 = host.to_ascii_lowercase();
        if v6.contains("169.254.169.254") || v6 == "fd00:ec2::254" {
            return Ip::Metadata;
        }
        if v6 == "::1"
            || v6 == "::"
            || v6.starts_with("fe80")
            || v6.starts_with("fc")
            || v6.starts_with("fd")
        {
            return Ip::Local;
        }
        return if v6
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            Ip::Public
        } else {
            Ip::None
        };
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 || !parts.iter().all(|p| is_number(p)) {
        return Ip::None;
    }
    let plain = parts.len() == 4
        && parts.iter().all(|p| {
            p.len() <= 3
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u32>().is_ok_and(|v| v <= 255)
        });
    if !plain {
        return Ip::Disguised;
    }
    let o: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    match (o[0], o[1]) {
        (169, 254) if o[2] == 169 && o[3] == 254 => Ip::Metadata,
        (100, 100) if o[2] == 100 && o[3] == 200 => Ip::Metadata,
        (127, _) | (10, _) | (0, _) | (192, 168) | (169, 254) => Ip::Local,
        (172, b) if (16..=31).contains(&b) => Ip::Local,
        (100, b) if (64..=127).contains(&b) => Ip::Local,
        _ => Ip::Public,
    }
}

/// Decimal, `0x` hex or leading-zero octal digits.
fn is_number(p: &str) -> bool {
    if let Some(h) = p.strip_prefix("0x") {
        return !h.is_empty() && h.len() <= 8 && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    !p.is_empty() && p.len() <= 10 && p.chars().all(|c| c.is_ascii_digit())
}

fn data_reasons(tail: &str, add: &mut impl FnMut(&'static str, u32, String)) {
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, q.split('#').next().unwrap_or(q)),
        None => (tail.split('#').next().unwrap_or(tail), ""),
    };
    let lower = tail.to_ascii_lowercase();
    let template = [
        "{", "}", "${", "$(", "%7b", "%7d", "%3c", "%3e", "<", ">", "[", "]", "%5b", "%5d",
    ];
    if !query.is_empty()
        && template
            .iter()
            .any(|t| lower.split_once('?').is_some_and(|(_, q)| q.contains(t)))
    {
        add(
            "query.template",
            70,
            "query holds a placeholder to be filled with data".into(),
        );
    }
    let mut secret = None;
    let mut blob = path.split('/').any(is_blob);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.to_ascii_lowercase();
        if secret.is_none() && !value.is_empty() && SECRET_PARAMS.contains(&name.as_str()) {
            secret = Some(name);
        }
        blob |= is_blob(value);
    }
    if let Some(name) = secret {
        add(
            "query.secret_param",
            45,
            format!("credential in query parameter `{name}`"),
        );
    }
    if blob {
        add(
            "query.data_blob",
            50,
            format!("url carries an encoded blob of {MIN_BLOB_CHARS}+ chars"),
        );
    }
}

/// A long run of base64/hex characters (percent escapes count as one character).
fn is_blob(v: &str) -> bool {
    if v.len() < MIN_BLOB_CHARS {
        return false;
    }
    let b = v.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            i += 3;
        } else if b[i].is_ascii_alphanumeric() || matches!(b[i], b'+' | b'/' | b'=' | b'-' | b'_') {
            i += 1;
        } else {
            return false;
        }
        n += 1;
    }
    n >= MIN_BLOB_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(url: &str) -> Vec<&'static str> {
        score_url(url).iter().map(|r| r.rule).collect()
    }

    fn max(url: &str) -> u32 {
        score_url(url).iter().map(|r| r.score).max().unwrap_or(0)
    }

    #[test]
    fn risky_urls() {
        let long_q = format!("https://x.example/c?d={}", "QUJD".repeat(40));
        let cases: &[(&str, &str, u32)] = &[
            ("javascript:alert(1)", "scheme.javascript", 90),
            ("JavaScript:fetch('//x')", "scheme.javascript", 90),
            ("data:text/html;base64,PHNjcmlwdD4=", "scheme.data", 80),
            ("file:///etc/passwd", "scheme.file", 70),
            ("gopher://127.0.0.1:6379/_FLUSHALL", "scheme.unusual", 60),
            ("https://webhook.site/abc-123", "host.exfil", 75),
            ("https://abc.ngrok-free.app/x", "host.exfil", 75),
            ("http://x1y2.oast.fun/", "host.exfil", 75),
            ("https://pastebin.com/raw/xyz", "host.exfil", 75),
            ("https://eo1.m.pipedream.net", "host.exfil", 75),
            ("http://2130706433/", "host.ip_obfuscated", 75),
            ("http://0x7f000001/", "host.ip_obfuscated", 75),
            ("http://0177.0.0.1/", "host.ip_obfuscated", 75),
            ("http://127.1/", "host.ip_obfuscated", 75),
            (
                "http://169.254.169.254/latest/meta-data/",
                "host.metadata",
                80,
            ),
            ("http://45.33.32.156/payload", "host.ip", 45),
            ("https://google.com@evil.tld/login", "url.userinfo", 75),
            ("https://xn--pypal-4ve.com/", "host.punycode", 50),
            ("https://pаypal.com/", "host.mixed_script", 75),
            (
                "https://evil.tld/log?d={conversation}",
                "query.template",
                70,
            ),
            (
                "https://evil.tld/p?api_key=abcdef123",
                "query.secret_param",
                45,
            ),
            (&long_q, "query.data_blob", 50),
            ("https://bit.ly/3xyz", "host.shortener", 20),
            ("https://discord.com/api/webhooks/1/abc", "host.exfil", 60),
        ];
        for (url, rule, score) in cases {
            let got = score_url(url);
            let r = got.iter().find(|r| r.rule == *rule);
            assert_eq!(r.map(|r| r.score), Some(*score), "{url}: {got:?}");
            assert!(got.iter().all(|r| r.detector == "url"));
        }
        assert!(rules(&format!("https://a.example/{}", "a/".repeat(1500))).contains(&"url.long"));
    }

    #[test]
    fn ordinary_urls() {
        let cases = [
            "https://example.com/",
            "https://docs.rs/serde/latest/serde/",
            "http://localhost:8080/health",
            "http://127.0.0.1:3000/",
            "http://192.168.1.10/admin",
            "http://10.0.0.2:9000/metrics",
            "https://github.com/openclaw/openclaw/issues/5",
            "https://www.google.com/search?q=rust+ownership&hl=en",
            "https://münchen.de/",
            "https://en.wikipedia.org/wiki/Base64",
            "mailto:someone@example.com",
            "https://example.com/a?page=2&sort=desc#top",
            "localhost:8080/x",
            "https://user@git.example.com/repo.git",
            "ftp://ftp.debian.org/debian/",
            "https://x.example/?utm_source=news&utm_medium=email",
        ];
        for url in cases {
            assert!(max(url) < 40, "{url}: {:?}", score_url(url));
        }
        assert!(rules("https://example.com/").is_empty());
        assert!(rules("http://[::1]:8080/").is_empty());
    }

    #[test]
    fn ip_forms() {
        let cases = [
            ("1.2.3.4", Ip::Public),
            ("127.0.0.1", Ip::Local),
            ("172.20.1.1", Ip::Local),
            ("172.32.1.1", Ip::Public),
            ("3232235777", Ip::Disguised),
            ("0xc0.0xa8.1.1", Ip::Disguised),
            ("example.com", Ip::None),
            ("1.2.3.4.5", Ip::None),
            ("2001:db8::1", Ip::Public),
            ("::1", Ip::Local),
        ];
        for (h, want) in cases {
            assert_eq!(classify_ip(h), want, "{h}");
        }
    }

    #[test]
    fn never_panics() {
        let mut x: u64 = 88172645463325252;
        let pieces = [
            "http", "://", "@", ":", "[", "]", "?", "&", "=", "%", "xn--", ".", "/", "0x", "é",
            "а", "1", "{", "#", "\\",
        ];
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(x % 24) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            let r = score_url(&s);
            assert!(r.iter().all(|r| r.score <= 100));
        }
    }
}
