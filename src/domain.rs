//! The documented domain of every parameter of the User resource, as proptest strategies.
//!
//! The documentation says little about what `Identity` and `FriendlyName` may hold: strings,
//! case-sensitive, "avoid" the URI-reserved characters `! * ' ( ) ; : @ & = + $ , / ? % # [ ]`.
//! `Attributes` is "the JSON Object string", `RoleSid` matches `^RL[0-9a-fA-F]{32}$`, and
//! `PageSize` is an integer from 1 to a maximum (1000 in the documentation, 50 in the OpenAPI
//! description since June 2025). So the strategies here draw from all of it, weighted so that
//! each family a server might mishandle (reserved characters, escapes routers and databases
//! treat specially, Latin-1, other scripts, astral characters, combining marks, right-to-left
//! and zero-width characters, long values) shows up often, and shrink towards short ASCII.
//! [`is_plain`] marks the part every conforming server must accept; outside it a server may
//! refuse a value with Twilio's error body, but never store an altered one.
//!
//! The negative domains (`sid_shaped_identity`, `malformed_role_sid`,
//! `attributes_not_object`, `page_size_out_of_bounds`) hold values a server must refuse.
//!
//! Pure: no I/O. Identity tails are drawn without the run's namespace, which the caller
//! prepends, so a tail never starts an identity.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value};

use crate::spec::SidKind;

/// The characters RFC 3986 reserves, which the documentation asks users to avoid in
/// identities and friendly names.
pub const RESERVED: &str = "!*'();:@&=+$,/?%#[]";

/// The longest value [`is_plain`] accepts, in characters.
pub const PLAIN_MAX: usize = 40;

/// Text that routers, URL decoders, databases and templates treat specially.
const SPECIAL: &[&str] = &[
    "\\",
    "\"",
    "'",
    "%",
    "_",
    "..",
    "%2F",
    "%2f",
    "+",
    "%20",
    "%25",
    "%00",
    "%zz",
    "../",
    "./",
    "%2e%2e",
    "%252F",
    "*",
    "' OR '1'='1",
    "--",
    "%_",
    "\\n",
    "\\u0000",
    "{}",
    "${x}",
    "<>",
    "`",
    "~",
    "|",
    "^",
    "\u{2028}",
    "\u{2029}",
];

/// Decomposed sequences that NFC normalization composes (so a normalizing server changes
/// them), and compatibility characters NFC maps to others.
const DECOMPOSED: &[&str] = &[
    "e\u{301}",
    "cafe\u{301}",
    "re\u{301}sume\u{301}",
    "a\u{308}",
    "n\u{303}",
    "c\u{327}",
    "A\u{30A}",
    "o\u{302}\u{323}",
    "\u{212B}",
    "\u{2126}",
];

/// Right-to-left letters and the bidirectional controls that are not control characters.
const RTL: &[&str] = &[
    "\u{200F}",
    "\u{5E9}\u{5DC}\u{5D5}\u{5DD}\u{200F}",
    "\u{200F}abc",
    "\u{200E}",
    "\u{202E}",
    "\u{2067}",
    "\u{5E9}\u{5DC}\u{5D5}\u{5DD}",
    "\u{645}\u{631}\u{62D}\u{628}\u{627}",
    "abc\u{202E}fed",
];

/// Characters that print as nothing.
const ZERO_WIDTH: &[char] = &[
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}', '\u{2060}', '\u{180E}', '\u{034F}',
];

/// Emoji sequences built with joiners, skin tones and regional indicators.
const EMOJI: &[&str] = &[
    "\u{1F469}\u{200D}\u{1F4BB}",
    "\u{1F44D}\u{1F3FD}",
    "\u{1F1EB}\u{1F1F7}",
    "\u{2764}\u{FE0F}",
];

/// Scripts of the Basic Multilingual Plane beyond Latin-1: Greek, Cyrillic, Devanagari,
/// Thai, Hiragana, CJK, Hangul, fullwidth ASCII, Latin ligatures.
const BMP_SCRIPTS: &[RangeInclusive<char>] = &[
    '\u{391}'..='\u{3C9}',
    '\u{410}'..='\u{44F}',
    '\u{905}'..='\u{939}',
    '\u{E01}'..='\u{E2E}',
    '\u{3041}'..='\u{3096}',
    '\u{4E00}'..='\u{9FFF}',
    '\u{AC00}'..='\u{D7A3}',
    '\u{FF01}'..='\u{FF5E}',
    '\u{FB00}'..='\u{FB06}',
];

/// Astral planes: emoticons, CJK Extension B, mathematical alphanumerics, and all of them.
const ASTRAL: &[RangeInclusive<char>] = &[
    '\u{1F600}'..='\u{1F64F}',
    '\u{20000}'..='\u{2A6DF}',
    '\u{1D400}'..='\u{1D7FF}',
    '\u{10000}'..='\u{10FFFF}',
];

const ALNUM: &[RangeInclusive<char>] = &['a'..='z', 'A'..='Z', '0'..='9'];

/// Suffixes [`relate`] appends for [`Relation::Extension`] (the last choice doubles `base`).
const EXTENSIONS: &[&str] = &[
    "a",
    "0",
    " ",
    "  ",
    "-",
    "_",
    ".",
    "\u{301}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{E9}",
    "\u{1F600}",
    "%",
    "/",
    "?x",
    "#",
    "A",
    // Hierarchical keys: a separator and a segment, as sub-keys of the base would be named.
    "-1",
    "_a",
    ".x",
    ":y",
    "/z",
];

/// Characters [`relate`] inserts for a [`Relation::NearMiss`].
const INSERTS: &[char] = &[
    'a',
    '0',
    ' ',
    '_',
    '.',
    '\u{200B}',
    '\u{301}',
    '\u{E9}',
    '\u{1F600}',
    '/',
];

/// Replacements [`relate`] tries, in order, for a substituted character of a near miss.
const SUBSTITUTES: &[char] = &['a', 'b', ' ', '\u{200B}', 'e', '\u{E9}', '_', '-', '0'];

/// Markup and template syntax a display name may carry.
const MARKUP: &[&str] = &[
    "<b>bold</b>",
    "<i>",
    "&amp;",
    "&lt;b&gt;",
    "&#39;",
    "&quot;",
    "\"quoted\"",
    "'single'",
    "John \"Johnny\" O'Brien",
    "Tom & Jerry",
    "a<b>c",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</textarea>",
    "<!-- -->",
    "]]>",
    "{{7*7}}",
    "=1+1",
];

/// Object keys JavaScript, MongoDB and dotted-path code treat specially.
const SPECIAL_KEYS: &[&str] = &[
    "__proto__",
    "constructor",
    "prototype",
    "toString",
    "hasOwnProperty",
    "$where",
    "$set",
    "a.b",
    "",
    " ",
    "duty",
];

fn chars_in(ranges: &'static [RangeInclusive<char>]) -> BoxedStrategy<String> {
    proptest::char::ranges(Cow::Borrowed(ranges))
        .prop_map(String::from)
        .boxed()
}

fn one_of(texts: &'static [&'static str]) -> BoxedStrategy<String> {
    select(texts).prop_map(String::from).boxed()
}

/// Any character but a control character (C0, DEL, C1).
fn non_control() -> BoxedStrategy<char> {
    any::<char>()
        .prop_filter("control characters stay out of the domain", |c| {
            !c.is_control()
        })
        .boxed()
}

/// One piece of a tail: a family of characters, simple ASCII first so shrinking ends there.
fn piece() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "[a-zA-Z0-9]{1,8}",
        3 => " {1,2}",
        3 => "[!*'();:@&=+$,/?%#\\[\\]]{1,4}",
        1 => Just(RESERVED.to_string()),
        3 => one_of(SPECIAL),
        2 => proptest::char::range('\u{A0}', '\u{FF}').prop_map(String::from),
        2 => chars_in(BMP_SCRIPTS),
        2 => prop_oneof![chars_in(ASTRAL), one_of(EMOJI)],
        2 => prop_oneof![
            one_of(DECOMPOSED),
            (proptest::char::range('a', 'z'), proptest::char::range('\u{300}', '\u{36F}'))
                .prop_map(|(a, m)| format!("{a}{m}")),
        ],
        2 => prop_oneof![
            one_of(RTL),
            proptest::char::range('\u{5D0}', '\u{5EA}').prop_map(String::from),
            proptest::char::range('\u{627}', '\u{64A}').prop_map(String::from),
        ],
        2 => select(ZERO_WIDTH).prop_map(String::from),
        2 => non_control().prop_map(String::from),
    ]
    .boxed()
}

/// A long value: 100 to 300 characters, mostly ASCII with spaces and any other character.
fn long_tail() -> BoxedStrategy<String> {
    let c = prop_oneof![
        6 => proptest::char::ranges(Cow::Borrowed(ALNUM)),
        1 => Just(' '),
        2 => non_control(),
    ];
    vec(c, 100..=300)
        .prop_map(|cs| cs.into_iter().collect())
        .boxed()
}

/// The tail of a valid identity: the part after the run's namespace.
///
/// Never empty, never a control character (U+0000–U+001F, U+007F–U+009F); everything else
/// in Unicode may appear, spaces included at the end. Shrinks towards short ASCII.
pub fn identity_tail() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z0-9]{1,12}",
        2 => "[a-zA-Z0-9_.-]{1,16}",
        12 => vec(piece(), 1..=6).prop_map(|p| p.concat()),
        3 => (vec(piece(), 0..=4), " {1,3}").prop_map(|(p, s)| p.concat() + &s),
        1 => long_tail(),
    ]
    .boxed()
}

/// Whether a value stays inside the plain domain that every conforming server must accept:
/// ASCII letters, digits and `-_.`, at most 40 chars. Outside it (reserved characters, non-ASCII,
/// control characters, very long values) the documentation is silent, so a server may refuse
/// it with Twilio's error body (but never store an altered value).
///
/// The empty string is not plain: an empty identity is a missing one, and the documentation
/// says nothing of an empty friendly name.
pub fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= PLAIN_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// How a tail drawn by [`relate`] stands to its base.
///
/// Besides the plain edits (a prefix, an extension, a case variant, one character changed,
/// inserted or removed), one family per matching engine that a server may put between a
/// lookup value and its store by mistake: each family's variants hold that engine's
/// metacharacters where the base holds ordinary characters, so that the engine, and only the
/// engine, finds the base with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    /// A strict, non-empty prefix of the base.
    Prefix,
    /// The base followed by something more.
    Extension,
    /// The base with other letter case, equal to it under Unicode lowercase.
    CaseVariant,
    /// The base with one character changed, inserted or removed.
    NearMiss,
    /// SQL `LIKE` wildcards: `_` for one character, `%` for a run (or for nothing).
    Like,
    /// Glob wildcards: `?`, `*`, a `[…]` class holding the character, `[!…]` one that does not
    /// exclude it.
    Glob,
    /// Regular-expression syntax: `.`, `.*`, a `[…]` class, `?` or `+` after a character, `\w`.
    Regex,
    /// Characters that Unicode case folding or NFKC compatibility folding maps onto the
    /// base's: fullwidth letters and digits, the Kelvin sign, the long s, `ß` for `ss`, the
    /// `ﬁ` ligature.
    Fold,
    /// An accent added to a letter, or taken off one (precomposed or combining).
    Accent,
    /// Padding a comparison may ignore: trailing spaces, a no-break or ideographic space, a
    /// zero-width space.
    Pad,
}

impl Relation {
    /// Every relation, in a fixed order.
    pub const ALL: [Relation; 10] = [
        Relation::Prefix,
        Relation::Extension,
        Relation::CaseVariant,
        Relation::NearMiss,
        Relation::Like,
        Relation::Glob,
        Relation::Regex,
        Relation::Fold,
        Relation::Accent,
        Relation::Pad,
    ];

    /// The kebab-case name coverage and messages use.
    pub fn label(self) -> &'static str {
        match self {
            Relation::Prefix => "prefix",
            Relation::Extension => "extension",
            Relation::CaseVariant => "case-variant",
            Relation::NearMiss => "near-miss",
            Relation::Like => "like",
            Relation::Glob => "glob",
            Relation::Regex => "regex",
            Relation::Fold => "fold",
            Relation::Accent => "accent",
            Relation::Pad => "pad",
        }
    }

    /// Whether the family stands for a matching engine (as opposed to a plain edit).
    pub fn is_engine(self) -> bool {
        !matches!(
            self,
            Relation::Prefix | Relation::Extension | Relation::CaseVariant | Relation::NearMiss
        )
    }
}

/// Any [`Relation`], each as likely as the others.
pub fn relation() -> BoxedStrategy<Relation> {
    select(Relation::ALL.to_vec()).boxed()
}

/// A tail related to `base` (a prefix of it, an extension of it, a case variant of it, a
/// near-miss: one char changed, inserted or removed; or one of the matching engines'
/// variants, see [`Relation`]), never equal to `base`; `salt` chooses among the variants
/// deterministically. None when no such variant exists (a case variant of a tail without
/// cased letters; a prefix of a one-char tail; a fold of a tail with nothing to fold).
///
/// Also None for an empty `base`, which is not a tail. The result is never empty and holds
/// no control character that `base` does not hold.
pub fn relate(base: &str, relation: Relation, salt: u32) -> Option<String> {
    let chars: Vec<char> = base.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let salt = salt as usize;
    // An engine's variant can come out as the base itself (a `%` put where the base has
    // one): the next variants are tried then.
    (0..8).find_map(|k| {
        let salt = salt.wrapping_add(k);
        let out = match relation {
            Relation::Prefix => prefix(&chars, salt),
            Relation::Extension => Some(extension(base, salt)),
            Relation::CaseVariant => case_variant(base, &chars, salt),
            Relation::NearMiss => Some(near_miss(&chars, salt)),
            Relation::Like => Some(like(&chars, salt)),
            Relation::Glob => Some(glob(&chars, salt)),
            Relation::Regex => Some(regex_variant(&chars, salt)),
            Relation::Fold => fold(&chars, salt),
            Relation::Accent => accent(base, &chars, salt),
            Relation::Pad => Some(pad(base, salt)),
        }?;
        (out != base).then_some(out)
    })
}

/// A whole identity wrapped in a matching engine's syntax that still finds it there (`%id%`,
/// `*id*`, `^id$`, `(id)`, ` id`), for lookups only: the result does not start with the
/// identity, so it is never an identity a run creates. None for the plain edits and the
/// folds, which have no wrapper.
pub fn wrap(identity: &str, relation: Relation, salt: u32) -> Option<String> {
    let options: &[(&str, &str)] = match relation {
        Relation::Like => &[("%", "%"), ("%", "")],
        Relation::Glob => &[("*", "*"), ("*", "")],
        Relation::Regex => &[("^", "$"), ("(", ")"), ("(?:", ")"), (".*", "")],
        Relation::Pad => &[(" ", ""), ("\u{A0}", ""), (" ", " ")],
        _ => return None,
    };
    let (before, after) = options[salt as usize % options.len()];
    Some(format!("{before}{identity}{after}"))
}

/// One position of `chars`, chosen by `salt`.
fn at(chars: &[char], salt: usize) -> usize {
    salt % chars.len()
}

/// Replaces `chars[i..j]` with `with`.
fn splice(chars: &[char], i: usize, j: usize, with: &str) -> String {
    let mut s: String = chars[..i].iter().collect();
    s.push_str(with);
    s.extend(&chars[j..]);
    s
}

fn like(chars: &[char], salt: usize) -> String {
    let n = chars.len();
    let i = at(chars, salt / 4);
    match salt % 4 {
        0 => splice(chars, i, i + 1, "_"),
        1 => splice(chars, i, i + 1, "%"),
        2 => splice(chars, i, i, "%"),
        // The rest from a position on (at least one character kept before it when it can).
        _ => splice(chars, if n > 1 { 1 + i % (n - 1) } else { 0 }, n, "%"),
    }
}

/// A character that is not `c`, for a negated class.
fn other_than(c: char) -> char {
    if c == 'z' { 'y' } else { 'z' }
}

fn glob(chars: &[char], salt: usize) -> String {
    let n = chars.len();
    let i = at(chars, salt / 5);
    let c = chars[i];
    match salt % 5 {
        0 => splice(chars, i, i + 1, "?"),
        1 => splice(chars, i, i + 1, "*"),
        2 => splice(chars, i, i, "*"),
        3 => splice(chars, i, i + 1, &format!("[{c}]")),
        _ if c == ']' || c == '!' => splice(chars, i, n, "*"),
        _ => splice(chars, i, i + 1, &format!("[!{}]", other_than(c))),
    }
}

fn regex_variant(chars: &[char], salt: usize) -> String {
    let n = chars.len();
    let i = at(chars, salt / 6);
    let c = chars[i];
    match salt % 6 {
        0 => splice(chars, i, i + 1, "."),
        1 => splice(chars, if n > 1 { 1 + i % (n - 1) } else { 0 }, n, ".*"),
        2 => splice(chars, i, i, ".*"),
        3 if c.is_ascii_alphanumeric() || c == '_' => splice(chars, i, i + 1, "\\w"),
        3 | 4 => splice(chars, i + 1, i + 1, "?"),
        _ => splice(chars, i + 1, i + 1, "+"),
    }
}

/// The characters folding maps onto `c` (fullwidth forms, the Kelvin sign, the long s).
fn folds_of(c: char) -> Vec<char> {
    let mut out = Vec::new();
    if c.is_ascii_alphanumeric() {
        // The fullwidth forms: U+FF01..U+FF5E mirror U+0021..U+007E.
        if let Some(w) = char::from_u32(c as u32 + 0xFEE0) {
            out.push(w);
        }
    }
    match c {
        'k' | 'K' => out.push('\u{212A}'),
        's' | 'S' => out.push('\u{17F}'),
        _ => {}
    }
    out
}

fn fold(chars: &[char], salt: usize) -> Option<String> {
    let mut options: Vec<String> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        for f in folds_of(c) {
            options.push(splice(chars, i, i + 1, &f.to_string()));
        }
        let pair = |a: char, b: char| c == a && chars.get(i + 1) == Some(&b);
        if pair('s', 's') {
            options.push(splice(chars, i, i + 2, "\u{DF}"));
        }
        if pair('f', 'i') {
            options.push(splice(chars, i, i + 2, "\u{FB01}"));
        }
    }
    (!options.is_empty()).then(|| options.swap_remove(salt % options.len()))
}

/// The precomposed accented form of an ASCII letter, when there is a common one.
fn accented(c: char) -> Option<char> {
    let pairs = [
        ('a', '\u{E1}'),
        ('e', '\u{E9}'),
        ('i', '\u{ED}'),
        ('o', '\u{F3}'),
        ('u', '\u{FA}'),
        ('n', '\u{F1}'),
        ('c', '\u{E7}'),
        ('A', '\u{C1}'),
        ('E', '\u{C9}'),
        ('O', '\u{D3}'),
    ];
    pairs.iter().find(|(a, _)| *a == c).map(|(_, b)| *b)
}

fn accent(base: &str, chars: &[char], salt: usize) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let mut options: Vec<String> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if let Some(a) = accented(c) {
            options.push(splice(chars, i, i + 1, &a.to_string()));
        }
        if c.is_ascii_alphabetic() {
            options.push(splice(chars, i + 1, i + 1, "\u{301}"));
        }
    }
    // An accent taken off: the base letter of a decomposable character.
    let stripped: String = base
        .nfd()
        .filter(|c| !('\u{300}'..='\u{36F}').contains(c))
        .collect();
    if stripped != base && !stripped.is_empty() {
        options.push(stripped);
    }
    (!options.is_empty()).then(|| options.swap_remove(salt % options.len()))
}

fn pad(base: &str, salt: usize) -> String {
    const PADS: &[&str] = &[" ", "  ", "\u{A0}", "\u{3000}", "\u{200B}"];
    format!("{base}{}", PADS[salt % PADS.len()])
}

fn prefix(chars: &[char], salt: usize) -> Option<String> {
    let n = chars.len();
    if n < 2 {
        return None;
    }
    // One in four drops only the last character (a trailing space a server might trim).
    let len = if salt.is_multiple_of(4) {
        n - 1
    } else {
        1 + (salt / 4) % (n - 1)
    };
    Some(chars[..len].iter().collect())
}

fn extension(base: &str, salt: usize) -> String {
    match EXTENSIONS.get(salt % (EXTENSIONS.len() + 1)) {
        Some(suffix) => format!("{base}{suffix}"),
        None => base.repeat(2),
    }
}

/// The other case of one character, as text (several characters for `ß` and the like).
fn other_case(c: char) -> Option<String> {
    let flipped: String = if c.is_lowercase() {
        c.to_uppercase().collect()
    } else if c.is_uppercase() {
        c.to_lowercase().collect()
    } else {
        return None;
    };
    (flipped != c.to_string()).then_some(flipped)
}

fn case_variant(base: &str, chars: &[char], salt: usize) -> Option<String> {
    let lower = base.to_lowercase();
    let mut candidates = vec![
        base.to_uppercase(),
        chars
            .iter()
            .map(|&c| other_case(c).unwrap_or_else(|| c.to_string()))
            .collect::<String>(),
    ];
    for (i, &c) in chars.iter().enumerate() {
        if let Some(flipped) = other_case(c) {
            let mut s: String = chars[..i].iter().collect();
            s.push_str(&flipped);
            s.extend(&chars[i + 1..]);
            candidates.push(s);
        }
    }
    // Case mappings depend on context (a final sigma) and may change the length (`ß`), so
    // keep only what is really equal under lowercase and different from the base.
    candidates.retain(|s| s != base && s.to_lowercase() == lower);
    candidates.dedup();
    if candidates.is_empty() {
        return None;
    }
    let i = salt % candidates.len();
    Some(candidates.swap_remove(i))
}

fn near_miss(chars: &[char], salt: usize) -> String {
    let n = chars.len();
    let ops = if n < 2 { 2 } else { 3 };
    let rest = salt / 3;
    let mut out = chars.to_vec();
    match salt % 3 % ops {
        0 => {
            let i = rest % n;
            let c = chars[i];
            let neighbour = char::from_u32(c as u32 + 1).filter(|d| !d.is_control());
            let flipped = other_case(c).and_then(|s| {
                let mut it = s.chars();
                it.next().filter(|_| it.next().is_none())
            });
            let options: Vec<char> = flipped
                .into_iter()
                .chain(neighbour)
                .chain(SUBSTITUTES.iter().copied())
                .filter(|&d| d != c)
                .collect();
            out[i] = options[(rest / n) % options.len()];
        }
        1 => {
            let i = rest % (n + 1);
            out.insert(i, INSERTS[(rest / (n + 1)) % INSERTS.len()]);
        }
        _ => {
            out.remove(rest % n);
        }
    }
    out.into_iter().collect()
}

/// Strings that another type's parser would take: numbers with leading zeros, signs,
/// exponents and fractions, JSON and YAML literals, sids, dates in several formats. A store
/// that infers types (a column of numeric affinity, a `JSON.parse` attempt, a YAML loader)
/// changes them; they must come back as the same strings.
pub const TYPE_LOOKING: &[&str] = &[
    "0",
    "00123",
    "007",
    "123",
    "-1",
    "+7",
    "1e5",
    "1E5",
    "1.50",
    "1.0",
    "0.1",
    "0x1F",
    "1_000",
    "Infinity",
    "NaN",
    "true",
    "false",
    "True",
    "FALSE",
    "yes",
    "no",
    "on",
    "null",
    "NULL",
    "Null",
    "nil",
    "None",
    "undefined",
    "[]",
    "{}",
    "[1,2]",
    "{\"a\":1}",
    "2019-12-16T22:18:37Z",
    "2019-12-16",
    "2019-12-16 22:18:37",
    "Mon, 16 Dec 2019 22:18:37 GMT",
    "1576534717",
    "12:30",
];

/// A string shaped like another type (see `TYPE_LOOKING`), or like a sid.
pub fn type_looking() -> BoxedStrategy<String> {
    prop_oneof![
        6 => one_of(TYPE_LOOKING),
        1 => any::<u128>().prop_map(|n| SidKind::Role.from_u128(n)),
        1 => any::<u128>().prop_map(|n| SidKind::Service.from_u128(n)),
        1 => (0u64..=99_999_999_999).prop_map(|n| format!("{n:012}")),
    ]
    .boxed()
}

/// A friendly name: the identity alphabet (controls excluded), with leading spaces, markup
/// (`<b>`, `&amp;`, quotes, template syntax), strings shaped like other types and the empty
/// string.
pub fn friendly_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z0-9]{1,12}",
        1 => Just(String::new()),
        6 => identity_tail(),
        2 => one_of(MARKUP),
        3 => type_looking(),
        1 => (" {1,3}", identity_tail()).prop_map(|(s, t)| s + &t),
        1 => (one_of(MARKUP), identity_tail()).prop_map(|(m, t)| m + &t),
    ]
    .boxed()
}

/// Integers: small, at the edges of i32, i64, u64 and of the doubles' exact range (2^53).
fn json_integer() -> BoxedStrategy<Value> {
    const EDGES: &[i64] = &[
        0,
        -1,
        1,
        i32::MAX as i64,
        i32::MIN as i64,
        i32::MAX as i64 + 1,
        1 << 53,
        (1 << 53) + 1,
        -(1 << 53) - 1,
        i64::MAX,
        i64::MIN,
    ];
    const UNSIGNED: &[u64] = &[i64::MAX as u64 + 1, u64::MAX, u64::MAX - 1];
    prop_oneof![
        4 => (-1000i64..=1000).prop_map(Value::from),
        3 => select(EDGES).prop_map(Value::from),
        1 => select(UNSIGNED).prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
    ]
    .boxed()
}

/// Floats that every JSON parser reads back exactly: at most 12 significant digits and a
/// decimal exponent between -10 and 10, plus a few far exponents. No -0.0 (a server may
/// print it as 0), no NaN or infinity (not JSON).
fn json_float() -> BoxedStrategy<Value> {
    const FAR: &[f64] = &[1e300, -1e300, 1e-300, 1.5e-7, 0.1, 0.5, -2.5];
    prop_oneof![
        4 => (-999_999_999_999i64..=999_999_999_999, -10i32..=10).prop_map(|(m, e)| {
            let f: f64 = format!("{m}e{e}").parse().expect("a decimal parses");
            Value::from(f)
        }),
        1 => select(FAR).prop_map(Value::from),
    ]
    .boxed()
}

fn json_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z ]{0,8}",
        3 => identity_tail(),
        2 => friendly_name(),
        2 => type_looking(),
        1 => one_of(&["\n", "\t", "a\r\nb", "\"", "\\", "/", "\\\"", "</script>"]),
    ]
    .boxed()
}

fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z]{1,8}",
        2 => one_of(SPECIAL_KEYS),
        2 => identity_tail(),
    ]
    .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => json_integer(),
        2 => json_float(),
        3 => json_string().prop_map(Value::String),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                vec((json_key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A value nested 5 to 20 levels deep, in objects and arrays chosen by `shape`'s bits.
fn deep() -> BoxedStrategy<Value> {
    (5usize..=20, any::<u32>(), json_key(), json_leaf())
        .prop_map(|(depth, shape, key, leaf)| {
            let mut v = leaf;
            for level in 0..depth - 1 {
                v = if (shape >> level) & 1 == 1 {
                    Value::Array(vec![v])
                } else {
                    Value::Object(Map::from_iter([(key.clone(), v)]))
                };
            }
            Value::Object(Map::from_iter([("deep".to_string(), v)]))
        })
        .boxed()
}

/// An object of 10 to 16 KB of JSON text: one long string, or a long array of small objects.
/// (Twilio is said to cap `Attributes` near 16 KB; a form-encoded body of this stays far below
/// any server's body limit, so a refusal, if any, is about the value.)
fn large() -> BoxedStrategy<Value> {
    prop_oneof![
        ("[a-zA-Z0-9 ]{1,32}", json_string(), 10_000usize..=16_000).prop_map(
            |(ascii, other, target)| {
                let seed = ascii + &other;
                let mut blob = String::new();
                while blob.len() < target {
                    blob.push_str(&seed);
                }
                Value::Object(Map::from_iter([("blob".to_string(), Value::String(blob))]))
            }
        ),
        (10_000usize..=16_000, json_string()).prop_map(|(target, name)| {
            let name: String = name.chars().take(16).collect();
            let mut items = Vec::new();
            let mut size = 0;
            while size < target {
                let mut item = Map::new();
                item.insert("i".to_string(), Value::from(items.len() as u64));
                item.insert("name".to_string(), Value::String(name.clone()));
                let item = Value::Object(item);
                size += item.to_string().len() + 1;
                items.push(item);
            }
            Value::Object(Map::from_iter([("items".to_string(), Value::Array(items))]))
        }),
    ]
    .boxed()
}

fn object_of(value: BoxedStrategy<Value>, size: RangeInclusive<usize>) -> BoxedStrategy<Value> {
    vec((json_key(), value), size)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .boxed()
}

/// Attributes: always a JSON object. Nested objects and arrays, Unicode keys (`__proto__`
/// and the empty key among them) and values, integers from small to beyond 2^53 and the
/// i64/u64 extremes, floats, booleans, null; sometimes 5 to 20 levels deep, sometimes tens of
/// kilobytes; the empty object. Serialized with `to_string`, it parses back equal.
pub fn attributes() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => Just(Value::Object(Map::new())),
        2 => vec(("[a-z]{1,8}", "[a-z ]{0,8}"), 1..=3).prop_map(|kv| {
            Value::Object(kv.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
        }),
        4 => object_of(json_leaf(), 1..=8),
        8 => object_of(json_value(), 0..=8),
        3 => deep(),
        1 => large(),
    ]
    .boxed()
}

/// Number literals that a store keeping numbers as doubles, as 32-bit floats or as fixed
/// decimals would change: integers beyond 2^53 and 2^64, beyond a double's range (`1e400`),
/// below it (`1e-400`), the sign of zero, exponents in both cases, trailing zeros, decimals
/// longer than a double holds, the largest and smallest doubles. Each is valid JSON, and
/// each is a value a server must give back as that value (or refuse).
pub const NUMBER_LITERALS: &[&str] = &[
    "9007199254740993",
    "-9007199254740993",
    "18446744073709551616",
    "-18446744073709551617",
    "123456789012345678901234567890",
    "1e400",
    "-1e400",
    "1E+2",
    "2.5E3",
    "1e-400",
    "-0",
    "-0.0",
    "0.1",
    "0.30000000000000004",
    "3.141592653589793238462643383279",
    "0.1234567890123456789",
    "1.5e-7",
    "100.000",
    "1.0",
    "1.7976931348623157e308",
    "5e-324",
];

/// `Attributes` as the text sent: an object of [`attributes`], sometimes with members
/// holding [`NUMBER_LITERALS`] as written (which no `serde_json::Value` can hold).
pub fn attributes_text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => attributes().prop_map(|v| v.to_string()),
        3 => (
            attributes(),
            vec((select(NUMBER_LITERALS), any::<bool>()), 1..=3)
        )
            .prop_map(|(v, literals)| {
                let text = v.to_string();
                let rest = &text[1..];
                let mut members: Vec<String> = literals
                    .iter()
                    .enumerate()
                    .map(|(i, (n, nested))| {
                        if *nested {
                            format!("\"n{i}\":[{n},{{\"v\":{n}}}]")
                        } else {
                            format!("\"n{i}\":{n}")
                        }
                    })
                    .collect();
                // The object's own members after the literals, under keys that cannot clash.
                if rest != "}" {
                    members.push(format!("\"o\":{text}"));
                }
                format!("{{{}}}", members.join(","))
            }),
    ]
    .boxed()
}

/// One of the service's roles.
///
/// # Panics
///
/// When `roles` is empty: there is nothing to draw from.
pub fn role_sid(roles: Vec<String>) -> BoxedStrategy<String> {
    select(roles).boxed()
}

/// A page size in `1..=max`, biased to 1, 2, small values and `max` itself.
///
/// # Panics
///
/// When `max` is 0.
pub fn page_size(max: u32) -> BoxedStrategy<u32> {
    assert!(max >= 1, "a page holds at least one user");
    prop_oneof![
        3 => Just(1),
        2 => Just(2.min(max)),
        3 => 1..=max.min(10),
        2 => Just(max),
        1 => Just((max - 1).max(1)),
        2 => 1..=max,
    ]
    .boxed()
}

/// An identity shaped like a user sid (`US` and 32 hex digits in either case), which the
/// server must refuse (error 50206).
pub fn sid_shaped_identity() -> BoxedStrategy<String> {
    prop_oneof![
        any::<u128>().prop_map(|n| SidKind::User.from_u128(n)),
        "[0-9A-F]{32}".prop_map(|h| format!("{}{h}", SidKind::User.prefix())),
        "[0-9a-fA-F]{32}".prop_map(|h| format!("{}{h}", SidKind::User.prefix())),
    ]
    .boxed()
}

/// A RoleSid that breaks `^RL[0-9a-fA-F]{32}$`: wrong prefix, 31 or 33 hex digits, a non-hex
/// digit, empty, lower- or mixed-case `rl`, surrounding or inner spaces, a trailing newline
/// (which `$` accepts in many regex dialects), UUID dashes.
pub fn malformed_role_sid() -> BoxedStrategy<String> {
    const PREFIXES: &[&str] = &[
        "US", "IS", "AC", "SK", "CH", "MB", "RM", "LR", "R", "RLL", "",
    ];
    const CASES: &[&str] = &["rl", "Rl", "rL"];
    const NOT_HEX: &[char] = &[
        'g', 'G', 'z', 'Z', ' ', '-', '\u{E9}', '\u{FF10}', '\u{663}', '\u{200B}',
    ];
    const SPACED: &[(&str, &str)] = &[
        (" RL", ""),
        ("RL", " "),
        ("RL", "\n"),
        ("\u{A0}RL", ""),
        ("RL", "\u{A0}"),
    ];
    const HEX: &str = "[0-9a-fA-F]{32}";
    prop_oneof![
        (select(PREFIXES), HEX).prop_map(|(p, h)| format!("{p}{h}")),
        "[0-9a-fA-F]{31}".prop_map(|h| format!("RL{h}")),
        "[0-9a-fA-F]{33}".prop_map(|h| format!("RL{h}")),
        (HEX, any::<Index>(), select(NOT_HEX)).prop_map(|(h, i, c)| {
            let mut cs: Vec<char> = h.chars().collect();
            let at = i.index(cs.len());
            cs[at] = c;
            format!("RL{}", cs.into_iter().collect::<String>())
        }),
        // Not the empty string: many servers read an empty form field as one not sent.
        Just("RL".to_string()),
        (select(CASES), HEX).prop_map(|(p, h)| format!("{p}{h}")),
        (select(SPACED), HEX).prop_map(|((before, after), h)| format!("{before}{h}{after}")),
        HEX.prop_map(|h| format!(
            "RL{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )),
    ]
    .boxed()
}

/// Attributes text that is not a JSON object: valid JSON of another type (arrays, strings,
/// numbers, `true`, `null`, a JSON string holding an object) and text that is not JSON at all
/// (truncated objects, single quotes, trailing commas, unquoted keys, NaN, comments, two
/// objects in a row).
pub fn attributes_not_object() -> BoxedStrategy<String> {
    const FIXED: &[&str] = &[
        "[]",
        "[{}]",
        "\"{}\"",
        "\"\"",
        "0",
        "-1.5",
        "true",
        "false",
        "null",
        "",
        " ",
        "{",
        "}",
        "{{}}",
        "{}}",
        "{\"a\":1",
        "{'a':1}",
        "{\"a\":1,}",
        "{a:1}",
        "{\"a\" 1}",
        "{\"a\":1,,\"b\":2}",
        "undefined",
        "NaN",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":undefined}",
        "{\"a\":tru}",
        "{\"a\":01}",
        "{\"a\":.5}",
        "{\"a\":\"\u{1}\"}",
        "{\"a\":1}{\"b\":2}",
        "{\"a\":1} x",
        "// c\n{}",
        "{} // c",
    ];
    let non_empty = || {
        attributes().prop_filter("an object with a key", |v| {
            v.as_object().is_some_and(|o| !o.is_empty())
        })
    };
    prop_oneof![
        3 => one_of(FIXED),
        1 => json_leaf().prop_map(|v| v.to_string()),
        1 => attributes().prop_map(|v| Value::Array(vec![v]).to_string()),
        1 => attributes().prop_map(|v| Value::String(v.to_string()).to_string()),
        2 => (attributes(), any::<Index>()).prop_map(|(v, i)| {
            let text = v.to_string();
            let cuts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
            text[..cuts[i.index(cuts.len())]].to_string()
        }),
        1 => non_empty().prop_map(|v| v.to_string().replace('"', "'")),
        1 => non_empty().prop_map(|v| {
            let text = v.to_string();
            format!("{},}}", &text[..text.len() - 1])
        }),
    ]
    .boxed()
}

/// A PageSize that is not an integer in `1..=max`: 0, negative, `max + 1` and far above it
/// (beyond u32, i64 and u64), and non-integers (`1.5`, `ten`, the empty string).
pub fn page_size_out_of_bounds(max: u32) -> BoxedStrategy<String> {
    const FIXED: &[&str] = &[
        "0",
        "-0",
        "1.5",
        "0.5",
        "ten",
        "",
        "abc",
        "NaN",
        "Infinity",
        "-Infinity",
        "null",
        "true",
        "[]",
        "1/2",
        "99999999999999999999999",
    ];
    const HUGE: &[u64] = &[u32::MAX as u64 + 1, i64::MAX as u64, u64::MAX];
    let max = u64::from(max);
    prop_oneof![
        3 => one_of(FIXED),
        2 => (1u64..=1_000_000).prop_map(|n| format!("-{n}")),
        3 => Just((max + 1).to_string()),
        2 => (max + 1..=max + 1_000_000).prop_map(|n| n.to_string()),
        1 => select(HUGE).prop_map(|n| n.to_string()),
    ]
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    use super::*;

    const SEED: &[u8; 32] = b"convcheck domain strategies seed";

    fn runner(cases: u32) -> TestRunner {
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 100_000,
            ..Config::default()
        };
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, SEED))
    }

    /// `n` values of `strategy`, always the same ones.
    fn draws<T: std::fmt::Debug>(strategy: &BoxedStrategy<T>, n: usize) -> Vec<T> {
        let mut runner = runner(1);
        (0..n)
            .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
            .collect()
    }

    /// Levenshtein distance, in chars.
    fn edits(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let next = (diagonal + usize::from(ca != cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                diagonal = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }

    fn in_ranges(s: &str, ranges: &[RangeInclusive<char>]) -> bool {
        s.chars().any(|c| ranges.iter().any(|r| r.contains(&c)))
    }

    type Family = (&'static str, fn(&str) -> bool);

    const FAMILIES: &[Family] = &[
        ("ASCII letter", |s| {
            s.chars().any(|c| c.is_ascii_alphabetic())
        }),
        ("ASCII digit", |s| s.chars().any(|c| c.is_ascii_digit())),
        ("inner space", |s| s.trim_end_matches(' ').contains(' ')),
        ("trailing space", |s| s.ends_with(' ')),
        ("backslash", |s| s.contains('\\')),
        ("double quote", |s| s.contains('"')),
        ("underscore", |s| s.contains('_')),
        ("..", |s| s.contains("..")),
        ("%2F", |s| s.to_ascii_uppercase().contains("%2F")),
        ("Latin-1", |s| in_ranges(s, &['\u{A0}'..='\u{FF}'])),
        ("other BMP script", |s| in_ranges(s, BMP_SCRIPTS)),
        ("astral", |s| s.chars().any(|c| c > '\u{FFFF}')),
        ("emoji", |s| in_ranges(s, &['\u{1F300}'..='\u{1F64F}'])),
        ("CJK extension B", |s| {
            in_ranges(s, &['\u{20000}'..='\u{2A6DF}'])
        }),
        ("combining mark", |s| in_ranges(s, &['\u{300}'..='\u{36F}'])),
        ("decomposed e + U+0301", |s| s.contains("e\u{301}")),
        ("Hebrew", |s| in_ranges(s, &['\u{5D0}'..='\u{5EA}'])),
        ("Arabic", |s| in_ranges(s, &['\u{627}'..='\u{64A}'])),
        ("U+200F", |s| s.contains('\u{200F}')),
        ("U+200B", |s| s.contains('\u{200B}')),
        ("U+200D", |s| s.contains('\u{200D}')),
        ("U+FEFF", |s| s.contains('\u{FEFF}')),
        ("100 to 300 chars", |s| {
            (100..=300).contains(&s.chars().count())
        }),
    ];

    #[test]
    fn every_family_appears_in_a_few_hundred_tails() {
        let tails = draws(&identity_tail(), 500);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (name, has) in FAMILIES {
            counts.insert(name.to_string(), tails.iter().filter(|t| has(t)).count());
        }
        for c in RESERVED.chars() {
            let n = tails.iter().filter(|t| t.contains(c)).count();
            counts.insert(format!("reserved {c}"), n);
        }
        let rare: Vec<_> = counts.iter().filter(|(_, n)| **n < 3).collect();
        assert!(rare.is_empty(), "rare families {rare:?} in {counts:?}");
    }

    fn has_control(s: &str) -> bool {
        s.chars().any(char::is_control)
    }

    #[test]
    fn tails_and_names_hold_no_control_character_and_tails_are_never_empty() {
        for tail in draws(&identity_tail(), 2000) {
            assert!(!tail.is_empty());
            assert!(!has_control(&tail), "{tail:?}");
        }
        let names = draws(&friendly_name(), 1000);
        assert!(names.iter().all(|n| !has_control(n)));
        assert!(names.iter().any(String::is_empty));
        for markup in ["<b>", "&amp;", "\"", "'"] {
            assert!(names.iter().any(|n| n.contains(markup)), "{markup}");
        }
        assert!(names.iter().any(|n| n.starts_with(' ')));
    }

    #[test]
    fn shrinking_heads_to_short_ascii() {
        let result = runner(200).run(&identity_tail(), |tail| {
            prop_assert!(!tail.chars().any(|c| c == ' ' || !c.is_ascii()));
            Ok(())
        });
        match result {
            Err(proptest::test_runner::TestError::Fail(_, minimal)) => {
                assert_eq!(minimal, " ");
            }
            other => panic!("no tail with a space or non-ASCII: {other:?}"),
        }
        let result = runner(10).run(&identity_tail(), |_| Err(TestCaseError::fail("any")));
        match result {
            Err(proptest::test_runner::TestError::Fail(_, minimal)) => {
                assert!(is_plain(&minimal) && minimal.len() == 1, "{minimal:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    fn single(s: Option<String>) -> Option<char> {
        let s = s?;
        let mut chars = s.chars();
        chars.next().filter(|_| chars.next().is_none())
    }

    #[test]
    fn relate_gives_what_it_claims() {
        let produced = RefCell::new(BTreeMap::<String, usize>::new());
        let strategy = (identity_tail(), relation(), any::<u32>());
        runner(2000)
            .run(&strategy, |(base, relation, salt)| {
                let Some(related) = relate(&base, relation, salt) else {
                    let n = base.chars().count();
                    match relation {
                        Relation::Prefix => prop_assert_eq!(n, 1),
                        // No letter whose case flips to one char and back (sigma aside,
                        // whose lowercase depends on its place in a word).
                        Relation::CaseVariant => prop_assert!(
                            !base.chars().any(|c| !"\u{3A3}\u{3C3}\u{3C2}".contains(c)
                                && single(other_case(c))
                                    .is_some_and(|d| single(other_case(d)) == Some(c))),
                            "no case variant of {:?}",
                            base
                        ),
                        Relation::Fold => prop_assert!(
                            !base.chars().any(|c| c.is_ascii_alphanumeric()),
                            "no fold of {:?}",
                            base
                        ),
                        Relation::Accent => prop_assert!(
                            !base.chars().any(|c| c.is_ascii_alphabetic()),
                            "no accent of {:?}",
                            base
                        ),
                        _ => prop_assert!(false, "no {:?} of {:?}", relation, base),
                    }
                    return Ok(());
                };
                *produced
                    .borrow_mut()
                    .entry(format!("{relation:?}"))
                    .or_default() += 1;
                prop_assert_ne!(&related, &base);
                prop_assert!(!related.is_empty());
                prop_assert!(!has_control(&related));
                prop_assert_eq!(relate(&base, relation, salt), Some(related.clone()));
                match relation {
                    Relation::Prefix => {
                        prop_assert!(base.starts_with(&related));
                        prop_assert!(related.len() < base.len());
                    }
                    Relation::Extension => {
                        prop_assert!(related.starts_with(&base));
                        prop_assert!(related.len() > base.len());
                    }
                    Relation::CaseVariant => {
                        prop_assert_eq!(related.to_lowercase(), base.to_lowercase());
                    }
                    Relation::NearMiss => prop_assert_eq!(edits(&base, &related), 1),
                    // Each engine, and only the engine, takes the variant for the base
                    // (when the base holds none of the engine's own metacharacters).
                    engine => {
                        if let Some(found) = engine_finds(engine, &related, &base) {
                            prop_assert!(
                                found,
                                "{:?} does not find {:?} with {:?}",
                                engine,
                                base,
                                related
                            );
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
        let produced = produced.into_inner();
        assert_eq!(produced.len(), Relation::ALL.len(), "{produced:?}");
        assert!(produced.values().all(|&n| n > 100), "{produced:?}");
    }

    /// `_` one character, `%` any run, the rest literally.
    fn like(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| like(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && like(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && like(rest, &s[1..]),
        }
    }

    /// `?` one character, `*` any run, `[…]` and `[!…]` classes, the rest literally.
    fn glob(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
            Some(('[', rest)) => {
                let Some(end) = rest.iter().skip(1).position(|&c| c == ']').map(|e| e + 1) else {
                    return s.first() == Some(&'[') && glob(rest, &s[1..]);
                };
                let (class, after) = (&rest[..end], &rest[end + 1..]);
                let (negated, class) = match class.split_first() {
                    Some(('!', c)) => (true, c),
                    _ => (false, class),
                };
                s.first().is_some_and(|c| class.contains(c) != negated) && glob(after, &s[1..])
            }
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }

    /// Whether the engine of `relation` takes `variant` for `base`; None when the base holds
    /// the engine's own metacharacters (so the variant means something else to it).
    fn engine_finds(relation: Relation, variant: &str, base: &str) -> Option<bool> {
        use unicode_normalization::UnicodeNormalization;
        let (v, b): (Vec<char>, Vec<char>) = (variant.chars().collect(), base.chars().collect());
        let clean = |meta: &str| !base.chars().any(|c| meta.contains(c));
        Some(match relation {
            Relation::Like => clean("_%\\").then(|| like(&v, &b))?,
            Relation::Glob => clean("*?[]!\\").then(|| glob(&v, &b))?,
            Relation::Regex => clean("\\.+*?()|[]{}^$#").then(|| {
                regex::Regex::new(&format!("^(?:{variant})$")).is_ok_and(|re| re.is_match(base))
            })?,
            Relation::Fold => {
                let fold = |s: &str| s.nfkc().collect::<String>().to_uppercase().to_lowercase();
                fold(variant) == fold(base)
            }
            Relation::Accent => {
                let strip = |s: &str| {
                    s.nfd()
                        .filter(|c| !('\u{300}'..='\u{36F}').contains(c))
                        .collect::<String>()
                };
                strip(variant) == strip(base)
            }
            Relation::Pad => {
                let trim = |s: &str| {
                    s.trim_end_matches(|c: char| c.is_whitespace() || c == '\u{200B}')
                        .to_owned()
                };
                trim(variant) == trim(base)
            }
            _ => return None,
        })
    }

    #[test]
    fn wrappers_hold_the_whole_identity_and_their_engine_finds_it() {
        let id = "convcheck-0a0b0c0d-c1-0-abc";
        for salt in 0..8 {
            for relation in Relation::ALL {
                let Some(w) = wrap(id, relation, salt) else {
                    assert!(!matches!(
                        relation,
                        Relation::Like | Relation::Glob | Relation::Regex | Relation::Pad
                    ));
                    continue;
                };
                assert!(w.contains(id) && w != id && !w.starts_with(id) || w.ends_with(' '));
                let (v, b): (Vec<char>, Vec<char>) = (w.chars().collect(), id.chars().collect());
                let found = match relation {
                    Relation::Like => like(&v, &b),
                    Relation::Glob => glob(&v, &b),
                    Relation::Regex => {
                        regex::Regex::new(&format!("^(?:{w})$")).is_ok_and(|re| re.is_match(id))
                    }
                    _ => w.trim() == id,
                };
                assert!(found, "{relation:?} does not find {id:?} with {w:?}");
            }
        }
    }

    #[test]
    fn relate_knows_when_nothing_fits() {
        for salt in [0, 1, 2, 3, 7, u32::MAX] {
            for relation in Relation::ALL {
                assert_eq!(relate("", relation, salt), None);
            }
            assert_eq!(relate("7", Relation::Prefix, salt), None);
            assert_eq!(relate("\u{1F600}", Relation::Prefix, salt), None);
            assert_eq!(relate("12-_. %", Relation::CaseVariant, salt), None);
            assert_eq!(
                relate("a", Relation::CaseVariant, salt).as_deref(),
                Some("A")
            );
            let near = relate("x", Relation::NearMiss, salt).unwrap();
            assert_eq!(edits("x", &near), 1, "{near:?}");
            let sigma = relate("ab\u{3A3}", Relation::CaseVariant, salt).unwrap();
            assert_eq!(sigma.to_lowercase(), "ab\u{3A3}".to_lowercase());
        }
    }

    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn visit<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        out.push(v);
        match v {
            Value::Array(a) => a.iter().for_each(|x| visit(x, out)),
            Value::Object(o) => o.values().for_each(|x| visit(x, out)),
            _ => {}
        }
    }

    #[test]
    fn attributes_are_objects_that_round_trip_and_reach_every_corner() {
        let all = draws(&attributes(), 400);
        let mut nodes = Vec::new();
        for v in &all {
            assert!(v.is_object(), "{v}");
            let text = v.to_string();
            let back: Value = serde_json::from_str(&text).expect("parses");
            assert_eq!(&back, v, "{text}");
            visit(v, &mut nodes);
        }
        let count = |f: &dyn Fn(&Value) -> bool| nodes.iter().filter(|v| f(v)).count();
        let beyond = 1u64 << 53;
        let keys = || all.iter().flat_map(|v| v.as_object().unwrap().keys());
        let facts = [
            (
                "empty object",
                all.iter()
                    .filter(|v| depth(v) == 1 && v.as_object().unwrap().is_empty())
                    .count(),
            ),
            ("5 deep", all.iter().filter(|v| depth(v) >= 5).count()),
            ("15 deep", all.iter().filter(|v| depth(v) >= 15).count()),
            (
                "10 KB",
                all.iter().filter(|v| v.to_string().len() >= 10_000).count(),
            ),
            ("nested array", count(&|v| v.is_array())),
            ("null", count(&|v| v.is_null())),
            ("boolean", count(&|v| v.is_boolean())),
            ("negative", count(&|v| v.as_i64().is_some_and(|n| n < 0))),
            ("zero", count(&|v| v.as_u64() == Some(0))),
            (
                "beyond 2^53",
                count(&|v| {
                    v.as_u64().is_some_and(|n| n > beyond)
                        || v.as_i64().is_some_and(|n| n < -(beyond as i64))
                }),
            ),
            (
                "u64 beyond i64",
                count(&|v| v.as_u64().is_some_and(|n| n > i64::MAX as u64)),
            ),
            ("i64::MIN", count(&|v| v.as_i64() == Some(i64::MIN))),
            (
                "fraction",
                count(&|v| v.as_f64().is_some_and(|f| v.is_f64() && f.fract() != 0.0)),
            ),
            (
                "exponent",
                count(&|v| v.is_f64() && v.to_string().contains('e')),
            ),
            (
                "non-ASCII value",
                count(&|v| v.as_str().is_some_and(|s| !s.is_ascii())),
            ),
            ("non-ASCII key", keys().filter(|k| !k.is_ascii()).count()),
            (
                "__proto__ key",
                keys().filter(|k| *k == "__proto__").count(),
            ),
        ];
        let rare: Vec<_> = facts.iter().filter(|(_, n)| *n < 2).collect();
        assert!(rare.is_empty(), "rare {rare:?} in {facts:?}");
        assert_eq!(
            count(&|v| v.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative())),
            0
        );
    }

    #[test]
    fn role_sid_and_page_size_stay_inside() {
        let roles: Vec<String> = (1..=3).map(|n| SidKind::Role.from_u128(n)).collect();
        let drawn = draws(&role_sid(roles.clone()), 100);
        assert!(drawn.iter().all(|r| roles.contains(r)));
        assert!(roles.iter().all(|r| drawn.contains(r)));
        for max in [1, 2, 50, 1000] {
            let sizes = draws(&page_size(max), 300);
            assert!(
                sizes.iter().all(|s| (1..=max).contains(s)),
                "{max}: {sizes:?}"
            );
            for wanted in [1, 2.min(max), max] {
                assert!(sizes.contains(&wanted), "{max}: no {wanted}");
            }
            if max >= 50 {
                assert!(sizes.iter().any(|s| (3..=10).contains(s)));
                assert!(sizes.iter().any(|s| (11..max).contains(s)));
            }
        }
    }

    #[test]
    fn sid_shaped_identities_are_user_sids_in_both_cases() {
        let sids = draws(&sid_shaped_identity(), 300);
        assert!(sids.iter().all(|s| SidKind::User.matches(s)), "{sids:?}");
        let has = |f: fn(&u8) -> bool| sids.iter().any(|s| s.as_bytes()[2..].iter().any(f));
        assert!(has(u8::is_ascii_lowercase) && has(u8::is_ascii_uppercase));
    }

    #[test]
    fn malformed_role_sids_never_match_the_pattern() {
        let bad = draws(&malformed_role_sid(), 1000);
        for sid in &bad {
            assert!(!SidKind::Role.matches(sid), "{sid:?}");
        }
        let hex = |s: &str| s.len() - 2;
        assert!(bad.iter().any(|s| s.starts_with("rl")));
        assert!(bad.iter().any(|s| s.starts_with("RL") && hex(s) == 31));
        assert!(bad.iter().any(|s| s.starts_with("RL") && hex(s) == 33));
        assert!(bad.iter().any(|s| s.contains(' ')));
        assert!(
            bad.iter()
                .any(|s| SidKind::of(s).is_some_and(|k| k != SidKind::Role))
        );
    }

    #[test]
    fn attributes_not_object_never_parse_to_an_object() {
        let texts = draws(&attributes_not_object(), 1000);
        let mut json = 0;
        for text in &texts {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                assert!(!v.is_object(), "{text:?}");
                json += 1;
            }
        }
        assert!(json > 100 && texts.len() - json > 100, "{json} valid JSON");
        let kinds: [fn(&Value) -> bool; 5] = [
            Value::is_array,
            Value::is_string,
            Value::is_number,
            Value::is_boolean,
            Value::is_null,
        ];
        for kind in kinds {
            assert!(
                texts
                    .iter()
                    .any(|t| serde_json::from_str(t).is_ok_and(|v| kind(&v)))
            );
        }
        assert!(texts.iter().any(|t| t.starts_with("{'")));
        assert!(texts.iter().any(|t| t.ends_with(",}")));
    }

    #[test]
    fn page_sizes_out_of_bounds_are_no_integer_inside() {
        for max in [1, 50, 1000, u32::MAX] {
            let texts = draws(&page_size_out_of_bounds(max), 300);
            for text in &texts {
                let inside = |n: i128| (1..=i128::from(max)).contains(&n);
                assert!(!text.parse::<i128>().is_ok_and(inside), "{max}: {text:?}");
                let float = text.parse::<f64>().ok().filter(|f| f.fract() == 0.0);
                assert!(
                    !float.is_some_and(|f| f >= 1.0 && f <= f64::from(max)),
                    "{text:?}"
                );
            }
            for wanted in ["0", "1.5", "ten", "", &(u64::from(max) + 1).to_string()] {
                assert!(texts.iter().any(|t| t == wanted), "{max}: no {wanted:?}");
            }
            assert!(texts.iter().any(|t| t.starts_with('-')));
            assert!(
                texts
                    .iter()
                    .any(|t| t.parse::<u64>().is_ok_and(|n| n > u64::from(max) + 1))
            );
        }
    }

    #[test]
    fn plain_is_short_ascii_alphanumerics_and_dash_underscore_dot() {
        for plain in ["a", "Z9", "a-b_c.d", "..", &"x".repeat(40)] {
            assert!(is_plain(plain), "{plain:?}");
        }
        for not in [
            "",
            "a b",
            "a/b",
            "é",
            "a\u{200B}",
            "a\n",
            &"x".repeat(41),
            "a+b",
            "a%2F",
        ] {
            assert!(!is_plain(not), "{not:?}");
        }
        let tails = draws(&identity_tail(), 500);
        let plain = tails.iter().filter(|t| is_plain(t)).count();
        assert!(plain > 50 && plain < 400, "{plain} plain tails of 500");
    }
}
