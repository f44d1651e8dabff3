//! Wiring: configuration in, a running server (or a finished command) out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::api::cookies::CookiePolicy;
use crate::api::docs::Exposure;
use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::{AppEnv, Config};
use crate::domain::StoredPasswordHash;
use crate::error::StartupError;
use crate::http_server::{self, ConnectionLimits};
use crate::metrics::Metrics;
use crate::repos::postgres::{self, PgSettings};
use crate::repos::{Repos, memory};
use crate::services::keys::KeySet;
use crate::services::{
    self, AccessTokenService, AccessTokenSettings, AccountService, AdminService, AuthorizeService,
    ClientService, HealthService, Limiter, OAuthErrorCode, PasswordHasher, RefreshPolicy,
    SessionService, TokenService,
};

/// The development seed account (dev only).
pub const SEED_EMAIL: &str = "test@example.com";
/// Its password.
pub const SEED_PASSWORD: &str = "test-password";

/// Argon2id (m=19456, t=2, p=1) of [`SEED_PASSWORD`]: the seed account is created without
/// spending a hash at start-up (a test checks the two agree).
const SEED_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$tOEYgzDAEfjJyM4PDCdoqg$FzwOpY54KynQaHlFtoSJfmsMoNDTiEWVyp15923qSBk";

/// How long in-flight requests may run after SIGTERM/SIGINT.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How often expired rows are swept.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// Opens the configured stores: Postgres (migrated) when `DATABASE_URL` is set, else memory;
/// and Redis for the access-token deny-list when `REDIS_URL` is set.
///
/// # Errors
/// When Postgres or Redis cannot be reached, or Postgres cannot be migrated.
pub async fn open_repos(config: &Config) -> Result<Repos, StartupError> {
    let mut repos = open_database(config).await?;
    if let Some(url) = &config.redis_url {
        let conn = crate::repos::redis::connect(url).await?;
        tracing::info!(
            "REDIS_URL set: the access-token deny-list and rate-limit counters are in Redis"
        );
        repos.denylist = Arc::new(crate::repos::redis::RedisDenylistRepo::new(conn.clone()));
        repos.counters = Arc::new(crate::repos::redis::RedisCounterRepo::new(conn.clone()));
        repos.redis = Some(Arc::new(crate::repos::redis::RedisProbe::new(conn)));
    }
    Ok(repos)
}

async fn open_database(config: &Config) -> Result<Repos, StartupError> {
    let Some(url) = &config.database_url else {
        tracing::info!("DATABASE_URL not set: using in-memory storage (lost on restart)");
        return Ok(memory::repos());
    };
    let pool = postgres::connect(&PgSettings {
        url: url.clone(),
        max_connections: config.database_max_connections,
    })
    .await?;
    tracing::info!("applying pending database migrations");
    let version = postgres::migrate(&pool).await?;
    tracing::info!(version, "database schema is up to date");
    Ok(postgres::repos(pool))
}

/// Builds the services over `repos`, and seeds the dev account in dev.
///
/// # Errors
/// When the password hasher cannot be built or seeding fails.
pub async fn build_state(
    config: &Config,
    repos: Repos,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StartupError> {
    let hasher = Arc::new(PasswordHasher::new(
        config.argon2,
        config.password_hash_concurrency.get(),
    )?);
    let metrics = Arc::new(Metrics::new());
    let limits = Arc::new(
        Limiter::new(repos.counters.clone(), clock.clone(), config.limits.clone())
            .with_metrics(metrics.clone()),
    );
    let accounts = Arc::new(
        AccountService::new(
            repos.users.clone(),
            hasher,
            clock.clone(),
            config.allow_registration,
        )
        .with_limits(limits.clone())
        .with_metrics(metrics.clone()),
    );
    let sessions = Arc::new(SessionService::new(
        repos.sessions.clone(),
        clock.clone(),
        config.session_ttl,
    ));
    let oauth = &config.oauth;
    let keys = match &oauth.signing_key_file {
        Some(file) => KeySet::from_files(file, &oauth.verify_key_files)?,
        None => {
            tracing::info!("JWT_SIGNING_KEY_FILE not set: signing with a key generated at start");
            KeySet::generate()?
        }
    };
    tracing::info!(
        kid = keys.signing_kid(),
        "access tokens are signed with this key"
    );
    let access = Arc::new(AccessTokenService::new(
        keys,
        AccessTokenSettings {
            issuer: oauth.issuer.clone(),
            audience: oauth.audience.clone(),
            ttl: oauth.access_token_ttl,
            skew: oauth.clock_skew,
        },
        clock.clone(),
        repos.denylist.clone(),
    ));
    let clients = Arc::new(ClientService::new(repos.clients.clone(), clock.clone()));
    let authorize = Arc::new(AuthorizeService::new(
        clients.clone(),
        repos.codes.clone(),
        clock.clone(),
        oauth.auth_code_ttl,
    ));
    let tokens = Arc::new(
        TokenService::new(
            access.clone(),
            repos.users.clone(),
            repos.codes.clone(),
            repos.refresh_tokens.clone(),
            clock.clone(),
            RefreshPolicy {
                ttl: oauth.refresh_token_ttl,
                idle: oauth.refresh_token_idle,
            },
            oauth.issuer.clone(),
        )
        .with_metrics(metrics.clone()),
    );
    let admin = Arc::new(AdminService::new(
        repos.users.clone(),
        repos.sessions.clone(),
        repos.refresh_tokens.clone(),
        repos.codes.clone(),
        access.clone(),
        clock.clone(),
    ));
    if config.env == AppEnv::Dev {
        seed_dev_account(&accounts).await?;
        clients.seed_dev_client().await?;
    }
    Ok(AppState {
        accounts,
        sessions,
        admin,
        orgs: Arc::new(crate::services::OrgService::new(
            repos.orgs.clone(),
            repos.users.clone(),
            clock.clone(),
        )),
        health: Arc::new(HealthService::new(
            repos.database.clone(),
            repos.redis.clone(),
        )),
        cookies: CookiePolicy::new(config.env.is_prod()),
        clients,
        authorize,
        tokens,
        access,
        issuer: oauth.issuer.clone(),
        client_registration_requires_admin: config.env.is_prod(),
        limits,
        trusted_proxies: config.limits.trusted_proxies.clone().into(),
        cors_allowed_origins: config.limits.cors_allowed_origins.clone().into(),
        http_policy: crate::api::middleware::HttpPolicy {
            hsts: config.env.is_prod(),
            request_timeout: config
                .limits
                .request_timeout
                .try_into()
                .unwrap_or(std::time::Duration::from_secs(10)),
        },
        metrics,
        exposure: Exposure::for_env(config.env, config.metrics_enabled),
    })
}

/// Runs the HTTP server until SIGTERM or Ctrl-C, then drains in-flight requests.
///
/// # Errors
/// When the store cannot be opened or the address cannot be bound.
pub async fn serve(config: Config, clock: Arc<dyn Clock>) -> Result<(), StartupError> {
    let repos = open_repos(&config).await?;
    spawn_cleanup(repos.clone(), clock.clone(), config.oauth.refresh_token_ttl);
    let state = build_state(&config, repos, clock).await?;
    let addr = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Io {
            context: format!("cannot listen on {addr}"),
            source,
        })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(address = %local, env = ?config.env, "auth-service listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which only happens after it sent.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let request_timeout = state.http_policy.request_timeout;
    let server = http_server::serve(
        listener,
        api::router(state),
        ConnectionLimits {
            header_read_timeout: request_timeout,
            max_connections: usize::try_from(config.limits.max_connections).unwrap_or(usize::MAX),
        },
        stopped(stop_rx.clone()),
    );
    // Draining is bounded: a request still running this long after the signal is cut off.
    let drain_limit = async {
        stopped(stop_rx).await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    tokio::select! {
        () = server => {}
        () = drain_limit => tracing::warn!("in-flight requests still running at the drain limit; stopping anyway"),
    }
    tracing::info!("auth-service stopped");
    Ok(())
}

/// `auth-service migrate`: applies pending migrations and exits.
///
/// # Errors
/// When `DATABASE_URL` is unset, or the database cannot be reached or migrated.
pub async fn migrate(config: &Config) -> Result<(), StartupError> {
    require_database(config, "migrate")?;
    open_repos(config).await.map(drop)
}

/// `auth-service keys generate`: a new PKCS#8 PEM on stdout, or in a new file with mode 0600.
///
/// # Errors
/// When the key cannot be generated or the file cannot be created (it may not exist yet).
pub fn generate_key(out: Option<&std::path::Path>) -> Result<(), StartupError> {
    use std::io::Write as _;
    let pem = services::keys::generate_private_key_pem()?;
    let io_error = |context: String| move |source| StartupError::Io { context, source };
    match out {
        None => std::io::stdout()
            .write_all(pem.as_bytes())
            .map_err(io_error("cannot write to stdout".into())),
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(io_error(format!("cannot create {}", path.display())))?;
            file.write_all(pem.as_bytes())
                .map_err(io_error(format!("cannot write {}", path.display())))
        }
    }
}

/// `auth-service create-admin`: see [`AccountService::ensure_admin`]. Needs `DATABASE_URL`:
/// an admin in in-memory storage would vanish with the process.
///
/// # Errors
/// When `DATABASE_URL` is unset, the input is invalid, or the store fails.
pub async fn create_admin(
    config: &Config,
    email: &str,
    password: SecretString,
) -> Result<(), StartupError> {
    require_database(config, "create-admin")?;
    let repos = open_repos(config).await?;
    let hasher = Arc::new(PasswordHasher::new(
        config.argon2,
        config.password_hash_concurrency.get(),
    )?);
    let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
    let accounts = AccountService::new(repos.users, hasher, clock, false);
    let (user, created) = accounts.ensure_admin(email, password).await?;
    let verb = if created { "created" } else { "updated" };
    println!("{verb} admin {} ({})", user.email.as_str(), user.id);
    Ok(())
}

/// `auth-service create-client`: registers a client from RFC 7591 metadata (JSON) and prints
/// the registration response, secret included. Needs `DATABASE_URL` like `create-admin`.
///
/// # Errors
/// When `DATABASE_URL` is unset, the metadata is not JSON or not acceptable, or the store
/// fails.
pub async fn create_client(config: &Config, metadata: &str) -> Result<(), StartupError> {
    require_database(config, "create-client")?;
    let registration = serde_json::from_str(metadata).map_err(|err| {
        crate::config::ConfigErrors(vec![format!(
            "stdin: not RFC 7591 client metadata as JSON: {err}"
        )])
    })?;
    let repos = open_repos(config).await?;
    let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
    let clients = ClientService::new(repos.clients, clock);
    let (client, secret) = clients
        .register(registration)
        .await
        .map_err(|err| match err.code {
            // The metadata's fault: say which part, as for a bad variable.
            OAuthErrorCode::InvalidClientMetadata | OAuthErrorCode::InvalidRedirectUri => {
                StartupError::from(crate::config::ConfigErrors(vec![format!(
                    "stdin: {}: {}",
                    err.code.as_str(),
                    err.description
                )]))
            }
            _ => StartupError::from(err),
        })?;
    let response = api::registration_response(&client, secret.as_ref().map(|s| s.expose()))
        .map_err(|err| services::Error::Internal(format!("encoding the registration: {err}")))?;
    println!("{response}");
    Ok(())
}

/// One-shot commands that change stored data need the database: in-memory storage would
/// vanish with the process.
fn require_database(config: &Config, command: &str) -> Result<(), StartupError> {
    if config.database_url.is_none() {
        return Err(crate::config::ConfigErrors(vec![format!(
            "DATABASE_URL: required by `auth-service {command}`"
        )])
        .into());
    }
    Ok(())
}

/// `auth-service healthcheck`: one `GET /health` to the server on this machine, over plain
/// HTTP/1.1 with a timeout. Hand-written so that the runtime image needs no HTTP client.
/// `host` is where the server listens; a wildcard address is reached on loopback.
///
/// # Errors
/// A description of what failed: the connection, the timeout, or a status other than 200.
pub fn healthcheck(host: IpAddr, port: u16, timeout: Duration) -> Result<(), String> {
    use std::io::{BufRead as _, Write as _};
    let host = match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        specified => specified,
    };
    let addr = SocketAddr::new(host, port);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|err| format!("cannot connect to {addr}: {err}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|err| err.to_string())?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|err| format!("cannot send the request: {err}"))?;
    let mut status_line = String::new();
    std::io::Read::take(std::io::BufReader::new(stream), 256)
        .read_line(&mut status_line)
        .map_err(|err| format!("no answer: {err}"))?;
    if status_line.starts_with("HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(format!("GET /health answered {:?}", status_line.trim_end()))
    }
}

async fn seed_dev_account(accounts: &AccountService) -> Result<(), StartupError> {
    let seeded = accounts
        .create_user_with_hash(
            SEED_EMAIL,
            StoredPasswordHash::new(SEED_PASSWORD_HASH.to_owned()),
            "Test User",
        )
        .await;
    match seeded {
        Ok(_) => tracing::info!(email = SEED_EMAIL, "dev seed account created"),
        Err(services::Error::EmailTaken) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

/// Sweeps expired rows every few minutes. Every instance may run it: the deletes are
/// idempotent and bounded.
fn spawn_cleanup(repos: Repos, clock: Arc<dyn Clock>, code_retention: time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CLEANUP_EVERY);
        loop {
            ticks.tick().await;
            match services::cleanup::sweep_expired(&repos, clock.now(), code_retention).await {
                Ok(deleted) => tracing::debug!(deleted, "expired rows swept"),
                Err(err) => tracing::warn!(error = %err, "sweeping expired rows failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}
