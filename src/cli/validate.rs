//! `convcheck validate`: checks recorded JSON offline and prints the findings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::exit;
use crate::check::{self, Context, Finding};
use crate::report::diagnostic;
use crate::spec::{Doc, Edition, Operation, Severity};

/// What the files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocArg {
    /// One User resource.
    User,
    /// A page of Users (the Read envelope).
    UsersPage,
    /// A Twilio error body.
    Error,
}

/// The operation that produced a User body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OperationArg {
    /// Create (`POST /Users`).
    Create,
    /// Fetch (`GET /Users/{Sid}`).
    Fetch,
    /// Update (`POST /Users/{Sid}`).
    Update,
}

/// How to print the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Diagnostics for people.
    Text,
    /// One JSON document: `[{file, findings}]`.
    Json,
}

/// Options of `convcheck validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// What the files hold.
    #[arg(long = "as", value_enum)]
    pub doc: DocArg,
    /// The operation that produced a User body; enables the rules that depend on it
    /// (for example `is_online` is null outside Fetch).
    #[arg(long, value_enum)]
    pub operation: Option<OperationArg>,
    /// The contract edition (PageSize bounds and default).
    #[arg(long, default_value = "docs", value_parser = parse_edition)]
    pub edition: Edition,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
    /// The JSON files to check; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Parses `--edition` with the contract's own names.
pub fn parse_edition(s: &str) -> Result<Edition, String> {
    s.parse()
}

impl ValidateArgs {
    /// Checks every file; bad input is reported per file and wins the exit code.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        if self.operation.is_some() && self.doc != DocArg::User {
            anyhow::bail!("`--operation` applies to `--as user` only");
        }
        let mut bad_input = false;
        let mut results = Vec::new();
        for file in &self.files {
            match check_file(file, self.doc, self.operation, self.edition) {
                Ok(findings) => results.push((file, findings)),
                Err(e) => {
                    eprintln!("error: {e}");
                    bad_input = true;
                }
            }
        }
        let total: usize = results.iter().map(|(_, f)| f.len()).sum();
        let must: usize = results
            .iter()
            .flat_map(|(_, f)| f)
            .filter(|f| f.severity == Severity::Must)
            .count();
        match self.format {
            FormatArg::Text => {
                for (file, findings) in &results {
                    let name = file.display().to_string();
                    for f in findings {
                        println!("{}", diagnostic::render(f, &name));
                    }
                    let m = findings
                        .iter()
                        .filter(|f| f.severity == Severity::Must)
                        .count();
                    println!("{name}: {}", diagnostic::count(findings.len(), m));
                }
                if results.len() > 1 {
                    println!(
                        "{} files checked: {}",
                        results.len(),
                        diagnostic::count(total, must)
                    );
                }
            }
            FormatArg::Json => {
                let out: Vec<Value> = results
                    .iter()
                    .map(|(file, findings)| {
                        serde_json::json!({"file": file.display().to_string(), "findings": findings})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
        }
        Ok(ExitCode::from(if bad_input {
            exit::USAGE
        } else if total > 0 {
            exit::FINDINGS
        } else {
            exit::OK
        }))
    }
}

/// Reads, parses and checks one file. `Err` is bad input, a one-line message.
pub fn check_file(
    file: &std::path::Path,
    doc: DocArg,
    operation: Option<OperationArg>,
    edition: Edition,
) -> Result<Vec<Finding>, String> {
    let bytes = if file.as_os_str() == "-" {
        super::read_stdin()?
    } else {
        super::read_input(file, "")?
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "`{}` is not JSON: {e}; pass a file holding one JSON document",
            file.display()
        )
    })?;
    Ok(check_value(&value, doc, operation, edition))
}

/// Checks one parsed document.
pub fn check_value(
    value: &Value,
    doc: DocArg,
    operation: Option<OperationArg>,
    edition: Edition,
) -> Vec<Finding> {
    let ctx = Context {
        edition,
        operation: match (doc, operation) {
            (DocArg::UsersPage, _) => Some(Operation::Read),
            (_, Some(OperationArg::Create)) => Some(Operation::Create),
            (_, Some(OperationArg::Fetch)) => Some(Operation::Fetch),
            (_, Some(OperationArg::Update)) => Some(Operation::Update),
            (_, None) => None,
        },
        ..Context::default()
    };
    match doc {
        DocArg::User => check::user_body(value, &ctx),
        DocArg::UsersPage => check::page_body(value, &ctx, None),
        DocArg::Error => check::error_body(value, None),
    }
}

impl DocArg {
    /// The schema document this stands for.
    pub fn doc(self) -> Doc {
        match self {
            DocArg::User => Doc::User,
            DocArg::UsersPage => Doc::UsersPage,
            DocArg::Error => Doc::Error,
        }
    }
}
