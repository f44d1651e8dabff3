//! The OAuth 2.1 endpoints: client registration, authorize, token, revoke, introspect, and the
//! discovery documents.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, BearerError, oauth_throttled};
use super::extract::{ClientIp, OAuthForm, OAuthJson};
use super::{AppState, cookies};
use crate::domain::{AuthMethod, Client, GrantType, SUPPORTED_SCOPES};
use crate::services::{
    AuthorizeRejection, AuthorizeRequest, ClientRegistration, OAuthError, OAuthErrorCode,
    PresentedCredentials, Principal,
};

/// Every OAuth route but `/oauth/authorize`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/clients", post(register_client))
        .route("/oauth/token", post(issue_token))
        .route("/oauth/revoke", post(revoke_token))
        .route("/oauth/introspect", post(introspect_token))
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route("/.well-known/jwks.json", get(jwks))
}

/// `/oauth/authorize`, kept apart so that no CORS layer ever wraps it (RFC 9700 §2.6).
pub fn authorize_router() -> Router<AppState> {
    Router::new().route("/oauth/authorize", get(authorize))
}

/// The RFC 7591 response: the registered metadata, and the secret once.
#[derive(Serialize)]
struct RegisteredClient {
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: AuthMethod,
    grant_types: Vec<GrantType>,
    response_types: Vec<&'static str>,
    scope: String,
}

/// 201 with the client (and its secret, once); RFC 7591 errors as 400. In prod the caller
/// needs a bearer token with role `admin`.
async fn register_client(
    State(state): State<AppState>,
    principal: Result<Principal, BearerError>,
    OAuthJson(request): OAuthJson<ClientRegistration>,
) -> Response {
    if state.client_registration_requires_admin {
        let admin = principal.and_then(|p| p.require_admin().map_err(BearerError::Forbidden));
        if let Err(rejection) = admin {
            return rejection.into_response();
        }
    }
    match state.clients.register(request).await {
        Ok((client, secret)) => {
            let body = registered(&client, secret.as_ref().map(|s| s.expose().to_owned()));
            (
                StatusCode::CREATED,
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                Json(body),
            )
                .into_response()
        }
        Err(err) => err.into_response(),
    }
}

fn registered(client: &Client, secret: Option<String>) -> RegisteredClient {
    let uses_code = client.allows(GrantType::AuthorizationCode);
    RegisteredClient {
        client_id: client.id.to_string(),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: client.created_at.unix_timestamp(),
        client_name: client.name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        token_endpoint_auth_method: client.auth_method,
        grant_types: client.grant_types.clone(),
        response_types: if uses_code { vec!["code"] } else { vec![] },
        scope: client.scope.to_string(),
    }
}

/// The contract's four steps: untrusted client or redirect URI → 400 page; other bad
/// parameters → error redirect; no session → sign-in; else a code.
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let mut response = match authorize_outcome(&state, &headers, &query).await {
        Ok(response) | Err(response) => response,
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn authorize_outcome(
    state: &AppState,
    headers: &HeaderMap,
    query: &str,
) -> Result<Response, Response> {
    // A query that does not parse (bad encoding, repeated parameters) leaves nothing to trust.
    let request: AuthorizeRequest = serde_urlencoded::from_str(query)
        .map_err(|_| error_page("the authorization request is malformed"))?;
    let valid = match state.authorize.validate(request).await {
        Ok(valid) => valid,
        Err(AuthorizeRejection::Untrusted(reason)) => return Err(error_page(reason)),
        Err(AuthorizeRejection::Redirect {
            redirect_uri,
            error,
            state: client_state,
        }) => {
            let mut params = vec![
                ("error", error.code.as_str().to_owned()),
                ("error_description", error.description.into_owned()),
            ];
            params.extend(client_state.map(|s| ("state", s)));
            params.push(("iss", state.issuer.clone()));
            return Err(redirect_with(&redirect_uri, &params));
        }
        // /oauth/authorize is a browser endpoint: problem+json, not an OAuth error body.
        Err(AuthorizeRejection::Store(error)) => {
            let status = if error.code == OAuthErrorCode::TemporarilyUnavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return Err(ApiError::new(status, error.description).into_response());
        }
    };

    let session = match cookies::read(headers, state.cookies.session_name()) {
        Some(presented) => state
            .sessions
            .resolve(&presented)
            .await
            .map_err(|e| ApiError::from(e).into_response())?,
        None => None,
    };
    let Some(session) = session else {
        let next = format!("/oauth/authorize?{query}");
        let login = format!(
            "/login?{}",
            serde_urlencoded::to_string([("next", next)]).map_err(|_| error_page("malformed"))?
        );
        let location = HeaderValue::try_from(login).map_err(|_| error_page("malformed"))?;
        return Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response());
    };

    let code = state
        .authorize
        .issue_code(&valid, session.user_id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let mut params = vec![("code", code.expose().to_owned())];
    params.extend(valid.state.map(|s| ("state", s)));
    params.push(("iss", state.issuer.clone()));
    Ok(redirect_with(&valid.redirect_uri, &params))
}

/// 302 to `base` with `params` appended to its query.
fn redirect_with(base: &str, params: &[(&str, String)]) -> Response {
    let Ok(mut url) = url::Url::parse(base) else {
        return error_page("the redirect URI is not a URL");
    };
    url.query_pairs_mut()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    match HeaderValue::try_from(url.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => error_page("the redirect URI is not a valid header value"),
    }
}

/// The 400 page for requests whose redirect URI cannot be trusted.
fn error_page(reason: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Authorization request rejected</title></head><body>\
         <h1>Authorization request rejected</h1><p>{}</p></body></html>",
        super::login_page::escape(reason)
    );
    (
        StatusCode::BAD_REQUEST,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
            ),
        ],
        html,
    )
        .into_response()
}

/// The token endpoint's form. Unknown parameters are ignored.
#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
}

async fn issue_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<TokenForm>,
) -> Response {
    let outcome = async {
        let credentials = presented_credentials(&headers, form.client_id, form.client_secret)?;
        if let Err(throttled) = state
            .limits
            .token_request_from(ip)
            .await
            .map_err(OAuthError::from)?
        {
            return Ok(Err(throttled));
        }
        let client = state.clients.authenticate(credentials).await?;
        // A public client's id is all its "authentication", so anyone could spend its budget:
        // those are limited per IP only.
        if client.auth_method.is_confidential()
            && let Err(throttled) = state
                .limits
                .token_request_by(client.id.as_str())
                .await
                .map_err(OAuthError::from)?
        {
            return Ok(Err(throttled));
        }
        match form.grant_type.as_deref() {
            Some("authorization_code") => {
                state
                    .tokens
                    .exchange_code(
                        &client,
                        form.code.as_deref(),
                        form.redirect_uri.as_deref(),
                        form.code_verifier.as_deref(),
                    )
                    .await
            }
            Some("refresh_token") => {
                state
                    .tokens
                    .refresh(
                        &client,
                        form.refresh_token.as_deref(),
                        form.scope.as_deref(),
                    )
                    .await
            }
            Some("client_credentials") => {
                state
                    .tokens
                    .client_credentials(&client, form.scope.as_deref())
                    .await
            }
            None => Err(OAuthError::invalid_request("grant_type is required")),
            Some(_) => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )),
        }
        .map(Ok)
    }
    .await;
    match outcome {
        Ok(Err(throttled)) => oauth_throttled(throttled),
        Ok(Ok(tokens)) => (
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::PRAGMA, HeaderValue::from_static("no-cache")),
            ],
            Json(tokens),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

/// The revocation and introspection form.
#[derive(Deserialize)]
struct TokenQueryForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
}

/// RFC 7009: 200 whether or not the token was known or the caller's.
async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<TokenQueryForm>,
) -> Response {
    let outcome = async {
        let (client, token) = authenticated_token_query(&state, &headers, form).await?;
        state.tokens.revoke(&client, &token).await
    }
    .await;
    match outcome {
        Ok(()) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

/// RFC 7662, for confidential clients.
async fn introspect_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<TokenQueryForm>,
) -> Response {
    let outcome = async {
        let (client, token) = authenticated_token_query(&state, &headers, form).await?;
        state.tokens.introspect(&client, &token).await
    }
    .await;
    match outcome {
        Ok(introspection) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(introspection),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

/// The authenticated client and the `token` of a revocation or introspection request.
async fn authenticated_token_query(
    state: &AppState,
    headers: &HeaderMap,
    form: TokenQueryForm,
) -> Result<(Client, String), OAuthError> {
    let credentials = presented_credentials(headers, form.client_id, form.client_secret)?;
    let client = state.clients.authenticate(credentials).await?;
    let token = form
        .token
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token))
}

/// Reads client credentials from HTTP Basic (RFC 6749 §2.3.1: each part form-urlencoded) or
/// the body; using both is `invalid_request`.
fn presented_credentials(
    headers: &HeaderMap,
    form_id: Option<String>,
    form_secret: Option<SecretString>,
) -> Result<PresentedCredentials, OAuthError> {
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Ok(match (form_id, form_secret) {
            (Some(id), Some(secret)) => PresentedCredentials::Post { id, secret },
            (Some(id), None) => PresentedCredentials::IdOnly(id),
            (None, _) => PresentedCredentials::Missing,
        });
    };
    let basic_failure = OAuthError {
        basic_auth_attempted: true,
        ..OAuthError::invalid_client()
    };
    if form_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not several",
        ));
    }
    let encoded = authorization
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials.trim())
        .ok_or_else(|| basic_failure.clone())?;
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| basic_failure.clone())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| basic_failure.clone())?;
    let id = form_urldecode(id).ok_or_else(|| basic_failure.clone())?;
    let secret = form_urldecode(secret).ok_or_else(|| basic_failure.clone())?;
    if form_id.is_some_and(|form_id| form_id != id) {
        return Err(OAuthError::invalid_request(
            "client_id in the body differs from the one in the Authorization header",
        ));
    }
    Ok(PresentedCredentials::Basic {
        id,
        secret: SecretString::from(secret),
    })
}

fn form_urldecode(part: &str) -> Option<String> {
    let decoded: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={part}")).ok()?;
    decoded.into_iter().next().map(|(_, value)| value)
}

/// RFC 8414 metadata.
async fn server_metadata(State(state): State<AppState>) -> Response {
    let issuer = &state.issuer;
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "registration_endpoint": format!("{issuer}/oauth/clients"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "response_types_supported": ["code"],
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AuthMethod::ALL.map(AuthMethod::as_str),
        "revocation_endpoint_auth_methods_supported": AuthMethod::ALL.map(AuthMethod::as_str),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": SUPPORTED_SCOPES,
        "authorization_response_iss_parameter_supported": true,
    });
    Json(body).into_response()
}

/// Every public key that may have signed a live token.
async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(state.access.jwks().clone()),
    )
        .into_response()
}
