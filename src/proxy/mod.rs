//! `convcheck proxy`: a reverse proxy in front of a target that judges the traffic of the
//! user's own application with the same checks and the same model as `convcheck run`.
//!
//! - [`observe`] (pure) turns each exchange into a step of the model and files what it found.
//! - This module is the I/O: it listens, forwards every request to the upstream's origin as
//!   the client sent it, streams the answer back as the upstream sent it, and hands a copy of
//!   each finished exchange to one judging task, off the answer's path.
//!
//! Safety: the proxy sends only what a client sent, once (no retries, redirects not
//! followed), only to the upstream's origin (an absolute-form request URI's authority is
//! ignored); a request body over the bound is refused with 413 and never forwarded.
//! Credentials pass through to the upstream and are registered with the scrubber, so that
//! nothing the proxy prints or writes can hold them.

pub mod observe;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use tokio::sync::mpsc;

use crate::check::Exchange;
use crate::client::scrub;
use crate::runner::CaseRecord;
use crate::spec::Edition;
pub use observe::{Observer, Seen, Target};

/// The largest request body forwarded by default: far above any request of this API (the
/// largest, a create with 16 KiB of attributes, is under 64 KiB).
pub const DEFAULT_MAX_REQUEST: usize = 1024 * 1024;

/// The most of an answer kept for judging; a longer answer is streamed on unjudged.
pub const MAX_JUDGED_BODY: usize = crate::client::MAX_BODY;

/// How a proxy is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The upstream's base URL (`scheme://host[:port][/prefix]`).
    pub upstream: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Send the client's `Host` header on (for a server that builds its URLs from it, so that
    /// `next_page_url` leads back through the proxy); by default the upstream's own.
    pub preserve_host: bool,
    /// The largest request body forwarded.
    pub max_request: usize,
    /// The contract edition the answers are judged by.
    pub edition: Edition,
    /// The service behind the shortened form, when known in advance.
    pub default_service: Option<String>,
    /// How long an upstream may take to answer.
    pub timeout: Duration,
    /// Keep every judged exchange (bodies included) for recording snapshots.
    pub keep_exchanges: bool,
}

/// What a stopped proxy saw.
#[derive(Debug, Default)]
pub struct Session {
    /// One record per operation and URL form that traffic used.
    pub records: Vec<CaseRecord>,
    /// What the traffic says as a whole (exchanges outside the contract, races).
    pub notes: Vec<String>,
    /// Every judged exchange, in the order judged (kept only when asked for).
    pub exchanges: Vec<Exchange>,
    /// Sids of the users the session's creates answered with.
    pub created: BTreeSet<String>,
    /// Requests forwarded.
    pub forwarded: usize,
    /// Requests outside the contract (forwarded, not judged).
    pub uncovered: usize,
    /// Requests refused for their size (never forwarded).
    pub refused: usize,
    /// Requests the upstream did not answer, or whose answer did not reach the client whole.
    pub failed: Vec<String>,
    /// The base URL the answers were judged against.
    pub judged_base: String,
}

/// What reaches the judging task.
enum Event {
    /// A request arrived (head read).
    Started {
        id: u64,
        method: String,
        path: String,
    },
    /// Its answer went back whole.
    Done { id: u64, seen: Box<Seen> },
    /// It ended without a whole answer (refused, upstream failure, client gone).
    Gone { id: u64, why: Option<String> },
    /// The proxy stops: judge what is left and report.
    Stop(tokio::sync::oneshot::Sender<Session>),
}

struct Shared {
    http: reqwest::Client,
    /// The upstream's base URL without a trailing slash.
    upstream: String,
    origin: url::Origin,
    upstream_host: String,
    judged_base: String,
    preserve_host: bool,
    max_request: usize,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    last_activity: Mutex<Instant>,
    events: mpsc::UnboundedSender<Event>,
    forwarded: AtomicUsize,
    refused: AtomicUsize,
    /// Credentials already registered with the scrubber (a hash of each header value).
    known_credentials: Mutex<BTreeSet<u64>>,
}

impl Shared {
    fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    judge: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Binds the listening socket and starts serving. Errors are one-line messages.
    pub async fn start(opts: Options) -> anyhow::Result<Proxy> {
        let up = url::Url::parse(&opts.upstream).map_err(|e| {
            anyhow::anyhow!(
                "invalid upstream `{}`: {e}; pass an http or https base URL",
                opts.upstream
            )
        })?;
        if !matches!(up.scheme(), "http" | "https") || up.host_str().is_none() {
            anyhow::bail!(
                "invalid upstream `{}`: expected an http or https base URL",
                opts.upstream
            );
        }
        if !up.username().is_empty() || up.password().is_some() {
            anyhow::bail!(
                "invalid upstream: it holds credentials; leave them out (the proxy forwards the credentials each client sends, and adds none)"
            );
        }
        if up.query().is_some() || up.fragment().is_some() {
            anyhow::bail!(
                "invalid upstream `{}`: a base URL has no query or fragment",
                opts.upstream
            );
        }
        let upstream = opts.upstream.trim_end_matches('/').to_owned();
        let upstream_host = match up.port() {
            Some(p) => format!("{}:{p}", up.host_str().unwrap_or_default()),
            None => up.host_str().unwrap_or_default().to_owned(),
        };
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}: {e}; pass another --listen address",
                    opts.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let judged_base = if opts.preserve_host {
            format!("http://{addr}{}", up.path().trim_end_matches('/'))
        } else {
            upstream.clone()
        };
        let http = crate::client::http_builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .no_gzip()
            .build()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let observer = Observer::new(
            &judged_base,
            None,
            opts.default_service.as_deref(),
            opts.edition,
        );
        let judge = tokio::spawn(judge_loop(rx, observer, opts.keep_exchanges));
        let shared = Arc::new(Shared {
            http,
            upstream,
            origin: up.origin(),
            upstream_host,
            judged_base,
            preserve_host: opts.preserve_host,
            max_request: opts.max_request,
            next_id: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_activity: Mutex::new(Instant::now()),
            events: tx,
            forwarded: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            known_credentials: Mutex::new(BTreeSet::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        // An answer goes out in several writes (head, then the body as it streams): with
        // Nagle's algorithm on, each would wait for the client's delayed ACK (40 ms).
        let listener = {
            use axum::serve::ListenerExt as _;
            listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            })
        };
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
        });
        Ok(Proxy {
            addr,
            shared,
            shutdown: Some(stop_tx),
            server,
            judge,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How long no request has been in flight (zero while one is).
    pub fn idle_for(&self) -> Duration {
        if self.shared.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.shared
            .last_activity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Stops accepting requests, lets those in flight finish (at most `grace`), judges what
    /// is left and returns the session.
    pub async fn stop(mut self, grace: Duration) -> Session {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(grace, &mut self.server).await;
        self.server.abort();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.shared.events.send(Event::Stop(tx));
        let mut session = rx.await.unwrap_or_default();
        let _ = self.judge.await;
        session.forwarded = self.shared.forwarded.load(Ordering::SeqCst);
        session.refused = self.shared.refused.load(Ordering::SeqCst);
        session.judged_base = self.shared.judged_base.clone();
        session
    }
}

/// Headers that concern one connection, never forwarded (RFC 9110, 7.6.1), and the proxy's
/// own credentials.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// A plain-text answer of the proxy itself (never the upstream's), with a header saying so.
fn own_answer(status: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(format!("convcheck proxy: {message}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("x-convcheck-proxy", HeaderValue::from_static("refused"));
    r
}

/// Registers the credentials of an `Authorization` header with the scrubber, once.
fn register_credentials(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let (user, secret) = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, s) = text.split_once(':')?;
        (u.to_owned(), s.to_owned())
    } else {
        (String::new(), rest.trim().to_owned())
    };
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        value.hash(&mut h);
        h.finish()
    };
    let fresh = shared
        .known_credentials
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key);
    if fresh {
        scrub::register(&scrub::Scrubber::new(&user, &secret));
    }
    user.starts_with("AC").then_some(user)
}

/// Decrements the in-flight count when a request's handling ends, however it ends.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    shared.touch();
    let guard = InFlight(shared.clone());
    let at = now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path_q = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    // The path alone, for messages (a query may hold values nobody needs to read there).
    let path = parts.uri.path().to_owned();
    let _ = shared.events.send(Event::Started {
        id,
        method: method.to_string(),
        path: path.clone(),
    });
    let gone = |why: Option<String>| {
        let _ = shared.events.send(Event::Gone { id, why });
    };
    let account = register_credentials(&shared, &parts.headers);

    // The body, bounded: a request the upstream would refuse anyway, never forwarded.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = |shared: &Shared| {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let line = format!(
            "convcheck proxy: refused {method} {} ({} bytes at most; raise it with --max-request-bytes): not forwarded",
            path, shared.max_request
        );
        eprintln!("{}", scrub::scrub(&line));
        own_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "request body larger than {} bytes; not forwarded",
                shared.max_request
            ),
        )
    };
    if declared.is_some_and(|n| n > shared.max_request as u64) {
        gone(None);
        return too_large(&shared);
    }
    let body = match http_body_util::Limited::new(body, shared.max_request)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            gone(None);
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return too_large(&shared);
            }
            return own_answer(
                StatusCode::BAD_REQUEST,
                "the request body could not be read whole",
            );
        }
    };

    // Only to the upstream's origin, whatever the request line named.
    let url = format!("{}{path_q}", shared.upstream);
    if url::Url::parse(&url).map(|u| u.origin()).ok() != Some(shared.origin.clone()) {
        gone(None);
        return own_answer(
            StatusCode::BAD_REQUEST,
            "the request path does not stay on the upstream's origin; not forwarded",
        );
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if hop_by_hop(k) || k == header::CONTENT_LENGTH {
            continue;
        }
        if k == header::HOST && !shared.preserve_host {
            continue;
        }
        headers.append(k.clone(), v.clone());
    }
    if !shared.preserve_host
        && let Ok(h) = HeaderValue::from_str(&shared.upstream_host)
    {
        headers.insert(header::HOST, h);
    }
    let started = Instant::now();
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    let sent = shared
        .http
        .request(method.clone(), &url)
        .headers(headers)
        .body(body.clone())
        .send()
        .await;
    let mut upstream = match sent {
        Ok(r) => r,
        Err(e) => {
            let why = format!(
                "{method} {}: the upstream did not answer: {}",
                path,
                describe(&e)
            );
            eprintln!("convcheck proxy: {}", scrub::scrub(&why));
            gone(Some(why));
            return own_answer(StatusCode::BAD_GATEWAY, "the upstream did not answer");
        }
    };
    let status = upstream.status();
    let mut out_headers = HeaderMap::new();
    for (k, v) in upstream.headers() {
        if !hop_by_hop(k) {
            out_headers.append(k.clone(), v.clone());
        }
    }
    let response_headers: Vec<(String, String)> = upstream
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let gzip = upstream
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let request_headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k.starts_with("x-twilio-") || k == "content-type"
        })
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let judged_url = format!("{}{path_q}", shared.judged_base);

    // The answer streams back through a small channel; a copy of it is kept for judging.
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let pump_shared = shared.clone();
    // An answer with no body (a 204 to a delete) is whole once its head is sent, so the
    // client may send its next request at once: it is handed to the judge before its head
    // goes back, as other answers are before their last chunk.
    let bodiless = status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || method == axum::http::Method::HEAD
        || upstream.content_length() == Some(0);
    let (judged_tx, judged_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        // Dropped when the task ends, whichever way: the head never waits longer.
        let _judged = judged_tx;
        let _guard = guard;
        let mut kept: Vec<u8> = Vec::new();
        let mut whole = true;
        // The last chunk is held back until the answer is known to be whole and handed to
        // the judge: a client that has all the bytes (a Content-Length answer) may send its
        // next request at once, and that request must come after this answer's end.
        let mut held: Option<Bytes> = None;
        loop {
            match upstream.chunk().await {
                Ok(Some(chunk)) => {
                    if whole && kept.len() + chunk.len() <= MAX_JUDGED_BODY {
                        kept.extend_from_slice(&chunk);
                    } else {
                        whole = false;
                        kept = Vec::new();
                    }
                    if let Some(prev) = held.replace(chunk)
                        && tx.send(Ok(prev)).await.is_err()
                    {
                        let _ = pump_shared.events.send(Event::Gone { id, why: None });
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let why = format!(
                        "{method} {}: the upstream's answer broke off: {}",
                        path,
                        describe(&e)
                    );
                    let _ = pump_shared.events.send(Event::Gone { id, why: Some(why) });
                    if let Some(prev) = held.take() {
                        let _ = tx.send(Ok(prev)).await;
                    }
                    let _ = tx
                        .send(Err(std::io::Error::other("upstream broke off")))
                        .await;
                    return;
                }
            }
        }
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !whole {
            let _ = pump_shared.events.send(Event::Gone {
                id,
                why: Some(format!(
                    "{method} {}: answer larger than {MAX_JUDGED_BODY} bytes, passed on unjudged",
                    path
                )),
            });
            if let Some(last) = held.take() {
                let _ = tx.send(Ok(last)).await;
            }
            return;
        }
        let response_body = if gzip { gunzip(&kept) } else { kept };
        let mut exchange = Exchange {
            method: method.to_string(),
            url: judged_url,
            request_headers,
            request_body: body.to_vec(),
            status: status.as_u16(),
            response_headers,
            response_body,
        };
        if gzip {
            exchange
                .response_headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("content-encoding"));
        }
        // Judged in the order answers end: sent before the end of the body reaches the
        // client (the held-back chunk goes after), so that a request the client sends after
        // this answer comes after it.
        let _ = pump_shared.events.send(Event::Done {
            id,
            seen: Box::new(Seen {
                exchange,
                at,
                elapsed_ms,
                alone: false,
                account,
            }),
        });
        if let Some(last) = held {
            let _ = tx.send(Ok(last)).await;
        }
        drop(tx);
    });
    if bodiless {
        let _ = judged_rx.await;
    }
    let mut resp = Response::new(Body::new(ChannelBody { rx }));
    *resp.status_mut() = status;
    *resp.headers_mut() = out_headers;
    resp
}

/// What went wrong with a request to the upstream.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    crate::client::innermost_cause(e)
}

/// A gzip body decoded (bounded); the bytes as they are when they do not decode.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let ok = flate2::read::GzDecoder::new(bytes)
        .take(MAX_JUDGED_BODY as u64)
        .read_to_end(&mut out)
        .is_ok();
    if ok { out } else { bytes.to_vec() }
}

/// A response body fed by the pump task.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }
}

/// Now, as RFC 3339 with milliseconds.
fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One request as the judge tracks it: its place in the order of events, and what it
/// addresses.
#[derive(Debug, Clone)]
struct Span {
    start: u64,
    end: u64,
    collection: Option<String>,
    writes: bool,
}

impl Span {
    fn races(&self, other: &Span) -> bool {
        self.start < other.end
            && other.start < self.end
            && self.collection.is_some()
            && self.collection == other.collection
            && (self.writes || other.writes)
    }
}

/// The judging task: events in the order they happened; an answer is judged once every
/// request that started before it ended has ended too, so that whether it raced a write
/// is known.
async fn judge_loop(mut rx: mpsc::UnboundedReceiver<Event>, mut observer: Observer, keep: bool) {
    let mut clock: u64 = 0;
    let mut running: BTreeMap<u64, Span> = BTreeMap::new();
    let mut pending: Vec<(Span, Box<Seen>)> = Vec::new();
    let mut history: Vec<Span> = Vec::new();
    let mut exchanges = Vec::new();
    let mut failed = Vec::new();
    let settle = |observer: &mut Observer,
                  running: &BTreeMap<u64, Span>,
                  pending: &mut Vec<(Span, Box<Seen>)>,
                  history: &mut Vec<Span>,
                  exchanges: &mut Vec<Exchange>,
                  all: bool| {
        while let Some(i) = (0..pending.len()).min_by_key(|&i| pending[i].0.end) {
            let end = pending[i].0.end;
            if !all && running.values().any(|s| s.start < end) {
                break;
            }
            let (span, mut seen) = pending.remove(i);
            let raced = pending
                .iter()
                .map(|(s, _)| s)
                .chain(history.iter())
                .chain(running.values())
                .any(|o| o.races(&span));
            seen.alone = raced;
            if keep {
                exchanges.push(seen.exchange.clone());
            }
            observer.observe(*seen);
            history.push(span);
            // What can no longer overlap anything still to be judged.
            let horizon = pending
                .iter()
                .map(|(s, _)| s.start)
                .chain(running.values().map(|s| s.start))
                .min()
                .unwrap_or(u64::MAX);
            history.retain(|s| s.end > horizon);
        }
    };
    while let Some(ev) = rx.recv().await {
        clock += 1;
        match ev {
            Event::Started { id, method, path } => {
                let target = observer.classify(&method, &path);
                running.insert(
                    id,
                    Span {
                        start: clock,
                        end: u64::MAX,
                        collection: observer.collection(&target),
                        writes: target.writes(),
                    },
                );
            }
            Event::Done { id, seen } => {
                if let Some(mut span) = running.remove(&id) {
                    span.end = clock;
                    pending.push((span, seen));
                }
            }
            Event::Gone { id, why } => {
                if let Some(mut span) = running.remove(&id) {
                    span.end = clock;
                    // A write whose answer never came whole may have been applied or not.
                    if span.writes {
                        history.push(span);
                    }
                }
                if let Some(w) = why {
                    failed.push(w);
                }
            }
            Event::Stop(reply) => {
                settle(
                    &mut observer,
                    &running,
                    &mut pending,
                    &mut history,
                    &mut exchanges,
                    true,
                );
                let (records, notes) = observer.finish_session();
                let _ = reply.send(Session {
                    records,
                    notes,
                    exchanges,
                    created: observer.created().clone(),
                    uncovered: observer.uncovered(),
                    failed,
                    ..Session::default()
                });
                return;
            }
        }
        settle(
            &mut observer,
            &running,
            &mut pending,
            &mut history,
            &mut exchanges,
            false,
        );
    }
}

#[cfg(test)]
mod tests;
