//! The case registry: what a contract case is (its kind, the URL forms it runs on, its
//! script) and how its id and forms follow from a plan. The cases themselves live in
//! the suite module, which depends on the runner and never the other way round.

use std::future::Future;
use std::pin::Pin;

use super::{CaseRun, Plan, Step};
use crate::spec::UrlForm;

/// The kind tag of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Create.
    Create,
    /// Fetch.
    Fetch,
    /// Read.
    Read,
    /// Update.
    Update,
    /// Delete.
    Delete,
    /// Lookup by sid or identity.
    Lookup,
    /// Walking pages.
    Pagination,
    /// Requests that must be refused.
    Errors,
    /// Authentication.
    Auth,
    /// Conversation Services.
    Service,
    /// Input domains drawn by proptest.
    Generated,
    /// Model-based sequences.
    Stateful,
    /// Traffic recorded by `convcheck proxy`, replayed.
    Proxy,
}

impl Kind {
    /// The tag as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Fetch => "fetch",
            Kind::Read => "read",
            Kind::Update => "update",
            Kind::Delete => "delete",
            Kind::Lookup => "lookup",
            Kind::Pagination => "pagination",
            Kind::Errors => "errors",
            Kind::Auth => "auth",
            Kind::Service => "service",
            Kind::Generated => "generated",
            Kind::Stateful => "stateful",
            Kind::Proxy => "proxy",
        }
    }
}

/// Which URL forms a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Once per URL form in play.
    EachForm,
    /// Once, on the first form in play; its requests do not depend on that form.
    Once,
    /// Once, on the first form in play, whose requests it uses: its id names the form, so
    /// that a run with `--only-service` is not judged against the other form's recording.
    FirstForm,
    /// Once, when a second service is in play.
    TwoServices,
}

/// The future a case returns.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Step<()>> + Send + 'a>>;

/// A case: its name, kind, whether it writes, and its script.
#[derive(Clone)]
pub struct CaseDef {
    /// Name within its kind, such as `minimal`.
    pub name: &'static str,
    /// Kind tag.
    pub kind: Kind,
    /// Which forms it runs on.
    pub scope: Scope,
    /// Whether it creates, changes or deletes users.
    pub writes: bool,
    /// What it verifies, in a sentence.
    pub about: &'static str,
    /// The script.
    pub run: for<'a> fn(&'a mut CaseRun) -> CaseFuture<'a>,
}

impl std::fmt::Debug for CaseDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl CaseDef {
    /// The case id on a form: `kind::name::form` (the form left out for `Once` cases).
    pub fn id(&self, form: &UrlForm) -> String {
        match self.scope {
            Scope::EachForm | Scope::FirstForm => {
                format!("{}::{}::{}", self.kind.as_str(), self.name, form.label())
            }
            _ => format!("{}::{}", self.kind.as_str(), self.name),
        }
    }

    /// The forms this case runs on under a plan.
    pub fn forms(&self, plan: &Plan) -> Vec<UrlForm> {
        // `--generate 0` leaves the generated cases out.
        if matches!(self.kind, Kind::Generated | Kind::Stateful) && plan.generation.sequences == 0 {
            return Vec::new();
        }
        match self.scope {
            Scope::EachForm => plan.forms.clone(),
            Scope::Once | Scope::FirstForm => plan.forms.first().cloned().into_iter().collect(),
            Scope::TwoServices => {
                let both = plan.service_sid.is_some()
                    && plan.forms.contains(&UrlForm::Shortened)
                    && plan.forms.iter().any(|f| matches!(f, UrlForm::Service(_)));
                if both {
                    vec![UrlForm::Shortened]
                } else {
                    Vec::new()
                }
            }
        }
    }
}
