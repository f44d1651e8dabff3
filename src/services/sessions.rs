//! Browser sessions: opaque random cookie values, stored only as SHA-256, with a fixed
//! lifetime from sign-in.

use std::sync::Arc;

use time::Duration;

use super::Result;
use crate::clock::Clock;
use crate::domain::{OpaqueToken, Session, SessionId, TokenHash, UserId};
use crate::repos::SessionRepo;

/// Starts, finds and ends sessions.
pub struct SessionService {
    sessions: Arc<dyn SessionRepo>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl SessionService {
    /// A service whose sessions last `ttl`.
    #[must_use]
    pub fn new(sessions: Arc<dyn SessionRepo>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            sessions,
            clock,
            ttl,
        }
    }

    /// How long a new session lasts (the cookie's `Max-Age`).
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `user_id`; the returned secret goes into the cookie, only its
    /// digest is stored.
    ///
    /// # Errors
    /// A store or RNG failure.
    pub async fn start(&self, user_id: UserId) -> Result<OpaqueToken> {
        let secret = OpaqueToken::generate()?;
        let now = self.clock.now();
        let session = Session {
            id: SessionId::generate(),
            token_hash: secret.hash(),
            user_id,
            created_at: now,
            expires_at: now + self.ttl,
        };
        self.sessions.insert(&session).await?;
        Ok(secret)
    }

    /// The live session a cookie value refers to, if any.
    ///
    /// # Errors
    /// A store failure.
    pub async fn resolve(&self, presented: &str) -> Result<Option<Session>> {
        Ok(self
            .sessions
            .find_live(&TokenHash::of(presented), self.clock.now())
            .await?)
    }

    /// Ends the session a cookie value refers to; a no-op when there is none.
    ///
    /// # Errors
    /// A store failure.
    pub async fn end(&self, presented: &str) -> Result<()> {
        self.sessions.delete(&TokenHash::of(presented)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::repos::memory::InMemorySessionRepo;

    #[tokio::test]
    async fn a_session_lives_exactly_its_ttl() {
        let clock = ManualClock::starting_now();
        let sessions = SessionService::new(
            Arc::new(InMemorySessionRepo::default()),
            Arc::new(clock.clone()),
            Duration::minutes(30),
        );
        let user = UserId::generate();
        let secret = sessions.start(user).await.unwrap();

        let found = sessions.resolve(secret.expose()).await.unwrap().unwrap();
        assert_eq!(found.user_id, user);
        clock.advance(Duration::minutes(30) - Duration::seconds(1));
        assert!(sessions.resolve(secret.expose()).await.unwrap().is_some());
        clock.advance(Duration::seconds(1));
        assert!(sessions.resolve(secret.expose()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn ending_a_session_is_final_and_idempotent() {
        let sessions = SessionService::new(
            Arc::new(InMemorySessionRepo::default()),
            Arc::new(ManualClock::starting_now()),
            Duration::minutes(30),
        );
        let secret = sessions.start(UserId::generate()).await.unwrap();
        sessions.end(secret.expose()).await.unwrap();
        sessions.end(secret.expose()).await.unwrap();
        assert!(sessions.resolve(secret.expose()).await.unwrap().is_none());
    }
}
