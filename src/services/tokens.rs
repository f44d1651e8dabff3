//! `POST /oauth/token`, `/oauth/revoke` and `/oauth/introspect`.
//!
//! Every grant reads the clock once and decides with that instant. Failure paths that must
//! still change state do so before answering: a replayed code revokes what it issued, a reused
//! refresh token revokes its family, a failed exchange of a valid code still consumes it.

use std::sync::Arc;

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::access_tokens::{AccessClaims, AccessTokenService, Subject};
use super::oauth_error::OAuthError;
use crate::clock::Clock;
use crate::domain::{
    AuthMethod, Client, CodeChallenge, CodeIssue, GrantType, OpaqueToken, RefreshToken, Role,
    Scope, TokenHash,
};
use crate::metrics::Metrics;
use crate::repos::{
    AuthCodeRepo, CodeConsumption, Exchange, RefreshTokenRepo, Rotation, RotationOutcome, UserRepo,
    UserStanding,
};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A new refresh token, when the client gets them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scope.
    pub scope: String,
}

/// An RFC 7662 introspection response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    /// Whether the token is live.
    pub active: bool,
    /// The remaining members, present only when active.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = IntrospectionDetails)]
    pub details: Option<IntrospectionDetails>,
}

/// Members of an active token's introspection (absent when `active` is false).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IntrospectionDetails {
    /// Granted scope.
    #[schema(required = false)]
    pub scope: String,
    /// The client it was issued to.
    #[schema(required = false)]
    pub client_id: String,
    /// User id or `client:<id>`.
    #[schema(required = false)]
    pub sub: String,
    /// Expiry.
    #[schema(required = false)]
    pub exp: i64,
    /// Issued at.
    #[schema(required = false)]
    pub iat: i64,
    /// Issuer.
    #[schema(required = false)]
    pub iss: String,
    /// Audience: the configured one for access tokens, the issuer for refresh tokens.
    #[schema(required = false)]
    pub aud: String,
    /// `Bearer` or `refresh_token`.
    #[schema(value_type = String)]
    #[schema(required = false)]
    pub token_type: &'static str,
}

/// Lifetimes of refresh tokens.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Absolute lifetime of a family.
    pub ttl: Duration,
    /// A token unused this long expires.
    pub idle: Duration,
}

/// Runs the grants, revocation and introspection.
pub struct TokenService {
    access: Arc<AccessTokenService>,
    users: Arc<dyn UserRepo>,
    codes: Arc<dyn AuthCodeRepo>,
    refresh_tokens: Arc<dyn RefreshTokenRepo>,
    clock: Arc<dyn Clock>,
    refresh: RefreshPolicy,
    issuer: String,
    metrics: Arc<Metrics>,
}

type Result<T> = std::result::Result<T, OAuthError>;

impl TokenService {
    /// A service over these collaborators.
    #[must_use]
    pub fn new(
        access: Arc<AccessTokenService>,
        users: Arc<dyn UserRepo>,
        codes: Arc<dyn AuthCodeRepo>,
        refresh_tokens: Arc<dyn RefreshTokenRepo>,
        clock: Arc<dyn Clock>,
        refresh: RefreshPolicy,
        issuer: String,
    ) -> Self {
        Self {
            access,
            users,
            codes,
            refresh_tokens,
            clock,
            refresh,
            issuer,
            metrics: Arc::default(),
        }
    }

    /// Counts refresh-token reuse in `metrics`.
    #[must_use]
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        Self { metrics, ..self }
    }

    /// `grant_type=authorization_code`.
    ///
    /// # Errors
    /// `invalid_grant` for any problem with the code, redirect URI or verifier;
    /// `unauthorized_client`; `invalid_request` for missing parameters or a redirect URI no
    /// code can carry.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse> {
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the authorization code grant",
            ));
        }
        let code = code.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        // No code carries such a URI (authorization requires the registered string), and
        // Postgres refuses a NUL in a text parameter.
        if redirect_uri.is_some_and(|uri| uri.contains('\0')) {
            return Err(OAuthError::invalid_request("redirect_uri is malformed"));
        }
        let now = self.clock.now();
        let refresh_secret = client
            .allows(GrantType::RefreshToken)
            .then(OpaqueToken::generate)
            .transpose()
            .map_err(super::Error::from)?;
        let exchange = Exchange {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.map(str::to_owned),
            challenge: verifier.and_then(|v| CodeChallenge::of_verifier(v).ok()),
            now,
            issue: CodeIssue {
                access: self.access.reserve(now),
                family_id: refresh_secret.is_some().then(Uuid::new_v4),
            },
            refresh_token: refresh_secret.as_ref().map(OpaqueToken::hash),
            family_expires_at: now + self.refresh.ttl,
        };
        let (stored, user) = match self.codes.consume(&TokenHash::of(code), &exchange).await? {
            CodeConsumption::Consumed(stored, user) => (stored, user),
            CodeConsumption::Replayed(stored) => {
                self.revoke_code_tokens(&stored.issued, now).await?;
                tracing::warn!(client_id = %stored.client_id, "authorization code replayed; its tokens were revoked");
                return Err(OAuthError::invalid_grant("the code was already used"));
            }
            CodeConsumption::Unknown => {
                return Err(OAuthError::invalid_grant("unknown code"));
            }
        };
        // From here on the code is used up, whatever the outcome.
        if !exchange.matches(&stored) {
            return Err(OAuthError::invalid_grant(
                "the code is invalid, expired, issued to another client or redirect URI, or the code_verifier does not match",
            ));
        }
        if !user.is_active {
            return Err(user_gone());
        }
        // `consume` stored the refresh token with the consumption.
        let access_token = self.access.sign(
            exchange.issue.access,
            &Subject::User(stored.user_id),
            &client.id,
            &stored.scope,
            &roles_of(&user),
        )?;
        let refresh_token = refresh_secret.map(|secret| secret.expose().to_owned());
        Ok(self.response(access_token, refresh_token, &stored.scope))
    }

    /// `grant_type=refresh_token`: rotation with reuse detection.
    ///
    /// # Errors
    /// `invalid_grant` for an unknown, foreign, expired, revoked or reused token (reuse also
    /// revokes the family); `invalid_scope` for a wider scope.
    pub async fn refresh(
        &self,
        client: &Client,
        presented: Option<&str>,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        if !client.allows(GrantType::RefreshToken) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the refresh token grant",
            ));
        }
        let presented =
            presented.ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        // An unknown scope is refused only after the token checks, so a reused token is
        // still detected (and its family revoked) whatever scope comes with it.
        let within = requested_scope(scope).ok();
        let now = self.clock.now();
        let secret = OpaqueToken::generate().map_err(super::Error::from)?;
        let rotation = Rotation {
            client_id: client.id.clone(),
            now,
            idle: self.refresh.idle,
            within,
            successor: secret.hash(),
            access: self.access.reserve(now),
        };
        let (token, user) = match self
            .refresh_tokens
            .rotate(&TokenHash::of(presented), &rotation)
            .await?
        {
            RotationOutcome::Rotated(token, user) => (token, user),
            RotationOutcome::Refused(token, user) => {
                return Err(self.refusal(&rotation, &token, &user).await?);
            }
            RotationOutcome::Unknown => return Err(invalid_refresh_token()),
        };
        // The access token may be narrower; the refresh token keeps the grant (RFC 6749 §6).
        let scope = covered(rotation.within.as_ref(), &token.scope)?;
        let access_token = self.access.sign(
            rotation.access,
            &Subject::User(token.user_id),
            &client.id,
            &scope,
            &roles_of(&user),
        )?;
        Ok(self.response(access_token, Some(secret.expose().to_owned()), &scope))
    }

    /// Why a rotation was refused. Presenting a used token is reuse, and revokes the family
    /// before answering; so is presenting one a concurrent call rotated after the repository
    /// read it, whatever scope came with it. A token that looked usable is therefore read
    /// again: revoked meanwhile, it is merely invalid.
    async fn refusal(
        &self,
        rotation: &Rotation,
        token: &RefreshToken,
        user: &UserStanding,
    ) -> Result<OAuthError> {
        if token.client_id != rotation.client_id {
            return Ok(invalid_refresh_token());
        }
        let token = if token.used_at.is_none() && rotation.admits(token, user) {
            match self.refresh_tokens.find(&token.hash).await? {
                Some(current) => current,
                None => return Ok(invalid_refresh_token()),
            }
        } else {
            token.clone()
        };
        if token.used_at.is_some() {
            self.revoke_family(token.family_id, rotation.now).await?;
            self.metrics.refresh_reuse_detected();
            tracing::warn!(client_id = %rotation.client_id, "refresh token reused; its family was revoked");
            return Ok(invalid_refresh_token());
        }
        if !token.is_live_at(rotation.now, rotation.idle) {
            return Ok(invalid_refresh_token());
        }
        if let Err(too_wide) = covered(rotation.within.as_ref(), &token.scope) {
            return Ok(too_wide);
        }
        Ok(user_gone())
    }

    /// `grant_type=client_credentials`: confidential clients only, no refresh token.
    ///
    /// # Errors
    /// `unauthorized_client` for public clients or clients without the grant; `invalid_scope`.
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        if client.auth_method == AuthMethod::None || !client.allows(GrantType::ClientCredentials) {
            return Err(OAuthError::unauthorized_client(
                "client_credentials is for confidential clients registered with that grant",
            ));
        }
        let scope = narrowed(scope, &client.scope)?;
        let access = self.access.reserve(self.clock.now());
        let token = self.access.sign(
            access,
            &Subject::Client(client.id.clone()),
            &client.id,
            &scope,
            &[],
        )?;
        Ok(self.response(token, None, &scope))
    }

    /// RFC 7009: revokes a refresh token (its whole family) or an access token (its `jti`)
    /// that belongs to `client`. Anything else is silently ignored.
    ///
    /// # Errors
    /// Only a store failure.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<()> {
        let now = self.clock.now();
        if let Some(refresh) = self.refresh_tokens.find(&TokenHash::of(token)).await? {
            if refresh.client_id == client.id {
                self.revoke_family(refresh.family_id, now).await?;
            }
            return Ok(());
        }
        if let Ok(claims) = self.access.decode(token)
            && claims.client_id == client.id.as_str()
        {
            self.access.revoke(&[claims.issued()]).await?;
        }
        Ok(())
    }

    /// RFC 7662 for a confidential client. Access tokens: live when they verify, are not
    /// deny-listed and their user is active. Refresh tokens: only the introspecting client's
    /// own, live ones are active.
    ///
    /// # Errors
    /// `invalid_client` for a public client; a store failure.
    pub async fn introspect(&self, client: &Client, token: &str) -> Result<Introspection> {
        if !client.auth_method.is_confidential() {
            return Err(OAuthError::invalid_client());
        }
        if let Ok(claims) = self.access.verify(token).await.map_err(OAuthError::from)? {
            return self.introspect_access(claims).await;
        }
        let now = self.clock.now();
        let Some(refresh) = self.refresh_tokens.find(&TokenHash::of(token)).await? else {
            return Ok(Introspection::default());
        };
        if refresh.client_id != client.id || !refresh.is_live_at(now, self.refresh.idle) {
            return Ok(Introspection::default());
        }
        let exp = refresh
            .family_expires_at
            .min(refresh.created_at + self.refresh.idle);
        Ok(Introspection {
            active: true,
            details: Some(IntrospectionDetails {
                scope: refresh.scope.to_string(),
                client_id: refresh.client_id.to_string(),
                sub: refresh.user_id.to_string(),
                exp: exp.unix_timestamp(),
                iat: refresh.created_at.unix_timestamp(),
                iss: self.issuer.clone(),
                // A refresh token is presented only to this server.
                aud: self.issuer.clone(),
                token_type: "refresh_token",
            }),
        })
    }

    async fn introspect_access(&self, claims: AccessClaims) -> Result<Introspection> {
        if let Some(user_id) = claims.user_id() {
            let active = self
                .users
                .find_by_id(user_id)
                .await?
                .is_some_and(|u| u.is_active);
            if !active {
                return Ok(Introspection::default());
            }
        }
        Ok(Introspection {
            active: true,
            details: Some(IntrospectionDetails {
                scope: claims.scope,
                client_id: claims.client_id,
                sub: claims.sub,
                exp: claims.exp,
                iat: claims.iat,
                iss: claims.iss,
                aud: claims.aud,
                token_type: "Bearer",
            }),
        })
    }

    async fn revoke_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<()> {
        let issued = self.refresh_tokens.revoke_family(family_id, now).await?;
        Ok(self.access.revoke(&issued).await?)
    }

    /// A replayed code's tokens. `consume` stored the family's first token in the step that
    /// consumed the code, so a replay, which can only see the code consumed after that step,
    /// finds the whole family.
    async fn revoke_code_tokens(
        &self,
        issued: &Option<CodeIssue>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let Some(issued) = issued else {
            return Ok(());
        };
        self.access.revoke(&[issued.access]).await?;
        if let Some(family_id) = issued.family_id {
            self.revoke_family(family_id, now).await?;
        }
        Ok(())
    }

    fn response(
        &self,
        access_token: String,
        refresh_token: Option<String>,
        scope: &Scope,
    ) -> TokenResponse {
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.access.ttl().whole_seconds(),
            refresh_token,
            scope: scope.to_string(),
        }
    }
}

/// The requested scope if it is within `allowed`; `allowed` itself when none (or an empty
/// one) was asked for.
fn narrowed(requested: Option<&str>, allowed: &Scope) -> Result<Scope> {
    granted(requested_scope(requested)?, allowed)
}

/// A requested scope; empty when none was asked for.
fn requested_scope(raw: Option<&str>) -> Result<Scope> {
    Scope::parse(raw.unwrap_or_default()).map_err(|_| scope_too_wide())
}

/// What a refresh may grant: `requested` within `allowed` (see [`granted`]); nothing when the
/// request named an unknown scope.
fn covered(requested: Option<&Scope>, allowed: &Scope) -> Result<Scope> {
    requested.map_or_else(
        || Err(scope_too_wide()),
        |requested| granted(*requested, allowed),
    )
}

/// `requested` if it is within `allowed`; `allowed` itself when `requested` is empty.
fn granted(requested: Scope, allowed: &Scope) -> Result<Scope> {
    if requested.is_empty() {
        Ok(*allowed)
    } else if requested.is_subset_of(allowed) {
        Ok(requested)
    } else {
        Err(scope_too_wide())
    }
}

fn scope_too_wide() -> OAuthError {
    OAuthError::invalid_scope("the scope may only narrow what was granted")
}

fn invalid_refresh_token() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

fn user_gone() -> OAuthError {
    OAuthError::invalid_grant("the user is disabled or gone")
}

fn roles_of(user: &UserStanding) -> Vec<Role> {
    user.roles.iter().copied().collect()
}
