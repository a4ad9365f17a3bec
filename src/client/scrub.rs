//! Scrubbing: every form a credential can take, removed from whatever a target sends back and
//! from everything convcheck writes or prints.
//!
//! The client never puts a credential into an [`Exchange`](crate::check::Exchange), but a
//! target can echo one: a debugging proxy that copies the `Authorization` header into a body,
//! a mock that reflects the request. So the client scrubs every answer before anything else
//! sees it, and the writers (reports, snapshots, the terminal) pass their text through
//! [`scrub`] once more, whatever its source.

use std::sync::{OnceLock, RwLock};

use base64::Engine;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// What a credential is replaced with.
pub const MARK: &str = "[redacted]";

/// Secrets shorter than this are scrubbed only in their Basic (base64 `user:secret`) forms:
/// their raw text would match ordinary words.
const MIN_RAW: usize = 6;

/// The forms of the credentials of a run, longest first (so a longer form is replaced whole
/// before a shorter one inside it could be).
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    needles: Vec<String>,
    /// Every form at once: one pass over a body tells whether any form is there at all, where
    /// a search per form took twenty passes over every answer a run reads.
    finder: Option<aho_corasick::AhoCorasick>,
}

impl Scrubber {
    /// Every form of `secret` (sent as HTTP Basic with `user`): raw, percent-encoded and
    /// form-encoded, JSON-escaped, and base64 of `user:secret` and of the secret alone (standard
    /// and URL-safe alphabets, padded or not, percent-encoded, JSON-escaped).
    pub fn new(user: &str, secret: &str) -> Scrubber {
        let mut forms: Vec<String> = Vec::new();
        let b64 = |raw: &str| {
            let std = base64::engine::general_purpose::STANDARD.encode(raw);
            let url = base64::engine::general_purpose::URL_SAFE.encode(raw);
            [
                std.trim_end_matches('=').to_owned(),
                std.clone(),
                url.trim_end_matches('=').to_owned(),
                url,
            ]
        };
        let mut encoded: Vec<String> = b64(&format!("{user}:{secret}")).to_vec();
        if secret.len() >= MIN_RAW {
            encoded.extend(b64(secret));
            forms.push(secret.to_owned());
            forms.push(utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string());
            forms.push(form_urlencoded::byte_serialize(secret.as_bytes()).collect());
            forms.push(json_escaped(secret));
        }
        for e in encoded {
            forms.push(utf8_percent_encode(&e, NON_ALPHANUMERIC).to_string());
            forms.push(e.replace('/', "\\/"));
            forms.push(e);
        }
        Scrubber::of(forms)
    }

    /// A scrubber of `forms`, longest first.
    fn of(mut forms: Vec<String>) -> Scrubber {
        forms.retain(|f| !f.is_empty());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        forms.dedup();
        let finder = (!forms.is_empty())
            .then(|| aho_corasick::AhoCorasick::new(&forms).ok())
            .flatten();
        Scrubber {
            needles: forms,
            finder,
        }
    }

    /// Adds another scrubber's forms.
    pub fn extend(&mut self, other: &Scrubber) {
        let mut forms = std::mem::take(&mut self.needles);
        forms.extend(other.needles.iter().cloned());
        *self = Scrubber::of(forms);
    }

    /// Whether `bytes` may hold a form: false means surely not.
    fn may_hold(&self, bytes: &[u8]) -> bool {
        match &self.finder {
            Some(f) => f.is_match(bytes),
            None => !self.needles.is_empty(),
        }
    }

    /// Whether `text` holds any form.
    pub fn finds(&self, text: &str) -> bool {
        self.may_hold(text.as_bytes()) && self.needles.iter().any(|n| text.contains(n.as_str()))
    }

    /// `text` with every form replaced by [`MARK`].
    pub fn scrub(&self, text: &str) -> String {
        if !self.may_hold(text.as_bytes()) {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MARK);
            }
        }
        out
    }

    /// `bytes` with every form replaced by [`MARK`]; bytes that are not UTF-8 are scrubbed
    /// as bytes.
    pub fn scrub_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        if !self.may_hold(bytes) {
            return bytes.to_vec();
        }
        if let Ok(text) = std::str::from_utf8(bytes) {
            return self.scrub(text).into_bytes();
        }
        let mut out = bytes.to_vec();
        for n in &self.needles {
            out = replace_bytes(&out, n.as_bytes(), MARK.as_bytes());
        }
        out
    }
}

fn json_escaped(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || hay.len() < needle.len() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

fn global() -> &'static RwLock<Scrubber> {
    static GLOBAL: OnceLock<RwLock<Scrubber>> = OnceLock::new();
    GLOBAL.get_or_init(RwLock::default)
}

/// Registers a credential with the process-wide scrubber that [`scrub`] applies.
pub fn register(s: &Scrubber) {
    global()
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .extend(s);
}

/// `text` with every credential this process knows replaced by [`MARK`]: the last pass of
/// everything written to a file, stdout or stderr.
pub fn scrub(text: &str) -> String {
    global()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .scrub(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_scrubbed() {
        let user = "AC0123456789abcdef0123456789abcdef";
        let secret = "s3cr3t/t+ken=with\"odd chars";
        let s = Scrubber::new(user, secret);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        let forms = [
            secret.to_owned(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            json_escaped(secret),
            format!("Basic {basic}"),
            basic.replace('/', "\\/"),
            utf8_percent_encode(&basic, NON_ALPHANUMERIC).to_string(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{user}:{secret}")),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ];
        for f in forms {
            let text = format!("{{\"echo\": \"x{f}y\"}}");
            let out = s.scrub(&text);
            assert!(!s.finds(&out), "{f} left in {out}");
            assert!(out.contains(MARK), "{f}: {out}");
            assert!(
                out.starts_with("{\"echo\": \"x") && out.ends_with("y\"}"),
                "{out}"
            );
        }
        assert_eq!(s.scrub("nothing to see"), "nothing to see");
    }

    #[test]
    fn short_secrets_are_scrubbed_in_their_basic_form_only() {
        let s = Scrubber::new("AC1", "t");
        assert_eq!(s.scrub("the text"), "the text");
        let basic = base64::engine::general_purpose::STANDARD.encode("AC1:t");
        assert_eq!(s.scrub(&format!("Basic {basic}")), format!("Basic {MARK}"));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_scrubbed_too() {
        let s = Scrubber::new("AC1", "hunter2-secret");
        let mut body = vec![0xff, b'x'];
        body.extend_from_slice(b"hunter2-secret");
        body.push(0xfe);
        let out = s.scrub_bytes(&body);
        assert_eq!(out, [&[0xff, b'x'][..], MARK.as_bytes(), &[0xfe]].concat());
    }
}
