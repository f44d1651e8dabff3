//! The load test: drives a running server over HTTP (connections reused) and prints one JSON
//! line per workload.
//!
//! `cargo run --release --example loadtest -- [BASE_URL] [SECONDS] [CONCURRENCY] [WORKLOADS]`
//! (defaults `http://127.0.0.1:8099`, 10, 32, `W1,W2,W3,W4,W5`). The server must run in dev (seed account
//! `test@example.com` and client `dev-client`) with `RATE_LIMIT_ENABLED=false`: the point is
//! to measure the work, not the limits. `make loadtest` and `make loadtest-pg` do all that.
//!
//! - W1 `GET /health` (raw HTTP/1.1 keep-alive: see [`run_raw_get`])
//! - W2 code flows: authorize with a session cookie, then exchange with a fresh PKCE verifier
//! - W3 refresh chains: each worker rotates its own refresh token again and again
//! - W4 `GET /auth/me` with a valid bearer token (raw HTTP/1.1, like W1)
//! - W5 wrong-password sign-ins at `CONCURRENCY`, while one client measures `/health`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a measuring tool: failing loudly is the right behaviour"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "dev-client";
const REDIRECT_URI: &str = "http://localhost:5173/callback";

struct Target {
    base: String,
    http: reqwest::Client,
    session: String,
}

/// Latencies (µs) and errors of one worker.
#[derive(Default)]
struct Tally {
    latencies: Vec<u32>,
    errors: u64,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8099".into());
    let seconds: u64 = args.next().map_or(10, |a| a.parse().expect("SECONDS"));
    let concurrency: usize = args.next().map_or(32, |a| a.parse().expect("CONCURRENCY"));
    let selected = args.next().unwrap_or_else(|| "W1,W2,W3,W4,W5".into());
    let wanted = |workload: &str| selected.split(',').any(|w| w.trim() == workload);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .unwrap();
    let session = sign_in(&http, &base).await;
    let target = Arc::new(Target {
        base,
        http,
        session,
    });
    let duration = Duration::from_secs(seconds);

    if wanted("W1") {
        let w1 = run_raw_get(&target.base, "/health", None, concurrency, duration).await;
        report("W1 GET /health", concurrency, duration, w1);
    }

    if wanted("W2") {
        let w2 = run(&target, concurrency, duration, |t, _| async move {
            code_flow(&t).await.map(drop)
        })
        .await;
        report("W2 code flows", concurrency, duration, w2);
    }

    if wanted("W3") {
        let mut chains = Vec::new();
        for _ in 0..concurrency {
            let (_, refresh) = code_flow(&target).await.expect("a refresh token for W3");
            chains.push(tokio::sync::Mutex::new(refresh));
        }
        let chains = Arc::new(chains);
        let w3 = run(&target, concurrency, duration, move |t, worker| {
            let chains = chains.clone();
            async move {
                let mut token = chains[worker].lock().await;
                let response = t
                    .http
                    .post(format!("{}/oauth/token", t.base))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token.as_str()),
                        ("client_id", CLIENT_ID),
                    ])
                    .send()
                    .await
                    .ok()?;
                let body: serde_json::Value = response.json().await.ok()?;
                *token = body["refresh_token"].as_str()?.to_owned();
                Some(())
            }
        })
        .await;
        report("W3 refresh rotations", concurrency, duration, w3);
    }

    if wanted("W4") {
        let (access, _) = code_flow(&target).await.expect("a token for W4");
        let w4 = run_raw_get(
            &target.base,
            "/auth/me",
            Some(&access),
            concurrency,
            duration,
        )
        .await;
        report("W4 bearer GET /auth/me", concurrency, duration, w4);
    }

    if wanted("W5") {
        // W5: the flood, and /health measured meanwhile by one client.
        let flood = tokio::spawn({
            let target = target.clone();
            async move {
                run(&target, concurrency, duration, |t, worker| async move {
                    let response = t
                        .http
                        .post(format!("{}/auth/login", t.base))
                        .json(&serde_json::json!({
                            "email": format!("flood{worker}@example.com"),
                            "password": "wrong password",
                        }))
                        .send()
                        .await
                        .ok()?;
                    (response.status() == 401).then_some(())
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let probe_for = duration.saturating_sub(Duration::from_millis(600));
        let probe = vec![probe_health(&target.base, probe_for).await];
        report(
            "W5 wrong-password sign-ins",
            concurrency,
            duration,
            flood.await.unwrap(),
        );
        report("W5 /health during the flood", 1, probe_for, probe);
    }
}

async fn sign_in(http: &reqwest::Client, base: &str) -> String {
    let response = http
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"email": "test@example.com", "password": "test-password"}))
        .send()
        .await
        .expect("the server answers");
    assert!(
        response.status().is_success(),
        "dev sign-in failed: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session="))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// One authorization-code flow; returns the access and refresh tokens.
async fn code_flow(t: &Target) -> Option<(String, String)> {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = t
        .http
        .get(format!("{}/oauth/authorize", t.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile"),
        ])
        .header("cookie", &t.session)
        .send()
        .await
        .ok()?;
    let location = authorize.headers().get("location")?.to_str().ok()?;
    let code = url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "code")?
        .1
        .into_owned();
    let tokens: serde_json::Value = t
        .http
        .post(format!("{}/oauth/token", t.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some((
        tokens["access_token"].as_str()?.to_owned(),
        tokens["refresh_token"].as_str()?.to_owned(),
    ))
}

/// `GET path` (with a bearer token) over one kept-alive connection per worker, written and
/// parsed by hand: for these cheap requests, reqwest on the same two cores would cost more
/// than the server and measure the generator instead. Any status but 200 is an error.
async fn run_raw_get(
    base: &str,
    path: &str,
    bearer: Option<&str>,
    concurrency: usize,
    duration: Duration,
) -> Vec<Tally> {
    let url = url::Url::parse(base).expect("BASE_URL");
    let addr = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port_or_known_default().expect("a port")
    );
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    let request: Arc<[u8]> = request.into_bytes().into();
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, request) = (addr.clone(), request.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut connection = RawConnection::open(&addr).await;
                while Instant::now() < deadline {
                    timed_get(&mut connection, &addr, &request, &mut tally).await;
                }
                tally
            })
        })
        .collect();
    collect(workers).await
}

/// `GET /health` every 5 ms over one kept-alive connection; only the request is timed.
async fn probe_health(base: &str, duration: Duration) -> Tally {
    let url = url::Url::parse(base).expect("BASE_URL");
    let addr = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port_or_known_default().expect("a port")
    );
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let mut connection = RawConnection::open(&addr).await;
    let mut tally = Tally::default();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        timed_get(&mut connection, &addr, &request, &mut tally).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tally
}

/// One timed `GET` on `connection`: a 200 adds its latency, anything else an error; a broken
/// connection is replaced.
async fn timed_get(connection: &mut RawConnection, addr: &str, request: &[u8], tally: &mut Tally) {
    let started = Instant::now();
    match connection.get(request).await {
        Some(200) => tally
            .latencies
            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)),
        Some(_) => tally.errors += 1,
        None => {
            tally.errors += 1;
            *connection = RawConnection::open(addr).await;
        }
    }
}

/// A kept-alive HTTP/1.1 connection that reads `Content-Length`-framed responses.
struct RawConnection {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    line: String,
}

impl RawConnection {
    async fn open(addr: &str) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: tokio::io::BufReader::new(stream),
            line: String::new(),
        }
    }

    /// Sends `request`, reads the whole response, returns its status (`None`: connection
    /// trouble).
    async fn get(&mut self, request: &[u8]) -> Option<u16> {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.get_mut().write_all(request).await.ok()?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await.ok()?;
        let status: u16 = self.line.split(' ').nth(1)?.parse().ok()?;
        let mut length = 0_usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await.ok()? == 0 {
                return None;
            }
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok()?;
            }
        }
        let mut body = vec![0_u8; length];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(status)
    }
}

/// Runs `work` in `concurrency` workers for `duration`; `None` from `work` is an error.
async fn run<F, Fut>(
    target: &Arc<Target>,
    concurrency: usize,
    duration: Duration,
    work: F,
) -> Vec<Tally>
where
    F: Fn(Arc<Target>, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<()>> + Send,
{
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (target, work) = (target.clone(), work.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    match work(target.clone(), worker).await {
                        Some(()) => tally
                            .latencies
                            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)),
                        None => tally.errors += 1,
                    }
                }
                tally
            })
        })
        .collect();
    collect(workers).await
}

async fn collect(workers: Vec<tokio::task::JoinHandle<Tally>>) -> Vec<Tally> {
    let mut tallies = Vec::new();
    for worker in workers {
        tallies.push(worker.await.unwrap());
    }
    tallies
}

fn report(workload: &str, concurrency: usize, duration: Duration, tallies: Vec<Tally>) {
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let mut latencies: Vec<u32> = tallies.into_iter().flat_map(|t| t.latencies).collect();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(latencies[index]) / 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "workload": workload,
            "concurrency": concurrency,
            "seconds": duration.as_secs_f64(),
            "ok": latencies.len(),
            "per_s": (latencies.len() as f64 / duration.as_secs_f64()).round(),
            "p50_ms": percentile(0.50),
            "p90_ms": percentile(0.90),
            "p99_ms": percentile(0.99),
            "errors": errors,
        })
    );
}
