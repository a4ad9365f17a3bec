//! What a run exercised: the ordered pairs of operations on one identity (in each view, and
//! across views), and the families of values, collection sizes, near misses and races it
//! sent. The model counts them as it judges; the engine plans sequences to reach them all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{self, Relation};
use crate::json::{self, Json};

/// The operations on one identity that coverage pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A create of an identity the collection never held (or holds now: a duplicate).
    Create,
    /// A create of an identity whose user was deleted from the collection before.
    Recreate,
    /// A fetch by sid or identity.
    Fetch,
    /// An update by sid or identity.
    Update,
    /// A delete by sid or identity.
    Delete,
    /// A fetch, update or delete of an identity that nearly matches this one.
    NearMiss,
    /// A walk of a collection (every identity the model knows takes part).
    Walk,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 7] = [
        Kind::Create,
        Kind::Recreate,
        Kind::Fetch,
        Kind::Update,
        Kind::Delete,
        Kind::NearMiss,
        Kind::Walk,
    ];

    /// The name coverage shows.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Recreate => "re-create",
            Kind::Fetch => "fetch",
            Kind::Update => "update",
            Kind::Delete => "delete",
            Kind::NearMiss => "near-miss",
            Kind::Walk => "walk",
        }
    }
}

/// One node of the transition graph: an operation through a view (by its label).
pub fn node(kind: Kind, view: &str) -> String {
    format!("{}@{view}", kind.label())
}

/// The name of the transition from one node to the next.
pub fn transition(from: &str, to: &str) -> String {
    format!("{from} -> {to}")
}

/// Whether `b` can follow `a` directly on one identity: every pair can, but for a create and
/// a re-creation in one collection (a create is a re-creation only once the identity was
/// deleted there, and stays one).
pub fn possible(a: (Kind, &str), b: (Kind, &str)) -> bool {
    let creates = |k| matches!(k, Kind::Create | Kind::Recreate);
    !(a.1 == b.1 && creates(a.0) && creates(b.0) && a.0 != b.0)
}

/// Every possible ordered pair of operations over the views `labels`: what a run must
/// cover.
pub fn required(labels: &[&str]) -> Vec<String> {
    let nodes: Vec<(Kind, &str)> = labels
        .iter()
        .flat_map(|l| Kind::ALL.map(|k| (k, *l)))
        .collect();
    let mut out = Vec::new();
    for a in &nodes {
        for b in &nodes {
            if possible(*a, *b) {
                out.push(transition(&node(a.0, a.1), &node(b.0, b.1)));
            }
        }
    }
    out
}

/// What a run (or one sequence) covered: transitions and families, each with how often.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// `create@shortened -> fetch@service` and the like.
    pub transitions: BTreeMap<String, usize>,
    /// `identity:reserved`, `attributes:big-int`, `collection:101`, `race:delete-update`…
    pub families: BTreeMap<String, usize>,
    /// How many transitions a run of the stateful case must take (see [`required`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub required: usize,
    /// Those it did not take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Coverage {
    /// Counts a family once more.
    pub fn family(&mut self, name: impl Into<String>) {
        *self.families.entry(name.into()).or_default() += 1;
    }

    /// Adds another coverage's counts.
    pub fn merge(&mut self, other: &Coverage) {
        for (k, n) in &other.transitions {
            *self.transitions.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.families {
            *self.families.entry(k.clone()).or_default() += n;
        }
        self.missing.retain(|t| !other.transitions.contains_key(t));
        self.required = self.required.max(other.required);
    }

    /// Notes which of `required` it has not taken.
    pub fn require(&mut self, required: &[String]) {
        self.required = required.len();
        self.missing = self
            .missing(required)
            .into_iter()
            .map(str::to_owned)
            .collect();
    }

    /// `N of M transitions …, K value families`, for a summary line.
    pub fn summary(&self) -> String {
        format!(
            "{} of {} transitions between operations on one identity, {} value families",
            self.required.saturating_sub(self.missing.len()),
            self.required,
            self.families.len()
        )
    }

    /// The transitions of `required` not covered.
    pub fn missing<'a>(&self, required: &'a [String]) -> Vec<&'a str> {
        required
            .iter()
            .filter(|t| !self.transitions.contains_key(*t))
            .map(String::as_str)
            .collect()
    }
}

/// Follows each identity's last operation, to count the transitions of a sequence.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// The last node each tail took part in.
    last: BTreeMap<String, String>,
    /// What it counted.
    pub coverage: Coverage,
}

impl Tracker {
    /// Records that `tail` took part in `kind` through the view `label`.
    pub fn touch(&mut self, tail: &str, kind: Kind, label: &str) {
        let now = node(kind, label);
        if let Some(before) = self.last.insert(tail.to_owned(), now.clone()) {
            *self
                .coverage
                .transitions
                .entry(transition(&before, &now))
                .or_default() += 1;
        }
    }
}

/// The families of an identity's tail.
pub fn identity_families(tail: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if domain::is_plain(tail) {
        out.push("plain");
    }
    if tail.chars().any(|c| domain::RESERVED.contains(c)) {
        out.push("reserved");
    }
    if tail.chars().any(|c| "%_*?[]^$.()+|\\{}".contains(c)) {
        out.push("metacharacter");
    }
    if tail.ends_with(char::is_whitespace) {
        out.push("space-ended");
    }
    if !tail.is_ascii() {
        out.push("non-ascii");
    }
    if tail.chars().any(|c| c as u32 > 0xFFFF) {
        out.push("astral");
    }
    if tail.chars().any(|c| ('\u{300}'..='\u{36F}').contains(&c)) {
        out.push("combining");
    }
    if tail.chars().count() > 64 {
        out.push("long");
    }
    out
}

/// Whether a string reads as another type: a number, a literal of JSON or YAML, a date.
pub fn type_looking(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && (json::parse(t).is_ok_and(|j| !matches!(j, Json::Str(_)))
            || t.parse::<f64>().is_ok()
            || [
                "true",
                "false",
                "null",
                "none",
                "nil",
                "yes",
                "no",
                "on",
                "undefined",
                "nan",
                "infinity",
            ]
            .contains(&t.to_ascii_lowercase().as_str())
            || (t.len() >= 10
                && t.as_bytes()[4] == b'-'
                && t[..4].bytes().all(|b| b.is_ascii_digit()))
            || crate::spec::SidKind::ALL.iter().any(|k| k.matches(t)))
}

/// The families of a friendly name.
pub fn name_families(name: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if name.is_empty() {
        out.push("empty");
    } else if domain::is_plain(name) {
        out.push("plain");
    }
    if type_looking(name) {
        out.push("type-looking");
    }
    if name.contains(['<', '>', '&']) {
        out.push("markup");
    }
    if !name.is_ascii() {
        out.push("non-ascii");
    }
    out
}

/// The families of an `Attributes` value.
pub fn attribute_families(text: &str, value: &Json) -> Vec<&'static str> {
    let mut out = Vec::new();
    if *value == Json::empty_object() {
        out.push("empty");
    }
    if value.depth() > 5 {
        out.push("deep");
    }
    if text.len() > 4096 {
        out.push("large");
    }
    for n in value.numbers() {
        let digits = n
            .split(['e', 'E'])
            .next()
            .unwrap_or(n)
            .bytes()
            .filter(u8::is_ascii_digit)
            .count();
        let integer = !n.contains(['.', 'e', 'E']);
        if integer && n.parse::<i64>().is_ok_and(|i| i.unsigned_abs() > 1 << 53) {
            out.push("big-integer");
        }
        if integer && n.parse::<i64>().is_err() {
            out.push("beyond-64-bit");
        }
        if n.contains(['e', 'E']) {
            out.push("exponent");
        }
        if n.parse::<f64>().is_ok_and(|f| f.is_infinite()) {
            out.push("beyond-double");
        }
        if n.starts_with("-0") && n.parse::<f64>() == Ok(0.0) {
            out.push("negative-zero");
        }
        if !integer && digits > 15 {
            out.push("long-decimal");
        }
        if n.contains('.') {
            out.push("fraction");
        }
    }
    let strings = value.strings();
    if strings.iter().any(|s| !s.is_ascii()) {
        out.push("non-ascii");
    }
    if strings.iter().any(|s| type_looking(s)) {
        out.push("type-looking-string");
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The family name of a near miss.
pub fn near_miss_family(relation: Relation, wrapped: bool) -> String {
    if wrapped {
        format!("near-miss:{}-wrapped", relation.label())
    } else {
        format!("near-miss:{}", relation.label())
    }
}
