//! Drives every endpoint with known secrets at `LOG_LEVEL=debug`, captures everything the
//! service logs, and fails if any secret appears. One test in its own binary: it owns the
//! process-wide subscriber.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "shared with the API tests; this test uses a part")]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use auth_service::config::{AppEnv, LogLevel};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use serde_json::json;

use helpers::{PASSWORD, REDIRECT_URI, TestApp, csrf_field, pkce, redirect_param};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_at_debug_level() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(auth_service::telemetry::subscriber(
        AppEnv::Test,
        LogLevel::Debug,
        capture.clone(),
    ))
    .unwrap();
    let app = TestApp::with_env(&[("LOG_LEVEL", "debug"), ("RATE_LIMIT_ENABLED", "true")]).await;
    let mut secrets: Vec<String> = vec![PASSWORD.to_owned()];

    // Accounts: register, JSON sign-in (right and wrong), the HTML form, logout.
    let registered = app.register("ada@example.com").await;
    secrets.push(registered.cookie("session").unwrap());
    let wrong = "wrong-password-9f2c";
    secrets.push(wrong.to_owned());
    app.post_json(
        "/auth/login",
        &json!({"email": "ada@example.com", "password": wrong}),
    )
    .await;
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    let session = login.cookie("session").unwrap();
    secrets.push(session.clone());
    let page = app.get("/login?next=/x", &[]).await;
    let csrf = page.cookie("login_csrf").unwrap();
    assert_eq!(csrf, csrf_field(&page.text()));
    secrets.push(csrf.clone());
    let form = app
        .post_form(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/x"),
                ("csrf_token", &csrf),
            ],
            &[("login_csrf", &csrf)],
        )
        .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER);
    secrets.push(form.cookie("session").unwrap());

    // OAuth: a confidential client, the code flow, refresh, introspection, revocation.
    let client = app
        .register_client(json!({
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }))
        .await;
    let client_secret = client.secret.clone().unwrap();
    secrets.push(client_secret.clone());
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{client_secret}", client.id));
    secrets.push(basic.clone());
    let (verifier, challenge) = pkce();
    secrets.push(verifier.clone());
    let authorized = app
        .authorize(
            Some(&session),
            &client.id,
            &challenge,
            &[("state", "state-secret-77")],
        )
        .await;
    let code = redirect_param(&authorized, "code").unwrap();
    secrets.push(code.clone());
    let credentials = (client.id.as_str(), client_secret.as_str());
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
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A replay (logged as a warning) must not log the code either.
    app.post_form_basic(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
        credentials,
    )
    .await;
    let (_, fresh) = app.user_tokens("bob@example.com", None).await;
    let fresh_access = fresh["access_token"].as_str().unwrap().to_owned();
    let fresh_refresh = fresh["refresh_token"].as_str().unwrap().to_owned();
    secrets.extend([
        access.clone(),
        refresh.clone(),
        fresh_access.clone(),
        fresh_refresh.clone(),
    ]);
    let rotated = app
        .refresh(&auth_service_client(&fresh_access), &fresh_refresh)
        .await
        .json();
    let rotated_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(rotated_refresh.clone());
    // Reuse: logged as a warning.
    app.refresh(&auth_service_client(&fresh_access), &fresh_refresh)
        .await;
    let machine = app
        .post_form_basic(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            credentials,
        )
        .await
        .json();
    secrets.push(machine["access_token"].as_str().unwrap().to_owned());
    app.post_form_basic(
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        (&client.id, "wrong-secret-31"),
    )
    .await;
    secrets.push("wrong-secret-31".to_owned());
    app.post_form_basic("/oauth/introspect", &[("token", &access)], credentials)
        .await;
    app.post_form_basic("/oauth/revoke", &[("token", &refresh)], credentials)
        .await;

    // Bearer routes, admin routes and logout with both a cookie and a bearer token.
    app.get_bearer("/auth/me", &fresh_access).await;
    app.get_bearer("/auth/me", "forged.token.value").await;
    secrets.push("forged.token.value".to_owned());
    app.promote("ada@example.com").await;
    let (_, admin) = app.user_tokens_of_existing("ada@example.com").await;
    let admin_access = admin["access_token"].as_str().unwrap().to_owned();
    secrets.push(admin_access.clone());
    app.send_bearer("GET", "/admin/users", &admin_access, None)
        .await;
    let me = app.get_bearer("/auth/me", &admin_access).await.json();
    let id = me["id"].as_str().unwrap();
    app.send_bearer(
        "PATCH",
        &format!("/users/{id}"),
        &admin_access,
        Some(&json!({"name": "Ada"})),
    )
    .await;
    let logout = Request::post("/auth/logout")
        .header(header::COOKIE, format!("session={session}"))
        .header(header::AUTHORIZATION, format!("Bearer {fresh_access}"))
        .body(Body::empty())
        .unwrap();
    app.send(logout).await;
    // Lock-outs log too: fail until throttled.
    for _ in 0..8 {
        app.post_json(
            "/auth/login",
            &json!({"email": "bob@example.com", "password": wrong}),
        )
        .await;
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 40,
        "too little was logged to prove anything:\n{logs}"
    );
    assert!(logs.contains("\"level\":\"DEBUG\"") || logs.contains("request finished"));
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret was logged: {secret}\n{logs}"
        );
    }
    // Headers by name, in case some layer logged them whole.
    for line in logs.lines() {
        let lower = line.to_ascii_lowercase();
        for pattern in [
            "\"authorization\"",
            "bearer ",
            "basic ",
            "\"cookie\"",
            "set-cookie",
        ] {
            assert!(!lower.contains(pattern), "{pattern} was logged: {line}");
        }
    }
}

/// The `client_id` claim of a token (its issuing client).
fn auth_service_client(access: &str) -> String {
    helpers::jwt_claims(access)["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}
