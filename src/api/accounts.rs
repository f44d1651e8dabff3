//! JSON account endpoints: `POST /auth/register`, `POST /auth/login`, `POST /auth/logout`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::error::Result;
use super::extract::{AppJson, ClientIp, bearer_token};
use super::{AppState, cookies};
use crate::domain::{User, UserId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_user))
        .routes(routes!(login_user))
        .routes(routes!(logout_user))
}

/// Unknown fields (such as `roles`) are ignored: nothing a client sends can set them.
#[derive(Deserialize, ToSchema)]
struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    /// At least 8 characters.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    name: String,
}

#[derive(Deserialize, ToSchema)]
struct LoginRequest {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// The public view of an account.
#[derive(Serialize, ToSchema)]
struct UserView {
    id: UserId,
    email: String,
    name: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
        }
    }
}

/// Create an account.
///
/// 201 with the account and a session cookie; 409 duplicate email; 422 invalid input;
/// 403 when registration is disabled.
#[utoipa::path(post, path = "/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created and signed in (`Set-Cookie`)", body = UserView),
        (status = 403, description = "Self-service registration is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An account with this email exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, password or name", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address", body = Problem, content_type = "application/problem+json"),
    ))]
async fn register_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<Response> {
    let user = state
        .accounts
        .register_from(ip, &request.email, request.password, &request.name)
        .await?;
    signed_in(&state, &user, StatusCode::CREATED).await
}

/// Sign in with email and password.
///
/// 200 with the account and a session cookie; 401 with one generic message otherwise.
/// 429 with `Retry-After` past the per-IP limit or while the account is locked out.
#[utoipa::path(post, path = "/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in (`Set-Cookie`)", body = UserView),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts, or the account is locked for a while", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<Response> {
    let user = state
        .accounts
        .sign_in(ip, &request.email, request.password)
        .await?;
    signed_in(&state, &user, StatusCode::OK).await
}

/// Sign out.
///
/// 204 always: ends the session (if any), clears the cookie, and deny-lists the presented
/// access token (if any) until it expires.
#[utoipa::path(post, path = "/auth/logout", tag = "accounts",
    security((), ("session" = []), ("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
async fn logout_user(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(presented) = cookies::read(&headers, state.cookies.session_name()) {
        state.sessions.end(&presented).await?;
    }
    if let Some(token) = bearer_token(&headers) {
        state.access.revoke_presented(token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.cookies.clear_session()?)],
    )
        .into_response())
}

async fn signed_in(state: &AppState, user: &User, status: StatusCode) -> Result<Response> {
    let secret = state.sessions.start(user.id).await?;
    let cookie = state
        .cookies
        .set_session(secret.expose(), state.sessions.ttl())?;
    Ok((
        status,
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(UserView::from(user)),
    )
        .into_response())
}
