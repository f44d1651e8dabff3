//! In-process counters for rate limits and lock-outs.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::lock;
use crate::repos::{CounterRepo, Result};

/// Expired entries are dropped when the map grows past this many, so it stays bounded by the
/// number of keys live at once.
const PURGE_ABOVE: usize = 10_000;

/// Counters and marks: key → (value, expiry).
#[derive(Debug, Default)]
pub struct InMemoryCounterRepo {
    entries: Mutex<HashMap<String, (u64, OffsetDateTime)>>,
}

#[async_trait]
impl CounterRepo for InMemoryCounterRepo {
    async fn increment(&self, key: &str, ttl: Duration, now: OffsetDateTime) -> Result<u64> {
        let mut entries = lock(&self.entries);
        if entries.len() > PURGE_ABOVE {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        let entry = entries.entry(key.to_owned()).or_insert((0, now + ttl));
        if entry.1 <= now {
            *entry = (0, now + ttl);
        }
        entry.0 += 1;
        Ok(entry.0)
    }

    async fn mark_until(
        &self,
        key: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut entries = lock(&self.entries);
        if entries.len() > PURGE_ABOVE {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        entries.insert(key.to_owned(), (1, until));
        Ok(())
    }

    async fn marked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>> {
        Ok(lock(&self.entries)
            .get(key)
            .map(|(_, until)| *until)
            .filter(|until| *until > now))
    }

    async fn remove(&self, key: &str) -> Result<()> {
        lock(&self.entries).remove(key);
        Ok(())
    }
}
