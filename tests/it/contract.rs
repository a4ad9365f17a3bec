//! Property tests of the pure checks against a model of the contract.
//!
//! Generators build Users, pages and error bodies that the documentation allows; the first
//! properties hold that such bodies raise no finding at all. Each mutation then breaks one
//! documented rule, and the model says exactly which check ids must answer: the tests compare
//! the sorted list of ids (a multiset), so a missing, an extra or a doubled finding all fail.

use std::collections::BTreeSet;

use convcheck::check::{
    self, Context, Exchange, Finding, Known, PageRequest, error_body, page_body, user_body,
};
use convcheck::spec::identity::{self, Lookup, classify, decode_segment, encode_segment};
use convcheck::spec::sid::SidKind;
use convcheck::spec::{self, Edition, Operation, UrlForm};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The number of cases of each property: enough to meet every branch, few enough to keep
/// the whole file within seconds in a debug build.
const CASES: u32 = 200;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// The check ids of some findings, sorted so that two lists compare as multisets.
fn ids(findings: &[Finding]) -> Vec<String> {
    let mut v: Vec<String> = findings.iter().map(|f| f.check.clone()).collect();
    v.sort();
    v
}

/// A sorted id list from literals.
fn want(expected: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// A valid SID of `kind`; the hex digits are sometimes upper case, which the pattern allows.
fn sid(kind: SidKind) -> impl Strategy<Value = String> {
    (any::<u128>(), any::<bool>()).prop_map(move |(n, upper)| with_case(kind.from_u128(n), upper))
}

fn with_case(sid: String, upper: bool) -> String {
    if upper {
        format!("{}{}", &sid[..2], sid[2..].to_ascii_uppercase())
    } else {
        sid
    }
}

/// A base URL as a target may have it: Twilio's host, a local port, or a host with a prefix.
fn base() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://conversations.twilio.com".to_owned()),
        // Ports that stay valid with a digit appended (see `Foreign::Extended`).
        (1024u16..=6553).prop_map(|p| format!("http://127.0.0.1:{p}")),
        ("[a-z]{1,10}", "[a-z]{1,8}").prop_map(|(h, p)| format!("https://{h}.example/{p}")),
    ]
}

/// An identity: any non-empty string the classifier takes for an identity, not a SID.
fn identity_value() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("an identity, not a user SID", |s| {
        !s.is_empty() && classify(s) == Lookup::Identity
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `attributes`: a JSON object serialized compactly, pretty-printed, or padded with spaces
/// as in the documentation's examples (`"{ \"duty\": \"tech\" }"`).
fn attributes() -> impl Strategy<Value = String> {
    (
        prop::collection::btree_map(any::<String>(), json_value(), 0..4),
        0u8..3,
    )
        .prop_map(|(m, style)| {
            let obj = Value::Object(m.into_iter().collect::<Map<_, _>>());
            match style {
                0 => obj.to_string(),
                1 => serde_json::to_string_pretty(&obj).expect("a Value serializes"),
                _ => format!(" {obj} "),
            }
        })
}

/// 2000-01-01 to 2099-12-31, in seconds since the epoch.
const Y2000: i64 = 946_684_800;
const Y2100: i64 = 4_102_444_800;

fn date(secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .expect("a date in range")
        .format(fmt)
        .expect("the format applies")
}

/// `(date_created, date_updated)` in seconds, updated never earlier; often equal, as after
/// a Create.
fn dates() -> impl Strategy<Value = (i64, i64)> {
    (
        Y2000..Y2100 - 400_000_000,
        prop_oneof![Just(0i64), 1i64..=60, 1i64..=400_000_000],
    )
        .prop_map(|(c, d)| (c, c + d))
}

/// What varies from user to user; the account, the service and the URLs come from the scene.
#[derive(Debug, Clone)]
struct UserSpec {
    sid: String,
    role: Option<String>,
    identity: String,
    friendly: Option<String>,
    attributes: String,
    online: Option<bool>,
    notifiable: Option<bool>,
    created: i64,
    updated: i64,
}

fn user_spec_with(sid: impl Strategy<Value = String>) -> impl Strategy<Value = UserSpec> {
    (
        sid,
        prop::option::weighted(0.8, self::sid(SidKind::Role)),
        identity_value(),
        prop::option::of(any::<String>()),
        attributes(),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        dates(),
    )
        .prop_map(
            |(sid, role, identity, friendly, attributes, online, notifiable, (c, u))| UserSpec {
                sid,
                role,
                identity,
                friendly,
                attributes,
                online,
                notifiable,
                created: c,
                updated: u,
            },
        )
}

fn user_spec() -> impl Strategy<Value = UserSpec> {
    user_spec_with(sid(SidKind::User))
}

/// The request side: target, URL form, edition and what the caller knows.
#[derive(Debug, Clone)]
struct Scene {
    edition: Edition,
    base: String,
    /// The base as given to the context: sometimes with a trailing `/`.
    ctx_base: String,
    /// The URL form the request used; `Service` names the scene's service.
    scoped: bool,
    /// Whether the context knows the form (offline validation does not).
    form_known: bool,
    account: String,
    service: String,
    account_known: bool,
    default_known: bool,
}

fn scene() -> impl Strategy<Value = Scene> {
    (
        prop_oneof![Just(Edition::Docs), Just(Edition::Oai2025)],
        base(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.8),
        sid(SidKind::Account),
        sid(SidKind::Service),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(edition, base, slash, scoped, form_known, account, service, ak, dk)| Scene {
                edition,
                ctx_base: if slash {
                    format!("{base}/")
                } else {
                    base.clone()
                },
                base,
                scoped,
                form_known,
                account,
                service,
                account_known: ak,
                default_known: dk,
            },
        )
}

impl Scene {
    fn form(&self) -> UrlForm {
        if self.scoped {
            UrlForm::Service(self.service.clone())
        } else {
            UrlForm::Shortened
        }
    }

    fn context(&self, op: Option<Operation>) -> Context {
        Context {
            operation: op,
            form: self.form_known.then(|| self.form()),
            edition: self.edition,
            base_url: Some(self.ctx_base.clone()),
            account_sid: self.account_known.then(|| self.account.clone()),
            default_service_sid: self.default_known.then(|| self.service.clone()),
            known: Known::default(),
            status_check: None,
        }
    }

    fn user_path(&self, sid: &str) -> String {
        self.form().item_path(sid)
    }

    fn user_url(&self, sid: &str) -> String {
        format!("{}{}", self.base, self.user_path(sid))
    }

    fn page_url(&self, size: u32, page: i64) -> String {
        format!(
            "{}{}?PageSize={size}&Page={page}",
            self.base,
            self.form().collection_path()
        )
    }

    /// The User as the service would answer; `online_allowed` says whether `is_online` and
    /// `is_notifiable` may carry a boolean in this answer.
    fn user_json(&self, u: &UserSpec, online_allowed: (bool, bool)) -> Value {
        let url = self.user_url(&u.sid);
        json!({
            "sid": u.sid,
            "account_sid": self.account,
            "chat_service_sid": self.service,
            "role_sid": u.role,
            "identity": u.identity,
            "friendly_name": u.friendly,
            "attributes": u.attributes,
            "is_online": if online_allowed.0 { u.online } else { None },
            "is_notifiable": if online_allowed.1 { u.notifiable } else { None },
            "date_created": date(u.created),
            "date_updated": date(u.updated),
            "url": url,
            "links": {"user_conversations": format!("{url}/Conversations")},
        })
    }
}

/// Whether the model lets `is_online` / `is_notifiable` be a boolean: only a Fetch (or a
/// body whose operation is unknown), and not when reachability is off or the user never
/// came online / never registered.
fn online_allowed(op: Option<Operation>, known: &Known) -> (bool, bool) {
    let fetchish = matches!(op, None | Some(Operation::Fetch));
    let reach = known.reachability != Some(false);
    (
        fetchish && reach && known.ever_online != Some(false),
        fetchish && reach && known.ever_registered != Some(false),
    )
}

fn operation() -> impl Strategy<Value = Option<Operation>> {
    prop_oneof![
        Just(None),
        Just(Some(Operation::Create)),
        Just(Some(Operation::Read)),
        Just(Some(Operation::Fetch)),
        Just(Some(Operation::Update)),
    ]
}

fn known_flag() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![Just(None), Just(Some(true)), Just(Some(false))]
}

/// A single User answer: scene, user, operation and what the caller knows.
#[derive(Debug, Clone)]
struct OneUser {
    scene: Scene,
    user: UserSpec,
    op: Option<Operation>,
    known: Known,
}

impl OneUser {
    fn context(&self) -> Context {
        Context {
            known: self.known.clone(),
            ..self.scene.context(self.op)
        }
    }

    fn json(&self) -> Value {
        self.scene
            .user_json(&self.user, online_allowed(self.op, &self.known))
    }
}

fn one_user() -> impl Strategy<Value = OneUser> {
    (
        scene(),
        user_spec(),
        operation(),
        any::<bool>(),
        known_flag(),
        known_flag(),
        known_flag(),
    )
        .prop_map(
            |(scene, user, op, know_identity, reach, online, registered)| {
                let known = Known {
                    identity: know_identity.then(|| user.identity.clone()),
                    reachability: reach,
                    ever_online: online,
                    ever_registered: registered,
                    last_page: None,
                };
                OneUser {
                    scene,
                    user,
                    op,
                    known,
                }
            },
        )
}

/// A page of users as the service would answer it.
#[derive(Debug, Clone)]
struct PageSpec {
    scene: Scene,
    page: i64,
    page_size: u32,
    users: Vec<UserSpec>,
    /// Users with fresh sids, not in the page, for mutations that add one.
    spare: Vec<UserSpec>,
    /// The token of the next page; used only on a full page (a shorter one is the last).
    next_token: Option<String>,
    /// Whether the context knows if this is the last page.
    last_known: bool,
}

fn page_spec() -> impl Strategy<Value = PageSpec> {
    (scene(), 0i64..=10_000, any::<bool>())
        .prop_flat_map(|(scene, page, first)| {
            let max = scene.edition.page_size().max;
            let min = scene.edition.page_size().min;
            // Small sizes most of the time, so that full pages (with a next page) are common.
            let size = prop_oneof![3 => min..=8u32.min(max), 1 => min..=max];
            (
                Just(scene),
                Just(if first { 0 } else { page }),
                size,
                prop::collection::btree_set(any::<u128>(), 3..=11),
                prop::collection::vec(user_spec(), 11),
                0usize..=8,
                prop::option::of("[A-Za-z0-9]{1,24}"),
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(
            |(scene, page, page_size, sids, mut pool, count, token, last_known, upper)| {
                // Distinct sids from the set; the first three stay spare.
                for (u, n) in pool.iter_mut().zip(&sids) {
                    u.sid = with_case(SidKind::User.from_u128(*n), upper);
                }
                pool.truncate(sids.len());
                let spare = pool.split_off(pool.len() - 3);
                let n = count.min(page_size as usize).min(pool.len());
                pool.truncate(n);
                PageSpec {
                    scene,
                    page,
                    page_size,
                    users: pool,
                    spare,
                    next_token: token,
                    last_known,
                }
            },
        )
}

impl PageSpec {
    fn next_url(&self) -> Option<String> {
        let token = self.next_token.as_ref()?;
        (self.users.len() == self.page_size as usize).then(|| {
            format!(
                "{}&PageToken={token}",
                self.scene.page_url(self.page_size, self.page + 1)
            )
        })
    }

    fn json(&self) -> Value {
        let s = &self.scene;
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| s.user_json(u, (false, false)))
            .collect();
        json!({
            "meta": {
                "page": self.page,
                "page_size": self.page_size,
                "first_page_url": s.page_url(self.page_size, 0),
                "previous_page_url": (self.page > 0).then(|| s.page_url(self.page_size, self.page - 1)),
                "url": s.page_url(self.page_size, self.page),
                "next_page_url": self.next_url(),
                "key": "users",
            },
            "users": users,
        })
    }

    fn context(&self) -> Context {
        let mut ctx = self.scene.context(Some(Operation::Read));
        if self.last_known {
            ctx.known.last_page = Some(self.next_url().is_none());
        }
        ctx
    }

    /// What was asked for, read back from the page's own `meta.url`.
    fn request(&self) -> PageRequest {
        PageRequest::from_url(&self.scene.page_url(self.page_size, self.page))
            .expect("the page URL is absolute")
    }
}

// ---------------------------------------------------------------------------------------
// 1. Valid bodies raise no finding
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_users_have_no_finding(case in one_user()) {
        let v = case.json();
        let ctx = case.context();
        prop_assert_eq!(ids(&user_body(&v, &ctx)), Vec::<String>::new());

        // The same body as a whole exchange, served as JSON with the documented status.
        if let Some(op) = case.op.filter(|op| *op != Operation::Read) {
            let ex = Exchange {
                method: op.rules().method.clone(),
                url: case.scene.user_url(&case.user.sid),
                status: op.success_status(),
                response_headers: vec![(
                    "Content-Type".into(),
                    "application/json; charset=utf-8".into(),
                )],
                response_body: serde_json::to_vec(&v).expect("a Value serializes"),
                ..Exchange::default()
            };
            prop_assert_eq!(ids(&check::exchange(&ex, &ctx)), Vec::<String>::new());
        }
    }

    #[test]
    fn valid_pages_have_no_finding(p in page_spec()) {
        let v = p.json();
        let ctx = p.context();
        let req = p.request();
        prop_assert_eq!(ids(&page_body(&v, &ctx, Some(&req))), Vec::<String>::new());
        prop_assert_eq!(ids(&page_body(&v, &ctx, None)), Vec::<String>::new());

        let ex = Exchange {
            method: "GET".into(),
            url: p.scene.page_url(p.page_size, p.page),
            status: 200,
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_body: serde_json::to_vec(&v).expect("a Value serializes"),
            ..Exchange::default()
        };
        prop_assert_eq!(ids(&check::exchange(&ex, &ctx)), Vec::<String>::new());
    }

    #[test]
    fn valid_error_bodies_have_no_finding(e in error_spec()) {
        let v = e.json();
        prop_assert_eq!(ids(&error_body(&v, Some(e.status))), Vec::<String>::new());
        prop_assert_eq!(ids(&error_body(&v, None)), Vec::<String>::new());
    }
}

/// Both editions and both URL forms are met by the generators; this pins one page of each
/// so that a generator change cannot quietly drop a combination.
#[test]
fn every_edition_and_form_has_a_clean_page() {
    for edition in Edition::ALL {
        for scoped in [false, true] {
            let scene = Scene {
                edition,
                base: "https://conversations.twilio.com".into(),
                ctx_base: "https://conversations.twilio.com".into(),
                scoped,
                form_known: true,
                account: SidKind::Account.from_u128(1),
                service: SidKind::Service.from_u128(2),
                account_known: true,
                default_known: true,
            };
            let user = |n: u128| UserSpec {
                sid: SidKind::User.from_u128(n),
                role: None,
                identity: format!("user {n}"),
                friendly: None,
                attributes: "{}".into(),
                online: None,
                notifiable: None,
                created: Y2000,
                updated: Y2000,
            };
            let max = edition.page_size().max;
            let p = PageSpec {
                scene,
                page: 3,
                page_size: 2,
                users: vec![user(10), user(11)],
                spare: vec![],
                next_token: Some("PT1".into()),
                last_known: true,
            };
            let v = p.json();
            assert!(v["meta"]["next_page_url"].is_string());
            assert_eq!(page_body(&v, &p.context(), Some(&p.request())), vec![]);
            let big = PageSpec {
                page_size: max,
                ..p.clone()
            };
            assert_eq!(
                page_body(&big.json(), &big.context(), Some(&big.request())),
                vec![]
            );
            assert!(big.json()["meta"]["next_page_url"].is_null());
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. One mutation, exactly its findings
// ---------------------------------------------------------------------------------------

/// A SID field of the User.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SidField {
    Sid,
    Account,
    Service,
    Role,
}

impl SidField {
    fn key(self) -> &'static str {
        match self {
            SidField::Sid => "sid",
            SidField::Account => "account_sid",
            SidField::Service => "chat_service_sid",
            SidField::Role => "role_sid",
        }
    }

    fn kind(self) -> SidKind {
        match self {
            SidField::Sid => SidKind::User,
            SidField::Account => SidKind::Account,
            SidField::Service => SidKind::Service,
            SidField::Role => SidKind::Role,
        }
    }
}

/// How a SID is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SidBreak {
    /// Another two-letter prefix: `UX…`, or the prefix of another kind.
    Prefix(String),
    /// The right prefix in lower (or mixed) case: `us…`, `Us…`.
    Case(String),
    /// 31 hex digits.
    Short,
    /// 33 hex digits.
    Long,
    /// A digit that is not hexadecimal.
    NotHex,
}

impl SidBreak {
    fn apply(&self, kind: SidKind, n: u128) -> String {
        let good = kind.from_u128(n);
        let digits = &good[2..];
        match self {
            SidBreak::Prefix(p) | SidBreak::Case(p) => format!("{p}{digits}"),
            SidBreak::Short => format!("{}{}", kind.prefix(), &digits[1..]),
            SidBreak::Long => format!("{good}f"),
            SidBreak::NotHex => format!("{}g{}", kind.prefix(), &digits[1..]),
        }
    }

    fn ids(&self, key: &str) -> Vec<String> {
        let mut v = vec![format!("user.{key}.pattern")];
        if matches!(self, SidBreak::Short | SidBreak::Long) {
            v.push(format!("user.{key}.length"));
        }
        v
    }
}

fn sid_break(kind: SidKind) -> impl Strategy<Value = SidBreak> {
    let other: Vec<String> = SidKind::ALL
        .into_iter()
        .filter(|k| *k != kind)
        .map(|k| k.prefix().to_owned())
        .chain(["UX".to_owned(), "XX".to_owned(), "U5".to_owned()])
        .collect();
    let p = kind.prefix();
    let cases = vec![
        p.to_ascii_lowercase(),
        format!("{}{}", &p[..1], p[1..].to_ascii_lowercase()),
        format!("{}{}", p[..1].to_ascii_lowercase(), &p[1..]),
    ];
    prop_oneof![
        prop::sample::select(other).prop_map(SidBreak::Prefix),
        prop::sample::select(cases).prop_map(SidBreak::Case),
        Just(SidBreak::Short),
        Just(SidBreak::Long),
        Just(SidBreak::NotHex),
    ]
}

/// One change to a valid User.
#[derive(Debug, Clone)]
enum UserMut {
    /// A malformed SID. For `sid`, `follow` rewrites `url` and `links` to the new sid, so
    /// that only the SID rules answer; without it the old `url` no longer names the user.
    Sid {
        field: SidField,
        brk: SidBreak,
        n: u128,
        follow: bool,
    },
    /// A documented property left out.
    Missing(&'static str),
    /// A documented property with a value of the wrong JSON type.
    WrongType(&'static str),
    /// `attributes` as a JSON object rather than a string holding one.
    AttributesObject,
    /// `attributes` a string that does not hold a JSON object.
    AttributesNotObject(String),
    /// `url` relative (the path alone); `follow` makes `links` relative the same way.
    UrlRelative { follow: bool },
    /// `url` with a scheme other than http(s); `follow` rewrites `links` after it.
    UrlScheme { follow: bool },
    /// `url` of another resource on the right host.
    UrlOther { path: OtherPath, follow: bool },
    /// `url` on another host; `follow` rewrites `links` after it.
    UrlForeign { host: Foreign, follow: bool },
    /// `url` that looks absolute but names no valid authority (port out of range).
    UrlBadPort { follow: bool },
    /// `links.user_conversations` not `url` + `/Conversations`.
    LinksWrong(u8),
    /// `links` without `user_conversations`.
    LinksEmpty,
    /// A date in another format.
    DateFormat { created: bool, text: String },
    /// `date_updated` earlier than `date_created`.
    DatesReversed { by: i64 },
}

/// Another resource's path on the target.
#[derive(Debug, Clone, Copy)]
enum OtherPath {
    /// Another user.
    OtherUser(u128),
    /// The other URL form than the one the request used.
    OtherForm,
    /// The user's conversations rather than the user.
    Conversations,
    /// A query string after the right path.
    Query,
    /// Another API version.
    V2,
}

/// Hosts that are not the base: some share its text as a prefix, which is how a careless
/// comparison lets them through.
#[derive(Debug, Clone, Copy)]
enum Foreign {
    /// An unrelated host.
    Elsewhere,
    /// The base followed by more characters (`…twilio.com.evil`, `…:40100`, `/prefixx`).
    Extended,
    /// The other scheme.
    Scheme,
}

fn foreign_base(base: &str, f: Foreign) -> String {
    match f {
        Foreign::Elsewhere => "https://elsewhere.invalid".to_owned(),
        Foreign::Extended => {
            if base.ends_with(".com") {
                format!("{base}.evil.invalid")
            } else {
                format!("{base}0")
            }
        }
        Foreign::Scheme => match base.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => base.replacen("http://", "https://", 1),
        },
    }
}

fn foreign() -> impl Strategy<Value = Foreign> {
    prop_oneof![
        Just(Foreign::Elsewhere),
        Just(Foreign::Extended),
        Just(Foreign::Scheme)
    ]
}

const PROPS: [&str; 13] = [
    "sid",
    "account_sid",
    "chat_service_sid",
    "role_sid",
    "identity",
    "friendly_name",
    "attributes",
    "is_online",
    "is_notifiable",
    "date_created",
    "date_updated",
    "url",
    "links",
];

fn sid_mut() -> impl Strategy<Value = UserMut> {
    prop_oneof![
        Just(SidField::Sid),
        Just(SidField::Account),
        Just(SidField::Service),
        Just(SidField::Role),
    ]
    .prop_flat_map(|field| {
        (sid_break(field.kind()), any::<u128>(), any::<bool>()).prop_map(move |(brk, n, follow)| {
            UserMut::Sid {
                field,
                brk,
                n,
                follow,
            }
        })
    })
}

fn not_an_object() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "[]",
            "[{\"a\": 1}]",
            "\"{}\"",
            "1",
            "null",
            "true",
            "",
            " ",
            "{",
            "{'duty': 'tech'}",
            "{\"a\": 1} {}",
            "duty=tech",
        ])
        .prop_map(str::to_owned),
        any::<String>().prop_filter("not a JSON object", |s| {
            !serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object())
        }),
    ]
}

fn user_mut() -> impl Strategy<Value = UserMut> {
    prop_oneof![
        4 => sid_mut(),
        2 => prop::sample::select(PROPS.to_vec()).prop_map(UserMut::Missing),
        2 => prop::sample::select(PROPS.to_vec()).prop_map(UserMut::WrongType),
        1 => Just(UserMut::AttributesObject),
        1 => not_an_object().prop_map(UserMut::AttributesNotObject),
        1 => any::<bool>().prop_map(|follow| UserMut::UrlRelative { follow }),
        1 => any::<bool>().prop_map(|follow| UserMut::UrlScheme { follow }),
        1 => (
            prop_oneof![
                any::<u128>().prop_map(OtherPath::OtherUser),
                Just(OtherPath::OtherForm),
                Just(OtherPath::Conversations),
                Just(OtherPath::Query),
                Just(OtherPath::V2),
            ],
            any::<bool>()
        )
            .prop_map(|(path, follow)| UserMut::UrlOther { path, follow }),
        1 => (foreign(), any::<bool>()).prop_map(|(host, follow)| UserMut::UrlForeign { host, follow }),
        1 => any::<bool>().prop_map(|follow| UserMut::UrlBadPort { follow }),
        1 => (0u8..5).prop_map(UserMut::LinksWrong),
        1 => Just(UserMut::LinksEmpty),
        1 => (
            any::<bool>(),
            prop::sample::select(vec![
                "Mon, 16 Dec 2019 22:18:37 +0000",
                "2019-12-16T22:18:37.Z",
                "2019-12-16T22:18:37+00:00",
                "2019-12-16 22:18:37",
                "2019-12-16T22:18:37",
                "2019-12-16",
                "1576534717",
                "",
            ])
        )
            .prop_map(|(created, text)| UserMut::DateFormat { created, text: text.to_owned() }),
        1 => (1i64..=100_000_000).prop_map(|by| UserMut::DatesReversed { by }),
    ]
}

/// A value of the wrong JSON type for a property.
fn wrong_type(prop: &str) -> Value {
    match prop {
        "is_online" | "is_notifiable" => json!("true"),
        "links" => json!("links"),
        _ => json!(5),
    }
}

/// Applies `m` to the User `u` (found at `at` in the body) and returns the ids the checks
/// must report for it: the model of the checks.
fn apply_user_mut(
    u: &mut Value,
    m: &UserMut,
    scene: &Scene,
    ctx: &Context,
    op: Option<Operation>,
) -> Vec<String> {
    let url = u["url"].as_str().expect("a generated url").to_owned();
    let relink = |u: &mut Value, url: &str| {
        u["links"]["user_conversations"] = json!(format!("{url}/Conversations"));
    };
    // With the form unknown, the scoped `url` is only accepted for the service the body
    // itself names; so anything that changes or hides `chat_service_sid` breaks it.
    let offline_scoped = ctx.form.is_none() && scene.scoped;
    let s = |x: &str| x.to_owned();
    match m {
        UserMut::Sid {
            field,
            brk,
            n,
            follow,
        } => {
            let key = field.key();
            let bad = brk.apply(field.kind(), *n);
            u[key] = json!(bad);
            let mut out = brk.ids(key);
            match field {
                SidField::Sid => {
                    if *follow {
                        let new = scene.user_url(&bad);
                        u["url"] = json!(new);
                        relink(u, &new);
                    } else {
                        // The url still names the old sid: it is no longer this user's.
                        out.push(s("user.url.self"));
                    }
                }
                SidField::Account => {
                    if ctx.account_sid.is_some() {
                        out.push(s("user.account_sid.auth"));
                    }
                }
                SidField::Service => match &ctx.form {
                    Some(UrlForm::Service(_)) => out.push(s("user.chat_service_sid.path")),
                    Some(UrlForm::Shortened) if ctx.default_service_sid.is_some() => {
                        out.push(s("user.chat_service_sid.default"))
                    }
                    Some(UrlForm::Shortened) => {}
                    None => {
                        if offline_scoped {
                            out.push(s("user.url.self"));
                        }
                    }
                },
                SidField::Role => {}
            }
            out
        }
        UserMut::Missing(prop) => {
            u.as_object_mut().expect("an object").remove(*prop);
            let mut out = vec![format!("user.{prop}.present")];
            if *prop == "identity" && ctx.known.identity.is_some() {
                out.push(s("user.identity.echo"));
            }
            if *prop == "chat_service_sid" && offline_scoped {
                out.push(s("user.url.self"));
            }
            out
        }
        UserMut::WrongType(prop) => {
            u[*prop] = wrong_type(prop);
            let mut out = vec![format!("user.{prop}.type")];
            if *prop == "identity" && ctx.known.identity.is_some() {
                out.push(s("user.identity.echo"));
            }
            if *prop == "chat_service_sid" && offline_scoped {
                out.push(s("user.url.self"));
            }
            if *prop == "is_online" || *prop == "is_notifiable" {
                // A string is not null either: the null rules answer too.
                let ever = if *prop == "is_online" {
                    ctx.known.ever_online
                } else {
                    ctx.known.ever_registered
                };
                match op {
                    Some(Operation::Read) => out.push(format!("user.{prop}.read-null")),
                    Some(Operation::Create | Operation::Update) => {
                        out.push(format!("user.{prop}.fetch-only"))
                    }
                    Some(Operation::Fetch)
                        if ctx.known.reachability == Some(false) || ever == Some(false) =>
                    {
                        out.push(format!("user.{prop}.unreachable-null"))
                    }
                    _ => {}
                }
            }
            out
        }
        UserMut::AttributesObject => {
            let parsed: Value =
                serde_json::from_str(u["attributes"].as_str().expect("a string")).expect("json");
            u["attributes"] = parsed;
            vec![s("user.attributes.type")]
        }
        UserMut::AttributesNotObject(text) => {
            u["attributes"] = json!(text);
            vec![s("user.attributes.json-object")]
        }
        UserMut::UrlRelative { follow } => {
            let rel = url::Url::parse(&url).expect("absolute").path().to_owned();
            u["url"] = json!(rel);
            if *follow {
                relink(u, &rel);
                vec![
                    s("user.url.absolute"),
                    s("user.links.user_conversations.absolute"),
                ]
            } else {
                vec![
                    s("user.url.absolute"),
                    s("user.links.user_conversations.value"),
                ]
            }
        }
        UserMut::UrlScheme { follow } => {
            let other = format!("ftp{}", &url[url.find("://").expect("a scheme")..]);
            u["url"] = json!(other);
            // Not on the base either: the base starts with http(s).
            let mut out = vec![s("user.url.absolute"), s("user.url.base")];
            if *follow {
                relink(u, &other);
                out.push(s("user.links.user_conversations.absolute"));
            } else {
                out.push(s("user.links.user_conversations.value"));
            }
            out
        }
        UserMut::UrlOther { path, follow } => {
            let sid = u["sid"].as_str().expect("a sid").to_owned();
            let other = match path {
                OtherPath::OtherUser(n) => {
                    let mut o = SidKind::User.from_u128(*n);
                    if o.eq_ignore_ascii_case(&sid) {
                        o = SidKind::User.from_u128(n.wrapping_add(1));
                    }
                    scene.user_url(&o)
                }
                OtherPath::OtherForm => {
                    let form = if scene.scoped {
                        UrlForm::Shortened
                    } else {
                        UrlForm::Service(scene.service.clone())
                    };
                    format!("{}{}", scene.base, form.item_path(&sid))
                }
                OtherPath::Conversations => format!("{url}/Conversations"),
                OtherPath::Query => format!("{url}?Page=1"),
                OtherPath::V2 => url.replacen("/v1/", "/v2/", 1),
            };
            u["url"] = json!(other);
            let mut out = vec![s("user.url.self")];
            if *follow {
                relink(u, &other);
            } else {
                out.push(s("user.links.user_conversations.value"));
            }
            // With the form unknown (offline), either form names this user, so the other
            // form is no breach.
            if matches!(path, OtherPath::OtherForm) && ctx.form.is_none() {
                out.retain(|id| id != "user.url.self");
            }
            out
        }
        UserMut::UrlForeign { host, follow } => {
            let other = format!(
                "{}{}",
                foreign_base(&scene.base, *host),
                scene.user_path(u["sid"].as_str().expect("a sid"))
            );
            u["url"] = json!(other);
            let mut out = vec![s("user.url.base")];
            if *follow {
                relink(u, &other);
            } else {
                out.push(s("user.links.user_conversations.value"));
            }
            out
        }
        UserMut::UrlBadPort { follow } => {
            let other = format!(
                "http://127.0.0.1:99999{}",
                scene.user_path(u["sid"].as_str().expect("a sid"))
            );
            u["url"] = json!(other);
            // It matches the schema's pattern, but no URL parser takes it: it is not an
            // absolute URL.
            let mut out = vec![s("user.url.absolute")];
            if *follow {
                relink(u, &other);
                out.push(s("user.links.user_conversations.absolute"));
            } else {
                out.push(s("user.links.user_conversations.value"));
            }
            out
        }
        UserMut::LinksWrong(which) => {
            let wrong = match which {
                0 => url.clone(),
                1 => format!("{url}/Conversations/"),
                2 => format!("{url}/conversations"),
                3 => format!("{url}/Participants"),
                _ => scene.user_url(&SidKind::User.from_u128(7)) + "/Conversations",
            };
            u["links"]["user_conversations"] = json!(wrong);
            if wrong == format!("{url}/Conversations") {
                // The generated user was US…07 itself: nothing changed.
                vec![]
            } else {
                vec![s("user.links.user_conversations.value")]
            }
        }
        UserMut::LinksEmpty => {
            u["links"] = json!({});
            vec![s("user.links.user_conversations.present")]
        }
        UserMut::DateFormat { created, text } => {
            let key = if *created {
                "date_created"
            } else {
                "date_updated"
            };
            u[key] = json!(text);
            vec![format!("user.{key}.format")]
        }
        UserMut::DatesReversed { by } => {
            let c = u["date_created"].as_str().expect("a date").to_owned();
            let parsed = time::OffsetDateTime::parse(
                &c,
                &time::format_description::well_known::Iso8601::DEFAULT,
            )
            .expect("a generated date");
            u["date_updated"] = json!(date(parsed.unix_timestamp() - by));
            vec![s("user.dates.order")]
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn each_user_mutation_raises_exactly_its_checks(case in one_user(), m in user_mut()) {
        let mut v = case.json();
        let ctx = case.context();
        let expected = {
            let mut e = apply_user_mut(&mut v, &m, &case.scene, &ctx, case.op);
            e.sort();
            e
        };
        prop_assert_eq!(ids(&user_body(&v, &ctx)), expected, "{:?} on {}", m, v);
    }

    #[test]
    fn each_user_mutation_in_a_page_raises_exactly_its_checks(
        p in page_spec(),
        m in user_mut(),
        pick in any::<prop::sample::Index>(),
    ) {
        prop_assume!(!p.users.is_empty());
        let mut v = p.json();
        let ctx = p.context();
        let i = pick.index(p.users.len());
        let mut expected = apply_user_mut(&mut v["users"][i], &m, &p.scene, &ctx, Some(Operation::Read));
        expected.sort();
        let req = p.request();
        prop_assert_eq!(ids(&page_body(&v, &ctx, Some(&req))), expected.clone(), "{:?}", m);
        prop_assert_eq!(ids(&page_body(&v, &ctx, None)), expected, "{:?}", m);
    }

    #[test]
    fn a_set_reachability_value_outside_a_plain_fetch_is_reported(
        case in one_user(),
        prop_online in any::<bool>(),
        value in any::<bool>(),
        how in 0u8..4,
    ) {
        let prop = if prop_online { "is_online" } else { "is_notifiable" };
        let mut case = case;
        let mut known = Known { identity: case.known.identity.clone(), ..Known::default() };
        let (op, id) = match how {
            0 => (Operation::Read, "read-null"),
            1 => (Operation::Create, "fetch-only"),
            2 => (Operation::Update, "fetch-only"),
            _ => {
                if value {
                    known.reachability = Some(false);
                } else if prop_online {
                    known.ever_online = Some(false);
                } else {
                    known.ever_registered = Some(false);
                }
                (Operation::Fetch, "unreachable-null")
            }
        };
        case.op = Some(op);
        case.known = known;
        let mut v = case.json();
        v[prop] = json!(value);
        prop_assert_eq!(
            ids(&user_body(&v, &case.context())),
            vec![format!("user.{prop}.{id}")]
        );
    }

    #[test]
    fn a_set_is_online_in_a_page_is_reported(
        p in page_spec(),
        pick in any::<prop::sample::Index>(),
        prop_online in any::<bool>(),
        value in any::<bool>(),
    ) {
        prop_assume!(!p.users.is_empty());
        let prop = if prop_online { "is_online" } else { "is_notifiable" };
        let mut v = p.json();
        v["users"][pick.index(p.users.len())][prop] = json!(value);
        let expected = vec![format!("user.{prop}.read-null")];
        prop_assert_eq!(ids(&page_body(&v, &p.context(), Some(&p.request()))), expected.clone());
        prop_assert_eq!(ids(&page_body(&v, &p.context(), None)), expected);
    }
}

/// One change to a valid page (or to the request it answers).
#[derive(Debug, Clone)]
enum PageMut {
    /// `meta.key` other than `users`.
    Key(String),
    /// The request asked for another PageSize than the page says (the body is unchanged).
    RequestSize(u32),
    /// The request asked for another Page.
    RequestPage(i64),
    /// `meta.page_size` changed, the URLs left alone: every URL now disagrees with it.
    MetaSize(u32),
    /// `next_page_url` set on a page shorter than `page_size`.
    NextOnShort,
    /// `next_page_url` set on a page the caller knows to be the last.
    NextOnKnownLast,
    /// `next_page_url` null while the caller knows more users follow.
    NoNextWhenMore,
    /// `previous_page_url` set on page 0 (to page 0, the common slip).
    PreviousOnFirst,
    /// `previous_page_url` null after page 0.
    NoPreviousLater,
    /// `meta.url` with another PageSize.
    UrlSize(u32),
    /// `meta.url` with another Page.
    UrlPage,
    /// `first_page_url` naming page 1.
    FirstPage,
    /// `next_page_url` naming a page other than the next.
    NextPage,
    /// `first_page_url` on another path.
    FirstPath,
    /// A user twice in the page.
    Duplicate,
    /// More users than `page_size`.
    TooMany,
    /// A meta URL on another host.
    Foreign(&'static str, Foreign),
    /// A meta URL the schema's pattern takes but no URL parser does (port out of range).
    Unparseable(&'static str),
}

fn page_mut() -> impl Strategy<Value = PageMut> {
    prop_oneof![
        prop::sample::select(vec!["Users", "user", "", "items", "users "])
            .prop_map(|k| PageMut::Key(k.to_owned())),
        (1u32..=1000).prop_map(PageMut::RequestSize),
        (0i64..=20).prop_map(PageMut::RequestPage),
        (1u32..=1000).prop_map(PageMut::MetaSize),
        Just(PageMut::NextOnShort),
        Just(PageMut::NextOnKnownLast),
        Just(PageMut::NoNextWhenMore),
        Just(PageMut::PreviousOnFirst),
        Just(PageMut::NoPreviousLater),
        (1u32..=1000).prop_map(PageMut::UrlSize),
        Just(PageMut::UrlPage),
        Just(PageMut::FirstPage),
        Just(PageMut::NextPage),
        Just(PageMut::FirstPath),
        Just(PageMut::Duplicate),
        Just(PageMut::TooMany),
        (
            prop::sample::select(vec![
                "url",
                "first_page_url",
                "previous_page_url",
                "next_page_url"
            ]),
            foreign()
        )
            .prop_map(|(k, f)| PageMut::Foreign(k, f)),
        prop::sample::select(vec![
            "url",
            "first_page_url",
            "previous_page_url",
            "next_page_url"
        ])
        .prop_map(PageMut::Unparseable),
    ]
}

/// The check that judges the path, PageSize and Page of a meta link.
fn link_check(key: &str) -> String {
    if key == "url" {
        "page.meta.url.self".to_owned()
    } else {
        format!("page.meta.{key}.value")
    }
}

/// Replaces `Page=…` and `PageSize=…` in a page URL.
fn with_query(url: &str, size: Option<u32>, page: Option<i64>) -> String {
    let mut u = url::Url::parse(url).expect("absolute");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = match (k.as_ref(), size, page) {
                ("PageSize", Some(s), _) => s.to_string(),
                ("Page", _, Some(p)) => p.to_string(),
                _ => v.into_owned(),
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

/// Adjusts the page so that `m` applies, applies it, and returns the findings the model
/// expects with the request read from the original `meta.url` (first) and with none.
fn apply_page_mut(
    p: &mut PageSpec,
    m: &PageMut,
) -> (Value, Context, PageRequest, Vec<String>, Vec<String>) {
    let max = p.scene.edition.page_size().max;
    // Preconditions first: each mutation needs a page of a certain shape.
    match m {
        // A full page loses a user, so that it is shorter than page_size.
        PageMut::NextOnShort if p.users.len() == p.page_size as usize => {
            p.users.pop();
        }
        PageMut::NextOnKnownLast | PageMut::NextPage | PageMut::TooMany => {
            p.page_size = p.page_size.min(p.users.len().max(1) as u32);
            while p.users.len() < p.page_size as usize {
                p.users.push(p.spare.pop().expect("a spare user"));
            }
            p.next_token.get_or_insert_with(|| "PT00".to_owned());
        }
        PageMut::NoNextWhenMore => p.next_token = None,
        PageMut::PreviousOnFirst => p.page = 0,
        PageMut::NoPreviousLater => p.page = p.page.max(1),
        PageMut::Duplicate => {
            if p.users.is_empty() {
                p.users.push(p.spare.pop().expect("a spare user"));
            }
            p.page_size = p.page_size.max(p.users.len() as u32 + 1).min(max);
            if p.users.len() == p.page_size as usize {
                p.users.pop();
            }
        }
        PageMut::Foreign("previous_page_url", _) | PageMut::Unparseable("previous_page_url") => {
            p.page = p.page.max(1)
        }
        PageMut::Foreign("next_page_url", _) | PageMut::Unparseable("next_page_url") => {
            p.page_size = p.page_size.min(p.users.len().max(1) as u32);
            while p.users.len() < p.page_size as usize {
                p.users.push(p.spare.pop().expect("a spare user"));
            }
            p.next_token.get_or_insert_with(|| "PT00".to_owned());
        }
        _ => {}
    }
    let mut v = p.json();
    let mut ctx = p.context();
    let mut req = p.request();
    let s = |x: &str| x.to_owned();
    let meta_url = v["meta"]["url"].as_str().expect("a url").to_owned();
    let n = p.users.len();
    let size = p.page_size;
    // (with the request, without it)
    let (with, without): (Vec<String>, Vec<String>) = match m {
        PageMut::Key(k) => {
            v["meta"]["key"] = json!(k);
            (
                vec![s("page.meta.key.value")],
                vec![s("page.meta.key.value")],
            )
        }
        PageMut::RequestSize(other) => {
            let other = if *other == size { size + 1 } else { *other };
            req.page_size = Some(i64::from(other));
            (vec![s("page.meta.page_size.echo")], vec![])
        }
        PageMut::RequestPage(other) => {
            let other = if *other == p.page { p.page + 1 } else { *other };
            req.page = Some(other);
            (vec![s("page.meta.page.echo")], vec![])
        }
        PageMut::MetaSize(other) => {
            let other = if *other == size { size + 1 } else { *other };
            v["meta"]["page_size"] = json!(other);
            let mut out = vec![s("page.meta.url.self"), s("page.meta.first_page_url.value")];
            if p.page > 0 {
                out.push(s("page.meta.previous_page_url.value"));
            }
            let next_set = v["meta"]["next_page_url"].is_string();
            if next_set {
                out.push(s("page.meta.next_page_url.value"));
                if (n as u32) < other {
                    out.push(s("page.meta.next_page_url.last"));
                }
            }
            if n as u32 > other {
                out.push(s("page.users.size"));
            }
            let mut with = out.clone();
            with.push(s("page.meta.page_size.echo"));
            (with, out)
        }
        PageMut::NextOnShort => {
            v["meta"]["next_page_url"] = json!(format!(
                "{}&PageToken=PT1",
                p.scene.page_url(size, p.page + 1)
            ));
            let out = vec![s("page.meta.next_page_url.last")];
            (out.clone(), out)
        }
        PageMut::NextOnKnownLast => {
            ctx.known.last_page = Some(true);
            let out = vec![s("page.meta.next_page_url.last")];
            (out.clone(), out)
        }
        PageMut::NoNextWhenMore => {
            ctx.known.last_page = Some(false);
            let out = vec![s("page.meta.next_page_url.more")];
            (out.clone(), out)
        }
        PageMut::PreviousOnFirst => {
            v["meta"]["previous_page_url"] = json!(p.scene.page_url(size, 0));
            let out = vec![s("page.meta.previous_page_url.value")];
            (out.clone(), out)
        }
        // A later page that says no page comes before it: a server paging by keys says so
        // when every user before the page is gone, and the documentation allows it.
        PageMut::NoPreviousLater => {
            v["meta"]["previous_page_url"] = Value::Null;
            (vec![], vec![])
        }
        PageMut::UrlSize(other) => {
            let other = if *other == size { size + 1 } else { *other };
            v["meta"]["url"] = json!(with_query(&meta_url, Some(other), None));
            let out = vec![s("page.meta.url.self")];
            (out.clone(), out)
        }
        PageMut::UrlPage => {
            v["meta"]["url"] = json!(with_query(&meta_url, None, Some(p.page + 1)));
            let out = vec![s("page.meta.url.self")];
            (out.clone(), out)
        }
        PageMut::FirstPage => {
            v["meta"]["first_page_url"] = json!(p.scene.page_url(size, 1));
            let out = vec![s("page.meta.first_page_url.value")];
            (out.clone(), out)
        }
        PageMut::NextPage => {
            let next = v["meta"]["next_page_url"]
                .as_str()
                .expect("a next page")
                .to_owned();
            v["meta"]["next_page_url"] = json!(with_query(&next, None, Some(p.page + 2)));
            let out = vec![s("page.meta.next_page_url.value")];
            (out.clone(), out)
        }
        PageMut::FirstPath => {
            let first = v["meta"]["first_page_url"]
                .as_str()
                .expect("a url")
                .to_owned();
            v["meta"]["first_page_url"] = json!(first.replacen("/Users?", "/Conversations?", 1));
            let out = vec![s("page.meta.first_page_url.value")];
            (out.clone(), out)
        }
        PageMut::Duplicate => {
            let copy = v["users"][0].clone();
            v["users"].as_array_mut().expect("users").push(copy);
            let out = vec![s("page.users.unique")];
            (out.clone(), out)
        }
        PageMut::TooMany => {
            let extra = p.spare.pop().expect("a spare user");
            v["users"]
                .as_array_mut()
                .expect("users")
                .push(p.scene.user_json(&extra, (false, false)));
            let out = vec![s("page.users.size")];
            (out.clone(), out)
        }
        PageMut::Foreign(key, f) => {
            let old = v["meta"][*key].as_str().expect("a set url").to_owned();
            let foreign = format!(
                "{}{}",
                foreign_base(&p.scene.base, *f),
                &old[p.scene.base.len()..]
            );
            v["meta"][*key] = json!(foreign);
            // A base with a path prefix, extended (`/p` to `/p0`), also moves the path: the
            // link then names another collection, and offline a moved `meta.url` is the
            // request the other links are held to.
            let path = |u: &str| url::Url::parse(u).expect("absolute").path().to_owned();
            let mut with = vec![s("page.meta.urls.base")];
            let mut without = with.clone();
            if path(&foreign) != path(&old) {
                with.push(link_check(key));
                if *key == "url" {
                    for k in ["first_page_url", "previous_page_url", "next_page_url"] {
                        if v["meta"][k].is_string() {
                            without.push(link_check(k));
                        }
                    }
                } else {
                    without.push(link_check(key));
                }
            }
            (with, without)
        }
        PageMut::Unparseable(key) => {
            let old = v["meta"][*key].as_str().expect("a set url").to_owned();
            let bad = format!("http://127.0.0.1:99999{}", &old[p.scene.base.len()..]);
            v["meta"][*key] = json!(bad);
            // Not on the base either. Offline, an unparseable meta.url asks for nothing,
            // so the other links are then not held to a path.
            let out = vec![
                format!("page.meta.{key}.absolute"),
                s("page.meta.urls.base"),
            ];
            (out.clone(), out)
        }
    };
    let sort = |mut x: Vec<String>| {
        x.sort();
        x
    };
    (v, ctx, req, sort(with), sort(without))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn each_page_mutation_raises_exactly_its_checks(p in page_spec(), m in page_mut()) {
        let mut p = p;
        let (v, ctx, req, with, without) = apply_page_mut(&mut p, &m);
        prop_assert_eq!(ids(&page_body(&v, &ctx, Some(&req))), with, "{:?} on {}", m, v);
        // Without the request, the page is held to its own meta.url; a mutation of the
        // request itself then leaves nothing to find.
        prop_assert_eq!(ids(&page_body(&v, &ctx, None)), without, "{:?} on {}", m, v);
    }
}

// ---------------------------------------------------------------------------------------
// Error bodies
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct ErrorSpec {
    status: u16,
    code: i64,
    message: String,
    /// Absent, null or a string.
    detail: Option<Option<String>>,
}

fn error_spec() -> impl Strategy<Value = ErrorSpec> {
    (
        400u16..=599,
        0i64..=99_999,
        any::<String>(),
        prop::option::of(prop::option::of(any::<String>())),
    )
        .prop_map(|(status, code, message, detail)| ErrorSpec {
            status,
            code,
            message,
            detail,
        })
}

impl ErrorSpec {
    fn json(&self) -> Value {
        let prefix = &spec::rules().errors.more_info_prefix;
        let mut v = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("{prefix}{}", self.code),
            "status": self.status,
        });
        if let Some(d) = &self.detail {
            v["detail"] = json!(d);
        }
        v
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_error_status_unlike_the_http_status_is_reported(
        e in error_spec(),
        http in 100u16..=599,
    ) {
        prop_assume!(http != e.status);
        let v = e.json();
        prop_assert_eq!(ids(&error_body(&v, Some(http))), want(&["error.status.matches"]));
        prop_assert_eq!(ids(&error_body(&v, None)), Vec::<String>::new());
        let ex = Exchange {
            status: http,
            response_headers: vec![("Content-Type".into(), "application/json".into())],
            response_body: serde_json::to_vec(&v).expect("a Value serializes"),
            ..Exchange::default()
        };
        prop_assert_eq!(ids(&check::error_response(&ex)), want(&["error.status.matches"]));
    }

    #[test]
    fn each_error_mutation_raises_exactly_its_checks(
        e in error_spec(),
        which in 0u8..7,
        other_code in 0i64..=99_999,
    ) {
        let mut v = e.json();
        let prefix = &spec::rules().errors.more_info_prefix;
        let expected = match which {
            0..=3 => {
                let key = ["code", "message", "more_info", "status"][which as usize];
                v.as_object_mut().expect("an object").remove(key);
                vec![format!("error.{key}.present")]
            }
            4 => {
                prop_assume!(other_code != e.code);
                v["more_info"] = json!(format!("{prefix}{other_code}"));
                vec!["error.more_info.code".to_owned()]
            }
            5 => {
                v["more_info"] = json!(format!("https://twilio.com/errors/{}", e.code));
                vec!["error.more_info.format".to_owned()]
            }
            _ => {
                v["detail"] = json!(5);
                vec!["error.detail.type".to_owned()]
            }
        };
        prop_assert_eq!(ids(&error_body(&v, Some(e.status))), expected);
    }
}

// ---------------------------------------------------------------------------------------
// 3. The sid-or-identity classifier and the path segment encoding
// ---------------------------------------------------------------------------------------

/// The model of a user SID: `US`, then exactly 32 ASCII hexadecimal digits.
fn is_user_sid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 34 && b.starts_with(b"US") && b[2..].iter().all(u8::is_ascii_hexdigit)
}

#[test]
fn classifier_edge_cases() {
    let hex32 = "0123456789abcdef0123456789ABCDEF";
    assert_eq!(classify(&format!("US{hex32}")), Lookup::Sid);
    for identity in [
        format!(" US{hex32}"),
        format!("US{hex32} "),
        format!("US{hex32}\n"),
        format!("uS{hex32}"),
        format!("Us{hex32}"),
        format!("US{}", "０".repeat(32)),
        format!("US{}", "٠".repeat(32)),
        format!("US{}é", &hex32[..30]),
        format!("US{}", &hex32.replace('a', "x")),
        format!("US-{}", &hex32[1..]),
        format!("%55%53{hex32}"),
        format!("MB{hex32}"),
        "US0x0123456789abcdef0123456789abcd".to_owned(),
    ] {
        assert_eq!(classify(&identity), Lookup::Identity, "{identity:?}");
    }
}

fn sid_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "(US|us|uS|Us|AC|IS)?[0-9a-fA-Fg ]{30,34}",
        "US[0-9a-fA-F]{32}",
        any::<String>(),
    ]
}

/// The documentation's reserved characters, with space, `+`, `%`, dots and non-ASCII.
fn reserved_string() -> impl Strategy<Value = String> {
    let mut alphabet: Vec<char> = identity::RESERVED.to_vec();
    alphabet.extend([
        ' ', '+', '%', '.', '~', 'a', 'é', 'ß', '中', '😀', '\\', '\t',
    ]);
    prop::collection::vec(prop::sample::select(alphabet), 0..12)
        .prop_map(|cs| cs.into_iter().collect())
}

fn segment_input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        reserved_string(),
        "[.]{1,3}",
        "%[0-9A-Fa-f]{2}[+ ]?",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn classifier_matches_the_model(s in sid_like()) {
        let expected = if is_user_sid(&s) { Lookup::Sid } else { Lookup::Identity };
        prop_assert_eq!(classify(&s), expected);
    }

    #[test]
    fn generated_user_sids_are_sids(s in sid(SidKind::User)) {
        prop_assert_eq!(classify(&s), Lookup::Sid);
        prop_assert_eq!(classify(&s.to_ascii_lowercase()), Lookup::Identity);
    }

    #[test]
    fn encoded_segments_round_trip_and_stay_one_segment(s in segment_input()) {
        let enc = encode_segment(&s);
        prop_assert_eq!(decode_segment(&enc), Some(s.clone()));
        let once = percent_encoding::percent_decode_str(&enc).decode_utf8();
        prop_assert_eq!(once.as_deref().ok(), Some(s.as_str()));
        for c in ['/', '?', '#', ' ', '+', '\\'] {
            prop_assert!(!enc.contains(c), "{:?} -> {:?}", s, enc);
        }
        prop_assert!(enc.is_ascii(), "{:?} -> {:?}", s, enc);

        // Dot-segments and the empty string cannot be one segment: see the test below.
        prop_assume!(identity::addressable(&s));
        let built = format!("https://conversations.twilio.com/v1/Users/{enc}");
        let parsed = url::Url::parse(&built).expect("a URL with an encoded segment parses");
        let segments: Vec<&str> = parsed.path_segments().expect("a base URL").collect();
        prop_assert_eq!(&segments, &["v1", "Users", enc.as_str()], "{:?}", s);
        prop_assert_eq!(parsed.query(), None);
        prop_assert_eq!(parsed.fragment(), None);
        prop_assert_eq!(decode_segment(segments[2]), Some(s));
    }
}

#[test]
fn dot_identities_cannot_travel_as_a_segment() {
    // "." and ".." are dot-segments for WHATWG URL parsers even percent-encoded (`%2E`,
    // `%2e`), and "" leaves the collection's path: `addressable` says so, and the encoder's
    // output indeed does not survive the parser.
    for (value, path) in [("", "/v1/Users/"), (".", "/v1/Users/"), ("..", "/v1/")] {
        assert!(!identity::addressable(value), "{value:?}");
        let enc = encode_segment(value);
        assert_eq!(decode_segment(&enc).as_deref(), Some(value));
        for raw in [enc.clone(), enc.to_ascii_lowercase()] {
            let parsed = url::Url::parse(&format!("https://h/v1/Users/{raw}")).expect("parses");
            assert_eq!(parsed.path(), path, "{value:?} as {raw:?}");
        }
    }
    assert!(identity::addressable("..."));
}

// ---------------------------------------------------------------------------------------
// 4. Every check id the code names is in the catalogue
// ---------------------------------------------------------------------------------------

const CHECK_SOURCES: [(&str, &str); 5] = [
    ("src/check/mod.rs", include_str!("../../src/check/mod.rs")),
    ("src/check/page.rs", include_str!("../../src/check/page.rs")),
    (
        "src/check/relations.rs",
        include_str!("../../src/check/relations.rs"),
    ),
    ("src/check/user.rs", include_str!("../../src/check/user.rs")),
    (
        "src/check/tests.rs",
        include_str!("../../src/check/tests.rs"),
    ),
];

#[test]
fn every_check_id_in_the_source_is_in_the_catalogue() {
    let re = regex::Regex::new(
        r#""((?:user|page|error|create|update|delete|fetch|read|lookup|webhook|service|auth|response)\.[a-z_.\-]+)""#,
    )
    .expect("the pattern compiles");
    let cat = spec::catalogue();
    let mut seen = BTreeSet::new();
    for (file, text) in CHECK_SOURCES {
        for cap in re.captures_iter(text) {
            let id = &cap[1];
            assert!(
                cat.check(id).is_some(),
                "`{id}` in {file} is not in specs/checks.json"
            );
            seen.insert(id.to_owned());
        }
    }
    assert_eq!(PROPS.to_vec(), spec::rules().user_properties);

    // The scan finds the literal ids; guard against a regex that quietly matches nothing.
    assert!(seen.len() >= 30, "only {} ids found: {seen:?}", seen.len());
    assert!(seen.contains("user.url.self") && seen.contains("page.meta.urls.base"));

    // The ids the code builds with `format!`, expanded.
    let mut built: Vec<String> = Vec::new();
    for op in Operation::ALL {
        built.push(format!("{op}.status"));
    }
    for doc in spec::schema::Doc::ALL {
        built.push(format!("{}.body.json", doc.check_root()));
    }
    for prop in ["is_online", "is_notifiable"] {
        for rule in ["read-null", "fetch-only", "unreachable-null"] {
            built.push(format!("user.{prop}.{rule}"));
        }
    }
    for key in [
        "url",
        "first_page_url",
        "previous_page_url",
        "next_page_url",
    ] {
        built.push(format!("page.meta.{key}.absolute"));
    }
    for id in built {
        assert!(
            cat.check(&id).is_some(),
            "built id `{id}` is not in specs/checks.json"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    /// Whatever a target answers, the checks report findings and never panic: arbitrary
    /// JSON, with and without the documented keys, under every operation and form.
    #[test]
    fn checks_never_panic_on_arbitrary_json(
        body in json_value(),
        keys in proptest::collection::vec(
            (proptest::sample::select(spec::rules().user_properties.clone()), json_value()),
            0..6,
        ),
        op in operation(),
        service in proptest::bool::ANY,
    ) {
        let mut user = Map::new();
        for (k, v) in keys {
            user.insert(k, v);
        }
        let user = Value::Object(user);
        let form = if service {
            UrlForm::Service(SidKind::Service.from_u128(7))
        } else {
            UrlForm::Shortened
        };
        let ctx = Context {
            operation: op,
            form: Some(form),
            base_url: Some("http://127.0.0.1:4010".into()),
            ..Context::default()
        };
        for v in [&body, &user] {
            let _ = convcheck::check::user_body(v, &ctx);
            let _ = convcheck::check::page_body(v, &ctx, None);
            let _ = convcheck::check::error_body(v, Some(404));
            let page = json!({"users": [v], "meta": v});
            let _ = convcheck::check::page_body(&page, &ctx, None);
        }
        // A body that is not an object is always reported, never passed.
        if !body.is_object() {
            prop_assert!(!convcheck::check::user_body(&body, &ctx).is_empty());
        }
    }
}
