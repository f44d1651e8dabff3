//! Organizations: the permission matrix, tenant isolation, the last owner, and role changes
//! that apply at once.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse};

/// An app with org A (owner, admin, member), an outsider, a platform admin, and org B.
struct World {
    app: TestApp,
    owner: String,
    admin: String,
    member: String,
    outsider: String,
    platform_admin: String,
    org_a: String,
    org_b: String,
    b_owner_id: String,
}

async fn token_of(app: &TestApp, name: &str) -> (String, String) {
    let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
    let (_, tokens) = app.user_tokens(&email, None).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let id = app.user_id_of(&token).await;
    (token, id)
}

async fn create_org(app: &TestApp, token: &str, slug: &str) -> String {
    let response = app
        .send_bearer(
            "POST",
            "/v1/orgs",
            token,
            Some(&json!({"name": "Org", "slug": slug})),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_owned()
}

async fn add(app: &TestApp, token: &str, org: &str, user: &str, role: &str) -> TestResponse {
    app.send_bearer(
        "POST",
        &format!("/v1/orgs/{org}/members"),
        token,
        Some(&json!({"user_id": user, "org_role": role})),
    )
    .await
}

impl World {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let (owner, _) = token_of(&app, "owner").await;
        let (admin, admin_id) = token_of(&app, "admin").await;
        let (member, member_id) = token_of(&app, "member").await;
        let (outsider, _) = token_of(&app, "outsider").await;
        let platform_admin = app.admin_token().await;
        let org_a = create_org(
            &app,
            &owner,
            &format!("a-{}", uuid::Uuid::new_v4().simple()),
        )
        .await;
        assert_eq!(
            add(&app, &owner, &org_a, &admin_id, "admin").await.status,
            StatusCode::CREATED
        );
        assert_eq!(
            add(&app, &owner, &org_a, &member_id, "member").await.status,
            StatusCode::CREATED
        );
        let (b_owner, b_owner_id) = token_of(&app, "b-owner").await;
        let org_b = create_org(
            &app,
            &b_owner,
            &format!("b-{}", uuid::Uuid::new_v4().simple()),
        )
        .await;
        Self {
            app,
            owner,
            admin,
            member,
            outsider,
            platform_admin,
            org_a,
            org_b,
            b_owner_id,
        }
    }

    fn actors(&self) -> [(&'static str, &str); 5] {
        [
            ("owner", &self.owner),
            ("admin", &self.admin),
            ("member", &self.member),
            ("non-member", &self.outsider),
            ("platform admin", &self.platform_admin),
        ]
    }

    /// A fresh user added to org A by its owner with `role`.
    async fn fresh_member(&self, role: &str) -> String {
        let (_, id) = token_of(&self.app, "fresh").await;
        let added = add(&self.app, &self.owner, &self.org_a, &id, role).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
        id
    }
}

fn code(response: &TestResponse) -> u16 {
    response.status.as_u16()
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_route() {
    let w = World::new().await;
    let app = &w.app;
    let a = &w.org_a;
    // (route, expected for owner, admin, member, non-member, platform admin)
    let mut table: Vec<(String, [u16; 5])> = Vec::new();

    let mut row = |name: String, codes: Vec<u16>| table.push((name, codes.try_into().unwrap()));
    let mut codes = Vec::new();
    for (_, token) in w.actors() {
        codes.push(code(&app.get_bearer(&format!("/v1/orgs/{a}"), token).await));
    }
    row("GET org".into(), codes);

    let mut codes = Vec::new();
    for (_, token) in w.actors() {
        codes.push(code(
            &app.get_bearer(&format!("/v1/orgs/{a}/members"), token)
                .await,
        ));
    }
    row("GET members".into(), codes);

    for role in ["member", "admin", "owner"] {
        let mut codes = Vec::new();
        for (_, token) in w.actors() {
            let (_, newbie) = token_of(app, "newbie").await;
            codes.push(code(&add(app, token, a, &newbie, role).await));
        }
        row(format!("POST member as {role}"), codes);
    }

    for (from, to) in [
        ("member", "admin"),
        ("admin", "member"),
        ("member", "owner"),
    ] {
        let mut codes = Vec::new();
        for (_, token) in w.actors() {
            let target = w.fresh_member(from).await;
            let response = app
                .send_bearer(
                    "PATCH",
                    &format!("/v1/orgs/{a}/members/{target}"),
                    token,
                    Some(&json!({"org_role": to})),
                )
                .await;
            codes.push(code(&response));
        }
        row(format!("PATCH {from} to {to}"), codes);
    }

    for role in ["member", "admin", "owner"] {
        let mut codes = Vec::new();
        for (_, token) in w.actors() {
            let target = w.fresh_member(role).await;
            let uri = format!("/v1/orgs/{a}/members/{target}");
            codes.push(code(&app.send_bearer("DELETE", &uri, token, None).await));
        }
        row(format!("DELETE {role}"), codes);
    }

    let expected: Vec<(String, [u16; 5])> = vec![
        ("GET org".into(), [200, 200, 200, 403, 200]),
        ("GET members".into(), [200, 200, 200, 403, 200]),
        ("POST member as member".into(), [201, 201, 403, 403, 201]),
        ("POST member as admin".into(), [201, 403, 403, 403, 201]),
        ("POST member as owner".into(), [201, 403, 403, 403, 201]),
        ("PATCH member to admin".into(), [204, 403, 403, 403, 204]),
        ("PATCH admin to member".into(), [204, 403, 403, 403, 204]),
        ("PATCH member to owner".into(), [204, 403, 403, 403, 204]),
        ("DELETE member".into(), [204, 204, 403, 403, 204]),
        ("DELETE admin".into(), [204, 403, 403, 403, 204]),
        ("DELETE owner".into(), [204, 403, 403, 403, 204]),
    ];
    assert_eq!(table, expected);
}

#[tokio::test]
async fn everyone_lists_only_their_own_organizations_and_may_create_one() {
    let w = World::new().await;
    for (name, token) in w.actors() {
        let listed = w.app.get_bearer("/v1/orgs", token).await;
        assert_eq!(listed.status, StatusCode::OK);
        let ids: Vec<Value> = listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].clone())
            .collect();
        let in_a = ids.contains(&json!(w.org_a));
        assert_eq!(
            in_a,
            ["owner", "admin", "member"].contains(&name),
            "{name}: {ids:?}"
        );
        assert!(!ids.contains(&json!(w.org_b)), "{name} sees org B");
    }
    let slug = format!("new-{}", uuid::Uuid::new_v4().simple());
    create_org(&w.app, &w.member, &slug).await;
    let taken = w
        .app
        .send_bearer(
            "POST",
            "/v1/orgs",
            &w.outsider,
            Some(&json!({"name": "X", "slug": slug})),
        )
        .await;
    taken.assert_problem(StatusCode::CONFLICT);
    let bad = w
        .app
        .send_bearer(
            "POST",
            "/v1/orgs",
            &w.outsider,
            Some(&json!({"name": "X", "slug": "no"})),
        )
        .await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_member_of_a_gets_403_on_every_org_b_route_whatever_ids_they_guess() {
    let w = World::new().await;
    let b = &w.org_b;
    let guesses = [
        w.b_owner_id.clone(),
        uuid::Uuid::now_v7().to_string(),
        "not-a-uuid".to_owned(),
    ];
    for org in [
        b.clone(),
        uuid::Uuid::now_v7().to_string(),
        "not-a-uuid".to_owned(),
        "%00".to_owned(),
    ] {
        for token in [&w.owner, &w.admin, &w.member] {
            let mut responses = vec![
                w.app.get_bearer(&format!("/v1/orgs/{org}"), token).await,
                w.app
                    .get_bearer(&format!("/v1/orgs/{org}/members"), token)
                    .await,
                add(&w.app, token, &org, &w.b_owner_id, "member").await,
            ];
            for target in &guesses {
                let uri = format!("/v1/orgs/{org}/members/{target}");
                responses.push(
                    w.app
                        .send_bearer("PATCH", &uri, token, Some(&json!({"org_role": "member"})))
                        .await,
                );
                responses.push(w.app.send_bearer("DELETE", &uri, token, None).await);
            }
            let first = responses[0].body.clone();
            for response in &responses {
                response.assert_problem(StatusCode::FORBIDDEN);
                assert_eq!(response.body, first, "different refusals leak information");
            }
        }
    }
    let members = w
        .app
        .get_bearer(&format!("/v1/orgs/{b}/members"), &w.platform_admin)
        .await
        .json();
    assert_eq!(members.as_array().unwrap().len(), 1, "org B was changed");
}

#[tokio::test]
async fn the_last_owner_can_neither_leave_nor_be_demoted() {
    let w = World::new().await;
    let a = &w.org_a;
    let owner_id = w.app.user_id_of(&w.owner).await;
    let uri = format!("/v1/orgs/{a}/members/{owner_id}");
    w.app
        .send_bearer("DELETE", &uri, &w.owner, None)
        .await
        .assert_problem(StatusCode::CONFLICT);
    w.app
        .send_bearer(
            "PATCH",
            &uri,
            &w.owner,
            Some(&json!({"org_role": "member"})),
        )
        .await
        .assert_problem(StatusCode::CONFLICT);
    w.app
        .send_bearer(
            "PATCH",
            &uri,
            &w.platform_admin,
            Some(&json!({"org_role": "admin"})),
        )
        .await
        .assert_problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn two_concurrent_removals_of_the_last_two_owners_leave_one() {
    let w = World::new().await;
    let a = &w.org_a;
    let second = w.fresh_member("owner").await;
    let first = w.app.user_id_of(&w.owner).await;
    let (uri_one, uri_two) = (
        format!("/v1/orgs/{a}/members/{first}"),
        format!("/v1/orgs/{a}/members/{second}"),
    );
    let (one, two) = tokio::join!(
        w.app.send_bearer("DELETE", &uri_one, &w.owner, None),
        w.app
            .send_bearer("DELETE", &uri_two, &w.platform_admin, None),
    );
    let mut codes = [one.status.as_u16(), two.status.as_u16()];
    codes.sort_unstable();
    assert_eq!(codes, [204, 409]);
    let owners = w
        .app
        .get_bearer(&format!("/v1/orgs/{a}/members"), &w.platform_admin)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["org_role"] == "owner")
        .count();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn membership_changes_apply_on_the_next_request() {
    let w = World::new().await;
    let a = &w.org_a;
    let admin_id = w.app.user_id_of(&w.admin).await;
    let member_id = w.app.user_id_of(&w.member).await;

    // A demoted admin loses member management at once, with the same token.
    let (_, newbie) = token_of(&w.app, "newbie").await;
    assert_eq!(
        code(&add(&w.app, &w.admin, a, &newbie, "member").await),
        201
    );
    let demote = w
        .app
        .send_bearer(
            "PATCH",
            &format!("/v1/orgs/{a}/members/{admin_id}"),
            &w.owner,
            Some(&json!({"org_role": "member"})),
        )
        .await;
    assert_eq!(demote.status, StatusCode::NO_CONTENT);
    let (_, other) = token_of(&w.app, "other").await;
    assert_eq!(code(&add(&w.app, &w.admin, a, &other, "member").await), 403);

    // A removed member loses access at once.
    assert_eq!(
        code(&w.app.get_bearer(&format!("/v1/orgs/{a}"), &w.member).await),
        200
    );
    let removed = w
        .app
        .send_bearer(
            "DELETE",
            &format!("/v1/orgs/{a}/members/{member_id}"),
            &w.owner,
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    w.app
        .get_bearer(&format!("/v1/orgs/{a}"), &w.member)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn malformed_input_is_4xx_never_5xx() {
    let w = World::new().await;
    let a = &w.org_a;
    for (method, uri, body) in [
        (
            "POST",
            format!("/v1/orgs/{a}/members"),
            json!({"user_id": "nope", "org_role": "member"}),
        ),
        (
            "POST",
            format!("/v1/orgs/{a}/members"),
            json!({"user_id": uuid::Uuid::now_v7(), "org_role": "boss"}),
        ),
        (
            "POST",
            format!("/v1/orgs/{a}/members"),
            json!({"user_id": uuid::Uuid::now_v7(), "org_role": "member"}),
        ),
        (
            "PATCH",
            format!("/v1/orgs/{a}/members/not-a-uuid"),
            json!({"org_role": "member"}),
        ),
        (
            "PATCH",
            format!("/v1/orgs/{a}/members/{}", uuid::Uuid::now_v7()),
            json!({"org_role": "member"}),
        ),
        (
            "POST",
            "/v1/orgs".to_owned(),
            json!({"name": "", "slug": "valid-slug"}),
        ),
        (
            "POST",
            "/v1/orgs".to_owned(),
            json!({"name": "X", "slug": "valid-slug-2", "owner": "me"}),
        ),
    ] {
        let response = w.app.send_bearer(method, &uri, &w.owner, Some(&body)).await;
        assert!(
            response.status.is_client_error(),
            "{method} {uri} {body}: {}",
            response.status
        );
    }
    let response = w
        .app
        .get_bearer("/v1/orgs/not-a-uuid", &w.platform_admin)
        .await;
    response.assert_problem(StatusCode::NOT_FOUND);
}
