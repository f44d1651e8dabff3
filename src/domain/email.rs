//! Email addresses, normalised so that uniqueness ignores case and surrounding space.

use std::fmt;

use super::Invalid;

/// A syntactically plausible email address, trimmed and lower-cased.
///
/// Lower-casing the local part too is deliberate: two accounts that differ only in case
/// would be a phishing aid, and no mainstream provider treats them as different mailboxes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const FORBIDDEN: &[char] = &['<', '>', '(', ')', '[', ']', '\\', ',', ';', ':', '"', '@'];

impl Email {
    /// Normalises and validates `raw`.
    ///
    /// # Errors
    /// [`Invalid`] when the address is empty, too long, or not of the form `local@domain.tld`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const INVALID: Invalid = Invalid::new("email", "must be a valid email address");
        let email = raw.trim().to_lowercase();
        if email.is_empty() || email.len() > MAX_LEN {
            return Err(INVALID);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(INVALID)?;
        let well_formed = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.contains(FORBIDDEN)
            && !domain.contains(FORBIDDEN);
        if well_formed {
            Ok(Self(email))
        } else {
            Err(INVALID)
        }
    }

    /// Wraps a value read back from storage, which was normalised when it was written.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses are personal data: keep them out of debug logs.
        f.write_str("Email(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_lowercases() {
        let email = Email::parse("  Alice@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn parse_rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "alice@.example.com",
            "alice@example.com.",
            "alice@exa..mple.com",
            "al ice@example.com",
            "alice@@example.com",
            "a<b>@example.com",
            "alice@exa\u{0}mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long = format!("a@{}.com", "b".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn debug_does_not_show_the_address() {
        let email = Email::parse("secret.person@example.com").unwrap();
        assert!(!format!("{email:?}").contains("secret.person"));
    }
}
