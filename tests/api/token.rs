//! `POST /oauth/token`, `/oauth/revoke`, `/oauth/introspect`.

use auth_service::clock::Clock as _;
use auth_service::domain::UserId;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::{REDIRECT_URI, TestApp, TestClient};

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn confidential(app: &TestApp, method: &str) -> TestClient {
    app.register_client(json!({
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    }))
    .await
}

#[tokio::test]
async fn a_code_exchange_issues_an_rfc_9068_access_token_and_a_refresh_token() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (code, verifier) = app.code_for(&session, &client.id).await;

    let response = app.exchange(&client.id, &code, &verifier).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "email openid profile");
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let access = body["access_token"].as_str().unwrap();
    let header = jwt_part(access, 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    let jwks = app.get("/.well-known/jwks.json", &[]).await.json();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    let claims = jwt_part(access, 1);
    let me = app.get_bearer("/auth/me", access).await.json();
    assert_eq!(claims["sub"], me["id"]);
    assert_eq!(claims["iss"], "http://localhost:8000");
    assert_eq!(claims["aud"], "http://localhost:8000");
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "email openid profile");
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_fails_and_uses_the_code_up() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;

    for bad in [
        "wrong-verifier-0123456789012345678901234567890",
        "short",
        "",
    ] {
        let (code, verifier) = app.code_for(&session, &client.id).await;
        app.exchange(&client.id, &code, bad)
            .await
            .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        app.exchange(&client.id, &code, &verifier)
            .await
            .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

#[tokio::test]
async fn the_code_is_bound_to_its_client_and_redirect_uri() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let other = app.register_client(json!({})).await;

    let (code, verifier) = app.code_for(&session, &client.id).await;
    app.exchange(&other.id, &code, &verifier)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let (code, verifier) = app.code_for(&session, &client.id).await;
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/other"),
                ("client_id", &client.id),
                ("code_verifier", &verifier),
            ],
            &[],
        )
        .await;
    response.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (code, verifier) = app.code_for(&session, &client.id).await;
    app.clock.advance(Duration::seconds(60));

    app.exchange(&client.id, &code, &verifier)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_fails_and_kills_the_tokens_it_issued() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (code, verifier) = app.code_for(&session, &client.id).await;
    let first = app.exchange(&client.id, &code, &verifier).await.json();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/auth/me", access).await.status,
        StatusCode::OK
    );

    app.exchange(&client.id, &code, &verifier)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let me = app.get_bearer("/auth/me", access).await;
    me.assert_problem(StatusCode::UNAUTHORIZED);
    assert!(
        me.header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    app.refresh(&client.id, refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_kills_the_family() {
    let app = TestApp::new().await;
    let (client, first) = app.signed_in_tokens().await;
    let first_refresh = first["refresh_token"].as_str().unwrap();

    let second = app.refresh(&client.id, first_refresh).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let second = second.json();
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, first_refresh);
    let second_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/auth/me", second_access).await.status,
        StatusCode::OK
    );

    // The old token again: reuse. The whole family dies, the newest token included.
    app.refresh(&client.id, first_refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    app.refresh(&client.id, second_refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        app.get_bearer("/auth/me", second_access).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reused_token_kills_the_family_whatever_scope_comes_with_it() {
    let app = TestApp::new().await;
    let (client, first) = app.signed_in_tokens().await;
    let first_refresh = first["refresh_token"].as_str().unwrap();
    let second = app.refresh(&client.id, first_refresh).await.json();
    let second_refresh = second["refresh_token"].as_str().unwrap();

    let reuse = app
        .refresh_with_scope(&client.id, first_refresh, "no-such-scope")
        .await;
    reuse.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    app.refresh(&client.id, second_refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn an_unknown_scope_on_a_live_token_is_invalid_scope_and_keeps_the_token() {
    let app = TestApp::new().await;
    let (client, first) = app.signed_in_tokens().await;
    let refresh = first["refresh_token"].as_str().unwrap();
    app.refresh_with_scope(&client.id, refresh, "no-such-scope")
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    let next = app.refresh(&client.id, refresh).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text());
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = TestApp::new().await;
    let (client, first) = app.signed_in_tokens().await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let wide = app
        .refresh_with_scope(&client.id, refresh, "openid offline_access")
        .await;
    wide.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");

    let narrow = app.refresh_with_scope(&client.id, refresh, "openid").await;
    assert_eq!(narrow.status, StatusCode::OK, "{}", narrow.text());
    assert_eq!(narrow.json()["scope"], "openid");
    let access = narrow.json()["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_part(&access, 1);
    assert_eq!(claims["scope"], "openid");

    // RFC 6749 §6: the new refresh token keeps the original grant; an empty scope is none.
    let next = narrow.json()["refresh_token"].as_str().unwrap().to_owned();
    let after = app.refresh_with_scope(&client.id, &next, "").await;
    assert_eq!(after.json()["scope"], "email openid profile");
}

#[tokio::test]
async fn an_idle_refresh_token_expires() {
    let app = TestApp::new().await;
    let (client, first) = app.signed_in_tokens().await;
    app.clock.advance(Duration::seconds(1_209_600));
    app.refresh(&client.id, first["refresh_token"].as_str().unwrap())
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_family_ends_at_its_absolute_lifetime_however_often_it_is_used() {
    let app = TestApp::new().await;
    let (client, first) = app.signed_in_tokens().await;
    let mut refresh = first["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        app.clock.advance(Duration::days(10) - Duration::seconds(1));
        let response = app.refresh(&client.id, &refresh).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        refresh = response.json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    app.clock.advance(Duration::seconds(3));
    app.refresh(&client.id, &refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_token_works_only_for_its_own_client() {
    let app = TestApp::new().await;
    let (_, first) = app.signed_in_tokens().await;
    let other = app.register_client(json!({})).await;
    app.refresh(&other.id, first["refresh_token"].as_str().unwrap())
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn unknown_and_missing_grant_types_are_rejected() {
    let app = TestApp::new().await;
    let client = app.register_client(json!({})).await;
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        app.post_form(
            "/oauth/token",
            &[("grant_type", grant), ("client_id", &client.id)],
            &[],
        )
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    app.post_form("/oauth/token", &[("client_id", &client.id)], &[])
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let app = TestApp::new().await;
    let basic = confidential(&app, "client_secret_basic").await;
    let secret = basic.secret.clone().unwrap();
    let form = [("grant_type", "client_credentials")];

    let unknown = app
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", "nope")],
            &[],
        )
        .await;
    unknown.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    let wrong_secret = app
        .post_form_basic("/oauth/token", &form, (&basic.id, "wrong-secret"))
        .await;
    wrong_secret.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(
        wrong_secret
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );

    let wrong_method = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &basic.id),
                ("client_secret", &secret),
            ],
            &[],
        )
        .await;
    wrong_method.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    let no_secret = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &basic.id),
            ],
            &[],
        )
        .await;
    no_secret.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    let ok = app
        .post_form_basic("/oauth/token", &form, (&basic.id, &secret))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}

#[tokio::test]
async fn client_credentials_gives_a_client_token_without_refresh_that_user_routes_refuse() {
    let app = TestApp::new().await;
    let post = confidential(&app, "client_secret_post").await;
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &post.id),
                ("client_secret", post.secret.as_deref().unwrap()),
                ("scope", "openid"),
            ],
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert!(body.get("refresh_token").is_none());
    let access = body["access_token"].as_str().unwrap();
    let claims = jwt_part(access, 1);
    assert_eq!(claims["sub"], format!("client:{}", post.id));
    assert_eq!(claims["roles"], json!([]));

    let me = app.get_bearer("/auth/me", access).await;
    me.assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn client_credentials_from_a_public_client_is_unauthorized_client() {
    let app = TestApp::new().await;
    let public = app.register_client(json!({})).await;
    app.post_form(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &public.id),
        ],
        &[],
    )
    .await
    .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
}

#[tokio::test]
async fn malformed_token_requests_are_400_invalid_request() {
    let app = TestApp::new().await;
    app.post_json("/oauth/token", &json!({"grant_type": "client_credentials"}))
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    app.post_form(
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
        ],
        &[],
    )
    .await
    .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = app.register_client(json!({})).await;
    let (code, verifier) = app.code_for(&session, &client.id).await;
    let response = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", &client.id),
                ("code_verifier", &verifier),
                ("resource", "https://api.example"),
            ],
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_unknown_tokens_are_fine() {
    let app = TestApp::new().await;
    let (client, tokens) = app.signed_in_tokens().await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let other = app.register_client(json!({})).await;

    // Another client can revoke neither it nor its access token (and is told nothing).
    for token in [refresh, access] {
        let foreign = app
            .post_form(
                "/oauth/revoke",
                &[("token", token), ("client_id", &other.id)],
                &[],
            )
            .await;
        assert_eq!(foreign.status, StatusCode::OK);
    }
    assert_eq!(
        app.get_bearer("/auth/me", access).await.status,
        StatusCode::OK
    );
    let unknown = app
        .post_form(
            "/oauth/revoke",
            &[("token", "no-such-token"), ("client_id", &client.id)],
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);

    let revoked = app
        .post_form(
            "/oauth/revoke",
            &[("token", refresh), ("client_id", &client.id)],
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    app.refresh(&client.id, refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        app.get_bearer("/auth/me", access).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn revoking_an_access_token_deny_lists_it() {
    let app = TestApp::new().await;
    let (client, tokens) = app.signed_in_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let revoked = app
        .post_form(
            "/oauth/revoke",
            &[
                ("token", access),
                ("token_type_hint", "access_token"),
                ("client_id", &client.id),
            ],
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        app.get_bearer("/auth/me", access).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn introspection_reports_live_tokens_to_confidential_clients_only() {
    let app = TestApp::new().await;
    let (public, tokens) = app.signed_in_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let resource_server = confidential(&app, "client_secret_basic").await;
    let rs = (
        resource_server.id.as_str(),
        resource_server.secret.as_deref().unwrap(),
    );

    let active = app
        .post_form_basic("/oauth/introspect", &[("token", access)], rs)
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.text());
    let body = active.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], public.id.as_str());
    assert_eq!(body["scope"], "email openid profile");
    assert_eq!(body["iss"], "http://localhost:8000");
    assert_eq!(body["aud"], "http://localhost:8000");
    for member in ["sub", "exp", "iat"] {
        assert!(!body[member].is_null(), "{member} missing");
    }

    let garbage = app
        .post_form_basic("/oauth/introspect", &[("token", "garbage")], rs)
        .await;
    assert_eq!(garbage.json(), json!({"active": false}));

    let by_public = app
        .post_form(
            "/oauth/introspect",
            &[("token", access), ("client_id", &public.id)],
            &[],
        )
        .await;
    by_public.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let anonymous = app
        .post_form("/oauth/introspect", &[("token", access)], &[])
        .await;
    anonymous.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    app.post_form(
        "/oauth/revoke",
        &[("token", access), ("client_id", &public.id)],
        &[],
    )
    .await;
    let after = app
        .post_form_basic("/oauth/introspect", &[("token", access)], rs)
        .await;
    assert_eq!(after.json(), json!({"active": false}));
}

#[tokio::test]
async fn a_confidential_client_can_introspect_its_own_refresh_tokens() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let client = confidential(&app, "client_secret_basic").await;
    let credentials = (client.id.as_str(), client.secret.as_deref().unwrap());
    let (code, verifier) = app.code_for(&session, &client.id).await;
    let tokens = app
        .post_form_basic(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
            credentials,
        )
        .await
        .json();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let body = app
        .post_form_basic("/oauth/introspect", &[("token", refresh)], credentials)
        .await
        .json();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["aud"], "http://localhost:8000");
    assert_eq!(body["client_id"], client.id.as_str());
}

#[tokio::test]
async fn client_ids_the_database_could_not_store_are_unknown_clients_not_errors() {
    let app = TestApp::new().await;
    for id in ["a\u{0}b", "\u{0}", &"x".repeat(300), "é"] {
        app.post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", id)],
            &[],
        )
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        app.post_form_basic(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            (id, "s"),
        )
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

#[tokio::test]
async fn introspection_reports_the_access_token_of_a_deactivated_user_inactive() {
    let app = TestApp::new().await;
    let (_, tokens) = app.signed_in_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let resource_server = confidential(&app, "client_secret_basic").await;
    let rs = (
        resource_server.id.as_str(),
        resource_server.secret.as_deref().unwrap(),
    );
    let form = [("token", access)];
    let introspect = || app.post_form_basic("/oauth/introspect", &form, rs);
    assert_eq!(introspect().await.json()["active"], true);

    // Deactivated in the store, without the deny-listing the admin API adds.
    let user = UserId::from_uuid(app.user_id_of(access).await.parse().unwrap());
    app.repos
        .users
        .deactivate(user, app.clock.now())
        .await
        .unwrap();
    assert_eq!(introspect().await.json(), json!({"active": false}));
}

#[tokio::test]
async fn a_client_without_the_refresh_grant_gets_no_refresh_token_and_cannot_refresh() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("norefresh@example.com").await;
    let client = app
        .register_client(json!({"grant_types": ["authorization_code"]}))
        .await;
    let (code, verifier) = app.code_for(&session, &client.id).await;
    let tokens = app.exchange(&client.id, &code, &verifier).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert!(
        tokens.json().get("refresh_token").is_none(),
        "{}",
        tokens.text()
    );

    app.refresh(&client.id, "any-refresh-token")
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
}
