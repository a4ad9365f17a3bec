//! The model, one principle at a time, against hand-written answers: a faithful answer raises
//! nothing and moves the world; each kind of wrong answer raises its check, wherever in the
//! world it shows.

use serde_json::{Value, json};

use super::observe::Answer;
use super::{Action, By, Life, Model, Origin, Probe, Scope, Sent, Step, Verdict};
use crate::check::{Context, Exchange};
use crate::domain::Relation;
use crate::json;
use crate::spec::{Edition, Severity, UrlForm};

const BASE: &str = "https://conversations.example.test";
const ACCOUNT: &str = "AC00000000000000000000000000000001";
const DEFAULT: &str = "IS00000000000000000000000000000001";
const OTHER: &str = "IS00000000000000000000000000000002";
const ROLE: &str = "RL00000000000000000000000000000001";
const NS: &str = "convcheck-0a0b0c0d-c1-0-";

/// Views: 0 shortened, 1 the second service, 2 the default service's own form.
const SHORT: usize = 0;
const SERVICE: usize = 1;
const ALIAS: usize = 2;

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

fn form_of(view: usize) -> UrlForm {
    match view {
        SHORT => UrlForm::Shortened,
        SERVICE => UrlForm::Service(OTHER.to_owned()),
        _ => UrlForm::Service(DEFAULT.to_owned()),
    }
}

/// A user as a faithful server answers it through `view`.
fn user(view: usize, sid: &str, tail: &str, fname: Option<&str>, attrs: &str) -> Value {
    let form = form_of(view);
    let service = if view == SERVICE { OTHER } else { DEFAULT };
    let url = format!("{BASE}{}", form.item_path(sid));
    json!({
        "sid": sid,
        "account_sid": ACCOUNT,
        "chat_service_sid": service,
        "role_sid": ROLE,
        "identity": format!("{NS}{tail}"),
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

fn answer(method: &str, path: &str, status: u16, body: Option<&Value>) -> Exchange {
    Exchange {
        method: method.to_owned(),
        url: format!("{BASE}{path}"),
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

fn not_found(path: &str) -> Exchange {
    answer("GET", path, 404, Some(&error(404, 20404)))
}

fn checks(v: &Verdict) -> Vec<&str> {
    v.findings.iter().map(|f| f.check.as_str()).collect()
}

fn with_name(name: &str) -> Sent {
    Sent {
        friendly_name: Some(name.to_owned()),
        ..Sent::default()
    }
}

fn with_attributes(text: &str) -> Sent {
    Sent {
        attributes: Some((text.to_owned(), json::parse(text).expect("json"))),
        ..Sent::default()
    }
}

/// Creates `tail` through `view` with a faithful answer; returns its model index.
fn created(m: &mut Model, view: usize, tail: &str, n: u32) -> usize {
    let u = m.new_user(view, tail.to_owned());
    let step = Step::Create {
        view,
        user: u,
        sent: Sent::default(),
    };
    let body = user(view, &sid(n), tail, None, "{}");
    let path = form_of(view).collection_path();
    let v = m.judge(&step, &[answer("POST", &path, 201, Some(&body))], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    u
}

/// A page of `users` as the only page of `view`'s collection.
fn page(view: usize, users: Vec<Value>) -> (Value, String) {
    let path = format!("{}?PageSize=1000", form_of(view).collection_path());
    let url = format!("{BASE}{path}&Page=0");
    let body = json!({
        "users": users.iter().map(|u| {
            let mut u = u.clone();
            u["is_online"] = Value::Null;
            u
        }).collect::<Vec<_>>(),
        "meta": {
            "page": 0, "page_size": 1000,
            "first_page_url": url, "previous_page_url": null, "url": url,
            "next_page_url": null, "key": "users",
        }
    });
    (body, path)
}

/// What a faithful server shows for each probe of `scope`, from `world`: the users of
/// each view by sid and identity (view, sid, tail, friendly name, attributes).
type Shown = Vec<(
    usize,
    String,
    &'static str,
    Option<&'static str>,
    &'static str,
)>;

fn world(
    m: &Model,
    scope: &Scope,
    shown: &Shown,
    bend: impl Fn(&Probe, &mut Exchange),
) -> Vec<Answer> {
    let collection = |v: usize| if v == SERVICE { SERVICE } else { SHORT };
    m.probes(scope)
        .into_iter()
        .map(|p| {
            let mut exs = match &p {
                Probe::Walk { view, .. } => {
                    let users = shown
                        .iter()
                        .filter(|s| collection(s.0) == collection(*view))
                        .map(|s| user(*view, &s.1, s.2, s.3, s.4))
                        .collect();
                    let (body, path) = page(*view, users);
                    vec![answer("GET", &path, 200, Some(&body))]
                }
                Probe::Fetch { view, value, .. } => {
                    let path = form_of(*view).item_path(value);
                    let hit = shown.iter().find(|s| {
                        collection(s.0) == collection(*view)
                            && (s.1 == *value || format!("{NS}{}", s.2) == *value)
                    });
                    match hit {
                        Some(s) => {
                            vec![answer(
                                "GET",
                                &path,
                                200,
                                Some(&user(*view, &s.1, s.2, s.3, s.4)),
                            )]
                        }
                        None => vec![not_found(&path)],
                    }
                }
            };
            for ex in &mut exs {
                bend(&p, ex);
            }
            (p, exs, true)
        })
        .collect()
}

#[test]
fn a_faithful_create_learns_the_user_and_its_default_role() {
    let mut m = model();
    let u = created(&mut m, SHORT, "alice", 1);
    assert_eq!(m.users[u].life, Life::Alive);
    assert_eq!(m.users[u].sid.as_deref(), Some(sid(1).as_str()));
    assert_eq!(m.users[u].role_sid.value.as_deref(), Some(ROLE));
    assert_eq!(m.users[u].attributes.origin, Origin::Default);
    assert_eq!(
        m.views.len(),
        3,
        "the default service's own form joins as an alias"
    );
    assert!(m.same_collection(SHORT, ALIAS) && !m.same_collection(SHORT, SERVICE));
}

#[test]
fn a_faithful_world_read_back_raises_nothing() {
    let mut m = model();
    created(&mut m, SHORT, "bob", 1);
    created(&mut m, SERVICE, "bob", 2);
    let shown: Shown = vec![
        (SHORT, sid(1), "bob", None, "{}"),
        (SERVICE, sid(2), "bob", None, "{}"),
    ];
    for scope in [
        Scope::AfterWrite {
            addressed: vec![0],
            limit: 64,
        },
        Scope::End { limit: 64 },
    ] {
        let answers = world(&m, &scope, &shown, |_, _| {});
        // After a write each collection is walked once; at the end through every view.
        let walks = |view| {
            answers
                .iter()
                .filter(|(p, ..)| matches!(p, Probe::Walk { view: v, .. } if *v == view))
                .count()
        };
        let end = matches!(scope, Scope::End { .. });
        assert_eq!(
            (walks(SHORT), walks(SERVICE), walks(ALIAS)),
            (1, 1, usize::from(end)),
            "{scope:?}"
        );
        let v = m.judge_world(Some("create"), &[0], &answers);
        assert!(v.findings.is_empty(), "{scope:?}: {:#?}", v.findings);
    }
}

#[test]
fn after_a_write_the_users_it_could_have_touched_are_fetched_and_at_the_end_everyone() {
    let mut m = model();
    let bob = created(&mut m, SHORT, "bob", 1);
    let carol = created(&mut m, SHORT, "carol", 2);
    let bobby = created(&mut m, SERVICE, "bobby", 3);
    let fetched = |scope: &Scope| -> std::collections::BTreeSet<usize> {
        m.probes(scope)
            .into_iter()
            .filter_map(|p| match p {
                Probe::Fetch { user, .. } => Some(user),
                Probe::Walk { .. } => None,
            })
            .collect()
    };
    // The user written, and one whose identity extends it (in another service, too).
    let after = Scope::AfterWrite {
        addressed: vec![bob],
        limit: 64,
    };
    assert_eq!(fetched(&after), [bob, bobby].into_iter().collect());
    assert_eq!(
        fetched(&Scope::End { limit: 64 }),
        [bob, carol, bobby].into_iter().collect()
    );
    // The limit keeps the newest at the end.
    assert_eq!(
        fetched(&Scope::End { limit: 1 }),
        [bobby].into_iter().collect()
    );
}

#[test]
fn by_identity_another_service_reaches_its_own_user_of_that_identity() {
    let mut m = model();
    let a = created(&mut m, SHORT, "cal", 1);
    let step = Step::Fetch {
        user: a,
        view: SERVICE,
        by: By::Identity,
    };
    // No such identity there yet: 404.
    let v = m.judge(&step, &[not_found("/v1/x")], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    let body = user(SERVICE, &sid(2), "cal", None, "{}");
    let v = m
        .clone()
        .judge(&step, &[answer("GET", "/v1/x", 200, Some(&body))], true);
    assert_eq!(checks(&v), ["service.isolation"]);
    // Once that service has its own user of the identity, the identity names it there.
    created(&mut m, SERVICE, "cal", 2);
    let v = m.judge(&step, &[answer("GET", "/v1/x", 200, Some(&body))], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}

#[test]
fn a_write_that_changes_the_same_identity_in_another_service_is_found() {
    let mut m = model();
    let a = created(&mut m, SHORT, "cy", 1);
    created(&mut m, SERVICE, "cy", 2);
    // The update of the shortened form's user was answered right...
    let step = Step::Update {
        user: a,
        view: SHORT,
        by: By::Identity,
        sent: with_name("new"),
    };
    let path = format!("/v1/Users/{NS}cy");
    let body = user(SHORT, &sid(1), "cy", Some("new"), "{}");
    let v = m.judge(&step, &[answer("POST", &path, 200, Some(&body))], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // ...but the other service's user with that identity changed too.
    let shown: Shown = vec![
        (SHORT, sid(1), "cy", Some("new"), "{}"),
        (SERVICE, sid(2), "cy", Some("new"), "{}"),
    ];
    let scope = Scope::AfterWrite {
        addressed: vec![a],
        limit: 64,
    };
    let v = m.judge_world(Some("update"), &[a], &world(&m, &scope, &shown, |_, _| {}));
    assert!(
        checks(&v).contains(&"world.unaddressed"),
        "{:#?}",
        v.findings
    );
    assert!(
        checks(&v).contains(&"read.user.agrees"),
        "the walk of that service shows it too"
    );
    assert!(v.diverged);
    let named = v
        .findings
        .iter()
        .find(|f| f.check == "world.unaddressed")
        .expect("a finding");
    assert!(named.message.contains("user #1"), "{}", named.message);
    assert!(
        named.message.contains("after the update"),
        "{}",
        named.message
    );
    assert!(named.request.is_some(), "the request that showed it");
}

#[test]
fn a_delete_that_removes_another_user_is_found() {
    let mut m = model();
    let a = created(&mut m, SHORT, "dee", 1);
    created(&mut m, SHORT, "dee-2", 2);
    let step = Step::Delete {
        user: a,
        view: SHORT,
        by: By::Sid,
    };
    let v = m.judge(&step, &[answer("DELETE", "/v1/Users/x", 204, None)], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // Both are gone: the second one was not asked for.
    let scope = Scope::AfterWrite {
        addressed: vec![a],
        limit: 64,
    };
    let v = m.judge_world(Some("delete"), &[a], &world(&m, &scope, &vec![], |_, _| {}));
    assert!(
        checks(&v).contains(&"world.unaddressed"),
        "{:#?}",
        v.findings
    );
    assert!(
        checks(&v).contains(&"page.walk.complete"),
        "{:#?}",
        v.findings
    );
}

#[test]
fn a_view_left_behind_is_found_and_named_by_its_form() {
    let mut m = model();
    let a = created(&mut m, SHORT, "eve", 1);
    let step = Step::Update {
        user: a,
        view: SHORT,
        by: By::Sid,
        sent: with_name("now"),
    };
    let body = user(SHORT, &sid(1), "eve", Some("now"), "{}");
    let v = m.judge(
        &step,
        &[answer("POST", "/v1/Users/x", 200, Some(&body))],
        true,
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    let shown: Shown = vec![(SHORT, sid(1), "eve", Some("now"), "{}")];
    let scope = Scope::AfterWrite {
        addressed: vec![a],
        limit: 64,
    };
    // The default service's own form still shows the old name (a cache of its own).
    let stale = |p: &Probe, ex: &mut Exchange| {
        if let Probe::Fetch { view: ALIAS, .. } = p {
            ex.response_body = user(ALIAS, &sid(1), "eve", None, "{}")
                .to_string()
                .into_bytes();
        }
    };
    let v = m.judge_world(Some("update"), &[a], &world(&m, &scope, &shown, stale));
    assert!(
        checks(&v).contains(&"view.default-service"),
        "{:#?}",
        v.findings
    );
    // Fetched by identity, the old name: the identity index was left behind.
    let by_identity = |p: &Probe, ex: &mut Exchange| {
        if let Probe::Fetch {
            view: SHORT,
            by: By::Identity,
            ..
        } = p
        {
            ex.response_body = user(SHORT, &sid(1), "eve", None, "{}")
                .to_string()
                .into_bytes();
        }
    };
    let v = m.judge_world(
        Some("update"),
        &[a],
        &world(&m, &scope, &shown, by_identity),
    );
    assert_eq!(checks(&v), ["view.consistent"], "{:#?}", v.findings);
}

#[test]
fn a_deleted_users_sid_that_finds_the_new_user_of_its_identity_is_found() {
    let mut m = model();
    let a = created(&mut m, SHORT, "fay", 1);
    let step = Step::Delete {
        user: a,
        view: SHORT,
        by: By::Identity,
    };
    m.judge(&step, &[answer("DELETE", "/v1/Users/x", 204, None)], true);
    let b = created(&mut m, SHORT, "fay", 2);
    assert!(m.is_recreate(b));
    let shown: Shown = vec![(SHORT, sid(2), "fay", None, "{}")];
    let scope = Scope::AfterWrite {
        addressed: vec![b],
        limit: 64,
    };
    // The old sid still answers, with the new user.
    let reused = |p: &Probe, ex: &mut Exchange| {
        if let Probe::Fetch { value, .. } = p
            && *value == sid(1)
        {
            ex.status = 200;
            ex.response_body = user(SHORT, &sid(2), "fay", None, "{}")
                .to_string()
                .into_bytes();
        }
    };
    let v = m.judge_world(Some("create"), &[b], &world(&m, &scope, &shown, reused));
    assert!(checks(&v).contains(&"delete.then-404"), "{:#?}", v.findings);
    let f = v
        .findings
        .iter()
        .find(|f| f.check == "delete.then-404")
        .expect("found");
    assert!(f.message.contains("user #1"), "{}", f.message);
}

#[test]
fn attributes_come_back_as_sent_value_for_value() {
    for (sent, back, want) in [
        (r#"{"n":1E+2}"#, r#"{ "n" : 100 }"#, None),
        (r#"{"n":1e400}"#, r#"{"n":1e400}"#, None),
        (
            r#"{"n":9007199254740993}"#,
            r#"{"n":9007199254740992}"#,
            Some("create.attributes.precision"),
        ),
        (
            r#"{"n":-0}"#,
            r#"{"n":0}"#,
            Some("create.attributes.precision"),
        ),
        (
            r#"{"n":1e400}"#,
            r#"{"n":null}"#,
            Some("create.attributes.echo"),
        ),
        (
            r#"{"n":0.1234567890123456789}"#,
            r#"{"n":0.123456789012345}"#,
            Some("create.attributes.echo"),
        ),
        (
            r#"{"zip":"01234"}"#,
            r#"{"zip":1234}"#,
            Some("create.attributes.echo"),
        ),
    ] {
        let mut m = model();
        let u = m.new_user(SHORT, "gil".to_owned());
        let step = Step::Create {
            view: SHORT,
            user: u,
            sent: with_attributes(sent),
        };
        let body = user(SHORT, &sid(1), "gil", None, back);
        let v = m.judge(
            &step,
            &[answer("POST", "/v1/Users", 201, Some(&body))],
            true,
        );
        assert_eq!(
            checks(&v),
            want.into_iter().collect::<Vec<_>>(),
            "{sent} → {back}"
        );
        if want == Some("create.attributes.precision") {
            assert_eq!(v.findings[0].severity, Severity::Should);
        }
    }
}

#[test]
fn a_name_that_looks_like_another_type_comes_back_as_the_same_string() {
    for (sent, back, ok) in [
        ("00123", json!("00123"), true),
        ("00123", json!("123"), false),
        ("00123", json!(123), false),
        ("true", json!(true), false),
        ("null", Value::Null, false),
        ("2019-12-16", json!("2019-12-16T00:00:00Z"), false),
    ] {
        let mut m = model();
        let u = m.new_user(SHORT, "hal".to_owned());
        let step = Step::Create {
            view: SHORT,
            user: u,
            sent: with_name(sent),
        };
        let mut body = user(SHORT, &sid(1), "hal", None, "{}");
        body["friendly_name"] = back.clone();
        let v = m.judge(
            &step,
            &[answer("POST", "/v1/Users", 201, Some(&body))],
            true,
        );
        assert_eq!(
            v.findings.is_empty(),
            ok,
            "{sent} → {back}: {:#?}",
            v.findings
        );
    }
}

#[test]
fn a_near_miss_under_a_matching_engine_must_find_nobody_for_every_action() {
    let mut m = model();
    let u = created(&mut m, SHORT, "ivy", 1);
    let body = user(SHORT, &sid(1), "ivy", None, "{}");
    for (identity, relation) in [
        (format!("{NS}i_y"), Relation::Like),
        (format!("%{NS}ivy%"), Relation::Like),
        (format!("{NS}i?y"), Relation::Glob),
        (format!("{NS}i.y"), Relation::Regex),
        (format!("{NS}\u{FF49}vy"), Relation::Fold),
        (format!("{NS}ivy "), Relation::Pad),
    ] {
        for (action, status) in [
            (Action::Fetch, 200),
            (Action::Update(with_name("x")), 200),
            (Action::Delete, 204),
        ] {
            let step = Step::NearMiss {
                view: SHORT,
                identity: identity.clone(),
                from: u,
                relation,
                wrapped: identity.starts_with('%'),
                action: action.clone(),
            };
            let v = m.clone().judge(&step, &[not_found("/v1/Users/x")], true);
            assert!(v.findings.is_empty(), "{identity}: {:#?}", v.findings);
            let found = if status == 204 {
                answer("DELETE", "/v1/Users/x", 204, None)
            } else {
                answer("GET", "/v1/Users/x", 200, Some(&body))
            };
            let v = m.clone().judge(&step, &[found], true);
            assert_eq!(
                checks(&v),
                ["lookup.identity.exact"],
                "{identity} {action:?}"
            );
            assert!(v.diverged);
        }
    }
    // A near miss that another user has exactly is that user's.
    let w = created(&mut m, SHORT, "i_y", 2);
    let step = Step::NearMiss {
        view: SHORT,
        identity: format!("{NS}i_y"),
        from: u,
        relation: Relation::Like,
        wrapped: false,
        action: Action::Delete,
    };
    let v = m.judge(&step, &[answer("DELETE", "/v1/Users/x", 204, None)], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    assert_eq!(m.users[w].life, Life::Deleted);
    assert_eq!(m.users[u].life, Life::Alive);
}

#[test]
fn a_walk_of_a_large_collection_must_show_every_user_once() {
    let mut m = model();
    let users: Vec<usize> = (0..101)
        .map(|i| m.new_user(SHORT, format!("pop1-{i}")))
        .collect();
    let bodies: Vec<Value> = (0..101)
        .map(|i| user(SHORT, &sid(100 + i), &format!("pop1-{i}"), None, "{}"))
        .collect();
    let creates: Vec<Exchange> = bodies
        .iter()
        .map(|b| answer("POST", "/v1/Users", 201, Some(b)))
        .collect();
    let step = Step::Populate {
        view: SHORT,
        users: users.clone(),
        sent: Vec::new(),
    };
    let v = m.judge(&step, &creates, true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    let read = Step::Read {
        view: SHORT,
        page_size: Some(1000),
    };
    let (all, path) = page(SHORT, bodies.clone());
    let v = m
        .clone()
        .judge(&read, &[answer("GET", &path, 200, Some(&all))], true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // A page capped at 100: the 101st user is never shown.
    let (capped, path) = page(SHORT, bodies[..100].to_vec());
    let v = m.judge(&read, &[answer("GET", &path, 200, Some(&capped))], true);
    assert_eq!(checks(&v), ["page.walk.complete"], "{:#?}", v.findings);
    // The disagreement names the user it is about, so that a list that merely has not shown
    // a recent write yet can be read again: the 101st user.
    assert_eq!(v.about.into_iter().collect::<Vec<_>>(), [users[100]]);
    // A page whose metadata is wrong is about no one user.
    let (mut bad, path) = page(SHORT, bodies.clone());
    bad["meta"]["page_size"] = json!(7);
    let v = m
        .clone()
        .judge(&read, &[answer("GET", &path, 200, Some(&bad))], true);
    assert!(v.about.contains(&super::NOT_ONE_USER), "{:#?}", v.findings);
}

/// Two updates of one user sent at once: one of the name, one of the attributes.
fn racing(m: &mut Model) -> (usize, Step) {
    let u = created(m, SHORT, "jo", 1);
    let steps = vec![
        Step::Update {
            user: u,
            view: SHORT,
            by: By::Sid,
            sent: with_name("jo!"),
        },
        Step::Update {
            user: u,
            view: ALIAS,
            by: By::Identity,
            sent: with_attributes(r#"{"a":1}"#),
        },
    ];
    (
        u,
        Step::Group {
            kind: "update-update",
            steps,
            gap_ms: 0,
        },
    )
}

#[test]
fn concurrent_updates_are_accepted_in_any_serial_order_and_a_lost_one_is_found() {
    let mut m = model();
    let (u, group) = racing(&mut m);
    let Step::Group { kind, steps, .. } = &group else {
        unreachable!()
    };
    // Name first, then attributes: the second answer shows both.
    let exs = vec![
        answer(
            "POST",
            "/v1/Users/x",
            200,
            Some(&user(SHORT, &sid(1), "jo", Some("jo!"), "{}")),
        ),
        answer(
            "POST",
            "/v1/Users/x",
            200,
            Some(&user(ALIAS, &sid(1), "jo", Some("jo!"), r#"{"a":1}"#)),
        ),
    ];
    let scope = Scope::AfterWrite {
        addressed: vec![u],
        limit: 64,
    };
    let both: Shown = vec![(SHORT, sid(1), "jo", Some("jo!"), r#"{"a":1}"#)];
    let mut good = m.clone();
    let v = good.judge_group(kind, steps, &exs, &world(&m, &scope, &both, |_, _| {}));
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    assert_eq!(good.users[u].friendly_name.value.as_deref(), Some("jo!"));
    // The other order: attributes first, then the name.
    let swapped = vec![
        answer(
            "POST",
            "/v1/Users/x",
            200,
            Some(&user(SHORT, &sid(1), "jo", Some("jo!"), r#"{"a":1}"#)),
        ),
        answer(
            "POST",
            "/v1/Users/x",
            200,
            Some(&user(ALIAS, &sid(1), "jo", None, r#"{"a":1}"#)),
        ),
    ];
    let v = m
        .clone()
        .judge_group(kind, steps, &swapped, &world(&m, &scope, &both, |_, _| {}));
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // Both acknowledged, but the world lost the name: no order gives that.
    let lost: Shown = vec![(SHORT, sid(1), "jo", None, r#"{"a":1}"#)];
    let no_order = vec![
        answer(
            "POST",
            "/v1/Users/x",
            200,
            Some(&user(SHORT, &sid(1), "jo", Some("jo!"), "{}")),
        ),
        answer(
            "POST",
            "/v1/Users/x",
            200,
            Some(&user(ALIAS, &sid(1), "jo", None, r#"{"a":1}"#)),
        ),
    ];
    let v = m
        .clone()
        .judge_group(kind, steps, &no_order, &world(&m, &scope, &lost, |_, _| {}));
    assert_eq!(checks(&v), ["concurrent.serializable"], "{:#?}", v.findings);
    assert!(v.diverged);
}

#[test]
fn a_delete_racing_an_update_may_win_either_way_but_never_both() {
    let mut m = model();
    let u = created(&mut m, SHORT, "kim", 1);
    let steps = vec![
        Step::Delete {
            user: u,
            view: SHORT,
            by: By::Sid,
        },
        Step::Update {
            user: u,
            view: ALIAS,
            by: By::Sid,
            sent: with_name("k"),
        },
    ];
    let scope = Scope::AfterWrite {
        addressed: vec![u],
        limit: 64,
    };
    let deleted = answer("DELETE", "/v1/Users/x", 204, None);
    let updated = answer(
        "POST",
        "/v1/Users/x",
        200,
        Some(&user(ALIAS, &sid(1), "kim", Some("k"), "{}")),
    );
    // Update first, then the delete: gone.
    let v = m.clone().judge_group(
        "delete-update",
        &steps,
        &[deleted.clone(), updated.clone()],
        &world(&m, &scope, &vec![], |_, _| {}),
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // Delete first: the update finds nobody.
    let v = m.clone().judge_group(
        "delete-update",
        &steps,
        &[deleted.clone(), not_found("/v1/Users/x")],
        &world(&m, &scope, &vec![], |_, _| {}),
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // Both acknowledged and the user is back: no order gives that.
    let back: Shown = vec![(SHORT, sid(1), "kim", Some("k"), "{}")];
    let v = m.clone().judge_group(
        "delete-update",
        &steps,
        &[deleted, updated],
        &world(&m, &scope, &back, |_, _| {}),
    );
    assert_eq!(checks(&v), ["concurrent.serializable"], "{:#?}", v.findings);
}

#[test]
fn two_deletes_at_once_may_both_be_acknowledged_but_the_user_must_be_gone() {
    let mut m = model();
    let u = created(&mut m, SHORT, "lee", 1);
    let steps = vec![
        Step::Delete {
            user: u,
            view: SHORT,
            by: By::Sid,
        },
        Step::Delete {
            user: u,
            view: ALIAS,
            by: By::Identity,
        },
    ];
    let scope = Scope::AfterWrite {
        addressed: vec![u],
        limit: 64,
    };
    let deleted = answer("DELETE", "/v1/Users/x", 204, None);
    let gone = world(&m, &scope, &vec![], |_, _| {});
    // One 204 and one 404: the serial answer.
    let v = m.clone().judge_group(
        "delete-delete",
        &steps,
        &[deleted.clone(), not_found("/v1/Users/x")],
        &gone,
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // Both 204: a server that looked the user up before either removed it acknowledges
    // both (RFC 9110, 9.2.2: DELETE is idempotent); the effect is the same.
    let mut both = m.clone();
    let v = both.judge_group(
        "delete-delete",
        &steps,
        &[deleted.clone(), deleted.clone()],
        &gone,
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    assert_eq!(both.users[u].life, Life::Deleted);
    // Both 204 and the user still served: no order gives that.
    let still: Shown = vec![(SHORT, sid(1), "lee", None, "{}")];
    let v = m.clone().judge_group(
        "delete-delete",
        &steps,
        &[deleted.clone(), deleted.clone()],
        &world(&m, &scope, &still, |_, _| {}),
    );
    assert_eq!(checks(&v), ["concurrent.serializable"], "{:#?}", v.findings);
    // A delete sent after the user was deleted (not at once) is 404, never 204.
    let mut after = m.clone();
    let v = after.judge(&steps[0], std::slice::from_ref(&deleted), true);
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    let v = after.judge(&steps[1], &[deleted], true);
    assert_eq!(checks(&v), ["delete.then-404"], "{:#?}", v.findings);
}

#[test]
fn coverage_counts_each_identitys_transitions_across_views() {
    let mut m = model();
    let a = created(&mut m, SHORT, "lee", 1);
    let b = created(&mut m, SERVICE, "lee", 2);
    let fetch = Step::Fetch {
        user: b,
        view: SERVICE,
        by: By::Sid,
    };
    let body = user(SERVICE, &sid(2), "lee", None, "{}");
    m.judge(&fetch, &[answer("GET", "/v1/x", 200, Some(&body))], true);
    let del = Step::Delete {
        user: a,
        view: SHORT,
        by: By::Identity,
    };
    m.judge(&del, &[answer("DELETE", "/v1/x", 204, None)], true);
    let again = m.new_user(SHORT, "lee".to_owned());
    let step = Step::Create {
        view: SHORT,
        user: again,
        sent: with_name("00123"),
    };
    let body = user(SHORT, &sid(3), "lee", Some("00123"), "{}");
    m.judge(
        &step,
        &[answer("POST", "/v1/Users", 201, Some(&body))],
        true,
    );
    let t = &m.tracker.coverage.transitions;
    for want in [
        "create@shortened -> create@service",
        "create@service -> fetch@service",
        "fetch@service -> delete@shortened",
        "delete@shortened -> re-create@shortened",
    ] {
        assert_eq!(t.get(want), Some(&1), "{want}: {t:?}");
    }
    assert_eq!(t.len(), 4, "{t:?}");
    let f = &m.tracker.coverage.families;
    assert!(f.contains_key("friendly-name:type-looking"), "{f:?}");
    assert!(f.contains_key("identity:plain"), "{f:?}");
    // Checks that held, by operation and view, for the clause matrix.
    let held = &m.held[&(crate::spec::Operation::Create, "shortened")];
    assert!(held.contains("create.identity.reusable") && held.contains("user.sid.pattern"));
}

#[test]
fn a_refused_value_the_documentation_leaves_open_is_an_answer_but_a_plain_one_is_not() {
    let mut m = model();
    let u = m.new_user(SHORT, "has space ".to_owned());
    let step = Step::Create {
        view: SHORT,
        user: u,
        sent: Sent::default(),
    };
    let refused = answer("POST", "/v1/Users", 400, Some(&error(400, 50207)));
    let v = m.judge(&step, std::slice::from_ref(&refused), true);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
    let u = m.new_user(SHORT, "plain".to_owned());
    let step = Step::Create {
        view: SHORT,
        user: u,
        sent: Sent::default(),
    };
    let v = m.judge(&step, &[refused], true);
    assert_eq!(checks(&v), ["create.status"]);
    assert!(v.diverged);
}
