//! Request handling: authentication, routing on the raw path, form parsing, the five
//! operations, Read's keyset paging, and the emulator-only presence route.
//!
//! Routing reads `uri().path()` itself instead of axum's `Path` extractor, because `Path`
//! percent-decodes: the `{Sid}` segment must be decoded exactly once, here.

use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use percent_encoding::percent_decode;
use unicode_normalization::UnicodeNormalization;

use super::error::ApiError;
use super::faults::{Fault, Faults};
use super::freedoms::{Freedom, Freedoms};
use super::links;
use super::render::{Ctx, View, json_response, page_response};
use super::store::{
    Inner, KeptPage, ServiceUsers, User, WriteError, fresh_u128, now, numeric_affinity,
};
use super::{AppState, ServiceConfig};
use crate::spec::identity::{Lookup, classify, decode_segment};
use crate::spec::sid::SidKind;
use crate::spec::{UrlForm, rules};

/// Bodies above this are refused: Attributes of a few KiB are all the resource needs.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Every request lands here: handle it, turn errors into Twilio bodies, add the latency.
pub(super) async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let response = match handle(&state, req).await {
        Ok(r) => r,
        Err(mut e) => {
            if state.freedoms().has(Freedom::ErrorWording) {
                e.message = reworded(&e);
            }
            e.into_response_with(state.faults())
        }
    };
    let response = super::freedoms::shape(response, state.freedoms()).await;
    let latency = state.config().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    response
}

/// The `error-wording` freedom: the same error (status and code) in other words.
fn reworded(e: &ApiError) -> String {
    format!(
        "Error {} (HTTP {}): the request could not be completed",
        e.code, e.status
    )
}

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Collection,
    Item(String),
    Presence(String),
    /// `Users/{Sid}/Conversations`.
    Conversations(String),
    /// `/v1/Configuration`.
    Configuration,
}

/// A parsed path: the service (`None` for the shortened form) and the target.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    service: Option<String>,
    target: Target,
}

/// Parses the raw (still percent-encoded) path.
fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let (emulator, segs) = match segs.split_first() {
        Some((&"v1", rest)) => (false, rest),
        Some((&"_emulator", rest)) => (true, rest),
        _ => return None,
    };
    if !emulator && segs == ["Configuration"] {
        return Some(Route {
            service: None,
            target: Target::Configuration,
        });
    }
    let (service, segs) = match segs {
        ["Services", is, rest @ ..] => (Some((*is).to_owned()), rest),
        _ => (None, segs),
    };
    let target = match (emulator, segs) {
        (false, ["Users"] | ["Users", ""]) => Target::Collection,
        (false, ["Users", s]) => Target::Item((*s).to_owned()),
        (false, ["Users", s, "Conversations"]) if !s.is_empty() => {
            Target::Conversations((*s).to_owned())
        }
        (true, ["Users", s, "Presence"]) if !s.is_empty() => Target::Presence((*s).to_owned()),
        _ => return None,
    };
    Some(Route { service, target })
}

/// `http://host[:port]` as the client reached the emulator, or the bound address.
fn base_url(req: &Request, state: &AppState) -> String {
    let from_uri = req.uri().authority().map(|a| match a.port_u16() {
        Some(p) => format!("{}:{p}", a.host()),
        None => a.host().to_owned(),
    });
    let host = from_uri.or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    match host {
        // Only plain host names and addresses: a Host header is client input.
        Some(h)
            if !h.is_empty()
                && h.len() < 256
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b)) =>
        {
            format!("http://{h}")
        }
        _ => state.fallback_base(),
    }
}

/// HTTP Basic with the account SID and auth token, or the API key and its secret.
fn authenticated(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, pass)) = text.split_once(':') else {
        return false;
    };
    let c = state.config();
    (user == c.account_sid && pass == c.auth_token) || (user == c.api_key && pass == c.api_secret)
}

/// A form body or query string, keys and values decoded (`+` and `%20` are spaces).
#[derive(Debug, Default)]
struct Form(Vec<(String, String)>);

impl Form {
    /// Parses `application/x-www-form-urlencoded` bytes; refuses bytes that are not UTF-8.
    fn parse(bytes: &[u8]) -> Result<Form, ApiError> {
        let component = |raw: &[u8]| -> Result<String, ApiError> {
            let spaced: Vec<u8> = raw
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            String::from_utf8(percent_decode(&spaced).collect())
                // Twilio's wording for this refusal is unknown: the emulator's own words.
                .map_err(|_| ApiError::invalid("form parameters must be UTF-8"))
        };
        let mut pairs = Vec::new();
        for pair in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            pairs.push((component(k)?, component(v)?));
        }
        Ok(Form(pairs))
    }

    /// The first value of `key`.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The service a request addresses: where its users are stored and how URLs look.
#[derive(Debug)]
struct Svc {
    key: String,
    config: ServiceConfig,
    form: UrlForm,
}

fn resolve(state: &AppState, service: Option<&str>, path: &str) -> Result<Svc, ApiError> {
    let c = state.config();
    let f = state.faults();
    let (config, form) = match service {
        None => (c.default_service().clone(), UrlForm::Shortened),
        Some(is) => match c.service(is) {
            Some(s) => (s.clone(), UrlForm::Service(is.to_owned())),
            None if f.has(Fault::UnknownServiceAccepted) && SidKind::Service.matches(is) => (
                ServiceConfig {
                    sid: is.to_owned(),
                    ..c.default_service().clone()
                },
                UrlForm::Service(is.to_owned()),
            ),
            None if state.freedoms().has(Freedom::UnknownService403) => {
                return Err(ApiError::forbidden(format!(
                    "service `{is}` is not one of this account's"
                )));
            }
            None => return Err(ApiError::not_found(path)),
        },
    };
    let key = if f.has(Fault::ServicesNotIsolated) {
        c.default_service().sid.clone()
    } else {
        config.sid.clone()
    };
    Ok(Svc { key, config, form })
}

/// `X-Twilio-Webhook-Enabled` takes `true` or `false` only.
fn check_webhook(
    headers: &HeaderMap,
    faults: &Faults,
    freedoms: &Freedoms,
) -> Result<(), ApiError> {
    if faults.has(Fault::WebhookHeaderUnvalidated) || freedoms.has(Freedom::WebhookHeaderIgnored) {
        return Ok(());
    }
    let rule = &rules().webhook_header;
    for v in headers.get_all(rule.name.as_str()) {
        let text = v.to_str().unwrap_or("");
        if !rule.values.iter().any(|ok| ok == text) {
            // Twilio's wording for this refusal is unknown: the emulator's own words.
            return Err(ApiError::invalid(format!(
                "invalid `{}` value `{}`: expected `true` or `false`",
                rule.name,
                text.escape_default()
            )));
        }
    }
    Ok(())
}

/// `Attributes` must be a string holding a JSON object; it is stored as given (its numbers
/// bent under the number faults, the whole text written in canonical form under the
/// `attributes-canonical` freedom).
fn check_attributes(value: &str, faults: &Faults, freedoms: &Freedoms) -> Result<String, ApiError> {
    if is_json_object(value) {
        let stored = stored_attributes(value, faults);
        Ok(if freedoms.has(Freedom::AttributesCanonical) {
            crate::json::canonical(&stored).unwrap_or(stored)
        } else {
            stored
        })
    } else if faults.has(Fault::AttributesUnvalidated) {
        Ok(value.to_owned())
    } else {
        // Twilio's wording and code for this refusal are unknown: the emulator's own words.
        let mut e =
            ApiError::invalid("invalid `Attributes`: expected a string holding a JSON object");
        if freedoms.has(Freedom::AttributesOtherCode) {
            e.code = 50001;
        }
        Err(e)
    }
}

/// Whether `value` is a JSON object by JSON's grammar. Read by `crate::json`, which keeps
/// each number's text: serde_json reads every number into a double and refuses one beyond a
/// double's range (`1e400`), which the grammar allows.
fn is_json_object(value: &str) -> bool {
    crate::json::parse(value).is_ok_and(|j| j.is_object())
}

/// How many characters an identity keeps under `identity-truncated`.
const TRUNCATED_IDENTITY: usize = 64;

/// An identity as the store keeps it and as a lookup compares it: as given, or bent by the
/// identity storage faults (NFC, trailing whitespace trimmed, cut to 64 characters).
fn stored_identity(value: &str, faults: &Faults) -> String {
    let mut v = if faults.has(Fault::IdentityNfc) {
        value.nfc().collect()
    } else {
        value.to_owned()
    };
    if faults.has(Fault::IdentityTrimmed) {
        v.truncate(v.trim_end().len());
    }
    if faults.has(Fault::IdentityTruncated)
        && let Some((cut, _)) = v.char_indices().nth(TRUNCATED_IDENTITY)
    {
        v.truncate(cut);
    }
    v
}

/// A `FriendlyName` as the store keeps it: as given, or bent by the name faults (`<` and `>`
/// HTML-escaped, a number stored as SQLite's NUMERIC affinity stores it, the text `null` read
/// as no name).
fn stored_friendly_name(value: &str, faults: &Faults) -> Option<String> {
    if faults.has(Fault::FriendlyNameNullLiteral) && value.eq_ignore_ascii_case("null") {
        return None;
    }
    let name = if faults.has(Fault::FriendlyNameMarkupEscaped) {
        value.replace('<', "&lt;").replace('>', "&gt;")
    } else {
        value.to_owned()
    };
    Some(if faults.has(Fault::FriendlyNameNumericAffinity) {
        numeric_affinity(&name)
    } else {
        name
    })
}

/// Valid `Attributes` as the store keeps them: as given, or with the numbers that the number
/// faults bend rewritten (the rest of the text is kept byte for byte).
fn stored_attributes(value: &str, faults: &Faults) -> String {
    let float32 = faults.has(Fault::AttributesFloat32);
    let big_int = faults.has(Fault::AttributesBigIntRounded);
    let overflow = faults.has(Fault::AttributesExponentOverflow);
    let decimal = faults.has(Fault::AttributesDecimalTruncated);
    if !float32 && !big_int && !overflow && !decimal {
        return value.to_owned();
    }
    rewrite_numbers(value, |literal| {
        let fractional = literal.contains(['.', 'e', 'E']);
        let n: f64 = literal.parse().ok()?;
        if overflow && n.is_infinite() {
            // A JavaScript store: the number reads as `Infinity`, which JSON writes as null.
            return Some("null".to_owned());
        }
        if fractional && decimal {
            return truncated_digits(literal, DECIMAL_DIGITS);
        }
        if fractional && float32 {
            // Through an f32 and written back by serde_json, as a REAL column read into f32
            // would be: 0.1 becomes 0.10000000149011612, and what f32 cannot hold is null.
            let narrowed = f64::from(n as f32);
            return Some(
                serde_json::Number::from_f64(narrowed).map_or("null".to_owned(), |n| n.to_string()),
            );
        }
        if !fractional && big_int && n.is_finite() {
            // A JavaScript-style store: every number is an f64, written back as an integer.
            let rounded = format!("{n:.0}");
            return (rounded != literal).then_some(rounded);
        }
        None
    })
}

/// How many significant digits a number with a fraction or exponent keeps under
/// `attributes-decimal-truncated`.
const DECIMAL_DIGITS: usize = 15;

/// `literal` (a JSON number) with the significant digits after the `keep`-th cut off, as a
/// DECIMAL column truncates: those before the decimal point become zeros, those after it go
/// (the exponent stays). `None` when it has no more than `keep` significant digits.
fn truncated_digits(literal: &str, keep: usize) -> Option<String> {
    let (mantissa, exponent) = match literal.find(['e', 'E']) {
        Some(i) => literal.split_at(i),
        None => (literal, ""),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut seen = 0;
    let mut significant = |c: char| {
        if seen > 0 || ('1'..='9').contains(&c) {
            seen += 1;
        }
        seen > keep
    };
    let mut cut = false;
    let mut out = String::with_capacity(literal.len());
    for c in int.chars() {
        if c.is_ascii_digit() && significant(c) {
            cut = true;
            out.push('0');
        } else {
            out.push(c);
        }
    }
    let kept: String = frac.chars().take_while(|&c| !significant(c)).collect();
    cut |= kept.len() < frac.len();
    if !cut {
        return None;
    }
    if !kept.is_empty() {
        out.push('.');
        out.push_str(&kept);
    }
    out.push_str(exponent);
    Some(out)
}

/// Rewrites each number token of a JSON text with `f` (when it returns `Some`), leaving
/// everything else, strings included, byte for byte.
fn rewrite_numbers(text: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '-' || c.is_ascii_digit()) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('"') {
            // A string: up to the first quote not escaped by a backslash.
            let mut escaped = false;
            let end = rest[1..]
                .char_indices()
                .find(|&(_, c)| {
                    let closes = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })
                .map_or(rest.len(), |(j, _)| j + 2);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
                .unwrap_or(rest.len());
            let literal = &rest[..end];
            out.push_str(&f(literal).unwrap_or_else(|| literal.to_owned()));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `identity` is taken in the service: a user holds it, or, under
/// `recreate-conflict`, a deleted user held it.
fn taken(inner: &Inner, key: &str, identity: &str, faults: &Faults) -> bool {
    inner.service(key).is_some_and(|s| {
        s.has_identity(identity) || (faults.has(Fault::RecreateConflict) && s.is_retired(identity))
    })
}

/// How long a write under a concurrency fault lets the store go between two steps that a
/// faithful server takes at once (a create's duplicate check and insert under
/// `duplicate-race`, an update's read and write under `update-lost-concurrent` and
/// `delete-update-resurrect`, a delete's removal and index cleanup under
/// `create-delete-index-race`): a round trip to a database, in which a concurrent request on
/// the same user slips in. 100 ms, a slow round trip: on a loaded machine two requests sent
/// a few milliseconds apart can reach the store tens of milliseconds apart, and a narrower
/// window would make the fault's effect depend on the load more than on the requests (at
/// 50 ms, `delete-update-resurrect` went unseen now and then in the mutation matrix). A
/// wider one makes every race under the fault, and so its shrinking, slower.
const RACE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// `RoleSid` must be shaped `RL` + 32 hex digits and name one of the service's roles.
fn check_role(value: &str, service: &ServiceConfig, faults: &Faults) -> Result<String, ApiError> {
    if faults.has(Fault::RoleSidUnvalidated) {
        return Ok(value.to_owned());
    }
    if !SidKind::Role.matches(value) {
        // Twilio's wording for this refusal is unknown: the emulator's own words.
        return Err(ApiError::invalid(format!(
            "invalid `RoleSid` `{}`: expected `{}`",
            value.escape_default(),
            SidKind::Role.pattern()
        )));
    }
    if !service.has_role(value) {
        return Err(ApiError::role_not_found());
    }
    Ok(value.to_owned())
}

/// Decodes the `{Sid}` segment once (or wrongly, under the lookup faults).
fn lookup_value(raw: &str, faults: &Faults) -> Option<String> {
    let value = if faults.has(Fault::IdentityLatin1) {
        percent_decode(raw.as_bytes()).map(char::from).collect()
    } else {
        decode_segment(raw)?
    };
    let value = if faults.has(Fault::IdentityDoubleDecoded) {
        decode_segment(&value).unwrap_or(value)
    } else {
        value
    };
    Some(if faults.has(Fault::IdentityPlusAsSpace) {
        value.replace('+', " ")
    } else {
        value
    })
}

/// The sequence number of the user a decoded `{Sid}` value names, for the operation `op`.
fn find(users: &ServiceUsers, value: &str, op: Op, faults: &Faults) -> Option<u64> {
    let found = match classify(value) {
        // Under `sid-reused-after-recreate`: an unknown SID's identity, kept past its delete,
        // names whoever holds that identity now.
        Lookup::Sid => users.by_sid(value).or_else(|| {
            faults
                .has(Fault::SidReusedAfterRecreate)
                .then(|| users.former_identity(value))
                .flatten()
                .and_then(|identity| users.by_identity(identity))
        }),
        Lookup::Identity if faults.has(Fault::IdentityLookupUnsupported) => None,
        Lookup::Identity => {
            let value = stored_identity(value, faults);
            let exact = if faults.has(Fault::IdentityCaseFolded) {
                let wanted = value.to_lowercase();
                users
                    .iter()
                    .find(|u| u.identity.as_ref().map(|i| i.to_lowercase()) == Some(wanted.clone()))
            } else {
                users.by_identity(&value)
            };
            exact.or_else(|| inexact(users, &value, op, faults))
        }
    };
    // Under the SID-shape faults SIDs no longer classify as SIDs; still find them by SID, so
    // each fault shows only its own defect.
    let sid_faults = faults.has(Fault::SidShort) || faults.has(Fault::SidLowercasePrefix);
    found
        .or_else(|| sid_faults.then(|| users.by_sid(value)).flatten())
        .map(|u| u.seq)
}

/// The user a lookup by identity finds under the lookup faults when no identity equals
/// `value`: the first, in creation order, whose identity starts with it
/// (`lookup-prefix-match`: `WHERE identity LIKE 'value%'`), matches it as an SQL `LIKE`
/// pattern (`lookup-like-wildcards`, update and delete only), matches it as an anchored
/// regular expression (`lookup-regex`) or equals it once both are NFKC-normalized and
/// case-folded (`lookup-nfkc-folded`), tried in that order.
fn inexact<'a>(users: &'a ServiceUsers, value: &str, op: Op, faults: &Faults) -> Option<&'a User> {
    let first = |matches: &dyn Fn(&str) -> bool| {
        users
            .iter()
            .find(|u| u.identity.as_deref().is_some_and(matches))
    };
    let fetch_or_write = matches!(op, Op::Fetch | Op::Update | Op::Delete);
    let prefix = || {
        faults
            .has(Fault::LookupPrefixMatch)
            .then(|| first(&|i| i.starts_with(value)))
            .flatten()
    };
    let like = || {
        let pattern: Vec<char> = value.chars().collect();
        (faults.has(Fault::LookupLikeWildcards) && matches!(op, Op::Update | Op::Delete))
            .then(|| first(&|i| like_match(&pattern, &i.chars().collect::<Vec<_>>())))
            .flatten()
    };
    let regex = || {
        // A value that is no valid regular expression (or is too big for one) finds nothing.
        (faults.has(Fault::LookupRegex) && fetch_or_write)
            .then(|| regex::Regex::new(&format!("^(?:{value})$")).ok())
            .flatten()
            .and_then(|re| first(&|i| re.is_match(i)))
    };
    let folded = || {
        let wanted = nfkc_folded(value);
        (faults.has(Fault::LookupNfkcFolded) && fetch_or_write)
            .then(|| first(&|i| nfkc_folded(i) == wanted))
            .flatten()
    };
    prefix().or_else(like).or_else(regex).or_else(folded)
}

/// Whether `text` matches the SQL `LIKE` pattern `pattern` with no escape character: `_` is any
/// one character, `%` any run of characters, and every other character itself, case and all.
fn like_match(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // The last `%` met, and where in `text` its run ends for now.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '_' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `%` take one more character and try again from there.
                Some((at, run)) => {
                    star = Some((at, run + 1));
                    p = at + 1;
                    t = run + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '%')
}

/// `value` NFKC-normalized and then lower-cased, as a PRECIS-style username canonicalization
/// compares identities (`ｆｉ`, `ﬁ` and `FI` are all `fi`).
fn nfkc_folded(value: &str) -> String {
    value.nfkc().collect::<String>()
}

/// Whether the `{Sid}` segment names its user by identity rather than by SID.
fn names_identity(segment: &str, faults: &Faults) -> bool {
    lookup_value(segment, faults).is_some_and(|v| classify(&v) == Lookup::Identity)
}

/// Whether a request goes through the `alias-stale` fault's cache: the service form of the
/// default service, which names the same users as the shortened form.
fn aliased(state: &AppState, svc: &Svc) -> bool {
    state.faults().has(Fault::AliasStale)
        && matches!(&svc.form, UrlForm::Service(is) if *is == state.config().default_service().sid)
}

/// A fresh user SID (misshapen under the SID faults).
fn new_sid(faults: &Faults) -> String {
    let sid = SidKind::User.from_u128(fresh_u128());
    if faults.has(Fault::SidLowercasePrefix) {
        format!("us{}", &sid[2..])
    } else if faults.has(Fault::SidShort) {
        sid[..sid.len() - 1].to_owned()
    } else {
        sid
    }
}

/// The operation a method and target select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Read,
    Fetch,
    Update,
    Delete,
    Presence,
    Conversations,
    Configuration,
}

async fn handle(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let faults = state.faults();
    if !faults.has(Fault::AuthNotEnforced) && !authenticated(req.headers(), state) {
        return Err(ApiError::unauthenticated());
    }
    let path = req.uri().path().to_owned();
    let Some(route) = route(&path) else {
        return Err(ApiError::not_found(&path));
    };
    let method = req.method().clone();
    let (op, segment) = match (route.target, &method) {
        (Target::Collection, &Method::GET) => (Op::Read, None),
        (Target::Collection, &Method::POST) => (Op::Create, None),
        (Target::Collection, m) => {
            return Err(ApiError::method_not_allowed(m.as_str(), "GET, POST"));
        }
        (Target::Item(s), &Method::GET) => (Op::Fetch, Some(s)),
        (Target::Item(s), &Method::POST) => (Op::Update, Some(s)),
        (Target::Item(s), &Method::DELETE) => (Op::Delete, Some(s)),
        (Target::Item(_), m) => {
            return Err(ApiError::method_not_allowed(
                m.as_str(),
                "GET, POST, DELETE",
            ));
        }
        (Target::Presence(s), &Method::POST) => (Op::Presence, Some(s)),
        (Target::Presence(_), m) => return Err(ApiError::method_not_allowed(m.as_str(), "POST")),
        (Target::Conversations(s), &Method::GET) => (Op::Conversations, Some(s)),
        (Target::Configuration, &Method::GET) => (Op::Configuration, None),
        (Target::Conversations(_) | Target::Configuration, m) => {
            return Err(ApiError::method_not_allowed(m.as_str(), "GET"));
        }
    };
    let svc = resolve(state, route.service.as_deref(), &path)?;
    let base = base_url(&req, state);
    let query = req.uri().query().unwrap_or("").to_owned();
    let (parts, body) = req.into_parts();
    if matches!(op, Op::Create | Op::Update | Op::Delete) {
        check_webhook(&parts.headers, faults, state.freedoms())?;
    }
    let body = if method == Method::POST {
        read_body(body, state.config().header_timeout).await?
    } else {
        Bytes::new()
    };
    let c = state.config();
    let ctx = Ctx {
        base: &base,
        form: &svc.form,
        account_sid: &c.account_sid,
        default_service_sid: &c.default_service().sid,
        reachability: c.reachability,
        faults,
    };
    let segment = segment.unwrap_or_default();
    match op {
        Op::Create => create(state, &svc, &body, &ctx).await,
        Op::Read => read(state, &svc, &query, &ctx),
        Op::Fetch => fetch(state, &svc, &segment, &path, &ctx),
        Op::Update => update(state, &svc, &segment, &path, &body, &ctx).await,
        Op::Delete => delete(state, &svc, &segment, &path, &ctx).await,
        Op::Presence => presence(state, &svc, &segment, &path, &body, &ctx),
        Op::Conversations => {
            let q = Form::parse(query.as_bytes())?;
            let (size, page) = links::page_params(q.get("PageSize"), q.get("Page"), c.edition)?;
            with_user(state, &svc, &segment, &path, op, faults, |_, _| ())?;
            Ok(links::conversations(&path, size, page, &ctx))
        }
        Op::Configuration => Ok(links::configuration(&ctx)),
    }
}

/// The body, within [`BODY_LIMIT`] bytes and the header timeout: a client that stops halfway
/// through its body must not hold the connection forever either.
async fn read_body(body: Body, limit: std::time::Duration) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(limit, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Ok(read) => read.map_err(|_| ApiError::too_large(BODY_LIMIT)),
        Err(_) => Err(ApiError::body_timeout(limit)),
    }
}

/// A change the state file refused: said on stderr for the operator, 500 for the client.
fn not_saved(e: &WriteError) -> ApiError {
    eprintln!("error: {e}");
    ApiError::not_saved(e)
}

async fn create(
    state: &AppState,
    svc: &Svc,
    body: &[u8],
    ctx: &Ctx<'_>,
) -> Result<Response, ApiError> {
    let faults = ctx.faults;
    let form = Form::parse(body)?;
    let identity = match form.get("Identity").map(|i| stored_identity(i, faults)) {
        Some(i) if !i.is_empty() => Some(i),
        _ if faults.has(Fault::MissingIdentityAccepted) => None,
        _ => {
            let mut e = ApiError::missing_identity();
            if state.freedoms().has(Freedom::MissingIdentity50204) {
                e.code = 50204;
            }
            return Err(e);
        }
    };
    if let Some(i) = &identity
        && classify(i) == Lookup::Sid
        && !faults.has(Fault::SidShapedIdentityAccepted)
    {
        return Err(ApiError::sid_shaped_identity());
    }
    let attributes = form
        .get("Attributes")
        .map(|a| check_attributes(a, faults, state.freedoms()))
        .transpose()?;
    let role_sid = match form.get("RoleSid") {
        Some(r) => check_role(r, &svc.config, faults)?,
        None => svc.config.default_role_sid.clone(),
    };
    let duplicate = |inner: &Inner| -> Result<(), ApiError> {
        match &identity {
            Some(i)
                if !faults.has(Fault::DuplicateIdentityAccepted)
                    && taken(inner, &svc.key, i, faults) =>
            {
                let mut e = ApiError::duplicate_identity();
                if state.freedoms().has(Freedom::DuplicateIdentity400) {
                    e.status = 400;
                }
                Err(e)
            }
            _ => Ok(()),
        }
    };
    let racy = faults.has(Fault::DuplicateRace);
    if racy {
        // Check, let the store go, and insert later without checking again.
        duplicate(&state.store().lock())?;
        tokio::time::sleep(RACE_WINDOW).await;
    }
    let user = {
        let mut inner = state.store().lock();
        if !racy {
            duplicate(&inner)?;
        }
        let seq = inner.next_seq();
        let t = now();
        let user = User {
            seq,
            sid: if state.freedoms().has(Freedom::SidUppercaseHex) {
                let sid = new_sid(faults);
                format!("{}{}", &sid[..2], sid[2..].to_ascii_uppercase())
            } else {
                new_sid(faults)
            },
            service_sid: svc.config.sid.clone(),
            role_sid,
            identity,
            friendly_name: form
                .get("FriendlyName")
                .filter(|_| !faults.has(Fault::FriendlyNameDroppedOnCreate))
                .and_then(|n| stored_friendly_name(n, faults)),
            attributes,
            online: None,
            notifiable: None,
            date_created: t,
            date_updated: t,
        };
        inner
            .create(&svc.key, user.clone())
            .map_err(|e| not_saved(&e))?;
        if faults.has(Fault::SidReusedAfterRecreate)
            && let Some(identity) = &user.identity
        {
            inner.remember_identity(&svc.key, &user.sid, identity);
        }
        user
    };
    let status = if faults.has(Fault::Create200) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(status, &ctx.user(&user, View::Write), faults))
}

/// Looks up the `{Sid}` segment for the operation `op` under the store lock and hands the
/// user's sequence number on.
fn with_user<R>(
    state: &AppState,
    svc: &Svc,
    segment: &str,
    path: &str,
    op: Op,
    faults: &Faults,
    f: impl FnOnce(&mut Inner, u64) -> R,
) -> Result<R, ApiError> {
    let value = lookup_value(segment, faults).ok_or_else(|| ApiError::not_found(path))?;
    let mut inner = state.store().lock();
    let seq = inner
        .service(&svc.key)
        .and_then(|users| find(users, &value, op, faults))
        .ok_or_else(|| ApiError::not_found(path))?;
    Ok(f(&mut inner, seq))
}

fn fetch(
    state: &AppState,
    svc: &Svc,
    segment: &str,
    path: &str,
    ctx: &Ctx<'_>,
) -> Result<Response, ApiError> {
    let user = if aliased(state, svc) {
        aliased_fetch(state, svc, segment, ctx.faults)
    } else {
        let stored =
            |inner: &mut Inner, seq| inner.service(&svc.key).and_then(|s| s.get(seq)).cloned();
        with_user(state, svc, segment, path, Op::Fetch, ctx.faults, stored)?
    }
    .ok_or_else(|| ApiError::not_found(path))?;
    let status = if ctx.faults.has(Fault::Fetch201) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        &ctx.user(&user, View::Fetch),
        ctx.faults,
    ))
}

/// Fetch through the `alias-stale` fault's cache: each user as this form first showed it, found
/// in the store or, once gone from it, in the cache.
fn aliased_fetch(state: &AppState, svc: &Svc, segment: &str, faults: &Faults) -> Option<User> {
    let value = lookup_value(segment, faults)?;
    let mut inner = state.store().lock();
    let users = inner.service_mut(&svc.key)?;
    let seq = find(users, &value, Op::Fetch, faults).or_else(|| users.alias_find(&value))?;
    users.alias_shown(seq)
}

async fn update(
    state: &AppState,
    svc: &Svc,
    segment: &str,
    path: &str,
    body: &[u8],
    ctx: &Ctx<'_>,
) -> Result<Response, ApiError> {
    let faults = ctx.faults;
    let form = Form::parse(body)?;
    let attributes = form
        .get("Attributes")
        .map(|a| check_attributes(a, faults, state.freedoms()))
        .transpose()?;
    let role_sid = form
        .get("RoleSid")
        .map(|r| check_role(r, &svc.config, faults))
        .transpose()?;
    let friendly_name = form
        .get("FriendlyName")
        .map(|n| stored_friendly_name(n, faults));
    let clears = faults.has(Fault::UpdateClearsUnspecified);
    // This update's changes, made to a user as stored.
    let change = |user: &mut User| {
        if faults.has(Fault::UpdateIgnored) {
            return;
        }
        match &friendly_name {
            Some(n) => user.friendly_name = n.clone(),
            None if clears => user.friendly_name = None,
            None => {}
        }
        if attributes.is_some() || clears {
            user.attributes = attributes.clone();
        }
        match &role_sid {
            Some(r) => user.role_sid = r.clone(),
            None if clears => user.role_sid = svc.config.default_role_sid.clone(),
            None => {}
        }
        let t = now();
        if faults.has(Fault::CreatedMoves) {
            user.date_created = t.max(user.date_created.saturating_add(1));
        }
        user.date_updated = t.max(user.date_updated).max(user.date_created);
    };
    let aliased = aliased(state, svc);
    let cross = faults.has(Fault::UpdateCrossService) && names_identity(segment, faults);
    // What else the written user's update reaches under the faults: the alias cache, and the
    // users of other services that hold its identity (`UPDATE … WHERE identity = ?` without
    // the service).
    let beyond = |inner: &mut Inner, user: &User| -> Result<(), WriteError> {
        if aliased && let Some(users) = inner.service_mut(&svc.key) {
            users.alias_forget(user.seq);
        }
        if cross && let Some(identity) = &user.identity {
            for (key, seq) in inner.holders_elsewhere(&svc.key, identity) {
                if let Some(mut other) = inner.service(&key).and_then(|s| s.get(seq)).cloned() {
                    change(&mut other);
                    inner.replace(&key, other)?;
                }
            }
        }
        Ok(())
    };
    let racy = faults.has(Fault::UpdateLostConcurrent) || faults.has(Fault::DeleteUpdateResurrect);
    let user = if racy {
        // Read, let the store go, and write back later from what was read.
        let stored_now =
            |inner: &mut Inner, seq| inner.service(&svc.key).and_then(|s| s.get(seq)).cloned();
        let read = with_user(state, svc, segment, path, Op::Update, faults, stored_now)?
            .ok_or_else(|| ApiError::not_found(path))?;
        tokio::time::sleep(RACE_WINDOW).await;
        let mut inner = state.store().lock();
        let stored = inner
            .service(&svc.key)
            .and_then(|s| s.get(read.seq))
            .cloned();
        let written = match stored {
            // `update-lost-concurrent`: the whole user as read, with this update's changes, over
            // whatever changed meanwhile.
            Some(_) if faults.has(Fault::UpdateLostConcurrent) => {
                let mut user = read;
                change(&mut user);
                inner.replace(&svc.key, user.clone()).map(|()| user)
            }
            // `delete-update-resurrect` upserts: a user still there gets only the changes…
            Some(mut user) => {
                change(&mut user);
                inner.replace(&svc.key, user.clone()).map(|()| user)
            }
            // …and one deleted meanwhile is inserted again as read, with the changes.
            None if faults.has(Fault::DeleteUpdateResurrect) => {
                let mut user = read;
                change(&mut user);
                inner.create(&svc.key, user.clone()).map(|()| user)
            }
            None => return Err(ApiError::not_found(path)),
        };
        written
            .and_then(|user| beyond(&mut inner, &user).map(|()| user))
            .map_err(|e| not_saved(&e))?
    } else {
        // Read and write under one hold of the store.
        let write = |inner: &mut Inner, seq| -> Result<Option<User>, WriteError> {
            let Some(mut user) = inner.service(&svc.key).and_then(|s| s.get(seq)).cloned() else {
                return Ok(None);
            };
            change(&mut user);
            inner.replace(&svc.key, user.clone())?;
            beyond(inner, &user)?;
            Ok(Some(user))
        };
        with_user(state, svc, segment, path, Op::Update, faults, write)?
            .map_err(|e| not_saved(&e))?
            .ok_or_else(|| ApiError::not_found(path))?
    };
    let status = if faults.has(Fault::Update201) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &ctx.user(&user, View::Write), faults))
}

async fn delete(
    state: &AppState,
    svc: &Svc,
    segment: &str,
    path: &str,
    ctx: &Ctx<'_>,
) -> Result<Response, ApiError> {
    let faults = ctx.faults;
    let ineffective = faults.has(Fault::DeleteIneffective);
    let cross = faults.has(Fault::DeleteCrossService) && names_identity(segment, faults);
    // The delete, and what else it takes under the faults.
    let remove = |inner: &mut Inner, seq: u64| -> Result<Option<User>, WriteError> {
        if ineffective {
            return Ok(inner.service(&svc.key).and_then(|s| s.get(seq)).cloned());
        }
        let removed = inner.remove(&svc.key, seq)?;
        if aliased(state, svc)
            && let Some(users) = inner.service_mut(&svc.key)
        {
            users.alias_forget(seq);
        }
        let Some(identity) = removed.as_ref().and_then(|u| u.identity.as_deref()) else {
            return Ok(removed);
        };
        // A soft delete: the row goes out of sight, its identity stays in the unique index.
        if faults.has(Fault::RecreateConflict) {
            inner.retire(&svc.key, identity);
        }
        // A cleanup of the identity's sub-keys (`identity-…`, `identity_…`, `identity.…`,
        // `identity:…`) that takes every user whose identity is shaped so.
        if faults.has(Fault::DeletePrefixCascade) {
            let subkeys: Vec<u64> = inner.service(&svc.key).map_or_else(Vec::new, |users| {
                users
                    .iter()
                    .filter(|u| {
                        u.identity
                            .as_deref()
                            .and_then(|i| i.strip_prefix(identity))
                            .is_some_and(|rest| rest.starts_with(['-', '_', '.', ':']))
                    })
                    .map(|u| u.seq)
                    .collect()
            });
            for seq in subkeys {
                inner.remove(&svc.key, seq)?;
            }
        }
        // `DELETE … WHERE identity = ?` without the service.
        if cross {
            for (key, seq) in inner.holders_elsewhere(&svc.key, identity) {
                inner.remove(&key, seq)?;
            }
        }
        Ok(removed)
    };
    let user = with_user(state, svc, segment, path, Op::Delete, faults, remove)?
        .map_err(|e| not_saved(&e))?
        .ok_or_else(|| ApiError::not_found(path))?;
    if faults.has(Fault::CreateDeleteIndexRace)
        && !ineffective
        && let Some(identity) = &user.identity
    {
        // The identity index is cleaned a round trip later, by identity: a user created with
        // that identity meanwhile loses its entry.
        tokio::time::sleep(RACE_WINDOW).await;
        state.store().lock().unindex_identity(&svc.key, identity);
    }
    if faults.has(Fault::Delete200Body) {
        return Ok(json_response(
            StatusCode::OK,
            &ctx.user(&user, View::Write),
            faults,
        ));
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// The emulator-only control route: `Online` and `Notifiable`, each `true` or `false`.
fn presence(
    state: &AppState,
    svc: &Svc,
    segment: &str,
    path: &str,
    body: &[u8],
    ctx: &Ctx<'_>,
) -> Result<Response, ApiError> {
    let form = Form::parse(body)?;
    let flag = |key: &str| -> Result<Option<bool>, ApiError> {
        match form.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            // An emulator-only route: Twilio has no words for this, so these are the emulator's.
            Some(v) => Err(ApiError::invalid(format!(
                "invalid `{key}` `{}`: expected `true` or `false`",
                v.escape_default()
            ))),
        }
    };
    let (online, notifiable) = (flag("Online")?, flag("Notifiable")?);
    let aliased = aliased(state, svc);
    let mark = |inner: &mut Inner, seq| -> Result<Option<User>, WriteError> {
        let Some(mut user) = inner.service(&svc.key).and_then(|s| s.get(seq)).cloned() else {
            return Ok(None);
        };
        if online.is_some() {
            user.online = online;
        }
        if notifiable.is_some() {
            user.notifiable = notifiable;
        }
        inner.replace(&svc.key, user.clone())?;
        if aliased && let Some(users) = inner.service_mut(&svc.key) {
            users.alias_forget(seq);
        }
        Ok(Some(user))
    };
    let user = with_user(state, svc, segment, path, Op::Presence, ctx.faults, mark)?
        .map_err(|e| not_saved(&e))?
        .ok_or_else(|| ApiError::not_found(path))?;
    Ok(json_response(
        StatusCode::OK,
        &ctx.user(&user, View::Fetch),
        ctx.faults,
    ))
}

/// A page token: resume after (`PA`) or end before (`PB`) a creation sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    After(u64),
    Before(u64),
}

impl Token {
    fn parse(text: &str) -> Option<Token> {
        let digits = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if let Some(hex) = text.strip_prefix("PT") {
            // The opaque form of the `page-token-urls` freedom: `PT` + the hex of a plain token.
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()?;
            let inner = String::from_utf8(bytes).ok()?;
            return if inner.starts_with("PT") {
                None
            } else {
                Token::parse(&inner)
            };
        }
        if let Some(rest) = text.strip_prefix("PA") {
            digits(rest).map(Token::After)
        } else {
            digits(text.strip_prefix("PB")?).map(Token::Before)
        }
    }

    fn render(self) -> String {
        match self {
            Token::After(s) => format!("PA{s}"),
            Token::Before(s) => format!("PB{s}"),
        }
    }

    /// The same token, opaque to a reader (the `page-token-urls` freedom).
    fn opaque(self) -> String {
        let hex: String = self.render().bytes().map(|b| format!("{b:02x}")).collect();
        format!("PT{hex}")
    }
}

/// The most users a page shows under `page-cap-200`.
const PAGE_CAP: usize = 200;

/// How many users of a collection Read reaches under `read-window-1000`.
const READ_WINDOW: usize = 1000;

fn read(state: &AppState, svc: &Svc, query: &str, ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let faults = ctx.faults;
    let q = Form::parse(query.as_bytes())?;
    let bounds = state.config().edition.page_size();
    let default_size = if faults.has(Fault::PageSizeDefault20) {
        20
    } else {
        bounds.default
    };
    let size: u32 = match q.get("PageSize") {
        None => default_size,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if bounds.contains(n) => u32::try_from(n).unwrap_or(default_size),
            // A freedom: an integer out of range is clamped into bounds.
            Ok(n) if state.freedoms().has(Freedom::PageSizeClamped) => {
                u32::try_from(n.clamp(i64::from(bounds.min), i64::from(bounds.max)))
                    .unwrap_or(default_size)
            }
            parsed if faults.has(Fault::PageSizeUnvalidated) => parsed
                .ok()
                .map(|n| n.clamp(i64::from(bounds.min), i64::from(bounds.max)))
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(default_size),
            _ => {
                // Twilio's wording for this refusal is unknown: the emulator's own words.
                return Err(ApiError::invalid(format!(
                    "invalid `PageSize` `{}`: expected an integer from `{}` to `{}`",
                    v.escape_default(),
                    bounds.min,
                    bounds.max
                )));
            }
        },
    };
    let page: u64 = match q.get("Page") {
        None => 0,
        Some(v) => v.parse().map_err(|_| {
            // Twilio's wording for this refusal is unknown: the emulator's own words.
            ApiError::invalid(format!(
                "invalid `Page` `{}`: expected an integer from `0`",
                v.escape_default()
            ))
        })?,
    };
    let token = match q.get("PageToken") {
        None | Some("") => None,
        Some(t) => Some(Token::parse(t).ok_or_else(|| {
            // Twilio's wording for this refusal is unknown: the emulator's own words.
            ApiError::invalid(format!("invalid `PageToken` `{}`", t.escape_default()))
        })?),
    };
    let n = size as usize;

    // Under `page-cache-stale`: the page kept for this very URL, whatever changed since.
    let kept_as = faults
        .has(Fault::PageCacheStale)
        .then(|| format!("{}{}?{query}", ctx.base, svc.form.collection_path()));
    let mut inner = state.store().lock();
    let kept = kept_as
        .as_deref()
        .and_then(|url| inner.service(&svc.key)?.kept_page(url).cloned());
    if let Some(kept) = kept {
        drop(inner);
        return Ok(page_response(&kept.users, &kept.meta, faults));
    }
    let empty = ServiceUsers::default();
    let users = inner.service(&svc.key).unwrap_or(&empty);
    let changes = users.changes();
    let seq = |u: &User| u.seq;
    let mut items: Vec<u64> = match token {
        None => match usize::try_from(page).ok().and_then(|p| p.checked_mul(n)) {
            Some(offset) => users.iter().skip(offset).take(n).map(seq).collect(),
            None => Vec::new(),
        },
        Some(Token::After(s)) => users
            .range((Excluded(s), Unbounded))
            .take(n)
            .map(seq)
            .collect(),
        Some(Token::Before(s)) => {
            let mut v: Vec<u64> = users.range(..s).rev().take(n).map(seq).collect();
            v.reverse();
            v
        }
    };
    // Under `read-window-1000`: nothing past the 1000th user of the collection, and no next
    // page after the page that reaches it.
    let mut window_ended = false;
    if faults.has(Fault::ReadWindow1000)
        && let Some(&first) = items.first()
    {
        let room = READ_WINDOW.saturating_sub(users.range(..first).count());
        if items.len() >= room {
            items.truncate(room);
            window_ended = true;
        }
    }
    let first_seq = items.first().copied();
    let last_seq = items.last().copied();
    // The user a next page would start with: keyset paging resumes after the last one shown.
    let following: Option<u64> = match (last_seq, token) {
        _ if window_ended => None,
        (Some(l), _) => users.range((Excluded(l), Unbounded)).next().map(|u| u.seq),
        (None, Some(Token::Before(s))) => users.range(s..).next().map(|u| u.seq),
        (None, _) => None,
    };
    // Under `page-repeated`: the token that shows this same page again.
    let before_first = first_seq.map(|f| users.range(..f).next_back().map_or(0, |u| u.seq));
    // Under `page-cap-200`: the page shows its first 200 users only, while its links are
    // reckoned from all it should have held.
    if faults.has(Fault::PageCap200) {
        items.truncate(PAGE_CAP);
    }
    if faults.has(Fault::ReadDuplicate)
        && let Some(first) = first_seq
    {
        items.push(first);
    }
    let list = if aliased(state, svc) {
        // Under `alias-stale`: each user as this form first showed it.
        inner.service_mut(&svc.key).map_or_else(Vec::new, |users| {
            items
                .iter()
                .filter_map(|seq| users.alias_shown(*seq))
                .map(|u| Arc::from(ctx.user(&u, View::Read).to_string()))
                .collect()
        })
    } else {
        ctx.page_users(&mut inner, &svc.key, &items)
    };
    drop(inner);

    let meta_base = if faults.has(Fault::MetaForeignHost) {
        "https://conversations.twilio.com"
    } else {
        ctx.base
    };
    let path = svc.form.collection_path();
    let page_url = |page: u64, token: Option<Token>| {
        let token = token.map_or(String::new(), |t| format!("&PageToken={}", t.render()));
        format!("{meta_base}{path}?PageSize={size}&Page={page}{token}")
    };
    // Under the `page-token-urls` freedom the next and previous pages are named by an opaque
    // token first, then `Page` and `PageSize`.
    let token_style = state.freedoms().has(Freedom::PageTokenUrls);
    let link_url = |page: u64, token: Option<Token>| {
        if !token_style {
            return page_url(page, token);
        }
        let token = token.map_or(String::new(), |t| format!("PageToken={}&", t.opaque()));
        format!("{meta_base}{path}?{token}Page={page}&PageSize={size}")
    };
    let anchor = last_seq.or(match token {
        Some(Token::After(s)) => Some(s),
        Some(Token::Before(s)) => Some(s.saturating_sub(1)),
        None => None,
    });
    let next = if faults.has(Fault::NextMissing) {
        None
    } else if let Some(next_first) = following {
        if faults.has(Fault::PageRepeated) {
            Some(link_url(
                page.saturating_add(1),
                before_first.map(Token::After),
            ))
        } else if faults.has(Fault::UserSkipped) {
            Some(link_url(
                page.saturating_add(1),
                Some(Token::After(next_first)),
            ))
        } else {
            Some(link_url(page.saturating_add(1), anchor.map(Token::After)))
        }
    } else if faults.has(Fault::NextOnLastPage) {
        Some(link_url(page.saturating_add(1), anchor.map(Token::After)))
    } else {
        None
    };
    let previous = if page == 0 {
        faults
            .has(Fault::PreviousOnFirstPage)
            .then(|| link_url(0, None))
    } else {
        let before = first_seq.or(match token {
            Some(Token::After(s)) => Some(s.saturating_add(1)),
            Some(Token::Before(s)) => Some(s),
            None => None,
        });
        Some(link_url(page - 1, before.map(Token::Before)))
    };
    let echoed = if faults.has(Fault::PageSizeNotEchoed) {
        bounds.default
    } else {
        size
    };
    let key = if faults.has(Fault::MetaKeyWrong) {
        "items"
    } else {
        rules().pagination.key.as_str()
    };
    let meta = serde_json::json!({
            "page": if faults.has(Fault::PageNotEchoed) { 0 } else { page },
            "page_size": echoed,
            "first_page_url": page_url(0, None),
            "previous_page_url": previous,
            "url": page_url(page, token),
            "next_page_url": next,
            "key": key,
    });
    if let Some(url) = kept_as
        && let Some(users) = state.store().lock().service_mut(&svc.key)
    {
        let page = KeptPage {
            users: list.clone(),
            meta: meta.clone(),
        };
        users.keep_page(url, changes, page);
    }
    Ok(page_response(&list, &meta, faults))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_raw_paths() {
        let r = route("/v1/Users").unwrap();
        assert_eq!((r.service, r.target), (None, Target::Collection));
        let r = route("/v1/Users/").unwrap();
        assert_eq!(r.target, Target::Collection);
        let r = route("/v1/Services/IS1/Users/a%2Fb").unwrap();
        assert_eq!(r.service.as_deref(), Some("IS1"));
        assert_eq!(r.target, Target::Item("a%2Fb".into()));
        let r = route("/_emulator/Users/x/Presence").unwrap();
        assert_eq!(r.target, Target::Presence("x".into()));
        let r = route("/v1/Services/IS1/Users/jo/Conversations").unwrap();
        assert_eq!(r.target, Target::Conversations("jo".into()));
        let r = route("/v1/Configuration").unwrap();
        assert_eq!((r.service, r.target), (None, Target::Configuration));
        for bad in [
            "",
            "/",
            "/v1",
            "/v1/Users/a/b",
            "/v1/Users//Conversations",
            "/v1/Services/IS1/Configuration",
            "/_emulator/Configuration",
            "/v2/Users",
            "/v1/Services/IS1",
        ] {
            assert!(route(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn forms_take_plus_and_percent_twenty_and_refuse_bad_utf8() {
        let f = Form::parse(b"Identity=a+b%20c&FriendlyName=j%C3%BCrgen&x").unwrap();
        assert_eq!(f.get("Identity"), Some("a b c"));
        assert_eq!(f.get("FriendlyName"), Some("jürgen"));
        assert_eq!(f.get("x"), Some(""));
        assert!(Form::parse(b"Identity=%FF").is_err());
        assert!(Form::parse(b"&&=&%").is_ok());
    }

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        for t in [Token::After(7), Token::Before(0)] {
            assert_eq!(Token::parse(&t.render()), Some(t));
            assert_eq!(Token::parse(&t.opaque()), Some(t));
        }
        assert_eq!(Token::After(7).opaque(), "PT504137");
        for bad in [
            "",
            "PA",
            "PA-1",
            "PAx",
            "XX1",
            "PA99999999999999999999999",
            "PT5",
            "PTzz",
            "PT5054",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn number_faults_rewrite_only_their_numbers() {
        let text = r#"{"f":0.1, "i":9007199254740993,"s":"0.1 \" 9007199254740993","n":[-1.5e0,2,-9007199254740993,1e400,12345678901234567890123]}"#;
        assert_eq!(stored_attributes(text, &Faults::default()), text);
        let float32: Faults = [Fault::AttributesFloat32].into_iter().collect();
        assert_eq!(
            stored_attributes(text, &float32),
            r#"{"f":0.10000000149011612, "i":9007199254740993,"s":"0.1 \" 9007199254740993","n":[-1.5,2,-9007199254740993,null,12345678901234567890123]}"#
        );
        let big: Faults = [Fault::AttributesBigIntRounded].into_iter().collect();
        assert_eq!(
            stored_attributes(text, &big),
            r#"{"f":0.1, "i":9007199254740992,"s":"0.1 \" 9007199254740993","n":[-1.5e0,2,-9007199254740992,1e400,12345678901234567741440]}"#
        );
        // Integers an f64 holds exactly are kept as written.
        let exact = r#"{"a":9007199254740992,"b":-0,"c":1152921504606846976}"#;
        assert_eq!(stored_attributes(exact, &big), exact);
    }

    #[test]
    fn value_faults_bend_only_their_values() {
        let text = r#"{"o":1e400,"m":-2E+999,"u":1e-400,"d":0.1234567890123456789,"e":1.2345678901234567e10,"b":1234567890123456789.5,"i":12345678901234567890,"s":"1e400","k":0.5}"#;
        let overflow: Faults = [Fault::AttributesExponentOverflow].into_iter().collect();
        assert_eq!(
            stored_attributes(text, &overflow),
            r#"{"o":null,"m":null,"u":1e-400,"d":0.1234567890123456789,"e":1.2345678901234567e10,"b":1234567890123456789.5,"i":12345678901234567890,"s":"1e400","k":0.5}"#
        );
        let decimal: Faults = [Fault::AttributesDecimalTruncated].into_iter().collect();
        assert_eq!(
            stored_attributes(text, &decimal),
            r#"{"o":1e400,"m":-2E+999,"u":1e-400,"d":0.123456789012345,"e":1.23456789012345e10,"b":1234567890123450000,"i":12345678901234567890,"s":"1e400","k":0.5}"#
        );
        assert_eq!(
            truncated_digits("-0.000123456789012345678", 15).as_deref(),
            Some("-0.000123456789012345")
        );
        assert_eq!(truncated_digits("0.123456789012345", 15), None);
        assert_eq!(truncated_digits("1.00000000000000", 15), None);
        assert_eq!(
            truncated_digits("1.0000000000000000", 15).as_deref(),
            Some("1.00000000000000")
        );
        let numeric: Faults = [Fault::FriendlyNameNumericAffinity].into_iter().collect();
        for (name, stored) in [
            ("00123", "123"),
            ("+7", "7"),
            ("1.50", "1.5"),
            ("3.0e+5", "300000"),
            ("-0.0", "0"),
            ("0.1234567890123456789", "0.12345678901234568"),
            ("12abc", "12abc"),
            ("0x10", "0x10"),
            ("Jo 7", "Jo 7"),
            ("", ""),
        ] {
            assert_eq!(
                stored_friendly_name(name, &numeric).as_deref(),
                Some(stored),
                "{name}"
            );
        }
        let null: Faults = [Fault::FriendlyNameNullLiteral].into_iter().collect();
        for name in ["null", "NULL", "Null", "nUlL"] {
            assert_eq!(stored_friendly_name(name, &null), None, "{name}");
            assert_eq!(
                stored_friendly_name(name, &Faults::default()).as_deref(),
                Some(name)
            );
        }
        assert_eq!(
            stored_friendly_name("nullable", &null).as_deref(),
            Some("nullable")
        );
    }

    #[test]
    fn attributes_are_checked_by_the_json_grammar() {
        for ok in [
            r#"{}"#,
            r#"{"a":1e400,"b":[-2E+999,0.5e-1]}"#,
            &format!(r#"{{"n":1{}}}"#, "0".repeat(400)),
        ] {
            assert!(is_json_object(ok), "{ok}");
        }
        for bad in [
            r#"[1e400]"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":+1}"#,
            r#"{"a":--1}"#,
            r#"{"a":1e400x}"#,
            r#"{"a":1 2}"#,
            r#"{"a":-Infinity}"#,
        ] {
            assert!(!is_json_object(bad), "{bad}");
        }
        for ok in ["0", "-0", "10", "1.5", "1e5", "1E+5", "-0.5e-10"] {
            assert!(is_json_object(&format!(r#"{{"n":{ok}}}"#)), "{ok}");
        }
    }

    #[test]
    fn like_patterns_take_underscore_and_percent_only() {
        let like = |p: &str, t: &str| {
            like_match(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(like("a_c", "abc") && like("a_c", "aüc") && !like("a_c", "ac"));
        assert!(like("a%", "a") && like("%b%d", "abcd") && like("%", "") && like("a%c%", "abcbc"));
        assert!(!like("a%d", "abc") && !like("A_c", "abc") && !like("abc", "abcd"));
        assert!(like("a.c", "a.c") && !like("a.c", "abc"));
        assert_eq!(nfkc_folded("\u{FF41}\u{FB01}\u{212A}"), "afiK");
    }

    #[test]
    fn identity_faults_bend_only_their_part() {
        let none = Faults::default();
        let odd = "e\u{301} x \t";
        assert_eq!(stored_identity(odd, &none), odd);
        let nfc: Faults = [Fault::IdentityNfc].into_iter().collect();
        assert_eq!(stored_identity(odd, &nfc), "\u{e9} x \t");
        let trimmed: Faults = [Fault::IdentityTrimmed].into_iter().collect();
        assert_eq!(stored_identity(odd, &trimmed), "e\u{301} x");
        let cut: Faults = [Fault::IdentityTruncated].into_iter().collect();
        let long = "ü".repeat(70);
        assert_eq!(stored_identity(&long, &cut), "ü".repeat(64));
        assert_eq!(stored_identity(&long[..128], &cut), long[..128]);
        let markup: Faults = [Fault::FriendlyNameMarkupEscaped].into_iter().collect();
        assert_eq!(
            stored_friendly_name("<b>&amp;</b>", &markup).as_deref(),
            Some("&lt;b&gt;&amp;&lt;/b&gt;")
        );
        assert_eq!(stored_friendly_name("<b>", &none).as_deref(), Some("<b>"));
    }

    #[test]
    fn lookup_decodes_once_and_keeps_plus() {
        let none = Faults::default();
        assert_eq!(
            lookup_value("a+b%2Bc%2520", &none).as_deref(),
            Some("a+b+c%20")
        );
        assert_eq!(lookup_value("%FF", &none), None);
        let latin1: Faults = [Fault::IdentityLatin1].into_iter().collect();
        assert_eq!(lookup_value("%C3%BC", &latin1).as_deref(), Some("Ã¼"));
    }
}
