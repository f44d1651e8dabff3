//! Browser sign-in sessions.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{TokenHash, UserId};

/// A session's id (the cookie carries a separate secret, never this id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Uuid);

impl SessionId {
    /// A new random id.
    #[must_use]
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps an id read from storage.
    #[must_use]
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID.
    #[must_use]
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// A server-side session. Only the SHA-256 of the cookie value is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Primary key.
    pub id: SessionId,
    /// Digest of the cookie secret.
    pub token_hash: TokenHash,
    /// Who signed in.
    pub user_id: UserId,
    /// When they signed in.
    pub created_at: OffsetDateTime,
    /// The session is dead from this instant on.
    pub expires_at: OffsetDateTime,
}

impl Session {
    /// Whether the session may still be used at `now`.
    #[must_use]
    pub fn is_live_at(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}
