//! The accept loop around the router: hyper's HTTP/1.1 connections with the bounds that
//! `axum::serve` does not offer. A request's head must arrive within the header timeout (from
//! the connection's start, or from the first byte after an idle spell), an idle keep-alive
//! connection is closed after the idle timeout, a body must arrive within the header timeout
//! too (`http::read_body`), and at most `max_connections` are open at once: one more is answered
//! 503 with Twilio's error body and `Connection: close`, then closed.
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

/// The bounds of the server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
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
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let conn = connection(stream, router.clone(), limits, closing_rx.clone(), permit);
                tokio::spawn(conn);
            }
            Err(_) => {
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

/// Serves one connection until it ends, times out, or the server stops.
async fn connection(
    stream: TcpStream,
    router: axum::Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
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
            let response = router.oneshot(req).await;
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
            _ = conn.as_mut() => return,
            _ = changed => {}
            _ = sleep_until(armed) => {
                if clock.deadline().is_some_and(|d| d <= Instant::now()) {
                    // Dropping the connection closes the socket.
                    return;
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
