//! Auth: requests without credentials or with a wrong secret.

use reqwest::Method;

use super::{errors, random_u128};
use crate::check::{self, Refusal};
use crate::client::{Auth, Request};
use crate::runner::{CaseRun, Step};
use crate::spec::SidKind;

pub(super) async fn auth_missing(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let unauth = Refusal::of("auth.rejected", &errors().unauthenticated);
    let ex = r
        .send(Request::new(Method::GET, r.collection_url(&form)).auth(Auth::Anonymous))
        .await?;
    r.report(check::refusal(&ex, &unauth));
    let sid = SidKind::User.from_u128(random_u128());
    let ex = r
        .send(Request::new(Method::GET, r.item_url(&form, &sid)).auth(Auth::Anonymous))
        .await?;
    r.report(check::refusal(&ex, &unauth));
    let id = r.identity("anon");
    let req = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .auth(Auth::Anonymous);
    let (ex, _) = r.post_create(&form, req).await?;
    r.report(check::refusal(&ex, &unauth));
    Ok(())
}

pub(super) async fn auth_wrong(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let ex = r
        .send(Request::new(Method::GET, r.collection_url(&form)).auth(Auth::WrongSecret))
        .await?;
    r.report(check::refusal(
        &ex,
        &Refusal::of("auth.rejected", &errors().unauthenticated),
    ));
    Ok(())
}
