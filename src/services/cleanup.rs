//! Periodic removal of rows nobody can use any more, in bounded batches so that one sweep
//! never holds long locks or transactions.

use time::{Duration, OffsetDateTime};

use crate::repos::{Repos, Result};

/// Rows deleted per statement.
pub const BATCH: u32 = 1000;

/// Deny-list entries outlive their token's `exp` by this margin, to cover verification
/// leeway.
pub const DENYLIST_MARGIN: Duration = Duration::minutes(10);

/// Deletes expired sessions, codes, refresh-token families and deny-list entries; returns how
/// many rows went. Redeemed codes are kept `code_retention` past their expiry (the
/// refresh-token lifetime): a replay is then recognised, and revokes what the code issued, for
/// as long as any of that can still be alive. Codes never redeemed go when they expire.
///
/// # Errors
/// The first store failure (the next sweep retries).
pub async fn sweep_expired(
    repos: &Repos,
    now: OffsetDateTime,
    code_retention: Duration,
) -> Result<u64> {
    let mut total = 0;
    total += drain(|| repos.sessions.delete_expired(now, BATCH)).await?;
    total += drain(|| repos.codes.delete_expired(now, now - code_retention, BATCH)).await?;
    total += drain(|| repos.refresh_tokens.delete_expired(now, BATCH)).await?;
    total += drain(|| repos.denylist.delete_expired(now - DENYLIST_MARGIN, BATCH)).await?;
    Ok(total)
}

/// Repeats a batched delete until a batch comes back short.
async fn drain<F, Fut>(delete_batch: F) -> Result<u64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = delete_batch().await?;
        total += deleted;
        if deleted < u64::from(BATCH) {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use uuid::Uuid;

    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::domain::{
        DisplayName, Email, IssuedAccess, OpaqueToken, Role, Session, SessionId,
        StoredPasswordHash, User, UserId,
    };
    use crate::repos::memory;

    #[tokio::test]
    async fn a_sweep_removes_only_what_has_expired_and_drains_big_backlogs() {
        let repos = memory::repos();
        let now = SystemClock.now();
        let user = User {
            id: UserId::generate(),
            email: Email::parse("a@example.com").unwrap(),
            name: DisplayName::parse("A").unwrap(),
            password_hash: StoredPasswordHash::new("x".into()),
            roles: BTreeSet::from([Role::User]),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        let session = |expires_at| Session {
            id: SessionId::generate(),
            token_hash: OpaqueToken::generate().unwrap().hash(),
            user_id: user.id,
            created_at: now,
            expires_at,
        };
        let backlog = usize::try_from(BATCH).unwrap() + 5;
        for _ in 0..backlog {
            repos.sessions.insert(&session(now)).await.unwrap();
        }
        let live = session(now + Duration::minutes(1));
        repos.sessions.insert(&live).await.unwrap();
        let denied = IssuedAccess {
            jti: Uuid::new_v4(),
            expires_at: now - DENYLIST_MARGIN,
        };
        let still_denied = IssuedAccess {
            jti: Uuid::new_v4(),
            expires_at: now,
        };
        repos.denylist.deny(&[denied, still_denied]).await.unwrap();

        let deleted = sweep_expired(&repos, now, Duration::days(30))
            .await
            .unwrap();

        assert_eq!(deleted, u64::try_from(backlog).unwrap() + 1);
        assert!(
            repos
                .sessions
                .find_live(&live.token_hash, now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(!repos.denylist.is_denied(denied.jti).await.unwrap());
        assert!(repos.denylist.is_denied(still_denied.jti).await.unwrap());
    }
}
