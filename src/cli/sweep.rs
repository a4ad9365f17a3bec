//! `convcheck sweep`: deletes users left behind by earlier runs, and only those whose
//! identity starts with the given prefix.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::run::TargetArgs;
use crate::client::{Client, Request};
use crate::spec::{Edition, SidKind, UrlForm, identity};

/// Options of `convcheck sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only users whose identity starts with this are deleted (runs use `convcheck-<run id>-`).
    #[arg(long)]
    pub prefix: String,
    /// Also sweep this Conversation Service (`IS…`).
    #[arg(long)]
    pub service_sid: Option<String>,
    /// Delete without asking.
    #[arg(long)]
    pub yes: bool,
    /// The largest number of pages to read per URL form.
    #[arg(long, default_value_t = 1000)]
    pub max_pages: usize,
}

impl SweepArgs {
    /// Lists the matching users, asks, deletes.
    pub fn exec(self) -> anyhow::Result<ExitCode> {
        if self.target.target.is_none() {
            bail!(
                "sweep needs --target (or CONVCHECK_TARGET): the embedded emulator keeps nothing to sweep"
            );
        }
        if self.prefix.trim().is_empty() {
            bail!("refusing an empty --prefix: it would match every user");
        }
        if self.max_pages == 0 {
            bail!("--max-pages must be at least 1");
        }
        self.target.check()?;
        if let Some(s) = &self.service_sid
            && !SidKind::Service.matches(s)
        {
            bail!(
                "malformed service sid `{s}`: expected `{}`",
                SidKind::Service.pattern()
            );
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        rt.block_on(self.sweep())
    }

    async fn sweep(&self) -> anyhow::Result<ExitCode> {
        let p = self.target.prepare(Edition::Docs).await?;
        let mut forms = vec![UrlForm::Shortened];
        if let Some(s) = &self.service_sid {
            forms.push(UrlForm::Service(s.clone()));
        }
        let mut found = Vec::new();
        for form in &forms {
            for (sid, identity) in list(&p.client, &p.base_url, form, self.max_pages).await? {
                if identity.starts_with(&self.prefix) {
                    found.push((form.clone(), sid, identity));
                }
            }
        }
        if found.is_empty() {
            println!("no user's identity starts with `{}`", self.prefix);
            return Ok(ExitCode::SUCCESS);
        }
        for (form, sid, identity) in &found {
            println!("{sid}  {identity}  ({})", form.label());
        }
        if !self.yes {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "refusing to delete {} without confirmation: pass --yes",
                    crate::runner::plural(found.len(), "user", "users")
                );
            }
            print!(
                "delete {}? [y/N] ",
                crate::runner::plural(found.len(), "this user", "these users")
            );
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                println!("nothing deleted");
                return Ok(ExitCode::SUCCESS);
            }
        }
        let mut failed = 0;
        let mut spared = 0;
        for (form, sid, _) in &found {
            let url = format!(
                "{}{}",
                p.base_url,
                form.item_path(&identity::encode_segment(sid))
            );
            // The list alone is not enough: a fresh fetch of the same sid must carry the
            // prefix too, or the user is left alone.
            match confirm(&p.client, &url, sid, &self.prefix).await {
                Ok(()) => {}
                Err(why) => {
                    eprintln!("warning: not deleting `{sid}`: {why}");
                    spared += 1;
                    continue;
                }
            }
            match p.client.send(&Request::new(Method::DELETE, url)).await {
                Ok(ex) if ex.status == 204 || ex.status == 404 => {}
                Ok(ex) => {
                    eprintln!("error: deleting `{sid}` answered {}", ex.status);
                    failed += 1;
                }
                Err(e) => {
                    eprintln!("error: deleting `{sid}`: {e}");
                    failed += 1;
                }
            }
        }
        println!(
            "deleted {} of {}",
            found.len() - failed - spared,
            crate::runner::plural(found.len(), "user", "users")
        );
        Ok(ExitCode::from(if failed + spared > 0 {
            super::exit::USAGE
        } else {
            0
        }))
    }
}

/// Fetches `url` (a user by sid) and checks that the answer is that user and that its
/// identity starts with `prefix`. `Err` says why not.
async fn confirm(client: &Client, url: &str, sid: &str, prefix: &str) -> Result<(), String> {
    let ex = client
        .send(&Request::new(Method::GET, url.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    if ex.status != 200 {
        return Err(format!("fetching it answered {}", ex.status));
    }
    let user: Value = serde_json::from_slice(&ex.response_body)
        .map_err(|_| "fetching it answered something that is not JSON".to_owned())?;
    if user["sid"].as_str() != Some(sid) {
        return Err("fetching it answered another user".to_owned());
    }
    match user["identity"].as_str() {
        Some(i) if i.starts_with(prefix) => Ok(()),
        _ => Err(format!(
            "fetched afresh, its identity does not start with `{prefix}`"
        )),
    }
}

/// Every user of a URL form as `(sid, identity)`, following `next_page_url` while it stays
/// on the target's origin and brings users not seen before.
pub async fn list(
    client: &Client,
    base_url: &str,
    form: &UrlForm,
    max_pages: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut url = format!("{base_url}{}?PageSize=50", form.collection_path());
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen_urls = std::collections::BTreeSet::new();
    let mut seen_sids = std::collections::BTreeSet::new();
    for _ in 0..max_pages.max(1) {
        seen_urls.insert(url.clone());
        let ex = client
            .send(&Request::new(Method::GET, url.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("target unreachable: {e}"))?;
        if ex.status != 200 {
            bail!("listing users at `{url}` answered {}", ex.status);
        }
        let page: Value = serde_json::from_slice(&ex.response_body)
            .with_context(|| format!("the user list at `{url}` is not JSON"))?;
        let mut repeated = false;
        for u in page["users"].as_array().into_iter().flatten() {
            if let (Some(s), Some(i)) = (u["sid"].as_str(), u["identity"].as_str()) {
                if seen_sids.insert(s.to_owned()) {
                    out.push((s.to_owned(), i.to_owned()));
                } else {
                    repeated = true;
                }
            }
        }
        match page.pointer("/meta/next_page_url").and_then(Value::as_str) {
            Some(_) if repeated => {
                eprintln!(
                    "warning: the list at `{url}` repeats users it already showed; stopped listing there"
                );
                return Ok(out);
            }
            Some(next) if seen_urls.contains(next) => {
                eprintln!(
                    "warning: the list's next_page_url `{next}` was already read; stopped listing there"
                );
                return Ok(out);
            }
            Some(next) if !client.on_origin(next) => {
                eprintln!(
                    "warning: not following next_page_url `{next}`: it is not on the target's origin `{}`; stopped listing there",
                    client.origin()
                );
                return Ok(out);
            }
            Some(next) => url = next.to_owned(),
            None => return Ok(out),
        }
    }
    Ok(out)
}
