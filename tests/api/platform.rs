//! Health, readiness, request ids, fallbacks and body limits.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_reports_unconfigured_stores_in_memory_mode() {
    let app = TestApp::new().await;
    let response = app.get("/health", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!({"status": "ok", "database": "not_configured", "redis": "not_configured"})
    );
}

#[tokio::test]
async fn ready_is_200_when_nothing_needs_checking() {
    let app = TestApp::new().await;
    let response = app.get("/ready", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_database_makes_ready_503_and_health_say_down() {
    let app = TestApp::with_unreachable_database().await;

    let ready = app.get("/ready", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["database"], "down");
    let health = app.get("/health", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["database"], "down");
}

#[tokio::test]
async fn a_request_store_outage_is_503_not_500() {
    let app = TestApp::with_unreachable_database().await;

    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "a@example.com", "password": "whatever1"}),
        )
        .await;
    response.assert_problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("5"));

    // The OAuth endpoints answer in their own format, with the same hint.
    let token = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "some-client"),
            ],
            &[],
        )
        .await;
    token.assert_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert_eq!(token.header("retry-after"), Some("5"));
}

#[tokio::test]
async fn a_request_id_is_generated_when_absent() {
    let app = TestApp::new().await;
    let response = app.get("/health", &[]).await;
    let id = response.header("x-request-id").expect("x-request-id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_hostile_one_replaced() {
    let app = TestApp::new().await;
    let request = Request::get("/health")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(request).await.header("x-request-id"),
        Some("abc-123")
    );

    let request = Request::get("/health")
        .header("x-request-id", "a\"} forged")
        .body(Body::empty())
        .unwrap();
    let echoed = app.send(request).await;
    let id = echoed.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn unknown_paths_are_404_problems() {
    let app = TestApp::new().await;
    app.get("/no/such/thing", &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_methods_are_405_problems() {
    let app = TestApp::new().await;
    let request = Request::delete("/health").body(Body::empty()).unwrap();
    app.send(request)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_problems() {
    let app = TestApp::new().await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(70 * 1024), "name": "A"});
    app.post_json("/auth/register", &big)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);

    let form = [
        ("email", "a@example.com"),
        ("password", &*"x".repeat(70 * 1024)),
    ];
    app.post_form("/login", &form, &[])
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn dev_seeds_an_account_whose_constant_hash_matches_its_documented_password() {
    let app = TestApp::with_env(&[("APP_ENV", "dev")]).await;
    let credentials = json!({
        "email": auth_service::app::SEED_EMAIL,
        "password": auth_service::app::SEED_PASSWORD,
    });
    // Twice: the first sign-in also replaces the hash with one at the configured parameters.
    for _ in 0..2 {
        let response = app.post_json("/auth/login", &credentials).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    let wrong = json!({"email": auth_service::app::SEED_EMAIL, "password": "test-passwore"});
    app.post_json("/auth/login", &wrong)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

/// A one-connection server on a free loopback port that answers `reply`.
fn answering(reply: &'static str) -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0_u8; 256];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(reply.as_bytes());
    });
    port
}

#[test]
fn healthcheck_passes_only_on_a_200_from_health() {
    use auth_service::app::healthcheck;
    let wildcard = "0.0.0.0".parse().unwrap();
    let timeout = std::time::Duration::from_secs(2);
    let ok = answering("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(healthcheck(wildcard, ok, timeout), Ok(()));
    let down = answering("HTTP/1.1 503 Service Unavailable\r\n\r\n");
    assert!(
        healthcheck(wildcard, down, timeout)
            .unwrap_err()
            .contains("503")
    );
    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(healthcheck(wildcard, closed, timeout).is_err());
}
