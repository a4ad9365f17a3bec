//! The contract as data: loads `specs/` (embedded at build time) into typed rules.
//!
//! Nothing here does I/O: the files are compiled into the binary with `include_str!`, so
//! convcheck runs from any directory and the contract cannot drift from the build.

pub mod catalogue;
pub mod identity;
pub mod schema;
pub mod sid;

pub use catalogue::{CheckDef, Clause, Severity, catalogue};
pub use schema::Doc;
pub use sid::SidKind;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The raw text of `specs/rules.json`.
pub const RULES_JSON: &str = include_str!("../../specs/rules.json");

/// Which reading of the contract applies where the sources disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Edition {
    /// The documentation page: PageSize 1..1000, default 50.
    #[default]
    #[serde(rename = "docs")]
    Docs,
    /// Twilio's OpenAPI description since June 2025: PageSize 1..50, default 50.
    #[serde(rename = "oai-2025")]
    Oai2025,
}

impl Edition {
    /// Every edition, in a fixed order.
    pub const ALL: [Edition; 2] = [Edition::Docs, Edition::Oai2025];

    /// The edition's name as written in `specs/rules.json` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Edition::Docs => "docs",
            Edition::Oai2025 => "oai-2025",
        }
    }

    /// The rules of this edition.
    pub fn rules(self) -> &'static EditionRules {
        &rules().editions[self.as_str()]
    }

    /// The PageSize bounds of this edition.
    pub fn page_size(self) -> PageSizeBounds {
        self.rules().page_size
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Edition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Edition::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown edition `{s}`: expected `docs` or `oai-2025`"))
    }
}

/// PageSize limits and default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PageSizeBounds {
    /// Smallest accepted PageSize.
    pub min: u32,
    /// Largest accepted PageSize.
    pub max: u32,
    /// The page size when none is asked for.
    pub default: u32,
}

impl PageSizeBounds {
    /// Whether `n` is an accepted PageSize.
    pub fn contains(self, n: i64) -> bool {
        n >= i64::from(self.min) && n <= i64::from(self.max)
    }
}

/// One edition's rules.
#[derive(Debug, Clone, Deserialize)]
pub struct EditionRules {
    /// What the edition follows, in words.
    pub title: String,
    /// PageSize limits.
    pub page_size: PageSizeBounds,
}

/// A documented operation on the User resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// `POST /Users`.
    Create,
    /// `GET /Users`.
    Read,
    /// `GET /Users/{Sid}`.
    Fetch,
    /// `POST /Users/{Sid}`.
    Update,
    /// `DELETE /Users/{Sid}`.
    Delete,
}

impl Operation {
    /// Every operation, in the documentation's order of the rules file.
    pub const ALL: [Operation; 5] = [
        Operation::Create,
        Operation::Read,
        Operation::Fetch,
        Operation::Update,
        Operation::Delete,
    ];

    /// The lower-case name used in `specs/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Fetch => "fetch",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    /// The rules of this operation.
    pub fn rules(self) -> &'static OperationRules {
        &rules().operations[self.as_str()]
    }

    /// The documented success status.
    pub fn success_status(self) -> u16 {
        self.rules().status
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Method, path shape, status and body of one operation.
#[derive(Debug, Clone, Deserialize)]
pub struct OperationRules {
    /// HTTP method.
    pub method: String,
    /// `collection` (`/Users`) or `item` (`/Users/{Sid}`).
    pub path: String,
    /// The success status.
    pub status: u16,
    /// `user`, `users-page` or `empty`.
    pub body: String,
}

/// Which of the two documented URL forms a request uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "form", content = "service_sid", rename_all = "lowercase")]
pub enum UrlForm {
    /// `/v1/Users`: the default Conversation Service.
    Shortened,
    /// `/v1/Services/{ChatServiceSid}/Users`.
    Service(String),
}

impl UrlForm {
    /// The collection path, without the base URL: `/v1/Users` or `/v1/Services/IS…/Users`.
    pub fn collection_path(&self) -> String {
        match self {
            UrlForm::Shortened => "/v1/Users".to_owned(),
            UrlForm::Service(is) => format!("/v1/Services/{is}/Users"),
        }
    }

    /// The item path for an already-encoded `{Sid}` segment.
    pub fn item_path(&self, encoded_segment: &str) -> String {
        format!("{}/{}", self.collection_path(), encoded_segment)
    }

    /// A short label: `shortened` or `service`.
    pub fn label(&self) -> &'static str {
        match self {
            UrlForm::Shortened => "shortened",
            UrlForm::Service(_) => "service",
        }
    }
}

/// An error answer: HTTP status and Twilio code.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorRule {
    /// HTTP status.
    pub status: u16,
    /// The Twilio error code, where one is settled.
    #[serde(default)]
    pub code: Option<i64>,
    /// The acceptable Twilio error codes, where sources disagree.
    #[serde(default)]
    pub codes: Vec<i64>,
    /// Whether `status` is unconfirmed, so that any 4xx is a correct answer.
    #[serde(default)]
    pub any_4xx: bool,
}

impl ErrorRule {
    /// Every acceptable code.
    pub fn accepted_codes(&self) -> Vec<i64> {
        self.code
            .into_iter()
            .chain(self.codes.iter().copied())
            .collect()
    }
}

/// Twilio's error answers relevant to the User resource.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorRules {
    /// `more_info` is this prefix followed by the code.
    pub more_info_prefix: String,
    /// Missing or wrong credentials.
    pub unauthenticated: ErrorRule,
    /// Unknown resource.
    pub not_found: ErrorRule,
    /// Create without `Identity`.
    pub missing_identity: ErrorRule,
    /// Identity already used in the service.
    pub duplicate_identity: ErrorRule,
    /// Identity shaped like a user SID.
    pub sid_shaped_identity: ErrorRule,
    /// A parameter with an invalid value.
    pub invalid_parameter: ErrorRule,
    /// `RoleSid` well formed but naming no role.
    pub role_not_found: ErrorRule,
    /// Rate limited.
    pub too_many_requests: ErrorRule,
}

impl ErrorRules {
    /// Every error rule.
    pub fn all(&self) -> [&ErrorRule; 8] {
        [
            &self.unauthenticated,
            &self.not_found,
            &self.missing_identity,
            &self.duplicate_identity,
            &self.sid_shaped_identity,
            &self.invalid_parameter,
            &self.role_not_found,
            &self.too_many_requests,
        ]
    }
}

/// Pagination metadata rules.
#[derive(Debug, Clone, Deserialize)]
pub struct PaginationRules {
    /// The value of `meta.key` and the name of the list.
    pub key: String,
    /// The seven `meta` keys.
    pub meta_keys: Vec<String>,
    /// The `meta` keys that may be null.
    pub nullable_meta_keys: Vec<String>,
    /// The first page index.
    pub page_min: u32,
}

/// The `X-Twilio-Webhook-Enabled` request header.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookHeaderRules {
    /// Header name.
    pub name: String,
    /// Accepted values.
    pub values: Vec<String>,
    /// Operations that take it.
    pub operations: Vec<Operation>,
}

/// Everything in `specs/rules.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Rules {
    /// The edition used when none is named.
    pub default_edition: Edition,
    /// Editions by name.
    pub editions: BTreeMap<String, EditionRules>,
    /// Operations by name.
    pub operations: BTreeMap<String, OperationRules>,
    /// Form parameters of Create.
    pub create_params: Vec<String>,
    /// Form parameters of Update.
    pub update_params: Vec<String>,
    /// Query parameters of Read.
    pub read_params: Vec<String>,
    /// Every documented property of a User, in the documentation's order.
    pub user_properties: Vec<String>,
    /// The date format: ISO 8601 in UTC, to the second.
    pub date_pattern: String,
    /// `attributes` when never set.
    pub attributes_default: String,
    /// Link names and the suffix each adds to the user's `url`.
    pub links: BTreeMap<String, String>,
    /// Pagination.
    pub pagination: PaginationRules,
    /// The webhook header.
    pub webhook_header: WebhookHeaderRules,
    /// Characters the documentation advises against in identities.
    pub reserved_characters: String,
    /// Error answers.
    pub errors: ErrorRules,
}

/// The compiled `date_pattern`: ISO 8601 in UTC, to the second or a fraction of it (the
/// documentation says "ISO 8601 format"; the examples stop at the second, and ISO 8601 and
/// the OpenAPI description's `date-time` allow a decimal fraction).
pub fn date_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(&rules().date_pattern).expect("date_pattern compiles"))
}

/// A date in the documented format as an instant, for comparing two dates: `None` when it is
/// not in that format or names no real date and time.
pub fn date_instant(s: &str) -> Option<time::OffsetDateTime> {
    if !date_regex().is_match(s) {
        return None;
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// The parsed rules file. It is part of the binary, so a parse failure is a build defect that
/// the test suite catches; it can never depend on the user's input.
pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        serde_json::from_str(RULES_JSON).expect("specs/rules.json is embedded and must parse")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_cover_every_edition_and_operation() {
        let r = rules();
        for e in Edition::ALL {
            assert!(e.page_size().min >= 1 && e.page_size().max >= e.page_size().default);
        }
        for op in Operation::ALL {
            assert!(op.success_status() >= 200);
        }
        assert_eq!(r.pagination.meta_keys.len(), 7);
        assert_eq!(Edition::Docs.page_size().max, 1000);
        assert_eq!(Edition::Oai2025.page_size().max, 50);
        assert_eq!(
            r.reserved_characters.chars().collect::<Vec<_>>(),
            identity::RESERVED.to_vec()
        );
    }

    #[test]
    fn edition_names_round_trip() {
        for e in Edition::ALL {
            assert_eq!(e.as_str().parse::<Edition>(), Ok(e));
        }
        assert!("v2".parse::<Edition>().unwrap_err().contains("`v2`"));
    }
}
