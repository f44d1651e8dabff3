//! User accounts.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{DisplayName, Email, StoredPasswordHash};

/// A user's id: a UUID v7, so ids sort by creation time (used by cursor pagination later).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    /// A new, time-ordered id.
    #[must_use]
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an id read from storage or a URL.
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

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Normalised, unique regardless of case.
    pub email: Email,
    /// Shown to people.
    pub name: DisplayName,
    /// Argon2id PHC string.
    pub password_hash: StoredPasswordHash,
    /// A disabled account cannot sign in.
    pub is_active: bool,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// When the account last changed.
    pub updated_at: OffsetDateTime,
}
