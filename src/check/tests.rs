//! Unit tests of the checks on hand-made bodies; the documentation's examples and the
//! generated mutations are in `tests/`.

use serde_json::{Value, json};

use super::*;

fn good_user() -> Value {
    json!({
        "sid": "US0123456789abcdef0123456789abcdef",
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "chat_service_sid": "IS0123456789abcdef0123456789abcdef",
        "role_sid": "RL0123456789abcdef0123456789abcdef",
        "identity": "alice",
        "friendly_name": null,
        "attributes": "{}",
        "is_online": null,
        "is_notifiable": null,
        "date_created": "2024-01-01T00:00:00Z",
        "date_updated": "2024-01-01T00:00:01Z",
        "url": "http://127.0.0.1:4010/v1/Users/US0123456789abcdef0123456789abcdef",
        "links": {"user_conversations": "http://127.0.0.1:4010/v1/Users/US0123456789abcdef0123456789abcdef/Conversations"}
    })
}

fn ids(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.check.as_str()).collect()
}

#[test]
fn a_good_user_has_no_finding() {
    let ctx = Context {
        base_url: Some("http://127.0.0.1:4010".into()),
        ..Context::for_op(Operation::Fetch, UrlForm::Shortened, Edition::Docs)
    };
    assert_eq!(user_body(&good_user(), &ctx), vec![]);
}

#[test]
fn service_form_wants_the_scoped_url_and_service() {
    let ctx = Context::for_op(
        Operation::Fetch,
        UrlForm::Service("IS00000000000000000000000000000000".into()),
        Edition::Docs,
    );
    assert_eq!(
        ids(&user_body(&good_user(), &ctx)),
        vec!["user.url.self", "user.chat_service_sid.path"]
    );
}

#[test]
fn refusal_checks_status_body_and_code() {
    let ex = Exchange {
        status: 404,
        response_headers: vec![("Content-Type".into(), "application/json".into())],
        response_body: br#"{"code":20404,"message":"not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#.to_vec(),
        ..Exchange::default()
    };
    let rules = &spec::rules().errors;
    assert_eq!(
        refusal(&ex, &Refusal::of("fetch.unknown-sid", &rules.not_found)),
        vec![]
    );
    let dup = refusal(
        &ex,
        &Refusal::any_4xx("create.identity.duplicate", &rules.duplicate_identity),
    );
    assert_eq!(
        ids(&dup),
        vec!["error.status.preferred", "error.code.expected"]
    );
    let ok = Exchange {
        status: 201,
        ..ex.clone()
    };
    assert_eq!(
        ids(&refusal(
            &ok,
            &Refusal::of("fetch.unknown-sid", &rules.not_found)
        )),
        vec!["fetch.unknown-sid"]
    );
}

#[test]
fn error_body_status_must_match() {
    let v = json!({"code": 20404, "message": "x", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 400});
    assert_eq!(
        ids(&error_body(&v, Some(404))),
        vec!["error.status.matches", "error.more_info.code"]
    );
}

#[test]
fn wrong_status_and_plain_text_are_reported() {
    let ex = Exchange {
        method: "POST".into(),
        url: "http://h/v1/Users".into(),
        status: 200,
        response_headers: vec![("content-type".into(), "text/plain".into())],
        response_body: b"ok".to_vec(),
        ..Exchange::default()
    };
    let ctx = Context::for_op(Operation::Create, UrlForm::Shortened, Edition::Docs);
    assert_eq!(ids(&exchange(&ex, &ctx)), vec!["create.status"]);
    let ex = Exchange { status: 201, ..ex };
    assert_eq!(
        ids(&exchange(&ex, &ctx)),
        vec!["response.content-type", "user.body.json"]
    );
}

#[test]
fn delete_wants_an_empty_204() {
    let ctx = Context::for_op(Operation::Delete, UrlForm::Shortened, Edition::Docs);
    let ex = Exchange {
        status: 204,
        ..Exchange::default()
    };
    assert_eq!(exchange(&ex, &ctx), vec![]);
    let ex = Exchange {
        status: 204,
        response_body: b"{}".to_vec(),
        ..Exchange::default()
    };
    assert_eq!(ids(&exchange(&ex, &ctx)), vec!["delete.body.empty"]);
}

#[test]
fn update_relations() {
    let before = good_user();
    let mut after = good_user();
    after["friendly_name"] = json!("new");
    after["attributes"] = json!("{\"a\": 1}");
    after["date_updated"] = json!("2024-01-01T00:00:05Z");
    let sent = UpdateParams {
        friendly_name: Some("new".into()),
        ..UpdateParams::default()
    };
    assert_eq!(
        ids(&updated(&before, &after, &sent, true)),
        vec!["update.others.unchanged"]
    );
    let same = good_user();
    assert_eq!(
        ids(&updated(&before, &same, &UpdateParams::default(), true)),
        vec!["update.date_updated.moves"]
    );
    assert_eq!(
        updated(&before, &same, &UpdateParams::default(), false),
        vec![]
    );
}

#[test]
fn walk_finds_repeats_and_gaps() {
    let page = |sids: &[&str]| json!({"users": sids.iter().map(|s| json!({"sid": s})).collect::<Vec<_>>()});
    let pages = vec![page(&["US1", "US2"]), page(&["US2", "US3"])];
    let expected = vec!["US1".to_owned(), "US4".to_owned()];
    let f = walk(&pages, &expected, true);
    assert_eq!(ids(&f), vec!["page.walk.complete", "page.walk.complete"]);
    assert!(f[0].actual.contains("2 times"));
    assert!(f[1].expected.contains("US4"));
    assert_eq!(
        ids(&walk(&pages, &[], false)),
        vec!["page.walk.bounded", "page.walk.complete"]
    );
}

#[test]
fn impossible_dates_are_reported_under_the_format_check() {
    let mut u = good_user();
    u["date_created"] = json!("2019-13-45T99:99:99Z");
    u["date_updated"] = json!("2019-13-45T99:99:99Z");
    let ctx = Context::for_op(Operation::Fetch, UrlForm::Shortened, Edition::Docs);
    assert_eq!(
        ids(&user_body(&u, &ctx)),
        vec!["user.date_created.format", "user.date_updated.format"]
    );
}

#[test]
fn on_the_known_base_the_url_path_is_exact() {
    let ctx = Context {
        base_url: Some("http://127.0.0.1:4010".into()),
        ..Context::for_op(Operation::Fetch, UrlForm::Shortened, Edition::Docs)
    };
    let sid = "US0123456789abcdef0123456789abcdef";
    for url in [
        format!("http://127.0.0.1:4010/extra/v1/Users/{sid}"),
        format!("http://127.0.0.1:4010/v1/Users/{sid}#frag"),
    ] {
        let mut u = good_user();
        u["url"] = json!(url);
        u["links"]["user_conversations"] = json!(format!("{url}/Conversations"));
        assert_eq!(ids(&user_body(&u, &ctx)), vec!["user.url.self"], "{url}");
    }
}

#[test]
fn a_users_link_must_lead_to_a_page_of_conversations() {
    let answer = |status: u16, body: &str| Exchange {
        method: "GET".into(),
        url: "http://127.0.0.1:4010/v1/Users/US1/Conversations".into(),
        status,
        response_body: body.as_bytes().to_vec(),
        ..Exchange::default()
    };
    let page = json!({"conversations": [], "meta": {"key": "conversations", "page": 0}});
    assert_eq!(link_page(&answer(200, &page.to_string())), vec![]);
    let missing = link_page(&answer(404, "{}"));
    assert_eq!(ids(&missing), ["user.links.resolve"]);
    assert_eq!(missing[0].severity, Severity::Should);
    assert_eq!(missing[0].pointer, "@status");
    let users = json!({"users": [], "meta": {"key": "users"}});
    let wrong = link_page(&answer(200, &users.to_string()));
    assert_eq!(
        wrong.iter().map(|f| f.pointer.as_str()).collect::<Vec<_>>(),
        ["/conversations", "/meta/key"]
    );
    assert_eq!(
        ids(&link_page(&answer(200, "not json"))),
        ["user.links.resolve"]
    );
}

/// A page of `n` users named `alice0…`, the `bad`-th with a sid that breaks its pattern.
fn page_of(n: usize, bad: Option<usize>, size: usize, next: Option<&str>) -> Value {
    let users: Vec<Value> = (0..n)
        .map(|i| {
            let mut u = good_user();
            u["sid"] = json!(format!("US{i:032x}"));
            u["identity"] = json!(format!("alice{i}"));
            if Some(i) == bad {
                u["sid"] = json!("USnot-a-sid");
            }
            u["url"] = json!(format!("http://127.0.0.1:4010/v1/Users/{}", u["sid"].as_str().unwrap()));
            u["links"] = json!({"user_conversations": format!("{}/Conversations", u["url"].as_str().unwrap())});
            u
        })
        .collect();
    let url = format!("http://127.0.0.1:4010/v1/Users?PageSize={size}&Page=0");
    json!({
        "users": users,
        "meta": {"page": 0, "page_size": size, "first_page_url": url, "previous_page_url": null,
                 "url": url, "next_page_url": next, "key": "users"}
    })
}

#[test]
fn a_sparse_page_is_judged_like_the_whole_page_for_the_users_it_keeps() {
    let ctx = Context {
        base_url: Some("http://127.0.0.1:4010".into()),
        ..Context::for_op(Operation::Read, UrlForm::Shortened, Edition::Docs)
    };
    let req = PageRequest::from_url("http://127.0.0.1:4010/v1/Users?PageSize=5");
    let keep_odd = |i: &str| {
        i.trim_start_matches("alice")
            .parse::<usize>()
            .is_ok_and(|n| n % 2 == 1)
    };
    // A bad user the caller keeps is found at its place in the page; one it does not keep is
    // left to whoever owns it.
    for (bad, found) in [(Some(3), true), (Some(2), false), (None, false)] {
        let whole = page_of(4, bad, 5, None);
        let bytes = whole.to_string().into_bytes();
        let sparse = sparse_page(&bytes, &keep_odd).expect("a page");
        assert_eq!(sparse.kept, [1, 3]);
        let f = sparse_body(&sparse, &ctx, req.as_ref());
        assert_eq!(
            f.iter().any(|f| f.pointer == "/users/3/sid"),
            found,
            "{bad:?}: {f:#?}"
        );
        if !found {
            assert!(f.is_empty(), "{f:#?}");
        }
    }
    // The metadata is held against every user, parsed or not: six users on a page of five,
    // a short page with a next link, one sid twice.
    let over = page_of(6, None, 5, None);
    let sparse = sparse_page(over.to_string().as_bytes(), &keep_odd).expect("a page");
    assert!(ids(&sparse_body(&sparse, &ctx, req.as_ref())).contains(&"page.users.size"));
    let short = page_of(
        3,
        None,
        5,
        Some("http://127.0.0.1:4010/v1/Users?PageSize=5&Page=1"),
    );
    let sparse = sparse_page(short.to_string().as_bytes(), &|_| false).expect("a page");
    assert!(
        ids(&sparse_body(&sparse, &ctx, req.as_ref())).contains(&"page.meta.next_page_url.last")
    );
    let mut twice = page_of(4, None, 5, None);
    twice["users"][2]["sid"] = twice["users"][0]["sid"].clone();
    let sparse = sparse_page(twice.to_string().as_bytes(), &|_| false).expect("a page");
    let f = sparse_body(&sparse, &ctx, req.as_ref());
    assert!(
        f.iter()
            .any(|f| f.check == "page.users.unique" && f.pointer == "/users/2/sid"),
        "{f:#?}"
    );
    assert!(sparse_page(b"[]", &|_| true).is_none());
    assert!(sparse_page(br#"{"users":[1]}"#, &|_| true).is_none());
}

/// A page asked for by an opaque `PageToken` alone may carry any index and links that name
/// the next page by token only; a page asked for by `Page` must echo it, and a link must
/// keep the page size (by `PageSize`, or by a token that may carry it).
#[test]
fn the_page_index_is_judged_only_where_the_request_named_it() {
    let ctx = Context {
        base_url: Some("http://127.0.0.1:4010".into()),
        ..Context::for_op(Operation::Read, UrlForm::Shortened, Edition::Docs)
    };
    let base = "http://127.0.0.1:4010/v1/Users";
    let mut page = page_of(
        5,
        None,
        5,
        Some(&format!("{base}?PageToken=opaque3&PageSize=5")),
    );
    page["meta"]["page"] = json!(2);
    page["meta"]["url"] = json!(format!("{base}?PageSize=5&PageToken=opaque2"));
    page["meta"]["previous_page_url"] = json!(format!("{base}?PageToken=opaque1"));
    let by_token = PageRequest::from_url(&format!("{base}?PageSize=5&PageToken=opaque2"));
    assert_eq!(page_body(&page, &ctx, by_token.as_ref()), Vec::new());
    // The same page asked for as page 1, or as the first page, says the wrong index.
    for asked in [
        format!("{base}?PageSize=5&Page=1"),
        format!("{base}?PageSize=5"),
    ] {
        let req = PageRequest::from_url(&asked);
        assert!(
            ids(&page_body(&page, &ctx, req.as_ref())).contains(&"page.meta.page.echo"),
            "{asked}"
        );
    }
    // A link without PageSize or a token leads to pages of the default size.
    let mut lost = page.clone();
    lost["meta"]["next_page_url"] = json!(format!("{base}?Page=3"));
    assert!(
        ids(&page_body(&lost, &ctx, by_token.as_ref())).contains(&"page.meta.next_page_url.value")
    );
    // A link that names another size is wrong, token or not.
    let mut other = page.clone();
    other["meta"]["next_page_url"] = json!(format!("{base}?PageToken=opaque3&PageSize=7"));
    assert!(
        ids(&page_body(&other, &ctx, by_token.as_ref())).contains(&"page.meta.next_page_url.value")
    );
}

/// ISO 8601 allows a fraction of a second; dates are ordered by instant, not by text.
#[test]
fn dates_may_carry_a_fraction_of_a_second() {
    let ctx = Context {
        base_url: Some("http://127.0.0.1:4010".into()),
        ..Context::for_op(Operation::Fetch, UrlForm::Shortened, Edition::Docs)
    };
    let mut u = good_user();
    u["date_created"] = json!("2024-01-01T00:00:00.250Z");
    u["date_updated"] = json!("2024-01-01T00:00:00.9Z");
    assert_eq!(ids(&user_body(&u, &ctx)), Vec::<&str>::new());
    // Text order would call these reversed ("." sorts before "Z"); by instant they are not.
    u["date_created"] = json!("2024-01-01T00:00:00Z");
    u["date_updated"] = json!("2024-01-01T00:00:00.001Z");
    assert_eq!(ids(&user_body(&u, &ctx)), Vec::<&str>::new());
    u["date_updated"] = json!("2023-12-31T23:59:59.999Z");
    assert_eq!(ids(&user_body(&u, &ctx)), ["user.dates.order"]);
    for bad in ["2024-01-01T00:00:00.Z", "2024-02-30T00:00:00.5Z"] {
        u["date_updated"] = json!(bad);
        assert!(
            ids(&user_body(&u, &ctx)).contains(&"user.date_updated.format"),
            "{bad}"
        );
    }
}
