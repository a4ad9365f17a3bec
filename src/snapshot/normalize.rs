//! Normalization: one case's raw exchanges become a document that is the same on every run
//! against a faithful target, and that holds nothing of a user the case did not create.
//!
//! Pure: the raw exchanges and what the run knows about itself go in, JSON comes out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::check::Exchange;

/// What a run knows about itself that normalization takes out again.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The target's base URL, without trailing slash: becomes `<base>`.
    pub base_url: &'a str,
    /// The run's identity prefix (`convcheck-<run id>-`): becomes `<run>`.
    pub run_prefix: &'a str,
    /// The case's identity namespace (`convcheck-<run id>-c<n>-`): becomes `<ns>`.
    pub namespace: &'a str,
    /// The caller's account: always `<AC:1>`, so another account in an answer shows.
    pub account_sid: Option<&'a str>,
    /// Sids of the users this case created: every other user is left out.
    pub own: &'a BTreeSet<String>,
}

/// How dates are written in the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dates {
    /// A placeholder naming the shape: `<iso8601>`, `<rfc2822>`, or `<date?>` for a `date_*`
    /// value of neither shape. Recordings use this: they cannot run twice to find noise.
    Shape,
    /// Kept as they are; the parity diff finds them volatile by running the baseline twice.
    Keep,
}

/// A normalized case.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// One entry per raw exchange, in order: the normalized response body (`None` when the
    /// body was empty).
    pub responses: Vec<Option<Value>>,
    /// The case document: a JSON array with one object per exchange, the pages of a walk
    /// folded into its first request.
    pub doc: Value,
    /// What each numbered reference stands for (`<US:1>` → the sid it replaced): what a
    /// replay of a recording sends where the recording shows a reference.
    pub references: BTreeMap<String, String>,
}

/// Stands for a user object the case did not create.
pub const FOREIGN: &str = "<user not created by this case>";

/// Keys of a user object that Twilio marks as PII: an object holding one is a user.
const PII_KEYS: [&str; 3] = ["identity", "friendly_name", "attributes"];

static SID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([A-Z]{2})([0-9a-fA-F]{32})\b").expect("valid regex"));
static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"PageToken=[^&#\s]*").expect("valid regex"));
static ISO8601: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
        .expect("valid regex")
});
static RFC2822: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}(:\d{2})? ([+-]\d{4}|GMT|UT|UTC|[A-Z]{3})$",
    )
    .expect("valid regex")
});

/// The kinds of sid whose identity the contract states, wherever they appear: the user a
/// create answered is the user a fetch, a walk or an update returns (`US`); a service-form
/// user carries that service's sid and the shortened form's that of the default service
/// (`IS`); every user belongs to the caller's account (`AC`).
const RELATED_KINDS: [&str; 3] = ["US", "IS", "AC"];

/// Numbers SIDs by kind in order of first appearance: `<US:1>`, `<US:2>`, `<RL:1>`. Only where
/// the contract relates them: a sid of another kind (a role) is numbered when the case sent
/// it (the role a create named is the role it answers); one it never sent relates to nothing
/// the contract states (the default roles of two services may be one role or two), and is
/// written `<RL>`.
#[derive(Debug, Default)]
struct Sids {
    refs: BTreeMap<String, String>,
    counts: BTreeMap<String, usize>,
    /// Sids the case sent, in a URL, a header or a form.
    sent: BTreeSet<String>,
}

impl Sids {
    fn reference(&mut self, sid: &str) -> String {
        if let Some(r) = self.refs.get(sid) {
            return r.clone();
        }
        let kind = sid[..2].to_owned();
        if !RELATED_KINDS.contains(&kind.as_str()) && !self.sent.contains(sid) {
            return format!("<{kind}>");
        }
        let n = self.counts.entry(kind.clone()).or_insert(0);
        *n += 1;
        let r = format!("<{kind}:{n}>");
        self.refs.insert(sid.to_owned(), r.clone());
        r
    }
}

struct Normalizer<'a> {
    scope: Scope<'a>,
    dates: Dates,
    sids: Sids,
    upper_namespace: String,
    upper_prefix: String,
}

impl Normalizer<'_> {
    fn text(&mut self, s: &str) -> String {
        let mut out = s.to_owned();
        if !self.scope.base_url.is_empty() {
            out = out.replace(self.scope.base_url, "<base>");
        }
        out = TOKEN.replace_all(&out, "PageToken=<token>").into_owned();
        out = canonical_query(&out);
        // The namespace first: it starts with the run prefix. Case-swapped identities (the
        // case-sensitivity case) carry it upper-cased.
        for (from, to) in [
            (self.scope.namespace, "<ns>"),
            (self.upper_namespace.as_str(), "<NS>"),
            (self.scope.run_prefix, "<run>"),
            (self.upper_prefix.as_str(), "<RUN>"),
        ] {
            if !from.is_empty() {
                out = out.replace(from, to);
            }
        }
        let mut result = String::with_capacity(out.len());
        let mut last = 0;
        for m in SID.find_iter(&out) {
            result.push_str(&out[last..m.start()]);
            result.push_str(&self.sids.reference(m.as_str()));
            last = m.end();
        }
        result.push_str(&out[last..]);
        result
    }

    fn value(&mut self, v: &Value, key: Option<&str>) -> Value {
        match v {
            Value::String(s) => {
                if self.dates == Dates::Shape
                    && let Some(shape) = date_shape(s, key)
                {
                    return Value::String(shape.to_owned());
                }
                // `Attributes` hold a JSON value: its layout, key order and the spelling of
                // its numbers are the server's to choose, so a recording keeps the value in
                // one canonical form.
                if key == Some("attributes")
                    && let Some(canonical) = crate::json::canonical(s)
                {
                    return Value::String(self.text(&canonical));
                }
                Value::String(self.text(s))
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(i, key)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.value(v, Some(k))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A URL's query parameters in one order: Read's parameters in the order the rules list them
/// (`PageSize`, `Page`, `PageToken`), then the others as they came. A server may order them
/// as it likes and clients follow its URLs verbatim, so the order says nothing about
/// conformance. Text that is not a URL is left alone.
fn canonical_query(s: &str) -> String {
    let Some((head, rest)) = s.split_once('?') else {
        return s.to_owned();
    };
    if !(head.starts_with("<base>") || head.starts_with("http")) || head.contains(' ') {
        return s.to_owned();
    }
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let order = &crate::spec::rules().read_params;
    let rank = |pair: &&str| {
        let key = pair.split('=').next().unwrap_or("");
        order.iter().position(|k| k == key).unwrap_or(order.len())
    };
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort_by_key(rank);
    let mut out = format!("{head}?{}", pairs.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The placeholder for a date, when `s` is one (or sits under a `date_*` key).
pub fn date_shape(s: &str, key: Option<&str>) -> Option<&'static str> {
    if ISO8601.is_match(s) {
        Some("<iso8601>")
    } else if RFC2822.is_match(s) {
        Some("<rfc2822>")
    } else if key.is_some_and(|k| k.starts_with("date_")) {
        Some("<date?>")
    } else {
        None
    }
}

fn is_user(m: &Map<String, Value>) -> bool {
    PII_KEYS.iter().any(|k| m.contains_key(*k))
}

fn is_own(m: &Map<String, Value>, own: &BTreeSet<String>) -> bool {
    m.get("sid")
        .and_then(Value::as_str)
        .is_some_and(|s| own.contains(s))
}

/// Takes out every user object whose sid the case did not create: dropped from arrays,
/// replaced by [`FOREIGN`] elsewhere. Runs before anything is numbered, so other users
/// neither reach the result nor shift the numbering.
pub fn drop_foreign(v: &mut Value, own: &BTreeSet<String>) {
    match v {
        Value::Object(m) if is_user(m) && !is_own(m, own) => {
            *v = Value::String(FOREIGN.to_owned());
        }
        Value::Object(m) if is_user(m) => {}
        Value::Object(m) => m.values_mut().for_each(|v| drop_foreign(v, own)),
        Value::Array(items) => {
            items.retain(|i| !matches!(i, Value::Object(m) if is_user(m) && !is_own(m, own)));
            items.iter_mut().for_each(|i| drop_foreign(i, own));
        }
        _ => {}
    }
}

/// The number in a `<XX:n>` reference, for ordering users by first appearance.
fn ref_number(v: &Value) -> usize {
    v.get("sid")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix('<')?.strip_suffix('>')?.split_once(':'))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(usize::MAX)
}

fn sort_users(body: &mut Value) {
    if let Some(users) = body.get_mut("users").and_then(Value::as_array_mut) {
        users.sort_by_key(ref_number);
    }
}

fn parse_body(ex: &Exchange) -> Option<Value> {
    if ex.response_body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(
        serde_json::from_slice(&ex.response_body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&ex.response_body).into_owned())
        }),
    )
}

/// Whether exchange `i` follows the `next_page_url` the exchange before it returned.
fn continues(raw: &[Exchange], i: usize) -> bool {
    if i == 0 || raw[i].method != "GET" || raw[i].status != 200 {
        return false;
    }
    let prev = &raw[i - 1];
    prev.status == 200
        && serde_json::from_slice::<Value>(&prev.response_body)
            .ok()
            .and_then(|v| {
                v.pointer("/meta/next_page_url")
                    .and_then(Value::as_str)
                    .map(|s| s == raw[i].url)
            })
            .unwrap_or(false)
}

/// Normalizes a case's exchanges. Every SID becomes a reference numbered by kind in order of
/// first appearance (request URL, request headers, form, then response, exchange by
/// exchange), where the contract relates it (see [`RELATED_KINDS`]; a role only when the
/// case sent it); the base URL becomes `<base>`, page tokens `<token>`, the case namespace
/// `<ns>`; users the case did not create are left out; dates follow `dates`.
///
/// In the document, the pages of a walk (each request following the `next_page_url` of the
/// one before) are folded into the first: their own users joined, sorted by reference, since
/// how many pages other users fill depends on what else runs at the same time. For the same
/// reason, `meta.next_page_url` of a page in the document is always `<next-page?>`: whether
/// there is a next page depends on the collection's size, and running twice does not
/// reliably show that noise.
pub fn normalize(raw: &[Exchange], scope: Scope<'_>, dates: Dates) -> Normalized {
    let mut n = Normalizer {
        scope,
        dates,
        sids: Sids {
            sent: raw
                .iter()
                .flat_map(|ex| {
                    let headers = ex.request_headers.iter().map(|(_, v)| v.as_str());
                    let body = std::str::from_utf8(&ex.request_body).unwrap_or("");
                    std::iter::once(ex.url.as_str())
                        .chain(headers)
                        .chain(std::iter::once(body))
                        .flat_map(|t| SID.find_iter(t).map(|m| m.as_str().to_owned()))
                        .collect::<Vec<_>>()
                })
                .collect(),
            ..Sids::default()
        },
        upper_namespace: scope.namespace.to_uppercase(),
        upper_prefix: scope.run_prefix.to_uppercase(),
    };
    if let Some(ac) = scope.account_sid {
        n.sids.reference(ac);
    }
    let mut responses = Vec::with_capacity(raw.len());
    let mut entries: Vec<Value> = Vec::with_capacity(raw.len());
    let mut walks = std::collections::BTreeSet::new();
    for (i, ex) in raw.iter().enumerate() {
        let request = format!("{} {}", ex.method, n.text(&ex.url));
        let mut headers = Map::new();
        for (k, v) in &ex.request_headers {
            headers.insert(k.to_ascii_lowercase(), Value::String(n.text(v)));
        }
        let mut form = Map::new();
        for (k, v) in form_urlencoded::parse(&ex.request_body) {
            form.insert(k.into_owned(), Value::String(n.text(&v)));
        }
        let response = parse_body(ex).map(|mut body| {
            drop_foreign(&mut body, scope.own);
            let mut body = n.value(&body, None);
            sort_users(&mut body);
            body
        });
        responses.push(response.clone());

        let head = entries.len().checked_sub(1);
        if continues(raw, i)
            && let Some(first) = entries.last_mut()
        {
            walks.extend(head);
            let more: Vec<Value> = response
                .as_ref()
                .and_then(|r| r.get("users"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(users) = first
                .pointer_mut("/response/users")
                .and_then(Value::as_array_mut)
            {
                users.extend(more);
            }
            if let Some(body) = first.get_mut("response") {
                sort_users(body);
            }
            continue;
        }
        let mut entry = Map::new();
        entry.insert("request".into(), Value::String(request));
        if !headers.is_empty() {
            entry.insert("headers".into(), Value::Object(headers));
        }
        if !form.is_empty() {
            entry.insert("form".into(), Value::Object(form));
        }
        let mut response = response.unwrap_or(Value::Null);
        let status = fold_error_alternatives(ex.status, &mut response);
        entry.insert("status".into(), Value::from(status));
        if let Some(ct) = ex.response_header("content-type") {
            entry.insert("content_type".into(), Value::String(ct.to_owned()));
        }
        if let Some(next) = response.pointer_mut("/meta/next_page_url") {
            *next = Value::String("<next-page?>".into());
        }
        entry.insert("response".into(), response);
        entries.push(Value::Object(entry));
    }
    for i in walks {
        walk_size(&mut entries[i]);
    }
    Normalized {
        responses,
        doc: Value::Array(entries),
        references: n.sids.refs.into_iter().map(|(v, r)| (r, v)).collect(),
    }
}

/// Where the contract accepts several answers to one error, the recording shows the first
/// (`specs/rules.json`): a code among a rule's alternative `codes` becomes the rule's first
/// code (`more_info` with it), and any 4xx status of a rule whose status is unconfirmed
/// (`any_4xx`) becomes the rule's status (the body's `status` with it, when it matched). A
/// correct target may choose differently; the checks still judge what it actually answered.
/// Returns the status to record.
fn fold_error_alternatives(status: u16, body: &mut Value) -> u16 {
    let errors = &crate::spec::rules().errors;
    let Some(code) = body.get("code").and_then(Value::as_i64) else {
        return status;
    };
    let mut status_out = status;
    for rule in errors.all() {
        let codes = rule.accepted_codes();
        let Some(&first) = codes.first() else {
            continue;
        };
        if !codes.contains(&code) {
            continue;
        }
        if code != first && rule.code.is_none() {
            body["code"] = Value::from(first);
            let prefix = &errors.more_info_prefix;
            if body.get("more_info").and_then(Value::as_str) == Some(&format!("{prefix}{code}")) {
                body["more_info"] = Value::from(format!("{prefix}{first}"));
            }
        }
        if rule.any_4xx && (400..500).contains(&status) {
            if body.get("status").and_then(Value::as_u64) == Some(u64::from(status)) {
                body["status"] = Value::from(rule.status);
            }
            status_out = rule.status;
        }
        break;
    }
    status_out
}

/// A walk's page size follows the size of the collection (small pages on a small one, fewer
/// larger pages on a live account's), so in a folded walk it becomes `<walk-size>`: the
/// request's and the meta URLs' `PageSize`, and `meta.page_size`. The checks still hold every
/// page to the size it asked for.
fn walk_size(entry: &mut Value) {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new("PageSize=[0-9]+").expect("pattern compiles"));
    let mark = |s: &str| re.replace_all(s, "PageSize=<walk-size>").into_owned();
    if let Some(Value::String(r)) = entry.get_mut("request") {
        *r = mark(r);
    }
    if let Some(Value::Object(meta)) = entry.pointer_mut("/response/meta") {
        for (k, v) in meta.iter_mut() {
            match v {
                Value::String(s) => *s = mark(s),
                Value::Number(_) if k == "page_size" => *v = Value::from("<walk-size>"),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_parameters_take_one_order() {
        for (from, to) in [
            (
                "<base>/v1/Users?PageToken=<token>&Page=1&PageSize=5",
                "<base>/v1/Users?PageSize=5&Page=1&PageToken=<token>",
            ),
            (
                "http://h/v1/Users?x=1&Page=0&PageSize=2#f",
                "http://h/v1/Users?PageSize=2&Page=0&x=1#f",
            ),
            (
                "<base>/v1/Users?PageSize=5&Page=1&PageToken=<token>",
                "<base>/v1/Users?PageSize=5&Page=1&PageToken=<token>",
            ),
            ("what? Page=1&PageSize=2", "what? Page=1&PageSize=2"),
            ("no query", "no query"),
        ] {
            assert_eq!(canonical_query(from), to);
        }
    }

    #[test]
    fn alternative_codes_and_unconfirmed_statuses_fold_into_the_first() {
        let more = |c: i64| format!("https://www.twilio.com/docs/errors/{c}");
        let mut b = json!({"code": 50204, "message": "m", "more_info": more(50204), "status": 400});
        assert_eq!(fold_error_alternatives(400, &mut b), 400);
        assert_eq!(
            (&b["code"], &b["more_info"]),
            (&json!(20001), &json!(more(20001)))
        );
        let mut b = json!({"code": 50201, "message": "m", "more_info": more(50201), "status": 400});
        assert_eq!(fold_error_alternatives(400, &mut b), 409);
        assert_eq!(b["status"], 409);
        // What the contract fixes stays as answered: a settled status, a 5xx, another code.
        for (status, code) in [(500, 50201), (404, 20404), (400, 20001), (401, 20003)] {
            let mut b = json!({"code": code, "more_info": more(code), "status": status});
            let before = b.clone();
            assert_eq!(fold_error_alternatives(status, &mut b), status);
            assert_eq!(b, before);
        }
        // A mismatched body status is left for the checks to see.
        let mut b = json!({"code": 50201, "more_info": more(50201), "status": 422});
        assert_eq!(fold_error_alternatives(400, &mut b), 409);
        assert_eq!(b["status"], 422);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "http://127.0.0.1:4010";
    const US1: &str = "US0123456789abcdef0123456789abcdef";
    const US2: &str = "USfedcba9876543210fedcba9876543210";
    const AC: &str = "ACc0ffee00c0ffee00c0ffee00c0ffee00";

    fn ex(method: &str, url: &str, status: u16, body: Value) -> Exchange {
        Exchange {
            method: method.into(),
            url: url.into(),
            status,
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
            ..Exchange::default()
        }
    }

    fn user(sid: &str, identity: &str) -> Value {
        json!({"sid": sid, "account_sid": AC, "identity": identity, "attributes": "{}",
               "date_created": "2019-12-16T22:18:37Z", "url": format!("{BASE}/v1/Users/{sid}"),
               "links": {"user_conversations": format!("{BASE}/v1/Users/{sid}/Conversations")}})
    }

    fn scope(own: &BTreeSet<String>) -> Scope<'_> {
        Scope {
            base_url: BASE,
            run_prefix: "convcheck-1a2b3c4d-",
            namespace: "convcheck-1a2b3c4d-c3-",
            account_sid: Some(AC),
            own,
        }
    }

    #[test]
    fn sids_keep_identity_relations_across_exchanges_and_urls() {
        let own: BTreeSet<String> = [US1.to_owned()].into();
        let mut create = ex(
            "POST",
            &format!("{BASE}/v1/Users"),
            201,
            user(US1, "convcheck-1a2b3c4d-c3-1-minimal"),
        );
        create.request_body = b"Identity=convcheck-1a2b3c4d-c3-1-minimal".to_vec();
        let fetch = ex(
            "GET",
            &format!("{BASE}/v1/Users/{US1}"),
            200,
            user(US1, "convcheck-1a2b3c4d-c3-1-minimal"),
        );
        let n = normalize(&[create, fetch], scope(&own), Dates::Shape);
        let doc = &n.doc;
        assert_eq!(doc[0]["form"]["Identity"], "<ns>1-minimal");
        assert_eq!(doc[0]["response"]["sid"], "<US:1>");
        assert_eq!(doc[0]["response"]["account_sid"], "<AC:1>");
        assert_eq!(doc[0]["response"]["url"], "<base>/v1/Users/<US:1>");
        assert_eq!(
            doc[0]["response"]["links"]["user_conversations"],
            "<base>/v1/Users/<US:1>/Conversations"
        );
        assert_eq!(doc[0]["response"]["date_created"], "<iso8601>");
        assert_eq!(doc[1]["request"], "GET <base>/v1/Users/<US:1>");
        assert_eq!(doc[1]["response"], doc[0]["response"]);
        assert_eq!(n.responses.len(), 2);
    }

    #[test]
    fn roles_are_related_only_where_the_case_sent_them() {
        const IS1: &str = "IS11111111111111111111111111111111";
        const IS2: &str = "IS22222222222222222222222222222222";
        const RL_DEFAULT: &str = "RLdddddddddddddddddddddddddddddddd";
        const RL_SENT: &str = "RLeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
        let with_role = |sid: &str, service: &str, role: &str| {
            let mut u = user(sid, "convcheck-1a2b3c4d-c3-1-x");
            u["chat_service_sid"] = json!(service);
            u["role_sid"] = json!(role);
            u
        };
        let own: BTreeSet<String> = [US1.to_owned(), US2.to_owned()].into();
        // Two services answering with one default role: a relation the contract never states.
        let one = |role2: &str| {
            let mut named = ex(
                "POST",
                &format!("{BASE}/v1/Services/{IS2}/Users"),
                201,
                with_role(US2, IS2, RL_SENT),
            );
            named.request_body = format!("Identity=x&RoleSid={RL_SENT}").into_bytes();
            normalize(
                &[
                    ex(
                        "POST",
                        &format!("{BASE}/v1/Services/{IS1}/Users"),
                        201,
                        with_role(US1, IS1, RL_DEFAULT),
                    ),
                    ex(
                        "GET",
                        &format!("{BASE}/v1/Services/{IS2}/Users/{US2}"),
                        200,
                        with_role(US2, IS2, role2),
                    ),
                    named,
                ],
                scope(&own),
                Dates::Shape,
            )
            .doc
        };
        let shared = one(RL_DEFAULT);
        let distinct = one("RLffffffffffffffffffffffffffffffff");
        assert_eq!(shared[0], distinct[0]);
        assert_eq!(shared[1], distinct[1]);
        assert_eq!(shared[0]["response"]["role_sid"], "<RL>");
        // The role a create named is the role it answers: numbered, so a change shows.
        assert_eq!(shared[2]["form"]["RoleSid"], "<RL:1>");
        assert_eq!(shared[2]["response"]["role_sid"], "<RL:1>");
        // Services and users keep their numbers.
        assert_eq!(shared[0]["response"]["chat_service_sid"], "<IS:1>");
        assert_eq!(shared[1]["response"]["chat_service_sid"], "<IS:2>");
        assert_eq!(shared[1]["response"]["sid"], "<US:2>");
    }

    #[test]
    fn other_users_never_reach_the_result_nor_shift_the_numbering() {
        let own: BTreeSet<String> = [US2.to_owned()].into();
        let page = json!({"users": [user(US1, "alice@example.com"), user(US2, "convcheck-1a2b3c4d-c3-1-x")],
                          "meta": {"page": 0, "next_page_url": null, "key": "users"}});
        let fetch_other = ex("GET", &format!("{BASE}/v1/Users/x"), 200, user(US1, "bob"));
        let n = normalize(
            &[
                ex("GET", &format!("{BASE}/v1/Users"), 200, page),
                fetch_other,
            ],
            scope(&own),
            Dates::Shape,
        );
        let text = n.doc.to_string();
        assert!(!text.contains("alice") && !text.contains("bob"), "{text}");
        assert!(!text.contains(US1), "{text}");
        assert_eq!(n.doc[0]["response"]["users"][0]["sid"], "<US:1>");
        assert_eq!(
            n.doc[0]["response"]["meta"]["next_page_url"],
            "<next-page?>"
        );
        assert_eq!(n.doc[1]["response"], FOREIGN);
    }

    #[test]
    fn a_folded_walk_hides_its_page_size() {
        let mut entry = json!({
            "request": "GET <base>/v1/Users?PageSize=7",
            "response": {"meta": {"page_size": 7, "url": "<base>/v1/Users?PageSize=7&Page=0", "key": "users"}}
        });
        walk_size(&mut entry);
        assert_eq!(entry["request"], "GET <base>/v1/Users?PageSize=<walk-size>");
        assert_eq!(entry["response"]["meta"]["page_size"], "<walk-size>");
        assert_eq!(
            entry["response"]["meta"]["url"],
            "<base>/v1/Users?PageSize=<walk-size>&Page=0"
        );
        assert_eq!(entry["response"]["meta"]["key"], "users");
    }

    #[test]
    fn walk_pages_fold_into_the_first_request() {
        let own: BTreeSet<String> = [US1.to_owned(), US2.to_owned()].into();
        let next = format!("{BASE}/v1/Users?PageSize=1&Page=1&PageToken=PA7");
        let p0 = json!({"users": [user(US2, "b")], "meta": {"page": 0, "next_page_url": next}});
        let p1 = json!({"users": [user(US1, "a")], "meta": {"page": 1, "next_page_url": null}});
        let raw = [
            ex("GET", &format!("{BASE}/v1/Users?PageSize=1"), 200, p0),
            ex("GET", &next, 200, p1),
        ];
        let n = normalize(&raw, scope(&own), Dates::Keep);
        assert_eq!(n.doc.as_array().map(Vec::len), Some(1));
        let users = &n.doc[0]["response"]["users"];
        assert_eq!(users[0]["sid"], "<US:1>");
        assert_eq!(users[1]["sid"], "<US:2>");
        assert_eq!(
            n.responses[0].as_ref().unwrap()["meta"]["next_page_url"],
            "<base>/v1/Users?PageSize=1&Page=1&PageToken=<token>"
        );
        assert_eq!(
            n.doc[0]["response"]["meta"]["next_page_url"],
            "<next-page?>"
        );
        assert_eq!(users[0]["date_created"], "2019-12-16T22:18:37Z");
    }

    #[test]
    fn date_shapes_tell_formats_apart() {
        assert_eq!(date_shape("2019-12-16T22:18:37Z", None), Some("<iso8601>"));
        assert_eq!(
            date_shape("2019-12-16T22:18:37.5+00:00", None),
            Some("<iso8601>")
        );
        assert_eq!(
            date_shape("Mon, 16 Dec 2019 22:18:37 +0000", None),
            Some("<rfc2822>")
        );
        assert_eq!(
            date_shape("2019-12-16 22:18", Some("date_created")),
            Some("<date?>")
        );
        assert_eq!(date_shape("hello", Some("identity")), None);
    }

    #[test]
    fn case_swapped_namespaces_and_the_run_prefix_are_stripped() {
        let own = BTreeSet::new();
        let raw = [ex(
            "GET",
            &format!("{BASE}/v1/Users/CONVCHECK-1A2B3C4D-C3-1-cASEuSER"),
            404,
            json!({"code": 20404, "message": "convcheck-1a2b3c4d-other"}),
        )];
        let n = normalize(&raw, scope(&own), Dates::Shape);
        assert_eq!(n.doc[0]["request"], "GET <base>/v1/Users/<NS>1-cASEuSER");
        assert_eq!(n.doc[0]["response"]["message"], "<run>other");
    }
}
