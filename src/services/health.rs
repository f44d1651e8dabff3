//! Health of the backing stores for `/health` and `/ready`.

use std::sync::Arc;

use serde::Serialize;

use crate::repos::StoreProbe;

/// The state of one backing store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    /// Configured and answering.
    Ok,
    /// Configured and not answering.
    Down,
    /// Not configured: nothing to check.
    NotConfigured,
}

/// The `/health` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// Always `"ok"`: the process answers.
    pub status: &'static str,
    /// Postgres.
    pub database: ComponentStatus,
    /// Redis.
    pub redis: ComponentStatus,
}

impl HealthReport {
    /// Whether every configured store answers.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        ![self.database, self.redis].contains(&ComponentStatus::Down)
    }
}

/// Probes the configured stores.
pub struct HealthService {
    database: Option<Arc<dyn StoreProbe>>,
    redis: Option<Arc<dyn StoreProbe>>,
}

impl HealthService {
    /// A service probing the stores that are configured.
    #[must_use]
    pub fn new(database: Option<Arc<dyn StoreProbe>>, redis: Option<Arc<dyn StoreProbe>>) -> Self {
        Self { database, redis }
    }

    /// Probes every configured store, concurrently (each probe is bounded by a timeout).
    pub async fn check(&self) -> HealthReport {
        let (database, redis) = tokio::join!(
            status_of("database", self.database.as_deref()),
            status_of("redis", self.redis.as_deref())
        );
        HealthReport {
            status: "ok",
            database,
            redis,
        }
    }
}

async fn status_of(name: &'static str, probe: Option<&dyn StoreProbe>) -> ComponentStatus {
    let Some(probe) = probe else {
        return ComponentStatus::NotConfigured;
    };
    match probe.ping().await {
        Ok(()) => ComponentStatus::Ok,
        Err(err) => {
            tracing::warn!(store = name, error = %err, "health check failed");
            ComponentStatus::Down
        }
    }
}
