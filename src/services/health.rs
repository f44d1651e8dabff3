//! Health of the backing stores for `/health` and `/ready`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::repos::StoreProbe;

/// The state of one backing store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// Always `"ok"`: the process answers.
    #[schema(value_type = String, example = "ok")]
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

/// How long a probe result answers `/health` before the stores are probed again. Liveness
/// checks can come thousands of times a second (load balancers, monitors); each must not
/// cost a database round trip.
const LIVENESS_CACHE: Duration = Duration::from_secs(1);

/// Probes the configured stores.
pub struct HealthService {
    database: Option<Arc<dyn StoreProbe>>,
    redis: Option<Arc<dyn StoreProbe>>,
    last: Mutex<Option<(Instant, HealthReport)>>,
}

impl HealthService {
    /// A service probing the stores that are configured.
    #[must_use]
    pub fn new(database: Option<Arc<dyn StoreProbe>>, redis: Option<Arc<dyn StoreProbe>>) -> Self {
        Self {
            database,
            redis,
            last: Mutex::new(None),
        }
    }

    /// Probes every configured store now, concurrently (each probe is bounded by a timeout).
    /// For `/ready`, which must not answer from the past.
    pub async fn check(&self) -> HealthReport {
        let (database, redis) = tokio::join!(
            status_of("database", self.database.as_deref()),
            status_of("redis", self.redis.as_deref())
        );
        let report = HealthReport {
            status: "ok",
            database,
            redis,
        };
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), report));
        report
    }

    /// The latest probe if it is under a second old, else a new one. For `/health`.
    pub async fn check_recent(&self) -> HealthReport {
        let recent = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match recent {
            Some((at, report)) if at.elapsed() < LIVENESS_CACHE => report,
            _ => self.check().await,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;

    #[derive(Default)]
    struct CountingProbe(AtomicUsize);

    #[async_trait]
    impl StoreProbe for CountingProbe {
        async fn ping(&self) -> crate::repos::Result<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    #[tokio::test]
    async fn liveness_reuses_a_recent_probe_and_readiness_never_does() {
        let probe = Arc::new(CountingProbe::default());
        let health = HealthService::new(Some(probe.clone()), None);
        for _ in 0..5 {
            assert_eq!(health.check_recent().await.database, ComponentStatus::Ok);
        }
        assert_eq!(probe.0.load(Ordering::Relaxed), 1);
        health.check().await;
        health.check().await;
        assert_eq!(probe.0.load(Ordering::Relaxed), 3);
    }
}
