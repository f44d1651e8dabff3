//! In-memory repositories: the default for development and tests. State lives in the process
//! and is lost on restart, which is why `prod` refuses to run with them.

mod counters;
mod oauth;
mod orgs;
mod sessions;
mod users;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use counters::InMemoryCounterRepo;
pub use oauth::{
    InMemoryAuthCodeRepo, InMemoryClientRepo, InMemoryDenylistRepo, InMemoryRefreshTokenRepo,
};
pub use orgs::InMemoryOrgRepo;
pub use sessions::InMemorySessionRepo;
pub use users::InMemoryUserRepo;

use super::Repos;

/// A fresh, empty set of in-memory repositories.
#[must_use]
pub fn repos() -> Repos {
    let users = Arc::new(InMemoryUserRepo::default());
    let refresh_tokens = Arc::new(InMemoryRefreshTokenRepo::new(users.clone()));
    Repos {
        codes: Arc::new(InMemoryAuthCodeRepo::new(
            users.clone(),
            refresh_tokens.clone(),
        )),
        refresh_tokens,
        users,
        sessions: Arc::new(InMemorySessionRepo::default()),
        clients: Arc::new(InMemoryClientRepo::default()),
        denylist: Arc::new(InMemoryDenylistRepo::default()),
        counters: Arc::new(InMemoryCounterRepo::default()),
        orgs: Arc::new(InMemoryOrgRepo::default()),
        database: None,
        redis: None,
    }
}

/// Every critical section here leaves the data consistent, so a panic elsewhere while the lock
/// was held is no reason to refuse all later requests.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    async fn run<F, Fut>(test: F)
    where
        F: FnOnce(super::Repos) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        test(super::repos()).await;
    }

    crate::repos::conformance::conformance_tests!(run);
}
