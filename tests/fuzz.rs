//! Property-based fuzzing of what parses untrusted input: token verification, the OAuth
//! endpoints' query and form parsing, PKCE, and the redirect checks.
//!
//! Each target runs for `FUZZ_SECONDS` (2 s by default, so `make test` covers them briefly;
//! `make fuzz` gives each 60 s). A failure prints the minimised input; add it as a
//! regression case to the unit tests of the code it broke.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

#[path = "api/helpers.rs"]
#[allow(dead_code, reason = "shared with the API tests; this file uses a part")]
mod helpers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_service::api::safe_next;
use auth_service::clock::ManualClock;
use auth_service::domain::{
    ClientId, CodeChallenge, IssuedAccess, Scope, UserId, redirect_uri_matches,
    validate_redirect_uri,
};
use auth_service::repos::memory::InMemoryDenylistRepo;
use auth_service::services::keys::KeySet;
use auth_service::services::{AccessTokenService, AccessTokenSettings, Subject};
use axum::body::Body;
use axum::http::{Request, header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use helpers::TestApp;

/// Runs `check` on values from `strategy` until the time budget is spent.
fn fuzz<S: Strategy>(strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    while Instant::now() < deadline {
        if let Err(failure) = runner.run(&strategy, &check) {
            panic!("{failure}");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn token_verification_never_panics_and_accepts_nothing_but_genuine_tokens() {
    let service = AccessTokenService::new(
        KeySet::generate().unwrap(),
        AccessTokenSettings {
            issuer: "https://auth.example".into(),
            audience: "https://auth.example".into(),
            ttl: time::Duration::minutes(15),
            skew: time::Duration::seconds(15),
        },
        Arc::new(ManualClock::starting_now()),
        Arc::new(InMemoryDenylistRepo::default()),
    );
    let now = auth_service::clock::Clock::now(&ManualClock::starting_now());
    let access: IssuedAccess = service.reserve(now);
    let genuine = service
        .sign(
            access,
            &Subject::User(UserId::generate()),
            &ClientId::new("c"),
            &Scope::parse("openid").unwrap(),
            &[],
        )
        .unwrap();
    let genuine_claims = service.decode(&genuine).unwrap();
    let len = genuine.len();

    let mutated = (0..len, any::<char>()).prop_map({
        let genuine = genuine.clone();
        move |(at, c)| {
            let mut chars: Vec<char> = genuine.chars().collect();
            chars[at] = c;
            chars.into_iter().collect::<String>()
        }
    });
    let arbitrary = ".*".prop_map(|s: String| s);
    let segments = "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,90}";
    fuzz(
        prop_oneof![mutated, arbitrary, segments.prop_map(|s: String| s)],
        |token| {
            if let Ok(claims) = service.decode(&token) {
                prop_assert_eq!(
                    &claims,
                    &genuine_claims,
                    "accepted a forged token: {}",
                    token
                );
            }
            Ok(())
        },
    );
}

/// Query strings and forms: well-known keys with hostile values, and raw noise.
fn hostile_pairs() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("response_type"),
        Just("client_id"),
        Just("redirect_uri"),
        Just("code_challenge"),
        Just("code_challenge_method"),
        Just("scope"),
        Just("state"),
        Just("grant_type"),
        Just("code"),
        Just("code_verifier"),
        Just("refresh_token"),
        Just("client_secret"),
        Just("token"),
        Just("next"),
        Just("email"),
        Just("password"),
        Just("csrf_token"),
    ];
    let value = prop_oneof![
        ".*",
        Just("dev-client".to_owned()),
        Just("http://localhost:5173/callback".to_owned()),
        Just("S256".to_owned()),
        Just("authorization_code".to_owned()),
        Just("refresh_token".to_owned()),
        Just("client_credentials".to_owned()),
        Just("openid profile".to_owned()),
    ];
    let encoded = prop::collection::vec((key, value), 0..8)
        .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap());
    prop_oneof![encoded, "[ -~]{0,300}", ".{0,100}"]
}

#[test]
fn the_oauth_and_login_endpoints_never_answer_5xx_to_any_query_or_form() {
    let rt = runtime();
    let app = rt.block_on(TestApp::with_env(&[("APP_ENV", "dev")]));
    let session = rt.block_on(app.signed_in_session("fuzz@example.com"));
    fuzz(hostile_pairs(), |input| {
        rt.block_on(async {
            for with_session in [false, true] {
                let mut request = Request::get(format!("/oauth/authorize?{input}"));
                if with_session {
                    request = request.header(header::COOKIE, format!("session={session}"));
                }
                let Ok(request) = request.body(Body::empty()) else {
                    continue; // not a valid request target at all: hyper would refuse it
                };
                let response = app.send(request).await;
                prop_assert!(
                    response.status.as_u16() < 500,
                    "authorize {}: {}",
                    input,
                    response.status
                );
            }
            for path in [
                "/oauth/token",
                "/oauth/revoke",
                "/oauth/introspect",
                "/login",
            ] {
                let request = Request::post(path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(input.clone()))
                    .unwrap();
                let response = app.send(request).await;
                prop_assert!(
                    response.status.as_u16() < 500,
                    "{} {}: {}",
                    path,
                    input,
                    response.status
                );
            }
            Ok(())
        })
    });
}

#[test]
fn pkce_checks_never_panic_and_accept_exactly_the_matching_verifier() {
    fuzz(
        ("[A-Za-z0-9._~-]{43,128}", ".{0,200}"),
        |(verifier, noise)| {
            use base64::Engine as _;
            use sha2::Digest as _;
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            let challenge = CodeChallenge::parse(&challenge).unwrap();
            prop_assert_eq!(CodeChallenge::of_verifier(&verifier), Ok(challenge.clone()));
            if noise != verifier {
                prop_assert_ne!(CodeChallenge::of_verifier(&noise), Ok(challenge));
            }
            let _ = CodeChallenge::parse(&noise);
            Ok(())
        },
    );
}

#[test]
fn redirect_checks_never_panic_and_next_stays_local() {
    fuzz((".{0,200}", ".{0,200}"), |(a, b)| {
        let next = safe_next(&a);
        prop_assert!(
            next.starts_with('/') && !next.starts_with("//"),
            "{:?} -> {:?}",
            a,
            next
        );
        prop_assert!(!next.contains('\\') && next.bytes().all(|c| c.is_ascii_graphic()));
        let _ = validate_redirect_uri(&a);
        if redirect_uri_matches(&a, &b) && a != b {
            // Only the loopback-port exception may match different strings.
            prop_assert!(
                a.starts_with("http://127.") || a.starts_with("http://[::1]"),
                "{:?} ~ {:?}",
                a,
                b
            );
        }
        Ok(())
    });
}
