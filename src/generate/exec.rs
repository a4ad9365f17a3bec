//! Runs a generated sequence against the target: each operation resolved by the model, sent
//! through a case run (so every create goes through the ledger and every request through the
//! run's brake), and judged by the model.

use reqwest::Method;

use super::model::{Model, Step, Verdict};
use super::program::{By, Invalid, InvalidUpdate, Op};
use crate::check::{Exchange, Finding};
use crate::client::{Request, TransportError};
use crate::runner::{CaseRun, Stop};
use crate::spec::{Severity, identity};

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The index of the operation it came from.
    pub op: usize,
    /// The step.
    pub step: Step,
    /// What the model expected.
    pub expected: String,
    /// The requests and answers, in order.
    pub exchanges: Vec<Exchange>,
    /// Its findings.
    pub findings: Vec<Finding>,
}

/// What a sequence did.
#[derive(Debug, Default)]
pub struct Trace {
    /// The steps that ran, in order.
    pub steps: Vec<Logged>,
    /// The transport error that ended it, if any.
    pub error: Option<TransportError>,
}

impl Trace {
    /// Every finding of the sequence.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.steps.iter().flat_map(|s| s.findings.iter())
    }

    /// The first finding, by check id, the one shrinking keeps: MUST before SHOULD.
    pub fn first_check(&self) -> Option<String> {
        self.findings()
            .find(|f| f.severity == Severity::Must)
            .or_else(|| self.findings().next())
            .map(|f| f.check.clone())
    }
}

/// Limits of one sequence's walks.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The most pages one read may take.
    pub max_pages: usize,
}

/// Runs `ops` on `r` (its namespace is the model's), judging every step; stops at the first
/// step after which the target and the model disagree.
pub async fn run(r: &mut CaseRun, model: &mut Model, ops: &[Op], bounds: Bounds) -> Trace {
    let mut trace = Trace::default();
    for (index, op) in ops.iter().enumerate() {
        let Some(step) = model.resolve(op) else {
            continue;
        };
        // A read walks first among the writes of everyone else, judged on a copy of the
        // model; only when that walk disagrees is it walked again with the collection held
        // still, and that walk judged (keyset paging never needs it; offset paging under
        // concurrent writes may).
        let mut sent = send(r, model, &step, bounds, false).await;
        if let (Step::Read { .. }, Ok((exs, ended))) = (&step, &sent) {
            let mut trial = model.clone();
            let v = trial.judge(&step, exs, *ended);
            if v.findings.is_empty() {
                *model = trial;
                trace.steps.push(Logged {
                    op: index,
                    step,
                    expected: v.expected,
                    exchanges: exs.clone(),
                    findings: Vec::new(),
                });
                continue;
            }
            sent = send(r, model, &step, bounds, true).await;
        }
        match sent {
            Ok((exs, ended)) => {
                let Verdict {
                    expected,
                    findings,
                    diverged,
                } = if exs.is_empty() {
                    Verdict::default()
                } else {
                    model.judge(&step, &exs, ended)
                };
                trace.steps.push(Logged {
                    op: index,
                    step,
                    expected,
                    exchanges: exs,
                    findings,
                });
                if diverged {
                    break;
                }
            }
            Err(Stop::Transport(e)) => {
                trace.error = Some(e);
                break;
            }
            Err(Stop::Failed) => break,
        }
    }
    trace
}

fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Sends a step's requests; for a read, every page up to the bound, and whether it ended.
async fn send(
    r: &mut CaseRun,
    model: &Model,
    step: &Step,
    bounds: Bounds,
    alone: bool,
) -> Result<(Vec<Exchange>, bool), Stop> {
    let forms = &model.forms;
    match step {
        Step::Create { form, user, sent } => {
            let f = &forms[*form];
            let mut req = Request::new(Method::POST, r.collection_url(f))
                .param("Identity", &model.users[*user].identity);
            for (k, v) in sent.params() {
                req = req.param(k, v);
            }
            let (ex, _) = r.post_create(f, req).await?;
            Ok((vec![ex], true))
        }
        Step::Fetch { user, form, by } => {
            let key = model.key(*user, *by);
            let ex = r
                .send(Request::new(Method::GET, r.item_url(&forms[*form], &key)))
                .await?;
            Ok((vec![ex], true))
        }
        Step::FetchRelated { form, identity, .. } => {
            let ex = r
                .send(Request::new(
                    Method::GET,
                    r.item_url(&forms[*form], identity),
                ))
                .await?;
            Ok((vec![ex], true))
        }
        Step::Update { user, by, sent } => {
            let u = &model.users[*user];
            let mut req = Request::new(
                Method::POST,
                r.item_url(&forms[u.form], &model.key(*user, *by)),
            );
            for (k, v) in sent.params() {
                req = req.param(k, v);
            }
            let ex = r.send(req).await?;
            Ok((vec![ex], true))
        }
        Step::Delete { user, by } => {
            let u = &model.users[*user];
            let ex = r
                .send(Request::new(
                    Method::DELETE,
                    r.item_url(&forms[u.form], &model.key(*user, *by)),
                ))
                .await?;
            // Gone: 204, or 404 by sid. A 404 by identity proves nothing about the sid, so
            // the ledger keeps it for teardown.
            if let Some(sid) = &u.sid
                && (ex.status == 204 || (ex.status == 404 && *by == By::Sid))
            {
                r.session.ledger.remove(sid);
            }
            Ok((vec![ex], true))
        }
        Step::Read { form, page_size } => {
            let base = r.collection_url(&forms[*form]);
            let mut url = match page_size {
                Some(n) => format!("{base}?PageSize={n}"),
                None => base,
            };
            let mut pages = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            // `alone`: no write lands in the collection while this read walks it (it sends
            // none itself): under offset paging, another sequence's or case's write would
            // shift the pages under it.
            let _alone = if alone {
                r.walk_alone(&forms[*form]).await
            } else {
                None
            };
            loop {
                seen.insert(url.clone());
                let ex = r.send(Request::new(Method::GET, url.clone())).await?;
                let next = (ex.status == 200)
                    .then(|| serde_json::from_slice::<serde_json::Value>(&ex.response_body).ok())
                    .flatten()
                    .and_then(|b| {
                        b.pointer("/meta/next_page_url")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    });
                pages.push(ex);
                match next {
                    None => return Ok((pages, true)),
                    // Never followed off the target's origin, nor in circles, nor forever.
                    Some(n)
                        if !r.session.client.on_origin(&n)
                            || seen.contains(&n)
                            || pages.len() >= bounds.max_pages =>
                    {
                        return Ok((pages, false));
                    }
                    Some(n) => url = n,
                }
            }
        }
        Step::Burst { user, n } => {
            let u = &model.users[*user];
            let reqs = (0..*n)
                .map(|_| {
                    Request::new(Method::POST, r.collection_url(&forms[u.form]))
                        .param("Identity", &u.identity)
                })
                .collect();
            Ok((at_once(r, &forms[u.form], reqs).await?, true))
        }
        Step::BurstDistinct { users } => {
            let form = model.users[users[0]].form;
            let reqs = users
                .iter()
                .map(|u| {
                    Request::new(Method::POST, r.collection_url(&forms[form]))
                        .param("Identity", &model.users[*u].identity)
                })
                .collect();
            Ok((at_once(r, &forms[form], reqs).await?, true))
        }
        Step::Invalid {
            form,
            what,
            identity,
        } => {
            let f = &forms[*form];
            if let Invalid::PageSize(v) = what {
                let url = format!("{}?PageSize={}", r.collection_url(f), encode(v));
                let ex = r.send(Request::new(Method::GET, url)).await?;
                return Ok((vec![ex], true));
            }
            let mut req = Request::new(Method::POST, r.collection_url(f));
            if let Some(id) = identity {
                if matches!(what, Invalid::SidShaped(_)) {
                    r.mint(id.clone());
                }
                req = req.param("Identity", id);
            }
            req = match what {
                Invalid::MalformedRole(v) => req.param("RoleSid", v),
                Invalid::AttributesNotObject(v) => req.param("Attributes", v),
                Invalid::MissingIdentity => req.param("FriendlyName", "no identity"),
                _ => req,
            };
            let (ex, _) = r.post_create(f, req).await?;
            Ok((vec![ex], true))
        }
        Step::InvalidUpdate { user, what } => {
            let u = &model.users[*user];
            let req = Request::new(
                Method::POST,
                r.item_url(&forms[u.form], &model.key(*user, By::Sid)),
            );
            let req = match what {
                InvalidUpdate::MalformedRole(v) => req.param("RoleSid", v),
                InvalidUpdate::AttributesNotObject(v) => req.param("Attributes", v),
            };
            let ex = r.send(req).await?;
            Ok((vec![ex], true))
        }
    }
}

/// Sends creates at once, each through the ledger; the answers in the order of `reqs`.
async fn at_once(
    r: &mut CaseRun,
    form: &crate::spec::UrlForm,
    reqs: Vec<Request>,
) -> Result<Vec<Exchange>, Stop> {
    let mut set = tokio::task::JoinSet::new();
    for (i, req) in reqs.into_iter().enumerate() {
        let mut side = r.scratch(r.namespace.clone());
        let form = form.clone();
        set.spawn(async move {
            let res = side.post_create(&form, req).await.map(|(ex, _)| ex);
            (i, res, side)
        });
    }
    let mut out = Vec::new();
    let mut first_err = None;
    while let Some(done) = set.join_next().await {
        let Ok((i, res, side)) = done else { continue };
        r.absorb(side);
        match res {
            Ok(ex) => out.push((i, ex)),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, ex)| ex).collect())
}

/// The path a request is shown with in a reproduction: percent-encoded as sent.
pub fn segment(v: &str) -> String {
    identity::encode_segment(v)
}
