//! Provider workers: fixed threads that run ureq requests, fed by a bounded queue.
//!
//! Each provider has one ureq `Agent` built once: every timeout set (connect/resolve, time to
//! the response head, silence per read, whole request), no redirects, statuses as values, the
//! proxy from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (honouring `NO_PROXY`; never for a local
//! provider). Keep-alive pooling is off: every request opens its own socket, which a custom
//! connector registers with the request's `Cancel`, so an abort shuts down exactly that socket.
//! The cost is one TCP (and TLS) handshake per model call, small next to a model's latency.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, DefaultConnector, ShutdownHandle, Transport,
};

use super::openai::{self, Sse, SseParser, StreamState};
use super::{Call, Cancel, Completion, EmbedRequest, Event, ProviderError, Request, Stats};
use crate::config::limits::Limits;
use crate::config::providers::{ModelsConfig, ProviderConfig, embeddings_url, host_of};

/// A socket registered by a request, shut down on cancel.
pub(super) type SocketHandle = Weak<dyn ShutdownHandle>;

pub(super) fn shutdown(h: &SocketHandle) {
    if let Some(h) = h.upgrade() {
        h.shutdown();
    }
}

thread_local! {
    /// The cancel handle of the request this worker thread is running.
    static CURRENT: std::cell::RefCell<Option<Arc<Cancel>>> = const { std::cell::RefCell::new(None) };
}

/// The default connector chain, plus registration of each new socket with the current request.
#[derive(Debug)]
struct Tracked(DefaultConnector);

impl Connector<()> for Tracked {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(cancel) = CURRENT.with(|c| c.borrow().clone()) else {
            return self.0.connect(details, chained);
        };
        let inner = details.register_shutdown.clone();
        let d = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: Arc::new(move |h: SocketHandle| {
                cancel.register(h.clone());
                inner(h)
            }),
        };
        self.0.connect(&d, chained)
    }
}

/// One provider's agent and settings.
struct Handle {
    cfg: ProviderConfig,
    agent: ureq::Agent,
    /// A key set at run time (`/set api key`), used instead of `cfg.api_key`.
    key: Mutex<Option<crate::config::Secret>>,
}

/// What a job asks of the provider.
enum Work {
    Chat(Request),
    Embed(EmbedRequest),
}

struct Job {
    handle: Arc<Handle>,
    work: Work,
    tx: smol::channel::Sender<Result<Event, ProviderError>>,
    cancel: Arc<Cancel>,
}

/// The provider registry and its worker threads.
pub struct Providers {
    handles: Vec<Arc<Handle>>,
    tx: SyncSender<Job>,
    queue: usize,
    stream_buffer: usize,
    /// Counters for `status`.
    pub stats: Arc<Stats>,
}

/// What a worker needs from `Limits`.
#[derive(Clone, Copy)]
struct Caps {
    max_response_bytes: usize,
    max_line_bytes: usize,
}

impl Providers {
    /// Builds the agents and starts `limits.provider_workers` threads.
    pub fn start(models: &ModelsConfig, limits: &Limits) -> std::io::Result<Providers> {
        let handles = models
            .providers
            .iter()
            .map(|p| {
                Arc::new(Handle {
                    agent: agent_for(p, limits),
                    cfg: p.clone(),
                    key: Mutex::new(None),
                })
            })
            .collect();
        let (tx, rx) = sync_channel::<Job>(limits.provider_queue);
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(Stats::default());
        let caps = Caps {
            max_response_bytes: limits.provider_max_response_bytes,
            max_line_bytes: limits.provider_max_line_bytes,
        };
        for i in 0..limits.provider_workers {
            let (rx, stats) = (Arc::clone(&rx), Arc::clone(&stats));
            std::thread::Builder::new()
                .name(format!("provider-{i}"))
                .stack_size(512 * 1024)
                .spawn(move || work(&rx, &stats, caps))?;
        }
        Ok(Providers {
            handles,
            tx,
            queue: limits.provider_queue,
            stream_buffer: limits.provider_stream_buffer,
            stats,
        })
    }

    /// Replaces `provider`'s API key for every later call; false when no such provider exists.
    pub fn set_key(&self, provider: &str, key: crate::config::Secret) -> bool {
        match self.handles.iter().find(|h| h.cfg.id == provider) {
            Some(h) => {
                if let Ok(mut g) = h.key.lock() {
                    *g = Some(key);
                }
                true
            }
            None => false,
        }
    }

    /// Queues a chat request to `provider`; `Busy` at once when the queue is full.
    pub fn call(&self, provider: &str, req: Request) -> Result<Call, ProviderError> {
        self.queue(provider, Work::Chat(req))
    }

    /// Queues an `/embeddings` request to `provider` (same queue, workers and bounds as chat
    /// calls); the call yields one `Event::Embeddings`.
    pub fn embed(&self, provider: &str, req: EmbedRequest) -> Result<Call, ProviderError> {
        self.queue(provider, Work::Embed(req))
    }

    fn queue(&self, provider: &str, work: Work) -> Result<Call, ProviderError> {
        let handle = self
            .handles
            .iter()
            .find(|h| h.cfg.id == provider)
            .ok_or_else(|| ProviderError::Unknown(provider.to_string()))?;
        let (tx, rx) = smol::channel::bounded(self.stream_buffer);
        let cancel = Arc::new(Cancel::default());
        let job = Job {
            handle: Arc::clone(handle),
            work,
            tx,
            cancel: Arc::clone(&cancel),
        };
        match self.tx.try_send(job) {
            Ok(()) => {
                Stats::add(&self.stats.calls, 1);
                Ok(Call { events: rx, cancel })
            }
            Err(TrySendError::Full(_)) => {
                Stats::add(&self.stats.shed, 1);
                Err(ProviderError::Busy { cap: self.queue })
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(ProviderError::Connect("provider workers are gone".into()))
            }
        }
    }
}

fn agent_for(p: &ProviderConfig, l: &Limits) -> ureq::Agent {
    let ms = Duration::from_millis;
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        // 16 KiB buffers instead of ureq's 128 KiB each way: every call has a fresh connection,
        // and on the static musl build large short-lived buffers fragment the heap (RSS rose
        // ~10 MiB per 1,000-update burst; see README "Telegram bench").
        .max_response_header_size(16 * 1024)
        .input_buffer_size(16 * 1024)
        .output_buffer_size(16 * 1024)
        .user_agent(format!("openclaw-edge/{}", env!("CARGO_PKG_VERSION")))
        .proxy(proxy_for(p, &|k| std::env::var(k).ok()))
        .timeout_global(Some(ms(l.provider_timeout_ms)))
        .timeout_resolve(Some(ms(l.provider_connect_timeout_ms)))
        .timeout_connect(Some(ms(l.provider_connect_timeout_ms)))
        .timeout_send_request(Some(ms(l.provider_read_timeout_ms)))
        .timeout_send_body(Some(ms(l.provider_read_timeout_ms)))
        .timeout_recv_response(Some(ms(l.provider_read_timeout_ms)))
        .timeout_per_read(Some(ms(l.provider_read_timeout_ms)))
        .build();
    ureq::Agent::with_parts(
        config,
        Tracked(DefaultConnector::new()),
        DefaultResolver::default(),
    )
}

/// The proxy for a provider: none for a local one; else `HTTPS_PROXY` (https) or `HTTP_PROXY`
/// (http), then `ALL_PROXY`, unless `NO_PROXY` names the host.
fn proxy_for(p: &ProviderConfig, env: &dyn Fn(&str) -> Option<String>) -> Option<ureq::Proxy> {
    if p.local {
        return None;
    }
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let https = p.url.starts_with("https://");
    let chosen = if https {
        var(&["HTTPS_PROXY", "https_proxy"])
    } else {
        var(&["HTTP_PROXY", "http_proxy"])
    }
    .or_else(|| var(&["ALL_PROXY", "all_proxy"]))?;
    let host = host_of(&p.url);
    if let Some(no) = var(&["NO_PROXY", "no_proxy"])
        && no_proxy_matches(&no, &host)
    {
        return None;
    }
    match ureq::Proxy::new(&chosen) {
        Ok(proxy) => Some(proxy),
        Err(e) => {
            log::warn!("provider {}: ignoring unusable proxy setting: {e}", p.id);
            None
        }
    }
}

fn no_proxy_matches(list: &str, host: &str) -> bool {
    list.split(',').map(str::trim).any(|e| {
        let e = e
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .to_ascii_lowercase();
        e == "*" || (!e.is_empty() && (host == e || host.ends_with(&format!(".{e}"))))
    })
}

fn work(rx: &Mutex<Receiver<Job>>, stats: &Stats, caps: Caps) {
    loop {
        let job = {
            let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        if job.cancel.is_cancelled() || job.tx.is_closed() {
            continue;
        }
        CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(&job.cancel)));
        let result = match &job.work {
            Work::Chat(req) => run(&job, req, stats, caps).map(Event::Done),
            Work::Embed(req) => embed(&job, req, stats, caps).map(Event::Embeddings),
        };
        CURRENT.with(|c| *c.borrow_mut() = None);
        let result = match result {
            Err(_) if job.cancel.is_cancelled() => Err(ProviderError::Cancelled),
            other => other,
        };
        if result.is_err() {
            Stats::add(&stats.failures, 1);
        }
        let _ = job.tx.send_blocking(result);
    }
}

/// POSTs a JSON body to `url` with the provider's key and headers; a non-2xx answer becomes
/// its error (`RateLimited` on 429), a 2xx one `(status, is event stream, body reader)`.
fn post(
    job: &Job,
    url: &str,
    body: &serde_json::Value,
    accept: &str,
    stats: &Stats,
) -> Result<(u16, bool, ureq::BodyReader<'static>), ProviderError> {
    let p = &job.handle.cfg;
    let body = serde_json::to_vec(body)
        .map_err(|e| ProviderError::Malformed(format!("request body: {e}")))?;
    let mut rb = job
        .handle
        .agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", accept);
    let runtime_key = job.handle.key.lock().ok().and_then(|g| g.clone());
    if let Some(key) = runtime_key.as_ref().or(p.api_key.as_ref()) {
        rb = rb.header(
            p.auth_header.as_str(),
            format!("{}{}", p.auth_prefix, key.expose()),
        );
    }
    for (k, v) in &p.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let resp = rb.send(&body[..]).map_err(map_err)?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let event_stream = header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/event-stream"));
    let retry = openai::retry_after(
        header("retry-after").as_deref(),
        header("retry-after-ms").as_deref(),
    );
    let mut reader = resp.into_body().into_reader();
    if (200..300).contains(&status) {
        return Ok((status, event_stream, reader));
    }
    let bytes = read_capped(&mut reader, 64 * 1024, stats).unwrap_or_default();
    let (message, api_code) = openai::error_body(&bytes);
    Err(if status == 429 {
        ProviderError::RateLimited {
            retry_after_ms: retry,
            message,
        }
    } else {
        ProviderError::Status {
            code: status,
            message,
            api_code,
            retry_after_ms: retry,
        }
    })
}

/// Runs one chat request; deltas go to `job.tx` as they arrive.
fn run(job: &Job, req: &Request, stats: &Stats, caps: Caps) -> Result<Completion, ProviderError> {
    let p = &job.handle.cfg;
    let accept = if p.stream {
        "text/event-stream, application/json"
    } else {
        "application/json"
    };
    let (status, event_stream, mut reader) =
        post(job, &p.url, &openai::body(p, req), accept, stats)?;
    let mut c = if event_stream {
        read_stream(job, &mut reader, stats, caps)?
    } else {
        let bytes = read_capped(&mut reader, caps.max_response_bytes, stats)?;
        openai::parse_json(&bytes)?
    };
    c.status = status;
    Ok(c)
}

/// Runs one `/embeddings` request (the URL next to the provider's chat completions URL).
fn embed(
    job: &Job,
    req: &EmbedRequest,
    stats: &Stats,
    caps: Caps,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let url = embeddings_url(&job.handle.cfg.url);
    let body = openai::embeddings_body(&req.model, &req.input);
    let (_, _, mut reader) = post(job, &url, &body, "application/json", stats)?;
    let bytes = read_capped(&mut reader, caps.max_response_bytes, stats)?;
    openai::parse_embeddings(
        &bytes,
        req.input.len(),
        crate::store::memory::MAX_EMBEDDING_DIMS,
    )
}

fn read_stream(
    job: &Job,
    reader: &mut impl Read,
    stats: &Stats,
    caps: Caps,
) -> Result<Completion, ProviderError> {
    let mut parser = SseParser::new(caps.max_line_bytes);
    let mut state = StreamState::default();
    let mut pending = String::new();
    let mut total = 0usize;
    let mut buf = [0u8; 4096];
    loop {
        if job.cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(map_io(e, state.saw_done || state.finished)),
        };
        total += n;
        Stats::add(&stats.bytes_in, n as u64);
        if total > caps.max_response_bytes {
            return Err(ProviderError::TooLarge {
                max: caps.max_response_bytes,
            });
        }
        let mut on_event = |ev: Sse| -> Result<(), ProviderError> {
            match ev {
                Sse::Done => state.saw_done = true,
                Sse::Data(d) => {
                    if let Some(t) = state.apply(&d)? {
                        pending.push_str(&t);
                    }
                }
            }
            Ok(())
        };
        parser.feed(&buf[..n], &mut on_event)?;
        if !pending.is_empty() {
            // Never wait on a slow executor here: merge text until the channel has room.
            match job
                .tx
                .try_send(Ok(Event::Delta(std::mem::take(&mut pending))))
            {
                Ok(()) => {}
                Err(smol::channel::TrySendError::Full(Ok(Event::Delta(back)))) => pending = back,
                Err(_) => return Err(ProviderError::Cancelled),
            }
        }
        if state.saw_done {
            break;
        }
    }
    parser.finish(&mut |ev| {
        if let Sse::Data(d) = ev
            && let Some(t) = state.apply(&d)?
        {
            pending.push_str(&t);
        }
        Ok(())
    })?;
    if !state.saw_done && !state.finished {
        return Err(ProviderError::Closed(
            "stream ended without [DONE] or finish_reason".into(),
        ));
    }
    if !pending.is_empty() && job.tx.send_blocking(Ok(Event::Delta(pending))).is_err() {
        return Err(ProviderError::Cancelled);
    }
    Ok(state.finish())
}

fn read_capped(r: &mut impl Read, max: usize, stats: &Stats) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).map_err(|e| map_io(e, false))?;
        if n == 0 {
            return Ok(out);
        }
        Stats::add(&stats.bytes_in, n as u64);
        if out.len() + n > max {
            return Err(ProviderError::TooLarge { max });
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn map_io(e: std::io::Error, complete: bool) -> ProviderError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => ProviderError::Timeout("read"),
        _ if complete => ProviderError::Closed(format!("after the answer: {e}")),
        _ => {
            // ureq wraps its own errors (timeouts included) in io::Error when reading bodies.
            if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                return map_err(clone_err(inner));
            }
            ProviderError::Closed(e.to_string())
        }
    }
}

fn clone_err(e: &ureq::Error) -> ureq::Error {
    match e {
        ureq::Error::Timeout(t) => ureq::Error::Timeout(*t),
        other => ureq::Error::Io(std::io::Error::other(other.to_string())),
    }
}

fn map_err(e: ureq::Error) -> ProviderError {
    use ureq::Error as E;
    match e {
        E::Timeout(t) => ProviderError::Timeout(match t {
            ureq::Timeout::Resolve | ureq::Timeout::Connect => "connect",
            ureq::Timeout::RecvResponse => "response",
            ureq::Timeout::Global | ureq::Timeout::PerCall => "request",
            _ => "read",
        }),
        E::HostNotFound => ProviderError::Connect("host not found".into()),
        E::ConnectionFailed => ProviderError::Connect("connection failed".into()),
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                ProviderError::Connect("connection refused".into())
            }
            // rustls reports handshake failures (certificates, alerts) as InvalidData.
            std::io::ErrorKind::InvalidData => ProviderError::Tls(io.to_string()),
            std::io::ErrorKind::TimedOut => ProviderError::Timeout("read"),
            _ => ProviderError::Closed(io.to_string()),
        },
        E::Tls(t) => ProviderError::Tls(t.to_string()),
        other => ProviderError::Connect(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(url: &str, local: bool) -> ProviderConfig {
        let toml = format!(
            "[models.providers.p]\nbaseUrl = \"{url}\"\nlocal = {local}\nallowUnauthenticated = true\n"
        );
        let cfg = crate::config::Config::from_parts(
            None,
            None,
            &toml,
            "t",
            &crate::config::Overrides::default(),
            &|_| None,
        )
        .expect("test config loads");
        cfg.models.provider("p").expect("provider p").clone()
    }

    #[test]
    fn proxies_come_from_the_environment_but_never_for_local_providers() {
        let env = |k: &str| match k {
            "HTTPS_PROXY" => Some("http://proxy.lan:3128".to_string()),
            "NO_PROXY" => Some("internal.example,.corp".to_string()),
            _ => None,
        };
        let cloud = provider("https://api.example.com/v1", false);
        assert!(
            proxy_for(&cloud, &env).is_some(),
            "HTTPS_PROXY used for https"
        );
        assert!(
            proxy_for(&provider("http://api.example.com/v1", false), &env).is_none(),
            "no HTTP_PROXY set"
        );
        assert!(
            proxy_for(&provider("https://x.corp/v1", false), &env).is_none(),
            "NO_PROXY suffix"
        );
        assert!(proxy_for(&provider("https://internal.example/v1", false), &env).is_none());
        assert!(
            proxy_for(&provider("http://127.0.0.1:8080/v1", true), &env).is_none(),
            "local: never"
        );
        let all = |k: &str| (k == "ALL_PROXY").then(|| "http://proxy.lan:3128".to_string());
        assert!(proxy_for(&provider("http://api.example.com/v1", false), &all).is_some());
    }

    #[test]
    fn errors_map_to_what_a_retry_can_fix() {
        let io = |k| ureq::Error::Io(std::io::Error::new(k, "x"));
        let tls = map_err(io(std::io::ErrorKind::InvalidData));
        assert!(matches!(tls, ProviderError::Tls(_)) && !tls.transient());
        let refused = map_err(io(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(refused, ProviderError::Connect(_)) && refused.transient());
        let t = map_err(ureq::Error::Timeout(ureq::Timeout::RecvResponse));
        assert_eq!(t, ProviderError::Timeout("response"));
        assert!(t.transient());
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches(
            "localhost,.example.com",
            "api.example.com"
        ));
        assert!(no_proxy_matches("*", "x"));
        assert!(!no_proxy_matches("example.com", "example.org"));
        assert_eq!(host_of("https://u:p@API.x.com:8443/v1?q"), "api.x.com");
        assert_eq!(host_of("http://[::1]:8080/v1"), "::1");
    }
}
