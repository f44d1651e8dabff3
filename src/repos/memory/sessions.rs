//! In-memory [`SessionRepo`].

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::lock;
use crate::domain::{Session, TokenHash, UserId};
use crate::repos::{Result, SessionRepo};

/// Sessions keyed by the digest of their cookie secret.
#[derive(Debug, Default)]
pub struct InMemorySessionRepo {
    sessions: Mutex<HashMap<TokenHash, Session>>,
}

#[async_trait]
impl SessionRepo for InMemorySessionRepo {
    async fn insert(&self, session: &Session) -> Result<()> {
        lock(&self.sessions).insert(session.token_hash, session.clone());
        Ok(())
    }

    async fn find_live(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<Option<Session>> {
        Ok(lock(&self.sessions)
            .get(hash)
            .filter(|s| s.is_live_at(now))
            .cloned())
    }

    async fn delete(&self, hash: &TokenHash) -> Result<bool> {
        Ok(lock(&self.sessions).remove(hash).is_some())
    }

    async fn delete_for_user(&self, user_id: UserId) -> Result<u64> {
        let mut sessions = lock(&self.sessions);
        let before = sessions.len();
        sessions.retain(|_, s| s.user_id != user_id);
        Ok(u64::try_from(before - sessions.len()).unwrap_or(u64::MAX))
    }

    async fn delete_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64> {
        let mut sessions = lock(&self.sessions);
        let expired: Vec<TokenHash> = sessions
            .iter()
            .filter(|(_, s)| !s.is_live_at(now))
            .map(|(hash, _)| *hash)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        for hash in &expired {
            sessions.remove(hash);
        }
        Ok(u64::try_from(expired.len()).unwrap_or(u64::MAX))
    }
}
