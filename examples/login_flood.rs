//! Measures `/health` latency while a flood of wrong-password sign-ins runs against a live
//! server: the check that Argon2 work stays off the async runtime.
//!
//! `cargo run --release --example login_flood -- [BASE_URL] [CONCURRENCY] [SECONDS]`
//! (defaults: `http://127.0.0.1:8000`, 100, 10). Prints one JSON line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a measuring tool: failing loudly is the right behaviour"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let concurrency: usize = args.next().map_or(100, |a| a.parse().expect("CONCURRENCY"));
    let seconds: u64 = args.next().map_or(10, |a| a.parse().expect("SECONDS"));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency + 1)
        .build()
        .unwrap();

    let attempts = Arc::new(AtomicU64::new(0));
    let unexpected = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for worker in 0..concurrency {
        let (client, base) = (client.clone(), base.clone());
        let (attempts, unexpected) = (attempts.clone(), unexpected.clone());
        flood.push(tokio::spawn(async move {
            let body = serde_json::json!({
                "email": format!("flood-{worker}@example.com"),
                "password": "wrong password",
            });
            while Instant::now() < deadline {
                let response = client
                    .post(format!("{base}/auth/login"))
                    .json(&body)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 401 => attempts.fetch_add(1, Ordering::Relaxed),
                    _ => unexpected.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    // Let the flood build its queue before sampling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let response = client.get(format!("{base}/health")).send().await.unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for worker in flood {
        worker.await.unwrap();
    }

    latencies.sort();
    let pct = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "workload": "health_during_login_flood",
            "flood_concurrency": concurrency,
            "seconds": seconds,
            "failed_logins_per_s": attempts.load(Ordering::Relaxed) as f64 / seconds as f64,
            "unexpected_responses": unexpected.load(Ordering::Relaxed),
            "health_samples": latencies.len(),
            "health_p50_ms": pct(0.50),
            "health_p99_ms": pct(0.99),
            "health_max_ms": pct(1.0),
        })
    );
}
