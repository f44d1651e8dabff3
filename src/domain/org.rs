//! Organizations (tenants), their members and org-level roles.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Invalid, UserId};

/// An organization's id (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct OrgId(Uuid);

impl OrgId {
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

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A member's role in one organization.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Full control, including granting `owner` and `admin`. Every org keeps at least one.
    Owner,
    /// Manages members (adds and removes plain members).
    Admin,
    /// Sees the org and its members.
    Member,
}

impl OrgRole {
    /// The stored and published name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Owner, Self::Admin, Self::Member]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }

    /// `owner` and `admin`: the roles only an owner may grant or take away.
    #[must_use]
    pub fn is_privileged(self) -> bool {
        self != Self::Member
    }
}

/// Whether an organization is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrgStatus {
    /// In use.
    Active,
    /// Kept but not in use.
    Suspended,
}

impl OrgStatus {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Active, Self::Suspended]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A URL-safe unique handle: 3 to 63 of `a-z`, `0-9` and inner `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Validates `raw` (trimmed, lower-cased first).
    ///
    /// # Errors
    /// [`Invalid`] when it is not 3–63 characters of `a-z0-9-` without a leading or trailing
    /// `-`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let slug = raw.trim().to_ascii_lowercase();
        let ok = (3..=63).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if ok {
            Ok(Self(slug))
        } else {
            Err(Invalid::new(
                "slug",
                "must be 3-63 characters of a-z, 0-9 and inner hyphens",
            ))
        }
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The slug.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Primary key.
    pub id: OrgId,
    /// Display name.
    pub name: super::DisplayName,
    /// Unique handle.
    pub slug: Slug,
    /// In use or not.
    pub status: OrgStatus,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub org_id: OrgId,
    /// The member.
    pub user_id: UserId,
    /// Their role there.
    pub role: OrgRole,
    /// When they joined.
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(Slug::parse(" Acme-42 ").unwrap().as_str(), "acme-42");
        for bad in ["ab", "-acme", "acme-", "ac me", "acmé", &"a".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }
}
