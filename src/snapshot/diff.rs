//! Structural differences between two normalized case documents, by JSON pointer, and what
//! they become: findings of a verify run, lines of the parity diff.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::normalize::date_shape;
use crate::check::Finding;
use crate::spec::Severity;

/// The check id of a snapshot difference. It is not in the catalogue: it judges a target
/// against a recording, not against the documentation.
pub const CHECK: &str = "snapshot.differs";
/// The pseudo-clause snapshot findings cite.
pub const CLAUSE: &str = "snapshot";
/// At most this many findings per case; one more says how many were left out.
pub const MAX_FINDINGS: usize = 20;

/// How much a difference from a recording weighs: what the contract fixes is strict, what it
/// leaves open is a SHOULD-level difference (fails only with `--strict`) or mere information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Status, error `code` and `more_info`, presence and type of documented fields, values
    /// the run controls, the media type: a finding that fails the case.
    Strict,
    /// Error message wording, media-type parameters: a SHOULD finding.
    Should,
    /// A field no schema documents, present on one side only: listed, never a finding.
    Info,
}

impl Level {
    fn of(severity: Severity) -> Level {
        match severity {
            Severity::Must => Level::Strict,
            Severity::Should => Level::Should,
        }
    }
}

/// How strictly the checks a case applied to one exchange judge it: the most a snapshot
/// difference in that exchange may weigh. Built from the severities the catalogue declares
/// for those checks (`specs/checks.json`), never from a list of exchanges: an exchange no
/// check judged, such as a new probe that reports its findings by hand, gives SHOULD
/// differences at most.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judgement {
    /// The least strict of the checks that judged the exchange's status: where one check
    /// lets a correct target answer otherwise (a SHOULD), the status is not fixed.
    pub status: Option<Severity>,
    /// The strictest of the checks that judged its body and headers.
    pub body: Option<Severity>,
}

impl Judgement {
    /// The judgement of checks `status` (that judge the status) and `body` (that judge the
    /// rest of the answer), by their ids in the catalogue. An id the catalogue does not
    /// know counts as SHOULD.
    pub fn of(status: &[&str], body: &[&str]) -> Judgement {
        let mut j = Judgement::default();
        j.add(status, body);
        j
    }

    /// Adds more checks that judged the same exchange.
    pub fn add(&mut self, status: &[&str], body: &[&str]) {
        let severity = |id: &str| {
            crate::spec::catalogue()
                .check(id)
                .map_or(Severity::Should, |c| c.severity)
        };
        for id in status {
            let s = severity(id);
            // The least strict wins: `Should` orders after `Must`.
            self.status = Some(self.status.map_or(s, |t| t.max(s)));
        }
        for id in body {
            let s = severity(id);
            self.body = Some(self.body.map_or(s, |t| t.min(s)));
        }
    }

    /// The most a difference in the status (or the exchange as a whole) weighs.
    fn status_cap(&self) -> Level {
        Level::of(self.status.unwrap_or(Severity::Should))
    }

    /// The most a difference in the body or headers weighs.
    fn body_cap(&self) -> Level {
        Level::of(self.body.unwrap_or(Severity::Should))
    }
}

/// Every key a schema of the contract documents (User, Users page, error body).
fn documented(key: &str) -> bool {
    use std::sync::OnceLock;
    static KEYS: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        crate::spec::Doc::ALL
            .iter()
            .flat_map(|d| d.documented_keys())
            .collect()
    })
    .contains(key)
}

/// The media type of a `Content-Type` value, without parameters, lower-cased.
fn essence(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(|s| {
        s.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// How much `d` weighs, given the two case documents it comes from and how strictly the
/// case's checks judged each exchange (`judged`, by exchange index): never more than those
/// checks allow (see [`Judgement`]).
pub fn level(
    d: &Difference,
    expected: &Value,
    actual: &Value,
    judged: &BTreeMap<usize, Judgement>,
) -> Level {
    let (index, rest) = split(&d.path);
    let Some(i) = index else {
        return Level::Strict;
    };
    let judgement = judged.get(&i).copied().unwrap_or_default();
    let status_of = |doc: &Value| doc.pointer(&format!("/{i}/status")).cloned();
    // An answer of another status is another kind of answer: its body differs because its
    // status does, and weighs what the status does.
    let cap = if rest.is_empty() || rest == "/status" || status_of(expected) != status_of(actual) {
        judgement.status_cap()
    } else {
        judgement.body_cap()
    };
    let request_side = !rest.is_empty()
        && rest != "/status"
        && rest != "/content_type"
        && !rest.starts_with("/response");
    if request_side {
        // What the run sent: a difference means the case itself ran otherwise.
        return Level::Strict;
    }
    own_level(d, i, rest, expected, actual).max(cap)
}

/// What a difference weighs by what the contract says of its field alone.
fn own_level(d: &Difference, i: usize, rest: &str, expected: &Value, actual: &Value) -> Level {
    if rest == "/content_type" {
        return if essence(d.expected.as_ref()).is_some()
            && essence(d.expected.as_ref()) == essence(d.actual.as_ref())
        {
            Level::Should
        } else {
            Level::Strict
        };
    }
    let Some(inner) = rest.strip_prefix("/response") else {
        return Level::Strict;
    };
    let key = inner.rsplit('/').next().unwrap_or("");
    let one_sided = d.expected.is_none() || d.actual.is_none();
    if one_sided && !key.is_empty() && key.parse::<usize>().is_err() && !documented(key) {
        return Level::Info;
    }
    // An error body (it carries a numeric `code` on both sides) may word its message freely,
    // and its code is fixed only as far as the code check is (`error.code.expected`): the
    // codes are not all confirmed. `more_info` names the code.
    let is_error = |doc: &Value| {
        doc.pointer(&format!("/{i}/response/code"))
            .is_some_and(Value::is_number)
    };
    // Twilio's errors carry a `detail` only sometimes: its presence is the server's choice.
    if inner == "/detail" && is_error(expected) && is_error(actual) {
        return Level::Should;
    }
    // A page's own URLs are the server's to write (an opaque token, `Page` or not, the
    // parameters in any order); the page checks judge what they must lead to. Only a URL
    // against none (or another type) is a difference in kind.
    let both_strings = d.expected.as_ref().is_some_and(Value::is_string)
        && d.actual.as_ref().is_some_and(Value::is_string);
    if both_strings
        && matches!(
            inner,
            "/meta/url"
                | "/meta/first_page_url"
                | "/meta/next_page_url"
                | "/meta/previous_page_url"
        )
    {
        return Level::Should;
    }
    if !one_sided && is_error(expected) && is_error(actual) {
        if matches!(inner, "/message" | "/detail") {
            return Level::Should;
        }
        let same_shape = shape(d.expected.as_ref()) == shape(d.actual.as_ref());
        if matches!(inner, "/code" | "/more_info") && same_shape {
            return Level::of(
                crate::spec::catalogue()
                    .check("error.code.expected")
                    .map_or(Severity::Should, |c| c.severity),
            );
        }
    }
    Level::Strict
}

/// One place where two documents differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// JSON pointer into the case document (`/2/response/attributes`).
    pub path: String,
    /// The value in the expected document (baseline, recording); `None` when absent.
    pub expected: Option<Value>,
    /// The value in the actual document (target, this run); `None` when absent.
    pub actual: Option<Value>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            for (k, v) in x {
                walk(&format!("{path}/{}", escape(k)), Some(v), y.get(k), out);
            }
            for (k, v) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                walk(&format!("{path}/{}", escape(k)), None, Some(v), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(&format!("{path}/{i}"), x.get(i), y.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Difference {
            path: path.to_owned(),
            expected: a.cloned(),
            actual: b.cloned(),
        }),
    }
}

/// Every difference between `expected` and `actual`, in document order.
pub fn diff(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("", Some(expected), Some(actual), &mut out);
    out
}

/// Whether `path` is `prefix` or lies under it.
pub fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || prefix.is_empty()
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// What kind of value this is, coarsely: a JSON type, or a date's shape.
pub fn shape(v: Option<&Value>) -> String {
    match v {
        None => "absent".into(),
        Some(Value::Null) => "null".into(),
        Some(Value::Bool(_)) => "boolean".into(),
        Some(Value::Number(_)) => "number".into(),
        Some(Value::String(s)) => date_shape(s, None).unwrap_or("string").into(),
        Some(Value::Array(_)) => "array".into(),
        Some(Value::Object(_)) => "object".into(),
    }
}

/// Leaves out differences at volatile paths (or under them), unless the two values differ
/// in shape too: a date that changes every run is volatile, one that turns from ISO 8601
/// into RFC 2822 is still a difference.
pub fn without_volatile(diffs: Vec<Difference>, volatile: &BTreeSet<String>) -> Vec<Difference> {
    diffs
        .into_iter()
        .filter(|d| {
            let noisy = volatile.iter().any(|v| under(&d.path, v));
            !noisy || shape(d.expected.as_ref()) != shape(d.actual.as_ref())
        })
        .collect()
}

/// The field names (last path segments, not array indices) of volatile paths: a field seen
/// to change between two runs of the baseline in one case is noise in every case, since two
/// runs of another case may well fall within the same second.
pub fn volatile_field_names<'a>(paths: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    paths
        .into_iter()
        .filter_map(|p| p.rsplit('/').next())
        .filter(|f| !f.is_empty() && f.parse::<usize>().is_err())
        .map(str::to_owned)
        .collect()
}

/// Leaves out differences in a volatile field (by name) whose value keeps its shape.
pub fn without_volatile_fields(
    diffs: Vec<Difference>,
    fields: &BTreeSet<String>,
) -> Vec<Difference> {
    diffs
        .into_iter()
        .filter(|d| {
            let noisy = d
                .path
                .rsplit('/')
                .next()
                .is_some_and(|f| fields.contains(f));
            !noisy || shape(d.expected.as_ref()) != shape(d.actual.as_ref())
        })
        .collect()
}

/// The exchange index and the rest of a document path: `/2/response/sid` → `(2, /response/sid)`.
pub fn split(path: &str) -> (Option<usize>, &str) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (head, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match head.parse() {
        Ok(i) => (Some(i), tail),
        Err(_) => (None, path),
    }
}

/// `#2 GET <base>/v1/Users/<US:1>`: the exchange a path lies in, from either document.
pub fn request_of(path: &str, expected: &Value, actual: &Value) -> String {
    match split(path).0 {
        Some(i) => {
            let line = [expected, actual]
                .iter()
                .find_map(|d| d.pointer(&format!("/{i}/request")).and_then(Value::as_str))
                .unwrap_or("");
            format!("#{i} {line}").trim_end().to_owned()
        }
        None => "the case".to_owned(),
    }
}

/// A value as a finding or a diff line shows it.
pub fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_owned(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 200 {
                format!("{}…", s.chars().take(200).collect::<String>())
            } else {
                s
            }
        }
    }
}

/// Where a difference lies, the way findings say it: a pointer into the response body,
/// `@status`, `@headers/content-type`, `@request…`, or `@exchange` for a whole exchange.
pub fn pointer(path: &str) -> String {
    match split(path) {
        (Some(_), "") => "@exchange".to_owned(),
        (Some(_), rest) => {
            if let Some(p) = rest.strip_prefix("/response") {
                p.to_owned()
            } else if rest == "/status" {
                "@status".to_owned()
            } else if rest == "/content_type" {
                "@headers/content-type".to_owned()
            } else {
                format!("@request{rest}")
            }
        }
        (None, p) => p.to_owned(),
    }
}

/// The findings of a verify run for one case: one per strict or SHOULD-level difference (at
/// most [`MAX_FINDINGS`], then one that counts the rest); information makes none.
pub fn findings(
    diffs: &[Difference],
    recorded: &Value,
    now: &Value,
    file: &str,
    judgements: &BTreeMap<usize, Judgement>,
) -> Vec<Finding> {
    let judged: Vec<(&Difference, Level)> = diffs
        .iter()
        .map(|d| (d, level(d, recorded, now, judgements)))
        .filter(|(_, l)| *l != Level::Info)
        .collect();
    let mut out: Vec<Finding> = judged
        .iter()
        .take(MAX_FINDINGS)
        .map(|(d, level)| {
            let pointer = pointer(&d.path);
            let expected = show(d.expected.as_ref());
            let actual = show(d.actual.as_ref());
            Finding {
                check: CHECK.to_owned(),
                severity: if *level == Level::Strict {
                    Severity::Must
                } else {
                    Severity::Should
                },
                clause: CLAUSE.to_owned(),
                message: format!(
                    "the answer differs from the recording `{file}` at `{}`: expected {expected}, got {actual}",
                    d.path
                ),
                pointer,
                expected,
                actual,
                request: Some(request_of(&d.path, recorded, now)),
                replay: None,
                requests: None,
            }
        })
        .collect();
    if judged.len() > MAX_FINDINGS {
        let more = judged.len() - MAX_FINDINGS;
        let strict = judged[MAX_FINDINGS..]
            .iter()
            .any(|(_, l)| *l == Level::Strict);
        out.push(Finding {
            check: CHECK.to_owned(),
            severity: if strict {
                Severity::Must
            } else {
                Severity::Should
            },
            clause: CLAUSE.to_owned(),
            pointer: String::new(),
            expected: "no further difference".to_owned(),
            actual: format!("{more} more"),
            message: format!("{more} more differences from the recording `{file}`"),
            request: None,
            replay: None,
            requests: None,
        });
    }
    out
}

/// The readable diff of one case: one line per difference, `  #2 GET … /response/x: …`.
pub fn render(
    diffs: &[Difference],
    expected: &Value,
    actual: &Value,
    names: (&str, &str),
) -> String {
    let mut s = String::new();
    for d in diffs {
        let (_, rest) = split(&d.path);
        s.push_str(&format!(
            "  {} at {}: {} {}, {} {}\n",
            request_of(&d.path, expected, actual),
            if rest.is_empty() {
                "(whole exchange)"
            } else {
                rest
            },
            names.0,
            show(d.expected.as_ref()),
            names.1,
            show(d.actual.as_ref()),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every exchange of a `n`-exchange case judged by MUST checks, status and body.
    fn must(n: usize) -> BTreeMap<usize, Judgement> {
        (0..n)
            .map(|i| (i, Judgement::of(&["fetch.status"], &["user.body.type"])))
            .collect()
    }

    #[test]
    fn differences_name_their_json_path() {
        let a = json!([{"request": "GET <base>/v1/Users/<US:1>", "status": 200,
                        "response": {"attributes": "{}", "links": {"a/b": 1}}}]);
        let b = json!([{"request": "GET <base>/v1/Users/<US:1>", "status": 404,
                        "response": {"attributes": null, "links": {"a/b": 2}, "extra": true}},
                       {"request": "DELETE x"}]);
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/0/status",
                "/0/response/attributes",
                "/0/response/links/a~1b",
                "/0/response/extra",
                "/1"
            ]
        );
        assert_eq!(pointer("/0/response/attributes"), "/attributes");
        assert_eq!(pointer("/0/status"), "@status");
        assert_eq!(pointer("/1"), "@exchange");
        assert_eq!(pointer("/0/form/Identity"), "@request/form/Identity");
        let f = findings(&d, &a, &b, "x.snap", &must(2));
        assert_eq!(f[1].pointer, "/attributes");
        assert_eq!(
            f[1].request.as_deref(),
            Some("#0 GET <base>/v1/Users/<US:1>")
        );
        assert_eq!(f[1].expected, "\"{}\"");
        // `/0/response/extra` is an undocumented field: listed, not a finding.
        assert_eq!(f.len(), 4);
        assert_eq!(f[3].request.as_deref(), Some("#1 DELETE x"));
        let text = render(&d, &a, &b, ("expected", "got"));
        assert!(
            text.contains(
                "#0 GET <base>/v1/Users/<US:1> at /response/attributes: expected \"{}\", got null"
            ),
            "{text}"
        );
    }

    #[test]
    fn volatile_paths_are_left_out_unless_the_shape_changes() {
        let a = json!({"d": "2019-12-16T22:18:37Z", "e": {"x": 1}, "f": 1});
        let b = json!({"d": "2020-01-01T00:00:00Z", "e": {"x": 2}, "f": 2});
        let c = json!({"d": "Mon, 16 Dec 2019 22:18:37 +0000", "e": {"x": 2}, "f": 1});
        let volatile: BTreeSet<String> = ["/d".to_owned(), "/e".to_owned()].into();
        let left = without_volatile(diff(&a, &b), &volatile);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].path, "/f");
        let left = without_volatile(diff(&a, &c), &volatile);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].path, "/d");
        assert!(under("/e/x", "/e") && !under("/ex", "/e"));
    }

    #[test]
    fn what_the_contract_leaves_open_is_not_strict() {
        let rec = json!([
            {"status": 404, "content_type": "application/json",
             "response": {"code": 20404, "message": "The requested resource /v1/Users/x was not found",
                          "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}},
            {"status": 201, "content_type": "application/json",
             "response": {"sid": "<US:1>", "identity": "<ns>1-a", "attributes": "{}"}}
        ]);
        let now = json!([
            {"status": 404, "content_type": "application/json; charset=utf-8",
             "response": {"code": 20404, "message": "No such user", "detail": "gone",
                          "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404,
                          "request_id": "abc"}},
            {"status": 201, "content_type": "application/json",
             "response": {"sid": "<US:1>", "identity": "<ns>1-b", "region": "us1"}}
        ]);
        let levels: Vec<(String, Level)> = diff(&rec, &now)
            .iter()
            .map(|d| (d.path.clone(), level(d, &rec, &now, &must(2))))
            .collect();
        assert_eq!(
            levels,
            [
                ("/0/content_type".to_owned(), Level::Should),
                ("/0/response/message".to_owned(), Level::Should),
                // Twilio's errors carry `detail` only sometimes: present on one side only,
                // it is the server's choice.
                ("/0/response/detail".to_owned(), Level::Should),
                ("/0/response/request_id".to_owned(), Level::Info),
                ("/1/response/identity".to_owned(), Level::Strict),
                ("/1/response/attributes".to_owned(), Level::Strict),
                ("/1/response/region".to_owned(), Level::Info),
            ]
        );
        let other_type = json!([{"status": 404, "content_type": "text/plain", "response": null}]);
        let d = diff(&rec, &other_type);
        assert_eq!(
            level(&d[0], &rec, &other_type, &must(1)),
            Level::Strict,
            "{:?}",
            d[0]
        );
        let code = json!([{"status": 404, "content_type": "application/json",
             "response": {"code": 20400, "message": "x", "more_info": "y", "status": 404}}]);
        for d in diff(&rec, &code) {
            let l = level(&d, &rec, &code, &must(2));
            match d.path.as_str() {
                // The codes are a SHOULD (`error.code.expected`), and `more_info` names one.
                "/0/response/message" | "/0/response/code" | "/0/response/more_info" => {
                    assert_eq!(l, Level::Should, "{}", d.path)
                }
                _ => assert_eq!(l, Level::Strict, "{}", d.path),
            }
        }
        // A page's own URLs are the server's to write; a URL against none is not.
        let page = |next: Value| {
            json!([{"status": 200, "content_type": "application/json",
                "response": {"users": [], "meta": {"page": 0, "url": "<base>/v1/Users?PageSize=50&Page=0",
                    "first_page_url": "<base>/v1/Users?PageSize=50&Page=0", "next_page_url": next}}}])
        };
        let recorded = page(json!("<next-page?>"));
        let mut tokens = page(json!("<base>/v1/Users?PageToken=<token>&PageSize=50"));
        tokens[0]["response"]["meta"]["url"] = json!("<base>/v1/Users?PageSize=50");
        for d in diff(&recorded, &tokens) {
            assert_eq!(
                level(&d, &recorded, &tokens, &must(1)),
                Level::Should,
                "{}",
                d.path
            );
        }
        let none = page(Value::Null);
        let d = diff(&recorded, &none);
        assert_eq!(level(&d[0], &recorded, &none, &must(1)), Level::Strict);
        let f = findings(&diff(&rec, &now), &rec, &now, "x.snap", &must(2));
        assert_eq!(f.len(), 5, "information makes no finding: {f:#?}");
        assert_eq!(
            f.iter().filter(|f| f.severity == Severity::Should).count(),
            3
        );
    }

    #[test]
    fn many_differences_are_capped() {
        let a = json!((0..30).collect::<Vec<_>>());
        let b = json!((100..130).collect::<Vec<_>>());
        let f = findings(&diff(&a, &b), &a, &b, "x.snap", &must(30));
        assert_eq!(f.len(), MAX_FINDINGS + 1);
        assert_eq!(f[MAX_FINDINGS].actual, "10 more");
    }

    #[test]
    fn a_difference_weighs_no_more_than_the_checks_that_judged_its_exchange() {
        let rec = json!([{"request": "GET <base>/v1/Users/<US:1>/Conversations", "status": 200,
                          "content_type": "application/json",
                          "response": {"conversations": [], "meta": {"key": "conversations"}}}]);
        let now = json!([{"request": "GET <base>/v1/Users/<US:1>/Conversations", "status": 404,
                          "content_type": "application/json",
                          "response": {"code": 20404, "message": "not found", "status": 404,
                                       "more_info": "https://www.twilio.com/docs/errors/20404"}}]);
        let d = diff(&rec, &now);
        assert!(d.len() >= 5, "{d:#?}");
        let levels = |judged: &BTreeMap<usize, Judgement>| -> BTreeSet<Level> {
            d.iter().map(|d| level(d, &rec, &now, judged)).collect()
        };
        // Judged by a SHOULD check only, or by no check at all: advice and information.
        let should = [(
            0,
            Judgement::of(&["user.links.resolve"], &["user.links.resolve"]),
        )];
        assert!(!levels(&should.into()).contains(&Level::Strict));
        assert!(!levels(&BTreeMap::new()).contains(&Level::Strict));
        // A status one check fixes (MUST) and another leaves open (SHOULD) is open.
        let mixed = [(
            0,
            Judgement::of(&["create.status", "create.attributes.invalid"], &[]),
        )];
        assert!(!levels(&mixed.into()).contains(&Level::Strict));
        // Judged by MUST checks: the status and what it brings are strict.
        assert!(levels(&must(1)).contains(&Level::Strict));
        // The same status, a body MUST checks judged: a documented field is strict, even
        // where the status was left open.
        let now_same = json!([{"request": "GET <base>/v1/Users/<US:1>", "status": 200,
                               "content_type": "application/json",
                               "response": {"conversations": [], "meta": {"key": "users"}}}]);
        let d = diff(&rec, &now_same);
        let open_status = [(
            0,
            Judgement::of(&["page.size.refused"], &["page.meta.key.value"]),
        )];
        let l: Vec<Level> = d
            .iter()
            .filter(|d| d.path.ends_with("/key"))
            .map(|d| level(d, &rec, &now_same, &open_status.into()))
            .collect();
        assert_eq!(l, [Level::Strict]);
    }
}
