//! The browser sign-in flow: `GET /login` and `POST /login`.

use axum::http::StatusCode;
use time::Duration;

use crate::helpers::{PASSWORD, TestApp, TestResponse, csrf_field};

/// Fetches the form like a browser and returns (csrf cookie value, csrf form field).
async fn open_form(app: &TestApp, next: &str) -> (TestResponse, String, String) {
    let uri = format!("/login?next={}", urlencode(next));
    let page = app.get(&uri, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let cookie = page.cookie("login_csrf").expect("csrf cookie");
    let field = csrf_field(&page.text());
    (page, cookie, field)
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned()
}

async fn submit(
    app: &TestApp,
    email: &str,
    password: &str,
    next: &str,
    csrf: (&str, &str),
) -> TestResponse {
    app.post_form(
        "/login",
        &[
            ("email", email),
            ("password", password),
            ("next", next),
            ("csrf_token", csrf.1),
        ],
        &[("login_csrf", csrf.0)],
    )
    .await
}

#[tokio::test]
async fn the_form_is_html_with_a_csrf_token_matching_its_cookie() {
    let app = TestApp::new().await;
    let (page, cookie, field) = open_form(&app, "/after").await;
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(cookie, field);
    assert!(cookie.len() >= 43);
    let csrf_cookie = page.set_cookie("login_csrf").unwrap();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    assert!(page.text().contains(r#"name="next" value="/after""#));
    assert!(!page.text().contains("<script"));
}

#[tokio::test]
async fn next_is_html_escaped_in_the_form() {
    let app = TestApp::new().await;
    let (page, _, _) = open_form(&app, r#"/x"><script>alert(1)</script>"#).await;
    assert!(!page.text().contains("<script>"), "{}", page.text());
}

#[tokio::test]
async fn signing_in_sets_the_session_and_redirects_to_a_local_next() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let (_, cookie, field) = open_form(&app, "/oauth/authorize?client_id=x").await;

    let response = submit(
        &app,
        "ada@example.com",
        PASSWORD,
        "/oauth/authorize?client_id=x",
        (&cookie, &field),
    )
    .await;

    assert_eq!(
        response.status,
        StatusCode::SEE_OTHER,
        "{}",
        response.text()
    );
    assert_eq!(
        response.header("location"),
        Some("/oauth/authorize?client_id=x")
    );
    let session = response.set_cookie("session").unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    let session = response.cookie("session").unwrap();
    let again = app.get("/login?next=/x", &[("session", &session)]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.header("location"), Some("/x"));
}

#[tokio::test]
async fn an_off_site_next_redirects_to_root() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    for next in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
    ] {
        let (page, cookie, field) = open_form(&app, next).await;
        assert!(page.text().contains(r#"name="next" value="/""#), "{next:?}");
        let response = submit(&app, "ada@example.com", PASSWORD, next, (&cookie, &field)).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(response.header("location"), Some("/"), "{next:?}");
    }
}

#[tokio::test]
async fn a_missing_or_wrong_csrf_token_is_403_with_the_form() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let (_, cookie, field) = open_form(&app, "/").await;

    let no_field = app
        .post_form(
            "/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
            &[("login_csrf", &cookie)],
        )
        .await;
    let no_cookie = app
        .post_form(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &field),
            ],
            &[],
        )
        .await;
    let mismatch = submit(&app, "ada@example.com", PASSWORD, "/", (&cookie, "forged")).await;
    let both_empty = submit(&app, "ada@example.com", PASSWORD, "/", ("", "")).await;

    let repeated = app
        .post_form(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &field),
                ("csrf_token", &field),
            ],
            &[("login_csrf", &cookie)],
        )
        .await;

    for response in [no_field, no_cookie, mismatch, both_empty, repeated] {
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{}",
            response.text()
        );
        assert!(response.text().contains("<form"));
        assert!(response.set_cookie("session").is_none());
    }
}

#[tokio::test]
async fn wrong_credentials_rerender_the_form_with_one_generic_message() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let (_, cookie, field) = open_form(&app, "/").await;

    let wrong_password = submit(&app, "ada@example.com", "nope nope", "/", (&cookie, &field)).await;
    let unknown_email = submit(&app, "bob@example.com", PASSWORD, "/", (&cookie, &field)).await;

    for response in [&wrong_password, &unknown_email] {
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert!(response.text().contains("Invalid email or password."));
        assert!(response.set_cookie("session").is_none());
    }
    assert!(!wrong_password.text().contains("nope nope"));
}

#[tokio::test]
async fn an_expired_session_no_longer_signs_in() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    app.clock.advance(Duration::seconds(1799));
    assert!(app.is_signed_in(&session).await);

    app.clock.advance(Duration::seconds(1));

    assert!(!app.is_signed_in(&session).await);
}

#[tokio::test]
async fn a_form_post_with_the_wrong_content_type_is_a_4xx_problem() {
    let app = TestApp::new().await;
    let response = app.post_json("/login", &serde_json::json!({})).await;
    response.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
