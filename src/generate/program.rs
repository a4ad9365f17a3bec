//! What a generated sequence is made of: operations on the User resource drawn from the input
//! domains (`crate::domain`), as proptest strategies. Pure.
//!
//! An operation names the users it acts on by [`Index`], resolved against the model when the
//! step runs (modulo the users the model knows then). A sequence therefore stays meaningful
//! when shrinking removes or simplifies steps before it.

use proptest::prelude::*;

use crate::domain::{self, Relation};
pub use crate::model::{By, Invalid, InvalidUpdate};

/// A choice among what the model knows when the step runs (modulo their number), counted
/// from the most recent: `Index(0)` is the newest user. Shrinking heads towards 0, so a
/// shrunk step keeps naming the user the step before it created even when shrinking removes
/// older steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index(pub u16);

impl Index {
    /// The choice among `len` things (`len` > 0), counted from the last.
    pub fn index(self, len: usize) -> usize {
        let len = len.max(1);
        len - 1 - usize::from(self.0) % len
    }

    /// The choice among `len` things counted from the first (URL forms, roles).
    pub fn nth(self, len: usize) -> usize {
        usize::from(self.0) % len.max(1)
    }
}

fn pick() -> impl Strategy<Value = Index> {
    any::<u16>().prop_map(Index)
}

/// Which view an item request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The view the user was created through.
    Own,
    /// Another view of the same collection (the default service's own form beside the
    /// shortened one), when the run has one; else its own.
    Alias,
    /// A view of another collection (another service: the user is not there).
    Other,
}

/// The identity of a create.
#[derive(Debug, Clone)]
pub enum Who {
    /// A new identity: this tail after the sequence's namespace.
    Fresh(String),
    /// A tail related to a known user's tail (a prefix, an extension, a case variant, a
    /// near-miss, or a matching engine's variant of it).
    Related(Index, Relation, u32),
    /// Exactly a known user's identity again (a duplicate while it lives, a re-creation once
    /// it is deleted).
    Again(Index),
}

/// The optional parameters of a create or an update.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Attributes`, as the text sent.
    pub attributes: Option<String>,
    /// `RoleSid`: one of the roles the model has seen the target assign.
    pub role: Option<Index>,
}

impl Params {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.friendly_name.is_none() && self.attributes.is_none() && self.role.is_none()
    }
}

/// What a near-miss lookup does.
#[derive(Debug, Clone)]
pub enum Miss {
    /// Fetches the identity.
    Fetch,
    /// Updates it.
    Update(Params),
    /// Deletes it.
    Delete,
}

/// `PageSize` of a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageChoice {
    /// None: the default.
    Default,
    /// This size (within the edition's bounds).
    Fixed(u32),
    /// The number of the sequence's users in the collection, plus this (within bounds): a
    /// page boundary at, before or after the last user.
    Around(i8),
    /// The edition's largest.
    Max,
}

/// Requests on one user sent at once.
#[derive(Debug, Clone)]
pub enum Race {
    /// Two updates of different parameters (a name and attributes).
    UpdateUpdate {
        /// The name sent by one.
        name: String,
        /// The attributes sent by the other.
        attributes: String,
    },
    /// Two updates of the same parameter with different values.
    UpdateSame {
        /// One name.
        a: String,
        /// The other.
        b: String,
    },
    /// A delete and an update.
    DeleteUpdate {
        /// The name the update sends.
        name: String,
    },
    /// A create of the user's identity and a delete of the user.
    CreateDelete,
    /// Two deletes.
    DeleteDelete,
}

impl Race {
    /// The name coverage shows.
    pub fn label(&self) -> &'static str {
        match self {
            Race::UpdateUpdate { .. } => "update-update",
            Race::UpdateSame { .. } => "update-same",
            Race::DeleteUpdate { .. } => "delete-update",
            Race::CreateDelete => "create-delete",
            Race::DeleteDelete => "delete-delete",
        }
    }
}

/// One step of a planned path over one identity (see `super::plan`).
#[derive(Debug, Clone)]
pub enum Focus {
    /// Create it (a duplicate while it lives, a re-creation once deleted).
    Create(Params),
    /// Fetch it.
    Fetch(By),
    /// Update it.
    Update(By, Params),
    /// Delete it.
    Delete(By),
    /// Look up an identity that nearly matches it.
    NearMiss {
        /// The family of the near miss.
        relation: Relation,
        /// Chooses the variant.
        salt: u32,
        /// Wrap the whole identity rather than edit its tail.
        wrap: bool,
        /// What to do with it.
        action: Miss,
    },
    /// Walk the collection.
    Walk(PageChoice),
}

/// One operation of a sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// Create a user on a form.
    Create {
        /// The URL form (an index into the run's forms).
        form: Index,
        /// Its identity.
        who: Who,
        /// Its optional parameters.
        params: Params,
    },
    /// Fetch a known user.
    Fetch {
        /// Which user.
        user: Index,
        /// By sid or identity.
        by: By,
        /// Through which view.
        via: Via,
    },
    /// Fetch, update or delete an identity that nearly matches a known user's: 404 unless
    /// a user has exactly it, and no user changes.
    NearMiss {
        /// Which user it is drawn from.
        user: Index,
        /// The family of the near miss.
        relation: Relation,
        /// Chooses among the variants.
        salt: u32,
        /// Wrap the whole identity rather than edit its tail.
        wrap: bool,
        /// What is done with it.
        action: Miss,
        /// Through the user's own view or its alias.
        via: Via,
    },
    /// Update a known user with a non-empty subset of the parameters.
    Update {
        /// Which user.
        user: Index,
        /// By sid or identity.
        by: By,
        /// Through its own view or its alias.
        via: Via,
        /// What to change.
        params: Params,
    },
    /// Delete a known user.
    Delete {
        /// Which user.
        user: Index,
        /// By sid or identity.
        by: By,
        /// Through its own view or its alias.
        via: Via,
    },
    /// Walk a form's collection from its first page through `next_page_url`.
    Read {
        /// The view (an index into every view of the run).
        view: Index,
        /// `PageSize`.
        page_size: PageChoice,
    },
    /// The same new identity created `n` times at once: exactly one may succeed.
    Burst {
        /// The URL form.
        form: Index,
        /// The identity's tail.
        tail: String,
        /// How many creates at once.
        n: usize,
    },
    /// Distinct new identities created at once: every one must be there afterwards.
    BurstDistinct {
        /// The URL form.
        form: Index,
        /// The identities' tails (distinct).
        tails: Vec<String>,
    },
    /// Many users created, a collection larger than a common cap; or, `valued`, users
    /// created each with another of the values stores change (`domain::TYPE_LOOKING` names,
    /// `domain::NUMBER_LITERALS` in attributes).
    Populate {
        /// The URL form.
        form: Index,
        /// How many users it creates.
        size: usize,
        /// Whether each create sends its values.
        valued: bool,
    },
    /// Requests on one known user sent at once.
    Race {
        /// Which user.
        user: Index,
        /// Which requests.
        race: Race,
        /// How each request names the user: by sid (false) or identity (true), and through
        /// its own view (false) or its alias (true).
        ways: [(bool, bool); 2],
        /// Whether the second request leaves first.
        swap: bool,
        /// Milliseconds between them.
        gap_ms: u8,
    },
    /// A create or read that must be refused.
    Invalid {
        /// The URL form.
        form: Index,
        /// What is wrong with it.
        what: Invalid,
    },
    /// An update of a known user that must be refused.
    InvalidUpdate {
        /// Which user.
        user: Index,
        /// What is wrong with it.
        what: InvalidUpdate,
    },
    /// A step of a planned path over the sequence's focus identity `tail`, on the run's
    /// form `form`.
    Focus {
        /// The identity's tail.
        tail: String,
        /// The form (an index into the run's forms).
        form: usize,
        /// What to do.
        step: Focus,
    },
}

impl Op {
    /// Whether the operation sends several requests at once.
    pub fn is_burst(&self) -> bool {
        matches!(
            self,
            Op::Burst { .. } | Op::BurstDistinct { .. } | Op::Race { .. }
        )
    }
}

/// Limits of what a sequence may do.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The most operations in one sequence.
    pub max_steps: usize,
    /// The most creates of one burst.
    pub max_burst: usize,
    /// The largest documented `PageSize`.
    pub max_page_size: u32,
    /// The largest collection a sequence builds.
    pub max_collection: usize,
}

fn by() -> impl Strategy<Value = By> {
    prop_oneof![Just(By::Sid), Just(By::Identity)]
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![3 => Just(Via::Own), 2 => Just(Via::Alias)]
}

/// Optional parameters; `non_empty` makes sure one is sent (an update's).
pub fn params(non_empty: bool) -> BoxedStrategy<Params> {
    (
        proptest::option::weighted(0.5, domain::friendly_name()),
        proptest::option::weighted(0.5, domain::attributes_text()),
        proptest::option::weighted(0.25, pick()),
        any::<u8>(),
    )
        .prop_map(move |(friendly_name, attributes, role, pick)| {
            let mut p = Params {
                friendly_name,
                attributes,
                role,
            };
            if non_empty && p.friendly_name.is_none() && p.attributes.is_none() {
                // An update sends at least one parameter (a role only counts once the
                // target has shown one): which one is the draw's choice.
                match pick % 2 {
                    0 => p.friendly_name = Some(format!("name {pick}")),
                    _ => p.attributes = Some(format!("{{\"n\":{pick}}}")),
                }
            }
            p
        })
        .boxed()
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        6 => domain::identity_tail().prop_map(Who::Fresh),
        3 => (pick(), domain::relation(), any::<u32>())
            .prop_map(|(i, r, s)| Who::Related(i, r, s)),
        3 => pick().prop_map(Who::Again),
    ]
}

fn invalid(max_page_size: u32) -> impl Strategy<Value = Invalid> {
    prop_oneof![
        domain::sid_shaped_identity().prop_map(Invalid::SidShaped),
        Just(Invalid::MissingIdentity),
        domain::malformed_role_sid().prop_map(Invalid::MalformedRole),
        domain::attributes_not_object().prop_map(Invalid::AttributesNotObject),
        domain::page_size_out_of_bounds(max_page_size).prop_map(Invalid::PageSize),
    ]
}

fn invalid_update() -> impl Strategy<Value = InvalidUpdate> {
    prop_oneof![
        domain::malformed_role_sid().prop_map(InvalidUpdate::MalformedRole),
        domain::attributes_not_object().prop_map(InvalidUpdate::AttributesNotObject),
    ]
}

/// A near-miss action: mostly fetches, then updates and deletes.
pub fn miss() -> BoxedStrategy<Miss> {
    prop_oneof![
        3 => Just(Miss::Fetch),
        2 => params(true).prop_map(Miss::Update),
        2 => Just(Miss::Delete),
    ]
    .boxed()
}

/// A walk's page size: fixed, around the collection's size, or the edition's bounds.
pub fn page_choice(max: u32) -> BoxedStrategy<PageChoice> {
    prop_oneof![
        1 => Just(PageChoice::Default),
        4 => domain::page_size(max).prop_map(PageChoice::Fixed),
        2 => (-2i8..=2).prop_map(PageChoice::Around),
        1 => Just(PageChoice::Max),
    ]
    .boxed()
}

/// How many kinds of [`Race`] there are.
pub const RACE_KINDS: usize = 5;

/// Requests on one user at once, of any kind.
pub fn race() -> BoxedStrategy<Race> {
    (0..RACE_KINDS).prop_flat_map(race_of).boxed()
}

/// How each request of a race names its user.
pub fn ways() -> BoxedStrategy<[(bool, bool); 2]> {
    (
        (any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(|(a, b)| [a, b])
        .boxed()
}

/// One operation of a stateful sequence, weighted towards what builds state and reads it back.
pub fn op(shape: Shape) -> BoxedStrategy<Op> {
    let max_burst = shape.max_burst.max(2);
    prop_oneof![
        8 => (pick(), who(), params(false))
            .prop_map(|(form, who, params)| Op::Create { form, who, params }),
        5 => (pick(), by(), prop_oneof![6 => via(), 1 => Just(Via::Other)])
            .prop_map(|(user, by, via)| Op::Fetch { user, by, via }),
        4 => (pick(), domain::relation(), any::<u32>(), proptest::bool::weighted(0.3), miss(), via())
            .prop_map(|(user, relation, salt, wrap, action, via)| Op::NearMiss {
                user, relation, salt, wrap, action, via
            }),
        4 => (pick(), by(), via(), params(true))
            .prop_map(|(user, by, via, params)| Op::Update { user, by, via, params }),
        3 => (pick(), by(), via()).prop_map(|(user, by, via)| Op::Delete { user, by, via }),
        2 => (pick(), page_choice(shape.max_page_size))
            .prop_map(|(view, page_size)| Op::Read { view, page_size }),
        1 => (pick(), domain::identity_tail(), 2..=max_burst)
            .prop_map(|(form, tail, n)| Op::Burst { form, tail, n }),
        1 => (
            pick(),
            proptest::collection::btree_set(domain::identity_tail(), 2..=max_burst)
        )
            .prop_map(|(form, tails)| Op::BurstDistinct {
                form,
                tails: tails.into_iter().collect()
            }),
        2 => (pick(), race(), ways(), any::<bool>(), prop_oneof![Just(0u8), Just(3u8)])
            .prop_map(|(user, race, ways, swap, gap_ms)| Op::Race { user, race, ways, swap, gap_ms }),
        1 => (pick(), invalid(shape.max_page_size))
            .prop_map(|(form, what)| Op::Invalid { form, what }),
        1 => (pick(), invalid_update())
            .prop_map(|(user, what)| Op::InvalidUpdate { user, what }),
    ]
    .boxed()
}

/// A stateful sequence: one to `max_steps` operations, starting with a create so that the
/// operations after it have a user to act on.
pub fn sequence(shape: Shape) -> BoxedStrategy<Vec<Op>> {
    (
        (pick(), domain::identity_tail(), params(false)),
        proptest::collection::vec(op(shape), 0..shape.max_steps.max(1)),
    )
        .prop_map(|((form, tail, params), rest)| {
            let mut ops = vec![Op::Create {
                form,
                who: Who::Fresh(tail),
                params,
            }];
            ops.extend(rest);
            ops
        })
        .boxed()
}

/// A generated input check: one create drawn from the whole input domain, read back by sid
/// and by identity, then updated with another draw and read back again; or a request that
/// must be refused.
pub fn input(shape: Shape) -> BoxedStrategy<Vec<Op>> {
    let first = Index(0);
    let round_trip = (domain::identity_tail(), params(false), params(true), by()).prop_map(
        move |(tail, create, update, by)| {
            vec![
                Op::Create {
                    form: first,
                    who: Who::Fresh(tail),
                    params: create,
                },
                Op::Fetch {
                    user: first,
                    by: By::Identity,
                    via: Via::Own,
                },
                Op::Update {
                    user: first,
                    by,
                    via: Via::Own,
                    params: update,
                },
                Op::Fetch {
                    user: first,
                    by: By::Sid,
                    via: Via::Alias,
                },
            ]
        },
    );
    let refused = invalid(shape.max_page_size).prop_map(move |what| {
        vec![Op::Invalid {
            form: Index(0),
            what,
        }]
    });
    prop_oneof![4 => round_trip, 1 => refused].boxed()
}

/// The operations of a planned template (see `super::plan`); `offset` turns the families and
/// actions of near misses, so that a run's paths between them try every family with every
/// action.
pub fn templated(
    template: &super::plan::Template,
    shape: Shape,
    offset: usize,
) -> BoxedStrategy<Vec<Op>> {
    use super::plan::Template;
    use crate::model::Kind;
    let extra = || proptest::collection::vec(op(shape), 0..3);
    match template {
        Template::Random => sequence(shape),
        Template::Path(nodes) => {
            let engines: Vec<Relation> = Relation::ALL
                .into_iter()
                .filter(|r| r.is_engine())
                .collect();
            let mut misses = offset;
            let mut updates = offset;
            let steps: Vec<BoxedStrategy<(usize, Focus)>> = nodes
                .iter()
                .map(|&(kind, form)| {
                    let s: BoxedStrategy<Focus> = match kind {
                        Kind::Create | Kind::Recreate => {
                            params(false).prop_map(Focus::Create).boxed()
                        }
                        Kind::Fetch => by().prop_map(Focus::Fetch).boxed(),
                        Kind::Update => {
                            // Each planned update sends the next of the values stores change.
                            let n = updates;
                            updates += 1;
                            (by(), params(true))
                                .prop_map(move |(b, p)| Focus::Update(b, valued(n, p)))
                                .boxed()
                        }
                        Kind::Delete => by().prop_map(Focus::Delete).boxed(),
                        Kind::NearMiss => {
                            let relation = engines[misses % engines.len()];
                            let which = (misses / engines.len()) % 3;
                            misses += 1;
                            (any::<u32>(), proptest::bool::weighted(0.3), params(true))
                                .prop_map(move |(salt, wrap, p)| Focus::NearMiss {
                                    relation,
                                    salt,
                                    wrap,
                                    action: match which {
                                        0 => Miss::Fetch,
                                        1 => Miss::Update(p),
                                        _ => Miss::Delete,
                                    },
                                })
                                .boxed()
                        }
                        Kind::Walk => page_choice(shape.max_page_size)
                            .prop_map(Focus::Walk)
                            .boxed(),
                    };
                    s.prop_map(move |f| (form, f)).boxed()
                })
                .collect();
            (domain::identity_tail(), steps, extra())
                .prop_map(|(tail, steps, extra)| {
                    let mut ops: Vec<Op> = steps
                        .into_iter()
                        .map(|(form, step)| Op::Focus {
                            tail: tail.clone(),
                            form,
                            step,
                        })
                        .collect();
                    ops.extend(extra);
                    ops
                })
                .boxed()
        }
        &Template::Populate { form, size } => {
            let size = size.min(shape.max_collection);
            let form = Index(form as u16);
            (domain::identity_tail(), params(true), by())
                .prop_map(move |(tail, update, by)| {
                    let mut ops = vec![
                        Op::Create {
                            form,
                            who: Who::Fresh(tail),
                            params: Params::default(),
                        },
                        Op::Populate {
                            form,
                            size: size.saturating_sub(1),
                            valued: false,
                        },
                    ];
                    for page_size in collection_page_sizes(size) {
                        ops.push(Op::Read {
                            view: form,
                            page_size,
                        });
                    }
                    ops.push(Op::Update {
                        user: Index(0),
                        by,
                        via: Via::Own,
                        params: update,
                    });
                    ops
                })
                .boxed()
        }
        &Template::Race(k) if k >= RACE_KINDS => {
            // Creates at once: of one identity on each form (one may succeed), and of
            // distinct identities (all must).
            let max = shape.max_burst.max(2);
            (
                (domain::identity_tail(), domain::identity_tail()),
                proptest::collection::btree_set(domain::identity_tail(), 2..=max),
            )
                .prop_map(move |((a, b), tails)| {
                    vec![
                        Op::Burst {
                            form: Index(0),
                            tail: a,
                            n: max,
                        },
                        Op::Burst {
                            form: Index(1),
                            tail: b,
                            n: max,
                        },
                        Op::BurstDistinct {
                            form: Index(0),
                            tails: tails.into_iter().collect(),
                        },
                    ]
                })
                .boxed()
        }
        &Template::Race(k) => {
            // The race five times, each on a user of its own: at once, then each request
            // leaving first, 4 ms and 12 ms before the other, so a window between a
            // server's read and its write is met whichever request it is in, short or long,
            // on a busy machine too.
            let timings = [(false, 0u8), (false, 4), (true, 4), (false, 12), (true, 12)];
            (
                pick(),
                proptest::collection::vec(
                    (domain::identity_tail(), race_of(k), ways()),
                    timings.len(),
                ),
            )
                .prop_map(move |(form, draws)| {
                    let mut ops = Vec::new();
                    for (i, ((tail, race, ways), (swap, gap_ms))) in
                        draws.into_iter().zip(timings).enumerate()
                    {
                        ops.push(Op::Create {
                            form,
                            // Distinct tails, whatever was drawn.
                            who: Who::Fresh(format!("{tail}~{i}")),
                            params: Params::default(),
                        });
                        ops.push(Op::Race {
                            user: Index(0),
                            race,
                            ways,
                            swap,
                            gap_ms,
                        });
                    }
                    ops
                })
                .boxed()
        }
        &Template::Misses(form) => misses(form),
        &Template::Neighbours(form) => neighbours(form, shape),
        &Template::Views(form) => views(form),
        &Template::Values(form) => {
            let form = Index(form as u16);
            (params(true), by())
                .prop_map(move |(update, by)| {
                    vec![
                        Op::Populate {
                            form,
                            size: domain::TYPE_LOOKING.len(),
                            valued: true,
                        },
                        Op::Read {
                            view: form,
                            page_size: PageChoice::Max,
                        },
                        Op::Update {
                            user: Index(0),
                            by,
                            via: Via::Alias,
                            params: update,
                        },
                    ]
                })
                .boxed()
        }
    }
}

/// The page sizes a collection of `size` users is walked at: where caps and boundaries
/// live, not page by page. The common caps below it (25, 50, 100, 200: a collection one
/// larger than each, as 1001 is, ends on a page of one user at every one of them), a size
/// that divides it exactly (its last page full, with no next page), the sizes around it
/// (one page, or one user spilling over), the edition's largest and the default.
pub fn collection_page_sizes(size: usize) -> Vec<PageChoice> {
    let mut out: Vec<PageChoice> = [25u32, 50, 100, 200]
        .into_iter()
        .filter(|&cap| (cap as usize) < size)
        .map(PageChoice::Fixed)
        .collect();
    if let Some(pages) = (2..=size.min(16)).find(|p| size.is_multiple_of(*p) && size / p > 1) {
        out.push(PageChoice::Fixed((size / pages) as u32));
    }
    out.extend([
        PageChoice::Around(-1),
        PageChoice::Around(0),
        PageChoice::Around(1),
        PageChoice::Max,
        PageChoice::Default,
    ]);
    out
}

/// The `n`-th planned update's parameters: a name from `domain::TYPE_LOOKING` and attributes
/// holding a number from `domain::NUMBER_LITERALS` and a type-looking string, in turn, so that
/// a run's updates send each of them.
fn valued(n: usize, mut p: Params) -> Params {
    let v = valued_params(n);
    p.friendly_name = v.friendly_name;
    p.attributes = v.attributes;
    p
}

/// The `n`-th of the values stores change, as parameters (see [`valued`]).
pub fn valued_params(n: usize) -> Params {
    let mut p = Params::default();
    let name = domain::TYPE_LOOKING[n % domain::TYPE_LOOKING.len()];
    let number = domain::NUMBER_LITERALS[n % domain::NUMBER_LITERALS.len()];
    p.friendly_name = Some(name.to_owned());
    p.attributes = Some(format!(
        "{{\"n\":{number},\"s\":{}}}",
        serde_json::Value::from(name)
    ));
    p
}

/// A plain tail: every engine's variants of it mean what they say.
fn plain_tail() -> BoxedStrategy<String> {
    "[a-z]{3,8}[0-9]{1,2}".boxed()
}

/// Every matching engine's near misses of one live user created through `form`, each with a
/// fetch, an update and a delete, through its own view and its alias in turn, wrapped and
/// edited in turn.
fn misses(form: usize) -> BoxedStrategy<Vec<Op>> {
    let engines: Vec<Relation> = Relation::ALL
        .into_iter()
        .filter(|r| r.is_engine())
        .collect();
    let n = engines.len() * 3;
    (
        plain_tail(),
        proptest::collection::vec(any::<u32>(), n),
        params(true),
    )
        .prop_map(move |(tail, salts, update)| {
            let mut ops = vec![Op::Focus {
                tail: tail.clone(),
                form,
                step: Focus::Create(Params::default()),
            }];
            for (i, salt) in salts.into_iter().enumerate() {
                let action = match i % 3 {
                    0 => Miss::Fetch,
                    1 => Miss::Update(update.clone()),
                    _ => Miss::Delete,
                };
                ops.push(Op::NearMiss {
                    user: Index(0),
                    relation: engines[i / 3],
                    salt,
                    wrap: i % 2 == 1,
                    action,
                    via: if (i / 2) % 2 == 0 {
                        Via::Own
                    } else {
                        Via::Alias
                    },
                });
            }
            ops
        })
        .boxed()
}

/// A user with neighbours (the same identity in the other service, an extension of it by a
/// hierarchical separator, a prefix, another case) and writes on it by sid and identity,
/// through its view and its alias, that must leave every neighbour as it was.
fn neighbours(form: usize, shape: Shape) -> BoxedStrategy<Vec<Op>> {
    let other = (form + 1) % 2;
    let seps = ["-", "_", ".", ":"];
    (
        plain_tail(),
        params(true),
        params(true),
        0..seps.len(),
        extra_ops(shape),
    )
        .prop_map(move |(tail, first, second, sep, extra)| {
            let focus = |t: &str, f: usize, step: Focus| Op::Focus {
                tail: t.to_owned(),
                form: f,
                step,
            };
            let create = || Focus::Create(Params::default());
            let sub = format!("{tail}{}n", seps[sep]);
            let prefix: String = tail.chars().take(tail.chars().count() - 1).collect();
            let upper = tail.to_uppercase();
            let mut ops = vec![
                focus(&tail, form, create()),
                focus(&tail, other, create()),
                focus(&sub, form, create()),
                focus(&prefix, form, create()),
                focus(&upper, form, create()),
                focus(&tail, form, Focus::Update(By::Identity, first)),
                focus(&tail, form, Focus::Update(By::Sid, second)),
                focus(&tail, form, Focus::Delete(By::Identity)),
                focus(&tail, form, create()),
                focus(&tail, form, Focus::Delete(By::Sid)),
            ];
            ops.extend(extra);
            ops
        })
        .boxed()
}

/// Two users of this form, each read (by sid and by identity) through one view of its
/// collection, then updated and deleted through the other view and read again through the
/// first after each write: the first user read through its own view and written through
/// its alias, the second the other way round. Every view of a collection shows its latest
/// write (page: the shortened URL form reaches the default service's users), so a cache in
/// front of one view that the other view's writes do not refresh is seen at the read after
/// the write, not left to a read-back that may come after a write through the cached view.
fn views(form: usize) -> BoxedStrategy<Vec<Op>> {
    let f = Index(form as u16);
    (plain_tail(), plain_tail(), params(true), params(true))
        .prop_map(move |(first, second, one, two)| {
            let second = if second == first {
                format!("{second}v")
            } else {
                second
            };
            let mut ops = Vec::new();
            for tail in [first, second] {
                ops.push(Op::Create {
                    form: f,
                    who: Who::Fresh(tail),
                    params: Params::default(),
                });
            }
            let reads = |user: u16, via: Via| {
                [By::Sid, By::Identity].map(|by| Op::Fetch {
                    user: Index(user),
                    by,
                    via,
                })
            };
            for (user, read, write, params) in [
                (0, Via::Own, Via::Alias, one),
                (1, Via::Alias, Via::Own, two),
            ] {
                ops.extend(reads(user, read));
                ops.push(Op::Update {
                    user: Index(user),
                    by: By::Sid,
                    via: write,
                    params,
                });
                ops.extend(reads(user, read));
                ops.push(Op::Delete {
                    user: Index(user),
                    by: By::Identity,
                    via: write,
                });
                ops.extend(reads(user, read));
            }
            ops
        })
        .boxed()
}

fn extra_ops(shape: Shape) -> BoxedStrategy<Vec<Op>> {
    proptest::collection::vec(op(shape), 0..3).boxed()
}

/// Race kind `k` (in `race`'s order).
fn race_of(k: usize) -> BoxedStrategy<Race> {
    match k % RACE_KINDS {
        0 => (domain::friendly_name(), domain::attributes_text())
            .prop_map(|(name, attributes)| Race::UpdateUpdate { name, attributes })
            .boxed(),
        1 => ("[a-z]{1,8}", "[A-Z]{1,8}")
            .prop_map(|(a, b)| Race::UpdateSame { a, b })
            .boxed(),
        2 => "[a-z]{1,8}"
            .prop_map(|name| Race::DeleteUpdate { name })
            .boxed(),
        3 => Just(Race::CreateDelete).boxed(),
        _ => Just(Race::DeleteDelete).boxed(),
    }
}
