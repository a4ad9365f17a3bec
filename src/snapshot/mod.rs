//! Snapshots of what a target answers, normalized so that two faithful runs give the same
//! document: record them once (against Twilio, say), verify a target against them later,
//! or compare two targets directly (the parity diff).
//!
//! `normalize` and `diff` are pure; `store` is the one place that reads and writes `.snap`
//! files; `deviations` reads the known-deviations file's text and applies it to a run's
//! records. Nothing of a user the case did not create survives normalization, so nothing
//! of it can reach a file or a report.

pub mod deviations;
pub mod diff;
pub mod normalize;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::check::{Exchange, Finding};
pub use diff::{Difference, Judgement, diff as differences};
pub use normalize::{Dates, Normalized, Scope, normalize};

/// What a case leaves in memory for normalization: its raw exchanges (never written
/// anywhere as they are) and what is needed to take the run's own traces out again.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// The case id.
    pub case_id: String,
    /// Every exchange, in order, bodies included.
    pub exchanges: Vec<Exchange>,
    /// Sids of the users the case created.
    pub own: BTreeSet<String>,
    /// How strictly the case's checks judged each exchange (by index); an exchange no check
    /// judged is missing.
    pub judged: BTreeMap<usize, Judgement>,
    /// The target's base URL.
    pub base_url: String,
    /// The run's identity prefix.
    pub run_prefix: String,
    /// The case's identity namespace.
    pub namespace: String,
    /// The caller's account.
    pub account_sid: Option<String>,
}

impl Capture {
    /// Normalizes the case.
    pub fn normalize(&self, dates: Dates) -> Normalized {
        normalize(
            &self.exchanges,
            Scope {
                base_url: &self.base_url,
                run_prefix: &self.run_prefix,
                namespace: &self.namespace,
                account_sid: self.account_sid.as_deref(),
                own: &self.own,
            },
            dates,
        )
    }
}

/// Replaces what findings show of users the case did not create: a whole page is judged,
/// so a finding's `actual` may quote another user's identity or attributes. A finding at
/// `/users/N/…` is redacted when user N of any response to the same request is not the
/// case's own.
pub fn redact_findings(findings: &mut [Finding], capture: &Capture) {
    for f in findings.iter_mut() {
        let Some(index) = f
            .pointer
            .strip_prefix("/users/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let foreign = capture
            .exchanges
            .iter()
            .filter(|ex| f.request.as_deref().is_none_or(|r| r == ex.request_line()))
            .filter_map(|ex| serde_json::from_slice::<Value>(&ex.response_body).ok())
            .any(|body| {
                body.pointer(&format!("/users/{index}/sid"))
                    .and_then(Value::as_str)
                    .is_some_and(|sid| !capture.own.contains(sid))
            });
        if foreign {
            let request = f.request.take();
            let redacted = "(a user this case did not create: value not kept)";
            *f = Finding {
                actual: redacted.to_owned(),
                message: format!("{} (about a user this case did not create)", f.check),
                request,
                ..f.clone()
            };
        }
    }
}

/// What a snapshot header says it was recorded against: `embedded emulator`, `loopback`
/// (whose port changes from run to run), or the kind and host of any other target
/// (`twilio (conversations.twilio.com)`, `remote (mock.example)`). Never a port, a path or a
/// credential.
pub fn target_kind(base_url: &str, embedded: bool) -> String {
    if embedded {
        return "embedded emulator".to_owned();
    }
    let Ok(url) = url::Url::parse(base_url) else {
        return "remote".to_owned();
    };
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback {
        "loopback".to_owned()
    } else if host == "twilio.com" || host.ends_with(".twilio.com") {
        format!("twilio ({host})")
    } else {
        format!("remote ({host})")
    }
}

/// Compares a case with its recording: the differences (empty when it matches) and the
/// findings they make, each as strict as the checks the case applied to its exchange allow
/// (`judged`, by exchange index; see [`Judgement`]). No recording at all is one finding at
/// `@exchange`.
pub fn verify(
    recorded: Option<&Value>,
    now: &Value,
    file: &str,
    judged: &BTreeMap<usize, Judgement>,
) -> (Vec<Difference>, Vec<Finding>) {
    match recorded {
        Some(rec) => {
            let diffs = differences(rec, now);
            let findings = diff::findings(&diffs, rec, now, file, judged);
            (diffs, findings)
        }
        None => {
            let f = Finding {
                check: diff::CHECK.to_owned(),
                severity: crate::spec::Severity::Must,
                clause: diff::CLAUSE.to_owned(),
                pointer: String::new(),
                expected: format!("a recording in `{file}`"),
                actual: "none".to_owned(),
                message: format!(
                    "no recording `{file}` for this case: record with `--snapshots record`"
                ),
                request: None,
                replay: None,
                requests: None,
            };
            (Vec::new(), vec![f])
        }
    }
}

/// Groups volatile paths by the field they end in: `date_created` → how many paths.
pub fn volatile_fields<'a>(paths: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in paths {
        let field = p
            .rsplit('/')
            .find(|seg| !seg.is_empty() && seg.parse::<usize>().is_err())
            .unwrap_or("(exchange)")
            .to_owned();
        *out.entry(field).or_insert(0) += 1;
    }
    out
}

/// Whether a case kind is generated (`generated`, `stateful`): such cases draw new inputs every
/// run, so they are never recorded or verified.
pub fn is_generated(kind: &str) -> bool {
    matches!(kind, "generated" | "stateful")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_name_the_target_but_no_port_or_credential() {
        assert_eq!(
            target_kind("https://conversations.twilio.com", false),
            "twilio (conversations.twilio.com)"
        );
        assert_eq!(target_kind("http://127.0.0.1:4010", false), "loopback");
        assert_eq!(target_kind("http://localhost:4010", false), "loopback");
        assert_eq!(
            target_kind("https://mock.internal.example:8443", false),
            "remote (mock.internal.example)"
        );
        assert_eq!(target_kind("http://127.0.0.1:1", true), "embedded emulator");
    }

    #[test]
    fn findings_about_other_users_lose_their_values() {
        let page = json!({"users": [{"sid": "USother", "identity": "alice"},
                                    {"sid": "USmine", "identity": "convcheck-x"}]});
        let capture = Capture {
            exchanges: vec![Exchange {
                method: "GET".into(),
                url: "http://h/v1/Users".into(),
                status: 200,
                response_body: page.to_string().into_bytes(),
                ..Exchange::default()
            }],
            own: ["USmine".to_owned()].into(),
            ..Capture::default()
        };
        let mut f = vec![
            Finding::new(
                "user.identity.type",
                "/users/0/identity",
                "a string",
                "\"alice\"",
            ),
            Finding::new(
                "user.identity.type",
                "/users/1/identity",
                "a string",
                "\"mine\"",
            ),
        ];
        for x in &mut f {
            x.request = Some("GET /v1/Users".into());
        }
        redact_findings(&mut f, &capture);
        assert!(!f[0].actual.contains("alice") && !f[0].message.contains("alice"));
        assert_eq!(f[1].actual, "\"mine\"");
    }

    #[test]
    fn differences_where_only_should_checks_judged_are_advice() {
        let rec = json!([{"request": "GET <base>/v1/Users?PageSize=0", "status": 400},
                         {"request": "GET <base>/v1/Users", "status": 200}]);
        let now = json!([{"request": "GET <base>/v1/Users?PageSize=0", "status": 200},
                         {"request": "GET <base>/v1/Users", "status": 500}]);
        let judged = [
            (0, Judgement::of(&["page.size.refused"], &[])),
            (1, Judgement::of(&["read.status"], &[])),
        ]
        .into();
        let (_, f) = verify(Some(&rec), &now, "x.snap", &judged);
        let severities: Vec<_> = f.iter().map(|f| f.severity).collect();
        assert_eq!(
            severities,
            [crate::spec::Severity::Should, crate::spec::Severity::Must]
        );
    }

    #[test]
    fn volatile_fields_are_named_by_their_last_key() {
        let paths = [
            "/0/response/date_created".to_owned(),
            "/1/response/users/0/date_created".to_owned(),
            "/3".to_owned(),
        ];
        let v = volatile_fields(&paths);
        assert_eq!(v["date_created"], 2);
        assert_eq!(v["(exchange)"], 1);
    }
}
