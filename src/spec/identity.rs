//! The sid-or-identity rule and the encoding of an identity as one URL path segment.
//!
//! The documentation says the `{Sid}` path value "can be either the sid or the identity".
//! Twilio refuses identities shaped like a user SID (error 50206), so the two never collide:
//! a value matching `^US[0-9a-fA-F]{32}$` is a SID and anything else is an identity.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::sid::SidKind;

/// What a `{Sid}` path value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A user SID (`US` and 32 hex digits).
    Sid,
    /// An application-defined identity.
    Identity,
}

/// Classifies a decoded `{Sid}` path value.
pub fn classify(value: &str) -> Lookup {
    if SidKind::User.matches(value) {
        Lookup::Sid
    } else {
        Lookup::Identity
    }
}

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded, so the
/// reserved characters the documentation lists, space, `+`, `%` and non-ASCII all travel as
/// `%XX` and the value stays one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether `value` can travel as one path segment at all. `""` names the collection, and
/// `"."` and `".."` are dot-segments: WHATWG URL parsers (the `url` crate, hence reqwest)
/// remove them even percent-encoded (`%2E`, `%2e`), and RFC 3986 normalisation decodes `%2E`
/// back to `.`. Such an identity cannot be looked up by path; callers must check first.
pub fn addressable(value: &str) -> bool {
    !matches!(value, "" | "." | "..")
}

/// Encodes `value` as one RFC 3986 path segment (UTF-8, percent-encoded). Only meaningful
/// for an [`addressable`] value: `"."` and `".."` come out as `%2E` and `%2E%2E`, which URL
/// parsers still collapse.
pub fn encode_segment(value: &str) -> String {
    let encoded = utf8_percent_encode(value, SEGMENT).to_string();
    // Encoded dots at least survive servers that only collapse literal dot-segments.
    match encoded.as_str() {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => encoded,
    }
}

/// Decodes one path segment exactly once. `+` stays `+` (it means a space only in forms).
/// Returns `None` when the bytes are not UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The characters the documentation asks users to avoid in identities and friendly names.
pub const RESERVED: [char; 19] = [
    '!', '*', '\'', '(', ')', ';', ':', '@', '&', '=', '+', '$', ',', '/', '?', '%', '#', '[', ']',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_follows_the_user_sid_shape() {
        assert_eq!(classify("US0123456789abcdef0123456789abcdef"), Lookup::Sid);
        assert_eq!(classify("US0123456789ABCDEF0123456789ABCDEF"), Lookup::Sid);
        for identity in [
            "alice",
            "us0123456789abcdef0123456789abcdef",
            "US0123456789abcdef0123456789abcde",
            "US0123456789abcdef0123456789abcdef0",
            "AC0123456789abcdef0123456789abcdef",
            "US0123456789abcdef0123456789abcdeg",
            "",
            "US",
        ] {
            assert_eq!(classify(identity), Lookup::Identity, "{identity}");
        }
    }

    #[test]
    fn encodes_reserved_space_plus_percent_and_unicode() {
        assert_eq!(encode_segment("a b"), "a%20b");
        assert_eq!(encode_segment("a+b"), "a%2Bb");
        assert_eq!(encode_segment("100%"), "100%25");
        assert_eq!(encode_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(
            encode_segment("jürgen@example.com"),
            "j%C3%BCrgen%40example.com"
        );
        assert_eq!(encode_segment("."), "%2E");
        assert_eq!(encode_segment(".."), "%2E%2E");
        for c in RESERVED {
            let e = encode_segment(&c.to_string());
            assert!(e.starts_with('%') && e.len() == 3, "{c} -> {e}");
        }
    }

    #[test]
    fn dots_and_empty_are_not_addressable() {
        for v in ["", ".", ".."] {
            assert!(!addressable(v), "{v:?}");
        }
        for v in ["...", ". ", "a.", "US", " "] {
            assert!(addressable(v), "{v:?}");
        }
    }

    #[test]
    fn decode_keeps_plus() {
        assert_eq!(decode_segment("a+b%20c").as_deref(), Some("a+b c"));
        assert_eq!(decode_segment("%FF"), None);
    }
}
