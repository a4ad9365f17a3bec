//! Generated and stateful testing: the cases that search instead of following a script.
//!
//! - `generated::inputs` draws every parameter from its whole documented domain
//!   ([`crate::domain`]): one create read back by sid and identity, updated with another draw
//!   and read back again; or a request the documentation says must be refused.
//! - `stateful::sequences` runs sequences of operations over every URL form in play against
//!   the reference model ([`crate::model`]): planned paths that together take every ordered
//!   pair of operations on one identity ([`plan`]), collections larger than common caps,
//!   requests raced on one user, and random sequences (creates of fresh and related
//!   identities, fetches, near misses under every matching engine, updates, deletes,
//!   re-creates, walks, bursts).
//!
//! After every write the whole world is read back and judged ([`crate::model::observe`]).
//! Every sequence comes from one seed; sequences run concurrently, each in a namespace of its
//! own, through the ledger. A failing sequence is shrunk (proptest's value trees) to a minimal
//! one and replayed once more on the case's record: its findings carry the numbered steps,
//! the model's expectation beside the target's answer, curl commands and the seed. The
//! case's record carries what it covered and the checks that held.

pub mod exec;
pub mod plan;
pub mod program;
pub mod replay;
pub mod resolve;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::model::{Coverage, Held, Model};
use crate::runner::{CaseRun, Generation, Step, Stop};
use crate::spec::{Operation, UrlForm};
use exec::{Bounds, Trace};
use plan::Template;
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
}

/// What one sequence is drawn from: its family and, for the stateful case, its template
/// (with the offset that turns its near misses' families).
#[derive(Debug, Clone)]
pub struct Draw {
    /// The family.
    pub family: Family,
    /// The template.
    pub template: Template,
    /// Which path of the plan it is (turns near-miss families and actions).
    pub offset: usize,
}

impl Draw {
    fn strategy(&self, shape: Shape) -> BoxedStrategy<Vec<Op>> {
        match self.family {
            Family::Inputs => program::input(shape),
            Family::Sequences => program::templated(&self.template, shape, self.offset * 3),
        }
    }
}

/// The operations drawn from a sequence seed, as a value tree that shrinks them.
///
/// proptest's strategies and trees are not `Send`: they are built where they are used, from
/// the draw and shape, and never held across an `await`.
pub fn tree(draw: &Draw, shape: Shape, seed: u64) -> Option<Box<dyn ValueTree<Value = Vec<Op>>>> {
    let strategy = draw.strategy(shape);
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(seed, i as u64).to_le_bytes());
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy.new_tree(&mut runner).ok()
}

/// The operations a sequence seed draws.
pub fn draw(d: &Draw, shape: Shape, seed: u64) -> Option<Vec<Op>> {
    tree(d, shape, seed).map(|t| t.current())
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
    fn start(draw: Draw, shape: Shape, seed: u64) -> Shrinker {
        let (tx, rx) = std::sync::mpsc::channel::<(Move, tokio::sync::oneshot::Sender<_>)>();
        std::thread::spawn(move || {
            let Some(mut tree) = tree(&draw, shape, seed) else {
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

/// The steps of a planned path: a little longer than a random sequence, so that fewer
/// paths take every transition.
const PATH_STEPS: usize = 18;

fn shape(r: &CaseRun) -> Shape {
    let g = &r.session.plan.generation;
    Shape {
        max_steps: g.max_steps,
        max_burst: g.max_burst,
        max_page_size: r.session.plan.edition.page_size().max,
        max_collection: g.max_collection,
    }
}

/// One failing sequence.
struct Failure {
    index: usize,
    seed: u64,
    draw: Draw,
    check: String,
    ops: Vec<Op>,
    trace: Trace,
    original_steps: usize,
    runs: usize,
    /// The requests the sequence that found it had sent by the step that showed it.
    found_after: usize,
}

/// What one run of a sequence left: its trace, what it covered and the checks that held.
struct Attempt {
    trace: Trace,
    coverage: Coverage,
    held: Held,
}

/// Runs one sequence in a namespace of its own and deletes what it created.
async fn attempt(
    side: &mut CaseRun,
    forms: &[UrlForm],
    ops: &[Op],
    bounds: Bounds,
    sent: &AtomicUsize,
    abandon: Option<&AtomicBool>,
) -> Attempt {
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
    let before = side.sent;
    let trace = exec::run(side, &mut model, ops, bounds, abandon).await;
    side.clean_up().await;
    sent.fetch_add(side.sent - before, Ordering::SeqCst);
    Attempt {
        trace,
        coverage: model.tracker.coverage,
        held: model.held,
    }
}

/// `generated::inputs`: the input domains, one round trip at a time, on the case's form.
pub async fn inputs(r: &mut CaseRun) -> Step<()> {
    explore(r, Family::Inputs).await
}

/// `stateful::sequences`: model-based sequences over every form in play.
pub async fn sequences(r: &mut CaseRun) -> Step<()> {
    explore(r, Family::Sequences).await
}

/// The draws of a case's sequences: the seeds file's first (with the template each was
/// found with), then this run's, the stateful case's following its plan.
fn draws(r: &CaseRun, family: Family, label: &str, forms: usize) -> Vec<(u64, Draw)> {
    let g = &r.session.plan.generation;
    let case_seed = mix(g.seed, label_salt(label));
    let templates = match family {
        Family::Inputs => Vec::new(),
        Family::Sequences => plan::templates(forms, PATH_STEPS, g.max_collection),
    };
    let path_index = |t: usize| {
        templates[..t]
            .iter()
            .filter(|t| matches!(t, Template::Path(_)))
            .count()
    };
    let random = |family| Draw {
        family,
        template: Template::Random,
        offset: 0,
    };
    let mut out: Vec<(u64, Draw)> = replay::persisted(g.persist.as_deref(), label)
        .into_iter()
        .map(|(seed, code)| {
            let template = plan::from_code(&code, &templates);
            let offset = templates
                .iter()
                .position(|t| *t == template)
                .map_or(0, path_index);
            (
                seed,
                Draw {
                    family,
                    template,
                    offset,
                },
            )
        })
        .collect();
    for i in 0..g.sequences {
        let seed = mix(case_seed, i as u64);
        let d = match templates.get(i) {
            Some(t) => Draw {
                family,
                template: t.clone(),
                offset: path_index(i),
            },
            None => random(family),
        };
        out.push((seed, d));
    }
    out
}

async fn explore(r: &mut CaseRun, family: Family) -> Step<()> {
    let g = r.session.plan.generation.clone();
    let label = match family {
        Family::Inputs => format!("{}::{}", family.label(), r.form.label()),
        Family::Sequences => family.label().to_owned(),
    };
    let shape = shape(r);
    let forms = Arc::new(forms(r, family));
    let bounds = Bounds {
        max_pages: g.max_pages.min(r.session.plan.max_pages),
        page_limit: r.session.plan.max_pages,
        observe: g.observe,
        observe_users: g.observe_users,
    };
    let draws = draws(r, family, &label, forms.len());
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    // The checks this case's sequences have failed so far, for `--max-failures`: once there
    // are that many, no sequence starts, and those running stop before their next step.
    let failed = Arc::new(std::sync::Mutex::new(
        std::collections::BTreeSet::<String>::new(),
    ));
    let abandon = Arc::new(AtomicBool::new(false));
    let max_failures = g.max_failures;
    let sem = Arc::new(tokio::sync::Semaphore::new(g.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    // Large collections run once everything else has: walked among them, every other
    // sequence's walk would read a thousand users more.
    let (light, heavy): (Vec<_>, Vec<_>) = draws.into_iter().enumerate().partition(
        |(_, (_, d))| !matches!(d.template, Template::Populate { size, .. } if size > 101),
    );
    let mut done = Vec::new();
    for batch in [light, heavy] {
        for (i, (seed, d)) in batch {
            let permit = sem
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Stop::Failed)?;
            let over_time = g.time.is_some_and(|t| started.elapsed() >= t);
            if over_time
                || sent.load(Ordering::SeqCst) >= g.max_requests
                || r.session.halt.is_stopping()
                || abandon.load(Ordering::SeqCst)
            {
                break;
            }
            let Some(ops) = draw(&d, shape, seed) else {
                continue;
            };
            // A sequence's requests reach no report (its trace keeps what a replay shows).
            let mut side = r.scratch(format!("{}{i}-", r.namespace)).unrecorded();
            let again = r.scratch(format!("{}{i}b-", r.namespace)).unrecorded();
            let forms = forms.clone();
            let sent = sent.clone();
            let (failed, abandon) = (failed.clone(), abandon.clone());
            set.spawn(async move {
                let mut a = attempt(&mut side, &forms, &ops, bounds, &sent, Some(&abandon)).await;
                // A sequence the target dropped mid-way (a transport error) runs once more,
                // in a namespace of its own; a second transport error errors the case.
                if a.trace.error.is_some() {
                    side = again;
                    a = attempt(&mut side, &forms, &ops, bounds, &sent, Some(&abandon)).await;
                }
                if let (Some(check), Some(n), Ok(mut f)) =
                    (a.trace.first_check(), max_failures, failed.lock())
                {
                    f.insert(check);
                    if f.len() >= n {
                        abandon.store(true, Ordering::SeqCst);
                    }
                }
                // A sequence that found nothing is not shown: only its coverage is kept.
                if a.trace.error.is_none() && a.trace.first_check().is_none() {
                    a.trace.steps = Vec::new();
                }
                drop(permit);
                (i, seed, d, ops, a, side)
            });
        }
        while let Some(res) = set.join_next().await {
            if let Ok((i, seed, d, ops, a, side)) = res {
                r.waited_for(&side);
                done.push((i, seed, d, ops, a));
            }
        }
    }
    done.sort_by_key(|(i, ..)| *i);
    let ran = done.len();
    let mut coverage = Coverage::default();
    let mut held = Held::new();
    // One failure per check is shrunk and shown: the sequence that found it in the fewest
    // steps (the first of those), the smallest example to start shrinking from. Which
    // sequences found a check can depend on timing (races, `--max-failures` stopping the
    // others), the shortest of them much less.
    let mut smallest: std::collections::BTreeMap<String, (usize, usize)> =
        std::collections::BTreeMap::new();
    for (index, _, _, _, a) in &done {
        if let Some(check) = a.trace.first_check() {
            let key = (a.trace.steps.len(), *index);
            let best = smallest.entry(check).or_insert(key);
            *best = (*best).min(key);
        }
    }
    let mut failures: Vec<Failure> = Vec::new();
    let mut error = None;
    for (index, seed, d, ops, a) in done {
        coverage.merge(&a.coverage);
        for (k, checks) in a.held {
            held.entry(k).or_default().extend(checks);
        }
        let trace = a.trace;
        if error.is_none()
            && let Some(e) = &trace.error
        {
            error = Some(e.to_string());
        }
        let Some(check) = trace.first_check() else {
            continue;
        };
        if smallest.get(&check).map(|&(_, i)| i) != Some(index)
            || failures.iter().any(|f| f.check == check)
            || failures.len() >= g.max_failures.unwrap_or(3).min(3)
        {
            continue;
        }
        let original_steps = trace.steps.len();
        let found_after = trace.requests_to_first_finding();
        let (ops, trace, runs) = shrink(
            r,
            &forms,
            Shrinker::start(d.clone(), shape, seed),
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
            draw: d,
            check,
            ops,
            trace,
            original_steps,
            runs,
            found_after,
        });
    }
    if family == Family::Sequences {
        let labels: Vec<&str> = forms.iter().map(UrlForm::label).collect();
        coverage.require(&crate::model::coverage::required(&labels));
    }
    r.covered(coverage, held);
    for f in failures {
        // Replayed once more on the case's own record, so its report shows these requests.
        let mut side = r.scratch(format!("{}{}r-", r.namespace, f.index));
        let trace = attempt(&mut side, &forms, &f.ops, bounds, &sent, None)
            .await
            .trace;
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
            let code = f.draw.template.code(f.draw.offset);
            replay::persist(path, &label, f.seed, &f.check, shown.steps.len(), &code);
        }
        let mut findings: Vec<_> = shown.findings().cloned().collect();
        for finding in &mut findings {
            finding.replay = Some(text.clone());
            finding.requests = Some(f.found_after);
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
///
/// First the operations the failure does not need go: those after the failing step, then
/// chunks of the rest, halves first, then quarters, down to single operations (delta
/// debugging: a failure that needs two operations of eighteen is found in a few runs, where
/// one removal at a time would run eighteen). Then proptest's value tree simplifies what
/// remains (shorter identities, simpler values), each candidate cut to the operations kept.
/// A sequence with requests at once gets three tries at each candidate, and its removal
/// passes repeat while they remove something, since a race may not happen every time.
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
    let (original, mut best) = failing;
    let raises = |t: &Trace| t.findings().any(|f| f.check == check);
    let mut runs = 0;
    let started = Instant::now();
    // The operations kept, by index into the original sequence.
    let mut kept: Vec<usize> = (0..original.len()).collect();
    if let Some(k) = best
        .steps
        .iter()
        .find(|s| s.findings.iter().any(|f| f.check == check))
        .map(|s| s.op)
        && k < original.len()
    {
        kept.truncate(k + 1);
    }
    // A race happens in about half the runs of a burst (the requests sent at once reach the
    // target in either order), so a burst's candidate gets three tries, and the removal
    // passes repeat while one removes something: a removal missed by bad luck gets another
    // chance on the shorter sequence.
    let racy = original.iter().any(Op::is_burst);
    let tries = if racy { 3 } else { 1 };
    let out_of_budget = |runs: usize, r: &CaseRun| {
        runs >= g.shrink_runs
            || started.elapsed() >= g.shrink_time
            || sent.load(Ordering::SeqCst) >= g.max_requests
            || r.session.halt.is_stopping()
    };
    let pick = |ops: &[Op], kept: &[usize]| -> Vec<Op> {
        kept.iter().filter_map(|&i| ops.get(i).cloned()).collect()
    };
    let mut current = original.clone();
    let mut chunk = kept.len().div_ceil(2).max(1);
    let mut pass_start = kept.len();
    'removal: loop {
        let mut at = 0;
        while at < kept.len() && kept.len() > 1 {
            if out_of_budget(runs, r) {
                break 'removal;
            }
            let end = (at + chunk).min(kept.len());
            let mut candidate = kept.clone();
            candidate.drain(at..end);
            if candidate.is_empty() {
                at = end;
                continue;
            }
            let mut found = None;
            for _ in 0..tries {
                runs += 1;
                let mut side = r
                    .scratch(format!("{}{index}s{runs}-", r.namespace))
                    .unrecorded();
                let trace = attempt(
                    &mut side,
                    forms,
                    &pick(&current, &candidate),
                    bounds,
                    sent,
                    None,
                )
                .await
                .trace;
                r.waited_for(&side);
                if raises(&trace) {
                    found = Some(trace);
                    break;
                }
            }
            match found {
                Some(trace) => {
                    kept = candidate;
                    best = trace;
                }
                None => at = end,
            }
        }
        if chunk == 1 {
            if !racy || kept.len() == pass_start || kept.len() == 1 {
                break;
            }
            pass_start = kept.len();
            chunk = kept.len().div_ceil(2).max(1);
            continue;
        }
        chunk = chunk.div_ceil(2);
    }
    // Then simpler values, from proptest's tree, each candidate cut to the kept operations
    // (a candidate whose length the tree changed is not comparable, and is passed over).
    let mut next = tree.step(Move::Simplify).await;
    while let Some(ops) = next {
        if out_of_budget(runs, r) {
            break;
        }
        if ops.len() != current.len() {
            next = tree.step(Move::Complicate).await;
            continue;
        }
        // A simplification of an operation removed above changes nothing that runs: taken
        // without a run (on a failure of one step in eighteen, most of the tree's candidates).
        if format!("{:?}", pick(&ops, &kept)) == format!("{:?}", pick(&current, &kept)) {
            current = ops;
            next = tree.step(Move::Simplify).await;
            continue;
        }
        runs += 1;
        let mut side = r
            .scratch(format!("{}{index}s{runs}-", r.namespace))
            .unrecorded();
        let trace = attempt(&mut side, forms, &pick(&ops, &kept), bounds, sent, None)
            .await
            .trace;
        // Each shrinking run waits for the one before.
        r.waited_for(&side);
        next = if raises(&trace) {
            current = ops;
            best = trace;
            tree.step(Move::Simplify).await
        } else {
            tree.step(Move::Complicate).await
        };
    }
    (pick(&current, &kept), best, runs)
}
