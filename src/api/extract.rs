//! Wrappers around axum's body and query extractors whose rejections use the problem+json
//! format. Their details never quote the request: a serde message may contain a password.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, BearerError, oauth_error_response};
use crate::services::{OAuthError, OAuthErrorCode, Principal};

/// `axum::Json` with problem+json rejections.
pub struct AppJson<T>(pub T);

/// `axum::Form` (urlencoded body) with problem+json rejections.
pub struct AppForm<T>(pub T);

/// `axum::extract::Query` with problem+json rejections.
pub struct AppQuery<T>(pub T);

/// `axum::extract::Path` with problem+json rejections (a path segment that is not UTF-8,
/// say).
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the path is malformed",
            )),
        }
    }
}

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<S, T> FromRequest<S> for AppForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => Err(form_rejection(&rejection)),
        }
    }
}

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(_)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the query string is malformed or lacks a required parameter",
            )),
            Err(other) => Err(ApiError::new(
                other.status(),
                "the query string is malformed",
            )),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let detail = match rejection {
        JsonRejection::MissingJsonContentType(_) => "expected Content-Type: application/json",
        JsonRejection::JsonSyntaxError(_) => "the request body is not valid JSON",
        JsonRejection::JsonDataError(_) => {
            "the JSON body lacks a required field or has a field of the wrong type"
        }
        _ => body_problem(status),
    };
    ApiError::new(status, detail)
}

fn form_rejection(rejection: &FormRejection) -> ApiError {
    let status = rejection.status();
    let detail = match rejection {
        FormRejection::InvalidFormContentType(_) => {
            "expected Content-Type: application/x-www-form-urlencoded"
        }
        FormRejection::FailedToDeserializeForm(_)
        | FormRejection::FailedToDeserializeFormBody(_) => {
            "the form is malformed or lacks a required field"
        }
        _ => body_problem(status),
    };
    ApiError::new(status, detail)
}

fn body_problem(status: StatusCode) -> &'static str {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than 64 KiB"
    } else {
        "the request body could not be read"
    }
}

/// A urlencoded form at an OAuth endpoint: rejections are RFC 6749 `invalid_request` bodies
/// (duplicate parameters included, RFC 6749 §3.2).
pub struct OAuthForm<T>(pub T);

impl<S, T> FromRequest<S> for OAuthForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => {
                let problem = form_rejection(&rejection);
                let error = OAuthError::invalid_request(problem.detail().to_owned());
                Err(oauth_error_response(
                    oauth_status(rejection.status()),
                    &error,
                ))
            }
        }
    }
}

/// A JSON body at `POST /oauth/clients`: rejections are RFC 7591 `invalid_client_metadata`.
pub struct OAuthJson<T>(pub T);

impl<S, T> FromRequest<S> for OAuthJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                let problem = json_rejection(&rejection);
                let error = OAuthError::new(
                    OAuthErrorCode::InvalidClientMetadata,
                    problem.detail().to_owned(),
                );
                Err(oauth_error_response(
                    oauth_status(rejection.status()),
                    &error,
                ))
            }
        }
    }
}

/// OAuth errors are 400 (RFC 6749 §5.2, RFC 7591 §3.2.2); only an oversized body keeps 413.
fn oauth_status(rejection: StatusCode) -> StatusCode {
    if rejection == StatusCode::PAYLOAD_TOO_LARGE {
        rejection
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// The caller of a bearer-protected route, from its verified access token. Every such route
/// takes this extractor; none reads the header itself.
impl FromRequestParts<AppState> for Principal {
    type Rejection = BearerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(BearerError::Missing)?;
        match state.access.verify(token).await {
            Ok(Ok(claims)) => Ok(Principal::from_claims(claims)),
            Ok(Err(_)) => Err(BearerError::InvalidToken),
            Err(err) => Err(BearerError::Unavailable(err.into())),
        }
    }
}

/// The client's IP address: the socket peer, or, when the peer is a trusted proxy, the
/// right-most address in `X-Forwarded-For` that is not a trusted proxy itself (the one the
/// first trusted proxy saw). A header from an untrusted peer is ignored: anyone can send one.
/// When every listed hop is trusted (or the list is unreadable), the peer counts.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(client_ip(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// See [`ClientIp`]. Without a peer (a request built in-process) all callers share one
/// address, which is the safe way to be wrong.
#[must_use]
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[IpNet],
) -> IpAddr {
    let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Each trusted proxy appends the address it saw, so read from the right: skip trusted
    // hops, and the first other address is the client. Anything left of it is the client's
    // own say and is never read.
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        entries.extend(value.split(','));
    }
    for entry in entries.iter().rev() {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip.to_canonical()) => {}
            Ok(ip) => return ip.to_canonical(),
            // A hop our proxies wrote that we cannot read: trust nothing further left.
            Err(_) => return peer,
        }
    }
    peer
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let headers = forwarded(&["1.2.3.4"]);
        assert_eq!(
            client_ip(Some(ip("203.0.113.5")), &headers, &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_ip(Some(ip("203.0.113.5")), &headers, &[]),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.2"));
        // The client forged the first entry; the proxy appended what it saw.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "10.0.0.9"]);
        assert_eq!(client_ip(peer, &headers, &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(peer, &forwarded(&["not-an-ip"]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(client_ip(None, &headers, &trusted), ip("0.0.0.0"));
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.2")), &headers, &trusted),
            ip("198.51.100.7")
        );
    }
}
