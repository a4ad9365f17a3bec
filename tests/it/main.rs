//! The integration tests, one binary with a module per area (one link instead of one per
//! file). Run one area with its module path: `cargo test --test it matrix::`.
//!
//! The data-driven command-line cases (`tests/cases/`) have their own harness in
//! `tests/cases.rs`; the scripts in other languages (the official helper libraries, Prism,
//! the independent and permissive servers, the reports' consumers, the Action) sit apart
//! under `tests/` and run from `scripts/test`.

mod cli;
mod common;
mod configuration;
mod contract;
mod emulator;
mod emulator_state;
mod generation;
mod matrix;
mod proxy;
mod reports;
mod safety;
mod trust;
