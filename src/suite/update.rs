//! Update: each parameter on its own, and an update by identity.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::sid_of;
use crate::check::{self, UpdateParams};
use crate::client::Request;
use crate::runner::{CaseRun, Step, Stop, json};
use crate::spec::{Doc, Operation, SidKind, UrlForm};

/// Sends an update and checks it as an Update of a user never online.
async fn update(
    r: &mut CaseRun,
    form: &UrlForm,
    key: &str,
    identity: &str,
    sent: &UpdateParams,
    status_check: Option<&str>,
) -> Step<Value> {
    let mut req = Request::new(Method::POST, r.item_url(form, key));
    if let Some(v) = &sent.friendly_name {
        req = req.param("FriendlyName", v);
    }
    if let Some(v) = &sent.attributes {
        req = req.param("Attributes", v);
    }
    if let Some(v) = &sent.role_sid {
        req = req.param("RoleSid", v);
    }
    let ex = r.send(req).await?;
    let mut ctx = r.context(Operation::Update, form);
    ctx.known.identity = Some(identity.to_owned());
    ctx.status_check = status_check.map(str::to_owned);
    r.check_exchange(&ex, &ctx);
    if ex.status != 200 {
        return Err(Stop::Failed);
    }
    Ok(json(&ex, Doc::User).unwrap_or(Value::Null))
}

pub(super) async fn update_each_param(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("upd");
    let user = r
        .create(
            &form,
            &id,
            &[("FriendlyName", "before"), ("Attributes", r#"{"v":0}"#)],
        )
        .await?;
    let sid = sid_of(&user);
    // Dates have one-second resolution: wait past the next second so date_updated must move.
    // The fetch of the user as it was changes nothing, so it goes on meanwhile.
    let (fetched, ()) = tokio::join!(
        r.fetch_ok(&form, &sid, &id),
        tokio::time::sleep(Duration::from_millis(1100))
    );
    let mut before = fetched?;
    let role = user
        .get("role_sid")
        .and_then(Value::as_str)
        .filter(|s| SidKind::Role.matches(s))
        .map(str::to_owned);
    let steps = [
        UpdateParams {
            friendly_name: Some("after name".into()),
            ..UpdateParams::default()
        },
        UpdateParams {
            attributes: Some(r#"{"v":1,"team":"internals"}"#.into()),
            ..UpdateParams::default()
        },
        UpdateParams {
            role_sid: role,
            ..UpdateParams::default()
        },
    ];
    for (i, sent) in steps.iter().enumerate() {
        if sent == &UpdateParams::default() {
            continue;
        }
        let after = update(r, &form, &sid, &id, sent, None).await?;
        let base = if i == 0 { &user } else { &before };
        r.report(check::updated(base, &after, sent, i == 0));
        before = after;
    }
    let fetched = r.fetch_ok(&form, &sid, &id).await?;
    r.report(check::updated(
        &before,
        &fetched,
        &UpdateParams::default(),
        false,
    ));
    Ok(())
}

pub(super) async fn update_by_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("upd-id");
    let user = r.create(&form, &id, &[]).await?;
    let sent = UpdateParams {
        friendly_name: Some("changed by identity".into()),
        ..UpdateParams::default()
    };
    let after = update(r, &form, &id, &id, &sent, Some("update.by-identity")).await?;
    r.report(check::updated(&user, &after, &sent, false));
    let fetched = r.fetch_ok(&form, &sid_of(&user), &id).await?;
    r.report(check::updated(&user, &fetched, &sent, false));
    Ok(())
}
