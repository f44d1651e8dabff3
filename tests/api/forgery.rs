//! Forged, tampered and expired access tokens are refused by the one verifier; key rotation
//! keeps earlier tokens valid.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::{TestApp, key_file};

struct Forge {
    app: TestApp,
    key_pem: String,
    kid: String,
    genuine: String,
    claims: Value,
}

impl Forge {
    async fn new() -> Self {
        let key = key_file();
        let key_pem = std::fs::read_to_string(&key).unwrap();
        let app = TestApp::with_env(&[("JWT_SIGNING_KEY_FILE", key.to_str().unwrap())]).await;
        let (_, tokens) = app.signed_in_tokens().await;
        let genuine = tokens["access_token"].as_str().unwrap().to_owned();
        let claims = part(&genuine, 1);
        let kid = part(&genuine, 0)["kid"].as_str().unwrap().to_owned();
        Self {
            app,
            key_pem,
            kid,
            genuine,
            claims,
        }
    }

    fn sign(&self, header: Header, claims: &Value, key: &EncodingKey) -> String {
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn es256_header(&self) -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        header
    }

    fn our_key(&self) -> EncodingKey {
        EncodingKey::from_ec_pem(self.key_pem.as_bytes()).unwrap()
    }

    fn with_claim(&self, name: &str, value: Value) -> Value {
        let mut claims = self.claims.clone();
        claims[name] = value;
        claims
    }

    /// The token is refused by `/auth/me` with `error="invalid_token"`.
    async fn assert_refused(&self, token: &str, what: &str) {
        let me = self.app.get_bearer("/auth/me", token).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{what} was accepted");
        assert!(
            me.header("www-authenticate")
                .unwrap()
                .contains(r#"error="invalid_token""#),
            "{what}"
        );
    }
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn the_genuine_token_is_accepted() {
    let forge = Forge::new().await;
    let me = forge.app.get_bearer("/auth/me", &forge.genuine).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    // Re-signing the same claims with our key is also fine: the checks are not vacuous.
    let resigned = forge.sign(forge.es256_header(), &forge.claims, &forge.our_key());
    assert_eq!(
        forge.app.get_bearer("/auth/me", &resigned).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let forge = Forge::new().await;
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": forge.kid});
    let token = format!("{}.{}.", encode_part(&header), encode_part(&forge.claims));
    forge.assert_refused(&token, "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let forge = Forge::new().await;
    let jwks = forge.app.get("/.well-known/jwks.json", &[]).await.text();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(forge.kid.clone());
    let token = forge.sign(
        header,
        &forge.claims,
        &EncodingKey::from_secret(jwks.as_bytes()).unwrap(),
    );
    forge
        .assert_refused(&token, "HS256 with the public key")
        .await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused_whatever_its_kid() {
    let forge = Forge::new().await;
    let stranger_pem = std::fs::read_to_string(key_file()).unwrap();
    let stranger = EncodingKey::from_ec_pem(stranger_pem.as_bytes()).unwrap();
    let same_kid = forge.sign(forge.es256_header(), &forge.claims, &stranger);
    forge
        .assert_refused(&same_kid, "our kid, another key")
        .await;
    let mut header = forge.es256_header();
    header.kid = Some("unknown-kid".into());
    let unknown_kid = forge.sign(header, &forge.claims, &stranger);
    forge.assert_refused(&unknown_kid, "unknown kid").await;
    let mut header = forge.es256_header();
    header.kid = None;
    let no_kid = forge.sign(header, &forge.claims, &forge.our_key());
    forge.assert_refused(&no_kid, "no kid").await;
}

#[tokio::test]
async fn wrong_audience_issuer_or_type_is_refused() {
    let forge = Forge::new().await;
    let key = forge.our_key();
    for (name, value) in [
        ("aud", json!("https://other.example")),
        ("iss", json!("https://evil.example")),
        ("aud", Value::Null),
    ] {
        let token = forge.sign(
            forge.es256_header(),
            &forge.with_claim(name, value.clone()),
            &key,
        );
        forge
            .assert_refused(&token, &format!("{name}={value}"))
            .await;
    }
    let mut header = forge.es256_header();
    header.typ = Some("JWT".into());
    let token = forge.sign(header, &forge.claims, &key);
    forge.assert_refused(&token, "typ JWT").await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let forge = Forge::new().await;
    let mut segments: Vec<&str> = forge.genuine.split('.').collect();
    let elevated = encode_part(&forge.with_claim("roles", json!(["user", "admin"])));
    segments[1] = &elevated;
    forge
        .assert_refused(&segments.join("."), "tampered roles")
        .await;
    forge.assert_refused("not.a.jwt", "garbage").await;
    // An empty credential is no credential: a plain challenge, no error code (RFC 6750 §3.1).
    let empty = forge.app.get_bearer("/auth/me", "").await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expiry_and_not_before_are_checked_with_the_configured_leeway() {
    let forge = Forge::new().await;
    let key = forge.our_key();
    let nbf = forge.claims["nbf"].as_i64().unwrap();
    let early = forge.sign(
        forge.es256_header(),
        &forge.with_claim("nbf", json!(nbf + 60)),
        &key,
    );
    forge.assert_refused(&early, "nbf in the future").await;

    // exp = iat + 900, leeway 15 s.
    forge.app.clock.advance(Duration::seconds(914));
    let me = forge.app.get_bearer("/auth/me", &forge.genuine).await;
    assert_eq!(me.status, StatusCode::OK, "refused inside the leeway");
    forge.app.clock.advance(Duration::seconds(1));
    forge.assert_refused(&forge.genuine, "expired").await;
}

#[tokio::test]
async fn a_cookie_is_not_a_bearer_token() {
    let app = TestApp::new().await;
    let session = app.signed_in_session("ada@example.com").await;
    let me = app.get("/auth/me", &[("session", &session)]).await;
    me.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        me.header("www-authenticate"),
        Some(r#"Bearer realm="auth-service""#)
    );
}

#[tokio::test]
async fn after_key_rotation_old_tokens_verify_and_jwks_lists_both_keys() {
    let repos = auth_service::repos::memory::repos();
    let old_key = key_file();
    let new_key = key_file();
    let before = TestApp::with(
        &[("JWT_SIGNING_KEY_FILE", old_key.to_str().unwrap())],
        repos.clone(),
    )
    .await;
    let (client, tokens) = before.signed_in_tokens().await;
    let old_token = tokens["access_token"].as_str().unwrap();
    let old_kid = part(old_token, 0)["kid"].as_str().unwrap().to_owned();

    let after = TestApp::with(
        &[
            ("JWT_SIGNING_KEY_FILE", new_key.to_str().unwrap()),
            ("JWT_VERIFY_KEY_FILES", old_key.to_str().unwrap()),
        ],
        repos.clone(),
    )
    .await;
    let me = after.get_bearer("/auth/me", old_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());

    let jwks = after.get("/.well-known/jwks.json", &[]).await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&old_kid.as_str()));
    let refreshed = after
        .refresh(&client.id, tokens["refresh_token"].as_str().unwrap())
        .await
        .json();
    let new_kid = part(refreshed["access_token"].as_str().unwrap(), 0)["kid"].clone();
    assert_ne!(new_kid, json!(old_kid));
    assert!(kids.contains(&new_kid.as_str().unwrap()));

    // Once the old key is dropped, its tokens stop verifying.
    let retired = TestApp::with(
        &[("JWT_SIGNING_KEY_FILE", new_key.to_str().unwrap())],
        repos,
    )
    .await;
    assert_eq!(
        retired.get_bearer("/auth/me", old_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn header_members_we_never_issue_are_refused_even_when_signed_by_our_key() {
    let forge = Forge::new().await;
    let mut with_jku = forge.es256_header();
    with_jku.jku = Some("https://attacker.example/jwks.json".into());
    let mut with_cty = forge.es256_header();
    with_cty.cty = Some("JWT".into());
    for (header, what) in [(with_jku, "jku"), (with_cty, "cty")] {
        let token = forge.sign(header, &forge.claims, &forge.our_key());
        forge.assert_refused(&token, what).await;
    }
}

#[tokio::test]
async fn claims_must_all_be_present_and_aud_a_single_string() {
    let forge = Forge::new().await;
    let aud = forge.claims["aud"].clone();
    let cases = [
        (forge.with_claim("aud", json!([aud])), "aud as an array"),
        (forge.with_claim("exp", json!(null)), "exp null"),
        (forge.with_claim("exp", json!(4.0e9)), "exp as a float"),
        (
            {
                let mut claims = forge.claims.clone();
                claims.as_object_mut().unwrap().remove("sub");
                claims
            },
            "no sub",
        ),
        (
            {
                let mut claims = forge.claims.clone();
                claims.as_object_mut().unwrap().remove("nbf");
                claims
            },
            "no nbf",
        ),
    ];
    for (claims, what) in cases {
        let token = forge.sign(forge.es256_header(), &claims, &forge.our_key());
        forge.assert_refused(&token, what).await;
    }
}

#[tokio::test]
async fn malformed_compact_serializations_are_refused() {
    let forge = Forge::new().await;
    let genuine = &forge.genuine;
    let (signing_input, signature) = genuine.rsplit_once('.').unwrap();
    let signature_bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let cases = [
        (format!("{genuine}."), "a trailing dot"),
        (format!("{genuine}.e30"), "a fourth segment"),
        (format!("{genuine}="), "base64 padding"),
        (signing_input.to_owned(), "no signature"),
        (
            format!(
                "{signing_input}.{}",
                URL_SAFE_NO_PAD.encode(&signature_bytes[..63])
            ),
            "a short signature",
        ),
        (
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode([0_u8; 64])),
            "a zero signature",
        ),
        (genuine.replacen('.', "..", 1), "an empty segment"),
    ];
    for (token, what) in cases {
        forge.assert_refused(&token, what).await;
    }
}
