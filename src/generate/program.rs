//! What a generated sequence is made of: operations on the User resource drawn from the input
//! domains (`crate::domain`), as proptest strategies. Pure.
//!
//! An operation names the users it acts on by [`Index`], resolved against the model when the
//! step runs (modulo the users the model knows then). A sequence therefore stays meaningful
//! when shrinking removes or simplifies steps before it.

use proptest::prelude::*;
use serde_json::Value;

use crate::domain::{self, Relation};

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

/// How a step names a user in its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// By its sid.
    Sid,
    /// By its identity.
    Identity,
}

/// The identity of a create.
#[derive(Debug, Clone)]
pub enum Who {
    /// A new identity: this tail after the sequence's namespace.
    Fresh(String),
    /// A tail related to a known user's tail (a prefix, an extension, a case variant or a
    /// near-miss of it).
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
    /// `Attributes`, as the JSON value whose text is sent.
    pub attributes: Option<Value>,
    /// `RoleSid`: one of the roles the model has seen the target assign.
    pub role: Option<Index>,
}

impl Params {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.friendly_name.is_none() && self.attributes.is_none() && self.role.is_none()
    }
}

/// A request the documentation says must be refused.
#[derive(Debug, Clone)]
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

/// An update the documentation says must be refused, on a known user.
#[derive(Debug, Clone)]
pub enum InvalidUpdate {
    /// `RoleSid` breaking its pattern.
    MalformedRole(String),
    /// `Attributes` that are not a JSON object.
    AttributesNotObject(String),
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
    /// Fetch a known user (through the other form when `cross`).
    Fetch {
        /// Which user.
        user: Index,
        /// By sid or identity.
        by: By,
        /// Through the other URL form.
        cross: bool,
    },
    /// Fetch an identity related to a known user's: 404 unless a user has exactly it.
    FetchRelated {
        /// Which user.
        user: Index,
        /// How the identity asked for relates to that user's.
        relation: Relation,
        /// Chooses among the variants.
        salt: u32,
    },
    /// Update a known user with a non-empty subset of the parameters.
    Update {
        /// Which user.
        user: Index,
        /// By sid or identity.
        by: By,
        /// What to change.
        params: Params,
    },
    /// Delete a known user.
    Delete {
        /// Which user.
        user: Index,
        /// By sid or identity.
        by: By,
    },
    /// Walk a form's collection from its first page through `next_page_url`.
    Read {
        /// The URL form.
        form: Index,
        /// `PageSize`, or none for the default.
        page_size: Option<u32>,
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
}

impl Op {
    /// Whether the operation sends several requests at once.
    pub fn is_burst(&self) -> bool {
        matches!(self, Op::Burst { .. } | Op::BurstDistinct { .. })
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
}

fn by() -> impl Strategy<Value = By> {
    prop_oneof![Just(By::Sid), Just(By::Identity)]
}

fn params(non_empty: bool) -> impl Strategy<Value = Params> {
    (
        proptest::option::weighted(0.5, domain::friendly_name()),
        proptest::option::weighted(0.5, domain::attributes()),
        proptest::option::weighted(0.25, pick()),
        any::<u8>(),
    )
        .prop_map(move |(friendly_name, attributes, role, pick)| {
            let mut p = Params {
                friendly_name,
                attributes,
                role,
            };
            if non_empty && p.is_empty() {
                // An update sends at least one parameter: which one is the draw's choice.
                match pick % 2 {
                    0 => p.friendly_name = Some(format!("name {pick}")),
                    _ => p.attributes = Some(serde_json::json!({ "n": pick })),
                }
            }
            p
        })
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        6 => domain::identity_tail().prop_map(Who::Fresh),
        2 => (pick(), domain::relation(), any::<u32>())
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

/// One operation of a stateful sequence, weighted towards what builds state and reads it back.
pub fn op(shape: Shape) -> BoxedStrategy<Op> {
    let max_burst = shape.max_burst.max(2);
    prop_oneof![
        8 => (pick(), who(), params(false))
            .prop_map(|(form, who, params)| Op::Create { form, who, params }),
        6 => (pick(), by(), proptest::bool::weighted(0.15))
            .prop_map(|(user, by, cross)| Op::Fetch { user, by, cross }),
        3 => (pick(), domain::relation(), any::<u32>())
            .prop_map(|(user, relation, salt)| Op::FetchRelated { user, relation, salt }),
        4 => (pick(), by(), params(true))
            .prop_map(|(user, by, params)| Op::Update { user, by, params }),
        4 => (pick(), by()).prop_map(|(user, by)| Op::Delete { user, by }),
        2 => (
            pick(),
            proptest::option::weighted(0.8, domain::page_size(shape.max_page_size))
        )
            .prop_map(|(form, page_size)| Op::Read { form, page_size }),
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
                    cross: false,
                },
                Op::Update {
                    user: first,
                    by,
                    params: update,
                },
                Op::Fetch {
                    user: first,
                    by: By::Sid,
                    cross: false,
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
