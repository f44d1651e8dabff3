//! Brute-force limits: attempts per client IP, token requests per client, and a lock-out per
//! account that slows repeated failures down and then locks, for a time that grows but ends.
//!
//! Counters are fixed windows in a [`CounterRepo`] (in-process, or Redis so every instance
//! shares them). Accounts are keyed by a digest of the normalised email, so no address is
//! stored in the counters, and unknown emails are locked exactly like real ones: a lock-out
//! says nothing about whether an account exists.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::Result;
use crate::clock::Clock;
use crate::config::LimitSettings;
use crate::domain::Email;
use crate::metrics::{Limit, Metrics};
use crate::repos::CounterRepo;

/// Lock-outs are counted (for doubling) over this period.
const LOCKOUT_MEMORY: Duration = Duration::hours(24);

/// A request refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When it may be tried again.
    pub retry_after: Duration,
}

impl Throttled {
    /// Seconds to put in `Retry-After`, rounded up, at least 1.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        let secs =
            self.retry_after.whole_seconds() + i64::from(self.retry_after.subsec_nanoseconds() > 0);
        u64::try_from(secs.max(1)).unwrap_or(1)
    }
}

/// The limits in force.
pub struct Limiter {
    counters: Arc<dyn CounterRepo>,
    clock: Arc<dyn Clock>,
    settings: LimitSettings,
    metrics: Arc<Metrics>,
}

type Verdict = Result<Result<(), Throttled>>;

impl Limiter {
    /// Limits over `counters` with these settings.
    #[must_use]
    pub fn new(
        counters: Arc<dyn CounterRepo>,
        clock: Arc<dyn Clock>,
        settings: LimitSettings,
    ) -> Self {
        Self {
            counters,
            clock,
            settings,
            metrics: Arc::default(),
        }
    }

    /// Counts each refusal in `metrics`.
    #[must_use]
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        Self { metrics, ..self }
    }

    /// One sign-in or sign-up attempt from `ip` (`RATE_LIMIT_SIGNIN_PER_IP` a minute).
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn sign_in_attempt(&self, ip: IpAddr) -> Verdict {
        self.hit(
            Limit::sign_in_ip,
            &ip_bucket(ip),
            self.settings.sign_ins_per_ip,
            Duration::MINUTE,
        )
        .await
    }

    /// One authorization request from `ip` (`RATE_LIMIT_AUTHORIZE_PER_IP` a minute), before
    /// anything is looked up: each may read a client and a session and store a code.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn authorize_request_from(&self, ip: IpAddr) -> Verdict {
        let limit = self.settings.authorize_requests_per_ip;
        self.hit(Limit::authorize_ip, &ip_bucket(ip), limit, Duration::MINUTE)
            .await
    }

    /// One token-endpoint request from `ip`, before the client is known.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn token_request_from(&self, ip: IpAddr) -> Verdict {
        let limit = self.settings.token_requests_per_client;
        self.hit(Limit::token_ip, &ip_bucket(ip), limit, Duration::MINUTE)
            .await
    }

    /// One token-endpoint request by an authenticated client. Counted only after
    /// authentication: client ids are public, and counting unauthenticated ones would let
    /// anyone exhaust a client's budget.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn token_request_by(&self, client_id: &str) -> Verdict {
        let limit = self.settings.token_requests_per_client;
        self.hit(
            Limit::token_client,
            &hex_digest(client_id),
            limit,
            Duration::MINUTE,
        )
        .await
    }

    /// Whether the account `email` is locked out now.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn account_lock(&self, email: &str) -> Verdict {
        if !self.settings.enabled {
            return Ok(Ok(()));
        }
        let now = self.clock.now();
        let until = self
            .counters
            .marked_until(&lock_key(&account(email)), now)
            .await?;
        Ok(match until {
            Some(until) => {
                self.metrics.rate_limited(Limit::account_lockout);
                Err(Throttled {
                    retry_after: until - now,
                })
            }
            None => Ok(()),
        })
    }

    /// Starts a password check for `email`: refused while the account is locked; otherwise the
    /// attempt is counted *before* the password is checked, so parallel guesses cannot all
    /// slip in before the first failure is recorded. Returns the attempt's number in the
    /// window, for [`Self::failed_sign_in`].
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn begin_sign_in(&self, email: &str) -> Result<Result<u64, Throttled>> {
        if !self.settings.enabled {
            return Ok(Ok(0));
        }
        if let Err(throttled) = self.account_lock(email).await? {
            return Ok(Err(throttled));
        }
        let now = self.clock.now();
        let window = self.settings.failure_window;
        let attempt = self
            .counters
            .increment(
                &window_key("fail", &account(email), window, now),
                window,
                now,
            )
            .await?;
        if attempt > u64::from(self.settings.failures_per_account) {
            // Over the limit (only concurrent attempts get here): lock and refuse unchecked.
            let lock = self.lock_out(email, now).await?;
            self.metrics.rate_limited(Limit::account_lockout);
            return Ok(Err(Throttled { retry_after: lock }));
        }
        Ok(Ok(attempt))
    }

    /// Records that attempt number `attempt` failed. Past half the allowed failures each one
    /// locks the account for a few seconds, doubling (the slow-down); at the limit it locks
    /// for `LOCKOUT_BASE_SECS`, doubling with each lock-out in the last 24 hours up to
    /// `LOCKOUT_MAX_SECS`.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn failed_sign_in(&self, email: &str, attempt: u64) -> Result<()> {
        if !self.settings.enabled {
            return Ok(());
        }
        let now = self.clock.now();
        let limit = u64::from(self.settings.failures_per_account);
        if attempt >= limit {
            self.lock_out(email, now).await?;
        } else if attempt > limit / 2 {
            let slow_down = doubled(
                Duration::SECOND,
                attempt - limit / 2,
                self.settings.lockout_base,
            );
            self.counters
                .mark_until(&lock_key(&account(email)), now + slow_down, now)
                .await?;
        }
        Ok(())
    }

    /// Records a successful sign-in: the failure count starts over (earlier lock-outs still
    /// count towards the doubling).
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn record_success(&self, email: &str) -> Result<()> {
        if !self.settings.enabled {
            return Ok(());
        }
        let now = self.clock.now();
        let key = window_key("fail", &account(email), self.settings.failure_window, now);
        Ok(self.counters.remove(&key).await?)
    }

    /// Locks the account for the next lock-out's length; returns it.
    async fn lock_out(&self, email: &str, now: OffsetDateTime) -> Result<Duration> {
        let account = account(email);
        let lockouts = self
            .counters
            .increment(&format!("lockouts:{account}"), LOCKOUT_MEMORY, now)
            .await?;
        let lock = doubled(
            self.settings.lockout_base,
            lockouts.saturating_sub(1),
            self.settings.lockout_max,
        );
        self.counters
            .mark_until(&lock_key(&account), now + lock, now)
            .await?;
        Ok(lock)
    }

    async fn hit(&self, bucket: Limit, id: &str, limit: u32, window: Duration) -> Verdict {
        if !self.settings.enabled {
            return Ok(Ok(()));
        }
        let now = self.clock.now();
        let key = window_key(bucket_name(bucket), id, window, now);
        let count = self.counters.increment(&key, window, now).await?;
        if count <= u64::from(limit) {
            return Ok(Ok(()));
        }
        self.metrics.rate_limited(bucket);
        let window_secs = window.whole_seconds().max(1);
        let window_end = (now.unix_timestamp().div_euclid(window_secs) + 1) * window_secs;
        Ok(Err(Throttled {
            retry_after: Duration::seconds(window_end - now.unix_timestamp()),
        }))
    }
}

/// The counter-key prefix of a limit's buckets. These strings are in stored keys (Redis and
/// Postgres): changing one resets that limit's live windows.
fn bucket_name(limit: Limit) -> &'static str {
    match limit {
        Limit::sign_in_ip => "signin-ip",
        Limit::token_ip => "token-ip",
        Limit::token_client => "token-client",
        Limit::account_lockout => "lock",
        Limit::authorize_ip => "authorize-ip",
        // Counts nothing in the store: the hashing queue is bounded in process.
        Limit::sign_in_queue => "signin-queue",
    }
}

/// The key marking an account (see [`account`]) locked until some time.
fn lock_key(account: &str) -> String {
    format!("{}:{account}", bucket_name(Limit::account_lockout))
}

/// `bucket:id:<index of the fixed window containing now>`.
fn window_key(bucket: &str, id: &str, window: Duration, now: OffsetDateTime) -> String {
    let index = now
        .unix_timestamp()
        .div_euclid(window.whole_seconds().max(1));
    format!("{bucket}:{id}:{index}")
}

/// The counter key of an account: a digest of its normalised email (of the raw text when it
/// is no email, so junk is limited too).
fn account(email: &str) -> String {
    let normalised =
        Email::parse(email).map_or_else(|_| email.trim().to_lowercase(), |e| e.as_str().to_owned());
    hex_digest(&normalised)
}

fn hex_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `base × 2^times`, capped at `max` (and never negative).
fn doubled(base: Duration, times: u64, max: Duration) -> Duration {
    if times >= 30 {
        return max;
    }
    let factor = 1_i32 << times;
    base.checked_mul(factor)
        .unwrap_or(max)
        .clamp(Duration::ZERO, max)
}

/// The key of a client address: IPv6 by its /64 (one host usually has a whole /64, so single
/// addresses would give it endless fresh budgets), IPv4 as is.
fn ip_bucket(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            format!(
                "{:x}:{:x}:{:x}:{:x}::/64",
                segments[0], segments[1], segments[2], segments[3]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::repos::memory::InMemoryCounterRepo;

    fn limiter(clock: &ManualClock) -> Limiter {
        let settings = Config::from_pairs(&[]).unwrap().limits;
        Limiter::new(
            Arc::new(InMemoryCounterRepo::default()),
            Arc::new(clock.clone()),
            settings,
        )
    }

    #[tokio::test]
    async fn the_thirty_first_attempt_in_a_minute_is_throttled_until_the_window_ends() {
        let clock = window_start();
        let limits = limiter(&clock);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..30 {
            assert_eq!(limits.sign_in_attempt(ip).await.unwrap(), Ok(()));
        }
        let throttled = limits.sign_in_attempt(ip).await.unwrap().unwrap_err();
        assert!((1..=60).contains(&throttled.retry_after_secs()));
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(limits.sign_in_attempt(other).await.unwrap(), Ok(()));
        clock.advance(throttled.retry_after);
        assert_eq!(limits.sign_in_attempt(ip).await.unwrap(), Ok(()));
    }

    /// One failed sign-in, as `AccountService::sign_in` records it.
    async fn fail(limits: &Limiter, email: &str) {
        if let Ok(attempt) = limits.begin_sign_in(email).await.unwrap() {
            limits.failed_sign_in(email, attempt).await.unwrap();
        }
    }

    /// Start of a 15-minute failure window, so a test's steps cannot straddle two.
    fn window_start() -> ManualClock {
        ManualClock::starting_at(time::macros::datetime!(2026-01-01 00:00 UTC))
    }

    async fn lock_of(limits: &Limiter, email: &str) -> Option<i64> {
        limits
            .account_lock(email)
            .await
            .unwrap()
            .err()
            .map(|t| t.retry_after.whole_seconds())
    }

    #[tokio::test]
    async fn failures_slow_down_then_lock_for_doubling_times_and_every_lock_ends() {
        let clock = window_start();
        let limits = limiter(&clock);
        let email = "victim@example.com";
        let mut locks = Vec::new();
        for _ in 0..10 {
            fail(&limits, email).await;
            let lock = lock_of(&limits, email).await;
            locks.push(lock);
            // A client that waits out the slow-down, as Retry-After tells it to.
            if let Some(seconds) = lock.filter(|s| *s < 60) {
                clock.advance(Duration::seconds(seconds));
            }
        }
        // Five free failures, then 2, 4, 8, 16 s of slow-down, then the lock-out.
        assert_eq!(
            locks,
            [
                None,
                None,
                None,
                None,
                None,
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(60)
            ]
        );

        let mut lockouts = Vec::new();
        for _ in 0..3 {
            let lock = lock_of(&limits, email).await.unwrap();
            clock.advance(Duration::seconds(lock));
            assert_eq!(
                lock_of(&limits, email).await,
                None,
                "a lock-out did not end"
            );
            fail(&limits, email).await;
            lockouts.push(lock_of(&limits, email).await.unwrap());
        }
        assert_eq!(lockouts, [120, 240, 480]);
    }

    #[tokio::test]
    async fn lock_outs_stop_growing_at_the_maximum() {
        let clock = window_start();
        let settings = Config::from_pairs(&[("LOCKOUT_MAX_SECS", "150")])
            .unwrap()
            .limits;
        let limits = Limiter::new(
            Arc::new(InMemoryCounterRepo::default()),
            Arc::new(clock.clone()),
            settings,
        );
        for _ in 0..10 {
            fail(&limits, "a@example.com").await;
            if let Some(seconds) = lock_of(&limits, "a@example.com").await.filter(|s| *s < 60) {
                clock.advance(Duration::seconds(seconds));
            }
        }
        let mut lockouts = vec![lock_of(&limits, "a@example.com").await.unwrap()];
        for _ in 0..3 {
            clock.advance(Duration::seconds(*lockouts.last().unwrap()));
            fail(&limits, "a@example.com").await;
            lockouts.push(lock_of(&limits, "a@example.com").await.unwrap());
        }
        assert_eq!(lockouts, [60, 120, 150, 150]);
    }

    #[tokio::test]
    async fn parallel_guesses_cannot_outrun_the_limit() {
        let clock = window_start();
        let limits = Arc::new(limiter(&clock));
        let attempts: Vec<_> = (0..40)
            .map(|_| {
                let limits = limits.clone();
                tokio::spawn(
                    async move { limits.begin_sign_in("victim@example.com").await.unwrap() },
                )
            })
            .collect();
        let mut checked = 0;
        for attempt in attempts {
            if attempt.await.unwrap().is_ok() {
                checked += 1;
            }
        }
        assert_eq!(checked, 10, "passwords checked for one account at once");
        assert!(lock_of(&limits, "victim@example.com").await.is_some());
    }

    #[test]
    fn doubling_saturates_instead_of_overflowing() {
        let max = Duration::minutes(15);
        assert_eq!(doubled(Duration::minutes(1), 3, max), Duration::minutes(8));
        for times in [30, 31, 32, 63, 64, u64::MAX] {
            assert_eq!(doubled(Duration::hours(1), times, max), max);
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_bucket(a), ip_bucket(b));
        assert_ne!(ip_bucket(a), ip_bucket(c));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(ip_bucket(mapped), "203.0.113.9");
    }

    #[tokio::test]
    async fn success_resets_the_failure_count_and_case_does_not_dodge_it() {
        let clock = window_start();
        let limits = limiter(&clock);
        for _ in 0..5 {
            fail(&limits, "Ada@Example.com ").await;
        }
        limits.record_success("ada@example.com").await.unwrap();
        for _ in 0..5 {
            fail(&limits, "ADA@example.com").await;
        }
        assert_eq!(
            limits.account_lock("ada@example.com").await.unwrap(),
            Ok(())
        );
        fail(&limits, "ada@example.com").await;
        assert!(
            limits
                .account_lock("ada@example.com")
                .await
                .unwrap()
                .is_err()
        );
    }

    #[tokio::test]
    async fn disabled_limits_allow_everything() {
        let clock = ManualClock::starting_now();
        let mut settings = Config::from_pairs(&[]).unwrap().limits;
        settings.enabled = false;
        let limits = Limiter::new(
            Arc::new(InMemoryCounterRepo::default()),
            Arc::new(clock.clone()),
            settings,
        );
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..100 {
            assert_eq!(limits.sign_in_attempt(ip).await.unwrap(), Ok(()));
            fail(&limits, "a@example.com").await;
        }
        assert_eq!(limits.account_lock("a@example.com").await.unwrap(), Ok(()));
    }
}
