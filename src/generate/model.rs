//! The reference model of a generated sequence: the users of each service the sequence
//! touched, as the documentation says they must be. Pure: it resolves an operation into a
//! concrete step, and judges the target's answers to that step, updating itself.
//!
//! The model knows only the sequence's own users (identities in its namespace), so it holds
//! while other cases and sequences write to the same collections.

use serde_json::Value;

use super::program::{By, Index, Invalid, InvalidUpdate, Op, Params, Who};
use crate::check::{self, Context, Exchange, Finding, Refusal, shown};
use crate::domain::{self, Relation};
use crate::spec::{self, Doc, Operation, UrlForm};

/// Where a field's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The documented default.
    Default,
    /// Set by the create.
    Create,
    /// Set by an update.
    Update,
    /// Unknown (an invalid value the target accepted): not compared.
    Unknown,
}

/// A field the model knows, and where its value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// Who set it.
    pub origin: Origin,
}

/// Whether a user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Not created (yet, or the target refused a value the documentation leaves open).
    Absent,
    /// Created and not deleted.
    Alive,
    /// Deleted.
    Deleted,
}

/// A user the sequence named.
#[derive(Debug, Clone)]
pub struct User {
    /// The index of the URL form it was created through.
    pub form: usize,
    /// The part of its identity after the namespace.
    pub tail: String,
    /// Its identity.
    pub identity: String,
    /// Its sid, once the target named it.
    pub sid: Option<String>,
    /// Whether it exists.
    pub life: Life,
    /// `friendly_name` (None is null).
    pub friendly_name: Field<Option<String>>,
    /// `attributes`, as a JSON value.
    pub attributes: Field<Value>,
    /// `role_sid`, once known.
    pub role_sid: Field<Option<String>>,
    /// The last answer that showed it, for the update checks.
    pub last: Option<Value>,
}

/// The parameters of a create or an update as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Attributes` (the text sent) and the value it holds.
    pub attributes: Option<(String, Value)>,
    /// `RoleSid`.
    pub role_sid: Option<String>,
}

impl Sent {
    /// The form parameters, in the order they are sent.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(f) = &self.friendly_name {
            out.push(("FriendlyName", f.clone()));
        }
        if let Some((text, _)) = &self.attributes {
            out.push(("Attributes", text.clone()));
        }
        if let Some(r) = &self.role_sid {
            out.push(("RoleSid", r.clone()));
        }
        out
    }

    /// Whether the documentation leaves open if a server accepts these values: outside the
    /// plain domain, a refusal with Twilio's error body is as right as a faithful round trip.
    pub fn arguable(&self) -> bool {
        self.friendly_name
            .as_deref()
            .is_some_and(|f| !f.is_empty() && !domain::is_plain(f))
            || self
                .attributes
                .as_ref()
                .is_some_and(|(text, v)| text.len() > 4096 || depth(v) > 5 || !plain_json(v))
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Plain JSON: ASCII keys and strings, integers within ±2^53.
fn plain_json(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_ascii(),
        Value::Number(n) => n.as_i64().is_some_and(|i| i.unsigned_abs() <= 1 << 53),
        Value::Array(a) => a.iter().all(plain_json),
        Value::Object(o) => o.iter().all(|(k, v)| k.is_ascii() && plain_json(v)),
        _ => true,
    }
}

/// A concrete step: an operation resolved against the model.
#[derive(Debug, Clone)]
pub enum Step {
    /// Create `user` (a new model user, or one created before: a duplicate or re-creation).
    Create {
        /// The form's index.
        form: usize,
        /// The model user it creates.
        user: usize,
        /// What is sent besides the identity.
        sent: Sent,
    },
    /// Fetch `user` by `key` through `form`.
    Fetch {
        /// The model user.
        user: usize,
        /// The form's index.
        form: usize,
        /// Sid or identity.
        by: By,
    },
    /// Fetch an identity no user of the sequence may have, unless `owner` has exactly it.
    FetchRelated {
        /// The form's index.
        form: usize,
        /// The identity asked for.
        identity: String,
        /// How it relates to the user it came from.
        relation: Relation,
        /// The model user whose identity it is exactly, if any.
        owner: Option<usize>,
    },
    /// Update `user`.
    Update {
        /// The model user.
        user: usize,
        /// By sid or identity.
        by: By,
        /// What is sent.
        sent: Sent,
    },
    /// Delete `user`.
    Delete {
        /// The model user.
        user: usize,
        /// By sid or identity.
        by: By,
    },
    /// Walk a collection.
    Read {
        /// The form's index.
        form: usize,
        /// `PageSize`.
        page_size: Option<u32>,
    },
    /// `n` creates of `user`'s identity at once.
    Burst {
        /// The model user.
        user: usize,
        /// How many.
        n: usize,
    },
    /// Creates of distinct new users at once.
    BurstDistinct {
        /// The model users.
        users: Vec<usize>,
    },
    /// A create or read that must be refused.
    Invalid {
        /// The form's index.
        form: usize,
        /// What is wrong.
        what: Invalid,
        /// The identity of a create (fresh, in the namespace; or the sid-shaped one).
        identity: Option<String>,
    },
    /// An update that must be refused.
    InvalidUpdate {
        /// The model user.
        user: usize,
        /// What is wrong.
        what: InvalidUpdate,
    },
}

/// What judging a step found.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// What the model expected, in a few words.
    pub expected: String,
    /// Disagreements, as findings of the checks they break.
    pub findings: Vec<Finding>,
    /// Whether the target and the model no longer describe the same store: later steps
    /// would only repeat the disagreement, so the sequence ends here.
    pub diverged: bool,
}

/// The model of one sequence.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every identity of the sequence starts with this.
    pub namespace: String,
    /// The URL forms in play.
    pub forms: Vec<UrlForm>,
    /// The service behind each form: forms with the same key share one collection.
    keys: Vec<String>,
    /// Every user the sequence named, in order.
    pub users: Vec<User>,
    /// The roles the target assigned, per collection key.
    roles: Vec<(String, String)>,
    /// The check context of the run (edition, base URL, account, default service).
    base: Context,
    /// Counter for fresh identities of invalid creates.
    minted: usize,
}

impl Model {
    /// An empty model. `default_service` is the service behind the shortened form, when
    /// known; `base` carries the run's context (edition, base URL, account).
    pub fn new(
        namespace: String,
        forms: Vec<UrlForm>,
        default_service: Option<&str>,
        base: Context,
    ) -> Model {
        let keys = forms
            .iter()
            .map(|f| match f {
                UrlForm::Shortened => default_service.unwrap_or("(default)").to_owned(),
                UrlForm::Service(s) => s.clone(),
            })
            .collect();
        Model {
            namespace,
            forms,
            keys,
            users: Vec::new(),
            roles: Vec::new(),
            base,
            minted: 0,
        }
    }

    /// Whether two forms reach the same collection.
    pub fn same_collection(&self, a: usize, b: usize) -> bool {
        self.keys[a] == self.keys[b]
    }

    /// The check context of an operation through a form.
    pub fn context(&self, op: Operation, form: usize) -> Context {
        let mut ctx = self.base.clone();
        ctx.operation = Some(op);
        ctx.form = Some(self.forms[form].clone());
        ctx
    }

    fn form(&self, i: Index) -> usize {
        i.index(self.forms.len())
    }

    fn new_user(&mut self, form: usize, tail: String) -> usize {
        self.users.push(User {
            form,
            identity: format!("{}{tail}", self.namespace),
            tail,
            sid: None,
            life: Life::Absent,
            friendly_name: Field {
                value: None,
                origin: Origin::Default,
            },
            attributes: Field {
                value: Value::Object(Default::default()),
                origin: Origin::Default,
            },
            role_sid: Field {
                value: None,
                origin: Origin::Default,
            },
            last: None,
        });
        self.users.len() - 1
    }

    /// The alive user with `identity` in `form`'s collection.
    pub fn alive_with(&self, form: usize, identity: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.life == Life::Alive && u.identity == identity && self.same_collection(u.form, form)
        })
    }

    fn roles_of(&self, form: usize) -> Vec<&str> {
        self.roles
            .iter()
            .filter(|(k, _)| *k == self.keys[form])
            .map(|(_, r)| r.as_str())
            .collect()
    }

    fn sent(&self, form: usize, p: &Params) -> Sent {
        let roles = self.roles_of(form);
        Sent {
            friendly_name: p.friendly_name.clone(),
            attributes: p.attributes.as_ref().map(|v| (v.to_string(), v.clone())),
            role_sid: p
                .role
                .filter(|_| !roles.is_empty())
                .map(|i| roles[i.index(roles.len())].to_owned()),
        }
    }

    /// Picks a known user: one with a sid when the step names it by sid.
    fn pick(&self, i: Index, by: By) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.users.len())
            .filter(|&u| by == By::Identity || self.users[u].sid.is_some())
            .collect();
        let u = *candidates.get(i.index(candidates.len()))?;
        // By identity, a step reaches whoever holds that identity now: a user created again
        // after this one was deleted.
        if by == By::Identity && self.users[u].life != Life::Alive {
            return Some(
                self.alive_with(self.users[u].form, &self.users[u].identity)
                    .unwrap_or(u),
            );
        }
        Some(u)
    }

    /// Resolves an operation into a step, or None when it cannot apply yet (no user to act
    /// on, no variant of that relation).
    pub fn resolve(&mut self, op: &Op) -> Option<Step> {
        match op {
            Op::Create { form, who, params } => {
                let form = self.form(*form);
                let (form, tail) = match who {
                    Who::Fresh(tail) => (form, tail.clone()),
                    Who::Related(i, rel, salt) => {
                        let base = &self.users.get(i.index(self.users.len()))?.tail;
                        (form, domain::relate(base, *rel, *salt)?)
                    }
                    Who::Again(i) => {
                        // Again through its own form, so it is a duplicate or a re-creation.
                        let prior = self.users.get(i.index(self.users.len()))?;
                        (prior.form, prior.tail.clone())
                    }
                };
                // A tail the sequence used before in this collection names that user while it
                // lives (a duplicate create); once deleted, a new user takes it.
                let user = match self.users.iter().position(|u| {
                    u.tail == tail && u.life == Life::Alive && self.same_collection(u.form, form)
                }) {
                    Some(alive) => alive,
                    None => self.new_user(form, tail),
                };
                let form = self.users[user].form;
                Some(Step::Create {
                    form,
                    user,
                    sent: self.sent(form, params),
                })
            }
            Op::Fetch { user, by, cross } => {
                let u = self.pick(*user, *by)?;
                let own = self.users[u].form;
                let form = if *cross && self.forms.len() > 1 {
                    (own + 1) % self.forms.len()
                } else {
                    own
                };
                Some(Step::Fetch {
                    user: u,
                    form,
                    by: *by,
                })
            }
            Op::FetchRelated {
                user,
                relation,
                salt,
            } => {
                let u = self.pick(*user, By::Identity)?;
                let tail = domain::relate(&self.users[u].tail, *relation, *salt)?;
                let identity = format!("{}{tail}", self.namespace);
                let form = self.users[u].form;
                Some(Step::FetchRelated {
                    form,
                    owner: self.alive_with(form, &identity),
                    identity,
                    relation: *relation,
                })
            }
            Op::Update { user, by, params } => {
                let u = self.pick(*user, *by)?;
                let sent = self.sent(self.users[u].form, params);
                if sent.friendly_name.is_none()
                    && sent.attributes.is_none()
                    && sent.role_sid.is_none()
                {
                    return None;
                }
                Some(Step::Update {
                    user: u,
                    by: *by,
                    sent,
                })
            }
            Op::Delete { user, by } => {
                let u = self.pick(*user, *by)?;
                Some(Step::Delete { user: u, by: *by })
            }
            Op::Read { form, page_size } => Some(Step::Read {
                form: self.form(*form),
                page_size: *page_size,
            }),
            Op::Burst { form, tail, n } => {
                let form = self.form(*form);
                if self
                    .users
                    .iter()
                    .any(|u| u.tail == *tail && self.same_collection(u.form, form))
                {
                    return None;
                }
                let user = self.new_user(form, tail.clone());
                Some(Step::Burst { user, n: *n })
            }
            Op::BurstDistinct { form, tails } => {
                let form = self.form(*form);
                let fresh: Vec<String> = tails
                    .iter()
                    .filter(|t| {
                        !self
                            .users
                            .iter()
                            .any(|u| u.tail == **t && self.same_collection(u.form, form))
                    })
                    .cloned()
                    .collect();
                if fresh.len() < 2 {
                    return None;
                }
                let users = fresh.into_iter().map(|t| self.new_user(form, t)).collect();
                Some(Step::BurstDistinct { users })
            }
            Op::Invalid { form, what } => {
                let form = self.form(*form);
                let identity = match what {
                    Invalid::SidShaped(s) => Some(s.clone()),
                    Invalid::MissingIdentity | Invalid::PageSize(_) => None,
                    Invalid::MalformedRole(_) | Invalid::AttributesNotObject(_) => {
                        self.minted += 1;
                        Some(format!("{}refused-{}", self.namespace, self.minted))
                    }
                };
                Some(Step::Invalid {
                    form,
                    what: what.clone(),
                    identity,
                })
            }
            Op::InvalidUpdate { user, what } => {
                let u = self.pick(*user, By::Sid)?;
                Some(Step::InvalidUpdate {
                    user: u,
                    what: what.clone(),
                })
            }
        }
    }

    /// The path segment a step names `user` by.
    pub fn key(&self, user: usize, by: By) -> String {
        let u = &self.users[user];
        match by {
            By::Sid => u.sid.clone().unwrap_or_default(),
            By::Identity => u.identity.clone(),
        }
    }

    /// Judges the answers to a step (in the order sent; for a read, every page in order,
    /// with `ended` saying whether the walk reached its end) and updates the model.
    pub fn judge(&mut self, step: &Step, exs: &[Exchange], ended: bool) -> Verdict {
        let mut v = Verdict::default();
        match step {
            Step::Create { form, user, sent } => self.judge_create(*form, *user, sent, exs, &mut v),
            Step::Fetch { user, form, by } => self.judge_fetch(*user, *form, *by, exs, &mut v),
            Step::FetchRelated {
                form,
                identity,
                relation,
                owner,
            } => {
                let ex = &exs[0];
                match owner {
                    Some(o) => {
                        v.expected = format!("200: user #{o}");
                        self.judge_fetch(*o, *form, By::Identity, exs, &mut v);
                    }
                    None => {
                        v.expected = "404: no user has this identity".to_owned();
                        if ex.status != 404 {
                            let check = match relation {
                                Relation::CaseVariant => "lookup.identity.case-sensitive",
                                _ => "fetch.unknown-identity",
                            };
                            v.findings.push(with_identity(
                                Finding::new(check, "@status", "404", ex.status.to_string()),
                                ex,
                                identity,
                            ));
                            v.diverged = true;
                        } else {
                            v.findings.extend(check::error_response(ex));
                        }
                    }
                }
            }
            Step::Update { user, by, sent } => self.judge_update(*user, *by, sent, exs, &mut v),
            Step::Delete { user, by } => self.judge_delete(*user, *by, exs, &mut v),
            Step::Read { form, page_size } => {
                self.judge_read(*form, *page_size, exs, ended, &mut v)
            }
            Step::Burst { user, n } => self.judge_burst(*user, *n, exs, &mut v),
            Step::BurstDistinct { users } => {
                v.expected = format!("201 for each of {} identities", users.len());
                for (u, ex) in users.iter().zip(exs) {
                    let form = self.users[*u].form;
                    let mut one = Verdict::default();
                    self.judge_create(
                        form,
                        *u,
                        &Sent::default(),
                        std::slice::from_ref(ex),
                        &mut one,
                    );
                    v.findings.extend(one.findings);
                    v.diverged |= one.diverged;
                }
            }
            Step::Invalid { form, what, .. } => self.judge_invalid(*form, what, exs, &mut v),
            Step::InvalidUpdate { user, what } => {
                let ex = &exs[0];
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
                if self.users[*user].life != Life::Alive {
                    v.expected = "404 or 4xx: the user is gone".to_owned();
                    if (200..300).contains(&ex.status) {
                        v.findings.push(Finding::new(
                            "delete.then-404",
                            "@status",
                            "404",
                            ex.status.to_string(),
                        ));
                        v.diverged = true;
                    }
                } else if (200..300).contains(&ex.status) {
                    v.findings.extend(check::refusal(ex, &refusal));
                    // Accepted: what it holds now is unknown to the model.
                    let u = &mut self.users[*user];
                    match what {
                        InvalidUpdate::MalformedRole(_) => u.role_sid.origin = Origin::Unknown,
                        InvalidUpdate::AttributesNotObject(_) => {
                            u.attributes.origin = Origin::Unknown
                        }
                    }
                } else {
                    v.findings.extend(check::refusal(ex, &refusal));
                }
            }
        }
        v
    }

    fn judge_create(
        &mut self,
        form: usize,
        user: usize,
        sent: &Sent,
        exs: &[Exchange],
        v: &mut Verdict,
    ) {
        let ex = &exs[0];
        let identity = self.users[user].identity.clone();
        let arguable = !domain::is_plain(&self.users[user].tail) || sent.arguable();
        if let Some(other) = self.alive_with(form, &identity) {
            v.expected = format!("4xx: the identity is user #{other}'s");
            let refusal = lenient(Refusal::any_4xx(
                "create.identity.duplicate",
                &spec::rules().errors.duplicate_identity,
            ));
            v.findings.extend(check::refusal(ex, &refusal));
            v.diverged |= (200..300).contains(&ex.status);
            return;
        }
        let recreate = self.users[..user].iter().any(|u| {
            u.life == Life::Deleted && u.identity == identity && self.same_collection(u.form, form)
        });
        v.expected = if recreate {
            "201: the identity is free again after its user was deleted".to_owned()
        } else if arguable {
            "201 with every value as sent, or 4xx with Twilio's error body".to_owned()
        } else {
            "201 with every value as sent".to_owned()
        };
        if !(200..300).contains(&ex.status) {
            if (400..500).contains(&ex.status) && arguable && !recreate {
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
                ex,
                &identity,
            ));
            v.diverged = true;
            return;
        }
        let mut ctx = self.context(Operation::Create, form);
        ctx.known.identity = Some(identity.clone());
        ctx.known.ever_online = Some(false);
        ctx.known.ever_registered = Some(false);
        v.findings.extend(check::exchange(ex, &ctx));
        let Some(body) = check::parse_json(Doc::User, &ex.response_body).ok() else {
            v.diverged = true;
            return;
        };
        let u = &mut self.users[user];
        u.sid = body.get("sid").and_then(Value::as_str).map(str::to_owned);
        u.life = Life::Alive;
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
                if let Some(r) = role
                    && spec::SidKind::Role.matches(&r)
                    && !self
                        .roles
                        .iter()
                        .any(|(k, x)| *k == self.keys[form] && *x == r)
                {
                    self.roles.push((self.keys[form].clone(), r));
                }
            }
        }
        let agree = self.agree(user, &body, "create");
        v.diverged |= agree.iter().any(|f| f.check == "user.identity.echo");
        v.findings.extend(agree);
        self.users[user].last = Some(body);
    }

    /// Compares a user's JSON with the model: identity byte for byte, the fields as the
    /// model holds them (attributes as JSON values).
    fn agree(&self, user: usize, body: &Value, during: &str) -> Vec<Finding> {
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
                format!("{:?}", u.friendly_name.value),
                shown(fname),
            ));
        }
        if u.attributes.origin != Origin::Unknown {
            let text = got("attributes").and_then(Value::as_str);
            let parsed = text.and_then(|t| serde_json::from_str::<Value>(t).ok());
            match parsed {
                Some(p) if json_eq(&p, &u.attributes.value) => {}
                Some(p) if json_eq_f64(&p, &u.attributes.value) => {
                    out.push(Finding::new(
                        "create.attributes.precision",
                        "/attributes",
                        clip(&u.attributes.value.to_string()),
                        clip(&p.to_string()),
                    ));
                }
                _ => out.push(Finding::new(
                    id(u.attributes.origin, "attributes"),
                    "/attributes",
                    clip(&u.attributes.value.to_string()),
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

    fn judge_fetch(&mut self, user: usize, form: usize, by: By, exs: &[Exchange], v: &mut Verdict) {
        let ex = &exs[0];
        let u = &self.users[user];
        let here = self.same_collection(u.form, form);
        if u.life == Life::Alive && here {
            if v.expected.is_empty() {
                v.expected = format!("200: user #{user} as the model holds it");
            }
            if ex.status != 200 {
                let check = if by == By::Sid {
                    "fetch.status"
                } else if u.tail.chars().any(|c| "!*'();:@&=+$,/?%#[]".contains(c)) {
                    "lookup.identity.reserved"
                } else if !domain::is_plain(&u.tail) {
                    "lookup.identity.encoded"
                } else {
                    "fetch.status"
                };
                v.findings.push(with_identity(
                    Finding::new(check, "@status", "200", ex.status.to_string()),
                    ex,
                    &u.identity,
                ));
                v.diverged = true;
                return;
            }
            let mut ctx = self.context(Operation::Fetch, form);
            ctx.known.identity = Some(u.identity.clone());
            ctx.known.ever_online = Some(false);
            ctx.known.ever_registered = Some(false);
            v.findings.extend(check::exchange(ex, &ctx));
            if let Ok(body) = check::parse_json(Doc::User, &ex.response_body) {
                let agree = self.agree(user, &body, "fetch");
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
        if ex.status == 404 {
            v.findings.extend(check::error_response(ex));
            return;
        }
        let check = match (u.life, here) {
            (Life::Deleted, _) => "delete.then-404",
            (_, false) => "service.isolation",
            _ if by == By::Sid => "fetch.unknown-sid",
            _ => "fetch.unknown-identity",
        };
        v.findings.push(with_identity(
            Finding::new(check, "@status", "404", ex.status.to_string()),
            ex,
            &u.identity,
        ));
        v.diverged = true;
    }

    fn judge_update(
        &mut self,
        user: usize,
        by: By,
        sent: &Sent,
        exs: &[Exchange],
        v: &mut Verdict,
    ) {
        let ex = &exs[0];
        let u = &self.users[user];
        let arguable = sent.arguable();
        if u.life != Life::Alive {
            v.expected = format!("404: user #{user} is not there");
            if ex.status != 404 {
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
            if arguable && (400..500).contains(&ex.status) {
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
        let form = u.form;
        let mut ctx = self.context(Operation::Update, form);
        ctx.known.identity = Some(u.identity.clone());
        v.findings.extend(check::exchange(ex, &ctx));
        let before = u.last.clone();
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
        let u = &mut self.users[user];
        let kept = u.clone();
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
        let _ = kept;
        v.diverged |= agree.iter().any(|f| f.severity == spec::Severity::Must);
        v.findings.extend(agree);
        self.users[user].last = Some(after);
    }

    fn judge_delete(&mut self, user: usize, by: By, exs: &[Exchange], v: &mut Verdict) {
        let ex = &exs[0];
        let u = &self.users[user];
        if u.life != Life::Alive {
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
        let mut ctx = self.context(Operation::Delete, u.form);
        ctx.known.identity = Some(u.identity.clone());
        v.findings.extend(check::exchange(ex, &ctx));
        self.users[user].life = Life::Deleted;
    }

    fn judge_read(
        &mut self,
        form: usize,
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
                .filter(|u| u.life == Life::Alive && self.same_collection(u.form, form))
                .count()
        );
        let ctx = self.context(Operation::Read, form);
        let mut seen: Vec<(usize, usize)> = Vec::new();
        for (page, ex) in exs.iter().enumerate() {
            if ex.status != 200 {
                v.findings.push(Finding::new(
                    "read.status",
                    "@status",
                    "200",
                    ex.status.to_string(),
                ));
                v.diverged = true;
                return;
            }
            v.findings.extend(check::exchange(ex, &ctx));
            let Ok(body) = check::parse_json(Doc::UsersPage, &ex.response_body) else {
                v.diverged = true;
                return;
            };
            let users = body.get("users").and_then(Value::as_array).cloned();
            for (i, listed) in users.into_iter().flatten().enumerate() {
                let Some(identity) = listed.get("identity").and_then(Value::as_str) else {
                    continue;
                };
                if !identity.starts_with(&self.namespace) {
                    continue;
                }
                let sid = listed.get("sid").and_then(Value::as_str);
                let known = self
                    .users
                    .iter()
                    .position(|u| u.sid.as_deref() == sid && sid.is_some());
                match known {
                    Some(u)
                        if self.users[u].life == Life::Alive
                            && self.same_collection(self.users[u].form, form) =>
                    {
                        seen.push((u, page));
                        let mut agree = self.agree(u, &listed, "read");
                        for f in &mut agree {
                            f.pointer = format!("/users/{i}{}", f.pointer);
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
                        v.diverged = true;
                    }
                    _ => {
                        v.findings.push(Finding::new(
                            "read.user.agrees",
                            format!("/users/{i}"),
                            "only users the sequence created in this service",
                            format!("{identity:?} on page {page}"),
                        ));
                        v.diverged = true;
                    }
                }
            }
        }
        if !ended {
            return;
        }
        for (u, user) in self.users.iter().enumerate() {
            if user.life != Life::Alive || !self.same_collection(user.form, form) {
                continue;
            }
            let pages: Vec<usize> = seen
                .iter()
                .filter(|(s, _)| *s == u)
                .map(|(_, p)| *p)
                .collect();
            if pages.len() != 1 {
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
                v.diverged = true;
            }
        }
    }

    fn judge_burst(&mut self, user: usize, n: usize, exs: &[Exchange], v: &mut Verdict) {
        let form = self.users[user].form;
        let arguable = !domain::is_plain(&self.users[user].tail);
        v.expected = format!("exactly one 201 of {n} creates at once, the others 4xx");
        let won: Vec<usize> = (0..exs.len())
            .filter(|&i| (200..300).contains(&exs[i].status))
            .collect();
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
                self.judge_create(form, user, &Sent::default(), &exs[w..=w], v);
                v.expected = format!("exactly one 201 of {n} creates at once, the others 4xx");
                for (i, ex) in exs.iter().enumerate() {
                    if i != w {
                        v.findings.extend(check::refusal(ex, &refusal));
                    }
                }
            }
            None if arguable && exs.iter().all(|e| (400..500).contains(&e.status)) => {
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

    fn judge_invalid(&mut self, form: usize, what: &Invalid, exs: &[Exchange], v: &mut Verdict) {
        let ex = &exs[0];
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
                // As the fixed `read::page-size-bounds`: a refusal, or a page whose size stays
                // within the bounds (clamping is allowed).
                let bounds = self.base.edition.page_size();
                v.expected = format!("4xx, or a page of at most {} users", bounds.max);
                if (400..500).contains(&ex.status) {
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
                return;
            }
        });
        v.expected = format!("4xx: refused ({})", refusal.check);
        if (200..300).contains(&ex.status)
            && let Invalid::AttributesNotObject(_) = what
        {
            // Accepted: the attributes must still read back as a JSON object.
            let mut ctx = self.context(Operation::Create, form);
            ctx.known.identity = None;
            v.findings.extend(check::exchange(ex, &ctx));
        }
        v.findings.extend(check::refusal(ex, &refusal));
    }
}

/// A refusal judged by its MUST parts only: the status Twilio prefers is advice the fixed
/// cases give once, not on every generated request.
fn lenient(r: Refusal) -> Refusal {
    Refusal {
        preferred_status: None,
        ..r
    }
}

/// JSON values equal, numbers by value: `1` and `1.0` are one number.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(p), Some(q), _, _) => p == q,
                (_, _, Some(p), Some(q)) => p == q,
                _ if (x.is_f64() || y.is_f64()) => x.as_f64() == y.as_f64(),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

/// JSON values equal when every number is read as a double: what a store that keeps numbers
/// as IEEE doubles (JavaScript) gives back. RFC 8259 lets an implementation limit precision.
fn json_eq_f64(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq_f64(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq_f64(p, q)))
        }
        _ => a == b,
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
fn with_identity(mut f: Finding, _ex: &Exchange, identity: &str) -> Finding {
    f.message.push_str(&format!(" (identity {identity:?})"));
    f
}
