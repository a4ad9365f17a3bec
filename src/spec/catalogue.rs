//! The clause list (`specs/clauses.json`) and the check catalogue (`specs/checks.json`).
//!
//! Every check has a stable id, a severity taken from the documentation's wording and the
//! clause it enforces; every clause is enforced by at least one check (a test holds both).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The raw text of `specs/clauses.json`.
pub const CLAUSES_JSON: &str = include_str!("../../specs/clauses.json");
/// The raw text of `specs/checks.json`.
pub const CHECKS_JSON: &str = include_str!("../../specs/checks.json");

/// How binding a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// A breach fails the case.
    #[serde(rename = "MUST")]
    Must,
    /// A breach is reported; it fails the case only in strict mode. Used where the
    /// documentation advises, or where the facts are unconfirmed.
    #[serde(rename = "SHOULD")]
    Should,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Must => "MUST",
            Severity::Should => "SHOULD",
        })
    }
}

/// Where a clause comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The documentation page.
    Docs,
    /// Twilio's OpenAPI description.
    Openapi,
    /// Twilio's error dictionary.
    Errors,
    /// An HTTP RFC the API rests on (what the documentation leaves to HTTP itself).
    Rfc,
}

/// One normative statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Clause {
    /// Stable id, such as `prop.sid`.
    pub id: String,
    /// Where it comes from.
    pub source: Source,
    /// The section of the page.
    pub section: String,
    /// A short quote.
    pub quote: String,
}

impl Clause {
    /// Whether it is a statement about the User resource (the documentation page, the
    /// OpenAPI description, the error dictionary), which the conformance matrix and its
    /// coverage count; an RFC's clause only bounds what checks may demand.
    pub fn documented(&self) -> bool {
        self.source != Source::Rfc
    }
}

/// One check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckDef {
    /// Stable id, such as `user.sid.pattern`.
    pub id: String,
    /// MUST or SHOULD.
    pub severity: Severity,
    /// The clause it enforces.
    pub clause: String,
    /// Clauses that also bound what it may demand: a correct server may do what they
    /// allow (a delete racing another acknowledged twice, by RFC 9110's idempotence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// What it asserts, in a few words.
    pub title: String,
}

#[derive(Deserialize)]
struct ClausesFile {
    clauses: Vec<Clause>,
}

#[derive(Deserialize)]
struct ChecksFile {
    checks: Vec<CheckDef>,
}

/// Clauses and checks, indexed.
#[derive(Debug)]
pub struct Catalogue {
    /// Every clause, in the documentation's order.
    pub clauses: Vec<Clause>,
    /// Every check, in the file's order.
    pub checks: Vec<CheckDef>,
    check_index: BTreeMap<String, usize>,
    clause_index: BTreeMap<String, usize>,
}

impl Catalogue {
    /// Parses the two files.
    pub fn parse(clauses: &str, checks: &str) -> Result<Catalogue, serde_json::Error> {
        let clauses = serde_json::from_str::<ClausesFile>(clauses)?.clauses;
        let checks = serde_json::from_str::<ChecksFile>(checks)?.checks;
        let check_index = checks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let clause_index = clauses
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        Ok(Catalogue {
            clauses,
            checks,
            check_index,
            clause_index,
        })
    }

    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&CheckDef> {
        self.check_index.get(id).map(|&i| &self.checks[i])
    }

    /// The clause with this id.
    pub fn clause(&self, id: &str) -> Option<&Clause> {
        self.clause_index.get(id).map(|&i| &self.clauses[i])
    }

    /// The checks that cite a clause, as the one they enforce or as one that bounds them.
    pub fn checks_for<'a>(&'a self, clause: &'a str) -> impl Iterator<Item = &'a CheckDef> + 'a {
        self.checks
            .iter()
            .filter(move |c| c.clause == clause || c.also.iter().any(|a| a == clause))
    }

    /// Problems with the catalogue itself: duplicate ids, checks citing no known clause,
    /// clauses no check enforces. Empty when the contract is whole.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.check_index.len() != self.checks.len() {
            out.push("specs/checks.json has duplicate check ids".to_owned());
        }
        if self.clause_index.len() != self.clauses.len() {
            out.push("specs/clauses.json has duplicate clause ids".to_owned());
        }
        for c in &self.checks {
            for clause in std::iter::once(&c.clause).chain(&c.also) {
                if self.clause(clause).is_none() {
                    out.push(format!("check `{}` cites unknown clause `{clause}`", c.id));
                }
            }
        }
        for cl in &self.clauses {
            if self.checks_for(&cl.id).next().is_none() {
                out.push(format!("clause `{}` has no check", cl.id));
            }
        }
        out
    }

    /// The clause table as Markdown: clause, quote, checks.
    pub fn clauses_markdown(&self) -> String {
        let mut s = String::from("| clause | source | quote | checks |\n|---|---|---|---|\n");
        for cl in &self.clauses {
            let checks: Vec<String> = self
                .checks_for(&cl.id)
                .map(|c| {
                    if c.clause == cl.id {
                        format!("`{}`", c.id)
                    } else {
                        format!("`{}` (bounds it)", c.id)
                    }
                })
                .collect();
            let source = match cl.source {
                Source::Docs => "docs",
                Source::Openapi => "openapi",
                Source::Errors => "errors",
                Source::Rfc => "rfc",
            };
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                cl.id,
                source,
                cl.quote.replace('|', "\\|"),
                checks.join(", ")
            ));
        }
        s
    }
}

/// The embedded catalogue. It is part of the binary, so a parse failure is a build defect
/// that the test suite catches.
pub fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| {
        Catalogue::parse(CLAUSES_JSON, CHECKS_JSON)
            .expect("specs/clauses.json and specs/checks.json are embedded and must parse")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clause_has_a_check_and_every_check_a_clause() {
        assert_eq!(catalogue().problems(), Vec::<String>::new());
    }

    #[test]
    fn problems_are_found() {
        let cat = Catalogue::parse(
            r#"{"clauses":[{"id":"a","source":"docs","section":"s","quote":"q"},
                           {"id":"b","source":"docs","section":"s","quote":"q"}]}"#,
            r#"{"checks":[{"id":"x","severity":"MUST","clause":"a","title":"t"},
                          {"id":"y","severity":"SHOULD","clause":"zz","title":"t"}]}"#,
        )
        .unwrap();
        assert_eq!(
            cat.problems(),
            vec![
                "check `y` cites unknown clause `zz`".to_owned(),
                "clause `b` has no check".to_owned()
            ]
        );
    }

    #[test]
    fn markdown_lists_every_clause_with_its_checks() {
        let md = catalogue().clauses_markdown();
        for cl in &catalogue().clauses {
            assert!(md.contains(&format!("| `{}` |", cl.id)), "{}", cl.id);
        }
        assert!(md.contains("`user.sid.pattern`"));
        // A clause that bounds a check lists it too, marked.
        assert!(
            md.lines()
                .any(|l| l.starts_with("| `http.delete.idempotent` | rfc |")
                    && l.contains("`concurrent.serializable` (bounds it)")),
            "{md}"
        );
    }
}
