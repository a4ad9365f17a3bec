//! Observed traffic, judged: each exchange the proxy saw becomes a step of the same model the
//! stateful engine uses ([`crate::model`]), so the relations between exchanges are judged as
//! well as each answer on its own. Pure: no I/O, no clock (the proxy stamps each exchange).
//!
//! What the model can and cannot know from traffic:
//! - it knows the users it saw created, fetched or updated, and what the writes it saw set;
//! - it does not know the users that existed before, so a page that lists one, or a create
//!   refused because such a user holds the identity, is no disagreement (`Model::partial`);
//! - requests that overlapped in time with a write to the same collection are judged each on
//!   its own, and the users the write named are forgotten: their order at the target is not
//!   known.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::check::{self, Context, Exchange, Finding};
use crate::json;
use crate::model::{By, Invalid, InvalidUpdate, Life, Model, Sent, Step};
use crate::runner::{CaseRecord, ExchangeSummary, Outcome};
use crate::spec::identity::{self, Lookup};
use crate::spec::{Edition, Operation, Severity, SidKind, UrlForm};

/// What a request addresses, read from its method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `POST` (create) or `GET` (read) on a Users collection.
    Collection {
        /// The URL form.
        form: UrlForm,
        /// Create or Read.
        op: Operation,
    },
    /// `GET`, `POST` or `DELETE` on one user, by sid or identity.
    Item {
        /// The URL form.
        form: UrlForm,
        /// The `{Sid}` path value, percent-decoded.
        key: String,
        /// Fetch, Update or Delete.
        op: Operation,
    },
    /// Anything else: another resource, a sub-resource of a user, another method.
    Uncovered,
}

impl Target {
    /// Whether the request asks for a change.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Target::Collection {
                op: Operation::Create,
                ..
            } | Target::Item {
                op: Operation::Update | Operation::Delete,
                ..
            }
        )
    }

    /// The URL form, for a request the contract covers.
    pub fn form(&self) -> Option<&UrlForm> {
        match self {
            Target::Collection { form, .. } | Target::Item { form, .. } => Some(form),
            Target::Uncovered => None,
        }
    }
}

/// Reads what a request addresses. `prefix` is the path of the upstream's base URL (empty,
/// or `/prefix` without a trailing slash); `path` is the request's path, still
/// percent-encoded.
pub fn classify(method: &str, prefix: &str, path: &str) -> Target {
    let Some(rest) = path.strip_prefix(prefix) else {
        return Target::Uncovered;
    };
    let segs: Vec<&str> = rest.strip_prefix('/').unwrap_or(rest).split('/').collect();
    let (form, tail) = match segs.as_slice() {
        ["v1", "Users", tail @ ..] => (UrlForm::Shortened, tail),
        ["v1", "Services", service, "Users", tail @ ..] if !service.is_empty() => {
            match identity::decode_segment(service) {
                Some(s) => (UrlForm::Service(s), tail),
                None => return Target::Uncovered,
            }
        }
        _ => return Target::Uncovered,
    };
    match (method, tail) {
        ("POST", []) => Target::Collection {
            form,
            op: Operation::Create,
        },
        ("GET", []) => Target::Collection {
            form,
            op: Operation::Read,
        },
        (m, [key]) if !key.is_empty() => {
            // A value that is not UTF-8 names no sid or identity.
            let Some(key) = identity::decode_segment(key) else {
                return Target::Uncovered;
            };
            let op = match m {
                "GET" => Operation::Fetch,
                "POST" => Operation::Update,
                "DELETE" => Operation::Delete,
                _ => return Target::Uncovered,
            };
            Target::Item { form, key, op }
        }
        _ => Target::Uncovered,
    }
}

/// One exchange as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The exchange: its URL on the judged base URL, credentials never in it.
    pub exchange: Exchange,
    /// When the request arrived (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// How long the upstream took, in milliseconds.
    pub elapsed_ms: u64,
    /// Whether it overlapped in time with another request on its collection where one of
    /// them wrote: then it is judged on its own, and what it wrote is forgotten.
    pub alone: bool,
    /// The account its credentials named, when they name one (`AC…` as the user name).
    pub account: Option<String>,
}

/// A walk of a collection the client is following page by page.
#[derive(Debug)]
struct Walk {
    view: usize,
    page_size: Option<u32>,
    pages: Vec<Seen>,
    /// `path?query` of the page the walk asks for next.
    next: Option<String>,
}

/// At most this many walks are followed at once; the oldest is judged as left unfinished.
const MAX_WALKS: usize = 64;

/// What judging the traffic of a session found, exchange by exchange.
pub struct Observer {
    model: Model,
    /// The path of the judged base URL (`""` or `/prefix`).
    prefix: String,
    walks: Vec<Walk>,
    records: BTreeMap<(Operation, &'static str), CaseRecord>,
    uncovered: BTreeMap<String, usize>,
    /// Exchanges judged on their own because they raced a write.
    raced: usize,
    /// Sids of the users the session's creates answered with.
    created: BTreeSet<String>,
    /// Collections (by key) that answered a request with a success: they exist.
    answered: BTreeSet<String>,
}

impl Observer {
    /// An observer of traffic to `base_url` (the base URL the upstream's answers are judged
    /// against), for `account` when known.
    pub fn new(
        base_url: &str,
        account: Option<&str>,
        default_service: Option<&str>,
        edition: Edition,
    ) -> Observer {
        let base = Context {
            edition,
            base_url: Some(base_url.trim_end_matches('/').to_owned()),
            account_sid: account.map(str::to_owned),
            ..Context::default()
        };
        let prefix = url::Url::parse(base_url)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Observer {
            model: Model::observing(default_service, base),
            prefix,
            walks: Vec::new(),
            records: BTreeMap::new(),
            uncovered: BTreeMap::new(),
            raced: 0,
            created: BTreeSet::new(),
            answered: BTreeSet::new(),
        }
    }

    /// What a request addresses.
    pub fn classify(&self, method: &str, path: &str) -> Target {
        classify(method, &self.prefix, path)
    }

    /// The collection a request addresses (`None` for one the contract does not cover), as
    /// a key that equals another request's exactly when both reach the same collection, as
    /// far as the session knows.
    pub fn collection(&self, target: &Target) -> Option<String> {
        Some(self.model.key_of(target.form()?))
    }

    /// The sids of the users the session's creates answered with.
    pub fn created(&self) -> &BTreeSet<String> {
        &self.created
    }

    /// Judges one exchange.
    pub fn observe(&mut self, seen: Seen) {
        if let Some(a) = &seen.account {
            self.model.learn_account(a);
        }
        let ex = &seen.exchange;
        let (path, query) = split_url(&ex.url);
        let target = self.classify(&ex.method, &path);
        let Some(form) = target.form().cloned() else {
            *self
                .uncovered
                .entry(format!("{} {}", ex.method, shape(&path)))
                .or_default() += 1;
            return;
        };
        let view = self.model.view_of(&form);
        self.learn_default_service(&form, ex);
        if (200..300).contains(&ex.status) {
            self.answered.insert(self.model.views[view].key.clone());
        }
        if target.writes() {
            // A write ends the walks of its collection that are under way: their pages so
            // far are judged against the world before it (a page the client asks for after
            // it is judged on its own).
            let key = self.model.views[view].key.clone();
            let (cut, kept): (Vec<Walk>, Vec<Walk>) = std::mem::take(&mut self.walks)
                .into_iter()
                .partition(|w| self.model.views[w.view].key == key);
            self.walks = kept;
            for w in cut {
                self.finish(w, false);
            }
        }
        if seen.alone {
            self.raced += 1;
            let op = op_of(&target);
            self.forget(&target, view, ex);
            let found = alone(&self.model.context(op, view), ex);
            self.record(op, view, &seen, found, &[]);
            return;
        }
        if matches!(ex.status, 401 | 403 | 429) {
            // Credentials, permissions or rate: about the caller, not the resource. The
            // error body is still Twilio's.
            let op = op_of(&target);
            let found = check::error_response(ex);
            self.record(op, view, &seen, found, &[]);
            return;
        }
        match target {
            Target::Collection {
                op: Operation::Create,
                ..
            } => self.create(view, seen),
            Target::Collection { .. } => self.read(view, seen, &path, query.as_deref()),
            Target::Item { key, op, .. } => self.item(view, op, &key, seen),
            Target::Uncovered => {}
        }
    }

    /// The default service, learned from the first user the shortened form shows.
    fn learn_default_service(&mut self, form: &UrlForm, ex: &Exchange) {
        if *form != UrlForm::Shortened
            || self.model.default_service().is_some()
            || !(200..300).contains(&ex.status)
        {
            return;
        }
        let Ok(body) = serde_json::from_slice::<Value>(&ex.response_body) else {
            return;
        };
        let sid = body
            .get("chat_service_sid")
            .or_else(|| body.pointer("/users/0/chat_service_sid"))
            .and_then(Value::as_str);
        if let Some(sid) = sid
            && SidKind::Service.matches(sid)
        {
            self.model.learn_default_service(sid);
        }
    }

    /// Forgets what a write that raced another request may have changed.
    fn forget(&mut self, target: &Target, view: usize, ex: &Exchange) {
        match target {
            Target::Collection {
                op: Operation::Create,
                ..
            } => {
                let params = form_params(&ex.request_body);
                if let Some(identity) = params.get("Identity") {
                    let u = self.model.new_user(view, identity.clone());
                    self.model.forget(u);
                }
            }
            Target::Item { key, op, .. } if *op != Operation::Fetch => {
                if let Some((u, _)) = self.resolve(view, key) {
                    self.model.forget(u);
                }
            }
            _ => {}
        }
    }

    fn create(&mut self, view: usize, seen: Seen) {
        let ex = &seen.exchange;
        let params = form_params(&ex.request_body);
        let step = match (params.get("Identity"), parse_sent(&params)) {
            (_, Err(SentError::Ambiguous)) => {
                let found = alone(&self.model.context(Operation::Create, view), ex);
                self.record(Operation::Create, view, &seen, found, &[]);
                return;
            }
            (None, _) => Step::Invalid {
                view,
                what: Invalid::MissingIdentity,
                identity: None,
            },
            (Some(id), _) if identity::classify(id) == Lookup::Sid => Step::Invalid {
                view,
                what: Invalid::SidShaped(id.clone()),
                identity: Some(id.clone()),
            },
            (Some(id), Err(SentError::Role(r))) => Step::Invalid {
                view,
                what: Invalid::MalformedRole(r),
                identity: Some(id.clone()),
            },
            (Some(id), Err(SentError::Attributes(a))) => Step::Invalid {
                view,
                what: Invalid::AttributesNotObject(a),
                identity: Some(id.clone()),
            },
            (Some(id), Ok(sent)) => {
                let user = self.model.new_user(view, id.clone());
                Step::Create { view, user, sent }
            }
        };
        if (200..300).contains(&ex.status)
            && let Ok(body) = serde_json::from_slice::<Value>(&ex.response_body)
            && let Some(sid) = body.get("sid").and_then(Value::as_str)
        {
            self.created.insert(sid.to_owned());
        }
        self.judge(Operation::Create, view, &step, seen);
    }

    fn read(&mut self, view: usize, seen: Seen, path: &str, query: Option<&str>) {
        let q: BTreeMap<String, String> = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let bounds = self
            .model
            .context(Operation::Read, view)
            .edition
            .page_size();
        let page_size = match q.get("PageSize") {
            None => None,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if bounds.contains(n) => u32::try_from(n).ok(),
                _ => {
                    let step = Step::Invalid {
                        view,
                        what: Invalid::PageSize(text.clone()),
                        identity: None,
                    };
                    self.judge(Operation::Read, view, &step, seen);
                    return;
                }
            },
        };
        let here = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let next = next_page(&seen.exchange);
        let first = !q.contains_key("Page") && !q.contains_key("PageToken");
        // The page a walk asked for next continues it, whatever it looks like (a server may
        // send a client back to a first page).
        let following = self
            .walks
            .iter()
            .position(|w| w.view == view && w.next.as_deref() == Some(here.as_str()));
        let walk = if let Some(w) = following {
            Some(w)
        } else if first {
            if self.walks.len() >= MAX_WALKS {
                let oldest = self.walks.remove(0);
                self.finish(oldest, false);
            }
            self.walks.push(Walk {
                view,
                page_size,
                pages: Vec::new(),
                next: None,
            });
            Some(self.walks.len() - 1)
        } else {
            None
        };
        let Some(w) = walk else {
            // A page the proxy did not see the walk of: judged with what the session knows,
            // but not for completeness.
            let step = Step::Read { view, page_size };
            self.judge(Operation::Read, view, &step, seen);
            return;
        };
        let ok = seen.exchange.status == 200;
        self.walks[w].pages.push(seen);
        self.walks[w].next = next.clone();
        if next.is_none() || !ok {
            let walk = self.walks.remove(w);
            self.finish(walk, ok);
        }
    }

    /// Judges a walk as one read (no write to its collection came between its pages): with
    /// completeness when it reached its last page.
    fn finish(&mut self, walk: Walk, ended: bool) {
        let Walk {
            view,
            page_size,
            pages,
            ..
        } = walk;
        if pages.is_empty() {
            return;
        }
        let step = Step::Read { view, page_size };
        let exs: Vec<Exchange> = pages.iter().map(|s| s.exchange.clone()).collect();
        let verdict = self.model.judge(&step, &exs, ended);
        let mut first = pages[0].clone();
        first.elapsed_ms = pages.iter().map(|p| p.elapsed_ms).sum();
        self.record(Operation::Read, view, &first, verdict.findings, &pages[1..]);
    }

    fn item(&mut self, view: usize, op: Operation, key: &str, seen: Seen) {
        let ex = &seen.exchange;
        let ctx = self.model.context(op, view);
        let known = self.resolve(view, key);
        let params = form_params(&ex.request_body);
        let sent = parse_sent(&params);
        if let Err(SentError::Ambiguous) = sent {
            let found = alone(&ctx, ex);
            self.record(op, view, &seen, found, &[]);
            return;
        }
        // Whatever answers a `{Sid}` path names the user the value is the sid or identity of.
        let mut found = named(key, ex);
        if ex.status == 404 {
            // Twilio's code for a resource not found, as the fixed cases require it; in a
            // service the session has not seen answer, also 20403, as `service::unknown`
            // allows for a service that is not there.
            let mut refusal = check::Refusal::of(
                "fetch.unknown-identity",
                &crate::spec::rules().errors.not_found,
            );
            let key = self.model.views[view].key.clone();
            if matches!(self.model.form(view), UrlForm::Service(_)) && !self.answered.contains(&key)
            {
                refusal.codes.push(20403);
            }
            found.extend(
                check::refusal(ex, &refusal)
                    .into_iter()
                    .filter(|f| f.check == "error.code.expected"),
            );
        }
        let known = match known {
            Some(k) => Some(k),
            None if (200..300).contains(&ex.status) && found.is_empty() => {
                if op == Operation::Delete {
                    self.learn_deleted(view, key);
                    found.extend(alone(&ctx, ex));
                    self.record(op, view, &seen, found, &[]);
                    return;
                }
                // A user that existed before the session: known from here on.
                let body = serde_json::from_slice::<Value>(&ex.response_body).ok();
                let sid = body
                    .as_ref()
                    .and_then(|b| b.get("sid"))
                    .and_then(Value::as_str);
                let identity = body
                    .as_ref()
                    .and_then(|b| b.get("identity"))
                    .and_then(Value::as_str);
                match (sid, identity, body.clone()) {
                    (Some(s), Some(i), Some(b)) if self.model.lookup(view, s).is_none() => {
                        let u = self.model.learn(view, s, i, b);
                        let by = if s == key { By::Sid } else { By::Identity };
                        if op == Operation::Fetch {
                            // What it showed is what it is: the exchange checks alone.
                            found.extend(alone(&ctx, ex));
                            self.record(op, view, &seen, found, &[]);
                            return;
                        }
                        self.model.users[u].last = None;
                        Some((u, by))
                    }
                    _ => None,
                }
            }
            None => None,
        };
        let Some((user, by)) = known else {
            found.extend(alone(&ctx, ex));
            self.record(op, view, &seen, found, &[]);
            return;
        };
        let step = match op {
            Operation::Fetch => Step::Fetch { user, view, by },
            Operation::Delete => Step::Delete { user, view, by },
            _ => match sent {
                Ok(sent) => Step::Update {
                    user,
                    view,
                    by,
                    sent,
                },
                Err(SentError::Role(r)) => Step::InvalidUpdate {
                    user,
                    what: InvalidUpdate::MalformedRole(r),
                },
                Err(SentError::Attributes(a)) => Step::InvalidUpdate {
                    user,
                    what: InvalidUpdate::AttributesNotObject(a),
                },
                Err(SentError::Ambiguous) => unreachable!("judged on its own above"),
            },
        };
        let extra = found;
        self.judge_with(op, view, &step, seen, extra);
    }

    /// A delete of a user the session had not seen: later lookups of it must find nothing.
    fn learn_deleted(&mut self, view: usize, key: &str) {
        let (sid, identity) = if identity::classify(key) == Lookup::Sid {
            (Some(key.to_owned()), "\u{0}(unknown identity)".to_owned())
        } else {
            (None, key.to_owned())
        };
        let u = self.model.new_user(view, identity);
        self.model.users[u].sid = sid;
        self.model.users[u].life = Life::Deleted;
    }

    /// Whom a `{Sid}` value names, as far as the session knows: the user alive in the
    /// collection with that sid or identity; else the user with that sid anywhere (deleted,
    /// or in another service); else the last user of the collection deleted with that
    /// identity.
    fn resolve(&self, view: usize, key: &str) -> Option<(usize, By)> {
        let m = &self.model;
        if let Some(u) = m.lookup(view, key) {
            let by = if m.users[u].sid.as_deref() == Some(key) {
                By::Sid
            } else {
                By::Identity
            };
            return Some((u, by));
        }
        if let Some(u) = m
            .users
            .iter()
            .rposition(|u| u.life != Life::Absent && u.sid.as_deref() == Some(key))
        {
            return Some((u, By::Sid));
        }
        m.users
            .iter()
            .rposition(|u| {
                u.life == Life::Deleted && u.identity == key && m.same_collection(u.view, view)
            })
            .map(|u| (u, By::Identity))
    }

    fn judge(&mut self, op: Operation, view: usize, step: &Step, seen: Seen) {
        self.judge_with(op, view, step, seen, Vec::new());
    }

    fn judge_with(
        &mut self,
        op: Operation,
        view: usize,
        step: &Step,
        seen: Seen,
        mut found: Vec<Finding>,
    ) {
        let verdict = self
            .model
            .judge(step, std::slice::from_ref(&seen.exchange), true);
        found.extend(verdict.findings);
        if verdict.diverged {
            // The target and the model no longer agree about these users: judging them
            // further would only repeat the disagreement.
            for u in step.addressed() {
                self.model.forget(u);
            }
        }
        self.record(op, view, &seen, found, &[]);
    }

    /// Files an exchange's findings under its operation and URL form, each naming the
    /// exchange and how to send it again.
    fn record(
        &mut self,
        op: Operation,
        view: usize,
        seen: &Seen,
        mut found: Vec<Finding>,
        more: &[Seen],
    ) {
        let form = match self.model.form(view) {
            UrlForm::Shortened => "shortened",
            UrlForm::Service(_) => "service",
        };
        let rec = self.records.entry((op, form)).or_insert_with(|| {
            CaseRecord::empty(
                format!("proxy::{}::{form}", op.as_str()),
                "proxy",
                form,
                Outcome::Passed,
            )
        });
        let line = seen.exchange.request_line();
        let summary = ExchangeSummary::from(&seen.exchange);
        let mut replay = format!(
            "{} at {}: {line} answered {}",
            if more.is_empty() {
                "the exchange"
            } else {
                "a walk's first page"
            },
            seen.at,
            seen.exchange.status
        );
        for p in more {
            replay.push_str(&format!(
                "\nthen at {}: {} answered {}",
                p.at,
                p.exchange.request_line(),
                p.exchange.status
            ));
        }
        replay.push('\n');
        replay.push_str(&crate::report::view::curl(&summary, true));
        dedup(&mut found);
        for f in &mut found {
            f.request = Some(line.clone());
            f.replay = Some(replay.clone());
        }
        if found.iter().any(|f| f.severity == Severity::Must) {
            rec.outcome = Outcome::Failed;
        }
        rec.findings.extend(found);
        rec.exchanges.push(summary);
        rec.exchanges
            .extend(more.iter().map(|p| ExchangeSummary::from(&p.exchange)));
        rec.duration_ms += seen.elapsed_ms;
        rec.chain += 1 + more.len();
    }

    /// Ends the session: unfinished walks are judged without completeness, and every record
    /// gets the checks that held on its operation and form.
    pub fn finish_session(&mut self) -> (Vec<CaseRecord>, Vec<String>) {
        for w in std::mem::take(&mut self.walks) {
            self.finish(w, false);
        }
        let held = self.model.held.clone();
        let mut records = Vec::new();
        for ((op, form), mut rec) in std::mem::take(&mut self.records) {
            if let Some(checks) = held.get(&(op, form)) {
                rec.held
                    .entry(op.as_str().to_owned())
                    .or_default()
                    .entry(form.to_owned())
                    .or_default()
                    .extend(checks.iter().map(|c| (*c).to_owned()));
            }
            records.push(rec);
        }
        let mut notes = Vec::new();
        let outside: usize = self.uncovered.values().sum();
        if outside > 0 {
            let list: Vec<String> = self
                .uncovered
                .iter()
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect();
            notes.push(format!(
                "{} outside the User resource passed through unjudged: {}",
                crate::runner::plural(outside, "exchange", "exchanges"),
                list.join(", ")
            ));
        }
        if self.raced > 0 {
            notes.push(format!(
                "{} overlapped in time with a write to the same collection: each was judged on its own, and the users those writes named were not judged further",
                crate::runner::plural(self.raced, "exchange", "exchanges")
            ));
        }
        (records, notes)
    }

    /// How many exchanges outside the contract passed through.
    pub fn uncovered(&self) -> usize {
        self.uncovered.values().sum()
    }
}

/// The operation a covered target is.
fn op_of(t: &Target) -> Operation {
    match t {
        Target::Collection { op, .. } | Target::Item { op, .. } => *op,
        Target::Uncovered => Operation::Fetch,
    }
}

/// An exchange judged on its own: a success by the exchange checks of its operation, an
/// error by Twilio's error body.
fn alone(ctx: &Context, ex: &Exchange) -> Vec<Finding> {
    if (200..300).contains(&ex.status) {
        check::exchange(ex, ctx)
    } else if ex.status >= 400 {
        check::error_response(ex)
    } else {
        Vec::new()
    }
}

/// A user answered for a `{Sid}` path must be the one the value names: its sid or its
/// identity is the value, byte for byte.
fn named(key: &str, ex: &Exchange) -> Vec<Finding> {
    if !(200..300).contains(&ex.status) || ex.response_body.is_empty() {
        return Vec::new();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&ex.response_body) else {
        return Vec::new();
    };
    let sid = body.get("sid").and_then(Value::as_str);
    let identity = body.get("identity").and_then(Value::as_str);
    if sid == Some(key) || identity == Some(key) {
        return Vec::new();
    }
    vec![Finding::new(
        "lookup.identity.exact",
        "/identity",
        format!("the user whose sid or identity is {key:?}"),
        format!(
            "sid {}, identity {}",
            sid.map_or("(none)".to_owned(), |s| format!("`{s}`")),
            identity.map_or("(none)".to_owned(), |i| format!("{i:?}"))
        ),
    )]
}

/// Findings said twice for one exchange (an exchange check and the model's) once.
fn dedup(found: &mut Vec<Finding>) {
    let mut seen = BTreeSet::new();
    found.retain(|f| seen.insert((f.check.clone(), f.pointer.clone(), f.actual.clone())));
}

/// Why the parameters of a write are not a plain create or update.
enum SentError {
    /// `RoleSid` breaking its pattern.
    Role(String),
    /// `Attributes` that are not a JSON object.
    Attributes(String),
    /// An empty `RoleSid`: many servers read an empty field as one not sent, and the
    /// documentation does not say which is right.
    Ambiguous,
}

fn parse_sent(params: &BTreeMap<String, String>) -> Result<Sent, SentError> {
    let mut sent = Sent {
        friendly_name: params.get("FriendlyName").cloned(),
        ..Sent::default()
    };
    if let Some(r) = params.get("RoleSid") {
        if r.is_empty() {
            return Err(SentError::Ambiguous);
        }
        if !SidKind::Role.matches(r) {
            return Err(SentError::Role(r.clone()));
        }
        sent.role_sid = Some(r.clone());
    }
    if let Some(a) = params.get("Attributes") {
        match json::parse(a) {
            Ok(j) if j.is_object() => sent.attributes = Some((a.clone(), j)),
            _ => return Err(SentError::Attributes(a.clone())),
        }
    }
    Ok(sent)
}

/// The form parameters of a request body (the last value of a repeated one).
fn form_params(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The path (still percent-encoded) and query of an absolute URL.
fn split_url(url: &str) -> (String, Option<String>) {
    match url::Url::parse(url) {
        Ok(u) => (u.path().to_owned(), u.query().map(str::to_owned)),
        Err(_) => (url.to_owned(), None),
    }
}

/// `path?query` of a page's `meta.next_page_url`, when it has one.
fn next_page(ex: &Exchange) -> Option<String> {
    if ex.status != 200 {
        return None;
    }
    let body: Value = serde_json::from_slice(&ex.response_body).ok()?;
    let next = body.pointer("/meta/next_page_url")?.as_str()?;
    let u = url::Url::parse(next).ok()?;
    Some(match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    })
}

/// A path with sid-like and identity-like segments shown as placeholders, for counting
/// uncovered requests without naming anyone.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let looks_sid = seg.len() == 34
                && seg[..2].bytes().all(|b| b.is_ascii_uppercase())
                && seg[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if looks_sid {
                format!("{{{}Sid}}", &seg[..2])
            } else if seg.is_empty()
                || seg.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && seg.chars().all(|c| c.is_ascii_alphanumeric())
                || seg == "v1"
                || seg == "v2"
            {
                seg.to_owned()
            } else {
                "{value}".to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
