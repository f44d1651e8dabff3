//! In-memory [`OrgRepo`]. Every owner-guarded change runs under the one lock.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::{Membership, OrgId, OrgRole, Organization, UserId};
use crate::repos::{
    MEMBERSHIP_UNIQUE, ORG_SLUG_UNIQUE, OrgActor, OrgRepo, OwnerGuarded, RepoError, Result,
};

/// Organizations and memberships.
#[derive(Debug, Default)]
pub struct InMemoryOrgRepo {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    orgs: BTreeMap<OrgId, Organization>,
    members: BTreeMap<(OrgId, UserId), Membership>,
}

impl State {
    fn owners_besides(&self, org: OrgId, user: UserId) -> usize {
        self.members
            .values()
            .filter(|m| m.org_id == org && m.user_id != user && m.role == OrgRole::Owner)
            .count()
    }

    /// Whether `actor`, if any, still holds the role they were checked with.
    fn still_holds(&self, org: OrgId, actor: Option<OrgActor>) -> bool {
        actor.is_none_or(|actor| {
            self.members.get(&(org, actor.user)).map(|m| m.role) == Some(actor.role)
        })
    }

    /// Whether taking `user`'s current role away would leave `org` without an owner.
    fn is_last_owner(&self, org: OrgId, user: UserId, current: OrgRole) -> bool {
        current == OrgRole::Owner && self.owners_besides(org, user) == 0
    }
}

#[async_trait]
impl OrgRepo for InMemoryOrgRepo {
    async fn create(&self, org: &Organization, owner: &Membership) -> Result<()> {
        let mut state = lock(&self.state);
        if state.orgs.values().any(|o| o.slug == org.slug) {
            return Err(RepoError::Conflict {
                constraint: ORG_SLUG_UNIQUE,
            });
        }
        state.orgs.insert(org.id, org.clone());
        state
            .members
            .insert((owner.org_id, owner.user_id), owner.clone());
        Ok(())
    }

    async fn find(&self, id: OrgId) -> Result<Option<Organization>> {
        Ok(lock(&self.state).orgs.get(&id).cloned())
    }

    async fn role_of(&self, org: OrgId, user: UserId) -> Result<Option<OrgRole>> {
        Ok(lock(&self.state).members.get(&(org, user)).map(|m| m.role))
    }

    async fn orgs_of(&self, user: UserId) -> Result<Vec<(Organization, OrgRole)>> {
        let state = lock(&self.state);
        Ok(state
            .members
            .values()
            .filter(|m| m.user_id == user)
            .filter_map(|m| state.orgs.get(&m.org_id).map(|o| (o.clone(), m.role)))
            .collect())
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Membership>> {
        Ok(lock(&self.state)
            .members
            .range((org, UserId::from_uuid(uuid::Uuid::nil()))..)
            .take_while(|((o, _), _)| *o == org)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn add_member(
        &self,
        membership: &Membership,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded> {
        let mut state = lock(&self.state);
        if !state.still_holds(membership.org_id, actor) {
            return Ok(OwnerGuarded::RoleChanged);
        }
        let key = (membership.org_id, membership.user_id);
        if state.members.contains_key(&key) {
            return Err(RepoError::Conflict {
                constraint: MEMBERSHIP_UNIQUE,
            });
        }
        state.members.insert(key, membership.clone());
        Ok(OwnerGuarded::Done)
    }

    async fn set_role(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        expected: OrgRole,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded> {
        let mut state = lock(&self.state);
        if !state.still_holds(org, actor) {
            return Ok(OwnerGuarded::RoleChanged);
        }
        let Some(current) = state.members.get(&(org, user)).map(|m| m.role) else {
            return Ok(OwnerGuarded::NotMember);
        };
        if current != expected {
            return Ok(OwnerGuarded::RoleChanged);
        }
        if role != OrgRole::Owner && state.is_last_owner(org, user, current) {
            return Ok(OwnerGuarded::LastOwner);
        }
        if let Some(member) = state.members.get_mut(&(org, user)) {
            member.role = role;
        }
        Ok(OwnerGuarded::Done)
    }

    async fn remove_member(
        &self,
        org: OrgId,
        user: UserId,
        expected: Option<OrgRole>,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded> {
        let mut state = lock(&self.state);
        if !state.still_holds(org, actor) {
            return Ok(OwnerGuarded::RoleChanged);
        }
        let Some(current) = state.members.get(&(org, user)).map(|m| m.role) else {
            return Ok(OwnerGuarded::NotMember);
        };
        if expected.is_some_and(|expected| expected != current) {
            return Ok(OwnerGuarded::RoleChanged);
        }
        if state.is_last_owner(org, user, current) {
            return Ok(OwnerGuarded::LastOwner);
        }
        state.members.remove(&(org, user));
        Ok(OwnerGuarded::Done)
    }
}
