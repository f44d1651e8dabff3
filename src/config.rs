//! Configuration from the environment (and a `.env` file), validated completely before any
//! connection is attempted. Every problem becomes one line naming the variable.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroUsize;

use secrecy::SecretString;
use time::Duration;

/// The deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// A developer's machine: human logs, seed data.
    Dev,
    /// Automated tests: JSON logs, no seed data.
    Test,
    /// Production: JSON logs, `Secure` cookies, Postgres required.
    Prod,
}

impl AppEnv {
    /// Whether this is production.
    #[must_use]
    pub fn is_prod(self) -> bool {
        self == Self::Prod
    }
}

/// How much the service logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything useful for debugging (never secrets).
    Debug,
    /// Requests and lifecycle events.
    Info,
    /// Only what needs attention.
    Warning,
    /// Only failures.
    Error,
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl Argon2Settings {
    /// OWASP's first recommended Argon2id configuration (m=19456 KiB, t=2, p=1).
    pub const PRODUCTION: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`.
    pub env: AppEnv,
    /// `LOG_LEVEL`.
    pub log_level: LogLevel,
    /// `HOST`.
    pub host: IpAddr,
    /// `PORT` (0 picks a free port).
    pub port: u16,
    /// `DATABASE_URL`; `None` selects the in-memory repositories.
    pub database_url: Option<SecretString>,
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database_max_connections: u32,
    /// `SESSION_TTL_SECS`.
    pub session_ttl: Duration,
    /// `ALLOW_REGISTRATION`.
    pub allow_registration: bool,
    /// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM`.
    pub argon2: Argon2Settings,
    /// `PASSWORD_HASH_CONCURRENCY`: hashes computed at once (default: the number of cores).
    pub password_hash_concurrency: NonZeroUsize,
}

/// Everything wrong with the environment, one line per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// The variables as read, before validation. Unknown variables are ignored: the process
/// environment holds many that are not ours.
#[derive(Debug, Default, serde::Deserialize)]
struct RawConfig {
    app_env: Option<String>,
    log_level: Option<String>,
    host: Option<String>,
    port: Option<String>,
    database_url: Option<String>,
    database_max_connections: Option<String>,
    session_ttl_secs: Option<String>,
    allow_registration: Option<String>,
    argon2_memory_kib: Option<String>,
    argon2_iterations: Option<String>,
    argon2_parallelism: Option<String>,
    password_hash_concurrency: Option<String>,
}

impl Config {
    /// Reads `.env` (real environment variables win), then the environment.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every invalid or missing variable.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        // A missing .env is normal; a malformed one is reported by the values it fails to set.
        let _ = dotenvy::dotenv();
        Self::from_source(config::Environment::default())
    }

    /// Validates the given variables as if they were the whole environment (for tests).
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every invalid or missing variable.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, ConfigErrors> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::from_source(config::Environment::default().source(Some(map)))
    }

    fn from_source(source: config::Environment) -> Result<Self, ConfigErrors> {
        let raw: RawConfig = config::Config::builder()
            .add_source(source)
            .build()
            .and_then(config::Config::try_deserialize)
            // The crate's message may quote a value; name the problem only.
            .map_err(|_| {
                ConfigErrors(vec![
                    "environment: a variable holds data that is not valid UTF-8".into(),
                ])
            })?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();

        let env = check(
            &mut errors,
            parse_enum(
                "APP_ENV",
                raw.app_env.as_deref(),
                &[
                    ("dev", AppEnv::Dev),
                    ("test", AppEnv::Test),
                    ("prod", AppEnv::Prod),
                ],
                AppEnv::Dev,
            ),
        );
        let log_level = check(
            &mut errors,
            parse_enum(
                "LOG_LEVEL",
                raw.log_level.as_deref(),
                &[
                    ("debug", LogLevel::Debug),
                    ("info", LogLevel::Info),
                    ("warning", LogLevel::Warning),
                    ("error", LogLevel::Error),
                ],
                LogLevel::Info,
            ),
        );
        let host = check(
            &mut errors,
            parse_with(
                "HOST",
                raw.host.as_deref(),
                "an IP address such as 127.0.0.1 or 0.0.0.0",
                IpAddr::from([127, 0, 0, 1]),
            ),
        );
        let port = check(
            &mut errors,
            parse_with("PORT", raw.port.as_deref(), "0..=65535", 8000_u16),
        );
        let database_max_connections = check(
            &mut errors,
            parse_range(
                "DATABASE_MAX_CONNECTIONS",
                raw.database_max_connections.as_deref(),
                1..=1000,
                10,
            ),
        );
        let session_ttl_secs = check(
            &mut errors,
            parse_range(
                "SESSION_TTL_SECS",
                raw.session_ttl_secs.as_deref(),
                60..=31_536_000,
                1800,
            ),
        );
        let allow_registration = check(
            &mut errors,
            parse_enum(
                "ALLOW_REGISTRATION",
                raw.allow_registration.as_deref(),
                &[("true", Some(true)), ("false", Some(false))],
                None,
            ),
        );
        let memory_kib = check(
            &mut errors,
            parse_range(
                "ARGON2_MEMORY_KIB",
                raw.argon2_memory_kib.as_deref(),
                8..=4_194_304,
                Argon2Settings::PRODUCTION.memory_kib,
            ),
        );
        let iterations = check(
            &mut errors,
            parse_range(
                "ARGON2_ITERATIONS",
                raw.argon2_iterations.as_deref(),
                1..=100,
                Argon2Settings::PRODUCTION.iterations,
            ),
        );
        let parallelism = check(
            &mut errors,
            parse_range(
                "ARGON2_PARALLELISM",
                raw.argon2_parallelism.as_deref(),
                1..=64,
                Argon2Settings::PRODUCTION.parallelism,
            ),
        );
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let password_hash_concurrency = check(
            &mut errors,
            parse_range(
                "PASSWORD_HASH_CONCURRENCY",
                raw.password_hash_concurrency.as_deref(),
                1..=1024,
                cores,
            ),
        );
        let database_url = match raw.database_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(SecretString::from(url.to_owned()))
            }
            // The value is not echoed: it may carry a password.
            Some(_) => check(
                &mut errors,
                Err("DATABASE_URL: must start with postgres:// or postgresql://".to_owned()),
            ),
        };
        let database_url_reported = errors.iter().any(|e| e.starts_with("DATABASE_URL"));
        if env == Some(AppEnv::Prod) && database_url.is_none() && !database_url_reported {
            errors.push(
                "DATABASE_URL: required when APP_ENV=prod (in-memory storage loses every account on restart)"
                    .to_owned(),
            );
        }
        if let (Some(memory_kib), Some(parallelism)) = (memory_kib, parallelism)
            && memory_kib < 8 * parallelism
        {
            errors.push("ARGON2_MEMORY_KIB: must be at least 8 × ARGON2_PARALLELISM".to_owned());
        }

        match (
            env,
            log_level,
            host,
            port,
            database_max_connections,
            session_ttl_secs,
            allow_registration,
            memory_kib,
            iterations,
            parallelism,
            password_hash_concurrency.and_then(NonZeroUsize::new),
        ) {
            (
                Some(env),
                Some(log_level),
                Some(host),
                Some(port),
                Some(database_max_connections),
                Some(session_ttl_secs),
                Some(allow_registration),
                Some(memory_kib),
                Some(iterations),
                Some(parallelism),
                Some(password_hash_concurrency),
            ) if errors.is_empty() => Ok(Self {
                env,
                log_level,
                host,
                port,
                database_url,
                database_max_connections,
                session_ttl: Duration::seconds(session_ttl_secs),
                allow_registration: allow_registration.unwrap_or(!env.is_prod()),
                argon2: Argon2Settings {
                    memory_kib,
                    iterations,
                    parallelism,
                },
                password_hash_concurrency,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// Keeps the value, or records the problem.
fn check<T>(errors: &mut Vec<String>, result: Result<T, String>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Shows a rejected value safely: quoted, escaped, and cut short.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    format!("{cut:?}")
}

fn parse_enum<T: Copy>(
    var: &str,
    value: Option<&str>,
    allowed: &[(&str, T)],
    default: T,
) -> Result<T, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    let wanted = value.trim().to_ascii_lowercase();
    allowed
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
            format!(
                "{var}: {} is not allowed; use one of {}",
                shown(value),
                names.join("|")
            )
        })
}

fn parse_with<T: std::str::FromStr>(
    var: &str,
    value: Option<&str>,
    expected: &str,
    default: T,
) -> Result<T, String> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{var}: {} is not valid; expected {expected}", shown(v))),
    }
}

fn parse_range<T>(
    var: &str,
    value: Option<&str>,
    range: std::ops::RangeInclusive<T>,
    default: T,
) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    let expected = format!("an integer in {}..={}", range.start(), range.end());
    let parsed = parse_with(var, value, &expected, default)?;
    if range.contains(&parsed) {
        Ok(parsed)
    } else {
        Err(format!(
            "{var}: {parsed} is out of range; expected {expected}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn errors_of(pairs: &[(&str, &str)]) -> Vec<String> {
        Config::from_pairs(pairs).unwrap_err().0
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_pairs(&[]).unwrap();
        assert_eq!(config.env, AppEnv::Dev);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(config.port, 8000);
        assert!(config.database_url.is_none());
        assert_eq!(config.session_ttl, Duration::seconds(1800));
        assert!(config.allow_registration);
    }

    #[test]
    fn argon2_defaults_are_the_production_parameters() {
        let config = Config::from_pairs(&[]).unwrap();
        assert_eq!(
            config.argon2,
            Argon2Settings {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }

    #[test]
    fn a_bad_app_env_names_the_variable_and_the_allowed_values() {
        let errors = errors_of(&[("APP_ENV", "bogus")]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("APP_ENV: "), "{}", errors[0]);
        assert!(errors[0].contains("dev|test|prod"), "{}", errors[0]);
    }

    #[test]
    fn every_bad_variable_is_reported_on_its_own_line() {
        let errors = errors_of(&[
            ("LOG_LEVEL", "loud"),
            ("PORT", "99999"),
            ("HOST", "example.com"),
            ("SESSION_TTL_SECS", "5"),
            ("ALLOW_REGISTRATION", "maybe"),
        ]);
        let vars: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            vars,
            [
                "LOG_LEVEL",
                "HOST",
                "PORT",
                "SESSION_TTL_SECS",
                "ALLOW_REGISTRATION"
            ]
        );
        assert!(errors[0].contains("debug|info|warning|error"));
    }

    #[test]
    fn prod_without_a_database_refuses_to_start() {
        let errors = errors_of(&[("APP_ENV", "prod")]);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("DATABASE_URL: required"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn prod_defaults_to_closed_registration() {
        let config =
            Config::from_pairs(&[("APP_ENV", "prod"), ("DATABASE_URL", "postgres://db/auth")])
                .unwrap();
        assert!(!config.allow_registration);
        assert_eq!(
            config.database_url.unwrap().expose_secret(),
            "postgres://db/auth"
        );
    }

    #[test]
    fn a_bad_database_url_is_reported_without_its_value() {
        let errors = errors_of(&[("DATABASE_URL", "mysql://root:hunter2@db/auth")]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("DATABASE_URL: "));
        assert!(!errors[0].contains("hunter2"));
    }

    #[test]
    fn values_are_case_and_space_tolerant() {
        let config =
            Config::from_pairs(&[("APP_ENV", " Test "), ("LOG_LEVEL", "WARNING")]).unwrap();
        assert_eq!(config.env, AppEnv::Test);
        assert_eq!(config.log_level, LogLevel::Warning);
    }
}
