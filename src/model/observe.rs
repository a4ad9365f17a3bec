//! The whole world read back: after a write, every collection of the run walked and its
//! users fetched by sid and by identity through every view of their collection; at the end,
//! through the other collections' views too. What a target shows anywhere must be what the
//! model holds, so a write that changed, removed or hid something it did not name is seen,
//! whichever user, service or view it touched.

use std::collections::BTreeSet;

use serde_json::Value;

use super::world::{By, Life};
use super::{Model, Verdict};
use crate::check::{self, Exchange, Finding};
use crate::spec::{Doc, Operation};

/// Which part of the world to read back.
#[derive(Debug, Clone)]
pub enum Scope {
    /// After a write: each collection walked once; the users the write could have touched
    /// (those it named, and those whose identity shares their tail or is related to it: the
    /// same identity in another service, a prefix, an extension), at most `limit` of them,
    /// each fetched by sid and identity through every view of its collection. A write that
    /// damages another user's values shows in the walks; one that damages only how another
    /// user is found shows at the end.
    AfterWrite {
        /// The model users the write named.
        addressed: Vec<usize>,
        /// The most users fetched.
        limit: usize,
    },
    /// At the end of a sequence: every view walked, and every user (the newest first, at
    /// most `limit`) fetched by sid and identity through every view of every collection
    /// (where it must not be found outside its own).
    End {
        /// The most users fetched.
        limit: usize,
    },
}

/// One read of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET` of one `{Sid}` value through a view.
    Fetch {
        /// The view.
        view: usize,
        /// The sid or identity, as the path segment names it (not yet encoded).
        value: String,
        /// The model user it was chosen for.
        user: usize,
        /// Whether `value` is the user's sid or identity.
        by: By,
    },
    /// A walk of a view's collection from its first page.
    Walk {
        /// The view.
        view: usize,
        /// `PageSize`.
        page_size: u32,
    },
}

/// A probe with its answers: one exchange for a fetch; every page for a walk, and whether
/// the walk reached its end.
pub type Answer = (Probe, Vec<Exchange>, bool);

impl Model {
    /// The users fetched by an observation, in priority order: those `addressed`, then
    /// those related to them by identity, then (when `everyone`) the newest.
    fn observed_users(&self, addressed: &[usize], limit: usize, everyone: bool) -> Vec<usize> {
        let mut order: Vec<usize> = addressed.to_vec();
        let tails: Vec<&str> = addressed
            .iter()
            .map(|&u| self.users[u].tail.as_str())
            .collect();
        let related = |t: &str| {
            tails
                .iter()
                .any(|a| t == *a || t.starts_with(a) || a.starts_with(t))
        };
        order.extend((0..self.users.len()).filter(|&u| related(&self.users[u].tail)));
        if everyone {
            order.extend((0..self.users.len()).rev());
        }
        let mut seen = BTreeSet::new();
        order.retain(|u| seen.insert(*u));
        order.truncate(limit);
        order
    }

    /// What to read back for `scope`: a walk of each view, and fetches.
    pub fn probes(&self, scope: &Scope) -> Vec<Probe> {
        let (users, everywhere) = match scope {
            Scope::AfterWrite { addressed, limit } => {
                (self.observed_users(addressed, *limit, false), false)
            }
            Scope::End { limit } => (self.observed_users(&[], *limit, true), true),
        };
        let page_size = self.max_page_size();
        // After a write one walk of each collection; at the end one through every view.
        let walked = if everywhere {
            (0..self.views.len()).collect()
        } else {
            self.collections()
        };
        let mut out: Vec<Probe> = walked
            .into_iter()
            .map(|view| Probe::Walk { view, page_size })
            .collect();
        let mut asked = BTreeSet::new();
        for u in users {
            let user = &self.users[u];
            let views: Vec<usize> = if everywhere {
                (0..self.views.len()).collect()
            } else {
                self.views_of(user.view)
            };
            let mut keys = vec![(By::Identity, user.identity.clone())];
            if let Some(sid) = &user.sid {
                keys.push((By::Sid, sid.clone()));
            }
            for view in views {
                for (by, value) in &keys {
                    if asked.insert((view, value.clone())) {
                        out.push(Probe::Fetch {
                            view,
                            value: value.clone(),
                            user: u,
                            by: *by,
                        });
                    }
                }
            }
        }
        out
    }

    /// Judges what the world showed after `after` (a step's description, or None at the
    /// end), `addressed` being the users the step named.
    pub fn judge_world(
        &mut self,
        after: Option<&str>,
        addressed: &[usize],
        answers: &[Answer],
    ) -> Verdict {
        let mut v = Verdict {
            expected: match after {
                Some(step) => format!("the world as the model holds it after the {step}"),
                None => "the world as the model holds it at the end".to_owned(),
            },
            ..Verdict::default()
        };
        let when = match after {
            Some(step) => format!("after the {step}"),
            None => "at the end of the sequence".to_owned(),
        };
        for (probe, exs, ended) in answers {
            let mut found = match probe {
                Probe::Walk { view, page_size } => {
                    let mut w = Verdict::default();
                    self.judge_read(*view, Some(*page_size), exs, *ended, &mut w);
                    let label = self.views[*view].label();
                    for f in &mut w.findings {
                        f.message.push_str(&format!(" (walking {label} {when})"));
                    }
                    v.about.extend(w.about);
                    w.findings
                }
                Probe::Fetch {
                    view,
                    value,
                    user,
                    by,
                } => match exs.first() {
                    Some(ex) => self.judge_probe(*view, value, *user, *by, ex, addressed, &when),
                    None => Vec::new(),
                },
            };
            // Each finding names the request of the world that showed it.
            if let Some(ex) = exs.first() {
                for f in &mut found {
                    f.request.get_or_insert_with(|| ex.request_line());
                }
            }
            v.diverged |= found
                .iter()
                .any(|f| f.severity == crate::spec::Severity::Must);
            v.findings.append(&mut found);
        }
        v
    }

    /// One fetch of the world: the user a correct server finds for `value` through `view`,
    /// as the model holds it, or 404.
    #[allow(clippy::too_many_arguments)]
    fn judge_probe(
        &mut self,
        view: usize,
        value: &str,
        user: usize,
        by: By,
        ex: &Exchange,
        addressed: &[usize],
        when: &str,
    ) -> Vec<Finding> {
        let label = self.views[view].label();
        let alias = self.views[view].alias;
        let by_word = match by {
            By::Sid => "sid",
            By::Identity => "identity",
        };
        let about = |m: &Model, u: usize| {
            format!(
                "user #{u} ({:?}) fetched by {by_word} via {label} {when}",
                m.users[u].identity
            )
        };
        let expected = self.lookup(view, value);
        let Some(e) = expected else {
            if ex.status == 404 {
                self.hold(
                    Operation::Fetch,
                    view,
                    &["delete.then-404", "service.isolation"],
                );
                return Vec::new();
            }
            let u = &self.users[user];
            let check = if u.life == Life::Deleted && self.same_collection(u.view, view) {
                "delete.then-404"
            } else if u.life == Life::Alive && !self.same_collection(u.view, view) {
                "service.isolation"
            } else if addressed.contains(&user) || u.life == Life::Absent {
                "fetch.unknown-identity"
            } else {
                "world.unaddressed"
            };
            let mut f = Finding::new(check, "@status", "404", ex.status.to_string());
            f.message.push_str(&format!(": {}", about(self, user)));
            if let Ok(body) = serde_json::from_slice::<Value>(&ex.response_body)
                && let Some(sid) = body.get("sid").and_then(Value::as_str)
            {
                let shown = match self
                    .users
                    .iter()
                    .position(|u| u.sid.as_deref() == Some(sid))
                {
                    Some(o) => format!("user #{o} (`{sid}`)"),
                    None => format!("`{sid}`"),
                };
                f.message.push_str(&format!(", which showed {shown}"));
            }
            return vec![f];
        };
        let mine = addressed.contains(&e);
        let relabel = |mut f: Finding, m: &Model| {
            let check = if !mine {
                "world.unaddressed"
            } else if alias {
                "view.default-service"
            } else {
                "view.consistent"
            };
            f = Finding::new(
                check,
                f.pointer.clone(),
                f.expected.clone(),
                f.actual.clone(),
            );
            f.message.push_str(&format!(": {}", about(m, e)));
            f
        };
        if ex.status != 200 {
            let f = Finding::new("fetch.status", "@status", "200", ex.status.to_string());
            return vec![relabel(f, self)];
        }
        let mut ctx = self.context(Operation::Fetch, view);
        ctx.known.identity = Some(self.users[e].identity.clone());
        ctx.known.ever_online = Some(false);
        ctx.known.ever_registered = Some(false);
        let mut out = self.exchange_checks(Operation::Fetch, view, ex, &ctx);
        let Ok(body) = check::parse_json(Doc::User, &ex.response_body) else {
            return out;
        };
        let agree = self.agree(e, &body, "fetch");
        if agree.is_empty() {
            let held: &[&'static str] = match (mine, alias) {
                (false, _) => &["world.unaddressed", "lookup.identity.same"],
                (true, true) => &["view.default-service", "view.consistent"],
                (true, false) => &["view.consistent", "lookup.identity.same"],
            };
            self.hold(Operation::Fetch, view, held);
        }
        for f in agree {
            // Rounding a double store does is advice wherever it shows.
            if f.check == "create.attributes.precision" {
                out.push(f);
            } else {
                out.push(relabel(f, self));
            }
        }
        out
    }
}
