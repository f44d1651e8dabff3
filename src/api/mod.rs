//! The HTTP layer: routers, thin handlers, extractors and the one place errors become
//! responses. Handlers extract, call one service method, and map the result.

mod accounts;
pub mod cookies;
pub mod error;
mod extract;
mod health;
mod login_page;
pub mod middleware;
mod oauth;
mod orgs;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use login_page::safe_next;

use crate::services::{
    AccessTokenService, AccountService, AdminService, AuthorizeService, ClientService,
    HealthService, Limiter, OrgService, SessionService, TokenService,
};
use cookies::CookiePolicy;
use error::ApiError;

/// Request bodies above this size are refused with 413 (the contract's limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a handler may use: services behind `Arc`, cheap to clone per request.
#[derive(Clone)]
pub struct AppState {
    /// Registration and sign-in.
    pub accounts: Arc<AccountService>,
    /// Browser sessions.
    pub sessions: Arc<SessionService>,
    /// The admin API.
    pub admin: Arc<AdminService>,
    /// Organizations.
    pub orgs: Arc<OrgService>,
    /// Backing-store probes.
    pub health: Arc<HealthService>,
    /// Cookie attributes for this environment.
    pub cookies: CookiePolicy,
    /// OAuth clients.
    pub clients: Arc<ClientService>,
    /// `/oauth/authorize`.
    pub authorize: Arc<AuthorizeService>,
    /// `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`.
    pub tokens: Arc<TokenService>,
    /// Access-token signing and the bearer verifier.
    pub access: Arc<AccessTokenService>,
    /// `ISSUER`: `iss` of tokens and the base of metadata URLs.
    pub issuer: String,
    /// In prod, `POST /oauth/clients` needs an admin bearer token.
    pub client_registration_requires_admin: bool,
    /// Brute-force limits.
    pub limits: Arc<Limiter>,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: Arc<[String]>,
    /// Security headers and request bounds.
    pub http_policy: middleware::HttpPolicy,
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// The whole application: every route, the fallbacks, and the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    // The 405 fallback is set before the CORS layer: set after it, it would replace the
    // layered fallback that answers preflight (OPTIONS) requests.
    let api = Router::new()
        .merge(health::router())
        .merge(accounts::router())
        .merge(login_page::router())
        .merge(oauth::router())
        .merge(users::router())
        .merge(orgs::router())
        .method_not_allowed_fallback(method_not_allowed);
    let api = match middleware::cors(&state.cors_allowed_origins) {
        Some(cors) => api.layer(cors),
        None => api,
    };
    api.merge(oauth::authorize_router().method_not_allowed_fallback(method_not_allowed))
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.http_policy,
            middleware::harden,
        ))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}
