//! OAuth clients (RFC 7591 registrations).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::{Host, Url};

use super::{Scope, TokenHash};

/// A client's public identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Wraps an identifier (generated, seeded, or presented by a client).
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: no secret, identified by `client_id` alone.
    None,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl AuthMethod {
    /// Every method, for metadata.
    pub const ALL: [Self; 3] = [Self::None, Self::ClientSecretBasic, Self::ClientSecretPost];

    /// The RFC 7591 name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses an RFC 7591 name.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    /// Whether the client has a secret.
    #[must_use]
    pub fn is_confidential(self) -> bool {
        self != Self::None
    }
}

/// The grants this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code with PKCE.
    AuthorizationCode,
    /// Refresh-token rotation.
    RefreshToken,
    /// Confidential clients acting for themselves.
    ClientCredentials,
}

impl GrantType {
    /// Every grant, for metadata.
    pub const ALL: [Self; 3] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
    ];

    /// The RFC name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// Parses an RFC name.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }
}

/// A registered redirect URI that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "redirect URIs must be absolute https URLs without a fragment (http only for loopback hosts)"
)]
pub struct InvalidRedirectUri;

/// Checks a redirect URI at registration: absolute, no fragment, `https`, or `http` for a
/// loopback host only (RFC 9700 §2.1, RFC 8252 §7.3).
///
/// # Errors
/// [`InvalidRedirectUri`] otherwise.
pub fn validate_redirect_uri(raw: &str) -> Result<(), InvalidRedirectUri> {
    let url = Url::parse(raw).map_err(|_| InvalidRedirectUri)?;
    // The parser normalises; require the text to be what it parsed to, so the exact string
    // compare at /oauth/authorize sees the same URI the client registered.
    if url.as_str() != raw || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(InvalidRedirectUri);
    }
    let https = url.scheme() == "https" && url.host().is_some();
    let loopback_http = url.scheme() == "http" && url.host().is_some_and(|h| is_loopback(&h));
    if https || loopback_http {
        Ok(())
    } else {
        Err(InvalidRedirectUri)
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => *name == "localhost",
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Whether a redirect URI in an authorization request matches a registered one: exact string
/// equality, except that for a registered loopback IP literal (`127.0.0.1`, `[::1]`) any port
/// matches (OAuth 2.1 §8.4.2, RFC 8252 §7.3).
#[must_use]
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut registered), Ok(mut requested_url)) =
        (Url::parse(registered), Url::parse(requested))
    else {
        return false;
    };
    let loopback_ip = registered.scheme() == "http"
        && match registered.host() {
            Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
            _ => false,
        };
    // The parser normalises (`127.1`, `HTTP:`, `/./`, stray control characters): only a
    // request already in normal form can be the registered string with another port. It also
    // drops an explicit `:80`, which is a port like any other here.
    let normal_form = requested_url.as_str() == requested
        || (requested_url.port().is_none()
            && requested_url.as_str() == requested.replacen(":80/", "/", 1));
    if !loopback_ip || !normal_form {
        return false;
    }
    registered.set_port(None).is_ok()
        && requested_url.set_port(None).is_ok()
        && registered.as_str() == requested_url.as_str()
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Public identifier.
    pub id: ClientId,
    /// SHA-256 of the secret (confidential clients only). The secret has 256 random bits, so
    /// a fast hash is enough.
    pub secret_hash: Option<TokenHash>,
    /// How it authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grants it may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes it may request.
    pub scope: Scope,
    /// Human-readable name.
    pub name: Option<String>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

impl Client {
    /// Whether the client may use `grant`.
    #[must_use]
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI that `requested` matches, if any.
    #[must_use]
    pub fn matching_redirect_uri(&self, requested: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .find(|registered| redirect_uri_matches(registered, requested))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_https_and_loopback_http() {
        for ok in [
            "https://app.example/callback",
            "https://app.example/cb?x=1",
            "http://127.0.0.1:8080/callback",
            "http://[::1]/callback",
            "http://localhost:5173/callback",
        ] {
            assert_eq!(validate_redirect_uri(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn registration_rejects_everything_else() {
        for bad in [
            "/callback",
            "app.example/callback",
            "http://app.example/callback",
            "https://app.example/callback#frag",
            "https://app.example/callback#",
            "javascript:alert(1)",
            "ftp://app.example/x",
            "HTTPS://app.example/callback",
            "https://app.example",
        ] {
            assert_eq!(validate_redirect_uri(bad), Err(InvalidRedirectUri), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact_except_for_loopback_ip_ports() {
        assert!(redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb/"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb?x=1"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:1234/cb",
            "http://127.0.0.1:5678/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5678/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:1/cb",
            "http://[::1]:2/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1:1234/cb",
            "http://127.0.0.1:5678/other"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost:1234/cb",
            "http://localhost:5678/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1:1234/cb",
            "https://127.0.0.1:5678/cb"
        ));
    }

    #[test]
    fn a_loopback_request_matches_only_the_registered_string_with_another_port() {
        // Each parses to the registered URI with another port, but is not that string.
        for requested in [
            "http://127.1:5/cb",
            "HTTP://127.0.0.1:5/cb",
            "http://127.0.0.1:5/./cb",
            "http://127.0.0.1:5/x/../cb",
            "http://127.0.0.1:5/cb\0",
            "\0http://127.0.0.1:5/cb",
            "http://127.0.0.1:5/cb\t",
            "http://0x7f.0.0.1:5/cb",
        ] {
            assert!(
                !redirect_uri_matches("http://127.0.0.1:1000/cb", requested),
                "{requested:?}"
            );
        }
        // Only the two loopback literals the contract names get any port.
        assert!(!redirect_uri_matches(
            "http://127.0.0.2:1000/cb",
            "http://127.0.0.2:5/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:1000/cb",
            "http://127.0.0.1:5/cb"
        ));
        for default_port in ["http://127.0.0.1:80/cb", "http://127.0.0.1/cb"] {
            assert!(
                redirect_uri_matches("http://127.0.0.1:1000/cb", default_port),
                "{default_port}"
            );
        }
        assert!(redirect_uri_matches(
            "http://[::1]:1000/cb",
            "http://[::1]:80/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1:1000/cb",
            "http://127.0.0.1:80/./cb"
        ));
    }
}
