//! Configuration from the environment (and a `.env` file), validated completely before any
//! connection is attempted. Every problem becomes one line naming the variable.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

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
    /// `REDIS_URL`; `Some` puts the access-token deny-list in Redis.
    pub redis_url: Option<SecretString>,
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database_max_connections: u32,
    /// `SESSION_TTL_SECS`.
    pub session_ttl: Duration,
    /// `ALLOW_REGISTRATION`.
    pub allow_registration: bool,
    /// `METRICS_ENABLED`: serve `GET /metrics`.
    pub metrics_enabled: bool,
    /// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM`.
    pub argon2: Argon2Settings,
    /// `PASSWORD_HASH_CONCURRENCY`: hashes computed at once (default: the number of cores).
    pub password_hash_concurrency: NonZeroUsize,
    /// OAuth and token settings.
    pub oauth: OAuthSettings,
    /// Abuse limits and request hardening.
    pub limits: LimitSettings,
}

/// Brute-force limits, proxies, CORS and request bounds.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// `RATE_LIMIT_ENABLED`.
    pub enabled: bool,
    /// `RATE_LIMIT_SIGNIN_PER_IP`: sign-in and sign-up attempts per client IP per minute.
    pub sign_ins_per_ip: u32,
    /// `RATE_LIMIT_FAILURES_PER_ACCOUNT`: failed sign-ins per account in the failure window
    /// before it is locked.
    pub failures_per_account: u32,
    /// `RATE_LIMIT_FAILURE_WINDOW_SECS`.
    pub failure_window: Duration,
    /// `LOCKOUT_BASE_SECS`: the first lock-out; each further one in the window doubles.
    pub lockout_base: Duration,
    /// `LOCKOUT_MAX_SECS`: no lock-out lasts longer.
    pub lockout_max: Duration,
    /// `RATE_LIMIT_TOKEN_PER_CLIENT`: token-endpoint requests per client (and per IP) per
    /// minute.
    pub token_requests_per_client: u32,
    /// `RATE_LIMIT_AUTHORIZE_PER_IP`: `/oauth/authorize` requests per IP per minute.
    pub authorize_requests_per_ip: u32,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `CORS_ALLOWED_ORIGINS`: exact origins allowed to call the API from a browser.
    pub cors_allowed_origins: Vec<String>,
    /// `REQUEST_TIMEOUT_SECS`: a request taking longer gets 503; a client that takes longer
    /// to send its headers, or leaves a connection idle longer, is disconnected.
    pub request_timeout: Duration,
    /// `MAX_CONNECTIONS`: client connections open at once.
    pub max_connections: u32,
}

/// Issuer, keys and lifetimes of what the authorization server hands out.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `ISSUER`: public base URL without a trailing slash; `iss` of every token.
    pub issuer: String,
    /// `ACCESS_TOKEN_AUDIENCE`: `aud` of access tokens (default: the issuer).
    pub audience: String,
    /// `JWT_SIGNING_KEY_FILE`: ES256 PKCS#8 PEM; `None` generates a key at start (dev/test).
    pub signing_key_file: Option<PathBuf>,
    /// `JWT_VERIFY_KEY_FILES`: older keys still accepted and published.
    pub verify_key_files: Vec<PathBuf>,
    /// `ACCESS_TOKEN_TTL_SECS`.
    pub access_token_ttl: Duration,
    /// `CLOCK_SKEW_SECS`: leeway on `exp` and `nbf`.
    pub clock_skew: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: absolute lifetime of a refresh-token family.
    pub refresh_token_ttl: Duration,
    /// `REFRESH_TOKEN_IDLE_SECS`: a refresh token unused this long expires.
    pub refresh_token_idle: Duration,
    /// `AUTH_CODE_TTL_SECS`.
    pub auth_code_ttl: Duration,
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
    redis_url: Option<String>,
    database_max_connections: Option<String>,
    session_ttl_secs: Option<String>,
    allow_registration: Option<String>,
    metrics_enabled: Option<String>,
    argon2_memory_kib: Option<String>,
    argon2_iterations: Option<String>,
    argon2_parallelism: Option<String>,
    password_hash_concurrency: Option<String>,
    issuer: Option<String>,
    access_token_audience: Option<String>,
    jwt_signing_key_file: Option<String>,
    jwt_verify_key_files: Option<String>,
    access_token_ttl_secs: Option<String>,
    clock_skew_secs: Option<String>,
    refresh_token_ttl_secs: Option<String>,
    refresh_token_idle_secs: Option<String>,
    auth_code_ttl_secs: Option<String>,
    rate_limit_enabled: Option<String>,
    rate_limit_signin_per_ip: Option<String>,
    rate_limit_failures_per_account: Option<String>,
    rate_limit_failure_window_secs: Option<String>,
    lockout_base_secs: Option<String>,
    lockout_max_secs: Option<String>,
    rate_limit_token_per_client: Option<String>,
    rate_limit_authorize_per_ip: Option<String>,
    trusted_proxies: Option<String>,
    cors_allowed_origins: Option<String>,
    request_timeout_secs: Option<String>,
    max_connections: Option<String>,
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
        let metrics_enabled = check(
            &mut errors,
            parse_enum(
                "METRICS_ENABLED",
                raw.metrics_enabled.as_deref(),
                &[("true", true), ("false", false)],
                false,
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
        let access_token_ttl = check(
            &mut errors,
            parse_range(
                "ACCESS_TOKEN_TTL_SECS",
                raw.access_token_ttl_secs.as_deref(),
                60..=86_400,
                900,
            ),
        );
        let clock_skew = check(
            &mut errors,
            parse_range(
                "CLOCK_SKEW_SECS",
                raw.clock_skew_secs.as_deref(),
                0..=300,
                15,
            ),
        );
        let refresh_token_ttl = check(
            &mut errors,
            parse_range(
                "REFRESH_TOKEN_TTL_SECS",
                raw.refresh_token_ttl_secs.as_deref(),
                300..=31_536_000,
                2_592_000,
            ),
        );
        let refresh_token_idle = check(
            &mut errors,
            parse_range(
                "REFRESH_TOKEN_IDLE_SECS",
                raw.refresh_token_idle_secs.as_deref(),
                300..=31_536_000,
                1_209_600,
            ),
        );
        let auth_code_ttl = check(
            &mut errors,
            parse_range(
                "AUTH_CODE_TTL_SECS",
                raw.auth_code_ttl_secs.as_deref(),
                10..=600,
                60,
            ),
        );
        let issuer = match (raw.issuer.as_deref(), env, port) {
            (Some(raw_issuer), _, _) => check(&mut errors, parse_issuer(raw_issuer, env)),
            (None, Some(AppEnv::Prod), _) => check(
                &mut errors,
                Err("ISSUER: required when APP_ENV=prod (the public https base URL)".to_owned()),
            ),
            (None, _, Some(port)) => Some(format!("http://localhost:{port}")),
            (None, _, None) => None,
        };
        let audience = match raw.access_token_audience.as_deref().map(str::trim) {
            Some(aud) if !aud.is_empty() => Some(aud.to_owned()),
            _ => issuer.clone(),
        };
        let signing_key_file = raw
            .jwt_signing_key_file
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        if env == Some(AppEnv::Prod) && signing_key_file.is_none() {
            errors.push(
                "JWT_SIGNING_KEY_FILE: required when APP_ENV=prod (a generated key would change \
                 at every restart and differ between instances)"
                    .to_owned(),
            );
        }
        let verify_key_files = raw
            .jwt_verify_key_files
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect();
        let oauth = match (
            issuer,
            audience,
            access_token_ttl,
            clock_skew,
            refresh_token_ttl,
            refresh_token_idle,
            auth_code_ttl,
        ) {
            (
                Some(issuer),
                Some(audience),
                Some(access),
                Some(skew),
                Some(refresh),
                Some(idle),
                Some(code),
            ) => Some(OAuthSettings {
                issuer,
                audience,
                signing_key_file,
                verify_key_files,
                access_token_ttl: Duration::seconds(access),
                clock_skew: Duration::seconds(skew),
                refresh_token_ttl: Duration::seconds(refresh),
                refresh_token_idle: Duration::seconds(idle),
                auth_code_ttl: Duration::seconds(code),
            }),
            _ => None,
        };
        let limits = parse_limits(&raw, &mut errors);
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
        let redis_url = match raw.redis_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("redis://") => Some(SecretString::from(url.to_owned())),
            Some(_) => check(
                &mut errors,
                Err("REDIS_URL: must start with redis:// (the value is not shown)".to_owned()),
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
            metrics_enabled,
            memory_kib,
            iterations,
            parallelism,
            password_hash_concurrency.and_then(NonZeroUsize::new),
            oauth,
            limits,
        ) {
            (
                Some(env),
                Some(log_level),
                Some(host),
                Some(port),
                Some(database_max_connections),
                Some(session_ttl_secs),
                Some(allow_registration),
                Some(metrics_enabled),
                Some(memory_kib),
                Some(iterations),
                Some(parallelism),
                Some(password_hash_concurrency),
                Some(oauth),
                Some(limits),
            ) if errors.is_empty() => Ok(Self {
                env,
                log_level,
                host,
                port,
                database_url,
                redis_url,
                database_max_connections,
                session_ttl: Duration::seconds(session_ttl_secs),
                allow_registration: allow_registration.unwrap_or(!env.is_prod()),
                metrics_enabled,
                argon2: Argon2Settings {
                    memory_kib,
                    iterations,
                    parallelism,
                },
                password_hash_concurrency,
                oauth,
                limits,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

fn parse_limits(raw: &RawConfig, errors: &mut Vec<String>) -> Option<LimitSettings> {
    let enabled = check(
        errors,
        parse_enum(
            "RATE_LIMIT_ENABLED",
            raw.rate_limit_enabled.as_deref(),
            &[("true", true), ("false", false)],
            true,
        ),
    );
    let mut count = |var: &str, value: &Option<String>, default: u32| {
        check(
            errors,
            parse_range(var, value.as_deref(), 1..=1_000_000, default),
        )
    };
    let sign_ins_per_ip = count(
        "RATE_LIMIT_SIGNIN_PER_IP",
        &raw.rate_limit_signin_per_ip,
        30,
    );
    let failures_per_account = count(
        "RATE_LIMIT_FAILURES_PER_ACCOUNT",
        &raw.rate_limit_failures_per_account,
        10,
    );
    let token_requests_per_client = count(
        "RATE_LIMIT_TOKEN_PER_CLIENT",
        &raw.rate_limit_token_per_client,
        600,
    );
    let authorize_requests_per_ip = count(
        "RATE_LIMIT_AUTHORIZE_PER_IP",
        &raw.rate_limit_authorize_per_ip,
        600,
    );
    let max_connections = count("MAX_CONNECTIONS", &raw.max_connections, 10_000);
    let mut seconds = |var: &str, value: &Option<String>, range, default| {
        check(errors, parse_range(var, value.as_deref(), range, default)).map(Duration::seconds)
    };
    let failure_window = seconds(
        "RATE_LIMIT_FAILURE_WINDOW_SECS",
        &raw.rate_limit_failure_window_secs,
        60..=86_400,
        900,
    );
    let lockout_base = seconds("LOCKOUT_BASE_SECS", &raw.lockout_base_secs, 1..=3600, 60);
    let lockout_max = seconds("LOCKOUT_MAX_SECS", &raw.lockout_max_secs, 1..=86_400, 900);
    let request_timeout = seconds(
        "REQUEST_TIMEOUT_SECS",
        &raw.request_timeout_secs,
        1..=300,
        10,
    );
    let trusted_proxies = list(raw.trusted_proxies.as_deref())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!(
                        "TRUSTED_PROXIES: {} is not an IP address or CIDR such as 10.0.0.0/8",
                        shown(entry)
                    )
                })
        })
        .collect::<Result<Vec<_>, String>>();
    let trusted_proxies = check(errors, trusted_proxies);
    let cors_allowed_origins = list(raw.cors_allowed_origins.as_deref())
        .map(|origin| {
            let url = url::Url::parse(origin).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && !origin.ends_with('/')
            });
            match url {
                Some(_) => Ok(origin.to_owned()),
                None => Err(format!(
                    "CORS_ALLOWED_ORIGINS: {} is not an origin such as https://app.example",
                    shown(origin)
                )),
            }
        })
        .collect::<Result<Vec<_>, String>>();
    let cors_allowed_origins = check(errors, cors_allowed_origins);
    if let (Some(base), Some(max)) = (lockout_base, lockout_max)
        && base > max
    {
        errors.push("LOCKOUT_BASE_SECS: must not exceed LOCKOUT_MAX_SECS".to_owned());
    }
    Some(LimitSettings {
        enabled: enabled?,
        sign_ins_per_ip: sign_ins_per_ip?,
        failures_per_account: failures_per_account?,
        failure_window: failure_window?,
        lockout_base: lockout_base?,
        lockout_max: lockout_max?,
        token_requests_per_client: token_requests_per_client?,
        authorize_requests_per_ip: authorize_requests_per_ip?,
        trusted_proxies: trusted_proxies?,
        cors_allowed_origins: cors_allowed_origins?,
        request_timeout: request_timeout?,
        max_connections: max_connections?,
    })
}

/// The non-empty entries of a comma-separated list.
fn list(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

/// An absolute http(s) URL without query or fragment; https in prod (RFC 8414 §2).
fn parse_issuer(raw: &str, env: Option<AppEnv>) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed)
        .map_err(|_| format!("ISSUER: {} is not an absolute URL", shown(raw)))?;
    let scheme_ok = match env {
        Some(AppEnv::Prod) => url.scheme() == "https",
        _ => matches!(url.scheme(), "http" | "https"),
    };
    if !scheme_ok || url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "ISSUER: {} must be an http(s) URL (https in prod) without query or fragment",
            shown(raw)
        ));
    }
    Ok(trimmed.to_owned())
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

    const PROD: [(&str, &str); 4] = [
        ("APP_ENV", "prod"),
        ("DATABASE_URL", "postgres://db/auth"),
        ("ISSUER", "https://auth.example/"),
        ("JWT_SIGNING_KEY_FILE", "/run/secrets/signing.pem"),
    ];

    #[test]
    fn prod_without_database_issuer_or_key_refuses_to_start() {
        let errors = errors_of(&[("APP_ENV", "prod")]);
        let vars: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            vars,
            ["ISSUER", "JWT_SIGNING_KEY_FILE", "DATABASE_URL"],
            "{errors:?}"
        );
    }

    #[test]
    fn prod_requires_an_https_issuer() {
        let mut pairs = PROD.to_vec();
        pairs[2] = ("ISSUER", "http://auth.example");
        let errors = errors_of(&pairs);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("ISSUER: "), "{}", errors[0]);
    }

    #[test]
    fn oauth_defaults_follow_the_contract() {
        let oauth = Config::from_pairs(&[("PORT", "9000")]).unwrap().oauth;
        assert_eq!(oauth.issuer, "http://localhost:9000");
        assert_eq!(oauth.audience, oauth.issuer);
        assert_eq!(oauth.access_token_ttl, Duration::seconds(900));
        assert_eq!(oauth.clock_skew, Duration::seconds(15));
        assert_eq!(oauth.refresh_token_ttl, Duration::seconds(2_592_000));
        assert_eq!(oauth.refresh_token_idle, Duration::seconds(1_209_600));
        assert_eq!(oauth.auth_code_ttl, Duration::seconds(60));
        assert!(oauth.signing_key_file.is_none());
        assert!(oauth.verify_key_files.is_empty());
    }

    #[test]
    fn prod_defaults_to_closed_registration() {
        let config = Config::from_pairs(&PROD).unwrap();
        assert_eq!(config.oauth.issuer, "https://auth.example");
        assert!(!config.allow_registration);
        assert_eq!(
            config.database_url.unwrap().expose_secret(),
            "postgres://db/auth"
        );
    }

    #[test]
    fn verify_key_files_are_a_comma_separated_list() {
        let config = Config::from_pairs(&[("JWT_VERIFY_KEY_FILES", " a.pem, ,b.pem ")]).unwrap();
        assert_eq!(
            config.oauth.verify_key_files,
            [PathBuf::from("a.pem"), PathBuf::from("b.pem")]
        );
    }

    #[test]
    fn limits_default_to_the_contract() {
        let limits = Config::from_pairs(&[]).unwrap().limits;
        assert!(limits.enabled);
        assert_eq!(limits.sign_ins_per_ip, 30);
        assert_eq!(limits.failures_per_account, 10);
        assert_eq!(limits.failure_window, Duration::minutes(15));
        assert_eq!(limits.token_requests_per_client, 600);
        assert_eq!(limits.authorize_requests_per_ip, 600);
        assert_eq!(limits.request_timeout, Duration::seconds(10));
        assert_eq!(limits.max_connections, 10_000);
        assert!(
            errors_of(&[("MAX_CONNECTIONS", "0")])[0].starts_with("MAX_CONNECTIONS:"),
            "no connection at all would be accepted"
        );
        assert!(limits.trusted_proxies.is_empty());
        assert!(limits.cors_allowed_origins.is_empty());
    }

    #[test]
    fn proxies_and_origins_are_validated() {
        let config = Config::from_pairs(&[
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,::1"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example,http://localhost:5173",
            ),
        ])
        .unwrap();
        assert_eq!(config.limits.trusted_proxies.len(), 3);
        assert_eq!(config.limits.cors_allowed_origins.len(), 2);
        let errors = errors_of(&[
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example/"),
        ]);
        let vars: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(vars, ["TRUSTED_PROXIES", "CORS_ALLOWED_ORIGINS"]);
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
