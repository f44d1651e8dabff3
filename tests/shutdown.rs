//! SIGTERM with requests in flight: the real binary stops accepting, lets them finish, and
//! exits 0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is the test failing"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .env("APP_ENV", "test")
        .env("LOG_LEVEL", "info")
        .env("PORT", "0")
        // Slow hashes, one at a time: the sign-ins below are still queued at SIGTERM.
        .env("ARGON2_MEMORY_KIB", "65536")
        .env("ARGON2_ITERATIONS", "6")
        .env("PASSWORD_HASH_CONCURRENCY", "1")
        .env("RATE_LIMIT_ENABLED", "false")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the service stopped before listening")
            .unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "auth-service listening" {
            break event["address"].as_str().unwrap().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let client = reqwest::Client::new();
    let in_flight: Vec<_> = (0..4)
        .map(|i| {
            let request = client
                .post(format!("http://{address}/auth/login"))
                .json(&serde_json::json!({"email": format!("u{i}@example.com"), "password": "wrong password"}))
                .send();
            tokio::spawn(request)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    for request in in_flight {
        let response = request
            .await
            .unwrap()
            .expect("an in-flight request was dropped");
        assert_eq!(response.status(), 401);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the service did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    let refused = client.get(format!("http://{address}/health")).send().await;
    assert!(refused.is_err(), "the service still accepts connections");
}
