//! `convcheck serve` and `convcheck faults`: the reference emulator on the command line.

use std::process::ExitCode;

use clap::Args;

/// Options of `convcheck serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4010)]
    pub port: u16,
}

impl ServeArgs {
    /// Runs the emulator until interrupted.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("the emulator is not built yet")
    }
}

/// Options of `convcheck faults`.
#[derive(Debug, Args)]
pub struct FaultsArgs {}

impl FaultsArgs {
    /// Prints the fault list.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("the emulator is not built yet")
    }
}
