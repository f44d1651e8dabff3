//! Redis, when `REDIS_URL` is set: the access-token deny-list shared by every instance, with
//! each entry expiring on its own when the token would have.

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CounterRepo, DenylistRepo, RepoError, Result, StoreProbe};
use crate::domain::IssuedAccess;

/// A Redis operation (connect, command) waits at most this long, then the request gets 503.
const TIMEOUT: Duration = Duration::from_secs(2);

const KEY_PREFIX: &str = "auth-service:denied-jti:";

/// Connects (and reconnects by itself later) to `url`.
///
/// # Errors
/// `Unexpected` for a malformed URL, `Unavailable` when Redis cannot be reached.
pub async fn connect(url: &SecretString) -> Result<ConnectionManager> {
    let client = redis::Client::open(url.expose_secret())
        // The parser's message may quote the URL, password included.
        .map_err(|_| RepoError::Unexpected("REDIS_URL is not a valid redis URL".into()))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(1);
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(map_err)
}

fn map_err(err: redis::RedisError) -> RepoError {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
    {
        RepoError::Unavailable(err.to_string())
    } else {
        RepoError::Unexpected(err.to_string())
    }
}

fn key(jti: Uuid) -> String {
    format!("{KEY_PREFIX}{jti}")
}

/// The deny-list in Redis: one key per `jti`, expiring at the token's `exp`.
#[derive(Clone)]
pub struct RedisDenylistRepo {
    conn: ConnectionManager,
}

impl RedisDenylistRepo {
    /// A deny-list on this connection.
    #[must_use]
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }
}

#[async_trait]
impl DenylistRepo for RedisDenylistRepo {
    async fn deny(&self, tokens: &[IssuedAccess]) -> Result<()> {
        let mut pipe = redis::pipe();
        let mut queued = false;
        for token in tokens {
            // An already expired token needs no entry (and EXAT in the past would delete it).
            let Ok(expires) = u64::try_from(token.expires_at.unix_timestamp()) else {
                continue;
            };
            pipe.cmd("SET")
                .arg(key(token.jti))
                .arg(1)
                .arg("EXAT")
                .arg(expires.max(1))
                .ignore();
            queued = true;
        }
        if !queued {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(map_err)
    }

    async fn is_denied(&self, jti: Uuid) -> Result<bool> {
        let mut conn = self.conn.clone();
        redis::cmd("EXISTS")
            .arg(key(jti))
            .query_async::<bool>(&mut conn)
            .await
            .map_err(map_err)
    }

    async fn delete_expired(&self, _before: OffsetDateTime, _limit: u32) -> Result<u64> {
        // Redis expires the keys itself.
        Ok(0)
    }
}

/// Counters in Redis, shared by every instance. Keys carry no personal data: callers pass
/// digests of emails.
#[derive(Clone)]
pub struct RedisCounterRepo {
    conn: ConnectionManager,
}

impl RedisCounterRepo {
    /// Counters on this connection.
    #[must_use]
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }
}

const COUNTER_PREFIX: &str = "auth-service:counter:";

fn seconds(ttl: time::Duration) -> i64 {
    ttl.whole_seconds().max(1)
}

#[async_trait]
impl CounterRepo for RedisCounterRepo {
    async fn increment(&self, key: &str, ttl: time::Duration, _now: OffsetDateTime) -> Result<u64> {
        let mut conn = self.conn.clone();
        // MULTI/EXEC: a dropped connection cannot leave a counter without its expiry.
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(format!("{COUNTER_PREFIX}{key}"))
            .cmd("EXPIRE")
            .arg(format!("{COUNTER_PREFIX}{key}"))
            .arg(seconds(ttl))
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(count)
    }

    async fn mark_until(
        &self,
        key: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        // The end is stored as the value, in microseconds (compared with the service's clock),
        // and also bounds the key's life in Redis.
        let micros = i64::try_from(until.unix_timestamp_nanos() / 1_000)
            .map_err(|_| RepoError::Unexpected("mark end out of range".into()))?;
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(format!("{COUNTER_PREFIX}{key}"))
            .arg(micros)
            .arg("EX")
            .arg(seconds(until - now))
            .query_async::<()>(&mut conn)
            .await
            .map_err(map_err)
    }

    async fn marked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>> {
        let mut conn = self.conn.clone();
        let value: Option<i64> = redis::cmd("GET")
            .arg(format!("{COUNTER_PREFIX}{key}"))
            .query_async(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(value
            .and_then(|micros| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
            })
            .filter(|until| *until > now))
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(format!("{COUNTER_PREFIX}{key}"))
            .query_async::<()>(&mut conn)
            .await
            .map_err(map_err)
    }
}

/// `PING` for `/health` and `/ready`.
pub struct RedisProbe {
    conn: ConnectionManager,
}

impl RedisProbe {
    /// A probe on this connection.
    #[must_use]
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }
}

#[async_trait]
impl StoreProbe for RedisProbe {
    async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut conn);
        match tokio::time::timeout(TIMEOUT, ping).await {
            Ok(result) => result.map(drop).map_err(map_err),
            Err(_) => Err(RepoError::Unavailable("redis ping timed out".into())),
        }
    }
}

/// Test support: a Redis deny-list from `REDIS_URL` (skipped without it, except under CI).
#[cfg(any(test, feature = "conformance"))]
pub mod testing {
    #![allow(clippy::expect_used, reason = "test support fails loudly")]

    use secrecy::SecretString;

    use redis::aio::ConnectionManager;

    use super::RedisDenylistRepo;

    /// The deny-list on `REDIS_URL`, or `None` (with a notice) when it is unset outside CI.
    ///
    /// # Panics
    /// When `REDIS_URL` is unset under CI, or Redis cannot be reached.
    pub async fn denylist() -> Option<RedisDenylistRepo> {
        connection().await.map(RedisDenylistRepo::new)
    }

    /// A connection to `REDIS_URL`, or `None` (with a notice) when it is unset outside CI.
    ///
    /// # Panics
    /// When `REDIS_URL` is unset under CI, or Redis cannot be reached.
    pub async fn connection() -> Option<ConnectionManager> {
        let Ok(url) = std::env::var("REDIS_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "REDIS_URL must be set under CI: the Redis tests may not be skipped there"
            );
            eprintln!("skipping a Redis test: REDIS_URL is not set");
            return None;
        };
        let conn = super::connect(&SecretString::from(url))
            .await
            .expect("connect to REDIS_URL");
        Some(conn)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, SystemClock};

    /// In-memory repositories with the Redis deny-list and counters swapped in.
    async fn with_redis<F, Fut>(test: F)
    where
        F: FnOnce(crate::repos::Repos) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let Some(conn) = testing::connection().await else {
            return;
        };
        let mut repos = crate::repos::memory::repos();
        repos.denylist = Arc::new(RedisDenylistRepo::new(conn.clone()));
        repos.counters = Arc::new(RedisCounterRepo::new(conn));
        test(repos).await;
    }

    #[tokio::test]
    async fn redis_denylist_deny_is_idempotent() {
        with_redis(crate::repos::conformance::denylist_deny_is_idempotent).await;
    }

    #[tokio::test]
    async fn redis_counters_count_until_removed() {
        with_redis(crate::repos::conformance::counters_count_until_removed).await;
    }

    #[tokio::test]
    async fn redis_marks_hold_until_their_end() {
        with_redis(crate::repos::conformance::marks_hold_until_their_end).await;
    }

    #[tokio::test]
    async fn redis_drops_entries_whose_token_has_expired() {
        let Some(denylist) = testing::denylist().await else {
            return;
        };
        let expired = IssuedAccess {
            jti: Uuid::new_v4(),
            expires_at: SystemClock.now() - time::Duration::seconds(5),
        };
        denylist.deny(&[expired]).await.unwrap();
        assert!(!denylist.is_denied(expired.jti).await.unwrap());
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_unavailable_not_unexpected() {
        let url = SecretString::from("redis://127.0.0.1:1/");
        match connect(&url).await {
            Err(RepoError::Unavailable(_)) => {}
            other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
        }
    }
}
