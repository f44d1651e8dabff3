//! Why the process could not start or finish a command. Request-time errors live in
//! `services::Error` and `api::error::ApiError`.

use crate::config::ConfigErrors;
use crate::repos::RepoError;
use crate::services;

/// A failure outside request handling; `main` prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// One line per invalid variable.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] RepoError),
    /// A service could not be built (for example the seed data).
    #[error("startup: {0}")]
    Service(#[from] services::Error),
    /// A signing or verification key cannot be used.
    #[error("keys: {0}")]
    Keys(#[from] services::keys::KeyError),
    /// The dev seed client could not be created.
    #[error("startup: {}", .0.description)]
    OAuth(services::OAuthError),
    /// The listening socket could not be opened or served.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl From<services::OAuthError> for StartupError {
    fn from(err: services::OAuthError) -> Self {
        Self::OAuth(err)
    }
}
