//! How a failing sequence is shown and kept: numbered steps with the model's expectation
//! beside the target's answer, curl commands, the seed and the command that replays it; and
//! the file of failing seeds that later runs try first.

use std::io::Write as _;
use std::path::Path;

use super::exec::Trace;
use crate::runner::ExchangeSummary;

/// A shrunk failure to show.
pub struct Replay<'a> {
    /// The generated case (`stateful::sequences`).
    pub label: &'a str,
    /// The run's seed (`--seed`).
    pub run_seed: u64,
    /// The sequence's number in the case.
    pub sequence: usize,
    /// How many sequences the case ran.
    pub sequences: usize,
    /// The sequence's own seed (what the seeds file keeps).
    pub seed: u64,
    /// Steps before shrinking.
    pub original_steps: usize,
    /// Sequences run while shrinking.
    pub runs: usize,
    /// The shrunk sequence as it ran.
    pub trace: &'a Trace,
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The request as a line: method, path and query, and the form fields sent.
fn request_line(ex: &crate::check::Exchange) -> String {
    let mut line = ex.request_line();
    if !ex.request_body.is_empty() {
        let fields: Vec<String> = form_urlencoded::parse(&ex.request_body)
            .map(|(k, v)| format!("{k}={}", clip(&format!("{v:?}"), 80)))
            .collect();
        line.push_str("  ");
        line.push_str(&fields.join(" "));
    }
    line
}

/// The text of a failure: what ran, step by step, and how to run it again.
pub fn render(r: &Replay<'_>) -> String {
    let steps = &r.trace.steps;
    let last = steps
        .iter()
        .rposition(|s| !s.findings.is_empty())
        .map_or(steps.len(), |i| i + 1);
    let mut out = format!(
        "{} sequence {} of {} (seed {}), shrunk from {} to {} in {} runs:\n",
        r.label,
        r.sequence + 1,
        r.sequences,
        r.seed,
        r.original_steps,
        last,
        r.runs
    );
    for (n, s) in steps[..last].iter().enumerate() {
        let statuses: Vec<String> = s.exchanges.iter().map(|e| e.status.to_string()).collect();
        match s.exchanges.len() {
            0 => out.push_str(&format!("  {}. the whole world read back\n", n + 1)),
            1 => out.push_str(&format!("  {}. {}\n", n + 1, request_line(&s.exchanges[0]))),
            k if s.exchanges.iter().all(|e| e.method == "POST") && k > 6 => out.push_str(&format!(
                "  {}. {k} creates at once: {} | … | {}\n",
                n + 1,
                request_line(&s.exchanges[0]),
                request_line(&s.exchanges[k - 1])
            )),
            k if s.exchanges.iter().all(|e| e.method != "GET") || k <= 6 && !is_walk(s) => out
                .push_str(&format!(
                    "  {}. {k} requests at once: {}\n",
                    n + 1,
                    s.exchanges
                        .iter()
                        .map(request_line)
                        .collect::<Vec<_>>()
                        .join(" | ")
                )),
            k => out.push_str(&format!(
                "  {}. {} (and {} more pages)\n",
                n + 1,
                request_line(&s.exchanges[0]),
                k - 1
            )),
        }
        out.push_str(&format!("     model:  {}\n", s.expected));
        if !statuses.is_empty() {
            out.push_str(&format!(
                "     target: {}\n",
                clip(&statuses.join(", "), 200)
            ));
        }
        if !s.observed.is_empty() {
            out.push_str(&format!(
                "     world:  {} requests read it back (each collection walked, the users it could have touched fetched by sid and identity through each view)\n",
                s.observed.len()
            ));
        }
        for f in &s.findings {
            out.push_str(&format!("     ^ [{}] {}\n", f.check, f.message));
        }
    }
    out.push_str("curl (the sids are the failing run's; a replay creates its own):\n");
    for s in &steps[..last] {
        // The step's own requests, then those of the read-back that a finding names.
        let named: Vec<&str> = s
            .findings
            .iter()
            .filter_map(|f| f.request.as_deref())
            .collect();
        let shown = s.exchanges.iter().take(12).chain(
            s.observed
                .iter()
                .filter(|ex| named.contains(&ex.request_line().as_str()))
                .take(6),
        );
        for ex in shown {
            for line in crate::report::view::curl(&ExchangeSummary::from(ex), true).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out.push_str(&format!(
        "replay: convcheck run {} --seed {}\n",
        r.label.split("::").take(2).collect::<Vec<_>>().join("::"),
        r.run_seed
    ));
    out
}

/// Whether a step is a walk (its requests are pages).
fn is_walk(s: &super::exec::Logged) -> bool {
    matches!(s.step, Some(crate::model::Step::Read { .. }))
}

/// The seeds a seeds file keeps for a generated case, with the template each was drawn
/// from: lines `<case> <seed> <check> <steps> [<template>]` (`random` when left out).
pub fn persisted(path: Option<&Path>, label: &str) -> Vec<(u64, String)> {
    let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, String)> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&label)
            && let Some(seed) = words.get(1).and_then(|s| s.parse().ok())
            && !out.iter().any(|(s, _)| *s == seed)
        {
            let code = words.get(4).copied().unwrap_or("random").to_owned();
            out.push((seed, code));
        }
    }
    out
}

/// Appends a failing seed to a seeds file, unless it is there already.
pub fn persist(path: &Path, label: &str, seed: u64, check: &str, steps: usize, template: &str) {
    if persisted(Some(path), label).iter().any(|(s, _)| *s == seed) {
        return;
    }
    let new = !path.exists();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        if new {
            let _ = writeln!(
                f,
                "# Seeds of generated sequences that failed; convcheck runs them first.\n# <case> <seed> <check> <steps> <template>"
            );
        }
        let _ = writeln!(f, "{label} {seed} {check} {steps} {template}");
    }
}
