//! Generated and stateful testing: the cases that search instead of following a script.
//!
//! - `generated::inputs` draws every parameter from its whole documented domain
//!   ([`crate::domain`]): one create read back by sid and identity, updated with another draw
//!   and read back again; or a request the documentation says must be refused.
//! - `stateful::sequences` runs random sequences of operations over every URL form in play
//!   (create, fetch by sid, identity and near-miss identities, update, delete, re-create,
//!   paged reads, concurrent bursts) against a reference model ([`model`]).
//!
//! Every sequence comes from one seed; sequences run concurrently, each in a namespace of its
//! own, through the ledger. A failing sequence is shrunk (proptest's value trees) to a minimal
//! one and replayed once more on the case's record: its findings carry the numbered steps,
//! the model's expectation beside the target's answer, curl commands and the seed.

pub mod exec;
pub mod model;
pub mod program;
pub mod replay;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::runner::{CaseRun, Generation, Step, Stop};
use crate::spec::{Operation, UrlForm};
use exec::{Bounds, Trace};
use model::Model;
use program::{Op, Shape};

/// SplitMix64: a well-spread seed for sequence `i` of a case.
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn label_salt(label: &str) -> u64 {
    label.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The two families of generated cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Input domains, one round trip at a time.
    Inputs,
    /// Model-based sequences.
    Sequences,
}

impl Family {
    fn label(self) -> &'static str {
        match self {
            Family::Inputs => "generated::inputs",
            Family::Sequences => "stateful::sequences",
        }
    }

    fn strategy(self, shape: Shape) -> BoxedStrategy<Vec<Op>> {
        match self {
            Family::Inputs => program::input(shape),
            Family::Sequences => program::sequence(shape),
        }
    }
}

/// The operations drawn from a sequence seed, as a value tree that shrinks them.
///
/// proptest's strategies and trees are not `Send`: they are built where they are used, from
/// the family and shape, and never held across an `await`.
pub fn tree(
    family: Family,
    shape: Shape,
    seed: u64,
) -> Option<Box<dyn ValueTree<Value = Vec<Op>>>> {
    let strategy = family.strategy(shape);
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(seed, i as u64).to_le_bytes());
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy.new_tree(&mut runner).ok()
}

/// The operations a sequence seed draws.
pub fn draw(family: Family, shape: Shape, seed: u64) -> Option<Vec<Op>> {
    tree(family, shape, seed).map(|t| t.current())
}

enum Move {
    Simplify,
    Complicate,
}

/// A value tree on a thread of its own (proptest's trees are not `Send`), driven from async
/// code: each move answers the operations it leads to, or None when it cannot move.
struct Shrinker {
    tx: std::sync::mpsc::Sender<(Move, tokio::sync::oneshot::Sender<Option<Vec<Op>>>)>,
}

impl Shrinker {
    fn start(family: Family, shape: Shape, seed: u64) -> Shrinker {
        let (tx, rx) = std::sync::mpsc::channel::<(Move, tokio::sync::oneshot::Sender<_>)>();
        std::thread::spawn(move || {
            let Some(mut tree) = tree(family, shape, seed) else {
                return;
            };
            while let Ok((mv, reply)) = rx.recv() {
                let moved = match mv {
                    Move::Simplify => tree.simplify(),
                    Move::Complicate => tree.complicate(),
                };
                let _ = reply.send(moved.then(|| tree.current()));
            }
        });
        Shrinker { tx }
    }

    async fn step(&self, mv: Move) -> Option<Vec<Op>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx.send((mv, reply)).ok()?;
        answer.await.ok().flatten()
    }
}

/// The forms a sequence of this family works on: the case's, or every one in play.
fn forms(r: &CaseRun, family: Family) -> Vec<UrlForm> {
    match family {
        Family::Inputs => vec![r.form.clone()],
        Family::Sequences => r.session.plan.forms.clone(),
    }
}

fn shape(r: &CaseRun) -> Shape {
    let g = &r.session.plan.generation;
    Shape {
        max_steps: g.max_steps,
        max_burst: g.max_burst,
        max_page_size: r.session.plan.edition.page_size().max,
    }
}

/// One failing sequence.
struct Failure {
    index: usize,
    seed: u64,
    check: String,
    ops: Vec<Op>,
    trace: Trace,
    original_steps: usize,
    runs: usize,
}

/// Runs one sequence in a namespace of its own and deletes what it created.
async fn attempt(
    side: &mut CaseRun,
    forms: &[UrlForm],
    ops: &[Op],
    bounds: Bounds,
    sent: &AtomicUsize,
) -> Trace {
    let plan = side.session.plan.clone();
    let mut model = Model::new(
        side.namespace.clone(),
        forms.to_vec(),
        plan.default_service_sid.as_deref(),
        {
            let mut ctx = side.context(Operation::Fetch, &forms[0]);
            ctx.operation = None;
            ctx.form = None;
            ctx
        },
    );
    let before = side.exchanges.len();
    let trace = exec::run(side, &mut model, ops, bounds).await;
    side.clean_up().await;
    sent.fetch_add(side.exchanges.len() - before, Ordering::SeqCst);
    trace
}

/// `generated::inputs`: the input domains, one round trip at a time, on the case's form.
pub async fn inputs(r: &mut CaseRun) -> Step<()> {
    explore(r, Family::Inputs).await
}

/// `stateful::sequences`: model-based sequences over every form in play.
pub async fn sequences(r: &mut CaseRun) -> Step<()> {
    explore(r, Family::Sequences).await
}

async fn explore(r: &mut CaseRun, family: Family) -> Step<()> {
    let g = r.session.plan.generation.clone();
    let label = match family {
        Family::Inputs => format!("{}::{}", family.label(), r.form.label()),
        Family::Sequences => family.label().to_owned(),
    };
    let case_seed = mix(g.seed, label_salt(&label));
    let shape = shape(r);
    let forms = Arc::new(forms(r, family));
    let bounds = Bounds {
        max_pages: g.max_pages.min(r.session.plan.max_pages),
    };
    // Seeds that failed before come first, then this run's.
    let mut seeds: Vec<u64> = replay::persisted(g.persist.as_deref(), &label);
    seeds.extend((0..g.sequences as u64).map(|i| mix(case_seed, i)));
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(g.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, seed) in seeds.iter().copied().enumerate() {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Stop::Failed)?;
        let over_time = g.time.is_some_and(|t| started.elapsed() >= t);
        if over_time
            || sent.load(Ordering::SeqCst) >= g.max_requests
            || r.session.halt.is_stopping()
        {
            break;
        }
        let Some(ops) = draw(family, shape, seed) else {
            continue;
        };
        let mut side = r.scratch(format!("{}{i}-", r.namespace));
        let again = r.scratch(format!("{}{i}b-", r.namespace));
        let forms = forms.clone();
        let sent = sent.clone();
        set.spawn(async move {
            let mut trace = attempt(&mut side, &forms, &ops, bounds, &sent).await;
            // A sequence the target dropped mid-way (a transport error) runs once more, in a
            // namespace of its own; a second transport error errors the case.
            if trace.error.is_some() {
                side = again;
                trace = attempt(&mut side, &forms, &ops, bounds, &sent).await;
            }
            drop(permit);
            (i, seed, ops, trace, side)
        });
    }
    let mut done = Vec::new();
    while let Some(res) = set.join_next().await {
        if let Ok((i, seed, ops, trace, side)) = res {
            r.waited_for(&side);
            done.push((i, seed, ops, trace));
        }
    }
    done.sort_by_key(|(i, ..)| *i);
    let ran = done.len();
    // One failure per check is shrunk and shown: the first sequence that found it.
    let mut failures: Vec<Failure> = Vec::new();
    let mut error = None;
    for (index, seed, ops, trace) in done {
        if error.is_none()
            && let Some(e) = &trace.error
        {
            error = Some(e.to_string());
        }
        let Some(check) = trace.first_check() else {
            continue;
        };
        if failures.iter().any(|f| f.check == check) || failures.len() >= 3 {
            continue;
        }
        let original_steps = trace.steps.len();
        let (ops, trace, runs) = shrink(
            r,
            &forms,
            Shrinker::start(family, shape, seed),
            &check,
            (ops, trace),
            bounds,
            &sent,
            &g,
            index,
        )
        .await;
        failures.push(Failure {
            index,
            seed,
            check,
            ops,
            trace,
            original_steps,
            runs,
        });
    }
    for f in failures {
        // Replayed once more on the case's own record, so its report shows these requests.
        let mut side = r.scratch(format!("{}{}r-", r.namespace, f.index));
        let trace = attempt(&mut side, &forms, &f.ops, bounds, &sent).await;
        let shown = if trace.first_check().as_deref() == Some(f.check.as_str()) {
            trace
        } else {
            // The target answered otherwise this time (a race): show the shrunk run itself.
            f.trace
        };
        let text = replay::render(&replay::Replay {
            label: &label,
            run_seed: g.seed,
            sequence: f.index,
            sequences: ran,
            seed: f.seed,
            original_steps: f.original_steps,
            runs: f.runs,
            trace: &shown,
        });
        if let Some(path) = &g.persist {
            replay::persist(path, &label, f.seed, &f.check, shown.steps.len());
        }
        let mut findings: Vec<_> = shown.findings().cloned().collect();
        for finding in &mut findings {
            finding.replay = Some(text.clone());
        }
        side.findings.clear();
        r.absorb(side);
        r.report(findings);
    }
    if let Some(e) = error {
        return Err(Stop::Transport(crate::client::TransportError::Other {
            url: r.collection_url(&r.form.clone()),
            reason: e,
        }));
    }
    Ok(())
}

/// Shrinks a failing sequence to a minimal one that still raises `check`. Returns the
/// operations, their trace and how many sequences it ran.
#[allow(clippy::too_many_arguments)]
async fn shrink(
    r: &mut CaseRun,
    forms: &[UrlForm],
    tree: Shrinker,
    check: &str,
    failing: (Vec<Op>, Trace),
    bounds: Bounds,
    sent: &AtomicUsize,
    g: &Generation,
    index: usize,
) -> (Vec<Op>, Trace, usize) {
    let (mut best_ops, mut best) = failing;
    // Only the steps up to the failing one matter.
    let mut runs = 0;
    let started = Instant::now();
    let mut next = tree.step(Move::Simplify).await;
    while let Some(ops) = next {
        if runs >= g.shrink_runs
            || started.elapsed() >= g.shrink_time
            || sent.load(Ordering::SeqCst) >= g.max_requests
            || r.session.halt.is_stopping()
        {
            break;
        }
        runs += 1;
        let mut side = r.scratch(format!("{}{index}s{runs}-", r.namespace));
        let trace = attempt(&mut side, forms, &ops, bounds, sent).await;
        // Each shrinking run waits for the one before.
        r.waited_for(&side);
        next = if trace.findings().any(|f| f.check == check) {
            best_ops = ops;
            best = trace;
            tree.step(Move::Simplify).await
        } else {
            tree.step(Move::Complicate).await
        };
    }
    // Then the operations the failure does not need: those after the failing step, and any
    // single one whose removal still fails the same way (a sequence with a burst gets a
    // second try, since a race may not happen every time).
    let raises = |t: &Trace| t.findings().any(|f| f.check == check);
    if let Some(k) = best
        .steps
        .iter()
        .find(|s| s.findings.iter().any(|f| f.check == check))
        .map(|s| s.op)
    {
        best_ops.truncate(k + 1);
    }
    let tries = if best_ops.iter().any(Op::is_burst) {
        2
    } else {
        1
    };
    let mut i = 0;
    while i < best_ops.len() && best_ops.len() > 1 {
        if runs >= 2 * g.shrink_runs
            || started.elapsed() >= 2 * g.shrink_time
            || sent.load(Ordering::SeqCst) >= g.max_requests
            || r.session.halt.is_stopping()
        {
            break;
        }
        let mut candidate = best_ops.clone();
        candidate.remove(i);
        let mut kept = None;
        for _ in 0..tries {
            runs += 1;
            let mut side = r.scratch(format!("{}{index}s{runs}-", r.namespace));
            let trace = attempt(&mut side, forms, &candidate, bounds, sent).await;
            r.waited_for(&side);
            if raises(&trace) {
                kept = Some(trace);
                break;
            }
        }
        match kept {
            Some(trace) => {
                best_ops = candidate;
                best = trace;
            }
            None => i += 1,
        }
    }
    (best_ops, best, runs)
}

#[cfg(test)]
mod tests;
