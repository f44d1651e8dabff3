//! Passwords and their stored hashes.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::Invalid;

/// A new password chosen by a user: 8 to 256 characters. Its `Debug` never shows it.
pub struct Password(SecretString);

const MIN_CHARS: usize = 8;
const MAX_CHARS: usize = 256;

impl Password {
    /// Validates the length of a password being set.
    ///
    /// # Errors
    /// [`Invalid`] when it is shorter than 8 or longer than 256 characters.
    pub fn parse(raw: SecretString) -> Result<Self, Invalid> {
        let chars = raw.expose_secret().chars().count();
        if chars < MIN_CHARS {
            return Err(Invalid::new("password", "must be at least 8 characters"));
        }
        if chars > MAX_CHARS {
            return Err(Invalid::new("password", "must be at most 256 characters"));
        }
        Ok(Self(raw))
    }

    /// Gives up the wrapper, keeping the value secret.
    #[must_use]
    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An Argon2id hash in PHC string form (`$argon2id$v=19$m=…`).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPasswordHash(String);

impl StoredPasswordHash {
    pub(crate) fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoredPasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is offline-crackable: it is as sensitive as the password for logging purposes.
        f.write_str("StoredPasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_count_characters() {
        let parse = |s: String| Password::parse(SecretString::from(s));
        assert!(parse("1234567".into()).is_err());
        assert!(parse("12345678".into()).is_ok());
        assert!(parse("é".repeat(256)).is_ok());
        assert!(parse("é".repeat(257)).is_err());
    }

    #[test]
    fn debug_hides_password_and_hash() {
        let password = Password::parse(SecretString::from("hunter2hunter2")).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = StoredPasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into());
        assert!(!format!("{hash:?}").contains("argon2id"));
    }
}
