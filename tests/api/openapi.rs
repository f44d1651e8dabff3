//! The OpenAPI document, `/docs` and `/metrics`: which environments expose them, that the
//! document and the router agree, and what the metrics count.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

/// Every operation the API contract names, plus the exposure routes a test instance with
/// metrics on serves. A route added to the router must be added here, and shows up in the
/// document only if it is registered through its `#[utoipa::path]`.
const EXPECTED: &[&str] = &[
    "GET /.well-known/jwks.json",
    "GET /.well-known/oauth-authorization-server",
    "GET /admin/users",
    "POST /admin/users/{id}/disable",
    "PUT /admin/users/{id}/roles",
    "POST /auth/login",
    "POST /auth/logout",
    "GET /auth/me",
    "POST /auth/register",
    "GET /health",
    "GET /login",
    "POST /login",
    "GET /metrics",
    "GET /oauth/authorize",
    "POST /oauth/clients",
    "POST /oauth/introspect",
    "POST /oauth/revoke",
    "POST /oauth/token",
    "GET /openapi.json",
    "GET /ready",
    "PATCH /users/{id}",
    "GET /v1/orgs",
    "POST /v1/orgs",
    "GET /v1/orgs/{id}",
    "GET /v1/orgs/{id}/members",
    "POST /v1/orgs/{id}/members",
    "DELETE /v1/orgs/{id}/members/{user_id}",
    "PATCH /v1/orgs/{id}/members/{user_id}",
];

fn operations(document: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                found.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_document_lists_every_route_and_nothing_else() {
    let app = TestApp::with_env(&[("METRICS_ENABLED", "true")]).await;
    let response = app.get("/openapi.json", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let document = response.json();
    assert_eq!(document["openapi"], "3.1.0");
    let expected: BTreeSet<String> = EXPECTED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(operations(&document), expected);

    // Each documented operation reaches a handler: neither the 404 fallback nor a 405.
    let id = uuid::Uuid::new_v4().to_string();
    for operation in &expected {
        let (method, path) = operation.split_once(' ').unwrap();
        let uri = path.replace("{id}", &id).replace("{user_id}", &id);
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let response = app.send(request).await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{operation} is documented but not routed"
        );
        if response.status == StatusCode::NOT_FOUND {
            assert_ne!(
                response.json()["detail"],
                "no resource at this path",
                "{operation} is documented but not routed"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_documents_its_errors_and_every_schema_reference_resolves() {
    let app = TestApp::new().await;
    let document = app.get("/openapi.json", &[]).await.json();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "dangling reference {reference}");
    }
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            assert!(
                responses.get("default").is_some(),
                "{method} {path} has no default (error) response"
            );
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has no summary"
            );
        }
    }
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => into.push(reference.clone()),
                    _ => collect_refs(value, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

#[tokio::test]
async fn prod_serves_neither_the_document_nor_the_docs_nor_metrics_by_default() {
    let app = TestApp::prod(&[]).await;
    for path in ["/openapi.json", "/docs", "/metrics"] {
        let response = app.get(path, &[]).await;
        response.assert_problem(StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn docs_are_browsable_in_dev_only() {
    let test = TestApp::new().await;
    test.get("/docs", &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    let dev = TestApp::with_env(&[("APP_ENV", "dev")]).await;
    let response = dev.get("/docs", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = response.text();
    assert!(html.contains("<code>POST /oauth/token</code>"), "{html}");
    assert!(html.contains("/v1/orgs/{id}/members/{user_id}"));
    // Nothing is loaded from elsewhere, and the page may not load anything.
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert_eq!(
        response.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    // The dev document also lists the page itself.
    let document = dev.get("/openapi.json", &[]).await.json();
    assert!(operations(&document).contains("GET /docs"));
}

#[tokio::test]
async fn metrics_are_off_unless_enabled() {
    let app = TestApp::new().await;
    app.get("/metrics", &[])
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let document = app.get("/openapi.json", &[]).await.json();
    assert!(!operations(&document).contains("GET /metrics"));
}

#[tokio::test]
async fn metrics_count_a_flow_and_carry_no_user_data() {
    let app = TestApp::with_env(&[
        ("METRICS_ENABLED", "true"),
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_SIGNIN_PER_IP", "4"),
    ])
    .await;
    let email = "metrics-user@example.com";
    // Registration (attempt 1 of 4 for this address), the code flow, one rotation.
    let (client, tokens) = app.user_tokens(email, None).await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let rotated = app.refresh(&client.id, &first_refresh).await;
    assert_eq!(rotated.status, StatusCode::OK);
    // The spent refresh token again: reuse.
    app.refresh(&client.id, &first_refresh)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Two wrong passwords (attempts 2 and 3), a right one (4), then the per-IP limit.
    for password in ["wrong-password-1", "wrong-password-2", PASSWORD, PASSWORD] {
        app.post_json(
            "/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await;
    }
    app.get(&format!("/users/{}", uuid::Uuid::new_v4()), &[])
        .await;
    app.get("/no/such/path", &[]).await;
    // Methods outside the standard set share one label, whatever the client invents.
    for method in ["BREW", "PROPFIND"] {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri("/health")
            .body(Body::empty())
            .unwrap();
        app.send(request).await;
    }

    let response = app.get("/metrics", &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    for expected in [
        r#"auth_tokens_issued_total{grant_type="authorization_code"} 1"#,
        r#"auth_tokens_issued_total{grant_type="refresh_token"} 1"#,
        "auth_login_failures_total 2",
        "auth_refresh_token_reuse_detected_total 1",
        r#"auth_rate_limit_rejections_total{limit="sign_in_ip"} 1"#,
        r#"auth_http_requests_total{method="POST",route="/oauth/token",status="200"} 2"#,
        r#"auth_http_requests_total{method="POST",route="/oauth/token",status="400"} 1"#,
        r#"auth_http_requests_total{method="POST",route="/auth/login",status="401"} 2"#,
        r#"auth_http_requests_total{method="POST",route="/auth/login",status="429"} 1"#,
        r#"auth_http_requests_total{method="GET",route="/users/{id}",status="405"} 1"#,
        r#"auth_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"auth_http_requests_total{method="other",route="/health",status="405"} 2"#,
        r#"auth_http_request_duration_seconds_count{method="POST",route="/oauth/token",status="200"} 2"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    // Route templates only: no email, id, client, token or path the client chose.
    for secret in [
        email,
        client.id.as_str(),
        first_refresh.as_str(),
        tokens["access_token"].as_str().unwrap(),
        "/no/such/path",
        "wrong-password",
        "BREW",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into metrics");
    }
}
