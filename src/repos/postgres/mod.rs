//! Postgres repositories (sqlx, runtime-checked queries so a fresh clone builds without a
//! database). Multi-row invariants are single statements or transactions in here, never in
//! the services.

mod oauth;
mod orgs;
mod sessions;
#[cfg(any(test, feature = "conformance"))]
pub mod testing;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use oauth::{PgAuthCodeRepo, PgClientRepo, PgDenylistRepo, PgRefreshTokenRepo};
pub use orgs::PgOrgRepo;
pub use sessions::PgSessionRepo;
pub use users::PgUserRepo;

use super::{
    CLIENT_ID_UNIQUE, MEMBERSHIP_UNIQUE, ORG_SLUG_UNIQUE, RepoError, Repos, Result, StoreProbe,
    USER_EMAIL_UNIQUE,
};

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a request waits for a pooled connection before answering 503 instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connection settings.
#[derive(Debug)]
pub struct PgSettings {
    /// `postgres://…`; secret because it usually carries a password.
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
}

/// Opens a pool and checks that the database answers.
///
/// # Errors
/// `Unexpected` for a malformed URL, `Unavailable` when the server cannot be reached.
pub async fn connect(settings: &PgSettings) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(settings.url.expose_secret())
        // The parser's message may quote the URL, password included: say only what failed.
        .map_err(|_| RepoError::Unexpected("DATABASE_URL is not a valid postgres URL".into()))?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(map_err)
}

/// Applies pending migrations; returns the version the schema is at afterwards.
///
/// # Errors
/// When a migration fails or the database cannot be reached.
pub async fn migrate(pool: &PgPool) -> Result<i64> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| RepoError::Unexpected(format!("migration failed: {e}")))?;
    Ok(MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0))
}

/// Postgres-backed repositories sharing one pool.
#[must_use]
pub fn repos(pool: PgPool) -> Repos {
    Repos {
        users: Arc::new(PgUserRepo::new(pool.clone())),
        sessions: Arc::new(PgSessionRepo::new(pool.clone())),
        clients: Arc::new(PgClientRepo::new(pool.clone())),
        codes: Arc::new(PgAuthCodeRepo::new(pool.clone())),
        refresh_tokens: Arc::new(PgRefreshTokenRepo::new(pool.clone())),
        denylist: Arc::new(PgDenylistRepo::new(pool.clone())),
        // Counters are hot, short-lived and safe to lose: in-process unless Redis is configured.
        counters: Arc::new(crate::repos::memory::InMemoryCounterRepo::default()),
        orgs: Arc::new(PgOrgRepo::new(pool.clone())),
        database: Some(Arc::new(PgProbe { pool })),
        redis: None,
    }
}

struct PgProbe {
    pool: PgPool,
}

#[async_trait]
impl StoreProbe for PgProbe {
    async fn ping(&self) -> Result<()> {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(ACQUIRE_TIMEOUT, ping).await {
            Ok(result) => result.map(drop).map_err(map_err),
            Err(_) => Err(RepoError::Unavailable("database ping timed out".into())),
        }
    }
}

/// Runs a bounded `DELETE … WHERE key IN (SELECT key … LIMIT $2)` with `$1` = `before`;
/// returns how many rows went. Shared by every `delete_expired`.
pub(crate) async fn delete_batch(
    pool: &PgPool,
    statement: &'static str,
    before: time::OffsetDateTime,
    limit: u32,
) -> Result<u64> {
    let deleted = sqlx::query(statement)
        .bind(before)
        .bind(i64::from(limit))
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(deleted.rows_affected())
}

/// Translates sqlx errors: known unique constraints become `Conflict`, lost connections,
/// deadlocks and serialization failures `Unavailable` (503, retryable), the rest
/// `Unexpected`.
pub(crate) fn map_err(err: sqlx::Error) -> RepoError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            match [
                USER_EMAIL_UNIQUE,
                CLIENT_ID_UNIQUE,
                ORG_SLUG_UNIQUE,
                MEMBERSHIP_UNIQUE,
            ]
            .into_iter()
            .find(|known| db.constraint() == Some(*known))
            {
                Some(constraint) => RepoError::Conflict { constraint },
                None => RepoError::Unexpected(err.to_string()),
            }
        }
        // A deadlock or serialization failure aborts only this attempt: retryable.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
            RepoError::Unavailable(err.to_string())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => RepoError::Unavailable(err.to_string()),
        _ => RepoError::Unexpected(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "test code: a failed expectation is the test failing"
    )]

    use crate::repos::CodeConsumption;
    use crate::repos::conformance::{code, matching, now, owner};

    crate::repos::conformance::conformance_tests!(super::testing::run_with_fresh_repos);

    /// A deactivation that has not committed when an exchange of the user's code starts must
    /// not be missed: the exchange waits for it and sees the user inactive. (Reading the user
    /// from the statement's snapshot would issue tokens a racing disable never revokes.)
    #[tokio::test]
    async fn a_code_exchange_waits_for_a_concurrent_deactivation_of_its_user() {
        super::testing::run_with_fresh_database(|pool| async move {
            let repos = super::repos(pool.clone());
            let at = now();
            let (user_id, client_id) = owner(&repos, at).await;
            let stored = code(user_id, client_id, at);
            repos.codes.insert(&stored).await.unwrap();

            let mut deactivation = pool.begin().await.unwrap();
            sqlx::query("UPDATE app_user SET is_active = false WHERE app_user_id = $1")
                .bind(user_id.as_uuid())
                .execute(&mut *deactivation)
                .await
                .unwrap();
            let exchange = matching(&stored, at);
            let codes = repos.codes.clone();
            let hash = stored.hash;
            let consume = tokio::spawn({
                let exchange = exchange.clone();
                async move { codes.consume(&hash, &exchange).await.unwrap() }
            });
            let waited =
                super::testing::some_session_waits_for_a_lock(&pool, || consume.is_finished())
                    .await;
            deactivation.commit().await.unwrap();
            let outcome = consume.await.unwrap();
            assert!(waited, "the exchange did not wait for the deactivation");
            assert!(
                matches!(&outcome, CodeConsumption::Consumed(_, user) if !user.is_active),
                "{outcome:?}"
            );
            let refresh = exchange.refresh_token.unwrap();
            assert_eq!(repos.refresh_tokens.find(&refresh).await.unwrap(), None);
        })
        .await;
    }

    /// A sweep that finds a code unredeemed but must wait for a redemption in progress keeps
    /// it once the redemption commits: the redeemed code is what a replay is recognised by.
    #[tokio::test]
    async fn a_sweep_keeps_a_code_redeemed_while_it_waited() {
        super::testing::run_with_fresh_database(|pool| async move {
            let repos = super::repos(pool.clone());
            let at = now();
            let (user_id, client_id) = owner(&repos, at).await;
            let stored = code(user_id, client_id, at - time::Duration::hours(1));
            repos.codes.insert(&stored).await.unwrap();

            let mut redemption = pool.begin().await.unwrap();
            sqlx::query("UPDATE authorization_code SET consumed_at = $2 WHERE code_hash = $1")
                .bind(stored.hash.as_bytes().as_slice())
                .bind(at)
                .execute(&mut *redemption)
                .await
                .unwrap();
            let codes = repos.codes.clone();
            let sweep = tokio::spawn(async move {
                codes
                    .delete_expired(at, at - time::Duration::days(30), 10)
                    .await
                    .unwrap()
            });
            let waited =
                super::testing::some_session_waits_for_a_lock(&pool, || sweep.is_finished()).await;
            redemption.commit().await.unwrap();
            let deleted = sweep.await.unwrap();

            assert!(waited, "the sweep did not wait for the redemption");
            assert_eq!(deleted, 0);
            let replay = repos
                .codes
                .consume(&stored.hash, &matching(&stored, at))
                .await
                .unwrap();
            assert!(matches!(replay, CodeConsumption::Replayed(_)), "{replay:?}");
        })
        .await;
    }
}
