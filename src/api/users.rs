//! Bearer-protected account routes: `GET /auth/me`, `PATCH /users/{id}`, and the admin API.
//! Each authorizes through the [`Principal`] checks; none inspects roles itself.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Problem, Result};
use super::extract::{AppJson, AppPath, AppQuery};
use crate::domain::{Role, User, UserId};
use crate::services::{self, Forbidden, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(update_user))
        .routes(routes!(list_users))
        .routes(routes!(set_user_roles))
        .routes(routes!(disable_user))
}

/// The `/auth/me` shape, used by every route here.
#[derive(Serialize, ToSchema)]
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

/// The caller's profile.
///
/// The caller's account as stored now. Needs a user token with scope `profile`; a session
/// cookie is not enough.
#[utoipa::path(get, path = "/auth/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = ProfileView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `profile`", body = Problem, content_type = "application/problem+json"),
    ))]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    name: String,
}

/// Rename a user.
///
/// 200 with the updated account; 403 for anyone but the user or an admin, whether or not the
/// id exists; 404 for an unknown id (admins only).
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The updated account", body = ProfileView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither this user nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user (admins only)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, or a field that may not be changed", body = Problem, content_type = "application/problem+json"),
    ))]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct UserPageView {
    items: Vec<ProfileView>,
    next_cursor: Option<String>,
}

/// List users.
///
/// Admins only: users in id order, `limit` 1–100 (default 50), `cursor` from the last page.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page of users", body = UserPageView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    /// `user` and `admin`.
    roles: Vec<String>,
}

/// Set a user's roles.
///
/// Admins only: replaces the roles (`user` is always kept); the next token carries them.
#[utoipa::path(put, path = "/admin/users/{id}/roles", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The updated account", body = ProfileView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown role", body = Problem, content_type = "application/problem+json"),
    ))]
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

/// Disable a user.
///
/// Admins only: disables the account, ends its sessions, revokes its tokens.
#[utoipa::path(post, path = "/admin/users/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 200, description = "The disabled account", body = ProfileView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ))]
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
