//! Read: one page, with the default, explicit and out-of-bounds page sizes.

use reqwest::Method;
use serde_json::Value;

use crate::check::{self, Refusal};
use crate::client::Request;
use crate::runner::{CaseRun, Step, json};
use crate::spec::{Doc, Operation};

pub(super) async fn read_page(
    r: &mut CaseRun,
    url: String,
    status_check: Option<&str>,
) -> Step<(u16, Value)> {
    let form = r.form.clone();
    let ex = r.send(Request::new(Method::GET, url)).await?;
    let mut ctx = r.context(Operation::Read, &form);
    ctx.status_check = status_check.map(str::to_owned);
    r.check_exchange(&ex, &ctx);
    Ok((ex.status, json(&ex, Doc::UsersPage).unwrap_or(Value::Null)))
}

pub(super) async fn read_default(r: &mut CaseRun) -> Step<()> {
    let url = r.collection_url(&r.form.clone());
    read_page(r, url, None).await?;
    Ok(())
}

pub(super) async fn read_sizes(r: &mut CaseRun) -> Step<()> {
    let base = r.collection_url(&r.form.clone());
    let max = r.session.plan.edition.page_size().max;
    for n in [1, 7] {
        read_page(r, format!("{base}?PageSize={n}"), None).await?;
    }
    read_page(r, format!("{base}?PageSize={max}"), Some("page.size.max")).await?;
    Ok(())
}

pub(super) async fn read_bounds(r: &mut CaseRun) -> Step<()> {
    let base = r.collection_url(&r.form.clone());
    let bounds = r.session.plan.edition.page_size();
    for n in [i64::from(bounds.min) - 1, i64::from(bounds.max) + 1] {
        let ex = r
            .send(Request::new(Method::GET, format!("{base}?PageSize={n}")))
            .await?;
        // Refusing is advised; a page within bounds (clamping) is allowed too.
        r.judged_by(&ex, &["page.size.refused"], &["page.size.bounds"]);
        if ex.status != 400 {
            r.report([check::Finding::new(
                "page.size.refused",
                "@status",
                format!("400 for PageSize={n}"),
                ex.status.to_string(),
            )]);
        }
        if (400..500).contains(&ex.status) {
            let refusal = Refusal::client_error("page.size.bounds", None);
            r.check_refusal(&ex, &refusal);
            continue;
        }
        let size = json(&ex, Doc::UsersPage)
            .and_then(|v| v.pointer("/meta/page_size").and_then(Value::as_i64));
        let within = ex.status == 200 && size.is_some_and(|s| bounds.contains(s));
        if !within {
            r.report([check::Finding::new(
                "page.size.bounds",
                "/meta/page_size",
                format!(
                    "a 4xx, or a page_size within {}..={} for PageSize={n}",
                    bounds.min, bounds.max
                ),
                format!(
                    "{} with page_size {}",
                    ex.status,
                    size.map_or("(none)".to_owned(), |s| s.to_string())
                ),
            )]);
        }
    }
    Ok(())
}
