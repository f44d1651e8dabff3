//! Single use under concurrency, across instances: two app instances with independent
//! connection pools on one Postgres database race to use one code and one refresh token.

use std::sync::Arc;

use auth_service::domain::TokenHash;
use auth_service::repos::postgres;
use auth_service::repos::postgres::testing::{
    run_with_fresh_database, some_session_waits_for_a_lock,
};
use axum::http::StatusCode;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{TestApp, TestResponse, key_file};

const RACERS: usize = 50;

/// Two instances sharing the database and the signing key, each with its own pool.
async fn two_instances(pool: sqlx::PgPool) -> (Arc<TestApp>, Arc<TestApp>) {
    let options = (*pool.connect_options()).clone();
    let second_pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let key = key_file();
    let env = [("JWT_SIGNING_KEY_FILE", key.to_str().unwrap())];
    let a = TestApp::with(&env, postgres::repos(pool)).await;
    let b = TestApp::with(&env, postgres::repos(second_pool)).await;
    (Arc::new(a), Arc::new(b))
}

/// Runs `RACERS` requests at once, alternating between the instances; returns the statuses
/// and the bodies.
async fn race<F, Fut>(a: &Arc<TestApp>, b: &Arc<TestApp>, request: F) -> Vec<TestResponse>
where
    F: Fn(Arc<TestApp>) -> Fut,
    Fut: std::future::Future<Output = TestResponse> + Send + 'static,
{
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(request(app))
        })
        .collect();
    let mut responses = Vec::new();
    for handle in handles {
        responses.push(handle.await.unwrap());
    }
    responses
}

/// Exactly one racer gets tokens; the others are `invalid_grant`. Their presentations count
/// as replay or reuse, so the winner's tokens end up revoked as well.
async fn assert_exactly_one_winner(app: &TestApp, responses: &[TestResponse]) {
    let winners: Vec<&TestResponse> = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "winners among {RACERS} racers");
    for loser in responses.iter().filter(|r| r.status != StatusCode::OK) {
        loser.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let won = winners[0].json();
    let access = won["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/auth/me", access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let client_id = crate::helpers::jwt_claims(access)["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.refresh(&client_id, won["refresh_token"].as_str().unwrap())
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_exchanges_of_one_code_on_two_instances_have_one_winner() {
    run_with_fresh_database(|pool| async move {
        let (a, b) = two_instances(pool).await;
        let session = a.signed_in_session("ada@example.com").await;
        let client = a.register_client(json!({})).await;
        let (code, verifier) = b.code_for(&session, &client.id).await;

        let responses = race(&a, &b, |app| {
            let (client_id, code, verifier) = (client.id.clone(), code.clone(), verifier.clone());
            async move { app.exchange(&client_id, &code, &verifier).await }
        })
        .await;

        assert_exactly_one_winner(&a, &responses).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_refreshes_of_one_token_on_two_instances_have_one_winner() {
    run_with_fresh_database(|pool| async move {
        let (a, b) = two_instances(pool).await;
        let (client, tokens) = a.signed_in_tokens().await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        let responses = race(&a, &b, |app| {
            let (client_id, refresh) = (client.id.clone(), refresh.clone());
            async move { app.refresh(&client_id, &refresh).await }
        })
        .await;

        assert_exactly_one_winner(&a, &responses).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listing_on_postgres_returns_everyone_once_under_concurrent_inserts() {
    run_with_fresh_database(|pool| async move {
        let (a, b) = two_instances(pool).await;
        let admin = a.admin_token().await;
        for i in 0..15 {
            a.signed_in_session(&format!("early{i}@example.com")).await;
        }
        let before: Vec<String> =
            a.get_bearer("/admin/users?limit=100", &admin).await.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned())
                .collect();

        // The other instance keeps registering users while this one pages.
        let inserter = {
            let b = b.clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    b.signed_in_session(&format!("late{i}@example.com")).await;
                }
            })
        };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let uri = match &cursor {
                Some(c) => format!("/admin/users?limit=3&cursor={c}"),
                None => "/admin/users?limit=3".to_owned(),
            };
            let page = a.get_bearer(&uri, &admin).await.json();
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        inserter.await.unwrap();

        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "a user appeared twice");
        for id in &before {
            assert!(seen.contains(id), "{id} was skipped");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_postgres_instance_revokes_the_token_on_the_other() {
    run_with_fresh_database(|pool| async move {
        let (a, b) = two_instances(pool).await;
        let (_, tokens) = a.user_tokens("gil@example.com", None).await;
        let token = tokens["access_token"].as_str().unwrap();
        assert_eq!(b.get_bearer("/auth/me", token).await.status, StatusCode::OK);

        let logout = a.send_bearer("POST", "/auth/logout", token, None).await;
        assert_eq!(logout.status, StatusCode::NO_CONTENT);

        b.get_bearer("/auth/me", token)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_removals_of_the_last_two_owners_on_two_postgres_instances_leave_one() {
    run_with_fresh_database(|pool| async move {
        let (a, b) = two_instances(pool).await;
        for round in 0..5 {
            let (_, first) = a
                .user_tokens(&format!("first{round}@example.com"), None)
                .await;
            let first = first["access_token"].as_str().unwrap().to_owned();
            let (_, second) = a
                .user_tokens(&format!("second{round}@example.com"), None)
                .await;
            let second = second["access_token"].as_str().unwrap().to_owned();
            let second_id = a.user_id_of(&second).await;
            let first_id = a.user_id_of(&first).await;
            let org = a
                .send_bearer(
                    "POST",
                    "/v1/orgs",
                    &first,
                    Some(&json!({"name": "Race", "slug": format!("race-{round}")})),
                )
                .await
                .json()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let added = a
                .send_bearer(
                    "POST",
                    &format!("/v1/orgs/{org}/members"),
                    &first,
                    Some(&json!({"user_id": second_id, "org_role": "owner"})),
                )
                .await;
            assert_eq!(added.status, StatusCode::CREATED);

            // Each owner leaves at the same time, through a different instance.
            let (one, two) = tokio::join!(
                {
                    let (a, uri, token) = (
                        a.clone(),
                        format!("/v1/orgs/{org}/members/{first_id}"),
                        first.clone(),
                    );
                    tokio::spawn(async move { a.send_bearer("DELETE", &uri, &token, None).await })
                },
                {
                    let (b, uri, token) = (
                        b.clone(),
                        format!("/v1/orgs/{org}/members/{second_id}"),
                        second.clone(),
                    );
                    tokio::spawn(async move { b.send_bearer("DELETE", &uri, &token, None).await })
                },
            );
            let mut codes = [one.unwrap().status.as_u16(), two.unwrap().status.as_u16()];
            codes.sort_unstable();
            assert_eq!(codes, [204, 409], "round {round}");
        }
    })
    .await;
}

/// A refresh whose token a concurrent revocation (logout, RFC 7009, a disable) holds is refused
/// once the revocation commits, and is no reuse: the reuse alarm stays quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_racing_a_revocation_is_refused_without_a_reuse_alarm() {
    run_with_fresh_database(|pool| async move {
        let key = key_file();
        let env = [
            ("JWT_SIGNING_KEY_FILE", key.to_str().unwrap()),
            ("METRICS_ENABLED", "true"),
        ];
        let app = Arc::new(TestApp::with(&env, postgres::repos(pool.clone())).await);
        let (client, tokens) = app.signed_in_tokens().await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        let mut revocation = pool.begin().await.unwrap();
        sqlx::query("UPDATE refresh_token SET revoked_at = now() WHERE token_hash = $1")
            .bind(TokenHash::of(&refresh).as_bytes().as_slice())
            .execute(&mut *revocation)
            .await
            .unwrap();
        let pending = tokio::spawn({
            let app = app.clone();
            async move { app.refresh(&client.id, &refresh).await }
        });
        let waited = some_session_waits_for_a_lock(&pool, || pending.is_finished()).await;
        revocation.commit().await.unwrap();
        let response = pending.await.unwrap();

        assert!(waited, "the refresh did not wait for the revocation");
        response.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        let metrics = app.get("/metrics", &[]).await.text();
        assert!(
            metrics.contains("auth_refresh_token_reuse_detected_total 0"),
            "{metrics}"
        );
    })
    .await;
}
