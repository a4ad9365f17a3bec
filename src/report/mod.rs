//! Rendering of findings and run reports. Every renderer is a pure function returning a
//! string; writing files is the caller's business (`cli::report::write`, the one writer).

pub mod badge;
pub mod diagnostic;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod view;

#[cfg(test)]
mod tests;
