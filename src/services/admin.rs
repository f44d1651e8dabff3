//! The admin API: listing users, setting roles, disabling accounts. Every method takes an
//! [`AdminGrant`], which only a verified admin token yields.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::{AccessTokenService, AdminGrant, Error, Result};
use crate::clock::Clock;
use crate::domain::{Invalid, Role, User, UserId};
use crate::repos::{AuthCodeRepo, RefreshTokenRepo, RepoError, SessionRepo, UserRepo};

/// One page of users.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users, in id order.
    pub items: Vec<User>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Admin operations on accounts.
pub struct AdminService {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    refresh_tokens: Arc<dyn RefreshTokenRepo>,
    codes: Arc<dyn AuthCodeRepo>,
    access: Arc<AccessTokenService>,
    clock: Arc<dyn Clock>,
}

impl AdminService {
    /// A service over these collaborators.
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepo>,
        sessions: Arc<dyn SessionRepo>,
        refresh_tokens: Arc<dyn RefreshTokenRepo>,
        codes: Arc<dyn AuthCodeRepo>,
        access: Arc<AccessTokenService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            sessions,
            refresh_tokens,
            codes,
            access,
            clock,
        }
    }

    /// A page of at most `limit` users after `cursor` (keyset pagination on the id, so
    /// concurrent inserts never make a user appear twice or vanish).
    ///
    /// # Errors
    /// `Invalid` for a malformed cursor or a limit outside 1–100.
    pub async fn list_users(
        &self,
        _grant: &AdminGrant,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserPage> {
        if !(1..=100).contains(&limit) {
            return Err(Invalid::new("limit", "must be between 1 and 100").into());
        }
        let after = cursor.map(decode_cursor).transpose()?;
        let mut items = self.users.list_after(after, limit + 1).await?;
        let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items.last().map(|u| encode_cursor(u.id))
        } else {
            None
        };
        Ok(UserPage { items, next_cursor })
    }

    /// Replaces a user's roles (`user` is always kept). Takes effect in the next token.
    ///
    /// # Errors
    /// `Invalid` for an unknown role; `NotFound`.
    pub async fn set_roles(
        &self,
        grant: &AdminGrant,
        target: UserId,
        names: &[String],
    ) -> Result<User> {
        let mut roles = BTreeSet::from([Role::User]);
        for name in names {
            roles.insert(
                Role::parse(name).ok_or(Invalid::new("roles", "may hold only user and admin"))?,
            );
        }
        let user = self
            .users
            .set_roles(target, &roles, self.clock.now())
            .await
            .map_err(not_found)?;
        tracing::info!(actor = %grant.actor(), user_id = %target, admin = roles.contains(&Role::Admin), "roles changed");
        Ok(user)
    }

    /// Disables an account: it can no longer sign in, its sessions end, its refresh tokens are
    /// revoked, and every access token issued to it is deny-listed at once.
    ///
    /// # Errors
    /// `NotFound`, or a store failure.
    pub async fn disable(&self, grant: &AdminGrant, target: UserId) -> Result<User> {
        let now = self.clock.now();
        let user = self
            .users
            .deactivate(target, now)
            .await
            .map_err(not_found)?;
        self.sessions.delete_for_user(target).await?;
        let mut issued = self.refresh_tokens.revoke_for_user(target, now).await?;
        issued.extend(self.codes.issued_to_user(target).await?);
        self.access.revoke(&issued).await?;
        tracing::info!(actor = %grant.actor(), user_id = %target, "account disabled");
        Ok(user)
    }
}

fn not_found(err: RepoError) -> Error {
    match err {
        RepoError::NotFound => Error::NotFound,
        other => other.into(),
    }
}

fn encode_cursor(id: UserId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_uuid().as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<UserId> {
    let invalid = || Error::from(Invalid::new("cursor", "is not a cursor this API returned"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let id = Uuid::from_slice(&bytes).map_err(|_| invalid())?;
    Ok(UserId::from_uuid(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_invalid() {
        let id = UserId::generate();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        for bad in ["", "!!!", "AAAA", &"A".repeat(400)] {
            assert!(
                matches!(decode_cursor(bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
    }
}
