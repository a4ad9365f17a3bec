//! Runs contract cases against a target: one session per run, a ledger of every user the run
//! created, cleanup that deletes exactly those, and the run report.
//!
//! The embedded emulator is just another target URL here: a case never knows whether it talks
//! to Twilio, to the emulator or to anything else. Only [`orchestrate`], which runs a whole
//! run for the command line, starts the emulator and reads what the plan needs from it.

pub mod budget;
pub mod case;
pub mod orchestrate;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

use crate::check::{self, Context, Exchange, Finding, Known};
use crate::client::{Client, Request, TransportError};
use crate::snapshot::{self, Capture, Dates, Judgement};
use crate::spec::{Doc, Edition, Operation, Severity, UrlForm, identity};
pub use budget::{
    COLLECTION_SIZE, DEFAULT_SEQUENCES, Generation, LOOPBACK_COLLECTION_SIZE, Observe, Reach,
    random_seed,
};
pub use case::{CaseDef, CaseFuture, Kind, Scope};
pub use report::{CaseRecord, ExchangeSummary, Outcome, Report, Summary, diagnose, plural};

/// What a run is asked to do, independent of how it was started.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The target's base URL without a trailing slash (`https://conversations.twilio.com`).
    pub base_url: String,
    /// The contract edition.
    pub edition: Edition,
    /// The URL forms in play.
    pub forms: Vec<UrlForm>,
    /// A second service, for the isolation cases (the service form's SID when given).
    pub service_sid: Option<String>,
    /// The default Conversation Service of the shortened form, when known.
    pub default_service_sid: Option<String>,
    /// Whether the target's reachability feature is known to be off (`Some(false)`).
    pub reachability: Option<bool>,
    /// Whether SHOULD findings fail a case.
    pub strict: bool,
    /// Every identity the run creates starts with this (`convcheck-<run id>-`).
    pub run_prefix: String,
    /// The largest number of pages a walk may take.
    pub max_pages: usize,
    /// How long a list may take to show a write (`--settle`): a walk that disagrees with
    /// what the run wrote is walked again, with a backoff, until it agrees or this long after
    /// the write's answer. Zero judges the first walk (after one walk with the collection
    /// held still). Fetches are never given this time.
    pub settle: std::time::Duration,
    /// What the generated and stateful cases do.
    pub generation: Generation,
    /// Traffic recorded by `convcheck proxy`, to replay and compare: the recording's file
    /// and its document (`proxy::traffic`).
    pub replay: Option<Arc<(String, serde_json::Value)>>,
}

/// One user the run created and has not deleted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The URL form it was created through.
    pub form: UrlForm,
    /// Its identity.
    pub identity: String,
}

/// Every user the run created and has not deleted, by sid. Cleanup deletes exactly these.
///
/// A sid gets in only from a create whose answer carries the identity the run sent; a sid
/// that a create answer named for another user is refused for good, so that no later answer
/// can bring it in.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<LedgerInner>>);

#[derive(Debug, Default)]
struct LedgerInner {
    created: BTreeMap<String, Created>,
    refused: BTreeSet<String>,
}

impl std::ops::Deref for LedgerInner {
    type Target = BTreeMap<String, Created>;
    fn deref(&self) -> &Self::Target {
        &self.created
    }
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        // A panic while holding the lock cannot leave the map half-written; keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a created user, unless its sid was refused before.
    pub fn add(&self, sid: &str, created: Created) {
        let mut inner = self.lock();
        if !inner.refused.contains(sid) {
            inner.created.insert(sid.to_owned(), created);
        }
    }

    /// Marks a sid as not the run's to delete, ever: a create answered with it for a user
    /// the run did not ask for. A sid already recorded stays recorded.
    pub fn refuse(&self, sid: &str) {
        let mut inner = self.lock();
        if !inner.created.contains_key(sid) {
            inner.refused.insert(sid.to_owned());
        }
    }

    /// Whether a sid was refused.
    pub fn is_refused(&self, sid: &str) -> bool {
        self.lock().refused.contains(sid)
    }

    /// The sids refused, for the run's summary.
    pub fn refused(&self) -> Vec<String> {
        self.lock().refused.iter().cloned().collect()
    }

    /// Forgets a deleted user.
    pub fn remove(&self, sid: &str) {
        self.lock().created.remove(sid);
    }

    /// What is left.
    pub fn entries(&self) -> Vec<(String, Created)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether the run created this sid.
    pub fn contains(&self, sid: &str) -> bool {
        self.lock().contains_key(sid)
    }

    /// How a user the run created was created, if it is still there.
    pub fn get(&self, sid: &str) -> Option<Created> {
        self.lock().get(sid).cloned()
    }
}

/// A run: the plan, the client and the ledger, shared by every case.
#[derive(Debug, Clone)]
pub struct Session {
    /// What to do.
    pub plan: Arc<Plan>,
    /// How to talk to the target.
    pub client: Client,
    /// What the run created.
    pub ledger: Ledger,
    /// Set when the run is interrupted: no new request leaves, cleanup waits for the rest.
    pub halt: Halt,
    /// One gate per URL form (per collection). Every write request (a create, an update, a
    /// delete) holds the gate of the collection its URL is in for as long as it is under
    /// way; a walk that must see its collection still (the pagination walk, a generated
    /// read) holds that gate while it walks ([`CaseRun::walk_alone`]), so no write lands
    /// there meanwhile, while writes on the other collection and every read go on. Writes
    /// share the gate with writes and walks with walks, never a write with a walk. Reads
    /// take no gate.
    pub gates: Arc<Vec<(UrlForm, Arc<Gate>)>>,
}

/// A collection's gate: writes share it with writes, walks with walks; a write and a walk
/// never hold it at once.
///
/// Writes take a tokio `RwLock`'s read half. The walks' side is its write half, taken once
/// for a group of walks and shared through an `Arc`: the last walk of the group to finish
/// lets it go. The lock is fair (first come, first served), and the gate alternates in
/// batches: a walk joins the group under way only while no write waits; else it joins the
/// next group, which queues once, behind the writes waiting then. The writes that queue
/// meanwhile go in together once that group is done. So either side waits at most for one
/// batch of the other, and walks do not wait for each other.
#[derive(Debug, Default)]
pub struct Gate {
    lock: Arc<tokio::sync::RwLock<()>>,
    room: Mutex<Room>,
}

#[derive(Debug, Default)]
struct Room {
    /// The guard the walks under way share, while one is.
    walks: std::sync::Weak<tokio::sync::OwnedRwLockWriteGuard<()>>,
    /// The next group of walks, queued for the lock.
    next: Option<Arc<tokio::sync::OnceCell<WalkGuard>>>,
    /// Writes waiting for the gate.
    writes_waiting: usize,
}

/// A walk's hold on a [`Gate`], shared with the walks of its group.
pub type WalkGuard = Arc<tokio::sync::OwnedRwLockWriteGuard<()>>;

/// A write's hold on a [`Gate`].
pub type WriteGuard = tokio::sync::OwnedRwLockReadGuard<()>;

impl Gate {
    fn room(&self) -> std::sync::MutexGuard<'_, Room> {
        self.room.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds the gate for a write: waits for the walks under way.
    pub async fn write(&self) -> WriteGuard {
        /// Counts a write as waiting until it holds the gate (or stops waiting).
        struct Waiting<'a>(&'a Gate);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.room().writes_waiting -= 1;
            }
        }
        self.room().writes_waiting += 1;
        let _waiting = Waiting(self);
        self.lock.clone().read_owned().await
    }

    /// Holds the gate for a walk: joins the walks under way unless a write waits, else
    /// joins the next group, which waits for the writes under way and waiting.
    pub async fn walk(&self) -> WalkGuard {
        let next = {
            let mut room = self.room();
            if room.writes_waiting == 0
                && let Some(shared) = room.walks.upgrade()
            {
                return shared;
            }
            room.next.get_or_insert_with(Arc::default).clone()
        };
        let lock = self.lock.clone();
        let guard = next
            .get_or_init(|| async move { Arc::new(lock.write_owned().await) })
            .await
            .clone();
        let mut room = self.room();
        if room.next.as_ref().is_some_and(|n| Arc::ptr_eq(n, &next)) {
            // The group holds the gate now: later walks join it, or the one after.
            room.next = None;
            room.walks = Arc::downgrade(&guard);
        }
        guard
    }
}

/// Every collection a plan touches: its URL forms, and the second service.
fn plan_forms(plan: &Plan) -> Vec<UrlForm> {
    let mut forms = plan.forms.clone();
    if let Some(s) = &plan.service_sid {
        let scoped = UrlForm::Service(s.clone());
        if !forms.contains(&scoped) {
            forms.push(scoped);
        }
    }
    forms
}

impl Session {
    /// A session with an empty ledger.
    pub fn new(plan: Plan, client: Client) -> Session {
        Session {
            halt: Halt::default(),
            gates: Arc::new(
                plan_forms(&plan)
                    .into_iter()
                    .map(|f| (f, Arc::default()))
                    .collect(),
            ),
            plan: Arc::new(plan),
            client,
            ledger: Ledger::default(),
        }
    }

    /// The gate of the collection a URL is in (the collection itself or one of its items),
    /// with its index; None for a URL in no collection of the plan.
    ///
    /// The default service's own form (`/v1/Services/{default}/Users`) is the shortened
    /// form's collection, so it has the shortened form's gate.
    pub fn gate_of(&self, url: &str) -> Option<(usize, Arc<Gate>)> {
        let rest = url.strip_prefix(self.plan.base_url.as_str())?;
        let path = rest.split(['?', '#']).next().unwrap_or(rest);
        let inside = |form: &UrlForm| {
            path.strip_prefix(form.collection_path().as_str())
                .is_some_and(|tail| tail.is_empty() || tail.starts_with('/'))
        };
        let alias = self
            .plan
            .default_service_sid
            .as_ref()
            .is_some_and(|d| inside(&UrlForm::Service(d.clone())));
        self.gates.iter().enumerate().find_map(|(i, (form, gate))| {
            let here = inside(form) || (alias && *form == UrlForm::Shortened);
            here.then(|| (i, gate.clone()))
        })
    }

    /// Deletes one user the run created, by sid, and forgets it once it is gone (204, or
    /// 404 when something else removed it). Returns whether it is gone.
    async fn delete_created(&self, sid: &str, created: &Created) -> bool {
        let url = format!("{}{}", self.plan.base_url, created.form.item_path(sid));
        let _gate = match self.gate_of(&url) {
            Some((_, gate)) => Some(gate.write().await),
            None => None,
        };
        match self.client.send(&Request::new(Method::DELETE, url)).await {
            Ok(ex) if ex.status == 204 || ex.status == 404 => {
                self.ledger.remove(sid);
                true
            }
            _ => false,
        }
    }

    /// Stops new requests, waits (at most `wait`) for those under way so that every create
    /// that succeeds reaches the ledger, then deletes what the ledger holds. Returns the sids
    /// it could not delete.
    pub async fn interrupt(&self, wait: std::time::Duration) -> Vec<String> {
        self.halt
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = Instant::now() + wait;
        while self
            .halt
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
            && Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        teardown(self).await
    }
}

/// The run's brake: whether it is stopping, and how many case requests are under way.
#[derive(Debug, Clone, Default)]
pub struct Halt {
    stopping: Arc<std::sync::atomic::AtomicBool>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl Halt {
    /// Whether the run was interrupted.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Counts a request as under way until dropped.
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Why a case could not go on.
#[derive(Debug)]
pub enum Stop {
    /// The target did not answer: the case errored.
    Transport(TransportError),
    /// A step failed and its findings are recorded; later steps depend on it.
    Failed,
}

impl From<TransportError> for Stop {
    fn from(e: TransportError) -> Self {
        Stop::Transport(e)
    }
}

/// The result of one step of a case.
pub type Step<T> = Result<T, Stop>;

/// One case being run: its session, URL form, identity namespace and what it recorded.
pub struct CaseRun {
    /// The session.
    pub session: Session,
    /// The URL form of this case.
    pub form: UrlForm,
    /// Every identity this case creates starts with this.
    pub namespace: String,
    /// Findings so far.
    pub findings: Vec<Finding>,
    /// Requests so far.
    pub exchanges: Vec<ExchangeSummary>,
    created: Vec<String>,
    /// Every user this case created, deleted or not: the only users its snapshot keeps.
    own: BTreeSet<String>,
    /// Identities outside the namespace that this case generated (sid-shaped ones).
    minted: BTreeSet<String>,
    /// How strictly the checks applied to each exchange (by index) judge it: the most a
    /// snapshot difference there may weigh.
    judged: BTreeMap<usize, Judgement>,
    /// The exchanges as they were, kept in memory for normalization only.
    raw: Vec<Exchange>,
    counter: usize,
    last_request: Option<String>,
    /// The gates held alone (indices into [`Session::gates`]): first this run's, then those
    /// of the runs that started it as a side run. None of them may see a write from here:
    /// it would wait for the walk that waits for this run.
    alone: Vec<Held>,
    /// The requests on this run's longest chain so far: each request adds one to the chain
    /// it follows; a side run starts on its parent's, and a run that waits for side runs
    /// goes on from the longest.
    chain: usize,
    /// For a generated case: what its sequences covered.
    coverage: Option<crate::model::Coverage>,
    /// For a generated case: the checks that held, by operation and URL form.
    held: report::HeldChecks,
    /// What the case's requests cost the target, shared with its side runs.
    cost: Arc<Cost>,
    /// Whether exchanges are kept (for the report and snapshots); a generated sequence's run
    /// only counts them, since its trace keeps what its replay needs.
    record: bool,
    /// The requests this run (not its side runs) sent.
    pub sent: usize,
}

/// What a case's requests cost the target: how many, and how long it waited for the answers.
#[derive(Debug, Default)]
pub struct Cost {
    requests: std::sync::atomic::AtomicUsize,
    waited_us: std::sync::atomic::AtomicU64,
}

impl Cost {
    /// The requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The time spent waiting for answers so far, in milliseconds.
    pub fn target_ms(&self) -> u64 {
        self.waited_us.load(std::sync::atomic::Ordering::Relaxed) / 1000
    }

    /// Counts one request answered (or failed) after `waited`.
    fn add(&self, waited: std::time::Duration) {
        use std::sync::atomic::Ordering;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.waited_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }
}

/// One job of [`CaseRun::together`]: a short script on a side run.
pub type SideJob<T> = Box<dyn for<'a> FnOnce(&'a mut CaseRun) -> SideFuture<'a, T> + Send>;

/// A [`SideJob`] from a closure (which names its side run's lifetime for the compiler).
pub fn side_job<T, F>(f: F) -> SideJob<T>
where
    F: for<'a> FnOnce(&'a mut CaseRun) -> SideFuture<'a, T> + Send + 'static,
{
    Box::new(f)
}

/// What a [`SideJob`] returns.
pub type SideFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Step<T>> + Send + 'a>>;

/// The gates one run holds alone, by index into [`Session::gates`].
type Held = Arc<Mutex<BTreeSet<usize>>>;

fn held(h: &Held) -> std::sync::MutexGuard<'_, BTreeSet<usize>> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

/// A collection's gate held alone, by [`CaseRun::walk_alone`], until dropped.
pub struct Alone {
    held: Held,
    index: usize,
    _guard: WalkGuard,
}

impl Drop for Alone {
    fn drop(&mut self) {
        held(&self.held).remove(&self.index);
    }
}

impl CaseRun {
    /// The collection URL of a form.
    pub fn collection_url(&self, form: &UrlForm) -> String {
        format!("{}{}", self.session.plan.base_url, form.collection_path())
    }

    /// The item URL of a sid or identity (encoded here as one path segment).
    pub fn item_url(&self, form: &UrlForm, sid_or_identity: &str) -> String {
        format!(
            "{}{}",
            self.session.plan.base_url,
            form.item_path(&identity::encode_segment(sid_or_identity))
        )
    }

    /// A fresh identity in this case's namespace.
    pub fn identity(&mut self, label: &str) -> String {
        self.counter += 1;
        format!("{}{}-{label}", self.namespace, self.counter)
    }

    /// The check context for an operation on a form.
    pub fn context(&self, op: Operation, form: &UrlForm) -> Context {
        let plan = &self.session.plan;
        Context {
            operation: Some(op),
            form: Some(form.clone()),
            edition: plan.edition,
            base_url: Some(plan.base_url.clone()),
            account_sid: self.session.client.account_sid().map(str::to_owned),
            default_service_sid: plan.default_service_sid.clone(),
            known: Known {
                reachability: plan.reachability,
                ..Known::default()
            },
            status_check: None,
        }
    }

    /// Sends a request and records it. Once the run is stopping, nothing more is sent.
    pub async fn send(&mut self, req: Request) -> Step<Exchange> {
        use std::sync::atomic::Ordering;
        let halt = &self.session.halt;
        halt.in_flight.fetch_add(1, Ordering::SeqCst);
        let _counted = InFlight(halt.in_flight.clone());
        if halt.stopping.load(Ordering::SeqCst) {
            return Err(Stop::Transport(TransportError::Other {
                url: req.url.clone(),
                reason: "the run was interrupted".to_owned(),
            }));
        }
        // A sid that a create answer named for a user the run did not ask for is never
        // changed or deleted, whatever a case goes on to do.
        if req.method != Method::GET
            && let Some(key) = req.url.rsplit('/').next()
            && self.session.ledger.is_refused(key)
        {
            return Err(Stop::Failed);
        }
        // A write holds its collection's gate while it is under way, so that no walk of that
        // collection sees it land; reads take no gate.
        let gate = match self.session.gate_of(&req.url) {
            Some((index, gate)) if req.method != Method::GET && req.method != Method::HEAD => {
                if self.alone.iter().any(|h| held(h).contains(&index)) {
                    debug_assert!(false, "a write where this run walks alone: {}", req.url);
                    return Err(Stop::Failed);
                }
                Some(gate.write().await)
            }
            _ => None,
        };
        let sent = Instant::now();
        let ex = self.session.client.send(&req).await;
        drop(gate);
        self.cost.add(sent.elapsed());
        let ex = ex?;
        self.chain += 1;
        self.sent += 1;
        self.last_request = Some(ex.request_line());
        if self.record {
            self.exchanges.push(ExchangeSummary::from(&ex));
            self.raw.push(ex.clone());
        }
        Ok(ex)
    }

    /// Holds the gate of `form`'s collection for a walk until the guard is dropped: it waits
    /// for the writes under way there, and no write starts there meanwhile, from any case,
    /// while reads, other walks and the other collection go on. For a walk that must see its
    /// pages still.
    /// This run, and any side run it starts, must send no write on `form` while it holds
    /// the guard (such a write is refused, not sent). None when no gate covers `form`.
    pub async fn walk_alone(&self, form: &UrlForm) -> Option<Alone> {
        let url = format!("{}{}", self.session.plan.base_url, form.collection_path());
        let (index, gate) = self.session.gate_of(&url)?;
        let guard = gate.walk().await;
        let mine = self.alone[0].clone();
        held(&mine).insert(index);
        Some(Alone {
            held: mine,
            index,
            _guard: guard,
        })
    }

    /// Notes that checks `status` (judging the status) and `body` (judging the rest) were
    /// applied to `ex`, one of this run's exchanges: a snapshot difference there weighs no
    /// more than they do ([`Judgement`]). The `check_*` methods note it for the checks they
    /// apply; a case that judges an exchange by hand notes its checks here.
    pub fn judged_by(&mut self, ex: &Exchange, status: &[&str], body: &[&str]) {
        if let Some(i) = self.raw.iter().rposition(|r| r == ex) {
            self.judged.entry(i).or_default().add(status, body);
        }
    }

    /// Judges `ex` as a success of `ctx`'s operation ([`check::exchange`]) and reports it.
    pub fn check_exchange(&mut self, ex: &Exchange, ctx: &Context) {
        if let Some(op) = ctx.operation {
            let status = ctx
                .status_check
                .clone()
                .unwrap_or_else(|| format!("{op}.status"));
            let body = check::exchange_checks(op);
            self.judged_by(ex, &[status.as_str()], &body);
        }
        self.report(check::exchange(ex, ctx));
    }

    /// Judges `ex` as a refusal ([`check::refusal`]) and reports it.
    pub fn check_refusal(&mut self, ex: &Exchange, refusal: &check::Refusal) {
        self.judged_by(ex, &[refusal.check.as_str()], &check::refusal_checks());
        self.report(check::refusal(ex, refusal));
    }

    /// Judges `ex` as the answer to a user's `links.user_conversations` ([`check::link_page`])
    /// and reports it.
    pub fn check_link(&mut self, ex: &Exchange) {
        let id = check::LINK_CHECK;
        self.judged_by(ex, &[id], &[id]);
        self.report(check::link_page(ex));
    }

    /// Records findings, each stamped with the request it follows. A finding of the same
    /// check at the same place of the same request as one already recorded is left out.
    pub fn report(&mut self, findings: impl IntoIterator<Item = Finding>) {
        let last = self.last_request.clone();
        let sent = self.cost.requests();
        for mut f in findings {
            if f.request.is_none() {
                f.request.clone_from(&last);
            }
            if sent > 0 {
                f.requests.get_or_insert(sent);
            }
            let known = self
                .findings
                .iter()
                .any(|g| g.check == f.check && g.pointer == f.pointer && g.request == f.request);
            if !known {
                self.findings.push(f);
            }
        }
    }

    /// Registers an identity this case generated outside its namespace (a random one shaped
    /// like a user sid), so the ledger knows it as the run's own; returns it.
    pub fn mint(&mut self, identity: String) -> String {
        self.minted.insert(identity.clone());
        identity
    }

    /// Whether the run generated `identity`: it is in this case's namespace, or minted by it.
    fn minted_here(&self, identity: &str) -> bool {
        identity.starts_with(&self.namespace) || self.minted.contains(identity)
    }

    /// Sends a create on `form`. A 2xx answer with a sid goes into the ledger at once, whatever
    /// the case expected, so cleanup finds it; but only when the answer carries the identity
    /// this run sent (and generated): an answer that describes another user is a finding,
    /// and that user is never deleted.
    pub async fn post_create(&mut self, form: &UrlForm, req: Request) -> Step<(Exchange, Value)> {
        // Counted until the ledger has the user, so an interrupt cannot miss it.
        let in_flight = self.session.halt.in_flight.clone();
        in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _counted = InFlight(in_flight);
        let sent = req
            .form
            .iter()
            .find(|(k, _)| k == "Identity")
            .map(|(_, v)| v.clone());
        let ex = self.send(req).await?;
        let body: Value = serde_json::from_slice(&ex.response_body).unwrap_or(Value::Null);
        if (200..300).contains(&ex.status)
            && let Some(sid) = body.get("sid").and_then(Value::as_str)
        {
            let answered = body.get("identity").and_then(Value::as_str);
            match &sent {
                Some(sent) if answered == Some(sent.as_str()) && self.minted_here(sent) => {
                    self.session.ledger.add(
                        sid,
                        Created {
                            form: form.clone(),
                            identity: sent.clone(),
                        },
                    );
                    self.created.push(sid.to_owned());
                    self.own.insert(sid.to_owned());
                }
                Some(sent) => {
                    self.session.ledger.refuse(sid);
                    self.report([Finding::new(
                        "user.identity.echo",
                        "/identity",
                        format!("`{sent}`, the identity this run sent"),
                        format!(
                            "{}: the answer describes another user, so this run will not delete `{sid}`",
                            answered.map_or("no identity".to_owned(), |a| format!("`{a}`"))
                        ),
                    )]);
                }
                // Nothing sent to compare with (a create without Identity): not the run's own.
                None => self.session.ledger.refuse(sid),
            }
        }
        Ok((ex, body))
    }

    /// Creates a user that later steps need, checking the answer as a Create. Stops the case
    /// when the user could not be created.
    pub async fn create(
        &mut self,
        form: &UrlForm,
        identity: &str,
        extra: &[(&str, &str)],
    ) -> Step<Value> {
        let mut req =
            Request::new(Method::POST, self.collection_url(form)).param("Identity", identity);
        for (k, v) in extra {
            req = req.param(k, *v);
        }
        let (ex, body) = self.post_create(form, req).await?;
        let recorded = body
            .get("sid")
            .and_then(Value::as_str)
            .is_some_and(|sid| self.session.ledger.contains(sid));
        let mut ctx = self.context(Operation::Create, form);
        ctx.known.identity = Some(identity.to_owned());
        ctx.known.ever_online = Some(false);
        ctx.known.ever_registered = Some(false);
        self.check_exchange(&ex, &ctx);
        // A user the ledger does not hold is not this run's: no later step may touch it.
        if ex.status != Operation::Create.success_status() || !recorded {
            return Err(Stop::Failed);
        }
        Ok(body)
    }

    /// Fetches by sid or identity and checks the answer as a Fetch of a user never online.
    pub async fn fetch(&mut self, form: &UrlForm, key: &str) -> Step<(Exchange, Value)> {
        let ex = self
            .send(Request::new(Method::GET, self.item_url(form, key)))
            .await?;
        let body: Value = serde_json::from_slice(&ex.response_body).unwrap_or(Value::Null);
        Ok((ex, body))
    }

    /// Fetches a user the case created and expects it to be there.
    pub async fn fetch_ok(&mut self, form: &UrlForm, key: &str, identity: &str) -> Step<Value> {
        let (ex, body) = self.fetch(form, key).await?;
        let mut ctx = self.context(Operation::Fetch, form);
        ctx.known.identity = Some(identity.to_owned());
        ctx.known.ever_online = Some(false);
        ctx.known.ever_registered = Some(false);
        self.check_exchange(&ex, &ctx);
        if ex.status != 200 {
            return Err(Stop::Failed);
        }
        Ok(body)
    }

    /// Deletes a user this run created (never anything else).
    pub async fn delete(&mut self, form: &UrlForm, key: &str, sid: &str) -> Step<Exchange> {
        debug_assert!(self.session.ledger.contains(sid));
        let ex = self
            .send(Request::new(Method::DELETE, self.item_url(form, key)))
            .await?;
        if ex.status == 204 || ex.status == 404 {
            self.session.ledger.remove(sid);
        }
        Ok(ex)
    }

    /// A fresh case run on the same session and form, with its own namespace and nothing
    /// recorded: for work a case does on the side (a generated sequence, one request of a
    /// burst). Whatever it creates is in the ledger; [`CaseRun::absorb`] or
    /// [`CaseRun::clean_up`] ends it.
    pub fn scratch(&self, namespace: String) -> CaseRun {
        let mut side = CaseRun::new(self.session.clone(), self.form.clone(), namespace);
        side.alone.extend(self.alone.iter().cloned());
        side.chain = self.chain;
        side.cost = self.cost.clone();
        side.record = self.record;
        side
    }

    /// This run, keeping no exchange (they are only counted, in [`CaseRun::sent`]), nor will
    /// its side runs: for work whose requests reach no report.
    pub fn unrecorded(mut self) -> CaseRun {
        self.record = false;
        self
    }

    /// What this run's case (with every side run) has cost the target so far.
    pub fn cost(&self) -> &Cost {
        &self.cost
    }

    fn new(session: Session, form: UrlForm, namespace: String) -> CaseRun {
        CaseRun {
            session,
            form,
            namespace,
            findings: Vec::new(),
            exchanges: Vec::new(),
            created: Vec::new(),
            own: BTreeSet::new(),
            minted: BTreeSet::new(),
            judged: BTreeMap::new(),
            raw: Vec::new(),
            counter: 0,
            last_request: None,
            alone: vec![Held::default()],
            chain: 0,
            coverage: None,
            held: report::HeldChecks::new(),
            cost: Arc::default(),
            record: true,
            sent: 0,
        }
    }

    /// Records what a generated case's sequences covered and the checks that held, for its
    /// record (the coverage report and the clause matrix).
    pub fn covered(&mut self, coverage: crate::model::Coverage, held: crate::model::Held) {
        match &mut self.coverage {
            Some(c) => c.merge(&coverage),
            None => self.coverage = Some(coverage),
        }
        for ((op, label), checks) in held {
            // The default service's own form is a service-form URL.
            let form = if label == "shortened" {
                "shortened"
            } else {
                "service"
            };
            self.held
                .entry(op.as_str().to_owned())
                .or_default()
                .entry(form.to_owned())
                .or_default()
                .extend(checks.into_iter().map(str::to_owned));
        }
    }

    /// Takes over what a side run recorded and created: its findings, requests and users.
    pub fn absorb(&mut self, mut other: CaseRun) {
        let offset = self.raw.len();
        self.report(std::mem::take(&mut other.findings));
        self.exchanges.append(&mut other.exchanges);
        self.raw.append(&mut other.raw);
        self.created.append(&mut other.created);
        self.own.append(&mut other.own);
        self.minted.append(&mut other.minted);
        self.judged
            .extend(other.judged.iter().map(|(i, j)| (i + offset, *j)));
        self.sent += other.sent;
        if other.last_request.is_some() {
            self.last_request = other.last_request.take();
        }
        self.waited_for(&other);
    }

    /// Runs `jobs` at once, each on a side run in this run's namespace (so draw the
    /// identities they create with [`CaseRun::identity`] first), then takes over what each
    /// recorded in the order of `jobs`, the order they would have run one after another: the
    /// exchanges, and so the snapshot, read as if they had. Their results, in that order.
    pub async fn together<T: Send + 'static>(&mut self, jobs: Vec<SideJob<T>>) -> Vec<Step<T>> {
        let mut set = tokio::task::JoinSet::new();
        for (i, job) in jobs.into_iter().enumerate() {
            let mut side = self.scratch(self.namespace.clone());
            set.spawn(async move {
                let res = job(&mut side).await;
                (i, res, side)
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(d) => done.push(d),
                // A job that panicked: carry the panic into the case, as one run would.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        done.sort_by_key(|(i, ..)| *i);
        let mut out = Vec::new();
        for (_, res, side) in done {
            self.absorb(side);
            out.push(res);
        }
        out
    }

    /// Notes that this run went on only once `side` (one of its side runs) had ended: its
    /// chain of requests goes on from the side's, when that is longer.
    pub fn waited_for(&mut self, side: &CaseRun) {
        self.chain = self.chain.max(side.chain);
    }

    /// Deletes what this run created and has not deleted (see [`CaseRun::scratch`]).
    pub async fn clean_up(&mut self) {
        self.cleanup().await;
    }

    /// Deletes whatever this case created and has not deleted, all at once: the deletes do
    /// not depend on each other. Failures stay in the ledger for the run's final cleanup.
    async fn cleanup(&mut self) {
        // At most this many at once: a case that made a large collection must not open a
        // connection per user.
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut set = tokio::task::JoinSet::new();
        for sid in std::mem::take(&mut self.created) {
            if let Some(created) = self.session.ledger.get(&sid) {
                let session = self.session.clone();
                let sem = sem.clone();
                let cost = self.cost.clone();
                set.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    let sent = Instant::now();
                    let gone = session.delete_created(&sid, &created).await;
                    cost.add(sent.elapsed());
                    gone
                });
            }
        }
        if !set.is_empty() {
            self.chain += 1;
        }
        while set.join_next().await.is_some() {}
    }
}

/// Parses a body as the document it should be, for steps that read fields of it.
pub fn json(ex: &Exchange, doc: Doc) -> Option<Value> {
    check::parse_json(doc, &ex.response_body).ok()
}

/// Runs one case to its end and cleans up after it.
pub async fn run_case(session: Session, case: &CaseDef, form: UrlForm, index: usize) -> CaseRecord {
    run_case_captured(session, case, form, index).await.0
}

/// Runs one case like [`run_case`], and also returns what it captured for snapshots. The
/// record's exchanges carry the normalized response bodies (dates kept), and findings about
/// users the case did not create lose their values: nothing of such a user reaches a report.
pub async fn run_case_captured(
    session: Session,
    case: &CaseDef,
    form: UrlForm,
    index: usize,
) -> (CaseRecord, Capture) {
    let started = Instant::now();
    let namespace = format!("{}c{index}-", session.plan.run_prefix);
    let mut run = CaseRun::new(session.clone(), form.clone(), namespace);
    // No gate is held for the case as a whole: each write shares its collection's gate
    // while it is under way, and a walk holds its collection's alone while it walks.
    let result = (case.run)(&mut run).await;
    run.cleanup().await;
    let error = match result {
        Err(Stop::Transport(ref e)) => Some(e.to_string()),
        _ => None,
    };
    let failing = run
        .findings
        .iter()
        .any(|f| f.severity == Severity::Must || session.plan.strict);
    let outcome = if error.is_some() {
        Outcome::Errored
    } else if failing || matches!(result, Err(Stop::Failed)) && run.findings.is_empty() {
        Outcome::Failed
    } else {
        Outcome::Passed
    };
    let capture = Capture {
        case_id: case.id(&form),
        exchanges: std::mem::take(&mut run.raw),
        own: std::mem::take(&mut run.own),
        judged: std::mem::take(&mut run.judged),
        base_url: session.plan.base_url.clone(),
        run_prefix: session.plan.run_prefix.clone(),
        namespace: run.namespace.clone(),
        account_sid: session.client.account_sid().map(str::to_owned),
    };
    let normalized = capture.normalize(Dates::Keep);
    for (summary, response) in run.exchanges.iter_mut().zip(normalized.responses) {
        summary.response = response;
    }
    snapshot::redact_findings(&mut run.findings, &capture);
    let record = CaseRecord {
        id: case.id(&form),
        kind: case.kind.as_str().to_owned(),
        form: form.label().to_owned(),
        outcome,
        duration_ms: started.elapsed().as_millis() as u64,
        findings: run.findings,
        exchanges: run.exchanges,
        chain: run.chain,
        requests: run.cost.requests(),
        target_ms: run.cost.target_ms(),
        error,
        coverage: run.coverage,
        held: run.held,
    };
    (record, capture)
}

/// Every (case, form) pair the plan calls for, in a stable order.
pub fn instances(plan: &Plan, cases: &[CaseDef]) -> Vec<(CaseDef, UrlForm)> {
    let mut out = Vec::new();
    for case in cases {
        for form in case.forms(plan) {
            out.push((case.clone(), form));
        }
    }
    out
}

/// Runs every instance concurrently (at most `threads` at once), without a front end.
pub async fn execute(session: &Session, cases: &[CaseDef], threads: usize) -> Vec<CaseRecord> {
    execute_captured(session, cases, threads)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// Runs every instance like [`execute`], and also returns what each captured.
pub async fn execute_captured(
    session: &Session,
    cases: &[CaseDef],
    threads: usize,
) -> Vec<(CaseRecord, Capture)> {
    let sem = Arc::new(tokio::sync::Semaphore::new(threads.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, (case, form)) in instances(&session.plan, cases).into_iter().enumerate() {
        let session = session.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, run_case_captured(session, &case, form, i).await)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            out.push(r);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Deletes every user still in the ledger. Returns the sids it could not delete.
pub async fn teardown(session: &Session) -> Vec<String> {
    let mut left = Vec::new();
    for (sid, created) in session.ledger.entries() {
        if !session.delete_created(&sid, &created).await {
            left.push(sid);
        }
    }
    left
}

/// A run id: eight hex digits, different for every run.
pub fn run_id() -> String {
    format!("{:08x}", entropy() as u32)
}

/// A number different for every call and every process: the clock and the process id through
/// a randomly keyed hash.
pub fn entropy() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
