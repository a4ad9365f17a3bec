//! The JSON Schemas (draft 2020-12) of the User, the Users page and Twilio's error body.
//!
//! Each property of a schema carries `x-checks`, a map from the failing keyword to the check
//! id that reports it, so a schema error becomes a finding with a stable id and a pointer.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

/// The raw text of `specs/user.schema.json`.
pub const USER_SCHEMA: &str = include_str!("../../specs/user.schema.json");
/// The raw text of `specs/users-page.schema.json`.
pub const PAGE_SCHEMA: &str = include_str!("../../specs/users-page.schema.json");
/// The raw text of `specs/error.schema.json`.
pub const ERROR_SCHEMA: &str = include_str!("../../specs/error.schema.json");

const BASE: &str = "https://convcheck.invalid/specs/";

/// The documents convcheck knows the shape of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Doc {
    /// One User.
    User,
    /// A page of Users.
    UsersPage,
    /// A Twilio error body.
    Error,
}

impl Doc {
    /// Every document kind.
    pub const ALL: [Doc; 3] = [Doc::User, Doc::UsersPage, Doc::Error];

    /// The name used by `validate --as`.
    pub fn as_str(self) -> &'static str {
        match self {
            Doc::User => "user",
            Doc::UsersPage => "users-page",
            Doc::Error => "error",
        }
    }

    /// The prefix of this document's check ids.
    pub fn check_root(self) -> &'static str {
        match self {
            Doc::User => "user",
            Doc::UsersPage => "page",
            Doc::Error => "error",
        }
    }

    /// The parsed schema.
    pub fn schema(self) -> &'static Value {
        let docs = parsed();
        match self {
            Doc::User => &docs.0,
            Doc::UsersPage => &docs.1,
            Doc::Error => &docs.2,
        }
    }

    /// Every property name this schema documents, at any depth.
    pub fn documented_keys(self) -> std::collections::BTreeSet<&'static str> {
        fn collect(v: &'static Value, out: &mut std::collections::BTreeSet<&'static str>) {
            match v {
                Value::Object(map) => {
                    for (k, child) in map {
                        if k == "properties"
                            && let Value::Object(props) = child
                        {
                            out.extend(props.keys().map(String::as_str));
                        }
                        collect(child, out);
                    }
                }
                Value::Array(items) => items.iter().for_each(|c| collect(c, out)),
                _ => {}
            }
        }
        let mut out = std::collections::BTreeSet::new();
        collect(self.schema(), &mut out);
        out
    }

    fn validator(self) -> &'static Validator {
        static V: OnceLock<[Validator; 3]> = OnceLock::new();
        let all = V.get_or_init(|| {
            Doc::ALL.map(|d| {
                jsonschema::draft202012::options()
                    .with_retriever(Embedded)
                    .build(d.schema())
                    .expect("embedded schemas must compile")
            })
        });
        &all[self as usize]
    }
}

fn parsed() -> &'static (Value, Value, Value) {
    static P: OnceLock<(Value, Value, Value)> = OnceLock::new();
    P.get_or_init(|| {
        let p = |s: &str| serde_json::from_str(s).expect("embedded schemas must parse");
        (p(USER_SCHEMA), p(PAGE_SCHEMA), p(ERROR_SCHEMA))
    })
}

/// Resolves references between the embedded schemas; nothing is fetched.
struct Embedded;

impl Retrieve for Embedded {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().strip_prefix(BASE).unwrap_or("");
        match name {
            "user.schema.json" => Ok(Doc::User.schema().clone()),
            "users-page.schema.json" => Ok(Doc::UsersPage.schema().clone()),
            "error.schema.json" => Ok(Doc::Error.schema().clone()),
            _ => Err(format!("unknown schema `{uri}`").into()),
        }
    }
}

/// One schema error, mapped to a check.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// The check id from `x-checks`.
    pub check: String,
    /// JSON pointer to the failing value.
    pub pointer: String,
    /// What the schema wants.
    pub expected: String,
    /// What was there.
    pub actual: String,
    /// The validator's message.
    pub message: String,
}

/// Validates `instance` against the document's schema; one error per failing keyword.
pub fn validate(doc: Doc, instance: &Value) -> Vec<SchemaError> {
    doc.validator()
        .iter_errors(instance)
        .map(|e| {
            let parent = e.instance_path().as_str().to_owned();
            let (pointer, keyword, expected) = match e.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default().to_owned();
                    (
                        format!("{parent}/{}", escape(&name)),
                        "required",
                        "present".to_owned(),
                    )
                }
                ValidationErrorKind::Type { kind } => (parent, "type", format!("{kind:?}")),
                ValidationErrorKind::Pattern { pattern } => {
                    (parent, "pattern", format!("matches `{pattern}`"))
                }
                ValidationErrorKind::MinLength { limit } => {
                    (parent, "length", format!("at least {limit} characters"))
                }
                ValidationErrorKind::MaxLength { limit } => {
                    (parent, "length", format!("at most {limit} characters"))
                }
                ValidationErrorKind::Constant { expected_value } => {
                    (parent, "const", expected_value.to_string())
                }
                ValidationErrorKind::Minimum { limit } => (parent, "range", format!(">= {limit}")),
                ValidationErrorKind::Maximum { limit } => (parent, "range", format!("<= {limit}")),
                _ => (parent, "other", String::new()),
            };
            let actual = if keyword == "required" {
                "absent".to_owned()
            } else {
                e.instance().to_string()
            };
            let check = check_for(doc, &pointer, keyword);
            let expected = match (keyword, e.kind()) {
                ("type", ValidationErrorKind::Type { kind }) => type_words(kind),
                _ => expected,
            };
            SchemaError {
                check,
                pointer,
                expected,
                actual: truncate(&actual),
                message: e.to_string(),
            }
        })
        .collect()
}

fn type_words(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(ts) => ts
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Finds the `x-checks` entry for a keyword failing at `pointer`, walking the schema along
/// the instance path (array items follow `items`, and `$ref` to the user schema).
fn check_for(doc: Doc, pointer: &str, keyword: &str) -> String {
    let mut schema = doc.schema();
    let mut root = doc.check_root();
    for seg in pointer.split('/').skip(1) {
        let seg = unescape(seg);
        let next = if let Some(p) = schema.get("properties").and_then(|p| p.get(&seg)) {
            Some(p)
        } else if seg.parse::<usize>().is_ok() {
            schema.get("items")
        } else {
            None
        };
        let Some(mut next) = next else {
            return format!("{root}.body.type");
        };
        if next.get("$ref").and_then(Value::as_str) == Some("user.schema.json") {
            next = Doc::User.schema();
            root = "user";
        }
        schema = next;
    }
    schema
        .get("x-checks")
        .and_then(|m| m.get(keyword))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{root}.body.type"))
}

/// Every check id a schema can report, for the catalogue test.
pub fn schema_check_ids() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "x-checks" {
                        if let Value::Object(x) = v {
                            out.extend(x.values().filter_map(Value::as_str).map(str::to_owned));
                        }
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in Doc::ALL {
        walk(d.schema(), &mut out);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_check_is_in_the_catalogue() {
        let cat = super::super::catalogue::catalogue();
        for id in schema_check_ids() {
            assert!(
                cat.check(&id).is_some(),
                "`{id}` missing from specs/checks.json"
            );
        }
    }

    #[test]
    fn errors_map_to_check_ids_with_pointers() {
        let errs = validate(Doc::UsersPage, &json!({"users": [{"sid": 5}], "meta": {}}));
        let ids: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.check.as_str(), e.pointer.as_str()))
            .collect();
        assert!(ids.contains(&("user.sid.type", "/users/0/sid")), "{ids:?}");
        assert!(
            ids.contains(&("user.url.present", "/users/0/url")),
            "{ids:?}"
        );
        assert!(
            ids.contains(&("page.meta.key.present", "/meta/key")),
            "{ids:?}"
        );
    }

    #[test]
    fn a_non_object_is_a_body_type_error() {
        let errs = validate(Doc::Error, &json!([1]));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].check, "error.body.type");
        assert_eq!(errs[0].pointer, "");
    }
}
