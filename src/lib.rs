//! convcheck: a contract-test and conformance harness for the Twilio Conversations User
//! resource (`/v1/Users` and `/v1/Services/{ChatServiceSid}/Users`).

pub mod check;
pub mod cli;
pub mod client;
pub mod domain;
pub mod emulator;
pub mod generate;
pub mod json;
pub mod model;
pub mod proxy;
pub mod report;
pub mod runner;
pub mod snapshot;
pub mod spec;
pub mod suite;
