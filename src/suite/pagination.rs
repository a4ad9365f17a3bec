//! Pagination: the walk over `next_page_url`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::read::read_page;
use super::{create_all, sid_of};
use crate::check;
use crate::runner::{CaseRun, Step, Stop};

pub(super) async fn read_walk(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    // Created at once, while other cases write too: the walk judges only its own users.
    let ids = (0..5).map(|i| r.identity(&format!("walk{i}"))).collect();
    let own: Vec<String> = create_all(r, &form, ids)
        .await?
        .iter()
        .map(sid_of)
        .collect();
    let written = Instant::now();
    // First among the other cases' writes: keyset paging (Twilio's tokens) never needs
    // more. Only a walk that disagrees is walked again with the collection held still (from
    // the probe to the last page no write lands there; the walk sends none itself), since
    // under offset paging a write would shift the pages under it. A walk that still misses
    // a user is walked again, with a backoff, until the settle time after the creates has
    // passed: the documentation promises no moment at which a list shows a write. The last
    // walk is the one judged and recorded.
    let disagrees = |side: &CaseRun| {
        side.findings
            .iter()
            .any(|f| f.check.starts_with("page.walk"))
    };
    let mut side = r.scratch(r.namespace.clone());
    let first_at = written.elapsed();
    let first = walk(&mut side, &form, &own).await;
    if !disagrees(&side) {
        r.absorb(side);
        return first;
    }
    r.waited_for(&side);
    let settle = r.session.plan.settle;
    let waiting = Instant::now();
    let mut backoff = Duration::from_millis(25);
    let mut slept = false;
    // When the last walk that missed a user started: the list was seen behind that long.
    let mut behind = first_at;
    loop {
        let read_at = written.elapsed();
        let mut side = r.scratch(r.namespace.clone());
        let result = {
            let _alone = side.walk_alone(&form).await;
            walk(&mut side, &form, &own).await
        };
        // A walk that started once the settle time was over is the verdict.
        let settled = read_at >= settle;
        if !disagrees(&side) || settled || result.is_err() {
            let patience = r.session.client.patience();
            if !disagrees(&side) && slept {
                patience.settled(behind, waiting.elapsed());
            } else if slept {
                patience.waited_for_list(waiting.elapsed());
            }
            r.absorb(side);
            return result;
        }
        r.waited_for(&side);
        behind = read_at;
        tokio::time::sleep(backoff.min(settle.saturating_sub(written.elapsed()))).await;
        slept = true;
        backoff = (backoff * 2).min(Duration::from_millis(400));
    }
}

/// From the probe to the end: the pages through `next_page_url`, judged for `own` users.
async fn walk(r: &mut CaseRun, form: &crate::spec::UrlForm, own: &[String]) -> Step<()> {
    let form = form.clone();
    // Small pages make the walk cross many page boundaries; on a large collection (a live
    // account) the page size grows so the walk stays within about a hundred pages.
    let max = r.session.plan.edition.page_size().max;
    let (status, probe) = read_page(
        r,
        format!("{}?PageSize={max}", r.collection_url(&form)),
        None,
    )
    .await?;
    if status != 200 {
        return Err(Stop::Failed);
    }
    // A probe that is the last page is a walk of its own, at the largest size: it must show
    // every user too (else it was read before the list showed them, and the walk is read
    // again; a recording then never keeps a page that missed one). The walk goes on: its
    // own pages may show more.
    if probe
        .pointer("/meta/next_page_url")
        .is_none_or(Value::is_null)
    {
        r.report(check::walk(&[only_own(&probe, own)], own, true));
    }
    let size = walk_page_size(&probe, max);
    let mut url = format!("{}?PageSize={size}", r.collection_url(&form));
    let mut seen_urls = std::collections::BTreeMap::new();
    let mut seen_users: std::collections::BTreeMap<String, usize> = Default::default();
    let mut pages = Vec::new();
    let mut ended = false;
    while pages.len() < r.session.plan.max_pages {
        seen_urls.insert(url.clone(), pages.len());
        let (status, page) = read_page(r, url.clone(), None).await?;
        if status != 200 {
            return Err(Stop::Failed);
        }
        let next = page
            .pointer("/meta/next_page_url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // A user seen again means the walk would run in circles: stop at once, one finding.
        let index = pages.len();
        let again = page
            .get("users")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| u.get("sid").and_then(Value::as_str))
            .find_map(|sid| {
                seen_users
                    .insert(sid.to_owned(), index)
                    .map(|first| (sid.to_owned(), first))
            });
        if let Some((sid, first)) = again {
            r.report([check::Finding::new(
                "page.walk.complete",
                "/users",
                "every user once",
                format!(
                    "`{sid}` again on page {index} (first on page {first}): the walk stopped there"
                ),
            )]);
            return Ok(());
        }
        // Other cases create and delete users at the same time: judge only this case's own.
        pages.push(only_own(&page, own));
        match next {
            None => {
                ended = true;
                break;
            }
            Some(n) if !r.session.client.on_origin(&n) => {
                // Never followed: credentials go only to the target. The page checks have
                // raised `page.meta.urls.base` for it already; this finding says more.
                if let Some(i) = r.findings.iter().rposition(|f| {
                    f.check == "page.meta.urls.base" && f.pointer == "/meta/next_page_url"
                }) {
                    r.findings.remove(i);
                }
                r.report([check::Finding::new(
                    "page.meta.urls.base",
                    "/meta/next_page_url",
                    format!(
                        "a URL on the target's origin `{}`",
                        r.session.client.origin()
                    ),
                    format!("`{n}`: not followed, the walk stopped there"),
                )]);
                return Ok(());
            }
            Some(n) => {
                if let Some(first) = seen_urls.get(&n) {
                    r.report([check::Finding::new(
                        "page.walk.bounded",
                        "/meta/next_page_url",
                        "a URL not read before",
                        format!("`{n}`, read already as page {first}: the walk stopped there"),
                    )]);
                    return Ok(());
                }
                url = n;
            }
        }
    }
    r.report(check::walk(&pages, own, ended));
    Ok(())
}

/// A page with only the users whose sid is in `own`.
fn only_own(page: &Value, own: &[String]) -> Value {
    let mut mine = page.clone();
    if let Some(users) = mine.get_mut("users").and_then(Value::as_array_mut) {
        users.retain(|u| {
            own.iter()
                .any(|s| Some(s.as_str()) == u.get("sid").and_then(Value::as_str))
        });
    }
    mine
}

/// The walk's page size: 2 for a collection of at most 200 users (the probe page says how
/// many when it is the last), else enough for about a hundred pages, at most `max`.
fn walk_page_size(probe: &Value, max: u32) -> u32 {
    let last = probe
        .pointer("/meta/next_page_url")
        .is_none_or(Value::is_null);
    let count = probe
        .get("users")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    match (last, u32::try_from(count)) {
        (true, Ok(n)) if n <= 200 => 2,
        (true, Ok(n)) => n.div_ceil(100).clamp(2, max.max(2)),
        _ => max.max(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_keeps_small_pages_on_small_collections() {
        let page = |n: usize, next: Option<&str>| {
            serde_json::json!({
                "users": vec![serde_json::json!({}); n],
                "meta": {"next_page_url": next}
            })
        };
        assert_eq!(walk_page_size(&page(7, None), 1000), 2);
        assert_eq!(walk_page_size(&page(200, None), 1000), 2);
        assert_eq!(walk_page_size(&page(950, None), 1000), 10);
        assert_eq!(
            walk_page_size(&page(1000, Some("http://h/next")), 1000),
            1000
        );
        assert_eq!(walk_page_size(&page(50, Some("http://h/next")), 50), 50);
    }
}
