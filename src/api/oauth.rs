//! The OAuth 2.1 endpoints: client registration, authorize, token, revoke, introspect, and the
//! discovery documents.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, BearerError, OAuthErrorBody, Problem, oauth_throttled};
use super::extract::{ClientIp, OAuthForm, OAuthJson};
use super::{AppState, cookies};
use crate::domain::{AuthMethod, Client, GrantType, SUPPORTED_SCOPES};
use crate::services::{
    AuthorizeRejection, AuthorizeRequest, ClientRegistration, Introspection, OAuthError,
    OAuthErrorCode, PresentedCredentials, Principal, TokenResponse,
};

/// Every OAuth route but `/oauth/authorize`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_client))
        .routes(routes!(issue_token))
        .routes(routes!(revoke_token))
        .routes(routes!(introspect_token))
        .routes(routes!(server_metadata))
        .routes(routes!(jwks))
}

/// `/oauth/authorize`, kept apart so that no CORS layer ever wraps it (RFC 9700 §2.6).
pub fn authorize_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorize))
}

/// The RFC 7591 response: the registered metadata, and the secret once.
#[derive(Serialize, ToSchema)]
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
    #[schema(value_type = Vec<String>)]
    response_types: Vec<&'static str>,
    scope: String,
}

/// Register a client (RFC 7591).
///
/// 201 with the client (and its secret, once); RFC 7591 errors as 400. In prod the caller
/// needs a bearer token with role `admin`.
#[utoipa::path(post, path = "/oauth/clients", tag = "oauth",
    security((), ("bearer" = [])),
    request_body = ClientRegistration,
    responses(
        (status = 201, description = "Registered; `client_secret` is shown this once", body = RegisteredClient),
        (status = 400, description = "Invalid client metadata (RFC 7591 §3.2.2)", body = OAuthErrorBody),
        (status = 401, description = "prod: no valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "prod: not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
async fn register_client(
    State(state): State<AppState>,
    principal: Result<Principal, BearerError>,
    body: Result<OAuthJson<ClientRegistration>, Response>,
) -> Response {
    // The caller first: someone who may not register learns nothing about what the body
    // should have been.
    if state.client_registration_requires_admin {
        let admin = principal.and_then(|p| p.require_admin().map_err(BearerError::Forbidden));
        if let Err(rejection) = admin {
            return rejection.into_response();
        }
    }
    let OAuthJson(request) = match body {
        Ok(body) => body,
        Err(rejection) => return rejection,
    };
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

/// The RFC 7591 registration response as JSON text, for `auth-service create-client`.
///
/// # Errors
/// If serialization fails (it does not for these types).
pub fn registration_response(client: &Client, secret: Option<&str>) -> serde_json::Result<String> {
    serde_json::to_string(&registered(client, secret.map(str::to_owned)))
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

/// The parameters of an authorization request (RFC 6749 §4.1.1, PKCE RFC 7636).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documentation only: the handler parses the raw query itself.
struct AuthorizeParams {
    /// Must be `code`.
    response_type: String,
    client_id: String,
    /// One of the client's registered redirect URIs, compared exactly.
    redirect_uri: String,
    /// Space-separated; a subset of the client's.
    scope: Option<String>,
    /// Returned unchanged.
    state: Option<String>,
    /// BASE64URL(SHA-256(code_verifier)), 43 characters.
    code_challenge: String,
    /// Must be `S256`.
    code_challenge_method: String,
}

/// Start an authorization (code + PKCE).
///
/// The contract's four steps: untrusted client or redirect URI → 400 page; other bad
/// parameters → error redirect; no session → sign-in; else a code.
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth",
    security((), ("session" = [])),
    params(AuthorizeParams),
    responses(
        (status = 302, description = "To the client with `code`, `state` and `iss`; to the client with `error`; or to `/login` without a session"),
        (status = 400, description = "Unknown client or untrusted redirect URI: an HTML page, no redirect", content_type = "text/html", body = String),
        (status = 429, description = "Too many authorization requests from this address (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is down", body = Problem, content_type = "application/problem+json"),
    ))]
async fn authorize(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let mut response = match authorize_outcome(&state, ip, &headers, &query).await {
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
    ip: IpAddr,
    headers: &HeaderMap,
    query: &str,
) -> Result<Response, Response> {
    if let Err(throttled) = state
        .limits
        .authorize_request_from(ip)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
    {
        return Err(ApiError::throttled(
            throttled,
            "too many authorization requests; retry after the time given",
        )
        .into_response());
    }
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
#[derive(Deserialize, ToSchema)]
struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    /// `client_secret_post`; or use HTTP Basic.
    #[schema(value_type = Option<String>, format = Password)]
    client_secret: Option<SecretString>,
}

/// Issue tokens.
///
/// `authorization_code` (with the PKCE verifier), `refresh_token` (rotating: the old one is
/// spent, and presenting it again revokes its family) and `client_credentials`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    security((), ("client_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed (`invalid_client`)", body = OAuthErrorBody),
        (status = 429, description = "Too many requests (`temporarily_unavailable`, `Retry-After`)", body = OAuthErrorBody),
    ))]
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
        let grant = match form.grant_type.as_deref() {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some(raw) => GrantType::parse(raw).ok_or_else(|| {
                OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "grant_type must be authorization_code, refresh_token or client_credentials",
                )
            })?,
        };
        let issued = match grant {
            GrantType::AuthorizationCode => {
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
            GrantType::RefreshToken => {
                state
                    .tokens
                    .refresh(
                        &client,
                        form.refresh_token.as_deref(),
                        form.scope.as_deref(),
                    )
                    .await
            }
            GrantType::ClientCredentials => {
                state
                    .tokens
                    .client_credentials(&client, form.scope.as_deref())
                    .await
            }
        }?;
        state.metrics.token_issued(grant);
        Ok(Ok(issued))
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
#[derive(Deserialize, ToSchema)]
struct TokenQueryForm {
    /// An access or refresh token.
    token: Option<String>,
    client_id: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    client_secret: Option<SecretString>,
}

/// Revoke a token (RFC 7009).
///
/// 200 whether or not the token was known or the caller's. A refresh token revokes its whole
/// family; an access token is deny-listed until it expires.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    security((), ("client_basic" = [])),
    request_body(content = TokenQueryForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    ))]
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

/// Introspect a token (RFC 7662).
///
/// For confidential clients; `active: false` for anything not live or not the caller's.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    security(("client_basic" = [])),
    request_body(content = TokenQueryForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state", body = Introspection),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    ))]
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

/// RFC 8414 authorization server metadata.
#[derive(Serialize, ToSchema)]
struct ServerMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    registration_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    #[schema(value_type = Vec<String>)]
    response_types_supported: [&'static str; 1],
    grant_types_supported: [GrantType; 3],
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [AuthMethod; 3],
    revocation_endpoint_auth_methods_supported: [AuthMethod; 3],
    #[schema(value_type = Vec<String>)]
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    #[schema(value_type = Vec<String>)]
    scopes_supported: [&'static str; 4],
    authorization_response_iss_parameter_supported: bool,
}

/// Server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "The metadata", body = ServerMetadata)))]
async fn server_metadata(State(state): State<AppState>) -> Json<ServerMetadata> {
    let issuer = &state.issuer;
    Json(ServerMetadata {
        issuer: issuer.clone(),
        authorization_endpoint: format!("{issuer}/oauth/authorize"),
        token_endpoint: format!("{issuer}/oauth/token"),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        registration_endpoint: format!("{issuer}/oauth/clients"),
        revocation_endpoint: format!("{issuer}/oauth/revoke"),
        introspection_endpoint: format!("{issuer}/oauth/introspect"),
        response_types_supported: ["code"],
        grant_types_supported: GrantType::ALL,
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: AuthMethod::ALL,
        revocation_endpoint_auth_methods_supported: AuthMethod::ALL,
        introspection_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
        ],
        scopes_supported: SUPPORTED_SCOPES,
        authorization_response_iss_parameter_supported: true,
    })
}

/// The signing keys (JWKS).
///
/// Every public key that may have signed a live token, as RFC 7517 EC keys with RFC 7638
/// thumbprints as `kid`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth",
    responses((status = 200, description = "A JWK set: `{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"kid\", \"x\", \"y\", \"use\": \"sig\", \"alg\": \"ES256\"}]}`", body = Object)))]
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
