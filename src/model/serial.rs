//! Concurrent requests against one user or identity: the answers and the world read back
//! afterwards must be what some serial order of those requests gives, as Elle and Jepsen
//! check a register. A handful of requests at once has few orders, so each is tried.
//!
//! Every request of the group was answered (a transport error ends the sequence before it
//! gets here), so each one is acknowledged or refused: an acknowledged write must show in
//! the world unless a later one in the order undid it, and a refused one must have changed
//! nothing. One answer no serial order gives is allowed: a delete acknowledged (204) for a
//! user another request of the group deleted before it in the order. DELETE is idempotent
//! (RFC 9110, 9.2.2), and a server that looked the user up before the other request removed
//! it acknowledges the delete too; the world must show the user gone all the same.
//! `docs/correct-servers.md` says what each kind of race may answer.

use std::collections::BTreeSet;

use super::observe::Answer;
use super::{Model, Step, Verdict};
use crate::check::{Exchange, Finding};
use crate::spec::Severity;

/// Every order of `0..n`.
pub fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut o = rest.clone();
            o.insert(at, n - 1);
            out.push(o);
        }
    }
    out
}

/// An order with its score (MUST findings, findings), its verdict and the world it leaves.
type Explained = ((usize, usize), Vec<usize>, Verdict, Model);

fn musts(v: &Verdict) -> usize {
    v.findings
        .iter()
        .filter(|f| f.severity == Severity::Must)
        .count()
}

impl Model {
    /// Judges requests sent at once (`steps[i]` answered by `exs[i]`) with the world read
    /// back after them: accepted when some order of them explains every answer and the
    /// world, the model then being that order's. `addressed` are the users they named.
    pub fn judge_group(
        &mut self,
        kind: &str,
        steps: &[Step],
        exs: &[Exchange],
        world: &[Answer],
    ) -> Verdict {
        let addressed: Vec<usize> = steps.iter().flat_map(Step::addressed).collect();
        // The order that explains the most: fewest MUST findings, then fewest findings (a
        // SHOULD of one order, such as a re-creation refused, may be no finding in another).
        let mut best: Option<Explained> = None;
        for order in orders(steps.len()) {
            let mut m = self.clone();
            let mut v = Verdict::default();
            m.racing_deleted = Some(BTreeSet::new());
            for &i in &order {
                let one = m.judge_step(&steps[i], &exs[i..=i], true);
                v.absorb(one);
            }
            m.racing_deleted = None;
            let w = m.judge_world(Some(&format!("{kind} race")), &addressed, world);
            v.absorb(w);
            let score = (musts(&v), v.findings.len());
            if best.as_ref().is_none_or(|(s, ..)| score < *s) {
                let done = score == (0, 0);
                best = Some((score, order, v, m));
                if done {
                    break;
                }
            }
        }
        let ((bad, _), order, mut closest, m) = best.expect("at least one order");
        if bad == 0 {
            let shown: Vec<String> = order.iter().map(|i| format!("#{}", i + 1)).collect();
            closest.expected = format!(
                "answers and a world that some serial order gives: {} does",
                shown.join(", ")
            );
            closest.diverged = false;
            *self = m;
            self.hold_serial();
            return closest;
        }
        let answers: Vec<String> = exs
            .iter()
            .enumerate()
            .map(|(i, ex)| format!("#{} {} → {}", i + 1, ex.request_line(), ex.status))
            .collect();
        let why: Vec<String> = closest
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Must)
            .take(3)
            .map(|f| format!("[{}] {}", f.check, f.message))
            .collect();
        let shown: Vec<String> = order.iter().map(|i| format!("#{}", i + 1)).collect();
        let mut f = Finding::new(
            "concurrent.serializable",
            "",
            format!(
                "the answers and the world of some serial order of the {} requests",
                steps.len()
            ),
            format!(
                "{}; the closest order, {}, still disagrees: {}",
                answers.join("; "),
                shown.join(", "),
                why.join("; ")
            ),
        );
        f.message = format!(
            "no serial order of {} requests sent at once ({kind}) explains what they answered and what the world shows afterwards: {}",
            steps.len(),
            why.join("; ")
        );
        Verdict {
            expected: "answers and a world that some serial order gives".to_owned(),
            findings: vec![f],
            diverged: true,
            about: closest.about,
        }
    }

    fn hold_serial(&mut self) {
        for view in 0..self.views.len() {
            for op in [
                crate::spec::Operation::Update,
                crate::spec::Operation::Delete,
            ] {
                if self.held.contains_key(&(op, self.views[view].label())) {
                    self.hold(op, view, &["concurrent.serializable"]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::orders;

    #[test]
    fn orders_are_every_permutation_once() {
        assert_eq!(orders(1), vec![vec![0]]);
        let three = orders(3);
        assert_eq!(three.len(), 6);
        let mut sorted = three.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
        assert_eq!(orders(4).len(), 24);
    }
}
