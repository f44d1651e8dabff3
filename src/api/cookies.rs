//! Cookie names and attributes, in one place.
//!
//! In prod the names carry the `__Host-` prefix: browsers then accept the cookie only with
//! `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant or overwrite it.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use time::Duration;

use super::error::ApiError;

/// How long the sign-in form's CSRF cookie lives.
const CSRF_TTL: Duration = Duration::hours(1);

/// Cookie attributes for the current environment.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    secure: bool,
}

impl CookiePolicy {
    /// `secure` in prod: `Secure` attribute and `__Host-` names.
    #[must_use]
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The session cookie's name.
    #[must_use]
    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-session"
        } else {
            "session"
        }
    }

    /// The sign-in form's CSRF cookie's name.
    #[must_use]
    pub fn csrf_name(self) -> &'static str {
        if self.secure {
            "__Host-login_csrf"
        } else {
            "login_csrf"
        }
    }

    /// `Set-Cookie` for a new session: `HttpOnly; SameSite=Lax; Path=/` (+ `Secure`).
    ///
    /// # Errors
    /// Only if `value` holds characters a header cannot carry (never for our tokens).
    pub fn set_session(self, value: &str, ttl: Duration) -> Result<HeaderValue, ApiError> {
        self.build(self.session_name(), value, SameSite::Lax, ttl)
    }

    /// `Set-Cookie` that removes the session cookie.
    ///
    /// # Errors
    /// Never in practice (constant input).
    pub fn clear_session(self) -> Result<HeaderValue, ApiError> {
        self.build(self.session_name(), "", SameSite::Lax, Duration::ZERO)
    }

    /// `Set-Cookie` for the sign-in form's CSRF token. `Strict`: it is only ever needed by a
    /// same-site form post.
    ///
    /// # Errors
    /// Only if `value` holds characters a header cannot carry (never for our tokens).
    pub fn set_csrf(self, value: &str) -> Result<HeaderValue, ApiError> {
        self.build(self.csrf_name(), value, SameSite::Strict, CSRF_TTL)
    }

    fn build(
        self,
        name: &'static str,
        value: &str,
        same_site: SameSite,
        max_age: Duration,
    ) -> Result<HeaderValue, ApiError> {
        let cookie = Cookie::build((name, value))
            .http_only(true)
            .same_site(same_site)
            .path("/")
            .secure(self.secure)
            .max_age(max_age)
            .build();
        HeaderValue::try_from(cookie.to_string())
            .map_err(|_| ApiError::internal("cookie value is not a valid header value"))
    }
}

/// The value of the first cookie called `name` in the request's `Cookie` headers.
#[must_use]
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_attributes_in_dev() {
        let value = CookiePolicy::new(false)
            .set_session("abc", Duration::minutes(30))
            .unwrap();
        let value = value.to_str().unwrap();
        assert!(value.starts_with("session=abc"), "{value}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"] {
            assert!(value.contains(attribute), "{value} lacks {attribute}");
        }
        assert!(!value.contains("Secure"), "{value}");
    }

    #[test]
    fn session_cookie_is_secure_and_host_prefixed_in_prod() {
        let value = CookiePolicy::new(true)
            .set_session("abc", Duration::minutes(30))
            .unwrap();
        let value = value.to_str().unwrap();
        assert!(value.starts_with("__Host-session=abc"), "{value}");
        assert!(value.contains("Secure"), "{value}");
    }

    #[test]
    fn read_finds_the_named_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; session=xyz"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(read(&headers, "session").as_deref(), Some("xyz"));
        assert_eq!(read(&headers, "b").as_deref(), Some("2"));
        assert_eq!(read(&headers, "missing"), None);
    }
}
