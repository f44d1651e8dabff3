//! In-memory [`UserRepo`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::lock;
use crate::domain::{DisplayName, Email, Role, StoredPasswordHash, User, UserId};
use crate::repos::{RepoError, Result, USER_EMAIL_UNIQUE, UserRepo, UserStanding};

/// Users in a map; the email index is kept under the same lock so uniqueness is atomic.
#[derive(Debug, Default)]
pub struct InMemoryUserRepo {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    by_id: HashMap<UserId, User>,
    id_by_email: HashMap<Email, UserId>,
}

impl InMemoryUserRepo {
    /// How the user with this id stands, for a rotation in another repository.
    pub(super) fn standing(&self, id: UserId) -> UserStanding {
        lock(&self.state)
            .by_id
            .get(&id)
            .map_or_else(UserStanding::gone, |user| UserStanding {
                is_active: user.is_active,
                roles: user.roles.clone(),
            })
    }
}

#[async_trait]
impl UserRepo for InMemoryUserRepo {
    async fn insert(&self, user: &User) -> Result<()> {
        let mut state = lock(&self.state);
        if state.id_by_email.contains_key(&user.email) {
            return Err(RepoError::Conflict {
                constraint: USER_EMAIL_UNIQUE,
            });
        }
        state.id_by_email.insert(user.email.clone(), user.id);
        state.by_id.insert(user.id, user.clone());
        Ok(())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>> {
        let state = lock(&self.state);
        Ok(state
            .id_by_email
            .get(email)
            .and_then(|id| state.by_id.get(id))
            .cloned())
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>> {
        Ok(lock(&self.state).by_id.get(&id).cloned())
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &StoredPasswordHash,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut state = lock(&self.state);
        let user = state.by_id.get_mut(&id).ok_or(RepoError::NotFound)?;
        user.password_hash = hash.clone();
        user.updated_at = now;
        Ok(())
    }

    async fn update_name(
        &self,
        id: UserId,
        name: &DisplayName,
        now: OffsetDateTime,
    ) -> Result<User> {
        self.modify(id, now, |user| user.name = name.clone())
    }

    async fn set_roles(
        &self,
        id: UserId,
        roles: &BTreeSet<Role>,
        now: OffsetDateTime,
    ) -> Result<User> {
        self.modify(id, now, |user| user.roles = roles.clone())
    }

    async fn deactivate(&self, id: UserId, now: OffsetDateTime) -> Result<User> {
        self.modify(id, now, |user| user.is_active = false)
    }

    async fn list_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        let state = lock(&self.state);
        let mut users: Vec<&User> = state
            .by_id
            .values()
            .filter(|u| after.is_none_or(|after| u.id > after))
            .collect();
        users.sort_by_key(|u| u.id);
        Ok(users
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }
}

impl InMemoryUserRepo {
    fn modify(
        &self,
        id: UserId,
        now: OffsetDateTime,
        change: impl FnOnce(&mut User),
    ) -> Result<User> {
        let mut state = lock(&self.state);
        let user = state.by_id.get_mut(&id).ok_or(RepoError::NotFound)?;
        change(user);
        user.updated_at = now;
        Ok(user.clone())
    }
}
