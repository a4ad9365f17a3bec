//! Service: isolation between Conversation Services, and an unknown service.

use reqwest::Method;

use super::{errors, random_u128, sid_of};
use crate::check::{self, Refusal, Statuses};
use crate::client::Request;
use crate::runner::{CaseRun, Step};
use crate::spec::{SidKind, UrlForm};

pub(super) async fn service_isolation(r: &mut CaseRun) -> Step<()> {
    let Some(other) = r.session.plan.service_sid.clone() else {
        return Ok(());
    };
    let scoped = UrlForm::Service(other);
    let id = r.identity("iso");
    let user = r.create(&scoped, &id, &[]).await?;
    let sid = sid_of(&user);
    for key in [sid.as_str(), id.as_str()] {
        let (ex, _) = r.fetch(&UrlForm::Shortened, key).await?;
        r.check_refusal(&ex, &Refusal::of("service.isolation", &errors().not_found));
    }
    // Identities are unique per service: the same identity in the default service is new.
    let req =
        Request::new(Method::POST, r.collection_url(&UrlForm::Shortened)).param("Identity", &id);
    let (ex, twin) = r.post_create(&UrlForm::Shortened, req).await?;
    r.judged_by(&ex, &["service.isolation"], &["service.isolation"]);
    if ex.status != 201 {
        r.report([check::Finding::new(
            "service.isolation",
            "@status",
            "201: the identity is taken in another service only",
            ex.status.to_string(),
        )]);
        return Ok(());
    }
    if sid_of(&twin) == sid {
        r.report([check::Finding::new(
            "service.isolation",
            "/sid",
            format!("a user other than `{sid}`"),
            format!("`{sid}`"),
        )]);
    }
    Ok(())
}

pub(super) async fn service_unknown(r: &mut CaseRun) -> Step<()> {
    let unknown = UrlForm::Service(SidKind::Service.from_u128(random_u128()));
    let url = r.collection_url(&unknown);
    let ex = r.send(Request::new(Method::GET, url)).await?;
    // The documentation does not say what an unknown service gets: 404 (the resource is not
    // there, code 20404) or 403 (not the account's to reach, code 20403) are both sound.
    let refusal = Refusal {
        statuses: Statuses::OneOf(vec![404, 403]),
        codes: vec![errors().not_found.code.unwrap_or(20404), 20403],
        ..Refusal::status("service.unknown", 404)
    };
    r.check_refusal(&ex, &refusal);
    Ok(())
}
