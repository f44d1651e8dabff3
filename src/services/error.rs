//! The service layer's error, in domain terms. `api::error` maps it to HTTP in one place.

use super::{Forbidden, Throttled};
use crate::domain::{Invalid, RandomnessUnavailable};
use crate::repos::RepoError;

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client-supplied value breaks a domain rule (422).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The email belongs to another account (409).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email, wrong password or disabled account: deliberately indistinguishable (401).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Self-service sign-up is switched off (403).
    #[error("registration is disabled")]
    RegistrationDisabled,
    /// The verified caller may not do this (403).
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The request conflicts with the current state (409); the text is for the client.
    #[error("{0}")]
    Conflict(&'static str),
    /// A brute-force limit refused the request (429).
    #[error("too many attempts")]
    Throttled(Throttled),
    /// The target does not exist (404; only said to callers allowed to know).
    #[error("no such resource")]
    NotFound,
    /// Too many sign-ins are waiting for password hashing already (503, retry in a second).
    #[error("too many sign-ins in progress")]
    Overloaded,
    /// A backing store is unreachable; the request may succeed later (503).
    #[error("a backing store is unavailable: {0}")]
    Unavailable(String),
    /// A defect or broken invariant (500); the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result of a service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<RepoError> for Error {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::Unavailable(detail) => Self::Unavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<RandomnessUnavailable> for Error {
    fn from(err: RandomnessUnavailable) -> Self {
        Self::Internal(err.to_string())
    }
}
