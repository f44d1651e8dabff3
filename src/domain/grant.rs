//! What the authorization server hands out and must remember: authorization codes, refresh
//! tokens, and the access tokens issued with them (so they can be revoked together).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{ClientId, CodeChallenge, Scope, TokenHash, UserId};

/// An access token's id (`jti`) and expiry: enough to deny-list it until it dies anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedAccess {
    /// The token's `jti`.
    pub jti: Uuid,
    /// Its `exp`.
    pub expires_at: OffsetDateTime,
}

/// What a code exchange will issue, decided before the code is consumed so the consume can
/// record it in the same atomic step (a replay then knows what to revoke).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeIssue {
    /// The access token.
    pub access: IssuedAccess,
    /// The refresh-token family, when the client gets refresh tokens.
    pub family_id: Option<Uuid>,
}

/// An authorization code. Only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// Digest of the code.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user who approved it.
    pub user_id: UserId,
    /// The redirect URI of the authorization request (the token request must repeat it).
    pub redirect_uri: String,
    /// Granted scope.
    pub scope: Scope,
    /// PKCE S256 challenge.
    pub challenge: CodeChallenge,
    /// Issued at.
    pub created_at: OffsetDateTime,
    /// Dead from this instant on.
    pub expires_at: OffsetDateTime,
    /// Set once, atomically, by the first exchange.
    pub consumed_at: Option<OffsetDateTime>,
    /// What the first exchange issued (set with `consumed_at`).
    pub issued: Option<CodeIssue>,
}

/// A refresh token. Only its SHA-256 is stored. Rotation marks it used and issues a new one
/// in the same family; presenting a used one revokes the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// Digest of the token.
    pub hash: TokenHash,
    /// Every token rotated from one code exchange shares this id.
    pub family_id: Uuid,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user it acts for.
    pub user_id: UserId,
    /// Granted scope (rotation may narrow it, never widen it).
    pub scope: Scope,
    /// Issued at; the idle timeout counts from here.
    pub created_at: OffsetDateTime,
    /// The family's absolute end (first issue + `REFRESH_TOKEN_TTL_SECS`).
    pub family_expires_at: OffsetDateTime,
    /// When it was rotated (its only use).
    pub used_at: Option<OffsetDateTime>,
    /// When it (or its family) was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// The access token issued together with it.
    pub access: IssuedAccess,
}

impl RefreshToken {
    /// Whether it may still be rotated at `now`, given the idle timeout.
    #[must_use]
    pub fn is_live_at(&self, now: OffsetDateTime, idle: time::Duration) -> bool {
        self.used_at.is_none()
            && self.revoked_at.is_none()
            && now < self.family_expires_at
            && now < self.created_at + idle
    }
}
