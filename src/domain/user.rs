//! User accounts.

use std::collections::BTreeSet;
use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{DisplayName, Email, StoredPasswordHash};

/// A user's id: a UUID v7, so ids sort by creation time (used by cursor pagination later).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
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

/// A platform role. Held only server-side; tokens carry a copy taken when they are issued.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every account.
    User,
    /// Platform administrator.
    Admin,
}

impl Role {
    /// The stored and published name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::User, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == raw)
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
    /// Always contains [`Role::User`].
    pub roles: BTreeSet<Role>,
    /// A disabled account cannot sign in.
    pub is_active: bool,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// When the account last changed.
    pub updated_at: OffsetDateTime,
}
