//! JSON account endpoints: `POST /auth/register`, `POST /auth/login`, `POST /auth/logout`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::error::{BearerError, Result};
use super::extract::{AppJson, Principal};
use super::{AppState, cookies};
use crate::domain::{Role, User, UserId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register_user))
        .route("/auth/login", post(login_user))
        .route("/auth/logout", post(logout_user))
        .route("/auth/me", get(get_me))
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
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<Response> {
    let user = state
        .accounts
        .register(&request.email, request.password, &request.name)
        .await?;
    signed_in(&state, &user, StatusCode::CREATED).await
}

/// 200 with the account and a session cookie; 401 with one generic message otherwise.
async fn login_user(
    State(state): State<AppState>,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<Response> {
    let user = state
        .accounts
        .authenticate(&request.email, request.password)
        .await?;
    signed_in(&state, &user, StatusCode::OK).await
}

/// 204 always: ends the session (if any) and clears the cookie.
async fn logout_user(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(presented) = cookies::read(&headers, state.cookies.session_name()) {
        state.sessions.end(&presented).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.cookies.clear_session()?)],
    )
        .into_response())
}

/// `GET /auth/me` body: the account as stored now (roles included).
#[derive(Serialize)]
struct MeView {
    id: UserId,
    email: String,
    name: String,
    roles: Vec<Role>,
    is_active: bool,
}

/// The caller's account; 401 without a valid bearer token (a session cookie is not enough);
/// 403 for a client's own (`client_credentials`) token.
async fn get_me(State(state): State<AppState>, Principal(claims): Principal) -> Response {
    let Some(user_id) = claims.user_id() else {
        return BearerError::Forbidden("this token acts for a client, not a user").into_response();
    };
    match state.accounts.find(user_id).await {
        Ok(Some(user)) => Json(MeView {
            id: user.id,
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            roles: user.roles.iter().copied().collect(),
            is_active: user.is_active,
        })
        .into_response(),
        Ok(None) => BearerError::InvalidToken.into_response(),
        Err(err) => super::error::ApiError::from(err).into_response(),
    }
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
