//! The HTTP layer: routers, thin handlers, extractors and the one place errors become
//! responses. Handlers extract, call one service method, and map the result.

mod accounts;
pub mod cookies;
pub mod docs;
pub mod error;
mod extract;
mod health;
mod login_page;
pub mod middleware;
mod oauth;
mod orgs;
mod users;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;

pub use login_page::safe_next;
pub use oauth::registration_response;

use crate::metrics::Metrics;
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
    /// Counters and histograms, served at `/metrics` when exposed.
    pub metrics: Arc<Metrics>,
    /// Whether `/openapi.json`, `/docs` and `/metrics` exist.
    pub exposure: docs::Exposure,
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Every route but `/oauth/authorize`, and the OpenAPI document they make up. Routes are
/// only ever registered through `routes!` and their `#[utoipa::path]` annotations: a route
/// cannot exist without being documented.
fn api_routes(exposure: docs::Exposure) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::base_document())
        .merge(health::router())
        .merge(accounts::router())
        .merge(login_page::router())
        .merge(oauth::router())
        .merge(users::router())
        .merge(orgs::router())
        .merge(docs::router(exposure))
}

/// The whole application: every route, the fallbacks, and the cross-cutting layers.
pub fn router(state: AppState) -> Router {
    let (api, mut document) = api_routes(state.exposure).split_for_parts();
    let (authorize, authorize_document) = oauth::authorize_router().split_for_parts();
    // The 405 fallback is set before the CORS layer: set after it, it would replace the
    // layered fallback that answers preflight (OPTIONS) requests.
    let api = api.method_not_allowed_fallback(method_not_allowed);
    let api = match middleware::cors(&state.cors_allowed_origins) {
        Some(cors) => api.layer(cors),
        None => api,
    };
    let app = api
        .merge(authorize.method_not_allowed_fallback(method_not_allowed))
        .fallback(|| async { ApiError::not_found() });
    // Rendered only where a route serves it (not in prod).
    let app = if state.exposure.openapi || state.exposure.docs {
        document.merge(authorize_document);
        docs::finish(&mut document);
        app.layer(Extension(docs::Published::new(&document)))
    } else {
        app
    };
    app.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.http_policy,
            middleware::harden,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            middleware::observe,
        ))
        .with_state(state)
}
