//! JSON as it was written: a parser that keeps every number's text, and the comparison the
//! contract asks of `Attributes`. Used by the model (to judge what a target gives back) and by
//! the emulator (to accept every JSON object, whatever its numbers).
//!
//! `Attributes` is "the JSON Object string": what a server gives back must be the JSON value
//! it was sent. serde_json (without `arbitrary_precision`) reads every number into a u64, an
//! i64 or an f64, so `2^53 + 1`, `1e400`, `-0` and a long decimal would be compared after a
//! rounding of our own. Here a number is its text, and two numbers are the same when they
//! are the same decimal value (`1E+2` is `100`, `1.50` is `1.5`): layout, key order and the
//! spelling of a number are a server's to choose, the value is not. A number that differs
//! only as an IEEE double would round it (an integer beyond 2^53, a long decimal, the sign of
//! zero) is [`Same::AsDoubles`]: RFC 8259 lets an implementation limit precision, so that is
//! advice, not a failure. Anything else is [`Same::Different`].
//!
//! Pure: no I/O.

use std::collections::BTreeMap;

use serde_json::Value;

/// A JSON value with each number kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its text.
    Num(String),
    /// A string, unescaped.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, members in the order written.
    Obj(Vec<(String, Json)>),
}

/// How a value given back stands to the value sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Same {
    /// The same JSON value: every number the same decimal value.
    Exact,
    /// The same once every number is read as an IEEE double, and not otherwise.
    AsDoubles,
    /// Another value.
    Different,
}

impl Json {
    /// The same value with numbers as serde_json holds them.
    pub fn from_value(v: &Value) -> Json {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Num(n.to_string()),
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(a) => Json::Arr(a.iter().map(Json::from_value).collect()),
            Value::Object(o) => Json::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// An empty object, `{}`.
    pub fn empty_object() -> Json {
        Json::Obj(Vec::new())
    }

    /// Whether it is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Obj(_))
    }

    /// Compact JSON text: numbers as held, strings escaped as serde_json escapes them.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// How deep arrays and objects nest (a scalar is 0).
    pub fn depth(&self) -> usize {
        match self {
            Json::Arr(a) => 1 + a.iter().map(Json::depth).max().unwrap_or(0),
            Json::Obj(o) => 1 + o.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Every number's text, depth first.
    pub fn numbers(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.each_number(&mut |n| out.push(n));
        out
    }

    fn each_number<'a>(&'a self, f: &mut dyn FnMut(&'a str)) {
        match self {
            Json::Num(n) => f(n),
            Json::Arr(a) => a.iter().for_each(|v| v.each_number(f)),
            Json::Obj(o) => o.iter().for_each(|(_, v)| v.each_number(f)),
            _ => {}
        }
    }

    /// Every string, keys included, depth first.
    pub fn strings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.each_string(&mut |s| out.push(s));
        out
    }

    fn each_string<'a>(&'a self, f: &mut dyn FnMut(&'a str)) {
        match self {
            Json::Str(s) => f(s),
            Json::Arr(a) => a.iter().for_each(|v| v.each_string(f)),
            Json::Obj(o) => o.iter().for_each(|(k, v)| {
                f(k);
                v.each_string(f)
            }),
            _ => {}
        }
    }

    /// Plain JSON, which every server stores faithfully: ASCII keys and strings, and
    /// integers within ±2^53 written without fraction or exponent.
    pub fn plain(&self) -> bool {
        match self {
            Json::Str(s) => s.is_ascii(),
            Json::Num(n) => n
                .parse::<i64>()
                .is_ok_and(|i| i.unsigned_abs() <= 1 << 53 && n != "-0"),
            Json::Arr(a) => a.iter().all(Json::plain),
            Json::Obj(o) => o.iter().all(|(k, v)| k.is_ascii() && v.plain()),
            _ => true,
        }
    }
}

/// Compares a value given back with the value sent: objects as maps (a key written twice
/// counts as written last), arrays in order, strings byte for byte, numbers by value.
pub fn compare(sent: &Json, got: &Json) -> Same {
    match (sent, got) {
        (Json::Num(a), Json::Num(b)) => compare_numbers(a, b),
        (Json::Arr(a), Json::Arr(b)) => {
            if a.len() != b.len() {
                return Same::Different;
            }
            a.iter()
                .zip(b)
                .map(|(x, y)| compare(x, y))
                .max()
                .unwrap_or(Same::Exact)
        }
        (Json::Obj(a), Json::Obj(b)) => {
            let a: BTreeMap<&str, &Json> = a.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let b: BTreeMap<&str, &Json> = b.iter().map(|(k, v)| (k.as_str(), v)).collect();
            if a.len() != b.len() || a.keys().any(|k| !b.contains_key(k)) {
                return Same::Different;
            }
            a.iter()
                .map(|(k, x)| compare(x, b[k]))
                .max()
                .unwrap_or(Same::Exact)
        }
        (a, b) if a == b => Same::Exact,
        _ => Same::Different,
    }
}

/// Two number texts: the same decimal value, the same double, or neither.
pub fn compare_numbers(a: &str, b: &str) -> Same {
    match (Decimal::parse(a), Decimal::parse(b)) {
        (Some(x), Some(y)) if x == y => return Same::Exact,
        (Some(_), Some(_)) => {}
        _ => return Same::Different,
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        // A double that overflowed is no value: `1e400` given back as the largest double, or
        // as `2e400`, is another number.
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() && x == y => Same::AsDoubles,
        _ => Same::Different,
    }
}

/// A JSON number as an exact decimal: `(-1)^negative × digits × 10^exponent`, `digits` without
/// leading or trailing zeros (empty for zero, whose sign is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i128,
}

impl Decimal {
    /// Parses RFC 8259's number grammar; None for anything else.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (mantissa, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
            return None;
        }
        if frac.is_some_and(|f| !digits(f)) {
            return None;
        }
        let mut exponent: i128 = 0;
        if let Some(e) = exp {
            let (sign, body) = match e.as_bytes().first() {
                Some(b'-') => (-1, &e[1..]),
                Some(b'+') => (1, &e[1..]),
                _ => (1, e),
            };
            if !digits(body) {
                return None;
            }
            // Saturates: no exponent this large tells two written values apart that a
            // smaller one would not.
            for b in body.bytes() {
                exponent = (exponent * 10 + i128::from(b - b'0')).min(1 << 100);
            }
            exponent *= sign;
        }
        let frac = frac.unwrap_or("");
        exponent -= frac.len() as i128;
        let all = format!("{int}{frac}");
        let trimmed = all.trim_start_matches('0');
        let kept = trimmed.trim_end_matches('0');
        exponent += (trimmed.len() - kept.len()) as i128;
        if kept.is_empty() {
            exponent = 0;
        }
        Some(Decimal {
            negative,
            digits: kept.to_owned(),
            exponent,
        })
    }
}

/// Parses JSON text strictly (RFC 8259), keeping numbers as written.
pub fn parse(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing characters at byte {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

/// Deeper than this is refused rather than risk the stack: far beyond what `Attributes` holds.
const MAX_DEPTH: usize = 512;

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", b as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.s.get(self.i) {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(format!("expected a value at byte {}", self.i)),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Json, String>) -> Result<Json, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("nested too deeply".to_owned());
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(format!("expected `{w}` at byte {}", self.i))
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        if Decimal::parse(text).is_none() {
            return Err(format!("invalid number `{text}` at byte {start}"));
        }
        Ok(Json::Num(text.to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("invalid `\\u` escape at byte {}", self.i))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\' | 0..=0x1F) {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?);
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self.s.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return Err("a lone surrogate".to_owned());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("a lone surrogate".to_owned());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).ok_or("a lone surrogate")?);
                        }
                        _ => return Err(format!("invalid escape at byte {}", self.i - 1)),
                    }
                }
                _ => return Err(format!("unterminated string at byte {start}")),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(format!("expected `,` or `]` at byte {}", self.i)),
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.eat(b'{')?;
        let mut members = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Json::Obj(members));
        }
        loop {
            self.ws();
            let k = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            members.push((k, self.value()?));
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                _ => return Err(format!("expected `,` or `}}` at byte {}", self.i)),
            }
        }
    }
}

/// `text`, a JSON text, re-serialized in one canonical form of its value (the emulator's
/// `attributes-canonical` freedom; how snapshots record `Attributes`): compact, every
/// object's keys sorted (a key given twice keeps its last value, as JSON readers take it),
/// every number in [`canonical_number`]'s form and every string escaped only where JSON
/// requires it. The same JSON value, never a rounded one: numbers are rewritten on their text
/// (read by [`parse`], which keeps it), not read into doubles. `None` when `text` is not
/// JSON, or holds an exponent beyond `i64`.
pub fn canonical(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    write_canonical(&parse(text).ok()?, &mut out)?;
    Some(out)
}

fn write_canonical(v: &Json, out: &mut String) -> Option<()> {
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
                write_canonical(value, out)?;
            }
            out.push('}');
        }
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
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
pub fn canonical_number(literal: &str) -> Option<String> {
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

    fn same(a: &str, b: &str) -> Same {
        compare(&parse(a).expect("a parses"), &parse(b).expect("b parses"))
    }

    #[test]
    fn numbers_are_compared_by_decimal_value_not_by_double() {
        assert_eq!(same("[1E+2]", "[100]"), Same::Exact);
        assert_eq!(same("[1.50]", "[1.5]"), Same::Exact);
        assert_eq!(same("[0.10e1]", "[1]"), Same::Exact);
        assert_eq!(same("[1e400]", "[10e399]"), Same::Exact);
        assert_eq!(same("[-0]", "[-0.0]"), Same::Exact);
        assert_eq!(
            same("[9007199254740993]", "[9007199254740993]"),
            Same::Exact
        );
        // What a double store gives back: advice.
        assert_eq!(
            same("[9007199254740993]", "[9007199254740992]"),
            Same::AsDoubles
        );
        assert_eq!(same("[-0]", "[0]"), Same::AsDoubles);
        assert_eq!(
            same("[0.1234567890123456789]", "[0.12345678901234568]"),
            Same::AsDoubles
        );
        // Altered values.
        assert_eq!(same("[1e400]", "[null]"), Same::Different);
        assert_eq!(same("[1e400]", "[1.7976931348623157e308]"), Same::Different);
        assert_eq!(same("[1e400]", "[2e400]"), Same::Different);
        assert_eq!(
            same("[0.1234567890123456789]", "[0.123456789012345]"),
            Same::Different
        );
        assert_eq!(same("[1]", "[\"1\"]"), Same::Different);
    }

    #[test]
    fn objects_are_maps_and_strings_are_exact() {
        assert_eq!(
            same(
                r#"{"a":1,"b":[true,null]}"#,
                r#"{ "b" : [true, null], "a" : 1 }"#
            ),
            Same::Exact
        );
        assert_eq!(same(r#"{"a":"01"}"#, r#"{"a":"1"}"#), Same::Different);
        assert_eq!(same(r#"{"a":1}"#, r#"{"a":1,"b":2}"#), Same::Different);
        assert_eq!(same(r#"{"é":"\u00e9"}"#, r#"{"\u00e9":"é"}"#), Same::Exact);
        assert_eq!(
            same(r#"{"s":"\ud83d\ude00"}"#, "{\"s\":\"\u{1F600}\"}"),
            Same::Exact
        );
    }

    #[test]
    fn the_parser_is_strict_and_renders_what_it_read() {
        for bad in [
            "",
            "{",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "{\"a\" 1}",
            "[1,]",
            "\"\\ud800\"",
            "{} x",
            "[+1]",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parses");
        }
        let text = r#"{"n":-1.5e-7,"big":123456789012345678901234567890,"s":"a\"b\n","a":[]}"#;
        assert_eq!(parse(text).expect("parses").render(), text);
        let v: Value = serde_json::from_str(r#"{"a":[1,2.5,"x"]}"#).expect("json");
        assert_eq!(Json::from_value(&v).render(), r#"{"a":[1,2.5,"x"]}"#);
        assert!(parse(r#"{"a":9007199254740992}"#).expect("parses").plain());
        assert!(!parse(r#"{"a":9007199254740993}"#).expect("parses").plain());
        assert!(!parse(r#"{"a":1.5}"#).expect("parses").plain());
        let deep = "[".repeat(600) + &"]".repeat(600);
        assert!(parse(&deep).is_err());
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
            canonical(r#" {"b" : 1E+2, "a":[1.50, -0.0, {}, []], "c":"x"} "#).as_deref(),
            Some(r#"{"a":[1.5,-0,{},[]],"b":100,"c":"x"}"#)
        );
        // Escapes only where JSON needs them; the same characters either way.
        assert_eq!(
            canonical(r#"{"s":"\u00e9\/\"\\\n\u0001","é":true,"":null,"e":false}"#).as_deref(),
            Some("{\"\":null,\"e\":false,\"s\":\"é/\\\"\\\\\\n\\u0001\",\"é\":true}")
        );
        // A key given twice keeps its last value.
        assert_eq!(canonical(r#"{"k":1,"k":2}"#).as_deref(), Some(r#"{"k":2}"#));
        for bad in ["", "{", "{\"a\":}", "[1,]", "{} {}", "tru", "{\"a\" 1}"] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }
}
