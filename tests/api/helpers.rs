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
pub const REDIRECT_URI: &str = "https://app.example/callback";

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = format!(
        "{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Writes a new ES256 private key to a temporary file and returns its path.
pub fn key_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("auth-service-test-{}.pem", uuid::Uuid::new_v4()));
    let pem = auth_service::services::keys::generate_private_key_pem().unwrap();
    std::fs::write(&path, pem).unwrap();
    path
}

/// A registered client's credentials.
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

pub struct TestApp {
    router: Router,
    pub clock: ManualClock,
    /// The app's storage, for arranging state no endpoint may create (an admin, say).
    pub repos: Repos,
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
        // Limits are off unless a test turns them on: most tests sign in far more often than
        // a person would. tests/api/limits.rs covers them.
        let mut pairs = vec![
            ("APP_ENV", "test"),
            ("ARGON2_MEMORY_KIB", "64"),
            ("ARGON2_ITERATIONS", "1"),
            ("RATE_LIMIT_ENABLED", "false"),
        ];
        pairs.extend_from_slice(extra);
        let config = Config::from_pairs(&pairs).unwrap();
        let clock = ManualClock::starting_now();
        let state = app::build_state(&config, repos.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        Self {
            router: api::router(state),
            clock,
            repos,
        }
    }

    /// A prod-configured app (on in-memory repositories despite the nominal DATABASE_URL).
    pub async fn prod(extra: &[(&str, &str)]) -> Self {
        let key = key_file();
        let mut pairs = vec![
            ("APP_ENV", "prod"),
            ("DATABASE_URL", "postgres://unused/unused"),
            ("ISSUER", "https://auth.example"),
            ("JWT_SIGNING_KEY_FILE", key.to_str().unwrap()),
        ];
        pairs.extend_from_slice(extra);
        Self::with(&pairs, memory::repos()).await
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

    pub async fn post_form_basic(
        &self,
        uri: &str,
        fields: &[(&str, &str)],
        basic: (&str, &str),
    ) -> TestResponse {
        use base64::Engine as _;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", basic.0, basic.1));
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {credentials}"))
            .body(Body::from(serde_urlencoded::to_string(fields).unwrap()))
            .unwrap();
        self.send(request).await
    }

    pub async fn get_bearer(&self, uri: &str, token: &str) -> TestResponse {
        let request = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// Registers a client with the given metadata merged over a public code-flow client.
    pub async fn register_client(&self, metadata: Value) -> TestClient {
        let mut body = serde_json::json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        });
        for (key, value) in metadata.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = self.post_json("/oauth/clients", &body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        let json = response.json();
        TestClient {
            id: json["client_id"].as_str().unwrap().to_owned(),
            secret: json["client_secret"].as_str().map(str::to_owned),
        }
    }

    /// `GET /oauth/authorize` with a session and the usual parameters, `extra` overriding.
    pub async fn authorize(
        &self,
        session: Option<&str>,
        client_id: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> TestResponse {
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
        ];
        for (key, value) in extra {
            params.retain(|(k, _)| k != key);
            if !value.is_empty() {
                params.push((key, value));
            }
        }
        let uri = format!(
            "/oauth/authorize?{}",
            serde_urlencoded::to_string(&params).unwrap()
        );
        let cookies: Vec<(&str, &str)> = session.map(|s| ("session", s)).into_iter().collect();
        self.get(&uri, &cookies).await
    }

    /// A fresh code for `client_id` and the verifier that redeems it.
    pub async fn code_for(&self, session: &str, client_id: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let response = self
            .authorize(Some(session), client_id, &challenge, &[])
            .await;
        assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
        let code = redirect_param(&response, "code").expect("code in redirect");
        (code, verifier)
    }

    /// Exchanges a code as a public client.
    pub async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> TestResponse {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", client_id),
                ("code_verifier", verifier),
            ],
            &[],
        )
        .await
    }

    /// Refreshes as a public client.
    pub async fn refresh(&self, client_id: &str, refresh_token: &str) -> TestResponse {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
            ],
            &[],
        )
        .await
    }

    /// Refreshes as a public client, asking for `scope`.
    pub async fn refresh_with_scope(
        &self,
        client_id: &str,
        refresh_token: &str,
        scope: &str,
    ) -> TestResponse {
        self.post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
                ("scope", scope),
            ],
            &[],
        )
        .await
    }

    /// Grants `admin` to the account with this email, straight in the store (as
    /// `create-admin` does).
    pub async fn promote(&self, email: &str) {
        let email = auth_service::domain::Email::parse(email).unwrap();
        let user = self
            .repos
            .users
            .find_by_email(&email)
            .await
            .unwrap()
            .unwrap();
        let roles = std::collections::BTreeSet::from([
            auth_service::domain::Role::User,
            auth_service::domain::Role::Admin,
        ]);
        self.repos
            .users
            .set_roles(user.id, &roles, user.updated_at)
            .await
            .unwrap();
    }

    /// Registers `email`, runs the code flow for a new public client (with `scope`, or the
    /// client's default), and returns the client and the token response.
    pub async fn user_tokens(&self, email: &str, scope: Option<&str>) -> (TestClient, Value) {
        let session = self.signed_in_session(email).await;
        let client = self.register_client(serde_json::json!({})).await;
        let (verifier, challenge) = pkce();
        let extra: Vec<(&str, &str)> = scope.map(|s| ("scope", s)).into_iter().collect();
        let response = self
            .authorize(Some(&session), &client.id, &challenge, &extra)
            .await;
        let code = redirect_param(&response, "code").expect("code in redirect");
        let response = self.exchange(&client.id, &code, &verifier).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        (client, response.json())
    }

    /// An access token of a new admin user.
    pub async fn admin_token(&self) -> String {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        self.signed_in_session(&email).await;
        self.promote(&email).await;
        let (_, tokens) = self.user_tokens_of_existing(&email).await;
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    /// Like `user_tokens` for an account that already exists (signs in with `PASSWORD`).
    pub async fn user_tokens_of_existing(&self, email: &str) -> (TestClient, Value) {
        let login = self
            .post_json(
                "/auth/login",
                &serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        let session = login.cookie("session").expect("signed in");
        let client = self.register_client(serde_json::json!({})).await;
        let (code, verifier) = self.code_for(&session, &client.id).await;
        let response = self.exchange(&client.id, &code, &verifier).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        (client, response.json())
    }

    pub async fn send_bearer(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(request.body(body).unwrap()).await
    }

    /// The id of the user a token acts for (from `/auth/me`).
    pub async fn user_id_of(&self, token: &str) -> String {
        let me = self.get_bearer("/auth/me", token).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
        me.json()["id"].as_str().unwrap().to_owned()
    }

    /// A user session, a public client, and the token response of a code exchange.
    pub async fn signed_in_tokens(&self) -> (TestClient, Value) {
        let session = self
            .signed_in_session(&format!("{}@example.com", uuid::Uuid::new_v4().simple()))
            .await;
        let client = self.register_client(serde_json::json!({})).await;
        let (code, verifier) = self.code_for(&session, &client.id).await;
        let response = self.exchange(&client.id, &code, &verifier).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        (client, response.json())
    }

    /// The router, for clients that send requests themselves.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Sends `request` as if from `peer`.
    pub async fn send_from(&self, peer: &str, mut request: Request<Body>) -> TestResponse {
        let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        self.send(request).await
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

/// A query parameter of the `Location` a response redirects to.
pub fn redirect_param(response: &TestResponse, name: &str) -> Option<String> {
    let location = response.header("location")?;
    let url = url::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl TestResponse {
    pub fn assert_oauth_error(&self, status: StatusCode, error: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.json()["error"], error, "{}", self.text());
        assert!(self.json()["error_description"].is_string());
        assert_eq!(self.header("cache-control"), Some("no-store"));
    }
}

/// The claims of a JWT, unverified (for assertions).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
