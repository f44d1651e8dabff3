//! Health of the backing stores for `/health` and `/ready`.

use std::sync::Arc;

use serde::Serialize;

use crate::repos::DatabaseProbe;

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
    /// Redis (not used yet: always `not_configured`).
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
    database: Option<Arc<dyn DatabaseProbe>>,
}

impl HealthService {
    /// A service probing `database` when there is one.
    #[must_use]
    pub fn new(database: Option<Arc<dyn DatabaseProbe>>) -> Self {
        Self { database }
    }

    /// Probes every configured store (each probe is bounded by a timeout).
    pub async fn check(&self) -> HealthReport {
        let database = match &self.database {
            None => ComponentStatus::NotConfigured,
            Some(probe) => match probe.ping().await {
                Ok(()) => ComponentStatus::Ok,
                Err(err) => {
                    tracing::warn!(error = %err, "database health check failed");
                    ComponentStatus::Down
                }
            },
        };
        HealthReport {
            status: "ok",
            database,
            redis: ComponentStatus::NotConfigured,
        }
    }
}
