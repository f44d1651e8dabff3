//! Storage. One small trait per aggregate, with an in-memory and a Postgres implementation
//! that the shared conformance suite holds to the same behaviour.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Email, Session, StoredPasswordHash, TokenHash, User, UserId};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod memory;
pub mod postgres;

/// The unique constraint on users' normalised email (same name in both implementations).
pub const USER_EMAIL_UNIQUE: &str = "app_user_email_key";

/// What can go wrong in a repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` is one of the constants above.
    #[error("conflict on {constraint}")]
    Conflict {
        /// Which constraint.
        constraint: &'static str,
    },
    /// The store cannot be reached right now; retrying later may work (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a broken schema (500).
    #[error("unexpected store error: {0}")]
    Unexpected(String),
}

/// Result of a repository call.
pub type Result<T, E = RepoError> = std::result::Result<T, E>;

/// User accounts.
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// `Conflict { constraint: USER_EMAIL_UNIQUE }` when the email is taken.
    async fn insert(&self, user: &User) -> Result<()>;

    /// The user with this normalised email.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>>;

    /// The user with this id.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>>;

    /// Replaces the password hash (used by transparent rehashing).
    ///
    /// # Errors
    /// `NotFound` when there is no such user.
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &StoredPasswordHash,
        now: OffsetDateTime,
    ) -> Result<()>;
}

/// Browser sessions, keyed by the digest of their cookie secret.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session.
    async fn insert(&self, session: &Session) -> Result<()>;

    /// The session with this digest, if it has not expired at `now`.
    async fn find_live(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<Option<Session>>;

    /// Ends one session; `false` when there was none.
    async fn delete(&self, hash: &TokenHash) -> Result<bool>;

    /// Ends every session of a user; returns how many there were.
    async fn delete_for_user(&self, user_id: UserId) -> Result<u64>;

    /// Removes at most `limit` sessions that expired before `now`; returns how many.
    async fn delete_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64>;
}

/// Reachability of the backing database, for `/health` and `/ready`.
#[async_trait]
pub trait DatabaseProbe: Send + Sync {
    /// `Ok` when a trivial query succeeds within a short timeout.
    async fn ping(&self) -> Result<()>;
}

/// Every repository the services need, behind trait objects.
#[derive(Clone)]
pub struct Repos {
    /// User accounts.
    pub users: Arc<dyn UserRepo>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionRepo>,
    /// `None` when no database is configured (in-memory storage).
    pub database: Option<Arc<dyn DatabaseProbe>>,
}
