//! Runs a generated sequence against the target: each operation resolved against the model,
//! sent through a case run (so every create goes through the ledger and every request through
//! the run's brake), judged by the model, and, after each write, the whole world read back
//! and judged too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;

use super::program::Op;
use super::resolve::resolve;
use crate::check::{Exchange, Finding};
use crate::client::{Request, TransportError};
use crate::model::observe::Answer;
use crate::model::{Invalid, InvalidUpdate, Model, Probe, Scope, Sent, Step, Verdict};
use crate::runner::{CaseRun, Observe, Stop};
use crate::spec::{Severity, UrlForm, identity};

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The index of the operation it came from (`usize::MAX` for the read-back at the end).
    pub op: usize,
    /// The step (None for the read-back at the end).
    pub step: Option<Step>,
    /// What the model expected.
    pub expected: String,
    /// The step's own requests and answers, in order.
    pub exchanges: Vec<Exchange>,
    /// The world read back after it.
    pub observed: Vec<Exchange>,
    /// Its findings, the world's included.
    pub findings: Vec<Finding>,
}

/// What a sequence did.
#[derive(Debug, Default)]
pub struct Trace {
    /// The steps that ran, in order.
    pub steps: Vec<Logged>,
    /// The transport error that ended it, if any.
    pub error: Option<TransportError>,
}

impl Trace {
    /// Every finding of the sequence.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.steps.iter().flat_map(|s| s.findings.iter())
    }

    /// The requests sent by the end of the first step with a finding (its read-back
    /// included; reads sent again while a list settled not counted).
    pub fn requests_to_first_finding(&self) -> usize {
        let mut sent = 0;
        for s in &self.steps {
            sent += s.exchanges.len() + s.observed.len();
            if !s.findings.is_empty() {
                break;
            }
        }
        sent
    }

    /// The first finding, by check id, the one shrinking keeps: MUST before SHOULD.
    pub fn first_check(&self) -> Option<String> {
        self.findings()
            .find(|f| f.severity == Severity::Must)
            .or_else(|| self.findings().next())
            .map(|f| f.check.clone())
    }
}

/// Limits of one sequence's requests.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The most pages one walk may take (more for a collection the sequence made large).
    pub max_pages: usize,
    /// The most pages any walk may take (the run's `--max-pages`).
    pub page_limit: usize,
    /// When the world is read back.
    pub observe: Observe,
    /// The most users one read-back fetches.
    pub observe_users: usize,
}

/// Runs `ops` on `r` (its namespace is the model's), judging every step; stops at the first
/// step after which the target and the model disagree, or before any step once `abandon`
/// is set (the case has found what `--max-failures` asks; the trace so far is kept, and the
/// world is not read back).
pub async fn run(
    r: &mut CaseRun,
    model: &mut Model,
    ops: &[Op],
    bounds: Bounds,
    abandon: Option<&AtomicBool>,
) -> Trace {
    let mut trace = Trace::default();
    let mut diverged = false;
    // When the sequence's writes were answered: a list may show them a little later.
    let mut written = Writes::new();
    for (index, op) in ops.iter().enumerate() {
        if abandon.is_some_and(|a| a.load(Ordering::SeqCst)) {
            return trace;
        }
        let Some(step) = resolve(model, op) else {
            continue;
        };
        match run_step(r, model, &step, bounds, &mut written).await {
            Ok((logged, d)) => {
                trace.steps.push(Logged {
                    op: index,
                    ..logged
                });
                if d {
                    diverged = true;
                    break;
                }
            }
            Err(Stop::Transport(e)) => {
                trace.error = Some(e);
                return trace;
            }
            Err(Stop::Failed) => return trace,
        }
    }
    if !diverged && bounds.observe != Observe::Off && !model.users.is_empty() {
        let scope = Scope::End {
            limit: bounds.observe_users,
        };
        match observe(r, model, &scope, None, &[], bounds, &written).await {
            Ok((observed, v)) => trace.steps.push(Logged {
                op: usize::MAX,
                ..logged_world(v, observed)
            }),
            Err(Stop::Transport(e)) => trace.error = Some(e),
            Err(Stop::Failed) => {}
        }
    }
    trace
}

/// When a sequence's writes were answered, by the model users they named: a walk that
/// disagrees only about users written less than the settle time ago may not show those
/// writes yet, and is read again before it is believed.
#[derive(Debug, Clone)]
struct Writes {
    /// When the last write was answered (the sequence's start before any).
    last: Instant,
    /// When each user was last named by a write.
    at: std::collections::BTreeMap<usize, Instant>,
}

impl Writes {
    fn new() -> Writes {
        Writes {
            last: Instant::now(),
            at: std::collections::BTreeMap::new(),
        }
    }

    /// Notes a write step just answered.
    fn note(&mut self, step: &Step) {
        let now = Instant::now();
        self.last = now;
        for u in step.addressed() {
            self.at.insert(u, now);
        }
    }

    /// Whether every user a walk's disagreement is about was written less than `settle`
    /// before the read that showed it started (`read`), so that the list may merely not have
    /// shown those writes yet.
    fn recent(
        &self,
        about: &std::collections::BTreeSet<usize>,
        settle: Duration,
        read: Instant,
    ) -> bool {
        !about.is_empty()
            && about.iter().all(|u| {
                self.at
                    .get(u)
                    .is_some_and(|t| read.saturating_duration_since(*t) < settle)
            })
    }
}

/// Sends one step and judges it with the world read back after it (for a write). Returns
/// the logged step and whether the sequence must end here. `written` is when the sequence's
/// writes were answered; a write step adds to it.
async fn run_step(
    r: &mut CaseRun,
    model: &mut Model,
    step: &Step,
    bounds: Bounds,
    written: &mut Writes,
) -> Result<(Logged, bool), Stop> {
    // A read walks first among the writes of everyone else, judged on a copy of the model;
    // only when that walk disagrees is it walked again with the collection held still, and
    // then, while it still disagrees only about users written moments ago, again with a
    // backoff until the settle time after the sequence's last write has passed (a list may
    // show a write late); the last walk is judged.
    let (mut exs, mut ended) = send(r, model, step, bounds, false).await?;
    if step.writes() {
        written.note(step);
    }
    if let Step::Read { .. } = step {
        let mut trial = model.clone();
        let v = trial.judge(step, &exs, ended);
        if v.findings.is_empty() {
            *model = trial;
            return Ok((logged(step, v, exs, Vec::new()), false));
        }
        let mut read_at = written.last.elapsed();
        let settle = r.session.plan.settle;
        let waiting = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut waited = false;
        let mut started = Instant::now();
        (exs, ended) = send(r, model, step, bounds, true).await?;
        let lagging = |exs: &[Exchange], ended: bool, started: Instant| {
            let v = model.clone().judge(step, exs, ended);
            v.fails() && written.recent(&v.about, settle, started)
        };
        while read_at < settle && lagging(&exs, ended, started) {
            waited = true;
            let behind = read_at;
            tokio::time::sleep(backoff.min(settle.saturating_sub(written.last.elapsed()))).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            read_at = written.last.elapsed();
            started = Instant::now();
            (exs, ended) = send(r, model, step, bounds, true).await?;
            if !model.clone().judge(step, &exs, ended).fails() {
                r.session
                    .client
                    .patience()
                    .settled(behind, waiting.elapsed());
                waited = false;
                break;
            }
        }
        if waited {
            r.session
                .client
                .patience()
                .waited_for_list(waiting.elapsed());
        }
    }
    if exs.is_empty() {
        return Ok((logged(step, Verdict::default(), exs, Vec::new()), false));
    }
    if let Step::Group { kind, steps, .. } = step {
        // Judged against every serial order, with the world read back afterwards; a
        // disagreement is read back again with the collections held still before it is
        // believed, and one that only a list shows until the lists settle.
        note_sids(model, steps, &exs);
        let scope = Scope::AfterWrite {
            addressed: step.addressed(),
            limit: bounds.observe_users,
        };
        let settle = r.session.plan.settle;
        let judged = |world: &[Answer], started: Instant| {
            let mut trial = model.clone();
            let _ = trial.judge(step, &exs, true);
            let v = trial.judge_group(kind, steps, &exs, world);
            if v.findings.is_empty() {
                return (Judged::Agrees, (trial, v));
            }
            if !v.fails() {
                return (Judged::Advice, (trial, v));
            }
            let mut fetched = model.clone();
            let _ = fetched.judge(step, &exs, true);
            let only = fetches(world);
            let lists = !fetched.judge_group(kind, steps, &exs, &only).fails()
                && written.recent(&v.about, settle, started);
            let j = if lists {
                Judged::Lists
            } else {
                Judged::Fetches
            };
            (j, (trial, v))
        };
        let (world, (trial, v)) = settled(r, model, &scope, bounds, written.last, judged).await?;
        *model = trial;
        let observed = world.into_iter().flat_map(|(_, e, _)| e).collect();
        let diverged = v.diverged;
        return Ok((logged(step, v, exs, observed), diverged));
    }
    let mut v = model.judge(step, &exs, ended);
    let mut observed = Vec::new();
    if !v.diverged && step.writes() && bounds.observe == Observe::EveryWrite {
        let scope = Scope::AfterWrite {
            addressed: step.addressed(),
            limit: bounds.observe_users,
        };
        let described = model.describe(step);
        let (seen, world) = observe(
            r,
            model,
            &scope,
            Some(&described),
            &step.addressed(),
            bounds,
            written,
        )
        .await?;
        observed = seen;
        v.diverged |= world.diverged;
        v.findings.extend(world.findings);
    }
    let diverged = v.diverged;
    Ok((logged(step, v, exs, observed), diverged))
}

/// The first wait before a list is read again for a write it does not show yet.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
/// The longest wait between two reads of a list that lags.
const MAX_BACKOFF: Duration = Duration::from_millis(400);

/// What a read-back showed, as far as reading it again is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// Everything agrees with the model.
    Agrees,
    /// Only SHOULD findings: read again once with the collections held still, no waiting.
    Advice,
    /// Only walks disagree, and only about users written moments ago: a list may not show
    /// those writes yet.
    Lists,
    /// A fetch disagrees, or a walk about a user not written moments ago: judged at once.
    Fetches,
}

/// The fetches of a read-back, without its walks.
fn fetches(world: &[Answer]) -> Vec<Answer> {
    world
        .iter()
        .filter(|(p, ..)| matches!(p, Probe::Fetch { .. }))
        .cloned()
        .collect()
}

/// Reads the world back (`scope`) until `judge` finds it agrees, or finds a fetch that
/// disagrees, or the settle time after `since` (the last write's answer) has passed.
///
/// The first read goes among everyone's writes. A disagreement is read again with the
/// collections held still (under offset paging another case's write shifts the pages under
/// a walk); while only walks disagree, the walks are read again with a backoff until the
/// settle time is over, and the fetches of the last full read kept. Returns the last read
/// and what `judge` made of it.
async fn settled<T>(
    r: &mut CaseRun,
    model: &Model,
    scope: &Scope,
    bounds: Bounds,
    since: Instant,
    judge: impl Fn(&[Answer], Instant) -> (Judged, T),
) -> Result<(Vec<Answer>, T), Stop> {
    let started = Instant::now();
    let world = answers(r, model, scope, bounds, false, false).await?;
    let (j, t) = judge(&world, started);
    if j == Judged::Agrees {
        return Ok((world, t));
    }
    // When the last read started: a read that started once the settle time was over is the
    // verdict, however long it took.
    let mut read_at = since.elapsed();
    let mut started = Instant::now();
    let mut world = answers(r, model, scope, bounds, true, false).await?;
    let (mut j, mut t) = judge(&world, started);
    let settle = r.session.plan.settle;
    let waiting = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut waited = false;
    while j == Judged::Lists && read_at < settle {
        waited = true;
        let behind = read_at;
        tokio::time::sleep(backoff.min(settle.saturating_sub(since.elapsed()))).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        read_at = since.elapsed();
        started = Instant::now();
        let walks = answers(r, model, scope, bounds, true, true).await?;
        let mut walks = walks.into_iter();
        for a in &mut world {
            if matches!(a.0, Probe::Walk { .. })
                && let Some(w) = walks.next()
            {
                *a = w;
            }
        }
        (j, t) = judge(&world, started);
        if j == Judged::Agrees {
            r.session
                .client
                .patience()
                .settled(behind, waiting.elapsed());
            return Ok((world, t));
        }
    }
    if waited {
        r.session
            .client
            .patience()
            .waited_for_list(waiting.elapsed());
    }
    Ok((world, t))
}

fn logged(
    step: &Step,
    mut v: Verdict,
    exchanges: Vec<Exchange>,
    observed: Vec<Exchange>,
) -> Logged {
    let observed = bodies_let_go(observed);
    // A finding of the step itself concerns its (first) request.
    if let Some(ex) = exchanges.first() {
        for f in &mut v.findings {
            f.request.get_or_insert_with(|| ex.request_line());
        }
    }
    Logged {
        op: 0,
        step: Some(step.clone()),
        expected: v.expected,
        exchanges,
        observed,
        findings: v.findings,
    }
}

/// A trace shows a read-back by its requests only (how many, and curl for those a finding
/// names): the pages it read, up to hundreds of kilobytes each, are let go once judged
/// rather than held until the sequence ends.
fn bodies_let_go(mut observed: Vec<Exchange>) -> Vec<Exchange> {
    for ex in &mut observed {
        ex.response_body = Vec::new();
    }
    observed
}

fn logged_world(v: Verdict, observed: Vec<Exchange>) -> Logged {
    let observed = bodies_let_go(observed);
    Logged {
        op: usize::MAX,
        step: None,
        expected: v.expected,
        exchanges: Vec::new(),
        observed,
        findings: v.findings,
    }
}

/// Gives the users a group creates the sids their 2xx answers name (carrying the identity
/// sent), so that the world is read back by sid too, whatever order explains the group.
fn note_sids(model: &mut Model, steps: &[Step], exs: &[Exchange]) {
    for (s, ex) in steps.iter().zip(exs) {
        if let Step::Create { user, .. } = s
            && (200..300).contains(&ex.status)
            && let Ok(body) = serde_json::from_slice::<serde_json::Value>(&ex.response_body)
            && body.get("identity").and_then(|v| v.as_str()) == Some(&model.users[*user].identity)
            && let Some(sid) = body.get("sid").and_then(|v| v.as_str())
        {
            model.users[*user].sid = Some(sid.to_owned());
        }
    }
}

/// Reads the world back (`scope`) and judges it, a disagreement only after reading again
/// (see [`settled`]). Returns every exchange of the read-back and the verdict.
async fn observe(
    r: &mut CaseRun,
    model: &mut Model,
    scope: &Scope,
    after: Option<&str>,
    addressed: &[usize],
    bounds: Bounds,
    written: &Writes,
) -> Result<(Vec<Exchange>, Verdict), Stop> {
    let settle = r.session.plan.settle;
    let judge = |world: &[Answer], started: Instant| {
        let mut trial = model.clone();
        let v = trial.judge_world(after, addressed, world);
        if v.findings.is_empty() {
            return (Judged::Agrees, (trial, v));
        }
        if !v.fails() {
            return (Judged::Advice, (trial, v));
        }
        let only = fetches(world);
        let j = if model.clone().judge_world(after, addressed, &only).fails()
            || !written.recent(&v.about, settle, started)
        {
            Judged::Fetches
        } else {
            Judged::Lists
        };
        (j, (trial, v))
    };
    let (world, (trial, v)) = settled(r, model, scope, bounds, written.last, judge).await?;
    *model = trial;
    Ok((world.into_iter().flat_map(|(_, e, _)| e).collect(), v))
}

/// Sends the probes of `scope`: the fetches at once, then each view walked (alone when
/// `alone`); only the walks when `walks_only`.
async fn answers(
    r: &mut CaseRun,
    model: &Model,
    scope: &Scope,
    bounds: Bounds,
    alone: bool,
    walks_only: bool,
) -> Result<Vec<Answer>, Stop> {
    let mut probes = model.probes(scope);
    if walks_only {
        probes.retain(|p| matches!(p, Probe::Walk { .. }));
    }
    let fetches: Vec<(usize, String)> = probes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Probe::Fetch { view, value, .. } => Some((i, r.item_url(model.form(*view), value))),
            Probe::Walk { .. } => None,
        })
        .collect();
    let got = gets_at_once(r, fetches.iter().map(|(_, u)| u.clone()).collect()).await?;
    let mut out: Vec<Option<Answer>> = vec![None; probes.len()];
    for ((i, _), ex) in fetches.iter().zip(got) {
        out[*i] = Some((probes[*i].clone(), vec![ex], true));
    }
    for (i, p) in probes.iter().enumerate() {
        if let Probe::Walk { view, page_size } = p {
            let (pages, ended) = walk(
                r,
                model.form(*view),
                Some(*page_size),
                pages_for(model, *view, Some(*page_size), bounds),
                alone,
            )
            .await?;
            out[i] = Some((p.clone(), pages, ended));
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// How many pages a walk of `view` may take: the sequence's bound, or what its own users
/// need at this page size when it made the collection large (within `--max-pages`).
fn pages_for(model: &Model, view: usize, page_size: Option<u32>, bounds: Bounds) -> usize {
    let ours = model
        .users
        .iter()
        .filter(|u| u.life != crate::model::Life::Absent && model.same_collection(u.view, view))
        .count();
    let size = page_size.unwrap_or(50).max(1) as usize;
    bounds
        .max_pages
        .max(ours.div_ceil(size) + 3)
        .min(bounds.page_limit)
}

/// GETs of `urls` at once, each on a side run; the answers in the order of `urls`.
async fn gets_at_once(r: &mut CaseRun, urls: Vec<String>) -> Result<Vec<Exchange>, Stop> {
    let reqs = urls
        .into_iter()
        .map(|u| Request::new(Method::GET, u))
        .collect();
    at_once(r, reqs, None).await
}

/// Walks a collection from its first page through `next_page_url`: every page up to the
/// bound, and whether it ended.
async fn walk(
    r: &mut CaseRun,
    form: &UrlForm,
    page_size: Option<u32>,
    max_pages: usize,
    alone: bool,
) -> Result<(Vec<Exchange>, bool), Stop> {
    let base = r.collection_url(form);
    let mut url = match page_size {
        Some(n) => format!("{base}?PageSize={n}"),
        None => base,
    };
    let mut pages = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // `alone`: no write lands in the collection while this walk goes on (it sends none
    // itself): under offset paging, another sequence's or case's write would shift the
    // pages under it.
    let _alone = if alone {
        r.walk_alone(form).await
    } else {
        None
    };
    loop {
        seen.insert(url.clone());
        let ex = r.send(Request::new(Method::GET, url.clone())).await?;
        let next = if ex.status == 200 {
            next_page_url(&ex.response_body)
        } else {
            None
        };
        pages.push(ex);
        match next {
            None => return Ok((pages, true)),
            // Never followed off the target's origin, nor in circles, nor forever.
            Some(n)
                if !r.session.client.on_origin(&n)
                    || seen.contains(&n)
                    || pages.len() >= max_pages =>
            {
                return Ok((pages, false));
            }
            Some(n) => url = n,
        }
    }
}

/// A page's `meta.next_page_url`, when it is a string. Read without building the page: the
/// users are skipped over, not parsed into values (a full parse of every page walked was a
/// fifth of a stateful run's time). A body the narrow reading refuses (`meta` twice, say)
/// is read in full, as before.
fn next_page_url(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, default)]
        next_page_url: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow, default)]
        meta: Option<Meta<'a>>,
    }
    match serde_json::from_slice::<Head<'_>>(body) {
        Ok(head) => head.meta?.next_page_url.map(std::borrow::Cow::into_owned),
        Err(_) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .pointer("/meta/next_page_url")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    }
}

fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The request a single-request step sends.
fn request(r: &CaseRun, model: &Model, step: &Step) -> Option<Request> {
    let url = |view: usize, key: &str| r.item_url(model.form(view), key);
    Some(match step {
        Step::Create { view, user, sent } => {
            let mut req = Request::new(Method::POST, r.collection_url(model.form(*view)))
                .param("Identity", &model.users[*user].identity);
            for (k, v) in sent.params() {
                req = req.param(k, v);
            }
            req
        }
        Step::Fetch { user, view, by } => {
            Request::new(Method::GET, url(*view, &model.key(*user, *by)))
        }
        Step::Update {
            user,
            view,
            by,
            sent,
        } => {
            let mut req = Request::new(Method::POST, url(*view, &model.key(*user, *by)));
            for (k, v) in sent.params() {
                req = req.param(k, v);
            }
            req
        }
        Step::Delete { user, view, by } => {
            Request::new(Method::DELETE, url(*view, &model.key(*user, *by)))
        }
        Step::NearMiss {
            view,
            identity,
            action,
            ..
        } => match action {
            crate::model::Action::Fetch => Request::new(Method::GET, url(*view, identity)),
            crate::model::Action::Update(sent) => {
                let mut req = Request::new(Method::POST, url(*view, identity));
                for (k, v) in sent.params() {
                    req = req.param(k, v);
                }
                req
            }
            crate::model::Action::Delete => Request::new(Method::DELETE, url(*view, identity)),
        },
        _ => return None,
    })
}

/// Sends a step's requests; for a read, every page up to the bound, and whether it ended.
async fn send(
    r: &mut CaseRun,
    model: &Model,
    step: &Step,
    bounds: Bounds,
    alone: bool,
) -> Result<(Vec<Exchange>, bool), Stop> {
    if let Some(req) = request(r, model, step) {
        let ex = match step {
            Step::Create { view, .. } => r.post_create(model.form(*view), req).await?.0,
            _ => r.send(req).await?,
        };
        forget_deleted(r, model, step, &ex);
        return Ok((vec![ex], true));
    }
    let forms = |v: usize| model.form(v).clone();
    match step {
        Step::Read { view, page_size } => {
            let max = pages_for(model, *view, *page_size, bounds);
            walk(r, &forms(*view), *page_size, max, alone).await
        }
        Step::Burst { user, n } => {
            let u = &model.users[*user];
            let reqs = (0..*n)
                .map(|_| {
                    Request::new(Method::POST, r.collection_url(model.form(u.view)))
                        .param("Identity", &u.identity)
                })
                .collect();
            Ok((at_once(r, reqs, Some(&forms(u.view))).await?, true))
        }
        Step::BurstDistinct { users } => {
            let view = model.users[users[0]].view;
            let reqs = users
                .iter()
                .map(|u| {
                    Request::new(Method::POST, r.collection_url(model.form(view)))
                        .param("Identity", &model.users[*u].identity)
                })
                .collect();
            Ok((at_once(r, reqs, Some(&forms(view))).await?, true))
        }
        Step::Populate { view, users, sent } => {
            let reqs = users
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let mut req = Request::new(Method::POST, r.collection_url(model.form(*view)))
                        .param("Identity", &model.users[*u].identity);
                    for (k, v) in sent.get(i).map(Sent::params).unwrap_or_default() {
                        req = req.param(k, v);
                    }
                    req
                })
                .collect();
            Ok((at_once(r, reqs, Some(&forms(*view))).await?, true))
        }
        Step::Group { steps, gap_ms, .. } => {
            // Each request of the group on a side run of its own, all at once, or each
            // `gap_ms` after the one before.
            let mut set = tokio::task::JoinSet::new();
            let gap = std::time::Duration::from_millis(u64::from(*gap_ms));
            for (i, s) in steps.iter().enumerate() {
                let Some(req) = request(r, model, s) else {
                    continue;
                };
                let mut side = r.scratch(r.namespace.clone());
                let create = match s {
                    Step::Create { view, .. } => Some(forms(*view)),
                    _ => None,
                };
                let wait = gap * i as u32;
                set.spawn(async move {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    let res = match create {
                        Some(form) => side.post_create(&form, req).await.map(|(ex, _)| ex),
                        None => side.send(req).await,
                    };
                    (i, res, side)
                });
            }
            let mut out = Vec::new();
            let mut first_err = None;
            while let Some(done) = set.join_next().await {
                let Ok((i, res, side)) = done else { continue };
                r.absorb(side);
                match res {
                    Ok(ex) => out.push((i, ex)),
                    Err(e) => first_err = first_err.or(Some(e)),
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            out.sort_by_key(|(i, _)| *i);
            for ((_, ex), s) in out.iter().zip(steps) {
                forget_deleted(r, model, s, ex);
            }
            Ok((out.into_iter().map(|(_, ex)| ex).collect(), true))
        }
        Step::Invalid {
            view,
            what,
            identity,
        } => {
            let f = forms(*view);
            if let Invalid::PageSize(v) = what {
                let url = format!("{}?PageSize={}", r.collection_url(&f), encode(v));
                let ex = r.send(Request::new(Method::GET, url)).await?;
                return Ok((vec![ex], true));
            }
            let mut req = Request::new(Method::POST, r.collection_url(&f));
            if let Some(id) = identity {
                if matches!(what, Invalid::SidShaped(_)) {
                    r.mint(id.clone());
                }
                req = req.param("Identity", id);
            }
            req = match what {
                Invalid::MalformedRole(v) => req.param("RoleSid", v),
                Invalid::AttributesNotObject(v) => req.param("Attributes", v),
                Invalid::MissingIdentity => req.param("FriendlyName", "no identity"),
                _ => req,
            };
            let (ex, _) = r.post_create(&f, req).await?;
            Ok((vec![ex], true))
        }
        Step::InvalidUpdate { user, what } => {
            let u = &model.users[*user];
            let req = Request::new(
                Method::POST,
                r.item_url(model.form(u.view), &model.key(*user, crate::model::By::Sid)),
            );
            let req = match what {
                InvalidUpdate::MalformedRole(v) => req.param("RoleSid", v),
                InvalidUpdate::AttributesNotObject(v) => req.param("Attributes", v),
            };
            let ex = r.send(req).await?;
            Ok((vec![ex], true))
        }
        _ => Ok((Vec::new(), true)),
    }
}

/// A user deleted by sid (204, or 404 by sid) leaves the ledger: teardown need not try it.
/// A 404 by identity proves nothing about the sid, so the ledger keeps it.
fn forget_deleted(r: &CaseRun, model: &Model, step: &Step, ex: &Exchange) {
    if let Step::Delete { user, by, .. } = step
        && let Some(sid) = &model.users[*user].sid
        && (ex.status == 204 || (ex.status == 404 && *by == crate::model::By::Sid))
    {
        r.session.ledger.remove(sid);
    }
}

/// How many requests of one step (a read-back, a population) are under way at once.
const AT_ONCE: usize = 8;

/// Sends requests at once (at most [`AT_ONCE`] under way), each on a side run (creates
/// through the ledger when `create` names their form); the answers in the order of `reqs`.
async fn at_once(
    r: &mut CaseRun,
    reqs: Vec<Request>,
    create: Option<&UrlForm>,
) -> Result<Vec<Exchange>, Stop> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut set = tokio::task::JoinSet::new();
    for (i, req) in reqs.into_iter().enumerate() {
        let mut side = r.scratch(r.namespace.clone());
        let form = create.cloned();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let res = match form {
                Some(form) => side.post_create(&form, req).await.map(|(ex, _)| ex),
                None => side.send(req).await,
            };
            (i, res, side)
        });
    }
    let mut out = Vec::new();
    let mut first_err = None;
    while let Some(done) = set.join_next().await {
        let Ok((i, res, side)) = done else { continue };
        r.absorb(side);
        match res {
            Ok(ex) => out.push((i, ex)),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, ex)| ex).collect())
}

/// The path a request is shown with in a reproduction: percent-encoded as sent.
pub fn segment(v: &str) -> String {
    identity::encode_segment(v)
}

#[cfg(test)]
mod tests {
    use super::{Writes, next_page_url};
    use crate::model::{By, NOT_ONE_USER, Step};
    use std::time::{Duration, Instant};

    #[test]
    fn only_users_written_within_the_settle_time_may_lag() {
        let mut w = Writes::new();
        w.note(&Step::Delete {
            user: 3,
            view: 0,
            by: By::Sid,
        });
        let settle = Duration::from_secs(2);
        let now = Instant::now();
        let about = |us: &[usize]| us.iter().copied().collect();
        assert!(w.recent(&about(&[3]), settle, now));
        // A user the sequence did not write moments ago, or no user at all: judged at once.
        assert!(!w.recent(&about(&[3, 4]), settle, now));
        assert!(!w.recent(&about(&[3, NOT_ONE_USER]), settle, now));
        assert!(!w.recent(&about(&[]), settle, now));
        // A read that started the settle time after the write is the verdict.
        assert!(!w.recent(&about(&[3]), settle, now + settle));
        assert!(!w.recent(&about(&[3]), Duration::ZERO, now));
    }

    #[test]
    fn the_next_page_url_is_read_without_the_users() {
        let page = br#"{"users": [{"sid": "US1", "attributes": "{\"a\": [1, 2]}"}],
            "meta": {"page": 0, "next_page_url": "http://h/v1/Users?Page=1&PageToken=a\u0026b"}}"#;
        assert_eq!(
            next_page_url(page).as_deref(),
            Some("http://h/v1/Users?Page=1&PageToken=a&b")
        );
        assert_eq!(next_page_url(br#"{"meta": {"next_page_url": null}}"#), None);
        assert_eq!(next_page_url(br#"{"meta": {"next_page_url": 7}}"#), None);
        assert_eq!(next_page_url(br#"{"users": []}"#), None);
        assert_eq!(next_page_url(b"not json"), None);
        // `meta` twice: read in full, the last one counts, as a JSON value reads it.
        assert_eq!(
            next_page_url(br#"{"meta": {"next_page_url": "a"}, "meta": {"next_page_url": "b"}}"#)
                .as_deref(),
            Some("b")
        );
    }
}
