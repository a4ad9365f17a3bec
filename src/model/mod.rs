//! The reference model of what a target should hold: every user a run named, in every
//! service and every view it reaches them through, as the documentation says they must be.
//!
//! Pure, like `check`: no I/O, no clock. The model is fed steps (what was asked) with the
//! target's answers, judges each answer and moves on; the stateful engine
//! (`crate::generate`) draws the steps and sends them, and anything else that sees traffic
//! (a proxy) can feed it the same way. Split by concern:
//!
//! - [`world`]: the views, the users and where each value came from;
//! - [`judge`]: one step's answers against what a correct server answers, updating the world;
//! - [`observe`]: the whole world read back after a write (every user through every view,
//!   every collection walked), so that damage a write did elsewhere is seen;
//! - [`serial`]: concurrent requests, judged against every serial order of them;
//! - [`coverage`]: which transitions and value families a run exercised.
//!
//! The model knows only the run's own users (identities in its namespace), so it holds while
//! other cases, sequences and clients write to the same collections.

pub mod coverage;
mod judge;
pub mod observe;
pub mod serial;
pub mod world;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::check::{Context, Exchange, Finding};
use crate::domain::Relation;
use crate::spec::{Operation, UrlForm};
pub use coverage::{Coverage, Kind, Tracker};
pub use judge::lenient;
pub use observe::{Probe, Scope};
pub use world::{By, Field, Life, Origin, Sent, User, View};

/// A create or read that the documentation says must be refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Invalid {
    /// Create with an identity shaped like a user sid.
    SidShaped(String),
    /// Create without `Identity`.
    MissingIdentity,
    /// Create with a `RoleSid` that breaks its pattern.
    MalformedRole(String),
    /// Create with `Attributes` that are not a JSON object.
    AttributesNotObject(String),
    /// Read with a `PageSize` outside its bounds.
    PageSize(String),
}

/// An update of a known user that the documentation says must be refused.
#[derive(Debug, Clone, PartialEq)]
pub enum InvalidUpdate {
    /// `RoleSid` breaking its pattern.
    MalformedRole(String),
    /// `Attributes` that are not a JSON object.
    AttributesNotObject(String),
}

/// What a near-miss lookup does with the identity it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Fetches it.
    Fetch,
    /// Updates it with these parameters.
    Update(Sent),
    /// Deletes it.
    Delete,
}

impl Action {
    /// The operation it is.
    pub fn operation(&self) -> Operation {
        match self {
            Action::Fetch => Operation::Fetch,
            Action::Update(_) => Operation::Update,
            Action::Delete => Operation::Delete,
        }
    }
}

/// A concrete step: what was asked of the target, in the model's terms.
#[derive(Debug, Clone)]
pub enum Step {
    /// Create `user` through `view` (a new model user, or one named before: a duplicate, or
    /// a re-creation of a deleted identity).
    Create {
        /// The view.
        view: usize,
        /// The model user it creates.
        user: usize,
        /// What is sent besides the identity.
        sent: Sent,
    },
    /// Fetch `user` by sid or identity through `view` (its collection's, or another's).
    Fetch {
        /// The model user.
        user: usize,
        /// The view.
        view: usize,
        /// Sid or identity.
        by: By,
    },
    /// Fetch, update or delete an identity that nearly matches a user's: 404 unless `owner`
    /// has exactly it.
    NearMiss {
        /// The view.
        view: usize,
        /// The identity asked for.
        identity: String,
        /// The model user it was drawn from.
        from: usize,
        /// How it relates to that user's identity.
        relation: Relation,
        /// Whether it wraps the whole identity (`%id%`) rather than editing its tail.
        wrapped: bool,
        /// What is done with it.
        action: Action,
    },
    /// Update `user` through `view`.
    Update {
        /// The model user.
        user: usize,
        /// The view (one of its collection's).
        view: usize,
        /// By sid or identity.
        by: By,
        /// What is sent.
        sent: Sent,
    },
    /// Delete `user` through `view`.
    Delete {
        /// The model user.
        user: usize,
        /// The view (one of its collection's).
        view: usize,
        /// By sid or identity.
        by: By,
    },
    /// Walk a collection through `view`.
    Read {
        /// The view.
        view: usize,
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
    /// Many users created (a few at a time), to make a collection larger than common caps
    /// or to send many values at once.
    Populate {
        /// The view.
        view: usize,
        /// The model users, in the order their creates are sent.
        users: Vec<usize>,
        /// What each create sends besides the identity.
        sent: Vec<Sent>,
    },
    /// Single-request steps sent at once: judged against every serial order of them.
    Group {
        /// What the race is, for coverage and messages (`update-update`, …).
        kind: &'static str,
        /// The requests, each a single-request step, in the order they leave.
        steps: Vec<Step>,
        /// Milliseconds between one request leaving and the next (0: all at once), so that
        /// a race window a server has between its reads and writes is hit in either order.
        gap_ms: u8,
    },
    /// A create or read that must be refused.
    Invalid {
        /// The view.
        view: usize,
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

impl Step {
    /// Whether the step asks the target to change something (so the world is observed
    /// after it).
    pub fn writes(&self) -> bool {
        match self {
            Step::Fetch { .. } | Step::Read { .. } => false,
            Step::NearMiss { action, .. } => *action != Action::Fetch,
            Step::Invalid { what, .. } => !matches!(what, Invalid::PageSize(_)),
            _ => true,
        }
    }

    /// The model users the step names: a write may change these and no other.
    pub fn addressed(&self) -> Vec<usize> {
        match self {
            Step::Create { user, .. }
            | Step::Fetch { user, .. }
            | Step::Update { user, .. }
            | Step::Delete { user, .. }
            | Step::Burst { user, .. }
            | Step::InvalidUpdate { user, .. } => vec![*user],
            Step::BurstDistinct { users } | Step::Populate { users, .. } => users.clone(),
            Step::Group { steps, .. } => {
                let mut all: Vec<usize> = steps.iter().flat_map(Step::addressed).collect();
                all.sort_unstable();
                all.dedup();
                all
            }
            Step::NearMiss { .. } | Step::Read { .. } | Step::Invalid { .. } => Vec::new(),
        }
    }
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
    /// The model users a walk's disagreements are about ([`NOT_ONE_USER`] for one about the
    /// page itself): a list may show a user's latest write late, so a disagreement about
    /// users written moments ago is read again before it is believed.
    pub about: BTreeSet<usize>,
}

/// In [`Verdict::about`]: a disagreement of a walk that is about no one user (a status, the
/// page's metadata, a user the model never named).
pub const NOT_ONE_USER: usize = usize::MAX;

impl Verdict {
    fn absorb(&mut self, other: Verdict) {
        self.findings.extend(other.findings);
        self.diverged |= other.diverged;
        self.about.extend(other.about);
    }

    /// Whether a MUST finding was raised.
    pub fn fails(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == crate::spec::Severity::Must)
    }
}

/// Checks that held, by operation and view label: what a matrix may mark passed.
pub type Held = BTreeMap<(Operation, &'static str), BTreeSet<&'static str>>;

/// The model of one sequence's world.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every identity of the sequence starts with this.
    pub namespace: String,
    /// Every way to a collection: the run's URL forms first, then aliases.
    pub views: Vec<View>,
    /// How many of `views` are the run's URL forms (the rest are aliases of them).
    pub forms: usize,
    /// Every user the sequence named, in order.
    pub users: Vec<User>,
    /// The roles the target assigned, per collection key.
    roles: Vec<(String, String)>,
    /// The check context of the run (edition, base URL, account, default service).
    base: Context,
    /// Counter for fresh identities of invalid creates and populations.
    minted: usize,
    /// Transitions and families seen.
    pub tracker: Tracker,
    /// Checks that held.
    pub held: Held,
    /// How many steps were judged (for messages).
    steps: usize,
    /// Bodies that already went through the exchange checks clean, by a hash of operation,
    /// view and bytes: seen again (the world read back unchanged), they need not be again.
    clean: BTreeSet<u64>,
    /// Whether the model knows only part of each collection (fed by observed traffic, as by
    /// the proxy): users it never saw may be there, so a page listing one, or a create
    /// refused as a duplicate of an identity it never saw, is no disagreement.
    pub partial: bool,
    /// While requests sent at once are judged in one of their orders: the users a request
    /// of the group deleted earlier in that order. A delete of one of them may be answered
    /// 204 as well as 404 (see `serial`).
    racing_deleted: Option<BTreeSet<usize>>,
}

impl Model {
    /// An empty model over the run's URL forms. `default_service` is the service behind the
    /// shortened form, when known (its own form then joins as an alias); `base` carries the
    /// run's context (edition, base URL, account).
    pub fn new(
        namespace: String,
        forms: Vec<UrlForm>,
        default_service: Option<&str>,
        base: Context,
    ) -> Model {
        let n = forms.len();
        Model {
            namespace,
            views: world::views(&forms, default_service),
            forms: n,
            users: Vec::new(),
            roles: Vec::new(),
            base,
            minted: 0,
            tracker: Tracker::default(),
            held: Held::new(),
            steps: 0,
            clean: BTreeSet::new(),
            partial: false,
            racing_deleted: None,
        }
    }

    /// A model fed by observed traffic (see [`Model::partial`]): no namespace (every identity
    /// is the session's), no view until traffic shows one ([`Model::view_of`]).
    pub fn observing(default_service: Option<&str>, base: Context) -> Model {
        let mut base = base;
        base.default_service_sid = default_service.map(str::to_owned);
        let mut m = Model::new(String::new(), Vec::new(), None, base);
        m.partial = true;
        m
    }

    /// The collection a URL form reaches, as [`View::key`] names it: the shortened form's is
    /// the default service's once that is known.
    pub fn key_of(&self, form: &UrlForm) -> String {
        match form {
            UrlForm::Shortened => self
                .base
                .default_service_sid
                .clone()
                .unwrap_or_else(|| "(default)".to_owned()),
            UrlForm::Service(s) => s.clone(),
        }
    }

    /// The view of a URL form, added when traffic first shows it. The shortened form's
    /// collection is the default service's once that is known.
    pub fn view_of(&mut self, form: &UrlForm) -> usize {
        if let Some(v) = self.views.iter().position(|v| v.form == *form) {
            return v;
        }
        let key = self.key_of(form);
        self.views.push(View {
            form: form.clone(),
            key,
            alias: false,
        });
        self.forms = self.views.len();
        self.views.len() - 1
    }

    /// The default service, once known (from a user the shortened form answered with): the
    /// shortened form's collection is that service's from then on. `false` when it was
    /// known already.
    pub fn learn_default_service(&mut self, sid: &str) -> bool {
        if self.base.default_service_sid.is_some() {
            return false;
        }
        self.base.default_service_sid = Some(sid.to_owned());
        for v in &mut self.views {
            if v.form == UrlForm::Shortened {
                v.key = sid.to_owned();
            }
        }
        true
    }

    /// The account requests authenticate as, once known (from a request's credentials).
    pub fn learn_account(&mut self, sid: &str) {
        if self.base.account_sid.is_none() {
            self.base.account_sid = Some(sid.to_owned());
        }
    }

    /// The default service, when known.
    pub fn default_service(&self) -> Option<&str> {
        self.base.default_service_sid.as_deref()
    }

    /// A user the traffic showed without its create (a fetch or an update of a user that
    /// existed before): alive, with its sid and identity; its other fields are not compared
    /// until a write sets them.
    pub fn learn(&mut self, view: usize, sid: &str, identity: &str, body: Value) -> usize {
        let mut u = User::new(view, "", identity.to_owned());
        u.sid = Some(sid.to_owned());
        u.life = Life::Alive;
        u.friendly_name.origin = Origin::Unknown;
        u.attributes.origin = Origin::Unknown;
        u.role_sid.origin = Origin::Unknown;
        u.last = Some(body);
        self.users.push(u);
        self.users.len() - 1
    }

    /// Stops judging a user, and every user of its collection with its identity or sid: what
    /// the target holds for them is no longer known (writes that raced, a write whose answer
    /// never came).
    pub fn forget(&mut self, user: usize) {
        let (identity, sid, view) = {
            let u = &self.users[user];
            (u.identity.clone(), u.sid.clone(), u.view)
        };
        for i in 0..self.users.len() {
            let same = self.users[i].identity == identity
                && self.same_collection(self.users[i].view, view)
                || (sid.is_some() && self.users[i].sid == sid);
            if same {
                self.users[i].life = Life::Absent;
                self.users[i].sid = None;
            }
        }
    }

    /// The URL form of a view.
    pub fn form(&self, view: usize) -> &UrlForm {
        &self.views[view].form
    }

    /// Whether two views reach the same collection.
    pub fn same_collection(&self, a: usize, b: usize) -> bool {
        self.views[a].key == self.views[b].key
    }

    /// The views of the collection `view` reaches, `view` first.
    pub fn views_of(&self, view: usize) -> Vec<usize> {
        let mut out = vec![view];
        out.extend((0..self.views.len()).filter(|&v| v != view && self.same_collection(v, view)));
        out
    }

    /// The first view of each collection.
    pub fn collections(&self) -> Vec<usize> {
        (0..self.views.len())
            .filter(|&v| (0..v).all(|w| !self.same_collection(v, w)))
            .collect()
    }

    /// The check context of an operation through a view.
    pub fn context(&self, op: Operation, view: usize) -> Context {
        let mut ctx = self.base.clone();
        ctx.operation = Some(op);
        ctx.form = Some(self.views[view].form.clone());
        ctx
    }

    /// The edition's largest PageSize.
    pub fn max_page_size(&self) -> u32 {
        self.base.edition.page_size().max
    }

    /// How many of the model's users are alive in `view`'s collection.
    pub fn alive_in(&self, view: usize) -> usize {
        self.users
            .iter()
            .filter(|u| u.life == Life::Alive && self.same_collection(u.view, view))
            .count()
    }

    /// A new user, not created yet, in `view`'s collection.
    pub fn new_user(&mut self, view: usize, tail: String) -> usize {
        self.users.push(User::new(view, &self.namespace, tail));
        self.users.len() - 1
    }

    /// A fresh tail no user of the model has, starting with `label`.
    pub fn mint(&mut self, label: &str) -> String {
        self.minted += 1;
        format!("{label}{}", self.minted)
    }

    /// The alive user with `identity` in `view`'s collection.
    pub fn alive_with(&self, view: usize, identity: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.life == Life::Alive && u.identity == identity && self.same_collection(u.view, view)
        })
    }

    /// Whom a correct server finds for a `{Sid}` value through `view`: the user with that
    /// sid, or with that identity, alive in its collection.
    pub fn lookup(&self, view: usize, value: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.life == Life::Alive
                && self.same_collection(u.view, view)
                && (u.sid.as_deref() == Some(value) || u.identity == value)
        })
    }

    /// The roles the target assigned in `view`'s collection.
    pub fn roles_of(&self, view: usize) -> Vec<&str> {
        self.roles
            .iter()
            .filter(|(k, _)| *k == self.views[view].key)
            .map(|(_, r)| r.as_str())
            .collect()
    }

    /// The path segment a step names `user` by.
    pub fn key(&self, user: usize, by: By) -> String {
        let u = &self.users[user];
        match by {
            By::Sid => u.sid.clone().unwrap_or_else(|| u.identity.clone()),
            By::Identity => u.identity.clone(),
        }
    }

    /// Whether a create of `user` is a re-creation: its collection held a deleted user with
    /// that identity before.
    pub fn is_recreate(&self, user: usize) -> bool {
        let u = &self.users[user];
        self.users[..user].iter().any(|o| {
            o.life == Life::Deleted
                && o.identity == u.identity
                && self.same_collection(o.view, u.view)
        })
    }

    /// Records that checks held on an operation through a view.
    fn hold(&mut self, op: Operation, view: usize, checks: &[&'static str]) {
        let label = self.views[view].label();
        self.held
            .entry((op, label))
            .or_default()
            .extend(checks.iter().copied());
    }

    /// Records what a step exercised: its transitions and its values' families.
    fn cover(&mut self, step: &Step, exs: &[Exchange]) {
        use coverage::{attribute_families, identity_families, name_families};
        let label = |m: &Model, v: usize| m.views[v].label();
        let kind_of_create = |m: &Model, u: usize| {
            if m.is_recreate(u) {
                Kind::Recreate
            } else {
                Kind::Create
            }
        };
        let sent_families = |m: &mut Model, sent: &Sent| {
            if let Some(f) = &sent.friendly_name {
                for fam in name_families(f) {
                    m.tracker.coverage.family(format!("friendly-name:{fam}"));
                }
            }
            if let Some((text, v)) = &sent.attributes {
                for fam in attribute_families(text, v) {
                    m.tracker.coverage.family(format!("attributes:{fam}"));
                }
            }
        };
        match step {
            Step::Create { view, user, sent } => {
                let k = kind_of_create(self, *user);
                let (tail, l) = (self.users[*user].tail.clone(), label(self, *view));
                self.tracker.touch(&tail, k, l);
                for fam in identity_families(&tail) {
                    self.tracker.coverage.family(format!("identity:{fam}"));
                }
                sent_families(self, sent);
            }
            Step::Fetch { user, view, .. } => {
                let (tail, l) = (self.users[*user].tail.clone(), label(self, *view));
                self.tracker.touch(&tail, Kind::Fetch, l);
            }
            Step::Update {
                user, view, sent, ..
            } => {
                let (tail, l) = (self.users[*user].tail.clone(), label(self, *view));
                self.tracker.touch(&tail, Kind::Update, l);
                sent_families(self, sent);
            }
            Step::Delete { user, view, .. } => {
                let (tail, l) = (self.users[*user].tail.clone(), label(self, *view));
                self.tracker.touch(&tail, Kind::Delete, l);
            }
            Step::NearMiss {
                view,
                from,
                relation,
                wrapped,
                action,
                ..
            } => {
                let (tail, l) = (self.users[*from].tail.clone(), label(self, *view));
                self.tracker.touch(&tail, Kind::NearMiss, l);
                self.tracker
                    .coverage
                    .family(coverage::near_miss_family(*relation, *wrapped));
                self.tracker.coverage.family(format!(
                    "near-miss-{}:{}",
                    action.operation().as_str(),
                    l
                ));
            }
            Step::Read { view, page_size } => {
                let l = label(self, *view);
                let tails: BTreeSet<String> = self.users.iter().map(|u| u.tail.clone()).collect();
                for t in tails {
                    self.tracker.touch(&t, Kind::Walk, l);
                }
                let size = match page_size {
                    None => "default".to_owned(),
                    Some(1) => "1".to_owned(),
                    Some(n) if *n == self.max_page_size() => "max".to_owned(),
                    Some(n) if *n > 200 => "above-200".to_owned(),
                    Some(n) if *n > 50 => "51-200".to_owned(),
                    Some(_) => "2-50".to_owned(),
                };
                self.tracker.coverage.family(format!("page-size:{size}"));
                if exs.len() > 1 {
                    self.tracker.coverage.family("walk:several-pages");
                }
            }
            Step::Burst { .. } => self.tracker.coverage.family("race:duplicate-create"),
            Step::BurstDistinct { .. } => self.tracker.coverage.family("race:distinct-creates"),
            Step::Populate { users, sent, view } => {
                if sent.iter().all(Sent::is_empty) {
                    // Named by the users the collection holds once they are created (they
                    // are not alive until the step is judged).
                    let held = self.alive_in(*view) + users.len();
                    self.tracker.coverage.family(format!("collection:{held}"));
                }
                for s in sent {
                    sent_families(self, s);
                }
            }
            Step::Group { kind, steps, .. } => {
                self.tracker.coverage.family(format!("race:{kind}"));
                for s in steps {
                    self.cover(s, &[]);
                }
            }
            Step::Invalid { what, .. } => {
                let name = match what {
                    Invalid::SidShaped(_) => "sid-shaped-identity",
                    Invalid::MissingIdentity => "missing-identity",
                    Invalid::MalformedRole(_) => "malformed-role",
                    Invalid::AttributesNotObject(_) => "attributes-not-object",
                    Invalid::PageSize(_) => "page-size-out-of-bounds",
                };
                self.tracker.coverage.family(format!("refused:{name}"));
            }
            Step::InvalidUpdate { .. } => self.tracker.coverage.family("refused:invalid-update"),
        }
    }

    /// Judges the answers to a step (in the order sent; for a read, every page in order,
    /// with `ended` saying whether the walk reached its end) and updates the model.
    pub fn judge(&mut self, step: &Step, exs: &[Exchange], ended: bool) -> Verdict {
        self.steps += 1;
        self.cover(step, exs);
        self.judge_step(step, exs, ended)
    }

    /// A short description of a step, for messages about what it did elsewhere.
    pub fn describe(&self, step: &Step) -> String {
        let via = |v: usize| self.views[v].label();
        match step {
            Step::Create { view, user, .. } => format!("create of user #{user} via {}", via(*view)),
            Step::Update { user, view, by, .. } => {
                format!(
                    "update of user #{user} by {} via {}",
                    by_word(*by),
                    via(*view)
                )
            }
            Step::Delete { user, view, by } => {
                format!(
                    "delete of user #{user} by {} via {}",
                    by_word(*by),
                    via(*view)
                )
            }
            Step::NearMiss {
                action, identity, ..
            } => format!(
                "{} of the near miss {identity:?}",
                action.operation().as_str()
            ),
            Step::Burst { user, n } => format!("{n} creates of user #{user} at once"),
            Step::BurstDistinct { users } => format!("{} creates at once", users.len()),
            Step::Populate { users, view, .. } => {
                format!("{} creates via {}", users.len(), via(*view))
            }
            Step::Group { kind, steps, .. } => {
                format!("{} requests at once ({kind})", steps.len())
            }
            Step::Invalid { .. } | Step::InvalidUpdate { .. } => "a request to refuse".to_owned(),
            Step::Fetch { .. } | Step::Read { .. } => "a read".to_owned(),
        }
    }
}

fn by_word(by: By) -> &'static str {
    match by {
        By::Sid => "sid",
        By::Identity => "identity",
    }
}

/// A hash of a body as seen through an operation and a view, for [`Model::clean`].
fn body_hash(op: Operation, view: usize, body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    op.as_str().hash(&mut h);
    view.hash(&mut h);
    body.hash(&mut h);
    h.finish()
}
