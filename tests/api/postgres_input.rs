//! Client input that Postgres cannot store (a NUL byte in a text parameter) is a client error
//! there as it is in memory, never a 500.

use auth_service::repos::postgres;
use auth_service::repos::postgres::testing::run_with_fresh_database;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{REDIRECT_URI, TestApp, pkce};

#[tokio::test]
async fn a_nul_byte_in_a_redirect_uri_is_a_client_error_on_postgres() {
    run_with_fresh_database(|pool| async move {
        let app = TestApp::with(&[], postgres::repos(pool)).await;
        let session = app.signed_in_session("nul@example.com").await;

        let client = app.register_client(json!({})).await;
        let (code, verifier) = app.code_for(&session, &client.id).await;
        for redirect_uri in ["\0", &format!("{REDIRECT_URI}\0")] {
            app.post_form(
                "/oauth/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect_uri),
                    ("client_id", &client.id),
                    ("code_verifier", &verifier),
                ],
                &[],
            )
            .await
            .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        // Refused before the code was looked at: it still redeems.
        assert_eq!(
            app.exchange(&client.id, &code, &verifier).await.status,
            StatusCode::OK
        );

        // The URL parser trims a trailing NUL, so a loopback request ending in one parsed to a
        // registered URI with another port, and was stored as sent.
        let loopback = app
            .register_client(json!({"redirect_uris": ["http://127.0.0.1:1000/cb"]}))
            .await;
        let (_, challenge) = pkce();
        let response = app
            .authorize(
                Some(&session),
                &loopback.id,
                &challenge,
                &[("redirect_uri", "http://127.0.0.1:5/cb\0")],
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            response.text()
        );
    })
    .await;
}
