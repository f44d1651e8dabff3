//! Roles, profiles and the admin API, enforced on the server.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, jwt_claims};

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_normal_user_gets_403_on_every_admin_route_and_an_admin_succeeds() {
    let app = TestApp::new().await;
    let (_, alice) = app.user_tokens("alice@example.com", None).await;
    let (_, bob) = app.user_tokens("bob@example.com", None).await;
    let bob_id = app.user_id_of(&access(&bob)).await;
    let admin = app.admin_token().await;
    let routes = [
        ("GET", "/admin/users".to_owned(), None),
        (
            "PUT",
            format!("/admin/users/{bob_id}/roles"),
            Some(json!({"roles": ["user"]})),
        ),
        (
            "PATCH",
            format!("/users/{bob_id}"),
            Some(json!({"name": "Renamed"})),
        ),
        ("POST", format!("/admin/users/{bob_id}/disable"), None),
    ];

    for (method, uri, body) in &routes {
        let response = app
            .send_bearer(method, uri, &access(&alice), body.as_ref())
            .await;
        response.assert_problem(StatusCode::FORBIDDEN);
    }
    for (method, uri, body) in &routes {
        let response = app.send_bearer(method, uri, &admin, body.as_ref()).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{method} {uri}: {}",
            response.text()
        );
    }
}

#[tokio::test]
async fn patch_users_is_for_the_user_themself_and_says_nothing_about_other_ids() {
    let app = TestApp::new().await;
    let (_, alice) = app.user_tokens("alice@example.com", None).await;
    let alice_id = app.user_id_of(&access(&alice)).await;
    let (_, bob) = app.user_tokens("bob@example.com", None).await;
    let bob_id = app.user_id_of(&access(&bob)).await;

    let own = app
        .send_bearer(
            "PATCH",
            &format!("/users/{alice_id}"),
            &access(&alice),
            Some(&json!({"name": " Alice A. "})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    assert_eq!(own.json()["name"], "Alice A.");
    assert_eq!(own.json()["roles"], json!(["user"]));

    let body = json!({"name": "Mallory"});
    let existing = app
        .send_bearer(
            "PATCH",
            &format!("/users/{bob_id}"),
            &access(&alice),
            Some(&body),
        )
        .await;
    let missing = app
        .send_bearer(
            "PATCH",
            &format!("/users/{}", uuid::Uuid::now_v7()),
            &access(&alice),
            Some(&body),
        )
        .await;
    let malformed = app
        .send_bearer("PATCH", "/users/not-a-uuid", &access(&alice), Some(&body))
        .await;
    for response in [&existing, &missing, &malformed] {
        response.assert_problem(StatusCode::FORBIDDEN);
    }
    assert_eq!(existing.body, missing.body);
    assert_eq!(existing.body, malformed.body);
    // The refusal comes before the body is read: a bad body changes nothing.
    let bad_body = app
        .send_bearer(
            "PATCH",
            &format!("/users/{bob_id}"),
            &access(&alice),
            Some(&json!({"roles": ["admin"]})),
        )
        .await;
    assert_eq!(bad_body.body, existing.body);

    let admin = app.admin_token().await;
    let unknown = app
        .send_bearer(
            "PATCH",
            &format!("/users/{}", uuid::Uuid::now_v7()),
            &admin,
            Some(&body),
        )
        .await;
    unknown.assert_problem(StatusCode::NOT_FOUND);
    app.send_bearer("PATCH", "/users/not-a-uuid", &admin, Some(&body))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_users_refuses_fields_other_than_name() {
    let app = TestApp::new().await;
    let (_, alice) = app.user_tokens("alice@example.com", None).await;
    let id = app.user_id_of(&access(&alice)).await;
    for body in [
        json!({"name": "A", "roles": ["admin"]}),
        json!({"name": "A", "is_active": true}),
        json!({"roles": ["admin"]}),
        json!({"name": ""}),
    ] {
        let response = app
            .send_bearer(
                "PATCH",
                &format!("/users/{id}"),
                &access(&alice),
                Some(&body),
            )
            .await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let me = app.get_bearer("/auth/me", &access(&alice)).await.json();
    assert_eq!(me["roles"], json!(["user"]));
}

#[tokio::test]
async fn registering_with_role_fields_never_yields_an_admin() {
    let app = TestApp::new().await;
    for (i, extra) in [
        json!({"roles": ["admin"]}),
        json!({"is_admin": true}),
        json!({"role": "admin", "roles": "admin"}),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("sneaky{i}@example.com");
        let mut body = json!({"email": email, "password": PASSWORD, "name": "Sneaky"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let registered = app.post_json("/auth/register", &body).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.text()
        );
        let (_, tokens) = app.user_tokens_of_existing(&email).await;
        assert_eq!(jwt_claims(&access(&tokens))["roles"], json!(["user"]));
        let me = app.get_bearer("/auth/me", &access(&tokens)).await.json();
        assert_eq!(me["roles"], json!(["user"]));
        app.get_bearer("/admin/users", &access(&tokens))
            .await
            .assert_problem(StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn a_role_change_shows_in_the_next_token_and_not_before() {
    let app = TestApp::new().await;
    let (client, carol) = app.user_tokens("carol@example.com", None).await;
    let carol_id = app.user_id_of(&access(&carol)).await;
    let admin = app.admin_token().await;

    let promoted = app
        .send_bearer(
            "PUT",
            &format!("/admin/users/{carol_id}/roles"),
            &admin,
            Some(&json!({"roles": ["admin"]})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text());
    assert_eq!(promoted.json()["roles"], json!(["user", "admin"]));

    // The old token keeps its old roles until it expires.
    assert_eq!(jwt_claims(&access(&carol))["roles"], json!(["user"]));
    app.get_bearer("/admin/users", &access(&carol))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    // /auth/me reads the store, so it already shows the new roles.
    let me = app.get_bearer("/auth/me", &access(&carol)).await.json();
    assert_eq!(me["roles"], json!(["user", "admin"]));

    let refreshed = app
        .refresh(&client.id, carol["refresh_token"].as_str().unwrap())
        .await
        .json();
    assert_eq!(
        jwt_claims(&access(&refreshed))["roles"],
        json!(["user", "admin"])
    );
    let listed = app.get_bearer("/admin/users", &access(&refreshed)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
}

#[tokio::test]
async fn unknown_roles_are_refused_and_user_is_always_kept() {
    let app = TestApp::new().await;
    let (_, dave) = app.user_tokens("dave@example.com", None).await;
    let id = app.user_id_of(&access(&dave)).await;
    let admin = app.admin_token().await;
    let uri = format!("/admin/users/{id}/roles");
    app.send_bearer("PUT", &uri, &admin, Some(&json!({"roles": ["root"]})))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let cleared = app
        .send_bearer("PUT", &uri, &admin, Some(&json!({"roles": []})))
        .await;
    assert_eq!(cleared.json()["roles"], json!(["user"]));
    app.send_bearer(
        "PUT",
        &format!("/admin/users/{}/roles", uuid::Uuid::now_v7()),
        &admin,
        Some(&json!({"roles": []})),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn disabling_a_user_ends_sessions_and_kills_every_token_at_once() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("erin@example.com").await;
    let (client, erin) = app.user_tokens_of_existing("erin@example.com").await;
    let id = app.user_id_of(&access(&erin)).await;
    let admin = app.admin_token().await;

    let disabled = app
        .send_bearer("POST", &format!("/admin/users/{id}/disable"), &admin, None)
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text());
    assert_eq!(disabled.json()["is_active"], false);

    app.get_bearer("/auth/me", &access(&erin))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    app.refresh(&client.id, erin["refresh_token"].as_str().unwrap())
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(!app.is_signed_in(&session).await, "the session survived");
    app.post_json(
        "/auth/login",
        &json!({"email": "erin@example.com", "password": PASSWORD}),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_without_a_user_or_the_scope_are_refused_with_403() {
    let app = TestApp::new().await;
    let (_, narrow) = app.user_tokens("fay@example.com", Some("openid")).await;
    let response = app.get_bearer("/auth/me", &access(&narrow)).await;
    response.assert_problem(StatusCode::FORBIDDEN);
    assert!(
        response
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );

    let machine = app
        .register_client(json!({"token_endpoint_auth_method": "client_secret_post", "grant_types": ["client_credentials"]}))
        .await;
    let tokens = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &machine.id),
                ("client_secret", machine.secret.as_deref().unwrap()),
            ],
            &[],
        )
        .await
        .json();
    app.get_bearer("/admin/users", &access(&tokens))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn logout_revokes_the_presented_access_token_on_every_instance() {
    let repos = auth_service::repos::memory::repos();
    let key = crate::helpers::key_file();
    let env = [("JWT_SIGNING_KEY_FILE", key.to_str().unwrap())];
    let one = TestApp::with(&env, repos.clone()).await;
    let two = TestApp::with(&env, repos).await;
    let (_, tokens) = one.user_tokens("gil@example.com", None).await;
    let token = access(&tokens);
    assert_eq!(
        two.get_bearer("/auth/me", &token).await.status,
        StatusCode::OK
    );

    let logout = one.send_bearer("POST", "/auth/logout", &token, None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    one.get_bearer("/auth/me", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    two.get_bearer("/auth/me", &token)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_listing_pages_through_everyone_once_while_users_are_added() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for i in 0..20 {
        app.signed_in_session(&format!("early{i}@example.com"))
            .await;
    }
    let first = app
        .get_bearer("/admin/users?limit=100", &admin)
        .await
        .json();
    let before: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(before.len(), 21);
    assert_eq!(first["next_cursor"], Value::Null);

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/admin/users?limit=4&cursor={c}"),
            None => "/admin/users?limit=4".to_owned(),
        };
        let page = app.get_bearer(&uri, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let page = page.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        // Between pages, more users arrive.
        for _ in 0..2 {
            app.signed_in_session(&format!("late{added}@example.com"))
                .await;
            added += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(added < 200, "the listing never ends");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a user appeared twice");
    for id in &before {
        assert!(seen.contains(id), "{id} was skipped");
    }
}

#[tokio::test]
async fn admin_listing_validates_limit_and_cursor() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for query in ["limit=0", "limit=101", "cursor=garbage", "cursor=AAAA"] {
        app.get_bearer(&format!("/admin/users?{query}"), &admin)
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    app.get_bearer("/admin/users?limit=abc", &admin)
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn in_prod_an_admin_token_registers_clients() {
    let app = TestApp::prod(&[("ALLOW_REGISTRATION", "true")]).await;
    // No open registration in prod: the first client goes straight into the store.
    let bootstrap = auth_service::domain::Client {
        id: auth_service::domain::ClientId::new("bootstrap"),
        secret_hash: None,
        auth_method: auth_service::domain::AuthMethod::None,
        redirect_uris: vec![crate::helpers::REDIRECT_URI.to_owned()],
        grant_types: vec![auth_service::domain::GrantType::AuthorizationCode],
        scope: auth_service::domain::Scope::parse("openid profile").unwrap(),
        name: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    app.repos.clients.insert(&bootstrap).await.unwrap();
    let registered = app
        .post_json(
            "/auth/register",
            &json!({"email": "root@example.com", "password": PASSWORD, "name": "Root"}),
        )
        .await;
    let session = registered.cookie("__Host-session").unwrap();
    app.promote("root@example.com").await;
    let (verifier, challenge) = crate::helpers::pkce();
    let authorized = app
        .get(
            &format!(
                "/oauth/authorize?response_type=code&client_id=bootstrap&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
                crate::helpers::REDIRECT_URI
            ),
            &[("__Host-session", &session)],
        )
        .await;
    let code = crate::helpers::redirect_param(&authorized, "code").expect("a code");
    let admin = access(&app.exchange("bootstrap", &code, &verifier).await.json());

    let body = json!({"redirect_uris": ["https://app.example/callback"], "token_endpoint_auth_method": "none"});
    let anonymous = app.post_json("/oauth/clients", &body).await;
    anonymous.assert_problem(StatusCode::UNAUTHORIZED);
    // Authorization comes before the body is read, malformed or not.
    app.post_json("/oauth/clients", &json!({"redirect_uris": "not a list"}))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED);
    let body = json!({"redirect_uris": ["https://app.example/callback"], "token_endpoint_auth_method": "none"});
    let response = app
        .send_bearer("POST", "/oauth/clients", &admin, Some(&body))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
}
