//! Known deviations: failures a team has accepted for a reason, listed in a TOML file.
//! A case whose every failing finding matches one becomes `expected_failure` (the run passes);
//! a deviation that no longer matches anything in the cases it concerns is reported as fixed.
//!
//! ```toml
//! [[deviation]]
//! check = "snapshot.differs"            # a check id, or
//! case = "create::minimal::*"           # a case id (`*` matches any run of characters)
//! path = "/users/*/attributes"          # optional: a JSON pointer (`*` matches one
//!                                       # segment or part of one); findings at or under it
//! reason = "Twilio answers null for attributes never set"
//! link = "https://github.com/org/repo/issues/12"
//! ```

use serde::Deserialize;

use crate::runner::{CaseRecord, Outcome};
use crate::spec::Severity;

/// One known deviation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// The check id it concerns.
    pub check: Option<String>,
    /// The case id it concerns; `*` matches any run of characters.
    pub case: Option<String>,
    /// A JSON pointer: only findings at or under it. In a segment, `*` matches any run of
    /// characters but `/` (`/users/*/attributes`).
    pub path: Option<String>,
    /// Why it is accepted.
    pub reason: String,
    /// Where it is tracked.
    pub link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    deviation: Vec<Deviation>,
}

/// Parses a deviations file. `name` is used in messages.
pub fn parse(text: &str, name: &str) -> anyhow::Result<Vec<Deviation>> {
    let file: File = toml::from_str(text).map_err(|e| {
        let first = e.message().lines().next().unwrap_or("").to_owned();
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        anyhow::anyhow!("invalid deviations file `{name}`{at}: {first}")
    })?;
    for (i, d) in file.deviation.iter().enumerate() {
        if d.check.is_none() && d.case.is_none() {
            anyhow::bail!(
                "invalid deviations file `{name}`: deviation {} names neither `check` nor `case`",
                i + 1
            );
        }
        if let Some(p) = &d.path
            && !p.is_empty()
            && !p.starts_with('/')
            && !p.starts_with('@')
        {
            anyhow::bail!(
                "invalid deviations file `{name}`: deviation {} has path `{p}`: expected a JSON pointer such as `/attributes`",
                i + 1
            );
        }
    }
    Ok(file.deviation)
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether the pointer pattern `pattern` covers `pointer`: segment by segment (each pattern
/// segment a [`glob`] within one segment), the pointer at the pattern or under it.
pub fn pointer_covers(pattern: &str, pointer: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let pat: Vec<&str> = pattern.split('/').collect();
    let seg: Vec<&str> = pointer.split('/').collect();
    pat.len() <= seg.len() && pat.iter().zip(&seg).all(|(p, s)| glob(p, s))
}

impl Deviation {
    /// Whether it concerns this case at all.
    pub fn concerns(&self, case_id: &str) -> bool {
        self.case.as_deref().is_none_or(|c| glob(c, case_id))
    }

    /// Whether it covers this finding of this case.
    pub fn covers(&self, case_id: &str, check: &str, pointer: &str) -> bool {
        self.concerns(case_id)
            && self.check.as_deref().is_none_or(|c| c == check)
            && self
                .path
                .as_deref()
                .is_none_or(|p| pointer_covers(p, pointer))
    }

    /// Whether it names a check convcheck does not have, so that it can never match.
    pub fn unknown_check(&self) -> Option<&str> {
        self.check
            .as_deref()
            .filter(|c| *c != super::diff::CHECK && crate::spec::catalogue().check(c).is_none())
    }

    /// `check `x` at `/p` in cases `c`` for messages.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.check {
            s.push_str(&format!("`{c}`"));
        }
        if let Some(p) = &self.path {
            s.push_str(&format!(" at `{p}`"));
        }
        if let Some(c) = &self.case {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("in `{c}`"));
        }
        s.trim().to_owned()
    }
}

/// What the deviations did to a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Per deviation (by index): the cases that failed only as it, and other deviations, say.
    pub expected: Vec<Vec<String>>,
    /// Indices of deviations that concern cases that ran, none of which fails as they say.
    pub fixed: Vec<usize>,
}

/// Turns failed cases whose every failing finding is covered into `expected_failure`, and
/// finds the deviations that are fixed. `strict` says whether SHOULD findings fail.
pub fn apply(deviations: &[Deviation], cases: &mut [CaseRecord], strict: bool) -> Applied {
    let mut applied = Applied {
        expected: vec![Vec::new(); deviations.len()],
        fixed: Vec::new(),
    };
    let mut matched = vec![false; deviations.len()];
    let mut exercised = vec![false; deviations.len()];
    for case in cases.iter_mut() {
        if matches!(case.outcome, Outcome::Skipped | Outcome::Errored) {
            continue;
        }
        for (i, d) in deviations.iter().enumerate() {
            exercised[i] |= d.concerns(&case.id);
        }
        let failing: Vec<_> = case
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Must || strict)
            .collect();
        let mut used = Vec::new();
        let mut all_covered = !failing.is_empty();
        for f in &failing {
            let by: Vec<usize> = (0..deviations.len())
                .filter(|&i| deviations[i].covers(&case.id, &f.check, &f.pointer))
                .collect();
            if by.is_empty() {
                all_covered = false;
            }
            for i in by {
                matched[i] = true;
                if !used.contains(&i) {
                    used.push(i);
                }
            }
        }
        if matches!(case.outcome, Outcome::Failed | Outcome::ExpectedFailure) && all_covered {
            case.outcome = Outcome::ExpectedFailure;
            for i in used {
                applied.expected[i].push(case.id.clone());
            }
        }
    }
    applied.fixed = (0..deviations.len())
        .filter(|&i| exercised[i] && !matched[i])
        .collect();
    applied
}

/// Sentences for the report's notes: every deviation that applied, every one that matched
/// nothing in the cases it concerns, and every one that names a check convcheck lacks.
pub fn notes(deviations: &[Deviation], applied: &Applied, file: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, d) in deviations.iter().enumerate() {
        let link = d
            .link
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        if let Some(check) = d.unknown_check() {
            out.push(format!(
                "known deviation {} names check `{check}`, which convcheck does not have, so it can never match: fix it in `{file}` (`convcheck clauses` lists the checks)",
                d.label()
            ));
        } else if applied.fixed.contains(&i) {
            out.push(format!(
                "known deviation {} matched no failure in this run, though cases it concerns ran: if the target no longer deviates so, remove it from `{file}`; otherwise check its `check`, `case` and `path` (reason given: {}){link}",
                d.label(),
                d.reason
            ));
        } else if !applied.expected[i].is_empty() {
            out.push(format!(
                "known deviation {}: {}{link}; expected failure in {}",
                d.label(),
                d.reason,
                applied.expected[i].join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Finding;

    fn record(id: &str, findings: Vec<Finding>) -> CaseRecord {
        CaseRecord {
            id: id.into(),
            kind: "create".into(),
            form: "shortened".into(),
            outcome: if findings.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            },
            duration_ms: 0,
            findings,
            exchanges: Vec::new(),
            chain: 0,
            requests: 0,
            target_ms: 0,
            error: None,
            coverage: None,
            held: Default::default(),
        }
    }

    const FILE: &str = r#"
[[deviation]]
check = "user.attributes.type"
path = "/attributes"
reason = "null when never set"
link = "https://example.com/1"

[[deviation]]
case = "fetch::*"
reason = "not fixed yet"
"#;

    #[test]
    fn covered_failures_become_expected_and_unmatched_deviations_fixed() {
        let devs = parse(FILE, "d.toml").unwrap();
        let f = Finding::new("user.attributes.type", "/attributes", "\"{}\"", "null");
        let other = Finding::new("user.sid.pattern", "/sid", "a sid", "\"x\"");
        let mut cases = vec![
            record("create::minimal::shortened", vec![f.clone()]),
            record("create::all-params::shortened", vec![f, other]),
            record("fetch::unknown-sid::shortened", Vec::new()),
        ];
        let applied = apply(&devs, &mut cases, false);
        assert_eq!(cases[0].outcome, Outcome::ExpectedFailure);
        assert_eq!(cases[1].outcome, Outcome::Failed);
        assert_eq!(applied.expected[0], ["create::minimal::shortened"]);
        assert_eq!(applied.fixed, [1]);
        let notes = notes(&devs, &applied, "d.toml");
        assert!(notes[0].contains("expected failure in create::minimal::shortened"));
        assert!(
            notes[1].contains("matched no failure in this run") && notes[1].contains("`fetch::*`"),
            "{}",
            notes[1]
        );
        assert!(!notes[1].contains("is fixed"));
    }

    #[test]
    fn paths_take_wildcards_per_segment() {
        assert!(pointer_covers("/users/*/attributes", "/users/3/attributes"));
        assert!(pointer_covers(
            "/users/*/attributes",
            "/users/3/attributes/x"
        ));
        assert!(!pointer_covers("/users/*/attributes", "/users/3/identity"));
        assert!(!pointer_covers("/users/*", "/users"));
        assert!(pointer_covers("/meta/*_page_url", "/meta/next_page_url"));
        assert!(!pointer_covers("/attributes", "/attributes_x"));
        assert!(pointer_covers("@headers/*", "@headers/content-type"));
        let devs = parse(
            "[[deviation]]\ncheck = \"user.attributes.type\"\npath = \"/users/*/attributes\"\nreason = \"r\"\n",
            "d.toml",
        )
        .unwrap();
        let mut cases = vec![record(
            "read::default-page-size::shortened",
            vec![
                Finding::new("user.attributes.type", "/users/0/attributes", "a", "b"),
                Finding::new("user.attributes.type", "/users/4/attributes", "a", "b"),
            ],
        )];
        apply(&devs, &mut cases, false);
        assert_eq!(cases[0].outcome, Outcome::ExpectedFailure);
    }

    #[test]
    fn a_deviation_naming_an_unknown_check_says_so() {
        let devs = parse(
            "[[deviation]]\ncheck = \"user.atributes.type\"\nreason = \"typo\"\n",
            "d.toml",
        )
        .unwrap();
        let mut cases = vec![record(
            "create::minimal::shortened",
            vec![Finding::new("user.sid.pattern", "/sid", "a", "b")],
        )];
        let applied = apply(&devs, &mut cases, false);
        let notes = notes(&devs, &applied, "d.toml");
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("names check `user.atributes.type`, which convcheck does not have"),
            "{}",
            notes[0]
        );
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let e = parse("[[deviation]]\nreason = 1\n", "d.toml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid deviations file `d.toml`"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'), "{e}");
        let e = parse("[[deviation]]\nreason = \"r\"\n", "d.toml").unwrap_err();
        assert!(e.to_string().contains("neither `check` nor `case`"), "{e}");
        let e = parse(
            "[[deviation]]\ncheck = \"x\"\npath = \"attributes\"\nreason = \"r\"\n",
            "d.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("JSON pointer"), "{e}");
    }

    #[test]
    fn globs() {
        assert!(glob("create::*", "create::minimal::shortened"));
        assert!(glob("*::service", "lookup::x::service"));
        assert!(!glob("*::service", "lookup::x::shortened"));
        assert!(glob("a*b*c", "aXbYc") && !glob("a*b*c", "aXc"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }
}
