//! Telegram Bot API types: the update and message shapes we read, the reply envelope, its errors.
//!
//! Only the fields the bridge uses are declared; serde ignores the rest, so a Bot API that grows
//! new fields never breaks parsing. Fields we do not strictly need default when missing.
//!
//! `ApiReply::into_result` turns the `{ok, result | error_code, description, parameters}`
//! envelope into `Result<T, ApiError>`. No error text here ever carries the bot token:
//! `Display` passes every upstream string through `redact_token`'s pattern pass, and callers that
//! know the token redact transport errors with `redact_token` before wrapping them.
//!
//! No I/O: the HTTP calls live with the poller, which builds URLs with `method_url`.

use std::fmt;

use serde::Deserialize;

/// Seconds to wait after a `429` whose body carries no `parameters.retry_after`.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

/// One entry of a `getUpdates` answer; exactly one of the optional parts is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Update {
    /// Monotonic id; the next poll asks for `offset = update_id + 1`.
    pub update_id: i64,
    /// A new message in a private chat or group.
    #[serde(default)]
    pub message: Option<Message>,
    /// An edit of an earlier message.
    #[serde(default)]
    pub edited_message: Option<Message>,
    /// A post in a channel the bot administers.
    #[serde(default)]
    pub channel_post: Option<Message>,
    /// A press on an inline keyboard button.
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

/// An inline keyboard press.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallbackQuery {
    /// Id to answer with `answerCallbackQuery`.
    pub id: String,
    /// Who pressed.
    pub from: User,
    /// The message carrying the keyboard (absent for inline-mode messages).
    #[serde(default)]
    pub message: Option<Box<Message>>,
    /// The button's `callback_data`.
    #[serde(default)]
    pub data: Option<String>,
}

/// A message (also used for edits, channel posts and the message replied to).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// Id within the chat.
    pub message_id: i64,
    /// Unix time in seconds.
    pub date: i64,
    /// Where it was sent.
    pub chat: Chat,
    /// Sender; absent for channel posts and anonymous group admins.
    #[serde(default)]
    pub from: Option<User>,
    /// Text of a text message.
    #[serde(default)]
    pub text: Option<String>,
    /// Caption of a media message.
    #[serde(default)]
    pub caption: Option<String>,
    /// Entities of `text` (offsets in UTF-16 code units).
    #[serde(default)]
    pub entities: Option<Vec<Entity>>,
    /// Entities of `caption`.
    #[serde(default)]
    pub caption_entities: Option<Vec<Entity>>,
    /// The message this one replies to (Telegram does not nest these further).
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    /// A voice note.
    #[serde(default)]
    pub voice: Option<Voice>,
    /// A file sent as a document.
    #[serde(default)]
    pub document: Option<Document>,
}

impl Message {
    /// The text and its entities, or the caption and its entities; `None` when neither is set.
    pub fn body(&self) -> Option<(&str, &[Entity])> {
        if let Some(text) = &self.text {
            return Some((text, self.entities.as_deref().unwrap_or(&[])));
        }
        let caption = self.caption.as_deref()?;
        Some((caption, self.caption_entities.as_deref().unwrap_or(&[])))
    }
}

/// A chat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chat {
    /// Chat id: positive for users, negative for groups (`-100…` for supergroups and channels).
    pub id: i64,
    /// Kind of chat.
    #[serde(rename = "type")]
    pub kind: ChatKind,
    /// Title of groups and channels.
    #[serde(default)]
    pub title: Option<String>,
    /// `@username` of private chats, supergroups and channels, without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

/// `Chat.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// One-to-one chat with a user.
    Private,
    /// Basic group.
    Group,
    /// Supergroup.
    Supergroup,
    /// Channel.
    Channel,
    /// A kind this build does not know; treated like a channel (ignored).
    #[serde(other)]
    Other,
}

/// A user or bot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// User id.
    pub id: i64,
    /// True for bots.
    #[serde(default)]
    pub is_bot: bool,
    /// First name (required by the API; empty if a stub omits it).
    #[serde(default)]
    pub first_name: String,
    /// `@username` without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

/// A `MessageEntity`: a span of the text with a meaning.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entity {
    /// What the span is.
    #[serde(rename = "type")]
    pub kind: EntityKind,
    /// Start, in UTF-16 code units.
    pub offset: usize,
    /// Length, in UTF-16 code units.
    pub length: usize,
    /// The user of a `text_mention`.
    #[serde(default)]
    pub user: Option<User>,
}

/// `MessageEntity.type`, for the kinds the bridge acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// `@username`.
    Mention,
    /// A mention of a user without a username (the span is their name).
    TextMention,
    /// `/command` or `/command@bot`.
    BotCommand,
    /// Any other kind (bold, url, hashtag, …).
    #[serde(other)]
    Other,
}

/// The text an entity covers, converting its UTF-16 offsets; `None` when they are out of range or
/// fall inside a character.
pub fn entity_text<'a>(text: &'a str, e: &Entity) -> Option<&'a str> {
    let start = utf16_to_byte(text, e.offset)?;
    let end = utf16_to_byte(text, e.offset.checked_add(e.length)?)?;
    text.get(start..end)
}

/// Byte index of the character boundary `units` UTF-16 code units into `text`.
pub(crate) fn utf16_to_byte(text: &str, units: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, c) in text.char_indices() {
        if seen == units {
            return Some(i);
        }
        if seen > units {
            return None;
        }
        seen += c.len_utf16();
    }
    (seen == units).then_some(text.len())
}

/// A voice note.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Voice {
    /// Id for `getFile`.
    pub file_id: String,
    /// Length in seconds.
    #[serde(default)]
    pub duration: u32,
    /// Size, when Telegram knows it.
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// A general file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Document {
    /// Id for `getFile`.
    pub file_id: String,
    /// Original file name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// Size, when Telegram knows it.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// MIME type as the sender declared it.
    #[serde(default)]
    pub mime_type: Option<String>,
}

/// The envelope of every Bot API answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiReply<T> {
    /// True on success.
    pub ok: bool,
    /// The method's result when `ok` (a missing field is `None`).
    pub result: Option<T>,
    /// HTTP-like error code when not `ok`.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Human-readable error.
    #[serde(default)]
    pub description: Option<String>,
    /// Machine-readable hints (retry delay, group migration).
    #[serde(default)]
    pub parameters: Option<ResponseParameters>,
}

/// `ResponseParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResponseParameters {
    /// Seconds to wait before repeating a request that hit a flood limit.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// The supergroup a group was upgraded to.
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
}

impl<T> ApiReply<T> {
    /// The result, or the error the envelope describes.
    pub fn into_result(self) -> Result<T, ApiError> {
        let description = self.description.unwrap_or_default();
        if self.ok {
            return self
                .result
                .ok_or_else(|| ApiError::Malformed("ok reply without result".into()));
        }
        let params = self.parameters.unwrap_or(ResponseParameters {
            retry_after: None,
            migrate_to_chat_id: None,
        });
        if let Some(to_chat_id) = params.migrate_to_chat_id {
            return Err(ApiError::ChatMigrated { to_chat_id });
        }
        let Some(code) = self.error_code else {
            return Err(ApiError::Malformed(format!(
                "error reply without error_code: {description}"
            )));
        };
        Err(match code {
            401 => ApiError::Unauthorized,
            403 => ApiError::Forbidden(description),
            404 => ApiError::NotFound,
            409 => ApiError::Conflict(description),
            429 => ApiError::TooManyRequests {
                retry_after_s: params.retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            },
            500..=599 => ApiError::Server(code as u16, description),
            _ => ApiError::BadRequest(description),
        })
    }
}

/// Why a Bot API call failed, as the reply envelope says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 401: the token is wrong or revoked; polling cannot continue.
    Unauthorized,
    /// 403: the user blocked the bot, or the bot was removed from the chat; only that chat is
    /// affected.
    Forbidden(String),
    /// 404: wrong base URL, or a method this server lacks (Telegram answers 404 for a bad token
    /// in the path too).
    NotFound,
    /// 409: another `getUpdates` poller or a webhook uses this token.
    Conflict(String),
    /// 429: flood limit; wait `retry_after_s` before the next call.
    TooManyRequests {
        /// Seconds to wait (`parameters.retry_after`, or `DEFAULT_RETRY_AFTER_SECS`).
        retry_after_s: u64,
    },
    /// 400 and other 4xx: the request itself is wrong (often: markup Telegram cannot parse).
    BadRequest(String),
    /// The group became a supergroup; resend to `to_chat_id`.
    ChatMigrated {
        /// The new chat id.
        to_chat_id: i64,
    },
    /// 5xx: Telegram or a proxy failed.
    Server(u16, String),
    /// The answer was not a valid envelope (truncated body, HTML from a proxy, …).
    Malformed(String),
}

impl ApiError {
    /// True when the same call may succeed later without anyone changing anything: 429, 5xx and
    /// malformed answers (usually a cut connection). `Conflict` is not: it needs the other poller
    /// gone, so the loop should report it and retry slowly.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::TooManyRequests { .. } | ApiError::Server(..) | ApiError::Malformed(_)
        )
    }

    /// Seconds Telegram asked us to wait, for `TooManyRequests`.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Upstream text is redacted by pattern: a proxy may echo the request URL.
        let r = |s: &str| redact_token(s, "");
        match self {
            ApiError::Unauthorized => write!(f, "unauthorized: the bot token was rejected"),
            ApiError::Forbidden(d) => write!(f, "forbidden: {}", r(d)),
            ApiError::NotFound => write!(f, "not found: wrong api base url or bot token"),
            ApiError::Conflict(d) => {
                write!(
                    f,
                    "conflict: another poller or a webhook uses this token: {}",
                    r(d)
                )
            }
            ApiError::TooManyRequests { retry_after_s } => {
                write!(f, "too many requests: retry after {retry_after_s} s")
            }
            ApiError::BadRequest(d) => write!(f, "bad request: {}", r(d)),
            ApiError::ChatMigrated { to_chat_id } => {
                write!(f, "group migrated to supergroup {to_chat_id}")
            }
            ApiError::Server(code, d) => write!(f, "server error {code}: {}", r(d)),
            ApiError::Malformed(d) => write!(f, "malformed reply: {}", r(d)),
        }
    }
}

impl std::error::Error for ApiError {}

const REDACTED: &str = "<redacted>";

fn is_secret_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `s` with `token` and anything shaped like `/bot<digits>:<secret>` (also with `%3A` for the
/// colon) replaced: the path part becomes `/bot<redacted>`. An empty `token` only applies the
/// pattern.
pub fn redact_token(s: &str, token: &str) -> String {
    let s = if token.is_empty() {
        s.to_string()
    } else {
        s.replace(token, REDACTED)
    };
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = s[i..].find("/bot") {
        let start = i + found + 4;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let colon = if j == start {
            0
        } else if b.get(j) == Some(&b':') {
            1
        } else if s[j..].len() >= 3 && s[j..j + 3].eq_ignore_ascii_case("%3a") {
            3
        } else {
            0
        };
        let mut k = j + colon;
        while colon > 0 && k < b.len() && is_secret_char(b[k]) {
            k += 1;
        }
        if colon > 0 && k > j + colon {
            out.push_str(&s[copied..start]);
            out.push_str(REDACTED);
            copied = k;
            i = k;
        } else {
            i = start;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// `<base>/bot<token>/<method>`, tolerating a trailing `/` on `base`. The result holds the token:
/// never log it; redact errors that may quote it.
pub fn method_url(base: &str, token: &str, method: &str) -> String {
    format!("{}/bot{token}/{method}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn reply(json: &str) -> Result<serde_json::Value, ApiError> {
        serde_json::from_str::<ApiReply<serde_json::Value>>(json)
            .expect("envelope parses")
            .into_result()
    }

    #[test]
    fn update_parses_and_ignores_unknown_fields() {
        let json = r#"{"update_id": 10, "message": {
            "message_id": 5, "date": 1700000000, "new_field": {"x": 1},
            "chat": {"id": -1001, "type": "supergroup", "title": "Home", "is_forum": true},
            "from": {"id": 42, "is_bot": false, "first_name": "Ann", "username": "ann",
                     "language_code": "en"},
            "text": "/start@my_bot hi",
            "entities": [{"type": "bot_command", "offset": 0, "length": 13},
                         {"type": "bold", "offset": 14, "length": 2}],
            "reply_to_message": {"message_id": 4, "date": 1, "chat": {"id": -1001, "type": "supergroup"},
                                 "from": {"id": 7, "is_bot": true, "first_name": "Bot", "username": "my_bot"}},
            "voice": {"file_id": "v1", "duration": 3, "mime_type": "audio/ogg"},
            "document": {"file_id": "d1", "file_name": "a.pdf", "file_size": 3000000000}
        }}"#;
        let u: Update = serde_json::from_str(json).unwrap();
        assert_eq!(u.update_id, 10);
        let m = u.message.unwrap();
        assert_eq!(m.chat.kind, ChatKind::Supergroup);
        assert_eq!(m.chat.title.as_deref(), Some("Home"));
        assert_eq!(m.from.as_ref().unwrap().username.as_deref(), Some("ann"));
        let ents = m.entities.as_ref().unwrap();
        assert_eq!(ents[0].kind, EntityKind::BotCommand);
        assert_eq!(ents[1].kind, EntityKind::Other);
        assert_eq!(
            entity_text(m.text.as_ref().unwrap(), &ents[0]),
            Some("/start@my_bot")
        );
        let r = m.reply_to_message.as_ref().unwrap();
        assert!(r.from.as_ref().unwrap().is_bot);
        assert_eq!(m.voice.as_ref().unwrap().duration, 3);
        assert_eq!(m.voice.as_ref().unwrap().file_size, None);
        assert_eq!(m.document.as_ref().unwrap().file_size, Some(3_000_000_000));
        assert!(u.edited_message.is_none() && u.channel_post.is_none());
    }

    #[test]
    fn unknown_chat_kind_and_callback_query() {
        let json = r#"{"update_id": 1, "callback_query": {"id": "q", "data": "yes",
            "from": {"id": 1, "is_bot": false, "first_name": "A"},
            "message": {"message_id": 2, "date": 0, "chat": {"id": 1, "type": "future_kind"}}}}"#;
        let u: Update = serde_json::from_str(json).unwrap();
        let q = u.callback_query.unwrap();
        assert_eq!(q.data.as_deref(), Some("yes"));
        assert_eq!(q.message.unwrap().chat.kind, ChatKind::Other);
    }

    #[test]
    fn body_prefers_text_then_caption() {
        let mut m: Message = serde_json::from_str(
            r#"{"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                "caption": "cap", "caption_entities": [{"type": "mention", "offset": 0, "length": 3}]}"#,
        )
        .unwrap();
        let (t, e) = m.body().unwrap();
        assert_eq!((t, e.len()), ("cap", 1));
        m.text = Some("txt".into());
        assert_eq!(m.body().unwrap(), ("txt", &[][..]));
        m.text = None;
        m.caption = None;
        assert!(m.body().is_none());
    }

    #[test]
    fn entity_offsets_count_utf16_units() {
        let text = "😀 é @bot x";
        let e = |offset, length| Entity {
            kind: EntityKind::Mention,
            offset,
            length,
            user: None,
        };
        // 😀 is two units, the space one, é one, the space one: @bot starts at unit 5.
        assert_eq!(entity_text(text, &e(5, 4)), Some("@bot"));
        assert_eq!(entity_text(text, &e(0, 2)), Some("😀"));
        assert_eq!(entity_text(text, &e(1, 2)), None, "inside a surrogate pair");
        assert_eq!(entity_text(text, &e(5, 100)), None, "past the end");
        assert_eq!(entity_text(text, &e(10, 1)), Some("x"));
        assert_eq!(entity_text(text, &e(11, 0)), Some(""));
    }

    #[test]
    fn into_result_error_table() {
        let cases: &[(&str, ApiError, bool)] = &[
            (
                r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
                ApiError::Unauthorized,
                false,
            ),
            (
                r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#,
                ApiError::Forbidden("Forbidden: bot was blocked by the user".into()),
                false,
            ),
            (
                r#"{"ok":false,"error_code":404,"description":"Not Found"}"#,
                ApiError::NotFound,
                false,
            ),
            (
                r#"{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request"}"#,
                ApiError::Conflict("Conflict: terminated by other getUpdates request".into()),
                false,
            ),
            (
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
                ApiError::TooManyRequests { retry_after_s: 7 },
                true,
            ),
            (
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests"}"#,
                ApiError::TooManyRequests {
                    retry_after_s: DEFAULT_RETRY_AFTER_SECS,
                },
                true,
            ),
            (
                r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#,
                ApiError::BadRequest("Bad Request: can't parse entities".into()),
                false,
            ),
            (
                r#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009}}"#,
                ApiError::ChatMigrated { to_chat_id: -1009 },
                false,
            ),
            (
                r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#,
                ApiError::Server(502, "Bad Gateway".into()),
                true,
            ),
            (
                r#"{"ok":false,"description":"odd"}"#,
                ApiError::Malformed("error reply without error_code: odd".into()),
                true,
            ),
            (
                r#"{"ok":true}"#,
                ApiError::Malformed("ok reply without result".into()),
                true,
            ),
        ];
        for (json, want, transient) in cases {
            let got = reply(json).unwrap_err();
            assert_eq!(&got, want, "{json}");
            assert_eq!(got.is_transient(), *transient, "{json}");
        }
        assert_eq!(
            reply(r#"{"ok":true,"result":[1,2]}"#).unwrap(),
            serde_json::json!([1, 2])
        );
        let t: bool = serde_json::from_str::<ApiReply<bool>>(r#"{"ok":true,"result":true}"#)
            .unwrap()
            .into_result()
            .unwrap();
        assert!(t);
        assert_eq!(
            ApiError::TooManyRequests { retry_after_s: 3 }.retry_after_s(),
            Some(3)
        );
        assert_eq!(ApiError::NotFound.retry_after_s(), None);
    }

    #[test]
    fn display_is_lowercase_and_never_holds_a_token() {
        let leaky = format!(
            "error sending request for url (https://api.telegram.org/bot{TOKEN}/getUpdates)"
        );
        let errs = [
            ApiError::Malformed(leaky.clone()),
            ApiError::Server(502, leaky.clone()),
            ApiError::BadRequest(leaky.clone()),
            ApiError::Conflict(leaky.clone()),
            ApiError::Forbidden(leaky),
            ApiError::Unauthorized,
            ApiError::NotFound,
            ApiError::TooManyRequests { retry_after_s: 9 },
            ApiError::ChatMigrated { to_chat_id: -5 },
        ];
        for e in errs {
            let s = e.to_string();
            assert!(!s.contains("AAHdq") && !s.contains("123456789"), "{s}");
            assert!(s.starts_with(|c: char| c.is_ascii_lowercase()), "{s}");
            assert!(!s.ends_with('.'), "{s}");
        }
        assert_eq!(
            ApiError::Server(502, format!("x /bot{TOKEN}/sendMessage")).to_string(),
            "server error 502: x /bot<redacted>/sendMessage"
        );
        assert_eq!(
            ApiError::TooManyRequests { retry_after_s: 9 }.to_string(),
            "too many requests: retry after 9 s"
        );
    }

    #[test]
    fn redact_token_table() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "GET https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe failed",
                "",
                "GET https://api.telegram.org/bot<redacted>/getMe failed",
            ),
            (
                "token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw leaked",
                TOKEN,
                "token <redacted> leaked",
            ),
            (
                "http://h/bot1:x/a and http://h/bot2:y-z_/b",
                "",
                "http://h/bot<redacted>/a and http://h/bot<redacted>/b",
            ),
            (
                "http://h/bot99%3Asecret/getMe",
                "",
                "http://h/bot<redacted>/getMe",
            ),
            (
                "/bot /bot: /bot12 /bot12: /botfather /bot12:",
                "",
                "/bot /bot: /bot12 /bot12: /botfather /bot12:",
            ),
            ("no secrets here", TOKEN, "no secrets here"),
            ("ünïcode /bot7:abc/ü", "", "ünïcode /bot<redacted>/ü"),
            ("", "", ""),
        ];
        for (input, token, want) in cases {
            assert_eq!(redact_token(input, token), *want, "{input}");
        }
        // Both passes together: the URL form and a bare copy.
        let s = redact_token(&format!("{} and /bot{TOKEN}/x", TOKEN), TOKEN);
        assert_eq!(s, "<redacted> and /bot<redacted>/x");
    }

    #[test]
    fn method_url_joins() {
        assert_eq!(
            method_url("https://api.telegram.org/", "1:a", "getUpdates"),
            "https://api.telegram.org/bot1:a/getUpdates"
        );
        assert_eq!(
            method_url("http://127.0.0.1:8081", "1:a", "getMe"),
            "http://127.0.0.1:8081/bot1:a/getMe"
        );
        assert_eq!(
            redact_token(&method_url("http://h", TOKEN, "getMe"), ""),
            "http://h/bot<redacted>/getMe"
        );
    }
}
