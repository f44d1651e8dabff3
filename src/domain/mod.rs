//! Domain types: validated values built with `parse`, and the records the repositories store.

mod client;
mod email;
mod grant;
mod name;
mod org;
mod password;
mod pkce;
mod scope;
mod session;
mod token;
mod user;

pub use client::{
    AuthMethod, Client, ClientId, GrantType, InvalidRedirectUri, redirect_uri_matches,
    validate_redirect_uri,
};
pub use email::Email;
pub use grant::{AuthorizationCode, CodeIssue, IssuedAccess, RefreshToken};
pub use name::DisplayName;
pub use org::{Membership, OrgId, OrgRole, OrgStatus, Organization, Slug};
pub use password::{Password, StoredPasswordHash};
pub use pkce::{CodeChallenge, MalformedChallenge, MalformedVerifier};
pub use scope::{DEFAULT_CLIENT_SCOPE, SUPPORTED_SCOPES, Scope, UnknownScope};
pub use session::{Session, SessionId};
pub use token::{OpaqueToken, RandomnessUnavailable, TokenHash};
pub use user::{Role, User, UserId};

/// A client-supplied value that breaks a rule of the domain (answered with 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The request field at fault.
    pub field: &'static str,
    /// What is wrong with it, safe to show to the client (it never repeats the value).
    pub reason: &'static str,
}

impl Invalid {
    pub(crate) const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}
