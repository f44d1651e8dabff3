//! `TestApp`: the real router on in-memory (or given) repositories, a movable clock, and cheap
//! Argon2 parameters.

use std::str::FromStr;
use std::sync::Arc;

use auth_service::api;
use auth_service::app;
use auth_service::clock::ManualClock;
use auth_service::config::Config;
use auth_service::repos::{Repos, memory, postgres};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tower::ServiceExt as _;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    router: Router,
    pub clock: ManualClock,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(&[], memory::repos()).await
    }

    /// Extra environment variables on top of the test defaults.
    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        Self::with(extra, memory::repos()).await
    }

    pub async fn with(extra: &[(&str, &str)], repos: Repos) -> Self {
        let mut pairs = vec![
            ("APP_ENV", "test"),
            ("ARGON2_MEMORY_KIB", "64"),
            ("ARGON2_ITERATIONS", "1"),
        ];
        pairs.extend_from_slice(extra);
        let config = Config::from_pairs(&pairs).unwrap();
        let clock = ManualClock::starting_now();
        let state = app::build_state(&config, repos, Arc::new(clock.clone()))
            .await
            .unwrap();
        Self {
            router: api::router(state),
            clock,
        }
    }

    /// Repositories on a Postgres that refuses connections (port 1 on loopback): a database
    /// that is down.
    pub async fn with_unreachable_database() -> Self {
        let options = PgConnectOptions::from_str("postgres://postgres@127.0.0.1:1/none").unwrap();
        let pool = PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(500))
            .connect_lazy_with(options);
        Self::with(&[], postgres::repos(pool)).await
    }

    /// Registers `email` and returns the session cookie value it got.
    pub async fn signed_in_session(&self, email: &str) -> String {
        self.register(email).await.cookie("session").unwrap()
    }

    /// Whether `session` is live: `GET /login` then skips the form and redirects.
    pub async fn is_signed_in(&self, session: &str) -> bool {
        let response = self.get("/login?next=/x", &[("session", session)]).await;
        match response.status {
            StatusCode::SEE_OTHER => true,
            StatusCode::OK => false,
            other => panic!("GET /login answered {other}"),
        }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str, cookies: &[(&str, &str)]) -> TestResponse {
        let request = Request::get(uri)
            .header(header::COOKIE, cookie_header(cookies))
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> TestResponse {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub async fn post_form(
        &self,
        uri: &str,
        fields: &[(&str, &str)],
        cookies: &[(&str, &str)],
    ) -> TestResponse {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie_header(cookies))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    pub async fn register(&self, email: &str) -> TestResponse {
        let response = self
            .post_json(
                "/auth/register",
                &serde_json::json!({"email": email, "password": PASSWORD, "name": "Test"}),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response
    }
}

fn cookie_header(cookies: &[(&str, &str)]) -> String {
    cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The whole `Set-Cookie` line for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|line| line.starts_with(&format!("{name}=")))
    }

    /// Just the value the response sets for cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let line = self.set_cookie(name)?;
        let pair = line.split(';').next()?;
        Some(pair.split_once('=')?.1.to_owned())
    }

    pub fn assert_problem(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(body["status"], status.as_u16());
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], status.canonical_reason().unwrap());
        assert!(body["detail"].is_string());
        body
    }
}

/// The hidden CSRF field of a rendered sign-in page.
pub fn csrf_field(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("csrf field") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}
