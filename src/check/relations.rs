//! Checks that relate two responses, or a response to the parameters that produced it:
//! what Create stored, what Update changed and kept, and that two lookups found one user.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Finding, shown};
use crate::spec;

/// The form parameters of a Create or an Update, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateParams {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Attributes`.
    pub attributes: Option<String>,
    /// `RoleSid`.
    pub role_sid: Option<String>,
}

/// The same JSON value: layout and key order free, numbers by value as written.
fn same_json(a: &str, b: &str) -> bool {
    match (crate::json::parse(a), crate::json::parse(b)) {
        (Ok(x), Ok(y)) => crate::json::compare(&x, &y) == crate::json::Same::Exact,
        _ => a == b,
    }
}

fn get_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// What Create must have stored: each parameter given, and `{}` for attributes not given.
pub fn created(user: &Value, sent: &UpdateParams) -> Vec<Finding> {
    let mut out = Vec::new();
    match &sent.friendly_name {
        Some(f) if get_str(user, "friendly_name") != Some(f.as_str()) => {
            out.push(Finding::new(
                "create.friendly_name.echo",
                "/friendly_name",
                format!("{f:?}"),
                shown(user.get("friendly_name")),
            ));
        }
        None if user.get("friendly_name").is_some_and(|v| !v.is_null()) => {
            out.push(Finding::new(
                "create.friendly_name.default",
                "/friendly_name",
                "null",
                shown(user.get("friendly_name")),
            ));
        }
        _ => {}
    }
    match &sent.attributes {
        Some(a) => {
            if !get_str(user, "attributes").is_some_and(|got| same_json(got, a)) {
                out.push(Finding::new(
                    "create.attributes.echo",
                    "/attributes",
                    format!("{a:?}"),
                    shown(user.get("attributes")),
                ));
            }
        }
        None => {
            let want = &spec::rules().attributes_default;
            if !get_str(user, "attributes").is_some_and(|got| same_json(got, want)) {
                out.push(Finding::new(
                    "create.attributes.default",
                    "/attributes",
                    format!("{want:?}"),
                    shown(user.get("attributes")),
                ));
            }
        }
    }
    if let Some(r) = &sent.role_sid
        && get_str(user, "role_sid") != Some(r.as_str())
    {
        out.push(Finding::new(
            "create.role_sid.echo",
            "/role_sid",
            format!("`{r}`"),
            shown(user.get("role_sid")),
        ));
    }
    out
}

/// What Update must have done: applied each parameter given, kept the others, kept
/// `identity` and `date_created`, and moved `date_updated` forward. When `clock_advanced`,
/// at least one whole second passed since `before` was read, so `date_updated` must be
/// strictly later.
pub fn updated(
    before: &Value,
    after: &Value,
    sent: &UpdateParams,
    clock_advanced: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let fields = [
        ("friendly_name", &sent.friendly_name),
        ("attributes", &sent.attributes),
        ("role_sid", &sent.role_sid),
    ];
    for (key, given) in fields {
        let got = after.get(key);
        match given {
            Some(want) => {
                let ok = got.and_then(Value::as_str).is_some_and(|g| {
                    if key == "attributes" {
                        same_json(g, want)
                    } else {
                        g == want
                    }
                });
                if !ok {
                    out.push(Finding::new(
                        "update.applied",
                        format!("/{key}"),
                        format!("{want:?}"),
                        shown(got),
                    ));
                }
            }
            None => {
                if got != before.get(key) {
                    out.push(Finding::new(
                        "update.others.unchanged",
                        format!("/{key}"),
                        format!("unchanged {}", shown(before.get(key))),
                        shown(got),
                    ));
                }
            }
        }
    }
    for (key, id) in [
        ("identity", "update.identity.unchanged"),
        ("date_created", "update.date_created.unchanged"),
    ] {
        if after.get(key) != before.get(key) {
            out.push(Finding::new(
                id,
                format!("/{key}"),
                shown(before.get(key)),
                shown(after.get(key)),
            ));
        }
    }
    if let (Some(b), Some(a)) = (
        get_str(before, "date_updated"),
        get_str(after, "date_updated"),
    ) {
        // As instants where both are in the documented format (a fraction of a second may
        // be written or not), else as text, which orders that format by time.
        let (a_at, b_at) = (crate::spec::date_instant(a), crate::spec::date_instant(b));
        let moved = match (a_at, b_at) {
            (Some(a), Some(b)) if clock_advanced => a > b,
            (Some(a), Some(b)) => a >= b,
            _ if clock_advanced => a > b,
            _ => a >= b,
        };
        if !moved {
            out.push(Finding::new(
                "update.date_updated.moves",
                "/date_updated",
                format!(
                    "{} `{b}`",
                    if clock_advanced {
                        "later than"
                    } else {
                        "not earlier than"
                    }
                ),
                format!("`{a}`"),
            ));
        }
    }
    out
}

/// Two responses that must describe the same user (for example fetched by sid and by
/// identity): the same `sid` and `identity`, reported under check `id`.
pub fn same_user(expected: &Value, got: &Value, id: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for key in ["sid", "identity"] {
        if expected.get(key) != got.get(key) {
            out.push(Finding::new(
                id,
                format!("/{key}"),
                shown(expected.get(key)),
                shown(got.get(key)),
            ));
        }
    }
    out
}
