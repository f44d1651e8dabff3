//! Authorization: who the caller is (from a verified access token) and the checks routes use.
//! Admin-only operations take an [`AdminGrant`], a value only [`Principal::require_admin`]
//! can make, so an unchecked call does not compile.

use std::collections::BTreeSet;

use super::access_tokens::AccessClaims;
use crate::domain::{Role, Scope, UserId};

/// The verified caller of a bearer-protected route.
#[derive(Debug, Clone)]
pub struct Principal {
    user_id: Option<UserId>,
    roles: BTreeSet<Role>,
    scope: Scope,
    claims: AccessClaims,
}

/// Why a verified caller may not do something (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// A client's own (`client_credentials`) token at a user endpoint.
    #[error("this token acts for a client, not a user")]
    NotAUser,
    /// The token lacks a scope.
    #[error("the token lacks the scope this needs")]
    MissingScope(&'static str),
    /// The token's user lacks a role.
    #[error("this needs the admin role")]
    NotAdmin,
    /// Acting on another user without being an admin.
    #[error("only the user themself or an admin may do this")]
    NotSelfOrAdmin,
    /// Not a member of the organization (said the same way whether or not it exists).
    #[error("you are not a member of this organization")]
    NotOrgMember,
    /// A member whose org role does not allow this.
    #[error("your role in this organization does not allow this")]
    OrgRoleTooLow,
}

/// Proof that the caller is an admin.
#[derive(Debug, Clone, Copy)]
pub struct AdminGrant {
    actor: UserId,
}

impl AdminGrant {
    /// The admin acting.
    #[must_use]
    pub fn actor(&self) -> UserId {
        self.actor
    }
}

impl Principal {
    /// The principal of verified claims. Roles and scopes come from the token: a role change
    /// takes effect with the next token.
    #[must_use]
    pub fn from_claims(claims: AccessClaims) -> Self {
        Self {
            user_id: claims.user_id(),
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            // Tokens only ever carry known scopes; anything else grants nothing.
            scope: Scope::parse(&claims.scope).unwrap_or_default(),
            claims,
        }
    }

    /// The verified claims.
    #[must_use]
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// The user the token acts for.
    ///
    /// # Errors
    /// [`Forbidden::NotAUser`] for a client's own token.
    pub fn user_id(&self) -> Result<UserId, Forbidden> {
        self.user_id.ok_or(Forbidden::NotAUser)
    }

    /// Requires `scope` in the token.
    ///
    /// # Errors
    /// [`Forbidden::MissingScope`].
    pub fn require_scope(&self, scope: &'static str) -> Result<(), Forbidden> {
        let wanted = Scope::parse(scope).map_err(|_| Forbidden::MissingScope(scope))?;
        if wanted.is_subset_of(&self.scope) {
            Ok(())
        } else {
            Err(Forbidden::MissingScope(scope))
        }
    }

    /// Requires a user token with the admin role.
    ///
    /// # Errors
    /// [`Forbidden::NotAUser`] or [`Forbidden::NotAdmin`].
    pub fn require_admin(&self) -> Result<AdminGrant, Forbidden> {
        let actor = self.user_id()?;
        if self.roles.contains(&Role::Admin) {
            Ok(AdminGrant { actor })
        } else {
            Err(Forbidden::NotAdmin)
        }
    }

    /// Whether the token carries the platform admin role.
    #[must_use]
    pub fn is_platform_admin(&self) -> bool {
        self.user_id.is_some() && self.roles.contains(&Role::Admin)
    }

    /// Requires the caller to be `target` or an admin. Checked before `target` is looked up,
    /// so a refusal says nothing about whether it exists.
    ///
    /// # Errors
    /// [`Forbidden::NotAUser`] or [`Forbidden::NotSelfOrAdmin`].
    pub fn require_self_or_admin(&self, target: UserId) -> Result<(), Forbidden> {
        if self.user_id()? == target || self.roles.contains(&Role::Admin) {
            Ok(())
        } else {
            Err(Forbidden::NotSelfOrAdmin)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use uuid::Uuid;

    use super::*;

    /// The principal of a token for `sub` with these roles and scope.
    pub(crate) fn principal(sub: String, roles: &[&str], scope: &str) -> Principal {
        Principal::from_claims(AccessClaims {
            iss: "i".into(),
            sub,
            aud: "a".into(),
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: Uuid::new_v4(),
            client_id: "c".into(),
            scope: scope.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        })
    }

    #[test]
    fn admin_needs_the_role_and_a_user() {
        let id = UserId::generate();
        assert!(
            principal(id.to_string(), &["user", "admin"], "")
                .require_admin()
                .is_ok()
        );
        assert_eq!(
            principal(id.to_string(), &["user"], "")
                .require_admin()
                .unwrap_err(),
            Forbidden::NotAdmin
        );
        assert_eq!(
            principal("client:x".into(), &["admin"], "")
                .require_admin()
                .unwrap_err(),
            Forbidden::NotAUser
        );
        // Unknown role names in a token grant nothing.
        assert!(
            principal(id.to_string(), &["ADMIN", "root"], "")
                .require_admin()
                .is_err()
        );
    }

    #[test]
    fn self_or_admin() {
        let me = UserId::generate();
        let other = UserId::generate();
        assert!(
            principal(me.to_string(), &["user"], "")
                .require_self_or_admin(me)
                .is_ok()
        );
        assert_eq!(
            principal(me.to_string(), &["user"], "").require_self_or_admin(other),
            Err(Forbidden::NotSelfOrAdmin)
        );
        assert!(
            principal(me.to_string(), &["admin"], "")
                .require_self_or_admin(other)
                .is_ok()
        );
    }

    #[test]
    fn scopes() {
        let p = principal(UserId::generate().to_string(), &[], "openid profile");
        assert!(p.require_scope("profile").is_ok());
        assert_eq!(
            p.require_scope("email"),
            Err(Forbidden::MissingScope("email"))
        );
    }
}
