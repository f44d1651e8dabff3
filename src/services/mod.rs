//! Services: the application's rules, independent of HTTP and of the storage backend.

mod access_tokens;
mod accounts;
mod admin;
mod authorize;
mod authz;
pub mod cleanup;
mod clients;
mod error;
mod health;
pub mod keys;
mod limits;
mod oauth_error;
mod orgs;
mod passwords;
mod sessions;
mod tokens;

pub use access_tokens::{
    AccessClaims, AccessTokenService, AccessTokenSettings, Subject, TokenRejection,
};
pub use accounts::AccountService;
pub use admin::{AdminService, UserPage};
pub use authorize::{AuthorizeRejection, AuthorizeRequest, AuthorizeService, ValidAuthorization};
pub use authz::{AdminGrant, Forbidden, Principal};
pub use clients::{
    ClientRegistration, ClientService, DEV_CLIENT_ID, DEV_CLIENT_REDIRECT_URI, PresentedCredentials,
};
pub use error::{Error, Result};
pub use health::{ComponentStatus, HealthReport, HealthService};
pub use limits::{Limiter, Throttled};
pub use oauth_error::{OAuthError, OAuthErrorCode};
pub use orgs::{OrgAccess, OrgService};
pub use passwords::{Calibration, OVERLOADED_RETRY_AFTER_SECS, PasswordHasher, Verdict, calibrate};
pub use sessions::SessionService;
pub use tokens::{Introspection, IntrospectionDetails, RefreshPolicy, TokenResponse, TokenService};
