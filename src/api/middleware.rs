//! Cross-cutting layers: request ids and one log line per request, security headers and
//! request bounds, CORS.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tracing::Instrument as _;

use super::error::ApiError;
use crate::metrics::{Metrics, UNMATCHED_ROUTE};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Takes the caller's `x-request-id` when it is a sane token (else makes one), runs the request
/// inside a span carrying it, logs the outcome, and echoes the id back. Only the path is
/// logged: query strings carry codes and state.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable_request_id(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let method = metric_method(request.method());
    // The template, not the path: ids in paths would make a series per user.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.request(
        method,
        route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str),
        status,
        elapsed,
    );
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_us, "request failed");
        } else {
            tracing::info!(status, latency_us, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

/// The method as a metric label: the standard ones by name, any other as `other`. Clients
/// can send any token as a method; each would otherwise start a series of its own.
fn metric_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Short and made of characters that cannot forge log structure.
fn is_acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_plain_tokens() {
        assert!(is_acceptable_request_id("req-123_abc.9:z"));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id(&"a".repeat(129)));
        assert!(!is_acceptable_request_id("a b"));
        assert!(!is_acceptable_request_id("a\"}{"));
    }
}

/// Response headers and request bounds that hold for every route.
#[derive(Debug, Clone, Copy)]
pub struct HttpPolicy {
    /// Send `Strict-Transport-Security` (prod: the service is only reached over https).
    pub hsts: bool,
    /// Requests running longer get 503.
    pub request_timeout: std::time::Duration,
}

/// Longest request target accepted (414 above).
const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes accepted, names and values together (431 above).
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses oversized request lines and headers, bounds the time a request may take, and sets
/// the security headers. Handlers that choose their own `Cache-Control`,
/// `Content-Security-Policy` or `Referrer-Policy` keep them; everything else is `no-store`
/// (most responses here carry a token, a code, a session or personal data) under a
/// deny-all content policy.
pub async fn harden(State(policy): State<HttpPolicy>, request: Request, next: Next) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return ApiError::new(StatusCode::URI_TOO_LONG, "the request target is too long")
            .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request headers are too large",
        )
        .into_response();
    }
    let mut response = match tokio::time::timeout(policy.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the request took too long; retry later",
            )
            .into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    for (name, default) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(default));
    }
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// CORS for exactly the configured origins, with credentials; `None` when there are none.
#[must_use]
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
