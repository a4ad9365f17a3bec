//! One step's answers against what a correct server answers: the statuses, the exchange
//! checks, and every field against the world; then the world moves on.

use serde_json::Value;

use super::world::{By, Field, Life, Origin, Sent};
use super::{Action, Invalid, InvalidUpdate, Model, NOT_ONE_USER, Step, Verdict, body_hash};
use crate::check::{self, Exchange, Finding, Refusal, shown};
use crate::domain::{self, Relation};
use crate::json::{self, Same};
use crate::spec::{self, Doc, Operation};

/// A refusal judged by its MUST parts only: the status Twilio prefers is advice the fixed
/// cases give once, not on every generated request.
pub fn lenient(r: Refusal) -> Refusal {
    Refusal {
        preferred_status: None,
        ..r
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Says which identity a status finding concerns, since the URL shows it percent-encoded.
fn with_identity(mut f: Finding, identity: &str) -> Finding {
    f.message.push_str(&format!(" (identity {identity:?})"));
    f
}

fn success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn client_error(status: u16) -> bool {
    (400..500).contains(&status)
}

impl Model {
    pub(super) fn judge_step(&mut self, step: &Step, exs: &[Exchange], ended: bool) -> Verdict {
        let mut v = Verdict::default();
        if exs.is_empty() {
            return v;
        }
        match step {
            Step::Create { view, user, sent } => {
                self.judge_create(*view, *user, sent, &exs[0], &mut v)
            }
            Step::Fetch { user, view, by } => self.judge_fetch(*user, *view, *by, &exs[0], &mut v),
            Step::NearMiss {
                view,
                identity,
                relation,
                action,
                ..
            } => self.judge_near_miss(*view, identity, *relation, action, &exs[0], &mut v),
            Step::Update {
                user,
                view,
                by,
                sent,
            } => self.judge_update(*user, *view, *by, sent, &exs[0], &mut v),
            Step::Delete { user, view, by } => {
                self.judge_delete(*user, *view, *by, &exs[0], &mut v)
            }
            Step::Read { view, page_size } => {
                self.judge_read(*view, *page_size, exs, ended, &mut v)
            }
            Step::Burst { user, n } => self.judge_burst(*user, *n, exs, &mut v),
            Step::BurstDistinct { users } => self.judge_creates(users, &[], exs, &mut v),
            Step::Populate { users, sent, .. } => self.judge_creates(users, sent, exs, &mut v),
            Step::Group { .. } => {
                // Judged with the world read back afterwards: see `serial`.
                v.expected = "some serial order of the requests".to_owned();
            }
            Step::Invalid { view, what, .. } => self.judge_invalid(*view, what, &exs[0], &mut v),
            Step::InvalidUpdate { user, what } => {
                self.judge_invalid_update(*user, what, &exs[0], &mut v)
            }
        }
        v
    }

    /// Creates of distinct users, each answered by its exchange; `sent[i]` is what the i-th
    /// sent besides its identity (nothing when left out).
    fn judge_creates(&mut self, users: &[usize], sent: &[Sent], exs: &[Exchange], v: &mut Verdict) {
        v.expected = format!("201 for each of {} identities", users.len());
        let none = Sent::default();
        for (i, (u, ex)) in users.iter().zip(exs).enumerate() {
            let view = self.users[*u].view;
            let mut one = Verdict::default();
            self.judge_create(view, *u, sent.get(i).unwrap_or(&none), ex, &mut one);
            v.absorb(one);
        }
    }

    /// The exchange checks of a success, once per distinct body seen through an operation
    /// and a view: a body seen clean before is clean again.
    pub(super) fn exchange_checks(
        &mut self,
        op: Operation,
        view: usize,
        ex: &Exchange,
        ctx: &check::Context,
    ) -> Vec<Finding> {
        let key = body_hash(op, view, &ex.response_body) ^ u64::from(ex.status);
        if self.clean.contains(&key) {
            return Vec::new();
        }
        let found = check::exchange(ex, ctx);
        if found.is_empty() {
            self.clean.insert(key);
            let held = check::exchange_checks(op);
            self.hold(op, view, &held);
        }
        found
    }

    /// Whoever holds `user`'s identity in `view`'s collection now, else `user`: a request by
    /// identity reaches the user that has it there when it is answered (one created again
    /// after `user` was deleted, or the user of another service that has the same identity).
    fn holder(&self, user: usize, view: usize, by: By) -> usize {
        if by == By::Identity {
            return self
                .alive_with(view, &self.users[user].identity)
                .unwrap_or(user);
        }
        user
    }

    pub(super) fn judge_create(
        &mut self,
        view: usize,
        user: usize,
        sent: &Sent,
        ex: &Exchange,
        v: &mut Verdict,
    ) {
        let identity = self.users[user].identity.clone();
        // An identity the server took before (then deleted) is no value it may refuse now.
        let taken_before = self.is_recreate(user);
        let arguable =
            (!domain::is_plain(&self.users[user].tail) && !taken_before) || sent.arguable();
        if let Some(other) = self.alive_with(view, &identity) {
            v.expected = format!("4xx: the identity is user #{other}'s");
            // Values a server may refuse for themselves may be refused first, in their own
            // words: then any 4xx with Twilio's error body will do.
            let refusal = if sent.arguable() {
                Refusal::client_error("create.identity.duplicate", None)
            } else {
                lenient(Refusal::any_4xx(
                    "create.identity.duplicate",
                    &spec::rules().errors.duplicate_identity,
                ))
            };
            let found = check::refusal(ex, &refusal);
            if found.is_empty() {
                self.hold(Operation::Create, view, &["create.identity.duplicate"]);
            }
            v.findings.extend(found);
            v.diverged |= success(ex.status);
            return;
        }
        let recreate = self.is_recreate(user);
        v.expected = if recreate {
            "201: the identity is free again after its user was deleted".to_owned()
        } else if arguable {
            "201 with every value as sent, or 4xx with Twilio's error body".to_owned()
        } else {
            "201 with every value as sent".to_owned()
        };
        if !success(ex.status) {
            // A model of part of the collection cannot know that the identity is free: a
            // user it never saw may hold it.
            let unseen = self.partial && !recreate;
            if client_error(ex.status) && (arguable || unseen) {
                // The documentation is silent about these values: a refusal is an answer.
                v.findings.extend(check::error_response(ex));
                return;
            }
            let check = if recreate {
                "create.identity.reusable"
            } else {
                "create.status"
            };
            v.findings.push(with_identity(
                Finding::new(check, "@status", "201", ex.status.to_string()),
                &identity,
            ));
            v.diverged = true;
            return;
        }
        let mut ctx = self.context(Operation::Create, view);
        ctx.known.identity = Some(identity.clone());
        ctx.known.ever_online = Some(false);
        ctx.known.ever_registered = Some(false);
        let found = self.exchange_checks(Operation::Create, view, ex, &ctx);
        v.findings.extend(found);
        let Some(body) = check::parse_json(Doc::User, &ex.response_body).ok() else {
            v.diverged = true;
            return;
        };
        let u = &mut self.users[user];
        u.sid = body.get("sid").and_then(Value::as_str).map(str::to_owned);
        u.life = Life::Alive;
        u.view = view;
        if let Some(f) = &sent.friendly_name {
            u.friendly_name = Field {
                value: Some(f.clone()),
                origin: Origin::Create,
            };
        }
        if let Some((_, a)) = &sent.attributes {
            u.attributes = Field {
                value: a.clone(),
                origin: Origin::Create,
            };
        }
        match &sent.role_sid {
            Some(r) => {
                u.role_sid = Field {
                    value: Some(r.clone()),
                    origin: Origin::Create,
                }
            }
            None => {
                // The service's default role: learned from the answer, then held to it.
                let role = body
                    .get("role_sid")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                u.role_sid = Field {
                    value: role.clone(),
                    origin: Origin::Default,
                };
                let key = self.views[view].key.clone();
                if let Some(r) = role
                    && spec::SidKind::Role.matches(&r)
                    && !self.roles.iter().any(|(k, x)| *k == key && *x == r)
                {
                    self.roles.push((key, r));
                }
            }
        }
        let agree = self.agree(user, &body, "create");
        if agree.is_empty() {
            self.hold(
                Operation::Create,
                view,
                &[
                    "create.status",
                    "user.identity.echo",
                    "create.friendly_name.echo",
                    "create.attributes.echo",
                    "create.role_sid.echo",
                    "create.friendly_name.default",
                    "create.attributes.default",
                ],
            );
            if recreate {
                self.hold(Operation::Create, view, &["create.identity.reusable"]);
            }
        }
        v.diverged |= agree.iter().any(|f| f.check == "user.identity.echo");
        v.findings.extend(agree);
        self.users[user].last = Some(body);
    }

    /// Compares a user's JSON with the model: identity byte for byte, the fields as the
    /// model holds them (attributes value for value). `during` names the operation whose
    /// checks the disagreements are reported under (`create`, `fetch`, `update`, `read`).
    pub(super) fn agree(&self, user: usize, body: &Value, during: &str) -> Vec<Finding> {
        let u = &self.users[user];
        let mut out = Vec::new();
        let got = |k: &str| body.get(k);
        if got("identity").and_then(Value::as_str) != Some(u.identity.as_str()) {
            out.push(Finding::new(
                "user.identity.echo",
                "/identity",
                format!("{:?}", u.identity),
                shown(got("identity")),
            ));
        }
        if let Some(sid) = &u.sid
            && got("sid").and_then(Value::as_str) != Some(sid.as_str())
        {
            let check = if during == "read" {
                "read.user.agrees"
            } else {
                "lookup.identity.same"
            };
            out.push(Finding::new(
                check,
                "/sid",
                format!("`{sid}`"),
                shown(got("sid")),
            ));
        }
        let id = |origin: Origin, field: &str| -> &'static str {
            match (during, origin, field) {
                ("read", _, _) => "read.user.agrees",
                (_, Origin::Update, _) => "update.applied",
                (_, Origin::Create, "friendly_name") => "create.friendly_name.echo",
                (_, Origin::Create, "attributes") => "create.attributes.echo",
                (_, Origin::Create, _) => "create.role_sid.echo",
                (_, _, "friendly_name") => "create.friendly_name.default",
                (_, _, "attributes") => "create.attributes.default",
                _ => "create.role_sid.echo",
            }
        };
        let fname = got("friendly_name");
        let fname_ok = match &u.friendly_name.value {
            // An empty FriendlyName may be kept as "" or as null.
            Some(f) if f.is_empty() => fname.is_none_or(|v| v.is_null() || v == ""),
            Some(f) => fname.and_then(Value::as_str) == Some(f.as_str()),
            None => fname.is_none_or(Value::is_null),
        };
        if !fname_ok && u.friendly_name.origin != Origin::Unknown {
            out.push(Finding::new(
                id(u.friendly_name.origin, "friendly_name"),
                "/friendly_name",
                match &u.friendly_name.value {
                    Some(f) => format!("{f:?}"),
                    None => "null".to_owned(),
                },
                shown(fname),
            ));
        }
        if u.attributes.origin != Origin::Unknown {
            let text = got("attributes").and_then(Value::as_str);
            let parsed = text.and_then(|t| json::parse(t).ok());
            let want = &u.attributes.value;
            match parsed.as_ref().map(|p| (p, json::compare(want, p))) {
                Some((_, Same::Exact)) => {}
                Some((p, Same::AsDoubles)) => {
                    out.push(Finding::new(
                        "create.attributes.precision",
                        "/attributes",
                        clip(&want.render()),
                        clip(&p.render()),
                    ));
                }
                _ => out.push(Finding::new(
                    id(u.attributes.origin, "attributes"),
                    "/attributes",
                    clip(&want.render()),
                    shown(got("attributes")),
                )),
            }
        }
        if u.role_sid.origin != Origin::Unknown
            && let Some(r) = &u.role_sid.value
            && got("role_sid").and_then(Value::as_str) != Some(r.as_str())
        {
            out.push(Finding::new(
                id(u.role_sid.origin, "role_sid"),
                "/role_sid",
                format!("`{r}`"),
                shown(got("role_sid")),
            ));
        }
        out
    }

    pub(super) fn judge_fetch(
        &mut self,
        user: usize,
        view: usize,
        by: By,
        ex: &Exchange,
        v: &mut Verdict,
    ) {
        let user = self.holder(user, view, by);
        let u = &self.users[user];
        let here = self.same_collection(u.view, view);
        if u.life == Life::Alive && here {
            if v.expected.is_empty() {
                v.expected = format!("200: user #{user} as the model holds it");
            }
            if ex.status != 200 {
                let check = if by == By::Sid {
                    "fetch.status"
                } else if u.tail.chars().any(|c| domain::RESERVED.contains(c)) {
                    "lookup.identity.reserved"
                } else if !domain::is_plain(&u.tail) {
                    "lookup.identity.encoded"
                } else {
                    "fetch.status"
                };
                v.findings.push(with_identity(
                    Finding::new(check, "@status", "200", ex.status.to_string()),
                    &u.identity,
                ));
                v.diverged = true;
                return;
            }
            let mut ctx = self.context(Operation::Fetch, view);
            ctx.known.identity = Some(u.identity.clone());
            ctx.known.ever_online = Some(false);
            ctx.known.ever_registered = Some(false);
            let found = self.exchange_checks(Operation::Fetch, view, ex, &ctx);
            v.findings.extend(found);
            if let Ok(body) = check::parse_json(Doc::User, &ex.response_body) {
                let agree = self.agree(user, &body, "fetch");
                if agree.is_empty() {
                    let held: &[&str] = if by == By::Identity {
                        &[
                            "fetch.status",
                            "lookup.identity.same",
                            "lookup.identity.encoded",
                        ]
                    } else {
                        &["fetch.status", "lookup.identity.same"]
                    };
                    self.hold(Operation::Fetch, view, held);
                }
                v.diverged |= !agree.is_empty();
                v.findings.extend(agree);
                self.users[user].last = Some(body);
            }
            return;
        }
        v.expected = match (u.life, here) {
            (Life::Deleted, _) => format!("404: user #{user} was deleted"),
            (_, false) => format!("404: user #{user} is in another service"),
            _ => format!("404: user #{user} was never created"),
        };
        let check = match (u.life, here) {
            (Life::Deleted, _) => "delete.then-404",
            (_, false) => "service.isolation",
            _ if by == By::Sid => "fetch.unknown-sid",
            _ => "fetch.unknown-identity",
        };
        if ex.status == 404 {
            v.findings.extend(check::error_response(ex));
            self.hold(Operation::Fetch, view, &[check]);
            return;
        }
        let identity = u.identity.clone();
        v.findings.push(with_identity(
            Finding::new(check, "@status", "404", ex.status.to_string()),
            &identity,
        ));
        v.diverged = true;
    }

    fn judge_near_miss(
        &mut self,
        view: usize,
        identity: &str,
        relation: Relation,
        action: &Action,
        ex: &Exchange,
        v: &mut Verdict,
    ) {
        let op = action.operation();
        if let Some(owner) = self.alive_with(view, identity) {
            // Some user has exactly this identity: the request is an ordinary one.
            match action {
                Action::Fetch => {
                    v.expected = format!("200: user #{owner}");
                    self.judge_fetch(owner, view, By::Identity, ex, v)
                }
                Action::Update(sent) => self.judge_update(owner, view, By::Identity, sent, ex, v),
                Action::Delete => self.judge_delete(owner, view, By::Identity, ex, v),
            }
            return;
        }
        v.expected = format!(
            "404: no user has this identity ({} left as it was)",
            op.as_str()
        );
        if ex.status == 404 {
            v.findings.extend(check::error_response(ex));
            self.hold(op, view, &["lookup.identity.exact"]);
            if relation == Relation::CaseVariant {
                self.hold(op, view, &["lookup.identity.case-sensitive"]);
            }
            return;
        }
        // A refusal of a value the documentation leaves open (a write with arguable
        // parameters) is as good as a 404: nothing was found or changed.
        if let Action::Update(sent) = action
            && sent.arguable()
            && client_error(ex.status)
        {
            v.findings.extend(check::error_response(ex));
            return;
        }
        let check = match (relation, op) {
            (Relation::CaseVariant, _) => "lookup.identity.case-sensitive",
            (_, Operation::Fetch) if !relation.is_engine() => "fetch.unknown-identity",
            _ => "lookup.identity.exact",
        };
        let mut f = with_identity(
            Finding::new(check, "@status", "404", ex.status.to_string()),
            identity,
        );
        // Name the user the target took it for, when its answer shows one.
        if let Ok(body) = serde_json::from_slice::<Value>(&ex.response_body)
            && let Some(sid) = body.get("sid").and_then(Value::as_str)
            && let Some(u) = self
                .users
                .iter()
                .position(|u| u.sid.as_deref() == Some(sid))
        {
            f.message.push_str(&format!(
                ": the target took it for user #{u}'s {:?}",
                self.users[u].identity
            ));
        }
        v.findings.push(f);
        v.diverged = true;
    }

    pub(super) fn judge_update(
        &mut self,
        user: usize,
        view: usize,
        by: By,
        sent: &Sent,
        ex: &Exchange,
        v: &mut Verdict,
    ) {
        let user = self.holder(user, view, by);
        let u = &self.users[user];
        let arguable = sent.arguable();
        if u.life != Life::Alive || !self.same_collection(u.view, view) {
            v.expected = format!("404: user #{user} is not there");
            if ex.status != 404 && !(arguable && client_error(ex.status)) {
                v.findings.push(Finding::new(
                    if u.life == Life::Deleted {
                        "delete.then-404"
                    } else {
                        "fetch.unknown-identity"
                    },
                    "@status",
                    "404",
                    ex.status.to_string(),
                ));
                v.diverged = true;
            }
            return;
        }
        v.expected = if arguable {
            format!("200: user #{user} with the values sent, or 4xx with Twilio's error body")
        } else {
            format!("200: user #{user} with the values sent, the others kept")
        };
        if ex.status != 200 {
            if arguable && client_error(ex.status) {
                v.findings.extend(check::error_response(ex));
                return;
            }
            let check = if by == By::Identity {
                "update.by-identity"
            } else {
                "update.status"
            };
            v.findings
                .push(Finding::new(check, "@status", "200", ex.status.to_string()));
            v.diverged = true;
            return;
        }
        let mut ctx = self.context(Operation::Update, view);
        ctx.known.identity = Some(u.identity.clone());
        let before = u.last.clone();
        let found = self.exchange_checks(Operation::Update, view, ex, &ctx);
        v.findings.extend(found);
        let Ok(after) = check::parse_json(Doc::User, &ex.response_body) else {
            v.diverged = true;
            return;
        };
        if let Some(before) = &before {
            // Dates: identity and date_created kept, date_updated not earlier.
            let dates = check::updated(before, &after, &check::UpdateParams::default(), false);
            v.findings.extend(dates.into_iter().filter(|f| {
                matches!(
                    f.check.as_str(),
                    "update.identity.unchanged"
                        | "update.date_created.unchanged"
                        | "update.date_updated.moves"
                )
            }));
        }
        self.apply_update(user, sent);
        // What was not sent must be as it was: report those as `update.others.unchanged`.
        let mut agree = self.agree(user, &after, "update");
        for f in &mut agree {
            let field = f.pointer.trim_start_matches('/');
            let untouched = match field {
                "friendly_name" => sent.friendly_name.is_none(),
                "attributes" => sent.attributes.is_none(),
                "role_sid" => sent.role_sid.is_none(),
                _ => false,
            };
            if untouched && f.check != "create.attributes.precision" {
                *f = Finding::new(
                    "update.others.unchanged",
                    f.pointer.clone(),
                    f.expected.clone(),
                    f.actual.clone(),
                );
            }
        }
        if agree.is_empty() {
            let held: &[&str] = if by == By::Identity {
                &[
                    "update.status",
                    "update.applied",
                    "update.others.unchanged",
                    "update.by-identity",
                ]
            } else {
                &["update.status", "update.applied", "update.others.unchanged"]
            };
            self.hold(Operation::Update, view, held);
        }
        v.diverged |= agree.iter().any(|f| f.severity == spec::Severity::Must);
        v.findings.extend(agree);
        self.users[user].last = Some(after);
    }

    /// The world after an update of `user` with `sent` was acknowledged.
    pub(super) fn apply_update(&mut self, user: usize, sent: &Sent) {
        let u = &mut self.users[user];
        if let Some(f) = &sent.friendly_name {
            u.friendly_name = Field {
                value: Some(f.clone()),
                origin: Origin::Update,
            };
        }
        if let Some((_, a)) = &sent.attributes {
            u.attributes = Field {
                value: a.clone(),
                origin: Origin::Update,
            };
        }
        if let Some(r) = &sent.role_sid {
            u.role_sid = Field {
                value: Some(r.clone()),
                origin: Origin::Update,
            };
        }
    }

    pub(super) fn judge_delete(
        &mut self,
        user: usize,
        view: usize,
        by: By,
        ex: &Exchange,
        v: &mut Verdict,
    ) {
        let user = self.holder(user, view, by);
        let u = &self.users[user];
        let here = self.same_collection(u.view, view);
        if u.life == Life::Deleted
            && here
            && self
                .racing_deleted
                .as_ref()
                .is_some_and(|d| d.contains(&user))
        {
            // Deleted by another request of the same group: HTTP makes DELETE idempotent
            // (RFC 9110, 9.2.2), so a server that looked the user up before the other
            // request removed it may acknowledge the delete too. The effect is the same;
            // the world read back afterwards still must not show the user.
            v.expected = format!(
                "404, or 204 (idempotent): user #{user} was deleted by a request sent at once"
            );
            if ex.status == 204 {
                let ctx = self.context(Operation::Delete, view);
                v.findings.extend(check::exchange(ex, &ctx));
            } else if ex.status != 404 {
                v.findings.push(Finding::new(
                    "delete.then-404",
                    "@status",
                    "404 or 204",
                    ex.status.to_string(),
                ));
                v.diverged = true;
            }
            return;
        }
        if u.life != Life::Alive || !here {
            v.expected = format!("404: user #{user} is not there");
            if ex.status != 404 {
                v.findings.push(Finding::new(
                    "delete.then-404",
                    "@status",
                    "404",
                    ex.status.to_string(),
                ));
                v.diverged = true;
            }
            return;
        }
        v.expected = format!("204: user #{user} deleted");
        if ex.status != 204 {
            let check = if by == By::Identity {
                "delete.by-identity"
            } else {
                "delete.status"
            };
            v.findings
                .push(Finding::new(check, "@status", "204", ex.status.to_string()));
            v.diverged = true;
            return;
        }
        let mut ctx = self.context(Operation::Delete, view);
        ctx.known.identity = Some(u.identity.clone());
        let found = check::exchange(ex, &ctx);
        if found.is_empty() {
            let held: &[&str] = if by == By::Identity {
                &["delete.status", "delete.body.empty", "delete.by-identity"]
            } else {
                &["delete.status", "delete.body.empty"]
            };
            self.hold(Operation::Delete, view, held);
        }
        v.findings.extend(found);
        self.users[user].life = Life::Deleted;
        if let Some(d) = &mut self.racing_deleted {
            d.insert(user);
        }
    }

    pub(super) fn judge_read(
        &mut self,
        view: usize,
        page_size: Option<u32>,
        exs: &[Exchange],
        ended: bool,
        v: &mut Verdict,
    ) {
        let size = page_size.map_or("the default".to_owned(), |n| n.to_string());
        v.expected = format!(
            "200 pages of at most {size} users; each of the sequence's {} users in this service once",
            self.users
                .iter()
                .filter(|u| u.life == Life::Alive && self.same_collection(u.view, view))
                .count()
        );
        let ctx = self.context(Operation::Read, view);
        let mut seen: Vec<(usize, usize)> = Vec::new();
        for (page, ex) in exs.iter().enumerate() {
            if ex.status != 200 {
                v.findings.push(Finding::new(
                    "read.status",
                    "@status",
                    "200",
                    ex.status.to_string(),
                ));
                v.about.insert(NOT_ONE_USER);
                v.diverged = true;
                return;
            }
            // A page of a shared collection holds every other case's and client's users:
            // only the sequence's own are parsed whole and judged, the page's metadata
            // against all of them.
            let namespace = self.namespace.clone();
            let Some(sparse) =
                check::sparse_page(&ex.response_body, &|i| i.starts_with(&namespace))
            else {
                v.findings.extend(check::exchange(ex, &ctx));
                v.about.insert(NOT_ONE_USER);
                v.diverged = true;
                return;
            };
            let before = v.findings.len();
            v.findings.extend(check::sparse_exchange(ex, &ctx, &sparse));
            if v.findings.len() > before {
                v.about.insert(NOT_ONE_USER);
            }
            let users = sparse.body.get("users").and_then(Value::as_array);
            for (k, listed) in users.into_iter().flatten().enumerate() {
                let i = sparse.kept[k];
                let Some(identity) = listed.get("identity").and_then(Value::as_str) else {
                    continue;
                };
                let sid = listed.get("sid").and_then(Value::as_str);
                let known = self
                    .users
                    .iter()
                    .position(|u| u.sid.as_deref() == sid && sid.is_some());
                match known {
                    Some(u)
                        if self.users[u].life == Life::Alive
                            && self.same_collection(self.users[u].view, view) =>
                    {
                        seen.push((u, page));
                        let mut agree = self.agree(u, listed, "read");
                        for f in &mut agree {
                            f.pointer = format!("/users/{i}{}", f.pointer);
                        }
                        if !agree.is_empty() {
                            v.about.insert(u);
                        }
                        v.diverged |= !agree.is_empty();
                        v.findings.extend(agree);
                    }
                    Some(u) if self.users[u].life == Life::Deleted => {
                        v.findings.push(Finding::new(
                            "delete.then-404",
                            format!("/users/{i}"),
                            format!("no user #{u}: it was deleted"),
                            format!("`{}` on page {page}", sid.unwrap_or_default()),
                        ));
                        v.about.insert(u);
                        v.diverged = true;
                    }
                    // A user the model never saw: the sequence's own namespace holds
                    // only its users, but a model of observed traffic knows only part.
                    None if self.partial => {}
                    _ => {
                        v.findings.push(Finding::new(
                            "read.user.agrees",
                            format!("/users/{i}"),
                            "only users the sequence created in this service",
                            format!("{identity:?} on page {page}"),
                        ));
                        v.about.insert(NOT_ONE_USER);
                        v.diverged = true;
                    }
                }
            }
        }
        if !ended {
            // A walk cut short shows no user twice all the same.
            for (u, user) in self.users.iter().enumerate() {
                let pages: Vec<usize> = seen
                    .iter()
                    .filter(|(s, _)| *s == u)
                    .map(|(_, p)| *p)
                    .collect();
                if pages.len() > 1 {
                    v.findings.push(Finding::new(
                        "page.walk.complete",
                        "/users",
                        format!("user #{u} (`{}`) once", user.sid.as_deref().unwrap_or("?")),
                        format!("{} times, on pages {pages:?}", pages.len()),
                    ));
                    v.about.insert(u);
                    v.diverged = true;
                }
            }
            return;
        }
        let mut complete = true;
        for (u, user) in self.users.iter().enumerate() {
            if user.life != Life::Alive || !self.same_collection(user.view, view) {
                continue;
            }
            let pages: Vec<usize> = seen
                .iter()
                .filter(|(s, _)| *s == u)
                .map(|(_, p)| *p)
                .collect();
            if pages.len() != 1 {
                complete = false;
                v.findings.push(Finding::new(
                    "page.walk.complete",
                    "/users",
                    format!("user #{u} (`{}`) once", user.sid.as_deref().unwrap_or("?")),
                    if pages.is_empty() {
                        format!("missing from all {} pages", exs.len())
                    } else {
                        format!("{} times, on pages {pages:?}", pages.len())
                    },
                ));
                v.about.insert(u);
                v.diverged = true;
            }
        }
        if complete && v.findings.is_empty() {
            self.hold(
                Operation::Read,
                view,
                &["read.status", "page.walk.complete", "read.user.agrees"],
            );
        }
    }

    fn judge_burst(&mut self, user: usize, n: usize, exs: &[Exchange], v: &mut Verdict) {
        let view = self.users[user].view;
        let arguable = !domain::is_plain(&self.users[user].tail);
        v.expected = format!("exactly one 201 of {n} creates at once, the others 4xx");
        let won: Vec<usize> = (0..exs.len()).filter(|&i| success(exs[i].status)).collect();
        if won.len() > 1 {
            v.findings.push(Finding::new(
                "create.identity.duplicate",
                "@status",
                format!("one 201 of {n} creates of one identity at once"),
                format!("{} of them answered {}", won.len(), exs[won[1]].status),
            ));
            v.diverged = true;
            return;
        }
        let refusal = lenient(Refusal::any_4xx(
            "create.identity.duplicate",
            &spec::rules().errors.duplicate_identity,
        ));
        match won.first() {
            Some(&w) => {
                self.judge_create(view, user, &Sent::default(), &exs[w], v);
                v.expected = format!("exactly one 201 of {n} creates at once, the others 4xx");
                for (i, ex) in exs.iter().enumerate() {
                    if i != w {
                        v.findings.extend(check::refusal(ex, &refusal));
                    }
                }
            }
            None if arguable && exs.iter().all(|e| client_error(e.status)) => {
                for ex in exs {
                    v.findings.extend(check::error_response(ex));
                }
            }
            None => {
                v.findings.push(Finding::new(
                    "create.status",
                    "@status",
                    format!("one 201 of {n} creates of one identity at once"),
                    format!(
                        "none: {}",
                        exs.iter()
                            .map(|e| e.status.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                v.diverged = true;
            }
        }
    }

    fn judge_invalid(&mut self, view: usize, what: &Invalid, ex: &Exchange, v: &mut Verdict) {
        let errors = &spec::rules().errors;
        let refusal = lenient(match what {
            Invalid::SidShaped(_) => {
                Refusal::any_4xx("create.identity.sid-shaped", &errors.sid_shaped_identity)
            }
            Invalid::MissingIdentity => {
                Refusal::of("create.identity.required", &errors.missing_identity)
            }
            Invalid::MalformedRole(_) => Refusal::status("create.role_sid.malformed", 400),
            Invalid::AttributesNotObject(_) => {
                Refusal::client_error("create.attributes.invalid", None)
            }
            Invalid::PageSize(_) => {
                self.judge_page_size_refused(ex, v);
                return;
            }
        });
        v.expected = format!("4xx: refused ({})", refusal.check);
        if success(ex.status)
            && let Invalid::AttributesNotObject(_) = what
        {
            // Accepted: the attributes must still read back as a JSON object.
            let mut ctx = self.context(Operation::Create, view);
            ctx.known.identity = None;
            v.findings.extend(check::exchange(ex, &ctx));
        }
        let found = check::refusal(ex, &refusal);
        if found.is_empty() {
            let id: &'static str = match what {
                Invalid::SidShaped(_) => "create.identity.sid-shaped",
                Invalid::MissingIdentity => "create.identity.required",
                Invalid::MalformedRole(_) => "create.role_sid.malformed",
                _ => "create.attributes.invalid",
            };
            self.hold(Operation::Create, view, &[id]);
        }
        v.findings.extend(found);
    }

    /// As the fixed `read::page-size-bounds`: a refusal, or a page whose size stays within
    /// the bounds (clamping is allowed).
    fn judge_page_size_refused(&mut self, ex: &Exchange, v: &mut Verdict) {
        let bounds = self.base.edition.page_size();
        v.expected = format!("4xx, or a page of at most {} users", bounds.max);
        if client_error(ex.status) {
            v.findings.extend(check::error_response(ex));
            return;
        }
        let body = check::parse_json(Doc::UsersPage, &ex.response_body).ok();
        let size = body
            .as_ref()
            .and_then(|b| b.pointer("/meta/page_size").and_then(Value::as_i64));
        let n = body
            .as_ref()
            .and_then(|b| b.get("users").and_then(Value::as_array).map(Vec::len));
        let within = ex.status == 200
            && size.is_some_and(|s| bounds.contains(s))
            && n.is_some_and(|n| n <= bounds.max as usize);
        if !within {
            v.findings.push(Finding::new(
                "page.size.bounds",
                "/meta/page_size",
                format!(
                    "a 4xx, or a page_size within {}..={}",
                    bounds.min, bounds.max
                ),
                format!(
                    "{} with page_size {} and {} users",
                    ex.status,
                    size.map_or("(none)".to_owned(), |s| s.to_string()),
                    n.map_or("no".to_owned(), |n| n.to_string())
                ),
            ));
        }
    }

    fn judge_invalid_update(
        &mut self,
        user: usize,
        what: &InvalidUpdate,
        ex: &Exchange,
        v: &mut Verdict,
    ) {
        let (check, refusal) = match what {
            InvalidUpdate::MalformedRole(_) => (
                "create.role_sid.malformed",
                lenient(Refusal::status("create.role_sid.malformed", 400)),
            ),
            InvalidUpdate::AttributesNotObject(_) => (
                "create.attributes.invalid",
                Refusal::client_error("create.attributes.invalid", None),
            ),
        };
        v.expected = format!("4xx: refused ({check}), the user unchanged");
        if self.users[user].life != Life::Alive {
            v.expected = "404 or 4xx: the user is gone".to_owned();
            if success(ex.status) {
                v.findings.push(Finding::new(
                    "delete.then-404",
                    "@status",
                    "404",
                    ex.status.to_string(),
                ));
                v.diverged = true;
            }
        } else if success(ex.status) {
            v.findings.extend(check::refusal(ex, &refusal));
            // Accepted: what it holds now is unknown to the model.
            let u = &mut self.users[user];
            match what {
                InvalidUpdate::MalformedRole(_) => u.role_sid.origin = Origin::Unknown,
                InvalidUpdate::AttributesNotObject(_) => u.attributes.origin = Origin::Unknown,
            }
        } else {
            v.findings.extend(check::refusal(ex, &refusal));
        }
    }
}
