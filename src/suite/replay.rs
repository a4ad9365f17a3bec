//! `proxy::traffic`: the traffic `convcheck proxy --snapshots record` recorded (an
//! application's, against Twilio say), replayed against the target and compared with the
//! recording, so that a mock is verified against what the real service answered.
//!
//! The recording is normalized: a request names users by reference (`<US:1>`). The replay
//! sends each request with the values the target gave the same references in its own
//! answers so far. Writes go only to users the replay itself created: a recorded update or
//! delete of anyone else (a user that existed before the recording) is not sent, and its
//! entry is left out of the comparison, as is any request naming a value the replay cannot
//! know.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

use crate::check::{self, Exchange};
use crate::client::Request;
use crate::proxy::observe::{Target, classify};
use crate::runner::case::{CaseDef, CaseFuture, Kind, Scope};
use crate::runner::{CaseRun, Stop};
use crate::snapshot::diff::Judgement;
use crate::snapshot::{self, Dates, normalize};
use crate::spec::Operation;

/// The case, added to a run whose snapshot directory holds a traffic recording.
pub fn case() -> CaseDef {
    CaseDef {
        name: "traffic",
        kind: Kind::Proxy,
        scope: Scope::Once,
        writes: true,
        about: "Replays the traffic `convcheck proxy --snapshots record` recorded and compares every answer with the recording",
        run: replay,
    }
}

/// A reference in a recorded text: `<US:3>`.
fn reference_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"<([A-Z]{2}):(\d+)>").expect("a valid pattern"))
}

/// A recorded text with the live values: `None` when it names a reference the replay does not
/// know (a service the recording used but the run has no second service for, a user it did
/// not see created).
fn fill(
    text: &str,
    base: &str,
    refs: &BTreeMap<String, String>,
    services: &mut BTreeMap<String, String>,
    spare_service: Option<&str>,
) -> Option<String> {
    // A walk's page size is folded out of the recording (the pages are one entry): any size
    // walks the same users, and 1 keeps a walk of several users one of several pages.
    let text = text
        .replace("<base>", base)
        .replace("PageSize=<walk-size>", "PageSize=1");
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in reference_re().find_iter(&text) {
        out.push_str(&text[last..m.start()]);
        let r = m.as_str();
        let value = match refs.get(r) {
            Some(v) => v.clone(),
            // A service the recording named first in a request (the application's own):
            // the run's second service plays it.
            None if r.starts_with("<IS:") => match services.get(r) {
                Some(v) => v.clone(),
                None => {
                    let s = spare_service?;
                    if services.values().any(|v| v == s) {
                        return None;
                    }
                    services.insert(r.to_owned(), s.to_owned());
                    s.to_owned()
                }
            },
            None => return None,
        };
        out.push_str(&value);
        last = m.end();
    }
    out.push_str(&text[last..]);
    Some(out)
}

fn replay(r: &mut CaseRun) -> CaseFuture<'_> {
    Box::pin(async move {
        let Some(recording) = r.session.plan.replay.clone() else {
            return Ok(());
        };
        let (file, doc) = (&recording.0, &recording.1);
        let Some(entries) = doc.as_array() else {
            return Err(Stop::Failed);
        };
        let plan = r.session.plan.clone();
        let base = plan.base_url.clone();
        let prefix = url::Url::parse(&base)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let account = r.session.client.account_sid().map(str::to_owned);
        let mut raw: Vec<Exchange> = Vec::new();
        let mut kept: Vec<Value> = Vec::new();
        let mut judged: BTreeMap<usize, Judgement> = BTreeMap::new();
        let mut refs: BTreeMap<String, String> = BTreeMap::new();
        // The replay so far, normalized as the recording was (its references give `refs`).
        let mut now = Value::Array(Vec::new());
        let mut services: BTreeMap<String, String> = BTreeMap::new();
        // Users the replay created: their sids, and their identities.
        let mut own: BTreeSet<String> = BTreeSet::new();
        let mut identities: BTreeMap<String, String> = BTreeMap::new();
        let mut left_out = 0usize;
        for e in entries {
            let Some((method, target)) = e
                .get("request")
                .and_then(Value::as_str)
                .and_then(|s| s.split_once(' '))
            else {
                left_out += 1;
                continue;
            };
            let spare = plan.service_sid.as_deref();
            let Some(url) = fill(target, &base, &refs, &mut services, spare) else {
                left_out += 1;
                continue;
            };
            let mut form: Vec<(String, String)> = Vec::new();
            let mut known = true;
            for (k, v) in e
                .get("form")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                match v
                    .as_str()
                    .and_then(|v| fill(v, &base, &refs, &mut services, spare))
                {
                    Some(v) => form.push((k.clone(), v)),
                    None => known = false,
                }
            }
            let parsed = url::Url::parse(&url).ok();
            let path = parsed
                .as_ref()
                .map(|u| u.path().to_owned())
                .unwrap_or_default();
            let target = classify(method, &prefix, &path);
            let op = match &target {
                Target::Collection { op, .. } | Target::Item { op, .. } => *op,
                Target::Uncovered => {
                    left_out += 1;
                    continue;
                }
            };
            // Writes only to what this replay created.
            if let Target::Item { key, .. } = &target
                && op != Operation::Fetch
                && !own.contains(key)
                && !identities.contains_key(key)
            {
                left_out += 1;
                continue;
            }
            if !known
                || parsed
                    .as_ref()
                    .is_none_or(|u| !r.session.client.on_origin(u.as_str()))
            {
                left_out += 1;
                continue;
            }
            let Ok(m) = Method::from_bytes(method.as_bytes()) else {
                left_out += 1;
                continue;
            };
            let mut req = Request::new(m, url.clone());
            for (k, v) in &form {
                req = req.param(k, v.clone());
            }
            for (k, v) in e
                .get("headers")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                // A form's content type is the client's to set; one sent without a form (some
                // libraries send it on every request) is sent again as it was.
                if (k != "content-type" || form.is_empty())
                    && let Some(v) = v.as_str()
                {
                    req = req.header(k, v.to_owned());
                }
            }
            let form_of = target.form().cloned();
            let mut exs = Vec::new();
            match (&target, form_of) {
                (
                    Target::Collection {
                        op: Operation::Create,
                        ..
                    },
                    Some(f),
                ) => {
                    if let Some((_, identity)) = form.iter().find(|(k, _)| k == "Identity") {
                        r.mint(identity.clone());
                    }
                    let (ex, body) = r.post_create(&f, req).await?;
                    if let (Some(sid), Some(identity)) = (
                        body.get("sid").and_then(Value::as_str),
                        body.get("identity").and_then(Value::as_str),
                    ) && (200..300).contains(&ex.status)
                        && r.session.ledger.contains(sid)
                    {
                        own.insert(sid.to_owned());
                        identities.insert(identity.to_owned(), sid.to_owned());
                    }
                    exs.push(ex);
                }
                (
                    Target::Collection {
                        op: Operation::Read,
                        ..
                    },
                    _,
                ) => {
                    // The walk, to its end, as the recording folded it into its first page.
                    let mut ex = r.send(req).await?;
                    let mut pages = 1;
                    loop {
                        let next = (ex.status == 200)
                            .then(|| serde_json::from_slice::<Value>(&ex.response_body).ok())
                            .flatten()
                            .and_then(|v| {
                                v.pointer("/meta/next_page_url")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned)
                            });
                        exs.push(ex);
                        match next {
                            Some(n) if pages < plan.max_pages && r.session.client.on_origin(&n) => {
                                ex = r.send(Request::new(Method::GET, n)).await?;
                                pages += 1;
                            }
                            _ => break,
                        }
                    }
                }
                _ => {
                    let ex = r.send(req).await?;
                    if op == Operation::Delete
                        && ex.status == 204
                        && let Target::Item { key, .. } = &target
                    {
                        let sid = identities.get(key).cloned().unwrap_or_else(|| key.clone());
                        r.session.ledger.remove(&sid);
                    }
                    exs.push(ex);
                }
            }
            // Each answer judged by the checks, as any case judges its own.
            let form = target
                .form()
                .cloned()
                .unwrap_or(crate::spec::UrlForm::Shortened);
            for ex in &exs {
                if (200..300).contains(&ex.status) {
                    let ctx = r.context(op, &form);
                    r.check_exchange(ex, &ctx);
                } else if ex.status >= 400 {
                    r.report(check::error_response(ex));
                }
            }
            let status_check = format!("{op}.status");
            let body_checks = if e
                .get("status")
                .and_then(Value::as_u64)
                .is_some_and(|s| s >= 400)
            {
                check::refusal_checks()
            } else {
                check::exchange_checks(op)
            };
            judged.insert(
                kept.len(),
                Judgement::of(&[status_check.as_str()], &body_checks),
            );
            kept.push(e.clone());
            raw.extend(exs);
            let normalized = live(
                &raw,
                &base,
                &plan.run_prefix,
                &r.namespace,
                account.as_deref(),
                &own,
            );
            refs = normalized.references;
            now = normalized.doc;
        }
        let (_, findings) = snapshot::verify(Some(&Value::Array(kept)), &now, file, &judged);
        r.report(findings);
        if left_out > 0 {
            eprintln!(
                "proxy::traffic: {} of {} recorded requests not replayed: each names a user this replay did not create, or a value it cannot know",
                left_out,
                entries.len()
            );
        }
        Ok(())
    })
}

/// The replayed exchanges, normalized as the recording was.
fn live(
    raw: &[Exchange],
    base: &str,
    run_prefix: &str,
    namespace: &str,
    account: Option<&str>,
    own: &BTreeSet<String>,
) -> snapshot::Normalized {
    normalize(
        raw,
        snapshot::Scope {
            base_url: base,
            run_prefix,
            namespace,
            account_sid: account,
            own,
        },
        Dates::Shape,
    )
}
