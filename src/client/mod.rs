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

    /// Whether sending it twice is harmless. A create is never resent: a lost answer to a
    /// create that did happen would otherwise make a duplicate the run does not know of.
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
        RetryPolicy {
            max_retries: 3,
            max_wait: Duration::from_secs(10),
            budget: Duration::from_secs(30),
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
            // A kept-alive connection is dropped after 30 s unused, before servers with an
            // idle timeout of 30 s or more close it: reusing one just as the server closes it
            // loses the request.
            .pool_idle_timeout(Duration::from_secs(30))
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
        })
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

    /// Sends a request, retrying 429 and 503 where that is safe, and returns the exchange.
    pub async fn send(&self, req: &Request) -> Result<Exchange, TransportError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let ex = self.send_once(req).await?;
            let again = matches!(ex.status, 429 | 503)
                && req.retry_safe()
                && attempt < self.retry.max_retries;
            if !again {
                return Ok(ex);
            }
            let wait = ex
                .response_header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_millis(500 << attempt))
                .min(self.retry.max_wait);
            if started.elapsed() + wait > self.retry.budget {
                return Ok(ex);
            }
            tokio::time::sleep(wait).await;
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
    async fn reads_and_deletes_retry_429_and_503_creates_never() {
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
            assert_eq!(ex.status, status, "a create is never resent");
            assert_eq!(hits.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn retries_are_bounded() {
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
        let ex = client
            .send(&Request::new(
                reqwest::Method::GET,
                format!("http://{addr}/v1/Users"),
            ))
            .await
            .unwrap();
        assert_eq!(ex.status, 429, "gives up and returns the last answer");
        let max = RetryPolicy::default().max_retries as usize;
        assert_eq!(hits.load(Ordering::SeqCst), 1 + max);
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
