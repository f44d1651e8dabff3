//! Logging: human-readable lines in dev, one JSON object per line in test and prod.
//!
//! Noisy dependencies are capped at `warn` whatever `LOG_LEVEL` says: at debug level they log
//! SQL and connection details that are of no use to an operator.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{AppEnv, LogLevel};

/// Installs the global subscriber, writing to `output`; a second call is a no-op.
pub fn init(env: AppEnv, level: LogLevel, output: LogOutput) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Ignoring the error is right: it only says a subscriber is already installed.
    let _ = match output {
        LogOutput::Stdout => subscriber(env, level, std::io::stdout).try_init(),
        LogOutput::Stderr => subscriber(env, level, std::io::stderr).try_init(),
    };
}

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// The server's logs.
    Stdout,
    /// One-shot commands whose stdout is their result (the JSON of `create-client`, say), so
    /// that scripts can read it.
    Stderr,
}

/// The subscriber the service logs through, writing to `writer` (tests capture it).
pub fn subscriber<W>(env: AppEnv, level: LogLevel, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error => "error",
    };
    let filter = EnvFilter::new(format!("{level},sqlx=warn,hyper=warn,h2=warn,rustls=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match env {
        AppEnv::Dev => Box::new(builder.compact().finish()),
        AppEnv::Test | AppEnv::Prod => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}
