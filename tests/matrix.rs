//! The harness's own mutation test: the full suite against the faithful emulator passes with
//! no finding at all, and against the emulator with each named fault it finds something.
//! The matrix fault → checks that fired is printed (shown with `--nocapture`, or on failure).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use convcheck::cli::run::{Prepared, build_plan};
use convcheck::client::{Client, Credentials, Secret};
use convcheck::emulator::{self, Fault};
use convcheck::report::view::{self, Evidence};
use convcheck::runner::{self, CaseRecord, Outcome, Session};
use convcheck::spec::Edition;
use convcheck::suite;

async fn run_with(faults: Vec<Fault>, edition: Edition) -> Vec<CaseRecord> {
    run_threads(faults, edition, 16).await
}

async fn run_threads(faults: Vec<Fault>, edition: Edition, threads: usize) -> Vec<CaseRecord> {
    let config = emulator::Config {
        faults,
        edition,
        ..emulator::Config::default()
    };
    let running = emulator::spawn(config).await.expect("emulator starts");
    let c = running.config().clone();
    let client = Client::new(
        Some(Credentials {
            username: c.account_sid.clone(),
            secret: Secret::new(c.auth_token.clone()),
            account_sid: c.account_sid.clone(),
        }),
        Duration::from_secs(30),
    )
    .expect("client builds");
    let prepared = Prepared {
        base_url: running.base_url(),
        client: client.clone(),
        embedded: Some(running),
    };
    let plan = build_plan(&prepared, None, false, edition, false, 200);
    let session = Session::new(plan, client);
    let records = runner::execute(&session, &suite::all(), threads).await;
    let left = runner::teardown(&session).await;
    assert!(left.is_empty() || !session.ledger.entries().is_empty());
    if let Some(r) = prepared.embedded {
        r.shutdown().await.expect("emulator stops");
    }
    records
}

fn fired(records: &[CaseRecord]) -> BTreeSet<String> {
    records
        .iter()
        .flat_map(|r| r.findings.iter().map(|f| f.check.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faithful_emulator_passes_every_case_with_no_finding() {
    for edition in Edition::ALL {
        let records = run_with(Vec::new(), edition).await;
        assert!(records.len() >= 40, "only {} cases ran", records.len());
        let bad: Vec<String> = records
            .iter()
            .filter(|r| r.outcome != Outcome::Passed || !r.findings.is_empty())
            .map(|r| format!("{}: {:?} {:?} {:?}", r.id, r.outcome, r.error, r.findings))
            .collect();
        assert!(bad.is_empty(), "edition {edition}: {bad:#?}");
        assert_eq!(runner::diagnose(&records), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_is_killed() {
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let mut set = tokio::task::JoinSet::new();
    for fault in Fault::ALL {
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire_owned().await;
            let records = run_with(vec![fault], Edition::Docs).await;
            let failing: BTreeSet<String> = records
                .iter()
                .filter(|r| r.outcome != Outcome::Passed)
                .map(|r| r.id.clone())
                .collect();
            (fault, fired(&records), failing)
        });
    }
    let mut rows = Vec::new();
    while let Some(r) = set.join_next().await {
        rows.push(r.expect("fault run finishes"));
    }
    rows.sort_by_key(|(f, _, _)| f.name());
    let mut table = String::from("fault | checks that fired | failing cases\n");
    let mut survivors = Vec::new();
    for (fault, checks, failing) in &rows {
        table.push_str(&format!(
            "{} | {} | {}\n",
            fault.name(),
            checks.iter().cloned().collect::<Vec<_>>().join(", "),
            failing.len()
        ));
        if checks.is_empty() {
            survivors.push(fault.name());
        }
    }
    println!("{table}");
    let stateless = rows
        .iter()
        .find(|(f, _, _)| f.name() == "update-ignored")
        .map(|(f, _, _)| *f)
        .expect("update-ignored is a fault");
    let notes = runner::diagnose(&run_with(vec![stateless], Edition::Docs).await);
    assert!(
        notes.iter().any(|n| n.contains("keeps no state")),
        "{notes:?}"
    );
    assert!(
        survivors.is_empty(),
        "faults no check detects: {survivors:?}\n{table}"
    );
    assert_eq!(rows.len(), Fault::ALL.len());
}

/// The reports count a clause as passed only where a case is known to check it: that
/// knowledge, `src/report/evidence.json`, is what the faults make the cases raise. It must
/// match what this test sees exactly; `CONVCHECK_BLESS=1` rewrites it. Cases run one at a time
/// here, so no case reads another's users in a page and the evidence is the same every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_evidence_is_what_the_faults_raise() {
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut set = tokio::task::JoinSet::new();
    for fault in Fault::ALL {
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire_owned().await;
            view::evidence_of(&run_threads(vec![fault], Edition::Docs, 1).await)
        });
    }
    let mut all = Evidence::new();
    while let Some(ev) = set.join_next().await {
        for (case, ops) in ev.expect("fault run finishes") {
            for (op, checks) in ops {
                all.entry(case.clone())
                    .or_default()
                    .entry(op)
                    .or_default()
                    .extend(checks);
            }
        }
    }
    let text = serde_json::to_string_pretty(&all).expect("evidence serializes") + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/report/evidence.json");
    if std::env::var_os("CONVCHECK_BLESS").is_some() {
        std::fs::write(path, &text).expect("evidence written");
    } else if *view::evidence() != all {
        let observed = concat!(env!("CARGO_TARGET_TMPDIR"), "/evidence.observed.json");
        std::fs::write(observed, &text).expect("observed evidence written");
        panic!(
            "src/report/evidence.json is out of date (this run's is in {observed}): rerun with CONVCHECK_BLESS=1"
        );
    }
}
