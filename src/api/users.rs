//! Bearer-protected account routes: `GET /auth/me`, `PATCH /users/{id}`, and the admin API.
//! Each authorizes through the [`Principal`] checks; none inspects roles itself.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Result};
use super::extract::{AppJson, AppPath, AppQuery};
use crate::domain::{Role, User, UserId};
use crate::services::{self, Forbidden, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(get_me))
        .route("/users/{id}", patch(update_user))
        .route("/admin/users", get(list_users))
        .route("/admin/users/{id}/roles", put(set_user_roles))
        .route("/admin/users/{id}/disable", post(disable_user))
}

/// The `/auth/me` shape, used by every route here.
#[derive(Serialize)]
struct ProfileView {
    id: UserId,
    email: String,
    name: String,
    roles: Vec<Role>,
    is_active: bool,
}

impl From<&User> for ProfileView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            roles: user.roles.iter().copied().collect(),
            is_active: user.is_active,
        }
    }
}

/// The caller's account as stored now. Needs a user token with scope `profile`; a session
/// cookie is not enough.
async fn get_me(State(state): State<AppState>, principal: Principal) -> Result<Response> {
    principal
        .require_scope("profile")
        .map_err(services::Error::from)?;
    let id = principal.user_id().map_err(services::Error::from)?;
    match state.accounts.find(id).await? {
        Some(user) => Ok(Json(ProfileView::from(&user)).into_response()),
        None => Err(super::error::BearerError::InvalidToken.into()),
    }
}

/// Only `name` may be changed; any other field (`roles`, `email`, …) is refused with 422
/// rather than silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    name: String,
}

/// 200 with the updated account; 403 for anyone but the user or an admin, whether or not the
/// id exists; 404 for an unknown id (admins only).
async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    AppPath(id): AppPath<String>,
    body: Result<AppJson<UpdateUser>, ApiError>,
) -> Result<Json<ProfileView>> {
    principal
        .require_scope("profile")
        .map_err(services::Error::from)?;
    let target = target_user(&principal, &id)?;
    // Permission before the body is read: a refusal never depends on what was sent.
    principal
        .require_self_or_admin(target)
        .map_err(services::Error::from)?;
    let AppJson(body) = body?;
    let user = state
        .accounts
        .rename(&principal, target, &body.name)
        .await?;
    Ok(Json(ProfileView::from(&user)))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct UserPageView {
    items: Vec<ProfileView>,
    next_cursor: Option<String>,
}

/// Admins only: users in id order, `limit` 1–100 (default 50), `cursor` from the last page.
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<AppQuery<ListQuery>, ApiError>,
) -> Result<Json<UserPageView>> {
    let grant = principal.require_admin().map_err(services::Error::from)?;
    let AppQuery(query) = query?;
    let page = state
        .admin
        .list_users(&grant, query.cursor.as_deref(), query.limit.unwrap_or(50))
        .await?;
    Ok(Json(UserPageView {
        items: page.items.iter().map(ProfileView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

/// Admins only: replaces the roles (`user` is always kept); the next token carries them.
async fn set_user_roles(
    State(state): State<AppState>,
    principal: Principal,
    AppPath(id): AppPath<String>,
    body: Result<AppJson<RolesBody>, ApiError>,
) -> Result<Json<ProfileView>> {
    let grant = principal.require_admin().map_err(services::Error::from)?;
    let AppJson(body) = body?;
    let target = parse_id(&id)?;
    let user = state.admin.set_roles(&grant, target, &body.roles).await?;
    Ok(Json(ProfileView::from(&user)))
}

/// Admins only: disables the account, ends its sessions, revokes its tokens.
async fn disable_user(
    State(state): State<AppState>,
    principal: Principal,
    AppPath(id): AppPath<String>,
) -> Result<Json<ProfileView>> {
    let grant = principal.require_admin().map_err(services::Error::from)?;
    let target = parse_id(&id)?;
    let user = state.admin.disable(&grant, target).await?;
    Ok(Json(ProfileView::from(&user)))
}

/// The user a path names. A malformed id names nobody: 403 for a non-admin (as for any other
/// user), 404 for an admin.
fn target_user(principal: &Principal, raw: &str) -> Result<UserId> {
    match Uuid::parse_str(raw) {
        Ok(id) => Ok(UserId::from_uuid(id)),
        Err(_) => match principal.require_admin() {
            Ok(_) => Err(services::Error::NotFound.into()),
            // The same refusal as for a well-formed id of someone else.
            Err(Forbidden::NotAdmin) => {
                Err(services::Error::from(Forbidden::NotSelfOrAdmin).into())
            }
            Err(other) => Err(services::Error::from(other).into()),
        },
    }
}

/// An id in an admin path; a malformed one is an unknown user (404).
fn parse_id(raw: &str) -> Result<UserId> {
    Uuid::parse_str(raw)
        .map(UserId::from_uuid)
        .map_err(|_| ApiError::from(services::Error::NotFound))
}
