//! A fresh, migrated database per test, dropped afterwards.
//!
//! Without `DATABASE_URL` the Postgres tests are skipped with a message on a developer's
//! machine, and fail under CI (`CI` set): there they must run.

#![allow(
    clippy::expect_used,
    reason = "test support: a broken test database should fail the test loudly"
)]

use std::future::Future;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::MIGRATOR;
use crate::repos::Repos;

/// Runs `test` against Postgres repositories on a fresh database.
pub async fn run_with_fresh_repos<F, Fut>(test: F)
where
    F: FnOnce(Repos) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_with_fresh_database(|pool| test(super::repos(pool))).await;
}

/// Runs `test` against a new database created from `DATABASE_URL` and migrated.
///
/// # Panics
/// When `DATABASE_URL` is unset under CI, when the server cannot be used, or when `test` panics
/// (after the database was dropped).
pub async fn run_with_fresh_database<F, Fut>(test: F)
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "DATABASE_URL must be set under CI: the Postgres tests may not be skipped there"
        );
        eprintln!("skipping a Postgres test: DATABASE_URL is not set");
        return;
    };
    let admin_options = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a postgres URL");
    let name = format!("auth_service_test_{}", uuid::Uuid::new_v4().simple());

    let mut admin = PgConnection::connect_with(&admin_options)
        .await
        .expect("connect to DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");

    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(admin_options.clone().database(&name))
        .await
        .expect("connect to the test database");
    MIGRATOR
        .run(&pool)
        .await
        .expect("migrate the test database");

    let outcome = tokio::spawn(test(pool.clone())).await;
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop the test database");

    if let Err(join_error) = outcome {
        std::panic::resume_unwind(join_error.into_panic());
    }
}

/// Waits (up to five seconds) until a session of this database waits for a lock, or until
/// `done` says the work that might wait has finished; returns whether one waited.
///
/// # Panics
/// When the database cannot be queried.
pub async fn some_session_waits_for_a_lock(pool: &PgPool, done: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return false;
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .expect("read pg_stat_activity");
        if waiting > 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
