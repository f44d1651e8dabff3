//! In-process counters for rate limits and lock-outs.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::lock;
use crate::repos::{CounterRepo, Result};

/// Expired entries are dropped once the map holds this many keys…
const PURGE_ABOVE: usize = 10_000;
/// …at most once per this many writes, so a full map does not make every write a full scan.
const PURGE_EVERY: u64 = 1_024;

/// Counters and marks: key → (value, expiry).
#[derive(Debug, Default)]
pub struct InMemoryCounterRepo {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, (u64, OffsetDateTime)>,
    writes: u64,
}

impl Entries {
    fn before_write(&mut self, now: OffsetDateTime) {
        self.writes = self.writes.wrapping_add(1);
        if self.map.len() > PURGE_ABOVE && self.writes.is_multiple_of(PURGE_EVERY) {
            self.map.retain(|_, (_, expires)| *expires > now);
        }
    }
}

#[async_trait]
impl CounterRepo for InMemoryCounterRepo {
    async fn increment(&self, key: &str, ttl: Duration, now: OffsetDateTime) -> Result<u64> {
        let mut entries = lock(&self.entries);
        entries.before_write(now);
        let entry = entries.map.entry(key.to_owned()).or_insert((0, now + ttl));
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
        entries.before_write(now);
        entries.map.insert(key.to_owned(), (1, until));
        Ok(())
    }

    async fn marked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>> {
        Ok(lock(&self.entries)
            .map
            .get(key)
            .map(|(_, until)| *until)
            .filter(|until| *until > now))
    }

    async fn remove(&self, key: &str) -> Result<()> {
        lock(&self.entries).map.remove(key);
        Ok(())
    }
}
