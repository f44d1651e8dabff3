//! Domain types: validated values built with `parse`, and the records the repositories store.

mod email;
mod name;
mod password;
mod session;
mod token;
mod user;

pub use email::Email;
pub use name::DisplayName;
pub use password::{Password, StoredPasswordHash};
pub use session::{Session, SessionId};
pub use token::{OpaqueToken, RandomnessUnavailable, TokenHash};
pub use user::{User, UserId};

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
