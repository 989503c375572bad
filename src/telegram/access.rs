//! Access decisions for inbound Telegram messages: who may talk to the agent, and what they said.
//!
//! `decide` is pure: the bridge passes the configured `Access`, the message and a lookup of paired
//! users, and gets a `Gate` back. Direct messages follow `DmPolicy`; groups must be allowlisted
//! and, with `Activation::Mention`, address the bot (`@bot`, a reply to the bot, a text mention of
//! it, or a `/command` that is not addressed to another bot). Operators pass every DM policy.
//!
//! Also the pairing codes an unknown user receives under `DmPolicy::Pairing`: eight characters
//! from an alphabet without look-alikes, made from five random bytes the caller supplies.

use super::api::{ChatKind, Entity, EntityKind, Message, entity_text};

/// Who may open a direct conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    /// Unknown users get a one-time code; the operator approves it.
    Pairing,
    /// Only `allow_users` (and operators).
    Allowlist,
    /// Anyone.
    Open,
}

/// When an allowlisted group's messages reach the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Only messages that address the bot.
    Mention,
    /// Every message.
    Always,
}

/// The access configuration (`channels.telegram.*`), checked values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Direct message policy.
    pub dm_policy: DmPolicy,
    /// Users always allowed in direct messages.
    pub allow_users: Vec<i64>,
    /// Groups the bot answers in; any other group is ignored.
    pub allow_groups: Vec<i64>,
    /// Users whose commands are operator commands; they pass every DM policy.
    pub operators: Vec<i64>,
    /// Group activation mode.
    pub group_activation: Activation,
    /// The bot's `@username` without the `@` (from `getMe`).
    pub bot_username: String,
    /// The bot's user id (from `getMe`, also the digits before the token's colon); recognises
    /// `text_mention` entities and replies to the bot.
    pub bot_id: i64,
}

/// A `/command` at the start of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lowercase name, without `/` and `@bot`.
    pub name: String,
    /// The rest of the message, trimmed.
    pub args: String,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Hand it to the session.
    Accept {
        /// Session key without the agent part: `telegram:dm:<userId>` or
        /// `telegram:group:<chatId>`.
        session_key_rest: String,
        /// The text (or caption) with mentions of the bot removed; may be empty for a voice note
        /// or a file.
        text: String,
        /// The sender is a configured operator.
        operator: bool,
        /// The leading command, if any.
        command: Option<Command>,
    },
    /// An unknown user under `DmPolicy::Pairing`: send (or resend) their pairing code.
    NeedsPairing {
        /// The user to pair.
        user_id: i64,
    },
    /// Drop it; the reason is for the debug log.
    Ignore(&'static str),
}

/// Decides what to do with `m`; `paired` says whether a user was approved through pairing.
pub fn decide(a: &Access, m: &Message, paired: &dyn Fn(i64) -> bool) -> Gate {
    let group = match m.chat.kind {
        ChatKind::Private => false,
        ChatKind::Group | ChatKind::Supergroup => true,
        ChatKind::Channel | ChatKind::Other => return Gate::Ignore("channel post"),
    };
    let Some(from) = &m.from else {
        return Gate::Ignore("no sender (anonymous admin or channel)");
    };
    if from.is_bot {
        return Gate::Ignore("from a bot");
    }
    let (raw, entities) = m.body().unwrap_or(("", &[]));
    if raw.trim().is_empty() && m.voice.is_none() && m.document.is_none() {
        return Gate::Ignore("empty message");
    }
    if group && !a.allow_groups.contains(&m.chat.id) {
        return Gate::Ignore("group not allowlisted");
    }
    let operator = a.operators.contains(&from.id);
    if !group && !operator && !a.allow_users.contains(&from.id) {
        match a.dm_policy {
            DmPolicy::Open => {}
            DmPolicy::Allowlist => return Gate::Ignore("user not allowlisted"),
            DmPolicy::Pairing if paired(from.id) => {}
            DmPolicy::Pairing => return Gate::NeedsPairing { user_id: from.id },
        }
    }

    let parsed = parse_command(raw);
    let mut addressed = false;
    if let Some((_, target, _)) = &parsed {
        match target {
            Some(t) if !t.eq_ignore_ascii_case(&a.bot_username) => {
                if group {
                    return Gate::Ignore("command for another bot");
                }
            }
            _ => addressed = true,
        }
    }
    let cuts = mention_cuts(a, raw, entities);
    addressed |= !cuts.is_empty() || replies_to_bot(a, m);
    if group && a.group_activation == Activation::Mention && !addressed {
        return Gate::Ignore("no mention");
    }

    let (text, command) = match parsed {
        Some((name, _, args_at)) => {
            let args = strip_cuts(raw, args_at, &cuts);
            let text = if args.is_empty() {
                format!("/{name}")
            } else {
                format!("/{name} {args}")
            };
            (text, Some(Command { name, args }))
        }
        None => (strip_cuts(raw, 0, &cuts), None),
    };
    let session_key_rest = if group {
        format!("telegram:group:{}", m.chat.id)
    } else {
        format!("telegram:dm:{}", from.id)
    };
    Gate::Accept {
        session_key_rest,
        text,
        operator,
        command,
    }
}

/// `/name[@target]` at the start of `text`: lowercase name, target, byte offset of the arguments.
fn parse_command(text: &str) -> Option<(String, Option<&str>, usize)> {
    let rest = text.strip_prefix('/')?;
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 || name_len > 32 {
        return None;
    }
    let mut end = 1 + name_len;
    let mut target = None;
    if text[end..].starts_with('@') {
        let user_len = text[end + 1..]
            .bytes()
            .take_while(|b| is_username_byte(*b))
            .count();
        if user_len == 0 {
            return None;
        }
        target = Some(&text[end + 1..end + 1 + user_len]);
        end += 1 + user_len;
    }
    if !text[end..].chars().next().is_none_or(char::is_whitespace) {
        return None;
    }
    Some((rest[..name_len].to_ascii_lowercase(), target, end))
}

fn is_username_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte ranges of `raw` that address the bot: `@bot` (from `mention` entities or the text itself,
/// case-insensitive, as a whole word) and `text_mention` entities naming the bot's id.
fn mention_cuts(a: &Access, raw: &str, entities: &[Entity]) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    if !a.bot_username.is_empty() {
        let handle = format!("@{}", a.bot_username);
        let bytes = raw.as_bytes();
        let mut i = 0;
        while let Some(found) = find_ci(&raw[i..], &handle) {
            let start = i + found;
            let end = start + handle.len();
            let word_before = start > 0 && is_username_byte(bytes[start - 1]);
            let word_after = bytes.get(end).is_some_and(|b| is_username_byte(*b));
            // A command's own `/cmd@bot` suffix is handled by the command parser.
            let command_suffix = start > 0
                && bytes[..start].iter().all(|b| !b.is_ascii_whitespace())
                && raw.starts_with('/');
            if !word_before && !word_after && !command_suffix {
                cuts.push((start, end));
            }
            i = end;
        }
    }
    for e in entities {
        let is_bot = |id| a.bot_id != 0 && id == a.bot_id;
        if e.kind == EntityKind::TextMention && e.user.as_ref().is_some_and(|u| is_bot(u.id)) {
            if let Some(t) = entity_text(raw, e) {
                let start = t.as_ptr() as usize - raw.as_ptr() as usize;
                cuts.push((start, start + t.len()));
            }
        }
    }
    cuts.sort_unstable();
    cuts
}

/// ASCII case-insensitive `find` (usernames are ASCII).
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().checked_sub(n.len())? + 1).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn replies_to_bot(a: &Access, m: &Message) -> bool {
    let Some(from) = m.reply_to_message.as_ref().and_then(|r| r.from.as_ref()) else {
        return false;
    };
    let by_name = from
        .username
        .as_deref()
        .is_some_and(|u| !a.bot_username.is_empty() && u.eq_ignore_ascii_case(&a.bot_username));
    from.is_bot && (by_name || (a.bot_id != 0 && from.id == a.bot_id))
}

/// `raw[from..]` without the cut ranges; a leading mention also loses a following `,` or `:`.
/// Whitespace around each cut collapses to one space, and the result is trimmed.
fn strip_cuts(raw: &str, from: usize, cuts: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(raw.len() - from);
    let mut pos = from;
    for &(start, end) in cuts.iter().filter(|c| c.0 >= from) {
        out.push_str(&raw[pos..start]);
        let mut end = end;
        if out.trim().is_empty() && raw[end..].starts_with([',', ':']) {
            end += 1;
        }
        let trimmed = out.trim_end_matches([' ', '\t']).len();
        out.truncate(trimmed);
        let after = raw[end..].trim_start_matches([' ', '\t']);
        if !out.is_empty()
            && !after.is_empty()
            && !out.ends_with('\n')
            && !after.starts_with(['\n', ',', '.', '!', '?'])
        {
            out.push(' ');
        }
        pos = raw.len() - after.len();
    }
    out.push_str(&raw[pos..]);
    out.trim().to_string()
}

/// Alphabet of pairing codes: no `0`/`O`, no `1`/`I`.
pub const PAIRING_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Length of a pairing code.
pub const PAIRING_CODE_LEN: usize = 8;

/// An eight-character code from 40 random bits (five bits per character).
pub fn pairing_code(random: [u8; 5]) -> String {
    let bits = random
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    (0..PAIRING_CODE_LEN)
        .rev()
        .map(|k| PAIRING_ALPHABET[((bits >> (5 * k)) & 31) as usize] as char)
        .collect()
}

/// The canonical form of a code a user or operator typed (case, spaces and dashes ignored), or
/// `None` when it cannot be a pairing code.
pub fn normalize_pairing_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == PAIRING_CODE_LEN && code.bytes().all(|b| PAIRING_ALPHABET.contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::api::{Chat, User, Voice};

    const BOT: i64 = 777;
    const OWNER: i64 = 1;
    const FRIEND: i64 = 2;
    const STRANGER: i64 = 3;
    const PAIRED: i64 = 4;
    const GROUP: i64 = -100;
    const OTHER_GROUP: i64 = -200;

    fn access(dm_policy: DmPolicy, group_activation: Activation) -> Access {
        Access {
            dm_policy,
            allow_users: vec![FRIEND],
            allow_groups: vec![GROUP],
            operators: vec![OWNER],
            group_activation,
            bot_username: "Edge_Bot".into(),
            bot_id: BOT,
        }
    }

    fn user(id: i64, is_bot: bool, username: Option<&str>) -> User {
        User {
            id,
            is_bot,
            first_name: format!("u{id}"),
            username: username.map(Into::into),
        }
    }

    fn msg(chat_id: i64, from: i64, text: &str) -> Message {
        let kind = if chat_id > 0 {
            ChatKind::Private
        } else {
            ChatKind::Supergroup
        };
        Message {
            message_id: 1,
            date: 0,
            chat: Chat {
                id: chat_id,
                kind,
                title: None,
                username: None,
            },
            from: Some(user(from, false, None)),
            text: Some(text.into()),
            caption: None,
            entities: None,
            caption_entities: None,
            reply_to_message: None,
            voice: None,
            document: None,
        }
    }

    fn paired(id: i64) -> bool {
        id == PAIRED
    }

    fn gate(a: &Access, m: &Message) -> Gate {
        decide(a, m, &paired)
    }

    fn accepted_text(g: &Gate) -> &str {
        match g {
            Gate::Accept { text, .. } => text,
            other => panic!("not accepted: {other:?}"),
        }
    }

    #[test]
    fn dm_policy_matrix() {
        use DmPolicy::*;
        let accept = |user: i64| Gate::Accept {
            session_key_rest: format!("telegram:dm:{user}"),
            text: "hi".into(),
            operator: user == OWNER,
            command: None,
        };
        let cases: &[(DmPolicy, i64, Gate)] = &[
            (Pairing, OWNER, accept(OWNER)),
            (Pairing, FRIEND, accept(FRIEND)),
            (Pairing, PAIRED, accept(PAIRED)),
            (Pairing, STRANGER, Gate::NeedsPairing { user_id: STRANGER }),
            (Allowlist, OWNER, accept(OWNER)),
            (Allowlist, FRIEND, accept(FRIEND)),
            (Allowlist, PAIRED, Gate::Ignore("user not allowlisted")),
            (Allowlist, STRANGER, Gate::Ignore("user not allowlisted")),
            (Open, OWNER, accept(OWNER)),
            (Open, STRANGER, accept(STRANGER)),
        ];
        for (policy, user, want) in cases {
            let a = access(*policy, Activation::Mention);
            // In a private chat the chat id is the user id.
            assert_eq!(
                &gate(&a, &msg(*user, *user, "hi")),
                want,
                "{policy:?} {user}"
            );
        }
    }

    #[test]
    fn group_matrix() {
        use Activation::*;
        let cases: &[(Activation, i64, &str, Option<&str>)] = &[
            (Mention, GROUP, "hello all", None),
            (Mention, GROUP, "@edge_bot what is up", Some("what is up")),
            (
                Mention,
                GROUP,
                "hey @EDGE_BOT, see this",
                Some("hey, see this"),
            ),
            (Mention, GROUP, "@Edge_Bot: status?", Some("status?")),
            (Mention, GROUP, "mail me@edge_bot.org", None),
            (Mention, GROUP, "@edge_bot_fan hi", None),
            (Always, GROUP, "hello all", Some("hello all")),
            (Always, GROUP, "ping @edge_bot", Some("ping")),
            (Always, OTHER_GROUP, "@edge_bot hi", None),
            (Mention, OTHER_GROUP, "@edge_bot hi", None),
        ];
        for (activation, chat, text, want) in cases {
            let a = access(DmPolicy::Open, *activation);
            let g = gate(&a, &msg(*chat, STRANGER, text));
            match want {
                Some(t) => {
                    assert_eq!(accepted_text(&g), *t, "{activation:?} {text}");
                    let Gate::Accept {
                        session_key_rest,
                        operator,
                        ..
                    } = &g
                    else {
                        unreachable!()
                    };
                    assert_eq!(session_key_rest, &format!("telegram:group:{chat}"));
                    assert!(!operator);
                }
                None => assert!(
                    matches!(g, Gate::Ignore(_)),
                    "{activation:?} {chat} {text}: {g:?}"
                ),
            }
        }
        let a = access(DmPolicy::Open, Mention);
        assert_eq!(
            gate(&a, &msg(OTHER_GROUP, OWNER, "hi")),
            Gate::Ignore("group not allowlisted")
        );
        assert_eq!(
            gate(&a, &msg(GROUP, OWNER, "hi")),
            Gate::Ignore("no mention")
        );
        // Group membership does not depend on the DM policy or pairing.
        let a = access(DmPolicy::Allowlist, Always);
        assert_eq!(accepted_text(&gate(&a, &msg(GROUP, STRANGER, "yo"))), "yo");
    }

    #[test]
    fn reply_to_the_bot_activates() {
        let a = access(DmPolicy::Open, Activation::Mention);
        let mut m = msg(GROUP, STRANGER, "and then?");
        let mut replied = msg(GROUP, BOT, "earlier answer");
        replied.from = Some(user(BOT, true, Some("edge_bot")));
        m.reply_to_message = Some(Box::new(replied.clone()));
        assert_eq!(accepted_text(&gate(&a, &m)), "and then?");
        // Same id but a human: not the bot. Another bot: not us.
        replied.from = Some(user(99, true, Some("other_bot")));
        m.reply_to_message = Some(Box::new(replied.clone()));
        assert_eq!(gate(&a, &m), Gate::Ignore("no mention"));
        replied.from = Some(user(55, false, Some("edge_bot")));
        m.reply_to_message = Some(Box::new(replied.clone()));
        assert_eq!(gate(&a, &m), Gate::Ignore("no mention"));
        // Matched by id even when the username changed.
        replied.from = Some(user(BOT, true, Some("renamed_bot")));
        m.reply_to_message = Some(Box::new(replied));
        assert_eq!(accepted_text(&gate(&a, &m)), "and then?");
    }

    #[test]
    fn text_mention_entity_activates_and_is_stripped() {
        let a = access(DmPolicy::Open, Activation::Mention);
        // "😀 Edgy, help": the name starts at UTF-16 unit 3 (the emoji is two units).
        let mut m = msg(GROUP, STRANGER, "😀 Edgy, help");
        let mention = |id| Entity {
            kind: EntityKind::TextMention,
            offset: 3,
            length: 4,
            user: Some(user(id, true, None)),
        };
        m.entities = Some(vec![mention(BOT)]);
        assert_eq!(accepted_text(&gate(&a, &m)), "😀, help");
        m.entities = Some(vec![mention(12)]);
        assert_eq!(gate(&a, &m), Gate::Ignore("no mention"));
        m.entities = Some(vec![Entity {
            offset: 40,
            ..mention(BOT)
        }]);
        assert_eq!(
            gate(&a, &m),
            Gate::Ignore("no mention"),
            "out-of-range entity"
        );
    }

    #[test]
    fn commands() {
        let cmd = |name: &str, args: &str| {
            Some(Command {
                name: name.into(),
                args: args.into(),
            })
        };
        // (chat, text, accepted text and command; None: ignored as for another bot)
        type Case<'a> = (i64, &'a str, Option<(&'a str, Option<Command>)>);
        let cases: &[Case] = &[
            (GROUP, "/status", Some(("/status", cmd("status", "")))),
            (
                GROUP,
                "/Status@edge_bot",
                Some(("/status", cmd("status", ""))),
            ),
            (
                GROUP,
                "/model@EDGE_BOT openai/gpt-4o",
                Some(("/model openai/gpt-4o", cmd("model", "openai/gpt-4o"))),
            ),
            (
                GROUP,
                "/pairing approve ABCD2345",
                Some((
                    "/pairing approve ABCD2345",
                    cmd("pairing", "approve ABCD2345"),
                )),
            ),
            (
                GROUP,
                "/ask @edge_bot why",
                Some(("/ask why", cmd("ask", "why"))),
            ),
            (GROUP, "/status@other_bot", None),
            (GROUP, "/start@other_bot @edge_bot", None),
            (
                OWNER,
                "/status@other_bot",
                Some(("/status", cmd("status", ""))),
            ),
            (OWNER, "/reset", Some(("/reset", cmd("reset", "")))),
            (OWNER, "/tts  on ", Some(("/tts on", cmd("tts", "on")))),
            (
                OWNER,
                "/usr/bin/env is a path",
                Some(("/usr/bin/env is a path", None)),
            ),
            (OWNER, "/ hello", Some(("/ hello", None))),
            (OWNER, "/x@ y", Some(("/x@ y", None))),
        ];
        for (chat, text, want) in cases {
            let a = access(DmPolicy::Allowlist, Activation::Mention);
            let g = gate(&a, &msg(*chat, OWNER, text));
            match want {
                Some((t, c)) => {
                    let Gate::Accept {
                        text: got,
                        command,
                        operator,
                        ..
                    } = &g
                    else {
                        panic!("{text}: {g:?}");
                    };
                    assert_eq!((got.as_str(), command), (*t, c), "{text}");
                    assert!(operator);
                }
                None => assert_eq!(g, Gate::Ignore("command for another bot"), "{text}"),
            }
        }
    }

    #[test]
    fn ignores_bots_channels_empty_and_anonymous() {
        let a = access(DmPolicy::Open, Activation::Always);
        let mut m = msg(GROUP, STRANGER, "hi");
        m.from = Some(user(9, true, Some("spam_bot")));
        assert_eq!(gate(&a, &m), Gate::Ignore("from a bot"));
        let mut m = msg(GROUP, STRANGER, "hi");
        m.from = None;
        assert!(matches!(gate(&a, &m), Gate::Ignore(r) if r.starts_with("no sender")));
        let mut m = msg(GROUP, STRANGER, "hi");
        m.chat.kind = ChatKind::Channel;
        assert_eq!(gate(&a, &m), Gate::Ignore("channel post"));
        assert_eq!(
            gate(&a, &msg(GROUP, STRANGER, "  \n")),
            Gate::Ignore("empty message")
        );
        let mut m = msg(STRANGER, STRANGER, "");
        m.text = None;
        assert_eq!(gate(&a, &m), Gate::Ignore("empty message"));
    }

    #[test]
    fn voice_and_captions() {
        let a = access(DmPolicy::Open, Activation::Mention);
        let mut m = msg(STRANGER, STRANGER, "");
        m.text = None;
        m.voice = Some(Voice {
            file_id: "v".into(),
            duration: 2,
            file_size: None,
        });
        assert_eq!(accepted_text(&gate(&a, &m)), "");
        // In a group a bare voice note needs a reply to the bot or a mention in the caption.
        let mut g = m.clone();
        g.chat = Chat {
            id: GROUP,
            kind: ChatKind::Group,
            title: None,
            username: None,
        };
        assert_eq!(gate(&a, &g), Gate::Ignore("no mention"));
        g.caption = Some("@edge_bot transcribe".into());
        assert_eq!(accepted_text(&gate(&a, &g)), "transcribe");
    }

    #[test]
    fn strip_keeps_lines_and_punctuation() {
        let a = access(DmPolicy::Open, Activation::Always);
        let t = |s: &str| accepted_text(&gate(&a, &msg(GROUP, STRANGER, s))).to_string();
        assert_eq!(t("thanks @edge_bot!"), "thanks!");
        assert_eq!(t("@edge_bot\nline two"), "line two");
        assert_eq!(t("a @edge_bot b @edge_bot c"), "a b c");
        assert_eq!(t("@edge_bot"), "");
    }

    #[test]
    fn pairing_codes() {
        assert_eq!(pairing_code([0; 5]), "AAAAAAAA");
        assert_eq!(pairing_code([0xFF; 5]), "99999999");
        assert_eq!(pairing_code([0x00, 0x44, 0x32, 0x14, 0xC7]), "ABCDEFGH");
        for seed in 0u8..=255 {
            let code = pairing_code([
                seed,
                seed.wrapping_mul(7),
                !seed,
                seed ^ 0x5A,
                seed.rotate_left(3),
            ]);
            assert_eq!(code.len(), PAIRING_CODE_LEN);
            assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
            assert_eq!(
                normalize_pairing_code(&code.to_lowercase()).as_deref(),
                Some(code.as_str())
            );
        }
        let cases: &[(&str, Option<&str>)] = &[
            ("abcd-efgh", Some("ABCDEFGH")),
            (" ABCD EFGH\n", Some("ABCDEFGH")),
            ("ABCDEFG", None),
            ("ABCDEFGHJ", None),
            ("ABCDEFG0", None),
            ("ABCDEFGI", None),
            ("ABCDEFGÄ", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_pairing_code(input).as_deref(), *want, "{input:?}");
        }
    }
}
