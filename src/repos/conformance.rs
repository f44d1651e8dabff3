//! The repository conformance suite: written once, run against every implementation, so the
//! in-memory and Postgres repositories cannot drift apart.
//!
//! Each backend calls [`conformance_tests!`] with a runner: an async function that builds a
//! fresh, empty [`Repos`] and hands it to the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

use time::{Duration, OffsetDateTime};

use super::{RepoError, Repos, USER_EMAIL_UNIQUE};
use crate::clock::{Clock, SystemClock};
use crate::domain::{
    DisplayName, Email, OpaqueToken, Session, SessionId, StoredPasswordHash, User, UserId,
};

/// Expands to one `#[tokio::test]` per conformance case, each run through `$runner`.
#[cfg(test)]
macro_rules! conformance_tests {
    ($runner:path) => {
        $crate::repos::conformance::conformance_tests!(@cases $runner;
            user_insert_then_find_by_email_and_id,
            user_email_is_unique,
            user_unknown_is_none,
            user_password_hash_update,
            session_insert_then_find_live,
            session_is_dead_from_its_expiry_instant,
            session_delete_is_idempotent,
            session_delete_for_user_spares_others,
            session_delete_expired_respects_the_batch_limit,
        );
    };
    (@cases $runner:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $runner(|repos| $crate::repos::conformance::$case(repos)).await;
            }
        )*
    };
}
#[cfg(test)]
pub(crate) use conformance_tests;

fn now() -> OffsetDateTime {
    SystemClock.now()
}

fn user(email: &str, at: OffsetDateTime) -> User {
    User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("Conformance").unwrap(),
        password_hash: StoredPasswordHash::new(
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        ),
        is_active: true,
        created_at: at,
        updated_at: at,
    }
}

fn session(user_id: UserId, at: OffsetDateTime, ttl: Duration) -> Session {
    Session {
        id: SessionId::generate(),
        token_hash: OpaqueToken::generate().unwrap().hash(),
        user_id,
        created_at: at,
        expires_at: at + ttl,
    }
}

pub async fn user_insert_then_find_by_email_and_id(repos: Repos) {
    let alice = user("alice@example.com", now());
    repos.users.insert(&alice).await.unwrap();

    let by_email = repos.users.find_by_email(&alice.email).await.unwrap();
    assert_eq!(by_email.as_ref(), Some(&alice));
    let by_id = repos.users.find_by_id(alice.id).await.unwrap();
    assert_eq!(by_id, Some(alice));
}

pub async fn user_email_is_unique(repos: Repos) {
    repos
        .users
        .insert(&user("bob@example.com", now()))
        .await
        .unwrap();
    let again = repos.users.insert(&user("BOB@example.com ", now())).await;
    assert!(
        matches!(again, Err(RepoError::Conflict { constraint }) if constraint == USER_EMAIL_UNIQUE),
        "{again:?}"
    );
}

pub async fn user_unknown_is_none(repos: Repos) {
    let email = Email::parse("nobody@example.com").unwrap();
    assert_eq!(repos.users.find_by_email(&email).await.unwrap(), None);
    assert_eq!(
        repos.users.find_by_id(UserId::generate()).await.unwrap(),
        None
    );
}

pub async fn user_password_hash_update(repos: Repos) {
    let created = now();
    let carol = user("carol@example.com", created);
    repos.users.insert(&carol).await.unwrap();
    let new_hash = StoredPasswordHash::new("$argon2id$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$bmV3".into());
    let later = created + Duration::seconds(5);

    repos
        .users
        .update_password_hash(carol.id, &new_hash, later)
        .await
        .unwrap();
    let stored = repos.users.find_by_id(carol.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, new_hash);
    assert_eq!(stored.updated_at, later);
    assert_eq!(stored.created_at, created);

    let missing = repos
        .users
        .update_password_hash(UserId::generate(), &new_hash, later)
        .await;
    assert!(matches!(missing, Err(RepoError::NotFound)), "{missing:?}");
}

pub async fn session_insert_then_find_live(repos: Repos) {
    let at = now();
    let dave = user("dave@example.com", at);
    repos.users.insert(&dave).await.unwrap();
    let s = session(dave.id, at, Duration::minutes(30));
    repos.sessions.insert(&s).await.unwrap();

    let found = repos.sessions.find_live(&s.token_hash, at).await.unwrap();
    assert_eq!(found, Some(s));
    let other = OpaqueToken::generate().unwrap().hash();
    assert_eq!(repos.sessions.find_live(&other, at).await.unwrap(), None);
}

pub async fn session_is_dead_from_its_expiry_instant(repos: Repos) {
    let at = now();
    let erin = user("erin@example.com", at);
    repos.users.insert(&erin).await.unwrap();
    let s = session(erin.id, at, Duration::minutes(30));
    repos.sessions.insert(&s).await.unwrap();

    let just_before = s.expires_at - Duration::microseconds(1);
    assert!(
        repos
            .sessions
            .find_live(&s.token_hash, just_before)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        repos
            .sessions
            .find_live(&s.token_hash, s.expires_at)
            .await
            .unwrap(),
        None
    );
}

pub async fn session_delete_is_idempotent(repos: Repos) {
    let at = now();
    let frank = user("frank@example.com", at);
    repos.users.insert(&frank).await.unwrap();
    let s = session(frank.id, at, Duration::minutes(30));
    repos.sessions.insert(&s).await.unwrap();

    assert!(repos.sessions.delete(&s.token_hash).await.unwrap());
    assert!(!repos.sessions.delete(&s.token_hash).await.unwrap());
    assert_eq!(
        repos.sessions.find_live(&s.token_hash, at).await.unwrap(),
        None
    );
}

pub async fn session_delete_for_user_spares_others(repos: Repos) {
    let at = now();
    let gina = user("gina@example.com", at);
    let hank = user("hank@example.com", at);
    repos.users.insert(&gina).await.unwrap();
    repos.users.insert(&hank).await.unwrap();
    let gina_1 = session(gina.id, at, Duration::minutes(30));
    let gina_2 = session(gina.id, at, Duration::minutes(30));
    let hank_1 = session(hank.id, at, Duration::minutes(30));
    for s in [&gina_1, &gina_2, &hank_1] {
        repos.sessions.insert(s).await.unwrap();
    }

    assert_eq!(repos.sessions.delete_for_user(gina.id).await.unwrap(), 2);
    assert_eq!(
        repos
            .sessions
            .find_live(&gina_1.token_hash, at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repos
            .sessions
            .find_live(&gina_2.token_hash, at)
            .await
            .unwrap(),
        None
    );
    assert!(
        repos
            .sessions
            .find_live(&hank_1.token_hash, at)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn session_delete_expired_respects_the_batch_limit(repos: Repos) {
    let at = now();
    let ivy = user("ivy@example.com", at);
    repos.users.insert(&ivy).await.unwrap();
    let live = session(ivy.id, at, Duration::hours(1));
    repos.sessions.insert(&live).await.unwrap();
    for _ in 0..3 {
        repos
            .sessions
            .insert(&session(
                ivy.id,
                at - Duration::hours(2),
                Duration::minutes(30),
            ))
            .await
            .unwrap();
    }

    assert_eq!(repos.sessions.delete_expired(at, 2).await.unwrap(), 2);
    assert_eq!(repos.sessions.delete_expired(at, 2).await.unwrap(), 1);
    assert_eq!(repos.sessions.delete_expired(at, 2).await.unwrap(), 0);
    assert!(
        repos
            .sessions
            .find_live(&live.token_hash, at)
            .await
            .unwrap()
            .is_some()
    );
}
