//! The accept loop around the router: hyper's HTTP/1.1 connections with the bounds that
//! `axum::serve` does not offer. A request's head must arrive within the header timeout (from
//! the connection's start, or from the first byte after an idle spell), an idle keep-alive
//! connection is closed after the idle timeout, a body must arrive within the header timeout
//! too (`http::read_body`), and at most `max_connections` are open at once: one more is answered
//! 503 with Twilio's error body and `Connection: close`, then closed.
//!
//! A request answered before its body was read to the end (a refusal that comes before the
//! body: wrong credentials, an invalid header, an unknown service; a body over the cap) has
//! the rest of its body read and dropped before the answer goes out, up to [`DRAIN_LIMIT`]
//! bytes within the header timeout. Left unread, hyper would close the connection after the
//! answer without saying so, and a client that pooled it would see its next request fail
//! ("connection closed before message completed", "broken pipe", "connection reset"). When
//! the rest is too large or too slow, the answer says `Connection: close`.
//!
//! With `log_connections`, every connection says on stderr why it ended.
//!
//! hyper's own `header_read_timeout` is not used: hyper restarts it as soon as a keep-alive
//! connection goes idle, so it cannot tell a slow head from an idle connection and would cap
//! the idle time at the header timeout. Each connection keeps its own small clock instead
//! (`Clock`), fed by the bytes it reads and by the requests in service.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::error::ApiError;

/// Connections being refused at once; past this many, a refused connection is simply closed.
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is kept to read what the client sent, so that closing it does
/// not reset the 503 away before the client reads it.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// At most this much of a request body the router left unread is read and dropped after it
/// answered, so that the connection stays usable; past it, the connection is closed.
pub const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// The bounds of the server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Whether each connection says on stderr why it ended.
    pub log_connections: bool,
}

/// Accepts until `stop` fires (or its sender is dropped), then lets every open connection
/// finish what it is serving and returns once all are closed.
pub(super) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let (closing, closing_rx) = watch::channel(false);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin, and keep serving.
                    eprintln!("error: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "unknown peer".to_owned(), |a| a.to_string());
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let conn = connection(stream, router.clone(), limits, closing_rx.clone(), permit);
                tokio::spawn(async move {
                    let reason = conn.await;
                    if limits.log_connections {
                        eprintln!("connection {peer}: {reason}");
                    }
                });
            }
            Err(_) => {
                if limits.log_connections {
                    eprintln!(
                        "connection {peer}: refused with 503, {} connections open",
                        limits.max_connections
                    );
                }
                if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                    tokio::spawn(refuse(stream, limits.max_connections, permit));
                }
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it ends: getting all of them back means all ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// Answers 503 on a connection over the cap, then closes it.
async fn refuse(mut stream: TcpStream, max_connections: usize, _permit: OwnedSemaphorePermit) {
    let answer = ApiError::full(max_connections).raw_http1();
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            drained += n;
        }
        io::Result::Ok(())
    })
    .await;
}

/// Why a connection ended, as the connection log says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Closed {
    /// The client closed it (or it ended after a `Connection: close` answer).
    Ended,
    /// hyper gave up on it: a malformed request, a reset, a write that failed.
    Failed(String),
    /// No request head arrived within the header timeout.
    HeadTimeout(Duration),
    /// It was idle for the idle timeout.
    Idle(Duration),
    /// The server stopped, and it had finished what it was serving.
    Stopping,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Ended => {
                f.write_str("closed: the client closed it, or an answer said `Connection: close`")
            }
            Closed::Failed(e) => write!(f, "closed: {e}"),
            Closed::HeadTimeout(t) => {
                write!(f, "closed: no request head within {} ms", t.as_millis())
            }
            Closed::Idle(t) => write!(f, "closed: idle for {} ms", t.as_millis()),
            Closed::Stopping => f.write_str("closed: the server is stopping"),
        }
    }
}

/// A request body the router reads through, which the connection can finish reading after
/// the router answered.
struct Shared(Arc<Mutex<Incoming>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Incoming> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl hyper::body::Body for Shared {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut *self.lock()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.lock().is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.lock().size_hint()
    }
}

/// Reads and drops what is left of `body`, at most [`DRAIN_LIMIT`] bytes within `limit`.
/// Whether it came to its end (the connection may serve the next request).
async fn drain(body: &Shared, limit: Duration) -> bool {
    use hyper::body::Body as _;
    if body.is_end_stream() {
        return true;
    }
    let read = async {
        let mut drained = 0usize;
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *body.lock()).poll_frame(cx)).await;
            match frame {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    drained += frame.data_ref().map_or(0, |d| d.len());
                    if drained > DRAIN_LIMIT {
                        return false;
                    }
                }
            }
        }
    };
    tokio::time::timeout(limit, read).await.unwrap_or(false)
}

/// Serves one connection until it ends, times out, or the server stops; says why it ended.
async fn connection(
    stream: TcpStream,
    router: axum::Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) -> Closed {
    let clock = Arc::new(Clock::new(limits));
    let io = TokioIo::new(Watched {
        inner: stream,
        clock: Arc::clone(&clock),
    });
    let served = Arc::clone(&clock);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let busy = Busy::start(Arc::clone(&served));
        let router = router.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = Shared(Arc::new(Mutex::new(body)));
            let req = hyper::Request::from_parts(
                parts,
                axum::body::Body::new(Shared(Arc::clone(&body.0))),
            );
            let mut response = router.oneshot(req).await;
            // What the router left of the body is read now, so the connection stays usable.
            if let Ok(r) = &mut response
                && !drain(&body, limits.header_timeout).await
            {
                r.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            drop(busy);
            response
        }
    });
    // hyper's header timer is off: the clock below keeps both deadlines.
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        let armed = clock.arm();
        let changed = clock.changed.notified();
        tokio::select! {
            ended = conn.as_mut() => {
                return match ended {
                    Ok(()) if draining => Closed::Stopping,
                    Ok(()) => Closed::Ended,
                    Err(e) => Closed::Failed(e.to_string()),
                };
            }
            _ = changed => {}
            _ = sleep_until(armed) => {
                if clock.deadline().is_some_and(|d| d <= Instant::now()) {
                    // Dropping the connection closes the socket.
                    return match clock.lock().phase {
                        Phase::Idle(_) => Closed::Idle(limits.idle_timeout),
                        _ => Closed::HeadTimeout(limits.header_timeout),
                    };
                }
            }
            _ = closing.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What a connection is doing, which decides its deadline.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for, or reading, a request head since then: the header timeout runs.
    Head(Instant),
    /// Requests in service: no deadline (the body has its own, the handler is ours).
    Busy(usize),
    /// Answered everything, nothing new has arrived since then: the idle timeout runs.
    Idle(Instant),
}

/// One connection's phase, and a way to wake its driver when the deadline comes closer.
///
/// The driver's timer is armed at the deadline of the moment (`armed`) and left alone while
/// the deadline only moves later, which is what a busy keep-alive connection does request
/// after request (head, busy, idle, head…): when the timer fires early, the driver checks the
/// real deadline and arms again. Only a deadline earlier than the armed one wakes the driver.
/// Arming a fresh timer on every phase change cost a timer registration, and often a wake-up
/// of a parked worker thread, three times per request.
#[derive(Debug)]
struct Clock {
    limits: Limits,
    state: Mutex<ClockState>,
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    phase: Phase,
    /// The deadline the driver's timer is set for (`None`: no timer).
    armed: Option<Instant>,
}

impl Clock {
    fn new(limits: Limits) -> Clock {
        Clock {
            limits,
            state: Mutex::new(ClockState {
                phase: Phase::Head(Instant::now()),
                armed: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut state = self.lock();
        state.phase = f(state.phase);
        let closer = match (self.deadline_of(state.phase), state.armed) {
            (Some(new), Some(armed)) => new < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        drop(state);
        if closer {
            self.changed.notify_one();
        }
    }

    /// The deadline now, which the driver arms its timer for.
    fn arm(&self) -> Option<Instant> {
        let mut state = self.lock();
        state.armed = self.deadline_of(state.phase);
        state.armed
    }

    /// Bytes arrived: after an idle spell they start a new request head.
    fn bytes_arrived(&self) {
        let idle = matches!(self.lock().phase, Phase::Idle(_));
        if idle {
            self.update(|p| match p {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let phase = self.lock().phase;
        self.deadline_of(phase)
    }

    fn deadline_of(&self, phase: Phase) -> Option<Instant> {
        match phase {
            Phase::Head(since) => Some(since + self.limits.header_timeout),
            Phase::Busy(_) => None,
            Phase::Idle(since) => Some(since + self.limits.idle_timeout),
        }
    }
}

/// A request in service; when dropped (answered, or abandoned), the connection may go idle.
struct Busy(Arc<Clock>);

impl Busy {
    fn start(clock: Arc<Clock>) -> Busy {
        clock.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        Busy(clock)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// The socket, telling the clock when bytes arrive.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
