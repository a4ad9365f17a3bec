//! Create: the minimal and the full create, and the webhook header on create, update and delete.

use reqwest::Method;
use serde_json::Value;

use super::{sid_of, together};
use crate::check::{self, UpdateParams};
use crate::client::Request;
use crate::runner::{CaseRun, Step, Stop, side_job};
use crate::spec::{self, Operation, SidKind, UrlForm};

pub(super) async fn create_minimal(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("minimal");
    let user = r.create(&form, &id, &[]).await?;
    r.report(check::created(&user, &UpdateParams::default()));
    let fetched = r.fetch_ok(&form, &sid_of(&user), &id).await?;
    r.report(check::created(&fetched, &UpdateParams::default()));
    // The link every user carries should lead somewhere. Only a link on the target's origin
    // is followed (the url checks judge the others).
    if let Some(link) = fetched
        .pointer("/links/user_conversations")
        .and_then(Value::as_str)
        .filter(|l| r.session.client.on_origin(l))
    {
        let ex = r.send(Request::new(Method::GET, link.to_owned())).await?;
        r.check_link(&ex);
    }
    Ok(())
}

/// A role of the service: the `--role-sid` given, or the one the target assigns by default.
async fn some_role(r: &mut CaseRun, form: &UrlForm) -> Step<Option<String>> {
    let probe_id = r.identity("role-probe");
    let probe = r.create(form, &probe_id, &[]).await?;
    Ok(probe
        .get("role_sid")
        .and_then(Value::as_str)
        .filter(|s| SidKind::Role.matches(s))
        .map(str::to_owned))
}

pub(super) async fn create_all_params(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let role = some_role(r, &form).await?;
    let id = r.identity("all");
    let fname = "Zoë Smith + team & co";
    let attrs = r#"{"duty":"tech","team":["a","b"],"level":3}"#;
    let mut extra = vec![("FriendlyName", fname), ("Attributes", attrs)];
    if let Some(role) = &role {
        extra.push(("RoleSid", role.as_str()));
    }
    let user = r.create(&form, &id, &extra).await?;
    let sent = UpdateParams {
        friendly_name: Some(fname.to_owned()),
        attributes: Some(attrs.to_owned()),
        role_sid: role,
    };
    r.report(check::created(&user, &sent));
    let fetched = r.fetch_ok(&form, &sid_of(&user), &id).await?;
    r.report(check::created(&fetched, &sent));
    Ok(())
}

pub(super) async fn webhook_accepted(r: &mut CaseRun) -> Step<()> {
    // The two values on users of their own, at once.
    let jobs = ["true", "false"]
        .into_iter()
        .map(|value| {
            let id = r.identity(&format!("hook-{value}"));
            side_job(move |s| Box::pin(webhook_round(s, value, id)))
        })
        .collect();
    together(r, jobs).await.map(drop)
}

/// Create, update and delete with the webhook header set to `value`.
async fn webhook_round(r: &mut CaseRun, value: &'static str, id: String) -> Step<()> {
    let form = r.form.clone();
    let header = spec::rules().webhook_header.name.clone();
    let req = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .header(&header, value);
    let (ex, user) = r.post_create(&form, req).await?;
    let mut ctx = r.context(Operation::Create, &form);
    ctx.known.identity = Some(id.clone());
    ctx.status_check = Some("webhook.header.accepted".into());
    r.check_exchange(&ex, &ctx);
    if ex.status != 201 {
        return Err(Stop::Failed);
    }
    let sid = sid_of(&user);
    let req = Request::new(Method::POST, r.item_url(&form, &sid))
        .param("FriendlyName", "hooked")
        .header(&header, value);
    let ex = r.send(req).await?;
    let mut ctx = r.context(Operation::Update, &form);
    ctx.known.identity = Some(id.clone());
    ctx.status_check = Some("webhook.header.accepted".into());
    r.check_exchange(&ex, &ctx);
    let req = Request::new(Method::DELETE, r.item_url(&form, &sid)).header(&header, value);
    let ex = r.send(req).await?;
    if ex.status == 204 {
        r.session.ledger.remove(&sid);
    }
    let mut ctx = r.context(Operation::Delete, &form);
    ctx.status_check = Some("webhook.header.accepted".into());
    r.check_exchange(&ex, &ctx);
    Ok(())
}
