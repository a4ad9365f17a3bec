//! The contract cases: each is a short script of requests whose answers go through the pure
//! checks. Cases that write create users only in their own identity namespace and delete them
//! again; the runner's ledger catches whatever a failing case leaves behind.

mod auth;
mod create;
mod delete;
mod errors;
mod fetch;
mod lookup;
mod pagination;
mod read;
pub mod replay;
mod service;
mod update;

use serde_json::Value;

use crate::runner::{CaseDef, CaseRun, Kind, Scope, SideJob, Step, side_job};
use crate::spec::{self, UrlForm};

macro_rules! case {
    ($kind:ident, $name:literal, $scope:ident, writes = $w:literal, $f:path, $about:literal) => {
        CaseDef {
            name: $name,
            kind: Kind::$kind,
            scope: Scope::$scope,
            writes: $w,
            about: $about,
            run: |r| Box::pin($f(r)),
        }
    };
}

/// Every case, in the order they are listed.
pub fn all() -> Vec<CaseDef> {
    vec![
        case!(
            Create,
            "minimal",
            EachForm,
            writes = true,
            create::create_minimal,
            "Create with Identity only: 201, every property, attributes `{}`, then Fetch"
        ),
        case!(
            Create,
            "all-params",
            EachForm,
            writes = true,
            create::create_all_params,
            "Create with FriendlyName, Attributes and RoleSid: each stored and returned"
        ),
        case!(
            Create,
            "webhook-header",
            EachForm,
            writes = true,
            create::webhook_accepted,
            "X-Twilio-Webhook-Enabled true and false accepted on create, update and delete"
        ),
        case!(
            Lookup,
            "sid-and-identity",
            EachForm,
            writes = true,
            lookup::lookup_same,
            "Fetch by sid and by identity return the same user"
        ),
        case!(
            Lookup,
            "identity-encoded",
            EachForm,
            writes = true,
            lookup::lookup_encoded,
            "identities with a space and non-ASCII, percent-encoded, find their user"
        ),
        case!(
            Lookup,
            "identity-reserved",
            EachForm,
            writes = true,
            lookup::lookup_reserved,
            "identities holding each reserved character find their user"
        ),
        case!(
            Lookup,
            "case-sensitive",
            EachForm,
            writes = true,
            lookup::lookup_case,
            "identity lookup is case-sensitive, and identities differing in case are distinct"
        ),
        case!(
            Fetch,
            "unknown-sid",
            EachForm,
            writes = false,
            fetch::fetch_unknown_sid,
            "an unknown user sid is 404 with Twilio's error body"
        ),
        case!(
            Fetch,
            "unknown-identity",
            EachForm,
            writes = false,
            fetch::fetch_unknown_identity,
            "an unknown identity is 404 with Twilio's error body"
        ),
        case!(
            Update,
            "each-param",
            EachForm,
            writes = true,
            update::update_each_param,
            "Update applies each parameter, keeps the rest, identity and date_created, moves date_updated"
        ),
        case!(
            Update,
            "by-identity",
            EachForm,
            writes = true,
            update::update_by_identity,
            "Update by identity changes the user"
        ),
        case!(
            Delete,
            "by-sid",
            EachForm,
            writes = true,
            delete::delete_by_sid,
            "Delete by sid: 204 with no body, then 404 by sid and by identity"
        ),
        case!(
            Delete,
            "by-identity",
            EachForm,
            writes = true,
            delete::delete_by_identity,
            "Delete by identity: 204, then 404 by sid and by identity"
        ),
        case!(
            Read,
            "default-page-size",
            EachForm,
            writes = false,
            read::read_default,
            "Read without PageSize: page_size is the default and meta is consistent"
        ),
        case!(
            Read,
            "explicit-sizes",
            EachForm,
            writes = false,
            read::read_sizes,
            "Read with PageSize 1, 7 and the edition's maximum: echoed and respected"
        ),
        case!(
            Read,
            "page-size-bounds",
            EachForm,
            writes = false,
            read::read_bounds,
            "PageSize outside the edition's bounds is refused or never exceeded"
        ),
        case!(
            Pagination,
            "walk",
            EachForm,
            writes = true,
            pagination::read_walk,
            "walking next_page_url sees every user exactly once, meta consistent on every page"
        ),
        case!(
            Errors,
            "missing-identity",
            EachForm,
            writes = true,
            errors::missing_identity,
            "Create without Identity is 400 with Twilio's error body"
        ),
        case!(
            Errors,
            "duplicate-identity",
            EachForm,
            writes = true,
            errors::duplicate_identity,
            "a second Create with the same identity is refused"
        ),
        case!(
            Errors,
            "sid-shaped-identity",
            EachForm,
            writes = true,
            errors::sid_shaped_identity,
            "an identity shaped like a user SID is refused"
        ),
        case!(
            Errors,
            "malformed-role-sid",
            EachForm,
            writes = true,
            errors::malformed_role,
            "a RoleSid breaking its pattern is 400"
        ),
        case!(
            Errors,
            "attributes-not-object",
            EachForm,
            writes = true,
            errors::attributes_invalid,
            "Attributes that are not a JSON object are refused, never stored"
        ),
        case!(
            Errors,
            "webhook-header-invalid",
            EachForm,
            writes = true,
            errors::webhook_invalid,
            "an X-Twilio-Webhook-Enabled value other than true or false is refused"
        ),
        case!(
            Auth,
            "missing-credentials",
            FirstForm,
            writes = true,
            auth::auth_missing,
            "requests without credentials are 401 (code 20003)"
        ),
        case!(
            Auth,
            "wrong-credentials",
            FirstForm,
            writes = false,
            auth::auth_wrong,
            "requests with a wrong secret are 401 (code 20003)"
        ),
        case!(
            Service,
            "isolation",
            TwoServices,
            writes = true,
            service::service_isolation,
            "a user of one service is invisible in the other; identities are unique per service"
        ),
        case!(
            Service,
            "unknown",
            Once,
            writes = false,
            service::service_unknown,
            "an unknown Conversation Service is refused with 404 or 403"
        ),
        case!(
            Generated,
            "inputs",
            EachForm,
            writes = true,
            crate::generate::inputs,
            "every parameter drawn from its whole domain: created, read back, updated and read back exactly, or refused with Twilio's error body where the documentation allows"
        ),
        case!(
            Stateful,
            "sequences",
            Once,
            writes = true,
            crate::generate::sequences,
            "random sequences of create, fetch, near-miss lookup, update, delete, re-create, paged reads and concurrent bursts over every URL form agree with a model of the store"
        ),
    ]
}

/// Runs independent steps at once ([`CaseRun::together`]); their results in order, or the
/// first step's error in that order, as running them one after another would stop there.
async fn together<T: Send + 'static>(r: &mut CaseRun, jobs: Vec<SideJob<T>>) -> Step<Vec<T>> {
    r.together(jobs).await.into_iter().collect()
}

/// Creates users with these identities (drawn in this case's namespace) at once, each
/// checked as a Create; their bodies in order.
async fn create_all(r: &mut CaseRun, form: &UrlForm, identities: Vec<String>) -> Step<Vec<Value>> {
    let jobs = identities
        .into_iter()
        .map(|id| {
            let form = form.clone();
            side_job(move |side| Box::pin(async move { side.create(&form, &id, &[]).await }))
        })
        .collect();
    together(r, jobs).await
}

fn sid_of(v: &Value) -> String {
    v.get("sid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn errors() -> &'static spec::ErrorRules {
    &spec::rules().errors
}

/// A pseudo-random number for unknown SIDs, different every call.
fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut a = s.build_hasher();
    a.write_u8(1);
    let mut b = s.build_hasher();
    b.write_u8(2);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_per_kind() {
        let mut ids: Vec<String> = all()
            .iter()
            .map(|c| format!("{}::{}", c.kind.as_str(), c.name))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
