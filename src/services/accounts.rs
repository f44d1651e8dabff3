//! Registration and password sign-in.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use secrecy::SecretString;

use super::{Error, Limiter, PasswordHasher, Principal, Result, Verdict};
use crate::clock::Clock;
use crate::domain::{DisplayName, Email, Password, Role, StoredPasswordHash, User, UserId};
use crate::metrics::{Limit, Metrics};
use crate::repos::{RepoError, USER_EMAIL_UNIQUE, UserRepo};

/// Creates accounts and checks passwords.
pub struct AccountService {
    users: Arc<dyn UserRepo>,
    hasher: Arc<PasswordHasher>,
    clock: Arc<dyn Clock>,
    allow_registration: bool,
    limits: Option<Arc<Limiter>>,
    metrics: Arc<Metrics>,
}

impl AccountService {
    /// A service over these collaborators.
    #[must_use]
    pub fn new(
        users: Arc<dyn UserRepo>,
        hasher: Arc<PasswordHasher>,
        clock: Arc<dyn Clock>,
        allow_registration: bool,
    ) -> Self {
        Self {
            users,
            hasher,
            clock,
            allow_registration,
            limits: None,
            metrics: Arc::default(),
        }
    }

    /// Counts failed sign-ins in `metrics`.
    #[must_use]
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        Self { metrics, ..self }
    }

    /// Applies brute-force limits to [`Self::sign_in`] and [`Self::register_from`].
    #[must_use]
    pub fn with_limits(self, limits: Arc<Limiter>) -> Self {
        Self {
            limits: Some(limits),
            ..self
        }
    }

    /// Self-service sign-up from `ip`, counted against the per-IP attempt limit.
    ///
    /// # Errors
    /// `Throttled`, and those of [`Self::register`].
    pub async fn register_from(
        &self,
        ip: IpAddr,
        email: &str,
        password: SecretString,
        name: &str,
    ) -> Result<User> {
        if let Some(limits) = &self.limits {
            limits
                .sign_in_attempt(ip)
                .await?
                .map_err(Error::Throttled)?;
        }
        self.register(email, password, name).await
    }

    /// A password sign-in from `ip`: the per-IP limit and the account's lock-out are checked
    /// first, and the outcome is recorded (failures slow the account down and lock it).
    ///
    /// # Errors
    /// `Throttled`, `InvalidCredentials`, or a store failure.
    pub async fn sign_in(&self, ip: IpAddr, email: &str, password: SecretString) -> Result<User> {
        let outcome = self.limited_sign_in(ip, email, password).await;
        if matches!(outcome, Err(Error::InvalidCredentials)) {
            self.metrics.login_failed();
        }
        outcome
    }

    async fn limited_sign_in(
        &self,
        ip: IpAddr,
        email: &str,
        password: SecretString,
    ) -> Result<User> {
        if let Some(limits) = &self.limits {
            limits
                .sign_in_attempt(ip)
                .await?
                .map_err(Error::Throttled)?;
        }
        // Refused before the account's failure counter exists: a flood from many addresses
        // then costs neither memory nor a wait for a hash it would not get in time.
        let Some(_place) = self.hasher.sign_in_place() else {
            self.metrics.rate_limited(Limit::sign_in_queue);
            return Err(Error::Overloaded);
        };
        let Some(limits) = &self.limits else {
            return self.authenticate(email, password).await;
        };
        let attempt = limits
            .begin_sign_in(email)
            .await?
            .map_err(Error::Throttled)?;
        let outcome = self.authenticate(email, password).await;
        match &outcome {
            Ok(_) => limits.record_success(email).await?,
            Err(Error::InvalidCredentials) => limits.failed_sign_in(email, attempt).await?,
            Err(_) => {}
        }
        outcome
    }

    /// Creates an account through self-service sign-up.
    ///
    /// # Errors
    /// `RegistrationDisabled`, `Invalid` (email, password, name), `EmailTaken`.
    pub async fn register(&self, email: &str, password: SecretString, name: &str) -> Result<User> {
        if !self.allow_registration {
            return Err(Error::RegistrationDisabled);
        }
        self.create_user(email, password, name).await
    }

    /// Creates an account whatever `ALLOW_REGISTRATION` says (seed data, admin tooling).
    ///
    /// # Errors
    /// `Invalid` (email, password, name), `EmailTaken`.
    pub async fn create_user(
        &self,
        email: &str,
        password: SecretString,
        name: &str,
    ) -> Result<User> {
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        let name = DisplayName::parse(name)?;
        // Checked first to spare the hash on an obvious duplicate; the unique constraint
        // still decides under a race.
        if self.users.find_by_email(&email).await?.is_some() {
            return Err(Error::EmailTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        self.insert_user(email, name, password_hash).await
    }

    /// Creates an account whose password hash is already known: the dev seed account, whose
    /// hash is a constant so that start-up spends no hash on it. A hash with other Argon2
    /// parameters than the configured ones is replaced at the first sign-in, as for any
    /// account.
    ///
    /// # Errors
    /// `Invalid` (email, name), `EmailTaken`.
    pub async fn create_user_with_hash(
        &self,
        email: &str,
        password_hash: StoredPasswordHash,
        name: &str,
    ) -> Result<User> {
        let email = Email::parse(email)?;
        let name = DisplayName::parse(name)?;
        self.insert_user(email, name, password_hash).await
    }

    async fn insert_user(
        &self,
        email: Email,
        name: DisplayName,
        password_hash: StoredPasswordHash,
    ) -> Result<User> {
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            email,
            name,
            password_hash,
            roles: BTreeSet::from([Role::User]),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        match self.users.insert(&user).await {
            Ok(()) => Ok(user),
            Err(RepoError::Conflict {
                constraint: USER_EMAIL_UNIQUE,
            }) => Err(Error::EmailTaken),
            Err(other) => Err(other.into()),
        }
    }

    /// Checks an email and password. Unknown email, wrong password and disabled account all
    /// answer `InvalidCredentials` after the same hashing work. A stored hash made with other
    /// Argon2 parameters is replaced on success.
    ///
    /// # Errors
    /// `InvalidCredentials`, or a store failure.
    pub async fn authenticate(&self, email: &str, password: SecretString) -> Result<User> {
        let user = match Email::parse(email) {
            Ok(email) => self.users.find_by_email(&email).await?,
            Err(_) => None,
        };
        let verdict = self
            .hasher
            .verify(password.clone(), user.as_ref().map(|u| &u.password_hash))
            .await?;
        let user = match (user, verdict) {
            (Some(user), Verdict::Match { needs_rehash }) if user.is_active => {
                if needs_rehash {
                    self.rehash(&user, password).await;
                }
                user
            }
            _ => return Err(Error::InvalidCredentials),
        };
        Ok(user)
    }

    /// The account with this id.
    ///
    /// # Errors
    /// A store failure.
    pub async fn find(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.users.find_by_id(id).await?)
    }

    /// `create-admin`: grants `admin` to the account with this email, creating it with
    /// `password` if there is none (an existing account keeps its password). Returns the
    /// account and whether it was created.
    ///
    /// # Errors
    /// `Invalid` (email, or password for a new account), or a store failure.
    pub async fn ensure_admin(&self, email: &str, password: SecretString) -> Result<(User, bool)> {
        let parsed = Email::parse(email)?;
        let (user, created) = match self.users.find_by_email(&parsed).await? {
            Some(user) => (user, false),
            None => {
                let name = parsed.as_str().split('@').next().unwrap_or("admin");
                match self.create_user(email, password, name).await {
                    Ok(user) => (user, true),
                    // Created concurrently by someone else: promote that one.
                    Err(Error::EmailTaken) => (
                        self.users
                            .find_by_email(&parsed)
                            .await?
                            .ok_or(Error::NotFound)?,
                        false,
                    ),
                    Err(other) => return Err(other),
                }
            }
        };
        let mut roles = user.roles.clone();
        roles.extend([Role::User, Role::Admin]);
        let user = self
            .users
            .set_roles(user.id, &roles, self.clock.now())
            .await?;
        Ok((user, created))
    }

    /// Renames `target`, if the caller is that user or an admin. The permission is checked
    /// before the lookup, so others get 403 whether or not `target` exists.
    ///
    /// # Errors
    /// `Forbidden`, `Invalid` (name), `NotFound` (admins only).
    pub async fn rename(&self, caller: &Principal, target: UserId, name: &str) -> Result<User> {
        caller.require_self_or_admin(target)?;
        let name = DisplayName::parse(name)?;
        match self
            .users
            .update_name(target, &name, self.clock.now())
            .await
        {
            Ok(user) => Ok(user),
            Err(RepoError::NotFound) => Err(Error::NotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// Best effort: a failure leaves the old (still valid) hash in place and is only logged.
    async fn rehash(&self, user: &User, password: SecretString) {
        let result = async {
            let password = Password::parse(password)?;
            let hash = self.hasher.hash(password).await?;
            self.users
                .update_password_hash(user.id, &hash, self.clock.now())
                .await?;
            Ok::<_, Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "password rehashed with current parameters")
            }
            Err(err) => tracing::warn!(user_id = %user.id, error = %err, "password rehash failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Argon2Settings;
    use crate::repos::memory::InMemoryUserRepo;

    const CHEAP: Argon2Settings = Argon2Settings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    async fn service_with(users: Arc<dyn UserRepo>, argon2: Argon2Settings) -> AccountService {
        let hasher = Arc::new(PasswordHasher::new(argon2, 1).unwrap());
        AccountService::new(users, hasher, Arc::new(ManualClock::starting_now()), true)
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[tokio::test]
    async fn a_full_hashing_queue_refuses_sign_ins_before_counting_them() {
        let clock = ManualClock::starting_now();
        let hasher = Arc::new(PasswordHasher::new(CHEAP, 1).unwrap());
        let limits = Arc::new(Limiter::new(
            Arc::new(crate::repos::memory::InMemoryCounterRepo::default()),
            Arc::new(clock.clone()),
            crate::config::Config::from_pairs(&[]).unwrap().limits,
        ));
        let accounts = AccountService::new(
            Arc::new(InMemoryUserRepo::default()),
            hasher.clone(),
            Arc::new(clock),
            true,
        )
        .with_limits(limits);
        accounts
            .register("ada@example.com", secret("correct horse"), "Ada")
            .await
            .unwrap();
        let ip: IpAddr = "203.0.113.1".parse().unwrap();

        let queue: Vec<_> = std::iter::from_fn(|| hasher.sign_in_place()).collect();
        assert_eq!(
            queue.len(),
            super::super::passwords::SIGN_INS_QUEUED_PER_SLOT
        );
        for _ in 0..20 {
            let refused = accounts
                .sign_in(ip, "ada@example.com", secret("wrong"))
                .await;
            assert!(matches!(refused, Err(Error::Overloaded)), "{refused:?}");
        }
        drop(queue);
        // Twenty wrong passwords would have locked the account; refused unchecked, they
        // did not count.
        accounts
            .sign_in(ip, "ada@example.com", secret("correct horse"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn register_normalises_the_email_and_stores_only_a_hash() {
        let users: Arc<dyn UserRepo> = Arc::new(InMemoryUserRepo::default());
        let accounts = service_with(users.clone(), CHEAP).await;
        let user = accounts
            .register("  Ada@Example.com", secret("correct horse"), "Ada")
            .await
            .unwrap();
        assert_eq!(user.email.as_str(), "ada@example.com");
        let stored = users.find_by_id(user.id).await.unwrap().unwrap();
        assert!(stored.password_hash.as_str().starts_with("$argon2id$"));
        assert!(!stored.password_hash.as_str().contains("correct horse"));
    }

    #[tokio::test]
    async fn emails_differing_only_in_case_are_the_same_account() {
        let accounts = service_with(Arc::new(InMemoryUserRepo::default()), CHEAP).await;
        accounts
            .register("ada@example.com", secret("correct horse"), "Ada")
            .await
            .unwrap();
        let again = accounts
            .register("ADA@EXAMPLE.COM", secret("another pass"), "Ada 2")
            .await;
        assert!(matches!(again, Err(Error::EmailTaken)), "{again:?}");
        let signed_in = accounts
            .authenticate(" Ada@Example.Com ", secret("correct horse"))
            .await;
        assert!(signed_in.is_ok());
    }

    #[tokio::test]
    async fn registration_can_be_switched_off() {
        let hasher = Arc::new(PasswordHasher::new(CHEAP, 1).unwrap());
        let accounts = AccountService::new(
            Arc::new(InMemoryUserRepo::default()),
            hasher,
            Arc::new(ManualClock::starting_now()),
            false,
        );
        let result = accounts
            .register("ada@example.com", secret("correct horse"), "Ada")
            .await;
        assert!(matches!(result, Err(Error::RegistrationDisabled)));
    }

    #[tokio::test]
    async fn wrong_password_unknown_email_and_disabled_account_look_the_same() {
        let users: Arc<dyn UserRepo> = Arc::new(InMemoryUserRepo::default());
        let hasher = Arc::new(PasswordHasher::new(CHEAP, 1).unwrap());
        let accounts = AccountService::new(
            users.clone(),
            hasher.clone(),
            Arc::new(ManualClock::starting_now()),
            true,
        );
        let user = accounts
            .register("ada@example.com", secret("correct horse"), "Ada")
            .await
            .unwrap();
        let disabled = User {
            id: UserId::generate(),
            email: Email::parse("off@example.com").unwrap(),
            is_active: false,
            ..user
        };
        users.insert(&disabled).await.unwrap();

        for (email, password) in [
            ("ada@example.com", "wrong horse"),
            ("nobody@example.com", "correct horse"),
            ("not an email", "correct horse"),
            ("off@example.com", "correct horse"),
        ] {
            let before = hasher.verifications();
            let result = accounts.authenticate(email, secret(password)).await;
            assert!(
                matches!(result, Err(Error::InvalidCredentials)),
                "{email}: {result:?}"
            );
            assert_eq!(
                hasher.verifications(),
                before + 1,
                "{email} skipped the hash work"
            );
        }
    }

    #[tokio::test]
    async fn sign_in_upgrades_a_hash_made_with_old_parameters() {
        let users: Arc<dyn UserRepo> = Arc::new(InMemoryUserRepo::default());
        let old = service_with(users.clone(), CHEAP).await;
        let user = old
            .register("ada@example.com", secret("correct horse"), "Ada")
            .await
            .unwrap();
        let stronger = Argon2Settings {
            memory_kib: 128,
            iterations: 2,
            ..CHEAP
        };
        let new = service_with(users.clone(), stronger).await;

        new.authenticate("ada@example.com", secret("correct horse"))
            .await
            .unwrap();

        let stored = users.find_by_id(user.id).await.unwrap().unwrap();
        assert!(
            stored
                .password_hash
                .as_str()
                .starts_with("$argon2id$v=19$m=128,t=2,p=1$"),
            "{}",
            stored.password_hash.as_str()
        );
        // The upgraded hash still accepts the password, and needs no further rehash.
        new.authenticate("ada@example.com", secret("correct horse"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn ensure_admin_creates_or_promotes_and_keeps_an_existing_password() {
        let users: Arc<dyn UserRepo> = Arc::new(InMemoryUserRepo::default());
        let accounts = service_with(users.clone(), CHEAP).await;

        let (created, was_created) = accounts
            .ensure_admin("Root@Example.com", secret("root password"))
            .await
            .unwrap();
        assert!(was_created);
        assert_eq!(created.roles, BTreeSet::from([Role::User, Role::Admin]));
        accounts
            .authenticate("root@example.com", secret("root password"))
            .await
            .unwrap();

        let existing = accounts
            .register("ada@example.com", secret("correct horse"), "Ada")
            .await
            .unwrap();
        let (promoted, was_created) = accounts
            .ensure_admin("ada@example.com", secret("ignored password"))
            .await
            .unwrap();
        assert!(!was_created);
        assert_eq!(promoted.id, existing.id);
        assert!(promoted.roles.contains(&Role::Admin));
        accounts
            .authenticate("ada@example.com", secret("correct horse"))
            .await
            .unwrap();
        assert!(
            accounts
                .authenticate("ada@example.com", secret("ignored password"))
                .await
                .is_err()
        );
    }
}
