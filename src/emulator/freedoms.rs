//! Named, legitimate variations the emulator can switch on: what a *correct* server may do
//! differently from the reference emulator and still follow the contract. They mirror the
//! faults ([`super::faults`]): a fault must make some check fail, a freedom must make none
//! fail (the mutation matrix proves both), so the harness is shown to be precise as well as
//! sensitive.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

/// One variation. Names are kebab-case and stable: the harness and CI refer to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Freedom {
    /// Error messages in other words.
    ErrorWording,
    /// `Content-Type: application/json; charset=utf-8`.
    MediaTypeParams,
    /// Pretty-printed JSON with keys in reverse order.
    JsonLayout,
    /// Undocumented fields in users, pages, `meta` and error bodies.
    ExtraFields,
    /// Unknown response headers.
    ExtraHeaders,
    /// Page URLs with an opaque `PageToken` and parameters in another order.
    PageTokenUrls,
    /// Chunked bodies, no `Content-Length`.
    Chunked,
    /// Gzip when the request accepts it.
    Gzip,
    /// Another default role sid.
    OtherDefaultRole,
    /// User sids with upper-case hex digits.
    SidUppercaseHex,
    /// A duplicate identity is refused with 400 instead of 409.
    DuplicateIdentity400,
    /// A create without `Identity` is refused with code 50204 instead of 20001.
    MissingIdentity50204,
    /// An out-of-range `PageSize` is clamped into bounds instead of refused.
    PageSizeClamped,
    /// `Attributes` re-serialized in a canonical form of the same JSON value.
    AttributesCanonical,
    /// An unknown service in the path is answered 403 (code 20403) instead of 404.
    UnknownService403,
    /// An invalid `Attributes` is refused with code 50001 instead of 20001.
    AttributesOtherCode,
    /// An invalid `X-Twilio-Webhook-Enabled` value is ignored instead of refused.
    WebhookHeaderIgnored,
    /// Every service's default role is one and the same role.
    SharedDefaultRole,
}

use Freedom::*;

impl Freedom {
    /// Every freedom, in the order `convcheck freedoms` lists them.
    pub const ALL: [Freedom; 18] = [
        ErrorWording,
        MediaTypeParams,
        JsonLayout,
        ExtraFields,
        ExtraHeaders,
        PageTokenUrls,
        Chunked,
        Gzip,
        OtherDefaultRole,
        SidUppercaseHex,
        DuplicateIdentity400,
        MissingIdentity50204,
        PageSizeClamped,
        AttributesCanonical,
        UnknownService403,
        AttributesOtherCode,
        WebhookHeaderIgnored,
        SharedDefaultRole,
    ];

    /// The stable kebab-case name used by `--freedom`.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    /// What kind of variation it is.
    pub fn category(self) -> &'static str {
        self.info().1
    }

    /// What the variation does, in one line.
    pub fn description(self) -> &'static str {
        self.info().2
    }

    /// Name, category and description in one table so they cannot drift apart.
    fn info(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ErrorWording => (
                "error-wording",
                "errors",
                "error messages in other words (status, code and `more_info` unchanged)",
            ),
            MediaTypeParams => (
                "media-type-params",
                "headers",
                "JSON served as `application/json; charset=utf-8`",
            ),
            JsonLayout => (
                "json-layout",
                "format",
                "JSON pretty-printed, every object's keys in reverse order",
            ),
            ExtraFields => (
                "extra-fields",
                "fields",
                "undocumented fields in users, pages, `meta` and error bodies",
            ),
            ExtraHeaders => (
                "extra-headers",
                "headers",
                "unknown response headers (`Twilio-Request-Id`, `X-Home-Region`)",
            ),
            PageTokenUrls => (
                "page-token-urls",
                "pagination",
                "next and previous page URLs with an opaque `PageToken`, parameters in another order",
            ),
            Chunked => (
                "chunked",
                "transport",
                "bodies sent chunked, without `Content-Length`",
            ),
            Gzip => (
                "gzip",
                "transport",
                "bodies gzip-compressed when the request accepts gzip",
            ),
            OtherDefaultRole => (
                "other-default-role",
                "sid",
                "each service's default role is another sid",
            ),
            SidUppercaseHex => (
                "sid-uppercase-hex",
                "sid",
                "user sids with upper-case hex digits (lookups by sid stay exact)",
            ),
            DuplicateIdentity400 => (
                "duplicate-identity-400",
                "errors",
                "a duplicate identity is refused with 400 instead of 409 (409 is unconfirmed)",
            ),
            MissingIdentity50204 => (
                "missing-identity-50204",
                "errors",
                "create without `Identity` is refused with code 50204 (Identity not provided) instead of 20001",
            ),
            PageSizeClamped => (
                "page-size-clamped",
                "pagination",
                "an out-of-range `PageSize` is clamped into bounds instead of refused (the answer is unconfirmed)",
            ),
            AttributesCanonical => (
                "attributes-canonical",
                "format",
                "`attributes` re-serialized compactly, keys sorted, numbers in a canonical form of the same exact value (`1E+2` is `100`)",
            ),
            UnknownService403 => (
                "unknown-service-403",
                "errors",
                "a service sid that names no service is answered 403 (code 20403) instead of 404 (the documentation says neither)",
            ),
            AttributesOtherCode => (
                "attributes-other-code",
                "errors",
                "an invalid `Attributes` is refused with 400 and code 50001 instead of 20001 (Twilio's code is unknown)",
            ),
            WebhookHeaderIgnored => (
                "webhook-header-ignored",
                "errors",
                "an `X-Twilio-Webhook-Enabled` value other than `true` or `false` is ignored instead of refused (the documentation lists the values, not what happens to others)",
            ),
            SharedDefaultRole => (
                "shared-default-role",
                "sid",
                "every service's default role is one role, the first service's",
            ),
        }
    }
}

impl fmt::Display for Freedom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Freedom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Freedom::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown freedom `{s}`: `convcheck freedoms` lists them"))
    }
}

/// Parses `--freedom` values: names, or `all` for every freedom.
pub fn parse_all(names: &[String]) -> Result<Vec<Freedom>, String> {
    let mut out = BTreeSet::new();
    for n in names {
        if n == "all" {
            out.extend(Freedom::ALL);
        } else {
            out.insert(n.parse::<Freedom>()?);
        }
    }
    Ok(out.into_iter().collect())
}

/// The set of freedoms switched on; empty for the reference behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freedoms(BTreeSet<Freedom>);

impl Freedoms {
    /// Whether `freedom` is on.
    pub fn has(&self, freedom: Freedom) -> bool {
        self.0.contains(&freedom)
    }

    /// Whether no freedom is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The freedoms switched on.
    pub fn iter(&self) -> impl Iterator<Item = Freedom> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Freedom> for Freedoms {
    fn from_iter<I: IntoIterator<Item = Freedom>>(iter: I) -> Self {
        Freedoms(iter.into_iter().collect())
    }
}

/// The `convcheck freedoms` listing: `name  category  description`, padded to columns.
pub fn listing() -> String {
    let width = Freedom::ALL
        .iter()
        .map(|f| f.name().len())
        .max()
        .unwrap_or(0);
    let cat_width = Freedom::ALL
        .iter()
        .map(|f| f.category().len())
        .max()
        .unwrap_or(0);
    Freedom::ALL
        .iter()
        .map(|f| {
            format!(
                "{:width$}  {:cat_width$}  {}\n",
                f.name(),
                f.category(),
                f.description()
            )
        })
        .collect()
}

/// The freedoms that change an answer after the handler built it: headers, layout, extra
/// fields, chunking. (Gzip is a layer around the router; the others act in the handlers.)
pub(super) async fn shape(response: Response, freedoms: &Freedoms) -> Response {
    if freedoms.is_empty() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    if freedoms.has(ExtraHeaders) {
        let h = &mut parts.headers;
        h.insert("twilio-request-id", HeaderValue::from_static(REQUEST_ID));
        h.insert("x-home-region", HeaderValue::from_static("us1"));
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    if json
        && (freedoms.has(ExtraFields) || freedoms.has(JsonLayout))
        && let Ok(mut v) = serde_json::from_slice::<Value>(&bytes)
    {
        if freedoms.has(ExtraFields) {
            add_extra_fields(&mut v);
        }
        let text = if freedoms.has(JsonLayout) {
            serde_json::to_string_pretty(&reversed(&v))
        } else {
            serde_json::to_string(&v)
        };
        bytes = Bytes::from(text.unwrap_or_default());
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    if json && freedoms.has(MediaTypeParams) {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    let body = if freedoms.has(Chunked) && !bytes.is_empty() {
        parts.headers.remove(header::CONTENT_LENGTH);
        Body::new(Unsized(Some(bytes)))
    } else {
        Body::from(bytes)
    };
    Response::from_parts(parts, body)
}

/// A request id in Twilio's header, fixed: nothing may depend on it.
const REQUEST_ID: &str = "RQ00000000000000000000000000000000";

/// Adds fields no schema documents: to an error body, a page (top level, `meta`, each item)
/// or a resource.
fn add_extra_fields(v: &mut Value) {
    let Value::Object(m) = v else { return };
    if m.contains_key("code") && m.contains_key("more_info") {
        m.insert("x_request_id".into(), Value::from(REQUEST_ID));
        return;
    }
    if let Some(Value::Object(meta)) = m.get_mut("meta") {
        meta.insert("x_total_hint".into(), Value::Null);
        for item in m.values_mut().filter_map(Value::as_array_mut).flatten() {
            add_extra_fields(item);
        }
        m.insert("x_served_by".into(), Value::from("convcheck"));
        return;
    }
    m.insert("x_region".into(), Value::from("us1"));
}

/// A body of known bytes that does not tell its size, so hyper sends it chunked.
struct Unsized(Option<Bytes>);

impl HttpBody for Unsized {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }
}

/// `value` with every object's keys in reverse order, recursively.
pub fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reversed(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_unique() {
        let mut seen = BTreeSet::new();
        for f in Freedom::ALL {
            assert_eq!(f.name().parse::<Freedom>(), Ok(f));
            assert!(seen.insert(f.name()), "duplicate name `{}`", f.name());
            assert!(!f.description().ends_with('.'), "{}", f.name());
        }
        assert!(
            Freedom::ALL
                .iter()
                .all(|f| f.name().parse::<super::super::Fault>().is_err()),
            "a freedom and a fault share a name"
        );
    }

    #[test]
    fn all_switches_on_every_freedom_and_unknown_names_point_at_the_listing() {
        assert_eq!(parse_all(&["all".into()]).unwrap(), Freedom::ALL.to_vec());
        assert_eq!(
            parse_all(&["gzip".into(), "gzip".into()]).unwrap(),
            vec![Gzip]
        );
        let e = parse_all(&["nope".into()]).unwrap_err();
        assert!(
            e.contains("`nope`") && e.contains("convcheck freedoms"),
            "{e}"
        );
        assert_eq!(listing().lines().count(), Freedom::ALL.len());
    }

    #[test]
    fn readme_lists_every_freedom() {
        let readme = include_str!("../../README.md");
        for f in Freedom::ALL {
            assert!(
                readme.contains(&format!("| `{}` |", f.name())),
                "README.md does not list `{}`",
                f.name()
            );
        }
        assert!(readme.contains("| `convcheck freedoms` |"));
    }

    #[test]
    fn reversed_reverses_every_object() {
        let v = serde_json::json!({"a": 1, "b": {"c": 2, "d": [{"e": 3, "f": 4}]}});
        assert_eq!(
            serde_json::to_string(&reversed(&v)).unwrap(),
            r#"{"b":{"d":[{"f":4,"e":3}],"c":2},"a":1}"#
        );
    }
}
