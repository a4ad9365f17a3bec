//! Checks of one User body: the schema, then the rules a schema cannot say.

use serde_json::Value;

use super::{Context, Finding, on_base, schema, shown, unparseable};
use crate::spec::{self, Doc, Operation, UrlForm};

/// Checks a User body: schema and property rules.
pub fn user_body(v: &Value, ctx: &Context) -> Vec<Finding> {
    let mut out = schema(Doc::User, v);
    if v.is_object() {
        out.extend(user_rules(v, ctx, ""));
    }
    out
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The rules for one user object found at pointer `at` (`""` or `/users/3`).
pub(super) fn user_rules(v: &Value, ctx: &Context, at: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let p = |k: &str| format!("{at}/{k}");

    if let Some(a) = str_at(v, "attributes") {
        // Read as written: a number beyond a double's range (`1e400`) is still JSON.
        let is_object = crate::json::parse(a).is_ok_and(|x| x.is_object());
        if !is_object {
            out.push(Finding::new(
                "user.attributes.json-object",
                p("attributes"),
                "a string holding a JSON object",
                format!("{a:?}"),
            ));
        }
    }

    let date_re = spec::date_regex();
    for key in ["date_created", "date_updated"] {
        if let Some(d) = str_at(v, key)
            && date_re.is_match(d)
            && spec::date_instant(d).is_none()
        {
            out.push(Finding::new(
                &format!("user.{key}.format"),
                p(key),
                "a real UTC date and time",
                format!("`{d}`"),
            ));
        }
    }
    if let (Some(c), Some(u)) = (str_at(v, "date_created"), str_at(v, "date_updated"))
        && let (Some(ci), Some(ui)) = (spec::date_instant(c), spec::date_instant(u))
        && ui < ci
    {
        out.push(Finding::new(
            "user.dates.order",
            p("date_updated"),
            format!("not earlier than `{c}`"),
            format!("`{u}`"),
        ));
    }

    if let Some(url) = str_at(v, "url")
        && unparseable(url)
    {
        out.push(Finding::new(
            "user.url.absolute",
            p("url"),
            "an absolute http(s) URL",
            format!("`{url}`, which no URL parser accepts"),
        ));
    }

    let sid = str_at(v, "sid");
    let service = str_at(v, "chat_service_sid");
    if let (Some(url), Some(sid)) = (str_at(v, "url"), sid)
        && let Ok(parsed) = url::Url::parse(url)
    {
        let shortened = format!("/v1/Users/{sid}");
        let scoped = |is: &str| format!("/v1/Services/{is}/Users/{sid}");
        let path = parsed.path();
        let wanted: Vec<String> = match &ctx.form {
            Some(UrlForm::Shortened) => vec![shortened],
            Some(UrlForm::Service(is)) => vec![scoped(is)],
            None => {
                let mut w = vec![shortened];
                w.extend(service.map(scoped));
                w
            }
        };
        // On the known base, the path is exactly the base's path and the resource path.
        // Elsewhere (`user.url.base` reports that) or with the base unknown, anything may
        // stand before the resource path, such as a mount point.
        let base_path = ctx
            .base_url
            .as_deref()
            .filter(|b| on_base(url, b))
            .and_then(|b| url::Url::parse(b).ok())
            .map(|b| b.path().trim_end_matches('/').to_owned());
        let ok = parsed.query().is_none()
            && parsed.fragment().is_none()
            && wanted.iter().any(|w| match &base_path {
                Some(bp) => path == format!("{bp}{w}"),
                None => path.ends_with(w.as_str()),
            });
        if !ok {
            out.push(Finding::new(
                "user.url.self",
                p("url"),
                format!("a URL ending in `{}`", wanted.join("` or `")),
                format!("`{url}`"),
            ));
        }
        if let Some(base) = &ctx.base_url
            && !on_base(url, base)
        {
            out.push(Finding::new(
                "user.url.base",
                p("url"),
                format!("a URL on `{base}`"),
                format!("`{url}`"),
            ));
        }
    }

    if let Some(url) = str_at(v, "url")
        && let Some(links) = v.get("links").and_then(Value::as_object)
    {
        for (name, suffix) in &spec::rules().links {
            let want = format!("{url}{suffix}");
            let got = links.get(name).and_then(Value::as_str);
            if let Some(got) = got
                && unparseable(got)
            {
                out.push(Finding::new(
                    "user.links.user_conversations.absolute",
                    format!("{at}/links/{name}"),
                    "an absolute http(s) URL",
                    format!("`{got}`, which no URL parser accepts"),
                ));
            }
            if let Some(got) = got
                && got != want
            {
                out.push(Finding::new(
                    "user.links.user_conversations.value",
                    format!("{at}/links/{name}"),
                    format!("`{want}`"),
                    format!("`{got}`"),
                ));
            }
        }
    }

    match &ctx.form {
        Some(UrlForm::Service(is)) => {
            if let Some(s) = service
                && s != is
            {
                out.push(Finding::new(
                    "user.chat_service_sid.path",
                    p("chat_service_sid"),
                    format!("`{is}`"),
                    format!("`{s}`"),
                ));
            }
        }
        Some(UrlForm::Shortened) => {
            if let (Some(s), Some(d)) = (service, &ctx.default_service_sid)
                && s != d
            {
                out.push(Finding::new(
                    "user.chat_service_sid.default",
                    p("chat_service_sid"),
                    format!("`{d}`"),
                    format!("`{s}`"),
                ));
            }
        }
        None => {}
    }

    if let (Some(acc), Some(want)) = (str_at(v, "account_sid"), &ctx.account_sid)
        && acc != want
    {
        out.push(Finding::new(
            "user.account_sid.auth",
            p("account_sid"),
            format!("`{want}`"),
            format!("`{acc}`"),
        ));
    }

    if let Some(want) = &ctx.known.identity {
        let got = str_at(v, "identity");
        if got != Some(want.as_str()) {
            out.push(Finding::new(
                "user.identity.echo",
                p("identity"),
                format!("{want:?}"),
                shown(v.get("identity")),
            ));
        }
    }

    for (prop, ever) in [
        ("is_online", ctx.known.ever_online),
        ("is_notifiable", ctx.known.ever_registered),
    ] {
        let value = v.get(prop);
        let set = value.is_some_and(|x| !x.is_null());
        if !set {
            continue;
        }
        let id = match ctx.operation {
            Some(Operation::Read) => Some(format!("user.{prop}.read-null")),
            Some(Operation::Create | Operation::Update) => Some(format!("user.{prop}.fetch-only")),
            Some(Operation::Fetch)
                if ctx.known.reachability == Some(false) || ever == Some(false) =>
            {
                Some(format!("user.{prop}.unreachable-null"))
            }
            _ => None,
        };
        if let Some(id) = id {
            out.push(Finding::new(&id, p(prop), "null", shown(value)));
        }
    }
    out
}
