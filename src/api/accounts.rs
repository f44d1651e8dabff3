//! JSON account endpoints: `POST /auth/register`, `POST /auth/login`, `POST /auth/logout`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::extract::{AppJson, ClientIp, bearer_token};
use super::{AppState, cookies};
use crate::domain::{User, UserId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register_user))
        .route("/auth/login", post(login_user))
        .route("/auth/logout", post(logout_user))
}

/// Unknown fields (such as `roles`) are ignored: nothing a client sends can set them.
#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
    password: SecretString,
    name: String,
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: SecretString,
}

/// The public view of an account.
#[derive(Serialize)]
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

/// 201 with the account and a session cookie; 409 duplicate email; 422 invalid input;
/// 403 when registration is disabled.
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

/// 200 with the account and a session cookie; 401 with one generic message otherwise.
/// 429 with `Retry-After` past the per-IP limit or while the account is locked out.
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

/// 204 always: ends the session (if any), clears the cookie, and deny-lists the presented
/// access token (if any) until it expires.
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
