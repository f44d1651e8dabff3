//! Logging: human-readable lines in dev, one JSON object per line in test and prod.
//!
//! Noisy dependencies are capped at `warn` whatever `LOG_LEVEL` says: at debug level they log
//! SQL and connection details that are of no use to an operator.

use tracing_subscriber::EnvFilter;

use crate::config::{AppEnv, LogLevel};

/// Installs the global subscriber; a second call is a no-op.
pub fn init(env: AppEnv, level: LogLevel) {
    let level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error => "error",
    };
    let filter = EnvFilter::new(format!("{level},sqlx=warn,hyper=warn,h2=warn,rustls=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // Ignoring the error is right: it only says a subscriber is already installed.
    let _ = match env {
        AppEnv::Dev => builder.compact().try_init(),
        AppEnv::Test | AppEnv::Prod => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
