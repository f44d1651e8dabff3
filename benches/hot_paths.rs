//! Micro-benchmarks of what dominates the hot paths: Argon2id verification, access-token
//! signing and verification, and one refresh rotation against the in-memory repositories.
//! `make bench`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark set-up: failing loudly is right"
)]

use std::sync::Arc;

use auth_service::clock::{Clock, ManualClock};
use auth_service::config::Argon2Settings;
use auth_service::domain::{
    AuthMethod, Client, ClientId, GrantType, OpaqueToken, RefreshToken, Role, Scope, UserId,
};
use auth_service::repos::memory;
use auth_service::services::keys::KeySet;
use auth_service::services::{
    AccessTokenService, AccessTokenSettings, AccountService, PasswordHasher, RefreshPolicy,
    Subject, TokenService,
};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn access_tokens(
    denylist: Arc<memory::InMemoryDenylistRepo>,
    clock: Arc<dyn Clock>,
) -> AccessTokenService {
    AccessTokenService::new(
        KeySet::generate().unwrap(),
        AccessTokenSettings {
            issuer: "https://auth.example".into(),
            audience: "https://auth.example".into(),
            ttl: time::Duration::minutes(15),
            skew: time::Duration::seconds(15),
        },
        clock,
        denylist,
    )
}

fn argon2_verify(c: &mut Criterion) {
    let rt = runtime();
    let hasher = PasswordHasher::new(Argon2Settings::PRODUCTION, 1).unwrap();
    let password =
        auth_service::domain::Password::parse(SecretString::from("correct horse")).unwrap();
    let hash = rt.block_on(hasher.hash(password)).unwrap();
    c.bench_function("argon2id verify (m=19456, t=2, p=1)", |b| {
        b.to_async(&rt).iter(|| async {
            hasher
                .verify(SecretString::from("correct horse"), Some(&hash))
                .await
                .unwrap()
        });
    });
}

fn access_token_sign_and_verify(c: &mut Criterion) {
    let rt = runtime();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::starting_now());
    let service = access_tokens(Arc::default(), clock.clone());
    let subject = Subject::User(UserId::generate());
    let client = ClientId::new("bench");
    let scope = Scope::parse("openid profile").unwrap();
    c.bench_function("access token sign (ES256)", |b| {
        b.iter(|| {
            let access = service.reserve(clock.now());
            service
                .sign(access, &subject, &client, &scope, &[Role::User])
                .unwrap()
        });
    });
    let token = service
        .sign(
            service.reserve(clock.now()),
            &subject,
            &client,
            &scope,
            &[Role::User],
        )
        .unwrap();
    c.bench_function("access token verify (ES256 + deny-list)", |b| {
        b.to_async(&rt)
            .iter(|| async { service.verify(&token).await.unwrap().unwrap() });
    });
}

fn refresh_rotation(c: &mut Criterion) {
    let rt = runtime();
    let clock = ManualClock::starting_now();
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let repos = memory::repos();
    let now = clock.now();
    let cheap = Argon2Settings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let hasher = Arc::new(PasswordHasher::new(cheap, 1).unwrap());
    let accounts = AccountService::new(repos.users.clone(), hasher, shared_clock.clone(), true);
    let user = rt
        .block_on(accounts.create_user(
            "bench@example.com",
            SecretString::from("bench password"),
            "Bench",
        ))
        .unwrap();
    let client = Client {
        id: ClientId::new("bench"),
        secret_hash: None,
        auth_method: AuthMethod::None,
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scope: Scope::parse("openid profile").unwrap(),
        name: None,
        created_at: now,
    };
    rt.block_on(repos.clients.insert(&client)).unwrap();
    let access = Arc::new(access_tokens(Arc::default(), shared_clock.clone()));
    let tokens = TokenService::new(
        access.clone(),
        repos.users.clone(),
        repos.codes.clone(),
        repos.refresh_tokens.clone(),
        shared_clock,
        RefreshPolicy {
            ttl: time::Duration::days(30),
            idle: time::Duration::days(14),
        },
        "https://auth.example".into(),
    );
    let first = OpaqueToken::generate().unwrap();
    rt.block_on(repos.refresh_tokens.insert(&RefreshToken {
        hash: first.hash(),
        family_id: uuid::Uuid::new_v4(),
        client_id: client.id.clone(),
        user_id: user.id,
        scope: client.scope,
        created_at: now,
        family_expires_at: now + time::Duration::days(30),
        used_at: None,
        revoked_at: None,
        access: access.reserve(now),
    }))
    .unwrap();
    let current = std::sync::Mutex::new(first.expose().to_owned());
    c.bench_function("refresh rotation (in-memory, signs one token)", |b| {
        b.to_async(&rt).iter(|| async {
            let presented = current.lock().unwrap().clone();
            let response = tokens
                .refresh(&client, Some(&presented), None)
                .await
                .unwrap();
            *current.lock().unwrap() = response.refresh_token.unwrap();
        });
    });
}

criterion_group!(
    benches,
    argon2_verify,
    access_token_sign_and_verify,
    refresh_rotation
);
criterion_main!(benches);
