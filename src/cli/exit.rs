//! Exit codes, documented in one place.
//!
//! - `0`: conformant (no finding).
//! - `1`: at least one finding (a check failed).
//! - `2`: usage, configuration, input or transport problem; nothing was judged.

/// No finding.
pub const OK: u8 = 0;
/// At least one finding.
pub const FINDINGS: u8 = 1;
/// Bad usage, bad input, or the target could not be reached.
pub const USAGE: u8 = 2;

/// Joins an error chain into one line: `outer: inner: root`.
pub fn one_line(e: &anyhow::Error) -> String {
    let line = e
        .chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ");
    crate::client::scrub::scrub(&line)
}
