//! The reference emulator against the contract: in-process through `tower::ServiceExt::oneshot`,
//! on real sockets through `spawn` and the `convcheck serve` binary, against a plain model
//! (proptest), under concurrency, and across restarts with a state file.

use std::collections::HashSet;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use convcheck::emulator::{self, AppState, Config, Fault, app, spawn};
use convcheck::spec::identity::encode_segment;
use convcheck::spec::sid::SidKind;
use convcheck::spec::{Edition, rules};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const HOST: &str = "emu.test:4010";
const BASE: &str = "http://emu.test:4010";
const S1: &str = emulator::DEFAULT_SERVICE_SID;
const S2: &str = emulator::SECOND_SERVICE_SID;

/// One answer, already read.
#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: Option<String>,
    text: String,
    json: Value,
}

/// An in-process emulator and a tiny client for it.
struct Emu {
    app: Router,
    config: Config,
}

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Emu {
    fn new() -> Emu {
        Emu::with(Config::default())
    }

    fn with(config: Config) -> Emu {
        let state = AppState::new(config.clone()).expect("valid config");
        Emu {
            app: app(state),
            config,
        }
    }

    fn faulty(faults: &[Fault]) -> Emu {
        Emu::with(Config {
            faults: faults.to_vec(),
            ..Config::default()
        })
    }

    fn auth(&self) -> String {
        basic(&self.config.account_sid, &self.config.auth_token)
    }

    async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            text,
            json,
        }
    }

    /// A request with the right credentials and Host header; `body` is a form.
    async fn call(&self, method: &str, uri: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, self.auth());
        if !body.is_empty() {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    async fn get(&self, uri: &str) -> Resp {
        self.call("GET", uri, "", &[]).await
    }

    async fn post(&self, uri: &str, pairs: &[(&str, &str)]) -> Resp {
        self.call("POST", uri, &form(pairs), &[]).await
    }

    async fn delete(&self, uri: &str) -> Resp {
        self.call("DELETE", uri, "", &[]).await
    }

    /// Creates a user in the default service and returns it.
    async fn create(&self, identity: &str) -> Value {
        let r = self.post("/v1/Users", &[("Identity", identity)]).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    /// Follows `next_page_url` from `first` and returns every user seen.
    async fn walk(&self, first: &str) -> Vec<Value> {
        let mut users = Vec::new();
        let mut url = first.to_owned();
        for _ in 0..10_000 {
            let r = self.get(&url).await;
            assert_eq!(r.status, 200, "{url}: {}", r.text);
            users.extend(r.json["users"].as_array().unwrap().iter().cloned());
            match r.json["meta"]["next_page_url"].as_str() {
                Some(next) => url = next.strip_prefix(BASE).unwrap().to_owned(),
                None => return users,
            }
        }
        panic!("paging did not end")
    }
}

fn item(identity: &str) -> String {
    format!("/v1/Users/{}", encode_segment(identity))
}

/// Asserts a Twilio error body: status field, code, more_info, JSON content type.
fn assert_error(r: &Resp, status: u16, codes: &[i64]) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let keys: Vec<&str> = r
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["code", "message", "more_info", "status"],
        "{}",
        r.text
    );
    let code = r.json["code"].as_i64().unwrap();
    assert!(codes.contains(&code), "code {code} not in {codes:?}");
    assert_eq!(r.json["status"], status);
    assert_eq!(
        r.json["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    assert!(!r.json["message"].as_str().unwrap().is_empty());
}

fn assert_date(v: &Value) {
    let re = regex::Regex::new(&rules().date_pattern).unwrap();
    assert!(re.is_match(v.as_str().unwrap()), "{v}");
}

#[tokio::test]
async fn create_answers_201_with_every_key_in_order() {
    let emu = Emu::new();
    let r = emu.post("/v1/Users", &[("Identity", "alice")]).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let u = &r.json;
    let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, rules().user_properties);
    let sid = u["sid"].as_str().unwrap();
    assert!(SidKind::User.matches(sid), "{sid}");
    assert_eq!(u["account_sid"], emulator::DEFAULT_ACCOUNT_SID);
    assert_eq!(u["chat_service_sid"], S1);
    assert_eq!(
        u["role_sid"],
        emu.config.default_service().default_role_sid.as_str()
    );
    assert_eq!(u["identity"], "alice");
    assert_eq!(u["friendly_name"], Value::Null);
    assert_eq!(u["attributes"], "{}");
    assert_eq!(u["is_online"], Value::Null);
    assert_eq!(u["is_notifiable"], Value::Null);
    assert_date(&u["date_created"]);
    assert_date(&u["date_updated"]);
    assert_eq!(u["url"], format!("{BASE}/v1/Users/{sid}"));
    assert_eq!(
        u["links"]["user_conversations"],
        format!("{BASE}/v1/Users/{sid}/Conversations")
    );
}

#[tokio::test]
async fn sids_are_fresh() {
    let emu = Emu::new();
    let mut seen = HashSet::new();
    for i in 0..50 {
        let u = emu.create(&format!("user{i}")).await;
        assert!(seen.insert(u["sid"].as_str().unwrap().to_owned()));
    }
}

#[tokio::test]
async fn service_form_urls_follow_the_request() {
    let emu = Emu::new();
    let path = format!("/v1/Services/{S2}/Users");
    let r = emu.post(&path, &[("Identity", "bob")]).await;
    assert_eq!(r.status, 201);
    let sid = r.json["sid"].as_str().unwrap().to_owned();
    assert_eq!(r.json["chat_service_sid"], S2);
    assert_eq!(
        r.json["role_sid"],
        emu.config.services[1].default_role_sid.as_str()
    );
    assert_eq!(r.json["url"], format!("{BASE}{path}/{sid}"));
    // The default service is reachable in both forms, and each form keeps its own URLs.
    let u = emu.create("carol").await;
    let csid = u["sid"].as_str().unwrap();
    let r = emu.get(&format!("/v1/Services/{S1}/Users/{csid}")).await;
    assert_eq!(
        r.json["url"],
        format!("{BASE}/v1/Services/{S1}/Users/{csid}")
    );
    let r = emu.get(&format!("/v1/Users/{csid}")).await;
    assert_eq!(r.json["url"], format!("{BASE}/v1/Users/{csid}"));
}

#[tokio::test]
async fn services_are_isolated_and_unknown_ones_are_404() {
    let emu = Emu::new();
    emu.create("dora").await;
    let r = emu.get(&format!("/v1/Services/{S2}/Users/dora")).await;
    assert_error(&r, 404, &[20404]);
    // The same identity may exist once per service.
    let r = emu
        .post(&format!("/v1/Services/{S2}/Users"), &[("Identity", "dora")])
        .await;
    assert_eq!(r.status, 201);
    for bad in [
        "IS0000000000000000000000000000000f",
        "IS1",
        "ISzz000000000000000000000000000001",
    ] {
        let r = emu.get(&format!("/v1/Services/{bad}/Users")).await;
        assert_error(&r, 404, &[20404]);
        let r = emu
            .post(&format!("/v1/Services/{bad}/Users"), &[("Identity", "x")])
            .await;
        assert_error(&r, 404, &[20404]);
    }
}

#[tokio::test]
async fn forms_take_plus_and_percent_twenty_and_utf8() {
    let emu = Emu::new();
    let r = emu
        .call(
            "POST",
            "/v1/Users",
            "Identity=a+b%20c&FriendlyName=J%C3%BCrgen+M%C3%BCller&Attributes=%7B%22k%22%3A+1%7D",
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["identity"], "a b c");
    assert_eq!(r.json["friendly_name"], "Jürgen Müller");
    assert_eq!(r.json["attributes"], "{\"k\": 1}");
    // Malformed forms are refused, never a crash.
    for body in ["Identity=%FF", "Identity=%C3", "FriendlyName=%E2%82"] {
        let r = emu.call("POST", "/v1/Users", body, &[]).await;
        assert_error(&r, 400, &[20001]);
    }
    for body in ["%", "=&=&&", "Identity", "Identity=%zz"] {
        let r = emu.call("POST", "/v1/Users", body, &[]).await;
        assert!(r.status == 400 || r.status == 201, "{body}: {}", r.text);
    }
}

#[tokio::test]
async fn create_validates_identity_role_and_attributes() {
    let emu = Emu::new();
    let missing = rules().errors.missing_identity.accepted_codes();
    assert_error(&emu.post("/v1/Users", &[]).await, 400, &missing);
    assert_error(
        &emu.post("/v1/Users", &[("Identity", "")]).await,
        400,
        &missing,
    );
    assert_error(
        &emu.post("/v1/Users", &[("FriendlyName", "x")]).await,
        400,
        &missing,
    );
    let sid_like = "US0123456789abcdef0123456789abcdef";
    assert_error(
        &emu.post("/v1/Users", &[("Identity", sid_like)]).await,
        400,
        &[50206],
    );
    emu.create("erin").await;
    assert_error(
        &emu.post("/v1/Users", &[("Identity", "erin")]).await,
        409,
        &[50201],
    );
    // Identities are case-sensitive: another case is another user.
    emu.create("Erin").await;

    for bad in [
        "",
        "RL123",
        "rl00000000000000000000000000000011",
        "RLzz000000000000000000000000000011",
    ] {
        let r = emu
            .post("/v1/Users", &[("Identity", "f1"), ("RoleSid", bad)])
            .await;
        assert_error(&r, 400, &[20001]);
    }
    // Well formed, but a role of another service.
    let other = emu.config.services[1].second_role_sid.clone();
    let r = emu
        .post("/v1/Users", &[("Identity", "f1"), ("RoleSid", &other)])
        .await;
    assert_error(&r, 400, &[50100]);
    let second = emu.config.default_service().second_role_sid.clone();
    let r = emu
        .post("/v1/Users", &[("Identity", "f1"), ("RoleSid", &second)])
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json["role_sid"], second.as_str());

    for bad in ["", "x", "[]", "\"{}\"", "1", "null", "{", "{\"a\":}"] {
        let r = emu
            .post("/v1/Users", &[("Identity", "g1"), ("Attributes", bad)])
            .await;
        assert_error(&r, 400, &[20001]);
    }
    let attrs = "{ \"duty\": \"tech\", \"n\": [1, 2] }";
    let r = emu
        .post("/v1/Users", &[("Identity", "g1"), ("Attributes", attrs)])
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json["attributes"], attrs);
    // Failed creates left nothing behind.
    let page = emu.get("/v1/Users").await;
    let ids: Vec<&str> = page.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["identity"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["erin", "Erin", "f1", "g1"]);
}

#[tokio::test]
async fn lookup_by_sid_or_identity_decodes_once_and_matches_exactly() {
    let emu = Emu::new();
    let identities = [
        "plain",
        "a b",
        "a+b",
        "100%",
        "%2520",
        "jürgen@example.com",
        "x/y?z#w",
        "!*'();:@&=+$,[]",
        "日本",
    ];
    for identity in identities {
        let u = emu.create(identity).await;
        let sid = u["sid"].as_str().unwrap();
        let by_sid = emu.get(&format!("/v1/Users/{sid}")).await;
        assert_eq!(by_sid.status, 200);
        let by_id = emu.get(&item(identity)).await;
        assert_eq!(by_id.status, 200, "{identity}: {}", by_id.text);
        assert_eq!(by_id.json["sid"], sid);
        // The resource is the same whichever key found it.
        assert_eq!(by_id.json, by_sid.json);
    }
    // `+` stays `+` in a path; `%20` is a space.
    assert_eq!(emu.get("/v1/Users/a+b").await.json["identity"], "a+b");
    assert_eq!(emu.get("/v1/Users/a%20b").await.json["identity"], "a b");
    // Decoded once: `%252520` is the identity `%2520`, `%2520` is `%20` (no such user).
    assert_eq!(emu.get("/v1/Users/%252520").await.json["identity"], "%2520");
    assert_error(&emu.get("/v1/Users/%2520").await, 404, &[20404]);
    // Case-sensitive, exact, UTF-8.
    assert_error(&emu.get("/v1/Users/PLAIN").await, 404, &[20404]);
    assert_error(&emu.get("/v1/Users/plai").await, 404, &[20404]);
    assert_error(&emu.get("/v1/Users/%FF").await, 404, &[20404]);
    assert_error(
        &emu.get("/v1/Users/j%FCrgen%40example.com").await,
        404,
        &[20404],
    );
    assert_error(
        &emu.get("/v1/Users/US0123456789abcdef0123456789abcdef")
            .await,
        404,
        &[20404],
    );
}

#[tokio::test]
async fn update_changes_only_what_it_is_given() {
    let emu = Emu::new();
    let role2 = emu.config.default_service().second_role_sid.clone();
    let created = emu.create("hank").await;
    let sid = created["sid"].as_str().unwrap().to_owned();
    let r = emu
        .post(
            &item("hank"),
            &[("FriendlyName", "Hank"), ("Attributes", "{\"a\":1}")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["friendly_name"], "Hank");
    assert_eq!(r.json["attributes"], "{\"a\":1}");
    assert_eq!(r.json["role_sid"], created["role_sid"]);
    assert_eq!(r.json["is_online"], Value::Null);
    assert_eq!(r.json["date_created"], created["date_created"]);
    assert!(r.json["date_updated"].as_str() >= created["date_updated"].as_str());

    // Absent parameters stay; identity never changes, even when asked.
    let r = emu
        .post(
            &format!("/v1/Users/{sid}"),
            &[("RoleSid", &role2), ("Identity", "other")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["identity"], "hank");
    assert_eq!(r.json["friendly_name"], "Hank");
    assert_eq!(r.json["attributes"], "{\"a\":1}");
    assert_eq!(r.json["role_sid"], role2.as_str());
    assert_eq!(emu.get(&item("other")).await.status, 404);

    // An empty update is allowed and changes nothing but `date_updated`.
    let before = emu.get(&item("hank")).await.json;
    let r = emu.post(&item("hank"), &[]).await;
    assert_eq!(r.status, 200);
    for k in [
        "friendly_name",
        "attributes",
        "role_sid",
        "date_created",
        "url",
    ] {
        assert_eq!(r.json[k], before[k], "{k}");
    }

    assert_error(
        &emu.post(&item("hank"), &[("Attributes", "[]")]).await,
        400,
        &[20001],
    );
    assert_error(
        &emu.post(&item("hank"), &[("RoleSid", "RL1")]).await,
        400,
        &[20001],
    );
    assert_error(
        &emu.post(
            &item("hank"),
            &[("RoleSid", "RL0000000000000000000000000000abcd")],
        )
        .await,
        400,
        &[50100],
    );
    assert_error(
        &emu.post(&item("nobody"), &[("FriendlyName", "x")]).await,
        404,
        &[20404],
    );
    // Refused updates changed nothing.
    assert_eq!(
        emu.get(&item("hank")).await.json["role_sid"],
        role2.as_str()
    );
}

#[tokio::test]
async fn delete_answers_204_and_the_user_is_gone() {
    let emu = Emu::new();
    for by_identity in [false, true] {
        let u = emu.create("ivy").await;
        let sid = u["sid"].as_str().unwrap().to_owned();
        let target = if by_identity {
            item("ivy")
        } else {
            format!("/v1/Users/{sid}")
        };
        let r = emu.delete(&target).await;
        assert_eq!(r.status, 204);
        assert!(r.text.is_empty());
        assert_error(&emu.get(&format!("/v1/Users/{sid}")).await, 404, &[20404]);
        assert_error(&emu.get(&item("ivy")).await, 404, &[20404]);
        assert_error(&emu.delete(&target).await, 404, &[20404]);
        assert_error(
            &emu.post(&target, &[("FriendlyName", "x")]).await,
            404,
            &[20404],
        );
    }
    // The identity is free again.
    emu.create("ivy").await;
}

#[tokio::test]
async fn webhook_header_takes_true_or_false_on_writes_only() {
    let emu = Emu::new();
    let h = rules().webhook_header.name.as_str();
    for v in ["true", "false"] {
        let id = format!("w-{v}");
        let r = emu
            .call("POST", "/v1/Users", &form(&[("Identity", &id)]), &[(h, v)])
            .await;
        assert_eq!(r.status, 201);
        let r = emu
            .call(
                "POST",
                &item(&id),
                &form(&[("FriendlyName", "x")]),
                &[(h, v)],
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            emu.call("DELETE", &item(&id), "", &[(h, v)]).await.status,
            204
        );
    }
    emu.create("w").await;
    for v in ["yes", "TRUE", "1", ""] {
        let r = emu
            .call("POST", "/v1/Users", &form(&[("Identity", "w2")]), &[(h, v)])
            .await;
        assert_error(&r, 400, &[20001]);
        let r = emu
            .call(
                "POST",
                &item("w"),
                &form(&[("FriendlyName", "x")]),
                &[(h, v)],
            )
            .await;
        assert_error(&r, 400, &[20001]);
        assert_error(
            &emu.call("DELETE", &item("w"), "", &[(h, v)]).await,
            400,
            &[20001],
        );
        // Reads ignore it.
        assert_eq!(emu.call("GET", &item("w"), "", &[(h, v)]).await.status, 200);
    }
    assert_eq!(emu.get(&item("w")).await.json["friendly_name"], Value::Null);
    assert_eq!(emu.get(&item("w2")).await.status, 404);
}

#[tokio::test]
async fn authentication_takes_the_account_or_an_api_key() {
    let emu = Emu::new();
    let c = &emu.config;
    let with = |auth: Option<String>| {
        let mut b = Request::builder()
            .uri("/v1/Users")
            .header(header::HOST, HOST);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::empty()).unwrap()
    };
    assert_eq!(
        emu.send(with(Some(basic(&c.api_key, &c.api_secret))))
            .await
            .status,
        200
    );
    assert_eq!(emu.send(with(Some(emu.auth()))).await.status, 200);
    for bad in [
        None,
        Some(basic(&c.account_sid, "wrong")),
        Some(basic(&c.api_key, &c.auth_token)),
        Some(basic(&c.account_sid, &c.api_secret)),
        Some(basic("", "")),
        Some("Basic !!!".to_owned()),
        Some("Bearer x".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
        )),
    ] {
        let r = emu.send(with(bad.clone())).await;
        assert_error(&r, 401, &[20003]);
        assert_eq!(r.json["message"], "Authenticate", "{bad:?}");
    }
    // Every route asks for credentials, unknown ones included.
    let r = emu
        .send(
            Request::builder()
                .uri("/nowhere")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_error(&r, 401, &[20003]);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_error_bodies() {
    let emu = Emu::new();
    for path in [
        "/",
        "/v1",
        "/v1/Users/x/y",
        "/v2/Users",
        "/v1/users",
        "/v1/Services",
    ] {
        assert_error(&emu.get(path).await, 404, &[20404]);
    }
    // The sub-resource takes GET only, and only under a user.
    emu.create("jo").await;
    assert_error(
        &emu.get("/v1/Users/jo/Conversations/x").await,
        404,
        &[20404],
    );
    assert_error(
        &emu.post("/v1/Users/jo/Conversations", &[]).await,
        405,
        &[20004],
    );
    assert_error(&emu.delete("/v1/Configuration").await, 405, &[20004]);
    for (method, path) in [
        ("PUT", "/v1/Users"),
        ("DELETE", "/v1/Users"),
        ("PATCH", "/v1/Users/jo"),
        ("PUT", "/v1/Users/jo"),
        ("HEAD", "/v1/Users/jo"),
        ("GET", "/_emulator/Users/jo/Presence"),
    ] {
        let r = emu.call(method, path, "", &[]).await;
        assert_eq!(r.status, 405, "{method} {path}");
        if method != "HEAD" {
            assert_error(&r, 405, &[20004]);
        }
    }
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let emu = Emu::new();
    let huge = format!("Identity=big&Attributes={}", "a".repeat(1 << 20));
    let r = emu.call("POST", "/v1/Users", &huge, &[]).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json["status"], 413);
    assert_eq!(emu.get(&item("big")).await.status, 404);
}

#[tokio::test]
async fn dates_hold_and_date_created_never_moves() {
    let emu = Emu::new();
    let u = emu.create("kim").await;
    for i in 0..3 {
        let r = emu
            .post(&item("kim"), &[("FriendlyName", &format!("k{i}"))])
            .await;
        assert_eq!(r.json["date_created"], u["date_created"]);
        assert!(r.json["date_updated"].as_str() >= u["date_updated"].as_str());
        assert!(r.json["date_updated"].as_str() >= r.json["date_created"].as_str());
        assert_date(&r.json["date_updated"]);
    }
}

#[tokio::test]
async fn reachability_shows_only_in_fetch_and_only_when_on() {
    for on in [false, true] {
        let emu = Emu::with(Config {
            reachability: on,
            ..Config::default()
        });
        let u = emu.create("lee").await;
        let sid = u["sid"].as_str().unwrap();
        assert_eq!(emu.get(&item("lee")).await.json["is_online"], Value::Null);
        let r = emu
            .post(
                &format!("/_emulator/Services/{S1}/Users/{sid}/Presence"),
                &[("Online", "true"), ("Notifiable", "false")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let f = emu.get(&item("lee")).await.json;
        let (online, notifiable) = if on {
            (Value::Bool(true), Value::Bool(false))
        } else {
            (Value::Null, Value::Null)
        };
        assert_eq!(f["is_online"], online);
        assert_eq!(f["is_notifiable"], notifiable);
        let read = emu.get("/v1/Users").await.json;
        assert_eq!(read["users"][0]["is_online"], Value::Null);
        assert_eq!(read["users"][0]["is_notifiable"], Value::Null);
        let upd = emu.post(&item("lee"), &[("FriendlyName", "L")]).await.json;
        assert_eq!(upd["is_online"], Value::Null);
        // The shortened control route works too, and validates its flags.
        let r = emu
            .post("/_emulator/Users/lee/Presence", &[("Online", "false")])
            .await;
        assert_eq!(r.status, 200);
        let r = emu
            .post("/_emulator/Users/lee/Presence", &[("Online", "maybe")])
            .await;
        assert_error(&r, 400, &[20001]);
        let r = emu
            .post("/_emulator/Users/nobody/Presence", &[("Online", "true")])
            .await;
        assert_error(&r, 404, &[20404]);
    }
}

#[tokio::test]
async fn read_pages_carry_meta_in_order() {
    let emu = Emu::new();
    let r = emu.get("/v1/Users").await;
    assert_eq!(r.status, 200);
    let keys: Vec<&str> = r
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["users", "meta"]);
    let meta = &r.json["meta"];
    let meta_keys: Vec<&str> = meta
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(meta_keys, rules().pagination.meta_keys);
    assert_eq!(meta["page"], 0);
    assert_eq!(meta["page_size"], 50);
    assert_eq!(meta["key"], "users");
    assert_eq!(
        meta["first_page_url"],
        format!("{BASE}/v1/Users?PageSize=50&Page=0")
    );
    assert_eq!(meta["url"], format!("{BASE}/v1/Users?PageSize=50&Page=0"));
    assert_eq!(meta["previous_page_url"], Value::Null);
    assert_eq!(meta["next_page_url"], Value::Null);

    for i in 0..5 {
        emu.create(&format!("p{i}")).await;
    }
    let p0 = emu.get("/v1/Users?PageSize=2").await.json;
    let ids = |page: &Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["identity"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&p0), ["p0", "p1"]);
    assert_eq!(p0["users"][0]["is_online"], Value::Null);
    assert_eq!(p0["meta"]["page_size"], 2);
    assert_eq!(
        p0["meta"]["first_page_url"],
        format!("{BASE}/v1/Users?PageSize=2&Page=0")
    );
    assert_eq!(
        p0["meta"]["url"],
        format!("{BASE}/v1/Users?PageSize=2&Page=0")
    );
    let next = p0["meta"]["next_page_url"].as_str().unwrap();
    assert!(next.starts_with(&format!("{BASE}/v1/Users?PageSize=2&Page=1&PageToken=")));
    let p1 = emu.get(next.strip_prefix(BASE).unwrap()).await.json;
    assert_eq!(ids(&p1), ["p2", "p3"]);
    assert_eq!(p1["meta"]["page"], 1);
    assert_eq!(p1["meta"]["url"], next);
    let prev = p1["meta"]["previous_page_url"].as_str().unwrap();
    assert!(prev.contains("Page=0"));
    assert_eq!(
        ids(&emu.get(prev.strip_prefix(BASE).unwrap()).await.json),
        ["p0", "p1"]
    );
    let p2 = emu
        .get(
            p1["meta"]["next_page_url"]
                .as_str()
                .unwrap()
                .strip_prefix(BASE)
                .unwrap(),
        )
        .await
        .json;
    assert_eq!(ids(&p2), ["p4"]);
    assert_eq!(p2["meta"]["next_page_url"], Value::Null);
    // Exactly full last page: no next either.
    let full = emu.get("/v1/Users?PageSize=5").await.json;
    assert_eq!(full["meta"]["next_page_url"], Value::Null);
    // Page numbers without a token are offsets.
    assert_eq!(
        ids(&emu.get("/v1/Users?PageSize=2&Page=2").await.json),
        ["p4"]
    );
    // The service form keeps its path in meta URLs.
    let s = emu
        .get(&format!("/v1/Services/{S1}/Users?PageSize=3"))
        .await
        .json;
    assert!(
        s["meta"]["next_page_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{BASE}/v1/Services/{S1}/Users?PageSize=3&Page=1&PageToken="
            ))
    );
}

#[tokio::test]
async fn read_validates_its_parameters() {
    let emu = Emu::new();
    for q in [
        "PageSize=0",
        "PageSize=1001",
        "PageSize=-1",
        "PageSize=x",
        "PageSize=",
        "PageSize=2.5",
        "Page=-1",
        "Page=x",
        "PageToken=garbage",
        "PageToken=PA",
    ] {
        assert_error(&emu.get(&format!("/v1/Users?{q}")).await, 400, &[20001]);
    }
    for q in [
        "PageSize=1",
        "PageSize=1000",
        "PageSize=50&Page=3",
        "Other=1",
    ] {
        assert_eq!(emu.get(&format!("/v1/Users?{q}")).await.status, 200, "{q}");
    }
    let oai = Emu::with(Config {
        edition: Edition::Oai2025,
        ..Config::default()
    });
    assert_error(&oai.get("/v1/Users?PageSize=51").await, 400, &[20001]);
    assert_eq!(oai.get("/v1/Users?PageSize=50").await.status, 200);
}

#[tokio::test]
async fn paging_sees_no_gap_and_no_repeat_under_concurrent_changes() {
    let emu = Emu::new();
    for i in 0..10 {
        emu.create(&format!("c{i}")).await;
    }
    let mut seen = Vec::new();
    let mut url = "/v1/Users?PageSize=2".to_owned();
    let mut round = 0;
    loop {
        let page = emu.get(&url).await.json;
        for u in page["users"].as_array().unwrap() {
            seen.push(u["identity"].as_str().unwrap().to_owned());
        }
        // Between pages, delete a user already seen and add a new one.
        emu.delete(&item(&seen[round])).await;
        emu.create(&format!("new{round}")).await;
        round += 1;
        match page["meta"]["next_page_url"].as_str() {
            Some(n) => url = n.strip_prefix(BASE).unwrap().to_owned(),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "repeat in {seen:?}");
    for i in 0..10 {
        assert!(
            seen.contains(&format!("c{i}")),
            "gap: c{i} missing from {seen:?}"
        );
    }
}

#[tokio::test]
async fn urls_use_the_host_header_and_fall_back_to_the_bound_address() {
    let emu = Emu::new();
    let u = emu.create("mo").await;
    assert!(u["url"].as_str().unwrap().starts_with(BASE));
    let req = Request::builder()
        .uri("/v1/Users/mo")
        .header(header::AUTHORIZATION, emu.auth())
        .body(Body::empty())
        .unwrap();
    let r = emu.send(req).await;
    assert!(
        r.json["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:0/")
    );
    let req = Request::builder()
        .uri("/v1/Users/mo")
        .header(header::HOST, "evil\"host/")
        .header(header::AUTHORIZATION, emu.auth())
        .body(Body::empty())
        .unwrap();
    let r = emu.send(req).await;
    assert!(
        r.json["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:0/")
    );
}

#[tokio::test]
async fn latency_still_answers() {
    let emu = Emu::with(Config {
        latency: std::time::Duration::from_millis(5),
        ..Config::default()
    });
    assert_eq!(emu.get("/v1/Users").await.status, 200);
}

#[test]
fn faults_parse_back_are_unique_and_listed() {
    let mut names = HashSet::new();
    for f in Fault::ALL {
        assert_eq!(f.name().parse::<Fault>(), Ok(f));
        assert!(names.insert(f.name()));
        assert!(!f.area().is_empty() && !f.description().is_empty());
    }
    let listing = emulator::faults::listing();
    assert!(listing.lines().count() >= 30);
    for (line, f) in listing.lines().zip(Fault::ALL) {
        assert!(
            line.starts_with(f.name()) && line.contains(f.area()),
            "{line}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convcheck"))
        .arg("faults")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), listing);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convcheck"))
        .args(["serve", "--fault", "no-such-fault"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("`no-such-fault`") && err.contains("convcheck faults"));
}

#[tokio::test]
async fn a_few_faults_show_through_the_api() {
    let emu = Emu::faulty(&[Fault::Create200, Fault::ErrorPlainText]);
    assert_eq!(
        emu.post("/v1/Users", &[("Identity", "n")]).await.status,
        200
    );
    let r = emu.get(&item("nobody")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json, Value::Null);
    let emu = Emu::faulty(&[Fault::AuthNotEnforced]);
    let r = emu
        .send(
            Request::builder()
                .uri("/v1/Users")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    let emu = Emu::faulty(&[Fault::IdentityCaseFolded]);
    emu.create("Nia").await;
    assert_eq!(emu.get(&item("nia")).await.status, 200);
    let emu = Emu::faulty(&[Fault::UserSkipped]);
    for i in 0..6 {
        emu.create(&format!("s{i}")).await;
    }
    assert!(emu.walk("/v1/Users?PageSize=2").await.len() < 6);
    // Every fault at once still answers every operation without a crash.
    let emu = Emu::faulty(&Fault::ALL);
    let r = emu.post("/v1/Users", &[("Identity", "all")]).await;
    assert!(r.status < 500);
    for (m, p) in [
        ("GET", "/v1/Users"),
        ("GET", "/v1/Users/all"),
        ("POST", "/v1/Users/all"),
        ("DELETE", "/v1/Users/all"),
    ] {
        assert!(emu.call(m, p, "", &[]).await.status < 500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_creates_lose_none() {
    let emu = std::sync::Arc::new(Emu::new());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let emu = emu.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in (t..1000).step_by(16) {
                let r = emu
                    .post("/v1/Users", &[("Identity", &format!("bulk{i}"))])
                    .await;
                statuses.push(r.status);
            }
            statuses
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.unwrap().iter().filter(|s| **s == 201).count();
    }
    assert_eq!(created, 1000);
    let all = emu.walk("/v1/Users?PageSize=97").await;
    assert_eq!(all.len(), 1000);
    let sids: HashSet<&str> = all.iter().map(|u| u["sid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_race_on_one_identity_creates_exactly_one() {
    let emu = std::sync::Arc::new(Emu::new());
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (emu, barrier) = (emu.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            emu.post("/v1/Users", &[("Identity", "racer")]).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 15);
}

/// The faults only generated and stateful trials reach: each shown by a few requests, against
/// the faithful emulator (`None`) and with the fault on (`Some`).
mod generated_only {
    use super::*;

    pub(super) fn emu(fault: Option<Fault>) -> Emu {
        Emu::faulty(&fault.into_iter().collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn identity_nfc_composes_a_decomposed_identity() {
        let decomposed = "re\u{301}sume\u{301}";
        for fault in [None, Some(Fault::IdentityNfc)] {
            let emu = emu(fault);
            let u = emu.create(decomposed).await;
            let composed = emu.get(&item("r\u{e9}sum\u{e9}")).await;
            let again = emu
                .post("/v1/Users", &[("Identity", "r\u{e9}sum\u{e9}")])
                .await;
            if fault.is_none() {
                assert_eq!(u["identity"], decomposed);
                assert_error(&composed, 404, &[20404]);
                assert_eq!(again.status, 201);
            } else {
                assert_eq!(u["identity"], "r\u{e9}sum\u{e9}");
                assert_eq!(composed.json["sid"], u["sid"]);
                assert_error(&again, 409, &[50201]);
            }
            // Found by the identity as sent either way.
            assert_eq!(emu.get(&item(decomposed)).await.json["sid"], u["sid"]);
        }
    }

    #[tokio::test]
    async fn identity_trimmed_drops_trailing_whitespace() {
        for fault in [None, Some(Fault::IdentityTrimmed)] {
            let emu = emu(fault);
            let u = emu.create("pad \t").await;
            let bare = emu.get(&item("pad")).await;
            let blank = emu.post("/v1/Users", &[("Identity", "   ")]).await;
            if fault.is_none() {
                assert_eq!(u["identity"], "pad \t");
                assert_error(&bare, 404, &[20404]);
                assert_eq!(blank.status, 201, "{}", blank.text);
            } else {
                assert_eq!(u["identity"], "pad");
                assert_eq!(bare.json["sid"], u["sid"]);
                assert_error(&blank, 400, &[20001]);
            }
            // Leading whitespace is kept either way.
            assert_eq!(emu.create(" lead").await["identity"], " lead");
        }
    }

    #[tokio::test]
    async fn identity_truncated_cuts_at_64_characters() {
        let long = format!("{}-tail", "ü".repeat(64));
        for fault in [None, Some(Fault::IdentityTruncated)] {
            let emu = emu(fault);
            let u = emu.create(&long).await;
            let cut = emu.get(&item(&"ü".repeat(64))).await;
            let other = emu
                .post("/v1/Users", &[("Identity", &format!("{long}2"))])
                .await;
            if fault.is_none() {
                assert_eq!(u["identity"], long.as_str());
                assert_error(&cut, 404, &[20404]);
                assert_eq!(other.status, 201);
            } else {
                assert_eq!(u["identity"], "ü".repeat(64));
                assert_eq!(cut.json["sid"], u["sid"]);
                assert_error(&other, 409, &[50201]);
            }
            assert_eq!(emu.get(&item(&long)).await.json["sid"], u["sid"]);
            let exact = "x".repeat(64);
            assert_eq!(emu.create(&exact).await["identity"], exact.as_str());
        }
    }

    #[tokio::test]
    async fn friendly_name_markup_escaped_escapes_angle_brackets_only() {
        let name = "<b>Zoë</b> & \"co\"";
        for fault in [None, Some(Fault::FriendlyNameMarkupEscaped)] {
            let emu = emu(fault);
            let r = emu
                .post("/v1/Users", &[("Identity", "m"), ("FriendlyName", name)])
                .await;
            let u = emu
                .post(&item("m"), &[("FriendlyName", &format!("{name}!"))])
                .await;
            let want = match fault {
                None => name.to_owned(),
                Some(_) => "&lt;b&gt;Zoë&lt;/b&gt; & \"co\"".to_owned(),
            };
            assert_eq!(r.json["friendly_name"], want.as_str());
            assert_eq!(u.json["friendly_name"], format!("{want}!"));
            assert_eq!(
                emu.get(&item("m")).await.json["friendly_name"],
                format!("{want}!")
            );
        }
    }

    /// The stored attributes of a user created with `attrs`, as a JSON value.
    async fn attributes_of(emu: &Emu, identity: &str, attrs: &str) -> Value {
        let r = emu
            .post(
                "/v1/Users",
                &[("Identity", identity), ("Attributes", attrs)],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let fetched = emu.get(&item(identity)).await;
        assert_eq!(fetched.json["attributes"], r.json["attributes"]);
        serde_json::from_str(r.json["attributes"].as_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn attributes_float32_narrows_floats_only() {
        let attrs = r#"{"f":0.1,"half":0.5,"i":3,"s":"0.1"}"#;
        for fault in [None, Some(Fault::AttributesFloat32)] {
            let emu = emu(fault);
            let got = attributes_of(&emu, "f", attrs).await;
            let want: Value = serde_json::from_str(match fault {
                None => attrs,
                Some(_) => r#"{"f":0.10000000149011612,"half":0.5,"i":3,"s":"0.1"}"#,
            })
            .unwrap();
            assert_eq!(got, want);
            // Through update too.
            let u = emu
                .post(&item("f"), &[("Attributes", r#"{"g":2.2}"#)])
                .await;
            let got: Value = serde_json::from_str(u.json["attributes"].as_str().unwrap()).unwrap();
            let want = if fault.is_none() {
                2.2
            } else {
                f64::from(2.2f32)
            };
            assert_eq!(got["g"].as_f64(), Some(want));
        }
    }

    #[tokio::test]
    async fn attributes_big_int_rounded_rounds_beyond_2_pow_53() {
        let attrs =
            r#"{"big":9007199254740993,"neg":-9007199254740995,"safe":9007199254740991,"f":0.1}"#;
        for fault in [None, Some(Fault::AttributesBigIntRounded)] {
            let emu = emu(fault);
            let got = attributes_of(&emu, "n", attrs).await;
            let want: Value = serde_json::from_str(match fault {
                None => attrs,
                Some(_) => {
                    r#"{"big":9007199254740992,"neg":-9007199254740996,"safe":9007199254740991,"f":0.1}"#
                }
            })
            .unwrap();
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn recreate_conflict_keeps_a_deleted_identity_taken() {
        for fault in [None, Some(Fault::RecreateConflict)] {
            let emu = emu(fault);
            let first = emu.create("phoenix").await;
            assert_eq!(emu.delete(&item("phoenix")).await.status, 204);
            // Everything else about the user is gone.
            assert_error(&emu.get(&item("phoenix")).await, 404, &[20404]);
            let sid = first["sid"].as_str().unwrap();
            assert_error(&emu.get(&format!("/v1/Users/{sid}")).await, 404, &[20404]);
            assert!(emu.walk("/v1/Users").await.is_empty());
            let again = emu.post("/v1/Users", &[("Identity", "phoenix")]).await;
            if fault.is_none() {
                assert_eq!(again.status, 201);
                assert_ne!(again.json["sid"], first["sid"]);
            } else {
                assert_error(&again, 409, &[50201]);
            }
            // Only in that service, and only for that identity.
            let s2 = format!("/v1/Services/{S2}/Users");
            assert_eq!(emu.post(&s2, &[("Identity", "phoenix")]).await.status, 201);
            emu.create("phoenix2").await;
        }
    }

    #[tokio::test]
    async fn lookup_prefix_match_finds_a_longer_identity() {
        for fault in [None, Some(Fault::LookupPrefixMatch)] {
            let emu = emu(fault);
            let long = emu.create("alice-smith").await;
            let longer = emu.create("alice-smithson").await;
            let fetch = emu.get(&item("alice")).await;
            if fault.is_none() {
                assert_error(&fetch, 404, &[20404]);
                assert_error(
                    &emu.post(&item("alice"), &[("FriendlyName", "x")]).await,
                    404,
                    &[20404],
                );
                assert_error(&emu.delete(&item("alice")).await, 404, &[20404]);
            } else {
                // The first created of the identities that start with the value.
                assert_eq!(fetch.json["sid"], long["sid"]);
                let u = emu.post(&item("alice"), &[("FriendlyName", "x")]).await;
                assert_eq!(u.json["sid"], long["sid"]);
                assert_eq!(emu.delete(&item("alice")).await.status, 204);
                assert_eq!(emu.get(&item("alice")).await.json["sid"], longer["sid"]);
            }
            // An exact identity still wins, and a SID is never matched by prefix.
            assert_eq!(
                emu.get(&item("alice-smithson")).await.json["sid"],
                longer["sid"]
            );
            let sid = longer["sid"].as_str().unwrap();
            assert_error(
                &emu.get(&format!("/v1/Users/{}", &sid[..33])).await,
                404,
                &[20404],
            );
        }
    }

    #[tokio::test]
    async fn duplicate_race_lets_concurrent_creates_through() {
        for fault in [None, Some(Fault::DuplicateRace)] {
            let emu = emu(fault);
            let pair = [("Identity", "twin")];
            let (a, b) = tokio::join!(emu.post("/v1/Users", &pair), emu.post("/v1/Users", &pair));
            let statuses = [a.status, b.status];
            if fault.is_none() {
                assert_eq!(statuses, [201, 409]);
                assert_eq!(emu.walk("/v1/Users").await.len(), 1);
            } else {
                assert_eq!(statuses, [201, 201]);
                assert_ne!(a.json["sid"], b.json["sid"]);
                let both = emu.walk("/v1/Users").await;
                assert_eq!(both.len(), 2);
                // The identity finds the first created (whichever woke first).
                assert_eq!(emu.get(&item("twin")).await.json["sid"], both[0]["sid"]);
            }
            // One at a time, a duplicate is refused either way.
            assert_error(&emu.post("/v1/Users", &pair).await, 409, &[50201]);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn duplicate_race_on_a_real_socket_keeps_its_state_file_loadable() {
        let dir = TempDir::new("race");
        let config = Config {
            faults: vec![Fault::DuplicateRace],
            state_file: Some(dir.0.join("users.db")),
            ..Config::default()
        };
        let running = spawn(config.clone()).await.unwrap();
        let client = std::sync::Arc::new(Client::new(&running));
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (client, barrier) = (client.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let body = form(&[("Identity", "burst")]);
                client
                    .send(reqwest::Method::POST, "/v1/Users", &body)
                    .await
                    .0
            }));
        }
        let mut created = 0;
        for t in tasks {
            created += usize::from(t.await.unwrap() == 201);
        }
        assert!(
            created > 1,
            "only {created} of 4 concurrent creates succeeded"
        );
        running.shutdown().await.unwrap();
        // The duplicates are in the file, and it loads again with all of them.
        let again = Emu::with(config);
        let users = again.walk("/v1/Users").await;
        assert_eq!(users.len(), created);
        assert!(users.iter().all(|u| u["identity"] == "burst"));
        assert_eq!(again.get(&item("burst")).await.json["sid"], users[0]["sid"]);
    }
}

/// The faults by which a write damages what it did not address: each shown by a few requests,
/// against the faithful emulator (`None`) and with the fault on (`Some`).
mod world_faults {
    use super::generated_only::emu;
    use super::*;

    #[tokio::test]
    async fn update_cross_service_changes_the_identity_in_every_service() {
        let s2 = format!("/v1/Services/{S2}/Users");
        for fault in [None, Some(Fault::UpdateCrossService)] {
            let emu = emu(fault);
            let mine = emu.create("shared").await;
            let theirs = emu
                .post(&s2, &[("Identity", "shared"), ("FriendlyName", "Theirs")])
                .await
                .json;
            let u = emu.post(&item("shared"), &[("FriendlyName", "Mine")]).await;
            assert_eq!(u.status, 200, "{}", u.text);
            assert_eq!(u.json["sid"], mine["sid"]);
            assert_eq!(u.json["friendly_name"], "Mine");
            let other = emu.get(&format!("{s2}/shared")).await.json;
            assert_eq!(other["sid"], theirs["sid"]);
            let want = if fault.is_none() { "Theirs" } else { "Mine" };
            assert_eq!(other["friendly_name"], want);
            // By sid, the addressed user alone changes either way.
            let sid = mine["sid"].as_str().unwrap();
            let by_sid = [("FriendlyName", "BySid")];
            assert_eq!(
                emu.post(&format!("/v1/Users/{sid}"), &by_sid).await.status,
                200
            );
            let other = emu.get(&format!("{s2}/shared")).await.json;
            assert_eq!(other["friendly_name"], want);
        }
    }

    #[tokio::test]
    async fn delete_cross_service_deletes_the_identity_in_every_service() {
        let s2 = format!("/v1/Services/{S2}/Users");
        for fault in [None, Some(Fault::DeleteCrossService)] {
            let emu = emu(fault);
            emu.create("shared").await;
            let theirs = emu.post(&s2, &[("Identity", "shared")]).await.json;
            assert_eq!(emu.delete(&item("shared")).await.status, 204);
            assert_error(&emu.get(&item("shared")).await, 404, &[20404]);
            let other = emu.get(&format!("{s2}/shared")).await;
            if fault.is_none() {
                assert_eq!(other.json["sid"], theirs["sid"]);
            } else {
                assert_error(&other, 404, &[20404]);
                assert!(emu.walk(&s2).await.is_empty());
            }
            // By sid, the addressed user alone goes either way.
            let mine = emu.create("by-sid").await;
            emu.post(&s2, &[("Identity", "by-sid")]).await;
            let sid = mine["sid"].as_str().unwrap();
            assert_eq!(emu.delete(&format!("/v1/Users/{sid}")).await.status, 204);
            assert_eq!(emu.get(&format!("{s2}/by-sid")).await.status, 200);
        }
    }

    #[tokio::test]
    async fn alias_stale_shows_the_default_service_form_from_its_own_cache() {
        let alias = format!("/v1/Services/{S1}/Users");
        let s2 = format!("/v1/Services/{S2}/Users");
        for fault in [None, Some(Fault::AliasStale)] {
            let emu = emu(fault);
            let u = emu
                .post("/v1/Users", &[("Identity", "ali"), ("FriendlyName", "Old")])
                .await
                .json;
            emu.post(&s2, &[("Identity", "ali"), ("FriendlyName", "Old")])
                .await;
            assert_eq!(
                emu.get(&format!("{alias}/ali")).await.json["friendly_name"],
                "Old"
            );
            assert_eq!(emu.walk(&alias).await[0]["friendly_name"], "Old");
            emu.get(&format!("{s2}/ali")).await;
            let renamed = [("FriendlyName", "New")];
            assert_eq!(
                emu.post(&item("ali"), &renamed).await.json["friendly_name"],
                "New"
            );
            assert_eq!(emu.post(&format!("{s2}/ali"), &renamed).await.status, 200);
            let fetched = emu.get(&format!("{alias}/ali")).await.json;
            let listed = emu.walk(&alias).await;
            let want = if fault.is_none() { "New" } else { "Old" };
            assert_eq!(fetched["friendly_name"], want);
            assert_eq!(
                fetched["url"],
                format!("{BASE}{alias}/{}", u["sid"].as_str().unwrap())
            );
            assert_eq!(listed[0]["friendly_name"], want);
            // The shortened form and the other service are right either way.
            assert_eq!(emu.get(&item("ali")).await.json["friendly_name"], "New");
            assert_eq!(emu.walk("/v1/Users").await[0]["friendly_name"], "New");
            assert_eq!(
                emu.get(&format!("{s2}/ali")).await.json["friendly_name"],
                "New"
            );
            // A write through that form drops what it kept.
            let attrs = [("Attributes", r#"{"a":1}"#)];
            assert_eq!(emu.post(&format!("{alias}/ali"), &attrs).await.status, 200);
            let fetched = emu.get(&format!("{alias}/ali")).await.json;
            assert_eq!(fetched["friendly_name"], "New");
            assert_eq!(fetched["attributes"], r#"{"a":1}"#);
            // A user deleted through the shortened form is still fetched there.
            assert_eq!(emu.delete(&item("ali")).await.status, 204);
            let gone = emu.get(&format!("{alias}/ali")).await;
            let by_sid = emu
                .get(&format!("{alias}/{}", u["sid"].as_str().unwrap()))
                .await;
            if fault.is_none() {
                assert_error(&gone, 404, &[20404]);
                assert_error(&by_sid, 404, &[20404]);
            } else {
                assert_eq!(gone.json["sid"], u["sid"]);
                assert_eq!(by_sid.json["sid"], u["sid"]);
            }
            assert!(emu.walk(&alias).await.is_empty());
            assert_error(&emu.get(&item("ali")).await, 404, &[20404]);
        }
    }

    #[tokio::test]
    async fn page_cache_stale_shows_updates_late_in_read() {
        for fault in [None, Some(Fault::PageCacheStale)] {
            let emu = emu(fault);
            emu.create("p0").await;
            emu.create("p1").await;
            let page = "/v1/Users?PageSize=2";
            assert!(emu.get(page).await.json["users"][0]["friendly_name"].is_null());
            let renamed = [("FriendlyName", "Renamed")];
            assert_eq!(emu.post(&item("p0"), &renamed).await.status, 200);
            let again = emu.get(page).await.json;
            if fault.is_none() {
                assert_eq!(again["users"][0]["friendly_name"], "Renamed");
            } else {
                assert!(again["users"][0]["friendly_name"].is_null());
            }
            // Fetch and another query are right either way.
            assert_eq!(emu.get(&item("p0")).await.json["friendly_name"], "Renamed");
            let other = emu.get("/v1/Users?PageSize=1").await.json;
            assert_eq!(other["users"][0]["friendly_name"], "Renamed");
            // A create (or a delete) drops the kept pages.
            emu.create("p2").await;
            let fresh = emu.get(page).await.json;
            assert_eq!(fresh["users"][0]["friendly_name"], "Renamed");
            assert!(fresh["meta"]["next_page_url"].is_string());
        }
    }

    #[tokio::test]
    async fn delete_prefix_cascade_deletes_sub_keys_of_the_identity() {
        let s2 = format!("/v1/Services/{S2}/Users");
        let others = ["base5", "basement", "other-base-1", "Base-6"];
        let subkeys = ["base-1", "base_2", "base.3", "base:4", "base-1-x"];
        for fault in [None, Some(Fault::DeletePrefixCascade)] {
            let emu = emu(fault);
            emu.create("base").await;
            for identity in subkeys.iter().chain(&others) {
                emu.create(identity).await;
            }
            emu.post(&s2, &[("Identity", "base-1")]).await;
            assert_eq!(emu.delete(&item("base")).await.status, 204);
            let left: Vec<Value> = emu
                .walk("/v1/Users")
                .await
                .iter()
                .map(|u| u["identity"].clone())
                .collect();
            if fault.is_none() {
                let all: Vec<&str> = subkeys.iter().chain(&others).copied().collect();
                assert_eq!(left, all);
            } else {
                assert_eq!(left, others);
            }
            // Other services keep theirs either way.
            assert_eq!(emu.get(&format!("{s2}/base-1")).await.status, 200);
        }
    }

    #[tokio::test]
    async fn sid_reused_after_recreate_finds_the_new_user_by_the_old_sid() {
        for fault in [None, Some(Fault::SidReusedAfterRecreate)] {
            let emu = emu(fault);
            let first = emu.create("again").await;
            let old = format!("/v1/Users/{}", first["sid"].as_str().unwrap());
            assert_eq!(emu.delete(&item("again")).await.status, 204);
            // Until the identity is back, the old sid finds nothing either way.
            assert_error(&emu.get(&old).await, 404, &[20404]);
            let second = emu.create("again").await;
            assert_ne!(second["sid"], first["sid"]);
            let fetched = emu.get(&old).await;
            let renamed = emu.post(&old, &[("FriendlyName", "Renamed")]).await;
            if fault.is_none() {
                assert_error(&fetched, 404, &[20404]);
                assert_error(&renamed, 404, &[20404]);
                assert_error(&emu.delete(&old).await, 404, &[20404]);
            } else {
                assert_eq!(fetched.json["sid"], second["sid"]);
                assert_eq!(renamed.json["sid"], second["sid"]);
                assert_eq!(emu.delete(&old).await.status, 204);
                assert_error(&emu.get(&item("again")).await, 404, &[20404]);
            }
        }
    }
}

/// The faults that store a value other than the one sent: each shown by a few requests,
/// against the faithful emulator (`None`) and with the fault on (`Some`).
mod value_faults {
    use super::generated_only::emu;
    use super::*;

    #[tokio::test]
    async fn friendly_name_numeric_affinity_stores_numbers_as_numbers() {
        for fault in [None, Some(Fault::FriendlyNameNumericAffinity)] {
            let emu = emu(fault);
            let r = emu
                .post("/v1/Users", &[("Identity", "n"), ("FriendlyName", "00123")])
                .await;
            assert_eq!(r.status, 201);
            let want = if fault.is_none() { "00123" } else { "123" };
            assert_eq!(r.json["friendly_name"], want);
            assert_eq!(emu.get(&item("n")).await.json["friendly_name"], want);
            for (name, stored) in [
                ("+7", "7"),
                ("1.50", "1.5"),
                ("3.0e+5", "300000"),
                ("Agent 007", "Agent 007"),
                ("12abc", "12abc"),
            ] {
                let u = emu.post(&item("n"), &[("FriendlyName", name)]).await;
                let want = if fault.is_none() { name } else { stored };
                // Still a JSON string.
                assert_eq!(u.json["friendly_name"], Value::from(want), "{name}");
            }
        }
    }

    #[tokio::test]
    async fn friendly_name_null_literal_stores_no_name() {
        for fault in [None, Some(Fault::FriendlyNameNullLiteral)] {
            let emu = emu(fault);
            let r = emu
                .post("/v1/Users", &[("Identity", "z"), ("FriendlyName", "null")])
                .await;
            assert_eq!(r.status, 201);
            for name in ["NULL", "Null"] {
                let u = emu.post(&item("z"), &[("FriendlyName", name)]).await;
                let fetched = emu.get(&item("z")).await.json;
                if fault.is_none() {
                    assert_eq!(u.json["friendly_name"], name);
                    assert_eq!(fetched["friendly_name"], name);
                } else {
                    assert!(u.json["friendly_name"].is_null(), "{}", u.text);
                    assert!(fetched["friendly_name"].is_null());
                }
            }
            if fault.is_none() {
                assert_eq!(r.json["friendly_name"], "null");
            } else {
                assert!(r.json["friendly_name"].is_null());
            }
            // Only the bare word.
            let u = emu.post(&item("z"), &[("FriendlyName", "nullable")]).await;
            assert_eq!(u.json["friendly_name"], "nullable");
        }
    }

    /// The `attributes` text answered to a create with `attrs`, the same in Fetch.
    async fn attributes_text(emu: &Emu, identity: &str, attrs: &str) -> String {
        let r = emu
            .post(
                "/v1/Users",
                &[("Identity", identity), ("Attributes", attrs)],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let fetched = emu.get(&item(identity)).await;
        assert_eq!(fetched.json["attributes"], r.json["attributes"]);
        r.json["attributes"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn attributes_exponent_overflow_stores_null_beyond_a_double() {
        let attrs =
            r#"{"big":1e400,"neg":-2E+999,"max":1.7976931348623157e308,"tiny":1e-400,"s":"1e400"}"#;
        for fault in [None, Some(Fault::AttributesExponentOverflow)] {
            let emu = emu(fault);
            let got = attributes_text(&emu, "o", attrs).await;
            let want = match fault {
                None => attrs,
                Some(_) => {
                    r#"{"big":null,"neg":null,"max":1.7976931348623157e308,"tiny":1e-400,"s":"1e400"}"#
                }
            };
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn attributes_decimal_truncated_keeps_15_significant_digits() {
        let attrs = r#"{"d":0.1234567890123456789,"e":-1.23456789012345678e-5,"short":0.123456789012345,"i":12345678901234567890}"#;
        for fault in [None, Some(Fault::AttributesDecimalTruncated)] {
            let emu = emu(fault);
            let got = attributes_text(&emu, "d", attrs).await;
            let want = match fault {
                None => attrs,
                Some(_) => {
                    r#"{"d":0.123456789012345,"e":-1.23456789012345e-5,"short":0.123456789012345,"i":12345678901234567890}"#
                }
            };
            assert_eq!(got, want);
        }
    }
}

/// The faults by which a lookup by identity finds a user whose identity is not the value:
/// each shown by a few requests, against the faithful emulator (`None`) and with the fault on
/// (`Some`). A value some user has exactly finds that user either way.
mod lookup_faults {
    use super::generated_only::emu;
    use super::*;

    #[tokio::test]
    async fn lookup_like_wildcards_match_underscore_and_percent_in_writes() {
        for fault in [None, Some(Fault::LookupLikeWildcards)] {
            let emu = emu(fault);
            let abc = emu.create("abc").await;
            let axc = emu.create("axc").await;
            // Fetch is exact either way.
            assert_error(&emu.get(&item("a_c")).await, 404, &[20404]);
            let u = emu.post(&item("a_c"), &[("FriendlyName", "x")]).await;
            let upper = emu.post(&item("A_C"), &[("FriendlyName", "x")]).await;
            assert_error(&upper, 404, &[20404]);
            if fault.is_none() {
                assert_error(&u, 404, &[20404]);
                assert_error(&emu.delete(&item("%c")).await, 404, &[20404]);
                assert_eq!(emu.walk("/v1/Users").await.len(), 2);
            } else {
                // The first created of the matches.
                assert_eq!(u.json["sid"], abc["sid"]);
                assert_eq!(emu.delete(&item("%c")).await.status, 204);
                assert_error(&emu.get(&item("abc")).await, 404, &[20404]);
                assert_eq!(emu.get(&item("axc")).await.json["sid"], axc["sid"]);
            }
            // An identity held exactly wins.
            let exact = emu.create("a_c").await;
            let u = emu.post(&item("a_c"), &[("FriendlyName", "y")]).await;
            assert_eq!(u.json["sid"], exact["sid"]);
        }
    }

    #[tokio::test]
    async fn lookup_regex_reads_the_value_as_an_anchored_pattern() {
        for fault in [None, Some(Fault::LookupRegex)] {
            let emu = emu(fault);
            let r1 = emu.create("r1").await;
            let r22 = emu.create("r22").await;
            let dot = emu.get(&item("r.")).await;
            let star = emu.post(&item("r2*"), &[("FriendlyName", "x")]).await;
            // Anchored: `1` alone matches nothing; an invalid pattern finds nothing.
            assert_error(&emu.get(&item("1")).await, 404, &[20404]);
            assert_error(&emu.get(&item("r(")).await, 404, &[20404]);
            if fault.is_none() {
                assert_error(&dot, 404, &[20404]);
                assert_error(&star, 404, &[20404]);
                assert_error(&emu.delete(&item("r.+")).await, 404, &[20404]);
            } else {
                assert_eq!(dot.json["sid"], r1["sid"]);
                assert_eq!(star.json["sid"], r22["sid"]);
                assert_eq!(emu.delete(&item("r.+")).await.status, 204);
                assert_error(&emu.get(&item("r1")).await, 404, &[20404]);
            }
            // An identity held exactly wins.
            let exact = emu.create("r.").await;
            assert_eq!(emu.get(&item("r.")).await.json["sid"], exact["sid"]);
        }
    }

    #[tokio::test]
    async fn lookup_nfkc_folded_matches_compatibility_forms_but_not_case() {
        for fault in [None, Some(Fault::LookupNfkcFolded)] {
            let emu = emu(fault);
            let fika = emu.create("fika").await;
            let kelvin = emu.create("Kelvin").await;
            let ligature = emu.get(&item("\u{FB01}ka")).await;
            let fullwidth = emu
                .post(
                    &item("\u{FF46}\u{FF49}\u{FF4B}\u{FF41}"),
                    &[("FriendlyName", "x")],
                )
                .await;
            let sign = emu.get(&item("\u{212A}elvin")).await;
            if fault.is_none() {
                for r in [&ligature, &fullwidth, &sign] {
                    assert_error(r, 404, &[20404]);
                }
            } else {
                assert_eq!(ligature.json["sid"], fika["sid"]);
                assert_eq!(fullwidth.json["sid"], fika["sid"]);
                assert_eq!(sign.json["sid"], kelvin["sid"]);
            }
            // Another letter case is another identity, under the fault too.
            assert_error(&emu.delete(&item("KELVIN")).await, 404, &[20404]);
            // An identity held exactly wins.
            let exact = emu.create("\u{FB01}ka").await;
            assert_eq!(emu.get(&item("\u{FB01}ka")).await.json["sid"], exact["sid"]);
        }
    }
}

/// The faults of Read over large collections: each shown by a few requests, against the
/// faithful emulator (`None`) and with the fault on (`Some`).
mod pagination_faults {
    use super::generated_only::emu;
    use super::*;

    async fn fill(emu: &Emu, n: usize) {
        for i in 0..n {
            emu.create(&format!("u{i:04}")).await;
        }
    }

    #[tokio::test]
    async fn page_cap_200_skips_what_a_larger_page_should_have_held() {
        for fault in [None, Some(Fault::PageCap200)] {
            let emu = emu(fault);
            fill(&emu, 450).await;
            let first = emu.get("/v1/Users?PageSize=300").await.json;
            assert_eq!(first["meta"]["page_size"], 300);
            let users = emu.walk("/v1/Users?PageSize=300").await;
            if fault.is_none() {
                assert_eq!(first["users"].as_array().unwrap().len(), 300);
                assert_eq!(users.len(), 450);
            } else {
                assert_eq!(first["users"].as_array().unwrap().len(), 200);
                // The 201st to the 300th are never shown.
                assert_eq!(users.len(), 350);
                assert_eq!(users[199]["identity"], "u0199");
                assert_eq!(users[200]["identity"], "u0300");
            }
            // Pages of up to 200 are whole either way.
            assert_eq!(emu.walk("/v1/Users?PageSize=200").await.len(), 450);
        }
    }

    #[tokio::test]
    async fn read_window_1000_ends_read_at_the_1000th_user() {
        for fault in [None, Some(Fault::ReadWindow1000)] {
            let emu = emu(fault);
            fill(&emu, 1001).await;
            let first = emu.get("/v1/Users?PageSize=1000").await.json;
            assert_eq!(first["users"].as_array().unwrap().len(), 1000);
            let by_300 = emu.walk("/v1/Users?PageSize=300").await;
            if fault.is_none() {
                assert!(first["meta"]["next_page_url"].is_string());
                assert_eq!(by_300.len(), 1001);
            } else {
                assert!(first["meta"]["next_page_url"].is_null());
                assert_eq!(by_300.len(), 1000);
                assert_eq!(by_300[999]["identity"], "u0999");
            }
            // A collection of 1000 is read whole either way.
            assert_eq!(emu.delete(&item("u0000")).await.status, 204);
            assert_eq!(emu.walk("/v1/Users?PageSize=300").await.len(), 1000);
        }
    }
}

/// The faults with a race window: the concurrent requests go out at once (`tokio::join!`
/// polls the first until it lets the store go, then the second), against the faithful
/// emulator (`None`) and with the fault on (`Some`).
mod concurrency_faults {
    use super::generated_only::emu;
    use super::*;

    #[tokio::test]
    async fn update_lost_concurrent_loses_one_of_two_updates() {
        for fault in [None, Some(Fault::UpdateLostConcurrent)] {
            let emu = emu(fault);
            emu.create("busy").await;
            let busy = item("busy");
            let (a, b) = tokio::join!(
                emu.post(&busy, &[("FriendlyName", "Named")]),
                emu.post(&busy, &[("Attributes", r#"{"k":1}"#)]),
            );
            assert_eq!([a.status, b.status], [200, 200]);
            assert_eq!(a.json["friendly_name"], "Named");
            assert_eq!(b.json["attributes"], r#"{"k":1}"#);
            let now = emu.get(&busy).await.json;
            let named = now["friendly_name"] == "Named";
            let attributed = now["attributes"] == r#"{"k":1}"#;
            if fault.is_none() {
                assert!(named && attributed, "{now}");
            } else {
                // The later write (whichever woke last) put back what it had read.
                assert!(named != attributed, "{now}");
            }
            // One after another, nothing is lost either way.
            emu.post(&busy, &[("FriendlyName", "Again")]).await;
            emu.post(&busy, &[("Attributes", r#"{"k":2}"#)]).await;
            let now = emu.get(&busy).await.json;
            assert_eq!(now["friendly_name"], "Again");
            assert_eq!(now["attributes"], r#"{"k":2}"#);
        }
    }

    #[tokio::test]
    async fn delete_update_resurrect_brings_a_deleted_user_back() {
        for fault in [None, Some(Fault::DeleteUpdateResurrect)] {
            let emu = emu(fault);
            let u = emu
                .post(
                    "/v1/Users",
                    &[("Identity", "lazarus"), ("FriendlyName", "L")],
                )
                .await
                .json;
            let lazarus = item("lazarus");
            let (updated, deleted) = tokio::join!(
                emu.post(&lazarus, &[("Attributes", r#"{"a":1}"#)]),
                emu.delete(&lazarus),
            );
            assert_eq!([updated.status, deleted.status], [200, 204]);
            let by_sid = emu
                .get(&format!("/v1/Users/{}", u["sid"].as_str().unwrap()))
                .await;
            if fault.is_none() {
                assert_error(&by_sid, 404, &[20404]);
                assert!(emu.walk("/v1/Users").await.is_empty());
            } else {
                assert_eq!(by_sid.json["sid"], u["sid"]);
                assert_eq!(by_sid.json["friendly_name"], "L");
                assert_eq!(by_sid.json["attributes"], r#"{"a":1}"#);
                assert_eq!(emu.get(&item("lazarus")).await.json["sid"], u["sid"]);
                assert_eq!(emu.walk("/v1/Users").await.len(), 1);
            }
            // Concurrent updates with no delete between them keep both changes either way.
            emu.create("pair").await;
            let pair = item("pair");
            tokio::join!(
                emu.post(&pair, &[("FriendlyName", "P")]),
                emu.post(&pair, &[("Attributes", r#"{"p":2}"#)]),
            );
            let pair = emu.get(&pair).await.json;
            assert_eq!(pair["friendly_name"], "P");
            assert_eq!(pair["attributes"], r#"{"p":2}"#);
        }
    }

    #[tokio::test]
    async fn create_delete_index_race_leaves_a_new_user_out_of_the_index() {
        for fault in [None, Some(Fault::CreateDeleteIndexRace)] {
            let emu = emu(fault);
            let first = emu.create("swap").await;
            let swap = item("swap");
            let (deleted, created) = tokio::join!(
                emu.delete(&swap),
                emu.post("/v1/Users", &[("Identity", "swap")]),
            );
            assert_eq!([deleted.status, created.status], [204, 201]);
            assert_ne!(created.json["sid"], first["sid"]);
            let sid = created.json["sid"].as_str().unwrap();
            assert_eq!(emu.get(&format!("/v1/Users/{sid}")).await.status, 200);
            let by_identity = emu.get(&item("swap")).await;
            let again = emu.post("/v1/Users", &[("Identity", "swap")]).await;
            if fault.is_none() {
                assert_eq!(by_identity.json["sid"], sid);
                assert_error(&again, 409, &[50201]);
            } else {
                assert_error(&by_identity, 404, &[20404]);
                // The identity counts as free: a second holder gets in.
                assert_eq!(again.status, 201);
            }
            // A delete with no create in its window leaves the index right either way.
            emu.create("calm").await;
            assert_eq!(emu.delete(&item("calm")).await.status, 204);
            assert_eq!(emu.create("calm").await["identity"], "calm");
            assert_eq!(emu.get(&item("calm")).await.status, 200);
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("convcheck-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real HTTP client against a real socket.
struct Client {
    http: reqwest::Client,
    base: String,
    user: String,
    pass: String,
}

impl Client {
    fn new(running: &emulator::Running) -> Client {
        let c = running.config();
        Client {
            http: convcheck::client::http_builder().build().unwrap(),
            base: running.base_url(),
            user: c.account_sid.clone(),
            pass: c.auth_token.clone(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.pass))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn every_user_links_to_an_empty_page_of_conversations() {
    let running = spawn(Config::default()).await.unwrap();
    let base = running.base_url();
    let client = Client::new(&running);
    for collection in ["/v1/Users".to_owned(), format!("/v1/Services/{S2}/Users")] {
        let (status, u) = client
            .send(
                reqwest::Method::POST,
                &collection,
                &form(&[("Identity", "linked user")]),
            )
            .await;
        assert_eq!(status, 201);
        let link = u["links"]["user_conversations"].as_str().unwrap();
        let by_identity = format!(
            "{collection}/{}/Conversations",
            encode_segment("linked user")
        );
        for path in [link.strip_prefix(&base).unwrap(), &by_identity] {
            let (status, page) = client.send(reqwest::Method::GET, path, "").await;
            assert_eq!(status, 200, "{path}: {page}");
            let url = |p: u32| format!("{base}{path}?PageSize=50&Page={p}");
            assert_eq!(
                page,
                serde_json::json!({
                    "conversations": [],
                    "meta": {
                        "page": 0,
                        "page_size": 50,
                        "first_page_url": url(0),
                        "previous_page_url": null,
                        "url": url(0),
                        "next_page_url": null,
                        "key": "conversations",
                    },
                })
            );
        }
        let sized = format!("{by_identity}?PageSize=7");
        let (status, page) = client.send(reqwest::Method::GET, &sized, "").await;
        assert_eq!((status, &page["meta"]["page_size"]), (200, &Value::from(7)));
        let (status, e) = client
            .send(
                reqwest::Method::GET,
                &format!("{by_identity}?PageSize=0"),
                "",
            )
            .await;
        assert_eq!((status, &e["code"]), (400, &Value::from(20001)));
        let unknown = format!("{collection}/nobody/Conversations");
        let (status, e) = client.send(reqwest::Method::GET, &unknown, "").await;
        assert_eq!(status, 404);
        assert_eq!(e["code"], 20404);
        assert_eq!(
            e["message"],
            format!("The requested resource {unknown} was not found")
        );
    }
    let res = convcheck::client::http_builder()
        .build()
        .unwrap()
        .get(format!("{base}/v1/Users/linked%20user/Conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn configuration_names_the_default_service() {
    let running = spawn(Config::default()).await.unwrap();
    let base = running.base_url();
    let client = Client::new(&running);
    let (status, c) = client
        .send(reqwest::Method::GET, "/v1/Configuration", "")
        .await;
    assert_eq!(status, 200, "{c}");
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "account_sid",
            "default_chat_service_sid",
            "default_messaging_service_sid",
            "default_inactive_timer",
            "default_closed_timer",
            "url",
            "links"
        ]
    );
    assert_eq!(c["account_sid"], running.config().account_sid);
    assert_eq!(c["default_chat_service_sid"], S1);
    assert!(
        c["default_messaging_service_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("MG") && s.len() == 34)
    );
    assert_eq!(c["url"], format!("{base}/v1/Configuration"));
    assert_eq!(
        c["links"]["service"],
        format!("{base}/v1/Services/{S1}/Configuration")
    );
    assert_eq!(
        c["links"]["webhooks"],
        format!("{base}/v1/Configuration/Webhooks")
    );
    let res = convcheck::client::http_builder()
        .build()
        .unwrap()
        .get(format!("{base}/v1/Configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn freedoms_show_on_the_wire() {
    let running = spawn(Config {
        freedoms: emulator::Freedom::ALL.to_vec(),
        ..Config::default()
    })
    .await
    .unwrap();
    let base = running.base_url();
    let c = running.config().clone();
    let raw = convcheck::client::http_builder().no_gzip().build().unwrap();
    let send = |gzip: bool, method: reqwest::Method, path: &str| {
        let mut b = raw
            .request(method, format!("{base}{path}"))
            .basic_auth(&c.account_sid, Some(&c.auth_token));
        if gzip {
            b = b.header(header::ACCEPT_ENCODING, "gzip");
        }
        b
    };
    let res = send(false, reqwest::Method::POST, "/v1/Users")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("Identity=free")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let h = res.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "application/json; charset=utf-8");
    assert!(h.get(header::CONTENT_LENGTH).is_none(), "{h:?}");
    assert_eq!(h[header::TRANSFER_ENCODING], "chunked");
    assert!(h.contains_key("twilio-request-id"));
    let text = res.text().await.unwrap();
    assert!(text.starts_with("{\n  \"x_region\""), "{text}");
    let u: Value = serde_json::from_str(&text).unwrap();
    let sid = u["sid"].as_str().unwrap();
    assert!(
        SidKind::User.matches(sid) && sid[2..] == sid[2..].to_uppercase(),
        "{sid}"
    );
    assert_ne!(u["role_sid"], "RL00000000000000000000000000000011");
    // Lookups by sid stay exact.
    let lower = format!("US{}", sid[2..].to_lowercase());
    for (path, status) in [(sid, 200), (lower.as_str(), 404)] {
        let res = send(false, reqwest::Method::GET, &format!("/v1/Users/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
    }
    // Gzip only when asked for.
    let res = send(true, reqwest::Method::GET, "/v1/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
    let zipped = res.bytes().await.unwrap();
    assert_eq!(&zipped[..2], &[0x1f, 0x8b]);
    let res = send(false, reqwest::Method::GET, "/v1/Users")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    let page: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert!(page["meta"].get("x_total_hint").is_some());
    // A client with reqwest's defaults (as the harness's is) asks for gzip and unpacks it.
    let (status, page) = Client::new(&running)
        .send(reqwest::Method::GET, "/v1/Users?PageSize=1", "")
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["users"].as_array().map(Vec::len), Some(1));
    // Errors: Twilio's status, code and more_info, other words, an extra field.
    let res = send(false, reqwest::Method::POST, "/v1/Users")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("Identity=free")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let e: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(e["code"], 50201);
    assert_eq!(e["more_info"], "https://www.twilio.com/docs/errors/50201");
    assert_ne!(e["message"], "User already exists");
    assert!(e.get("x_request_id").is_some());
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn attributes_canonical_rewrites_the_text_and_keeps_the_value() {
    let sent = r#"{"b":1E+2,"a":[1.50,-0.0],"c":"x"}"#;
    let big =
        r#"{"n":123456789012345678901234567890,"u":18446744073709551617,"e":1e400,"m":-2E+999}"#;
    for freedom in [None, Some(emulator::Freedom::AttributesCanonical)] {
        let emu = Emu::with(Config {
            freedoms: freedom.into_iter().collect(),
            ..Config::default()
        });
        let r = emu
            .post("/v1/Users", &[("Identity", "c"), ("Attributes", sent)])
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let u = emu.post(&item("c"), &[("Attributes", big)]).await;
        assert_eq!(u.status, 200, "{}", u.text);
        let fetched = emu.get(&item("c")).await.json;
        if freedom.is_none() {
            // Byte for byte.
            assert_eq!(r.json["attributes"], sent);
            assert_eq!(u.json["attributes"], big);
            assert_eq!(fetched["attributes"], big);
        } else {
            assert_eq!(r.json["attributes"], r#"{"a":[1.5,-0],"b":100,"c":"x"}"#);
            // Every digit of the big integers, and the numbers beyond a double, kept.
            let canonical = r#"{"e":1e400,"m":-2e999,"n":123456789012345678901234567890,"u":18446744073709551617}"#;
            assert_eq!(u.json["attributes"], canonical);
            assert_eq!(fetched["attributes"], canonical);
        }
    }
}

/// convcheck's own client asks for gzip and reads a compressed answer as the plain one.
#[tokio::test]
async fn the_harness_client_asks_for_gzip_and_reads_it() {
    use convcheck::client::{Client as Harness, Credentials, Request as HarnessRequest, Secret};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A recorder: what the client sends, answered with an empty JSON object.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recorder = format!("http://{}", listener.local_addr().unwrap());
    let head = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed early");
            head.extend_from_slice(&buf[..n]);
        }
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
        sock.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    });
    let client = Harness::new(None, &recorder, std::time::Duration::from_secs(10)).unwrap();
    client
        .send(&HarnessRequest::new(
            reqwest::Method::GET,
            format!("{recorder}/v1/Users"),
        ))
        .await
        .unwrap();
    let head = head.await.unwrap();
    assert!(
        head.lines()
            .any(|l| l.starts_with("accept-encoding:") && l.contains("gzip")),
        "{head}"
    );
    let mut pages = Vec::new();
    for freedoms in [Vec::new(), vec![emulator::Freedom::Gzip]] {
        let running = spawn(Config {
            freedoms,
            ..Config::default()
        })
        .await
        .unwrap();
        let c = running.config().clone();
        let client = Harness::new(
            Some(Credentials {
                username: c.account_sid.clone(),
                secret: Secret::new(c.auth_token.clone()),
                account_sid: c.account_sid.clone(),
            }),
            &running.base_url(),
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        let url = format!("{}/v1/Configuration", running.base_url());
        let ex = client
            .send(&HarnessRequest::new(reqwest::Method::GET, url))
            .await
            .unwrap();
        assert_eq!(ex.status, 200);
        let mut page: Value = serde_json::from_slice(&ex.response_body).unwrap();
        page["url"] = Value::Null;
        page["links"] = Value::Null;
        pages.push(page);
        // The same request without reqwest's decoder shows the emulator did compress.
        let raw = convcheck::client::http_builder().no_gzip().build().unwrap();
        let res = raw
            .get(format!("{}/v1/Configuration", running.base_url()))
            .basic_auth(&c.account_sid, Some(&c.auth_token))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        let compressed = res.headers().get(header::CONTENT_ENCODING).is_some();
        assert_eq!(compressed, c.freedoms.contains(&emulator::Freedom::Gzip));
        running.shutdown().await.unwrap();
    }
    assert_eq!(pages[0], pages[1]);
}

#[tokio::test]
async fn spawn_serves_a_real_socket_with_its_own_base_url() {
    let running = spawn(Config::default()).await.unwrap();
    let base = running.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    let client = Client::new(&running);
    let (status, u) = client
        .send(
            reqwest::Method::POST,
            "/v1/Users",
            &form(&[("Identity", "real user@x")]),
        )
        .await;
    assert_eq!(status, 201);
    assert!(
        u["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/v1/Users/US"))
    );
    let (status, f) = client
        .send(reqwest::Method::GET, &item("real user@x"), "")
        .await;
    assert_eq!((status, &f["sid"]), (200, &u["sid"]));
    // An API key works as well.
    let res = convcheck::client::http_builder()
        .build()
        .unwrap()
        .get(format!("{base}/v1/Users"))
        .basic_auth(
            &running.config().api_key,
            Some(&running.config().api_secret),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_file_keeps_every_user_across_restarts() {
    let dir = TempDir::new("state");
    let config = Config {
        state_file: Some(dir.0.join("users.db")),
        ..Config::default()
    };
    let running = spawn(config.clone()).await.unwrap();
    let client = Client::new(&running);
    let mut sids = Vec::new();
    for i in 0..30 {
        let (status, u) = client
            .send(
                reqwest::Method::POST,
                "/v1/Users",
                &form(&[("Identity", &format!("keep{i}"))]),
            )
            .await;
        assert_eq!(status, 201);
        sids.push(u["sid"].as_str().unwrap().to_owned());
    }
    let path = format!("/v1/Services/{S2}/Users");
    assert_eq!(
        client
            .send(reqwest::Method::POST, &path, &form(&[("Identity", "two")]))
            .await
            .0,
        201
    );
    client
        .send(
            reqwest::Method::POST,
            &item("keep0"),
            &form(&[("FriendlyName", "K")]),
        )
        .await;
    client
        .send(reqwest::Method::DELETE, &item("keep1"), "")
        .await;
    // Committed before each answer: a second store opened now already sees them.
    let early = Emu::with(config.clone());
    assert_eq!(early.get(&item("keep0")).await.json["friendly_name"], "K");
    running.shutdown().await.unwrap();

    let again = spawn(config).await.unwrap();
    let client = Client::new(&again);
    let (_, page) = client
        .send(reqwest::Method::GET, "/v1/Users?PageSize=1000", "")
        .await;
    let got: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["sid"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = sids
        .iter()
        .map(String::as_str)
        .filter(|s| *s != sids[1])
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        client
            .send(reqwest::Method::GET, &format!("{path}/two"), "")
            .await
            .0,
        200
    );
    // New users still come after the old ones.
    let (_, u) = client
        .send(
            reqwest::Method::POST,
            "/v1/Users",
            &form(&[("Identity", "later")]),
        )
        .await;
    let (_, page) = client
        .send(reqwest::Method::GET, "/v1/Users?PageSize=1000", "")
        .await;
    assert_eq!(
        page["users"].as_array().unwrap().last().unwrap()["sid"],
        u["sid"]
    );
    again.shutdown().await.unwrap();
}

/// `convcheck serve --port 0` as a child process with the documented defaults (no
/// `TWILIO_*` from the environment) and its stdout piped, for more arguments.
#[cfg(unix)]
fn serve_process() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_convcheck"));
    c.args(["serve", "--port", "0"])
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET")
        .stdout(std::process::Stdio::piped());
    c
}

#[cfg(unix)]
#[test]
fn serve_keeps_its_state_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = TempDir::new("sigterm");
    let state = dir.0.join("state.db");
    let mut child = serve_process()
        .args(["--state"])
        .arg(&state)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    let banner: Vec<String> = lines.by_ref().take(11).map(Result::unwrap).collect();
    assert!(
        banner
            .iter()
            .any(|l| l.contains(emulator::DEFAULT_AUTH_TOKEN))
    );
    assert!(banner.iter().any(|l| l.contains(S2)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let res = convcheck::client::http_builder()
            .build()
            .unwrap()
            .post(format!("{base}/v1/Users"))
            .basic_auth(
                emulator::DEFAULT_ACCOUNT_SID,
                Some(emulator::DEFAULT_AUTH_TOKEN),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("Identity=signal")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    });
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    // A clean stop folds the WAL into the database: one file is left, and it holds the user.
    assert!(!dir.0.join("state.db-wal").exists());
    let db = rusqlite::Connection::open(&state).unwrap();
    let identities: Vec<String> = db
        .prepare("SELECT identity FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(identities, ["signal"]);
}

#[test]
fn serve_never_prints_a_supplied_token() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_convcheck"))
        .args(["serve", "--port", "0"])
        .env("TWILIO_AUTH_TOKEN", "my-very-secret-token")
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(12)
        .map(Result::unwrap)
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    let text = lines.join("\n");
    assert!(!text.contains("my-very-secret-token"), "{text}");
    assert!(text.contains("(from TWILIO_AUTH_TOKEN)"), "{text}");
}

mod model {
    //! The emulator against a plain in-memory model: random sequences of create, update,
    //! delete, fetch and read must give the same answers.

    use super::*;
    use proptest::prelude::*;

    const IDS: [&str; 6] = ["alice", "Alice", "a b", "a+b", "jürgen@example.com", "100%"];
    const ATTRS: [&str; 3] = ["{}", "{\"a\":1}", "{\"nested\":{\"b\":[1,2]}}"];

    #[derive(Debug, Clone)]
    enum Op {
        Create {
            id: usize,
            name: Option<String>,
            attrs: Option<usize>,
            second_role: Option<bool>,
        },
        Update {
            id: usize,
            by_sid: bool,
            name: Option<String>,
            attrs: Option<usize>,
            second_role: Option<bool>,
        },
        Delete {
            id: usize,
            by_sid: bool,
        },
        Fetch {
            id: usize,
            by_sid: bool,
        },
        Read {
            page_size: u32,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = 0..IDS.len();
        let name = proptest::option::of("[a-z é+]{0,6}");
        let attrs = proptest::option::of(0..ATTRS.len());
        let role = proptest::option::of(any::<bool>());
        prop_oneof![
            (id.clone(), name.clone(), attrs.clone(), role.clone()).prop_map(
                |(id, name, attrs, second_role)| Op::Create {
                    id,
                    name,
                    attrs,
                    second_role
                }
            ),
            (id.clone(), any::<bool>(), name, attrs, role).prop_map(
                |(id, by_sid, name, attrs, second_role)| Op::Update {
                    id,
                    by_sid,
                    name,
                    attrs,
                    second_role
                }
            ),
            (id.clone(), any::<bool>()).prop_map(|(id, by_sid)| Op::Delete { id, by_sid }),
            (id, any::<bool>()).prop_map(|(id, by_sid)| Op::Fetch { id, by_sid }),
            (1u32..4).prop_map(|page_size| Op::Read { page_size }),
        ]
    }

    #[derive(Debug, Clone, PartialEq)]
    struct ModelUser {
        sid: String,
        identity: String,
        friendly_name: Option<String>,
        attributes: String,
        role_sid: String,
    }

    fn to_model(v: &Value) -> ModelUser {
        ModelUser {
            sid: v["sid"].as_str().unwrap().to_owned(),
            identity: v["identity"].as_str().unwrap().to_owned(),
            friendly_name: v["friendly_name"].as_str().map(str::to_owned),
            attributes: v["attributes"].as_str().unwrap().to_owned(),
            role_sid: v["role_sid"].as_str().unwrap().to_owned(),
        }
    }

    async fn run(ops: Vec<Op>) {
        let emu = Emu::new();
        let roles = emu.config.default_service().clone();
        let role = |second: bool| {
            if second {
                roles.second_role_sid.clone()
            } else {
                roles.default_role_sid.clone()
            }
        };
        let mut model: Vec<ModelUser> = Vec::new();
        // SIDs of deleted users, to look them up by SID after deletion.
        let mut gone: Vec<String> = Vec::new();
        let target = |model: &[ModelUser], gone: &[String], id: usize, by_sid: bool| {
            let identity = IDS[id];
            match (by_sid, model.iter().find(|u| u.identity == identity)) {
                (true, Some(u)) => format!("/v1/Users/{}", u.sid),
                (true, None) => match gone.last() {
                    Some(sid) => format!("/v1/Users/{sid}"),
                    None => item(identity),
                },
                (false, _) => item(identity),
            }
        };
        for op in ops {
            match op {
                Op::Create {
                    id,
                    name,
                    attrs,
                    second_role,
                } => {
                    let mut pairs = vec![("Identity", IDS[id].to_owned())];
                    if let Some(n) = &name {
                        pairs.push(("FriendlyName", n.clone()));
                    }
                    if let Some(a) = attrs {
                        pairs.push(("Attributes", ATTRS[a].to_owned()));
                    }
                    if let Some(r) = second_role {
                        pairs.push(("RoleSid", role(r)));
                    }
                    let p: Vec<(&str, &str)> =
                        pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let r = emu.post("/v1/Users", &p).await;
                    if model.iter().any(|u| u.identity == IDS[id]) {
                        assert_eq!(r.status, 409);
                    } else {
                        assert_eq!(r.status, 201, "{}", r.text);
                        let got = to_model(&r.json);
                        let want = ModelUser {
                            sid: got.sid.clone(),
                            identity: IDS[id].to_owned(),
                            friendly_name: name,
                            attributes: attrs.map_or("{}", |a| ATTRS[a]).to_owned(),
                            role_sid: role(second_role.unwrap_or(false)),
                        };
                        assert_eq!(got, want);
                        model.push(want);
                    }
                }
                Op::Update {
                    id,
                    by_sid,
                    name,
                    attrs,
                    second_role,
                } => {
                    let path = target(&model, &gone, id, by_sid);
                    let mut pairs = Vec::new();
                    if let Some(n) = &name {
                        pairs.push(("FriendlyName", n.clone()));
                    }
                    if let Some(a) = attrs {
                        pairs.push(("Attributes", ATTRS[a].to_owned()));
                    }
                    if let Some(r) = second_role {
                        pairs.push(("RoleSid", role(r)));
                    }
                    let p: Vec<(&str, &str)> =
                        pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let r = emu.post(&path, &p).await;
                    match model.iter_mut().find(|u| u.identity == IDS[id]) {
                        Some(u) => {
                            if name.is_some() {
                                u.friendly_name = name;
                            }
                            if let Some(a) = attrs {
                                u.attributes = ATTRS[a].to_owned();
                            }
                            if let Some(r) = second_role {
                                u.role_sid = role(r);
                            }
                            assert_eq!(r.status, 200);
                            assert_eq!(&to_model(&r.json), u);
                        }
                        None => assert_eq!(r.status, 404),
                    }
                }
                Op::Delete { id, by_sid } => {
                    let path = target(&model, &gone, id, by_sid);
                    let r = emu.delete(&path).await;
                    match model.iter().position(|u| u.identity == IDS[id]) {
                        Some(i) => {
                            assert_eq!(r.status, 204);
                            gone.push(model.remove(i).sid);
                        }
                        None => assert_eq!(r.status, 404),
                    }
                }
                Op::Fetch { id, by_sid } => {
                    let r = emu.get(&target(&model, &gone, id, by_sid)).await;
                    match model.iter().find(|u| u.identity == IDS[id]) {
                        Some(u) => {
                            assert_eq!(r.status, 200);
                            assert_eq!(&to_model(&r.json), u);
                        }
                        None => assert_eq!(r.status, 404),
                    }
                }
                Op::Read { page_size } => {
                    let all = emu.walk(&format!("/v1/Users?PageSize={page_size}")).await;
                    let got: Vec<ModelUser> = all.iter().map(to_model).collect();
                    assert_eq!(got, model);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn emulator_matches_the_model(ops in proptest::collection::vec(op(), 1..24)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(run(ops));
        }
    }
}

mod robustness {
    //! Arbitrary paths, queries and bodies never crash the emulator or get a 5xx.

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn any_request_gets_a_non_5xx_answer(
            method in prop_oneof![Just("GET"), Just("POST"), Just("DELETE"), Just("PUT")],
            prefix in prop_oneof![
                Just("/v1/Users".to_owned()),
                Just(format!("/v1/Services/{S2}/Users")),
                Just("/_emulator/Users".to_owned()),
                Just(String::new()),
            ],
            tail in "[A-Za-z0-9%+._~!$&'()*,;=:@/-]{0,24}",
            query in "[A-Za-z0-9%+=&._-]{0,30}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let emu = Emu::new();
                emu.create("seed").await;
                let uri = format!("{prefix}/{tail}?{query}");
                let req = Request::builder()
                    .method(method)
                    .uri(uri.as_str())
                    .header(header::HOST, HOST)
                    .header(header::AUTHORIZATION, emu.auth())
                    .body(Body::from(body))
                    .unwrap();
                let r = emu.send(req).await;
                assert!(r.status < 500, "{method} {uri}: {}", r.text);
                if r.status >= 400 {
                    assert_eq!(r.json["status"], r.status, "{method} {uri}: {}", r.text);
                }
            });
        }
    }
}

mod fault_sweep {
    //! Every fault must change what a black-box client sees in one fixed scenario, so the
    //! harness has something to detect. The transcript hides what legitimately varies (SIDs,
    //! the clock) and records date invariants instead.

    use super::*;
    use std::collections::HashMap;

    struct Norm {
        sid: regex::Regex,
        iso: regex::Regex,
        sids: HashMap<String, String>,
        created: HashMap<String, String>,
    }

    impl Default for Norm {
        fn default() -> Self {
            Norm {
                sid: regex::Regex::new("US[0-9a-fA-F]{32}").unwrap(),
                iso: regex::Regex::new(&rules().date_pattern).unwrap(),
                sids: HashMap::new(),
                created: HashMap::new(),
            }
        }
    }

    impl Norm {
        fn string(&mut self, s: &str) -> String {
            if self.iso.is_match(s) {
                return "ISO".to_owned();
            }
            let mut out = s.to_owned();
            for m in self.sid.clone().find_iter(s) {
                let n = self.sids.len();
                let name = self
                    .sids
                    .entry(m.as_str().to_owned())
                    .or_insert_with(|| format!("SID{n}"))
                    .clone();
                out = out.replace(m.as_str(), &name);
            }
            out
        }

        fn value(&mut self, v: &Value) -> Value {
            match v {
                Value::String(s) => Value::String(self.string(s)),
                Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
                Value::Object(o) => {
                    let mut m = serde_json::Map::new();
                    for (k, x) in o {
                        m.insert(k.clone(), self.value(x));
                    }
                    if let (Some(Value::String(c)), Some(Value::String(u))) =
                        (o.get("date_created"), o.get("date_updated"))
                    {
                        m.insert("_order_ok".into(), Value::Bool(u >= c));
                        if let Some(Value::String(sid)) = o.get("sid") {
                            let first = self.created.entry(sid.clone()).or_insert(c.clone());
                            m.insert("_created_stable".into(), Value::Bool(first == c));
                        }
                    }
                    Value::Object(m)
                }
                other => other.clone(),
            }
        }
    }

    /// Everything after the host: meta URLs are followed whatever host they name.
    fn path_of(url: &str) -> String {
        url.find("/v1/")
            .map_or(url.to_owned(), |i| url[i..].to_owned())
    }

    async fn scenario(faults: &[Fault]) -> Vec<String> {
        let emu = Emu::faulty(faults);
        let mut norm = Norm::default();
        let mut log = Vec::new();
        let s2 = format!("/v1/Services/{S2}/Users");
        let odd = "Mix+Case %41ü";
        let mut record = |r: Resp, norm: &mut Norm| {
            let body = if r.json.is_null() {
                Value::String(r.text.clone())
            } else {
                norm.value(&r.json)
            };
            log.push(format!("{} {:?} {body}", r.status, r.content_type));
            r.json
        };
        let anon = Request::builder()
            .uri("/v1/Users")
            .header(header::HOST, HOST)
            .body(Body::empty())
            .unwrap();
        record(emu.send(anon).await, &mut norm);
        record(
            emu.post("/v1/Users", &[("Identity", "u0")]).await,
            &mut norm,
        );
        record(
            emu.post("/v1/Users", &[("Identity", "u0")]).await,
            &mut norm,
        );
        record(
            emu.post("/v1/Users", &[("FriendlyName", "x")]).await,
            &mut norm,
        );
        let sid_like = "US0123456789abcdef0123456789abcdef";
        record(
            emu.post("/v1/Users", &[("Identity", sid_like)]).await,
            &mut norm,
        );
        for (k, v) in [("RoleSid", "RL1"), ("Attributes", "[]")] {
            record(
                emu.post("/v1/Users", &[("Identity", "v"), (k, v)]).await,
                &mut norm,
            );
        }
        let h = [(rules().webhook_header.name.as_str(), "maybe")];
        let body = form(&[("Identity", "w")]);
        record(emu.call("POST", "/v1/Users", &body, &h).await, &mut norm);
        record(
            emu.post(
                "/v1/Users",
                &[("Identity", "named"), ("FriendlyName", "Named")],
            )
            .await,
            &mut norm,
        );
        let created = record(emu.post(&s2, &[("Identity", odd)]).await, &mut norm);
        let seg = encode_segment(odd);
        record(emu.get(&format!("{s2}/{seg}")).await, &mut norm);
        let lower = encode_segment(&odd.to_lowercase());
        record(emu.get(&format!("{s2}/{lower}")).await, &mut norm);
        record(emu.get(&format!("/v1/Users/{seg}")).await, &mut norm);
        if let Some(sid) = created["sid"].as_str() {
            record(emu.get(&format!("/v1/Users/{sid}")).await, &mut norm);
        }
        let unknown = "/v1/Services/IS000000000000000000000000000000ff/Users";
        record(emu.get(unknown).await, &mut norm);
        let u0 = emu.get("/v1/Users/u0").await;
        let u0_sid = u0.json["sid"].as_str().unwrap_or("none").to_owned();
        record(u0, &mut norm);
        record(emu.get(&format!("/v1/Users/{u0_sid}")).await, &mut norm);
        record(
            emu.post("/v1/Users/u0", &[("FriendlyName", "F")]).await,
            &mut norm,
        );
        let attrs = [("Attributes", "{\"a\":1}")];
        record(emu.post("/v1/Users/u0", &attrs).await, &mut norm);
        record(emu.get("/v1/Users/u0").await, &mut norm);
        for i in 0..5 {
            let id = format!("p{i}");
            record(emu.post("/v1/Users", &[("Identity", &id)]).await, &mut norm);
        }
        let mut url = "/v1/Users?PageSize=2".to_owned();
        for _ in 0..6 {
            let page = record(emu.get(&url).await, &mut norm);
            match page["meta"]["next_page_url"].as_str() {
                Some(next) => url = path_of(next),
                None => break,
            }
        }
        record(emu.get("/v1/Users").await, &mut norm);
        record(emu.get("/v1/Users?PageSize=0").await, &mut norm);
        record(emu.delete("/v1/Users/u0").await, &mut norm);
        record(emu.get("/v1/Users/u0").await, &mut norm);
        record(emu.get("/v1/Nothing").await, &mut norm);
        // What only generated and stateful trials send: a decomposed identity, markup, float
        // and big-integer attributes, trailing whitespace, a long identity, a near-miss
        // lookup, a re-create after delete and a concurrent pair.
        let bent = [
            ("Identity", "e\u{301}"),
            ("FriendlyName", "<i>"),
            ("Attributes", r#"{"f":0.1,"n":9007199254740993}"#),
        ];
        record(emu.post("/v1/Users", &bent).await, &mut norm);
        record(
            emu.post("/v1/Users", &[("Identity", "trail ")]).await,
            &mut norm,
        );
        let long = "l".repeat(65);
        record(
            emu.post("/v1/Users", &[("Identity", &long)]).await,
            &mut norm,
        );
        record(emu.get("/v1/Users/p").await, &mut norm);
        record(
            emu.post("/v1/Users", &[("Identity", "u0")]).await,
            &mut norm,
        );
        let twin = [("Identity", "twin")];
        let (a, b) = tokio::join!(emu.post("/v1/Users", &twin), emu.post("/v1/Users", &twin));
        record(a, &mut norm);
        record(b, &mut norm);
        // What the world faults need: one identity in two services and a sub-key of it, updated
        // and deleted by identity; a second look through the default service's service form and
        // at a page after an update; the sid of a deleted user whose identity is back (`u0`).
        let alias = format!("/v1/Services/{S1}/Users");
        for (users, identity) in [
            ("/v1/Users", "both"),
            (&s2, "both"),
            ("/v1/Users", "both-1"),
        ] {
            record(emu.post(users, &[("Identity", identity)]).await, &mut norm);
        }
        record(emu.get(&format!("{alias}/p1")).await, &mut norm);
        record(emu.get("/v1/Users?PageSize=3").await, &mut norm);
        let renamed = [("FriendlyName", "Renamed")];
        record(emu.post("/v1/Users/both", &renamed).await, &mut norm);
        record(emu.post("/v1/Users/p1", &renamed).await, &mut norm);
        record(emu.get(&format!("{alias}/p1")).await, &mut norm);
        record(emu.get("/v1/Users?PageSize=3").await, &mut norm);
        record(emu.get(&format!("{s2}/both")).await, &mut norm);
        record(emu.delete("/v1/Users/both").await, &mut norm);
        record(emu.get(&format!("{s2}/both")).await, &mut norm);
        record(emu.get("/v1/Users/both-1").await, &mut norm);
        record(emu.get(&format!("/v1/Users/{u0_sid}")).await, &mut norm);
        // What the value faults need: a name and attributes that read as numbers or as null.
        let values = [
            ("Identity", "values"),
            ("FriendlyName", "007"),
            ("Attributes", r#"{"o":1e400,"d":0.1234567890123456789}"#),
        ];
        record(emu.post("/v1/Users", &values).await, &mut norm);
        let nameless = [("Identity", "nameless"), ("FriendlyName", "NULL")];
        record(emu.post("/v1/Users", &nameless).await, &mut norm);
        // What the lookup faults need: values no identity equals, that patterns or folding match.
        record(emu.post("/v1/Users/p_", &renamed).await, &mut norm);
        record(emu.get("/v1/Users/p.").await, &mut norm);
        let fullwidth = format!("/v1/Users/{}", encode_segment("\u{FF50}2"));
        record(emu.get(&fullwidth).await, &mut norm);
        // What the concurrency faults need: two updates at once, an update beside a delete, a
        // delete beside a create. (The pagination faults need `large_scenario`.)
        let p2 = "/v1/Users/p2";
        let (a, b) = tokio::join!(
            emu.post(p2, &[("FriendlyName", "Two")]),
            emu.post(p2, &[("Attributes", r#"{"two":2}"#)]),
        );
        record(a, &mut norm);
        record(b, &mut norm);
        record(emu.get(p2).await, &mut norm);
        let p3 = "/v1/Users/p3";
        let (u, d) = tokio::join!(emu.post(p3, &renamed), emu.delete(p3));
        record(u, &mut norm);
        record(d, &mut norm);
        record(emu.get(p3).await, &mut norm);
        let p4 = "/v1/Users/p4";
        let (d, c) = tokio::join!(emu.delete(p4), emu.post("/v1/Users", &[("Identity", "p4")]));
        record(d, &mut norm);
        record(c, &mut norm);
        record(emu.get(p4).await, &mut norm);
        log
    }

    /// The first pages, by 201 and by 1000, of a collection of 1001 users: how many users each
    /// holds and whether a next page follows. Apart from `scenario`, and played only for the
    /// faults that `scenario` does not show, since filling the collection is most of the time
    /// the sweep would take.
    async fn large_scenario(faults: &[Fault]) -> Vec<String> {
        let emu = Emu::faulty(faults);
        let users = format!("/v1/Services/{S2}/Users");
        for i in 0..1001 {
            emu.post(&users, &[("Identity", &format!("b{i}"))]).await;
        }
        let mut log = Vec::new();
        for size in [201, 1000] {
            let r = emu.get(&format!("{users}?PageSize={size}")).await;
            log.push(format!(
                "{} {:?} next: {}",
                r.status,
                r.json["users"].as_array().map(Vec::len),
                r.json["meta"]["next_page_url"].is_string()
            ));
        }
        log
    }

    #[tokio::test]
    async fn every_fault_changes_what_a_client_sees() {
        let baseline = scenario(&[]).await;
        assert_eq!(
            baseline,
            scenario(&[]).await,
            "the scenario must be deterministic"
        );
        let large = large_scenario(&[]).await;
        let mut unseen = Vec::new();
        for f in Fault::ALL {
            if scenario(&[f]).await == baseline && large_scenario(&[f]).await == large {
                unseen.push(f.name());
            }
        }
        assert!(
            unseen.is_empty(),
            "faults invisible to the scenario: {unseen:?}"
        );
    }
}

/// A request refused before its body is read (wrong credentials, an invalid webhook header,
/// a body over the cap) must leave the keep-alive connection it came on usable, or closed
/// with `Connection: close`: a client that pools the connection and sends its next request on
/// it gets an answer, never "connection reset" or "connection closed before message
/// completed". A large body makes the race show: the refusal is written while most of the
/// body is still in the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_the_body_leave_the_connection_usable() {
    let config = Config::default();
    let running = spawn(config.clone()).await.unwrap();
    let base = running.base_url();
    let auth = basic(&config.account_sid, &config.auth_token);
    let http = convcheck::client::http_builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let big = "x".repeat(200 * 1024);
    let over = "x".repeat(emulator::BODY_LIMIT + 64 * 1024);
    let mut failures = Vec::new();
    for i in 0..100 {
        let refused = [
            (basic(&config.account_sid, "wrong"), "true", &big, 401),
            (auth.clone(), "maybe", &big, 400),
            (auth.clone(), "true", &over, 413),
        ];
        for (who, hook, body, want) in refused {
            let sent = http
                .post(format!("{base}/v1/Users"))
                .header("Authorization", who)
                .header("X-Twilio-Webhook-Enabled", hook)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("Identity", &format!("race-{i}")),
                    ("FriendlyName", body),
                ]))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().as_u16() == want => {}
                Ok(r) => failures.push(format!("{i}: {} where {want} was due", r.status())),
                Err(e) => failures.push(format!("{i}: refusal {want}: {e:?}")),
            }
            let next = http
                .get(format!("{base}/v1/Users?PageSize=1"))
                .header("Authorization", &auth)
                .send()
                .await;
            match next {
                Ok(r) if r.status() == 200 => {}
                Ok(r) => failures.push(format!("{i}: next request answered {}", r.status())),
                Err(e) => failures.push(format!("{i}: next request after {want}: {e:?}")),
            }
        }
    }
    running.shutdown().await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `serve --log-connections` says on stderr why each connection ended: an idle one, one
/// closed by its client, and the rest when the server stops.
#[cfg(unix)]
#[test]
fn the_connection_log_says_why_each_connection_ended() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = serve_process()
        .args(["--log-connections", "--idle-timeout-ms", "300"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.rsplit(' ').next().unwrap().to_owned();
    let addr = base.trim_start_matches("http://").to_owned();
    // One answered request, then idle until the emulator closes it.
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /v1/Users HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(idle.read(&mut buf).unwrap() > 0);
    // One the client closes at once.
    drop(std::net::TcpStream::connect(&addr).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(900));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(err.contains("closed: idle for 300 ms"), "{err}");
    assert!(err.contains("closed: the client closed it"), "{err}");
    assert!(
        err.lines().all(|l| l.starts_with("connection 127.0.0.1:")),
        "{err}"
    );
}
