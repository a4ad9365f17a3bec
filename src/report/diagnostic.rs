//! Findings as compiler-style diagnostics for the terminal.

use crate::check::Finding;
use crate::spec::{Severity, catalogue};

/// Renders one finding. `location` says where it was found: a file name, or a request line
/// such as `GET /v1/Users/{Sid}`.
pub fn render(f: &Finding, location: &str) -> String {
    let level = match f.severity {
        Severity::Must => "error",
        Severity::Should => "warning",
    };
    let title = catalogue()
        .check(&f.check)
        .map(|c| c.title.as_str())
        .unwrap_or("");
    let at = if f.pointer.is_empty() {
        String::new()
    } else {
        format!(" at {}", f.pointer)
    };
    let mut s = format!(
        "{level}[{}]: {title}\n  --> {location}{at}\n   = expected: {}\n   = actual:   {}\n",
        f.check, f.expected, f.actual
    );
    if let Some(cl) = catalogue().clause(&f.clause) {
        s.push_str(&format!(
            "   = clause `{}` ({}): {}\n",
            cl.id,
            cl.section,
            shorten(&cl.quote, 160)
        ));
    }
    if let Some(replay) = &f.replay {
        s.push_str("   = replay: ");
        for (i, line) in replay.lines().enumerate() {
            if i > 0 {
                s.push_str("     ");
            }
            s.push_str(line);
            s.push('\n');
        }
    }
    s
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// `N findings (M MUST, K SHOULD)`, or `no findings`.
pub fn count(findings: usize, must: usize) -> String {
    match findings {
        0 => "no findings".to_owned(),
        1 => format!("1 finding ({must} MUST, {} SHOULD)", 1 - must),
        n => format!("{n} findings ({must} MUST, {} SHOULD)", n - must),
    }
}

pub use crate::runner::plural;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_id_location_expected_actual_and_clause() {
        let f = Finding::new("user.sid.pattern", "/sid", "a user SID", "\"Sid\"");
        let s = render(&f, "fetch.json");
        assert!(s.starts_with("error[user.sid.pattern]: "), "{s}");
        assert!(s.contains("--> fetch.json at /sid"), "{s}");
        assert!(s.contains("= actual:   \"Sid\""), "{s}");
        assert!(s.contains("clause `prop.sid`"), "{s}");
        assert_eq!(count(3, 2), "3 findings (2 MUST, 1 SHOULD)");
    }
}
