//! Access tokens: RFC 9068 JWTs signed with ES256, and the one verifier every
//! bearer-protected route and introspection use.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::keys::KeySet;
use super::{Error, Result};
use crate::clock::Clock;
use crate::domain::{ClientId, IssuedAccess, Role, Scope, UserId};
use crate::repos::DenylistRepo;

/// Who a token acts for. A client acting for itself gets `sub = "client:<id>"`, which can never
/// equal a user id (a UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A signed-in user.
    User(UserId),
    /// A client using `client_credentials`.
    Client(ClientId),
}

impl Subject {
    fn claim(&self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::Client(id) => format!("client:{id}"),
        }
    }
}

/// The claims of an access token (RFC 9068 §2.2 plus `scope`, `client_id` and `roles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// User id, or `client:<client_id>`.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id (the deny-list key).
    pub jti: Uuid,
    /// The client it was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The user's roles when the token was issued (empty for clients).
    pub roles: Vec<String>,
}

impl AccessClaims {
    /// The user this token acts for, `None` for a client's own token.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        Uuid::parse_str(&self.sub).ok().map(UserId::from_uuid)
    }

    /// The `jti` and `exp` pair, for the deny-list.
    #[must_use]
    pub fn issued(&self) -> IssuedAccess {
        IssuedAccess {
            jti: self.jti,
            expires_at: OffsetDateTime::from_unix_timestamp(self.exp)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }
}

/// Why a presented token was not accepted. Deliberately coarse: the client learns only
/// `invalid_token`; the reason is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Malformed, wrong algorithm or type, unknown key, bad signature, wrong issuer/audience.
    #[error("invalid token")]
    Invalid,
    /// Past `exp` (plus leeway) or before `nbf` (minus leeway).
    #[error("token expired or not yet valid")]
    Expired,
    /// Revoked before its expiry.
    #[error("token revoked")]
    Revoked,
}

/// Issues and verifies access tokens.
pub struct AccessTokenService {
    keys: KeySet,
    issuer: String,
    audience: String,
    ttl: Duration,
    skew: Duration,
    clock: Arc<dyn Clock>,
    denylist: Arc<dyn DenylistRepo>,
}

/// Settings for [`AccessTokenService::new`].
pub struct AccessTokenSettings {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Lifetime.
    pub ttl: Duration,
    /// Leeway on `exp`/`nbf`.
    pub skew: Duration,
}

impl AccessTokenService {
    /// A service signing with `keys`.
    #[must_use]
    pub fn new(
        keys: KeySet,
        settings: AccessTokenSettings,
        clock: Arc<dyn Clock>,
        denylist: Arc<dyn DenylistRepo>,
    ) -> Self {
        Self {
            keys,
            issuer: settings.issuer,
            audience: settings.audience,
            ttl: settings.ttl,
            skew: settings.skew,
            clock,
            denylist,
        }
    }

    /// The JWKS document.
    #[must_use]
    pub fn jwks(&self) -> &serde_json::Value {
        self.keys.jwks()
    }

    /// Token lifetime in seconds (`expires_in`).
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new token id and expiry, decided before the token is signed so that a code can
    /// record them when it is consumed.
    #[must_use]
    pub fn reserve(&self, now: OffsetDateTime) -> IssuedAccess {
        IssuedAccess {
            jti: Uuid::new_v4(),
            expires_at: now + self.ttl,
        }
    }

    /// Signs the token reserved as `access` (issued at `expires_at - ttl`).
    ///
    /// # Errors
    /// `Internal` if signing fails.
    pub fn sign(
        &self,
        access: IssuedAccess,
        subject: &Subject,
        client_id: &ClientId,
        scope: &Scope,
        roles: &[Role],
    ) -> Result<String> {
        let issued_at = (access.expires_at - self.ttl).unix_timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.claim(),
            aud: self.audience.clone(),
            exp: access.expires_at.unix_timestamp(),
            iat: issued_at,
            nbf: issued_at,
            jti: access.jti,
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| Error::Internal(format!("encoding access-token claims failed: {e}")))?;
        self.keys
            .sign_jws(&payload)
            .map_err(|e| Error::Internal(format!("signing an access token failed: {e}")))
    }

    /// Checks signature and claims, without the deny-list (for revocation, where a revoked
    /// token is simply nothing more to do).
    ///
    /// # Errors
    /// [`TokenRejection`] saying why the token is not acceptable.
    pub fn decode(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        let payload = self.keys.verify_jws(token).ok_or(TokenRejection::Invalid)?;
        // Every claim is required by the type (a missing `exp`, `nbf`, `iss`, `aud` or `sub`
        // fails here), and `aud` must be the one string we issue.
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenRejection::Invalid)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(TokenRejection::Invalid);
        }
        let now = self.clock.now().unix_timestamp();
        let skew = self.skew.whole_seconds();
        if now >= claims.exp + skew || now + skew < claims.nbf {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }

    /// The full check every bearer-protected route uses: [`Self::decode`] plus the deny-list.
    ///
    /// # Errors
    /// `Ok(Err(_))` for a token that is not acceptable; `Err(_)` when the deny-list cannot be
    /// read (the caller answers 503, never "valid").
    pub async fn verify(&self, token: &str) -> Result<Result<AccessClaims, TokenRejection>> {
        let claims = match self.decode(token) {
            Ok(claims) => claims,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if self.denylist.is_denied(claims.jti).await? {
            return Ok(Err(TokenRejection::Revoked));
        }
        Ok(Ok(claims))
    }

    /// Deny-lists a presented token if it is one of ours and still valid (logout); anything
    /// else is ignored.
    ///
    /// # Errors
    /// A store failure.
    pub async fn revoke_presented(&self, token: &str) -> Result<()> {
        match self.decode(token) {
            Ok(claims) => self.revoke(&[claims.issued()]).await,
            Err(_) => Ok(()),
        }
    }

    /// Revokes a token until its expiry.
    ///
    /// # Errors
    /// A store failure.
    pub async fn revoke(&self, tokens: &[IssuedAccess]) -> Result<()> {
        let now = self.clock.now();
        let live: Vec<IssuedAccess> = tokens
            .iter()
            .filter(|t| t.expires_at + self.skew > now)
            .copied()
            .collect();
        Ok(self.denylist.deny(&live).await?)
    }
}
