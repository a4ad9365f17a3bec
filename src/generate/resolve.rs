//! Turns a drawn operation into a concrete step against what the model knows when it runs:
//! which user an [`Index`] names, which view a request goes through, the identity of a near
//! miss, the page size of a walk. Pure.

use super::program::{Focus, Index, Miss, Op, PageChoice, Params, Race, Via, Who};
use crate::domain;
use crate::json::{self, Json};
use crate::model::{Action, By, Invalid, Life, Model, Sent, Step};

/// Resolves an operation into a step, or None when it cannot apply yet (no user to act on,
/// no variant of that relation).
pub fn resolve(m: &mut Model, op: &Op) -> Option<Step> {
    match op {
        Op::Create { form, who, params } => {
            let view = form.nth(m.forms);
            let (view, tail) = match who {
                Who::Fresh(tail) => (view, tail.clone()),
                Who::Related(i, rel, salt) => {
                    let base = &m.users.get(i.index(m.users.len()))?.tail;
                    (view, domain::relate(base, *rel, *salt)?)
                }
                Who::Again(i) => {
                    // Again through its own view, so it is a duplicate or a re-creation:
                    // three draws in four prefer a deleted user, when there is one.
                    let deleted: Vec<usize> = (0..m.users.len())
                        .filter(|&u| m.users[u].life == Life::Deleted)
                        .collect();
                    let u = if i.0 % 4 != 0 && !deleted.is_empty() {
                        deleted[i.index(deleted.len())]
                    } else {
                        i.index(m.users.len())
                    };
                    let prior = m.users.get(u)?;
                    (prior.view, prior.tail.clone())
                }
            };
            Some(create(m, view, tail, params))
        }
        Op::Fetch { user, by, via } => {
            let u = pick(m, *user, *by)?;
            let view = view_for(m, u, *via);
            Some(Step::Fetch {
                user: u,
                view,
                by: *by,
            })
        }
        Op::NearMiss {
            user,
            relation,
            salt,
            wrap,
            action,
            via,
        } => {
            let u = pick(m, *user, By::Identity)?;
            let view = view_for(m, u, *via);
            near_miss(m, u, view, *relation, *salt, *wrap, action)
        }
        Op::Update {
            user,
            by,
            via,
            params,
        } => {
            let u = pick(m, *user, *by)?;
            let view = view_for(m, u, *via);
            let sent = sent(m, view, params);
            if sent.is_empty() {
                return None;
            }
            Some(Step::Update {
                user: u,
                view,
                by: *by,
                sent,
            })
        }
        Op::Delete { user, by, via } => {
            let u = pick(m, *user, *by)?;
            let view = view_for(m, u, *via);
            Some(Step::Delete {
                user: u,
                view,
                by: *by,
            })
        }
        Op::Read { view, page_size } => {
            let view = view.nth(m.views.len());
            Some(Step::Read {
                view,
                page_size: page_size_of(m, view, *page_size),
            })
        }
        Op::Burst { form, tail, n } => {
            let view = form.nth(m.forms);
            if has_tail(m, view, tail) {
                return None;
            }
            let user = m.new_user(view, tail.clone());
            Some(Step::Burst { user, n: *n })
        }
        Op::BurstDistinct { form, tails } => {
            let view = form.nth(m.forms);
            let fresh: Vec<String> = tails
                .iter()
                .filter(|t| !has_tail(m, view, t))
                .cloned()
                .collect();
            if fresh.len() < 2 {
                return None;
            }
            let users = fresh.into_iter().map(|t| m.new_user(view, t)).collect();
            Some(Step::BurstDistinct { users })
        }
        Op::Populate { form, size, valued } => {
            let view = form.nth(m.forms);
            if *size == 0 {
                return None;
            }
            let label = m.mint(if *valued { "val" } else { "pop" });
            let users = (0..*size)
                .map(|i| m.new_user(view, format!("{label}-{i}")))
                .collect();
            let sent = (0..*size)
                .map(|i| {
                    if *valued {
                        sent(m, view, &super::program::valued_params(i))
                    } else {
                        Sent::default()
                    }
                })
                .collect();
            Some(Step::Populate { view, users, sent })
        }
        Op::Race {
            user,
            race,
            ways,
            swap,
            gap_ms,
        } => {
            let u = pick(m, *user, By::Sid)?;
            if m.users[u].life != Life::Alive {
                return None;
            }
            let mut step = race_step(m, u, race, ways);
            if let Step::Group {
                steps, gap_ms: g, ..
            } = &mut step
            {
                if *swap {
                    steps.reverse();
                }
                *g = *gap_ms;
            }
            Some(step)
        }
        Op::Invalid { form, what } => {
            let view = form.nth(m.forms);
            let identity = match what {
                Invalid::SidShaped(s) => Some(s.clone()),
                Invalid::MissingIdentity | Invalid::PageSize(_) => None,
                Invalid::MalformedRole(_) | Invalid::AttributesNotObject(_) => {
                    let tail = m.mint("refused-");
                    Some(format!("{}{tail}", m.namespace))
                }
            };
            Some(Step::Invalid {
                view,
                what: what.clone(),
                identity,
            })
        }
        Op::InvalidUpdate { user, what } => {
            let u = pick(m, *user, By::Sid)?;
            Some(Step::InvalidUpdate {
                user: u,
                what: what.clone(),
            })
        }
        Op::Focus { tail, form, step } => focus(m, tail, (*form).min(m.forms - 1), step),
    }
}

/// The `Sent` of parameters through a view: attributes parsed as written, a role index
/// resolved among the roles the target assigned there.
pub fn sent(m: &Model, view: usize, p: &Params) -> Sent {
    let roles = m.roles_of(view);
    Sent {
        friendly_name: p.friendly_name.clone(),
        attributes: p.attributes.as_ref().map(|text| {
            (
                text.clone(),
                json::parse(text).unwrap_or_else(|_| Json::empty_object()),
            )
        }),
        role_sid: p
            .role
            .filter(|_| !roles.is_empty())
            .map(|i| roles[i.nth(roles.len())].to_owned()),
    }
}

/// A create of `tail` through `view`: of the user that has it while it lives there (a
/// duplicate), else of a new model user (fresh, or a re-creation).
fn create(m: &mut Model, view: usize, tail: String, params: &Params) -> Step {
    let here = |u: &crate::model::User| u.tail == tail && m.same_collection(u.view, view);
    let alive = m
        .users
        .iter()
        .position(|u| here(u) && u.life == Life::Alive);
    // The latest user of that identity there, when it was only ever looked up.
    let named = m
        .users
        .iter()
        .rposition(here)
        .filter(|&u| m.users[u].life == Life::Absent);
    let user = match alive.or(named) {
        Some(u) => u,
        None => m.new_user(view, tail),
    };
    let view = if m.users[user].life == Life::Alive {
        m.users[user].view
    } else {
        view
    };
    Step::Create {
        view,
        user,
        sent: sent(m, view, params),
    }
}

fn has_tail(m: &Model, view: usize, tail: &str) -> bool {
    m.users
        .iter()
        .any(|u| u.tail == tail && m.same_collection(u.view, view))
}

/// Picks a known user: one with a sid when the step names it by sid.
fn pick(m: &Model, i: Index, by: By) -> Option<usize> {
    let candidates: Vec<usize> = (0..m.users.len())
        .filter(|&u| by == By::Identity || m.users[u].sid.is_some())
        .collect();
    let u = *candidates.get(i.index(candidates.len()))?;
    // By identity, a step reaches whoever holds that identity now: a user created again
    // after this one was deleted.
    if by == By::Identity && m.users[u].life != Life::Alive {
        return Some(
            m.alive_with(m.users[u].view, &m.users[u].identity)
                .unwrap_or(u),
        );
    }
    Some(u)
}

/// The view a request about `user` goes through.
fn view_for(m: &Model, user: usize, via: Via) -> usize {
    let own = m.users[user].view;
    match via {
        Via::Own => own,
        Via::Alias => m.views_of(own).get(1).copied().unwrap_or(own),
        Via::Other => (0..m.views.len())
            .find(|&v| !m.same_collection(v, own))
            .unwrap_or(own),
    }
}

fn page_size_of(m: &Model, view: usize, choice: PageChoice) -> Option<u32> {
    let max = m.max_page_size();
    match choice {
        PageChoice::Default => None,
        PageChoice::Fixed(n) => Some(n.clamp(1, max)),
        PageChoice::Max => Some(max),
        PageChoice::Around(d) => {
            let here = m.alive_in(view) as i64;
            Some((here + i64::from(d)).clamp(1, i64::from(max)) as u32)
        }
    }
}

fn near_miss(
    m: &mut Model,
    from: usize,
    view: usize,
    relation: domain::Relation,
    salt: u32,
    wrap: bool,
    action: &Miss,
) -> Option<Step> {
    let u = &m.users[from];
    let wrapped = if wrap {
        domain::wrap(&u.identity, relation, salt)
    } else {
        None
    };
    let (identity, wrapped) = match wrapped {
        Some(w) => (w, true),
        None => (
            format!(
                "{}{}",
                m.namespace,
                domain::relate(&u.tail, relation, salt)?
            ),
            false,
        ),
    };
    let action = match action {
        Miss::Fetch => Action::Fetch,
        Miss::Update(p) => {
            let s = sent(m, view, p);
            if s.is_empty() {
                return None;
            }
            Action::Update(s)
        }
        Miss::Delete => Action::Delete,
    };
    Some(Step::NearMiss {
        view,
        identity,
        from,
        relation,
        wrapped,
        action,
    })
}

fn race_step(m: &mut Model, u: usize, race: &Race, ways: &[(bool, bool); 2]) -> Step {
    let way = |m: &Model, k: usize| {
        let (by_identity, alias) = ways[k];
        let by = if by_identity { By::Identity } else { By::Sid };
        let via = if alias { Via::Alias } else { Via::Own };
        (by, view_for(m, u, via))
    };
    let update = |m: &Model, k: usize, sent: Sent| {
        let (by, view) = way(m, k);
        Step::Update {
            user: u,
            view,
            by,
            sent,
        }
    };
    let delete = |m: &Model, k: usize| {
        let (by, view) = way(m, k);
        Step::Delete { user: u, view, by }
    };
    let name = |s: &str| Sent {
        friendly_name: Some(s.to_owned()),
        ..Sent::default()
    };
    let steps = match race {
        Race::UpdateUpdate {
            name: n,
            attributes,
        } => {
            let attrs = Sent {
                attributes: Some((
                    attributes.clone(),
                    json::parse(attributes).unwrap_or_else(|_| Json::empty_object()),
                )),
                ..Sent::default()
            };
            vec![update(m, 0, name(n)), update(m, 1, attrs)]
        }
        Race::UpdateSame { a, b } => vec![update(m, 0, name(a)), update(m, 1, name(b))],
        Race::DeleteUpdate { name: n } => vec![delete(m, 0), update(m, 1, name(n))],
        Race::CreateDelete => {
            let view = m.users[u].view;
            let tail = m.users[u].tail.clone();
            let again = m.new_user(view, tail);
            vec![
                Step::Create {
                    view,
                    user: again,
                    sent: Sent::default(),
                },
                delete(m, 1),
            ]
        }
        Race::DeleteDelete => vec![delete(m, 0), delete(m, 1)],
    };
    Step::Group {
        kind: race.label(),
        steps,
        gap_ms: 0,
    }
}

/// A planned step on the focus identity `tail` in form `view`'s collection.
fn focus(m: &mut Model, tail: &str, view: usize, step: &Focus) -> Option<Step> {
    // The user that has the tail there now, or had it last.
    let latest = (0..m.users.len())
        .rev()
        .find(|&u| m.users[u].tail == tail && m.same_collection(m.users[u].view, view));
    let existing = |m: &mut Model| latest.unwrap_or_else(|| m.new_user(view, tail.to_owned()));
    let by_for = |m: &Model, u: usize, by: By| {
        if by == By::Sid && m.users[u].sid.is_none() {
            By::Identity
        } else {
            by
        }
    };
    Some(match step {
        Focus::Create(params) => create(m, view, tail.to_owned(), params),
        Focus::Fetch(by) => {
            let u = existing(m);
            Step::Fetch {
                user: u,
                view,
                by: by_for(m, u, *by),
            }
        }
        Focus::Update(by, params) => {
            let u = existing(m);
            let mut s = sent(m, view, params);
            if s.is_empty() {
                s.friendly_name = Some("focus".to_owned());
            }
            Step::Update {
                user: u,
                view,
                by: by_for(m, u, *by),
                sent: s,
            }
        }
        Focus::Delete(by) => {
            let u = existing(m);
            Step::Delete {
                user: u,
                view,
                by: by_for(m, u, *by),
            }
        }
        Focus::NearMiss {
            relation,
            salt,
            wrap,
            action,
        } => {
            let u = existing(m);
            // A tail without a variant of this family falls back to an extension, which
            // every tail has.
            near_miss(m, u, view, *relation, *salt, *wrap, action).or_else(|| {
                near_miss(
                    m,
                    u,
                    view,
                    domain::Relation::Extension,
                    *salt,
                    false,
                    action,
                )
            })?
        }
        Focus::Walk(choice) => {
            // The model knows the identity from now on, so the walk counts for it even
            // before it was created.
            existing(m);
            Step::Read {
                view,
                page_size: page_size_of(m, view, *choice),
            }
        }
    })
}
