//! Fake Telegram Bot API server (std threads + std::net + serde_json only).
//!
//! Used by the Telegram bridge tests and benchmarks. It binds `127.0.0.1:0`, runs one accept
//! thread and one thread per connection, speaks HTTP/1.1 with keep-alive, and answers
//! `/bot<TOKEN>/<method>` (GET with a query, POST with a JSON, urlencoded or multipart body) and
//! `/file/bot<TOKEN>/<file_path>` with the real Bot API's shapes and error bodies
//! (`{"ok":true,"result":…}` / `{"ok":false,"error_code":N,"description":"…"}`).
//!
//! Tests queue updates ([`FakeTelegram::push_update`], [`FakeTelegram::text_message`], …), read
//! back what the bot did ([`FakeTelegram::sent`], [`FakeTelegram::replies_to`],
//! [`FakeTelegram::requests`]) and inject faults ([`Fault`], [`Network`]). Self-contained on
//! purpose: include it from elsewhere with `#[path = "../tests/common/telegram.rs"] mod telegram;`.
//!
//! Behaviour notes (where this differs from api.telegram.org, and why):
//! - Two overlapping `getUpdates` calls: by default the older one is answered `409 Conflict`
//!   and the newer one proceeds, as Telegram does ([`Conflicts::TerminateOlder`]). A poll whose
//!   client has gone away is noticed and dropped, so a bot that abandons a stalled poll and
//!   polls again is never refused. `Fault::Conflict` makes getUpdates answer 409 outright
//!   ("another instance is polling").
//! - `message_id`s come from one counter shared by all chats (Telegram counts per chat); they
//!   still increase within every chat.
//! - Text length is checked in Unicode scalar values (what Telegram counts), entity offsets in
//!   UTF-16 code units. Entity parsing (HTML, MarkdownV2, Markdown) follows TDLib's rules and
//!   error texts closely but not byte for byte; automatic entity detection (URLs, mentions) in
//!   sent text is not done.
//! - Only chats seen in pushed updates (or added with [`FakeTelegram::add_chat`]) exist;
//!   anything else is `400 Bad Request: chat not found`, as for a real bot.
//! - No webhooks, inline mode, keyboards or media sending; such methods answer 404 like an
//!   unknown method (a handful of harmless setup calls such as `deleteWebhook` answer `true`).
//! - Rate limits are not enforced unless [`FakeTelegram::set_flood_limit`] is called.

#![allow(dead_code)]

// Each fake server includes the request reader itself, so a bench can `#[path]`-include one
// server alone; inside `tests/common` both do, hence the allow.
#[allow(clippy::duplicate_mod)]
#[path = "http_in.rs"]
mod http_in;

use http_in::{Bounds, ReadErr, Reader, Req, find, is_timeout};

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

const MAX_HEAD: usize = 64 * 1024;
/// Request limits for `http_in`.
const BOUNDS: Bounds = Bounds {
    max_head: MAX_HEAD,
    max_body: MAX_BODY,
    give_up: GIVE_UP,
};
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Read timeout of every connection: how often idle/stalled threads look at the socket.
const POLL: Duration = Duration::from_millis(50);
/// Idle connections, stalls and blocked writes give up after this long.
const GIVE_UP: Duration = Duration::from_secs(300);
/// Longest text of a message after entity parsing, in Unicode scalar values.
pub const MAX_TEXT: usize = 4096;
/// Largest file `getFile` hands out (Bot API: 20 MB).
pub const MAX_DOWNLOAD: usize = 20 * 1024 * 1024;
/// The pseudo-method name of file downloads (for [`Fault`]s and [`Recorded::method`]).
pub const DOWNLOAD: &str = "download";
const CONFLICT: &str = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

/// What the next matching call(s) get instead of a normal answer. `method` is matched
/// case-insensitively; `"*"` matches every method (including [`DOWNLOAD`]). Queued faults are
/// consumed in the order given, `times` calls each.
#[derive(Clone, Debug)]
pub enum Fault {
    /// `429` with `"description":"Too Many Requests: retry after S"` and
    /// `"parameters":{"retry_after":S}`. The call has no effect.
    TooManyRequests {
        method: &'static str,
        retry_after: u64,
        times: usize,
    },
    /// `502` with nginx's HTML page (what api.telegram.org returns when its backend is away).
    /// The call has no effect.
    BadGateway { method: &'static str, times: usize },
    /// A JSON error `{"ok":false,"error_code":code,"description":…}` (e.g. 500). No effect.
    ServerError {
        method: &'static str,
        code: u16,
        times: usize,
    },
    /// `200` with a truncated JSON body (`{"ok":true,"result":`). No effect.
    Malformed { method: &'static str, times: usize },
    /// The request is read and never answered; the connection stays open until the client
    /// closes it (counted in [`FakeTelegram::stalls_abandoned`]). No effect.
    Stall { method: &'static str, times: usize },
    /// The call takes effect (the message is sent, the updates are handed out), then the
    /// answer's headers with the full `Content-Length` and half of its body are written and the
    /// connection is closed.
    DropMidBody { method: &'static str, times: usize },
    /// `getUpdates` answers `409 Conflict: terminated by other getUpdates request; …`.
    Conflict { times: usize },
    /// `400` with `"description":"Bad Request: <description>"` (e.g. `can't parse entities: …`).
    /// No effect.
    BadRequest {
        method: &'static str,
        description: &'static str,
        times: usize,
    },
    /// `400` `"Bad Request: group chat was upgraded to a supergroup chat"` with
    /// `"parameters":{"migrate_to_chat_id":to}`. No effect.
    Migrated {
        method: &'static str,
        to: i64,
        times: usize,
    },
    /// Wait `ms` before handling the call normally (nothing takes effect during the wait).
    Delay {
        method: &'static str,
        ms: u64,
        times: usize,
    },
}

impl Fault {
    fn method(&self) -> &str {
        match self {
            Fault::TooManyRequests { method, .. }
            | Fault::BadGateway { method, .. }
            | Fault::ServerError { method, .. }
            | Fault::Malformed { method, .. }
            | Fault::Stall { method, .. }
            | Fault::DropMidBody { method, .. }
            | Fault::Delay { method, .. }
            | Fault::BadRequest { method, .. }
            | Fault::Migrated { method, .. } => method,
            Fault::Conflict { .. } => "getUpdates",
        }
    }

    fn times(&mut self) -> &mut usize {
        match self {
            Fault::TooManyRequests { times, .. }
            | Fault::BadGateway { times, .. }
            | Fault::ServerError { times, .. }
            | Fault::Malformed { times, .. }
            | Fault::Stall { times, .. }
            | Fault::DropMidBody { times, .. }
            | Fault::Conflict { times }
            | Fault::Delay { times, .. }
            | Fault::BadRequest { times, .. }
            | Fault::Migrated { times, .. } => times,
        }
    }
}

/// The state of the network between the bot and the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// Normal service.
    Up,
    /// Connections are accepted and closed at once without an answer; open connections
    /// (including waiting long polls) are closed too.
    Reset,
    /// The port stops listening (connection refused); open connections are closed. Listening
    /// resumes on the same port when the network comes back.
    Refuse,
    /// Connections are accepted and requests read but nothing is ever answered (a dead route):
    /// the client only notices through its own timeouts. Open long polls go silent too.
    Blackhole,
}

/// What a `getUpdates` arriving while another one is waiting does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflicts {
    /// Both wait; both may return the same updates.
    Off,
    /// The older one is answered 409 and the newer proceeds (Telegram's behaviour; default).
    TerminateOlder,
    /// The newer one is answered 409 at once and the older keeps waiting.
    RejectNewer,
}

/// One successful `sendMessage` / `editMessageText` / `deleteMessage` / `sendChatAction`.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Canonical method name, e.g. `"sendMessage"`.
    pub method: &'static str,
    pub chat_id: i64,
    /// The message sent, edited or deleted (`None` for chat actions).
    pub message_id: Option<i64>,
    /// Text as sent, markup included.
    pub text: Option<String>,
    /// Text after entity parsing (what the user sees).
    pub plain: Option<String>,
    pub parse_mode: Option<String>,
    /// `reply_to_message_id` or `reply_parameters.message_id`.
    pub reply_to: Option<i64>,
    /// The `action` of `sendChatAction`.
    pub action: Option<String>,
    pub at: Instant,
}

/// One request as received (also the rejected and faulted ones).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET` / `POST`.
    pub http_method: String,
    /// The Bot API method as written in the URL (or [`DOWNLOAD`]).
    pub method: String,
    /// Query and body parameters merged into one JSON object (form values stay strings;
    /// downloads carry `file_path`).
    pub params: Value,
    /// Whether the token was right.
    pub authorized: bool,
    pub at: Instant,
}

impl Recorded {
    pub fn param(&self, key: &str) -> Option<&Value> {
        self.params.get(key)
    }
}

/// Automatic flood control (off by default): at most `per_chat` sends to one chat and
/// `global` sends overall per `window`; excess sends get 429 with `retry_after`.
#[derive(Clone, Debug)]
pub struct FloodLimit {
    pub per_chat: usize,
    pub global: usize,
    pub window: Duration,
    pub retry_after: u64,
}

struct Queued {
    id: i64,
    update: Value,
    /// Re-queued by `duplicate`: survives confirmation until it has been handed out once.
    sticky: bool,
    delivered: bool,
}

struct FileEntry {
    unique_id: String,
    path: String,
    bytes: Vec<u8>,
}

struct State {
    queue: Vec<Queued>,
    history: HashMap<i64, Value>,
    next_update_id: i64,
    confirmed: i64,
    allowed: Option<Vec<String>>,
    next_message_id: i64,
    /// (chat, message id) → Message object (incoming and sent, edits applied, deletions removed).
    messages: HashMap<(i64, i64), Value>,
    chats: HashMap<i64, Value>,
    blocked: HashSet<i64>,
    admin_in: HashSet<i64>,
    files: HashMap<String, FileEntry>,
    next_file: usize,
    sent: Vec<Sent>,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    getupdates_calls: usize,
    next_poll: u64,
    /// Waiting long polls, oldest first.
    polls: Vec<u64>,
    terminated: HashSet<u64>,
    conflicts: Conflicts,
    conflicts_sent: usize,
    network: Network,
    flood: Option<FloodLimit>,
    flood_log: VecDeque<(Instant, i64)>,
    flood_rejections: usize,
    commands: Value,
    username: String,
}

struct Shared {
    token: String,
    bot_id: i64,
    state: Mutex<State>,
    cv: Condvar,
    stop: AtomicBool,
    stalls_abandoned: AtomicUsize,
    connections: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn network(&self) -> Network {
        self.lock().network
    }
}

/// The running fake server. Dropping it stops it (open connections are closed within ~50 ms).
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl FakeTelegram {
    /// Starts a server for `token` (e.g. `"123456:TEST"`; the number before `:` becomes the
    /// bot's user id, 777000111 otherwise) on `127.0.0.1:0`.
    pub fn start(token: &str) -> FakeTelegram {
        Self::start_on(0, token)
    }

    /// Like `start` on a fixed port (0 = any).
    pub fn start_on(port: u16, token: &str) -> FakeTelegram {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("fake telegram: bind");
        let addr = listener.local_addr().expect("fake telegram: local_addr");
        let bot_id = token
            .split(':')
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(777_000_111);
        let shared = Arc::new(Shared {
            token: token.to_string(),
            bot_id,
            state: Mutex::new(State {
                queue: Vec::new(),
                history: HashMap::new(),
                next_update_id: 100_000_001,
                confirmed: 0,
                allowed: None,
                next_message_id: 1,
                messages: HashMap::new(),
                chats: HashMap::new(),
                blocked: HashSet::new(),
                admin_in: HashSet::new(),
                files: HashMap::new(),
                next_file: 0,
                sent: Vec::new(),
                requests: Vec::new(),
                faults: Vec::new(),
                getupdates_calls: 0,
                next_poll: 0,
                polls: Vec::new(),
                terminated: HashSet::new(),
                conflicts: Conflicts::TerminateOlder,
                conflicts_sent: 0,
                network: Network::Up,
                flood: None,
                flood_log: VecDeque::new(),
                flood_rejections: 0,
                commands: json!([]),
                username: "edge_test_bot".into(),
            }),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
            stalls_abandoned: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name("fake-tg-accept".into())
            .spawn(move || accept_loop(listener, addr, sh))
            .expect("fake telegram: spawn accept thread");
        FakeTelegram {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (methods live at `{base_url}/bot{token}/{method}`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn bot_id(&self) -> i64 {
        self.shared.bot_id
    }

    pub fn bot_username(&self) -> String {
        self.shared.lock().username.clone()
    }

    /// Changes the bot's `username` (without `@`) as reported by `getMe`.
    pub fn set_bot_username(&self, name: &str) {
        self.shared.lock().username = name.to_string();
    }

    // ---- updates ------------------------------------------------------------------------------

    /// Queues an update; assigns `update_id` when it has none (ids increase; an explicit id
    /// moves the counter past it). Chats and messages inside it become known to the server.
    /// Wakes a waiting long poll. Returns the update_id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut st = self.shared.lock();
        let id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                let id = st.next_update_id;
                update["update_id"] = json!(id);
                id
            }
        };
        st.next_update_id = st.next_update_id.max(id + 1);
        for key in [
            "message",
            "edited_message",
            "channel_post",
            "edited_channel_post",
        ] {
            if let Some(m) = update.get(key) {
                register_message(&mut st, m);
            }
        }
        if let Some(m) = update.pointer("/callback_query/message") {
            register_message(&mut st, m);
        }
        st.history.insert(id, update.clone());
        insert_sorted(
            &mut st.queue,
            Queued {
                id,
                update,
                sticky: false,
                delivered: false,
            },
        );
        drop(st);
        self.shared.cv.notify_all();
        id
    }

    /// A realistic `message` update (not queued; `message_id` assigned). The chat is private
    /// for positive ids (normally `chat_id == from_id`), a supergroup for ids ≤ -1000000000000, else a group.
    /// `/commands` and `@mentions` get their entities.
    pub fn message(&self, chat_id: i64, from_id: i64, text: &str) -> Value {
        let mut st = self.shared.lock();
        let mid = st.next_message_id;
        st.next_message_id += 1;
        let chat = st
            .chats
            .get(&chat_id)
            .cloned()
            .unwrap_or_else(|| chat_object(chat_id, from_id));
        let mut m = json!({
            "message_id": mid,
            "from": user_object(from_id),
            "chat": chat,
            "date": unix_now(),
            "text": text,
        });
        let ents = detect_entities(text);
        if !ents.is_empty() {
            m["entities"] = Value::Array(ents);
        }
        json!({ "message": m })
    }

    /// Queues a text message from `from_id` in `chat_id` (see [`FakeTelegram::message`]);
    /// returns its update_id.
    pub fn text_message(&self, chat_id: i64, from_id: i64, text: &str) -> i64 {
        let u = self.message(chat_id, from_id, text);
        self.push_update(u)
    }

    /// Queues a text message replying to message `reply_to` of the same chat (e.g. one the bot
    /// sent: `reply_to_message.from` is then the bot). Returns the update_id.
    pub fn text_reply(&self, chat_id: i64, from_id: i64, text: &str, reply_to: i64) -> i64 {
        let mut u = self.message(chat_id, from_id, text);
        let original = self
            .shared
            .lock()
            .messages
            .get(&(chat_id, reply_to))
            .cloned();
        u["message"]["reply_to_message"] = original.unwrap_or_else(|| {
            json!({"message_id": reply_to, "chat": u["message"]["chat"].clone(), "date": unix_now()})
        });
        self.push_update(u)
    }

    /// Queues a voice note whose file is `file_id` (register the bytes with `add_file`).
    pub fn voice_message(&self, chat_id: i64, from_id: i64, file_id: &str, duration: u64) -> i64 {
        let mut u = self.message(chat_id, from_id, "");
        let (unique, size) = {
            let st = self.shared.lock();
            st.files
                .get(file_id)
                .map(|f| (f.unique_id.clone(), f.bytes.len()))
                .unwrap_or_else(|| (unique_id(file_id), 0))
        };
        let m = u["message"].as_object_mut().unwrap();
        m.remove("text");
        m.insert(
            "voice".into(),
            json!({"file_id": file_id, "file_unique_id": unique, "duration": duration,
                   "mime_type": "audio/ogg", "file_size": size}),
        );
        self.push_update(u)
    }

    /// Queues a document (`file_id`, `file_name`) with an optional caption.
    pub fn document_message(
        &self,
        chat_id: i64,
        from_id: i64,
        file_id: &str,
        file_name: &str,
        caption: Option<&str>,
    ) -> i64 {
        let mut u = self.message(chat_id, from_id, "");
        let (unique, size) = {
            let st = self.shared.lock();
            st.files
                .get(file_id)
                .map(|f| (f.unique_id.clone(), f.bytes.len()))
                .unwrap_or_else(|| (unique_id(file_id), 0))
        };
        let m = u["message"].as_object_mut().unwrap();
        m.remove("text");
        m.insert(
            "document".into(),
            json!({"file_id": file_id, "file_unique_id": unique, "file_name": file_name,
                   "mime_type": "application/octet-stream", "file_size": size}),
        );
        if let Some(c) = caption {
            m.insert("caption".into(), json!(c));
        }
        self.push_update(u)
    }

    /// Re-queues an update pushed earlier, with the same update_id (as Telegram redelivers
    /// updates whose offset was never confirmed). It is handed out by the next getUpdates even
    /// if its id is below the confirmed offset, then dropped by the next confirmation.
    pub fn duplicate(&self, update_id: i64) {
        let mut st = self.shared.lock();
        let update = st
            .history
            .get(&update_id)
            .cloned()
            .unwrap_or_else(|| panic!("fake telegram: no update {update_id} to duplicate"));
        insert_sorted(
            &mut st.queue,
            Queued {
                id: update_id,
                update,
                sticky: true,
                delivered: false,
            },
        );
        drop(st);
        self.shared.cv.notify_all();
    }

    /// Updates queued and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Highest `offset` a getUpdates call has confirmed (0 before any).
    pub fn confirmed_offset(&self) -> i64 {
        self.shared.lock().confirmed
    }

    pub fn getupdates_calls(&self) -> usize {
        self.shared.lock().getupdates_calls
    }

    /// getUpdates calls waiting right now (a bot idle in long poll shows 1).
    pub fn polls_waiting(&self) -> usize {
        self.shared.lock().polls.len()
    }

    /// 409 answers given because of overlapping polls (not counting `Fault::Conflict`).
    pub fn conflicts(&self) -> usize {
        self.shared.lock().conflicts_sent
    }

    pub fn set_conflicts(&self, c: Conflicts) {
        self.shared.lock().conflicts = c;
    }

    /// The `allowed_updates` last set by getUpdates (`None`: never set, the default types).
    pub fn allowed_updates(&self) -> Option<Vec<String>> {
        self.shared.lock().allowed.clone()
    }

    // ---- chats and files ----------------------------------------------------------------------

    /// Makes a chat known without a message (private for positive ids, else group/supergroup).
    pub fn add_chat(&self, chat_id: i64) {
        self.shared
            .lock()
            .chats
            .entry(chat_id)
            .or_insert_with(|| chat_object(chat_id, chat_id));
    }

    /// While blocked, sends to `chat_id` get `403 Forbidden: bot was blocked by the user`.
    pub fn set_blocked(&self, chat_id: i64, blocked: bool) {
        let mut st = self.shared.lock();
        if blocked {
            st.blocked.insert(chat_id);
        } else {
            st.blocked.remove(&chat_id);
        }
    }

    /// Whether the bot is an admin of group `chat_id` (may delete other people's messages
    /// there). In private chats the bot may always delete.
    pub fn set_admin(&self, chat_id: i64, admin: bool) {
        let mut st = self.shared.lock();
        if admin {
            st.admin_in.insert(chat_id);
        } else {
            st.admin_in.remove(&chat_id);
        }
    }

    /// Registers a downloadable file under `file_id`; returns its `file_path`
    /// (`documents/file_N`).
    pub fn add_file(&self, file_id: &str, bytes: Vec<u8>) -> String {
        let n = {
            let mut st = self.shared.lock();
            st.next_file += 1;
            st.next_file - 1
        };
        self.add_file_at(file_id, &format!("documents/file_{n}"), bytes)
    }

    /// Registers a file with an explicit `file_path` (e.g. `voice/file_3.oga`).
    pub fn add_file_at(&self, file_id: &str, file_path: &str, bytes: Vec<u8>) -> String {
        self.shared.lock().files.insert(
            file_id.to_string(),
            FileEntry {
                unique_id: unique_id(file_id),
                path: file_path.to_string(),
                bytes,
            },
        );
        file_path.to_string()
    }

    // ---- what the bot did ---------------------------------------------------------------------

    /// Every successful sendMessage / editMessageText / deleteMessage / sendChatAction, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.lock().sent.clone()
    }

    /// Texts (as sent) of the messages sent to `chat_id`, in order (edits not applied).
    pub fn replies_to(&self, chat_id: i64) -> Vec<String> {
        self.shared
            .lock()
            .sent
            .iter()
            .filter(|s| s.method == "sendMessage" && s.chat_id == chat_id)
            .filter_map(|s| s.text.clone())
            .collect()
    }

    /// The bot's messages as the chat shows them now: (message_id, visible text), edits
    /// applied and deleted ones gone, in message_id order.
    pub fn chat_view(&self, chat_id: i64) -> Vec<(i64, String)> {
        let st = self.shared.lock();
        let mut v: Vec<(i64, String)> = st
            .messages
            .iter()
            .filter(|((c, _), m)| *c == chat_id && is_from_bot(m, self.shared.bot_id))
            .map(|((_, id), m)| (*id, m["text"].as_str().unwrap_or("").to_string()))
            .collect();
        v.sort();
        v
    }

    /// Every request (including rejected and faulted ones), in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Requests for `method` (case-insensitive).
    pub fn requests_for(&self, method: &str) -> Vec<Recorded> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// Waits until at least `n` messages have been sent (sendMessage) or `timeout` passes.
    pub fn wait_sent(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| {
            st.sent.iter().filter(|s| s.method == "sendMessage").count() >= n
        })
    }

    /// Waits until a getUpdates is waiting (the bot is idle in long poll).
    pub fn wait_polling(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |st| !st.polls.is_empty())
    }

    fn wait_until(&self, timeout: Duration, f: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f(&self.shared.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// `Fault::Stall`s whose client closed the connection.
    pub fn stalls_abandoned(&self) -> usize {
        self.shared.stalls_abandoned.load(Ordering::SeqCst)
    }

    // ---- faults -------------------------------------------------------------------------------

    /// Queues a fault for the next matching call(s).
    pub fn fault(&self, f: Fault) {
        self.shared.lock().faults.push(f);
    }

    /// Drops all queued faults.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// `true`: network loss ([`Network::Reset`]: every connection is accepted and closed at
    /// once, open ones are closed); `false`: back to [`Network::Up`].
    pub fn set_outage(&self, on: bool) {
        self.set_network(if on { Network::Reset } else { Network::Up });
    }

    pub fn set_network(&self, n: Network) {
        let old = {
            let mut st = self.shared.lock();
            std::mem::replace(&mut st.network, n)
        };
        self.shared.cv.notify_all();
        // Wake the accept thread so it can stop or resume listening.
        if old == Network::Refuse || n == Network::Refuse {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        }
    }

    /// Enables automatic flood control (`None` turns it off).
    pub fn set_flood_limit(&self, limit: Option<FloodLimit>) {
        let mut st = self.shared.lock();
        st.flood = limit;
        st.flood_log.clear();
    }

    /// Sends refused by the automatic flood control.
    pub fn flood_rejections(&self) -> usize {
        self.shared.lock().flood_rejections
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cv.notify_all();
        let listening = self.shared.network() != Network::Refuse;
        if listening && TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_err() {
            return;
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, addr: SocketAddr, sh: Arc<Shared>) {
    let mut listener = Some(listener);
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(l) = listener.as_ref() else {
            // Refusing: not listening until the network is back.
            let st = sh.lock();
            let st = sh
                .cv
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if st.network != Network::Refuse {
                drop(st);
                match TcpListener::bind(addr) {
                    Ok(l) => listener = Some(l),
                    Err(_) => thread::sleep(Duration::from_millis(50)),
                }
            }
            continue;
        };
        match l.accept() {
            Ok((s, _)) => {
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                match sh.network() {
                    Network::Refuse => {
                        drop(s);
                        listener = None;
                        continue;
                    }
                    Network::Reset => {
                        let _ = s.shutdown(Shutdown::Both);
                        continue;
                    }
                    Network::Up | Network::Blackhole => {}
                }
                sh.connections.fetch_add(1, Ordering::SeqCst);
                let sh = sh.clone();
                let _ = thread::Builder::new()
                    .name("fake-tg-conn".into())
                    .spawn(move || serve_conn(s, sh));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn insert_sorted(q: &mut Vec<Queued>, e: Queued) {
    let pos = q.partition_point(|x| x.id <= e.id);
    q.insert(pos, e);
}

fn register_message(st: &mut State, m: &Value) {
    let (Some(chat), Some(mid)) = (m.get("chat"), m.get("message_id").and_then(Value::as_i64))
    else {
        return;
    };
    let Some(cid) = chat.get("id").and_then(Value::as_i64) else {
        return;
    };
    st.chats.entry(cid).or_insert_with(|| chat.clone());
    st.messages.insert((cid, mid), m.clone());
    st.next_message_id = st.next_message_id.max(mid + 1);
}

fn is_from_bot(m: &Value, bot_id: i64) -> bool {
    m.pointer("/from/id").and_then(Value::as_i64) == Some(bot_id)
}

fn unique_id(file_id: &str) -> String {
    // FNV-1a, just to get a stable short id.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("AQAD{h:016x}")
}

fn user_object(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}"),
           "username": format!("user{id}"), "language_code": "en"})
}

fn chat_object(chat_id: i64, from_id: i64) -> Value {
    if chat_id > 0 {
        let _ = from_id;
        json!({"id": chat_id, "first_name": format!("User{chat_id}"),
               "username": format!("user{chat_id}"), "type": "private"})
    } else if chat_id <= -1_000_000_000_000 {
        json!({"id": chat_id, "title": format!("Supergroup {chat_id}"), "type": "supergroup"})
    } else {
        json!({"id": chat_id, "title": format!("Group {chat_id}"), "type": "group"})
    }
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `bot_command` at the start and `mention`s, with UTF-16 offsets, as Telegram marks them.
fn detect_entities(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (b, c) = chars[i];
        let prev_ok = i == 0 || !is_word(chars[i - 1].1);
        if (c == '/' && b == 0) || (c == '@' && prev_ok) {
            let mut j = i + 1;
            while j < chars.len() && is_word(chars[j].1) {
                j += 1;
            }
            if c == '/' && j < chars.len() && chars[j].1 == '@' {
                j += 1;
                while j < chars.len() && is_word(chars[j].1) {
                    j += 1;
                }
            }
            let end = chars.get(j).map(|x| x.0).unwrap_or(text.len());
            let word_len = j - i - 1;
            let ok = if c == '/' {
                word_len >= 1
            } else {
                word_len >= 5
            };
            if ok {
                out.push(json!({
                    "offset": utf16_len(&text[..b]),
                    "length": utf16_len(&text[b..end]),
                    "type": if c == '/' { "bot_command" } else { "mention" },
                }));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    sh: Arc<Shared>,
}

/// What a handler produced.
enum Answer {
    /// Status + JSON body.
    Json(u16, Value),
    /// Status + content type + raw body.
    Raw(u16, &'static str, Vec<u8>),
    /// The connection is to be closed without an answer (client gone, network down).
    Close,
    /// Never answer; wait for the client to close.
    Silent,
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn ok(result: Value) -> Answer {
    Answer::Json(200, json!({"ok": true, "result": result}))
}

fn err(code: u16, description: &str) -> Answer {
    Answer::Json(
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

fn bad(description: &str) -> Answer {
    err(400, &format!("Bad Request: {description}"))
}

fn too_many(retry_after: u64) -> Answer {
    Answer::Json(
        429,
        json!({"ok": false, "error_code": 429,
               "description": format!("Too Many Requests: retry after {retry_after}"),
               "parameters": {"retry_after": retry_after}}),
    )
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

fn serve_conn(s: TcpStream, sh: Arc<Shared>) {
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(POLL));
    let _ = s.set_write_timeout(Some(GIVE_UP));
    let mut c = Conn {
        s,
        buf: Vec::new(),
        sh,
    };
    loop {
        match c.read_request() {
            Ok(req) => {
                if !c.handle(req) {
                    break;
                }
            }
            Err(ReadErr::Closed) => break,
            Err(ReadErr::Reject(code, msg)) => {
                let body = json!({"ok": false, "error_code": code, "description": msg});
                c.send(code, "application/json", body.to_string().as_bytes(), true);
                break;
            }
        }
    }
    let _ = c.s.shutdown(Shutdown::Both);
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_pairs(s: &str, into: &mut Map<String, Value>) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        into.insert(url_decode(k), Value::String(url_decode(v)));
    }
}

/// Text fields of a `multipart/form-data` body (file parts become `"<file NAME, N bytes>"`).
fn parse_multipart(body: &[u8], boundary: &str, into: &mut Map<String, Value>) {
    let delim = format!("--{boundary}");
    let mut rest = body;
    while let Some(p) = find(rest, delim.as_bytes()) {
        rest = &rest[p + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(h) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..h]).to_string();
        let data_start = h + 4;
        let data_end = find(&rest[data_start..], format!("\r\n{delim}").as_bytes())
            .map(|e| data_start + e)
            .unwrap_or(rest.len());
        let data = &rest[data_start..data_end];
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            head.find(&key).and_then(|i| {
                let v = &head[i + key.len()..];
                v.find('"').map(|e| v[..e].to_string())
            })
        };
        if let Some(name) = attr(" name").or_else(|| attr(";name")) {
            let v = match attr("filename") {
                Some(f) => format!("<file {f}, {} bytes>", data.len()),
                None => String::from_utf8_lossy(data).into_owned(),
            };
            into.insert(name, Value::String(v));
        }
        rest = &rest[data_end..];
    }
}

impl Conn {
    /// The next request on this connection (see `http_in::Reader`).
    fn read_request(&mut self) -> Result<Req, ReadErr> {
        let sh = Arc::clone(&self.sh);
        let stop = move || {
            sh.stop.load(Ordering::SeqCst)
                || matches!(sh.network(), Network::Reset | Network::Refuse)
        };
        Reader {
            s: &mut self.s,
            buf: &mut self.buf,
            bounds: &BOUNDS,
            stop: &stop,
        }
        .read_request()
    }

    fn write(&mut self, data: &[u8]) -> bool {
        self.s.write_all(data).is_ok()
    }

    fn send(&mut self, code: u16, ctype: &str, body: &[u8], close: bool) -> bool {
        let mut out = format!(
            "HTTP/1.1 {code} {}\r\nServer: nginx/1.18.0\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{}\r\n",
            reason(code),
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )
        .into_bytes();
        out.extend_from_slice(body);
        self.write(&out)
    }

    /// Writes an answer; returns whether to keep the connection open.
    fn answer(&mut self, a: Answer, close: bool) -> bool {
        match a {
            Answer::Json(code, v) => {
                self.send(code, "application/json", v.to_string().as_bytes(), close) && !close
            }
            Answer::Raw(code, ctype, body) => self.send(code, ctype, &body, close) && !close,
            Answer::Close => false,
            Answer::Silent => {
                self.wait_close();
                false
            }
        }
    }

    /// Waits until the client closes (true) or the server stops / network resets (false).
    fn wait_close(&mut self) -> bool {
        let start = Instant::now();
        let mut tmp = [0u8; 4096];
        loop {
            if start.elapsed() > GIVE_UP
                || self.sh.stop.load(Ordering::SeqCst)
                || matches!(self.sh.network(), Network::Reset | Network::Refuse)
            {
                return false;
            }
            match self.s.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return true,
            }
        }
    }

    /// Whether the client has closed its end (pipelined bytes are kept in `buf`).
    fn client_gone(&mut self) -> bool {
        if self.s.set_nonblocking(true).is_err() {
            return true;
        }
        let mut tmp = [0u8; 4096];
        let gone = match self.s.read(&mut tmp) {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                false
            }
            Err(e) => !is_timeout(&e),
        };
        let _ = self.s.set_nonblocking(false);
        gone
    }

    fn params(&self, req: &Req, query: &str) -> Result<Value, Answer> {
        let mut m = Map::new();
        parse_pairs(query, &mut m);
        let ctype = req
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if !req.body.is_empty() {
            if ctype.starts_with("application/json") {
                match serde_json::from_slice::<Value>(&req.body) {
                    Ok(Value::Object(o)) => m.extend(o),
                    _ => return Err(bad("can't parse JSON object")),
                }
            } else if ctype.starts_with("multipart/form-data") {
                let raw = req.header("content-type").unwrap_or("");
                let boundary = raw
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("boundary="))
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_string();
                parse_multipart(&req.body, &boundary, &mut m);
            } else {
                parse_pairs(&String::from_utf8_lossy(&req.body), &mut m);
            }
        }
        Ok(Value::Object(m))
    }

    /// Handle one request; returns whether to keep the connection open.
    fn handle(&mut self, req: Req) -> bool {
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || req.version == "HTTP/1.0";
        match self.sh.network() {
            Network::Up => {}
            Network::Blackhole => return self.answer(Answer::Silent, close),
            Network::Reset | Network::Refuse => return false,
        }
        let (route, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
        let (route, query) = (route.to_string(), query.to_string());
        let (token, method, download) = if let Some(rest) = route.strip_prefix("/file/bot") {
            let (t, p) = rest.split_once('/').unwrap_or((rest, ""));
            (t.to_string(), url_decode(p), true)
        } else if let Some(rest) = route.strip_prefix("/bot") {
            let (t, m) = rest.split_once('/').unwrap_or((rest, ""));
            (t.to_string(), m.to_string(), false)
        } else {
            return self.answer(err(404, "Not Found"), close);
        };
        let params = if download {
            Ok(json!({ "file_path": method }))
        } else {
            self.params(&req, &query)
        };
        let authorized = token == self.sh.token;
        let name = if download {
            DOWNLOAD.to_string()
        } else {
            method.clone()
        };
        self.sh.lock().requests.push(Recorded {
            http_method: req.method.clone(),
            method: name.clone(),
            params: params.as_ref().cloned().unwrap_or(Value::Null),
            authorized,
            at: Instant::now(),
        });
        if !authorized {
            return self.answer(err(401, "Unauthorized"), close);
        }
        let params = match params {
            Ok(p) => p,
            Err(a) => return self.answer(a, close),
        };
        let fault = {
            let mut st = self.sh.lock();
            let pos = st
                .faults
                .iter()
                .position(|f| f.method() == "*" || f.method().eq_ignore_ascii_case(&name));
            pos.map(|i| {
                let f = st.faults[i].clone();
                let t = st.faults[i].times();
                *t = t.saturating_sub(1);
                if *t == 0 {
                    st.faults.remove(i);
                }
                f
            })
        };
        let mut drop_mid_body = false;
        match fault {
            None => {}
            Some(Fault::TooManyRequests { retry_after, .. }) => {
                return self.answer(too_many(retry_after), close);
            }
            Some(Fault::BadGateway { .. }) => {
                let a = Answer::Raw(502, "text/html", NGINX_502.as_bytes().to_vec());
                return self.answer(a, close);
            }
            Some(Fault::ServerError { code, .. }) => {
                let d = match code {
                    500 => "Internal Server Error".to_string(),
                    502 => "Bad Gateway".to_string(),
                    503 => "Service Unavailable".to_string(),
                    504 => "Gateway Timeout".to_string(),
                    c => format!("Error {c}"),
                };
                return self.answer(err(code, &d), close);
            }
            Some(Fault::BadRequest { description, .. }) => {
                return self.answer(bad(description), close);
            }
            Some(Fault::Migrated { to, .. }) => {
                let a = Answer::Json(
                    400,
                    json!({"ok": false, "error_code": 400,
                           "description": "Bad Request: group chat was upgraded to a supergroup chat",
                           "parameters": {"migrate_to_chat_id": to}}),
                );
                return self.answer(a, close);
            }
            Some(Fault::Malformed { .. }) => {
                let a = Answer::Raw(
                    200,
                    "application/json",
                    b"{\"ok\":true,\"result\":".to_vec(),
                );
                return self.answer(a, close);
            }
            Some(Fault::Stall { .. }) => {
                if self.wait_close() {
                    self.sh.stalls_abandoned.fetch_add(1, Ordering::SeqCst);
                }
                return false;
            }
            // Only ever matches getUpdates (see `Fault::method`).
            Some(Fault::Conflict { .. }) => return self.answer(err(409, CONFLICT), close),
            Some(Fault::Delay { ms, .. }) => thread::sleep(Duration::from_millis(ms)),
            Some(Fault::DropMidBody { .. }) => drop_mid_body = true,
        }
        let a = if download {
            self.download(&method)
        } else {
            self.dispatch(&method, &params)
        };
        if drop_mid_body {
            let (code, ctype, body) = match a {
                Answer::Json(code, v) => (code, "application/json", v.to_string().into_bytes()),
                Answer::Raw(code, ctype, b) => (code, ctype, b),
                other => return self.answer(other, close),
            };
            let head = format!(
                "HTTP/1.1 {code} {}\r\nServer: nginx/1.18.0\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                reason(code),
                body.len()
            );
            let _ = self.write(head.as_bytes()) && self.write(&body[..body.len() / 2]);
            let _ = self.s.shutdown(Shutdown::Both);
            return false;
        }
        self.answer(a, close)
    }

    fn download(&mut self, path: &str) -> Answer {
        let st = self.sh.lock();
        match st.files.values().find(|f| f.path == path) {
            Some(f) if f.bytes.len() <= MAX_DOWNLOAD => {
                Answer::Raw(200, "application/octet-stream", f.bytes.clone())
            }
            _ => err(404, "Not Found"),
        }
    }

    fn dispatch(&mut self, method: &str, p: &Value) -> Answer {
        match method.to_ascii_lowercase().as_str() {
            "getme" => {
                let st = self.sh.lock();
                ok(json!({
                    "id": self.sh.bot_id, "is_bot": true, "first_name": "Edge Test Bot",
                    "username": st.username, "can_join_groups": true,
                    "can_read_all_group_messages": false, "supports_inline_queries": false,
                    "can_connect_to_business": false, "has_main_web_app": false,
                }))
            }
            "getupdates" => self.get_updates(p),
            "sendmessage" => self.send_message(p),
            "editmessagetext" => self.edit_message(p),
            "deletemessage" => self.delete_message(p),
            "sendchataction" => self.chat_action(p),
            "sendvoice" => self.send_file(p, "sendVoice", "voice"),
            "senddocument" => self.send_file(p, "sendDocument", "document"),
            "getfile" => self.get_file(p),
            "deletewebhook" | "logout" | "close" | "deletemycommands" => ok(json!(true)),
            "setmycommands" => match json_param(p, "commands") {
                Some(c @ Value::Array(_)) => {
                    self.sh.lock().commands = c;
                    ok(json!(true))
                }
                _ => bad("parameter \"commands\" is required"),
            },
            "getmycommands" => ok(self.sh.lock().commands.clone()),
            "getwebhookinfo" => {
                let n = self.sh.lock().queue.len();
                ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": n}))
            }
            _ => err(404, "Not Found"),
        }
    }

    fn get_updates(&mut self, p: &Value) -> Answer {
        let offset = match int_param(p, "offset") {
            Ok(o) => o,
            Err(a) => return a,
        };
        let limit = match int_param(p, "limit") {
            Ok(l) => l.unwrap_or(100).clamp(1, 100) as usize,
            Err(a) => return a,
        };
        let timeout = match int_param(p, "timeout") {
            Ok(t) => t.unwrap_or(0).clamp(0, 3600) as u64,
            Err(a) => return a,
        };
        let allowed = json_param(p, "allowed_updates");
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let me;
        {
            let mut st = self.sh.lock();
            st.getupdates_calls += 1;
            if let Some(Value::Array(a)) = &allowed {
                let v: Vec<String> = a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
                st.allowed = if v.is_empty() { None } else { Some(v) };
            }
            match offset {
                Some(o) if o > 0 => {
                    st.confirmed = st.confirmed.max(o);
                    st.queue.retain(|q| q.id >= o || (q.sticky && !q.delivered));
                }
                Some(o) if o < 0 => {
                    let keep = o.unsigned_abs() as usize;
                    let n = st.queue.len();
                    if n > keep {
                        st.queue.drain(..n - keep);
                    }
                }
                _ => {}
            }
            st.next_poll += 1;
            me = st.next_poll;
            if !st.polls.is_empty() {
                match st.conflicts {
                    Conflicts::Off => {}
                    Conflicts::TerminateOlder => {
                        let old: Vec<u64> = st.polls.drain(..).collect();
                        st.terminated.extend(old);
                        self.sh.cv.notify_all();
                    }
                    Conflicts::RejectNewer => {
                        st.conflicts_sent += 1;
                        return err(409, CONFLICT);
                    }
                }
            }
            st.polls.push(me);
        }
        let unregister = |st: &mut State| st.polls.retain(|x| *x != me);
        loop {
            {
                let mut st = self.sh.lock();
                if st.terminated.remove(&me) {
                    drop(st);
                    // Only a poll whose client is still there counts as a conflict.
                    if self.client_gone() {
                        return Answer::Close;
                    }
                    self.sh.lock().conflicts_sent += 1;
                    return err(409, CONFLICT);
                }
                if self.sh.stop.load(Ordering::SeqCst) {
                    unregister(&mut st);
                    return Answer::Close;
                }
                match st.network {
                    Network::Up => {}
                    Network::Blackhole => {
                        unregister(&mut st);
                        return Answer::Silent;
                    }
                    Network::Reset | Network::Refuse => {
                        unregister(&mut st);
                        return Answer::Close;
                    }
                }
                let allowed = st.allowed.clone();
                let wanted = |u: &Value| update_allowed(u, allowed.as_deref());
                let mut out = Vec::new();
                for q in st.queue.iter_mut().filter(|q| wanted(&q.update)) {
                    if out.len() >= limit {
                        break;
                    }
                    q.delivered = true;
                    out.push(q.update.clone());
                }
                if !out.is_empty() || Instant::now() >= deadline {
                    unregister(&mut st);
                    return ok(Value::Array(out));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = self
                    .sh
                    .cv
                    .wait_timeout(st, left.min(Duration::from_millis(25)))
                    .unwrap_or_else(|e| e.into_inner());
            }
            if self.client_gone() {
                let mut st = self.sh.lock();
                unregister(&mut st);
                st.terminated.remove(&me);
                return Answer::Close;
            }
        }
    }

    /// Resolves `chat_id` to a known chat, or the error Telegram gives.
    fn chat(&self, p: &Value) -> Result<(i64, Value), Answer> {
        let id = match p.get("chat_id") {
            None | Some(Value::Null) => return Err(bad("chat_id is empty")),
            Some(Value::String(s)) if s.is_empty() => return Err(bad("chat_id is empty")),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())),
        };
        let st = self.sh.lock();
        match id.and_then(|id| st.chats.get(&id).map(|c| (id, c.clone()))) {
            Some((id, c)) => {
                if st.blocked.contains(&id) {
                    Err(err(403, "Forbidden: bot was blocked by the user"))
                } else {
                    Ok((id, c))
                }
            }
            None => Err(bad("chat not found")),
        }
    }

    /// Automatic flood control for a send to `chat_id`.
    fn flood(&self, chat_id: i64) -> Option<Answer> {
        let mut st = self.sh.lock();
        let limit = st.flood.clone()?;
        let now = Instant::now();
        while st
            .flood_log
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > limit.window)
        {
            st.flood_log.pop_front();
        }
        let per_chat = st.flood_log.iter().filter(|(_, c)| *c == chat_id).count();
        if per_chat >= limit.per_chat || st.flood_log.len() >= limit.global {
            st.flood_rejections += 1;
            return Some(too_many(limit.retry_after));
        }
        st.flood_log.push_back((now, chat_id));
        None
    }

    fn send_message(&mut self, p: &Value) -> Answer {
        let (chat_id, chat) = match self.chat(p) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let text = str_param(p, "text").unwrap_or_default();
        let parse_mode = str_param(p, "parse_mode").filter(|m| !m.is_empty());
        let (plain, entities) = match format_text(&text, parse_mode.as_deref()) {
            Ok(x) => x,
            Err(a) => return a,
        };
        if plain.is_empty() {
            return bad("message text is empty");
        }
        if plain.chars().count() > MAX_TEXT {
            return bad("message is too long");
        }
        let rp = json_param(p, "reply_parameters");
        let reply_to = match int_param(p, "reply_to_message_id") {
            Ok(Some(r)) => Some(r),
            Ok(None) => rp
                .as_ref()
                .and_then(|r| r.get("message_id"))
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok())),
            Err(a) => return a,
        };
        let allow_without = bool_param(p, "allow_sending_without_reply")
            || rp
                .as_ref()
                .and_then(|r| r.get("allow_sending_without_reply"))
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        if let Some(a) = self.flood(chat_id) {
            return a;
        }
        let mut st = self.sh.lock();
        let replied = reply_to.and_then(|r| st.messages.get(&(chat_id, r)).cloned());
        if reply_to.is_some() && replied.is_none() && !allow_without {
            return bad("message to be replied not found");
        }
        let mid = st.next_message_id;
        st.next_message_id += 1;
        let mut m = json!({
            "message_id": mid,
            "from": {"id": self.sh.bot_id, "is_bot": true, "first_name": "Edge Test Bot",
                     "username": st.username},
            "chat": chat,
            "date": unix_now(),
            "text": plain,
        });
        if !entities.is_empty() {
            m["entities"] = Value::Array(entities);
        }
        if let Some(r) = &replied {
            m["reply_to_message"] = r.clone();
        }
        st.messages.insert((chat_id, mid), m.clone());
        st.sent.push(Sent {
            method: "sendMessage",
            chat_id,
            message_id: Some(mid),
            text: Some(text),
            plain: Some(plain),
            parse_mode,
            reply_to,
            action: None,
            at: Instant::now(),
        });
        ok(m)
    }

    /// `sendVoice` / `sendDocument` with an uploaded file (multipart): the part is recorded as
    /// `<file NAME, N bytes>` in `Sent::text`; a file id or URL string is refused, as this server
    /// keeps no files.
    fn send_file(&mut self, p: &Value, method: &'static str, field: &str) -> Answer {
        let (chat_id, chat) = match self.chat(p) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let Some(file) = str_param(p, field).filter(|f| f.starts_with("<file ")) else {
            return bad(&format!("there is no {field} in the request"));
        };
        let mut st = self.sh.lock();
        let mid = st.next_message_id;
        st.next_message_id += 1;
        let m = json!({
            "message_id": mid,
            "from": {"id": self.sh.bot_id, "is_bot": true, "first_name": "Edge Test Bot",
                     "username": st.username},
            "chat": chat,
            "date": unix_now(),
            field: {"file_id": format!("f{mid}"), "file_unique_id": format!("u{mid}")},
        });
        st.sent.push(Sent {
            method,
            chat_id,
            message_id: Some(mid),
            text: Some(file),
            plain: None,
            parse_mode: None,
            reply_to: None,
            action: None,
            at: Instant::now(),
        });
        ok(m)
    }

    fn edit_message(&mut self, p: &Value) -> Answer {
        if p.get("inline_message_id").is_some() {
            return bad("inline messages are not supported by this test server");
        }
        let (chat_id, _) = match self.chat(p) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let mid = match int_param(p, "message_id") {
            Ok(Some(m)) => m,
            Ok(None) => return bad("message identifier is not specified"),
            Err(a) => return a,
        };
        let text = str_param(p, "text").unwrap_or_default();
        let parse_mode = str_param(p, "parse_mode").filter(|m| !m.is_empty());
        let (plain, entities) = match format_text(&text, parse_mode.as_deref()) {
            Ok(x) => x,
            Err(a) => return a,
        };
        if plain.is_empty() {
            return bad("message text is empty");
        }
        if plain.chars().count() > MAX_TEXT {
            return bad("MESSAGE_TOO_LONG");
        }
        if let Some(a) = self.flood(chat_id) {
            return a;
        }
        let mut st = self.sh.lock();
        let Some(m) = st.messages.get_mut(&(chat_id, mid)) else {
            return bad("message to edit not found");
        };
        if !is_from_bot(m, self.sh.bot_id) {
            return bad("message can't be edited");
        }
        let new_entities = Value::Array(entities);
        let old_entities = m.get("entities").cloned().unwrap_or(json!([]));
        if m["text"] == plain && old_entities == new_entities {
            return bad(
                "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            );
        }
        m["text"] = json!(plain);
        m["edit_date"] = json!(unix_now());
        if new_entities.as_array().is_some_and(|a| a.is_empty()) {
            m.as_object_mut().unwrap().remove("entities");
        } else {
            m["entities"] = new_entities;
        }
        let out = m.clone();
        st.sent.push(Sent {
            method: "editMessageText",
            chat_id,
            message_id: Some(mid),
            text: Some(text),
            plain: Some(plain),
            parse_mode,
            reply_to: None,
            action: None,
            at: Instant::now(),
        });
        ok(out)
    }

    fn delete_message(&mut self, p: &Value) -> Answer {
        let (chat_id, chat) = match self.chat(p) {
            Ok(c) => c,
            Err(a) => return a,
        };
        let mid = match int_param(p, "message_id") {
            Ok(Some(m)) => m,
            Ok(None) => return bad("message identifier is not specified"),
            Err(a) => return a,
        };
        let mut st = self.sh.lock();
        let Some(m) = st.messages.get(&(chat_id, mid)) else {
            return bad("message to delete not found");
        };
        let private = chat["type"] == "private";
        if !private && !is_from_bot(m, self.sh.bot_id) && !st.admin_in.contains(&chat_id) {
            return bad("message can't be deleted");
        }
        st.messages.remove(&(chat_id, mid));
        st.sent.push(Sent {
            method: "deleteMessage",
            chat_id,
            message_id: Some(mid),
            text: None,
            plain: None,
            parse_mode: None,
            reply_to: None,
            action: None,
            at: Instant::now(),
        });
        ok(json!(true))
    }

    fn chat_action(&mut self, p: &Value) -> Answer {
        let (chat_id, _) = match self.chat(p) {
            Ok(c) => c,
            Err(a) => return a,
        };
        const ACTIONS: [&str; 11] = [
            "typing",
            "upload_photo",
            "record_video",
            "upload_video",
            "record_voice",
            "upload_voice",
            "upload_document",
            "choose_sticker",
            "find_location",
            "record_video_note",
            "upload_video_note",
        ];
        let action = str_param(p, "action").unwrap_or_default();
        if !ACTIONS.contains(&action.as_str()) {
            return bad("wrong parameter action in request");
        }
        self.sh.lock().sent.push(Sent {
            method: "sendChatAction",
            chat_id,
            message_id: None,
            text: None,
            plain: None,
            parse_mode: None,
            reply_to: None,
            action: Some(action),
            at: Instant::now(),
        });
        ok(json!(true))
    }

    fn get_file(&mut self, p: &Value) -> Answer {
        let Some(id) = str_param(p, "file_id").filter(|s| !s.is_empty()) else {
            return bad("file_id not specified");
        };
        let st = self.sh.lock();
        match st.files.get(&id) {
            None => bad("invalid file_id"),
            Some(f) if f.bytes.len() > MAX_DOWNLOAD => bad("file is too big"),
            Some(f) => ok(json!({
                "file_id": id, "file_unique_id": f.unique_id,
                "file_size": f.bytes.len(), "file_path": f.path,
            })),
        }
    }
}

/// Update types delivered when `allowed_updates` was never set (or set to `[]`).
fn update_allowed(u: &Value, allowed: Option<&[String]>) -> bool {
    let Some(kind) = u
        .as_object()
        .and_then(|o| o.keys().find(|k| k.as_str() != "update_id"))
    else {
        return true;
    };
    match allowed {
        Some(a) => a.iter().any(|x| x == kind),
        None => !matches!(
            kind.as_str(),
            "chat_member" | "message_reaction" | "message_reaction_count"
        ),
    }
}

fn str_param(p: &Value, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        v => Some(v.to_string()),
    }
}

fn bool_param(p: &Value, key: &str) -> bool {
    match p.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

/// An integer parameter given as a number or a numeric string.
fn int_param(p: &Value, key: &str) -> Result<Option<i64>, Answer> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(&format!("invalid {key} specified"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(&format!("invalid {key} specified"))),
        Some(_) => Err(bad(&format!("invalid {key} specified"))),
    }
}

/// A JSON parameter given inline (JSON body) or serialized in a string (query/form).
fn json_param(p: &Value, key: &str) -> Option<Value> {
    match p.get(key)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        v => Some(v.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting: text → (plain text, entities) or the "can't parse entities" error.

fn format_text(text: &str, parse_mode: Option<&str>) -> Result<(String, Vec<Value>), Answer> {
    let parsed = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None => Ok((text.to_string(), Vec::new())),
        Some("html") => parse_html(text),
        Some("markdownv2") => parse_markdown_v2(text),
        Some("markdown") => parse_markdown(text),
        Some(_) => return Err(bad("unsupported parse_mode")),
    };
    let (out, ents) = parsed.map_err(|e| bad(&format!("can't parse entities: {e}")))?;
    // Telegram trims surrounding whitespace; entities are shifted and clipped to match.
    let lead = out.len() - out.trim_start().len();
    let plain = out.trim().to_string();
    let shift = utf16_len(&out[..lead]) as i64;
    let total = utf16_len(&plain) as i64;
    let ents = ents
        .into_iter()
        .filter_map(|mut e| {
            let off = e["offset"].as_i64().unwrap_or(0) - shift;
            let end = (off + e["length"].as_i64().unwrap_or(0)).min(total);
            let off = off.max(0);
            (end > off).then(|| {
                e["offset"] = json!(off);
                e["length"] = json!(end - off);
                e
            })
        })
        .collect();
    Ok((plain, ents))
}

struct Builder {
    out: String,
    len16: usize,
    entities: Vec<Value>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            out: String::new(),
            len16: 0,
            entities: Vec::new(),
        }
    }

    fn push(&mut self, c: char) {
        self.out.push(c);
        self.len16 += c.len_utf16();
    }

    /// Adds an entity from `start` (UTF-16) to here, unless empty.
    fn entity(&mut self, kind: &str, start: usize, extra: Option<(&str, String)>) {
        if self.len16 > start {
            let mut e = json!({"type": kind, "offset": start, "length": self.len16 - start});
            if let Some((k, v)) = extra {
                e[k] = json!(v);
            }
            self.entities.push(e);
        }
    }

    fn finish(mut self) -> (String, Vec<Value>) {
        self.entities
            .sort_by_key(|e| e["offset"].as_u64().unwrap_or(0));
        (self.out, self.entities)
    }
}

fn html_entity_type(tag: &str) -> &'static str {
    match tag {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "span" | "tg-spoiler" => "spoiler",
        "a" => "text_link",
        "code" => "code",
        "pre" => "pre",
        "tg-emoji" => "custom_emoji",
        "blockquote" => "blockquote",
        _ => "unknown",
    }
}

fn parse_html(text: &str) -> Result<(String, Vec<Value>), String> {
    const TAGS: [&str; 17] = [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "code",
        "pre",
        "tg-emoji",
        "blockquote",
        "tg-time",
    ];
    let b = text.as_bytes();
    let mut o = Builder::new();
    // (tag, start utf16, attribute value)
    let mut stack: Vec<(String, usize, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'&' => {
                let semi = b[i + 1..].iter().take(12).position(|&c| c == b';');
                let decoded = semi.and_then(|s| {
                    let name = &text[i + 1..i + 1 + s];
                    let c = match name {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        _ if name.starts_with("#x") || name.starts_with("#X") => {
                            u32::from_str_radix(&name[2..], 16)
                                .ok()
                                .and_then(char::from_u32)
                        }
                        _ if name.starts_with('#') => {
                            name[1..].parse::<u32>().ok().and_then(char::from_u32)
                        }
                        _ => None,
                    };
                    c.map(|c| (c, s))
                });
                match decoded {
                    Some((c, s)) => {
                        o.push(c);
                        i += s + 2;
                    }
                    None => {
                        o.push('&');
                        i += 1;
                    }
                }
            }
            b'<' => {
                let begin = i;
                if b.get(i + 1) == Some(&b'/') {
                    let Some(top) = stack.pop() else {
                        return Err(format!("Unexpected end tag at byte offset {begin}"));
                    };
                    let mut j = i + 2;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    let name = text[i + 2..j].to_ascii_lowercase();
                    while j < b.len() && b[j] != b'>' {
                        j += 1;
                    }
                    if j >= b.len() {
                        return Err(format!("Unclosed end tag at byte offset {begin}"));
                    }
                    if !name.is_empty() && name != top.0 {
                        return Err(format!(
                            "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{name}>\"",
                            top.0
                        ));
                    }
                    let kind = html_entity_type(&top.0);
                    let extra = match (kind, top.2) {
                        ("text_link", Some(u)) => Some(("url", u)),
                        ("pre", Some(l)) => Some(("language", l)),
                        ("custom_emoji", Some(id)) => Some(("custom_emoji_id", id)),
                        _ => None,
                    };
                    if top.0 != "tg-time" {
                        o.entity(kind, top.1, extra);
                    }
                    i = j + 1;
                } else {
                    let mut j = i + 1;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    if j >= b.len() {
                        return Err(format!("Unclosed start tag at byte offset {begin}"));
                    }
                    let name = text[i + 1..j].to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {begin}"
                        ));
                    }
                    // Attributes.
                    let mut attrs: Vec<(String, String)> = Vec::new();
                    loop {
                        while j < b.len() && b[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        if j >= b.len() {
                            return Err(format!("Unclosed start tag at byte offset {begin}"));
                        }
                        if b[j] == b'>' {
                            break;
                        }
                        let a0 = j;
                        while j < b.len()
                            && !b[j].is_ascii_whitespace()
                            && b[j] != b'='
                            && b[j] != b'>'
                        {
                            j += 1;
                        }
                        let an = text[a0..j].to_ascii_lowercase();
                        while j < b.len() && b[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        if j < b.len() && b[j] != b'=' {
                            attrs.push((an, String::new()));
                            continue;
                        }
                        j += 1;
                        while j < b.len() && b[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        if j >= b.len() {
                            return Err(format!("Unclosed start tag at byte offset {begin}"));
                        }
                        let v = if b[j] == b'"' || b[j] == b'\'' {
                            let q = b[j];
                            let v0 = j + 1;
                            j = v0;
                            while j < b.len() && b[j] != q {
                                j += 1;
                            }
                            if j >= b.len() {
                                return Err(format!("Unclosed start tag at byte offset {begin}"));
                            }
                            j += 1;
                            text[v0..j - 1].to_string()
                        } else {
                            let v0 = j;
                            while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                                j += 1;
                            }
                            text[v0..j].to_string()
                        };
                        attrs.push((an, v));
                    }
                    let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    if name == "span" && attr("class").as_deref() != Some("tg-spoiler") {
                        return Err(format!(
                            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                        ));
                    }
                    let value = match name.as_str() {
                        "a" => attr("href"),
                        "code" | "pre" => attr("class")
                            .and_then(|c| c.strip_prefix("language-").map(str::to_string)),
                        "tg-emoji" => attr("emoji-id"),
                        _ => None,
                    };
                    if name == "tg-emoji" && value.is_none() {
                        return Err(format!(
                            "Custom emoji entity must contain a tg://emoji URL at byte offset {begin}"
                        ));
                    }
                    stack.push((name, o.len16, value));
                    i = j + 1;
                }
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                o.push(c);
                i += c.len_utf8();
            }
        }
    }
    if let Some(top) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            top.0
        ));
    }
    Ok(o.finish())
}

fn parse_markdown_v2(text: &str) -> Result<(String, Vec<Value>), String> {
    const RESERVED: &str = "_*[]()~`>#+-=|{}.!";
    let b = text.as_bytes();
    let mut o = Builder::new();
    // (name, entity type, byte offset, utf16 start)
    let mut stack: Vec<(&'static str, &'static str, usize, usize)> = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    let mut quote: Option<(usize, bool)> = None; // (start utf16, expandable)
    let top = |s: &Vec<(&'static str, &'static str, usize, usize)>| s.last().map(|t| t.0);
    while i < b.len() {
        let c = b[i];
        let at_line_start = std::mem::replace(&mut line_start, false);
        if c == b'\\' && i + 1 < b.len() && (1..=126).contains(&b[i + 1]) {
            o.push(b[i + 1] as char);
            i += 2;
            continue;
        }
        if let Some(t @ ("Code" | "Pre")) = top(&stack) {
            if t == "Pre" && text[i..].starts_with("```") {
                let (_, kind, _, start) = stack.pop().unwrap();
                o.entity(kind, start, None);
                i += 3;
            } else if t == "Code" && c == b'`' {
                let (_, kind, _, start) = stack.pop().unwrap();
                o.entity(kind, start, None);
                i += 1;
            } else {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                if ch == '\n' {
                    line_start = true;
                }
                o.push(ch);
                i += ch.len_utf8();
            }
            continue;
        }
        if at_line_start {
            let expandable = text[i..].starts_with("**>");
            if expandable || c == b'>' {
                if quote.is_none() {
                    quote = Some((o.len16, expandable));
                }
                i += if expandable { 3 } else { 1 };
                continue;
            } else if let Some((start, exp)) = quote.take() {
                let kind = if exp {
                    "expandable_blockquote"
                } else {
                    "blockquote"
                };
                // The quote ended with the previous line (its newline is not part of it).
                let len16 = o.len16;
                o.len16 = len16 - 1;
                o.entity(kind, start, None);
                o.len16 = len16;
            }
        }
        match c {
            b'\n' => {
                o.push('\n');
                line_start = true;
                i += 1;
            }
            b'*' | b'~' => {
                let (name, kind) = if c == b'*' {
                    ("Bold", "bold")
                } else {
                    ("Strikethrough", "strikethrough")
                };
                if top(&stack) == Some(name) {
                    let (_, kind, _, start) = stack.pop().unwrap();
                    o.entity(kind, start, None);
                } else {
                    stack.push((name, kind, i, o.len16));
                }
                i += 1;
            }
            b'_' => {
                let (name, kind, n) = if b.get(i + 1) == Some(&b'_') {
                    ("Underline", "underline", 2)
                } else {
                    ("Italic", "italic", 1)
                };
                if top(&stack) == Some(name) {
                    let (_, kind, _, start) = stack.pop().unwrap();
                    o.entity(kind, start, None);
                } else {
                    stack.push((name, kind, i, o.len16));
                }
                i += n;
            }
            b'|' => {
                if b.get(i + 1) != Some(&b'|') {
                    return Err(
                        "Character '|' is reserved and must be escaped with the preceding '\\'"
                            .into(),
                    );
                }
                let end_of_quote = quote.is_some_and(|q| q.1)
                    && top(&stack) != Some("Spoiler")
                    && matches!(b.get(i + 2), None | Some(b'\n'));
                if !end_of_quote {
                    if top(&stack) == Some("Spoiler") {
                        let (_, kind, _, start) = stack.pop().unwrap();
                        o.entity(kind, start, None);
                    } else {
                        stack.push(("Spoiler", "spoiler", i, o.len16));
                    }
                }
                i += 2;
            }
            b'`' => {
                if text[i..].starts_with("```") {
                    // Optional language up to the end of the line.
                    let rest = &text[i + 3..];
                    let skip = rest.find('\n').map(|n| n + 1).unwrap_or(0);
                    stack.push(("Pre", "pre", i, o.len16));
                    i += 3 + skip;
                } else {
                    stack.push(("Code", "code", i, o.len16));
                    i += 1;
                }
            }
            b'[' => {
                stack.push(("TextUrl", "text_link", i, o.len16));
                i += 1;
            }
            b'!' if b.get(i + 1) == Some(&b'[') => {
                stack.push(("CustomEmoji", "custom_emoji", i, o.len16));
                i += 2;
            }
            b']' if matches!(top(&stack), Some("TextUrl" | "CustomEmoji")) => {
                let (name, kind, _, start) = stack.pop().unwrap();
                i += 1;
                if b.get(i) == Some(&b'(') {
                    let mut url = String::new();
                    let mut j = i + 1;
                    loop {
                        match b.get(j) {
                            None => {
                                return Err(format!("Can't find end of a URL at byte offset {i}"));
                            }
                            Some(b')') => break,
                            Some(b'\\') if j + 1 < b.len() => {
                                url.push(b[j + 1] as char);
                                j += 2;
                            }
                            Some(_) => {
                                let ch = text[j..].chars().next().unwrap_or('\u{fffd}');
                                url.push(ch);
                                j += ch.len_utf8();
                            }
                        }
                    }
                    i = j + 1;
                    if name == "CustomEmoji" {
                        let id = url
                            .strip_prefix("tg://emoji?id=")
                            .ok_or("Custom emoji entity must contain a tg://emoji URL")?;
                        o.entity(kind, start, Some(("custom_emoji_id", id.to_string())));
                    } else {
                        o.entity(kind, start, Some(("url", url)));
                    }
                }
            }
            _ if c.is_ascii() && RESERVED.as_bytes().contains(&c) => {
                return Err(format!(
                    "Character '{}' is reserved and must be escaped with the preceding '\\'",
                    c as char
                ));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                o.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if let Some((name, _, at, _)) = stack.last() {
        return Err(format!(
            "Can't find end of {name} entity at byte offset {at}"
        ));
    }
    if let Some((start, exp)) = quote {
        let kind = if exp {
            "expandable_blockquote"
        } else {
            "blockquote"
        };
        o.entity(kind, start, None);
    }
    Ok(o.finish())
}

/// Legacy `Markdown`: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`.
fn parse_markdown(text: &str) -> Result<(String, Vec<Value>), String> {
    let b = text.as_bytes();
    let mut o = Builder::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && matches!(b.get(i + 1), Some(b'_' | b'*' | b'`' | b'[')) {
            o.push(b[i + 1] as char);
            i += 2;
            continue;
        }
        if !matches!(c, b'_' | b'*' | b'`' | b'[') {
            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
            o.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let begin = i;
        let pre = text[i..].starts_with("```");
        let (end, kind) = match c {
            b'*' => ("*", "bold"),
            b'_' => ("_", "italic"),
            b'[' => ("]", "text_link"),
            _ if pre => ("```", "pre"),
            _ => ("`", "code"),
        };
        i += if pre { 3 } else { 1 };
        let Some(len) = text[i..].find(end) else {
            return Err(format!(
                "Can't find end of the entity starting at byte offset {begin}"
            ));
        };
        let start = o.len16;
        for ch in text[i..i + len].chars() {
            o.push(ch);
        }
        i += len + end.len();
        if kind == "text_link" {
            if b.get(i) == Some(&b'(') {
                let Some(close) = text[i..].find(')') else {
                    return Err(format!(
                        "Can't find end of the entity starting at byte offset {begin}"
                    ));
                };
                let url = text[i + 1..i + close].to_string();
                i += close + 1;
                o.entity(kind, start, Some(("url", url)));
            }
        } else {
            o.entity(kind, start, None);
        }
    }
    Ok(o.finish())
}
