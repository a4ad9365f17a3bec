//! Named, legitimate variations the emulator can switch on: what a *correct* server may do
//! differently from the reference emulator and still follow the contract. They mirror the
//! faults ([`super::faults`]): a fault must make some check fail, a freedom must make none
//! fail (the mutation matrix proves both), so the harness is shown to be precise as well as
//! sensitive.

use std::collections::{BTreeMap, BTreeSet};
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
}

use Freedom::*;

impl Freedom {
    /// Every freedom, in the order `convcheck freedoms` lists them.
    pub const ALL: [Freedom; 14] = [
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

/// `text`, a JSON text, re-serialized for the `attributes-canonical` freedom: compact, every
/// object's keys sorted (a key given twice keeps its last value, as JSON readers take it),
/// every number in [`canonical_number`]'s form and every string escaped only where JSON
/// requires it. The same JSON value, never a rounded one: numbers are rewritten on their text
/// (read by `crate::json`, which keeps it), not read into doubles. `None` when `text` is not
/// JSON, or holds an exponent beyond `i64`.
pub(super) fn canonical_json(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    canonical(&crate::json::parse(text).ok()?, &mut out)?;
    Some(out)
}

fn canonical(v: &crate::json::Json, out: &mut String) -> Option<()> {
    use crate::json::Json;
    match v {
        Json::Obj(members) => {
            let sorted: BTreeMap<&str, &Json> =
                members.iter().map(|(k, v)| (k.as_str(), v)).collect();
            out.push('{');
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).ok()?);
                out.push(':');
                canonical(value, out)?;
            }
            out.push('}');
        }
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out)?;
            }
            out.push(']');
        }
        Json::Num(n) => out.push_str(&canonical_number(n)?),
        other => out.push_str(&other.render()),
    }
    Some(())
}

/// A JSON number literal written in canonical form, of exactly its decimal value: no `+`, no
/// leading zeros, no trailing zeros after a decimal point, the sign of a negative zero kept;
/// written out in full when it is an integer that ends in fewer than 21 zeros (so integers of
/// any length keep every digit) or a fraction whose first significant digit is fewer than 7
/// places after the point, and otherwise as one digit, the others after a point, and `e` with
/// the exponent (`1E+2` is `100`, `1.50` is `1.5`, `0.10e1` is `1`, `-0.0` is `-0`, `1e400`
/// stays `1e400`, `0.00000010` is `1e-7`). `None` when it is no number or its exponent is
/// beyond `i64`.
fn canonical_number(literal: &str) -> Option<String> {
    let (sign, unsigned) = match literal.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The value is `digits` × 10^`exponent`, `digits` without leading or trailing zeros.
    let all = format!("{int}{frac}");
    let significant = all.trim_start_matches('0');
    let digits = significant.trim_end_matches('0');
    let dropped = i64::try_from(significant.len() - digits.len()).ok()?;
    let exponent = exponent
        .checked_sub(i64::try_from(frac.len()).ok()?)?
        .checked_add(dropped)?;
    if digits.is_empty() {
        return Some(format!("{sign}0"));
    }
    // Where the decimal point falls: after this many of `digits` (before them when negative).
    let point = i64::try_from(digits.len()).ok()?.checked_add(exponent)?;
    Some(if (0..21).contains(&exponent) {
        format!(
            "{sign}{digits}{}",
            "0".repeat(usize::try_from(exponent).ok()?)
        )
    } else if exponent < 0 && point > 0 {
        let (whole, part) = digits.split_at(usize::try_from(point).ok()?);
        format!("{sign}{whole}.{part}")
    } else if exponent < 0 && point > -6 {
        let zeros = "0".repeat(usize::try_from(-point).ok()?);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let (first, others) = digits.split_at(1);
        let dot = if others.is_empty() { "" } else { "." };
        format!("{sign}{first}{dot}{others}e{}", point.checked_sub(1)?)
    })
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
    fn canonical_numbers_keep_their_exact_value() {
        for (literal, canonical) in [
            ("0", "0"),
            ("-0", "-0"),
            ("-0.0", "-0"),
            ("0e-5", "0"),
            ("1E+2", "100"),
            ("1.50", "1.5"),
            ("0.10e1", "1"),
            ("100", "100"),
            ("1e20", "100000000000000000000"),
            ("1e21", "1e21"),
            ("1e400", "1e400"),
            ("-2E+999", "-2e999"),
            ("123.456", "123.456"),
            ("0.000001", "0.000001"),
            ("0.00000010", "1e-7"),
            ("1.5e-300", "1.5e-300"),
            ("12.5e-1", "1.25"),
            ("-12345e-2", "-123.45"),
            ("18446744073709551617", "18446744073709551617"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("0.1234567890123456789", "0.1234567890123456789"),
        ] {
            assert_eq!(
                canonical_number(literal).as_deref(),
                Some(canonical),
                "{literal}"
            );
        }
        assert_eq!(canonical_number("1e99999999999999999999"), None);
    }

    #[test]
    fn canonical_json_sorts_keys_and_keeps_strings() {
        assert_eq!(
            canonical_json(r#" {"b" : 1E+2, "a":[1.50, -0.0, {}, []], "c":"x"} "#).as_deref(),
            Some(r#"{"a":[1.5,-0,{},[]],"b":100,"c":"x"}"#)
        );
        // Escapes only where JSON needs them; the same characters either way.
        assert_eq!(
            canonical_json(r#"{"s":"\u00e9\/\"\\\n\u0001","é":true,"":null,"e":false}"#).as_deref(),
            Some("{\"\":null,\"e\":false,\"s\":\"é/\\\"\\\\\\n\\u0001\",\"é\":true}")
        );
        // A key given twice keeps its last value.
        assert_eq!(
            canonical_json(r#"{"k":1,"k":2}"#).as_deref(),
            Some(r#"{"k":2}"#)
        );
        for bad in ["", "{", "{\"a\":}", "[1,]", "{} {}", "tru", "{\"a\" 1}"] {
            assert_eq!(canonical_json(bad), None, "{bad}");
        }
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
