//! `/v1/orgs`: organizations and their members. Every route that names an organization goes
//! through the [`OrgScope`] extractor, which reads the caller's org role from the store.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Result};
use super::extract::{AppJson, AppPath};
use crate::domain::{Membership, OrgId, OrgRole, OrgStatus, Organization, UserId};
use crate::services::{self, OrgAccess, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orgs", get(list_orgs).post(create_org))
        .route("/v1/orgs/{id}", get(get_org))
        .route("/v1/orgs/{id}/members", get(list_members).post(add_member))
        .route(
            "/v1/orgs/{id}/members/{user_id}",
            patch(change_member).delete(remove_member),
        )
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

#[derive(Serialize)]
struct OrgView {
    id: OrgId,
    name: String,
    slug: String,
    status: OrgStatus,
    #[serde(with = "time::serde::rfc3339")]
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

#[derive(Serialize)]
struct MemberView {
    user_id: UserId,
    org_role: OrgRole,
    #[serde(with = "time::serde::rfc3339")]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    name: String,
    slug: String,
}

/// 201 with the organization; the caller is its owner. 409 for a taken slug.
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

/// The caller's organizations, with their role in each.
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

/// Members (and platform admins) see the organization.
async fn get_org(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
) -> Result<Json<OrgView>> {
    let org = state.orgs.get(&access).await?;
    Ok(Json(org_view(&org, None)))
}

async fn list_members(
    State(state): State<AppState>,
    OrgScope(access): OrgScope,
) -> Result<Json<Vec<MemberView>>> {
    let members = state.orgs.members(&access).await?;
    Ok(Json(members.iter().map(MemberView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    user_id: Uuid,
    org_role: OrgRole,
}

/// Owners and admins add members; only owners add owners and admins.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeMember {
    org_role: OrgRole,
}

/// Owners change any role; admins only between plain members. 409 for the last owner.
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

/// Owners and admins remove members (only owners remove owners and admins); anyone may leave.
/// 409 for the last owner.
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
