//! `GET /oauth/authorize`, `POST /oauth/clients` and the discovery documents.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{REDIRECT_URI, TestApp, pkce, redirect_param};

#[tokio::test]
async fn a_signed_in_user_gets_a_code_with_state_and_iss() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (_, challenge) = pkce();

    let response = app
        .authorize(Some(&session), &client.id, &challenge, &[])
        .await;

    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
    let location = response.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?code=")),
        "{location}"
    );
    let code = redirect_param(&response, "code").unwrap();
    assert!(code.len() >= 43, "code too short for 256 bits: {code}");
    assert_eq!(redirect_param(&response, "state").as_deref(), Some("st4te"));
    assert_eq!(
        redirect_param(&response, "iss").as_deref(),
        Some("http://localhost:8000")
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_is_a_400_page_not_a_redirect() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (_, challenge) = pkce();

    for (client_id, extra) in [
        ("no-such-client", vec![]),
        (
            client.id.as_str(),
            vec![("redirect_uri", "https://evil.example/callback")],
        ),
        (
            client.id.as_str(),
            vec![("redirect_uri", "https://app.example/callback/")],
        ),
        (client.id.as_str(), vec![("redirect_uri", "")]),
        ("a\u{0}b", vec![]),
        ("", vec![("client_id", "")]),
    ] {
        let response = app
            .authorize(Some(&session), client_id, &challenge, &extra)
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{client_id} {extra:?}"
        );
        assert!(response.header("location").is_none());
        assert!(response.text().contains("<h1>"));
    }
}

#[tokio::test]
async fn other_bad_parameters_redirect_with_the_error_state_and_iss() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app
        .register_client(json!({"scope": "openid profile"}))
        .await;
    let (_, challenge) = pkce();

    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge", "too-short")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("scope", "openid email")], "invalid_scope"),
        (vec![("scope", "admin")], "invalid_scope"),
    ] {
        // With and without a session: the checks come first.
        for session in [Some(session.as_str()), None] {
            let response = app.authorize(session, &client.id, &challenge, &extra).await;
            assert_eq!(response.status, StatusCode::FOUND, "{extra:?}");
            assert!(
                response
                    .header("location")
                    .unwrap()
                    .starts_with(REDIRECT_URI)
            );
            assert_eq!(
                redirect_param(&response, "error").as_deref(),
                Some(error),
                "{extra:?}"
            );
            assert!(redirect_param(&response, "error_description").is_some());
            assert_eq!(redirect_param(&response, "state").as_deref(), Some("st4te"));
            assert_eq!(
                redirect_param(&response, "iss").as_deref(),
                Some("http://localhost:8000")
            );
            assert!(redirect_param(&response, "code").is_none());
        }
    }
}

#[tokio::test]
async fn an_empty_scope_means_the_clients_registered_scopes() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app
        .register_client(json!({"scope": "openid profile"}))
        .await;
    let (verifier, challenge) = pkce();
    let response = app
        .authorize(Some(&session), &client.id, &challenge, &[("scope", "")])
        .await;
    let code = redirect_param(&response, "code").expect("a code");
    let tokens = app.exchange(&client.id, &code, &verifier).await.json();
    assert_eq!(tokens["scope"], "openid profile");
}

#[tokio::test]
async fn without_a_session_the_browser_goes_to_login_with_the_whole_request() {
    let app = TestApp::new().await;
    let client = app.register_client(json!({})).await;
    let (_, challenge) = pkce();

    let response = app.authorize(None, &client.id, &challenge, &[]).await;

    assert_eq!(response.status, StatusCode::FOUND);
    let location = response.header("location").unwrap();
    assert!(
        location.starts_with("/login?next=%2Foauth%2Fauthorize%3F"),
        "{location}"
    );
    let next: Vec<(String, String)> =
        serde_urlencoded::from_str(location.trim_start_matches("/login?")).unwrap();
    assert!(next[0].1.contains(&challenge));
    assert_eq!(auth_service::api::safe_next(&next[0].1), next[0].1);
}

#[tokio::test]
async fn an_expired_session_is_no_session() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (_, challenge) = pkce();
    app.clock.advance(time::Duration::seconds(1800));

    let response = app
        .authorize(Some(&session), &client.id, &challenge, &[])
        .await;
    assert!(response.header("location").unwrap().starts_with("/login?"));
}

#[tokio::test]
async fn a_loopback_ip_redirect_uri_matches_any_port() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app
        .register_client(json!({"redirect_uris": ["http://127.0.0.1:1000/cb"]}))
        .await;
    let (_, challenge) = pkce();

    let response = app
        .authorize(
            Some(&session),
            &client.id,
            &challenge,
            &[("redirect_uri", "http://127.0.0.1:54321/cb")],
        )
        .await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert!(
        response
            .header("location")
            .unwrap()
            .starts_with("http://127.0.0.1:54321/cb?code=")
    );
}

#[tokio::test]
async fn registration_returns_metadata_and_shows_a_secret_once() {
    let app = TestApp::new().await;
    let response = app
        .post_json(
            "/oauth/clients",
            &json!({
                "redirect_uris": [REDIRECT_URI],
                "client_name": "Backend",
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "scope": "openid email",
                "roles": ["admin"],
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert!(body["client_secret"].as_str().unwrap().len() >= 43);
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_name"], "Backend");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["scope"], "email openid");
    assert_eq!(body["response_types"], json!(["code"]));

    let public = app
        .post_json(
            "/oauth/clients",
            &json!({
                "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"
            }),
        )
        .await
        .json();
    assert!(public.get("client_secret").is_none());
    assert_eq!(
        public["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(public["scope"], "email openid profile");
}

#[tokio::test]
async fn registration_rejects_unsafe_redirect_uris_and_bad_metadata() {
    let app = TestApp::new().await;
    for (body, error) in [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["/relative"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT_URI], "scope": "admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "not a list"}),
            "invalid_client_metadata",
        ),
    ] {
        let response = app.post_json("/oauth/clients", &body).await;
        response.assert_oauth_error(StatusCode::BAD_REQUEST, error);
    }
}

#[tokio::test]
async fn in_prod_registering_a_client_needs_an_admin_token() {
    let app = TestApp::prod(&[]).await;
    let response = app
        .post_json("/oauth/clients", &json!({"redirect_uris": [REDIRECT_URI]}))
        .await;
    response.assert_problem(StatusCode::UNAUTHORIZED);
    assert!(
        response
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
}

#[tokio::test]
async fn metadata_follows_rfc_8414_and_the_contract() {
    let app = TestApp::new().await;
    let body = app
        .get("/.well-known/oauth-authorization-server", &[])
        .await
        .json();
    let issuer = "http://localhost:8000";
    assert_eq!(body["issuer"], issuer);
    assert_eq!(
        body["authorization_endpoint"],
        format!("{issuer}/oauth/authorize")
    );
    assert_eq!(body["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(body["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(
        body["registration_endpoint"],
        format!("{issuer}/oauth/clients")
    );
    assert_eq!(
        body["revocation_endpoint"],
        format!("{issuer}/oauth/revoke")
    );
    assert_eq!(
        body["introspection_endpoint"],
        format!("{issuer}/oauth/introspect")
    );
    assert_eq!(body["response_types_supported"], json!(["code"]));
    assert_eq!(
        body["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(body["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        body["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        body["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(body["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let app = TestApp::new().await;
    let body = app.get("/.well-known/jwks.json", &[]).await.json();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0]["kid"].is_string());
    assert!(keys[0].get("d").is_none());
}
