//! convcheck: a contract-test and conformance harness for the Twilio Conversations User
//! resource (`/v1/Users` and `/v1/Services/{ChatServiceSid}/Users`).

pub mod cli;
pub mod emulator;
pub mod spec;
