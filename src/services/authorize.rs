//! `GET /oauth/authorize`: validating the request in the contract's order, and issuing codes.

use std::sync::Arc;

use serde::Deserialize;
use time::Duration;

use super::oauth_error::OAuthErrorCode;
use super::{ClientService, OAuthError, Result};
use crate::clock::Clock;
use crate::domain::{
    AuthorizationCode, ClientId, CodeChallenge, GrantType, OpaqueToken, Scope, UserId,
};
use crate::repos::AuthCodeRepo;

/// The query of an authorization request. Unknown parameters are ignored.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizeRequest {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// Must match a registered URI.
    pub redirect_uri: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
    /// Requested scope; default: the client's registered scope.
    pub scope: Option<String>,
    /// Opaque client state, echoed back.
    pub state: Option<String>,
}

/// A request that passed every check: what the code will be bound to.
#[derive(Debug, Clone)]
pub struct ValidAuthorization {
    /// The client.
    pub client_id: ClientId,
    /// The redirect URI exactly as requested (a loopback port may differ from the registered).
    pub redirect_uri: String,
    /// Granted scope.
    pub scope: Scope,
    /// PKCE challenge.
    pub challenge: CodeChallenge,
    /// Echoed to the client.
    pub state: Option<String>,
}

/// Why an authorization request failed, in the two forms the contract distinguishes.
#[derive(Debug, Clone)]
pub enum AuthorizeRejection {
    /// Step 1: the client or redirect URI cannot be trusted; answer a 400 page, never redirect.
    Untrusted(&'static str),
    /// Step 2: redirect the error to the (trusted) redirect URI.
    Redirect {
        /// Where to send it.
        redirect_uri: String,
        /// What went wrong.
        error: OAuthError,
        /// Echoed to the client.
        state: Option<String>,
    },
    /// A backing store failed.
    Store(OAuthError),
}

/// Validates authorization requests and issues codes.
pub struct AuthorizeService {
    clients: Arc<ClientService>,
    codes: Arc<dyn AuthCodeRepo>,
    clock: Arc<dyn Clock>,
    code_ttl: Duration,
}

impl AuthorizeService {
    /// A service issuing codes that live `code_ttl`.
    #[must_use]
    pub fn new(
        clients: Arc<ClientService>,
        codes: Arc<dyn AuthCodeRepo>,
        clock: Arc<dyn Clock>,
        code_ttl: Duration,
    ) -> Self {
        Self {
            clients,
            codes,
            clock,
            code_ttl,
        }
    }

    /// Checks the request in the contract's order: client and redirect URI first (400 page),
    /// then every other parameter (redirected error).
    ///
    /// # Errors
    /// [`AuthorizeRejection`].
    pub async fn validate(
        &self,
        request: AuthorizeRequest,
    ) -> Result<ValidAuthorization, AuthorizeRejection> {
        let client_id = request
            .client_id
            .as_deref()
            .ok_or(AuthorizeRejection::Untrusted("client_id is missing"))?;
        let client = self
            .clients
            .find(client_id)
            .await
            .map_err(AuthorizeRejection::Store)?
            .ok_or(AuthorizeRejection::Untrusted("unknown client_id"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .filter(|requested| client.matching_redirect_uri(requested).is_some())
            .ok_or(AuthorizeRejection::Untrusted(
                "redirect_uri is missing or not registered for this client",
            ))?
            .to_owned();

        let state = request.state.clone();
        let redirect =
            |code: OAuthErrorCode, description: &'static str| AuthorizeRejection::Redirect {
                redirect_uri: redirect_uri.clone(),
                error: OAuthError::new(code, description),
                state: state.clone(),
            };
        if request.response_type.as_deref() != Some("code") {
            return Err(redirect(
                OAuthErrorCode::UnsupportedResponseType,
                "response_type must be code",
            ));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(redirect(
                OAuthErrorCode::UnauthorizedClient,
                "this client may not use the authorization code grant",
            ));
        }
        match request.code_challenge_method.as_deref() {
            Some("S256") => {}
            None => {
                return Err(redirect(
                    OAuthErrorCode::InvalidRequest,
                    "code_challenge_method is required and must be S256",
                ));
            }
            Some(_) => {
                return Err(redirect(
                    OAuthErrorCode::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not supported)",
                ));
            }
        }
        let challenge = request
            .code_challenge
            .as_deref()
            .ok_or_else(|| redirect(OAuthErrorCode::InvalidRequest, "code_challenge is required"))
            .and_then(|raw| {
                CodeChallenge::parse(raw).map_err(|_| {
                    redirect(
                        OAuthErrorCode::InvalidRequest,
                        "code_challenge must be 43 base64url characters",
                    )
                })
            })?;
        // An empty scope is no scope parameter: the client's registered scopes (RFC 6749 §3.3).
        let scope = match request.scope.as_deref().filter(|raw| !raw.is_empty()) {
            None => client.scope,
            Some(raw) => Scope::parse(raw)
                .map_err(|_| redirect(OAuthErrorCode::InvalidScope, "unknown scope"))?,
        };
        if !scope.is_subset_of(&client.scope) {
            return Err(redirect(
                OAuthErrorCode::InvalidScope,
                "the client may not request this scope",
            ));
        }
        Ok(ValidAuthorization {
            client_id: client.id,
            redirect_uri,
            scope,
            challenge,
            state,
        })
    }

    /// Issues a code for `user`: 256 random bits, stored only as SHA-256, bound to the client,
    /// redirect URI, scope, user and challenge.
    ///
    /// # Errors
    /// A store or RNG failure.
    pub async fn issue_code(
        &self,
        valid: &ValidAuthorization,
        user: UserId,
    ) -> Result<OpaqueToken> {
        let code = OpaqueToken::generate()?;
        let now = self.clock.now();
        self.codes
            .insert(&AuthorizationCode {
                hash: code.hash(),
                client_id: valid.client_id.clone(),
                user_id: user,
                redirect_uri: valid.redirect_uri.clone(),
                scope: valid.scope,
                challenge: valid.challenge.clone(),
                created_at: now,
                expires_at: now + self.code_ttl,
                consumed_at: None,
                issued: None,
            })
            .await?;
        Ok(code)
    }
}
