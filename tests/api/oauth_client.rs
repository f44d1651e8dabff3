//! The whole flow driven by a third-party OAuth client library (the `oauth2` crate), with its
//! HTTP requests routed into the real router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, RevocationUrl,
    Scope, StandardRevocableToken, TokenResponse as _, TokenUrl,
};
use serde_json::json;
use tower::ServiceExt as _;

use crate::helpers::{REDIRECT_URI, TestApp, redirect_param};

/// https: the crate refuses to revoke over plain http (RFC 7009 §2).
const BASE: &str = "https://auth.example";

#[tokio::test]
async fn register_sign_in_authorize_exchange_refresh_revoke_with_the_oauth2_crate() {
    let app = TestApp::with_env(&[("ISSUER", BASE)]).await;
    let router = app.router();
    let http = |request: oauth2::HttpRequest| {
        let router = router.clone();
        async move {
            let (parts, body) = request.into_parts();
            let response = router
                .oneshot(Request::from_parts(parts, Body::from(body)))
                .await
                .map_err(std::io::Error::other)?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            Ok::<_, std::io::Error>(oauth2::HttpResponse::from_parts(parts, bytes.to_vec()))
        }
    };

    // Register a user (signs them in) and a public client.
    let session = app.signed_in_session("ada@example.com").await;
    let registered = app.register_client(json!({"client_name": "SPA"})).await;

    let client = BasicClient::new(ClientId::new(registered.id.clone()))
        .set_auth_uri(AuthUrl::new(format!("{BASE}/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{BASE}/oauth/token")).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{BASE}/oauth/revoke")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());

    // Authorize in the "browser" that holds the session.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let path_and_query = &url.as_str()[BASE.len()..];
    let redirect = app.get(path_and_query, &[("session", &session)]).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.text());
    assert_eq!(
        redirect_param(&redirect, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(redirect_param(&redirect, "iss").as_deref(), Some(BASE));
    let code = redirect_param(&redirect, "code").unwrap();

    // Exchange.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let scopes: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["openid", "profile"]);
    let me = app
        .get_bearer("/auth/me", tokens.access_token().secret())
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "ada@example.com");

    // Refresh (rotation).
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&http)
        .await
        .unwrap();
    let second_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());

    // Revoke, after which the refresh token is dead.
    client
        .revoke_token(StandardRevocableToken::RefreshToken(second_refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let after = client
        .exchange_refresh_token(&second_refresh)
        .request_async(&http)
        .await;
    assert!(after.is_err(), "a revoked refresh token still works");
    let dead = app
        .get_bearer("/auth/me", refreshed.access_token().secret())
        .await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED);
}
