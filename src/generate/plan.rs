//! Coverage-guided choice of what the stateful sequences do: instead of leaving every
//! transition to chance, a run's first sequences walk planned paths over one identity that
//! together take every ordered pair of operations (create, re-create, fetch, update, delete,
//! near miss, walk) in each URL form and across forms; others build collections larger than
//! common caps and race requests on one user; the rest are drawn at random as before.
//! Parameters and values are still drawn (and shrunk) by proptest. Pure and deterministic:
//! the plan depends only on the number of forms and the bounds, so a seed replays the same
//! sequence in any run.

use std::collections::{BTreeSet, VecDeque};

use crate::model::Kind;

/// What one sequence of the stateful case does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// A planned path over the focus identity: operation kinds on forms (indices into the
    /// run's forms), each pair of consecutive ones a transition.
    Path(Vec<(Kind, usize)>),
    /// A collection of `size` users built on form `form`, walked around its size.
    Populate {
        /// The form.
        form: usize,
        /// How many users the collection holds.
        size: usize,
    },
    /// Requests on one user at once (`race` indexes `super::program::race`'s kinds).
    Race(usize),
    /// Every matching engine's near misses, with each action, of a user of this form.
    Misses(usize),
    /// Writes on a user of this form beside its neighbours (the same identity in the other
    /// form, an extension, a prefix, another case).
    Neighbours(usize),
    /// Users of this form created each with another of the values stores change.
    Values(usize),
    /// Users of this form read through one view of their collection, then written through
    /// another and read again through the first (`super::program::views`).
    Views(usize),
    /// Random operations.
    Random,
}

impl Template {
    /// A short name, kept in the seeds file so a failing sequence is drawn again the same
    /// way: `path:3`, `populate:0:101`, `race:2`, `random`.
    pub fn code(&self, index: usize) -> String {
        match self {
            Template::Path(_) => format!("path:{index}"),
            Template::Populate { form, size } => format!("populate:{form}:{size}"),
            Template::Race(k) => format!("race:{k}"),
            Template::Misses(f) => format!("misses:{f}"),
            Template::Neighbours(f) => format!("neighbours:{f}"),
            Template::Values(f) => format!("values:{f}"),
            Template::Views(f) => format!("views:{f}"),
            Template::Random => "random".to_owned(),
        }
    }
}

/// The state of the focus identity in one form's collection, as far as the kind of the next
/// create depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Life {
    Absent,
    Fresh,
    Deleted,
    Recreated,
}

/// What a planned operation does to the state of its form, or None when it cannot be that
/// kind there (a create where the identity was deleted is a re-creation, and the other way
/// round).
fn after(kind: Kind, now: Life) -> Option<Life> {
    use Life::*;
    match (kind, now) {
        (Kind::Create, Absent | Fresh) => Some(Fresh),
        (Kind::Create, _) => None,
        (Kind::Recreate, Deleted | Recreated) => Some(Recreated),
        (Kind::Recreate, _) => None,
        (Kind::Delete, Fresh | Recreated) => Some(Deleted),
        (Kind::Delete, s) => Some(s),
        (_, s) => Some(s),
    }
}

type Node = (Kind, usize);
type State = (Option<Node>, Vec<Life>);

/// Paths of at most `len` operations over `forms` forms that together take every ordered
/// pair of operations: each path starts from an identity no form has seen.
pub fn paths(forms: usize, len: usize) -> Vec<Vec<Node>> {
    let forms = forms.max(1);
    let len = len.max(2);
    let nodes: Vec<Node> = (0..forms).flat_map(|f| Kind::ALL.map(|k| (k, f))).collect();
    let labels: Vec<String> = (0..forms).map(|f| f.to_string()).collect();
    let mut uncovered: BTreeSet<(Node, Node)> = nodes
        .iter()
        .flat_map(|a| nodes.iter().map(move |b| (*a, *b)))
        .filter(|(a, b)| crate::model::coverage::possible((a.0, &labels[a.1]), (b.0, &labels[b.1])))
        .collect();
    let mut out = Vec::new();
    while !uncovered.is_empty() {
        let mut state: State = (None, vec![Life::Absent; forms]);
        let mut path: Vec<Node> = Vec::new();
        while path.len() < len {
            let Some(route) = route(&state, &nodes, &uncovered, len - path.len()) else {
                break;
            };
            for node in route {
                if let Some(prev) = state.0 {
                    uncovered.remove(&(prev, node));
                }
                state.1[node.1] = after(node.0, state.1[node.1]).expect("a planned move applies");
                state.0 = Some(node);
                path.push(node);
            }
        }
        if path.len() < 2 {
            // Nothing more can be covered from a fresh identity (cannot happen: every pair
            // is reachable), so stop rather than loop.
            break;
        }
        out.push(path);
    }
    out
}

/// The shortest sequence of moves from `state` whose last move takes an uncovered pair, in
/// at most `budget` moves.
fn route(
    state: &State,
    nodes: &[Node],
    uncovered: &BTreeSet<(Node, Node)>,
    budget: usize,
) -> Option<Vec<Node>> {
    let mut seen: BTreeSet<State> = BTreeSet::new();
    let mut queue: VecDeque<(State, Vec<Node>)> = VecDeque::new();
    seen.insert(state.clone());
    queue.push_back((state.clone(), Vec::new()));
    while let Some((s, moves)) = queue.pop_front() {
        if moves.len() >= budget {
            continue;
        }
        for &node in nodes {
            let Some(next) = after(node.0, s.1[node.1]) else {
                continue;
            };
            let mut m = moves.clone();
            m.push(node);
            if s.0.is_some_and(|prev| uncovered.contains(&(prev, node))) {
                return Some(m);
            }
            let mut lives = s.1.clone();
            lives[node.1] = next;
            let t = (Some(node), lives);
            if seen.insert(t.clone()) {
                queue.push_back((t, m));
            }
        }
    }
    None
}

/// How many race templates there are: one per kind of `super::program::Race`, and one of
/// creates at once (of one identity, and of distinct ones).
pub const RACES: usize = super::program::RACE_KINDS + 1;

/// The templates of a run's stateful sequences, in order: the planned paths interleaved
/// with the neighbourhoods, near misses and values of each form, the collections (sizes up to
/// `max_collection`) and the races, then random ones, so that a smaller budget still reaches
/// some of each.
pub fn templates(forms: usize, path_len: usize, max_collection: usize) -> Vec<Template> {
    let paths: Vec<Template> = paths(forms, path_len)
        .into_iter()
        .map(Template::Path)
        .collect();
    // One large collection per run, walked at the page sizes where caps live
    // (`program::collection_page_sizes`), instead of one collection per cap.
    let sizes: Vec<usize> = [crate::runner::COLLECTION_SIZE.min(max_collection)]
        .into_iter()
        .filter(|&n| n > 1)
        .collect();
    let mut specials: VecDeque<Template> = VecDeque::new();
    for form in 0..forms.max(1) {
        specials.push_back(Template::Neighbours(form));
        specials.push_back(Template::Misses(form));
        specials.push_back(Template::Values(form));
    }
    // The first form is the shortened one (unless `--only-service`), whose collection has a
    // second view, the default service's own form, where the run has it. The other forms'
    // collections have one view, through which the template would read what it wrote.
    specials.push_back(Template::Views(0));
    for i in 0..sizes.len().max(RACES) {
        if let Some(&size) = sizes.get(i) {
            specials.push_back(Template::Populate {
                form: i % forms.max(1),
                size,
            });
        }
        if i < RACES {
            specials.push_back(Template::Race(i));
        }
    }
    let mut out = Vec::new();
    for p in paths {
        out.push(p);
        if let Some(s) = specials.pop_front() {
            out.push(s);
        }
    }
    out.extend(specials);
    out
}

/// The template a seeds-file code names, if this run's plan has it.
pub fn from_code(code: &str, plan: &[Template]) -> Template {
    let mut parts = code.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("path"), Some(i), None) => {
            let paths: Vec<&Template> = plan
                .iter()
                .filter(|t| matches!(t, Template::Path(_)))
                .collect();
            i.parse::<usize>()
                .ok()
                .and_then(|i| paths.get(i).map(|t| (*t).clone()))
                .unwrap_or(Template::Random)
        }
        (Some("populate"), Some(f), Some(n)) => match (f.parse(), n.parse()) {
            (Ok(form), Ok(size)) => Template::Populate { form, size },
            _ => Template::Random,
        },
        (Some("race"), Some(k), None) => k
            .parse()
            .ok()
            .filter(|k| *k < RACES)
            .map_or(Template::Random, Template::Race),
        (Some(kind @ ("misses" | "neighbours" | "values" | "views")), Some(f), None) => {
            match (kind, f.parse::<usize>()) {
                ("misses", Ok(f)) => Template::Misses(f),
                ("neighbours", Ok(f)) => Template::Neighbours(f),
                ("values", Ok(f)) => Template::Values(f),
                ("views", Ok(f)) => Template::Views(f),
                _ => Template::Random,
            }
        }
        _ => Template::Random,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::coverage::{self, node, transition};

    fn labels(forms: usize) -> Vec<&'static str> {
        ["shortened", "service"][..forms].to_vec()
    }

    #[test]
    fn the_paths_take_every_ordered_pair_of_operations_in_and_across_forms() {
        for forms in [1, 2] {
            for len in [8, 14] {
                let ps = paths(forms, len);
                let mut covered = BTreeSet::new();
                for p in &ps {
                    assert!(p.len() <= len, "{p:?}");
                    let mut lives = vec![Life::Absent; forms];
                    for (i, &(k, f)) in p.iter().enumerate() {
                        lives[f] = after(k, lives[f]).expect("every planned move applies");
                        if i > 0 {
                            let (pk, pf) = p[i - 1];
                            covered.insert(transition(
                                &node(pk, labels(forms)[pf]),
                                &node(k, labels(forms)[f]),
                            ));
                        }
                    }
                }
                let required = coverage::required(&labels(forms));
                let missing: Vec<&String> =
                    required.iter().filter(|t| !covered.contains(*t)).collect();
                assert!(
                    missing.is_empty(),
                    "{forms} forms, {len} steps: {missing:?}"
                );
                assert_eq!(required.len(), (7 * forms) * (7 * forms) - 2 * forms);
            }
        }
    }

    #[test]
    fn the_default_plan_fits_the_default_budget_with_room_for_random_sequences() {
        let n = paths(2, 14).len();
        assert!((14..=24).contains(&n), "{n} paths of 14 steps");
        let t = templates(2, 18, 1001);
        let random = crate::runner::DEFAULT_SEQUENCES.saturating_sub(t.len());
        assert!(
            random >= 2,
            "{} templates leave {random} random sequences",
            t.len()
        );
        for form in 0..2 {
            for want in [
                Template::Misses(form),
                Template::Neighbours(form),
                Template::Values(form),
            ] {
                assert!(t.contains(&want), "{want:?}");
            }
        }
        assert!(t.contains(&Template::Views(0)));
        assert_eq!(
            t.iter().filter(|t| matches!(t, Template::Race(_))).count(),
            RACES
        );
        assert_eq!(
            t.iter()
                .filter(|t| matches!(t, Template::Populate { .. }))
                .count(),
            1
        );
        let small = templates(2, 18, 26);
        assert_eq!(
            small
                .iter()
                .filter(|t| matches!(t, Template::Populate { .. }))
                .count(),
            1
        );
        for (i, one) in t.iter().enumerate() {
            let path = t[..i]
                .iter()
                .filter(|x| matches!(x, Template::Path(_)))
                .count();
            let code = one.code(path);
            assert_eq!(&from_code(&code, &t), one, "{code}");
        }
        assert_eq!(from_code("nonsense", &t), Template::Random);
        assert_eq!(from_code("race:99", &t), Template::Random);
    }
}
