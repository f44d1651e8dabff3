//! Brute-force limits over HTTP: per IP, per account, per client; proxies; shared counters.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use time::Duration;

use auth_service::clock::Clock;

use crate::helpers::{PASSWORD, TestApp, TestResponse};

fn login_request(email: &str, password: &str, forwarded_for: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/auth/login").header(header::CONTENT_TYPE, "application/json");
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request
        .body(Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap()
}

async fn limited_app(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("RATE_LIMIT_ENABLED", "true")];
    env.extend_from_slice(extra);
    let app = TestApp::with_env(&env).await;
    // Counters are fixed windows (a minute, 15 minutes): start at the top of an hour, which
    // begins every one of them, so that moving the clock within a test cannot cross into the
    // next window depending on when the test happens to run.
    let into_hour = app.clock.now().unix_timestamp().rem_euclid(3600);
    app.clock.advance(Duration::seconds(3600 - into_hour));
    app
}

fn assert_throttled(response: &TestResponse) {
    response.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn the_thirty_first_sign_in_from_one_ip_in_a_minute_gets_429() {
    let app = limited_app(&[]).await;
    for i in 0..30 {
        let email = format!("nobody{i}@example.com");
        let response = app
            .send_from("203.0.113.1", login_request(&email, "x", None))
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let response = app
        .send_from("203.0.113.1", login_request("x@example.com", "x", None))
        .await;
    assert_throttled(&response);
    // Another client is not affected.
    let other = app
        .send_from("203.0.113.2", login_request("x@example.com", "x", None))
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = limited_app(&[("TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    for i in 0..30 {
        let spoof = format!("198.51.100.{i}");
        let response = app
            .send_from(
                "203.0.113.1",
                login_request(&format!("x{i}@example.com"), "x", Some(&spoof)),
            )
            .await;
        assert_ne!(
            response.status,
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {i}"
        );
    }
    let response = app
        .send_from(
            "203.0.113.1",
            login_request("y@example.com", "x", Some("198.51.100.99")),
        )
        .await;
    assert_throttled(&response);

    // Behind a trusted proxy the forwarded address is the client: distinct clients, no 429.
    for i in 0..40 {
        let client = format!("198.51.100.{i}");
        let response = app
            .send_from(
                "10.1.2.3",
                login_request(&format!("z{i}@example.com"), "x", Some(&client)),
            )
            .await;
        assert_ne!(response.status, StatusCode::TOO_MANY_REQUESTS, "client {i}");
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account_from_any_ip_and_the_lock_expires() {
    let app = limited_app(&[]).await;
    app.register("ada@example.com").await;
    for i in 0..10 {
        let response = app
            .send_from(
                &format!("203.0.113.{i}"),
                login_request("ada@example.com", "wrong", None),
            )
            .await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            // The slow-down: wait it out, as a client following Retry-After would.
            let retry: i64 = response.header("retry-after").unwrap().parse().unwrap();
            app.clock.advance(Duration::seconds(retry));
        }
    }
    // Locked now, even with the right password and from a fresh address.
    let locked = app
        .send_from(
            "198.51.100.1",
            login_request("ada@example.com", PASSWORD, None),
        )
        .await;
    assert_throttled(&locked);

    app.clock.advance(Duration::seconds(60));
    let after = app
        .send_from(
            "198.51.100.1",
            login_request("ada@example.com", PASSWORD, None),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text());
}

#[tokio::test]
async fn the_html_form_answers_429_with_the_form() {
    let app = limited_app(&[("RATE_LIMIT_SIGNIN_PER_IP", "1")]).await;
    let page = app.get("/login", &[]).await;
    let cookie = page.cookie("login_csrf").unwrap();
    let field = crate::helpers::csrf_field(&page.text());
    let post = || {
        let body = serde_urlencoded::to_string([
            ("email", "a@example.com"),
            ("password", "x"),
            ("csrf_token", field.as_str()),
        ])
        .unwrap();
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("login_csrf={cookie}"))
            .body(Body::from(body))
            .unwrap()
    };
    assert_eq!(
        app.send_from("203.0.113.1", post()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let throttled = app.send_from("203.0.113.1", post()).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.header("retry-after").is_some());
    assert!(throttled.text().contains("<form"));
}

#[tokio::test]
async fn registration_counts_against_the_ip_limit() {
    let app = limited_app(&[("RATE_LIMIT_SIGNIN_PER_IP", "2")]).await;
    let register = |i: usize| {
        Request::post("/auth/register")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"email": format!("u{i}@example.com"), "password": PASSWORD, "name": "U"})
                    .to_string(),
            ))
            .unwrap()
    };
    for i in 0..2 {
        assert_eq!(
            app.send_from("203.0.113.1", register(i)).await.status,
            StatusCode::CREATED
        );
    }
    assert_throttled(&app.send_from("203.0.113.1", register(3)).await);
}

#[tokio::test]
async fn the_token_endpoint_limits_each_confidential_client_with_an_oauth_error() {
    let app = limited_app(&[("RATE_LIMIT_TOKEN_PER_CLIENT", "3")]).await;
    let client = app
        .register_client(json!({
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["client_credentials"],
        }))
        .await;
    let secret = client.secret.clone().unwrap();
    let request = |secret: &str| {
        Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "grant_type=client_credentials&client_id={}&client_secret={secret}",
                client.id
            )))
            .unwrap()
    };
    // Someone else's failed attempts with the client's id do not spend its budget.
    for i in 0..10 {
        let response = app
            .send_from(&format!("198.51.100.{i}"), request("wrong"))
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    for i in 0..3 {
        let response = app
            .send_from(&format!("203.0.113.{i}"), request(&secret))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    let throttled = app.send_from("203.0.113.99", request(&secret)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.json()["error"], "temporarily_unavailable");
    assert!(throttled.header("retry-after").is_some());
    assert_eq!(throttled.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn the_token_endpoint_limits_each_ip() {
    let app = limited_app(&[("RATE_LIMIT_TOKEN_PER_CLIENT", "3")]).await;
    let request = || {
        Request::post("/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "grant_type=refresh_token&refresh_token=x&client_id=dev",
            ))
            .unwrap()
    };
    for _ in 0..3 {
        let response = app.send_from("203.0.113.1", request()).await;
        assert_ne!(response.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let throttled = app.send_from("203.0.113.1", request()).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn two_instances_share_counters_through_redis() {
    let Some(conn) = auth_service::repos::redis::testing::connection().await else {
        return;
    };
    let counters = || -> Arc<dyn auth_service::repos::CounterRepo> {
        Arc::new(auth_service::repos::redis::RedisCounterRepo::new(
            conn.clone(),
        ))
    };
    let mut repos_a = auth_service::repos::memory::repos();
    repos_a.counters = counters();
    let repos_b = auth_service::repos::Repos {
        counters: counters(),
        ..auth_service::repos::memory::repos()
    };
    let env = [
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_SIGNIN_PER_IP", "4"),
    ];
    let a = TestApp::with(&env, repos_a).await;
    let b = TestApp::with(&env, repos_b).await;
    // A fresh address per run: Redis keeps counters between test runs.
    let ip = format!("10.{}.{}.{}", rand_octet(), rand_octet(), rand_octet());
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());

    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        let response = app.send_from(&ip, login_request(&email, "x", None)).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_throttled(&a.send_from(&ip, login_request(&email, "x", None)).await);
    assert_throttled(&b.send_from(&ip, login_request(&email, "x", None)).await);
}

fn rand_octet() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

#[tokio::test]
async fn authorization_requests_are_limited_per_ip() {
    let app = limited_app(&[("RATE_LIMIT_AUTHORIZE_PER_IP", "2")]).await;
    let authorize = |ip: &'static str| {
        let request = Request::get("/oauth/authorize?client_id=nobody")
            .body(Body::empty())
            .unwrap();
        app.send_from(ip, request)
    };
    for _ in 0..2 {
        // An unknown client: the 400 page, after the limit let the request through.
        assert_eq!(
            authorize("203.0.113.7").await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert_throttled(&authorize("203.0.113.7").await);
    assert_eq!(
        authorize("203.0.113.8").await.status,
        StatusCode::BAD_REQUEST
    );

    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        authorize("203.0.113.7").await.status,
        StatusCode::BAD_REQUEST
    );
}
