//! `convcheck clauses`: the documentation's normative clauses and the checks enforcing them.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::spec::catalogue;

/// Output format of the clause table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClausesFormat {
    /// A Markdown table: clause, source, quote, checks.
    Markdown,
    /// JSON: `{clauses, checks}`.
    Json,
}

/// Options of `convcheck clauses`.
#[derive(Debug, Args)]
pub struct ClausesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: ClausesFormat,
}

impl ClausesArgs {
    /// Prints the table.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        let cat = catalogue();
        match self.format {
            ClausesFormat::Markdown => print!("{}", cat.clauses_markdown()),
            ClausesFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"clauses": cat.clauses, "checks": cat.checks})
                )?
            ),
        }
        Ok(ExitCode::SUCCESS)
    }
}
