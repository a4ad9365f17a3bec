//! What the model holds: the views a run reaches its collections through, every user it
//! named, and where each of their values came from.

use serde_json::Value;

use crate::domain;
use crate::json::Json;
use crate::spec::UrlForm;

/// Where a field's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The documented default.
    Default,
    /// Set by the create.
    Create,
    /// Set by an update.
    Update,
    /// Unknown (an invalid value the target accepted): not compared.
    Unknown,
}

/// A field the model knows, and where its value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// Who set it.
    pub origin: Origin,
}

impl<T> Field<T> {
    fn default_of(value: T) -> Field<T> {
        Field {
            value,
            origin: Origin::Default,
        }
    }
}

/// Whether a user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Not created (yet, or the target refused a value the documentation leaves open).
    Absent,
    /// Created and not deleted.
    Alive,
    /// Deleted.
    Deleted,
}

/// How a request names a user in its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// By its sid.
    Sid,
    /// By its identity.
    Identity,
}

/// A user the run named.
#[derive(Debug, Clone)]
pub struct User {
    /// The view it was created through (an index into [`super::Model::views`]).
    pub view: usize,
    /// The part of its identity after the namespace.
    pub tail: String,
    /// Its identity.
    pub identity: String,
    /// Its sid, once the target named it.
    pub sid: Option<String>,
    /// Whether it exists.
    pub life: Life,
    /// `friendly_name` (None is null).
    pub friendly_name: Field<Option<String>>,
    /// `attributes`, as the JSON value sent (numbers as written).
    pub attributes: Field<Json>,
    /// `role_sid`, once known.
    pub role_sid: Field<Option<String>>,
    /// The last answer that showed it, for the update checks.
    pub last: Option<Value>,
}

/// The parameters of a create or an update as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sent {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Attributes`: the text sent and the value it holds.
    pub attributes: Option<(String, Json)>,
    /// `RoleSid`.
    pub role_sid: Option<String>,
}

impl Sent {
    /// The form parameters, in the order they are sent.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(f) = &self.friendly_name {
            out.push(("FriendlyName", f.clone()));
        }
        if let Some((text, _)) = &self.attributes {
            out.push(("Attributes", text.clone()));
        }
        if let Some(r) = &self.role_sid {
            out.push(("RoleSid", r.clone()));
        }
        out
    }

    /// Whether nothing is sent.
    pub fn is_empty(&self) -> bool {
        self.friendly_name.is_none() && self.attributes.is_none() && self.role_sid.is_none()
    }

    /// Whether the documentation leaves open if a server accepts these values: outside the
    /// plain domain, a refusal with Twilio's error body is as right as a faithful round trip.
    pub fn arguable(&self) -> bool {
        self.friendly_name
            .as_deref()
            .is_some_and(|f| !f.is_empty() && !domain::is_plain(f))
            || self
                .attributes
                .as_ref()
                .is_some_and(|(text, v)| text.len() > 4096 || v.depth() > 5 || !v.plain())
    }
}

/// A way to reach a collection: a URL form, and the service behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The URL form.
    pub form: UrlForm,
    /// The service behind it: views with the same key show the same users.
    pub key: String,
    /// Whether it is another way to a collection that an earlier view reaches (the
    /// default service's own form, beside the shortened one).
    pub alias: bool,
}

impl View {
    /// What coverage and messages call it: `shortened`, `service`, or `service-default` for
    /// the default service's own form.
    pub fn label(&self) -> &'static str {
        match (&self.form, self.alias) {
            (UrlForm::Shortened, _) => "shortened",
            (UrlForm::Service(_), true) => "service-default",
            (UrlForm::Service(_), false) => "service",
        }
    }
}

/// The views of a run: its URL forms, then, when the default service is known and no form
/// names it already, the default service's own form as an alias of the shortened one.
pub fn views(forms: &[UrlForm], default_service: Option<&str>) -> Vec<View> {
    let key = |f: &UrlForm| match f {
        UrlForm::Shortened => default_service.unwrap_or("(default)").to_owned(),
        UrlForm::Service(s) => s.clone(),
    };
    let mut out: Vec<View> = Vec::new();
    for f in forms {
        let k = key(f);
        let alias = out.iter().any(|v| v.key == k);
        out.push(View {
            form: f.clone(),
            key: k,
            alias,
        });
    }
    if let Some(d) = default_service
        && forms.contains(&UrlForm::Shortened)
        && !forms.contains(&UrlForm::Service(d.to_owned()))
    {
        out.push(View {
            form: UrlForm::Service(d.to_owned()),
            key: d.to_owned(),
            alias: true,
        });
    }
    out
}

impl User {
    /// A user not created yet.
    pub fn new(view: usize, namespace: &str, tail: String) -> User {
        User {
            view,
            identity: format!("{namespace}{tail}"),
            tail,
            sid: None,
            life: Life::Absent,
            friendly_name: Field::default_of(None),
            attributes: Field::default_of(Json::empty_object()),
            role_sid: Field::default_of(None),
            last: None,
        }
    }
}
