//! Postgres [`SessionRepo`].

use async_trait::async_trait;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{delete_batch, map_err};
use crate::domain::{Session, SessionId, TokenHash, UserId};
use crate::repos::{RepoError, Result, SessionRepo};

/// Sessions in the `user_session` table.
#[derive(Debug, Clone)]
pub struct PgSessionRepo {
    pool: PgPool,
}

impl PgSessionRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_session_id: Uuid,
    token_hash: Vec<u8>,
    app_user_id: Uuid,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl TryFrom<SessionRow> for Session {
    type Error = RepoError;

    fn try_from(row: SessionRow) -> Result<Self> {
        let digest: [u8; 32] = row
            .token_hash
            .try_into()
            .map_err(|_| RepoError::Unexpected("user_session.token_hash is not 32 bytes".into()))?;
        Ok(Self {
            id: SessionId::from_uuid(row.user_session_id),
            token_hash: TokenHash::from_bytes(digest),
            user_id: UserId::from_uuid(row.app_user_id),
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[async_trait]
impl SessionRepo for PgSessionRepo {
    async fn insert(&self, session: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_session \
             (user_session_id, token_hash, app_user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id.as_uuid())
        .bind(session.token_hash.as_bytes().as_slice())
        .bind(session.user_id.as_uuid())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_live(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT user_session_id, token_hash, app_user_id, created_at, expires_at \
             FROM user_session WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(hash.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(Session::try_from).transpose()
    }

    async fn delete(&self, hash: &TokenHash) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM user_session WHERE token_hash = $1")
            .bind(hash.as_bytes().as_slice())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn delete_for_user(&self, user_id: UserId) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM user_session WHERE app_user_id = $1")
            .bind(user_id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(deleted.rows_affected())
    }

    async fn delete_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64> {
        delete_batch(
            &self.pool,
            "DELETE FROM user_session WHERE user_session_id IN \
             (SELECT user_session_id FROM user_session WHERE expires_at <= $1 LIMIT $2)",
            now,
            limit,
        )
        .await
    }
}
