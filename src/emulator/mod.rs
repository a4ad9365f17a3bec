//! The reference emulator of the Conversations User resource: a stateful server that follows
//! the contract in `specs/`, unless named faults (see [`faults`]) are switched on.
//!
//! Entry points: [`app`] builds the axum router around an [`AppState`] (tests drive it with
//! `tower::ServiceExt::oneshot`), and [`spawn`] serves it on a real socket for the runner, the
//! helper-library scripts and `convcheck serve`.
//!
//! Routes (both URL forms of the documentation, plus one emulator-only control route):
//! - `GET|POST /v1/Users`, `GET|POST|DELETE /v1/Users/{Sid}` on the default service,
//! - the same under `/v1/Services/{ChatServiceSid}/Users`,
//! - `GET /v1/[Services/{ChatServiceSid}/]Users/{Sid}/Conversations`: the user's
//!   conversations, always an empty page (see [`links`]),
//! - `GET /v1/Configuration`: the Conversations Configuration, naming the default service,
//! - `POST /_emulator/Services/{ChatServiceSid}/Users/{Sid}/Presence` (and
//!   `/_emulator/Users/{Sid}/Presence` for the default service) with form fields
//!   `Online=true|false` and `Notifiable=true|false`: marks a user online or notifiable, which
//!   Fetch shows only when reachability is on. It takes the same credentials as the API.

pub mod error;
pub mod faults;
pub mod freedoms;
mod http;
mod links;
mod render;
mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, Faults};
pub use freedoms::{Freedom, Freedoms};
pub use http::BODY_LIMIT;

use crate::spec::Edition;
use crate::spec::sid::SidKind;
use store::Store;

/// The account of the default [`Config`].
pub const DEFAULT_ACCOUNT_SID: &str = "ACc0ffee00c0ffee00c0ffee00c0ffee00";
/// The auth token of the default [`Config`]: a fixed local value, safe to print.
pub const DEFAULT_AUTH_TOKEN: &str = "convcheck-emulator-auth-token";
/// The API key of the default [`Config`].
pub const DEFAULT_API_KEY: &str = "SKc0ffee00c0ffee00c0ffee00c0ffee01";
/// The API key secret of the default [`Config`]: a fixed local value, safe to print.
pub const DEFAULT_API_SECRET: &str = "convcheck-emulator-api-secret";
/// The default Conversation Service of the default [`Config`] (the shortened URL form).
pub const DEFAULT_SERVICE_SID: &str = "IS00000000000000000000000000000001";
/// The second service of the default [`Config`].
pub const SECOND_SERVICE_SID: &str = "IS00000000000000000000000000000002";
/// How long a request head (and then its body) may take to arrive, by default.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection stays open, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How many connections may be open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The most connections [`Config::max_connections`] may allow.
pub const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

/// One Conversation Service and its two roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `IS…`.
    pub sid: String,
    /// The role a created user gets when Create names none.
    pub default_role_sid: String,
    /// A second role, to assign with `RoleSid`.
    pub second_role_sid: String,
}

impl ServiceConfig {
    /// A service whose roles are derived from its SID: the 32 hex digits shifted one digit
    /// left, ending in `1` for the default role and `2` for the second, so
    /// `IS…0001` has `RL…0011` and `RL…0012`. Deterministic, so restarts keep them.
    pub fn derived(sid: &str) -> anyhow::Result<ServiceConfig> {
        anyhow::ensure!(
            SidKind::Service.matches(sid),
            "invalid service sid `{sid}`: expected `{}`",
            SidKind::Service.pattern()
        );
        let n = u128::from_str_radix(&sid[2..], 16)
            .with_context(|| format!("invalid service sid `{sid}`"))?;
        Ok(ServiceConfig {
            sid: sid.to_owned(),
            default_role_sid: SidKind::Role.from_u128((n << 4) | 1),
            second_role_sid: SidKind::Role.from_u128((n << 4) | 2),
        })
    }

    /// Whether `role` is one of this service's roles.
    pub fn has_role(&self, role: &str) -> bool {
        role == self.default_role_sid || role == self.second_role_sid
    }
}

/// Everything the emulator can be told. [`Config::default`] is the documented fixed setup:
/// account [`DEFAULT_ACCOUNT_SID`] with token [`DEFAULT_AUTH_TOKEN`], API key
/// [`DEFAULT_API_KEY`] with secret [`DEFAULT_API_SECRET`], services [`DEFAULT_SERVICE_SID`]
/// (roles `RL…0011`, `RL…0012`) and [`SECOND_SERVICE_SID`] (roles `RL…0021`, `RL…0022`),
/// edition `docs`, no reachability, no latency, no fault, no state file, `127.0.0.1:0`,
/// [`DEFAULT_HEADER_TIMEOUT`], [`DEFAULT_IDLE_TIMEOUT`] and [`DEFAULT_MAX_CONNECTIONS`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub host: String,
    /// Port to bind (0 picks a free one).
    pub port: u16,
    /// The account whose credentials are accepted.
    pub account_sid: String,
    /// The account's auth token.
    pub auth_token: String,
    /// An API key (`SK…`) accepted as user name.
    pub api_key: String,
    /// The API key's secret.
    pub api_secret: String,
    /// The services; the first is the default one, served by the shortened URL form.
    pub services: Vec<ServiceConfig>,
    /// Which PageSize bounds apply.
    pub edition: Edition,
    /// Whether Fetch shows `is_online` / `is_notifiable` set through the presence route.
    pub reachability: bool,
    /// Delay added to every response.
    pub latency: Duration,
    /// Defects switched on.
    pub faults: Vec<Fault>,
    /// Legitimate variations switched on.
    pub freedoms: Vec<Freedom>,
    /// The SQLite database where the users are kept across restarts.
    pub state_file: Option<PathBuf>,
    /// How long a request head may take to arrive (from the connection's start or the first
    /// byte after an idle spell), and then its body.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// How many connections may be open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Whether every connection says on stderr why it ended (`serve --log-connections`).
    pub log_connections: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_owned(),
            port: 0,
            account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
            auth_token: DEFAULT_AUTH_TOKEN.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            api_secret: DEFAULT_API_SECRET.to_owned(),
            services: [DEFAULT_SERVICE_SID, SECOND_SERVICE_SID]
                .into_iter()
                .map(|s| ServiceConfig::derived(s).expect("the default service sids are valid"))
                .collect(),
            edition: Edition::default(),
            reachability: false,
            latency: Duration::ZERO,
            faults: Vec::new(),
            freedoms: Vec::new(),
            state_file: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            log_connections: false,
        }
    }
}

impl Config {
    /// The default service (shortened URL form).
    pub fn default_service(&self) -> &ServiceConfig {
        &self.services[0]
    }

    /// The service with this SID.
    pub fn service(&self, sid: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.sid == sid)
    }

    /// Refuses configurations the emulator cannot serve.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.services.is_empty(), "at least one service is needed");
        for (i, s) in self.services.iter().enumerate() {
            for (kind, v) in [
                (SidKind::Service, &s.sid),
                (SidKind::Role, &s.default_role_sid),
                (SidKind::Role, &s.second_role_sid),
            ] {
                anyhow::ensure!(
                    kind.matches(v),
                    "invalid sid `{v}`: expected `{}`",
                    kind.pattern()
                );
            }
            anyhow::ensure!(
                self.services[..i].iter().all(|o| o.sid != s.sid),
                "service `{}` is configured twice",
                s.sid
            );
        }
        anyhow::ensure!(
            SidKind::Account.matches(&self.account_sid),
            "invalid account sid `{}`: expected `{}`",
            self.account_sid,
            SidKind::Account.pattern()
        );
        anyhow::ensure!(
            SidKind::ApiKey.matches(&self.api_key),
            "invalid api key `{}`: expected `{}`",
            self.api_key,
            SidKind::ApiKey.pattern()
        );
        anyhow::ensure!(
            !self.auth_token.is_empty() && !self.api_secret.is_empty(),
            "the auth token and the api secret must not be empty"
        );
        anyhow::ensure!(
            !self.header_timeout.is_zero() && !self.idle_timeout.is_zero(),
            "the header and idle timeouts must be longer than zero"
        );
        anyhow::ensure!(
            (1..=MAX_CONNECTIONS_LIMIT).contains(&self.max_connections),
            "invalid connection cap `{}`: expected 1 to {MAX_CONNECTIONS_LIMIT}",
            self.max_connections
        );
        Ok(())
    }
}

/// Another role sid, for the `other-default-role` freedom: the top hex digit flipped, so it
/// differs from both derived roles of any service.
fn other_role(sid: &str) -> String {
    let n = u128::from_str_radix(&sid[2..], 16).unwrap_or(0);
    SidKind::Role.from_u128(n ^ (0xd << 124))
}

/// What every request shares: the configuration and the store.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    faults: Faults,
    freedoms: Freedoms,
    store: Arc<Store>,
    /// `http://addr` of the bound socket, for requests without a usable Host header.
    fallback_base: RwLock<String>,
}

impl AppState {
    /// Validates `config` and opens the store: the state database when there is one, which
    /// must be writable and valid (see [`store`]), or memory only.
    pub fn new(mut config: Config) -> anyhow::Result<AppState> {
        config.validate()?;
        if config.freedoms.contains(&Freedom::OtherDefaultRole) {
            for s in &mut config.services {
                s.default_role_sid = other_role(&s.default_role_sid);
            }
        }
        if config.freedoms.contains(&Freedom::SharedDefaultRole)
            && let Some(first) = config.services.first().map(|s| s.default_role_sid.clone())
        {
            for s in &mut config.services {
                s.default_role_sid.clone_from(&first);
            }
        }
        let store = match &config.state_file {
            Some(path) => {
                let any_service = config.faults.contains(&Fault::UnknownServiceAccepted);
                Store::open(path, &|sid| any_service || config.service(sid).is_some())?
            }
            None => Store::in_memory(),
        };
        let fallback = format!("http://{}:{}", config.host, config.port);
        Ok(AppState {
            shared: Arc::new(Shared {
                faults: config.faults.iter().copied().collect(),
                freedoms: config.freedoms.iter().copied().collect(),
                store: Arc::new(store),
                fallback_base: RwLock::new(fallback),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The faults switched on.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The freedoms switched on.
    pub fn freedoms(&self) -> &Freedoms {
        &self.shared.freedoms
    }

    fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    fn fallback_base(&self) -> String {
        self.shared
            .fallback_base
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_fallback_base(&self, base: String) {
        *self
            .shared
            .fallback_base
            .write()
            .unwrap_or_else(|e| e.into_inner()) = base;
    }
}

/// The emulator as an axum router. Routing is done by hand on the raw path, so a `{Sid}`
/// segment is percent-decoded exactly once and unknown routes get Twilio's error body.
///
/// URLs in answers use the request's Host header; without a usable one they use
/// `http://{host}:{port}` of the [`Config`], replaced by the bound address under [`spawn`].
pub fn app(state: AppState) -> axum::Router {
    let gzip = state.freedoms().has(Freedom::Gzip);
    let router = axum::Router::new()
        .fallback(http::dispatch)
        .with_state(state);
    if gzip {
        // Only when the request says `Accept-Encoding: gzip`, as the layer decides. At the
        // fastest level: the freedom is the encoding, not the ratio, and the default level
        // was a tenth of the CPU of a generated run with every freedom on.
        router.layer(
            tower_http::compression::CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest),
        )
    } else {
        router
    }
}

/// A running emulator on a real socket.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Binds `config.host:config.port` and serves the emulator in a tokio task.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    let state = AppState::new(config)?;
    let (host, port) = (state.config().host.clone(), state.config().port);
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on `{host}:{port}`"))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    state.set_fallback_base(format!("http://{addr}"));
    let (stop, stopped) = oneshot::channel::<()>();
    let c = state.config();
    let limits = server::Limits {
        header_timeout: c.header_timeout,
        idle_timeout: c.idle_timeout,
        max_connections: c.max_connections,
        log_connections: c.log_connections,
    };
    let task = tokio::spawn(server::serve(listener, app(state.clone()), limits, stopped));
    Ok(Running {
        addr,
        state,
        stop: Some(stop),
        task,
    })
}

impl Running {
    /// `http://host:port` of the bound socket.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration (credentials, services, roles).
    pub fn config(&self) -> &Config {
        self.state.config()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets open requests finish (at most 10 s), then folds the state
    /// database's WAL into its file. Every change was committed when it was answered, so
    /// nothing is left to save.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(joined) => joined.context("the server task failed")?,
            Err(_) => self.task.abort(),
        }
        let store = Arc::clone(self.state.store());
        tokio::task::spawn_blocking(move || store.checkpoint())
            .await
            .context("the state checkpoint stopped")?
    }
}

impl Drop for Running {
    /// A `Running` dropped without [`Running::shutdown`] still stops serving.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_documented() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.services.len(), 2);
        assert_eq!(
            c.default_service().default_role_sid,
            "RL00000000000000000000000000000011"
        );
        assert_eq!(
            c.services[1].second_role_sid,
            "RL00000000000000000000000000000022"
        );
    }

    #[test]
    fn invalid_service_sid_is_refused() {
        let e = ServiceConfig::derived("IS12").unwrap_err().to_string();
        assert!(e.contains("`IS12`"), "{e}");
    }
}
