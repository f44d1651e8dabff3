//! `POST /auth/register`, `POST /auth/login`, `POST /auth/logout`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn register_returns_the_account_and_a_session_cookie() {
    let app = TestApp::new().await;
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "  Ada@Example.com ", "password": PASSWORD, "name": " Ada "}),
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let body = response.json();
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], "Ada");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(response.header("cache-control"), Some("no-store"));

    let cookie = response.set_cookie("session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let value = response.cookie("session").unwrap();
    assert!(value.len() >= 43, "session id too short: {value}");
}

#[tokio::test]
async fn the_session_cookie_is_secure_and_host_prefixed_in_prod() {
    let app = TestApp::prod(&[("ALLOW_REGISTRATION", "true")]).await;
    let response = app.register("ada@example.com").await;
    let cookie = response.set_cookie("__Host-session").unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_duplicate_email_is_409_whatever_its_case() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let again = app
        .post_json(
            "/auth/register",
            &json!({"email": "ADA@example.COM", "password": PASSWORD, "name": "Other"}),
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn invalid_registrations_are_422_naming_the_field() {
    let app = TestApp::new().await;
    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(257), "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD, "name": "  "}),
            "name",
        ),
    ] {
        let response = app.post_json("/auth/register", &body).await;
        let problem = response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.starts_with(field), "{detail} should name {field}");
    }
}

#[tokio::test]
async fn registration_can_be_disabled() {
    let app = TestApp::with_env(&[("ALLOW_REGISTRATION", "false")]).await;
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "a@example.com", "password": PASSWORD, "name": "A"}),
        )
        .await;
    response.assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn malformed_bodies_get_problems_that_do_not_echo_the_input() {
    let app = TestApp::new().await;
    let send = |content_type: &'static str, body: &'static str| {
        Request::post("/auth/register")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    app.send(send("application/json", "{not json"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    app.send(send("text/plain", "{}"))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.send(send("application/json", r#"{"email": "a@example.com"}"#))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let wrong_type = app
        .send(send(
            "application/json",
            r#"{"email": "a@example.com", "password": 98765432123, "name": "A"}"#,
        ))
        .await;
    wrong_type.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !wrong_type.text().contains("98765432123"),
        "{}",
        wrong_type.text()
    );
}

#[tokio::test]
async fn login_returns_the_account_and_a_fresh_session() {
    let app = TestApp::new().await;
    let registered = app.register("ada@example.com").await;
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "ADA@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], "ada@example.com");
    let session = response.cookie("session").unwrap();
    assert_ne!(Some(session), registered.cookie("session"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = TestApp::new().await;
    app.register("ada@example.com").await;
    let wrong_password = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown_email = app
        .post_json(
            "/auth/login",
            &json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;

    wrong_password.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.status, unknown_email.status);
    assert_eq!(wrong_password.body, unknown_email.body);
    assert!(wrong_password.set_cookie("session").is_none());
    assert!(unknown_email.set_cookie("session").is_none());
}

#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    assert!(app.is_signed_in(&session).await);

    let request = Request::post("/auth/logout")
        .header(header::COOKIE, format!("session={session}"))
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let cleared = response.set_cookie("session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    assert!(
        !app.is_signed_in(&session).await,
        "the old cookie still signs in"
    );
}

#[tokio::test]
async fn logout_without_a_session_is_still_204() {
    let app = TestApp::new().await;
    let request = Request::post("/auth/logout").body(Body::empty()).unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::NO_CONTENT);
    let request = Request::post("/auth/logout")
        .header(header::COOKIE, "session=made-up")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::NO_CONTENT);
}
