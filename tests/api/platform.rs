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
