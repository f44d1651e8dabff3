//! `/v1/orgs`: organizations and their members. Every route that names an organization goes
//! through the [`OrgScope`] extractor, which reads the caller's org role from the store.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Problem, Result};
use super::extract::{AppJson, AppPath};
use crate::domain::{Membership, OrgId, OrgRole, OrgStatus, Organization, UserId};
use crate::services::{self, OrgAccess, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org))
        .routes(routes!(list_members, add_member))
        .routes(routes!(change_member, remove_member))
}

/// The caller's access to the organization in the path. A malformed id names nothing: 403 for
/// anyone but a platform admin (like any org they are not in), 404 for a platform admin.
pub struct OrgScope(pub OrgAccess);

impl FromRequestParts<AppState> for OrgScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let principal = Principal::from_request_parts(parts, state).await?;
        // An unreadable path names no organization: the guard then answers as for any other.
        let params = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Path(params)| params)
            .unwrap_or_default();
        let org = params
            .iter()
            .find(|(name, _)| name == "id")
            .and_then(|(_, value)| Uuid::parse_str(value).ok())
            .map(OrgId::from_uuid);
        Ok(Self(state.orgs.access(&principal, org).await?))
    }
}

#[derive(Serialize, ToSchema)]
struct OrgView {
    id: OrgId,
    name: String,
    slug: String,
    status: OrgStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// The caller's role, when they are a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    org_role: Option<OrgRole>,
}

fn org_view(org: &Organization, org_role: Option<OrgRole>) -> OrgView {
    OrgView {
        id: org.id,
        name: org.name.as_str().to_owned(),
        slug: org.slug.as_str().to_owned(),
        status: org.status,
        created_at: org.created_at,
        org_role,
    }
}

#[derive(Serialize, ToSchema)]
struct MemberView {
    user_id: UserId,
    org_role: OrgRole,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    joined_at: OffsetDateTime,
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        Self {
            user_id: m.user_id,
            org_role: m.role,
            joined_at: m.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    name: String,
    /// Lowercase letters, digits and single hyphens.
    #[schema(example = "acme")]
    slug: String,
}

/// Create an organization.
///
/// 201 with the organization; the caller is its owner. 409 for a taken slug.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])),
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Created; the caller is its owner", body = OrgView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or slug", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_org(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<CreateOrg>,
) -> Result<Response> {
    let org = state
        .orgs
        .create(&principal, &body.name, &body.slug)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(org_view(&org, Some(OrgRole::Owner))),
    )
        .into_response())
}

/// List my organizations.
///
/// The caller's organizations, with their role in each.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's organizations", body = Vec<OrgView>),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_orgs(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<OrgView>>> {
    let orgs = state.orgs.mine(&principal).await?;
    Ok(Json(
        orgs.iter()
            .map(|(org, role)| org_view(org, Some(*role)))
            .collect(),
    ))
}

/// Get an organization.
///
/// Members (and platform admins) see the organization; anyone else gets 403, whether or
/// not it exists.
#[utoipa::path(get, path = "/v1/orgs/{id}", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id (a UUID)")),
    responses(
        (status = 200, description = "The organization", body = OrgView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization (platform admins only)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_org(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
) -> Result<Json<OrgView>> {
    let org = state.orgs.get(&access).await?;
    Ok(Json(org_view(&org, None)))
}

/// List members.
#[utoipa::path(get, path = "/v1/orgs/{id}/members", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id (a UUID)")),
    responses(
        (status = 200, description = "The members", body = Vec<MemberView>),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization (platform admins only)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_members(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
) -> Result<Json<Vec<MemberView>>> {
    let members = state.orgs.members(&access).await?;
    Ok(Json(members.iter().map(MemberView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddMember {
    user_id: Uuid,
    org_role: OrgRole,
}

/// Add a member.
///
/// Owners and admins add members; only owners add owners and admins.
#[utoipa::path(post, path = "/v1/orgs/{id}/members", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id (a UUID)")),
    request_body = AddMember,
    responses(
        (status = 201, description = "Added", body = MemberView),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to add this role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_member(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
    AppJson(body): AppJson<AddMember>,
) -> Result<Response> {
    let membership = state
        .orgs
        .add_member(&access, UserId::from_uuid(body.user_id), body.org_role)
        .await?;
    Ok((StatusCode::CREATED, Json(MemberView::from(&membership))).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeMember {
    org_role: OrgRole,
}

/// Change a member's role.
///
/// Owners change any role; admins only between plain members. 409 for the last owner.
#[utoipa::path(patch, path = "/v1/orgs/{id}/members/{user_id}", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id (a UUID)"), ("user_id" = String, Path, description = "The member's user id (a UUID)")),
    request_body = ChangeMember,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to make this change", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn change_member(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
    AppPath((_, user_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<ChangeMember>,
) -> Result<StatusCode> {
    let user = member_id(&user_id)?;
    state.orgs.change_role(&access, user, body.org_role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member, or leave.
///
/// Owners and admins remove members (only owners remove owners and admins); anyone may leave.
/// 409 for the last owner.
#[utoipa::path(delete, path = "/v1/orgs/{id}/members/{user_id}", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The organization's id (a UUID)"), ("user_id" = String, Path, description = "The member's user id (a UUID)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to remove this member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no owner", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
    AppPath((_, user_id)): AppPath<(String, String)>,
) -> Result<StatusCode> {
    let user = member_id(&user_id)?;
    state.orgs.remove_member(&access, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member id in a path (the caller is already known to be in the org): malformed is 404.
fn member_id(raw: &str) -> Result<UserId> {
    Uuid::parse_str(raw)
        .map(UserId::from_uuid)
        .map_err(|_| services::Error::NotFound.into())
}
