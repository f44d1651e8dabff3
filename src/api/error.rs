//! The one place where errors become HTTP responses: RFC 9457 `application/problem+json`.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::services;

/// An error answered as problem+json. Its detail is written for the client and never
/// carries a secret or an internal message; 5xx causes are logged here instead.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: Cow<'static, str>,
    /// `WWW-Authenticate` value for 401s and scope 403s.
    challenge: Option<&'static str>,
    /// `Retry-After` seconds for 429s and 503s.
    retry_after: Option<u64>,
}

/// Result of a handler.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// A problem with this status and client-facing detail.
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            detail: detail.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 429 for a request refused by a limit.
    #[must_use]
    pub fn throttled(throttled: services::Throttled, detail: &'static str) -> Self {
        Self {
            retry_after: Some(throttled.retry_after_secs()),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }

    /// Adds a `WWW-Authenticate` challenge.
    #[must_use]
    pub fn with_challenge(self, challenge: &'static str) -> Self {
        Self {
            challenge: Some(challenge),
            ..self
        }
    }

    /// 404 for any path the router does not know.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no resource at this path")
    }

    /// 405 for a known path with the wrong method.
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this method is not allowed on this path",
        )
    }

    /// 500 with an opaque body; `cause` goes to the log only.
    pub fn internal(cause: &str) -> Self {
        tracing::error!(cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// The client-facing detail.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The status this error is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<services::Error> for ApiError {
    fn from(err: services::Error) -> Self {
        use services::Error as E;
        match err {
            E::Invalid(invalid) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string()),
            E::EmailTaken => Self::new(
                StatusCode::CONFLICT,
                "an account with this email already exists",
            ),
            E::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid email or password")
            }
            E::RegistrationDisabled => Self::new(
                StatusCode::FORBIDDEN,
                "self-service registration is disabled",
            ),
            E::Forbidden(forbidden) => BearerError::Forbidden(forbidden).into(),
            E::NotFound => Self::new(StatusCode::NOT_FOUND, "no such resource"),
            E::Conflict(detail) => Self::new(StatusCode::CONFLICT, detail),
            E::Throttled(throttled) => {
                Self::throttled(throttled, "too many attempts; retry after the time given")
            }
            // Not logged: under a flood there would be one line per refused request; the
            // metric counts them.
            E::Overloaded => Self {
                retry_after: Some(services::OVERLOADED_RETRY_AFTER_SECS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many sign-ins in progress; retry in a second",
                )
            },
            E::Unavailable(cause) => {
                tracing::warn!(cause, "backing store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the service is temporarily unavailable; retry later",
                )
            }
            E::Internal(cause) => Self::internal(&cause),
        }
    }
}

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// Always `about:blank`: the status says what went wrong.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's reason phrase.
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// What the client can do about it; never a secret or an internal message.
    detail: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let mut response = (self.status, Json(&problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        let retry_after = match (self.retry_after, self.status) {
            (Some(secs), _) => Some(secs),
            (None, StatusCode::SERVICE_UNAVAILABLE) => Some(OUTAGE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// RFC 6749 §5.2 / RFC 7591 §3.2.2 error body.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OAuthError)]
pub(crate) struct OAuthErrorBody<'a> {
    /// The RFC 6749 error code, such as `invalid_grant`.
    error: &'static str,
    /// Human-readable detail.
    error_description: &'a str,
}

impl IntoResponse for services::OAuthError {
    fn into_response(self) -> Response {
        use services::OAuthErrorCode as C;
        let status = match self.code {
            C::InvalidClient => StatusCode::UNAUTHORIZED,
            C::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            C::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        oauth_error_response(status, &self)
    }
}

/// 429 at an OAuth endpoint: an RFC 6749 body (`temporarily_unavailable`) with `Retry-After`.
pub fn oauth_throttled(throttled: services::Throttled) -> Response {
    let error = services::OAuthError::new(
        services::OAuthErrorCode::TemporarilyUnavailable,
        "too many requests; retry later",
    );
    let mut response = oauth_error_response(StatusCode::TOO_MANY_REQUESTS, &error);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(throttled.retry_after_secs()),
    );
    response
}

/// `Retry-After` of a 503: a store outage is usually over in seconds (pool and command
/// timeouts are a few seconds too).
const OUTAGE_RETRY_AFTER_SECS: u64 = 5;

/// An OAuth error body with an explicit status (413 for an oversized form, say).
pub fn oauth_error_response(status: StatusCode, error: &services::OAuthError) -> Response {
    let body = OAuthErrorBody {
        error: error.code.as_str(),
        error_description: &error.description,
    };
    let mut response = (status, Json(&body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(OUTAGE_RETRY_AFTER_SECS),
        );
    }
    if status == StatusCode::UNAUTHORIZED && error.basic_auth_attempted {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="auth-service""#),
        );
    }
    response
}

/// 401 or 403 at a bearer-protected route (RFC 6750 §3), with a problem+json body.
#[derive(Debug)]
pub enum BearerError {
    /// No `Authorization: Bearer` header: a plain challenge.
    Missing,
    /// A token that is malformed, forged, expired or revoked.
    InvalidToken,
    /// A valid token that may not do this.
    Forbidden(services::Forbidden),
    /// The deny-list could not be read.
    Unavailable(ApiError),
}

impl From<BearerError> for ApiError {
    fn from(err: BearerError) -> Self {
        match err {
            BearerError::Missing => Self::new(
                StatusCode::UNAUTHORIZED,
                "a bearer access token is required",
            )
            .with_challenge(r#"Bearer realm="auth-service""#),
            BearerError::InvalidToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "the access token is invalid, expired or revoked",
            )
            .with_challenge(r#"Bearer realm="auth-service", error="invalid_token""#),
            BearerError::Forbidden(forbidden @ services::Forbidden::MissingScope(_)) => {
                Self::new(StatusCode::FORBIDDEN, forbidden.to_string())
                    .with_challenge(r#"Bearer realm="auth-service", error="insufficient_scope""#)
            }
            BearerError::Forbidden(forbidden) => {
                Self::new(StatusCode::FORBIDDEN, forbidden.to_string())
            }
            BearerError::Unavailable(problem) => problem,
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
