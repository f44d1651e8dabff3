//! The `auth-service` binary: parses the command line and hands over to the library.

use std::process::ExitCode;
use std::sync::Arc;

use auth_service::clock::SystemClock;
use auth_service::config::Config;
use auth_service::error::StartupError;
use auth_service::{app, telemetry};
use clap::{Parser, Subcommand};

/// OAuth 2.1 authorization server and identity service.
#[derive(Parser)]
#[command(name = "auth-service", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit.
    Migrate,
    /// Grant `admin` to the account with this email, creating it if needed; the password of a
    /// new account is read from the first line of stdin (an existing account keeps its own).
    CreateAdmin {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
    /// Register an OAuth client straight in DATABASE_URL's store (how the first client of a
    /// prod deployment is made). Reads RFC 7591 metadata as JSON from stdin, as
    /// `POST /oauth/clients` takes it, and prints the registration with the secret, once.
    CreateClient,
    /// Exit 0 if the server on this machine answers `GET /health` with 200, else 1. For
    /// container health checks: the runtime image has no shell, curl or wget.
    Healthcheck {
        /// Address the server listens on (default: HOST, else 127.0.0.1); a wildcard address
        /// is reached on loopback.
        #[arg(long, env = "HOST", default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port of the server (default: PORT, else 8000).
        #[arg(long, env = "PORT", default_value_t = 8000)]
        port: u16,
    },
    /// Measure Argon2id here and print the parameters whose hash takes about the target time.
    HashCalibrate {
        /// Time one password hash should take, in milliseconds.
        #[arg(long, default_value_t = 250)]
        target_ms: u64,
    },
    /// Manage ES256 signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new ES256 (P-256) private key as PKCS#8 PEM, to stdout or to a new file
    /// readable by its owner only.
    Generate {
        /// File to create (it must not exist yet).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashCalibrate { target_ms }) = &cli.command {
        let target = std::time::Duration::from_millis(*target_ms);
        let found = auth_service::services::calibrate(target);
        println!(
            "Argon2id with m={} KiB, t={}, p={} took {} ms here (target {} ms). Set:",
            found.settings.memory_kib,
            found.settings.iterations,
            found.settings.parallelism,
            found.measured.as_millis(),
            target_ms
        );
        println!("ARGON2_MEMORY_KIB={}", found.settings.memory_kib);
        println!("ARGON2_ITERATIONS={}", found.settings.iterations);
        println!("ARGON2_PARALLELISM={}", found.settings.parallelism);
        println!(
            "Existing hashes are upgraded at each user's next sign-in. Each concurrent sign-in \
             holds this much memory: size PASSWORD_HASH_CONCURRENCY accordingly."
        );
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Healthcheck { host, port }) = &cli.command {
        return match app::healthcheck(*host, *port, std::time::Duration::from_secs(3)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("unhealthy: {reason}");
                ExitCode::FAILURE
            }
        };
    }
    // Key generation needs no configuration: it runs on an operator's machine.
    if let Some(Command::Keys {
        command: KeysCommand::Generate { out },
    }) = &cli.command
    {
        return match app::generate_key(out.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("auth-service: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            for line in &errors.0 {
                eprintln!("configuration error: {line}");
            }
            return ExitCode::from(2);
        }
    };
    let output = if matches!(cli.command, None | Some(Command::Serve)) {
        telemetry::LogOutput::Stdout
    } else {
        telemetry::LogOutput::Stderr
    };
    telemetry::init(config.env, config.log_level, output);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => app::serve(config, Arc::new(SystemClock)).await,
            Command::Migrate => app::migrate(&config).await,
            Command::CreateAdmin { email } => {
                let mut line = String::new();
                match std::io::stdin().read_line(&mut line) {
                    Ok(_) => {
                        let password = line.trim_end_matches(['\n', '\r']).to_owned();
                        app::create_admin(&config, &email, password.into()).await
                    }
                    Err(source) => Err(StartupError::Io {
                        context: "cannot read the password from stdin".into(),
                        source,
                    }),
                }
            }
            Command::CreateClient => {
                let mut metadata = String::new();
                match std::io::Read::read_to_string(&mut std::io::stdin(), &mut metadata) {
                    Ok(_) => app::create_client(&config, &metadata).await,
                    Err(source) => Err(StartupError::Io {
                        context: "cannot read the client metadata from stdin".into(),
                        source,
                    }),
                }
            }
            Command::Keys { .. } | Command::HashCalibrate { .. } | Command::Healthcheck { .. } => {
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "auth-service failed");
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
    }
}
