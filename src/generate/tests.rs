//! Drawing and resolving: seeds draw sequences deterministically, templates draw what they
//! plan, and operations resolve against the model as they should.

use std::collections::BTreeSet;

use super::plan::Template;
use super::program::{Focus, Index, Miss, Op, PageChoice, Params, Race, Shape, Via, Who};
use super::resolve::resolve;
use super::{Draw, Family};
use crate::check::Context;
use crate::domain::Relation;
use crate::model::{Action, By, Kind, Life, Model, Step};
use crate::runner::{Generation, Observe};
use crate::spec::{Edition, UrlForm};

const SHAPE: Shape = Shape {
    max_steps: 12,
    max_burst: 6,
    max_page_size: 1000,
    max_collection: 1001,
};

fn model() -> Model {
    Model::new(
        "convcheck-0a0b0c0d-c1-0-".to_owned(),
        vec![
            UrlForm::Shortened,
            UrlForm::Service("IS00000000000000000000000000000002".to_owned()),
        ],
        Some("IS00000000000000000000000000000001"),
        Context {
            edition: Edition::Docs,
            ..Context::default()
        },
    )
}

fn random(family: Family) -> Draw {
    Draw {
        family,
        template: Template::Random,
        offset: 0,
    }
}

#[test]
fn a_server_in_another_process_reads_back_at_the_end_through_a_smaller_collection() {
    use crate::runner::{LOOPBACK_COLLECTION_SIZE, Reach};
    let embedded = Generation::default();
    assert_eq!(embedded.clone().at(Reach::Embedded), embedded);
    let loopback = embedded.clone().at(Reach::Loopback);
    assert_eq!(loopback.observe, Observe::End);
    assert_eq!(loopback.observe_users, 2);
    assert_eq!(loopback.max_collection, LOOPBACK_COLLECTION_SIZE);
    // Above each common cap below the largest page, and walked once to a full last page.
    let sizes = super::program::collection_page_sizes(LOOPBACK_COLLECTION_SIZE);
    for cap in [25, 50, 100] {
        assert!(sizes.contains(&PageChoice::Fixed(cap)), "{cap}");
    }
    assert!(sizes.contains(&PageChoice::Fixed(35)));
    assert_eq!(
        (
            loopback.concurrency,
            loopback.max_burst,
            loopback.max_requests
        ),
        (
            embedded.concurrency,
            embedded.max_burst,
            embedded.max_requests
        ),
        "a server on this machine takes as many at once as the embedded emulator"
    );
    let remote = embedded.clone().at(Reach::Remote);
    assert!(remote.max_collection < loopback.max_collection);
    let off = Generation {
        observe: Observe::Off,
        ..Generation::default()
    }
    .at(Reach::Loopback);
    assert_eq!(off.observe, Observe::Off, "a choice the user made stays");
}

#[test]
fn a_remote_target_gets_tighter_bounds_than_this_machine() {
    let local = Generation::default();
    let remote = local.clone().remote();
    assert!(remote.concurrency <= 4 && remote.concurrency < local.concurrency);
    assert!(remote.max_burst <= 3 && remote.max_burst < local.max_burst);
    assert!(remote.max_pages <= 10);
    assert!(remote.max_requests <= 2_000);
    assert_eq!(local.observe, Observe::EveryWrite);
    assert_eq!(
        remote.observe,
        Observe::End,
        "the world is read back once per sequence"
    );
    assert!(remote.observe_users <= 8 && remote.max_collection <= 26);
    let off = Generation {
        observe: Observe::Off,
        ..Generation::default()
    }
    .remote();
    assert_eq!(off.observe, Observe::Off, "a choice the user made stays");
    assert_eq!(
        remote.sequences, local.sequences,
        "the budget itself is the user's"
    );
}

#[test]
fn one_seed_draws_one_sequence_and_another_seed_another() {
    let d = random(Family::Sequences);
    let a = super::draw(&d, SHAPE, 42).expect("draws");
    let b = super::draw(&d, SHAPE, 42).expect("draws");
    let c = super::draw(&d, SHAPE, 43).expect("draws");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(format!("{a:?}"), format!("{c:?}"));
    assert!(
        matches!(a[0], Op::Create { .. }),
        "a sequence starts with a create"
    );
    assert!(a.len() <= 12);
}

#[test]
fn a_planned_path_draws_its_kinds_in_order_on_one_identity() {
    let plan = super::plan::templates(2, 14, 1001);
    let Template::Path(nodes) = &plan[0] else {
        panic!("the plan starts with a path: {:?}", plan[0])
    };
    let d = Draw {
        family: Family::Sequences,
        template: plan[0].clone(),
        offset: 0,
    };
    let ops = super::draw(&d, SHAPE, 7).expect("draws");
    let focus: Vec<(&str, usize, &Focus)> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Focus { tail, form, step } => Some((tail.as_str(), *form, step)),
            _ => None,
        })
        .collect();
    assert_eq!(focus.len(), nodes.len());
    assert!(focus.iter().all(|(t, ..)| *t == focus[0].0), "one identity");
    for ((_, form, step), (kind, f)) in focus.iter().zip(nodes) {
        assert_eq!(form, f);
        let drawn = match step {
            Focus::Create(_) => matches!(kind, Kind::Create | Kind::Recreate),
            Focus::Fetch(_) => *kind == Kind::Fetch,
            Focus::Update(..) => *kind == Kind::Update,
            Focus::Delete(_) => *kind == Kind::Delete,
            Focus::NearMiss { relation, .. } => *kind == Kind::NearMiss && relation.is_engine(),
            Focus::Walk(_) => *kind == Kind::Walk,
        };
        assert!(drawn, "{kind:?} drawn as {step:?}");
    }
}

#[test]
fn every_template_draws_and_the_specials_do_what_they_say() {
    for t in super::plan::templates(2, 14, 1001) {
        let d = Draw {
            family: Family::Sequences,
            template: t.clone(),
            offset: 1,
        };
        let ops = super::draw(&d, SHAPE, 1).expect("draws");
        match t {
            Template::Populate { size, .. } => {
                // One user created, then the rest of the collection at once.
                assert!(matches!(ops[0], Op::Create { .. }));
                assert!(
                    ops.iter()
                        .any(|o| matches!(o, Op::Populate { size: s, .. } if *s + 1 == size))
                );
                let reads: Vec<PageChoice> = ops
                    .iter()
                    .filter_map(|o| match o {
                        Op::Read { page_size, .. } => Some(*page_size),
                        _ => None,
                    })
                    .collect();
                assert_eq!(
                    reads,
                    super::program::collection_page_sizes(size.min(SHAPE.max_collection))
                );
            }
            Template::Race(k) if k < super::program::RACE_KINDS => {
                assert_eq!(
                    ops.iter().filter(|o| matches!(o, Op::Race { .. })).count(),
                    5
                );
            }
            Template::Race(_) => assert!(ops.iter().any(|o| matches!(o, Op::Burst { .. }))),
            Template::Views(_) => {
                // Each write goes through the other view of its user's collection than the
                // reads around it, which take the user both by sid and by identity.
                let mut m = model();
                let mut steps = Vec::new();
                for o in &ops {
                    let Some(s) = resolve(&mut m, o) else {
                        continue;
                    };
                    if let Step::Create { user, .. } = s {
                        // As the target's answer would: the user has a sid from now on.
                        m.users[user].sid = Some(format!("US{user:032x}"));
                        m.users[user].life = Life::Alive;
                    }
                    steps.push(s);
                }
                let writes: Vec<(usize, usize)> = steps
                    .iter()
                    .filter_map(|s| match s {
                        Step::Update { user, view, .. } | Step::Delete { user, view, .. } => {
                            Some((*user, *view))
                        }
                        _ => None,
                    })
                    .collect();
                assert_eq!(writes.len(), 4, "{steps:?}");
                for (user, written) in writes {
                    let read: BTreeSet<usize> = steps
                        .iter()
                        .filter_map(|s| match s {
                            Step::Fetch { user: u, view, .. } if *u == user => Some(*view),
                            _ => None,
                        })
                        .collect();
                    assert_eq!(read.len(), 1, "{steps:?}");
                    let read = *read.first().expect("one view");
                    assert_ne!(read, written, "{steps:?}");
                    assert!(m.same_collection(read, written));
                }
            }
            Template::Misses(_) => assert_eq!(
                ops.iter()
                    .filter(|o| matches!(o, Op::NearMiss { .. }))
                    .count(),
                18,
                "each of six engines with each of three actions"
            ),
            _ => {}
        }
    }
}

#[test]
fn focus_steps_resolve_on_one_identity_per_collection() {
    let mut m = model();
    let tail = "f".to_owned();
    let op = |form, step| Op::Focus {
        tail: tail.clone(),
        form,
        step,
    };
    // A walk before anything: the model knows the identity from then on.
    let s = resolve(&mut m, &op(0, Focus::Walk(PageChoice::Max))).expect("resolves");
    assert!(matches!(
        s,
        Step::Read {
            view: 0,
            page_size: Some(1000)
        }
    ));
    assert_eq!(m.users.len(), 1);
    let s = resolve(&mut m, &op(1, Focus::Fetch(By::Sid))).expect("resolves");
    let Step::Fetch { user, view: 1, by } = s else {
        panic!("{s:?}")
    };
    assert_eq!(by, By::Identity, "a user never created has no sid yet");
    assert_ne!(user, 0, "another service, another user");
    let s = resolve(&mut m, &op(1, Focus::Create(Params::default()))).expect("resolves");
    assert!(matches!(s, Step::Create { user: u, view: 1, .. } if u == user));
}

#[test]
fn a_near_miss_is_drawn_from_a_users_identity_and_never_is_it() {
    let mut m = model();
    let u = m.new_user(0, "abc".to_owned());
    m.users[u].life = Life::Alive;
    m.users[u].sid = Some("US00000000000000000000000000000001".to_owned());
    for relation in Relation::ALL {
        for wrap in [false, true] {
            for action in [Miss::Fetch, Miss::Delete] {
                let op = Op::NearMiss {
                    user: Index(0),
                    relation,
                    salt: 3,
                    wrap,
                    action,
                    via: Via::Alias,
                };
                let Some(Step::NearMiss {
                    identity,
                    view,
                    action,
                    ..
                }) = resolve(&mut m, &op)
                else {
                    continue;
                };
                assert_ne!(identity, m.users[u].identity);
                assert_eq!(view, 2, "through the default service's own form");
                assert!(matches!(action, Action::Fetch | Action::Delete));
            }
        }
    }
}

#[test]
fn a_race_resolves_into_a_group_on_one_live_user() {
    let mut m = model();
    let none = Op::Race {
        user: Index(0),
        race: Race::DeleteDelete,
        ways: [(false, false), (true, true)],
        swap: false,
        gap_ms: 0,
    };
    assert!(resolve(&mut m, &none).is_none(), "no user yet");
    let u = m.new_user(0, "r".to_owned());
    m.users[u].life = Life::Alive;
    m.users[u].sid = Some("US00000000000000000000000000000001".to_owned());
    let Some(Step::Group { kind, steps, .. }) = resolve(&mut m, &none) else {
        panic!("a group")
    };
    assert_eq!(kind, "delete-delete");
    assert!(matches!(
        steps[0],
        Step::Delete {
            view: 0,
            by: By::Sid,
            ..
        }
    ));
    assert!(matches!(
        steps[1],
        Step::Delete {
            view: 2,
            by: By::Identity,
            ..
        }
    ));
    let create = Op::Race {
        user: Index(0),
        race: Race::CreateDelete,
        ways: [(false, false), (false, false)],
        swap: false,
        gap_ms: 0,
    };
    let Some(Step::Group { steps, .. }) = resolve(&mut m, &create) else {
        panic!("a group")
    };
    let Step::Create { user: again, .. } = steps[0] else {
        panic!("{:?}", steps[0])
    };
    assert_ne!(
        again, u,
        "the create is of a new model user with the same identity"
    );
    assert_eq!(m.users[again].identity, m.users[u].identity);
}

#[test]
fn a_create_of_a_live_identity_is_a_duplicate_and_of_a_deleted_one_a_recreation() {
    let mut m = model();
    let first = Op::Create {
        form: Index(0),
        who: Who::Fresh("d".to_owned()),
        params: Params::default(),
    };
    let Some(Step::Create { user: a, .. }) = resolve(&mut m, &first) else {
        panic!()
    };
    m.users[a].life = Life::Alive;
    let again = Op::Create {
        form: Index(0),
        who: Who::Again(Index(0)),
        params: Params::default(),
    };
    let Some(Step::Create { user: b, .. }) = resolve(&mut m, &again) else {
        panic!()
    };
    assert_eq!(a, b, "a duplicate names the live user");
    m.users[a].life = Life::Deleted;
    let Some(Step::Create { user: c, .. }) = resolve(&mut m, &again) else {
        panic!()
    };
    assert_ne!(a, c);
    assert!(m.is_recreate(c));
}

/// The large collection is walked where caps and boundaries live: every common cap below its
/// size, a size that divides it exactly, around its size, the largest and the default; a
/// size with no small divisor gets none, and page size 1 is never among them.
#[test]
fn the_collection_is_walked_at_the_caps_and_an_exact_divisor() {
    use super::program::collection_page_sizes;
    let fixed = |size: usize| -> Vec<u32> {
        collection_page_sizes(size)
            .into_iter()
            .filter_map(|c| match c {
                PageChoice::Fixed(n) => Some(n),
                _ => None,
            })
            .collect()
    };
    assert_eq!(fixed(1001), vec![25, 50, 100, 200, 143]);
    assert_eq!(1001 % 143, 0);
    assert_eq!(fixed(26), vec![25, 13]);
    assert_eq!(fixed(29), vec![25]);
    for size in [26, 29, 1001] {
        let all = collection_page_sizes(size);
        for c in [
            PageChoice::Around(-1),
            PageChoice::Around(0),
            PageChoice::Around(1),
            PageChoice::Max,
            PageChoice::Default,
        ] {
            assert!(all.contains(&c), "{size}: {c:?} in {all:?}");
        }
        assert!(!all.contains(&PageChoice::Fixed(1)));
    }
}

/// One large collection per run, of the size the bounds allow, and none when they allow
/// none.
#[test]
fn a_run_plans_one_collection_of_the_largest_size_allowed() {
    let sizes = |max: usize| -> Vec<usize> {
        super::plan::templates(2, 18, max)
            .into_iter()
            .filter_map(|t| match t {
                Template::Populate { size, .. } => Some(size),
                _ => None,
            })
            .collect()
    };
    assert_eq!(sizes(1001), vec![1001]);
    assert_eq!(sizes(5000), vec![1001]);
    assert_eq!(sizes(26), vec![26]);
    assert!(sizes(0).is_empty());
}
