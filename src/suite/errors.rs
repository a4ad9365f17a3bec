//! Errors: creates the target must refuse.

use reqwest::Method;

use super::{errors, random_u128, together};
use crate::check::Refusal;
use crate::client::Request;
use crate::runner::{CaseRun, Step, side_job};
use crate::spec::{self, Operation, SidKind};

pub(super) async fn missing_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let req =
        Request::new(Method::POST, r.collection_url(&form)).param("FriendlyName", "no identity");
    let (ex, _) = r.post_create(&form, req).await?;
    r.check_refusal(
        &ex,
        &Refusal::of("create.identity.required", &errors().missing_identity),
    );
    Ok(())
}

pub(super) async fn duplicate_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("dup");
    r.create(&form, &id, &[]).await?;
    let req = Request::new(Method::POST, r.collection_url(&form)).param("Identity", &id);
    let (ex, _) = r.post_create(&form, req).await?;
    r.check_refusal(
        &ex,
        &Refusal::any_4xx("create.identity.duplicate", &errors().duplicate_identity),
    );
    Ok(())
}

pub(super) async fn sid_shaped_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.mint(SidKind::User.from_u128(random_u128()));
    let req = Request::new(Method::POST, r.collection_url(&form)).param("Identity", &id);
    let (ex, _) = r.post_create(&form, req).await?;
    r.check_refusal(
        &ex,
        &Refusal::any_4xx("create.identity.sid-shaped", &errors().sid_shaped_identity),
    );
    Ok(())
}

pub(super) async fn malformed_role(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("badrole");
    let req = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .param("RoleSid", "RL123");
    let (ex, _) = r.post_create(&form, req).await?;
    let refusal = Refusal::status("create.role_sid.malformed", 400);
    r.check_refusal(&ex, &refusal);
    Ok(())
}

pub(super) async fn attributes_invalid(r: &mut CaseRun) -> Step<()> {
    // Both values at once, each on a user of its own.
    let jobs = ["[1,2]", "not json"]
        .into_iter()
        .map(|attrs| {
            let id = r.identity("badattrs");
            side_job(move |r| {
                Box::pin(async move {
                    let form = r.form.clone();
                    let req = Request::new(Method::POST, r.collection_url(&form))
                        .param("Identity", &id)
                        .param("Attributes", attrs);
                    let (ex, _) = r.post_create(&form, req).await?;
                    if (200..300).contains(&ex.status) {
                        // Accepted: what comes back must still be a JSON object.
                        let mut ctx = r.context(Operation::Create, &form);
                        ctx.known.identity = Some(id);
                        r.check_exchange(&ex, &ctx);
                    }
                    let refusal = Refusal::client_error("create.attributes.invalid", Some(400));
                    r.check_refusal(&ex, &refusal);
                    Ok(())
                })
            })
        })
        .collect();
    together(r, jobs).await.map(drop)
}

pub(super) async fn webhook_invalid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("hook-bad");
    let req = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .header(&spec::rules().webhook_header.name, "maybe");
    let (ex, _) = r.post_create(&form, req).await?;
    let refusal = Refusal::client_error("webhook.header.invalid", Some(400));
    r.check_refusal(&ex, &refusal);
    Ok(())
}
