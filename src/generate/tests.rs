//! The model's transitions, one step at a time, against hand-written answers: a faithful
//! answer raises nothing and moves the model; each kind of wrong answer raises its check.

use serde_json::{Value, json};

use super::model::{Life, Model, Origin, Step, json_eq};
use super::program::{By, Index, Op, Params, Who};
use crate::check::{Context, Exchange};
use crate::domain::Relation;
use crate::spec::{Edition, UrlForm};

const BASE: &str = "https://conversations.example.test";
const ACCOUNT: &str = "AC00000000000000000000000000000001";
const DEFAULT: &str = "IS00000000000000000000000000000001";
const OTHER: &str = "IS00000000000000000000000000000002";
const ROLE: &str = "RL00000000000000000000000000000001";
const NS: &str = "convcheck-0a0b0c0d-c1-0-";

fn model() -> Model {
    let base = Context {
        edition: Edition::Docs,
        base_url: Some(BASE.to_owned()),
        account_sid: Some(ACCOUNT.to_owned()),
        default_service_sid: Some(DEFAULT.to_owned()),
        ..Context::default()
    };
    Model::new(
        NS.to_owned(),
        vec![UrlForm::Shortened, UrlForm::Service(OTHER.to_owned())],
        Some(DEFAULT),
        base,
    )
}

fn sid(n: u32) -> String {
    format!("US{n:032x}")
}

/// A user as a faithful server answers it.
fn user(form: &UrlForm, sid: &str, identity: &str, fname: Option<&str>, attrs: &str) -> Value {
    let service = match form {
        UrlForm::Shortened => DEFAULT,
        UrlForm::Service(s) => s.as_str(),
    };
    let url = format!("{BASE}{}", form.item_path(sid));
    json!({
        "sid": sid,
        "account_sid": ACCOUNT,
        "chat_service_sid": service,
        "role_sid": ROLE,
        "identity": identity,
        "friendly_name": fname,
        "attributes": attrs,
        "is_online": null,
        "is_notifiable": null,
        "date_created": "2026-11-28T10:00:00Z",
        "date_updated": "2026-11-28T10:00:00Z",
        "url": url,
        "links": {"user_conversations": format!("{url}/Conversations")},
    })
}

fn answer(method: &str, url: &str, status: u16, body: Option<&Value>) -> Exchange {
    Exchange {
        method: method.to_owned(),
        url: format!("{BASE}{url}"),
        status,
        response_headers: if body.is_some() {
            vec![("content-type".to_owned(), "application/json".to_owned())]
        } else {
            Vec::new()
        },
        response_body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        ..Exchange::default()
    }
}

fn error(status: u16, code: u32) -> Value {
    json!({
        "code": code,
        "message": "refused",
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

fn create(tail: &str, params: Params) -> Op {
    Op::Create {
        form: Index(0),
        who: Who::Fresh(tail.to_owned()),
        params,
    }
}

/// Creates `tail` on the shortened form with a faithful answer; returns its model index.
fn created(m: &mut Model, tail: &str, n: u32) -> usize {
    let step = m
        .resolve(&create(tail, Params::default()))
        .expect("a create resolves");
    let Step::Create { user: u, .. } = step else {
        panic!("not a create: {step:?}")
    };
    let body = user(
        &UrlForm::Shortened,
        &sid(n),
        &format!("{NS}{tail}"),
        None,
        "{}",
    );
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users", 201, Some(&body))],
        true,
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    assert!(!v.diverged);
    u
}

fn checks(v: &super::model::Verdict) -> Vec<&str> {
    v.findings.iter().map(|f| f.check.as_str()).collect()
}

#[test]
fn a_faithful_create_learns_the_user_and_its_default_role() {
    let mut m = model();
    let u = created(&mut m, "alice", 1);
    assert_eq!(m.users[u].life, Life::Alive);
    assert_eq!(m.users[u].sid.as_deref(), Some(sid(1).as_str()));
    assert_eq!(m.users[u].role_sid.value.as_deref(), Some(ROLE));
    assert_eq!(m.users[u].attributes.origin, Origin::Default);
}

#[test]
fn an_identity_that_comes_back_altered_is_user_identity_echo_and_ends_the_sequence() {
    let mut m = model();
    let tail = "e\u{301}";
    let step = m
        .resolve(&create(tail, Params::default()))
        .expect("resolves");
    // NFC-normalized: the decomposed é came back composed.
    let body = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}\u{e9}"),
        None,
        "{}",
    );
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users", 201, Some(&body))],
        true,
    );
    assert!(checks(&v).contains(&"user.identity.echo"), "{v:?}");
    assert!(v.diverged);
}

#[test]
fn a_refused_value_the_documentation_leaves_open_is_an_answer_but_a_plain_one_is_not() {
    let mut m = model();
    let step = m
        .resolve(&create("has space ", Params::default()))
        .expect("resolves");
    let refused = answer("POST", "/v1/Users", 400, Some(&error(400, 50207)));
    let v = m.judge(&step, std::slice::from_ref(&refused), true);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    assert!(!v.diverged);
    let step = m
        .resolve(&create("plain", Params::default()))
        .expect("resolves");
    let v = m.judge(&step, &[refused], true);
    assert_eq!(checks(&v), ["create.status"]);
    assert!(v.diverged);
}

#[test]
fn a_second_create_of_a_live_identity_must_be_refused() {
    let mut m = model();
    let u = created(&mut m, "bob", 1);
    let again = Op::Create {
        form: Index(0),
        who: Who::Again(Index(0)),
        params: Params::default(),
    };
    let step = m.resolve(&again).expect("resolves");
    let Step::Create { user: same, .. } = step else {
        panic!("not a create")
    };
    assert_eq!(same, u, "a duplicate names the live user");
    let refused = answer("POST", "/v1/Users", 409, Some(&error(409, 50201)));
    let v = m.judge(&step, &[refused], true);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let step = m.resolve(&again).expect("resolves");
    let body = user(
        &UrlForm::Shortened,
        &sid(2),
        &format!("{NS}bob"),
        None,
        "{}",
    );
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users", 201, Some(&body))],
        true,
    );
    assert!(checks(&v).contains(&"create.identity.duplicate"), "{v:?}");
    assert!(v.diverged);
}

#[test]
fn after_delete_the_user_is_404_and_its_identity_is_free_again() {
    let mut m = model();
    let u = created(&mut m, "carol", 1);
    let del = Op::Delete {
        user: Index(0),
        by: By::Identity,
    };
    let step = m.resolve(&del).expect("resolves");
    let path = format!("/v1/Users/{NS}carol");
    let v = m.judge(&step, &[answer("DELETE", &path, 204, None)], true);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    assert_eq!(m.users[u].life, Life::Deleted);
    // Fetched by sid after the delete: a 200 is a deleted user still there.
    let fetch = Op::Fetch {
        user: Index(0),
        by: By::Sid,
        cross: false,
    };
    let step = m.resolve(&fetch).expect("resolves");
    let body = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}carol"),
        None,
        "{}",
    );
    let v = m.judge(
        &step,
        &[answer("GET", "/v1/Users/x", 200, Some(&body))],
        true,
    );
    assert_eq!(checks(&v), ["delete.then-404"]);
    // Created again: a refusal is the SHOULD `create.identity.reusable`.
    let again = Op::Create {
        form: Index(0),
        who: Who::Again(Index(0)),
        params: Params::default(),
    };
    let step = m.resolve(&again).expect("resolves");
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users", 409, Some(&error(409, 50201)))],
        true,
    );
    assert_eq!(checks(&v), ["create.identity.reusable"]);
    assert_eq!(v.findings[0].severity, crate::spec::Severity::Should);
}

#[test]
fn an_update_applies_what_was_sent_and_keeps_the_rest() {
    let mut m = model();
    let params = Params {
        friendly_name: Some("Dee".to_owned()),
        attributes: Some(json!({"a": [1, {"b": null}]})),
        role: None,
    };
    let step = m.resolve(&create("dee", params)).expect("resolves");
    let attrs = r#"{"a":[1,{"b":null}]}"#;
    let body = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}dee"),
        Some("Dee"),
        attrs,
    );
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users", 201, Some(&body))],
        true,
    );
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let update = Op::Update {
        user: Index(0),
        by: By::Sid,
        params: Params {
            friendly_name: Some("Dee 2".to_owned()),
            ..Params::default()
        },
    };
    let step = m.resolve(&update).expect("resolves");
    let path = format!("/v1/Users/{}", sid(1));
    // Faithful: the name changes, the attributes stay.
    let good = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}dee"),
        Some("Dee 2"),
        attrs,
    );
    let v = m
        .clone()
        .judge(&step, &[answer("POST", &path, 200, Some(&good))], true);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    // A server that resets what it was not sent.
    let reset = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}dee"),
        Some("Dee 2"),
        "{}",
    );
    let v = m.judge(&step, &[answer("POST", &path, 200, Some(&reset))], true);
    assert_eq!(checks(&v), ["update.others.unchanged"]);
    assert!(v.diverged);
}

#[test]
fn a_near_miss_identity_is_404_and_a_case_variant_is_a_case_sensitivity_finding() {
    let mut m = model();
    created(&mut m, "erin", 1);
    for (relation, check) in [
        (Relation::Prefix, "fetch.unknown-identity"),
        (Relation::CaseVariant, "lookup.identity.case-sensitive"),
    ] {
        let op = Op::FetchRelated {
            user: Index(0),
            relation,
            salt: 0,
        };
        let step = m.resolve(&op).expect("resolves");
        let Step::FetchRelated { ref identity, .. } = step else {
            panic!("not a related fetch")
        };
        assert_ne!(identity, &format!("{NS}erin"));
        let missing = answer("GET", "/v1/Users/x", 404, Some(&error(404, 20404)));
        assert!(m.judge(&step, &[missing], true).findings.is_empty());
        let body = user(
            &UrlForm::Shortened,
            &sid(1),
            &format!("{NS}erin"),
            None,
            "{}",
        );
        let v = m.judge(
            &step,
            &[answer("GET", "/v1/Users/x", 200, Some(&body))],
            true,
        );
        assert_eq!(checks(&v), [check], "{relation:?}");
    }
}

#[test]
fn a_user_of_one_service_is_404_through_the_other() {
    let mut m = model();
    created(&mut m, "fay", 1);
    let op = Op::Fetch {
        user: Index(0),
        by: By::Identity,
        cross: true,
    };
    let step = m.resolve(&op).expect("resolves");
    let body = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}fay"),
        None,
        "{}",
    );
    let v = m.judge(&step, &[answer("GET", "/v1/x", 200, Some(&body))], true);
    assert_eq!(checks(&v), ["service.isolation"]);
}

#[test]
fn a_burst_of_one_identity_may_succeed_once() {
    let mut m = model();
    let op = Op::Burst {
        form: Index(0),
        tail: "gus".to_owned(),
        n: 3,
    };
    let step = m.resolve(&op).expect("resolves");
    let body = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}gus"),
        None,
        "{}",
    );
    let ok = answer("POST", "/v1/Users", 201, Some(&body));
    let no = answer("POST", "/v1/Users", 409, Some(&error(409, 50201)));
    let v = m
        .clone()
        .judge(&step, &[no.clone(), ok.clone(), no.clone()], true);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let v = m.judge(&step, &[ok.clone(), no, ok], true);
    assert_eq!(checks(&v), ["create.identity.duplicate"]);
}

#[test]
fn a_walk_must_show_every_live_user_once_and_no_deleted_one() {
    let mut m = model();
    created(&mut m, "hal", 1);
    created(&mut m, "ida", 2);
    let read = Op::Read {
        form: Index(0),
        page_size: Some(1),
    };
    let step = m.resolve(&read).expect("resolves");
    let page = |users: Vec<Value>, next: Option<&str>| {
        json!({
            "users": users,
            "meta": {
                "page": 0, "page_size": 1,
                "first_page_url": format!("{BASE}/v1/Users?PageSize=1&Page=0"),
                "previous_page_url": null,
                "url": format!("{BASE}/v1/Users?PageSize=1&Page=0"),
                "next_page_url": next,
                "key": "users",
            }
        })
    };
    let hal = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}hal"),
        None,
        "{}",
    );
    let ida = user(
        &UrlForm::Shortened,
        &sid(2),
        &format!("{NS}ida"),
        None,
        "{}",
    );
    let p1 = page(vec![hal], None);
    let url = "/v1/Users?PageSize=1&Page=0";
    let v = m.judge(&step, &[answer("GET", url, 200, Some(&p1))], true);
    assert!(checks(&v).contains(&"page.walk.complete"), "{v:?}");
    let mut m2 = model();
    created(&mut m2, "ida", 2);
    let v = m2.judge(
        &step,
        &[answer("GET", url, 200, Some(&page(vec![ida], None)))],
        true,
    );
    assert!(
        !checks(&v).contains(&"page.walk.complete"),
        "{:?}",
        v.findings
    );
}

#[test]
fn attributes_compare_as_json_values_and_rounded_big_integers_are_advice() {
    assert!(json_eq(
        &json!({"a": 1, "b": [2.0]}),
        &json!({"b": [2], "a": 1.0})
    ));
    assert!(!json_eq(
        &json!({"a": 0.1}),
        &json!({"a": 0.10000000149011612})
    ));
    let mut m = model();
    let big = json!({"n": 9_007_199_254_740_993u64});
    let params = Params {
        attributes: Some(big),
        ..Params::default()
    };
    let step = m.resolve(&create("ivy", params)).expect("resolves");
    let body = user(
        &UrlForm::Shortened,
        &sid(1),
        &format!("{NS}ivy"),
        None,
        r#"{"n":9007199254740992}"#,
    );
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users", 201, Some(&body))],
        true,
    );
    assert_eq!(checks(&v), ["create.attributes.precision"]);
    assert_eq!(v.findings[0].severity, crate::spec::Severity::Should);
}

#[test]
fn a_remote_target_gets_tighter_bounds_than_this_machine() {
    let local = super::Generation::default();
    let remote = local.clone().remote();
    assert!(remote.concurrency <= 4 && remote.concurrency < local.concurrency);
    assert!(remote.max_burst <= 3 && remote.max_burst < local.max_burst);
    assert!(remote.max_pages <= 10);
    assert!(remote.max_requests <= 2_000);
    assert_eq!(
        remote.sequences, local.sequences,
        "the budget itself is the user's"
    );
}

#[test]
fn one_seed_draws_one_sequence_and_another_seed_another() {
    use super::program::Shape;
    let shape = Shape {
        max_steps: 12,
        max_burst: 6,
        max_page_size: 1000,
    };
    let a = super::draw(super::Family::Sequences, shape, 42).expect("draws");
    let b = super::draw(super::Family::Sequences, shape, 42).expect("draws");
    let c = super::draw(super::Family::Sequences, shape, 43).expect("draws");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(format!("{a:?}"), format!("{c:?}"));
    assert!(
        matches!(a[0], Op::Create { .. }),
        "a sequence starts with a create"
    );
    assert!(a.len() <= 12);
}
