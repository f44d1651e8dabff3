//! Storage. One small trait per aggregate, with an in-memory and a Postgres implementation
//! that the shared conformance suite holds to the same behaviour.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::domain::{
    AuthorizationCode, Client, ClientId, CodeChallenge, CodeIssue, DisplayName, Email,
    IssuedAccess, Membership, OrgId, OrgRole, Organization, RefreshToken, Role, Scope, Session,
    StoredPasswordHash, TokenHash, User, UserId,
};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod memory;
pub mod postgres;
pub mod redis;

/// The unique constraint on users' normalised email (same name in both implementations).
pub const USER_EMAIL_UNIQUE: &str = "app_user_email_key";
/// The primary key of clients.
pub const CLIENT_ID_UNIQUE: &str = "oauth_client_pkey";
/// Unique organization slugs.
pub const ORG_SLUG_UNIQUE: &str = "organization_slug_key";
/// One membership per user and organization.
pub const MEMBERSHIP_UNIQUE: &str = "org_membership_pkey";

/// What can go wrong in a repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` is one of the constants above.
    #[error("conflict on {constraint}")]
    Conflict {
        /// Which constraint.
        constraint: &'static str,
    },
    /// The store cannot be reached right now; retrying later may work (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a broken schema (500).
    #[error("unexpected store error: {0}")]
    Unexpected(String),
}

/// Result of a repository call.
pub type Result<T, E = RepoError> = std::result::Result<T, E>;

/// User accounts.
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// `Conflict { constraint: USER_EMAIL_UNIQUE }` when the email is taken.
    async fn insert(&self, user: &User) -> Result<()>;

    /// The user with this normalised email.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>>;

    /// The user with this id.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>>;

    /// Replaces the password hash (used by transparent rehashing).
    ///
    /// # Errors
    /// `NotFound` when there is no such user.
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &StoredPasswordHash,
        now: OffsetDateTime,
    ) -> Result<()>;

    /// Renames a user; returns the updated record.
    ///
    /// # Errors
    /// `NotFound` when there is no such user.
    async fn update_name(
        &self,
        id: UserId,
        name: &DisplayName,
        now: OffsetDateTime,
    ) -> Result<User>;

    /// Replaces a user's roles; returns the updated record.
    ///
    /// # Errors
    /// `NotFound` when there is no such user.
    async fn set_roles(
        &self,
        id: UserId,
        roles: &BTreeSet<Role>,
        now: OffsetDateTime,
    ) -> Result<User>;

    /// Marks a user inactive; returns the updated record.
    ///
    /// # Errors
    /// `NotFound` when there is no such user.
    async fn deactivate(&self, id: UserId, now: OffsetDateTime) -> Result<User>;

    /// Up to `limit` users with ids greater than `after`, in id order (keyset pagination:
    /// a page never repeats or skips a user that existed when the listing started).
    async fn list_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>>;
}

/// Browser sessions, keyed by the digest of their cookie secret.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session.
    async fn insert(&self, session: &Session) -> Result<()>;

    /// The session with this digest, if it has not expired at `now`.
    async fn find_live(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<Option<Session>>;

    /// Ends one session; `false` when there was none.
    async fn delete(&self, hash: &TokenHash) -> Result<bool>;

    /// Ends every session of a user; returns how many there were.
    async fn delete_for_user(&self, user_id: UserId) -> Result<u64>;

    /// Removes at most `limit` sessions that expired before `now`; returns how many.
    async fn delete_expired(&self, now: OffsetDateTime, limit: u32) -> Result<u64>;
}

/// Registered OAuth clients.
#[async_trait]
pub trait ClientRepo: Send + Sync {
    /// Stores a new client.
    ///
    /// # Errors
    /// `Conflict { constraint: CLIENT_ID_UNIQUE }` when the id is taken.
    async fn insert(&self, client: &Client) -> Result<()>;

    /// The client with this id.
    async fn find(&self, id: &ClientId) -> Result<Option<Client>>;
}

/// What consuming an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeConsumption {
    /// This call consumed it (exactly one call ever gets this). Carries the code's user as
    /// it stood when the code was consumed.
    Consumed(AuthorizationCode, UserStanding),
    /// It had been consumed before: a replay. Carries what the first exchange issued.
    Replayed(AuthorizationCode),
    /// No such code.
    Unknown,
}

/// A code exchange: what the token request presents, and what it issues.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The presenting client.
    pub client_id: ClientId,
    /// The presented `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// The S256 challenge of the presented `code_verifier`; `None` when there was none or it
    /// was malformed, which matches no code.
    pub challenge: Option<CodeChallenge>,
    /// The instant of the exchange.
    pub now: OffsetDateTime,
    /// What it issues; recorded with the consumption.
    pub issue: CodeIssue,
    /// The digest of the family's first refresh token, when `issue` opens a family.
    pub refresh_token: Option<TokenHash>,
    /// The end of that family.
    pub family_expires_at: OffsetDateTime,
}

impl Exchange {
    /// Whether the code is the one this request may exchange: same client and redirect URI,
    /// not expired, and the verifier matches its challenge.
    #[must_use]
    pub fn matches(&self, code: &AuthorizationCode) -> bool {
        code.client_id == self.client_id
            && self.redirect_uri.as_deref() == Some(code.redirect_uri.as_str())
            && self.now < code.expires_at
            && self
                .challenge
                .as_ref()
                .is_some_and(|challenge| challenge.ct_eq(&code.challenge))
    }

    /// Whether the exchange issues tokens: the code matches and its user is active. The
    /// condition every implementation of [`AuthCodeRepo::consume`] checks before storing the
    /// refresh token.
    #[must_use]
    pub fn permits(&self, code: &AuthorizationCode, user: &UserStanding) -> bool {
        self.matches(code) && user.is_active
    }

    /// The family's first refresh token, when the exchange opens one.
    #[must_use]
    pub fn first_refresh_token(&self, code: &AuthorizationCode) -> Option<RefreshToken> {
        Some(RefreshToken {
            hash: self.refresh_token?,
            family_id: self.issue.family_id?,
            client_id: code.client_id.clone(),
            user_id: code.user_id,
            scope: code.scope,
            created_at: self.now,
            family_expires_at: self.family_expires_at,
            used_at: None,
            revoked_at: None,
            access: self.issue.access,
        })
    }
}

/// Authorization codes, keyed by digest.
#[async_trait]
pub trait AuthCodeRepo: Send + Sync {
    /// Stores a new code.
    async fn insert(&self, code: &AuthorizationCode) -> Result<()>;

    /// The access tokens issued by exchanges of this user's codes (to deny-list them when the
    /// user is disabled).
    async fn issued_to_user(&self, user_id: UserId) -> Result<Vec<IssuedAccess>>;

    /// Marks the code consumed at `exchange.now`, recording `exchange.issue`, if and only if
    /// no one did before: an atomic conditional update, so of any number of concurrent calls
    /// (on any instance) exactly one gets `Consumed`. In the same atomic step, and only if
    /// [`Exchange::permits`] holds, stores the family's first refresh token. A replay that
    /// finds the code consumed therefore finds that token stored too, and can revoke it.
    async fn consume(&self, hash: &TokenHash, exchange: &Exchange) -> Result<CodeConsumption>;

    /// Removes at most `limit` codes nothing depends on any more; returns how many: codes
    /// never redeemed that expired by `now` (nothing was issued for them), and redeemed ones
    /// that expired by `redeemed_before` (kept until then so a replay still revokes what they
    /// issued).
    async fn delete_expired(
        &self,
        now: OffsetDateTime,
        redeemed_before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64>;
}

/// What issuing an access token needs to know of a token's user, read in the same atomic
/// step as the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStanding {
    /// Whether the account is active (false when it is gone).
    pub is_active: bool,
    /// Its platform roles.
    pub roles: BTreeSet<Role>,
}

impl UserStanding {
    /// The standing of an account that does not exist.
    #[must_use]
    pub fn gone() -> Self {
        Self {
            is_active: false,
            roles: BTreeSet::new(),
        }
    }
}

/// A refresh-token rotation: who presents the token, when, and what the successor is.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The presenting client; only its own tokens rotate.
    pub client_id: ClientId,
    /// The instant of the rotation.
    pub now: OffsetDateTime,
    /// A token issued this long before `now` or earlier has expired.
    pub idle: Duration,
    /// A scope the caller wants the token to cover (empty: no condition). `None` when the
    /// request named a scope this server does not know, which no token covers.
    pub within: Option<Scope>,
    /// The successor's digest.
    pub successor: TokenHash,
    /// The access token issued with the successor.
    pub access: IssuedAccess,
}

impl Rotation {
    /// Whether `token`, whose user stands as `user`, may rotate: the condition every
    /// implementation of [`RefreshTokenRepo::rotate`] checks.
    #[must_use]
    pub fn permits(&self, token: &RefreshToken, user: &UserStanding) -> bool {
        self.admits(token, user)
            && self
                .within
                .as_ref()
                .is_some_and(|within| within.is_subset_of(&token.scope))
    }

    /// [`Self::permits`] without the scope: the token is this client's, live, and its user
    /// active.
    #[must_use]
    pub fn admits(&self, token: &RefreshToken, user: &UserStanding) -> bool {
        token.client_id == self.client_id && token.is_live_at(self.now, self.idle) && user.is_active
    }

    /// The token that replaces `token`: same family, client, user, scope and family end.
    #[must_use]
    pub fn successor_of(&self, token: &RefreshToken) -> RefreshToken {
        RefreshToken {
            hash: self.successor,
            created_at: self.now,
            used_at: None,
            revoked_at: None,
            access: self.access,
            ..token.clone()
        }
    }
}

/// What [`RefreshTokenRepo::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Rotated: the presented token as it was before, and its (active) user.
    Rotated(RefreshToken, UserStanding),
    /// Left as it was. The token and its user as found, for the caller to tell why: a
    /// token that looks rotatable here was rotated by a concurrent call.
    Refused(RefreshToken, UserStanding),
    /// No such token.
    Unknown,
}

/// Refresh tokens, keyed by digest.
#[async_trait]
pub trait RefreshTokenRepo: Send + Sync {
    /// Stores a new token (first of a family, or a rotation's successor via `rotate`).
    async fn insert(&self, token: &RefreshToken) -> Result<()>;

    /// The token with this digest, whatever its state.
    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshToken>>;

    /// Rotates the token with digest `presented` in one atomic step: marks it used at
    /// `rotation.now` and stores its successor (same family, client, user, scope and family
    /// end), if and only if it belongs to `rotation.client_id`, is neither used nor revoked,
    /// is within its family's lifetime and the idle timeout, covers `rotation.within`, and
    /// its user is active. Of concurrent calls with the same token, at most one rotates.
    async fn rotate(&self, presented: &TokenHash, rotation: &Rotation) -> Result<RotationOutcome>;

    /// Revokes every not yet revoked token of the family, including successors committed
    /// while this runs; returns the access tokens issued with the tokens it revoked, for the
    /// deny-list.
    async fn revoke_family(
        &self,
        family_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>>;

    /// Revokes every not yet revoked refresh token of a user; returns the access tokens issued
    /// with them.
    async fn revoke_for_user(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>>;

    /// Removes at most `limit` tokens whose family ended before `before`; returns how many.
    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64>;
}

/// Access tokens revoked before their expiry, by `jti`.
#[async_trait]
pub trait DenylistRepo: Send + Sync {
    /// Deny-lists the tokens until their expiry (idempotent).
    async fn deny(&self, tokens: &[IssuedAccess]) -> Result<()>;

    /// Whether the token with this `jti` is deny-listed.
    async fn is_denied(&self, jti: Uuid) -> Result<bool>;

    /// Removes at most `limit` entries whose token expired before `before`.
    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64>;
}

/// What a guarded membership change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum OwnerGuarded {
    /// Done.
    Done,
    /// The user is not a member.
    NotMember,
    /// Refused: it would leave the organization without an owner.
    LastOwner,
    /// Refused: the member's role, or the acting member's own role, is no longer the one the
    /// caller's permission check saw.
    RoleChanged,
}

/// The member making a membership change, with the role their permission check saw. The
/// repository re-reads that role under the organization's lock, so a member demoted or
/// removed while their request runs cannot still make the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgActor {
    /// The acting member.
    pub user: UserId,
    /// Their role when they were checked.
    pub role: OrgRole,
}

/// Organizations and memberships.
#[async_trait]
pub trait OrgRepo: Send + Sync {
    /// Stores a new organization with `owner` as its first owner, atomically.
    ///
    /// # Errors
    /// `Conflict { constraint: ORG_SLUG_UNIQUE }` when the slug is taken.
    async fn create(&self, org: &Organization, owner: &Membership) -> Result<()>;

    /// The organization with this id.
    async fn find(&self, id: OrgId) -> Result<Option<Organization>>;

    /// The user's role in the organization, if a member.
    async fn role_of(&self, org: OrgId, user: UserId) -> Result<Option<OrgRole>>;

    /// The organizations the user belongs to, with their role, in id order.
    async fn orgs_of(&self, user: UserId) -> Result<Vec<(Organization, OrgRole)>>;

    /// The members, in user-id order.
    async fn members(&self, org: OrgId) -> Result<Vec<Membership>>;

    /// Adds a member, unless `actor` no longer holds their checked role (`None`: nobody to
    /// re-check, a platform admin). Serialized like `set_role`. Never `NotMember` or
    /// `LastOwner`.
    ///
    /// # Errors
    /// `Conflict { constraint: MEMBERSHIP_UNIQUE }` when the user is a member already.
    async fn add_member(
        &self,
        membership: &Membership,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded>;

    /// Changes a member's role, unless that demotes the last owner, or the member's role is
    /// no longer `expected` (the role the caller's permission check saw), or `actor` no longer
    /// holds theirs. Serialized per organization, so concurrent changes cannot together
    /// remove every owner, nor act on a role that changed after it was checked.
    async fn set_role(
        &self,
        org: OrgId,
        user: UserId,
        role: OrgRole,
        expected: OrgRole,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded>;

    /// Removes a member, unless they are the last owner or their role is no longer
    /// `expected` (`None`: any role, for leaving), or `actor` no longer holds theirs.
    /// Serialized like `set_role`.
    async fn remove_member(
        &self,
        org: OrgId,
        user: UserId,
        expected: Option<OrgRole>,
        actor: Option<OrgActor>,
    ) -> Result<OwnerGuarded>;
}

/// Expiring counters and marks, for rate limits and lock-outs (in-process, or in Redis so
/// that every instance shares them).
#[async_trait]
pub trait CounterRepo: Send + Sync {
    /// Adds one to `key`, creating it to expire `ttl` after `now` when absent or expired;
    /// returns the new count.
    async fn increment(&self, key: &str, ttl: Duration, now: OffsetDateTime) -> Result<u64>;

    /// Marks `key` until `until`.
    async fn mark_until(&self, key: &str, until: OffsetDateTime, now: OffsetDateTime)
    -> Result<()>;

    /// When the mark on `key` ends, if it is set and has not ended at `now`.
    async fn marked_until(&self, key: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>>;

    /// Removes `key` (a counter or a mark).
    async fn remove(&self, key: &str) -> Result<()>;
}

/// Reachability of a backing store, for `/health` and `/ready`.
#[async_trait]
pub trait StoreProbe: Send + Sync {
    /// `Ok` when a trivial query succeeds within a short timeout.
    async fn ping(&self) -> Result<()>;
}

/// Every repository the services need, behind trait objects.
#[derive(Clone)]
pub struct Repos {
    /// User accounts.
    pub users: Arc<dyn UserRepo>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionRepo>,
    /// OAuth clients.
    pub clients: Arc<dyn ClientRepo>,
    /// Authorization codes.
    pub codes: Arc<dyn AuthCodeRepo>,
    /// Refresh tokens.
    pub refresh_tokens: Arc<dyn RefreshTokenRepo>,
    /// Revoked access tokens.
    pub denylist: Arc<dyn DenylistRepo>,
    /// Rate-limit and lock-out counters.
    pub counters: Arc<dyn CounterRepo>,
    /// Organizations and memberships.
    pub orgs: Arc<dyn OrgRepo>,
    /// `None` when no database is configured (in-memory storage).
    pub database: Option<Arc<dyn StoreProbe>>,
    /// `None` when no Redis is configured.
    pub redis: Option<Arc<dyn StoreProbe>>,
}
