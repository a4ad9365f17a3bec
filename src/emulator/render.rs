//! How a stored user and a page of users look on the wire.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;

use super::faults::{Fault, Faults};
use super::store::User;
use crate::spec::{UrlForm, rules};

/// A JSON answer with `Content-Type: application/json` (unless a fault says otherwise).
pub fn json_response(status: StatusCode, body: &Value, faults: &Faults) -> Response {
    let content_type = if faults.has(Fault::ContentTypeTextPlain) {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    let mut response = Response::new(Body::from(body.to_string()));
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
    fn dates_are_iso_to_the_second() {
        let f = Faults::default();
        assert_eq!(date(1_576_534_717, &f), "2019-12-16T22:18:37Z");
        let rfc: Faults = [Fault::DatesRfc2822].into_iter().collect();
        assert_eq!(date(1_576_534_717, &rfc), "Mon, 16 Dec 2019 22:18:37 +0000");
    }
}
