//! Pure checks: an exchange (or a recorded body) and what the caller knows go in, findings
//! come out.
//!
//! Nothing here does I/O, reads a clock or knows about HTTP clients: the runner fetches, the
//! checks judge. A check never returns `Err`; whatever is wrong with the response is a finding.

mod page;
mod relations;
mod user;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::{self, Doc, Edition, Operation, Severity, UrlForm};

pub use page::{Listed, PageRequest, SparsePage, page_body, sparse_body, sparse_page, walk};
pub use relations::{UpdateParams, created, same_user, updated};
pub use user::user_body;

/// One HTTP request and its response, as plain owned data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// The absolute URL requested, query included.
    pub url: String,
    /// Request headers (credentials already removed by the client).
    pub request_headers: Vec<(String, String)>,
    /// Request body.
    pub request_body: Vec<u8>,
    /// Response status.
    pub status: u16,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// Response body.
    pub response_body: Vec<u8>,
}

impl Exchange {
    /// The first response header with this name (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD path?query`, for messages.
    pub fn request_line(&self) -> String {
        let path = url::Url::parse(&self.url)
            .map(|u| match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            })
            .unwrap_or_else(|_| self.url.clone());
        format!("{} {path}", self.method)
    }
}

/// One breach of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check id, such as `user.sid.pattern`.
    pub check: String,
    /// MUST or SHOULD.
    pub severity: Severity,
    /// The clause the check enforces.
    pub clause: String,
    /// JSON pointer into the response body; `@status` and `@headers/NAME` for the rest.
    pub pointer: String,
    /// What the contract wants.
    pub expected: String,
    /// What was there.
    pub actual: String,
    /// One line saying what is wrong.
    pub message: String,
    /// The request it concerns (`GET /v1/Users/US…`), when a runner knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// For a generated case: the shrunk sequence that shows it, with curl commands and the
    /// seed that replays it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The requests it took to find, when a runner knows: those its case had sent when it
    /// was raised (for a generated case, those of the sequence that found it, up to the step
    /// that showed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<usize>,
}

impl Finding {
    /// A finding of check `id`; severity and clause come from the catalogue.
    pub fn new(
        id: &str,
        pointer: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Finding {
        let def = spec::catalogue().check(id);
        debug_assert!(def.is_some(), "check `{id}` is not in specs/checks.json");
        let (severity, clause, title) = match def {
            Some(d) => (d.severity, d.clause.clone(), d.title.clone()),
            None => (Severity::Must, "unknown".to_owned(), id.to_owned()),
        };
        let pointer = pointer.into();
        let expected = expected.into();
        let actual = actual.into();
        let at = if pointer.is_empty() {
            String::new()
        } else {
            format!(" at `{pointer}`")
        };
        let message = format!("{title}{at}: expected {expected}, got {actual}");
        Finding {
            check: id.to_owned(),
            severity,
            clause,
            pointer,
            expected,
            actual,
            message,
            request: None,
            replay: None,
            requests: None,
        }
    }
}

/// What the caller knows about a user it created or changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Known {
    /// The identity it was created with.
    pub identity: Option<String>,
    /// Whether the service has reachability turned on (None: unknown).
    pub reachability: Option<bool>,
    /// Whether the user has ever been online (None: unknown).
    pub ever_online: Option<bool>,
    /// Whether the user has ever had a push registration (None: unknown).
    pub ever_registered: Option<bool>,
    /// For a Read: whether this page is known to be the last (None: unknown).
    pub last_page: Option<bool>,
}

/// Everything a check may use besides the exchange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The operation, when known (offline validation may not know it).
    pub operation: Option<Operation>,
    /// The URL form used, when known.
    pub form: Option<UrlForm>,
    /// The edition in force.
    pub edition: Edition,
    /// The target's base URL (`scheme://host[:port][/prefix]`), when known.
    pub base_url: Option<String>,
    /// The account the request authenticated as, when known.
    pub account_sid: Option<String>,
    /// The default Conversation Service of the shortened form, when known.
    pub default_service_sid: Option<String>,
    /// What is known of the user concerned.
    pub known: Known,
    /// The check that reports a wrong success status, when not the operation's own (for
    /// example `webhook.header.accepted`).
    pub status_check: Option<String>,
}

impl Context {
    /// A context for an operation on a URL form.
    pub fn for_op(operation: Operation, form: UrlForm, edition: Edition) -> Context {
        Context {
            operation: Some(operation),
            form: Some(form),
            edition,
            ..Context::default()
        }
    }
}

/// Parses a response body as JSON, or reports `{root}.body.json`.
pub fn parse_json(doc: Doc, body: &[u8]) -> Result<Value, Box<Finding>> {
    serde_json::from_slice(body).map_err(|e| {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        Box::new(Finding::new(
            &format!("{}.body.json", doc.check_root()),
            "",
            "a JSON document",
            format!("{shown:?} ({e})"),
        ))
    })
}

/// Schema findings for a document.
pub fn schema(doc: Doc, value: &Value) -> Vec<Finding> {
    spec::schema::validate(doc, value)
        .into_iter()
        .map(|e| Finding::new(&e.check, e.pointer, e.expected, e.actual))
        .collect()
}

/// Checks a response that should have succeeded: status, content type and body.
pub fn exchange(ex: &Exchange, ctx: &Context) -> Vec<Finding> {
    let Some(op) = ctx.operation else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let want = op.success_status();
    if ex.status != want {
        let id = ctx
            .status_check
            .clone()
            .unwrap_or_else(|| format!("{op}.status"));
        out.push(Finding::new(
            &id,
            "@status",
            want.to_string(),
            ex.status.to_string(),
        ));
        // An error answer is still judged as an error body; nothing else can be checked.
        if ex.status >= 400 {
            out.extend(error_response(ex));
        }
        return out;
    }
    if op == Operation::Delete {
        if !ex.response_body.is_empty() {
            out.push(Finding::new(
                "delete.body.empty",
                "",
                "an empty body",
                format!("{} bytes", ex.response_body.len()),
            ));
        }
        return out;
    }
    out.extend(content_type(ex));
    let doc = if op == Operation::Read {
        Doc::UsersPage
    } else {
        Doc::User
    };
    match parse_json(doc, &ex.response_body) {
        Err(f) => out.push(*f),
        Ok(v) => {
            if op == Operation::Read {
                let req = PageRequest::from_url(&ex.url);
                out.extend(page_body(&v, ctx, req.as_ref()));
            } else {
                out.extend(user_body(&v, ctx));
            }
        }
    }
    out
}

/// The checks [`exchange`] applies to a success of `op`: what a clean answer shows held. A
/// clause matrix may mark these passed for a case that only knows its answers were clean
/// (a generated case). The catalogue is the list, so a new user or page check joins it.
pub fn exchange_checks(op: Operation) -> Vec<&'static str> {
    let cat = spec::catalogue();
    let mut out: Vec<&'static str> = Vec::new();
    let status: &'static str = match op {
        Operation::Create => "create.status",
        Operation::Read => "read.status",
        Operation::Fetch => "fetch.status",
        Operation::Update => "update.status",
        Operation::Delete => "delete.status",
    };
    out.push(status);
    if op == Operation::Delete {
        out.push("delete.body.empty");
        return out;
    }
    out.push("response.content-type");
    let applies = |id: &str| -> bool {
        // Each `is_online` / `is_notifiable` rule holds for the operation it is about.
        let about_op = if id.ends_with(".read-null") {
            op == Operation::Read
        } else if id.ends_with(".fetch-only") {
            matches!(op, Operation::Create | Operation::Update)
        } else if id.ends_with(".unreachable-null") {
            op == Operation::Fetch
        } else {
            true
        };
        let user = id.starts_with("user.") && id != "user.links.resolve" && about_op;
        // The page's own checks: its body, `meta` and `users` (not the walk's).
        let mut parts = id.split('.');
        let page = op == Operation::Read
            && parts.next() == Some("page")
            && matches!(parts.next(), Some("body" | "meta" | "users"));
        user || page
    };
    out.extend(
        cat.checks
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| applies(id)),
    );
    out
}

/// Checks a Read success as [`exchange`] does, with the page already parsed in part (see
/// [`sparse_page`]): the metadata against every user, each kept user in full.
pub fn sparse_exchange(ex: &Exchange, ctx: &Context, page: &SparsePage) -> Vec<Finding> {
    let mut out = Vec::new();
    if ex.status != Operation::Read.success_status() {
        return exchange(ex, ctx);
    }
    out.extend(content_type(ex));
    let req = PageRequest::from_url(&ex.url);
    out.extend(sparse_body(page, ctx, req.as_ref()));
    out
}

/// Reports a JSON response not served as `application/json`.
pub fn content_type(ex: &Exchange) -> Option<Finding> {
    let ct = ex.response_header("content-type").unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    (!media.eq_ignore_ascii_case("application/json")).then(|| {
        Finding::new(
            "response.content-type",
            "@headers/content-type",
            "`application/json`",
            if ct.is_empty() {
                "no content type".to_owned()
            } else {
                format!("`{ct}`")
            },
        )
    })
}

/// Checks an error body (schema, `status` equal to the HTTP status, `more_info`).
pub fn error_body(v: &Value, http_status: Option<u16>) -> Vec<Finding> {
    let mut out = schema(Doc::Error, v);
    if let (Some(http), Some(s)) = (http_status, v.get("status").and_then(Value::as_i64))
        && s != i64::from(http)
    {
        out.push(Finding::new(
            "error.status.matches",
            "/status",
            http.to_string(),
            s.to_string(),
        ));
    }
    if let (Some(code), Some(more)) = (
        v.get("code").and_then(Value::as_i64),
        v.get("more_info").and_then(Value::as_str),
    ) {
        let prefix = &spec::rules().errors.more_info_prefix;
        if more.starts_with(prefix.as_str()) && more != format!("{prefix}{code}") {
            out.push(Finding::new(
                "error.more_info.code",
                "/more_info",
                format!("`{prefix}{code}`"),
                format!("`{more}`"),
            ));
        }
    }
    out
}

/// Checks an error response as a whole: content type and body.
pub fn error_response(ex: &Exchange) -> Vec<Finding> {
    let mut out: Vec<Finding> = content_type(ex).into_iter().collect();
    match parse_json(Doc::Error, &ex.response_body) {
        Err(f) => out.push(*f),
        Ok(v) => out.extend(error_body(&v, Some(ex.status))),
    }
    out
}

/// Which statuses a refusal may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statuses {
    /// Exactly this status.
    Exactly(u16),
    /// Any 4xx.
    ClientError,
    /// One of these statuses.
    OneOf(Vec<u16>),
}

impl Statuses {
    fn accepts(&self, s: u16) -> bool {
        match self {
            Statuses::Exactly(x) => *x == s,
            Statuses::ClientError => (400..500).contains(&s),
            Statuses::OneOf(list) => list.contains(&s),
        }
    }

    fn describe(&self) -> String {
        match self {
            Statuses::Exactly(x) => x.to_string(),
            Statuses::ClientError => "a 4xx status".to_owned(),
            Statuses::OneOf(list) => list
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

/// What a request that must be refused should get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The check that reports a request not refused.
    pub check: String,
    /// The statuses that count as refused.
    pub statuses: Statuses,
    /// The status Twilio is known or believed to use (a SHOULD).
    pub preferred_status: Option<u16>,
    /// The Twilio codes that fit (a SHOULD); empty means any.
    pub codes: Vec<i64>,
}

impl Refusal {
    /// A refusal with an exact status and the codes of an error rule.
    pub fn of(check: &str, rule: &spec::ErrorRule) -> Refusal {
        Refusal {
            check: check.to_owned(),
            statuses: Statuses::Exactly(rule.status),
            preferred_status: None,
            codes: rule.accepted_codes(),
        }
    }

    /// A refusal with exactly this status and any code.
    pub fn status(check: &str, status: u16) -> Refusal {
        Refusal {
            check: check.to_owned(),
            statuses: Statuses::Exactly(status),
            preferred_status: None,
            codes: Vec::new(),
        }
    }

    /// A refusal where any 4xx and any code will do, `preferred` if given being a SHOULD.
    pub fn client_error(check: &str, preferred: Option<u16>) -> Refusal {
        Refusal {
            check: check.to_owned(),
            statuses: Statuses::ClientError,
            preferred_status: preferred,
            codes: Vec::new(),
        }
    }

    /// A refusal where any 4xx will do, `rule`'s status and codes preferred.
    pub fn any_4xx(check: &str, rule: &spec::ErrorRule) -> Refusal {
        Refusal {
            check: check.to_owned(),
            statuses: Statuses::ClientError,
            preferred_status: Some(rule.status),
            codes: rule.accepted_codes(),
        }
    }
}

/// The check [`link_page`] applies.
pub const LINK_CHECK: &str = "user.links.resolve";

/// The checks [`refusal`] applies to the body of a refusal: its content type and every error
/// body check, the code and status preferences among them.
pub fn refusal_checks() -> Vec<&'static str> {
    let mut out = vec!["response.content-type"];
    out.extend(
        spec::catalogue()
            .checks
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| id.starts_with("error.")),
    );
    out
}

/// Checks the answer to a GET of a user's `links.user_conversations`: a page of that user's
/// conversations (key `conversations`). The User resource's documentation shows the link but
/// not the resource behind it, so this is a SHOULD.
pub fn link_page(ex: &Exchange) -> Vec<Finding> {
    const ID: &str = LINK_CHECK;
    if ex.status != 200 {
        return vec![Finding::new(ID, "@status", "200", ex.status.to_string())];
    }
    let Ok(page) = serde_json::from_slice::<Value>(&ex.response_body) else {
        return vec![Finding::new(
            ID,
            "",
            "a JSON page",
            "a body that is not JSON",
        )];
    };
    let mut out = Vec::new();
    if !page.get("conversations").is_some_and(Value::is_array) {
        out.push(Finding::new(
            ID,
            "/conversations",
            "an array",
            page.get("conversations")
                .map_or("(absent)".to_owned(), Value::to_string),
        ));
    }
    let key = page.pointer("/meta/key");
    if key.and_then(Value::as_str) != Some("conversations") {
        out.push(Finding::new(
            ID,
            "/meta/key",
            "\"conversations\"",
            key.map_or("(absent)".to_owned(), Value::to_string),
        ));
    }
    out
}

/// Checks a response that should have been refused.
pub fn refusal(ex: &Exchange, r: &Refusal) -> Vec<Finding> {
    if !r.statuses.accepts(ex.status) {
        return vec![Finding::new(
            &r.check,
            "@status",
            r.statuses.describe(),
            ex.status.to_string(),
        )];
    }
    let mut out = Vec::new();
    if let Some(p) = r.preferred_status
        && p != ex.status
    {
        out.push(Finding::new(
            "error.status.preferred",
            "@status",
            p.to_string(),
            ex.status.to_string(),
        ));
    }
    out.extend(error_response(ex));
    if !r.codes.is_empty()
        && let Ok(v) = serde_json::from_slice::<Value>(&ex.response_body)
        && let Some(code) = v.get("code").and_then(Value::as_i64)
        && !r.codes.contains(&code)
    {
        let want: Vec<String> = r.codes.iter().map(i64::to_string).collect();
        out.push(Finding::new(
            "error.code.expected",
            "/code",
            want.join(" or "),
            code.to_string(),
        ));
    }
    out
}

/// Whether `url` is on `base`: the base's text followed by the end, `/`, `?` or `#`. A bare
/// prefix test would take `https://h.com.evil` for `https://h.com`, `http://h:40100` for
/// `http://h:4010` and `/apix` for `/api`.
pub(crate) fn on_base(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

/// Whether `url` passes the schemas' absolute-URL pattern (`^https?://[^/?#]+/`) yet no URL
/// parser takes it (a port out of range, a malformed host). The schema cannot see that, so
/// the rules report it under the same `absolute` check.
pub(crate) fn unparseable(url: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        let pattern = Doc::User.schema()["properties"]["url"]["pattern"]
            .as_str()
            .expect("specs/user.schema.json gives `url` a pattern");
        regex::Regex::new(pattern).expect("the url pattern compiles")
    });
    re.is_match(url) && url::Url::parse(url).is_err()
}

/// Renders a JSON value short enough for a message.
pub(crate) fn shown(v: Option<&Value>) -> String {
    match v {
        None => "absent".to_owned(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 120 {
                format!("{}…", s.chars().take(120).collect::<String>())
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests;
