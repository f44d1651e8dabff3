//! Security headers, request bounds and CORS.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let responses = [
        app.get("/health", &[]).await,
        app.get("/login", &[]).await,
        app.get("/no/such/path", &[]).await,
        app.get("/.well-known/jwks.json", &[]).await,
        app.post_json(
            "/auth/login",
            &json!({"email": "a@example.com", "password": "x"}),
        )
        .await,
        app.get("/oauth/authorize?client_id=nope", &[("session", &session)])
            .await,
    ];
    for response in &responses {
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert!(response.header("referrer-policy").is_some());
        let csp = response.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            response.header("strict-transport-security").is_none(),
            "HSTS outside prod"
        );
    }
}

#[tokio::test]
async fn responses_are_not_cached_unless_they_say_so() {
    let app = TestApp::new().await;
    let (_, tokens) = app.signed_in_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    for response in [
        app.get_bearer("/auth/me", access).await,
        app.get("/health", &[]).await,
        app.post_json("/auth/logout", &json!({})).await,
    ] {
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
    let jwks = app.get("/.well-known/jwks.json", &[]).await;
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
}

#[tokio::test]
async fn prod_adds_hsts() {
    let app = TestApp::prod(&[]).await;
    let response = app.get("/health", &[]).await;
    assert_eq!(
        response.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
}

#[tokio::test]
async fn oversized_request_lines_and_headers_are_refused() {
    let app = TestApp::new().await;
    let long = format!("/health?x={}", "a".repeat(9000));
    app.get(&long, &[])
        .await
        .assert_problem(StatusCode::URI_TOO_LONG);

    let mut request = Request::get("/health");
    for i in 0..20 {
        request = request.header(format!("x-filler-{i}"), "b".repeat(1000));
    }
    app.send(request.body(Body::empty()).unwrap())
        .await
        .assert_problem(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

fn preflight(path: &str, origin: &str) -> Request<Body> {
    Request::options(path)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn cors_answers_exactly_the_configured_origins_and_never_on_authorize() {
    let app = TestApp::with_env(&[("CORS_ALLOWED_ORIGINS", "https://spa.example")]).await;

    let allowed = app
        .send(preflight("/oauth/token", "https://spa.example"))
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );

    let other = app
        .send(preflight("/oauth/token", "https://evil.example"))
        .await;
    assert!(other.header("access-control-allow-origin").is_none());

    let authorize = app
        .send(preflight("/oauth/authorize", "https://spa.example"))
        .await;
    assert!(authorize.header("access-control-allow-origin").is_none());
    let simple = Request::get("/oauth/authorize?client_id=x")
        .header(header::ORIGIN, "https://spa.example")
        .body(Body::empty())
        .unwrap();
    assert!(
        app.send(simple)
            .await
            .header("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn without_configured_origins_there_is_no_cors() {
    let app = TestApp::new().await;
    let response = app
        .send(preflight("/oauth/token", "https://spa.example"))
        .await;
    assert!(response.header("access-control-allow-origin").is_none());
}
