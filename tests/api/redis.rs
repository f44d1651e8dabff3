//! With Redis, a logout on one instance revokes the token on every other.

use std::sync::Arc;

use auth_service::repos::redis::testing::denylist;
use auth_service::repos::{Repos, memory};
use axum::http::StatusCode;

use crate::helpers::{TestApp, key_file};

#[tokio::test]
async fn logout_on_one_instance_revokes_the_token_on_another_through_redis() {
    let (Some(denylist_a), Some(denylist_b)) = (denylist().await, denylist().await) else {
        return;
    };
    // Shared accounts, but each instance holds its own Redis connection, and nothing but
    // Redis carries deny-list entries between them.
    let mut repos_a = memory::repos();
    repos_a.denylist = Arc::new(denylist_a);
    let repos_b = Repos {
        denylist: Arc::new(denylist_b),
        ..repos_a.clone()
    };
    let key = key_file();
    let env = [("JWT_SIGNING_KEY_FILE", key.to_str().unwrap())];
    let a = TestApp::with(&env, repos_a).await;
    let b = TestApp::with(&env, repos_b).await;

    let (_, tokens) = a.user_tokens("hal@example.com", None).await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(b.get_bearer("/auth/me", token).await.status, StatusCode::OK);

    let logout = a.send_bearer("POST", "/auth/logout", token, None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    a.get_bearer("/auth/me", token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    b.get_bearer("/auth/me", token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}
