//! Fetch: unknown sids and identities.

use super::{errors, random_u128};
use crate::check::Refusal;
use crate::runner::{CaseRun, Step};
use crate::spec::SidKind;

pub(super) async fn fetch_unknown_sid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let sid = SidKind::User.from_u128(random_u128());
    let (ex, _) = r.fetch(&form, &sid).await?;
    r.check_refusal(&ex, &Refusal::of("fetch.unknown-sid", &errors().not_found));
    Ok(())
}

pub(super) async fn fetch_unknown_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("nobody");
    let (ex, _) = r.fetch(&form, &id).await?;
    r.check_refusal(
        &ex,
        &Refusal::of("fetch.unknown-identity", &errors().not_found),
    );
    Ok(())
}
