//! Services: the application's rules, independent of HTTP and of the storage backend.

mod accounts;
mod error;
mod health;
mod passwords;
mod sessions;

pub use accounts::AccountService;
pub use error::{Error, Result};
pub use health::{ComponentStatus, HealthReport, HealthService};
pub use passwords::{PasswordHasher, Verdict};
pub use sessions::SessionService;
