//! Lookup: by sid and by identity, identities that need encoding, reserved characters and case.

use reqwest::Method;
use serde_json::Value;

use super::{errors, sid_of, together};
use crate::check::{self, Refusal};
use crate::client::Request;
use crate::runner::{CaseRun, Step, json, side_job};
use crate::spec::{Doc, Operation};

pub(super) async fn lookup_same(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("same");
    let user = r.create(&form, &id, &[]).await?;
    let by_sid = r.fetch_ok(&form, &sid_of(&user), &id).await?;
    let (ex, by_identity) = r.fetch(&form, &id).await?;
    r.judged_by(&ex, &["lookup.identity.same"], &["lookup.identity.same"]);
    if ex.status != 200 {
        r.report([check::Finding::new(
            "lookup.identity.same",
            "@status",
            "200",
            ex.status.to_string(),
        )]);
        return Ok(());
    }
    let mut ctx = r.context(Operation::Fetch, &form);
    ctx.known.identity = Some(id);
    ctx.known.ever_online = Some(false);
    ctx.known.ever_registered = Some(false);
    r.check_exchange(&ex, &ctx);
    r.report(check::same_user(
        &by_sid,
        &by_identity,
        "lookup.identity.same",
    ));
    Ok(())
}

/// Creates a user with `identity` and fetches it back by identity: by the encoded segment, and
/// when `raw` is set also with the identity written into the path as the helper libraries do.
async fn round_trip(r: &mut CaseRun, identity: &str, check_id: &str, raw: bool) -> Step<()> {
    let form = r.form.clone();
    let req = Request::new(Method::POST, r.collection_url(&form)).param("Identity", identity);
    let (ex, user) = r.post_create(&form, req).await?;
    r.judged_by(&ex, &[check_id], &[check_id]);
    if ex.status != 201 {
        r.report([check::Finding::new(
            check_id,
            "@status",
            format!("201 for identity {identity:?}"),
            ex.status.to_string(),
        )]);
        return Ok(());
    }
    let mut urls = vec![r.item_url(&form, identity)];
    if raw {
        urls.push(format!(
            "{}{}/{identity}",
            r.session.plan.base_url,
            form.collection_path()
        ));
    }
    for url in urls {
        let ex = r.send(Request::new(Method::GET, url.clone())).await?;
        let body = json(&ex, Doc::User).unwrap_or(Value::Null);
        r.judged_by(&ex, &[check_id], &[check_id]);
        if ex.status != 200 {
            r.report([check::Finding::new(
                check_id,
                "@status",
                format!("200 for `{url}`"),
                ex.status.to_string(),
            )]);
            continue;
        }
        r.report(check::same_user(&user, &body, check_id));
    }
    Ok(())
}

/// Round trips of these identities at once: they do not depend on each other.
async fn round_trips(
    r: &mut CaseRun,
    trips: Vec<(String, bool)>,
    check_id: &'static str,
) -> Step<()> {
    let jobs = trips
        .into_iter()
        .map(|(id, raw)| {
            side_job(move |s| Box::pin(async move { round_trip(s, &id, check_id, raw).await }))
        })
        .collect();
    together(r, jobs).await.map(drop)
}

pub(super) async fn lookup_encoded(r: &mut CaseRun) -> Step<()> {
    let trips = ["with space", "jürgen-ünïcödé-日本"]
        .into_iter()
        .map(|label| (r.identity(label), false))
        .collect();
    round_trips(r, trips, "lookup.identity.encoded").await
}

pub(super) async fn lookup_reserved(r: &mut CaseRun) -> Step<()> {
    // Every reserved character the documentation lists, a few to an identity.
    // `%41` would turn into `A` if the target decoded the path twice.
    let mut trips: Vec<(String, bool)> = [
        "a!b*c'd(e)f",
        "g;h:i&j=k",
        "m$n,o/p?q",
        "r%s#t[u]v",
        "p%41q",
        "user@example.com",
    ]
    .into_iter()
    .map(|label| (r.identity(label), false))
    .collect();
    // `+` also written raw into the path, as the helper libraries send it: a plus, not a space.
    trips.push((r.identity("x+y"), true));
    round_trips(r, trips, "lookup.identity.reserved").await
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().collect::<String>()
            } else {
                c.to_uppercase().collect()
            }
        })
        .collect()
}

pub(super) async fn lookup_case(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("CaseUser");
    let user = r.create(&form, &id, &[]).await?;
    // The lookup in swapped case, and the create in lower case, at once: neither names the
    // other's identity.
    let lower = id.to_lowercase();
    let (swapped, f1) = (swap_case(&id), form.clone());
    let (low, f2) = (lower.clone(), form.clone());
    let mut done = r
        .together(vec![
            side_job(move |s| {
                Box::pin(async move {
                    let (ex, _) = s.fetch(&f1, &swapped).await?;
                    s.check_refusal(
                        &ex,
                        &Refusal::of("lookup.identity.case-sensitive", &errors().not_found),
                    );
                    Ok(None)
                })
            }),
            side_job(move |s| {
                Box::pin(async move {
                    let req =
                        Request::new(Method::POST, s.collection_url(&f2)).param("Identity", &low);
                    s.post_create(&f2, req).await.map(Some)
                })
            }),
        ])
        .await
        .into_iter();
    done.next().unwrap_or(Ok(None))?;
    let Some((ex, other)) = done.next().unwrap_or(Ok(None))? else {
        return Ok(());
    };
    const CASE: &str = "lookup.identity.case-sensitive";
    r.judged_by(&ex, &[CASE], &[CASE]);
    if ex.status != 201 {
        r.report([check::Finding::new(
            "lookup.identity.case-sensitive",
            "@status",
            format!("201: {lower:?} differs from {id:?}"),
            ex.status.to_string(),
        )]);
        return Ok(());
    }
    for (key, want) in [(&id, &user), (&lower, &other)] {
        let (ex, got) = r.fetch(&form, key).await?;
        r.judged_by(&ex, &[CASE], &[CASE]);
        if ex.status == 200 {
            r.report(check::same_user(
                want,
                &got,
                "lookup.identity.case-sensitive",
            ));
        } else {
            r.report([check::Finding::new(
                "lookup.identity.case-sensitive",
                "@status",
                format!("200 for {key:?}"),
                ex.status.to_string(),
            )]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_case_swaps() {
        assert_eq!(swap_case("AbC-1"), "aBc-1");
    }
}
