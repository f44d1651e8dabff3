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

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use uuid::Uuid;

use super::{
    CLIENT_ID_UNIQUE, CodeConsumption, Exchange, MEMBERSHIP_UNIQUE, ORG_SLUG_UNIQUE, OrgActor,
    OwnerGuarded, RepoError, Repos, Rotation, RotationOutcome, USER_EMAIL_UNIQUE, UserStanding,
};
use crate::clock::{Clock, SystemClock};
use crate::domain::{
    AuthMethod, AuthorizationCode, Client, ClientId, CodeChallenge, CodeIssue, DisplayName, Email,
    GrantType, IssuedAccess, Membership, OpaqueToken, OrgId, OrgRole, OrgStatus, Organization,
    RefreshToken, Role, Scope, Session, SessionId, Slug, StoredPasswordHash, User, UserId,
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
            user_profile_roles_and_activity_updates,
            user_listing_pages_in_id_order,
            session_insert_then_find_live,
            session_is_dead_from_its_expiry_instant,
            session_delete_is_idempotent,
            session_delete_for_user_spares_others,
            session_delete_expired_respects_the_batch_limit,
            client_insert_then_find,
            client_id_is_unique,
            code_is_consumed_exactly_once,
            code_consumption_reads_its_user_as_they_stand,
            code_consumption_opens_a_family_only_for_a_matching_exchange,
            code_concurrent_consumes_have_one_winner,
            code_delete_expired,
            refresh_rotation_is_single_use,
            refresh_rotation_refuses_what_it_must_not_rotate,
            refresh_concurrent_rotations_have_one_winner,
            refresh_revoke_family_reports_its_access_tokens,
            denylist_deny_is_idempotent,
            denylist_entries_are_swept_after_expiry,
            revoking_a_user_reports_every_access_token_issued_to_them,
            counters_count_until_removed,
            marks_hold_until_their_end,
            org_create_find_and_list,
            org_members_are_unique,
            org_keeps_its_last_owner,
            org_concurrent_removals_of_the_last_two_owners_leave_one,
            org_changes_refuse_a_role_that_changed_since_it_was_checked,
            org_changes_refuse_an_actor_whose_role_changed_since_it_was_checked,
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

pub(crate) fn now() -> OffsetDateTime {
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
        roles: BTreeSet::from([Role::User]),
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

fn client(id: &str, at: OffsetDateTime) -> Client {
    Client {
        id: ClientId::new(id),
        secret_hash: Some(OpaqueToken::generate().unwrap().hash()),
        auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scope: Scope::parse("openid profile").unwrap(),
        name: Some("App".into()),
        created_at: at,
    }
}

/// A stored user and client to hang codes and tokens on.
pub(crate) async fn owner(repos: &Repos, at: OffsetDateTime) -> (UserId, ClientId) {
    let u = user(&format!("{}@example.com", Uuid::new_v4().simple()), at);
    repos.users.insert(&u).await.unwrap();
    let c = client(&Uuid::new_v4().simple().to_string(), at);
    repos.clients.insert(&c).await.unwrap();
    (u.id, c.id)
}

fn access(at: OffsetDateTime) -> IssuedAccess {
    IssuedAccess {
        jti: Uuid::new_v4(),
        expires_at: at + Duration::minutes(15),
    }
}

/// RFC 7636 Appendix B's verifier; every code in the suite carries its challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub(crate) fn code(user_id: UserId, client_id: ClientId, at: OffsetDateTime) -> AuthorizationCode {
    AuthorizationCode {
        hash: OpaqueToken::generate().unwrap().hash(),
        client_id,
        user_id,
        redirect_uri: "https://app.example/cb".into(),
        scope: Scope::parse("openid").unwrap(),
        challenge: CodeChallenge::of_verifier(VERIFIER).unwrap(),
        created_at: at,
        expires_at: at + Duration::seconds(60),
        consumed_at: None,
        issued: None,
    }
}

fn refresh(
    user_id: UserId,
    client_id: ClientId,
    family_id: Uuid,
    at: OffsetDateTime,
) -> RefreshToken {
    RefreshToken {
        hash: OpaqueToken::generate().unwrap().hash(),
        family_id,
        client_id,
        user_id,
        scope: Scope::parse("openid profile").unwrap(),
        created_at: at,
        family_expires_at: at + Duration::days(30),
        used_at: None,
        revoked_at: None,
        access: access(at),
    }
}

pub async fn client_insert_then_find(repos: Repos) {
    let at = now();
    let confidential = client("conf", at);
    let public = Client {
        id: ClientId::new("pub"),
        secret_hash: None,
        auth_method: AuthMethod::None,
        name: None,
        scope: Scope::default(),
        ..client("pub", at)
    };
    repos.clients.insert(&confidential).await.unwrap();
    repos.clients.insert(&public).await.unwrap();

    assert_eq!(
        repos.clients.find(&confidential.id).await.unwrap(),
        Some(confidential)
    );
    assert_eq!(repos.clients.find(&public.id).await.unwrap(), Some(public));
    assert_eq!(
        repos.clients.find(&ClientId::new("nope")).await.unwrap(),
        None
    );
}

pub async fn client_id_is_unique(repos: Repos) {
    repos.clients.insert(&client("same", now())).await.unwrap();
    let again = repos.clients.insert(&client("same", now())).await;
    assert!(
        matches!(again, Err(RepoError::Conflict { constraint }) if constraint == CLIENT_ID_UNIQUE),
        "{again:?}"
    );
}

/// An exchange at `at` that records `issue` and matches no code: no refresh token.
fn plain(at: OffsetDateTime, issue: CodeIssue) -> Exchange {
    Exchange {
        client_id: ClientId::new("no-such-client"),
        redirect_uri: None,
        challenge: None,
        now: at,
        issue,
        refresh_token: None,
        family_expires_at: at + Duration::days(30),
    }
}

/// The exchange a client makes of `code` with its verifier, opening a refresh-token family.
pub(crate) fn matching(code: &AuthorizationCode, at: OffsetDateTime) -> Exchange {
    Exchange {
        client_id: code.client_id.clone(),
        redirect_uri: Some(code.redirect_uri.clone()),
        challenge: CodeChallenge::of_verifier(VERIFIER).ok(),
        now: at,
        issue: CodeIssue {
            access: access(at),
            family_id: Some(Uuid::new_v4()),
        },
        refresh_token: Some(OpaqueToken::generate().unwrap().hash()),
        family_expires_at: at + Duration::days(30),
    }
}

pub async fn code_consumption_opens_a_family_only_for_a_matching_exchange(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let consume = async |exchange: &Exchange| {
        let stored = code(user_id, client_id.clone(), at);
        repos.codes.insert(&stored).await.unwrap();
        let consumed = repos.codes.consume(&stored.hash, exchange).await.unwrap();
        assert!(
            matches!(&consumed, CodeConsumption::Consumed(found, _) if found.issued == Some(exchange.issue)),
            "{consumed:?}"
        );
        let hash = exchange.refresh_token.unwrap();
        repos.refresh_tokens.find(&hash).await.unwrap()
    };
    let template = code(user_id, client_id.clone(), at);
    let (_, other_client) = owner(&repos, at).await;
    let mismatches = [
        Exchange {
            client_id: other_client,
            ..matching(&template, at)
        },
        Exchange {
            redirect_uri: Some("https://app.example/other".into()),
            ..matching(&template, at)
        },
        Exchange {
            redirect_uri: None,
            ..matching(&template, at)
        },
        Exchange {
            challenge: None,
            ..matching(&template, at)
        },
        Exchange {
            challenge: CodeChallenge::of_verifier(&"a".repeat(43)).ok(),
            ..matching(&template, at)
        },
        matching(&template, template.expires_at),
    ];
    for exchange in &mismatches {
        assert_eq!(consume(exchange).await, None, "{exchange:?}");
    }

    let exchange = matching(&template, template.expires_at - Duration::seconds(1));
    let stored = consume(&exchange).await.unwrap();
    assert_eq!(Some(stored), exchange.first_refresh_token(&template));

    repos.users.deactivate(user_id, at).await.unwrap();
    assert_eq!(
        consume(&matching(&template, at)).await,
        None,
        "inactive user"
    );
}

pub async fn code_is_consumed_exactly_once(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let stored = code(user_id, client_id, at);
    repos.codes.insert(&stored).await.unwrap();
    let first = CodeIssue {
        access: access(at),
        family_id: Some(Uuid::new_v4()),
    };
    let second = CodeIssue {
        access: access(at),
        family_id: None,
    };

    let consumed = repos
        .codes
        .consume(&stored.hash, &plain(at, first))
        .await
        .unwrap();
    let expected = AuthorizationCode {
        consumed_at: Some(at),
        issued: Some(first),
        ..stored.clone()
    };
    assert_eq!(
        consumed,
        CodeConsumption::Consumed(expected.clone(), active_user())
    );
    let later = at + Duration::seconds(1);
    let replayed = repos
        .codes
        .consume(&stored.hash, &plain(later, second))
        .await
        .unwrap();
    assert_eq!(
        replayed,
        CodeConsumption::Replayed(expected),
        "a replay must not overwrite"
    );
    let unknown = OpaqueToken::generate().unwrap().hash();
    let none = repos
        .codes
        .consume(&unknown, &plain(at, second))
        .await
        .unwrap();
    assert_eq!(none, CodeConsumption::Unknown);
}

pub async fn code_consumption_reads_its_user_as_they_stand(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let issue = || CodeIssue {
        access: access(at),
        family_id: None,
    };
    let roles = BTreeSet::from([Role::User, Role::Admin]);
    repos.users.set_roles(user_id, &roles, at).await.unwrap();
    let promoted = code(user_id, client_id.clone(), at);
    repos.codes.insert(&promoted).await.unwrap();
    let consumed = repos
        .codes
        .consume(&promoted.hash, &plain(at, issue()))
        .await
        .unwrap();
    assert!(
        matches!(&consumed, CodeConsumption::Consumed(_, user) if user.is_active && user.roles == roles),
        "{consumed:?}"
    );

    repos.users.deactivate(user_id, at).await.unwrap();
    let disabled = code(user_id, client_id, at);
    repos.codes.insert(&disabled).await.unwrap();
    let consumed = repos
        .codes
        .consume(&disabled.hash, &plain(at, issue()))
        .await
        .unwrap();
    assert!(
        matches!(&consumed, CodeConsumption::Consumed(_, user) if !user.is_active),
        "the code is used up even though its user cannot get tokens: {consumed:?}"
    );
}

pub async fn code_concurrent_consumes_have_one_winner(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let stored = code(user_id, client_id, at);
    repos.codes.insert(&stored).await.unwrap();

    let attempts = (0..20).map(|_| {
        let codes = repos.codes.clone();
        let hash = stored.hash;
        tokio::spawn(async move {
            let issue = CodeIssue {
                access: access(at),
                family_id: None,
            };
            codes.consume(&hash, &plain(at, issue)).await.unwrap()
        })
    });
    let mut winners = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        if matches!(attempt.await.unwrap(), CodeConsumption::Consumed(..)) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

pub async fn code_delete_expired(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let issued_at = at - Duration::hours(1);
    let unredeemed = code(user_id, client_id.clone(), issued_at);
    let redeemed = code(user_id, client_id.clone(), issued_at);
    let fresh = code(user_id, client_id, at);
    for code in [&unredeemed, &redeemed, &fresh] {
        repos.codes.insert(code).await.unwrap();
    }
    let issue = CodeIssue {
        access: access(at),
        family_id: None,
    };
    let consume = |code: &AuthorizationCode| {
        let (codes, hash) = (repos.codes.clone(), code.hash);
        async move { codes.consume(&hash, &plain(at, issue)).await.unwrap() }
    };
    assert!(matches!(
        consume(&redeemed).await,
        CodeConsumption::Consumed(..)
    ));

    // An expired code nobody redeemed goes at once; a redeemed one stays for replay detection.
    let retention_start = at - Duration::days(30);
    assert_eq!(
        repos
            .codes
            .delete_expired(at, retention_start, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(consume(&unredeemed).await, CodeConsumption::Unknown);
    assert!(matches!(
        consume(&redeemed).await,
        CodeConsumption::Replayed(_)
    ));

    assert_eq!(repos.codes.delete_expired(at, at, 10).await.unwrap(), 1);
    assert_eq!(consume(&redeemed).await, CodeConsumption::Unknown);
    assert!(matches!(
        consume(&fresh).await,
        CodeConsumption::Consumed(..)
    ));
}

/// A rotation of a token of `client_id` at `now` with the suite's idle timeout.
fn rotation(client_id: &ClientId, now: OffsetDateTime) -> Rotation {
    Rotation {
        client_id: client_id.clone(),
        now,
        idle: Duration::days(7),
        within: Some(Scope::default()),
        successor: OpaqueToken::generate().unwrap().hash(),
        access: access(now),
    }
}

fn active_user() -> UserStanding {
    UserStanding {
        is_active: true,
        roles: BTreeSet::from([Role::User]),
    }
}

pub async fn refresh_rotation_is_single_use(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let first = refresh(user_id, client_id.clone(), Uuid::new_v4(), at);
    repos.refresh_tokens.insert(&first).await.unwrap();
    let later = at + Duration::seconds(5);
    let winner = rotation(&client_id, later);
    let rival = rotation(&client_id, later);

    let rotated = repos
        .refresh_tokens
        .rotate(&first.hash, &winner)
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RotationOutcome::Rotated(first.clone(), active_user())
    );
    let used = RefreshToken {
        used_at: Some(later),
        ..first.clone()
    };
    assert_eq!(
        repos
            .refresh_tokens
            .rotate(&first.hash, &rival)
            .await
            .unwrap(),
        RotationOutcome::Refused(used.clone(), active_user())
    );

    assert_eq!(
        repos.refresh_tokens.find(&first.hash).await.unwrap(),
        Some(used)
    );
    assert_eq!(
        repos.refresh_tokens.find(&winner.successor).await.unwrap(),
        Some(winner.successor_of(&first)),
        "the successor keeps family, client, user, scope and family end"
    );
    assert_eq!(
        repos.refresh_tokens.find(&rival.successor).await.unwrap(),
        None
    );
    let unknown = OpaqueToken::generate().unwrap().hash();
    assert_eq!(
        repos.refresh_tokens.rotate(&unknown, &rival).await.unwrap(),
        RotationOutcome::Unknown
    );
}

pub async fn refresh_rotation_refuses_what_it_must_not_rotate(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let (_, other_client) = owner(&repos, at).await;
    let fresh = || refresh(user_id, client_id.clone(), Uuid::new_v4(), at);
    let refused = async |token: &RefreshToken, rotation: &Rotation| {
        repos.refresh_tokens.insert(token).await.unwrap();
        let outcome = repos
            .refresh_tokens
            .rotate(&token.hash, rotation)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, RotationOutcome::Refused(found, _) if found == token),
            "{rotation:?}: {outcome:?}"
        );
        assert_eq!(
            repos
                .refresh_tokens
                .find(&rotation.successor)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            repos
                .refresh_tokens
                .find(&token.hash)
                .await
                .unwrap()
                .unwrap()
                .used_at,
            None
        );
    };

    let idle = rotation(&client_id, at).idle;
    refused(&fresh(), &rotation(&other_client, at)).await;
    refused(&fresh(), &rotation(&client_id, at + idle)).await;
    let family_ended = fresh();
    refused(
        &family_ended,
        &rotation(&client_id, family_ended.family_expires_at),
    )
    .await;
    let revoked = RefreshToken {
        revoked_at: Some(at),
        ..fresh()
    };
    refused(&revoked, &rotation(&client_id, at)).await;
    let wider = Rotation {
        within: Some(Scope::parse("openid email").unwrap()),
        ..rotation(&client_id, at)
    };
    refused(&fresh(), &wider).await;
    let unknown_scope = Rotation {
        within: None,
        ..rotation(&client_id, at)
    };
    refused(&fresh(), &unknown_scope).await;

    let narrower = Rotation {
        within: Some(Scope::parse("profile").unwrap()),
        ..rotation(&client_id, at + idle - Duration::seconds(1))
    };
    let token = fresh();
    repos.refresh_tokens.insert(&token).await.unwrap();
    assert!(matches!(
        repos
            .refresh_tokens
            .rotate(&token.hash, &narrower)
            .await
            .unwrap(),
        RotationOutcome::Rotated(..)
    ));
    let successor = repos
        .refresh_tokens
        .find(&narrower.successor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(successor.scope, token.scope, "the grant itself is kept");

    repos.users.deactivate(user_id, at).await.unwrap();
    let disabled = fresh();
    refused(&disabled, &rotation(&client_id, at)).await;
    let outcome = repos
        .refresh_tokens
        .rotate(&disabled.hash, &rotation(&client_id, at))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, RotationOutcome::Refused(_, user) if !user.is_active),
        "{outcome:?}"
    );
}

pub async fn refresh_concurrent_rotations_have_one_winner(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let first = refresh(user_id, client_id.clone(), Uuid::new_v4(), at);
    repos.refresh_tokens.insert(&first).await.unwrap();

    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let tokens = repos.refresh_tokens.clone();
            let attempt = rotation(&client_id, at);
            let old = first.hash;
            tokio::spawn(async move { tokens.rotate(&old, &attempt).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            RotationOutcome::Rotated(..) => winners += 1,
            RotationOutcome::Refused(..) => {}
            RotationOutcome::Unknown => panic!("the token exists"),
        }
    }
    assert_eq!(winners, 1);
}

pub async fn refresh_revoke_family_reports_its_access_tokens(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let family = Uuid::new_v4();
    let first = refresh(user_id, client_id.clone(), family, at);
    let stranger = refresh(user_id, client_id.clone(), Uuid::new_v4(), at);
    repos.refresh_tokens.insert(&first).await.unwrap();
    let to_second = rotation(&client_id, at);
    assert!(matches!(
        repos
            .refresh_tokens
            .rotate(&first.hash, &to_second)
            .await
            .unwrap(),
        RotationOutcome::Rotated(..)
    ));
    repos.refresh_tokens.insert(&stranger).await.unwrap();

    let mut revoked = repos
        .refresh_tokens
        .revoke_family(family, at)
        .await
        .unwrap();
    revoked.sort_by_key(|a| a.jti);
    let mut expected = vec![first.access, to_second.access];
    expected.sort_by_key(|a| a.jti);
    assert_eq!(revoked, expected);

    let second = repos
        .refresh_tokens
        .find(&to_second.successor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.revoked_at, Some(at));
    assert!(matches!(
        repos
            .refresh_tokens
            .rotate(&second.hash, &rotation(&client_id, at))
            .await
            .unwrap(),
        RotationOutcome::Refused(..)
    ));
    let untouched = repos
        .refresh_tokens
        .find(&stranger.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.revoked_at, None);
}

pub async fn denylist_deny_is_idempotent(repos: Repos) {
    let at = now();
    let token = access(at);
    let other = access(at);
    repos.denylist.deny(&[token]).await.unwrap();
    repos.denylist.deny(&[token, token]).await.unwrap();
    repos.denylist.deny(&[]).await.unwrap();

    assert!(repos.denylist.is_denied(token.jti).await.unwrap());
    assert!(!repos.denylist.is_denied(other.jti).await.unwrap());
}

pub async fn denylist_entries_are_swept_after_expiry(repos: Repos) {
    let at = now();
    let token = access(at);
    repos.denylist.deny(&[token]).await.unwrap();
    assert_eq!(repos.denylist.delete_expired(at, 10).await.unwrap(), 0);
    assert_eq!(
        repos
            .denylist
            .delete_expired(token.expires_at, 10)
            .await
            .unwrap(),
        1
    );
    assert!(!repos.denylist.is_denied(token.jti).await.unwrap());
}

pub async fn user_profile_roles_and_activity_updates(repos: Repos) {
    let created = now();
    let jo = user("jo@example.com", created);
    repos.users.insert(&jo).await.unwrap();
    let t1 = created + Duration::seconds(1);
    let t2 = created + Duration::seconds(2);
    let t3 = created + Duration::seconds(3);

    let renamed = repos
        .users
        .update_name(jo.id, &DisplayName::parse("Jo Two").unwrap(), t1)
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Jo Two");
    assert_eq!(renamed.updated_at, t1);
    let admin = BTreeSet::from([Role::User, Role::Admin]);
    let promoted = repos.users.set_roles(jo.id, &admin, t2).await.unwrap();
    assert_eq!(promoted.roles, admin);
    let disabled = repos.users.deactivate(jo.id, t3).await.unwrap();
    assert!(!disabled.is_active);

    let stored = repos.users.find_by_id(jo.id).await.unwrap().unwrap();
    assert_eq!(stored, disabled);
    assert_eq!(stored.name.as_str(), "Jo Two");
    assert_eq!(stored.roles, admin);
    assert_eq!(stored.updated_at, t3);

    let nobody = UserId::generate();
    let name = DisplayName::parse("X").unwrap();
    assert!(matches!(
        repos.users.update_name(nobody, &name, t1).await,
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        repos.users.set_roles(nobody, &admin, t1).await,
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        repos.users.deactivate(nobody, t1).await,
        Err(RepoError::NotFound)
    ));
}

pub async fn user_listing_pages_in_id_order(repos: Repos) {
    let at = now();
    let mut ids = Vec::new();
    for i in 0..7 {
        let u = user(&format!("page{i}@example.com"), at);
        repos.users.insert(&u).await.unwrap();
        ids.push(u.id);
    }
    ids.sort();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = repos.users.list_after(after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|u| u.id));
    }
    assert_eq!(seen, ids);
    assert!(
        repos
            .users
            .list_after(ids.last().copied(), 3)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn revoking_a_user_reports_every_access_token_issued_to_them(repos: Repos) {
    let at = now();
    let (user_id, client_id) = owner(&repos, at).await;
    let (other_user, _) = owner(&repos, at).await;
    let mine = refresh(user_id, client_id.clone(), Uuid::new_v4(), at);
    let theirs = refresh(other_user, client_id.clone(), Uuid::new_v4(), at);
    repos.refresh_tokens.insert(&mine).await.unwrap();
    repos.refresh_tokens.insert(&theirs).await.unwrap();
    let stored = code(user_id, client_id, at);
    repos.codes.insert(&stored).await.unwrap();
    let issue = CodeIssue {
        access: access(at),
        family_id: None,
    };
    repos
        .codes
        .consume(&stored.hash, &plain(at, issue))
        .await
        .unwrap();

    let revoked = repos
        .refresh_tokens
        .revoke_for_user(user_id, at)
        .await
        .unwrap();
    assert_eq!(revoked, vec![mine.access]);
    let mine_now = repos
        .refresh_tokens
        .find(&mine.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mine_now.revoked_at, Some(at));
    let theirs_now = repos
        .refresh_tokens
        .find(&theirs.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs_now.revoked_at, None);
    assert_eq!(
        repos.codes.issued_to_user(user_id).await.unwrap(),
        vec![issue.access]
    );
    assert!(
        repos
            .codes
            .issued_to_user(other_user)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn counters_count_until_removed(repos: Repos) {
    let at = now();
    let key = format!("test:{}", Uuid::new_v4());
    let other = format!("test:{}", Uuid::new_v4());
    let ttl = Duration::minutes(1);
    for expected in 1..=3 {
        assert_eq!(
            repos.counters.increment(&key, ttl, at).await.unwrap(),
            expected
        );
    }
    assert_eq!(repos.counters.increment(&other, ttl, at).await.unwrap(), 1);
    repos.counters.remove(&key).await.unwrap();
    assert_eq!(repos.counters.increment(&key, ttl, at).await.unwrap(), 1);
}

pub async fn marks_hold_until_their_end(repos: Repos) {
    let at = now();
    let key = format!("test:{}", Uuid::new_v4());
    assert_eq!(repos.counters.marked_until(&key, at).await.unwrap(), None);
    let until = at + Duration::minutes(5);
    repos.counters.mark_until(&key, until, at).await.unwrap();
    assert_eq!(
        repos.counters.marked_until(&key, at).await.unwrap(),
        Some(until)
    );
    assert_eq!(
        repos.counters.marked_until(&key, until).await.unwrap(),
        None
    );
    repos.counters.remove(&key).await.unwrap();
    assert_eq!(repos.counters.marked_until(&key, at).await.unwrap(), None);
}

/// A new active user, stored.
pub(crate) async fn stored_user(repos: &Repos) -> UserId {
    let u = user(&format!("{}@example.com", Uuid::new_v4().simple()), now());
    repos.users.insert(&u).await.unwrap();
    u.id
}

fn org(slug: &str) -> Organization {
    Organization {
        id: OrgId::generate(),
        name: DisplayName::parse("Acme").unwrap(),
        slug: Slug::parse(slug).unwrap(),
        status: OrgStatus::Active,
        created_at: now(),
    }
}

fn member(org: OrgId, user: UserId, role: OrgRole) -> Membership {
    Membership {
        org_id: org,
        user_id: user,
        role,
        created_at: now(),
    }
}

pub async fn org_create_find_and_list(repos: Repos) {
    let owner = stored_user(&repos).await;
    let acme = org("acme");
    repos
        .orgs
        .create(&acme, &member(acme.id, owner, OrgRole::Owner))
        .await
        .unwrap();

    assert_eq!(repos.orgs.find(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(repos.orgs.find(OrgId::generate()).await.unwrap(), None);
    assert_eq!(
        repos.orgs.role_of(acme.id, owner).await.unwrap(),
        Some(OrgRole::Owner)
    );
    assert_eq!(
        repos.orgs.orgs_of(owner).await.unwrap(),
        vec![(acme.clone(), OrgRole::Owner)]
    );
    let stranger = stored_user(&repos).await;
    assert_eq!(repos.orgs.role_of(acme.id, stranger).await.unwrap(), None);
    assert!(repos.orgs.orgs_of(stranger).await.unwrap().is_empty());

    let again = repos
        .orgs
        .create(
            &org("acme"),
            &member(OrgId::generate(), owner, OrgRole::Owner),
        )
        .await;
    assert!(
        matches!(again, Err(RepoError::Conflict { constraint }) if constraint == ORG_SLUG_UNIQUE),
        "{again:?}"
    );
}

/// Adds a member with nobody to re-check, as a platform admin would.
async fn joins(repos: &Repos, membership: Membership) {
    assert_eq!(
        repos.orgs.add_member(&membership, None).await.unwrap(),
        OwnerGuarded::Done
    );
}

pub async fn org_members_are_unique(repos: Repos) {
    let owner = stored_user(&repos).await;
    let bob = stored_user(&repos).await;
    let acme = org(&format!("acme-{}", Uuid::new_v4().simple()));
    repos
        .orgs
        .create(&acme, &member(acme.id, owner, OrgRole::Owner))
        .await
        .unwrap();
    joins(&repos, member(acme.id, bob, OrgRole::Member)).await;
    let again = repos
        .orgs
        .add_member(&member(acme.id, bob, OrgRole::Admin), None)
        .await;
    assert!(
        matches!(again, Err(RepoError::Conflict { constraint }) if constraint == MEMBERSHIP_UNIQUE),
        "{again:?}"
    );
    let mut expected = vec![owner, bob];
    expected.sort();
    let members: Vec<UserId> = repos
        .orgs
        .members(acme.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(members, expected);
    assert_eq!(
        repos.orgs.role_of(acme.id, bob).await.unwrap(),
        Some(OrgRole::Member)
    );
}

pub async fn org_keeps_its_last_owner(repos: Repos) {
    let owner = stored_user(&repos).await;
    let other = stored_user(&repos).await;
    let acme = org(&format!("acme-{}", Uuid::new_v4().simple()));
    repos
        .orgs
        .create(&acme, &member(acme.id, owner, OrgRole::Owner))
        .await
        .unwrap();

    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, owner, Some(OrgRole::Owner), None)
            .await
            .unwrap(),
        OwnerGuarded::LastOwner
    );
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, owner, OrgRole::Admin, OrgRole::Owner, None)
            .await
            .unwrap(),
        OwnerGuarded::LastOwner
    );
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, other, OrgRole::Admin, OrgRole::Member, None)
            .await
            .unwrap(),
        OwnerGuarded::NotMember
    );
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, other, None, None)
            .await
            .unwrap(),
        OwnerGuarded::NotMember
    );

    joins(&repos, member(acme.id, other, OrgRole::Member)).await;
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, other, OrgRole::Owner, OrgRole::Member, None)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, owner, OrgRole::Member, OrgRole::Owner, None)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, owner, Some(OrgRole::Member), None)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
    assert_eq!(repos.orgs.role_of(acme.id, owner).await.unwrap(), None);
    assert_eq!(
        repos.orgs.role_of(acme.id, other).await.unwrap(),
        Some(OrgRole::Owner)
    );
}

pub async fn org_concurrent_removals_of_the_last_two_owners_leave_one(repos: Repos) {
    for _ in 0..5 {
        let a = stored_user(&repos).await;
        let b = stored_user(&repos).await;
        let acme = org(&format!("acme-{}", Uuid::new_v4().simple()));
        repos
            .orgs
            .create(&acme, &member(acme.id, a, OrgRole::Owner))
            .await
            .unwrap();
        joins(&repos, member(acme.id, b, OrgRole::Owner)).await;

        let remove_a = tokio::spawn({
            let orgs = repos.orgs.clone();
            async move {
                orgs.remove_member(acme.id, a, Some(OrgRole::Owner), None)
                    .await
                    .unwrap()
            }
        });
        let demote_b = tokio::spawn({
            let orgs = repos.orgs.clone();
            async move {
                orgs.set_role(acme.id, b, OrgRole::Member, OrgRole::Owner, None)
                    .await
                    .unwrap()
            }
        });
        let outcomes = [remove_a.await.unwrap(), demote_b.await.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == OwnerGuarded::Done)
                .count(),
            1,
            "{outcomes:?}"
        );
        let owners = repos
            .orgs
            .members(acme.id)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.role == OrgRole::Owner)
            .count();
        assert_eq!(owners, 1);
    }
}

pub async fn org_changes_refuse_a_role_that_changed_since_it_was_checked(repos: Repos) {
    let owner = stored_user(&repos).await;
    let target = stored_user(&repos).await;
    let acme = org(&format!("acme-{}", Uuid::new_v4().simple()));
    repos
        .orgs
        .create(&acme, &member(acme.id, owner, OrgRole::Owner))
        .await
        .unwrap();
    joins(&repos, member(acme.id, target, OrgRole::Member)).await;
    // Promoted after someone checked it as a plain member.
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, target, OrgRole::Owner, OrgRole::Member, None)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, target, Some(OrgRole::Member), None)
            .await
            .unwrap(),
        OwnerGuarded::RoleChanged
    );
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, target, OrgRole::Admin, OrgRole::Member, None)
            .await
            .unwrap(),
        OwnerGuarded::RoleChanged
    );
    assert_eq!(
        repos.orgs.role_of(acme.id, target).await.unwrap(),
        Some(OrgRole::Owner)
    );
}

pub async fn org_changes_refuse_an_actor_whose_role_changed_since_it_was_checked(repos: Repos) {
    let owner = stored_user(&repos).await;
    let admin = stored_user(&repos).await;
    let target = stored_user(&repos).await;
    let newcomer = stored_user(&repos).await;
    let acme = org(&format!("acme-{}", Uuid::new_v4().simple()));
    repos
        .orgs
        .create(&acme, &member(acme.id, owner, OrgRole::Owner))
        .await
        .unwrap();
    joins(&repos, member(acme.id, admin, OrgRole::Admin)).await;
    joins(&repos, member(acme.id, target, OrgRole::Member)).await;
    // Checked as an admin, then demoted before the change runs.
    let checked = Some(OrgActor {
        user: admin,
        role: OrgRole::Admin,
    });
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, admin, OrgRole::Member, OrgRole::Admin, None)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );

    let adding = member(acme.id, newcomer, OrgRole::Member);
    assert_eq!(
        repos.orgs.add_member(&adding, checked).await.unwrap(),
        OwnerGuarded::RoleChanged
    );
    assert_eq!(
        repos
            .orgs
            .set_role(acme.id, target, OrgRole::Member, OrgRole::Member, checked)
            .await
            .unwrap(),
        OwnerGuarded::RoleChanged
    );
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, target, Some(OrgRole::Member), checked)
            .await
            .unwrap(),
        OwnerGuarded::RoleChanged
    );
    assert_eq!(repos.orgs.role_of(acme.id, newcomer).await.unwrap(), None);
    assert_eq!(
        repos.orgs.role_of(acme.id, target).await.unwrap(),
        Some(OrgRole::Member)
    );

    // The same changes go through for an actor who still holds the role they were checked
    // with; a removed actor holds none.
    let owner_acting = Some(OrgActor {
        user: owner,
        role: OrgRole::Owner,
    });
    assert_eq!(
        repos.orgs.add_member(&adding, owner_acting).await.unwrap(),
        OwnerGuarded::Done
    );
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, admin, Some(OrgRole::Member), owner_acting)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
    let removed = Some(OrgActor {
        user: admin,
        role: OrgRole::Member,
    });
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, target, Some(OrgRole::Member), removed)
            .await
            .unwrap(),
        OwnerGuarded::RoleChanged
    );
    assert_eq!(
        repos
            .orgs
            .remove_member(acme.id, target, Some(OrgRole::Member), owner_acting)
            .await
            .unwrap(),
        OwnerGuarded::Done
    );
}
