//! Argon2id hashing, off the async runtime and bounded, so a flood of sign-ins queues up
//! instead of starving every other request of CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Error, Result};
use crate::config::Argon2Settings;
use crate::domain::{Password, StoredPasswordHash};

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password, unknown account, or an unreadable stored hash.
    Mismatch,
    /// Right password; `needs_rehash` when the stored hash used other parameters.
    Match {
        /// The stored hash should be replaced by one with the current parameters.
        needs_rehash: bool,
    },
}

/// Hashes and verifies passwords with the configured Argon2id parameters.
#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    /// Held by the blocking task itself (not the request), so a request that times out or is
    /// dropped mid-hash does not free its slot while its hash still runs.
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist, so that costs the same as a wrong
    /// password and response time does not tell which emails have accounts.
    dummy_hash: StoredPasswordHash,
    verifications: AtomicU64,
    /// Argon2's working memory (19 MiB at the default cost), one buffer per hashing slot,
    /// kept and reused. Allocated per hash, it cost page faults on every hash (a fifth of
    /// sign-in throughput) or, left to glibc, stayed behind in one arena per blocking thread
    /// that ever hashed (hundreds of MB after a flood).
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Places for sign-ins waiting for or holding a hashing slot. Without a bound, a flood from
    /// many addresses queued until the request timeout, each sign-in having already created
    /// its account's failure counter: memory grew with the flood, not with the hashing rate.
    sign_in_places: Arc<Semaphore>,
}

/// Sign-ins that may wait per hashing slot: at the default cost about half a second of work.
pub const SIGN_INS_QUEUED_PER_SLOT: usize = 32;

/// `Retry-After` for a sign-in refused because the queue is full: the queue drains in about
/// half a second.
pub const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// A sign-in's place in the hashing queue, held until the sign-in is over.
#[derive(Debug)]
pub struct SignInPlace {
    _permit: OwnedSemaphorePermit,
}

/// Salt bytes of new hashes (the PHC format's recommendation).
const SALT_BYTES: usize = 16;
/// Output bytes of new hashes (Argon2's default).
const OUTPUT_BYTES: usize = 32;

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at a time.
    ///
    /// # Errors
    /// `Internal` when the parameters are rejected by Argon2 (config validation prevents it).
    pub fn new(settings: Argon2Settings, concurrency: usize) -> Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| Error::Internal(format!("invalid Argon2 parameters: {e}")))?;
        Ok(Self {
            dummy_hash: dummy_hash(&params)?,
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            verifications: AtomicU64::new(0),
            memory: Arc::default(),
            sign_in_places: Arc::new(Semaphore::new(
                concurrency.max(1).saturating_mul(SIGN_INS_QUEUED_PER_SLOT),
            )),
        })
    }

    /// A place for one more sign-in, or `None` when as many are already waiting as the
    /// hashing slots can serve in about half a second (refuse it: it would only wait).
    #[must_use]
    pub fn sign_in_place(&self) -> Option<SignInPlace> {
        self.sign_in_places
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|permit| SignInPlace { _permit: permit })
    }

    /// Hashes a new password with a fresh random salt.
    ///
    /// # Errors
    /// `Internal` if hashing fails (it does not for validated passwords).
    pub async fn hash(&self, password: Password) -> Result<StoredPasswordHash> {
        self.hash_secret(password.into_secret()).await
    }

    /// Checks `candidate` against `stored`, or against the dummy hash when there is no account,
    /// doing the same work either way.
    ///
    /// # Errors
    /// `Internal` if the blocking task could not run.
    pub async fn verify(
        &self,
        candidate: SecretString,
        stored: Option<&StoredPasswordHash>,
    ) -> Result<Verdict> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).clone();
        let current = self.params.clone();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        self.run_limited(move |memory| {
            let Ok(hash) = PasswordHash::new(stored.as_str()) else {
                tracing::warn!("a stored password hash is not a valid PHC string");
                return Verdict::Mismatch;
            };
            let matched = matches(&hash, candidate.expose_secret().as_bytes(), memory);
            if matched && exists {
                Verdict::Match {
                    needs_rehash: !uses_params(&hash, &current),
                }
            } else {
                Verdict::Mismatch
            }
        })
        .await
    }

    /// How many verifications were run since start (unknown accounts included).
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn hash_secret(&self, secret: SecretString) -> Result<StoredPasswordHash> {
        let mut salt = [0_u8; SALT_BYTES];
        random_bytes(&mut salt)?;
        let params = self.params.clone();
        self.run_limited(move |memory| {
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let mut output = [0_u8; OUTPUT_BYTES];
            argon2_into(
                &argon2,
                secret.expose_secret().as_bytes(),
                &salt,
                &mut output,
                memory,
            )
            .map(|()| phc_string(&params, &salt, &output))
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
        })
        .await?
    }

    /// Runs `work` on the blocking pool once a hashing slot is free, lending it that slot's
    /// working memory.
    async fn run_limited<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("password hasher semaphore closed".into()))?;
        let pool = self.memory.clone();
        let blocks = self.params.block_count();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let outcome = work(&mut memory);
            // A hash with other (older, larger) parameters grew the buffer: give that back,
            // so the pool holds what the current parameters need and no more.
            if memory.len() > blocks {
                memory.truncate(blocks);
                memory.shrink_to_fit();
            }
            pool.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(permit);
            outcome
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing task failed: {e}")))
    }
}

/// A PHC string with the current parameters, a random salt and a random output: checking any
/// password against it runs Argon2 in full and never matches. Assembled rather than hashed,
/// so that start-up does not spend a hash on it (the first `/health` answer waits for it).
fn dummy_hash(params: &Params) -> Result<StoredPasswordHash> {
    let mut salt = [0_u8; SALT_BYTES];
    let mut output = [0_u8; OUTPUT_BYTES];
    random_bytes(&mut salt)?;
    random_bytes(&mut output)?;
    Ok(phc_string(params, &salt, &output))
}

/// The PHC string of an Argon2id v19 hash: `$argon2id$v=19$m=…,t=…,p=…$salt$output`, both in
/// unpadded standard base64.
fn phc_string(params: &Params, salt: &[u8], output: &[u8]) -> StoredPasswordHash {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    StoredPasswordHash::new(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output),
    ))
}

fn random_bytes(into: &mut [u8]) -> Result<()> {
    use rand::TryRng as _;
    rand::rngs::SysRng
        .try_fill_bytes(into)
        .map_err(|_| Error::Internal("the OS random generator failed".into()))
}

/// Argon2 of `password` into `output`, in `memory` (grown to the parameters' size as needed).
fn argon2_into(
    argon2: &Argon2,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
    memory: &mut Vec<Block>,
) -> argon2::Result<()> {
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon2.hash_password_into_with_memory(password, salt, output, &mut memory[..blocks])
}

/// Whether `password` hashes to `stored` under the algorithm, version, parameters and salt
/// `stored` names; the outputs are compared in constant time.
fn matches(stored: &PasswordHash, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = match stored.version {
        Some(version) => match Version::try_from(version) {
            Ok(version) => version,
            Err(_) => return false,
        },
        None => Version::V0x13,
    };
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(stored), &stored.salt, &stored.hash)
    else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = vec![0_u8; expected.len()];
    argon2_into(&argon2, password, salt.as_ref(), &mut output, memory).is_ok()
        && bool::from(output.ct_eq(expected.as_bytes()))
}

/// The outcome of `auth-service hash-calibrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    /// Parameters whose hash takes about the target time here.
    pub settings: Argon2Settings,
    /// What one hash with them took (median of three).
    pub measured: std::time::Duration,
}

/// The smallest memory cost offered: below OWASP's minimum configurations nothing is gained.
const CALIBRATION_MIN_KIB: u32 = 19_456;
const CALIBRATION_MAX_KIB: u32 = 4_194_304;

/// Finds the Argon2id memory cost (t=2, p=1, as OWASP recommends) whose hash takes about
/// `target` on this machine, by doubling and then bisecting. Blocking: call it off any async
/// runtime. Never goes below m=19456 KiB, however slow the machine.
#[must_use]
pub fn calibrate(target: std::time::Duration) -> Calibration {
    let time_of = |memory_kib: u32| {
        let settings = Argon2Settings {
            memory_kib,
            ..Argon2Settings::PRODUCTION
        };
        Calibration {
            settings,
            measured: median_hash_time(settings),
        }
    };
    let mut low = time_of(CALIBRATION_MIN_KIB);
    if low.measured >= target {
        return low;
    }
    let mut high = low;
    while high.measured < target && high.settings.memory_kib < CALIBRATION_MAX_KIB {
        low = high;
        high = time_of((high.settings.memory_kib * 2).min(CALIBRATION_MAX_KIB));
    }
    // Bisect to within about 5 % of memory.
    while high.settings.memory_kib - low.settings.memory_kib > low.settings.memory_kib / 20 {
        let middle = time_of(low.settings.memory_kib.midpoint(high.settings.memory_kib));
        if middle.measured < target {
            low = middle;
        } else {
            high = middle;
        }
    }
    // The closer of the two to the target.
    if target.abs_diff(low.measured) <= high.measured.abs_diff(target) {
        low
    } else {
        high
    }
}

fn median_hash_time(settings: Argon2Settings) -> std::time::Duration {
    let Ok(params) = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    ) else {
        return std::time::Duration::MAX;
    };
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut output = [0u8; 32];
    let mut times: Vec<std::time::Duration> = (0..3)
        .map(|_| {
            let started = std::time::Instant::now();
            let _ = argon2.hash_password_into(
                b"calibration password",
                b"calibration salt",
                &mut output,
            );
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[1]
}

fn uses_params(hash: &PasswordHash, current: &Params) -> bool {
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && Params::try_from(hash).is_ok_and(|p| {
            p.m_cost() == current.m_cost()
                && p.t_cost() == current.t_cost()
                && p.p_cost() == current.p_cost()
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const CHEAP: Argon2Settings = Argon2Settings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn password(s: &str) -> Password {
        Password::parse(SecretString::from(s)).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_configured_parameters() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let hash = hasher.hash(password("correct horse")).await.unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{}",
            hash.as_str()
        );
    }

    #[tokio::test]
    async fn verify_tells_right_from_wrong() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let hash = hasher.hash(password("correct horse")).await.unwrap();
        let right = hasher
            .verify(SecretString::from("correct horse"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(
            right,
            Verdict::Match {
                needs_rehash: false
            }
        );
        let wrong = hasher
            .verify(SecretString::from("correct horsE"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(wrong, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_phc_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        // Ours, checked by the crate: the format is standard PHC.
        let ours = hasher.hash(password("correct horse")).await.unwrap();
        let parsed = PasswordHash::new(ours.as_str()).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // The crate's (how hashes stored by earlier versions were made), checked by ours.
        let params =
            Params::new(CHEAP.memory_kib, CHEAP.iterations, CHEAP.parallelism, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let theirs = StoredPasswordHash::new(theirs);
        let verdict = hasher
            .verify(SecretString::from("correct horse"), Some(&theirs))
            .await
            .unwrap();
        assert_eq!(
            verdict,
            Verdict::Match {
                needs_rehash: false
            }
        );
        let wrong = hasher
            .verify(SecretString::from("correct horsf"), Some(&theirs))
            .await
            .unwrap();
        assert_eq!(wrong, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn working_memory_is_reused_not_reallocated_per_hash() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        for _ in 0..4 {
            hasher.hash(password("correct horse")).await.unwrap();
        }
        let buffers = hasher.memory.lock().unwrap();
        assert_eq!(buffers.len(), 1, "sequential hashes share one buffer");
        assert!(buffers[0].len() >= hasher.params.block_count());
    }

    #[tokio::test]
    async fn a_dropped_request_keeps_its_hashing_slot_until_its_hash_ends() {
        let slow = Argon2Settings {
            memory_kib: 8192,
            iterations: 4,
            ..CHEAP
        };
        let hasher = PasswordHasher::new(slow, 1).unwrap();
        let abandoned = tokio::time::timeout(
            Duration::from_micros(100),
            hasher.hash(password("correct horse")),
        )
        .await;
        assert!(abandoned.is_err(), "the hash should still be running");
        assert_eq!(
            hasher.permits.available_permits(),
            0,
            "the running hash still holds its slot"
        );
        while hasher.permits.available_permits() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            hasher.memory.lock().unwrap().len(),
            1,
            "its buffer came back"
        );
    }

    #[tokio::test]
    async fn a_buffer_grown_by_an_older_larger_hash_is_shrunk_back() {
        let larger = Argon2Settings {
            memory_kib: 256,
            ..CHEAP
        };
        let old = PasswordHasher::new(larger, 1).unwrap();
        let hash = old.hash(password("correct horse")).await.unwrap();
        let current = PasswordHasher::new(CHEAP, 1).unwrap();
        current
            .verify(SecretString::from("correct horse"), Some(&hash))
            .await
            .unwrap();
        let buffers = current.memory.lock().unwrap();
        assert_eq!(buffers[0].len(), current.params.block_count());
    }

    #[tokio::test]
    async fn the_dummy_hash_carries_the_current_parameters_so_checking_it_costs_the_same() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let dummy = PasswordHash::new(hasher.dummy_hash.as_str()).unwrap();
        assert!(uses_params(&dummy, &hasher.params));
        let real = hasher.hash(password("correct horse")).await.unwrap();
        let real = PasswordHash::new(real.as_str()).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "the same output length"
        );
    }

    #[tokio::test]
    async fn an_unknown_account_costs_one_verification_and_never_matches() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let before = hasher.verifications();
        // Even the dummy password itself must not "match" a missing account.
        let verdict = hasher
            .verify(
                SecretString::from("dummy password for unknown accounts"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(verdict, Verdict::Mismatch);
        assert_eq!(hasher.verifications(), before + 1);
    }

    #[tokio::test]
    async fn a_hash_with_other_parameters_needs_rehash() {
        let old = PasswordHasher::new(CHEAP, 1).unwrap();
        let hash = old.hash(password("correct horse")).await.unwrap();
        let stronger = Argon2Settings {
            memory_kib: 128,
            ..CHEAP
        };
        let new = PasswordHasher::new(stronger, 1).unwrap();
        let verdict = new
            .verify(SecretString::from("correct horse"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(verdict, Verdict::Match { needs_rehash: true });
    }

    #[test]
    fn calibration_never_goes_below_the_owasp_minimum() {
        let found = calibrate(std::time::Duration::from_millis(1));
        assert_eq!(found.settings, Argon2Settings::PRODUCTION);
        assert!(found.measured > std::time::Duration::ZERO);
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_a_mismatch_not_an_error() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let corrupt = StoredPasswordHash::new("not a phc string".into());
        let verdict = hasher
            .verify(SecretString::from("anything"), Some(&corrupt))
            .await
            .unwrap();
        assert_eq!(verdict, Verdict::Mismatch);
    }
}
