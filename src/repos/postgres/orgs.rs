//! Postgres [`OrgRepo`]. Owner-guarded changes run in a transaction that first locks the
//! organization's row, so two of them on one organization never interleave: of two requests
//! removing each of the last two owners, the second sees only one owner left and refuses.

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::map_err;
use crate::domain::{
    DisplayName, Membership, OrgId, OrgRole, OrgStatus, Organization, Slug, UserId,
};
use crate::repos::{OrgActor, OrgRepo, OwnerGuarded, RepoError, Result};

/// Organizations in `organization`, members in `org_membership`.
#[derive(Debug, Clone)]
pub struct PgOrgRepo {
    pool: PgPool,
}

impl PgOrgRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    organization_id: Uuid,
    name: String,
    slug: String,
    status: String,
    created_at: OffsetDateTime,
}

impl TryFrom<OrgRow> for Organization {
    type Error = RepoError;

    fn try_from(row: OrgRow) -> Result<Self> {
        Ok(Self {
            id: OrgId::from_uuid(row.organization_id),
            name: DisplayName::from_stored(row.name),
            slug: Slug::from_stored(row.slug),
            status: OrgStatus::parse(&row.status)
                .ok_or_else(|| RepoError::Unexpected("organization.status unknown".into()))?,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    organization_id: Uuid,
    app_user_id: Uuid,
    org_role: String,
    created_at: OffsetDateTime,
}

fn role(stored: &str) -> Result<OrgRole> {
    OrgRole::parse(stored)
        .ok_or_else(|| RepoError::Unexpected("org_membership.org_role unknown".into()))
}

impl TryFrom<MemberRow> for Membership {
    type Error = RepoError;

    fn try_from(row: MemberRow) -> Result<Self> {
        Ok(Self {
            org_id: OrgId::from_uuid(row.organization_id),
            user_id: UserId::from_uuid(row.app_user_id),
            role: role(&row.org_role)?,
            created_at: row.created_at,
        })
    }
}

/// Locks the organization's row for the rest of the transaction; returns whether `actor`, if
/// any, still holds the role they were checked with.
async fn lock_as(tx: &mut PgConnection, org: OrgId, actor: Option<OrgActor>) -> Result<bool> {
    sqlx::query("SELECT 1 FROM organization WHERE organization_id = $1 FOR UPDATE")
        .bind(org.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let Some(actor) = actor else {
        return Ok(true);
    };
    let held: Option<String> = sqlx::query_scalar(
        "SELECT org_role FROM org_membership WHERE organization_id = $1 AND app_user_id = $2",
    )
    .bind(org.as_uuid())
    .bind(actor.user.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(held.as_deref() == Some(actor.role.as_str()))
}

/// The target's current role and how many other owners there are (under [`lock_as`]).
async fn inspect(
    tx: &mut PgConnection,
    org: OrgId,
    user: UserId,
) -> Result<Option<(OrgRole, i64)>> {
    let current: Option<String> = sqlx::query_scalar(
        "SELECT org_role FROM org_membership WHERE organization_id = $1 AND app_user_id = $2",
    )
    .bind(org.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    let Some(current) = current else {
        return Ok(None);
    };
    let other_owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM org_membership \
         WHERE organization_id = $1 AND app_user_id <> $2 AND org_role = 'owner'",
    )
    .bind(org.as_uuid())
    .bind(user.as_uuid())
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(Some((role(&current)?, other_owners)))
}

#[async_trait]
impl OrgRepo for PgOrgRepo {
    async fn create(&self, org: &Organization, owner: &Membership) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO organization (organization_id, name, slug, status, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org.id.as_uuid())
        .bind(org.name.as_str())
        .bind(org.slug.as_str())
        .bind(org.status.as_str())
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_member(&mut tx, owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn find(&self, id: OrgId) -> Result<Option<Organization>> {
        let row: Option<OrgRow> = sqlx::query_as(
            "SELECT organization_id, name, slug, status, created_at FROM organization \
             WHERE organization_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(Organization::try_from).transpose()
    }

    async fn role_of(&self, org: OrgId, user: UserId) -> Result<Option<OrgRole>> {
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT org_role FROM org_membership WHERE organization_id = $1 AND app_user_id = $2",
        )
        .bind(org.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        stored.as_deref().map(role).transpose()
    }

    async fn orgs_of(&self, user: UserId) -> Result<Vec<(Organization, OrgRole)>> {
        let rows: Vec<(Uuid, String, String, String, OffsetDateTime, String)> = sqlx::query_as(
            "SELECT o.organization_id, o.name, o.slug, o.status, o.created_at, m.org_role \
             FROM org_membership m JOIN organization o USING (organization_id) \
             WHERE m.app_user_id = $1 ORDER BY o.organization_id",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter()
            .map(
                |(organization_id, name, slug, status, created_at, org_role)| {
                    let org = Organization::try_from(OrgRow {
                        organization_id,
                        name,
                        slug,
                        status,
                        created_at,
                    })?;
                    Ok((org, role(&org_role)?))
                },
            )
            .collect()
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Membership>> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT organization_id, app_user_id, org_role, created_at FROM org_membership \
             WHERE organization_id = $1 ORDER BY app_user_id",
        )
        .bind(org.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(Membership::try_from).collect()
    }

    async fn add_member(
        &self,
        membership: &Membership,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if !lock_as(&mut tx, membership.org_id, actor).await? {
            return Ok(OwnerGuarded::RoleChanged);
        }
        insert_member(&mut tx, membership).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(OwnerGuarded::Done)
    }

    async fn set_role(
        &self,
        org: OrgId,
        user: UserId,
        new_role: OrgRole,
        expected: OrgRole,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if !lock_as(&mut tx, org, actor).await? {
            return Ok(OwnerGuarded::RoleChanged);
        }
        let Some((current, other_owners)) = inspect(&mut tx, org, user).await? else {
            return Ok(OwnerGuarded::NotMember);
        };
        if current != expected {
            return Ok(OwnerGuarded::RoleChanged);
        }
        if current == OrgRole::Owner && new_role != OrgRole::Owner && other_owners == 0 {
            return Ok(OwnerGuarded::LastOwner);
        }
        sqlx::query(
            "UPDATE org_membership SET org_role = $3 WHERE organization_id = $1 AND app_user_id = $2",
        )
        .bind(org.as_uuid())
        .bind(user.as_uuid())
        .bind(new_role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(OwnerGuarded::Done)
    }

    async fn remove_member(
        &self,
        org: OrgId,
        user: UserId,
        expected: Option<OrgRole>,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if !lock_as(&mut tx, org, actor).await? {
            return Ok(OwnerGuarded::RoleChanged);
        }
        let Some((current, other_owners)) = inspect(&mut tx, org, user).await? else {
            return Ok(OwnerGuarded::NotMember);
        };
        if expected.is_some_and(|expected| expected != current) {
            return Ok(OwnerGuarded::RoleChanged);
        }
        if current == OrgRole::Owner && other_owners == 0 {
            return Ok(OwnerGuarded::LastOwner);
        }
        sqlx::query("DELETE FROM org_membership WHERE organization_id = $1 AND app_user_id = $2")
            .bind(org.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(OwnerGuarded::Done)
    }
}

async fn insert_member(conn: &mut PgConnection, membership: &Membership) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_membership (organization_id, app_user_id, org_role, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(membership.org_id.as_uuid())
    .bind(membership.user_id.as_uuid())
    .bind(membership.role.as_str())
    .bind(membership.created_at)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}
