//! Errors of the OAuth endpoints, named as RFC 6749 §5.2 / RFC 7591 §3.2.2 name them.

use std::borrow::Cow;

use super::Error;

/// The `error` code of an OAuth error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// Malformed request.
    InvalidRequest,
    /// Client authentication failed (401).
    InvalidClient,
    /// Bad code, refresh token or verifier.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// Unknown `grant_type`.
    UnsupportedGrantType,
    /// Unknown or too wide scope.
    InvalidScope,
    /// `response_type` other than `code`.
    UnsupportedResponseType,
    /// RFC 7591: a redirect URI is not acceptable.
    InvalidRedirectUri,
    /// RFC 7591: other metadata is not acceptable.
    InvalidClientMetadata,
    /// A defect (500).
    ServerError,
    /// A backing store is down (503).
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error with a client-facing description (never a secret, never an internal
/// message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The code.
    pub code: OAuthErrorCode,
    /// Human-readable detail.
    pub description: Cow<'static, str>,
    /// The client tried HTTP Basic: a 401 then carries `WWW-Authenticate: Basic`.
    pub basic_auth_attempted: bool,
}

impl OAuthError {
    /// An error with this code and description.
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            basic_auth_attempted: false,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// `invalid_client` (always the same description: nothing to learn from it).
    #[must_use]
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        )
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }

    /// `unauthorized_client`.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::UnauthorizedClient, description)
    }
}

impl From<Error> for OAuthError {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable(cause) => {
                tracing::warn!(cause, "backing store unavailable");
                Self::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable; retry later",
                )
            }
            other => {
                tracing::error!(cause = %other, "internal error at an OAuth endpoint");
                Self::new(OAuthErrorCode::ServerError, "internal error")
            }
        }
    }
}

impl From<crate::repos::RepoError> for OAuthError {
    fn from(err: crate::repos::RepoError) -> Self {
        Error::from(err).into()
    }
}
