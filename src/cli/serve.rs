//! `convcheck serve`, `convcheck faults` and `convcheck freedoms`: the reference emulator on
//! the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::emulator::{self, Config, Fault, ServiceConfig};
use crate::spec::Edition;

/// Options of `convcheck serve`, boxed so the subcommand enum stays small.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub options: Box<ServeOptions>,
}

/// The options themselves.
#[derive(Debug, Args)]
pub struct ServeOptions {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4010)]
    pub port: u16,
    /// Account SID accepted as user name [env: TWILIO_ACCOUNT_SID] [default: the emulator's own].
    #[arg(long, value_name = "AC…")]
    pub account_sid: Option<String>,
    /// Auth token of the account [env: TWILIO_AUTH_TOKEN] [default: the emulator's own].
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,
    /// API key SID accepted as user name [env: TWILIO_API_KEY] [default: the emulator's own].
    #[arg(long, value_name = "SK…")]
    pub api_key: Option<String>,
    /// Secret of the API key [env: TWILIO_API_SECRET] [default: the emulator's own].
    #[arg(long, value_name = "SECRET")]
    pub api_secret: Option<String>,
    /// SID of the default Conversation Service (the shortened `/v1/Users` form).
    #[arg(long, value_name = "IS…", default_value = emulator::DEFAULT_SERVICE_SID)]
    pub default_service: String,
    /// SID of the second Conversation Service.
    #[arg(long, value_name = "IS…", default_value = emulator::SECOND_SERVICE_SID)]
    pub service: String,
    /// Which PageSize bounds apply: `docs` (1..1000) or `oai-2025` (1..50).
    #[arg(long, default_value = "docs")]
    pub edition: Edition,
    /// Show `is_online` / `is_notifiable` in Fetch once set through the presence route.
    #[arg(long)]
    pub reachability: bool,
    /// Delay every response by this many milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Switch on a named defect (repeatable; `convcheck faults` lists them).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Switch on a legitimate variation (repeatable; `all` for every one; `convcheck
    /// freedoms` lists them).
    #[arg(long = "freedom", value_name = "NAME")]
    pub freedoms: Vec<String>,
    /// Keep the users in this SQLite database across restarts (created when missing). Every
    /// change is committed before it is answered; a file that cannot be written, or is not a
    /// valid state, is refused at start.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Close a connection whose request head (or body) takes longer than this to arrive.
    #[arg(long, value_name = "MS", default_value_t = duration_ms(emulator::DEFAULT_HEADER_TIMEOUT))]
    pub header_timeout_ms: u64,
    /// Close a keep-alive connection idle for longer than this.
    #[arg(long, value_name = "MS", default_value_t = duration_ms(emulator::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout_ms: u64,
    /// Serve at most this many connections at once; one more gets a 503 and is closed.
    #[arg(long, value_name = "N", default_value_t = emulator::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Say on stderr, for every connection, why it ended (the client closed it, idle, no
    /// request head in time, an answer that closed it, the server stopping).
    #[arg(long)]
    pub log_connections: bool,
}

const fn duration_ms(d: Duration) -> u64 {
    d.as_secs() * 1000 + d.subsec_millis() as u64
}

/// A secret's value and how to show it: fixed defaults may be printed, supplied ones not.
struct Secret {
    value: String,
    shown: String,
}

fn secret(flag: Option<String>, flag_name: &str, env: &str, default: &str) -> Secret {
    if let Some(value) = flag {
        return Secret {
            value,
            shown: format!("(from {flag_name})"),
        };
    }
    match std::env::var(env) {
        Ok(value) if !value.is_empty() => Secret {
            value,
            shown: format!("(from {env})"),
        },
        _ => Secret {
            value: default.to_owned(),
            shown: default.to_owned(),
        },
    }
}

fn plain(flag: Option<String>, env: &str, default: &str) -> String {
    flag.or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_owned())
}

impl ServeArgs {
    /// Runs the emulator until SIGINT or SIGTERM, then shuts down gracefully and saves.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        self.options.exec()
    }
}

impl ServeOptions {
    /// Builds the emulator configuration, with the texts to print for the secrets.
    fn config(self) -> anyhow::Result<(Config, String, String)> {
        let faults = self
            .faults
            .iter()
            .map(|f| f.parse::<Fault>().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let freedoms = emulator::freedoms::parse_all(&self.freedoms).map_err(anyhow::Error::msg)?;
        let token = secret(
            self.auth_token,
            "--auth-token",
            "TWILIO_AUTH_TOKEN",
            emulator::DEFAULT_AUTH_TOKEN,
        );
        let api_secret = secret(
            self.api_secret,
            "--api-secret",
            "TWILIO_API_SECRET",
            emulator::DEFAULT_API_SECRET,
        );
        let config = Config {
            host: self.host,
            port: self.port,
            account_sid: plain(
                self.account_sid,
                "TWILIO_ACCOUNT_SID",
                emulator::DEFAULT_ACCOUNT_SID,
            ),
            auth_token: token.value,
            api_key: plain(self.api_key, "TWILIO_API_KEY", emulator::DEFAULT_API_KEY),
            api_secret: api_secret.value,
            services: vec![
                ServiceConfig::derived(&self.default_service)?,
                ServiceConfig::derived(&self.service)?,
            ],
            edition: self.edition,
            reachability: self.reachability,
            latency: Duration::from_millis(self.latency_ms),
            faults,
            freedoms,
            state_file: self.state,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_connections: self.max_connections,
            log_connections: self.log_connections,
        };
        config.validate()?;
        Ok((config, token.shown, api_secret.shown))
    }

    /// Runs the emulator until SIGINT or SIGTERM, then shuts down gracefully and saves.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        let (config, token, api_secret) = self.config()?;
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(async move {
            let running = emulator::spawn(config).await?;
            // Listen before the banner says the emulator is up, so a SIGTERM sent right after
            // the banner still stops it cleanly.
            let signals = Signals::listen()?;
            print_banner(&running, &token, &api_secret);
            signals.wait().await;
            println!("convcheck emulator: shutting down");
            running.shutdown().await?;
            Ok(ExitCode::from(crate::cli::exit::OK))
        })
    }
}

fn print_banner(running: &emulator::Running, token: &str, api_secret: &str) {
    let c = running.config();
    let bounds = c.edition.page_size();
    let mut lines = vec![
        format!("convcheck emulator listening on {}", running.base_url()),
        format!("  account sid      {}", c.account_sid),
        format!("  auth token       {token}"),
        format!("  api key          {}", c.api_key),
        format!("  api secret       {api_secret}"),
    ];
    for (i, s) in c.services.iter().enumerate() {
        let label = if i == 0 {
            "default service"
        } else {
            "service        "
        };
        lines.push(format!(
            "  {label}  {}  default role {}  second role {}",
            s.sid, s.default_role_sid, s.second_role_sid
        ));
    }
    let faults: Vec<&str> = c.faults.iter().map(|f| f.name()).collect();
    let freedoms: Vec<&str> = c.freedoms.iter().map(|f| f.name()).collect();
    lines.extend([
        format!(
            "  edition          {} (PageSize {}..{}, default {})",
            c.edition, bounds.min, bounds.max, bounds.default
        ),
        format!(
            "  reachability     {}",
            if c.reachability { "on" } else { "off" }
        ),
        format!("  latency          {} ms", c.latency.as_millis()),
        format!(
            "  faults           {}",
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            }
        ),
        format!(
            "  freedoms         {}",
            if freedoms.is_empty() {
                "none".to_owned()
            } else {
                freedoms.join(", ")
            }
        ),
        format!(
            "  state file       {}",
            c.state_file
                .as_ref()
                .map_or("none".to_owned(), |p| p.display().to_string())
        ),
        format!(
            "  connections      at most {}, head within {} ms, idle for {} ms",
            c.max_connections,
            c.header_timeout.as_millis(),
            c.idle_timeout.as_millis()
        ),
    ]);
    println!("{}", lines.join("\n"));
}

/// SIGINT and SIGTERM, listened for from creation on.
#[cfg(unix)]
pub(super) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    pub(super) fn listen() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    pub(super) async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Ctrl-C, listened for from creation on.
#[cfg(not(unix))]
pub(super) struct Signals(tokio::signal::windows::CtrlC);

#[cfg(not(unix))]
impl Signals {
    pub(super) fn listen() -> anyhow::Result<Signals> {
        Ok(Signals(
            tokio::signal::windows::ctrl_c().context("cannot listen for ctrl-c")?,
        ))
    }

    pub(super) async fn wait(mut self) {
        self.0.recv().await;
    }
}

/// How `faults` and `freedoms` print their lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One aligned line each: name, category, description.
    Text,
    /// A JSON array of `{name, category, description}`.
    Json,
}

/// Options of `convcheck faults`.
#[derive(Debug, Args)]
pub struct FaultsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

impl FaultsArgs {
    /// Prints the fault list: `name  area  description`, one line each, or as JSON (the area
    /// is the `category`).
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        match self.format {
            ListFormat::Text => print!("{}", emulator::faults::listing()),
            ListFormat::Json => print_json(
                emulator::faults::Fault::ALL
                    .iter()
                    .map(|f| (f.name(), f.area(), f.description())),
            )?,
        }
        Ok(ExitCode::from(crate::cli::exit::OK))
    }
}

/// Options of `convcheck freedoms`.
#[derive(Debug, Args)]
pub struct FreedomsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ListFormat,
}

impl FreedomsArgs {
    /// Prints the freedom list: `name  category  description`, one line each, or as JSON.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        match self.format {
            ListFormat::Text => print!("{}", emulator::freedoms::listing()),
            ListFormat::Json => print_json(
                emulator::Freedom::ALL
                    .iter()
                    .map(|f| (f.name(), f.category(), f.description())),
            )?,
        }
        Ok(ExitCode::from(crate::cli::exit::OK))
    }
}

/// Prints `[{name, category, description}]`, pretty.
fn print_json<'a>(items: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> anyhow::Result<()> {
    let list: Vec<serde_json::Value> = items
        .map(|(name, category, description)| {
            serde_json::json!({"name": name, "category": category, "description": description})
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn serve(args: &[&str]) -> ServeOptions {
        let mut argv = vec!["convcheck", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => *a.options,
            other => unreachable!("parsed `serve`, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fault_is_one_line_naming_the_listing() {
        let Err(e) = serve(&["--fault", "nope"]).config() else {
            panic!("an unknown fault must be refused");
        };
        let text = crate::cli::exit::one_line(&e);
        assert!(
            text.contains("`convcheck faults`") && !text.contains('\n'),
            "{text}"
        );
    }

    #[test]
    fn supplied_token_is_never_shown() {
        let (config, token, secret) = serve(&["--auth-token", "s3cret", "--fault", "create-200"])
            .config()
            .unwrap();
        assert_eq!(config.auth_token, "s3cret");
        assert_eq!(token, "(from --auth-token)");
        assert_eq!(config.faults, vec![Fault::Create200]);
        assert!(!secret.is_empty());
    }

    #[test]
    fn freedoms_parse_by_name_or_all() {
        let (config, _, _) = serve(&["--freedom", "gzip", "--freedom", "chunked"])
            .config()
            .unwrap();
        assert_eq!(
            config.freedoms,
            vec![emulator::Freedom::Chunked, emulator::Freedom::Gzip]
        );
        let (config, _, _) = serve(&["--freedom", "all"]).config().unwrap();
        assert_eq!(config.freedoms, emulator::Freedom::ALL.to_vec());
        let Err(e) = serve(&["--freedom", "create-200"]).config() else {
            panic!("a fault is not a freedom");
        };
        assert!(e.to_string().contains("`convcheck freedoms`"), "{e}");
    }

    #[test]
    fn bad_service_sid_is_refused() {
        assert!(serve(&["--service", "IS12"]).config().is_err());
        assert!(
            serve(&["--service", emulator::DEFAULT_SERVICE_SID])
                .config()
                .is_err()
        );
    }
}
