//! Checks of a Users page (the Read envelope) and of a walk through every page.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::user::user_rules;
use super::{Context, Finding, on_base, schema, shown, unparseable};
use crate::spec::{Doc, Operation};

/// What a Read request asked for, taken from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The request path (`/v1/Users`).
    pub path: String,
    /// `PageSize`, when given and numeric.
    pub page_size: Option<i64>,
    /// `Page`, when given and numeric.
    pub page: Option<i64>,
    /// Whether a `PageToken` was given.
    pub has_token: bool,
}

impl PageRequest {
    /// Reads the request from an absolute URL; `None` if it is not one.
    pub fn from_url(url: &str) -> Option<PageRequest> {
        let u = url::Url::parse(url).ok()?;
        let q = Query::of(&u);
        Some(PageRequest {
            path: u.path().to_owned(),
            page_size: q.int("PageSize"),
            page: q.int("Page"),
            has_token: q.get("PageToken").is_some(),
        })
    }
}

struct Query(BTreeMap<String, String>);

impl Query {
    fn of(u: &url::Url) -> Query {
        Query(u.query_pairs().into_owned().collect())
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn int(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(|v| v.parse().ok())
    }
}

/// Checks one page: schema, metadata consistency and every user in it.
///
/// `req` is what was asked for; without it (offline validation) the page is held to its own
/// `meta.url`.
pub fn page_body(v: &Value, ctx: &Context, req: Option<&PageRequest>) -> Vec<Finding> {
    page_body_of(v, ctx, req, None)
}

/// What a sparse page knows of the users it did not parse: how many there are and their
/// sids, in page order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    /// Each user's sid, where it has a string one.
    pub sids: Vec<Option<String>>,
}

/// A page parsed in part: every user's sid and identity read, and only the users a caller
/// asks for parsed whole (a run judges its own users; a page of a live collection holds
/// thousands of others).
#[derive(Debug, Clone, PartialEq)]
pub struct SparsePage {
    /// The page with `users` holding only the kept users.
    pub body: Value,
    /// Each kept user's index in the page.
    pub kept: Vec<usize>,
    /// Every user's sid.
    pub listed: Listed,
}

#[derive(serde::Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    sid: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    identity: Option<std::borrow::Cow<'a, str>>,
}

/// Parses a page, whole but for the users whose identity `keep` refuses: those are only read
/// for their sid. None when the body is no JSON object with a `users` array of objects (the
/// caller then judges it whole).
///
/// The page is read once for its keys (each value but `users` parsed, `users` split into
/// its items unparsed), then each item once for its sid and identity, and a kept item once
/// more, whole: a walk judges every page of a collection of up to a thousand users, most of
/// them other sequences'.
pub fn sparse_page(bytes: &[u8], keep: &dyn Fn(&str) -> bool) -> Option<SparsePage> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (mut top, items) = de.deserialize_map(PageKeys).ok()?;
    de.end().ok()?;
    let items = items?;
    let mut kept = Vec::new();
    let mut users = Vec::new();
    let mut listed = Listed::default();
    for (i, item) in items.iter().enumerate() {
        let names: Names = serde_json::from_str(item.get()).ok()?;
        listed
            .sids
            .push(names.sid.map(std::borrow::Cow::into_owned));
        if names.identity.as_deref().is_some_and(keep) {
            kept.push(i);
            users.push(serde_json::from_str::<Value>(item.get()).ok()?);
        }
    }
    top.insert("users".to_owned(), Value::Array(users));
    Some(SparsePage {
        body: Value::Object(top),
        kept,
        listed,
    })
}

/// A page's top level in one pass: every key but `users` parsed, `users` (the last one, as
/// a parser keeps the last of a repeated key) split into its raw items.
struct PageKeys;

type Keys<'de> = (
    serde_json::Map<String, Value>,
    Option<Vec<&'de serde_json::value::RawValue>>,
);

impl<'de> serde::de::Visitor<'de> for PageKeys {
    type Value = Keys<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys<'de>, A::Error> {
        let mut top = serde_json::Map::new();
        let mut users = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "users" {
                users = Some(map.next_value()?);
            } else {
                top.insert(key, map.next_value()?);
            }
        }
        Ok((top, users))
    }
}

/// Checks a sparse page as [`page_body`] checks a whole one: its metadata against every
/// user's count and sids, and the kept users themselves (findings point at their place in
/// the page).
pub fn sparse_body(p: &SparsePage, ctx: &Context, req: Option<&PageRequest>) -> Vec<Finding> {
    let mut out = page_body_of(&p.body, ctx, req, Some(&p.listed));
    for f in &mut out {
        if let Some(rest) = f.pointer.strip_prefix("/users/") {
            let (i, tail) = rest.split_once('/').map_or((rest, ""), |(i, t)| (i, t));
            if let Some(orig) = i.parse::<usize>().ok().and_then(|i| p.kept.get(i)) {
                f.pointer = if tail.is_empty() {
                    format!("/users/{orig}")
                } else {
                    format!("/users/{orig}/{tail}")
                };
            }
        }
    }
    out
}

fn page_body_of(
    v: &Value,
    ctx: &Context,
    req: Option<&PageRequest>,
    listed: Option<&Listed>,
) -> Vec<Finding> {
    let mut out = schema(Doc::UsersPage, v);
    let Some(obj) = v.as_object() else {
        return out;
    };
    let read_ctx = Context {
        operation: Some(Operation::Read),
        ..ctx.clone()
    };
    let users = obj.get("users").and_then(Value::as_array);
    if let Some(users) = users {
        for (i, u) in users.iter().enumerate() {
            if u.is_object() {
                out.extend(user_rules(u, &read_ctx, &format!("/users/{i}")));
            }
        }
    }
    // Every sid once: read from the page itself, or from what a sparse page listed.
    let sids: Vec<Option<&str>> = match listed {
        Some(l) => l.sids.iter().map(Option::as_deref).collect(),
        None => users
            .into_iter()
            .flatten()
            .map(|u| u.get("sid").and_then(Value::as_str))
            .collect(),
    };
    let mut seen = BTreeSet::new();
    for (i, sid) in sids.iter().enumerate() {
        if let Some(sid) = sid
            && !seen.insert(*sid)
        {
            out.push(Finding::new(
                "page.users.unique",
                format!("/users/{i}/sid"),
                "a user not already in this page",
                format!("`{sid}` again"),
            ));
        }
    }
    let count = listed.map(|l| l.sids.len()).or(users.map(Vec::len));
    let Some(meta) = obj.get("meta").and_then(Value::as_object) else {
        return out;
    };
    let page = meta.get("page").and_then(Value::as_i64);
    let size = meta.get("page_size").and_then(Value::as_i64);

    // What was asked for: the request when known, else the page's own `meta.url`.
    let own = meta
        .get("url")
        .and_then(Value::as_str)
        .and_then(PageRequest::from_url);
    let asked = req.or(own.as_ref());
    let default = i64::from(ctx.edition.page_size().default);
    if let (Some(size), Some(r)) = (size, req) {
        match r.page_size {
            Some(want) if want != size => out.push(Finding::new(
                "page.meta.page_size.echo",
                "/meta/page_size",
                want.to_string(),
                size.to_string(),
            )),
            None if size != default => out.push(Finding::new(
                "page.meta.page_size.default",
                "/meta/page_size",
                default.to_string(),
                size.to_string(),
            )),
            _ => {}
        }
    }
    // `Page` is "simply for client state": a page asked for by `Page` says that index, and
    // the first page (neither `Page` nor `PageToken`) is page 0. A page asked for by an
    // opaque `PageToken` alone may carry any index: only the server knows where it is.
    let want_index = req.and_then(|r| match (r.page, r.has_token) {
        (Some(p), _) => Some(p),
        (None, false) => Some(0),
        (None, true) => None,
    });
    if let (Some(page), Some(want)) = (page, want_index)
        && page != want
    {
        out.push(Finding::new(
            "page.meta.page.echo",
            "/meta/page",
            want.to_string(),
            page.to_string(),
        ));
    }
    if let (Some(count), Some(size)) = (count, size)
        && count as i64 > size
    {
        out.push(Finding::new(
            "page.users.size",
            "/users",
            format!("at most {size} users"),
            format!("{count} users"),
        ));
    }

    let path = asked.map(|r| r.path.clone());
    let link = |key: &str| meta.get(key).and_then(Value::as_str);
    let mut check_link = |key: &str, id: &str, want_page: Option<i64>| {
        let Some(url) = link(key) else { return };
        let Ok(u) = url::Url::parse(url) else {
            if unparseable(url) {
                out.push(Finding::new(
                    &format!("page.meta.{key}.absolute"),
                    format!("/meta/{key}"),
                    "an absolute http(s) URL",
                    format!("`{url}`, which no URL parser accepts"),
                ));
            }
            return;
        };
        let q = Query::of(&u);
        let mut wrong = Vec::new();
        if let Some(path) = &path
            && u.path() != path
        {
            wrong.push(format!("path `{}` instead of `{path}`", u.path()));
        }
        // The link must ask for pages of the same size: by its `PageSize`, or, when it has
        // none, by an opaque `PageToken` (which may carry the size), or by the default size.
        let default = i64::from(ctx.edition.page_size().default);
        if let Some(size) = size {
            let same = match q.get("PageSize") {
                Some(_) => q.int("PageSize") == Some(size),
                None => q.get("PageToken").is_some() || size == default,
            };
            if !same {
                wrong.push(format!(
                    "PageSize `{}` instead of `{size}`",
                    q.get("PageSize").unwrap_or("(none)")
                ));
            }
        }
        if let (Some(want), Some(got)) = (want_page, q.get("Page"))
            && got.parse::<i64>().ok() != Some(want)
        {
            wrong.push(format!("Page `{got}` instead of `{want}`"));
        }
        if !wrong.is_empty() {
            out.push(Finding::new(
                id,
                format!("/meta/{key}"),
                "the same path and PageSize, and the right Page",
                format!("`{url}`: {}", wrong.join(", ")),
            ));
        }
    };
    check_link("url", "page.meta.url.self", page);
    check_link("first_page_url", "page.meta.first_page_url.value", Some(0));
    // On page 0 any previous_page_url is wrong, and the rule below says so once.
    if page != Some(0) {
        check_link(
            "previous_page_url",
            "page.meta.previous_page_url.value",
            page.map(|p| p - 1),
        );
    }
    check_link(
        "next_page_url",
        "page.meta.next_page_url.value",
        page.map(|p| p + 1),
    );

    let prev = meta.get("previous_page_url");
    let prev_null = prev.is_none_or(Value::is_null);
    // On a later page the documentation does not say `previous_page_url` is set: a server
    // paging by keys may have no user before the page left (all deleted since), and say so
    // with null. Set, it must name the page before (checked above).
    if page == Some(0) && !prev_null {
        out.push(Finding::new(
            "page.meta.previous_page_url.value",
            "/meta/previous_page_url",
            "null on page 0",
            shown(prev),
        ));
    }

    let next = meta.get("next_page_url");
    let next_set = next.is_some_and(|n| !n.is_null());
    let short_page = match (count, size) {
        (Some(n), Some(s)) => (n as i64) < s,
        _ => false,
    };
    if !next_set && ctx.known.last_page == Some(false) {
        out.push(Finding::new(
            "page.meta.next_page_url.more",
            "/meta/next_page_url",
            "the URL of the next page (more users follow)",
            shown(next),
        ));
    }
    if next_set && (short_page || ctx.known.last_page == Some(true)) {
        out.push(Finding::new(
            "page.meta.next_page_url.last",
            "/meta/next_page_url",
            "null on a page shorter than page_size (the last page)",
            shown(next),
        ));
    }

    if let Some(base) = &ctx.base_url {
        let base = base.trim_end_matches('/');
        for key in [
            "url",
            "first_page_url",
            "previous_page_url",
            "next_page_url",
        ] {
            if let Some(url) = link(key)
                && !on_base(url, base)
            {
                out.push(Finding::new(
                    "page.meta.urls.base",
                    format!("/meta/{key}"),
                    format!("a URL on `{base}`"),
                    format!("`{url}`"),
                ));
            }
        }
    }
    out
}

/// Checks a finished walk through `next_page_url`: every user in `expected` was seen exactly
/// once, and no user was seen twice. `pages` are the parsed bodies in order; `ended` says
/// whether the walk reached a null `next_page_url` within its bound.
pub fn walk(pages: &[Value], expected: &[String], ended: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    if !ended {
        out.push(Finding::new(
            "page.walk.bounded",
            "/meta/next_page_url",
            "null after a bounded number of pages",
            format!("still set after {} pages", pages.len()),
        ));
    }
    let mut count: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (pi, page) in pages.iter().enumerate() {
        let users = page.get("users").and_then(Value::as_array);
        for u in users.into_iter().flatten() {
            if let Some(sid) = u.get("sid").and_then(Value::as_str) {
                count.entry(sid).or_insert((0, pi)).0 += 1;
            }
        }
    }
    for (sid, (n, first)) in &count {
        if *n > 1 {
            out.push(Finding::new(
                "page.walk.complete",
                "/users",
                format!("`{sid}` once"),
                format!("{n} times, first on page {first}"),
            ));
        }
    }
    if ended {
        for sid in expected {
            if !count.contains_key(sid.as_str()) {
                out.push(Finding::new(
                    "page.walk.complete",
                    "/users",
                    format!("`{sid}` on some page"),
                    format!("missing from all {} pages", pages.len()),
                ));
            }
        }
    }
    out
}
