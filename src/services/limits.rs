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
        }
    }

    /// One sign-in or sign-up attempt from `ip` (`RATE_LIMIT_SIGNIN_PER_IP` a minute).
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn sign_in_attempt(&self, ip: IpAddr) -> Verdict {
        self.hit(
            "signin-ip",
            &ip.to_string(),
            self.settings.sign_ins_per_ip,
            Duration::MINUTE,
        )
        .await
    }

    /// One token-endpoint request, counted per presented client id and per IP.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn token_request(&self, client_id: Option<&str>, ip: IpAddr) -> Verdict {
        let limit = self.settings.token_requests_per_client;
        if let Some(client_id) = client_id {
            let client = hex_digest(client_id);
            if let Err(throttled) = self
                .hit("token-client", &client, limit, Duration::MINUTE)
                .await?
            {
                return Ok(Err(throttled));
            }
        }
        self.hit("token-ip", &ip.to_string(), limit, Duration::MINUTE)
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
            .marked_until(&format!("lock:{}", account(email)), now)
            .await?;
        Ok(match until {
            Some(until) => Err(Throttled {
                retry_after: until - now,
            }),
            None => Ok(()),
        })
    }

    /// Records a failed sign-in. Past half the allowed failures each one locks the account
    /// for a few seconds, doubling (the slow-down); at the limit it locks for
    /// `LOCKOUT_BASE_SECS`, doubling with each lock-out in the last 24 hours up to
    /// `LOCKOUT_MAX_SECS`.
    ///
    /// # Errors
    /// A counter-store failure.
    pub async fn record_failure(&self, email: &str) -> Result<()> {
        if !self.settings.enabled {
            return Ok(());
        }
        let now = self.clock.now();
        let account = account(email);
        let window = self.settings.failure_window;
        let failures = self
            .counters
            .increment(&window_key("fail", &account, window, now), window, now)
            .await?;
        let limit = u64::from(self.settings.failures_per_account);
        let lock = if failures >= limit {
            let lockouts = self
                .counters
                .increment(&format!("lockouts:{account}"), LOCKOUT_MEMORY, now)
                .await?;
            doubled(
                self.settings.lockout_base,
                lockouts - 1,
                self.settings.lockout_max,
            )
        } else if failures > limit / 2 {
            doubled(
                Duration::SECOND,
                failures - limit / 2,
                self.settings.lockout_base,
            )
        } else {
            return Ok(());
        };
        self.counters
            .mark_until(&format!("lock:{account}"), now + lock, now)
            .await?;
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

    async fn hit(&self, bucket: &str, id: &str, limit: u32, window: Duration) -> Verdict {
        if !self.settings.enabled {
            return Ok(Ok(()));
        }
        let now = self.clock.now();
        let key = window_key(bucket, id, window, now);
        let count = self.counters.increment(&key, window, now).await?;
        if count <= u64::from(limit) {
            return Ok(Ok(()));
        }
        let window_secs = window.whole_seconds().max(1);
        let window_end = (now.unix_timestamp().div_euclid(window_secs) + 1) * window_secs;
        Ok(Err(Throttled {
            retry_after: Duration::seconds(window_end - now.unix_timestamp()),
        }))
    }
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

/// `base × 2^times`, capped at `max`.
fn doubled(base: Duration, times: u64, max: Duration) -> Duration {
    let factor = 1_i32
        .checked_shl(u32::try_from(times).unwrap_or(u32::MAX))
        .unwrap_or(i32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
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
            limits.record_failure(email).await.unwrap();
            locks.push(lock_of(&limits, email).await);
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
            limits.record_failure(email).await.unwrap();
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
            limits.record_failure("a@example.com").await.unwrap();
        }
        let mut lockouts = vec![lock_of(&limits, "a@example.com").await.unwrap()];
        for _ in 0..3 {
            clock.advance(Duration::seconds(*lockouts.last().unwrap()));
            limits.record_failure("a@example.com").await.unwrap();
            lockouts.push(lock_of(&limits, "a@example.com").await.unwrap());
        }
        assert_eq!(lockouts, [60, 120, 150, 150]);
    }

    #[tokio::test]
    async fn success_resets_the_failure_count_and_case_does_not_dodge_it() {
        let clock = window_start();
        let limits = limiter(&clock);
        for _ in 0..5 {
            limits.record_failure("Ada@Example.com ").await.unwrap();
        }
        limits.record_success("ada@example.com").await.unwrap();
        for _ in 0..5 {
            limits.record_failure("ADA@example.com").await.unwrap();
        }
        assert_eq!(
            limits.account_lock("ada@example.com").await.unwrap(),
            Ok(())
        );
        limits.record_failure("ada@example.com").await.unwrap();
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
            limits.record_failure("a@example.com").await.unwrap();
        }
        assert_eq!(limits.account_lock("a@example.com").await.unwrap(), Ok(()));
    }
}
