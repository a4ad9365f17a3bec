//! TEMPORARY stand-in for the input domains (replaced by the real module).
use proptest::prelude::*;

pub fn identity_tail() -> SBoxedStrategy<String> {
    prop_oneof!["[a-z0-9]{1,12}", "[a-zé \u{301}]{1,12}"].sboxed()
}
pub fn is_plain(s: &str) -> bool {
    s.chars().count() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Prefix,
    Extension,
    CaseVariant,
    NearMiss,
}
pub fn relation() -> SBoxedStrategy<Relation> {
    prop_oneof![
        Just(Relation::Prefix),
        Just(Relation::Extension),
        Just(Relation::CaseVariant),
        Just(Relation::NearMiss)
    ]
    .sboxed()
}
pub fn relate(base: &str, relation: Relation, _salt: u32) -> Option<String> {
    let out = match relation {
        Relation::Prefix => {
            let n = base.chars().count();
            if n < 2 {
                return None;
            }
            base.chars().take(n - 1).collect()
        }
        Relation::Extension => format!("{base}x"),
        Relation::CaseVariant => base.to_uppercase(),
        Relation::NearMiss => format!("{base}-"),
    };
    (out != base).then_some(out)
}
pub fn friendly_name() -> SBoxedStrategy<String> {
    "[a-z <>&]{0,10}".sboxed()
}
pub fn attributes() -> SBoxedStrategy<serde_json::Value> {
    "[a-z]{1,5}"
        .prop_map(|k| serde_json::json!({ k: [1, 2.5, {"x": null}] }))
        .sboxed()
}
pub fn role_sid(roles: Vec<String>) -> SBoxedStrategy<String> {
    proptest::sample::select(roles).sboxed()
}
pub fn page_size(max: u32) -> SBoxedStrategy<u32> {
    (1..=max).sboxed()
}
pub fn sid_shaped_identity() -> SBoxedStrategy<String> {
    "US[0-9a-f]{32}".sboxed()
}
pub fn malformed_role_sid() -> SBoxedStrategy<String> {
    "RL[0-9a-f]{5}".sboxed()
}
pub fn attributes_not_object() -> SBoxedStrategy<String> {
    prop_oneof![Just("[1]".to_owned()), Just("nope".to_owned())].sboxed()
}
pub fn page_size_out_of_bounds(max: u32) -> SBoxedStrategy<String> {
    prop_oneof![Just("0".to_owned()), Just((max + 1).to_string())].sboxed()
}
