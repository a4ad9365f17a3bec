//! The observer on exchanges the emulator answers in process (no socket): what it judges
//! alone, across exchanges, and what it must not hold against a correct server that knows
//! more than the session saw.

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use super::observe::{Observer, Seen, Target, classify};
use crate::check::Exchange;
use crate::emulator::{self, AppState, Config, Fault};
use crate::spec::{Edition, Operation, Severity, UrlForm};

const BASE: &str = "http://proxied.test";

struct World {
    app: axum::Router,
    observer: Observer,
    config: Config,
}

impl World {
    fn new(faults: Vec<Fault>) -> World {
        let config = Config {
            faults,
            ..Config::default()
        };
        let state = AppState::new(config.clone()).expect("an emulator");
        World {
            app: emulator::app(state),
            observer: Observer::new(BASE, None, None, Edition::Docs),
            config,
        }
    }

    /// Sends a request to the emulator; the exchange, as the proxy would hand it over.
    async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Exchange {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.config.account_sid, self.config.auth_token
        ));
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "proxied.test")
            .header("authorization", format!("Basic {auth}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.clone()))
            .unwrap();
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let response_headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let response_body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Exchange {
            method: method.to_owned(),
            url: format!("{BASE}{path}"),
            request_headers: vec![(
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            )],
            request_body: body.into_bytes(),
            status,
            response_headers,
            response_body,
        }
    }

    async fn see(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Exchange {
        let ex = self.send(method, path, form).await;
        self.observe(ex.clone(), false);
        ex
    }

    fn observe(&mut self, exchange: Exchange, alone: bool) {
        self.observer.observe(Seen {
            exchange,
            at: "2026-12-06T00:00:00.000Z".to_owned(),
            elapsed_ms: 1,
            alone,
            account: Some(self.config.account_sid.clone()),
        });
    }

    fn must(&mut self) -> Vec<String> {
        let (records, _) = self.observer.finish_session();
        records
            .iter()
            .flat_map(|r| &r.findings)
            .filter(|f| f.severity == Severity::Must)
            .map(|f| f.check.clone())
            .collect()
    }
}

fn sid_of(ex: &Exchange) -> String {
    let v: serde_json::Value = serde_json::from_slice(&ex.response_body).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

#[test]
fn requests_are_classified_by_method_and_path() {
    let svc = "IS00000000000000000000000000000002";
    assert_eq!(
        classify("POST", "", "/v1/Users"),
        Target::Collection {
            form: UrlForm::Shortened,
            op: Operation::Create
        }
    );
    assert_eq!(
        classify(
            "GET",
            "/prefix",
            &format!("/prefix/v1/Services/{svc}/Users")
        ),
        Target::Collection {
            form: UrlForm::Service(svc.to_owned()),
            op: Operation::Read
        }
    );
    assert_eq!(
        classify("DELETE", "", "/v1/Users/a%2Fb%20c"),
        Target::Item {
            form: UrlForm::Shortened,
            key: "a/b c".to_owned(),
            op: Operation::Delete
        }
    );
    for (m, p) in [
        ("GET", "/v1/Users/US1/Conversations"),
        ("PUT", "/v1/Users/US1"),
        ("DELETE", "/v1/Users"),
        ("GET", "/v1/Conversations"),
        ("GET", "/v1/Users/"),
        ("GET", "/other/v1/Users"),
    ] {
        assert_eq!(classify(m, "", p), Target::Uncovered, "{m} {p}");
    }
}

#[tokio::test]
async fn a_faithful_session_gives_no_finding_and_holds_what_it_judged() {
    let mut w = World::new(Vec::new());
    let ex = w.see("POST", "/v1/Users", &[("Identity", "ann")]).await;
    let sid = sid_of(&ex);
    w.see(
        "POST",
        &format!("/v1/Users/{sid}"),
        &[("FriendlyName", "Ann")],
    )
    .await;
    w.see("GET", "/v1/Users/ann", &[]).await;
    w.see("GET", "/v1/Users?PageSize=1", &[]).await;
    w.see("DELETE", "/v1/Users/ann", &[]).await;
    w.see("GET", &format!("/v1/Users/{sid}"), &[]).await;
    let (records, notes) = w.observer.finish_session();
    let findings: Vec<_> = records.iter().flat_map(|r| &r.findings).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(notes.is_empty(), "{notes:?}");
    let update = records
        .iter()
        .find(|r| r.id == "proxy::update::shortened")
        .unwrap();
    assert!(update.held["update"]["shortened"].contains("update.applied"));
}

#[tokio::test]
async fn what_an_update_stored_is_what_the_next_fetch_must_show() {
    let mut w = World::new(vec![Fault::UpdateIgnored]);
    let ex = w.see("POST", "/v1/Users", &[("Identity", "bo")]).await;
    let sid = sid_of(&ex);
    w.see(
        "POST",
        &format!("/v1/Users/{sid}"),
        &[("FriendlyName", "Bo")],
    )
    .await;
    assert!(w.must().contains(&"update.applied".to_owned()));
}

#[tokio::test]
async fn users_the_session_never_saw_are_no_disagreement() {
    let mut w = World::new(Vec::new());
    // Made before the session: the observer sees none of this.
    w.send("POST", "/v1/Users", &[("Identity", "old")]).await;
    w.send("POST", "/v1/Users", &[("Identity", "older")]).await;
    // A page listing them, a create refused because one holds the identity, a lookup.
    w.see("GET", "/v1/Users", &[]).await;
    w.see("POST", "/v1/Users", &[("Identity", "old")]).await;
    w.see("GET", "/v1/Users/older", &[]).await;
    w.see("DELETE", "/v1/Users/older", &[]).await;
    w.see("GET", "/v1/Users/older", &[]).await;
    assert!(w.must().is_empty());
}

#[tokio::test]
async fn an_identity_freed_by_a_delete_the_session_saw_should_be_creatable_again() {
    let mut w = World::new(vec![Fault::RecreateConflict]);
    w.see("POST", "/v1/Users", &[("Identity", "cy")]).await;
    w.see("DELETE", "/v1/Users/cy", &[]).await;
    let again = w.see("POST", "/v1/Users", &[("Identity", "cy")]).await;
    assert_eq!(again.status, 409);
    let (records, _) = w.observer.finish_session();
    let all: Vec<_> = records.iter().flat_map(|r| &r.findings).collect();
    assert!(
        all.iter().any(|f| f.check == "create.identity.reusable"),
        "{all:#?}"
    );
}

#[tokio::test]
async fn requests_that_raced_a_write_are_judged_alone_and_their_users_forgotten() {
    // A delete that keeps the user: seen in order, the fetch after it is a finding.
    let mut w = World::new(vec![Fault::DeleteIneffective]);
    w.see("POST", "/v1/Users", &[("Identity", "di")]).await;
    let del = w.send("DELETE", "/v1/Users/di", &[]).await;
    let fetch = w.send("GET", "/v1/Users/di", &[]).await;
    // The same two requests overlapping in time: their order at the target is unknown.
    w.observe(del, true);
    w.observe(fetch.clone(), true);
    // And a later fetch: the user the racing delete named is no longer judged.
    w.observe(fetch, false);
    let (records, notes) = w.observer.finish_session();
    let findings: Vec<_> = records.iter().flat_map(|r| &r.findings).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(
        notes.iter().any(|n| n.contains("2 exchanges overlapped")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn a_lookup_must_answer_the_user_its_value_names() {
    let mut w = World::new(vec![Fault::LookupPrefixMatch]);
    w.see("POST", "/v1/Users", &[("Identity", "dana")]).await;
    let ex = w.see("GET", "/v1/Users/da", &[]).await;
    assert_eq!(ex.status, 200, "the fault answers another user");
    assert_eq!(w.must(), vec!["lookup.identity.exact".to_owned()]);
}

#[tokio::test]
async fn a_walk_cut_short_still_shows_no_user_twice() {
    let mut w = World::new(vec![Fault::PageRepeated]);
    for name in ["p1", "p2", "p3"] {
        w.see("POST", "/v1/Users", &[("Identity", name)]).await;
    }
    let mut path = "/v1/Users?PageSize=2".to_owned();
    for _ in 0..3 {
        let ex = w.see("GET", &path, &[]).await;
        let v: serde_json::Value = serde_json::from_slice(&ex.response_body).unwrap();
        let next = v["meta"]["next_page_url"].as_str().expect("a next page");
        path = next.trim_start_matches(BASE).to_owned();
    }
    // The client gave up; the session ends with the walk unfinished.
    assert!(w.must().contains(&"page.walk.complete".to_owned()));
}

/// A 404 of a lookup carries Twilio's not-found code; in a service the session has not seen
/// answer (which may not exist), the unknown-service code 20403 too, as the fixed case
/// `service::unknown` allows.
#[test]
fn a_not_found_code_is_judged_as_the_fixed_cases_judge_it() {
    let svc = "IS00000000000000000000000000000009";
    let not_found = |path: &str, code: u16| Exchange {
        method: "GET".to_owned(),
        url: format!("{BASE}{path}"),
        status: 404,
        response_headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        response_body: serde_json::json!({
            "code": code,
            "message": "not here",
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": 404
        })
        .to_string()
        .into_bytes(),
        ..Exchange::default()
    };
    let checks = |exs: Vec<Exchange>| -> Vec<String> {
        let mut o = Observer::new(BASE, None, None, Edition::Docs);
        for exchange in exs {
            o.observe(Seen {
                exchange,
                at: "2026-12-06T00:00:00.000Z".to_owned(),
                elapsed_ms: 1,
                alone: false,
                account: None,
            });
        }
        let (records, _) = o.finish_session();
        records
            .iter()
            .flat_map(|r| &r.findings)
            .map(|f| f.check.clone())
            .collect()
    };
    let item = format!("/v1/Services/{svc}/Users/nobody");
    assert!(checks(vec![not_found(&item, 20404)]).is_empty());
    assert!(checks(vec![not_found(&item, 20403)]).is_empty());
    assert_eq!(
        checks(vec![not_found(&item, 20400)]),
        vec!["error.code.expected".to_owned()]
    );
    assert_eq!(
        checks(vec![not_found("/v1/Users/nobody", 20403)]),
        vec!["error.code.expected".to_owned()]
    );
}
