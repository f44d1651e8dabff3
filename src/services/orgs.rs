//! Organizations: who may do what, decided from the store on every request.
//!
//! | action | owner | admin | member | platform admin |
//! |---|---|---|---|---|
//! | see the org and its members | yes | yes | yes | yes |
//! | add or remove a member | yes | yes | no | yes |
//! | grant, change or take away `owner`/`admin` | yes | no | no | yes |
//! | leave (remove oneself) | yes* | yes | yes | — |
//!
//! (*) never the last owner. Non-members get 403 before anything is looked up, so org ids
//! cannot be probed.

use std::sync::Arc;

use super::{Error, Forbidden, Principal, Result};
use crate::clock::Clock;
use crate::domain::{
    DisplayName, Membership, OrgId, OrgRole, OrgStatus, Organization, Slug, UserId,
};
use crate::repos::{
    MEMBERSHIP_UNIQUE, ORG_SLUG_UNIQUE, OrgActor, OrgRepo, OwnerGuarded, RepoError, UserRepo,
};

/// The caller's standing in one organization, read from the store for this request. Every
/// org operation takes one; only [`OrgService::access`] makes them.
#[derive(Debug, Clone, Copy)]
pub struct OrgAccess {
    org: OrgId,
    actor: UserId,
    /// `None` for a platform admin who is not a member: they act as an owner.
    role: Option<OrgRole>,
}

impl OrgAccess {
    /// The organization.
    #[must_use]
    pub fn org(&self) -> OrgId {
        self.org
    }

    fn is_owner(&self) -> bool {
        matches!(self.role, None | Some(OrgRole::Owner))
    }

    fn can_manage_members(&self) -> bool {
        matches!(self.role, None | Some(OrgRole::Owner | OrgRole::Admin))
    }

    /// Who the repository must re-check under the organization's lock: the member acting,
    /// with the role this access saw (a platform admin's standing comes from their token).
    fn actor(&self) -> Option<OrgActor> {
        self.role.map(|role| OrgActor {
            user: self.actor,
            role,
        })
    }

    /// Managing at all needs owner or admin; touching `owner`/`admin` needs owner.
    fn require_manage(&self, privileged: bool) -> Result<()> {
        if !self.can_manage_members() || (privileged && !self.is_owner()) {
            return Err(Forbidden::OrgRoleTooLow.into());
        }
        Ok(())
    }
}

/// Organizations and their members.
pub struct OrgService {
    orgs: Arc<dyn OrgRepo>,
    users: Arc<dyn UserRepo>,
    clock: Arc<dyn Clock>,
}

impl OrgService {
    /// A service over these repositories.
    #[must_use]
    pub fn new(orgs: Arc<dyn OrgRepo>, users: Arc<dyn UserRepo>, clock: Arc<dyn Clock>) -> Self {
        Self { orgs, users, clock }
    }

    /// The guard of every org route: the caller's current role in `org` (a platform admin may
    /// act in any org). A non-member is refused before anything about `org` is looked up.
    ///
    /// # Errors
    /// `Forbidden` (client token, non-member), `NotFound` (platform admins only).
    pub async fn access(&self, caller: &Principal, org: Option<OrgId>) -> Result<OrgAccess> {
        let actor = caller.user_id()?;
        if caller.is_platform_admin() {
            let org = org.ok_or(Error::NotFound)?;
            self.orgs.find(org).await?.ok_or(Error::NotFound)?;
            return Ok(OrgAccess {
                org,
                actor,
                role: None,
            });
        }
        let org = org.ok_or(Forbidden::NotOrgMember)?;
        let role = self
            .orgs
            .role_of(org, actor)
            .await?
            .ok_or(Forbidden::NotOrgMember)?;
        Ok(OrgAccess {
            org,
            actor,
            role: Some(role),
        })
    }

    /// Creates an organization; the caller becomes its owner.
    ///
    /// # Errors
    /// `Invalid` (name, slug), `Conflict` (slug taken), `Forbidden` (client token).
    pub async fn create(&self, caller: &Principal, name: &str, slug: &str) -> Result<Organization> {
        let owner = caller.user_id()?;
        let now = self.clock.now();
        let org = Organization {
            id: OrgId::generate(),
            name: DisplayName::parse(name)?,
            slug: Slug::parse(slug)?,
            status: OrgStatus::Active,
            created_at: now,
        };
        let membership = Membership {
            org_id: org.id,
            user_id: owner,
            role: OrgRole::Owner,
            created_at: now,
        };
        match self.orgs.create(&org, &membership).await {
            Ok(()) => Ok(org),
            Err(RepoError::Conflict {
                constraint: ORG_SLUG_UNIQUE,
            }) => Err(Error::Conflict("an organization with this slug exists")),
            Err(other) => Err(other.into()),
        }
    }

    /// The caller's organizations and their role in each.
    ///
    /// # Errors
    /// `Forbidden` (client token), or a store failure.
    pub async fn mine(&self, caller: &Principal) -> Result<Vec<(Organization, OrgRole)>> {
        Ok(self.orgs.orgs_of(caller.user_id()?).await?)
    }

    /// The organization.
    ///
    /// # Errors
    /// `NotFound` if it vanished meanwhile.
    pub async fn get(&self, access: &OrgAccess) -> Result<Organization> {
        self.orgs.find(access.org).await?.ok_or(Error::NotFound)
    }

    /// The members.
    ///
    /// # Errors
    /// A store failure.
    pub async fn members(&self, access: &OrgAccess) -> Result<Vec<Membership>> {
        Ok(self.orgs.members(access.org).await?)
    }

    /// Adds `user` with `role`.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (no such user), `Conflict` (already a member).
    pub async fn add_member(
        &self,
        access: &OrgAccess,
        user: UserId,
        role: OrgRole,
    ) -> Result<Membership> {
        access.require_manage(role.is_privileged())?;
        self.users.find_by_id(user).await?.ok_or(Error::NotFound)?;
        let membership = Membership {
            org_id: access.org,
            user_id: user,
            role,
            created_at: self.clock.now(),
        };
        match self.orgs.add_member(&membership, access.actor()).await {
            Ok(outcome) => guarded(outcome).map(|()| membership),
            Err(RepoError::Conflict {
                constraint: MEMBERSHIP_UNIQUE,
            }) => Err(Error::Conflict("the user is a member already")),
            Err(other) => Err(other.into()),
        }
    }

    /// Changes `user`'s role.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (not a member), `Conflict` (last owner).
    pub async fn change_role(&self, access: &OrgAccess, user: UserId, role: OrgRole) -> Result<()> {
        let current = self
            .orgs
            .role_of(access.org, user)
            .await?
            .ok_or(Error::NotFound)?;
        access.require_manage(role.is_privileged() || current.is_privileged())?;
        // The repository re-checks `current` and the actor's role under the organization's
        // lock.
        guarded(
            self.orgs
                .set_role(access.org, user, role, current, access.actor())
                .await?,
        )
    }

    /// Removes `user`; anyone may remove themselves (leave).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (not a member), `Conflict` (last owner).
    pub async fn remove_member(&self, access: &OrgAccess, user: UserId) -> Result<()> {
        // Leaving needs no permission, so there is nobody to re-check.
        let (expected, actor) = if user == access.actor {
            (None, None)
        } else {
            let current = self
                .orgs
                .role_of(access.org, user)
                .await?
                .ok_or(Error::NotFound)?;
            access.require_manage(current.is_privileged())?;
            (Some(current), access.actor())
        };
        // The repository re-checks both under the organization's lock.
        guarded(
            self.orgs
                .remove_member(access.org, user, expected, actor)
                .await?,
        )
    }
}

fn guarded(outcome: OwnerGuarded) -> Result<()> {
    match outcome {
        OwnerGuarded::Done => Ok(()),
        OwnerGuarded::NotMember => Err(Error::NotFound),
        OwnerGuarded::LastOwner => Err(Error::Conflict(
            "an organization must keep at least one owner",
        )),
        OwnerGuarded::RoleChanged => Err(Error::Conflict(
            "the membership changed while this request ran; retry",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::repos::Repos;
    use crate::repos::conformance::stored_user;
    use crate::services::authz::tests::principal;

    fn member_token(user: UserId) -> Principal {
        principal(user.to_string(), &["user"], "openid")
    }

    async fn access_of(orgs: &OrgService, user: UserId, org: OrgId) -> OrgAccess {
        orgs.access(&member_token(user), Some(org)).await.unwrap()
    }

    #[tokio::test]
    async fn a_member_demoted_after_their_check_can_no_longer_manage_members() {
        let repos: Repos = crate::repos::memory::repos();
        let orgs = OrgService::new(
            repos.orgs.clone(),
            repos.users.clone(),
            Arc::new(SystemClock),
        );
        let [owner, admin, target, newcomer] = [
            stored_user(&repos).await,
            stored_user(&repos).await,
            stored_user(&repos).await,
            stored_user(&repos).await,
        ];
        let acme = orgs
            .create(&member_token(owner), "Acme", "acme")
            .await
            .unwrap();
        let as_owner = access_of(&orgs, owner, acme.id).await;
        orgs.add_member(&as_owner, admin, OrgRole::Admin)
            .await
            .unwrap();
        orgs.add_member(&as_owner, target, OrgRole::Member)
            .await
            .unwrap();

        let as_admin = access_of(&orgs, admin, acme.id).await;
        orgs.change_role(&as_owner, admin, OrgRole::Member)
            .await
            .unwrap();

        let adding = orgs.add_member(&as_admin, newcomer, OrgRole::Member).await;
        assert!(matches!(adding, Err(Error::Conflict(_))), "{adding:?}");
        let removing = orgs.remove_member(&as_admin, target).await;
        assert!(matches!(removing, Err(Error::Conflict(_))), "{removing:?}");
        assert_eq!(repos.orgs.role_of(acme.id, newcomer).await.unwrap(), None);
        assert_eq!(
            repos.orgs.role_of(acme.id, target).await.unwrap(),
            Some(OrgRole::Member)
        );
        // Leaving needs no role, so a stale check does not stand in its way.
        orgs.remove_member(&as_admin, admin).await.unwrap();
        assert_eq!(repos.orgs.role_of(acme.id, admin).await.unwrap(), None);
    }
}
