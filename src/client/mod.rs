//! HTTP to the target: Basic auth, bounded retries where they are safe, and redaction.
//!
//! Credentials are added to the request at the last moment and never enter an [`Exchange`],
//! an error message or a `Debug` output, so nothing downstream (reports, snapshots, logs) can
//! leak them. A client is pinned to its target's origin (scheme, host, port): a URL that a
//! target hands back and that points anywhere else is never requested, with or without
//! credentials. Whatever a target echoes of a credential is scrubbed from its answer before
//! anything else sees it ([`scrub`]).

pub mod scrub;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use thiserror::Error;

use crate::check::Exchange;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// HTTP Basic credentials: Account SID and Auth Token, or API Key SID and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name: an Account SID (`AC…`) or an API Key SID (`SK…`).
    pub username: String,
    /// The Auth Token or API Key secret.
    pub secret: Secret,
    /// The account the requests act for.
    pub account_sid: String,
}

impl Credentials {
    fn header(&self) -> String {
        basic(&self.username, self.secret.expose())
    }

    /// Every form of these credentials, for scrubbing.
    pub fn scrubber(&self) -> scrub::Scrubber {
        scrub::Scrubber::new(&self.username, self.secret.expose())
    }
}

fn basic(user: &str, secret: &str) -> String {
    let raw = format!("{user}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Which credentials a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The run's credentials.
    Default,
    /// None at all.
    Anonymous,
    /// The run's user name with a wrong secret (for the 401 cases).
    WrongSecret,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Absolute URL.
    pub url: String,
    /// Form parameters (sent as `application/x-www-form-urlencoded` when not empty).
    pub form: Vec<(String, String)>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Credentials to use.
    pub auth: Auth,
}

impl Request {
    /// A request with the run's credentials and nothing else.
    pub fn new(method: reqwest::Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            form: Vec::new(),
            headers: Vec::new(),
            auth: Auth::Default,
        }
    }

    /// Adds a form parameter.
    pub fn param(mut self, k: &str, v: impl Into<String>) -> Request {
        self.form.push((k.to_owned(), v.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Request {
        self.headers.push((k.to_owned(), v.into()));
        self
    }

    /// Sets the credentials.
    pub fn auth(mut self, auth: Auth) -> Request {
        self.auth = auth;
        self
    }

    /// Whether sending it twice is harmless whatever the first attempt did. A create is
    /// never resent after a 503: a lost answer to a create that did happen would otherwise
    /// make a duplicate the run does not know of. (A 429 is resent on every method: see
    /// [`Client::send`].)
    fn retry_safe(&self) -> bool {
        self.method == reqwest::Method::GET || self.method == reqwest::Method::DELETE
    }
}

/// A request that got no HTTP answer.
#[derive(Debug, Error)]
pub enum TransportError {
    /// Nothing listens there, or the host is unknown.
    #[error("cannot connect to `{url}`: {reason}")]
    Connect {
        /// The target URL (never holds credentials).
        url: String,
        /// Why.
        reason: String,
    },
    /// No answer in time.
    #[error("no answer from `{url}` within {secs} s")]
    Timeout {
        /// The target URL.
        url: String,
        /// The time limit.
        secs: u64,
    },
    /// The URL is not on the target's origin: the request was not sent.
    #[error(
        "not sent: `{url}` is not on the target's origin `{origin}` (convcheck sends requests, and credentials, only there)"
    )]
    Foreign {
        /// The URL the target handed back.
        url: String,
        /// The target's origin.
        origin: String,
    },
    /// The answer's body was larger than the client reads.
    #[error("the answer from `{url}` is larger than {limit} bytes, the most convcheck reads")]
    TooLarge {
        /// The target URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The target still answered 429 Too Many Requests once the retry budget was spent.
    #[error(
        "`{url}` still answered 429 Too Many Requests after {retries} retries over {waited_ms} ms: the target limits the rate harder than the run's retry budget allows (try fewer `--test-threads`, or a smaller `--generate`)"
    )]
    RateLimited {
        /// The target URL.
        url: String,
        /// Retries sent after the first attempt.
        retries: u32,
        /// Time spent waiting for this request.
        waited_ms: u64,
    },
    /// Anything else (TLS, protocol, a malformed URL).
    #[error("request to `{url}` failed: {reason}")]
    Other {
        /// The target URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// How many times, and for how long, to retry a 429 or 503.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest single wait, whatever `Retry-After` says.
    pub max_wait: Duration,
    /// The longest total time spent waiting for one request.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // A target that answers one request in 25 with 429 (Twilio under load) sees ten
        // 429s in a row about once in 10^14 requests: the budget is spent only by a target
        // that keeps refusing.
        RetryPolicy {
            max_retries: 10,
            max_wait: Duration::from_secs(10),
            budget: Duration::from_secs(60),
        }
    }
}

/// What a run waited for because the target asked it to, or because a list lagged: read by
/// the run's report. Shared by every clone of a [`Client`].
#[derive(Debug, Default)]
pub struct Patience {
    rate_limited: AtomicU64,
    unavailable: AtomicU64,
    waited_us: AtomicU64,
    settled: AtomicU64,
    staleness_ms: AtomicU64,
    settle_waited_us: AtomicU64,
}

/// A copy of [`Patience`]'s figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PatienceFigures {
    /// 429 answers met (each resent).
    pub rate_limited: u64,
    /// 503 answers met and retried.
    pub unavailable: u64,
    /// Time spent waiting before resending them, in milliseconds.
    pub retry_wait_ms: u64,
    /// Walks that disagreed with the model at first and agreed once the list caught up.
    pub lists_settled: u64,
    /// The longest a list was seen not to show a write, in milliseconds: from the write's
    /// answer to the start of the last walk that missed it, among lists that caught up (0
    /// when every list showed every write at once).
    pub max_list_staleness_ms: u64,
    /// Time spent waiting for lists to catch up, in milliseconds.
    pub settle_wait_ms: u64,
}

impl Patience {
    fn waited(&self, d: Duration) {
        self.waited_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Notes a list that agreed with the run's writes only after waiting `waited` for it,
    /// having been seen without a write `staleness` after that write's answer (when the
    /// last walk that missed it started).
    pub fn settled(&self, staleness: Duration, waited: Duration) {
        self.settled.fetch_add(1, Ordering::Relaxed);
        self.staleness_ms
            .fetch_max(staleness.as_millis() as u64, Ordering::Relaxed);
        self.settle_waited_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }

    /// Notes time spent waiting for a list that did not catch up.
    pub fn waited_for_list(&self, waited: Duration) {
        self.settle_waited_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }

    /// The figures so far.
    pub fn figures(&self) -> PatienceFigures {
        PatienceFigures {
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            retry_wait_ms: self.waited_us.load(Ordering::Relaxed) / 1000,
            lists_settled: self.settled.load(Ordering::Relaxed),
            max_list_staleness_ms: self.staleness_ms.load(Ordering::Relaxed),
            settle_wait_ms: self.settle_waited_us.load(Ordering::Relaxed) / 1000,
        }
    }
}

/// What went wrong with a request, by its innermost cause: it says what really happened
/// (refused, TLS, DNS), where reqwest's own message only names the request.
pub fn innermost_cause(e: &reqwest::Error) -> String {
    let mut reason = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        reason = s.to_string();
        src = s.source();
    }
    reason
}

/// The largest response body the client reads (a User page of 1000 users is about 600 KB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The HTTP client of a run.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    creds: Option<Credentials>,
    retry: RetryPolicy,
    timeout: Duration,
    /// The target's origin: the only place requests (and so credentials) go.
    origin: url::Origin,
    scrubber: scrub::Scrubber,
    patience: Arc<Patience>,
}

/// A reqwest client builder with convcheck's TLS: rustls with the ring provider (see
/// `Cargo.toml`), installed as the process default unless the process chose another. Every
/// reqwest client of the process, convcheck's own or a test's, needs a provider installed.
pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

impl Client {
    /// A client for the target at `base_url` with these credentials (none for a target that
    /// needs none). It sends requests only to that URL's origin.
    pub fn new(
        creds: Option<Credentials>,
        base_url: &str,
        timeout: Duration,
    ) -> anyhow::Result<Client> {
        let origin = url::Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("invalid target `{base_url}`: {e}"))?
            .origin();
        if !origin.is_tuple() {
            anyhow::bail!("invalid target `{base_url}`: expected an http or https URL");
        }
        let scrubber = creds
            .as_ref()
            .map(Credentials::scrubber)
            .unwrap_or_default();
        scrub::register(&scrubber);
        let http = http_builder()
            .connect_timeout(Duration::from_secs(10))
            // A kept-alive connection is dropped after 3 s unused, before servers close it
            // (Node's http server closes one idle for 5 s, its default): reusing one just as
            // the server closes it loses the request, and a create cannot be sent again.
            .pool_idle_timeout(Duration::from_secs(3))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("convcheck/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            creds,
            retry: RetryPolicy::default(),
            timeout,
            origin,
            scrubber,
            patience: Arc::default(),
        })
    }

    /// What the run waited for so far (429s, 503s, lists catching up).
    pub fn patience(&self) -> &Patience {
        &self.patience
    }

    /// The target's origin, as `scheme://host:port`.
    pub fn origin(&self) -> String {
        self.origin.ascii_serialization()
    }

    /// Whether `url` is on the target's origin, so the client would send a request there.
    pub fn on_origin(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|u| u.origin() == self.origin)
    }

    /// The account the run authenticates as, when known.
    pub fn account_sid(&self) -> Option<&str> {
        self.creds.as_ref().map(|c| c.account_sid.as_str())
    }

    /// Sends a request and returns the exchange, after resending it while the target
    /// answers 429 or 503 with a wait (bounded by the retry policy).
    ///
    /// A 429 (Twilio's 20429, "Too Many Requests", RFC 6585 section 4) says the request
    /// was not served, so it is resent whatever its method, creates included, and a 429 that
    /// outlasts the budget is [`TransportError::RateLimited`], never an answer to judge. A 503
    /// is resent for GET and DELETE only (a create it answered may have happened), and the
    /// last one is returned when the budget is spent.
    pub async fn send(&self, req: &Request) -> Result<Exchange, TransportError> {
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        let mut reconnected = false;
        loop {
            let ex = match self.send_once(req).await {
                Ok(ex) => ex,
                // A server may close a kept-alive connection at any time (RFC 9112, 9.5); a
                // GET or DELETE whose connection failed is sent once more on a new one, as
                // RFC 9110 (9.2.2) allows for idempotent methods. A create never is.
                Err(TransportError::Other { .. }) if req.retry_safe() && !reconnected => {
                    reconnected = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let limited = ex.status == 429;
            let retry = limited || (ex.status == 503 && req.retry_safe());
            if !retry {
                return Ok(ex);
            }
            if limited {
                self.patience.rate_limited.fetch_add(1, Ordering::Relaxed);
            } else {
                self.patience.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            let wait = retry_after(&ex)
                .unwrap_or(Duration::from_millis(100 << attempt.min(6)))
                .min(self.retry.max_wait);
            if attempt >= self.retry.max_retries || started.elapsed() + wait > self.retry.budget {
                if limited {
                    return Err(TransportError::RateLimited {
                        url: self.scrubber.scrub(&req.url),
                        retries: attempt,
                        waited_ms: waited.as_millis() as u64,
                    });
                }
                return Ok(ex);
            }
            tokio::time::sleep(wait).await;
            self.patience.waited(wait);
            waited += wait;
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Request) -> Result<Exchange, TransportError> {
        if !self.on_origin(&req.url) {
            return Err(TransportError::Foreign {
                url: self.scrubber.scrub(&req.url),
                origin: self.origin(),
            });
        }
        let mut builder = self.http.request(req.method.clone(), &req.url);
        let mut recorded: Vec<(String, String)> = req.headers.clone();
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let mut body = Vec::new();
        if !req.form.is_empty() {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(req.form.iter())
                .finish();
            body = encoded.into_bytes();
            builder = builder
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone());
            recorded.push((
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ));
        }
        let auth = match (&req.auth, &self.creds) {
            (Auth::Default, Some(c)) => Some(c.header()),
            (Auth::WrongSecret, Some(c)) => Some(basic(&c.username, "convcheck-wrong-secret")),
            (Auth::WrongSecret, None) => Some(basic("convcheck", "convcheck-wrong-secret")),
            _ => None,
        };
        if let Some(a) = auth {
            builder = builder.header(reqwest::header::AUTHORIZATION, a);
        }
        let resp = builder
            .send()
            .await
            .map_err(|e| self.classify(&req.url, e))?;
        let status = resp.status().as_u16();
        // Whatever the target echoes of a credential is scrubbed here, before anything else
        // (checks, snapshots, reports) sees the answer.
        let response_headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    self.scrubber.scrub(&String::from_utf8_lossy(v.as_bytes())),
                )
            })
            .collect();
        let mut resp = resp;
        let mut raw = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(&req.url, e))? {
            if raw.len() + chunk.len() > MAX_BODY {
                return Err(TransportError::TooLarge {
                    url: req.url.clone(),
                    limit: MAX_BODY,
                });
            }
            raw.extend_from_slice(&chunk);
        }
        let response_body = self.scrubber.scrub_bytes(&raw);
        Ok(Exchange {
            method: req.method.as_str().to_owned(),
            url: req.url.clone(),
            request_headers: recorded,
            request_body: body,
            status,
            response_headers,
            response_body,
        })
    }

    fn classify(&self, url: &str, e: reqwest::Error) -> TransportError {
        let url = url.to_owned();
        if e.is_timeout() {
            return TransportError::Timeout {
                url,
                secs: self.timeout.as_secs(),
            };
        }
        let reason = innermost_cause(&e);
        if e.is_connect() {
            TransportError::Connect { url, reason }
        } else {
            TransportError::Other { url, reason }
        }
    }
}

/// The wait an answer's `Retry-After` asks for (RFC 9110 section 10.2.3): delay-seconds, or
/// an HTTP date (the wait until then; none when it is past).
fn retry_after(ex: &Exchange) -> Option<Duration> {
    let v = ex.response_header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            username: "AC1".into(),
            secret: Secret::new("hunter2"),
            account_sid: "AC1".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.header(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("AC1:hunter2")
            )
        );
    }

    #[tokio::test]
    async fn connection_refused_is_a_connect_error_without_credentials() {
        // Bind then drop a listener to get a port where nothing listens.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(
            Some(Credentials {
                username: "AC1".into(),
                secret: Secret::new("hunter2"),
                account_sid: "AC1".into(),
            }),
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(5),
        )
        .unwrap();
        let err = c
            .send(&Request::new(
                reqwest::Method::GET,
                format!("http://127.0.0.1:{port}/v1/Users"),
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
        assert!(!err.to_string().contains("hunter2"));
    }

    /// A loopback server that answers `first` to the first request and 200 afterwards,
    /// counting requests.
    async fn flaky(first: u16) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let status = if n == 0 { first } else { 200 };
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("retry-after", "0")],
                    "{}",
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/v1/Users"), hits)
    }

    #[tokio::test]
    async fn a_429_is_resent_on_every_method_a_503_never_for_a_create() {
        use std::sync::atomic::Ordering;
        for status in [429, 503] {
            for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
                let (url, hits) = flaky(status).await;
                let client = Client::new(None, &url, Duration::from_secs(5)).unwrap();
                let ex = client
                    .send(&Request::new(method.clone(), url))
                    .await
                    .unwrap();
                assert_eq!(ex.status, 200, "{method} after {status}");
                assert_eq!(hits.load(Ordering::SeqCst), 2, "{method} after {status}");
            }
            let (url, hits) = flaky(status).await;
            let client = Client::new(None, &url, Duration::from_secs(5)).unwrap();
            let ex = client
                .send(&Request::new(reqwest::Method::POST, url).param("Identity", "x"))
                .await
                .unwrap();
            let figures = client.patience().figures();
            if status == 429 {
                // A 429 says the request was not served: a create is sent again.
                assert_eq!(ex.status, 200);
                assert_eq!(hits.load(Ordering::SeqCst), 2);
                assert_eq!(figures.rate_limited, 1);
            } else {
                assert_eq!(ex.status, 503, "a create is never resent after a 503");
                assert_eq!(hits.load(Ordering::SeqCst), 1);
                assert_eq!(figures.rate_limited, 0);
            }
        }
    }

    #[tokio::test]
    async fn a_429_that_outlasts_the_budget_is_a_transport_error() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let always = axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0")],
                    "{}",
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, always).await });
        let client = Client::new(None, &format!("http://{addr}"), Duration::from_secs(5)).unwrap();
        let err = client
            .send(&Request::new(
                reqwest::Method::POST,
                format!("http://{addr}/v1/Users"),
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::RateLimited { .. }),
            "never an answer to judge: {err:?}"
        );
        assert!(err.to_string().contains("429"), "{err}");
        let max = RetryPolicy::default().max_retries as usize;
        assert_eq!(hits.load(Ordering::SeqCst), 1 + max);
        assert_eq!(client.patience().figures().rate_limited, 1 + max as u64);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let ex = |v: &str| Exchange {
            method: "GET".into(),
            url: "http://h/v1/Users".into(),
            request_headers: Vec::new(),
            request_body: Vec::new(),
            status: 429,
            response_headers: vec![("retry-after".into(), v.into())],
            response_body: Vec::new(),
        };
        assert_eq!(retry_after(&ex("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&ex(" 0 ")), Some(Duration::ZERO));
        // A date in the past asks for no wait; a date ahead for the time until then.
        assert_eq!(
            retry_after(&ex("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        let ahead = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&ex(&ahead)).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(retry_after(&ex("soon")), None);
    }

    #[tokio::test]
    async fn nothing_is_sent_off_the_target_origin() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "{}" }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let creds = Some(Credentials {
            username: "AC1".into(),
            secret: Secret::new("hunter2-secret"),
            account_sid: "AC1".into(),
        });
        // The same host on another port, another scheme, another host name: all elsewhere.
        let client = Client::new(creds, "http://127.0.0.1:1", Duration::from_secs(5)).unwrap();
        for url in [
            format!("http://{addr}/v1/Users"),
            "https://127.0.0.1:1/v1/Users".to_owned(),
            "http://localhost:1/v1/Users".to_owned(),
        ] {
            let err = client
                .send(&Request::new(reqwest::Method::GET, url.clone()))
                .await
                .unwrap_err();
            assert!(
                matches!(err, TransportError::Foreign { .. }),
                "{url}: {err:?}"
            );
            assert!(err.to_string().contains("http://127.0.0.1:1"), "{err}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no request left");
        assert!(client.on_origin("http://127.0.0.1:1/v1/Users?PageToken=x"));
    }

    #[tokio::test]
    async fn an_echoed_credential_is_scrubbed_from_the_answer() {
        let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (
                [("x-echo", auth.clone())],
                format!("{{\"echo\": \"{auth}\", \"token\": \"hunter2-secret\"}}"),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let creds = Credentials {
            username: "AC1".into(),
            secret: Secret::new("hunter2-secret"),
            account_sid: "AC1".into(),
        };
        let scrubber = creds.scrubber();
        let base = format!("http://{addr}");
        let client = Client::new(Some(creds), &base, Duration::from_secs(5)).unwrap();
        let ex = client
            .send(&Request::new(
                reqwest::Method::GET,
                format!("{base}/v1/Users"),
            ))
            .await
            .unwrap();
        let body = String::from_utf8(ex.response_body.clone()).unwrap();
        assert!(!scrubber.finds(&body), "{body}");
        assert!(!scrubber.finds(ex.response_header("x-echo").unwrap()));
        let v: serde_json::Value = serde_json::from_str(&body).expect("still JSON");
        assert_eq!(v["token"], scrub::MARK);
    }
}
