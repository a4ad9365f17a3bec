//! Auth: requests without credentials or with a wrong secret.

use reqwest::Method;

use super::{errors, random_u128, together};
use crate::check::Refusal;
use crate::client::{Auth, Request};
use crate::runner::{CaseRun, Step, side_job};
use crate::spec::SidKind;

pub(super) async fn auth_missing(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    // Three probes that do not depend on each other, sent at once.
    let sid = SidKind::User.from_u128(random_u128());
    let id = r.identity("anon");
    let read = Request::new(Method::GET, r.collection_url(&form)).auth(Auth::Anonymous);
    let fetch = Request::new(Method::GET, r.item_url(&form, &sid)).auth(Auth::Anonymous);
    let create = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .auth(Auth::Anonymous);
    let jobs = [(read, None), (fetch, None), (create, Some(form))]
        .into_iter()
        .map(|(req, create_on)| {
            side_job(move |s| {
                Box::pin(async move {
                    let ex = match create_on {
                        Some(form) => s.post_create(&form, req).await?.0,
                        None => s.send(req).await?,
                    };
                    let unauth = Refusal::of("auth.rejected", &errors().unauthenticated);
                    s.check_refusal(&ex, &unauth);
                    Ok(())
                })
            })
        })
        .collect();
    together(r, jobs).await.map(drop)
}

pub(super) async fn auth_wrong(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let ex = r
        .send(Request::new(Method::GET, r.collection_url(&form)).auth(Auth::WrongSecret))
        .await?;
    r.check_refusal(
        &ex,
        &Refusal::of("auth.rejected", &errors().unauthenticated),
    );
    Ok(())
}
