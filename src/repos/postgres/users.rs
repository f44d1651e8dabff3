//! Postgres [`UserRepo`].

use std::collections::BTreeSet;

use async_trait::async_trait;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::map_err;
use crate::domain::{DisplayName, Email, Role, StoredPasswordHash, User, UserId};
use crate::repos::{RepoError, Result, UserRepo};

/// Users in the `app_user` table.
#[derive(Debug, Clone)]
pub struct PgUserRepo {
    pool: PgPool,
}

impl PgUserRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    app_user_id: Uuid,
    email: String,
    name: String,
    password_hash: String,
    roles: Vec<String>,
    is_active: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId::from_uuid(row.app_user_id),
            email: Email::from_stored(row.email),
            name: DisplayName::from_stored(row.name),
            password_hash: StoredPasswordHash::new(row.password_hash),
            roles: stored_roles(&row.roles),
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Roles as stored; an unknown stored role grants nothing.
pub(super) fn stored_roles(stored: &[String]) -> BTreeSet<Role> {
    stored.iter().filter_map(|r| Role::parse(r)).collect()
}

/// `UPDATE` of one user (`$1`) setting `$assignment` (its value in `$2`) and `updated_at = $3`,
/// returning the row.
macro_rules! update_user_returning {
    ($assignment:literal) => {
        concat!(
            "UPDATE app_user SET ",
            $assignment,
            ", updated_at = $3 WHERE app_user_id = $1 RETURNING app_user_id, email, name, \
             password_hash, roles, is_active, created_at, updated_at"
        )
    };
}

/// `SELECT` of every `UserRow` column followed by a `WHERE` clause, as one static string.
macro_rules! select_user_where {
    ($condition:literal) => {
        concat!(
            "SELECT app_user_id, email, name, password_hash, roles, is_active, created_at, updated_at \
             FROM app_user WHERE ",
            $condition
        )
    };
}

#[async_trait]
impl UserRepo for PgUserRepo {
    async fn insert(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_user \
             (app_user_id, email, name, password_hash, roles, is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.name.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>())
        .bind(user.is_active)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(select_user_where!("email = $1"))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.map(User::from))
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(select_user_where!("app_user_id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.map(User::from))
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &StoredPasswordHash,
        now: OffsetDateTime,
    ) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE app_user SET password_hash = $2, updated_at = $3 WHERE app_user_id = $1",
        )
        .bind(id.as_uuid())
        .bind(hash.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if updated.rows_affected() == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }

    async fn update_name(
        &self,
        id: UserId,
        name: &DisplayName,
        now: OffsetDateTime,
    ) -> Result<User> {
        let row: Option<UserRow> = sqlx::query_as(update_user_returning!("name = $2"))
            .bind(id.as_uuid())
            .bind(name.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(User::from).ok_or(RepoError::NotFound)
    }

    async fn set_roles(
        &self,
        id: UserId,
        roles: &BTreeSet<Role>,
        now: OffsetDateTime,
    ) -> Result<User> {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let row: Option<UserRow> = sqlx::query_as(update_user_returning!("roles = $2"))
            .bind(id.as_uuid())
            .bind(roles)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(User::from).ok_or(RepoError::NotFound)
    }

    async fn deactivate(&self, id: UserId, now: OffsetDateTime) -> Result<User> {
        let row: Option<UserRow> = sqlx::query_as(update_user_returning!("is_active = $2"))
            .bind(id.as_uuid())
            .bind(false)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(User::from).ok_or(RepoError::NotFound)
    }

    async fn list_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(select_user_where!(
            "($1::uuid IS NULL OR app_user_id > $1) ORDER BY app_user_id LIMIT $2"
        ))
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(User::from).collect())
    }
}
