//! Rendering of findings and run reports. Every renderer is a pure function returning a
//! string; writing files is the caller's business.

pub mod diagnostic;
