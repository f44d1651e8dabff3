//! OAuth scopes.

use std::collections::BTreeSet;
use std::fmt;

/// Every scope this server knows (published as `scopes_supported`).
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// What a client registered without `scope` may use (the contract's default).
pub const DEFAULT_CLIENT_SCOPE: &str = "openid profile email";

/// A set of known scopes, kept sorted so its string form is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<&'static str>);

/// A scope string that names an unknown scope or is not space-separated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scope names an unknown scope or is malformed")]
pub struct UnknownScope;

impl Scope {
    /// Parses a space-delimited scope string (RFC 6749 §3.3).
    ///
    /// # Errors
    /// [`UnknownScope`] for a scope this server does not support, or for empty tokens
    /// (double or leading spaces).
    pub fn parse(raw: &str) -> Result<Self, UnknownScope> {
        if raw.is_empty() {
            return Ok(Self::default());
        }
        raw.split(' ')
            .map(|token| {
                SUPPORTED_SCOPES
                    .iter()
                    .find(|known| **known == token)
                    .copied()
                    .ok_or(UnknownScope)
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether every scope in `self` is also in `other`.
    #[must_use]
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether no scope is present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.0.iter().copied().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_known_scopes_in_any_order_and_prints_them_sorted() {
        let scope = Scope::parse("profile openid").unwrap();
        assert_eq!(scope.to_string(), "openid profile");
        assert!(Scope::parse("").unwrap().is_empty());
    }

    #[test]
    fn parse_rejects_unknown_and_malformed_scopes() {
        for bad in [
            "admin",
            "openid  profile",
            " openid",
            "openid\tprofile",
            "OPENID",
        ] {
            assert_eq!(Scope::parse(bad), Err(UnknownScope), "{bad:?}");
        }
    }

    #[test]
    fn subset() {
        let all = Scope::parse(DEFAULT_CLIENT_SCOPE).unwrap();
        assert!(Scope::parse("openid").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("offline_access").unwrap().is_subset_of(&all));
    }
}
