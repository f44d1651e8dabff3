//! Postgres going away mid-run: requests that need it get 503 promptly (no hang, no panic),
//! `/ready` says 503, and the service recovers by itself when the database is back. The
//! outage is a TCP proxy between the app and Postgres that the test cuts and restores.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use auth_service::repos::postgres::{self, testing::run_with_fresh_database};
use axum::http::StatusCode;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{PASSWORD, TestApp};

/// Forwards every connection on `listen` to `upstream` until aborted (which also drops every
/// connection it carries).
async fn proxy(listen: SocketAddr, upstream: SocketAddr) -> JoinHandle<()> {
    let listener = TcpListener::bind(listen).await.unwrap();
    tokio::spawn(async move {
        let mut links = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            links.spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_and_the_service_recovers_by_itself() {
    run_with_fresh_database(|pool| async move {
        let direct = (*pool.connect_options()).clone();
        let upstream: SocketAddr = format!("{}:{}", direct.get_host(), direct.get_port())
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], direct.get_port())));
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = probe.local_addr().unwrap();
        drop(probe);
        let mut link = proxy(listen, upstream).await;

        let options = PgConnectOptions::from_str(&format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            listen.port(),
            direct.get_database().unwrap()
        ))
        .unwrap();
        let proxied = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(options)
            .await
            .unwrap();
        let app = TestApp::with(&[], postgres::repos(proxied)).await;
        app.register("ada@example.com").await;
        let login = json!({"email": "ada@example.com", "password": PASSWORD});
        assert_eq!(app.get("/ready", &[]).await.status, StatusCode::OK);

        link.abort();
        let _ = (&mut link).await;
        let started = Instant::now();
        let ready = app.get("/ready", &[]).await;
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.json()["database"], "down");
        app.post_json("/auth/login", &login)
            .await
            .assert_problem(StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the outage made requests hang"
        );

        let _link = proxy(listen, upstream).await;
        let recovered = Instant::now();
        loop {
            let response = app.post_json("/auth/login", &login).await;
            if response.status == StatusCode::OK {
                break;
            }
            assert!(recovered.elapsed() < Duration::from_secs(15), "no recovery");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(app.get("/ready", &[]).await.status, StatusCode::OK);
    })
    .await;
}
