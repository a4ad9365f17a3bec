//! The contract cases: each is a short script of requests whose answers go through the pure
//! checks. Cases that write create users only in their own identity namespace and delete them
//! again; the runner's ledger catches whatever a failing case leaves behind.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::check::{self, Refusal, UpdateParams};
use crate::client::{Auth, Request};
use crate::runner::{CaseDef, CaseRun, Kind, Scope, Step, Stop, json};
use crate::spec::{self, Doc, Operation, SidKind, UrlForm};

macro_rules! case {
    ($kind:ident, $name:literal, $scope:ident, writes = $w:literal, $f:path, $about:literal) => {
        CaseDef {
            name: $name,
            kind: Kind::$kind,
            scope: Scope::$scope,
            writes: $w,
            exclusive: false,
            about: $about,
            run: |r| Box::pin($f(r)),
        }
    };
}

/// Every case, in the order they are listed.
pub fn all() -> Vec<CaseDef> {
    vec![
        case!(
            Create,
            "minimal",
            EachForm,
            writes = true,
            create_minimal,
            "Create with Identity only: 201, every property, attributes `{}`, then Fetch"
        ),
        case!(
            Create,
            "all-params",
            EachForm,
            writes = true,
            create_all_params,
            "Create with FriendlyName, Attributes and RoleSid: each stored and returned"
        ),
        case!(
            Create,
            "webhook-header",
            EachForm,
            writes = true,
            webhook_accepted,
            "X-Twilio-Webhook-Enabled true and false accepted on create, update and delete"
        ),
        case!(
            Lookup,
            "sid-and-identity",
            EachForm,
            writes = true,
            lookup_same,
            "Fetch by sid and by identity return the same user"
        ),
        case!(
            Lookup,
            "identity-encoded",
            EachForm,
            writes = true,
            lookup_encoded,
            "identities with a space and non-ASCII, percent-encoded, find their user"
        ),
        case!(
            Lookup,
            "identity-reserved",
            EachForm,
            writes = true,
            lookup_reserved,
            "identities holding each reserved character find their user"
        ),
        case!(
            Lookup,
            "case-sensitive",
            EachForm,
            writes = true,
            lookup_case,
            "identity lookup is case-sensitive, and identities differing in case are distinct"
        ),
        case!(
            Fetch,
            "unknown-sid",
            EachForm,
            writes = false,
            fetch_unknown_sid,
            "an unknown user sid is 404 with Twilio's error body"
        ),
        case!(
            Fetch,
            "unknown-identity",
            EachForm,
            writes = false,
            fetch_unknown_identity,
            "an unknown identity is 404 with Twilio's error body"
        ),
        case!(
            Update,
            "each-param",
            EachForm,
            writes = true,
            update_each_param,
            "Update applies each parameter, keeps the rest, identity and date_created, moves date_updated"
        ),
        case!(
            Update,
            "by-identity",
            EachForm,
            writes = true,
            update_by_identity,
            "Update by identity changes the user"
        ),
        case!(
            Delete,
            "by-sid",
            EachForm,
            writes = true,
            delete_by_sid,
            "Delete by sid: 204 with no body, then 404 by sid and by identity"
        ),
        case!(
            Delete,
            "by-identity",
            EachForm,
            writes = true,
            delete_by_identity,
            "Delete by identity: 204, then 404 by sid and by identity"
        ),
        case!(
            Read,
            "default-page-size",
            EachForm,
            writes = false,
            read_default,
            "Read without PageSize: page_size is the default and meta is consistent"
        ),
        case!(
            Read,
            "explicit-sizes",
            EachForm,
            writes = false,
            read_sizes,
            "Read with PageSize 1, 7 and the edition's maximum: echoed and respected"
        ),
        case!(
            Read,
            "page-size-bounds",
            EachForm,
            writes = false,
            read_bounds,
            "PageSize outside the edition's bounds is refused or never exceeded"
        ),
        // Alone, so its users are consecutive in the collection and nothing moves under it.
        CaseDef {
            exclusive: true,
            ..case!(
                Pagination,
                "walk",
                EachForm,
                writes = true,
                read_walk,
                "walking next_page_url sees every user exactly once, meta consistent on every page"
            )
        },
        case!(
            Errors,
            "missing-identity",
            EachForm,
            writes = true,
            missing_identity,
            "Create without Identity is 400 with Twilio's error body"
        ),
        case!(
            Errors,
            "duplicate-identity",
            EachForm,
            writes = true,
            duplicate_identity,
            "a second Create with the same identity is refused"
        ),
        case!(
            Errors,
            "sid-shaped-identity",
            EachForm,
            writes = true,
            sid_shaped_identity,
            "an identity shaped like a user SID is refused"
        ),
        case!(
            Errors,
            "malformed-role-sid",
            EachForm,
            writes = true,
            malformed_role,
            "a RoleSid breaking its pattern is 400"
        ),
        case!(
            Errors,
            "attributes-not-object",
            EachForm,
            writes = true,
            attributes_invalid,
            "Attributes that are not a JSON object are refused, never stored"
        ),
        case!(
            Errors,
            "webhook-header-invalid",
            EachForm,
            writes = true,
            webhook_invalid,
            "an X-Twilio-Webhook-Enabled value other than true or false is refused"
        ),
        case!(
            Auth,
            "missing-credentials",
            FirstForm,
            writes = true,
            auth_missing,
            "requests without credentials are 401 (code 20003)"
        ),
        case!(
            Auth,
            "wrong-credentials",
            FirstForm,
            writes = false,
            auth_wrong,
            "requests with a wrong secret are 401 (code 20003)"
        ),
        case!(
            Service,
            "isolation",
            TwoServices,
            writes = true,
            service_isolation,
            "a user of one service is invisible in the other; identities are unique per service"
        ),
        case!(
            Service,
            "unknown",
            Once,
            writes = false,
            service_unknown,
            "an unknown Conversation Service is 404"
        ),
    ]
}

fn sid_of(v: &Value) -> String {
    v.get("sid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn errors() -> &'static spec::ErrorRules {
    &spec::rules().errors
}

/// A pseudo-random number for unknown SIDs, different every call.
fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut a = s.build_hasher();
    a.write_u8(1);
    let mut b = s.build_hasher();
    b.write_u8(2);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

async fn create_minimal(r: &mut CaseRun) -> Step<()> {
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
        r.report(check::link_page(&ex));
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

async fn create_all_params(r: &mut CaseRun) -> Step<()> {
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

async fn webhook_accepted(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let header = spec::rules().webhook_header.name.clone();
    for value in ["true", "false"] {
        let id = r.identity(&format!("hook-{value}"));
        let req = Request::new(Method::POST, r.collection_url(&form))
            .param("Identity", &id)
            .header(&header, value);
        let (ex, user) = r.post_create(&form, req).await?;
        let mut ctx = r.context(Operation::Create, &form);
        ctx.known.identity = Some(id.clone());
        ctx.status_check = Some("webhook.header.accepted".into());
        r.report(check::exchange(&ex, &ctx));
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
        r.report(check::exchange(&ex, &ctx));
        let req = Request::new(Method::DELETE, r.item_url(&form, &sid)).header(&header, value);
        let ex = r.send(req).await?;
        if ex.status == 204 {
            r.session.ledger.remove(&sid);
        }
        let mut ctx = r.context(Operation::Delete, &form);
        ctx.status_check = Some("webhook.header.accepted".into());
        r.report(check::exchange(&ex, &ctx));
    }
    Ok(())
}

async fn webhook_invalid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("hook-bad");
    let req = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .header(&spec::rules().webhook_header.name, "maybe");
    let (ex, _) = r.post_create(&form, req).await?;
    r.leave_open();
    let refusal = Refusal::client_error("webhook.header.invalid", Some(400));
    r.report(check::refusal(&ex, &refusal));
    Ok(())
}

async fn lookup_same(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("same");
    let user = r.create(&form, &id, &[]).await?;
    let by_sid = r.fetch_ok(&form, &sid_of(&user), &id).await?;
    let (ex, by_identity) = r.fetch(&form, &id).await?;
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
    r.report(check::exchange(&ex, &ctx));
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

async fn lookup_encoded(r: &mut CaseRun) -> Step<()> {
    for label in ["with space", "jürgen-ünïcödé-日本"] {
        let id = r.identity(label);
        round_trip(r, &id, "lookup.identity.encoded", false).await?;
    }
    Ok(())
}

async fn lookup_reserved(r: &mut CaseRun) -> Step<()> {
    // Every reserved character the documentation lists, a few to an identity.
    // `%41` would turn into `A` if the target decoded the path twice.
    for label in [
        "a!b*c'd(e)f",
        "g;h:i&j=k",
        "m$n,o/p?q",
        "r%s#t[u]v",
        "p%41q",
        "user@example.com",
    ] {
        let id = r.identity(label);
        round_trip(r, &id, "lookup.identity.reserved", false).await?;
    }
    // `+` also written raw into the path, as the helper libraries send it: a plus, not a space.
    let id = r.identity("x+y");
    round_trip(r, &id, "lookup.identity.reserved", true).await?;
    Ok(())
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

async fn lookup_case(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("CaseUser");
    let user = r.create(&form, &id, &[]).await?;
    let (ex, _) = r.fetch(&form, &swap_case(&id)).await?;
    r.report(check::refusal(
        &ex,
        &Refusal::of("lookup.identity.case-sensitive", &errors().not_found),
    ));
    let lower = id.to_lowercase();
    let req = Request::new(Method::POST, r.collection_url(&form)).param("Identity", &lower);
    let (ex, other) = r.post_create(&form, req).await?;
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

async fn fetch_unknown_sid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let sid = SidKind::User.from_u128(random_u128());
    let (ex, _) = r.fetch(&form, &sid).await?;
    r.report(check::refusal(
        &ex,
        &Refusal::of("fetch.unknown-sid", &errors().not_found),
    ));
    Ok(())
}

async fn fetch_unknown_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("nobody");
    let (ex, _) = r.fetch(&form, &id).await?;
    r.report(check::refusal(
        &ex,
        &Refusal::of("fetch.unknown-identity", &errors().not_found),
    ));
    Ok(())
}

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
    r.report(check::exchange(&ex, &ctx));
    if ex.status != 200 {
        return Err(Stop::Failed);
    }
    Ok(json(&ex, Doc::User).unwrap_or(Value::Null))
}

async fn update_each_param(r: &mut CaseRun) -> Step<()> {
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
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut before = r.fetch_ok(&form, &sid, &id).await?;
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

async fn update_by_identity(r: &mut CaseRun) -> Step<()> {
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

async fn gone(r: &mut CaseRun, form: &UrlForm, sid: &str, identity: &str) -> Step<()> {
    for key in [sid, identity] {
        let (ex, _) = r.fetch(form, key).await?;
        r.report(check::refusal(
            &ex,
            &Refusal::of("delete.then-404", &errors().not_found),
        ));
    }
    Ok(())
}

async fn delete_by_sid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("del");
    let user = r.create(&form, &id, &[]).await?;
    let sid = sid_of(&user);
    let ex = r.delete(&form, &sid, &sid).await?;
    let ctx = r.context(Operation::Delete, &form);
    r.report(check::exchange(&ex, &ctx));
    gone(r, &form, &sid, &id).await
}

async fn delete_by_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("del-id");
    let user = r.create(&form, &id, &[]).await?;
    let sid = sid_of(&user);
    let ex = r.delete(&form, &id, &sid).await?;
    let mut ctx = r.context(Operation::Delete, &form);
    ctx.status_check = Some("delete.by-identity".into());
    r.report(check::exchange(&ex, &ctx));
    gone(r, &form, &sid, &id).await
}

async fn read_page(r: &mut CaseRun, url: String, status_check: Option<&str>) -> Step<(u16, Value)> {
    let form = r.form.clone();
    let ex = r.send(Request::new(Method::GET, url)).await?;
    let mut ctx = r.context(Operation::Read, &form);
    ctx.status_check = status_check.map(str::to_owned);
    r.report(check::exchange(&ex, &ctx));
    Ok((ex.status, json(&ex, Doc::UsersPage).unwrap_or(Value::Null)))
}

async fn read_default(r: &mut CaseRun) -> Step<()> {
    let url = r.collection_url(&r.form.clone());
    read_page(r, url, None).await?;
    Ok(())
}

async fn read_sizes(r: &mut CaseRun) -> Step<()> {
    let base = r.collection_url(&r.form.clone());
    let max = r.session.plan.edition.page_size().max;
    for n in [1, 7] {
        read_page(r, format!("{base}?PageSize={n}"), None).await?;
    }
    read_page(r, format!("{base}?PageSize={max}"), Some("page.size.max")).await?;
    Ok(())
}

async fn read_bounds(r: &mut CaseRun) -> Step<()> {
    let base = r.collection_url(&r.form.clone());
    let bounds = r.session.plan.edition.page_size();
    for n in [i64::from(bounds.min) - 1, i64::from(bounds.max) + 1] {
        let ex = r
            .send(Request::new(Method::GET, format!("{base}?PageSize={n}")))
            .await?;
        // Refusing is advised; a page within bounds (clamping) is allowed too.
        r.leave_open();
        if ex.status != 400 {
            r.report([check::Finding::new(
                "page.size.refused",
                "@status",
                format!("400 for PageSize={n}"),
                ex.status.to_string(),
            )]);
        }
        if (400..500).contains(&ex.status) {
            let refusal = Refusal::client_error("page.size.bounds", None);
            r.report(check::refusal(&ex, &refusal));
            continue;
        }
        let size = json(&ex, Doc::UsersPage)
            .and_then(|v| v.pointer("/meta/page_size").and_then(Value::as_i64));
        let within = ex.status == 200 && size.is_some_and(|s| bounds.contains(s));
        if !within {
            r.report([check::Finding::new(
                "page.size.bounds",
                "/meta/page_size",
                format!(
                    "a 4xx, or a page_size within {}..={} for PageSize={n}",
                    bounds.min, bounds.max
                ),
                format!(
                    "{} with page_size {}",
                    ex.status,
                    size.map_or("(none)".to_owned(), |s| s.to_string())
                ),
            )]);
        }
    }
    Ok(())
}

async fn read_walk(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let mut own = Vec::new();
    for i in 0..5 {
        let id = r.identity(&format!("walk{i}"));
        let user = r.create(&form, &id, &[]).await?;
        own.push(sid_of(&user));
    }
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
        let mut mine = page.clone();
        if let Some(users) = mine.get_mut("users").and_then(Value::as_array_mut) {
            users.retain(|u| {
                own.iter()
                    .any(|s| Some(s.as_str()) == u.get("sid").and_then(Value::as_str))
            });
        }
        pages.push(mine);
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
    r.report(check::walk(&pages, &own, ended));
    Ok(())
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

async fn missing_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let req =
        Request::new(Method::POST, r.collection_url(&form)).param("FriendlyName", "no identity");
    let (ex, _) = r.post_create(&form, req).await?;
    r.report(check::refusal(
        &ex,
        &Refusal::of("create.identity.required", &errors().missing_identity),
    ));
    Ok(())
}

async fn duplicate_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("dup");
    r.create(&form, &id, &[]).await?;
    let req = Request::new(Method::POST, r.collection_url(&form)).param("Identity", &id);
    let (ex, _) = r.post_create(&form, req).await?;
    r.report(check::refusal(
        &ex,
        &Refusal::any_4xx("create.identity.duplicate", &errors().duplicate_identity),
    ));
    Ok(())
}

async fn sid_shaped_identity(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.mint(SidKind::User.from_u128(random_u128()));
    let req = Request::new(Method::POST, r.collection_url(&form)).param("Identity", &id);
    let (ex, _) = r.post_create(&form, req).await?;
    r.report(check::refusal(
        &ex,
        &Refusal::any_4xx("create.identity.sid-shaped", &errors().sid_shaped_identity),
    ));
    Ok(())
}

async fn malformed_role(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    let id = r.identity("badrole");
    let req = Request::new(Method::POST, r.collection_url(&form))
        .param("Identity", &id)
        .param("RoleSid", "RL123");
    let (ex, _) = r.post_create(&form, req).await?;
    let refusal = Refusal::status("create.role_sid.malformed", 400);
    r.report(check::refusal(&ex, &refusal));
    Ok(())
}

async fn attributes_invalid(r: &mut CaseRun) -> Step<()> {
    let form = r.form.clone();
    for attrs in ["[1,2]", "not json"] {
        let id = r.identity("badattrs");
        let req = Request::new(Method::POST, r.collection_url(&form))
            .param("Identity", &id)
            .param("Attributes", attrs);
        let (ex, _) = r.post_create(&form, req).await?;
        r.leave_open();
        if (200..300).contains(&ex.status) {
            // Accepted: what comes back must still be a JSON object.
            let mut ctx = r.context(Operation::Create, &form);
            ctx.known.identity = Some(id);
            r.report(check::exchange(&ex, &ctx));
        }
        let refusal = Refusal::client_error("create.attributes.invalid", Some(400));
        r.report(check::refusal(&ex, &refusal));
    }
    Ok(())
}

async fn auth_missing(r: &mut CaseRun) -> Step<()> {
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

async fn auth_wrong(r: &mut CaseRun) -> Step<()> {
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

async fn service_isolation(r: &mut CaseRun) -> Step<()> {
    let Some(other) = r.session.plan.service_sid.clone() else {
        return Ok(());
    };
    let scoped = UrlForm::Service(other);
    let id = r.identity("iso");
    let user = r.create(&scoped, &id, &[]).await?;
    let sid = sid_of(&user);
    for key in [sid.as_str(), id.as_str()] {
        let (ex, _) = r.fetch(&UrlForm::Shortened, key).await?;
        r.report(check::refusal(
            &ex,
            &Refusal::of("service.isolation", &errors().not_found),
        ));
    }
    // Identities are unique per service: the same identity in the default service is new.
    let req =
        Request::new(Method::POST, r.collection_url(&UrlForm::Shortened)).param("Identity", &id);
    let (ex, twin) = r.post_create(&UrlForm::Shortened, req).await?;
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

async fn service_unknown(r: &mut CaseRun) -> Step<()> {
    let unknown = UrlForm::Service(SidKind::Service.from_u128(random_u128()));
    let url = r.collection_url(&unknown);
    let ex = r.send(Request::new(Method::GET, url)).await?;
    r.leave_open();
    let refusal = Refusal {
        codes: vec![errors().not_found.code.unwrap_or(20404)],
        ..Refusal::status("service.unknown", 404)
    };
    r.report(check::refusal(&ex, &refusal));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_per_kind() {
        let mut ids: Vec<String> = all()
            .iter()
            .map(|c| format!("{}::{}", c.kind.as_str(), c.name))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

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

    #[test]
    fn swap_case_swaps() {
        assert_eq!(swap_case("AbC-1"), "aBc-1");
    }
}
