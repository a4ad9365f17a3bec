//! How a stored user and a page of users look on the wire.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;

use super::faults::{Fault, Faults};
use super::store::{Inner, User};
use crate::spec::{UrlForm, rules};

/// A JSON answer with `Content-Type: application/json` (unless a fault says otherwise).
pub fn json_response(status: StatusCode, body: &Value, faults: &Faults) -> Response {
    json_text_response(status, body.to_string().into_bytes(), faults)
}

/// [`json_response`] for a body already serialized.
fn json_text_response(status: StatusCode, body: Vec<u8>, faults: &Faults) -> Response {
    let content_type = if faults.has(Fault::ContentTypeTextPlain) {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// ISO 8601 in UTC to the second, `2019-12-16T22:18:37Z`, or RFC 2822 under a fault.
pub fn date(secs: i64, faults: &Faults) -> String {
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let text = if faults.has(Fault::DatesRfc2822) {
        t.format(&Rfc2822)
    } else {
        t.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
    };
    text.unwrap_or_default()
}

/// Which operation a user is shown by: only Fetch may show reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Fetch.
    Fetch,
    /// Read.
    Read,
    /// Create, Update, and Delete (under a fault).
    Write,
}

/// What rendering needs beyond the user.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// `scheme://host:port` as the client reached the emulator.
    pub base: &'a str,
    /// The URL form of the request.
    pub form: &'a UrlForm,
    /// The caller's account.
    pub account_sid: &'a str,
    /// The default service's SID.
    pub default_service_sid: &'a str,
    /// Whether reachability is on.
    pub reachability: bool,
    /// Faults switched on.
    pub faults: &'a Faults,
}

impl Ctx<'_> {
    /// The user's `url`, following the request's URL form.
    pub fn user_url(&self, sid: &str) -> String {
        let form = if self.faults.has(Fault::UrlAlwaysShortened) {
            &UrlForm::Shortened
        } else {
            self.form
        };
        let path = form.item_path(sid);
        if self.faults.has(Fault::RelativeUrl) {
            path
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// The user resource: 13 keys in the documented order.
    pub fn user(&self, u: &User, view: View) -> Value {
        let f = self.faults;
        let url = self.user_url(&u.sid);
        let chat_service_sid =
            if f.has(Fault::ChatServiceDefault) && matches!(self.form, UrlForm::Service(_)) {
                self.default_service_sid.to_owned()
            } else if f.has(Fault::ShortenedWrongService) && *self.form == UrlForm::Shortened {
                other_sid(&u.service_sid)
            } else {
                u.service_sid.clone()
            };
        let chat_service_sid = if f.has(Fault::ServiceSidLowercase) {
            format!("is{}", &chat_service_sid[2..])
        } else {
            chat_service_sid
        };
        let role_sid = if f.has(Fault::RoleSidShort) {
            u.role_sid[..u.role_sid.len() - 1].to_owned()
        } else {
            u.role_sid.clone()
        };
        let account_sid = if f.has(Fault::AccountSidWrong) {
            other_sid(self.account_sid)
        } else {
            self.account_sid.to_owned()
        };
        let attributes = match (&u.attributes, f.has(Fault::AttributesDefaultNull)) {
            (Some(a), _) => Value::String(a.clone()),
            (None, true) => Value::Null,
            (None, false) => Value::String(rules().attributes_default.clone()),
        };
        let attributes = match attributes {
            Value::String(s) if f.has(Fault::AttributesObject) => {
                serde_json::from_str(&s).unwrap_or(Value::String(s))
            }
            other => other,
        };
        let friendly_name = match &u.friendly_name {
            Some(n) => Value::String(n.clone()),
            None if f.has(Fault::FriendlyNameEmpty) => Value::String(String::new()),
            None => Value::Null,
        };
        let reach = |v: Option<bool>| match view {
            View::Fetch if self.reachability => v.map_or(Value::Null, Value::Bool),
            _ => Value::Null,
        };
        let forced = |read: Fault, write: Option<Fault>, unreachable: Fault| match view {
            View::Read if f.has(read) => Some(Value::Bool(false)),
            View::Write if write.is_some_and(|w| f.has(w)) => Some(Value::Bool(false)),
            View::Fetch if !self.reachability && f.has(unreachable) => Some(Value::Bool(false)),
            _ => None,
        };
        let is_online = forced(
            Fault::OnlineInRead,
            Some(Fault::OnlineInWrite),
            Fault::OnlineWhenUnreachable,
        )
        .unwrap_or_else(|| reach(u.online));
        let is_notifiable = forced(
            Fault::NotifiableInRead,
            None,
            Fault::NotifiableWhenUnreachable,
        )
        .unwrap_or_else(|| reach(u.notifiable));
        let date_updated = if f.has(Fault::UpdatedBeforeCreated) {
            u.date_created.saturating_sub(86_400)
        } else {
            u.date_updated
        };
        let link_suffix = if f.has(Fault::LinksWrong) {
            "/Channels"
        } else {
            rules()
                .links
                .get("user_conversations")
                .map_or("/Conversations", String::as_str)
        };
        let mut m = Map::new();
        m.insert("sid".into(), json!(u.sid));
        m.insert("account_sid".into(), json!(account_sid));
        m.insert("chat_service_sid".into(), json!(chat_service_sid));
        m.insert("role_sid".into(), json!(role_sid));
        m.insert("identity".into(), json!(u.identity));
        m.insert("friendly_name".into(), friendly_name);
        m.insert("attributes".into(), attributes);
        m.insert("is_online".into(), is_online);
        if !f.has(Fault::NotifiableMissing) {
            m.insert("is_notifiable".into(), is_notifiable);
        }
        m.insert("date_created".into(), json!(date(u.date_created, f)));
        m.insert("date_updated".into(), json!(date(date_updated, f)));
        m.insert("url".into(), json!(url));
        m.insert(
            "links".into(),
            json!({ "user_conversations": format!("{url}{link_suffix}") }),
        );
        Value::Object(m)
    }
}

impl Ctx<'_> {
    /// The users `seqs` of the service stored under `key` as a page shows them (Read), in
    /// order, to hand to [`page_response`] once the store is let go. Each is the text
    /// [`Ctx::user`] makes of it, kept in the store until the user changes (see
    /// `ServiceUsers::rendered`), so serving a page again costs copying its users rather than
    /// building and serializing 50 JSON trees.
    pub fn page_users(&self, inner: &mut Inner, key: &str, seqs: &[u64]) -> Vec<Arc<str>> {
        // Everything besides the user that a Read view depends on: the rest of `Ctx` is the
        // same for every request an emulator serves.
        let shown = format!("{} {}", self.base, self.form.collection_path());
        match inner.service_mut(key) {
            Some(users) => users.rendered(seqs, &shown, |u| self.user(u, View::Read).to_string()),
            None => Vec::new(),
        }
    }
}

/// A page, `{"<key>": [users…], "meta": {…}}`, written straight into one buffer: the same
/// bytes `json_response` gives for that object, without building it.
pub fn page_response(users: &[Arc<str>], meta: &Value, faults: &Faults) -> Response {
    let size = users.iter().map(|u| u.len() + 1).sum::<usize>() + 1024;
    let mut body = Vec::with_capacity(size);
    body.push(b'{');
    write_json(&mut body, &rules().pagination.key);
    body.extend_from_slice(b":[");
    for (i, user) in users.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(user.as_bytes());
    }
    body.extend_from_slice(b"],\"meta\":");
    write_json(&mut body, meta);
    body.push(b'}');
    json_text_response(StatusCode::OK, body, faults)
}

/// Appends `value` as compact JSON, as `Value::to_string` writes it.
fn write_json(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    // Writing JSON into a Vec fails only for values JSON cannot hold, which these are not.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Another SID of the same kind: the same digits with the last one changed.
fn other_sid(sid: &str) -> String {
    let mut other = sid[..sid.len() - 1].to_owned();
    other.push(if sid.ends_with('0') { '1' } else { '0' });
    other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_written_as_json_response_would_write_it() {
        let mut inner = Inner::default();
        for (seq, name) in [(1, None), (2, Some("Jürgen \"J\" <x>"))] {
            let user = User {
                seq,
                sid: format!("US{seq:032x}"),
                service_sid: "IS00000000000000000000000000000001".into(),
                role_sid: "RL00000000000000000000000000000011".into(),
                identity: Some(format!("u{seq}/é")),
                friendly_name: name.map(str::to_owned),
                attributes: Some(r#"{"a":[1,"\u00e9"]}"#.into()),
                online: None,
                notifiable: None,
                date_created: 1_576_534_717,
                date_updated: 1_576_534_718,
            };
            inner.create("k", user).unwrap();
        }
        let faults = Faults::default();
        let ctx = Ctx {
            base: "http://127.0.0.1:1",
            form: &UrlForm::Shortened,
            account_sid: "ACc0ffee00c0ffee00c0ffee00c0ffee00",
            default_service_sid: "IS00000000000000000000000000000001",
            reachability: false,
            faults: &faults,
        };
        let meta = json!({ "page": 0, "next_page_url": null, "key": "users" });
        let expected = {
            let users = inner.service("k").unwrap();
            let list: Vec<Value> = [2, 1, 2]
                .iter()
                .map(|s| ctx.user(users.get(*s).unwrap(), View::Read))
                .collect();
            let mut body = Map::new();
            body.insert(rules().pagination.key.clone(), list.into());
            body.insert("meta".into(), meta.clone());
            Value::Object(body).to_string()
        };
        // Twice: the second page is written from the kept texts.
        for _ in 0..2 {
            let users = ctx.page_users(&mut inner, "k", &[2, 1, 2]);
            let response = page_response(&users, &meta, &faults);
            let bytes = body_bytes(response);
            assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        }
    }

    fn body_bytes(response: Response) -> Vec<u8> {
        let body = response.into_body();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(axum::body::to_bytes(body, usize::MAX))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn dates_are_iso_to_the_second() {
        let f = Faults::default();
        assert_eq!(date(1_576_534_717, &f), "2019-12-16T22:18:37Z");
        let rfc: Faults = [Fault::DatesRfc2822].into_iter().collect();
        assert_eq!(date(1_576_534_717, &rfc), "Mon, 16 Dec 2019 22:18:37 +0000");
    }
}
