//! Delete: by sid and by identity, then gone both ways.

use super::{errors, sid_of};
use crate::check::Refusal;
use crate::runner::{CaseRun, Step};
use crate::spec::{Operation, UrlForm};

async fn gone(r: &mut CaseRun, form: &UrlForm, sid: &str, identity: &str) -> Step<()> {
    for key in [sid, identity] {
        let (ex, _) = r.fetch(form, key).await?;
        r.check_refusal(&ex, &Refusal::of("delete.then-404", &errors().not_found));
    }
    Ok(())
}

pub(super) async fn delete_by_sid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("del");
    let user = r.create(&form, &id, &[]).await?;
    let sid = sid_of(&user);
    let ex = r.delete(&form, &sid, &sid).await?;
    let ctx = r.context(Operation::Delete, &form);
    r.check_exchange(&ex, &ctx);
    gone(r, &form, &sid, &id).await
}

pub(super) async fn delete_by_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("del-id");
    let user = r.create(&form, &id, &[]).await?;
    let sid = sid_of(&user);
    let ex = r.delete(&form, &id, &sid).await?;
    let mut ctx = r.context(Operation::Delete, &form);
    ctx.status_check = Some("delete.by-identity".into());
    r.check_exchange(&ex, &ctx);
    gone(r, &form, &sid, &id).await
}
